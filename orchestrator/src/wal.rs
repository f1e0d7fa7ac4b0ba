//! How the orchestrator's busiest SQLite stores (records, lifecycle) keep
//! their write-ahead log: WAL mode with `synchronous = NORMAL` (a commit
//! survives a process crash; only the last commits may be lost on power
//! loss), checkpointed every [`CHECKPOINT_EVERY`] from a thread and a
//! connection of its own ([`checkpoint_beside`]), so that no commit waits
//! for a checkpoint's writes and fsync. A commit checkpoints by itself only
//! if those fall far behind ([`PRAGMAS`]' `wal_autocheckpoint`). Their
//! connections cache every fixed statement they run ([`set_up`]).

use std::path::Path;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use rusqlite::Connection;

/// How often the write-ahead log is checkpointed beside the commits.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// The pragmas of a store whose log is checkpointed beside its commits: a
/// commit checkpoints by itself only past 10,000 pages of log.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                           PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 10000;";

/// How many prepared statements a store's connection keeps: more than
/// the fixed statements any store runs (the record store has about 20).
pub const STATEMENT_CACHE: usize = 64;

/// Sets a store's connection up: [`PRAGMAS`], and a statement cache that
/// holds every fixed statement the store runs, so none is parsed again.
/// (rusqlite's default cache of 16 was smaller than the record store's
/// set: statements it evicted were parsed again at every lifecycle, about
/// 5 % of the server's time under load.)
pub fn set_up(connection: &Connection) -> rusqlite::Result<()> {
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.execute_batch(PRAGMAS)
}

/// How many times SQLite prepared `select` again while the store's
/// statement cache ran it once for each of `keys` (each a value for `?1`).
#[cfg(test)]
pub fn times_prepared_again(connection: &Connection, select: &str, keys: &[&str]) -> i32 {
    for key in keys {
        let mut statement = connection.prepare_cached(select).expect("prepare");
        statement.query([key]).expect("query").next().expect("step");
    }
    let statement = connection.prepare_cached(select).expect("prepare");
    statement.get_status(rusqlite::StatementStatus::RePrepare)
}

/// Why the checkpoints beside the commits could not start.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointerError {
    /// The checkpointer's connection could not be opened.
    #[error("cannot open the checkpointer's connection: {0}")]
    Open(#[from] rusqlite::Error),
    /// Its thread could not be started.
    #[error("cannot start the checkpointer's thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Checkpoints the write-ahead log of the database at `path` every
/// [`CHECKPOINT_EVERY`], passively (never waiting for a writer or a
/// reader), until `store`, the store's connection, is dropped.
pub fn checkpoint_beside(path: &Path, store: Weak<Mutex<Connection>>) -> Result<(), CheckpointerError> {
    let connection = Connection::open(path)?;
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    std::thread::Builder::new()
        .name(format!("checkpoint {name}"))
        .spawn(move || {
            while store.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!("checkpointing the write-ahead log of {name}: {error}");
                }
            }
        })
        .map(drop)
        .map_err(CheckpointerError::Thread)
}
