//! A real `wasmano serve` process on a data directory, and a small HTTP
//! client for its API, for the tests that drive the service from outside.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use ureq::Agent;

use crate::support;
use crate::support_package::write_bundled_package;

const BIN: &str = env!("CARGO_BIN_EXE_wasmano");

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bootstrap admin token.
    pub admin: String,
}

/// Asks the kernel to stop the server (SIGTERM) when the thread starting it
/// ends, so that a test binary killed outright (kill -9, a CI timeout)
/// leaves no server running on its own. The kernel ties this to the
/// spawning *thread*: a server is started, used and dropped on its test's
/// thread, never handed over from a helper thread.
fn end_with_this_thread(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe calls (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have ended before the request was made.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The file the bootstrap admin token lives in, beside the data directory.
pub fn token_file(data: &Path) -> PathBuf {
    data.with_extension("admin-token")
}

/// The file every server on `data` appends its log (stderr) to.
pub fn log_file(data: &Path) -> PathBuf {
    data.with_extension("log")
}

impl Server {
    /// Starts a server on `data` (any free port), with extra environment
    /// variables, and waits for its "serving" line.
    pub fn start(data: &Path, envs: &[(&str, &str)]) -> Self {
        Self::start_with(data, envs, &[])
    }

    /// [`Server::start`] with extra arguments to `wasmano serve`.
    pub fn start_with(data: &Path, envs: &[(&str, &str)], args: &[&str]) -> Self {
        let tokens = token_file(data);
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--bootstrap-token-file")
            .arg(&tokens)
            .args(args)
            .env("WASMANO_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log_file(data))
                    .expect("log file"),
            ));
        for (name, value) in envs {
            command.env(name, value);
        }
        end_with_this_thread(&mut command);
        let mut child = command.spawn().expect("start wasmano serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let Some(line) = lines.next() else {
                let log = std::fs::read_to_string(log_file(data)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "wasmano serve exited before serving; the end of its log:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            };
            let line = line.expect("read stdout");
            if let Some(rest) = line.strip_prefix("wasmano serving ") {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let admin = std::fs::read_to_string(&tokens).expect("token file").trim().to_owned();
        Self { child, base, admin }
    }

    /// A client with this token.
    pub fn client(&self, token: &str) -> Api {
        Api::new(&self.base, token)
    }

    /// A client with the admin token.
    pub fn admin(&self) -> Api {
        self.client(&self.admin)
    }

    /// A client with no token.
    pub fn anonymous(&self) -> Api {
        Api {
            token: None,
            ..self.admin()
        }
    }

    /// Waits for the process to end on its own (a failpoint) and returns
    /// whether it was killed by a signal (abort), within `limit`.
    pub fn wait_for_crash(mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().is_none();
            }
            assert!(Instant::now() < deadline, "the server did not crash within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "a SIGTERM ends the server cleanly, got {exit}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers we look at, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub www_authenticate: Option<String>,
    pub version: Option<String>,
    pub link: Option<String>,
    pub allow: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The problem type's last part (`urn:wasmano:problem:<kind>`).
    pub fn problem(&self) -> &str {
        self.body
            .get("type")
            .and_then(Value::as_str)
            .and_then(|kind| kind.strip_prefix("urn:wasmano:problem:"))
            .unwrap_or("")
    }

    /// Asserts a ProblemDetails answer of this status and kind.
    pub fn assert_problem(&self, status: u16, kind: &str) {
        assert_eq!(
            (self.status, self.problem()),
            (status, kind),
            "expected a {status} {kind} problem, got {self:#?}"
        );
        assert_eq!(self.content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(self.body["status"], json!(status));
        assert!(self.body["detail"].as_str().is_some_and(|detail| !detail.is_empty()));
    }
}

/// A client of the API.
#[derive(Debug, Clone)]
pub struct Api {
    agent: Agent,
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client of the server at `base` (`http://host:port`) presenting
    /// `token`.
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            agent: Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
            base: base.to_owned(),
            token: Some(token.to_owned()),
        }
    }

    fn send(&self, method: &str, path: &str, content_type: Option<&str>, body: Option<&[u8]>) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        self.answer(request.body(body.unwrap_or_default().to_vec()).expect("request"))
    }

    fn answer(&self, request: ureq::http::Request<Vec<u8>>) -> Answer {
        let mut response = self.agent.run(request).expect("the server answers");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let (location, content_type, www_authenticate, version, link, allow) = (
            header("location"),
            header("content-type"),
            header("www-authenticate"),
            header("version"),
            header("link"),
            header("allow"),
        );
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            location,
            content_type,
            www_authenticate,
            version,
            link,
            allow,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// The token this client presents.
    pub fn token_secret(&self) -> String {
        self.token.clone().unwrap_or_default()
    }

    /// `GET path` with a `Version` header.
    pub fn send_with_version(&self, path: &str, version: &str) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder()
            .method("GET")
            .uri(&url)
            .header("Version", version);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(request.body(Vec::new()).expect("request"))
    }

    /// `method path` without a body.
    pub fn request(&self, method: &str, path: &str) -> Answer {
        self.send(method, path, None, None)
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path)
    }

    pub fn delete(&self, path: &str) -> Answer {
        self.request("DELETE", path)
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).expect("json");
        self.send("POST", path, Some("application/json"), Some(&bytes))
    }

    /// `POST path` with a JSON body; `None` when the connection broke
    /// before an answer (the server died).
    pub fn try_post(&self, path: &str, body: &Value) -> Option<Answer> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.token_secret()))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(body).expect("json"))
            .expect("request");
        self.agent.run(request).ok().map(|mut response| Answer {
            status: response.status().as_u16(),
            location: None,
            content_type: None,
            www_authenticate: None,
            version: None,
            link: None,
            allow: None,
            text: response.body_mut().read_to_string().unwrap_or_default(),
            body: Value::Null,
        })
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        self.send("POST", path, Some(content_type), Some(body))
    }

    /// Onboards a package archive.
    pub fn onboard(&self, archive: &[u8]) -> Answer {
        self.post_raw("/wasmano/v1/packages", "application/gzip", archive)
    }

    /// Starts a task and waits for its operation to leave PROCESSING and
    /// ROLLING_BACK; returns the operation.
    pub fn run_task(&self, path: &str, body: &Value) -> Value {
        let started = self.post(path, body);
        assert_eq!(started.status, 202, "{path}: {started:#?}");
        self.wait(started.location.as_deref().expect("Location"))
    }

    /// Polls an operation until it leaves PROCESSING and ROLLING_BACK.
    pub fn wait(&self, location: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let operation = self.get(location);
            assert_eq!(operation.status, 200, "{operation:#?}");
            let state = operation.body["operationState"].as_str().unwrap_or("").to_owned();
            if !matches!(state.as_str(), "PROCESSING" | "ROLLING_BACK") {
                return operation.body;
            }
            assert!(Instant::now() < deadline, "operation {location} still {state}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Creates a project and returns its id.
    pub fn project(&self, name: &str) -> String {
        let created = self.post("/admin/v1/projects", &json!({"name": name}));
        assert_eq!(created.status, 201, "{created:#?}");
        created.body["id"].as_str().expect("id").to_owned()
    }

    /// Issues a token and returns its id and secret.
    pub fn token(&self, role: &str, project: Option<&str>) -> (String, String) {
        let issued = self.post("/admin/v1/tokens", &json!({"role": role, "projectId": project}));
        assert_eq!(issued.status, 201, "{issued:#?}");
        (
            issued.body["id"].as_str().expect("id").to_owned(),
            issued.body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// The VIMs' free cores and memory, by VIM id.
    pub fn free_capacity(&self) -> Vec<(String, f64, f64)> {
        let vims = self.get("/wasmano/v1/vims");
        assert_eq!(vims.status, 200, "{vims:#?}");
        vims.body
            .as_array()
            .expect("array")
            .iter()
            .map(|vim| {
                (
                    vim["id"].as_str().expect("id").to_owned(),
                    vim["freeCores"].as_f64().expect("cores"),
                    vim["freeMemoryMb"].as_f64().expect("memory"),
                )
            })
            .collect()
    }
}

/// The bundled example package as a `.tar.gz`, each descriptor passed
/// through `edit(file name, text)`.
pub fn bundled_archive(dir: &Path, edit: impl Fn(&str, String) -> String) -> Vec<u8> {
    archive_with(dir, &support::guests().examples(), edit)
}

/// The bundled package's descriptors with these modules, as a `.tar.gz`.
pub fn archive_with(dir: &Path, modules: &[&Path], edit: impl Fn(&str, String) -> String) -> Vec<u8> {
    let root = write_bundled_package(&dir.join("package"), modules, edit);
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.append_dir_all(".", &root).expect("tar");
    let archive = builder.into_inner().expect("tar").finish().expect("gzip");
    std::fs::remove_dir_all(&root).expect("clean up");
    archive
}

/// The bundled package's NSD.
pub const NSD: &str = "eu.wasmano/demo-web-service/1.0";

/// Creates an NS instance of the bundled NSD (201, with its Location) and
/// returns its id.
pub fn create_instance(api: &Api, name: &str) -> String {
    let created = api.post(
        "/nslcm/v1/ns_instances",
        &json!({"nsdId": NSD, "nsName": name, "nsDescription": "test"}),
    );
    assert_eq!(created.status, 201, "{created:#?}");
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/nslcm/v1/ns_instances/{id}").as_str())
    );
    id
}

/// The path of task `name` of NS instance `id`.
pub fn task(id: &str, name: &str) -> String {
    format!("/nslcm/v1/ns_instances/{id}/{name}")
}
