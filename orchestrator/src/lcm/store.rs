//! The lifecycle store: packages as projects own them, NS instances and
//! operation occurrences, in one SQLite file of the data directory (WAL,
//! durable across restarts). Rows are JSON bodies beside the columns that
//! queries filter on. Starting an operation checks that none is open on
//! its NS instance and inserts it in one immediate transaction, so two
//! requests can never both start one.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::model::{NsInstance, NsState, OpOccurrence, OperationState, PackageRecord, text_of};
use crate::wal;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS packages (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    nsd_id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (project_id, nsd_id)
);
CREATE TABLE IF NOT EXISTS ns_instances (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    package_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS op_occs (
    id TEXT PRIMARY KEY,
    ns_instance_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS op_occs_by_instance ON op_occs (ns_instance_id);
";

// A parameter compared with an indexed column is written `+?1`: SQLite
// built with STAT4 re-prepares a statement whose plan might depend on a
// bare parameter's value each time the value changes; the unary plus keeps
// the index and the plan (see the record store).

/// NS instances from a position on, in the order they were created.
const NS_AFTER: &str = "SELECT rowid, body FROM ns_instances WHERE rowid > ?1 ORDER BY rowid";
/// Operations from a position on, in the order they started.
const OPERATIONS_AFTER: &str = "SELECT rowid, body FROM op_occs WHERE rowid > ?1 ORDER BY rowid";
/// The operations of one NS instance, in the order they started.
const OPERATIONS_OF: &str = "SELECT body FROM op_occs WHERE ns_instance_id = +?1 ORDER BY rowid";
/// The id and state of the operation open on an NS instance.
const OPEN_OPERATION: &str = "SELECT id, state FROM op_occs WHERE ns_instance_id = +?1 \
                              AND state IN ('PROCESSING', 'ROLLING_BACK', 'FAILED_TEMP') LIMIT 1";

/// Why the lifecycle store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LcmStoreError {
    /// Another operation holds the NS instance.
    #[error("NS instance {ns_instance_id} has operation {operation_id} open ({state:?})")]
    OperationOpen {
        /// The instance.
        ns_instance_id: String,
        /// The open operation.
        operation_id: String,
        /// Its state.
        state: OperationState,
    },
    /// The NS instance is no longer in the state its task was validated
    /// against (another operation changed it meanwhile), or is gone.
    #[error("NS instance {ns_instance_id} is {} now", .state.as_ref().map_or("gone".to_owned(), text_of))]
    StateChanged {
        /// The instance.
        ns_instance_id: String,
        /// Its state now, when it still exists.
        state: Option<NsState>,
    },
    /// The database failed.
    #[error("lifecycle store: {0}")]
    Backend(String),
}

fn backend(error: impl std::fmt::Display) -> LcmStoreError {
    LcmStoreError::Backend(error.to_string())
}

/// The store. Cheap to clone; clones share the connection. Each call is one
/// statement or one short transaction under the connection's lock (its
/// write-ahead log is checkpointed from a connection of its own), so async
/// callers make the single-row calls in place.
#[derive(Clone)]
pub struct LcmStore {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for LcmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcmStore").finish_non_exhaustive()
    }
}

fn to_body(row: &impl Serialize) -> Result<String, LcmStoreError> {
    serde_json::to_string(row).map_err(backend)
}

fn from_body<T: DeserializeOwned>(body: &str) -> Result<T, LcmStoreError> {
    serde_json::from_str(body).map_err(|error| backend(format!("unreadable row: {error}")))
}

fn rows<T: DeserializeOwned>(
    connection: &Connection,
    sql: &str,
    key: &[&dyn rusqlite::ToSql],
) -> Result<Vec<T>, LcmStoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let bodies = statement
        .query_map(key, |row| row.get::<_, String>(0))
        .map_err(backend)?;
    bodies.map(|body| from_body(&body.map_err(backend)?)).collect()
}

/// Runs a fixed statement through the connection's statement cache.
fn execute(connection: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, LcmStoreError> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(backend)
}

/// The first row a fixed statement finds, through the statement cache.
fn query_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, map))
}

