//! How a legacy manager's program starts and stops, with the environment
//! 5GTANGO's registry gave a manager's container: `broker_host` (the
//! instance's vhost URL) and `sf_uuid` (the instance id).
//!
//! - [`Launcher::Image`] runs the manager's image with Docker, as 5GTANGO's
//!   registry did: an image the daemon does not have is pulled first
//!   ([`crate::registry`]), the container is named `<manager id><instance id>` as
//!   5GTANGO named it (`<random10><instance id>` for the new manager of an
//!   in-place update, whose old one still holds that name), labelled ([`LABEL_MANAGER`], [`LABEL_INSTANCE`]) so
//!   leftovers can be found, shares the host's network so the broker URL
//!   reaches the broker, and is confined like a VNF unit (memory and pids
//!   caps, no capabilities, no-new-privileges).
//! - [`Launcher::Command`] runs a command line (through `sh -c`, in its own
//!   process group), for managers that exist as source, during development
//!   and in tests.
//!
//! A manager's last output lines are kept for the error that explains a
//! failed start.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How many of a manager's last output lines an error quotes.
const KEPT_LINES: usize = 20;

/// How long an ended process's output is read on (a child it left may hold
/// the pipe open).
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// The label naming a legacy manager container's manager id.
pub const LABEL_MANAGER: &str = "wasmano.legacy-manager";

/// The label naming the service or function instance a legacy manager
/// container serves.
pub const LABEL_INSTANCE: &str = "wasmano.legacy-instance";

/// A legacy manager container's memory cap.
const CONTAINER_MEMORY_BYTES: i64 = 512 << 20;

/// A legacy manager container's pids cap.
const CONTAINER_PIDS_LIMIT: i64 = 256;

/// How a legacy manager is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// A container image, run with Docker.
    Image(String),
    /// A command line, run by `sh -c`.
    Command(String),
}

impl Launcher {
    /// Starts the manager `manager` of instance `sf_uuid`, its broker at
    /// `broker_host`.
    pub(crate) async fn launch(&self, manager: &str, broker_host: &str, sf_uuid: &str) -> Result<Launched, String> {
        match self {
            Self::Command(command) => spawn(command, manager, broker_host, sf_uuid),
            Self::Image(image) => run_container(image, manager, broker_host, sf_uuid).await,
        }
    }
}

fn spawn(command: &str, manager: &str, broker_host: &str, sf_uuid: &str) -> Result<Launched, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("broker_host", broker_host)
        .env("sf_uuid", sf_uuid)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    let output = Arc::new(Mutex::new(VecDeque::new()));
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(keep_lines(
            stdout,
            manager.to_owned(),
            Arc::clone(&output),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(keep_lines(
            stderr,
            manager.to_owned(),
            Arc::clone(&output),
        )));
    }
    Ok(Launched {
        manager: manager.to_owned(),
        reference: child.id().map(|pid| pid.to_string()).unwrap_or_default(),
        program: Program::Process { child, output, readers },
    })
}

