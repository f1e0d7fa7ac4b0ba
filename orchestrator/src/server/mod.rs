//! `wasmano serve`: the orchestrator as a service, an axum server over a
//! data directory (catalogue, compiled modules, records, the lifecycle and
//! access stores), with the REST API of `API.md`: packages and VIMs under
//! `/wasmano/v1`, NS instances and operation occurrences under
//! `/nslcm/v1`, projects and tokens under `/admin/v1`.
//!
//! Every route needs a bearer token ([`access`](crate::access)); every
//! error is a ProblemDetails body ([`problem`]); every JSON answer carries
//! `Version: 1.0.0`. Handlers live in `admin`, `packages` and `nslcm`;
//! the lifecycle's event stream in `events`, the Prometheus metrics (and the
//! middleware that counts every request) in `metrics`, subscriptions and
//! the delivery of their notifications in `subscriptions`. Each handler
//! describes itself for `GET /openapi.json` (`openapi`), and the router is
//! made from those descriptions.

mod admin;
mod body;
pub mod egress;
mod events;
mod filter;
mod metrics;
mod nslcm;
mod openapi;
mod packages;
pub mod problem;
mod subscriptions;
pub mod tls;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};

use crate::access::{AccessStore, bearer_secret};
use crate::bus::{Broker, MANAGER_REQUESTS_BUFFER};
use crate::catalogue::Catalogue;
use crate::data_dir::{DataDir, DataDirError};
use crate::infrastructure::Infrastructure;
use crate::infrastructure::docker::{DockerInfrastructure, default_docker_vims};
use crate::infrastructure::emulated::{CapacityLedger, EmulatedInfrastructure, default_vims, load_vims};
use crate::lcm::store::LcmStore;
use crate::lcm::{Lifecycle, Parts};
use crate::placement::PlacementOptions;
use crate::recording::CallLog;
use crate::records::{RecordStore, SqliteStore};
use crate::service::LegacySettings;
use crate::workflow::Orchestrator;
use egress::{AddressRange, CallbackResolver};
use events::EventLog;
use metrics::Metrics;
use problem::{Problem, ProblemKind};
use subscriptions::Subscriptions;
use ureq::tls::RootCerts;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The API's version, in every JSON answer's `Version` header.
pub const API_VERSION: &str = "1.0.0";

/// JSON request bodies larger than this are refused (413).
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// Package uploads larger than this are refused (413).
pub const MAX_UPLOAD_BYTES: usize = 128 << 20;

/// How long a graceful shutdown waits, once its connections are closed,
/// for their routers to be dropped and running operations to finish.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How often removals that failed are retried.
pub const REMOVAL_RETRY_PERIOD: Duration = Duration::from_secs(5);

/// What the server needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The bootstrap admin token's file (see [`AccessStore::bootstrap`]).
    pub bootstrap_token_file: Option<PathBuf>,
    /// The VIMs from this file instead of the built-in set.
    pub vims_file: Option<PathBuf>,
    /// How the default placement decides.
    pub placement: PlacementOptions,
    /// Container units run on the local Docker daemon (its VIMs must all
    /// be container VIMs) instead of emulated VIMs.
    pub docker: bool,
    /// PEM certificates an `https` callback's certificate must chain to,
    /// instead of the public web's roots (Mozilla's, built in).
    pub callback_ca: Option<PathBuf>,
    /// Address ranges callbacks may connect to besides public addresses
    /// ([`egress`]).
    pub callback_allow: Vec<AddressRange>,
    /// How legacy container managers run: the broker they talk to.
    pub legacy: LegacySettings,
    /// Publish the lifecycle events on that broker too
    /// ([`crate::bus::lifecycle`]).
    pub publish_events: bool,
    /// How many hook calls each recording service keeps
    /// ([`crate::recording`]).
    pub max_recorded_calls: usize,
}

impl ServeConfig {
    /// A server on `data_dir` with the defaults `wasmano serve` has: no
    /// bootstrap token file (the token is printed once), the built-in
    /// emulated VIMs, the default placement, callbacks to public addresses
    /// only, the default broker, no events published.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            bootstrap_token_file: None,
            vims_file: None,
            placement: PlacementOptions::default(),
            docker: false,
            callback_ca: None,
            callback_allow: Vec::new(),
            legacy: LegacySettings::default(),
            publish_events: false,
            max_recorded_calls: crate::recording::DEFAULT_MAX_CALLS_PER_SERVICE,
        }
    }
}

