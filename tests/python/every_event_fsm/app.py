"""A Python FSM handling every event, for tests/harness.rs: each reply is
built from its request, so that every conversion of the SDK's export
adapter, both ways, shows in what the host prints."""

from wasmano_sm import UnitEnvs, fsm


class EveryEvent(fsm.FunctionManager):
    HANDLES = list(fsm.Event)

    def start(self, request):
        envs = [UnitEnvs({"VNF_ID": request.vnfr.id})]
        envs += [UnitEnvs({"PEERS": len(entry.envs)}, unit=entry.cdu_id) for entry in request.generic_envs]
        return envs

    def stop(self, request):
        return None

    def configure(self, request):
        return [UnitEnvs({"RECORDS": len(request.vnfrs)}, unit="cdu01")]

    def state(self, request):
        if request.action == "extract":
            return fsm.Extracted({"vnfr": request.vnfr.id})
        return fsm.Injected()

    def scale(self, request):
        return [UnitEnvs({"DIRECTION": request.scale.direction, "ADDED": ",".join(request.scale.added)})]


FunctionManager = fsm.export(EveryEvent)
