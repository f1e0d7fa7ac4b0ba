//! The embedded record store: one SQLite file in the data directory, WAL
//! mode, durable across restarts.
//!
//! Records are stored as JSON bodies beside the columns queries filter on;
//! updates are compare-and-set on `version` (`UPDATE ... WHERE version = ?`),
//! so concurrent writers cannot lose each other's changes. The SQL is plain
//! enough for PostgreSQL (`TEXT`, `BIGINT`, standard `INSERT`/`UPDATE`,
//! `ON CONFLICT ... DO UPDATE`); only the placeholder syntax would differ.
//!
//! Commits are grouped: a commit queues itself and waits for its answer
//! without holding a thread; the first to find no writer at work becomes
//! the writer and writes what is queued as one group, in one SQLite
//! transaction, each commit of the group inside its own savepoint (a commit
//! that fails, a stale version for instance, is rolled back alone). If more
//! commits queued meanwhile, a thread of the blocking pool takes the
//! writer's role for the next group and the committer returns: none writes
//! more than one group, so under a steady stream of commits none waits for
//! others' groups once its own is durable. Each commit is answered only once
//! its transaction is durable, so a commit's record write and journal
//! entries still become durable together or not at all; concurrent
//! workflows share the cost of a transaction instead of queueing for one
//! each.
//!
//! The store is its file's only writer (a server holds its data directory:
//! `crate::data_dir`), so it keeps the last journal number of services it
//! wrote lately instead of reading it for every commit, and checkpoints the
//! write-ahead log from a thread of its own, so that no commit waits for a
//! checkpoint's fsync.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    FIRST_VERSION, JournalEntry, NsRecord, RecordStore, RecordWrite, StepOutcome, StoreError, StoreFuture, VnfRecord,
    Written,
};
use crate::clock::micros_since_epoch;
use crate::infrastructure::DeployedUnit;
use crate::wal;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ns_records (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vnf_records (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vnf_records_by_service ON vnf_records (service_id);
CREATE TABLE IF NOT EXISTS held_removals (
    instance_ref TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    service_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    workflow TEXT NOT NULL,
    step TEXT NOT NULL,
    manager TEXT,
    event TEXT,
    seed BIGINT,
    started_at_us BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (service_id, seq)
);
";

/// Adds the journal's columns (`seed`, `operation_id` and its index) to a
/// store created before they existed.
fn add_journal_columns(connection: &Connection) -> rusqlite::Result<()> {
    for (column, kind) in [("seed", "BIGINT"), ("operation_id", "TEXT")] {
        let present: bool = connection.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('journal') WHERE name = ?1",
            [column],
            |row| row.get(0),
        )?;
        if !present {
            connection.execute_batch(&format!("ALTER TABLE journal ADD COLUMN {column} {kind}"))?;
        }
    }
    connection.execute_batch("CREATE INDEX IF NOT EXISTS journal_by_operation ON journal (operation_id)")
}

/// The SQLite record store. Cheap to clone; clones share the connection
/// and the queue of commits waiting for it.
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    queued: Arc<Mutex<CommitQueue>>,
    /// The last journal number stored for services written lately, so that
    /// a commit need not read it; only changed while the connection is held.
    last_seq: Arc<Mutex<LastSeq>>,
}

/// How many services' last journal numbers are kept; when full, the cache
/// starts again empty (the numbers are read again as needed).
const LAST_SEQ_CACHED: usize = 10_000;

/// Services' last stored journal numbers.
type LastSeq = HashMap<String, i64>;

/// The commits waiting for the writer, and whether one is at work.
#[derive(Default)]
struct CommitQueue {
    commits: Vec<QueuedCommit>,
    writing: bool,
}

/// A commit waiting for the next transaction, with where to answer it.
struct QueuedCommit {
    write: RecordWrite,
    journal: Vec<JournalEntry>,
    answer: tokio::sync::oneshot::Sender<Result<Written, StoreError>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in this file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| backend(format!("{}: {error}", parent.display())))?;
        }
        let connection = Connection::open(path).map_err(|error| backend(format!("{}: {error}", path.display())))?;
        wal::set_up(&connection)
            .and_then(|()| connection.execute_batch(SCHEMA))
            .and_then(|()| add_journal_columns(&connection))
            .map_err(backend)?;
        let connection = Arc::new(Mutex::new(connection));
        wal::checkpoint_beside(path, Arc::downgrade(&connection))
            .map_err(|error| backend(format!("{}: {error}", path.display())))?;
        Ok(Self {
            connection,
            queued: Arc::new(Mutex::new(CommitQueue::default())),
            last_seq: Arc::new(Mutex::new(LastSeq::new())),
        })
    }

    /// Runs a database operation without stalling other tasks.
    fn run<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let connection = Arc::clone(&self.connection);
        Box::pin(async move {
            wasmano_host::run_blocking(move || {
                let mut connection = connection.lock().map_err(|_| backend("connection lock poisoned"))?;
                operation(&mut connection)
            })
            .await
            .unwrap_or_else(|| Err(backend("the database thread panicked")))
        })
    }
}

fn to_body(record: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(backend)
}

fn from_body<T: DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|error| backend(format!("unreadable record: {error}")))
}

// A parameter compared with an indexed column is written `+?1`: SQLite
// built with STAT4 (as rusqlite bundles it) re-prepares a statement whose
// plan might depend on a bare parameter's value each time that value
// changes, and these ran once per lifecycle with a new key. The unary plus
// keeps the index and the plan, and the cached statement is reused as is.

