//! The four fuzz targets, their seeds, and what each does with one input.
//!
//! Each target feeds bytes to the code that reads them from an untrusted
//! source and returns a coarse *outcome* (accepted, or the kind of refusal)
//! that the driver uses to keep inputs that behaved differently; a panic is
//! the only failure. Seeds come from the repository (`examples-sm/payloads`,
//! `examples-sm/package`, `tests/descriptors`) and, when it is given, from a
//! 5GTANGO corpus directory.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};
use sm_sdk::Document;
use sm_sdk::ssm::{PlacementRequest, topology_vims};
use tango_model::descriptor::VimKind;
use tango_model::fsm::StateReply;
use tango_model::ssm::{EventSwitch, Placement, PlacementContent, VnfPlacement, VnfSwitches};
use wasmano::descriptor::{self, Descriptor};
use wasmano::package::Package;
use wasmano::placement::{LabelledVim, PlacementOptions, VnfToPlace, place, requested_placement, validate_mapping};
use wasmano_host::{Event, ManagerKind, Reply, Request};

use crate::mutate::{self, Rng};

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Descriptor YAML: the budgeted parse, the typed model and its checks.
    Descriptor,
    /// Hook payloads: YAML/JSON documents read by every typed request parser
    /// of the SDK and by the host's request building, for every event.
    Payload,
    /// Package archives: a `.tar.gz` read by `Package::read`.
    Package,
    /// Manager replies as the orchestrator consumes them: JSON documents, and
    /// placement mappings checked against (mutated) topologies.
    Reply,
}

impl Target {
    /// The name used on the command line and for the crash directory.
    pub fn name(self) -> &'static str {
        match self {
            Self::Descriptor => "descriptor",
            Self::Payload => "payload",
            Self::Package => "package",
            Self::Reply => "reply",
        }
    }
}

/// Where seeds are read from.
#[derive(Debug)]
pub struct SeedSources {
    /// The workspace root.
    pub workspace: PathBuf,
    /// A 5GTANGO corpus directory, when one is given.
    pub corpus: Option<PathBuf>,
}

/// The inputs a target starts from. A package target's seeds are `.tar.gz`
/// files; [`next_package_input`] also mutates their uncompressed tars.
pub fn seeds(target: Target, sources: &SeedSources) -> Vec<Vec<u8>> {
    let repo = |dir: &str| sources.workspace.join(dir);
    let corpus = |dir: &str| sources.corpus.as_ref().map(|root| root.join(dir));
    let descriptors = || {
        let mut files = yaml_files(&[
            Some(repo("tests/descriptors")),
            Some(repo("examples-sm/package")),
            corpus("descriptors"),
            corpus("tosca"),
            corpus("schemas"),
        ]);
        files.extend(yaml_files(&[corpus("records")]));
        files
    };
    let payloads = || {
        yaml_files(&[
            Some(repo("examples-sm/payloads")),
            corpus("payloads"),
            corpus("records"),
        ])
    };
    match target {
        Target::Descriptor => descriptors(),
        Target::Payload => {
            let mut seeds = payloads();
            // The same documents as JSON, as they travel to a manager.
            let as_json: Vec<Vec<u8>> = seeds.iter().filter_map(|seed| yaml_to_json(seed)).collect();
            seeds.extend(as_json);
            seeds
        }
        Target::Package => package_seeds(&descriptors()),
        Target::Reply => reply_seeds(&payloads()),
    }
}

/// Every `.yml`, `.yaml` and `.json` file under the given directories, read
/// whole; directories that do not exist are skipped.
fn yaml_files(dirs: &[Option<PathBuf>]) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = dirs.iter().flatten().cloned().collect();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|ext| ext.to_str()),
                Some("yml" | "yaml" | "json")
            ) && let Ok(bytes) = std::fs::read(&path)
            {
                files.push(bytes);
            }
        }
    }
    files
}

fn yaml_to_json(bytes: &[u8]) -> Option<Vec<u8>> {
    let value: Value = serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
    serde_json::to_vec(&value).ok()
}

