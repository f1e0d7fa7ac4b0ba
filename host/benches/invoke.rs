//! Benchmark of the host (release build): `cargo bench -p wasmano-host --bench invoke`.
//!
//! - every example event on its bundled 5GTANGO payload (and placement and
//!   configure also on the content wasmano's orchestrator sends), timed as the
//!   orchestrator pays for it: from the content document (a JSON value) to
//!   the typed reply, building the request included (the wasm side
//!   serializes it for the guest, the native side parses it into the SDK's
//!   typed request), fresh instance per call, side by side with the same
//!   manager called natively (no sandbox) in the same run, and against a
//!   floor: an empty call (`handles`) in a fresh instance of the same module;
//! - the Python placement example (componentize-py) beside its Rust twin:
//!   per-call cost, floor, the smallest memory cap a call succeeds under,
//!   loading;
//! - cold compile and cached load of each example;
//! - 10,000 invocations spread over every core;
//! - resident memory per in-flight instance.
//!
//! Prints a Markdown table; the README quotes it.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use sm_sdk::fsm::FsmEvent;
use sm_sdk::ssm::SsmEvent;
use sm_sdk::{Document, FunctionManager, KeyValue, ServiceManager};
use wasmano_host::{Event, Host, HostConfig, Limits, Request, WasmManager};

use support::{guests, payload};

const ITERATIONS: usize = 5_000;
const WARMUP: usize = 200;

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile).round() as usize];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn measure(iterations: usize, mut run: impl FnMut()) -> Stats {
    for _ in 0..WARMUP.min(iterations) {
        run();
    }
    let samples = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    stats(samples)
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// Points this process's stderr at /dev/null while it lives. Natively the
/// SDK writes a manager's log lines to stderr: 5,000 of them per row would
/// bury the table, and the native column would time a terminal write the
/// sandboxed call does not make (its lines go to the host's `tracing`).
struct QuietStderr {
    saved: libc::c_int,
}

impl QuietStderr {
    fn new() -> Self {
        let null = std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null");
        // SAFETY: dup and dup2 on descriptors this process owns; stderr is
        // put back in `drop`.
        let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
        assert!(saved >= 0, "dup(stderr): {}", std::io::Error::last_os_error());
        let redirected = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), libc::STDERR_FILENO) };
        assert!(redirected >= 0, "dup2: {}", std::io::Error::last_os_error());
        // A native manager that panics must still be heard.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |panic| {
            // SAFETY: as in `drop`.
            unsafe { libc::dup2(saved, libc::STDERR_FILENO) };
            report(panic);
        }));
        Self { saved }
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        drop(std::panic::take_hook());
        // SAFETY: `saved` is the descriptor `new` duplicated from stderr.
        unsafe {
            libc::dup2(self.saved, libc::STDERR_FILENO);
            libc::close(self.saved);
        }
    }
}

fn manager(host: &Host, path: &Path, options: Vec<KeyValue>, limits: Limits) -> WasmManager {
    let module = host.load_file(path, None).expect("load");
    WasmManager::new(host, module, "bench", options, limits).expect("manager")
}

