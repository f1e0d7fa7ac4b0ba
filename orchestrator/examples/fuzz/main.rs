//! A mutation fuzzer for the code that reads untrusted input, on the stable
//! toolchain: `cargo run --release -p wasmano --example fuzz -- TARGET`
//! (see `scripts/fuzz.sh`).
//!
//! It is *not* coverage-guided: no instrumentation tells it which branches an
//! input reached. It starts from seed files, mutates them blindly (bit and
//! byte flips, insertions, deletions, chunk duplication, splicing two
//! inputs, truncation, YAML/JSON tokens) and keeps in its pool any input
//! whose outcome (accepted, or the kind of refusal) it has not seen yet.
//! Every input runs under `catch_unwind`; a panic, or an input still running
//! after the timeout, is a crash: the input is written to
//! `target/fuzz-crashes/<target>/<hash>`. A run is reproducible: the same
//! `--seed` with the same seeds generates the same inputs, and
//! `--input FILE` replays one.

mod mutate;
mod targets;

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;

use crate::mutate::Rng;
use crate::targets::{Harness, SeedSources, Target};

/// The most inputs the pool keeps; past it, a new input replaces a random one.
const MAX_POOL: usize = 4096;

/// Command line of the fuzzer.
#[derive(Debug, Parser)]
#[command(about = "Mutation fuzzer (not coverage-guided) for wasmano's input readers")]
struct Args {
    /// What to fuzz.
    #[arg(value_enum)]
    target: Target,
    /// How long to run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Stop after this many executions (with `--seed`, reproduces a run).
    #[arg(long)]
    runs: Option<u64>,
    /// The generator's seed; random when absent, and always printed.
    #[arg(long)]
    seed: Option<u64>,
    /// An input still running after this many milliseconds is a crash.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// A 5GTANGO corpus directory to seed from (default: $WASMANO_CORPUS).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where crashing inputs go (default: target/fuzz-crashes/TARGET).
    #[arg(long)]
    crash_dir: Option<PathBuf>,
    /// Run this one input and report, instead of fuzzing.
    #[arg(long)]
    input: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crash_dir = args
        .crash_dir
        .clone()
        .unwrap_or_else(|| workspace.join("target/fuzz-crashes").join(args.target.name()));
    let harness = match Harness::new(args.target) {
        Ok(harness) => harness,
        Err(error) => {
            eprintln!("fuzz: cannot create a scratch directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    install_quiet_panic_hook();
    if let Some(input) = &args.input {
        return replay(&harness, input);
    }
    let sources = SeedSources {
        workspace,
        corpus: args
            .corpus
            .clone()
            .or_else(|| std::env::var_os("WASMANO_CORPUS").map(PathBuf::from))
            .filter(|dir| dir.is_dir()),
    };
    let seeds = targets::seeds(args.target, &sources);
    if seeds.is_empty() {
        eprintln!("fuzz: no seeds found for {}", args.target.name());
        return ExitCode::FAILURE;
    }
    let seed = args.seed.unwrap_or_else(clock_seed);
    println!(
        "fuzz {}: seed {seed}, {} seed inputs{}, {} s, timeout {} ms",
        args.target.name(),
        seeds.len(),
        sources
            .corpus
            .as_ref()
            .map_or_else(String::new, |dir| format!(" (corpus {})", dir.display())),
        args.seconds,
        args.timeout_ms
    );
    let report = fuzz(&args, &harness, seeds, seed, &crash_dir);
    println!(
        "fuzz {}: {} executions in {:.1} s ({:.0} execs/s), pool {}, outcomes {}, slowest input {} ms, crashes {}",
        args.target.name(),
        report.executions,
        report.elapsed.as_secs_f64(),
        report.executions as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.pool,
        report.outcomes,
        report.slowest.as_millis(),
        report.crashes.values().sum::<u64>()
    );
    for (location, count) in &report.crashes {
        println!("  crash x{count}: {location}");
    }
    if report.crashes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// What a fuzzing run did.
#[derive(Debug)]
struct Report {
    executions: u64,
    elapsed: Duration,
    pool: usize,
    outcomes: usize,
    slowest: Duration,
    /// Crashes by panic location and message, with how many inputs hit each.
    crashes: BTreeMap<String, u64>,
}

fn fuzz(args: &Args, harness: &Harness, seeds: Vec<Vec<u8>>, seed: u64, crash_dir: &Path) -> Report {
    let dictionary = mutate::dictionary(&seeds);
    let mut rng = Rng::new(seed);
    let mut pool = seeds;
    let mut outcomes = HashSet::new();
    let mut crashes = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    let executions = Arc::new(AtomicU64::new(0));
    let watchdog = Watchdog::start(
        Duration::from_millis(args.timeout_ms),
        crash_dir.to_owned(),
        Arc::clone(&executions),
    );
    let started = Instant::now();
    let deadline = Duration::from_secs(args.seconds);
    while started.elapsed() < deadline && args.runs.is_none_or(|runs| executions.load(Ordering::Relaxed) < runs) {
        let parent = rng.below(pool.len());
        let other = rng.below(pool.len());
        let input = if args.target == Target::Package {
            targets::next_package_input(&mut rng, &pool[parent], &pool[other], &dictionary)
        } else {
            let mut mutant = pool[parent].clone();
            mutate::mutate(&mut rng, &mut mutant, &pool[other], &dictionary);
            mutant
        };
        watchdog.arm(&input);
        let began = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| harness.run(&input)));
        slowest = slowest.max(began.elapsed());
        watchdog.disarm();
        executions.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(outcome) => {
                if outcomes.insert(outcome) {
                    if pool.len() < MAX_POOL {
                        pool.push(input);
                    } else {
                        let replaced = rng.below(pool.len());
                        pool[replaced] = input;
                    }
                }
            }
            Err(_) => {
                let location = take_panic_message();
                let count = crashes.entry(location.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    let saved = save_crash(crash_dir, &input);
                    println!("CRASH {location}\n  input: {saved}");
                }
            }
        }
    }
    Report {
        executions: executions.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        pool: pool.len(),
        outcomes: outcomes.len(),
        slowest,
        crashes,
    }
}

/// Runs one input and says how it ended.
fn replay(harness: &Harness, path: &Path) -> ExitCode {
    let input = match std::fs::read(path) {
        Ok(input) => input,
        Err(error) => {
            eprintln!("fuzz: {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let began = Instant::now();
    let result = panic::catch_unwind(AssertUnwindSafe(|| harness.run(&input)));
    let took = began.elapsed();
    match result {
        Ok(outcome) => {
            println!("{}: no crash in {took:?}: {outcome}", path.display());
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!("{}: CRASH {}", path.display(), take_panic_message());
            ExitCode::from(2)
        }
    }
}

thread_local! {
    /// The last panic's location and message, set by the panic hook.
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Replaces the default hook, which would print every caught panic, with one
/// that only remembers where and why.
fn install_quiet_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map_or_else(String::new, |location| location.to_string());
        let first_line = message
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>();
        LAST_PANIC.with(|last| *last.borrow_mut() = format!("{location}: {first_line}"));
    }));
}

fn take_panic_message() -> String {
    LAST_PANIC.with(|last| std::mem::take(&mut *last.borrow_mut()))
}

/// Writes a crashing input under its hash; returns where, or why not.
fn save_crash(dir: &Path, input: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    input.hash(&mut hasher);
    let path = dir.join(format!("{:016x}", hasher.finish()));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(error) => format!("not saved ({}: {error})", path.display()),
    }
}

