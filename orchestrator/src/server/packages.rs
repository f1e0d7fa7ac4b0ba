//! `/wasmano/v1`: packages (onboarded all-or-nothing from a `.tar.gz` or a
//! 5GTANGO `.tgo`) and the VIMs.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tango_model::descriptor::VimKind;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::body::{Link, Path, Query, located, owning_project, paginate, visible, writable};
use super::problem::{PackageProblem, Problem, ProblemKind};
use super::{AppState, MAX_UPLOAD_BYTES};
use crate::access::Principal;
use crate::lcm::model::{ModuleInfo, PackageDescriptor, PackageModule, PackageRecord};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_packages, onboard_package).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .routes(routes!(show_package, delete_package))
        .routes(routes!(package_nsd))
        .routes(routes!(list_modules))
        .routes(routes!(list_vims))
}

/// The media types a package upload may declare: a `.tar.gz` or a 5GTANGO
/// `.tgo` (a ZIP). The package is read by what the body holds
/// ([`crate::package::Package::read`]), not by the type declared.
const PACKAGE_TYPES: [&str; 5] = [
    "application/gzip",
    "application/x-gzip",
    "application/tar+gzip",
    "application/zip",
    "application/x-zip-compressed",
];

/// Whether an NS instance uses a package.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum UsageState {
    /// An NS instance (in any state) uses it: it cannot be deleted.
    InUse,
    /// None does.
    NotInUse,
}

/// Where a package's parts are.
#[derive(Debug, Serialize, ToSchema)]
struct PackageLinks {
    /// The package.
    #[serde(rename = "self")]
    this: Link,
    /// Its NSD, as YAML.
    nsd: Link,
}

/// A package as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Package {
    /// Its id.
    id: String,
    /// The project owning it.
    project_id: String,
    /// The NSD's identity, `vendor/name/version`.
    nsd_id: String,
    /// The NSD.
    nsd: PackageDescriptor,
    /// The VNFDs.
    vnfds: Vec<PackageDescriptor>,
    /// The modules.
    modules: Vec<PackageModule>,
    /// Always `ONBOARDED`: onboarding is all-or-nothing.
    #[schema(example = "ONBOARDED")]
    onboarding_state: &'static str,
    /// Whether an NS instance uses it.
    usage_state: UsageState,
    /// When it was onboarded (RFC 3339).
    created_at: String,
    /// In the answer to an upload: what is inconsistent in its descriptors
    /// although 5GTANGO ran such descriptors (left out of their model), and
    /// each of the service's VNFs that none of this server's VIMs could
    /// host, even empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<PackageProblem>,
    #[serde(rename = "_links")]
    links: PackageLinks,
}

impl Package {
    /// The API's view of `package`.
    fn of(package: &PackageRecord, in_use: bool) -> Self {
        let href = format!("/wasmano/v1/packages/{}", package.id);
        Self {
            id: package.id.clone(),
            project_id: package.project_id.clone(),
            nsd_id: package.nsd.id.clone(),
            nsd: package.nsd.clone(),
            vnfds: package.vnfds.clone(),
            modules: package.modules.clone(),
            onboarding_state: "ONBOARDED",
            usage_state: if in_use {
                UsageState::InUse
            } else {
                UsageState::NotInUse
            },
            created_at: package.created_at.clone(),
            warnings: Vec::new(),
            links: PackageLinks {
                nsd: Link::to(format!("{href}/nsd")),
                this: Link::to(href),
            },
        }
    }
}

/// A package upload's body, a gzipped tar or a ZIP, read whole; a body that could
/// not be read (too large, cut off) is kept as such, so that the request's
/// other faults are answered first.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
struct Archive(Result<Bytes, BytesRejection>);

impl<S: Send + Sync> FromRequest<S> for Archive {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Infallible> {
        Ok(Self(Bytes::from_request(request, state).await))
    }
}

/// The project a system admin onboards for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ProjectQuery {
    /// The owning project: required with a system token, the token's own
    /// project otherwise.
    project_id: Option<String>,
}

