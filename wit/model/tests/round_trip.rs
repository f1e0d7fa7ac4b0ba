//! Every 5GTANGO document of the corpus (event payloads, records,
//! descriptors) and every payload bundled with the examples reads into its
//! model type and writes back as the same document: nothing is lost.
//!
//! Documents are compared as the model documents its reading: a key whose
//! value is null or an empty list is as if absent, and numbers compare by
//! value (`30` and `30.0` are one number in YAML and JSON).

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tango_model::descriptor::{Nsd, Vnfd};
use tango_model::record::{Nsr, Vnfr};
use tango_model::{fsm, ssm};

/// Reads `document` as a `T` and writes it back; the difference, if any.
fn round_trip<T: DeserializeOwned + Serialize>(document: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(document.clone()).map_err(|error| format!("does not read: {error}"))?;
    let written = serde_json::to_value(&typed).map_err(|error| format!("does not write: {error}"))?;
    match difference(&normalized(document), &normalized(&written), String::new()) {
        None => Ok(()),
        Some(difference) => Err(difference),
    }
}

fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, value)| !value.is_null() && value.as_array().is_none_or(|items| !items.is_empty()))
                .map(|(key, value)| (key.clone(), normalized(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Number(number) => number
            .as_f64()
            .map_or_else(|| value.clone(), |float| serde_json::json!(float)),
        other => other.clone(),
    }
}

/// The first place `written` differs from `read`, by path.
fn difference(read: &Value, written: &Value, path: String) -> Option<String> {
    match (read, written) {
        (Value::Object(read), Value::Object(written)) => {
            for key in read.keys().chain(written.keys()) {
                let inner = format!("{path}.{key}");
                match (read.get(key), written.get(key)) {
                    (Some(read), Some(written)) => {
                        if let Some(found) = difference(read, written, inner) {
                            return Some(found);
                        }
                    }
                    (Some(read), None) => return Some(format!("{inner}: {read} was lost")),
                    (None, Some(written)) => return Some(format!("{inner}: {written} was added")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(read), Value::Array(written)) if read.len() == written.len() => read
            .iter()
            .zip(written)
            .enumerate()
            .find_map(|(index, (read, written))| difference(read, written, format!("{path}[{index}]"))),
        _ if read == written => None,
        _ => Some(format!("{path}: {read} became {written}")),
    }
}

/// Corpus files that are not YAML at all, with the parser's complaint.
const NOT_YAML: &[(&str, &str)] = &[(
    // Generated filler: a quoted scalar continued at its key's indentation.
    "son-mano-framework_smr-test_nsr.yml",
    "invalid indentation in multiline quoted scalar",
)];

/// The document in `path`; `None` for a file of [`NOT_YAML`], once its
/// parse failed as expected.
fn read(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let parsed = serde_saphyr::from_str(&text);
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    match NOT_YAML.iter().find(|(file, _)| *file == name) {
        Some((_, complaint)) => {
            let error = parsed
                .err()
                .unwrap_or_else(|| panic!("{name} parses now: take it off NOT_YAML"));
            assert!(error.to_string().contains(complaint), "{name}: {error}");
            None
        }
        None => Some(parsed.unwrap_or_else(|error| panic!("{}: {error}", path.display()))),
    }
}

/// The model type of an event payload, from its 5GTANGO file name.
fn payload_round_trip(path: &Path, document: &Value) -> Result<(), String> {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    let is_fsm = path.to_string_lossy().contains("/fsm") || name.starts_with("fsm_");
    match name {
        _ if name.contains("task_event") => round_trip::<ssm::TaskContent>(document),
        _ if name.contains("monitor") => round_trip::<ssm::MonitorContent>(document),
        _ if name.contains("scale") => round_trip::<fsm::ScaleContent>(document),
        _ if name.contains("placement") => round_trip::<ssm::PlacementContent>(document),
        _ if name.contains("configure") && is_fsm => round_trip::<fsm::ConfigureContent>(document),
        _ if name.contains("configure") => round_trip::<ssm::ConfigureContent>(document),
        _ if name.contains("state") && is_fsm => round_trip::<fsm::StateContent>(document),
        _ if name.contains("state") => round_trip::<ssm::StateContent>(document),
        _ if name.contains("start") || name.contains("stop") => round_trip::<fsm::LifecycleContent>(document),
        _ => Err("no content type for this file name".into()),
    }
}

/// A record file holds one record, a list of them, or (the SLM's
/// instantiation replies) one under `nsr` or `vnfr`.
fn record_round_trip(path: &Path, document: &Value) -> Result<(), String> {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    let records = match document {
        Value::Array(records) => records.clone(),
        Value::Object(fields) => match fields.get("nsr").or_else(|| fields.get("vnfr")) {
            Some(record) => vec![record.clone()],
            None => vec![document.clone()],
        },
        other => return Err(format!("not a record: {other}")),
    };
    records.iter().try_for_each(|record| {
        if name.contains("nsr") {
            round_trip::<Nsr>(record)
        } else {
            round_trip::<Vnfr>(record)
        }
    })
}

/// An NSD has `network_functions`; anything else of the descriptor
/// directories that is not a project manifest is a VNFD.
fn descriptor_round_trip(document: &Value) -> Result<(), String> {
    if document.get("network_functions").is_some() || document.get("connection_points").is_none() {
        round_trip::<Nsd>(document)
    } else {
        round_trip::<Vnfd>(document)
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
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

/// Runs `check` on every file of `dir`; all failures at once.
fn assert_each(dir: &Path, check: impl Fn(&Path, &Value) -> Result<(), String>) -> usize {
    let files = files(dir);
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let document = read(file)?;
            check(file, &document)
                .err()
                .map(|error| format!("{}: {error}", file.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    files.len()
}

fn corpus() -> Option<PathBuf> {
    let corpus = std::env::var_os("WASMANO_CORPUS").map(PathBuf::from);
    if corpus.is_none() {
        eprintln!("WASMANO_CORPUS is not set: SKIPPING the corpus round trips (.ci/run sets it)");
    }
    corpus
}

#[test]
fn bundled_payloads_round_trip() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples-sm/payloads");
    assert_eq!(assert_each(&bundled, payload_round_trip), 17);
}

#[test]
fn corpus_payloads_round_trip() {
    let Some(corpus) = corpus() else { return };
    assert_eq!(assert_each(&corpus.join("payloads"), payload_round_trip), 13);
}

#[test]
fn corpus_records_round_trip() {
    let Some(corpus) = corpus() else { return };
    assert_eq!(assert_each(&corpus.join("records"), record_round_trip), 10);
}

#[test]
fn corpus_descriptors_round_trip() {
    let Some(corpus) = corpus() else { return };
    let descriptors = |path: &Path, document: &Value| {
        if path.to_string_lossy().contains("project") {
            return Ok(()); // tng-sdk-project's manifest, not a descriptor
        }
        descriptor_round_trip(document)
    };
    assert_eq!(assert_each(&corpus.join("descriptors"), descriptors), 30);
}

#[test]
fn a_lost_field_is_found() {
    // The comparison itself: a type that drops a field fails the round trip.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct OnlyId {
        id: String,
    }
    let document = serde_json::json!({"id": "a", "version": "1"});
    assert_eq!(round_trip::<OnlyId>(&document).unwrap_err(), ".version: \"1\" was lost");
    assert!(round_trip::<Vnfr>(&document).is_ok());
}
