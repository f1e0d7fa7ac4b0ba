//! The lifecycle-management vocabulary, in ETSI SOL005's shapes: NS
//! instances, operation occurrences and their states, and packages as
//! projects own them. These are what the lifecycle store keeps; the API
//! adds links and record details when it answers.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::service::ManagerChange;

/// Whether an NS instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NsState {
    /// Nothing deployed.
    NotInstantiated,
    /// Deployed (possibly degraded).
    Instantiated,
}

/// The kind of an operation occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationType {
    /// Deploy the service.
    Instantiate,
    /// Add or remove a VNF instance.
    Scale,
    /// Remove the service.
    Terminate,
    /// Change a manager.
    Update,
    /// Move a VNF instance to another VIM.
    Migrate,
    /// Configure the VNFs again.
    Reconfigure,
}

/// The state of an operation occurrence (SOL005 without
/// PARTIALLY_COMPLETED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationState {
    /// Running.
    Processing,
    /// Done.
    Completed,
    /// Stopped on a failure, waiting for a person: retry or fail.
    FailedTemp,
    /// Given up (final).
    Failed,
    /// Undoing after a failure.
    RollingBack,
    /// Undone after a failure (final).
    RolledBack,
}

impl OperationState {
    /// Whether the operation still holds its NS instance: no other task may
    /// start meanwhile.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Processing | Self::RollingBack | Self::FailedTemp)
    }
}

/// How a cancel stops an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancelMode {
    /// At the next step boundary.
    Graceful,
    /// Also interrupting the running hook or infrastructure call (not
    /// supported yet).
    Forceful,
}

/// What happens when a step fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OnFailure {
    /// Undo what the operation did.
    #[default]
    Rollback,
    /// Stop in FAILED_TEMP for a person.
    Pause,
}

/// Which part failed an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCause {
    /// A manager answered an error.
    Answered,
    /// A manager does not handle an event it declared.
    NotHandled,
    /// The sandbox stopped a manager or refused its reply.
    Fault,
    /// The host could not run a manager.
    Host,
    /// No placement, or a placement manager's mapping was refused.
    Placement,
    /// The infrastructure failed.
    Infrastructure,
    /// The record store failed.
    Store,
    /// The orchestrator stopped while the operation ran.
    Interrupted,
    /// A person cancelled the operation.
    Cancelled,
    /// The request no longer made sense when the workflow started.
    Rejected,
}

/// Why an operation failed: a ProblemDetails body plus where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationError {
    /// One line.
    pub title: String,
    /// The whole error, with its causes.
    pub detail: String,
    /// The step that failed, when one did.
    pub step: Option<String>,
    /// The manager that ran in it, when one did.
    pub manager: Option<String>,
    /// Which part failed.
    pub cause: ErrorCause,
}

/// What an operation occurrence was asked to do, as it is stored: enough
/// to run it again on retry and to recover it after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum TaskRequest {
    /// Deploy the service.
    Instantiate {
        /// How to place its VNFs instead of the server's settings.
        #[serde(default)]
        placement: Option<PlacementRequest>,
    },
    /// Add an instance of the NSD's VNF (its `vnf_id`, SOL's profile id).
    ScaleOut {
        /// The VNF's id in the NSD.
        vnf_profile_id: String,
    },
    /// Remove a VNF instance.
    ScaleIn {
        /// The instance.
        vnf_instance_id: String,
    },
    /// Move a VNF instance to another VIM.
    Migrate {
        /// The instance.
        vnf_instance_id: String,
        /// Where it goes.
        target_vim_id: String,
    },
    /// Configure the VNFs again.
    Reconfigure {
        /// What a manager that asked for it wants the configure manager to
        /// see (5GTANGO's `reconfiguration_payload`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reconfiguration_payload: Option<Value>,
    },
    /// Remove the service.
    Terminate {
        /// Go on past failing FSM stop hooks, journaling them.
        force: bool,
    },
    /// Run a manager from another onboarded module or another container
    /// image (CHANGE_MANAGER).
    ChangeManager {
        /// The manager's id in its descriptor.
        manager_id: String,
        /// The NSD's `vnf_id` of its VNF, for an FSM.
        vnf_profile_id: Option<String>,
        /// What to run it from.
        #[serde(flatten)]
        source: NewManagerSource,
    },
}

