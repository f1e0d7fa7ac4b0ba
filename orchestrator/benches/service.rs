//! Benchmark of `wasmano serve` through its REST API (release build):
//! `cargo bench -p wasmano --bench service`.
//!
//! The server runs in this process (`server::open` then `server::serve` on
//! a listener bound to 127.0.0.1:0, on a fresh data directory, emulated VIMs
//! big enough for every service), with the bundled example package
//! onboarded through the API by an operator of a project the bootstrap
//! admin created. Everything measured goes through HTTP (ureq, blocking
//! client threads):
//!
//! - full lifecycles (create, instantiate, poll, terminate, poll, delete)
//!   by 1 and by 16 concurrent clients, polling every 1 ms (a tight poll is
//!   part of what is measured);
//! - reads: the list of 1,000 NS instances and one instance, before and
//!   after 100 of them are instantiated (so that records are read);
//! - a restart with 1,000 running services: `open` (recovery included),
//!   bind and serve until the first answer to `GET /nslcm/v1/api_versions`.
//!
//! Correctness is asserted (every operation COMPLETED, every service
//! recovered); times never are.

#[path = "../../tests/support/mod.rs"]
mod support;
#[path = "../../tests/support/package.rs"]
mod support_package;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use support_package::write_bundled_package;
use ureq::Agent;
use wasmano::server::{self, ServeConfig};

const NSD: &str = "eu.wasmano/demo-web-service/1.0";
const INSTANCES: &str = "/nslcm/v1/ns_instances";
/// How long a client waits between two polls of an operation.
const POLL: Duration = Duration::from_millis(1);
/// An operation still PROCESSING after this is a failure.
const OPERATION_LIMIT: Duration = Duration::from_secs(120);

const SEQUENTIAL_LIFECYCLES: usize = 200;
const CONCURRENT_LIFECYCLES: usize = 1_000;
const CLIENTS: usize = 16;
const LISTED_INSTANCES: usize = 1_000;
const INSTANTIATED_FOR_READS: usize = 100;
const LIST_READS: usize = 200;
const SINGLE_READS: usize = 2_000;
const RUNNING_SERVICES: usize = 1_000;
const RESTARTS: usize = 5;

/// An in-process server: its address and how to stop it.
struct Server {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What a start did: how many services `open` recovered and how long
/// `open` took.
struct Started {
    recovered: usize,
    open: Duration,
}

/// Binds 127.0.0.1:0, opens the data directory (recovery included) and
/// serves.
fn start(runtime: &tokio::runtime::Runtime, config: &ServeConfig) -> (Server, Started) {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let began = Instant::now();
        let opened = server::open(config).await.expect("open the data directory");
        let open = began.elapsed();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, opened.state, async {
            let _ = stopped.await;
        }));
        let server = Server {
            base: format!("http://{address}"),
            stop,
            task,
        };
        let started = Started {
            recovered: opened.recovered,
            open,
        };
        (server, started)
    })
}

impl Server {
    /// Drops the shutdown sender and waits for `serve` to return.
    fn stop(self, runtime: &tokio::runtime::Runtime) {
        drop(self.stop);
        runtime
            .block_on(self.task)
            .expect("the serve task")
            .expect("serve ends cleanly");
    }
}

/// An answer: status, `Location`, body text.
struct Answer {
    status: u16,
    location: Option<String>,
    /// The next page of a list.
    next: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("a JSON body")
    }

    /// Asserts the status and returns the body as JSON.
    fn expect(&self, status: u16, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        self.json()
    }
}

/// A blocking HTTP client with a bearer token.
#[derive(Clone)]
struct Client {
    agent: Agent,
    base: String,
    bearer: String,
}

impl Client {
    fn new(base: &str, token: &str) -> Self {
        Self {
            agent: Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build()
                .into(),
            base: base.to_owned(),
            bearer: format!("Bearer {token}"),
        }
    }

