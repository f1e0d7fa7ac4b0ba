//! Recorded hook calls, for `wasmano sm replay`: an operator checks a
//! manager update against what the running manager really answered.
//!
//! Recording is opt-in per service (`recordHookCalls` when the NS instance
//! is created). Each hook call of such a service keeps what is needed to run
//! it again: the event, its 5GTANGO request document, the random seed the
//! guest saw, the manager's declared options and limits, and the answer (the
//! reply or error in 5GTANGO's shape, `null` when not handled, the fault
//! otherwise; see [`answer_document`]). Documents are content-addressed
//! files (`calls/blobs/<sha256>`), so the same placement request sent a
//! hundred times is stored once; an index (`calls/index.sqlite`) lists the
//! calls. The log is bounded: a service keeps its newest
//! [`CallLog::max_calls_per_service`] calls, a document no kept call names is
//! deleted with the call that named it last, and deleting the NS instance
//! deletes its calls. A recording that fails is logged and never fails the
//! workflow: recording is a developer's aid, not part of the service.

use std::any::Any;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;
use tango_model::KeyValue;
use tango_model::reply::error_reply;
use wasmano_host::{
    Cause, Event, InvocationError, Limits, ManagerKind, Reply, SpecificManager, WasmManager, sha256_hex,
};

use crate::bus::{Launcher, LegacyManager};
use crate::clock::micros_since_epoch;

/// How many calls a service keeps unless configured otherwise.
pub const DEFAULT_MAX_CALLS_PER_SERVICE: usize = 1_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    operation_id TEXT,
    recorded_at_us BIGINT NOT NULL,
    manager_id TEXT NOT NULL,
    ran TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    seed BIGINT NOT NULL,
    options TEXT NOT NULL,
    deadline_us BIGINT,
    memory_bytes BIGINT,
    request_digest TEXT NOT NULL,
    answer_digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_service ON calls (service_id, id);
";

/// An outcome as the document a recording keeps and a replay compares: the
/// reply or error answer in 5GTANGO's shape, `null` for not handled
/// (5GTANGO's template answer), `{fault: …}` otherwise.
pub fn answer_document(outcome: &Result<Reply, InvocationError>) -> Value {
    match outcome {
        Ok(reply) => reply.to_tango(),
        Err(error) => match &error.cause {
            Cause::Answered { message, content } => error_reply(message, content.as_ref()),
            Cause::NotHandled => Value::Null,
            other => serde_json::json!({ "fault": other.to_string() }),
        },
    }
}

/// One hook call, as a workflow made it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// The service instance it was for.
    pub service_id: String,
    /// The operation occurrence it was part of.
    pub operation_id: Option<String>,
    /// The manager's id in its descriptor.
    pub manager_id: String,
    /// What ran it: `module <sha256>`, `image <reference>` or
    /// `command <line>`.
    pub ran: String,
    /// The event.
    pub event: Event,
    /// The seed of the guest's random numbers.
    pub seed: u64,
    /// The options the manager's descriptor declares.
    pub options: Vec<KeyValue>,
    /// The limits a module ran under (none for a legacy manager).
    pub limits: Option<Limits>,
    /// The request's 5GTANGO content, as the JSON text the manager received.
    pub request: String,
    /// The answer ([`answer_document`]).
    pub answer: Value,
}

impl RecordedCall {
    /// The call of `event` on `manager`, with the request text it received,
    /// its seed and its outcome. The service and operation are left for
    /// the workflow run to fill in.
    pub fn of(
        manager: &Arc<dyn SpecificManager>,
        event: Event,
        seed: u64,
        request: String,
        outcome: &Result<Reply, InvocationError>,
    ) -> Self {
        let any = manager.as_ref() as &dyn Any;
        let (ran, options, limits) = if let Some(module) = any.downcast_ref::<WasmManager>() {
            let ran = format!("module {}", module.module().sha256());
            (ran, module.options(), Some(module.limits()))
        } else if let Some(legacy) = any.downcast_ref::<LegacyManager>() {
            let launcher = legacy.group().specs().iter().find(|spec| spec.id == manager.id());
            let ran = match launcher.map(|spec| &spec.launcher) {
                Some(Launcher::Image(image)) => format!("image {image}"),
                Some(Launcher::Command(command)) => format!("command {command}"),
                None => "a legacy manager".to_owned(),
            };
            (ran, Vec::new(), None)
        } else {
            ("a manager of another kind".to_owned(), Vec::new(), None)
        };
        Self {
            service_id: String::new(),
            operation_id: None,
            manager_id: manager.id().to_owned(),
            ran,
            event,
            seed,
            options,
            limits,
            request,
            answer: answer_document(outcome),
        }
    }
}

