//! What one invocation's store holds, and the only capabilities a guest gets:
//! a WASI context that grants nothing (no files, network, environment or
//! arguments; clocks frozen at zero; stdout and stderr captured), the
//! contract's `host` interface (logging, options) and a memory limiter that
//! records when it refused to grow.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, format_err};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{wit_host, wit_types};

/// How much a guest may write to stdout and to stderr per invocation.
pub(crate) const OUTPUT_CAPACITY: usize = 64 << 10;

/// How much a guest may log through the `host` interface per invocation;
/// past it, log lines are dropped (and the drop is logged once).
pub(crate) const LOG_BUDGET: usize = 64 << 10;

/// A guest's text made safe for the operator's logs and terminal: control
/// characters (ANSI escapes, newlines) are escaped.
fn sanitized(text: &str) -> String {
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
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Sandbox {
    pub(crate) fn new(identity: Arc<Identity>, memory_limit: usize) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_limit,
                refused: false,
            },
            identity,
            log_budget: LOG_BUDGET,
            stdout,
            stderr,
        }
    }

    /// Writes what the guest printed into the host's logs, tagged with the
    /// manager's id.
    pub(crate) fn flush_output(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let contents = pipe.contents();
            for line in String::from_utf8_lossy(&contents).lines() {
                tracing::info!(manager = %self.identity.id, stream, "{}", sanitized(line));
            }
        }
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
        let manager = &self.identity.id;
        let budget_before = self.log_budget;
        self.log_budget = self.log_budget.saturating_sub(message.len());
        if self.log_budget == 0 {
            if budget_before > 0 {
                tracing::warn!(manager = %manager, "log budget of {LOG_BUDGET} bytes spent: further lines dropped");
            }
            return;
        }
        let message = sanitized(&message);
        match level {
            wit_host::Level::Trace => tracing::trace!(manager = %manager, "{message}"),
            wit_host::Level::Debug => tracing::debug!(manager = %manager, "{message}"),
            wit_host::Level::Info => tracing::info!(manager = %manager, "{message}"),
            wit_host::Level::Warn => tracing::warn!(manager = %manager, "{message}"),
            wit_host::Level::Error => tracing::error!(manager = %manager, "{message}"),
        }
    }

    fn options(&mut self) -> Vec<wit_types::KeyValue> {
        self.identity.options.clone()
    }
}

/// Caps linear memory and remembers whether it refused a growth, so that an
/// over-limit guest is reported as such rather than as a generic trap.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Err(format_err!("memory limit of {} bytes reached", self.limit));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
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
