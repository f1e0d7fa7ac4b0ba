//! `wasmano serve` from outside, through real HTTP against a real server
//! process on a real data directory: tokens and roles, packages, NS
//! instances and their operations, errors as ProblemDetails that change
//! nothing, a restart that recovers running services, and a crash (abort)
//! before every step of every workflow, recovered on the next start.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[path = "support/package.rs"]
mod support_package;
#[path = "support/server.rs"]
mod support_server;
#[path = "support/tls.rs"]
mod support_tls;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support_server::{Api, NSD, Server, archive_with, bundled_archive, create_instance, task};

/// A server with one project, its operator's client, and the bundled
/// package onboarded in it.
struct Setup {
    _data: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    server: Server,
    project: String,
    operator: Api,
}

fn setup() -> Setup {
    setup_with(|dir| bundled_archive(dir, |_, text| text))
}

/// A server with one project, its operator, and the package `archive`
/// makes onboarded in it.
fn setup_with(archive: impl Fn(&std::path::Path) -> Vec<u8>) -> Setup {
    setup_on(Vims::Emulated, archive)
}

/// [`setup_with`] on these VIMs.
fn setup_on(vims: Vims, archive: impl Fn(&std::path::Path) -> Vec<u8>) -> Setup {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let server = Server::start_with(&data_dir, &[], vims.args());
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    let onboarded = operator.onboard(&archive(data.path()));
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    Setup {
        _data: data,
        data_dir,
        server,
        project,
        operator,
    }
}

fn instance(api: &Api, id: &str) -> Value {
    let shown = api.get(&format!("/nslcm/v1/ns_instances/{id}"));
    assert_eq!(shown.status, 200, "{shown:#?}");
    shown.body
}

fn vnf_ids(instance: &Value) -> Vec<String> {
    instance["vnfInstance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vnf| vnf["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A migration of the instance's `db` VNF to another VIM of its kind.
fn migration(api: &Api, id: &str) -> Value {
    migration_of(api, id, "db")
}

/// A migration of the instance's VNF `profile` to another VIM of its kind.
fn migration_of(api: &Api, id: &str, profile: &str) -> Value {
    let vnf = instance(api, id)["vnfInstance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vnf| vnf["vnfProfileId"] == profile)
        .unwrap()
        .clone();
    let vims = api.get("/wasmano/v1/vims").body;
    let vims = vims.as_array().unwrap();
    let current = vims.iter().find(|vim| vim["id"] == vnf["vimId"]).unwrap();
    let target = vims
        .iter()
        .find(|vim| vim["id"] != current["id"] && vim["kind"] == current["kind"])
        .unwrap();
    json!({"vnfInstanceId": vnf["id"], "targetVimId": target["id"]})
}

#[test]
fn no_route_answers_without_a_valid_token() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let admin = server.admin();
    let project = admin.project("p");
    let (revoked_id, revoked) = admin.token("viewer", Some(&project));
    assert_eq!(admin.delete(&format!("/admin/v1/tokens/{revoked_id}")).status, 204);
    let expired = admin.post(
        "/admin/v1/tokens",
        &json!({"role": "viewer", "projectId": project, "expiresInSeconds": 0}),
    );
    let expired = expired.body["token"].as_str().unwrap().to_owned();
    let routes = [
        "/nslcm/v1/api_versions",
        "/nslcm/v1/ns_instances",
        "/nslcm/v1/ns_lcm_op_occs",
        "/wasmano/v1/packages",
        "/wasmano/v1/vims",
        "/admin/v1/projects",
        "/no/such/route",
    ];
    for route in routes {
        let missing = server.anonymous().get(route);
        missing.assert_problem(401, "unauthenticated");
        assert_eq!(missing.www_authenticate.as_deref(), Some("Bearer realm=\"wasmano\""));
        for (token, why) in [
            ("wmn_not-a-token-anyone-issued-aaaaaaaaaaaaaaaa", "invalid"),
            (revoked.as_str(), "revoked"),
            (expired.as_str(), "expired"),
        ] {
            let refused = server.client(token).get(route);
            refused.assert_problem(401, "unauthenticated");
            assert!(
                refused.body["detail"].as_str().unwrap().contains(why),
                "{route}: {refused:#?}"
            );
            assert!(
                refused
                    .www_authenticate
                    .as_deref()
                    .unwrap()
                    .contains("error=\"invalid_token\""),
                "{refused:#?}"
            );
            assert!(!refused.text.contains(token), "a token never comes back");
        }
    }
    let versions = admin.get("/nslcm/v1/api_versions");
    assert_eq!(versions.status, 200);
    assert_eq!(versions.version.as_deref(), Some("1.0.0"));
    assert_eq!(versions.body["apiVersions"][0]["version"], "1.0.0");
    let listed = admin.get("/admin/v1/tokens");
    assert!(!listed.text.contains(&revoked), "secrets are never listed");
    let refused = server.anonymous().get("/nslcm/v1/api_versions");
    assert_eq!(
        refused.version.as_deref(),
        Some("1.0.0"),
        "problems carry the version too"
    );

    let data_dir = data.path().join("data");
    server.stop();
    let log = std::fs::read_to_string(support_server::log_file(&data_dir)).unwrap();
    assert!(log.contains("issued token"), "the log names issued tokens (by id)");
    for secret in [server_admin_secret(&data_dir), revoked, expired] {
        assert!(!log.contains(&secret), "a token secret never reaches the log");
    }
}

fn server_admin_secret(data_dir: &std::path::Path) -> String {
    std::fs::read_to_string(support_server::token_file(data_dir))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn a_sigterm_lets_running_operations_finish() {
    let setup = setup();
    let token = setup.operator.token_secret();
    // Several in flight, so that some still run when the signal arrives.
    let ids: Vec<String> = (0..3)
        .map(|n| create_instance(&setup.operator, &format!("web{n}")))
        .collect();
    let started: Vec<String> = ids
        .iter()
        .map(|id| {
            let started = setup.operator.post(&task(id, "instantiate"), &json!({}));
            assert_eq!(started.status, 202);
            started.location.unwrap()
        })
        .collect();
    setup.server.stop();
    let server = Server::start(&setup.data_dir, &[]);
    for location in started {
        let operation = server.client(&token).get(&location).body;
        assert_eq!(
            operation["operationState"], "COMPLETED",
            "the operation finished before the process exited: {operation:#}"
        );
    }
}

#[test]
fn roles_and_projects_decide_who_sees_and_changes_what() {
    let setup = setup();
    let admin = setup.server.admin();
    let (_, viewer) = admin.token("viewer", Some(&setup.project));
    let viewer = setup.server.client(&viewer);
    let other_project = admin.project("other");
    let (_, outsider) = admin.token("operator", Some(&other_project));
    let outsider = setup.server.client(&outsider);

    let packages = setup.operator.get("/wasmano/v1/packages");
    let package = packages.body[0]["id"].as_str().unwrap().to_owned();
    let package_path = format!("/wasmano/v1/packages/{package}");
    assert_eq!(viewer.get(&package_path).status, 200);
    viewer.delete(&package_path).assert_problem(403, "forbidden");
    outsider.get(&package_path).assert_problem(404, "not-found");
    assert_eq!(outsider.get("/wasmano/v1/packages").body, json!([]));
    outsider.delete(&package_path).assert_problem(404, "not-found");
    let nsd = viewer.get(&format!("{package_path}/nsd"));
    assert_eq!(nsd.content_type.as_deref(), Some("application/yaml"));
    assert!(nsd.text.contains("demo-web-service"));

    let id = create_instance(&setup.operator, "web");
    viewer
        .post(&task(&id, "instantiate"), &json!({}))
        .assert_problem(403, "forbidden");
    outsider
        .post(&task(&id, "instantiate"), &json!({}))
        .assert_problem(404, "not-found");
    outsider
        .get(&format!("/nslcm/v1/ns_instances/{id}"))
        .assert_problem(404, "not-found");
    // The other project has not onboarded the NSD: it cannot instantiate it.
    outsider
        .post("/nslcm/v1/ns_instances", &json!({"nsdId": NSD, "nsName": "x"}))
        .assert_problem(422, "unprocessable");
    viewer
        .post("/nslcm/v1/ns_instances", &json!({"nsdId": NSD, "nsName": "x"}))
        .assert_problem(403, "forbidden");
    setup
        .operator
        .get("/admin/v1/projects")
        .assert_problem(403, "forbidden");
    setup
        .operator
        .post("/admin/v1/tokens", &json!({"role": "admin"}))
        .assert_problem(403, "forbidden");
    // A project that owns things cannot be deleted.
    admin
        .delete(&format!("/admin/v1/projects/{}", setup.project))
        .assert_problem(409, "state-conflict");
    assert_eq!(admin.delete(&format!("/admin/v1/projects/{other_project}")).status, 204);
    assert_eq!(outsider.get("/wasmano/v1/vims").status, 401, "its tokens went with it");
}

#[test]
fn a_service_runs_its_whole_lifecycle_through_the_api() {
    let setup = setup();
    let api = &setup.operator;
    let before = api.free_capacity();
    let id = create_instance(api, "web");
    assert_eq!(instance(api, &id)["nsState"], "NOT_INSTANTIATED");

    let instantiated = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED", "{instantiated:#}");
    assert_eq!(instantiated["lcmOperationType"], "INSTANTIATE");
    let running = instance(api, &id);
    assert_eq!(running["nsState"], "INSTANTIATED");
    assert_eq!(running["status"], "normal operation");
    assert_eq!(vnf_ids(&running).len(), 3);
    assert_ne!(api.free_capacity(), before);
    api.post(&task(&id, "instantiate"), &json!({}))
        .assert_problem(409, "state-conflict");

    let timeline = api.get(&format!(
        "/nslcm/v1/ns_lcm_op_occs/{}/timeline",
        instantiated["id"].as_str().unwrap()
    ));
    let steps = timeline.body["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|step| step["event"] == "placement" && step["outcome"] == "succeeded")
    );
    assert!(steps.iter().all(|step| step["workflow"] == "instantiation"));

    let scaled = api.run_task(
        &task(&id, "scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeAdded": [{"vnfProfileId": "web"}]}}),
    );
    assert_eq!(scaled["operationState"], "COMPLETED", "{scaled:#}");
    let vnfs = vnf_ids(&instance(api, &id));
    assert_eq!(vnfs.len(), 4);
    let added = vnfs.last().unwrap().clone();

    let migrated = api.run_task(&task(&id, "migrate"), &migration(api, &id));
    assert_eq!(migrated["operationState"], "COMPLETED", "{migrated:#}");
    let reconfigured = api.run_task(&task(&id, "reconfigure"), &json!({}));
    assert_eq!(reconfigured["operationState"], "COMPLETED", "{reconfigured:#}");
    let scaled_in = api.run_task(
        &task(&id, "scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeRemoved": [added]}}),
    );
    assert_eq!(scaled_in["operationState"], "COMPLETED", "{scaled_in:#}");
    assert_eq!(vnf_ids(&instance(api, &id)).len(), 3);

    let terminated = api.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert_eq!(instance(api, &id)["nsState"], "NOT_INSTANTIATED");
    assert_eq!(api.free_capacity(), before, "everything deployed was given back");

    let history = api.get(&format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}"));
    let types: Vec<&str> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|operation| operation["lcmOperationType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["INSTANTIATE", "SCALE", "MIGRATE", "RECONFIGURE", "SCALE", "TERMINATE"]
    );
    assert_eq!(api.delete(&format!("/nslcm/v1/ns_instances/{id}")).status, 204);
    api.get(&format!("/nslcm/v1/ns_instances/{id}"))
        .assert_problem(404, "not-found");
    let kept = api.get(&format!(
        "/nslcm/v1/ns_lcm_op_occs/{}",
        terminated["id"].as_str().unwrap()
    ));
    assert_eq!(kept.status, 200, "operations outlive their instance");
}

