//! Authentication and roles for `wasmano serve`'s REST API: projects, bearer
//! tokens (opaque, random, stored only as SHA-256 hashes, with expiry and
//! revocation), roles, and the bootstrap admin token.
//!
//! A token is either system-wide (no project) or scoped to one project. Its
//! role decides what it may do: a system admin may do everything, a system
//! viewer may read everything, a project operator may read and change its
//! project's resources, a project viewer may only read them. The secret of a
//! token is shown once, when it is issued; the store keeps only its hash.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    project_id TEXT,
    description TEXT,
    expires_at_s BIGINT,
    created_at_s BIGINT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
";

/// Prefix of every secret this store issues, so a leaked one is recognisable.
const SECRET_PREFIX: &str = "wmn_";

/// Random bytes in a secret issued here.
const SECRET_BYTES: usize = 32;

/// Fewest characters a bootstrap token read from a file may have.
const MIN_BOOTSTRAP_SECRET_CHARS: usize = 32;

/// Longest project name.
const MAX_PROJECT_NAME_CHARS: usize = 64;

/// 9999-12-31T23:59:59Z: expiries are clamped here so they stay printable.
const LATEST_EXPIRY_S: i64 = 253_402_300_799;

/// Description of the admin token `bootstrap` issues.
const BOOTSTRAP_DESCRIPTION: &str = "bootstrap admin token";

/// What a token may do, together with its scope (system or one project).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including the admin API; system scope only.
    Admin,
    /// Reads and changes the resources of its project; project scope only.
    Operator,
    /// Reads: everything in system scope, its project's resources otherwise.
    Viewer,
}

impl Role {
    /// The role's name: `admin`, `operator` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    /// Parses `admin`, `operator` or `viewer`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "admin" => Ok(Self::Admin),
            "operator" => Ok(Self::Operator),
            "viewer" => Ok(Self::Viewer),
            other => Err(format!("unknown role `{other}` (expected admin, operator or viewer)")),
        }
    }
}

/// Who is calling: a valid token's role and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The id of the token presented (never its secret).
    pub token_id: String,
    /// The token's role.
    pub role: Role,
    /// The project the token is scoped to; `None` is system scope.
    pub project_id: Option<String>,
}

impl Principal {
    /// Whether the token is system-wide rather than scoped to a project.
    pub fn is_system(&self) -> bool {
        self.project_id.is_none()
    }

    /// May read resources of `project`: system admin and system viewer read
    /// everything; project roles only their own project. For resources with
    /// no project (e.g. the VIMs), ask [`Principal::is_system`].
    pub fn may_read(&self, project: &str) -> bool {
        match &self.project_id {
            None => matches!(self.role, Role::Admin | Role::Viewer),
            Some(own) => own == project,
        }
    }

    /// May change resources of `project`: system admin, or operator of that
    /// project. For resources with no project, ask [`Principal::is_admin`].
    pub fn may_write(&self, project: &str) -> bool {
        match (&self.project_id, self.role) {
            (None, Role::Admin) => true,
            (Some(own), Role::Operator) => own == project,
            _ => false,
        }
    }

    /// System admin only (admin API).
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && self.is_system()
    }
}

/// A project: the scope of project tokens and of the resources they own.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Its id, a UUID.
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// When it was created, RFC 3339 UTC (e.g. `2026-12-04T21:43:42Z`).
    pub created_at: String,
}

/// What the store tells about a token: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// Its id, a UUID.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Its project; `None` is system scope.
    pub project_id: Option<String>,
    /// What it is for, as told when it was issued.
    pub description: Option<String>,
    /// When it stops being accepted, RFC 3339 UTC; `None` is never.
    pub expires_at: Option<String>,
    /// When it was issued, RFC 3339 UTC.
    pub created_at: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// What a token to issue should be.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its role.
    pub role: Role,
    /// Its project; `None` is system scope.
    pub project_id: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// How long it is accepted from now; `None` is forever.
    pub expires_in: Option<Duration>,
}

/// Why a presented token is refused (each is a 401 to the caller; the
/// variants feed a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No `Authorization` header.
    #[error("no token")]
    Missing,
    /// Not a bearer token, or not one issued here.
    #[error("invalid token")]
    Invalid,
    /// Issued here, but past its expiry.
    #[error("expired token")]
    Expired,
    /// Issued here, but revoked.
    #[error("revoked token")]
    Revoked,
}

