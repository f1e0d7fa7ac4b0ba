//! Example task and monitor SSM: makes the instantiation workflow configure
//! the service, and turns monitoring alerts into scaling requests.
//!
//! Task: 5GTANGO's industrial-pilot SSM rewrote the instantiation schedule so
//! the SLM would call its configure event, which a schedule does not contain
//! by default. This manager inserts `configure_ssm` right after `vnfs_start`
//! (the VNFs are up, so their records hold addresses to configure with), or
//! before `store_nsr` when the schedule has no `vnfs_start`; a schedule with
//! neither is answered with an error, since there is no point at which
//! configuring makes sense. A schedule that already has `configure_ssm` keeps
//! it where it is, so the rewrite is idempotent. With the option
//! `configure: before-start` it puts `configure_ssm` (new or already there)
//! right before `vnfs_start` instead, so the configure manager can switch
//! each VNF's FSM start, and its payload, before the VNFs start. With the
//! option `monitoring: off` it also drops `start_monitoring` (`on`, the
//! default, keeps it). Every other step keeps its name and order.
//!
//! Monitor: the manager reads alerts of this shape (extra fields ignored):
//!
//! ```json
//! {"service_instance_id": "…",
//!  "alert": {"name": "cpu_high", "vnf_id": "web", "metric": "vm_cpu_perc",
//!            "value": 93.5, "threshold": 80, "instances": ["…"]}}
//! ```
//!
//! An alert named `scale_in` asks to remove the VNF instances it lists in
//! `instances` (none listed: nothing to do), and never to scale out. Any
//! other alert whose `value` exceeds the scale-out threshold
//! asks for one more instance of the NSD's VNF `vnf_id`. The threshold is the
//! option `scale_out_above` when declared (the service designer's policy),
//! else the alert's own `threshold`, else 80 ([`DEFAULT_SCALE_OUT_ABOVE`]).
//! Content without an `alert` is not an alert and asks for nothing: the
//! notification that monitoring started (`nsd`, `nsr`, `vnfs`), or SONATA's
//! monitoring message (`service`, `functions`, `rules`), which registers rule
//! conditions but carries no measurement.

use serde::Deserialize;
use sm_sdk::ssm::{MonitorRequest, SsmEvent, TaskRequest, WorkflowRequest};
use sm_sdk::{ManagerError, ServiceManager};

/// The step this manager schedules.
pub const CONFIGURE_SSM: &str = "configure_ssm";
/// The step after which it goes.
pub const VNFS_START: &str = "vnfs_start";
/// The step before which it goes when there is no [`VNFS_START`].
pub const STORE_NSR: &str = "store_nsr";
/// The step the option `monitoring: off` removes.
pub const START_MONITORING: &str = "start_monitoring";
/// The name of an alert that asks to remove instances.
pub const SCALE_IN_ALERT: &str = "scale_in";
/// The scale-out threshold when neither the option nor the alert gives one.
pub const DEFAULT_SCALE_OUT_ABOVE: f64 = 80.0;

/// The configure-scheduling, alert-scaling manager.
#[derive(Debug, Default)]
pub struct TaskAndMonitor;

impl ServiceManager for TaskAndMonitor {
    const HANDLES: &'static [SsmEvent] = &[SsmEvent::Task, SsmEvent::Monitor];

    fn task(&self, request: TaskRequest) -> Result<Vec<String>, ManagerError> {
        let mut schedule = request.schedule;
        if !monitoring_enabled()? {
            schedule.retain(|step| step != START_MONITORING);
        }
        if configure_before_start()? {
            schedule.retain(|step| step != CONFIGURE_SSM);
            let at = schedule.iter().position(|step| step == VNFS_START).ok_or_else(|| {
                ManagerError::failed(format!(
                    "cannot schedule {CONFIGURE_SSM} before {VNFS_START}: the schedule has no {VNFS_START} ({})",
                    schedule.join(", ")
                ))
            })?;
            schedule.insert(at, CONFIGURE_SSM.to_owned());
        } else if !schedule.iter().any(|step| step == CONFIGURE_SSM) {
            let at = configure_position(&schedule).ok_or_else(|| {
                ManagerError::failed(format!(
                    "cannot schedule {CONFIGURE_SSM}: the schedule has neither {VNFS_START} nor {STORE_NSR} ({})",
                    schedule.join(", ")
                ))
            })?;
            schedule.insert(at, CONFIGURE_SSM.to_owned());
        }
        Ok(schedule)
    }

