//! Every event's typed reply, and its 5GTANGO wire shape both ways:
//! [`Reply::to_tango`] renders a reply as a 5GTANGO manager would have
//! answered (what `wasmano sm test` prints, what recordings keep), and
//! [`Reply::from_tango`] reads what a 5GTANGO manager answered (a legacy
//! manager on the bus, a monitoring request) into the same typed reply a
//! WebAssembly manager gives, so workflows cannot tell which kind answered.
//!
//! Reading follows what real 5GTANGO managers send rather than what the
//! SLM/FLM insisted on: `status` in any case (`completed` from the pilots'
//! FSMs), `error` as null, the string `'None'` or a message, a `null` reply
//! (the SDK template's answer to events it does not handle) as not handled.

use serde_json::{Map, Value, json};

use crate::event::Event;
use crate::fsm::{FsmEvent, StateReply};
use crate::ssm::{
    EventSwitch, LinkPlacement, LinkSite, Placement, SsmEvent, VnfPlacement, VnfSwitches, WorkflowRequest,
};
use crate::{KeyValue, UnitEnvs};

/// A manager's successful answer to an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// SSM placement: where each VNF and virtual link goes.
    Placement(Placement),
    /// SSM configure: which FSM events fire for each VNF, with which payload.
    Configure(Vec<VnfSwitches>),
    /// SSM state: the transformed state.
    State(Value),
    /// SSM task: the new schedule.
    Schedule(Vec<String>),
    /// SSM monitor: the workflows to run.
    Workflows(Vec<WorkflowRequest>),
    /// FSM start: envs for container units.
    Started(Vec<UnitEnvs>),
    /// FSM stop: done.
    Stopped,
    /// FSM configure: envs for container units.
    Configured(Vec<UnitEnvs>),
    /// FSM state: extracted state, or injected.
    FunctionState(StateReply),
    /// FSM scale: envs for container units.
    Scaled(Vec<UnitEnvs>),
}

/// Why a 5GTANGO answer is not a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Unanswered {
    /// The manager does not handle the event (it answered `null`).
    NotHandled,
    /// The manager answered with an error: its message (as sent, however
    /// long) and the answer's `content`.
    Failed {
        /// The `error`, or the status when there is none.
        message: String,
        /// The answer's `content`, when not null.
        content: Option<Value>,
    },
    /// The answer does not have the event's reply shape: what is wrong.
    Malformed(String),
}

impl Reply {
    /// The reply in 5GTANGO's shape (`status: COMPLETED`, `error: null`, and
    /// the event's own keys: `mapping`, `vnf`, `content`, `schedule`,
    /// `envs`, `persist`). A monitor reply, which 5GTANGO's managers sent
    /// unsolicited on `monitor.ssm.<service>`, lists its `workflows`.
    pub fn to_tango(&self) -> Value {
        let mut reply = json!({ "status": "COMPLETED", "error": Value::Null });
        let extra = match self {
            Self::Placement(placement) => placement_to_tango(placement),
            Self::Configure(switches) => json!({ "vnf": switches.iter().map(switches_to_tango).collect::<Vec<_>>() }),
            Self::State(content) => json!({ "content": content }),
            Self::Schedule(schedule) => json!({ "schedule": schedule }),
            Self::Workflows(requests) => {
                json!({ "workflows": requests.iter().map(workflow_to_tango).collect::<Vec<_>>() })
            }
            Self::Started(envs) | Self::Configured(envs) | Self::Scaled(envs) => json!({ "envs": envs_to_tango(envs) }),
            Self::Stopped | Self::FunctionState(StateReply::Injected) => json!({}),
            Self::FunctionState(StateReply::Extracted(state)) => json!({ "persist": state }),
        };
        if let (Value::Object(reply), Value::Object(extra)) = (&mut reply, extra) {
            reply.extend(extra);
        }
        reply
    }
}

/// `mapping: {<vnf>: {vim}}`, and `vl_mapping: {<link>: {vim | wim}}` when
/// links were placed.
fn placement_to_tango(placement: &Placement) -> Value {
    let mapping: Map<String, Value> = placement
        .vnfs
        .iter()
        .map(|entry| (entry.vnf.clone(), json!({ "vim": entry.vim })))
        .collect();
    let mut reply = json!({ "mapping": mapping });
    if !placement.links.is_empty() {
        let links: Map<String, Value> = placement
            .links
            .iter()
            .map(|entry| {
                let site = match &entry.site {
                    LinkSite::Vim(vim) => json!({ "vim": vim }),
                    LinkSite::Wim(wim) => json!({ "wim": wim }),
                };
                (entry.link.clone(), site)
            })
            .collect();
        reply["vl_mapping"] = Value::Object(links);
    }
    reply
}

