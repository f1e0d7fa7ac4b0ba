//! Example FSM: handles all four events of a VNF.
//!
//! - start: returns envs for the container (its id, name and address);
//! - stop: checks the VNF is not already terminated;
//! - configure: returns a `PEERS` env, from the configure SSM's payload when
//!   it sent one, else from the other VNF records of the default payload;
//! - state: extract returns the VNF's address and its state entries (option
//!   `state_entries`), inject checks there is state to apply.

use serde_json::{Value, json};
use sm_sdk::fsm::{ConfigureRequest, FsmEvent, LifecycleRequest, StateAction, StateReply, StateRequest};
use sm_sdk::{FunctionManager, KeyValue, ManagerError};

/// The example VNF manager.
#[derive(Debug, Default)]
pub struct VnfManager;

impl FunctionManager for VnfManager {
    const HANDLES: &'static [FsmEvent] = &[FsmEvent::Start, FsmEvent::Stop, FsmEvent::Configure, FsmEvent::State];

    fn start(&self, request: LifecycleRequest) -> Result<Vec<KeyValue>, ManagerError> {
        let vnfr = &request.vnfr;
        if vnfr.id.is_empty() {
            return Err(ManagerError::failed("the VNF record has no id"));
        }
        let mut envs = vec![KeyValue::new("VNF_ID", &vnfr.id)];
        if let Some(name) = vnfr.name.as_deref().or(request.vnfd.name.as_deref()) {
            envs.push(KeyValue::new("VNF_NAME", name));
        }
        if let Some(address) = vnfr.addresses().first() {
            envs.push(KeyValue::new("VNF_ADDRESS", *address));
        }
        sm_sdk::info!("starting VNF {}", vnfr.id);
        Ok(envs)
    }

    fn stop(&self, request: LifecycleRequest) -> Result<(), ManagerError> {
        if request.vnfr.status.as_deref() == Some("terminated") {
            return Err(ManagerError::failed(format!(
                "VNF {} is already terminated",
                request.vnfr.id
            )));
        }
        sm_sdk::info!("stopping VNF {}", request.vnfr.id);
        Ok(())
    }

    fn configure(&self, request: ConfigureRequest) -> Result<Vec<KeyValue>, ManagerError> {
        let payload = request
            .raw
            .value()
            .map_err(|error| ManagerError::failed(error.to_string()))?;
        let mut peers: Vec<String> = match payload.get("peers") {
            // The example configure SSM's payload: {vnf_id, peers: {id: [addresses]}}.
            Some(Value::Object(peers)) => peers
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => request
                .vnfrs
                .iter()
                .flat_map(|vnfr| vnfr.addresses())
                .map(str::to_owned)
                .collect(),
        };
        peers.sort();
        peers.dedup();
        Ok(vec![KeyValue::new("PEERS", peers.join(","))])
    }

    fn state(&self, request: StateRequest) -> Result<StateReply, ManagerError> {
        match request.action {
            StateAction::Extract { vnfr } => {
                let address = vnfr.addresses().first().map(|address| address.to_string());
                let entries: Vec<String> = sm_sdk::option("state_entries")
                    .map(|entries| entries.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                let mut text = address.unwrap_or_default();
                for entry in entries {
                    text.push('\n');
                    text.push_str(&entry);
                }
                Ok(StateReply::Extracted(json!(text)))
            }
            StateAction::Inject { vnfr, state } => {
                if state.is_null() {
                    return Err(ManagerError::failed(format!("no state to inject into VNF {}", vnfr.id)));
                }
                sm_sdk::info!("injected state into VNF {}", vnfr.id);
                Ok(StateReply::Injected)
            }
        }
    }
}

sm_sdk::export_function_manager!(VnfManager);

#[cfg(test)]
mod tests {
    use super::*;
    use sm_sdk::Document;

    fn vnfr(id: &str, address: &str, status: &str) -> Value {
        json!({"id": id, "name": "web", "status": status, "virtual_deployment_units": [{"id": "vdu",
            "vnfc_instance": [{"id": "0", "connection_points": [{"id": "eth0", "interface": {"address": address}}]}]}]})
    }

    fn lifecycle(status: &str) -> LifecycleRequest {
        let content = json!({"vnfd": {"name": "web"}, "vnfr": vnfr("v1", "10.0.0.5", status)});
        LifecycleRequest::from_document(Document::from_value(&content)).unwrap()
    }

    #[test]
    fn start_returns_identity_and_address_envs() {
        let envs = VnfManager.start(lifecycle("offline")).unwrap();
        assert_eq!(
            envs,
            [
                KeyValue::new("VNF_ID", "v1"),
                KeyValue::new("VNF_NAME", "web"),
                KeyValue::new("VNF_ADDRESS", "10.0.0.5")
            ]
        );
    }

    #[test]
    fn stop_refuses_a_terminated_vnf() {
        assert!(VnfManager.stop(lifecycle("normal operation")).is_ok());
        assert!(matches!(
            VnfManager.stop(lifecycle("terminated")),
            Err(ManagerError::Failed(_))
        ));
    }

    #[test]
    fn configure_uses_the_ssm_payload_when_there_is_one() {
        let content = json!({"vnf_id": "a", "peers": {"b": ["10.0.0.2"], "c": ["10.0.0.3"]}});
        let request = ConfigureRequest::from_document(Document::from_value(&content)).unwrap();
        assert_eq!(
            VnfManager.configure(request).unwrap(),
            [KeyValue::new("PEERS", "10.0.0.2,10.0.0.3")]
        );
    }

    #[test]
    fn configure_falls_back_to_the_default_payload_records() {
        let content = json!({"nsr": {"id": "ns"}, "vnfrs": [vnfr("a", "10.0.0.1", "normal operation")]});
        let request = ConfigureRequest::from_document(Document::from_value(&content)).unwrap();
        assert_eq!(
            VnfManager.configure(request).unwrap(),
            [KeyValue::new("PEERS", "10.0.0.1")]
        );
    }

    #[test]
    fn extract_then_inject_round_trips() {
        sm_sdk::set_test_options(vec![KeyValue::new("state_entries", "sessions=3")]);
        let extract = json!({"action": "extract", "vnfr": vnfr("old", "10.0.0.9", "normal operation")});
        let request = StateRequest::from_document(Document::from_value(&extract)).unwrap();
        let StateReply::Extracted(state) = VnfManager.state(request).unwrap() else {
            panic!("expected state")
        };
        assert_eq!(state, json!("10.0.0.9\nsessions=3"));

        let inject = json!({"action": "inject", "vnfr": vnfr("new", "10.0.0.10", "offline"), "state": state});
        let request = StateRequest::from_document(Document::from_value(&inject)).unwrap();
        assert_eq!(VnfManager.state(request).unwrap(), StateReply::Injected);
    }
}
