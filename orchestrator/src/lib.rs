//! The wasmano orchestrator: what operators onboard (descriptors, packages),
//! what it remembers (records), and how it decides where VNFs run
//! (placement). The `wasmano` binary's command line sits on top of it.

pub mod access;
pub mod bus;
pub mod catalogue;
pub mod clock;
pub mod data_dir;
pub mod descriptor;
pub mod infrastructure;
pub mod lcm;
pub mod package;
pub mod placement;
pub mod recording;
pub mod records;
pub mod registry;
pub mod server;
pub mod service;
mod wal;
pub mod workflow;
