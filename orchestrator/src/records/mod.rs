//! NS and VNF records and the journal of workflow steps: what the
//! orchestrator remembers about running services.
//!
//! Records carry the tng-schema fields (BRIEF §5): `id`,
//! `descriptor_reference`, `descriptor_version`, `status` and `version`,
//! incremented by the store on every update. The [`RecordStore`] trait is the
//! only way in; [`SqliteStore`] is the embedded, durable default, and its SQL
//! sticks to what PostgreSQL also speaks, so a shared store for several
//! orchestrator instances can implement the same trait without touching
//! callers.

mod sqlite;

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sm_sdk::descriptor::VimKind;
use sm_sdk::ssm::{EventSwitch, VnfSwitches};

use crate::infrastructure::DeployedUnit;

pub use sqlite::SqliteStore;

/// The lifecycle status of a service or VNF (tng-schema's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Running as intended.
    #[serde(rename = "normal operation")]
    NormalOperation,
    /// Running, but not fully.
    #[serde(rename = "degraded operation")]
    DegradedOperation,
    /// Not running (yet, or any more).
    #[serde(rename = "offline")]
    Offline,
    /// A workflow failed.
    #[serde(rename = "failed")]
    Failed,
    /// A workflow is changing it.
    #[serde(rename = "updating")]
    Updating,
    /// Removed.
    #[serde(rename = "terminated")]
    Terminated,
}

impl Status {
    /// The tng-schema text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NormalOperation => "normal operation",
            Self::DegradedOperation => "degraded operation",
            Self::Offline => "offline",
            Self::Failed => "failed",
            Self::Updating => "updating",
            Self::Terminated => "terminated",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network service record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NsRecord {
    /// The service instance id.
    pub id: String,
    /// The NSD this service instantiates (its catalogue reference).
    pub descriptor_reference: String,
    /// The NSD's version.
    pub descriptor_version: String,
    /// Lifecycle status.
    pub status: Status,
    /// Incremented by the store on every update; 1 when created.
    pub version: u64,
    /// The service's VNF records, by id.
    pub network_functions: Vec<String>,
}

/// A VNF record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VnfRecord {
    /// The VNF instance id.
    pub id: String,
    /// The service instance it belongs to.
    pub service_id: String,
    /// The VNF's id inside the NSD (`vnf_id`).
    pub vnf_id: String,
    /// The VNFD this VNF instantiates.
    pub descriptor_reference: String,
    /// The VNFD's version.
    pub descriptor_version: String,
    /// Lifecycle status.
    pub status: Status,
    /// Incremented by the store on every update; 1 when created.
    pub version: u64,
    /// The deployed units and where they run.
    pub deployment_units: Vec<UnitInstance>,
    /// Which of its FSM events fire, as the service's configure manager
    /// last switched them (wasmano's; not in the tng-schema shape).
    #[serde(default)]
    pub switches: FsmSwitches,
}

/// Which FSM events fire for a VNF instance, and with which payload: what a
/// configure manager answered for it (5GTANGO's SLM merged these entries
/// into its function record and followed them in later FLM calls). `None`
/// is the default: the event fires with its default payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FsmSwitches {
    /// FSM start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<EventSwitch>,
    /// FSM stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<EventSwitch>,
    /// FSM scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<EventSwitch>,
}

impl FsmSwitches {
    /// Takes the start, stop and scale switches a configure reply set;
    /// whether anything changed.
    pub fn merge(&mut self, switches: &VnfSwitches) -> bool {
        let before = self.clone();
        let updates = [
            (&mut self.start, &switches.start),
            (&mut self.stop, &switches.stop),
            (&mut self.scale, &switches.scale),
        ];
        for (current, update) in updates {
            if let Some(update) = update {
                *current = Some(update.clone());
            }
        }
        *self != before
    }
}

/// One deployed unit (VDU or CDU instance) of a VNF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitInstance {
    /// The unit's id in the VNFD.
    pub unit_id: String,
    /// A VDU (virtual machine) or a CDU (container).
    pub kind: VimKind,
    /// The VIM it runs on.
    pub vim_id: String,
    /// The infrastructure's handle on it (container id, ...).
    pub instance_ref: String,
    /// Its connection points and their addresses.
    pub addresses: Vec<CpAddress>,
}

/// The address of one connection point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpAddress {
    /// Connection point id.
    pub cp: String,
    /// IP address.
    pub address: String,
}

