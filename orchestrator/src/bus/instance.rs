//! One service or function instance's legacy managers, driven as 5GTANGO's
//! MANO drove them: the registry's part (`LEGACY-BUS.md` §3–§5: the
//! instance's vhost and permissions, each manager launched with its
//! `broker_host` and `sf_uuid`, registrations answered, readiness awaited,
//! everything removed at the end) and the SLM/FLM's part (§6: events sent on
//! `generic.<kind>.<instance>` as requests, the first reply with the
//! request's correlation id taken, within a deadline).
//!
//! Ready means every launched manager has registered *and* bound a queue of
//! its own to the instance's event topic: 5GTANGO's older managers subscribe
//! only after their registration is answered, and an event published before
//! that binding exists is silently dropped (the subscription race, §8.1).
//! The bindings are read from the management API.
//!
//! A service's SSMs may publish workflow requests unasked on
//! `monitor.ssm.<service id>` (§6, 5GTANGO's SLM subscribed to it): they are
//! forwarded as [`ManagerRequest`]s.
//!
//! An in-place update (5GTANGO's SMR `update`) launches the new manager in
//! the running instance beside the old one ([`LegacyInstance::add`]), and
//! stops the old one once the new one is ready
//! ([`LegacyInstance::stop_programs`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use wasmano_host::{ManagerKind, run_blocking};

use super::broker::{Broker, BrokerError};
use super::launcher::{Launched, Launcher};
use super::wire;

/// How often readiness is checked while managers start.
const READINESS_POLL: Duration = Duration::from_millis(50);

/// How long a manager has to exit after its vhost is gone and SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The longest 5GTANGO's registry waited for a manager to register, and our
/// default.
pub const DEFAULT_READY_WITHIN: Duration = Duration::from_secs(60);

/// How many requests legacy SSMs published unasked may wait for the
/// orchestrator; more are dropped (and logged).
pub const MANAGER_REQUESTS_BUFFER: usize = 64;

/// A message a legacy SSM published unasked on `monitor.ssm.<service id>`
/// (5GTANGO's SSM → SLM path: the workflows it wants, typically from
/// monitoring data), with the service whose vhost it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerRequest {
    /// The service: the instance of the vhost the message came from, never
    /// what the message says.
    pub service_id: String,
    /// The message, decoded.
    pub body: Value,
}

/// Where [`ManagerRequest`]s go.
pub type ManagerRequests = tokio::sync::mpsc::Sender<ManagerRequest>;

/// One legacy manager of an instance: its descriptor id and how it starts.
#[derive(Debug, Clone)]
pub struct LegacySpec {
    /// The manager's id in its descriptor.
    pub id: String,
    /// How it starts.
    pub launcher: Launcher,
}

/// Why an instance's legacy managers could not be started, called or removed.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The management API failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The AMQP side of the broker failed.
    #[error("the broker at {at}: {message}")]
    Amqp {
        /// host:port.
        at: String,
        /// What failed.
        message: String,
    },
    /// A manager did not start, register or subscribe in time.
    #[error("legacy manager {manager}: {message}")]
    Start {
        /// The manager's id.
        manager: String,
        /// Why, with the end of its output.
        message: String,
    },
}

/// Why one call to an instance's managers got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No reply within the deadline.
    #[error("no reply within {} ms", .0.as_millis())]
    Deadline(Duration),
    /// The broker connection is gone.
    #[error("the broker at {at}: {message}")]
    Broker {
        /// host:port.
        at: String,
        /// What failed.
        message: String,
    },
    /// The reply's body could not be read.
    #[error("{0}")]
    Body(String),
}

