//! The events of specific managers, and the kinds of manager they are for.

use std::fmt;

use crate::fsm::FsmEvent;
use crate::ssm::SsmEvent;

/// Which kind of manager a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManagerKind {
    /// A service-specific manager.
    Service,
    /// A function-specific manager.
    Function,
}

impl ManagerKind {
    /// `ssm` or `fsm`, as 5GTANGO names them.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Service => "ssm",
            Self::Function => "fsm",
        }
    }

    /// The kind [`short_name`](Self::short_name) names.
    pub fn parse(short_name: &str) -> Option<Self> {
        [Self::Service, Self::Function]
            .into_iter()
            .find(|kind| kind.short_name() == short_name)
    }
}

impl fmt::Display for ManagerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// One event of either kind of manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A service-specific manager event.
    Ssm(SsmEvent),
    /// A function-specific manager event.
    Fsm(FsmEvent),
}

impl Event {
    /// Parses a 5GTANGO event name for a manager of this kind.
    pub fn parse(kind: ManagerKind, name: &str) -> Option<Self> {
        match kind {
            ManagerKind::Service => SsmEvent::from_name(name).map(Self::Ssm),
            ManagerKind::Function => FsmEvent::from_name(name).map(Self::Fsm),
        }
    }

    /// Every event of a kind of manager.
    pub fn all(kind: ManagerKind) -> Vec<Self> {
        match kind {
            ManagerKind::Service => SsmEvent::ALL.into_iter().map(Self::Ssm).collect(),
            ManagerKind::Function => FsmEvent::ALL.into_iter().map(Self::Fsm).collect(),
        }
    }

    /// The service manager event, if it is one.
    pub fn as_ssm(self) -> Option<SsmEvent> {
        match self {
            Self::Ssm(event) => Some(event),
            Self::Fsm(_) => None,
        }
    }

    /// The function manager event, if it is one.
    pub fn as_fsm(self) -> Option<FsmEvent> {
        match self {
            Self::Fsm(event) => Some(event),
            Self::Ssm(_) => None,
        }
    }

    /// The kind of manager this event is for.
    pub fn kind(self) -> ManagerKind {
        match self {
            Self::Ssm(_) => ManagerKind::Service,
            Self::Fsm(_) => ManagerKind::Function,
        }
    }

    /// The 5GTANGO name (`ssm_type` / `fsm_type`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ssm(event) => event.name(),
            Self::Fsm(event) => event.name(),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_resolve_per_kind() {
        assert_eq!(
            Event::parse(ManagerKind::Function, "start"),
            Some(Event::Fsm(FsmEvent::Start))
        );
        assert_eq!(Event::parse(ManagerKind::Service, "start"), None);
        assert_eq!(
            Event::parse(ManagerKind::Service, "state"),
            Some(Event::Ssm(SsmEvent::State))
        );
    }
}