/// Packages built from the descriptors: an NSD with its VNFDs and stand-in
/// modules, one with a long (GNU long-name) path, one with a directory
/// entry; each as a `.tar.gz`.
fn package_seeds(descriptors: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let module = b"\0asm\x0d\0\x01\0".to_vec();
    let mut packages: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    for chunk in descriptors.chunks(4) {
        let mut files: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .enumerate()
            .map(|(index, bytes)| (format!("service/descriptor-{index}.yml"), bytes.clone()))
            .collect();
        files.push(("service/modules/sm_placement.wasm".to_owned(), module.clone()));
        packages.push(files);
    }
    let deep = format!("service/{}/nsd.yml", "nested-directory".repeat(8));
    packages.push(vec![(deep, descriptors.first().cloned().unwrap_or_default())]);
    packages.push(vec![
        ("service/".to_owned(), Vec::new()),
        ("service/README".to_owned(), b"notes".to_vec()),
    ]);
    packages.iter().filter_map(|files| gzip(&tar(files)).ok()).collect()
}

/// An uncompressed tar of these files (a path ending in `/` is a directory).
fn tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
        }
        header.set_size(bytes.len() as u64);
        // A path the tar crate refuses is left out of the seed.
        let _ = builder.append_data(&mut header, path, bytes.as_slice());
    }
    builder.into_inner().unwrap_or_default()
}

/// Gzips bytes at the fastest level.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Gunzips a seed, when it is gzip.
pub fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut inflated).ok()?;
    Some(inflated)
}

/// Reply seeds: each placement payload as JSON with the `mapping` the
/// default placement finds for it (and one sending everything to the first
/// VIM), plus configure and state replies in 5GTANGO's shape.
fn reply_seeds(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for payload in payloads {
        let Some(json) = yaml_to_json(payload) else {
            continue;
        };
        let Ok(mut content) = serde_json::from_slice::<Value>(&json) else {
            continue;
        };
        if let Some((vnfs, vims)) = placement_problem(&content) {
            if let Ok(mapping) = place(&vnfs, &vims, &PlacementOptions::default()) {
                content["mapping"] = tango_mapping(&mapping);
                seeds.push(content.to_string().into_bytes());
            }
            if let Some(first) = vims.first() {
                let all_on_first: Vec<VnfPlacement> = vnfs
                    .iter()
                    .map(|vnf| VnfPlacement {
                        vnf: vnf.id.clone(),
                        vim: first.vim.uuid.clone(),
                    })
                    .collect();
                content["mapping"] = tango_mapping(&all_on_first);
                seeds.push(content.to_string().into_bytes());
            }
        }
        seeds.push(json);
    }
    seeds.push(
        json!({"vnf": [{"id": "a", "configure": {"trigger": true, "payload": {"x": [1, 2.5, null]}}}]})
            .to_string()
            .into_bytes(),
    );
    seeds.push(json!({"content": {"state": {"sessions": 3}}}).to_string().into_bytes());
    seeds
}

/// A mapping in 5GTANGO's reply shape, as the host renders it.
fn tango_mapping(mapping: &[VnfPlacement]) -> Value {
    Reply::Placement(Placement::of_vnfs(mapping.to_vec())).to_tango()["mapping"].take()
}

/// The VNFs and VIMs of a placement content, read as `wasmano sm test`
/// reads them; `None` when the content is not a placement the orchestrator
/// could have sent.
fn placement_problem(content: &Value) -> Option<(Vec<VnfToPlace>, Vec<LabelledVim>)> {
    let request: PlacementContent = serde_json::from_value(content.clone()).ok()?;
    requested_placement(request).ok()
}

/// What a target needs between executions.
#[derive(Debug)]
pub struct Harness {
    target: Target,
    /// Where a package input is written to be read back as a file.
    archive: PathBuf,
    /// Held so the directory lives as long as the harness.
    _scratch: tempfile::TempDir,
}

impl Harness {
    /// A harness for `target`, with its scratch directory.
    pub fn new(target: Target) -> std::io::Result<Self> {
        let scratch = tempfile::tempdir()?;
        Ok(Self {
            target,
            archive: scratch.path().join("package.tar.gz"),
            _scratch: scratch,
        })
    }

    /// Runs one input; the outcome names how it was accepted or refused,
    /// coarsely enough that the outcomes of a run stay few.
    pub fn run(&self, input: &[u8]) -> String {
        match self.target {
            Target::Descriptor => run_descriptor(input),
            Target::Payload => run_payload(input),
            Target::Package => self.run_package(input),
            Target::Reply => run_reply(input),
        }
    }

