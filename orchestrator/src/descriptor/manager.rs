//! Specific managers as descriptors declare them: the 5GTANGO entry
//! (`id`, `description`, `options`) with either a container image (the
//! legacy form) or a WebAssembly module (wasmano's form). The YAML of both
//! is on [`ManagerSource`].

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

/// The most memory a WebAssembly manager may ask for, in MiB.
pub const MAX_WASM_MEMORY_MB: u32 = 256;

/// The longest deadline a WebAssembly manager may ask for, in milliseconds
/// (the host's default maximum).
pub const MAX_WASM_DEADLINE_MS: u64 = 10_000;

/// A specific manager declared in a descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    /// The manager's id, unique within its descriptor.
    pub id: String,
    /// What it is for.
    pub description: Option<String>,
    /// `key: value` options, in declaration order; `key: type` entries list
    /// the events it handles.
    pub options: Vec<ManagerOption>,
    /// What runs: a WebAssembly module or a container image.
    pub source: ManagerSource,
    /// The entry's other fields, kept as written.
    pub other: Map<String, Value>,
}

impl Manager {
    /// The events the manager declares (`options` with `key: type`), in order.
    pub fn declared_events(&self) -> impl Iterator<Item = &str> {
        self.options
            .iter()
            .filter(|option| option.key == EVENT_OPTION_KEY)
            .map(|option| option.value.as_str())
    }

    /// Whether the manager declares this event.
    pub fn declares(&self, event: &str) -> bool {
        self.declared_events().any(|declared| declared == event)
    }
}

/// The `options` key whose values name the events a manager handles.
pub const EVENT_OPTION_KEY: &str = "type";

/// The `options` key by which an entry declares itself an update of the
/// manager it names (5GTANGO's update directive, see [`ManagerUpdate`]).
pub const CURRENT_ID_OPTION_KEY: &str = "currentId";

/// The `options` key naming the image the updated manager runs now.
pub const CURRENT_IMAGE_OPTION_KEY: &str = "currentImage";

/// 5GTANGO's manager update directive: an entry of a descriptor's manager
/// list whose options name an earlier entry's manager by `currentId` (and
/// its running image by `currentImage`) declares a new version of that
/// manager, as son-mano-framework's specific manager registry read it:
///
/// ```yaml
/// service_specific_managers:
///   - id: "dumb"
///     image: "hadik3r/sonssmservice1dumb1"
///   - id: "dumb"                           # the same id: an update of it
///     image: "hadik3r/sonssmservice1updateddumb1"
///     options:
///       - {key: "currentId", value: "dumb"}
///       - {key: "currentImage", value: "hadik3r/sonssmservice1dumb1"}
/// ```
///
/// Updates are kept apart from the managers the descriptor runs (ids stay
/// unique there): this is what an in-place manager update applies. A
/// repeated id without `currentId` is still a duplicate; a `currentId`
/// naming no earlier entry, or a `currentImage` that is not that entry's
/// image, is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerUpdate {
    /// The id of the manager replaced (`currentId`).
    pub current_id: String,
    /// The image it runs now, as the descriptor says (`currentImage`).
    pub current_image: Option<String>,
    /// The new manager: its id, source and remaining options (without
    /// `currentId` and `currentImage`).
    pub manager: Manager,
    /// The entry's position in the descriptor's manager list, as written.
    pub entry: usize,
}

/// One `options` entry of a manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOption {
    /// Key.
    pub key: String,
    /// Value (numbers and booleans spelled as text).
    pub value: String,
}