/// The Python placement example (componentize-py, CPython inside the
/// component) beside its Rust twin on the same payload: per-call cost, the
/// floor of each module, the smallest memory cap a call succeeds under,
/// and loading.
fn python_beside_rust(host: &Host, guests: &support::Guests) {
    const PYTHON_ITERATIONS: usize = 300;
    let python = &support::python_guests().placement;
    let content = payload("tng-sdk-sm/ssm/placement_event.yml");
    let event = Event::Ssm(SsmEvent::Placement);
    println!(
        "\n## Python beside Rust (ssm placement, tng-sdk-sm/ssm/placement_event.yml, {PYTHON_ITERATIONS} iterations)\n"
    );
    println!("| module | size | call p50 | call p99 | floor p50 | smallest memory cap | cold compile | cached load |");
    println!("|---|---|---|---|---|---|---|---|");
    let cache = std::env::temp_dir().join(format!("wasmano-bench-python-cache-{}", std::process::id()));
    let cached_host = Host::new(HostConfig {
        cache_dir: Some(cache.clone()),
        max_instances: 8,
        ..HostConfig::default()
    })
    .expect("host");
    for (name, path) in [("Rust", &guests.placement), ("Python", python)] {
        let bytes = std::fs::read(path).expect("module");
        let manager = manager(host, path, Vec::new(), Limits::default());
        let call = measure(PYTHON_ITERATIONS, || {
            let request = Request::new(event, &content).expect("request");
            std::hint::black_box(manager.invoke_blocking(&request).expect("reply"));
        });
        let floor = measure(PYTHON_ITERATIONS, || {
            std::hint::black_box(manager.handled_events().expect("handles"));
        });
        let module = manager.module().clone();
        let answers_under = |memory_bytes: usize| {
            let capped = WasmManager::new(
                host,
                module.clone(),
                "bench",
                Vec::new(),
                Limits {
                    memory_bytes,
                    ..Limits::default()
                },
            )
            .expect("manager");
            capped
                .invoke_blocking(&Request::new(event, &content).expect("request"))
                .is_ok()
        };
        // The smallest cap, to 64 KiB (a wasm page), that a call succeeds under.
        let (mut refused, mut answered) = (0, Limits::default().memory_bytes);
        assert!(answers_under(answered), "{name} answers under the default cap");
        while answered - refused > 64 << 10 {
            let middle = (refused + answered) / 2;
            if answers_under(middle) {
                answered = middle;
            } else {
                refused = middle;
            }
        }
        let cold = measure(3, || {
            std::hint::black_box(host.load_bytes(&bytes, None).expect("compile"));
        });
        cached_host.load_bytes(&bytes, None).expect("fill the cache");
        let cached = measure(20, || {
            std::hint::black_box(cached_host.load_bytes(&bytes, None).expect("cached load"));
        });
        println!(
            "| {name} | {:.1} MB | {} | {} | {} | {:.1} MiB | {} | {} |",
            bytes.len() as f64 / 1e6,
            millis(call.p50),
            millis(call.p99),
            millis(floor.p50),
            answered as f64 / f64::from(1 << 20),
            millis(cold.p50),
            millis(cached.p50)
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
}

/// Resident set size of this process, from /proc/self/statm.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("rss field");
    pages * 4096
}

/// The placement example called natively on a content document, as its
/// rows for both payloads run it.
fn native_placement(content: &str) {
    let request = sm_sdk::ssm::PlacementRequest::from_document(Document::from_json(content)).unwrap();
    std::hint::black_box(sm_placement::MostFreeCores.placement(request).unwrap());
}

/// The configure example called natively on a content document.
fn native_configure(content: &str) {
    let request = sm_sdk::ssm::ConfigureRequest::from_document(Document::from_json(content)).unwrap();
    std::hint::black_box(sm_configure::PeerAddresses.configure(request).unwrap());
}

fn main() {
    let guests = guests();
    let host = Host::new(HostConfig::default()).expect("host");
    let state_option = vec![KeyValue::new("state_entries", "sessions=3")];

    println!("## Invocations (request building included, fresh instance per call, {ITERATIONS} iterations)\n");
    println!(
        "| event | payload (JSON sent) | wasm p50 | wasm p99 | floor p50 | wasm / floor | native p50 | native p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    type Native = Box<dyn Fn(&str)>;
    let ssm = |event| Event::Ssm(event);
    let fsm = |event| Event::Fsm(event);
    let cases: Vec<(&str, Event, &Path, &str, Native)> = vec![
        (
            "ssm placement",
            ssm(SsmEvent::Placement),
            &guests.placement,
            "tng-sdk-sm/ssm/placement_event.yml",
            Box::new(native_placement),
        ),
        (
            "ssm configure",
            ssm(SsmEvent::Configure),
            &guests.configure,
            "tng-sdk-sm/ssm/configure_event.yml",
            Box::new(native_configure),
        ),
        (
            "ssm placement",
            ssm(SsmEvent::Placement),
            &guests.placement,
            "wasmano/ssm_placement_event.yml",
            Box::new(native_placement),
        ),
        (
            "ssm configure",
            ssm(SsmEvent::Configure),
            &guests.configure,
            "wasmano/ssm_configure_event.yml",
            Box::new(native_configure),
        ),
        (
            "ssm state",
            ssm(SsmEvent::State),
            &guests.state,
            "tng-sdk-sm/ssm/state_event.yml",
            Box::new(|content| {
                let request = sm_sdk::ssm::StateRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_state::VersionedState.state(request).unwrap());
            }),
        ),
        (
            "fsm start",
            fsm(FsmEvent::Start),
            &guests.vnf_manager,
            "tng-sdk-sm/fsm/start_event.yml",
            Box::new(|content| {
                let request = sm_sdk::fsm::LifecycleRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_vnf_manager::VnfManager.start(request).unwrap());
            }),
        ),
        (
            "fsm stop",
            fsm(FsmEvent::Stop),
            &guests.vnf_manager,
            "tng-sdk-sm/fsm/stop_event.yml",
            Box::new(|content| {
                let request = sm_sdk::fsm::LifecycleRequest::from_document(Document::from_json(content)).unwrap();
                sm_vnf_manager::VnfManager.stop(request).unwrap();
            }),
        ),
        (
            "fsm configure",
            fsm(FsmEvent::Configure),
            &guests.vnf_manager,
            "tng-sdk-sm/fsm/configure_event.yml",
            Box::new(|content| {
                let request = sm_sdk::fsm::ConfigureRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_vnf_manager::VnfManager.configure(request).unwrap());
            }),
        ),
        (
            "fsm state extract",
            fsm(FsmEvent::State),
            &guests.vnf_manager,
            "tng-sdk-sm/fsm/state_event_extract.yml",
            Box::new(|content| {
                let request = sm_sdk::fsm::StateRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_vnf_manager::VnfManager.state(request).unwrap());
            }),
        ),
        (
            "fsm state inject",
            fsm(FsmEvent::State),
            &guests.vnf_manager,
            "tng-sdk-sm/fsm/state_event_inject.yml",
            Box::new(|content| {
                let request = sm_sdk::fsm::StateRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_vnf_manager::VnfManager.state(request).unwrap());
            }),
        ),
        (
            "ssm task",
            ssm(SsmEvent::Task),
            &guests.task,
            "tng-sdk-sm/ssm/task_event.yml",
            Box::new(|content| {
                let request = sm_sdk::ssm::TaskRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_task::TaskAndMonitor.task(request).unwrap());
            }),
        ),
        (
            "ssm monitor",
            ssm(SsmEvent::Monitor),
            &guests.task,
            "wasmano/ssm_monitor_alert.yml",
            Box::new(|content| {
                let request = sm_sdk::ssm::MonitorRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_task::TaskAndMonitor.monitor(request).unwrap());
            }),
        ),
        (
            "fsm scale",
            fsm(FsmEvent::Scale),
            &guests.scale,
            "wasmano/fsm_scale_event.yml",
            Box::new(|content| {
                let request = sm_sdk::fsm::ScaleRequest::from_document(Document::from_json(content)).unwrap();
                std::hint::black_box(sm_scale::LoadBalancer.scale(request).unwrap());
            }),
        ),
    ];
    for (name, event, module, file, native) in &cases {
        let content = payload(file);
        let wasm = manager(&host, module, state_option.clone(), Limits::default());
        let sandboxed = measure(ITERATIONS, || {
            let request = Request::new(*event, &content).expect("request");
            std::hint::black_box(wasm.invoke_blocking(&request).expect("reply"));
        });
        let floor = measure(ITERATIONS, || {
            std::hint::black_box(wasm.handled_events().expect("handles"));
        });
        let direct = {
            let _quiet = QuietStderr::new();
            measure(ITERATIONS, || {
                native(&serde_json::to_string(&content).expect("a JSON value serializes"))
            })
        };
        println!(
            "| {name} | {file} ({:.1} KB) | {} | {} | {} | {:.2}× | {} | {} |",
            content.to_string().len() as f64 / 1024.0,
            micros(sandboxed.p50),
            micros(sandboxed.p99),
            micros(floor.p50),
            sandboxed.p50.as_secs_f64() / floor.p50.as_secs_f64(),
            micros(direct.p50),
            micros(direct.p99)
        );
    }

    python_beside_rust(&host, guests);

    println!("\n## Loading\n");
    println!("| module | size | cold compile p50 | cached load p50 |");
    println!("|---|---|---|---|");
    let cache = std::env::temp_dir().join(format!("wasmano-bench-cache-{}", std::process::id()));
    let cached_host = Host::new(HostConfig {
        cache_dir: Some(cache.clone()),
        max_instances: 8,
        ..HostConfig::default()
    })
    .expect("host");
    for (name, path) in [
        ("placement", &guests.placement),
        ("configure", &guests.configure),
        ("state", &guests.state),
        ("vnf-manager", &guests.vnf_manager),
    ] {
        let bytes = std::fs::read(path).expect("module");
        let cold = measure(20, || {
            std::hint::black_box(host.load_bytes(&bytes, None).expect("compile"));
        });
        cached_host.load_bytes(&bytes, None).expect("fill the cache");
        let cached = measure(200, || {
            let module = cached_host.load_bytes(&bytes, None).expect("cached load");
            assert_eq!(module.origin(), wasmano_host::Origin::Cached);
        });
        println!(
            "| {name} | {} KB | {} | {} |",
            bytes.len() / 1024,
            millis(cold.p50),
            millis(cached.p50)
        );
    }
    let _ = std::fs::remove_dir_all(&cache);

    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let total = 10_000;
    let placement = manager(&host, &guests.placement, Vec::new(), Limits::default());
    let request = Request::new(
        Event::Ssm(SsmEvent::Placement),
        &payload("tng-sdk-sm/ssm/placement_event.yml"),
    )
    .unwrap();
    let started = Instant::now();
    let errors: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let (placement, request) = (&placement, &request);
                let share = total / threads + usize::from(worker < total % threads);
                scope.spawn(move || {
                    (0..share)
                        .filter(|_| placement.invoke_blocking(request).is_err())
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("worker")).sum()
    });
    let elapsed = started.elapsed();
    println!("\n## Parallel\n");
    println!(
        "{total} placement invocations on {threads} threads: {errors} errors, {:.0} invocations/s",
        total as f64 / elapsed.as_secs_f64()
    );

    // In-flight instances: each parses a placement request like the real
    // manager, then spins until its deadline, so all are alive at once.
    let in_flight = 64;
    let holding = manager(
        &host,
        &guests.hostile,
        vec![KeyValue::new("behaviour", "loop")],
        Limits {
            deadline: Duration::from_millis(1500),
            ..Limits::default()
        },
    );
    let hold_request = Request::new(
        Event::Ssm(SsmEvent::Placement),
        &payload("tng-sdk-sm/ssm/placement_event.yml"),
    )
    .unwrap();
    let _ = holding.invoke_blocking(&hold_request);
    let baseline = rss_bytes();
    let peak = std::thread::scope(|scope| {
        for _ in 0..in_flight {
            scope.spawn(|| holding.invoke_blocking(&hold_request));
        }
        std::thread::sleep(Duration::from_millis(800));
        rss_bytes()
    });
    println!(
        "\n## Memory\n\n{in_flight} instances in flight: {:.0} KiB resident each (thread stack included)",
        peak.saturating_sub(baseline) as f64 / in_flight as f64 / 1024.0
    );
}
