//! The [`Host`]: one wasmtime engine, configured once for every manager, with
//! its linker, its epoch ticker and its precompiled-component cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, Resource};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::DynPollable;

use crate::bindings::ssm;
use crate::module::{self, CacheUse, CompileSlots, LoadError, LoadedModule};
use crate::priority::{Demotions, demotion_allowed};
use crate::sandbox::Sandbox;

/// How often the epoch advances: the granularity of invocation deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The default largest component: Rust managers are a few hundred KB,
/// Python ones (componentize-py) about 20 MB.
pub const MAX_MODULE_BYTES: usize = 64 << 20;

/// How many core instances, memories and tables one component may hold.
/// The SDK's managers need 4, 1 and 2 (the component's own module plus the
/// adapter shims); componentize-py's need more. Beyond these a component
/// could take a large share of the pool's slots, starving other managers.
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// See [`MAX_CORE_INSTANCES_PER_COMPONENT`].
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 2;
/// See [`MAX_CORE_INSTANCES_PER_COMPONENT`].
pub const MAX_TABLES_PER_COMPONENT: u32 = 8;

/// How a [`Host`] is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where precompiled components are kept between runs; `None` compiles
    /// every load.
    pub cache_dir: Option<PathBuf>,
    /// How many instances may be live at once (the pooling allocator's size).
    pub max_instances: u32,
    /// The largest memory cap a manager may be given.
    pub max_memory_bytes: usize,
    /// The longest deadline a manager may be given.
    pub max_deadline: Duration,
    /// The largest component accepted, checked before compiling.
    pub max_module_bytes: usize,
    /// How long compiling one component may take before it is refused,
    /// waiting for a compilation slot included.
    pub compile_budget: Duration,
    /// How many compilations may run at once. A compilation past its budget
    /// is refused but cannot be interrupted: it keeps its slot until it
    /// ends, so this also bounds the threads (and memory) that modules which
    /// compile for ever can take.
    pub max_compilations: usize,
    /// A hook's slice at the orchestrator's CPU priority: this much real
    /// time, then this much of its thread's CPU time more; past it, the
    /// rest of its run is in the idle scheduling class (see the crate's
    /// `priority` module). `None` keeps every hook at the orchestrator's
    /// priority.
    pub demote_after: Option<Duration>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 256 << 20,
            max_deadline: Duration::from_secs(10),
            max_module_bytes: MAX_MODULE_BYTES,
            compile_budget: Duration::from_secs(30),
            max_compilations: 2,
            demote_after: Some(Duration::from_millis(10)),
        }
    }
}

/// Loads and runs specific managers. Cheap to clone; clones share the engine.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Sandbox>,
    pub(crate) config: HostConfig,
    /// Bounds the instances in flight through the async path to the pool size.
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
    /// Bounds the compilations running at once.
    pub(crate) compile_slots: Arc<CompileSlots>,
    /// The threads running a hook past its slice; `None` when the host
    /// does not demote.
    pub(crate) demotions: Option<Arc<Demotions>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Creates a host: engine, linker (WASI granting nothing, plus the
    /// contract's `host` interface) and the epoch ticker.
    pub fn new(config: HostConfig) -> Result<Self, LoadError> {
        // Keeping the first MiB of each memory slot resident (reset with a
        // memset, not madvise) spares a fresh instance its page faults: it
        // halves the cost of a small invocation (see the host benchmark).
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * MAX_CORE_INSTANCES_PER_COMPONENT)
            .total_memories(config.max_instances * MAX_MEMORIES_PER_COMPONENT)
            .total_tables(config.max_instances * MAX_TABLES_PER_COMPONENT)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_memory_size(config.max_memory_bytes)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 16);
        let mut wasm = Config::new();
        // Guests arrive optimised by LLVM; cranelift's own optimisations cost
        // a quarter of the compile time and gain nothing measurable per call.
        wasm.cranelift_opt_level(wasmtime::OptLevel::None)
            .epoch_interruption(true)
            .wasm_component_model(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|error| LoadError::Engine(format!("{error:#}")))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        ssm::wasmano::sm::host::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |sandbox| sandbox)
            .map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        ssm::wasmano::sm::types::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |sandbox| sandbox)
            .map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        forbid_blocking(&mut linker, WASI_POLL).map_err(|error| LoadError::Engine(format!("{error:#}")))?;

        // Probed now, so a process without the privilege says so at start.
        let demotions = (config.demote_after.is_some() && demotion_allowed()).then(Arc::default);
        start_epoch_ticker(&engine, demotions.clone())
            .map_err(|error| LoadError::Engine(format!("cannot start the epoch ticker: {error}")))?;
        let permits = Arc::new(tokio::sync::Semaphore::new(config.max_instances as usize));
        Ok(Self {
            inner: Arc::new(HostInner {
                engine,
                linker,
                compile_slots: CompileSlots::new(config.max_compilations),
                demotions,
                config,
                permits,
            }),
        })
    }

    /// Loads a component from a file, checking its sha256 when one is given.
    pub fn load_file(&self, path: &Path, sha256: Option<&str>) -> Result<LoadedModule, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load_bytes(&bytes, sha256)
    }

    /// Loads a component from bytes, checking its sha256 when one is given.
    /// Reads and fills the precompiled cache, if the host has one.
    pub fn load_bytes(&self, bytes: &[u8], sha256: Option<&str>) -> Result<LoadedModule, LoadError> {
        module::load(&self.inner, bytes, sha256, CacheUse::ReadWrite)
    }

    /// Checks and loads a component exactly as [`Host::load_bytes`] does,
    /// reading verified artifacts from the precompiled cache but never
    /// writing to it: what onboarding uses, so that a refused package leaves
    /// nothing behind.
    pub fn verify_bytes(&self, bytes: &[u8], sha256: Option<&str>) -> Result<LoadedModule, LoadError> {
        module::load(&self.inner, bytes, sha256, CacheUse::ReadOnly)
    }

    /// Stores a module checked with [`Host::verify_bytes`] in the
    /// precompiled cache, once what it was checked for is committed, so that
    /// its next load reads the cache instead of compiling again.
    ///
    /// # Errors
    ///
    /// Why the cache could not be written (it is an optimisation: callers
    /// may log this and go on).
    pub fn store_compiled(&self, module: &LoadedModule) -> Result<(), String> {
        module::store_compiled(&self.inner, module)
    }

    /// Whether hooks that run past [`HostConfig::demote_after`] are
    /// demoted: set, and allowed by the process's privileges.
    pub fn demotes_long_hooks(&self) -> bool {
        self.inner.demotions.is_some()
    }

    /// How many calls this host has demoted since it started; `None` when
    /// it does not demote.
    pub fn demoted_hooks(&self) -> Option<u64> {
        self.inner.demotions.as_ref().map(|demotions| demotions.total())
    }

    pub(crate) fn inner(&self) -> &Arc<HostInner> {
        &self.inner
    }
}

