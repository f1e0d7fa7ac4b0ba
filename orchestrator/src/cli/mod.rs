//! Command-line arguments, dispatch, and the exit-code contract.

mod broker;
mod catalogue;
mod client;
mod demo;
mod generate;
mod output;
mod pin;
mod remote;
mod replay;
mod scaffold;
mod serve;
mod sm;
mod validate;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;

/// Exit codes, shared by every command (sysexits where one fits).
pub mod exit {
    /// The manager answered an error.
    pub const MANAGER_ERROR: u8 = 1;
    /// The sandbox stopped the manager (timeout, memory, trap, bad reply).
    pub const SANDBOX_FAULT: u8 = 2;
    /// The module does not handle the event.
    pub const NOT_HANDLED: u8 = 3;
    /// The manager answered a reply the orchestrator would refuse: a
    /// placement mapping that fails its check (a VNF unplaced or placed
    /// twice, an unknown VIM, a VIM of the wrong kind or without the
    /// capacity), a configure decision triggering an unknown VNF.
    pub const REFUSED_REPLY: u8 = 4;
    /// An operation ended other than the command wanted: a task or retry
    /// other than COMPLETED, a rollback other than ROLLED_BACK, a cancel
    /// other than FAILED_TEMP.
    pub const OPERATION_FAILED: u8 = 5;
    /// `sm compare`: the module and the legacy manager answered
    /// differently; `sm replay`: the new module answered a recorded call
    /// differently.
    pub const REPLIES_DIFFER: u8 = 6;
    /// Bad usage: unknown event, bad flag values.
    pub const USAGE: u8 = 64;
    /// Bad data: malformed payload, digest mismatch, not a valid component.
    pub const DATA: u8 = 65;
    /// A file that does not exist; `sm replay`: no recorded call to run.
    pub const NO_INPUT: u8 = 66;
    /// The server cannot be reached, or the address cannot be listened on.
    pub const UNAVAILABLE: u8 = 69;
    /// Something this machine could not do (engine setup, cache), or the
    /// server failed (5xx).
    pub const SOFTWARE: u8 = 70;
    /// An output file or directory could not be created.
    pub const CANT_CREATE: u8 = 73;
    /// Standard output could not be written (other than its reader going
    /// away, which ends a command quietly with 0).
    pub const IO_ERROR: u8 = 74;
    /// The server refused the request for the resource's state (409):
    /// another operation is open, the instance is (not) instantiated;
    /// `serve`: another server holds the data directory.
    pub const CONFLICT: u8 = 75;
    /// The token is missing, invalid, expired or revoked, or its role may
    /// not do this (401, 403).
    pub const NO_PERMISSION: u8 = 77;
    /// The configuration file is unusable: malformed YAML, an unknown key,
    /// a value of the wrong kind.
    pub const CONFIG: u8 = 78;
}

/// Who took part in a timeline step: `hook <event> on <manager>` for a hook,
/// `by <manager>` for a step a manager took part in without an event
/// (releasing it, telling it something), nothing otherwise.
pub fn step_participant(manager: Option<&str>, event: Option<&str>) -> String {
    match (manager, event) {
        (Some(manager), Some(event)) => format!("hook {event} on {manager}"),
        (Some(manager), None) => format!("by {manager}"),
        (None, _) => String::new(),
    }
}

/// One journaled step (a `step` event's data, a timeline's step) as a
/// line: its name, how long it took, its outcome and the manager whose hook
/// it ran.
pub fn step_line(step: &Value) -> String {
    let text = |name: &str| step.get(name).and_then(Value::as_str).unwrap_or("-");
    let participant = step_participant(
        step.get("manager").and_then(Value::as_str),
        step.get("event").and_then(Value::as_str),
    );
    let hook = if participant.is_empty() {
        participant
    } else {
        format!("  {participant}")
    };
    format!(
        "{:<44} {:>9.3} ms  {}{hook}",
        text("step"),
        step.get("durationSeconds").and_then(Value::as_f64).unwrap_or(0.0) * 1e3,
        text("outcome"),
    )
}

/// Reads the YAML configuration file `path` (`what` names it in
/// messages): a missing file is exit 66, one that cannot be read or does
/// not fit `T` (which refuses unknown keys) exit 78.
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let failure =
        |code, error: &dyn std::fmt::Display| Failure::new(code, format!("{what} {}: {error}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|error| {
        let code = if error.kind() == std::io::ErrorKind::NotFound {
            exit::NO_INPUT
        } else {
            exit::CONFIG
        };
        failure(code, &error)
    })?;
    serde_saphyr::from_str(&text).map_err(|error| failure(exit::CONFIG, &error))
}

