//! The guest side of the WIT contract: generated bindings (the only ones in
//! the SDK) and the glue between them and the SDK's typed traits. Used by the
//! export macros; not part of the public API.

/// Bindings of the service-manager world.
pub mod ssm_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "service-manager-module",
        pub_export_macro: true,
        export_macro_name: "export_ssm",
        default_bindings_module: "sm_sdk::__private::ssm_bindings",
    });
}

/// Bindings of the function-manager world, sharing the first world's
/// `types` and `host` interfaces.
pub mod fsm_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "function-manager-module",
        pub_export_macro: true,
        export_macro_name: "export_fsm",
        default_bindings_module: "sm_sdk::__private::fsm_bindings",
        with: {
            "wasmano:sm/types@1.0.0": crate::__private::ssm_bindings::wasmano::sm::types,
            "wasmano:sm/host@1.0.0": crate::__private::ssm_bindings::wasmano::sm::host,
        },
    });
}

use ssm_bindings::wasmano::sm::host as wit_host;
use ssm_bindings::wasmano::sm::types as wit_types;

use crate::log::Level;
use crate::{Document, KeyValue, ManagerError};

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => wit_host::Level::Trace,
        Level::Debug => wit_host::Level::Debug,
        Level::Info => wit_host::Level::Info,
        Level::Warn => wit_host::Level::Warn,
        Level::Error => wit_host::Level::Error,
    };
    wit_host::log(level, message);
}

pub(crate) fn options() -> Vec<KeyValue> {
    wit_host::options()
        .into_iter()
        .map(|pair| KeyValue::new(pair.key, pair.value))
        .collect()
}

/// A reply as the contract carries it.
pub type WitResult<T> = Result<T, wit_types::ManagerError>;

/// A key/value pair as the contract carries it.
pub type WitKeyValue = wit_types::KeyValue;

fn to_wit_error(error: ManagerError) -> wit_types::ManagerError {
    match error {
        ManagerError::NotHandled => wit_types::ManagerError::NotHandled,
        ManagerError::Failed(message) => wit_types::ManagerError::Failed(message),
    }
}

fn to_wit_envs(envs: Vec<KeyValue>) -> Vec<WitKeyValue> {
    envs.into_iter()
        .map(|pair| WitKeyValue {
            key: pair.key,
            value: pair.value,
        })
        .collect()
}

/// Runs one event: refuses it when the manager does not list it, else parses
/// the request and calls the handler.
fn dispatch<R, T>(
    handled: bool,
    parse: impl FnOnce() -> Result<R, crate::RequestError>,
    handle: impl FnOnce(R) -> Result<T, ManagerError>,
) -> WitResult<T> {
    if !handled {
        return Err(wit_types::ManagerError::NotHandled);
    }
    parse()
        .map_err(ManagerError::from)
        .and_then(handle)
        .map_err(to_wit_error)
}

/// Glue for service managers.
pub mod ssm {
    pub use super::WitResult;
    use super::{Document, dispatch, ssm_bindings};
    use crate::ServiceManager;
    use crate::descriptor::VimKind;
    use crate::ssm::{ConfigureRequest, PlacementRequest, SsmEvent, StateRequest, Vim};

    use ssm_bindings::exports::wasmano::sm::service_manager as wit;

    pub use wit::Guest;
    /// Contract types used by the export macro.
    pub use wit::{
        PlacementRequest as WitPlacementRequest, SsmEvent as WitSsmEvent, VnfConfigure as WitVnfConfigure,
        VnfPlacement as WitVnfPlacement,
    };

    fn handles_event<M: ServiceManager>(event: SsmEvent) -> bool {
        M::HANDLES.contains(&event)
    }

    /// The events `M` handles.
    pub fn handles<M: ServiceManager>() -> Vec<WitSsmEvent> {
        M::HANDLES
            .iter()
            .map(|event| match event {
                SsmEvent::Placement => WitSsmEvent::Placement,
                SsmEvent::Configure => WitSsmEvent::Configure,
                SsmEvent::State => WitSsmEvent::State,
            })
            .collect()
    }

