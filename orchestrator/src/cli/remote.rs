//! The commands that drive a running `wasmano serve` through its API:
//! `package`, `ns` and `op`. Tables by default, the server's JSON with
//! `--json`; a task waits for its operation (its state changes on stderr)
//! unless `--no-wait`, and exits non-zero when the operation did not
//! complete.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use serde_json::{Value, json};
use wasmano::lcm::model::OnFailure;

use super::client::{Client, Connection, Progress};
use super::output::outln;
use super::{Failure, exit, step_line};

/// `wasmano package ...`.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Onboard a package (.tar.gz).
    Onboard {
        /// The package.
        file: PathBuf,
        /// The owning project (system-scoped tokens only).
        #[arg(long, value_name = "ID")]
        project: Option<String>,
    },
    /// List the packages.
    List,
    /// Show a package.
    Show {
        /// The package id.
        id: String,
    },
    /// Delete a package no NS instance uses.
    Delete {
        /// The package id.
        id: String,
    },
}

/// `wasmano ns ...`.
#[derive(Debug, Subcommand)]
pub enum NsCommand {
    /// Create an NS instance of an onboarded NSD.
    Create {
        /// The NSD, vendor/name/version.
        #[arg(long, value_name = "ID")]
        nsd: String,
        /// The instance's name.
        #[arg(long)]
        name: String,
        /// The instance's description.
        #[arg(long, default_value = "")]
        description: String,
        /// The owning project (system-scoped tokens only).
        #[arg(long, value_name = "ID")]
        project: Option<String>,
        /// Record the instance's hook calls, for `wasmano sm replay`.
        #[arg(long)]
        record_calls: bool,
    },
    /// List the NS instances.
    List,
    /// Show an NS instance.
    Show {
        /// The instance id.
        id: String,
    },
    /// Delete an NS instance that is not instantiated.
    Delete {
        /// The instance id.
        id: String,
    },
    /// Deploy the service.
    Instantiate {
        #[command(flatten)]
        task: Task,
        #[command(flatten)]
        failure: FailureOption,
    },
    /// Add (--add VNF_PROFILE) or remove (--remove VNF_INSTANCE) a VNF instance.
    Scale {
        #[command(flatten)]
        task: Task,
        #[command(flatten)]
        failure: FailureOption,
        /// The NSD's vnf_id of the VNF to add an instance of.
        #[arg(
            long,
            value_name = "VNF_PROFILE",
            conflicts_with = "remove",
            required_unless_present = "remove"
        )]
        add: Option<String>,
        /// The VNF instance to remove.
        #[arg(long, value_name = "VNF_INSTANCE")]
        remove: Option<String>,
    },
    /// Move a VNF instance to another VIM.
    Migrate {
        #[command(flatten)]
        task: Task,
        #[command(flatten)]
        failure: FailureOption,
        /// The VNF instance.
        #[arg(long, value_name = "VNF_INSTANCE")]
        vnf: String,
        /// The target VIM.
        #[arg(long, value_name = "VIM")]
        vim: String,
    },
    /// Configure the VNFs again.
    Reconfigure {
        #[command(flatten)]
        task: Task,
        #[command(flatten)]
        failure: FailureOption,
    },
    /// Remove the service.
    Terminate {
        #[command(flatten)]
        task: Task,
        /// Go on past failing FSM stop hooks.
        #[arg(long)]
        force: bool,
    },
    /// List the specific managers an NS instance runs, and what from.
    Managers {
        /// The instance id.
        id: String,
    },
    /// Run a specific manager from another onboarded module or container
    /// image, in place (a failed start keeps the manager that ran); with
    /// neither, from the update its descriptor declares (currentId).
    ChangeManager {
        #[command(flatten)]
        task: Task,
        #[command(flatten)]
        failure: FailureOption,
        /// The manager's id in its descriptor.
        #[arg(long, value_name = "ID")]
        manager: String,
        /// The NSD's vnf_id of its VNF, for a function manager.
        #[arg(long, value_name = "VNF_PROFILE")]
        vnf: Option<String>,
        /// The onboarded module to run it from.
        #[arg(long, value_name = "SHA256", conflicts_with = "image")]
        module: Option<String>,
        /// The container image to run it from, as a legacy manager.
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
    },
}

