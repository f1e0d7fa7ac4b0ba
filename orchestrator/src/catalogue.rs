//! The catalogue: what has been onboarded, stored content-addressed in the
//! data directory.
//!
//! Blobs (descriptor texts, module bytes) live under
//! `<data dir>/catalogue/blobs/<sha256>`; an index (SQLite,
//! `catalogue.sqlite`) maps each descriptor's identity (kind, vendor, name,
//! version) and each module to its blob. Storing a package writes its blobs
//! first (idempotent, atomic renames) and then all index rows in one
//! transaction, so a failed onboarding leaves no entry behind, and onboarding
//! the same package twice changes nothing. A descriptor whose identity is
//! already onboarded with other content is refused: a change needs a new
//! version, which is kept beside the old one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use wasmano_host::sha256_hex;

/// What a catalogue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A network service descriptor.
    Nsd,
    /// A VNF descriptor.
    Vnfd,
    /// A specific manager's WebAssembly module.
    Module,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Nsd => "nsd",
            Self::Vnfd => "vnfd",
            Self::Module => "module",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Nsd, Self::Vnfd, Self::Module]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

pub use crate::descriptor::Identity;

/// The catalogue identity of a module: its digest.
pub fn module_identity(sha256: &str) -> Identity {
    Identity {
        vendor: String::new(),
        name: sha256.to_owned(),
        version: String::new(),
    }
}

/// Something to store.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// What it is.
    pub kind: EntryKind,
    /// Who it is.
    pub identity: Identity,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: EntryKind,
    /// Who it is.
    pub identity: Identity,
    /// The sha256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What storing a set of entries did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreReport {
    /// Entries that were new.
    pub added: Vec<Entry>,
    /// Entries that were onboarded already, unchanged.
    pub unchanged: Vec<Entry>,
}

/// Why the catalogue could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The identity is onboarded with other content.
    #[error(
        "{kind} {identity} is already onboarded with different content (sha256 {stored}); give the new one a new version"
    )]
    Changed {
        /// What it is.
        kind: EntryKind,
        /// Who it is.
        identity: Identity,
        /// The digest stored.
        stored: String,
    },
    /// Not in the catalogue.
    #[error("no {kind} {identity} in the catalogue")]
    NotFound {
        /// What was asked for.
        kind: EntryKind,
        /// Who.
        identity: Identity,
    },
    /// The data directory or the index failed.
    #[error("catalogue at {}: {message}", path.display())]
    Storage {
        /// Where.
        path: PathBuf,
        /// What happened.
        message: String,
    },
}

/// The onboarded descriptors and modules.
pub struct Catalogue {
    blobs: PathBuf,
    index: Mutex<Connection>,
}

impl fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalogue")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

