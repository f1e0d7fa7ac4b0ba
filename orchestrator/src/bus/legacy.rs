//! Legacy 5GTANGO managers behind the same [`SpecificManager`] as
//! WebAssembly ones, so workflows cannot tell which kind runs a hook.
//!
//! A [`LegacyGroup`] holds the legacy managers of one descriptor (an NSD's
//! SSMs, or a VNFD's FSMs) and starts them per service or function instance
//! the first time an event for that instance arrives (the request says
//! which: [`Request::instance`]), all in the instance's vhost, as 5GTANGO's
//! registry did; [`SpecificManager::release`] removes them when the
//! instance ends. A [`LegacyManager`] is one manager of a group, bound to the
//! events its descriptor entry declares: an event's content travels in the
//! SLM/FLM's envelope, and the first reply is read into the same typed
//! [`Reply`] a module gives ([`Reply::from_tango`]). Every call has a
//! deadline (5GTANGO's SLM waited forever).
//!
//! All managers of an instance share its event topic, so each receives
//! every event of the instance and the first reply wins, as in 5GTANGO.
//! One-way messages go where 5GTANGO sent them ([`SpecificManager::notify`]):
//! the configure SSM's `{workflow: status, status}` once the VNFs are
//! configured, the monitor SSM's `start_monitoring` once the service runs.
//! SSM `monitor` is a one-way message there: it is sent and answered at once
//! with no workflow requests; the SSM asks for workflows later, unasked, on
//! `monitor.ssm.<service id>` ([`LegacyGroup::forwarding_requests_to`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tango_model::ssm::SsmEvent;
use wasmano_host::{
    BoxFuture, Cause, Event, Fault, InvocationError, ManagerKind, Reply, Request, SpecificManager, reply_from_tango,
};

use super::broker::Broker;
use super::instance::{CallError, LegacyError, LegacyInstance, LegacySpec, ManagerRequests};
use super::launcher::Launcher;
use super::wire;
use crate::workflow::ManagerHandover;

/// How long a legacy manager has for one event when nothing else is said:
/// Python managers on a bus are slower than modules.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(10);

/// One instance's managers, once started. Locked across a start, so that
/// concurrent first events of an instance start it once, while other
/// instances of the group start beside it.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<LegacyInstance>>>>;

/// The instances' slots by id, shared by the groups an in-place update
/// derives from one another.
type Running = Arc<std::sync::Mutex<HashMap<String, Slot>>>;

/// The legacy managers of one descriptor, running per instance.
#[derive(Debug)]
pub struct LegacyGroup {
    kind: ManagerKind,
    specs: Vec<LegacySpec>,
    broker: Broker,
    ready_within: Duration,
    running: Running,
    /// Where the SSMs' unasked workflow requests go.
    requests: Option<ManagerRequests>,
}

impl LegacyGroup {
    /// The managers `specs` of a descriptor of this kind, on `broker`,
    /// each instance's managers ready within `ready_within` of their start.
    pub fn new(kind: ManagerKind, specs: Vec<LegacySpec>, broker: Broker, ready_within: Duration) -> Arc<Self> {
        Arc::new(Self {
            kind,
            specs,
            broker,
            ready_within,
            running: Running::default(),
            requests: None,
        })
    }

    /// This group with its SSMs' unasked workflow requests
    /// (`monitor.ssm.<service id>`) forwarded to `requests`.
    pub fn forwarding_requests_to(&self, requests: ManagerRequests) -> Arc<Self> {
        Arc::new(Self {
            kind: self.kind,
            specs: self.specs.clone(),
            broker: self.broker.clone(),
            ready_within: self.ready_within,
            running: Arc::clone(&self.running),
            requests: Some(requests),
        })
    }

    /// Service or function managers.
    pub fn kind(&self) -> ManagerKind {
        self.kind
    }

    /// The managers each instance runs.
    pub fn specs(&self) -> &[LegacySpec] {
        &self.specs
    }

