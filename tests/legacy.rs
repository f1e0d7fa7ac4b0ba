//! Legacy 5GTANGO managers over a real RabbitMQ broker: a Python manager
//! written as 5GTANGO's were (amqpstorm, YAML bodies; `tests/legacy/tango_sm.py`)
//! is launched, registered and driven through every event of both kinds,
//! and the misbehaviours the protocol allows are survived: a manager that
//! never registers, one whose program dies, one that never answers, one
//! that answers twice, one that subscribes late (the subscription race),
//! and the lower-case and error answers of real managers. Releasing an
//! instance leaves neither vhost nor process.
//!
//! The broker and the venv must be there (`scripts/test.sh` installs and
//! starts them); if not, these tests fail and say how to get them.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sm_sdk::fsm::{FsmEvent, StateReply};
use sm_sdk::ssm::{SsmEvent, WorkflowRequest};
use wasmano::bus::{
    Broker, DEFAULT_BROKER_URL, Launcher, LegacyGroup, LegacyInstance, LegacyManager, LegacySpec, wire,
};
use wasmano_host::{Cause, Event, Fault, ManagerKind, Reply, Request, SpecificManager};

const HOW_TO_START: &str = "the legacy manager tests need RabbitMQ with its management plugin on 127.0.0.1 and \
     the venv target/legacy-venv: run `bash -c 'source scripts/common.sh && ensure_rabbitmq && \
     ensure_legacy_python'` as root from the repository (scripts/test.sh does)";

/// Generous for a Python manager on a loaded CI machine; the deadline tests
/// use their own.
const CALL_DEADLINE: Duration = Duration::from_secs(10);
const READY_WITHIN: Duration = Duration::from_secs(30);

fn broker() -> Broker {
    let broker = Broker::new(DEFAULT_BROKER_URL, None).unwrap();
    if let Err(error) = broker.vhost_exists("wasmano-probe") {
        panic!("{error}; {HOW_TO_START}");
    }
    broker
}

fn python() -> PathBuf {
    let python = support::workspace_root().join("target/legacy-venv/bin/python");
    assert!(python.exists(), "{} is missing; {HOW_TO_START}", python.display());
    python
}

/// The Python manager of this kind, misbehaving as told.
fn tango_sm(kind: ManagerKind, behaviour: &str) -> LegacySpec {
    let script = support::workspace_root().join("tests/legacy/tango_sm.py");
    LegacySpec {
        id: format!("legacy-{}", kind.short_name()),
        launcher: Launcher::Command(format!(
            "exec {} {} --type {} --id legacy-{} --behaviour {behaviour}",
            python().display(),
            script.display(),
            kind.short_name(),
            kind.short_name()
        )),
    }
}

/// A group of one Python manager of this kind, misbehaving as told, and
/// that manager.
fn legacy(kind: ManagerKind, behaviour: &str, deadline: Duration) -> (Arc<LegacyGroup>, LegacyManager) {
    let group = LegacyGroup::new(kind, vec![tango_sm(kind, behaviour)], broker(), READY_WITHIN);
    let manager = LegacyManager::new(format!("legacy-{}", kind.short_name()), Arc::clone(&group), deadline);
    (group, manager)
}

fn new_instance() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A request for `event` with a bundled 5GTANGO payload's content (the
/// payload is the content, or its whole envelope), for `instance`.
fn request(event: Event, relative: &str, instance: &str) -> Request {
    let Value::Object(message) = support::payload(relative) else {
        panic!("{relative} is a mapping")
    };
    let (_, content) = wire::open_envelope(event.kind(), message);
    Request::new(event, &content).unwrap().for_instance(instance)
}

