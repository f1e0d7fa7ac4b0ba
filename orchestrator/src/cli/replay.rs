//! `wasmano sm replay`: runs the hook calls a data directory recorded (see
//! [`wasmano::recording`]) again, on a new version of a manager module, and
//! prints per call where the new answer differs from the recorded one. Each
//! call runs as it ran: the same request document, random seed, options and
//! limits, in a fresh sandbox. This is how an operator checks a manager
//! update before making it: exit 0 when every answer is the same,
//! [`exit::REPLIES_DIFFER`] when any differs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;
use serde_json::Value;
use wasmano::clock::rfc3339;
use wasmano::recording::{CallFilter, CallLog, CallLogError, StoredCall, answer_document};
use wasmano_host::{Event, Host, LoadedModule, Request, WasmManager};

use super::catalogue::DataDir;
use super::output::outln;
use super::sm::{differences, handled_events, host, load, parse_option};
use super::{Failure, exit};

/// Arguments of `wasmano sm replay`.
#[derive(Debug, ClapArgs)]
pub struct ReplayArgs {
    /// The new version of the manager (.wasm).
    #[arg(long)]
    module: PathBuf,
    #[command(flatten)]
    data_dir: DataDir,
    /// Only the calls of this NS instance.
    #[arg(long, value_name = "ID")]
    service: Option<String>,
    /// Only the calls of this event (default: every event the module
    /// handles).
    #[arg(long)]
    event: Option<String>,
    /// Only the calls of this manager id (default: every manager whose
    /// events the module handles).
    #[arg(long, value_name = "ID")]
    manager: Option<String>,
    /// Run with this option instead of the recorded ones (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
}

pub fn replay(args: ReplayArgs) -> Result<ExitCode, Failure> {
    let data_dir = args.data_dir.resolve()?;
    let log = CallLog::open_to_read(&data_dir).map_err(log_failure)?;
    let host = host()?;
    let module = load(&host, &args.module, None)?;
    let events = match &args.event {
        Some(name) => vec![Event::parse(module.kind(), name).ok_or_else(|| {
            let known: Vec<&str> = Event::all(module.kind()).iter().map(|event| event.name()).collect();
            Failure::new(
                exit::USAGE,
                format!(
                    "unknown event {name:?} for a {} manager; expected one of {}",
                    module.kind(),
                    known.join(", ")
                ),
            )
        })?],
        None => handled_events(&host, &module, &args.module)?,
    };
    let options = args
        .options
        .iter()
        .map(|option| parse_option(option))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = CallFilter {
        service_id: args.service.clone(),
        manager_id: args.manager.clone(),
        events: Some(events.clone()),
    };
    let calls = log.calls(&filter).map_err(log_failure)?;
    if calls.is_empty() {
        let events: Vec<String> = events.iter().map(ToString::to_string).collect();
        return Err(Failure::new(
            exit::NO_INPUT,
            format!(
                "{} recorded no call of {}{}{}",
                data_dir.display(),
                events.join(", "),
                args.service
                    .as_ref()
                    .map_or_else(String::new, |id| format!(" for service {id}")),
                args.manager
                    .as_ref()
                    .map_or_else(String::new, |id| format!(" to manager {id}")),
            ),
        ));
    }
    let replayer = Replayer {
        host,
        module,
        options: (!args.options.is_empty()).then_some(options),
    };
    let mut different = 0;
    for stored in &calls {
        let differences = replayer.replay(stored)?;
        let call = &stored.call;
        let heading = format!(
            "call {} at {} for service {}: {} on {} (ran {})",
            stored.number,
            rfc3339(stored.recorded_at),
            call.service_id,
            call.event,
            call.manager_id,
            call.ran
        );
        if differences.is_empty() {
            outln!("{heading}: same");
        } else {
            different += 1;
            outln!("{heading}: differs in {} place(s)", differences.len());
            for line in differences {
                outln!("  {line}");
            }
        }
    }
    outln!(
        "replayed {} call(s) on {}: {} same, {different} different",
        calls.len(),
        args.module.display(),
        calls.len() - different
    );
    if different > 0 {
        return Err(Failure::new(
            exit::REPLIES_DIFFER,
            format!(
                "{} answers {different} of {} recorded call(s) differently",
                args.module.display(),
                calls.len()
            ),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs recorded calls on the new module.
struct Replayer {
    host: Host,
    module: LoadedModule,
    /// Options that replace the recorded ones.
    options: Option<Vec<tango_model::KeyValue>>,
}

impl Replayer {
    /// Runs `stored` again and returns where the answers differ.
    fn replay(&self, stored: &StoredCall) -> Result<Vec<String>, Failure> {
        let call = &stored.call;
        let refuse = |message: String| Failure::new(exit::DATA, format!("recorded call {}: {message}", stored.number));
        let content: Value = serde_json::from_str(&call.request).map_err(|error| refuse(error.to_string()))?;
        let request = Request::new(call.event, &content)
            .map_err(|error| refuse(error.to_string()))?
            .with_seed(call.seed)
            .for_instance(&call.service_id);
        let options = self.options.clone().unwrap_or_else(|| call.options.clone());
        // A legacy manager's call ran without module limits: the defaults.
        let limits = call.limits.unwrap_or_default();
        let manager = WasmManager::new(&self.host, self.module.clone(), &call.manager_id, options, limits)
            .map_err(|error| refuse(format!("its limits: {error}")))?;
        let replayed = answer_document(&manager.invoke_blocking(&request));
        Ok(differences(&call.answer, &replayed, ["recorded", "replayed"]))
    }
}

fn log_failure(error: CallLogError) -> Failure {
    let code = match error {
        CallLogError::NothingRecorded(_) => exit::NO_INPUT,
        CallLogError::Storage { .. } => exit::DATA,
    };
    Failure::new(code, error.to_string())
}