impl AuthFailure {
    /// The failure as a metric label: `missing`, `invalid`, `expired` or
    /// `revoked`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// Why the store refused or failed a change.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Another project already has this name.
    #[error("a project named `{0}` already exists")]
    NameTaken(String),
    /// A project name that is empty, too long or has characters outside
    /// `[A-Za-z0-9._-]`.
    #[error("invalid project name `{0}`: expected 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    InvalidName(String),
    /// No project has this id.
    #[error("unknown project `{0}`")]
    UnknownProject(String),
    /// A role and scope that do not go together (the message says why).
    #[error("invalid token scope: {0}")]
    InvalidScope(String),
    /// SQLite or the file system failed (the message names the file).
    #[error("access store: {0}")]
    Backend(String),
}

/// What authentication needs to know about a token, cached by hash.
#[derive(Debug, Clone)]
struct CachedToken {
    id: String,
    role: Role,
    project_id: Option<String>,
    expires_at_s: Option<i64>,
    revoked: bool,
}

/// A token's row, as inserted.
struct TokenRow {
    id: String,
    hash: String,
    role: Role,
    project_id: Option<String>,
    description: Option<String>,
    expires_at_s: Option<i64>,
    created_at_s: i64,
}

impl TokenRow {
    fn new(secret: &str, role: Role, project_id: Option<String>, description: Option<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            hash: secret_hash(secret),
            role,
            project_id,
            description,
            expires_at_s: None,
            created_at_s: now_s(),
        }
    }

    fn insert(&self, connection: &Connection) -> rusqlite::Result<()> {
        connection
            .execute(
                "INSERT INTO tokens (id, hash, role, project_id, description, expires_at_s, created_at_s, revoked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
                params![
                    self.id,
                    self.hash,
                    self.role.as_str(),
                    self.project_id,
                    self.description,
                    self.expires_at_s,
                    self.created_at_s
                ],
            )
            .map(|_| ())
    }

    fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            role: self.role,
            project_id: self.project_id.clone(),
            description: self.description.clone(),
            expires_at: self.expires_at_s.map(rfc3339),
            created_at: rfc3339(self.created_at_s),
            revoked: false,
        }
    }

    fn cached(self) -> (String, CachedToken) {
        let token = CachedToken {
            id: self.id,
            role: self.role,
            project_id: self.project_id,
            expires_at_s: self.expires_at_s,
            revoked: false,
        };
        (self.hash, token)
    }
}

/// The store. Cheap to clone (Arc inside). Tokens are cached in memory so
/// `authenticate` never touches the disk; every change is written to SQLite
/// first, then to the cache.
#[derive(Clone)]
pub struct AccessStore {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// Held across a change's SQLite write and cache update, so the cache
    /// sees changes in the order SQLite does.
    connection: Mutex<Connection>,
    /// Every token issued here, revoked ones included, by secret hash.
    tokens: RwLock<HashMap<String, CachedToken>>,
}

