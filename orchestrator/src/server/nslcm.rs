//! `/nslcm/v1`: NS instances, their tasks (each answered 202 with the
//! `Location` of its operation occurrence), operation occurrences with
//! their timelines, retry and fail.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{RefOr, ResponseBuilder, ResponsesBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::{JsonBody, KeysetPage, Link, PAGE_SIZE, Path, Query, located, owning_project, visible, writable};
use super::filter::Filter;
use super::problem::{Problem, ProblemKind};
use crate::access::Principal;
use crate::clock::rfc3339;
use crate::lcm::LcmError;
use crate::lcm::model::{
    CancelMode, ManagerInfo, NewManagerSource, NsInstance, OnFailure, OpOccurrence, PlacementRequest, TaskRequest,
    text_of,
};
use crate::records::{NsRecord, Status, VnfRecord};
use tango_model::ssm::WorkflowRequest;
use wasmano_host::Reply;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api_versions))
        .routes(routes!(api_versions_v1))
        .routes(routes!(list_instances, create_instance))
        .routes(routes!(show_instance, delete_instance))
        .routes(routes!(instantiate))
        .routes(routes!(scale))
        .routes(routes!(migrate))
        .routes(routes!(reconfigure))
        .routes(routes!(monitoring))
        .routes(routes!(terminate))
        .routes(routes!(update))
        .routes(routes!(managers))
        .routes(routes!(list_operations))
        .routes(routes!(show_operation))
        .routes(routes!(timeline))
        .routes(routes!(retry))
        .routes(routes!(fail))
        .routes(routes!(rollback))
        .routes(routes!(cancel))
}

/// The API versions this server speaks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ApiVersions {
    /// Where the lifecycle API is.
    #[schema(example = "/nslcm/v1")]
    uri_prefix: &'static str,
    /// The versions served there.
    api_versions: Vec<ApiVersion>,
}

/// One API version.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ApiVersion {
    /// `major.minor.patch`.
    #[schema(example = "1.0.0")]
    version: &'static str,
    /// Whether it goes away.
    is_deprecated: bool,
}

impl ApiVersions {
    fn served() -> Json<Self> {
        Json(Self {
            uri_prefix: "/nslcm/v1",
            api_versions: vec![ApiVersion {
                version: super::API_VERSION,
                is_deprecated: false,
            }],
        })
    }
}

/// The API versions served (SOL013).
#[utoipa::path(
    get,
    path = "/nslcm/api_versions",
    tag = "nslcm",
    responses((status = 200, description = "the versions", body = ApiVersions))
)]
async fn api_versions() -> Json<ApiVersions> {
    ApiVersions::served()
}

/// The API versions served, under the version's prefix (SOL013).
#[utoipa::path(
    get,
    path = "/nslcm/v1/api_versions",
    tag = "nslcm",
    responses((status = 200, description = "the versions", body = ApiVersions))
)]
async fn api_versions_v1() -> Json<ApiVersions> {
    ApiVersions::served()
}

const INSTANCES: &str = "/nslcm/v1/ns_instances";
const OPERATIONS: &str = "/nslcm/v1/ns_lcm_op_occs";

/// A VNF instance of an NS instance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VnfInstance {
    /// Its id (its VNFR's).
    id: String,
    /// Its VNFD, `vendor/name/version`.
    vnfd_id: String,
    /// The NSD's `vnf_id` it is an instance of.
    vnf_profile_id: String,
    /// The VIM of its first deployment unit, once deployed.
    vim_id: Option<String>,
    /// Its VNFR's status.
    #[schema(example = "normal operation")]
    status: &'static str,
}

/// Where an NS instance's tasks are.
#[derive(Debug, Serialize, ToSchema)]
struct InstanceLinks {
    /// The instance.
    #[serde(rename = "self")]
    this: Link,
    instantiate: Link,
    scale: Link,
    migrate: Link,
    reconfigure: Link,
    terminate: Link,
    update: Link,
    managers: Link,
}

/// An NS instance as the API shows it: the stored instance, its NSR's
/// status and its VNF instances.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NsInstanceView {
    #[serde(flatten)]
    instance: NsInstance,
    /// The NSR's status, once there is an NSR.
    #[schema(example = "normal operation")]
    status: Option<&'static str>,
    /// Its VNF instances.
    vnf_instance: Vec<VnfInstance>,
    #[serde(rename = "_links")]
    links: InstanceLinks,
}

