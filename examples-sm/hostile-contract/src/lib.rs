//! A service manager built against contract version 2.0.0, which this host
//! (1.x) must refuse at load with a message naming both versions. It uses
//! raw bindings on purpose: the SDK only builds against the current contract.

#[cfg(target_arch = "wasm32")]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package wasmano:sm@2.0.0;
            interface service-manager {
                enum ssm-event { placement, configure, state, reroute }
                handles: func() -> list<ssm-event>;
            }
            world service-manager-module {
                export service-manager;
            }
        ",
    });

    use exports::wasmano::sm::service_manager::{Guest, SsmEvent};

    struct FutureManager;

    impl Guest for FutureManager {
        fn handles() -> Vec<SsmEvent> {
            vec![SsmEvent::Reroute]
        }
    }

    export!(FutureManager);
}