    /// This group with the manager `id` started by `launcher` instead (or
    /// added), or removed when `launcher` is `None` (it became a module).
    /// The two groups share their running instances: nothing starts or
    /// stops until [`LegacyGroup::hand_over`].
    pub fn with_manager(&self, id: &str, launcher: Option<Launcher>) -> Arc<Self> {
        let mut specs: Vec<LegacySpec> = self.specs.iter().filter(|spec| spec.id != id).cloned().collect();
        if let Some(launcher) = launcher {
            specs.push(LegacySpec {
                id: id.to_owned(),
                launcher,
            });
        }
        Arc::new(Self {
            kind: self.kind,
            specs,
            broker: self.broker.clone(),
            ready_within: self.ready_within,
            running: Arc::clone(&self.running),
            requests: self.requests.clone(),
        })
    }

    /// The managers of `instance`, started (and awaited) if they are not
    /// running yet, or started again if the broker connection they ran on
    /// was lost (a broker restart ends 5GTANGO's managers).
    pub async fn instance(&self, instance: &str) -> Result<Arc<LegacyInstance>, LegacyError> {
        let slot = self.slot(instance);
        let mut held = slot.lock().await;
        let started = self.started_in(&mut held, instance).await;
        if held.is_none() {
            self.forget(instance, &slot);
        }
        started
    }

    /// The slot of `instance`, made if it has none.
    fn slot(&self, instance: &str) -> Slot {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(running.entry(instance.to_owned()).or_default())
    }

    /// The slot of `instance`, if it has one.
    fn existing_slot(&self, instance: &str) -> Option<Slot> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.get(instance).cloned()
    }

    /// Drops the slot of an instance that has no managers any more (unless
    /// another slot took its place meanwhile).
    fn forget(&self, instance: &str, slot: &Slot) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.get(instance).is_some_and(|current| Arc::ptr_eq(current, slot)) {
            running.remove(instance);
        }
    }

    /// The instance held in a slot, started if it is empty or its
    /// connection was lost.
    async fn started_in(
        &self,
        held: &mut Option<Arc<LegacyInstance>>,
        instance: &str,
    ) -> Result<Arc<LegacyInstance>, LegacyError> {
        match held.take() {
            Some(started) if started.connected() => {
                *held = Some(Arc::clone(&started));
                return Ok(started);
            }
            Some(lost) => {
                tracing::warn!(vhost = %lost.vhost(), "the broker connection was lost: starting the managers again");
                if let Err(error) = lost.remove().await {
                    tracing::warn!(vhost = %lost.vhost(), "removing what the lost connection left: {error}");
                }
            }
            None => {}
        }
        let started = LegacyInstance::start(
            &self.broker,
            self.kind,
            instance,
            &self.specs,
            self.ready_within,
            self.requests.as_ref(),
        )
        .await?;
        let started = Arc::new(started);
        *held = Some(Arc::clone(&started));
        Ok(started)
    }

    /// The ids of the instances running (an instance being started counts
    /// once it is).
    pub async fn running(&self) -> Vec<String> {
        let slots: Vec<(String, Slot)> = {
            let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            running
                .iter()
                .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
                .collect()
        };
        let mut ids = Vec::new();
        for (id, slot) in slots {
            if slot.lock().await.is_some() {
                ids.push(id);
            }
        }
        ids
    }

    /// The managers of `instance` if they run (nothing is started).
    pub async fn started(&self, instance: &str) -> Option<Arc<LegacyInstance>> {
        let slot = self.existing_slot(instance)?;
        let held = slot.lock().await;
        held.clone()
    }

    /// What the managers of `instance` run as (process ids or container
    /// names); empty when the instance is not running.
    pub async fn programs(&self, instance: &str) -> Vec<String> {
        match self.started(instance).await {
            Some(started) => started.programs().await,
            None => Vec::new(),
        }
    }

    /// Removes the managers of `instance` (nothing if none run).
    pub async fn release(&self, instance: &str) -> Result<(), LegacyError> {
        let Some(slot) = self.existing_slot(instance) else {
            return Ok(());
        };
        let removed = slot.lock().await.take();
        self.forget(instance, &slot);
        match removed {
            Some(running) => running.remove().await,
            None => Ok(()),
        }
    }

    /// Hands the manager `manager` over to this group's spec of it in each
    /// of `instances` (the instances it serves), as 5GTANGO's registry
    /// updated a manager: first the new manager starts in every instance
    /// (beside the old one, in the same vhost) and is awaited; only when all
    /// are ready are the old manager's programs stopped. If one start fails,
    /// the new programs are stopped and the old ones keep running. A manager
    /// that left the group (it became a module) only has its old programs
    /// stopped; an instance left with no legacy manager is removed.
    pub async fn hand_over(&self, manager: &str, instances: &[String]) -> Result<(), LegacyError> {
        let spec = self.specs.iter().find(|spec| spec.id == manager);
        let mut handed = Vec::new();
        for instance in instances {
            let slot = self.slot(instance);
            let mut held = Arc::clone(&slot).lock_owned().await;
            let running = held.clone().filter(|started| started.connected());
            let new = match (spec, running) {
                (Some(spec), Some(started)) => {
                    let old = started.programs_of(manager).await;
                    started
                        .add(spec, self.ready_within)
                        .await
                        .map(|new| (old, New::Program(new)))
                }
                (Some(_), None) => self
                    .started_in(&mut held, instance)
                    .await
                    .map(|_| (Vec::new(), New::Instance)),
                (None, Some(started)) => Ok((started.programs_of(manager).await, New::Nothing)),
                (None, None) => Ok((Vec::new(), New::Nothing)),
            };
            match new {
                Ok((old, new)) => handed.push(Handed {
                    instance: instance.clone(),
                    slot,
                    held,
                    old,
                    new,
                }),
                Err(error) => {
                    if held.is_none() {
                        self.forget(instance, &slot);
                    }
                    drop(held);
                    for step in handed.into_iter().rev() {
                        step.undo(self).await;
                    }
                    return Err(error);
                }
            }
        }
        for mut step in handed {
            let Some(started) = step.held.clone() else {
                self.forget(&step.instance, &step.slot);
                continue;
            };
            started.stop_programs(&step.old).await;
            if self.specs.is_empty() {
                step.held.take();
                self.forget(&step.instance, &step.slot);
                if let Err(error) = started.remove().await {
                    tracing::warn!(vhost = %started.vhost(), "removing an instance left without legacy managers: {error}");
                }
            }
        }
        Ok(())
    }
}

