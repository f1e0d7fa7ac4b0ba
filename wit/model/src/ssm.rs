//! Service-specific manager events: their names, the content of their
//! requests (as 5GTANGO's SLM sent them) and their typed replies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::descriptor::{Nsd, Vnfd};
use crate::record::{LoadBalancerIp, Nsr, Vnfr};
use crate::topology::Topology;
use crate::{Unknown, id_text, null_as_default};

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

/// The content of a placement request. `T` is the topology's type: a guest
/// that has the VIMs typed already skips it
/// ([`serde::de::IgnoredAny`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    bound(deserialize = "T: Deserialize<'de> + Default", serialize = "T: Serialize")
)]
pub struct PlacementContent<T = Topology> {
    /// The service instance (`uuid`).
    #[serde(
        rename = "uuid",
        deserialize_with = "id_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_id: Option<String>,
    /// The service's descriptor.
    pub nsd: Nsd,
    /// One descriptor per VNF instance to place, each with its
    /// `instance_uuid`.
    pub vnfds: Vec<Vnfd>,
    /// The infrastructure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<T>,
    /// The service's network access points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nap: Option<Nap>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// Where a service's traffic enters and leaves (`nap`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nap {
    /// Ingress points.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub ingresses: Vec<AccessPoint>,
    /// Egress points.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub egresses: Vec<AccessPoint>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A network access point: a location and the address range there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessPoint {
    /// The location (a VIM's city or a NEP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The address or range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nap: Option<String>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
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

/// The content of an SSM configure request: which workflow is running, the
/// service and its VNFs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigureContent {
    /// instantiation, reconfigure, scale_out, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The SLM's ledger entry of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceEntry>,
    /// The service's VNFs, with their descriptors, records and switches.
    #[serde(deserialize_with = "null_as_default")]
    pub functions: Vec<Function>,
    /// Where traffic enters the service.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<AccessPoint>,
    /// Where traffic leaves the service.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<AccessPoint>,
    /// Floating to internal address mapping of the service's units.
    #[serde(deserialize_with = "null_as_default")]
    pub ip_mapping: Vec<LoadBalancerIp>,
    /// Every other field (`ssm_type`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The SLM's ledger entry of a service, as a configure SSM reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceEntry {
    /// The service instance id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the manager that asked for a reconfiguration (a monitor
    /// manager) wanted the configure manager to see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconfiguration_payload: Option<Value>,
    /// Every other field (the service's `nsd` and `nsr`: typing them would
    /// cost every configure call, and the functions' entries carry what
    /// managers read), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// One VNF of a configure request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Function {
    /// The VNF instance id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The VIM it was placed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vim_uuid: Option<String>,
    /// Its descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnfd: Option<Vnfd>,
    /// Its record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnfr: Option<Vnfr>,
    /// Whether it is deployed yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<bool>,
    /// The deployment flavour, when the descriptor has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavour: Option<String>,
    /// Whether its FSM start fires, and with which payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<EventSwitch>,
    /// Whether its FSM stop fires, and with which payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<EventSwitch>,
    /// Whether its FSM configure fires, and with which payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configure: Option<EventSwitch>,
    /// Whether its FSM scale fires, and with which payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<EventSwitch>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
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

/// Whether one FSM event fires for a VNF, and with which payload (5GTANGO's
/// `{trigger, payload}`). 5GTANGO writes `payload: {}` for "the default
/// payload"; such a switch equals one without a payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EventSwitch {
    /// Whether the event fires.
    pub trigger: bool,
    /// The payload as written, `{}` included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
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
    pub fn with_payload(payload: Value) -> Self {
        Self {
            trigger: true,
            payload: Some(payload),
        }
    }

    /// The payload the event gets instead of its default one: none when
    /// absent, null or `{}`.
    pub fn custom_payload(&self) -> Option<&Value> {
        self.payload
            .as_ref()
            .filter(|payload| !payload.is_null() && payload.as_object().is_none_or(|fields| !fields.is_empty()))
    }
}

impl PartialEq for EventSwitch {
    fn eq(&self, other: &Self) -> bool {
        self.trigger == other.trigger && self.custom_payload() == other.custom_payload()
    }
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

/// The content of a task request: the schedule of the workflow about to
/// run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskContent {
    /// The step names still to run, in order (5GTANGO's task names).
    pub schedule: Vec<String>,
    /// Every other field (`ssm_type`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The content of a monitor request: monitoring data about the service (an
/// alert, or the service's descriptors and records when monitoring starts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorContent {
    /// The service instance an alert is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_instance_id: Option<String>,
    /// The service's descriptor, when monitoring starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsd: Option<Nsd>,
    /// The service's record, when monitoring starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsr: Option<Nsr>,
    /// The service's VNFs, when monitoring starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vnfs: Vec<MonitoredFunction>,
    /// Every other field (an alert's own fields, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

impl MonitorContent {
    /// The service instance the data is about: `service_instance_id`, else
    /// the NSR's `id`.
    pub fn service_id(&self) -> Option<&str> {
        self.service_instance_id
            .as_deref()
            .or_else(|| self.nsr.as_ref().map(|nsr| nsr.id.as_str()))
    }
}

/// One VNF of the service, as monitoring sees it start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitoredFunction {
    /// The VNF instance id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnfd: Option<Vnfd>,
    /// Its record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnfr: Option<Vnfr>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
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
    Reconfigure(Option<Value>),
}

/// The content of an SSM state request: the state an FSM extracted from
/// the migrating VNF.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateContent {
    /// The extracted state, whatever shape the FSM gave it.
    pub state: Value,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}
