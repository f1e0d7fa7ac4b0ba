//! Example scale FSM: a load balancer whose backend list follows the
//! instances of its VNF as the VNF scales out and in.
//!
//! On scale, the instances of the scaled VNF are the service's records
//! (`vnfrs`, as they are after the scaling) with the same
//! `descriptor_reference` as the record the event is for; instances the
//! event removes, or whose record is terminated, are left out even if their
//! record is still sent. Each remaining instance is reached at its first
//! container unit's internal address (else its floating one), or at its
//! first VM connection point's address. The reply gives `BACKENDS`, those
//! addresses sorted and comma-separated (the same text in every instance,
//! whatever the records' order), and `BACKEND_COUNT`. On start the VNF has
//! one instance, the one starting, which is its own only backend.
//!
//! The envs go to the container unit the option `unit` names (a unit id of
//! the VNFD; a name that is not one is an error answer, not envs silently
//! sent nowhere), or to every container unit when the option is absent.
//! Two VNFs of a service built from the same VNFD share a
//! `descriptor_reference`, so this manager would count them as one.

use sm_sdk::descriptor::{Vnfd, Vnfr};
use sm_sdk::fsm::{FsmEvent, LifecycleRequest, ScaleRequest};
use sm_sdk::{FunctionManager, KeyValue, ManagerError, UnitEnvs};

/// The status of a record whose instance is gone.
const TERMINATED: &str = "terminated";

/// The load-balancer manager.
#[derive(Debug, Default)]
pub struct LoadBalancer;

impl FunctionManager for LoadBalancer {
    const HANDLES: &'static [FsmEvent] = &[FsmEvent::Start, FsmEvent::Scale];

    fn start(&self, request: LifecycleRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        let backends = backend_address(&request.vnfr).into_iter().collect();
        backend_envs(&request.vnfd, backends)
    }

    fn scale(&self, request: ScaleRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        let descriptor = request.vnfr.descriptor_reference.as_deref().ok_or_else(|| {
            ManagerError::failed(format!(
                "VNF instance {} has no descriptor_reference: its sibling instances cannot be told apart",
                request.vnfr.id
            ))
        })?;
        let removed = &request.scale.removed;
        let backends: Vec<&str> = request
            .vnfrs
            .iter()
            .filter(|vnfr| vnfr.descriptor_reference.as_deref() == Some(descriptor))
            .filter(|vnfr| !removed.contains(&vnfr.id) && vnfr.status.as_deref() != Some(TERMINATED))
            .filter_map(backend_address)
            .collect();
        sm_sdk::info!(
            "VNF {} scaled {}: {} backends",
            request.scale.vnf_id,
            request.scale.direction,
            backends.len()
        );
        backend_envs(&request.vnfd, backends)
    }
}

/// Where the load balancer reaches an instance: its first container unit's
/// internal address (else floating), else its first VM connection point's.
fn backend_address(vnfr: &Vnfr) -> Option<&str> {
    let container = vnfr
        .cloudnative_deployment_units
        .iter()
        .filter_map(|cdu| cdu.load_balancer_ip.as_ref())
        .find_map(|ip| ip.internal_ip.as_deref().or(ip.floating_ip.as_deref()));
    container.or_else(|| vnfr.addresses().first().copied())
}

/// `BACKENDS` and `BACKEND_COUNT`, for the unit the option `unit` names or
/// for every unit.
fn backend_envs(vnfd: &Vnfd, mut backends: Vec<&str>) -> Result<Vec<UnitEnvs>, ManagerError> {
    backends.sort_unstable();
    backends.dedup();
    let envs = vec![
        KeyValue::new("BACKENDS", backends.join(",")),
        KeyValue::new("BACKEND_COUNT", backends.len().to_string()),
    ];
    let Some(unit) = sm_sdk::option("unit") else {
        return Ok(vec![UnitEnvs::every_unit(envs)]);
    };
    let units: Vec<&str> = vnfd
        .cloudnative_deployment_units
        .iter()
        .map(|cdu| cdu.id.as_str())
        .collect();
    if !units.contains(&unit.as_str()) {
        return Err(ManagerError::failed(format!(
            "option unit is {unit:?}, not a container unit of this VNF ({})",
            units.join(", ")
        )));
    }
    Ok(vec![UnitEnvs::unit(unit, envs)])
}

