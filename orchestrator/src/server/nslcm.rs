//! `/nslcm/v1`: NS instances, their tasks (each answered 202 with the
//! `Location` of its operation occurrence), operation occurrences with
//! their timelines, retry and fail.

use std::collections::HashMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::{JsonBody, located, owning_project, paginate, visible, writable};
use super::filter::Filter;
use super::problem::{Problem, ProblemKind};
use crate::access::Principal;
use crate::clock::rfc3339;
use crate::lcm::LcmError;
use crate::lcm::model::{CancelMode, NsInstance, OnFailure, OpOccurrence, PlacementRequest, TaskRequest, text_of};
use crate::records::{NsRecord, Status, VnfRecord};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/nslcm/api_versions", get(api_versions))
        .route("/nslcm/v1/api_versions", get(api_versions))
        .route("/nslcm/v1/ns_instances", get(list_instances).post(create_instance))
        .route(
            "/nslcm/v1/ns_instances/{id}",
            get(show_instance).delete(delete_instance),
        )
        .route("/nslcm/v1/ns_instances/{id}/instantiate", post(instantiate))
        .route("/nslcm/v1/ns_instances/{id}/scale", post(scale))
        .route("/nslcm/v1/ns_instances/{id}/migrate", post(migrate))
        .route("/nslcm/v1/ns_instances/{id}/reconfigure", post(reconfigure))
        .route("/nslcm/v1/ns_instances/{id}/terminate", post(terminate))
        .route("/nslcm/v1/ns_instances/{id}/update", post(update))
        .route("/nslcm/v1/ns_instances/{id}/managers", get(managers))
        .route("/nslcm/v1/ns_lcm_op_occs", get(list_operations))
        .route("/nslcm/v1/ns_lcm_op_occs/{id}", get(show_operation))
        .route("/nslcm/v1/ns_lcm_op_occs/{id}/timeline", get(timeline))
        .route("/nslcm/v1/ns_lcm_op_occs/{id}/retry", post(retry))
        .route("/nslcm/v1/ns_lcm_op_occs/{id}/fail", post(fail))
        .route("/nslcm/v1/ns_lcm_op_occs/{id}/rollback", post(rollback))
        .route("/nslcm/v1/ns_lcm_op_occs/{id}/cancel", post(cancel))
}

async fn api_versions() -> Json<Value> {
    Json(json!({
        "uriPrefix": "/nslcm/v1",
        "apiVersions": [{"version": super::API_VERSION, "isDeprecated": false}],
    }))
}

const INSTANCES: &str = "/nslcm/v1/ns_instances";
const OPERATIONS: &str = "/nslcm/v1/ns_lcm_op_occs";

/// The API's view of an NS instance, read from the records.
async fn instance_body(state: &AppState, instance: &NsInstance) -> Result<Value, Problem> {
    let nsr = state.lifecycle.records().ns(&instance.id).await.ok();
    let vnfrs = state.lifecycle.vnfrs(&instance.id).await?;
    Ok(instance_view(instance, nsr.as_ref(), vnfrs))
}

/// The API's view of an NS instance: the stored instance, its NSR's status
/// and its VNF instances: those the NSR lists, and those deployed but not
/// listed yet (an operation is adding them); not the ones terminated or
/// failed and removed by an earlier attempt.
fn instance_view(instance: &NsInstance, nsr: Option<&NsRecord>, mut vnfrs: Vec<VnfRecord>) -> Value {
    let status = nsr.map(|nsr| nsr.status.as_str());
    let listed: &[String] = nsr.map_or(&[], |nsr| &nsr.network_functions);
    // In the NSR's order, instances it does not list last.
    vnfrs.sort_by_key(|vnfr| listed.iter().position(|id| *id == vnfr.id).unwrap_or(usize::MAX));
    let vnfs: Vec<Value> = vnfrs
        .into_iter()
        .filter(|vnfr| listed.contains(&vnfr.id) || !matches!(vnfr.status, Status::Terminated | Status::Failed))
        .map(|vnfr| {
            json!({
                "id": vnfr.id,
                "vnfdId": vnfr.descriptor_reference,
                "vnfProfileId": vnfr.vnf_id,
                "vimId": vnfr.deployment_units.first().map(|unit| unit.vim_id.clone()),
                "status": vnfr.status.as_str(),
            })
        })
        .collect();
    let href = format!("{INSTANCES}/{}", instance.id);
    let link = |task: &str| json!({"href": format!("{href}/{task}")});
    json!({
        "id": instance.id,
        "nsInstanceName": instance.ns_instance_name,
        "nsInstanceDescription": instance.ns_instance_description,
        "nsdId": instance.nsd_id,
        "packageId": instance.package_id,
        "projectId": instance.project_id,
        "nsState": instance.ns_state,
        "status": status,
        "createdAt": instance.created_at,
        "vnfInstance": vnfs,
        "_links": {
            "self": {"href": href},
            "instantiate": link("instantiate"),
            "scale": link("scale"),
            "migrate": link("migrate"),
            "reconfigure": link("reconfigure"),
            "terminate": link("terminate"),
            "update": link("update"),
            "managers": link("managers"),
        },
    })
}

