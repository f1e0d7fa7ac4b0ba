//! Emulated VIMs: the embedded default infrastructure, so that services can
//! be deployed, scaled and terminated without any real cloud.
//!
//! Nothing runs, but capacity is accounted for exactly as a real adapter
//! must: the [`CapacityLedger`] here is the bookkeeping every adapter shares
//! (the Docker adapter uses it too), so a deploy that would oversubscribe a
//! VIM is refused and `vims()` reports what is really free. VIMs come from a
//! YAML file ([`load_vims`]), from code, or from the embedded
//! [`default_vims`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Deserialize;
use tango_model::KeyValue;
use tango_model::descriptor::VimKind;

use super::{DeployedUnit, InfraError, InfraFuture, Infrastructure, Reconciliation, UnitSpec, VimConfig, VimStatus};
use crate::records::CpAddress;

/// Slack when comparing sums of fractional cores or megabytes, so that, say,
/// 0.1 + 0.2 cores fit on a VIM with 0.3 free.
const EPSILON: f64 = 1e-9;

/// VIMs the emulated address plan `10.v.n.m` has room for (`v` is 0 to 255).
const MAX_VIMS: usize = 256;

/// Connection points of one emulated unit (`m` is 1 to 254).
const MAX_CPS: usize = 254;

/// Why a VIM configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VimConfigError {
    /// A configuration file could not be read, parsed or is inconsistent.
    #[error("VIM configuration {}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A configuration given in code is inconsistent.
    #[error("VIM configuration: {0}")]
    Invalid(String),
}

/// One VIM as the configuration file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VimEntry {
    id: String,
    #[serde(rename = "type")]
    kind: VimKind,
    cores: f64,
    memory_mb: f64,
    #[serde(default)]
    labels: BTreeSet<String>,
}

impl From<VimEntry> for VimConfig {
    fn from(entry: VimEntry) -> Self {
        Self {
            id: entry.id,
            kind: entry.kind,
            cores: entry.cores,
            memory_mb: entry.memory_mb,
            labels: entry.labels,
        }
    }
}

/// Reads a YAML list of VIMs, each
/// `{id, type: vm|container, cores, memory_mb, labels: [..]}` (`labels`
/// optional). Unknown fields, non-positive capacities, empty or repeated ids
/// are errors naming the file.
pub fn load_vims(path: &Path) -> Result<Vec<VimConfig>, VimConfigError> {
    let file_error = |problem: String| VimConfigError::File {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|error| file_error(error.to_string()))?;
    parse_vims(&text).map_err(file_error)
}

/// Parses and checks a YAML list of VIMs.
fn parse_vims(text: &str) -> Result<Vec<VimConfig>, String> {
    let entries: Vec<VimEntry> = serde_saphyr::from_str(text).map_err(|error| error.to_string())?;
    let vims: Vec<VimConfig> = entries.into_iter().map(VimConfig::from).collect();
    check_vims(&vims)?;
    Ok(vims)
}

/// Checks that ids are non-empty and unique and capacities positive.
fn check_vims(vims: &[VimConfig]) -> Result<(), String> {
    let mut ids = BTreeSet::new();
    for vim in vims {
        if vim.id.trim().is_empty() {
            return Err("a VIM has an empty id".into());
        }
        if !ids.insert(vim.id.as_str()) {
            return Err(format!("VIM id {} is used twice", vim.id));
        }
        for (what, amount) in [("cores", vim.cores), ("memory_mb", vim.memory_mb)] {
            if !(amount.is_finite() && amount > 0.0) {
                return Err(format!(
                    "VIM {}: {what} must be a positive number, not {amount}",
                    vim.id
                ));
            }
        }
    }
    Ok(())
}

