//! `GET /metrics`: the service's metrics in the Prometheus text exposition
//! format 0.0.4, for system-scoped tokens only (a project token gets 403).
//!
//! HTTP requests are counted by the middleware [`track`], which wraps every
//! route and the fallback, so 401s, 403s and 404s count too; its `route`
//! label is the matched route template (`/nslcm/v1/ns_instances/{id}`) or
//! `unmatched`, and unknown methods are `other`. Operation occurrences and
//! journaled steps come from the lifecycle's events (fed by
//! [`events::observe`](super::events::observe)); NS instances and the
//! host's demoted hooks are counted when scraped; notification deliveries are counted by the subscriptions'
//! delivery tasks. Labels never carry ids: a step's name, which names VNFs and
//! VIMs, is reduced to its kind by [`step_kind`]. The exposition is written
//! by hand (HELP and TYPE lines, escaped label values, cumulative histogram
//! buckets ending with `+Inf`, `_sum` and `_count`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::problem::{Problem, ProblemKind};
use crate::access::Principal;
use crate::lcm::model::{NsState, OpOccurrence, OperationState, OperationType, text_of};
use crate::records::{JournalEntry, StepOutcome};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// The exposition's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket upper bounds of the HTTP request durations, in seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket upper bounds of the operation durations, in seconds.
const OPERATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Bucket upper bounds of the workflow step durations, in seconds.
const STEP_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Bucket upper bounds of the hook durations, in seconds, from 10 µs.
const HOOK_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// At most this many running operations have their start instant kept;
/// beyond, durations come from the stored timestamps (to the second).
const MAX_STARTS: usize = 10_000;

/// The reasons `wasmano_auth_failures_total` counts.
const AUTH_REASONS: [&str; 5] = ["missing", "invalid", "expired", "revoked", "forbidden"];

/// Every operation type, for the open-operations gauge.
const OPERATION_TYPES: [OperationType; 6] = [
    OperationType::Instantiate,
    OperationType::Scale,
    OperationType::Terminate,
    OperationType::Update,
    OperationType::Migrate,
    OperationType::Reconfigure,
];

/// First words of step names whose second word names a kind of thing,
/// never an id: the kind keeps both words (see [`step_kind`]).
const QUALIFIED: &[&str] = &["fsm", "ssm", "default", "read", "store", "validate"];

/// The kind of a journaled step, a bounded metric label: step names carry
/// VNF ids and VIM names (`deploy web on edge-eu-west`, `fsm start web`),
/// while their first word is always one of the workflow code's own. The
/// kind is that first word, plus the second when the first is `fsm` or
/// `ssm` (the hook: `fsm start`, `ssm placement`, `fsm state`) or one of
/// `default`, `read`, `store`, `validate`, whose second word is a fixed
/// noun (`default placement`, `store VNFR`, `validate mapping`).
pub fn step_kind(step: &str) -> String {
    let mut words = step.split_whitespace();
    let first = words.next().unwrap_or("");
    match words.next() {
        Some(second) if QUALIFIED.contains(&first) => format!("{first} {second}"),
        _ => first.to_owned(),
    }
}

/// The manager kind of a hook step, from its name's first word: `ssm`,
/// `fsm`, or `other`.
fn hook_kind(step: &str) -> &'static str {
    match step.split_whitespace().next() {
        Some("ssm") => "ssm",
        Some("fsm") => "fsm",
        _ => "other",
    }
}

