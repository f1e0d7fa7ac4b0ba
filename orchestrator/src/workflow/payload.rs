//! The 5GTANGO content of each hook, built from templates and records
//! (shapes of BRIEF §3, as tng-sdk-sm's example payloads show them).

use serde_json::{Value, json};

use crate::infrastructure::VimStatus;
use crate::records::{NsRecord, VnfRecord};

use super::template::{ServiceTemplate, VnfTemplate};

/// The VIM list of a placement topology.
fn topology(vims: &[VimStatus]) -> Value {
    let vim_list: Vec<Value> = vims
        .iter()
        .map(|vim| {
            json!({
                "vim_uuid": vim.config.id,
                "type": match vim.config.kind {
                    sm_sdk::descriptor::VimKind::Vm => "vm",
                    sm_sdk::descriptor::VimKind::Container => "container",
                },
                "core_total": vim.config.cores,
                "core_used": vim.cores_used,
                "memory_total": vim.config.memory_mb,
                "memory_used": vim.memory_used_mb,
                "labels": vim.config.labels,
            })
        })
        .collect();
    json!({ "vims": { "vim_list": vim_list }, "wims": [] })
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

/// FSM start and stop: the VNF's descriptor and record.
pub(crate) fn lifecycle(vnf: &VnfTemplate, record: &VnfRecord) -> Value {
    json!({ "vnfd": vnf.vnfd, "vnfr": record.to_tango() })
}

/// SSM configure: the workflow, the service, its VNFs with descriptors,
/// records and VIMs.
pub(crate) fn ssm_configure(
    workflow: &str,
    template: &ServiceTemplate,
    nsr: &NsRecord,
    vnfs: &[(&VnfTemplate, &VnfRecord)],
) -> Value {
    let functions: Vec<Value> = vnfs
        .iter()
        .map(|(vnf, record)| {
            json!({
                "id": record.id,
                "vnfd": vnf.vnfd,
                "vnfr": record.to_tango(),
                "vim_uuid": record.deployment_units.first().map(|unit| unit.vim_id.as_str()),
            })
        })
        .collect();
    json!({
        "workflow": workflow,
        "service": { "nsd": template.nsd, "nsr": nsr.to_tango() },
        "functions": functions,
        "ingress": Value::Null,
        "egress": Value::Null,
        "ip_mapping": [],
    })
}

/// FSM configure, default payload: the service's record and its VNFs'.
pub(crate) fn fsm_configure(nsr: &NsRecord, records: &[&VnfRecord]) -> Value {
    let vnfrs: Vec<Value> = records.iter().map(|record| record.to_tango()).collect();
    json!({ "nsr": nsr.to_tango(), "vnfrs": vnfrs, "ingress": Value::Null, "egress": Value::Null })
}

/// FSM state extract.
pub(crate) fn state_extract(record: &VnfRecord) -> Value {
    json!({ "action": "extract", "vnfr": record.to_tango() })
}

/// FSM state inject.
pub(crate) fn state_inject(record: &VnfRecord, state: &Value) -> Value {
    json!({ "action": "inject", "vnfr": record.to_tango(), "state": state })
}

/// SSM state: the extracted state.
pub(crate) fn ssm_state(state: &Value) -> Value {
    json!({ "state": state })
}