/// The API's view of an NS instance, read from the records.
async fn instance_body(state: &AppState, instance: &NsInstance) -> Result<NsInstanceView, Problem> {
    let nsr = state.lifecycle.records().ns(&instance.id).await.ok();
    let vnfrs = state.lifecycle.vnfrs(&instance.id).await?;
    Ok(instance_view(instance, nsr.as_ref(), vnfrs))
}

/// The API's view of an NS instance: the stored instance, its NSR's status
/// and its VNF instances: those the NSR lists, and those deployed but not
/// listed yet (an operation is adding them); not the ones terminated or
/// failed and removed by an earlier attempt.
fn instance_view(instance: &NsInstance, nsr: Option<&NsRecord>, mut vnfrs: Vec<VnfRecord>) -> NsInstanceView {
    let status = nsr.map(|nsr| nsr.status.as_str());
    let listed: &[String] = nsr.map_or(&[], |nsr| &nsr.network_functions);
    // In the NSR's order, instances it does not list last.
    vnfrs.sort_by_key(|vnfr| listed.iter().position(|id| *id == vnfr.id).unwrap_or(usize::MAX));
    let vnfs = vnfrs
        .into_iter()
        .filter(|vnfr| listed.contains(&vnfr.id) || !matches!(vnfr.status, Status::Terminated | Status::Failed))
        .map(|vnfr| VnfInstance {
            vim_id: vnfr.deployment_units.first().map(|unit| unit.vim_id.clone()),
            status: vnfr.status.as_str(),
            id: vnfr.id,
            vnfd_id: vnfr.descriptor_reference,
            vnf_profile_id: vnfr.vnf_id,
        })
        .collect();
    let href = format!("{INSTANCES}/{}", instance.id);
    let link = |task: &str| Link::to(format!("{href}/{task}"));
    NsInstanceView {
        instance: instance.clone(),
        status,
        vnf_instance: vnfs,
        links: InstanceLinks {
            instantiate: link("instantiate"),
            scale: link("scale"),
            migrate: link("migrate"),
            reconfigure: link("reconfigure"),
            terminate: link("terminate"),
            update: link("update"),
            managers: link("managers"),
            this: Link::to(href),
        },
    }
}

/// Where an operation occurrence's controls are.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OperationLinks {
    /// The occurrence.
    #[serde(rename = "self")]
    this: Link,
    ns_instance: Link,
    timeline: Link,
    retry: Link,
    rollback: Link,
    fail: Link,
    cancel: Link,
}

/// An operation occurrence as the API shows it: the stored occurrence
/// without what only the lifecycle reads (`task`, `vnfInstancesBefore`).
#[derive(Debug, Serialize, ToSchema)]
struct NsLcmOpOcc<'a> {
    #[serde(flatten)]
    operation: &'a OpOccurrence,
    #[serde(rename = "_links")]
    links: OperationLinks,
}

/// The API's view of an operation occurrence.
fn operation_body(operation: &OpOccurrence) -> Value {
    let href = format!("{OPERATIONS}/{}", operation.id);
    let link = |control: &str| Link::to(format!("{href}/{control}"));
    let view = NsLcmOpOcc {
        operation,
        links: OperationLinks {
            ns_instance: Link::to(format!("{INSTANCES}/{}", operation.ns_instance_id)),
            timeline: link("timeline"),
            retry: link("retry"),
            rollback: link("rollback"),
            fail: link("fail"),
            cancel: link("cancel"),
            this: Link::to(href.clone()),
        },
    };
    let mut body = serde_json::to_value(view).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Value::Object(members) = &mut body {
        members.remove("task");
        members.remove("vnfInstancesBefore");
    }
    body
}

/// An NS instance to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreateInstance {
    /// The NSD, `vendor/name/version`, of a package the project onboarded.
    #[schema(example = "eu.wasmano/demo-web-service/1.0")]
    nsd_id: String,
    /// The instance's name.
    ns_name: String,
    /// Its description.
    #[serde(default)]
    ns_description: String,
    /// The owning project: required with a system token, the token's own
    /// project otherwise.
    project_id: Option<String>,
    /// Record the instance's hook calls for `wasmano sm replay` (a wasmano
    /// extension; default false).
    #[serde(default)]
    record_hook_calls: bool,
}