/// The method as a bounded label: the standard ones, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts per bucket (not cumulative), sum and count.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, seconds: f64) {
        if let Some(bucket) = self.bounds.iter().position(|bound| seconds <= *bound) {
            self.counts[bucket] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Adds an observation to the histogram of `key` in `family`.
fn observe<K: Ord>(family: &mut BTreeMap<K, Histogram>, key: K, bounds: &'static [f64], seconds: f64) {
    family
        .entry(key)
        .or_insert_with(|| Histogram::new(bounds))
        .observe(seconds);
}

#[derive(Debug, Default)]
struct Registry {
    /// By method, route template, status.
    http_requests: BTreeMap<(&'static str, String, u16), u64>,
    /// By method, route template.
    http_durations: BTreeMap<(&'static str, String), Histogram>,
    /// By operation type, state.
    operations: BTreeMap<(String, String), u64>,
    /// By operation type, state.
    operation_durations: BTreeMap<(String, String), Histogram>,
    /// The open operations (one per NS instance at most), by id.
    open: HashMap<String, OperationType>,
    /// When the operations started in this process did, by id, until they
    /// reach a final state.
    started: HashMap<String, Instant>,
    /// By workflow, step kind.
    step_durations: BTreeMap<(String, String), Histogram>,
    /// By kind, event, outcome.
    hooks: BTreeMap<(&'static str, String, &'static str), u64>,
    /// By kind, event.
    hook_durations: BTreeMap<(&'static str, String), Histogram>,
    /// By reason.
    auth_failures: BTreeMap<&'static str, u64>,
    /// By result.
    notifications: BTreeMap<&'static str, u64>,
}

/// What became of one try to deliver a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The callback took it.
    Delivered,
    /// The try failed; another follows.
    Retried,
    /// Given up: tries exhausted, queue full, or subscription deleted.
    Dropped,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retried => "retried",
            Self::Dropped => "dropped",
        }
    }
}

/// What the server counts; shared by the middleware, the lifecycle
/// observer and the scrape.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

/// What a scrape reads from elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// NS instances not instantiated.
    pub not_instantiated: u64,
    /// NS instances instantiated.
    pub instantiated: u64,
    /// Connected event-stream clients.
    pub stream_clients: usize,
    /// Hooks the host demoted past their slice since it started; `None`
    /// when it does not demote.
    pub demoted_hooks: Option<u64>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an answered HTTP request (a 403 also as an authorization
    /// failure).
    pub fn request(&self, method: &Method, route: Option<&str>, status: StatusCode, elapsed: Duration) {
        let method = method_label(method);
        let route = route.unwrap_or("unmatched").to_owned();
        let mut registry = self.lock();
        *registry
            .http_requests
            .entry((method, route.clone(), status.as_u16()))
            .or_default() += 1;
        observe(
            &mut registry.http_durations,
            (method, route),
            HTTP_BUCKETS,
            elapsed.as_secs_f64(),
        );
        if status == StatusCode::FORBIDDEN {
            *registry.auth_failures.entry("forbidden").or_default() += 1;
        }
    }

    /// Counts a refused token (`AuthFailure::reason`).
    pub fn auth_failure(&self, reason: &'static str) {
        *self.lock().auth_failures.entry(reason).or_default() += 1;
    }

    /// Counts a notification delivery's outcome.
    pub fn notification(&self, result: Delivery) {
        *self.lock().notifications.entry(result.as_str()).or_default() += 1;
    }

    /// Takes the operations open when the process started (stored ones).
    pub fn seed_open(&self, operations: &[OpOccurrence]) {
        let mut registry = self.lock();
        for operation in operations
            .iter()
            .filter(|operation| operation.operation_state.is_open())
        {
            registry.open.insert(operation.id.clone(), operation.lcm_operation_type);
        }
    }

    /// Follows an operation occurrence entering a state: the open gauge,
    /// and for COMPLETED, FAILED_TEMP, FAILED and ROLLED_BACK the counter
    /// and the duration since its start.
    pub fn operation(&self, operation: &OpOccurrence) {
        let mut registry = self.lock();
        let state = operation.operation_state;
        if state.is_open() {
            registry.open.insert(operation.id.clone(), operation.lcm_operation_type);
        } else {
            registry.open.remove(&operation.id);
        }
        match state {
            OperationState::Processing | OperationState::RollingBack => {
                // A fresh start, not a retry or a roll-back of an older one.
                if operation.start_time == operation.state_entered_time && registry.started.len() < MAX_STARTS {
                    registry
                        .started
                        .entry(operation.id.clone())
                        .or_insert_with(Instant::now);
                }
            }
            OperationState::Completed
            | OperationState::FailedTemp
            | OperationState::Failed
            | OperationState::RolledBack => {
                let seconds = match registry.started.get(&operation.id) {
                    Some(started) => Some(started.elapsed().as_secs_f64()),
                    None => seconds_between(&operation.start_time, &operation.state_entered_time),
                };
                if !state.is_open() {
                    registry.started.remove(&operation.id);
                }
                let key = (text_of(&operation.lcm_operation_type), text_of(&state));
                *registry.operations.entry(key.clone()).or_default() += 1;
                if let Some(seconds) = seconds {
                    observe(&mut registry.operation_durations, key, OPERATION_BUCKETS, seconds);
                }
            }
        }
    }

    /// Follows a journaled step: its duration, and for a hook its outcome
    /// and duration.
    pub fn step(&self, entry: &JournalEntry) {
        // An intent is the first half of an effect's step: the outcome is
        // what gets counted.
        if entry.outcome == StepOutcome::Intended {
            return;
        }
        let seconds = entry.duration.as_secs_f64();
        let mut registry = self.lock();
        observe(
            &mut registry.step_durations,
            (entry.workflow.clone(), step_kind(&entry.step)),
            STEP_BUCKETS,
            seconds,
        );
        if let Some(event) = &entry.event {
            let kind = hook_kind(&entry.step);
            let outcome = if entry.outcome == StepOutcome::Failed {
                "failed"
            } else {
                "ok"
            };
            *registry.hooks.entry((kind, event.clone(), outcome)).or_default() += 1;
            observe(
                &mut registry.hook_durations,
                (kind, event.clone()),
                HOOK_BUCKETS,
                seconds,
            );
        }
    }

    /// The exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        let registry = self.lock();
        let mut out = Exposition::default();
        out.family(
            "wasmano_build_info",
            "gauge",
            "The running wasmano: its version and WIT contract.",
        );
        let contract = wasmano_host::HOST_CONTRACT_VERSION.to_string();
        out.sample(
            "wasmano_build_info",
            &[("version", env!("CARGO_PKG_VERSION")), ("contract", &contract)],
            1,
        );

        out.family(
            "wasmano_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for ((method, route, status), count) in &registry.http_requests {
            let status = status.to_string();
            out.sample(
                "wasmano_http_requests_total",
                &[("method", method), ("route", route), ("status", &status)],
                count,
            );
        }
        out.family(
            "wasmano_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request (to its headers), by method and route template.",
        );
        for ((method, route), histogram) in &registry.http_durations {
            out.histogram(
                "wasmano_http_request_duration_seconds",
                &[("method", method), ("route", route)],
                histogram,
            );
        }

        out.family(
            "wasmano_lcm_operations_total",
            "counter",
            "Operation occurrences that reached COMPLETED, FAILED_TEMP, FAILED or ROLLED_BACK.",
        );
        for ((operation, state), count) in &registry.operations {
            out.sample(
                "wasmano_lcm_operations_total",
                &[("operation", operation), ("state", state)],
                count,
            );
        }
        out.family(
            "wasmano_lcm_operation_duration_seconds",
            "histogram",
            "Time from an operation occurrence's start to the state it reached.",
        );
        for ((operation, state), histogram) in &registry.operation_durations {
            out.histogram(
                "wasmano_lcm_operation_duration_seconds",
                &[("operation", operation), ("state", state)],
                histogram,
            );
        }
        out.family(
            "wasmano_lcm_operations_open",
            "gauge",
            "Operation occurrences PROCESSING, ROLLING_BACK or FAILED_TEMP.",
        );
        for kind in OPERATION_TYPES {
            let open = registry.open.values().filter(|open| **open == kind).count();
            out.sample("wasmano_lcm_operations_open", &[("operation", &text_of(&kind))], open);
        }

        out.family(
            "wasmano_workflow_step_duration_seconds",
            "histogram",
            "Duration of journaled workflow steps, by workflow and step kind.",
        );
        for ((workflow, kind), histogram) in &registry.step_durations {
            out.histogram(
                "wasmano_workflow_step_duration_seconds",
                &[("workflow", workflow), ("step_kind", kind)],
                histogram,
            );
        }
        out.family(
            "wasmano_hook_invocations_total",
            "counter",
            "Specific-manager hook invocations, by manager kind, event and outcome.",
        );
        for ((kind, event, outcome), count) in &registry.hooks {
            out.sample(
                "wasmano_hook_invocations_total",
                &[("kind", kind), ("event", event), ("outcome", outcome)],
                count,
            );
        }
        out.family(
            "wasmano_hook_duration_seconds",
            "histogram",
            "Duration of specific-manager hook invocations, by manager kind and event.",
        );
        for ((kind, event), histogram) in &registry.hook_durations {
            out.histogram(
                "wasmano_hook_duration_seconds",
                &[("kind", kind), ("event", event)],
                histogram,
            );
        }

        out.family("wasmano_ns_instances", "gauge", "NS instances, by state.");
        for (state, count) in [
            (NsState::NotInstantiated, gauges.not_instantiated),
            (NsState::Instantiated, gauges.instantiated),
        ] {
            out.sample("wasmano_ns_instances", &[("state", &text_of(&state))], count);
        }
        out.family(
            "wasmano_event_stream_clients",
            "gauge",
            "Clients connected to the event stream.",
        );
        out.sample("wasmano_event_stream_clients", &[], gauges.stream_clients);
        out.family(
            "wasmano_hook_demotion_enabled",
            "gauge",
            "Whether hooks past their slice run in the idle scheduling class (the process's privileges allow it).",
        );
        out.sample(
            "wasmano_hook_demotion_enabled",
            &[],
            u8::from(gauges.demoted_hooks.is_some()),
        );
        out.family(
            "wasmano_hooks_demoted_total",
            "counter",
            "Hook calls demoted to the idle scheduling class past their slice.",
        );
        out.sample("wasmano_hooks_demoted_total", &[], gauges.demoted_hooks.unwrap_or(0));
        out.family(
            "wasmano_auth_failures_total",
            "counter",
            "Requests refused: no, invalid, expired or revoked token (401), or a role too weak (403).",
        );
        for reason in AUTH_REASONS {
            let count = registry.auth_failures.get(reason).copied().unwrap_or(0);
            out.sample("wasmano_auth_failures_total", &[("reason", reason)], count);
        }
        out.family(
            "wasmano_notifications_total",
            "counter",
            "Notification deliveries: delivered, retried (a try failed, another follows) or dropped.",
        );
        for result in [Delivery::Delivered, Delivery::Retried, Delivery::Dropped] {
            let count = registry.notifications.get(result.as_str()).copied().unwrap_or(0);
            out.sample("wasmano_notifications_total", &[("result", result.as_str())], count);
        }
        out.text
    }
}

