//! Loading a module: digest check, compile-once cache, contract check and
//! pre-instantiation.
//!
//! A component larger than the host's cap is refused before it is compiled,
//! and compiling runs under a time budget, in one of a bounded number of
//! compilation slots (one past its budget keeps its slot until it ends).
//!
//! The cache keeps `wasmtime`'s precompiled artifact of each component under
//! `<cache_dir>/<sha256>-<engine hash>.cwasm`, so a second load of the same
//! bytes on the same engine configuration skips compilation. Loading an
//! artifact trusts it as native code, so: the cache directory is created
//! private (0700) and not used at all when it is a link, another user owns
//! it or others can write to it; each artifact's own digest (BLAKE3, which
//! checks a megabyte-sized artifact several times faster than sha256) is
//! written beside it (`.cwasm.blake3`) when it is stored and checked against
//! the bytes read before they are deserialized; links are never followed; and an
//! artifact that is missing its digest, does not match it or fails to load
//! is recompiled and replaced, never run. Artifacts and digests are written
//! atomically (temporary file, then rename).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre};

use crate::contract::{self, ExportedContract, HOST_CONTRACT_VERSION, ManagerKind};
use crate::engine::HostInner;
use crate::sandbox::Sandbox;

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The module file could not be read.
    #[error("cannot read module {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The module's sha256 is not the pinned one.
    #[error("sha256 mismatch: expected {expected}, the module's is {actual}")]
    DigestMismatch {
        /// The pinned digest.
        expected: String,
        /// The module's digest.
        actual: String,
    },
    /// The pinned digest is not 64 hex digits.
    #[error("invalid sha256 {0:?}: expected 64 hexadecimal digits")]
    InvalidDigest(String),
    /// The bytes are not a WebAssembly component this engine can compile.
    #[error("not a valid WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component does not export a manager interface.
    #[error(
        "not a specific manager: the component exports no wasmano:sm/service-manager or wasmano:sm/function-manager interface"
    )]
    NotAManager,
    /// The component was built against a contract version this host does not run.
    #[error(
        "contract version mismatch: the module is built against wasmano:sm@{module}, this host implements wasmano:sm@{host}"
    )]
    ContractMismatch {
        /// The module's contract version.
        module: String,
        /// The host's contract version.
        host: String,
    },
    /// The component needs imports this host does not provide, or its exports
    /// do not have the contract's types.
    #[error("the module does not fit the wasmano:sm contract: {0}")]
    Incompatible(String),
    /// The component is larger than the host accepts.
    #[error("the module is {size_bytes} bytes, above this host's cap of {limit_bytes} bytes")]
    TooLarge {
        /// The module's size.
        size_bytes: usize,
        /// The cap.
        limit_bytes: usize,
    },
    /// Compiling the component took longer than the host's budget.
    #[error("compiling the module took longer than the budget of {} ms", .budget.as_millis())]
    CompileTimeout {
        /// The budget.
        budget: Duration,
    },
    /// No compilation could start within the budget: the host's
    /// compilation slots were all held, by compilations still running
    /// (those past their budget included, which cannot be interrupted).
    #[error(
        "no compilation could start within the budget of {} ms: {running} earlier compilations are still running (some may have run past their budget); try again later",
        .budget.as_millis()
    )]
    CompilerBusy {
        /// The compilations running.
        running: usize,
        /// The budget.
        budget: Duration,
    },
    /// The engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// Whether a load may use the precompiled cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheUse {
    /// Read artifacts from it and store new ones.
    ReadWrite,
    /// Read verified artifacts from it, never write to it.
    ReadOnly,
}

/// Where a loaded module's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now (and stored in the cache, if there is one).
    Compiled,
    /// Read from the precompiled cache.
    Cached,
}

/// A module ready to be invoked: verified, compiled and pre-instantiated.
#[derive(Clone)]
pub struct LoadedModule {
    kind: ManagerKind,
    contract_version: String,
    sha256: String,
    size: usize,
    origin: Origin,
    load_time: Duration,
    /// The compiled component, kept so that a module checked without the
    /// cache can be stored in it later ([`store_compiled`]).
    component: Component,
    pub(crate) pre: PreInstance,
}

