//! Example FSM: handles all four events of a VNF.
//!
//! - start: returns envs for every container unit (the VNF's id, name and
//!   address), and for each unit the orchestrator sent `generic_envs` for,
//!   those envs (where its peers are) plus `PEERS`, its peers' addresses in
//!   one list, so a unit finds the rest of the service from its first start;
//! - stop: checks the VNF is not already terminated;
//! - configure: returns a `PEERS` env for every unit, from the configure
//!   SSM's payload when it sent one, else from the other VNF records of the
//!   default payload;
//! - state: extract returns the VNF's address and its state entries (option
//!   `state_entries`), inject checks there is state to apply.

use serde::Deserialize;
use serde_json::{Value, json};
use sm_sdk::fsm::{ConfigureRequest, FsmEvent, GenericEnvs, LifecycleRequest, StateAction, StateReply, StateRequest};
use sm_sdk::{FunctionManager, KeyValue, ManagerError, UnitEnvs};

/// The example VNF manager.
#[derive(Debug, Default)]
pub struct VnfManager;

/// What configure reads of its content: the configure SSM's payload names
/// the peers' addresses by VNF (`{vnf_id, peers: {id: [addresses]}}`); the
/// default payload (`{nsr, vnfrs}`) has no `peers`.
#[derive(Debug, Deserialize)]
struct SsmPayload {
    peers: Option<Value>,
}

impl FunctionManager for VnfManager {
    const HANDLES: &'static [FsmEvent] = &[FsmEvent::Start, FsmEvent::Stop, FsmEvent::Configure, FsmEvent::State];

    fn start(&self, request: LifecycleRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
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
        let mut reply = vec![UnitEnvs::every_unit(envs)];
        reply.extend(request.generic_envs.iter().map(unit_peer_envs));
        Ok(reply)
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

    fn configure(&self, request: ConfigureRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        // Only the field this manager reads is parsed into values; serde
        // skips the rest of the document without building it.
        let payload: SsmPayload = request
            .raw
            .parse()
            .map_err(|error| ManagerError::failed(error.to_string()))?;
        let peers = match &payload.peers {
            // The example configure SSM's payload: {vnf_id, peers: {id: [addresses]}}.
            Some(Value::Object(peers)) => peers_env(
                peers
                    .values()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(Value::as_str),
            ),
            _ => peers_env(request.vnfrs.iter().flat_map(|vnfr| vnfr.addresses())),
        };
        Ok(vec![UnitEnvs::every_unit(vec![peers])])
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

/// `PEERS`: the distinct addresses, sorted, comma-separated.
fn peers_env<'a>(addresses: impl Iterator<Item = &'a str>) -> KeyValue {
    let mut peers: Vec<&str> = addresses.collect();
    peers.sort_unstable();
    peers.dedup();
    KeyValue::new("PEERS", peers.join(","))
}

/// One container unit's envs from its `generic_envs`: those envs as sent,
/// then `PEERS` from the peer addresses among them (the `_IP` entries).
fn unit_peer_envs(generic: &GenericEnvs) -> UnitEnvs {
    let addresses = generic
        .envs
        .iter()
        .filter(|(key, _)| key.ends_with("_IP"))
        .map(|(_, address)| address.as_str());
    let mut envs: Vec<KeyValue> = generic
        .envs
        .iter()
        .map(|(key, value)| KeyValue::new(key, value))
        .collect();
    envs.push(peers_env(addresses));
    UnitEnvs::unit(&generic.cdu_id, envs)
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
    fn start_returns_identity_and_address_envs_for_every_unit() {
        let envs = VnfManager.start(lifecycle("offline")).unwrap();
        assert_eq!(
            envs,
            [UnitEnvs::every_unit(vec![
                KeyValue::new("VNF_ID", "v1"),
                KeyValue::new("VNF_NAME", "web"),
                KeyValue::new("VNF_ADDRESS", "10.0.0.5")
            ])]
        );
    }

    #[test]
    fn start_gives_each_unit_its_generic_envs_and_its_peers() {
        let content = json!({
            "vnfd": {"name": "web"},
            "vnfr": vnfr("v1", "10.0.0.5", "offline"),
            "generic_envs": [
                {"cdu_id": "front-v1", "envs": {"DB_MAIN_IP": "10.0.0.7", "DB_MAIN_SQL_PORT": 5432, "CACHE_MAIN_IP": "10.0.0.8"}},
                {"cdu_id": "worker-v1", "envs": {"DB_MAIN_IP": "10.0.0.7"}},
            ],
        });
        let request = LifecycleRequest::from_document(Document::from_value(&content)).unwrap();
        let envs = VnfManager.start(request).unwrap();
        assert_eq!(envs.len(), 3, "{envs:?}");
        assert_eq!(envs[0].unit, None, "identity envs go to every unit");
        assert_eq!(
            envs[1],
            UnitEnvs::unit(
                "front-v1",
                vec![
                    KeyValue::new("CACHE_MAIN_IP", "10.0.0.8"),
                    KeyValue::new("DB_MAIN_IP", "10.0.0.7"),
                    KeyValue::new("DB_MAIN_SQL_PORT", "5432"),
                    KeyValue::new("PEERS", "10.0.0.7,10.0.0.8"),
                ]
            )
        );
        assert_eq!(
            envs[2],
            UnitEnvs::unit(
                "worker-v1",
                vec![
                    KeyValue::new("DB_MAIN_IP", "10.0.0.7"),
                    KeyValue::new("PEERS", "10.0.0.7")
                ]
            )
        );
    }

    #[test]
    fn stop_refuses_a_terminated_vnf() {
        assert!(VnfManager.stop(lifecycle("normal operation")).is_ok());
        assert!(matches!(
            VnfManager.stop(lifecycle("terminated")),
            Err(ManagerError::Failed { .. })
        ));
    }

    #[test]
    fn configure_uses_the_ssm_payload_when_there_is_one() {
        let content = json!({"vnf_id": "a", "peers": {"b": ["10.0.0.2"], "c": ["10.0.0.3"]}});
        let request = ConfigureRequest::from_document(Document::from_value(&content)).unwrap();
        assert_eq!(
            VnfManager.configure(request).unwrap(),
            [UnitEnvs::every_unit(vec![KeyValue::new("PEERS", "10.0.0.2,10.0.0.3")])]
        );
    }

    #[test]
    fn configure_falls_back_to_the_default_payload_records() {
        let content = json!({"nsr": {"id": "ns"}, "vnfrs": [vnfr("a", "10.0.0.1", "normal operation")]});
        let request = ConfigureRequest::from_document(Document::from_value(&content)).unwrap();
        assert_eq!(
            VnfManager.configure(request).unwrap(),
            [UnitEnvs::every_unit(vec![KeyValue::new("PEERS", "10.0.0.1")])]
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
