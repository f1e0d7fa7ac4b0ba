//! Service-specific manager events: their requests and replies.
//!
//! Requests parse from the 5GTANGO event content (the tng-sdk-sm payload
//! files), keep the raw document, and ignore fields they do not type.

use serde::Deserialize;

use crate::descriptor::{Nsd, VimKind, Vnfd, Vnfr, string_or_number};
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
}

impl SsmEvent {
    /// Every SSM event, in contract order.
    pub const ALL: [SsmEvent; 3] = [Self::Placement, Self::Configure, Self::State];

    /// The 5GTANGO name (`ssm_type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Placement => "placement",
            Self::Configure => "configure",
            Self::State => "state",
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

/// Reads the VIM list (`topology.vims.vim_list`) of a placement content.
pub fn topology_vims(content: &serde_json::Value) -> Result<Vec<Vim>, RequestError> {
    match content.pointer("/topology/vims/vim_list") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(list) => Vec::<Vim>::deserialize(list).map_err(|error| RequestError::new("topology.vims.vim_list", error)),
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
    /// The whole content as sent (topology, `nap`, WIMs, ...).
    pub raw: Document,
}

/// What a placement request's content holds; `Topology` is the typed
/// topology, or [`serde::de::IgnoredAny`] when the VIMs arrive typed already.
#[derive(Deserialize)]
#[serde(bound(deserialize = "Topology: Deserialize<'de>"))]
struct PlacementContent<Topology> {
    #[serde(default, rename = "uuid", deserialize_with = "string_or_number")]
    service_id: Option<String>,
    #[serde(default)]
    nsd: Nsd,
    #[serde(default)]
    vnfds: Vec<Vnfd>,
    #[serde(default)]
    topology: Option<Topology>,
}

/// `topology.vims.vim_list`, each level optional.
#[derive(Deserialize)]
struct PlacementTopology {
    #[serde(default)]
    vims: Option<TopologyVims>,
}

#[derive(Deserialize)]
struct TopologyVims {
    #[serde(default)]
    vim_list: Option<Vec<Vim>>,
}

impl PlacementRequest {
    /// Builds a request from its content, reading the VIMs from its topology,
    /// in one parse of the text.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let mut content: PlacementContent<PlacementTopology> =
            raw.parse().map_err(|error| RequestError::new("placement", error))?;
        let vims = content
            .topology
            .take()
            .and_then(|topology| topology.vims)
            .and_then(|vims| vims.vim_list)
            .unwrap_or_default();
        Ok(Self::from_content(raw, content, vims))
    }

    /// Builds a request from its content and a VIM list already typed (the
    /// topology in the text is skipped, not parsed again).
    pub fn with_vims(raw: Document, vims: Vec<Vim>) -> Result<Self, RequestError> {
        let content: PlacementContent<serde::de::IgnoredAny> =
            raw.parse().map_err(|error| RequestError::new("placement", error))?;
        Ok(Self::from_content(raw, content, vims))
    }

    fn from_content<Topology>(raw: Document, content: PlacementContent<Topology>, vims: Vec<Vim>) -> Self {
        Self {
            service_id: content.service_id,
            nsd: content.nsd,
            vnfds: content.vnfds,
            vims,
            raw,
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

/// A configure request: which workflow is running, the service and its VNFs.
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    /// instantiation, reconfigure, scale_out, ...
    pub workflow: Option<String>,
    /// The service's VNFs, with their descriptors and records.
    pub functions: Vec<Function>,
    /// Floating to internal address mapping of the service.
    pub ip_mapping: Vec<IpMapping>,
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
            raw,
        })
    }
}

/// The decision for one VNF in reply to a configure event.
#[derive(Debug, Clone, PartialEq)]
pub struct VnfConfigure {
    /// The VNF instance id.
    pub id: String,
    /// Whether its FSM configure event fires.
    pub trigger: bool,
    /// The payload it gets instead of the default one, if any.
    pub payload: Option<serde_json::Value>,
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
}
