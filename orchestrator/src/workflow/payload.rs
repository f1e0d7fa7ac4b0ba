//! The 5GTANGO content of each hook, built from templates and records in
//! the model's types (shapes of BRIEF §3, as tng-sdk-sm's example payloads
//! show them): the same types the SDK reads them with.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use tango_model::descriptor::{VimKind, Vnfd};
use tango_model::fsm::{self, GenericEnvs, LifecycleContent, ScaleContent, Scaling, StateActionName, StateContent};
use tango_model::record::{LoadBalancerIp, Vnfr};
use tango_model::ssm::{
    self, EventSwitch, Function, MonitorContent, MonitoredFunction, Nap, PlacementContent, ServiceEntry, TaskContent,
};
use tango_model::topology::{Sites, Topology};
use tango_model::{Unknown, to_document};

use crate::infrastructure::VimStatus;
use crate::records::{NsRecord, VnfRecord};

use super::template::{ServiceTemplate, VnfTemplate};

/// A hook's content: built by the orchestrator in the model's types (and
/// serialized once, straight into the request), or the document a configure
/// manager switched in for an FSM event (5GTANGO's switch `payload`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Content<T> {
    Built(T),
    Switched(Value),
}

/// A VNF instance of the service with its template, as the payloads that
/// describe the whole service take them.
pub(crate) type Member<'a> = (&'a VnfTemplate, &'a VnfRecord);

/// The placement topology: the VIMs. The infrastructure adapters have no
/// WIMs and no network endpoints: VIMs reach each other directly.
fn topology(vims: &[VimStatus]) -> Topology {
    Topology {
        vims: Some(Sites {
            vim_list: vims.iter().map(VimStatus::as_vim).collect(),
            nep_list: Vec::new(),
            other: Unknown::new(),
        }),
        wims: Vec::new(),
        other: Unknown::new(),
    }
}

/// SSM placement: the NSD, one VNFD per instance to place (with its
/// `instance_uuid`), the topology.
pub(crate) fn placement(
    service_id: &str,
    template: &ServiceTemplate,
    instances: &[(String, &VnfTemplate)],
    vims: &[VimStatus],
) -> PlacementContent {
    let vnfds = instances
        .iter()
        .map(|(instance_id, vnf)| Vnfd {
            instance_uuid: Some(instance_id.clone()),
            ..vnf.vnfd.clone()
        })
        .collect();
    PlacementContent {
        service_id: Some(service_id.to_owned()),
        nsd: template.nsd.clone(),
        vnfds,
        topology: Some(topology(vims)),
        nap: Some(Nap::default()),
        other: Unknown::new(),
    }
}