/// Creates an NS instance (NOT_INSTANTIATED).
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances",
    tag = "nslcm",
    request_body = CreateInstance,
    responses(
        (status = 201, description = "the instance", body = NsInstanceView,
            headers(("Location" = String, description = "the instance"))),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "another project than the token's"),
        (status = 422, description = "no such NSD in the project, or no such project"),
    )
)]
async fn create_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(request): JsonBody<CreateInstance>,
) -> Result<Response, Problem> {
    let project = owning_project(&principal, request.project_id.as_deref())?;
    let instance = state
        .lifecycle
        .create_ns(
            &project,
            &request.nsd_id,
            &request.ns_name,
            &request.ns_description,
            request.record_hook_calls,
        )
        .await?;
    let body = instance_body(&state, &instance).await?;
    Ok(located(
        StatusCode::CREATED,
        &format!("{INSTANCES}/{}", instance.id),
        Json(body),
    ))
}

/// Which NS instances a list shows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct InstanceFilter {
    /// Only those in this state (`NOT_INSTANTIATED`, `INSTANTIATED`).
    ns_state: Option<String>,
    /// Only those of this NSD.
    nsd_id: Option<String>,
    /// SOL013 filter, `(op,attribute,value[,value…])[;…]`: op `eq`, `neq`,
    /// `in` or `nin`; attribute `id`, `nsInstanceName`,
    /// `nsInstanceDescription`, `nsdId` or `nsState`.
    filter: Option<String>,
}

/// The attributes `filter=` may name on NS instances.
const INSTANCE_ATTRIBUTES: &[&str] = &["id", "nsInstanceName", "nsInstanceDescription", "nsdId", "nsState"];

/// The attributes `filter=` may name on operation occurrences.
const OPERATION_ATTRIBUTES: &[&str] = &[
    "id",
    "nsInstanceId",
    "operationState",
    "lcmOperationType",
    "startTime",
    "stateEnteredTime",
];

/// The SOL013 filter of a list, when the query has one.
fn parsed(filter: Option<&str>, attributes: &[&str]) -> Result<Option<Filter>, Problem> {
    filter.map(|text| Filter::parse(text, attributes)).transpose()
}

/// Lists the NS instances the caller may read, 100 a page.
#[utoipa::path(
    get,
    path = "/nslcm/v1/ns_instances",
    tag = "nslcm",
    params(InstanceFilter, ("nextpage_opaque_marker" = Option<String>, Query, description = "the page a `Link` header named")),
    responses(
        (status = 200, description = "a page of NS instances", body = Vec<NsInstanceView>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "a marker this list did not make, or an unreadable filter"),
    )
)]
async fn list_instances(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(filter): Query<InstanceFilter>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let sol013 = parsed(filter.filter.as_deref(), INSTANCE_ATTRIBUTES)?;
    let paging = KeysetPage::of(query.as_deref())?;
    let keep = move |instance: &NsInstance| {
        principal.may_read(&instance.project_id)
            && sol013.as_ref().is_none_or(|sol013| {
                let ns_state = text_of(&instance.ns_state);
                sol013.matches(|attribute| match attribute {
                    "id" => Some(instance.id.as_str()),
                    "nsInstanceName" => Some(instance.ns_instance_name.as_str()),
                    "nsInstanceDescription" => Some(instance.ns_instance_description.as_str()),
                    "nsdId" => Some(instance.nsd_id.as_str()),
                    "nsState" => Some(ns_state.as_str()),
                    _ => None,
                })
            })
            && filter
                .ns_state
                .as_ref()
                .is_none_or(|wanted| *wanted == text_of(&instance.ns_state))
            && filter.nsd_id.as_ref().is_none_or(|wanted| *wanted == instance.nsd_id)
    };
    let listed = state.lifecycle.ns_page(paging.after, PAGE_SIZE, keep).await?;
    let page = paging.answer(listed.items, INSTANCES, listed.more_after);
    // Two record queries per page, whatever its length.
    let ids: Vec<String> = page.items.iter().map(|instance| instance.id.clone()).collect();
    let records = state.lifecycle.records();
    let mut nsrs: HashMap<String, NsRecord> = records
        .ns_many(ids.clone())
        .await
        .map_err(LcmError::from)?
        .into_iter()
        .map(|nsr| (nsr.id.clone(), nsr))
        .collect();
    let mut vnfrs: HashMap<String, Vec<VnfRecord>> = HashMap::new();
    for vnfr in records.vnfs_of_many(ids).await.map_err(LcmError::from)? {
        vnfrs.entry(vnfr.service_id.clone()).or_default().push(vnfr);
    }
    Ok(page
        .map(|instance| {
            let nsr = nsrs.remove(&instance.id);
            instance_view(&instance, nsr.as_ref(), vnfrs.remove(&instance.id).unwrap_or_default())
        })
        .into_response())
}

