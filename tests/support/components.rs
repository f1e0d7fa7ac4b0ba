//! Hand-written hostile components: what the SDK cannot produce (replies
//! whose strings alias one another, million-element lists, oversized or
//! escape-laden error messages, start functions that trap or loop, memories
//! and tables that add up past the budget). Each is a core module in WAT,
//! made into a component against `wit/` the way `wasm-tools component embed`
//! and `component new` do. Included by the test crates that depend on `wat`
//! and `wit-component` (`#[path]`), next to `support`.

use crate::support::workspace_root;

/// The exports every service manager module needs; `placement` and `state`
/// bodies are the hostile part, the rest answer harmlessly.
const SERVICE_MANAGER: &str = "wasmano:sm/service-manager@2.0.0";

/// What a hostile component does.
#[derive(Debug, Clone, Copy)]
pub enum Hostility {
    /// Placement answers 100 entries whose strings all point at one 1 MiB
    /// string.
    AliasedStrings,
    /// Placement answers a list of a million (empty) entries.
    MillionEntries,
    /// State answers an error message of 8 KiB.
    LongErrorMessage,
    /// State answers an error message with terminal escapes and a newline.
    EscapesInErrorMessage,
    /// State logs one 2 MiB line.
    HugeLogLine,
    /// The core module's start function loops forever.
    LoopAtStart,
    /// The core module's start function traps.
    TrapAtStart,
    /// A memory just under 64 MiB plus a table of 20,000 elements.
    MemoryPlusTable,
    /// One core module with two memories.
    TwoMemories,
    /// State asks WASI for 2,000 stdout streams and keeps every handle.
    HoardHandles,
    /// Built against a `wasmano:sm@2.0.0` whose placement request has two
    /// more fields than the host's (an edited or earlier draft of `wit/`):
    /// the same name and version, other types.
    MismatchedContract,
}

/// The WASI interfaces the handle hoarder imports, as small as the
/// component needs them (the host links their 0.2.x successors), and the
/// world that adds them to a service manager's.
const HOARDER_WIT: [(&str, &str); 3] = [
    (
        "wasi-io.wit",
        "package wasi:io@0.2.0; interface streams { resource output-stream; }",
    ),
    (
        "wasi-cli.wit",
        "package wasi:cli@0.2.0; interface stdout { use wasi:io/streams@0.2.0.{output-stream}; get-stdout: func() -> output-stream; }",
    ),
    (
        "hoarder.wit",
        "package wasmano:hostile; world hoarder { include wasmano:sm/service-manager-module@2.0.0; import wasi:cli/stdout@0.2.0; }",
    ),
];