impl NsRecord {
    /// The record in tng-schema's NSR shape.
    pub fn to_tango(&self) -> Value {
        json!({
            "id": self.id,
            "descriptor_reference": self.descriptor_reference,
            "descriptor_version": self.descriptor_version,
            "status": self.status.as_str(),
            "version": self.version.to_string(),
            "network_functions": self.network_functions.iter().map(|id| json!({ "vnfr_id": id })).collect::<Vec<_>>(),
        })
    }
}

impl VnfRecord {
    /// The record in tng-schema's VNFR shape: a `virtual_deployment_units`
    /// entry per VDU, with its instance, VIM and connection point addresses,
    /// and a `cloudnative_deployment_units` entry per CDU, with its VIM and
    /// its address as `load_balancer_ip` (as 5GTANGO's CNF FSMs read it).
    pub fn to_tango(&self) -> Value {
        let cdus: Vec<Value> = self
            .deployment_units
            .iter()
            .filter(|unit| unit.kind == VimKind::Container)
            .map(|unit| {
                let address = unit.addresses.first().map(|cp| cp.address.as_str());
                json!({
                    "id": unit.unit_id,
                    "vim_id": unit.vim_id,
                    "number_of_instances": 1,
                    "connection_points": unit.addresses.iter().map(|cp| json!({ "id": cp.cp })).collect::<Vec<_>>(),
                    "load_balancer_ip": { "floating_ip": address, "internal_ip": address },
                })
            })
            .collect();
        let vdus: Vec<Value> = self
            .deployment_units
            .iter()
            .filter(|unit| unit.kind == VimKind::Vm)
            .map(|unit| {
                let connection_points: Vec<Value> = unit
                    .addresses
                    .iter()
                    .map(|cp| json!({ "id": cp.cp, "interface": { "address": cp.address } }))
                    .collect();
                json!({
                    "id": unit.unit_id,
                    "number_of_instances": 1,
                    "vnfc_instance": [{
                        "id": "0",
                        "vc_id": unit.instance_ref,
                        "vim_id": unit.vim_id,
                        "connection_points": connection_points,
                    }],
                })
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.vnf_id,
            "descriptor_reference": self.descriptor_reference,
            "descriptor_version": self.descriptor_version,
            "status": self.status.as_str(),
            "version": self.version.to_string(),
            "virtual_deployment_units": vdus,
            "cloudnative_deployment_units": cdus,
        })
    }
}

/// How a journaled step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepOutcome {
    /// The step did its work.
    Succeeded,
    /// The step failed; the entry's `error` says why.
    Failed,
    /// The step undid earlier work after a failure.
    RolledBack,
    /// The step is about to act outside the process (deploy, remove, set
    /// envs): journaled durably before it acts. An intent with no outcome
    /// after it is an effect that was in flight when the process stopped.
    Intended,
}

impl StepOutcome {
    /// The outcome as the journal and the timeline spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RolledBack => "rolled back",
            Self::Intended => "intended",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Succeeded, Self::Failed, Self::RolledBack, Self::Intended]
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// One step of a workflow, as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// The service instance.
    pub service_id: String,
    /// The operation occurrence the step belongs to, when it has one.
    pub operation_id: Option<String>,
    /// The workflow (instantiate, scale-out, ...).
    pub workflow: String,
    /// The step's name.
    pub step: String,
    /// The manager that ran, when the step ran a hook.
    pub manager: Option<String>,
    /// The event it ran, when the step ran a hook.
    pub event: Option<String>,
    /// The seed of the random numbers the hook's guest saw, when the step
    /// ran a hook: with the request, what replays the call.
    pub seed: Option<u64>,
    /// When the step started.
    pub started_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// The effects among `entries` (a run's journal, in order) whose intent is
