//! The 5GTANGO content of each hook, built from templates and records
//! (shapes of BRIEF §3, as tng-sdk-sm's example payloads show them).

use serde_json::{Map, Value, json};
use sm_sdk::descriptor::VimKind;
use sm_sdk::fsm::GenericEnvs;

use crate::infrastructure::VimStatus;
use crate::records::{NsRecord, VnfRecord};

use super::template::{ServiceTemplate, VnfTemplate};

/// A VNF instance of the service with its template, as the payloads that
/// describe the whole service take them.
pub(crate) type Member<'a> = (&'a VnfTemplate, &'a VnfRecord);

/// The VIM list of a placement topology.
fn topology(vims: &[VimStatus]) -> Value {
    let vim_list: Vec<Value> = vims
        .iter()
        .map(|vim| {
            json!({
                "vim_uuid": vim.config.id,
                "type": match vim.config.kind {
                    VimKind::Vm => "vm",
                    VimKind::Container => "container",
                },
                "core_total": vim.config.cores,
                "core_used": vim.cores_used,
                "memory_total": vim.config.memory_mb,
                "memory_used": vim.memory_used_mb,
                "labels": vim.config.labels,
            })
        })
        .collect();
    // The infrastructure adapters have no WIMs and no network endpoints:
    // VIMs reach each other directly.
    json!({ "vims": { "vim_list": vim_list, "nep_list": [] }, "wims": [] })
}

/// SSM placement: the NSD, one VNFD per instance to place (with its
/// `instance_uuid`), the topology.
pub(crate) fn placement(
    service_id: &str,
    template: &ServiceTemplate,
    instances: &[(String, &VnfTemplate)],
    vims: &[VimStatus],
) -> Value {
    let vnfds: Vec<Value> = instances
        .iter()
        .map(|(instance_id, vnf)| {
            let mut vnfd = vnf.vnfd.clone();
            if let Value::Object(fields) = &mut vnfd {
                fields.insert("instance_uuid".into(), json!(instance_id));
            }
            vnfd
        })
        .collect();
    json!({
        "uuid": service_id,
        "nsd": template.nsd,
        "vnfds": vnfds,
        "topology": topology(vims),
        "nap": {},
    })
}