impl std::fmt::Debug for AccessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl AccessStore {
    /// Opens (creating) the SQLite file at `path` (WAL, synchronous=NORMAL,
    /// busy_timeout 5000; tables projects(id, name UNIQUE, created_at) and
    /// tokens(id, hash UNIQUE, role, project_id, description, expires_at_s,
    /// created_at_s, revoked)).
    pub fn open(path: &Path) -> Result<Self, AccessError> {
        let backend = |error: &dyn std::fmt::Display| AccessError::Backend(format!("{}: {error}", path.display()));
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|error| AccessError::Backend(format!("{}: {error}", parent.display())))?;
        }
        let connection = Connection::open(path).map_err(|error| backend(&error))?;
        // WAL with synchronous=NORMAL: a commit survives a process crash.
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(|error| backend(&error))?;
        let tokens = load_tokens(&connection).map_err(|error| backend(&error))?;
        tracing::debug!(path = %path.display(), tokens = tokens.len(), "opened the access store");
        Ok(Self {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                connection: Mutex::new(connection),
                tokens: RwLock::new(tokens),
            }),
        })
    }

    /// Creates a project named `name` (trimmed; 1 to 64 characters of
    /// `[A-Za-z0-9._-]`, else `InvalidName`; `NameTaken` if in use).
    pub fn create_project(&self, name: &str) -> Result<Project, AccessError> {
        let name = name.trim();
        if !is_valid_project_name(name) {
            return Err(AccessError::InvalidName(name.to_owned()));
        }
        let project = Project {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            created_at: rfc3339(now_s()),
        };
        let connection = self.connection();
        let inserted = connection.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![project.id, project.name, project.created_at],
        );
        match inserted {
            Ok(_) => {
                tracing::info!(project = %project.id, name = %project.name, "created project");
                Ok(project)
            }
            Err(error) if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Err(AccessError::NameTaken(project.name))
            }
            Err(error) => Err(self.backend(error)),
        }
    }

    /// Every project, by name.
    pub fn projects(&self) -> Result<Vec<Project>, AccessError> {
        let connection = self.connection();
        let read = || -> rusqlite::Result<Vec<Project>> {
            let mut statement = connection.prepare("SELECT id, name, created_at FROM projects ORDER BY name")?;
            let rows = statement.query_map([], project_from_row)?;
            rows.collect()
        };
        read().map_err(|error| self.backend(error))
    }

    /// The project with this id, if any.
    pub fn project(&self, id: &str) -> Result<Option<Project>, AccessError> {
        self.connection()
            .query_row(
                "SELECT id, name, created_at FROM projects WHERE id = ?1",
                [id],
                project_from_row,
            )
            .optional()
            .map_err(|error| self.backend(error))
    }

    /// Deletes the project and revokes its tokens; false if unknown.
    pub fn delete_project(&self, id: &str) -> Result<bool, AccessError> {
        let mut connection = self.connection();
        let delete = |connection: &mut Connection| -> rusqlite::Result<Option<usize>> {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if transaction.execute("DELETE FROM projects WHERE id = ?1", [id])? == 0 {
                return Ok(None);
            }
            let revoked = transaction.execute(
                "UPDATE tokens SET revoked = 1 WHERE project_id = ?1 AND revoked = 0",
                [id],
            )?;
            transaction.commit()?;
            Ok(Some(revoked))
        };
        let Some(revoked) = delete(&mut connection).map_err(|error| self.backend(error))? else {
            return Ok(false);
        };
        self.tokens_mut()
            .values_mut()
            .filter(|token| token.project_id.as_deref() == Some(id))
            .for_each(|token| token.revoked = true);
        tracing::info!(project = %id, revoked_tokens = revoked, "deleted project");
        Ok(true)
    }

    /// Issues a token: returns its info and the secret, which is never
    /// stored or shown again. Scope rules: admin => no project; operator =>
    /// a project; viewer => either. Unknown project => `UnknownProject`.
    pub fn issue(&self, new: NewToken) -> Result<(TokenInfo, String), AccessError> {
        check_scope(new.role, new.project_id.as_deref())?;
        let secret = new_secret();
        let mut row = TokenRow::new(&secret, new.role, new.project_id, new.description);
        row.expires_at_s = new.expires_in.map(|lifetime| expiry(row.created_at_s, lifetime));
        let mut connection = self.connection();
        let insert = |connection: &mut Connection| -> rusqlite::Result<bool> {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(project) = &row.project_id {
                let known = transaction
                    .query_row("SELECT 1 FROM projects WHERE id = ?1", [project], |_| Ok(()))
                    .optional()?
                    .is_some();
                if !known {
                    return Ok(false);
                }
            }
            row.insert(&transaction)?;
            transaction.commit()?;
            Ok(true)
        };
        if !insert(&mut connection).map_err(|error| self.backend(error))? {
            return Err(AccessError::UnknownProject(row.project_id.unwrap_or_default()));
        }
        let info = row.info();
        let (hash, token) = row.cached();
        self.tokens_mut().insert(hash, token);
        tracing::info!(
            token = %info.id,
            role = info.role.as_str(),
            project = info.project_id.as_deref().unwrap_or("-"),
            "issued token"
        );
        Ok((info, secret))
    }

    /// Every token issued here, revoked ones included, by creation time then
    /// id; never secrets or hashes.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AccessError> {
        let connection = self.connection();
        let read = || -> rusqlite::Result<Vec<TokenInfo>> {
            let mut statement = connection.prepare(
                "SELECT id, role, project_id, description, expires_at_s, created_at_s, revoked
                 FROM tokens ORDER BY created_at_s, id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(TokenInfo {
                    id: row.get(0)?,
                    role: role_column(row, 1)?,
                    project_id: row.get(2)?,
                    description: row.get(3)?,
                    expires_at: row.get::<_, Option<i64>>(4)?.map(rfc3339),
                    created_at: rfc3339(row.get(5)?),
                    revoked: row.get(6)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|error| self.backend(error))
    }

    /// Revokes a token; false if unknown. Refused (401 Revoked) from the
    /// next authenticate on.
    pub fn revoke(&self, id: &str) -> Result<bool, AccessError> {
        let connection = self.connection();
        let changed = connection
            .execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])
            .map_err(|error| self.backend(error))?;
        if changed == 0 {
            return Ok(false);
        }
        if let Some(token) = self.tokens_mut().values_mut().find(|token| token.id == id) {
            token.revoked = true;
        }
        tracing::info!(token = %id, "revoked token");
        Ok(true)
    }

    /// Checks a presented secret (the part after "Bearer "): Invalid if not
    /// issued here, Expired past expires_at, Revoked if revoked.
    pub fn authenticate(&self, secret: &str) -> Result<Principal, AuthFailure> {
        let tokens = self.shared.tokens.read().unwrap_or_else(PoisonError::into_inner);
        let token = tokens.get(&secret_hash(secret)).ok_or(AuthFailure::Invalid)?;
        if token.revoked {
            return Err(AuthFailure::Revoked);
        }
        if token.expires_at_s.is_some_and(|expires_at_s| now_s() >= expires_at_s) {
            return Err(AuthFailure::Expired);
        }
        Ok(Principal {
            token_id: token.id.clone(),
            role: token.role,
            project_id: token.project_id.clone(),
        })
    }

    /// On first start (no admin token was ever issued): if `file` is given
    /// and holds a token (trimmed, at least 32 characters), that secret
    /// becomes the system admin token; if `file` is given but missing or
    /// empty, a new secret is issued and written to it with mode 0600
    /// (create_new semantics; refuse to follow symlinks); with no file the
    /// new secret is returned so the caller can print it once. Returns the
    /// secret it issued when it generated one (None when an admin token
    /// already existed or the secret came from the file). Later starts
    /// change nothing.
    pub fn bootstrap(&self, file: Option<&Path>) -> Result<Option<String>, AccessError> {
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| self.backend(error))?;
        let admin_issued = transaction
            .query_row("SELECT 1 FROM tokens WHERE role = 'admin' LIMIT 1", [], |_| Ok(()))
            .optional()
            .map_err(|error| self.backend(error))?
            .is_some();
        if admin_issued {
            return Ok(None);
        }
        let (secret, generated) = match file {
            None => (new_secret(), true),
            Some(file) => match read_token_file(file)? {
                TokenFile::Holds(secret) => (secret, false),
                TokenFile::Empty => {
                    fs::remove_file(file).map_err(|error| io_error(file, "cannot replace the empty file", &error))?;
                    (write_token_file(file)?, true)
                }
                TokenFile::Missing => (write_token_file(file)?, true),
            },
        };
        let row = TokenRow::new(&secret, Role::Admin, None, Some(BOOTSTRAP_DESCRIPTION.to_owned()));
        let stored = row.insert(&transaction).and_then(|()| transaction.commit());
        if let Err(error) = stored {
            // Without the token, the file would hold a secret nobody accepts.
            if let Some(file) = file.filter(|_| generated)
                && let Err(removal) = fs::remove_file(file)
            {
                tracing::warn!(file = %file.display(), "cannot remove the unused admin token file: {removal}");
            }
            return Err(self.backend(error));
        }
        let id = row.id.clone();
        let (hash, token) = row.cached();
        self.tokens_mut().insert(hash, token);
        match file {
            Some(file) if generated => {
                tracing::info!(token = %id, file = %file.display(), "issued the admin token into its file");
            }
            Some(file) => tracing::info!(token = %id, file = %file.display(), "took the admin token from its file"),
            None => tracing::info!(token = %id, "issued the admin token"),
        }
        Ok(generated.then_some(secret))
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic cannot leave the connection half-changed: an unfinished
        // transaction rolls back when dropped.
        self.shared.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tokens_mut(&self) -> RwLockWriteGuard<'_, HashMap<String, CachedToken>> {
        self.shared.tokens.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn backend(&self, error: impl std::fmt::Display) -> AccessError {
        AccessError::Backend(format!("{}: {error}", self.shared.path.display()))
    }
}