/// What a changed manager runs from (stored as `module_sha256` or `image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewManagerSource {
    /// An onboarded module, by its sha256.
    ModuleSha256(String),
    /// A legacy container image.
    Image(String),
}

impl NewManagerSource {
    /// The change as the service builder takes it.
    pub fn as_change(&self) -> ManagerChange<'_> {
        match self {
            Self::ModuleSha256(sha256) => ManagerChange::Module(sha256),
            Self::Image(image) => ManagerChange::Image(image),
        }
    }
}

impl TaskRequest {
    /// The operation type the task is an occurrence of.
    pub fn operation_type(&self) -> OperationType {
        match self {
            Self::Instantiate { .. } => OperationType::Instantiate,
            Self::ScaleOut { .. } | Self::ScaleIn { .. } => OperationType::Scale,
            Self::Migrate { .. } => OperationType::Migrate,
            Self::Reconfigure { .. } => OperationType::Reconfigure,
            Self::Terminate { .. } => OperationType::Terminate,
            Self::ChangeManager { .. } => OperationType::Update,
        }
    }

    /// Whether the task removes what cannot be put back: a failure or an
    /// interruption leaves it in FAILED_TEMP (retry or fail), never rolled
    /// back.
    pub fn removes(&self) -> bool {
        matches!(self, Self::ScaleIn { .. } | Self::Terminate { .. })
    }
}

/// The placement an instantiation asks for (`additionalParamsForNs.
/// placement`), over the server's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementRequest {
    /// How VIMs are preferred; the server's strategy when absent.
    pub strategy: Option<StrategyName>,
    /// VIMs never to use, on top of the server's blacklist.
    #[serde(default)]
    pub blacklist: Vec<String>,
    /// The NSD's `vnf_id` → the VIM it must go to, over the server's.
    #[serde(default)]
    pub fixed_mappings: std::collections::BTreeMap<String, String>,
}

/// A default-placement strategy, as requests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StrategyName {
    /// Spread: the VIM with the most free cores first.
    LoadBalanced,
    /// Pack: the VIM with the fewest free cores that still fits first.
    FillFirst,
}

/// An NS instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NsInstance {
    /// Its id; also the id of its NSR once instantiated.
    pub id: String,
    /// The project owning it.
    pub project_id: String,
    /// Its name.
    pub ns_instance_name: String,
    /// Its description.
    pub ns_instance_description: String,
    /// The NSD, `vendor/name/version`.
    pub nsd_id: String,
    /// The package the NSD came from.
    pub package_id: String,
    /// Whether it runs.
    pub ns_state: NsState,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Whether its operations' hook calls are recorded, for `wasmano sm
    /// replay` (a wasmano extension; see the README).
    #[serde(default)]
    pub record_hook_calls: bool,
}

/// An operation occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpOccurrence {
    /// Its id.
    pub id: String,
    /// Its state.
    pub operation_state: OperationState,
    /// When it entered that state (RFC 3339).
    pub state_entered_time: String,
    /// The NS instance.
    pub ns_instance_id: String,
    /// The project owning the NS instance.
    pub project_id: String,
    /// Its kind.
    pub lcm_operation_type: OperationType,
    /// When it started (RFC 3339).
    pub start_time: String,
    /// Always false: every operation is requested.
    pub is_automatic_invocation: bool,
    /// The request as received.
    #[schema(value_type = Object)]
    pub operation_params: Value,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// Whether a cancel was asked for and has not taken effect.
    pub is_cancel_pending: bool,
    /// The cancel asked for, once one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_mode: Option<CancelMode>,
    /// Why it failed, once it did.
    pub error: Option<OperationError>,
    /// What it runs (stored, not shown by the API).
    #[schema(ignore)]
    pub task: TaskRequest,
    /// The VNF instances the service had when it started: what undoing it
    /// after a crash goes back to (stored, not shown by the API).
    #[serde(default)]
    #[schema(ignore)]
    pub vnf_instances_before: Vec<String>,
}

