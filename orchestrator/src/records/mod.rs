//! NS and VNF records and the journal of workflow steps: what the
//! orchestrator remembers about running services.
//!
//! Records carry the tng-schema fields (BRIEF §5): `id`,
//! `descriptor_reference`, `descriptor_version`, `status` and `version`,
//! incremented by the store on every update; `tango` renders them, with
//! their descriptors, as tng-schema NSR and VNFR documents. The [`RecordStore`] trait is the
//! only way in; [`SqliteStore`] is the embedded, durable default, and its SQL
//! sticks to what PostgreSQL also speaks, so a shared store for several
//! orchestrator instances can implement the same trait without touching
//! callers.

mod sqlite;
mod tango;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tango_model::descriptor::VimKind;
use tango_model::ssm::{EventSwitch, VnfSwitches};

use crate::infrastructure::DeployedUnit;

pub use sqlite::SqliteStore;
pub use tango::{NSR_SCHEMA_VERSION, VNFR_SCHEMA_VERSION, descriptor_uuid};

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
    /// The NSD this service instantiates: its catalogue identity,
    /// `vendor/name/version` (the tng-schema rendering shows its UUID).
    pub descriptor_reference: String,
    /// The NSD's version (the tng-schema rendering shows the NSR schema's).
    pub descriptor_version: String,
    /// Lifecycle status.
    pub status: Status,
    /// Incremented by the store on every update; 1 when created.
    pub version: u64,
    /// The service's VNF records, by id.
    pub network_functions: Vec<String>,
    /// The VIM each virtual link a placement manager placed is realised in,
    /// by the link's id in the NSD (links it left out are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub link_vims: BTreeMap<String, String>,
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
    /// The VNFD this VNF instantiates: its catalogue identity,
    /// `vendor/name/version` (the tng-schema rendering shows its UUID).
    pub descriptor_reference: String,
    /// The VNFD's version (the tng-schema rendering shows the VNFR schema's).
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

#[cfg(test)]
impl JournalEntry {
    /// A step of operation `op-1` of service `ns-1`, for tests.
    pub(crate) fn sample(step: &str, outcome: StepOutcome) -> Self {
        Self {
            service_id: "ns-1".into(),
            operation_id: Some("op-1".into()),
            workflow: "instantiation".into(),
            step: step.into(),
            manager: None,
            event: None,
            seed: None,
            started_at: std::time::UNIX_EPOCH,
            duration: Duration::ZERO,
            outcome,
            error: None,
        }
    }
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

/// The version a new record is stored at; an update stores the version it
/// was based on plus one (see [`RecordWrite::stored_vnf`]).
pub const FIRST_VERSION: u64 = 1;

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
    /// These writes, in order, in the one transaction.
    All(Vec<RecordWrite>),
}

impl RecordWrite {
    /// The VNF record this write stores when it succeeds (a created one at
    /// [`FIRST_VERSION`], an updated one at its next version), for a writer
    /// that goes on before the write is stored; `None` for other writes.
    pub fn stored_vnf(&self) -> Option<VnfRecord> {
        match self {
            Self::CreateVnf(record) => Some(VnfRecord {
                version: FIRST_VERSION,
                ..record.clone()
            }),
            Self::UpdateVnf(record) => Some(VnfRecord {
                version: record.version + 1,
                ..record.clone()
            }),
            _ => None,
        }
    }
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
    /// What each write of a [`RecordWrite::All`] stored, in its order.
    All(Vec<Written>),
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

