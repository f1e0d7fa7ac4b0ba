"""Example placement SSM in Python, the twin of the Rust `placement`
example: puts each VNF on a feasible VIM (type matches the VNF's deployment
units, enough free cores and memory), preferring the VIM with the most free
cores, and accounts for what it already placed. When a VNF fits nowhere it
answers an error naming that VNF. Virtual links are left to the
orchestrator."""

from wasmano_sm import Failed, log, ssm


def _number(value):
    """A float as Rust's `{}` prints it: 2.0 as 2."""
    return str(int(value)) if float(value).is_integer() else str(value)


class MostFreeCores(ssm.ServiceManager):
    HANDLES = [ssm.Event.PLACEMENT]

    def placement(self, request):
        vims = request.vims
        mapping = []
        for vnfd in request.vnfds:
            vnf = vnfd.instance_id()
            if not vnf:
                raise Failed("a VNFD has neither instance_uuid nor uuid")
            try:
                demand = vnfd.demand()
            except ValueError as error:
                raise Failed(f"VNF {vnf}: {error}") from None
            feasible = [
                vim
                for vim in vims
                if vim.kind == demand.kind
                and vim.free_cores() >= demand.cores
                and vim.free_memory() >= demand.memory_mb
            ]
            if not feasible:
                raise Failed(
                    f"Unable to perform placement: VNF {vnf} needs {_number(demand.cores)} cores and "
                    f"{_number(demand.memory_mb)} MB on a {demand.kind} VIM, and none has them free"
                )
            # The first of equals wins, as max() keeps the first maximum.
            vim = max(feasible, key=lambda vim: vim.free_cores())
            vim.core_used += demand.cores
            vim.memory_used += demand.memory_mb
            mapping.append(ssm.VnfPlacement(vnf=vnf, vim=vim.uuid))
        log.info(f"placed {len(mapping)} VNFs")
        return ssm.Placement(vnfs=mapping)


ServiceManager = ssm.export(MostFreeCores)