/// The embedded VIMs the demo runs on: two container VIMs at the edge and
/// two VM VIMs in core data centres, in different regions (Domino-style
/// geolocation labels).
pub fn default_vims() -> Vec<VimConfig> {
    let vim = |id: &str, kind, cores, memory_mb, labels: &[&str]| VimConfig {
        id: id.into(),
        kind,
        cores,
        memory_mb,
        labels: labels.iter().map(|label| (*label).to_string()).collect(),
    };
    const EU_WEST: &str = "tosca.policies.Placement.Geolocation:properties:region:eu-west-1";
    const EU_CENTRAL: &str = "tosca.policies.Placement.Geolocation:properties:region:eu-central-1";
    const US_WEST: &str = "tosca.policies.Placement.Geolocation:properties:region:us-west-1";
    vec![
        vim("edge-eu-west", VimKind::Container, 8.0, 16_384.0, &[EU_WEST]),
        vim("edge-us-west", VimKind::Container, 4.0, 8_192.0, &[US_WEST]),
        vim("core-eu-central", VimKind::Vm, 32.0, 131_072.0, &[EU_CENTRAL]),
        vim("core-us-west", VimKind::Vm, 16.0, 65_536.0, &[US_WEST]),
    ]
}

/// What one deployed unit holds on a VIM.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reservation {
    vim: usize,
    cores: f64,
    memory_mb: f64,
}

/// The capacity bookkeeping of a set of VIMs: which reservation holds how
/// much of which VIM. Adapters keep it behind their own lock, together with
/// whatever else must change in the same step.
///
/// Use is summed from the live reservations rather than kept as a running
/// total, so releasing everything gives exactly zero back.
#[derive(Debug)]
pub struct CapacityLedger {
    vims: Vec<VimConfig>,
    reservations: HashMap<String, Reservation>,
}

impl CapacityLedger {
    /// A ledger of these VIMs, nothing reserved. Empty or repeated ids and
    /// non-positive capacities are refused.
    pub fn new(vims: Vec<VimConfig>) -> Result<Self, VimConfigError> {
        check_vims(&vims).map_err(VimConfigError::Invalid)?;
        Ok(Self {
            vims,
            reservations: HashMap::new(),
        })
    }

    /// The VIMs, in configuration order.
    pub fn vims(&self) -> &[VimConfig] {
        &self.vims
    }

    /// The VIMs and what is reserved on each.
    pub fn status(&self) -> Vec<VimStatus> {
        self.vims
            .iter()
            .enumerate()
            .map(|(index, config)| {
                let (cores_used, memory_used_mb) = self.used(index);
                VimStatus {
                    config: config.clone(),
                    cores_used,
                    memory_used_mb,
                }
            })
            .collect()
    }

    /// Reserves what `unit` needs on VIM `vim_id` under `key`, after checking
    /// that the VIM hosts the unit's kind and has the capacity free. Returns
    /// the VIM's position in the configuration.
    pub fn reserve(&mut self, key: &str, vim_id: &str, unit: &UnitSpec) -> Result<usize, InfraError> {
        let index = self
            .vims
            .iter()
            .position(|vim| vim.id == vim_id)
            .ok_or_else(|| InfraError::UnknownVim(vim_id.into()))?;
        let vim = &self.vims[index];
        if vim.kind != unit.kind {
            return Err(InfraError::KindMismatch {
                unit: unit.unit_id.clone(),
                unit_kind: unit.kind,
                vim: vim.id.clone(),
                vim_kind: vim.kind,
            });
        }
        for (what, amount) in [("cores", unit.cores), ("memory_mb", unit.memory_mb)] {
            if !(amount.is_finite() && amount >= 0.0) {
                return Err(InfraError::Backend(format!(
                    "unit {} asks for {amount} {what}: not a non-negative number",
                    unit.unit_id
                )));
            }
        }
        if self.reservations.contains_key(key) {
            return Err(InfraError::Backend(format!("{key} is already deployed")));
        }
        let (cores_used, memory_used_mb) = self.used(index);
        let (free_cores, free_memory_mb) = (vim.cores - cores_used, vim.memory_mb - memory_used_mb);
        if unit.cores > free_cores + EPSILON || unit.memory_mb > free_memory_mb + EPSILON {
            return Err(InfraError::Capacity {
                vim: vim.id.clone(),
                unit: unit.unit_id.clone(),
                cores: unit.cores,
                memory_mb: unit.memory_mb,
                free_cores,
                free_memory_mb,
            });
        }
        self.reservations.insert(
            key.into(),
            Reservation {
                vim: index,
                cores: unit.cores,
                memory_mb: unit.memory_mb,
            },
        );
        Ok(index)
    }

