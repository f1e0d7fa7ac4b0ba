//! `wasmano sm new`: creates a manager crate that builds to a component with
//! one command and has a passing native test.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args as ClapArgs, ValueEnum};

use super::{Failure, exit};

/// Arguments of `wasmano sm new`.
#[derive(Debug, ClapArgs)]
pub struct NewArgs {
    /// The crate's name (lowercase letters, digits, `-` and `_`).
    name: String,
    /// Which kind of manager.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The directory to create the crate in (default: the current one).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The sm-sdk crate to depend on (default: the one this wasmano was built from).
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// Which kind of manager (`--kind`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Kind {
    /// A service-specific manager.
    Ssm,
    /// A function-specific manager.
    Fsm,
}

impl Kind {
    /// The host's name for the kind.
    pub(super) fn manager_kind(self) -> wasmano_host::ManagerKind {
        match self {
            Self::Ssm => wasmano_host::ManagerKind::Service,
            Self::Fsm => wasmano_host::ManagerKind::Function,
        }
    }
}

pub fn new(args: NewArgs) -> Result<ExitCode, Failure> {
    let valid_name = !args.name.is_empty()
        && args.name.starts_with(|first: char| first.is_ascii_lowercase())
        && args
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_name {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "invalid crate name {:?}: use lowercase letters, digits, '-' and '_', starting with a letter",
                args.name
            ),
        ));
    }
    let sdk = match args.sdk {
        Some(sdk) => sdk,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sm-sdk"),
    };
    let sdk = sdk.canonicalize().map_err(|error| {
        Failure::new(
            exit::NO_INPUT,
            format!("sm-sdk not found at {}: {error}; pass --sdk PATH", sdk.display()),
        )
    })?;
    let root = args.dir.join(&args.name);
    if root.exists() {
        return Err(Failure::new(
            exit::CANT_CREATE,
            format!("{} already exists", root.display()),
        ));
    }
    let crate_ident = args.name.replace('-', "_");
    let files = [
        ("Cargo.toml", cargo_toml(&args.name, &sdk)),
        (
            "src/lib.rs",
            match args.kind {
                Kind::Ssm => SSM_TEMPLATE.to_owned(),
                Kind::Fsm => FSM_TEMPLATE.to_owned(),
            },
        ),
        ("README.md", readme(&args.name, &crate_ident)),
        (".gitignore", "target/\n".to_owned()),
    ];
    for (relative, contents) in files {
        let path = root.join(relative);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, contents));
        written
            .map_err(|error| Failure::new(exit::CANT_CREATE, format!("cannot write {}: {error}", path.display())))?;
    }
    eprintln!(
        "created {}: `cargo test` runs its tests, `cargo build --release --target wasm32-wasip2` builds target/wasm32-wasip2/release/{crate_ident}.wasm",
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
sm-sdk = {{ path = {sdk:?} }}
serde_json = "1"

# Small, fast-loading components.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

fn readme(name: &str, crate_ident: &str) -> String {
    format!(
        "# {name}\n\nA wasmano specific manager.\n\n- `cargo test`: the manager's native unit tests.\n\
         - `cargo build --release --target wasm32-wasip2`: the component, at\n  `target/wasm32-wasip2/release/{crate_ident}.wasm`.\n\
         - `wasmano sm test --module target/wasm32-wasip2/release/{crate_ident}.wasm --event EVENT --payload FILE`:\n  \
         run one event in the sandbox, as the orchestrator would.\n"
    )
}

const SSM_TEMPLATE: &str = r##"//! A service-specific manager: places each VNF on the VIM of its kind with
//! the most free memory.

use sm_sdk::ssm::{Placement, PlacementRequest, SsmEvent, VnfPlacement};
use sm_sdk::{ManagerError, ServiceManager};

/// The manager.
#[derive(Debug, Default)]
pub struct Manager;

impl ServiceManager for Manager {
    const HANDLES: &'static [SsmEvent] = &[SsmEvent::Placement];

    fn placement(&self, request: PlacementRequest) -> Result<Placement, ManagerError> {
        let mut mapping = Vec::new();
        for vnfd in &request.vnfds {
            let vnf = vnfd.instance_id().ok_or_else(|| ManagerError::failed("a VNFD has no id"))?;
            let demand = vnfd.demand().map_err(ManagerError::failed)?;
            let vim = request
                .vims
                .iter()
                .filter(|vim| vim.kind == demand.kind)
                .max_by(|a, b| a.free_memory().total_cmp(&b.free_memory()))
                .ok_or_else(|| ManagerError::failed(format!("no VIM can host VNF {vnf}")))?;
            mapping.push(VnfPlacement { vnf: vnf.to_owned(), vim: vim.uuid.clone() });
        }
        // Virtual links are left to the orchestrator.
        Ok(Placement::of_vnfs(mapping))
    }
}

sm_sdk::export_service_manager!(Manager);

#[cfg(test)]
mod tests {
    use super::*;
    use sm_sdk::Document;

    #[test]
    fn places_on_the_vim_with_most_free_memory() {
        let content = r#"{
            "vnfds": [{"instance_uuid": "vnf-1", "virtual_deployment_units": [{"id": "vdu"}]}],
            "topology": {"vims": {"vim_list": [
                {"vim_uuid": "small", "type": "vm", "memory_total": 1000},
                {"vim_uuid": "large", "type": "vm", "memory_total": 9000}
            ]}}
        }"#;
        let request = PlacementRequest::from_document(Document::from_json(content)).unwrap();
        let placement = Manager.placement(request).unwrap();
        assert_eq!(placement.vnfs, [VnfPlacement { vnf: "vnf-1".into(), vim: "large".into() }]);
    }
}
"##;

const FSM_TEMPLATE: &str = r##"//! A function-specific manager: tells every container unit of a starting
//! VNF the VNF's own id and address.

use sm_sdk::fsm::{FsmEvent, LifecycleRequest};
use sm_sdk::{FunctionManager, KeyValue, ManagerError, UnitEnvs};

/// The manager.
#[derive(Debug, Default)]
pub struct Manager;

impl FunctionManager for Manager {
    const HANDLES: &'static [FsmEvent] = &[FsmEvent::Start];

    fn start(&self, request: LifecycleRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        let mut envs = vec![KeyValue::new("VNF_ID", &request.vnfr.id)];
        if let Some(address) = request.vnfr.addresses().first() {
            envs.push(KeyValue::new("VNF_ADDRESS", *address));
        }
        // `UnitEnvs::unit(cdu_id, envs)` would address one unit instead.
        Ok(vec![UnitEnvs::every_unit(envs)])
    }
}

sm_sdk::export_function_manager!(Manager);

#[cfg(test)]
mod tests {
    use super::*;
    use sm_sdk::Document;

    #[test]
    fn start_returns_the_vnf_id() {
        let content = r#"{"vnfd": {"name": "web"}, "vnfr": {"id": "vnf-1"}}"#;
        let request = LifecycleRequest::from_document(Document::from_json(content)).unwrap();
        assert_eq!(
            Manager.start(request).unwrap(),
            [UnitEnvs::every_unit(vec![KeyValue::new("VNF_ID", "vnf-1")])]
        );
    }
}
"##;
