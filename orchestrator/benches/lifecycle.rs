//! Benchmark of the workflow engine (release build):
//! `cargo bench -p wasmano --bench lifecycle`.
//!
//! Full lifecycles (instantiate then terminate) of a 3-VNF service whose
//! placement, configure and state managers and whose FSMs are the example
//! WebAssembly managers, on emulated VIMs, with records in a durable SQLite
//! file: lifecycles per second, p50/p99 instantiate latency, and where the
//! time goes: hooks and infrastructure from the steps the workflows
//! journaled, the record store timed around every call into it (records
//! and the journal's own write), the engine the rest. Measured twice: on a
//! template built in code, and on the bundled example package onboarded
//! into a catalogue and resolved from it (the way `wasmano demo` runs it),
//! by one client; then the template built in code shared among 8 clients,
//! each running its lifecycles one after another. Then 1,000 services
//! instantiated concurrently.

#[path = "../../tests/support/mod.rs"]
mod support;
#[path = "../../tests/support/package.rs"]
mod support_package;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support_package::write_bundled_package;
use tango_model::KeyValue;
use tango_model::descriptor::VimKind;
use tango_model::fsm::FsmEvent;
use tango_model::ssm::SsmEvent;
use wasmano::catalogue::Catalogue;
use wasmano::infrastructure::emulated::EmulatedInfrastructure;
use wasmano::infrastructure::{Infrastructure, VimConfig};
use wasmano::package::{Package, onboard};
use wasmano::placement::PlacementOptions;
use wasmano::records::{
    JournalEntry, NsRecord, RecordStore, RecordWrite, SqliteStore, StoreFuture, VnfRecord, Written,
};
use wasmano::service;
use wasmano::workflow::{ManagerBinding, Orchestrator, ServiceTemplate, UnitTemplate, VnfTemplate, WorkflowReport};
use wasmano_host::{Host, HostConfig, Limits, SpecificManager, WasmManager};

const LIFECYCLES: usize = 2_000;
const CONCURRENT: usize = 1_000;
/// How many clients share the lifecycles in the concurrent row.
const CLIENTS: usize = 8;

fn manager(host: &Host, path: &std::path::Path, id: &str) -> Arc<dyn SpecificManager> {
    let module = host.load_file(path, None).expect("module");
    let options = vec![KeyValue::new("state_entries", "sessions=7")];
    Arc::new(WasmManager::new(host, module, id, options, Limits::default()).expect("manager"))
}

fn template(host: &Host) -> Arc<ServiceTemplate> {
    let guests = support::guests();
    let fsm = manager(host, &guests.vnf_manager, "fsm");
    let vnf = |vnf_id: &str, kind: VimKind, cores: f64, memory_mb: f64| {
        let units_key = if kind == VimKind::Container {
            "cloudnative_deployment_units"
        } else {
            "virtual_deployment_units"
        };
        VnfTemplate {
            vnf_id: vnf_id.into(),
            vnfd_reference: format!("eu.wasmano/{vnf_id}/1.0"),
            vnfd_version: "1.0".into(),
            vnfd: serde_json::from_value(json!({"name": vnf_id, "vendor": "eu.wasmano", "version": "1.0",
                units_key: [{"id": "unit01", "resource_requirements": {
                    "cpu": {"vcpus": cores}, "memory": {"size": memory_mb, "size_unit": "MB"}}}],
                "function_specific_managers": [{"id": "fsm", "options": [{"key": "type", "value": "configure"}]}]}))
            .expect("a VNFD"),
            units: vec![UnitTemplate {
                unit_id: "unit01".into(),
                kind,
                image: None,
                cores,
                memory_mb,
                connection_points: vec!["eth0".into()],
            }],
            required_labels: BTreeSet::new(),
            fsms: vec![ManagerBinding {
                manager: Arc::clone(&fsm),
                events: FsmEvent::ALL.to_vec(),
            }],
        }
    };
    Arc::new(ServiceTemplate {
        nsd_reference: "eu.wasmano/bench/1.0".into(),
        nsd_version: "1.0".into(),
        nsd: serde_json::from_value(json!({"name": "bench", "vendor": "eu.wasmano", "version": "1.0"}))
            .expect("an NSD"),
        vnfs: vec![
            vnf("web", VimKind::Container, 1.0, 1_000.0),
            vnf("cache", VimKind::Container, 1.0, 1_000.0),
            vnf("db", VimKind::Vm, 2.0, 4_000.0),
        ],
        ssms: vec![
            ManagerBinding {
                manager: manager(host, &guests.placement, "placement"),
                events: vec![SsmEvent::Placement],
            },
            ManagerBinding {
                manager: manager(host, &guests.configure, "configure"),
                events: vec![SsmEvent::Configure],
            },
            ManagerBinding {
                manager: manager(host, &guests.state, "state"),
                events: vec![SsmEvent::State],
            },
        ],
    })
}

