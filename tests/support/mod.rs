//! Shared by the integration tests and benchmarks: builds the example and
//! hostile guests from source once per process (never committed binaries)
//! and reads the bundled 5GTANGO payloads.

#![allow(dead_code, reason = "each test binary uses its own part of the support module")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The compiled guests.
#[derive(Debug)]
pub struct Guests {
    pub placement: PathBuf,
    pub configure: PathBuf,
    pub state: PathBuf,
    pub vnf_manager: PathBuf,
    pub hostile: PathBuf,
    pub hostile_contract: PathBuf,
}

impl Guests {
    /// The example managers the bundled package (`examples-sm/package`) names.
    pub fn examples(&self) -> [&Path; 4] {
        [&self.placement, &self.configure, &self.state, &self.vnf_manager]
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates live one level below the workspace root")
        .to_owned()
}

/// Builds every guest crate for wasm32-wasip2 (profile `guest`) once per
/// process; cargo makes later builds no-ops.
pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target/guests");
        let crates = ["sm-placement", "sm-configure", "sm-state", "sm-vnf-manager", "sm-hostile", "sm-hostile-contract"];
        let mut command = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        command.current_dir(&root).args(["build", "--target", "wasm32-wasip2", "--profile", "guest", "--target-dir"]).arg(&target_dir);
        for name in crates {
            command.args(["-p", name]);
        }
        let status = command.status().expect("cannot run cargo to build the guests");
        assert!(
            status.success(),
            "building the guests failed; is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`, or run scripts/test.sh)"
        );
        let out = target_dir.join("wasm32-wasip2/guest");
        Guests {
            placement: out.join("sm_placement.wasm"),
            configure: out.join("sm_configure.wasm"),
            state: out.join("sm_state.wasm"),
            vnf_manager: out.join("sm_vnf_manager.wasm"),
            hostile: out.join("sm_hostile.wasm"),
            hostile_contract: out.join("sm_hostile_contract.wasm"),
        }
    })
}

/// The bundled payloads (copies of the corpus's tng-sdk-sm and industrial-pilot files).
pub fn payloads_dir() -> PathBuf {
    workspace_root().join("examples-sm/payloads")
}

/// A bundled payload as JSON.
pub fn payload(relative: &str) -> serde_json::Value {
    let path = payloads_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