/// journaled with no outcome after it: in flight, or done with their
/// outcome lost, when the process stopped.
pub fn in_flight(entries: &[JournalEntry]) -> Vec<&JournalEntry> {
    entries
        .iter()
        .enumerate()
        .filter(|(position, entry)| {
            entry.outcome == StepOutcome::Intended
                && !entries.get(position + 1).is_some_and(|next| {
                    next.workflow == entry.workflow && next.step == entry.step && next.outcome != StepOutcome::Intended
                })
        })
        .map(|(_, entry)| entry)
        .collect()
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record with this id.
    #[error("no {kind} record with id {id}")]
    NotFound {
        /// NS or VNF.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A record with this id exists already.
    #[error("a {kind} record with id {id} exists already")]
    Exists {
        /// NS or VNF.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// Someone else updated the record since it was read.
    #[error("{kind} record {id} changed concurrently (expected version {expected})")]
    Conflict {
        /// NS or VNF.
        kind: &'static str,
        /// The id.
        id: String,
        /// The version the update was based on.
        expected: u64,
    },
    /// The database failed.
    #[error("record store: {0}")]
    Backend(String),
}

/// A record write, committed with journal entries by [`RecordStore::commit`].
#[derive(Debug, Clone)]
pub enum RecordWrite {
    /// Only the journal entries.
    Nothing,
    /// A new service record (its version becomes 1).
    CreateNs(NsRecord),
    /// A service record replacing the one at its `version`.
    UpdateNs(NsRecord),
    /// A new VNF record (its version becomes 1).
    CreateVnf(VnfRecord),
    /// A VNF record replacing the one at its `version`.
    UpdateVnf(VnfRecord),
    /// A unit whose removal failed, kept to be retried until it is gone.
    HoldRemoval(DeployedUnit),
}

/// What a [`RecordWrite`] stored, with its new version.
#[derive(Debug, Clone)]
pub enum Written {
    /// Only journal entries.
    Nothing,
    /// A service record.
    Ns(NsRecord),
    /// A VNF record.
    Vnf(VnfRecord),
}

impl Written {
    /// The service record written, or an error naming what was written instead.
    pub fn into_ns(self) -> Result<NsRecord, StoreError> {
        match self {
            Self::Ns(record) => Ok(record),
            other => Err(StoreError::Backend(format!(
                "expected an NS record, the store wrote {other:?}"
            ))),
        }
    }

    /// The VNF record written, or an error naming what was written instead.
    pub fn into_vnf(self) -> Result<VnfRecord, StoreError> {
        match self {
            Self::Vnf(record) => Ok(record),
            other => Err(StoreError::Backend(format!(
                "expected a VNF record, the store wrote {other:?}"
            ))),
        }
    }
}

/// A boxed future, so that [`RecordStore`] stays object-safe.
pub type StoreFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where records and the journal live.
pub trait RecordStore: Send + Sync {
    /// Writes a record and appends journal entries to their services'
    /// journals in one transaction: both are stored, or neither.
    fn commit(&self, write: RecordWrite, journal: Vec<JournalEntry>) -> StoreFuture<'_, Written>;
    /// Stores a new service record (its version becomes 1).
    fn create_ns(&self, record: NsRecord) -> StoreFuture<'_, NsRecord> {
        let written = self.commit(RecordWrite::CreateNs(record), Vec::new());
        Box::pin(async move { written.await?.into_ns() })
    }
    /// Replaces a service record, which must still be at `record.version`;
    /// returns it with its version incremented.
    fn update_ns(&self, record: NsRecord) -> StoreFuture<'_, NsRecord> {
        let written = self.commit(RecordWrite::UpdateNs(record), Vec::new());
        Box::pin(async move { written.await?.into_ns() })
    }
    /// Reads a service record.
    fn ns(&self, id: &str) -> StoreFuture<'_, NsRecord>;
    /// Every service record.
    fn all_ns(&self) -> StoreFuture<'_, Vec<NsRecord>>;
    /// Stores a new VNF record (its version becomes 1).
    fn create_vnf(&self, record: VnfRecord) -> StoreFuture<'_, VnfRecord> {
        let written = self.commit(RecordWrite::CreateVnf(record), Vec::new());
        Box::pin(async move { written.await?.into_vnf() })
    }
    /// Replaces a VNF record, which must still be at `record.version`;
    /// returns it with its version incremented.
    fn update_vnf(&self, record: VnfRecord) -> StoreFuture<'_, VnfRecord> {
        let written = self.commit(RecordWrite::UpdateVnf(record), Vec::new());
        Box::pin(async move { written.await?.into_vnf() })
    }
    /// Reads a VNF record.
    fn vnf(&self, id: &str) -> StoreFuture<'_, VnfRecord>;
    /// The VNF records of a service.
    fn vnfs_of(&self, service_id: &str) -> StoreFuture<'_, Vec<VnfRecord>>;
    /// The service records with these ids (those that exist).
    fn ns_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<NsRecord>>;
    /// The VNF records of these services.
    fn vnfs_of_many(&self, service_ids: Vec<String>) -> StoreFuture<'_, Vec<VnfRecord>>;
    /// Appends steps to their services' journals, in one transaction.
    fn journal(&self, entries: Vec<JournalEntry>) -> StoreFuture<'_, ()> {
        let written = self.commit(RecordWrite::Nothing, entries);
        Box::pin(async move { written.await.map(drop) })
    }
    /// A service's journal, in order.
    fn journal_of(&self, service_id: &str) -> StoreFuture<'_, Vec<JournalEntry>>;
    /// The steps journaled under an operation occurrence, in order.
    fn journal_of_operation(&self, operation_id: &str) -> StoreFuture<'_, Vec<JournalEntry>>;
    /// Keeps a unit whose removal failed, to be retried until it is gone.
    fn hold_removal(&self, unit: DeployedUnit) -> StoreFuture<'_, ()> {
        let written = self.commit(RecordWrite::HoldRemoval(unit), Vec::new());
        Box::pin(async move { written.await.map(drop) })
    }
    /// The units whose removal waits for a retry.
    fn held_removals(&self) -> StoreFuture<'_, Vec<DeployedUnit>>;
    /// Forgets a held unit once it is removed.
    fn removal_done(&self, instance_ref: &str) -> StoreFuture<'_, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_take_what_a_configure_reply_sets_and_keep_the_rest() {
        let mut switches = FsmSwitches::default();
        let stop_off = VnfSwitches {
            id: "v".into(),
            stop: Some(EventSwitch::off()),
            configure: Some(EventSwitch::on()),
            ..VnfSwitches::default()
        };
        assert!(switches.merge(&stop_off));
        assert!(!switches.merge(&stop_off), "the same reply changes nothing");
        let scale_on = VnfSwitches {
            id: "v".into(),
            scale: Some(EventSwitch::on()),
            ..VnfSwitches::default()
        };
        assert!(switches.merge(&scale_on));
        assert_eq!(switches.stop, Some(EventSwitch::off()), "kept");
        assert_eq!(switches.start, None);
        // Stored with the record, and read back from records that predate them.
        let text = serde_json::to_string(&switches).unwrap();
        assert_eq!(serde_json::from_str::<FsmSwitches>(&text).unwrap(), switches);
    }

    #[test]
    fn vnfrs_put_vdus_and_cdus_where_tng_schema_and_managers_expect_them() {
        let unit = |unit_id: &str, kind, address: &str| UnitInstance {
            unit_id: unit_id.into(),
            kind,
            vim_id: "vim-a".into(),
            instance_ref: format!("ref-{unit_id}"),
            addresses: vec![CpAddress {
                cp: "eth0".into(),
                address: address.into(),
            }],
        };
        let record = VnfRecord {
            id: "vnf-1".into(),
            service_id: "ns-1".into(),
            vnf_id: "web".into(),
            descriptor_reference: "eu.wasmano/web/1.0".into(),
            descriptor_version: "1.0".into(),
            status: Status::NormalOperation,
            version: 3,
            deployment_units: vec![
                unit("vdu01", VimKind::Vm, "10.0.0.1"),
                unit("cdu01", VimKind::Container, "10.1.0.1"),
            ],
            switches: FsmSwitches::default(),
        };
        // A record stored before switches existed reads as all on.
        let mut stored = serde_json::to_value(&record).unwrap();
        stored.as_object_mut().unwrap().remove("switches");
        assert_eq!(serde_json::from_value::<VnfRecord>(stored).unwrap(), record);
        let tango = record.to_tango();
        assert_eq!(
            tango["virtual_deployment_units"][0]["vnfc_instance"][0]["vim_id"],
            "vim-a"
        );
        assert_eq!(
            tango["cloudnative_deployment_units"][0]["load_balancer_ip"]["floating_ip"],
            "10.1.0.1"
        );
        // Managers read the record through the SDK's view, addresses from both kinds.
        let seen: sm_sdk::descriptor::Vnfr = serde_json::from_value(tango).unwrap();
        assert_eq!(seen.addresses(), ["10.0.0.1", "10.1.0.1", "10.1.0.1"]);
        assert_eq!(seen.version.as_deref(), Some("3"));
    }
}
