//! `wasmano demo`: the main job on embedded defaults. It builds the example
//! managers, assembles and onboards the bundled example package (pinning the
//! modules' digests), then runs a service through its whole lifecycle on
//! emulated VIMs with a SQLite store: instantiate, scale out, migrate one VNF
//! with its state, reconfigure, scale in, terminate. Each workflow's timeline
//! and the final records are printed.
//!
//! With `--nsd`, it runs a service from outside the project instead (such as
//! 5GTANGO's NSID1V), mapping its legacy `image` managers onto WebAssembly
//! modules given with `--manager ID=MODULE`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

use clap::Args as ClapArgs;
use serde_json::Value;
use wasmano::descriptor::{self, Descriptor};
use wasmano::infrastructure::Infrastructure;
use wasmano::infrastructure::emulated::{EmulatedInfrastructure, default_vims, load_vims};
use wasmano::package::{Package, onboard, pin_module_digests};
use wasmano::placement::PlacementOptions;
use wasmano::records::{RecordStore, SqliteStore};
use wasmano::service::{self, ModuleSource};
use wasmano::workflow::{Orchestrator, ServiceTemplate, WorkflowReport};
use wasmano_host::Host;

use super::catalogue::{DataDir, host_in, open_catalogue};
use super::{Failure, exit};

/// Arguments of `wasmano demo`.
#[derive(Debug, ClapArgs)]
pub struct DemoArgs {
    #[command(flatten)]
    data_dir: DataDir,
    /// Emulated VIMs from this YAML file instead of the embedded ones.
    #[arg(long, value_name = "FILE")]
    vims: Option<PathBuf>,
    /// Run this NSD (from outside the project) instead of the bundled service.
    #[arg(long, value_name = "FILE", requires = "vnfd")]
    nsd: Option<PathBuf>,
    /// The VNFDs of `--nsd` (repeatable).
    #[arg(long, value_name = "FILE")]
    vnfd: Vec<PathBuf>,
    /// Run the manager with this id as this WebAssembly module (repeatable).
    #[arg(long = "manager", value_name = "ID=MODULE")]
    managers: Vec<String>,
}

/// The example crates the bundled package needs, and their module names.
const EXAMPLES: [(&str, &str); 4] = [
    ("sm-placement", "sm_placement.wasm"),
    ("sm-configure", "sm_configure.wasm"),
    ("sm-state", "sm_state.wasm"),
    ("sm-vnf-manager", "sm_vnf_manager.wasm"),
];