#[test]
fn of_concurrent_requests_for_one_task_only_one_starts() {
    let setup = setup();
    let api = &setup.operator;
    for round in 0..3 {
        let id = create_instance(api, &format!("raced{round}"));
        let operation = api.run_task(&task(&id, "instantiate"), &json!({}));
        assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
        // Each request is validated against the instance as it reads it;
        // the one that starts ends the state the others were validated for.
        let started: Vec<u16> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| api.post(&task(&id, "terminate"), &json!({})).status))
                .collect();
            racers.into_iter().map(|racer| racer.join().unwrap()).collect()
        });
        assert_eq!(
            started.iter().filter(|status| **status == 202).count(),
            1,
            "round {round}: {started:?}"
        );
        assert!(started.iter().all(|status| matches!(status, 202 | 409)), "{started:?}");
        let history = api.get(&format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}")).body;
        let last = history.as_array().unwrap().last().unwrap()["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(api.wait(&last)["operationState"], "COMPLETED");
        assert_eq!(api.delete(&format!("/nslcm/v1/ns_instances/{id}")).status, 204);
    }
}

#[test]
fn bad_requests_are_problems_that_change_nothing() {
    let setup = setup();
    let api = &setup.operator;
    let packages_before = api.get("/wasmano/v1/packages").body;
    let data = tempfile::tempdir().unwrap();

    let unreadable = api.post_raw("/wasmano/v1/packages", "application/gzip", b"not a gzip tar");
    unreadable.assert_problem(400, "validation");
    let detail = unreadable.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the uploaded package: ") && !detail.contains("uploads"),
        "the server's spool path stays private: {detail}"
    );
    api.post_raw("/wasmano/v1/packages", "application/json", b"{}")
        .assert_problem(415, "unsupported-media-type");
    let invalid = api.onboard(&bundled_archive(data.path(), |name, text| {
        if name == "web-vnfd.yml" {
            text.replace("vcpus: 2", "vcpus: many")
        } else {
            text
        }
    }));
    invalid.assert_problem(422, "package-invalid");
    assert!(
        invalid.body["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|problem| problem["file"] == "web-vnfd.yml"),
        "{invalid:#?}"
    );
    let clash = api.onboard(&bundled_archive(data.path(), |name, text| {
        if name == "nsd.yml" {
            text.replace("A web front end", "Another web front end")
        } else {
            text
        }
    }));
    clash.assert_problem(409, "identity-clash");
    let again = api.onboard(&bundled_archive(data.path(), |_, text| text));
    assert_eq!(again.status, 200, "identical content answers the package it is");
    assert_eq!(api.get("/wasmano/v1/packages").body, packages_before);

    api.post_raw("/nslcm/v1/ns_instances", "application/json", b"{not json")
        .assert_problem(400, "validation");
    api.post_raw("/nslcm/v1/ns_instances", "text/plain", b"{}")
        .assert_problem(415, "unsupported-media-type");
    api.post("/nslcm/v1/ns_instances", &json!({"nsName": "no nsd"}))
        .assert_problem(400, "validation");
    api.post(
        "/nslcm/v1/ns_instances",
        &json!({"nsdId": "eu.wasmano/nothing/9", "nsName": "x"}),
    )
    .assert_problem(422, "unprocessable");
    let id = create_instance(api, "web");
    api.post(&task(&id, "terminate"), &json!({}))
        .assert_problem(409, "state-conflict");
    api.post(&task(&id, "instantiate"), &json!({"onFailure": "SOMETIMES"}))
        .assert_problem(400, "validation");
    api.post(&task(&id, "heal"), &json!({}))
        .assert_problem(404, "not-found");
    api.get("/nslcm/v1/ns_instances/%FF").assert_problem(400, "validation");
    api.get("/nslcm/v1/ns_instances?nsState=INSTANTIATED&nsState=NOT_INSTANTIATED")
        .assert_problem(400, "validation");
    let wrong_method = api.delete("/nslcm/v1/ns_instances");
    wrong_method.assert_problem(405, "method-not-allowed");
    assert_eq!(wrong_method.allow.as_deref(), Some("GET,HEAD,POST"));
    let refused_version = api.send_with_version("/nslcm/v1/ns_instances", "2.0.0");
    refused_version.assert_problem(406, "unsupported-version");

    let instantiated = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED");
    let operations_before = api.get("/nslcm/v1/ns_lcm_op_occs").body;
    api.post(
        &task(&id, "scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeAdded": [{"vnfProfileId": "nope"}]}}),
    )
    .assert_problem(422, "unprocessable");
    api.post(
        &task(&id, "scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {}}),
    )
    .assert_problem(400, "validation");
    let running = instance(api, &id);
    let vnf = &running["vnfInstance"][0];
    api.post(
        &task(&id, "migrate"),
        &json!({"vnfInstanceId": vnf["id"], "targetVimId": vnf["vimId"]}),
    )
    .assert_problem(422, "unprocessable");
    api.post(
        &task(&id, "migrate"),
        &json!({"vnfInstanceId": vnf["id"], "targetVimId": "no-such-vim"}),
    )
    .assert_problem(422, "unprocessable");
    api.delete(&format!("/nslcm/v1/ns_instances/{id}"))
        .assert_problem(409, "state-conflict");
    assert_eq!(
        api.get("/nslcm/v1/ns_lcm_op_occs").body,
        operations_before,
        "refused tasks create no operation"
    );
}

#[test]
fn a_restart_recovers_running_services_and_their_capacity() {
    let setup = setup();
    let id = create_instance(&setup.operator, "web");
    let instantiated = setup.operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED");
    let before = instance(&setup.operator, &id);
    let used = setup.operator.free_capacity();
    let token = setup.operator.token_secret();
    setup.server.stop();

    let server = Server::start(&setup.data_dir, &[]);
    let api = server.client(&token);
    let after = instance(&api, &id);
    assert_eq!(after["nsState"], "INSTANTIATED");
    assert_eq!(after["vnfInstance"], before["vnfInstance"]);
    assert_eq!(api.free_capacity(), used, "the ledger counts what runs");
    let terminated = api.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    let free: Vec<(String, f64, f64)> = api.free_capacity();
    let fresh = tempfile::tempdir().unwrap();
    let empty = Server::start(&fresh.path().join("data"), &[]).admin().free_capacity();
    assert_eq!(free, empty, "terminating after a restart gives everything back");
}

/// A server in this process, as `wasmano demo` and embedders run it.
struct InProcess {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl InProcess {
    /// Opens the data directory (recovering what it runs) and serves it on
    /// a free loopback port.
    fn start(runtime: &tokio::runtime::Runtime, config: &wasmano::server::ServeConfig) -> Self {
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let opened = wasmano::server::open(config)
                .await
                .unwrap_or_else(|error| panic!("open {}: {error}", config.data_dir.display()));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(wasmano::server::serve(listener, opened.state, async {
                let _ = stopped.await;
            }));
            Self { base, stop, serving }
        })
    }

    /// Stops accepting, lets running operations end, and returns when
    /// `serve` does.
    fn stop(self, runtime: &tokio::runtime::Runtime) {
        drop(self.stop);
        runtime.block_on(self.serving).unwrap().unwrap();
    }
}

/// When `serve` returns, the data directory is free: a server stopped
/// while its operations run (they end first) and clients hold keep-alive
/// connections opens again at once in the same process. The last
/// operation's task used to let go of the lifecycle (and with it the
/// directory's lock) only after it counted as ended, and each connection's
/// task dropped its router (which holds the lifecycle too) just after
/// telling `serve` it had closed.
#[test]
fn a_stopped_server_frees_its_data_directory_before_serve_returns() {
    const ROUNDS: usize = 12;
    const CONCURRENT: usize = 4;
    const KEPT_ALIVE: usize = 16;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().join("admin-token");
    let vims = data.path().join("vims.yml");
    std::fs::write(
        &vims,
        "- id: edge\n  type: container\n  cores: 1000\n  memory_mb: 1000000\n\
         - id: core\n  type: vm\n  cores: 1000\n  memory_mb: 1000000\n",
    )
    .unwrap();
    let config = wasmano::server::ServeConfig {
        bootstrap_token_file: Some(token_file.clone()),
        vims_file: Some(vims),
        ..wasmano::server::ServeConfig::new(data.path().join("data"))
    };
    let server = InProcess::start(&runtime, &config);
    let admin = Api::new(&server.base, std::fs::read_to_string(&token_file).unwrap().trim());
    let project = admin.project("tenant");
    let (_, token) = admin.token("operator", Some(&project));
    let onboarded = Api::new(&server.base, &token).onboard(&bundled_archive(data.path(), |_, text| text));
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    let mut server = server;
    let mut started = Vec::new();
    for round in 0..ROUNDS {
        let operator = Api::new(&server.base, &token);
        for index in 0..CONCURRENT {
            let id = create_instance(&operator, &format!("round-{round}-{index}"));
            let answer = operator.post(&task(&id, "instantiate"), &json!({}));
            assert_eq!(answer.status, 202, "{answer:#?}");
            started.push(answer.location.unwrap());
        }
        let idle: Vec<Api> = (0..KEPT_ALIVE).map(|_| Api::new(&server.base, &token)).collect();
        for client in &idle {
            assert_eq!(client.get("/nslcm/v1/api_versions").status, 200);
        }
        server.stop(&runtime);
        server = InProcess::start(&runtime, &config);
    }
    let operator = Api::new(&server.base, &token);
    for location in &started {
        let operation = operator.wait(location);
        assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    }
    server.stop(&runtime);
}

