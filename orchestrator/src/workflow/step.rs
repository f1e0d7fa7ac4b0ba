//! The typed steps of the workflows and what kind of work each is.
//!
//! The kind decides how [`super::Run`] journals a step: an [`StepKind::Effect`]
//! acts outside the process (deploy, remove, set envs), so its intent is
//! written durably before it acts and its outcome after, when what it acts
//! on outlives the process (see `Infrastructure::effects_outlive_the_process`); a
//! [`StepKind::Record`] write commits together with every journal entry not
//! yet stored (a VNF record written mid-run with the run's next durable
//! write: `Run::write_vnf_later`); [`StepKind::Hook`] calls (pure: a seeded request, a reply) and
//! [`StepKind::Internal`] steps (reads, decisions, in-process ledgers) are
//! written with the next durable write. A step's journaled name is its
//! [`Display`](fmt::Display) form.

use std::fmt;

use crate::records::Status;

/// How a step is journaled (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepKind {
    /// Reads, decisions and in-process bookkeeping.
    Internal,
    /// A call of a specific manager.
    Hook,
    /// An action on the infrastructure.
    Effect,
    /// A write of a service or VNF record.
    Record,
}

/// One step of a workflow. Fields name the NSD's VNF id (`vnf`), a VIM or
/// a deployment unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Read the service record (recovery).
    ReadNsr,
    /// Read the VNF records (recovery).
    ReadVnfrs,
    /// Have the infrastructure count recorded units again (recovery).
    AdoptUnits,
    /// Switch a manager to another module.
    ChangeManager { manager: String },
    /// A legacy manager's new programs started and its old ones stopped, in
    /// every instance it serves (an in-place update).
    HandOverManager { manager: String },
    /// Ask the infrastructure what it has free.
    Topology,
    /// Check a migration's target VIM as placement would.
    ValidateTarget,
    /// Reserve the placed capacity on the ledger.
    ReserveCapacity,
    /// Check a placement manager's mapping.
    ValidateMapping,
    /// Check a placement manager's virtual-link placement.
    ValidateLinks,
    /// Check a task manager's schedule.
    ValidateSchedule,
    /// Place with the orchestrator's algorithm.
    DefaultPlacement,
    /// Check every new instance was placed.
    Placement,
    /// The placement manager.
    SsmPlacement,
    /// The configure manager.
    SsmConfigure,
    /// The state manager transforming a migrating VNF's state.
    SsmState,
    /// The task manager rewriting the schedule.
    SsmTask,
    /// The monitor manager reading monitoring data.
    SsmMonitor,
    /// A VNF's start manager.
    FsmStart { vnf: String },
    /// A VNF's stop manager.
    FsmStop { vnf: String },
    /// A VNF's configure manager.
    FsmConfigure { vnf: String },
    /// A scaled VNF's scale manager, for one of its instances.
    FsmScale { vnf: String },
    /// A migrating VNF's state, extracted from the old instance.
    FsmStateExtract { vnf: String },
    /// A migrating VNF's state, injected into the new instance.
    FsmStateInject { vnf: String },
    /// Deploy a unit of a VNF on a VIM.
    Deploy { vnf: String, vim: String },
    /// Set envs in a VNF's container units.
    InjectEnvs { vnf: String },
    /// Remove a unit of a VNF.
    Remove { vnf: String },
    /// Remove the units of a VNF deployed before one of its units failed.
    RemovePartlyDeployed { vnf: String },
    /// Release what the managers hold for an ended instance: the service's
    /// (no `vnf`) or a VNF instance's (a legacy manager's program and vhost).
    ReleaseManagers { vnf: Option<String> },
    /// The configure manager told how the configuration went (legacy
    /// managers only: 5GTANGO's `workflow: status` notification).
    ConfigurationStatus,
    /// The monitor manager told the service runs (legacy managers only:
    /// 5GTANGO's `start_monitoring` notification).
    StartMonitoring,
    /// Keep a unit whose removal failed on the durable retry list.
    HoldRemoval { vnf: String, unit: String },
    /// Store the service record of an instantiation.
    StoreNsr,
    /// Store a VNF record (new, or with its units' new envs).
    StoreVnfr { vnf: String },
    /// A VNF record in normal operation.
    VnfrInOperation { vnf: String },
    /// A removed VNF's record terminated.
    VnfrTerminated { vnf: String },
    /// An undone VNF's record marked with this status.
    MarkVnfr { vnf: String, status: Status },
    /// The service record in normal operation.
    NsrInOperation,
    /// The service record listing the service's current VNFs.
    UpdateNsr,
    /// The service record as it was before a failed run.
    RestoreNsr,
    /// The service record terminated.
    NsrTerminated,
    /// The service record failed.
    MarkNsrFailed,
}

