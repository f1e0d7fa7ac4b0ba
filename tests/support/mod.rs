//! Shared by the integration tests and benchmarks: builds the example and
//! hostile guests from source once per process (never committed binaries)
//! and reads the bundled 5GTANGO payloads.

#![allow(dead_code, reason = "each test binary uses its own part of the support module")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};

/// The compiled guests.
#[derive(Debug)]
pub struct Guests {
    pub placement: PathBuf,
    pub configure: PathBuf,
    pub state: PathBuf,
    pub vnf_manager: PathBuf,
    pub task: PathBuf,
    pub scale: PathBuf,
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
        let crates = [
            "sm-placement",
            "sm-configure",
            "sm-state",
            "sm-vnf-manager",
            "sm-task",
            "sm-scale",
            "sm-hostile",
            "sm-hostile-contract",
        ];
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
            task: out.join("sm_task.wasm"),
            scale: out.join("sm_scale.wasm"),
            hostile: out.join("sm_hostile.wasm"),
            hostile_contract: out.join("sm_hostile_contract.wasm"),
        }
    })
}

/// The Python managers, built by componentize-py against `wit/` with the
/// Python SDK (`sm-sdk/python`).
#[derive(Debug)]
pub struct PythonGuests {
    /// `examples-sm/python-placement`: the Rust placement example's twin.
    pub placement: PathBuf,
    /// `tests/python/every_event_ssm`: every SSM event, replies built from
    /// the requests.
    pub every_event_ssm: PathBuf,
    /// `tests/python/every_event_fsm`: every FSM event likewise.
    pub every_event_fsm: PathBuf,
}

/// What to do when componentize-py is missing.
pub const COMPONENTIZE_PY_HOW_TO_INSTALL: &str = "the Python manager tests need componentize-py: run `bash -c 'source \
     scripts/common.sh && ensure_componentize_py'` from the repository (scripts/test.sh does), or set \
     WASMANO_COMPONENTIZE_PY to a componentize-py 0.25.1";

/// Builds the Python managers once per process into `target/guests/python`;
/// a build whose sources (the app, the SDK, the contract) are unchanged is
/// kept (a digest of them sits beside it).
pub fn python_guests() -> &'static PythonGuests {
    static GUESTS: OnceLock<PythonGuests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let root = workspace_root();
        let componentize = std::env::var_os("WASMANO_COMPONENTIZE_PY")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/componentize-py-venv/bin/componentize-py"));
        let build = |app_dir: &str, world: &str, name: &str| {
            let app_dir = root.join(app_dir);
            let sdk = root.join("sm-sdk/python");
            let out_dir = root.join("target/guests/python");
            std::fs::create_dir_all(&out_dir).expect("output directory");
            let mut sources = vec![root.join("wit/sm.wit"), app_dir.join("app.py")];
            let mut sdk_files: Vec<PathBuf> = std::fs::read_dir(sdk.join("wasmano_sm"))
                .expect("the Python SDK")
                .map(|entry| entry.expect("SDK entry").path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "py"))
                .collect();
            sdk_files.sort();
            sources.extend(sdk_files);
            let mut text = Vec::new();
            for source in &sources {
                text.extend(std::fs::read(source).unwrap_or_else(|error| panic!("{}: {error}", source.display())));
            }
            let digest = wasmano_host::sha256_hex(&text);
            let module = out_dir.join(format!("{name}.wasm"));
            let stamp = out_dir.join(format!("{name}.sources-sha256"));
            if module.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|built| built == digest) {
                return module;
            }
            assert!(
                componentize.is_file(),
                "{}: {COMPONENTIZE_PY_HOW_TO_INSTALL}",
                componentize.display()
            );
            let partial = out_dir.join(format!("{name}.wasm.{}", std::process::id()));
            let output = Command::new(&componentize)
                .arg("-d")
                .arg(root.join("wit"))
                .args(["-w", world, "componentize", "-p"])
                .arg(&app_dir)
                .arg("-p")
                .arg(&sdk)
                .args(["app", "-o"])
                .arg(&partial)
                .output()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", componentize.display()));
            assert!(
                output.status.success(),
                "componentize-py failed on {}: {}",
                app_dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            std::fs::rename(&partial, &module).expect("move the component into place");
            std::fs::write(&stamp, digest).expect("write the sources' digest");
            module
        };
        PythonGuests {
            placement: build(
                "examples-sm/python-placement",
                "service-manager-module",
                "sm_python_placement",
            ),
            every_event_ssm: build(
                "tests/python/every_event_ssm",
                "service-manager-module",
                "every_event_ssm",
            ),
            every_event_fsm: build(
                "tests/python/every_event_fsm",
                "function-manager-module",
                "every_event_fsm",
            ),
        }
    })
}

