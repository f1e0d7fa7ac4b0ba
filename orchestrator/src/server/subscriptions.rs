//! `/nslcm/v1/subscriptions`: SOL005 subscriptions to lifecycle
//! notifications, and their delivery to the subscribers' callbacks.
//!
//! A subscription belongs to a project (the caller's, or for a system admin
//! the `projectId` it names) and hears only that project's events. Before
//! one is created its callback must answer a `GET` with 204 (else 422); the
//! same callback and filter again in the same project is a 303 to the
//! existing one. Subscriptions live in `subscriptions.sqlite` in the data
//! directory (readable by the server's user only, since it holds the
//! callbacks' Basic credentials, which no answer ever shows), and in memory
//! for matching.
//!
//! One background task, [`notify`], follows
//! [`Lifecycle::subscribe`](crate::lcm::Lifecycle::subscribe) from the
//! moment the server state is built (before recovery): an operation
//! occurrence entering a state is an `NsLcmOperationOccurrenceNotification`
//! (START for PROCESSING and ROLLING_BACK, RESULT otherwise; the same state
//! published twice in a row, as a cancel request does, is notified once),
//! an NS instance created or deleted an `NsIdentifierCreationNotification`
//! or `NsIdentifierDeletionNotification`. It never waits for a callback:
//! each matching subscription gets the notification in its own bounded
//! queue ([`QUEUE_CAPACITY`]; beyond, new notifications are dropped), which
//! one task per subscription delivers in order, so an operation's START
//! always comes before its RESULT. A delivery is a `POST` of the JSON body
//! that any 2xx answer accepts; a failure is tried again after 1, 2, 4 …
//! [`MAX_BACKOFF`] seconds, [`MAX_TRIES`] times in all, then dropped (and
//! logged). A queued notification is also written to `pending` in the same
//! file, and removed once delivered or dropped: after a restart, crash
//! included, each subscription's queue starts with what it still held, in
//! order, under the same notification ids (delivery is at least once: one
//! delivered just before a crash is sent again, and its id tells).
//!
//! A filter matches when every criterion it lists does (an empty or absent
//! one matches anything): `notificationTypes`, the
//! `nsInstanceSubscriptionFilter`'s `nsInstanceIds`, and `operationTypes`
//! and `operationStates`, which concern operation notifications only (SOL005:
//! they may only be given along with that notification type).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::uri::{Scheme, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::{JsonBody, Link, Path as PathParam, located, owning_project, paginate, readable, writable};
use super::egress::CallbackResolver;
use super::metrics::{Delivery, Metrics};
use super::problem::{Problem, ProblemKind};
use super::{API_VERSION, AppState};
use crate::access::Principal;
use crate::clock::rfc3339;
use crate::lcm::model::{NsInstance, OpOccurrence, OperationState, OperationType, text_of};
use crate::lcm::{LcmEvent, Lifecycle};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, delete))
}

const SUBSCRIPTIONS: &str = "/nslcm/v1/subscriptions";
const INSTANCES: &str = "/nslcm/v1/ns_instances";
const OPERATIONS: &str = "/nslcm/v1/ns_lcm_op_occs";

/// How long a callback has to answer, the test `GET` and each delivery.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a notification is sent before it is dropped.
pub const MAX_TRIES: u32 = 10;

/// The longest wait between two tries of a notification.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How many notifications may wait for one subscription; beyond, new ones
/// are dropped.
pub const QUEUE_CAPACITY: usize = 1024;

/// The longest callback URI taken.
const MAX_URI_BYTES: usize = 2048;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    callback_uri TEXT NOT NULL,
    filter TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (project_id, callback_uri, filter)
);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL,
    notification_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_subscription ON pending (subscription_id, seq);
";

/// Why the subscriptions could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The database failed.
    #[error("subscription store: {0}")]
    Backend(String),
}

fn backend(error: impl std::fmt::Display) -> SubscriptionError {
    SubscriptionError::Backend(error.to_string())
}

impl From<SubscriptionError> for Problem {
    fn from(error: SubscriptionError) -> Self {
        let detail = error.to_string();
        tracing::error!("internal error: {detail}");
        Self::new(ProblemKind::Internal, detail)
    }
}

/// Why a callback did not take a request.
#[derive(Debug, thiserror::Error)]
enum CallbackError {
    /// No answer: refused, unreachable, too slow, not HTTP.
    #[error("gave no answer ({0})")]
    Unreachable(String),
    /// An answer with another status.
    #[error("answered {0}")]
    Status(u16),
}

/// The notifications a subscription can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
enum NotificationType {
    /// An operation occurrence entered a state.
    #[serde(rename = "NsLcmOperationOccurrenceNotification")]
    Operation,
    /// An NS instance was created.
    #[serde(rename = "NsIdentifierCreationNotification")]
    Creation,
    /// An NS instance was deleted.
    #[serde(rename = "NsIdentifierDeletionNotification")]
    Deletion,
}

/// The NS instances a subscription is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InstanceFilter {
    /// Only these NS instances.
    #[serde(default)]
    ns_instance_ids: Vec<String>,
}

/// What a subscription hears; kept canonical (lists sorted, without
/// duplicates, empty ones left out), so that equal filters compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Filter {
    /// Only notifications about these NS instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ns_instance_subscription_filter: Option<InstanceFilter>,
    /// Only these notifications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notification_types: Vec<NotificationType>,
    /// Only operations of these types (operation notifications only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    operation_types: Vec<OperationType>,
    /// Only operations entering these states (operation notifications
    /// only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    operation_states: Vec<OperationState>,
}