/// Emulated VIMs with room for every unit of `services` services at once,
/// twice over. Each VIM's capacity is what fits in the emulated address
/// plan (255 units per VIM): 250 of the template's container units (1 core,
/// 1,000 MB) or VM units (2 cores, 4,000 MB), so capacity, which placement
/// and reservations see, is what binds, not addresses.
fn vims(services: usize) -> Vec<VimConfig> {
    let per_kind = (services * 2).div_ceil(125).max(1);
    let vim = |id: String, kind| {
        let (cores, memory_mb) = match kind {
            VimKind::Container => (250.0, 250_000.0),
            VimKind::Vm => (500.0, 1_000_000.0),
        };
        VimConfig {
            id,
            kind,
            cores,
            memory_mb,
            labels: BTreeSet::new(),
        }
    };
    (0..per_kind)
        .flat_map(|index| {
            [
                vim(format!("edge-{index}"), VimKind::Container),
                vim(format!("core-{index}"), VimKind::Vm),
            ]
        })
        .collect()
}

fn orchestrator(services: usize, data: &std::path::Path) -> (Arc<Orchestrator>, Arc<TimedStore>) {
    let infrastructure: Arc<dyn Infrastructure> = Arc::new(EmulatedInfrastructure::new(vims(services)).expect("vims"));
    let store = Arc::new(TimedStore {
        inner: SqliteStore::open(&data.join("records.sqlite")).expect("store"),
        spent_nanos: AtomicU64::new(0),
        commits: AtomicU64::new(0),
        entries: AtomicU64::new(0),
    });
    let orchestrator = Orchestrator::new(
        infrastructure,
        Arc::clone(&store) as Arc<dyn RecordStore>,
        PlacementOptions::default(),
    );
    (Arc::new(orchestrator), store)
}

/// The SQLite store, with the time spent in each of its calls added up.
struct TimedStore {
    inner: SqliteStore,
    spent_nanos: AtomicU64,
    /// How many commits, and journal entries in them.
    commits: AtomicU64,
    entries: AtomicU64,
}

impl TimedStore {
    fn timed<'a, T: Send + 'a>(&'a self, call: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        Box::pin(async move {
            let started = Instant::now();
            let outcome = call.await;
            let spent = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.spent_nanos.fetch_add(spent, Ordering::Relaxed);
            outcome
        })
    }

    fn spent(&self) -> Duration {
        Duration::from_nanos(self.spent_nanos.load(Ordering::Relaxed))
    }
}

