//! The `wasmano sm` harness as a user runs it: the real binary, real guests,
//! the bundled 5GTANGO payloads, and every exit code of its contract.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{guests, payloads_dir};

const BIN: &str = env!("CARGO_BIN_EXE_wasmano");

fn wasmano(args: &[&str]) -> Output {
    let cache = support::workspace_root().join("target/harness-cache");
    Command::new(BIN)
        .args(args)
        .env("WASMANO_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .output()
        .expect("run wasmano")
}

fn sm_test(module: &Path, event: Option<&str>, payload: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sm",
        "test",
        "--module",
        module.to_str().unwrap(),
        "--payload",
        payload.to_str().unwrap(),
    ];
    if let Some(event) = event {
        args.extend(["--event", event]);
    }
    args.extend(extra);
    wasmano(&args)
}

fn corpus(relative: &str) -> std::path::PathBuf {
    payloads_dir().join(relative)
}

fn stdout_yaml(output: &Output) -> serde_json::Value {
    serde_saphyr::from_str(&String::from_utf8_lossy(&output.stdout)).expect("stdout is YAML")
}

/// The one line a failing run prints last on stderr.
fn last_stderr_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_reply_prints_as_5gtango_yaml_and_exits_0() {
    let output = sm_test(
        &guests().placement,
        Some("placement"),
        &corpus("tng-sdk-sm/ssm/placement_event.yml"),
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
    let reply = stdout_yaml(&output);
    assert_eq!(reply["status"], "COMPLETED");
    assert_eq!(reply["error"], serde_json::Value::Null);
    assert_eq!(
        reply["mapping"]["beee663b-10b5-43c3-b2db-1aa149256e60"]["vim"],
        "11111111-2222-3333-4444-555555555555"
    );
}

#[test]
fn the_event_can_come_from_a_full_envelope() {
    // The tng-sdk-sm configure payload carries `ssm_type: configure` beside its content.
    let output = sm_test(
        &guests().configure,
        None,
        &corpus("tng-sdk-sm/ssm/configure_event.yml"),
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
    assert_eq!(stdout_yaml(&output)["vnf"][0]["configure"]["trigger"], true);

    // An FSM envelope nests its content under `content`.
    let dir = tempfile::tempdir().unwrap();
    let envelope = dir.path().join("envelope.yml");
    let start = std::fs::read_to_string(corpus("tng-sdk-sm/fsm/start_event.yml")).unwrap();
    let nested: String = start.lines().skip(1).map(|line| format!("  {line}\n")).collect();
    std::fs::write(&envelope, format!("fsm_type: start\ncontent:\n{nested}")).unwrap();
    let output = sm_test(&guests().vnf_manager, None, &envelope, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
    assert_eq!(
        stdout_yaml(&output)["envs"][0]["envs"]["VNF_ID"],
        "171b793b-a075-4b00-a947-887be5b5f1b1"
    );
}

#[test]
fn a_manager_error_exits_1_with_the_5gtango_error_reply() {
    let output = sm_test(
        &guests().hostile,
        Some("state"),
        &corpus("tng-sdk-sm/ssm/state_event.yml"),
        &["--option", "behaviour=error"],
    );
    assert_eq!(output.status.code(), Some(1));
    let reply = stdout_yaml(&output);
    assert_eq!(reply["status"], "ERROR");
    assert_eq!(reply["error"], "hostile manager answers an error on purpose");
    assert!(last_stderr_line(&output).contains("answered an error"));
}

#[test]
fn a_sandbox_fault_exits_2() {
    let output = sm_test(
        &guests().hostile,
        Some("state"),
        &corpus("tng-sdk-sm/ssm/state_event.yml"),
        &["--option", "behaviour=loop", "--timeout-ms", "20"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        last_stderr_line(&output).contains("deadline of 20 ms exceeded"),
        "{}",
        last_stderr_line(&output)
    );
    let output = sm_test(
        &guests().hostile,
        Some("state"),
        &corpus("tng-sdk-sm/ssm/state_event.yml"),
        &["--option", "behaviour=memory-bomb", "--memory-mb", "8"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        last_stderr_line(&output).contains("memory cap"),
        "{}",
        last_stderr_line(&output)
    );
}

#[test]
fn an_unhandled_event_exits_3() {
    let output = sm_test(
        &guests().placement,
        Some("configure"),
        &corpus("tng-sdk-sm/ssm/configure_event.yml"),
        &[],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(last_stderr_line(&output).contains("does not handle"));
}

#[test]
fn bad_usage_exits_64() {
    // An SSM `scale` is a 5GTANGO event wasmano's contract does not have.
    let dir = tempfile::tempdir().unwrap();
    let scale = dir.path().join("scale.yml");
    std::fs::write(&scale, "ssm_type: scale\ncontent: {}\n").unwrap();
    let output = sm_test(&guests().placement, None, &scale, &[]);
    assert_eq!(output.status.code(), Some(64));
    assert!(
        last_stderr_line(&output).contains("unknown event \"scale\""),
        "{}",
        last_stderr_line(&output)
    );

    let placement = corpus("tng-sdk-sm/ssm/placement_event.yml");
    for extra in [
        &["--timeout-ms", "0"][..],
        &["--option", "no-equals-sign"],
        &["--memory-mb", "100000"],
    ] {
        let output = sm_test(&guests().placement, Some("placement"), &placement, extra);
        assert_eq!(
            output.status.code(),
            Some(64),
            "{extra:?}: {}",
            last_stderr_line(&output)
        );
    }
    let output = sm_test(&guests().placement, Some("start"), &placement, &[]);
    assert_eq!(output.status.code(), Some(64));
    let output = sm_test(
        &guests().configure,
        Some("placement"),
        &corpus("tng-sdk-sm/ssm/configure_event.yml"),
        &[],
    );
    assert_eq!(output.status.code(), Some(64), "the envelope names configure");
}

#[test]
fn bad_data_exits_65() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("malformed.yml");
    std::fs::write(&malformed, "nsd: [unclosed\n  - {").unwrap();
    let output = sm_test(&guests().placement, Some("placement"), &malformed, &[]);
    assert_eq!(output.status.code(), Some(65));
    assert!(
        last_stderr_line(&output).contains("malformed.yml: malformed payload"),
        "{}",
        last_stderr_line(&output)
    );

    for (text, found) in [
        ("", "found nothing (the document is empty)"),
        ("- nsd\n", "found a list"),
    ] {
        let odd = dir.path().join("odd.yml");
        std::fs::write(&odd, text).unwrap();
        let output = sm_test(&guests().placement, Some("placement"), &odd, &[]);
        assert_eq!(output.status.code(), Some(65), "{text:?}");
        let line = last_stderr_line(&output);
        assert!(
            line.contains("odd.yml: the payload must be a mapping") && line.ends_with(found),
            "{line}"
        );
    }

    let placement = corpus("tng-sdk-sm/ssm/placement_event.yml");
    let zeros = "0".repeat(64);
    let output = sm_test(
        &guests().placement,
        Some("placement"),
        &placement,
        &["--sha256", &zeros],
    );
    assert_eq!(output.status.code(), Some(65));
    assert!(last_stderr_line(&output).contains("sha256 mismatch"));

    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, b"definitely not a component").unwrap();
    let output = sm_test(&not_wasm, Some("placement"), &placement, &[]);
    assert_eq!(output.status.code(), Some(65));
    assert!(last_stderr_line(&output).contains("not a valid WebAssembly component"));

    let output = sm_test(&guests().hostile_contract, Some("placement"), &placement, &[]);
    assert_eq!(output.status.code(), Some(65));
    assert!(last_stderr_line(&output).contains("wasmano:sm@2.0.0"));
}

/// A copy of a bundled payload, changed by `edit`, written as JSON (which is
/// YAML) into `dir`.
fn edited_payload(dir: &Path, relative: &str, edit: impl FnOnce(&mut serde_json::Value)) -> std::path::PathBuf {
    let mut payload: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(corpus(relative)).unwrap()).unwrap();
    edit(&mut payload);
    let path = dir.join(relative.replace('/', "-"));
    std::fs::write(&path, serde_json::to_string(&payload).unwrap()).unwrap();
    path
}

/// Placement answers the orchestrator's mapping check refuses exit 4 with
/// the check's own reason, the answer still printed; a sound answer from
/// the same manager exits 0.
#[test]
fn a_placement_the_orchestrator_would_refuse_exits_4() {
    let placement = corpus("tng-sdk-sm/ssm/placement_event.yml");
    let vnf = "beee663b-10b5-43c3-b2db-1aa149256e60";
    let run = |behaviour: &str, payload: &Path| {
        sm_test(
            &guests().hostile,
            Some("placement"),
            payload,
            &["--option", &format!("behaviour={behaviour}")],
        )
    };

    let output = run("first-vim", &placement);
    assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
    assert_eq!(
        stdout_yaml(&output)["mapping"][vnf]["vim"],
        "11111111-2222-3333-4444-555555555555"
    );

    let output = run("bad-mapping", &placement);
    assert_eq!(output.status.code(), Some(4), "{}", last_stderr_line(&output));
    assert_eq!(
        stdout_yaml(&output)["mapping"][vnf]["vim"],
        "no-such-vim",
        "the answer is printed"
    );
    assert!(
        last_stderr_line(&output).contains(&format!("puts VNF {vnf} on unknown VIM no-such-vim")),
        "{}",
        last_stderr_line(&output)
    );

    let output = run("place-nothing", &placement);
    assert_eq!(output.status.code(), Some(4), "{}", last_stderr_line(&output));
    assert!(
        last_stderr_line(&output).contains(&format!("leaves VNF {vnf} unplaced")),
        "{}",
        last_stderr_line(&output)
    );

    let dir = tempfile::tempdir().unwrap();
    let first_vim = |edit: fn(&mut serde_json::Value)| {
        edited_payload(dir.path(), "tng-sdk-sm/ssm/placement_event.yml", |payload| {
            edit(&mut payload["topology"]["vims"]["vim_list"][0]);
        })
    };
    let containers_first = first_vim(|vim| vim["type"] = "container".into());
    let output = run("first-vim", &containers_first);
    assert_eq!(output.status.code(), Some(4), "{}", last_stderr_line(&output));
    assert!(
        last_stderr_line(&output).contains("a container VIM"),
        "{}",
        last_stderr_line(&output)
    );
    let full_first = first_vim(|vim| vim["core_used"] = vim["core_total"].clone());
    let output = run("first-vim", &full_first);
    assert_eq!(output.status.code(), Some(4), "{}", last_stderr_line(&output));
    assert!(
        last_stderr_line(&output).contains("overloads VIM 11111111-2222-3333-4444-555555555555"),
        "{}",
        last_stderr_line(&output)
    );
}

/// A configure answer that triggers a VNF the request does not have exits 4;
/// the example configure manager's answers to the bundled payloads exit 0.
#[test]
fn a_configure_reply_naming_an_unknown_vnf_exits_4() {
    let configure = corpus("tng-sdk-sm/ssm/configure_event.yml");
    let output = sm_test(
        &guests().hostile,
        Some("configure"),
        &configure,
        &["--option", "behaviour=configure-unknown"],
    );
    assert_eq!(output.status.code(), Some(4), "{}", last_stderr_line(&output));
    assert!(
        last_stderr_line(&output).contains("names unknown VNF instance no-such-vnf-instance"),
        "{}",
        last_stderr_line(&output)
    );

    for payload in [
        "tng-sdk-sm/ssm/configure_event.yml",
        "industrial-pilot/ssm_configure_event_initialisation.yml",
        "industrial-pilot/ssm_configure_event_reconfiguration.yml",
    ] {
        let output = sm_test(&guests().configure, Some("configure"), &corpus(payload), &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{payload}: {}",
            last_stderr_line(&output)
        );
    }
}

/// A placement payload whose VNFD has no id could not come from the
/// orchestrator, and no mapping could place it: bad data, before the
/// manager runs.
#[test]
fn a_placement_payload_with_an_anonymous_vnf_exits_65() {
    let dir = tempfile::tempdir().unwrap();
    let anonymous = edited_payload(dir.path(), "tng-sdk-sm/ssm/placement_event.yml", |payload| {
        let vnfd = payload["vnfds"][0].as_object_mut().unwrap();
        vnfd.remove("instance_uuid");
        vnfd.remove("uuid");
    });
    let output = sm_test(&guests().placement, Some("placement"), &anonymous, &[]);
    assert_eq!(output.status.code(), Some(65), "{}", last_stderr_line(&output));
    assert!(
        last_stderr_line(&output).contains("vnfds[0] has neither instance_uuid nor uuid"),
        "{}",
        last_stderr_line(&output)
    );
}

#[test]
fn a_missing_file_exits_66() {
    let placement = corpus("tng-sdk-sm/ssm/placement_event.yml");
    let output = sm_test(
        Path::new("/nonexistent/manager.wasm"),
        Some("placement"),
        &placement,
        &[],
    );
    assert_eq!(output.status.code(), Some(66));
    let output = sm_test(
        &guests().placement,
        Some("placement"),
        Path::new("/nonexistent/payload.yml"),
        &[],
    );
    assert_eq!(output.status.code(), Some(66));
    assert!(last_stderr_line(&output).contains("/nonexistent/payload.yml"));
}

#[test]
fn inspect_reports_kind_version_events_digest_and_size() {
    let output = wasmano(&["sm", "inspect", guests().vnf_manager.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
    let summary = stdout_yaml(&output);
    let bytes = std::fs::read(&guests().vnf_manager).unwrap();
    assert_eq!(summary["kind"], "fsm");
    assert_eq!(summary["contract"], "wasmano:sm@2.0.0");
    assert_eq!(
        summary["events"],
        serde_json::json!(["start", "stop", "configure", "state"])
    );
    assert_eq!(summary["size"], bytes.len());
    assert_eq!(summary["sha256"].as_str().unwrap().len(), 64);
}

/// `wasmano sm inspect M | head -0`: the reader of stdout is gone before
/// anything is written. The command ends quietly with 0 (as the whole
/// output would have been cut short by the reader anyway), not with a panic.
#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let mut child = Command::new(BIN)
        .args(["sm", "inspect", guests().vnf_manager.to_str().unwrap()])
        .env(
            "WASMANO_CACHE_DIR",
            support::workspace_root().join("target/harness-cache"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The read end closes before the module is even loaded.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// `sm new` for both kinds: the crate's native test passes and it builds to a
/// component the harness can inspect.
#[test]
fn scaffolded_managers_test_and_build() {
    let dir = tempfile::tempdir().unwrap();
    let target_dir = support::workspace_root().join("target/scaffold");
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    for (kind, name, event) in [("ssm", "my-placement", "placement"), ("fsm", "my-vnf", "start")] {
        let output = wasmano(&["sm", "new", name, "--kind", kind, "--dir", dir.path().to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
        let crate_dir = dir.path().join(name);
        let test = Command::new(cargo)
            .arg("test")
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(&crate_dir)
            .output()
            .unwrap();
        assert!(
            test.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&test.stderr)
        );
        assert!(String::from_utf8_lossy(&test.stdout).contains("test result: ok. 1 passed"));
        let build = Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target_dir)
            .current_dir(&crate_dir)
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let module = target_dir.join(format!("wasm32-wasip2/release/{}.wasm", name.replace('-', "_")));
        let output = wasmano(&["sm", "inspect", module.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{}", last_stderr_line(&output));
        let summary = stdout_yaml(&output);
        assert_eq!(summary["kind"], kind);
        assert_eq!(summary["events"], serde_json::json!([event]));
    }
    let again = wasmano(&[
        "sm",
        "new",
        "my-vnf",
        "--kind",
        "fsm",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        again.status.code(),
        Some(73),
        "an existing directory is never overwritten"
    );
    let bad = wasmano(&[
        "sm",
        "new",
        "Bad Name",
        "--kind",
        "fsm",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(64));
}

/// A service of two container VNFs, `web` and `cache`, each unit with a
/// port; its managers are legacy images, which generating never loads.
fn write_container_service(dir: &Path) -> (std::path::PathBuf, Vec<std::path::PathBuf>) {
    let vnfd = |name: &str, port: u16| {
        format!(
            "descriptor_schema: https://raw.githubusercontent.com/sonata-nfv/tng-schema/master/function-descriptor/vnfd-schema.yml
vendor: eu.wasmano
name: {name}-vnf
version: '1.0'
connection_points:
  - {{id: data, interface: ipv4, type: external}}
cloudnative_deployment_units:
  - id: cdu01
    image: wasmano/{name}:1.0
    resource_requirements: {{cpu: {{vcpus: 1}}, memory: {{size: 512, size_unit: MB}}}}
    connection_points:
      - {{id: data, port: {port}, type: serviceendpoint}}
virtual_links:
  - {{id: data-link, connectivity_type: E-LAN, connection_points_reference: [data, 'cdu01:data']}}
function_specific_managers:
  - id: {name}-fsm
    image: example/{name}-fsm
    options:
      - {{key: type, value: start}}
"
        )
    };
    let nsd = "descriptor_schema: https://raw.githubusercontent.com/sonata-nfv/tng-schema/master/service-descriptor/nsd-schema.yml
vendor: eu.wasmano
name: generated
version: '1.0'
network_functions:
  - {vnf_id: web, vnf_vendor: eu.wasmano, vnf_name: web-vnf, vnf_version: '1.0'}
  - {vnf_id: cache, vnf_vendor: eu.wasmano, vnf_name: cache-vnf, vnf_version: '1.0'}
connection_points:
  - {id: input, interface: ipv4, type: external}
virtual_links:
  - {id: front, connectivity_type: E-LAN, connection_points_reference: [input, 'web:data', 'cache:data']}
service_specific_managers:
  - id: placement
    image: example/placement-ssm
    options:
      - {key: type, value: placement}
";
    std::fs::write(dir.join("nsd.yml"), nsd).unwrap();
    let vnfds = [("web", 8080), ("cache", 6379)].map(|(name, port)| {
        let path = dir.join(format!("{name}-vnfd.yml"));
        std::fs::write(&path, vnfd(name, port)).unwrap();
        path
    });
    (dir.join("nsd.yml"), vnfds.to_vec())
}

fn generate(nsd: &Path, vnfds: &[std::path::PathBuf], kind: &str, event: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "sm",
        "generate",
        "--nsd",
        nsd.to_str().unwrap(),
        "--kind",
        kind,
        "--event",
        event,
    ];
    for vnfd in vnfds {
        args.extend(["--vnfd", vnfd.to_str().unwrap()]);
    }
    args.extend(extra);
    wasmano(&args)
}

/// Every event's generated payload is one the example managers answer, and
/// the orchestrator would accept their replies.
#[test]
fn generated_payloads_feed_the_harness_for_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let (nsd, vnfds) = write_container_service(dir.path());
    let guests = guests();
    let cases: [(&str, &str, &Path); 10] = [
        ("ssm", "placement", &guests.placement),
        ("ssm", "configure", &guests.configure),
        ("ssm", "state", &guests.state),
        ("ssm", "task", &guests.task),
        ("ssm", "monitor", &guests.task),
        ("fsm", "start", &guests.vnf_manager),
        ("fsm", "stop", &guests.vnf_manager),
        ("fsm", "configure", &guests.vnf_manager),
        ("fsm", "state", &guests.vnf_manager),
        ("fsm", "scale", &guests.scale),
    ];
    for (kind, event, module) in cases {
        let generated = generate(&nsd, &vnfds, kind, event, &[]);
        assert_eq!(
            generated.status.code(),
            Some(0),
            "{kind} {event}: {}",
            last_stderr_line(&generated)
        );
        let envelope = stdout_yaml(&generated);
        assert_eq!(envelope[format!("{kind}_type")], event, "{envelope:#}");
        let payload = dir.path().join(format!("{kind}-{event}.yml"));
        std::fs::write(&payload, &generated.stdout).unwrap();
        let answered = sm_test(module, None, &payload, &[]);
        assert_eq!(
            answered.status.code(),
            Some(0),
            "{kind} {event} on {}: {}",
            module.display(),
            last_stderr_line(&answered)
        );
    }
}

#[test]
fn a_generated_fsm_start_carries_the_generic_envs_of_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let (nsd, vnfds) = write_container_service(dir.path());
    let generated = generate(&nsd, &vnfds, "fsm", "start", &["--vnf", "web"]);
    assert_eq!(generated.status.code(), Some(0), "{}", last_stderr_line(&generated));
    let content = &stdout_yaml(&generated)["content"];
    let web = content["vnfr"]["id"].as_str().unwrap();
    assert_eq!(content["vnfd"]["name"], "web-vnf");
    let generic = &content["generic_envs"][0];
    assert_eq!(generic["cdu_id"], format!("cdu01-{web}"));
    assert_eq!(generic["envs"]["CACHE_CDU01_DATA_PORT"], "6379");
    assert_eq!(generic["envs"]["CACHE_CDU01_DATA_TYPE"], "serviceendpoint");
    assert!(generic["envs"]["CACHE_CDU01_IP"].is_string(), "{generic:#}");
    assert!(
        generic["envs"].get("WEB_CDU01_IP").is_none(),
        "not its own peer: {generic:#}"
    );

    for (args, code, words) in [
        (vec!["--vnf", "nope"], 64, "the service has no VNF nope"),
        (vec!["--event", "reboot"], 64, "unknown event \"reboot\" for a fsm"),
    ] {
        let event = if args[0] == "--event" { "reboot" } else { "start" };
        let extra: Vec<&str> = if args[0] == "--event" { Vec::new() } else { args.clone() };
        let refused = generate(&nsd, &vnfds, "fsm", event, &extra);
        assert_eq!(
            refused.status.code(),
            Some(code),
            "{args:?}: {}",
            last_stderr_line(&refused)
        );
        assert!(
            last_stderr_line(&refused).contains(words),
            "{}",
            last_stderr_line(&refused)
        );
    }
    let missing = generate(&dir.path().join("absent.yml"), &vnfds, "ssm", "placement", &[]);
    assert_eq!(missing.status.code(), Some(66), "{}", last_stderr_line(&missing));
}

/// `sm pin` writes each module's digest into the bundled package's
/// descriptors and nothing else: their comments stay, they validate, the
/// digests are the modules' (as `sm inspect` prints them), `--check` tells
/// a stale package from a pinned one, and a package with a module missing
/// is refused with no file written.
#[test]
fn sm_pin_writes_the_digests_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path();
    std::fs::create_dir(package.join("modules")).unwrap();
    for module in guests().examples() {
        std::fs::copy(module, package.join("modules").join(module.file_name().unwrap())).unwrap();
    }
    let names = ["nsd.yml", "web-vnfd.yml", "cache-vnfd.yml", "db-vnfd.yml"];
    let originals: Vec<String> = names
        .iter()
        .map(|name| std::fs::read_to_string(support::workspace_root().join("examples-sm/package").join(name)).unwrap())
        .collect();
    for (name, text) in names.iter().zip(&originals) {
        std::fs::write(package.join(name), text).unwrap();
    }
    let files: Vec<String> = names
        .iter()
        .map(|name| package.join(name).display().to_string())
        .collect();
    let pin = |extra: &[&str]| {
        let mut args = vec!["sm", "pin"];
        args.extend(extra);
        args.extend(files.iter().map(String::as_str));
        wasmano(&args)
    };
    let read_all = || -> Vec<String> {
        names
            .iter()
            .map(|name| std::fs::read_to_string(package.join(name)).unwrap())
            .collect()
    };

    let unpinned = pin(&["--check"]);
    assert_eq!(unpinned.status.code(), Some(65), "{}", last_stderr_line(&unpinned));
    assert!(
        last_stderr_line(&unpinned).contains("missing or stale"),
        "{}",
        last_stderr_line(&unpinned)
    );
    assert_eq!(read_all(), originals, "--check changes nothing");

    let pinned = pin(&[]);
    assert_eq!(pinned.status.code(), Some(0), "{}", last_stderr_line(&pinned));
    let report = String::from_utf8_lossy(&pinned.stdout);
    assert_eq!(
        report.lines().filter(|line| line.ends_with(" pinned")).count(),
        6,
        "{report}"
    );
    let placement_digest = stdout_yaml(&wasmano(&[
        "sm",
        "inspect",
        package.join("modules/sm_placement.wasm").to_str().unwrap(),
    ]))["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        report.contains(&format!(
            "service_specific_managers[0] (placement): modules/sm_placement.wasm sha256 {placement_digest} pinned"
        )),
        "{report}"
    );
    for (text, original) in read_all().iter().zip(&originals) {
        let without_digests: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("sha256: "))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(&without_digests, original, "only sha256 lines were added");
    }
    assert!(read_all()[0].contains(&format!("      sha256: \"{placement_digest}\"\n")));
    let validated = wasmano(&[&["validate"][..], &files.iter().map(String::as_str).collect::<Vec<_>>()].concat());
    assert_eq!(
        validated.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    let checked = pin(&["--check"]);
    assert_eq!(checked.status.code(), Some(0), "{}", last_stderr_line(&checked));
    assert!(
        String::from_utf8_lossy(&checked.stdout)
            .lines()
            .all(|line| line.ends_with("already pinned"))
    );

    // A module rebuilt makes its digests stale; another one missing makes
    // the whole run refuse, and no descriptor is written.
    let pinned_texts = read_all();
    std::fs::copy(guests().state.as_path(), package.join("modules/sm_vnf_manager.wasm")).unwrap();
    std::fs::remove_file(package.join("modules/sm_configure.wasm")).unwrap();
    let refused = pin(&[]);
    assert_eq!(refused.status.code(), Some(66), "{}", last_stderr_line(&refused));
    assert!(
        last_stderr_line(&refused).contains("service_specific_managers[1].wasm.module: cannot read ")
            && last_stderr_line(&refused).contains("modules/sm_configure.wasm"),
        "{}",
        last_stderr_line(&refused)
    );
    assert_eq!(read_all(), pinned_texts, "nothing written");
}

/// The bundled payloads `sm generate` wrote (`payloads/wasmano/`, the
/// content wasmano's orchestrator sends, which the benchmark times beside
/// 5GTANGO's) are still what it writes for the corpus's NSID1V service: the
/// same fields, list lengths and kinds of value (ids differ between runs).
/// Runs when `WASMANO_CORPUS` is set (.ci/run sets it).
#[test]
fn bundled_generated_payloads_are_what_sm_generate_writes_today() {
    let Some(corpus) = std::env::var_os("WASMANO_CORPUS").map(std::path::PathBuf::from) else {
        eprintln!("WASMANO_CORPUS is not set: the bundled generated payloads are checked in .ci/run");
        return;
    };
    let descriptors = corpus.join("descriptors/with-sm");
    let nsd = descriptors.join("tng-tests_NSID1V_nsd.yaml");
    let vnfds = [descriptors.join("tng-tests_NSID1V_vnfd1.yaml")];
    for (kind, event, bundled) in [
        ("ssm", "placement", "wasmano/ssm_placement_event.yml"),
        ("ssm", "configure", "wasmano/ssm_configure_event.yml"),
        ("fsm", "scale", "wasmano/fsm_scale_event.yml"),
    ] {
        let generated = generate(&nsd, &vnfds, kind, event, &[]);
        assert_eq!(generated.status.code(), Some(0), "{}", last_stderr_line(&generated));
        let content = &stdout_yaml(&generated)["content"];
        assert_eq!(
            shape(content),
            shape(&support::payload(bundled)),
            "{bundled} is no longer what `sm generate --kind {kind} --event {event}` writes: write it again"
        );
    }
}

/// A document with every scalar replaced by the name of its kind.
fn shape(document: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match document {
        Value::Object(fields) => Value::Object(fields.iter().map(|(key, value)| (key.clone(), shape(value))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
    }
}

/// The Python SDK's native tests and the Python example's, as a developer
/// runs them (`python3 -m unittest`).
#[test]
fn python_sdk_and_example_unit_tests_pass() {
    let root = support::workspace_root();
    let sdk = root.join("sm-sdk/python");
    for (dir, args) in [
        (sdk.clone(), vec!["-m", "unittest", "discover", "-v", "-s", "tests"]),
        (root.join("examples-sm/python-placement"), vec!["-m", "unittest", "-v"]),
    ] {
        let output = Command::new("python3")
            .args(&args)
            .current_dir(&dir)
            .env("PYTHONPATH", &sdk)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run python3 (the Python SDK's tests need it)");
        let report = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {report}", dir.display());
        assert!(report.contains("\nOK"), "{}: {report}", dir.display());
    }
}

/// The Python placement example answers as its Rust twin through the host:
/// the same mappings on the corpus payload and on a crowded topology, the
/// same error when a VNF fits nowhere, and not handled for other events.
#[test]
fn the_python_placement_example_answers_as_its_rust_twin() {
    let python = &support::python_guests().placement;
    let rust = &guests().placement;
    let inspected = wasmano(&["sm", "inspect", python.to_str().unwrap()]);
    assert_eq!(inspected.status.code(), Some(0), "{}", last_stderr_line(&inspected));
    let summary = stdout_yaml(&inspected);
    assert_eq!(summary["kind"], "ssm");
    assert_eq!(summary["contract"], "wasmano:sm@2.0.0");
    assert_eq!(summary["events"], serde_json::json!(["placement"]));

    let dir = tempfile::tempdir().unwrap();
    let vm = |id: &str, cores: u32, memory_mb: u32| {
        serde_json::json!({"instance_uuid": id, "virtual_deployment_units": [{"id": "vdu",
            "resource_requirements": {"cpu": {"vcpus": cores}, "memory": {"size": memory_mb, "size_unit": "MB"}}}]})
    };
    let vim = |id: &str, kind: &str, cores: u32, memory_mb: u32| {
        serde_json::json!({"vim_uuid": id, "type": kind, "core_total": cores, "core_used": 1,
            "memory_total": memory_mb, "memory_used": 0})
    };
    let crowded = edited_payload(dir.path(), "tng-sdk-sm/ssm/placement_event.yml", |payload| {
        payload["vnfds"] = serde_json::json!([vm("a", 4, 512), vm("b", 2, 2048), vm("c", 2, 512), vm("d", 1, 64)]);
        payload["topology"]["vims"]["vim_list"] = serde_json::json!([
            vim("edge", "container", 64, 65_536),
            vim("small", "vm", 6, 4_096),
            vim("big", "vm", 8, 2_048),
        ]);
    });
    let other_dir = tempfile::tempdir().unwrap();
    let hopeless = edited_payload(other_dir.path(), "tng-sdk-sm/ssm/placement_event.yml", |payload| {
        payload["vnfds"] = serde_json::json!([vm("hungry", 64, 64)]);
    });
    let corpus_payload = corpus("tng-sdk-sm/ssm/placement_event.yml");
    for (payload, code) in [(&corpus_payload, 0), (&crowded, 0), (&hopeless, 1)] {
        let from_python = sm_test(python, Some("placement"), payload, &[]);
        let from_rust = sm_test(rust, Some("placement"), payload, &[]);
        assert_eq!(
            from_python.status.code(),
            Some(code),
            "{}",
            last_stderr_line(&from_python)
        );
        assert_eq!(from_rust.status.code(), Some(code), "{}", last_stderr_line(&from_rust));
        assert_eq!(
            stdout_yaml(&from_python),
            stdout_yaml(&from_rust),
            "{}",
            payload.display()
        );
    }
    let crowded_reply = stdout_yaml(&sm_test(python, Some("placement"), &crowded, &[]));
    let placed: Vec<&str> = ["a", "b", "c", "d"]
        .iter()
        .map(|vnf| crowded_reply["mapping"][vnf]["vim"].as_str().unwrap())
        .collect();
    assert_eq!(placed, ["big", "small", "small", "big"], "{crowded_reply:#}");

    let configure = sm_test(
        python,
        Some("configure"),
        &corpus("tng-sdk-sm/ssm/configure_event.yml"),
        &[],
    );
    assert_eq!(configure.status.code(), Some(3), "{}", last_stderr_line(&configure));
}

/// Every event of both kinds through the Python SDK's export adapters and
/// the real host: each reply is built from its request (see
/// `tests/python/`), so a conversion lost either way shows; an error
/// answer keeps its content, as the contract's `failure` carries it.
#[test]
fn python_managers_answer_every_event_through_the_host() {
    let python = support::python_guests();
    let (ssm, fsm) = (&python.every_event_ssm, &python.every_event_fsm);
    let answer = |module: &Path, event: &str, payload: &Path, extra: &[&str]| {
        let output = sm_test(module, Some(event), payload, extra);
        (output.status.code(), stdout_yaml(&output))
    };
    let dir = tempfile::tempdir().unwrap();
    let with_wim = edited_payload(dir.path(), "tng-sdk-sm/ssm/placement_event.yml", |payload| {
        payload["topology"]["wims"] = serde_json::json!([{"uuid": "wim-1", "attached_vims": [], "qos": []}]);
    });
    // A link on a WIM crosses the adapters' limits (exit 4), but the reply
    // is printed whole: both kinds of link site came through.
    let (code, placed) = answer(ssm, "placement", &with_wim, &[]);
    assert_eq!(code, Some(4), "{placed:#}");
    let vnf = "beee663b-10b5-43c3-b2db-1aa149256e60";
    let vim = "11111111-2222-3333-4444-555555555555";
    assert_eq!(placed["mapping"][vnf]["vim"], vim, "{placed:#}");
    assert_eq!(placed["vl_mapping"]["mgmt"]["vim"], vim, "{placed:#}");
    assert_eq!(placed["vl_mapping"]["input-2-test_vnf"]["wim"], "wim-1", "{placed:#}");

    let (code, configured) = answer(
        ssm,
        "configure",
        &corpus("industrial-pilot/ssm_configure_event_initialisation.yml"),
        &[],
    );
    assert_eq!(code, Some(0), "{configured:#}");
    let switches = configured["vnf"].as_array().unwrap();
    assert_eq!(switches.len(), 2, "{configured:#}");
    for switch in switches {
        assert_eq!(switch["start"]["trigger"], false, "{configured:#}");
        assert_eq!(
            switch["configure"]["payload"]["workflow"], "instantiation",
            "{configured:#}"
        );
    }

    let (code, state) = answer(ssm, "state", &corpus("tng-sdk-sm/ssm/state_event.yml"), &[]);
    assert_eq!(code, Some(0), "{state:#}");
    assert_eq!(state["content"]["by"], "python");
    assert!(
        state["content"]["state"].as_str().unwrap().contains("add some state"),
        "{state:#}"
    );
    let (code, failed) = answer(
        ssm,
        "state",
        &corpus("tng-sdk-sm/ssm/state_event.yml"),
        &["--option", "fail=state"],
    );
    assert_eq!(code, Some(1), "{failed:#}");
    assert_eq!(failed["error"], "asked to fail state");
    assert_eq!(failed["content"], serde_json::json!({"event": "state", "by": "python"}));

    let (code, task) = answer(ssm, "task", &corpus("tng-sdk-sm/ssm/task_event.yml"), &[]);
    assert_eq!(code, Some(0), "{task:#}");
    let schedule = task["schedule"].as_array().unwrap();
    assert!(!schedule.contains(&serde_json::json!("start_monitoring")), "{task:#}");
    assert!(schedule.contains(&serde_json::json!("vnf_deploy")), "{task:#}");

    let (code, monitored) = answer(ssm, "monitor", &corpus("wasmano/ssm_monitor_alert.yml"), &[]);
    assert_eq!(code, Some(0), "{monitored:#}");
    assert_eq!(
        monitored["workflows"][0],
        serde_json::json!({"workflow": "scale_out", "vnf_id": "web", "instances": 2})
    );
    assert_eq!(
        monitored["workflows"][1],
        serde_json::json!({"workflow": "scale_in", "vnf": ["vnf-1"]})
    );
    assert_eq!(monitored["workflows"][2]["workflow"], "reconfigure");

    let with_peers = edited_payload(dir.path(), "tng-sdk-sm/fsm/start_event.yml", |payload| {
        payload["generic_envs"] =
            serde_json::json!([{"cdu_id": "cdu01-x", "envs": {"DB_IP": "10.0.0.2", "DB_PORT": 5432}}]);
    });
    let (code, started) = answer(fsm, "start", &with_peers, &[]);
    assert_eq!(code, Some(0), "{started:#}");
    assert_eq!(
        started["envs"][0]["envs"]["VNF_ID"],
        "171b793b-a075-4b00-a947-887be5b5f1b1"
    );
    assert_eq!(
        started["envs"][1],
        serde_json::json!({"cdu_id": "cdu01-x", "envs": {"PEERS": "2"}})
    );
    let (code, stopped) = answer(fsm, "stop", &corpus("tng-sdk-sm/fsm/stop_event.yml"), &[]);
    assert_eq!((code, &stopped["status"]), (Some(0), &serde_json::json!("COMPLETED")));
    let (code, configured) = answer(
        fsm,
        "configure",
        &corpus("industrial-pilot/fsm_configure_event.yml"),
        &[],
    );
    assert_eq!(code, Some(0), "{configured:#}");
    assert_eq!(configured["envs"][0]["cdu_id"], "cdu01");
    let (code, extracted) = answer(fsm, "state", &corpus("tng-sdk-sm/fsm/state_event_extract.yml"), &[]);
    assert_eq!(code, Some(0), "{extracted:#}");
    assert_eq!(extracted["persist"]["vnfr"], "171b793b-a075-4b00-a947-887be5b5f1b1");
    let (code, injected) = answer(fsm, "state", &corpus("tng-sdk-sm/fsm/state_event_inject.yml"), &[]);
    assert_eq!((code, injected.get("persist")), (Some(0), None), "{injected:#}");
    let (code, scaled) = answer(fsm, "scale", &corpus("wasmano/fsm_scale_event.yml"), &[]);
    assert_eq!(code, Some(0), "{scaled:#}");
    assert_eq!(scaled["envs"][0]["envs"]["DIRECTION"], "out");
}

/// `sm new --lang python` for both kinds: the project's native test passes
/// and componentize-py builds it into a component that answers its event
/// through the harness.
#[test]
fn scaffolded_python_managers_test_build_and_answer() {
    support::python_guests();
    let componentize = std::env::var_os("WASMANO_COMPONENTIZE_PY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| support::workspace_root().join("target/componentize-py-venv/bin/componentize-py"));
    let dir = tempfile::tempdir().unwrap();
    for (kind, name, world, event, payload) in [
        (
            "ssm",
            "py-placement",
            "service-manager-module",
            "placement",
            "tng-sdk-sm/ssm/placement_event.yml",
        ),
        (
            "fsm",
            "py-vnf",
            "function-manager-module",
            "start",
            "tng-sdk-sm/fsm/start_event.yml",
        ),
    ] {
        let created = wasmano(&[
            "sm",
            "new",
            name,
            "--kind",
            kind,
            "--lang",
            "python",
            "--dir",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(created.status.code(), Some(0), "{}", last_stderr_line(&created));
        let project = dir.path().join(name);
        let test = Command::new("python3")
            .args(["-m", "unittest"])
            .current_dir(&project)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        assert!(
            test.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&test.stderr)
        );
        let module = project.join(format!("{}.wasm", name.replace('-', "_")));
        let build = Command::new(&componentize)
            .args(["-d", "wit", "-w", world, "componentize", "app", "-o"])
            .arg(&module)
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let answered = sm_test(&module, Some(event), &corpus(payload), &[]);
        assert_eq!(
            answered.status.code(),
            Some(0),
            "{kind}: {}",
            last_stderr_line(&answered)
        );
        assert_eq!(stdout_yaml(&answered)["status"], "COMPLETED");
    }
    let refused = wasmano(&[
        "sm",
        "new",
        "other",
        "--kind",
        "ssm",
        "--lang",
        "python",
        "--sdk",
        "sm-sdk",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(64), "--sdk is for Rust crates");
}
