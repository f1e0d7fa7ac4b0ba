//! The wasmano orchestrator: what operators onboard (descriptors, packages),
//! what it remembers (records), and how it decides where VNFs run
//! (placement). The `wasmano` binary's command line sits on top of it.

pub mod records;