/// FSM start and stop: the VNF's descriptor and record, and the generic
/// envs of its container units.
pub(crate) fn lifecycle(vnf: &VnfTemplate, record: &VnfRecord, service: &[Member<'_>]) -> Value {
    json!({ "vnfd": vnf.vnfd, "vnfr": record.to_tango(&vnf.vnfd), "generic_envs": generic_envs(record, service) })
}

/// FSM scale: the scaled VNF's descriptor, this instance's record, how the
/// VNF was scaled, the service's records after the scaling, and this
/// instance's generic envs.
pub(crate) fn fsm_scale(
    template: &ServiceTemplate,
    vnf: &VnfTemplate,
    record: &VnfRecord,
    scaling: &Value,
    nsr: &NsRecord,
    service: &[Member<'_>],
) -> Value {
    json!({
        "vnfd": vnf.vnfd,
        "vnfr": record.to_tango(&vnf.vnfd),
        "scale": scaling,
        "nsr": nsr.to_tango(&template.nsd),
        "vnfrs": vnfrs(service),
        "generic_envs": generic_envs(record, service),
    })
}

/// The service's VNF records, each rendered with its VNFD.
fn vnfrs(service: &[Member<'_>]) -> Vec<Value> {
    service.iter().map(|(vnf, record)| record.to_tango(&vnf.vnfd)).collect()
}

/// How a VNF was scaled, as FSM scale reads it.
pub(crate) fn scaling(direction: &str, vnf_id: &str, added: &[&str], removed: &[&str]) -> Value {
    json!({ "direction": direction, "vnf_id": vnf_id, "added": added, "removed": removed })
}

/// SSM configure: the workflow, the service, its VNFs with descriptors,
/// records, VIMs and the FSM events switched for each (5GTANGO's function
/// entries: `start`, `stop`, `configure`, `scale`, `deployed`, `flavour`),
/// and the address mapping of its units.
pub(crate) fn ssm_configure(
    workflow: &str,
    template: &ServiceTemplate,
    nsr: &NsRecord,
    vnfs: &[Member<'_>],
    reconfiguration_payload: Option<&Value>,
) -> Value {
    let functions: Vec<Value> = vnfs
        .iter()
        .map(|(vnf, record)| {
            let switch = |switch: &Option<sm_sdk::ssm::EventSwitch>| match switch {
                Some(switch) => {
                    json!({ "trigger": switch.trigger, "payload": switch.payload.clone().unwrap_or_else(|| json!({})) })
                }
                None => json!({ "trigger": true, "payload": {} }),
            };
            json!({
                "id": record.id,
                "vnfd": vnf.vnfd,
                "vnfr": record.to_tango(&vnf.vnfd),
                "vim_uuid": record.deployment_units.first().map(|unit| unit.vim_id.as_str()),
                "deployed": !record.deployment_units.is_empty(),
                "flavour": Value::Null,
                "start": switch(&record.switches.start),
                "stop": switch(&record.switches.stop),
                "configure": { "trigger": true, "payload": {} },
                "scale": switch(&record.switches.scale),
            })
        })
        .collect();
    json!({
        "workflow": workflow,
        "service": service_entry(template, nsr, reconfiguration_payload),
        "functions": functions,
        "ingress": Value::Null,
        "egress": Value::Null,
        "ip_mapping": ip_mapping(vnfs),
    })
}

/// The floating to internal address mapping of the service's units. The
/// infrastructure adapters hand out one address per unit, reachable as is,
/// so each maps to itself.
fn ip_mapping(vnfs: &[Member<'_>]) -> Vec<Value> {
    vnfs.iter()
        .flat_map(|(_, record)| &record.deployment_units)
        .flat_map(|unit| &unit.addresses)
        .map(|cp| json!({ "floating_ip": cp.address, "internal_ip": cp.address }))
        .collect()
}

/// FSM configure, default payload: the service's record, its VNFs', and the
/// generic envs of the configured VNF's container units.
pub(crate) fn fsm_configure(
    template: &ServiceTemplate,
    nsr: &NsRecord,
    target: &VnfRecord,
    service: &[Member<'_>],
) -> Value {
    json!({
        "nsr": nsr.to_tango(&template.nsd),
        "vnfrs": vnfrs(service),
        "ingress": Value::Null,
        "egress": Value::Null,
        "generic_envs": generic_envs(target, service),
    })
}

/// 5GTANGO's `generic_envs` for the container units of `target`: for every
/// other unit of the service, `<VNF>_<UNIT>_IP` (its first address) and,
/// for each connection point its descriptor declares, `<VNF>_<UNIT>_<CP>_PORT`
/// and `<VNF>_<UNIT>_<CP>_TYPE`. Names are upper-cased with characters other
/// than letters and digits as `_`; when a VNF has several instances, the
/// first listed names the peer.
pub(crate) fn generic_envs(target: &VnfRecord, service: &[Member<'_>]) -> Vec<GenericEnvs> {
    target
        .deployment_units
        .iter()
        .filter(|unit| unit.kind == VimKind::Container)
        .map(|unit| {
            let mut envs = std::collections::BTreeMap::new();
            for (vnf, record) in service {
                for peer in &record.deployment_units {
                    if record.id == target.id && peer.unit_id == unit.unit_id {
                        continue;
                    }
                    let prefix = format!("{}_{}", env_name(&vnf.vnf_id), env_name(&peer.unit_id));
                    if let Some(cp) = peer.addresses.first() {
                        envs.entry(format!("{prefix}_IP")).or_insert_with(|| cp.address.clone());
                    }
                    for point in declared_connection_points(vnf, &peer.unit_id) {
                        let name = format!(
                            "{prefix}_{}",
                            env_name(point.get("id").and_then(Value::as_str).unwrap_or_default())
                        );
                        for (field, suffix) in [("port", "PORT"), ("type", "TYPE")] {
                            if let Some(value) = point.get(field).filter(|value| !value.is_null()) {
                                let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                                envs.entry(format!("{name}_{suffix}")).or_insert(text);
                            }
                        }
                    }
                }
            }
            GenericEnvs {
                cdu_id: format!("{}-{}", unit.unit_id, target.id),
                envs,
            }
        })
        .collect()
}

/// The connection points a unit's descriptor declares (a CDU's or a VDU's).
fn declared_connection_points<'a>(vnf: &'a VnfTemplate, unit_id: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    ["cloudnative_deployment_units", "virtual_deployment_units"]
        .into_iter()
        .filter_map(|units| vnf.vnfd.get(units)?.as_array())
        .flatten()
        .filter(move |unit| unit.get("id").and_then(Value::as_str) == Some(unit_id))
        .filter_map(|unit| unit.get("connection_points")?.as_array())
        .flatten()
        .filter_map(Value::as_object)
}

fn env_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// SSM task: the schedule of the workflow about to run.
pub(crate) fn task(schedule: &[&str]) -> Value {
    json!({ "schedule": schedule })
}

/// FSM state extract.
pub(crate) fn state_extract(vnf: &VnfTemplate, record: &VnfRecord) -> Value {
    json!({ "action": "extract", "vnfr": record.to_tango(&vnf.vnfd) })
}

/// FSM state inject.
pub(crate) fn state_inject(vnf: &VnfTemplate, record: &VnfRecord, state: &Value) -> Value {
    json!({ "action": "inject", "vnfr": record.to_tango(&vnf.vnfd), "state": state })
}

/// SSM state: the extracted state.
pub(crate) fn ssm_state(state: &Value) -> Value {
    json!({ "state": state })
}

/// The SLM's ledger entry of the service, as the configure SSM reads it:
/// its id, NSD and NSR, and the reconfiguration payload when a manager asked
/// for the reconfiguration with one.
fn service_entry(template: &ServiceTemplate, nsr: &NsRecord, reconfiguration_payload: Option<&Value>) -> Value {
    let mut service = json!({ "id": nsr.id, "nsd": template.nsd, "nsr": nsr.to_tango(&template.nsd) });
    if let Some(payload) = reconfiguration_payload {
        service["reconfiguration_payload"] = payload.clone();
    }
    service
}

/// SSM monitor, as 5GTANGO's SLM sent it when monitoring started: the
/// service's descriptors and records.
pub(crate) fn monitoring_started(template: &ServiceTemplate, nsr: &NsRecord, service: &[Member<'_>]) -> Value {
    let vnfs: Vec<Value> = service
        .iter()
        .map(|(vnf, record)| json!({ "id": record.id, "vnfd": vnf.vnfd, "vnfr": record.to_tango(&vnf.vnfd) }))
        .collect();
    json!({ "nsd": template.nsd, "nsr": nsr.to_tango(&template.nsd), "vnfs": vnfs, "ingress": Value::Null, "egress": Value::Null })
}

/// The content the orchestrator sends for `event` in a service whose
/// records are `nsr` and `vnfrs`, for FSM events about the first instance
/// of the NSD's VNF `vnf_id` (the first VNF when `None`): sample payloads
/// for testing a manager on its own service's shapes. A state is whatever
/// an FSM extracted: the SSM state sample carries the VNF's address as
/// text. The scale sample is a scale-out that added this instance.
pub fn sample(
    event: wasmano_host::Event,
    template: &ServiceTemplate,
    nsr: &NsRecord,
    vnfrs: &[VnfRecord],
    vnf_id: Option<&str>,
    vims: &[VimStatus],
) -> Result<Value, String> {
    use sm_sdk::fsm::FsmEvent;
    use sm_sdk::ssm::SsmEvent;
    use wasmano_host::Event;

    let members = vnfrs
        .iter()
        .map(|record| {
            let vnf = template
                .vnfs
                .iter()
                .find(|vnf| vnf.vnf_id == record.vnf_id)
                .ok_or_else(|| format!("VNFR {} names VNF {}, which the NSD lacks", record.id, record.vnf_id))?;
            Ok((vnf, record))
        })
        .collect::<Result<Vec<Member<'_>>, String>>()?;
    let target = || {
        members
            .iter()
            .find(|(vnf, _)| vnf_id.is_none_or(|wanted| vnf.vnf_id == wanted))
            .copied()
            .ok_or_else(|| format!("the service has no VNF {}", vnf_id.unwrap_or("at all")))
    };
    Ok(match event {
        Event::Ssm(SsmEvent::Placement) => {
            let instances: Vec<(String, &VnfTemplate)> =
                members.iter().map(|(vnf, record)| (record.id.clone(), *vnf)).collect();
            placement(&nsr.id, template, &instances, vims)
        }
        Event::Ssm(SsmEvent::Configure) => ssm_configure("instantiation", template, nsr, &members, None),
        Event::Ssm(SsmEvent::State) => {
            let address = target()?
                .1
                .deployment_units
                .iter()
                .flat_map(|unit| &unit.addresses)
                .next();
            ssm_state(&json!(address.map(|cp| cp.address.as_str())))
        }
        Event::Ssm(SsmEvent::Task) => {
            let configures = template
                .ssms
                .iter()
                .any(|ssm| ssm.events.contains(&SsmEvent::Configure));
            task(&super::schedule::instantiation(configures))
        }
        Event::Ssm(SsmEvent::Monitor) => monitoring_started(template, nsr, &members),
        Event::Fsm(FsmEvent::Start | FsmEvent::Stop) => {
            let (vnf, record) = target()?;
            lifecycle(vnf, record, &members)
        }
        Event::Fsm(FsmEvent::Configure) => fsm_configure(template, nsr, target()?.1, &members),
        Event::Fsm(FsmEvent::State) => {
            let (vnf, record) = target()?;
            state_extract(vnf, record)
        }
        Event::Fsm(FsmEvent::Scale) => {
            let (vnf, record) = target()?;
            let scaling = scaling("out", &vnf.vnf_id, &[record.id.as_str()], &[]);
            fsm_scale(template, vnf, record, &scaling, nsr, &members)
        }
    })
}