async fn visible_instance(state: &AppState, principal: &Principal, id: &str) -> Result<NsInstance, Problem> {
    let found = state.lifecycle.ns(id).await;
    visible(found, principal, |instance| &instance.project_id, "NS instance", id)
}

/// Shows an NS instance.
#[utoipa::path(
    get,
    path = "/nslcm/v1/ns_instances/{id}",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    responses(
        (status = 200, description = "the NS instance", body = NsInstanceView),
        (status = 404, description = "no such NS instance, or another project's"),
    )
)]
async fn show_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let instance = visible_instance(&state, &principal, &id).await?;
    Ok(Json(instance_body(&state, &instance).await?).into_response())
}

/// The specific managers an NS instance runs.
#[utoipa::path(
    get,
    path = "/nslcm/v1/ns_instances/{id}/managers",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    responses(
        (status = 200, description = "its managers", body = Vec<ManagerInfo>),
        (status = 404, description = "no such NS instance, or another project's"),
    )
)]
async fn managers(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let instance = visible_instance(&state, &principal, &id).await?;
    Ok(Json(state.lifecycle.managers(&instance).await?).into_response())
}

/// Deletes an NS instance that is not instantiated and has no open
/// operation.
#[utoipa::path(
    delete,
    path = "/nslcm/v1/ns_instances/{id}",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is instantiated, or an operation is open"),
    )
)]
async fn delete_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let instance = visible_instance(&state, &principal, &id).await?;
    writable(&principal, &instance.project_id, "NS instance", &id)?;
    state.lifecycle.delete_ns(&instance).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What a task, a retry, a rollback and a cancel answer: 202 with the
/// `Location` of the operation occurrence, to follow.
#[derive(Debug)]
struct Started {
    /// The operation occurrence.
    operation_id: String,
}

impl IntoResponse for Started {
    fn into_response(self) -> Response {
        located(StatusCode::ACCEPTED, &format!("{OPERATIONS}/{}", self.operation_id), ())
    }
}

impl utoipa::IntoResponses for Started {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let location = HeaderBuilder::new()
            .schema(Object::with_type(Type::String))
            .description(Some(format!("the operation occurrence, `{OPERATIONS}/{{id}}`")))
            .build();
        ResponsesBuilder::new()
            .response(
                "202",
                ResponseBuilder::new()
                    .description("accepted: follow the operation occurrence")
                    .header("Location", location),
            )
            .build()
            .into()
    }
}

/// Starts a task on an instance the caller may change.
async fn start_task(
    state: &AppState,
    principal: &Principal,
    id: &str,
    task: TaskRequest,
    params: Value,
    on_failure: Option<OnFailure>,
) -> Result<Started, Problem> {
    let instance = visible_instance(state, principal, id).await?;
    writable(principal, &instance.project_id, "NS instance", id)?;
    let operation = state
        .lifecycle
        .start(&instance, task, params, on_failure.unwrap_or_default())
        .await?;
    Ok(Started {
        operation_id: operation.id,
    })
}

/// Deploys the service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct InstantiateRequest {
    /// Only `default`.
    ns_flavour_id: Option<String>,
    /// What a failing step does; `ROLLBACK` when absent.
    on_failure: Option<OnFailure>,
    #[serde(default)]
    additional_params_for_ns: AdditionalParams,
}

/// `additionalParamsForNs`: wasmano reads `placement`; other keys are kept
/// in the operation's parameters and otherwise ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct AdditionalParams {
    /// How to place the VNFs, over the server's settings (kept for the
    /// instance's later scale-outs and migrations).
    placement: Option<PlacementRequest>,
}

/// Starts the instantiation of an NS instance.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/instantiate",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body(content = InstantiateRequest, description = "an empty body reads as `{}`"),
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is instantiated, or an operation is open"),
        (status = 422, description = "another flavour than `default`, or a placement naming unknown VIMs or VNFs"),
    )
)]
async fn instantiate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Started, Problem> {
    let request: InstantiateRequest = parse(&params)?;
    if let Some(flavour) = request.ns_flavour_id.filter(|flavour| flavour != "default") {
        return Err(Problem::new(
            ProblemKind::Unprocessable,
            format!("NS flavour {flavour:?}: only \"default\" exists"),
        ));
    }
    start_task(
        &state,
        &principal,
        &id,
        TaskRequest::Instantiate {
            placement: request.additional_params_for_ns.placement,
        },
        params,
        request.on_failure,
    )
    .await
}