/// Onboards a package: one NSD, its VNFDs and their modules, as a
/// `.tar.gz` or a 5GTANGO `.tgo`, all or nothing.
#[utoipa::path(
    post,
    path = "/wasmano/v1/packages",
    tag = "packages",
    params(ProjectQuery),
    request_body(
        description = "the package, a gzipped tar or a 5GTANGO .tgo (ZIP with TOSCA-Metadata and a NAPD)",
        content(
            (Archive = "application/gzip"),
            (Archive = "application/x-gzip"),
            (Archive = "application/tar+gzip"),
            (Archive = "application/zip"),
            (Archive = "application/x-zip-compressed"),
        )
    ),
    responses(
        (status = 201, description = "onboarded", body = Package,
            headers(("Location" = String, description = "the package"))),
        (status = 200, description = "the same content was onboarded before: the same package", body = Package,
            headers(("Location" = String, description = "the package"))),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "another project than the token's"),
        (status = 409, description = "a descriptor identity is onboarded with other content"),
        (status = 422, description = "the package does not validate, or no such project"),
    )
)]
async fn onboard_package(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ProjectQuery>,
    headers: HeaderMap,
    Archive(body): Archive,
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
    if !media_type
        .as_deref()
        .is_some_and(|media| PACKAGE_TYPES.contains(&media))
    {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!(
                "a package is uploaded as {}, not {}",
                PACKAGE_TYPES.join(" or "),
                media_type.as_deref().unwrap_or("untyped")
            ),
        ));
    }
    let onboarded = state.lifecycle.onboard(&project, body?.to_vec()).await?;
    let in_use = state.lifecycle.package_in_use(&onboarded.package.id).await?;
    let body = Json(Package {
        warnings: onboarded.warnings.iter().map(PackageProblem::from).collect(),
        ..Package::of(&onboarded.package, in_use)
    });
    let location = format!("/wasmano/v1/packages/{}", onboarded.package.id);
    let status = if onboarded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(located(status, &location, body))
}

/// Lists the packages the caller may read, 100 a page.
#[utoipa::path(
    get,
    path = "/wasmano/v1/packages",
    tag = "packages",
    params(("nextpage_opaque_marker" = Option<String>, Query, description = "the page a `Link` header named")),
    responses(
        (status = 200, description = "a page of packages", body = Vec<Package>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "a marker this list did not make"),
    )
)]
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
        bodies.push(Package::of(package, in_use));
    }
    Ok(page.with_items(bodies).into_response())
}

async fn visible_package(state: &AppState, principal: &Principal, id: &str) -> Result<PackageRecord, Problem> {
    let found = state.lifecycle.package(id).await;
    visible(found, principal, |package| &package.project_id, "package", id)
}

/// Shows a package.
#[utoipa::path(
    get,
    path = "/wasmano/v1/packages/{id}",
    tag = "packages",
    params(("id" = String, Path, description = "the package's id")),
    responses(
        (status = 200, description = "the package", body = Package),
        (status = 404, description = "no such package, or another project's"),
    )
)]
async fn show_package(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let package = visible_package(&state, &principal, &id).await?;
    let in_use = state.lifecycle.package_in_use(&id).await?;
    Ok(Json(Package::of(&package, in_use)).into_response())
}

/// A package's NSD, as it was onboarded.
#[utoipa::path(
    get,
    path = "/wasmano/v1/packages/{id}/nsd",
    tag = "packages",
    params(("id" = String, Path, description = "the package's id")),
    responses(
        (status = 200, description = "the NSD (a YAML mapping)", body = Object, content_type = "application/yaml"),
        (status = 404, description = "no such package, or another project's"),
    )
)]
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

/// Deletes a package no NS instance uses.
#[utoipa::path(
    delete,
    path = "/wasmano/v1/packages/{id}",
    tag = "packages",
    params(("id" = String, Path, description = "the package's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such package, or another project's"),
        (status = 409, description = "an NS instance uses it"),
    )
)]
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

/// The modules of the packages the caller sees, each once, 100 a page.
#[utoipa::path(
    get,
    path = "/wasmano/v1/modules",
    tag = "packages",
    params(("nextpage_opaque_marker" = Option<String>, Query, description = "the page a `Link` header named")),
    responses(
        (status = 200, description = "a page of modules", body = Vec<ModuleInfo>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "a marker this list did not make"),
    )
)]
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

/// A VIM and what is free on it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Vim {
    /// Its id.
    id: String,
    /// What it hosts: `vm` or `container`.
    #[schema(value_type = String, example = "container")]
    kind: VimKind,
    /// The policy labels it offers.
    labels: Vec<String>,
    /// Cores in all.
    cores: f64,
    /// Memory in all, in MB.
    memory_mb: f64,
    /// Cores no unit reserves.
    free_cores: f64,
    /// Memory no unit reserves, in MB.
    free_memory_mb: f64,
}

/// Lists the VIMs.
#[utoipa::path(
    get,
    path = "/wasmano/v1/vims",
    tag = "packages",
    responses((status = 200, description = "every VIM", body = Vec<Vim>))
)]
async fn list_vims(State(state): State<AppState>) -> Result<Response, Problem> {
    let vims: Vec<Vim> = state
        .lifecycle
        .vims()
        .await?
        .into_iter()
        .map(|vim| Vim {
            free_cores: vim.config.cores - vim.cores_used,
            free_memory_mb: vim.config.memory_mb - vim.memory_used_mb,
            id: vim.config.id,
            kind: vim.config.kind,
            labels: vim.config.labels.into_iter().collect(),
            cores: vim.config.cores,
            memory_mb: vim.config.memory_mb,
        })
        .collect();
    Ok(Json(vims).into_response())
}
