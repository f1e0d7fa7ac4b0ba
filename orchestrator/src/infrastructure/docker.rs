//! A Docker daemon as container VIMs, so that cloud-native VNFs really run.
//!
//! Each deployment unit becomes one container, whose name (derived from the
//! service, the VNF instance and the unit) is the unit's reference: stable
//! when `set_envs` recreates the container with new envs, so an effect
//! repeated after a crash finds the same container. The container has the
//! unit's image and envs,
//! labels naming its service, VNF instance, VNF and unit (`wasmano.*`), and a
//! name derived from them, and the orchestrator that owns it
//! ([`LABEL_ORCHESTRATOR`]: one id per data directory), so that several
//! orchestrators can share a daemon and each reconciles only its own
//! containers. The daemon's capacity is what the VIMs are
//! configured with and is accounted for by the same [`CapacityLedger`] as the
//! emulated VIMs; one daemon can stand for several VIMs. Containers are found
//! again by label, so a rollback (or a test) can remove everything wasmano
//! started for a service.
//!
//! Every container is confined:
//!
//! - **CPU and memory** are capped at what the unit's resource requirements
//!   declare (`cpu.vcpus`, `memory.size` in `size_unit`). A unit that declares
//!   none gets [`DEFAULT_CPUS`] and [`DEFAULT_MEMORY_MB`]; these are limits,
//!   not reservations, so the ledger still counts only what was declared. The
//!   CPU cap is at least Docker's floor of 0.01 CPU and at most the daemon's
//!   CPUs (the daemon refuses more); the memory cap is at least
//!   [`MIN_MEMORY_BYTES`] (the daemon refuses less), and swap is not granted
//!   on top of it.
//! - **Processes**: at most [`PIDS_LIMIT`], so a fork bomb stays inside.
//! - **Privileges**: every capability dropped (`cap_drop: ALL`) and
//!   `no-new-privileges`, so no set-uid binary gives any back.
//! - **Network**: one user-defined bridge network per service
//!   ([`network_name`], labelled with the service and the orchestrator like
//!   its containers), created when the service's first unit is deployed,
//!   reused when it exists, and removed when the service's last container
//!   goes (by [`Infrastructure::remove`],
//!   [`DockerInfrastructure::remove_service`], or a deploy that failed), or,
//!   should the process die between creating it and the first container,
//!   by the next [`Infrastructure::reconcile`]. Containers of one service
//!   reach each other on it; the daemon's isolation rules keep other
//!   services' containers from reaching them. Every connection point gets the container's address on
//!   it. Each network takes a subnet from the daemon's address pools
//!   (`default-address-pools`), which bounds how many services one daemon can
//!   run at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use tango_model::KeyValue;
use tango_model::descriptor::VimKind;

use super::emulated::{CapacityLedger, merge_envs};
use super::{DeployedUnit, InfraError, InfraFuture, Infrastructure, Reconciliation, UnitSpec, VimStatus};
use crate::records::CpAddress;

/// Label holding the service instance id.
pub const LABEL_SERVICE: &str = "wasmano.service";
/// Label holding the VNF instance id.
pub const LABEL_VNF: &str = "wasmano.vnf";
/// Label holding the VNF's id in the NSD.
pub const LABEL_VNF_ID: &str = "wasmano.vnf-id";
/// Label holding the unit's id in the VNFD.
pub const LABEL_UNIT: &str = "wasmano.unit";
/// Label holding the VIM the unit was deployed on.
pub const LABEL_VIM: &str = "wasmano.vim";
/// Label holding the id of the orchestrator that created the container.
pub const LABEL_ORCHESTRATOR: &str = "wasmano.orchestrator";

/// CPUs a container may use when its unit declares no `cpu.vcpus`.
pub const DEFAULT_CPUS: f64 = 1.0;
/// Memory a container may use, in MB, when its unit declares no `memory`.
pub const DEFAULT_MEMORY_MB: f64 = 256.0;
/// The least memory cap the daemon accepts (6 MiB); a unit declaring less
/// gets this much.
pub const MIN_MEMORY_BYTES: i64 = 6 << 20;
/// Processes (and threads) a container may run at once: plenty for a VNF,
/// few enough that a fork bomb exhausts its own budget, not the host's.
pub const PIDS_LIMIT: i64 = 1024;