    fn run_package(&self, input: &[u8]) -> String {
        if let Err(error) = std::fs::write(&self.archive, input) {
            return format!("scratch write failed: {error}");
        }
        match Package::read(&self.archive) {
            Ok(package) => {
                let descriptors = package
                    .files
                    .iter()
                    .filter(|(path, _)| path.extension().is_some_and(|ext| ext == "yml"))
                    .filter(|(_, bytes)| descriptor::parse(bytes).is_ok())
                    .count();
                format!(
                    "read {} files, {descriptors} valid descriptors",
                    package.files.len().min(4)
                )
            }
            Err(error) => format!(
                "refused: {}",
                shape(&error.to_string().replace(&*self.archive.to_string_lossy(), ""))
            ),
        }
    }
}

/// Generates a package input: a mutated `.tar.gz`, or (half the time) a
/// mutated tar gzipped afterwards, so that mutants reach the tar reader.
pub fn next_package_input(rng: &mut Rng, seed: &[u8], other: &[u8], dictionary: &[Vec<u8>]) -> Vec<u8> {
    let mut input = if rng.one_in(2) { gunzip(seed) } else { None }.unwrap_or_else(|| seed.to_vec());
    let compressed = input.starts_with(&[0x1f, 0x8b]);
    let other = gunzip(other).unwrap_or_else(|| other.to_vec());
    mutate::mutate(rng, &mut input, &other, dictionary);
    if compressed {
        input
    } else {
        gzip(&input).unwrap_or(input)
    }
}

fn run_descriptor(input: &[u8]) -> String {
    let as_document = descriptor::document(input).map_or("no document", |_| "document");
    let outcome = match descriptor::parse(input) {
        Ok(parsed) => {
            let cross_checks = match &parsed {
                Descriptor::Service(nsd) => descriptor::check_service(nsd, &[]).len().min(3),
                Descriptor::Function(_) => 0,
            };
            format!("{} {} cross-check problems", parsed.kind_name(), cross_checks)
        }
        Err(problems) => {
            // Printing every problem exercises their messages too.
            let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
            let first = problems
                .first()
                .map(|problem| format!("{:?}", problem.issue))
                .unwrap_or_default();
            format!("{} problems, first {}", rendered.len().min(5), shape(&first))
        }
    };
    format!("{as_document}: {outcome}; {}", pin_outcome(input))
}

/// Pins the input's modules to one digest and checks that pinning the
/// result again changes nothing: the in-place text edit must be stable.
fn pin_outcome(input: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(input) else {
        return "not pinned: not UTF-8".to_owned();
    };
    let digest = |_: &std::path::Path| Ok("ab".repeat(32));
    match descriptor::pin_digests(text, digest) {
        Ok(pinned) => {
            let again = descriptor::pin_digests(&pinned.text, digest)
                .unwrap_or_else(|error| panic!("a pinned descriptor cannot be pinned again: {error}"));
            assert!(
                !again.changed() && again.text == pinned.text,
                "pinning a pinned descriptor changed it"
            );
            format!("pinned {} modules", pinned.modules.len().min(3))
        }
        Err(error) => format!("not pinned: {}", shape(&error.to_string())),
    }
}

fn run_payload(input: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(input) else {
        return "not UTF-8".to_owned();
    };
    let value: Value = match serde_saphyr::from_str(text) {
        Ok(value) => value,
        Err(error) => return format!("not YAML: {}", shape(&error.to_string())),
    };
    let json = serde_json::from_str::<Value>(text).is_ok();
    let mut accepted = Vec::new();
    let mut contents = vec![&value];
    // A full envelope carries the content under `content` (FSM messages).
    contents.extend(value.get("content").filter(|content| content.is_object()));
    for content in contents {
        accepted.push(typed_requests(content));
        for kind in [ManagerKind::Service, ManagerKind::Function] {
            for event in Event::all(kind) {
                accepted.push(Request::new(event, content).is_ok());
            }
        }
    }
    let flags: String = accepted.iter().map(|ok| if *ok { '1' } else { '0' }).collect();
    format!("json {json}: {flags}")
}

