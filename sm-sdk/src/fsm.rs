//! Function-specific manager events: their requests and replies.

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
}

impl FsmEvent {
    /// Every FSM event, in contract order.
    pub const ALL: [FsmEvent; 4] = [Self::Start, Self::Stop, Self::Configure, Self::State];

    /// The 5GTANGO name (`fsm_type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Configure => "configure",
            Self::State => "state",
        }
    }

    /// Parses a 5GTANGO name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.name() == name)
    }
}

/// A start or stop request: the VNF's descriptor and record.
#[derive(Debug, Clone)]
pub struct LifecycleRequest {
    /// The VNF's descriptor.
    pub vnfd: Vnfd,
    /// The VNF's record.
    pub vnfr: Vnfr,
    /// The whole content as sent.
    pub raw: Document,
}

#[derive(Deserialize)]
struct LifecycleContent {
    vnfd: Vnfd,
    vnfr: Vnfr,
}

impl LifecycleRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: LifecycleContent = raw.parse().map_err(|error| RequestError::new("start/stop", error))?;
        Ok(Self {
            vnfd: content.vnfd,
            vnfr: content.vnfr,
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
    /// The whole content as sent (`ingress`, `egress`, `generic_envs`, ...).
    pub raw: Document,
}

#[derive(Deserialize)]
struct ConfigureContent {
    #[serde(default)]
    nsr: Option<Nsr>,
    #[serde(default)]
    vnfrs: Option<Vec<Vnfr>>,
}

impl ConfigureRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: ConfigureContent = raw.parse().map_err(|error| RequestError::new("configure", error))?;
        Ok(Self {
            nsr: content.nsr,
            vnfrs: content.vnfrs.unwrap_or_default(),
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
