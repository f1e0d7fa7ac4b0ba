//! Hostile service manager for the host's tests: every event (placement,
//! configure, state, task, monitor) misbehaves the way its `behaviour` option
//! says, so one module covers every fault:
//!
//! - `loop`: spins forever (the deadline must stop it);
//! - `memory-bomb`: allocates until the memory cap stops it;
//! - `panic`: panics (a trap, not an error answer);
//! - `recursion`: recurses until the wasm stack overflows;
//! - `huge-reply`: answers an 8 MiB state document;
//! - `sleep`: sleeps for an hour (a wait in the host, not in wasm);
//! - `log-flood`: logs a megabyte, line after line;
//! - `error`: answers an ordinary error (the control case);
//! - `random`: answers a number drawn from WASI random (through the standard
//!   library's hash keys), to show what the host seeds;
//! - `bad-mapping`: placement puts every VNF on a VIM that does not exist;
//! - `place-nothing`: placement answers an empty mapping;
//! - `first-vim`: placement puts every VNF on the first VIM of the topology,
//!   whatever its kind and free capacity;
//! - `configure-unknown`: configure triggers a VNF instance the request does
//!   not have.

use std::hint::black_box;

use sm_sdk::ssm::{
    ConfigureRequest, EventSwitch, MonitorRequest, Placement, PlacementRequest, SsmEvent, StateRequest, TaskRequest,
    VnfPlacement, VnfSwitches, WorkflowRequest,
};
use sm_sdk::{ManagerError, ServiceManager};

/// The misbehaving manager.
#[derive(Debug, Default)]
pub struct Hostile;

/// Size of the `huge-reply` answer.
pub const HUGE_REPLY_BYTES: usize = 8 << 20;

fn misbehave() -> Result<serde_json::Value, ManagerError> {
    match sm_sdk::option("behaviour").as_deref() {
        Some("loop") => {
            let mut counter = 0u64;
            loop {
                counter = black_box(counter.wrapping_add(1));
            }
        }
        Some("memory-bomb") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                black_box(&hoard);
            }
        }
        Some("panic") => panic!("hostile manager panics on purpose"),
        Some("sleep") => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok(serde_json::Value::Null)
        }
        Some("log-flood") => {
            for line in 0..16_384 {
                sm_sdk::info!("{line:064}");
            }
            Ok(serde_json::Value::Null)
        }
        Some("recursion") => Ok(serde_json::json!(recurse(black_box(0)))),
        Some("huge-reply") => Ok(serde_json::Value::String("x".repeat(HUGE_REPLY_BYTES))),
        Some("error") => Err(ManagerError::failed("hostile manager answers an error on purpose")),
        Some("random") => {
            use std::hash::BuildHasher;
            Ok(serde_json::json!(std::hash::RandomState::new().hash_one(0u8)))
        }
        other => Err(ManagerError::failed(format!("unknown behaviour option {other:?}"))),
    }
}

#[allow(unconditional_recursion, reason = "overflowing the stack is the point")]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    recurse(black_box(depth + 1)) + frame[3]
}

impl ServiceManager for Hostile {
    const HANDLES: &'static [SsmEvent] = &SsmEvent::ALL;

    fn placement(&self, request: PlacementRequest) -> Result<Placement, ManagerError> {
        let everything_on = |vim: &str| -> Placement {
            Placement::of_vnfs(
                request
                    .vnfds
                    .iter()
                    .map(|vnfd| VnfPlacement {
                        vnf: vnfd.instance_id().unwrap_or_default().to_owned(),
                        vim: vim.to_owned(),
                    })
                    .collect(),
            )
        };
        match sm_sdk::option("behaviour").as_deref() {
            Some("bad-mapping") => Ok(everything_on("no-such-vim")),
            Some("place-nothing") => Ok(Placement::default()),
            Some("first-vim") => {
                let first = request
                    .vims
                    .first()
                    .ok_or_else(|| ManagerError::failed("the topology has no VIM"))?;
                Ok(everything_on(&first.uuid))
            }
            _ => misbehave().map(|_| Placement::default()),
        }
    }

    fn configure(&self, _: ConfigureRequest) -> Result<Vec<VnfSwitches>, ManagerError> {
        if sm_sdk::option("behaviour").as_deref() == Some("configure-unknown") {
            return Ok(vec![VnfSwitches::configure("no-such-vnf-instance", EventSwitch::on())]);
        }
        misbehave().map(|_| Vec::new())
    }

    fn state(&self, _: StateRequest) -> Result<serde_json::Value, ManagerError> {
        misbehave()
    }

    fn task(&self, _: TaskRequest) -> Result<Vec<String>, ManagerError> {
        misbehave().map(|_| Vec::new())
    }

    fn monitor(&self, _: MonitorRequest) -> Result<Vec<WorkflowRequest>, ManagerError> {
        misbehave().map(|_| Vec::new())
    }
}

sm_sdk::export_service_manager!(Hostile);
