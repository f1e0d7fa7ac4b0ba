//! What `wasmano serve` tells observers, from outside, through a real
//! server process: `/metrics` after a lifecycle (operations, hooks, HTTP
//! requests by route template, authentication failures; no id anywhere;
//! system tokens only), and the event stream (an instantiation's START,
//! steps and RESULT in order, resuming with `Last-Event-ID`, a reset for
//! an id the server no longer has, project scoping, clients counted, and a
//! shutdown that is not held up by open streams).

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/package.rs"]
mod support_package;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/server.rs"]
mod support_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_server::{Api, Server, bundled_archive, create_instance, task};

/// How long an expected event may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// A server with one project, its operator's client, and the bundled
/// package onboarded in it.
struct Setup {
    data: tempfile::TempDir,
    server: Server,
    operator: Api,
}

fn setup() -> Setup {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let project = server.admin().project("tenant");
    let operator = operator_of(&server, &project, data.path());
    Setup { data, server, operator }
}

/// An operator of `project`, with the bundled package onboarded there.
fn operator_of(server: &Server, project: &str, dir: &std::path::Path) -> Api {
    let (_, token) = server.admin().token("operator", Some(project));
    let operator = server.client(&token);
    let onboarded = operator.onboard(&bundled_archive(dir, |_, text| text));
    assert!(matches!(onboarded.status, 200 | 201), "{onboarded:#?}");
    operator
}

/// Whether `text` holds a UUID (36 characters: hex in groups of 8-4-4-4-12).
fn holds_uuid(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .flat_map(|token| token.as_bytes().windows(36))
        .any(|window| {
            window.iter().enumerate().all(|(at, byte)| match at {
                8 | 13 | 18 | 23 => *byte == b'-',
                _ => byte.is_ascii_hexdigit(),
            })
        })
}

/// The value of the sample `series` (name and labels, as written).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Checks every histogram of the scrape: buckets cumulative, ending with
/// `+Inf`, which equals `_count`.
fn assert_histograms_consistent(scrape: &str) {
    let mut buckets: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for line in scrape.lines().filter(|line| !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap();
        let Some((name, labels)) = series.split_once("_bucket{") else {
            continue;
        };
        let (labels, le) = labels.rsplit_once(",le=\"").unwrap();
        let le = le.trim_end_matches("\"}").to_owned();
        buckets
            .entry(format!("{name}_count{{{labels}}}"))
            .or_default()
            .push((le, value));
    }
    assert!(!buckets.is_empty());
    for (count, series) in buckets {
        assert!(
            series.windows(2).all(|pair| pair[0].1 <= pair[1].1),
            "{count}: {series:?}"
        );
        let (le, total) = series.last().unwrap();
        assert_eq!(le, "+Inf", "{count}");
        assert_eq!(sample(scrape, &count), Some(*total), "{count}");
    }
}

