//! The HTTP client of the CLI's server commands: where the server is, the
//! token, the one mapping of HTTP answers to exit codes (ProblemDetails
//! `detail` as the message), the event stream read as Server-Sent Events,
//! and waiting for an operation to end, woken by that stream.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use serde::Deserialize;
use serde_json::Value;
use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig};
use wasmano::server::tls::trusted_roots;

use super::{Failure, exit, read_config, tls_failure};

/// Where the server is and who is calling.
#[derive(Debug, Clone, ClapArgs)]
pub struct Connection {
    /// The server (default: $WASMANO_SERVER, else http://127.0.0.1:8080).
    #[arg(long, value_name = "URL", global = true)]
    server: Option<String>,
    /// A bearer token (default: $WASMANO_TOKEN; prefer --token-file, as
    /// arguments show in process lists).
    #[arg(long, value_name = "TOKEN", global = true)]
    token: Option<String>,
    /// A file holding the bearer token (default: $WASMANO_TOKEN_FILE).
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// PEM certificates an `https` server's certificate must chain to,
    /// instead of the public web's roots (default: $WASMANO_CA_CERT).
    #[arg(long, value_name = "FILE", global = true)]
    ca_cert: Option<PathBuf>,
    /// Print the server's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    /// For requests, each answered within [`ANSWER_LIMIT`].
    agent: Agent,
    /// For the event stream, which has no end.
    streaming: Agent,
    base: String,
    authorization: String,
}

/// How long a request may take, from connecting to the answer's last byte.
const ANSWER_LIMIT: Duration = Duration::from_secs(120);

/// The server's event stream.
pub const EVENTS: &str = "/wasmano/v1/events";

/// How often [`Client::wait_for_end`] reads the operation when the event
/// stream cannot wake it.
const POLL_PERIOD: Duration = Duration::from_millis(100);

/// One item of the event stream.
#[derive(Debug)]
pub enum StreamItem {
    /// An event: its `event:` kind and its `data:`.
    Event { kind: String, data: String },
    /// A comment: the server's keep-alive.
    KeepAlive,
}

/// What [`Client::wait_for_end`] learns while it waits.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The operation `id` is in `state` (maybe the one it was in before).
    State { id: &'a str, state: &'a str },
    /// A step the operation's run journaled (the `step` event's data).
    Step(&'a Value),
}

/// An answer: status, `Location`, body.
#[derive(Debug)]
pub struct Answer {
    /// The `Location` header, when there is one.
    pub location: Option<String>,
    /// The next page of a list (`Link: <…>; rel="next"`), when there is one.
    pub next: Option<String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// The client's configuration file: `$WASMANO_CONFIG` (which must exist),
/// else `$XDG_CONFIG_HOME/wasmano/client.yml` or
/// `~/.config/wasmano/client.yml` when present. A relative `token_file` is
/// relative to the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    server: Option<String>,
    token_file: Option<PathBuf>,
    ca_cert: Option<PathBuf>,
}

impl ClientFile {
    fn read() -> Result<Self, Failure> {
        let (path, required) = match std::env::var_os("WASMANO_CONFIG") {
            Some(path) => (PathBuf::from(path), true),
            None => {
                let config_home = std::env::var_os("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
                match config_home {
                    Some(home) => (home.join("wasmano/client.yml"), false),
                    None => return Ok(Self::default()),
                }
            }
        };
        // The default file is optional; one named by the environment is not.
        if !required && !path.exists() {
            return Ok(Self::default());
        }
        let mut file: Self = read_config(&path, "client configuration")?;
        if let Some(base) = path.parent() {
            for relative in [&mut file.token_file, &mut file.ca_cert].into_iter().flatten() {
                *relative = base.join(&*relative);
            }
        }
        Ok(file)
    }
}

impl Connection {
    /// A client for the server and token these flags, the environment, the
    /// configuration file ([`ClientFile`]) or the defaults name, in that
    /// order.
    pub fn client(&self) -> Result<Client, Failure> {
        let file = ClientFile::read()?;
        let base = self
            .server
            .clone()
            .or_else(|| std::env::var("WASMANO_SERVER").ok())
            .or(file.server)
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
            .trim_end_matches('/')
            .to_owned();
        let read = |path: PathBuf| -> Result<String, Failure> {
            Ok(std::fs::read_to_string(&path)
                .map_err(|error| Failure::new(exit::NO_INPUT, format!("token file {}: {error}", path.display())))?
                .trim()
                .to_owned())
        };
        let token_file = self
            .token_file
            .clone()
            .or_else(|| std::env::var_os("WASMANO_TOKEN_FILE").map(PathBuf::from));
        let token = match (
            &self.token,
            token_file,
            std::env::var("WASMANO_TOKEN").ok(),
            file.token_file,
        ) {
            (Some(token), ..) => token.clone(),
            (None, Some(path), ..) => read(path)?,
            (None, None, Some(token), _) => token,
            (None, None, None, Some(path)) => read(path)?,
            (None, None, None, None) => {
                return Err(Failure::new(
                    exit::USAGE,
                    "no token: pass --token-file FILE or --token TOKEN, set WASMANO_TOKEN_FILE or WASMANO_TOKEN, or name a token_file in the client configuration",
                ));
            }
        };
        let ca_cert = self
            .ca_cert
            .clone()
            .or_else(|| std::env::var_os("WASMANO_CA_CERT").map(PathBuf::from))
            .or(file.ca_cert);
        let roots = trusted_roots(ca_cert.as_deref()).map_err(|error| tls_failure("CA certificates", &error))?;
        Ok(Client::trusting(&base, &token, roots))
    }
}

impl Client {
    /// A client of the server at `base` (`http://host:port`) calling with
    /// the bearer `token`.
    pub fn new(base: &str, token: &str) -> Client {
        Self::trusting(base, token, RootCerts::WebPki)
    }

