//! What one invocation's store holds, and the only capabilities a guest gets:
//! a WASI context that grants nothing (no files, network, environment or
//! arguments; clocks frozen at zero; random numbers from a generator seeded
//! per invocation, so a call is reproducible from its seed; stdout and
//! stderr captured), the contract's `host` interface (logging, options), a
//! resource table of bounded size, and one memory budget for the whole
//! invocation, summed over every memory and table of the component, that
//! records when it refused to grow. What the guest logs or prints is kept
//! until the call ends ([`Sandbox::end_call`]), so a guest's thread never
//! holds the host's log writer while it runs, demoted or not.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{wit_host, wit_types};
use crate::priority::{Demotion, HoldsDemotion};

/// How much a guest may write to stdout and to stderr per invocation.
pub(crate) const OUTPUT_CAPACITY: usize = 64 << 10;

/// How much a guest may log through the `host` interface per invocation;
/// past it, log lines are dropped (and the drop is logged once).
pub(crate) const LOG_BUDGET: usize = 64 << 10;

/// How many host resources (WASI streams, pollables, ...) a guest may hold
/// at once. The SDK's managers hold a handful.
pub(crate) const MAX_RESOURCES: usize = 1_000;

/// What one table element costs against the memory budget.
const TABLE_ELEMENT_BYTES: usize = size_of::<usize>();

/// A guest's text made safe for the operator's logs and terminal: control
/// characters (ANSI escapes, newlines) are escaped.
pub(crate) fn sanitized(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Who a manager is, as its logs and options show it.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) id: String,
    pub(crate) options: Vec<wit_types::KeyValue>,
}

/// The data of one invocation's store.
pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    identity: Arc<Identity>,
    /// Bytes the guest may still log.
    log_budget: usize,
    /// What it logged, sanitized, until the call ends.
    logs: Vec<(wit_host::Level, String)>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// The thread's demotion while the call runs past its slice.
    demotion: Option<Demotion>,
}

impl Sandbox {
    /// A sandbox whose random numbers all derive from `seed`.
    pub(crate) fn new(identity: Arc<Identity>, memory_limit: usize, seed: u64) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let mut seeds = StdRng::seed_from_u64(seed);
        let insecure_seed =
            u128::from(rand::Rng::next_u64(&mut seeds)) << 64 | u128::from(rand::Rng::next_u64(&mut seeds));
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(StdRng::from_rng(&mut seeds))
            .insecure_random(StdRng::from_rng(&mut seeds))
            .insecure_random_seed(insecure_seed)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            wasi,
            table,
            limiter: MemoryLimiter {
                limit: memory_limit,
                used: 0,
                refused: false,
            },
            identity,
            log_budget: LOG_BUDGET,
            logs: Vec::new(),
            stdout,
            stderr,
            demotion: None,
        }
    }

    /// Ends the call: gives the thread its scheduling class back, then
    /// writes what the guest logged and printed into the host's logs,
    /// tagged with the manager's id.
    pub(crate) fn end_call(&mut self) {
        self.demotion = None;
        let manager = &self.identity.id;
        for (level, message) in self.logs.drain(..) {
            match level {
                wit_host::Level::Trace => tracing::trace!(manager = %manager, "{message}"),
                wit_host::Level::Debug => tracing::debug!(manager = %manager, "{message}"),
                wit_host::Level::Info => tracing::info!(manager = %manager, "{message}"),
                wit_host::Level::Warn => tracing::warn!(manager = %manager, "{message}"),
                wit_host::Level::Error => tracing::error!(manager = %manager, "{message}"),
            }
        }
        if self.log_budget == 0 {
            tracing::warn!(manager = %manager, "log budget of {LOG_BUDGET} bytes spent: further lines dropped");
        }
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let contents = pipe.contents();
            for line in String::from_utf8_lossy(&contents).lines() {
                tracing::info!(manager = %manager, stream, "{}", sanitized(line));
            }
        }
    }
}

impl HoldsDemotion for Sandbox {
    fn hold(&mut self, demotion: Demotion) {
        self.demotion = Some(demotion);
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit_types::Host for Sandbox {}

impl wit_host::Host for Sandbox {
    fn log(&mut self, level: wit_host::Level, message: String) {
        if self.log_budget == 0 {
            return;
        }
        self.log_budget = self.log_budget.saturating_sub(message.len());
        let enabled = tracing::level_enabled!(match level {
            wit_host::Level::Trace => tracing::Level::TRACE,
            wit_host::Level::Debug => tracing::Level::DEBUG,
            wit_host::Level::Info => tracing::Level::INFO,
            wit_host::Level::Warn => tracing::Level::WARN,
            wit_host::Level::Error => tracing::Level::ERROR,
        });
        // A line no subscriber would show is charged to the budget (the
        // guest's cost does not depend on the host's filter) but not kept.
        if self.log_budget > 0 && enabled {
            self.logs.push((level, sanitized(&message)));
        }
    }

    fn options(&mut self) -> Vec<wit_types::KeyValue> {
        self.identity.options.clone()
    }
}

/// One budget for everything a component's instance allocates: every linear
/// memory and every table (at [`TABLE_ELEMENT_BYTES`] an element), from
/// their initial sizes on, summed. Remembers whether it refused, so that an
/// over-budget guest is reported as such rather than as a generic trap.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// Bytes granted so far, over all memories and tables.
    used: usize,
    pub(crate) refused: bool,
}

impl MemoryLimiter {
    /// Grants growing one memory or table from `current` to `desired`
    /// bytes if the sum stays within the budget.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.refused = true;
            return Err(format_err!(
                "memory budget of {} bytes for the invocation reached",
                self.limit
            ));
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }
}

/// A clock that always reads zero: a guest needs clocks linked to start, but
/// a manager's decisions must not depend on time.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_host::Host as _;

    #[test]
    fn lines_below_the_subscribers_level_are_charged_but_not_kept() {
        let identity = Arc::new(Identity {
            id: "m".to_owned(),
            options: Vec::new(),
        });
        let mut sandbox = Sandbox::new(identity, 1 << 20, 0);
        let info_only = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(info_only, || {
            sandbox.log(wit_host::Level::Debug, "debug line".to_owned());
            sandbox.log(wit_host::Level::Info, "info line".to_owned());
        });
        let kept: Vec<&str> = sandbox.logs.iter().map(|(_, line)| line.as_str()).collect();
        assert_eq!(kept, ["info line"]);
        assert_eq!(sandbox.log_budget, LOG_BUDGET - "debug line".len() - "info line".len());
    }
}