/// What a waiting call is handed: the reply's body (or why it could not be
/// read), or the news that the connection is gone.
#[derive(Debug)]
enum Answer {
    Body(Result<Value, String>),
    Lost(String),
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>;

/// What a launch is measured against ([`LegacyInstance::readiness`]).
struct Readiness {
    registered: usize,
    queues: HashSet<String>,
}

/// The legacy managers of one service or function instance, running and
/// registered, with the connection their events travel on.
#[derive(Debug)]
pub struct LegacyInstance {
    kind: ManagerKind,
    instance: String,
    vhost: String,
    topic: String,
    broker: Broker,
    channel: Channel,
    connection: Connection,
    pending: Pending,
    registered: Arc<AtomicUsize>,
    launched: tokio::sync::Mutex<Vec<Launched>>,
}

impl LegacyInstance {
    /// Opens the instance's vhost, launches its managers and waits until
    /// they are ready (at most `ready_within`). On failure nothing is left:
    /// programs stopped, vhost deleted.
    /// A service instance's SSMs may also publish workflow requests
    /// unasked: they go to `requests` when given.
    pub async fn start(
        broker: &Broker,
        kind: ManagerKind,
        instance: &str,
        managers: &[LegacySpec],
        ready_within: Duration,
        requests: Option<&ManagerRequests>,
    ) -> Result<Self, LegacyError> {
        let vhost = wire::vhost(kind, instance);
        let opening = broker.clone();
        let name = vhost.clone();
        blocking(move || opening.open_vhost(&name)).await??;
        let connected = Self::connect(broker, kind, instance, &vhost, requests).await;
        let instance = match connected {
            Ok(instance) => instance,
            Err(error) => {
                let deleting = broker.clone();
                let name = vhost.clone();
                let _ = blocking(move || deleting.delete_vhost(&name)).await;
                return Err(error);
            }
        };
        match instance.launch_and_wait(managers, ready_within).await {
            Ok(()) => Ok(instance),
            Err(error) => {
                if let Err(cleanup) = instance.remove().await {
                    tracing::warn!(vhost = %vhost, "removing what a failed start left: {cleanup}");
                }
                Err(error)
            }
        }
    }