impl RecordStore for TimedStore {
    fn commit(&self, write: RecordWrite, journal: Vec<JournalEntry>) -> StoreFuture<'_, Written> {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(journal.len() as u64, Ordering::Relaxed);
        self.timed(self.inner.commit(write, journal))
    }
    fn ns(&self, id: &str) -> StoreFuture<'_, NsRecord> {
        self.timed(self.inner.ns(id))
    }
    fn all_ns(&self) -> StoreFuture<'_, Vec<NsRecord>> {
        self.timed(self.inner.all_ns())
    }
    fn vnf(&self, id: &str) -> StoreFuture<'_, VnfRecord> {
        self.timed(self.inner.vnf(id))
    }
    fn vnfs_of(&self, service_id: &str) -> StoreFuture<'_, Vec<VnfRecord>> {
        self.timed(self.inner.vnfs_of(service_id))
    }
    fn ns_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<NsRecord>> {
        self.timed(self.inner.ns_many(ids))
    }
    fn vnfs_of_many(&self, service_ids: Vec<String>) -> StoreFuture<'_, Vec<VnfRecord>> {
        self.timed(self.inner.vnfs_of_many(service_ids))
    }
    fn journal_of(&self, service_id: &str) -> StoreFuture<'_, Vec<JournalEntry>> {
        self.timed(self.inner.journal_of(service_id))
    }
    fn journal_of_operation(&self, operation_id: &str) -> StoreFuture<'_, Vec<JournalEntry>> {
        self.timed(self.inner.journal_of_operation(operation_id))
    }
    fn held_removals(&self) -> StoreFuture<'_, Vec<wasmano::infrastructure::DeployedUnit>> {
        self.timed(self.inner.held_removals())
    }
    fn removal_done(&self, instance_ref: &str) -> StoreFuture<'_, ()> {
        self.timed(self.inner.removal_done(instance_ref))
    }
}

#[derive(Default)]
struct Shares {
    hooks: Duration,
    infrastructure: Duration,
    total: Duration,
}

impl Shares {
    fn add(&mut self, report: &WorkflowReport, elapsed: Duration) {
        for step in &report.steps {
            let name = step.step.as_str();
            if step.event.is_some() {
                self.hooks += step.duration;
            } else if ["deploy", "remove", "topology", "inject envs"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                self.infrastructure += step.duration;
            }
        }
        self.total += elapsed;
    }

    fn merge(&mut self, other: Shares) {
        self.hooks += other.hooks;
        self.infrastructure += other.infrastructure;
        self.total += other.total;
    }

    fn percent(&self, part: Duration) -> f64 {
        100.0 * part.as_secs_f64() / self.total.as_secs_f64()
    }
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}

/// One row of the lifecycle table.
struct LifecycleRun {
    lifecycles_per_second: f64,
    instantiate_p50: Duration,
    instantiate_p99: Duration,
    hooks: f64,
    store: f64,
    infrastructure: f64,
    /// Store commits, and journal entries, per lifecycle.
    commits: f64,
    entries: f64,
}

/// Runs [`LIFECYCLES`] lifecycles of `template` on a fresh orchestrator,
/// shared among `clients` that each run theirs one after another.
fn run_lifecycles(runtime: &tokio::runtime::Runtime, template: &Arc<ServiceTemplate>, clients: usize) -> LifecycleRun {
    let data = tempfile::tempdir().expect("data dir");
    let (orchestrator, store) = orchestrator(4 * clients, data.path());
    let started = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let orchestrator = Arc::clone(&orchestrator);
                let template = Arc::clone(template);
                let lifecycles = LIFECYCLES / clients + usize::from(client < LIFECYCLES % clients);
                tokio::spawn(async move {
                    let mut instantiate = Vec::with_capacity(lifecycles);
                    let mut shares = Shares::default();
                    for _ in 0..lifecycles {
                        let began = Instant::now();
                        let service = orchestrator
                            .instantiate(Arc::clone(&template))
                            .await
                            .expect("instantiate");
                        let instantiated = began.elapsed();
                        instantiate.push(instantiated);
                        shares.add(&service, instantiated);
                        let began = Instant::now();
                        let terminated = orchestrator.terminate(&service.service_id).await.expect("terminate");
                        shares.add(&terminated, began.elapsed());
                    }
                    (instantiate, shares)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(clients);
        for task in tasks {
            results.push(task.await.expect("client"));
        }
        results
    });
    let elapsed = started.elapsed();
    let mut instantiate = Vec::with_capacity(LIFECYCLES);
    let mut shares = Shares::default();
    for (latencies, client_shares) in results {
        instantiate.extend(latencies);
        shares.merge(client_shares);
    }
    instantiate.sort();
    LifecycleRun {
        lifecycles_per_second: LIFECYCLES as f64 / elapsed.as_secs_f64(),
        instantiate_p50: percentile(&instantiate, 0.5),
        instantiate_p99: percentile(&instantiate, 0.99),
        hooks: shares.percent(shares.hooks),
        store: shares.percent(store.spent()),
        infrastructure: shares.percent(shares.infrastructure),
        commits: store.commits.load(Ordering::Relaxed) as f64 / LIFECYCLES as f64,
        entries: store.entries.load(Ordering::Relaxed) as f64 / LIFECYCLES as f64,
    }
}

