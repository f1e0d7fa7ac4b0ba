//! The lifecycle workflows: instantiate, scale out, scale in, migrate,
//! reconfigure and terminate a service, calling its specific managers at the
//! points 5GTANGO's SLM did (BRIEF §2).
//!
//! A workflow is a sequence of typed steps (`step::Step`) run through
//! `Run::step`, `Run::hook` and `Run::write`, which time each one and
//! journal it (which manager ran, which event, how long, how it ended): an
//! effect's intent durably before it acts, a record write in one
//! transaction with the entries not stored yet, hooks and internal steps
//! with the next durable write. Failure policy lives apart from the steps,
//! in `compensation`: the steps a rollback must undo leave a compensation
//! on the run (a recorded service fails, an added instance goes, the NSR
//! lists what it listed before), and `Orchestrator::end` either keeps what
//! a failed run did or applies them; removals keep what could not be
//! removed, to be retried. A service runs one workflow at a time; a second
//! request is refused with [`WorkflowError::Busy`].

mod capacity;
mod compensation;
pub mod failpoint;
mod payload;
pub mod schedule;
mod step;
mod template;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tango_model::descriptor::VimKind;
use tango_model::fsm::{FsmEvent, StateReply};
use tango_model::ssm::{EventSwitch, LinkSite, SsmEvent, VnfPlacement, VnfSwitches, WorkflowRequest};
use tango_model::{KeyValue, UnitEnvs};
use wasmano_host::{Event, InvocationError, Reply, Request, RequestError, SpecificManager};

use crate::infrastructure::{DeployedUnit, InfraError, Infrastructure, Reconciliation, VimStatus};
use crate::placement::{self, LabelledVim, PlacementOptions, VnfToPlace};
use crate::recording::{CallLog, RecordedCall};
use crate::records::{
    FsmSwitches, JournalEntry, NsRecord, RecordStore, RecordWrite, Status, StepOutcome, StoreError, UnitInstance,
    VnfRecord, Written,
};

use capacity::{Claim, Reservations};
use compensation::Compensation;
pub use payload::sample as sample_payload;
use schedule::Phase;
use step::{Step, StepKind};
use template::manager_for;
pub use template::{ManagerBinding, ManagerHandover, ServiceTemplate, UnitTemplate, VnfTemplate};

/// The workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    /// Deploy a service.
    Instantiate,
    /// Add an instance of one of its VNFs.
    ScaleOut,
    /// Remove one of its VNF instances.
    ScaleIn,
    /// Move a VNF instance to another VIM, carrying its state.
    Migrate,
    /// Configure its VNFs again.
    Reconfigure,
    /// Remove the service.
    Terminate,
    /// Run a manager from another module.
    ChangeManager,
    /// Rebuild a service from its records after a restart.
    Recovery,
    /// Hand monitoring data to the service's monitor manager.
    Monitor,
}

impl Workflow {
    /// The workflow's name, as journaled and as configure events carry it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Instantiate => "instantiation",
            Self::ScaleOut => "scale_out",
            Self::ScaleIn => "scale_in",
            Self::Migrate => "migration",
            Self::Reconfigure => "reconfigure",
            Self::Terminate => "termination",
            Self::ChangeManager => "manager change",
            Self::Recovery => "recovery",
            Self::Monitor => "monitor",
        }
    }
}

impl fmt::Display for Workflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a workflow run is asked to do.
#[derive(Clone)]
pub enum Task {
    /// Deploy the service of this template: records, topology, placement,
    /// deployment, FSM start (envs into containers), configure, NSR in
    /// normal operation. On failure everything deployed is removed and the
    /// records say failed.
    Instantiate {
        /// The service.
        template: Arc<ServiceTemplate>,
        /// How to place its VNFs, now and when it scales, instead of the
        /// orchestrator's options.
        placement: Option<PlacementOptions>,
    },
    /// Add an instance of the NSD's VNF `vnf_id`: placement, deployment, FSM
    /// start, NSR update, then configure when the service has a configure
    /// manager. On failure the new instance is removed.
    ScaleOut {
        /// The VNF's id in the NSD.
        vnf_id: String,
    },
    /// Remove a VNF instance and update the NSR.
    ScaleIn {
        /// The instance.
        vnf_instance_id: String,
    },
    /// Move a VNF instance to another VIM, carrying its state: a new
    /// instance is deployed and started there; with a state manager the old
    /// instance's state is extracted, transformed and injected; the old
    /// instance is removed. On failure the new instance is removed.
    Migrate {
        /// The instance.
        vnf_instance_id: String,
        /// Where it goes; its current VIM is refused.
        target_vim: String,
    },
    /// Configure the VNFs again; the configure manager sees the
    /// reconfiguration payload of whoever asked for it (5GTANGO's
    /// `service.reconfiguration_payload`).
    Reconfigure {
        /// What a monitor manager asked the configure manager to see.
        reconfiguration_payload: Option<Value>,
    },
    /// FSM stop on every VNF, removal, records terminated.
    Terminate {
        /// Go on past failing stop hooks, journaling them.
        force: bool,
    },
    /// Run the service with this template from now on: the same one with
    /// manager `manager_id` running from another module or image (5GTANGO's
    /// SMR update). A legacy manager, old or new, is handed over first: the
    /// new one started in every instance it serves, then the old one
    /// stopped; a module has nothing to start or stop.
    ChangeManager {
        /// The template with the new manager.
        template: Arc<ServiceTemplate>,
        /// The manager changed.
        manager_id: String,
        /// The NSD's `vnf_id` of its VNF, for an FSM.
        vnf_id: Option<String>,
        /// Starts the new legacy manager and stops the old one.
        handover: Option<Arc<dyn ManagerHandover>>,
    },
}

impl Task {
    /// The workflow that runs it.
    pub fn workflow(&self) -> Workflow {
        match self {
            Self::Instantiate { .. } => Workflow::Instantiate,
            Self::ScaleOut { .. } => Workflow::ScaleOut,
            Self::ScaleIn { .. } => Workflow::ScaleIn,
            Self::Migrate { .. } => Workflow::Migrate,
            Self::Reconfigure { .. } => Workflow::Reconfigure,
            Self::Terminate { .. } => Workflow::Terminate,
            Self::ChangeManager { .. } => Workflow::ChangeManager,
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instantiate { template, .. } => write!(f, "Instantiate({})", template.nsd_reference),
            Self::ScaleOut { vnf_id } => write!(f, "ScaleOut({vnf_id})"),
            Self::ScaleIn { vnf_instance_id } => write!(f, "ScaleIn({vnf_instance_id})"),
            Self::Migrate {
                vnf_instance_id,
                target_vim,
            } => write!(f, "Migrate({vnf_instance_id} to {target_vim})"),
            Self::Reconfigure { .. } => f.write_str("Reconfigure"),
            Self::Terminate { force } => write!(f, "Terminate(force: {force})"),
            Self::ChangeManager { manager_id, .. } => write!(f, "ChangeManager({manager_id})"),
        }
    }
}

/// Why a workflow did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// Another workflow is running on the service.
    #[error("service {service}: cannot start {workflow}, {running} is running")]
    Busy {
        /// The service.
        service: String,
        /// The workflow asked for.
        workflow: Workflow,
        /// The workflow running.
        running: Workflow,
    },
    /// No such service.
    #[error("unknown service {0}")]
    UnknownService(String),
    /// The request does not make sense for this service.
    #[error("service {service}, {workflow}: {reason}")]
    Rejected {
        /// The service.
        service: String,
        /// The workflow.
        workflow: Workflow,
        /// Why.
        reason: String,
    },
    /// A step failed.
    #[error("service {service}, {workflow}, step {step:?}{}: {cause}", manager.as_ref().map(|m| format!(" (manager {m})")).unwrap_or_default())]
    Step {
        /// The service.
        service: String,
        /// The workflow.
        workflow: Workflow,
        /// The step that failed.
        step: String,
        /// The manager that ran, when the step ran a hook.
        manager: Option<String>,
        /// What went wrong (boxed: it can be large, and errors travel far).
        cause: Box<StepFailure>,
        /// Whether the run's failure policy undid what it did (nothing of
        /// it stays); otherwise the service is as the failure left it.
        undone: bool,
    },
}

impl WorkflowError {
    /// The same error, its run's work undone.
    fn into_undone(self) -> Self {
        match self {
            Self::Step {
                service,
                workflow,
                step,
                manager,
                cause,
                ..
            } => Self::Step {
                service,
                workflow,
                step,
                manager,
                cause,
                undone: true,
            },
            refused => refused,
        }
    }
}

/// What went wrong in a step.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// A manager answered an error, does not handle a declared event, or the
    /// sandbox stopped it.
    #[error(transparent)]
    Hook(#[from] InvocationError),
    /// A manager answered something the workflow cannot use.
    #[error("unusable reply: {0}")]
    Reply(String),
    /// The content of a hook could not be turned into a request.
    #[error("cannot build the request: {0}")]
    Request(String),
    /// The default placement found no feasible placement.
    #[error(transparent)]
    Placement(#[from] placement::PlacementError),
    /// A placement manager's mapping was refused.
    #[error("mapping refused: {0}")]
    Mapping(#[from] placement::MappingError),
    /// The infrastructure failed.
    #[error(transparent)]
    Infrastructure(#[from] InfraError),
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The records contradict the request.
    #[error("the records contradict the request: {0}")]
    Inconsistent(String),
    /// The run was cancelled before this step.
    #[error("cancelled before this step")]
    Cancelled,
    /// A changed manager's new programs did not start; the old ones run on.
    #[error("the new manager did not take over: {0}")]
    Handover(String),
}

/// What a completed workflow did.
#[derive(Debug, Clone)]
pub struct WorkflowReport {
    /// The service.
    pub service_id: String,
    /// The workflow.
    pub workflow: Workflow,
    /// Its steps, in order, as journaled.
    pub steps: Vec<JournalEntry>,
    /// The service record afterwards.
    pub nsr: NsRecord,
    /// The VNF records afterwards (terminated ones included).
    pub vnfrs: Vec<VnfRecord>,
}

/// Which VNF instances recovery keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryPlan {
    /// Those the NSR lists: no run was interrupted, or the interrupted run
    /// removes what cannot be put back (scale-in, termination) or had
    /// passed its commit point.
    AsRecorded,
    /// Undo an interrupted run: only these instances (those the service
    /// had when the run started) stay; with none, the service does not run
    /// any more and its NSR is marked failed.
    RollBackTo(Vec<String>),
    /// Keep every instance that is not terminated or failed, listed in the
    /// NSR or not (an operation that pauses on failure was interrupted: a
    /// person decides what goes).
    KeepEverything,
}

/// What recovery found and did for one service.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The service record afterwards.
    pub nsr: NsRecord,
    /// Whether the service runs again: its NSR was in operation.
    pub running: bool,
    /// VNF instances removed because no finished run had listed them in
    /// the NSR.
    pub removed: Vec<String>,
    /// The steps, as journaled.
    pub steps: Vec<JournalEntry>,
}

/// A running VNF instance.
#[derive(Debug, Clone)]
struct VnfInstance {
    /// Index of its template in the service template.
    template: usize,
    record: VnfRecord,
    units: Vec<DeployedUnit>,
}

impl VnfInstance {
    fn vim_id(&self) -> Option<&str> {
        self.units.first().map(|unit| unit.vim_id.as_str())
    }
}

impl ServiceState {
    /// Each VNF instance with its template, as payloads describing the
    /// whole service take them.
    fn members(&self) -> Vec<payload::Member<'_>> {
        self.vnfs
            .iter()
            .map(|vnf| (&self.template.vnfs[vnf.template], &vnf.record))
            .collect()
    }
}

/// The content of an FSM event: the payload a configure manager switched
/// it on with, if any, else the one `built` makes.
fn switched_content<T>(switch: Option<&EventSwitch>, built: impl FnOnce() -> T) -> payload::Content<T> {
    match switch.and_then(|switch| switch.payload.clone()) {
        Some(document) => payload::Content::Switched(document),
        None => payload::Content::Built(built()),
    }
}

/// A service the orchestrator runs.
#[derive(Debug, Clone)]
struct ServiceState {
    template: Arc<ServiceTemplate>,
    /// How its VNFs are placed (the orchestrator's options, or the ones its
    /// instantiation asked for).
    placement: Arc<PlacementOptions>,
    nsr: NsRecord,
    vnfs: Vec<VnfInstance>,
}

