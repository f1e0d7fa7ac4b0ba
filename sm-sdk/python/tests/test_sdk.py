"""Native tests of the Python SDK's typed requests, replies and helpers:
`python3 -m unittest discover -s tests` in sm-sdk/python
(tests/harness.rs runs them). The export adapters run inside components:
tests/harness.rs drives them through the real host."""

import json
import unittest

import wasmano_sm
from wasmano_sm import Failed, NotHandled, RequestError, UnitEnvs, fsm, ssm
from wasmano_sm.descriptor import CONTAINER, VM, Vnfd, Vnfr


def vdu(id, vcpus, size, unit=None):
    memory = {"size": size}
    if unit is not None:
        memory["size_unit"] = unit
    return {"id": id, "resource_requirements": {"cpu": {"vcpus": vcpus}, "memory": memory}}


class DescriptorTest(unittest.TestCase):
    def test_demand_sums_units_in_megabytes_and_reads_the_kind(self):
        vnfd = Vnfd({"uuid": "d", "virtual_deployment_units": [vdu("a", 2, 1, "GB"), vdu("b", 1, 512)]})
        demand = vnfd.demand()
        self.assertEqual((demand.cores, demand.memory_mb, demand.kind), (3.0, 1512.0, VM))
        container = Vnfd({"cloudnative_deployment_units": [{"id": "c"}], "virtual_deployment_units": [vdu("a", 9, 9)]})
        self.assertEqual(container.demand().kind, CONTAINER, "cloud-native units make a container VNF")
        self.assertEqual(container.demand().cores, 0.0, "a unit without requirements needs nothing")

    def test_an_unknown_memory_unit_is_named(self):
        with self.assertRaisesRegex(ValueError, "unknown memory unit 'XB'"):
            Vnfd({"virtual_deployment_units": [vdu("a", 1, 1, "XB")]}).demand()

    def test_instance_id_prefers_the_instance_uuid_and_versions_read_as_text(self):
        self.assertEqual(Vnfd({"uuid": "d", "instance_uuid": "i"}).instance_id(), "i")
        self.assertEqual(Vnfd({"uuid": "d"}).instance_id(), "d")
        self.assertEqual(Vnfd({"version": 1.0}).version, "1")

    def test_a_record_finds_its_vim_and_addresses(self):
        vnfr = Vnfr(
            {
                "id": "r",
                "virtual_deployment_units": [
                    {
                        "id": "vdu",
                        "vnfc_instance": [
                            {"vim_id": "vim-a", "connection_points": [{"id": "cp", "interface": {"address": "10.0.0.1"}}]}
                        ],
                    }
                ],
                "cloudnative_deployment_units": [
                    {"id": "cdu", "vim_id": "k8s", "load_balancer_ip": {"floating_ip": "1.2.3.4", "internal_ip": "10.1.0.1"}}
                ],
            }
        )
        self.assertEqual(vnfr.vim_id(), "vim-a")
        self.assertEqual(vnfr.addresses(), ["10.0.0.1", "1.2.3.4", "10.1.0.1"])


class SsmRequestTest(unittest.TestCase):
    def test_a_placement_request_types_its_topology(self):
        content = {
            "uuid": 42,
            "nsd": {"name": "service", "virtual_links": [{"id": "l1"}]},
            "vnfds": [{"instance_uuid": "vnf-1"}],
            "nap": {"public": []},
            "topology": {
                "vims": {
                    "vim_list": [
                        {"vim_uuid": "a", "type": "container", "core_total": 8, "core_used": 2, "vim_city": "Athens"}
                    ],
                    "nep_list": [{"nep_uuid": "n", "nep_name": "bcn"}],
                },
                "wims": [
                    {
                        "uuid": "w",
                        "attached_vims": ["a"],
                        "qos": [
                            {"node_1": "a", "node_2": "n", "latency": 0.01, "latency_unit": "s",
                             "bandwidth": 1, "bandwidth_unit": "Gbps"}
                        ],
                    }
                ],
            },
        }
        request = ssm.PlacementRequest.from_json(json.dumps(content))
        self.assertEqual(request.service_id, "42")
        self.assertEqual(request.nsd.virtual_links, [{"id": "l1"}])
        self.assertEqual(request.vnfds[0].instance_id(), "vnf-1")
        vim = request.vims[0]
        self.assertEqual((vim.kind, vim.free_cores(), vim.city), (CONTAINER, 6.0, "Athens"))
        self.assertEqual(request.neps(), [ssm.Nep("n", "bcn")])
        self.assertEqual(request.wims()[0].qos[0].latency_ms, 10.0)
        self.assertEqual(request.wims()[0].qos[0].bandwidth_mbps, 1000.0)
        self.assertEqual(request.raw["nap"], {"public": []}, "the whole content stays reachable")

    def test_an_unknown_qos_unit_leaves_the_figure_unknown(self):
        content = {"topology": {"wims": [{"uuid": "w", "qos": [{"node_1": "a", "node_2": "b", "latency": 3, "latency_unit": "h"}]}]}}
        self.assertIsNone(ssm.PlacementRequest.from_json(json.dumps(content)).wims()[0].qos[0].latency_ms)

    def test_configure_task_monitor_and_state_requests(self):
        configure = ssm.ConfigureRequest.from_json(
            json.dumps(
                {
                    "workflow": "reconfigure",
                    "functions": [{"id": "f1"}, {"vnfr": {"id": "f2"}}, {}],
                    "ip_mapping": None,
                    "service": {"reconfiguration_payload": {"scale": 2}},
                }
            )
        )
        self.assertEqual(configure.workflow, "reconfigure")
        self.assertEqual(configure.function_ids(), ["f1", "f2"])
        self.assertEqual(configure.ip_mapping, [])
        self.assertEqual(configure.reconfiguration_payload, {"scale": 2})
        self.assertEqual(ssm.TaskRequest.from_json('{"schedule": ["a", "b"]}').schedule, ["a", "b"])
        self.assertEqual(ssm.MonitorRequest.from_json('{"nsr": {"id": "ns-1"}}').service_id, "ns-1")
        self.assertEqual(ssm.StateRequest.from_json('{"state": [1]}').state, [1])

    def test_malformed_content_is_a_request_error_naming_the_event(self):
        for build, text, needle in [
            (ssm.PlacementRequest.from_json, "not json", "placement"),
            (ssm.TaskRequest.from_json, '{"schedule": "a"}', "schedule"),
            (ssm.StateRequest.from_json, "{}", "state"),
            (ssm.ConfigureRequest.from_json, "[]", "mapping"),
        ]:
            with self.assertRaises(RequestError) as raised:
                build(text)
            self.assertIn(needle, raised.exception.message)
            self.assertIsInstance(raised.exception, Failed, "answered as the manager's error")

    def test_events_not_overridden_answer_not_handled(self):
        with self.assertRaises(NotHandled):
            ssm.ServiceManager().task(ssm.TaskRequest.from_json('{"schedule": []}'))

    def test_switches(self):
        self.assertEqual(ssm.EventSwitch.on(), ssm.EventSwitch(True, None))
        self.assertEqual(ssm.EventSwitch.off(), ssm.EventSwitch(False, None))
        self.assertEqual(ssm.EventSwitch.on({"k": 1}).payload, {"k": 1})