/// What runs a manager.
///
/// An SSM (in an NSD's `service_specific_managers`) or FSM (in a VNFD's
/// `function_specific_managers`) in either form:
///
/// ```yaml
/// service_specific_managers:
///   # WebAssembly: a component run in wasmano's sandbox.
///   - id: "placement"
///     description: "Puts every VNF on the VIM with the most free cores."
///     wasm:
///       module: "sm/placement.wasm"         # inside the package, or an https:// URL
///       sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
///       limits:                             # optional
///         deadline_ms: 200                  # per invocation; positive
///         memory_mb: 64                     # positive, at most 256
///     options:
///       - {key: "type", value: "placement"}
///       - {key: "type", value: "state"}
///   # Container: the legacy 5GTANGO form, run over the message bus.
///   - id: "config"
///     description: "SSM to do some dummy config"
///     image: "tsoenen/config-ssm"
///     options:
///       - {key: "type", value: "task"}
///       - {key: "type", value: "configure"}
/// ```
///
/// An entry has exactly one of `image` and `wasm`. `options` entries with
/// `key: type` list the events the manager handles: for an SSM `task`,
/// `placement`, `configure`, `state`, `monitor`; for an FSM `start`, `stop`,
/// `configure`, `state`, `scale`. A WebAssembly manager may only declare the
/// events of the wasmano contract: SSM `placement`, `configure`, `state`;
/// FSM `start`, `stop`, `configure`, `state`.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerSource {
    /// A WebAssembly component run in wasmano's sandbox.
    Wasm {
        /// Where the module is.
        module: ModuleRef,
        /// The module's pinned digest; a module with another digest is refused.
        sha256: Sha256Digest,
        /// Limits the descriptor asks for; the host's defaults otherwise.
        limits: WasmLimits,
    },
    /// A container image: the legacy 5GTANGO manager, reached over the bus.
    Container {
        /// The image reference.
        image: String,
    },
}

/// Where a WebAssembly manager's module is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRef {
    /// A path relative to the package root, without `..`.
    Package(PathBuf),
    /// An `https://` URL.
    Url(String),
}

impl ModuleRef {
    /// Reads a `module:` value: an `https://` URL, or a relative path that
    /// stays inside the package. Anything else (absolute paths, `..`, other
    /// schemes) is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(rest) = text.strip_prefix("https://") {
            return (!rest.is_empty() && !rest.starts_with('/')).then(|| Self::Url(text.to_owned()));
        }
        let path = Path::new(text);
        let inside_package = !text.is_empty()
            && !text.contains("://")
            && path
                .components()
                .all(|component| matches!(component, Component::Normal(_) | Component::CurDir))
            && path
                .components()
                .any(|component| matches!(component, Component::Normal(_)));
        inside_package.then(|| Self::Package(path.to_owned()))
    }
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Package(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

/// A sha256 digest: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sha256Digest(String);

impl Sha256Digest {
    /// Reads 64 hex digits (either case); `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())).then(|| Self(text.to_ascii_lowercase()))
    }

    /// The digest as 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Limits a descriptor asks for a WebAssembly manager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WasmLimits {
    /// Deadline of one invocation, in milliseconds.
    pub deadline_ms: Option<NonZeroU64>,
    /// Memory cap in MiB, at most [`MAX_WASM_MEMORY_MB`].
    pub memory_mb: Option<NonZeroU32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_references_stay_inside_the_package_or_use_https() {
        assert_eq!(
            ModuleRef::parse("sm/placement.wasm"),
            Some(ModuleRef::Package("sm/placement.wasm".into()))
        );
        assert_eq!(
            ModuleRef::parse("./a.wasm"),
            Some(ModuleRef::Package("./a.wasm".into()))
        );
        assert_eq!(
            ModuleRef::parse("https://example.org/a.wasm"),
            Some(ModuleRef::Url("https://example.org/a.wasm".into()))
        );
        for refused in [
            "",
            ".",
            "/etc/a.wasm",
            "../a.wasm",
            "sm/../../a.wasm",
            "http://example.org/a.wasm",
            "https://",
        ] {
            assert_eq!(ModuleRef::parse(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn digests_are_64_hex_digits_kept_in_lower_case() {
        let digest = Sha256Digest::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(digest.as_str(), "ab".repeat(32));
        assert_eq!(Sha256Digest::parse(&"a".repeat(63)), None);
        assert_eq!(Sha256Digest::parse(&"g".repeat(64)), None);
    }
}
