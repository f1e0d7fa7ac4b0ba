//! `wasmano sm test`, `sm compare` and `sm inspect`: run a manager module the
//! way the orchestrator would, from a 5GTANGO payload file. `sm test
//! --command | --image` runs a legacy 5GTANGO manager the same way, over the
//! broker: launched, registered, sent the event, removed; its reply printed
//! and judged like a module's. `sm compare` runs a module and a legacy
//! manager on the same payload and prints where their replies differ.
//!
//! A reply is checked as the orchestrator checks it before acting on it: a
//! placement mapping by the same [`validate_mapping`] the workflows run
//! (every VNF of the request placed once, on a VIM of its topology, of the
//! VNF's kind, with the capacity free), and a configure reply's triggered
//! decisions for naming VNFs of the request. A 5GTANGO payload carries no
//! Domino labels, so a mapping is checked without them. A reply the
//! orchestrator would refuse is still printed, and the command fails with
//! [`exit::REFUSED_REPLY`] and one line saying why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::Value;
use tango_model::KeyValue;
use tango_model::descriptor::{Nsd, Vnfd};
use tango_model::reply::error_reply;
use tango_model::ssm::{ConfigureContent, PlacementContent, SsmEvent, VnfSwitches};
use wasmano::bus::{DEFAULT_CALL_DEADLINE, Launcher, LegacyGroup, LegacyManager, LegacySpec, wire};
use wasmano::placement::{LabelledVim, VnfToPlace, requested_placement, validate_links, validate_mapping};
use wasmano::recording::answer_document;
use wasmano::workflow::schedule;
use wasmano_host::{
    Cause, Event, Fault, Host, HostConfig, InvocationError, Limits, LoadError, LoadedModule, ManagerKind, Reply,
    Request, SpecificManager, WasmManager,
};

use super::broker::BrokerArgs;
use super::output::{out, outln};
use super::{Failure, exit};

/// A legacy 5GTANGO manager to run over the broker, as the orchestrator
/// runs one: launched with `broker_host` and `sf_uuid`, registered in a vhost
/// of its own, sent the event, removed.
#[derive(Debug, ClapArgs)]
pub struct LegacyArgs {
    /// The command line that runs the legacy manager (through `sh -c`).
    #[arg(long, conflicts_with = "image")]
    command: Option<String>,
    /// The legacy manager's container image, present on the local Docker
    /// daemon.
    #[arg(long)]
    image: Option<String>,
    /// The legacy manager's kind (ssm or fsm); read from the payload's
    /// envelope (`ssm_type` / `fsm_type`) when it names one.
    #[arg(long, value_parser = ["ssm", "fsm"])]
    kind: Option<String>,
    /// How long the legacy manager has to register and subscribe, in
    /// milliseconds.
    #[arg(long, default_value_t = 60_000)]
    ready_within_ms: u64,
    #[command(flatten)]
    broker: BrokerArgs,
}

impl LegacyArgs {
    fn launcher(&self) -> Option<Launcher> {
        match (&self.command, &self.image) {
            (Some(command), _) => Some(Launcher::Command(command.clone())),
            (None, Some(image)) => Some(Launcher::Image(image.clone())),
            (None, None) => None,
        }
    }
}

/// Arguments of `wasmano sm test`.
#[derive(Debug, ClapArgs)]
pub struct TestArgs {
    /// The component (.wasm).
    #[arg(long, required_unless_present_any = ["command", "image"], conflicts_with_all = ["command", "image"])]
    module: Option<PathBuf>,
    #[command(flatten)]
    legacy: LegacyArgs,
    /// The event (placement, configure, state, task, monitor for an SSM;
    /// start, stop, configure, state, scale for an FSM). Optional when the
    /// payload is a full envelope naming it (`ssm_type` / `fsm_type`).
    #[arg(long)]
    event: Option<String>,
    /// The payload: the event's content, or the full envelope, as YAML or JSON.
    #[arg(long)]
    payload: PathBuf,
    /// The module's expected sha256; a mismatch is refused.
    #[arg(long)]
    sha256: Option<String>,
    /// Deadline of the invocation in milliseconds (default 100 for a module,
    /// 10000 for a legacy manager).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory cap in MiB.
    #[arg(long, default_value_t = 64)]
    memory_mb: usize,
    /// An option the manager sees as declared in its descriptor (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// The manager id its logs are tagged with.
    #[arg(long, default_value = "sm-under-test")]
    id: String,
}