/// What [`LegacyGroup::hand_over`] did in one instance, its slot held until
/// the hand-over ends.
struct Handed {
    instance: String,
    slot: Slot,
    held: tokio::sync::OwnedMutexGuard<Option<Arc<LegacyInstance>>>,
    /// The old manager's programs.
    old: Vec<String>,
    new: New,
}

/// What a hand-over started in one instance.
enum New {
    /// The new manager's program, beside the old one.
    Program(String),
    /// The whole instance, which was not running.
    Instance,
    /// Nothing: the manager became a module, or the instance has none.
    Nothing,
}

impl Handed {
    /// Puts the instance back as it was before the hand-over.
    async fn undo(mut self, group: &LegacyGroup) {
        match self.new {
            New::Program(new) => {
                if let Some(started) = self.held.as_ref() {
                    started.stop_programs(&[new]).await;
                }
            }
            New::Instance => {
                if let Some(started) = self.held.take() {
                    group.forget(&self.instance, &self.slot);
                    if let Err(error) = started.remove().await {
                        tracing::warn!(vhost = %started.vhost(), "undoing a start: {error}");
                    }
                }
            }
            New::Nothing => {}
        }
    }
}

/// What [`remove_leftovers`] removed, and what it could not check.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Instance vhosts deleted.
    pub vhosts: usize,
    /// Manager containers removed.
    pub containers: usize,
    /// What could not be checked or removed (no broker, no Docker daemon).
    pub problems: Vec<String>,
}

/// Removes what legacy managers of an earlier process left for `instances`
/// (the service and VNF instance ids this orchestrator records): their
/// vhosts, which ends 5GTANGO's managers (they exit when their connection
/// closes), and their containers. Run at start, before any event: an
/// instance's managers start again on its next event. Best effort: what
/// cannot be reached is reported, not fatal.
pub async fn remove_leftovers(broker: &Broker, instances: &HashSet<String>) -> Leftovers {
    let mut leftovers = Leftovers::default();
    let listing = broker.clone();
    let doomed: HashSet<String> = instances
        .iter()
        .flat_map(|id| {
            [
                wire::vhost(ManagerKind::Service, id),
                wire::vhost(ManagerKind::Function, id),
            ]
        })
        .collect();
    let deleted = wasmano_host::run_blocking(move || -> Result<usize, String> {
        let mut deleted = 0;
        for vhost in listing.vhosts().map_err(|error| error.to_string())? {
            if doomed.contains(&vhost) {
                listing.delete_vhost(&vhost).map_err(|error| error.to_string())?;
                deleted += 1;
            }
        }
        Ok(deleted)
    })
    .await
    .unwrap_or_else(|| Err("the management API call panicked".into()));
    match deleted {
        Ok(count) => leftovers.vhosts = count,
        Err(problem) => leftovers.problems.push(problem),
    }
    match super::launcher::remove_containers_of(instances).await {
        Ok(count) => leftovers.containers = count,
        Err(problem) => leftovers.problems.push(problem),
    }
    leftovers
}

