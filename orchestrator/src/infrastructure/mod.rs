//! Where VNFs run: the [`Infrastructure`] trait the workflows deploy through,
//! and its adapters.
//!
//! A VIM offers capacity (cores, memory) of one kind (virtual machines or
//! containers) and a set of policy labels. Deploying a unit reserves its
//! capacity on the VIM and returns a [`DeployedUnit`] handle; removing it
//! gives the capacity back. Adapters account for capacity themselves, so the
//! topology the workflows read is always what is really free.

pub mod docker;
pub mod emulated;

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use tango_model::KeyValue;
use tango_model::descriptor::VimKind;
use tango_model::topology::Vim;

use crate::records::CpAddress;

/// A boxed future, so that [`Infrastructure`] stays object-safe.
pub type InfraFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, InfraError>> + Send + 'a>>;

/// A VIM as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct VimConfig {
    /// The VIM's id (`vim_uuid` in 5GTANGO topologies).
    pub id: String,
    /// What it hosts.
    pub kind: VimKind,
    /// Cores in all.
    pub cores: f64,
    /// Memory in all, in MB.
    pub memory_mb: f64,
    /// Policy labels it offers (Domino style).
    pub labels: BTreeSet<String>,
}

/// A VIM and what is in use on it now.
#[derive(Debug, Clone, PartialEq)]
pub struct VimStatus {
    /// The VIM.
    pub config: VimConfig,
    /// Cores reserved by deployed units.
    pub cores_used: f64,
    /// Memory reserved by deployed units, in MB.
    pub memory_used_mb: f64,
}

impl VimStatus {
    /// The VIM as a placement topology lists it: capacity and use, and its
    /// policy labels (wasmano's `labels`).
    pub fn as_vim(&self) -> Vim {
        let mut vim = Vim::new(
            self.config.id.clone(),
            self.config.kind,
            self.config.cores,
            self.config.memory_mb,
        );
        vim.core_used = self.cores_used;
        vim.memory_used = self.memory_used_mb;
        if !self.config.labels.is_empty() {
            vim.other
                .insert("labels".to_owned(), serde_json::json!(self.config.labels));
        }
        vim
    }
}

/// One deployment unit (VDU or CDU) to deploy. Serialized (without its
/// envs, which removing it does not need) when a removal waits for a retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSpec {
    /// The service instance.
    pub service_id: String,
    /// The VNF instance.
    pub vnf_instance_id: String,
    /// The VNF's id in the NSD.
    pub vnf_id: String,
    /// The unit's id in the VNFD.
    pub unit_id: String,
    /// VM or container.
    pub kind: VimKind,
    /// The image to run (`image` of a CDU, `vm_image` of a VDU), if any.
    pub image: Option<String>,
    /// Cores to reserve.
    pub cores: f64,
    /// Memory to reserve, in MB.
    pub memory_mb: f64,
    /// The unit's connection points.
    pub connection_points: Vec<String>,
    /// Environment variables (containers).
    #[serde(skip)]
    pub envs: Vec<KeyValue>,
}

/// A deployed unit: the handle to remove it or change its envs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedUnit {
    /// The VIM it runs on.
    pub vim_id: String,
    /// What was deployed.
    pub spec: UnitSpec,
    /// The adapter's handle on it (container id, ...).
    pub instance_ref: String,
    /// The addresses of its connection points.
    pub addresses: Vec<CpAddress>,
}

/// What reconciling the infrastructure with the records found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Units nobody recorded, now removed (their names).
    pub removed: Vec<String>,
    /// Recorded units the infrastructure no longer has (their handles).
    pub missing: Vec<String>,
    /// Per-service networks no unit used any more, now removed (their
    /// names; only infrastructures that make networks have any).
    pub removed_networks: Vec<String>,
}

/// Why the infrastructure could not do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InfraError {
    /// No VIM with this id.
    #[error("unknown VIM {0}")]
    UnknownVim(String),
    /// The unit's kind is not the VIM's.
    #[error("unit {unit} is a {unit_kind} unit and VIM {vim} hosts {vim_kind}")]
    KindMismatch {
        /// The unit.
        unit: String,
        /// Its kind.
        unit_kind: VimKind,
        /// The VIM.
        vim: String,
        /// The VIM's kind.
        vim_kind: VimKind,
    },
    /// Not enough free capacity.
    #[error(
        "VIM {vim} cannot host unit {unit}: it needs {cores} cores and {memory_mb} MB, {free_cores} cores and {free_memory_mb} MB are free"
    )]
    Capacity {
        /// The VIM.
        vim: String,
        /// The unit.
        unit: String,
        /// Cores asked for.
        cores: f64,
        /// Memory asked for.
        memory_mb: f64,
        /// Cores free.
        free_cores: f64,
        /// Memory free.
        free_memory_mb: f64,
    },
    /// The backend (e.g. the Docker daemon) failed.
    #[error("infrastructure backend: {0}")]
    Backend(String),
}

/// Deploys and removes units on VIMs.
pub trait Infrastructure: Send + Sync {
    /// The VIMs and their current use.
    fn vims(&self) -> InfraFuture<'_, Vec<VimStatus>>;

    /// Deploys a unit on a VIM, reserving its capacity.
    fn deploy(&self, vim_id: &str, unit: UnitSpec) -> InfraFuture<'_, DeployedUnit>;

    /// Gives a deployed unit these environment variables (added to or
    /// replacing its own); a container is recreated with them.
    fn set_envs(&self, unit: DeployedUnit, envs: Vec<KeyValue>) -> InfraFuture<'_, DeployedUnit>;

    /// Removes a deployed unit and gives its capacity back. Removing a unit
    /// that is already gone succeeds.
    fn remove(&self, unit: DeployedUnit) -> InfraFuture<'_, ()>;

    /// Takes over units a previous process deployed (after a restart),
    /// reserving their capacity again. Adopting a unit already held changes
    /// nothing.
    fn adopt(&self, units: Vec<DeployedUnit>) -> InfraFuture<'_, ()>;

    /// After a restart, once the recorded units are adopted: removes every
    /// unit this orchestrator deployed whose handle (`instance_ref`) is not
    /// in `known` (nobody records it: a process died between deploying it
    /// and recording it), and reports the known ones that are gone.
    fn reconcile(&self, known: HashSet<String>) -> InfraFuture<'_, Reconciliation>;

    /// Whether what it deploys outlives the orchestrator's process (a
    /// container does; an emulated unit dies with it). Only then are
    /// effects journaled as intents before they act: after a crash, an
    /// effect on units that died with the process has nothing to find.
    fn effects_outlive_the_process(&self) -> bool;
}