/// Runs every typed request parser of the SDK on one content, using what
/// they read as a manager would; true when all of them accepted it.
fn typed_requests(content: &Value) -> bool {
    use sm_sdk::{fsm, ssm};
    let document = Document::from_value(content);
    let mut all = true;
    let mut note = |ok: bool| all &= ok;
    match PlacementRequest::from_document(document.clone()) {
        Ok(request) => {
            for vnfd in &request.vnfds {
                note(vnfd.instance_id().is_some() && vnfd.demand().is_ok());
            }
            for vim in &request.vims {
                note(vim.free_cores().is_finite() && vim.free_memory().is_finite());
            }
            note(request.wims().is_ok() && request.neps().is_ok());
        }
        Err(_) => note(false),
    }
    match topology_vims(content) {
        Ok(vims) => note(PlacementRequest::with_vims(document.clone(), vims).is_ok()),
        Err(_) => note(false),
    }
    match ssm::ConfigureRequest::from_document(document.clone()) {
        Ok(request) => note(
            request
                .functions
                .iter()
                .all(|function| function.instance_id().is_some()),
        ),
        Err(_) => note(false),
    }
    note(ssm::StateRequest::from_document(document.clone()).is_ok());
    match fsm::LifecycleRequest::from_document(document.clone()) {
        Ok(request) => {
            note(request.vnfr.vim_id().is_some() && !request.vnfr.addresses().is_empty());
            note(request.vnfd.demand().is_ok());
        }
        Err(_) => note(false),
    }
    match fsm::ConfigureRequest::from_document(document.clone()) {
        Ok(request) => note(request.vnfrs.iter().all(|vnfr| vnfr.vim_id().is_some())),
        Err(_) => note(false),
    }
    note(fsm::StateRequest::from_document(document).is_ok());
    all
}

fn run_reply(input: &[u8]) -> String {
    // The host reads a state, an extracted state and a configure payload
    // with this one call.
    let value: Value = match serde_json::from_slice(input) {
        Ok(value) => value,
        Err(error) => return format!("not JSON: {:?}", error.classify()),
    };
    let rendered = [
        Reply::State(value.clone()),
        Reply::FunctionState(StateReply::Extracted(value.clone())),
        Reply::Configure(configure_decisions(&value)),
    ]
    .iter()
    .map(|reply| reply.to_tango().to_string().len())
    .sum::<usize>();
    let placement = match placement_problem(&value) {
        None => "no placement".to_owned(),
        Some((vnfs, vims)) => {
            let mapping = answered_mapping(&value);
            let answered = validate_mapping(&mapping, &vnfs, &vims)
                .map_or_else(|error| shape(&error.to_string()), |()| "valid".to_owned());
            let default = match place(&vnfs, &vims, &PlacementOptions::default()) {
                Ok(found) => {
                    // The default placement's own answer must pass the check
                    // a manager's answer goes through.
                    if let Err(error) = validate_mapping(&found, &vnfs, &vims) {
                        panic!("the default placement's mapping fails validation: {error}");
                    }
                    "placed".to_owned()
                }
                Err(error) => shape(&error.to_string()),
            };
            let containers = vims.iter().any(|vim| vim.vim.kind == VimKind::Container);
            format!("mapping {answered}; default {default}; container VIMs {containers}")
        }
    };
    format!("{}: {placement}", rendered.min(1))
}

/// The `mapping` of a 5GTANGO placement reply (`{vnf: {vim: id}}`), leaving
/// out entries that name no VIM string, as the WIT reply could not carry
/// them.
fn answered_mapping(reply: &Value) -> Vec<VnfPlacement> {
    let Some(mapping) = reply.get("mapping").and_then(Value::as_object) else {
        return Vec::new();
    };
    mapping
        .iter()
        .filter_map(|(vnf, target)| {
            Some(VnfPlacement {
                vnf: vnf.clone(),
                vim: target.get("vim")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// The decisions of a 5GTANGO configure reply (`vnf: [{id, <event>:
/// {trigger, payload}}]`, for start, stop, configure and scale).
fn configure_decisions(reply: &Value) -> Vec<VnfSwitches> {
    let switch = |decision: &Value, event: &str| {
        decision.get(event).map(|switch| EventSwitch {
            trigger: switch.get("trigger").and_then(Value::as_bool).unwrap_or_default(),
            payload: switch.get("payload").cloned(),
        })
    };
    reply
        .get("vnf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|decision| VnfSwitches {
            id: decision
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            start: switch(decision, "start"),
            stop: switch(decision, "stop"),
            configure: switch(decision, "configure"),
            scale: switch(decision, "scale"),
        })
        .collect()
}

/// A message reduced to its shape: its first four words of letters, so
/// messages that differ only in names, values or positions give one outcome.
fn shape(message: &str) -> String {
    message
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|word| !word.is_empty())
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}