/// The bundled example package onboarded into a fresh catalogue and its
/// service resolved from it, as `wasmano demo` does; with the time each took.
fn onboarded_template(host: &Host, dir: &std::path::Path) -> (Arc<ServiceTemplate>, Duration, Duration) {
    let root = write_bundled_package(&dir.join("package"), &support::guests().examples(), |_, text| text);
    let package = Package::read(&root).expect("read package");
    let catalogue = Catalogue::open(&dir.join("data")).expect("catalogue");
    let started = Instant::now();
    let report = onboard(&package, &catalogue, host).expect("onboard");
    let onboarding = started.elapsed();
    let started = Instant::now();
    let template =
        service::from_catalogue(&catalogue, host, &service::LegacySettings::default(), &report.nsd).expect("resolve");
    (Arc::new(template), onboarding, started.elapsed())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let package_dir = tempfile::tempdir().expect("package dir");
    // A precompiled cache, as `wasmano` keeps in its data directory:
    // onboarding fills it once the package is stored, resolving reads it.
    let host = Host::new(HostConfig {
        cache_dir: Some(package_dir.path().join("cache")),
        ..HostConfig::default()
    })
    .expect("host");
    let (onboarded, onboarding, resolving) = onboarded_template(&host, package_dir.path());
    let in_code = template(&host);
    let shared = format!("template built in code, {CLIENTS} clients");
    let runs = [
        (
            "template built in code, 1 client",
            run_lifecycles(&runtime, &in_code, 1),
        ),
        (
            "bundled package, onboarded and resolved from the catalogue, 1 client",
            run_lifecycles(&runtime, &onboarded, 1),
        ),
        (shared.as_str(), run_lifecycles(&runtime, &in_code, CLIENTS)),
    ];
    println!("## Lifecycles (instantiate + terminate, 3 VNFs, durable SQLite records, {LIFECYCLES} each)\n");
    println!(
        "| service | lifecycles/s | instantiate p50 | instantiate p99 | hooks | store | infrastructure | engine | commits (journal entries) per lifecycle |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (service, run) in &runs {
        println!(
            "| {service} | {:.0} | {:.2} ms | {:.2} ms | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {:.1} ({:.1}) |",
            run.lifecycles_per_second,
            run.instantiate_p50.as_secs_f64() * 1e3,
            run.instantiate_p99.as_secs_f64() * 1e3,
            run.hooks,
            run.store,
            run.infrastructure,
            100.0 - run.hooks - run.store - run.infrastructure,
            run.commits,
            run.entries,
        );
    }
    println!(
        "\nOnboarding the bundled package (4 descriptors, 4 modules compiled): {:.1} ms; resolving its service from the catalogue: {:.1} ms.",
        onboarding.as_secs_f64() * 1e3,
        resolving.as_secs_f64() * 1e3
    );

    let template = in_code;
    let demoted = hostile_template(&host, &template);
    // The same hostile managers on a host that keeps every hook at the
    // orchestrator's CPU priority: what demoting long hooks buys.
    let never_demoting = Host::new(HostConfig {
        demote_after: None,
        ..HostConfig::default()
    })
    .expect("host");
    let not_demoted = hostile_template(&never_demoting, &template);
    println!(
        "\n## {CONCURRENT} services instantiated concurrently (default workers), alone and beside {HOSTILE} services whose placement manager loops to a {} s deadline\n",
        HOSTILE_DEADLINE.as_secs()
    );
    println!(
        "Demotion of long hooks is {} in this process.\n",
        if host.demotes_long_hooks() {
            "allowed"
        } else {
            "NOT allowed (no privilege)"
        }
    );
    println!("| run | errors | wall time | instantiate p50 | instantiate p99 | hostile ones failed |");
    println!("|---|---|---|---|---|---|");
    for (run, hostile) in [
        ("alone", None),
        ("beside the hostile ones, demoted past their slice", Some(&demoted)),
        ("beside the hostile ones, never demoted", Some(&not_demoted)),
    ] {
        let result = concurrent_run(&runtime, &template, hostile);
        println!(
            "| {run} | {} | {:.2} s | {:.1} ms | {:.1} ms | {} |",
            result.failures,
            result.elapsed.as_secs_f64(),
            result.p50.as_secs_f64() * 1e3,
            result.p99.as_secs_f64() * 1e3,
            hostile.map_or("-".to_owned(), |_| format!("{}/{HOSTILE}", result.hostile_failed)),
        );
    }
}

