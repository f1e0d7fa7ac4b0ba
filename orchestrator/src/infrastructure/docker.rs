//! A Docker daemon as container VIMs, so that cloud-native VNFs really run.
//!
//! Each deployment unit becomes one container: the unit's image and envs,
//! labels naming its service, VNF instance, VNF and unit (`wasmano.*`), and a
//! name derived from them, started on the daemon's default network; every
//! connection point gets the container's address there. The daemon's
//! capacity is what the VIMs are configured with and is accounted for by the
//! same [`CapacityLedger`] as the emulated VIMs; one daemon can stand for
//! several VIMs. Containers are found again by label, so a rollback (or a
//! test) can remove everything wasmano started for a service.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use sm_sdk::KeyValue;
use sm_sdk::descriptor::VimKind;

use super::emulated::{CapacityLedger, merge_envs};
use super::{DeployedUnit, InfraError, InfraFuture, Infrastructure, UnitSpec, VimStatus};
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

/// A container wasmano created, as the daemon lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContainer {
    /// The container id.
    pub id: String,
    /// The container name.
    pub name: String,
    /// The daemon's state for it (`running`, `exited`, ...).
    pub state: String,
}

/// Container VIMs backed by one Docker daemon.
#[derive(Debug)]
pub struct DockerInfrastructure {
    docker: Docker,
    /// Reservations are keyed by container name, which stays the same when
    /// `set_envs` recreates a container.
    ledger: Mutex<CapacityLedger>,
}

impl DockerInfrastructure {
    /// Connects to the daemon `DOCKER_HOST` names (the local socket by
    /// default), negotiating the API version, and serves the ledger's VIMs
    /// on it. Every VIM must be of kind container.
    pub async fn connect(ledger: CapacityLedger) -> Result<Self, InfraError> {
        if let Some(vim) = ledger.vims().iter().find(|vim| vim.kind != VimKind::Container) {
            return Err(InfraError::Backend(format!(
                "VIM {} is a {:?} VIM; a Docker daemon only hosts containers",
                vim.id, vim.kind
            )));
        }
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unreachable =
            |error: DockerError| InfraError::Backend(format!("cannot reach the Docker daemon at {host}: {error}"));
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Self {
            docker,
            ledger: Mutex::new(ledger),
        })
    }

    /// Every container wasmano created for the service, running or not.
    pub async fn service_containers(&self, service_id: &str) -> Result<Vec<ServiceContainer>, InfraError> {
        let filters = HashMap::from([("label", vec![format!("{LABEL_SERVICE}={service_id}")])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|error| backend(&format!("listing the containers of service {service_id}"), error))?;
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
            })
            .collect())
    }

    /// Removes every container wasmano created for the service and gives
    /// their capacity back; returns how many there were.
    pub async fn remove_service(&self, service_id: &str) -> Result<usize, InfraError> {
        let containers = self.service_containers(service_id).await?;
        for container in &containers {
            self.remove_container(&container.id).await?;
            self.ledger().release(&container.name);
        }
        Ok(containers.len())
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
        ]);
        let body = ContainerCreateBody {
            image: Some(image),
            env: Some(
                unit.envs
                    .iter()
                    .map(|env| format!("{}={}", env.key, env.value))
                    .collect(),
            ),
            labels: Some(labels),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let id = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|error| backend(&format!("creating container {name}"), error))?
            .id;
        match self.start(&id, name).await {
            Ok(address) => Ok((id, address)),
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

    fn remove(&self, unit: DeployedUnit) -> InfraFuture<'_, ()> {
        Box::pin(async move {
            self.remove_container(&unit.instance_ref).await?;
            self.ledger().release(&container_name(&unit.spec));
            Ok(())
        })
    }
}

/// `wasmano-<service>-<vnf instance>-<unit>`, with any character Docker
/// does not allow in names replaced by `-`.
pub fn container_name(unit: &UnitSpec) -> String {
    format!("wasmano-{}-{}-{}", unit.service_id, unit.vnf_instance_id, unit.unit_id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
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

    #[tokio::test]
    async fn a_docker_daemon_serves_no_vm_vims() {
        let vim = VimConfig {
            id: "vms".into(),
            kind: VimKind::Vm,
            cores: 1.0,
            memory_mb: 1.0,
            labels: Default::default(),
        };
        let error = DockerInfrastructure::connect(CapacityLedger::new(vec![vim]).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, InfraError::Backend(message) if message.contains("VIM vms")),
            "{error}"
        );
    }
}