/// A call read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    /// Its number in the log (increasing with time).
    pub number: i64,
    /// When it was recorded.
    pub recorded_at: SystemTime,
    /// The call.
    pub call: RecordedCall,
}

/// Which recorded calls to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Only this service's.
    pub service_id: Option<String>,
    /// Only calls of this manager id.
    pub manager_id: Option<String>,
    /// Only calls of these events.
    pub events: Option<Vec<Event>>,
}

/// Why the log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CallLogError {
    /// Nothing was ever recorded in this data directory.
    #[error("{0} holds no recorded calls: no service of this data directory was created with recordHookCalls")]
    NothingRecorded(PathBuf),
    /// The index or a document could not be read or written.
    #[error("recorded calls in {path}: {message}")]
    Storage {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The recorded calls of a data directory. Cheap to share; every method
/// blocks on the disk (the workflows call [`CallLog::record`] off the async
/// workers).
#[derive(Debug)]
pub struct CallLog {
    blobs: PathBuf,
    index: PathBuf,
    connection: Mutex<Connection>,
    max_calls_per_service: usize,
}

impl CallLog {
    /// Opens (creating if needed) the log of `data_dir`, keeping at most
    /// `max_calls_per_service` calls per service. Documents a crash left
    /// without a call are deleted.
    pub fn open(data_dir: &Path, max_calls_per_service: usize) -> Result<Arc<Self>, CallLogError> {
        let root = data_dir.join("calls");
        let blobs = root.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|error| storage(&blobs, error))?;
        let index = root.join("index.sqlite");
        let connection = Connection::open(&index)
            .and_then(|connection| {
                connection.execute_batch(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
                )?;
                connection.execute_batch(SCHEMA)?;
                Ok(connection)
            })
            .map_err(|error| storage(&index, error))?;
        let log = Self {
            blobs,
            index,
            connection: Mutex::new(connection),
            max_calls_per_service: max_calls_per_service.max(1),
        };
        log.delete_unnamed_documents()?;
        Ok(Arc::new(log))
    }

    /// Opens the log of `data_dir` to read, while a server may be writing
    /// it.
    pub fn open_to_read(data_dir: &Path) -> Result<Self, CallLogError> {
        let root = data_dir.join("calls");
        let index = root.join("index.sqlite");
        if !index.is_file() {
            return Err(CallLogError::NothingRecorded(data_dir.to_owned()));
        }
        let connection = Connection::open_with_flags(&index, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|connection| {
                connection.busy_timeout(Duration::from_secs(5))?;
                Ok(connection)
            })
            .map_err(|error| storage(&index, error))?;
        Ok(Self {
            blobs: root.join("blobs"),
            index,
            connection: Mutex::new(connection),
            max_calls_per_service: DEFAULT_MAX_CALLS_PER_SERVICE,
        })
    }

    /// How many calls a service keeps.
    pub fn max_calls_per_service(&self) -> usize {
        self.max_calls_per_service
    }

    /// Keeps `call`, then forgets the service's oldest calls beyond the
    /// bound and the documents only they named.
    pub fn record(&self, call: &RecordedCall) -> Result<(), CallLogError> {
        let request = call.request.as_bytes();
        let answer = serde_json::to_vec(&call.answer).map_err(|error| storage(&self.index, error))?;
        let options: Vec<[&str; 2]> = call
            .options
            .iter()
            .map(|option| [option.key.as_str(), option.value.as_str()])
            .collect();
        let options = serde_json::to_string(&options).map_err(|error| storage(&self.index, error))?;
        let mut connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock: a document is never deleted between being written
        // and being named.
        let request_digest = self.put_document(request)?;
        let answer_digest = self.put_document(&answer)?;
        let transaction = connection.transaction().map_err(|error| storage(&self.index, error))?;
        transaction
            .execute(
                "INSERT INTO calls (service_id, operation_id, recorded_at_us, manager_id, ran, kind, event, seed, options, \
                 deadline_us, memory_bytes, request_digest, answer_digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    call.service_id,
                    call.operation_id,
                    micros_since_epoch(SystemTime::now()),
                    call.manager_id,
                    call.ran,
                    call.event.kind().short_name(),
                    call.event.name(),
                    // SQLite integers are signed: the seed's bits are kept.
                    call.seed as i64,
                    options,
                    call.limits
                        .map(|limits| i64::try_from(limits.deadline.as_micros()).unwrap_or(i64::MAX)),
                    call.limits
                        .map(|limits| i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX)),
                    request_digest,
                    answer_digest,
                ],
            )
            .map_err(|error| storage(&self.index, error))?;
        let forgotten = forget_beyond(&transaction, &call.service_id, self.max_calls_per_service)
            .map_err(|error| storage(&self.index, error))?;
        let unnamed = unnamed(&transaction, forgotten).map_err(|error| storage(&self.index, error))?;
        transaction.commit().map_err(|error| storage(&self.index, error))?;
        self.delete_documents(&unnamed);
        Ok(())
    }

    /// Forgets every call of `service_id` (its NS instance is deleted).
    pub fn forget_service(&self, service_id: &str) -> Result<(), CallLogError> {
        let mut connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let transaction = connection.transaction().map_err(|error| storage(&self.index, error))?;
        let forgotten = forget_beyond(&transaction, service_id, 0).map_err(|error| storage(&self.index, error))?;
        let unnamed = unnamed(&transaction, forgotten).map_err(|error| storage(&self.index, error))?;
        transaction.commit().map_err(|error| storage(&self.index, error))?;
        self.delete_documents(&unnamed);
        Ok(())
    }

    /// The calls `filter` selects, oldest first, with their documents.
    pub fn calls(&self, filter: &CallFilter) -> Result<Vec<StoredCall>, CallLogError> {
        let rows = {
            let connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
            read_rows(&connection, filter).map_err(|error| storage(&self.index, error))?
        };
        let mut calls = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(kind) = ManagerKind::parse(&row.kind) else {
                return Err(storage(
                    &self.index,
                    format!("call {}: unknown kind {:?}", row.number, row.kind),
                ));
            };
            let Some(event) = Event::parse(kind, &row.event) else {
                return Err(storage(
                    &self.index,
                    format!("call {}: unknown {kind} event {:?}", row.number, row.event),
                ));
            };
            if filter.events.as_ref().is_some_and(|events| !events.contains(&event)) {
                continue;
            }
            let options: Vec<[String; 2]> = serde_json::from_str(&row.options)
                .map_err(|error| storage(&self.index, format!("call {}: options: {error}", row.number)))?;
            let request = String::from_utf8(self.document(&row.request_digest)?)
                .map_err(|error| storage(&self.blob(&row.request_digest), error))?;
            let answer = serde_json::from_slice(&self.document(&row.answer_digest)?)
                .map_err(|error| storage(&self.blob(&row.answer_digest), error))?;
            let limits = match (row.deadline_us, row.memory_bytes) {
                (Some(deadline), Some(memory)) => Some(Limits {
                    deadline: Duration::from_micros(u64::try_from(deadline).unwrap_or_default()),
                    memory_bytes: usize::try_from(memory).unwrap_or_default(),
                    ..Limits::default()
                }),
                _ => None,
            };
            calls.push(StoredCall {
                number: row.number,
                recorded_at: UNIX_EPOCH + Duration::from_micros(u64::try_from(row.recorded_at_us).unwrap_or_default()),
                call: RecordedCall {
                    service_id: row.service_id,
                    operation_id: row.operation_id,
                    manager_id: row.manager_id,
                    ran: row.ran,
                    event,
                    seed: row.seed as u64,
                    options: options
                        .into_iter()
                        .map(|[key, value]| KeyValue { key, value })
                        .collect(),
                    limits,
                    request,
                    answer,
                },
            });
        }
        Ok(calls)
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.blobs.join(digest)
    }

    /// Stores `bytes` under their digest (once) and returns the digest.
    fn put_document(&self, bytes: &[u8]) -> Result<String, CallLogError> {
        let digest = sha256_hex(bytes);
        let path = self.blob(&digest);
        if path.is_file() {
            return Ok(digest);
        }
        let mut file = tempfile::NamedTempFile::new_in(&self.blobs).map_err(|error| storage(&self.blobs, error))?;
        file.write_all(bytes).map_err(|error| storage(&path, error))?;
        file.persist(&path).map_err(|error| storage(&path, error.error))?;
        Ok(digest)
    }

    fn document(&self, digest: &str) -> Result<Vec<u8>, CallLogError> {
        let path = self.blob(digest);
        let bytes = std::fs::read(&path).map_err(|error| storage(&path, error))?;
        if sha256_hex(&bytes) != digest {
            return Err(storage(&path, "the document does not match its digest"));
        }
        Ok(bytes)
    }

    fn delete_documents(&self, digests: &BTreeSet<String>) {
        for digest in digests {
            let path = self.blob(digest);
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("cannot delete the recorded document {}: {error}", path.display());
            }
        }
    }

    /// Deletes documents no call names (a crash between writing a
    /// document and committing its call, or while deleting).
    fn delete_unnamed_documents(&self) -> Result<(), CallLogError> {
        let named: BTreeSet<String> = {
            let connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
            let mut statement = connection
                .prepare("SELECT request_digest FROM calls UNION SELECT answer_digest FROM calls")
                .map_err(|error| storage(&self.index, error))?;
            statement
                .query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(|error| storage(&self.index, error))?
        };
        let entries = std::fs::read_dir(&self.blobs).map_err(|error| storage(&self.blobs, error))?;
        let unnamed = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| !named.contains(name))
            .collect();
        self.delete_documents(&unnamed);
        Ok(())
    }
}