/// The least CPU cap the daemon accepts: 0.01 CPU, in billionths.
const MIN_NANO_CPUS: i64 = 10_000_000;
/// Billionths of a CPU per CPU, the unit of Docker's `NanoCpus`.
const NANO_CPUS_PER_CPU: f64 = 1e9;
/// Bytes per MB, as tng-schema counts (10^6).
const BYTES_PER_MB: f64 = 1e6;

/// A container wasmano created, as the daemon lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContainer {
    /// The container id.
    pub id: String,
    /// The container name.
    pub name: String,
    /// The daemon's state for it (`running`, `exited`, ...).
    pub state: String,
    /// The service it belongs to (its [`LABEL_SERVICE`]).
    pub service: String,
    /// The orchestrator that created it (its [`LABEL_ORCHESTRATOR`]; empty
    /// for containers created before the label existed).
    pub orchestrator: String,
}

/// Container VIMs backed by one Docker daemon.
#[derive(Debug)]
pub struct DockerInfrastructure {
    docker: Docker,
    /// This orchestrator's id: its containers' [`LABEL_ORCHESTRATOR`].
    orchestrator: String,
    /// The daemon's CPUs, in billionths: no container's CPU cap exceeds it.
    daemon_nano_cpus: i64,
    /// Reservations are keyed by container name, which stays the same when
    /// `set_envs` recreates a container.
    ledger: Mutex<CapacityLedger>,
    /// Held while a service network is looked up or created and the
    /// container joining it is created, and while a network is checked for
    /// containers and removed: a network is never removed under a container
    /// about to join it, and never created twice (the daemon allows
    /// duplicate names).
    network_changes: tokio::sync::Mutex<()>,
}

impl DockerInfrastructure {
    /// Connects to the daemon `DOCKER_HOST` names (the local socket by
    /// default), negotiating the API version, and serves the ledger's VIMs
    /// on it for the orchestrator `orchestrator` (its containers are
    /// labelled with it). Every VIM must be of kind container.
    pub async fn connect(ledger: CapacityLedger, orchestrator: &str) -> Result<Self, InfraError> {
        if let Some(vim) = ledger.vims().iter().find(|vim| vim.kind != VimKind::Container) {
            return Err(InfraError::Backend(format!(
                "VIM {} is a {} VIM; a Docker daemon only hosts containers",
                vim.id, vim.kind
            )));
        }
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unreachable =
            |error: DockerError| InfraError::Backend(format!("cannot reach the Docker daemon at {host}: {error}"));
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        let daemon_cpus = docker.info().await.map_err(unreachable)?.ncpu.unwrap_or(1).max(1);
        Ok(Self {
            docker,
            orchestrator: orchestrator.to_owned(),
            daemon_nano_cpus: daemon_cpus.saturating_mul(1_000_000_000),
            ledger: Mutex::new(ledger),
            network_changes: tokio::sync::Mutex::new(()),
        })
    }

    /// Every container wasmano created for the service, running or not.
    pub async fn service_containers(&self, service_id: &str) -> Result<Vec<ServiceContainer>, InfraError> {
        self.labelled_containers(
            format!("{LABEL_SERVICE}={service_id}"),
            &format!("service {service_id}"),
        )
        .await
    }

    /// Every container wasmano created on this daemon, for any service of
    /// any orchestrator.
    pub async fn all_containers(&self) -> Result<Vec<ServiceContainer>, InfraError> {
        self.labelled_containers(LABEL_SERVICE.to_owned(), "every service")
            .await
    }

