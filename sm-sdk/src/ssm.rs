//! Service-specific manager events: their requests and replies.
//!
//! Requests parse from the 5GTANGO event content (the tng-sdk-sm payload
//! files), keep the raw document, and ignore fields they do not type.

use serde::Deserialize;

use crate::descriptor::{Nsd, Nsr, VimKind, Vnfd, Vnfr, string_or_number};
use crate::{Document, RequestError};

/// The events of a service-specific manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SsmEvent {
    /// Decide on which VIM each VNF runs.
    Placement,
    /// Decide which VNFs get an FSM configure event, and with what payload.
    Configure,
    /// Transform a VNF's state while it migrates.
    State,
    /// Rewrite the schedule of a workflow about to run.
    Task,
    /// React to monitoring data by asking for workflows.
    Monitor,
}

impl SsmEvent {
    /// Every SSM event, in contract order.
    pub const ALL: [SsmEvent; 5] = [Self::Placement, Self::Configure, Self::State, Self::Task, Self::Monitor];

    /// The 5GTANGO name (`ssm_type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Placement => "placement",
            Self::Configure => "configure",
            Self::State => "state",
            Self::Task => "task",
            Self::Monitor => "monitor",
        }
    }

    /// Parses a 5GTANGO name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.name() == name)
    }
}

/// One VIM of the placement topology, with its capacity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Vim {
    /// `vim_uuid`.
    #[serde(rename = "vim_uuid")]
    pub uuid: String,
    /// `type`: vm or container.
    #[serde(rename = "type")]
    pub kind: VimKind,
    /// Cores in all.
    #[serde(default)]
    pub core_total: f64,
    /// Cores already in use.
    #[serde(default)]
    pub core_used: f64,
    /// Memory in all (MB in 5GTANGO topologies).
    #[serde(default)]
    pub memory_total: f64,
    /// Memory already in use.
    #[serde(default)]
    pub memory_used: f64,
    /// `vim_name`.
    #[serde(default, rename = "vim_name")]
    pub name: Option<String>,
    /// `vim_city`.
    #[serde(default, rename = "vim_city")]
    pub city: Option<String>,
    /// `vim_endpoint`.
    #[serde(default, rename = "vim_endpoint")]
    pub endpoint: Option<String>,
}

impl Vim {
    /// Cores not yet in use.
    pub fn free_cores(&self) -> f64 {
        self.core_total - self.core_used
    }

    /// Memory not yet in use.
    pub fn free_memory(&self) -> f64 {
        self.memory_total - self.memory_used
    }
}

/// One WIM of the placement topology (`topology.wims`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Wim {
    /// `uuid`.
    pub uuid: String,
    /// `name`.
    pub name: Option<String>,
    /// The VIMs it connects.
    pub attached_vims: Vec<String>,
    /// The network endpoints it connects.
    pub attached_endpoints: Vec<String>,
    /// The quality of its links.
    pub qos: Vec<LinkQos>,
}

/// The quality of the link a WIM offers between two nodes (VIMs or NEPs).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LinkQos {
    /// One end (`node_1`).
    #[serde(rename = "node_1")]
    pub node_a: String,
    /// The other end (`node_2`).
    #[serde(rename = "node_2")]
    pub node_b: String,
    /// `latency`, in `latency_unit` (ms when absent).
    pub latency: Option<f64>,
    /// `latency_unit`: s, ms or us.
    pub latency_unit: Option<String>,
    /// `bandwidth`, in `bandwidth_unit` (Mbps when absent).
    pub bandwidth: Option<f64>,
    /// `bandwidth_unit`: bps, kbps, Mbps or Gbps.
    pub bandwidth_unit: Option<String>,
}

impl LinkQos {
    /// The latency in milliseconds, when known in a unit this SDK reads.
    pub fn latency_ms(&self) -> Option<f64> {
        let factor = match self.latency_unit.as_deref().unwrap_or("ms") {
            "s" => 1e3,
            "ms" => 1.0,
            "us" => 1e-3,
            _ => return None,
        };
        Some(self.latency? * factor)
    }

    /// The bandwidth in Mbit/s, when known in a unit this SDK reads.
    pub fn bandwidth_mbps(&self) -> Option<f64> {
        let factor = match self.bandwidth_unit.as_deref().unwrap_or("Mbps") {
            "bps" => 1e-6,
            "kbps" | "Kbps" => 1e-3,
            "Mbps" => 1.0,
            "Gbps" => 1e3,
            _ => return None,
        };
        Some(self.bandwidth? * factor)
    }
}