    fn monitor(&self, request: MonitorRequest) -> Result<Vec<WorkflowRequest>, ManagerError> {
        let content: AlertContent = request
            .raw
            .parse()
            .map_err(|error| ManagerError::failed(format!("invalid alert: {error}")))?;
        let Some(alert) = content.alert else {
            return Ok(Vec::new());
        };
        let service = request.service_id.as_deref().unwrap_or("(unnamed service)");
        if alert.name == SCALE_IN_ALERT {
            if alert.instances.is_empty() {
                return Ok(Vec::new());
            }
            sm_sdk::info!("service {service}: scaling in {}", alert.instances.join(", "));
            return Ok(vec![WorkflowRequest::ScaleIn(alert.instances)]);
        }
        let Some(value) = alert.value else {
            return Ok(Vec::new());
        };
        let threshold = scale_out_threshold(&alert)?;
        if value <= threshold {
            return Ok(Vec::new());
        }
        let vnf = alert.vnf_id.ok_or_else(|| {
            ManagerError::failed(format!(
                "alert {} is at {value}, above {threshold}, but names no vnf_id to scale out",
                alert.name
            ))
        })?;
        sm_sdk::info!(
            "service {service}: alert {} at {value} > {threshold}, scaling out {vnf}",
            alert.name
        );
        Ok(vec![WorkflowRequest::ScaleOut { vnf, instances: 1 }])
    }
}

/// Where `configure_ssm` goes: after `vnfs_start`, else before `store_nsr`.
fn configure_position(schedule: &[String]) -> Option<usize> {
    let index_of = |name: &str| schedule.iter().position(|step| step == name);
    index_of(VNFS_START)
        .map(|index| index + 1)
        .or_else(|| index_of(STORE_NSR))
}

/// The option `configure`: `after-start` (the default) or `before-start`.
fn configure_before_start() -> Result<bool, ManagerError> {
    match sm_sdk::option("configure").as_deref() {
        None | Some("after-start") => Ok(false),
        Some("before-start") => Ok(true),
        Some(other) => Err(ManagerError::failed(format!(
            "option configure is {other:?}; expected \"after-start\" or \"before-start\""
        ))),
    }
}

/// The option `monitoring`: `on` (the default) or `off`.
fn monitoring_enabled() -> Result<bool, ManagerError> {
    match sm_sdk::option("monitoring").as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(ManagerError::failed(format!(
            "option monitoring is {other:?}; expected \"on\" or \"off\""
        ))),
    }
}

/// The option `scale_out_above`, else the alert's threshold, else the default.
fn scale_out_threshold(alert: &Alert) -> Result<f64, ManagerError> {
    let Some(text) = sm_sdk::option("scale_out_above") else {
        return Ok(alert.threshold.unwrap_or(DEFAULT_SCALE_OUT_ABOVE));
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|threshold| threshold.is_finite())
        .ok_or_else(|| ManagerError::failed(format!("option scale_out_above is {text:?}; expected a number")))
}

/// A monitor event's content, as far as alerts go.
#[derive(Deserialize)]
struct AlertContent {
    #[serde(default)]
    alert: Option<Alert>,
}

/// An alert, in the shape the module documentation gives.
#[derive(Deserialize)]
struct Alert {
    name: String,
    #[serde(default)]
    vnf_id: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    instances: Vec<String>,
}

