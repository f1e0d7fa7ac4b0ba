"""Native tests of the Python placement example: `python3 -m unittest` in
this directory, with `sm-sdk/python` on PYTHONPATH."""

import json
import unittest

from wasmano_sm import Failed, NotHandled, ssm

from app import MostFreeCores


def request(vims, vnfds):
    content = {"topology": {"vims": {"vim_list": vims}}, "vnfds": vnfds}
    return ssm.PlacementRequest.from_json(json.dumps(content))


def vm(id, cores, memory_gb):
    unit = {"id": "vdu", "resource_requirements": {"cpu": {"vcpus": cores}, "memory": {"size": memory_gb, "size_unit": "GB"}}}
    return {"instance_uuid": id, "virtual_deployment_units": [unit]}


def vim(id, kind, free_cores, free_memory_mb):
    return {"vim_uuid": id, "type": kind, "core_total": free_cores, "core_used": 0, "memory_total": free_memory_mb, "memory_used": 0}


class MostFreeCoresTest(unittest.TestCase):
    def test_prefers_the_vim_with_most_free_cores_and_accounts_for_earlier_vnfs(self):
        placement = MostFreeCores().placement(
            request([vim("small", "vm", 4, 100_000), vim("big", "vm", 6, 100_000)], [vm("a", 4, 1), vm("b", 2, 1)])
        )
        # a takes 4 of big's 6 cores, leaving small (4 free) the better choice for b.
        self.assertEqual([p.vim for p in placement.vnfs], ["big", "small"])

    def test_never_puts_a_vm_on_a_container_vim(self):
        placement = MostFreeCores().placement(
            request([vim("k8s", "container", 64, 1_000_000), vim("os", "vm", 2, 4_000)], [vm("a", 1, 1)])
        )
        self.assertEqual(placement.vnfs[0].vim, "os")

    def test_answers_an_error_naming_the_vnf_that_does_not_fit(self):
        with self.assertRaises(Failed) as failed:
            MostFreeCores().placement(request([vim("tiny", "vm", 1, 100_000)], [vm("hungry", 2, 1)]))
        self.assertIn("hungry", failed.exception.message)

    def test_memory_is_a_constraint_too(self):
        placement = MostFreeCores().placement(
            request([vim("lowmem", "vm", 16, 1_000), vim("roomy", "vm", 2, 8_000)], [vm("a", 1, 2)])
        )
        self.assertEqual(placement.vnfs[0].vim, "roomy")

    def test_does_not_handle_configure(self):
        with self.assertRaises(NotHandled):
            MostFreeCores().configure(ssm.ConfigureRequest.from_json("{}"))


if __name__ == "__main__":
    unittest.main()