/// A page of a table read in creation order.
#[derive(Debug)]
pub struct Listed<T> {
    /// The rows kept, at most the page's length.
    pub items: Vec<T>,
    /// When more rows follow that would be kept: the position of the
    /// page's last row, where the next page starts.
    pub more_after: Option<i64>,
}

/// The first `limit` rows after position `after` that `keep` keeps
/// (`select` reads positions and bodies from `?1` on): rows are read
/// until the page is full and one more kept row shows that another page
/// follows.
fn listed<T: DeserializeOwned>(
    connection: &Connection,
    select: &str,
    after: i64,
    limit: usize,
    mut keep: impl FnMut(&T) -> bool,
) -> Result<Listed<T>, LcmStoreError> {
    let mut statement = connection.prepare_cached(select).map_err(backend)?;
    let mut rows = statement.query([after]).map_err(backend)?;
    let mut items = Vec::new();
    let mut last = after;
    while let Some(row) = rows.next().map_err(backend)? {
        let position: i64 = row.get(0).map_err(backend)?;
        let body = row.get_ref(1).and_then(|body| Ok(body.as_str()?)).map_err(backend)?;
        let item: T = from_body(body)?;
        if !keep(&item) {
            continue;
        }
        if items.len() == limit {
            return Ok(Listed {
                items,
                more_after: Some(last),
            });
        }
        last = position;
        items.push(item);
    }
    Ok(Listed {
        items,
        more_after: None,
    })
}

fn row<T: DeserializeOwned>(connection: &Connection, sql: &str, key: &str) -> Result<Option<T>, LcmStoreError> {
    let body: Option<String> = connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row([key], |row| row.get(0)))
        .optional()
        .map_err(backend)?;
    body.map(|body| from_body(&body)).transpose()
}

impl LcmStore {
    /// Opens (creating if needed) the store in this file.
    pub fn open(path: &Path) -> Result<Self, LcmStoreError> {
        let connection = Connection::open(path).map_err(|error| backend(format!("{}: {error}", path.display())))?;
        wal::set_up(&connection)
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(|error| backend(format!("{}: {error}", path.display())))?;
        let connection = Arc::new(Mutex::new(connection));
        wal::checkpoint_beside(path, Arc::downgrade(&connection))
            .map_err(|error| backend(format!("{}: {error}", path.display())))?;
        Ok(Self { connection })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // Each call completes its statement or transaction under the lock.
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a package.
    pub fn insert_package(&self, package: &PackageRecord) -> Result<(), LcmStoreError> {
        execute(
            &self.connection(),
            "INSERT INTO packages (id, project_id, nsd_id, body) VALUES (?1, ?2, ?3, ?4)",
            params![package.id, package.project_id, package.nsd.id, to_body(package)?],
        )
        .map(drop)
    }

    /// A package by id.
    pub fn package(&self, id: &str) -> Result<Option<PackageRecord>, LcmStoreError> {
        row(&self.connection(), "SELECT body FROM packages WHERE id = ?1", id)
    }

    /// The package of a project holding an NSD.
    pub fn package_of(&self, project_id: &str, nsd_id: &str) -> Result<Option<PackageRecord>, LcmStoreError> {
        let connection = self.connection();
        let body: Option<String> = query_row(
            &connection,
            "SELECT body FROM packages WHERE project_id = ?1 AND nsd_id = ?2",
            [project_id, nsd_id],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
        body.map(|body| from_body(&body)).transpose()
    }

    /// Every package, in onboarding order.
    pub fn packages(&self) -> Result<Vec<PackageRecord>, LcmStoreError> {
        rows(&self.connection(), "SELECT body FROM packages ORDER BY rowid", &[])
    }

    /// Deletes a package unless an NS instance uses it; returns whether it
    /// was deleted (false: in use).
    pub fn delete_package(&self, id: &str) -> Result<bool, LcmStoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let in_use: bool = query_row(
            &transaction,
            "SELECT COUNT(*) > 0 FROM ns_instances WHERE package_id = ?1",
            [id],
            |row| row.get(0),
        )
        .map_err(backend)?;
        if in_use {
            return Ok(false);
        }
        execute(&transaction, "DELETE FROM packages WHERE id = ?1", [id])?;
        transaction.commit().map_err(backend)?;
        Ok(true)
    }

    /// Whether an NS instance uses the package.
    pub fn package_in_use(&self, id: &str) -> Result<bool, LcmStoreError> {
        query_row(
            &self.connection(),
            "SELECT COUNT(*) > 0 FROM ns_instances WHERE package_id = ?1",
            [id],
            |row| row.get(0),
        )
        .map_err(backend)
    }

    /// Whether a project owns packages or NS instances.
    pub fn project_in_use(&self, project_id: &str) -> Result<bool, LcmStoreError> {
        query_row(
            &self.connection(),
            "SELECT (SELECT COUNT(*) FROM packages WHERE project_id = ?1) \
             + (SELECT COUNT(*) FROM ns_instances WHERE project_id = ?1) > 0",
            [project_id],
            |row| row.get(0),
        )
        .map_err(backend)
    }

    /// Stores a new NS instance or replaces one.
    pub fn put_ns(&self, instance: &NsInstance) -> Result<(), LcmStoreError> {
        execute(
            &self.connection(),
            "INSERT INTO ns_instances (id, project_id, package_id, body) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params![
                instance.id,
                instance.project_id,
                instance.package_id,
                to_body(instance)?
            ],
        )
        .map(drop)
    }