/// A network endpoint (NEP) of the topology (`topology.vims.nep_list`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Nep {
    /// `nep_uuid`.
    #[serde(rename = "nep_uuid")]
    pub uuid: String,
    /// `nep_name`.
    #[serde(rename = "nep_name")]
    pub name: Option<String>,
}

/// `topology` as a request reads it up front: its VIMs. The WIMs and NEPs
/// stay in the document until a manager asks for them
/// ([`PlacementRequest::wims`], [`PlacementRequest::neps`]).
#[derive(Deserialize)]
struct VimsContent {
    #[serde(default)]
    vims: Option<VimList>,
}

#[derive(Deserialize)]
struct VimList {
    #[serde(default)]
    vim_list: Option<Vec<Vim>>,
}

impl VimsContent {
    fn into_vims(self) -> Vec<Vim> {
        self.vims.and_then(|vims| vims.vim_list).unwrap_or_default()
    }
}

/// `topology` as [`PlacementRequest::wims`] and [`PlacementRequest::neps`]
/// read it.
#[derive(Deserialize)]
struct NetworkContent {
    #[serde(default)]
    topology: Option<NetworkTopology>,
}

#[derive(Deserialize)]
struct NetworkTopology {
    #[serde(default)]
    vims: Option<NepList>,
    #[serde(default)]
    wims: Option<Vec<Wim>>,
}

#[derive(Deserialize)]
struct NepList {
    #[serde(default)]
    nep_list: Option<Vec<Nep>>,
}

/// Reads the typed VIMs (`topology.vims.vim_list`) of a placement content:
/// what the host passes typed with the request.
pub fn topology_vims(content: &serde_json::Value) -> Result<Vec<Vim>, RequestError> {
    match content.get("topology") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(topology) => VimsContent::deserialize(topology)
            .map(VimsContent::into_vims)
            .map_err(|error| RequestError::new("topology", error)),
    }
}

/// A placement request.
#[derive(Debug, Clone)]
pub struct PlacementRequest {
    /// The service instance (`uuid`).
    pub service_id: Option<String>,
    /// The service's descriptor.
    pub nsd: Nsd,
    /// One descriptor per VNF instance to place.
    pub vnfds: Vec<Vnfd>,
    /// The VIMs available, with their capacity.
    pub vims: Vec<Vim>,
    /// The whole content as sent (`topology` with its WIMs and NEPs,
    /// `nap`, ...).
    pub raw: Document,
}

/// What a placement request's content holds; `T` is the topology's typed
/// VIMs, or [`serde::de::IgnoredAny`] when they arrive typed already.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct PlacementContent<T> {
    #[serde(default, rename = "uuid", deserialize_with = "string_or_number")]
    service_id: Option<String>,
    #[serde(default)]
    nsd: Nsd,
    #[serde(default)]
    vnfds: Vec<Vnfd>,
    #[serde(default)]
    topology: Option<T>,
}

impl PlacementRequest {
    /// Builds a request from its content, reading the VIMs from it, in one
    /// parse of the text.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let mut content: PlacementContent<VimsContent> =
            raw.parse().map_err(|error| RequestError::new("placement", error))?;
        let vims = content.topology.take().map(VimsContent::into_vims).unwrap_or_default();
        Ok(Self::from_content(raw, content, vims))
    }

    /// Builds a request from its content and its VIMs already typed (the
    /// topology in the text is skipped, not parsed again).
    pub fn with_vims(raw: Document, vims: Vec<Vim>) -> Result<Self, RequestError> {
        let content: PlacementContent<serde::de::IgnoredAny> =
            raw.parse().map_err(|error| RequestError::new("placement", error))?;
        Ok(Self::from_content(raw, content, vims))
    }

    fn from_content<T>(raw: Document, content: PlacementContent<T>, vims: Vec<Vim>) -> Self {
        Self {
            service_id: content.service_id,
            nsd: content.nsd,
            vnfds: content.vnfds,
            vims,
            raw,
        }
    }

    /// The WIMs joining VIMs and endpoints, with their links' quality
    /// (`topology.wims`), read from the content when asked: a placement that
    /// does not look at the network does not pay for typing it.
    pub fn wims(&self) -> Result<Vec<Wim>, RequestError> {
        Ok(self.network()?.wims.unwrap_or_default())
    }

    /// The network endpoints of the topology (`topology.vims.nep_list`),
    /// read from the content when asked.
    pub fn neps(&self) -> Result<Vec<Nep>, RequestError> {
        Ok(self.network()?.vims.and_then(|vims| vims.nep_list).unwrap_or_default())
    }

    fn network(&self) -> Result<NetworkTopology, RequestError> {
        let content: NetworkContent = self.raw.parse().map_err(|error| RequestError::new("topology", error))?;
        Ok(content.topology.unwrap_or(NetworkTopology { vims: None, wims: None }))
    }
}