#[test]
fn the_servers_placement_settings_reach_the_engine() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(&data.path().join("data"), &[], &["--blacklist", "edge-eu-west"]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let api = server.client(&token);
    assert_eq!(api.onboard(&bundled_archive(data.path(), |_, text| text)).status, 201);
    // Without the blacklist the placement manager would spread the
    // containers over both edge VIMs; the larger, edge-eu-west, first.
    let id = create_instance(&api, "one");
    let operation = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    let placed = instance(&api, &id);
    for vnf in placed["vnfInstance"].as_array().unwrap() {
        assert_ne!(
            vnf["vimId"], "edge-eu-west",
            "a blacklisted VIM hosts nothing: {placed:#}"
        );
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["serve", "--fixed", "web"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(64), "a malformed --fixed is a usage error");
}

/// `wasmano sm replay` on the calls a recording service made: a module
/// answers its own calls the same (exit 0), a changed version of it
/// differs where its behaviour changed (exit 6), and a service that does
/// not record leaves nothing to replay. Read while the server runs.
#[test]
fn recorded_hook_calls_replay_on_a_new_module_version() {
    let changed = support::placement_fewest_free_cores();
    let setup = setup();
    let api = &setup.operator;
    let created = api.post(
        "/nslcm/v1/ns_instances",
        &json!({"nsdId": NSD, "nsName": "recorded", "recordHookCalls": true}),
    );
    assert_eq!(created.status, 201, "{created:#?}");
    assert_eq!(created.body["recordHookCalls"], true);
    let recorded = created.body["id"].as_str().unwrap().to_owned();
    let unrecorded = create_instance(api, "unrecorded");
    for id in [&recorded, &unrecorded] {
        let instantiated = api.run_task(&task(id, "instantiate"), &json!({}));
        assert_eq!(instantiated["operationState"], "COMPLETED", "{instantiated:#}");
    }
    let reconfigured = api.run_task(&task(&recorded, "reconfigure"), &json!({}));
    assert_eq!(reconfigured["operationState"], "COMPLETED", "{reconfigured:#}");
    let replay = |module: &std::path::Path, extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
            .args(["sm", "replay", "--module"])
            .arg(module)
            .arg("--data-dir")
            .arg(&setup.data_dir)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stdout, stderr)
    };
    let guests = support::guests();

    let (code, stdout, stderr) = replay(&guests.placement, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("ssm placement on placement"), "{stdout}");
    assert!(stdout.contains(&format!("for service {recorded}")), "{stdout}");
    assert!(
        !stdout.contains(&unrecorded),
        "a service that does not record: {stdout}"
    );
    assert!(
        stdout.contains("replayed 1 call(s)") && stdout.contains("1 same, 0 different"),
        "{stdout}"
    );

    // The configure manager's calls: instantiation and reconfiguration.
    let (code, stdout, stderr) = replay(&guests.configure, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("2 same, 0 different"), "{stdout}");

    let (code, stdout, stderr) = replay(&changed, &[]);
    assert_eq!(code, Some(6), "{stdout}{stderr}");
    assert!(stdout.contains("differs in"), "{stdout}");
    assert!(
        stdout.contains(r#"recorded "core-eu-central" | replayed "core-us-west""#),
        "the VM VNF moves to the VIM with fewer free cores: {stdout}"
    );
    assert!(
        stderr.contains("answers 1 of 1 recorded call(s) differently"),
        "{stderr}"
    );

    let (code, _, stderr) = replay(&guests.placement, &["--service", &unrecorded]);
    assert_eq!(code, Some(66), "{stderr}");
    assert!(stderr.contains("recorded no call of ssm placement"), "{stderr}");

    // Deleting the instance deletes its calls and their documents.
    let terminated = api.run_task(&task(&recorded, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert_eq!(api.delete(&format!("/nslcm/v1/ns_instances/{recorded}")).status, 204);
    let (code, _, stderr) = replay(&guests.placement, &[]);
    assert_eq!(code, Some(66), "{stderr}");
    let documents = std::fs::read_dir(setup.data_dir.join("calls/blobs")).unwrap().count();
    assert_eq!(documents, 0, "no document outlives the calls that named it");
}

/// `serve --tls-cert --tls-key` answers HTTPS with that certificate: the
/// CLI trusts it through `--ca-cert` and refuses it without; plain HTTP
/// gets no answer; unusable files stop the server before it starts, named.
#[test]
fn the_server_speaks_https_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let authority = support_tls::Authority::new();
    let (ca, cert, key) = authority.write_pem(dir.path());
    let data = dir.path().join("data");
    let server = Server::start_with(
        &data,
        &[],
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let token = support_server::token_file(&data);
    let cli = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasmano"))
            .args(["package", "list", "--json", "--token-file"])
            .arg(&token)
            .args(extra)
            .output()
            .unwrap()
    };
    let trusted = cli(&["--server", &server.base, "--ca-cert", ca.to_str().unwrap()]);
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&trusted.stdout).trim(), "[]");
    let untrusted = cli(&["--server", &server.base]);
    assert_eq!(untrusted.status.code(), Some(69), "an unknown issuer is refused");
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("--ca-cert"),
        "the message says what to do: {}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    let plain = server.base.replace("https://", "http://");
    let cleartext = cli(&["--server", &plain, "--ca-cert", ca.to_str().unwrap()]);
    assert_eq!(cleartext.status.code(), Some(69), "plain HTTP gets no answer");
    // The event stream trusts the same certificates: `watch` stays connected
    // (refused, it would end at once with 69).
    let mut watch = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args([
            "watch",
            "--server",
            &server.base,
            "--ca-cert",
            ca.to_str().unwrap(),
            "--token-file",
        ])
        .arg(&token)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let ended = watch.try_wait().unwrap();
    let _ = watch.kill();
    let watched = watch.wait_with_output().unwrap();
    assert_eq!(
        ended,
        None,
        "watch over https ended: {}",
        String::from_utf8_lossy(&watched.stderr)
    );
    server.stop();

    let refused = |cert: &std::path::Path, key: &std::path::Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("other"))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = refused(&cert, &ca);
    assert_eq!(code, Some(65), "a certificate as the key: {stderr}");
    assert!(stderr.contains(ca.to_str().unwrap()), "{stderr}");
    let missing = dir.path().join("missing.pem");
    let (code, stderr) = refused(&cert, &missing);
    assert_eq!(code, Some(66), "{stderr}");
    assert!(stderr.contains("missing.pem"), "{stderr}");
    assert!(!dir.path().join("other").exists(), "nothing started");
}

#[test]
fn a_configuration_file_sets_what_the_flags_set() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("wasmano.yml");
    std::fs::write(
        &config,
        "# flags win over these\nplacement:\n  strategy: fill-first\n  blacklist: [edge-eu-west]\n",
    )
    .unwrap();
    let server = Server::start_with(&data.path().join("data"), &[], &["--config", config.to_str().unwrap()]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let api = server.client(&token);
    assert_eq!(api.onboard(&bundled_archive(data.path(), |_, text| text)).status, 201);
    let id = create_instance(&api, "configured");
    let operation = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    for vnf in instance(&api, &id)["vnfInstance"].as_array().unwrap() {
        assert_ne!(vnf["vimId"], "edge-eu-west", "the file's blacklist applies");
    }
    server.stop();

    // Unusable files are refused before anything starts, naming the file
    // and what is wrong; relative paths are the file's directory's.
    let refused = |text: Option<&str>| {
        let path = data.path().join("refused.yml");
        match text {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => std::fs::remove_file(&path).unwrap_or(()),
        }
        let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("other"))
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            stderr.contains(path.to_str().unwrap()) || stderr.contains("vims"),
            "{stderr}"
        );
        (output.status.code(), stderr)
    };
    let (code, stderr) = refused(Some("placement:\n  stratgy: fill-first\n"));
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("stratgy"), "the unknown key is named: {stderr}");
    let (code, stderr) = refused(Some("docker: sometimes\n"));
    assert_eq!(code, Some(78), "{stderr}");
    let (code, stderr) = refused(Some("callback_allow: [10.0.0.0/40]\n"));
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("10.0.0.0/40"), "the bad range is named: {stderr}");
    let (code, stderr) = refused(Some("vims: missing-vims.yml\n"));
    assert_eq!(code, Some(65), "{stderr}");
    let missing = data.path().join("missing-vims.yml");
    assert!(
        stderr.contains(missing.to_str().unwrap()),
        "resolved beside the file: {stderr}"
    );
    let (code, stderr) = refused(None);
    assert_eq!(code, Some(66), "{stderr}");
}

/// A check of an instance (through the API, by its id) once an operation
/// (its body) ended, COMPLETED (`true`) or ROLLED_BACK.
type EndCheck = dyn Fn(&Api, &str, &Value, bool);

/// Runs `operation` (a task path and body, on instance `id`) once per step
/// of the workflow, the server aborting before that step; after each
/// restart the operation is in `expected` state with cause `interrupted`,
/// the free capacity is what `capacity` says, and the instance is usable.
struct CrashCase<'a> {
    task: &'a str,
    body: Value,
    /// The states the operation may be in after the restart.
    expected: &'a [&'a str],
    /// The step whose write is the workflow's commit point, when it has
    /// one: a crash before it rolls back, a crash after it completes (or,
    /// for an operation that pauses on failure, cannot be rolled back).
    commit_step: Option<&'a str>,
    /// Checks the instance once the operation ended (COMPLETED, or
    /// ROLLED_BACK: `false`) with the operation's body.
    ended: Option<Box<EndCheck>>,
}

/// The steps of a timeline whose intent is journaled with no outcome after
/// it: effects in flight when the server stopped.
fn in_flight(timeline: &[Value]) -> Vec<String> {
    timeline
        .iter()
        .enumerate()
        .filter(|(position, entry)| {
            entry["outcome"] == "intended"
                && !timeline.get(position + 1).is_some_and(|next| {
                    next["step"] == entry["step"]
                        && next["workflow"] == entry["workflow"]
                        && next["outcome"] != "intended"
                })
        })
        .map(|(_, entry)| entry["step"].as_str().unwrap().to_owned())
        .collect()
}

/// How many units a timeline deployed.
fn deployments(timeline: &[Value]) -> usize {
    timeline
        .iter()
        .filter(|entry| entry["step"].as_str().unwrap().starts_with("deploy ") && entry["outcome"] == "succeeded")
        .count()
}

/// Where a crash matrix deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vims {
    /// The embedded emulated VIMs and the bundled package.
    Emulated,
    /// Two container VIMs on the local Docker daemon
    /// (`tests/docker/vims.yml`) and the bundled package's container VNFs.
    Docker,
}

impl Vims {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::Emulated => &[],
            Self::Docker => &[
                "--docker",
                "--vims",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/docker/vims.yml"),
            ],
        }
    }

    fn archive(self, dir: &std::path::Path) -> Vec<u8> {
        match self {
            Self::Emulated => bundled_archive(dir, |_, text| text),
            Self::Docker => container_archive(dir),
        }
    }
}

/// Returns how many crashes landed while an effect was in flight (its
/// intent journaled, its outcome not) and were reported as such.
fn crash_at_every_step(prepare: impl Fn(&Api) -> String, case: impl Fn(&Api, &str) -> CrashCase<'static>) -> usize {
    crash_at_every_step_on(Vims::Emulated, prepare, case)
}

