//! Function-specific manager events: their names, the content of their
//! requests (as 5GTANGO's FLM sent them) and their typed replies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::descriptor::Vnfd;
use crate::record::{Nsr, Vnfr};
use crate::ssm::AccessPoint;
use crate::{Scalar, Unknown, null_as_default};

/// The events of a function-specific manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsmEvent {
    /// The VNF was deployed.
    Start,
    /// The VNF is about to be removed.
    Stop,
    /// Configure the VNF.
    Configure,
    /// Extract state from the VNF or inject state into it.
    State,
    /// The VNF's instances were scaled.
    Scale,
}

impl FsmEvent {
    /// Every FSM event, in contract order.
    pub const ALL: [FsmEvent; 5] = [Self::Start, Self::Stop, Self::Configure, Self::State, Self::Scale];

    /// The 5GTANGO name (`fsm_type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Configure => "configure",
            Self::State => "state",
            Self::Scale => "scale",
        }
    }

    /// Parses a 5GTANGO name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.name() == name)
    }
}

/// The envs 5GTANGO computes for one container unit from the service's
/// records (`generic_envs`): where its peers are. wasmano names them
/// `<VNF>_<UNIT>_IP`, `<VNF>_<UNIT>_<CP>_PORT` and `<VNF>_<UNIT>_<CP>_TYPE`
/// for every other container unit of the service (VNF and unit ids
/// upper-cased, other characters than letters and digits as `_`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericEnvs {
    /// The unit: `<unit id>-<VNF instance id>`.
    pub cdu_id: String,
    /// The envs. Env values are text: one written as a number or a boolean
    /// reads as its text.
    #[serde(default, deserialize_with = "env_values")]
    pub envs: BTreeMap<String, String>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

fn env_values<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let values: BTreeMap<String, Scalar> = null_as_default(deserializer)?;
    Ok(values
        .into_iter()
        .map(|(key, value)| (key, value.to_string()))
        .collect())
}

/// The content of a start or stop request: the VNF's descriptor and
/// record, and where the peers of its container units are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleContent {
    /// The VNF's descriptor.
    pub vnfd: Vnfd,
    /// The VNF's record.
    pub vnfr: Vnfr,
    /// Where the peers of the VNF's container units are.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub generic_envs: Vec<GenericEnvs>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The content of a scale request: one instance of the scaled VNF, how it
/// was scaled, and the service's records after the scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleContent {
    /// The VNF's descriptor.
    pub vnfd: Vnfd,
    /// The record of the instance this event is for.
    pub vnfr: Vnfr,
    /// How the VNF was scaled.
    pub scale: Scaling,
    /// The service's record after the scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsr: Option<Nsr>,
    /// The records of every instance of the service after the scaling.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub vnfrs: Vec<Vnfr>,
    /// Where the peers of this instance's container units are.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub generic_envs: Vec<GenericEnvs>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// How a VNF was scaled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scaling {
    /// `out` or `in`.
    pub direction: String,
    /// The VNF's id in the NSD.
    pub vnf_id: String,
    /// The instances added.
    pub added: Vec<String>,
    /// The instances removed.
    pub removed: Vec<String>,
}

/// The content of an FSM configure request: by default the service's record
/// and its VNFs' records; a configure SSM may have replaced it with a
/// payload of its own, whose fields are then in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigureContent {
    /// The service's record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsr: Option<Nsr>,
    /// The records of the service's VNFs.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub vnfrs: Vec<Vnfr>,
    /// Where traffic enters the service.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<AccessPoint>,
    /// Where traffic leaves the service.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<AccessPoint>,
    /// Where the peers of the VNF's container units are.
    #[serde(deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub generic_envs: Vec<GenericEnvs>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The content of an FSM state request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateContent {
    /// What to do.
    pub action: StateActionName,
    /// The VNF's record.
    pub vnfr: Vnfr,
    /// To inject: the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// What an FSM state request asks for (`action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateActionName {
    /// Extract the VNF's state; the reply carries it.
    Extract,
    /// Inject `state` into the (new) VNF.
    Inject,
}

/// The reply to an FSM state event.
#[derive(Debug, Clone, PartialEq)]
pub enum StateReply {
    /// To extract: the state to persist (5GTANGO's `persist`).
    Extracted(Value),
    /// To inject: the state was applied.
    Injected,
}