impl Filter {
    /// The same filter, canonical.
    fn canonical(mut self) -> Self {
        if let Some(instances) = &mut self.ns_instance_subscription_filter {
            instances.ns_instance_ids.sort();
            instances.ns_instance_ids.dedup();
        }
        if self
            .ns_instance_subscription_filter
            .as_ref()
            .is_some_and(|instances| instances.ns_instance_ids.is_empty())
        {
            self.ns_instance_subscription_filter = None;
        }
        self.notification_types.sort();
        self.notification_types.dedup();
        self.operation_types.sort_by_key(text_of);
        self.operation_types.dedup();
        self.operation_states.sort_by_key(text_of);
        self.operation_states.dedup();
        self
    }

    /// 400 when operation criteria come without operation notifications.
    fn check(&self) -> Result<(), Problem> {
        let about_operations = !(self.operation_types.is_empty() && self.operation_states.is_empty());
        if about_operations
            && !self.notification_types.is_empty()
            && !self.notification_types.contains(&NotificationType::Operation)
        {
            return Err(Problem::new(
                ProblemKind::Validation,
                "operationTypes and operationStates filter NsLcmOperationOccurrenceNotification, which notificationTypes leaves out",
            ));
        }
        Ok(())
    }

    fn matches(&self, notice: &Notice) -> bool {
        let kind = notice.kind();
        let instance = notice.ns_instance_id();
        (self.notification_types.is_empty() || self.notification_types.contains(&kind))
            && self
                .ns_instance_subscription_filter
                .as_ref()
                .is_none_or(|instances| instances.ns_instance_ids.iter().any(|id| id == instance))
            && match notice {
                Notice::Operation(operation) => {
                    (self.operation_types.is_empty() || self.operation_types.contains(&operation.lcm_operation_type))
                        && (self.operation_states.is_empty()
                            || self.operation_states.contains(&operation.operation_state))
                }
                Notice::Created(_) | Notice::Deleted { .. } => true,
            }
    }
}

/// The only authentication type callbacks take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
enum AuthType {
    #[serde(rename = "BASIC")]
    Basic,
}

/// SOL005's `SubscriptionAuthentication`, as a request names it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Authentication {
    /// `["BASIC"]`.
    auth_type: Vec<AuthType>,
    /// The credentials, required with `BASIC`.
    params_basic: Option<BasicAuth>,
}

/// The credentials a callback wants (RFC 7617).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BasicAuth {
    /// Without `:`.
    user_name: String,
    /// Never shown by any answer.
    password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// The credentials a request names: 400 unless `BASIC` with usable
    /// parameters.
    fn from_request(authentication: Option<Authentication>) -> Result<Option<Self>, Problem> {
        let Some(authentication) = authentication else {
            return Ok(None);
        };
        let refuse = |detail: &str| Err(Problem::new(ProblemKind::Validation, detail));
        if !authentication.auth_type.contains(&AuthType::Basic) {
            return refuse("authentication.authType must be [\"BASIC\"]");
        }
        let Some(basic) = authentication.params_basic else {
            return refuse("authentication.paramsBasic is required with BASIC");
        };
        if basic.user_name.contains(':') {
            return refuse("authentication.paramsBasic.userName may not contain ':'");
        }
        if basic
            .user_name
            .chars()
            .chain(basic.password.chars())
            .any(char::is_control)
        {
            return refuse("authentication.paramsBasic may not contain control characters");
        }
        Ok(Some(basic))
    }

    /// The `Authorization` header's value.
    fn header(&self) -> String {
        let pair = format!("{}:{}", self.user_name, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// A subscription as it is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    id: String,
    project_id: String,
    callback_uri: String,
    filter: Filter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authentication: Option<BasicAuth>,
    created_at: String,
}

fn href(id: &str) -> String {
    format!("{SUBSCRIPTIONS}/{id}")
}

/// Where a subscription is.
#[derive(Debug, Serialize, ToSchema)]
struct SubscriptionLinks {
    /// The subscription.
    #[serde(rename = "self")]
    this: Link,
}

/// A subscription as the API shows it: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SubscriptionView {
    /// Its id.
    id: String,
    /// The project whose events it hears.
    project_id: String,
    /// What it hears.
    filter: Filter,
    /// Where notifications are posted.
    callback_uri: String,
    /// When it was created (RFC 3339).
    created_at: String,
    #[serde(rename = "_links")]
    links: SubscriptionLinks,
}

/// The API's view of a subscription.
fn view(subscription: &Subscription) -> SubscriptionView {
    SubscriptionView {
        id: subscription.id.clone(),
        project_id: subscription.project_id.clone(),
        filter: subscription.filter.clone(),
        callback_uri: subscription.callback_uri.clone(),
        created_at: subscription.created_at.clone(),
        links: SubscriptionLinks {
            this: Link::to(href(&subscription.id)),
        },
    }
}