/// How many hostile services run beside the concurrent ones.
const HOSTILE: usize = 10;

/// The hostile placement manager's deadline.
const HOSTILE_DEADLINE: Duration = Duration::from_secs(1);

/// `template` with a placement manager that loops until its deadline.
fn hostile_template(host: &Host, template: &Arc<ServiceTemplate>) -> Arc<ServiceTemplate> {
    let module = host.load_file(&support::guests().hostile, None).expect("module");
    let limits = Limits {
        deadline: HOSTILE_DEADLINE,
        ..Limits::default()
    };
    let options = vec![KeyValue::new("behaviour", "loop")];
    let looping: Arc<dyn SpecificManager> =
        Arc::new(WasmManager::new(host, module, "looping-placement", options, limits).expect("manager"));
    let mut ssms = template.ssms.clone();
    ssms[0] = ManagerBinding {
        manager: looping,
        events: vec![SsmEvent::Placement],
    };
    Arc::new(ServiceTemplate {
        ssms,
        ..(**template).clone()
    })
}

/// What a concurrent run measured.
struct ConcurrentRun {
    failures: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    hostile_failed: usize,
}

/// `CONCURRENT` instantiations of `template` at once, after `hostile`
/// services (when given) have started theirs.
fn concurrent_run(
    runtime: &tokio::runtime::Runtime,
    template: &Arc<ServiceTemplate>,
    hostile: Option<&Arc<ServiceTemplate>>,
) -> ConcurrentRun {
    let data = tempfile::tempdir().expect("data dir");
    let (orchestrator, _) = orchestrator(CONCURRENT + HOSTILE, data.path());
    runtime.block_on(async {
        let hostile_tasks: Vec<_> = hostile
            .map(|hostile| {
                (0..HOSTILE)
                    .map(|_| {
                        let (orchestrator, template) = (Arc::clone(&orchestrator), Arc::clone(hostile));
                        tokio::spawn(async move { orchestrator.instantiate(template).await })
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Let the hostile ones reach their placement hook first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let (orchestrator, template) = (Arc::clone(&orchestrator), Arc::clone(template));
                tokio::spawn(async move {
                    let began = Instant::now();
                    orchestrator.instantiate(template).await.map(|_| began.elapsed())
                })
            })
            .collect();
        let mut failures = 0;
        let mut latencies = Vec::with_capacity(CONCURRENT);
        for task in tasks {
            match task.await.expect("task") {
                Ok(latency) => latencies.push(latency),
                Err(error) => {
                    if failures == 0 {
                        eprintln!("first failure: {error}");
                    }
                    failures += 1;
                }
            }
        }
        let elapsed = started.elapsed();
        let mut hostile_failed = 0;
        for task in hostile_tasks {
            if task.await.expect("task").is_err() {
                hostile_failed += 1;
            }
        }
        latencies.sort();
        ConcurrentRun {
            failures,
            elapsed,
            p50: percentile(&latencies, 0.5),
            p99: percentile(&latencies, 0.99),
            hostile_failed,
        }
    })
}