/// A placement: where each VNF instance goes, and the virtual links the
/// manager places itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Every VNF instance of the request, on its VIM.
    pub vnfs: Vec<VnfPlacement>,
    /// Virtual links of the NSD, on a WIM or inside a VIM; links left out
    /// are the orchestrator's to realise.
    pub links: Vec<LinkPlacement>,
}

impl Placement {
    /// A placement of VNFs only.
    pub fn of_vnfs(vnfs: Vec<VnfPlacement>) -> Self {
        Self {
            vnfs,
            links: Vec::new(),
        }
    }
}

/// Where one VNF instance goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VnfPlacement {
    /// The VNF instance (its `instance_uuid`, else its `uuid`).
    pub vnf: String,
    /// The chosen VIM's uuid.
    pub vim: String,
}

/// Where one virtual link of the NSD goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlacement {
    /// The link's `id` in the NSD.
    pub link: String,
    /// Where it is realised.
    pub site: LinkSite,
}

/// Where a virtual link is realised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSite {
    /// Inside one VIM (every end there): the VIM's uuid.
    Vim(String),
    /// Across VIMs, on a WIM: the WIM's uuid.
    Wim(String),
}

/// A configure request: which workflow is running, the service and its VNFs.
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    /// instantiation, reconfigure, scale_out, ...
    pub workflow: Option<String>,
    /// The service's VNFs, with their descriptors and records.
    pub functions: Vec<Function>,
    /// Floating to internal address mapping of the service.
    pub ip_mapping: Vec<IpMapping>,
    /// What the manager that asked for a reconfiguration (a monitor
    /// manager) wanted the configure manager to see (5GTANGO's
    /// `service.reconfiguration_payload`).
    pub reconfiguration_payload: Option<serde_json::Value>,
    /// The whole content as sent (`service`, `ingress`, `egress`, ...).
    pub raw: Document,
}

/// One VNF of a configure request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Function {
    /// The VNF instance id.
    pub id: Option<String>,
    /// The VIM it was placed on.
    pub vim_uuid: Option<String>,
    /// Its descriptor.
    pub vnfd: Option<Vnfd>,
    /// Its record.
    pub vnfr: Option<Vnfr>,
    /// Whether it is deployed yet.
    pub deployed: Option<bool>,
    /// The deployment flavour, when the descriptor has several.
    pub flavour: Option<String>,
    /// Whether its FSM start fires, and with which payload.
    pub start: Option<EventSwitch>,
    /// Whether its FSM stop fires, and with which payload.
    pub stop: Option<EventSwitch>,
    /// Whether its FSM configure fires, and with which payload.
    pub configure: Option<EventSwitch>,
    /// Whether its FSM scale fires, and with which payload.
    pub scale: Option<EventSwitch>,
}

impl Function {
    /// The VNF instance id: `id`, else its record's id.
    pub fn instance_id(&self) -> Option<&str> {
        self.id
            .as_deref()
            .or_else(|| self.vnfr.as_ref().map(|vnfr| vnfr.id.as_str()))
            .filter(|id| !id.is_empty())
    }
}

/// A floating address and the internal address it maps to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IpMapping {
    /// Address reachable from outside.
    pub floating_ip: Option<String>,
    /// Address inside the VIM.
    pub internal_ip: Option<String>,
}

#[derive(Deserialize)]
struct ConfigureContent {
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    functions: Vec<Function>,
    #[serde(default, deserialize_with = "null_as_empty")]
    ip_mapping: Vec<IpMapping>,
    #[serde(default)]
    service: Option<ServiceEntry>,
}