/// 400 unless `uri` is an absolute `http` or `https` URI with a host and
/// no credentials (those go in `authentication`).
fn check_callback_uri(uri: &str) -> Result<(), Problem> {
    let refuse = |why: &str| {
        Err(Problem::new(
            ProblemKind::Validation,
            format!("callbackUri {uri:?} {why}"),
        ))
    };
    if uri.len() > MAX_URI_BYTES {
        return refuse(&format!("is longer than {MAX_URI_BYTES} bytes"));
    }
    let Ok(parsed) = uri.parse::<Uri>() else {
        return refuse("is not a URI");
    };
    if !matches!(parsed.scheme(), Some(scheme) if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS) {
        return refuse("is not an absolute http or https URI");
    }
    match parsed.authority() {
        Some(authority) if authority.as_str().contains('@') => {
            refuse("carries credentials; name them in authentication")
        }
        Some(authority) if !authority.host().is_empty() => Ok(()),
        _ => refuse("has no host"),
    }
}

/// The subscriptions file of a data directory, open, and what it holds.
#[derive(Debug)]
pub struct Stored {
    connection: Connection,
    subscriptions: Vec<Subscription>,
    /// The notifications not delivered yet, by subscription, in order.
    pending: HashMap<String, Vec<Notification>>,
}

impl Stored {
    /// Opens (creating if needed, readable by this user only) the
    /// subscriptions file and reads it.
    pub fn open(path: &Path) -> Result<Self, SubscriptionError> {
        let failed = |error: &dyn std::fmt::Display| backend(format!("{}: {error}", path.display()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|error| failed(&error))?;
        }
        let connection = Connection::open(path).map_err(|error| failed(&error))?;
        connection.execute_batch(SCHEMA).map_err(|error| failed(&error))?;
        let subscriptions = {
            let mut statement = connection
                .prepare("SELECT body FROM subscriptions ORDER BY rowid")
                .map_err(|error| failed(&error))?;
            let bodies = statement
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(|error| failed(&error))?;
            bodies
                .map(|body| {
                    let body = body.map_err(|error| failed(&error))?;
                    serde_json::from_str(&body).map_err(|error| failed(&format!("unreadable row: {error}")))
                })
                .collect::<Result<Vec<Subscription>, _>>()?
        };
        let mut pending: HashMap<String, Vec<Notification>> = HashMap::new();
        {
            let mut statement = connection
                .prepare("SELECT subscription_id, notification_id, kind, body FROM pending ORDER BY seq")
                .map_err(|error| failed(&error))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })
                .map_err(|error| failed(&error))?;
            for row in rows {
                let (subscription, id, kind, body) = row.map_err(|error| failed(&error))?;
                let kind = serde_json::from_str(&kind)
                    .map_err(|error| failed(&format!("unreadable pending notification {id}: {error}")))?;
                pending
                    .entry(subscription)
                    .or_default()
                    .push(Notification { id, kind, body });
            }
        }
        Ok(Self {
            connection,
            subscriptions,
            pending,
        })
    }
}

/// A subscription in use: its queue of notifications to deliver.
#[derive(Debug)]
struct Live {
    subscription: Arc<Subscription>,
    queue: mpsc::Sender<Notification>,
}

/// One notification for one subscription.
#[derive(Debug)]
struct Notification {
    id: String,
    kind: NotificationType,
    body: String,
}

/// What a new subscription turned out to be.
#[derive(Debug)]
enum Created {
    New(Arc<Subscription>),
    /// The same callback and filter in the same project already were.
    Existing(Arc<Subscription>),
}

/// The subscriptions: stored, in memory (in creation order) with their
/// delivery queues, and the HTTP client of the callbacks.
pub(super) struct Subscriptions {
    /// Locked after `live` when both are.
    connection: Arc<Mutex<Connection>>,
    live: Mutex<Vec<Live>>,
    agent: ureq::Agent,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions")
            .field("count", &self.live().len())
            .finish_non_exhaustive()
    }
}

