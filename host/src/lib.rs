//! Runs specific managers as sandboxed WebAssembly components.
//!
//! A [`Host`] owns one wasmtime engine (pooling allocator, epoch
//! interruption) and an on-disk cache of precompiled components. Loading a
//! module ([`Host::load_file`], [`Host::load_bytes`]) verifies its sha256 when
//! one is pinned, compiles it once (or reads the cached artifact), refuses an
//! incompatible contract version, and pre-instantiates it. A
//! [`WasmManager`] binds a loaded module to a manager id, its declared
//! options and its [`Limits`]; every invocation runs in a fresh instance with
//! a deadline, a memory cap and a reply-size cap, and ends in a typed
//! outcome: a [`Reply`], or an [`InvocationError`] whose [`Cause`] keeps the
//! manager's own answers (an error, not handled) apart from sandbox
//! [`Fault`]s. The [`SpecificManager`] trait is what the orchestrator calls,
//! whatever runs the manager.

mod bindings;
mod blocking;
mod contract;
mod engine;
mod event;
mod invoke;
mod manager;
mod module;
mod priority;
mod sandbox;
mod tango;

pub use blocking::run_blocking;
pub use contract::{HOST_CONTRACT_VERSION, ManagerKind, Version};
pub use engine::{Host, HostConfig, MAX_MODULE_BYTES};
pub use event::{Event, Reply, Request, RequestError};
pub use invoke::{Cause, Fault, InvocationError, MAX_ERROR_MESSAGE_BYTES};
pub use manager::{BoxFuture, Limits, LimitsError, SpecificManager, WasmManager};
pub use module::{LoadError, LoadedModule, Origin, sha256_hex};
pub use tango::reply_from_tango;