/// Arguments of `wasmano sm compare`.
#[derive(Debug, ClapArgs)]
pub struct CompareArgs {
    /// The component (.wasm): the port.
    #[arg(long)]
    module: PathBuf,
    #[command(flatten)]
    legacy: LegacyArgs,
    /// The event (optional when the payload's envelope names it).
    #[arg(long)]
    event: Option<String>,
    /// The payload both are sent.
    #[arg(long)]
    payload: PathBuf,
    /// The module's deadline in milliseconds.
    #[arg(long, default_value_t = 100)]
    timeout_ms: u64,
    /// The legacy manager's deadline in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    legacy_timeout_ms: u64,
    /// An option the module sees as declared in its descriptor (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
}

pub fn test(args: TestArgs) -> Result<ExitCode, Failure> {
    let payload = read_payload(&args.payload)?;
    let (outcome, event, content) = match (&args.module, args.legacy.launcher()) {
        (Some(module), _) => {
            let module = Module::load(
                module,
                args.sha256.as_deref(),
                &args.options,
                args.timeout_ms,
                args.memory_mb,
            )?;
            let (event, content) = resolve_event(module.kind(), args.event.as_deref(), payload, &args.payload)?;
            let request = request(&args.payload, event, &content)?;
            (module.invoke(&args.id, &request)?, event, content)
        }
        (None, Some(launcher)) => {
            let kind = legacy_kind(args.legacy.kind.as_deref(), &payload, &args.payload)?;
            let (event, content) = resolve_event(kind, args.event.as_deref(), payload, &args.payload)?;
            let request = request(&args.payload, event, &content)?;
            let deadline = args.timeout_ms.map_or(DEFAULT_CALL_DEADLINE, Duration::from_millis);
            let outcome = run_legacy(&args.legacy, launcher, &args.id, kind, deadline, request)?;
            (outcome, event, content)
        }
        (None, None) => {
            return Err(Failure::new(exit::USAGE, "--module, --command or --image is required"));
        }
    };
    let acceptance = Acceptance::of(event, &content)
        .map_err(|message| Failure::new(exit::DATA, format!("{}: {message}", args.payload.display())))?;
    report(outcome, &acceptance)
}

/// Runs the same event on a module and on a legacy manager and prints where
/// their replies (in 5GTANGO's shape) differ: the proof that a port answers
/// as the manager it replaces.
pub fn compare(args: CompareArgs) -> Result<ExitCode, Failure> {
    let launcher = args
        .legacy
        .launcher()
        .ok_or_else(|| Failure::new(exit::USAGE, "--command or --image is required"))?;
    let payload = read_payload(&args.payload)?;
    let module = Module::load(&args.module, None, &args.options, Some(args.timeout_ms), 64)?;
    if let Some(kind) = args.legacy.kind.as_deref()
        && kind != module.kind().short_name()
    {
        return Err(Failure::new(
            exit::USAGE,
            format!("--kind {kind}, but the module is a {}", module.kind()),
        ));
    }
    let (event, content) = resolve_event(module.kind(), args.event.as_deref(), payload, &args.payload)?;
    let request = request(&args.payload, event, &content)?;
    let ported = module.invoke("module", &request)?;
    let deadline = Duration::from_millis(args.legacy_timeout_ms);
    let legacy = run_legacy(&args.legacy, launcher, "legacy", module.kind(), deadline, request)?;
    let (ported, legacy) = (answer_document(&ported), answer_document(&legacy));
    let differences = differences(&ported, &legacy, ["module", "legacy"]);
    if differences.is_empty() {
        outln!("the module and the legacy manager answer the same:");
        out!("{}", to_yaml(&ported)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("the replies differ ({} place(s)):", differences.len());
    for line in &differences {
        outln!("{line}");
    }
    Err(Failure::new(
        exit::REPLIES_DIFFER,
        format!(
            "the module and the legacy manager answer {event} differently in {} place(s)",
            differences.len()
        ),
    ))
}

/// Every place the documents `left` and `right` differ, as `path: <left
/// label> … | <right label> …`.
pub(super) fn differences(left: &Value, right: &Value, labels: [&str; 2]) -> Vec<String> {
    let mut differences = Vec::new();
    differ("", left, right, labels, &mut differences);
    differences
}

fn differ(path: &str, left: &Value, right: &Value, labels: [&str; 2], differences: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(left), Value::Object(right)) => {
            let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            for key in keys {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differ(
                    &at,
                    left.get(key).unwrap_or(&Value::Null),
                    right.get(key).unwrap_or(&Value::Null),
                    labels,
                    differences,
                );
            }
        }
        (Value::Array(left), Value::Array(right)) => {
            for index in 0..left.len().max(right.len()) {
                differ(
                    &format!("{path}[{index}]"),
                    left.get(index).unwrap_or(&Value::Null),
                    right.get(index).unwrap_or(&Value::Null),
                    labels,
                    differences,
                );
            }
        }
        (left, right) if left != right => {
            let at = if path.is_empty() { "(the reply)" } else { path };
            let [left_label, right_label] = labels;
            differences.push(format!("{at}: {left_label} {left} | {right_label} {right}"));
        }
        _ => {}
    }
}

