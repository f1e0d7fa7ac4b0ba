//! `wasmano serve` and a real broker: with `--publish-events` a component
//! bound to `wasmano.lifecycle.#` on the `son-kernel` exchange follows an
//! NS instance's creation and instantiation (the operation's START, every
//! step, its RESULT), each routed by kind and NS instance; and at start the
//! server removes the vhosts legacy managers of an earlier run left for the
//! instances it records, and nothing else; and a legacy SSM's request
//! published unasked on `monitor.ssm.<id>` starts the workflow it asks for.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[path = "support/legacy.rs"]
mod support_legacy;
#[path = "support/package.rs"]
mod support_package;
#[path = "support/server.rs"]
#[allow(dead_code, reason = "this test uses a few of the server helpers")]
mod support_server;

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use wasmano::bus::wire;

use support_server::{Server, archive_with, bundled_archive, create_instance, task};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_on_the_bus_follows_an_instantiation() {
    support_legacy::broker();
    let (_connection, mut consumer) =
        support_legacy::listen("amqp://guest:guest@127.0.0.1:5672/%2f", "wasmano.lifecycle.#").await;

    let data = tempfile::tempdir().unwrap();
    let (id, operation, server) = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        move || {
            let server = Server::start_with(&data.join("data"), &[], &["--publish-events"]);
            let project = server.admin().project("tenant");
            let (_, token) = server.admin().token("operator", Some(&project));
            let operator = server.client(&token);
            assert_eq!(operator.onboard(&bundled_archive(&data, |_, text| text)).status, 201);
            let id = create_instance(&operator, "followed");
            let operation = operator.run_task(&task(&id, "instantiate"), &json!({}));
            assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
            // The server stays up until every event is read.
            (id, operation["id"].as_str().unwrap().to_owned(), server)
        }
    })
    .await
    .unwrap();

    let mut seen: Vec<(String, Value)> = Vec::new();
    let result = loop {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("the events within 30 s")
            .unwrap()
            .unwrap();
        let body: Value = serde_json::from_slice(&delivery.data).unwrap();
        seen.push((delivery.routing_key.to_string(), body.clone()));
        if body["nsLcmOpOccId"] == operation.as_str() && body["notificationStatus"] == "RESULT" {
            break body;
        }
    };
    assert_eq!(result["operationState"], "COMPLETED");
    let topics: Vec<&str> = seen.iter().map(|(topic, _)| topic.as_str()).collect();
    assert_eq!(topics[0], format!("wasmano.lifecycle.ns_instance.{id}"), "{topics:?}");
    assert!(topics.contains(&format!("wasmano.lifecycle.lcm_op_occ.{id}").as_str()));
    let steps: Vec<&str> = seen
        .iter()
        .filter(|(topic, _)| *topic == format!("wasmano.lifecycle.step.{id}"))
        .filter_map(|(_, body)| body["step"].as_str())
        .collect();
    for expected in ["ssm placement", "fsm start web", "ssm configure", "NSR in operation"] {
        assert!(steps.contains(&expected), "{expected} in {steps:?}");
    }
    let start = seen
        .iter()
        .find(|(_, body)| body["notificationStatus"] == "START")
        .expect("the operation's START");
    assert_eq!(start.1["operationState"], "PROCESSING");
    drop(server);
}

