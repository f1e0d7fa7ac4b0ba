//! The [`SpecificManager`] abstraction the orchestrator calls, and its
//! WebAssembly implementation, [`WasmManager`]: a loaded module bound to a
//! manager id, its declared options and its limits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tango_model::KeyValue;

use crate::bindings::wit_types;
use crate::contract::ManagerKind;
use crate::engine::{Host, HostInner};
use crate::event::{Event, Reply, Request};
use crate::invoke::{self, Cause, InvocationError};
use crate::module::LoadedModule;
use crate::sandbox::Identity;

/// A boxed future, so that [`SpecificManager`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A specific manager, however it runs (a WebAssembly component here, a
/// legacy container over the bus elsewhere). It is [`Any`](std::any::Any)
/// so that its owner can tell its kinds apart where it must (changing a
/// legacy manager in place restarts its group's programs).
pub trait SpecificManager: std::any::Any + Send + Sync {
    /// The manager's id (from its descriptor).
    fn id(&self) -> &str;

    /// Service or function manager.
    fn kind(&self) -> ManagerKind;

    /// Runs one event.
    fn invoke(&self, request: Request) -> BoxFuture<'_, Result<Reply, InvocationError>>;

    /// Whether the manager keeps something per service or function
    /// instance between events (a legacy manager's program and its broker
    /// vhost), to [`release`](Self::release) when the instance ends. Not by
    /// default: a WebAssembly manager runs every event in a fresh instance.
    fn keeps_instances(&self) -> bool {
        false
    }

    /// Releases what the manager keeps for a service or function instance
    /// that has ended; nothing by default.
    fn release<'a>(&'a self, _instance: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// Sends the manager of `instance` a one-way message about `event`
    /// where 5GTANGO's lifecycle managers sent one and the contract has no
    /// hook: the configure SSM's `workflow: status` once the VNFs are
    /// configured, the monitor SSM's `start_monitoring` once the service
    /// runs. Modules do not get these: nothing by default.
    fn notify<'a>(
        &'a self,
        _instance: &'a str,
        _event: Event,
        _content: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// What one invocation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for one invocation, instantiation included.
    pub deadline: Duration,
    /// Linear memory the guest may grow to.
    pub memory_bytes: usize,
    /// The most the guest may hand over at once: a whole reply (its strings
    /// plus a fixed cost per list element, as wasmtime's hostcall fuel
    /// counts), or one log line. Copying stops at the cap.
    pub reply_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            reply_bytes: 1 << 20,
        }
    }
}

/// Limits a host cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// The memory cap is above what the host's pool reserves per instance.
    #[error("memory cap of {requested} bytes is above this host's maximum of {maximum} bytes")]
    MemoryAboveMaximum {
        /// The cap asked for.
        requested: usize,
        /// The host's maximum.
        maximum: usize,
    },
    /// The deadline is above the host's maximum.
    #[error("deadline of {} ms is above this host's maximum of {} ms", requested.as_millis(), maximum.as_millis())]
    DeadlineAboveMaximum {
        /// The deadline asked for.
        requested: Duration,
        /// The host's maximum.
        maximum: Duration,
    },
    /// A zero deadline, memory cap or reply cap.
    #[error("limits must be positive: {0}")]
    Zero(&'static str),
}

/// A manager running as a WebAssembly component. Cheap to clone.
#[derive(Clone)]
pub struct WasmManager {
    host: Arc<HostInner>,
    module: LoadedModule,
    identity: Arc<Identity>,
    limits: Limits,
}

impl std::fmt::Debug for WasmManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmManager")
            .field("id", &self.identity.id)
            .field("module", &self.module)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl WasmManager {
    /// Binds a loaded module to a manager id, its options and its limits.
    pub fn new(
        host: &Host,
        module: LoadedModule,
        id: impl Into<String>,
        options: Vec<KeyValue>,
        limits: Limits,
    ) -> Result<Self, LimitsError> {
        let maximum = host.inner().config.max_memory_bytes;
        if limits.memory_bytes > maximum {
            return Err(LimitsError::MemoryAboveMaximum {
                requested: limits.memory_bytes,
                maximum,
            });
        }
        let maximum = host.inner().config.max_deadline;
        if limits.deadline > maximum {
            return Err(LimitsError::DeadlineAboveMaximum {
                requested: limits.deadline,
                maximum,
            });
        }
        for (value, name) in [
            (limits.deadline.as_nanos(), "deadline"),
            (limits.memory_bytes as u128, "memory"),
            (limits.reply_bytes as u128, "reply size"),
        ] {
            if value == 0 {
                return Err(LimitsError::Zero(name));
            }
        }
        let options = options
            .into_iter()
            .map(|option| wit_types::KeyValue {
                key: option.key,
                value: option.value,
            })
            .collect();
        let identity = Arc::new(Identity { id: id.into(), options });
        Ok(Self {
            host: Arc::clone(host.inner()),
            module,
            identity,
            limits,
        })
    }

    /// The loaded module.
    pub fn module(&self) -> &LoadedModule {
        &self.module
    }

    /// The limits each invocation runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The options its descriptor declares.
    pub fn options(&self) -> Vec<KeyValue> {
        self.identity
            .options
            .iter()
            .map(|option| KeyValue {
                key: option.key.clone(),
                value: option.value.clone(),
            })
            .collect()
    }

    /// Runs one event on the calling thread, in a fresh instance.
    pub fn invoke_blocking(&self, request: &Request) -> Result<Reply, InvocationError> {
        if request.event.kind() != self.module.kind() {
            return Err(self.error(request.event, Cause::NotHandled));
        }
        invoke::invoke(&self.host, &self.module.pre, &self.identity, &self.limits, request)
    }

    /// Checks that every function of the contract the module exports has
    /// the contract's type, in a fresh instance under the manager's limits
    /// (an invocation checks only the function it calls):
    /// [`Fault::ContractMismatch`](crate::Fault::ContractMismatch) when one
    /// does not.
    pub fn check_contract(&self) -> Result<(), Cause> {
        invoke::check_contract(&self.host, &self.module.pre, &self.identity, &self.limits)
    }

    /// The events the module says it handles (its `handles` export), asked
    /// of a fresh instance like any event.
    pub fn handled_events(&self) -> Result<Vec<Event>, Cause> {
        invoke::handled_events(&self.host, &self.module.pre, &self.identity, &self.limits)
    }

    fn error(&self, event: Event, cause: Cause) -> InvocationError {
        InvocationError {
            manager: self.identity.id.clone(),
            event,
            cause,
        }
    }
}

impl SpecificManager for WasmManager {
    fn id(&self) -> &str {
        &self.identity.id
    }

    fn kind(&self) -> ManagerKind {
        self.module.kind()
    }

    fn invoke(&self, request: Request) -> BoxFuture<'_, Result<Reply, InvocationError>> {
        Box::pin(async move {
            let event = request.event;
            let permit = Arc::clone(&self.host.permits).acquire_owned().await;
            let manager = self.clone();
            let outcome = crate::run_blocking(move || {
                let _permit = permit;
                manager.invoke_blocking(&request)
            })
            .await;
            outcome.unwrap_or_else(|| Err(self.error(event, Cause::Host("the invocation thread panicked".into()))))
        })
    }
}