/// [`crash_at_every_step`] on these VIMs; on Docker, no container of the
/// instance survives its termination after any crash.
fn crash_at_every_step_on(
    vims: Vims,
    prepare: impl Fn(&Api) -> String,
    case: impl Fn(&Api, &str) -> CrashCase<'static>,
) -> usize {
    if vims == Vims::Docker {
        support::ensure_test_image();
    }
    let setup = setup_on(vims, |dir| vims.archive(dir));
    let token = setup.operator.token_secret();
    let Setup {
        _data: _keep,
        data_dir,
        server,
        ..
    } = setup;
    // A run without the failpoint counts the workflow's steps.
    let api = server.client(&token);
    let counted = prepare(&api);
    let counting = case(&api, &counted);
    let operation = api.run_task(&task(&counted, counting.task), &counting.body);
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    let timeline = api.get(&format!(
        "/nslcm/v1/ns_lcm_op_occs/{}/timeline",
        operation["id"].as_str().unwrap()
    ));
    let timeline = timeline.body["steps"].as_array().unwrap();
    let steps = timeline.len();
    assert!(steps >= 1, "the workflow has steps to crash at");
    // Crash points are numbered from 1, each before the timeline's entry of
    // that number.
    let deploys = deployments(timeline);
    let commit_point = counting.commit_step.map(|commit| {
        1 + timeline
            .iter()
            .position(|entry| entry["step"] == commit)
            .unwrap_or_else(|| panic!("no step {commit:?} in {timeline:#?}"))
    });
    // Every crash run starts from the same free capacity.
    if instance(&api, &counted)["nsState"] == "INSTANTIATED" {
        let terminated = api.run_task(&task(&counted, "terminate"), &json!({}));
        assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    }
    server.stop();

    let mut in_flight_crashes = 0;
    let mut outcomes = BTreeMap::<String, usize>::new();
    for step in 1..=steps {
        let server = Server::start_with(&data_dir, &[], vims.args());
        let api = server.client(&token);
        let id = prepare(&api);
        let capacity = api.free_capacity();
        server.stop();

        let crashing = Server::start_with(&data_dir, &[("WASMANO_CRASH_AT_STEP", &step.to_string())], vims.args());
        let api = crashing.client(&token);
        let case = case(&api, &id);
        // The first step may run (and abort) before the 202 is sent.
        if let Some(started) = api.try_post(&task(&id, case.task), &case.body) {
            assert_eq!(started.status, 202, "{started:#?}");
        }
        assert!(crashing.wait_for_crash(Duration::from_secs(60)), "step {step}: aborted");

        let server = Server::start_with(&data_dir, &[], vims.args());
        let api = server.client(&token);
        let history = api.get(&format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}")).body;
        let operation = history.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            operation["operationParams"], case.body,
            "step {step}: the interrupted operation"
        );
        let state = operation["operationState"].as_str().unwrap();
        assert!(case.expected.contains(&state), "step {step}: {operation:#}");
        *outcomes.entry(state.to_owned()).or_default() += 1;
        if let Some(commit_point) = commit_point
            && matches!(state, "COMPLETED" | "ROLLED_BACK")
        {
            assert_eq!(
                state == "COMPLETED",
                step > commit_point,
                "step {step}, commit point {commit_point}: {operation:#}"
            );
        }
        if let Some(ended) = &case.ended
            && matches!(state, "COMPLETED" | "ROLLED_BACK")
        {
            ended(&api, &id, &case.body, state == "COMPLETED");
        }
        if state != "COMPLETED" {
            assert_eq!(operation["error"]["cause"], "interrupted", "step {step}");
            let timeline = api.get(&format!(
                "/nslcm/v1/ns_lcm_op_occs/{}/timeline",
                operation["id"].as_str().unwrap()
            ));
            let flying = in_flight(timeline.body["steps"].as_array().unwrap());
            for effect in &flying {
                assert!(
                    operation["error"]["detail"].as_str().unwrap().contains(effect.as_str()),
                    "step {step}: the error names the effect in flight, {effect}: {operation:#}"
                );
            }
            in_flight_crashes += usize::from(!flying.is_empty());
        }
        if state == "FAILED_TEMP" {
            if commit_point.is_some_and(|commit_point| step > commit_point) {
                api.post(
                    &format!(
                        "/nslcm/v1/ns_lcm_op_occs/{}/rollback",
                        operation["id"].as_str().unwrap()
                    ),
                    &json!({}),
                )
                .assert_problem(409, "state-conflict");
            }
            let retried = api.post(
                &format!("/nslcm/v1/ns_lcm_op_occs/{}/retry", operation["id"].as_str().unwrap()),
                &json!({}),
            );
            assert_eq!(retried.status, 202, "step {step}: {retried:#?}");
            let done = api.wait(retried.location.as_deref().unwrap());
            assert_eq!(done["operationState"], "COMPLETED", "step {step}: {done:#}");
            if let Some(ended) = &case.ended {
                ended(&api, &id, &case.body, true);
            }
            let timeline = api.get(&format!(
                "/nslcm/v1/ns_lcm_op_occs/{}/timeline",
                operation["id"].as_str().unwrap()
            ));
            assert_eq!(
                deployments(timeline.body["steps"].as_array().unwrap()),
                deploys,
                "step {step}: the retry resumed, deploying only what the interrupted attempt had not"
            );
        } else if state == "ROLLED_BACK" {
            assert_eq!(
                api.free_capacity(),
                capacity,
                "step {step}: rolled back to what ran before"
            );
        }
        // Whatever state it is in, the instance can be terminated and deleted.
        if instance(&api, &id)["nsState"] == "INSTANTIATED" {
            let terminated = api.run_task(&task(&id, "terminate"), &json!({}));
            assert_eq!(terminated["operationState"], "COMPLETED", "step {step}: {terminated:#}");
        }
        assert_eq!(
            api.delete(&format!("/nslcm/v1/ns_instances/{id}")).status,
            204,
            "step {step}"
        );
        if vims == Vims::Docker {
            assert_eq!(containers_of(&id), Vec::<String>::new(), "step {step}: containers left");
            assert_eq!(networks_of(&id), Vec::<String>::new(), "step {step}: network left");
        }
        server.stop();
    }
    let server = Server::start_with(&data_dir, &[], vims.args());
    let api = server.client(&token);
    let fresh = tempfile::tempdir().unwrap();
    let empty = Server::start_with(&fresh.path().join("data"), &[], vims.args())
        .admin()
        .free_capacity();
    assert_eq!(api.free_capacity(), empty, "nothing leaked over all the crashes");
    // One row of the crash-test matrix, for whoever reads the output
    // (`--nocapture`).
    let on_failure = counting.body["onFailure"].as_str().unwrap_or("ROLLBACK");
    let scale = &counting.body["scaleNsData"];
    let workflow = if scale.get("vnfInstanceToBeAdded").is_some() {
        "scale out"
    } else if scale.get("vnfInstanceToBeRemoved").is_some() {
        "scale in"
    } else {
        counting.task
    };
    eprintln!(
        "crash matrix | {vims:?} | {workflow} (onFailure {on_failure}) | {steps} crash points, {in_flight_crashes} with an effect in flight | recovered to {outcomes:?}, then terminated and deleted"
    );
    in_flight_crashes
}

fn instantiated(api: &Api) -> String {
    let id = create_instance(api, "crash");
    let operation = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED");
    id
}

#[test]
fn a_crash_before_any_step_of_instantiation_is_rolled_back() {
    let in_flight = crash_at_every_step(
        |api| create_instance(api, "crash"),
        |_, _| CrashCase {
            task: "instantiate",
            body: json!({}),
            expected: &["ROLLED_BACK"],
            commit_step: None,
            ended: None,
        },
    );
    assert_eq!(in_flight, 0, "emulated units die with the process: no intents");
}

fn scale_out_case(_: &Api, _: &str) -> CrashCase<'static> {
    CrashCase {
        task: "scale",
        body: json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeAdded": [{"vnfProfileId": "web"}]}}),
        expected: &["ROLLED_BACK"],
        commit_step: None,
        ended: None,
    }
}

fn scale_in_case(api: &Api, id: &str) -> CrashCase<'static> {
    CrashCase {
        task: "scale",
        body: json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeRemoved": [instance(api, id)["vnfInstance"][0]["id"]]}}),
        expected: &["FAILED_TEMP"],
        commit_step: None,
        ended: None,
    }
}

fn terminate_case(_: &Api, _: &str) -> CrashCase<'static> {
    CrashCase {
        task: "terminate",
        body: json!({}),
        expected: &["FAILED_TEMP"],
        commit_step: None,
        ended: None,
    }
}

#[test]
fn a_crash_before_any_step_of_scale_out_is_rolled_back() {
    crash_at_every_step(instantiated, scale_out_case);
}

/// A crash matrix on Docker: each effect's intent is a crash point too (a
/// deploy, an env change or a removal in flight), named in the operation's
/// error. One test per workflow, so that the harness's threads share them
/// out evenly.
fn crash_at_every_step_on_docker(case: impl Fn(&Api, &str) -> CrashCase<'static>) {
    let in_flight = crash_at_every_step_on(Vims::Docker, instantiated, case);
    assert!(in_flight >= 1, "crashes with an effect in flight: {in_flight}");
}

#[test]
fn on_docker_a_crash_at_any_step_of_scale_out_is_recovered() {
    crash_at_every_step_on_docker(scale_out_case);
}

#[test]
fn on_docker_a_crash_at_any_step_of_scale_in_is_recovered() {
    crash_at_every_step_on_docker(scale_in_case);
}

#[test]
fn on_docker_a_crash_at_any_step_of_termination_is_recovered() {
    crash_at_every_step_on_docker(terminate_case);
}

/// After a migration of VNF `profile` ended: as many instances of it as
/// before, the old one gone and a new one on the target VIM when it
/// completed, the old one still there otherwise.
fn migration_ended(instance: &Value, migration: &Value, completed: bool, profile: &str) {
    let instances: Vec<&Value> = instance["vnfInstance"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|vnf| vnf["vnfProfileId"] == profile)
        .collect();
    assert_eq!(instances.len(), 1, "{instance:#}");
    if completed {
        assert_ne!(instances[0]["id"], migration["vnfInstanceId"], "{instance:#}");
        assert_eq!(instances[0]["vimId"], migration["targetVimId"], "{instance:#}");
    } else {
        assert_eq!(instances[0]["id"], migration["vnfInstanceId"], "{instance:#}");
    }
}

/// A migration of VNF `profile` that fails by `on_failure`: ROLLBACK
/// ends ROLLED_BACK before the commit point (the NSR naming the new
/// instance) and COMPLETED after it; PAUSE waits in FAILED_TEMP (past the
/// commit point a rollback is refused), and its retry resumes to
/// COMPLETED.
fn migration_case(api: &Api, id: &str, profile: &'static str, on_failure: &str) -> CrashCase<'static> {
    let mut body = migration_of(api, id, profile);
    body["onFailure"] = json!(on_failure);
    let paused = on_failure == "PAUSE";
    CrashCase {
        task: "migrate",
        body,
        expected: if paused {
            &["FAILED_TEMP"]
        } else {
            &["ROLLED_BACK", "COMPLETED"]
        },
        commit_step: Some("update NSR"),
        ended: Some(Box::new(move |api, id, body, completed| {
            migration_ended(&instance(api, id), body, completed, profile)
        })),
    }
}

#[test]
fn a_crash_before_the_commit_point_of_migration_is_rolled_back_and_after_it_completed() {
    crash_at_every_step(instantiated, |api, id| migration_case(api, id, "db", "ROLLBACK"));
}

#[test]
fn a_paused_migration_interrupted_at_any_step_resumes_on_retry() {
    crash_at_every_step(instantiated, |api, id| migration_case(api, id, "db", "PAUSE"));
}

fn reconfiguration_case(_: &Api, _: &str) -> CrashCase<'static> {
    CrashCase {
        task: "reconfigure",
        body: json!({}),
        expected: &["ROLLED_BACK"],
        commit_step: None,
        ended: None,
    }
}