/// The part of the SLM's ledger entry the typed request reads.
#[derive(Deserialize)]
struct ServiceEntry {
    #[serde(default)]
    reconfiguration_payload: Option<serde_json::Value>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpMapping>, D::Error> {
    Ok(Option::<Vec<IpMapping>>::deserialize(deserializer)?.unwrap_or_default())
}

impl ConfigureRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: ConfigureContent = raw.parse().map_err(|error| RequestError::new("configure", error))?;
        Ok(Self {
            workflow: content.workflow,
            functions: content.functions,
            ip_mapping: content.ip_mapping,
            reconfiguration_payload: content.service.and_then(|service| service.reconfiguration_payload),
            raw,
        })
    }
}

/// Whether one FSM event fires for a VNF, and with which payload (5GTANGO's
/// `{trigger, payload}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct EventSwitch {
    /// Whether the event fires.
    pub trigger: bool,
    /// The payload it gets instead of the default one, if any (5GTANGO's
    /// empty mapping means none).
    #[serde(deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

impl EventSwitch {
    /// The event fires, with the default payload.
    pub fn on() -> Self {
        Self {
            trigger: true,
            payload: None,
        }
    }

    /// The event does not fire.
    pub fn off() -> Self {
        Self::default()
    }

    /// The event fires with this payload.
    pub fn with_payload(payload: serde_json::Value) -> Self {
        Self {
            trigger: true,
            payload: Some(payload),
        }
    }
}

fn empty_as_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.filter(|value| !value.is_null() && value.as_object().is_none_or(|fields| !fields.is_empty())))
}

/// The reply to a configure event for one VNF: the FSM events it switches;
/// those left `None` keep their current setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VnfSwitches {
    /// The VNF instance id.
    pub id: String,
    /// FSM start.
    pub start: Option<EventSwitch>,
    /// FSM stop.
    pub stop: Option<EventSwitch>,
    /// FSM configure.
    pub configure: Option<EventSwitch>,
    /// FSM scale.
    pub scale: Option<EventSwitch>,
}

impl VnfSwitches {
    /// Switches only the VNF's FSM configure event.
    pub fn configure(id: impl Into<String>, switch: EventSwitch) -> Self {
        Self {
            id: id.into(),
            configure: Some(switch),
            ..Self::default()
        }
    }
}

/// A task request: the schedule of the workflow about to run.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// The step names still to run, in order (5GTANGO's task names).
    pub schedule: Vec<String>,
    /// The whole content as sent.
    pub raw: Document,
}

#[derive(Deserialize)]
struct TaskContent {
    schedule: Vec<String>,
}

impl TaskRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: TaskContent = raw.parse().map_err(|error| RequestError::new("task", error))?;
        Ok(Self {
            schedule: content.schedule,
            raw,
        })
    }
}

/// A monitor request: monitoring data about the service (an alert, or the
/// service's records when monitoring starts), whatever its shape.
#[derive(Debug, Clone)]
pub struct MonitorRequest {
    /// The service instance the data is about, when the content names it
    /// (`service_instance_id`, else the NSR's `id`).
    pub service_id: Option<String>,
    /// The whole content as sent.
    pub raw: Document,
}

#[derive(Deserialize)]
struct MonitorContent {
    #[serde(default)]
    service_instance_id: Option<String>,
    #[serde(default)]
    nsr: Option<Nsr>,
}

impl MonitorRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: MonitorContent = raw.parse().map_err(|error| RequestError::new("monitor", error))?;
        Ok(Self {
            service_id: content.service_instance_id.or(content.nsr.map(|nsr| nsr.id)),
            raw,
        })
    }
}

/// A workflow a monitor event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkflowRequest {
    /// Add `instances` instances of the NSD's VNF `vnf` (its `vnf_id`).
    ScaleOut {
        /// The VNF's id in the NSD.
        vnf: String,
        /// How many instances to add.
        instances: u32,
    },
    /// Remove these VNF instances.
    ScaleIn(Vec<String>),
    /// Reconfigure the service, with this reconfiguration payload.
    Reconfigure(Option<serde_json::Value>),
}

/// A state request: the state an FSM extracted from the migrating VNF.
#[derive(Debug, Clone)]
pub struct StateRequest {
    /// The extracted state (`state`), whatever shape the FSM gave it.
    pub state: serde_json::Value,
    /// The whole content as sent.
    pub raw: Document,
}

