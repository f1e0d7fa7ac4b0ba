//! The HTTP client of the CLI's server commands: where the server is, the
//! token, and the one mapping of HTTP answers to exit codes (ProblemDetails
//! `detail` as the message).

use std::path::PathBuf;
use std::time::Duration;

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
    agent: Agent,
    base: String,
    authorization: String,
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
        let agent: Agent = Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client {
            agent,
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

    /// `GET path` as a stream of lines (the event stream), with no deadline.
    pub fn lines(&self, path: &str) -> Result<impl Iterator<Item = std::io::Result<String>>, Failure> {
        let agent: Agent = Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent
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
        Ok(std::io::BufRead::lines(std::io::BufReader::new(
            response.into_body().into_reader(),
        )))
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