impl Subscriptions {
    /// The stored subscriptions, each with its delivery task started.
    /// Needs a Tokio runtime.
    /// `https` callbacks' certificates must chain to `roots`; callbacks
    /// connect only where `resolver` allows (see [`super::egress`]).
    pub(super) fn start(
        stored: Stored,
        metrics: Arc<Metrics>,
        roots: RootCerts,
        resolver: CallbackResolver,
    ) -> Arc<Self> {
        let config = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(CALLBACK_TIMEOUT))
            .build();
        let agent = ureq::Agent::with_parts(config, DefaultConnector::new(), resolver);
        let subscriptions = Arc::new(Self {
            connection: Arc::new(Mutex::new(stored.connection)),
            live: Mutex::new(Vec::new()),
            agent,
            metrics,
        });
        let mut pending = stored.pending;
        let live: Vec<Live> = stored
            .subscriptions
            .into_iter()
            .map(|subscription| {
                let live = subscriptions.deliverer(Arc::new(subscription));
                // Pending rows are at most a queue's worth: only queued
                // notifications are written.
                for notification in pending.remove(&live.subscription.id).unwrap_or_default() {
                    if let Err(refused) = live.queue.try_send(notification) {
                        tracing::warn!("dropped a pending notification on restart: {refused}");
                    }
                }
                live
            })
            .collect();
        if !pending.is_empty() {
            // A crash between deleting a subscription and its rows.
            let orphans: Vec<String> = pending.into_keys().collect();
            let connection = subscriptions.connection();
            for subscription in orphans {
                if let Err(error) =
                    connection.execute("DELETE FROM pending WHERE subscription_id = ?1", [&subscription])
                {
                    tracing::warn!("cannot forget the notifications of subscription {subscription}: {error}");
                }
            }
        }
        *subscriptions.live() = live;
        subscriptions
    }

    fn live(&self) -> MutexGuard<'_, Vec<Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `subscription` with the task that delivers its queue.
    fn deliverer(&self, subscription: Arc<Subscription>) -> Live {
        let (queue, waiting) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(deliver_all(
            self.agent.clone(),
            Arc::clone(&self.metrics),
            Arc::clone(&self.connection),
            Arc::clone(&subscription),
            waiting,
        ));
        Live { subscription, queue }
    }

    fn get(&self, id: &str) -> Option<Arc<Subscription>> {
        self.live()
            .iter()
            .find(|live| live.subscription.id == id)
            .map(|live| Arc::clone(&live.subscription))
    }

    /// Whether the project owns a subscription.
    pub(super) fn owned_by(&self, project_id: &str) -> bool {
        self.live()
            .iter()
            .any(|live| live.subscription.project_id == project_id)
    }

    fn visible(&self, principal: &Principal) -> Vec<Arc<Subscription>> {
        self.live()
            .iter()
            .filter(|live| principal.may_read(&live.subscription.project_id))
            .map(|live| Arc::clone(&live.subscription))
            .collect()
    }

    fn existing(&self, project_id: &str, callback_uri: &str, filter: &Filter) -> Option<Arc<Subscription>> {
        find_same(&self.live(), project_id, callback_uri, filter)
    }

    /// Stores `new` and starts delivering to it, unless the same one
    /// exists.
    async fn insert(self: &Arc<Self>, new: Subscription) -> Result<Created, SubscriptionError> {
        let this = Arc::clone(self);
        let work = move || {
            let mut live = this.live();
            if let Some(existing) = find_same(&live, &new.project_id, &new.callback_uri, &new.filter) {
                return Ok(Created::Existing(existing));
            }
            let filter = serde_json::to_string(&new.filter).map_err(backend)?;
            let body = serde_json::to_string(&new).map_err(backend)?;
            this.connection()
                .execute(
                    "INSERT INTO subscriptions (id, project_id, callback_uri, filter, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![new.id, new.project_id, new.callback_uri, filter, body],
                )
                .map_err(backend)?;
            let subscription = Arc::new(new);
            live.push(this.deliverer(Arc::clone(&subscription)));
            Ok(Created::New(subscription))
        };
        wasmano_host::run_blocking(work)
            .await
            .unwrap_or_else(|| Err(backend("a blocking task panicked")))
    }

    /// Deletes a subscription (what its queue holds is dropped); false
    /// when there was none.
    async fn delete(self: &Arc<Self>, id: &str) -> Result<bool, SubscriptionError> {
        let (this, id) = (Arc::clone(self), id.to_owned());
        let work = move || {
            let mut live = this.live();
            let Some(at) = live.iter().position(|live| live.subscription.id == id) else {
                return Ok(false);
            };
            let mut connection = this.connection();
            let transaction = connection.transaction().map_err(backend)?;
            transaction
                .execute("DELETE FROM subscriptions WHERE id = ?1", [&id])
                .map_err(backend)?;
            transaction
                .execute("DELETE FROM pending WHERE subscription_id = ?1", [&id])
                .map_err(backend)?;
            transaction.commit().map_err(backend)?;
            // Its sender gone, the delivery task stops.
            live.remove(at);
            Ok(true)
        };
        wasmano_host::run_blocking(work)
            .await
            .unwrap_or_else(|| Err(backend("a blocking task panicked")))
    }

    /// The test `GET` a callback must answer with 204.
    async fn test_callback(&self, uri: &str, authentication: Option<&BasicAuth>) -> Result<(), CallbackError> {
        let status = exchange(
            self.agent.clone(),
            uri.to_owned(),
            authentication.map(BasicAuth::header),
            None,
        )
        .await?;
        if status == 204 {
            Ok(())
        } else {
            Err(CallbackError::Status(status))
        }
    }

    /// Queues `notice` for every subscription of its project that it
    /// matches, writing each queued notification to `pending` first; never
    /// waits for a callback (only for the file, as a blocking call).
    fn dispatch(&self, notice: &Notice) {
        let live = self.live();
        let mut queued = Vec::new();
        for live in live.iter().filter(|live| {
            live.subscription.project_id == notice.project_id() && live.subscription.filter.matches(notice)
        }) {
            let id = uuid::Uuid::new_v4().to_string();
            let notification = Notification {
                body: notice.body(&id, &live.subscription.id).to_string(),
                id,
                kind: notice.kind(),
            };
            // Only `dispatch` sends after the start, under the `live` lock.
            if live.queue.capacity() == 0 {
                tracing::warn!(
                    subscription = %live.subscription.id,
                    notification = %notification.id,
                    kind = ?notification.kind,
                    "dropped a notification: {QUEUE_CAPACITY} wait for this subscription already"
                );
                self.metrics.notification(Delivery::Dropped);
                continue;
            }
            queued.push((live, notification));
        }
        if queued.is_empty() {
            return;
        }
        if let Err(error) = self.write_pending(&queued) {
            // Delivered anyway; only a restart before delivery loses them.
            tracing::error!("cannot store pending notifications: {error}");
        }
        for (live, notification) in queued {
            if let Err(TrySendError::Full(refused) | TrySendError::Closed(refused)) = live.queue.try_send(notification)
            {
                tracing::warn!(subscription = %live.subscription.id, notification = %refused.id, "dropped a notification: its queue closed");
                self.metrics.notification(Delivery::Dropped);
                forget_pending(&self.connection, &refused.id);
            }
        }
    }

    /// Writes the notifications about to be queued, in one transaction.
    fn write_pending(&self, queued: &[(&Live, Notification)]) -> Result<(), SubscriptionError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        for (live, notification) in queued {
            let kind = serde_json::to_string(&notification.kind).map_err(backend)?;
            transaction
                .execute(
                    "INSERT INTO pending (subscription_id, notification_id, kind, body) VALUES (?1, ?2, ?3, ?4)",
                    params![live.subscription.id, notification.id, kind, notification.body],
                )
                .map_err(backend)?;
        }
        transaction.commit().map_err(backend)
    }
}

