//! `/admin/v1`: projects and tokens, for system admins only.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::{JsonBody, Path, located};
use super::problem::{Problem, ProblemKind};
use crate::access::{NewToken, Principal, Project, Role, TokenInfo};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(delete_project))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
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

/// A project to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    /// Its name: unique, 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `.`,
    /// `_` or `-`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    name: String,
}

/// Creates a project.
#[utoipa::path(
    post,
    path = "/admin/v1/projects",
    tag = "admin",
    request_body = CreateProject,
    responses(
        (status = 201, description = "the project", body = Project,
            headers(("Location" = String, description = "the project"))),
        (status = 403, description = "not a system admin token"),
        (status = 409, description = "the name is taken"),
    )
)]
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

/// Lists the projects.
#[utoipa::path(
    get,
    path = "/admin/v1/projects",
    tag = "admin",
    responses(
        (status = 200, description = "every project", body = Vec<Project>),
        (status = 403, description = "not a system admin token"),
    )
)]
async fn list_projects(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    Ok(Json(state.access.projects()?).into_response())
}

/// Deletes a project that owns nothing.
#[utoipa::path(
    delete,
    path = "/admin/v1/projects/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "the project's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "not a system admin token"),
        (status = 404, description = "no such project"),
        (status = 409, description = "it still owns packages, NS instances or subscriptions"),
    )
)]
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

/// A token to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateToken {
    /// Its role: `admin` and system `viewer` have no project, `operator`
    /// needs one.
    role: Role,
    /// Its project; none is system scope.
    project_id: Option<String>,
    /// What it is for.
    description: Option<String>,
    /// How long it is accepted; forever when absent.
    expires_in_seconds: Option<u64>,
}

/// A token just issued: the only answer that shows its secret.
#[derive(Debug, Serialize, ToSchema)]
struct IssuedToken {
    #[serde(flatten)]
    info: TokenInfo,
    /// The secret to present as `Authorization: Bearer <token>`.
    token: String,
}

/// Issues a token.
#[utoipa::path(
    post,
    path = "/admin/v1/tokens",
    tag = "admin",
    request_body = CreateToken,
    responses(
        (status = 201, description = "the token, with its secret", body = IssuedToken,
            headers(("Location" = String, description = "the token"))),
        (status = 403, description = "not a system admin token"),
        (status = 422, description = "an unknown project, an operator without one or an admin with one"),
    )
)]
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
    let location = format!("/admin/v1/tokens/{}", info.id);
    Ok(located(
        StatusCode::CREATED,
        &location,
        Json(IssuedToken { info, token: secret }),
    ))
}

/// Lists the tokens, without their secrets.
#[utoipa::path(
    get,
    path = "/admin/v1/tokens",
    tag = "admin",
    responses(
        (status = 200, description = "every token", body = Vec<TokenInfo>),
        (status = 403, description = "not a system admin token"),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, Problem> {
    admin_only(&principal)?;
    Ok(Json(state.access.tokens()?).into_response())
}

/// Revokes a token: it is refused from the next request on.
#[utoipa::path(
    delete,
    path = "/admin/v1/tokens/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "the token's id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 403, description = "not a system admin token"),
        (status = 404, description = "no such token"),
    )
)]
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
