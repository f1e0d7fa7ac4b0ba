"""Service-specific managers: their events, typed requests and replies, the
base class to subclass, and :func:`export`, which makes a subclass the
component's ``service-manager`` export."""

import enum
import json
from dataclasses import dataclass, field
from typing import List, Optional

from . import NotHandled, RequestError, _parse, _serve
from .descriptor import CONTAINER, VM, Nsd, Nsr, Vnfd, Vnfr


class Event(enum.Enum):
    """One SSM event (5GTANGO's ``ssm_type``)."""

    PLACEMENT = "placement"
    CONFIGURE = "configure"
    STATE = "state"
    TASK = "task"
    MONITOR = "monitor"


@dataclass
class Vim:
    """One VIM of the placement topology, with its capacity (memory in the
    unit the VIM reports, MB in 5GTANGO topologies)."""

    uuid: str
    kind: str
    core_total: float = 0.0
    core_used: float = 0.0
    memory_total: float = 0.0
    memory_used: float = 0.0
    name: Optional[str] = None
    city: Optional[str] = None
    endpoint: Optional[str] = None

    def free_cores(self):
        """Cores not yet in use."""
        return self.core_total - self.core_used

    def free_memory(self):
        """Memory not yet in use."""
        return self.memory_total - self.memory_used


@dataclass
class LinkQos:
    """The quality of the link a WIM offers between two nodes (VIMs or
    NEPs): latency in milliseconds, bandwidth in Mbit/s, when known."""

    node_a: str
    node_b: str
    latency_ms: Optional[float] = None
    bandwidth_mbps: Optional[float] = None


@dataclass
class Wim:
    """One WIM of the placement topology."""

    uuid: str
    name: Optional[str] = None
    attached_vims: List[str] = field(default_factory=list)
    attached_endpoints: List[str] = field(default_factory=list)
    qos: List[LinkQos] = field(default_factory=list)


@dataclass
class Nep:
    """A network endpoint of the topology (``vims.nep_list``)."""

    uuid: str
    name: Optional[str] = None


_LATENCY_MS = {"s": 1e3, "ms": 1.0, "us": 1e-3}
_BANDWIDTH_MBPS = {"bps": 1e-6, "kbps": 1e-3, "Mbps": 1.0, "Gbps": 1e3}


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _scaled(value, unit, factors, default_unit):
    factor = factors.get(unit or default_unit)
    if value is None or factor is None:
        return None
    return float(value) * factor


def _vims(content):
    """The typed VIMs of a placement content (``topology.vims.vim_list``)."""
    vims = ((content.get("topology") or {}).get("vims") or {}).get("vim_list") or []
    return [
        Vim(
            uuid=str(vim.get("vim_uuid", "")),
            kind=CONTAINER if vim.get("type") == CONTAINER else VM,
            core_total=_number(vim.get("core_total")),
            core_used=_number(vim.get("core_used")),
            memory_total=_number(vim.get("memory_total")),
            memory_used=_number(vim.get("memory_used")),
            name=vim.get("vim_name"),
            city=vim.get("vim_city"),
            endpoint=vim.get("vim_endpoint"),
        )
        for vim in vims
    ]