    /// An NS instance by id.
    pub fn ns(&self, id: &str) -> Result<Option<NsInstance>, LcmStoreError> {
        row(&self.connection(), "SELECT body FROM ns_instances WHERE id = ?1", id)
    }

    /// A page of the NS instances `keep` keeps, in creation order, after
    /// position `after` (0: from the first).
    pub fn ns_page(
        &self,
        after: i64,
        limit: usize,
        keep: impl FnMut(&NsInstance) -> bool,
    ) -> Result<Listed<NsInstance>, LcmStoreError> {
        listed(&self.connection(), NS_AFTER, after, limit, keep)
    }

    /// Every NS instance, in creation order.
    pub fn all_ns(&self) -> Result<Vec<NsInstance>, LcmStoreError> {
        rows(&self.connection(), "SELECT body FROM ns_instances ORDER BY rowid", &[])
    }

    /// Deletes an NS instance unless an operation is open on it; returns
    /// the open operation's id when one is.
    pub fn delete_ns(&self, id: &str) -> Result<Option<String>, LcmStoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        if let Some((operation, _)) = open_operation(&transaction, id)? {
            return Ok(Some(operation));
        }
        execute(&transaction, "DELETE FROM ns_instances WHERE id = ?1", [id])?;
        transaction.commit().map_err(backend)?;
        Ok(None)
    }

    /// Starts an operation: stores it unless another one is open on its NS
    /// instance or the instance is no longer in `ns_state`, the state its
    /// task was validated against (checked in the same transaction, so two
    /// requests validated together cannot both start).
    pub fn begin_operation(&self, operation: &OpOccurrence, ns_state: NsState) -> Result<(), LcmStoreError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        if let Some((operation_id, state)) = open_operation(&transaction, &operation.ns_instance_id)? {
            return Err(LcmStoreError::OperationOpen {
                ns_instance_id: operation.ns_instance_id.clone(),
                operation_id,
                state,
            });
        }
        let instance: Option<NsInstance> = row(
            &transaction,
            "SELECT body FROM ns_instances WHERE id = ?1",
            &operation.ns_instance_id,
        )?;
        if instance.as_ref().map(|instance| instance.ns_state) != Some(ns_state) {
            return Err(LcmStoreError::StateChanged {
                ns_instance_id: operation.ns_instance_id.clone(),
                state: instance.map(|instance| instance.ns_state),
            });
        }
        execute(
            &transaction,
            "INSERT INTO op_occs (id, ns_instance_id, state, body) VALUES (?1, ?2, ?3, ?4)",
            params![
                operation.id,
                operation.ns_instance_id,
                text_of(&operation.operation_state),
                to_body(operation)?
            ],
        )?;
        transaction.commit().map_err(backend)
    }

    /// Replaces an operation (its state, error, ...) and, when given, its
    /// NS instance, in one transaction.
    pub fn update_operation(
        &self,
        operation: &OpOccurrence,
        instance: Option<&NsInstance>,
    ) -> Result<(), LcmStoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        execute(
            &transaction,
            "UPDATE op_occs SET state = ?2, body = ?3 WHERE id = ?1",
            params![operation.id, text_of(&operation.operation_state), to_body(operation)?],
        )?;
        if let Some(instance) = instance {
            execute(
                &transaction,
                "UPDATE ns_instances SET body = ?2 WHERE id = ?1",
                params![instance.id, to_body(instance)?],
            )?;
        }
        transaction.commit().map_err(backend)
    }

    /// An operation by id.
    pub fn operation(&self, id: &str) -> Result<Option<OpOccurrence>, LcmStoreError> {
        row(&self.connection(), "SELECT body FROM op_occs WHERE id = ?1", id)
    }

    /// Every operation, in the order they started.
    pub fn operations(&self) -> Result<Vec<OpOccurrence>, LcmStoreError> {
        rows(&self.connection(), "SELECT body FROM op_occs ORDER BY rowid", &[])
    }

    /// A page of the operations `keep` keeps, in the order they started,
    /// after position `after` (0: from the first).
    pub fn operations_page(
        &self,
        after: i64,
        limit: usize,
        keep: impl FnMut(&OpOccurrence) -> bool,
    ) -> Result<Listed<OpOccurrence>, LcmStoreError> {
        listed(&self.connection(), OPERATIONS_AFTER, after, limit, keep)
    }

    /// The operations of one NS instance, in the order they started.
    pub fn operations_of(&self, ns_instance_id: &str) -> Result<Vec<OpOccurrence>, LcmStoreError> {
        rows(&self.connection(), OPERATIONS_OF, &[&ns_instance_id])
    }

    /// The operation open on an NS instance, if any.
    pub fn open_operation_of(&self, ns_instance_id: &str) -> Result<Option<OpOccurrence>, LcmStoreError> {
        let connection = self.connection();
        match open_operation(&connection, ns_instance_id)? {
            Some((id, _)) => row(&connection, "SELECT body FROM op_occs WHERE id = ?1", &id),
            None => Ok(None),
        }
    }
}