    async fn labelled_containers(&self, label: String, whose: &str) -> Result<Vec<ServiceContainer>, InfraError> {
        let filters = HashMap::from([("label", vec![label])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|error| backend(&format!("listing the containers of {whose}"), error))?;
        Ok(containers
            .into_iter()
            .map(|container| ServiceContainer {
                id: container.id.unwrap_or_default(),
                name: container
                    .names
                    .and_then(|names| names.into_iter().next())
                    .map(|name| name.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                state: container.state.map(|state| state.to_string()).unwrap_or_default(),
                service: label_value(container.labels.as_ref(), LABEL_SERVICE),
                orchestrator: label_value(container.labels.as_ref(), LABEL_ORCHESTRATOR),
            })
            .collect())
    }

    /// Removes every container wasmano created for the service, gives their
    /// capacity back and removes the service's network; returns how many
    /// containers there were.
    pub async fn remove_service(&self, service_id: &str) -> Result<usize, InfraError> {
        let containers = self.service_containers(service_id).await?;
        for container in &containers {
            self.remove_container(&container.id).await?;
            self.ledger().release(&container.name);
        }
        self.remove_network_if_unused(service_id).await?;
        Ok(containers.len())
    }

    /// The service's network, created if it does not exist yet. Called with
    /// `network_changes` held.
    async fn ensure_network(&self, service_id: &str) -> Result<String, InfraError> {
        let name = network_name(service_id);
        match self.docker.inspect_network(&name, None).await {
            Ok(network) => {
                check_network_owner(&name, network.labels.as_ref(), service_id)?;
                Ok(name)
            }
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                let request = NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("bridge".into()),
                    labels: Some(HashMap::from([
                        (LABEL_SERVICE.to_string(), service_id.to_string()),
                        (LABEL_ORCHESTRATOR.to_string(), self.orchestrator.clone()),
                    ])),
                    ..Default::default()
                };
                self.docker
                    .create_network(request)
                    .await
                    .map_err(|error| backend(&format!("creating network {name}"), error))?;
                Ok(name)
            }
            Err(error) => Err(backend(&format!("inspecting network {name}"), error)),
        }
    }

    /// Removes the service's network when no container of the service is
    /// left; a network that is already gone is fine. Answers whether this
    /// call removed it.
    async fn remove_network_if_unused(&self, service_id: &str) -> Result<bool, InfraError> {
        let _changing = self.network_changes.lock().await;
        if !self.service_containers(service_id).await?.is_empty() {
            return Ok(false);
        }
        let name = network_name(service_id);
        let network = match self.docker.inspect_network(&name, None).await {
            Ok(network) => network,
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => return Ok(false),
            Err(error) => return Err(backend(&format!("inspecting network {name}"), error)),
        };
        check_network_owner(&name, network.labels.as_ref(), service_id)?;
        match self.docker.remove_network(&name).await {
            Ok(()) => Ok(true),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(error) => Err(backend(&format!("removing network {name}"), error)),
        }
    }

    /// The services whose networks this orchestrator created (by their
    /// [`LABEL_ORCHESTRATOR`]).
    async fn own_network_services(&self) -> Result<BTreeSet<String>, InfraError> {
        let filters = HashMap::from([("label", vec![format!("{LABEL_ORCHESTRATOR}={}", self.orchestrator)])]);
        let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
        let networks = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|error| backend("listing this orchestrator's networks", error))?;
        Ok(networks
            .iter()
            .map(|network| label_value(network.labels.as_ref(), LABEL_SERVICE))
            .filter(|service| !service.is_empty())
            .collect())
    }

    fn ledger(&self) -> MutexGuard<'_, CapacityLedger> {
        // The ledger changes in single calls that cannot panic half-way.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates and starts the unit's container under `name`; returns its id
    /// and address. A container that fails to start is removed again.
    async fn run(&self, vim_id: &str, name: &str, unit: &UnitSpec) -> Result<(String, String), InfraError> {
        let image = unit
            .image
            .clone()
            .ok_or_else(|| InfraError::Backend(format!("unit {} names no image to run", unit.unit_id)))?;
        let labels = HashMap::from([
            (LABEL_SERVICE.to_string(), unit.service_id.clone()),
            (LABEL_VNF.to_string(), unit.vnf_instance_id.clone()),
            (LABEL_VNF_ID.to_string(), unit.vnf_id.clone()),
            (LABEL_UNIT.to_string(), unit.unit_id.clone()),
            (LABEL_VIM.to_string(), vim_id.to_string()),
            (LABEL_ORCHESTRATOR.to_string(), self.orchestrator.clone()),
        ]);
        crate::registry::ensure_image(&self.docker, &image)
            .await
            .map_err(|message| InfraError::Backend(format!("unit {}: {message}", unit.unit_id)))?;
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let changing = self.network_changes.lock().await;
        let network = self.ensure_network(&unit.service_id).await?;
        let body = ContainerCreateBody {
            image: Some(image),
            env: Some(
                unit.envs
                    .iter()
                    .map(|env| format!("{}={}", env.key, env.value))
                    .collect(),
            ),
            labels: Some(labels),
            host_config: Some(confinement(unit, network, self.daemon_nano_cpus)),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|error| backend(&format!("creating container {name}"), error))?
            .id;
        drop(changing);
        match self.start(&id, name).await {
            // The name, not the id, is the unit's reference: it stays the
            // same when `set_envs` recreates the container.
            Ok(address) => Ok((name.to_owned(), address)),
            Err(error) => {
                if let Err(cleanup) = self.remove_container(&id).await {
                    tracing::warn!(container = %name, error = %cleanup, "cannot remove a container that failed to start");
                }
                Err(error)
            }
        }
    }

    /// Starts a created container and returns its address.
    async fn start(&self, id: &str, name: &str) -> Result<String, InfraError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|error| backend(&format!("starting container {name}"), error))?;
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|error| backend(&format!("inspecting container {name}"), error))?;
        address(&inspected)
            .ok_or_else(|| InfraError::Backend(format!("container {name} has no IP address on any network")))
    }

    /// Force-removes a container; one that is already gone is fine.
    async fn remove_container(&self, id: &str) -> Result<(), InfraError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) | Ok(()) => Ok(()),
            Err(error) => Err(backend(&format!("removing container {id}"), error)),
        }
    }
}