/// Releases the instance through its manager and proves nothing is left:
/// neither the vhost nor the program.
async fn release_and_check(group: &LegacyGroup, manager: &LegacyManager, instance: &str) {
    let running = group.instance(instance).await.unwrap();
    let pids = running.programs().await;
    assert!(!pids.is_empty());
    manager.release(instance).await.unwrap();
    assert!(group.running().await.is_empty());
    assert!(
        !broker().vhost_exists(running.vhost()).unwrap(),
        "vhost {} left",
        running.vhost()
    );
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "manager process {pid} left"
        );
    }
    // Releasing again is harmless.
    manager.release(instance).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_ssm_answers_every_service_event_through_the_bus() {
    let (group, manager) = legacy(ManagerKind::Service, "normal", CALL_DEADLINE);
    let instance = new_instance();

    let task = request(Event::Ssm(SsmEvent::Task), "tng-sdk-sm/ssm/task_event.yml", &instance);
    let Reply::Schedule(schedule) = manager.invoke(task).await.unwrap() else {
        panic!("a schedule")
    };
    let position = |task: &str| schedule.iter().position(|name| name == task).unwrap();
    assert_eq!(position("configure_ssm") + 1, position("store_nsr"), "{schedule:?}");
    // The first event started it; the next ones reuse it.
    assert_eq!(group.running().await, vec![instance.clone()]);

    let placement = request(
        Event::Ssm(SsmEvent::Placement),
        "tng-sdk-sm/ssm/placement_event.yml",
        &instance,
    );
    let content: Value = serde_json::from_str(placement.content_json()).unwrap();
    let Reply::Placement(mapping) = manager.invoke(placement).await.unwrap() else {
        panic!("a placement")
    };
    assert_eq!(
        mapping.vnfs.len(),
        content["vnfds"].as_array().unwrap().len(),
        "every VNF placed: {mapping:?}"
    );

    let configure = request(
        Event::Ssm(SsmEvent::Configure),
        "tng-sdk-sm/ssm/configure_event.yml",
        &instance,
    );
    let Reply::Configure(switches) = manager.invoke(configure).await.unwrap() else {
        panic!("configure switches")
    };
    assert!(!switches.is_empty());
    assert!(
        switches
            .iter()
            .all(|vnf| vnf.configure.as_ref().is_some_and(|switch| switch.trigger))
    );

    let state = request(Event::Ssm(SsmEvent::State), "tng-sdk-sm/ssm/state_event.yml", &instance);
    let Reply::State(state) = manager.invoke(state).await.unwrap() else {
        panic!("a state")
    };
    assert_eq!(state["migrated_by"], "legacy-ssm");

    // Monitor is one-way in 5GTANGO.
    let monitor = Request::new(Event::Ssm(SsmEvent::Monitor), &json!({"alert": "cpu"})).unwrap();
    assert_eq!(
        manager.invoke(monitor.for_instance(&instance)).await.unwrap(),
        Reply::Workflows(Vec::<WorkflowRequest>::new())
    );

    // An FSM event is not the SSM's; an event for no instance cannot run.
    let stop = Request::new(Event::Fsm(FsmEvent::Stop), &json!({})).unwrap();
    assert_eq!(
        manager.invoke(stop.for_instance(&instance)).await.unwrap_err().cause,
        Cause::NotHandled
    );
    let anonymous = Request::new(Event::Ssm(SsmEvent::State), &json!({})).unwrap();
    assert!(matches!(
        manager.invoke(anonymous).await.unwrap_err().cause,
        Cause::Host(_)
    ));
    release_and_check(&group, &manager, &instance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_fsm_answers_every_function_event_through_the_bus() {
    let (group, manager) = legacy(ManagerKind::Function, "normal", CALL_DEADLINE);
    // The function instance is the VNFR the configure payload names: an FSM
    // finds its own record among the service's by its `sf_uuid`.
    let configure = support::payload("tng-sdk-sm/fsm/configure_event.yml");
    let instance = configure["vnfrs"][0]["id"].as_str().unwrap().to_owned();
    for (event, payload, key) in [
        (FsmEvent::Start, "tng-sdk-sm/fsm/start_event.yml", "LEGACY_START"),
        (
            FsmEvent::Configure,
            "tng-sdk-sm/fsm/configure_event.yml",
            "LEGACY_CONFIGURE",
        ),
        (FsmEvent::Scale, "wasmano/fsm_scale_event.yml", "LEGACY_SCALE"),
    ] {
        let envs = match manager
            .invoke(request(Event::Fsm(event), payload, &instance))
            .await
            .unwrap()
        {
            Reply::Started(envs) | Reply::Configured(envs) | Reply::Scaled(envs) => envs,
            other => panic!("{payload}: {other:?}"),
        };
        assert!(!envs.is_empty(), "{payload}: envs per unit");
        for unit in &envs {
            assert!(unit.unit.is_some(), "{payload}: {unit:?}");
            assert!(
                unit.envs
                    .iter()
                    .any(|pair| pair.key == key && pair.value == "legacy-fsm"),
                "{unit:?}"
            );
        }
    }
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    assert_eq!(manager.invoke(stop).await.unwrap(), Reply::Stopped);
    let extract = request(
        Event::Fsm(FsmEvent::State),
        "tng-sdk-sm/fsm/state_event_extract.yml",
        &instance,
    );
    let Reply::FunctionState(StateReply::Extracted(state)) = manager.invoke(extract).await.unwrap() else {
        panic!("extracted state")
    };
    assert_eq!(state["extracted_by"], "legacy-fsm");
    let inject = request(
        Event::Fsm(FsmEvent::State),
        "tng-sdk-sm/fsm/state_event_inject.yml",
        &instance,
    );
    assert_eq!(
        manager.invoke(inject).await.unwrap(),
        Reply::FunctionState(StateReply::Injected)
    );
    release_and_check(&group, &manager, &instance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_gets_its_own_managers() {
    let (group, manager) = legacy(ManagerKind::Function, "normal", CALL_DEADLINE);
    let (first, second) = (new_instance(), new_instance());
    let stop = |instance: &str| request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", instance);
    let (a, b) = tokio::join!(manager.invoke(stop(&first)), manager.invoke(stop(&second)));
    assert_eq!((a.unwrap(), b.unwrap()), (Reply::Stopped, Reply::Stopped));
    let mut running = group.running().await;
    running.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(running, expected);
    let first_programs = group.instance(&first).await.unwrap().programs().await;
    assert_ne!(first_programs, group.instance(&second).await.unwrap().programs().await);
    // Releasing one leaves the other running.
    manager.release(&first).await.unwrap();
    assert_eq!(group.running().await, vec![second.clone()]);
    assert_eq!(manager.invoke(stop(&second)).await.unwrap(), Reply::Stopped);
    release_and_check(&group, &manager, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_that_never_registers_fails_the_start_and_leaves_nothing() {
    let instance = new_instance();
    let spec = tango_sm(ManagerKind::Function, "no-register");
    let error = LegacyInstance::start(
        &broker(),
        ManagerKind::Function,
        &instance,
        &[spec],
        Duration::from_secs(3),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("not ready within 3000 ms: 0 of 1 managers registered"),
        "{error}"
    );
    assert!(
        !broker()
            .vhost_exists(&wire::vhost(ManagerKind::Function, &instance))
            .unwrap()
    );
    assert_no_process_mentions(&instance);

    // Through a manager, it is the manager's fault.
    let group = LegacyGroup::new(
        ManagerKind::Function,
        vec![tango_sm(ManagerKind::Function, "no-register")],
        broker(),
        Duration::from_secs(1),
    );
    let manager = LegacyManager::new("legacy-fsm", Arc::clone(&group), CALL_DEADLINE);
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    let cause = manager.invoke(stop).await.unwrap_err().cause;
    assert!(matches!(cause, Cause::Fault(Fault::DidNotStart(_))), "{cause}");
    assert!(group.running().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_whose_program_dies_fails_the_start_with_its_last_words() {
    let instance = new_instance();
    let spec = LegacySpec {
        id: "broken".into(),
        launcher: Launcher::Command("echo \"no module named smbase for $sf_uuid\" >&2; exit 3".into()),
    };
    let error = LegacyInstance::start(&broker(), ManagerKind::Service, &instance, &[spec], READY_WITHIN)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("legacy manager broken: its program ended (exit status: 3)"),
        "{error}"
    );
    assert!(
        error.contains(&format!("no module named smbase for {instance}")),
        "{error}"
    );
    assert!(
        !broker()
            .vhost_exists(&wire::vhost(ManagerKind::Service, &instance))
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_that_never_answers_is_a_deadline_fault() {
    let deadline = Duration::from_millis(500);
    let (group, manager) = legacy(ManagerKind::Function, "silent", deadline);
    let instance = new_instance();
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    let error = manager.invoke(stop).await.unwrap_err();
    assert_eq!(error.cause, Cause::Fault(Fault::Timeout { deadline }));
    release_and_check(&group, &manager, &instance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_reply_wins_and_a_second_one_is_dropped() {
    let (group, manager) = legacy(ManagerKind::Function, "twice", CALL_DEADLINE);
    let instance = new_instance();
    // Each call gets its own first reply, never the previous call's second.
    for _ in 0..3 {
        let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
        assert_eq!(manager.invoke(stop).await.unwrap(), Reply::Stopped);
    }
    release_and_check(&group, &manager, &instance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_that_subscribes_after_registering_gets_its_first_event() {
    // It registers, then waits 2 s before binding its event queue: an event
    // sent at registration would be dropped by the topic exchange, and the
    // call would pass its deadline.
    let (group, manager) = legacy(ManagerKind::Function, "late-subscribe", Duration::from_secs(1));
    let instance = new_instance();
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    assert_eq!(manager.invoke(stop).await.unwrap(), Reply::Stopped);
    release_and_check(&group, &manager, &instance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_and_error_answers_read_as_5gtango_managers_meant_them() {
    let (group, manager) = legacy(ManagerKind::Function, "lowercase", CALL_DEADLINE);
    let instance = new_instance();
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    assert_eq!(manager.invoke(stop).await.unwrap(), Reply::Stopped);
    release_and_check(&group, &manager, &instance).await;

    let (group, manager) = legacy(ManagerKind::Function, "error", CALL_DEADLINE);
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    let error = manager.invoke(stop).await.unwrap_err();
    assert!(
        matches!(&error.cause, Cause::Answered { message, .. } if message == "legacy manager refused: stop"),
        "{error}"
    );
    release_and_check(&group, &manager, &instance).await;
}

/// No process runs with this instance id on its command line or in its
/// environment (the launcher passes it as `sf_uuid`).
fn assert_no_process_mentions(instance: &str) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let needle = format!("sf_uuid={instance}");
        assert!(
            !environ.windows(needle.len()).any(|window| window == needle.as_bytes()),
            "process {} still runs for instance {instance}",
            entry.file_name().to_string_lossy()
        );
    }
}

/// `wasmano sm test --command` with these arguments: exit code and stdout.
fn harness(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .current_dir(support::workspace_root())
        .args(["sm", "test"])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_harness_runs_a_legacy_manager_like_a_module() {
    let start = "examples-sm/payloads/tng-sdk-sm/fsm/start_event.yml";
    // An FSM started for `start`, with these arguments after the command.
    let fsm_start = |command: &str, more: &[&str]| {
        let mut args = vec![
            "--command",
            command,
            "--kind",
            "fsm",
            "--event",
            "start",
            "--payload",
            start,
        ];
        args.extend_from_slice(more);
        harness(&args)
    };
    let fsm = |behaviour: &str| {
        format!(
            "exec {} tests/legacy/tango_sm.py --type fsm --id harness-fsm --behaviour {behaviour}",
            python().display()
        )
    };
    let (code, stdout, stderr) = fsm_start(&fsm("normal"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("status: COMPLETED") && stdout.contains("LEGACY_START: harness-fsm"),
        "{stdout}"
    );

    // The envelope names the kind and the event.
    let task = "examples-sm/payloads/tng-sdk-sm/ssm/task_event.yml";
    let ssm = format!(
        "exec {} tests/legacy/tango_sm.py --type ssm --id harness-ssm",
        python().display()
    );
    let (code, stdout, stderr) = harness(&["--command", &ssm, "--payload", task]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("- configure_ssm"), "{stdout}");

    let (code, stdout, _) = fsm_start(&fsm("error"), &[]);
    assert_eq!(code, 1, "a manager's error answer");
    assert!(stdout.contains("status: ERROR"), "{stdout}");

    let (code, _, stderr) = fsm_start(&fsm("silent"), &["--timeout-ms", "300"]);
    assert_eq!(code, 2, "no answer is the manager's fault: {stderr}");
    assert!(stderr.contains("deadline of 300 ms exceeded"), "{stderr}");

    let (code, _, stderr) = fsm_start("exit 0", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("its program ended"), "{stderr}");

    let (code, _, stderr) = harness(&["--command", "exit 0", "--event", "start", "--payload", start]);
    assert_eq!(code, 64, "the kind cannot be guessed: {stderr}");

    let unreachable = [
        "--broker",
        "amqp://guest:guest@127.0.0.1:1",
        "--broker-management",
        "http://127.0.0.1:1",
    ];
    let (code, _, stderr) = fsm_start(&fsm("normal"), &unreachable);
    assert_eq!(code, 69, "an unreachable broker: {stderr}");
    assert!(stderr.contains("the broker at http://127.0.0.1:1"), "{stderr}");
}