/// Why the VNFs are configured.
#[derive(Debug, Clone, Copy)]
enum Configuring<'a> {
    /// Within a deployment (instantiation, scale-out): only what the
    /// configure manager decides fires.
    Deployment,
    /// A reconfiguration, with the payload of whoever asked for it: without
    /// a configure manager every FSM declaring configure fires.
    Reconfiguration(Option<&'a Value>),
}

/// What [`Task::ChangeManager`] carries, for its workflow.
struct ManagerChangeTask {
    template: Arc<ServiceTemplate>,
    manager_id: String,
    vnf_id: Option<String>,
    handover: Option<Arc<dyn ManagerHandover>>,
}

/// Runs workflows over an infrastructure and a record store.
pub struct Orchestrator {
    infrastructure: Arc<dyn Infrastructure>,
    store: Arc<dyn RecordStore>,
    placement: PlacementOptions,
    services: Mutex<HashMap<String, ServiceState>>,
    busy: Arc<Mutex<HashMap<String, Workflow>>>,
    /// Capacity placed but not deployed yet: concurrent workflows never
    /// place on capacity another one is about to take, and no lock is held
    /// across a hook or a deploy.
    reservations: Arc<Reservations>,
    /// Steps of operations' runs, as each durable write stores them.
    committed: tokio::sync::broadcast::Sender<CommittedSteps>,
}

/// Journal entries of an operation's run, stored by one durable write (in
/// the order the journal keeps them), for observers that follow runs as
/// they go ([`Orchestrator::committed_steps`]).
#[derive(Debug, Clone)]
pub struct CommittedSteps {
    /// The operation occurrence.
    pub operation_id: String,
    /// The entries just stored.
    pub steps: Vec<JournalEntry>,
}

/// How many commits a slow observer of [`Orchestrator::committed_steps`]
/// may fall behind before it misses some (it then sees them when the run
/// ends).
const COMMITTED_STEPS_BUFFER: usize = 1024;

impl fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orchestrator")
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

/// Marks a service busy for as long as it lives.
struct BusyGuard {
    busy: Arc<Mutex<HashMap<String, Workflow>>>,
    service: String,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.service);
    }
}

/// The manager side of a journaled step.
struct HookCall<'a> {
    manager: &'a str,
    /// The event, when the step invoked the manager.
    event: Option<Event>,
    /// The request's random seed, once the request was built.
    seed: Option<u64>,
}

/// What a failed run does with what it did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Undo it (remove what the run added, restore the NSR).
    #[default]
    Undo,
    /// Keep it as it is, for a person to retry, roll back or give up.
    Keep,
}

/// Who a run is for and how it fails. Clones share the cancellation.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// The operation occurrence the run belongs to: its steps are journaled
    /// under it.
    pub operation: Option<String>,
    /// What a failure does.
    pub on_failure: FailurePolicy,
    /// Set to stop the run at its next step boundary.
    cancelled: Arc<AtomicBool>,
    /// Set to stop a running hook too.
    interrupted: Arc<AtomicBool>,
    /// The run resumes a failed run of the same task whose work was kept.
    resume: bool,
    /// Where the run's hook calls are recorded, when its service records
    /// them.
    recorder: Option<Arc<CallLog>>,
}

impl RunContext {
    /// A run for `operation` failing by `on_failure`.
    pub fn new(operation: Option<&str>, on_failure: FailurePolicy) -> Self {
        Self {
            operation: operation.map(str::to_owned),
            on_failure,
            cancelled: Arc::default(),
            interrupted: Arc::default(),
            resume: false,
            recorder: None,
        }
    }

    /// The same context, recording each hook call of the run in `log`
    /// (see [`crate::recording`]).
    #[must_use]
    pub fn recording_calls(mut self, log: Arc<CallLog>) -> Self {
        self.recorder = Some(log);
        self
    }

    /// The same context for a run that resumes a failed run of its task
    /// whose work was kept (FAILED_TEMP): an instantiation adds only the
    /// VNFs still missing, a scale-out carries on with the instance it
    /// added that is not in operation yet, a migration with the instance it
    /// deployed but did not commit, and past its commit point only retires
    /// the old instance; VNFs not yet in operation are started again (their
    /// hooks are pure, setting envs is idempotent). A resumed run takes
    /// over the compensations of what it carries on with. Other tasks run
    /// as usual.
    #[must_use]
    pub fn resuming(mut self) -> Self {
        self.resume = true;
        self
    }

    /// Stops the run at its next step boundary (before it starts, if it
    /// has not): that step fails as cancelled and what the run did stays,
    /// whatever its failure policy.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Cancels the run and stops its running hook, if one runs, at the
    /// guest's next epoch tick. An infrastructure call in flight completes:
    /// abandoned, it could leave a unit that no record names.
    pub fn interrupt(&self) {
        self.cancel();
        self.interrupted.store(true, Ordering::SeqCst);
    }
}

/// One workflow run: its identity and the steps journaled so far.
struct Run {
    service: String,
    workflow: Workflow,
    /// The operation occurrence the run belongs to, when it has one.
    operation: Option<String>,
    on_failure: FailurePolicy,
    cancelled: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
    store: Arc<dyn RecordStore>,
    /// Whether effects are journaled as intents before they act (see
    /// [`Infrastructure::effects_outlive_the_process`]).
    intents: bool,
    steps: Vec<JournalEntry>,
    /// How many of `steps` are stored: the others go with the next
    /// durable write.
    stored: usize,
    /// Record writes done as steps (the step, and its entry's index in
    /// `steps`) but not stored yet: they go with the next durable write
    /// ([`Run::write_vnf_later`]).
    deferred: Vec<(usize, Step, RecordWrite)>,
    committed: tokio::sync::broadcast::Sender<CommittedSteps>,
    recorder: Option<Arc<CallLog>>,
    /// What undoes the run so far, in the order it was done.
    compensations: Vec<Compensation>,
    /// Whether the run did what cannot be undone (a removal, a commit
    /// point): a failure then keeps what it did.
    past_undoing: bool,
}

impl Run {
    fn new(service: &str, workflow: Workflow, context: &RunContext, orchestrator: &Orchestrator) -> Self {
        Self {
            service: service.to_owned(),
            workflow,
            operation: context.operation.clone(),
            on_failure: context.on_failure,
            cancelled: Arc::clone(&context.cancelled),
            interrupted: Arc::clone(&context.interrupted),
            store: Arc::clone(&orchestrator.store),
            intents: orchestrator.infrastructure.effects_outlive_the_process(),
            steps: Vec::new(),
            stored: 0,
            deferred: Vec::new(),
            committed: orchestrator.committed.clone(),
            recorder: context.recorder.clone(),
            compensations: Vec::new(),
            // Their removals cannot be put back.
            past_undoing: matches!(workflow, Workflow::ScaleIn | Workflow::Terminate),
        }
    }

    /// Whether a failure keeps what the run did: its policy says so, or it
    /// was cancelled (SOL005: a cancelled operation waits in FAILED_TEMP).
    fn keeps_failures(&self) -> bool {
        self.on_failure == FailurePolicy::Keep || self.cancelled.load(Ordering::SeqCst)
    }

    /// The error of a failed step, journaled as such.
    fn failure(&mut self, step: &Step, manager: Option<&str>, cause: StepFailure) -> WorkflowError {
        self.record(
            step,
            manager.map(|manager| HookCall {
                manager,
                event: None,
                seed: None,
            }),
            now(),
            StepOutcome::Failed,
            Some(cause.to_string()),
        );
        self.error(step, manager, cause)
    }

    /// The error of a step already journaled.
    fn error(&self, step: &Step, manager: Option<&str>, cause: StepFailure) -> WorkflowError {
        WorkflowError::Step {
            service: self.service.clone(),
            workflow: self.workflow,
            step: step.to_string(),
            manager: manager.map(str::to_owned),
            cause: Box::new(cause),
            undone: false,
        }
    }

    fn record(
        &mut self,
        step: &Step,
        hook: Option<HookCall<'_>>,
        started: (SystemTime, Instant),
        outcome: StepOutcome,
        error: Option<String>,
    ) {
        self.steps.push(JournalEntry {
            service_id: self.service.clone(),
            operation_id: self.operation.clone(),
            workflow: self.workflow.name().to_owned(),
            step: step.to_string(),
            manager: hook.as_ref().map(|call| call.manager.to_owned()),
            event: hook
                .as_ref()
                .and_then(|call| call.event)
                .map(|event| event.name().to_owned()),
            seed: hook.and_then(|call| call.seed),
            started_at: started.0,
            duration: started.1.elapsed(),
            outcome,
            error,
        });
    }

