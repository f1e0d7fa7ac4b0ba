//! The catalogue: what has been onboarded, stored content-addressed in the
//! data directory.
//!
//! Blobs (descriptor texts, module bytes) live under
//! `<data dir>/catalogue/blobs/<sha256>`; an index (SQLite,
//! `catalogue.sqlite`) maps each descriptor's identity (kind, vendor, name,
//! version) and each module to its blob. Storing a package takes the index's
//! write lock, writes its blobs (idempotent, atomic renames) and then all
//! index rows in one transaction; a store that fails removes the blobs it
//! wrote, so a failed onboarding leaves the data directory as it was, and
//! onboarding the same package twice changes nothing. A descriptor whose identity is
//! already onboarded with other content is refused: a change needs a new
//! version, which is kept beside the old one.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
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
    /// The identity was onboarded with other content (versions never
    /// change, even once their package is deleted).
    #[error(
        "{kind} {identity} was onboarded before with different content (sha256 {stored}); a version keeps its content for good, even once its package is deleted: give the new one a new version"
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
        self.check_in(&index, entries)
    }

    fn check_in(&self, index: &Connection, entries: &[NewEntry]) -> Result<StoreReport, Vec<CatalogueError>> {
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
            match Self::lookup(index, entry.kind, &entry.identity) {
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
    ///
    /// The index's write lock is taken first, so that no other writer (in
    /// this process or another) checks, writes or removes blobs meanwhile.
    /// A store that fails removes the blobs it wrote before it lets the lock
    /// go, leaving the data directory as it found it.
    pub fn store(&self, entries: &[NewEntry]) -> Result<StoreReport, Vec<CatalogueError>> {
        let mut index = self
            .index
            .lock()
            .map_err(|_| vec![self.storage_error("index lock poisoned")])?;
        let transaction = index
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| vec![self.storage_error(error)])?;
        let report = self.check_in(&transaction, entries)?;
        let mut written = Vec::new();
        let stored = self
            .write_blobs(entries, &mut written)
            .and_then(|()| self.insert(&transaction, &report.added));
        if let Err(error) = stored {
            // Removed while the write lock is held: no other writer can have
            // found them and relied on them. Dropping the transaction then
            // rolls back the rows.
            return Err(self.remove_blobs(error, &written));
        }
        if let Err(error) = transaction.commit() {
            return Err(self.remove_blobs(self.storage_error(error), &written));
        }
        Ok(report)
    }

    /// Writes the blobs not stored yet, recording each one written.
    fn write_blobs(&self, entries: &[NewEntry], written: &mut Vec<PathBuf>) -> Result<(), CatalogueError> {
        for entry in entries {
            if let Some(path) = self.write_blob(&entry.bytes)? {
                written.push(path);
            }
        }
        Ok(())
    }

    fn insert(&self, transaction: &Transaction<'_>, added: &[Entry]) -> Result<(), CatalogueError> {
        for entry in added {
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
                .map_err(|error| self.storage_error(error))?;
        }
        Ok(())
    }

    /// Removes the blobs a failed store wrote: the error that failed it,
    /// then any blob that could not be removed.
    fn remove_blobs(&self, failure: CatalogueError, written: &[PathBuf]) -> Vec<CatalogueError> {
        let mut errors = vec![failure];
        for blob in written {
            if let Err(error) = std::fs::remove_file(blob) {
                errors.push(self.storage_error(format!(
                    "{}: cannot remove this blob of the failed store: {error}",
                    blob.display()
                )));
            }
        }
        errors
    }

    /// Writes a blob unless it is stored already; returns its path when this
    /// call wrote it. The bytes go to a temporary file renamed into place,
    /// removed again when writing or renaming fails.
    fn write_blob(&self, bytes: &[u8]) -> Result<Option<PathBuf>, CatalogueError> {
        let path = self.blob_path(&sha256_hex(bytes));
        if path.exists() {
            return Ok(None);
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = File::create(&temporary)
            .map_err(|error| self.storage_error(format!("{}: {error}", temporary.display())))?;
        let stored = file.write_all(bytes).and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(error) = stored {
            let cleanup = match std::fs::remove_file(&temporary) {
                Ok(()) => String::new(),
                Err(cleanup) => format!("; and {}: {cleanup}", temporary.display()),
            };
            return Err(self.storage_error(format!("{}: {error}{cleanup}", path.display())));
        }
        Ok(Some(path))
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

    /// Every file and directory in the blob store, with the files' bytes.
    fn blob_store(catalogue: &Catalogue) -> Vec<(std::ffi::OsString, Option<Vec<u8>>)> {
        let mut found: Vec<_> = std::fs::read_dir(&catalogue.blobs)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let bytes = path.is_file().then(|| std::fs::read(&path).unwrap());
                (path.file_name().unwrap().to_owned(), bytes)
            })
            .collect();
        found.sort();
        found
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

    #[test]
    fn a_store_refused_by_the_index_removes_the_blobs_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = Catalogue::open(dir.path()).unwrap();
        catalogue.store(&[nsd("1.0", "a")]).unwrap();
        // Every later row is refused, after the store has written its blobs.
        Connection::open(dir.path().join("catalogue/catalogue.sqlite"))
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            )
            .unwrap();
        let before = blob_store(&catalogue);
        let errors = catalogue
            .store(&[nsd("1.0", "a"), nsd("2.0", "b"), nsd("3.0", "c")])
            .unwrap_err();
        assert!(
            matches!(errors.as_slice(), [error] if error.to_string().contains("refused by the test")),
            "{errors:?}"
        );
        assert_eq!(
            blob_store(&catalogue),
            before,
            "the blobs of b and c are removed, a's kept"
        );
        assert_eq!(catalogue.list().unwrap().len(), 1);
    }

    #[test]
    fn a_store_that_cannot_write_a_blob_removes_the_blobs_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = Catalogue::open(dir.path()).unwrap();
        let (first, second) = (nsd("1.0", "a"), nsd("2.0", "b"));
        // A directory where the second blob's temporary file goes.
        let blocked = catalogue
            .blob_path(&sha256_hex(&second.bytes))
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::create_dir(&blocked).unwrap();
        let before = blob_store(&catalogue);
        let errors = catalogue.store(&[first, second]).unwrap_err();
        assert!(
            matches!(errors.as_slice(), [error] if error.to_string().contains(&blocked.display().to_string())),
            "{errors:?}"
        );
        assert_eq!(blob_store(&catalogue), before, "the first blob is removed again");
        assert!(catalogue.list().unwrap().is_empty());
    }
}