/// Seconds from one stored timestamp (`YYYY-MM-DDTHH:MM:SSZ`) to another.
fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let (from, to) = (unix_seconds(from)?, unix_seconds(to)?);
    Some(Duration::from_secs(to.saturating_sub(from)).as_secs_f64())
}

/// Unix seconds of an RFC 3339 UTC timestamp to the second, as
/// [`clock::rfc3339`](crate::clock::rfc3339) writes them (Howard Hinnant's
/// `days_from_civil`).
fn unix_seconds(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'Z')];
    if bytes.len() != 20 || separators.iter().any(|(at, byte)| bytes[*at] != *byte) {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = text.get(from..to)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// The text being written.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        self.text
            .push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(label, value)| format!("{label}=\"{}\"", escape_label(value)))
                .collect();
            self.text.push_str(&format!("{{{}}}", labels.join(",")));
        }
        self.text.push_str(&format!(" {value}\n"));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count;
            let le = bound.to_string();
            self.sample(&bucket, &[labels, &[("le", &le)]].concat(), cumulative);
        }
        self.sample(&bucket, &[labels, &[("le", "+Inf")]].concat(), histogram.count);
        self.sample(&format!("{name}_sum"), labels, histogram.sum);
        self.sample(&format!("{name}_count"), labels, histogram.count);
    }
}