/// What every task command takes.
#[derive(Debug, ClapArgs)]
pub struct Task {
    /// The NS instance id.
    id: String,
    /// Answer the operation's id at once instead of waiting for its end.
    #[arg(long)]
    no_wait: bool,
}

/// What a task that can be undone does when a step fails (a termination
/// has no choice: it waits in FAILED_TEMP).
#[derive(Debug, ClapArgs)]
pub struct FailureOption {
    /// What a failing step does: `rollback` undoes what the operation did
    /// (the default), `pause` stops in FAILED_TEMP for a person to retry,
    /// roll back or fail it.
    #[arg(long, value_enum, value_name = "POLICY")]
    on_failure: Option<FailurePolicyArg>,
}

/// `--on-failure`'s values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailurePolicyArg {
    Rollback,
    Pause,
}

impl FailureOption {
    /// `body` with the policy, as the API names it, when one was given.
    fn applied_to(&self, mut body: Value) -> Value {
        if let Some(policy) = self.on_failure {
            let policy = match policy {
                FailurePolicyArg::Rollback => OnFailure::Rollback,
                FailurePolicyArg::Pause => OnFailure::Pause,
            };
            body["onFailure"] = json!(policy);
        }
        body
    }
}

/// `wasmano op ...`.
#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// List operation occurrences.
    List {
        /// Only those of this NS instance.
        #[arg(long, value_name = "ID")]
        ns: Option<String>,
    },
    /// Show an operation occurrence.
    Show {
        /// The operation id.
        id: String,
    },
    /// Show the steps an operation ran.
    Timeline {
        /// The operation id.
        id: String,
    },
    /// Run a FAILED_TEMP operation again.
    Retry {
        /// The operation id.
        id: String,
        /// Do not wait for its end.
        #[arg(long)]
        no_wait: bool,
    },
    /// Give up a FAILED_TEMP operation (FAILED, final).
    Fail {
        /// The operation id.
        id: String,
    },
    /// Undo what a FAILED_TEMP operation did (ROLLED_BACK).
    Rollback {
        /// The operation id.
        id: String,
        /// Do not wait for its end.
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop a PROCESSING operation at its next step (FAILED_TEMP).
    Cancel {
        /// The operation id.
        id: String,
        /// Do not wait for its end.
        #[arg(long)]
        no_wait: bool,
    },
}

const PACKAGES: &str = "/wasmano/v1/packages";
const INSTANCES: &str = "/nslcm/v1/ns_instances";
const OPERATIONS: &str = "/nslcm/v1/ns_lcm_op_occs";