async fn keep_lines(stream: impl AsyncRead + Unpin, manager: String, output: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.chars().filter(|c| !c.is_control()).collect::<String>();
        tracing::debug!(manager = %manager, "{line}");
        let mut kept = output.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() == KEPT_LINES {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}

/// The container name 5GTANGO gave a manager (`<manager id><instance id>`),
/// with characters Docker refuses replaced.
pub fn container_name(manager: &str, sf_uuid: &str) -> String {
    format!("{manager}{sf_uuid}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

async fn run_container(image: &str, manager: &str, broker_host: &str, sf_uuid: &str) -> Result<Launched, String> {
    let docker = Docker::connect_with_defaults()
        .map_err(|error| format!("cannot reach the Docker daemon: {error}"))?
        .negotiate_version()
        .await
        .map_err(|error| format!("cannot reach the Docker daemon: {error}"))?;
    crate::registry::ensure_image(&docker, image).await?;
    let name = container_name(manager, sf_uuid);
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(vec![format!("broker_host={broker_host}"), format!("sf_uuid={sf_uuid}")]),
        labels: Some(HashMap::from([
            (LABEL_MANAGER.to_owned(), manager.to_owned()),
            (LABEL_INSTANCE.to_owned(), sf_uuid.to_owned()),
        ])),
        host_config: Some(HostConfig {
            memory: Some(CONTAINER_MEMORY_BYTES),
            memory_swap: Some(CONTAINER_MEMORY_BYTES),
            pids_limit: Some(CONTAINER_PIDS_LIMIT),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            network_mode: Some("host".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let name = match docker.create_container(Some(options), body.clone()).await {
        Ok(_) => name,
        // The manager it replaces in an update holds the name: 5GTANGO's
        // registry named the new container `<random10><instance id>`.
        Err(DockerError::DockerResponseServerError { status_code: 409, .. }) => {
            let random: String = uuid::Uuid::new_v4().simple().to_string().chars().take(10).collect();
            let name = container_name(&random, sf_uuid);
            let options = CreateContainerOptionsBuilder::default().name(&name).build();
            docker
                .create_container(Some(options), body)
                .await
                .map_err(|error| format!("creating container {name} from {image}: {error}"))?;
            name
        }
        Err(error) => return Err(format!("creating container {name} from {image}: {error}")),
    };
    let launched = Launched {
        manager: manager.to_owned(),
        reference: name.clone(),
        program: Program::Container {
            docker: docker.clone(),
            name: name.clone(),
        },
    };
    if let Err(error) = docker.start_container(&name, None).await {
        launched.stop(Duration::ZERO).await;
        return Err(format!("starting container {name}: {error}"));
    }
    Ok(launched)
}

/// A started manager.
#[derive(Debug)]
pub(crate) struct Launched {
    pub(crate) manager: String,
    reference: String,
    program: Program,
}

#[derive(Debug)]
enum Program {
    Process {
        child: Child,
        output: Arc<Mutex<VecDeque<String>>>,
        /// The tasks keeping its output, which end when it closes it.
        readers: Vec<tokio::task::JoinHandle<()>>,
    },
    Container {
        docker: Docker,
        name: String,
    },
}

impl Launched {
    /// What the manager runs as: its process id, or its container's name
    /// (the same after it ended).
    pub(crate) fn reference(&self) -> String {
        self.reference.clone()
    }

    /// Whether the manager has ended, and how.
    pub(crate) async fn exited(&mut self) -> Option<String> {
        match &mut self.program {
            Program::Process { child, readers, .. } => match child.try_wait() {
                Ok(Some(status)) => {
                    // Its last words may still be in the pipe.
                    for reader in readers.drain(..) {
                        let _ = tokio::time::timeout(OUTPUT_DRAIN, reader).await;
                    }
                    Some(status.to_string())
                }
                Ok(None) => None,
                Err(error) => Some(error.to_string()),
            },
            Program::Container { docker, name } => match docker.inspect_container(name, None).await {
                Ok(inspected) => {
                    let state = inspected.state.unwrap_or_default();
                    (!state.running.unwrap_or(false)).then(|| format!("exit code {}", state.exit_code.unwrap_or(-1)))
                }
                Err(error) => Some(error.to_string()),
            },
        }
    }

    /// The manager's last output lines, for an error message.
    pub(crate) async fn last_output(&self) -> String {
        let lines: Vec<String> = match &self.program {
            Program::Process { output, .. } => output
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
                .cloned()
                .collect(),
            Program::Container { docker, name } => {
                let options = LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .tail(&KEPT_LINES.to_string())
                    .build();
                docker
                    .logs(name, Some(options))
                    .filter_map(|chunk| async move { chunk.ok() })
                    .map(|chunk| {
                        chunk
                            .to_string()
                            .trim_end()
                            .chars()
                            .filter(|c| *c == '\n' || !c.is_control())
                            .collect()
                    })
                    .collect()
                    .await
            }
        };
        if lines.is_empty() {
            "(it wrote nothing)".to_owned()
        } else {
            lines.join("\n")
        }
    }

    /// Stops the manager: a process and everything it started get SIGTERM,
    /// then SIGKILL after `grace`; a container is stopped with that grace
    /// and removed.
    pub(crate) async fn stop(self, grace: Duration) {
        match self.program {
            Program::Process { mut child, .. } => {
                let Some(pid) = child.id() else {
                    return;
                };
                signal_group(pid, libc::SIGTERM);
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    tracing::warn!(manager = %self.manager, "did not stop within {} ms of SIGTERM: killed", grace.as_millis());
                }
                // The group, even when its leader left: `sh -c` children may remain.
                signal_group(pid, libc::SIGKILL);
                let _ = child.wait().await;
            }
            Program::Container { docker, name } => {
                let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
                let stop = StopContainerOptionsBuilder::default().t(seconds).build();
                let _ = docker.stop_container(&name, Some(stop)).await;
                let remove = RemoveContainerOptionsBuilder::default().force(true).build();
                match docker.remove_container(&name, Some(remove)).await {
                    Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
                    Err(error) => tracing::warn!(manager = %self.manager, container = %name, "cannot remove: {error}"),
                }
            }
        }
    }
}

/// Removes the legacy manager containers on the local Docker daemon whose
/// instance is one of `instances`; returns how many there were.
pub(crate) async fn remove_containers_of(instances: &HashSet<String>) -> Result<usize, String> {
    let docker = Docker::connect_with_defaults()
        .map_err(|error| format!("cannot reach the Docker daemon: {error}"))?
        .negotiate_version()
        .await
        .map_err(|error| format!("cannot reach the Docker daemon: {error}"))?;
    let filters = HashMap::from([("label", vec![LABEL_INSTANCE.to_owned()])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(|error| format!("listing the legacy manager containers: {error}"))?;
    let mut removed = 0;
    for container in containers {
        let instance = container.labels.as_ref().and_then(|labels| labels.get(LABEL_INSTANCE));
        let (Some(instance), Some(id)) = (instance, container.id) else {
            continue;
        };
        if !instances.contains(instance) {
            continue;
        }
        let remove = RemoveContainerOptionsBuilder::default().force(true).build();
        match docker.remove_container(&id, Some(remove)).await {
            Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => removed += 1,
            Err(error) => return Err(format!("removing container {id}: {error}")),
        }
    }
    Ok(removed)
}

fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_follow_5gtango_and_docker_accepts_them() {
        assert_eq!(container_name("tng-fsm-mdc", "b6bf"), "tng-fsm-mdcb6bf");
        assert_eq!(container_name("a b/c", "u"), "a-b-cu");
    }
}
