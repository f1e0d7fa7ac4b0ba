//! What can be wrong with a descriptor, and where: every check reports a
//! [`Problem`] (field path, line, [`Issue`]) instead of stopping, so that one
//! run shows everything to fix. An issue is an error (the descriptor cannot
//! run) or a warning (inconsistent, but 5GTANGO's platform ran it): see
//! [`Issue::severity`].

use std::fmt;

/// One problem found in a descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The field, e.g. `virtual_links[2].connection_points_reference[1]`;
    /// empty when the problem is with the document as a whole.
    pub path: String,
    /// 1-based line of the offending node, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub issue: Issue,
}

impl fmt::Display for Problem {
    /// `path: message`, or just the message for the whole document.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.issue)
        } else {
            write!(f, "{}: {}", self.path, self.issue)
        }
    }
}

impl Problem {
    /// Whether the problem stops the descriptor from loading.
    pub fn severity(&self) -> Severity {
        self.issue.severity()
    }
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Inconsistent, but 5GTANGO ran such descriptors: the descriptor loads
    /// and the inconsistent part is left out of the model.
    Warning,
    /// The descriptor cannot run: it does not load.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// What is wrong with a field (or the document).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Issue {
    /// Not YAML, or YAML the parsing budgets refuse.
    #[error("{0}")]
    Unreadable(String),
    /// The file is larger than any descriptor may be.
    #[error("refused: the file is larger than {limit} bytes, the most a descriptor may have")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A mapping that is neither an NSD nor a VNFD.
    #[error(
        "neither an NSD nor a VNFD: expected network_functions, virtual_deployment_units or \
         cloudnative_deployment_units, or a descriptor_schema naming one"
    )]
    NotADescriptor,
    /// A required field is absent or null.
    #[error("is required")]
    Missing,
    /// A field holds the wrong kind of value.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the field must hold.
        expected: &'static str,
        /// What it holds.
        found: &'static str,
    },
    /// A field tng-schema types holds a value of another shape.
    #[error("does not have its tng-schema shape: {message}")]
    NotTngShape {
        /// What the model could not read.
        message: String,
    },
    /// A required string is empty.
    #[error("must not be empty")]
    Empty,
    /// An id used twice in the same list.
    #[error("duplicate id {id:?}, already declared at {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The path of its first declaration.
        first: String,
    },
    /// An NSD link names a `vnf_id` the NSD does not declare (a warning).
    #[error("{vnf_id:?} is not a declared network function (network_functions[].vnf_id); the link is left out")]
    UnknownNetworkFunction {
        /// The `vnf_id` part of the reference.
        vnf_id: String,
    },
    /// An NSD link reference that is neither a service cp nor `vnf_id:cp`
    /// (a warning).
    #[error("{reference:?} is neither a service connection point nor vnf_id:cp; the link is left out")]
    UnknownServicePoint {
        /// The reference.
        reference: String,
    },
    /// A VNFD link names a unit the VNFD does not declare (a warning).
    #[error(
        "{unit:?} is not a declared deployment unit (virtual_ or cloudnative_deployment_units[].id); the link is left out"
    )]
    UnknownUnit {
        /// The unit part of the reference.
        unit: String,
    },
    /// A VNFD link names a connection point its unit does not have (a
    /// warning).
    #[error("deployment unit {unit:?} has no connection point {cp:?}; the link is left out")]
    UnknownUnitPoint {
        /// The unit.
        unit: String,
        /// The connection point.
        cp: String,
    },
    /// A VNFD link reference that is neither a VNF cp nor `unit:cp` (a
    /// warning).
    #[error("{reference:?} is neither a VNF connection point nor unit:cp; the link is left out")]
    UnknownFunctionPoint {
        /// The reference.
        reference: String,
    },
    /// A resource amount or limit that is zero or negative.
    #[error("must be positive, found {value}")]
    NotPositive {
        /// The value found.
        value: f64,
    },
    /// A memory unit tng-schema does not define.
    #[error("unknown memory unit {unit:?} (expected B, kB, KB, KiB, MB, MiB, GB, GiB, TB or TiB)")]
    UnknownMemoryUnit {
        /// The unit found.
        unit: String,
    },
    /// An `options` entry `key: type` naming no 5GTANGO event of this manager kind.
    #[error("{event:?} is not a 5GTANGO {kind} event (known: {known})")]
    UnknownEvent {
        /// `SSM` or `FSM`.
        kind: &'static str,
        /// The value found.
        event: String,
        /// The events of that kind.
        known: String,
    },
    /// A WebAssembly manager declaring an event the wasmano contract lacks.
    #[error("a WebAssembly {kind} cannot handle {event:?}: the wasmano contract offers {offered}")]
    UnsupportedWasmEvent {
        /// `SSM` or `FSM`.
        kind: &'static str,
        /// The event.
        event: String,
        /// The events the contract has for that kind.
        offered: String,
    },
    /// A manager with both `image` and `wasm`.
    #[error("declares both image (a container) and wasm (a WebAssembly module); keep one")]
    BothImageAndWasm,
    /// A manager with neither `image` nor `wasm`.
    #[error("declares neither image (a container) nor wasm (a WebAssembly module)")]
    NoManagerSource,
    /// A WebAssembly manager without `sha256`.
    #[error("is required: it pins the module (`wasmano sm pin` writes it)")]
    Unpinned,
    /// A `sha256` that is not 64 hex digits.
    #[error("must be 64 hexadecimal digits")]
    BadSha256,
    /// A `module` that is neither a relative path inside the package nor an https URL.
    #[error("must be a relative path inside the package (no `..`) or an https:// URL")]
    BadModuleReference,
    /// A wasm memory limit above what wasmano grants.
    #[error("must be at most {max} (MiB)")]
    MemoryLimitTooLarge {
        /// The most a manager may have, in MiB.
        max: u32,
    },
    /// A VNFD with both VM and container units: a VNF runs on one VIM, of one kind.
    #[error(
        "a VNF runs on one VIM of one kind: it cannot have both virtual_deployment_units and cloudnative_deployment_units"
    )]
    MixedUnits,
    /// A wasm deadline above what wasmano grants.
    #[error("must be at most {max} (ms)")]
    DeadlineTooLong {
        /// The longest deadline a manager may have, in milliseconds.
        max: u64,
    },
    /// A key wasmano does not know in a block wasmano owns (`wasm`,
    /// `wasm.limits`): a typo there would silently change what runs.
    #[error("unknown key {key:?} in the {block} block (known: {known})")]
    UnknownKey {
        /// The key found.
        key: String,
        /// The block, e.g. `wasm.limits`.
        block: &'static str,
        /// The keys the block accepts.
        known: String,
    },
    /// An update directive (`currentId`) naming no manager declared before it.
    #[error("currentId {current_id:?} names no manager declared before this entry")]
    UpdateOfUndeclaredManager {
        /// The `currentId` value.
        current_id: String,
    },
    /// An update directive whose `currentImage` is not the image of the
    /// manager it updates.
    #[error("currentImage {current_image:?} is not the image manager {current_id:?} is declared with")]
    UpdateOfAnotherImage {
        /// The manager updated.
        current_id: String,
        /// The `currentImage` value.
        current_image: String,
    },
    /// `currentImage` without `currentId`.
    #[error("currentImage without currentId: an update names the manager it replaces with currentId")]
    UpdateWithoutCurrentId,
    /// A network function whose VNFD is not among those given.
    #[error("no VNFD {vnfd} among the function descriptors given")]
    MissingVnfd {
        /// `vendor/name/version` of the VNFD looked for.
        vnfd: String,
    },
    /// An NSD link naming a connection point the VNF's VNFD does not have.
    #[error("VNFD {vnfd} has no connection point {cp:?}")]
    NoSuchVnfPoint {
        /// `vendor/name/version` of the VNFD.
        vnfd: String,
        /// The connection point.
        cp: String,
    },
}

impl Issue {
    /// How bad the issue is. A virtual link naming an endpoint its
    /// descriptor does not declare is a warning: 5GTANGO's platform accepted
    /// and ran such descriptors (three in the corpus), and the link is left
    /// out of the model so that no workflow sees it. Everything else is an
    /// error.
    pub fn severity(&self) -> Severity {
        match self {
            Self::UnknownNetworkFunction { .. }
            | Self::UnknownServicePoint { .. }
            | Self::UnknownUnit { .. }
            | Self::UnknownUnitPoint { .. }
            | Self::UnknownFunctionPoint { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}