/// The component's bytes.
pub fn hostile_component(hostility: Hostility) -> Vec<u8> {
    let (memories, prelude, placement, state) = match hostility {
        Hostility::AliasedStrings => (
            "(memory (export \"memory\") 40)",
            "",
            // 100 entries at 4096, every string at 1 MiB, 1 MiB long.
            r#"(i32.store (i32.const 4) (i32.const 4096))
               (i32.store (i32.const 8) (i32.const 100))
               (local.set $i (i32.const 0))
               (loop $fill
                 (local.set $at (i32.add (i32.const 4096) (i32.mul (local.get $i) (i32.const 16))))
                 (i32.store (local.get $at) (i32.const 1048576))
                 (i32.store offset=4 (local.get $at) (i32.const 1048576))
                 (i32.store offset=8 (local.get $at) (i32.const 1048576))
                 (i32.store offset=12 (local.get $at) (i32.const 1048576))
                 (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $fill (i32.lt_u (local.get $i) (i32.const 100))))
               (i32.const 0)"#,
            OK_EMPTY_STATE,
        ),
        Hostility::MillionEntries => (
            "(memory (export \"memory\") 260)",
            "",
            r#"(i32.store (i32.const 4) (i32.const 65536))
               (i32.store (i32.const 8) (i32.const 1000000))
               (i32.const 0)"#,
            OK_EMPTY_STATE,
        ),
        Hostility::LongErrorMessage => (
            "(memory (export \"memory\") 2)",
            "",
            OK_EMPTY_PLACEMENT,
            r#"(i32.store8 (i32.const 0) (i32.const 1))
               (i32.store8 (i32.const 4) (i32.const 1))
               (i32.store (i32.const 8) (i32.const 65536))
               (i32.store (i32.const 12) (i32.const 8192))
               (i32.const 0)"#,
        ),
        Hostility::EscapesInErrorMessage => (
            "(memory (export \"memory\") 2)",
            "(data (i32.const 65536) \"\\1b[31mred\\1b[0m\\nforged log line\")",
            OK_EMPTY_PLACEMENT,
            r#"(i32.store8 (i32.const 0) (i32.const 1))
               (i32.store8 (i32.const 4) (i32.const 1))
               (i32.store (i32.const 8) (i32.const 65536))
               (i32.store (i32.const 12) (i32.const 28))
               (i32.const 0)"#,
        ),
        Hostility::HugeLogLine => (
            "(memory (export \"memory\") 40)",
            "",
            OK_EMPTY_PLACEMENT,
            r#"(call $log (i32.const 2) (i32.const 65536) (i32.const 2097152))
               (i32.store (i32.const 0) (i32.const 0))
               (i32.store (i32.const 4) (i32.const 1024))
               (i32.store (i32.const 8) (i32.const 2))
               (i32.store (i32.const 1024) (i32.const 0x7d7b))
               (i32.const 0)"#,
        ),
        Hostility::LoopAtStart => (
            "(memory (export \"memory\") 2)",
            "(func $start (loop $forever (br $forever))) (start $start)",
            OK_EMPTY_PLACEMENT,
            OK_EMPTY_STATE,
        ),
        Hostility::TrapAtStart => (
            "(memory (export \"memory\") 2)",
            "(func $start unreachable) (start $start)",
            OK_EMPTY_PLACEMENT,
            OK_EMPTY_STATE,
        ),
        Hostility::MemoryPlusTable => (
            "(memory (export \"memory\") 1022)",
            "(table 20000 funcref)",
            OK_EMPTY_PLACEMENT,
            OK_EMPTY_STATE,
        ),
        Hostility::TwoMemories => (
            "(memory (export \"memory\") 2) (memory $second 2)",
            "",
            OK_EMPTY_PLACEMENT,
            OK_EMPTY_STATE,
        ),
        Hostility::MismatchedContract => ("(memory (export \"memory\") 2)", "", OK_EMPTY_PLACEMENT, OK_EMPTY_STATE),
        Hostility::HoardHandles => (
            "(import \"wasi:cli/stdout@0.2.0\" \"get-stdout\" (func $get_stdout (result i32))) (memory (export \"memory\") 2)",
            "",
            OK_EMPTY_PLACEMENT,
            r#"(local $i i32)
               (loop $hoard
                 (drop (call $get_stdout))
                 (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $hoard (i32.lt_u (local.get $i) (i32.const 2000))))
               (i32.store (i32.const 0) (i32.const 0))
               (i32.store (i32.const 4) (i32.const 1024))
               (i32.store (i32.const 8) (i32.const 2))
               (i32.store (i32.const 1024) (i32.const 0x7d7b))
               (i32.const 0)"#,
        ),
    };
    // The placement request flattens to a pointer and a length per field.
    let placement_params = match hostility {
        Hostility::MismatchedContract => "i32 i32 i32 i32 i32 i32 i32 i32",
        _ => "i32 i32 i32 i32",
    };
    let wat = format!(
        r#"(module
  (import "wasmano:sm/host@2.0.0" "log" (func $log (param i32 i32 i32)))
  {memories}
  {prelude}
  (global $heap (mut i32) (i32.const 98304))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $at i32)
    (local.set $at (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $at) (local.get 3)))
    (local.get $at))
  (func (export "{SERVICE_MANAGER}#handles") (result i32)
    (i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.const 0))
  (func (export "{SERVICE_MANAGER}#placement") (param {placement_params}) (result i32)
    (local $i i32) (local $at i32)
    {placement})
  (func (export "{SERVICE_MANAGER}#configure") (param i32 i32) (result i32)
    {OK_EMPTY_LIST})
  (func (export "{SERVICE_MANAGER}#state") (param i32 i32) (result i32)
    {state})
  (func (export "{SERVICE_MANAGER}#task") (param i32 i32) (result i32)
    {OK_EMPTY_LIST})
  (func (export "{SERVICE_MANAGER}#monitor") (param i32 i32) (result i32)
    {OK_EMPTY_LIST})
)"#
    );
    let mut module = wat::parse_str(&wat).unwrap_or_else(|error| panic!("hostile WAT {hostility:?}: {error}"));
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = match hostility {
        Hostility::MismatchedContract => {
            let contract = std::fs::read_to_string(workspace_root().join("wit/sm.wit")).expect("wit/sm.wit");
            let fields = "        content: document,\n        vims: list<vim>,\n";
            assert!(contract.contains(fields), "the placement request's fields moved");
            let edited = contract.replace(
                fields,
                &format!("{fields}        wims: list<string>,\n        neps: list<string>,\n"),
            );
            let package = resolve.push_str("sm.wit", &edited).expect("the edited contract parses");
            (package, ())
        }
        _ => {
            let (package, _) = resolve.push_dir(workspace_root().join("wit")).expect("wit/ parses");
            (package, ())
        }
    };
    let world = match hostility {
        Hostility::HoardHandles => {
            let hoarder = HOARDER_WIT
                .iter()
                .map(|(path, text)| resolve.push_str(path, text).expect("the hoarder's WIT parses"))
                .last()
                .expect("the hoarder's world");
            resolve.select_world(&[hoarder], Some("hoarder"))
        }
        _ => resolve.select_world(&[package], Some("service-manager-module")),
    }
    .expect("the component's world");
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8, false)
        .expect("embedding the WIT metadata");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|error| panic!("making {hostility:?} a component: {error:#}"))
}

/// Configure, task and monitor answering `ok([])`.
const OK_EMPTY_LIST: &str = r#"(i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.const 0)"#;

/// Placement answering `ok` with an empty mapping (no VNF, no link).
const OK_EMPTY_PLACEMENT: &str = r#"(i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.const 0)"#;

/// State answering `ok("{}")`.
const OK_EMPTY_STATE: &str = r#"(i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 1024))
    (i32.store (i32.const 8) (i32.const 2))
    (i32.store (i32.const 1024) (i32.const 0x7d7b))
    (i32.const 0)"#;