/// A seed from the clock, for runs given none.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64)
}

/// The input being run and since when, shared with the watchdog thread.
#[derive(Debug, Default)]
struct Running {
    since: Option<Instant>,
    input: Vec<u8>,
}

/// A thread that ends the process when one input runs past the timeout,
/// after saving it: a hang cannot be caught like a panic.
#[derive(Debug)]
struct Watchdog {
    running: Arc<Mutex<Running>>,
}

impl Watchdog {
    fn start(timeout: Duration, crash_dir: PathBuf, executions: Arc<AtomicU64>) -> Self {
        let running = Arc::new(Mutex::new(Running::default()));
        let watched = Arc::clone(&running);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let running = watched.lock().unwrap_or_else(PoisonError::into_inner);
                if running.since.is_some_and(|since| since.elapsed() > timeout) {
                    let saved = save_crash(&crash_dir, &running.input);
                    println!(
                        "CRASH timeout: an input ran longer than {} ms after {} executions\n  input: {saved}",
                        timeout.as_millis(),
                        executions.load(Ordering::Relaxed)
                    );
                    std::process::exit(3);
                }
            }
        });
        Self { running }
    }

    fn arm(&self, input: &[u8]) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.input.clear();
        running.input.extend_from_slice(input);
        running.since = Some(Instant::now());
    }

    fn disarm(&self) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).since = None;
    }
}