pub fn demo(args: DemoArgs) -> Result<ExitCode, Failure> {
    let data_dir = match args.data_dir.resolve_explicit() {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|error| Failure::new(exit::CANT_CREATE, format!("{}: {error}", dir.display())))?;
            dir
        }
        // A new directory of our own: never one someone prepared in advance.
        None => {
            let dir = std::env::temp_dir().join(format!("wasmano-demo-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir(&dir)
                .map_err(|error| Failure::new(exit::CANT_CREATE, format!("{}: {error}", dir.display())))?;
            dir
        }
    };
    eprintln!("data directory: {}", data_dir.display());
    let host = host_in(&data_dir)?;
    let template = match &args.nsd {
        None => bundled_service(&data_dir, &host)?,
        Some(nsd) => external_service(&host, nsd, &args.vnfd, &args.managers)?,
    };
    let vims = match &args.vims {
        Some(file) => load_vims(file).map_err(|error| Failure::new(exit::DATA, error.to_string()))?,
        None => default_vims(),
    };
    let infrastructure: Arc<dyn Infrastructure> =
        Arc::new(EmulatedInfrastructure::new(vims).map_err(|error| Failure::new(exit::DATA, error.to_string()))?);
    let store = SqliteStore::open(&data_dir.join("records.sqlite"))
        .map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))?;
    let store: Arc<dyn RecordStore> = Arc::new(store);
    let orchestrator = Orchestrator::new(
        Arc::clone(&infrastructure),
        Arc::clone(&store),
        PlacementOptions::default(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    runtime.block_on(lifecycle(
        &orchestrator,
        infrastructure.as_ref(),
        store.as_ref(),
        Arc::new(template),
    ))?;
    Ok(ExitCode::SUCCESS)
}

impl DataDir {
    fn resolve_explicit(&self) -> Option<PathBuf> {
        self.resolve().ok().filter(|_| self.is_explicit())
    }
}

/// Builds the example modules, assembles the bundled package with their
/// digests pinned, onboards it and resolves its service.
fn bundled_service(data_dir: &Path, host: &Host) -> Result<ServiceTemplate, Failure> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| Failure::new(exit::SOFTWARE, "cannot locate the wasmano workspace"))?
        .to_owned();
    eprintln!("building the example managers");
    let target_dir = workspace.join("target/guests");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (crate_name, _) in EXAMPLES {
        cargo.args(["-p", crate_name]);
    }
    let status = cargo
        .status()
        .map_err(|error| Failure::new(exit::SOFTWARE, format!("cannot run cargo: {error}")))?;
    if !status.success() {
        return Err(Failure::new(
            exit::SOFTWARE,
            "building the example managers failed; is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)",
        ));
    }
    let package_dir = data_dir.join("package");
    let modules_dir = package_dir.join("modules");
    std::fs::create_dir_all(&modules_dir).map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))?;
    for (_, module) in EXAMPLES {
        let built = target_dir.join("wasm32-wasip2/guest").join(module);
        std::fs::copy(&built, modules_dir.join(module))
            .map_err(|error| Failure::new(exit::SOFTWARE, format!("{}: {error}", built.display())))?;
    }
    let sources = workspace.join("examples-sm/package");
    let descriptors = std::fs::read_dir(&sources)
        .map_err(|error| Failure::new(exit::NO_INPUT, format!("{}: {error}", sources.display())))?;
    for entry in descriptors {
        let source = entry
            .map_err(|error| Failure::new(exit::NO_INPUT, error.to_string()))?
            .path();
        let text = std::fs::read_to_string(&source)
            .map_err(|error| Failure::new(exit::NO_INPUT, format!("{}: {error}", source.display())))?;
        let pinned = pin_module_digests(&text, &package_dir)
            .map_err(|error| Failure::new(exit::DATA, format!("{}: {error}", source.display())))?;
        let name = source
            .file_name()
            .ok_or_else(|| Failure::new(exit::NO_INPUT, "a descriptor without a name"))?;
        std::fs::write(package_dir.join(name), pinned)
            .map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))?;
    }
    let catalogue = open_catalogue(data_dir)?;
    let package = Package::read(&package_dir).map_err(|error| Failure::new(exit::DATA, error.to_string()))?;
    let started = Instant::now();
    let report = onboard(&package, &catalogue, host).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Failure::new(
            exit::DATA,
            format!("onboarding the bundled package failed: {}", lines.join("; ")),
        )
    })?;
    println!(
        "onboarded {} ({} new entries, {} unchanged) in {:.1} ms",
        report.nsd,
        report.stored.added.len(),
        report.stored.unchanged.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    service::from_catalogue(&catalogue, host, &report.nsd).map_err(|error| Failure::new(exit::DATA, error.to_string()))
}

/// A service from descriptor files, its legacy managers mapped onto modules.
fn external_service(
    host: &Host,
    nsd: &Path,
    vnfds: &[PathBuf],
    managers: &[String],
) -> Result<ServiceTemplate, Failure> {
    let mut modules = BTreeMap::new();
    for mapping in managers {
        let (id, module) = mapping
            .split_once('=')
            .ok_or_else(|| Failure::new(exit::USAGE, format!("--manager {mapping:?}: expected ID=MODULE")))?;
        modules.insert(id.to_owned(), PathBuf::from(module));
    }
    let read = |path: &Path| -> Result<(Descriptor, Value), Failure> {
        let parsed = descriptor::load_file(path).map_err(|error| match &error {
            descriptor::LoadError::Read { .. } => Failure::new(exit::NO_INPUT, error.to_string()),
            descriptor::LoadError::Invalid { problems, .. } => Failure::new(
                exit::DATA,
                format!(
                    "{error}: {}",
                    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                ),
            ),
        })?;
        let bytes = std::fs::read(path).map_err(|error| Failure::new(exit::NO_INPUT, error.to_string()))?;
        let document = service::document(&bytes).map_err(|error| Failure::new(exit::DATA, error.to_string()))?;
        Ok((parsed, document))
    };
    let (Descriptor::Service(nsd), nsd_document) = read(nsd)? else {
        return Err(Failure::new(exit::DATA, format!("{}: not an NSD", nsd.display())));
    };
    let mut functions = Vec::new();
    for path in vnfds {
        match read(path)? {
            (Descriptor::Function(vnfd), document) => functions.push((vnfd, document)),
            _ => return Err(Failure::new(exit::DATA, format!("{}: not a VNFD", path.display()))),
        }
    }
    let problems = descriptor::check_service(
        &nsd,
        &functions.iter().map(|(vnfd, _)| vnfd.clone()).collect::<Vec<_>>(),
    );
    if let Some(problem) = problems.first() {
        return Err(Failure::new(exit::DATA, format!("{}: {problem}", nsd.identity)));
    }
    service::build(host, &nsd, nsd_document, &functions, &ModuleSource::Files(&modules))
        .map_err(|error| Failure::new(exit::DATA, error.to_string()))
}