/// The token of an `Authorization` header value: scheme `Bearer`,
/// case-insensitive (RFC 7235), one space, a non-empty token68. Anything
/// else is Invalid; None header is Missing.
pub fn bearer_secret(header: Option<&str>) -> Result<&str, AuthFailure> {
    let header = header.ok_or(AuthFailure::Missing)?;
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") && is_token68(token) => Ok(token),
        _ => Err(AuthFailure::Invalid),
    }
}

/// `token68` of RFC 7235: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

fn is_valid_project_name(name: &str) -> bool {
    (1..=MAX_PROJECT_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

fn check_scope(role: Role, project_id: Option<&str>) -> Result<(), AccessError> {
    match (role, project_id) {
        (Role::Admin, Some(project)) => Err(AccessError::InvalidScope(format!(
            "an admin token is system-wide and cannot belong to project `{project}`"
        ))),
        (Role::Operator, None) => Err(AccessError::InvalidScope(
            "an operator token needs a project".to_owned(),
        )),
        _ => Ok(()),
    }
}

fn project_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
    })
}

/// A role column, refusing a name no role has.
fn role_column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Role> {
    row.get_ref(index)?.as_str()?.parse().map_err(|error: String| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, error.into())
    })
}

fn load_tokens(connection: &Connection) -> rusqlite::Result<HashMap<String, CachedToken>> {
    let mut statement = connection.prepare("SELECT hash, id, role, project_id, expires_at_s, revoked FROM tokens")?;
    let rows = statement.query_map([], |row| {
        let token = CachedToken {
            id: row.get(1)?,
            role: role_column(row, 2)?,
            project_id: row.get(3)?,
            expires_at_s: row.get(4)?,
            revoked: row.get(5)?,
        };
        Ok((row.get(0)?, token))
    })?;
    rows.collect()
}

