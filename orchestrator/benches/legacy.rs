//! WebAssembly managers against legacy 5GTANGO managers on the bus (release
//! build): `cargo bench -p wasmano --bench legacy`. Needs RabbitMQ with its
//! management plugin, the venv and Docker (`scripts/test.sh` installs them;
//! `bash scripts/bench-legacy.sh` does too, then runs this).
//!
//! The same FSM start event (the tng-sdk-sm start payload, for one function
//! instance) goes
//!
//! - to the example FSM module (`sm-vnf-manager`), each call in a fresh
//!   sandboxed instance, through [`SpecificManager::invoke`];
//! - to a legacy responder written to be as fast as a legacy manager can be:
//!   this binary run again as a manager (Rust, lapin, one connection and
//!   channel, the event parsed and answered at once), registered and driven
//!   by the orchestrator's own registry and calls;
//! - to the Python manager written as 5GTANGO's were (amqpstorm, PyYAML,
//!   `tests/legacy/tango_sm.py`), as a process.
//!
//! And from nothing to the first reply: a module compiled and called, a
//! precompiled module loaded and called, and a legacy manager launched
//! (process: the fast responder and the Python manager; container: the
//! Python manager's image), registered, subscribed and called.
//!
//! Prints p50 and p99 of each and the ratio of p50s to the WebAssembly one,
//! as Markdown tables. Replies are checked; times never are.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::{Connection, ConnectionProperties};
use serde_json::{Value, json};
use tango_model::fsm::FsmEvent;
use wasmano::bus::{Broker, DEFAULT_BROKER_URL, Launcher, LegacyGroup, LegacyManager, LegacySpec, wire};
use wasmano_host::{Event, Host, HostConfig, Limits, ManagerKind, Reply, Request, SpecificManager, WasmManager};

/// Set in the environment of this binary run as the fast legacy responder.
const RESPONDER: &str = "WASMANO_BENCH_RESPONDER";

const CALLS: usize = 2_000;
const PYTHON_CALLS: usize = 200;
const STARTS: usize = 20;
const CONTAINER_STARTS: usize = 10;
const DEADLINE: Duration = Duration::from_secs(10);
const READY_WITHIN: Duration = Duration::from_secs(60);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if std::env::var_os(RESPONDER).is_some() {
        runtime.block_on(respond());
        return;
    }
    runtime.block_on(bench());
}

/// The fast legacy FSM: subscribes to its event topic, registers (without
/// waiting for the answer), and answers every request on the topic at once.
/// Ends when its connection does (the registry deletes the vhost).
async fn respond() {
    let url = std::env::var("broker_host").expect("broker_host");
    let instance = std::env::var("sf_uuid").expect("sf_uuid");
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("the broker");
    let channel = connection.create_channel().await.expect("a channel");
    wire::declare_exchange(&channel).await.expect("the exchange");
    let topic = wire::event_topic(ManagerKind::Function, &instance);
    let mut events = wire::subscribe(&channel, &topic).await.expect("a subscription");
    let app_id = format!("fast-responder-{instance}");
    let registration = json!({"specific_manager_id": "fast-responder", "version": "0.1", "sf_uuid": instance});
    let properties = wire::request_properties(&app_id, wire::REGISTRATION_TOPIC, &uuid::Uuid::new_v4().to_string());
    channel
        .basic_publish(
            wire::EXCHANGE.into(),
            wire::REGISTRATION_TOPIC.into(),
            BasicPublishOptions::default(),
            &wire::encode(&registration),
            properties,
        )
        .await
        .expect("the registration");
    while let Some(Ok(delivery)) = events.next().await {
        let request = delivery.properties.reply_to().is_some();
        let body: Value = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
        if request && body.get("fsm_type").is_some() {
            let reply = json!({"status": "COMPLETED", "error": null, "envs": []});
            let properties = wire::reply_properties(&app_id, delivery.properties.correlation_id().as_ref());
            let _ = channel
                .basic_publish(
                    wire::EXCHANGE.into(),
                    topic.as_str().into(),
                    BasicPublishOptions::default(),
                    &wire::encode(&reply),
                    properties,
                )
                .await;
        }
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
}

fn start_request(instance: &str) -> Request {
    let content = support::payload("tng-sdk-sm/fsm/start_event.yml");
    Request::new(Event::Fsm(FsmEvent::Start), &content)
        .expect("the start payload")
        .for_instance(instance)
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    sorted[((sorted.len() as f64 * quantile) as usize).min(sorted.len() - 1)]
}

struct Row {
    name: String,
    p50: Duration,
    p99: Duration,
}

impl Row {
    fn of(name: &str, mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self {
            name: name.to_owned(),
            p50: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
        }
    }
}

fn print_table(title: &str, rows: &[Row]) {
    let base = rows[0].p50.as_secs_f64();
    println!("\n{title}\n");
    println!("| path | p50 | p99 | p50 / WebAssembly |");
    println!("|---|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {:.3} ms | {:.3} ms | {:.0}× |",
            row.name,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.p50.as_secs_f64() / base
        );
    }
}

async fn calls(manager: &dyn SpecificManager, instance: &str, count: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let request = start_request(instance);
        let started = Instant::now();
        let reply = manager.invoke(request).await.expect("a reply");
        samples.push(started.elapsed());
        assert!(matches!(reply, Reply::Started(_)), "{reply:?}");
    }
    samples
}