    /// [`Client::new`], an `https` server's certificate verified against
    /// `roots`.
    pub fn trusting(base: &str, token: &str, roots: RootCerts) -> Client {
        let tls = TlsConfig::builder().root_certs(roots).build();
        let agent: Agent = Agent::config_builder()
            .tls_config(tls.clone())
            .http_status_as_error(false)
            .timeout_global(Some(ANSWER_LIMIT))
            .build()
            .into();
        let streaming: Agent = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            agent,
            streaming,
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
        }
    }

    /// Why the server could not be reached, with a hint for the usual
    /// certificate mistake.
    fn unreachable(&self, error: &ureq::Error) -> Failure {
        let text = error.to_string();
        let hint = if text.contains("CaUsedAsEndEntity") {
            " (the server's certificate is marked as a CA: a self-signed server certificate must say \
             basicConstraints CA:FALSE, or be issued by a CA that --ca-cert names)"
        } else if text.contains("UnknownIssuer") {
            " (pass the certificate of the authority that issued the server's with --ca-cert)"
        } else {
            ""
        };
        Failure::new(exit::UNAVAILABLE, format!("cannot reach {}: {text}{hint}", self.base))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Answer, Failure> {
        let request = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &self.authorization);
        self.answer(path, request.call())
    }

    /// Every item of a paged list: `GET path`, then each next page.
    pub fn list(&self, path: &str) -> Result<Value, Failure> {
        let mut items = Vec::new();
        let mut page = Some(path.to_owned());
        while let Some(path) = page {
            let answer = self.get(&path)?;
            match answer.body {
                Value::Array(found) => items.extend(found),
                other => return Err(Failure::new(exit::SOFTWARE, format!("{path}: not a list: {other}"))),
            }
            page = answer.next;
        }
        Ok(Value::Array(items))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Answer, Failure> {
        let request = self
            .agent
            .delete(&self.url(path))
            .header("Authorization", &self.authorization);
        self.answer(path, request.call())
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Answer, Failure> {
        let request = self
            .agent
            .post(&self.url(path))
            .header("Authorization", &self.authorization);
        self.answer(path, request.send_json(body))
    }

    /// `POST path` with a body of `content_type`.
    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Answer, Failure> {
        let request = self
            .agent
            .post(&self.url(path))
            .header("Authorization", &self.authorization)
            .header("Content-Type", content_type);
        self.answer(path, request.send(body))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The answer of a 2xx, or the failure a problem maps to.
    fn answer(
        &self,
        path: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, Failure> {
        let mut response = sent.map_err(|error| self.unreachable(&error))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let next = header("link").and_then(|link| {
            let (target, relation) = link.split_once(';')?;
            (relation.trim() == "rel=\"next\"")
                .then(|| target.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        });
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(Answer { location, next, body });
        }
        Err(problem_failure(path, status, &text, &body))
    }

    /// `GET path` of the event stream, as its items, with no deadline. The
    /// stream is live once this returns: every event after it is read.
    pub fn events(&self, path: &str) -> Result<impl Iterator<Item = std::io::Result<StreamItem>> + use<>, Failure> {
        let mut response = self
            .streaming
            .get(&self.url(path))
            .header("Authorization", &self.authorization)
            .header("Accept", "text/event-stream")
            .call()
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(problem_failure(path, status, &text, &body));
        }
        let mut lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
        let (mut kind, mut data) = (String::new(), String::new());
        Ok(std::iter::from_fn(move || {
            loop {
                let line = match lines.next()? {
                    Ok(line) => line,
                    Err(error) => return Some(Err(error)),
                };
                if line.is_empty() {
                    if !kind.is_empty() {
                        let event = StreamItem::Event {
                            kind: std::mem::take(&mut kind),
                            data: std::mem::take(&mut data),
                        };
                        return Some(Ok(event));
                    }
                    data.clear();
                } else if line.starts_with(':') {
                    return Some(Ok(StreamItem::KeepAlive));
                } else if let Some(value) = line.strip_prefix("event:") {
                    value.trim().clone_into(&mut kind);
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
        }))
    }

    /// Waits until the operation at `location` is neither PROCESSING nor
    /// ROLLING_BACK, and answers it as it ended; `limit` bounds the wait.
    /// The event stream tells the states it enters and the steps its run
    /// journals (`progress` hears them); the operation is read again when
    /// the stream says it ended (and at each keep-alive, or after a reset),
    /// not at intervals. Should the stream be refused or break, the
    /// operation is polled instead.
    pub fn wait_for_end(
        &self,
        location: &str,
        limit: Option<Duration>,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<Value, Failure> {
        let since = Instant::now();
        let mut operation = self.get(location)?.body;
        let field =
            |operation: &Value, name: &str| operation.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
        let id = field(&operation, "id");
        let read = |progress: &mut dyn FnMut(Progress<'_>)| -> Result<Value, Failure> {
            let operation = self.get(location)?.body;
            progress(Progress::State {
                id: &id,
                state: &field(&operation, "operationState"),
            });
            Ok(operation)
        };
        progress(Progress::State {
            id: &id,
            state: &field(&operation, "operationState"),
        });
        if !is_open(&operation) {
            return Ok(operation);
        }
        let stream = self.events(&format!("{EVENTS}?nsInstanceId={}", field(&operation, "nsInstanceId")));
        if let Ok(mut events) = stream {
            // Live from here: a change made before the stream opened is read now.
            operation = read(&mut progress)?;
            while is_open(&operation) {
                let Some(Ok(item)) = events.next() else { break };
                check_limit(location, since, limit)?;
                let read_again = match item {
                    StreamItem::KeepAlive => true,
                    StreamItem::Event { kind, data } => {
                        let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                        if data.get("nsLcmOpOccId").and_then(Value::as_str) != Some(id.as_str()) {
                            kind == "reset"
                        } else if kind == "step" {
                            progress(Progress::Step(&data));
                            false
                        } else if kind == "lcm_op_occ" {
                            let state = field(&data, "operationState");
                            progress(Progress::State { id: &id, state: &state });
                            !matches!(state.as_str(), "PROCESSING" | "ROLLING_BACK")
                        } else {
                            false
                        }
                    }
                };
                if read_again {
                    operation = read(&mut progress)?;
                }
            }
        }
        while is_open(&operation) {
            check_limit(location, since, limit)?;
            std::thread::sleep(POLL_PERIOD);
            operation = read(&mut progress)?;
        }
        Ok(operation)
    }
}

/// Whether an operation occurrence is still running (PROCESSING or
/// ROLLING_BACK).
fn is_open(operation: &Value) -> bool {
    matches!(
        operation.get("operationState").and_then(Value::as_str),
        Some("PROCESSING" | "ROLLING_BACK")
    )
}

/// Fails once a wait for `location` begun `since` has passed its `limit`.
fn check_limit(location: &str, since: Instant, limit: Option<Duration>) -> Result<(), Failure> {
    match limit {
        Some(limit) if since.elapsed() > limit => Err(Failure::new(
            exit::SOFTWARE,
            format!("{location} has not ended after {} s", limit.as_secs()),
        )),
        _ => Ok(()),
    }
}

/// The failure a ProblemDetails answer maps to; every listed problem is
/// printed on stderr.
fn problem_failure(path: &str, status: u16, text: &str, body: &Value) -> Failure {
    let detail = body
        .get("detail")
        .and_then(Value::as_str)
        .map_or_else(|| text.trim().to_owned(), str::to_owned);
    let problems: Vec<String> = body
        .get("problems")
        .and_then(Value::as_array)
        .map(|problems| {
            problems
                .iter()
                .map(|problem| {
                    let line = problem
                        .get("line")
                        .and_then(Value::as_u64)
                        .map(|line| format!(":{line}"));
                    format!(
                        "{}{}: {}",
                        problem.get("file").and_then(Value::as_str).unwrap_or("?"),
                        line.unwrap_or_default(),
                        problem.get("detail").and_then(Value::as_str).unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for problem in &problems {
        eprintln!("  {problem}");
    }
    Failure::new(exit_code(status), format!("{path}: {status}: {detail}"))
}

/// The exit code of an HTTP error status.
pub fn exit_code(status: u16) -> u8 {
    match status {
        401 | 403 => exit::NO_PERMISSION,
        404 => exit::NO_INPUT,
        409 => exit::CONFLICT,
        400 | 406 | 413 | 415 | 422 => exit::DATA,
        _ => exit::SOFTWARE,
    }
}