sm_sdk::export_service_manager!(TaskAndMonitor);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use sm_sdk::{Document, KeyValue};

    use super::*;

    /// The corpus's task event (tng-sdk-sm), the schedule 5GTANGO's SLM sends
    /// at instantiation.
    fn corpus_schedule() -> Vec<String> {
        let text = include_str!("../../payloads/tng-sdk-sm/ssm/task_event.yml");
        let content: Value = serde_saphyr::from_str(text).expect("the corpus task event is YAML");
        assert_eq!(content["ssm_type"], "task");
        task_request(content).schedule
    }

    fn task_request(content: Value) -> TaskRequest {
        TaskRequest::from_document(Document::from_value(&content)).expect("a task request")
    }

    fn rewrite(schedule: &[String], options: &[(&str, &str)]) -> Result<Vec<String>, ManagerError> {
        set_options(options);
        TaskAndMonitor.task(task_request(json!({ "schedule": schedule })))
    }

    fn set_options(options: &[(&str, &str)]) {
        sm_sdk::set_test_options(options.iter().map(|(key, value)| KeyValue::new(*key, *value)).collect());
    }

    fn steps(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn failure_message(result: Result<impl std::fmt::Debug, ManagerError>) -> String {
        match result {
            Err(ManagerError::Failed { message, .. }) => message,
            other => panic!("expected an error answer, got {other:?}"),
        }
    }

    #[test]
    fn the_corpus_schedule_gets_configure_ssm_right_after_vnfs_start_and_nothing_else_changes() {
        let schedule = corpus_schedule();
        let rewritten = rewrite(&schedule, &[]).unwrap();
        let start = schedule.iter().position(|step| step == VNFS_START).unwrap();
        let mut expected = schedule.clone();
        expected.insert(start + 1, CONFIGURE_SSM.to_owned());
        assert_eq!(rewritten, expected);
        assert_eq!(rewritten[start + 2], "vnf_chain");
    }

    #[test]
    fn rewriting_twice_is_rewriting_once() {
        let once = rewrite(&corpus_schedule(), &[("monitoring", "off")]).unwrap();
        let twice = rewrite(&once, &[("monitoring", "off")]).unwrap();
        assert_eq!(twice, once);
        assert_eq!(once.iter().filter(|step| *step == CONFIGURE_SSM).count(), 1);
    }

    #[test]
    fn a_configure_ssm_already_scheduled_stays_where_it_is() {
        let schedule = steps(&["vnf_deploy", CONFIGURE_SSM, VNFS_START, STORE_NSR]);
        assert_eq!(rewrite(&schedule, &[]).unwrap(), schedule);
    }

    #[test]
    fn without_vnfs_start_configure_ssm_goes_before_store_nsr() {
        let schedule = steps(&["vnf_deploy", "vnf_chain", STORE_NSR, START_MONITORING]);
        assert_eq!(
            rewrite(&schedule, &[]).unwrap(),
            steps(&["vnf_deploy", "vnf_chain", CONFIGURE_SSM, STORE_NSR, START_MONITORING])
        );
    }

    #[test]
    fn a_schedule_without_either_anchor_is_an_error_naming_both() {
        let message = failure_message(rewrite(&steps(&["vnf_deploy", "vnf_chain"]), &[]));
        assert!(message.contains(VNFS_START) && message.contains(STORE_NSR), "{message}");
    }

    #[test]
    fn configure_before_start_moves_configure_ssm_right_before_vnfs_start() {
        let corpus = corpus_schedule();
        let moved = rewrite(&corpus, &[("configure", "before-start")]).unwrap();
        let start = moved.iter().position(|step| step == VNFS_START).unwrap();
        assert_eq!(moved[start - 1], CONFIGURE_SSM);
        assert_eq!(moved.iter().filter(|step| *step == CONFIGURE_SSM).count(), 1);
        let again = rewrite(&moved, &[("configure", "before-start")]).unwrap();
        assert_eq!(again, moved, "moving twice is moving once");
        let without_start = steps(&["vnf_deploy", "store_nsr"]);
        let refused = failure_message(rewrite(&without_start, &[("configure", "before-start")]));
        assert!(refused.contains("has no vnfs_start"), "{refused}");
        let unknown = failure_message(rewrite(&corpus, &[("configure", "sometimes")]));
        assert!(unknown.contains("option configure"), "{unknown}");
    }

    #[test]
    fn monitoring_off_drops_start_monitoring_and_on_keeps_it() {
        let off = rewrite(&corpus_schedule(), &[("monitoring", "off")]).unwrap();
        assert!(!off.iter().any(|step| step == START_MONITORING), "{off:?}");
        assert_eq!(off.len(), corpus_schedule().len(), "one step added, one dropped");
        let on = rewrite(&corpus_schedule(), &[("monitoring", "on")]).unwrap();
        assert_eq!(on, rewrite(&corpus_schedule(), &[]).unwrap(), "on is the default");
        assert!(on.iter().any(|step| step == START_MONITORING));
    }

    #[test]
    fn an_unknown_monitoring_value_is_an_error_naming_the_option() {
        let message = failure_message(rewrite(&corpus_schedule(), &[("monitoring", "false")]));
        assert!(
            message.contains("monitoring") && message.contains("\"false\""),
            "{message}"
        );
    }

    fn monitor(content: Value, options: &[(&str, &str)]) -> Result<Vec<WorkflowRequest>, ManagerError> {
        set_options(options);
        let request = MonitorRequest::from_document(Document::from_value(&content)).expect("a monitor request");
        TaskAndMonitor.monitor(request)
    }

    fn cpu_alert(value: f64, threshold: Option<f64>) -> Value {
        json!({"service_instance_id": "ns-1",
            "alert": {"name": "cpu_high", "vnf_id": "web", "metric": "vm_cpu_perc", "value": value, "threshold": threshold}})
    }

    fn scale_out_web() -> Vec<WorkflowRequest> {
        vec![WorkflowRequest::ScaleOut {
            vnf: "web".into(),
            instances: 1,
        }]
    }

    #[test]
    fn a_metric_above_the_default_threshold_scales_its_vnf_out_by_one() {
        assert_eq!(monitor(cpu_alert(93.5, None), &[]).unwrap(), scale_out_web());
        assert_eq!(
            monitor(cpu_alert(80.0, None), &[]).unwrap(),
            [],
            "at the threshold is not above it"
        );
    }

    #[test]
    fn the_alert_threshold_applies_when_the_option_is_not_declared() {
        assert_eq!(monitor(cpu_alert(60.0, Some(50.0)), &[]).unwrap(), scale_out_web());
        assert_eq!(monitor(cpu_alert(90.0, Some(95.0)), &[]).unwrap(), []);
    }

    #[test]
    fn the_scale_out_above_option_overrides_the_alert_threshold() {
        let options = [("scale_out_above", "95")];
        assert_eq!(monitor(cpu_alert(93.5, Some(50.0)), &options).unwrap(), []);
        assert_eq!(monitor(cpu_alert(97.0, Some(50.0)), &options).unwrap(), scale_out_web());
    }

    #[test]
    fn a_scale_out_above_that_is_not_a_number_is_an_error_naming_it() {
        let message = failure_message(monitor(cpu_alert(93.5, None), &[("scale_out_above", "high")]));
        assert!(message.contains("scale_out_above"), "{message}");
    }

    #[test]
    fn an_alert_above_threshold_without_a_vnf_is_an_error() {
        let alert = json!({"alert": {"name": "cpu_high", "value": 99}});
        let message = failure_message(monitor(alert, &[]));
        assert!(message.contains("cpu_high") && message.contains("vnf_id"), "{message}");
    }

    #[test]
    fn a_scale_in_alert_removes_the_instances_it_names() {
        let alert =
            json!({"alert": {"name": SCALE_IN_ALERT, "vnf_id": "web", "instances": ["web-2", "web-3"], "value": 99}});
        assert_eq!(
            monitor(alert, &[]).unwrap(),
            [WorkflowRequest::ScaleIn(vec!["web-2".into(), "web-3".into()])]
        );
        let naming_nothing = json!({"alert": {"name": SCALE_IN_ALERT, "vnf_id": "web"}});
        assert_eq!(monitor(naming_nothing, &[]).unwrap(), []);
    }

    #[test]
    fn content_that_is_not_an_alert_asks_for_nothing() {
        let sonata: Value = serde_json::from_str(include_str!(
            "../../payloads/son-mano-framework/slm-test_monitoring-message.json"
        ))
        .expect("the corpus monitoring message is JSON");
        assert_eq!(monitor(sonata, &[]).unwrap(), []);
        let started = json!({"nsd": {"name": "demo"}, "nsr": {"id": "ns-1"}, "vnfs": []});
        assert_eq!(monitor(started, &[]).unwrap(), []);
        assert_eq!(monitor(json!({"alert": {"name": "disk_low"}}), &[]).unwrap(), []);
    }

    #[test]
    fn a_malformed_alert_is_an_error_answer() {
        let message = failure_message(monitor(json!({"alert": {"name": "cpu_high", "value": "lots"}}), &[]));
        assert!(message.starts_with("invalid alert"), "{message}");
    }
}