fn legacy(spec: LegacySpec, broker: &Broker) -> (Arc<LegacyGroup>, LegacyManager) {
    let group = LegacyGroup::new(ManagerKind::Function, vec![spec], broker.clone(), READY_WITHIN);
    let manager = LegacyManager::new("fsm", Arc::clone(&group), DEADLINE);
    (group, manager)
}

/// From nothing to the first reply of a legacy manager, `count` times.
async fn legacy_starts(launcher: &Launcher, broker: &Broker, count: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let spec = LegacySpec {
            id: "tng-fsm-legacy".into(),
            launcher: launcher.clone(),
        };
        let (_group, manager) = legacy(spec, broker);
        let instance = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        manager.invoke(start_request(&instance)).await.expect("a first reply");
        samples.push(started.elapsed());
        manager.release(&instance).await.expect("released");
    }
    samples
}

async fn bench() {
    let root = support::workspace_root();
    let broker = Broker::new(DEFAULT_BROKER_URL, None).expect("the broker URL");
    broker
        .vhost_exists("wasmano-probe")
        .expect("RabbitMQ with its management plugin on 127.0.0.1 (scripts/bench-legacy.sh starts it)");
    let python = root.join("target/legacy-venv/bin/python");
    assert!(
        python.exists(),
        "{} (scripts/bench-legacy.sh makes it)",
        python.display()
    );
    let script = root.join("tests/legacy/tango_sm.py");
    let module_path = &support::guests().vnf_manager;
    let module_bytes = std::fs::read(module_path).expect("the module");
    let responder = Launcher::Command(format!(
        "{RESPONDER}=1 exec {}",
        std::env::current_exe().expect("this binary").display()
    ));
    let python_manager = Launcher::Command(format!(
        "exec {} {} --type fsm --id tng-fsm-legacy",
        python.display(),
        script.display()
    ));
    let image = Launcher::Image("wasmano/legacy-tango-fsm:1".into());

    // Per call.
    let host = Host::new(HostConfig::default()).expect("a host");
    let module = host.load_bytes(&module_bytes, None).expect("the module loads");
    let wasm = WasmManager::new(&host, module, "fsm", Vec::new(), Limits::default()).expect("limits");
    let instance = uuid::Uuid::new_v4().to_string();
    calls(&wasm, &instance, 100).await;
    let wasm_calls = calls(&wasm, &instance, CALLS).await;
    let (_fast_group, fast) = legacy(
        LegacySpec {
            id: "fast".into(),
            launcher: responder.clone(),
        },
        &broker,
    );
    calls(&fast, &instance, 100).await;
    let fast_calls = calls(&fast, &instance, CALLS).await;
    fast.release(&instance).await.expect("released");
    let (_python_group, slow) = legacy(
        LegacySpec {
            id: "python".into(),
            launcher: python_manager.clone(),
        },
        &broker,
    );
    calls(&slow, &instance, 10).await;
    let python_calls = calls(&slow, &instance, PYTHON_CALLS).await;
    slow.release(&instance).await.expect("released");
    println!("FSM start with the tng-sdk-sm start payload, one function instance");
    print_table(
        &format!("Per call ({CALLS} calls; {PYTHON_CALLS} for the Python manager)"),
        &[
            Row::of("WebAssembly module, fresh instance per call", wasm_calls),
            Row::of("legacy, fastest responder (Rust, lapin), bus round trip", fast_calls),
            Row::of("legacy, Python manager as 5GTANGO's (amqpstorm)", python_calls),
        ],
    );

    // From nothing to the first reply.
    let mut compiled = Vec::with_capacity(STARTS);
    let mut precompiled = Vec::with_capacity(STARTS);
    let cache = tempfile::tempdir().expect("a cache directory");
    let cached_host = Host::new(HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..HostConfig::default()
    })
    .expect("a host");
    cached_host
        .load_bytes(&module_bytes, None)
        .expect("compiled into the cache");
    for (host, samples) in [(&host, &mut compiled), (&cached_host, &mut precompiled)] {
        for _ in 0..STARTS {
            let started = Instant::now();
            let module = host.load_bytes(&module_bytes, None).expect("the module loads");
            let manager = WasmManager::new(host, module, "fsm", Vec::new(), Limits::default()).expect("limits");
            manager.invoke(start_request(&instance)).await.expect("a first reply");
            samples.push(started.elapsed());
        }
    }
    let fast_starts = legacy_starts(&responder, &broker, STARTS).await;
    let python_starts = legacy_starts(&python_manager, &broker, STARTS).await;
    let container_starts = legacy_starts(&image, &broker, CONTAINER_STARTS).await;
    print_table(
        &format!("From nothing to the first reply ({STARTS} starts; {CONTAINER_STARTS} for the container)"),
        &[
            Row::of("WebAssembly: precompiled module loaded, first call", precompiled),
            Row::of("WebAssembly: module compiled, first call", compiled),
            Row::of(
                "legacy process, fastest responder: launch, register, first call",
                fast_starts,
            ),
            Row::of(
                "legacy process, Python manager: launch, register, first call",
                python_starts,
            ),
            Row::of(
                "legacy container, Python manager image: start, register, first call",
                container_starts,
            ),
        ],
    );
}