/// One row of the index.
struct Row {
    number: i64,
    service_id: String,
    operation_id: Option<String>,
    recorded_at_us: i64,
    manager_id: String,
    ran: String,
    kind: String,
    event: String,
    seed: i64,
    options: String,
    deadline_us: Option<i64>,
    memory_bytes: Option<i64>,
    request_digest: String,
    answer_digest: String,
}

fn read_rows(connection: &Connection, filter: &CallFilter) -> rusqlite::Result<Vec<Row>> {
    let mut statement = connection.prepare(
        "SELECT id, service_id, operation_id, recorded_at_us, manager_id, ran, kind, event, seed, options, \
         deadline_us, memory_bytes, request_digest, answer_digest FROM calls \
         WHERE (?1 IS NULL OR service_id = ?1) AND (?2 IS NULL OR manager_id = ?2) ORDER BY id",
    )?;
    statement
        .query_map(params![filter.service_id, filter.manager_id], |row| {
            Ok(Row {
                number: row.get(0)?,
                service_id: row.get(1)?,
                operation_id: row.get(2)?,
                recorded_at_us: row.get(3)?,
                manager_id: row.get(4)?,
                ran: row.get(5)?,
                kind: row.get(6)?,
                event: row.get(7)?,
                seed: row.get(8)?,
                options: row.get(9)?,
                deadline_us: row.get(10)?,
                memory_bytes: row.get(11)?,
                request_digest: row.get(12)?,
                answer_digest: row.get(13)?,
            })
        })?
        .collect()
}

