"""Function-specific managers: their events, typed requests and replies,
the base class to subclass, and :func:`export`, which makes a subclass the
component's ``function-manager`` export."""

import enum
import json
from dataclasses import dataclass, field
from typing import Dict, List

from . import NotHandled, RequestError, UnitEnvs, _parse, _serve, _wit_unit_envs
from .descriptor import Nsr, Vnfd, Vnfr


class Event(enum.Enum):
    """One FSM event (5GTANGO's ``fsm_type``)."""

    START = "start"
    STOP = "stop"
    CONFIGURE = "configure"
    STATE = "state"
    SCALE = "scale"


@dataclass
class GenericEnvs:
    """Where the peers of one container unit are (5GTANGO's
    ``generic_envs``): ``cdu_id`` is ``<unit id>-<VNF instance id>``; the
    envs name every other unit's ``<VNF>_<UNIT>_IP`` and its connection
    points' ``_PORT`` and ``_TYPE``."""

    cdu_id: str
    envs: Dict[str, str] = field(default_factory=dict)


def _generic_envs(raw):
    entries = raw.get("generic_envs") or []
    return [
        GenericEnvs(
            str(entry.get("cdu_id", "")),
            {
                str(key): value if isinstance(value, str) else json.dumps(value)
                for key, value in (entry.get("envs") or {}).items()
            },
        )
        for entry in entries
    ]


def _required(raw, what, key):
    if key not in raw:
        raise RequestError(what, f"missing field `{key}`")
    return raw[key]


class LifecycleRequest:
    """A start or stop request: the VNF's descriptor and record, and where
    the peers of its container units are."""

    def __init__(self, raw):
        self.raw = raw
        self.vnfd = Vnfd(_required(raw, "start/stop", "vnfd"))
        self.vnfr = Vnfr(_required(raw, "start/stop", "vnfr"))
        self.generic_envs = _generic_envs(raw)

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("start/stop", text))


@dataclass
class Scaling:
    """How a VNF was scaled: ``direction`` ``out`` or ``in``, the VNF's id in
    the NSD, the instances added and removed."""

    direction: str = ""
    vnf_id: str = ""
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)


class ScaleRequest:
    """A scale request: one instance of the scaled VNF (``vnfd``,
    ``vnfr``), how it was scaled (``scale``), the service's record
    (``nsr``, ``None`` when not sent) and every VNF record of the service
    after the scaling (``vnfrs``), and the instance's generic envs."""

    def __init__(self, raw):
        self.raw = raw
        self.vnfd = Vnfd(_required(raw, "scale", "vnfd"))
        self.vnfr = Vnfr(_required(raw, "scale", "vnfr"))
        scale = _required(raw, "scale", "scale") or {}
        self.scale = Scaling(
            str(scale.get("direction", "")),
            str(scale.get("vnf_id", "")),
            [str(id) for id in scale.get("added") or []],
            [str(id) for id in scale.get("removed") or []],
        )
        self.nsr = Nsr(raw["nsr"]) if raw.get("nsr") else None
        self.vnfrs = [Vnfr(vnfr) for vnfr in raw.get("vnfrs") or []]
        self.generic_envs = _generic_envs(raw)

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("scale", text))


class ConfigureRequest:
    """A configure request: the service record and its VNF records, unless
    a configure SSM replaced the payload with its own (then only in
    ``raw``)."""

    def __init__(self, raw):
        self.raw = raw
        self.nsr = Nsr(raw["nsr"]) if raw.get("nsr") else None
        self.vnfrs = [Vnfr(vnfr) for vnfr in raw.get("vnfrs") or []]
        self.generic_envs = _generic_envs(raw)

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("configure", text))


class StateRequest:
    """A state request: ``action`` is ``extract`` or ``inject``, ``vnfr`` the
    VNF's record, ``state`` the state to inject (``None`` to extract)."""

    def __init__(self, raw):
        action = raw.get("action")
        if action not in ("extract", "inject"):
            raise RequestError("state", f"unknown action {action!r}: expected extract or inject")
        self.raw = raw
        self.action = action
        self.vnfr = Vnfr(_required(raw, "state", "vnfr"))
        self.state = raw.get("state") if action == "inject" else None

    @classmethod
    def from_json(cls, text):
        """A request from its content's JSON text."""
        return cls(_parse("state", text))


@dataclass
class Extracted:
    """The reply to ``extract``: the state to persist (any JSON value)."""

    state: object


@dataclass
class Injected:
    """The reply to ``inject``: the state was applied."""


class FunctionManager:
    """Subclass and override the events listed in ``HANDLES``; a fresh
    instance serves each event. Raise :class:`wasmano_sm.Failed` to answer
    an error; an event not overridden answers not handled. Any other
    exception is a bug: the sandbox reports it as a trap."""

    HANDLES: List[Event] = []

    def start(self, request: LifecycleRequest) -> List[UnitEnvs]:
        """The VNF was deployed; the reply's envs go into its container units."""
        raise NotHandled()

    def stop(self, request: LifecycleRequest) -> None:
        """The VNF is about to be removed."""
        raise NotHandled()

    def configure(self, request: ConfigureRequest) -> List[UnitEnvs]:
        """Configure the VNF; the reply's envs go into its container units."""
        raise NotHandled()

    def state(self, request: StateRequest):
        """Extract the VNF's state (reply :class:`Extracted`) or inject it
        (reply :class:`Injected`)."""
        raise NotHandled()

    def scale(self, request: ScaleRequest) -> List[UnitEnvs]:
        """The VNF's instances were scaled; the reply's envs go into this
        instance's container units."""
        raise NotHandled()


def export(manager_class):
    """The class componentize-py exports as the ``function-manager``
    interface, serving each event with a fresh ``manager_class()`` (natively,
    outside a component, ``manager_class`` itself): in
    ``app.py``, ``FunctionManager = fsm.export(MyManager)``."""
    try:
        from wit_world import exports  # noqa: PLC0415 (only inside a component)
        from wit_world.exports import function_manager as wit  # noqa: PLC0415
        from wit_world.imports import types as wit_types  # noqa: PLC0415
    except ImportError:
        # Natively there is nothing to export to: `app.py` imports in tests.
        return manager_class

    def run(event, method, request, reply):
        return _serve(manager_class, wit_types, event, method, request, reply)

    def envs(entries):
        return _wit_unit_envs(entries or [], wit_types)

    def state_reply(reply):
        if isinstance(reply, Extracted):
            return wit.StateReply_Extracted(json.dumps(reply.state))
        if isinstance(reply, Injected):
            return wit.StateReply_Injected()
        raise TypeError(f"a state reply is Extracted or Injected, not {reply!r}")

    class Export(exports.FunctionManager):
        def handles(self):
            return [wit.FsmEvent[event.name] for event in manager_class.HANDLES]

        def start(self, content):
            return run(Event.START, "start", lambda: LifecycleRequest.from_json(content), envs)

        def stop(self, content):
            return run(Event.STOP, "stop", lambda: LifecycleRequest.from_json(content), lambda _: None)

        def configure(self, content):
            return run(Event.CONFIGURE, "configure", lambda: ConfigureRequest.from_json(content), envs)

        def state(self, content):
            return run(Event.STATE, "state", lambda: StateRequest.from_json(content), state_reply)

        def scale(self, content):
            return run(Event.SCALE, "scale", lambda: ScaleRequest.from_json(content), envs)

    Export.__name__ = "FunctionManager"
    return Export