/// A service's VNF records.
const VNFS_OF: &str = "SELECT body FROM vnf_records WHERE service_id = +?1 ORDER BY id";
/// The journal number after a service's last entry.
const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) + 1 FROM journal WHERE service_id = +?1";
/// The columns of a journal entry.
macro_rules! journal_where {
    ($condition:literal) => {
        concat!(
            "SELECT service_id, operation_id, workflow, step, manager, event, started_at_us, duration_us, outcome, error, seed \
             FROM journal WHERE ",
            $condition,
            " ORDER BY service_id, seq"
        )
    };
}
/// A service's journal, in order.
const JOURNAL_OF_SERVICE: &str = journal_where!("service_id = +?1");
/// An operation's journal, in order.
const JOURNAL_OF_OPERATION: &str = journal_where!("operation_id = +?1");
/// The NS records of the ids in the JSON array `?1`.
const NS_OF_IDS: &str = "SELECT body FROM ns_records WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY rowid";
/// The VNF records of the services in the JSON array `?1`.
const VNFS_OF_SERVICES: &str =
    "SELECT body FROM vnf_records WHERE service_id IN (SELECT value FROM json_each(?1)) ORDER BY rowid";

/// The columns and kind name of one record table.
struct Table {
    kind: &'static str,
    insert: &'static str,
    update: &'static str,
    select: &'static str,
}

const NS: Table = Table {
    kind: "NS",
    insert: "INSERT INTO ns_records (id, version, status, body) VALUES (?1, ?2, ?3, ?4)",
    update: "UPDATE ns_records SET version = ?2, status = ?3, body = ?4 WHERE id = ?1 AND version = ?5",
    select: "SELECT body FROM ns_records WHERE id = ?1",
};

const VNF: Table = Table {
    kind: "VNF",
    insert: "INSERT INTO vnf_records (id, version, status, body, service_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    update: "UPDATE vnf_records SET version = ?2, status = ?3, body = ?4 WHERE id = ?1 AND version = ?5",
    select: "SELECT body FROM vnf_records WHERE id = ?1",
};

fn exists(connection: &Connection, table: &Table, id: &str) -> Result<bool, StoreError> {
    connection
        .prepare_cached(table.select)
        .and_then(|mut statement| statement.query_row([id], |_| Ok(())))
        .optional()
        .map(|row| row.is_some())
        .map_err(backend)
}

fn read<T: DeserializeOwned>(connection: &Connection, table: &Table, id: &str) -> Result<T, StoreError> {
    let body: Option<String> = connection
        .prepare_cached(table.select)
        .and_then(|mut statement| statement.query_row([id], |row| row.get(0)))
        .optional()
        .map_err(backend)?;
    let body = body.ok_or_else(|| StoreError::NotFound {
        kind: table.kind,
        id: id.to_owned(),
    })?;
    from_body(&body)
}

fn list<T: DeserializeOwned>(
    connection: &Connection,
    sql: &str,
    key: &[&dyn rusqlite::ToSql],
) -> Result<Vec<T>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let bodies = statement
        .query_map(key, |row| row.get::<_, String>(0))
        .map_err(backend)?;
    bodies.map(|body| from_body(&body.map_err(backend)?)).collect()
}

/// The bodies `select` finds for `keys`, handed to it as one JSON array
/// (`?1`, read with `json_each`), so that one cached statement serves any
/// number of keys.
fn list_in<T: DeserializeOwned>(connection: &Connection, select: &str, keys: &[String]) -> Result<Vec<T>, StoreError> {
    let keys = serde_json::to_string(keys).map_err(backend)?;
    list(connection, select, &[&keys])
}

/// Compare-and-set update: fails with a conflict when the stored version is
/// not the one the caller read.
fn update(
    connection: &Connection,
    table: &Table,
    id: &str,
    read_version: u64,
    status: &str,
    body: &str,
) -> Result<(), StoreError> {
    let new_version = read_version + 1;
    let changed = connection
        .prepare_cached(table.update)
        .and_then(|mut statement| statement.execute(params![id, new_version as i64, status, body, read_version as i64]))
        .map_err(backend)?;
    match changed {
        1 => Ok(()),
        _ if exists(connection, table, id)? => Err(StoreError::Conflict {
            kind: table.kind,
            id: id.to_owned(),
            expected: read_version,
        }),
        _ => Err(StoreError::NotFound {
            kind: table.kind,
            id: id.to_owned(),
        }),
    }
}

/// What the two record tables have in common.
trait Stored: Serialize {
    fn id(&self) -> &str;
    fn status(&self) -> &'static str;
    fn version_mut(&mut self) -> &mut u64;
    /// The service a VNF record belongs to (the insert's fifth column).
    fn service_id(&self) -> Option<&str>;
}

impl Stored for NsRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> &'static str {
        self.status.as_str()
    }
    fn version_mut(&mut self) -> &mut u64 {
        &mut self.version
    }
    fn service_id(&self) -> Option<&str> {
        None
    }
}

impl Stored for VnfRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> &'static str {
        self.status.as_str()
    }
    fn version_mut(&mut self) -> &mut u64 {
        &mut self.version
    }
    fn service_id(&self) -> Option<&str> {
        Some(&self.service_id)
    }
}