#[test]
fn a_legacy_ssms_unasked_request_starts_the_workflow_it_asks_for() {
    support_legacy::broker();
    support_legacy::ensure_images();
    // The legacy SSM image, declared for monitor: an alert that says so
    // makes it publish a reconfigure request on monitor.ssm.<id>.
    let data = tempfile::tempdir().unwrap();
    let archive = archive_with(data.path(), &support::guests().examples(), |name, text| {
        if name != "nsd.yml" {
            return text;
        }
        text.replace(
            "service_specific_managers:\n",
            "service_specific_managers:\n  - id: \"tng-ssm-legacy\"\n    image: \"wasmano/legacy-tango-ssm:1\"\n    options:\n      - key: \"type\"\n        value: \"monitor\"\n",
        )
    });
    let server = Server::start(&data.path().join("data"), &[]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    assert_eq!(operator.onboard(&archive).status, 201);
    let id = create_instance(&operator, "monitored");
    let instantiated = operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED", "{instantiated:#}");
    // Told the service runs, the monitor SSM runs from now on.
    let timeline = operator.get(&format!(
        "/nslcm/v1/ns_lcm_op_occs/{}/timeline",
        instantiated["id"].as_str().unwrap()
    ));
    let told = timeline.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "start monitoring")
        .cloned();
    assert_eq!(
        told.as_ref().map(|step| (&step["manager"], &step["outcome"])),
        Some((&json!("tng-ssm-legacy"), &json!("succeeded"))),
        "{timeline:#?}"
    );
    assert!(support_legacy::broker().vhost_exists(&format!("ssm-{id}")).unwrap());

    let alert = json!({"alert": {"name": "quarantine"}, "request_workflow": "reconfigure", "payload": {"quarantine_state": "on"}});
    let notified = operator.post(&format!("/nslcm/v1/ns_instances/{id}/monitoring"), &alert);
    assert_eq!(notified.status, 200, "{notified:#?}");
    // 5GTANGO's monitor event is a notification: nothing is asked in reply.
    assert_eq!(notified.body["nsLcmOpOccId"], Value::Null);

    let operations = format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}");
    let started = std::time::Instant::now();
    let requested = loop {
        let listed = operator.get(&operations).body;
        let found = listed.as_array().unwrap().iter().find(|operation| {
            operation["lcmOperationType"] == "RECONFIGURE" && operation["isAutomaticInvocation"] == true
        });
        if let Some(operation) = found {
            break operation.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no reconfiguration was started: {listed:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        requested["operationParams"]["managerRequest"]["workflow"], "reconfigure",
        "{requested:#}"
    );
    let done = operator.wait(&format!(
        "/nslcm/v1/ns_lcm_op_occs/{}",
        requested["id"].as_str().unwrap()
    ));
    assert_eq!(done["operationState"], "COMPLETED", "{done:#}");
    let terminated = operator.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert!(!support_legacy::broker().vhost_exists(&format!("ssm-{id}")).unwrap());
}

#[test]
fn a_manager_changed_to_an_image_and_back_leaves_no_container() {
    support_legacy::broker();
    support_legacy::ensure_images();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    assert_eq!(
        operator.onboard(&bundled_archive(data.path(), |_, text| text)).status,
        201
    );
    let id = create_instance(&operator, "changed-and-back");
    let instantiated = operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED", "{instantiated:#}");
    let module = operator
        .get(&format!("/nslcm/v1/ns_instances/{id}/managers"))
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|manager| manager["managerId"] == "configure")
        .unwrap()["moduleSha256"]
        .clone();
    let change = |data: Value| {
        let body = json!({"updateType": "CHANGE_MANAGER", "changeManagerData": data});
        let operation = operator.run_task(&task(&id, "update"), &body);
        assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    };
    let containers = || {
        let output = std::process::Command::new("docker")
            .args([
                "ps",
                "--quiet",
                "--filter",
                &format!("label=wasmano.legacy-instance={id}"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).lines().count()
    };
    let vhost = format!("ssm-{id}");

    change(json!({"managerId": "configure", "image": "wasmano/legacy-tango-ssm:1"}));
    assert_eq!(containers(), 1, "the legacy manager runs");
    assert!(support_legacy::broker().vhost_exists(&vhost).unwrap());
    change(json!({"managerId": "configure", "moduleSha256": module}));
    assert_eq!(containers(), 0, "the legacy manager is gone with its change back");
    assert!(!support_legacy::broker().vhost_exists(&vhost).unwrap());
    let terminated = operator.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
}

#[test]
fn at_start_the_server_removes_the_vhosts_legacy_managers_left_for_its_instances() {
    let broker = support_legacy::broker();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let server = Server::start_with(&data_dir, &[], &[]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    assert_eq!(
        operator.onboard(&bundled_archive(data.path(), |_, text| text)).status,
        201
    );
    let id = create_instance(&operator, "crashed");
    let operation = operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    drop(server);

    // What a crashed run's legacy SSM would have left, and a vhost of
    // another orchestrator's instance.
    let left = wire::vhost(wasmano_host::ManagerKind::Service, &id);
    let foreign = wire::vhost(wasmano_host::ManagerKind::Service, &uuid::Uuid::new_v4().to_string());
    for vhost in [&left, &foreign] {
        let created = std::process::Command::new("rabbitmqctl")
            .args(["add_vhost", vhost])
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    }
    let _server = Server::start_with(&data_dir, &[], &[]);
    assert!(!broker.vhost_exists(&left).unwrap(), "{left} left after the restart");
    assert!(
        broker.vhost_exists(&foreign).unwrap(),
        "{foreign} is not this orchestrator's"
    );
    broker.delete_vhost(&foreign).unwrap();
}
