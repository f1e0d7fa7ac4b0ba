//! `/admin/v1`: projects and tokens, for system admins only.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::body::{JsonBody, located};
use super::problem::{Problem, ProblemKind};
use crate::access::{NewToken, Principal, Role};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/projects", get(list_projects).post(create_project))
        .route("/admin/v1/projects/{id}", delete(delete_project))
        .route("/admin/v1/tokens", get(list_tokens).post(create_token))
        .route("/admin/v1/tokens/{id}", delete(revoke_token))
}

fn admin_only(principal: &Principal) -> Result<(), Problem> {
    if principal.is_admin() {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            "the admin API needs a system admin token",
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
}

async fn create_project(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(request): JsonBody<CreateProject>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    let project = state.access.create_project(&request.name)?;
    let location = format!("/admin/v1/projects/{}", project.id);
    Ok(located(StatusCode::CREATED, &location, Json(project)))
}

async fn list_projects(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    Ok(Json(state.access.projects()?).into_response())
}

async fn delete_project(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    if state.access.project(&id)?.is_none() {
        return Err(Problem::not_found("project", &id));
    }
    if state.lifecycle.project_in_use(&id).await? || state.subscriptions.owned_by(&id) {
        return Err(Problem::new(
            ProblemKind::StateConflict,
            format!("project {id} still owns packages, NS instances or subscriptions"),
        ));
    }
    state.access.delete_project(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateToken {
    role: Role,
    project_id: Option<String>,
    description: Option<String>,
    expires_in_seconds: Option<u64>,
}

async fn create_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(request): JsonBody<CreateToken>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    let (info, secret) = state.access.issue(NewToken {
        role: request.role,
        project_id: request.project_id,
        description: request.description,
        expires_in: request.expires_in_seconds.map(Duration::from_secs),
    })?;
    let mut body =
        serde_json::to_value(&info).map_err(|error| Problem::new(ProblemKind::Internal, error.to_string()))?;
    body["token"] = json!(secret);
    let location = format!("/admin/v1/tokens/{}", info.id);
    Ok(located(StatusCode::CREATED, &location, Json(body)))
}

async fn list_tokens(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    Ok(Json(state.access.tokens()?).into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    if state.access.revoke(&id)? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found("token", &id))
    }
}