/// Stores a new record at [`FIRST_VERSION`].
fn insert<T: Stored>(connection: &Connection, table: &Table, mut record: T) -> Result<T, StoreError> {
    *record.version_mut() = FIRST_VERSION;
    if exists(connection, table, record.id())? {
        return Err(StoreError::Exists {
            kind: table.kind,
            id: record.id().to_owned(),
        });
    }
    let body = to_body(&record)?;
    connection
        .prepare_cached(table.insert)
        .and_then(|mut statement| match record.service_id() {
            Some(service_id) => statement.execute(params![
                record.id(),
                FIRST_VERSION as i64,
                record.status(),
                body,
                service_id
            ]),
            None => statement.execute(params![record.id(), FIRST_VERSION as i64, record.status(), body]),
        })
        .map_err(backend)?;
    Ok(record)
}

/// Replaces a record still at the version it carries; returns it at the next.
fn replace<T: Stored>(connection: &Connection, table: &Table, mut record: T) -> Result<T, StoreError> {
    let read_version = *record.version_mut();
    *record.version_mut() += 1;
    update(
        connection,
        table,
        record.id(),
        read_version,
        record.status(),
        &to_body(&record)?,
    )?;
    Ok(record)
}

/// Appends steps to their services' journals, in order, numbering each
/// service's entries on from its last number: the one `last` knows, or
/// else the stored one, read once (the read costs as much as the insert).
/// Records each service's new last number in `last`.
fn append(connection: &Connection, journal: Vec<JournalEntry>, last: &mut LastSeq) -> Result<(), StoreError> {
    for entry in journal {
        let seq = match last.get_mut(&entry.service_id) {
            Some(seq) => {
                *seq += 1;
                *seq
            }
            None => {
                let seq: i64 = connection
                    .prepare_cached(NEXT_SEQ)
                    .and_then(|mut statement| statement.query_row([&entry.service_id], |row| row.get(0)))
                    .map_err(backend)?;
                last.insert(entry.service_id.clone(), seq);
                seq
            }
        };
        insert_entry(connection, seq, entry)?;
    }
    Ok(())
}

/// Inserts one journal entry at `seq`.
fn insert_entry(connection: &Connection, seq: i64, entry: JournalEntry) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO journal (service_id, seq, workflow, step, manager, event, seed, started_at_us, duration_us, outcome, error, operation_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                entry.service_id,
                seq,
                entry.workflow,
                entry.step,
                entry.manager,
                entry.event,
                // SQLite integers are signed: the seed's bits are kept.
                entry.seed.map(|seed| seed as i64),
                micros_since_epoch(entry.started_at),
                i64::try_from(entry.duration.as_micros()).unwrap_or(i64::MAX),
                entry.outcome.as_str(),
                entry.error,
                entry.operation_id,
            ])
        })
        .map(drop)
        .map_err(backend)
}

/// Writes queued commits in one transaction and answers each once it is
/// durable: with what it wrote, or with why it (alone, when it is one of
/// several: its savepoint is rolled back) or the transaction failed.
fn commit_group(connection: &mut Connection, group: Vec<QueuedCommit>, stored: &mut LastSeq) {
    let transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(error) => {
            for commit in group {
                let _ = commit.answer.send(Err(backend(&error)));
            }
            return;
        }
    };
    let alone = group.len() == 1;
    let mut outcomes = Vec::with_capacity(group.len());
    // The last numbers after the commits of the group that succeeded.
    let mut numbered = LastSeq::new();
    for QueuedCommit { write, journal, answer } in group {
        let services = journal
            .iter()
            .map(|entry| entry.service_id.as_str())
            .collect::<std::collections::BTreeSet<_>>();
        let mut last: LastSeq = services
            .into_iter()
            .filter_map(|service| {
                let seq = numbered.get(service).or_else(|| stored.get(service))?;
                Some((service.to_owned(), *seq))
            })
            .collect();
        let outcome = if alone {
            apply(&transaction, write).and_then(|written| append(&transaction, journal, &mut last).map(|()| written))
        } else {
            in_savepoint(&transaction, |savepoint| {
                apply(savepoint, write).and_then(|written| append(savepoint, journal, &mut last).map(|()| written))
            })
        };
        if outcome.is_ok() {
            numbered.extend(last);
        }
        outcomes.push((outcome, answer));
    }
    // A lone commit that failed has nothing to keep: dropping the
    // transaction rolls it back.
    let durable = if alone && outcomes[0].0.is_err() {
        Ok(())
    } else {
        transaction.commit()
    };
    if durable.is_ok() {
        if stored.len() + numbered.len() > LAST_SEQ_CACHED {
            stored.clear();
        }
        stored.extend(numbered);
    }
    for (outcome, answer) in outcomes {
        let outcome = match &durable {
            Ok(()) => outcome,
            Err(error) => Err(backend(error)),
        };
        let _ = answer.send(outcome);
    }
}

/// Runs `work` inside a savepoint: released if it succeeds, rolled back if
/// it fails.
fn in_savepoint<T>(
    transaction: &rusqlite::Transaction<'_>,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let run = |sql: &str| {
        transaction
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(drop)
            .map_err(backend)
    };
    run("SAVEPOINT queued_commit")?;
    match work(transaction) {
        Ok(value) => {
            run("RELEASE queued_commit")?;
            Ok(value)
        }
        Err(error) => {
            run("ROLLBACK TO queued_commit")?;
            run("RELEASE queued_commit")?;
            Err(error)
        }
    }
}