/// SOL005's ScaleNsRequest: one VNF instance added or removed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ScaleRequest {
    /// Only `SCALE_NS`.
    #[schema(pattern = "^SCALE_NS$")]
    scale_type: String,
    scale_ns_data: ScaleNsData,
    /// What a failing step does; `ROLLBACK` when absent.
    on_failure: Option<OnFailure>,
}

/// Exactly one VNF instance to add or to remove.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ScaleNsData {
    /// Scale-out: a new instance of this NSD VNF.
    #[serde(default)]
    #[schema(max_items = 1)]
    vnf_instance_to_be_added: Vec<VnfToAdd>,
    /// Scale-in: the id of the VNF instance to remove.
    #[serde(default)]
    #[schema(max_items = 1)]
    vnf_instance_to_be_removed: Vec<String>,
}

/// A VNF instance to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VnfToAdd {
    /// The NSD's `vnf_id`.
    vnf_profile_id: String,
}

/// Starts a scale-out or a scale-in of an NS instance.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/scale",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body = ScaleRequest,
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is not instantiated, or an operation is open"),
        (status = 422, description = "no such VNF profile or VNF instance"),
    )
)]
async fn scale(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Started, Problem> {
    let request: ScaleRequest = parse(&params)?;
    if request.scale_type != "SCALE_NS" {
        return Err(Problem::new(
            ProblemKind::Validation,
            format!("scaleType {:?}: only SCALE_NS is supported", request.scale_type),
        ));
    }
    let data = request.scale_ns_data;
    let task = match (
        data.vnf_instance_to_be_added.as_slice(),
        data.vnf_instance_to_be_removed.as_slice(),
    ) {
        ([added], []) => TaskRequest::ScaleOut {
            vnf_profile_id: added.vnf_profile_id.clone(),
        },
        ([], [removed]) => TaskRequest::ScaleIn {
            vnf_instance_id: removed.clone(),
        },
        _ => {
            return Err(Problem::new(
                ProblemKind::Validation,
                "scaleNsData names exactly one VNF instance to add or to remove",
            ));
        }
    };
    start_task(&state, &principal, &id, task, params, request.on_failure).await
}

/// A VNF instance to move to another VIM.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MigrateRequest {
    /// The VNF instance.
    vnf_instance_id: String,
    /// The VIM it goes to.
    target_vim_id: String,
    /// What a failing step does; `ROLLBACK` when absent.
    on_failure: Option<OnFailure>,
}

/// Starts the migration of a VNF instance to another VIM.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/migrate",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body = MigrateRequest,
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is not instantiated, or an operation is open"),
        (status = 422, description = "no such VNF instance or VIM, the VIM it is on, or a VIM of the wrong kind"),
    )
)]
async fn migrate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Started, Problem> {
    let request: MigrateRequest = parse(&params)?;
    let task = TaskRequest::Migrate {
        vnf_instance_id: request.vnf_instance_id,
        target_vim_id: request.target_vim_id,
    };
    start_task(&state, &principal, &id, task, params, request.on_failure).await
}

/// A task with no parameters but what a failure does.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PlainRequest {
    /// What a failing step does; `ROLLBACK` when absent.
    on_failure: Option<OnFailure>,
}

/// Starts configuring the VNFs of an NS instance again.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/reconfigure",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body(content = PlainRequest, description = "an empty body reads as `{}`"),
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is not instantiated, or an operation is open"),
    )
)]
async fn reconfigure(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Started, Problem> {
    let request: PlainRequest = parse(&params)?;
    start_task(
        &state,
        &principal,
        &id,
        TaskRequest::Reconfigure {
            reconfiguration_payload: None,
        },
        params,
        request.on_failure,
    )
    .await
}

/// What the service's monitor manager made of monitoring data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MonitoringOutcome {
    /// The workflows the manager asked for, in order
    /// (`{workflow: scale_out | scale_in | reconfigure, ...}`).
    #[schema(value_type = Vec<Object>)]
    workflows: Value,
    /// The operation occurrence started for the first of them, if any
    /// (`isAutomaticInvocation` true).
    ns_lcm_op_occ_id: Option<String>,
    /// What the manager asked for beyond that operation, not started: one
    /// operation runs at a time, so the monitoring system sends its data
    /// again.
    #[schema(value_type = Vec<Object>)]
    deferred: Value,
}

