//! Which contract versions the host accepts, and how a module's version is
//! read from its exports.
//!
//! A manager exports `wasmano:sm/service-manager@X.Y.Z` or
//! `wasmano:sm/function-manager@X.Y.Z`. The host accepts the same major
//! version with a minor version not newer than its own (for 0.x, the same
//! minor), since a newer minor may rely on additions this host lacks.

use std::fmt;

/// The contract version this host implements (the `package` line of `wit/sm.wit`).
pub const HOST_CONTRACT_VERSION: Version = Version {
    major: 2,
    minor: 0,
    patch: 0,
};

/// The WIT package every manager's exports live in.
pub(crate) const PACKAGE: &str = "wasmano:sm";

pub use tango_model::event::ManagerKind;

/// The interface a module of this kind exports.
pub(crate) fn interface(kind: ManagerKind) -> &'static str {
    match kind {
        ManagerKind::Service => "service-manager",
        ManagerKind::Function => "function-manager",
    }
}

/// A semantic version of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Incompatible changes.
    pub major: u64,
    /// Compatible additions.
    pub minor: u64,
    /// Fixes.
    pub patch: u64,
}

impl Version {
    fn parse(text: &str) -> Option<Self> {
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(str::parse::<u64>);
        let version = Self {
            major: parts.next()?.ok()?,
            minor: parts.next()?.ok()?,
            patch: parts.next()?.ok()?,
        };
        parts.next().is_none().then_some(version)
    }

    /// Whether a module built against `self` runs on a host implementing `host`.
    pub fn runs_on(self, host: Version) -> bool {
        if self.major != host.major {
            return false;
        }
        if self.major == 0 {
            return self.minor == host.minor;
        }
        self.minor <= host.minor
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What a module's exports say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportedContract {
    /// A manager of this kind, built against this version.
    Manager { kind: ManagerKind, version: String },
    /// Nothing from the `wasmano:sm` package is exported.
    None,
}

/// Finds the manager interface among a component's export names.
pub(crate) fn exported_contract<'a>(export_names: impl IntoIterator<Item = &'a str>) -> ExportedContract {
    for name in export_names {
        for kind in [ManagerKind::Service, ManagerKind::Function] {
            let prefix = format!("{PACKAGE}/{}", interface(kind));
            if let Some(rest) = name.strip_prefix(&prefix) {
                let version = rest.strip_prefix('@').unwrap_or("(unversioned)");
                return ExportedContract::Manager {
                    kind,
                    version: version.to_owned(),
                };
            }
        }
    }
    ExportedContract::None
}

/// Whether a module's version string names a version this host runs.
pub(crate) fn is_compatible(module_version: &str) -> bool {
    Version::parse(module_version).is_some_and(|version| version.runs_on(HOST_CONTRACT_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_major_and_older_or_equal_minor_is_compatible() {
        let host = Version {
            major: 1,
            minor: 2,
            patch: 0,
        };
        assert!(Version::parse("1.0.0").unwrap().runs_on(host));
        assert!(Version::parse("1.2.9").unwrap().runs_on(host));
        assert!(!Version::parse("1.3.0").unwrap().runs_on(host));
        assert!(!Version::parse("2.0.0").unwrap().runs_on(host));
    }

    #[test]
    fn zero_major_versions_must_match_minor() {
        let host = Version {
            major: 0,
            minor: 3,
            patch: 1,
        };
        assert!(Version::parse("0.3.0").unwrap().runs_on(host));
        assert!(!Version::parse("0.2.0").unwrap().runs_on(host));
    }

    #[test]
    fn reads_kind_and_version_from_export_names() {
        let names = ["wasi:cli/run@0.2.0", "wasmano:sm/function-manager@1.0.0"];
        assert_eq!(
            exported_contract(names),
            ExportedContract::Manager {
                kind: ManagerKind::Function,
                version: "1.0.0".into()
            }
        );
        assert_eq!(exported_contract(["something/else"]), ExportedContract::None);
        assert!(!is_compatible("not-a-version"));
    }

    #[test]
    fn host_version_matches_the_wit_package() {
        let wit = include_str!("../../wit/sm.wit");
        assert!(wit.contains(&format!("package wasmano:sm@{HOST_CONTRACT_VERSION};")));
    }
}
