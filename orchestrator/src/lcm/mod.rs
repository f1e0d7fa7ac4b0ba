//! Lifecycle management as a durable service: packages owned by projects,
//! NS instances, and every task on them as an operation occurrence
//! (SOL005) that outlives the process.
//!
//! [`Lifecycle`] sits between the API and the [`Orchestrator`]. A task is
//! validated synchronously (a request that cannot work creates no
//! occurrence), stored as PROCESSING (at most one open occurrence per NS
//! instance, checked in the same transaction), then run by a background
//! task; its outcome decides the final state in one place
//! (`Lifecycle::conclude`): COMPLETED; ROLLED_BACK (the workflow undid
//! what it did, as its failure policy says: `WorkflowError::Step`'s
//! `undone`); or FAILED_TEMP when the workflow kept it: the operation
//! pauses on failure (`onFailure: PAUSE`), was cancelled, removes what
//! cannot be put back (scale-in, terminate) or is a migration past its
//! commit point. From FAILED_TEMP a person retries (the task resumes from
//! what the failed attempt kept), rolls back (undo: ROLLING_BACK, then
//! ROLLED_BACK) or fails it.
//!
//! On start, [`Lifecycle::recover`] rebuilds every service that has
//! records from them (units adopted by the infrastructure, VNF instances an
//! interrupted run deployed but never committed removed, unless it pauses
//! on failure), closes every occurrence the previous process left open
//! with cause `interrupted`, and reconciles the infrastructure with the
//! records. An instance's template is its NSD's with the manager changes of
//! its completed CHANGE_MANAGER operations replayed.

pub mod model;
pub mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tango_model::descriptor::ManagerDeclaration;
use tango_model::ssm::{SsmEvent, WorkflowRequest};
use tango_model::topology::Vim;
use wasmano_host::{Cause, Event, Host, Limits, ManagerKind, Reply, WasmManager, reply_from_tango};

use crate::bus::ManagerRequest;

use crate::catalogue::{Catalogue, EntryKind, Identity};
use crate::clock::rfc3339;
use crate::data_dir::DataDir;
use crate::descriptor::{self, Descriptor, ManagerSource};
use crate::infrastructure::{InfraError, Infrastructure, Reconciliation, VimStatus};
use crate::package::{OnboardingProblem, Package, PackageError, onboard, unplaceable_functions};
use crate::placement::{PlacementOptions, PlacementStrategy};
use crate::recording::CallLog;
use crate::records::{self, JournalEntry, RecordStore, Status, StoreError, VnfRecord};
use crate::service::{self, LegacySettings, ResolveError};
use crate::workflow::{
    CommittedSteps, FailurePolicy, ManagerHandover, Orchestrator, RecoveryPlan, RunContext, ServiceTemplate,
    StepFailure, Task, WorkflowError,
};
use model::{
    CancelMode, ErrorCause, ManagerInfo, ModuleInfo, NewManagerSource, NsInstance, NsState, OnFailure, OpOccurrence,
    OperationError, OperationState, PackageDescriptor, PackageModule, PackageRecord, PlacementRequest, StrategyName,
    TaskRequest,
};
use store::{LcmStore, LcmStoreError, Listed};

