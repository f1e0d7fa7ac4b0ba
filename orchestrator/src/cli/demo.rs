//! `wasmano demo`: the main job on embedded defaults. It builds the example
//! managers and assembles the bundled example package (pinning the modules'
//! digests), then goes the way a user goes: it starts `wasmano serve`'s
//! server in this process on 127.0.0.1 (any free port) over the data
//! directory, its bootstrap admin token in a file there, and drives
//! everything through the REST API with the CLI's own client. With the
//! admin token it creates the `demo` project (or finds it) and an operator
//! token for it; as the operator it onboards the package (a `.tar.gz` built
//! in memory), creates an NS instance and runs its tasks: instantiate,
//! scale out (one more `web`), migrate `db` with its state to another VIM
//! of its kind, reconfigure, scale in, terminate. Each task's operation is
//! followed until it ends; one that does not end COMPLETED stops the demo
//! ([`exit::OPERATION_FAILED`]). Each operation's timeline, the VNFs and
//! their VIMs after it, and the final records (read from the server's
//! record store) are printed; then the operator token is revoked and the
//! server shuts down gracefully.
//!
//! With `--nsd`, it runs a service from outside the project instead (such as
//! 5GTANGO's NSID1V), mapping its legacy `image` managers onto WebAssembly
//! modules given with `--manager ID=MODULE`. That service has no package to
//! onboard, so this mode runs in process, through the orchestrator library,
//! on emulated VIMs with a SQLite store in the data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use tango_model::to_document;
use tokio::runtime::Runtime;
use wasmano::bus::Broker;
use wasmano::descriptor::{self, Descriptor};
use wasmano::infrastructure::Infrastructure;
use wasmano::infrastructure::emulated::{EmulatedInfrastructure, default_vims, load_vims};
use wasmano::placement::PlacementOptions;
use wasmano::records::{RecordStore, SqliteStore, Status, StepOutcome};
use wasmano::server::{self, ServeConfig};
use wasmano::service::{self, LegacySettings, ModuleSource};
use wasmano::workflow::{Orchestrator, ServiceTemplate, WorkflowReport};

use super::broker::{BrokerArgs, legacy_settings};
use super::catalogue::{DataDir, host_in};
use super::client::Client;
use super::output::{out, outln};
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
    /// Run the legacy container manager with this id (or this image) as
    /// this command line instead of its image, over the broker (repeatable).
    #[arg(long = "legacy", value_name = "ID=COMMAND")]
    legacy: Vec<String>,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// The example crates the bundled package needs, and their module names.
const EXAMPLES: [(&str, &str); 4] = [
    ("sm-placement", "sm_placement.wasm"),
    ("sm-configure", "sm_configure.wasm"),
    ("sm-state", "sm_state.wasm"),
    ("sm-vnf-manager", "sm_vnf_manager.wasm"),
];

/// The bootstrap admin token's file, in the data directory.
const TOKEN_FILE: &str = "demo-admin.token";

/// The project the demo works in.
const PROJECT: &str = "demo";

/// The bundled service's VNF the demo scales out, and the one it migrates.
const SCALED_VNF: &str = "web";
const MIGRATED_VNF: &str = "db";

const PROJECTS: &str = "/admin/v1/projects";
const TOKENS: &str = "/admin/v1/tokens";
const PACKAGES: &str = "/wasmano/v1/packages";
const VIMS: &str = "/wasmano/v1/vims";
const INSTANCES: &str = "/nslcm/v1/ns_instances";
const OPERATIONS: &str = "/nslcm/v1/ns_lcm_op_occs";

/// How long the operator token lives, should the demo end before it
/// revokes it.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// How long an operation may run at most.
const OPERATION_LIMIT: Duration = Duration::from_secs(300);

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    match &args.nsd {
        None => bundled(
            &runtime,
            &data_dir,
            args.vims.clone(),
            args.broker.broker((None, None))?,
        )?,
        Some(nsd) => external(&runtime, &data_dir, &args, nsd)?,
    }
    Ok(ExitCode::SUCCESS)
}

impl DataDir {
    fn resolve_explicit(&self) -> Option<PathBuf> {
        self.resolve().ok().filter(|_| self.is_explicit())
    }
}

