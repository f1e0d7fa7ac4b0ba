//! Example state SSM: transforms the state an FSM extracted from a migrating
//! VNF before it is injected into the replacement.
//!
//! 5GTANGO's example FSMs extract state as text whose first line is the old
//! VNF's address and whose other lines are state entries. This manager turns
//! that into a versioned document, `{format, previous_address, entries,
//! migrations}`, and on later migrations keeps the document and counts the
//! move, so state survives any number of migrations in one shape.

use serde_json::{Value, json};
use sm_sdk::ssm::{SsmEvent, StateRequest};
use sm_sdk::{ManagerError, ServiceManager};

/// The state document format this manager writes.
pub const STATE_FORMAT: u64 = 2;

/// The versioning state manager.
#[derive(Debug, Default)]
pub struct VersionedState;

impl ServiceManager for VersionedState {
    const HANDLES: &'static [SsmEvent] = &[SsmEvent::State];

    fn state(&self, request: StateRequest) -> Result<Value, ManagerError> {
        match request.state {
            Value::String(text) => Ok(from_text(&text)),
            Value::Object(mut document) if document.get("format") == Some(&json!(STATE_FORMAT)) => {
                let migrations = document.get("migrations").and_then(Value::as_u64).unwrap_or(0);
                document.insert("migrations".into(), json!(migrations + 1));
                Ok(Value::Object(document))
            }
            Value::Null => Err(ManagerError::failed("the FSM extracted no state")),
            other => Err(ManagerError::failed(format!(
                "unsupported state shape: expected text or a format {STATE_FORMAT} document, got {other}"
            ))),
        }
    }
}

/// Reads 5GTANGO's text form; both real newlines and the literal `\n` that
/// the tng-sdk-sm example payload carries separate lines.
fn from_text(text: &str) -> Value {
    let normalised = text.replace("\\n", "\n");
    let mut lines = normalised.lines().map(str::trim).filter(|line| !line.is_empty());
    let previous_address = lines.next();
    let entries: Vec<&str> = lines.collect();
    json!({
        "format": STATE_FORMAT,
        "previous_address": previous_address,
        "entries": entries,
        "migrations": 1,
    })
}

sm_sdk::export_service_manager!(VersionedState);

#[cfg(test)]
mod tests {
    use super::*;
    use sm_sdk::Document;

    fn transform(state: Value) -> Result<Value, ManagerError> {
        let request = StateRequest::from_document(Document::from_value(&json!({ "state": state })))?;
        VersionedState.state(request)
    }

    #[test]
    fn text_state_becomes_a_versioned_document() {
        let state = transform(json!("10.120.0.206\\nadd some state")).unwrap();
        assert_eq!(
            state,
            json!({"format": 2, "previous_address": "10.120.0.206", "entries": ["add some state"], "migrations": 1})
        );
    }

    #[test]
    fn a_second_migration_counts_and_keeps_the_document() {
        let once = transform(json!("10.0.0.1\nentry")).unwrap();
        let twice = transform(once).unwrap();
        assert_eq!(twice["migrations"], 2);
        assert_eq!(twice["entries"], json!(["entry"]));
    }

    #[test]
    fn missing_state_is_an_error_answer() {
        assert!(matches!(transform(Value::Null), Err(ManagerError::Failed { .. })));
    }
}