    /// Runs `M`'s placement.
    pub fn placement<M: ServiceManager>(request: WitPlacementRequest) -> WitResult<Vec<WitVnfPlacement>> {
        let vims = request
            .vims
            .into_iter()
            .map(|vim| Vim {
                uuid: vim.uuid,
                kind: match vim.kind {
                    wit::VimKind::Vm => VimKind::Vm,
                    wit::VimKind::Container => VimKind::Container,
                },
                core_total: vim.core_total,
                core_used: vim.core_used,
                memory_total: vim.memory_total,
                memory_used: vim.memory_used,
            })
            .collect();
        let reply = dispatch(
            handles_event::<M>(SsmEvent::Placement),
            || PlacementRequest::with_vims(Document::from_json(request.content), vims),
            |request| M::default().placement(request),
        )?;
        Ok(reply
            .into_iter()
            .map(|placement| WitVnfPlacement {
                vnf: placement.vnf,
                vim: placement.vim,
            })
            .collect())
    }

    /// Runs `M`'s configure.
    pub fn configure<M: ServiceManager>(content: String) -> WitResult<Vec<WitVnfConfigure>> {
        let reply = dispatch(
            handles_event::<M>(SsmEvent::Configure),
            || ConfigureRequest::from_document(Document::from_json(content)),
            |request| M::default().configure(request),
        )?;
        Ok(reply
            .into_iter()
            .map(|decision| WitVnfConfigure {
                id: decision.id,
                trigger: decision.trigger,
                payload: decision.payload.map(|payload| payload.to_string()),
            })
            .collect())
    }

    /// Runs `M`'s state.
    pub fn state<M: ServiceManager>(content: String) -> WitResult<String> {
        let reply = dispatch(
            handles_event::<M>(SsmEvent::State),
            || StateRequest::from_document(Document::from_json(content)),
            |request| M::default().state(request),
        )?;
        Ok(reply.to_string())
    }
}

/// Glue for function managers.
pub mod fsm {
    pub use super::WitResult;
    use super::{Document, dispatch, fsm_bindings, to_wit_envs};
    use crate::FunctionManager;
    use crate::fsm::{ConfigureRequest, FsmEvent, LifecycleRequest, StateReply, StateRequest};

    use fsm_bindings::exports::wasmano::sm::function_manager as wit;

    pub use super::WitKeyValue;
    pub use wit::Guest;
    /// Contract types used by the export macro.
    pub use wit::{FsmEvent as WitFsmEvent, StateReply as WitStateReply};

    fn handles_event<M: FunctionManager>(event: FsmEvent) -> bool {
        M::HANDLES.contains(&event)
    }

    /// The events `M` handles.
    pub fn handles<M: FunctionManager>() -> Vec<WitFsmEvent> {
        M::HANDLES
            .iter()
            .map(|event| match event {
                FsmEvent::Start => WitFsmEvent::Start,
                FsmEvent::Stop => WitFsmEvent::Stop,
                FsmEvent::Configure => WitFsmEvent::Configure,
                FsmEvent::State => WitFsmEvent::State,
            })
            .collect()
    }

    /// Runs `M`'s start.
    pub fn start<M: FunctionManager>(content: String) -> WitResult<Vec<WitKeyValue>> {
        dispatch(
            handles_event::<M>(FsmEvent::Start),
            || LifecycleRequest::from_document(Document::from_json(content)),
            |request| M::default().start(request),
        )
        .map(to_wit_envs)
    }

    /// Runs `M`'s stop.
    pub fn stop<M: FunctionManager>(content: String) -> WitResult<()> {
        dispatch(
            handles_event::<M>(FsmEvent::Stop),
            || LifecycleRequest::from_document(Document::from_json(content)),
            |request| M::default().stop(request),
        )
    }

    /// Runs `M`'s configure.
    pub fn configure<M: FunctionManager>(content: String) -> WitResult<Vec<WitKeyValue>> {
        dispatch(
            handles_event::<M>(FsmEvent::Configure),
            || ConfigureRequest::from_document(Document::from_json(content)),
            |request| M::default().configure(request),
        )
        .map(to_wit_envs)
    }

    /// Runs `M`'s state.
    pub fn state<M: FunctionManager>(content: String) -> WitResult<WitStateReply> {
        let reply = dispatch(
            handles_event::<M>(FsmEvent::State),
            || StateRequest::from_document(Document::from_json(content)),
            |request| M::default().state(request),
        )?;
        Ok(match reply {
            StateReply::Extracted(state) => WitStateReply::Extracted(state.to_string()),
            StateReply::Injected => WitStateReply::Injected,
        })
    }
}
