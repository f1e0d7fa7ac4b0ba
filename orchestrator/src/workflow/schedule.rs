//! An instantiation's schedule in 5GTANGO's task names, and what a task
//! manager may change in it.
//!
//! 5GTANGO's SLM ran an instantiation as a list of named tasks and let a
//! task SSM rewrite the list before it ran (the industrial pilot's inserts
//! `configure_ssm`). wasmano sends the same names, so a ported task manager
//! sees what it saw there, and reads the answer back as a [`Phase`] order.
//! Placement, deployment and storing the NSR cannot be skipped and keep
//! their order; FSM start and configure may be skipped or swapped between
//! deployment and storing the NSR; the tasks wasmano does as part of
//! another step (topology, policies, networks, chaining, generic envs,
//! informing the requester) may be moved or skipped with no effect. Any
//! other name, or a name twice, is refused.

use std::collections::HashSet;

/// What an instantiation runs between deploying its VNFs and storing its
/// NSR, in schedule order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// FSM start of every VNF not started yet (`vnfs_start`).
    StartFsms,
    /// SSM configure, then the FSM configure events it switches on
    /// (`configure_ssm`).
    Configure,
}

const PLACEMENT: &str = "SLM_mapping";
const DEPLOY: &str = "vnf_deploy";
const START: &str = "vnfs_start";
const CONFIGURE: &str = "configure_ssm";
const STORE_NSR: &str = "store_nsr";

/// 5GTANGO's instantiation tasks, in its order; `configure_ssm` is inserted
/// after `wan_configure` when the service has a configure manager.
const INSTANTIATION: [&str; 14] = [
    "consolidate_predefined_mapping",
    "request_topology",
    "request_policies",
    PLACEMENT,
    "consolidate_mapping",
    "network_create",
    DEPLOY,
    "vnfs_generic_envs",
    START,
    "vnf_chain",
    "wan_configure",
    STORE_NSR,
    "start_monitoring",
    "inform_gk_instantiation",
];

/// The schedule an instantiation runs unless a task manager rewrites it.
pub fn instantiation(configure: bool) -> Vec<&'static str> {
    let mut schedule = INSTANTIATION.to_vec();
    if configure {
        let at = schedule
            .iter()
            .position(|task| *task == STORE_NSR)
            .unwrap_or(schedule.len());
        schedule.insert(at, CONFIGURE);
    }
    schedule
}

/// The phases a schedule runs, or why a task manager may not ask for it.
pub fn phases(schedule: &[String]) -> Result<Vec<Phase>, String> {
    let mut seen = HashSet::new();
    for task in schedule {
        if !INSTANTIATION.contains(&task.as_str()) && task != CONFIGURE {
            return Err(format!(
                "unknown task {task:?} in the schedule; an instantiation knows {} and {CONFIGURE}",
                INSTANTIATION.join(", ")
            ));
        }
        if !seen.insert(task.as_str()) {
            return Err(format!("task {task:?} is scheduled twice"));
        }
    }
    let position = |name: &str| schedule.iter().position(|task| task == name);
    let mut fixed = Vec::new();
    for name in [PLACEMENT, DEPLOY, STORE_NSR] {
        let at = position(name).ok_or_else(|| format!("the schedule must keep {name}"))?;
        fixed.push(at);
    }
    if !fixed.is_sorted() {
        return Err(format!("{PLACEMENT}, {DEPLOY} and {STORE_NSR} must keep their order"));
    }
    let (deploy, store) = (fixed[1], fixed[2]);
    let mut phases = Vec::new();
    for (at, task) in schedule.iter().enumerate() {
        let phase = match task.as_str() {
            START => Phase::StartFsms,
            CONFIGURE => Phase::Configure,
            _ => continue,
        };
        if at < deploy || at > store {
            return Err(format!("{task} must come after {DEPLOY} and before {STORE_NSR}"));
        }
        phases.push(phase);
    }
    Ok(phases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(schedule: &[&str]) -> Vec<String> {
        schedule.iter().map(|task| (*task).to_owned()).collect()
    }

    #[test]
    fn the_default_schedule_starts_then_configures_when_a_manager_configures() {
        assert_eq!(phases(&owned(&instantiation(false))), Ok(vec![Phase::StartFsms]));
        assert_eq!(
            phases(&owned(&instantiation(true))),
            Ok(vec![Phase::StartFsms, Phase::Configure])
        );
    }

    #[test]
    fn a_task_manager_may_swap_and_skip_the_movable_tasks() {
        let swapped = ["SLM_mapping", "vnf_deploy", "configure_ssm", "vnfs_start", "store_nsr"];
        assert_eq!(phases(&owned(&swapped)), Ok(vec![Phase::Configure, Phase::StartFsms]));
        let bare = ["request_topology", "SLM_mapping", "vnf_deploy", "store_nsr"];
        assert_eq!(phases(&owned(&bare)), Ok(vec![]));
    }

    #[test]
    fn a_task_manager_may_not_skip_reorder_repeat_or_invent() {
        for (schedule, error) in [
            (vec!["SLM_mapping", "store_nsr"], "must keep vnf_deploy"),
            (vec!["vnf_deploy", "SLM_mapping", "store_nsr"], "must keep their order"),
            (
                vec!["SLM_mapping", "vnfs_start", "vnf_deploy", "store_nsr"],
                "must come after vnf_deploy",
            ),
            (
                vec!["SLM_mapping", "vnf_deploy", "vnf_deploy", "store_nsr"],
                "scheduled twice",
            ),
            (
                vec!["SLM_mapping", "vnf_deploy", "rm_rf", "store_nsr"],
                "unknown task \"rm_rf\"",
            ),
        ] {
            let refused = phases(&owned(&schedule)).unwrap_err();
            assert!(refused.contains(error), "{schedule:?}: {refused}");
        }
    }
}
