//! Guests build the model without `keep-unknown` (the README's claim: a
//! guest has the whole document as text, and mapping every field it does
//! not read would cost each call): cargo's feature resolution for the
//! example guests, built together as the test support builds them, is
//! checked.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::path::Path;
use std::process::Command;

/// The example managers, as `tests/support` builds them.
const GUESTS: [&str; 6] = [
    "sm-placement",
    "sm-configure",
    "sm-state",
    "sm-vnf-manager",
    "sm-task",
    "sm-scale",
];

#[test]
fn guests_build_the_model_without_keeping_unknown_fields() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(&root).args([
        "tree",
        "--edges",
        "features",
        "--target",
        "wasm32-wasip2",
        "--invert",
        "tango-model",
    ]);
    for guest in GUESTS {
        command.args(["--package", guest]);
    }
    let output = command.output().unwrap();
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(tree.contains("tango-model"), "{tree}");
    assert!(!tree.contains("keep-unknown"), "a guest keeps unknown fields:\n{tree}");
}
