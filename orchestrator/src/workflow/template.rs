//! What a workflow needs to know about a service, resolved once from the
//! catalogue: descriptors as the model types them (the documents managers
//! get), deployment units ready to deploy, and the
//! specific managers bound to the events they declared.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use tango_model::descriptor::{Nsd, VimKind, Vnfd};
use tango_model::fsm::FsmEvent;
use tango_model::ssm::SsmEvent;
use tango_model::to_document;
use wasmano_host::{BoxFuture, SpecificManager};

use crate::infrastructure::UnitSpec;

/// A service ready to be instantiated.
#[derive(Clone)]
pub struct ServiceTemplate {
    /// The NSD's catalogue reference.
    pub nsd_reference: String,
    /// The NSD's version.
    pub nsd_version: String,
    /// The NSD as sent to managers.
    pub nsd: Nsd,
    /// One entry per `network_functions` entry, in NSD order.
    pub vnfs: Vec<VnfTemplate>,
    /// The service-specific managers, by the events they declared.
    pub ssms: Vec<ManagerBinding<SsmEvent>>,
}

/// One VNF of a service.
#[derive(Clone)]
pub struct VnfTemplate {
    /// The VNF's id in the NSD (`vnf_id`).
    pub vnf_id: String,
    /// The VNFD's catalogue reference.
    pub vnfd_reference: String,
    /// The VNFD's version.
    pub vnfd_version: String,
    /// The VNFD as sent to managers.
    pub vnfd: Vnfd,
    /// Its deployment units.
    pub units: Vec<UnitTemplate>,
    /// Policy labels a VIM must hold to host it (empty: any).
    pub required_labels: BTreeSet<String>,
    /// Its function-specific managers, by the events they declared.
    pub fsms: Vec<ManagerBinding<FsmEvent>>,
}

/// One deployment unit of a VNF.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitTemplate {
    /// The unit's id in the VNFD.
    pub unit_id: String,
    /// VM or container.
    pub kind: VimKind,
    /// Its image, if any.
    pub image: Option<String>,
    /// Cores it needs.
    pub cores: f64,
    /// Memory it needs, in MB.
    pub memory_mb: f64,
    /// Its connection points.
    pub connection_points: Vec<String>,
}

impl UnitTemplate {
    /// What to deploy for this unit of VNF `vnf_id`'s instance
    /// `vnf_instance_id` in service `service_id`, without envs yet.
    pub fn spec(&self, service_id: &str, vnf_instance_id: &str, vnf_id: &str) -> UnitSpec {
        UnitSpec {
            service_id: service_id.to_owned(),
            vnf_instance_id: vnf_instance_id.to_owned(),
            vnf_id: vnf_id.to_owned(),
            unit_id: self.unit_id.clone(),
            kind: self.kind,
            image: self.image.clone(),
            cores: self.cores,
            memory_mb: self.memory_mb,
            connection_points: self.connection_points.clone(),
            envs: Vec::new(),
        }
    }
}

/// A manager and the events its descriptor declared for it.
#[derive(Clone)]
pub struct ManagerBinding<E> {
    /// The manager.
    pub manager: Arc<dyn SpecificManager>,
    /// The events it was declared for (`options` with `key: type`).
    pub events: Vec<E>,
}

/// What changing a manager in place does outside the process before the
/// service switches to its new template (5GTANGO's SMR `update`): start the
/// new manager in each of `instances` (the service, or the VNF instances the
/// manager serves) and then stop the old one; on failure the old one keeps
/// running and the error says why. WebAssembly managers need none: a module
/// has nothing running between events.
pub trait ManagerHandover: Send + Sync + std::fmt::Debug {
    /// Starts the new manager and stops the old one in each instance.
    fn hand_over<'a>(&'a self, instances: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
}

impl<E> std::fmt::Debug for ManagerBinding<E>
where
    E: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBinding")
            .field("manager", &self.manager.id())
            .field("events", &self.events)
            .finish()
    }
}

impl std::fmt::Debug for ServiceTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTemplate")
            .field("nsd_reference", &self.nsd_reference)
            .field("vnfs", &self.vnfs)
            .field("ssms", &self.ssms)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for VnfTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VnfTemplate")
            .field("vnf_id", &self.vnf_id)
            .field("units", &self.units)
            .field("fsms", &self.fsms)
            .finish_non_exhaustive()
    }
}

impl ServiceTemplate {
    /// The document of the NSD (`vnf_id` `None`) or of the VNFD of VNF
    /// `vnf_id`, as managers get it.
    pub fn descriptor_document(&self, vnf_id: Option<&str>) -> Result<Value, String> {
        match vnf_id {
            None => Ok(to_document(&self.nsd)),
            Some(vnf_id) => self
                .vnfs
                .iter()
                .find(|vnf| vnf.vnf_id == vnf_id)
                .map(|vnf| to_document(&vnf.vnfd))
                .ok_or_else(|| format!("the service has no VNF {vnf_id:?}")),
        }
    }
}

/// The manager bound to an event, if any: the first declaring it.
pub(crate) fn manager_for<E: PartialEq + Copy>(
    bindings: &[ManagerBinding<E>],
    event: E,
) -> Option<&Arc<dyn SpecificManager>> {
    bindings
        .iter()
        .find(|binding| binding.events.contains(&event))
        .map(|binding| &binding.manager)
}

impl VnfTemplate {
    /// The kind of VIM the VNF needs: containers when any unit is one.
    pub fn kind(&self) -> VimKind {
        if self.units.iter().any(|unit| unit.kind == VimKind::Container) {
            VimKind::Container
        } else {
            VimKind::Vm
        }
    }

    /// What the VNF needs from its VIM, summed over its units.
    pub fn demand(&self) -> tango_model::descriptor::Demand {
        tango_model::descriptor::Demand {
            cores: self.units.iter().map(|unit| unit.cores).sum(),
            memory_mb: self.units.iter().map(|unit| unit.memory_mb).sum(),
            kind: self.kind(),
        }
    }
}