/// The id and state of the operation open on an NS instance.
fn open_operation(
    connection: &Connection,
    ns_instance_id: &str,
) -> Result<Option<(String, OperationState)>, LcmStoreError> {
    let open: Option<(String, String)> = query_row(connection, OPEN_OPERATION, [ns_instance_id], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .optional()
    .map_err(backend)?;
    open.map(|(id, state)| {
        super::model::parse_text(&state)
            .map(|state| (id, state))
            .ok_or_else(|| backend(format!("unknown operation state {state:?}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lcm::model::{OnFailure, OperationType, TaskRequest};

    #[test]
    fn keyed_statements_stay_prepared_whatever_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = LcmStore::open(&dir.path().join("lcm.sqlite")).unwrap();
        let connection = store.connection();
        // SQLite plans for an empty table without looking at the keys.
        connection
            .execute(
                "INSERT INTO op_occs (id, ns_instance_id, state, body) VALUES ('o', 'a', 'PROCESSING', '{}')",
                [],
            )
            .unwrap();
        for select in [OPERATIONS_OF, OPEN_OPERATION, NS_AFTER, OPERATIONS_AFTER] {
            assert_eq!(
                wal::times_prepared_again(&connection, select, &["a", "b", "c"]),
                0,
                "prepared again for a new key: {select}"
            );
        }
    }

    fn instance(id: &str) -> NsInstance {
        NsInstance {
            id: id.into(),
            project_id: "p".into(),
            ns_instance_name: id.into(),
            ns_instance_description: String::new(),
            nsd_id: "v/n/1".into(),
            package_id: "pkg".into(),
            ns_state: NsState::NotInstantiated,
            created_at: "2026-12-04T21:43:42Z".into(),
            record_hook_calls: false,
        }
    }

    #[test]
    fn a_page_reads_from_its_position_and_says_whether_another_follows() {
        let dir = tempfile::tempdir().unwrap();
        let store = LcmStore::open(&dir.path().join("lcm.sqlite")).unwrap();
        for id in ["a", "b", "c", "d", "e"] {
            store.put_ns(&instance(id)).unwrap();
        }
        let names = |listed: &Listed<NsInstance>| listed.items.iter().map(|ns| ns.id.clone()).collect::<Vec<_>>();
        let mut pages = Vec::new();
        let mut after = 0;
        loop {
            let listed = store.ns_page(after, 2, |_| true).unwrap();
            pages.push(names(&listed));
            match listed.more_after {
                Some(last) => after = last,
                None => break,
            }
        }
        assert_eq!(pages, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);

        // Kept rows only; a full last page links nowhere.
        let not_c = |ns: &NsInstance| ns.id != "c";
        let first = store.ns_page(0, 2, not_c).unwrap();
        assert_eq!(names(&first), ["a", "b"]);
        let second = store.ns_page(first.more_after.unwrap(), 2, not_c).unwrap();
        assert_eq!(names(&second), ["d", "e"]);
        assert_eq!(second.more_after, None);

        // A row deleted before the next page is read shifts nothing.
        store.delete_ns("b").unwrap();
        let after_delete = store.ns_page(first.more_after.unwrap(), 2, |_| true).unwrap();
        assert_eq!(names(&after_delete), ["c", "d"]);
    }

    fn operation(id: &str, ns: &str, state: OperationState) -> OpOccurrence {
        OpOccurrence {
            id: id.into(),
            operation_state: state,
            state_entered_time: "2026-12-04T21:43:42Z".into(),
            ns_instance_id: ns.into(),
            project_id: "p".into(),
            lcm_operation_type: OperationType::Instantiate,
            start_time: "2026-12-04T21:43:42Z".into(),
            is_automatic_invocation: false,
            operation_params: json!({}),
            on_failure: OnFailure::Rollback,
            is_cancel_pending: false,
            cancel_mode: None,
            error: None,
            task: TaskRequest::Instantiate { placement: None },
            vnf_instances_before: Vec::new(),
        }
    }

    #[test]
    fn one_open_operation_per_instance_and_it_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lcm.sqlite");
        let store = LcmStore::open(&path).unwrap();
        store.put_ns(&instance("ns")).unwrap();
        store
            .begin_operation(
                &operation("op1", "ns", OperationState::Processing),
                NsState::NotInstantiated,
            )
            .unwrap();
        let refused = store
            .begin_operation(
                &operation("op2", "ns", OperationState::Processing),
                NsState::NotInstantiated,
            )
            .unwrap_err();
        assert!(matches!(refused, LcmStoreError::OperationOpen { ref operation_id, .. } if operation_id == "op1"));
        assert!(
            store.operation("op2").unwrap().is_none(),
            "a refused start stores nothing"
        );
        assert_eq!(store.delete_ns("ns").unwrap().as_deref(), Some("op1"));
        assert!(!store.delete_package("pkg").unwrap(), "a package in use stays");

        let mut done = operation("op1", "ns", OperationState::Completed);
        done.error = None;
        store.update_operation(&done, None).unwrap();
        drop(store);
        let store = LcmStore::open(&path).unwrap();
        assert_eq!(
            store.operation("op1").unwrap().unwrap().operation_state,
            OperationState::Completed
        );
        // A task validated against a state the instance has left is refused.
        let stale = store
            .begin_operation(
                &operation("op2", "ns", OperationState::Processing),
                NsState::Instantiated,
            )
            .unwrap_err();
        assert!(
            matches!(
                stale,
                LcmStoreError::StateChanged {
                    state: Some(NsState::NotInstantiated),
                    ..
                }
            ),
            "{stale:?}"
        );
        assert!(store.operation("op2").unwrap().is_none());
        store
            .begin_operation(
                &operation("op2", "ns", OperationState::Processing),
                NsState::NotInstantiated,
            )
            .unwrap();
        assert_eq!(store.open_operation_of("ns").unwrap().unwrap().id, "op2");
        assert_eq!(store.operations().unwrap().len(), 2);
    }
}