    /// The keys holding reservations.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.reservations.keys()
    }

    /// Whether `key` holds a reservation.
    pub fn holds(&self, key: &str) -> bool {
        self.reservations.contains_key(key)
    }

    /// Gives back exactly what `key` reserved. Returns whether it held
    /// anything; releasing twice is harmless.
    pub fn release(&mut self, key: &str) -> bool {
        self.reservations.remove(key).is_some()
    }

    /// Cores and memory reserved on the VIM at `index`.
    fn used(&self, index: usize) -> (f64, f64) {
        self.reservations
            .values()
            .filter(|reservation| reservation.vim == index)
            .fold((0.0, 0.0), |(cores, memory), reservation| {
                (cores + reservation.cores, memory + reservation.memory_mb)
            })
    }
}

/// `base` with `envs` applied: a key already in `base` takes the new value
/// in place, new keys are appended in their order.
pub fn merge_envs(base: &[KeyValue], envs: Vec<KeyValue>) -> Vec<KeyValue> {
    let mut merged = base.to_vec();
    for env in envs {
        match merged.iter_mut().find(|existing| existing.key == env.key) {
            Some(existing) => existing.value = env.value,
            None => merged.push(env),
        }
    }
    merged
}

/// What the emulated VIMs hold, changed under one lock.
#[derive(Debug)]
struct EmulatedState {
    ledger: CapacityLedger,
    /// Serial of the next unit, making every `instance_ref` unique.
    next_serial: u64,
    /// The address slot (third octet) each live unit holds on its VIM.
    slots: HashMap<String, (usize, u8)>,
    /// The slots held on each VIM, by VIM index: finding a free one costs a
    /// lookup per candidate, not a scan of every live unit.
    held_slots: Vec<BTreeSet<u8>>,
}

/// VIMs that only account: deploying reserves capacity and hands out fake
/// addresses, nothing runs.
///
/// The unit deployed on the VIM at position `v` in the configuration gets
/// the lowest address slot `n` (1 to 255) no live unit of that VIM holds,
/// and its connection points `10.v.n.1`, `10.v.n.2`, ... in order, so the
/// same sequence of operations always yields the same addresses.
#[derive(Debug)]
pub struct EmulatedInfrastructure {
    state: Mutex<EmulatedState>,
}

impl EmulatedInfrastructure {
    /// Emulates these VIMs.
    pub fn new(vims: Vec<VimConfig>) -> Result<Self, VimConfigError> {
        if vims.len() > MAX_VIMS {
            return Err(VimConfigError::Invalid(format!(
                "{} VIMs, the emulated address plan has room for {MAX_VIMS}",
                vims.len()
            )));
        }
        let held_slots = vec![BTreeSet::new(); vims.len()];
        Ok(Self {
            state: Mutex::new(EmulatedState {
                ledger: CapacityLedger::new(vims)?,
                next_serial: 1,
                slots: HashMap::new(),
                held_slots,
            }),
        })
    }

    /// Emulates the VIMs of a YAML configuration file (see [`load_vims`]).
    pub fn from_file(path: &Path) -> Result<Self, VimConfigError> {
        Self::new(load_vims(path)?)
    }