#[test]
fn a_crash_before_any_step_of_reconfiguration_is_rolled_back() {
    crash_at_every_step(instantiated, reconfiguration_case);
}

/// The bundled package with the hostile module beside the examples, its
/// NSD as `edit_nsd` makes it.
fn archive_with_hostile(dir: &std::path::Path, edit_nsd: impl Fn(String) -> String) -> Vec<u8> {
    let guests = support::guests();
    let mut modules = guests.examples().to_vec();
    modules.push(&guests.hostile);
    archive_with(
        dir,
        &modules,
        |name, text| if name == "nsd.yml" { edit_nsd(text) } else { text },
    )
}

/// A second package, of another service whose configure manager is the
/// hostile module, which it brings.
fn hostile_package(dir: &std::path::Path) -> Vec<u8> {
    archive_with_hostile(dir, |text| {
        text.replace("demo-web-service", "hostile-web-service")
            .replace("modules/sm_configure.wasm", "modules/sm_hostile.wasm")
    })
}

/// The hostile module's digest.
fn hostile_module() -> String {
    wasmano_host::sha256_hex(&std::fs::read(&support::guests().hostile).unwrap())
}

/// A service instantiated, with the hostile module onboarded beside it (by
/// a package of its own, once) for its configure manager to change to.
fn instantiated_beside_another_configure_module(api: &Api) -> String {
    let hostile = hostile_module();
    let modules = api.get("/wasmano/v1/modules").body;
    if !modules
        .as_array()
        .unwrap()
        .iter()
        .any(|module| module["sha256"] == hostile)
    {
        let dir = tempfile::tempdir().unwrap();
        let onboarded = api.onboard(&hostile_package(dir.path()));
        assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    }
    instantiated(api)
}

/// The configure manager changed to the hostile module: after a crash the
/// instance runs the module its operation's end says, the new one iff
/// COMPLETED.
fn manager_change_case(_: &Api, _: &str) -> CrashCase<'static> {
    CrashCase {
        task: "update",
        body: json!({"updateType": "CHANGE_MANAGER",
            "changeManagerData": {"managerId": "configure", "moduleSha256": hostile_module()}}),
        expected: &["ROLLED_BACK", "COMPLETED"],
        commit_step: None,
        ended: Some(Box::new(|api, id, _, completed| {
            let managers = api.get(&format!("/nslcm/v1/ns_instances/{id}/managers")).body;
            let configure = managers
                .as_array()
                .unwrap()
                .iter()
                .find(|manager| manager["managerId"] == "configure")
                .unwrap()
                .clone();
            assert_eq!(
                configure["moduleSha256"] == json!(hostile_module()),
                completed,
                "{configure:#}"
            );
        })),
    }
}

#[test]
fn a_crash_at_any_step_of_a_manager_change_leaves_the_module_its_operation_says() {
    crash_at_every_step(instantiated_beside_another_configure_module, manager_change_case);
}

#[test]
fn on_docker_a_crash_at_any_step_of_migration_is_recovered() {
    crash_at_every_step_on_docker(|api, id| migration_case(api, id, "web", "ROLLBACK"));
}

#[test]
fn on_docker_a_crash_at_any_step_of_a_paused_migration_is_recovered() {
    crash_at_every_step_on_docker(|api, id| migration_case(api, id, "web", "PAUSE"));
}

#[test]
fn on_docker_a_crash_at_any_step_of_reconfiguration_is_recovered() {
    crash_at_every_step_on_docker(reconfiguration_case);
}

#[test]
fn a_crash_before_any_step_of_scale_in_waits_for_a_retry() {
    crash_at_every_step(instantiated, scale_in_case);
}

#[test]
fn a_crash_before_any_step_of_termination_waits_for_a_retry() {
    crash_at_every_step(instantiated, terminate_case);
}

/// The bundled package reduced to its two container VNFs (web and cache),
/// which run the Docker tests' image.
fn container_archive(dir: &std::path::Path) -> Vec<u8> {
    bundled_archive(dir, |name, text| {
        match name {
        "nsd.yml" => text
            .replace(
                "  - vnf_id: \"db\"\n    vnf_vendor: \"eu.wasmano\"\n    vnf_name: \"db-vnf\"\n    vnf_version: \"1.0\"\n",
                "",
            )
            .replace("      - \"db:eth0\"\n", ""),
        "web-vnfd.yml" | "cache-vnfd.yml" => text
            .replace("wasmano/demo-web:1.0", support::TEST_IMAGE)
            .replace("wasmano/demo-cache:1.0", support::TEST_IMAGE),
        _ => text,
    }
    })
}

/// The containers the daemon has for a service, by its label.
fn containers_of(service: &str) -> Vec<String> {
    labelled_with_service(&["ps", "-a"], service)
}

/// The ids of the Docker networks labelled with the service.
fn networks_of(service: &str) -> Vec<String> {
    labelled_with_service(&["network", "ls"], service)
}

