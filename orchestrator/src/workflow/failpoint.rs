//! The crash failpoint of the recovery tests: with `WASMANO_CRASH_AT_STEP=N`
//! in its environment, the process aborts (no unwinding, no clean-up, as a
//! `kill -9` would leave it) just before the N-th workflow step it would
//! run, counting the steps of every run; an effect (deploy, remove, set
//! envs) journaled as an intent counts twice, before the intent and after, so a
//! crash also lands while the effect is in flight. Unset, it costs one load
//! of a cached value per step.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming the step to crash before.
pub const CRASH_AT_STEP: &str = "WASMANO_CRASH_AT_STEP";

static TARGET: OnceLock<Option<usize>> = OnceLock::new();
static STEPS: AtomicUsize = AtomicUsize::new(0);

/// Called at every step boundary, before the step acts, and after an
/// effect's intent is journaled, before the effect acts.
pub(crate) fn step_boundary(step: &dyn std::fmt::Display) {
    let target = TARGET.get_or_init(|| std::env::var(CRASH_AT_STEP).ok().and_then(|text| text.parse().ok()));
    if let Some(target) = *target
        && STEPS.fetch_add(1, Ordering::SeqCst) + 1 == target
    {
        eprintln!("failpoint {CRASH_AT_STEP}={target}: aborting before step \"{step}\"");
        std::process::abort();
    }
}
