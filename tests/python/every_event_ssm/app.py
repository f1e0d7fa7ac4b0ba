"""A Python SSM handling every event, for tests/harness.rs: each reply is
built from its request, so that every conversion of the SDK's export
adapter, both ways, shows in what the host prints. With the option
`fail: <event>` it answers that event with an error carrying content."""

from wasmano_sm import Failed, descriptor, option, ssm


def refuse_if_asked(event):
    if option("fail") == event:
        raise Failed(f"asked to fail {event}", content={"event": event, "by": "python"})


class EveryEvent(ssm.ServiceManager):
    HANDLES = list(ssm.Event)

    def placement(self, request):
        refuse_if_asked("placement")
        vnfs = []
        for vnfd in request.vnfds:
            kind = vnfd.demand().kind
            vim = next(vim for vim in request.vims if vim.kind == kind)
            vnfs.append(ssm.VnfPlacement(vnf=vnfd.instance_id(), vim=vim.uuid))
        links = [ssm.LinkPlacement(link["id"], vim=vnfs[0].vim) for link in request.nsd.virtual_links[:1]]
        wims = request.wims()
        if wims:
            links += [ssm.LinkPlacement(link["id"], wim=wims[0].uuid) for link in request.nsd.virtual_links[1:2]]
        return ssm.Placement(vnfs=vnfs, links=links)

    def configure(self, request):
        refuse_if_asked("configure")
        return [
            ssm.VnfSwitches(
                id=vnf,
                start=ssm.EventSwitch.off(),
                configure=ssm.EventSwitch.on({"workflow": request.workflow}),
            )
            for vnf in request.function_ids()
        ]

    def state(self, request):
        refuse_if_asked("state")
        return {"state": request.state, "by": "python"}

    def task(self, request):
        refuse_if_asked("task")
        return [name for name in request.schedule if name != "start_monitoring"]

    def monitor(self, request):
        refuse_if_asked("monitor")
        return [ssm.ScaleOut("web", 2), ssm.ScaleIn(["vnf-1"]), ssm.Reconfigure({"why": request.service_id})]


ServiceManager = ssm.export(EveryEvent)
