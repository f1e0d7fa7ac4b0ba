//! `GET /openapi.json`: the API as an OpenAPI 3.1 document, generated from
//! the handlers.
//!
//! Every route is registered with `utoipa_axum::routes!` from its handler's
//! `#[utoipa::path]` attribute, which names the method and the path the
//! router serves and describes the parameters, the body and the answers; the
//! router and the document are split from the same [`OpenApiRouter`], so a
//! route cannot be served without being described (`clippy.toml` refuses
//! the methods that would add one otherwise). What every route shares is
//! added here once, after the routes are collected ([`complete`]): the
//! bearer scheme and its global requirement; the answers the middleware and
//! the extractors give (401 and 406 everywhere, 400 where a path or query
//! parameter is read, 400, 413 and 415 where a body is) and 500; and
//! `ProblemDetails` as the body of every 4xx and 5xx answer, since every
//! error is a [`Problem`](super::problem::Problem).

use axum::Extension;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::problem::ProblemDetails;

/// The security scheme every operation requires (as `Base` names it).
const BEARER: &str = "bearer";

/// The media type of error bodies.
const PROBLEM_JSON: &str = "application/problem+json";

/// The document's own parts: what it is, the bearer scheme, and the
/// ProblemDetails schema the errors refer to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wasmano",
        version = super::API_VERSION,
        description = "Lifecycle management of network services whose specific managers are WebAssembly \
            components: projects and tokens (`/admin/v1`), packages, modules, VIMs and events \
            (`/wasmano/v1`), NS instances, operation occurrences and subscriptions (`/nslcm/v1`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ProblemDetails)),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
)]
pub(super) struct Base;

/// Adds the bearer scheme.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, document: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A token issued by `POST /admin/v1/tokens` (or the bootstrap admin token), as \
                 `Authorization: Bearer <token>`.",
            ))
            .build();
        document
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// The document collected from the routes, with what every operation
/// shares: the answers no handler declares (the middleware's 401 and 406,
/// the parameter extractors' 400, the body extractors' 400, 413 and 415,
/// and 500) and a ProblemDetails body on every 4xx and 5xx answer.
pub(super) fn complete(mut document: Document) -> Document {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let mut shared = vec![
                ("401", "no valid bearer token"),
                ("406", "a `Version` header other than 1.x"),
                ("500", "a bug or an unusable data directory"),
            ];
            let reads_parameters = operation
                .parameters
                .iter()
                .flatten()
                .any(|parameter| matches!(parameter.parameter_in, ParameterIn::Path | ParameterIn::Query));
            if reads_parameters {
                shared.push(("400", "a path or query parameter that does not read"));
            }
            if operation.request_body.is_some() {
                shared.extend([
                    ("400", "an unreadable or invalid body"),
                    ("413", "the body is too large"),
                    ("415", "the body is not of a media type the route takes"),
                ]);
            }
            let responses = &mut operation.responses.responses;
            for (status, description) in shared {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(utoipa::openapi::Response::new(description)));
            }
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && (status.starts_with('4') || status.starts_with('5'))
                    && response.content.is_empty()
                {
                    let schema = Ref::from_schema_name(<ProblemDetails as utoipa::ToSchema>::name());
                    response
                        .content
                        .insert(PROBLEM_JSON.to_owned(), Content::new(Some(schema)));
                }
            }
        }
    }
    document
}

/// The document as served, serialized once.
#[derive(Debug, Clone)]
pub(super) struct Served(pub(super) Bytes);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(document))
}

/// This document, for any valid token.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "api",
    responses((status = 200, description = "the API as OpenAPI 3.1", body = Object))
)]
async fn document(Extension(Served(document)): Extension<Served>) -> Response {
    let mut response = document.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