/// Applies a write inside a transaction.
fn apply(connection: &Connection, write: RecordWrite) -> Result<Written, StoreError> {
    Ok(match write {
        RecordWrite::Nothing => Written::Nothing,
        RecordWrite::CreateNs(record) => Written::Ns(insert(connection, &NS, record)?),
        RecordWrite::UpdateNs(record) => Written::Ns(replace(connection, &NS, record)?),
        RecordWrite::CreateVnf(record) => Written::Vnf(insert(connection, &VNF, record)?),
        RecordWrite::UpdateVnf(record) => Written::Vnf(replace(connection, &VNF, record)?),
        RecordWrite::HoldRemoval(unit) => {
            let body = to_body(&unit)?;
            connection
                .prepare_cached(
                    "INSERT INTO held_removals (instance_ref, body) VALUES (?1, ?2) \
                     ON CONFLICT (instance_ref) DO UPDATE SET body = excluded.body",
                )
                .and_then(|mut statement| statement.execute(params![unit.instance_ref, body]))
                .map_err(backend)?;
            Written::Nothing
        }
        RecordWrite::All(writes) => Written::All(
            writes
                .into_iter()
                .map(|write| apply(connection, write))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// The writer's role: what it needs to write queued commits. A writer
/// that ends before the queue is empty (a poisoned lock, a panic, a
/// hand-off the runtime dropped unrun) leaves no writer at work, and the
/// commits waiting are answered with an error (their senders dropped).
struct Writer {
    connection: Arc<Mutex<Connection>>,
    queued: Arc<Mutex<CommitQueue>>,
    last_seq: Arc<Mutex<LastSeq>>,
    finished: bool,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.finished {
            let mut queue = self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            queue.writing = false;
            queue.commits.clear();
        }
    }
}

impl Writer {
    /// Writes the queued commits as one group with the connection held;
    /// then, if commits queued meanwhile, hands the role to a thread of the
    /// blocking pool (or writes them here, where there is no runtime).
    fn write(mut self) {
        loop {
            {
                // Held before the group is taken: commits queued meanwhile
                // join it.
                let Ok(mut connection) = self.connection.lock() else {
                    return;
                };
                let Ok(mut queue) = self.queued.lock() else {
                    return;
                };
                let group = std::mem::take(&mut queue.commits);
                drop(queue);
                let Ok(mut stored) = self.last_seq.lock() else {
                    return;
                };
                commit_group(&mut connection, group, &mut stored);
            }
            let Ok(mut queue) = self.queued.lock() else {
                return;
            };
            let runtime = tokio::runtime::Handle::try_current().ok();
            match queue.after_group(runtime.is_some()) {
                AfterGroup::Done => {
                    drop(queue);
                    self.finished = true;
                    return;
                }
                AfterGroup::HandOver => {
                    drop(queue);
                    if let Some(runtime) = runtime {
                        runtime.spawn_blocking(move || self.write());
                    }
                    return;
                }
                AfterGroup::WriteNext => {}
            }
        }
    }
}

/// What a writer does once its group is durable.
#[derive(Debug, PartialEq, Eq)]
enum AfterGroup {
    /// Nothing is queued: no writer is at work any more.
    Done,
    /// Commits are queued: a thread of the blocking pool writes them.
    HandOver,
    /// Commits are queued and there is no runtime to hand them to.
    WriteNext,
}

impl CommitQueue {
    /// Decides what the writer does after a group, clearing `writing` when
    /// nothing is left to write.
    fn after_group(&mut self, can_hand_over: bool) -> AfterGroup {
        if self.commits.is_empty() {
            self.writing = false;
            AfterGroup::Done
        } else if can_hand_over {
            AfterGroup::HandOver
        } else {
            AfterGroup::WriteNext
        }
    }
}

impl RecordStore for SqliteStore {
    fn commit(&self, write: RecordWrite, journal: Vec<JournalEntry>) -> StoreFuture<'_, Written> {
        Box::pin(async move {
            // Queued, and the writer's role taken, when first polled: a
            // future dropped unpolled leaves nothing behind, and the writer
            // runs within that same poll.
            let (answer, answered) = tokio::sync::oneshot::channel();
            let writes = {
                let mut queue = self.queued.lock().map_err(|_| backend("commit queue lock poisoned"))?;
                queue.commits.push(QueuedCommit { write, journal, answer });
                !std::mem::replace(&mut queue.writing, true)
            };
            if writes {
                let writer = Writer {
                    connection: Arc::clone(&self.connection),
                    queued: Arc::clone(&self.queued),
                    last_seq: Arc::clone(&self.last_seq),
                    finished: false,
                };
                wasmano_host::run_blocking(move || writer.write()).await;
            }
            answered
                .await
                .unwrap_or_else(|_| Err(backend("the commit was dropped unanswered")))
        })
    }

    fn ns(&self, id: &str) -> StoreFuture<'_, NsRecord> {
        let id = id.to_owned();
        self.run(move |connection| read(connection, &NS, &id))
    }

    fn all_ns(&self) -> StoreFuture<'_, Vec<NsRecord>> {
        self.run(|connection| list(connection, "SELECT body FROM ns_records ORDER BY id", &[]))
    }

    fn vnf(&self, id: &str) -> StoreFuture<'_, VnfRecord> {
        let id = id.to_owned();
        self.run(move |connection| read(connection, &VNF, &id))
    }

    fn vnfs_of(&self, service_id: &str) -> StoreFuture<'_, Vec<VnfRecord>> {
        let service_id = service_id.to_owned();
        self.run(move |connection| list(connection, VNFS_OF, &[&service_id]))
    }

    fn ns_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<NsRecord>> {
        self.run(move |connection| list_in(connection, NS_OF_IDS, &ids))
    }

    fn vnfs_of_many(&self, service_ids: Vec<String>) -> StoreFuture<'_, Vec<VnfRecord>> {
        self.run(move |connection| list_in(connection, VNFS_OF_SERVICES, &service_ids))
    }

    fn journal_of(&self, service_id: &str) -> StoreFuture<'_, Vec<JournalEntry>> {
        let service_id = service_id.to_owned();
        self.run(move |connection| read_journal(connection, JOURNAL_OF_SERVICE, &service_id))
    }

    fn journal_of_operation(&self, operation_id: &str) -> StoreFuture<'_, Vec<JournalEntry>> {
        let operation_id = operation_id.to_owned();
        self.run(move |connection| read_journal(connection, JOURNAL_OF_OPERATION, &operation_id))
    }

    fn held_removals(&self) -> StoreFuture<'_, Vec<DeployedUnit>> {
        self.run(|connection| list(connection, "SELECT body FROM held_removals ORDER BY rowid", &[]))
    }

    fn removal_done(&self, instance_ref: &str) -> StoreFuture<'_, ()> {
        let instance_ref = instance_ref.to_owned();
        self.run(move |connection| {
            connection
                .prepare_cached("DELETE FROM held_removals WHERE instance_ref = ?1")
                .and_then(|mut statement| statement.execute([instance_ref]))
                .map(drop)
                .map_err(backend)
        })
    }
}

