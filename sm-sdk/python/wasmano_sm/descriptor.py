"""Views of 5GTANGO descriptors and records (tng-schema), as the Rust SDK's
``descriptor`` module has them: each wraps the parsed mapping (``raw``,
every field kept) and names the fields managers reason about. Numbers
5GTANGO writes either as strings or as numbers (``version: '1'``) read as
strings."""

from dataclasses import dataclass

VM = "vm"
"""A VIM of virtual machines, or a VNF of virtual deployment units."""
CONTAINER = "container"
"""A VIM of containers, or a VNF of cloud-native deployment units."""

# Megabytes per unit of tng-schema's memory `size_unit` (MB when absent).
_MEGABYTES_PER_UNIT = {
    "B": 1e-6,
    "kB": 1e-3,
    "KB": 1e-3,
    "KiB": 1.024e-3,
    "MB": 1.0,
    "MiB": 1.048576,
    "GB": 1e3,
    "GiB": 1073.741824,
    "TB": 1e6,
    "TiB": 1099511.627776,
}


def _text(value):
    """A string or number field as a string; ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list(mapping, key):
    value = mapping.get(key)
    return value if isinstance(value, list) else []


@dataclass
class Demand:
    """What one VNF needs from the VIM it is placed on: cores and memory (in
    megabytes) summed over its deployment units, and the kind of VIM
    (:data:`CONTAINER` when it has cloud-native units, else :data:`VM`)."""

    cores: float
    memory_mb: float
    kind: str


class Vnfd:
    """A VNF descriptor, possibly carrying the instance uuid the
    orchestrator gave it (placement requests do)."""

    def __init__(self, raw):
        self.raw = raw if isinstance(raw, dict) else {}
        self.uuid = _text(self.raw.get("uuid"))
        self.instance_uuid = _text(self.raw.get("instance_uuid"))
        self.vendor = _text(self.raw.get("vendor"))
        self.name = _text(self.raw.get("name"))
        self.version = _text(self.raw.get("version"))
        self.virtual_deployment_units = _list(self.raw, "virtual_deployment_units")
        self.cloudnative_deployment_units = _list(self.raw, "cloudnative_deployment_units")

    def instance_id(self):
        """The instance id placement answers for: ``instance_uuid``, else
        ``uuid``."""
        return self.instance_uuid or self.uuid

    def demand(self):
        """What this VNF needs from a VIM; units without requirements need
        nothing. A memory unit tng-schema does not define raises
        ``ValueError`` naming it."""
        if self.cloudnative_deployment_units:
            kind, units = CONTAINER, self.cloudnative_deployment_units
        else:
            kind, units = VM, self.virtual_deployment_units
        demand = Demand(cores=0.0, memory_mb=0.0, kind=kind)
        for unit in units:
            requirements = unit.get("resource_requirements") or {}
            cpu = requirements.get("cpu") or {}
            demand.cores += float(cpu.get("vcpus") or 0)
            memory = requirements.get("memory")
            if memory:
                size_unit = memory.get("size_unit") or "MB"
                if size_unit not in _MEGABYTES_PER_UNIT:
                    raise ValueError(f"deployment unit {unit.get('id')}: unknown memory unit {size_unit!r}")
                demand.memory_mb += float(memory.get("size") or 0) * _MEGABYTES_PER_UNIT[size_unit]
        return demand


class Nsd:
    """A network service descriptor."""

    def __init__(self, raw):
        self.raw = raw if isinstance(raw, dict) else {}
        self.uuid = _text(self.raw.get("uuid"))
        self.vendor = _text(self.raw.get("vendor"))
        self.name = _text(self.raw.get("name"))
        self.version = _text(self.raw.get("version"))
        self.network_functions = _list(self.raw, "network_functions")
        self.virtual_links = _list(self.raw, "virtual_links")


class Vnfr:
    """A VNF record."""

    def __init__(self, raw):
        self.raw = raw if isinstance(raw, dict) else {}
        self.id = _text(self.raw.get("id")) or ""
        self.status = _text(self.raw.get("status"))
        self.virtual_deployment_units = _list(self.raw, "virtual_deployment_units")
        self.cloudnative_deployment_units = _list(self.raw, "cloudnative_deployment_units")

    def vim_id(self):
        """The VIM its first deployed unit runs on."""
        for unit in self.virtual_deployment_units:
            for instance in _list(unit, "vnfc_instance"):
                if instance.get("vim_id"):
                    return instance["vim_id"]
        for unit in self.cloudnative_deployment_units:
            if unit.get("vim_id"):
                return unit["vim_id"]
        return None

    def addresses(self):
        """Every address its units were given, in order."""
        found = []
        for unit in self.virtual_deployment_units:
            for instance in _list(unit, "vnfc_instance"):
                for point in _list(instance, "connection_points"):
                    address = (point.get("interface") or {}).get("address")
                    if address:
                        found.append(address)
        for unit in self.cloudnative_deployment_units:
            balancer = unit.get("load_balancer_ip") or {}
            for key in ("floating_ip", "internal_ip"):
                if balancer.get(key):
                    found.append(balancer[key])
        return found


class Nsr:
    """A network service record."""

    def __init__(self, raw):
        self.raw = raw if isinstance(raw, dict) else {}
        self.id = _text(self.raw.get("id")) or ""
        self.status = _text(self.raw.get("status"))
        self.network_functions = _list(self.raw, "network_functions")