impl Infrastructure for DockerInfrastructure {
    fn effects_outlive_the_process(&self) -> bool {
        true
    }

    fn vims(&self) -> InfraFuture<'_, Vec<VimStatus>> {
        let status = self.ledger().status();
        Box::pin(async move { Ok(status) })
    }

    fn deploy(&self, vim_id: &str, unit: UnitSpec) -> InfraFuture<'_, DeployedUnit> {
        let vim_id = vim_id.to_string();
        Box::pin(async move {
            let name = container_name(&unit);
            self.ledger().reserve(&name, &vim_id, &unit)?;
            let (instance_ref, address) = match self.run(&vim_id, &name, &unit).await {
                Ok(running) => running,
                Err(error) => {
                    self.ledger().release(&name);
                    if let Err(cleanup) = self.remove_network_if_unused(&unit.service_id).await {
                        tracing::warn!(service = %unit.service_id, error = %cleanup, "cannot remove the network of a service whose deploy failed");
                    }
                    return Err(error);
                }
            };
            Ok(DeployedUnit {
                addresses: addresses(&unit, &address),
                vim_id,
                spec: unit,
                instance_ref,
            })
        })
    }

    /// Recreates the container with the merged envs. If that fails the unit
    /// has no container any more but keeps its reservation until removed.
    fn set_envs(&self, unit: DeployedUnit, envs: Vec<KeyValue>) -> InfraFuture<'_, DeployedUnit> {
        Box::pin(async move {
            let name = container_name(&unit.spec);
            if !self.ledger().holds(&name) {
                return Err(InfraError::Backend(format!(
                    "unit {} (container {name}) is not deployed on VIM {}",
                    unit.spec.unit_id, unit.vim_id
                )));
            }
            self.remove_container(&unit.instance_ref).await?;
            let mut spec = unit.spec;
            spec.envs = merge_envs(&spec.envs, envs);
            let (instance_ref, address) = self.run(&unit.vim_id, &name, &spec).await?;
            Ok(DeployedUnit {
                addresses: addresses(&spec, &address),
                vim_id: unit.vim_id,
                spec,
                instance_ref,
            })
        })
    }

    /// Removes every container of this orchestrator that `known` does not
    /// name (its
    /// capacity released, its service's network removed when it was the
    /// last), and reports the known ones the daemon no longer has.
    fn reconcile(&self, known: HashSet<String>) -> InfraFuture<'_, Reconciliation> {
        Box::pin(async move {
            // Only this orchestrator's containers are removed; a recorded
            // container is missing only if no wasmano container has its id
            // (one created before the owner label existed still counts).
            // Units are known by container name (their reference), or by
            // id as records written before names were references have it.
            let containers = self.all_containers().await?;
            let is_known =
                |container: &ServiceContainer| known.contains(&container.name) || known.contains(&container.id);
            let mut reconciliation = Reconciliation::default();
            // Every network of this orchestrator's that no container uses
            // goes, whether its last container is removed here or a process
            // died between creating it and its first container (a network
            // made before networks carried the orchestrator's label is
            // known by the containers removed here).
            let mut network_services: BTreeSet<String> = self.own_network_services().await?;
            for container in &containers {
                if is_known(container) || container.orchestrator != self.orchestrator {
                    continue;
                }
                self.remove_container(&container.id).await?;
                self.ledger().release(&container.name);
                reconciliation.removed.push(container.name.clone());
                network_services.insert(container.service.clone());
            }
            for service in network_services {
                if self.remove_network_if_unused(&service).await? {
                    reconciliation.removed_networks.push(network_name(&service));
                }
            }
            let present: HashSet<&str> = containers
                .iter()
                .flat_map(|container| [container.id.as_str(), container.name.as_str()])
                .collect();
            reconciliation.missing = known
                .iter()
                .filter(|id| !present.contains(id.as_str()))
                .cloned()
                .collect();
            reconciliation.missing.sort();
            Ok(reconciliation)
        })
    }

    /// Reserves the units' capacity again; their containers are the
    /// previous process's, found by name.
    fn adopt(&self, units: Vec<DeployedUnit>) -> InfraFuture<'_, ()> {
        let mut ledger = self.ledger();
        let adopted = units.iter().try_for_each(|unit| {
            let name = container_name(&unit.spec);
            if !ledger.holds(&name) {
                ledger.reserve(&name, &unit.vim_id, &unit.spec)?;
            }
            Ok(())
        });
        drop(ledger);
        Box::pin(async move { adopted })
    }

    fn remove(&self, unit: DeployedUnit) -> InfraFuture<'_, ()> {
        Box::pin(async move {
            self.remove_container(&unit.instance_ref).await?;
            self.ledger().release(&container_name(&unit.spec));
            self.remove_network_if_unused(&unit.spec.service_id).await?;
            Ok(())
        })
    }
}

