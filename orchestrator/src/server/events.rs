//! `GET /wasmano/v1/events`: the lifecycle as Server-Sent Events, for
//! dashboards and watchers: `lcm_op_occ` (an operation occurrence entered a
//! state: START for PROCESSING and ROLLING_BACK, RESULT otherwise), `step`
//! (one per journaled step of a run, as the run stores it: a hook's step
//! goes out with the run's next durable write) and `ns_instance` (CREATED,
//! DELETED).
//!
//! One background task, [`observe`], follows
//! [`Lifecycle::subscribe`](crate::lcm::Lifecycle::subscribe) from the
//! moment the server state is built (before recovery, so that what recovery
//! concludes is seen too). It feeds the [`Metrics`] and numbers every event
//! once into an in-memory ring of the last [`RETAINED_EVENTS`], which every
//! client reads at its own pace: a slow client holds nobody up, and one that
//! falls behind the ring gets `event: reset`. A retried operation's journal
//! repeats the earlier run's steps; they are published once (the count
//! published is remembered while the operation is open).
//!
//! Ids are strictly increasing integers. The first id of a process is its
//! start time in microseconds since the epoch (below 2^53, safe in
//! JavaScript), so an id from before a restart is older than any id of the
//! new process. A `Last-Event-ID` still in the ring resumes after it; one
//! older than the ring (or from before a restart), newer than the last id,
//! or unreadable gets `event: reset` (without an id) and then every retained
//! event; no `Last-Event-ID` means live events only. The ring is memory, not
//! the journal: a client that gets a reset re-reads the resources.
//!
//! A client sees the events of the projects it may read;
//! `?nsInstanceId=` narrows them to one NS instance. A keep-alive comment
//! goes out every [`KEEP_ALIVE`]; the streams end when the server shuts
//! down ([`EventLog::close`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::Query;
use super::metrics::Metrics;
use super::problem::Problem;
use crate::access::Principal;
use crate::bus::lifecycle::{self, LifecycleMessage};
use crate::clock::rfc3339;
use crate::lcm::model::{NsInstance, OpOccurrence, OperationState};
use crate::lcm::{LcmEvent, Lifecycle};
use crate::records::JournalEntry;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

/// How many events the ring keeps for clients that resume or lag.
pub const RETAINED_EVENTS: usize = 10_000;

/// How often an idle stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How many events a client takes from the ring at once.
const BATCH: usize = 256;

/// What a reset says.
const RESET_REASON: &str = "the events after Last-Event-ID are not retained; re-read the resources";

/// An event numbered in the ring.
#[derive(Debug)]
struct Numbered {
    id: u64,
    kind: &'static str,
    /// Who may see it: clients that may read this project; `None`, all.
    project_id: Option<String>,
    /// The NS instance it is about, when it is about one.
    ns_instance_id: Option<String>,
    /// The `data:` line, a JSON object.
    data: String,
}

/// An event before it is numbered.
#[derive(Debug)]
struct Unnumbered {
    kind: &'static str,
    project_id: Option<String>,
    ns_instance_id: Option<String>,
    data: Value,
}

#[derive(Debug)]
struct Ring {
    events: VecDeque<Arc<Numbered>>,
    capacity: usize,
    /// The id the next event gets.
    next_id: u64,
    /// Set at shutdown: every stream ends.
    closed: bool,
}

impl Ring {
    /// The oldest retained id (the next one when none is retained).
    fn first_id(&self) -> u64 {
        self.events.front().map_or(self.next_id, |event| event.id)
    }

    /// The last id given (the one before the first when none was).
    fn latest_id(&self) -> u64 {
        self.next_id - 1
    }
}

/// Where a client starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// No `Last-Event-ID`: live events only.
    Live,
    /// After this id.
    After(u64),
    /// An unreadable `Last-Event-ID`.
    Unknown,
}

/// What a client reads from the ring.
#[derive(Debug)]
enum Read {
    /// The server shuts down.
    Closed,
    /// The events after the cursor (at most [`BATCH`]); `gap` when some
    /// after it are no longer retained.
    Events { gap: bool, events: Vec<Arc<Numbered>> },
}