/// The ids a `docker` listing command (`ps -a`, `network ls`) gives for
/// what is labelled with the service.
fn labelled_with_service(listing: &[&str], service: &str) -> Vec<String> {
    let listed = Command::new("docker")
        .args(listing)
        .args(["-q", "--filter", &format!("label=wasmano.service={service}")])
        .output()
        .unwrap_or_else(|error| panic!("cannot run the docker CLI ({error}); {}", support::DOCKER_HOW_TO_START));
    assert!(listed.status.success(), "{}", support::DOCKER_HOW_TO_START);
    String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn on_docker_a_crash_before_any_step_leaves_no_container_the_records_do_not_know() {
    support::ensure_test_image();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let docker = ["--docker"];
    let server = Server::start_with(&data_dir, &[], &docker);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let api = server.client(&token);
    let onboarded = api.onboard(&container_archive(data.path()));
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    let counted = create_instance(&api, "count");
    let operation = api.run_task(&task(&counted, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    assert_eq!(containers_of(&counted).len(), 2, "two containers run");
    let steps = api
        .get(&format!(
            "/nslcm/v1/ns_lcm_op_occs/{}/timeline",
            operation["id"].as_str().unwrap()
        ))
        .body["steps"]
        .as_array()
        .unwrap()
        .len();
    let terminated = api.run_task(&task(&counted, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert!(containers_of(&counted).is_empty());
    server.stop();

    for step in 1..=steps {
        let server = Server::start_with(&data_dir, &[], &docker);
        let id = create_instance(&server.client(&token), "crash");
        server.stop();
        let crashing = Server::start_with(&data_dir, &[("WASMANO_CRASH_AT_STEP", &step.to_string())], &docker);
        let _ = crashing.client(&token).try_post(&task(&id, "instantiate"), &json!({}));
        assert!(crashing.wait_for_crash(Duration::from_secs(60)), "step {step}: aborted");

        let server = Server::start_with(&data_dir, &[], &docker);
        let api = server.client(&token);
        let history = api.get(&format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}")).body;
        let operation = history.as_array().unwrap().last().unwrap().clone();
        assert_eq!(operation["operationState"], "ROLLED_BACK", "step {step}: {operation:#}");
        assert_eq!(
            containers_of(&id),
            Vec::<String>::new(),
            "step {step}: the restart removed every container of the interrupted instantiation"
        );
        assert_eq!(
            networks_of(&id),
            Vec::<String>::new(),
            "step {step}: the restart removed the interrupted instantiation's network"
        );
        let retried = api.run_task(&task(&id, "instantiate"), &json!({}));
        assert_eq!(retried["operationState"], "COMPLETED", "step {step}: {retried:#}");
        assert_eq!(containers_of(&id).len(), 2, "step {step}: it instantiates again");
        let terminated = api.run_task(&task(&id, "terminate"), &json!({}));
        assert_eq!(terminated["operationState"], "COMPLETED", "step {step}: {terminated:#}");
        assert!(containers_of(&id).is_empty(), "step {step}");
        assert_eq!(api.delete(&format!("/nslcm/v1/ns_instances/{id}")).status, 204);
        server.stop();
    }
    eprintln!(
        "crash matrix | Docker | instantiate (onFailure ROLLBACK) | {steps} crash points | recovered to ROLLED_BACK each time, then instantiated again, terminated and deleted"
    );
}

#[test]
fn two_servers_on_one_docker_daemon_leave_each_others_containers_alone() {
    support::ensure_test_image();
    let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let data_dir = mine.path().join("data");
    let server = Server::start_with(&data_dir, &[], &["--docker"]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let api = server.client(&token);
    assert_eq!(api.onboard(&container_archive(mine.path())).status, 201);
    let id = create_instance(&api, "shared-daemon");
    let operation = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    assert_eq!(containers_of(&id).len(), 2);
    // Another orchestrator starting on the daemon reconciles only its own.
    Server::start_with(&theirs.path().join("data"), &[], &["--docker"]).stop();
    assert_eq!(
        containers_of(&id).len(),
        2,
        "another server removed this one's containers"
    );
    // This one, restarted, still knows and adopts them.
    server.stop();
    let server = Server::start_with(&data_dir, &[], &["--docker"]);
    let api = server.client(&token);
    assert_eq!(containers_of(&id).len(), 2);
    let terminated = api.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert!(containers_of(&id).is_empty());
}

#[test]
fn a_kill_during_a_burst_of_operations_is_recovered() {
    let setup = setup();
    let token = setup.operator.token_secret();
    let empty = setup.operator.free_capacity();
    // The default VIMs hold three of these services at once.
    let ids: Vec<String> = (0..3)
        .map(|n| create_instance(&setup.operator, &format!("burst{n}")))
        .collect();
    for id in &ids {
        let started = setup.operator.post(&task(id, "instantiate"), &json!({}));
        assert_eq!(started.status, 202);
    }
    drop(setup.server); // SIGKILL, whatever is running
    let server = Server::start(&setup.data_dir, &[]);
    let api = server.client(&token);
    for id in &ids {
        let operation = api.get(&format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}")).body[0].clone();
        let state = operation["operationState"].as_str().unwrap();
        let instantiated = instance(&api, id)["nsState"] == "INSTANTIATED";
        match state {
            "COMPLETED" => assert!(instantiated, "{operation:#}"),
            "ROLLED_BACK" => assert!(!instantiated, "{operation:#}"),
            other => panic!("no operation stays {other} after a restart: {operation:#}"),
        }
        if instantiated {
            let terminated = api.run_task(&task(id, "terminate"), &json!({}));
            assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
        }
    }
    assert_eq!(api.free_capacity(), empty, "nothing leaked");
}

#[test]
fn lists_come_in_pages_and_the_cli_drives_the_service_end_to_end() {
    let setup = setup();
    let api = &setup.operator;
    for n in 0..101 {
        create_instance(api, &format!("page{n}"));
    }
    let first = api.get("/nslcm/v1/ns_instances");
    assert_eq!(first.body.as_array().unwrap().len(), 100);
    // Deleting what the first page showed moves nothing to another page.
    for shown in &first.body.as_array().unwrap()[..3] {
        let deleted = api.delete(&format!("/nslcm/v1/ns_instances/{}", shown["id"].as_str().unwrap()));
        assert_eq!(deleted.status, 204, "{deleted:#?}");
    }
    let link = first.link.clone().expect("a next page");
    let next = link
        .strip_prefix('<')
        .and_then(|rest| rest.split_once(">; rel=\"next\""))
        .map(|(target, _)| target.to_owned())
        .unwrap();
    let second = api.get(&next);
    assert_eq!(second.body.as_array().unwrap().len(), 1);
    assert_eq!(second.body[0]["nsInstanceName"], "page100");
    assert_eq!(second.link, None, "the last page links nowhere");
    for n in 101..104 {
        create_instance(api, &format!("page{n}"));
    }
    api.get("/nslcm/v1/ns_instances?nextpage_opaque_marker=bm90LWEtbWFya2Vy")
        .assert_problem(400, "validation");

    // SOL013 filters, on instances and operation occurrences.
    let count = |path: &str| {
        let answer = api.get(path);
        assert_eq!(answer.status, 200, "{path}: {answer:#?}");
        answer.body.as_array().unwrap().len()
    };
    assert_eq!(count("/nslcm/v1/ns_instances?filter=(eq,nsInstanceName,page7)"), 1);
    assert_eq!(
        count("/nslcm/v1/ns_instances?filter=(in,nsInstanceName,page7,page8,nowhere)"),
        2
    );
    assert_eq!(
        count("/nslcm/v1/ns_instances?filter=(neq,nsInstanceName,page7);(eq,nsState,NOT_INSTANTIATED)"),
        100
    );
    assert_eq!(count("/nslcm/v1/ns_instances?filter=(eq,nsState,INSTANTIATED)"), 0);
    assert_eq!(
        count("/nslcm/v1/ns_lcm_op_occs?filter=(nin,operationState,COMPLETED,FAILED)"),
        0
    );
    for bad in ["(eq,projectId,x)", "(gt,nsState,1)", "eq,nsState,A", "(eq,nsState)"] {
        api.get(&format!("/nslcm/v1/ns_instances?filter={bad}"))
            .assert_problem(400, "validation");
    }
    api.get("/nslcm/v1/ns_lcm_op_occs?filter=(eq,nsState,INSTANTIATED)")
        .assert_problem(400, "validation");

    let token_file = setup.data_dir.with_extension("operator-token");
    std::fs::write(&token_file, api.token_secret()).unwrap();
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
            .args(args)
            .args(["--server", &setup.server.base])
            .arg("--token-file")
            .arg(&token_file)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, listed, _) = cli(&["ns", "list", "--json"]);
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 101, "the CLI follows every page");

    // Or from the client configuration file, its token file beside it.
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&token_file, config_dir.path().join("operator.token")).unwrap();
    let config = config_dir.path().join("client.yml");
    let configured = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
            .args(["ns", "list", "--json"])
            .env("WASMANO_CONFIG", &config)
            .env_remove("WASMANO_SERVER")
            .env_remove("WASMANO_TOKEN")
            .env_remove("WASMANO_TOKEN_FILE")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = configured(&format!("server: {}\ntoken_file: operator.token\n", setup.server.base));
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = configured("sever: http://127.0.0.1:1\n");
    assert_eq!(code, Some(78), "an unknown key: {stderr}");
    assert!(stderr.contains("sever") && stderr.contains("client.yml"), "{stderr}");
    let missing = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["ns", "list"])
        .env("WASMANO_CONFIG", config_dir.path().join("missing.yml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(66), "a named file that is missing");

    let (code, created, stderr) = cli(&["ns", "create", "--nsd", NSD, "--name", "cli", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, table, stderr) = cli(&["ns", "instantiate", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(table.contains("INSTANTIATE") && table.contains("COMPLETED"), "{table}");
    let (code, shown, _) = cli(&["ns", "show", &id]);
    assert_eq!(code, Some(0));
    assert!(shown.contains("INSTANTIATED") && shown.contains("web"), "{shown}");
    let (code, operations, _) = cli(&["op", "list", "--ns", &id, "--json"]);
    assert_eq!(code, Some(0));
    let operation = serde_json::from_str::<Value>(&operations).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, timeline, _) = cli(&["op", "timeline", &operation]);
    assert_eq!(code, Some(0));
    assert!(timeline.contains("hook placement on placement"), "{timeline}");
    let (code, managers, _) = cli(&["ns", "managers", &id, "--json"]);
    assert_eq!(code, Some(0));
    let managers: Value = serde_json::from_str(&managers).unwrap();
    let configure = managers
        .as_array()
        .unwrap()
        .iter()
        .find(|manager| manager["managerId"] == "configure")
        .unwrap();
    assert_eq!(configure["source"], "wasm");
    let sha = configure["moduleSha256"].as_str().unwrap();
    let (code, table, stderr) = cli(&["ns", "change-manager", &id, "--manager", "configure", "--module", sha]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(table.contains("UPDATE") && table.contains("COMPLETED"), "{table}");
    let (code, _, stderr) = cli(&[
        "ns",
        "change-manager",
        &id,
        "--manager",
        "configure",
        "--module",
        sha,
        "--image",
        "x",
    ]);
    assert_eq!(code, Some(64), "--module or --image, not both: {stderr}");
    let (code, _, stderr) = cli(&["ns", "change-manager", &id, "--manager", "configure"]);
    assert_eq!(code, Some(65), "no update declared: {stderr}");
    assert!(stderr.contains("declares no update of manager configure"), "{stderr}");
    let (code, reconfigured, stderr) = cli(&["ns", "reconfigure", &id, "--on-failure", "pause", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let reconfigured: Value = serde_json::from_str(&reconfigured).unwrap();
    assert_eq!(
        reconfigured["operationParams"]["onFailure"], "PAUSE",
        "{reconfigured:#}"
    );
    assert_eq!(
        cli(&["ns", "terminate", &id, "--on-failure", "pause"]).0,
        Some(64),
        "a termination has no failure policy to choose"
    );
    assert_eq!(
        cli(&["ns", "instantiate", &id]).0,
        Some(75),
        "409: already instantiated"
    );
    assert_eq!(cli(&["ns", "show", "no-such-instance"]).0, Some(66), "404");
    let (code, _, stderr) = cli(&["ns", "terminate", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(cli(&["ns", "delete", &id]).0, Some(0));

    std::fs::write(&token_file, "wmn_not-a-token-anyone-issued-aaaaaaaaaaaaaaaa").unwrap();
    assert_eq!(cli(&["ns", "list"]).0, Some(77), "401");
    let unreachable = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["ns", "list", "--server", "http://127.0.0.1:1", "--token", "x"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(69), "no server");
}

#[test]
fn wasmano_watch_prints_the_live_timeline() {
    use std::io::BufRead;

    let setup = setup();
    let api = &setup.operator;
    let id = create_instance(api, "watched");
    let token_file = setup.data_dir.with_extension("watch-token");
    std::fs::write(&token_file, api.token_secret()).unwrap();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["watch", "--ns", &id, "--server", &setup.server.base])
        .arg("--token-file")
        .arg(&token_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    // The stream is live once it is open: start the task after a moment.
    std::thread::sleep(Duration::from_millis(300));
    let operation = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED");
    let mut seen = Vec::new();
    while !seen.iter().any(|line: &String| line.contains("INSTANTIATE COMPLETED")) {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("watch printed no completion: {seen:#?}"));
        seen.push(line);
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        seen.iter().any(|line| line.contains("INSTANTIATE PROCESSING")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|line| line.contains("ssm placement") && line.contains("hook placement on placement")),
        "{seen:#?}"
    );
}

/// The package whose placement manager loops until its deadline of
/// `deadline_ms`, with the example modules and the hostile one.
fn looping_placement_archive(dir: &std::path::Path, deadline_ms: u32) -> Vec<u8> {
    archive_with_hostile(dir, |text| {
        text.replace(
            "      module: \"modules/sm_placement.wasm\"\n    options:\n      - key: \"type\"\n        value: \"placement\"",
            &format!(
                "      module: \"modules/sm_hostile.wasm\"\n      limits:\n        deadline_ms: {deadline_ms}\n    options:\n      - key: \"type\"\n        value: \"placement\"\n      - key: \"behaviour\"\n        value: \"loop\""
            ),
        )
    })
}

#[test]
fn the_cli_waits_for_an_operation_woken_by_the_event_stream() {
    // An instantiation of at least 1.5 s: its placement manager loops to
    // its deadline, then the run rolls back.
    let setup = setup_with(|dir| looping_placement_archive(dir, 1500));
    let api = &setup.operator;
    let id = create_instance(api, "slow");
    let token_file = setup.data_dir.with_extension("operator-token");
    std::fs::write(&token_file, api.token_secret()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["ns", "instantiate", &id, "--server", &setup.server.base])
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(5),
        "ended ROLLED_BACK, not COMPLETED: {stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("ROLLED_BACK"));
    // Its progress: the states it entered and the steps its run journaled.
    for shown in [
        "PROCESSING",
        "ssm placement",
        "hook placement on placement",
        "ROLLED_BACK",
    ] {
        assert!(stderr.contains(shown), "{shown}: {stderr}");
    }
    // It read the operation when the stream said it ended: once to start,
    // once when the stream opened, once at the end. Polling every 100 ms
    // would have read it fifteen times or more.
    let scrape = setup.server.admin().get("/metrics").text;
    let series = "wasmano_http_requests_total{method=\"GET\",route=\"/nslcm/v1/ns_lcm_op_occs/{id}\",status=\"200\"} ";
    let reads: u32 = scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.parse().ok())
        .unwrap_or_else(|| panic!("no reads of the operation counted: {scrape}"));
    assert_eq!(reads, 3, "the CLI read the operation {reads} times");
}

#[test]
fn an_instantiation_can_ask_for_its_own_placement_and_keeps_it_after_a_restart() {
    let setup = setup();
    let api = &setup.operator;
    let token = api.token_secret();
    let id = create_instance(api, "placed");
    let avoid = |vim: &str| json!({"additionalParamsForNs": {"placement": {"blacklist": [vim]}}});
    api.post(&task(&id, "instantiate"), &avoid("no-such-vim"))
        .assert_problem(422, "unprocessable");
    api.post(
        &task(&id, "instantiate"),
        &json!({"additionalParamsForNs": {"placement": {"fixedMappings": {"nope": "edge-us-west"}}}}),
    )
    .assert_problem(422, "unprocessable");
    api.post(
        &task(&id, "instantiate"),
        &json!({"additionalParamsForNs": {"placement": {"strategy": "SOMETIMES"}}}),
    )
    .assert_problem(400, "validation");
    let operation = api.run_task(&task(&id, "instantiate"), &avoid("edge-eu-west"));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    let placed_nowhere_blacklisted = |api: &Api| {
        let placed = instance(api, &id);
        for vnf in placed["vnfInstance"].as_array().unwrap() {
            assert_ne!(vnf["vimId"], "edge-eu-west", "{placed:#}");
        }
    };
    placed_nowhere_blacklisted(api);
    setup.server.stop();

    // After a restart, the service still places as its instantiation asked:
    // another cache (4 GB) fits only on the blacklisted edge-eu-west, so the
    // scale-out finds no VIM instead of using it.
    let server = Server::start(&setup.data_dir, &[]);
    let api = server.client(&token);
    let scaled = api.run_task(
        &task(&id, "scale"),
        &json!({"scaleType": "SCALE_NS", "scaleNsData": {"vnfInstanceToBeAdded": [{"vnfProfileId": "cache"}]}}),
    );
    assert_eq!(scaled["operationState"], "ROLLED_BACK", "{scaled:#}");
    assert!(
        scaled["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("none has them free"),
        "{scaled:#}"
    );
    assert_eq!(instance(&api, &id)["vnfInstance"].as_array().unwrap().len(), 3);
    placed_nowhere_blacklisted(&api);
    // Another instance, instantiated without a request of its own, may use it.
    let other = create_instance(&api, "unrestricted");
    let operation = api.run_task(&task(&other, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    assert!(
        instance(&api, &other)["vnfInstance"]
            .as_array()
            .unwrap()
            .iter()
            .any(|vnf| vnf["vimId"] == "edge-eu-west")
    );
}

/// The bundled package whose configure manager answers an error: an
/// instantiation fails after every VNF is deployed and started.
fn failing_configure_archive(dir: &std::path::Path) -> Vec<u8> {
    archive_with_hostile(dir, |text| {
        text.replace("modules/sm_configure.wasm", "modules/sm_hostile.wasm")
            .replace(
                "        value: \"configure\"\n",
                "        value: \"configure\"\n      - key: \"behaviour\"\n        value: \"error\"\n",
            )
    })
}

#[test]
fn an_operation_that_pauses_on_failure_waits_for_retry_rollback_or_fail() {
    let setup = setup_with(failing_configure_archive);
    let api = &setup.operator;
    let empty = api.free_capacity();
    let op = |operation: &Value, action: &str| {
        format!(
            "/nslcm/v1/ns_lcm_op_occs/{}/{action}",
            operation["id"].as_str().unwrap()
        )
    };

    // By default the failure is undone.
    let id = create_instance(api, "paused");
    let undone = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(undone["operationState"], "ROLLED_BACK", "{undone:#}");
    assert_eq!(api.free_capacity(), empty);

    // With PAUSE it stops in FAILED_TEMP, everything deployed kept.
    let paused = api.run_task(&task(&id, "instantiate"), &json!({"onFailure": "PAUSE"}));
    assert_eq!(paused["operationState"], "FAILED_TEMP", "{paused:#}");
    assert_eq!(paused["error"]["step"], "ssm configure");
    assert_eq!(paused["error"]["cause"], "answered");
    let kept = api.free_capacity();
    assert_ne!(kept, empty, "the VNFs stay deployed");
    assert_eq!(instance(api, &id)["vnfInstance"].as_array().unwrap().len(), 3);
    api.post(&task(&id, "terminate"), &json!({}))
        .assert_problem(409, "operation-in-progress");

    // A retry resumes from what the failed attempt kept: the same VNF
    // instances, nothing deployed again, the same failure.
    let vnf_ids = |api: &Api| -> Vec<String> {
        let mut ids: Vec<String> = instance(api, &id)["vnfInstance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|vnf| vnf["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let deploys = |api: &Api| {
        let timeline = api.get(&op(&paused, "timeline"));
        let steps = timeline.body["steps"].as_array().unwrap().clone();
        steps
            .iter()
            .filter(|step| step["step"].as_str().unwrap().starts_with("deploy "))
            .count()
    };
    let (deployed, deployed_steps) = (vnf_ids(api), deploys(api));
    assert!(deployed_steps > 0);
    let retried = api.post(&op(&paused, "retry"), &json!({}));
    assert_eq!(retried.status, 202, "{retried:#?}");
    let again = api.wait(retried.location.as_deref().unwrap());
    assert_eq!(again["operationState"], "FAILED_TEMP", "{again:#}");
    assert_eq!(again["error"]["step"], "ssm configure");
    assert_eq!(api.free_capacity(), kept, "no more capacity taken");
    assert_eq!(vnf_ids(api), deployed, "the kept VNF instances carried on");
    assert_eq!(deploys(api), deployed_steps, "only the first attempt deployed");

    // A rollback removes it all and keeps the failure's error.
    let rolling = api.post(&op(&again, "rollback"), &json!({}));
    assert_eq!(rolling.status, 202, "{rolling:#?}");
    let rolled = api.wait(rolling.location.as_deref().unwrap());
    assert_eq!(rolled["operationState"], "ROLLED_BACK", "{rolled:#}");
    assert_eq!(rolled["error"]["step"], "ssm configure");
    assert_eq!(api.free_capacity(), empty);
    assert_eq!(instance(api, &id)["nsState"], "NOT_INSTANTIATED");
    api.post(&op(&rolled, "rollback"), &json!({}))
        .assert_problem(409, "state-conflict");

    // Fail gives up: what is deployed stays recorded, and terminate removes it.
    let paused = api.run_task(&task(&id, "instantiate"), &json!({"onFailure": "PAUSE"}));
    assert_eq!(paused["operationState"], "FAILED_TEMP", "{paused:#}");
    let failed = api.post(&op(&paused, "fail"), &json!({}));
    assert_eq!(
        (failed.status, failed.body["operationState"].as_str()),
        (200, Some("FAILED"))
    );
    assert_eq!(instance(api, &id)["nsState"], "INSTANTIATED");
    let terminated = api.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert_eq!(api.free_capacity(), empty);

    // Interrupted while pausing on failure: after a restart it waits in
    // FAILED_TEMP with what its records hold, and rolls back clean. (On
    // emulated VIMs, whose units die with the process, that is nothing: the
    // VNF records an instantiation writes go with its settling write.)
    let token = api.token_secret();
    setup.server.stop();
    let crashing = Server::start(&setup.data_dir, &[("WASMANO_CRASH_AT_STEP", "10")]);
    let _ = crashing
        .client(&token)
        .try_post(&task(&id, "instantiate"), &json!({"onFailure": "PAUSE"}));
    assert!(crashing.wait_for_crash(Duration::from_secs(60)));
    let server = Server::start(&setup.data_dir, &[]);
    let api = server.client(&token);
    let history = api.get(&format!("/nslcm/v1/ns_lcm_op_occs?nsInstanceId={id}")).body;
    let interrupted = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(interrupted["operationState"], "FAILED_TEMP", "{interrupted:#}");
    assert_eq!(interrupted["error"]["cause"], "interrupted");
    assert_eq!(api.free_capacity(), empty, "nothing recorded holds capacity");
    assert_eq!(instance(&api, &id)["nsState"], "NOT_INSTANTIATED");
    let rolling = api.post(&op(&interrupted, "rollback"), &json!({}));
    assert_eq!(rolling.status, 202, "{rolling:#?}");
    assert_eq!(
        api.wait(rolling.location.as_deref().unwrap())["operationState"],
        "ROLLED_BACK"
    );
    assert_eq!(api.free_capacity(), empty);
}

#[test]
fn on_docker_a_cancelled_operation_stops_at_the_next_step_and_can_be_rolled_back() {
    support::ensure_test_image();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let server = Server::start_with(&data_dir, &[], &["--docker"]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let api = server.client(&token);
    assert_eq!(api.onboard(&container_archive(data.path())).status, 201);
    let id = create_instance(&api, "cancelled");
    let started = api.post(&task(&id, "instantiate"), &json!({}));
    assert_eq!(started.status, 202);
    let location = started.location.unwrap();
    // Cancel once both VNFs' containers run (the first one is recorded by
    // then): in the middle of the instantiation.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while containers_of(&id).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no container was started");
        std::thread::sleep(Duration::from_millis(20));
    }
    api.post(&format!("{location}/cancel"), &json!({"cancelMode": "SOMEHOW"}))
        .assert_problem(400, "validation");
    let cancelling = api.post(&format!("{location}/cancel"), &json!({"cancelMode": "GRACEFUL"}));
    assert_eq!(
        cancelling.status, 202,
        "the instantiation (containers) is still running: {cancelling:#?}"
    );
    let cancelled = api.wait(&location);
    assert_eq!(cancelled["operationState"], "FAILED_TEMP", "{cancelled:#}");
    assert_eq!(cancelled["error"]["cause"], "cancelled");
    assert_eq!(cancelled["isCancelPending"], false);
    assert_eq!(cancelled["cancelMode"], "GRACEFUL");
    assert!(!containers_of(&id).is_empty(), "a cancel keeps what the operation did");
    let rolling = api.post(&format!("{location}/rollback"), &json!({}));
    assert_eq!(rolling.status, 202);
    let rolled = api.wait(&location);
    assert_eq!(rolled["operationState"], "ROLLED_BACK", "{rolled:#}");
    assert!(containers_of(&id).is_empty(), "the rollback removed its containers");
    api.post(&format!("{location}/cancel"), &json!({"cancelMode": "GRACEFUL"}))
        .assert_problem(409, "state-conflict");
}

#[test]
fn a_forceful_cancel_interrupts_a_running_hook() {
    // The placement manager loops until its deadline, the longest the host
    // allows: a graceful cancel would wait for it and end in a timeout fault.
    let setup = setup_with(|dir| looping_placement_archive(dir, 10_000));
    let api = &setup.operator;
    let id = create_instance(api, "looping");
    let started = api.post(&task(&id, "instantiate"), &json!({}));
    assert_eq!(started.status, 202, "{started:#?}");
    let location = started.location.unwrap();
    // Placement is the first hook; give the run time to reach it.
    std::thread::sleep(Duration::from_millis(300));
    let cancelling = api.post(&format!("{location}/cancel"), &json!({"cancelMode": "FORCEFUL"}));
    assert_eq!(cancelling.status, 202, "{cancelling:#?}");
    let cancelled = api.wait(&location);
    assert_eq!(cancelled["operationState"], "FAILED_TEMP", "{cancelled:#}");
    assert_eq!(cancelled["cancelMode"], "FORCEFUL");
    assert_eq!(cancelled["error"]["cause"], "cancelled", "{cancelled:#}");
    assert_eq!(cancelled["error"]["step"], "ssm placement", "{cancelled:#}");
    assert!(
        cancelled["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("interrupted by the orchestrator"),
        "the hook was interrupted, not run to its deadline: {cancelled:#}"
    );
    let rolling = api.post(&format!("{location}/rollback"), &json!({}));
    assert_eq!(rolling.status, 202);
    assert_eq!(api.wait(&location)["operationState"], "ROLLED_BACK");
}

#[test]
fn modules_and_managers_say_what_runs() {
    let setup = setup();
    let api = &setup.operator;
    let modules = api.get("/wasmano/v1/modules");
    assert_eq!(modules.status, 200, "{modules:#?}");
    let modules = modules.body.as_array().unwrap().clone();
    assert_eq!(modules.len(), 4, "{modules:#?}");
    let placement = modules
        .iter()
        .find(|module| module["events"] == json!(["placement"]))
        .expect("the placement manager's module");
    assert_eq!(placement["kind"], "service");
    assert_eq!(placement["contract"], "wasmano:sm@2.0.0");
    assert!(placement["sizeBytes"].as_u64().unwrap() > 0);
    let fsm = modules.iter().find(|module| module["kind"] == "function").unwrap();
    assert_eq!(fsm["events"], json!(["start", "stop", "configure", "state"]));

    let id = create_instance(api, "managed");
    let managers = api.get(&format!("/nslcm/v1/ns_instances/{id}/managers"));
    assert_eq!(managers.status, 200, "{managers:#?}");
    let managers = managers.body.as_array().unwrap().clone();
    let ssm = managers.iter().find(|manager| manager["managerId"] == "state").unwrap();
    assert_eq!(ssm["scope"], "service");
    assert_eq!(ssm["source"], "wasm");
    assert_eq!(ssm["limits"]["deadline_ms"], 200);
    assert_eq!(ssm["events"], json!(["state"]));
    assert!(ssm["moduleSha256"].as_str().is_some_and(|sha| sha.len() == 64));
    let fsms: Vec<&Value> = managers
        .iter()
        .filter(|manager| manager["scope"] == "function")
        .collect();
    assert_eq!(fsms.len(), 3, "one FSM per VNF: {managers:#?}");
    assert!(fsms.iter().any(|fsm| fsm["vnfProfileId"] == "db"));
}

#[test]
fn change_manager_runs_another_module_and_keeps_it_across_a_restart() {
    let setup = setup();
    let api = &setup.operator;
    let token = api.token_secret();
    let data = tempfile::tempdir().unwrap();
    assert_eq!(api.onboard(&hostile_package(data.path())).status, 201);
    let module = |events: Value| {
        api.get("/wasmano/v1/modules")
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|module| module["events"] == events)
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let configure = module(json!(["configure"]));
    let placement = module(json!(["placement"]));
    let hostile = hostile_module();

    let id = create_instance(api, "updated");
    assert_eq!(
        api.run_task(&task(&id, "instantiate"), &json!({}))["operationState"],
        "COMPLETED"
    );
    let change = |sha: &str| json!({"updateType": "CHANGE_MANAGER", "changeManagerData": {"managerId": "configure", "moduleSha256": sha}});
    api.post(&task(&id, "update"), &change(&placement))
        .assert_problem(422, "unprocessable");
    api.post(&task(&id, "update"), &change(&"0".repeat(64)))
        .assert_problem(422, "unprocessable");
    api.post(&task(&id, "update"), &json!({"updateType": "CHANGE_VNFPKG"}))
        .assert_problem(400, "validation");
    let both = json!({"managerId": "configure", "moduleSha256": configure, "image": "wasmano/legacy-tango-ssm:1"});
    api.post(
        &task(&id, "update"),
        &json!({"updateType": "CHANGE_MANAGER", "changeManagerData": both}),
    )
    .assert_problem(400, "validation");
    // Neither: the update the descriptor declares, and this one declares none.
    api.post(
        &task(&id, "update"),
        &json!({"updateType": "CHANGE_MANAGER", "changeManagerData": {"managerId": "configure"}}),
    )
    .assert_problem(422, "unprocessable");
    // A legacy image that cannot start: the module that ran before runs on.
    let to_image = json!({"updateType": "CHANGE_MANAGER",
        "changeManagerData": {"managerId": "configure", "image": "wasmano/no-such-manager:0"}});
    let refused = api.run_task(&task(&id, "update"), &to_image);
    assert_eq!(refused["operationState"], "ROLLED_BACK", "{refused:#}");
    let detail = refused["error"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("did not take over") && detail.contains("wasmano/no-such-manager:0"),
        "{detail}"
    );
    let same = api.run_task(&task(&id, "update"), &change(&configure));
    assert_eq!(
        same["operationState"], "COMPLETED",
        "the current module re-verifies: {same:#}"
    );
    assert_eq!(same["lcmOperationType"], "UPDATE");

    assert_eq!(
        api.run_task(&task(&id, "reconfigure"), &json!({}))["operationState"],
        "COMPLETED",
        "the configure module still answers"
    );

    let changed = api.run_task(&task(&id, "update"), &change(&hostile));
    assert_eq!(changed["operationState"], "COMPLETED", "{changed:#}");
    let runs = |api: &Api| {
        api.get(&format!("/nslcm/v1/ns_instances/{id}/managers"))
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|manager| manager["managerId"] == "configure")
            .unwrap()["moduleSha256"]
            .clone()
    };
    assert_eq!(runs(api), json!(hostile));
    // The hostile module answers an error without a behaviour option.
    let reconfigured = api.run_task(&task(&id, "reconfigure"), &json!({}));
    assert_eq!(reconfigured["operationState"], "ROLLED_BACK", "{reconfigured:#}");
    assert_eq!(reconfigured["error"]["manager"], "configure");

    // After a restart the instance still runs the module it was changed to.
    setup.server.stop();
    let server = Server::start(&setup.data_dir, &[]);
    let api = server.client(&token);
    assert_eq!(runs(&api), json!(hostile));
    let back = api.run_task(&task(&id, "update"), &change(&configure));
    assert_eq!(back["operationState"], "COMPLETED", "{back:#}");
    assert_eq!(
        api.run_task(&task(&id, "reconfigure"), &json!({}))["operationState"],
        "COMPLETED"
    );
}

#[test]
fn change_manager_applies_the_update_a_descriptor_declares() {
    // 5GTANGO's update directive: the configure manager's id again, with
    // currentId, running the hostile module.
    let setup = setup_with(|dir| {
        archive_with_hostile(dir, |text| {
            // After the entry it updates.
            text.replace(
                "  - id: \"state\"\n",
                "  - id: \"configure\"\n    wasm:\n      module: \"modules/sm_hostile.wasm\"\n    options:\n      - key: \"type\"\n        value: \"configure\"\n      - key: \"currentId\"\n        value: \"configure\"\n  - id: \"state\"\n",
            )
        })
    });
    let api = &setup.operator;
    let id = create_instance(api, "updated-by-its-descriptor");
    let instantiated = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED", "{instantiated:#}");
    let runs = |manager: &str| {
        api.get(&format!("/nslcm/v1/ns_instances/{id}/managers"))
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["managerId"] == manager)
            .unwrap()["moduleSha256"]
            .clone()
    };
    let hostile = hostile_module();
    assert_ne!(runs("configure"), json!(hostile), "the update is not applied by itself");

    let declared = json!({"updateType": "CHANGE_MANAGER", "changeManagerData": {"managerId": "configure"}});
    let updated = api.run_task(&task(&id, "update"), &declared);
    assert_eq!(updated["operationState"], "COMPLETED", "{updated:#}");
    assert_eq!(runs("configure"), json!(hostile));
    // The hostile module answers an error without a behaviour option.
    let reconfigured = api.run_task(&task(&id, "reconfigure"), &json!({}));
    assert_eq!(reconfigured["operationState"], "ROLLED_BACK", "{reconfigured:#}");
    assert_eq!(reconfigured["error"]["manager"], "configure");
    // A manager whose descriptor declares no update.
    let undeclared = json!({"updateType": "CHANGE_MANAGER", "changeManagerData": {"managerId": "placement"}});
    api.post(&task(&id, "update"), &undeclared)
        .assert_problem(422, "unprocessable");
}

#[test]
fn a_second_server_on_a_data_directory_in_use_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let first = Server::start(&data_dir, &[]);
    let second = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("in use by another wasmano server") && stderr.contains(&*data_dir.to_string_lossy()),
        "{stderr}"
    );
    // The first serves on; once it stops, the directory is free.
    assert_eq!(first.admin().get("/admin/v1/projects").status, 200);
    first.stop();
    let again = Server::start(&data_dir, &[]);
    assert_eq!(again.admin().get("/admin/v1/projects").status, 200);
}

#[test]
fn a_bootstrap_token_written_to_its_file_is_not_printed() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("data"))
        .arg("--bootstrap-token-file")
        .arg(data.path().join("admin.token"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let serving = line.starts_with("wasmano serving");
        printed.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let secret = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
    assert!(!secret.trim().is_empty());
    assert!(printed.iter().all(|line| !line.contains(secret.trim())), "{printed:#?}");
    assert!(printed.iter().any(|line| line.contains("written to")), "{printed:#?}");
}

#[test]
fn monitoring_data_starts_the_scale_out_the_monitor_manager_asks_for() {
    // The example task manager, declared for monitor: an alert above its
    // threshold asks for one more instance of the VNF it names.
    let setup = setup_with(|dir| {
        let guests = support::guests();
        let mut modules = guests.examples().to_vec();
        modules.push(&guests.task);
        archive_with(dir, &modules, |name, text| {
            if name != "nsd.yml" {
                return text;
            }
            text.replace(
                "service_specific_managers:\n",
                "service_specific_managers:\n  - id: \"monitor\"\n    wasm:\n      module: \"modules/sm_task.wasm\"\n    options:\n      - key: \"type\"\n        value: \"monitor\"\n",
            )
        })
    });
    let api = &setup.operator;
    let id = create_instance(api, "monitored");
    let monitoring = format!("/nslcm/v1/ns_instances/{id}/monitoring");
    let alert =
        |value: f64| json!({"service_instance_id": id, "alert": {"name": "cpu_high", "vnf_id": "web", "value": value}});
    api.post(&monitoring, &alert(95.0))
        .assert_problem(409, "state-conflict");
    let instantiated = api.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED");
    let vnfs_before = api.get(&format!("/nslcm/v1/ns_instances/{id}")).body["vnfInstance"]
        .as_array()
        .unwrap()
        .len();

    let calm = api.post(&monitoring, &alert(10.0));
    assert_eq!(calm.status, 200, "{calm:#?}");
    assert_eq!(
        calm.body,
        json!({"workflows": [], "nsLcmOpOccId": null, "deferred": []})
    );

    let hot = api.post(&monitoring, &alert(95.0));
    assert_eq!(hot.status, 200, "{hot:#?}");
    assert_eq!(
        hot.body["workflows"],
        json!([{"workflow": "scale_out", "vnf_id": "web", "instances": 1}])
    );
    let operation = hot.body["nsLcmOpOccId"].as_str().expect("an operation started");
    let scaled = api.wait(&format!("/nslcm/v1/ns_lcm_op_occs/{operation}"));
    assert_eq!(scaled["operationState"], "COMPLETED", "{scaled:#}");
    assert_eq!(scaled["lcmOperationType"], "SCALE", "{scaled:#}");
    assert_eq!(scaled["isAutomaticInvocation"], true, "{scaled:#}");
    let vnfs_after = api.get(&format!("/nslcm/v1/ns_instances/{id}")).body["vnfInstance"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(vnfs_after, vnfs_before + 1);

    api.post(&monitoring, &json!(["not", "an", "object"]))
        .assert_problem(422, "unprocessable");
}

#[test]
fn monitoring_data_for_a_service_without_a_monitor_manager_is_refused() {
    let setup = setup();
    let api = &setup.operator;
    let id = create_instance(api, "unmonitored");
    assert_eq!(
        api.run_task(&task(&id, "instantiate"), &json!({}))["operationState"],
        "COMPLETED"
    );
    let refused = api.post(
        &format!("/nslcm/v1/ns_instances/{id}/monitoring"),
        &json!({"alert": {}}),
    );
    refused.assert_problem(422, "unprocessable");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("no manager for the monitor event"),
        "{refused:#?}"
    );
}