    fn state(&self) -> MutexGuard<'_, EmulatedState> {
        // Every change to the state completes before the lock is released,
        // so a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deploy_now(&self, vim_id: &str, unit: UnitSpec) -> Result<DeployedUnit, InfraError> {
        if unit.connection_points.len() > MAX_CPS {
            return Err(InfraError::Backend(format!(
                "unit {} has {} connection points, an emulated unit has at most {MAX_CPS}",
                unit.unit_id,
                unit.connection_points.len()
            )));
        }
        let mut state = self.state();
        let state = &mut *state;
        let instance_ref = format!("emulated:{vim_id}:{}", state.next_serial);
        let vim = state.ledger.reserve(&instance_ref, vim_id, &unit)?;
        let Some(slot) = (1..=u8::MAX).find(|slot| !state.held_slots[vim].contains(slot)) else {
            state.ledger.release(&instance_ref);
            return Err(InfraError::Backend(format!(
                "VIM {vim_id} already hosts {} units, as many as emulated addresses go",
                u8::MAX
            )));
        };
        state.next_serial += 1;
        state.slots.insert(instance_ref.clone(), (vim, slot));
        state.held_slots[vim].insert(slot);
        let addresses = unit
            .connection_points
            .iter()
            .zip(1..)
            .map(|(cp, host)| CpAddress {
                cp: cp.clone(),
                address: format!("10.{vim}.{slot}.{host}"),
            })
            .collect();
        Ok(DeployedUnit {
            vim_id: vim_id.into(),
            spec: unit,
            instance_ref,
            addresses,
        })
    }
}

impl EmulatedInfrastructure {
    /// Takes over a unit deployed by an earlier process: its reservation,
    /// its address slot (read back from its first address) and its serial.
    fn adopt_now(&self, unit: &DeployedUnit) -> Result<(), InfraError> {
        let mut state = self.state();
        let state = &mut *state;
        if state.ledger.holds(&unit.instance_ref) {
            return Ok(());
        }
        let serial = unit
            .instance_ref
            .strip_prefix(&format!("emulated:{}:", unit.vim_id))
            .and_then(|serial| serial.parse::<u64>().ok())
            .ok_or_else(|| {
                InfraError::Backend(format!(
                    "{} is not a unit of emulated VIM {}",
                    unit.instance_ref, unit.vim_id
                ))
            })?;
        let vim = state.ledger.reserve(&unit.instance_ref, &unit.vim_id, &unit.spec)?;
        let slot = unit
            .addresses
            .first()
            .and_then(|first| first.address.split('.').nth(2))
            .and_then(|octet| octet.parse::<u8>().ok())
            .filter(|slot| *slot > 0 && !state.held_slots[vim].contains(slot));
        if let Some(slot) = slot {
            state.slots.insert(unit.instance_ref.clone(), (vim, slot));
            state.held_slots[vim].insert(slot);
        }
        state.next_serial = state.next_serial.max(serial + 1);
        Ok(())
    }
}

impl Infrastructure for EmulatedInfrastructure {
    /// Nothing outlives the process here: what the ledger holds is what was
    /// adopted. Units it holds that nobody knows are released; known units
    /// it does not hold are reported missing.
    fn effects_outlive_the_process(&self) -> bool {
        false
    }