    fn try_get(&self, path: &str) -> Result<Answer, ureq::Error> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.bearer)
            .call()?;
        Ok(answer(response))
    }

    fn get(&self, path: &str) -> Answer {
        self.try_get(path).expect("the server answers")
    }

    fn delete(&self, path: &str) -> Answer {
        let response = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", &self.bearer)
            .call()
            .expect("the server answers");
        answer(response)
    }

    fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.bearer)
            .header("Content-Type", content_type)
            .send(body)
            .expect("the server answers");
        answer(response)
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).expect("json");
        self.post_bytes(path, "application/json", &bytes)
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let next = header("link").and_then(|link| {
        let target = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
        Some(target.to_owned())
    });
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("read the body");
    Answer {
        status,
        location,
        next,
        text,
    }
}

/// A server on a fresh data directory with a project, its operator and the
/// bundled package onboarded.
struct Setup {
    dir: tempfile::TempDir,
    /// How long `open` took on the empty data directory.
    fresh_open: Duration,
    config: ServeConfig,
    server: Server,
    operator_token: String,
    operator: Client,
}

/// Emulated VIMs for `services` services at once: 2 container and 1 VM
/// unit each, at most 255 units per VIM (the emulated address plan), with
/// room to spare since placement balances on free cores, not units.
fn write_vims(file: &Path, services: usize) {
    let container_vims = (services * 2).div_ceil(160).max(2);
    let vm_vims = services.div_ceil(160).max(2);
    let mut yaml = String::new();
    for (prefix, kind, count) in [("edge", "container", container_vims), ("core", "vm", vm_vims)] {
        for index in 0..count {
            writeln!(
                yaml,
                "- id: {prefix}-{index}\n  type: {kind}\n  cores: 1000000\n  memory_mb: 1000000000"
            )
            .expect("format");
        }
    }
    std::fs::write(file, yaml).expect("write the VIMs file");
}

/// The bundled example package as a `.tar.gz` (as tests/support/server.rs
/// builds it).
fn bundled_archive(dir: &Path) -> Vec<u8> {
    let root = write_bundled_package(&dir.join("package"), &support::guests().examples(), |_, text| text);
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.append_dir_all(".", &root).expect("tar");
    let archive = builder.into_inner().expect("tar").finish().expect("gzip");
    std::fs::remove_dir_all(&root).expect("clean up");
    archive
}

fn setup(runtime: &tokio::runtime::Runtime, services: usize) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let vims = dir.path().join("vims.yml");
    write_vims(&vims, services);
    let config = ServeConfig {
        bootstrap_token_file: Some(dir.path().join("admin-token")),
        vims_file: Some(vims),
        ..ServeConfig::new(dir.path().join("data"))
    };
    let (server, started) = start(runtime, &config);
    assert_eq!(started.recovered, 0, "a fresh data directory runs nothing");
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token")).expect("the bootstrap token file");
    let admin = Client::new(&server.base, admin_token.trim());
    let project = admin
        .post("/admin/v1/projects", &json!({"name": "bench"}))
        .expect(201, "create a project");
    let project = project["id"].as_str().expect("project id").to_owned();
    let issued = admin
        .post("/admin/v1/tokens", &json!({"role": "operator", "projectId": project}))
        .expect(201, "issue an operator token");
    let operator_token = issued["token"].as_str().expect("token").to_owned();
    let operator = Client::new(&server.base, &operator_token);
    operator
        .post_bytes("/wasmano/v1/packages", "application/gzip", &bundled_archive(dir.path()))
        .expect(201, "onboard the bundled package");
    // Warm-up: the first instantiation of an NSD resolves its template
    // (modules loaded, each manager asked which events it handles) and
    // caches it; concurrent first instantiations would each resolve it.
    lifecycle(&operator, "warm-up");
    Setup {
        dir,
        fresh_open: started.open,
        config,
        server,
        operator_token,
        operator,
    }
}

/// Counts the polls of every operation.
static POLLS: AtomicUsize = AtomicUsize::new(0);