/// The data directory's orchestrator id, created on first use: what marks
/// the infrastructure this orchestrator owns on a daemon others may share.
fn orchestrator_id(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join("orchestrator-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => Err(format!("{} is empty", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().to_string();
            std::fs::write(&path, format!("{id}\n")).map_err(|error| format!("{}: {error}", path.display()))?;
            Ok(id)
        }
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory cannot be held: another server holds it, or it
    /// cannot be created.
    #[error(transparent)]
    Held(#[from] DataDirError),
    /// A store of the data directory could not be opened.
    #[error("data directory {}: {message}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The VIM configuration is unusable.
    #[error(transparent)]
    Vims(#[from] crate::infrastructure::emulated::VimConfigError),
    /// The Docker daemon cannot serve the VIMs.
    #[error(transparent)]
    Infrastructure(#[from] crate::infrastructure::InfraError),
    /// The WebAssembly host could not start.
    #[error("the WebAssembly host: {0}")]
    Host(String),
    /// Recovering the services failed.
    #[error("recovery: {0}")]
    Recovery(#[from] crate::lcm::LcmError),
    /// The callbacks' certificate authorities are unusable.
    #[error("callback CA file {}: {message}", path.display())]
    CallbackCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// The roots an `https` callback's certificate must chain to: the
/// certificates of `ca_file`, or the public web's.
fn callback_roots(ca_file: Option<&Path>) -> Result<RootCerts, ServeError> {
    tls::trusted_roots(ca_file).map_err(|error| ServeError::CallbackCa {
        path: error.path,
        message: error.message,
    })
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Lifecycle management.
    pub lifecycle: Arc<Lifecycle>,
    /// Projects and tokens.
    pub access: AccessStore,
    /// The numbered lifecycle events the event stream serves.
    events: Arc<EventLog>,
    /// What `/metrics` exposes.
    metrics: Arc<Metrics>,
    /// Subscriptions to notifications.
    subscriptions: Arc<Subscriptions>,
}

impl AppState {
    /// The state over `lifecycle`, `access` and the stored
    /// `subscriptions`, with the tasks that follow the lifecycle for the
    /// event stream and the metrics (`events::observe`) and for the
    /// notifications (`subscriptions::notify`) started. Needs a Tokio
    /// runtime.
    pub fn new(
        lifecycle: Arc<Lifecycle>,
        access: AccessStore,
        subscriptions: subscriptions::Stored,
        callback_roots: RootCerts,
        callback_resolver: CallbackResolver,
    ) -> Self {
        let (events, metrics) = (Arc::new(EventLog::default()), Arc::new(Metrics::default()));
        events::observe(&lifecycle, Arc::clone(&events), Arc::clone(&metrics));
        let subscriptions =
            Subscriptions::start(subscriptions, Arc::clone(&metrics), callback_roots, callback_resolver);
        subscriptions::notify(&lifecycle, Arc::clone(&subscriptions));
        Self {
            lifecycle,
            access,
            events,
            metrics,
            subscriptions,
        }
    }
}

/// How many lifecycle events may wait for the bus publisher before the
/// event log's follower waits (and, past the ring, sees a gap).
const PUBLISHED_EVENTS_BUFFER: usize = 1024;

/// A started service: its state, what recovery did, and the bootstrap
/// secret when this start issued one.
#[derive(Debug)]
pub struct Opened {
    /// What the handlers share.
    pub state: AppState,
    /// How many services run again after recovery.
    pub recovered: usize,
    /// The admin token issued on first start, to print once.
    pub bootstrap_secret: Option<String>,
}

/// Opens the data directory, recovers the services the records hold and
/// bootstraps the admin token.
pub async fn open(config: &ServeConfig) -> Result<Opened, ServeError> {
    let held = Arc::new(DataDir::hold(&config.data_dir)?);
    let data_dir = &config.data_dir;
    let storage = |message: String| ServeError::DataDir {
        path: data_dir.clone(),
        message,
    };
    let catalogue = Catalogue::open(data_dir).map_err(|error| storage(error.to_string()))?;
    let host = wasmano_host::Host::new(wasmano_host::HostConfig {
        cache_dir: Some(data_dir.join("cache/modules")),
        ..wasmano_host::HostConfig::default()
    })
    .map_err(|error| ServeError::Host(error.to_string()))?;
    let records =
        Arc::new(SqliteStore::open(&data_dir.join("records.sqlite")).map_err(|error| storage(error.to_string()))?);
    // What legacy managers of an earlier process left goes before anything
    // runs: an instance's managers start again on its next event.
    remove_legacy_leftovers(&config.legacy.broker, records.as_ref())
        .await
        .map_err(storage)?;
    let vims = match (&config.vims_file, config.docker) {
        (Some(file), _) => load_vims(file)?,
        (None, false) => default_vims(),
        (None, true) => default_docker_vims(),
    };
    let infrastructure: Arc<dyn Infrastructure> = if config.docker {
        let orchestrator = orchestrator_id(data_dir).map_err(storage)?;
        Arc::new(DockerInfrastructure::connect(CapacityLedger::new(vims)?, &orchestrator).await?)
    } else {
        Arc::new(EmulatedInfrastructure::new(vims)?)
    };
    let orchestrator = Arc::new(Orchestrator::new(
        infrastructure.clone(),
        records.clone(),
        config.placement.clone(),
    ));
    let lifecycle_store =
        LcmStore::open(&data_dir.join("lifecycle.sqlite")).map_err(|error| storage(error.to_string()))?;
    let access = AccessStore::open(&data_dir.join("access.sqlite")).map_err(|error| storage(error.to_string()))?;
    let subscriptions = subscriptions::Stored::open(&data_dir.join("subscriptions.sqlite"))
        .map_err(|error| storage(error.to_string()))?;
    let calls = CallLog::open(data_dir, config.max_recorded_calls).map_err(|error| storage(error.to_string()))?;
    let bootstrap_secret = access
        .bootstrap(config.bootstrap_token_file.as_deref())
        .map_err(|error| storage(error.to_string()))?;
    // Workflow requests legacy SSMs publish unasked, acted on once the
    // lifecycle exists.
    let (manager_requests, mut requested) = tokio::sync::mpsc::channel(MANAGER_REQUESTS_BUFFER);
    let legacy = LegacySettings {
        requests: Some(manager_requests),
        ..config.legacy.clone()
    };
    let lifecycle = Lifecycle::new(
        Parts {
            orchestrator,
            infrastructure,
            records,
            catalogue: Arc::new(catalogue),
            host: Arc::new(host),
            data_dir: held,
            legacy,
            calls,
        },
        lifecycle_store,
    );
    // Observed before recovery, so that what recovery concludes counts.
    let state = AppState::new(
        lifecycle,
        access,
        subscriptions,
        callback_roots(config.callback_ca.as_deref())?,
        CallbackResolver::new(config.callback_allow.clone()),
    );
    // Weak: the lifecycle holds the senders, and the channel closes with it.
    let acting = Arc::downgrade(&state.lifecycle);
    tokio::spawn(async move {
        while let Some(request) = requested.recv().await {
            let Some(lifecycle) = acting.upgrade() else {
                return;
            };
            lifecycle.requested_by_manager(request).await;
        }
    });
    if config.publish_events {
        let (sender, receiver) = tokio::sync::mpsc::channel(PUBLISHED_EVENTS_BUFFER);
        tokio::spawn(Arc::clone(&state.events).follow(sender));
        tokio::spawn(crate::bus::lifecycle::publish(config.legacy.broker.clone(), receiver));
    }
    let recovered = state.lifecycle.recover().await?;
    Ok(Opened {
        state,
        recovered,
        bootstrap_secret,
    })
}

/// Removes the vhosts and containers legacy managers left for the
/// instances the records know ([`crate::bus::remove_leftovers`]); a broker
/// or Docker daemon that cannot be reached is normal when no legacy manager
/// is used, and only logged.
async fn remove_legacy_leftovers(broker: &Broker, records: &dyn RecordStore) -> Result<(), String> {
    let services = records.all_ns().await.map_err(|error| error.to_string())?;
    let service_ids: Vec<String> = services.into_iter().map(|service| service.id).collect();
    let vnfs = records
        .vnfs_of_many(service_ids.clone())
        .await
        .map_err(|error| error.to_string())?;
    let instances: HashSet<String> = service_ids
        .into_iter()
        .chain(vnfs.into_iter().map(|vnf| vnf.id))
        .collect();
    if instances.is_empty() {
        return Ok(());
    }
    let leftovers = crate::bus::remove_leftovers(broker, &instances).await;
    if leftovers.vhosts + leftovers.containers > 0 {
        tracing::info!(
            vhosts = leftovers.vhosts,
            containers = leftovers.containers,
            "removed what legacy managers of an earlier run left"
        );
    }
    for problem in &leftovers.problems {
        tracing::debug!("legacy manager leftovers not checked: {problem}");
    }
    Ok(())
}

/// The API's routes, each with its description.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::Base::openapi())
        .merge(admin::routes())
        .merge(packages::routes())
        .merge(nslcm::routes())
        .merge(subscriptions::routes())
        .merge(events::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    let (api, document) = routes().split_for_parts();
    let document = serde_json::to_vec(&openapi::complete(document)).expect("an OpenAPI document serializes");
    let api = api
        .fallback(|| async { Problem::new(ProblemKind::NotFound, "no such resource or task") })
        .layer(Extension(openapi::Served(Bytes::from(document))))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    // `Router::layer` wraps each route, where the matched path is known;
    // outermost, so that every answer counts.
    api.layer(middleware::from_fn(conventions))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// Goes with every clone of the router `serve` serves: its channel closes
/// when the last clone is dropped.
#[derive(Clone)]
struct RouterHeld {
    _sender: tokio::sync::mpsc::Sender<std::convert::Infallible>,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// every connection go and running operations reach their end (at most
/// [`DRAIN_LIMIT`] for both).
pub async fn serve<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let lifecycle = Arc::clone(&state.lifecycle);
    let retries = lifecycle.spawn_removal_retries(REMOVAL_RETRY_PERIOD);
    let events = Arc::clone(&state.events);
    let (held, mut released) = tokio::sync::mpsc::channel(1);
    axum::serve(listener, router(state).layer(Extension(RouterHeld { _sender: held })))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Event streams never end by themselves.
            events.close();
        })
        .await?;
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    // Each connection's task drops its router, which holds the lifecycle
    // and with it the data directory, a moment after axum counts the
    // connection closed: wait for the last (microseconds).
    if tokio::time::timeout_at(deadline, released.recv()).await.is_err() {
        tracing::warn!(
            "a connection still held the server's router at exit; the data directory stays in use until it goes"
        );
    }
    // Gone (not only told to go) before serve returns, for the same reason.
    retries.abort();
    let _ = retries.await;
    let still_running = lifecycle
        .drain(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await;
    if still_running > 0 {
        tracing::warn!("{still_running} operation(s) still running at exit; the next start recovers them");
    }
    Ok(())
}

/// Every request needs a valid bearer token; the caller's
/// [`Principal`](crate::access::Principal) goes into the request's
/// extensions.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or("\u{0}"));
    let principal = bearer_secret(header).and_then(|secret| state.access.authenticate(secret));
    match principal {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(failure) => {
            tracing::info!(reason = failure.reason(), "refused an unauthenticated request");
            state.metrics.auth_failure(failure.reason());
            Problem::from(failure).into_response()
        }
    }
}

/// SOL013's conventions: a `Version` other than 1.x.y is refused (406);
/// every answer carries `Version: 1.0.0`; a wrong method is a
/// ProblemDetails 405.
async fn conventions(request: Request, next: Next) -> Response {
    let asked = request
        .headers()
        .get("version")
        .map(|value| value.to_str().unwrap_or(""));
    if let Some(asked) = asked
        && !(asked == "1" || asked.starts_with("1."))
    {
        return with_version(
            Problem::new(
                ProblemKind::UnsupportedVersion,
                format!("API version {asked:?} is not served; this server speaks {API_VERSION}"),
            )
            .into_response(),
        );
    }
    let response = next.run(request).await;
    let response = if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut problem =
            Problem::new(ProblemKind::MethodNotAllowed, "the resource does not take this method").into_response();
        if let Some(allow) = allow {
            problem.headers_mut().insert(header::ALLOW, allow);
        }
        problem
    } else {
        response
    };
    with_version(response)
}

fn with_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("version", HeaderValue::from_static(API_VERSION));
    response
}