/// Hands monitoring data (an alert, any JSON object) to the NS instance's
/// monitor manager, and starts the first workflow it asks for (a wasmano
/// extension: 5GTANGO's SLM forwarded monitoring alerts to the SSM).
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/monitoring",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body(content = Object, description = "the monitoring data, a JSON object"),
    responses(
        (status = 200, description = "what the monitor manager asked for, and the operation started", body = MonitoringOutcome),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is not instantiated, or an operation is open"),
        (status = 422, description = "the data is not a JSON object, the service has no monitor manager, or the manager failed"),
    )
)]
async fn monitoring(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(data): JsonBody<Value>,
) -> Result<Json<MonitoringOutcome>, Problem> {
    if !data.is_object() {
        return Err(Problem::new(
            ProblemKind::Unprocessable,
            "the monitoring data must be a JSON object",
        ));
    }
    let instance = visible_instance(&state, &principal, &id).await?;
    writable(&principal, &instance.project_id, "NS instance", &id)?;
    let monitored = state.lifecycle.monitor(&instance, data).await?;
    let workflows = |requests: Vec<WorkflowRequest>| Reply::Workflows(requests).to_tango()["workflows"].take();
    Ok(Json(MonitoringOutcome {
        workflows: workflows(monitored.requests),
        ns_lcm_op_occ_id: monitored.operation.map(|operation| operation.id),
        deferred: workflows(monitored.deferred),
    }))
}

/// How a termination treats failing FSM stop hooks.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum TerminationType {
    /// Stop at the first failing hook.
    Graceful,
    /// Go on past failing hooks, journaling them.
    Forceful,
}

/// A termination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TerminateRequest {
    /// `GRACEFUL` when absent.
    termination_type: Option<TerminationType>,
}

/// Starts the termination of an NS instance.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/terminate",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body(content = TerminateRequest, description = "an empty body reads as `{}`"),
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "it is not instantiated, or an operation is open"),
    )
)]
async fn terminate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Started, Problem> {
    let request: TerminateRequest = parse(&params)?;
    let force = matches!(request.termination_type, Some(TerminationType::Forceful));
    start_task(&state, &principal, &id, TaskRequest::Terminate { force }, params, None).await
}

/// An update: only `CHANGE_MANAGER`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    /// Only `CHANGE_MANAGER`.
    #[schema(pattern = "^CHANGE_MANAGER$")]
    update_type: String,
    /// Required with `CHANGE_MANAGER`.
    change_manager_data: Option<ChangeManagerData>,
    /// What a failing step does; `ROLLBACK` when absent.
    on_failure: Option<OnFailure>,
}

/// A manager to run from another onboarded module, or from another
/// container image: at most one of `moduleSha256` and `image`; with
/// neither, the update its descriptor declares (5GTANGO's update directive:
/// an entry repeating the id with `currentId`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeManagerData {
    /// The manager's id in its descriptor.
    manager_id: String,
    /// The NSD's `vnf_id` of its VNF, for a function manager.
    vnf_profile_id: Option<String>,
    /// The module to run it from, onboarded in the project.
    module_sha256: Option<String>,
    /// The image to run it from, as a legacy container manager.
    image: Option<String>,
}

/// Starts changing the module a specific manager runs from.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_instances/{id}/update",
    tag = "nslcm",
    params(("id" = String, Path, description = "the NS instance's id")),
    request_body = UpdateRequest,
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such NS instance, or another project's"),
        (status = 409, description = "an operation is open"),
        (status = 422, description = "the module is not onboarded, of the wrong kind or contract, or misses an event; the image reference is empty; or neither is named and the descriptor declares no update of the manager"),
    )
)]
async fn update(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Started, Problem> {
    let request: UpdateRequest = parse(&params)?;
    let data = match (request.update_type.as_str(), request.change_manager_data) {
        ("CHANGE_MANAGER", Some(data)) => data,
        ("CHANGE_MANAGER", None) => {
            return Err(Problem::new(
                ProblemKind::Validation,
                "updateType CHANGE_MANAGER needs changeManagerData",
            ));
        }
        (other, _) => {
            return Err(Problem::new(
                ProblemKind::Validation,
                format!("updateType {other:?}: only CHANGE_MANAGER is supported"),
            ));
        }
    };
    let source = match (data.module_sha256, data.image) {
        (Some(sha256), None) => NewManagerSource::ModuleSha256(sha256),
        (None, Some(image)) => NewManagerSource::Image(image),
        (None, None) => {
            let instance = visible_instance(&state, &principal, &id).await?;
            let vnf_id = data.vnf_profile_id.as_deref();
            state
                .lifecycle
                .declared_update(&instance, &data.manager_id, vnf_id)
                .await?
        }
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                ProblemKind::Validation,
                "changeManagerData names moduleSha256 or image, not both",
            ));
        }
    };
    let task = TaskRequest::ChangeManager {
        manager_id: data.manager_id,
        vnf_profile_id: data.vnf_profile_id,
        source,
    };
    start_task(&state, &principal, &id, task, params, request.on_failure).await
}