/// The bundled service through a server in this process: assembled,
/// served, driven over HTTP, its final records printed, the server shut
/// down (also when driving it failed).
fn bundled(runtime: &Runtime, data_dir: &Path, vims: Option<PathBuf>, broker: Broker) -> Result<(), Failure> {
    let package_dir = assemble_package(data_dir)?;
    let archive = gzip_tar(&package_dir)?;
    let descriptors = package_descriptors(&package_dir)?;
    let token_file = data_dir.join(TOKEN_FILE);
    let config = ServeConfig {
        bootstrap_token_file: Some(token_file.clone()),
        vims_file: vims,
        legacy: LegacySettings::new(broker),
        ..ServeConfig::new(data_dir.to_owned())
    };
    let (listener, opened) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| Failure::new(exit::UNAVAILABLE, format!("cannot listen on 127.0.0.1: {error}")))?;
        let opened = server::open(&config).await.map_err(super::serve::start_failure)?;
        Ok::<_, Failure>((listener, opened))
    })?;
    let address = listener
        .local_addr()
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let lifecycle = Arc::clone(&opened.state.lifecycle);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server::serve(listener, opened.state, async {
        // A dropped sender stops the server too.
        let _ = stopped.await;
    }));
    let base = format!("http://{address}");
    eprintln!("serving the API on {base} in this process");

    let driven = drive(&base, &token_file, &archive)
        .and_then(|id| runtime.block_on(print_final_records(lifecycle.records().as_ref(), &id, &descriptors)));
    let _ = stop.send(());
    let served = runtime.block_on(serving);
    driven?;
    served
        .map_err(|error| Failure::new(exit::SOFTWARE, format!("the server task: {error}")))?
        .map_err(|error| Failure::new(exit::SOFTWARE, format!("the server: {error}")))?;
    eprintln!("the server stopped");
    Ok(())
}

/// Builds the example modules and assembles the bundled package in the
/// data directory with their digests pinned; answers its directory.
fn assemble_package(data_dir: &Path) -> Result<PathBuf, Failure> {
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
        let pinned = descriptor::pin_module_digests(&text, &package_dir)
            .map_err(|error| Failure::new(exit::DATA, format!("{}: {error}", source.display())))?
            .text;
        let name = source
            .file_name()
            .ok_or_else(|| Failure::new(exit::NO_INPUT, "a descriptor without a name"))?;
        std::fs::write(package_dir.join(name), pinned)
            .map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))?;
    }
    Ok(package_dir)
}

/// The descriptors a service's records are rendered with: its NSD, and
/// its VNFDs by catalogue reference.
struct RecordDescriptors {
    nsd: tango_model::descriptor::Nsd,
    vnfds: BTreeMap<String, tango_model::descriptor::Vnfd>,
}

impl RecordDescriptors {
    fn of_template(template: &ServiceTemplate) -> Self {
        Self {
            nsd: template.nsd.clone(),
            vnfds: template
                .vnfs
                .iter()
                .map(|vnf| (vnf.vnfd_reference.clone(), vnf.vnfd.clone()))
                .collect(),
        }
    }
}

/// The descriptor documents of the package directory by catalogue
/// reference: what the final records are rendered with.
fn package_descriptors(package_dir: &Path) -> Result<RecordDescriptors, Failure> {
    let entries = std::fs::read_dir(package_dir)
        .map_err(|error| Failure::new(exit::NO_INPUT, format!("{}: {error}", package_dir.display())))?;
    let mut nsd = None;
    let mut vnfds = BTreeMap::new();
    for entry in entries {
        let path = entry
            .map_err(|error| Failure::new(exit::NO_INPUT, error.to_string()))?
            .path();
        if !path.is_file() {
            continue;
        }
        let invalid = |message: String| Failure::new(exit::DATA, format!("{}: {message}", path.display()));
        let bytes = std::fs::read(&path).map_err(|error| invalid(error.to_string()))?;
        let parsed = descriptor::parse(&bytes).map_err(|problems| invalid(problems[0].to_string()))?;
        let document = service::document(&bytes).map_err(|error| invalid(error.to_string()))?;
        match parsed {
            Descriptor::Service(_) => {
                nsd = Some(serde_json::from_value(document).map_err(|error| invalid(error.to_string()))?);
            }
            Descriptor::Function(vnfd) => {
                let typed = serde_json::from_value(document).map_err(|error| invalid(error.to_string()))?;
                vnfds.insert(vnfd.identity.to_string(), typed);
            }
        }
    }
    let nsd = nsd.ok_or_else(|| Failure::new(exit::DATA, format!("{}: no NSD", package_dir.display())))?;
    Ok(RecordDescriptors { nsd, vnfds })
}