/// Removes a notification from `pending`: delivered, or dropped for good.
fn forget_pending(connection: &Mutex<Connection>, notification_id: &str) {
    let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(error) = connection.execute("DELETE FROM pending WHERE notification_id = ?1", [notification_id]) {
        tracing::warn!(notification = %notification_id, "cannot forget a pending notification: {error}");
    }
}

/// The subscription of `project_id` with this callback and filter.
fn find_same(live: &[Live], project_id: &str, callback_uri: &str, filter: &Filter) -> Option<Arc<Subscription>> {
    live.iter()
        .map(|live| &live.subscription)
        .find(|existing| {
            existing.project_id == project_id && existing.callback_uri == callback_uri && existing.filter == *filter
        })
        .cloned()
}

/// One request to a callback, off the async workers: a `GET` without
/// `body`, a JSON `POST` with it. Its status.
async fn exchange(
    agent: ureq::Agent,
    uri: String,
    authorization: Option<String>,
    body: Option<String>,
) -> Result<u16, CallbackError> {
    let work = move || {
        let answered = match body {
            None => {
                let mut request = agent.get(&uri);
                if let Some(authorization) = &authorization {
                    request = request.header("Authorization", authorization);
                }
                request.call()
            }
            Some(body) => {
                let mut request = agent
                    .post(&uri)
                    .header("Content-Type", "application/json")
                    .header("Version", API_VERSION);
                if let Some(authorization) = &authorization {
                    request = request.header("Authorization", authorization);
                }
                request.send(body.as_bytes())
            }
        };
        answered
            .map(|response| response.status().as_u16())
            .map_err(|error| CallbackError::Unreachable(error.to_string()))
    };
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(CallbackError::Unreachable(error.to_string())))
}

/// The wait after the `attempt`th failed try: 1, 2, 4 … seconds, at most
/// [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

/// Delivers a subscription's notifications in order until it is deleted.
async fn deliver_all(
    agent: ureq::Agent,
    metrics: Arc<Metrics>,
    outbox: Arc<Mutex<Connection>>,
    subscription: Arc<Subscription>,
    mut waiting: mpsc::Receiver<Notification>,
) {
    let authorization = subscription.authentication.as_ref().map(BasicAuth::header);
    while let Some(notification) = waiting.recv().await {
        for attempt in 1..=MAX_TRIES {
            if waiting.is_closed() {
                tracing::info!(
                    subscription = %subscription.id,
                    notification = %notification.id,
                    "dropped a notification: the subscription is gone"
                );
                metrics.notification(Delivery::Dropped);
                break;
            }
            let sent = exchange(
                agent.clone(),
                subscription.callback_uri.clone(),
                authorization.clone(),
                Some(notification.body.clone()),
            )
            .await
            .and_then(|status| {
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(CallbackError::Status(status))
                }
            });
            match sent {
                Ok(()) => {
                    metrics.notification(Delivery::Delivered);
                    forget(&outbox, &notification.id).await;
                    break;
                }
                Err(error) if attempt < MAX_TRIES => {
                    let wait = backoff(attempt);
                    tracing::info!(
                        subscription = %subscription.id,
                        notification = %notification.id,
                        kind = ?notification.kind,
                        "the callback {error} (try {attempt} of {MAX_TRIES}); trying again in {wait:?}"
                    );
                    metrics.notification(Delivery::Retried);
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    tracing::warn!(
                        subscription = %subscription.id,
                        notification = %notification.id,
                        kind = ?notification.kind,
                        "dropped a notification: the callback {error} on the last of {MAX_TRIES} tries"
                    );
                    metrics.notification(Delivery::Dropped);
                    forget(&outbox, &notification.id).await;
                }
            }
        }
    }
}

/// [`forget_pending`] off the async workers.
async fn forget(outbox: &Arc<Mutex<Connection>>, notification_id: &str) {
    let (outbox, id) = (Arc::clone(outbox), notification_id.to_owned());
    if wasmano_host::run_blocking(move || forget_pending(&outbox, &id))
        .await
        .is_none()
    {
        tracing::warn!(notification = %notification_id, "forgetting a pending notification panicked");
    }
}

/// A lifecycle event that subscriptions hear of.
#[derive(Debug)]
enum Notice {
    Operation(OpOccurrence),
    Created(NsInstance),
    Deleted {
        instance: NsInstance,
        /// When it was seen deleted.
        at: String,
    },
}