/// The WASI interface whose waits the host replaces: the version of
/// `wasi:io/poll` that wasmtime-wasi 48 links. [`forbid_blocking`] checks at
/// start that wasmtime-wasi really defines it, so an upgrade that moves the
/// version stops the host from starting instead of leaving waits live.
const WASI_POLL: &str = "wasi:io/poll@0.2.12";

/// Replaces WASI's blocking waits (`poll`, `pollable.block`) with traps.
///
/// Epoch interruption only stops a guest while it runs wasm; a guest waiting
/// on a timer in the host (`std::thread::sleep`) would outlive its deadline.
/// Managers have nothing to wait for (no sockets, no stdin, clocks frozen at
/// zero), so waiting is refused outright.
fn forbid_blocking(linker: &mut Linker<Sandbox>, interface: &str) -> wasmtime::Result<()> {
    // Defining `poll` without shadowing must fail: it proves that the name
    // below is the interface wasmtime-wasi linked, not a new one of our own.
    linker.allow_shadowing(false);
    let unshadowed = linker.instance(interface)?.func_wrap("poll", refuse_poll);
    if unshadowed.is_ok() {
        return Err(wasmtime::format_err!(
            "the wait shim replaces {interface}, which wasmtime-wasi does not link: update WASI_POLL to its version"
        ));
    }
    linker.allow_shadowing(true);
    let mut poll = linker.instance(interface)?;
    poll.func_wrap("poll", refuse_poll)?;
    poll.func_wrap(
        "[method]pollable.block",
        |_store, (_pollable,): (Resource<DynPollable>,)| -> wasmtime::Result<()> {
            Err(wasmtime::format_err!("{BLOCKING_REFUSED}"))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// `wasi:io/poll.poll`, refused.
fn refuse_poll(
    _store: wasmtime::StoreContextMut<'_, Sandbox>,
    _pollables: (Vec<Resource<DynPollable>>,),
) -> wasmtime::Result<(Vec<u32>,)> {
    Err(wasmtime::format_err!("{BLOCKING_REFUSED}"))
}

/// Why a guest that waits (sleeps, polls) is stopped.
pub(crate) const BLOCKING_REFUSED: &str = "the manager tried to wait (sleep or poll), which managers may not do";

/// Advances the engine's epoch once per [`EPOCH_TICK`] of real time for as
/// long as the engine lives; the thread ends once the last clone of the
/// engine is dropped. A sleep that overruns (a busy machine) is caught up
/// with as many ticks as whole ticks passed, so deadlines follow the clock
/// rather than the number of times the thread was scheduled. At each tick
/// it also gives demoted threads whose deadline has come their class back.
fn start_epoch_ticker(engine: &Engine, demotions: Option<Arc<Demotions>>) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("wasmano-epoch".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let mut ticks: u128 = 0;
            while let Some(engine) = engine.upgrade() {
                let due = started.elapsed().as_nanos() / EPOCH_TICK.as_nanos();
                while ticks < due {
                    engine.increment_epoch();
                    ticks += 1;
                }
                if let Some(demotions) = &demotions {
                    demotions.promote_due(std::time::Instant::now());
                }
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_shim_refuses_an_interface_wasmtime_wasi_does_not_link() {
        let engine = Engine::default();
        let mut linker = Linker::<Sandbox>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        let error = forbid_blocking(&mut linker, "wasi:io/poll@0.2.999").unwrap_err();
        assert!(error.to_string().contains("does not link"), "{error}");
        assert!(forbid_blocking(&mut linker, WASI_POLL).is_ok());
    }
}