sm_sdk::export_function_manager!(LoadBalancer);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use sm_sdk::Document;

    use super::*;

    const WEB: &str = "eu.wasmano/web/1.0";

    fn vnfd() -> Value {
        json!({"name": "web", "cloudnative_deployment_units": [{"id": "lb"}, {"id": "app"}]})
    }

    /// A container instance of the VNFD `descriptor`, with distinct floating
    /// and internal addresses.
    fn instance(id: &str, descriptor: &str, internal: &str, status: &str) -> Value {
        json!({"id": id, "descriptor_reference": descriptor, "status": status,
            "cloudnative_deployment_units": [{"id": format!("lb-{id}"), "vim_id": "vim-a",
                "load_balancer_ip": {"floating_ip": format!("192.0.2.{}", id.len()), "internal_ip": internal}}]})
    }

    fn scale(
        direction: &str,
        removed: &[&str],
        vnfrs: Vec<Value>,
        options: &[(&str, &str)],
    ) -> Result<Vec<UnitEnvs>, ManagerError> {
        sm_sdk::set_test_options(options.iter().map(|(key, value)| KeyValue::new(*key, *value)).collect());
        let content = json!({
            "vnfd": vnfd(),
            "vnfr": vnfrs[0],
            "scale": {"direction": direction, "vnf_id": "web", "added": [], "removed": removed},
            "vnfrs": vnfrs,
        });
        LoadBalancer.scale(ScaleRequest::from_document(Document::from_value(&content)).expect("a scale request"))
    }

    fn backends(addresses: &str, count: usize) -> Vec<KeyValue> {
        vec![
            KeyValue::new("BACKENDS", addresses),
            KeyValue::new("BACKEND_COUNT", count.to_string()),
        ]
    }

    #[test]
    fn scale_out_lists_every_instance_of_the_vnf_and_no_other_vnf() {
        let vnfrs = vec![
            instance("web-1", WEB, "10.0.0.3", "normal operation"),
            instance("db-1", "eu.wasmano/db/1.0", "10.0.0.9", "normal operation"),
            instance("web-2", WEB, "10.0.0.11", "normal operation"),
            instance("web-3", WEB, "10.0.0.2", "offline"),
        ];
        assert_eq!(
            scale("out", &[], vnfrs, &[]).unwrap(),
            [UnitEnvs::every_unit(backends("10.0.0.11,10.0.0.2,10.0.0.3", 3))]
        );
    }

    #[test]
    fn scale_in_leaves_out_removed_and_terminated_instances_whose_records_remain() {
        let vnfrs = vec![
            instance("web-1", WEB, "10.0.0.3", "normal operation"),
            instance("web-2", WEB, "10.0.0.11", "normal operation"),
            instance("web-3", WEB, "10.0.0.2", "normal operation"),
            instance("web-4", WEB, "10.0.0.4", TERMINATED),
        ];
        assert_eq!(
            scale("in", &["web-2"], vnfrs, &[]).unwrap(),
            [UnitEnvs::every_unit(backends("10.0.0.2,10.0.0.3", 2))]
        );
    }

    #[test]
    fn the_unit_option_sends_the_envs_to_that_unit_only() {
        let vnfrs = vec![instance("web-1", WEB, "10.0.0.3", "normal operation")];
        assert_eq!(
            scale("out", &[], vnfrs, &[("unit", "lb")]).unwrap(),
            [UnitEnvs::unit("lb", backends("10.0.0.3", 1))]
        );
    }

    #[test]
    fn a_unit_option_naming_no_unit_of_the_vnf_is_an_error_naming_it() {
        let vnfrs = vec![instance("web-1", WEB, "10.0.0.3", "normal operation")];
        let Err(ManagerError::Failed { message, .. }) = scale("out", &[], vnfrs, &[("unit", "balancer")]) else {
            panic!("expected an error answer")
        };
        assert!(
            message.contains("\"balancer\"") && message.contains("lb, app"),
            "{message}"
        );
    }

    #[test]
    fn a_record_without_descriptor_reference_is_an_error() {
        let mut vnfr = instance("web-1", WEB, "10.0.0.3", "normal operation");
        vnfr["descriptor_reference"] = Value::Null;
        assert!(matches!(
            scale("out", &[], vec![vnfr], &[]),
            Err(ManagerError::Failed { .. })
        ));
    }

    #[test]
    fn vm_instances_are_reached_at_their_first_connection_point() {
        let vm = |id: &str, address: &str| {
            json!({"id": id, "descriptor_reference": WEB, "virtual_deployment_units": [{"id": "vdu", "vnfc_instance": [
                {"id": "0", "connection_points": [{"id": "eth0", "interface": {"address": address}},
                                                  {"id": "eth1", "interface": {"address": "172.16.0.1"}}]}]}]})
        };
        assert_eq!(
            scale("out", &[], vec![vm("web-1", "10.0.1.1"), vm("web-2", "10.0.1.2")], &[]).unwrap(),
            [UnitEnvs::every_unit(backends("10.0.1.1,10.0.1.2", 2))]
        );
    }

    #[test]
    fn a_starting_instance_is_its_own_only_backend() {
        sm_sdk::set_test_options(Vec::new());
        let content = json!({"vnfd": vnfd(), "vnfr": instance("web-1", WEB, "10.0.0.3", "offline")});
        let request = LifecycleRequest::from_document(Document::from_value(&content)).expect("a start request");
        assert_eq!(
            LoadBalancer.start(request).unwrap(),
            [UnitEnvs::every_unit(backends("10.0.0.3", 1))]
        );
    }
}