impl Notice {
    /// The notice of `event`, if any; `states` holds the last state
    /// notified of each open operation, so that the same state published
    /// again is not notified twice.
    fn of(event: LcmEvent, states: &mut HashMap<String, OperationState>) -> Option<Self> {
        match event {
            LcmEvent::Operation(operation) => {
                let state = operation.operation_state;
                let repeated = if state.is_open() {
                    states.insert(operation.id.clone(), state) == Some(state)
                } else {
                    states.remove(&operation.id);
                    false
                };
                (!repeated).then_some(Self::Operation(operation))
            }
            LcmEvent::Steps { .. } | LcmEvent::StepsCommitted { .. } | LcmEvent::StepsMissed => None,
            LcmEvent::InstanceCreated(instance) => Some(Self::Created(instance)),
            LcmEvent::InstanceDeleted(instance) => Some(Self::Deleted {
                instance,
                at: rfc3339(SystemTime::now()),
            }),
        }
    }

    fn kind(&self) -> NotificationType {
        match self {
            Self::Operation(_) => NotificationType::Operation,
            Self::Created(_) => NotificationType::Creation,
            Self::Deleted { .. } => NotificationType::Deletion,
        }
    }

    fn project_id(&self) -> &str {
        match self {
            Self::Operation(operation) => &operation.project_id,
            Self::Created(instance) | Self::Deleted { instance, .. } => &instance.project_id,
        }
    }

    fn ns_instance_id(&self) -> &str {
        match self {
            Self::Operation(operation) => &operation.ns_instance_id,
            Self::Created(instance) | Self::Deleted { instance, .. } => &instance.id,
        }
    }

    /// The notification's body for one subscription.
    fn body(&self, id: &str, subscription_id: &str) -> Value {
        let instance = self.ns_instance_id();
        let time_stamp = match self {
            Self::Operation(operation) => &operation.state_entered_time,
            Self::Created(instance) => &instance.created_at,
            Self::Deleted { at, .. } => at,
        };
        let mut body = json!({
            "id": id,
            "notificationType": self.kind(),
            "subscriptionId": subscription_id,
            "timeStamp": time_stamp,
            "nsInstanceId": instance,
            "_links": {
                "nsInstance": {"href": format!("{INSTANCES}/{instance}")},
                "subscription": {"href": href(subscription_id)},
            },
        });
        if let (Self::Operation(operation), Value::Object(members)) = (self, &mut body) {
            let status = match operation.operation_state {
                OperationState::Processing | OperationState::RollingBack => "START",
                _ => "RESULT",
            };
            members.insert("nsLcmOpOccId".into(), json!(operation.id));
            members.insert("operation".into(), json!(operation.lcm_operation_type));
            members.insert("notificationStatus".into(), json!(status));
            members.insert("operationState".into(), json!(operation.operation_state));
            members.insert("isAutomaticInvocation".into(), json!(operation.is_automatic_invocation));
            if let Some(error) = &operation.error {
                members.insert("error".into(), json!(error));
            }
            if let Some(Value::Object(links)) = members.get_mut("_links") {
                links.insert(
                    "nsLcmOpOcc".into(),
                    json!({"href": format!("{OPERATIONS}/{}", operation.id)}),
                );
            }
        }
        body
    }
}

/// Follows the lifecycle's events from now on, in a background task that
/// ends with the lifecycle, and queues the notifications they make.
/// Needs a Tokio runtime.
pub(super) fn notify(lifecycle: &Lifecycle, subscriptions: Arc<Subscriptions>) {
    let mut events = lifecycle.subscribe();
    tokio::spawn(async move {
        let mut states = HashMap::new();
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(notice) = Notice::of(event, &mut states) {
                        let dispatching = Arc::clone(&subscriptions);
                        if wasmano_host::run_blocking(move || dispatching.dispatch(&notice))
                            .await
                            .is_none()
                        {
                            tracing::error!("dispatching a notification panicked");
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("notifications missed {missed} lifecycle event(s)");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// A subscription to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreateSubscription {
    /// What it hears; everything of the project when absent.
    #[serde(default)]
    filter: Option<Filter>,
    /// An absolute `http` or `https` URI without credentials, which must
    /// answer a `GET` with 204.
    #[schema(example = "http://127.0.0.1:9000/notifications")]
    callback_uri: String,
    /// The credentials the callback wants.
    authentication: Option<Authentication>,
    /// The owning project: required with a system token, the token's own
    /// project otherwise.
    project_id: Option<String>,
}

fn see_other(existing: &Subscription) -> Response {
    located(StatusCode::SEE_OTHER, &href(&existing.id), Json(view(existing)))
}

/// Subscribes a callback to the project's lifecycle notifications.
#[utoipa::path(
    post,
    path = "/nslcm/v1/subscriptions",
    tag = "subscriptions",
    operation_id = "create_subscription",
    request_body = CreateSubscription,
    responses(
        (status = 201, description = "the subscription", body = SubscriptionView,
            headers(("Location" = String, description = "the subscription"))),
        (status = 303, description = "the same callback and filter are subscribed already: that subscription",
            body = SubscriptionView, headers(("Location" = String, description = "the existing subscription"))),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "another project than the token's"),
        (status = 422, description = "the callback did not answer its test with 204, or no such project"),
    )
)]
async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(request): JsonBody<CreateSubscription>,
) -> Result<Response, Problem> {
    let project = owning_project(&principal, request.project_id.as_deref())?;
    if principal.is_system() && state.access.project(&project)?.is_none() {
        return Err(Problem::new(
            ProblemKind::Unprocessable,
            format!("no project {project}"),
        ));
    }
    check_callback_uri(&request.callback_uri)?;
    let filter = request.filter.unwrap_or_default().canonical();
    filter.check()?;
    let authentication = BasicAuth::from_request(request.authentication)?;
    let subscriptions = &state.subscriptions;
    if let Some(existing) = subscriptions.existing(&project, &request.callback_uri, &filter) {
        return Ok(see_other(&existing));
    }
    subscriptions
        .test_callback(&request.callback_uri, authentication.as_ref())
        .await
        .map_err(|error| {
            Problem::new(
                ProblemKind::Unprocessable,
                format!(
                    "the callback must answer GET {} with 204; it {error}",
                    request.callback_uri
                ),
            )
        })?;
    let new = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project,
        callback_uri: request.callback_uri,
        filter,
        authentication,
        created_at: rfc3339(SystemTime::now()),
    };
    Ok(match subscriptions.insert(new).await? {
        Created::New(subscription) => located(StatusCode::CREATED, &href(&subscription.id), Json(view(&subscription))),
        Created::Existing(existing) => see_other(&existing),
    })
}