/// The numbered events of this process, the last [`RETAINED_EVENTS`] of
/// them, and the connected clients.
#[derive(Debug)]
pub struct EventLog {
    ring: Mutex<Ring>,
    /// The last id given, for clients waiting for more.
    latest: watch::Sender<u64>,
    clients: AtomicUsize,
}

impl Default for EventLog {
    fn default() -> Self {
        let first = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX / 2))
            .max(1);
        Self::new(RETAINED_EVENTS, first)
    }
}

impl EventLog {
    /// A log keeping `capacity` events, numbering from `first_id` (> 0).
    fn new(capacity: usize, first_id: u64) -> Self {
        Self {
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(capacity.min(1024)),
                capacity,
                next_id: first_id,
                closed: false,
            }),
            latest: watch::Sender::new(first_id - 1),
            clients: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers `events` and wakes the clients.
    fn push(&self, events: Vec<Unnumbered>) {
        if events.is_empty() {
            return;
        }
        let latest = {
            let mut ring = self.lock();
            for event in events {
                let numbered = Numbered {
                    id: ring.next_id,
                    kind: event.kind,
                    project_id: event.project_id,
                    ns_instance_id: event.ns_instance_id,
                    data: event.data.to_string(),
                };
                ring.next_id += 1;
                ring.events.push_back(Arc::new(numbered));
                if ring.events.len() > ring.capacity {
                    ring.events.pop_front();
                }
            }
            ring.latest_id()
        };
        self.latest.send_replace(latest);
    }

    /// Ends every stream (at shutdown: open streams would keep a graceful
    /// shutdown waiting forever).
    pub fn close(&self) {
        let latest = {
            let mut ring = self.lock();
            ring.closed = true;
            ring.latest_id()
        };
        self.latest.send_replace(latest);
    }

    /// How many clients are connected.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    /// Whether a client starting at `resume` gets a reset first, and the
    /// id after which it reads.
    fn start(&self, resume: Resume) -> (bool, u64) {
        let ring = self.lock();
        let (first, latest) = (ring.first_id(), ring.latest_id());
        match resume {
            Resume::Live => (false, latest),
            Resume::After(id) if id <= latest && id.saturating_add(1) >= first => (false, id),
            Resume::After(_) | Resume::Unknown => (true, first - 1),
        }
    }

    /// The events after `cursor`.
    fn read(&self, cursor: u64) -> Read {
        let ring = self.lock();
        if ring.closed {
            return Read::Closed;
        }
        let first = ring.first_id();
        let (gap, from) = if cursor.saturating_add(1) < first {
            (true, first)
        } else {
            (false, cursor.saturating_add(1))
        };
        let skip = usize::try_from(from - first)
            .unwrap_or(usize::MAX)
            .min(ring.events.len());
        Read::Events {
            gap,
            events: ring.events.range(skip..).take(BATCH).cloned().collect(),
        }
    }

    /// Hands every event from now on, in order, to `messages` as a
    /// [`LifecycleMessage`] (a reset when the follower fell behind the
    /// ring), until the log closes or the receiver goes: the feed of
    /// [`crate::bus::lifecycle::publish`].
    pub async fn follow(self: Arc<Self>, messages: tokio::sync::mpsc::Sender<LifecycleMessage>) {
        let mut changes = self.latest.subscribe();
        let (_, mut cursor) = self.start(Resume::Live);
        loop {
            let Read::Events { gap, events } = self.read(cursor) else {
                return;
            };
            if gap {
                let body = json!({"reason": "the publisher fell behind; events were lost"}).to_string();
                let reset = LifecycleMessage {
                    topic: lifecycle::topic("reset", None),
                    body,
                };
                if messages.send(reset).await.is_err() {
                    return;
                }
            }
            if events.is_empty() {
                if changes.changed().await.is_err() {
                    return;
                }
                continue;
            }
            for event in events {
                cursor = event.id;
                let message = LifecycleMessage {
                    topic: lifecycle::topic(event.kind, event.ns_instance_id.as_deref()),
                    body: event.data.clone(),
                };
                if messages.send(message).await.is_err() {
                    return;
                }
            }
        }
    }

