//! Every SM payload parses into its typed request: the 5GTANGO copies and
//! wasmano's own samples bundled in `examples-sm/payloads`, and the whole
//! corpus when `WASMANO_CORPUS` points at it (`.ci/run` sets it).

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::path::{Path, PathBuf};

use sm_sdk::{Document, fsm, ssm};

/// Which request a payload file holds, from its 5GTANGO file name.
fn parse(path: &Path) -> Result<(), String> {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    let is_fsm = path.to_string_lossy().contains("/fsm") || name.starts_with("fsm_");
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string());
    let value =
        text.and_then(|text| serde_saphyr::from_str::<serde_json::Value>(&text).map_err(|error| error.to_string()));
    let document = Document::from_value(&value?);
    let outcome = match name {
        _ if name.contains("task_event") => ssm::TaskRequest::from_document(document).map(drop),
        _ if name.contains("monitor") => ssm::MonitorRequest::from_document(document).map(drop),
        _ if name.contains("scale") => fsm::ScaleRequest::from_document(document).map(drop),
        _ if name.contains("placement") => ssm::PlacementRequest::from_document(document).map(drop),
        _ if name.contains("configure") && is_fsm => fsm::ConfigureRequest::from_document(document).map(drop),
        _ if name.contains("configure") => ssm::ConfigureRequest::from_document(document).map(drop),
        _ if name.contains("state") && is_fsm => fsm::StateRequest::from_document(document).map(drop),
        _ if name.contains("state") => ssm::StateRequest::from_document(document).map(drop),
        _ if name.contains("start") || name.contains("stop") => {
            fsm::LifecycleRequest::from_document(document).map(drop)
        }
        _ => return Err("no request type for this file name".into()),
    };
    outcome.map_err(|error| error.to_string())
}

fn payload_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|ext| ext.to_str()),
                Some("yml" | "yaml" | "json")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn assert_all_parse(dir: &Path) -> usize {
    let mut parsed = 0;
    for file in payload_files(dir) {
        if let Err(error) = parse(&file) {
            panic!("{}: {error}", file.display());
        }
        parsed += 1;
    }
    parsed
}

#[test]
fn bundled_payloads_parse_into_typed_requests() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-sm/payloads");
    assert_eq!(assert_all_parse(&bundled), 15);
}

#[test]
fn corpus_payloads_parse_into_typed_requests() {
    let Some(corpus) = std::env::var_os("WASMANO_CORPUS") else {
        eprintln!("WASMANO_CORPUS is not set: the corpus check runs in .ci/run");
        return;
    };
    // Every one, the task event and the monitoring message included.
    assert_eq!(assert_all_parse(&Path::new(&corpus).join("payloads")), 13);
}

#[test]
fn unknown_fields_are_kept_in_the_raw_document() {
    let content = r#"{"vnfd": {"name": "x", "vendor_extension": 7}, "vnfr": {"id": "v"}, "extra": true}"#;
    let request = fsm::LifecycleRequest::from_document(Document::from_json(content)).unwrap();
    assert_eq!(request.vnfd.name.as_deref(), Some("x"));
    assert_eq!(request.raw.value().unwrap()["vnfd"]["vendor_extension"], 7);
}
