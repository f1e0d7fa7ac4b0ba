//! Function-specific manager events: their requests and replies.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::descriptor::{Nsr, Vnfd, Vnfr};
use crate::{Document, RequestError};

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct GenericEnvs {
    /// The unit: `<unit id>-<VNF instance id>`.
    pub cdu_id: String,
    /// The envs.
    #[serde(deserialize_with = "scalar_values")]
    pub envs: BTreeMap<String, String>,
}

fn scalar_values<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let values = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(values
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            (key, text)
        })
        .collect())
}

/// A start or stop request: the VNF's descriptor and record.
#[derive(Debug, Clone)]
pub struct LifecycleRequest {
    /// The VNF's descriptor.
    pub vnfd: Vnfd,
    /// The VNF's record.
    pub vnfr: Vnfr,
    /// Where the peers of the VNF's container units are.
    pub generic_envs: Vec<GenericEnvs>,
    /// The whole content as sent.
    pub raw: Document,
}

#[derive(Deserialize)]
struct LifecycleContent {
    vnfd: Vnfd,
    vnfr: Vnfr,
    #[serde(default, deserialize_with = "null_as_empty")]
    generic_envs: Vec<GenericEnvs>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<GenericEnvs>, D::Error> {
    Ok(Option::<Vec<GenericEnvs>>::deserialize(deserializer)?.unwrap_or_default())
}

impl LifecycleRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: LifecycleContent = raw.parse().map_err(|error| RequestError::new("start/stop", error))?;
        Ok(Self {
            vnfd: content.vnfd,
            vnfr: content.vnfr,
            generic_envs: content.generic_envs,
            raw,
        })
    }
}

/// A scale request: one instance of the scaled VNF, how it was scaled, and
/// the service's records after the scaling.
#[derive(Debug, Clone)]
pub struct ScaleRequest {
    /// The VNF's descriptor.
    pub vnfd: Vnfd,
    /// The record of the instance this event is for.
    pub vnfr: Vnfr,
    /// How the VNF was scaled.
    pub scale: Scaling,
    /// The records of every instance of the service after the scaling.
    pub vnfrs: Vec<Vnfr>,
    /// Where the peers of this instance's container units are.
    pub generic_envs: Vec<GenericEnvs>,
    /// The whole content as sent.
    pub raw: Document,
}

/// How a VNF was scaled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
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

#[derive(Deserialize)]
struct ScaleContent {
    vnfd: Vnfd,
    vnfr: Vnfr,
    scale: Scaling,
    #[serde(default)]
    vnfrs: Vec<Vnfr>,
    #[serde(default, deserialize_with = "null_as_empty")]
    generic_envs: Vec<GenericEnvs>,
}

impl ScaleRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: ScaleContent = raw.parse().map_err(|error| RequestError::new("scale", error))?;
        Ok(Self {
            vnfd: content.vnfd,
            vnfr: content.vnfr,
            scale: content.scale,
            vnfrs: content.vnfrs,
            generic_envs: content.generic_envs,
            raw,
        })
    }
}

/// A configure request: by default the service record and its VNF records;
/// a configure SSM may have replaced it with a payload of its own, which is
/// then only in `raw`.
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    /// The service's record, when sent.
    pub nsr: Option<Nsr>,
    /// The records of the service's VNFs.
    pub vnfrs: Vec<Vnfr>,
    /// Where the peers of the VNF's container units are.
    pub generic_envs: Vec<GenericEnvs>,
    /// The whole content as sent (`ingress`, `egress`, ...).
    pub raw: Document,
}

#[derive(Deserialize)]
struct ConfigureContent {
    #[serde(default)]
    nsr: Option<Nsr>,
    #[serde(default)]
    vnfrs: Option<Vec<Vnfr>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    generic_envs: Vec<GenericEnvs>,
}

impl ConfigureRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: ConfigureContent = raw.parse().map_err(|error| RequestError::new("configure", error))?;
        Ok(Self {
            nsr: content.nsr,
            vnfrs: content.vnfrs.unwrap_or_default(),
            generic_envs: content.generic_envs,
            raw,
        })
    }
}

/// A state request.
#[derive(Debug, Clone)]
pub struct StateRequest {
    /// What to do, with the VNF's record.
    pub action: StateAction,
    /// The whole content as sent.
    pub raw: Document,
}

/// What a state event asks for.
#[derive(Debug, Clone)]
pub enum StateAction {
    /// Extract the VNF's state; the reply carries it.
    Extract {
        /// The VNF's record.
        vnfr: Vnfr,
    },
    /// Inject state into the (new) VNF.
    Inject {
        /// The VNF's record.
        vnfr: Vnfr,
        /// The state to inject.
        state: serde_json::Value,
    },
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum StateContent {
    Extract {
        vnfr: Vnfr,
    },
    Inject {
        vnfr: Vnfr,
        #[serde(default)]
        state: serde_json::Value,
    },
}

impl StateRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let action = match raw.parse().map_err(|error| RequestError::new("state", error))? {
            StateContent::Extract { vnfr } => StateAction::Extract { vnfr },
            StateContent::Inject { vnfr, state } => StateAction::Inject { vnfr, state },
        };
        Ok(Self { action, raw })
    }
}

/// The reply to a state event.
#[derive(Debug, Clone, PartialEq)]
pub enum StateReply {
    /// To extract: the state to persist (5GTANGO's `persist`).
    Extracted(serde_json::Value),
    /// To inject: the state was applied.
    Injected,
}
