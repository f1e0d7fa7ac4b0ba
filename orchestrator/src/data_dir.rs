//! The data directory a server owns, one server at a time.
//!
//! A server's stores assume they are their files' only writers (the
//! record store numbers journal entries from memory, the orchestrator
//! reconciles the infrastructure against its own records), so a second
//! server on the same directory is refused while the first holds the
//! directory's lock file (`wasmano.lock`, an advisory lock the system
//! releases when its holder exits, however it exits).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "wasmano.lock";

/// A data directory this process holds; released when dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

/// Why a data directory could not be held.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds it.
    #[error("data directory {} is in use by another wasmano server (it holds {})", path.display(), path.join(LOCK_FILE).display())]
    InUse {
        /// The directory.
        path: PathBuf,
    },
    /// It or its lock file could not be created or locked.
    #[error("data directory {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl DataDir {
    /// Creates the directory if needed and holds it, or says who does.
    pub fn hold(path: &Path) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => Ok(Self {
                path: path.to_owned(),
                _lock: lock,
            }),
            Err(TryLockError::WouldBlock) => Err(DataDirError::InUse { path: path.to_owned() }),
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_to_others_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let held = DataDir::hold(&path).unwrap();
        assert_eq!(held.path(), path);
        let refused = DataDir::hold(&path).unwrap_err();
        assert!(matches!(refused, DataDirError::InUse { .. }), "{refused}");
        assert!(
            refused.to_string().contains("in use by another wasmano server"),
            "{refused}"
        );
        drop(held);
        DataDir::hold(&path).unwrap();
    }
}