/// A new secret: the prefix, then 32 random bytes from the OS-seeded thread
/// RNG, base64url without padding.
fn new_secret() -> String {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a secret: lowercase hex SHA-256 of the whole secret.
fn secret_hash(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    Sha256::digest(secret.as_bytes())
        .iter()
        .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]])
        .map(char::from)
        .collect()
}

/// What a bootstrap token file holds.
enum TokenFile {
    Missing,
    Empty,
    Holds(String),
}

/// Reads a bootstrap token file, refusing a symbolic link or anything but a
/// regular file, and a token too short or unusable in a header.
fn read_token_file(path: &Path) -> Result<TokenFile, AccessError> {
    let linked = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(TokenFile::Missing),
        Err(error) => return Err(io_error(path, "cannot inspect the admin token file", &error)),
    };
    if linked.file_type().is_symlink() {
        return Err(AccessError::Backend(format!(
            "{}: the admin token file is a symbolic link; refusing to follow it",
            path.display()
        )));
    }
    if !linked.is_file() {
        return Err(AccessError::Backend(format!(
            "{}: the admin token file is not a regular file",
            path.display()
        )));
    }
    let mut file = File::open(path).map_err(|error| io_error(path, "cannot open the admin token file", &error))?;
    let opened = file
        .metadata()
        .map_err(|error| io_error(path, "cannot inspect the admin token file", &error))?;
    // The path may have been swapped (for a link) between the two looks.
    if (opened.dev(), opened.ino()) != (linked.dev(), linked.ino()) {
        return Err(AccessError::Backend(format!(
            "{}: the admin token file changed while being read",
            path.display()
        )));
    }
    let mut contents = String::new();
    file.read_to_string(&mut contents)
        .map_err(|error| io_error(path, "cannot read the admin token file", &error))?;
    let secret = contents.trim();
    if secret.is_empty() {
        return Ok(TokenFile::Empty);
    }
    if secret.chars().count() < MIN_BOOTSTRAP_SECRET_CHARS || !is_token68(secret) {
        return Err(AccessError::Backend(format!(
            "{}: the admin token must be at least {MIN_BOOTSTRAP_SECRET_CHARS} characters of A-Z, a-z, 0-9, \
             '-', '.', '_', '~', '+' or '/'",
            path.display()
        )));
    }
    if opened.mode() & 0o077 != 0 {
        tracing::warn!(file = %path.display(), "the admin token file is readable by others than its owner");
    }
    Ok(TokenFile::Holds(secret.to_owned()))
}

/// Writes a new secret into a new file readable by its owner only and
/// returns it. Creating never follows a link, not even a dangling one.
fn write_token_file(path: &Path) -> Result<String, AccessError> {
    let secret = new_secret();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| io_error(path, "cannot create the admin token file", &error))?;
    let written = file
        .write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(error) = written {
        drop(file);
        if let Err(removal) = fs::remove_file(path) {
            tracing::warn!(file = %path.display(), "cannot remove the incomplete admin token file: {removal}");
        }
        return Err(io_error(path, "cannot write the admin token file", &error));
    }
    Ok(secret)
}

fn io_error(path: &Path, what: &str, error: &std::io::Error) -> AccessError {
    AccessError::Backend(format!("{}: {what}: {error}", path.display()))
}

/// Seconds since the Unix epoch, now.
fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

/// When a token issued at `issued_at_s` and accepted for `lifetime` expires,
/// a started second counting whole.
fn expiry(issued_at_s: i64, lifetime: Duration) -> i64 {
    let seconds = lifetime
        .as_secs()
        .saturating_add(u64::from(lifetime.subsec_nanos() > 0));
    issued_at_s
        .saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX))
        .min(LATEST_EXPIRY_S)
}

