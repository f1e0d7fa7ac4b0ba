//! Function-specific manager events: their requests and replies.
//!
//! A request is its event's content as the model crate types it (see
//! [`tango_model::fsm`]), with the content's raw document kept.

pub use tango_model::fsm::{
    ConfigureContent, FsmEvent, GenericEnvs, LifecycleContent, ScaleContent, Scaling, StateActionName, StateContent,
    StateReply,
};

use crate::descriptor::{Nsr, Vnfd, Vnfr};
use crate::{Document, RequestError};

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
/// the service's records (its own and its VNFs') after the scaling.
#[derive(Debug, Clone)]
pub struct ScaleRequest {
    /// The VNF's descriptor.
    pub vnfd: Vnfd,
    /// The record of the instance this event is for.
    pub vnfr: Vnfr,
    /// How the VNF was scaled.
    pub scale: Scaling,
    /// The service's record after the scaling, when sent.
    pub nsr: Option<Nsr>,
    /// The records of every instance of the service after the scaling.
    pub vnfrs: Vec<Vnfr>,
    /// Where the peers of this instance's container units are.
    pub generic_envs: Vec<GenericEnvs>,
    /// The whole content as sent.
    pub raw: Document,
}

impl ScaleRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: ScaleContent = raw.parse().map_err(|error| RequestError::new("scale", error))?;
        Ok(Self {
            vnfd: content.vnfd,
            vnfr: content.vnfr,
            scale: content.scale,
            nsr: content.nsr,
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

impl ConfigureRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: ConfigureContent = raw.parse().map_err(|error| RequestError::new("configure", error))?;
        Ok(Self {
            nsr: content.nsr,
            vnfrs: content.vnfrs,
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

impl StateRequest {
    /// Builds a request from its content.
    pub fn from_document(raw: Document) -> Result<Self, RequestError> {
        let content: StateContent = raw.parse().map_err(|error| RequestError::new("state", error))?;
        let action = match content.action {
            StateActionName::Extract => StateAction::Extract { vnfr: content.vnfr },
            StateActionName::Inject => StateAction::Inject {
                vnfr: content.vnfr,
                state: content.state.unwrap_or_default(),
            },
        };
        Ok(Self { action, raw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_request_carries_the_service_record() {
        let content = r#"{"vnfd": {"name": "web"}, "vnfr": {"id": "v1"},
            "scale": {"direction": "out", "vnf_id": "web", "added": ["v2"]},
            "nsr": {"id": "ns-1", "status": "normal operation"},
            "vnfrs": [{"id": "v1"}, {"id": "v2"}]}"#;
        let request = ScaleRequest::from_document(Document::from_json(content)).expect("a scale request");
        let nsr = request.nsr.expect("the NSR");
        assert_eq!(
            (nsr.id.as_str(), nsr.status.as_deref()),
            ("ns-1", Some("normal operation"))
        );
        assert_eq!(request.scale.added, ["v2"]);
        assert_eq!(request.vnfrs.len(), 2);
        let without = r#"{"vnfd": {}, "vnfr": {"id": "v1"}, "scale": {"direction": "in", "vnf_id": "web"}}"#;
        assert!(
            ScaleRequest::from_document(Document::from_json(without))
                .expect("a scale request")
                .nsr
                .is_none()
        );
    }
}
