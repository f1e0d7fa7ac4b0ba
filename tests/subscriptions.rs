//! Subscriptions to lifecycle notifications, from outside, through a real
//! `wasmano serve` process and real callbacks (small HTTP servers in this
//! process): the callback test before creating, 303 for the same
//! subscription again, the errors (400, 403, 404, 422), an instantiation
//! notified START then RESULT to the subscriptions whose filter matches,
//! a callback that fails twice and still gets its notification, an
//! `https` callback verified against the server's configured authority, and
//! subscriptions that survive a restart.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/package.rs"]
mod support_package;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/server.rs"]
mod support_server;
#[path = "support/tls.rs"]
mod support_tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use support_server::{Api, Server, bundled_archive, create_instance, task};
use support_tls::Authority;

const SUBSCRIPTIONS: &str = "/nslcm/v1/subscriptions";

/// How long an expected notification may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// A server with one project, its operator's client, and the bundled
/// package onboarded in it.
struct Setup {
    data: tempfile::TempDir,
    server: Server,
    project: String,
    operator: Api,
}

/// The callbacks of these tests listen on loopback, which a server refuses
/// unless allowed.
const LOOPBACK_CALLBACKS: [&str; 2] = ["--callback-allow", "127.0.0.0/8"];

fn setup() -> Setup {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(&data.path().join("data"), &[], &LOOPBACK_CALLBACKS);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    let onboarded = operator.onboard(&bundled_archive(data.path(), |_, text| text));
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    Setup {
        data,
        server,
        project,
        operator,
    }
}

/// Creates a subscription (201) and returns its id.
fn subscribe(api: &Api, request: &Value) -> String {
    let created = api.post(SUBSCRIPTIONS, request);
    assert_eq!(created.status, 201, "{created:#?}");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("{SUBSCRIPTIONS}/{id}").as_str())
    );
    id
}

/// A request the callback got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A callback: answers `GET` with `test_status`, the first `failing`
/// `POST`s with 500 and the others with 204, and records every request.
struct Callback {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Callback {
    fn start(test_status: u16, failing: usize) -> Self {
        Self::listen(test_status, failing, None)
    }

    /// An `https` callback answering like [`Callback::start`]`(204, 0)`,
    /// with a certificate for 127.0.0.1 that `authority` issued.
    fn start_tls(authority: &Authority) -> Self {
        Self::listen(204, 0, Some(authority.server_config()))
    }