impl Step {
    /// How the step is journaled.
    pub(super) fn kind(&self) -> StepKind {
        match self {
            Self::ReadNsr
            | Self::ReadVnfrs
            | Self::AdoptUnits
            | Self::ChangeManager { .. }
            | Self::Topology
            | Self::ValidateTarget
            | Self::ReserveCapacity
            | Self::ValidateMapping
            | Self::ValidateLinks
            | Self::ValidateSchedule
            | Self::DefaultPlacement
            | Self::Placement => StepKind::Internal,
            Self::SsmPlacement
            | Self::SsmConfigure
            | Self::SsmState
            | Self::SsmTask
            | Self::SsmMonitor
            | Self::FsmScale { .. }
            | Self::FsmStart { .. }
            | Self::FsmStop { .. }
            | Self::FsmConfigure { .. }
            | Self::FsmStateExtract { .. }
            | Self::FsmStateInject { .. } => StepKind::Hook,
            Self::Deploy { .. }
            | Self::InjectEnvs { .. }
            | Self::Remove { .. }
            | Self::RemovePartlyDeployed { .. }
            | Self::ReleaseManagers { .. }
            | Self::ConfigurationStatus
            | Self::StartMonitoring
            | Self::HandOverManager { .. } => StepKind::Effect,
            Self::HoldRemoval { .. }
            | Self::StoreNsr
            | Self::StoreVnfr { .. }
            | Self::VnfrInOperation { .. }
            | Self::VnfrTerminated { .. }
            | Self::MarkVnfr { .. }
            | Self::NsrInOperation
            | Self::UpdateNsr
            | Self::RestoreNsr
            | Self::NsrTerminated
            | Self::MarkNsrFailed => StepKind::Record,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadNsr => f.write_str("read NSR"),
            Self::ReadVnfrs => f.write_str("read VNFRs"),
            Self::AdoptUnits => f.write_str("adopt units"),
            Self::ChangeManager { manager } => write!(f, "change manager {manager}"),
            Self::HandOverManager { manager } => write!(f, "hand over manager {manager}"),
            Self::Topology => f.write_str("topology"),
            Self::ValidateTarget => f.write_str("validate target"),
            Self::ReserveCapacity => f.write_str("reserve capacity"),
            Self::ValidateMapping => f.write_str("validate mapping"),
            Self::ValidateLinks => f.write_str("validate link placement"),
            Self::ValidateSchedule => f.write_str("validate schedule"),
            Self::DefaultPlacement => f.write_str("default placement"),
            Self::Placement => f.write_str("placement"),
            Self::SsmPlacement => f.write_str("ssm placement"),
            Self::SsmConfigure => f.write_str("ssm configure"),
            Self::SsmState => f.write_str("ssm state"),
            Self::SsmTask => f.write_str("ssm task"),
            Self::SsmMonitor => f.write_str("ssm monitor"),
            Self::FsmStart { vnf } => write!(f, "fsm start {vnf}"),
            Self::FsmStop { vnf } => write!(f, "fsm stop {vnf}"),
            Self::FsmConfigure { vnf } => write!(f, "fsm configure {vnf}"),
            Self::FsmScale { vnf } => write!(f, "fsm scale {vnf}"),
            Self::FsmStateExtract { vnf } => write!(f, "fsm state extract {vnf}"),
            Self::FsmStateInject { vnf } => write!(f, "fsm state inject {vnf}"),
            Self::Deploy { vnf, vim } => write!(f, "deploy {vnf} on {vim}"),
            Self::InjectEnvs { vnf } => write!(f, "inject envs {vnf}"),
            Self::Remove { vnf } => write!(f, "remove {vnf}"),
            Self::RemovePartlyDeployed { vnf } => write!(f, "remove {vnf} (partly deployed)"),
            Self::ReleaseManagers { vnf: None } => f.write_str("release managers"),
            Self::ConfigurationStatus => f.write_str("configuration status"),
            Self::StartMonitoring => f.write_str("start monitoring"),
            Self::ReleaseManagers { vnf: Some(vnf) } => write!(f, "release managers of {vnf}"),
            Self::HoldRemoval { vnf, unit } => write!(f, "hold removal of {vnf} {unit}"),
            Self::StoreNsr => f.write_str("store NSR"),
            Self::StoreVnfr { vnf } => write!(f, "store VNFR {vnf}"),
            Self::VnfrInOperation { vnf } => write!(f, "VNFR {vnf} in operation"),
            Self::VnfrTerminated { vnf } => write!(f, "VNFR {vnf} terminated"),
            Self::MarkVnfr { vnf, status } => write!(f, "VNFR {vnf} {status}"),
            Self::NsrInOperation => f.write_str("NSR in operation"),
            Self::UpdateNsr => f.write_str("update NSR"),
            Self::RestoreNsr => f.write_str("restore NSR"),
            Self::NsrTerminated => f.write_str("NSR terminated"),
            Self::MarkNsrFailed => f.write_str("mark NSR failed"),
        }
    }
}
