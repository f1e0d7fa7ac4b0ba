//! Legacy 5GTANGO specific managers over RabbitMQ: managers that exist only
//! as programs or images, driven exactly as 5GTANGO's MANO drove them
//! (`LEGACY-BUS.md`), behind the same [`wasmano_host::SpecificManager`] as
//! WebAssembly managers.
//!
//! - [`wire`] — the protocol's conventions: exchange, topics, vhosts,
//!   message properties, envelopes and bodies.
//! - [`broker`] — where the broker is, and the management API calls.
//! - [`launcher`] — how a manager's program starts and stops.
//! - [`instance`] — one instance's managers: the registry's part (vhost,
//!   launch, registration, readiness, removal) and the lifecycle managers'
//!   part (requests and their first replies).
//! - [`lifecycle`] — the orchestrator's lifecycle events published on the
//!   bus, for components that follow it.
//! - [`legacy`] — [`LegacyGroup`] (a descriptor's legacy managers, started
//!   per instance on its first event, released when it ends) and
//!   [`LegacyManager`], the [`wasmano_host::SpecificManager`] over a group.

pub mod broker;
pub mod instance;
pub mod launcher;
pub mod legacy;
pub mod lifecycle;
pub mod wire;

pub use broker::{Broker, BrokerError, DEFAULT_BROKER_URL};
pub use instance::{
    CallError, DEFAULT_READY_WITHIN, LegacyError, LegacyInstance, LegacySpec, MANAGER_REQUESTS_BUFFER, ManagerRequest,
    ManagerRequests,
};
pub use launcher::{LABEL_INSTANCE, LABEL_MANAGER, Launcher};
pub use legacy::{DEFAULT_CALL_DEADLINE, Leftovers, LegacyGroup, LegacyHandover, LegacyManager, remove_leftovers};
