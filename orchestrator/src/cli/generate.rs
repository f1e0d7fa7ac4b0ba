//! `wasmano sm generate`: the payload the orchestrator sends a manager for
//! one event of a service given by its descriptors, as 5GTANGO's tng-sdk-sm
//! `generate` wrote them, so that a manager is tested on its own service's
//! shapes rather than on someone else's example files.
//!
//! The service is instantiated for real, with no manager loaded (default
//! placement, emulated VIMs, records in a temporary store), and the
//! payload is built from its records by the same code the workflows use.
//! The output is a full envelope (`ssm_type`/`fsm_type` and `content`),
//! which `wasmano sm test --payload` reads as is.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args as ClapArgs;
use serde_json::{Map, Value};
use wasmano::infrastructure::Infrastructure;
use wasmano::infrastructure::emulated::{EmulatedInfrastructure, default_vims, load_vims};
use wasmano::placement::PlacementOptions;
use wasmano::records::SqliteStore;
use wasmano::service::{LegacySettings, ModuleSource};
use wasmano::workflow::{Orchestrator, sample_payload};
use wasmano_host::Event;

use super::demo::service_from_files;
use super::output::out;
use super::scaffold::Kind;
use super::sm::{host, to_yaml};
use super::{Failure, exit};

/// Arguments of `wasmano sm generate`.
#[derive(Debug, ClapArgs)]
pub struct GenerateArgs {
    /// The service's NSD.
    #[arg(long)]
    nsd: PathBuf,
    /// Its VNFDs (repeatable).
    #[arg(long)]
    vnfd: Vec<PathBuf>,
    /// The kind of manager the event is for.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The event (placement, configure, state, task, monitor for an SSM;
    /// start, stop, configure, state, scale for an FSM).
    #[arg(long)]
    event: String,
    /// For an FSM event, the NSD's VNF (`vnf_id`) it is about; the first
    /// VNF by default.
    #[arg(long)]
    vnf: Option<String>,
    /// The VIMs to run on (as `serve --vims`); the emulated defaults
    /// otherwise.
    #[arg(long)]
    vims: Option<PathBuf>,
}

pub fn generate(args: GenerateArgs) -> Result<ExitCode, Failure> {
    let kind = args.kind.manager_kind();
    let event = Event::parse(kind, &args.event).ok_or_else(|| {
        let known: Vec<&str> = Event::all(kind).iter().map(|event| event.name()).collect();
        Failure::new(
            exit::USAGE,
            format!(
                "unknown event {:?} for a {kind}; expected one of {}",
                args.event,
                known.join(", ")
            ),
        )
    })?;
    let host = host()?;
    let template = Arc::new(service_from_files(
        &host,
        &args.nsd,
        &args.vnfd,
        &ModuleSource::Nothing,
        &LegacySettings::default(),
    )?);
    let vims = match &args.vims {
        Some(file) => load_vims(file).map_err(|error| Failure::new(exit::DATA, error.to_string()))?,
        None => default_vims(),
    };
    let infrastructure =
        Arc::new(EmulatedInfrastructure::new(vims).map_err(|error| Failure::new(exit::DATA, error.to_string()))?);
    let records = tempfile::tempdir().map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))?;
    let store = SqliteStore::open(&records.path().join("records.sqlite"))
        .map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))?;
    let orchestrator = Orchestrator::new(
        Arc::clone(&infrastructure) as Arc<dyn Infrastructure>,
        Arc::new(store),
        PlacementOptions::default(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    let (before, service) = runtime
        .block_on(async {
            // Placement sees the VIMs as they were before the service was deployed.
            let before = infrastructure.vims().await?;
            let service = orchestrator.instantiate(Arc::clone(&template)).await?;
            Ok::<_, Box<dyn std::error::Error>>((before, service))
        })
        .map_err(|error| Failure::new(exit::DATA, format!("the service cannot be instantiated: {error}")))?;
    let content = sample_payload(
        event,
        &template,
        &service.nsr,
        &service.vnfrs,
        args.vnf.as_deref(),
        &before,
    )
    .map_err(|error| Failure::new(exit::USAGE, error))?;
    let mut envelope = Map::new();
    envelope.insert(format!("{}_type", kind.short_name()), Value::from(event.name()));
    envelope.insert("content".into(), content);
    out!("{}", to_yaml(&Value::Object(envelope))?);
    Ok(ExitCode::SUCCESS)
}