/// A request body read into its typed shape (the raw document is kept as
/// the operation's parameters).
fn parse<T: serde::de::DeserializeOwned>(params: &Value) -> Result<T, Problem> {
    if !params.is_object() {
        return Err(Problem::new(
            ProblemKind::Validation,
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_value(params.clone())
        .map_err(|error| Problem::new(ProblemKind::Validation, format!("request body: {error}")))
}

/// Which operation occurrences a list shows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct OperationFilter {
    /// Only those of this NS instance.
    ns_instance_id: Option<String>,
    /// Only those in this state (`PROCESSING`, `FAILED_TEMP`, …).
    operation_state: Option<String>,
    /// Only those of this type (`INSTANTIATE`, `SCALE`, …).
    lcm_operation_type: Option<String>,
    /// SOL013 filter, `(op,attribute,value[,value…])[;…]`: op `eq`, `neq`,
    /// `in` or `nin`; attribute `id`, `nsInstanceId`, `operationState`,
    /// `lcmOperationType`, `startTime` or `stateEnteredTime`.
    filter: Option<String>,
}

/// Lists the operation occurrences the caller may read, 100 a page.
#[utoipa::path(
    get,
    path = "/nslcm/v1/ns_lcm_op_occs",
    tag = "nslcm",
    params(OperationFilter, ("nextpage_opaque_marker" = Option<String>, Query, description = "the page a `Link` header named")),
    responses(
        (status = 200, description = "a page of operation occurrences", body = Vec<NsLcmOpOcc>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "a marker this list did not make, or an unreadable filter"),
    )
)]
async fn list_operations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(filter): Query<OperationFilter>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let sol013 = parsed(filter.filter.as_deref(), OPERATION_ATTRIBUTES)?;
    let paging = KeysetPage::of(query.as_deref())?;
    let keep = move |operation: &OpOccurrence| {
        principal.may_read(&operation.project_id)
            && filter
                .ns_instance_id
                .as_ref()
                .is_none_or(|wanted| *wanted == operation.ns_instance_id)
            && filter
                .operation_state
                .as_ref()
                .is_none_or(|wanted| *wanted == text_of(&operation.operation_state))
            && filter
                .lcm_operation_type
                .as_ref()
                .is_none_or(|wanted| *wanted == text_of(&operation.lcm_operation_type))
            && sol013.as_ref().is_none_or(|sol013| {
                let body = operation_body(operation);
                sol013.matches(|attribute| body.get(attribute).and_then(Value::as_str))
            })
    };
    let listed = state.lifecycle.operations_page(paging.after, PAGE_SIZE, keep).await?;
    let bodies = listed.items.iter().map(operation_body).collect();
    Ok(paging.answer(bodies, OPERATIONS, listed.more_after).into_response())
}

async fn visible_operation(state: &AppState, principal: &Principal, id: &str) -> Result<OpOccurrence, Problem> {
    let found = state.lifecycle.operation(id).await;
    visible(
        found,
        principal,
        |operation| &operation.project_id,
        "operation occurrence",
        id,
    )
}

/// Shows an operation occurrence.
#[utoipa::path(
    get,
    path = "/nslcm/v1/ns_lcm_op_occs/{id}",
    tag = "nslcm",
    params(("id" = String, Path, description = "the operation occurrence's id")),
    responses(
        (status = 200, description = "the operation occurrence", body = NsLcmOpOcc),
        (status = 404, description = "no such operation occurrence, or another project's"),
    )
)]
async fn show_operation(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    Ok(Json(operation_body(&operation)).into_response())
}

/// The journal of an operation occurrence.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Timeline {
    /// The operation occurrence.
    ns_lcm_op_occ_id: String,
    /// Its steps, in order.
    steps: Vec<TimelineStep>,
}

/// One journaled step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TimelineStep {
    /// 1, 2, … in the order they ran.
    seq: usize,
    /// The workflow that ran it.
    workflow: String,
    /// The step's name.
    step: String,
    /// The manager it called, when it ran a hook.
    manager: Option<String>,
    /// The hook's event, when it ran one.
    event: Option<String>,
    /// When it started (RFC 3339).
    started_at: String,
    /// How long it took.
    duration_seconds: f64,
    /// `succeeded`, `failed`, `rolled back` or `intended`.
    #[schema(example = "succeeded")]
    outcome: &'static str,
    /// Why it failed, when it did.
    error: Option<String>,
}