/// A pre-instantiated component and where its contract's functions are.
/// An invocation instantiates it and looks up only the function it calls,
/// whose type wasmtime checks then; the generated bindings' `instantiate`
/// would look up and type-check every export on every call.
#[derive(Clone)]
pub(crate) struct PreInstance {
    pub(crate) instance_pre: InstancePre<Sandbox>,
    pub(crate) exports: Exports,
}

/// The contract's functions in a component, by kind.
#[derive(Clone)]
pub(crate) enum Exports {
    Service {
        handles: ComponentExportIndex,
        placement: ComponentExportIndex,
        configure: ComponentExportIndex,
        state: ComponentExportIndex,
        task: ComponentExportIndex,
        monitor: ComponentExportIndex,
    },
    Function {
        handles: ComponentExportIndex,
        start: ComponentExportIndex,
        stop: ComponentExportIndex,
        configure: ComponentExportIndex,
        state: ComponentExportIndex,
        scale: ComponentExportIndex,
    },
}

impl Exports {
    /// Finds the functions of `kind`'s interface at `version` in `component`.
    fn find(component: &Component, kind: ManagerKind, version: &str) -> Result<Self, LoadError> {
        let interface_name = format!("{}/{}@{version}", contract::PACKAGE, contract::interface(kind));
        let interface = component
            .get_export_index(None, &interface_name)
            .ok_or_else(|| LoadError::Incompatible(format!("no export {interface_name}")))?;
        let function = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .ok_or_else(|| LoadError::Incompatible(format!("{interface_name} does not export {name}")))
        };
        Ok(match kind {
            ManagerKind::Service => Self::Service {
                handles: function("handles")?,
                placement: function("placement")?,
                configure: function("configure")?,
                state: function("state")?,
                task: function("task")?,
                monitor: function("monitor")?,
            },
            ManagerKind::Function => Self::Function {
                handles: function("handles")?,
                start: function("start")?,
                stop: function("stop")?,
                configure: function("configure")?,
                state: function("state")?,
                scale: function("scale")?,
            },
        })
    }
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("kind", &self.kind)
            .field("contract_version", &self.contract_version)
            .field("sha256", &self.sha256)
            .field("size", &self.size)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl LoadedModule {
    /// Service or function manager.
    pub fn kind(&self) -> ManagerKind {
        self.kind
    }

    /// The contract version the module was built against.
    pub fn contract_version(&self) -> &str {
        &self.contract_version
    }

    /// The sha256 of the component's bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The component's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this load compiled the component or read the cache.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// How long compiling or reading the cache took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

/// The lowercase hex sha256 of some bytes, as modules are pinned by.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(crate) fn load(
    host: &HostInner,
    bytes: &[u8],
    expected: Option<&str>,
    cache: CacheUse,
) -> Result<LoadedModule, LoadError> {
    let limit_bytes = host.config.max_module_bytes;
    if bytes.len() > limit_bytes {
        return Err(LoadError::TooLarge {
            size_bytes: bytes.len(),
            limit_bytes,
        });
    }
    let sha256 = sha256_hex(bytes);
    if let Some(expected) = expected {
        if expected.len() != 64 || !expected.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(LoadError::InvalidDigest(expected.to_owned()));
        }
        if !expected.eq_ignore_ascii_case(&sha256) {
            return Err(LoadError::DigestMismatch {
                expected: expected.to_ascii_lowercase(),
                actual: sha256,
            });
        }
    }
    let started = Instant::now();
    let (component, origin) = compile_or_read_cache(host, bytes, &sha256, cache)?;
    let load_time = started.elapsed();

    let component_type = component.component_type();
    let names = component_type.exports(&host.engine).map(|(name, _)| name);
    let (kind, contract_version) = match contract::exported_contract(names) {
        ExportedContract::Manager { kind, version } => (kind, version),
        ExportedContract::None => return Err(LoadError::NotAManager),
    };
    if !contract::is_compatible(&contract_version) {
        return Err(LoadError::ContractMismatch {
            module: contract_version,
            host: HOST_CONTRACT_VERSION.to_string(),
        });
    }
    let instance_pre = host
        .linker
        .instantiate_pre(&component)
        .map_err(|error| LoadError::Incompatible(format!("{error:#}")))?;
    let pre = PreInstance {
        exports: Exports::find(&component, kind, &contract_version)?,
        instance_pre,
    };
    Ok(LoadedModule {
        kind,
        contract_version,
        sha256,
        size: bytes.len(),
        origin,
        load_time,
        component,
        pre,
    })
}