/// A module loaded for the harness, with its limits and options.
struct Module {
    host: Host,
    module: LoadedModule,
    limits: Limits,
    options: Vec<KeyValue>,
}

impl Module {
    fn load(
        path: &Path,
        sha256: Option<&str>,
        options: &[String],
        timeout_ms: Option<u64>,
        memory_mb: usize,
    ) -> Result<Self, Failure> {
        let limits = limits(timeout_ms.unwrap_or(100), memory_mb)?;
        let options = options
            .iter()
            .map(|option| parse_option(option))
            .collect::<Result<Vec<_>, _>>()?;
        let host = host()?;
        let module = load(&host, path, sha256)?;
        Ok(Self {
            host,
            module,
            limits,
            options,
        })
    }

    fn kind(&self) -> ManagerKind {
        self.module.kind()
    }

    fn invoke(&self, id: &str, request: &Request) -> Result<Result<Reply, InvocationError>, Failure> {
        let manager = WasmManager::new(&self.host, self.module.clone(), id, self.options.clone(), self.limits)
            .map_err(|error| Failure::new(exit::USAGE, error.to_string()))?;
        Ok(manager.invoke_blocking(request))
    }
}

fn request(path: &Path, event: Event, content: &Value) -> Result<Request, Failure> {
    Request::new(event, content).map_err(|error| Failure::new(exit::DATA, format!("{}: {error}", path.display())))
}

/// The kind of a legacy manager: `--kind`, or the envelope's type key.
fn legacy_kind(flag: Option<&str>, payload: &Value, path: &Path) -> Result<ManagerKind, Failure> {
    let named = [ManagerKind::Service, ManagerKind::Function]
        .into_iter()
        .find(|kind| payload.get(format!("{}_type", kind.short_name())).is_some());
    match (flag, named) {
        (Some("ssm"), _) => Ok(ManagerKind::Service),
        (Some(_), _) => Ok(ManagerKind::Function),
        (None, Some(kind)) => Ok(kind),
        (None, None) => Err(Failure::new(
            exit::USAGE,
            format!(
                "--kind ssm|fsm is required: {} names neither ssm_type nor fsm_type",
                path.display()
            ),
        )),
    }
}