/// A certificate or key file that cannot be used (`what` names its role):
/// exit 66 when it is missing, 65 otherwise.
pub fn tls_failure(what: &str, error: &wasmano::server::tls::TlsError) -> Failure {
    let code = if error.path.exists() {
        exit::DATA
    } else {
        exit::NO_INPUT
    };
    Failure::new(code, format!("{what}: {error}"))
}

/// A failed command: what to print and which code to exit with.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// One line saying why.
    pub message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// wasmano: network-service orchestration with WebAssembly specific managers.
#[derive(Debug, Parser)]
#[command(name = "wasmano", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Develop and test specific managers.
    #[command(subcommand)]
    Sm(SmCommand),
    /// Check NSD and VNFD files; print one line per problem.
    Validate(validate::ValidateArgs),
    /// Check a package and store it in the catalogue.
    Onboard(catalogue::OnboardArgs),
    /// List what is onboarded.
    Catalogue(catalogue::DataDir),
    /// Run the bundled service (or one from --nsd) through its whole lifecycle.
    Demo(demo::DemoArgs),
    /// Run the orchestrator as a service with its REST API.
    Serve(serve::ServeArgs),
    /// Onboard, list, show and delete packages on a server.
    Package {
        #[command(subcommand)]
        command: remote::PackageCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Create NS instances on a server and run their tasks.
    Ns {
        #[command(subcommand)]
        command: remote::NsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Follow, retry and fail operation occurrences on a server.
    Op {
        #[command(subcommand)]
        command: remote::OpCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Print a live timeline of a server's operations and their steps.
    Watch(watch::WatchArgs),
}

#[derive(Debug, Subcommand)]
enum SmCommand {
    /// Run one event on a manager module (or a legacy manager) and print its
    /// 5GTANGO reply as YAML.
    Test(sm::TestArgs),
    /// Run one event on a module and on a legacy manager and print where
    /// their replies differ.
    Compare(sm::CompareArgs),
    /// Write the sha256 of each WebAssembly manager's module into the
    /// descriptors (`wasm.sha256`), editing nothing else.
    Pin(pin::PinArgs),
    /// Print a module's kind, contract version, events, sha256 and size.
    Inspect {
        /// The component (.wasm).
        module: PathBuf,
    },
    /// Create a manager crate that builds to a component.
    New(scaffold::NewArgs),
    /// Print the payload the orchestrator sends a manager for an event, for
    /// a service given by its descriptors (run on emulated VIMs).
    Generate(generate::GenerateArgs),
    /// Run a data directory's recorded hook calls on a new module version
    /// and print where its answers differ.
    Replay(replay::ReplayArgs),
}

/// Runs a command.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.command {
        Command::Sm(SmCommand::Test(test)) => sm::test(test),
        Command::Sm(SmCommand::Compare(compare)) => sm::compare(compare),
        Command::Sm(SmCommand::Pin(pin)) => pin::pin(pin),
        Command::Sm(SmCommand::Inspect { module }) => sm::inspect(&module),
        Command::Sm(SmCommand::New(new)) => scaffold::new(new),
        Command::Sm(SmCommand::Generate(generate)) => generate::generate(generate),
        Command::Sm(SmCommand::Replay(replay)) => replay::replay(replay),
        Command::Validate(validate) => Ok(validate::validate(validate)),
        Command::Onboard(onboard) => catalogue::onboard_command(onboard),
        Command::Catalogue(data_dir) => catalogue::catalogue_command(&data_dir),
        Command::Demo(demo) => demo::demo(demo),
        Command::Serve(serve) => serve::serve(serve),
        Command::Package { command, connection } => remote::package(command, &connection),
        Command::Ns { command, connection } => remote::ns(command, &connection),
        Command::Op { command, connection } => remote::op(command, &connection),
        Command::Watch(watch) => watch::watch(watch),
    }
}

#[cfg(test)]
mod tests {
    use super::step_participant;

    #[test]
    fn a_step_names_the_manager_that_took_part() {
        assert_eq!(
            step_participant(Some("placement"), Some("placement")),
            "hook placement on placement"
        );
        assert_eq!(step_participant(Some("tng-ssm-legacy"), None), "by tng-ssm-legacy");
        assert_eq!(step_participant(None, None), "");
    }
}