/// The package directory as a `.tar.gz`, in memory.
fn gzip_tar(package_dir: &Path) -> Result<Vec<u8>, Failure> {
    let failed =
        |error: std::io::Error| Failure::new(exit::SOFTWARE, format!("packing {}: {error}", package_dir.display()));
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    builder.append_dir_all("demo", package_dir).map_err(failed)?;
    builder.into_inner().map_err(failed)?.finish().map_err(failed)
}

/// Sets up the project and an operator token with the bootstrap admin
/// token, runs the service as the operator, then revokes that token.
/// Answers the NS instance's id.
fn drive(base: &str, token_file: &Path, archive: &[u8]) -> Result<String, Failure> {
    let admin_token = std::fs::read_to_string(token_file)
        .map_err(|error| {
            Failure::new(
                exit::NO_PERMISSION,
                format!(
                    "bootstrap token file {}: {error} (was this data directory's admin token issued elsewhere? use a fresh --data-dir)",
                    token_file.display()
                ),
            )
        })?
        .trim()
        .to_owned();
    let admin = Client::new(base, &admin_token);
    let projects = admin.get(PROJECTS)?.body;
    let existing = projects
        .as_array()
        .into_iter()
        .flatten()
        .find(|project| project.get("name").and_then(Value::as_str) == Some(PROJECT))
        .cloned();
    let project = match existing {
        Some(project) => project,
        None => admin.post_json(PROJECTS, &json!({"name": PROJECT}))?.body,
    };
    let project_id = field(&project, "id")?;
    let issued = admin
        .post_json(
            TOKENS,
            &json!({
                "role": "operator",
                "projectId": project_id,
                "description": "wasmano demo",
                "expiresInSeconds": TOKEN_LIFETIME.as_secs(),
            }),
        )?
        .body;
    eprintln!(
        "project {PROJECT} ({project_id}), operator token {}",
        field(&issued, "id")?
    );
    let operator = Client::new(base, field(&issued, "token")?);
    let ran = run_service(&operator, archive);
    let revoked = admin.delete(&format!("{TOKENS}/{}", field(&issued, "id")?));
    let id = ran?;
    revoked?;
    Ok(id)
}

/// Onboards the package, creates an NS instance and runs its tasks;
/// answers the instance's id.
fn run_service(client: &Client, archive: &[u8]) -> Result<String, Failure> {
    let started = Instant::now();
    let package = client.post_bytes(PACKAGES, "application/gzip", archive)?.body;
    let nsd_id = field(&package, "nsdId")?;
    let count = |name: &str| package.get(name).and_then(Value::as_array).map_or(0, Vec::len);
    outln!(
        "onboarded {nsd_id} as package {} ({} VNFDs, {} modules) in {:.1} ms",
        field(&package, "id")?,
        count("vnfds"),
        count("modules"),
        started.elapsed().as_secs_f64() * 1e3
    );
    let instance = client
        .post_json(
            INSTANCES,
            &json!({"nsdId": nsd_id, "nsName": "demo", "nsDescription": "wasmano demo"}),
        )?
        .body;
    let id = field(&instance, "id")?.to_owned();
    let task = |name: &str| format!("{INSTANCES}/{id}/{name}");

    let deployed = run_task(client, &id, &task("instantiate"), &json!({}))?;
    let scaled = run_task(
        client,
        &id,
        &task("scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeAdded": [{"vnfProfileId": SCALED_VNF}]}}),
    )?;
    let added = scaled
        .iter()
        .find(|vnf| !deployed.iter().any(|before| before.get("id") == vnf.get("id")))
        .ok_or_else(|| Failure::new(exit::SOFTWARE, "scale out added no VNF instance"))?;
    let added = field(added, "id")?.to_owned();

    // Migrate the database to another VIM of the kind it runs on.
    let moving = scaled
        .iter()
        .find(|vnf| vnf.get("vnfProfileId").and_then(Value::as_str) == Some(MIGRATED_VNF))
        .ok_or_else(|| Failure::new(exit::DATA, format!("the service has no {MIGRATED_VNF} VNF")))?;
    let current_vim = field(moving, "vimId")?;
    let vims = client.get(VIMS)?.body;
    let vims = vims.as_array().map(Vec::as_slice).unwrap_or_default();
    let kind = vims
        .iter()
        .find(|vim| vim.get("id").and_then(Value::as_str) == Some(current_vim))
        .and_then(|vim| vim.get("kind"))
        .ok_or_else(|| Failure::new(exit::SOFTWARE, format!("{VIMS} does not list {current_vim}")))?;
    let target = vims
        .iter()
        .find(|vim| vim.get("kind") == Some(kind) && vim.get("id").and_then(Value::as_str) != Some(current_vim))
        .ok_or_else(|| {
            Failure::new(
                exit::DATA,
                format!("no other VIM of kind {kind} to migrate {MIGRATED_VNF} to"),
            )
        })?;
    run_task(
        client,
        &id,
        &task("migrate"),
        &json!({"vnfInstanceId": field(moving, "id")?, "targetVimId": field(target, "id")?}),
    )?;

    run_task(client, &id, &task("reconfigure"), &json!({}))?;
    run_task(
        client,
        &id,
        &task("scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeRemoved": [added]}}),
    )?;
    run_task(client, &id, &task("terminate"), &json!({"terminationType": "GRACEFUL"}))?;
    Ok(id)
}

