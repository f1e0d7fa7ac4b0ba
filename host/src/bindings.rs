//! Host-side bindings of the WIT contract in `wit/`: the only place they are
//! generated. The function-manager world reuses the service-manager world's
//! `types` and `host` interfaces, so there is one `Host` trait to implement.

/// Bindings of the `service-manager-module` world.
pub(crate) mod ssm {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "service-manager-module",
    });
}

/// Bindings of the `function-manager-module` world.
pub(crate) mod fsm {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "function-manager-module",
        with: {
            "wasmano:sm/types": super::ssm::wasmano::sm::types,
            "wasmano:sm/host": super::ssm::wasmano::sm::host,
        },
    });
}

pub(crate) use fsm::exports::wasmano::sm::function_manager as fsm_exports;
pub(crate) use ssm::exports::wasmano::sm::service_manager as ssm_exports;
pub(crate) use ssm::wasmano::sm::host as wit_host;
pub(crate) use ssm::wasmano::sm::types as wit_types;