/// A label value as the exposition quotes it.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Counts a request once answered, by method, matched route template and
/// status. Wraps every route (where axum has put the [`MatchedPath`]) and
/// the fallback (`unmatched`), outside authentication.
pub(super) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .request(&method, route.as_deref(), response.status(), started.elapsed());
    response
}

/// The Prometheus scrape, for system-scoped tokens.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "the `wasmano_*` metrics", body = String,
            content_type = CONTENT_TYPE),
        (status = 403, description = "a project-scoped token"),
    )
)]
async fn scrape(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, Problem> {
    if !principal.is_system() {
        return Err(Problem::new(
            ProblemKind::Forbidden,
            "the metrics are for system-scoped tokens (admin or viewer)",
        ));
    }
    let mut gauges = Gauges {
        stream_clients: state.events.clients(),
        demoted_hooks: state.lifecycle.host().demoted_hooks(),
        ..Gauges::default()
    };
    for instance in state.lifecycle.all_ns().await? {
        match instance.ns_state {
            NsState::NotInstantiated => gauges.not_instantiated += 1,
            NsState::Instantiated => gauges.instantiated += 1,
        }
    }
    let mut response = state.metrics.render(gauges).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::clock::rfc3339_from_unix;

    #[test]
    fn step_kinds_drop_ids() {
        for (step, kind) in [
            ("deploy web on edge-eu-west", "deploy"),
            ("fsm start web", "fsm start"),
            ("fsm state extract db", "fsm state"),
            ("ssm placement", "ssm placement"),
            ("store VNFR cache", "store VNFR"),
            ("store NSR", "store NSR"),
            ("default placement", "default placement"),
            ("remove web (partly deployed)", "remove"),
            ("VNFR web in operation", "VNFR"),
            ("inject envs web", "inject"),
            ("topology", "topology"),
        ] {
            assert_eq!(step_kind(step), kind, "{step}");
        }
        assert_eq!(hook_kind("fsm stop web"), "fsm");
        assert_eq!(hook_kind("ssm configure"), "ssm");
        assert_eq!(hook_kind("deploy web"), "other");
    }

    #[test]
    fn timestamps_read_back_as_written() {
        for seconds in [0, 951_782_400, 1_796_420_622, 4_107_542_399] {
            assert_eq!(unix_seconds(&rfc3339_from_unix(seconds)), Some(seconds));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        assert_eq!(unix_seconds(&rfc3339_from_unix(now)), Some(now));
        for bad in [
            "",
            "2026-12-04 21:43:42Z",
            "2026-13-04T21:43:42Z",
            "2026-12-04T21:43:42",
            "+026-12-04T21:43:42Z",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
        assert_eq!(
            seconds_between("2026-12-04T21:43:42Z", "2026-12-04T21:45:00Z"),
            Some(78.0)
        );
    }

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let mut histogram = Histogram::new(&[0.1, 1.0]);
        for seconds in [0.05, 0.5, 0.7, 3.0] {
            histogram.observe(seconds);
        }
        let mut out = Exposition::default();
        out.family("x_seconds", "histogram", "A \\ help\nline.");
        out.histogram("x_seconds", &[("route", "a\"b\\c\nd")], &histogram);
        assert_eq!(
            out.text,
            "# HELP x_seconds A \\\\ help\\nline.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"0.1\"} 1\n\
             x_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"1\"} 3\n\
             x_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 4\n\
             x_seconds_sum{route=\"a\\\"b\\\\c\\nd\"} 4.25\n\
             x_seconds_count{route=\"a\\\"b\\\\c\\nd\"} 4\n"
        );
    }

    #[test]
    fn requests_count_by_template_and_forbidden_as_auth_failure() {
        let metrics = Metrics::default();
        let route = Some("/nslcm/v1/ns_instances/{id}");
        metrics.request(&Method::GET, route, StatusCode::OK, Duration::from_millis(2));
        metrics.request(&Method::GET, route, StatusCode::OK, Duration::from_millis(3));
        metrics.request(
            &Method::from_bytes(b"BREW").unwrap_or(Method::GET),
            None,
            StatusCode::FORBIDDEN,
            Duration::ZERO,
        );
        metrics.auth_failure("invalid");
        let text = metrics.render(Gauges::default());
        assert!(text.contains(
            "wasmano_http_requests_total{method=\"GET\",route=\"/nslcm/v1/ns_instances/{id}\",status=\"200\"} 2\n"
        ));
        assert!(text.contains("wasmano_http_requests_total{method=\"other\",route=\"unmatched\",status=\"403\"} 1\n"));
        assert!(text.contains(
            "wasmano_http_request_duration_seconds_count{method=\"GET\",route=\"/nslcm/v1/ns_instances/{id}\"} 2\n"
        ));
        assert!(text.contains("wasmano_auth_failures_total{reason=\"forbidden\"} 1\n"));
        assert!(text.contains("wasmano_auth_failures_total{reason=\"invalid\"} 1\n"));
        assert!(text.contains("wasmano_auth_failures_total{reason=\"expired\"} 0\n"));
        // Every sample line belongs to a family declared before it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or("").to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or("");
                assert!(
                    declared.iter().any(|family| name.starts_with(family.as_str())),
                    "{line}"
                );
            }
        }
    }
}