/// `{id, start?, stop?, configure?, scale?}`, each `{trigger, payload?}`.
fn switches_to_tango(switches: &VnfSwitches) -> Value {
    let mut entry = json!({ "id": switches.id });
    let events = [
        ("start", &switches.start),
        ("stop", &switches.stop),
        ("configure", &switches.configure),
        ("scale", &switches.scale),
    ];
    for (event, switch) in events {
        if let Some(EventSwitch { trigger, payload }) = switch {
            let mut value = json!({ "trigger": trigger });
            if let Some(payload) = payload {
                value["payload"] = payload.clone();
            }
            entry[event] = value;
        }
    }
    entry
}

fn workflow_to_tango(request: &WorkflowRequest) -> Value {
    match request {
        WorkflowRequest::ScaleOut { vnf, instances } => {
            json!({ "workflow": "scale_out", "vnf_id": vnf, "instances": instances })
        }
        WorkflowRequest::ScaleIn(instances) => json!({ "workflow": "scale_in", "vnf": instances }),
        WorkflowRequest::Reconfigure(payload) => {
            json!({ "workflow": "reconfigure", "reconfiguration_payload": payload })
        }
    }
}

/// 5GTANGO's `envs: [{cdu_id, envs: {K: V}}]`; envs for every unit have
/// no `cdu_id`.
fn envs_to_tango(envs: &[UnitEnvs]) -> Value {
    envs.iter()
        .map(|entry| {
            let pairs: Map<String, Value> = entry
                .envs
                .iter()
                .map(|pair| (pair.key.clone(), Value::String(pair.value.clone())))
                .collect();
            match &entry.unit {
                Some(unit) => json!({ "cdu_id": unit, "envs": pairs }),
                None => json!({ "envs": pairs }),
            }
        })
        .collect()
}

/// The 5GTANGO shape of an error answer; the content, when the manager gave
/// one, in `content` (where the SLM reads a state SSM's error).
pub fn error_reply(message: &str, content: Option<&Value>) -> Value {
    let mut reply = json!({ "status": "ERROR", "error": message });
    if let Some(content) = content {
        reply["content"] = content.clone();
    }
    reply
}