fn create_instance(client: &Client, name: &str) -> String {
    let created = client
        .post(
            INSTANCES,
            &json!({"nsdId": NSD, "nsName": name, "nsDescription": "bench"}),
        )
        .expect(201, "create an NS instance");
    created["id"].as_str().expect("instance id").to_owned()
}

/// Starts a task (202 + Location) and polls its operation every [`POLL`]
/// until it leaves PROCESSING; it must be COMPLETED.
fn run_task(client: &Client, id: &str, task: &str) {
    let started = client.post(&format!("{INSTANCES}/{id}/{task}"), &json!({}));
    assert_eq!(started.status, 202, "{task} {id}: {}", started.text);
    let location = started.location.expect("a Location header");
    let deadline = Instant::now() + OPERATION_LIMIT;
    loop {
        POLLS.fetch_add(1, Ordering::Relaxed);
        let operation = client.get(&location).expect(200, "poll the operation");
        match operation["operationState"].as_str() {
            Some("PROCESSING" | "ROLLING_BACK") => {
                assert!(
                    Instant::now() < deadline,
                    "{task} {id} still running after {OPERATION_LIMIT:?}"
                );
                std::thread::sleep(POLL);
            }
            Some("COMPLETED") => return,
            other => panic!("{task} {id} ended {other:?}: {operation:#}"),
        }
    }
}

/// One lifecycle through the API; its latency.
fn lifecycle(client: &Client, name: &str) -> Duration {
    let started = Instant::now();
    let id = create_instance(client, name);
    run_task(client, &id, "instantiate");
    run_task(client, &id, "terminate");
    let deleted = client.delete(&format!("{INSTANCES}/{id}"));
    assert_eq!(deleted.status, 204, "delete {id}: {}", deleted.text);
    started.elapsed()
}

/// Runs `work(index)` for every index below `count` on `threads` threads,
/// each taking the next index; returns the results and the wall time.
fn concurrently<T: Send>(threads: usize, count: usize, work: impl Fn(usize) -> T + Sync) -> (Vec<T>, Duration) {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(count));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let result = work(index);
                    results.lock().expect("results").push(result);
                }
            });
        }
    });
    let elapsed = started.elapsed();
    (results.into_inner().expect("results"), elapsed)
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}

/// One row of the table.
struct Row {
    name: String,
    iterations: usize,
    median: Duration,
    tail: Duration,
    tail_is_max: bool,
    throughput: String,
}