/// Starts the legacy manager on the broker, sends it the request, and
/// removes it (vhost and program) whatever happened.
fn run_legacy(
    args: &LegacyArgs,
    launcher: Launcher,
    id: &str,
    kind: ManagerKind,
    deadline: Duration,
    request: Request,
) -> Result<Result<Reply, InvocationError>, Failure> {
    let broker = args.broker.broker((None, None))?;
    let ready_within = Duration::from_millis(args.ready_within_ms);
    if deadline.is_zero() || ready_within.is_zero() {
        return Err(Failure::new(
            exit::USAGE,
            "the deadline and --ready-within-ms must be positive",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| Failure::new(exit::SOFTWARE, format!("cannot start the async runtime: {error}")))?;
    let spec = LegacySpec {
        id: id.to_owned(),
        launcher,
    };
    let group = LegacyGroup::new(kind, vec![spec], broker, ready_within);
    let manager = LegacyManager::new(id, group, deadline);
    let instance = uuid::Uuid::new_v4().to_string();
    runtime.block_on(async {
        let outcome = manager.invoke(request.for_instance(&instance)).await;
        if let Err(error) = manager.release(&instance).await {
            tracing::warn!("removing the legacy manager: {error}");
        }
        match outcome {
            Err(InvocationError {
                cause: Cause::Host(message),
                ..
            }) => Err(Failure::new(exit::UNAVAILABLE, message)),
            Err(InvocationError {
                cause: Cause::Fault(Fault::DidNotStart(message)),
                ..
            }) => Err(Failure::new(exit::SANDBOX_FAULT, message)),
            outcome => Ok(outcome),
        }
    })
}

/// Prints a reply (or an error answer) in 5GTANGO's shape and maps the
/// outcome to the exit-code contract.
fn report(outcome: Result<Reply, InvocationError>, acceptance: &Acceptance) -> Result<ExitCode, Failure> {
    match outcome {
        Ok(reply) => {
            out!("{}", to_yaml(&reply.to_tango())?);
            acceptance.check(&reply).map_err(|why| {
                Failure::new(
                    exit::REFUSED_REPLY,
                    format!("the orchestrator would refuse this reply: {why}"),
                )
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => match &error.cause {
            Cause::Answered { message, content } => {
                out!("{}", to_yaml(&error_reply(message, content.as_ref()))?);
                Err(Failure::new(exit::MANAGER_ERROR, error.to_string()))
            }
            Cause::NotHandled => Err(Failure::new(exit::NOT_HANDLED, error.to_string())),
            Cause::Fault(_) => Err(Failure::new(exit::SANDBOX_FAULT, error.to_string())),
            Cause::Host(_) | Cause::Interrupted => Err(Failure::new(exit::SOFTWARE, error.to_string())),
        },
    }
}

pub fn inspect(path: &Path) -> Result<ExitCode, Failure> {
    let host = host()?;
    let module = load(&host, path, None)?;
    let events = handled_events(&host, &module, path)?;
    let summary = serde_json::json!({
        "kind": module.kind().short_name(),
        "contract": format!("wasmano:sm@{}", module.contract_version()),
        "events": events.iter().map(|event| event.name()).collect::<Vec<_>>(),
        "sha256": module.sha256(),
        "size": module.size(),
    });
    out!("{}", to_yaml(&summary)?);
    Ok(ExitCode::SUCCESS)
}

/// The events `module` says it handles, asked of a fresh instance under the
/// default limits once every function of its contract is checked.
pub(super) fn handled_events(host: &Host, module: &LoadedModule, path: &Path) -> Result<Vec<Event>, Failure> {
    let manager = WasmManager::new(
        host,
        module.clone(),
        path.display().to_string(),
        Vec::new(),
        Limits::default(),
    )
    .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    manager
        .check_contract()
        .and_then(|()| manager.handled_events())
        .map_err(|cause| {
            let code = if matches!(cause, Cause::Host(_) | Cause::Interrupted) {
                exit::SOFTWARE
            } else {
                exit::SANDBOX_FAULT
            };
            Failure::new(
                code,
                format!("{}: asking which events it handles: {cause}", path.display()),
            )
        })
}

/// What the orchestrator accepts in reply to a request, read from the
/// request's content before the manager runs.
#[derive(Debug)]
enum Acceptance {
    /// A mapping that places these VNFs on these VIMs, and virtual links of
    /// this NSD consistently with it.
    Placement {
        vnfs: Vec<VnfToPlace>,
        vims: Vec<LabelledVim>,
        nsd: Box<Nsd>,
        /// Each VNF instance of the request and the NSD's `vnf_id` it is an
        /// instance of.
        vnf_ids: Vec<(String, String)>,
    },
    /// Decisions whose triggered ones name these VNF instances.
    Configure { vnf_ids: BTreeSet<String> },
    /// Anything the host already accepted.
    Any,
}

impl Acceptance {
    /// Reads the VNFs and VIMs of a placement, the VNF instances of a
    /// configure; a content the orchestrator could not have sent is an
    /// error naming the problem.
    fn of(event: Event, content: &Value) -> Result<Self, String> {
        let parse_error = |error: serde_json::Error| format!("invalid {} request: {error}", event.name());
        match event {
            Event::Ssm(SsmEvent::Placement) => {
                let request: PlacementContent = serde_json::from_value(content.clone()).map_err(parse_error)?;
                let vnf_ids = instances_of_network_functions(&request.nsd, &request.vnfds);
                let nsd = Box::new(request.nsd.clone());
                let (vnfs, vims) = requested_placement(request)?;
                Ok(Self::Placement {
                    vnfs,
                    vims,
                    nsd,
                    vnf_ids,
                })
            }
            Event::Ssm(SsmEvent::Configure) => {
                let request: ConfigureContent = serde_json::from_value(content.clone()).map_err(parse_error)?;
                let vnf_ids = request
                    .functions
                    .iter()
                    .filter_map(|function| function.instance_id().map(str::to_owned))
                    .collect();
                Ok(Self::Configure { vnf_ids })
            }
            _ => Ok(Self::Any),
        }
    }

    /// Why the orchestrator would refuse the reply, if it would.
    fn check(&self, reply: &Reply) -> Result<(), String> {
        match (self, reply) {
            (
                Self::Placement {
                    vnfs,
                    vims,
                    nsd,
                    vnf_ids,
                },
                Reply::Placement(placement),
            ) => {
                validate_mapping(&placement.vnfs, vnfs, vims).map_err(|error| error.to_string())?;
                let sites: Vec<(&str, &str)> = placement
                    .vnfs
                    .iter()
                    .flat_map(|placed| {
                        vnf_ids
                            .iter()
                            .filter(move |(instance, _)| *instance == placed.vnf)
                            .map(move |(_, vnf_id)| (vnf_id.as_str(), placed.vim.as_str()))
                    })
                    .collect();
                validate_links(&placement.links, nsd, &sites)
            }
            (Self::Configure { vnf_ids }, Reply::Configure(decisions)) => unknown_target(decisions, vnf_ids)
                .map_or(Ok(()), |id| {
                    Err(format!("the configure reply names unknown VNF instance {id}"))
                }),
            (_, Reply::Schedule(tasks)) => schedule::phases(tasks).map(drop),
            _ => Ok(()),
        }
    }
}

/// Each VNF instance of a placement request (`vnfds[].instance_uuid`) with
/// the NSD's `vnf_id` of the network function whose descriptor it is (by
/// vendor, name and version: an instance of a VNFD the NSD uses twice counts
/// for both).
fn instances_of_network_functions(nsd: &Nsd, vnfds: &[Vnfd]) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for vnfd in vnfds {
        let Some(instance) = vnfd.instance_id() else {
            continue;
        };
        for function in &nsd.network_functions {
            let same = function.vnf_vendor == vnfd.vendor
                && function.vnf_name == vnfd.name
                && function.vnf_version == vnfd.version;
            if same && !function.vnf_id.is_empty() {
                pairs.push((instance.to_owned(), function.vnf_id.clone()));
            }
        }
    }
    pairs
}

/// The first decision naming a VNF instance not among `vnf_ids`: the
/// orchestrator fails the workflow on it (every decision may switch events
/// it follows later, so every id is checked).
fn unknown_target<'a>(decisions: &'a [VnfSwitches], vnf_ids: &BTreeSet<String>) -> Option<&'a str> {
    decisions
        .iter()
        .find(|decision| !vnf_ids.contains(&decision.id))
        .map(|decision| decision.id.as_str())
}

fn limits(timeout_ms: u64, memory_mb: usize) -> Result<Limits, Failure> {
    if timeout_ms == 0 || memory_mb == 0 {
        return Err(Failure::new(
            exit::USAGE,
            "--timeout-ms and --memory-mb must be positive",
        ));
    }
    let memory_bytes = memory_mb
        .checked_mul(1 << 20)
        .ok_or_else(|| Failure::new(exit::USAGE, format!("--memory-mb {memory_mb} is too large")))?;
    Ok(Limits {
        deadline: Duration::from_millis(timeout_ms),
        memory_bytes,
        ..Limits::default()
    })
}

pub(super) fn parse_option(text: &str) -> Result<KeyValue, Failure> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| Failure::new(exit::USAGE, format!("--option {text:?}: expected KEY=VALUE")))?;
    Ok(KeyValue::new(key, value))
}