impl Reply {
    /// Reads a 5GTANGO manager's answer to `event`: a mapping with `status`
    /// (any case; absent means the `error` decides, as the SLM read
    /// placement replies), `error` (null, `'None'` or a message) and the
    /// event's own keys. A refusal keeps the answer's `content`; an answer
    /// that is not a mapping, or whose keys do not have their shape, is
    /// [`Unanswered::Malformed`].
    pub fn from_tango(event: Event, answer: &Value) -> Result<Self, Unanswered> {
        let fields = match answer {
            Value::Null => return Err(Unanswered::NotHandled),
            Value::Object(fields) => fields,
            other => return Err(invalid(format!("the reply is not a mapping but {}", kind_of(other)))),
        };
        let error = match fields.get("error") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.is_empty() || text == "None" => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        let completed = match fields.get("status") {
            None => error.is_none(),
            Some(Value::String(status)) => status.eq_ignore_ascii_case("completed"),
            Some(other) => return Err(invalid(format!("status is {}, not a string", kind_of(other)))),
        };
        if !completed {
            let message = error.unwrap_or_else(|| match fields.get("status") {
                Some(Value::String(status)) => format!("status {status}"),
                _ => "an error without a message".to_owned(),
            });
            return Err(Unanswered::Failed {
                message,
                content: fields.get("content").filter(|content| !content.is_null()).cloned(),
            });
        }
        let reply = match event {
            Event::Ssm(SsmEvent::Placement) => Self::Placement(placement_from_tango(fields)?),
            Event::Ssm(SsmEvent::Configure) => Self::Configure(switches_from_tango(fields.get("vnf"))?),
            Event::Ssm(SsmEvent::State) => Self::State(
                fields
                    .get("content")
                    .cloned()
                    .ok_or_else(|| invalid("a state reply needs its content".into()))?,
            ),
            Event::Ssm(SsmEvent::Task) => Self::Schedule(schedule_from_tango(fields.get("schedule"))?),
            Event::Ssm(SsmEvent::Monitor) => Self::Workflows(workflows_from_tango(fields)?),
            Event::Fsm(FsmEvent::Start) => Self::Started(envs_from_tango(fields.get("envs"))?),
            Event::Fsm(FsmEvent::Configure) => Self::Configured(envs_from_tango(fields.get("envs"))?),
            Event::Fsm(FsmEvent::Scale) => Self::Scaled(envs_from_tango(fields.get("envs"))?),
            Event::Fsm(FsmEvent::Stop) => Self::Stopped,
            Event::Fsm(FsmEvent::State) => Self::FunctionState(match fields.get("persist") {
                None | Some(Value::Null) => StateReply::Injected,
                Some(state) => StateReply::Extracted(state.clone()),
            }),
        };
        Ok(reply)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn invalid(message: String) -> Unanswered {
    Unanswered::Malformed(message)
}

/// `mapping: {<vnf>: {vim}}` and the optional `vl_mapping: {<link>: {vim | wim}}`.
fn placement_from_tango(fields: &Map<String, Value>) -> Result<Placement, Unanswered> {
    let Some(Value::Object(mapping)) = fields.get("mapping") else {
        return Err(invalid("a placement reply needs a mapping of VNFs to VIMs".into()));
    };
    let vnfs = mapping
        .iter()
        .map(|(vnf, site)| match site.get("vim").and_then(Value::as_str) {
            Some(vim) => Ok(VnfPlacement {
                vnf: vnf.clone(),
                vim: vim.to_owned(),
            }),
            None => Err(invalid(format!("mapping.{vnf} names no vim"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let links = match fields.get("vl_mapping") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(links)) => links
            .iter()
            .map(|(link, site)| {
                let site = match (
                    site.get("vim").and_then(Value::as_str),
                    site.get("wim").and_then(Value::as_str),
                ) {
                    (Some(vim), None) => LinkSite::Vim(vim.to_owned()),
                    (None, Some(wim)) => LinkSite::Wim(wim.to_owned()),
                    _ => return Err(invalid(format!("vl_mapping.{link} must name one vim or one wim"))),
                };
                Ok(LinkPlacement {
                    link: link.clone(),
                    site,
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(invalid(format!("vl_mapping is {}, not a mapping", kind_of(other)))),
    };
    Ok(Placement { vnfs, links })
}

/// `vnf: [{id, start?, stop?, configure?, scale?}]`; other keys of an entry
/// (5GTANGO's SSMs add `name`) are ignored.
fn switches_from_tango(vnfs: Option<&Value>) -> Result<Vec<VnfSwitches>, Unanswered> {
    let entries = match vnfs {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(invalid(format!("vnf is {}, not a list", kind_of(other)))),
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let id = entry
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("vnf[{index}] has no id")))?;
            let switch = |event: &str| -> Result<Option<EventSwitch>, Unanswered> {
                match entry.get(event) {
                    None | Some(Value::Null) => Ok(None),
                    Some(switch) => serde_json::from_value(switch.clone())
                        .map(Some)
                        .map_err(|error| invalid(format!("vnf[{index}].{event}: {error}"))),
                }
            };
            Ok(VnfSwitches {
                id: id.to_owned(),
                start: switch("start")?,
                stop: switch("stop")?,
                configure: switch("configure")?,
                scale: switch("scale")?,
            })
        })
        .collect()
}

fn schedule_from_tango(schedule: Option<&Value>) -> Result<Vec<String>, Unanswered> {
    let Some(Value::Array(tasks)) = schedule else {
        return Err(invalid("a task reply needs its schedule, a list of task names".into()));
    };
    tasks
        .iter()
        .map(|task| {
            task.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("schedule entry {task} is not a task name")))
        })
        .collect()
}

/// `workflows: [...]` as [`Reply::to_tango`] writes them, or the single
/// `workflow` a 5GTANGO SSM published on `monitor.ssm.<service>`.
fn workflows_from_tango(fields: &Map<String, Value>) -> Result<Vec<WorkflowRequest>, Unanswered> {
    match (fields.get("workflows"), fields.get("workflow")) {
        (Some(Value::Array(requests)), _) => requests.iter().map(workflow_from_tango).collect(),
        (Some(other), _) if !other.is_null() => Err(invalid(format!("workflows is {}, not a list", kind_of(other)))),
        (_, Some(Value::String(_))) => Ok(vec![workflow_from_tango(&Value::Object(fields.clone()))?]),
        _ => Ok(Vec::new()),
    }
}

fn workflow_from_tango(request: &Value) -> Result<WorkflowRequest, Unanswered> {
    let workflow = request.get("workflow").and_then(Value::as_str).unwrap_or_default();
    match workflow {
        "scale_out" => {
            let vnf = request.get("vnf_id").and_then(Value::as_str);
            let instances = request.get("instances").map_or(Some(1), Value::as_u64);
            match (vnf, instances.and_then(|count| u32::try_from(count).ok())) {
                (Some(vnf), Some(instances)) => Ok(WorkflowRequest::ScaleOut {
                    vnf: vnf.to_owned(),
                    instances,
                }),
                _ => Err(invalid("scale_out needs vnf_id and a count of instances".into())),
            }
        }
        "scale_in" => match request.get("vnf").and_then(Value::as_array) {
            Some(instances) => instances
                .iter()
                .map(|instance| instance.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(WorkflowRequest::ScaleIn)
                .ok_or_else(|| invalid("scale_in lists VNF instance ids".into())),
            None => Err(invalid("scale_in needs the list of VNF instances (vnf)".into())),
        },
        "reconfigure" => Ok(WorkflowRequest::Reconfigure(
            request
                .get("reconfiguration_payload")
                .filter(|payload| !payload.is_null())
                .cloned(),
        )),
        other => Err(invalid(format!(
            "workflow {other:?} cannot be requested (scale_out, scale_in or reconfigure)"
        ))),
    }
}

/// `envs: [{cdu_id?, envs: {K: V}}]`; scalar values become strings, as the
/// VIM receives them.
fn envs_from_tango(envs: Option<&Value>) -> Result<Vec<UnitEnvs>, Unanswered> {
    let entries = match envs {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(invalid(format!("envs is {}, not a list", kind_of(other)))),
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let unit = match entry.get("cdu_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(unit)) => Some(unit.clone()),
                Some(other) => return Err(invalid(format!("envs[{index}].cdu_id is {}", kind_of(other)))),
            };
            let pairs = match entry.get("envs") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(pairs)) => pairs
                    .iter()
                    .map(|(key, value)| match value {
                        Value::String(text) => Ok(KeyValue::new(key, text)),
                        Value::Number(_) | Value::Bool(_) => Ok(KeyValue::new(key, value.to_string())),
                        other => Err(invalid(format!("envs[{index}].envs.{key} is {}", kind_of(other)))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(other) => return Err(invalid(format!("envs[{index}].envs is {}", kind_of(other)))),
            };
            Ok(UnitEnvs { unit, envs: pairs })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_reply_has_the_5gtango_mapping_shape() {
        let reply = Reply::Placement(Placement::of_vnfs(vec![VnfPlacement {
            vnf: "v1".into(),
            vim: "vim-a".into(),
        }]));
        assert_eq!(
            reply.to_tango(),
            json!({"status": "COMPLETED", "error": null, "mapping": {"v1": {"vim": "vim-a"}}})
        );
    }

    #[test]
    fn configure_reply_lists_each_switched_event_with_its_optional_payload() {
        let reply = Reply::Configure(vec![
            VnfSwitches::configure("a", EventSwitch::with_payload(json!({"x": 1}))),
            VnfSwitches {
                id: "b".into(),
                stop: Some(EventSwitch::off()),
                scale: Some(EventSwitch::on()),
                ..VnfSwitches::default()
            },
        ]);
        assert_eq!(
            reply.to_tango()["vnf"],
            json!([
                {"id": "a", "configure": {"trigger": true, "payload": {"x": 1}}},
                {"id": "b", "stop": {"trigger": false}, "scale": {"trigger": true}}
            ])
        );
    }

    #[test]
    fn envs_reply_has_5gtango_per_unit_shape() {
        let reply = Reply::Started(vec![
            UnitEnvs::every_unit(vec![KeyValue::new("A", "1")]),
            UnitEnvs::unit("cdu01-vnf1", vec![KeyValue::new("B", "2")]),
        ]);
        assert_eq!(
            reply.to_tango()["envs"],
            json!([{"envs": {"A": "1"}}, {"cdu_id": "cdu01-vnf1", "envs": {"B": "2"}}])
        );
    }

    #[test]
    fn an_error_with_content_carries_it_where_the_slm_reads_it() {
        assert_eq!(
            error_reply("no state", Some(&json!({"why": "empty"}))),
            json!({"status": "ERROR", "error": "no state", "content": {"why": "empty"}})
        );
        assert_eq!(error_reply("x", None), json!({"status": "ERROR", "error": "x"}));
    }

    /// Every reply a WebAssembly manager can give survives the trip through
    /// 5GTANGO's shape: what a legacy manager answers means the same.
    #[test]
    fn every_reply_reads_back_from_its_5gtango_shape() {
        let replies = [
            (
                Event::Ssm(SsmEvent::Placement),
                Reply::Placement(Placement {
                    vnfs: vec![VnfPlacement {
                        vnf: "v1".into(),
                        vim: "a".into(),
                    }],
                    links: vec![LinkPlacement {
                        link: "mgmt".into(),
                        site: LinkSite::Wim("w".into()),
                    }],
                }),
            ),
            (
                Event::Ssm(SsmEvent::Configure),
                Reply::Configure(vec![VnfSwitches {
                    id: "v1".into(),
                    start: Some(EventSwitch::off()),
                    configure: Some(EventSwitch::with_payload(json!({"k": 1}))),
                    ..VnfSwitches::default()
                }]),
            ),
            (Event::Ssm(SsmEvent::State), Reply::State(json!({"sessions": 3}))),
            (Event::Ssm(SsmEvent::Task), Reply::Schedule(vec!["SLM_mapping".into()])),
            (
                Event::Ssm(SsmEvent::Monitor),
                Reply::Workflows(vec![
                    WorkflowRequest::ScaleOut {
                        vnf: "vnf1".into(),
                        instances: 2,
                    },
                    WorkflowRequest::ScaleIn(vec!["i1".into()]),
                    WorkflowRequest::Reconfigure(Some(json!({"q": true}))),
                ]),
            ),
            (
                Event::Fsm(FsmEvent::Start),
                Reply::Started(vec![UnitEnvs::unit("cdu01-x", vec![KeyValue::new("A", "1")])]),
            ),
            (Event::Fsm(FsmEvent::Configure), Reply::Configured(Vec::new())),
            (
                Event::Fsm(FsmEvent::Scale),
                Reply::Scaled(vec![UnitEnvs::every_unit(vec![KeyValue::new("B", "2")])]),
            ),
            (Event::Fsm(FsmEvent::Stop), Reply::Stopped),
            (
                Event::Fsm(FsmEvent::State),
                Reply::FunctionState(StateReply::Extracted(json!({"db": "x"}))),
            ),
            (Event::Fsm(FsmEvent::State), Reply::FunctionState(StateReply::Injected)),
        ];
        for (event, reply) in replies {
            assert_eq!(Reply::from_tango(event, &reply.to_tango()), Ok(reply), "{event}");
        }
    }

    #[test]
    fn legacy_status_and_error_conventions_are_read_as_real_managers_send_them() {
        let start = Event::Fsm(FsmEvent::Start);
        // The pilots' FSMs: lower case, no error key.
        assert_eq!(
            Reply::from_tango(start, &json!({"status": "completed"})),
            Ok(Reply::Started(Vec::new()))
        );
        // 5GTANGO's FSMs: the string 'None'.
        assert_eq!(
            Reply::from_tango(start, &json!({"status": "COMPLETED", "error": "None"})),
            Ok(Reply::Started(Vec::new()))
        );
        // Placement replies carried no status.
        assert!(Reply::from_tango(Event::Ssm(SsmEvent::Placement), &json!({"mapping": {}, "error": null})).is_ok());
        assert_eq!(
            Reply::from_tango(
                start,
                &json!({"status": "ERROR", "error": "no \u{1b}[31mvim", "content": {"x": 1}})
            ),
            Err(Unanswered::Failed {
                message: "no \u{1b}[31mvim".into(),
                content: Some(json!({"x": 1}))
            })
        );
        assert_eq!(
            Reply::from_tango(start, &json!({"status": "failed"})),
            Err(Unanswered::Failed {
                message: "status failed".into(),
                content: None
            })
        );
        assert_eq!(Reply::from_tango(start, &Value::Null), Err(Unanswered::NotHandled));
        for malformed in [
            json!("COMPLETED"),
            json!({"status": 1}),
            json!({"status": "COMPLETED", "envs": {"A": "1"}}),
        ] {
            assert!(
                matches!(Reply::from_tango(start, &malformed), Err(Unanswered::Malformed(_))),
                "{malformed}"
            );
        }
        assert!(matches!(
            Reply::from_tango(Event::Ssm(SsmEvent::Placement), &json!({"status": "COMPLETED"})),
            Err(Unanswered::Malformed(_))
        ));
    }
}
