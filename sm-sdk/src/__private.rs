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
            "wasmano:sm/types@2.0.0": crate::__private::ssm_bindings::wasmano::sm::types,
            "wasmano:sm/host@2.0.0": crate::__private::ssm_bindings::wasmano::sm::host,
        },
    });
}

use ssm_bindings::wasmano::sm::host as wit_host;
use ssm_bindings::wasmano::sm::types as wit_types;

use crate::log::Level;
use crate::{Document, KeyValue, ManagerError, UnitEnvs};

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

/// Envs for container units as the contract carries them.
pub type WitUnitEnvs = wit_types::UnitEnvs;

fn to_wit_error(error: ManagerError) -> wit_types::ManagerError {
    match error {
        ManagerError::NotHandled => wit_types::ManagerError::NotHandled,
        ManagerError::Failed { message, content } => wit_types::ManagerError::Failed(wit_types::Failure {
            message,
            content: content.map(|content| content.to_string()),
        }),
    }
}

fn to_wit_envs(envs: Vec<UnitEnvs>) -> Vec<WitUnitEnvs> {
    envs.into_iter()
        .map(|entry| WitUnitEnvs {
            unit: entry.unit,
            envs: entry
                .envs
                .into_iter()
                .map(|pair| wit_types::KeyValue {
                    key: pair.key,
                    value: pair.value,
                })
                .collect(),
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
    use crate::ssm::{
        ConfigureRequest, EventSwitch, LinkSite, MonitorRequest, PlacementRequest, SsmEvent, StateRequest, TaskRequest,
        Vim, WorkflowRequest,
    };

    use ssm_bindings::exports::wasmano::sm::service_manager as wit;

    pub use wit::Guest;
    /// Contract types used by the export macro.
    pub use wit::{
        Mapping as WitPlacement, PlacementRequest as WitPlacementRequest, SsmEvent as WitSsmEvent,
        VnfSwitches as WitVnfSwitches, WorkflowRequest as WitWorkflowRequest,
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
                SsmEvent::Task => WitSsmEvent::Task,
                SsmEvent::Monitor => WitSsmEvent::Monitor,
            })
            .collect()
    }

    fn vims(request: &mut WitPlacementRequest) -> Vec<Vim> {
        std::mem::take(&mut request.vims)
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
                name: vim.name,
                city: vim.city,
                endpoint: vim.endpoint,
                other: Default::default(),
            })
            .collect()
    }

    /// Runs `M`'s placement.
    pub fn placement<M: ServiceManager>(mut request: WitPlacementRequest) -> WitResult<WitPlacement> {
        let vims = vims(&mut request);
        let reply = dispatch(
            handles_event::<M>(SsmEvent::Placement),
            || PlacementRequest::with_vims(Document::from_json(request.content), vims),
            |request| M::default().placement(request),
        )?;
        Ok(WitPlacement {
            vnfs: reply
                .vnfs
                .into_iter()
                .map(|placement| wit::VnfPlacement {
                    vnf: placement.vnf,
                    vim: placement.vim,
                })
                .collect(),
            links: reply
                .links
                .into_iter()
                .map(|placement| wit::LinkPlacement {
                    link: placement.link,
                    site: match placement.site {
                        LinkSite::Vim(vim) => wit::LinkSite::Vim(vim),
                        LinkSite::Wim(wim) => wit::LinkSite::Wim(wim),
                    },
                })
                .collect(),
        })
    }

    fn switch(switch: Option<EventSwitch>) -> Option<wit::EventSwitch> {
        switch.map(|switch| wit::EventSwitch {
            trigger: switch.trigger,
            payload: switch.payload.map(|payload| payload.to_string()),
        })
    }

    /// Runs `M`'s configure.
    pub fn configure<M: ServiceManager>(content: String) -> WitResult<Vec<WitVnfSwitches>> {
        let reply = dispatch(
            handles_event::<M>(SsmEvent::Configure),
            || ConfigureRequest::from_document(Document::from_json(content)),
            |request| M::default().configure(request),
        )?;
        Ok(reply
            .into_iter()
            .map(|switches| WitVnfSwitches {
                id: switches.id,
                start: switch(switches.start),
                stop: switch(switches.stop),
                configure: switch(switches.configure),
                scale: switch(switches.scale),
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

    /// Runs `M`'s task.
    pub fn task<M: ServiceManager>(content: String) -> WitResult<Vec<String>> {
        dispatch(
            handles_event::<M>(SsmEvent::Task),
            || TaskRequest::from_document(Document::from_json(content)),
            |request| M::default().task(request),
        )
    }

    /// Runs `M`'s monitor.
    pub fn monitor<M: ServiceManager>(content: String) -> WitResult<Vec<WitWorkflowRequest>> {
        let reply = dispatch(
            handles_event::<M>(SsmEvent::Monitor),
            || MonitorRequest::from_document(Document::from_json(content)),
            |request| M::default().monitor(request),
        )?;
        Ok(reply
            .into_iter()
            .map(|request| match request {
                WorkflowRequest::ScaleOut { vnf, instances } => {
                    WitWorkflowRequest::ScaleOut(wit::ScaleOut { vnf, instances })
                }
                WorkflowRequest::ScaleIn(instances) => WitWorkflowRequest::ScaleIn(instances),
                WorkflowRequest::Reconfigure(payload) => {
                    WitWorkflowRequest::Reconfigure(payload.map(|payload| payload.to_string()))
                }
            })
            .collect())
    }
}

/// Glue for function managers.
pub mod fsm {
    use super::{Document, dispatch, fsm_bindings, to_wit_envs};
    pub use super::{WitResult, WitUnitEnvs};
    use crate::FunctionManager;
    use crate::fsm::{ConfigureRequest, FsmEvent, LifecycleRequest, ScaleRequest, StateReply, StateRequest};

    use fsm_bindings::exports::wasmano::sm::function_manager as wit;

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
                FsmEvent::Scale => WitFsmEvent::Scale,
            })
            .collect()
    }

    /// Runs `M`'s start.
    pub fn start<M: FunctionManager>(content: String) -> WitResult<Vec<WitUnitEnvs>> {
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
    pub fn configure<M: FunctionManager>(content: String) -> WitResult<Vec<WitUnitEnvs>> {
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

    /// Runs `M`'s scale.
    pub fn scale<M: FunctionManager>(content: String) -> WitResult<Vec<WitUnitEnvs>> {
        dispatch(
            handles_event::<M>(FsmEvent::Scale),
            || ScaleRequest::from_document(Document::from_json(content)),
            |request| M::default().scale(request),
        )
        .map(to_wit_envs)
    }
}