class PlacementRequest:
    """A placement request: the service (``service_id``, ``nsd``), one VNFD
    per VNF instance to place (``vnfds``), and the VIMs (``vims``); ``raw``
    is the whole content (``nap``, ...), from which :meth:`wims` and
    :meth:`neps` read the network when asked."""

    def __init__(self, raw, vims):
        self.raw = raw
        uuid = raw.get("uuid")
        self.service_id = None if uuid is None else str(uuid)
        self.nsd = Nsd(raw.get("nsd"))
        self.vnfds = [Vnfd(vnfd) for vnfd in raw.get("vnfds") or []]
        self.vims = vims

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text, the VIMs read from it."""
        raw = _parse("placement", text)
        return cls(raw, _vims(raw))

    def wims(self):
        """The WIMs joining VIMs and endpoints, with their links' quality
        (``topology.wims``)."""
        return [
            Wim(
                uuid=str(wim.get("uuid", "")),
                name=wim.get("name"),
                attached_vims=list(wim.get("attached_vims") or []),
                attached_endpoints=list(wim.get("attached_endpoints") or []),
                qos=[
                    LinkQos(
                        node_a=str(link.get("node_1", "")),
                        node_b=str(link.get("node_2", "")),
                        latency_ms=_scaled(link.get("latency"), link.get("latency_unit"), _LATENCY_MS, "ms"),
                        bandwidth_mbps=_scaled(
                            link.get("bandwidth"), link.get("bandwidth_unit"), _BANDWIDTH_MBPS, "Mbps"
                        ),
                    )
                    for link in wim.get("qos") or []
                ],
            )
            for wim in (self.raw.get("topology") or {}).get("wims") or []
        ]

    def neps(self):
        """The network endpoints of the topology (``topology.vims.nep_list``)."""
        neps = ((self.raw.get("topology") or {}).get("vims") or {}).get("nep_list") or []
        return [Nep(uuid=str(nep.get("nep_uuid", "")), name=nep.get("nep_name")) for nep in neps]


@dataclass
class VnfPlacement:
    """Where one VNF instance goes."""

    vnf: str
    vim: str


@dataclass
class LinkPlacement:
    """Where one virtual link of the NSD goes: inside the VIM ``vim`` (both
    ends there), or across VIMs on the WIM ``wim``; exactly one is set."""

    link: str
    vim: Optional[str] = None
    wim: Optional[str] = None


@dataclass
class Placement:
    """Every VNF instance of the request on its VIM, and the virtual links
    the manager places (links left out are the orchestrator's to realise)."""

    vnfs: List[VnfPlacement] = field(default_factory=list)
    links: List[LinkPlacement] = field(default_factory=list)


@dataclass
class EventSwitch:
    """Whether one FSM event fires for a VNF, and with which payload (any
    JSON value) instead of the default one (5GTANGO's ``{trigger,
    payload}``)."""

    trigger: bool = False
    payload: object = None

    @classmethod
    def on(cls, payload=None):
        """The event fires, with ``payload`` or the default one."""
        return cls(True, payload)

    @classmethod
    def off(cls):
        """The event does not fire."""
        return cls(False, None)


@dataclass
class VnfSwitches:
    """The reply to a configure event for one VNF: the FSM events it
    switches; those left ``None`` keep their setting."""

    id: str
    start: Optional[EventSwitch] = None
    stop: Optional[EventSwitch] = None
    configure: Optional[EventSwitch] = None
    scale: Optional[EventSwitch] = None


class ConfigureRequest:
    """A configure request: the workflow running (``instantiation``,
    ``reconfigure``, ...), the service's VNFs (``functions``: mappings
    with ``id``, ``vnfd``, ``vnfr``, ``deployed``, ``flavour`` and the
    current ``start``/``stop``/``configure``/``scale`` switches), the
    address mapping, and what a monitor manager asked the reconfiguration
    to carry (``reconfiguration_payload``)."""

    def __init__(self, raw):
        self.raw = raw
        self.workflow = raw.get("workflow")
        self.functions = list(raw.get("functions") or [])
        self.ip_mapping = list(raw.get("ip_mapping") or [])
        self.reconfiguration_payload = (raw.get("service") or {}).get("reconfiguration_payload")

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("configure", text))

    def function_ids(self):
        """The VNF instance ids of ``functions``: ``id``, else the record's."""
        ids = []
        for function in self.functions:
            instance = function.get("id") or (function.get("vnfr") or {}).get("id")
            if instance:
                ids.append(str(instance))
        return ids


class StateRequest:
    """A state request: the state an FSM extracted from a migrating VNF."""

    def __init__(self, raw):
        if "state" not in raw:
            raise RequestError("state", "missing field `state`")
        self.raw = raw
        self.state = raw["state"]

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("state", text))


class TaskRequest:
    """A task request: the step names still to run (5GTANGO's task names)."""

    def __init__(self, raw):
        schedule = raw.get("schedule")
        if not isinstance(schedule, list) or not all(isinstance(name, str) for name in schedule):
            raise RequestError("task", "`schedule` must be a list of step names")
        self.raw = raw
        self.schedule = schedule

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("task", text))


class MonitorRequest:
    """Monitoring data about the service, whatever its shape; the service
    it is about, when the content names it (``service_instance_id``, else
    the NSR's ``id``)."""

    def __init__(self, raw):
        self.raw = raw
        nsr = raw.get("nsr")
        self.service_id = raw.get("service_instance_id") or (Nsr(nsr).id if nsr else None) or None

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("monitor", text))


@dataclass
class ScaleOut:
    """A monitor reply's request: add ``instances`` of the NSD's VNF ``vnf``."""

    vnf: str
    instances: int = 1


@dataclass
class ScaleIn:
    """A monitor reply's request: remove these VNF instances."""

    vnfs: List[str]


@dataclass
class Reconfigure:
    """A monitor reply's request: reconfigure the service, with this
    reconfiguration payload (any JSON value) for the configure manager."""

    payload: object = None