/// Runs a `package` command.
pub fn package(command: PackageCommand, connection: &Connection) -> Result<ExitCode, Failure> {
    let client = connection.client()?;
    let answer = match command {
        PackageCommand::Onboard { file, project } => {
            let archive = std::fs::read(&file)
                .map_err(|error| Failure::new(exit::NO_INPUT, format!("{}: {error}", file.display())))?;
            let path = match project {
                Some(project) => format!("{PACKAGES}?projectId={project}"),
                None => PACKAGES.to_owned(),
            };
            let answer = client.post_bytes(&path, "application/gzip", &archive)?;
            print_warnings(&file, &answer.body);
            answer
        }
        PackageCommand::List => {
            print(
                connection,
                &client.list(PACKAGES)?,
                &["id", "nsdId", "usageState", "createdAt"],
            );
            return Ok(ExitCode::SUCCESS);
        }
        PackageCommand::Show { id } => client.get(&format!("{PACKAGES}/{id}"))?,
        PackageCommand::Delete { id } => {
            client.delete(&format!("{PACKAGES}/{id}"))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    print(connection, &answer.body, &["id", "nsdId", "usageState", "createdAt"]);
    Ok(ExitCode::SUCCESS)
}

/// Prints each warning of an upload's answer on stderr, as the local
/// `onboard` does: `PACKAGE: warning: file[:line]: field.path: detail`.
fn print_warnings(package: &Path, answer: &Value) {
    let Some(warnings) = answer.get("warnings").and_then(Value::as_array) else {
        return;
    };
    for warning in warnings {
        let text = |field: &str| warning.get(field).and_then(Value::as_str);
        let mut place = text("file").unwrap_or_default().to_owned();
        if let Some(line) = warning.get("line").and_then(Value::as_u64) {
            place.push_str(&format!(":{line}"));
        }
        if let Some(path) = text("path") {
            place.push_str(&format!(": {path}"));
        }
        eprintln!(
            "{}: warning: {place}: {}",
            package.display(),
            text("detail").unwrap_or_default()
        );
    }
}

/// Runs an `ns` command.
pub fn ns(command: NsCommand, connection: &Connection) -> Result<ExitCode, Failure> {
    let client = connection.client()?;
    let columns = ["id", "nsInstanceName", "nsdId", "nsState", "status"];
    let (task, path, body) = match command {
        NsCommand::Create {
            nsd,
            name,
            description,
            project,
            record_calls,
        } => {
            let request = json!({
                "nsdId": nsd,
                "nsName": name,
                "nsDescription": description,
                "projectId": project,
                "recordHookCalls": record_calls,
            });
            print(connection, &client.post_json(INSTANCES, &request)?.body, &columns);
            return Ok(ExitCode::SUCCESS);
        }
        NsCommand::List => {
            print(connection, &client.list(INSTANCES)?, &columns);
            return Ok(ExitCode::SUCCESS);
        }
        NsCommand::Show { id } => {
            let instance = client.get(&format!("{INSTANCES}/{id}"))?.body;
            print(connection, &instance, &columns);
            if !connection.json {
                let vnfs = instance.get("vnfInstance").cloned().unwrap_or(Value::Null);
                print(connection, &vnfs, &["id", "vnfProfileId", "vimId", "status"]);
            }
            return Ok(ExitCode::SUCCESS);
        }
        NsCommand::Delete { id } => {
            client.delete(&format!("{INSTANCES}/{id}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        NsCommand::Instantiate { task, failure } => {
            let path = format!("{INSTANCES}/{}/instantiate", task.id);
            (task, path, failure.applied_to(json!({})))
        }
        NsCommand::Scale {
            task,
            failure,
            add,
            remove,
        } => {
            let data = match (add, remove) {
                (Some(profile), _) => json!({"vnfInstanceToBeAdded": [{"vnfProfileId": profile}]}),
                (None, Some(instance)) => json!({"vnfInstanceToBeRemoved": [instance]}),
                (None, None) => return Err(Failure::new(exit::USAGE, "scale needs --add or --remove")),
            };
            let path = format!("{INSTANCES}/{}/scale", task.id);
            let body = json!({"scaleType": "SCALE_NS", "scaleNsData": data});
            (task, path, failure.applied_to(body))
        }
        NsCommand::Migrate {
            task,
            failure,
            vnf,
            vim,
        } => {
            let path = format!("{INSTANCES}/{}/migrate", task.id);
            let body = json!({"vnfInstanceId": vnf, "targetVimId": vim});
            (task, path, failure.applied_to(body))
        }
        NsCommand::Reconfigure { task, failure } => {
            let path = format!("{INSTANCES}/{}/reconfigure", task.id);
            (task, path, failure.applied_to(json!({})))
        }
        NsCommand::Terminate { task, force } => {
            let path = format!("{INSTANCES}/{}/terminate", task.id);
            let kind = if force { "FORCEFUL" } else { "GRACEFUL" };
            (task, path, json!({"terminationType": kind}))
        }
        NsCommand::Managers { id } => {
            let managers = client.get(&format!("{INSTANCES}/{id}/managers"))?.body;
            let columns = [
                "managerId",
                "scope",
                "vnfProfileId",
                "source",
                "moduleSha256",
                "image",
                "events",
            ];
            print(connection, &managers, &columns);
            return Ok(ExitCode::SUCCESS);
        }
        NsCommand::ChangeManager {
            task,
            failure,
            manager,
            vnf,
            module,
            image,
        } => {
            let path = format!("{INSTANCES}/{}/update", task.id);
            let mut data = json!({"managerId": manager});
            for (key, value) in [("vnfProfileId", vnf), ("moduleSha256", module), ("image", image)] {
                if let Some(value) = value {
                    data[key] = json!(value);
                }
            }
            let body = json!({"updateType": "CHANGE_MANAGER", "changeManagerData": data});
            (task, path, failure.applied_to(body))
        }
    };
    let answer = client.post_json(&path, &body)?;
    let location = answer
        .location
        .ok_or_else(|| Failure::new(exit::SOFTWARE, format!("{path}: the server answered no Location")))?;
    follow(&client, connection, &location, task.no_wait, "COMPLETED")
}

/// Runs an `op` command.
pub fn op(command: OpCommand, connection: &Connection) -> Result<ExitCode, Failure> {
    let client = connection.client()?;
    let columns = ["id", "lcmOperationType", "operationState", "nsInstanceId", "startTime"];
    match command {
        OpCommand::List { ns } => {
            let path = match ns {
                Some(ns) => format!("{OPERATIONS}?nsInstanceId={ns}"),
                None => OPERATIONS.to_owned(),
            };
            print(connection, &client.list(&path)?, &columns);
        }
        OpCommand::Show { id } => print(connection, &client.get(&format!("{OPERATIONS}/{id}"))?.body, &columns),
        OpCommand::Timeline { id } => {
            let timeline = client.get(&format!("{OPERATIONS}/{id}/timeline"))?.body;
            if connection.json {
                outln!("{timeline:#}");
            } else {
                print_timeline(&timeline);
            }
        }
        OpCommand::Retry { id, no_wait } => {
            let answer = client.post_json(&format!("{OPERATIONS}/{id}/retry"), &json!({}))?;
            let location = answer.location.unwrap_or_else(|| format!("{OPERATIONS}/{id}"));
            return follow(&client, connection, &location, no_wait, "COMPLETED");
        }
        OpCommand::Rollback { id, no_wait } => {
            let answer = client.post_json(&format!("{OPERATIONS}/{id}/rollback"), &json!({}))?;
            let location = answer.location.unwrap_or_else(|| format!("{OPERATIONS}/{id}"));
            return follow(&client, connection, &location, no_wait, "ROLLED_BACK");
        }
        OpCommand::Cancel { id, no_wait } => {
            let answer = client.post_json(&format!("{OPERATIONS}/{id}/cancel"), &json!({"cancelMode": "GRACEFUL"}))?;
            let location = answer.location.unwrap_or_else(|| format!("{OPERATIONS}/{id}"));
            return follow(&client, connection, &location, no_wait, "FAILED_TEMP");
        }
        OpCommand::Fail { id } => {
            let failed = client.post_json(&format!("{OPERATIONS}/{id}/fail"), &json!({}))?.body;
            print(connection, &failed, &columns);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the operation at `location`, after waiting for its end unless
/// `no_wait` (showing on stderr each state it enters and each step its run
/// journals); fails unless it ended in `expected`.
fn follow(
    client: &Client,
    connection: &Connection,
    location: &str,
    no_wait: bool,
    expected: &str,
) -> Result<ExitCode, Failure> {
    let columns = ["id", "lcmOperationType", "operationState", "nsInstanceId"];
    let operation = if no_wait {
        client.get(location)?.body
    } else {
        let mut last_state = String::new();
        client.wait_for_end(location, None, |progress| match progress {
            Progress::State { id, state } => {
                if state != last_state {
                    eprintln!("{id} {state}");
                    state.clone_into(&mut last_state);
                }
            }
            Progress::Step(step) => eprintln!("    {}", step_line(step)),
        })?
    };
    print(connection, &operation, &columns);
    let state = operation.get("operationState").and_then(Value::as_str).unwrap_or("");
    if no_wait || state == expected {
        return Ok(ExitCode::SUCCESS);
    }
    let detail = operation
        .pointer("/error/detail")
        .and_then(Value::as_str)
        .unwrap_or("no error recorded");
    Err(Failure::new(
        exit::OPERATION_FAILED,
        format!("the operation ended {state}: {detail}"),
    ))
}

/// A JSON answer: as is with `--json`, else a table of `columns` (one row
/// per element of an array, or one for an object).
fn print(connection: &Connection, body: &Value, columns: &[&str]) {
    if connection.json {
        outln!("{body:#}");
        return;
    }
    let rows: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let cell = |row: &Value, column: &str| match row.get(column) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|column| cell(row, column)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            table
                .iter()
                .map(|row| row[index].chars().count())
                .chain([column.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|column| (*column).to_owned()).collect());
    for row in table {
        line(row);
    }
}

fn print_timeline(timeline: &Value) {
    let steps = timeline
        .get("steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for step in steps {
        let workflow = step.get("workflow").and_then(Value::as_str).unwrap_or("");
        let error = step
            .get("error")
            .and_then(Value::as_str)
            .map(|error| format!("  error: {error}"))
            .unwrap_or_default();
        outln!("  {workflow:<12} {}{error}", step_line(&step));
    }
}