    /// A client of `principal`, counted until it is dropped.
    fn client(self: &Arc<Self>, principal: Principal, ns_instance_id: Option<String>, resume: Resume) -> Client {
        let changes = self.latest.subscribe();
        let (reset, cursor) = self.start(resume);
        self.clients.fetch_add(1, Ordering::SeqCst);
        Client {
            log: Arc::clone(self),
            principal,
            ns_instance_id,
            cursor,
            reset,
            pending: VecDeque::new(),
            changes,
        }
    }
}

/// One connected stream: where it is in the ring and what it may see.
#[derive(Debug)]
struct Client {
    log: Arc<EventLog>,
    principal: Principal,
    ns_instance_id: Option<String>,
    /// The last id read from the ring (sent or filtered out).
    cursor: u64,
    /// A reset is due before the next event.
    reset: bool,
    /// Read and visible, not sent yet.
    pending: VecDeque<Arc<Numbered>>,
    changes: watch::Receiver<u64>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.log.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Client {
    fn visible(&self, event: &Numbered) -> bool {
        event
            .project_id
            .as_deref()
            .is_none_or(|project| self.principal.may_read(project))
            && self.ns_instance_id.as_deref().is_none_or(|wanted| {
                event
                    .ns_instance_id
                    .as_deref()
                    .is_none_or(|instance| instance == wanted)
            })
    }

    /// The next event to send, waiting for one; `None` at shutdown.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if self.reset {
                self.reset = false;
                let reset = Event::default()
                    .event("reset")
                    .data(json!({"reason": RESET_REASON}).to_string());
                return Some((Ok(reset), self));
            }
            if let Some(event) = self.pending.pop_front() {
                let sent = Event::default()
                    .id(event.id.to_string())
                    .event(event.kind)
                    .data(&event.data);
                return Some((Ok(sent), self));
            }
            // Seen before reading: a push after the read wakes the wait.
            drop(self.changes.borrow_and_update());
            match self.log.read(self.cursor) {
                Read::Closed => return None,
                Read::Events { gap, events } => {
                    self.reset |= gap;
                    let Some(last) = events.last() else {
                        if self.reset {
                            continue;
                        }
                        if self.changes.changed().await.is_err() {
                            return None;
                        }
                        continue;
                    };
                    self.cursor = last.id;
                    let visible: Vec<Arc<Numbered>> = events.into_iter().filter(|event| self.visible(event)).collect();
                    self.pending.extend(visible);
                }
            }
        }
    }
}

/// Which events a client hears.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct EventFilter {
    /// Only the events about this NS instance.
    ns_instance_id: Option<String>,
}

