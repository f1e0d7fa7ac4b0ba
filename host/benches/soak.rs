//! Soak of the host (release build): `cargo bench -p wasmano-host --bench soak`,
//! or `scripts/soak.sh`. Not part of CI.
//!
//! One host runs 10,000 invocations of compiled guests, drawn from a fixed
//! seed, half good calls (every example manager on its bundled 5GTANGO
//! payload) and half hostile ones: every behaviour of the SDK-built hostile
//! guest and every hand-written hostile component of `tests/support`, on a
//! few threads at once (one per core, 2 to 4; `SOAK_THREADS` overrides).
//! Each call must end exactly as expected: a good call with the reply its
//! manager gives natively, a hostile one with its own fault (a loop with a
//! timeout, a memory bomb with the memory cap, an aliased reply with the
//! reply cap, ...). Loopers get a 20 ms deadline so the run takes seconds,
//! the guests that work hard before their own limit stops them 1 s,
//! everything else the default limits.
//!
//! Prints one row per behaviour (calls, expected outcome, whether every call
//! ended so, the median and slowest call, the slowest call's overshoot over
//! the deadline, and how many calls ended later than the deadline plus
//! 10 ms) with the system's load average, then the resident memory (VmRSS):
//! the baseline after a warm-up that runs every behaviour on every thread,
//! the peak sampled during the run, the level after each quarter of the
//! run, and the end. Exits non-zero when a call ended otherwise than
//! expected or when the end is more than [`RSS_TOLERANCE_BYTES`] over the
//! baseline. Timings are reported, not asserted: they depend on the
//! machine's load.

#![allow(clippy::unwrap_used, reason = "a benchmark fails by panicking")]

#[path = "../../tests/support/components.rs"]
mod components;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use sm_sdk::fsm::{FsmEvent, LifecycleRequest};
use sm_sdk::ssm::{
    ConfigureRequest, EventSwitch, Placement, PlacementRequest, SsmEvent, StateRequest, VnfPlacement, VnfSwitches,
};
use sm_sdk::{Document, FunctionManager, KeyValue, ServiceManager};
use wasmano_host::{Cause, Event, Fault, Host, HostConfig, InvocationError, Limits, Reply, Request, WasmManager};

use components::Hostility;
use support::{guests, payload};

/// Invocations in the soak, after the warm-up.
const INVOCATIONS: usize = 10_000;

/// The seed of the mix: the same run every time.
const MIX_SEED: u64 = 0x50a4_2025;

/// The seed of every request's WASI random generator, so that a guest
/// answering random numbers answers the same one on every call.
const REQUEST_SEED: u64 = 7;

/// The deadline of the guests that loop (in the event or at start).
const LOOPER_DEADLINE: Duration = Duration::from_millis(20);

/// The deadline of the hostile guests that work hard before they hit their
/// own limit (a 64 MiB memory bomb, an 8 MiB reply, a megabyte of log
/// lines: 10 to 80 ms of CPU here). With the default 100 ms, a loaded
/// machine lets the deadline win the race now and then, which is a timeout,
/// not the fault under test.
const HEAVY_DEADLINE: Duration = Duration::from_secs(1);

/// How late past its deadline a call may end and still count as on time.
const LATENESS_ALLOWED: Duration = Duration::from_millis(10);

/// How much the resident memory may stay above the baseline after the run.
///
/// The baseline is taken after a warm-up that runs every behaviour on every
/// thread, so the pool slots and allocator arenas a run needs are already
/// resident. What can still differ after 10,000 calls in another
/// interleaving is bounded and not a leak: the pool keeps the first MiB of
/// every memory slot it has used resident on purpose (a slot first used in
/// the run adds 1 MiB), and each thread's malloc arena keeps freed heap of
/// up to one reply cap (1 MiB) without returning it. 16 MiB covers a dozen
/// such slots and arenas; a leak of 1.7 KB per call or more exceeds it, and
/// the level after each quarter shows steadier growth.
const RSS_TOLERANCE_BYTES: usize = 16 << 20;

/// How often the resident memory is sampled during the run.
const RSS_SAMPLE_PERIOD: Duration = Duration::from_millis(5);

/// How many unexpected outcomes are printed in full.
const UNEXPECTED_SHOWN: usize = 20;

