//! Example placement SSM: puts each VNF on a feasible VIM (type matches the
//! VNF's deployment units, enough free cores and memory), preferring the VIM
//! with the most free cores, and accounts for what it already placed. When a
//! VNF fits nowhere it answers an error naming that VNF. It places VNFs only:
//! the service's virtual links are left to the orchestrator to realise.

use sm_sdk::descriptor::Demand;
use sm_sdk::ssm::{Placement, PlacementRequest, SsmEvent, Vim, VnfPlacement};
use sm_sdk::{ManagerError, ServiceManager};

/// The most-free-cores placement manager.
#[derive(Debug, Default)]
pub struct MostFreeCores;

impl ServiceManager for MostFreeCores {
    const HANDLES: &'static [SsmEvent] = &[SsmEvent::Placement];

    fn placement(&self, request: PlacementRequest) -> Result<Placement, ManagerError> {
        let mut vims = request.vims;
        let mut mapping = Vec::with_capacity(request.vnfds.len());
        for vnfd in &request.vnfds {
            let vnf = vnfd
                .instance_id()
                .ok_or_else(|| ManagerError::failed("a VNFD has neither instance_uuid nor uuid"))?;
            let demand = vnfd
                .demand()
                .map_err(|error| ManagerError::failed(format!("VNF {vnf}: {error}")))?;
            let vim = best_vim(&mut vims, &demand).ok_or_else(|| {
                ManagerError::failed(format!(
                    "Unable to perform placement: VNF {vnf} needs {} cores and {} MB on a {} VIM, and none has them free",
                    demand.cores, demand.memory_mb, demand.kind
                ))
            })?;
            vim.core_used += demand.cores;
            vim.memory_used += demand.memory_mb;
            mapping.push(VnfPlacement {
                vnf: vnf.to_owned(),
                vim: vim.uuid.clone(),
            });
        }
        sm_sdk::info!("placed {} VNFs", mapping.len());
        Ok(Placement::of_vnfs(mapping))
    }
}

/// The feasible VIM with the most free cores; the first of equals wins.
fn best_vim<'a>(vims: &'a mut [Vim], demand: &Demand) -> Option<&'a mut Vim> {
    vims.iter_mut()
        .filter(|vim| {
            vim.kind == demand.kind && vim.free_cores() >= demand.cores && vim.free_memory() >= demand.memory_mb
        })
        .reduce(|best, vim| {
            if vim.free_cores() > best.free_cores() {
                vim
            } else {
                best
            }
        })
}

sm_sdk::export_service_manager!(MostFreeCores);

#[cfg(test)]
mod tests {
    use super::*;
    use sm_sdk::Document;

    fn request(vims: &str, vnfds: &str) -> PlacementRequest {
        let content = format!(r#"{{"topology": {{"vims": {{"vim_list": {vims}}}}}, "vnfds": {vnfds}}}"#);
        PlacementRequest::from_document(Document::from_json(content)).unwrap()
    }

    fn vm(id: &str, cores: u32, memory_gb: u32) -> String {
        format!(
            r#"{{"instance_uuid": "{id}", "virtual_deployment_units": [{{"id": "vdu",
                "resource_requirements": {{"cpu": {{"vcpus": {cores}}}, "memory": {{"size": {memory_gb}, "size_unit": "GB"}}}}}}]}}"#
        )
    }

    fn vim(id: &str, kind: &str, free_cores: u32, free_memory_mb: u32) -> String {
        format!(
            r#"{{"vim_uuid": "{id}", "type": "{kind}", "core_total": {free_cores}, "core_used": 0,
                "memory_total": {free_memory_mb}, "memory_used": 0}}"#
        )
    }

    #[test]
    fn prefers_the_vim_with_most_free_cores_and_accounts_for_earlier_vnfs() {
        let vims = format!("[{}, {}]", vim("small", "vm", 4, 100_000), vim("big", "vm", 6, 100_000));
        let vnfds = format!("[{}, {}]", vm("a", 4, 1), vm("b", 2, 1));
        let mapping = MostFreeCores.placement(request(&vims, &vnfds)).unwrap();
        // a takes 4 of big's 6 cores, leaving small (4 free) the better choice for b.
        assert_eq!(mapping.vnfs[0].vim, "big");
        assert_eq!(mapping.vnfs[1].vim, "small");
    }

    #[test]
    fn never_puts_a_vm_on_a_container_vim() {
        let vims = format!(
            "[{}, {}]",
            vim("k8s", "container", 64, 1_000_000),
            vim("os", "vm", 2, 4_000)
        );
        let mapping = MostFreeCores
            .placement(request(&vims, &format!("[{}]", vm("a", 1, 1))))
            .unwrap();
        assert_eq!(mapping.vnfs[0].vim, "os");
    }

    #[test]
    fn answers_an_error_naming_the_vnf_that_does_not_fit() {
        let vims = format!("[{}]", vim("tiny", "vm", 1, 100_000));
        let error = MostFreeCores
            .placement(request(&vims, &format!("[{}]", vm("hungry", 2, 1))))
            .unwrap_err();
        let ManagerError::Failed { message, .. } = error else {
            panic!("expected an error answer")
        };
        assert!(message.contains("hungry"), "{message}");
    }

    #[test]
    fn memory_is_a_constraint_too() {
        let vims = format!("[{}, {}]", vim("lowmem", "vm", 16, 1_000), vim("roomy", "vm", 2, 8_000));
        let mapping = MostFreeCores
            .placement(request(&vims, &format!("[{}]", vm("a", 1, 2))))
            .unwrap();
        assert_eq!(mapping.vnfs[0].vim, "roomy");
    }

    #[test]
    fn does_not_handle_configure() {
        let request = sm_sdk::ssm::ConfigureRequest::from_document(Document::from_json("{}")).unwrap();
        assert_eq!(MostFreeCores.configure(request), Err(ManagerError::NotHandled));
    }
}