/// Posts a task, waits for its operation to end, prints its timeline and
/// the instance's VNFs; fails unless the operation completed. Answers the
/// VNF instances after it.
fn run_task(client: &Client, ns_id: &str, path: &str, body: &Value) -> Result<Vec<Value>, Failure> {
    let location = client
        .post_json(path, body)?
        .location
        .ok_or_else(|| Failure::new(exit::SOFTWARE, format!("{path}: the server answered no Location")))?;
    let operation = client.wait_for_end(&location, Some(OPERATION_LIMIT), |_| {})?;
    let operation_id = field(&operation, "id")?;
    let kind = operation.get("lcmOperationType").and_then(Value::as_str).unwrap_or("?");
    let state = operation.get("operationState").and_then(Value::as_str).unwrap_or("?");

    let timeline = client.get(&format!("{OPERATIONS}/{operation_id}/timeline"))?.body;
    let steps = timeline
        .get("steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = |step: &Value, name: &str| step.get(name).and_then(Value::as_str).map(str::to_owned);
    let seconds = |step: &Value| step.get("durationSeconds").and_then(Value::as_f64).unwrap_or(0.0);
    let workflow = steps
        .first()
        .and_then(|step| text(step, "workflow"))
        .unwrap_or_else(|| kind.to_lowercase());
    print_heading(&workflow, ns_id, steps.iter().map(seconds).sum());
    outln!("  operation {operation_id}: {kind} {state}");
    for step in steps {
        print_step(
            &text(step, "step").unwrap_or_default(),
            text(step, "outcome").as_deref() == Some(StepOutcome::Intended.as_str()),
            seconds(step),
            text(step, "manager").as_deref(),
            text(step, "event").as_deref(),
            text(step, "error").as_deref(),
        );
    }
    let instance = client.get(&format!("{INSTANCES}/{ns_id}"))?.body;
    let vnfs = instance
        .get("vnfInstance")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    print_vnfs(vnfs.iter().map(|vnf| {
        let text = |name: &str| vnf.get(name).and_then(Value::as_str).unwrap_or("-");
        (text("vnfProfileId"), text("id"), text("vimId"))
    }));
    if state != "COMPLETED" {
        let detail = operation
            .pointer("/error/detail")
            .and_then(Value::as_str)
            .unwrap_or("no error recorded");
        return Err(Failure::new(
            exit::OPERATION_FAILED,
            format!("{workflow} of NS instance {ns_id}: operation {operation_id} ended {state}: {detail}"),
        ));
    }
    Ok(vnfs)
}

/// A string member of a server's answer.
fn field<'a>(value: &'a Value, name: &str) -> Result<&'a str, Failure> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new(exit::SOFTWARE, format!("the server's answer has no {name}: {value}")))
}

/// A service from descriptor files, its legacy managers mapped onto
/// modules, through its lifecycle in process.
fn external(runtime: &Runtime, data_dir: &Path, args: &DemoArgs, nsd: &Path) -> Result<(), Failure> {
    let host = host_in(data_dir)?;
    let mut modules = BTreeMap::new();
    for mapping in &args.managers {
        let (id, module) = mapping
            .split_once('=')
            .ok_or_else(|| Failure::new(exit::USAGE, format!("--manager {mapping:?}: expected ID=MODULE")))?;
        modules.insert(id.to_owned(), PathBuf::from(module));
    }
    let legacy = legacy_settings(args.broker.broker((None, None))?, &args.legacy)?;
    let template = service_from_files(&host, nsd, &args.vnfd, &ModuleSource::Files(&modules), &legacy)?;
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
    runtime.block_on(lifecycle(
        &orchestrator,
        infrastructure.as_ref(),
        store.as_ref(),
        Arc::new(template),
    ))
}