/// The VIMs of a Docker daemon when no configuration names them: one
/// container VIM, `docker-local`, accounting 8 cores and 16 GiB (the
/// ledger's bookkeeping; each container is capped by its own unit's
/// requirements).
pub fn default_docker_vims() -> Vec<super::VimConfig> {
    vec![super::VimConfig {
        id: "docker-local".into(),
        kind: VimKind::Container,
        cores: 8.0,
        memory_mb: 16_384.0,
        labels: Default::default(),
    }]
}

/// `wasmano-<service>-<vnf instance>-<unit>`, with any character Docker
/// does not allow in names replaced by `-`.
pub fn container_name(unit: &UnitSpec) -> String {
    docker_safe(&format!(
        "wasmano-{}-{}-{}",
        unit.service_id, unit.vnf_instance_id, unit.unit_id
    ))
}

/// `wasmano-<service>`, the service's network, with any character Docker
/// does not allow in names replaced by `-`.
pub fn network_name(service_id: &str) -> String {
    docker_safe(&format!("wasmano-{service_id}"))
}

fn docker_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A label's value, empty when absent.
fn label_value(labels: Option<&HashMap<String, String>>, name: &str) -> String {
    labels.and_then(|labels| labels.get(name)).cloned().unwrap_or_default()
}

/// A network of the service's name that is not labelled with the service
/// (another service whose id maps to the same name, or a network wasmano did
/// not create) is neither joined nor removed.
fn check_network_owner(
    name: &str,
    labels: Option<&HashMap<String, String>>,
    service_id: &str,
) -> Result<(), InfraError> {
    match labels.and_then(|labels| labels.get(LABEL_SERVICE)) {
        Some(owner) if owner == service_id => Ok(()),
        owner => Err(InfraError::Backend(format!(
            "network {name} exists but is not service {service_id}'s (its {LABEL_SERVICE} label is {owner:?})"
        ))),
    }
}

/// How the unit's container is confined (see the module documentation): its
/// CPU and memory caps, pids limit, privileges and the service's network.
fn confinement(unit: &UnitSpec, network: String, daemon_nano_cpus: i64) -> HostConfig {
    let cpus = if unit.cores > 0.0 { unit.cores } else { DEFAULT_CPUS };
    let memory_mb = if unit.memory_mb > 0.0 {
        unit.memory_mb
    } else {
        DEFAULT_MEMORY_MB
    };
    // `as` saturates, and the clamps keep the caps within what the daemon
    // accepts whatever the declared amounts.
    let nano_cpus =
        ((cpus * NANO_CPUS_PER_CPU).round() as i64).clamp(MIN_NANO_CPUS, daemon_nano_cpus.max(MIN_NANO_CPUS));
    let memory = ((memory_mb * BYTES_PER_MB).round() as i64).max(MIN_MEMORY_BYTES);
    HostConfig {
        nano_cpus: Some(nano_cpus),
        memory: Some(memory),
        memory_swap: Some(memory),
        pids_limit: Some(PIDS_LIMIT),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        network_mode: Some(network),
        ..Default::default()
    }
}