/// How a call must end.
enum Expected {
    /// With this reply.
    Reply(Reply),
    /// With a reply, the same on every call (a guest whose answer depends
    /// on the request's random seed or on the payload's first VIM).
    SameReply(OnceLock<Reply>),
    /// Without a reply, for exactly this cause.
    Cause(Cause),
    /// With a trap whose kind contains one of these.
    Trap(&'static [&'static str]),
    /// With a contract mismatch (whatever wasmtime's detail).
    ContractMismatch,
    /// With an answered error free of control characters that still holds
    /// these words.
    Sanitized(&'static [&'static str]),
}

impl Expected {
    fn admits(&self, outcome: &Result<Reply, InvocationError>) -> bool {
        match (self, outcome) {
            (Self::Reply(expected), Ok(reply)) => reply == expected,
            (Self::SameReply(first), Ok(reply)) => first.get_or_init(|| reply.clone()) == reply,
            (Self::Cause(expected), Err(error)) => error.cause == *expected,
            (Self::ContractMismatch, Err(error)) => {
                matches!(error.cause, Cause::Fault(Fault::ContractMismatch(_)))
            }
            (Self::Trap(words), Err(error)) => match &error.cause {
                Cause::Fault(Fault::Trap { kind }) => words.iter().any(|word| kind.contains(word)),
                _ => false,
            },
            (Self::Sanitized(words), Err(error)) => match &error.cause {
                Cause::Answered { message, .. } => {
                    !message.chars().any(char::is_control) && words.iter().all(|word| message.contains(word))
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Reply(Reply::Placement(mapping)) => format!("Ok: placement of {} VNF(s)", mapping.vnfs.len()),
            Self::Reply(Reply::Configure(decisions)) => format!("Ok: {} configure decision(s)", decisions.len()),
            Self::Reply(Reply::State(serde_json::Value::Null)) => "Ok: state null".into(),
            Self::Reply(Reply::State(_)) => "Ok: state document".into(),
            Self::Reply(Reply::Started(envs)) => format!("Ok: started, {} envs", envs.len()),
            Self::Reply(reply) => format!("Ok: {reply:?}"),
            Self::SameReply(_) => "Ok: the same reply every call".into(),
            Self::ContractMismatch => "Fault::ContractMismatch".into(),
            Self::Cause(Cause::Fault(Fault::Timeout { deadline })) => {
                format!("Fault::Timeout ({} ms)", deadline.as_millis())
            }
            Self::Cause(Cause::Fault(Fault::MemoryLimit { limit_bytes })) => {
                format!("Fault::MemoryLimit ({} MiB)", limit_bytes >> 20)
            }
            Self::Cause(Cause::Fault(Fault::ReplyTooLarge { limit_bytes })) => {
                format!("Fault::ReplyTooLarge ({} KiB)", limit_bytes >> 10)
            }
            Self::Cause(Cause::Fault(Fault::ErrorMessageTooLarge { size_bytes })) => {
                format!("Fault::ErrorMessageTooLarge ({size_bytes} B)")
            }
            Self::Cause(Cause::Answered { .. }) => "Cause::Answered (its message)".into(),
            Self::Cause(cause) => format!("{cause:?}"),
            Self::Trap(words) => format!("Fault::Trap \"{}\"", words.join("\" or \"")),
            Self::Sanitized(_) => "Cause::Answered, sanitized".into(),
        }
    }
}

/// One kind of call in the mix.
struct Case {
    name: String,
    hostile: bool,
    manager: WasmManager,
    request: Request,
    expected: Expected,
}

impl Case {
    fn deadline(&self) -> Duration {
        self.manager.limits().deadline
    }
}

/// What the calls of one case came to.
#[derive(Clone, Default)]
struct Tally {
    calls: usize,
    unexpected: usize,
    late: usize,
    max_wall: Duration,
    walls: Vec<Duration>,
}

impl Tally {
    fn merge(&mut self, other: &Self) {
        self.calls += other.calls;
        self.unexpected += other.unexpected;
        self.late += other.late;
        self.max_wall = self.max_wall.max(other.max_wall);
        self.walls.extend_from_slice(&other.walls);
    }

    /// The median wall time.
    fn median_wall(&self) -> Duration {
        let mut walls = self.walls.clone();
        walls.sort();
        walls.get(walls.len() / 2).copied().unwrap_or_default()
    }
}

/// A small deterministic generator (SplitMix64) for the mix.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound`.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The resident set size and its high-water mark, from /proc/self/status.
fn rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> usize {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse::<usize>().ok())
            .map(|kib| kib << 10)
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The system's load averages, from /proc/loadavg.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// `wall - deadline`, signed.
fn overshoot(wall: Duration, deadline: Duration) -> String {
    let difference = wall.as_secs_f64() - deadline.as_secs_f64();
    format!("{:+.1} ms", difference * 1e3)
}

fn request(event: Event, content: &serde_json::Value) -> Request {
    Request::new(event, content).expect("request").with_seed(REQUEST_SEED)
}

/// Every case of the mix: the good calls first, then the hostile ones.
fn cases(host: &Host) -> Vec<Case> {
    let guests = guests();
    let load = |path: &std::path::Path| host.load_file(path, None).expect("load");
    let placement_payload = payload("tng-sdk-sm/ssm/placement_event.yml");
    let configure_payload = payload("tng-sdk-sm/ssm/configure_event.yml");
    let state_payload = payload("tng-sdk-sm/ssm/state_event.yml");
    let start_payload = payload("tng-sdk-sm/fsm/start_event.yml");
    let document = |content: &serde_json::Value| Document::from_json(content.to_string());
    let looper = Limits {
        deadline: LOOPER_DEADLINE,
        ..Limits::default()
    };
    let defaults = Limits::default();
    let heavy = Limits {
        deadline: HEAVY_DEADLINE,
        ..Limits::default()
    };
    let placement = Event::Ssm(SsmEvent::Placement);
    let configure = Event::Ssm(SsmEvent::Configure);
    let state = Event::Ssm(SsmEvent::State);
    let anything = json!({"state": "anything"});

    let mut cases = Vec::new();
    // Good calls: the sandboxed reply must be what the manager answers natively.
    let native_placement = sm_placement::MostFreeCores
        .placement(PlacementRequest::from_document(document(&placement_payload)).unwrap())
        .unwrap();
    let native_configure = sm_configure::PeerAddresses
        .configure(ConfigureRequest::from_document(document(&configure_payload)).unwrap())
        .unwrap();
    let native_state = sm_state::VersionedState
        .state(StateRequest::from_document(document(&state_payload)).unwrap())
        .unwrap();
    let native_start = sm_vnf_manager::VnfManager
        .start(LifecycleRequest::from_document(document(&start_payload)).unwrap())
        .unwrap();
    for (name, path, event, content, reply) in [
        (
            "good: ssm placement",
            &guests.placement,
            placement,
            &placement_payload,
            Reply::Placement(native_placement),
        ),
        (
            "good: ssm configure",
            &guests.configure,
            configure,
            &configure_payload,
            Reply::Configure(native_configure),
        ),
        (
            "good: ssm state",
            &guests.state,
            state,
            &state_payload,
            Reply::State(native_state),
        ),
        (
            "good: fsm start",
            &guests.vnf_manager,
            Event::Fsm(FsmEvent::Start),
            &start_payload,
            Reply::Started(native_start),
        ),
    ] {
        cases.push(Case {
            name: name.into(),
            hostile: false,
            manager: WasmManager::new(host, load(path), name, Vec::new(), defaults).unwrap(),
            request: request(event, content),
            expected: Expected::Reply(reply),
        });
    }

    // The SDK-built hostile guest, one manager per behaviour.
    let placed_vnf = "beee663b-10b5-43c3-b2db-1aa149256e60";
    let hostile_module = load(&guests.hostile);
    let fault = |fault| Expected::Cause(Cause::Fault(fault));
    let behaviours: Vec<(&str, Limits, Event, &serde_json::Value, Expected)> = vec![
        (
            "loop",
            looper,
            state,
            &anything,
            fault(Fault::Timeout {
                deadline: LOOPER_DEADLINE,
            }),
        ),
        (
            "memory-bomb",
            heavy,
            state,
            &anything,
            fault(Fault::MemoryLimit {
                limit_bytes: defaults.memory_bytes,
            }),
        ),
        ("panic", defaults, state, &anything, Expected::Trap(&["panicked"])),
        (
            "recursion",
            defaults,
            state,
            &anything,
            // Rust guests keep large frames on a shadow stack in linear
            // memory: overflowing it is an out-of-bounds access.
            Expected::Trap(&["stack overflow", "out of bounds"]),
        ),
        (
            "huge-reply",
            heavy,
            state,
            &anything,
            fault(Fault::ReplyTooLarge {
                limit_bytes: defaults.reply_bytes,
            }),
        ),
        ("sleep", defaults, state, &anything, Expected::Trap(&["tried to wait"])),
        (
            "log-flood",
            heavy,
            state,
            &anything,
            Expected::Reply(Reply::State(serde_json::Value::Null)),
        ),
        (
            "error",
            defaults,
            state,
            &anything,
            Expected::Cause(Cause::Answered {
                message: "hostile manager answers an error on purpose".into(),
                content: None,
            }),
        ),
        (
            "random",
            defaults,
            state,
            &anything,
            Expected::SameReply(OnceLock::new()),
        ),
        (
            "bad-mapping",
            defaults,
            placement,
            &placement_payload,
            Expected::Reply(Reply::Placement(Placement::of_vnfs(vec![VnfPlacement {
                vnf: placed_vnf.into(),
                vim: "no-such-vim".into(),
            }]))),
        ),
        (
            "place-nothing",
            defaults,
            placement,
            &placement_payload,
            Expected::Reply(Reply::Placement(Placement::default())),
        ),
        (
            "first-vim",
            defaults,
            placement,
            &placement_payload,
            Expected::SameReply(OnceLock::new()),
        ),
        (
            "configure-unknown",
            defaults,
            configure,
            &configure_payload,
            Expected::Reply(Reply::Configure(vec![VnfSwitches::configure(
                "no-such-vnf-instance",
                EventSwitch::on(),
            )])),
        ),
    ];
    for (behaviour, limits, event, content, expected) in behaviours {
        let options = vec![KeyValue::new("behaviour", behaviour)];
        let name = format!("hostile: {behaviour}");
        cases.push(Case {
            manager: WasmManager::new(host, hostile_module.clone(), name.clone(), options, limits).unwrap(),
            name,
            hostile: true,
            request: request(event, content),
            expected,
        });
    }

    // The hand-written hostile components.
    let components: Vec<(&str, Hostility, Limits, Event, &serde_json::Value, Expected)> = vec![
        (
            "aliased strings",
            Hostility::AliasedStrings,
            defaults,
            placement,
            &placement_payload,
            fault(Fault::ReplyTooLarge {
                limit_bytes: defaults.reply_bytes,
            }),
        ),
        (
            "million entries",
            Hostility::MillionEntries,
            defaults,
            placement,
            &placement_payload,
            fault(Fault::ReplyTooLarge {
                limit_bytes: defaults.reply_bytes,
            }),
        ),
        (
            "long error",
            Hostility::LongErrorMessage,
            defaults,
            state,
            &anything,
            fault(Fault::ErrorMessageTooLarge { size_bytes: 8192 }),
        ),
        (
            "escapes in error",
            Hostility::EscapesInErrorMessage,
            defaults,
            state,
            &anything,
            Expected::Sanitized(&["red", "forged log line"]),
        ),
        (
            "huge log line",
            Hostility::HugeLogLine,
            defaults,
            state,
            &anything,
            fault(Fault::ReplyTooLarge {
                limit_bytes: defaults.reply_bytes,
            }),
        ),
        (
            "start loop",
            Hostility::LoopAtStart,
            looper,
            state,
            &anything,
            fault(Fault::Timeout {
                deadline: LOOPER_DEADLINE,
            }),
        ),
        (
            "start trap",
            Hostility::TrapAtStart,
            defaults,
            state,
            &anything,
            Expected::Trap(&["unreachable"]),
        ),
        (
            "hoarded handles",
            Hostility::HoardHandles,
            defaults,
            state,
            &anything,
            Expected::Trap(&["no free keys"]),
        ),
        (
            "mismatched contract",
            Hostility::MismatchedContract,
            defaults,
            placement,
            &placement_payload,
            Expected::ContractMismatch,
        ),
        (
            "memory+table",
            Hostility::MemoryPlusTable,
            defaults,
            state,
            &anything,
            fault(Fault::MemoryLimit {
                limit_bytes: defaults.memory_bytes,
            }),
        ),
    ];
    for (label, hostility, limits, event, content, expected) in components {
        let module = host
            .load_bytes(&components::hostile_component(hostility), None)
            .unwrap_or_else(|error| panic!("{hostility:?}: {error}"));
        let name = format!("component: {label}");
        cases.push(Case {
            manager: WasmManager::new(host, module, name.clone(), Vec::new(), limits).unwrap(),
            name,
            hostile: true,
            request: request(event, content),
            expected,
        });
    }
    cases
}

/// The soak's order of calls: half good, half hostile, from [`MIX_SEED`].
fn mix(cases: &[Case]) -> Vec<usize> {
    let good: Vec<usize> = (0..cases.len()).filter(|&index| !cases[index].hostile).collect();
    let hostile: Vec<usize> = (0..cases.len()).filter(|&index| cases[index].hostile).collect();
    let mut random = SplitMix64(MIX_SEED);
    (0..INVOCATIONS)
        .map(|_| {
            let pool = if random.next() & 1 == 0 { &good } else { &hostile };
            pool[random.below(pool.len())]
        })
        .collect()
}

/// Runs `order` on `threads` threads sharing one queue; returns the tally of
/// every case, and records unexpected outcomes in `unexpected`.
fn run(cases: &[Case], order: &[usize], threads: usize, unexpected: &Mutex<Vec<String>>) -> Vec<Tally> {
    let next = AtomicUsize::new(0);
    let tallies = Mutex::new(vec![Tally::default(); cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = vec![Tally::default(); cases.len()];
                while let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let case = &cases[index];
                    let started = Instant::now();
                    let outcome = case.manager.invoke_blocking(&case.request);
                    let wall = started.elapsed();
                    let tally = &mut mine[index];
                    tally.calls += 1;
                    tally.max_wall = tally.max_wall.max(wall);
                    tally.walls.push(wall);
                    if wall > case.deadline() + LATENESS_ALLOWED {
                        tally.late += 1;
                    }
                    if !case.expected.admits(&outcome) {
                        tally.unexpected += 1;
                        let mut shown = unexpected.lock().unwrap();
                        if shown.len() < UNEXPECTED_SHOWN {
                            let mut text = format!("{}: {outcome:?}", case.name);
                            text.truncate(400);
                            shown.push(text);
                        }
                    }
                }
                let mut tallies = tallies.lock().unwrap();
                for (total, tally) in tallies.iter_mut().zip(&mine) {
                    total.merge(tally);
                }
            });
        }
    });
    tallies.into_inner().unwrap()
}