/// Stores a loaded module's compiled code in the host's precompiled cache,
/// unless a verified artifact is there already; a host without a cache
/// stores nothing.
pub(crate) fn store_compiled(host: &HostInner, module: &LoadedModule) -> Result<(), String> {
    let Some(cache_dir) = &host.config.cache_dir else {
        return Ok(());
    };
    ensure_private_dir(cache_dir)?;
    let artifact = artifact_path(host, cache_dir, &module.sha256);
    if matches!(read_verified_artifact(&artifact), Ok(Some(_))) {
        return Ok(());
    }
    store_artifact(&module.component, cache_dir, &artifact)
}

fn compile_or_read_cache(
    host: &HostInner,
    bytes: &[u8],
    sha256: &str,
    cache: CacheUse,
) -> Result<(Component, Origin), LoadError> {
    let Some(cache_dir) = &host.config.cache_dir else {
        return Ok((compile(host, bytes)?, Origin::Compiled));
    };
    if cache == CacheUse::ReadOnly && !cache_dir.exists() {
        return Ok((compile(host, bytes)?, Origin::Compiled));
    }
    if let Err(problem) = ensure_private_dir(cache_dir) {
        tracing::warn!("not using the module cache: {problem}");
        return Ok((compile(host, bytes)?, Origin::Compiled));
    }
    let artifact = artifact_path(host, cache_dir, sha256);
    match read_verified_artifact(&artifact) {
        Ok(Some(serialized)) => {
            // SAFETY: these bytes are exactly the ones `store_artifact` wrote
            // from a component this engine compiled: their digest matches the
            // digest written beside them, under a name that pins the source
            // digest and the engine configuration, in a directory that
            // `ensure_private_dir` just checked only this user can write to,
            // read without following links. wasmtime also checks the
            // artifact's header against this engine before using it.
            match unsafe { Component::deserialize(&host.engine, &serialized) } {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(error) => {
                    tracing::warn!(artifact = %artifact.display(), "recompiling, cached artifact unusable: {error:#}")
                }
            }
        }
        Ok(None) => {}
        Err(problem) => tracing::warn!(artifact = %artifact.display(), "recompiling: {problem}"),
    }
    let component = compile(host, bytes)?;
    if cache == CacheUse::ReadOnly {
        return Ok((component, Origin::Compiled));
    }
    if let Err(error) = store_artifact(&component, cache_dir, &artifact) {
        tracing::warn!(artifact = %artifact.display(), "cannot cache the compiled module: {error}");
    }
    Ok((component, Origin::Compiled))
}

/// Where an artifact's own digest is kept.
fn digest_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("cwasm.blake3")
}

/// An artifact's digest, as written beside it.
fn artifact_digest(serialized: &[u8]) -> String {
    blake3::hash(serialized).to_hex().to_string()
}

/// Reads a regular file without following a link at its path.
fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The artifact's bytes when it exists and matches the digest recorded
/// beside it; `Ok(None)` when there is no artifact yet.
fn read_verified_artifact(artifact: &Path) -> Result<Option<Vec<u8>>, String> {
    let serialized = match read_no_follow(artifact) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read the cached artifact: {error}")),
    };
    let recorded = read_no_follow(&digest_path(artifact))
        .map_err(|error| format!("cannot read the cached artifact's digest: {error}"))?;
    if recorded.trim_ascii() != artifact_digest(&serialized).as_bytes() {
        return Err("the cached artifact does not match its recorded digest".into());
    }
    Ok(Some(serialized))
}