class ServiceManager:
    """Subclass and override the events listed in ``HANDLES``; a fresh
    instance serves each event. Raise :class:`wasmano_sm.Failed` to answer
    an error; an event not overridden answers not handled. Any other
    exception is a bug: the sandbox reports it as a trap."""

    HANDLES: List[Event] = []

    def placement(self, request: PlacementRequest) -> Placement:
        """Decide on which VIM each VNF runs, and where virtual links go."""
        raise NotHandled()

    def configure(self, request: ConfigureRequest) -> List[VnfSwitches]:
        """Decide which FSM events fire for each VNF, and with what payload."""
        raise NotHandled()

    def state(self, request: StateRequest):
        """Transform a migrating VNF's state; the reply is the state to inject."""
        raise NotHandled()

    def task(self, request: TaskRequest) -> List[str]:
        """Rewrite the schedule of the workflow about to run."""
        raise NotHandled()

    def monitor(self, request: MonitorRequest) -> list:
        """React to monitoring data; the reply lists ScaleOut, ScaleIn and
        Reconfigure requests."""
        raise NotHandled()


def export(manager_class):
    """The class componentize-py exports as the ``service-manager``
    interface, serving each event with a fresh ``manager_class()`` (natively,
    outside a component, ``manager_class`` itself): in
    ``app.py``, ``ServiceManager = ssm.export(MyManager)``."""
    try:
        from wit_world import exports  # noqa: PLC0415 (only inside a component)
        from wit_world.exports import service_manager as wit  # noqa: PLC0415
        from wit_world.imports import types as wit_types  # noqa: PLC0415
    except ImportError:
        # Natively there is nothing to export to: `app.py` imports in tests.
        return manager_class

    def run(event, method, request, reply):
        return _serve(manager_class, wit_types, event, method, request, reply)

    def switch(value):
        if value is None:
            return None
        payload = None if value.payload is None else json.dumps(value.payload)
        return wit.EventSwitch(bool(value.trigger), payload)

    def site(link):
        if (link.vim is None) == (link.wim is None):
            raise ValueError(f"link {link.link}: name exactly one of vim and wim")
        return wit.LinkSite_Vim(link.vim) if link.vim is not None else wit.LinkSite_Wim(link.wim)

    def workflow(request):
        if isinstance(request, ScaleOut):
            return wit.WorkflowRequest_ScaleOut(wit.ScaleOut(request.vnf, int(request.instances)))
        if isinstance(request, ScaleIn):
            return wit.WorkflowRequest_ScaleIn(list(request.vnfs))
        if isinstance(request, Reconfigure):
            payload = None if request.payload is None else json.dumps(request.payload)
            return wit.WorkflowRequest_Reconfigure(payload)
        raise TypeError(f"a monitor reply lists ScaleOut, ScaleIn or Reconfigure, not {request!r}")

    def typed_vims(request):
        return [
            Vim(
                vim.uuid,
                CONTAINER if vim.kind == wit.VimKind.CONTAINER else VM,
                vim.core_total,
                vim.core_used,
                vim.memory_total,
                vim.memory_used,
                vim.name,
                vim.city,
                vim.endpoint,
            )
            for vim in request.vims
        ]

    class Export(exports.ServiceManager):
        def handles(self):
            return [wit.SsmEvent[event.name] for event in manager_class.HANDLES]

        def placement(self, request):
            return run(
                Event.PLACEMENT,
                "placement",
                lambda: PlacementRequest(_parse("placement", request.content), typed_vims(request)),
                lambda placement: wit.Mapping(
                    [wit.VnfPlacement(p.vnf, p.vim) for p in placement.vnfs],
                    [wit.LinkPlacement(link.link, site(link)) for link in placement.links],
                ),
            )

        def configure(self, content):
            return run(
                Event.CONFIGURE,
                "configure",
                lambda: ConfigureRequest.from_json(content),
                lambda replies: [
                    wit.VnfSwitches(
                        reply.id, switch(reply.start), switch(reply.stop), switch(reply.configure), switch(reply.scale)
                    )
                    for reply in replies
                ],
            )

        def state(self, content):
            return run(Event.STATE, "state", lambda: StateRequest.from_json(content), json.dumps)

        def task(self, content):
            return run(Event.TASK, "task", lambda: TaskRequest.from_json(content), lambda schedule: list(schedule))

        def monitor(self, content):
            return run(
                Event.MONITOR,
                "monitor",
                lambda: MonitorRequest.from_json(content),
                lambda requests: [workflow(request) for request in requests],
            )

    Export.__name__ = "ServiceManager"
    return Export
