//! Example configure SSM: decides which VNFs get an FSM configure event and
//! computes their payload, the addresses of their peers in the service.
//!
//! During instantiation only VNFs whose FSM declares `configure` are
//! triggered (configuring the others would be a no-op); on reconfigure every
//! VNF with an id is. Each payload lists the other VNFs' addresses, taken
//! from their records, with floating addresses translated to internal ones
//! through the service's `ip_mapping`. Only the FSM configure event is
//! switched: each VNF's start, stop and scale events keep their setting.

use std::collections::BTreeMap;

use serde_json::json;
use sm_sdk::ssm::{ConfigureRequest, EventSwitch, Function, SsmEvent, VnfSwitches};
use sm_sdk::{ManagerError, ServiceManager};

/// The peer-addresses configure manager.
#[derive(Debug, Default)]
pub struct PeerAddresses;

impl ServiceManager for PeerAddresses {
    const HANDLES: &'static [SsmEvent] = &[SsmEvent::Configure];

    fn configure(&self, request: ConfigureRequest) -> Result<Vec<VnfSwitches>, ManagerError> {
        let internal: BTreeMap<&str, &str> = request
            .ip_mapping
            .iter()
            .filter_map(|mapping| Some((mapping.floating_ip.as_deref()?, mapping.internal_ip.as_deref()?)))
            .collect();
        let addresses: BTreeMap<&str, Vec<&str>> = request
            .functions
            .iter()
            .filter_map(|function| Some((function.instance_id()?, function)))
            .map(|(id, function)| {
                let addresses = function
                    .vnfr
                    .iter()
                    .flat_map(|vnfr| vnfr.addresses())
                    .map(|address| internal.get(address).copied().unwrap_or(address))
                    .collect();
                (id, addresses)
            })
            .collect();
        let reconfiguring = request.workflow.as_deref() == Some("reconfigure");
        let decisions = request
            .functions
            .iter()
            .filter_map(|function| Some((function.instance_id()?, function)))
            .map(|(id, function)| {
                if !reconfiguring && !fsm_handles_configure(function) {
                    return VnfSwitches::configure(id, EventSwitch::off());
                }
                let peers: BTreeMap<&str, &Vec<&str>> = addresses
                    .iter()
                    .filter(|(peer, _)| **peer != id)
                    .map(|(peer, addresses)| (*peer, addresses))
                    .collect();
                VnfSwitches::configure(id, EventSwitch::with_payload(json!({ "vnf_id": id, "peers": peers })))
            })
            .collect();
        Ok(decisions)
    }
}

fn fsm_handles_configure(function: &Function) -> bool {
    function.vnfd.as_ref().is_some_and(|vnfd| {
        vnfd.function_specific_managers
            .iter()
            .any(|fsm| fsm.declares_event("configure"))
    })
}

sm_sdk::export_service_manager!(PeerAddresses);

#[cfg(test)]
mod tests {
    use super::*;
    use sm_sdk::Document;

    fn function(id: &str, address: &str, fsm_configures: bool) -> serde_json::Value {
        let options = if fsm_configures {
            json!([{"key": "type", "value": "configure"}])
        } else {
            json!([])
        };
        json!({
            "id": id,
            "vnfd": {"function_specific_managers": [{"id": "fsm", "options": options}]},
            "vnfr": {"id": id, "virtual_deployment_units": [{"id": "vdu", "vnfc_instance": [
                {"id": "0", "connection_points": [{"id": "eth0", "interface": {"address": address}}]}
            ]}]}
        })
    }

    /// The FSM configure switch the manager answers for each VNF, in order.
    fn configure(workflow: &str, functions: Vec<serde_json::Value>) -> Vec<EventSwitch> {
        let content = json!({
            "workflow": workflow,
            "functions": functions,
            "ip_mapping": [{"floating_ip": "10.0.0.2", "internal_ip": "172.16.0.2"}],
        });
        let request = ConfigureRequest::from_document(Document::from_value(&content)).unwrap();
        let decisions = PeerAddresses.configure(request).unwrap();
        for decision in &decisions {
            assert_eq!(
                (&decision.start, &decision.stop, &decision.scale),
                (&None, &None, &None)
            );
        }
        decisions
            .into_iter()
            .map(|decision| decision.configure.expect("every VNF's configure is switched"))
            .collect()
    }

    #[test]
    fn triggers_only_vnfs_whose_fsm_configures_during_instantiation() {
        let decisions = configure(
            "instantiation",
            vec![function("a", "10.0.0.1", true), function("b", "10.0.0.2", false)],
        );
        assert!(decisions[0].trigger);
        assert!(!decisions[1].trigger);
        assert_eq!(decisions[1].payload, None);
    }

    #[test]
    fn payload_lists_peer_addresses_translated_to_internal_ones() {
        let decisions = configure(
            "instantiation",
            vec![function("a", "10.0.0.1", true), function("b", "10.0.0.2", true)],
        );
        let payload = decisions[0].payload.as_ref().unwrap();
        assert_eq!(payload["peers"], json!({"b": ["172.16.0.2"]}));
        assert_eq!(payload["vnf_id"], "a");
    }

    #[test]
    fn reconfigure_triggers_every_vnf() {
        let decisions = configure("reconfigure", vec![function("a", "10.0.0.1", false)]);
        assert!(decisions[0].trigger);
    }
}
