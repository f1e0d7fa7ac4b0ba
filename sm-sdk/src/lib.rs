//! Write wasmano specific managers in Rust.
//!
//! A specific manager customises a network service's lifecycle: a
//! service-specific manager ([`ServiceManager`]) decides placement (of VNFs
//! and virtual links), which FSM events fire for each VNF and with which
//! payload, how state moves during migration, the schedule of an
//! instantiation (task) and which workflows monitoring data calls for; a
//! function-specific manager ([`FunctionManager`]) starts, stops, configures
//! and scales a VNF, answering envs per container unit ([`UnitEnvs`]), and
//! extracts or injects its state. Each event is a method taking a typed
//! request (parsed from the 5GTANGO payload, raw document kept) and returning
//! a typed reply or a [`ManagerError`]. Events a manager does not handle
//! answer [`ManagerError::NotHandled`] by default.
//!
//! This SDK builds against contract 2.0 ([`CONTRACT_VERSION`]); the host
//! refuses modules built against 1.x, naming both versions.
//!
//! Build a manager crate as a `cdylib` for `wasm32-wasip2` and export its type
//! with [`export_service_manager!`] or [`export_function_manager!`]; the host
//! runs every event in a fresh, sandboxed instance. The same type is a plain
//! Rust value natively, so `cargo test` exercises it without WebAssembly.
//!
//! ```
//! use sm_sdk::ssm::{Placement, PlacementRequest, SsmEvent, VnfPlacement};
//! use sm_sdk::{Document, ManagerError, ServiceManager};
//!
//! /// Puts every VNF on the first VIM of the topology.
//! #[derive(Default)]
//! struct FirstVim;
//!
//! impl ServiceManager for FirstVim {
//!     const HANDLES: &'static [SsmEvent] = &[SsmEvent::Placement];
//!
//!     fn placement(&self, request: PlacementRequest) -> Result<Placement, ManagerError> {
//!         let vim = request.vims.first().ok_or_else(|| ManagerError::failed("no VIM"))?;
//!         let placements = request.vnfds.iter().map(|vnfd| VnfPlacement {
//!             vnf: vnfd.instance_id().unwrap_or_default().to_owned(),
//!             vim: vim.uuid.clone(),
//!         });
//!         Ok(Placement::of_vnfs(placements.collect()))
//!     }
//! }
//!
//! sm_sdk::export_service_manager!(FirstVim);
//!
//! // Natively, the manager is an ordinary value:
//! let content = r#"{
//!     "vnfds": [{"instance_uuid": "vnf-1"}],
//!     "topology": {"vims": {"vim_list": [{"vim_uuid": "vim-a", "type": "vm"}]}}
//! }"#;
//! let request = PlacementRequest::from_document(Document::from_json(content)).unwrap();
//! let mapping = FirstVim.placement(request).unwrap();
//! assert_eq!(mapping.vnfs, [VnfPlacement { vnf: "vnf-1".into(), vim: "vim-a".into() }]);
//! ```
#![deny(missing_docs)]

pub mod descriptor;
mod document;
pub mod fsm;
pub mod log;
pub mod ssm;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private;

use std::fmt;

pub use document::Document;
/// A request whose content does not have its 5GTANGO shape.
pub use tango_model::ContentError as RequestError;
pub use tango_model::{KeyValue, UnitEnvs};

use fsm::{FsmEvent, LifecycleRequest, ScaleRequest, StateReply};
use ssm::{MonitorRequest, Placement, PlacementRequest, SsmEvent, TaskRequest, VnfSwitches, WorkflowRequest};

/// The version of the WIT contract (`wit/sm.wit`) this SDK builds against.
pub const CONTRACT_VERSION: &str = "2.0.0";

/// Why a manager did not produce a reply. Both are normal answers: a manager
/// that traps, loops or exhausts its memory is a sandbox fault, which the host
/// reports apart.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerError {
    /// The manager does not handle this event.
    NotHandled,
    /// The manager handled the event and answers with an error.
    Failed {
        /// The message (5GTANGO's `error`).
        message: String,
        /// The content the error reply carries, for events whose 5GTANGO
        /// reply has one (an SSM state error is read from `content`).
        content: Option<serde_json::Value>,
    },
}

impl ManagerError {
    /// An error answer with this message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            content: None,
        }
    }

    /// An error answer with this message and content.
    pub fn failed_with(message: impl Into<String>, content: serde_json::Value) -> Self {
        Self::Failed {
            message: message.into(),
            content: Some(content),
        }
    }
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHandled => f.write_str("event not handled by this manager"),
            Self::Failed { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for ManagerError {}

impl From<RequestError> for ManagerError {
    fn from(error: RequestError) -> Self {
        Self::failed(error.to_string())
    }
}

/// A service-specific manager. A fresh value (`Default`) serves each event.
pub trait ServiceManager: Default {
    /// The events this manager handles; the others answer
    /// [`ManagerError::NotHandled`] without calling the method.
    const HANDLES: &'static [SsmEvent];

    /// Decide on which VIM each VNF runs, and where virtual links go.
    fn placement(&self, request: PlacementRequest) -> Result<Placement, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// Decide which FSM events (start, stop, configure, scale) fire for each
    /// VNF, and with what payload.
    fn configure(&self, request: ssm::ConfigureRequest) -> Result<Vec<VnfSwitches>, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// Transform the state extracted from a migrating VNF; the reply is the
    /// state to inject into its replacement.
    fn state(&self, request: ssm::StateRequest) -> Result<serde_json::Value, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// Rewrite the schedule of the workflow about to run; the reply is the
    /// new schedule.
    fn task(&self, request: TaskRequest) -> Result<Vec<String>, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// React to monitoring data; the reply lists the workflows to run.
    fn monitor(&self, request: MonitorRequest) -> Result<Vec<WorkflowRequest>, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }
}