/// The service of an NSD file and its VNFD files, its managers loaded
/// from `modules`.
pub(super) fn service_from_files(
    host: &wasmano_host::Host,
    nsd: &Path,
    vnfds: &[PathBuf],
    modules: &ModuleSource,
    legacy: &LegacySettings,
) -> Result<ServiceTemplate, Failure> {
    let read = |path: &Path| -> Result<(Descriptor, Value), Failure> {
        let bytes = descriptor::read_file(path).map_err(|error| Failure::new(exit::NO_INPUT, error.to_string()))?;
        let parsed = descriptor::parse(&bytes).map_err(|problems| {
            let listed = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            let error = descriptor::LoadError::Invalid {
                path: path.to_owned(),
                problems,
            };
            Failure::new(exit::DATA, format!("{error}: {listed}"))
        })?;
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
    service::build(host, &nsd, nsd_document, &functions, modules, legacy)
        .map_err(|error| Failure::new(exit::DATA, error.to_string()))
}

/// Instantiate, scale out, migrate, reconfigure, scale in, terminate, in
/// process.
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
    print_timeline(&orchestrator.terminate(&id).await.map_err(failed)?);
    print_final_records(store, &id, &RecordDescriptors::of_template(&template)).await
}

/// An in-process workflow's timeline, as [`run_task`] prints an operation's.
fn print_timeline(report: &WorkflowReport) {
    print_heading(
        report.workflow.name(),
        &report.service_id,
        report.steps.iter().map(|step| step.duration.as_secs_f64()).sum(),
    );
    for step in &report.steps {
        print_step(
            &step.step,
            step.outcome == StepOutcome::Intended,
            step.duration.as_secs_f64(),
            step.manager.as_deref(),
            step.event.as_deref(),
            None,
        );
    }
    print_vnfs(
        report
            .vnfrs
            .iter()
            .filter(|vnfr| vnfr.status != Status::Terminated)
            .map(|vnfr| {
                let vim = vnfr.deployment_units.first().map_or("-", |unit| unit.vim_id.as_str());
                (vnfr.vnf_id.as_str(), vnfr.id.as_str(), vim)
            }),
    );
}

fn print_heading(workflow: &str, service_id: &str, step_seconds: f64) {
    outln!(
        "\n== {workflow} of service {service_id} ({:.2} ms in steps)",
        step_seconds * 1e3
    );
}

/// One step: its name (an effect's intent, journaled before it acted,
/// marked as such), duration, and the hook it ran or its error.
fn print_step(step: &str, intent: bool, seconds: f64, manager: Option<&str>, event: Option<&str>, error: Option<&str>) {
    let hook = super::step_participant(manager, event);
    let error = error.map(|error| format!("  error: {error}")).unwrap_or_default();
    let step = if intent {
        format!("{step} (intent)")
    } else {
        step.to_owned()
    };
    let line = format!("  {step:<44} {:>9.3} ms  {hook}{error}", seconds * 1e3);
    outln!("{}", line.trim_end());
}

/// The VNF instances (profile, instance id, VIM) after a workflow.
fn print_vnfs<'a>(vnfs: impl Iterator<Item = (&'a str, &'a str, &'a str)>) {
    let placement: Vec<String> = vnfs
        .map(|(vnf_id, id, vim)| format!("{vnf_id} ({}) on {vim}", id.get(..8).unwrap_or(id)))
        .collect();
    if !placement.is_empty() {
        outln!("  VNFs: {}", placement.join(", "));
    }
}

/// The service's NSR and VNFRs, in the 5GTANGO shape (rendered with
/// `descriptors`), as YAML.
async fn print_final_records(
    store: &dyn RecordStore,
    id: &str,
    descriptors: &RecordDescriptors,
) -> Result<(), Failure> {
    let nsr = store
        .ns(id)
        .await
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let vnfrs = store
        .vnfs_of(id)
        .await
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let vnfrs = vnfrs
        .iter()
        .map(|vnfr| {
            let vnfd = descriptors.vnfds.get(&vnfr.descriptor_reference).ok_or_else(|| {
                Failure::new(
                    exit::SOFTWARE,
                    format!(
                        "VNFR {} names VNFD {}, which the service does not have",
                        vnfr.id, vnfr.descriptor_reference
                    ),
                )
            })?;
            Ok(vnfr.to_tango(vnfd))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let records = json!({
        "nsr": to_document(&nsr.to_tango(&descriptors.nsd)),
        "vnfrs": vnfrs.iter().map(to_document).collect::<Vec<_>>(),
    });
    outln!("\n== final records");
    out!(
        "{}",
        serde_saphyr::to_string(&records).map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?
    );
    Ok(())
}