/// Instantiate, scale out, migrate, reconfigure, scale in, terminate.
async fn lifecycle(
    orchestrator: &Orchestrator,
    infrastructure: &dyn Infrastructure,
    store: &dyn RecordStore,
    template: Arc<ServiceTemplate>,
) -> Result<(), Failure> {
    let failed = |error: wasmano::workflow::WorkflowError| Failure::new(exit::SOFTWARE, error.to_string());
    let first_vnf = template
        .vnfs
        .first()
        .ok_or_else(|| Failure::new(exit::DATA, "the service has no VNF"))?
        .vnf_id
        .clone();
    let service = orchestrator.instantiate(Arc::clone(&template)).await.map_err(failed)?;
    print_timeline(&service);
    let id = service.service_id.clone();
    let scaled = orchestrator.scale_out(&id, &first_vnf).await.map_err(failed)?;
    print_timeline(&scaled);
    let added = scaled
        .vnfrs
        .iter()
        .find(|vnfr| !service.vnfrs.iter().any(|original| original.id == vnfr.id))
        .ok_or_else(|| Failure::new(exit::SOFTWARE, "scale out added no VNF"))?
        .clone();

    // Migrate the last VNF to another VIM of its kind, carrying its state.
    let moving = service
        .vnfrs
        .last()
        .ok_or_else(|| Failure::new(exit::SOFTWARE, "no VNF to migrate"))?;
    let current_vim = moving
        .deployment_units
        .first()
        .map(|unit| unit.vim_id.clone())
        .unwrap_or_default();
    let kind = template
        .vnfs
        .iter()
        .find(|vnf| vnf.vnf_id == moving.vnf_id)
        .map(|vnf| vnf.kind());
    let vims = infrastructure
        .vims()
        .await
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let target = vims
        .iter()
        .find(|vim| Some(vim.config.kind) == kind && vim.config.id != current_vim)
        .ok_or_else(|| Failure::new(exit::DATA, format!("no other VIM to migrate {} to", moving.vnf_id)))?;
    print_timeline(
        &orchestrator
            .migrate(&id, &moving.id, &target.config.id)
            .await
            .map_err(failed)?,
    );
    print_timeline(&orchestrator.reconfigure(&id).await.map_err(failed)?);
    print_timeline(&orchestrator.scale_in(&id, &added.id).await.map_err(failed)?);
    let terminated = orchestrator.terminate(&id).await.map_err(failed)?;
    print_timeline(&terminated);

    println!("\n== final records");
    let nsr = store
        .ns(&id)
        .await
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let vnfrs = store
        .vnfs_of(&id)
        .await
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let records = serde_json::json!({
        "nsr": nsr.to_tango(),
        "vnfrs": vnfrs.iter().map(|vnfr| vnfr.to_tango()).collect::<Vec<_>>(),
    });
    print!(
        "{}",
        serde_saphyr::to_string(&records).map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?
    );
    Ok(())
}

fn print_timeline(report: &WorkflowReport) {
    let total: f64 = report.steps.iter().map(|step| step.duration.as_secs_f64()).sum();
    println!(
        "\n== {} of service {} ({:.2} ms in steps)",
        report.workflow,
        report.service_id,
        total * 1e3
    );
    for step in &report.steps {
        let hook = match (&step.manager, &step.event) {
            (Some(manager), Some(event)) => format!("hook {event} on {manager}"),
            _ => String::new(),
        };
        println!(
            "  {:<44} {:>9.3} ms  {hook}",
            step.step,
            step.duration.as_secs_f64() * 1e3
        );
    }
    let placement: Vec<String> = report
        .vnfrs
        .iter()
        .filter(|vnfr| vnfr.status != wasmano::records::Status::Terminated)
        .map(|vnfr| {
            let vim = vnfr.deployment_units.first().map_or("-", |unit| unit.vim_id.as_str());
            format!("{} ({}) on {vim}", vnfr.vnf_id, &vnfr.id[..8.min(vnfr.id.len())])
        })
        .collect();
    if !placement.is_empty() {
        println!("  VNFs: {}", placement.join(", "));
    }
}