class FsmRequestTest(unittest.TestCase):
    def test_lifecycle_scale_configure_and_state_requests(self):
        generic = [{"cdu_id": "cdu01-v1", "envs": {"DB_IP": "10.0.0.2", "DB_PORT": 5432}}]
        start = fsm.LifecycleRequest.from_json(
            json.dumps({"vnfd": {"name": "web"}, "vnfr": {"id": "v1"}, "generic_envs": generic})
        )
        self.assertEqual(start.vnfr.id, "v1")
        self.assertEqual(start.generic_envs, [fsm.GenericEnvs("cdu01-v1", {"DB_IP": "10.0.0.2", "DB_PORT": "5432"})])
        scale = fsm.ScaleRequest.from_json(
            json.dumps(
                {
                    "vnfd": {},
                    "vnfr": {"id": "v1"},
                    "scale": {"direction": "out", "vnf_id": "web", "added": ["v2"]},
                    "nsr": {"id": "ns-1"},
                    "vnfrs": [{"id": "v1"}, {"id": "v2"}],
                    "generic_envs": None,
                }
            )
        )
        self.assertEqual(scale.scale, fsm.Scaling("out", "web", ["v2"], []))
        self.assertEqual([vnfr.id for vnfr in scale.vnfrs], ["v1", "v2"])
        self.assertEqual(scale.nsr.id, "ns-1")
        self.assertIsNone(fsm.ScaleRequest.from_json('{"vnfd": {}, "vnfr": {}, "scale": {}}').nsr)
        self.assertEqual(scale.generic_envs, [])
        configure = fsm.ConfigureRequest.from_json('{"custom": true}')
        self.assertIsNone(configure.nsr, "a payload a configure SSM replaced stays in raw")
        self.assertEqual(configure.raw, {"custom": True})
        inject = fsm.StateRequest.from_json('{"action": "inject", "vnfr": {"id": "v1"}, "state": {"k": 1}}')
        self.assertEqual((inject.action, inject.state), ("inject", {"k": 1}))
        with self.assertRaisesRegex(RequestError, "unknown action 'copy'"):
            fsm.StateRequest.from_json('{"action": "copy", "vnfr": {}}')
        with self.assertRaisesRegex(RequestError, "vnfr"):
            fsm.LifecycleRequest.from_json('{"vnfd": {}}')


class HelpersTest(unittest.TestCase):
    def test_options_natively_are_the_test_options(self):
        wasmano_sm.set_test_options({"strategy": "spread", "level": 3})
        self.assertEqual(wasmano_sm.options(), [("strategy", "spread"), ("level", "3")])
        self.assertEqual(wasmano_sm.option("level"), "3")
        self.assertEqual(wasmano_sm.option("missing", "default"), "default")
        wasmano_sm.set_test_options([])

    def test_unit_envs_turn_values_into_text(self):
        envs = UnitEnvs({"PORT": 80}, unit="cdu01")
        self.assertEqual((envs.unit, envs.envs), ("cdu01", {"PORT": "80"}))
        self.assertEqual(UnitEnvs.every_unit({"A": "b"}), UnitEnvs({"A": "b"}))

    def test_a_failure_keeps_its_content(self):
        failure = Failed("no room", content={"vnf": "x"})
        self.assertEqual((failure.message, failure.content), ("no room", {"vnf": "x"}))

    def test_export_natively_returns_the_class(self):
        self.assertIs(ssm.export(ssm.ServiceManager), ssm.ServiceManager)
        self.assertIs(fsm.export(fsm.FunctionManager), fsm.FunctionManager)


if __name__ == "__main__":
    unittest.main()