/// How long the harness lets a module compile: a developer's own module,
/// on a developer's machine, where a large component (a Python manager
/// embeds CPython, about 19 MB) may take longer than the server's
/// onboarding budget while other work shares the cores.
const HARNESS_COMPILE_BUDGET: Duration = Duration::from_secs(300);

/// The host the harness runs modules on, caching compiled modules in the
/// user's cache directory so repeated runs skip compilation.
pub(super) fn host() -> Result<Host, Failure> {
    let cache_dir = std::env::var_os("WASMANO_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|dir| PathBuf::from(dir).join("wasmano")))
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/wasmano")))
        .map(|dir| dir.join("modules"));
    Host::new(HostConfig {
        cache_dir,
        compile_budget: HARNESS_COMPILE_BUDGET,
        // One call at a time: no other work to give the CPU to.
        demote_after: None,
        ..HostConfig::default()
    })
    .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))
}

pub(super) fn load(host: &Host, path: &Path, sha256: Option<&str>) -> Result<LoadedModule, Failure> {
    host.load_file(path, sha256).map_err(|error| {
        let code = match &error {
            LoadError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => exit::NO_INPUT,
            LoadError::Read { .. } => exit::NO_INPUT,
            LoadError::InvalidDigest(_) => exit::USAGE,
            LoadError::Engine(_) => exit::SOFTWARE,
            _ => exit::DATA,
        };
        Failure::new(code, format!("{}: {error}", path.display()))
    })
}