/// Compiles on a thread of its own, waiting at most the host's compile
/// budget, slot included. A compilation past its budget cannot be
/// interrupted: its thread finishes in the background and its result is
/// dropped, but it keeps its slot until then, so modules that compile for
/// ever cannot pile up more than [`HostConfig::max_compilations`] threads.
///
/// [`HostConfig::max_compilations`]: crate::HostConfig::max_compilations
fn compile(host: &HostInner, bytes: &[u8]) -> Result<Component, LoadError> {
    let budget = host.config.compile_budget;
    let deadline = Instant::now() + budget;
    let slot = host
        .compile_slots
        .take_before(deadline)
        .map_err(|running| LoadError::CompilerBusy { running, budget })?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let engine = host.engine.clone();
    let bytes = bytes.to_vec();
    std::thread::Builder::new()
        .name("wasmano-compile".into())
        .spawn(move || {
            let compiled = Component::new(&engine, &bytes);
            drop(slot);
            // The receiver is gone when the budget ran out: nobody waits.
            let _ = sender.send(compiled);
        })
        .map_err(|error| LoadError::Engine(format!("cannot start a compilation thread: {error}")))?;
    match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(compiled) => compiled.map_err(|error| LoadError::NotAComponent(format!("{error:#}"))),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(LoadError::CompileTimeout { budget }),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(LoadError::Engine("the compilation thread panicked".into()))
        }
    }
}

/// The compilations a host runs at once, those past their budget included.
pub(crate) struct CompileSlots {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// One running compilation's place in [`CompileSlots`], given back when
/// dropped (when the compilation ends, whether anyone still waits for it).
struct CompileSlot(Arc<CompileSlots>);

impl CompileSlots {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        })
    }

    /// A slot, waiting until `deadline` for one to come free; else how many
    /// compilations hold them.
    fn take_before(self: &Arc<Self>, deadline: Instant) -> Result<CompileSlot, usize> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= self.max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(*running);
            }
            running = self
                .freed
                .wait_timeout(running, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *running += 1;
        Ok(CompileSlot(Arc::clone(self)))
    }
}

impl Drop for CompileSlot {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.freed.notify_one();
    }
}

/// Feeds what a `Hash` implementation writes into sha256, giving a key that
/// is stable across Rust versions (unlike `DefaultHasher`).
struct StableHasher(Sha256);

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ])
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn artifact_path(host: &HostInner, cache_dir: &Path, sha256: &str) -> PathBuf {
    let mut hasher = StableHasher(Sha256::new());
    host.engine.precompile_compatibility_hash().hash(&mut hasher);
    cache_dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
}

/// Creates the cache directory readable and writable by this user only, and
/// refuses one that others could write to: its artifacts run as native code.
fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| error.to_string())?;
    let metadata = std::fs::symlink_metadata(dir).map_err(|error| error.to_string())?;
    if !metadata.is_dir() {
        return Err(format!("{} is a link or not a directory; refusing it", dir.display()));
    }
    // /proc/self belongs to the process's effective user.
    let uid = std::fs::metadata("/proc/self")
        .map_err(|error| error.to_string())?
        .uid();
    if metadata.uid() != uid || metadata.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by others or not owned by this user; refusing it",
            dir.display()
        ));
    }
    Ok(())
}

fn store_artifact(component: &Component, cache_dir: &Path, artifact: &Path) -> Result<(), String> {
    static NEXT_TEMPORARY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serialized = component.serialize().map_err(|error| format!("{error:#}"))?;
    ensure_private_dir(cache_dir)?;
    let unique = NEXT_TEMPORARY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let write_atomically = |path: &Path, bytes: &[u8]| {
        let temporary = path.with_extension(format!("tmp{}-{unique}", std::process::id()));
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|error| error.to_string())
    };
    // The digest first: an artifact is never beside a stale digest that a
    // crash between the two writes could leave matching.
    write_atomically(&digest_path(artifact), artifact_digest(&serialized).as_bytes())?;
    write_atomically(artifact, &serialized)
}