#[test]
fn metrics_count_a_lifecycle_by_kind_never_by_id() {
    let setup = setup();
    let (server, operator) = (&setup.server, &setup.operator);
    let refused = server
        .client("wmn_not-a-token-anyone-issued-aaaaaaaaaaaaaaaa")
        .get("/nslcm/v1/ns_instances");
    refused.assert_problem(401, "unauthenticated");
    assert_eq!(server.admin().get("/no/such/route").status, 404);
    let id = create_instance(operator, "web");
    let instantiated = operator.run_task(&task(&id, "instantiate"), &json!({}));
    assert_eq!(instantiated["operationState"], "COMPLETED", "{instantiated:#}");
    let terminated = operator.run_task(&task(&id, "terminate"), &json!({}));
    assert_eq!(terminated["operationState"], "COMPLETED", "{terminated:#}");

    operator.get("/metrics").assert_problem(403, "forbidden");
    let demotes = wasmano_host::Host::new(wasmano_host::HostConfig::default())
        .expect("host")
        .demotes_long_hooks();
    let (_, viewer) = server.admin().token("viewer", None);
    let scrape = server.client(&viewer).get("/metrics");
    assert_eq!(scrape.status, 200, "{scrape:#?}");
    assert_eq!(
        scrape.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &scrape.text;
    for (series, value) in [
        (
            "wasmano_lcm_operations_total{operation=\"INSTANTIATE\",state=\"COMPLETED\"}",
            1.0,
        ),
        (
            "wasmano_lcm_operations_total{operation=\"TERMINATE\",state=\"COMPLETED\"}",
            1.0,
        ),
        (
            "wasmano_lcm_operation_duration_seconds_count{operation=\"INSTANTIATE\",state=\"COMPLETED\"}",
            1.0,
        ),
        ("wasmano_lcm_operations_open{operation=\"INSTANTIATE\"}", 0.0),
        (
            "wasmano_hook_invocations_total{kind=\"ssm\",event=\"placement\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "wasmano_hook_duration_seconds_count{kind=\"ssm\",event=\"placement\"}",
            1.0,
        ),
        (
            "wasmano_http_requests_total{method=\"POST\",route=\"/nslcm/v1/ns_instances/{id}/instantiate\",status=\"202\"}",
            1.0,
        ),
        (
            "wasmano_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
            1.0,
        ),
        (
            "wasmano_http_requests_total{method=\"GET\",route=\"/nslcm/v1/ns_instances\",status=\"401\"}",
            1.0,
        ),
        (
            "wasmano_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"403\"}",
            1.0,
        ),
        ("wasmano_auth_failures_total{reason=\"invalid\"}", 1.0),
        ("wasmano_auth_failures_total{reason=\"forbidden\"}", 1.0),
        ("wasmano_auth_failures_total{reason=\"missing\"}", 0.0),
        ("wasmano_ns_instances{state=\"NOT_INSTANTIATED\"}", 1.0),
        ("wasmano_ns_instances{state=\"INSTANTIATED\"}", 0.0),
        ("wasmano_event_stream_clients", 0.0),
        // The server runs with this process's privileges; no hook of the
        // lifecycle runs past its slice.
        ("wasmano_hook_demotion_enabled", f64::from(u8::from(demotes))),
        ("wasmano_hooks_demoted_total", 0.0),
        (
            &format!(
                "wasmano_build_info{{version=\"{}\",contract=\"2.0.0\"}}",
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        ),
    ] {
        assert_eq!(sample(text, series), Some(value), "{series} in\n{text}");
    }
    let polled = sample(
        text,
        "wasmano_http_requests_total{method=\"GET\",route=\"/nslcm/v1/ns_lcm_op_occs/{id}\",status=\"200\"}",
    );
    assert!(polled.is_some_and(|count| count >= 2.0), "{text}");
    for kind in ["deploy", "fsm start", "ssm placement", "store NSR"] {
        let series =
            format!("wasmano_workflow_step_duration_seconds_count{{workflow=\"instantiation\",step_kind=\"{kind}\"}}");
        assert!(
            sample(text, &series).is_some_and(|count| count >= 1.0),
            "{series} in\n{text}"
        );
    }
    assert!(
        text.contains("wasmano_hook_duration_seconds_bucket{kind=\"ssm\",event=\"placement\",le=\"0.00001\"}"),
        "hook buckets start at 10 µs"
    );
    assert_histograms_consistent(text);
    assert!(!holds_uuid(text), "no id in any label:\n{text}");
    assert!(holds_uuid(&id), "the check finds ids");
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        assert!(line.starts_with("wasmano_"), "{line}");
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

/// Opens the event stream with `token` (and `Last-Event-ID` when given);
/// returns once the server answered, the events arriving on the receiver
/// (which disconnects when the stream ends).
fn subscribe(server: &Server, token: &str, query: &str, last_event_id: Option<&str>) -> mpsc::Receiver<Sse> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("{}/wasmano/v1/events{query}", server.base))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = agent.run(request.body(Vec::new()).unwrap()).unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap().to_str().unwrap(),
        "text/event-stream"
    );
    let mut lines = BufReader::new(response.into_body().into_reader()).lines();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        while let Some(Ok(line)) = lines.next() {
            if line.is_empty() {
                if let Some(event) = fields.remove("event") {
                    let data = fields.remove("data").unwrap_or_default();
                    let parsed = Sse {
                        id: fields.remove("id").map(|id| id.parse().unwrap()),
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                    if sender.send(parsed).is_err() {
                        return;
                    }
                }
                fields.clear();
            } else if !line.starts_with(':') {
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                fields.entry(name.to_owned()).or_default().push_str(value);
            }
        }
    });
    receiver
}