fn main() {
    let host = Host::new(HostConfig::default()).expect("host");
    let threads = std::env::var("SOAK_THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .clamp(2, 4);
    let cases = cases(&host);
    // A module with more memories than the sandbox grants never becomes a
    // manager, so it is not part of the mix: its refusal is checked once.
    let two_memories = host.load_bytes(&components::hostile_component(Hostility::TwoMemories), None);
    let two_memories_refused = two_memories
        .as_ref()
        .is_err_and(|error| error.to_string().contains("memories count of 2"));

    // Warm-up: every case on every thread, twice, before the baseline.
    let unexpected = Mutex::new(Vec::new());
    let warm_up: Vec<usize> = (0..2 * threads).flat_map(|_| 0..cases.len()).collect();
    let warm_up_unexpected: usize = run(&cases, &warm_up, threads, &unexpected)
        .iter()
        .map(|tally| tally.unexpected)
        .sum();
    std::thread::sleep(Duration::from_millis(200));
    let (baseline, _) = rss();

    let load_before = load_average();
    let order = mix(&cases);
    let peak = AtomicUsize::new(baseline);
    let running = AtomicBool::new(true);
    let started = Instant::now();
    let mut tallies = vec![Tally::default(); cases.len()];
    let mut quarters = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while running.load(Ordering::Relaxed) {
                peak.fetch_max(rss().0, Ordering::Relaxed);
                std::thread::sleep(RSS_SAMPLE_PERIOD);
            }
        });
        for quarter in order.chunks(INVOCATIONS.div_ceil(4)) {
            for (total, tally) in tallies.iter_mut().zip(run(&cases, quarter, threads, &unexpected)) {
                total.merge(&tally);
            }
            quarters.push(rss().0);
        }
        running.store(false, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let (end, high_water) = rss();
    let load_after = load_average();
    let peak = peak.into_inner().max(quarters.iter().copied().max().unwrap_or(0));

    println!(
        "## Soak: {INVOCATIONS} invocations on {threads} threads, mix seed {MIX_SEED:#x}, {:.1} s\n",
        elapsed.as_secs_f64()
    );
    println!(
        "Deadlines: loopers {}, memory-bomb, huge-reply and log-flood {}, everything else {} (default limits: memory {}, reply cap {} KiB). \
         \"late\" counts calls that ended after their deadline + {}.\n",
        millis(LOOPER_DEADLINE),
        millis(HEAVY_DEADLINE),
        millis(Limits::default().deadline),
        mib(Limits::default().memory_bytes),
        Limits::default().reply_bytes >> 10,
        millis(LATENESS_ALLOWED)
    );
    println!(
        "Load average (1, 5, 15 min) before the run: {load_before}, after: {load_after}; \
         timings stretch when other processes share the cores.\n"
    );
    println!(
        "| behaviour | calls | expected outcome | all as expected | deadline | median wall | max wall | max overshoot | late |"
    );
    println!("|---|---:|---|---|---:|---:|---:|---:|---:|");
    for (case, tally) in cases.iter().zip(&tallies) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.name,
            tally.calls,
            case.expected.describe(),
            if tally.unexpected == 0 {
                "yes".to_owned()
            } else {
                format!("NO ({} unexpected)", tally.unexpected)
            },
            millis(case.deadline()),
            millis(tally.median_wall()),
            millis(tally.max_wall),
            overshoot(tally.max_wall, case.deadline()),
            tally.late
        );
    }
    let calls: usize = tallies.iter().map(|tally| tally.calls).sum();
    let soak_unexpected: usize = tallies.iter().map(|tally| tally.unexpected).sum();
    let late: usize = tallies.iter().map(|tally| tally.late).sum();
    println!("\nCalls: {calls}, unexpected outcomes: {soak_unexpected} (warm-up: {warm_up_unexpected}), late: {late}.");
    println!(
        "Two memories in one module refused at load: {}.",
        if two_memories_refused { "yes" } else { "NO" }
    );

    let growth = end.saturating_sub(baseline);
    println!("\n## Resident memory (VmRSS)\n");
    println!("| baseline (after warm-up) | peak during the run | after each quarter | end | end - baseline |");
    println!("|---:|---:|---|---:|---:|");
    println!(
        "| {} | {} | {} | {} | {:+.1} MiB |",
        mib(baseline),
        mib(peak),
        quarters.iter().map(|&bytes| mib(bytes)).collect::<Vec<_>>().join(", "),
        mib(end),
        (end as f64 - baseline as f64) / f64::from(1 << 20)
    );
    println!(
        "\nProcess high-water mark (VmHWM, compilation included): {}; tolerance over baseline: {}.",
        mib(high_water),
        mib(RSS_TOLERANCE_BYTES)
    );

    let unexpected = unexpected.into_inner().unwrap();
    if !unexpected.is_empty() {
        println!("\n## Unexpected outcomes (first {UNEXPECTED_SHOWN})\n");
        for line in &unexpected {
            println!("- {line}");
        }
    }
    let mut failures = Vec::new();
    if soak_unexpected + warm_up_unexpected > 0 {
        failures.push(format!(
            "{} call(s) ended otherwise than expected",
            soak_unexpected + warm_up_unexpected
        ));
    }
    if !two_memories_refused {
        failures.push(format!("a module with two memories was not refused: {two_memories:?}"));
    }
    if growth > RSS_TOLERANCE_BYTES {
        failures.push(format!(
            "resident memory ended {} over its baseline (tolerance {})",
            mib(growth),
            mib(RSS_TOLERANCE_BYTES)
        ));
    }
    if !failures.is_empty() {
        eprintln!("soak failed: {}", failures.join("; "));
        std::process::exit(1);
    }
}