    async fn connect(
        broker: &Broker,
        kind: ManagerKind,
        instance: &str,
        vhost: &str,
        requests: Option<&ManagerRequests>,
    ) -> Result<Self, LegacyError> {
        let amqp = |error: lapin::Error| LegacyError::Amqp {
            at: broker.address(),
            message: error.to_string(),
        };
        let properties = ConnectionProperties::default().with_connection_name(format!("wasmano {vhost}").into());
        let connection = Connection::connect(&broker.orchestrator_url(vhost), properties)
            .await
            .map_err(amqp)?;
        let channel = connection.create_channel().await.map_err(amqp)?;
        wire::declare_exchange(&channel).await.map_err(amqp)?;
        let topic = wire::event_topic(kind, instance);
        let registrations = wire::subscribe(&channel, wire::REGISTRATION_TOPIC)
            .await
            .map_err(amqp)?;
        let registered = Arc::new(AtomicUsize::new(0));
        tokio::spawn(answer_registrations(
            channel.clone(),
            registrations,
            Arc::clone(&registered),
            vhost.to_owned(),
        ));
        if let (ManagerKind::Service, Some(requests)) = (kind, requests) {
            let published = wire::subscribe(&channel, &wire::monitor_topic(instance))
                .await
                .map_err(amqp)?;
            tokio::spawn(forward_requests(published, requests.clone(), instance.to_owned()));
        }
        let replies = wire::subscribe(&channel, &topic).await.map_err(amqp)?;
        let pending = Pending::default();
        tokio::spawn(route_replies(replies, Arc::clone(&pending), broker.address()));
        Ok(Self {
            kind,
            instance: instance.to_owned(),
            vhost: vhost.to_owned(),
            topic,
            broker: broker.clone(),
            channel,
            connection,
            pending,
            registered,
            launched: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    async fn launch_and_wait(&self, managers: &[LegacySpec], ready_within: Duration) -> Result<(), LegacyError> {
        let before = self.readiness().await?;
        let mut references = Vec::new();
        for manager in managers {
            references.push(self.launch(manager).await?);
        }
        self.wait_ready(&before, &references, ready_within).await
    }

    /// Launches one more manager program in the instance, for an in-place
    /// update (5GTANGO's SMR `update`): it shares the vhost and the event
    /// topic with the manager it replaces. Returns once it has registered
    /// and subscribed (within `ready_within`), with the program's
    /// [reference](Self::programs); on failure the new program is stopped
    /// and everything else is as it was.
    pub async fn add(&self, manager: &LegacySpec, ready_within: Duration) -> Result<String, LegacyError> {
        let before = self.readiness().await?;
        let reference = self.launch(manager).await?;
        let references = [reference.clone()];
        match self.wait_ready(&before, &references, ready_within).await {
            Ok(()) => Ok(reference),
            Err(error) => {
                self.stop_programs(&references).await;
                Err(error)
            }
        }
    }

    /// The references of the programs that run `manager`.
    pub async fn programs_of(&self, manager: &str) -> Vec<String> {
        let launched = self.launched.lock().await;
        launched
            .iter()
            .filter(|program| program.manager == manager)
            .map(Launched::reference)
            .collect()
    }

    /// Stops the programs with these references, then deletes the queues
    /// nobody consumes any more (a 5GTANGO manager's queues are not
    /// auto-delete, so a stopped manager's would fill with every later
    /// event). Best effort: what cannot be deleted is logged.
    pub async fn stop_programs(&self, references: &[String]) {
        let stopping: Vec<Launched> = {
            let mut launched = self.launched.lock().await;
            let (stopping, kept) = std::mem::take(&mut *launched)
                .into_iter()
                .partition(|program| references.contains(&program.reference()));
            *launched = kept;
            stopping
        };
        for program in stopping {
            program.stop(STOP_GRACE).await;
        }
        let broker = self.broker.clone();
        let vhost = self.vhost.clone();
        match blocking(move || broker.delete_unused_queues(&vhost)).await {
            Ok(Ok(count)) => tracing::debug!(vhost = %self.vhost, "{count} unused queues deleted"),
            Ok(Err(error)) => tracing::warn!(vhost = %self.vhost, "deleting the unused queues: {error}"),
            Err(error) => tracing::warn!(vhost = %self.vhost, "deleting the unused queues: {error}"),
        }
    }

    /// Registrations so far and the queues bound to the event topic: a
    /// launch is ready against this once its managers have registered and
    /// subscribed on queues of their own.
    async fn readiness(&self) -> Result<Readiness, LegacyError> {
        Ok(Readiness {
            registered: self.registered.load(Ordering::SeqCst),
            queues: self.bound_queues().await?,
        })
    }

    async fn bound_queues(&self) -> Result<HashSet<String>, LegacyError> {
        let broker = self.broker.clone();
        let (vhost, topic) = (self.vhost.clone(), self.topic.clone());
        let bound = blocking(move || broker.bound_queues(&vhost, wire::EXCHANGE, &topic)).await??;
        Ok(bound.into_iter().collect())
    }

    async fn launch(&self, manager: &LegacySpec) -> Result<String, LegacyError> {
        let manager_url = self.broker.manager_url(&self.vhost);
        let program = manager
            .launcher
            .launch(&manager.id, &manager_url, &self.instance)
            .await
            .map_err(|message| LegacyError::Start {
                manager: manager.id.clone(),
                message,
            })?;
        let reference = program.reference();
        self.launched.lock().await.push(program);
        Ok(reference)
    }

    /// Waits until the programs `references` have all registered and each
    /// subscribed to the event topic on a queue of its own (counted against
    /// `before`), or one of them ends, or `ready_within` passes.
    async fn wait_ready(
        &self,
        before: &Readiness,
        references: &[String],
        ready_within: Duration,
    ) -> Result<(), LegacyError> {
        let started = tokio::time::Instant::now();
        let expected = references.len();
        loop {
            let registered = self.registered.load(Ordering::SeqCst) - before.registered;
            let subscribed = self.bound_queues().await?.difference(&before.queues).count();
            if registered >= expected && subscribed >= expected {
                tracing::info!(vhost = %self.vhost, "legacy managers ready in {} ms", started.elapsed().as_millis());
                return Ok(());
            }
            let mut launched = self.launched.lock().await;
            let mut watched = launched
                .iter_mut()
                .filter(|program| references.contains(&program.reference()));
            for program in watched.by_ref() {
                if let Some(status) = program.exited().await {
                    return Err(LegacyError::Start {
                        manager: program.manager.clone(),
                        message: format!(
                            "its program ended ({status}) before it was ready; its last output:\n{}",
                            program.last_output().await
                        ),
                    });
                }
            }
            if started.elapsed() >= ready_within {
                let program = launched
                    .iter()
                    .find(|program| references.first() == Some(&program.reference()));
                let output = match program {
                    Some(program) => program.last_output().await,
                    None => String::new(),
                };
                let what = if registered < expected {
                    format!("{registered} of {expected} managers registered")
                } else {
                    format!("{subscribed} of {expected} managers subscribed to {}", self.topic)
                };
                return Err(LegacyError::Start {
                    manager: program.map(|program| program.manager.clone()).unwrap_or_default(),
                    message: format!(
                        "not ready within {} ms: {what}; its last output:\n{output}",
                        ready_within.as_millis(),
                    ),
                });
            }
            drop(launched);
            tokio::time::sleep(READINESS_POLL).await;
        }
    }

    /// Whether the orchestrator's connection to the instance's vhost is up.
    /// A broker restart drops it, and the managers' own (5GTANGO's managers
    /// do not reconnect): the instance has to be started again.
    pub fn connected(&self) -> bool {
        self.connection.status().connected()
    }

    /// Service or function instance.
    pub fn kind(&self) -> ManagerKind {
        self.kind
    }

    /// The service or function instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The instance's vhost.
    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// What each manager runs as: its process id, or its container's name.
    pub async fn programs(&self) -> Vec<String> {
        self.launched.lock().await.iter().map(Launched::reference).collect()
    }

    /// Sends a request to the instance's managers and returns the first
    /// reply carrying its correlation id; later ones are dropped.
    pub async fn call(&self, body: &Value, deadline: Duration) -> Result<Value, CallError> {
        let correlation = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&self.pending).insert(correlation.clone(), sender);
        let properties = wire::request_properties(wire::caller_app_id(self.kind), &self.topic, &correlation);
        let answer = tokio::time::timeout(deadline, async {
            self.publish(&self.topic, body, properties).await?;
            receiver
                .await
                .map_err(|_| self.broker_lost("the reply router stopped".into()))
        })
        .await;
        lock(&self.pending).remove(&correlation);
        match answer {
            Ok(Ok(Answer::Body(Ok(body)))) => Ok(body),
            Ok(Ok(Answer::Body(Err(message)))) => Err(CallError::Body(message)),
            Ok(Ok(Answer::Lost(message))) => Err(self.broker_lost(message)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(CallError::Deadline(deadline)),
        }
    }

    /// Sends a one-way message (5GTANGO's `notify`) to the instance's managers.
    pub async fn notify(&self, body: &Value) -> Result<(), CallError> {
        let properties = wire::notification_properties(wire::caller_app_id(self.kind));
        self.publish(&self.topic, body, properties).await
    }

    async fn publish(&self, topic: &str, body: &Value, properties: lapin::BasicProperties) -> Result<(), CallError> {
        self.channel
            .basic_publish(
                wire::EXCHANGE.into(),
                topic.into(),
                BasicPublishOptions::default(),
                &wire::encode(body),
                properties,
            )
            .await
            .map_err(|error| self.broker_lost(error.to_string()))?;
        Ok(())
    }

    fn broker_lost(&self, message: String) -> CallError {
        CallError::Broker {
            at: self.broker.address(),
            message,
        }
    }

    /// Removes everything the instance holds: the orchestrator's connection,
    /// the vhost (its queues, and the managers' connections, which ends a
    /// 5GTANGO manager), then the programs (SIGTERM, SIGKILL after a grace
    /// period).
    pub async fn remove(&self) -> Result<(), LegacyError> {
        if self.connection.status().connected() {
            let _ = self.connection.close(200, "instance removed".into()).await;
        }
        let broker = self.broker.clone();
        let vhost = self.vhost.clone();
        let deleted = blocking(move || broker.delete_vhost(&vhost)).await;
        let programs = std::mem::take(&mut *self.launched.lock().await);
        for program in programs {
            program.stop(STOP_GRACE).await;
        }
        deleted??;
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, LegacyError> {
    run_blocking(work).await.ok_or_else(|| LegacyError::Amqp {
        at: "management API".into(),
        message: "the call's thread panicked".into(),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hands each reply to the call waiting for its correlation id (the first
/// one wins: the entry is gone after it). When the connection ends, every
/// waiting call fails at once rather than at its deadline.
async fn route_replies(mut replies: Consumer, pending: Pending, broker: String) {
    while let Some(Ok(delivery)) = replies.next().await {
        if let Some(correlation) = wire::reply_correlation(&delivery.properties) {
            let waiting = lock(&pending).remove(correlation);
            if let Some(waiting) = waiting {
                let _ = waiting.send(Answer::Body(wire::decode(&delivery.data)));
            }
        }
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
    for (_, waiting) in lock(&pending).drain() {
        let _ = waiting.send(Answer::Lost(format!(
            "the connection to the broker at {broker} was lost"
        )));
    }
}

/// Hands each message an SSM publishes on its monitor topic to the
/// orchestrator, as a [`ManagerRequest`] of `service_id`. A body that is not
/// YAML, or a full queue, drops the message with a warning.
async fn forward_requests(mut published: Consumer, requests: ManagerRequests, service_id: String) {
    while let Some(Ok(delivery)) = published.next().await {
        match wire::decode(&delivery.data) {
            Ok(body) => {
                let request = ManagerRequest {
                    service_id: service_id.clone(),
                    body,
                };
                if let Err(error) = requests.try_send(request) {
                    tracing::warn!(service = %service_id, "a legacy SSM's workflow request was dropped: {error}");
                }
            }
            Err(error) => {
                tracing::warn!(service = %service_id, "a legacy SSM published an unreadable request: {error}")
            }
        }
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
}

/// The registry's endpoint (§5): each request with a `reply_to` gets a reply
/// on it, `registered` with a fresh uuid when it names its
/// `specific_manager_id`, `Failed` otherwise.
async fn answer_registrations(channel: Channel, mut requests: Consumer, registered: Arc<AtomicUsize>, vhost: String) {
    while let Some(Ok(delivery)) = requests.next().await {
        let properties = &delivery.properties;
        let reply_to = properties.reply_to().as_ref().map(|to| to.as_str().to_owned());
        let own = properties
            .app_id()
            .as_ref()
            .is_some_and(|id| id.as_str() == wire::REGISTRY_APP_ID);
        if let (Some(reply_to), false) = (reply_to.filter(|to| !to.is_empty()), own) {
            let request = wire::decode(&delivery.data).unwrap_or(Value::Null);
            let reply = match request.get("specific_manager_id").and_then(Value::as_str) {
                Some(manager) => {
                    registered.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(vhost = %vhost, manager, "legacy manager registered");
                    json!({
                        "status": "registered",
                        "specific_manager_id": manager,
                        "version": request.get("version").cloned().unwrap_or(Value::Null),
                        "uuid": uuid::Uuid::new_v4().to_string(),
                        "error": null,
                    })
                }
                None => json!({"status": "Failed", "error": "Invalid registration request format"}),
            };
            let properties = wire::reply_properties(wire::REGISTRY_APP_ID, properties.correlation_id().as_ref());
            let _ = channel
                .basic_publish(
                    wire::EXCHANGE.into(),
                    reply_to.as_str().into(),
                    BasicPublishOptions::default(),
                    &wire::encode(&reply),
                    properties,
                )
                .await;
        }
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
}
