//! `wasmano sm test` and `wasmano sm inspect`: run a manager module the way
//! the orchestrator would, from a 5GTANGO payload file.
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
use sm_sdk::ssm::{ConfigureRequest, PlacementRequest, SsmEvent, VnfSwitches};
use sm_sdk::{Document, KeyValue};
use wasmano::placement::{LabelledVim, VnfToPlace, requested_placement, validate_mapping};
use wasmano::workflow::schedule;
use wasmano_host::{
    Cause, Event, Host, HostConfig, Limits, LoadError, LoadedModule, Reply, Request, WasmManager, tango_error,
};

use super::{Failure, exit};

/// Arguments of `wasmano sm test`.
#[derive(Debug, ClapArgs)]
pub struct TestArgs {
    /// The component (.wasm).
    #[arg(long)]
    module: PathBuf,
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
    /// Deadline of the invocation in milliseconds.
    #[arg(long, default_value_t = 100)]
    timeout_ms: u64,
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

pub fn test(args: TestArgs) -> Result<ExitCode, Failure> {
    let limits = limits(args.timeout_ms, args.memory_mb)?;
    let options = args
        .options
        .iter()
        .map(|option| parse_option(option))
        .collect::<Result<Vec<_>, _>>()?;
    let payload = read_payload(&args.payload)?;
    let host = host()?;
    let module = load(&host, &args.module, args.sha256.as_deref())?;
    let (event, content) = resolve_event(&module, args.event.as_deref(), payload, &args.payload)?;
    let bad_payload = |message: String| Failure::new(exit::DATA, format!("{}: {message}", args.payload.display()));
    let request = Request::new(event, &content).map_err(|error| bad_payload(error.to_string()))?;
    let acceptance = Acceptance::of(event, &content).map_err(bad_payload)?;
    let manager = WasmManager::new(&host, module, args.id, options, limits)
        .map_err(|error| Failure::new(exit::USAGE, error.to_string()))?;
    match manager.invoke_blocking(&request) {
        Ok(reply) => {
            print!("{}", to_yaml(&reply.to_tango())?);
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
                print!("{}", to_yaml(&tango_error(message, content.as_ref()))?);
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
    let manager = WasmManager::new(&host, module, path.display().to_string(), Vec::new(), Limits::default())
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let events = manager.handled_events().map_err(|cause| {
        let code = if matches!(cause, Cause::Host(_) | Cause::Interrupted) {
            exit::SOFTWARE
        } else {
            exit::SANDBOX_FAULT
        };
        Failure::new(
            code,
            format!("{}: asking which events it handles: {cause}", path.display()),
        )
    })?;
    let module = manager.module();
    let summary = serde_json::json!({
        "kind": module.kind().short_name(),
        "contract": format!("wasmano:sm@{}", module.contract_version()),
        "events": events.iter().map(|event| event.name()).collect::<Vec<_>>(),
        "sha256": module.sha256(),
        "size": module.size(),
    });
    print!("{}", to_yaml(&summary)?);
    Ok(ExitCode::SUCCESS)
}

/// What the orchestrator accepts in reply to a request, read from the
/// request's content before the manager runs.
#[derive(Debug)]
enum Acceptance {
    /// A mapping that places these VNFs on these VIMs.
    Placement {
        vnfs: Vec<VnfToPlace>,
        vims: Vec<LabelledVim>,
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
        let document = Document::from_value(content);
        match event {
            Event::Ssm(SsmEvent::Placement) => {
                let request = PlacementRequest::from_document(document).map_err(|error| error.to_string())?;
                let (vnfs, vims) = requested_placement(request)?;
                Ok(Self::Placement { vnfs, vims })
            }
            Event::Ssm(SsmEvent::Configure) => {
                let request = ConfigureRequest::from_document(document).map_err(|error| error.to_string())?;
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
            (Self::Placement { vnfs, vims }, Reply::Placement(placement)) => {
                validate_mapping(&placement.vnfs, vnfs, vims).map_err(|error| error.to_string())
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

fn parse_option(text: &str) -> Result<KeyValue, Failure> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| Failure::new(exit::USAGE, format!("--option {text:?}: expected KEY=VALUE")))?;
    Ok(KeyValue::new(key, value))
}

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
        ..HostConfig::default()
    })
    .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))
}

fn load(host: &Host, path: &Path, sha256: Option<&str>) -> Result<LoadedModule, Failure> {
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
    module: &LoadedModule,
    flag: Option<&str>,
    payload: Value,
    path: &Path,
) -> Result<(Event, Value), Failure> {
    let type_key = format!("{}_type", module.kind().short_name());
    let Value::Object(mut fields) = payload else {
        return Err(Failure::new(
            exit::DATA,
            format!("{}: the payload must be a mapping", path.display()),
        ));
    };
    let named = match fields.remove(&type_key) {
        Some(Value::String(name)) => Some(name),
        Some(other) => {
            return Err(Failure::new(
                exit::DATA,
                format!("{}: {type_key} must be a string, found {other}", path.display()),
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
                format!("--event is required: {} names no {type_key}", path.display()),
            ));
        }
    };
    let event = Event::parse(module.kind(), &name).ok_or_else(|| {
        let known: Vec<&str> = Event::all(module.kind()).iter().map(|event| event.name()).collect();
        Failure::new(
            exit::USAGE,
            format!(
                "unknown event {name:?} for a {} module; expected one of {}",
                module.kind(),
                known.join(", ")
            ),
        )
    })?;
    let content = match fields.remove("content") {
        Some(content @ Value::Object(_)) if named.is_some() => content,
        Some(other) => {
            fields.insert("content".into(), other);
            Value::Object(fields)
        }
        None => Value::Object(fields),
    };
    Ok((event, content))
}

pub(super) fn to_yaml(value: &Value) -> Result<String, Failure> {
    serde_saphyr::to_string(value)
        .map_err(|error| Failure::new(exit::SOFTWARE, format!("cannot render the reply as YAML: {error}")))
}