    fn reconcile(&self, known: HashSet<String>) -> InfraFuture<'_, Reconciliation> {
        let mut state = self.state();
        let held: Vec<String> = state.ledger.keys().cloned().collect();
        let mut reconciliation = Reconciliation::default();
        for instance_ref in held {
            if !known.contains(&instance_ref) {
                state.ledger.release(&instance_ref);
                if let Some((vim, slot)) = state.slots.remove(&instance_ref) {
                    state.held_slots[vim].remove(&slot);
                }
                reconciliation.removed.push(instance_ref);
            }
        }
        reconciliation.missing = known
            .into_iter()
            .filter(|instance_ref| !state.ledger.holds(instance_ref))
            .collect();
        reconciliation.removed.sort();
        reconciliation.missing.sort();
        drop(state);
        Box::pin(async move { Ok(reconciliation) })
    }

    fn adopt(&self, units: Vec<DeployedUnit>) -> InfraFuture<'_, ()> {
        let adopted = units.iter().try_for_each(|unit| self.adopt_now(unit));
        Box::pin(async move { adopted })
    }

    fn vims(&self) -> InfraFuture<'_, Vec<VimStatus>> {
        let status = self.state().ledger.status();
        Box::pin(async move { Ok(status) })
    }

    fn deploy(&self, vim_id: &str, unit: UnitSpec) -> InfraFuture<'_, DeployedUnit> {
        let deployed = self.deploy_now(vim_id, unit);
        Box::pin(async move { deployed })
    }

    fn set_envs(&self, unit: DeployedUnit, envs: Vec<KeyValue>) -> InfraFuture<'_, DeployedUnit> {
        let result = if self.state().ledger.holds(&unit.instance_ref) {
            let mut unit = unit;
            unit.spec.envs = merge_envs(&unit.spec.envs, envs);
            Ok(unit)
        } else {
            Err(InfraError::Backend(format!(
                "unit {} ({}) is not deployed on VIM {}",
                unit.spec.unit_id, unit.instance_ref, unit.vim_id
            )))
        };
        Box::pin(async move { result })
    }

    fn remove(&self, unit: DeployedUnit) -> InfraFuture<'_, ()> {
        let mut state = self.state();
        state.ledger.release(&unit.instance_ref);
        if let Some((vim, slot)) = state.slots.remove(&unit.instance_ref) {
            state.held_slots[vim].remove(&slot);
        }
        drop(state);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn vim(id: &str, kind: VimKind, cores: f64, memory_mb: f64) -> VimConfig {
        VimConfig {
            id: id.into(),
            kind,
            cores,
            memory_mb,
            labels: BTreeSet::new(),
        }
    }

    fn unit(unit_id: &str, kind: VimKind, cores: f64, memory_mb: f64, cps: &[&str]) -> UnitSpec {
        UnitSpec {
            service_id: "ns-1".into(),
            vnf_instance_id: "vnf-1".into(),
            vnf_id: "vnf0".into(),
            unit_id: unit_id.into(),
            kind,
            image: Some("image".into()),
            cores,
            memory_mb,
            connection_points: cps.iter().map(|cp| (*cp).to_string()).collect(),
            envs: vec![KeyValue::new("A", "1")],
        }
    }

    fn infra() -> EmulatedInfrastructure {
        EmulatedInfrastructure::new(vec![
            vim("vms", VimKind::Vm, 4.0, 4096.0),
            vim("containers", VimKind::Container, 2.0, 1024.0),
        ])
        .unwrap()
    }

    async fn used(infra: &EmulatedInfrastructure, vim_id: &str) -> (f64, f64) {
        let vims = infra.vims().await.unwrap();
        let status = vims.iter().find(|status| status.config.id == vim_id).unwrap();
        (status.cores_used, status.memory_used_mb)
    }

    #[test]
    fn parses_a_vim_file() {
        let vims = parse_vims(
            "- id: edge\n  type: container\n  cores: 4\n  memory_mb: 2048.5\n  labels: [a, b]\n\
             - id: core\n  type: vm\n  cores: 0.5\n  memory_mb: 512\n",
        )
        .unwrap();
        assert_eq!(vims.len(), 2);
        assert_eq!(vims[0].kind, VimKind::Container);
        assert_eq!(vims[0].memory_mb, 2048.5);
        assert_eq!(vims[0].labels, BTreeSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(vims[1].kind, VimKind::Vm);
        assert!(vims[1].labels.is_empty());
    }

    #[test]
    fn refuses_bad_vim_files() {
        let base = "- id: edge\n  type: container\n  cores: 4\n  memory_mb: 2048\n";
        for (text, needle) in [
            (format!("{base}  extra: 1\n"), "extra"),
            (base.replace("container", "unikernel"), "unikernel"),
            (base.replace("cores: 4", "cores: 0"), "cores must be a positive number"),
            (
                base.replace("memory_mb: 2048", "memory_mb: -1"),
                "memory_mb must be a positive number",
            ),
            (format!("{base}{base}"), "VIM id edge is used twice"),
            (base.replace("id: edge", "id: ' '"), "empty id"),
            (base.replace("  cores: 4\n", ""), "cores"),
        ] {
            let error = parse_vims(&text).unwrap_err();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vims.yaml");
        let error = load_vims(&path).unwrap_err();
        assert!(error.to_string().contains("vims.yaml"), "{error}");
        std::fs::write(&path, "- id: a\n  type: vm\n  cores: 1\n  memory_mb: 0\n").unwrap();
        let error = EmulatedInfrastructure::from_file(&path).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("vims.yaml") && message.contains("memory_mb"),
            "{message}"
        );
        std::fs::write(&path, "- id: a\n  type: vm\n  cores: 1\n  memory_mb: 64\n").unwrap();
        assert_eq!(load_vims(&path).unwrap().len(), 1);
    }

    #[test]
    fn in_memory_configurations_are_checked_too() {
        let error = EmulatedInfrastructure::new(vec![vim("a", VimKind::Vm, 1.0, 1.0), vim("a", VimKind::Vm, 1.0, 1.0)])
            .unwrap_err();
        assert_eq!(error, VimConfigError::Invalid("VIM id a is used twice".into()));
        assert!(EmulatedInfrastructure::new(vec![vim("a", VimKind::Vm, f64::NAN, 1.0)]).is_err());
    }

    #[tokio::test]
    async fn default_vims_offer_both_kinds() {
        let vims = default_vims();
        assert!(vims.iter().any(|vim| vim.kind == VimKind::Vm));
        assert!(vims.iter().any(|vim| vim.kind == VimKind::Container));
        let infra = EmulatedInfrastructure::new(vims).unwrap();
        assert!(infra.vims().await.unwrap().iter().all(|vim| vim.cores_used == 0.0));
    }

    #[tokio::test]
    async fn deploy_reserves_addresses_and_remove_releases() {
        let infra = infra();
        let a = infra
            .deploy("vms", unit("a", VimKind::Vm, 1.5, 1000.0, &["mgmt", "input"]))
            .await
            .unwrap();
        let b = infra
            .deploy("vms", unit("b", VimKind::Vm, 2.0, 2000.0, &["mgmt"]))
            .await
            .unwrap();
        let c = infra
            .deploy("containers", unit("c", VimKind::Container, 1.0, 512.0, &["cp"]))
            .await
            .unwrap();
        assert_ne!(a.instance_ref, b.instance_ref);
        let addresses = |unit: &DeployedUnit| unit.addresses.iter().map(|a| a.address.clone()).collect::<Vec<_>>();
        assert_eq!(addresses(&a), ["10.0.1.1", "10.0.1.2"]);
        assert_eq!(a.addresses[1].cp, "input");
        assert_eq!(addresses(&b), ["10.0.2.1"]);
        assert_eq!(addresses(&c), ["10.1.1.1"]);
        assert_eq!(used(&infra, "vms").await, (3.5, 3000.0));
        assert_eq!(used(&infra, "containers").await, (1.0, 512.0));

        infra.remove(a.clone()).await.unwrap();
        assert_eq!(used(&infra, "vms").await, (2.0, 2000.0));
        infra.remove(a).await.unwrap();
        assert_eq!(used(&infra, "vms").await, (2.0, 2000.0), "removing twice releases once");

        // The freed address slot is handed out again, the handle is new.
        let d = infra
            .deploy("vms", unit("d", VimKind::Vm, 0.5, 100.0, &["mgmt"]))
            .await
            .unwrap();
        assert_eq!(addresses(&d), ["10.0.1.1"]);
        for unit in [b, c, d] {
            infra.remove(unit).await.unwrap();
        }
        assert_eq!(used(&infra, "vms").await, (0.0, 0.0));
        assert_eq!(used(&infra, "containers").await, (0.0, 0.0));
    }

    #[tokio::test]
    async fn refuses_what_does_not_fit() {
        let infra = infra();
        let error = infra
            .deploy("nowhere", unit("a", VimKind::Vm, 1.0, 1.0, &[]))
            .await
            .unwrap_err();
        assert_eq!(error, InfraError::UnknownVim("nowhere".into()));
        let error = infra
            .deploy("containers", unit("a", VimKind::Vm, 1.0, 1.0, &[]))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            InfraError::KindMismatch {
                unit_kind: VimKind::Vm,
                vim_kind: VimKind::Container,
                ..
            }
        ));
        let error = infra
            .deploy("vms", unit("a", VimKind::Vm, 4.5, 1.0, &[]))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            InfraError::Capacity {
                vim: "vms".into(),
                unit: "a".into(),
                cores: 4.5,
                memory_mb: 1.0,
                free_cores: 4.0,
                free_memory_mb: 4096.0
            }
        );
        let error = infra
            .deploy("vms", unit("a", VimKind::Vm, 1.0, 5000.0, &[]))
            .await
            .unwrap_err();
        assert!(matches!(error, InfraError::Capacity { .. }));
        let error = infra
            .deploy("vms", unit("a", VimKind::Vm, -1.0, 1.0, &[]))
            .await
            .unwrap_err();
        assert!(matches!(error, InfraError::Backend(message) if message.contains("-1 cores")));
        assert_eq!(
            used(&infra, "vms").await,
            (0.0, 0.0),
            "a refused deploy reserves nothing"
        );

        // Fractions that sum to the capacity fit.
        let infra = EmulatedInfrastructure::new(vec![vim("v", VimKind::Vm, 0.3, 1.0)]).unwrap();
        infra.deploy("v", unit("a", VimKind::Vm, 0.1, 0.5, &[])).await.unwrap();
        infra.deploy("v", unit("b", VimKind::Vm, 0.2, 0.5, &[])).await.unwrap();
        assert!(infra.deploy("v", unit("c", VimKind::Vm, 0.1, 0.0, &[])).await.is_err());
    }

    #[tokio::test]
    async fn set_envs_merges_into_a_deployed_unit() {
        let infra = infra();
        let deployed = infra
            .deploy("vms", unit("a", VimKind::Vm, 1.0, 1.0, &["cp"]))
            .await
            .unwrap();
        let updated = infra
            .set_envs(deployed.clone(), vec![KeyValue::new("A", "2"), KeyValue::new("B", "3")])
            .await
            .unwrap();
        assert_eq!(updated.spec.envs, [KeyValue::new("A", "2"), KeyValue::new("B", "3")]);
        assert_eq!(updated.instance_ref, deployed.instance_ref);
        assert_eq!(updated.addresses, deployed.addresses);
        infra.remove(updated.clone()).await.unwrap();
        assert!(
            infra.set_envs(updated, Vec::new()).await.is_err(),
            "a removed unit has no envs to set"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_deploys_never_oversubscribe() {
        // Room for exactly 10 units of 0.5 cores; 64 tasks race for it.
        let infra =
            Arc::new(EmulatedInfrastructure::new(vec![vim("v", VimKind::Container, 5.0, 1_000_000.0)]).unwrap());
        let tasks: Vec<_> = (0..64)
            .map(|n| {
                let infra = Arc::clone(&infra);
                tokio::spawn(async move {
                    infra
                        .deploy("v", unit(&format!("u{n}"), VimKind::Container, 0.5, 10.0, &["cp"]))
                        .await
                })
            })
            .collect();
        let mut deployed = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(unit) => deployed.push(unit),
                Err(error) => assert!(matches!(error, InfraError::Capacity { .. }), "{error}"),
            }
        }
        assert_eq!(deployed.len(), 10);
        assert_eq!(used(&infra, "v").await, (5.0, 100.0));
        let mut addresses: Vec<_> = deployed.iter().map(|unit| unit.addresses[0].address.clone()).collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), 10, "every live unit has its own address");

        let removals: Vec<_> = deployed
            .into_iter()
            .flat_map(|unit| [unit.clone(), unit])
            .map(|unit| {
                let infra = Arc::clone(&infra);
                tokio::spawn(async move { infra.remove(unit).await })
            })
            .collect();
        for removal in removals {
            removal.await.unwrap().unwrap();
        }
        assert_eq!(used(&infra, "v").await, (0.0, 0.0));
    }

    #[test]
    fn merge_envs_replaces_in_place_and_appends() {
        let merged = merge_envs(
            &[KeyValue::new("A", "1"), KeyValue::new("B", "2")],
            vec![KeyValue::new("C", "3"), KeyValue::new("A", "9")],
        );
        assert_eq!(
            merged,
            [
                KeyValue::new("A", "9"),
                KeyValue::new("B", "2"),
                KeyValue::new("C", "3")
            ]
        );
    }
}