/// The journal entries `select` ([`JOURNAL_OF_SERVICE`] or
/// [`JOURNAL_OF_OPERATION`]) finds for `key`, in order.
fn read_journal(connection: &Connection, select: &str, key: &str) -> Result<Vec<JournalEntry>, StoreError> {
    let mut statement = connection.prepare_cached(select).map_err(backend)?;
    let rows = statement
        .query_map([key], |row| {
            let outcome: String = row.get(8)?;
            let started_us: i64 = row.get(6)?;
            let duration_us: i64 = row.get(7)?;
            Ok((
                JournalEntry {
                    service_id: row.get(0)?,
                    operation_id: row.get(1)?,
                    workflow: row.get(2)?,
                    step: row.get(3)?,
                    manager: row.get(4)?,
                    event: row.get(5)?,
                    seed: row.get::<_, Option<i64>>(10)?.map(|seed| seed as u64),
                    started_at: UNIX_EPOCH + Duration::from_micros(u64::try_from(started_us).unwrap_or(0)),
                    duration: Duration::from_micros(u64::try_from(duration_us).unwrap_or(0)),
                    outcome: StepOutcome::Succeeded,
                    error: row.get(9)?,
                },
                outcome,
            ))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (entry, outcome) = row.map_err(backend)?;
        let outcome = StepOutcome::parse(&outcome).ok_or_else(|| backend(format!("unknown outcome {outcome:?}")))?;
        Ok(JournalEntry { outcome, ..entry })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{CpAddress, FsmSwitches, Status, UnitInstance};

    fn ns(id: &str) -> NsRecord {
        NsRecord {
            id: id.into(),
            descriptor_reference: "nsd-1".into(),
            descriptor_version: "0.1".into(),
            status: Status::Offline,
            version: 0,
            network_functions: vec!["vnf-1".into()],
            link_vims: std::collections::BTreeMap::new(),
        }
    }

    fn vnf(id: &str, service_id: &str) -> VnfRecord {
        VnfRecord {
            id: id.into(),
            service_id: service_id.into(),
            vnf_id: "web".into(),
            descriptor_reference: "vnfd-1".into(),
            descriptor_version: "0.1".into(),
            status: Status::Offline,
            version: 0,
            deployment_units: vec![UnitInstance {
                unit_id: "vdu01".into(),
                kind: tango_model::descriptor::VimKind::Vm,
                vim_id: "vim-a".into(),
                instance_ref: "c-1".into(),
                addresses: vec![CpAddress {
                    cp: "eth0".into(),
                    address: "10.0.0.1".into(),
                }],
            }],
            switches: FsmSwitches::default(),
        }
    }

    #[tokio::test]
    async fn records_survive_a_restart_and_their_versions_increase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.sqlite");
        {
            let store = SqliteStore::open(&path).unwrap();
            let created = store.create_ns(ns("ns-1")).await.unwrap();
            assert_eq!(created.version, 1);
            let updated = store
                .update_ns(NsRecord {
                    status: Status::NormalOperation,
                    ..created
                })
                .await
                .unwrap();
            assert_eq!(updated.version, 2);
            store.create_vnf(vnf("vnf-1", "ns-1")).await.unwrap();
        }
        let reopened = SqliteStore::open(&path).unwrap();
        let record = reopened.ns("ns-1").await.unwrap();
        assert_eq!((record.status, record.version), (Status::NormalOperation, 2));
        let again = reopened
            .update_ns(NsRecord {
                status: Status::Terminated,
                ..record
            })
            .await
            .unwrap();
        assert_eq!(again.version, 3);
        assert_eq!(
            reopened.vnfs_of("ns-1").await.unwrap(),
            [VnfRecord {
                version: 1,
                ..vnf("vnf-1", "ns-1")
            }]
        );
    }

    #[test]
    fn keyed_statements_stay_prepared_whatever_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let connection = store.connection.lock().unwrap();
        // SQLite plans for an empty table without looking at the keys.
        connection
            .execute_batch(
                "INSERT INTO ns_records (id, version, status, body) VALUES ('a', 1, 'x', '{}');
                 INSERT INTO vnf_records (id, service_id, version, status, body) VALUES ('v', 'a', 1, 'x', '{}');
                 INSERT INTO journal (service_id, seq, workflow, step, started_at_us, duration_us, outcome, operation_id)
                 VALUES ('a', 1, 'w', 's', 0, 0, 'succeeded', 'a');",
            )
            .unwrap();
        let one_key = ["a", "b", "c"];
        let key_lists = [r#"["a"]"#, r#"["b", "c"]"#, "[]"];
        for (select, keys) in [
            (NS.select, one_key),
            (VNF.select, one_key),
            (VNFS_OF, one_key),
            (NEXT_SEQ, one_key),
            (JOURNAL_OF_SERVICE, one_key),
            (JOURNAL_OF_OPERATION, one_key),
            (NS_OF_IDS, key_lists),
            (VNFS_OF_SERVICES, key_lists),
        ] {
            assert_eq!(
                wal::times_prepared_again(&connection, select, &keys),
                0,
                "prepared again for a new key: {select}"
            );
        }
    }

    #[tokio::test]
    async fn records_are_read_by_many_keys_at_once_in_the_order_they_were_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let writes = (0..600)
            .flat_map(|index| {
                let service = format!("ns-{index:03}");
                [
                    RecordWrite::CreateNs(ns(&service)),
                    RecordWrite::CreateVnf(vnf(&format!("vnf-{index:03}"), &service)),
                ]
            })
            .collect();
        store.commit(RecordWrite::All(writes), Vec::new()).await.unwrap();
        // More keys than one statement could take as parameters, unknown
        // ones among them, and not in storage order.
        let mut asked: Vec<String> = (0..600)
            .rev()
            .step_by(2)
            .map(|index| format!("ns-{index:03}"))
            .collect();
        asked.push("ns-unknown".into());
        let services: Vec<String> = store
            .ns_many(asked.clone())
            .await
            .unwrap()
            .into_iter()
            .map(|record| record.id)
            .collect();
        let expected: Vec<String> = (0..600)
            .skip(1)
            .step_by(2)
            .map(|index| format!("ns-{index:03}"))
            .collect();
        assert_eq!(services, expected);
        let vnfs: Vec<String> = store
            .vnfs_of_many(asked)
            .await
            .unwrap()
            .into_iter()
            .map(|record| record.service_id)
            .collect();
        assert_eq!(vnfs, expected);
        assert!(store.ns_many(Vec::new()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_vnf_write_stores_the_record_it_predicts_even_after_others_of_it_in_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let create = RecordWrite::CreateVnf(vnf("vnf-1", "ns-1"));
        let created = create.stored_vnf().unwrap();
        let started = RecordWrite::UpdateVnf(VnfRecord {
            status: Status::NormalOperation,
            ..created.clone()
        });
        let running = started.stored_vnf().unwrap();
        let terminate = RecordWrite::UpdateVnf(VnfRecord {
            status: Status::Terminated,
            ..running.clone()
        });
        let terminated = terminate.stored_vnf().unwrap();
        let written = store
            .commit(RecordWrite::All(vec![create, started, terminate]), Vec::new())
            .await
            .unwrap()
            .into_all()
            .unwrap();
        let written: Vec<VnfRecord> = written.into_iter().map(|w| w.into_vnf().unwrap()).collect();
        assert_eq!(written, [created, running, terminated.clone()]);
        assert_eq!(store.vnf("vnf-1").await.unwrap(), terminated);
    }

    #[tokio::test]
    async fn a_stale_update_is_a_conflict_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let created = store.create_vnf(vnf("vnf-1", "ns-1")).await.unwrap();
        store
            .update_vnf(VnfRecord {
                status: Status::NormalOperation,
                ..created.clone()
            })
            .await
            .unwrap();
        let stale = store
            .update_vnf(VnfRecord {
                status: Status::Failed,
                ..created
            })
            .await;
        assert!(
            matches!(stale, Err(StoreError::Conflict { expected: 1, .. })),
            "{stale:?}"
        );
        assert_eq!(store.vnf("vnf-1").await.unwrap().status, Status::NormalOperation);
        assert!(matches!(
            store.create_vnf(vnf("vnf-1", "ns-1")).await,
            Err(StoreError::Exists { .. })
        ));
        assert!(matches!(store.ns("missing").await, Err(StoreError::NotFound { .. })));
    }

    fn entry(step: &str, outcome: StepOutcome) -> JournalEntry {
        JournalEntry::sample(step, outcome)
    }

    #[tokio::test]
    async fn a_record_and_its_journal_entries_commit_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let created = store
            .commit(
                RecordWrite::CreateNs(ns("ns-1")),
                vec![
                    entry("deploy web", StepOutcome::Intended),
                    entry("store NSR", StepOutcome::Succeeded),
                ],
            )
            .await
            .unwrap()
            .into_ns()
            .unwrap();
        assert_eq!(created.version, 1);
        assert_eq!(store.journal_of("ns-1").await.unwrap().len(), 2);
        // A stale update fails: its journal entries are not stored either.
        let stale = NsRecord { version: 0, ..created };
        let refused = store
            .commit(
                RecordWrite::UpdateNs(stale),
                vec![entry("update NSR", StepOutcome::Succeeded)],
            )
            .await;
        assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
        assert_eq!(store.journal_of("ns-1").await.unwrap().len(), 2);
        assert_eq!(store.ns("ns-1").await.unwrap().version, 1);
    }

    #[tokio::test]
    async fn entries_keep_their_order_within_and_across_commits_and_services() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let of = |service: &str, step: &str| JournalEntry {
            service_id: service.into(),
            ..entry(step, StepOutcome::Succeeded)
        };
        store
            .commit(
                RecordWrite::Nothing,
                vec![of("ns-1", "a"), of("ns-2", "x"), of("ns-1", "b"), of("ns-1", "c")],
            )
            .await
            .unwrap();
        store
            .commit(RecordWrite::Nothing, vec![of("ns-2", "y"), of("ns-1", "d")])
            .await
            .unwrap();
        let steps = |journal: Vec<JournalEntry>| journal.into_iter().map(|entry| entry.step).collect::<Vec<_>>();
        assert_eq!(steps(store.journal_of("ns-1").await.unwrap()), ["a", "b", "c", "d"]);
        assert_eq!(steps(store.journal_of("ns-2").await.unwrap()), ["x", "y"]);
    }

    #[tokio::test(flavor = "current_thread")]
    #[expect(
        clippy::await_holding_lock,
        reason = "the test holds the connection while the commits queue behind it"
    )]
    async fn commits_queued_together_are_written_together_and_a_failing_one_alone_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let nsr = store.create_ns(ns("ns-1")).await.unwrap();
        let of = |service: &str, step: &str| JournalEntry {
            service_id: service.into(),
            ..entry(step, StepOutcome::Succeeded)
        };
        // Hold the connection so that the commits queue up behind it.
        let held = store.connection.lock().unwrap();
        let commits = vec![
            (RecordWrite::CreateNs(ns("ns-2")), vec![of("ns-2", "store NSR")]),
            (
                RecordWrite::UpdateNs(NsRecord {
                    version: 0,
                    ..nsr.clone()
                }),
                vec![of("ns-1", "stale update")],
            ),
            (RecordWrite::Nothing, vec![of("ns-1", "a"), of("ns-1", "b")]),
            (
                RecordWrite::CreateVnf(vnf("vnf-1", "ns-2")),
                vec![of("ns-2", "store VNFR")],
            ),
        ];
        let count = commits.len();
        let pending: Vec<_> = commits
            .into_iter()
            .map(|(write, journal)| {
                let store = store.clone();
                tokio::spawn(async move { store.commit(write, journal).await })
            })
            .collect();
        while store.queued.lock().unwrap().commits.len() < count {
            tokio::task::yield_now().await;
        }
        drop(held);
        let mut outcomes = Vec::new();
        for commit in pending {
            outcomes.push(commit.await.unwrap());
        }
        let queue = store.queued.lock().unwrap();
        assert!(queue.commits.is_empty() && !queue.writing);
        drop(queue);
        assert!(
            matches!(&outcomes[0], Ok(Written::Ns(created)) if created.version == 1),
            "{outcomes:?}"
        );
        assert!(matches!(&outcomes[1], Err(StoreError::Conflict { .. })), "{outcomes:?}");
        assert!(matches!(&outcomes[2], Ok(Written::Nothing)), "{outcomes:?}");
        assert!(
            matches!(&outcomes[3], Ok(Written::Vnf(created)) if created.version == 1),
            "{outcomes:?}"
        );
        let steps = |journal: Vec<JournalEntry>| journal.into_iter().map(|entry| entry.step).collect::<Vec<_>>();
        assert_eq!(steps(store.journal_of("ns-1").await.unwrap()), ["a", "b"]);
        assert_eq!(
            steps(store.journal_of("ns-2").await.unwrap()),
            ["store NSR", "store VNFR"]
        );
        assert_eq!(store.ns("ns-1").await.unwrap(), nsr);
        assert_eq!(store.vnfs_of("ns-2").await.unwrap().len(), 1);
    }

    #[test]
    fn a_writer_hands_commits_queued_during_its_group_to_another_thread() {
        let (answer, _answered) = tokio::sync::oneshot::channel();
        let mut queue = CommitQueue {
            commits: vec![QueuedCommit {
                write: RecordWrite::Nothing,
                journal: Vec::new(),
                answer,
            }],
            writing: true,
        };
        assert_eq!(queue.after_group(true), AfterGroup::HandOver);
        assert!(queue.writing && queue.commits.len() == 1);
        assert_eq!(queue.after_group(false), AfterGroup::WriteNext);
        assert!(queue.writing);
        queue.commits.clear();
        assert_eq!(queue.after_group(true), AfterGroup::Done);
        assert!(!queue.writing);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_commits_is_written_whole_and_in_order_through_hand_overs() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let committers: Vec<_> = (0..8)
            .map(|client| {
                let store = store.clone();
                tokio::spawn(async move {
                    let service = format!("ns-{client}");
                    for index in 0..100 {
                        let step = index.to_string();
                        let journal = vec![JournalEntry {
                            service_id: service.clone(),
                            ..entry(&step, StepOutcome::Succeeded)
                        }];
                        store.commit(RecordWrite::Nothing, journal).await.unwrap();
                    }
                    service
                })
            })
            .collect();
        for committer in committers {
            let service = committer.await.unwrap();
            let steps: Vec<String> = store
                .journal_of(&service)
                .await
                .unwrap()
                .into_iter()
                .map(|entry| entry.step)
                .collect();
            assert_eq!(steps, (0..100).map(|index| index.to_string()).collect::<Vec<_>>());
        }
        let queue = store.queued.lock().unwrap();
        assert!(queue.commits.is_empty() && !queue.writing);
    }

    #[tokio::test]
    async fn a_commit_dropped_unpolled_leaves_the_store_writable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        drop(store.commit(RecordWrite::CreateNs(ns("ns-1")), Vec::new()));
        let next = store.commit(RecordWrite::CreateNs(ns("ns-2")), Vec::new());
        let written = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the commit is written");
        assert!(matches!(written, Ok(Written::Ns(_))), "{written:?}");
        assert!(matches!(store.ns("ns-1").await, Err(StoreError::NotFound { .. })));
    }

    #[tokio::test]
    async fn the_write_ahead_log_is_checkpointed_beside_the_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.sqlite");
        let store = SqliteStore::open(&path).unwrap();
        let empty = std::fs::metadata(&path).unwrap().len();
        // Far fewer pages than a commit would checkpoint by itself.
        for index in 0..200 {
            store.create_vnf(vnf(&format!("vnf-{index}"), "ns-1")).await.unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() == empty {
            assert!(
                std::time::Instant::now() < deadline,
                "the records never reached the database file"
            );
            tokio::time::sleep(wal::CHECKPOINT_EVERY).await;
        }
        assert_eq!(store.vnfs_of("ns-1").await.unwrap().len(), 200);
    }

    #[tokio::test]
    async fn several_writes_commit_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        let nsr = store.create_ns(ns("ns-1")).await.unwrap();
        let vnfr = store.create_vnf(vnf("vnf-1", "ns-1")).await.unwrap();
        let settled = |nsr: &NsRecord, vnfr: &VnfRecord| {
            RecordWrite::All(vec![
                RecordWrite::UpdateVnf(VnfRecord {
                    status: Status::NormalOperation,
                    ..vnfr.clone()
                }),
                RecordWrite::UpdateNs(NsRecord {
                    status: Status::NormalOperation,
                    ..nsr.clone()
                }),
            ])
        };
        // The NSR's write is stale: the VNFR's, before it, is not stored
        // either, nor the journal entries.
        let stale = NsRecord {
            version: 0,
            ..nsr.clone()
        };
        let refused = store
            .commit(
                settled(&stale, &vnfr),
                vec![entry("NSR in operation", StepOutcome::Succeeded)],
            )
            .await;
        assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
        assert_eq!(store.vnf("vnf-1").await.unwrap(), vnfr);
        assert!(store.journal_of("ns-1").await.unwrap().is_empty());
        // Both current: both stored, each with its new version, in order.
        let written = store
            .commit(
                settled(&nsr, &vnfr),
                vec![entry("NSR in operation", StepOutcome::Succeeded)],
            )
            .await
            .unwrap()
            .into_all()
            .unwrap();
        let [vnf_written, ns_written] = <[Written; 2]>::try_from(written).unwrap();
        assert_eq!(vnf_written.into_vnf().unwrap().version, vnfr.version + 1);
        assert_eq!(ns_written.into_ns().unwrap().version, nsr.version + 1);
        assert_eq!(store.ns("ns-1").await.unwrap().status, Status::NormalOperation);
        assert_eq!(store.vnf("vnf-1").await.unwrap().status, Status::NormalOperation);
        assert_eq!(store.journal_of("ns-1").await.unwrap().len(), 1);
    }

    #[test]
    fn an_intent_without_its_outcome_is_in_flight() {
        let journal = [
            entry("deploy web on a", StepOutcome::Intended),
            entry("deploy web on a", StepOutcome::Succeeded),
            entry("deploy db on b", StepOutcome::Intended),
            entry("deploy db on b", StepOutcome::Failed),
            entry("remove web", StepOutcome::Intended),
        ];
        let flying: Vec<&str> = crate::records::in_flight(&journal)
            .into_iter()
            .map(|entry| entry.step.as_str())
            .collect();
        assert_eq!(flying, ["remove web"]);
        let mut recovered = journal.to_vec();
        recovered.push(JournalEntry {
            workflow: "recovery".into(),
            ..entry("remove web", StepOutcome::RolledBack)
        });
        assert_eq!(
            crate::records::in_flight(&recovered).len(),
            1,
            "another workflow's step is not the outcome"
        );
    }

    #[tokio::test]
    async fn the_journal_keeps_steps_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("records.sqlite")).unwrap();
        for (step, outcome) in [("placement", StepOutcome::Succeeded), ("deploy", StepOutcome::Failed)] {
            store
                .journal(vec![JournalEntry {
                    service_id: "ns-1".into(),
                    operation_id: Some(format!("op-{step}")),
                    workflow: "instantiate".into(),
                    step: step.into(),
                    manager: Some("placement-ssm".into()),
                    event: Some("placement".into()),
                    seed: Some(u64::MAX - 1),
                    started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                    duration: Duration::from_micros(42),
                    outcome,
                    error: (outcome == StepOutcome::Failed).then(|| "no VIM".into()),
                }])
                .await
                .unwrap();
        }
        let journal = store.journal_of("ns-1").await.unwrap();
        assert_eq!(
            journal.iter().map(|entry| entry.step.as_str()).collect::<Vec<_>>(),
            ["placement", "deploy"]
        );
        assert_eq!(journal[1].error.as_deref(), Some("no VIM"));
        assert_eq!(journal[0].duration, Duration::from_micros(42));
        assert_eq!(journal[0].seed, Some(u64::MAX - 1), "a seed keeps all its bits");
        assert!(store.journal_of("other").await.unwrap().is_empty());
        let deploy = store.journal_of_operation("op-deploy").await.unwrap();
        assert_eq!(deploy.len(), 1);
        assert_eq!(
            (deploy[0].step.as_str(), deploy[0].operation_id.as_deref()),
            ("deploy", Some("op-deploy"))
        );
    }
}