    /// A step boundary: where the crash failpoint may fire (not in
    /// recovery runs, which are what a crash test checks) and where a
    /// cancelled run stops, journaling the step it did not run.
    fn boundary(&mut self, step: &Step, manager: Option<&str>) -> Result<(), WorkflowError> {
        if self.workflow != Workflow::Recovery {
            failpoint::step_boundary(step);
        }
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(self.failure(step, manager, StepFailure::Cancelled));
        }
        Ok(())
    }

    /// Stores `write`, the deferred record writes before it and every
    /// journal entry not stored yet, together.
    async fn commit(&mut self, write: RecordWrite) -> Result<Written, StoreError> {
        let steps = self.steps[self.stored..].to_vec();
        let followed = match &self.operation {
            Some(operation_id) if !steps.is_empty() && self.committed.receiver_count() > 0 => Some(CommittedSteps {
                operation_id: operation_id.clone(),
                steps: steps.clone(),
            }),
            _ => None,
        };
        let written = self.store_with_deferred(write, steps).await?;
        self.stored = self.steps.len();
        if let Some(followed) = followed {
            // Nobody following any more is not an error.
            let _ = self.committed.send(followed);
        }
        Ok(written)
    }

    /// Commits `write` after the deferred record writes, with `steps`. A
    /// failed commit stored none of them: their steps are journaled as
    /// failed, with why.
    async fn store_with_deferred(
        &mut self,
        write: RecordWrite,
        steps: Vec<JournalEntry>,
    ) -> Result<Written, StoreError> {
        if self.deferred.is_empty() {
            return self.store.commit(write, steps).await;
        }
        let deferred = std::mem::take(&mut self.deferred);
        let indices: Vec<usize> = deferred.iter().map(|(index, _, _)| *index).collect();
        let mut writes: Vec<RecordWrite> = deferred.into_iter().map(|(_, _, write)| write).collect();
        writes.push(write);
        let written = self
            .store
            .commit(RecordWrite::All(writes), steps)
            .await
            .and_then(Written::into_all)
            .and_then(|mut written| {
                written
                    .pop()
                    .ok_or_else(|| StoreError::Backend("a write is missing".into()))
            });
        if let Err(error) = &written {
            for index in indices {
                let entry = &mut self.steps[index];
                entry.outcome = StepOutcome::Failed;
                entry.error = Some(format!("not stored: {error}"));
            }
        }
        written
    }

    /// Stores the deferred record writes, if any, with the journal entries
    /// not stored yet: a run's last durable write when it succeeded.
    async fn store_deferred(&mut self) -> Result<(), WorkflowError> {
        let Some((_, last, _)) = self.deferred.last() else {
            return Ok(());
        };
        let last = last.clone();
        self.commit(RecordWrite::Nothing)
            .await
            .map(drop)
            .map_err(|error| self.error(&last, None, StepFailure::Store(error)))
    }

    /// Journals durably that an effect is about to act; the crash
    /// failpoint may fire right after (the effect is then in flight).
    async fn intend(&mut self, step: &Step) -> Result<(), StoreError> {
        self.record(step, None, now(), StepOutcome::Intended, None);
        if let Err(error) = self.commit(RecordWrite::Nothing).await {
            self.steps.pop();
            return Err(error);
        }
        if self.workflow != Workflow::Recovery {
            failpoint::step_boundary(&format_args!("{step} (intent journaled)"));
        }
        Ok(())
    }

    /// Runs one internal or effect step, journaling its timing and
    /// outcome, and an effect's intent before it acts.
    async fn step<T, E: Into<StepFailure>>(
        &mut self,
        step: Step,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, WorkflowError> {
        debug_assert!(matches!(step.kind(), StepKind::Internal | StepKind::Effect), "{step}");
        self.boundary(&step, None)?;
        if step.kind() == StepKind::Effect
            && self.intents
            && let Err(error) = self.intend(&step).await
        {
            return Err(self.failure(&step, None, StepFailure::Store(error)));
        }
        let started = now();
        match work.await {
            Ok(value) => {
                self.record(&step, None, started, StepOutcome::Succeeded, None);
                Ok(value)
            }
            Err(error) => {
                let cause = error.into();
                self.record(&step, None, started, StepOutcome::Failed, Some(cause.to_string()));
                Err(self.error(&step, None, cause))
            }
        }
    }

    /// Writes a record as a step, committed with its journal entry and
    /// every entry not stored yet.
    async fn write(&mut self, step: Step, write: RecordWrite) -> Result<Written, WorkflowError> {
        self.boundary(&step, None)?;
        self.commit_step(step, write).await
    }

    /// [`Run::write`] without the step boundary: for what must be stored
    /// even when the run is cancelled (a held removal).
    async fn commit_step(&mut self, step: Step, write: RecordWrite) -> Result<Written, WorkflowError> {
        debug_assert_eq!(step.kind(), StepKind::Record, "{step}");
        let started = now();
        self.record(&step, None, started, StepOutcome::Succeeded, None);
        match self.commit(write).await {
            Ok(written) => Ok(written),
            Err(error) => {
                self.steps.pop();
                let cause = StepFailure::Store(error);
                self.record(&step, None, started, StepOutcome::Failed, Some(cause.to_string()));
                Err(self.error(&step, None, cause))
            }
        }
    }

    /// Writes several records, one step each, committed in one transaction
    /// with their journal entries and every entry not stored yet: all are
    /// stored, or none. Each step is a boundary, passed before anything is
    /// written; a failed commit is told as the first step's. No writes,
    /// no commit.
    async fn write_all(&mut self, writes: Vec<(Step, RecordWrite)>) -> Result<Vec<Written>, WorkflowError> {
        let Some((first, _)) = writes.first() else {
            return Ok(Vec::new());
        };
        let first = first.clone();
        for (step, _) in &writes {
            debug_assert_eq!(step.kind(), StepKind::Record, "{step}");
            self.boundary(step, None)?;
        }
        let (steps, writes): (Vec<Step>, Vec<RecordWrite>) = writes.into_iter().unzip();
        let started = now();
        for step in &steps {
            self.record(step, None, started, StepOutcome::Succeeded, None);
        }
        match self.commit(RecordWrite::All(writes)).await.and_then(Written::into_all) {
            Ok(written) => Ok(written),
            Err(error) => {
                self.steps.truncate(self.stored.max(self.steps.len() - steps.len()));
                let cause = StepFailure::Store(error);
                self.record(&first, None, started, StepOutcome::Failed, Some(cause.to_string()));
                Err(self.error(&first, None, cause))
            }
        }
    }

    /// Writes a service record as a step (see [`Run::write`]).
    async fn write_ns(&mut self, step: Step, write: RecordWrite) -> Result<NsRecord, WorkflowError> {
        let written = self.write(step.clone(), write).await?;
        written
            .into_ns()
            .map_err(|error| self.error(&step, None, StepFailure::Store(error)))
    }

    /// Writes a VNF record as a step (see [`Run::write`]).
    async fn write_vnf(&mut self, step: Step, write: RecordWrite) -> Result<VnfRecord, WorkflowError> {
        let written = self.write(step.clone(), write).await?;
        written
            .into_vnf()
            .map_err(|error| self.error(&step, None, StepFailure::Store(error)))
    }

    /// A VNF record write as a step, stored with the run's next durable
    /// write (an effect's intent, a record write, the run's end) rather
    /// than one commit of its own; returns the record it will store. What a
    /// crash can lose with it is what it recorded since that write: the
    /// outcome of hooks, which are pure, and of effects whose intent is
    /// journaled (units nobody records are removed when the orchestrator
    /// starts) or that do not outlive the process.
    fn write_vnf_later(&mut self, step: Step, write: RecordWrite) -> Result<VnfRecord, WorkflowError> {
        debug_assert_eq!(step.kind(), StepKind::Record, "{step}");
        self.boundary(&step, None)?;
        let Some(stored) = write.stored_vnf() else {
            let cause = StepFailure::Store(StoreError::Backend(format!("not a VNF record write: {write:?}")));
            return Err(self.failure(&step, None, cause));
        };
        self.record(&step, None, now(), StepOutcome::Succeeded, None);
        self.deferred.push((self.steps.len() - 1, step, write));
        Ok(stored)
    }

    /// Runs one hook as a step. An SSM event is for the run's service; an
    /// FSM event for the VNF instance `vnf_instance`.
    async fn hook(
        &mut self,
        step: Step,
        manager: &Arc<dyn SpecificManager>,
        event: Event,
        content: &(impl Serialize + ?Sized),
        vnf_instance: Option<&str>,
    ) -> Result<Reply, WorkflowError> {
        self.hook_request(step, manager, event, Request::of(event, content), vnf_instance)
            .await
    }

    /// [`Run::hook`] with its request built already (or not: `request`'s
    /// error fails the step).
    async fn hook_request(
        &mut self,
        step: Step,
        manager: &Arc<dyn SpecificManager>,
        event: Event,
        request: Result<Request, RequestError>,
        vnf_instance: Option<&str>,
    ) -> Result<Reply, WorkflowError> {
        debug_assert_eq!(step.kind(), StepKind::Hook, "{step}");
        self.boundary(&step, Some(manager.id()))?;
        let started = now();
        let mut call = HookCall {
            manager: manager.id(),
            event: Some(event),
            seed: None,
        };
        let outcome = match request {
            Ok(request) => {
                call.seed = Some(request.seed());
                let recording = self
                    .recorder
                    .clone()
                    .map(|log| (log, request.content_json().to_owned(), request.seed()));
                let request = request
                    .interruptible(Arc::clone(&self.interrupted))
                    .for_instance(vnf_instance.unwrap_or(&self.service));
                let invoked = manager.invoke(request).await;
                if let Some((log, request, seed)) = recording {
                    let call = RecordedCall::of(manager, event, seed, request, &invoked);
                    self.keep_call(log, call).await;
                }
                invoked.map_err(StepFailure::Hook)
            }
            Err(error) => Err(StepFailure::Request(format!("{event}: {error}"))),
        };
        match outcome {
            Ok(reply) => {
                self.record(&step, Some(call), started, StepOutcome::Succeeded, None);
                Ok(reply)
            }
            Err(cause) => {
                self.record(&step, Some(call), started, StepOutcome::Failed, Some(cause.to_string()));
                Err(self.error(&step, Some(manager.id()), cause))
            }
        }
    }

    /// Records a hook call of a service that records them: a failure is
    /// logged, and the run goes on.
    async fn keep_call(&self, log: Arc<CallLog>, mut call: RecordedCall) {
        call.service_id.clone_from(&self.service);
        call.operation_id.clone_from(&self.operation);
        let recorded = wasmano_host::run_blocking(move || log.record(&call)).await;
        match recorded {
            Some(Ok(())) => {}
            Some(Err(error)) => tracing::warn!(service = %self.service, "cannot record a hook call: {error}"),
            None => tracing::warn!(service = %self.service, "recording a hook call panicked"),
        }
    }

    /// Releases what `managers` keep for an instance that has ended (the
    /// service, or the VNF instance `vnf_instance`): best effort, since the
    /// instance is gone whatever happens, and journaled per manager that
    /// keeps anything ([`SpecificManager::keeps_instances`]).
    async fn release(&mut self, step: Step, managers: Vec<Arc<dyn SpecificManager>>, vnf_instance: Option<&str>) {
        debug_assert_eq!(step.kind(), StepKind::Effect, "{step}");
        let instance = vnf_instance.map_or_else(|| self.service.clone(), str::to_owned);
        for manager in managers.iter().filter(|manager| manager.keeps_instances()) {
            if self.workflow != Workflow::Recovery {
                failpoint::step_boundary(&step);
            }
            if self.intents
                && let Err(error) = self.intend(&step).await
            {
                tracing::error!("cannot journal the intent of {step}: {error}");
            }
            let started = now();
            let error = manager.release(&instance).await.err();
            self.record_best_effort(&step, manager.id(), started, error);
        }
    }

    /// Records a best-effort step a manager took part in: a failure is
    /// logged and recorded, and the run goes on.
    fn record_best_effort(
        &mut self,
        step: &Step,
        manager: &str,
        started: (SystemTime, Instant),
        error: Option<String>,
    ) {
        if let Some(error) = &error {
            tracing::warn!(manager, service = %self.service, "{step} failed: {error}");
        }
        let outcome = if error.is_some() {
            StepOutcome::Failed
        } else {
            StepOutcome::Succeeded
        };
        let call = HookCall {
            manager,
            event: None,
            seed: None,
        };
        self.record(step, Some(call), started, outcome, error);
    }

    /// Sends a manager a one-way message where 5GTANGO sent one
    /// ([`SpecificManager::notify`]), if it is one that hears them
    /// ([`SpecificManager::keeps_instances`]: a legacy manager); best
    /// effort, as 5GTANGO's notifications were.
    async fn notify(&mut self, step: Step, manager: &Arc<dyn SpecificManager>, event: Event, content: &Value) {
        if !manager.keeps_instances() {
            return;
        }
        let started = now();
        let error = manager.notify(&self.service, event, content).await.err();
        self.record_best_effort(&step, manager.id(), started, error);
    }

    /// Undoes an effect, best effort (undo must go on past failures): its
    /// intent journaled when the store allows, then its outcome. Returns
    /// why it failed, when it did.
    async fn undo_effect<E: fmt::Display>(
        &mut self,
        step: Step,
        work: impl Future<Output = Result<(), E>>,
    ) -> Option<String> {
        debug_assert_eq!(step.kind(), StepKind::Effect, "{step}");
        if self.intents
            && let Err(error) = self.intend(&step).await
        {
            tracing::error!("cannot journal the intent of {step}: {error}");
        }
        let started = now();
        let error = work.await.err().map(|error| error.to_string());
        self.undone(&step, started, error.clone());
        error
    }

    /// Undoes a record write, best effort, committed with the journal
    /// entries not stored yet.
    async fn undo_write(&mut self, step: Step, write: RecordWrite) -> Option<Written> {
        debug_assert_eq!(step.kind(), StepKind::Record, "{step}");
        let started = now();
        self.record(&step, None, started, StepOutcome::RolledBack, None);
        match self.commit(write).await {
            Ok(written) => Some(written),
            Err(error) => {
                self.steps.pop();
                self.undone(&step, started, Some(error.to_string()));
                None
            }
        }
    }

    /// Journals an undo action.
    fn undone(&mut self, step: &Step, started: (SystemTime, Instant), error: Option<String>) {
        let outcome = if error.is_some() {
            StepOutcome::Failed
        } else {
            StepOutcome::RolledBack
        };
        self.record(step, None, started, outcome, error);
    }
}