/// Lists the subscriptions the caller may read, 100 a page.
#[utoipa::path(
    get,
    path = "/nslcm/v1/subscriptions",
    tag = "subscriptions",
    operation_id = "list_subscriptions",
    params(("nextpage_opaque_marker" = Option<String>, Query, description = "the page a `Link` header named")),
    responses(
        (status = 200, description = "a page of subscriptions", body = Vec<SubscriptionView>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "a marker this list did not make"),
    )
)]
async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let visible = state.subscriptions.visible(&principal);
    let page = paginate(visible, SUBSCRIPTIONS, query.as_deref())?;
    Ok(page.map(|subscription| view(&subscription)).into_response())
}

/// The subscription `id` if the caller may read it, else 404.
fn visible(state: &AppState, principal: &Principal, id: &str) -> Result<Arc<Subscription>, Problem> {
    let subscription = state
        .subscriptions
        .get(id)
        .ok_or_else(|| Problem::not_found("subscription", id))?;
    readable(principal, &subscription.project_id, "subscription", id)?;
    Ok(subscription)
}

/// Shows a subscription.
#[utoipa::path(
    get,
    path = "/nslcm/v1/subscriptions/{id}",
    tag = "subscriptions",
    operation_id = "show_subscription",
    params(("id" = String, Path, description = "the subscription's id")),
    responses(
        (status = 200, description = "the subscription", body = SubscriptionView),
        (status = 404, description = "no such subscription, or another project's"),
    )
)]
async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<String>,
) -> Result<Response, Problem> {
    let subscription = visible(&state, &principal, &id)?;
    Ok(Json(view(&subscription)).into_response())
}