/// The lifecycle's events as Server-Sent Events (`lcm_op_occ`, `step`,
/// `ns_instance`), for the projects the caller may read; the stream does
/// not end.
#[utoipa::path(
    get,
    path = "/wasmano/v1/events",
    tag = "events",
    params(
        EventFilter,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event"),
    ),
    responses(
        (status = 200, description = "the event stream; `event: reset` first when the events after `Last-Event-ID` are not retained",
            body = String, content_type = "text/event-stream"),
        (status = 400, description = "an unreadable query"),
    )
)]
async fn stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Query(filter): Query<EventFilter>,
) -> Result<Response, Problem> {
    let resume = match headers.get("last-event-id") {
        None => Resume::Live,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .map_or(Resume::Unknown, Resume::After),
    };
    let client = state.events.client(principal, filter.ns_instance_id, resume);
    let events = futures_util::stream::unfold(client, Client::next);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Follows the lifecycle's events from now on, in a background task that
/// ends with the lifecycle: the metrics (seeded with the operations open
/// when it starts) and the event log. Needs a Tokio runtime.
pub fn observe(lifecycle: &Lifecycle, log: Arc<EventLog>, metrics: Arc<Metrics>) {
    let mut receiver = lifecycle.subscribe();
    // The task must not keep the lifecycle (its sender, the data directory)
    // alive, not even while it reads: a server stopped meanwhile could not
    // be opened again on the same data directory at once.
    let seeding = lifecycle.operations();
    tokio::spawn(async move {
        match seeding.await {
            Ok(operations) => metrics.seed_open(&operations),
            Err(error) => tracing::warn!("cannot read the open operations for the metrics: {error}"),
        }
        let mut feed = Feed::new(log, metrics);
        loop {
            match receiver.recv().await {
                Ok(event) => feed.take(event),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("the event stream and the metrics missed {missed} lifecycle event(s)");
                    feed.take(LcmEvent::StepsMissed);
                    feed.log.push(vec![Unnumbered {
                        kind: "reset",
                        project_id: None,
                        ns_instance_id: None,
                        data: json!({"reason": format!("the server missed {missed} lifecycle event(s); re-read the resources")}),
                    }]);
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// What the observer task keeps.
#[derive(Debug)]
struct Feed {
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    /// How many journal entries were published, per open operation.
    published: HashMap<String, usize>,
    /// The open operations, for the steps their runs store as they go.
    open: HashMap<String, OpOccurrence>,
    /// Open operations some of whose stored steps were not seen, or whose
    /// run ended (the steps it committed last may come after the whole
    /// list): the rest is published when their runs end, in order, until
    /// they run again (retry, rollback).
    unfollowed: HashSet<String>,
    /// The operations closed last, whose steps committed may still come
    /// (they were all published when their runs ended).
    closed: VecDeque<String>,
}

/// How many closed operations [`Feed`] remembers.
const RECENTLY_CLOSED: usize = 1024;

impl Feed {
    fn new(log: Arc<EventLog>, metrics: Arc<Metrics>) -> Self {
        Self {
            log,
            metrics,
            published: HashMap::new(),
            open: HashMap::new(),
            unfollowed: HashSet::new(),
            closed: VecDeque::new(),
        }
    }

    fn take(&mut self, event: LcmEvent) {
        match event {
            LcmEvent::Operation(operation) => {
                self.metrics.operation(&operation);
                if operation.operation_state.is_open() {
                    let waited = self.open.insert(operation.id.clone(), operation.clone());
                    // A run again from FAILED_TEMP: its steps are followed.
                    if waited.is_some_and(|waited| waited.operation_state == OperationState::FailedTemp)
                        && operation.operation_state != OperationState::FailedTemp
                    {
                        self.unfollowed.remove(&operation.id);
                    }
                } else {
                    self.published.remove(&operation.id);
                    self.open.remove(&operation.id);
                    if self.closed.len() == RECENTLY_CLOSED {
                        self.closed.pop_front();
                    }
                    self.closed.push_back(operation.id.clone());
                    self.unfollowed.remove(&operation.id);
                }
                self.log.push(vec![operation_event(&operation)]);
            }
            LcmEvent::StepsCommitted { operation_id, steps } => {
                let operation = match self.open.get(&operation_id) {
                    Some(operation) if !self.unfollowed.contains(&operation_id) => operation,
                    // Told already, with all its steps.
                    None if self.closed.contains(&operation_id) => return,
                    // Published in order when the run ends.
                    _ => {
                        self.unfollowed.insert(operation_id);
                        return;
                    }
                };
                let published = self.published.get(&operation_id).copied().unwrap_or(0);
                let fresh: Vec<Unnumbered> = steps
                    .iter()
                    .enumerate()
                    .map(|(index, entry)| {
                        self.metrics.step(entry);
                        step_event(operation, published + index + 1, entry)
                    })
                    .collect();
                self.published.insert(operation_id, published + steps.len());
                self.log.push(fresh);
            }
            LcmEvent::Steps { operation, steps } => {
                let published = self.published.get(&operation.id).copied().unwrap_or(0);
                let fresh: Vec<Unnumbered> = steps
                    .iter()
                    .enumerate()
                    .skip(published)
                    .map(|(index, entry)| {
                        self.metrics.step(entry);
                        step_event(&operation, index + 1, entry)
                    })
                    .collect();
                self.published.insert(operation.id.clone(), steps.len().max(published));
                // What the run committed last may still come: told now.
                self.unfollowed.insert(operation.id.clone());
                self.log.push(fresh);
            }
            LcmEvent::StepsMissed => self.unfollowed.extend(self.open.keys().cloned()),
            LcmEvent::InstanceCreated(instance) => self.log.push(vec![instance_event(&instance, "CREATED")]),
            LcmEvent::InstanceDeleted(instance) => self.log.push(vec![instance_event(&instance, "DELETED")]),
        }
    }
}

fn operation_event(operation: &OpOccurrence) -> Unnumbered {
    let status = match operation.operation_state {
        OperationState::Processing | OperationState::RollingBack => "START",
        _ => "RESULT",
    };
    Unnumbered {
        kind: "lcm_op_occ",
        project_id: Some(operation.project_id.clone()),
        ns_instance_id: Some(operation.ns_instance_id.clone()),
        data: json!({
            "nsLcmOpOccId": operation.id,
            "nsInstanceId": operation.ns_instance_id,
            "lcmOperationType": operation.lcm_operation_type,
            "operationState": operation.operation_state,
            "notificationStatus": status,
            "timeStamp": operation.state_entered_time,
        }),
    }
}

fn step_event(operation: &OpOccurrence, seq: usize, entry: &JournalEntry) -> Unnumbered {
    Unnumbered {
        kind: "step",
        project_id: Some(operation.project_id.clone()),
        ns_instance_id: Some(operation.ns_instance_id.clone()),
        data: json!({
            "nsLcmOpOccId": operation.id,
            "nsInstanceId": operation.ns_instance_id,
            "seq": seq,
            "workflow": entry.workflow,
            "step": entry.step,
            "manager": entry.manager,
            "event": entry.event,
            "outcome": entry.outcome.as_str(),
            "startedAt": rfc3339(entry.started_at),
            "durationSeconds": entry.duration.as_secs_f64(),
            "error": entry.error,
        }),
    }
}

fn instance_event(instance: &NsInstance, change: &str) -> Unnumbered {
    Unnumbered {
        kind: "ns_instance",
        project_id: Some(instance.project_id.clone()),
        ns_instance_id: Some(instance.id.clone()),
        data: json!({"nsInstanceId": instance.id, "change": change}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::server::metrics::Gauges;

    fn instance_created(log: &EventLog, project: &str, instance: &str) {
        log.push(vec![Unnumbered {
            kind: "ns_instance",
            project_id: Some(project.to_owned()),
            ns_instance_id: Some(instance.to_owned()),
            data: json!({"nsInstanceId": instance, "change": "CREATED"}),
        }]);
    }

    fn principal(project: Option<&str>) -> Principal {
        Principal {
            token_id: "t".into(),
            role: Role::Viewer,
            project_id: project.map(str::to_owned),
        }
    }

    fn ids(log: &EventLog, cursor: u64) -> (bool, Vec<u64>) {
        match log.read(cursor) {
            Read::Events { gap, events } => (gap, events.iter().map(|event| event.id).collect()),
            Read::Closed => panic!("closed"),
        }
    }

    fn operation(state: &str) -> OpOccurrence {
        OpOccurrence::sample(state)
    }

    fn entry(step: &str) -> JournalEntry {
        JournalEntry::sample(step, crate::records::StepOutcome::Succeeded)
    }

    /// The `step` events of the log, as `seq step`.
    fn steps(log: &EventLog) -> Vec<String> {
        let Read::Events { events, .. } = log.read(0) else {
            panic!("closed")
        };
        events
            .iter()
            .filter(|event| event.kind == "step")
            .map(|event| {
                let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
                format!("{} {}", data["seq"], data["step"].as_str().unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn steps_told_while_a_run_goes_are_not_told_again_when_it_ends() {
        let log = Arc::new(EventLog::new(100, 1));
        let mut feed = Feed::new(Arc::clone(&log), Arc::new(Metrics::default()));
        let committed = |names: &[&str]| LcmEvent::StepsCommitted {
            operation_id: "o1".into(),
            steps: names.iter().map(|name| entry(name)).collect(),
        };
        let ended = |names: [&str; 4]| LcmEvent::Steps {
            operation: operation("COMPLETED"),
            steps: names.map(entry).to_vec(),
        };
        feed.take(LcmEvent::Operation(operation("PROCESSING")));
        feed.take(committed(&["read NSR", "deploy web"]));
        feed.take(committed(&["ssm configure"]));
        assert_eq!(steps(&log), ["1 read NSR", "2 deploy web", "3 ssm configure"]);
        feed.take(ended(["read NSR", "deploy web", "ssm configure", "NSR in operation"]));
        feed.take(LcmEvent::Operation(operation("COMPLETED")));
        let told = ["1 read NSR", "2 deploy web", "3 ssm configure", "4 NSR in operation"];
        assert_eq!(steps(&log), told);
        assert!(
            feed.open.is_empty() && feed.published.is_empty(),
            "forgotten once closed"
        );

        // Steps stored before an operation was seen open (or missed by a
        // slow feed) make the rest wait for the run's end, in order.
        let log = Arc::new(EventLog::new(100, 1));
        feed.log = Arc::clone(&log);
        let other = |state: &str| OpOccurrence {
            id: "o2".into(),
            ..operation(state)
        };
        let committed = |names: &[&str]| LcmEvent::StepsCommitted {
            operation_id: "o2".into(),
            steps: names.iter().map(|name| entry(name)).collect(),
        };
        feed.take(committed(&["read NSR"]));
        feed.take(LcmEvent::Operation(other("PROCESSING")));
        feed.take(committed(&["deploy web"]));
        feed.take(LcmEvent::StepsMissed);
        assert!(steps(&log).is_empty());
        feed.take(LcmEvent::Steps {
            operation: other("COMPLETED"),
            steps: ["read NSR", "deploy web", "ssm configure", "NSR in operation"]
                .map(entry)
                .to_vec(),
        });
        feed.take(LcmEvent::Operation(other("COMPLETED")));
        assert_eq!(steps(&log), told);
        assert!(feed.unfollowed.is_empty());
    }

    #[test]
    fn steps_committed_that_arrive_after_the_runs_end_are_told_once_and_not_kept() {
        let log = Arc::new(EventLog::new(100, 1));
        let mut feed = Feed::new(Arc::clone(&log), Arc::new(Metrics::default()));
        let id = operation("PROCESSING").id;
        let committed = |names: &[&str]| LcmEvent::StepsCommitted {
            operation_id: id.clone(),
            steps: names.iter().map(|name| entry(name)).collect(),
        };
        let all = ["read NSR", "deploy web", "ssm configure", "NSR in operation"];
        feed.take(LcmEvent::Operation(operation("PROCESSING")));
        feed.take(committed(&["read NSR"]));
        // The run's end overtakes the steps it committed last.
        feed.take(LcmEvent::Steps {
            operation: operation("COMPLETED"),
            steps: all.map(entry).to_vec(),
        });
        feed.take(committed(&["deploy web", "ssm configure"]));
        feed.take(LcmEvent::Operation(operation("COMPLETED")));
        feed.take(committed(&["NSR in operation"]));
        assert_eq!(
            steps(&log),
            ["1 read NSR", "2 deploy web", "3 ssm configure", "4 NSR in operation"]
        );
        assert!(feed.unfollowed.is_empty() && feed.published.is_empty() && feed.open.is_empty());
        let scrape = feed.metrics.render(Gauges::default());
        let deploys = scrape.lines().find(|line| {
            line.starts_with("wasmano_workflow_step_duration_seconds_count") && line.contains("\"deploy\"")
        });
        assert!(deploys.is_some_and(|line| line.ends_with(" 1")), "{scrape}");

        // A retry from FAILED_TEMP is followed again, numbered on.
        let log = Arc::new(EventLog::new(100, 1));
        feed.log = Arc::clone(&log);
        let retried = |state: &str| OpOccurrence {
            id: "o3".into(),
            ..operation(state)
        };
        let committed = |names: &[&str]| LcmEvent::StepsCommitted {
            operation_id: "o3".into(),
            steps: names.iter().map(|name| entry(name)).collect(),
        };
        let ended = |state: &str, names: &[&str]| LcmEvent::Steps {
            operation: retried(state),
            steps: names.iter().map(|name| entry(name)).collect(),
        };
        feed.take(LcmEvent::Operation(retried("PROCESSING")));
        feed.take(committed(&["read NSR"]));
        feed.take(ended("FAILED_TEMP", &["read NSR", "deploy web"]));
        feed.take(LcmEvent::Operation(retried("FAILED_TEMP")));
        feed.take(LcmEvent::Operation(retried("PROCESSING")));
        feed.take(committed(&["deploy web"]));
        assert_eq!(steps(&log), ["1 read NSR", "2 deploy web", "3 deploy web"]);
        feed.take(ended(
            "COMPLETED",
            &["read NSR", "deploy web", "deploy web", "NSR in operation"],
        ));
        feed.take(LcmEvent::Operation(retried("COMPLETED")));
        assert_eq!(
            steps(&log),
            ["1 read NSR", "2 deploy web", "3 deploy web", "4 NSR in operation"]
        );
    }

    #[test]
    fn resuming_replays_what_is_retained_and_resets_otherwise() {
        let log = EventLog::new(3, 100);
        assert_eq!(log.start(Resume::Live), (false, 99));
        assert_eq!(log.start(Resume::After(99)), (false, 99));
        assert_eq!(log.start(Resume::After(5_000)), (true, 99), "from another process");
        for n in 0..5 {
            instance_created(&log, "p", &format!("i{n}"));
        }
        // 100..=104 numbered, 102..=104 retained.
        assert_eq!(log.start(Resume::Live), (false, 104));
        assert_eq!(log.start(Resume::After(101)), (false, 101));
        assert_eq!(log.start(Resume::After(100)), (true, 101), "older than the ring");
        assert_eq!(log.start(Resume::After(105)), (true, 101), "newer than the last");
        assert_eq!(log.start(Resume::Unknown), (true, 101));
        assert_eq!(ids(&log, 101), (false, vec![102, 103, 104]));
        assert_eq!(ids(&log, 103), (false, vec![104]));
        assert_eq!(ids(&log, 104), (false, vec![]));
        assert_eq!(ids(&log, 50), (true, vec![102, 103, 104]), "a client that fell behind");
        log.close();
        assert!(matches!(log.read(104), Read::Closed));
    }

    #[tokio::test]
    async fn clients_see_their_projects_in_order_and_are_counted() {
        let log = Arc::new(EventLog::new(100, 1));
        let own = log.client(principal(Some("p")), None, Resume::Live);
        let filtered = log.client(principal(None), Some("i2".into()), Resume::Live);
        assert_eq!(log.clients(), 2);
        instance_created(&log, "q", "i1");
        instance_created(&log, "p", "i2");
        instance_created(&log, "p", "i3");
        let (_, own) = own.next().await.expect("an event");
        let (_, own) = own.next().await.expect("an event");
        assert_eq!(own.cursor, 3, "read past the other project's event");
        assert!(own.pending.is_empty());
        drop(own);
        let (_, filtered) = filtered.next().await.expect("an event");
        assert_eq!(filtered.cursor, 3);
        assert!(filtered.pending.is_empty(), "only i2");
        assert_eq!(log.clients(), 1);
        let replay = log.client(principal(Some("p")), None, Resume::After(0));
        assert_eq!((replay.reset, replay.cursor), (false, 0));
        drop(replay);
        drop(filtered);
        assert_eq!(log.clients(), 0);
        let waiting = log.client(principal(None), None, Resume::Live);
        log.close();
        assert!(waiting.next().await.is_none(), "streams end at shutdown");
    }
}