/// One manager of a [`LegacyGroup`].
#[derive(Debug, Clone)]
pub struct LegacyManager {
    id: String,
    group: Arc<LegacyGroup>,
    deadline: Duration,
}

impl LegacyManager {
    /// The manager `id` of `group`, each event answered within `deadline`.
    pub fn new(id: impl Into<String>, group: Arc<LegacyGroup>, deadline: Duration) -> Self {
        Self {
            id: id.into(),
            group,
            deadline,
        }
    }

    /// The group it belongs to.
    pub fn group(&self) -> &Arc<LegacyGroup> {
        &self.group
    }

    /// How long it has for one event.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    async fn call(&self, request: Request) -> Result<Reply, Cause> {
        let event = request.event();
        if event.kind() != self.group.kind() {
            return Err(Cause::NotHandled);
        }
        let instance = request.instance().ok_or_else(|| {
            Cause::Host("a legacy manager needs the service or function instance an event is for".into())
        })?;
        let running = self.group.instance(instance).await.map_err(|error| match error {
            LegacyError::Start { .. } => Cause::Fault(Fault::DidNotStart(error.to_string())),
            LegacyError::Broker(_) | LegacyError::Amqp { .. } => Cause::Host(error.to_string()),
        })?;
        let content: Value = serde_json::from_str(request.content_json())
            .map_err(|error| Cause::Host(format!("the request's content: {error}")))?;
        let body = wire::envelope(event, content);
        if event == Event::Ssm(SsmEvent::Monitor) {
            running.notify(&body).await.map_err(call_cause)?;
            return Ok(Reply::Workflows(Vec::new()));
        }
        let answer = running.call(&body, self.deadline).await.map_err(call_cause)?;
        reply_from_tango(event, &answer)
    }
}

fn call_cause(error: CallError) -> Cause {
    match error {
        CallError::Deadline(deadline) => Cause::Fault(Fault::Timeout { deadline }),
        CallError::Body(message) => Cause::Fault(Fault::InvalidReply(message)),
        broker @ CallError::Broker { .. } => Cause::Host(broker.to_string()),
    }
}

impl SpecificManager for LegacyManager {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> ManagerKind {
        self.group.kind()
    }

    fn invoke(&self, request: Request) -> BoxFuture<'_, Result<Reply, InvocationError>> {
        Box::pin(async move {
            let event = request.event();
            self.call(request).await.map_err(|cause| InvocationError {
                manager: self.id.clone(),
                event,
                cause,
            })
        })
    }

    fn keeps_instances(&self) -> bool {
        true
    }

    fn release<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.group.release(instance).await.map_err(|error| error.to_string()) })
    }

    /// The message in 5GTANGO's envelope, as a notification on the
    /// instance's event topic; the instance's managers are started first if
    /// they do not run (5GTANGO's SLM had started every SSM when it
    /// instantiated the service).
    fn notify<'a>(&'a self, instance: &'a str, event: Event, content: &'a Value) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let running = self.group.instance(instance).await.map_err(|error| error.to_string())?;
            let body = wire::envelope(event, content.clone());
            running.notify(&body).await.map_err(|error| error.to_string())
        })
    }
}

/// The in-place update of one manager to a group's spec of it
/// ([`LegacyGroup::hand_over`]), as the workflows see it.
#[derive(Debug, Clone)]
pub struct LegacyHandover {
    /// The group with the manager's new spec (or without it, when it
    /// became a module).
    pub group: Arc<LegacyGroup>,
    /// The manager's id.
    pub manager: String,
}

impl ManagerHandover for LegacyHandover {
    fn hand_over<'a>(&'a self, instances: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.group
                .hand_over(&self.manager, instances)
                .await
                .map_err(|error| error.to_string())
        })
    }
}
