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
#[path = "support/legacy.rs"]
mod support_legacy;
#[path = "support/registry.rs"]
mod support_registry;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tango_model::fsm::{FsmEvent, StateReply};
use tango_model::ssm::{SsmEvent, WorkflowRequest};
use wasmano::bus::{
    LABEL_INSTANCE, LABEL_MANAGER, Launcher, LegacyGroup, LegacyInstance, LegacyManager, LegacySpec,
    MANAGER_REQUESTS_BUFFER, remove_leftovers, wire,
};
use wasmano::catalogue::{Catalogue, EntryKind, NewEntry, module_identity};
use wasmano::descriptor::{self, Descriptor};
use wasmano::infrastructure::Infrastructure;
use wasmano::infrastructure::emulated::{EmulatedInfrastructure, default_vims};
use wasmano::placement::PlacementOptions;
use wasmano::records::{RecordStore, SqliteStore, Status};
use wasmano::service::ManagerChange;
use wasmano::service::{self, LegacySettings, ModuleSource};
use wasmano::workflow::{
    ManagerHandover, Orchestrator, RunContext, ServiceTemplate, Task, WorkflowError, WorkflowReport,
};
use wasmano_host::{Cause, Event, Fault, Host, HostConfig, ManagerKind, Reply, Request, SpecificManager, sha256_hex};

use base64::Engine as _;
use support_legacy::{broker, ensure_images, listen, python, tango_sm};
use support_registry::TestRegistry;