/// Deletes a subscription: its queued notifications are dropped.
#[utoipa::path(
    delete,
    path = "/nslcm/v1/subscriptions/{id}",
    tag = "subscriptions",
    operation_id = "delete_subscription",
    params(("id" = String, Path, description = "the subscription's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such subscription, or another project's"),
    )
)]
async fn delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<String>,
) -> Result<Response, Problem> {
    let subscription = visible(&state, &principal, &id)?;
    writable(&principal, &subscription.project_id, "subscription", &id)?;
    if state.subscriptions.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found("subscription", &id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: Value) -> Filter {
        serde_json::from_value::<Filter>(text)
            .map(Filter::canonical)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn created(project: &str, id: &str) -> Notice {
        Notice::Created(NsInstance {
            id: id.into(),
            project_id: project.into(),
            ns_instance_name: "n".into(),
            ns_instance_description: String::new(),
            nsd_id: "v/n/1".into(),
            package_id: "p".into(),
            ns_state: crate::lcm::model::NsState::NotInstantiated,
            created_at: "2026-01-01T00:00:00Z".into(),
            record_hook_calls: false,
        })
    }

    #[test]
    fn equal_filters_compare_equal_whatever_their_order() {
        let one = filter(json!({
            "notificationTypes": ["NsIdentifierCreationNotification", "NsLcmOperationOccurrenceNotification"],
            "operationStates": ["COMPLETED", "PROCESSING", "COMPLETED"],
            "nsInstanceSubscriptionFilter": {"nsInstanceIds": ["b", "a"]},
        }));
        let other = filter(json!({
            "nsInstanceSubscriptionFilter": {"nsInstanceIds": ["a", "b", "a"]},
            "operationStates": ["PROCESSING", "COMPLETED"],
            "notificationTypes": ["NsLcmOperationOccurrenceNotification", "NsIdentifierCreationNotification"],
        }));
        assert_eq!(one, other);
        assert_eq!(
            filter(json!({"nsInstanceSubscriptionFilter": {"nsInstanceIds": []}, "operationTypes": []})),
            Filter::default()
        );
        assert_eq!(serde_json::to_value(Filter::default()).ok(), Some(json!({})));
        for bad in [
            json!({"nsInstanceSubscriptionFilter": {"nsdIds": ["x"]}}),
            json!({"notificationTypes": ["VnfLcmOperationOccurrenceNotification"]}),
            json!({"operationStates": ["DONE"]}),
            json!({"vnfdIds": []}),
        ] {
            assert!(serde_json::from_value::<Filter>(bad.clone()).is_err(), "{bad}");
        }
        assert!(
            filter(json!({"notificationTypes": ["NsIdentifierCreationNotification"], "operationTypes": ["SCALE"]}))
                .check()
                .is_err()
        );
        assert!(filter(json!({"operationTypes": ["SCALE"]})).check().is_ok());
    }

    #[test]
    fn every_listed_criterion_must_match() {
        let created = created("p", "i1");
        assert!(Filter::default().matches(&created));
        assert!(filter(json!({"nsInstanceSubscriptionFilter": {"nsInstanceIds": ["i1", "i2"]}})).matches(&created));
        assert!(!filter(json!({"nsInstanceSubscriptionFilter": {"nsInstanceIds": ["i2"]}})).matches(&created));
        assert!(!filter(json!({"notificationTypes": ["NsIdentifierDeletionNotification"]})).matches(&created));
        assert!(
            filter(json!({"operationStates": ["COMPLETED"]})).matches(&created),
            "operation criteria concern operation notifications only"
        );
    }

    #[test]
    fn callback_uris_are_absolute_http_without_credentials() {
        for good in [
            "http://127.0.0.1:8080/cb",
            "https://example.com/notify?x=1",
            "HTTP://host",
        ] {
            assert!(check_callback_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "callback",
            "/nslcm/cb",
            "ftp://host/cb",
            "http://user:pw@host/cb",
            "http:///cb",
            "not a uri",
            &format!("http://host/{}", "a".repeat(MAX_URI_BYTES)),
        ] {
            assert!(check_callback_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_are_checked_and_never_shown() {
        let basic = |value: Value| {
            BasicAuth::from_request(Some(
                serde_json::from_value(value).unwrap_or_else(|error| panic!("{error}")),
            ))
        };
        let auth = basic(json!({"authType": ["BASIC"], "paramsBasic": {"userName": "u", "password": "secret"}}))
            .ok()
            .flatten();
        let auth = auth.unwrap_or_else(|| panic!("accepted"));
        assert_eq!(auth.header(), "Basic dTpzZWNyZXQ=");
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(basic(json!({"authType": ["BASIC"]})).is_err());
        assert!(basic(json!({"authType": [], "paramsBasic": {"userName": "u", "password": "p"}})).is_err());
        assert!(basic(json!({"authType": ["BASIC"], "paramsBasic": {"userName": "u:v", "password": "p"}})).is_err());
        assert!(serde_json::from_value::<Authentication>(json!({"authType": ["TLS_CERT"]})).is_err());
        let subscription = Subscription {
            id: "s".into(),
            project_id: "p".into(),
            callback_uri: "http://h/cb".into(),
            filter: Filter::default(),
            authentication: Some(auth),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let shown = serde_json::to_string(&view(&subscription)).unwrap();
        assert!(!shown.contains("secret"));
        assert!(!shown.contains("authentication"));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..MAX_TRIES).map(|attempt| backoff(attempt).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    fn operation(state: &str) -> OpOccurrence {
        OpOccurrence::sample(state)
    }

    #[test]
    fn operations_are_notified_once_per_state_with_their_fields() {
        let mut states = HashMap::new();
        let mut notified = |state: &str| Notice::of(LcmEvent::Operation(operation(state)), &mut states);
        let start = notified("PROCESSING").unwrap_or_else(|| panic!("a START"));
        assert!(
            notified("PROCESSING").is_none(),
            "a cancel request publishes the same state again"
        );
        assert!(notified("FAILED_TEMP").is_some());
        assert!(notified("PROCESSING").is_some(), "a retry starts again");
        let result = notified("COMPLETED").unwrap_or_else(|| panic!("a RESULT"));
        assert!(states.is_empty(), "closed operations are forgotten");
        assert!(filter(json!({"operationStates": ["COMPLETED"], "operationTypes": ["INSTANTIATE"]})).matches(&result));
        assert!(!filter(json!({"operationStates": ["COMPLETED"]})).matches(&start));
        assert!(!filter(json!({"operationTypes": ["SCALE"]})).matches(&result));
        assert_eq!(
            start.body("n1", "s1"),
            json!({
                "id": "n1",
                "notificationType": "NsLcmOperationOccurrenceNotification",
                "subscriptionId": "s1",
                "timeStamp": "2026-01-01T00:00:01Z",
                "nsInstanceId": "i1",
                "nsLcmOpOccId": "o1",
                "operation": "INSTANTIATE",
                "notificationStatus": "START",
                "operationState": "PROCESSING",
                "isAutomaticInvocation": false,
                "_links": {
                    "nsInstance": {"href": "/nslcm/v1/ns_instances/i1"},
                    "subscription": {"href": "/nslcm/v1/subscriptions/s1"},
                    "nsLcmOpOcc": {"href": "/nslcm/v1/ns_lcm_op_occs/o1"},
                },
            })
        );
        assert_eq!(result.body("n2", "s1")["notificationStatus"], "RESULT");
        let created = created("p", "i1").body("n3", "s1");
        assert_eq!(created["notificationType"], "NsIdentifierCreationNotification");
        assert!(created.get("nsLcmOpOccId").is_none() && created["_links"].get("nsLcmOpOcc").is_none());
    }
}
