//! Service-specific manager events: their requests and replies.
//!
//! A request is its event's content as the model crate types it (see
//! [`tango_model::ssm`]), with the content's raw document kept.

use serde::Deserialize;

pub use tango_model::ssm::{
    AccessPoint, ConfigureContent, EventSwitch, Function, LinkPlacement, LinkSite, MonitorContent, Nap, Placement,
    PlacementContent, ServiceEntry, SsmEvent, TaskContent, VnfPlacement, VnfSwitches, WorkflowRequest,
};
pub use tango_model::topology::{LinkQos, Nep, Sites, Topology, Vim, Wim, topology_vims};

use crate::descriptor::{LoadBalancerIp, Nsd, Vnfd};
use crate::{Document, RequestError};

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

/// The topology of a placement content, read on its own.
#[derive(Deserialize)]
struct TopologyOf {
    #[serde(default)]
    topology: Option<Topology>,
}

impl PlacementRequest {
    /// Builds a request from its content, reading the VIMs from it, in one
    /// parse of the text.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let mut content: PlacementContent = raw.parse().map_err(|error| RequestError::new("placement", error))?;
        let vims = content
            .topology
            .take()
            .and_then(|topology| topology.vims)
            .map(|sites| sites.vim_list)
            .unwrap_or_default();
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
        Ok(self.topology()?.wims)
    }

    /// The network endpoints of the topology (`topology.vims.nep_list`),
    /// read from the content when asked.
    pub fn neps(&self) -> Result<Vec<Nep>, RequestError> {
        Ok(self.topology()?.vims.map(|sites| sites.nep_list).unwrap_or_default())
    }

    fn topology(&self) -> Result<Topology, RequestError> {
        let content: TopologyOf = self.raw.parse().map_err(|error| RequestError::new("topology", error))?;
        Ok(content.topology.unwrap_or_default())
    }
}

/// A configure request: which workflow is running, the service and its VNFs.
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    /// instantiation, reconfigure, scale_out, ...
    pub workflow: Option<String>,
    /// The service's VNFs, with their descriptors and records.
    pub functions: Vec<Function>,
    /// Floating to internal address mapping of the service.
    pub ip_mapping: Vec<LoadBalancerIp>,
    /// What the manager that asked for a reconfiguration (a monitor
    /// manager) wanted the configure manager to see (5GTANGO's
    /// `service.reconfiguration_payload`).
    pub reconfiguration_payload: Option<serde_json::Value>,
    /// The whole content as sent (`service`, `ingress`, `egress`, ...).
    pub raw: Document,
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

/// A task request: the schedule of the workflow about to run.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// The step names still to run, in order (5GTANGO's task names).
    pub schedule: Vec<String>,
    /// The whole content as sent.
    pub raw: Document,
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

impl MonitorRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: MonitorContent = raw.parse().map_err(|error| RequestError::new("monitor", error))?;
        Ok(Self {
            service_id: content.service_id().map(str::to_owned),
            raw,
        })
    }
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
        let content: tango_model::ssm::StateContent = raw.parse().map_err(|error| RequestError::new("state", error))?;
        Ok(Self {
            state: content.state,
            raw,
        })
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