impl Row {
    fn new(name: impl Into<String>, mut latencies: Vec<Duration>, wall: Duration, unit: &str) -> Self {
        latencies.sort();
        Self {
            name: name.into(),
            iterations: latencies.len(),
            median: percentile(&latencies, 0.5),
            tail: percentile(&latencies, 0.99),
            tail_is_max: false,
            throughput: format!("{:.0} {unit}/s", latencies.len() as f64 / wall.as_secs_f64()),
        }
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// `count` sequential timed GETs of `path(index)`, each answered 200.
fn timed_reads(client: &Client, count: usize, path: impl Fn(usize) -> String) -> (Vec<Duration>, Duration) {
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for index in 0..count {
        let began = Instant::now();
        let answer = client.get(&path(index));
        latencies.push(began.elapsed());
        assert_eq!(answer.status, 200, "{}: {}", path(index), answer.text);
    }
    (latencies, started.elapsed())
}

/// The listed instances, with how many are instantiated and how many VNF
/// instances they show.
/// Every NS instance (all pages): how many, how many instantiated, how
/// many VNF instances they have.
fn listed(client: &Client) -> (usize, usize, usize) {
    let mut list = Vec::new();
    let mut page = Some(INSTANCES.to_owned());
    while let Some(path) = page {
        let answer = client.get(&path);
        assert_eq!(answer.status, 200, "list the NS instances: {}", answer.text);
        list.extend(answer.json().as_array().expect("a list").iter().cloned());
        page = answer.next;
    }
    let instantiated = list
        .iter()
        .filter(|instance| instance["nsState"] == "INSTANTIATED")
        .count();
    let vnfs = list
        .iter()
        .map(|instance| instance["vnfInstance"].as_array().map_or(0, Vec::len))
        .sum();
    (list.len(), instantiated, vnfs)
}

/// The table's rows and the notes printed under it.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

fn lifecycles(runtime: &tokio::runtime::Runtime, report: &mut Report) {
    let setup = setup(runtime, CLIENTS);
    for (clients, count) in [(1, SEQUENTIAL_LIFECYCLES), (CLIENTS, CONCURRENT_LIFECYCLES)] {
        let polls_before = POLLS.load(Ordering::Relaxed);
        let (latencies, wall) = concurrently(clients, count, |index| {
            lifecycle(&setup.operator, &format!("lifecycle-{clients}-{index}"))
        });
        let polls = POLLS.load(Ordering::Relaxed) - polls_before;
        let who = if clients == 1 { "client" } else { "concurrent clients" };
        let name = format!("lifecycle over HTTP (create, instantiate, poll, terminate, poll, delete), {clients} {who}");
        report.notes.push(format!(
            "Lifecycles with {clients} {who}: {:.1} operation polls per lifecycle.",
            polls as f64 / count as f64
        ));
        report.rows.push(Row::new(name, latencies, wall, "lifecycles"));
    }
    let (count, _, _) = listed(&setup.operator);
    assert_eq!(count, 0, "every instance was deleted");
    setup.server.stop(runtime);
}

fn reads(runtime: &tokio::runtime::Runtime, report: &mut Report) {
    let rows = &mut report.rows;
    let setup = setup(runtime, INSTANTIATED_FOR_READS);
    let api = &setup.operator;
    let (ids, _) = concurrently(CLIENTS, LISTED_INSTANCES, |index| {
        create_instance(api, &format!("read-{index}"))
    });
    assert_eq!(listed(api), (LISTED_INSTANCES, 0, 0));

    let (latencies, wall) = timed_reads(api, SINGLE_READS, |_| "/nslcm/v1/api_versions".to_owned());
    rows.push(Row::new(
        "GET /nslcm/v1/api_versions (baseline: HTTP + auth, no store)",
        latencies,
        wall,
        "requests",
    ));
    let (latencies, wall) = timed_reads(api, LIST_READS, |_| INSTANCES.to_owned());
    rows.push(Row::new(
        format!("GET ns_instances (first page of 100), {LISTED_INSTANCES} instances, none instantiated"),
        latencies,
        wall,
        "requests",
    ));
    let (latencies, wall) = timed_reads(api, SINGLE_READS, |index| {
        format!("{INSTANCES}/{}", ids[index % ids.len()])
    });
    rows.push(Row::new(
        "GET ns_instances/{id}, not instantiated",
        latencies,
        wall,
        "requests",
    ));

    let instantiated = &ids[..INSTANTIATED_FOR_READS];
    concurrently(CLIENTS, instantiated.len(), |index| {
        run_task(api, &instantiated[index], "instantiate");
    });
    assert_eq!(
        listed(api),
        (LISTED_INSTANCES, INSTANTIATED_FOR_READS, 3 * INSTANTIATED_FOR_READS)
    );
    let (latencies, wall) = timed_reads(api, LIST_READS, |_| INSTANCES.to_owned());
    rows.push(Row::new(
        format!(
            "GET ns_instances (first page of 100), {LISTED_INSTANCES} instances, {INSTANTIATED_FOR_READS} instantiated"
        ),
        latencies,
        wall,
        "requests",
    ));
    let shown = api
        .get(&format!("{INSTANCES}/{}", instantiated[0]))
        .expect(200, "show an instance");
    assert_eq!(shown["vnfInstance"].as_array().map(Vec::len), Some(3), "{shown:#}");
    let (latencies, wall) = timed_reads(api, SINGLE_READS, |index| {
        format!("{INSTANCES}/{}", instantiated[index % instantiated.len()])
    });
    rows.push(Row::new(
        "GET ns_instances/{id}, instantiated (3 VNFRs)",
        latencies,
        wall,
        "requests",
    ));
    setup.server.stop(runtime);
}

fn restarts(runtime: &tokio::runtime::Runtime, report: &mut Report) {
    let Setup {
        dir: _dir,
        fresh_open,
        config,
        server,
        operator_token,
        operator,
    } = setup(runtime, RUNNING_SERVICES);
    let (latencies, wall) = concurrently(CLIENTS, RUNNING_SERVICES, |index| {
        let started = Instant::now();
        let id = create_instance(&operator, &format!("running-{index}"));
        run_task(&operator, &id, "instantiate");
        started.elapsed()
    });
    report.rows.push(Row::new(
        format!("create + instantiate + poll, {RUNNING_SERVICES} services, {CLIENTS} clients"),
        latencies,
        wall,
        "services",
    ));
    drop(operator);
    server.stop(runtime);

    let mut times = Vec::with_capacity(RESTARTS);
    let mut opens = Vec::with_capacity(RESTARTS);
    let mut recovered_counts = Vec::with_capacity(RESTARTS);
    let mut last = None;
    for round in 0..RESTARTS {
        let started = Instant::now();
        let (server, Started { recovered, open }) = start(runtime, &config);
        let client = Client::new(&server.base, &operator_token);
        loop {
            match client.try_get("/nslcm/v1/api_versions") {
                Ok(answer) if answer.status == 200 => break,
                Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        times.push(started.elapsed());
        opens.push(open);
        assert_eq!(recovered, RUNNING_SERVICES, "restart {round}: services recovered");
        recovered_counts.push(recovered);
        if round + 1 == RESTARTS {
            last = Some((server, client));
        } else {
            drop(client);
            server.stop(runtime);
        }
    }
    let (server, client) = last.expect("the last restart");
    let (count, instantiated, vnfs) = listed(&client);
    assert_eq!(
        (count, instantiated, vnfs),
        (RUNNING_SERVICES, RUNNING_SERVICES, 3 * RUNNING_SERVICES),
        "every service runs after the restarts"
    );
    drop(client);
    server.stop(runtime);

    let total: Duration = times.iter().sum();
    times.sort();
    opens.sort();
    report.notes.push(format!(
        "Restart: `server::open` alone took {} (median) with {RUNNING_SERVICES} services to recover, {} on the empty data directory.",
        millis(percentile(&opens, 0.5)),
        millis(fresh_open)
    ));
    report.rows.push(Row {
        name: format!(
            "restart with {RUNNING_SERVICES} running: open (recovered {}) + bind + first GET api_versions",
            recovered_counts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/")
        ),
        iterations: times.len(),
        median: percentile(&times, 0.5),
        tail: *times.last().expect("a restart"),
        tail_is_max: true,
        throughput: format!("{:.2} restarts/s", times.len() as f64 / total.as_secs_f64()),
    });
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Build the guests before anything is timed.
    support::guests();
    let started = Instant::now();
    let mut report = Report::default();
    lifecycles(&runtime, &mut report);
    reads(&runtime, &mut report);
    restarts(&runtime, &mut report);

    println!(
        "## wasmano serve through its REST API (in-process server, HTTP/1.1 keep-alive clients, {cores} cores, tokio default workers)\n"
    );
    println!("| row | iterations | median | p99 / max | throughput |");
    println!("|---|---|---|---|---|");
    for row in &report.rows {
        println!(
            "| {} | {} | {} | {} {} | {} |",
            row.name,
            row.iterations,
            millis(row.median),
            if row.tail_is_max { "max" } else { "p99" },
            millis(row.tail),
            row.throughput,
        );
    }
    println!(
        "\nClients poll operations every {} ms (the tight poll is part of what is measured). Each server ran one warm-up lifecycle first (the first instantiation resolves and caches the NSD's template).",
        POLL.as_millis()
    );
    for note in &report.notes {
        println!("{note}");
    }
    println!(
        "Every operation COMPLETED; every restart recovered {RUNNING_SERVICES} services. Total {:.1} s.",
        started.elapsed().as_secs_f64()
    );
}