/// A function-specific manager. A fresh value (`Default`) serves each event.
pub trait FunctionManager: Default {
    /// The events this manager handles; the others answer
    /// [`ManagerError::NotHandled`] without calling the method.
    const HANDLES: &'static [FsmEvent];

    /// The VNF was deployed; the reply's envs go into its container units.
    fn start(&self, request: LifecycleRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// The VNF is about to be removed.
    fn stop(&self, request: LifecycleRequest) -> Result<(), ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// Configure the VNF; the reply's envs go into its container units.
    fn configure(&self, request: fsm::ConfigureRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// Extract the VNF's state, or inject state into it.
    fn state(&self, request: fsm::StateRequest) -> Result<StateReply, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }

    /// The VNF's instances were scaled; the reply's envs go into this
    /// instance's container units.
    fn scale(&self, request: ScaleRequest) -> Result<Vec<UnitEnvs>, ManagerError> {
        let _ = request;
        Err(ManagerError::NotHandled)
    }
}

/// The `options` this manager was declared with in its descriptor, in order.
///
/// Natively (in unit tests) these are the ones given to [`set_test_options`].
pub fn options() -> Vec<KeyValue> {
    #[cfg(target_arch = "wasm32")]
    {
        __private::options()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        TEST_OPTIONS.with(|options| options.borrow().clone())
    }
}

/// The value of the first option with this key.
pub fn option(key: &str) -> Option<String> {
    options()
        .into_iter()
        .find(|option| option.key == key)
        .map(|option| option.value)
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static TEST_OPTIONS: std::cell::RefCell<Vec<KeyValue>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Sets the options [`options`] returns on this thread, for native tests.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_test_options(options: Vec<KeyValue>) {
    TEST_OPTIONS.with(|current| *current.borrow_mut() = options);
}

/// Exports a [`ServiceManager`] type as this component's service manager.
/// Natively it expands to nothing, so the crate's unit tests stay plain Rust.
#[macro_export]
macro_rules! export_service_manager {
    ($manager:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::ssm as glue;
            struct Export;
            impl glue::Guest for Export {
                fn handles() -> ::std::vec::Vec<glue::WitSsmEvent> {
                    glue::handles::<$manager>()
                }
                fn placement(request: glue::WitPlacementRequest) -> glue::WitResult<glue::WitPlacement> {
                    glue::placement::<$manager>(request)
                }
                fn configure(content: ::std::string::String) -> glue::WitResult<::std::vec::Vec<glue::WitVnfSwitches>> {
                    glue::configure::<$manager>(content)
                }
                fn state(content: ::std::string::String) -> glue::WitResult<::std::string::String> {
                    glue::state::<$manager>(content)
                }
                fn task(content: ::std::string::String) -> glue::WitResult<::std::vec::Vec<::std::string::String>> {
                    glue::task::<$manager>(content)
                }
                fn monitor(
                    content: ::std::string::String,
                ) -> glue::WitResult<::std::vec::Vec<glue::WitWorkflowRequest>> {
                    glue::monitor::<$manager>(content)
                }
            }
    $crate::__private::ssm_bindings::export_ssm!(Export with_types_in $crate::__private::ssm_bindings);
        };
    };
}

/// Exports a [`FunctionManager`] type as this component's function manager.
/// Natively it expands to nothing, so the crate's unit tests stay plain Rust.
#[macro_export]
macro_rules! export_function_manager {
    ($manager:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::fsm as glue;
            struct Export;
            impl glue::Guest for Export {
                fn handles() -> ::std::vec::Vec<glue::WitFsmEvent> {
                    glue::handles::<$manager>()
                }
                fn start(content: ::std::string::String) -> glue::WitResult<::std::vec::Vec<glue::WitUnitEnvs>> {
                    glue::start::<$manager>(content)
                }
                fn stop(content: ::std::string::String) -> glue::WitResult<()> {
                    glue::stop::<$manager>(content)
                }
                fn configure(content: ::std::string::String) -> glue::WitResult<::std::vec::Vec<glue::WitUnitEnvs>> {
                    glue::configure::<$manager>(content)
                }
                fn state(content: ::std::string::String) -> glue::WitResult<glue::WitStateReply> {
                    glue::state::<$manager>(content)
                }
                fn scale(content: ::std::string::String) -> glue::WitResult<::std::vec::Vec<glue::WitUnitEnvs>> {
                    glue::scale::<$manager>(content)
                }
            }
    $crate::__private::fsm_bindings::export_fsm!(Export with_types_in $crate::__private::fsm_bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_envs_apply_to_their_unit_by_descriptor_id_or_cdu_id() {
        let every = UnitEnvs::every_unit(Vec::new());
        let by_id = UnitEnvs::unit("cdu01", Vec::new());
        let by_cdu_id = UnitEnvs::unit("cdu01-vnf-1", Vec::new());
        assert!(every.applies_to("cdu02", "vnf-1"));
        assert!(by_id.applies_to("cdu01", "vnf-1"));
        assert!(by_cdu_id.applies_to("cdu01", "vnf-1"));
        assert!(!by_cdu_id.applies_to("cdu01", "vnf-2"), "another instance's unit");
        assert!(
            !by_cdu_id.applies_to("cdu0", "1-vnf-1"),
            "ids are not split anywhere but at the instance"
        );
        assert!(!by_id.applies_to("cdu02", "vnf-1"));
    }
}