/// Why a lifecycle request was refused or failed. The API maps each
/// variant to one HTTP status, in one place.
#[derive(Debug, thiserror::Error)]
pub enum LcmError {
    /// No such resource.
    #[error("no {kind} {id}")]
    NotFound {
        /// What was looked for.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The resource is not in a state that allows the request.
    #[error("{0}")]
    StateConflict(String),
    /// Another operation holds the NS instance.
    #[error(transparent)]
    OperationInProgress(LcmStoreError),
    /// Well-formed, but names something unusable.
    #[error("{0}")]
    Unprocessable(String),
    /// The package is not a readable gzip tar.
    #[error(transparent)]
    PackageUnreadable(PackageError),
    /// The package does not validate; every problem is listed.
    #[error("the package is invalid: {} problem(s), the first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    PackageInvalid(Vec<OnboardingProblem>),
    /// A descriptor identity of the package is onboarded with other content.
    #[error("{}", .0.first().map(ToString::to_string).unwrap_or_default())]
    IdentityClash(Vec<OnboardingProblem>),
    /// The lifecycle store failed.
    #[error(transparent)]
    Store(LcmStoreError),
    /// The record store failed.
    #[error(transparent)]
    Records(#[from] StoreError),
    /// The infrastructure failed.
    #[error(transparent)]
    Infrastructure(#[from] InfraError),
    /// An onboarded module cannot be loaded or answer which events it
    /// handles.
    #[error("module {sha256}: {message}")]
    Module {
        /// Its sha256.
        sha256: String,
        /// Why.
        message: String,
    },
    /// The workflow engine could not resume what a previous process left.
    #[error(transparent)]
    Engine(#[from] StepFailure),
    /// An onboarded service could not be assembled.
    #[error(transparent)]
    Template(#[from] ResolveError),
    /// The data directory failed.
    #[error("data directory: {0}")]
    DataDir(String),
}

impl From<LcmStoreError> for LcmError {
    fn from(error: LcmStoreError) -> Self {
        match error {
            LcmStoreError::OperationOpen { .. } => Self::OperationInProgress(error),
            LcmStoreError::StateChanged { .. } => Self::StateConflict(error.to_string()),
            LcmStoreError::Backend(_) => Self::Store(error),
        }
    }
}

/// What onboarding a package did.
#[derive(Debug, Clone)]
pub struct Onboarded {
    /// The package.
    pub package: PackageRecord,
    /// False when the project had onboarded the same content already.
    pub created: bool,
    /// What is inconsistent in its descriptors although 5GTANGO ran such
    /// descriptors (left out of their model), and each of the service's
    /// VNFs that none of the VIMs could host, even empty.
    pub warnings: Vec<OnboardingProblem>,
}

/// Something that happened to the lifecycle, as observers (the event
/// stream, metrics) see it. Sent after it is stored.
#[derive(Debug, Clone)]
pub enum LcmEvent {
    /// An operation occurrence entered a state (its new self).
    Operation(OpOccurrence),
    /// Steps an operation's run just stored, while it runs (see
    /// [`Orchestrator::committed_steps`]); the whole list follows in
    /// [`LcmEvent::Steps`] once the run ended.
    StepsCommitted {
        /// The operation's id.
        operation_id: String,
        /// The entries just stored, in journal order.
        steps: Vec<JournalEntry>,
    },
    /// Some [`LcmEvent::StepsCommitted`] were missed (a slow observer): the
    /// steps of the runs going on come with [`LcmEvent::Steps`].
    StepsMissed,
    /// The steps an operation's run journaled, once the run ended.
    Steps {
        /// The operation.
        operation: OpOccurrence,
        /// Its steps, in order.
        steps: Vec<JournalEntry>,
    },
    /// An NS instance was created.
    InstanceCreated(NsInstance),
    /// An NS instance was deleted.
    InstanceDeleted(NsInstance),
}

/// How many events a slow observer may fall behind before it misses some.
const EVENT_BUFFER: usize = 4096;

/// Counts the operations running in this process, so that shutdown can
/// wait for them.
#[derive(Debug, Default)]
struct Running {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Holds one running operation; dropping it counts it out.
struct RunningGuard(Arc<Running>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The parts a [`Lifecycle`] works with.
#[derive(Clone)]
pub struct Parts {
    /// Runs the workflows.
    pub orchestrator: Arc<Orchestrator>,
    /// What the workflows deploy on.
    pub infrastructure: Arc<dyn Infrastructure>,
    /// The NS/VNF records and the journal.
    pub records: Arc<dyn RecordStore>,
    /// Onboarded descriptors and modules.
    pub catalogue: Arc<Catalogue>,
    /// Loads the modules.
    pub host: Arc<Host>,
    /// The data directory the server holds, where uploads are spooled
    /// before they are read.
    pub data_dir: Arc<DataDir>,
    /// How legacy container managers run.
    pub legacy: LegacySettings,
    /// Where the hook calls of services that record them go.
    pub calls: Arc<CallLog>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("data_dir", &self.data_dir.path())
            .finish_non_exhaustive()
    }
}

/// Lifecycle management over an orchestrator, durable in a [`LcmStore`].
#[derive(Debug)]
pub struct Lifecycle {
    parts: Parts,
    store: LcmStore,
    templates: Mutex<HashMap<String, Arc<ServiceTemplate>>>,
    /// Held while a template is assembled, so that callers missing the
    /// cache together assemble it once.
    assembling: tokio::sync::Mutex<()>,
    running: Arc<Running>,
    events: tokio::sync::broadcast::Sender<LcmEvent>,
    /// The runs going on, by operation, to cancel them.
    runs: Mutex<HashMap<String, RunContext>>,
    /// What each module is, once asked.
    modules: Mutex<HashMap<String, ModuleInfo>>,
}

/// What a background job of an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// Run its task.
    Run,
    /// Run its task on from what its failed attempt kept (a retry).
    Resume,
    /// Undo what its failed attempt left (a rollback).
    Undo,
}

/// A run that did not complete.
#[derive(Debug)]
struct Unfinished {
    error: OperationError,
    /// Whether nothing of the run stays: its workflow undid it, or it did
    /// nothing (ROLLED_BACK); otherwise the service is as the failure left
    /// it (FAILED_TEMP).
    undone: bool,
}

fn now() -> String {
    rfc3339(SystemTime::now())
}

/// Runs work that reads the catalogue's files, compiles or scans a whole
/// table off the async workers. A single statement or short transaction on
/// the lifecycle store runs in place instead: it takes tens of
/// microseconds, less than handing a worker's tasks to another thread
/// (`block_in_place`) costs.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LcmError> + Send + 'static,
) -> Result<T, LcmError> {
    wasmano_host::run_blocking(work)
        .await
        .unwrap_or_else(|| Err(LcmError::DataDir("a blocking task panicked".into())))
}

impl Lifecycle {
    /// Lifecycle management over `parts`, remembering in `store`. Call
    /// [`Lifecycle::recover`] before serving requests.
    pub fn new(parts: Parts, store: LcmStore) -> Arc<Self> {
        let events = tokio::sync::broadcast::channel(EVENT_BUFFER).0;
        // Runs' steps as they are stored, among the lifecycle's events. The
        // task ends with the orchestrator.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut committed = parts.orchestrator.committed_steps();
            let forwarded = events.clone();
            runtime.spawn(async move {
                loop {
                    match committed.recv().await {
                        Ok(CommittedSteps { operation_id, steps }) => {
                            let _ = forwarded.send(LcmEvent::StepsCommitted { operation_id, steps });
                        }
                        // What was missed is published when the run ends.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let _ = forwarded.send(LcmEvent::StepsMissed);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        Arc::new(Self {
            parts,
            store,
            templates: Mutex::new(HashMap::new()),
            assembling: tokio::sync::Mutex::new(()),
            running: Arc::new(Running::default()),
            events,
            runs: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// Every lifecycle event from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LcmEvent> {
        self.events.subscribe()
    }

    /// Tells observers, if there are any.
    fn publish(&self, event: LcmEvent) {
        // No receiver is not an error: nobody is watching.
        let _ = self.events.send(event);
    }

    /// The WebAssembly host the managers run on.
    pub fn host(&self) -> &Host {
        &self.parts.host
    }

    /// The record store (NSRs, VNFRs, journal).
    pub fn records(&self) -> &Arc<dyn RecordStore> {
        &self.parts.records
    }

    /// The VIMs and their use.
    pub async fn vims(&self) -> Result<Vec<VimStatus>, LcmError> {
        Ok(self.parts.infrastructure.vims().await?)
    }

    /// Onboards a `.tar.gz` package for `project_id`: all or nothing;
    /// identical content onboarded again by the same project answers the
    /// package it has.
    ///
    /// Each of the service's VNFs that none of the VIMs could host, even
    /// empty, is warned about in the answer: its service would be refused at
    /// placement. When the infrastructure cannot list its VIMs, onboarding
    /// goes on without that check.
    pub async fn onboard(self: &Arc<Self>, project_id: &str, archive: Vec<u8>) -> Result<Onboarded, LcmError> {
        let vims = match self.parts.infrastructure.vims().await {
            Ok(vims) => Some(vims.iter().map(VimStatus::as_vim).collect::<Vec<Vim>>()),
            Err(error) => {
                tracing::warn!("onboarding without checking the package against the VIMs: {error}");
                None
            }
        };
        let this = Arc::clone(self);
        let project_id = project_id.to_owned();
        blocking(move || this.onboard_now(&project_id, &archive, vims.as_deref())).await
    }

    fn onboard_now(&self, project_id: &str, archive: &[u8], vims: Option<&[Vim]>) -> Result<Onboarded, LcmError> {
        let uploads = self.parts.data_dir.path().join("uploads");
        std::fs::create_dir_all(&uploads)
            .map_err(|error| LcmError::DataDir(format!("{}: {error}", uploads.display())))?;
        let spooled = tempfile::Builder::new()
            .suffix(".tar.gz")
            .tempfile_in(&uploads)
            .map_err(|error| LcmError::DataDir(format!("{}: {error}", uploads.display())))?;
        std::fs::write(spooled.path(), archive)
            .map_err(|error| LcmError::DataDir(format!("{}: {error}", spooled.path().display())))?;
        // The spool file's path is the server's business, not the client's.
        let package = Package::read(spooled.path()).map_err(|error| {
            LcmError::PackageUnreadable(match error {
                PackageError::Unreadable { message, .. } => PackageError::Unreadable {
                    path: "the uploaded package".into(),
                    message,
                },
                other => other,
            })
        })?;
        drop(spooled);
        let report = onboard(&package, &self.parts.catalogue, &self.parts.host).map_err(|problems| {
            if problems.iter().any(|problem| problem.identity_clash) {
                LcmError::IdentityClash(problems)
            } else {
                LcmError::PackageInvalid(problems)
            }
        })?;
        let mut warnings = report.warnings;
        if let Some(vims) = vims {
            warnings.extend(unplaceable_functions(&report.functions, vims));
        }
        let nsd_id = report.nsd.to_string();
        if let Some(package) = self.store.package_of(project_id, &nsd_id)? {
            return Ok(Onboarded {
                package,
                created: false,
                warnings,
            });
        }
        let entries = report.stored.added.iter().chain(&report.stored.unchanged);
        let descriptor = |entry: &crate::catalogue::Entry| PackageDescriptor {
            id: entry.identity.to_string(),
            sha256: entry.sha256.clone(),
        };
        let mut package = PackageRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.to_owned(),
            nsd: PackageDescriptor {
                id: nsd_id,
                sha256: String::new(),
            },
            vnfds: Vec::new(),
            modules: Vec::new(),
            created_at: now(),
        };
        for entry in entries {
            match entry.kind {
                EntryKind::Nsd => package.nsd = descriptor(entry),
                EntryKind::Vnfd => package.vnfds.push(descriptor(entry)),
                EntryKind::Module => package.modules.push(PackageModule {
                    sha256: entry.sha256.clone(),
                    size_bytes: entry.size,
                }),
            }
        }
        package.vnfds.sort_by(|a, b| a.id.cmp(&b.id));
        package.modules.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        self.store.insert_package(&package)?;
        Ok(Onboarded {
            package,
            created: true,
            warnings,
        })
    }

    /// Every package.
    pub async fn packages(&self) -> Result<Vec<PackageRecord>, LcmError> {
        let store = self.store.clone();
        blocking(move || Ok(store.packages()?)).await
    }

    /// A package.
    pub async fn package(&self, id: &str) -> Result<PackageRecord, LcmError> {
        self.store.package(id)?.ok_or(LcmError::NotFound {
            kind: "package",
            id: id.to_owned(),
        })
    }

    /// Whether a project owns packages or NS instances.
    pub async fn project_in_use(&self, project_id: &str) -> Result<bool, LcmError> {
        Ok(self.store.project_in_use(project_id)?)
    }

    /// Whether an NS instance uses the package.
    pub async fn package_in_use(&self, id: &str) -> Result<bool, LcmError> {
        Ok(self.store.package_in_use(id)?)
    }

    /// The stored NSD of a package.
    pub async fn package_nsd(&self, package: &PackageRecord) -> Result<Vec<u8>, LcmError> {
        let identity: Identity = package.nsd.id.parse().map_err(LcmError::DataDir)?;
        let catalogue = Arc::clone(&self.parts.catalogue);
        blocking(move || {
            catalogue
                .read(EntryKind::Nsd, &identity)
                .map_err(|error| LcmError::DataDir(error.to_string()))
        })
        .await
    }

    /// Deletes a package no NS instance uses. Its catalogue entries stay:
    /// they are content-addressed and may be another package's too.
    pub async fn delete_package(&self, id: &str) -> Result<(), LcmError> {
        if self.store.delete_package(id)? {
            Ok(())
        } else {
            Err(LcmError::StateConflict(format!(
                "package {id} is used by an NS instance"
            )))
        }
    }

    /// Creates an NS instance of an NSD the project onboarded; its hook
    /// calls are recorded when `record_hook_calls` says so.
    pub async fn create_ns(
        &self,
        project_id: &str,
        nsd_id: &str,
        name: &str,
        description: &str,
        record_hook_calls: bool,
    ) -> Result<NsInstance, LcmError> {
        let instance = NsInstance {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.to_owned(),
            ns_instance_name: name.to_owned(),
            ns_instance_description: description.to_owned(),
            nsd_id: nsd_id.to_owned(),
            package_id: String::new(),
            ns_state: NsState::NotInstantiated,
            created_at: now(),
            record_hook_calls,
        };
        let package = self
            .store
            .package_of(&instance.project_id, &instance.nsd_id)?
            .ok_or_else(|| {
                LcmError::Unprocessable(format!(
                    "NSD {} is not onboarded in project {}",
                    instance.nsd_id, instance.project_id
                ))
            })?;
        let instance = NsInstance {
            package_id: package.id,
            ..instance
        };
        self.store.put_ns(&instance)?;
        self.publish(LcmEvent::InstanceCreated(instance.clone()));
        Ok(instance)
    }

    /// Every NS instance.
    pub async fn all_ns(&self) -> Result<Vec<NsInstance>, LcmError> {
        let store = self.store.clone();
        blocking(move || Ok(store.all_ns()?)).await
    }

    /// A page of the NS instances `keep` keeps, in creation order, after
    /// position `after` ([`LcmStore::ns_page`]).
    pub async fn ns_page(
        &self,
        after: i64,
        limit: usize,
        keep: impl FnMut(&NsInstance) -> bool + Send + 'static,
    ) -> Result<Listed<NsInstance>, LcmError> {
        let store = self.store.clone();
        blocking(move || Ok(store.ns_page(after, limit, keep)?)).await
    }

    /// A page of the operation occurrences `keep` keeps, in the order they
    /// started, after position `after` ([`LcmStore::operations_page`]).
    pub async fn operations_page(
        &self,
        after: i64,
        limit: usize,
        keep: impl FnMut(&OpOccurrence) -> bool + Send + 'static,
    ) -> Result<Listed<OpOccurrence>, LcmError> {
        let store = self.store.clone();
        blocking(move || Ok(store.operations_page(after, limit, keep)?)).await
    }

    /// An NS instance.
    pub async fn ns(&self, id: &str) -> Result<NsInstance, LcmError> {
        self.store.ns(id)?.ok_or(LcmError::NotFound {
            kind: "NS instance",
            id: id.to_owned(),
        })
    }

    /// The VNF records of an NS instance (none before it was instantiated).
    pub async fn vnfrs(&self, id: &str) -> Result<Vec<VnfRecord>, LcmError> {
        Ok(self.parts.records.vnfs_of(id).await?)
    }

    /// Deletes an NS instance that is not instantiated and has no open
    /// operation; its operations stay, as history.
    pub async fn delete_ns(&self, instance: &NsInstance) -> Result<(), LcmError> {
        if instance.ns_state == NsState::Instantiated {
            return Err(LcmError::StateConflict(format!(
                "NS instance {} is instantiated: terminate it first",
                instance.id
            )));
        }
        if let Some(operation) = self.store.delete_ns(&instance.id)? {
            return Err(LcmError::StateConflict(format!(
                "NS instance {} has operation {operation} open",
                instance.id
            )));
        }
        if instance.record_hook_calls {
            let (calls, id) = (Arc::clone(&self.parts.calls), instance.id.clone());
            if let Some(Err(error)) = wasmano_host::run_blocking(move || calls.forget_service(&id)).await {
                tracing::warn!(instance = %instance.id, "cannot delete the recorded calls: {error}");
            }
        }
        self.publish(LcmEvent::InstanceDeleted(instance.clone()));
        Ok(())
    }

    /// Every operation occurrence, read without holding the lifecycle: a
    /// background reader must not keep it (and the data directory it
    /// holds) alive after the server stops.
    pub fn operations(&self) -> impl Future<Output = Result<Vec<OpOccurrence>, LcmError>> + Send + 'static {
        let store = self.store.clone();
        async move { blocking(move || Ok(store.operations()?)).await }
    }

    /// The operation occurrences of one NS instance, in the order they
    /// started.
    async fn operations_of(&self, ns_instance_id: &str) -> Result<Vec<OpOccurrence>, LcmError> {
        Ok(self.store.operations_of(ns_instance_id)?)
    }

    /// An operation occurrence.
    pub async fn operation(&self, id: &str) -> Result<OpOccurrence, LcmError> {
        self.store.operation(id)?.ok_or(LcmError::NotFound {
            kind: "operation occurrence",
            id: id.to_owned(),
        })
    }

    /// Checks a task against the instance, stores its occurrence as
    /// PROCESSING and starts it. Refusals store nothing.
    pub async fn start(
        self: &Arc<Self>,
        instance: &NsInstance,
        task: TaskRequest,
        params: Value,
        on_failure: OnFailure,
    ) -> Result<OpOccurrence, LcmError> {
        self.begin(instance, task, params, on_failure, false).await
    }

    /// Hands monitoring data about an instantiated NS instance to its
    /// monitor manager (5GTANGO's SSM `monitor`) and starts the first
    /// workflow the manager asks for as an automatic operation
    /// (`isAutomaticInvocation`). One operation runs at a time, so the
    /// others (a second scale-out instance included) are handed back, not
    /// started: the monitoring system sends its data again. A reconfigure's
    /// payload reaches the configure manager as the service's
    /// `reconfiguration_payload`, as in 5GTANGO.
    pub async fn monitor(self: &Arc<Self>, instance: &NsInstance, data: Value) -> Result<Monitored, LcmError> {
        if instance.ns_state != NsState::Instantiated {
            return Err(LcmError::StateConflict(format!(
                "NS instance {} is {:?}: only an instantiated service is monitored",
                instance.id, instance.ns_state
            )));
        }
        let requests = match self.parts.orchestrator.monitor(&instance.id, &data).await {
            Ok(Some(requests)) => requests,
            Ok(None) => {
                return Err(LcmError::Unprocessable(format!(
                    "NS instance {} declares no manager for the monitor event",
                    instance.id
                )));
            }
            Err(WorkflowError::Step { cause, .. }) => {
                return Err(LcmError::Unprocessable(format!("the monitor manager failed: {cause}")));
            }
            Err(error) => return Err(LcmError::StateConflict(error.to_string())),
        };
        let params = serde_json::json!({ "monitoringData": data });
        self.start_requested(instance, requests, params).await
    }

    /// Acts on workflow requests a legacy SSM published unasked on
    /// `monitor.ssm.<service id>` (5GTANGO's SSM → SLM path): the first one
    /// is started as an automatic operation, as [`Lifecycle::monitor`] does
    /// with a monitor manager's answer. What cannot be acted on (an
    /// unreadable request, a workflow wasmano does not run from a manager,
    /// a service that is gone or busy) is logged and dropped, as the SLM
    /// dropped it.
    pub async fn requested_by_manager(self: &Arc<Self>, request: ManagerRequest) -> Option<Monitored> {
        let service = request.service_id.as_str();
        let requests = match reply_from_tango(Event::Ssm(SsmEvent::Monitor), &request.body) {
            Ok(Reply::Workflows(requests)) => requests,
            Ok(_) => return None,
            Err(cause) => {
                tracing::warn!(service, "a legacy SSM's workflow request was not acted on: {cause}");
                return None;
            }
        };
        let instance = match self.ns(service).await {
            Ok(instance) => instance,
            Err(error) => {
                tracing::warn!(
                    service,
                    "a legacy SSM asked for workflows of an unknown service: {error}"
                );
                return None;
            }
        };
        let params = serde_json::json!({ "managerRequest": request.body });
        match self.start_requested(&instance, requests, params).await {
            Ok(monitored) => {
                tracing::info!(
                    service,
                    operation = ?monitored.operation.as_ref().map(|operation| &operation.id),
                    "a legacy SSM asked for workflows"
                );
                Some(monitored)
            }
            Err(error) => {
                tracing::warn!(service, "a legacy SSM's workflow request was not acted on: {error}");
                None
            }
        }
    }

    /// Starts the first workflow of `requests` as an automatic operation
    /// with these parameters, and hands back the rest.
    async fn start_requested(
        self: &Arc<Self>,
        instance: &NsInstance,
        requests: Vec<WorkflowRequest>,
        params: Value,
    ) -> Result<Monitored, LcmError> {
        let Some((task, deferred)) = first_task(&requests) else {
            return Ok(Monitored {
                requests,
                operation: None,
                deferred: Vec::new(),
            });
        };
        let operation = self.begin(instance, task, params, OnFailure::default(), true).await?;
        Ok(Monitored {
            requests,
            operation: Some(operation),
            deferred,
        })
    }

    async fn begin(
        self: &Arc<Self>,
        instance: &NsInstance,
        task: TaskRequest,
        params: Value,
        on_failure: OnFailure,
        automatic: bool,
    ) -> Result<OpOccurrence, LcmError> {
        self.validate(instance, &task).await?;
        let vnf_instances_before = match (&task, self.parts.records.ns(&instance.id).await) {
            (TaskRequest::Instantiate { .. }, _) | (_, Err(StoreError::NotFound { .. })) => Vec::new(),
            (_, Ok(nsr)) => nsr.network_functions,
            (_, Err(error)) => return Err(error.into()),
        };
        let started = now();
        let operation = OpOccurrence {
            id: uuid::Uuid::new_v4().to_string(),
            operation_state: OperationState::Processing,
            state_entered_time: started.clone(),
            ns_instance_id: instance.id.clone(),
            project_id: instance.project_id.clone(),
            lcm_operation_type: task.operation_type(),
            start_time: started,
            is_automatic_invocation: automatic,
            operation_params: params,
            on_failure,
            is_cancel_pending: false,
            cancel_mode: None,
            error: None,
            task,
            vnf_instances_before,
        };
        self.store.begin_operation(&operation, instance.ns_state)?;
        self.publish(LcmEvent::Operation(operation.clone()));
        self.spawn(operation.clone(), Job::Run);
        Ok(operation)
    }

    /// Runs a FAILED_TEMP operation again from what its failed attempt
    /// kept ([`RunContext::resuming`]): an instantiation adds only the VNFs
    /// still missing, a scale-out or a migration carries on with the
    /// instance it deployed, a migration past its commit point only retires
    /// the old instance; a task that removes runs again (every removal is
    /// idempotent), and so do a reconfiguration and a manager change (their
    /// hooks are pure, setting envs is idempotent, a manager change that
    /// failed changed nothing).
    pub async fn retry(self: &Arc<Self>, operation: &OpOccurrence) -> Result<OpOccurrence, LcmError> {
        let retried = self
            .transition(operation, OperationState::FailedTemp, OperationState::Processing, None)
            .await?;
        self.spawn(retried.clone(), Job::Resume);
        Ok(retried)
    }

    /// Rolls a FAILED_TEMP operation back: ROLLING_BACK, then ROLLED_BACK
    /// once the service is back to the VNF instances it had when the
    /// operation started. A task that removes cannot be rolled back, nor a
    /// migration past its commit point.
    pub async fn rollback(self: &Arc<Self>, operation: &OpOccurrence) -> Result<OpOccurrence, LcmError> {
        if operation.task.removes() || self.migration_committed(operation).await? {
            return Err(LcmError::StateConflict(format!(
                "operation {} removed what cannot be put back: retry or fail it",
                operation.id
            )));
        }
        let rolling = self
            .transition(operation, OperationState::FailedTemp, OperationState::RollingBack, None)
            .await?;
        self.spawn(rolling.clone(), Job::Undo);
        Ok(rolling)
    }

    /// Cancels a PROCESSING operation at its next step boundary: it ends in
    /// FAILED_TEMP (cause cancelled), what it did kept. FORCEFUL also stops
    /// the hook running now ([`RunContext::interrupt`]).
    pub async fn cancel(&self, operation: &OpOccurrence, mode: CancelMode) -> Result<OpOccurrence, LcmError> {
        if operation.operation_state != OperationState::Processing {
            return Err(LcmError::StateConflict(format!(
                "operation {} is {}: only a PROCESSING operation can be cancelled",
                operation.id,
                model::text_of(&operation.operation_state)
            )));
        }
        let context = self
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&operation.id)
            .cloned();
        let Some(context) = context else {
            return Err(LcmError::StateConflict(format!(
                "operation {} is ending: nothing left to cancel",
                operation.id
            )));
        };
        let pending = OpOccurrence {
            is_cancel_pending: true,
            cancel_mode: Some(mode),
            ..operation.clone()
        };
        self.store.update_operation(&pending, None)?;
        match mode {
            CancelMode::Graceful => context.cancel(),
            CancelMode::Forceful => context.interrupt(),
        }
        Ok(pending)
    }

    /// Gives up a FAILED_TEMP operation: FAILED, final. Whatever stays
    /// deployed stays recorded; the instance counts as instantiated while
    /// anything is, so terminate can remove it.
    pub async fn fail(&self, operation: &OpOccurrence) -> Result<OpOccurrence, LcmError> {
        let state = if self.parts.orchestrator.runs(&operation.ns_instance_id) {
            NsState::Instantiated
        } else {
            NsState::NotInstantiated
        };
        self.transition(
            operation,
            OperationState::FailedTemp,
            OperationState::Failed,
            Some(state),
        )
        .await
    }

    /// Moves an operation from `from` to `to` (refused otherwise), with the
    /// instance's new state when given, in one transaction.
    async fn transition(
        &self,
        operation: &OpOccurrence,
        from: OperationState,
        to: OperationState,
        ns_state: Option<NsState>,
    ) -> Result<OpOccurrence, LcmError> {
        if operation.operation_state != from {
            return Err(LcmError::StateConflict(format!(
                "operation {} is {}, not {}",
                operation.id,
                model::text_of(&operation.operation_state),
                model::text_of(&from)
            )));
        }
        let changed = OpOccurrence {
            operation_state: to,
            state_entered_time: now(),
            ..operation.clone()
        };
        let instance = match ns_state {
            Some(state) => Some(NsInstance {
                ns_state: state,
                ..self.ns(&operation.ns_instance_id).await?
            }),
            None => None,
        };
        self.store.update_operation(&changed, instance.as_ref())?;
        self.publish(LcmEvent::Operation(changed.clone()));
        Ok(changed)
    }

    /// Refuses a task that cannot work on the instance as it is.
    async fn validate(&self, instance: &NsInstance, task: &TaskRequest) -> Result<(), LcmError> {
        let wanted = match task {
            TaskRequest::Instantiate { .. } => NsState::NotInstantiated,
            _ => NsState::Instantiated,
        };
        if instance.ns_state != wanted {
            return Err(LcmError::StateConflict(format!(
                "NS instance {} is {}",
                instance.id,
                model::text_of(&instance.ns_state)
            )));
        }
        match task {
            TaskRequest::ScaleOut { vnf_profile_id } => {
                let template = self.template(&instance.nsd_id).await?;
                if !template.vnfs.iter().any(|vnf| &vnf.vnf_id == vnf_profile_id) {
                    return Err(LcmError::Unprocessable(format!(
                        "NSD {} has no VNF profile (vnf_id) {vnf_profile_id:?}",
                        instance.nsd_id
                    )));
                }
            }
            TaskRequest::ScaleIn { vnf_instance_id } => {
                self.live_vnf(instance, vnf_instance_id).await?;
            }
            TaskRequest::Migrate {
                vnf_instance_id,
                target_vim_id,
            } => {
                let vnf = self.live_vnf(instance, vnf_instance_id).await?;
                let vims = self.parts.infrastructure.vims().await?;
                let vim = vims
                    .iter()
                    .find(|vim| &vim.config.id == target_vim_id)
                    .ok_or_else(|| LcmError::Unprocessable(format!("no VIM {target_vim_id}")))?;
                let unit = vnf.deployment_units.first();
                if unit.is_some_and(|unit| &unit.vim_id == target_vim_id) {
                    return Err(LcmError::Unprocessable(format!(
                        "VNF instance {vnf_instance_id} already runs on VIM {target_vim_id}"
                    )));
                }
                if unit.is_some_and(|unit| unit.kind != vim.config.kind) {
                    return Err(LcmError::Unprocessable(format!(
                        "VIM {target_vim_id} does not host the kind of units VNF instance {vnf_instance_id} has"
                    )));
                }
            }
            TaskRequest::Instantiate {
                placement: Some(placement),
            } => {
                let template = self.template(&instance.nsd_id).await?;
                let vims = self.parts.infrastructure.vims().await?;
                let named = placement.blacklist.iter().chain(placement.fixed_mappings.values());
                if let Some(unknown) = named
                    .into_iter()
                    .find(|vim| !vims.iter().any(|known| known.config.id == **vim))
                {
                    return Err(LcmError::Unprocessable(format!("placement names no VIM {unknown}")));
                }
                if let Some(vnf_id) = placement
                    .fixed_mappings
                    .keys()
                    .find(|vnf_id| !template.vnfs.iter().any(|vnf| vnf.vnf_id == **vnf_id))
                {
                    return Err(LcmError::Unprocessable(format!(
                        "placement fixes VNF {vnf_id:?}, which NSD {} does not have",
                        instance.nsd_id
                    )));
                }
            }
            TaskRequest::ChangeManager {
                manager_id,
                vnf_profile_id,
                source,
            } => {
                if let NewManagerSource::ModuleSha256(module_sha256) = source {
                    let project_has_it = self.packages().await?.iter().any(|package| {
                        package.project_id == instance.project_id
                            && package.modules.iter().any(|module| &module.sha256 == module_sha256)
                    });
                    if !project_has_it {
                        return Err(LcmError::Unprocessable(format!(
                            "module {module_sha256} is not onboarded in project {}",
                            instance.project_id
                        )));
                    }
                }
                // Loading a module checks its kind, contract and events; an
                // image is checked when the hand-over starts it.
                self.changed_template(instance, manager_id, vnf_profile_id.as_deref(), source)
                    .await
                    .map_err(|error| match error {
                        LcmError::Template(unusable) => LcmError::Unprocessable(unusable.to_string()),
                        other => other,
                    })?;
            }
            TaskRequest::Instantiate { placement: None }
            | TaskRequest::Reconfigure { .. }
            | TaskRequest::Terminate { .. } => {}
        }
        Ok(())
    }

    /// A VNF instance of the service that is not terminated.
    async fn live_vnf(&self, instance: &NsInstance, vnf_instance_id: &str) -> Result<VnfRecord, LcmError> {
        self.vnfrs(&instance.id)
            .await?
            .into_iter()
            .find(|vnfr| vnfr.id == vnf_instance_id && vnfr.status != Status::Terminated)
            .ok_or_else(|| {
                LcmError::Unprocessable(format!(
                    "NS instance {} has no VNF instance {vnf_instance_id}",
                    instance.id
                ))
            })
    }

    /// The server's placement settings with a request's over them.
    fn placement_for(&self, request: &PlacementRequest) -> PlacementOptions {
        let mut options = self.parts.orchestrator.placement().clone();
        if let Some(strategy) = request.strategy {
            options.strategy = match strategy {
                StrategyName::LoadBalanced => PlacementStrategy::LoadBalanced,
                StrategyName::FillFirst => PlacementStrategy::FillFirst,
            };
        }
        options.blacklist.extend(request.blacklist.iter().cloned());
        options.fixed.extend(
            request
                .fixed_mappings
                .iter()
                .map(|(vnf_id, vim)| (vnf_id.clone(), vim.clone())),
        );
        options
    }

    /// The specific managers of an NS instance: those its template runs,
    /// with what their descriptor entries pin (module, limits).
    pub async fn managers(&self, instance: &NsInstance) -> Result<Vec<ManagerInfo>, LcmError> {
        let template = self.instance_template(instance).await?;
        let entry = |entries: &[ManagerDeclaration], id: &str| entries.iter().find(|entry| entry.id == id).cloned();
        let info = |entry: Option<ManagerDeclaration>, manager_id: &str, scope, vnf_profile_id, events: Vec<String>| {
            let wasm = entry.as_ref().and_then(|entry| entry.other.get("wasm"));
            ManagerInfo {
                manager_id: manager_id.to_owned(),
                scope,
                vnf_profile_id,
                source: if wasm.is_some() { "wasm" } else { "container" },
                module_sha256: wasm
                    .and_then(|wasm| wasm.get("sha256"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                image: entry.as_ref().and_then(|entry| entry.image.clone()),
                events,
                limits: wasm.and_then(|wasm| wasm.get("limits")).cloned(),
            }
        };
        let mut managers = Vec::new();
        for binding in &template.ssms {
            let id = binding.manager.id();
            let events = binding.events.iter().map(|event| event.name().to_owned()).collect();
            let entry = entry(&template.nsd.service_specific_managers, id);
            managers.push(info(entry, id, "service", None, events));
        }
        for vnf in &template.vnfs {
            for binding in &vnf.fsms {
                let id = binding.manager.id();
                let events = binding.events.iter().map(|event| event.name().to_owned()).collect();
                let entry = entry(&vnf.vnfd.function_specific_managers, id);
                managers.push(info(entry, id, "function", Some(vnf.vnf_id.clone()), events));
            }
        }
        Ok(managers)
    }

    /// What an onboarded module is: loaded (from the compiled cache) and
    /// asked which events it handles, once per module.
    pub async fn module_info(&self, sha256: &str) -> Result<ModuleInfo, LcmError> {
        if let Some(info) = self.modules.lock().unwrap_or_else(PoisonError::into_inner).get(sha256) {
            return Ok(info.clone());
        }
        let (catalogue, host, digest) = (
            Arc::clone(&self.parts.catalogue),
            Arc::clone(&self.parts.host),
            sha256.to_owned(),
        );
        let info = blocking(move || {
            let unusable = |message: String| LcmError::Module {
                sha256: digest.clone(),
                message,
            };
            let bytes = catalogue
                .read(EntryKind::Module, &crate::catalogue::module_identity(&digest))
                .map_err(|error| unusable(error.to_string()))?;
            let module = host
                .load_bytes(&bytes, Some(&digest))
                .map_err(|error| unusable(error.to_string()))?;
            let manager = WasmManager::new(&host, module, digest.clone(), Vec::new(), Limits::default())
                .map_err(|error| unusable(error.to_string()))?;
            let events = manager
                .handled_events()
                .map_err(|cause| unusable(format!("asking which events it handles: {cause}")))?;
            let module = manager.module();
            Ok(ModuleInfo {
                sha256: digest.clone(),
                kind: match module.kind() {
                    ManagerKind::Service => "service",
                    ManagerKind::Function => "function",
                },
                contract: format!("wasmano:sm@{}", module.contract_version()),
                events: events.iter().map(|event| event.name().to_owned()).collect(),
                size_bytes: bytes.len() as u64,
            })
        })
        .await?;
        self.modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sha256.to_owned(), info.clone());
        Ok(info)
    }

    /// The template an instance runs: its NSD's, with the manager changes
    /// its completed CHANGE_MANAGER operations made, in order.
    async fn instance_template(&self, instance: &NsInstance) -> Result<Arc<ServiceTemplate>, LcmError> {
        let operations = self.operations_of(&instance.id).await?;
        self.template_with_changes(instance, &operations).await
    }

    /// [`Lifecycle::instance_template`] from the operations at hand.
    async fn template_with_changes(
        &self,
        instance: &NsInstance,
        operations: &[OpOccurrence],
    ) -> Result<Arc<ServiceTemplate>, LcmError> {
        let mut template = self.template(&instance.nsd_id).await?;
        let changes = operations.iter().filter(|operation| {
            operation.ns_instance_id == instance.id && operation.operation_state == OperationState::Completed
        });
        for operation in changes {
            if let TaskRequest::ChangeManager {
                manager_id,
                vnf_profile_id,
                source,
            } = &operation.task
            {
                template = self
                    .replace_manager(template, manager_id, vnf_profile_id.as_deref(), source)
                    .await?
                    .0;
            }
        }
        Ok(template)
    }

    /// What the update its descriptor declares for manager `manager_id` (an
    /// SSM, or the FSM of VNF `vnf_id`) runs from: 5GTANGO's update
    /// directive, an entry repeating the id with `currentId`, which
    /// CHANGE_MANAGER applies when it names neither a module nor an image.
    pub async fn declared_update(
        &self,
        instance: &NsInstance,
        manager_id: &str,
        vnf_id: Option<&str>,
    ) -> Result<NewManagerSource, LcmError> {
        let template = self.instance_template(instance).await?;
        let document = template.descriptor_document(vnf_id).map_err(LcmError::Unprocessable)?;
        let updates = match descriptor::parse(document.to_string().as_bytes()) {
            Ok(Descriptor::Service(nsd)) => nsd.service_manager_updates,
            Ok(Descriptor::Function(vnfd)) => vnfd.function_manager_updates,
            Err(problems) => {
                return Err(LcmError::Unprocessable(format!(
                    "the descriptor of manager {manager_id} no longer validates: {}",
                    problems[0]
                )));
            }
        };
        let update = updates
            .into_iter()
            .find(|update| update.current_id == manager_id)
            .ok_or_else(|| {
                LcmError::Unprocessable(format!(
                    "changeManagerData names neither moduleSha256 nor image, and the descriptor declares no \
                     update of manager {manager_id} (an entry with currentId: {manager_id})"
                ))
            })?;
        Ok(match update.manager.source {
            ManagerSource::Container { image } => NewManagerSource::Image(image),
            ManagerSource::Wasm { sha256, .. } => NewManagerSource::ModuleSha256(sha256.to_string()),
        })
    }

    /// The instance's template with one more manager change, and the
    /// hand-over that change needs.
    async fn changed_template(
        &self,
        instance: &NsInstance,
        manager_id: &str,
        vnf_id: Option<&str>,
        source: &NewManagerSource,
    ) -> Result<(Arc<ServiceTemplate>, Option<Arc<dyn ManagerHandover>>), LcmError> {
        // The template the service runs, when it runs: a template rebuilt
        // from the operation history would hold other legacy groups than
        // the ones whose programs run, and the hand-over would miss them.
        let template = match self.parts.orchestrator.running_template(&instance.id) {
            Some(running) => running,
            None => self.instance_template(instance).await?,
        };
        self.replace_manager(template, manager_id, vnf_id, source).await
    }

    async fn replace_manager(
        &self,
        template: Arc<ServiceTemplate>,
        manager_id: &str,
        vnf_id: Option<&str>,
        source: &NewManagerSource,
    ) -> Result<(Arc<ServiceTemplate>, Option<Arc<dyn ManagerHandover>>), LcmError> {
        let (catalogue, host, legacy) = (
            Arc::clone(&self.parts.catalogue),
            Arc::clone(&self.parts.host),
            self.parts.legacy.clone(),
        );
        let (manager_id, vnf_id, source) = (manager_id.to_owned(), vnf_id.map(str::to_owned), source.clone());
        let changed = blocking(move || {
            Ok(service::replace_manager(
                &catalogue,
                &host,
                &legacy,
                &template,
                &manager_id,
                vnf_id.as_deref(),
                source.as_change(),
            )?)
        })
        .await?;
        let handover = changed
            .handover
            .map(|handover| Arc::new(handover) as Arc<dyn ManagerHandover>);
        Ok((Arc::new(changed.template), handover))
    }

    /// The template of an onboarded NSD, assembled once.
    async fn template(&self, nsd_id: &str) -> Result<Arc<ServiceTemplate>, LcmError> {
        let cached = || {
            self.templates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(nsd_id)
                .cloned()
        };
        if let Some(template) = cached() {
            return Ok(template);
        }
        let _assembling = self.assembling.lock().await;
        if let Some(template) = cached() {
            return Ok(template);
        }
        let identity: Identity = nsd_id.parse().map_err(LcmError::Unprocessable)?;
        let (catalogue, host) = (Arc::clone(&self.parts.catalogue), Arc::clone(&self.parts.host));
        let legacy = self.parts.legacy.clone();
        let template = blocking(move || Ok(service::from_catalogue(&catalogue, &host, &legacy, &identity)?)).await?;
        let template = Arc::new(template);
        self.templates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsd_id.to_owned(), Arc::clone(&template));
        Ok(template)
    }

    /// Does `job` for an occurrence in the background and concludes it.
    fn spawn(self: &Arc<Self>, operation: OpOccurrence, job: Job) {
        self.running.count.fetch_add(1, Ordering::SeqCst);
        let guard = RunningGuard(Arc::clone(&self.running));
        let policy = match operation.on_failure {
            OnFailure::Rollback => FailurePolicy::Undo,
            OnFailure::Pause => FailurePolicy::Keep,
        };
        let context = RunContext::new(Some(&operation.id), policy);
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(operation.id.clone(), context.clone());
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let concluded = match job {
                Job::Run => {
                    let outcome = this.execute(&operation, &context).await;
                    this.conclude(operation.clone(), outcome).await
                }
                Job::Resume => {
                    let outcome = this.execute(&operation, &context.clone().resuming()).await;
                    this.conclude(operation.clone(), outcome).await
                }
                Job::Undo => {
                    let outcome = this.undo(&operation).await;
                    this.conclude_rollback(operation.clone(), outcome).await
                }
            };
            this.runs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&operation.id);
            if let Err(error) = concluded {
                tracing::error!("cannot store the outcome of an operation: {error}");
            }
            // The lifecycle (and with it the data directory) is let go of
            // before the operation stops counting: a drained server holds
            // neither once `serve` returns.
            drop(this);
            drop(guard);
        });
    }

    /// Undoes what a FAILED_TEMP operation did: the service goes back to
    /// the VNF instances it had when the operation started (for an
    /// instantiation, none).
    async fn undo(&self, operation: &OpOccurrence) -> Result<(), OperationError> {
        let instance = self.ns(&operation.ns_instance_id).await.map_err(not_run)?;
        let template = self.instance_template(&instance).await.map_err(not_run)?;
        let placement = self.instantiated_with(&instance.id).await.map_err(not_run)?;
        let recovered = self
            .parts
            .orchestrator
            .recover(
                &instance.id,
                Some(&operation.id),
                template,
                placement,
                RecoveryPlan::RollBackTo(operation.vnf_instances_before.clone()),
            )
            .await;
        match recovered {
            Ok(_) => Ok(()),
            // Stopped before its NSR was stored: nothing to undo.
            Err(WorkflowError::Step { ref cause, .. })
                if matches!(**cause, StepFailure::Store(StoreError::NotFound { .. })) =>
            {
                Ok(())
            }
            Err(error) => Err(operation_error(&error)),
        }
    }

    /// The placement the instance's last instantiation asked for.
    async fn instantiated_with(&self, ns_instance_id: &str) -> Result<Option<PlacementOptions>, LcmError> {
        let operations = self.operations_of(ns_instance_id).await?;
        let request = operations
            .iter()
            .rev()
            .find_map(|operation| match &operation.task {
                TaskRequest::Instantiate { placement } => Some(placement.clone()),
                _ => None,
            })
            .flatten();
        Ok(request.map(|request| self.placement_for(&request)))
    }

    /// Runs an operation's task under `context`.
    async fn execute(&self, operation: &OpOccurrence, context: &RunContext) -> Result<(), Unfinished> {
        // A run refused, or that could not start, did nothing: it fails by
        // the operation's policy.
        let refused = |error| Unfinished {
            error,
            undone: operation.on_failure == OnFailure::Rollback,
        };
        let instance = self
            .ns(&operation.ns_instance_id)
            .await
            .map_err(|error| refused(not_run(error)))?;
        let task = self
            .task(&instance, &operation.task)
            .await
            .map_err(|error| refused(not_run(error)))?;
        let recording;
        let context = if instance.record_hook_calls {
            recording = context.clone().recording_calls(Arc::clone(&self.parts.calls));
            &recording
        } else {
            context
        };
        match self.parts.orchestrator.run_with(&instance.id, context, task).await {
            Ok(_) => Ok(()),
            Err(error) => Err(match error {
                WorkflowError::Step { undone, .. } => Unfinished {
                    error: operation_error(&error),
                    undone,
                },
                _ => refused(operation_error(&error)),
            }),
        }
    }

    /// The workflow task of an operation's request.
    async fn task(&self, instance: &NsInstance, request: &TaskRequest) -> Result<Task, LcmError> {
        Ok(match request {
            TaskRequest::Instantiate { placement } => Task::Instantiate {
                template: self.instance_template(instance).await?,
                placement: placement.as_ref().map(|request| self.placement_for(request)),
            },
            TaskRequest::ScaleOut { vnf_profile_id } => Task::ScaleOut {
                vnf_id: vnf_profile_id.clone(),
            },
            TaskRequest::ScaleIn { vnf_instance_id } => Task::ScaleIn {
                vnf_instance_id: vnf_instance_id.clone(),
            },
            TaskRequest::Migrate {
                vnf_instance_id,
                target_vim_id,
            } => Task::Migrate {
                vnf_instance_id: vnf_instance_id.clone(),
                target_vim: target_vim_id.clone(),
            },
            TaskRequest::Reconfigure {
                reconfiguration_payload,
            } => Task::Reconfigure {
                reconfiguration_payload: reconfiguration_payload.clone(),
            },
            TaskRequest::Terminate { force } => Task::Terminate { force: *force },
            TaskRequest::ChangeManager {
                manager_id,
                vnf_profile_id,
                source,
            } => {
                let (template, handover) = self
                    .changed_template(instance, manager_id, vnf_profile_id.as_deref(), source)
                    .await?;
                Task::ChangeManager {
                    template,
                    manager_id: manager_id.clone(),
                    vnf_id: vnf_profile_id.clone(),
                    handover,
                }
            }
        })
    }

    /// Concludes a run: success completes; a failure whose workflow undid
    /// what it did is ROLLED_BACK, any other (the workflow kept it: the
    /// operation pauses on failure, was cancelled, removes what cannot be
    /// put back, or passed its commit point) waits in FAILED_TEMP. The
    /// instance is INSTANTIATED while the orchestrator runs its service.
    async fn conclude(&self, operation: OpOccurrence, outcome: Result<(), Unfinished>) -> Result<(), LcmError> {
        let (state, error) = match outcome {
            Ok(()) => (OperationState::Completed, None),
            Err(Unfinished { error, undone: true }) => (OperationState::RolledBack, Some(error)),
            Err(Unfinished { error, undone: false }) => (OperationState::FailedTemp, Some(error)),
        };
        self.store_conclusion(operation, state, error).await
    }

    /// The end of a rollback: ROLLED_BACK keeping the failure's error, or
    /// FAILED_TEMP again with the rollback's.
    async fn conclude_rollback(
        &self,
        operation: OpOccurrence,
        outcome: Result<(), OperationError>,
    ) -> Result<(), LcmError> {
        match outcome {
            Ok(()) => {
                let error = operation.error.clone();
                self.store_conclusion(operation, OperationState::RolledBack, error)
                    .await
            }
            Err(error) => {
                self.store_conclusion(operation, OperationState::FailedTemp, Some(error))
                    .await
            }
        }
    }

    async fn store_conclusion(
        &self,
        operation: OpOccurrence,
        state: OperationState,
        error: Option<OperationError>,
    ) -> Result<(), LcmError> {
        let instance = self.ns(&operation.ns_instance_id).await?;
        let ns_state = if self.parts.orchestrator.runs(&instance.id) {
            NsState::Instantiated
        } else {
            NsState::NotInstantiated
        };
        // A cancel may have been asked for since the run started.
        let cancel_mode = self.operation(&operation.id).await?.cancel_mode;
        let concluded = OpOccurrence {
            operation_state: state,
            state_entered_time: now(),
            is_cancel_pending: false,
            cancel_mode,
            error,
            ..operation
        };
        let instance = NsInstance { ns_state, ..instance };
        self.store.update_operation(&concluded, Some(&instance))?;
        self.publish_run(concluded).await;
        Ok(())
    }

    /// Tells observers an operation reached a state after a run, with the
    /// run's journaled steps.
    async fn publish_run(&self, operation: OpOccurrence) {
        match self.parts.records.journal_of_operation(&operation.id).await {
            Ok(steps) => self.publish(LcmEvent::Steps {
                operation: operation.clone(),
                steps,
            }),
            Err(error) => tracing::warn!(operation = %operation.id, "cannot read the steps to publish: {error}"),
        }
        self.publish(LcmEvent::Operation(operation));
    }

    /// Rebuilds the services and closes the operations a previous process
    /// left open (see the module documentation). Returns how many services
    /// run again.
    pub async fn recover(&self) -> Result<usize, LcmError> {
        let held = self.parts.orchestrator.adopt_held_removals().await?;
        if held > 0 {
            tracing::info!("{held} unit removal(s) held for a retry");
        }
        let store = self.store.clone();
        let (instances, operations) = blocking(move || Ok((store.all_ns()?, store.operations()?))).await?;
        // The placement each service was instantiated with: its last
        // instantiation's (operations are in the order they started).
        let placements: HashMap<&str, Option<&PlacementRequest>> = operations
            .iter()
            .filter_map(|operation| match &operation.task {
                TaskRequest::Instantiate { placement } => Some((operation.ns_instance_id.as_str(), placement.as_ref())),
                _ => None,
            })
            .collect();
        // Only open operations matter (at most one per instance).
        let open: HashMap<&str, &OpOccurrence> = operations
            .iter()
            .filter(|operation| operation.operation_state.is_open())
            .map(|operation| (operation.ns_instance_id.as_str(), operation))
            .collect();
        let mut running = 0;
        for instance in instances {
            let operation = open.get(instance.id.as_str()).copied();
            let interrupted = operation.filter(|operation| {
                matches!(
                    operation.operation_state,
                    OperationState::Processing | OperationState::RollingBack
                )
            });
            let paused = operation.is_some_and(|operation| operation.operation_state == OperationState::FailedTemp);
            if instance.ns_state == NsState::NotInstantiated && interrupted.is_none() && !paused {
                continue;
            }
            let template = self.template_with_changes(&instance, &operations).await?;
            let plan = match interrupted {
                Some(operation) => self.recovery_plan(operation).await?,
                None => RecoveryPlan::AsRecorded,
            };
            // Read before recovery journals its own steps under the operation.
            let in_flight = match interrupted {
                Some(operation) => {
                    let journal = self.parts.records.journal_of_operation(&operation.id).await?;
                    records::in_flight(&journal)
                        .into_iter()
                        .map(|entry| entry.step.clone())
                        .collect()
                }
                None => Vec::new(),
            };
            let rolling_back = matches!(plan, RecoveryPlan::RollBackTo(_));
            let recovered = self
                .parts
                .orchestrator
                .recover(
                    &instance.id,
                    interrupted.map(|operation| operation.id.as_str()),
                    template,
                    placements
                        .get(instance.id.as_str())
                        .copied()
                        .flatten()
                        .map(|request| self.placement_for(request)),
                    plan,
                )
                .await;
            let (ns_state, removed) = match recovered {
                Ok(recovery) => {
                    let state = if recovery.running {
                        running += 1;
                        NsState::Instantiated
                    } else {
                        NsState::NotInstantiated
                    };
                    (state, recovery.removed.len())
                }
                // Interrupted before its NSR was stored: nothing was deployed.
                Err(WorkflowError::Step { ref cause, .. })
                    if matches!(**cause, StepFailure::Store(StoreError::NotFound { .. })) =>
                {
                    (NsState::NotInstantiated, 0)
                }
                Err(error) => {
                    tracing::error!(ns_instance = %instance.id, "cannot recover: {error}");
                    (instance.ns_state, 0)
                }
            };
            let instance = NsInstance { ns_state, ..instance };
            let concluded = interrupted.map(|operation| {
                let state = if operation.operation_state == OperationState::RollingBack {
                    OperationState::RolledBack
                } else if operation.task.removes() || operation.on_failure == OnFailure::Pause {
                    OperationState::FailedTemp
                } else if rolling_back {
                    OperationState::RolledBack
                } else {
                    OperationState::Completed
                };
                let in_flight = match in_flight.as_slice() {
                    [] => String::new(),
                    steps => format!("; in flight when it stopped: {}", steps.join(", ")),
                };
                let error = (state != OperationState::Completed).then(|| OperationError {
                    title: "interrupted".into(),
                    detail: format!(
                        "the orchestrator stopped while the operation ran; recovery removed {removed} VNF instance(s) it had deployed{in_flight}"
                    ),
                    step: None,
                    manager: None,
                    cause: ErrorCause::Interrupted,
                });
                OpOccurrence {
                    operation_state: state,
                    state_entered_time: now(),
                    error,
                    ..operation.clone()
                }
            });
            let (store, stored) = (self.store.clone(), concluded.clone());
            blocking(move || match stored {
                Some(operation) => Ok(store.update_operation(&operation, Some(&instance))?),
                None => Ok(store.put_ns(&instance)?),
            })
            .await?;
            if let Some(operation) = concluded {
                self.publish_run(operation).await;
            }
        }
        let reconciliation = self.parts.orchestrator.reconcile().await?;
        if reconciliation != Reconciliation::default() {
            tracing::warn!(
                removed = ?reconciliation.removed,
                missing = ?reconciliation.missing,
                removed_networks = ?reconciliation.removed_networks,
                "reconciled the infrastructure with the records"
            );
        }
        Ok(running)
    }

    /// How recovery treats the service of an interrupted operation: a
    /// rollback is finished; an operation that pauses on failure keeps
    /// everything (FAILED_TEMP follows); a task that removes keeps what is
    /// recorded (FAILED_TEMP); a migration whose NSR no longer names the
    /// old instance passed its commit point: the old instance goes, and the
    /// migration is completed; anything else goes
    /// back to the instances the service had when the operation started.
    async fn recovery_plan(&self, operation: &OpOccurrence) -> Result<RecoveryPlan, LcmError> {
        if operation.operation_state == OperationState::RollingBack {
            return Ok(RecoveryPlan::RollBackTo(operation.vnf_instances_before.clone()));
        }
        if operation.on_failure == OnFailure::Pause {
            return Ok(RecoveryPlan::KeepEverything);
        }
        if operation.task.removes() || self.migration_committed(operation).await? {
            return Ok(RecoveryPlan::AsRecorded);
        }
        Ok(RecoveryPlan::RollBackTo(operation.vnf_instances_before.clone()))
    }

    /// Whether `operation` is a migration past its commit point: the NSR
    /// names the new instance instead of the old one.
    async fn migration_committed(&self, operation: &OpOccurrence) -> Result<bool, LcmError> {
        let TaskRequest::Migrate { vnf_instance_id, .. } = &operation.task else {
            return Ok(false);
        };
        let nsr = match self.parts.records.ns(&operation.ns_instance_id).await {
            Err(StoreError::NotFound { .. }) => return Ok(false),
            nsr => nsr?,
        };
        Ok(!nsr.network_functions.contains(vnf_instance_id))
    }

    /// Retries held removals every `period` until the process ends.
    pub fn spawn_removal_retries(self: &Arc<Self>, period: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            loop {
                ticks.tick().await;
                if let Err(error) = this.parts.orchestrator.retry_removals().await {
                    tracing::error!("cannot retry held removals: {error}");
                }
            }
        })
    }