impl StateRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let mut value = raw.value().map_err(|error| RequestError::new("state", error))?;
        let state = value
            .get_mut("state")
            .map(serde_json::Value::take)
            .ok_or_else(|| RequestError::missing("state"))?;
        Ok(Self { state, raw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configure_request_reads_the_reconfiguration_payload_of_the_service() {
        let request = ConfigureRequest::from_document(Document::from_json(
            r#"{"workflow": "reconfigure", "service": {"id": "s1", "reconfiguration_payload": {"quarantine_state": true}}, "functions": []}"#,
        ))
        .unwrap();
        assert_eq!(
            request.reconfiguration_payload,
            Some(serde_json::json!({"quarantine_state": true}))
        );
        let plain = ConfigureRequest::from_document(Document::from_json(r#"{"service": {"id": "s1"}}"#)).unwrap();
        assert_eq!(plain.reconfiguration_payload, None);
    }

    #[test]
    fn a_configure_function_reads_5gtango_switches_and_an_empty_payload_is_the_default() {
        let text = r#"{"functions": [{"id": "v1", "deployed": true, "flavour": null,
            "start": {"trigger": true, "payload": {}},
            "stop": {"trigger": false},
            "configure": {"trigger": true, "payload": {"message": "hi"}}}]}"#;
        let request = ConfigureRequest::from_document(Document::from_json(text)).unwrap();
        let function = &request.functions[0];
        assert_eq!(function.deployed, Some(true));
        assert_eq!(function.start, Some(EventSwitch::on()));
        assert_eq!(function.stop, Some(EventSwitch::off()));
        assert_eq!(
            function.configure,
            Some(EventSwitch::with_payload(serde_json::json!({"message": "hi"})))
        );
        assert_eq!(function.scale, None);
    }

    #[test]
    fn a_placement_document_gives_its_vims_in_one_parse() {
        let text =
            r#"{"uuid": 7, "topology": {"vims": {"vim_list": [{"vim_uuid": "a", "type": "vm", "core_total": 4}]}}}"#;
        let request = PlacementRequest::from_document(Document::from_json(text)).unwrap();
        assert_eq!(request.service_id.as_deref(), Some("7"));
        assert_eq!(request.vims.len(), 1);
        assert_eq!(request.vims[0].uuid, "a");
        for empty in [
            r#"{}"#,
            r#"{"topology": null}"#,
            r#"{"topology": {"vims": {"vim_list": null}}}"#,
        ] {
            let request = PlacementRequest::from_document(Document::from_json(empty)).unwrap();
            assert!(request.vims.is_empty(), "{empty}");
        }
        let typed = PlacementRequest::with_vims(Document::from_json(text), Vec::new()).unwrap();
        assert!(typed.vims.is_empty(), "typed VIMs win over the text's");
    }

    #[test]
    fn wims_and_neps_are_read_from_the_document_when_asked() {
        let text = r#"{"topology": {
            "vims": {"vim_list": [], "nep_list": [{"nep_uuid": "n1", "nep_name": "bcn-1", "type": "endpoint"}]},
            "wims": [{"uuid": "w", "attached_vims": ["a"], "qos": [
                {"node_1": "a", "node_2": "n1", "latency": 0.01, "latency_unit": "s", "bandwidth": 1, "bandwidth_unit": "Gbps"}
            ]}]}}"#;
        let request = PlacementRequest::with_vims(Document::from_json(text), Vec::new()).unwrap();
        let wims = request.wims().unwrap();
        assert_eq!(wims[0].attached_vims, ["a"]);
        assert_eq!(wims[0].qos[0].latency_ms(), Some(10.0));
        assert_eq!(wims[0].qos[0].bandwidth_mbps(), Some(1000.0));
        assert_eq!(request.neps().unwrap()[0].name.as_deref(), Some("bcn-1"));
        let bare = PlacementRequest::from_document(Document::from_json("{}")).unwrap();
        assert!(bare.wims().unwrap().is_empty() && bare.neps().unwrap().is_empty());
        let malformed =
            PlacementRequest::with_vims(Document::from_json(r#"{"topology": {"wims": 3}}"#), Vec::new()).unwrap();
        assert!(malformed.wims().unwrap_err().to_string().contains("topology"));
    }
}
