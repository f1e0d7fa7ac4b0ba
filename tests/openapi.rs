//! `GET /openapi.json` from outside, through a real `wasmano serve` process:
//! a viewer reads it, nobody without a token does; it is OpenAPI 3.x with
//! an HTTP bearer scheme required globally; every path it lists is served
//! with exactly the methods it lists (the router answers any other method
//! 405 with `Allow`); every 4xx and 5xx answer it lists is a
//! ProblemDetails; the tasks answer 202 with a `Location`.
//!
//! That the router serves no path the document leaves out is the
//! construction's: the router and the document are split from the same
//! `OpenApiRouter`, and `clippy.toml` refuses the methods that would add a
//! route without a description.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/package.rs"]
mod support_package;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/server.rs"]
mod support_server;

use std::collections::BTreeSet;

use serde_json::Value;
use support_server::Server;

/// The methods an OpenAPI path item may describe.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The tasks of an NS instance, each a `POST …/ns_instances/{id}/<task>`.
const TASKS: [&str; 6] = ["instantiate", "scale", "migrate", "reconfigure", "terminate", "update"];

/// The operation-occurrence controls that run the operation again.
const CONTROLS: [&str; 3] = ["retry", "rollback", "cancel"];

/// `path` with every `{parameter}` segment replaced by an id nothing has.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "00000000-0000-4000-8000-000000000000"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The operations of `document`: path, method and operation.
fn operations(document: &Value) -> Vec<(String, &'static str, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method, operation));
            }
        }
    }
    found
}

#[test]
fn the_document_describes_every_route_with_bearer_security_and_problem_details() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let admin = server.admin();
    let project = admin.project("p");
    let (_, token) = admin.token("viewer", Some(&project));
    let viewer = server.client(&token);

    server
        .anonymous()
        .get("/openapi.json")
        .assert_problem(401, "unauthenticated");
    let answer = viewer.get("/openapi.json");
    assert_eq!(answer.status, 200, "a project viewer reads the document: {answer:#?}");
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.version.as_deref(), Some("1.0.0"));
    let document = answer.body;
    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "OpenAPI 3.x, not {version}");
    assert_eq!(document["info"]["version"], "1.0.0");

    // An HTTP bearer scheme, required by every operation.
    let schemes = document["components"]["securitySchemes"].as_object().unwrap();
    let bearer: Vec<&String> = schemes
        .iter()
        .filter(|(_, scheme)| {
            scheme["type"] == "http"
                && scheme["scheme"]
                    .as_str()
                    .is_some_and(|name| name.eq_ignore_ascii_case("bearer"))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(bearer.len(), 1, "one HTTP bearer scheme: {schemes:#?}");
    let required: Vec<&str> = document["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|requirement| requirement.as_object().unwrap().keys().map(String::as_str))
        .collect();
    assert_eq!(required, [bearer[0].as_str()], "the bearer scheme is required globally");

    // Every path is served with exactly the methods described: any other
    // method is a 405 whose `Allow` names the served ones (GET brings HEAD).
    let operations = operations(&document);
    let paths: BTreeSet<&str> = operations.iter().map(|(path, _, _)| path.as_str()).collect();
    assert!(
        paths.len() >= 30,
        "the whole API is described, not {} paths",
        paths.len()
    );
    for path in &paths {
        let described: BTreeSet<String> = operations
            .iter()
            .filter(|(other, _, _)| other == path)
            .flat_map(|(_, method, _)| {
                let method = method.to_ascii_uppercase();
                if method == "GET" {
                    vec![method, "HEAD".to_owned()]
                } else {
                    vec![method]
                }
            })
            .collect();
        let probe = viewer.request("TRACE", &concrete(path));
        probe.assert_problem(405, "method-not-allowed");
        let served: BTreeSet<String> = probe
            .allow
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|method| method.trim().to_owned())
            .collect();
        assert_eq!(served, described, "{path}: the methods served and described differ");
    }

    // Every error answer is a ProblemDetails, and the schema is there.
    let problem = &document["components"]["schemas"]["ProblemDetails"];
    for member in ["type", "title", "status", "detail"] {
        assert!(
            problem["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|name| name == member),
            "ProblemDetails requires {member}: {problem:#?}"
        );
    }
    let mut ids = BTreeSet::new();
    for (path, method, operation) in &operations {
        let id = operation["operationId"].as_str().unwrap();
        assert!(ids.insert(id), "{method} {path}: operationId {id} is not unique");
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.contains_key("401"), "{method} {path} documents its 401");
        for (status, response) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let content = response["content"].as_object().unwrap();
            let media: Vec<&String> = content.keys().collect();
            assert_eq!(media, ["application/problem+json"], "{method} {path} {status}");
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/ProblemDetails",
                "{method} {path} {status}"
            );
        }
        // Whatever is created or started is named by a Location.
        for status in ["201", "202", "303"] {
            if let Some(response) = responses.get(status) {
                assert!(
                    response["headers"].get("Location").is_some(),
                    "{method} {path} {status} documents its Location"
                );
            }
        }
    }

    // The tasks and the controls that run an operation again answer 202.
    let started = TASKS
        .iter()
        .map(|task| format!("/nslcm/v1/ns_instances/{{id}}/{task}"))
        .chain(
            CONTROLS
                .iter()
                .map(|control| format!("/nslcm/v1/ns_lcm_op_occs/{{id}}/{control}")),
        );
    for path in started {
        let accepted = &document["paths"][&path]["post"]["responses"]["202"];
        assert!(
            accepted["headers"]["Location"].is_object(),
            "POST {path} documents 202 with a Location: {accepted:#?}"
        );
    }
}