/// Generous for a Python manager on a loaded CI machine; the deadline tests
/// use their own.
const CALL_DEADLINE: Duration = Duration::from_secs(10);
const READY_WITHIN: Duration = Duration::from_secs(30);

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
async fn a_legacy_ssm_gets_5gtangos_one_way_messages() {
    use futures_util::StreamExt as _;

    let (group, manager) = legacy(ManagerKind::Service, "normal", CALL_DEADLINE);
    // start_monitoring starts the service's managers if they do not run:
    // 5GTANGO's SSMs ran from the service's instantiation on.
    let monitored = new_instance();
    let started = json!({"nsd": {"name": "demo"}, "nsr": {}, "vnfs": [], "ingress": null, "egress": null});
    manager
        .notify(&monitored, Event::Ssm(SsmEvent::Monitor), &started)
        .await
        .unwrap();
    assert_eq!(group.running().await, vec![monitored.clone()]);
    release_and_check(&group, &manager, &monitored).await;

    // The configure SSM's status, on the service's topic, as any SSM hears it.
    let instance = new_instance();
    let task = request(Event::Ssm(SsmEvent::Task), "tng-sdk-sm/ssm/task_event.yml", &instance);
    manager.invoke(task).await.unwrap();
    let vhost = wire::vhost(ManagerKind::Service, &instance);
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{vhost}");
    let (connection, mut heard) = listen(&url, &wire::event_topic(ManagerKind::Service, &instance)).await;
    let status = json!({"workflow": "status", "status": "COMPLETED"});
    manager
        .notify(&instance, Event::Ssm(SsmEvent::Configure), &status)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(CALL_DEADLINE, heard.next())
        .await
        .expect("the status within the call deadline")
        .unwrap()
        .unwrap();
    assert_eq!(
        wire::decode(&delivery.data).unwrap(),
        json!({"ssm_type": "configure", "workflow": "status", "status": "COMPLETED"})
    );
    assert!(
        delivery.properties.reply_to().is_none(),
        "a notification expects no answer"
    );
    connection.close(200, "done".into()).await.unwrap();
    release_and_check(&group, &manager, &instance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_hangs_holds_up_only_its_own_instance() {
    let (stuck, other) = (new_instance(), new_instance());
    let normal = tango_sm(ManagerKind::Function, "normal");
    let Launcher::Command(command) = normal.launcher else {
        panic!("the Python manager runs as a command")
    };
    // The manager of one instance never comes up; the other's does.
    let spec = LegacySpec {
        id: normal.id.clone(),
        launcher: Launcher::Command(format!(
            "if [ \"$sf_uuid\" = {stuck} ]; then exec sleep 60; fi; {command}"
        )),
    };
    let group = LegacyGroup::new(ManagerKind::Function, vec![spec], broker(), Duration::from_secs(8));
    let manager = LegacyManager::new(normal.id, Arc::clone(&group), CALL_DEADLINE);
    let stop = |instance: &str| request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", instance);
    let stuck_call = tokio::spawn({
        let (manager, request) = (manager.clone(), stop(&stuck));
        async move { manager.invoke(request).await }
    });
    let stuck_vhost = wire::vhost(ManagerKind::Function, &stuck);
    for _ in 0..200 {
        if broker().vhost_exists(&stuck_vhost).unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(broker().vhost_exists(&stuck_vhost).unwrap(), "the first start began");

    assert_eq!(manager.invoke(stop(&other)).await.unwrap(), Reply::Stopped);
    assert!(
        !stuck_call.is_finished(),
        "the other instance was answered while the first one was still starting"
    );
    let cause = stuck_call.await.unwrap().unwrap_err().cause;
    assert!(matches!(cause, Cause::Fault(Fault::DidNotStart(_))), "{cause}");
    assert!(!broker().vhost_exists(&stuck_vhost).unwrap());
    assert_eq!(group.running().await, vec![other.clone()]);
    release_and_check(&group, &manager, &other).await;
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
        None,
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
    let error = LegacyInstance::start(&broker(), ManagerKind::Service, &instance, &[spec], READY_WITHIN, None)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_ssm_asks_for_workflows_unasked_on_its_monitor_topic() {
    let (sender, mut requests) = tokio::sync::mpsc::channel(MANAGER_REQUESTS_BUFFER);
    let group = LegacyGroup::new(
        ManagerKind::Service,
        vec![tango_sm(ManagerKind::Service, "normal")],
        broker(),
        READY_WITHIN,
    )
    .forwarding_requests_to(sender);
    let manager = LegacyManager::new("legacy-ssm", Arc::clone(&group), CALL_DEADLINE);
    let instance = new_instance();
    // The monitor event itself is a notification, answered with nothing.
    let alert =
        json!({"alert": {"name": "cpu_high"}, "request_workflow": "reconfigure", "payload": {"quarantine": true}});
    let monitor = Request::new(Event::Ssm(SsmEvent::Monitor), &alert)
        .unwrap()
        .for_instance(&instance);
    assert_eq!(manager.invoke(monitor).await.unwrap(), Reply::Workflows(Vec::new()));
    let request = tokio::time::timeout(CALL_DEADLINE, requests.recv())
        .await
        .expect("the SSM's request within the call deadline")
        .unwrap();
    assert_eq!(request.service_id, instance);
    assert_eq!(request.body["service_instance_id"], instance.as_str());
    assert_eq!(
        Reply::from_tango(Event::Ssm(SsmEvent::Monitor), &request.body).unwrap(),
        Reply::Workflows(vec![WorkflowRequest::Reconfigure(Some(json!({"quarantine": true})))])
    );
    release_and_check(&group, &manager, &instance).await;
}

/// Whether a container of this name exists, and its labels.
fn container_labels(name: &str) -> Option<Value> {
    let output = std::process::Command::new("docker")
        .args(["container", "inspect", "--format", "{{json .Config.Labels}}", name])
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_manager_image_runs_in_a_labelled_container_and_goes_with_its_instance() {
    ensure_images();
    let spec = LegacySpec {
        id: "tng-fsm-legacy".into(),
        launcher: Launcher::Image("wasmano/legacy-tango-fsm:1".into()),
    };
    let group = LegacyGroup::new(ManagerKind::Function, vec![spec], broker(), READY_WITHIN);
    let manager = LegacyManager::new("tng-fsm-legacy", Arc::clone(&group), CALL_DEADLINE);
    let instance = new_instance();
    let start = request(Event::Fsm(FsmEvent::Start), "tng-sdk-sm/fsm/start_event.yml", &instance);
    let Reply::Started(envs) = manager.invoke(start).await.unwrap() else {
        panic!("started")
    };
    assert!(
        envs[0]
            .envs
            .iter()
            .any(|pair| pair.key == "LEGACY_START" && pair.value == "tng-fsm-legacy")
    );
    // Named as 5GTANGO named it, labelled for whoever cleans up.
    let name = format!("tng-fsm-legacy{instance}");
    let labels = container_labels(&name).expect("the manager's container runs");
    assert_eq!(labels[LABEL_MANAGER], "tng-fsm-legacy");
    assert_eq!(labels[LABEL_INSTANCE], instance.as_str());
    let programs = group.instance(&instance).await.unwrap().programs().await;
    assert_eq!(programs, std::slice::from_ref(&name));

    // An in-place update: the new container starts beside the old one,
    // named as 5GTANGO's registry named it (`<random10><instance>`), and
    // the old one is removed once the new one is ready.
    let updated = group.with_manager(
        "tng-fsm-legacy",
        Some(Launcher::Image("wasmano/legacy-tango-fsm:1".into())),
    );
    updated
        .hand_over("tng-fsm-legacy", std::slice::from_ref(&instance))
        .await
        .unwrap();
    let programs = updated.programs(&instance).await;
    assert_eq!(programs.len(), 1, "{programs:?}");
    let new_name = programs[0].clone();
    assert!(new_name.ends_with(&instance) && new_name != name, "{new_name}");
    assert!(container_labels(&name).is_none(), "the old container {name} is left");
    let labels = container_labels(&new_name).expect("the new container runs");
    assert_eq!(labels[LABEL_MANAGER], "tng-fsm-legacy");
    let updated_manager = LegacyManager::new("tng-fsm-legacy", Arc::clone(&updated), CALL_DEADLINE);
    let start = request(Event::Fsm(FsmEvent::Start), "tng-sdk-sm/fsm/start_event.yml", &instance);
    assert!(matches!(updated_manager.invoke(start).await, Ok(Reply::Started(_))));

    manager.release(&instance).await.unwrap();
    assert!(container_labels(&name).is_none(), "container {name} left");
    assert!(container_labels(&new_name).is_none(), "container {new_name} left");
    assert!(
        !broker()
            .vhost_exists(&wire::vhost(ManagerKind::Function, &instance))
            .unwrap()
    );

    // An image the daemon does not have is the manager's failure to start.
    let missing = LegacySpec {
        id: "ghost".into(),
        launcher: Launcher::Image("wasmano/no-such-manager:0".into()),
    };
    let group = LegacyGroup::new(ManagerKind::Function, vec![missing], broker(), READY_WITHIN);
    let manager = LegacyManager::new("ghost", group, CALL_DEADLINE);
    let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", &instance);
    let cause = manager.invoke(stop).await.unwrap_err().cause;
    assert!(
        matches!(&cause, Cause::Fault(Fault::DidNotStart(message)) if message.contains("wasmano/no-such-manager:0 is not present")),
        "{cause}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_legacy_managers_of_a_crashed_process_left_is_removed_for_known_instances() {
    ensure_images();
    let spec = LegacySpec {
        id: "tng-fsm-legacy".into(),
        launcher: Launcher::Image("wasmano/legacy-tango-fsm:1".into()),
    };
    let (known, unknown) = (new_instance(), new_instance());
    for instance in [&known, &unknown] {
        // A process that dies without releasing: its container and vhost stay.
        let group = LegacyGroup::new(ManagerKind::Function, vec![spec.clone()], broker(), READY_WITHIN);
        let manager = LegacyManager::new("tng-fsm-legacy", group, CALL_DEADLINE);
        let stop = request(Event::Fsm(FsmEvent::Stop), "tng-sdk-sm/fsm/stop_event.yml", instance);
        assert_eq!(manager.invoke(stop).await.unwrap(), Reply::Stopped);
    }
    let name = |instance: &str| format!("tng-fsm-legacy{instance}");
    assert!(container_labels(&name(&known)).is_some());

    let instances = std::collections::HashSet::from([known.clone()]);
    let leftovers = remove_leftovers(&broker(), &instances).await;
    assert_eq!((leftovers.vhosts, leftovers.containers), (1, 1), "{leftovers:?}");
    assert!(leftovers.problems.is_empty(), "{leftovers:?}");
    assert!(container_labels(&name(&known)).is_none());
    assert!(
        !broker()
            .vhost_exists(&wire::vhost(ManagerKind::Function, &known))
            .unwrap()
    );
    // What the records do not know is not touched.
    assert!(container_labels(&name(&unknown)).is_some());
    assert!(
        broker()
            .vhost_exists(&wire::vhost(ManagerKind::Function, &unknown))
            .unwrap()
    );
    let all = std::collections::HashSet::from([unknown.clone()]);
    assert_eq!(remove_leftovers(&broker(), &all).await.containers, 1);
}

/// The mixed-managers example (examples-sm/legacy): a WebAssembly
/// placement SSM, a legacy task/configure SSM and a legacy FSM, the legacy
/// ones run as the Python manager.
fn mixed_service(host: &Host) -> ServiceTemplate {
    mixed_service_with(host, &mixed_settings())
}

/// The Python managers standing in for the example's legacy images.
fn mixed_settings() -> LegacySettings {
    let mut legacy = LegacySettings::new(broker());
    for (id, kind) in [("tng-ssm-legacy", "ssm"), ("tng-fsm-legacy", "fsm")] {
        legacy.commands.insert(id.to_owned(), python_manager(kind, id));
    }
    legacy.call_deadline = CALL_DEADLINE;
    legacy
}

/// The command line of the Python manager of this kind and id.
fn python_manager(kind: &str, id: &str) -> String {
    format!(
        "exec {} {} --type {kind} --id {id}",
        python().display(),
        support::workspace_root().join("tests/legacy/tango_sm.py").display()
    )
}

fn mixed_service_with(host: &Host, legacy: &LegacySettings) -> ServiceTemplate {
    let root = support::workspace_root().join("examples-sm/legacy");
    let placement = &support::guests().placement;
    let digest = sha256_hex(&std::fs::read(placement).unwrap());
    let nsd_text = std::fs::read_to_string(root.join("nsd.yml"))
        .unwrap()
        .replace(&"0".repeat(64), &digest);
    let Ok(Descriptor::Service(nsd)) = descriptor::parse(nsd_text.as_bytes()) else {
        panic!("the example NSD parses")
    };
    let vnfd_bytes = std::fs::read(root.join("vnfd.yml")).unwrap();
    let Ok(Descriptor::Function(vnfd)) = descriptor::parse(&vnfd_bytes) else {
        panic!("the example VNFD parses")
    };
    let modules = BTreeMap::from([("placement".to_owned(), placement.clone())]);
    service::build(
        host,
        &nsd,
        service::document(nsd_text.as_bytes()).unwrap(),
        &[(vnfd, service::document(&vnfd_bytes).unwrap())],
        &ModuleSource::Files(&modules),
        legacy,
    )
    .unwrap()
}

/// Each step a workflow ran with the manager that ran it, as
/// `step by manager`.
fn steps_by_manager(report: &WorkflowReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter_map(|step| {
            step.manager
                .as_ref()
                .map(|manager| format!("{} by {manager}", step.step))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_mixing_webassembly_and_legacy_managers_runs_its_lifecycle() {
    let host = Host::new(HostConfig::default()).unwrap();
    let template = Arc::new(mixed_service(&host));
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&data.path().join("records.sqlite")).unwrap());
    let orchestrator = Orchestrator::new(
        Arc::new(EmulatedInfrastructure::new(default_vims()).unwrap()) as Arc<dyn Infrastructure>,
        Arc::clone(&store) as Arc<dyn RecordStore>,
        PlacementOptions::default(),
    );

    let report = orchestrator.instantiate(template).await.unwrap();
    assert_eq!(report.nsr.status, Status::NormalOperation);
    let service_id = report.service_id.clone();
    let vnfr_id = report.vnfrs[0].id.clone();
    assert_eq!(
        steps_by_manager(&report),
        [
            // The legacy task SSM inserted configure_ssm after the start.
            "ssm task by tng-ssm-legacy",
            "ssm placement by placement",
            "fsm start web by tng-fsm-legacy",
            "ssm configure by tng-ssm-legacy",
            "fsm configure web by tng-fsm-legacy",
            "configuration status by tng-ssm-legacy",
        ]
    );
    // The legacy FSM's start envs reached the unit (its configure got the
    // SSM's payload instead of the records, so it had no units to answer for).
    let injected = report
        .steps
        .iter()
        .filter(|step| step.step == "inject envs web")
        .count();
    assert_eq!(injected, 1, "{:?}", report.steps);
    // One vhost per instance, as 5GTANGO's registry made them.
    for vhost in [format!("ssm-{service_id}"), format!("fsm-{vnfr_id}")] {
        assert!(broker().vhost_exists(&vhost).unwrap(), "{vhost}");
    }

    let terminated = orchestrator.terminate(&service_id).await.unwrap();
    assert_eq!(terminated.nsr.status, Status::Terminated);
    let releases: Vec<String> = steps_by_manager(&terminated)
        .into_iter()
        .filter(|step| step.starts_with("release"))
        .collect();
    assert_eq!(
        releases,
        [
            "release managers of web by tng-fsm-legacy",
            "release managers by tng-ssm-legacy",
        ]
    );
    let stop = steps_by_manager(&terminated);
    assert!(stop.contains(&"fsm stop web by tng-fsm-legacy".to_owned()), "{stop:?}");
    for vhost in [format!("ssm-{service_id}"), format!("fsm-{vnfr_id}")] {
        assert!(
            !broker().vhost_exists(&vhost).unwrap(),
            "{vhost} left after termination"
        );
    }
    assert_no_process_mentions(&service_id);
    assert_no_process_mentions(&vnfr_id);
}

/// The legacy group the manager `id` of these bindings runs in.
fn group_of<'a>(mut managers: impl Iterator<Item = &'a Arc<dyn SpecificManager>>, id: &str) -> Arc<LegacyGroup> {
    let manager = managers.find(|manager| manager.id() == id).unwrap();
    let legacy = (manager.as_ref() as &dyn std::any::Any)
        .downcast_ref::<LegacyManager>()
        .expect("a legacy manager");
    Arc::clone(legacy.group())
}

/// Runs a manager change of `template` and returns the changed template
/// (the current one again when the change failed) with the run's outcome.
async fn change_manager(
    orchestrator: &Orchestrator,
    (template, legacy, catalogue): (&Arc<ServiceTemplate>, &LegacySettings, &Catalogue),
    service_id: &str,
    (manager_id, vnf_id): (&str, Option<&str>),
    change: ManagerChange<'_>,
) -> (Arc<ServiceTemplate>, Result<WorkflowReport, WorkflowError>) {
    let host = Host::new(HostConfig::default()).unwrap();
    let changed = service::replace_manager(catalogue, &host, legacy, template, manager_id, vnf_id, change).unwrap();
    let new_template = Arc::new(changed.template);
    let task = Task::ChangeManager {
        template: Arc::clone(&new_template),
        manager_id: manager_id.to_owned(),
        vnf_id: vnf_id.map(str::to_owned),
        handover: changed
            .handover
            .map(|handover| Arc::new(handover) as Arc<dyn ManagerHandover>),
    };
    let outcome = orchestrator.run_with(service_id, &RunContext::default(), task).await;
    match outcome {
        Ok(report) => (new_template, Ok(report)),
        Err(error) => (Arc::clone(template), Err(error)),
    }
}

fn process_runs(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_manager_changes_in_place_and_a_failed_change_keeps_the_old_one() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut legacy = mixed_settings();
    // Commands standing in for the images the managers change to.
    legacy.commands.insert(
        "example/tng-ssm-legacy:2".into(),
        python_manager("ssm", "tng-ssm-legacy"),
    );
    legacy
        .commands
        .insert("example/broken:1".into(), "echo 'missing libfoo.so'; exit 3".into());
    let mut template = Arc::new(mixed_service_with(&host, &legacy));
    let data = tempfile::tempdir().unwrap();
    let catalogue = Catalogue::open(&data.path().join("catalogue")).unwrap();
    let vnf_manager = std::fs::read(&support::guests().vnf_manager).unwrap();
    let vnf_manager_sha = sha256_hex(&vnf_manager);
    catalogue
        .store(&[NewEntry {
            kind: EntryKind::Module,
            identity: module_identity(&vnf_manager_sha),
            bytes: vnf_manager,
        }])
        .unwrap();
    let store = Arc::new(SqliteStore::open(&data.path().join("records.sqlite")).unwrap());
    let orchestrator = Orchestrator::new(
        Arc::new(EmulatedInfrastructure::new(default_vims()).unwrap()) as Arc<dyn Infrastructure>,
        Arc::clone(&store) as Arc<dyn RecordStore>,
        PlacementOptions::default(),
    );
    let report = orchestrator.instantiate(Arc::clone(&template)).await.unwrap();
    let service_id = report.service_id.clone();
    let vnfr_id = report.vnfrs[0].id.clone();
    let ssm_vhost = format!("ssm-{service_id}");
    let ssm_topic = format!("generic.ssm.{service_id}");
    let ssms = group_of(template.ssms.iter().map(|binding| &binding.manager), "tng-ssm-legacy");
    let old_programs = ssms.programs(&service_id).await;
    assert_eq!(old_programs.len(), 1, "{old_programs:?}");

    // A new image: the new manager starts beside the old one, then the old
    // one and its queue go; the service's next events reach the new one.
    let (changed, outcome) = change_manager(
        &orchestrator,
        (&template, &legacy, &catalogue),
        &service_id,
        ("tng-ssm-legacy", None),
        ManagerChange::Image("example/tng-ssm-legacy:2"),
    )
    .await;
    let report = outcome.unwrap();
    let steps: Vec<String> = report.steps.iter().map(|step| step.step.clone()).collect();
    assert_eq!(
        steps,
        ["hand over manager tng-ssm-legacy", "change manager tng-ssm-legacy"]
    );
    template = changed;
    let new_programs = ssms.programs(&service_id).await;
    assert_eq!(new_programs.len(), 1, "{new_programs:?}");
    assert_ne!(new_programs, old_programs);
    assert!(!process_runs(&old_programs[0]), "the old manager still runs");
    let bound = broker().bound_queues(&ssm_vhost, wire::EXCHANGE, &ssm_topic).unwrap();
    assert_eq!(
        bound.len(),
        2,
        "the orchestrator's queue and the new manager's only: {bound:?}"
    );
    let reconfigured = orchestrator.reconfigure(&service_id).await.unwrap();
    assert!(
        steps_by_manager(&reconfigured).contains(&"ssm configure by tng-ssm-legacy".to_owned()),
        "{:?}",
        reconfigured.steps
    );

    // An image whose manager never starts: the change fails, saying why,
    // and the manager that ran before runs on.
    let (unchanged, outcome) = change_manager(
        &orchestrator,
        (&template, &legacy, &catalogue),
        &service_id,
        ("tng-ssm-legacy", None),
        ManagerChange::Image("example/broken:1"),
    )
    .await;
    let error = outcome.unwrap_err().to_string();
    assert!(error.contains("did not take over"), "{error}");
    assert!(error.contains("missing libfoo.so"), "{error}");
    assert!(Arc::ptr_eq(&unchanged, &template));
    assert_eq!(ssms.programs(&service_id).await, new_programs);
    assert!(process_runs(&new_programs[0]));
    orchestrator.reconfigure(&service_id).await.unwrap();

    // The legacy FSM ported to a module: its programs stop and, no legacy
    // manager being left for the VNF, its vhost goes.
    let fsms = group_of(
        template.vnfs[0].fsms.iter().map(|binding| &binding.manager),
        "tng-fsm-legacy",
    );
    let fsm_programs = fsms.programs(&vnfr_id).await;
    assert_eq!(fsm_programs.len(), 1, "{fsm_programs:?}");
    let (changed, outcome) = change_manager(
        &orchestrator,
        (&template, &legacy, &catalogue),
        &service_id,
        ("tng-fsm-legacy", Some("web")),
        ManagerChange::Module(&vnf_manager_sha),
    )
    .await;
    outcome.unwrap();
    template = changed;
    assert!(!process_runs(&fsm_programs[0]), "the legacy FSM still runs");
    assert!(!broker().vhost_exists(&format!("fsm-{vnfr_id}")).unwrap());
    let reconfigured = orchestrator.reconfigure(&service_id).await.unwrap();
    assert!(
        steps_by_manager(&reconfigured).contains(&"fsm configure web by tng-fsm-legacy".to_owned()),
        "{:?}",
        reconfigured.steps
    );
    assert!(
        !broker().vhost_exists(&format!("fsm-{vnfr_id}")).unwrap(),
        "the module ran the FSM's configure, not a legacy manager"
    );
    assert_eq!(
        template.vnfs[0].vnfd.function_specific_managers[0].other["wasm"]["sha256"],
        json!(vnf_manager_sha)
    );

    orchestrator.terminate(&service_id).await.unwrap();
    assert!(!broker().vhost_exists(&ssm_vhost).unwrap());
    assert_no_process_mentions(&service_id);
    assert_no_process_mentions(&vnfr_id);
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

/// `wasmano sm test` with these arguments: exit code, stdout and stderr.
fn harness(args: &[&str]) -> (i32, String, String) {
    wasmano(&[&["sm", "test"], args].concat())
}

/// `wasmano` with these arguments, from the repository.
fn wasmano(args: &[&str]) -> (i32, String, String) {
    wasmano_with(args, &[])
}

/// `wasmano` with these arguments and environment variables, from the
/// repository.
fn wasmano_with(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .current_dir(support::workspace_root())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_image_the_daemon_lacks_is_pulled_from_its_registry_with_the_stored_credentials() {
    ensure_images();
    let registry = TestRegistry::serve(
        "wasmano/legacy-tango-fsm:1",
        "wasmano/pulled-fsm",
        "1",
        ("operator", "s3cret"),
    );
    let image = registry.image();
    let remove_image = || {
        std::process::Command::new("docker")
            .args(["image", "rm", "--force", &image])
            .output()
            .unwrap()
    };
    remove_image();
    let start = "examples-sm/payloads/tng-sdk-sm/fsm/start_event.yml";
    let docker_config = tempfile::tempdir().unwrap();
    let config_dir = docker_config.path().to_str().unwrap();
    let run = || {
        let args = [
            "sm",
            "test",
            "--image",
            &image,
            "--kind",
            "fsm",
            "--event",
            "start",
            "--payload",
            start,
        ];
        wasmano_with(&args, &[("DOCKER_CONFIG", config_dir)])
    };

    // No `docker login` for it: refused, and the error says where and how.
    let (code, _, stderr) = run();
    assert_eq!(code, 2, "a manager that cannot start: {stderr}");
    assert!(
        stderr.contains(&format!("could not be pulled from {}", registry.address)) && stderr.contains("anonymously"),
        "{stderr}"
    );

    // With the credentials `docker login` would store, it is pulled and runs.
    let auth = base64::engine::general_purpose::STANDARD.encode("operator:s3cret");
    let config = json!({"auths": {registry.address.clone(): {"auth": auth}}});
    std::fs::write(docker_config.path().join("config.json"), config.to_string()).unwrap();
    let (code, stdout, stderr) = run();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("LEGACY_START: tng-fsm-legacy"), "{stdout}");
    assert!(registry.manifests_sent() >= 1, "the image came from the registry");
    let inspected = std::process::Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .unwrap();
    assert!(inspected.status.success(), "the daemon has the pulled image");
    remove_image();
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

    // Virtual links are checked as the orchestrator checks them: inside the
    // VIM of their VNFs is accepted, on a WIM the infrastructure lacks is not.
    let placement = "examples-sm/payloads/tng-sdk-sm/ssm/placement_event.yml";
    let place = |behaviour: &str| {
        let command = format!("{ssm} --behaviour {behaviour}");
        harness(&[
            "--command",
            &command,
            "--kind",
            "ssm",
            "--event",
            "placement",
            "--payload",
            placement,
        ])
    };
    let (code, stdout, stderr) = place("normal");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("vl_mapping"), "the links are placed: {stdout}");
    let (code, _, stderr) = place("wim-links");
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("which the infrastructure does not have"), "{stderr}");

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

#[test]
fn the_harness_runs_a_legacy_image_and_compares_a_port_with_its_legacy_manager() {
    ensure_images();
    let start = "examples-sm/payloads/tng-sdk-sm/fsm/start_event.yml";
    let stop = "examples-sm/payloads/tng-sdk-sm/fsm/stop_event.yml";
    let image = [
        "--image",
        "wasmano/legacy-tango-fsm:1",
        "--kind",
        "fsm",
        "--event",
        "start",
    ];
    let (code, stdout, stderr) = harness(&[&image[..], &["--payload", start]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("LEGACY_START: tng-fsm-legacy"), "{stdout}");

    // The example FSM module against the Python FSM: they stop alike (the
    // legacy 'None' error and the module's null read the same), and start
    // with different envs.
    let module = support::guests().vnf_manager.display().to_string();
    let legacy = format!(
        "exec {} tests/legacy/tango_sm.py --type fsm --id legacy-fsm",
        python().display()
    );
    let compare = |event: &str, payload: &str| {
        wasmano(&[
            "sm",
            "compare",
            "--module",
            &module,
            "--command",
            &legacy,
            "--event",
            event,
            "--payload",
            payload,
        ])
    };
    let (code, stdout, stderr) = compare("stop", stop);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("answer the same"), "{stdout}");
    let (code, stdout, stderr) = compare("start", start);
    assert_eq!(code, 6, "{stdout}{stderr}");
    assert!(
        stdout.contains(".LEGACY_START: module null | legacy \"legacy-fsm\""),
        "{stdout}"
    );
}
