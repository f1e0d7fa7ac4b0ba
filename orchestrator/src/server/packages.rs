//! `/wasmano/v1`: packages (onboarded all-or-nothing from a `.tar.gz`) and
//! the VIMs.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{located, owning_project, paginate, visible, writable};
use super::problem::{Problem, ProblemKind};
use super::{AppState, MAX_UPLOAD_BYTES};
use crate::access::Principal;
use crate::lcm::model::PackageRecord;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/wasmano/v1/packages",
            get(list_packages)
                .post(onboard_package)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/wasmano/v1/packages/{id}", get(show_package).delete(delete_package))
        .route("/wasmano/v1/packages/{id}/nsd", get(package_nsd))
        .route("/wasmano/v1/modules", get(list_modules))
        .route("/wasmano/v1/vims", get(list_vims))
}

/// The media types a package upload may declare.
const GZIP_TYPES: [&str; 3] = ["application/gzip", "application/x-gzip", "application/tar+gzip"];

/// The API's view of a package.
fn package_body(package: &PackageRecord, in_use: bool) -> Value {
    let href = format!("/wasmano/v1/packages/{}", package.id);
    json!({
        "id": package.id,
        "projectId": package.project_id,
        "nsdId": package.nsd.id,
        "nsd": package.nsd,
        "vnfds": package.vnfds,
        "modules": package.modules,
        "onboardingState": "ONBOARDED",
        "usageState": if in_use { "IN_USE" } else { "NOT_IN_USE" },
        "createdAt": package.created_at,
        "_links": {"self": {"href": href}, "nsd": {"href": format!("{href}/nsd")}},
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectQuery {
    project_id: Option<String>,
}

async fn onboard_package(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ProjectQuery>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    let project = owning_project(&principal, query.project_id.as_deref())?;
    if state.access.project(&project)?.is_none() {
        return Err(Problem::new(
            ProblemKind::Unprocessable,
            format!("no project {project}"),
        ));
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if !media_type.as_deref().is_some_and(|media| GZIP_TYPES.contains(&media)) {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!(
                "a package is uploaded as {}, not {}",
                GZIP_TYPES.join(" or "),
                media_type.as_deref().unwrap_or("untyped")
            ),
        ));
    }
    let onboarded = state.lifecycle.onboard(&project, body?.to_vec()).await?;
    let in_use = state.lifecycle.package_in_use(&onboarded.package.id).await?;
    let body = Json(package_body(&onboarded.package, in_use));
    let location = format!("/wasmano/v1/packages/{}", onboarded.package.id);
    let status = if onboarded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(located(status, &location, body))
}

async fn list_packages(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let visible: Vec<PackageRecord> = state
        .lifecycle
        .packages()
        .await?
        .into_iter()
        .filter(|package| principal.may_read(&package.project_id))
        .collect();
    let page = paginate(visible, "/wasmano/v1/packages", query.as_deref())?;
    let mut bodies = Vec::with_capacity(page.items.len());
    for package in &page.items {
        let in_use = state.lifecycle.package_in_use(&package.id).await?;
        bodies.push(package_body(package, in_use));
    }
    Ok(page.with_items(bodies).into_response())
}

async fn visible_package(state: &AppState, principal: &Principal, id: &str) -> Result<PackageRecord, Problem> {
    let found = state.lifecycle.package(id).await;
    visible(found, principal, |package| &package.project_id, "package", id)
}

async fn show_package(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let package = visible_package(&state, &principal, &id).await?;
    let in_use = state.lifecycle.package_in_use(&id).await?;
    Ok(Json(package_body(&package, in_use)).into_response())
}

async fn package_nsd(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let package = visible_package(&state, &principal, &id).await?;
    let nsd = state.lifecycle.package_nsd(&package).await?;
    let mut response = nsd.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    Ok(response)
}

async fn delete_package(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let package = visible_package(&state, &principal, &id).await?;
    writable(&principal, &package.project_id, "package", &id)?;
    state.lifecycle.delete_package(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The modules of the packages the caller sees, each once.
async fn list_modules(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let mut digests: Vec<String> = state
        .lifecycle
        .packages()
        .await?
        .into_iter()
        .filter(|package| principal.may_read(&package.project_id))
        .flat_map(|package| package.modules.into_iter().map(|module| module.sha256))
        .collect();
    digests.sort();
    digests.dedup();
    let page = paginate(digests, "/wasmano/v1/modules", query.as_deref())?;
    let mut modules = Vec::with_capacity(page.items.len());
    for sha256 in &page.items {
        modules.push(state.lifecycle.module_info(sha256).await?);
    }
    Ok(page.with_items(modules).into_response())
}

async fn list_vims(State(state): State<AppState>) -> Result<Response, Problem> {
    let vims: Vec<Value> = state
        .lifecycle
        .vims()
        .await?
        .into_iter()
        .map(|vim| {
            json!({
                "id": vim.config.id,
                "kind": vim.config.kind,
                "labels": vim.config.labels,
                "cores": vim.config.cores,
                "memoryMb": vim.config.memory_mb,
                "freeCores": vim.config.cores - vim.cores_used,
                "freeMemoryMb": vim.config.memory_mb - vim.memory_used_mb,
            })
        })
        .collect();
    Ok(Json(vims).into_response())
}