/// The API's view of an operation occurrence.
fn operation_body(operation: &OpOccurrence) -> Value {
    let href = format!("{OPERATIONS}/{}", operation.id);
    let mut body = serde_json::to_value(operation).unwrap_or_else(|_| json!({}));
    if let Value::Object(members) = &mut body {
        members.remove("task");
        members.remove("vnfInstancesBefore");
        members.insert(
            "_links".into(),
            json!({
                "self": {"href": href},
                "nsInstance": {"href": format!("{INSTANCES}/{}", operation.ns_instance_id)},
                "timeline": {"href": format!("{href}/timeline")},
                "retry": {"href": format!("{href}/retry")},
                "rollback": {"href": format!("{href}/rollback")},
                "fail": {"href": format!("{href}/fail")},
                "cancel": {"href": format!("{href}/cancel")},
            }),
        );
    }
    body
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInstance {
    nsd_id: String,
    ns_name: String,
    #[serde(default)]
    ns_description: String,
    project_id: Option<String>,
}

async fn create_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(request): JsonBody<CreateInstance>,
) -> Result<Response, Problem> {
    let project = owning_project(&principal, request.project_id.as_deref())?;
    let instance = state
        .lifecycle
        .create_ns(&project, &request.nsd_id, &request.ns_name, &request.ns_description)
        .await?;
    let body = instance_body(&state, &instance).await?;
    Ok(located(
        StatusCode::CREATED,
        &format!("{INSTANCES}/{}", instance.id),
        Json(body),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceFilter {
    ns_state: Option<String>,
    nsd_id: Option<String>,
    /// SOL013 `filter=` (see [`Filter`]).
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

async fn list_instances(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(filter): Query<InstanceFilter>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let sol013 = parsed(filter.filter.as_deref(), INSTANCE_ATTRIBUTES)?;
    let visible: Vec<NsInstance> = state
        .lifecycle
        .all_ns()
        .await?
        .into_iter()
        .filter(|instance| {
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
        })
        .collect();
    let page = paginate(visible, INSTANCES, query.as_deref())?;
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

async fn show_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let instance = visible_instance(&state, &principal, &id).await?;
    Ok(Json(instance_body(&state, &instance).await?).into_response())
}

async fn managers(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let instance = visible_instance(&state, &principal, &id).await?;
    Ok(Json(state.lifecycle.managers(&instance).await?).into_response())
}

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

/// Starts a task on an instance the caller may change: 202 with the
/// `Location` of its operation occurrence.
async fn start_task(
    state: &AppState,
    principal: &Principal,
    id: &str,
    task: TaskRequest,
    params: Value,
    on_failure: Option<OnFailure>,
) -> Result<Response, Problem> {
    let instance = visible_instance(state, principal, id).await?;
    writable(principal, &instance.project_id, "NS instance", id)?;
    let operation = state
        .lifecycle
        .start(&instance, task, params, on_failure.unwrap_or_default())
        .await?;
    Ok(located(
        StatusCode::ACCEPTED,
        &format!("{OPERATIONS}/{}", operation.id),
        (),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstantiateRequest {
    ns_flavour_id: Option<String>,
    on_failure: Option<OnFailure>,
    #[serde(default)]
    additional_params_for_ns: AdditionalParams,
}

/// `additionalParamsForNs`: wasmano reads `placement`; other keys are kept
/// in the operation's parameters and otherwise ignored.
#[derive(Debug, Default, Deserialize)]
struct AdditionalParams {
    placement: Option<PlacementRequest>,
}

async fn instantiate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Response, Problem> {
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScaleRequest {
    scale_type: String,
    scale_ns_data: ScaleNsData,
    on_failure: Option<OnFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScaleNsData {
    #[serde(default)]
    vnf_instance_to_be_added: Vec<VnfToAdd>,
    #[serde(default)]
    vnf_instance_to_be_removed: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VnfToAdd {
    vnf_profile_id: String,
}

async fn scale(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Response, Problem> {
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MigrateRequest {
    vnf_instance_id: String,
    target_vim_id: String,
    on_failure: Option<OnFailure>,
}

async fn migrate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Response, Problem> {
    let request: MigrateRequest = parse(&params)?;
    let task = TaskRequest::Migrate {
        vnf_instance_id: request.vnf_instance_id,
        target_vim_id: request.target_vim_id,
    };
    start_task(&state, &principal, &id, task, params, request.on_failure).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlainRequest {
    on_failure: Option<OnFailure>,
}

async fn reconfigure(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Response, Problem> {
    let request: PlainRequest = parse(&params)?;
    start_task(
        &state,
        &principal,
        &id,
        TaskRequest::Reconfigure,
        params,
        request.on_failure,
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum TerminationType {
    Graceful,
    Forceful,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TerminateRequest {
    termination_type: Option<TerminationType>,
}

async fn terminate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Response, Problem> {
    let request: TerminateRequest = parse(&params)?;
    let force = matches!(request.termination_type, Some(TerminationType::Forceful));
    start_task(&state, &principal, &id, TaskRequest::Terminate { force }, params, None).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    update_type: String,
    change_manager_data: Option<ChangeManagerData>,
    on_failure: Option<OnFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeManagerData {
    manager_id: String,
    vnf_profile_id: Option<String>,
    module_sha256: String,
}

async fn update(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(params): JsonBody<Value>,
) -> Result<Response, Problem> {
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
    let task = TaskRequest::ChangeManager {
        manager_id: data.manager_id,
        vnf_profile_id: data.vnf_profile_id,
        module_sha256: data.module_sha256,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationFilter {
    ns_instance_id: Option<String>,
    operation_state: Option<String>,
    lcm_operation_type: Option<String>,
    /// SOL013 `filter=` (see [`Filter`]).
    filter: Option<String>,
}

async fn list_operations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(filter): Query<OperationFilter>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let sol013 = parsed(filter.filter.as_deref(), OPERATION_ATTRIBUTES)?;
    let visible: Vec<Value> = state
        .lifecycle
        .operations()
        .await?
        .iter()
        .filter(|operation| {
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
        })
        .map(operation_body)
        .filter(|body| {
            sol013
                .as_ref()
                .is_none_or(|sol013| sol013.matches(|attribute| body.get(attribute).and_then(Value::as_str)))
        })
        .collect();
    Ok(paginate(visible, OPERATIONS, query.as_deref())?.into_response())
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

async fn show_operation(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    Ok(Json(operation_body(&operation)).into_response())
}

async fn timeline(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    let steps: Vec<Value> = state
        .lifecycle
        .records()
        .journal_of_operation(&operation.id)
        .await
        .map_err(LcmError::from)?
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            json!({
                "seq": index + 1,
                "workflow": entry.workflow,
                "step": entry.step,
                "manager": entry.manager,
                "event": entry.event,
                "startedAt": rfc3339(entry.started_at),
                "durationSeconds": entry.duration.as_secs_f64(),
                "outcome": entry.outcome.as_str(),
                "error": entry.error,
            })
        })
        .collect();
    Ok(Json(json!({"nsLcmOpOccId": operation.id, "steps": steps})).into_response())
}

/// Retry and fail take no parameters; their body is read (and must be
/// JSON when present) so that the connection stays usable.
async fn retry(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<Value>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let retried = state.lifecycle.retry(&operation).await?;
    Ok(located(
        StatusCode::ACCEPTED,
        &format!("{OPERATIONS}/{}", retried.id),
        (),
    ))
}

async fn rollback(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<Value>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let rolling = state.lifecycle.rollback(&operation).await?;
    Ok(located(
        StatusCode::ACCEPTED,
        &format!("{OPERATIONS}/{}", rolling.id),
        (),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelRequest {
    cancel_mode: CancelMode,
}

async fn cancel(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CancelRequest>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let pending = state.lifecycle.cancel(&operation, request.cancel_mode).await?;
    Ok(located(
        StatusCode::ACCEPTED,
        &format!("{OPERATIONS}/{}", pending.id),
        (),
    ))
}

async fn fail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<Value>,
) -> Result<Response, Problem> {
    let operation = visible_operation(&state, &principal, &id).await?;
    writable(&principal, &operation.project_id, "operation occurrence", &id)?;
    let failed = state.lifecycle.fail(&operation).await?;
    Ok(Json(operation_body(&failed)).into_response())
}
