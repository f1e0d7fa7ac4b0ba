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