/// The steps an operation occurrence ran, from the journal.
#[utoipa::path(
    get,
    path = "/nslcm/v1/ns_lcm_op_occs/{id}/timeline",
    tag = "nslcm",
    params(("id" = String, Path, description = "the operation occurrence's id")),
    responses(
        (status = 200, description = "its timeline", body = Timeline),
        (status = 404, description = "no such operation occurrence, or another project's"),
    )
)]
async fn timeline(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    let steps = state
        .lifecycle
        .records()
        .journal_of_operation(&operation.id)
        .await
        .map_err(LcmError::from)?
        .into_iter()
        .enumerate()
        .map(|(index, entry)| TimelineStep {
            seq: index + 1,
            started_at: rfc3339(entry.started_at),
            duration_seconds: entry.duration.as_secs_f64(),
            outcome: entry.outcome.as_str(),
            workflow: entry.workflow,
            step: entry.step,
            manager: entry.manager,
            event: entry.event,
            error: entry.error,
        })
        .collect();
    Ok(Json(Timeline {
        ns_lcm_op_occ_id: operation.id,
        steps,
    })
    .into_response())
}

/// Retries an operation occurrence in FAILED_TEMP: undoes the failed
/// attempt, then runs the task again. (Retry, rollback and fail take no
/// parameters; their body is read, and must be JSON when present, so that
/// the connection stays usable.)
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_lcm_op_occs/{id}/retry",
    tag = "nslcm",
    params(("id" = String, Path, description = "the operation occurrence's id")),
    request_body(content = Option<Object>, description = "none is needed"),
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such operation occurrence, or another project's"),
        (status = 409, description = "it is not FAILED_TEMP"),
    )
)]
async fn retry(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(_ignored): JsonBody<Value>,
) -> Result<Started, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let retried = state.lifecycle.retry(&operation).await?;
    Ok(Started {
        operation_id: retried.id,
    })
}

/// Rolls an operation occurrence in FAILED_TEMP back to the VNF instances
/// the service had before it.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_lcm_op_occs/{id}/rollback",
    tag = "nslcm",
    params(("id" = String, Path, description = "the operation occurrence's id")),
    request_body(content = Option<Object>, description = "none is needed"),
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such operation occurrence, or another project's"),
        (status = 409, description = "it is not FAILED_TEMP"),
    )
)]
async fn rollback(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(_ignored): JsonBody<Value>,
) -> Result<Started, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let rolling = state.lifecycle.rollback(&operation).await?;
    Ok(Started {
        operation_id: rolling.id,
    })
}

/// How to cancel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelRequest {
    /// `GRACEFUL` (at the next step boundary) or `FORCEFUL` (also stops
    /// the running hook at once).
    cancel_mode: CancelMode,
}

/// Cancels a PROCESSING operation occurrence: it ends in FAILED_TEMP,
/// what it did kept.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_lcm_op_occs/{id}/cancel",
    tag = "nslcm",
    params(("id" = String, Path, description = "the operation occurrence's id")),
    request_body = CancelRequest,
    responses(
        Started,
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such operation occurrence, or another project's"),
        (status = 409, description = "it is not PROCESSING"),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CancelRequest>,
) -> Result<Started, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let pending = state.lifecycle.cancel(&operation, request.cancel_mode).await?;
    Ok(Started {
        operation_id: pending.id,
    })
}

/// Gives an operation occurrence in FAILED_TEMP up: FAILED, what is
/// deployed stays recorded.
#[utoipa::path(
    post,
    path = "/nslcm/v1/ns_lcm_op_occs/{id}/fail",
    tag = "nslcm",
    params(("id" = String, Path, description = "the operation occurrence's id")),
    request_body(content = Option<Object>, description = "none is needed"),
    responses(
        (status = 200, description = "the operation occurrence, FAILED", body = NsLcmOpOcc),
        (status = 403, description = "a viewer token"),
        (status = 404, description = "no such operation occurrence, or another project's"),
        (status = 409, description = "it is not FAILED_TEMP"),
    )
)]
async fn fail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(_ignored): JsonBody<Value>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let failed = state.lifecycle.fail(&operation).await?;
    Ok(Json(operation_body(&failed)).into_response())
}