/// FSM start and stop: the VNF's descriptor and record, and the generic
/// envs of its container units.
pub(crate) fn lifecycle(vnf: &VnfTemplate, record: &VnfRecord, service: &[Member<'_>]) -> LifecycleContent {
    LifecycleContent {
        vnfd: vnf.vnfd.clone(),
        vnfr: record.to_tango(&vnf.vnfd),
        generic_envs: generic_envs(record, service),
        other: Unknown::new(),
    }
}

/// FSM scale: the scaled VNF's descriptor, this instance's record, how the
/// VNF was scaled, the service's records after the scaling, and this
/// instance's generic envs.
pub(crate) fn fsm_scale(
    template: &ServiceTemplate,
    vnf: &VnfTemplate,
    record: &VnfRecord,
    scaling: &Scaling,
    nsr: &NsRecord,
    service: &[Member<'_>],
) -> ScaleContent {
    ScaleContent {
        vnfd: vnf.vnfd.clone(),
        vnfr: record.to_tango(&vnf.vnfd),
        scale: scaling.clone(),
        nsr: Some(nsr.to_tango(&template.nsd)),
        vnfrs: vnfrs(service),
        generic_envs: generic_envs(record, service),
        other: Unknown::new(),
    }
}

/// The service's VNF records, each rendered with its VNFD.
fn vnfrs(service: &[Member<'_>]) -> Vec<Vnfr> {
    service.iter().map(|(vnf, record)| record.to_tango(&vnf.vnfd)).collect()
}

/// How a VNF was scaled, as FSM scale reads it.
pub(crate) fn scaling(direction: &str, vnf_id: &str, added: &[&str], removed: &[&str]) -> Scaling {
    let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect();
    Scaling {
        direction: direction.to_owned(),
        vnf_id: vnf_id.to_owned(),
        added: ids(added),
        removed: ids(removed),
    }
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
) -> ssm::ConfigureContent {
    // 5GTANGO writes every switch with a payload, `{}` for the default one.
    let written = |switch: &Option<EventSwitch>| {
        let switch = switch.clone().unwrap_or_else(EventSwitch::on);
        Some(EventSwitch {
            payload: Some(switch.payload.unwrap_or_else(|| json!({}))),
            ..switch
        })
    };
    let functions = vnfs
        .iter()
        .map(|(vnf, record)| Function {
            id: Some(record.id.clone()),
            vim_uuid: record.deployment_units.first().map(|unit| unit.vim_id.clone()),
            vnfd: Some(vnf.vnfd.clone()),
            vnfr: Some(record.to_tango(&vnf.vnfd)),
            deployed: Some(!record.deployment_units.is_empty()),
            flavour: None,
            start: written(&record.switches.start),
            stop: written(&record.switches.stop),
            configure: written(&None),
            scale: written(&record.switches.scale),
            other: Unknown::new(),
        })
        .collect();
    ssm::ConfigureContent {
        workflow: Some(workflow.to_owned()),
        service: Some(ServiceEntry {
            id: Some(nsr.id.clone()),
            reconfiguration_payload: reconfiguration_payload.cloned(),
            other: Unknown::from_iter([
                ("nsd".to_owned(), to_document(&template.nsd)),
                ("nsr".to_owned(), to_document(&nsr.to_tango(&template.nsd))),
            ]),
        }),
        functions,
        ingress: Vec::new(),
        egress: Vec::new(),
        ip_mapping: ip_mapping(vnfs),
        other: Unknown::new(),
    }
}

/// The floating to internal address mapping of the service's units. The
/// infrastructure adapters hand out one address per unit, reachable as is,
/// so each maps to itself.
fn ip_mapping(vnfs: &[Member<'_>]) -> Vec<LoadBalancerIp> {
    vnfs.iter()
        .flat_map(|(_, record)| &record.deployment_units)
        .flat_map(|unit| &unit.addresses)
        .map(|cp| LoadBalancerIp {
            floating_ip: Some(cp.address.clone()),
            internal_ip: Some(cp.address.clone()),
            other: Unknown::new(),
        })
        .collect()
}

/// FSM configure, default payload: the service's record, its VNFs', and the
/// generic envs of the configured VNF's container units.
pub(crate) fn fsm_configure(
    template: &ServiceTemplate,
    nsr: &NsRecord,
    target: &VnfRecord,
    service: &[Member<'_>],
) -> fsm::ConfigureContent {
    fsm::ConfigureContent {
        nsr: Some(nsr.to_tango(&template.nsd)),
        vnfrs: vnfrs(service),
        ingress: Vec::new(),
        egress: Vec::new(),
        generic_envs: generic_envs(target, service),
        other: Unknown::new(),
    }
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
            let mut envs = BTreeMap::new();
            for (vnf, record) in service {
                for peer in &record.deployment_units {
                    if record.id == target.id && peer.unit_id == unit.unit_id {
                        continue;
                    }
                    let prefix = format!("{}_{}", env_name(&vnf.vnf_id), env_name(&peer.unit_id));
                    if let Some(cp) = peer.addresses.first() {
                        envs.entry(format!("{prefix}_IP")).or_insert_with(|| cp.address.clone());
                    }
                    let declared = vnf.vnfd.deployment_unit(&peer.unit_id).into_iter();
                    for point in declared.flat_map(|unit| &unit.connection_points) {
                        let name = format!("{prefix}_{}", env_name(&point.id));
                        if let Some(port) = &point.port {
                            envs.entry(format!("{name}_PORT")).or_insert_with(|| port.to_string());
                        }
                        if let Some(kind) = &point.kind {
                            envs.entry(format!("{name}_TYPE")).or_insert_with(|| kind.clone());
                        }
                    }
                }
            }
            GenericEnvs {
                cdu_id: format!("{}-{}", unit.unit_id, target.id),
                envs,
                other: Unknown::new(),
            }
        })
        .collect()
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
    to_document(&TaskContent {
        schedule: schedule.iter().map(|step| (*step).to_owned()).collect(),
        other: Unknown::new(),
    })
}

/// FSM state extract.
pub(crate) fn state_extract(vnf: &VnfTemplate, record: &VnfRecord) -> Value {
    to_document(&StateContent {
        action: StateActionName::Extract,
        vnfr: record.to_tango(&vnf.vnfd),
        state: None,
        other: Unknown::new(),
    })
}

/// FSM state inject.
pub(crate) fn state_inject(vnf: &VnfTemplate, record: &VnfRecord, state: &Value) -> Value {
    to_document(&StateContent {
        action: StateActionName::Inject,
        vnfr: record.to_tango(&vnf.vnfd),
        state: Some(state.clone()),
        other: Unknown::new(),
    })
}

/// SSM state: the extracted state.
pub(crate) fn ssm_state(state: &Value) -> Value {
    to_document(&ssm::StateContent {
        state: state.clone(),
        other: Unknown::new(),
    })
}

/// SSM monitor, as 5GTANGO's SLM sent it when monitoring started: the
/// service's descriptors and records.
pub(crate) fn monitoring_started(template: &ServiceTemplate, nsr: &NsRecord, service: &[Member<'_>]) -> Value {
    to_document(&MonitorContent {
        service_instance_id: None,
        nsd: Some(template.nsd.clone()),
        nsr: Some(nsr.to_tango(&template.nsd)),
        vnfs: service
            .iter()
            .map(|(vnf, record)| MonitoredFunction {
                id: Some(record.id.clone()),
                vnfd: Some(vnf.vnfd.clone()),
                vnfr: Some(record.to_tango(&vnf.vnfd)),
                other: Unknown::new(),
            })
            .collect(),
        other: Unknown::new(),
    })
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
    use tango_model::fsm::FsmEvent;
    use tango_model::ssm::SsmEvent;
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
            to_document(&placement(&nsr.id, template, &instances, vims))
        }
        Event::Ssm(SsmEvent::Configure) => to_document(&ssm_configure("instantiation", template, nsr, &members, None)),
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
            to_document(&lifecycle(vnf, record, &members))
        }
        Event::Fsm(FsmEvent::Configure) => to_document(&fsm_configure(template, nsr, target()?.1, &members)),
        Event::Fsm(FsmEvent::State) => {
            let (vnf, record) = target()?;
            state_extract(vnf, record)
        }
        Event::Fsm(FsmEvent::Scale) => {
            let (vnf, record) = target()?;
            let scaling = scaling("out", &vnf.vnf_id, &[record.id.as_str()], &[]);
            to_document(&fsm_scale(template, vnf, record, &scaling, nsr, &members))
        }
    })
}
