//! Loading a module: digest check, compile-once cache, contract check and
//! pre-instantiation.
//!
//! The cache keeps `wasmtime`'s precompiled artifact of each component under
//! `<cache_dir>/<sha256>-<engine hash>.cwasm`, so a second load of the same
//! bytes on the same engine configuration skips compilation. Artifacts are
//! written atomically (temporary file, then rename); one that fails to load
//! is recompiled and replaced. Loading an artifact trusts it as native code,
//! so the cache directory is created private (0700) and not used at all when
//! another user owns it or others can write to it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::bindings::{fsm, ssm};
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
    /// The engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
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
    pub(crate) pre: PreInstance,
}

#[derive(Clone)]
pub(crate) enum PreInstance {
    Service(ssm::ServiceManagerModulePre<Sandbox>),
    Function(fsm::FunctionManagerModulePre<Sandbox>),
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

pub(crate) fn load(host: &HostInner, bytes: &[u8], expected: Option<&str>) -> Result<LoadedModule, LoadError> {
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
    let (component, origin) = compile_or_read_cache(host, bytes, &sha256)?;
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
    let pre = match kind {
        ManagerKind::Service => ssm::ServiceManagerModulePre::new(instance_pre).map(PreInstance::Service),
        ManagerKind::Function => fsm::FunctionManagerModulePre::new(instance_pre).map(PreInstance::Function),
    }
    .map_err(|error| LoadError::Incompatible(format!("{error:#}")))?;
    Ok(LoadedModule {
        kind,
        contract_version,
        sha256,
        size: bytes.len(),
        origin,
        load_time,
        pre,
    })
}

fn compile_or_read_cache(host: &HostInner, bytes: &[u8], sha256: &str) -> Result<(Component, Origin), LoadError> {
    let Some(cache_dir) = &host.config.cache_dir else {
        return Ok((compile(host, bytes)?, Origin::Compiled));
    };
    if let Err(problem) = ensure_private_dir(cache_dir) {
        tracing::warn!("not using the module cache: {problem}");
        return Ok((compile(host, bytes)?, Origin::Compiled));
    }
    let artifact = artifact_path(host, cache_dir, sha256);
    if artifact.exists() {
        // SAFETY: the artifact was written by `store_artifact` below from a
        // component this engine compiled, under a name that pins both the
        // source digest and the engine configuration, in a directory that
        // `ensure_private_dir` just checked only this user can write to.
        match unsafe { Component::deserialize_file(&host.engine, &artifact) } {
            Ok(component) => return Ok((component, Origin::Cached)),
            Err(error) => {
                tracing::warn!(artifact = %artifact.display(), "recompiling, cached artifact unusable: {error:#}")
            }
        }
    }
    let component = compile(host, bytes)?;
    if let Err(error) = store_artifact(&component, cache_dir, &artifact) {
        tracing::warn!(artifact = %artifact.display(), "cannot cache the compiled module: {error}");
    }
    Ok((component, Origin::Compiled))
}

fn compile(host: &HostInner, bytes: &[u8]) -> Result<Component, LoadError> {
    Component::new(&host.engine, bytes).map_err(|error| LoadError::NotAComponent(format!("{error:#}")))
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
    let metadata = std::fs::metadata(dir).map_err(|error| error.to_string())?;
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
    let temporary = artifact.with_extension(format!("tmp{}-{unique}", std::process::id()));
    std::fs::write(&temporary, serialized)
        .and_then(|()| std::fs::rename(&temporary, artifact))
        .map_err(|error| error.to_string())
}