fn read_payload(path: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        let code = if error.kind() == std::io::ErrorKind::NotFound {
            exit::NO_INPUT
        } else {
            exit::DATA
        };
        Failure::new(code, format!("cannot read payload {}: {error}", path.display()))
    })?;
    serde_saphyr::from_str::<Value>(&text)
        .map_err(|error| Failure::new(exit::DATA, format!("{}: malformed payload: {error}", path.display())))
}

/// Splits a payload into its event and content. A full envelope names its
/// event (`ssm_type` / `fsm_type`) and carries the content either flat beside
/// it (5GTANGO's SSM messages) or under `content` (its FSM messages).
fn resolve_event(
    kind: ManagerKind,
    flag: Option<&str>,
    payload: Value,
    path: &Path,
) -> Result<(Event, Value), Failure> {
    let found = match &payload {
        Value::Object(_) => "a mapping",
        Value::Null => "nothing (the document is empty)",
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
    };
    let Value::Object(message) = payload else {
        return Err(Failure::new(
            exit::DATA,
            format!(
                "{}: the payload must be a mapping (an event's content or its envelope), found {found}",
                path.display()
            ),
        ));
    };
    let (named, content) = wire::open_envelope(kind, message);
    let named = match named {
        Some(Value::String(name)) => Some(name),
        Some(other) => {
            return Err(Failure::new(
                exit::DATA,
                format!(
                    "{}: {}_type must be a string, found {other}",
                    path.display(),
                    kind.short_name()
                ),
            ));
        }
        None => None,
    };
    let name = match (flag, named.as_deref()) {
        (Some(flag), Some(named)) if flag != named => {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "--event {flag} but the payload {} is a {named} envelope",
                    path.display()
                ),
            ));
        }
        (Some(name), _) | (None, Some(name)) => name.to_owned(),
        (None, None) => {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "--event is required: {} names no {}_type",
                    path.display(),
                    kind.short_name()
                ),
            ));
        }
    };
    let event = Event::parse(kind, &name).ok_or_else(|| {
        let known: Vec<&str> = Event::all(kind).iter().map(|event| event.name()).collect();
        Failure::new(
            exit::USAGE,
            format!(
                "unknown event {name:?} for a {kind} manager; expected one of {}",
                known.join(", ")
            ),
        )
    })?;
    Ok((event, content))
}

pub(super) fn to_yaml(value: &Value) -> Result<String, Failure> {
    serde_saphyr::to_string(value)
        .map_err(|error| Failure::new(exit::SOFTWARE, format!("cannot render the reply as YAML: {error}")))
}