/// Unix seconds as RFC 3339 UTC (`2026-12-04T21:43:42Z`); times before 1970
/// are written as the epoch.
fn rfc3339(unix_s: i64) -> String {
    crate::clock::rfc3339_from_unix(u64::try_from(unix_s).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn open_store() -> (tempfile::TempDir, AccessStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = AccessStore::open(&dir.path().join("access.db")).unwrap();
        (dir, store)
    }

    fn new_token(role: Role, project_id: Option<&str>) -> NewToken {
        NewToken {
            role,
            project_id: project_id.map(str::to_owned),
            description: Some("test".to_owned()),
            expires_in: None,
        }
    }

    fn principal(role: Role, project_id: Option<&str>) -> Principal {
        Principal {
            token_id: "t".to_owned(),
            role,
            project_id: project_id.map(str::to_owned),
        }
    }

    #[test]
    fn issued_tokens_authenticate_with_their_role_and_scope() {
        let (_dir, store) = open_store();
        let project = store.create_project("core").unwrap();
        let (admin, admin_secret) = store.issue(new_token(Role::Admin, None)).unwrap();
        let (operator, operator_secret) = store.issue(new_token(Role::Operator, Some(&project.id))).unwrap();

        assert!(admin_secret.starts_with("wmn_"));
        assert_eq!(admin_secret.len(), 4 + 43);
        assert_ne!(admin_secret, operator_secret);
        assert_eq!(
            store.authenticate(&admin_secret),
            Ok(Principal {
                token_id: admin.id,
                role: Role::Admin,
                project_id: None
            })
        );
        assert_eq!(
            store.authenticate(&operator_secret),
            Ok(Principal {
                token_id: operator.id,
                role: Role::Operator,
                project_id: Some(project.id)
            })
        );
        assert_eq!(operator.description.as_deref(), Some("test"));
        assert!(!operator.revoked);
    }

    #[test]
    fn wrong_revoked_and_expired_secrets_are_refused() {
        let (_dir, store) = open_store();
        let (_, secret) = store.issue(new_token(Role::Viewer, None)).unwrap();
        let (revoked, revoked_secret) = store.issue(new_token(Role::Viewer, None)).unwrap();
        let expiring = NewToken {
            expires_in: Some(Duration::ZERO),
            ..new_token(Role::Viewer, None)
        };
        let (expired, expired_secret) = store.issue(expiring).unwrap();
        let lasting = NewToken {
            expires_in: Some(Duration::from_secs(3600)),
            ..new_token(Role::Viewer, None)
        };
        let (_, lasting_secret) = store.issue(lasting).unwrap();

        assert_eq!(store.authenticate(&format!("{secret}x")), Err(AuthFailure::Invalid));
        assert_eq!(store.authenticate(""), Err(AuthFailure::Invalid));
        assert!(store.revoke(&revoked.id).unwrap());
        assert!(!store.revoke("no-such-token").unwrap());
        assert_eq!(store.authenticate(&revoked_secret), Err(AuthFailure::Revoked));
        assert_eq!(store.authenticate(&expired_secret), Err(AuthFailure::Expired));
        assert_eq!(expired.expires_at.as_deref(), Some(expired.created_at.as_str()));
        assert!(store.authenticate(&lasting_secret).is_ok());
        assert!(store.authenticate(&secret).is_ok());
    }

    #[test]
    fn secrets_are_stored_only_as_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.db");
        let store = AccessStore::open(&path).unwrap();
        let (_, secret) = store.issue(new_token(Role::Admin, None)).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        if let Ok(wal) = fs::read(dir.path().join("access.db-wal")) {
            bytes.extend(wal);
        }
        let contains = |needle: &str| bytes.windows(needle.len()).any(|window| window == needle.as_bytes());

        assert!(!contains(&secret));
        assert!(!contains(&secret[SECRET_PREFIX.len()..]));
        assert!(contains(&secret_hash(&secret)));
        assert!(!format!("{store:?}").contains(&secret_hash(&secret)));
    }

    #[test]
    fn tokens_and_revocations_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.db");
        let store = AccessStore::open(&path).unwrap();
        let project = store.create_project("edge").unwrap();
        let (kept, kept_secret) = store.issue(new_token(Role::Operator, Some(&project.id))).unwrap();
        let (revoked, revoked_secret) = store.issue(new_token(Role::Viewer, None)).unwrap();
        store.revoke(&revoked.id).unwrap();
        drop(store);

        let reopened = AccessStore::open(&path).unwrap();
        assert_eq!(reopened.authenticate(&kept_secret).unwrap().token_id, kept.id);
        assert_eq!(reopened.authenticate(&revoked_secret), Err(AuthFailure::Revoked));
        assert_eq!(reopened.projects().unwrap(), vec![project]);
        let listed = reopened.tokens().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed.iter().filter(|token| token.revoked).count(), 1);
        assert!(listed.iter().any(|token| token.id == revoked.id && token.revoked));
    }

    #[test]
    fn scope_violations_are_refused_and_store_nothing() {
        let (_dir, store) = open_store();
        let project = store.create_project("core").unwrap();
        let before = store.tokens().unwrap();

        assert!(matches!(
            store.issue(new_token(Role::Operator, None)),
            Err(AccessError::InvalidScope(message)) if message.contains("operator")
        ));
        assert!(matches!(
            store.issue(new_token(Role::Admin, Some(&project.id))),
            Err(AccessError::InvalidScope(message)) if message.contains("admin")
        ));
        assert!(matches!(
            store.issue(new_token(Role::Viewer, Some("no-such-project"))),
            Err(AccessError::UnknownProject(id)) if id == "no-such-project"
        ));
        assert_eq!(store.tokens().unwrap(), before);
        assert!(store.shared.tokens.read().unwrap().is_empty());
        assert!(store.issue(new_token(Role::Viewer, Some(&project.id))).is_ok());
        assert!(store.issue(new_token(Role::Viewer, None)).is_ok());
    }

    #[test]
    fn project_names_are_checked_and_unique() {
        let (_dir, store) = open_store();
        let core = store.create_project("  core.5G_a-1 ").unwrap();
        let access = store.create_project("access").unwrap();

        assert_eq!(core.name, "core.5G_a-1");
        assert!(matches!(store.create_project("core.5G_a-1"), Err(AccessError::NameTaken(name)) if name == core.name));
        for bad in ["", "   ", "with space", "slash/y", "é", &"x".repeat(65)] {
            assert!(
                matches!(store.create_project(bad), Err(AccessError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert!(store.create_project(&"x".repeat(64)).is_ok());
        let names: Vec<_> = store
            .projects()
            .unwrap()
            .into_iter()
            .map(|project| project.name)
            .collect();
        assert_eq!(
            names,
            vec!["access".to_owned(), "core.5G_a-1".to_owned(), "x".repeat(64)]
        );
        assert_eq!(store.project(&access.id).unwrap(), Some(access));
        assert_eq!(store.project("no-such-project").unwrap(), None);
    }

    #[test]
    fn deleting_a_project_revokes_its_tokens() {
        let (_dir, store) = open_store();
        let doomed = store.create_project("doomed").unwrap();
        let kept = store.create_project("kept").unwrap();
        let (_, doomed_secret) = store.issue(new_token(Role::Operator, Some(&doomed.id))).unwrap();
        let (_, kept_secret) = store.issue(new_token(Role::Operator, Some(&kept.id))).unwrap();

        assert!(store.delete_project(&doomed.id).unwrap());
        assert!(!store.delete_project(&doomed.id).unwrap());
        assert_eq!(store.project(&doomed.id).unwrap(), None);
        assert_eq!(store.authenticate(&doomed_secret), Err(AuthFailure::Revoked));
        assert!(store.authenticate(&kept_secret).is_ok());
        let revoked: Vec<_> = store
            .tokens()
            .unwrap()
            .into_iter()
            .filter(|token| token.revoked)
            .collect();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].project_id.as_deref(), Some(doomed.id.as_str()));
    }

    #[test]
    fn tokens_are_listed_without_secrets_in_creation_order() {
        let (_dir, store) = open_store();
        let (_, first_secret) = store.issue(new_token(Role::Viewer, None)).unwrap();
        let (_, second_secret) = store.issue(new_token(Role::Admin, None)).unwrap();
        let listed = store.tokens().unwrap();
        let json = serde_json::to_string(&listed).unwrap();

        assert_eq!(listed.len(), 2);
        assert!(listed[0].created_at <= listed[1].created_at);
        assert!(json.contains("\"projectId\":null") && json.contains("\"role\":\"admin\""));
        for secret in [first_secret, second_secret] {
            assert!(!json.contains(&secret) && !json.contains(&secret_hash(&secret)));
        }
    }

    #[test]
    fn bootstrap_without_a_file_returns_a_secret_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.db");
        let store = AccessStore::open(&path).unwrap();
        let secret = store.bootstrap(None).unwrap().unwrap();

        assert_eq!(store.authenticate(&secret).unwrap().role, Role::Admin);
        assert!(store.authenticate(&secret).unwrap().is_admin());
        assert_eq!(store.bootstrap(None).unwrap(), None);
        drop(store);
        let reopened = AccessStore::open(&path).unwrap();
        assert_eq!(reopened.bootstrap(None).unwrap(), None);
        assert_eq!(reopened.tokens().unwrap().len(), 1);
    }

    #[test]
    fn bootstrap_writes_a_missing_or_empty_file_privately() {
        for existing in [None, Some(""), Some("\n")] {
            let (dir, store) = open_store();
            let file = dir.path().join("admin.token");
            if let Some(contents) = existing {
                fs::write(&file, contents).unwrap();
            }
            let secret = store.bootstrap(Some(&file)).unwrap().unwrap();

            assert_eq!(fs::read_to_string(&file).unwrap().trim(), secret);
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            assert!(store.authenticate(&secret).unwrap().is_admin());
            assert_eq!(store.bootstrap(Some(&file)).unwrap(), None);
            assert_eq!(store.tokens().unwrap().len(), 1);
        }
    }

    #[test]
    fn bootstrap_takes_the_secret_a_file_holds() {
        let (dir, store) = open_store();
        let file = dir.path().join("admin.token");
        let secret = "given-secret-0123456789abcdefghijklmnop";
        fs::write(&file, format!("  {secret}\n")).unwrap();

        assert_eq!(store.bootstrap(Some(&file)).unwrap(), None);
        assert!(store.authenticate(secret).unwrap().is_admin());
        fs::write(&file, "another-secret-0123456789abcdefghijklmnop").unwrap();
        assert_eq!(store.bootstrap(Some(&file)).unwrap(), None);
        assert_eq!(
            store.authenticate("another-secret-0123456789abcdefghijklmnop"),
            Err(AuthFailure::Invalid)
        );
    }

    #[test]
    fn bootstrap_refuses_short_tokens_and_symlinks() {
        let (dir, store) = open_store();
        let short = dir.path().join("short.token");
        fs::write(&short, "too-short").unwrap();
        let target = dir.path().join("target.token");
        fs::write(&target, "linked-secret-0123456789abcdefghijklmnop").unwrap();
        let link = dir.path().join("link.token");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let dangling = dir.path().join("dangling.token");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();

        assert!(
            matches!(store.bootstrap(Some(&short)), Err(AccessError::Backend(message)) if message.contains("short.token"))
        );
        assert!(
            matches!(store.bootstrap(Some(&link)), Err(AccessError::Backend(message)) if message.contains("symbolic link"))
        );
        assert!(matches!(store.bootstrap(Some(&dangling)), Err(AccessError::Backend(_))));
        assert!(!dir.path().join("nowhere").exists());
        assert!(store.tokens().unwrap().is_empty());
        assert_eq!(
            store.authenticate("linked-secret-0123456789abcdefghijklmnop"),
            Err(AuthFailure::Invalid)
        );
    }

    #[test]
    fn bearer_secret_parses_the_authorization_header() {
        for header in ["Bearer x", "bearer x", "BEARER x", "Bearer wmn_a-b.c~d+e/f=="] {
            let expected = header.split_once(' ').unwrap().1;
            assert_eq!(bearer_secret(Some(header)), Ok(expected), "{header:?}");
        }
        for header in [
            "Basic x",
            "Bearerx",
            "Bearer ",
            "Bearer",
            "Bearer  x",
            "Bearer x y",
            "Bearer ==",
            "",
        ] {
            assert_eq!(bearer_secret(Some(header)), Err(AuthFailure::Invalid), "{header:?}");
        }
        assert_eq!(bearer_secret(None), Err(AuthFailure::Missing));
    }

    #[test]
    fn principals_may_read_and_write_by_role_and_scope() {
        let cases = [
            // (principal, may read a, may write a, may read b, is admin)
            (principal(Role::Admin, None), true, true, true, true),
            (principal(Role::Viewer, None), true, false, true, false),
            (principal(Role::Operator, Some("a")), true, true, false, false),
            (principal(Role::Viewer, Some("a")), true, false, false, false),
        ];
        for (principal, read_a, write_a, read_b, admin) in cases {
            assert_eq!(principal.may_read("a"), read_a, "{principal:?}");
            assert_eq!(principal.may_write("a"), write_a, "{principal:?}");
            assert_eq!(principal.may_read("b"), read_b, "{principal:?}");
            assert!(!principal.may_write("b") || principal.is_admin(), "{principal:?}");
            assert_eq!(principal.is_admin(), admin, "{principal:?}");
            assert_eq!(principal.is_system(), principal.project_id.is_none());
        }
    }

    #[test]
    fn roles_and_failures_have_stable_names() {
        for role in [Role::Admin, Role::Operator, Role::Viewer] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{}\"", role.as_str()));
        }
        assert!("Admin".parse::<Role>().is_err());
        let reasons = [
            AuthFailure::Missing,
            AuthFailure::Invalid,
            AuthFailure::Expired,
            AuthFailure::Revoked,
        ]
        .map(AuthFailure::reason);
        assert_eq!(reasons, ["missing", "invalid", "expired", "revoked"]);
    }

    #[test]
    fn expiries_round_up_and_stay_printable() {
        assert_eq!(expiry(10, Duration::ZERO), 10);
        assert_eq!(expiry(10, Duration::from_millis(1500)), 12);
        assert_eq!(expiry(10, Duration::MAX), LATEST_EXPIRY_S);
        assert_eq!(rfc3339(LATEST_EXPIRY_S), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(1_796_420_622), "2026-12-04T21:43:42Z");
        assert_eq!(rfc3339(-1), "1970-01-01T00:00:00Z");
    }
}
