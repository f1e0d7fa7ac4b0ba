//! Example configure SSM: decides which VNFs get an FSM configure event and
//! computes their payload, the addresses of their peers in the service.
//!
//! During instantiation only VNFs whose FSM declares `configure` are
//! triggered (configuring the others would be a no-op); on reconfigure every
//! VNF with an id is. Each payload lists the other VNFs' addresses, taken
//! from their records, with floating addresses translated to internal ones
//! through the service's `ip_mapping`.
//!
//! Each VNF's start, stop and scale events keep their setting, unless the
//! option `switch_off` lists some of them (comma-separated: `start`,
//! `stop`, `scale`): those are switched off for every VNF, for services
//! whose VNFs are started, stopped or scaled by something else. The
//! orchestrator keeps a switch in the VNF's record and follows it in later
//! workflows.

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
        let switched_off = switched_off_events()?;
        let decisions = request
            .functions
            .iter()
            .filter_map(|function| Some((function.instance_id()?, function)))
            .map(|(id, function)| {
                let configure = if !reconfiguring && !fsm_handles_configure(function) {
                    EventSwitch::off()
                } else {
                    let peers: BTreeMap<&str, &Vec<&str>> = addresses
                        .iter()
                        .filter(|(peer, _)| **peer != id)
                        .map(|(peer, addresses)| (*peer, addresses))
                        .collect();
                    EventSwitch::with_payload(json!({ "vnf_id": id, "peers": peers }))
                };
                let off = |event: &str| switched_off.contains(&event).then(EventSwitch::off);
                VnfSwitches {
                    start: off("start"),
                    stop: off("stop"),
                    scale: off("scale"),
                    ..VnfSwitches::configure(id, configure)
                }
            })
            .collect();
        Ok(decisions)
    }
}

/// The events the option `switch_off` lists; another name is an error.
fn switched_off_events() -> Result<Vec<&'static str>, ManagerError> {
    let Some(list) = sm_sdk::option("switch_off") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|event| !event.is_empty())
        .map(|event| {
            ["start", "stop", "scale"]
                .into_iter()
                .find(|known| *known == event)
                .ok_or_else(|| {
                    ManagerError::failed(format!(
                        "option switch_off lists {event:?}; it may list start, stop and scale"
                    ))
                })
        })
        .collect()
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
    fn switch_off_switches_the_listed_events_off_for_every_vnf() {
        sm_sdk::set_test_options(vec![sm_sdk::KeyValue::new("switch_off", "stop, scale")]);
        let content = json!({"workflow": "instantiation", "functions": [function("a", "10.0.0.1", true)]});
        let request = ConfigureRequest::from_document(Document::from_value(&content)).unwrap();
        let decisions = PeerAddresses.configure(request.clone()).unwrap();
        sm_sdk::set_test_options(vec![sm_sdk::KeyValue::new("switch_off", "stop,reboot")]);
        let refused = PeerAddresses.configure(request).unwrap_err();
        sm_sdk::set_test_options(Vec::new());
        assert_eq!(decisions[0].start, None);
        assert_eq!(decisions[0].stop, Some(EventSwitch::off()));
        assert_eq!(decisions[0].scale, Some(EventSwitch::off()));
        assert!(decisions[0].configure.as_ref().unwrap().trigger);
        assert!(refused.to_string().contains("\"reboot\""), "{refused}");
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