    /// Waits until no operation runs in this process, at most `limit`;
    /// returns how many still run.
    pub async fn drain(&self, limit: Duration) -> usize {
        let wait = async {
            loop {
                let idle = self.running.idle.notified();
                if self.running.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
        self.running.count.load(Ordering::SeqCst)
    }
}

/// The error of an operation that could not even start its workflow.
fn not_run(error: LcmError) -> OperationError {
    let cause = match error {
        LcmError::Template(_) | LcmError::Engine(_) => ErrorCause::Host,
        LcmError::Infrastructure(_) => ErrorCause::Infrastructure,
        _ => ErrorCause::Store,
    };
    OperationError {
        title: "the workflow could not start".into(),
        detail: error.to_string(),
        step: None,
        manager: None,
        cause,
    }
}

/// A workflow's error as an operation's: title, full detail, and which
/// part failed.
fn operation_error(error: &WorkflowError) -> OperationError {
    let (step, manager, cause) = match error {
        WorkflowError::Step {
            step, manager, cause, ..
        } => {
            let cause = match cause.as_ref() {
                StepFailure::Hook(invocation) => match invocation.cause {
                    Cause::Answered { .. } => ErrorCause::Answered,
                    Cause::NotHandled => ErrorCause::NotHandled,
                    Cause::Fault(_) => ErrorCause::Fault,
                    Cause::Host(_) => ErrorCause::Host,
                    Cause::Interrupted => ErrorCause::Cancelled,
                },
                StepFailure::Reply(_) | StepFailure::Request(_) => ErrorCause::Fault,
                StepFailure::Placement(_) | StepFailure::Mapping(_) => ErrorCause::Placement,
                StepFailure::Infrastructure(_) => ErrorCause::Infrastructure,
                StepFailure::Store(_) => ErrorCause::Store,
                StepFailure::Inconsistent(_) => ErrorCause::Rejected,
                StepFailure::Cancelled => ErrorCause::Cancelled,
                StepFailure::Handover(_) => ErrorCause::Fault,
            };
            (Some(step.clone()), manager.clone(), cause)
        }
        WorkflowError::Busy { .. } | WorkflowError::UnknownService(_) | WorkflowError::Rejected { .. } => {
            (None, None, ErrorCause::Rejected)
        }
    };
    OperationError {
        title: match &step {
            Some(step) => format!("step {step:?} failed"),
            None => "the workflow refused the request".into(),
        },
        detail: error.to_string(),
        step,
        manager,
        cause,
    }
}

/// What monitoring data led to ([`Lifecycle::monitor`]).
#[derive(Debug, Clone)]
pub struct Monitored {
    /// The workflows the monitor manager asked for, in order.
    pub requests: Vec<WorkflowRequest>,
    /// The operation started for the first of them, if it asked for any.
    pub operation: Option<OpOccurrence>,
    /// What it asked for beyond that operation, not started.
    pub deferred: Vec<WorkflowRequest>,
}

/// The task for the first workflow a monitor manager asked for, and the
/// rest of what it asked for; `None` when it asked for nothing.
fn first_task(requests: &[WorkflowRequest]) -> Option<(TaskRequest, Vec<WorkflowRequest>)> {
    let asks_for_something = |request: &&WorkflowRequest| match request {
        WorkflowRequest::ScaleOut { instances, .. } => *instances > 0,
        WorkflowRequest::ScaleIn(instances) => !instances.is_empty(),
        WorkflowRequest::Reconfigure(_) => true,
    };
    let position = requests.iter().position(|request| asks_for_something(&request))?;
    let (first, rest) = (&requests[position], &requests[position + 1..]);
    let mut deferred = Vec::new();
    let task = match first {
        WorkflowRequest::ScaleOut { vnf, instances } => {
            if *instances > 1 {
                deferred.push(WorkflowRequest::ScaleOut {
                    vnf: vnf.clone(),
                    instances: instances - 1,
                });
            }
            TaskRequest::ScaleOut {
                vnf_profile_id: vnf.clone(),
            }
        }
        WorkflowRequest::ScaleIn(instances) => {
            let (instance, others) = instances.split_first()?;
            if !others.is_empty() {
                deferred.push(WorkflowRequest::ScaleIn(others.to_vec()));
            }
            TaskRequest::ScaleIn {
                vnf_instance_id: instance.clone(),
            }
        }
        WorkflowRequest::Reconfigure(payload) => TaskRequest::Reconfigure {
            reconfiguration_payload: payload.clone(),
        },
    };
    deferred.extend_from_slice(rest);
    Some((task, deferred))
}