/// The container's address: on the first network (by name) that gave it one.
fn address(inspected: &ContainerInspectResponse) -> Option<String> {
    let networks = inspected.network_settings.as_ref()?.networks.as_ref()?;
    networks
        .iter()
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .filter_map(|endpoint| endpoint.ip_address.clone())
        .find(|ip| !ip.is_empty())
}

/// Every connection point of the unit at the container's address.
fn addresses(unit: &UnitSpec, address: &str) -> Vec<CpAddress> {
    unit.connection_points
        .iter()
        .map(|cp| CpAddress {
            cp: cp.clone(),
            address: address.to_string(),
        })
        .collect()
}

fn backend(what: &str, error: DockerError) -> InfraError {
    InfraError::Backend(format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infrastructure::VimConfig;

    #[test]
    fn container_names_are_docker_safe() {
        let unit = UnitSpec {
            service_id: "ns 1".into(),
            vnf_instance_id: "6a1b-ff".into(),
            vnf_id: "vnf0".into(),
            unit_id: "cdu/0:x".into(),
            kind: VimKind::Container,
            image: None,
            cores: 0.0,
            memory_mb: 0.0,
            connection_points: Vec::new(),
            envs: Vec::new(),
        };
        assert_eq!(container_name(&unit), "wasmano-ns-1-6a1b-ff-cdu-0-x");
    }

    fn unit(cores: f64, memory_mb: f64) -> UnitSpec {
        UnitSpec {
            service_id: "ns".into(),
            vnf_instance_id: "vnf".into(),
            vnf_id: "vnf0".into(),
            unit_id: "cdu0".into(),
            kind: VimKind::Container,
            image: None,
            cores,
            memory_mb,
            connection_points: Vec::new(),
            envs: Vec::new(),
        }
    }

    #[test]
    fn containers_are_capped_at_their_requirements_or_the_defaults() {
        let two_cpus = 2_000_000_000;
        let declared = confinement(&unit(0.5, 64.0), "wasmano-ns".into(), two_cpus);
        assert_eq!(declared.nano_cpus, Some(500_000_000));
        assert_eq!(declared.memory, Some(64_000_000));
        assert_eq!(declared.memory_swap, declared.memory, "no swap on top");
        assert_eq!(declared.pids_limit, Some(PIDS_LIMIT));
        assert_eq!(declared.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(declared.security_opt, Some(vec!["no-new-privileges".to_string()]));
        assert_eq!(declared.network_mode.as_deref(), Some("wasmano-ns"));

        let undeclared = confinement(&unit(0.0, 0.0), "n".into(), two_cpus);
        assert_eq!(undeclared.nano_cpus, Some(1_000_000_000));
        assert_eq!(undeclared.memory, Some(256_000_000));

        let extreme = confinement(&unit(64.0, 0.001), "n".into(), two_cpus);
        assert_eq!(extreme.nano_cpus, Some(two_cpus), "at most the daemon's CPUs");
        assert_eq!(extreme.memory, Some(MIN_MEMORY_BYTES), "at least the daemon's floor");
        let tiny = confinement(&unit(0.001, f64::INFINITY), "n".into(), two_cpus);
        assert_eq!(tiny.nano_cpus, Some(MIN_NANO_CPUS));
        assert_eq!(tiny.memory, Some(i64::MAX));
    }

    #[test]
    fn network_names_are_docker_safe() {
        assert_eq!(network_name("ns 1/x"), "wasmano-ns-1-x");
    }

    #[tokio::test]
    async fn a_docker_daemon_serves_no_vm_vims() {
        let vim = VimConfig {
            id: "vms".into(),
            kind: VimKind::Vm,
            cores: 1.0,
            memory_mb: 1.0,
            labels: Default::default(),
        };
        let error = DockerInfrastructure::connect(CapacityLedger::new(vec![vim]).unwrap(), "test")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, InfraError::Backend(message) if message.contains("VIM vms")),
            "{error}"
        );
    }
}