/// A second version of the placement example with a deliberate behaviour
/// change, as a vendor's update would bring: it prefers the feasible VIM
/// with the *fewest* free cores. Built from the example's source, patched,
/// as a crate of its own (the `sm new` layout) in `target/example-versions`;
/// its dependencies build in `target/scaffold`, shared with the scaffold
/// test, and pinned by the workspace's lock file.
pub fn placement_fewest_free_cores() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace_root();
            let source = std::fs::read_to_string(root.join("examples-sm/placement/src/lib.rs")).expect("the example");
            let preference = "if vim.free_cores() > best.free_cores() {";
            assert!(source.contains(preference), "the example no longer compares free cores this way");
            let crate_dir = root.join("target/example-versions/placement-fewest-free-cores");
            std::fs::create_dir_all(crate_dir.join("src")).expect("crate directory");
            let changed = source.replace(preference, "if vim.free_cores() < best.free_cores() {");
            write_if_changed(&crate_dir.join("src/lib.rs"), &changed);
            let manifest = format!(
                "[package]\nname = \"sm-placement-fewest-free-cores\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nsm-sdk = {{ path = {:?} }}\n\n\
                 [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n\n[workspace]\n",
                root.join("sm-sdk").display().to_string()
            );
            write_if_changed(&crate_dir.join("Cargo.toml"), &manifest);
            if !crate_dir.join("Cargo.lock").exists() {
                std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).expect("lock file");
            }
            let target_dir = root.join("target/scaffold");
            let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
                .current_dir(&crate_dir)
                .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
                .arg(&target_dir)
                .status()
                .expect("cannot run cargo to build the changed example");
            assert!(status.success(), "building the changed placement example failed");
            target_dir.join("wasm32-wasip2/release/sm_placement_fewest_free_cores.wasm")
        })
        .clone()
}

/// Writes `text` unless the file already holds it (cargo rebuilds on a
/// newer modification time).
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::write(path, text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
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

/// The image the Docker tests run: a static busybox, built locally.
pub const TEST_IMAGE: &str = "wasmano/test-vnf:2";

/// What to do when the Docker daemon is not there.
pub const DOCKER_HOW_TO_START: &str = "the Docker tests need a running daemon: run `bash -c 'source scripts/common.sh && \
     ensure_docker'` as root from the repository (scripts/test.sh does), or install docker.io and start `dockerd &`";

/// Builds the test image once per run if the daemon does not have it.
pub fn ensure_test_image() {
    static BUILT: Once = Once::new();
    BUILT.call_once(|| {
        let present = Command::new("docker")
            .args(["image", "inspect", TEST_IMAGE])
            .output()
            .unwrap_or_else(|error| panic!("cannot run the docker CLI ({error}); {DOCKER_HOW_TO_START}"));
        if present.status.success() {
            return;
        }
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "building {TEST_IMAGE} needs a static busybox at /bin/busybox: apt-get install busybox-static"
        );
        let root = tempfile::tempdir().expect("temporary directory");
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin).expect("image bin directory");
        std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
        for applet in ["sh", "sleep", "env", "nc", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
        }
        let script = format!(
            r#"tar -C '{}' -c . | docker import --change 'CMD ["/bin/busybox","sleep","3600"]' - {TEST_IMAGE}"#,
            root.path().display()
        );
        let imported = Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("run docker import");
        assert!(
            imported.status.success(),
            "building {TEST_IMAGE} failed: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
    });
}