/// Events until (and with) the first for which `last` holds.
fn until(events: &mpsc::Receiver<Sse>, last: impl Fn(&Sse) -> bool) -> Vec<Sse> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let event = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|error| panic!("{error} after {seen:#?}"));
        let done = last(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn is_result_of(event: &Sse, operation: &str) -> bool {
    event.event == "lcm_op_occ"
        && event.data["nsLcmOpOccId"] == operation
        && event.data["notificationStatus"] == "RESULT"
}

#[test]
fn the_event_stream_follows_an_instantiation_and_resumes() {
    let setup = setup();
    let (server, operator) = (&setup.server, &setup.operator);
    let id = create_instance(operator, "web");
    let own = subscribe(server, &operator.token_secret(), "", None);
    let filtered = subscribe(server, &server.admin, "?nsInstanceId=elsewhere", None);
    let other_project = server.admin().project("other");
    let other_operator = operator_of(server, &other_project, setup.data.path());
    let other = subscribe(server, &other_operator.token_secret(), "", None);

    let started = operator.post(&task(&id, "instantiate"), &json!({}));
    assert_eq!(started.status, 202, "{started:#?}");
    let operation = started.location.unwrap().rsplit('/').next().unwrap().to_owned();
    let seen = until(&own, |event| is_result_of(event, &operation));

    let ids: Vec<u64> = seen.iter().map(|event| event.id.unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    let start = &seen[0];
    assert_eq!(start.event, "lcm_op_occ");
    assert_eq!(
        (
            &start.data["nsLcmOpOccId"],
            &start.data["nsInstanceId"],
            &start.data["lcmOperationType"],
            &start.data["operationState"],
            &start.data["notificationStatus"],
        ),
        (
            &json!(operation),
            &json!(id),
            &json!("INSTANTIATE"),
            &json!("PROCESSING"),
            &json!("START")
        )
    );
    assert!(start.data["timeStamp"].as_str().unwrap().ends_with('Z'));
    let result = seen.last().unwrap();
    assert_eq!(result.data["operationState"], "COMPLETED");
    let steps = &seen[1..seen.len() - 1];
    let timeline = operator.get(&format!("/nslcm/v1/ns_lcm_op_occs/{operation}/timeline"));
    let journaled = timeline.body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), journaled.len(), "one event per journaled step: {steps:#?}");
    for (event, journaled) in steps.iter().zip(journaled) {
        assert_eq!(event.event, "step");
        assert_eq!(event.data["nsLcmOpOccId"], operation);
        assert_eq!(event.data["nsInstanceId"], id);
        for field in [
            "seq",
            "workflow",
            "step",
            "manager",
            "event",
            "outcome",
            "startedAt",
            "error",
        ] {
            assert_eq!(event.data[field], journaled[field], "{field}");
        }
        assert!(event.data["durationSeconds"].as_f64().is_some());
    }
    assert!(steps.iter().any(|event| event.data["step"] == "ssm placement"
        && event.data["event"] == "placement"
        && event.data["outcome"] == "succeeded"));

    // The same events again after the START, with the same ids.
    let resumed = subscribe(server, &server.admin, "", Some(&ids[0].to_string()));
    let again = until(&resumed, |event| is_result_of(event, &operation));
    assert_eq!(
        again.iter().map(|event| event.id.unwrap()).collect::<Vec<_>>(),
        ids[1..],
        "resumed after {}",
        ids[0]
    );
    assert_eq!(again.last().unwrap().data, result.data);
    // An id the server does not have (older than any it numbered, as after
    // a restart): a reset, then what it retains.
    let lost = subscribe(server, &operator.token_secret(), "", Some("1"));
    let replayed = until(&lost, |event| is_result_of(event, &operation));
    assert_eq!((replayed[0].event.as_str(), replayed[0].id), ("reset", None));
    assert!(replayed[0].data["reason"].as_str().is_some());
    assert!(replayed[1..].iter().all(|event| event.id.is_some()));
    assert!(replayed.iter().any(|event| event.id == Some(ids[0])));

    // Another project's client saw none of it: its own instance's creation
    // comes after the instantiation's events, and first.
    let marker = create_instance(&other_operator, "mark");
    let theirs = until(&other, |event| event.data["nsInstanceId"] == marker);
    assert_eq!(theirs.len(), 1, "{theirs:#?}");
    assert_eq!(
        (theirs[0].event.as_str(), &theirs[0].data["change"]),
        ("ns_instance", &json!("CREATED"))
    );
    assert!(theirs[0].id.unwrap() > *ids.last().unwrap());
    // A filter on another instance lets none of it through.
    let deleted = server.admin().delete(&format!("/nslcm/v1/ns_instances/{marker}"));
    assert_eq!(deleted.status, 204);
    assert!(filtered.try_recv().is_err(), "nothing about instance `elsewhere`");

    // A shutdown is not held up by open streams; they end.
    setup.server.stop();
    for stream in [own, filtered, other, resumed, lost] {
        let end = loop {
            if let Err(end) = stream.recv_timeout(PATIENCE) {
                break end;
            }
        };
        assert_eq!(end, mpsc::RecvTimeoutError::Disconnected, "the stream ends at shutdown");
    }
}

/// The value of the clients gauge.
fn stream_clients(admin: &Api) -> f64 {
    sample(&admin.get("/metrics").text, "wasmano_event_stream_clients").unwrap()
}

#[test]
fn stream_clients_are_counted_until_they_disconnect() {
    let setup = setup();
    let (server, admin) = (&setup.server, setup.server.admin());
    assert_eq!(stream_clients(&admin), 0.0);
    let address = server.base.strip_prefix("http://").unwrap();
    let mut raw = TcpStream::connect(address).unwrap();
    write!(
        raw,
        "GET /wasmano/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\r\n",
        setup.operator.token_secret()
    )
    .unwrap();
    let mut head = [0; 12];
    raw.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert_eq!(stream_clients(&admin), 1.0);
    drop(raw);
    // The server notices when it writes the next events.
    let deadline = Instant::now() + PATIENCE;
    while stream_clients(&admin) > 0.0 {
        assert!(Instant::now() < deadline, "the client was never counted out");
        create_instance(&setup.operator, "poke");
        std::thread::sleep(Duration::from_millis(50));
    }
}
