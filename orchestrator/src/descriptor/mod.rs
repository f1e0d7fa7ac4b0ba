//! Descriptors as wasmano onboards them: 5GTANGO network service (NSD) and
//! function (VNFD) descriptors in tng-schema's format, read from YAML that
//! may be hostile, checked, and typed.
//!
//! Reading a file ([`load_file`], [`parse`]) yields a [`Descriptor`] (with
//! its warnings: [`load_file_checked`], [`parse_checked`]) or every
//! [`Problem`] in it at once, each with its [`Severity`], field path and,
//! when known, its line. Checks that need several files (an NSD against its VNFDs) are in
//! [`check_service`]. Specific managers may be WebAssembly modules or legacy
//! containers; [`ManagerSource`] shows the YAML of both.
//! [`pin_module_digests`] writes each WebAssembly manager's digest into a
//! descriptor's text, editing nothing else.

mod manager;
mod model;
mod pin;
mod problem;
mod validate;
mod yaml;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use manager::{
    CURRENT_ID_OPTION_KEY, CURRENT_IMAGE_OPTION_KEY, EVENT_OPTION_KEY, MAX_WASM_DEADLINE_MS, MAX_WASM_MEMORY_MB,
    Manager, ManagerOption, ManagerSource, ManagerUpdate, ModuleRef, Sha256Digest, WasmLimits,
};
pub use model::{Identity, NetworkFunction, Nsd, Vnfd};
pub use pin::{PinError, Pinned, PinnedModule, pin_digests, pin_module_digests};
pub use problem::{Issue, Problem, Severity};
pub use validate::check_service;
pub use yaml::MAX_DESCRIPTOR_BYTES;

/// A checked descriptor.
#[derive(Debug, Clone)]
pub enum Descriptor {
    /// A network service descriptor.
    Service(Nsd),
    /// A virtual network function descriptor.
    Function(Vnfd),
}

impl Descriptor {
    /// The descriptor's `vendor/name/version`.
    pub fn identity(&self) -> &Identity {
        match self {
            Self::Service(nsd) => &nsd.identity,
            Self::Function(vnfd) => &vnfd.identity,
        }
    }

    /// `NSD` or `VNFD`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Service(_) => "NSD",
            Self::Function(_) => "VNFD",
        }
    }
}

/// A descriptor that loaded, and what is inconsistent in it although
/// 5GTANGO ran such descriptors (left out of the model).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The descriptor.
    pub descriptor: Descriptor,
    /// Its warnings, in line order.
    pub warnings: Vec<Problem>,
}

/// Why a descriptor file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file was read but is not a valid descriptor.
    #[error("{}: not a valid descriptor ({} problems)", path.display(), problems.len())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Everything wrong with it, errors and warnings, in line order.
        problems: Vec<Problem>,
    },
}

/// Reads and checks a descriptor file, reading no more than
/// [`MAX_DESCRIPTOR_BYTES`] of it; its warnings are not kept (see
/// [`load_file_checked`]).
pub fn load_file(path: &Path) -> Result<Descriptor, LoadError> {
    load_file_checked(path).map(|checked| checked.descriptor)
}

/// Reads and checks a descriptor file, as [`load_file`], with its warnings.
pub fn load_file_checked(path: &Path) -> Result<Checked, LoadError> {
    let bytes = read_file(path)?;
    parse_checked(&bytes).map_err(|problems| LoadError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// Reads a descriptor file's bytes, no more than one byte past
/// [`MAX_DESCRIPTOR_BYTES`] (enough for parsing to refuse it as too large).
pub fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    let one_byte_too_many = MAX_DESCRIPTOR_BYTES as u64 + 1;
    file.take(one_byte_too_many)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(bytes)
}

/// A descriptor as a JSON document (as managers receive it), parsed with the
/// same budgets as [`parse`].
pub fn document(bytes: &[u8]) -> Result<serde_json::Value, Problem> {
    yaml::parse(bytes).map(|root| root.to_json())
}

/// Reads and checks a descriptor held in memory; its warnings are not kept
/// (see [`parse_checked`]).
pub fn parse(bytes: &[u8]) -> Result<Descriptor, Vec<Problem>> {
    parse_checked(bytes).map(|checked| checked.descriptor)
}

/// Reads and checks a descriptor held in memory, with its warnings. Fails
/// when any problem is an error, returning every problem, warnings too.
pub fn parse_checked(bytes: &[u8]) -> Result<Checked, Vec<Problem>> {
    let root = yaml::parse(bytes).map_err(|problem| vec![problem])?;
    validate::read_descriptor(&root)
}