impl Catalogue {
    /// Opens (creating if needed) the catalogue in a data directory.
    pub fn open(data_dir: &Path) -> Result<Self, CatalogueError> {
        let root = data_dir.join("catalogue");
        let blobs = root.join("blobs");
        let storage = |path: &Path, message: String| CatalogueError::Storage {
            path: path.to_owned(),
            message,
        };
        std::fs::create_dir_all(&blobs).map_err(|error| storage(&blobs, error.to_string()))?;
        let index_path = root.join("catalogue.sqlite");
        let index = Connection::open(&index_path).map_err(|error| storage(&index_path, error.to_string()))?;
        index
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS entries (
                     kind TEXT NOT NULL,
                     vendor TEXT NOT NULL,
                     name TEXT NOT NULL,
                     version TEXT NOT NULL,
                     sha256 TEXT NOT NULL,
                     size BIGINT NOT NULL,
                     PRIMARY KEY (kind, vendor, name, version)
                 );",
            )
            .map_err(|error| storage(&index_path, error.to_string()))?;
        Ok(Self {
            blobs,
            index: Mutex::new(index),
        })
    }

    fn storage_error(&self, message: impl fmt::Display) -> CatalogueError {
        CatalogueError::Storage {
            path: self.blobs.clone(),
            message: message.to_string(),
        }
    }

    fn lookup(
        connection: &Connection,
        kind: EntryKind,
        identity: &Identity,
    ) -> rusqlite::Result<Option<(String, u64)>> {
        connection
            .query_row(
                "SELECT sha256, size FROM entries WHERE kind = ?1 AND vendor = ?2 AND name = ?3 AND version = ?4",
                params![kind.as_str(), identity.vendor, identity.name, identity.version],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()
            .map(|found| found.map(|(sha256, size)| (sha256, u64::try_from(size).unwrap_or(0))))
    }

    /// Checks entries against the catalogue without storing anything: which
    /// are new, which unchanged, and every identity onboarded with other
    /// content.
    pub fn check(&self, entries: &[NewEntry]) -> Result<StoreReport, Vec<CatalogueError>> {
        let index = self
            .index
            .lock()
            .map_err(|_| vec![self.storage_error("index lock poisoned")])?;
        let mut report = StoreReport::default();
        let mut problems = Vec::new();
        for entry in entries {
            let sha256 = sha256_hex(&entry.bytes);
            let stored = Entry {
                kind: entry.kind,
                identity: entry.identity.clone(),
                sha256: sha256.clone(),
                size: entry.bytes.len() as u64,
            };
            match Self::lookup(&index, entry.kind, &entry.identity) {
                Ok(None) => report.added.push(stored),
                Ok(Some((existing, _))) if existing == sha256 => report.unchanged.push(stored),
                Ok(Some((existing, _))) => problems.push(CatalogueError::Changed {
                    kind: entry.kind,
                    identity: entry.identity.clone(),
                    stored: existing,
                }),
                Err(error) => problems.push(self.storage_error(error)),
            }
        }
        if problems.is_empty() { Ok(report) } else { Err(problems) }
    }

    /// Stores entries: all or nothing, and a no-op for those already there.
    pub fn store(&self, entries: &[NewEntry]) -> Result<StoreReport, Vec<CatalogueError>> {
        let report = self.check(entries)?;
        for entry in entries {
            self.write_blob(&entry.bytes).map_err(|error| vec![error])?;
        }
        let mut index = self
            .index
            .lock()
            .map_err(|_| vec![self.storage_error("index lock poisoned")])?;
        let transaction = index.transaction().map_err(|error| vec![self.storage_error(error)])?;
        for entry in &report.added {
            transaction
                .execute(
                    "INSERT INTO entries (kind, vendor, name, version, sha256, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        entry.kind.as_str(),
                        entry.identity.vendor,
                        entry.identity.name,
                        entry.identity.version,
                        entry.sha256,
                        i64::try_from(entry.size).unwrap_or(i64::MAX)
                    ],
                )
                .map_err(|error| vec![self.storage_error(error)])?;
        }
        transaction.commit().map_err(|error| vec![self.storage_error(error)])?;
        Ok(report)
    }

    fn write_blob(&self, bytes: &[u8]) -> Result<(), CatalogueError> {
        let path = self.blob_path(&sha256_hex(bytes));
        if path.exists() {
            return Ok(());
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|error| self.storage_error(format!("{}: {error}", path.display())))
    }

    /// Where the blob with this digest is stored.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blobs.join(sha256)
    }

    /// Every entry: NSDs, VNFDs, then modules, each sorted by identity.
    pub fn list(&self) -> Result<Vec<Entry>, CatalogueError> {
        let index = self
            .index
            .lock()
            .map_err(|_| self.storage_error("index lock poisoned"))?;
        let mut statement = index
            .prepare("SELECT kind, vendor, name, version, sha256, size FROM entries")
            .map_err(|error| self.storage_error(error))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    Identity {
                        vendor: row.get(1)?,
                        name: row.get(2)?,
                        version: row.get(3)?,
                    },
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(|error| self.storage_error(error))?;
        let mut entries = rows
            .map(|row| {
                let (kind, identity, sha256, size) = row.map_err(|error| self.storage_error(error))?;
                let kind = EntryKind::parse(&kind)
                    .ok_or_else(|| self.storage_error(format!("unknown entry kind {kind:?}")))?;
                Ok(Entry {
                    kind,
                    identity,
                    sha256,
                    size: u64::try_from(size).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, CatalogueError>>()?;
        entries.sort_by(|a, b| (a.kind, &a.identity).cmp(&(b.kind, &b.identity)));
        Ok(entries)
    }

    /// The bytes of an onboarded entry.
    pub fn read(&self, kind: EntryKind, identity: &Identity) -> Result<Vec<u8>, CatalogueError> {
        let sha256 = {
            let index = self
                .index
                .lock()
                .map_err(|_| self.storage_error("index lock poisoned"))?;
            Self::lookup(&index, kind, identity).map_err(|error| self.storage_error(error))?
        };
        let (sha256, _) = sha256.ok_or_else(|| CatalogueError::NotFound {
            kind,
            identity: identity.clone(),
        })?;
        let path = self.blob_path(&sha256);
        std::fs::read(&path).map_err(|error| self.storage_error(format!("{}: {error}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nsd(version: &str, text: &str) -> NewEntry {
        NewEntry {
            kind: EntryKind::Nsd,
            identity: Identity {
                vendor: "eu.wasmano".into(),
                name: "svc".into(),
                version: version.into(),
            },
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn storing_twice_is_a_no_op_and_new_versions_sit_beside_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = Catalogue::open(dir.path()).unwrap();
        assert_eq!(catalogue.store(&[nsd("1.0", "a")]).unwrap().added.len(), 1);
        let again = catalogue.store(&[nsd("1.0", "a")]).unwrap();
        assert!(again.added.is_empty() && again.unchanged.len() == 1);
        catalogue.store(&[nsd("1.1", "b")]).unwrap();
        let versions: Vec<String> = catalogue
            .list()
            .unwrap()
            .into_iter()
            .map(|entry| entry.identity.version)
            .collect();
        assert_eq!(versions, ["1.0", "1.1"]);
        let identity = Identity {
            vendor: "eu.wasmano".into(),
            name: "svc".into(),
            version: "1.1".into(),
        };
        assert_eq!(catalogue.read(EntryKind::Nsd, &identity).unwrap(), b"b");
    }

    #[test]
    fn changed_content_under_the_same_version_is_refused_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = Catalogue::open(dir.path()).unwrap();
        catalogue.store(&[nsd("1.0", "a")]).unwrap();
        let problems = catalogue
            .store(&[nsd("2.0", "new"), nsd("1.0", "changed")])
            .unwrap_err();
        assert!(matches!(problems.as_slice(), [CatalogueError::Changed { .. }]));
        assert_eq!(
            catalogue.list().unwrap().len(),
            1,
            "the valid 2.0 entry of the refused set is not stored"
        );
    }
}
