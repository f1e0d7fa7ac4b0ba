//! Capacity reserved between a placement decision and the deployment of its
//! units, so that concurrent workflows never take the same free capacity
//! while no lock is held across a placement hook or a deploy.
//!
//! A workflow places on the VIMs as the infrastructure reports them minus
//! what others have reserved ([`Reservations::available`]); placement may
//! run a manager's hook for as long as its deadline. It then reserves its
//! mapping ([`Reservations::reserve`]): under a short lock, against a fresh
//! report, the mapping must still fit, and is recorded. The reservation is
//! released when dropped, once the units are deployed (the
//! infrastructure's ledger counts them from then on) or failed to deploy.
//! Between a deploy and the release the capacity counts twice:
//! conservative, never overcommitted. A mapping that no longer fits is
//! placed again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::infrastructure::{InfraError, Infrastructure, VimStatus};

/// Capacity one VNF instance will take on a VIM.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Claim {
    /// The VIM.
    pub vim: String,
    /// Cores.
    pub cores: f64,
    /// Memory in MB.
    pub memory_mb: f64,
}

/// The reservations of every running workflow.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    held: Mutex<HashMap<u64, Vec<Claim>>>,
    next: AtomicU64,
    /// Held only while a mapping is checked against a fresh report.
    reserving: tokio::sync::Mutex<()>,
}

/// A reservation; dropping it releases its capacity.
#[derive(Debug)]
pub(crate) struct Reservation {
    reservations: Arc<Reservations>,
    key: u64,
}

impl Reservation {
    /// Gives back one claim once what it was for is deployed (the
    /// infrastructure counts it from then on): a concurrent placement must
    /// not see it twice while the rest of the reservation is deployed.
    pub fn release(&self, claim: &Claim) {
        if let Some(claims) = self.reservations.held().get_mut(&self.key)
            && let Some(position) = claims.iter().position(|held| held == claim)
        {
            claims.remove(position);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.reservations.held().remove(&self.key);
    }
}

/// Tolerance for sums of fractional capacities.
const EPSILON: f64 = 1e-9;

impl Reservations {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Claim>>> {
        // Every change is a single insert or remove.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The VIMs with what is reserved on them counted as used.
    pub fn available(&self, mut vims: Vec<VimStatus>) -> Vec<VimStatus> {
        let held = self.held();
        for claim in held.values().flatten() {
            if let Some(vim) = vims.iter_mut().find(|vim| vim.config.id == claim.vim) {
                vim.cores_used += claim.cores;
                vim.memory_used_mb += claim.memory_mb;
            }
        }
        vims
    }

    /// Reserves `claims` if they fit what the infrastructure reports now
    /// minus what is reserved; else the first VIM they do not fit.
    pub async fn reserve(
        self: &Arc<Self>,
        infrastructure: &dyn Infrastructure,
        claims: Vec<Claim>,
    ) -> Result<Reservation, InfraError> {
        let _reserving = self.reserving.lock().await;
        let vims = self.available(infrastructure.vims().await?);
        let mut wanted: Vec<(&str, f64, f64)> = Vec::new();
        for claim in &claims {
            match wanted.iter_mut().find(|(vim, ..)| *vim == claim.vim) {
                Some((_, cores, memory)) => {
                    *cores += claim.cores;
                    *memory += claim.memory_mb;
                }
                None => wanted.push((&claim.vim, claim.cores, claim.memory_mb)),
            }
        }
        for (vim_id, cores, memory_mb) in wanted {
            let vim = vims
                .iter()
                .find(|vim| vim.config.id == vim_id)
                .ok_or_else(|| InfraError::UnknownVim(vim_id.to_owned()))?;
            let free_cores = vim.config.cores - vim.cores_used;
            let free_memory_mb = vim.config.memory_mb - vim.memory_used_mb;
            if cores > free_cores + EPSILON || memory_mb > free_memory_mb + EPSILON {
                return Err(InfraError::Capacity {
                    vim: vim_id.to_owned(),
                    unit: "the placed VNF instances".into(),
                    cores,
                    memory_mb,
                    free_cores,
                    free_memory_mb,
                });
            }
        }
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.held().insert(key, claims);
        Ok(Reservation {
            reservations: Arc::clone(self),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use tango_model::descriptor::VimKind;

    use super::*;
    use crate::infrastructure::VimConfig;
    use crate::infrastructure::emulated::EmulatedInfrastructure;

    fn vim(id: &str) -> VimConfig {
        VimConfig {
            id: id.into(),
            kind: VimKind::Container,
            cores: 4.0,
            memory_mb: 4_000.0,
            labels: Default::default(),
        }
    }

    fn claim(vim: &str, cores: f64) -> Claim {
        Claim {
            vim: vim.into(),
            cores,
            memory_mb: 100.0,
        }
    }

    #[tokio::test]
    async fn reservations_hold_capacity_until_dropped() {
        let infrastructure = EmulatedInfrastructure::new(vec![vim("a"), vim("b")]).unwrap();
        let reservations = Arc::new(Reservations::default());
        let first = reservations
            .reserve(&infrastructure, vec![claim("a", 3.0)])
            .await
            .unwrap();
        let available = reservations.available(infrastructure.vims().await.unwrap());
        assert_eq!(available[0].cores_used, 3.0);
        assert_eq!(available[1].cores_used, 0.0);
        let refused = reservations
            .reserve(&infrastructure, vec![claim("a", 1.0), claim("a", 0.5)])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, InfraError::Capacity { ref vim, .. } if vim == "a"),
            "{refused}"
        );
        assert!(
            reservations
                .reserve(&infrastructure, vec![claim("b", 4.0)])
                .await
                .is_ok()
        );
        drop(first);
        assert!(
            reservations
                .reserve(&infrastructure, vec![claim("a", 4.0)])
                .await
                .is_ok()
        );
        assert!(matches!(
            reservations.reserve(&infrastructure, vec![claim("c", 1.0)]).await,
            Err(InfraError::UnknownVim(_))
        ));
    }

    #[tokio::test]
    async fn a_released_claim_is_no_longer_counted_twice() {
        let infrastructure = EmulatedInfrastructure::new(vec![vim("a")]).unwrap();
        let reservations = Arc::new(Reservations::default());
        let held = reservations
            .reserve(&infrastructure, vec![claim("a", 1.0), claim("a", 2.0)])
            .await
            .unwrap();
        held.release(&claim("a", 2.0));
        let available = reservations.available(infrastructure.vims().await.unwrap());
        assert_eq!(available[0].cores_used, 1.0, "only the claim not yet deployed counts");
        held.release(&claim("a", 5.0));
        let available = reservations.available(infrastructure.vims().await.unwrap());
        assert_eq!(
            available[0].cores_used, 1.0,
            "releasing what was not claimed changes nothing"
        );
    }
}