fn now() -> (SystemTime, Instant) {
    (SystemTime::now(), Instant::now())
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Orchestrator {
    /// An orchestrator deploying on `infrastructure`, remembering in `store`,
    /// placing by `placement` when a service has no placement manager (its
    /// fixed mappings keyed by the NSD's `vnf_id`; its blacklist applies to
    /// placement managers too).
    pub fn new(
        infrastructure: Arc<dyn Infrastructure>,
        store: Arc<dyn RecordStore>,
        placement: PlacementOptions,
    ) -> Self {
        Self {
            infrastructure,
            store,
            placement,
            services: Mutex::new(HashMap::new()),
            busy: Arc::new(Mutex::new(HashMap::new())),
            reservations: Arc::new(Reservations::default()),
            committed: tokio::sync::broadcast::channel(COMMITTED_STEPS_BUFFER).0,
        }
    }

    /// The steps of operations' runs from now on, each time a durable write
    /// of a run stores some (hooks' steps go with the next write): a run
    /// can be followed while it goes, not only once it ended.
    pub fn committed_steps(&self) -> tokio::sync::broadcast::Receiver<CommittedSteps> {
        self.committed.subscribe()
    }

    /// Whether the orchestrator runs the service (it has deployed units
    /// it answers for).
    pub fn runs(&self, service_id: &str) -> bool {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(service_id)
    }

    /// How services are placed unless their instantiation says otherwise.
    pub fn placement(&self) -> &PlacementOptions {
        &self.placement
    }

    /// Runs `task` on service `service_id`, journaling its steps under
    /// `operation` when the run belongs to an operation occurrence.
    pub async fn run(
        &self,
        service_id: &str,
        operation: Option<&str>,
        task: Task,
    ) -> Result<WorkflowReport, WorkflowError> {
        self.run_with(service_id, &RunContext::new(operation, FailurePolicy::Undo), task)
            .await
    }

    /// Runs `task` for `context`: [`RunContext::cancel`] stops it at the
    /// next step boundary, keeping what it did.
    pub async fn run_with(
        &self,
        service_id: &str,
        context: &RunContext,
        task: Task,
    ) -> Result<WorkflowReport, WorkflowError> {
        match task {
            Task::Instantiate { template, placement } => {
                let placement = Arc::new(placement.unwrap_or_else(|| self.placement.clone()));
                self.run_instantiate(service_id, context, template, placement).await
            }
            Task::ScaleOut { vnf_id } => self.run_scale_out(service_id, context, &vnf_id).await,
            Task::ScaleIn { vnf_instance_id } => self.run_scale_in(service_id, context, &vnf_instance_id).await,
            Task::Migrate {
                vnf_instance_id,
                target_vim,
            } => {
                self.run_migrate(service_id, context, &vnf_instance_id, &target_vim)
                    .await
            }
            Task::Reconfigure {
                reconfiguration_payload,
            } => {
                self.run_reconfigure(service_id, context, reconfiguration_payload.as_ref())
                    .await
            }
            Task::Terminate { force } => self.run_terminate(service_id, context, force).await,
            Task::ChangeManager {
                template,
                manager_id,
                vnf_id,
                handover,
            } => {
                let change = ManagerChangeTask {
                    template,
                    manager_id,
                    vnf_id,
                    handover,
                };
                self.run_change_manager(service_id, context, change).await
            }
        }
    }

    /// Instantiates a new service (see [`Task::Instantiate`]).
    pub async fn instantiate(&self, template: Arc<ServiceTemplate>) -> Result<WorkflowReport, WorkflowError> {
        let task = Task::Instantiate {
            template,
            placement: None,
        };
        self.run(&new_id(), None, task).await
    }

    /// Adds an instance of VNF `vnf_id` (see [`Task::ScaleOut`]).
    pub async fn scale_out(&self, service_id: &str, vnf_id: &str) -> Result<WorkflowReport, WorkflowError> {
        let vnf_id = vnf_id.to_owned();
        self.run(service_id, None, Task::ScaleOut { vnf_id }).await
    }

    /// Removes a VNF instance (see [`Task::ScaleIn`]).
    pub async fn scale_in(&self, service_id: &str, vnf_instance_id: &str) -> Result<WorkflowReport, WorkflowError> {
        let vnf_instance_id = vnf_instance_id.to_owned();
        self.run(service_id, None, Task::ScaleIn { vnf_instance_id }).await
    }

    /// Moves a VNF instance to another VIM (see [`Task::Migrate`]).
    pub async fn migrate(
        &self,
        service_id: &str,
        vnf_instance_id: &str,
        target_vim: &str,
    ) -> Result<WorkflowReport, WorkflowError> {
        let task = Task::Migrate {
            vnf_instance_id: vnf_instance_id.to_owned(),
            target_vim: target_vim.to_owned(),
        };
        self.run(service_id, None, task).await
    }

    /// Configures the VNFs again (see [`Task::Reconfigure`]).
    pub async fn reconfigure(&self, service_id: &str) -> Result<WorkflowReport, WorkflowError> {
        let task = Task::Reconfigure {
            reconfiguration_payload: None,
        };
        self.run(service_id, None, task).await
    }

    /// Terminates a service, stopping at a failing FSM stop (see
    /// [`Task::Terminate`]).
    pub async fn terminate(&self, service_id: &str) -> Result<WorkflowReport, WorkflowError> {
        self.run(service_id, None, Task::Terminate { force: false }).await
    }

    /// Rebuilds service `service_id` from its records after a restart, its
    /// units adopted by the infrastructure (capacity ledgers count them
    /// again). VNF instances that a run deployed but never listed in the
    /// NSR (the run was interrupted before its commit point) are removed
    /// and marked failed, as the run's own failure would have done; so is
    /// everything of a service whose instantiation never finished, and its
    /// NSR is marked failed. The steps are journaled under `operation`, the
    /// interrupted operation, when there is one.
    pub async fn recover(
        &self,
        service_id: &str,
        operation: Option<&str>,
        template: Arc<ServiceTemplate>,
        placement: Option<PlacementOptions>,
        plan: RecoveryPlan,
    ) -> Result<Recovery, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::Recovery)?;
        let mut run = Run::new(
            service_id,
            Workflow::Recovery,
            &RunContext::new(operation, FailurePolicy::Undo),
            self,
        );
        let outcome = self.rebuild(&mut run, service_id, template, placement, plan).await;
        match outcome {
            Ok((state, running, removed)) => {
                if running {
                    self.put(service_id, state.clone());
                } else {
                    self.forget(service_id);
                }
                let steps = run.steps.clone();
                let nsr = state.nsr;
                if let Err(error) = self.journal(run).await {
                    tracing::error!("{error}");
                }
                Ok(Recovery {
                    nsr,
                    running,
                    removed,
                    steps,
                })
            }
            Err(error) => Err(self.fail(run, error).await),
        }
    }

    async fn rebuild(
        &self,
        run: &mut Run,
        service_id: &str,
        template: Arc<ServiceTemplate>,
        placement: Option<PlacementOptions>,
        plan: RecoveryPlan,
    ) -> Result<(ServiceState, bool, Vec<String>), WorkflowError> {
        let nsr = run.step(Step::ReadNsr, self.store.ns(service_id)).await?;
        let vnfrs = run.step(Step::ReadVnfrs, self.store.vnfs_of(service_id)).await?;
        let mut live = Vec::new();
        // Terminated and failed instances were removed by the run that so
        // marked them.
        let gone = |status: Status| matches!(status, Status::Terminated | Status::Failed);
        for record in vnfrs.into_iter().filter(|record| !gone(record.status)) {
            let instance = restored_instance(&template, service_id, record)
                .map_err(|reason| run.failure(&Step::ReadVnfrs, None, StepFailure::Reply(reason)))?;
            live.push(instance);
        }
        // The NSR's order, unlisted instances last.
        live.sort_by_key(|vnf| {
            nsr.network_functions
                .iter()
                .position(|id| *id == vnf.record.id)
                .unwrap_or(usize::MAX)
        });
        let units: Vec<DeployedUnit> = live.iter().flat_map(|vnf| vnf.units.clone()).collect();
        run.step(Step::AdoptUnits, self.infrastructure.adopt(units)).await?;
        let in_operation = matches!(nsr.status, Status::NormalOperation | Status::DegradedOperation);
        let (kept, orphans): (Vec<VnfInstance>, Vec<VnfInstance>) = live.into_iter().partition(|vnf| match &plan {
            RecoveryPlan::AsRecorded => in_operation && nsr.network_functions.contains(&vnf.record.id),
            RecoveryPlan::RollBackTo(before) => in_operation && before.contains(&vnf.record.id),
            RecoveryPlan::KeepEverything => true,
        });
        let running = match plan {
            RecoveryPlan::AsRecorded => in_operation,
            RecoveryPlan::RollBackTo(_) => in_operation && !kept.is_empty(),
            RecoveryPlan::KeepEverything => in_operation || !kept.is_empty(),
        };
        let removed = orphans.iter().map(|vnf| vnf.record.id.clone()).collect();
        self.remove_vnfs(run, &template, orphans, Status::Failed).await;
        let mut state = ServiceState {
            template,
            placement: Arc::new(placement.unwrap_or_else(|| self.placement.clone())),
            nsr,
            vnfs: kept,
        };
        if plan == RecoveryPlan::KeepEverything {
            // As it was left, for a person to decide.
        } else if running {
            let listed: Vec<&String> = state.vnfs.iter().map(|vnf| &vnf.record.id).collect();
            if state.nsr.network_functions.iter().collect::<Vec<_>>() != listed {
                self.update_nsr(run, &mut state).await?;
            }
        } else if !gone(state.nsr.status) {
            let failed = NsRecord {
                status: Status::Failed,
                network_functions: Vec::new(),
                ..state.nsr.clone()
            };
            state.nsr = run.write_ns(Step::MarkNsrFailed, RecordWrite::UpdateNs(failed)).await?;
        }
        Ok((state, running, removed))
    }

    /// The services running, by id.
    pub fn service_ids(&self) -> Vec<String> {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    fn claim(&self, service: &str, workflow: Workflow) -> Result<BusyGuard, WorkflowError> {
        // The maps are only ever changed whole under their lock, so a
        // poisoned lock still guards consistent data.
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = busy.get(service) {
            return Err(WorkflowError::Busy {
                service: service.to_owned(),
                workflow,
                running: *running,
            });
        }
        busy.insert(service.to_owned(), workflow);
        Ok(BusyGuard {
            busy: Arc::clone(&self.busy),
            service: service.to_owned(),
        })
    }

    /// The template a running service runs: its managers are the ones
    /// holding what runs for it (a legacy manager's programs).
    pub fn running_template(&self, service: &str) -> Option<Arc<ServiceTemplate>> {
        let services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        services.get(service).map(|state| Arc::clone(&state.template))
    }

    fn take(&self, service: &str) -> Result<ServiceState, WorkflowError> {
        let services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        services
            .get(service)
            .cloned()
            .ok_or_else(|| WorkflowError::UnknownService(service.to_owned()))
    }

    fn put(&self, service: &str, state: ServiceState) {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.to_owned(), state);
    }

    fn forget(&self, service: &str) {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(service);
    }

    /// Journals the run and reports it.
    async fn finish(&self, run: Run, state: &ServiceState) -> Result<WorkflowReport, WorkflowError> {
        debug_assert!(run.deferred.is_empty(), "a run ended with record writes not stored");
        let report = WorkflowReport {
            service_id: run.service.clone(),
            workflow: run.workflow,
            steps: run.steps.clone(),
            nsr: state.nsr.clone(),
            vnfrs: state.vnfs.iter().map(|vnf| vnf.record.clone()).collect(),
        };
        // The workflow is done; a journal that cannot be written is logged,
        // not turned into a failure of work that already happened.
        if let Err(error) = self.journal(run).await {
            tracing::error!("{error}");
        }
        Ok(report)
    }

    async fn journal(&self, mut run: Run) -> Result<(), WorkflowError> {
        if run.stored == run.steps.len() && run.deferred.is_empty() {
            return Ok(());
        }
        let (service, workflow) = (run.service.clone(), run.workflow);
        let steps = run.steps[run.stored..].to_vec();
        run.store_with_deferred(RecordWrite::Nothing, steps)
            .await
            .map(drop)
            .map_err(|error| WorkflowError::Step {
                service,
                workflow,
                step: "journal".into(),
                manager: None,
                cause: Box::new(StepFailure::Store(error)),
                undone: false,
            })
    }

    /// Journals a failed run and hands back its error.
    async fn fail(&self, run: Run, error: WorkflowError) -> WorkflowError {
        match self.journal(run).await {
            Ok(()) => error,
            Err(journal_error) => {
                tracing::error!("{journal_error}");
                error
            }
        }
    }

    /// Instantiates a service: records, topology, placement, deployment, FSM
    /// start (envs into containers), configure, NSR in normal operation. On
    /// failure everything deployed is removed and the records say failed.
    async fn run_instantiate(
        &self,
        service_id: &str,
        context: &RunContext,
        template: Arc<ServiceTemplate>,
        placement: Arc<PlacementOptions>,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::Instantiate)?;
        let mut run = Run::new(service_id, Workflow::Instantiate, context, self);
        let kept = if context.resume {
            self.take(service_id).ok()
        } else {
            None
        };
        let (mut state, missing) = match kept {
            Some(state) => {
                // What the failed run left is this run's to undo.
                run.compensate_with(Compensation::FailService);
                for vnf in &state.vnfs {
                    run.compensate_with(Compensation::RemoveInstance {
                        instance_id: vnf.record.id.clone(),
                    });
                }
                let missing = (0..state.template.vnfs.len())
                    .filter(|index| !state.vnfs.iter().any(|vnf| vnf.template == *index))
                    .collect();
                (state, missing)
            }
            None => {
                let nsr = NsRecord {
                    id: service_id.to_owned(),
                    descriptor_reference: template.nsd_reference.clone(),
                    descriptor_version: template.nsd_version.clone(),
                    status: Status::Offline,
                    version: 0,
                    network_functions: Vec::new(),
                    link_vims: BTreeMap::new(),
                };
                let nsr = match self.fresh_nsr(&mut run, nsr).await {
                    Ok(nsr) => nsr,
                    Err(error) => return Err(self.fail(run, error).await),
                };
                let all: Vec<usize> = (0..template.vnfs.len()).collect();
                let state = ServiceState {
                    template,
                    placement,
                    nsr,
                    vnfs: Vec::new(),
                };
                (state, all)
            }
        };
        let outcome = async {
            let phases = self.schedule(&mut run, &state).await?;
            if !missing.is_empty() {
                self.add_vnfs(&mut run, &mut state, &missing).await?;
            }
            for phase in phases {
                match phase {
                    Phase::StartFsms => self.start_offline(&mut run, &mut state).await?,
                    Phase::Configure => self.configure(&mut run, &mut state, Configuring::Deployment).await?,
                }
            }
            self.settle(&mut run, &mut state).await
        }
        .await;
        if outcome.is_ok()
            && let Some(manager) = manager_for(&state.template.ssms, SsmEvent::Monitor)
        {
            let content = payload::monitoring_started(&state.template, &state.nsr, &state.members());
            run.notify(Step::StartMonitoring, manager, Event::Ssm(SsmEvent::Monitor), &content)
                .await;
        }
        self.end(run, service_id, state, outcome).await
    }

    async fn run_change_manager(
        &self,
        service_id: &str,
        context: &RunContext,
        change: ManagerChangeTask,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::ChangeManager)?;
        let mut state = self.take(service_id)?;
        let mut run = Run::new(service_id, Workflow::ChangeManager, context, self);
        let mut outcome = Ok(());
        if let Some(handover) = &change.handover {
            // The instances the manager serves: the service, or each live
            // instance of its VNF.
            let instances: Vec<String> = match &change.vnf_id {
                None => vec![service_id.to_owned()],
                Some(vnf_id) => state
                    .vnfs
                    .iter()
                    .filter(|vnf| state.template.vnfs[vnf.template].vnf_id == *vnf_id)
                    .map(|vnf| vnf.record.id.clone())
                    .collect(),
            };
            let step = Step::HandOverManager {
                manager: change.manager_id.clone(),
            };
            outcome = run
                .step(step, async {
                    handover.hand_over(&instances).await.map_err(StepFailure::Handover)
                })
                .await;
        }
        if outcome.is_ok() {
            let step = Step::ChangeManager {
                manager: change.manager_id.clone(),
            };
            outcome = run.step(step, std::future::ready(Ok::<_, StepFailure>(()))).await;
        }
        // The old manager serves on when the change failed: there is
        // nothing to undo.
        if outcome.is_ok() {
            state.template = change.template;
        }
        self.end(run, service_id, state, outcome).await
    }

    /// Hands monitoring data about a running service to its monitor manager
    /// (5GTANGO's SSM `monitor`) and returns the workflows the manager asks
    /// for; `None` when the service declares no monitor manager. The call
    /// is journaled (workflow `monitor`). It reads the service without
    /// holding it: the hook is pure, so it may run beside a workflow.
    pub async fn monitor(
        &self,
        service_id: &str,
        content: &Value,
    ) -> Result<Option<Vec<WorkflowRequest>>, WorkflowError> {
        let template = self.take(service_id)?.template;
        let Some(manager) = manager_for(&template.ssms, SsmEvent::Monitor) else {
            return Ok(None);
        };
        let mut run = Run::new(service_id, Workflow::Monitor, &RunContext::default(), self);
        let reply = match run
            .hook(Step::SsmMonitor, manager, Event::Ssm(SsmEvent::Monitor), content, None)
            .await
        {
            Ok(reply) => reply,
            Err(error) => return Err(self.fail(run, error).await),
        };
        let Reply::Workflows(requests) = reply else {
            let error = run.failure(
                &Step::SsmMonitor,
                Some(manager.id()),
                StepFailure::Reply("not a list of workflows".into()),
            );
            return Err(self.fail(run, error).await);
        };
        self.journal(run).await?;
        Ok(Some(requests))
    }

    /// Stores the NSR of an instantiation: a new one, or the service's
    /// earlier one when it was terminated or failed (an NS instance is
    /// instantiated again under its id).
    async fn fresh_nsr(&self, run: &mut Run, nsr: NsRecord) -> Result<NsRecord, WorkflowError> {
        let write = match self.store.ns(&nsr.id).await {
            Err(StoreError::NotFound { .. }) => RecordWrite::CreateNs(nsr),
            Ok(earlier) if matches!(earlier.status, Status::Terminated | Status::Failed) => {
                RecordWrite::UpdateNs(NsRecord {
                    version: earlier.version,
                    ..nsr
                })
            }
            Ok(earlier) => {
                let cause = StepFailure::Inconsistent(format!(
                    "service {} already has a record in status {}",
                    earlier.id, earlier.status
                ));
                return Err(run.failure(&Step::StoreNsr, None, cause));
            }
            Err(error) => return Err(run.failure(&Step::StoreNsr, None, error.into())),
        };
        let nsr = run.write_ns(Step::StoreNsr, write).await?;
        run.compensate_with(Compensation::FailService);
        Ok(nsr)
    }

    /// Adds one instance of the VNF `vnf_id` to a running service: placement,
    /// deployment, FSM start, NSR update, then configure when the service has
    /// a configure manager. On failure the new instance is removed.
    async fn run_scale_out(
        &self,
        service_id: &str,
        context: &RunContext,
        vnf_id: &str,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::ScaleOut)?;
        let mut state = self.take(service_id)?;
        let Some(index) = state.template.vnfs.iter().position(|vnf| vnf.vnf_id == vnf_id) else {
            return Err(WorkflowError::Rejected {
                service: service_id.to_owned(),
                workflow: Workflow::ScaleOut,
                reason: format!("the service has no VNF {vnf_id:?}"),
            });
        };
        let mut run = Run::new(service_id, Workflow::ScaleOut, context, self);
        // Resuming, the instance the failed run added is the one of this
        // VNF not in operation yet (settling is the scale-out's last step),
        // listed by the NSR or not.
        let kept: HashSet<String> = state
            .vnfs
            .iter()
            .filter(|vnf| context.resume && vnf.template == index && vnf.record.status != Status::NormalOperation)
            .map(|vnf| vnf.record.id.clone())
            .collect();
        let existing: HashSet<String> = state
            .vnfs
            .iter()
            .map(|vnf| vnf.record.id.clone())
            .filter(|id| !kept.contains(id))
            .collect();
        // What the failed run left is this run's to undo.
        for id in &kept {
            run.compensate_with(Compensation::RemoveInstance {
                instance_id: id.clone(),
            });
        }
        if state.nsr.network_functions.iter().any(|id| kept.contains(id)) {
            run.compensate_with(Compensation::RestoreListing {
                network_functions: state
                    .nsr
                    .network_functions
                    .iter()
                    .filter(|id| !kept.contains(*id))
                    .cloned()
                    .collect(),
                status: state.nsr.status,
            });
        }
        let resumed = !kept.is_empty();
        let outcome = async {
            if !resumed {
                self.add_vnfs(&mut run, &mut state, &[index]).await?;
            }
            self.start_offline(&mut run, &mut state).await?;
            self.update_nsr(&mut run, &mut state).await?;
            let added: Vec<String> = state
                .vnfs
                .iter()
                .filter(|vnf| !existing.contains(&vnf.record.id))
                .map(|vnf| vnf.record.id.clone())
                .collect();
            self.scale_fsms(&mut run, &mut state, index, "out", &added, &[]).await?;
            if manager_for(&state.template.ssms, SsmEvent::Configure).is_some() {
                self.configure(&mut run, &mut state, Configuring::Deployment).await?;
            }
            self.settle(&mut run, &mut state).await
        }
        .await;
        self.end(run, service_id, state, outcome).await
    }

    /// Removes a VNF instance from a running service and updates its NSR.
    async fn run_scale_in(
        &self,
        service_id: &str,
        context: &RunContext,
        vnf_instance_id: &str,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::ScaleIn)?;
        let mut state = self.take(service_id)?;
        let mut run = Run::new(service_id, Workflow::ScaleIn, context, self);
        // Scaling in again an instance already removed (a retry after a
        // crash) has nothing left to do.
        if !state.vnfs.iter().any(|vnf| vnf.record.id == vnf_instance_id)
            && let Ok(record) = self.store.vnf(vnf_instance_id).await
            && record.service_id == service_id
            && record.status == Status::Terminated
        {
            let outcome = self.update_nsr(&mut run, &mut state).await;
            return self.end(run, service_id, state, outcome).await;
        }
        let position = self.instance_position(&state, service_id, vnf_instance_id, Workflow::ScaleIn)?;
        let outcome = async {
            // The instance leaves the service only once it is removed; a
            // failed removal keeps it, to be retried (removal is idempotent).
            self.remove_vnf(&mut run, &state.template, state.vnfs[position].clone())
                .await?;
            let removed = state.vnfs.remove(position);
            self.update_nsr(&mut run, &mut state).await?;
            self.scale_fsms(
                &mut run,
                &mut state,
                removed.template,
                "in",
                &[],
                &[removed.record.id.as_str()],
            )
            .await
        }
        .await;
        self.end(run, service_id, state, outcome).await
    }

    /// Moves a VNF instance to another VIM: a new instance is deployed and
    /// started there; when the service has a state manager, the old
    /// instance's state is extracted, transformed and injected into the new
    /// one; the NSR then names the new instance instead of the old one (the
    /// commit point); the old instance is retired ([`Orchestrator::retire`]).
    /// A target equal to the current VIM is refused. Before the commit point
    /// a failure removes the new instance and the old one stays (or both
    /// stay, when the run keeps its failures); past it nothing is undone.
    ///
    /// Resumed ([`RunContext::resuming`]), it carries on from what the
    /// failed run kept: past the commit point only the old instance's
    /// retirement is left; before it, the new instance the run deployed (of
    /// this VNF, not listed by the NSR) is started again instead of
    /// deploying another.
    async fn run_migrate(
        &self,
        service_id: &str,
        context: &RunContext,
        vnf_instance_id: &str,
        target_vim: &str,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::Migrate)?;
        let mut state = self.take(service_id)?;
        let committed = context.resume && !state.nsr.network_functions.iter().any(|id| id == vnf_instance_id);
        let mut run = Run::new(service_id, Workflow::Migrate, context, self);
        if committed {
            run.commit_point();
        } else {
            let position = self.instance_position(&state, service_id, vnf_instance_id, Workflow::Migrate)?;
            if state.vnfs[position].vim_id() == Some(target_vim) {
                return Err(WorkflowError::Rejected {
                    service: service_id.to_owned(),
                    workflow: Workflow::Migrate,
                    reason: format!("VNF {vnf_instance_id} already runs on VIM {target_vim}"),
                });
            }
            let template = state.vnfs[position].template;
            let listed = |vnf: &VnfInstance| state.nsr.network_functions.contains(&vnf.record.id);
            let kept = state
                .vnfs
                .iter()
                .position(|vnf| context.resume && vnf.template == template && !listed(vnf));
            if let Some(kept) = kept {
                // What the failed run left is this run's to undo.
                run.compensate_with(Compensation::RemoveInstance {
                    instance_id: state.vnfs[kept].record.id.clone(),
                });
            }
            let outcome = self.move_vnf(&mut run, &mut state, position, kept, target_vim).await;
            if outcome.is_err() {
                return self.end(run, service_id, state, outcome).await;
            }
        }
        let finished = async {
            // Still in the service until retired (after a restart, recovery
            // has already removed it).
            if let Some(position) = state.vnfs.iter().position(|vnf| vnf.record.id == vnf_instance_id) {
                self.retire(&mut run, &state.template, state.vnfs[position].clone())
                    .await?;
                state.vnfs.remove(position);
            }
            self.settle(&mut run, &mut state).await
        }
        .await;
        self.end(run, service_id, state, finished).await
    }

    /// A migration up to its commit point: the VNF instance at `position`
    /// gets a new instance on `target_vim` (the one at `kept`, when a failed
    /// run left it), started, given the old one's state, and named by the
    /// NSR instead of the old one.
    async fn move_vnf(
        &self,
        run: &mut Run,
        state: &mut ServiceState,
        position: usize,
        kept: Option<usize>,
        target_vim: &str,
    ) -> Result<(), WorkflowError> {
        let template = state.vnfs[position].template;
        let templates = Arc::clone(&state.template);
        let vnf = &templates.vnfs[template];
        let new_position = match kept {
            Some(kept) => kept,
            None => {
                // The target must qualify as placement would require: kind,
                // labels, capacity, not blacklisted.
                let new_id = new_id();
                let vims = run.step(Step::Topology, self.available_vims()).await?;
                let offered: Vec<LabelledVim> = vims
                    .iter()
                    .filter(|vim| !state.placement.blacklist.contains(&vim.config.id))
                    .map(labelled)
                    .collect();
                let moving = VnfToPlace {
                    id: new_id.clone(),
                    demand: vnf.demand(),
                    required_labels: vnf.required_labels.clone(),
                };
                let target = [VnfPlacement {
                    vnf: new_id.clone(),
                    vim: target_vim.to_owned(),
                }];
                let check = placement::validate_mapping(&target, &[moving], &offered);
                run.step(Step::ValidateTarget, std::future::ready(check)).await?;
                let claims = vec![claim(vnf, target_vim)];
                let reserved = run
                    .step(
                        Step::ReserveCapacity,
                        self.reservations.reserve(self.infrastructure.as_ref(), claims),
                    )
                    .await?;
                let new = self.deploy_vnf(run, state, template, &new_id, target_vim).await?;
                drop(reserved);
                state.vnfs.push(new);
                state.vnfs.len() - 1
            }
        };
        self.start_vnf(run, state, new_position).await?;
        if let Some(ssm) = manager_for(&state.template.ssms, SsmEvent::State).cloned() {
            let extract = Step::FsmStateExtract {
                vnf: vnf.vnf_id.clone(),
            };
            let fsm = manager_for(&vnf.fsms, FsmEvent::State).cloned().ok_or_else(|| {
                run.failure(
                    &extract,
                    None,
                    StepFailure::Reply(format!("VNF {} declares no FSM for the state event", vnf.vnf_id)),
                )
            })?;
            let old = &state.vnfs[position];
            let extracted = run
                .hook(
                    extract.clone(),
                    &fsm,
                    Event::Fsm(FsmEvent::State),
                    &payload::state_extract(vnf, &old.record),
                    Some(&old.record.id),
                )
                .await?;
            let Reply::FunctionState(StateReply::Extracted(extracted)) = extracted else {
                return Err(run.failure(
                    &extract,
                    Some(fsm.id()),
                    StepFailure::Reply("extract answered no state".into()),
                ));
            };
            let transformed = run
                .hook(
                    Step::SsmState,
                    &ssm,
                    Event::Ssm(SsmEvent::State),
                    &payload::ssm_state(&extracted),
                    None,
                )
                .await?;
            let Reply::State(transformed) = transformed else {
                return Err(run.failure(
                    &Step::SsmState,
                    Some(ssm.id()),
                    StepFailure::Reply("state answered no content".into()),
                ));
            };
            let inject = Step::FsmStateInject {
                vnf: vnf.vnf_id.clone(),
            };
            run.hook(
                inject,
                &fsm,
                Event::Fsm(FsmEvent::State),
                &payload::state_inject(vnf, &state.vnfs[new_position].record, &transformed),
                Some(&state.vnfs[new_position].record.id),
            )
            .await?;
        }
        // The commit point.
        let old_id = state.vnfs[position].record.id.clone();
        let network_functions = state
            .vnfs
            .iter()
            .map(|vnf| vnf.record.id.clone())
            .filter(|id| *id != old_id)
            .collect();
        let updated = NsRecord {
            network_functions,
            ..state.nsr.clone()
        };
        state.nsr = run.write_ns(Step::UpdateNsr, RecordWrite::UpdateNs(updated)).await?;
        run.commit_point();
        Ok(())
    }

    /// Retires a migrated VNF's old instance, out of the NSR already: its
    /// units are removed, those whose removal fails held durably for the
    /// removal retries ([`Orchestrator::retry_removals`]), and its record
    /// terminated either way (what is left of it is on the held list).
    async fn retire(&self, run: &mut Run, template: &ServiceTemplate, old: VnfInstance) -> Result<(), WorkflowError> {
        let vnf = old.record.vnf_id.clone();
        for unit in &old.units {
            let step = Step::Remove { vnf: vnf.clone() };
            if let Err(error) = run.step(step, self.infrastructure.remove(unit.clone())).await {
                tracing::warn!("{error}; the unit is held for the removal retries");
                self.hold_removal(run, unit.clone()).await;
            }
        }
        let terminated = VnfRecord {
            status: Status::Terminated,
            ..old.record.clone()
        };
        run.write_vnf(Step::VnfrTerminated { vnf }, RecordWrite::UpdateVnf(terminated))
            .await?;
        release_fsms(run, template, &old).await;
        Ok(())
    }

    /// Configures the service's VNFs again (configure manager, then FSM
    /// configure; without a configure manager every FSM declaring configure
    /// gets the default payload).
    async fn run_reconfigure(
        &self,
        service_id: &str,
        context: &RunContext,
        reconfiguration_payload: Option<&Value>,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::Reconfigure)?;
        let mut state = self.take(service_id)?;
        let mut run = Run::new(service_id, Workflow::Reconfigure, context, self);
        let outcome = async {
            let configuring = Configuring::Reconfiguration(reconfiguration_payload);
            self.configure(&mut run, &mut state, configuring).await?;
            self.update_nsr(&mut run, &mut state).await
        }
        .await;
        self.end(run, service_id, state, outcome).await
    }

    /// Terminates a service: FSM stop on every VNF, removal, records
    /// terminated. A failing stop hook fails the workflow before anything is
    /// removed, unless `force`: then the failure is journaled and the
    /// termination goes on.
    async fn run_terminate(
        &self,
        service_id: &str,
        context: &RunContext,
        force: bool,
    ) -> Result<WorkflowReport, WorkflowError> {
        let _busy = self.claim(service_id, Workflow::Terminate)?;
        let mut state = self.take(service_id)?;
        let mut run = Run::new(service_id, Workflow::Terminate, context, self);
        let outcome = async {
            let members = state.members();
            for vnf in &state.vnfs {
                let template = &state.template.vnfs[vnf.template];
                let switch = vnf.record.switches.stop.as_ref();
                if switch.is_some_and(|switch| !switch.trigger) {
                    continue;
                }
                if let Some(fsm) = manager_for(&template.fsms, FsmEvent::Stop) {
                    let step = Step::FsmStop {
                        vnf: template.vnf_id.clone(),
                    };
                    let content = switched_content(switch, || payload::lifecycle(template, &vnf.record, &members));
                    let stopped = run
                        .hook(step, fsm, Event::Fsm(FsmEvent::Stop), &content, Some(&vnf.record.id))
                        .await;
                    match stopped {
                        Err(error) if !force => return Err(error),
                        Err(error) => tracing::warn!("forced termination goes on past: {error}"),
                        Ok(_) => {}
                    }
                }
            }
            // Each VNF leaves the service once removed; a failure keeps the
            // rest in it, to be terminated again.
            let mut terminated = Vec::with_capacity(state.vnfs.len());
            while !state.vnfs.is_empty() {
                terminated.push(
                    self.remove_vnf(&mut run, &state.template, state.vnfs[0].clone())
                        .await?,
                );
                state.vnfs.remove(0);
            }
            state.vnfs = terminated;
            let terminated = NsRecord {
                status: Status::Terminated,
                ..state.nsr.clone()
            };
            state.nsr = run
                .write_ns(Step::NsrTerminated, RecordWrite::UpdateNs(terminated))
                .await?;
            release_ssms(&mut run, &state.template).await;
            run.store_deferred().await
        }
        .await;
        if outcome.is_ok() {
            self.forget(service_id);
            return self.finish(run, &state).await;
        }
        self.end(run, service_id, state, outcome).await
    }

    fn instance_position(
        &self,
        state: &ServiceState,
        service_id: &str,
        vnf_instance_id: &str,
        workflow: Workflow,
    ) -> Result<usize, WorkflowError> {
        state
            .vnfs
            .iter()
            .position(|vnf| vnf.record.id == vnf_instance_id)
            .ok_or_else(|| WorkflowError::Rejected {
                service: service_id.to_owned(),
                workflow,
                reason: format!("the service has no VNF instance {vnf_instance_id}"),
            })
    }

    /// Topology, placement, deployment and FSM start of new instances of the
    /// given templates.
    async fn add_vnfs(
        &self,
        run: &mut Run,
        state: &mut ServiceState,
        templates: &[usize],
    ) -> Result<(), WorkflowError> {
        let instances: Vec<(String, usize)> = templates.iter().map(|index| (new_id(), *index)).collect();
        let mut attempt = 1;
        let (mapping, reserved) = loop {
            let vims = run.step(Step::Topology, self.available_vims()).await?;
            let (mapping, links) = self.place(run, state, &instances, &vims).await?;
            // Recorded with the NSR's next write.
            state.nsr.link_vims.extend(links);
            let claims = instances
                .iter()
                .zip(&mapping)
                .map(|((_, template), vim)| claim(&state.template.vnfs[*template], vim))
                .collect();
            let reserving = self.reservations.reserve(self.infrastructure.as_ref(), claims);
            match run.step(Step::ReserveCapacity, reserving).await {
                Ok(reserved) => break (mapping, reserved),
                // Another workflow took the capacity meanwhile: place again.
                Err(_) if attempt < PLACEMENT_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
            }
        };
        for ((instance_id, template), vim) in instances.iter().zip(&mapping) {
            let instance = self.deploy_vnf(run, state, *template, instance_id, vim).await?;
            reserved.release(&claim(&state.template.vnfs[*template], vim));
            state.vnfs.push(instance);
        }
        drop(reserved);
        Ok(())
    }

    /// FSM start for every instance not yet in operation: the new ones, and
    /// those a failed run kept (a resumed run: the hook is pure, and setting
    /// the same envs again is idempotent).
    async fn start_offline(&self, run: &mut Run, state: &mut ServiceState) -> Result<(), WorkflowError> {
        for position in 0..state.vnfs.len() {
            if state.vnfs[position].record.status == Status::Offline {
                self.start_vnf(run, state, position).await?;
            }
        }
        Ok(())
    }

    /// The phases of an instantiation: the task manager's schedule when the
    /// service declares one (validated), the default one otherwise.
    async fn schedule(&self, run: &mut Run, state: &ServiceState) -> Result<Vec<Phase>, WorkflowError> {
        let configures = manager_for(&state.template.ssms, SsmEvent::Configure).is_some();
        let default = schedule::instantiation(configures);
        let Some(manager) = manager_for(&state.template.ssms, SsmEvent::Task) else {
            let owned: Vec<String> = default.iter().map(|task| (*task).to_owned()).collect();
            return schedule::phases(&owned)
                .map_err(|error| run.failure(&Step::ValidateSchedule, None, StepFailure::Inconsistent(error)));
        };
        let reply = run
            .hook(
                Step::SsmTask,
                manager,
                Event::Ssm(SsmEvent::Task),
                &payload::task(&default),
                None,
            )
            .await?;
        let Reply::Schedule(tasks) = reply else {
            return Err(run.failure(
                &Step::SsmTask,
                Some(manager.id()),
                StepFailure::Reply("not a schedule".into()),
            ));
        };
        let check = schedule::phases(&tasks).map_err(StepFailure::Reply);
        run.step(Step::ValidateSchedule, std::future::ready(check)).await
    }

    /// The VIMs as placement sees them: what the infrastructure reports,
    /// with reserved capacity counted as used.
    async fn available_vims(&self) -> Result<Vec<VimStatus>, InfraError> {
        Ok(self.reservations.available(self.infrastructure.vims().await?))
    }

    /// Decides a VIM per new instance: the placement manager when the service
    /// declares one (its mapping validated), the default algorithm otherwise;
    /// and the VIM of each virtual link the placement manager placed.
    async fn place(
        &self,
        run: &mut Run,
        state: &ServiceState,
        instances: &[(String, usize)],
        vims: &[VimStatus],
    ) -> Result<(Vec<String>, Vec<(String, String)>), WorkflowError> {
        let template = &state.template;
        let vnfs: Vec<VnfToPlace> = instances
            .iter()
            .map(|(id, index)| VnfToPlace {
                id: id.clone(),
                demand: template.vnfs[*index].demand(),
                required_labels: template.vnfs[*index].required_labels.clone(),
            })
            .collect();
        // Blacklisted VIMs are not offered: a manager's mapping using one is
        // refused like one naming an unknown VIM.
        let placement_vims: Vec<LabelledVim> = vims
            .iter()
            .filter(|vim| !state.placement.blacklist.contains(&vim.config.id))
            .map(labelled)
            .collect();
        let mut links = Vec::new();
        let mapping: Vec<VnfPlacement> = match manager_for(&template.ssms, SsmEvent::Placement) {
            Some(manager) => {
                let with_templates: Vec<(String, &VnfTemplate)> = instances
                    .iter()
                    .map(|(id, index)| (id.clone(), &template.vnfs[*index]))
                    .collect();
                let offered: Vec<VimStatus> = vims
                    .iter()
                    .filter(|vim| !state.placement.blacklist.contains(&vim.config.id))
                    .cloned()
                    .collect();
                let content = payload::placement(&run.service, template, &with_templates, &offered);
                let reply = run
                    .hook_request(
                        Step::SsmPlacement,
                        manager,
                        Event::Ssm(SsmEvent::Placement),
                        Request::placement(&content),
                        None,
                    )
                    .await?;
                let Reply::Placement(placed) = reply else {
                    return Err(run.failure(
                        &Step::SsmPlacement,
                        Some(manager.id()),
                        StepFailure::Reply("not a mapping".into()),
                    ));
                };
                let check = placement::validate_mapping(&placed.vnfs, &vnfs, &placement_vims);
                run.step(Step::ValidateMapping, std::future::ready(check)).await?;
                let running = state
                    .vnfs
                    .iter()
                    .filter_map(|vnf| Some((template.vnfs[vnf.template].vnf_id.as_str(), vnf.vim_id()?)));
                let new = instances.iter().filter_map(|(id, index)| {
                    let placement = placed.vnfs.iter().find(|placement| &placement.vnf == id)?;
                    Some((template.vnfs[*index].vnf_id.as_str(), placement.vim.as_str()))
                });
                let sites: Vec<(&str, &str)> = running.chain(new).collect();
                let check = placement::validate_links(&placed.links, &template.nsd, &sites).map_err(StepFailure::Reply);
                run.step(Step::ValidateLinks, std::future::ready(check)).await?;
                // Validated: every link is inside a VIM.
                links = placed
                    .links
                    .iter()
                    .filter_map(|placed| match &placed.site {
                        LinkSite::Vim(vim) => Some((placed.link.clone(), vim.clone())),
                        LinkSite::Wim(_) => None,
                    })
                    .collect();
                placed.vnfs
            }
            None => {
                // A CPU-bound search (bounded by its node budget): off the
                // async workers.
                // Fixed mappings name the NSD's vnf_id; the search places
                // instances.
                let fixed = instances
                    .iter()
                    .filter_map(|(id, index)| {
                        let vim = state.placement.fixed.get(&template.vnfs[*index].vnf_id)?;
                        Some((id.clone(), vim.clone()))
                    })
                    .collect();
                let options = PlacementOptions {
                    fixed,
                    ..(*state.placement).clone()
                };
                let search = wasmano_host::run_blocking(move || placement::place(&vnfs, &placement_vims, &options));
                let placed = async {
                    match search.await {
                        Some(placed) => placed.map_err(StepFailure::from),
                        None => Err(StepFailure::Inconsistent("the placement search panicked".into())),
                    }
                };
                run.step(Step::DefaultPlacement, placed).await?
            }
        };
        let vnf_vims = instances
            .iter()
            .map(|(id, _)| {
                mapping
                    .iter()
                    .find(|placed| &placed.vnf == id)
                    .map(|placed| placed.vim.clone())
                    .ok_or_else(|| {
                        run.failure(
                            &Step::Placement,
                            None,
                            StepFailure::Reply(format!("VNF instance {id} was not placed")),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok((vnf_vims, links))
    }

    /// Deploys every unit of a new instance on a VIM and stores its VNFR.
    async fn deploy_vnf(
        &self,
        run: &mut Run,
        state: &ServiceState,
        template: usize,
        instance_id: &str,
        vim: &str,
    ) -> Result<VnfInstance, WorkflowError> {
        let vnf = &state.template.vnfs[template];
        let mut units = Vec::with_capacity(vnf.units.len());
        let step = Step::Deploy {
            vnf: vnf.vnf_id.clone(),
            vim: vim.to_owned(),
        };
        for unit in &vnf.units {
            let spec = unit.spec(&run.service, instance_id, &vnf.vnf_id);
            match run.step(step.clone(), self.infrastructure.deploy(vim, spec)).await {
                Ok(deployed) => units.push(deployed),
                Err(error) => {
                    // Units of this VNF deployed before the failure go too.
                    for deployed in units {
                        let undo = Step::RemovePartlyDeployed {
                            vnf: vnf.vnf_id.clone(),
                        };
                        run.undo_effect(undo, self.infrastructure.remove(deployed)).await;
                    }
                    return Err(error);
                }
            }
        }
        let record = VnfRecord {
            id: instance_id.to_owned(),
            service_id: run.service.clone(),
            vnf_id: vnf.vnf_id.clone(),
            descriptor_reference: vnf.vnfd_reference.clone(),
            descriptor_version: vnf.vnfd_version.clone(),
            status: Status::Offline,
            version: 0,
            deployment_units: units.iter().map(unit_instance).collect(),
            switches: FsmSwitches::default(),
        };
        let instance = VnfInstance {
            template,
            record: record.clone(),
            units,
        };
        let step = Step::StoreVnfr {
            vnf: vnf.vnf_id.clone(),
        };
        match run.write_vnf_later(step, RecordWrite::CreateVnf(record)) {
            Ok(record) => {
                run.compensate_with(Compensation::RemoveInstance {
                    instance_id: record.id.clone(),
                });
                Ok(VnfInstance { record, ..instance })
            }
            Err(error) => {
                self.remove_vnfs(run, &state.template, vec![instance], Status::Failed)
                    .await;
                Err(error)
            }
        }
    }

    /// FSM start of the instance at `position`, when declared and switched
    /// on; its envs go into the instance's container units.
    async fn start_vnf(&self, run: &mut Run, state: &mut ServiceState, position: usize) -> Result<(), WorkflowError> {
        let template = Arc::clone(&state.template);
        let instance = &state.vnfs[position];
        let vnf = &template.vnfs[instance.template];
        let switch = instance.record.switches.start.as_ref();
        if switch.is_some_and(|switch| !switch.trigger) {
            return Ok(());
        }
        let Some(fsm) = manager_for(&vnf.fsms, FsmEvent::Start) else {
            return Ok(());
        };
        let step = Step::FsmStart {
            vnf: vnf.vnf_id.clone(),
        };
        let content = switched_content(switch, || payload::lifecycle(vnf, &instance.record, &state.members()));
        let reply = run
            .hook(
                step.clone(),
                fsm,
                Event::Fsm(FsmEvent::Start),
                &content,
                Some(&instance.record.id),
            )
            .await?;
        let Reply::Started(envs) = reply else {
            return Err(run.failure(
                &step,
                Some(fsm.id()),
                StepFailure::Reply("start answered no envs".into()),
            ));
        };
        self.inject_envs(run, &mut state.vnfs[position], envs).await
    }

    /// FSM scale, when declared and switched on, for every instance of the
    /// scaled VNF (the NSD's VNF at `template`) after the scaling; each
    /// answer's envs go into that instance's container units.
    async fn scale_fsms(
        &self,
        run: &mut Run,
        state: &mut ServiceState,
        template: usize,
        direction: &str,
        added: &[String],
        removed: &[&str],
    ) -> Result<(), WorkflowError> {
        let templates = Arc::clone(&state.template);
        let vnf = &templates.vnfs[template];
        let Some(fsm) = manager_for(&vnf.fsms, FsmEvent::Scale) else {
            return Ok(());
        };
        let added: Vec<&str> = added.iter().map(String::as_str).collect();
        let scaling = payload::scaling(direction, &vnf.vnf_id, &added, removed);
        for position in 0..state.vnfs.len() {
            let instance = &state.vnfs[position];
            let switch = instance.record.switches.scale.as_ref();
            if instance.template != template || switch.is_some_and(|switch| !switch.trigger) {
                continue;
            }
            let step = Step::FsmScale {
                vnf: vnf.vnf_id.clone(),
            };
            let content = switched_content(switch, || {
                payload::fsm_scale(
                    &templates,
                    vnf,
                    &instance.record,
                    &scaling,
                    &state.nsr,
                    &state.members(),
                )
            });
            let reply = run
                .hook(
                    step.clone(),
                    fsm,
                    Event::Fsm(FsmEvent::Scale),
                    &content,
                    Some(&instance.record.id),
                )
                .await?;
            let Reply::Scaled(envs) = reply else {
                return Err(run.failure(
                    &step,
                    Some(fsm.id()),
                    StepFailure::Reply("scale answered no envs".into()),
                ));
            };
            self.inject_envs(run, &mut state.vnfs[position], envs).await?;
        }
        Ok(())
    }

    /// Gives each of a VNF's container units the envs meant for it (merged
    /// in order) and records where they are now.
    async fn inject_envs(
        &self,
        run: &mut Run,
        instance: &mut VnfInstance,
        envs: Vec<UnitEnvs>,
    ) -> Result<(), WorkflowError> {
        let step = Step::InjectEnvs {
            vnf: instance.record.vnf_id.clone(),
        };
        let mut changed = false;
        for unit in &mut instance.units {
            if unit.spec.kind != VimKind::Container {
                continue;
            }
            let for_unit: Vec<KeyValue> = envs
                .iter()
                .filter(|entry| entry.applies_to(&unit.spec.unit_id, &unit.spec.vnf_instance_id))
                .flat_map(|entry| entry.envs.iter().cloned())
                .collect();
            if for_unit.is_empty() {
                continue;
            }
            *unit = run
                .step(step.clone(), self.infrastructure.set_envs(unit.clone(), for_unit))
                .await?;
            changed = true;
        }
        if !changed {
            return Ok(());
        }
        instance.record.deployment_units = instance.units.iter().map(unit_instance).collect();
        let step = Step::StoreVnfr {
            vnf: instance.record.vnf_id.clone(),
        };
        instance.record = run.write_vnf_later(step, RecordWrite::UpdateVnf(instance.record.clone()))?;
        Ok(())
    }

    /// The configure manager decides which FSM configure events fire and
    /// with which payload; without one, only a reconfigure sends every FSM
    /// declaring configure the default payload.
    async fn configure(
        &self,
        run: &mut Run,
        state: &mut ServiceState,
        configuring: Configuring<'_>,
    ) -> Result<(), WorkflowError> {
        let template = Arc::clone(&state.template);
        let decisions: Vec<VnfSwitches> = match manager_for(&template.ssms, SsmEvent::Configure) {
            Some(manager) => {
                let reconfiguration_payload = match configuring {
                    Configuring::Reconfiguration(payload) => payload,
                    Configuring::Deployment => None,
                };
                let content = payload::ssm_configure(
                    run.workflow.name(),
                    &template,
                    &state.nsr,
                    &state.members(),
                    reconfiguration_payload,
                );
                match run
                    .hook(
                        Step::SsmConfigure,
                        manager,
                        Event::Ssm(SsmEvent::Configure),
                        &content,
                        None,
                    )
                    .await?
                {
                    Reply::Configure(decisions) => decisions,
                    _ => {
                        return Err(run.failure(
                            &Step::SsmConfigure,
                            Some(manager.id()),
                            StepFailure::Reply("not a configure reply".into()),
                        ));
                    }
                }
            }
            None if matches!(configuring, Configuring::Reconfiguration(_)) => state
                .vnfs
                .iter()
                .map(|vnf| VnfSwitches::configure(vnf.record.id.clone(), EventSwitch::on()))
                .collect(),
            None => return Ok(()),
        };
        let applied = self.apply_configuration(run, state, &template, decisions).await;
        if let Some(manager) = manager_for(&template.ssms, SsmEvent::Configure) {
            let status = if applied.is_ok() { "COMPLETED" } else { "FAILED" };
            let content = serde_json::json!({"workflow": "status", "status": status});
            let event = Event::Ssm(SsmEvent::Configure);
            run.notify(Step::ConfigurationStatus, manager, event, &content).await;
        }
        applied
    }

    /// Records the configure manager's switches and fires the FSM configure
    /// events it asked for, injecting the envs they answer.
    async fn apply_configuration(
        &self,
        run: &mut Run,
        state: &mut ServiceState,
        template: &ServiceTemplate,
        decisions: Vec<VnfSwitches>,
    ) -> Result<(), WorkflowError> {
        for decision in decisions {
            let Some(position) = state.vnfs.iter().position(|vnf| vnf.record.id == decision.id) else {
                return Err(run.failure(
                    &Step::SsmConfigure,
                    None,
                    StepFailure::Reply(format!(
                        "the configure manager named unknown VNF instance {}",
                        decision.id
                    )),
                ));
            };
            let vnf = &template.vnfs[state.vnfs[position].template];
            let mut switches = state.vnfs[position].record.switches.clone();
            if switches.merge(&decision) {
                let mut record = state.vnfs[position].record.clone();
                record.switches = switches;
                let step = Step::StoreVnfr {
                    vnf: vnf.vnf_id.clone(),
                };
                state.vnfs[position].record = run.write_vnf_later(step, RecordWrite::UpdateVnf(record))?;
            }
            let Some(switch) = decision.configure.filter(|switch| switch.trigger) else {
                continue;
            };
            let Some(fsm) = manager_for(&vnf.fsms, FsmEvent::Configure) else {
                continue;
            };
            let content = switched_content(Some(&switch), || {
                payload::fsm_configure(template, &state.nsr, &state.vnfs[position].record, &state.members())
            });
            let step = Step::FsmConfigure {
                vnf: vnf.vnf_id.clone(),
            };
            let vnf_instance = state.vnfs[position].record.id.clone();
            let reply = run
                .hook(
                    step.clone(),
                    fsm,
                    Event::Fsm(FsmEvent::Configure),
                    &content,
                    Some(&vnf_instance),
                )
                .await?;
            let Reply::Configured(envs) = reply else {
                return Err(run.failure(
                    &step,
                    Some(fsm.id()),
                    StepFailure::Reply("configure answered no envs".into()),
                ));
            };
            self.inject_envs(run, &mut state.vnfs[position], envs).await?;
        }
        Ok(())
    }

    /// Brings every VNF record and the NSR to normal operation, in one
    /// transaction.
    async fn settle(&self, run: &mut Run, state: &mut ServiceState) -> Result<(), WorkflowError> {
        let settling: Vec<usize> = (0..state.vnfs.len())
            .filter(|position| state.vnfs[*position].record.status != Status::NormalOperation)
            .collect();
        let mut writes: Vec<(Step, RecordWrite)> = settling
            .iter()
            .map(|position| {
                let record = &state.vnfs[*position].record;
                let step = Step::VnfrInOperation {
                    vnf: record.vnf_id.clone(),
                };
                let running = VnfRecord {
                    status: Status::NormalOperation,
                    ..record.clone()
                };
                (step, RecordWrite::UpdateVnf(running))
            })
            .collect();
        let running = NsRecord {
            status: Status::NormalOperation,
            network_functions: state.vnfs.iter().map(|vnf| vnf.record.id.clone()).collect(),
            ..state.nsr.clone()
        };
        run.listing_changes(&state.nsr, &running);
        writes.push((Step::NsrInOperation, RecordWrite::UpdateNs(running)));
        let mut written = run.write_all(writes).await?.into_iter();
        let unexpected = |error| run.error(&Step::NsrInOperation, None, StepFailure::Store(error));
        let mut next = || {
            written
                .next()
                .ok_or_else(|| StoreError::Backend("a write is missing".into()))
        };
        for position in settling {
            state.vnfs[position].record = next().and_then(Written::into_vnf).map_err(unexpected)?;
        }
        state.nsr = next().and_then(Written::into_ns).map_err(unexpected)?;
        Ok(())
    }

    /// Stores the NSR with the service's current VNFs.
    async fn update_nsr(&self, run: &mut Run, state: &mut ServiceState) -> Result<(), WorkflowError> {
        let network_functions = state.vnfs.iter().map(|vnf| vnf.record.id.clone()).collect();
        let updated = NsRecord {
            network_functions,
            ..state.nsr.clone()
        };
        run.listing_changes(&state.nsr, &updated);
        state.nsr = run.write_ns(Step::UpdateNsr, RecordWrite::UpdateNs(updated)).await?;
        Ok(())
    }

    /// Keeps a unit whose removal failed on the durable list of removals to
    /// retry, journaled.
    async fn hold_removal(&self, run: &mut Run, unit: DeployedUnit) {
        let step = Step::HoldRemoval {
            vnf: unit.spec.vnf_id.clone(),
            unit: unit.spec.unit_id.clone(),
        };
        if let Err(error) = run.commit_step(step, RecordWrite::HoldRemoval(unit)).await {
            tracing::error!("a unit whose removal failed cannot be kept for a retry: {error}");
        }
    }

    /// Retries every held removal once; returns how many are still held.
    pub async fn retry_removals(&self) -> Result<usize, StoreError> {
        let held = self.store.held_removals().await?;
        let mut remaining = 0;
        for unit in held {
            let instance_ref = unit.instance_ref.clone();
            match self.infrastructure.remove(unit).await {
                Ok(()) => self.store.removal_done(&instance_ref).await?,
                Err(error) => {
                    tracing::warn!(unit = %instance_ref, "removal failed again, will retry: {error}");
                    remaining += 1;
                }
            }
        }
        Ok(remaining)
    }

    /// After a restart: the infrastructure adopts the held units (they
    /// still take capacity until removed); returns how many there are.
    pub async fn adopt_held_removals(&self) -> Result<usize, StepFailure> {
        let held = self.store.held_removals().await?;
        let count = held.len();
        self.infrastructure.adopt(held).await?;
        Ok(count)
    }

    /// After recovery: has the infrastructure remove every unit nobody
    /// records (neither a running service nor the held removals), and marks
    /// the VNF records whose units are gone failed and their services'
    /// NSRs degraded.
    pub async fn reconcile(&self) -> Result<Reconciliation, StepFailure> {
        let services: Vec<(String, ServiceState)> = self
            .services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, state)| (id.clone(), state.clone()))
            .collect();
        let mut known: HashSet<String> = services
            .iter()
            .flat_map(|(_, state)| state.vnfs.iter().flat_map(|vnf| &vnf.units))
            .map(|unit| unit.instance_ref.clone())
            .collect();
        known.extend(
            self.store
                .held_removals()
                .await?
                .into_iter()
                .map(|unit| unit.instance_ref),
        );
        let reconciliation = self.infrastructure.reconcile(known).await?;
        for (service_id, mut state) in services {
            let mut degraded = false;
            for vnf in &mut state.vnfs {
                let gone = vnf
                    .units
                    .iter()
                    .any(|unit| reconciliation.missing.contains(&unit.instance_ref));
                if gone && vnf.record.status != Status::Failed {
                    tracing::warn!(service = %service_id, vnf = %vnf.record.id, "a unit of this VNF is gone");
                    vnf.record = self
                        .store
                        .update_vnf(VnfRecord {
                            status: Status::Failed,
                            ..vnf.record.clone()
                        })
                        .await?;
                    degraded = true;
                }
            }
            if degraded {
                state.nsr = self
                    .store
                    .update_ns(NsRecord {
                        status: Status::DegradedOperation,
                        ..state.nsr.clone()
                    })
                    .await?;
                self.put(&service_id, state);
            }
        }
        Ok(reconciliation)
    }

    /// Removes an instance's units and marks its record terminated.
    async fn remove_vnf(
        &self,
        run: &mut Run,
        template: &ServiceTemplate,
        instance: VnfInstance,
    ) -> Result<VnfInstance, WorkflowError> {
        let vnf = instance.record.vnf_id.clone();
        for unit in &instance.units {
            let step = Step::Remove { vnf: vnf.clone() };
            run.step(step, self.infrastructure.remove(unit.clone())).await?;
        }
        let terminated = VnfRecord {
            status: Status::Terminated,
            ..instance.record.clone()
        };
        let record = run.write_vnf_later(
            Step::VnfrTerminated { vnf: vnf.clone() },
            RecordWrite::UpdateVnf(terminated),
        )?;
        release_fsms(run, template, &instance).await;
        Ok(VnfInstance { record, ..instance })
    }

    /// Undo: removes instances, going on past failures, and marks their
    /// records with `status`. A unit whose removal fails is held durably,
    /// to be retried until it is gone ([`Orchestrator::retry_removals`]).
    async fn remove_vnfs(
        &self,
        run: &mut Run,
        template: &ServiceTemplate,
        instances: Vec<VnfInstance>,
        status: Status,
    ) {
        for instance in instances {
            let vnf = instance.record.vnf_id.clone();
            for unit in &instance.units {
                let step = Step::Remove { vnf: vnf.clone() };
                if run
                    .undo_effect(step, self.infrastructure.remove(unit.clone()))
                    .await
                    .is_some()
                {
                    self.hold_removal(run, unit.clone()).await;
                }
            }
            release_fsms(run, template, &instance).await;
            if instance.record.version > 0 {
                let marked = VnfRecord {
                    status,
                    ..instance.record
                };
                run.undo_write(Step::MarkVnfr { vnf, status }, RecordWrite::UpdateVnf(marked))
                    .await;
            }
        }
    }
}

/// Releases what a VNF instance's FSMs hold for it.
async fn release_fsms(run: &mut Run, template: &ServiceTemplate, instance: &VnfInstance) {
    let fsms = template.vnfs[instance.template]
        .fsms
        .iter()
        .map(|binding| Arc::clone(&binding.manager))
        .collect();
    let step = Step::ReleaseManagers {
        vnf: Some(instance.record.vnf_id.clone()),
    };
    run.release(step, fsms, Some(&instance.record.id)).await;
}

/// Releases what the service's SSMs hold for it.
async fn release_ssms(run: &mut Run, template: &ServiceTemplate) {
    let ssms = template
        .ssms
        .iter()
        .map(|binding| Arc::clone(&binding.manager))
        .collect();
    run.release(Step::ReleaseManagers { vnf: None }, ssms, None).await;
}

/// A VIM as placement sees it.
fn labelled(status: &VimStatus) -> LabelledVim {
    LabelledVim {
        vim: status.as_vim(),
        labels: status.config.labels.clone(),
    }
}

/// How often a workflow places again when the capacity it chose was taken
/// meanwhile: each attempt sees the reservations of the ones that won, so
/// a burst of placements onto one best VIM spreads over this many rounds.
const PLACEMENT_ATTEMPTS: u32 = 16;

/// The capacity an instance of `vnf` takes on `vim`.
fn claim(vnf: &VnfTemplate, vim: &str) -> Claim {
    let demand = vnf.demand();
    Claim {
        vim: vim.to_owned(),
        cores: demand.cores,
        memory_mb: demand.memory_mb,
    }
}

/// A running instance rebuilt from its record and its service's template.
fn restored_instance(template: &ServiceTemplate, service_id: &str, record: VnfRecord) -> Result<VnfInstance, String> {
    let index = template
        .vnfs
        .iter()
        .position(|vnf| vnf.vnf_id == record.vnf_id)
        .ok_or_else(|| format!("VNFR {} names VNF {:?}, which the NSD lacks", record.id, record.vnf_id))?;
    let vnf = &template.vnfs[index];
    let units = record
        .deployment_units
        .iter()
        .map(|deployed| {
            let unit = vnf
                .units
                .iter()
                .find(|unit| unit.unit_id == deployed.unit_id)
                .ok_or_else(|| {
                    format!(
                        "VNFR {} names unit {:?}, which its VNFD lacks",
                        record.id, deployed.unit_id
                    )
                })?;
            Ok(DeployedUnit {
                vim_id: deployed.vim_id.clone(),
                spec: unit.spec(service_id, &record.id, &vnf.vnf_id),
                instance_ref: deployed.instance_ref.clone(),
                addresses: deployed.addresses.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(VnfInstance {
        template: index,
        record,
        units,
    })
}

fn unit_instance(unit: &DeployedUnit) -> UnitInstance {
    UnitInstance {
        unit_id: unit.spec.unit_id.clone(),
        kind: unit.spec.kind,
        vim_id: unit.vim_id.clone(),
        instance_ref: unit.instance_ref.clone(),
        addresses: unit.addresses.clone(),
    }
}