/// Deletes the calls of `service_id` older than its newest `keep` and
/// returns the digests they named.
fn forget_beyond(connection: &Connection, service_id: &str, keep: usize) -> rusqlite::Result<BTreeSet<String>> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let mut statement = connection.prepare(
        "DELETE FROM calls WHERE id IN \
         (SELECT id FROM calls WHERE service_id = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2) \
         RETURNING request_digest, answer_digest",
    )?;
    let mut digests = BTreeSet::new();
    let mut rows = statement.query(params![service_id, keep])?;
    while let Some(row) = rows.next()? {
        digests.insert(row.get(0)?);
        digests.insert(row.get(1)?);
    }
    Ok(digests)
}

/// Those of `digests` no call names any more.
fn unnamed(connection: &Connection, digests: BTreeSet<String>) -> rusqlite::Result<BTreeSet<String>> {
    let mut statement =
        connection.prepare("SELECT 1 FROM calls WHERE request_digest = ?1 OR answer_digest = ?1 LIMIT 1")?;
    let mut unnamed = BTreeSet::new();
    for digest in digests {
        if statement.query_row([&digest], |_| Ok(())).optional()?.is_none() {
            unnamed.insert(digest);
        }
    }
    Ok(unnamed)
}

fn storage(path: &Path, error: impl std::fmt::Display) -> CallLogError {
    CallLogError::Storage {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tango_model::fsm::FsmEvent;
    use tango_model::ssm::SsmEvent;

    use super::*;

    fn call(service: &str, request: &str, answer: Value) -> RecordedCall {
        RecordedCall {
            service_id: service.to_owned(),
            operation_id: Some("op-1".to_owned()),
            manager_id: "placement".to_owned(),
            ran: "module abc".to_owned(),
            event: Event::Ssm(SsmEvent::Placement),
            seed: u64::MAX - 3,
            options: vec![KeyValue {
                key: "strategy".to_owned(),
                value: "spread".to_owned(),
            }],
            limits: Some(Limits::default()),
            request: request.to_owned(),
            answer,
        }
    }

    fn documents(data_dir: &Path) -> usize {
        std::fs::read_dir(data_dir.join("calls/blobs")).unwrap().count()
    }

    #[test]
    fn a_call_reads_back_as_recorded_and_equal_documents_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(dir.path(), 10).unwrap();
        let first = call("ns-1", r#"{"nsd":{}}"#, json!({"mapping": {"vnfs": []}}));
        log.record(&first).unwrap();
        log.record(&first).unwrap();
        assert_eq!(documents(dir.path()), 2, "one request and one answer, each stored once");
        let read = CallLog::open_to_read(dir.path()).unwrap();
        let calls = read.calls(&CallFilter::default()).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0].call, first,
            "every field, the seed's bits included, reads back"
        );
        assert!(calls[0].number < calls[1].number);
    }

    #[test]
    fn a_service_keeps_its_newest_calls_and_the_documents_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(dir.path(), 2).unwrap();
        for n in 0..5 {
            log.record(&call(
                "ns-1",
                &format!(r#"{{"n":{n}}}"#),
                json!({"status": "COMPLETED"}),
            ))
            .unwrap();
        }
        log.record(&call("ns-2", r#"{"n":0}"#, json!(null))).unwrap();
        let kept = log.calls(&CallFilter {
            service_id: Some("ns-1".to_owned()),
            ..CallFilter::default()
        });
        let requests: Vec<String> = kept.unwrap().into_iter().map(|stored| stored.call.request).collect();
        assert_eq!(requests, [r#"{"n":3}"#, r#"{"n":4}"#]);
        // n=3, n=4, the shared answer, ns-2's n=0 (named by ns-2 only) and null.
        assert_eq!(documents(dir.path()), 5);
        log.forget_service("ns-1").unwrap();
        assert_eq!(documents(dir.path()), 2, "ns-2's request and answer remain");
        assert_eq!(log.calls(&CallFilter::default()).unwrap().len(), 1);
    }

    #[test]
    fn filters_narrow_by_service_manager_and_event() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(dir.path(), 10).unwrap();
        log.record(&call("ns-1", "{}", json!(null))).unwrap();
        log.record(&RecordedCall {
            manager_id: "vnf-manager".to_owned(),
            event: Event::Fsm(FsmEvent::Start),
            limits: None,
            ..call("ns-2", "{}", json!(null))
        })
        .unwrap();
        let count = |filter: CallFilter| log.calls(&filter).unwrap().len();
        assert_eq!(count(CallFilter::default()), 2);
        assert_eq!(
            count(CallFilter {
                manager_id: Some("vnf-manager".to_owned()),
                ..CallFilter::default()
            }),
            1
        );
        assert_eq!(
            count(CallFilter {
                events: Some(vec![Event::Ssm(SsmEvent::Placement)]),
                ..CallFilter::default()
            }),
            1
        );
        assert_eq!(
            count(CallFilter {
                service_id: Some("ns-3".to_owned()),
                ..CallFilter::default()
            }),
            0
        );
        let fsm = log
            .calls(&CallFilter {
                service_id: Some("ns-2".to_owned()),
                ..CallFilter::default()
            })
            .unwrap();
        assert_eq!(fsm[0].call.limits, None, "a legacy manager's call has no limits");
    }

    #[test]
    fn a_tampered_document_is_refused_and_orphans_go_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = CallLog::open(dir.path(), 10).unwrap();
        log.record(&call("ns-1", r#"{"a":1}"#, json!(null))).unwrap();
        let digest = sha256_hex(br#"{"a":1}"#);
        std::fs::write(dir.path().join("calls/blobs").join(&digest), br#"{"a":2}"#).unwrap();
        let error = log.calls(&CallFilter::default()).unwrap_err().to_string();
        assert!(error.contains(&digest) && error.contains("digest"), "{error}");
        std::fs::write(dir.path().join("calls/blobs/orphan"), b"x").unwrap();
        drop(log);
        CallLog::open(dir.path(), 10).unwrap();
        assert!(!dir.path().join("calls/blobs/orphan").exists());
    }

    #[test]
    fn reading_a_data_directory_that_never_recorded_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let error = CallLog::open_to_read(dir.path()).unwrap_err();
        assert!(matches!(error, CallLogError::NothingRecorded(_)), "{error}");
        assert!(error.to_string().contains("recordHookCalls"));
    }
}