    fn listen(test_status: u16, failing: usize, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/notify", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut posts = 0;
            let mut answer = |stream: &mut dyn ReadWrite| {
                let Some(request) = read_request(stream) else {
                    return;
                };
                let status = if request.method == "GET" {
                    test_status
                } else {
                    posts += 1;
                    if posts <= failing { 500 } else { 204 }
                };
                recorded.lock().unwrap().push(request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Answer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.flush();
            };
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if stream.set_read_timeout(Some(Duration::from_secs(5))).is_err() {
                    continue;
                }
                match &tls {
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(Arc::clone(config)) else {
                            continue;
                        };
                        let mut secured = rustls::StreamOwned::new(connection, stream);
                        answer(&mut secured);
                        secured.conn.send_close_notify();
                        let _ = secured.flush();
                    }
                    None => answer(&mut stream),
                }
            }
        });
        Self { url, received }
    }

    fn requests(&self, method: &str) -> Vec<Received> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|request| request.method == method)
            .cloned()
            .collect()
    }

    /// Waits for `count` `POST`s and returns them.
    fn wait_posts(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let posts = self.requests("POST");
            if posts.len() >= count {
                return posts;
            }
            assert!(
                Instant::now() < deadline,
                "{count} notifications expected, got {posts:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A callback's connection: plain TCP or TLS over it.
trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

/// One HTTP/1.1 request: method, the headers looked at, a JSON body.
fn read_request(stream: &mut dyn ReadWrite) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let method = line.split_whitespace().next()?.to_owned();
    let (mut length, mut authorization, mut content_type) = (0, None, None);
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim().to_owned();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "authorization" => authorization = Some(value),
            "content-type" => content_type = Some(value),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        method,
        authorization,
        content_type,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// `POST path` without following redirects: status, `Location`, body.
fn post_unfollowed(server: &Server, api: &Api, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut response = agent
        .post(format!("{}{path}", server.base))
        .header("Authorization", format!("Bearer {}", api.token_secret()))
        .header("Content-Type", "application/json")
        .send(serde_json::to_vec(body).unwrap())
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.body_mut().read_json().unwrap_or(Value::Null);
    (response.status().as_u16(), location, body)
}

/// The value of the sample `series` in the server's metrics.
fn metric(server: &Server, series: &str) -> f64 {
    let scrape = server.admin().get("/metrics");
    assert_eq!(scrape.status, 200, "{scrape:#?}");
    scrape
        .text
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {}", scrape.text))
}

/// Waits until the sample `series` reaches `value` (a delivery is counted
/// once the callback's answer is read, after the callback saw it).
fn wait_metric(server: &Server, series: &str, value: f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = metric(server, series);
        if now >= value {
            assert_eq!(now, value, "{series}");
            return;
        }
        assert!(Instant::now() < deadline, "{series} is {now}, not {value}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn subscriptions_are_tested_created_listed_and_deleted() {
    let Setup {
        data: _data,
        server,
        project,
        operator,
    } = setup();
    let callback = Callback::start(204, 0);
    let request = json!({
        "filter": {"notificationTypes": ["NsLcmOperationOccurrenceNotification"], "operationStates": ["COMPLETED"]},
        "callbackUri": callback.url,
        "authentication": {"authType": ["BASIC"], "paramsBasic": {"userName": "hook", "password": "s3cret-pass"}},
    });
    let created = operator.post(SUBSCRIPTIONS, &request);
    assert_eq!(created.status, 201, "{created:#?}");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let location = format!("{SUBSCRIPTIONS}/{id}");
    assert_eq!(created.location.as_deref(), Some(location.as_str()));
    assert_eq!(created.body["callbackUri"], json!(callback.url));
    assert_eq!(created.body["filter"], request["filter"]);
    assert_eq!(created.body["projectId"], json!(project));
    assert_eq!(created.body["_links"]["self"]["href"], json!(location));
    assert!(!created.text.contains("s3cret-pass"), "{}", created.text);
    let tested = callback.requests("GET");
    assert_eq!(
        tested.len(),
        1,
        "the callback is tested before the subscription is created"
    );
    assert_eq!(
        tested[0].authorization.as_deref(),
        Some(basic("hook", "s3cret-pass").as_str())
    );

    // The same callback and filter again: 303 to the existing one, untested.
    let reordered = json!({
        "filter": {"operationStates": ["COMPLETED"], "notificationTypes": ["NsLcmOperationOccurrenceNotification"]},
        "callbackUri": callback.url,
    });
    let (status, again, _) = post_unfollowed(&server, &operator, SUBSCRIPTIONS, &reordered);
    assert_eq!((status, again.as_deref()), (303, Some(location.as_str())));
    assert_eq!(callback.requests("GET").len(), 1);

    // A callback that does not answer 204, or not at all: 422, nothing stored.
    let missing = Callback::start(404, 0);
    operator
        .post(SUBSCRIPTIONS, &json!({"callbackUri": missing.url}))
        .assert_problem(422, "unprocessable");
    assert_eq!(missing.requests("GET").len(), 1);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}/notify", closed.local_addr().unwrap());
    drop(closed);
    operator
        .post(SUBSCRIPTIONS, &json!({"callbackUri": nobody}))
        .assert_problem(422, "unprocessable");
    let listed = operator.get(SUBSCRIPTIONS);
    assert_eq!(listed.status, 200, "{listed:#?}");
    assert_eq!(listed.body.as_array().unwrap().len(), 1);

    // Malformed requests: 400.
    let url = callback.url.as_str();
    for bad in [
        json!({}),
        json!({"callbackUri": "ftp://127.0.0.1/notify"}),
        json!({"callbackUri": "notify"}),
        json!({"callbackUri": url.replace("http://", "http://user:pw@")}),
        json!({"callbackUri": url, "filter": {"notificationTypes": ["VnfLcmOperationOccurrenceNotification"]}}),
        json!({"callbackUri": url, "filter": {"nsInstanceSubscriptionFilter": {"nsdIds": ["x"]}}}),
        json!({"callbackUri": url, "filter": {"operationStates": ["DONE"]}}),
        json!({"callbackUri": url, "authentication": {"authType": ["TLS_CERT"]}}),
        json!({"callbackUri": url, "authentication": {"authType": ["BASIC"]}}),
    ] {
        operator.post(SUBSCRIPTIONS, &bad).assert_problem(400, "validation");
    }
    assert_eq!(callback.requests("GET").len(), 1, "nothing malformed is tested");

    // A viewer of the project reads but may not change.
    let (_, viewer) = server.admin().token("viewer", Some(&project));
    let viewer = server.client(&viewer);
    viewer
        .post(SUBSCRIPTIONS, &json!({"callbackUri": url}))
        .assert_problem(403, "forbidden");
    assert_eq!(viewer.get(&location).status, 200);
    viewer.delete(&location).assert_problem(403, "forbidden");

    // Another project sees nothing of it.
    let other = server.admin().project("other");
    let (_, stranger) = server.admin().token("operator", Some(&other));
    let stranger = server.client(&stranger);
    stranger.get(&location).assert_problem(404, "not-found");
    stranger.delete(&location).assert_problem(404, "not-found");
    assert_eq!(stranger.get(SUBSCRIPTIONS).body, json!([]));

    // A system admin names the project.
    let admin = server.admin();
    admin
        .post(SUBSCRIPTIONS, &json!({"callbackUri": url}))
        .assert_problem(400, "validation");
    admin
        .post(
            SUBSCRIPTIONS,
            &json!({"callbackUri": url, "projectId": "no-such-project"}),
        )
        .assert_problem(422, "unprocessable");
    let by_admin = subscribe(&admin, &json!({"callbackUri": url, "projectId": project}));

    // A project that owns a subscription cannot be deleted.
    let subscriber = admin.project("subscriber");
    let owned = subscribe(&admin, &json!({"callbackUri": url, "projectId": subscriber}));
    admin
        .delete(&format!("/admin/v1/projects/{subscriber}"))
        .assert_problem(409, "state-conflict");
    assert_eq!(admin.delete(&format!("{SUBSCRIPTIONS}/{owned}")).status, 204);
    assert_eq!(admin.delete(&format!("/admin/v1/projects/{subscriber}")).status, 204);

    let listed = operator.get(SUBSCRIPTIONS);
    assert_eq!(listed.status, 200);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|subscription| subscription["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), by_admin.as_str()]);
    assert!(!listed.text.contains("s3cret-pass"));
    assert!(!operator.get(&location).text.contains("s3cret-pass"));

    assert_eq!(operator.delete(&location).status, 204);
    operator.get(&location).assert_problem(404, "not-found");
    operator.delete(&location).assert_problem(404, "not-found");
    assert_eq!(operator.delete(&format!("{SUBSCRIPTIONS}/{by_admin}")).status, 204);
    assert_eq!(operator.get(SUBSCRIPTIONS).body, json!([]));
}

#[test]
fn an_instantiation_is_notified_to_the_matching_subscriptions() {
    let setup = setup();
    let (server, operator) = (&setup.server, &setup.operator);
    let everything = Callback::start(204, 0);
    let elsewhere = Callback::start(204, 0);
    let stranger = Callback::start(204, 0);
    let all = subscribe(
        operator,
        &json!({
            "callbackUri": everything.url,
            "authentication": {"authType": ["BASIC"], "paramsBasic": {"userName": "hook", "password": "pw"}},
        }),
    );
    subscribe(
        operator,
        &json!({
            "callbackUri": elsewhere.url,
            "filter": {"nsInstanceSubscriptionFilter": {"nsInstanceIds": ["00000000-0000-4000-8000-000000000000"]}},
        }),
    );
    let other = server.admin().project("other");
    subscribe(
        &server.admin(),
        &json!({"callbackUri": stranger.url, "projectId": other}),
    );

    let id = create_instance(operator, "notified");
    let operation = operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    let posts = everything.wait_posts(3);
    for post in &posts {
        assert_eq!(post.content_type.as_deref(), Some("application/json"));
        assert_eq!(post.authorization.as_deref(), Some(basic("hook", "pw").as_str()));
        assert_eq!(post.body["subscriptionId"], json!(all));
        assert_eq!(post.body["nsInstanceId"], json!(id));
        assert_eq!(
            post.body["_links"]["subscription"]["href"],
            json!(format!("{SUBSCRIPTIONS}/{all}"))
        );
        assert_eq!(
            post.body["_links"]["nsInstance"]["href"],
            json!(format!("/nslcm/v1/ns_instances/{id}"))
        );
        assert!(post.body["timeStamp"].as_str().unwrap().ends_with('Z'));
    }
    let creation = &posts[0].body;
    assert_eq!(creation["notificationType"], "NsIdentifierCreationNotification");
    assert!(creation.get("nsLcmOpOccId").is_none() && creation.get("notificationStatus").is_none());
    let (start, result) = (&posts[1].body, &posts[2].body);
    let operation_href = format!("/nslcm/v1/ns_lcm_op_occs/{}", operation["id"].as_str().unwrap());
    for (notification, status, state) in [(start, "START", "PROCESSING"), (result, "RESULT", "COMPLETED")] {
        assert_eq!(notification["notificationType"], "NsLcmOperationOccurrenceNotification");
        assert_eq!(notification["nsLcmOpOccId"], operation["id"]);
        assert_eq!(notification["operation"], "INSTANTIATE");
        assert_eq!(notification["notificationStatus"], status);
        assert_eq!(notification["operationState"], state);
        assert_eq!(notification["isAutomaticInvocation"], false);
        assert!(notification.get("error").is_none());
        assert_eq!(notification["_links"]["nsLcmOpOcc"]["href"], json!(operation_href));
    }
    assert_eq!(result["timeStamp"], operation["stateEnteredTime"]);
    let ids: std::collections::HashSet<&str> = posts.iter().map(|post| post.body["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "every notification has its own id");

    // Terminated and deleted: START, RESULT, then the deletion.
    let terminated = operator.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");
    assert_eq!(operator.delete(&format!("/nslcm/v1/ns_instances/{id}")).status, 204);
    let posts = everything.wait_posts(6);
    let seen: Vec<(&str, &str)> = posts[3..]
        .iter()
        .map(|post| {
            (
                post.body["notificationType"].as_str().unwrap(),
                post.body["notificationStatus"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("NsLcmOperationOccurrenceNotification", "START"),
            ("NsLcmOperationOccurrenceNotification", "RESULT"),
            ("NsIdentifierDeletionNotification", ""),
        ]
    );
    assert_eq!(posts[4].body["operation"], "TERMINATE");

    // Deliveries run independently: give the others time to be wrong.
    std::thread::sleep(Duration::from_millis(500));
    assert!(elsewhere.requests("POST").is_empty(), "filtered to another NS instance");
    assert!(stranger.requests("POST").is_empty(), "another project's subscription");
    wait_metric(server, "wasmano_notifications_total{result=\"delivered\"}", 6.0);
    assert_eq!(metric(server, "wasmano_notifications_total{result=\"dropped\"}"), 0.0);
}

/// A callback may not point the server at its own loopback, the network
/// behind it or a cloud's metadata service: without `--callback-allow`,
/// an internal address is refused, by address or by a name resolving to
/// one, and the callback never hears from the server.
#[test]
fn a_callback_to_an_internal_address_is_refused_unless_allowed() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    let callback = Callback::start(204, 0);
    let by_name = callback.url.replace("127.0.0.1", "localhost");
    for uri in [
        callback.url.as_str(),
        by_name.as_str(),
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:8080/notify",
        "http://[::1]:9/notify",
    ] {
        let refused = operator.post(SUBSCRIPTIONS, &json!({"callbackUri": uri}));
        refused.assert_problem(422, "unprocessable");
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("not a public address") && detail.contains("--callback-allow"),
            "{uri}: {detail}"
        );
    }
    assert!(
        callback.requests("GET").is_empty(),
        "the loopback callback never heard from the server"
    );
    let listed = operator.get(SUBSCRIPTIONS);
    assert_eq!(listed.body, json!([]), "nothing was stored");
}

#[test]
fn an_https_callback_is_verified_against_the_configured_authority() {
    let authority = Authority::new();
    let data = tempfile::tempdir().unwrap();
    let ca_file = data.path().join("callback-ca.pem");
    std::fs::write(&ca_file, &authority.pem).unwrap();
    let server = Server::start_with(
        &data.path().join("data"),
        &[],
        &[
            "--callback-ca",
            ca_file.to_str().unwrap(),
            "--callback-allow",
            "127.0.0.1",
        ],
    );
    let project = server.admin().project("tenant");
    let (_, token) = server.admin().token("operator", Some(&project));
    let operator = server.client(&token);
    assert_eq!(
        operator.onboard(&bundled_archive(data.path(), |_, text| text)).status,
        201
    );
    let secured = Callback::start_tls(&authority);
    assert!(secured.url.starts_with("https://"));
    subscribe(&operator, &json!({"callbackUri": secured.url}));
    assert_eq!(secured.requests("GET").len(), 1, "the callback test went over TLS");
    let id = create_instance(&operator, "secured");
    let operation = operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(operation["operationState"], "COMPLETED", "{operation:#}");
    let posts = secured.wait_posts(3);
    assert!(posts.iter().all(|post| post.body["nsInstanceId"] == json!(id)));

    // A certificate no trusted authority issued fails the callback test.
    let stranger = Callback::start_tls(&Authority::new());
    let refused = operator.post(SUBSCRIPTIONS, &json!({"callbackUri": stranger.url}));
    assert_eq!(refused.status, 422, "{refused:#?}");
    assert!(stranger.requests("GET").is_empty(), "nothing was sent to it");
    // An unusable authority file stops the server from starting.
    std::fs::write(&ca_file, "not a certificate").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("other"))
        .arg("--callback-ca")
        .arg(&ca_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&output.stderr).contains("callback CA file"));
}

#[test]
fn a_failing_callback_gets_its_notification_on_a_later_try() {
    let setup = setup();
    let flaky = Callback::start(204, 2);
    subscribe(
        &setup.operator,
        &json!({"callbackUri": flaky.url, "filter": {"notificationTypes": ["NsIdentifierCreationNotification"]}}),
    );
    let started = Instant::now();
    let id = create_instance(&setup.operator, "retried");
    let posts = flaky.wait_posts(3);
    let took = started.elapsed();
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(10)).contains(&took),
        "tried again after 1 s then 2 s, took {took:?}"
    );
    assert_eq!(posts.len(), 3);
    for post in &posts {
        assert_eq!(post.body, posts[0].body, "the same notification each time");
    }
    assert_eq!(posts[0].body["notificationType"], "NsIdentifierCreationNotification");
    assert_eq!(posts[0].body["nsInstanceId"], json!(id));
    assert_eq!(
        metric(&setup.server, "wasmano_notifications_total{result=\"retried\"}"),
        2.0
    );
    wait_metric(&setup.server, "wasmano_notifications_total{result=\"delivered\"}", 1.0);
}

/// A notification still queued when the server is killed is delivered by
/// the next start, with the same id; once delivered it is not sent again.
#[test]
fn a_notification_pending_at_a_crash_is_delivered_after_the_restart() {
    let Setup {
        data, server, operator, ..
    } = setup();
    // The first try is refused: the notification waits 1 s for its second.
    let callback = Callback::start(204, 1);
    let subscription = subscribe(&operator, &json!({"callbackUri": callback.url}));
    let token = operator.token_secret();
    let instance = create_instance(&operator, "pending");
    let refused = callback.wait_posts(1);
    drop(server); // SIGKILL, within the backoff
    let pending = data.path().join("data/subscriptions.sqlite");
    let count_pending = || -> i64 {
        let connection = rusqlite::Connection::open(&pending).unwrap();
        connection
            .query_row("SELECT COUNT(*) FROM pending", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(count_pending(), 1, "the undelivered notification is on disk");

    let server = Server::start_with(&data.path().join("data"), &[], &LOOPBACK_CALLBACKS);
    let posts = callback.wait_posts(2);
    assert_eq!(posts[1].body, refused[0].body, "the same notification, id included");
    assert_eq!(posts[1].body["nsInstanceId"], json!(instance));
    assert_eq!(posts[1].body["subscriptionId"], json!(subscription));
    let deadline = Instant::now() + PATIENCE;
    while count_pending() > 0 {
        assert!(Instant::now() < deadline, "a delivered notification leaves pending");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
    let server = Server::start_with(&data.path().join("data"), &[], &LOOPBACK_CALLBACKS);
    assert_eq!(server.client(&token).get(SUBSCRIPTIONS).status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(callback.requests("POST").len(), 2, "nothing delivered is sent again");
}

#[test]
fn subscriptions_survive_a_restart() {
    let setup = setup();
    let callback = Callback::start(204, 0);
    let id = subscribe(&setup.operator, &json!({"callbackUri": callback.url}));
    let token = setup.operator.token_secret();
    setup.server.stop();
    // The file may hold Basic credentials: only the server's user reads it.
    let stored = setup.data.path().join("data/subscriptions.sqlite");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&stored).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", stored.display());

    let server = Server::start_with(&setup.data.path().join("data"), &[], &LOOPBACK_CALLBACKS);
    let operator = server.client(&token);
    let listed = operator.get(SUBSCRIPTIONS);
    assert_eq!(listed.status, 200, "{listed:#?}");
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{listed:#?}");
    assert_eq!(listed.body[0]["id"], json!(id));
    assert_eq!(listed.body[0]["callbackUri"], json!(callback.url));
    assert_eq!(listed.body[0]["projectId"], json!(setup.project));

    let instance = create_instance(&operator, "after-restart");
    let posts = callback.wait_posts(1);
    assert_eq!(posts[0].body["notificationType"], "NsIdentifierCreationNotification");
    assert_eq!(posts[0].body["nsInstanceId"], json!(instance));
    assert_eq!(posts[0].body["subscriptionId"], json!(id));
}
