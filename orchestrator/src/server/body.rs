//! What every handler shares: the JSON body extractor (an empty body reads
//! as `{}`; another media type is 415, a bad document 400, a large one
//! 413), `Location` answers, and the visibility rules (another project's
//! resource is a 404, a read-only caller's change a 403).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::MAX_JSON_BYTES;
use super::problem::{Problem, ProblemKind};
use crate::access::Principal;

/// A JSON request body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = Bytes::from_request(request, state).await?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(Problem::new(
                ProblemKind::PayloadTooLarge,
                format!("a JSON body is at most {MAX_JSON_BYTES} bytes"),
            ));
        }
        let document: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            match content_type.as_deref() {
                Some("application/json") => &bytes,
                Some(other) if other.ends_with("+json") => &bytes,
                other => {
                    return Err(Problem::new(
                        ProblemKind::UnsupportedMediaType,
                        format!("the body must be application/json, not {}", other.unwrap_or("untyped")),
                    ));
                }
            }
        };
        serde_json::from_slice(document)
            .map(JsonBody)
            .map_err(|error| Problem::new(ProblemKind::Validation, format!("request body: {error}")))
    }
}

/// `status` with `Location: location` and `body`.
pub fn located(status: StatusCode, location: &str, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 404 unless the caller may read resources of `project`.
pub fn readable(principal: &Principal, project: &str, kind: &str, id: &str) -> Result<(), Problem> {
    if principal.may_read(project) {
        Ok(())
    } else {
        Err(Problem::not_found(kind, id))
    }
}

/// 404 unless the caller may read resources of `project`, 403 unless it
/// may change them.
pub fn writable(principal: &Principal, project: &str, kind: &str, id: &str) -> Result<(), Problem> {
    readable(principal, project, kind, id)?;
    if principal.may_write(project) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            format!("a {} token may not change a {kind}", principal.role.as_str()),
        ))
    }
}

/// The project a new resource belongs to: the caller's own, or for a
/// system admin the `projectId` it names.
pub fn owning_project(principal: &Principal, named: Option<&str>) -> Result<String, Problem> {
    let project = match (&principal.project_id, named) {
        (Some(own), None) => own.clone(),
        (Some(own), Some(named)) if own == named => own.clone(),
        (Some(_), Some(named)) => return Err(Problem::not_found("project", named)),
        (None, Some(named)) => named.to_owned(),
        (None, None) => {
            return Err(Problem::new(
                ProblemKind::Validation,
                "a system-scoped token must name the owning project (projectId)",
            ));
        }
    };
    if principal.may_write(&project) {
        Ok(project)
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            format!("a {} token may not create resources", principal.role.as_str()),
        ))
    }
}
