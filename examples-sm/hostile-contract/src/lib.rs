//! A service manager built against contract version 1.0.0, the major version
//! before the one the host speaks (2.x): the host must refuse it at load with
//! a message naming both versions, rather than call a 1.x module with 2.x
//! events. It uses raw bindings on purpose: the SDK only builds against the
//! current contract.

#[cfg(target_arch = "wasm32")]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package wasmano:sm@1.0.0;
            interface service-manager {
                enum ssm-event { placement, configure, state }
                handles: func() -> list<ssm-event>;
            }
            world service-manager-module {
                export service-manager;
            }
        ",
    });

    use exports::wasmano::sm::service_manager::{Guest, SsmEvent};

    struct FormerManager;

    impl Guest for FormerManager {
        fn handles() -> Vec<SsmEvent> {
            vec![SsmEvent::Placement]
        }
    }

    export!(FormerManager);
}