    /// What each write of a [`RecordWrite::All`] stored, or an error naming
    /// what was written instead.
    pub fn into_all(self) -> Result<Vec<Written>, StoreError> {
        match self {
            Self::All(written) => Ok(written),
            other => Err(StoreError::Backend(format!(
                "expected several writes, the store wrote {other:?}"
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
    use serde_json::{Value, json};
    use tango_model::to_document;

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

    /// A VNF instance with a VDU and a CDU, one connection point each.
    fn web_vnfr() -> VnfRecord {
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
        VnfRecord {
            id: "3d5c0d8e-0c4f-4f43-9a38-6a4c1c3e2b10".into(),
            service_id: "ns-1".into(),
            vnf_id: "web".into(),
            descriptor_reference: "eu.wasmano/web-vnf/1.0".into(),
            descriptor_version: "1.0".into(),
            status: Status::NormalOperation,
            version: 3,
            deployment_units: vec![
                unit("vdu01", VimKind::Vm, "10.0.0.1"),
                unit("cdu01", VimKind::Container, "10.1.0.1"),
            ],
            switches: FsmSwitches::default(),
        }
    }

    /// The VNFD `web_vnfr` instantiates.
    fn web_vnfd() -> tango_model::descriptor::Vnfd {
        serde_json::from_value(web_vnfd_document()).unwrap()
    }

    /// The document of [`web_vnfd`].
    fn web_vnfd_document() -> Value {
        json!({
            "vendor": "eu.wasmano", "name": "web-vnf", "version": "1.0",
            "virtual_deployment_units": [{
                "id": "vdu01", "vm_image": "web-image",
                "resource_requirements": {"cpu": {"vcpus": 1}, "memory": {"size": 512, "size_unit": "MB"}},
                "connection_points": [{"id": "eth0", "interface": "ipv4", "type": "internal"}],
            }],
            "cloudnative_deployment_units": [{
                "id": "cdu01", "image": "wasmano/web:1.0",
                "connection_points": [{"id": "eth0", "port": 8080, "type": "serviceendpoint"}],
            }],
            "virtual_links": [{
                "id": "eth0-2-cdu01", "connectivity_type": "E-Line",
                "connection_points_reference": ["cdu01:eth0", "eth0"],
                "description": "not a record field",
            }],
        })
    }

    #[test]
    fn vnfrs_put_vdus_and_cdus_where_tng_schema_and_managers_expect_them() {
        let record = web_vnfr();
        // A record stored before switches existed reads as all on.
        let mut stored = serde_json::to_value(&record).unwrap();
        stored.as_object_mut().unwrap().remove("switches");
        assert_eq!(serde_json::from_value::<VnfRecord>(stored).unwrap(), record);
        let tango = to_document(&record.to_tango(&web_vnfd()));
        assert_eq!(
            tango["virtual_deployment_units"][0]["vnfc_instance"][0]["vim_id"],
            "vim-a"
        );
        assert_eq!(
            tango["cloudnative_deployment_units"][0]["load_balancer_ip"]["floating_ip"],
            "10.1.0.1"
        );
        // Managers read the record through the SDK's view, addresses from both kinds.
        let seen: tango_model::record::Vnfr = serde_json::from_value(tango).unwrap();
        assert_eq!(seen.addresses(), ["10.0.0.1", "10.1.0.1", "10.1.0.1"]);
        assert_eq!(seen.version, Some(tango_model::Scalar::from("3")));
    }

    #[test]
    fn vnfrs_take_unit_references_requirements_and_links_from_their_vnfd() {
        let vnfd = web_vnfd();
        let tango = to_document(&web_vnfr().to_tango(&vnfd));
        assert_eq!(tango["descriptor_version"], VNFR_SCHEMA_VERSION);
        assert_eq!(
            tango["descriptor_reference"],
            descriptor_uuid("eu.wasmano/web-vnf/1.0", vnfd.uuid.as_deref()).to_string()
        );
        let vdu = &tango["virtual_deployment_units"][0];
        assert_eq!(vdu["vdu_reference"], "web-vnf:vdu01", "as 5GTANGO's SLM wrote it");
        assert_eq!(vdu["vm_image"], "web-image");
        assert_eq!(
            vdu["resource_requirements"],
            web_vnfd_document()["virtual_deployment_units"][0]["resource_requirements"]
        );
        assert_eq!(
            vdu["vnfc_instance"][0]["connection_points"][0],
            json!({"id": "eth0", "interface": {"address": "10.0.0.1"}, "type": "internal"})
        );
        let cdu = &tango["cloudnative_deployment_units"][0];
        assert_eq!(cdu["cdu_reference"], "web-vnf:cdu01");
        assert_eq!(cdu["image"], "wasmano/web:1.0");
        assert_eq!(
            cdu["connection_points"][0],
            json!({"id": "eth0", "port": 8080, "type": "serviceendpoint"})
        );
        assert_eq!(
            tango["virtual_links"],
            json!([{"id": "eth0-2-cdu01", "connectivity_type": "E-Line",
                "connection_points_reference": ["cdu01:eth0", "eth0"]}]),
            "the link's fields the VNFR schema has, and only those"
        );
        // tng-schema wants at least one VDU when the key is there.
        let mut containers_only = web_vnfr();
        containers_only
            .deployment_units
            .retain(|unit| unit.kind == VimKind::Container);
        assert!(
            to_document(&containers_only.to_tango(&vnfd))
                .get("virtual_deployment_units")
                .is_none()
        );
    }

    #[test]
    fn nsrs_list_their_vnfrs_once_there_are_some_and_carry_the_nsd_links() {
        let nsd: tango_model::descriptor::Nsd = serde_json::from_value(json!({
            "vendor": "eu.wasmano", "name": "demo", "version": "1.0", "virtual_links": [
            {"id": "backend", "connectivity_type": "E-LAN", "connection_points_reference": ["web:eth0", "db:eth0"],
             "qos_requirements": {"minimum_bandwidth": {"bandwidth": 1}}}]}))
        .unwrap();
        let mut nsr = NsRecord {
            id: "0f6b1e9c-8a55-4d0b-9d2b-2f3a0f2c9e41".into(),
            descriptor_reference: "eu.wasmano/demo/1.0".into(),
            descriptor_version: "1.0".into(),
            status: Status::Offline,
            version: 1,
            network_functions: Vec::new(),
            link_vims: BTreeMap::new(),
        };
        let created = to_document(&nsr.to_tango(&nsd));
        assert_eq!(created["descriptor_version"], NSR_SCHEMA_VERSION);
        assert!(
            created.get("network_functions").is_none(),
            "tng-schema wants at least one"
        );
        assert_eq!(
            created["virtual_links"],
            json!([{"id": "backend", "connectivity_type": "E-LAN",
                "connection_points_reference": ["web:eth0", "db:eth0"]}])
        );
        nsr.network_functions.push(web_vnfr().id);
        assert_eq!(
            to_document(&nsr.to_tango(&nsd))["network_functions"],
            json!([{"vnfr_id": "3d5c0d8e-0c4f-4f43-9a38-6a4c1c3e2b10"}])
        );
        // A link its placement manager placed names the VIM it is realised in.
        nsr.link_vims.insert("backend".into(), "edge-1".into());
        assert_eq!(
            to_document(&nsr.to_tango(&nsd))["virtual_links"][0]["vim_id"],
            json!(["edge-1"])
        );
    }

    #[test]
    fn a_descriptor_uuid_is_its_own_or_one_derived_from_its_identity_for_good() {
        let reference = "eu.wasmano/web-vnf/1.0";
        // Pinned (Python's uuid.uuid5 agrees): records written before and
        // after a restart or an upgrade name the descriptor alike.
        assert_eq!(
            descriptor_uuid(reference, None).to_string(),
            "a2b995f2-4604-5021-b9e5-8b3cc4298c2d"
        );
        assert_ne!(
            descriptor_uuid("eu.wasmano/web-vnf/1.1", None),
            descriptor_uuid(reference, None)
        );
        assert_eq!(
            descriptor_uuid(reference, Some("6A15313F-CB0A-4540-BAA2-77CC6B3F5B68")).to_string(),
            "6a15313f-cb0a-4540-baa2-77cc6b3f5b68",
            "the descriptor's own, spelled as tng-schema's pattern wants"
        );
        assert_eq!(
            descriptor_uuid(reference, Some("web")),
            descriptor_uuid(reference, None)
        );
    }
}