#[cfg(test)]
impl OpOccurrence {
    /// Operation `o1`, an instantiation of NS instance `i1` in project `p`,
    /// in `state`, for tests.
    pub(crate) fn sample(state: &str) -> Self {
        serde_json::from_value(serde_json::json!({
            "id": "o1",
            "operationState": state,
            "stateEnteredTime": "2026-01-01T00:00:01Z",
            "nsInstanceId": "i1",
            "projectId": "p",
            "lcmOperationType": "INSTANTIATE",
            "startTime": "2026-01-01T00:00:00Z",
            "isAutomaticInvocation": false,
            "operationParams": {},
            "onFailure": "ROLLBACK",
            "isCancelPending": false,
            "error": null,
            "task": {"task": "instantiate"},
        }))
        .unwrap_or_else(|error| panic!("{error}"))
    }
}

/// What a module is, as it answers for itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInfo {
    /// Its sha256.
    pub sha256: String,
    /// `service` or `function`.
    pub kind: &'static str,
    /// The contract it was built against, `wasmano:sm@x.y.z`.
    pub contract: String,
    /// The events it handles.
    pub events: Vec<String>,
    /// Its size in bytes.
    pub size_bytes: u64,
}

/// One specific manager of an NS instance.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagerInfo {
    /// Its id in its descriptor.
    pub manager_id: String,
    /// `service` (an SSM) or `function` (an FSM).
    pub scope: &'static str,
    /// The NSD's `vnf_id` of its VNF, for an FSM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnf_profile_id: Option<String>,
    /// `wasm` or `container`.
    pub source: &'static str,
    /// The pinned module, for a WebAssembly manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_sha256: Option<String>,
    /// The image, for a legacy container manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The events the orchestrator calls it for.
    pub events: Vec<String>,
    /// Its descriptor's `limits` (deadline_ms, memory_mb), when it sets any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<Value>,
}

/// One descriptor of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageDescriptor {
    /// `vendor/name/version`.
    pub id: String,
    /// The sha256 of its bytes.
    pub sha256: String,
}

/// One module of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageModule {
    /// Its sha256.
    pub sha256: String,
    /// Its size in bytes.
    pub size_bytes: u64,
}

/// A package a project onboarded: one NSD, its VNFDs and modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageRecord {
    /// Its id.
    pub id: String,
    /// The project owning it.
    pub project_id: String,
    /// The NSD.
    pub nsd: PackageDescriptor,
    /// The VNFDs.
    pub vnfds: Vec<PackageDescriptor>,
    /// The modules.
    pub modules: Vec<PackageModule>,
    /// When it was onboarded (RFC 3339).
    pub created_at: String,
}

/// The text of a unit-like enum value, as serde writes it (the stored and
/// the API spelling are the same).
pub fn text_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        other => format!("{other:?}"),
    }
}

/// The enum value serde reads from `text`.
pub fn parse_text<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(Value::String(text.to_owned())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_spelled_as_sol005_spells_them() {
        assert_eq!(text_of(&OperationState::FailedTemp), "FAILED_TEMP");
        assert_eq!(text_of(&NsState::NotInstantiated), "NOT_INSTANTIATED");
        assert_eq!(
            parse_text::<OperationState>("ROLLED_BACK"),
            Some(OperationState::RolledBack)
        );
        assert_eq!(parse_text::<OperationState>("rolled_back"), None);
        assert_eq!(text_of(&ErrorCause::NotHandled), "not_handled");
    }

    #[test]
    fn open_states_hold_the_instance() {
        let open: Vec<OperationState> = [
            OperationState::Processing,
            OperationState::Completed,
            OperationState::FailedTemp,
            OperationState::Failed,
            OperationState::RollingBack,
            OperationState::RolledBack,
        ]
        .into_iter()
        .filter(|state| state.is_open())
        .collect();
        assert_eq!(
            open,
            [
                OperationState::Processing,
                OperationState::FailedTemp,
                OperationState::RollingBack
            ]
        );
    }
}
