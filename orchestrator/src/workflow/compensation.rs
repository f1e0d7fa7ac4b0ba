//! How a failed run gives back what it did: one compensation per kind of
//! step that changes something a rollback must restore, and one place that
//! applies the failure policy ([`Orchestrator::end`]).
//!
//! As a run goes, each such step leaves its compensation on the run:
//!
//! | step | compensation |
//! |---|---|
//! | `store NSR` (an instantiation's record) | [`Compensation::FailService`]: the service's managers released, its NSR failed, listing nothing |
//! | `store VNFR` of a new instance (its units deployed) | [`Compensation::RemoveInstance`]: its units, as they are then, removed (a failed removal held for the retries), its FSMs released, its record failed |
//! | the run's first NSR write that changes which VNFs it lists or its status | [`Compensation::RestoreListing`]: the NSR lists what it listed before, in the status it had |
//!
//! A failed run with the undo policy applies its compensations last first.
//! Nothing else needs one: hooks are pure; envs set into an instance that
//! stays are kept (it runs with what its managers last gave); a VNF
//! instance's deployment is one step to the run, so units deployed before
//! one of its units or its record failed are removed right there
//! (`Orchestrator::deploy_vnf`), whatever the policy, since no record knows
//! them. A removal cannot be undone: scale-in and termination are past
//! undoing from their start, and a migration from its commit point
//! ([`Run::commit_point`]); a failure past undoing keeps what the run did
//! (FAILED_TEMP), as the keep policy does. A resumed run takes over the
//! compensations of what the failed run left ([`Run::compensate_with`]).
//! Recovery after a crash removes instances with the same action
//! (`Orchestrator::remove_vnfs`).

use super::{Orchestrator, Run, ServiceState, Status, Step, WorkflowError, WorkflowReport, release_ssms};
use crate::records::{NsRecord, RecordWrite, Written};

/// What undoes one step of a run (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Compensation {
    /// The service an instantiation recorded does not run: its managers
    /// released, its NSR failed.
    FailService,
    /// A VNF instance the run added goes.
    RemoveInstance {
        /// Its VNFR's id.
        instance_id: String,
    },
    /// The NSR as it was before the run changed it.
    RestoreListing {
        /// The VNF instances it listed.
        network_functions: Vec<String>,
        /// Its status.
        status: Status,
    },
}

impl Run {
    /// Leaves a compensation for a step just done, unless the run is past
    /// undoing. Only the first [`Compensation::RestoreListing`] is kept:
    /// what to restore is the NSR from before the run.
    pub(super) fn compensate_with(&mut self, compensation: Compensation) {
        let restoring = |kept: &Compensation| matches!(kept, Compensation::RestoreListing { .. });
        if self.past_undoing || (restoring(&compensation) && self.compensations.iter().any(restoring)) {
            return;
        }
        self.compensations.push(compensation);
    }

    /// Leaves a [`Compensation::RestoreListing`] when writing `after` changes
    /// what `before` listed or its status.
    pub(super) fn listing_changes(&mut self, before: &NsRecord, after: &NsRecord) {
        if (&before.network_functions, before.status) != (&after.network_functions, after.status) {
            self.compensate_with(Compensation::RestoreListing {
                network_functions: before.network_functions.clone(),
                status: before.status,
            });
        }
    }

    /// The run's commit point: from here on nothing it did is undone.
    pub(super) fn commit_point(&mut self) {
        self.past_undoing = true;
        self.compensations.clear();
    }
}

impl Orchestrator {
    /// Ends a run on a service: the one place the failure policy applies.
    /// A run that succeeded leaves the service as it is now. A failed run
    /// keeps what it did (FAILED_TEMP) when its policy keeps failures, it
    /// was cancelled or it is past undoing; otherwise its compensations
    /// undo it (ROLLED_BACK), and a service whose record is then failed
    /// does not run any more.
    pub(super) async fn end(
        &self,
        mut run: Run,
        service_id: &str,
        mut state: ServiceState,
        outcome: Result<(), WorkflowError>,
    ) -> Result<WorkflowReport, WorkflowError> {
        // The records a run wrote later are stored before it is done.
        let outcome = match outcome {
            Ok(()) => run.store_deferred().await,
            failed => failed,
        };
        let error = match outcome {
            Ok(()) => {
                self.put(service_id, state.clone());
                return self.finish(run, &state).await;
            }
            Err(error) => error,
        };
        if run.keeps_failures() || run.past_undoing {
            self.put(service_id, state);
            return Err(self.fail(run, error).await);
        }
        while let Some(compensation) = run.compensations.pop() {
            self.compensate(&mut run, &mut state, compensation).await;
        }
        if state.nsr.status == Status::Failed {
            self.forget(service_id);
        } else {
            self.put(service_id, state);
        }
        Err(self.fail(run, error.into_undone()).await)
    }

    /// Applies one compensation, best effort: undo goes on past failures,
    /// each journaled.
    async fn compensate(&self, run: &mut Run, state: &mut ServiceState, compensation: Compensation) {
        match compensation {
            Compensation::FailService => self.fail_service(run, state).await,
            Compensation::RemoveInstance { instance_id } => {
                if let Some(position) = state.vnfs.iter().position(|vnf| vnf.record.id == instance_id) {
                    let instance = state.vnfs.remove(position);
                    self.remove_vnfs(run, &state.template, vec![instance], Status::Failed)
                        .await;
                }
            }
            Compensation::RestoreListing {
                network_functions,
                status,
            } => {
                if (&state.nsr.network_functions, state.nsr.status) == (&network_functions, status) {
                    return;
                }
                let restored = NsRecord {
                    network_functions,
                    status,
                    ..state.nsr.clone()
                };
                if let Some(Ok(nsr)) = run
                    .undo_write(Step::RestoreNsr, RecordWrite::UpdateNs(restored))
                    .await
                    .map(Written::into_ns)
                {
                    state.nsr = nsr;
                }
            }
        }
    }

    /// A service that does not run any more: its managers release what they
    /// hold for it and its NSR is failed, listing nothing (failed in memory
    /// even when the store refuses: recovery reads the store again).
    async fn fail_service(&self, run: &mut Run, state: &mut ServiceState) {
        release_ssms(run, &state.template).await;
        let failed = NsRecord {
            status: Status::Failed,
            network_functions: Vec::new(),
            ..state.nsr.clone()
        };
        state.nsr = match run
            .undo_write(Step::MarkNsrFailed, RecordWrite::UpdateNs(failed.clone()))
            .await
            .map(Written::into_ns)
        {
            Some(Ok(nsr)) => nsr,
            _ => failed,
        };
    }
}
