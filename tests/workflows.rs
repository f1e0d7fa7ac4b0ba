//! The lifecycle workflows with real example managers through the real host,
//! on emulated infrastructure with a durable SQLite store: the hook order of
//! each workflow (BRIEF §2), rollback with hostile managers, busy services,
//! and many services in parallel.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use tango_model::descriptor::VimKind;
use tango_model::fsm::FsmEvent;
use tango_model::ssm::{LinkPlacement, LinkSite, Placement, SsmEvent, VnfPlacement};
use tango_model::{KeyValue, Quantity, to_document};
use wasmano::infrastructure::emulated::{EmulatedInfrastructure, default_vims};
use wasmano::infrastructure::{Infrastructure, VimConfig};
use wasmano::placement::PlacementOptions;
use wasmano::records::{
    JournalEntry, NsRecord, RecordStore, RecordWrite, SqliteStore, Status, StepOutcome, StoreFuture, VnfRecord, Written,
};
use wasmano::workflow::{
    FailurePolicy, ManagerBinding, Orchestrator, RunContext, ServiceTemplate, Task, UnitTemplate, VnfTemplate,
    WorkflowError, WorkflowReport,
};
use wasmano_host::{
    BoxFuture, Host, HostConfig, InvocationError, Limits, ManagerKind, Reply, Request, SpecificManager, WasmManager,
};

use support::guests;

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| Host::new(HostConfig::default()).unwrap())
}

fn manager(path: &std::path::Path, id: &str, options: &[(&str, &str)], limits: Limits) -> Arc<dyn SpecificManager> {
    let module = host().load_file(path, None).unwrap();
    let options = options.iter().map(|(key, value)| KeyValue::new(*key, *value)).collect();
    Arc::new(WasmManager::new(host(), module, id, options, limits).unwrap())
}

fn vnf(vnf_id: &str, kind: VimKind, cores: f64, memory_mb: f64) -> VnfTemplate {
    let fsm = manager(
        &guests().vnf_manager,
        &format!("{vnf_id}-fsm"),
        &[("state_entries", "sessions=7")],
        Limits::default(),
    );
    let units_key = match kind {
        VimKind::Container => "cloudnative_deployment_units",
        VimKind::Vm => "virtual_deployment_units",
    };
    VnfTemplate {
        vnf_id: vnf_id.into(),
        vnfd_reference: format!("eu.wasmano/{vnf_id}-vnf/1.0"),
        vnfd_version: "1.0".into(),
        vnfd: typed(
            json!({"name": format!("{vnf_id}-vnf"), "vendor": "eu.wasmano", "version": "1.0",
            units_key: [{"id": "unit01", "resource_requirements": {
                "cpu": {"vcpus": cores}, "memory": {"size": memory_mb, "size_unit": "MB"}},
                "connection_points": [{"id": "eth0", "port": 8080, "type": "serviceendpoint"}]}],
            "function_specific_managers": [{"id": "fsm", "options": [
                {"key": "type", "value": "start"}, {"key": "type", "value": "configure"}]}]}),
        ),
        units: vec![UnitTemplate {
            unit_id: "unit01".into(),
            kind,
            image: Some(format!("wasmano/demo-{vnf_id}:1.0")),
            cores,
            memory_mb,
            connection_points: vec!["eth0".into()],
        }],
        required_labels: BTreeSet::new(),
        fsms: vec![ManagerBinding {
            manager: fsm,
            events: vec![FsmEvent::Start, FsmEvent::Stop, FsmEvent::Configure, FsmEvent::State],
        }],
    }
}

/// A descriptor document as the model types it.
fn typed<T: serde::de::DeserializeOwned>(document: serde_json::Value) -> T {
    serde_json::from_value(document).expect("a descriptor the model reads")
}

/// The demo's shape: two container VNFs and a VM, with the example
/// placement, configure and state managers.
fn template(ssms: Vec<ManagerBinding<SsmEvent>>) -> Arc<ServiceTemplate> {
    Arc::new(ServiceTemplate {
        nsd_reference: "eu.wasmano/demo-web-service/1.0".into(),
        nsd_version: "1.0".into(),
        nsd: typed(json!({"name": "demo-web-service", "vendor": "eu.wasmano", "version": "1.0"})),
        vnfs: vec![
            vnf("web", VimKind::Container, 2.0, 2_000.0),
            vnf("cache", VimKind::Container, 1.0, 4_000.0),
            vnf("db", VimKind::Vm, 4.0, 8_000.0),
        ],
        ssms,
    })
}

fn example_ssms() -> Vec<ManagerBinding<SsmEvent>> {
    vec![
        ManagerBinding {
            manager: manager(&guests().placement, "placement", &[], Limits::default()),
            events: vec![SsmEvent::Placement],
        },
        ManagerBinding {
            manager: manager(&guests().configure, "configure", &[], Limits::default()),
            events: vec![SsmEvent::Configure],
        },
        ManagerBinding {
            manager: manager(&guests().state, "state", &[], Limits::default()),
            events: vec![SsmEvent::State],
        },
    ]
}

struct Setup {
    orchestrator: Arc<Orchestrator>,
    infrastructure: Arc<EmulatedInfrastructure>,
    store: Arc<SqliteStore>,
    _data: tempfile::TempDir,
}

fn setup() -> Setup {
    setup_on(default_vims())
}

fn setup_on(vims: Vec<VimConfig>) -> Setup {
    let data = tempfile::tempdir().unwrap();
    let infrastructure = Arc::new(EmulatedInfrastructure::new(vims).unwrap());
    let store = Arc::new(SqliteStore::open(&data.path().join("records.sqlite")).unwrap());
    let orchestrator = Arc::new(Orchestrator::new(
        Arc::clone(&infrastructure) as Arc<dyn Infrastructure>,
        Arc::clone(&store) as Arc<dyn RecordStore>,
        PlacementOptions::default(),
    ));
    Setup {
        orchestrator,
        infrastructure,
        store,
        _data: data,
    }
}

/// The hooks a workflow ran, as `event step` strings, in order.
fn hooks(report: &WorkflowReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter(|step| step.event.is_some())
        .map(|step| step.step.clone())
        .collect()
}

async fn used_capacity(infrastructure: &EmulatedInfrastructure) -> (f64, f64) {
    let vims = infrastructure.vims().await.unwrap();
    (
        vims.iter().map(|vim| vim.cores_used).sum(),
        vims.iter().map(|vim| vim.memory_used_mb).sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instantiate_runs_placement_start_and_configure_hooks_in_5gtango_order() {
    let setup = setup();
    let report = setup.orchestrator.instantiate(template(example_ssms())).await.unwrap();
    assert_eq!(
        hooks(&report),
        [
            "ssm placement",
            "fsm start web",
            "fsm start cache",
            "fsm start db",
            "ssm configure",
            "fsm configure web",
            "fsm configure cache",
            "fsm configure db",
        ]
    );
    assert_eq!(report.nsr.status, Status::NormalOperation);
    assert!(report.vnfrs.iter().all(|vnfr| vnfr.status == Status::NormalOperation));
    // The placement manager put the VM on the VM VIM with most free cores.
    let db = report.vnfrs.iter().find(|vnfr| vnfr.vnf_id == "db").unwrap();
    assert_eq!(db.deployment_units[0].vim_id, "core-eu-central");
    assert_eq!(used_capacity(&setup.infrastructure).await, (7.0, 14_000.0));
    let stored = setup.store.ns(&report.service_id).await.unwrap();
    assert_eq!(stored, report.nsr);
    let journal = setup.store.journal_of(&report.service_id).await.unwrap();
    assert_eq!(journal.len(), report.steps.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workflow_calls_its_hooks_in_5gtango_order() {
    let setup = setup();
    let orchestrator = &setup.orchestrator;
    let service = orchestrator.instantiate(template(example_ssms())).await.unwrap();
    let id = service.service_id.clone();

    let scaled = orchestrator.scale_out(&id, "web").await.unwrap();
    let configures: Vec<&str> = vec![
        "fsm configure web",
        "fsm configure cache",
        "fsm configure db",
        "fsm configure web",
    ];
    let mut expected = vec!["ssm placement", "fsm start web", "ssm configure"];
    expected.extend(configures);
    assert_eq!(hooks(&scaled), expected);
    assert_eq!(scaled.nsr.network_functions.len(), 4);

    let db = scaled.vnfrs.iter().find(|vnfr| vnfr.vnf_id == "db").unwrap().clone();
    let migrated = orchestrator.migrate(&id, &db.id, "core-us-west").await.unwrap();
    assert_eq!(
        hooks(&migrated),
        [
            "fsm start db",
            "fsm state extract db",
            "ssm state",
            "fsm state inject db"
        ]
    );
    let moved = migrated.vnfrs.iter().find(|vnfr| vnfr.vnf_id == "db").unwrap();
    assert_eq!(moved.deployment_units[0].vim_id, "core-us-west");
    assert_ne!(moved.id, db.id);
    assert_eq!(setup.store.vnf(&db.id).await.unwrap().status, Status::Terminated);

    let same_vim = orchestrator.migrate(&id, &moved.id, "core-us-west").await;
    assert!(matches!(same_vim, Err(WorkflowError::Rejected { .. })), "{same_vim:?}");

    let reconfigured = orchestrator.reconfigure(&id).await.unwrap();
    assert_eq!(hooks(&reconfigured)[0], "ssm configure");
    assert_eq!(hooks(&reconfigured).len(), 5);

    let extra_web = scaled
        .vnfrs
        .iter()
        .rfind(|vnfr| vnfr.vnf_id == "web")
        .unwrap()
        .id
        .clone();
    let scaled_in = orchestrator.scale_in(&id, &extra_web).await.unwrap();
    assert!(hooks(&scaled_in).is_empty());
    assert_eq!(scaled_in.nsr.network_functions.len(), 3);

    let terminated = orchestrator.terminate(&id).await.unwrap();
    assert_eq!(hooks(&terminated), ["fsm stop web", "fsm stop cache", "fsm stop db"]);
    assert_eq!(terminated.nsr.status, Status::Terminated);
    assert!(terminated.vnfrs.iter().all(|vnfr| vnfr.status == Status::Terminated));
    assert_eq!(used_capacity(&setup.infrastructure).await, (0.0, 0.0));
    // Every update bumped the NSR's version.
    assert!(terminated.nsr.version >= 6, "version {}", terminated.nsr.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_instantiation_leaves_no_vnf_and_no_reserved_capacity() {
    let quick = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    for behaviour in ["loop", "panic", "error", "memory-bomb"] {
        let setup = setup();
        // The hostile manager configures: it fails after every VNF was deployed and started.
        let mut ssms = example_ssms();
        ssms[1] = ManagerBinding {
            manager: manager(
                &guests().hostile,
                "hostile-configure",
                &[("behaviour", behaviour)],
                quick,
            ),
            events: vec![SsmEvent::Configure],
        };
        let error = setup.orchestrator.instantiate(template(ssms)).await.unwrap_err();
        let WorkflowError::Step {
            step, manager, service, ..
        } = &error
        else {
            panic!("{behaviour}: {error}")
        };
        assert_eq!(
            (step.as_str(), manager.as_deref()),
            ("ssm configure", Some("hostile-configure")),
            "{behaviour}"
        );
        assert_eq!(
            used_capacity(&setup.infrastructure).await,
            (0.0, 0.0),
            "{behaviour}: capacity left reserved"
        );
        assert_eq!(setup.store.ns(service).await.unwrap().status, Status::Failed);
        let vnfrs = setup.store.vnfs_of(service).await.unwrap();
        assert_eq!(vnfrs.len(), 3);
        assert!(vnfrs.iter().all(|vnfr| vnfr.status == Status::Failed), "{behaviour}");
        assert!(setup.orchestrator.service_ids().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infeasible_mapping_is_refused_before_anything_is_deployed() {
    let setup = setup();
    let mut ssms = example_ssms();
    ssms[0] = ManagerBinding {
        manager: manager(
            &guests().hostile,
            "bad-placement",
            &[("behaviour", "bad-mapping")],
            Limits::default(),
        ),
        events: vec![SsmEvent::Placement],
    };
    let error = setup.orchestrator.instantiate(template(ssms)).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("validate mapping") && message.contains("no-such-vim"),
        "{message}"
    );
    assert_eq!(used_capacity(&setup.infrastructure).await, (0.0, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scale_out_leaves_the_service_as_it_was() {
    let setup = setup();
    let service = setup.orchestrator.instantiate(template(example_ssms())).await.unwrap();
    let before = used_capacity(&setup.infrastructure).await;
    // db needs 4 cores on a VM VIM: after enough scale-outs none is left.
    let mut last = Ok(service.clone());
    for _ in 0..20 {
        last = setup.orchestrator.scale_out(&service.service_id, "db").await;
        if last.is_err() {
            break;
        }
    }
    let error = last.unwrap_err();
    assert!(
        error.to_string().contains("Unable to perform placement") || error.to_string().contains("cannot host"),
        "{error}"
    );
    let nsr = setup.store.ns(&service.service_id).await.unwrap();
    assert_eq!(nsr.status, Status::NormalOperation);
    // Scaling in every extra db brings the capacity back to what it was.
    for vnf in nsr.network_functions.iter() {
        let record = setup.store.vnf(vnf).await.unwrap();
        if record.vnf_id == "db" && !service.vnfrs.iter().any(|original| original.id == record.id) {
            setup
                .orchestrator
                .scale_in(&service.service_id, &record.id)
                .await
                .unwrap();
        }
    }
    assert_eq!(used_capacity(&setup.infrastructure).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_service_refuses_a_second_workflow() {
    let setup = setup();
    let mut ssms = example_ssms();
    // A state manager that loops for its whole 300 ms deadline keeps the migration busy.
    ssms[2] = ManagerBinding {
        manager: manager(
            &guests().hostile,
            "slow-state",
            &[("behaviour", "loop")],
            Limits {
                deadline: Duration::from_millis(300),
                ..Limits::default()
            },
        ),
        events: vec![SsmEvent::State],
    };
    let service = setup.orchestrator.instantiate(template(ssms)).await.unwrap();
    let id = service.service_id.clone();
    let web = service
        .vnfrs
        .iter()
        .find(|vnfr| vnfr.vnf_id == "web")
        .unwrap()
        .id
        .clone();
    let orchestrator = Arc::clone(&setup.orchestrator);
    let migration = tokio::spawn({
        let (id, web) = (id.clone(), web.clone());
        async move { orchestrator.migrate(&id, &web, "edge-us-west").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = setup.orchestrator.reconfigure(&id).await;
    assert!(matches!(refused, Err(WorkflowError::Busy { .. })), "{refused:?}");
    // The migration fails on its state manager and leaves the service as it was.
    assert!(migration.await.unwrap().is_err());
    let nsr = setup.store.ns(&id).await.unwrap();
    assert!(nsr.network_functions.contains(&web));
    assert!(
        setup.orchestrator.reconfigure(&id).await.is_ok(),
        "free again once the migration ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_services_run_in_parallel() {
    let vim = |id: &str, kind| VimConfig {
        id: id.into(),
        kind,
        cores: 1_000.0,
        memory_mb: 1e7,
        labels: BTreeSet::new(),
    };
    let setup = setup_on(vec![vim("edge", VimKind::Container), vim("core", VimKind::Vm)]);
    let template = template(example_ssms());
    let services = 40;
    let instantiations: Vec<_> = (0..services)
        .map(|_| {
            let (orchestrator, template) = (Arc::clone(&setup.orchestrator), Arc::clone(&template));
            tokio::spawn(async move { orchestrator.instantiate(template).await })
        })
        .collect();
    let mut ids = Vec::new();
    for instantiation in instantiations {
        ids.push(instantiation.await.unwrap().unwrap().service_id);
    }
    assert_eq!(setup.orchestrator.service_ids().len(), services);
    let terminations: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let orchestrator = Arc::clone(&setup.orchestrator);
            tokio::spawn(async move { orchestrator.terminate(&id).await })
        })
        .collect();
    for termination in terminations {
        assert_eq!(termination.await.unwrap().unwrap().nsr.status, Status::Terminated);
    }
    assert_eq!(used_capacity(&setup.infrastructure).await, (0.0, 0.0));
}

/// Emulated VIMs whose `set_envs` or `remove` fail on demand: a test double
/// for infrastructure failures in the middle of a workflow. It also keeps
/// the envs each unit was last given (`<VNF instance>/<unit>`), which the
/// emulated VIMs do not report.
struct Flaky {
    inner: EmulatedInfrastructure,
    fail_set_envs: std::sync::atomic::AtomicBool,
    /// While `fail_set_envs` is on, how many env changes still succeed
    /// before they fail.
    set_envs_passing: std::sync::atomic::AtomicUsize,
    fail_removes: std::sync::atomic::AtomicUsize,
    envs: std::sync::Mutex<std::collections::HashMap<String, Vec<KeyValue>>>,
    /// Whether they say their effects outlive the process, as Docker's
    /// do: the engine then journals each effect's intent before it acts.
    outlives: bool,
}

impl Flaky {
    fn new() -> Self {
        Self {
            inner: EmulatedInfrastructure::new(default_vims()).unwrap(),
            fail_set_envs: false.into(),
            set_envs_passing: 0.into(),
            fail_removes: 0.into(),
            envs: std::sync::Mutex::default(),
            outlives: false,
        }
    }

    /// The value of env `key` in unit `unit01` of a VNF instance.
    fn env(&self, vnf_instance: &str, key: &str) -> Option<String> {
        let envs = self.envs.lock().unwrap();
        let unit = envs.get(&format!("{vnf_instance}/unit01"))?;
        unit.iter().find(|env| env.key == key).map(|env| env.value.clone())
    }
}

impl Infrastructure for Flaky {
    fn effects_outlive_the_process(&self) -> bool {
        self.outlives || self.inner.effects_outlive_the_process()
    }

    fn vims(&self) -> wasmano::infrastructure::InfraFuture<'_, Vec<wasmano::infrastructure::VimStatus>> {
        self.inner.vims()
    }

    fn deploy(
        &self,
        vim_id: &str,
        unit: wasmano::infrastructure::UnitSpec,
    ) -> wasmano::infrastructure::InfraFuture<'_, wasmano::infrastructure::DeployedUnit> {
        self.inner.deploy(vim_id, unit)
    }

    fn set_envs(
        &self,
        unit: wasmano::infrastructure::DeployedUnit,
        envs: Vec<KeyValue>,
    ) -> wasmano::infrastructure::InfraFuture<'_, wasmano::infrastructure::DeployedUnit> {
        let passing = self
            .set_envs_passing
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |left| left.checked_sub(1),
            )
            .is_ok();
        if self.fail_set_envs.load(std::sync::atomic::Ordering::SeqCst) && !passing {
            return Box::pin(async { Err(wasmano::infrastructure::InfraError::Backend("set_envs refused".into())) });
        }
        Box::pin(async move {
            let deployed = self.inner.set_envs(unit, envs).await?;
            let key = format!("{}/{}", deployed.spec.vnf_instance_id, deployed.spec.unit_id);
            self.envs.lock().unwrap().insert(key, deployed.spec.envs.clone());
            Ok(deployed)
        })
    }

    fn remove(&self, unit: wasmano::infrastructure::DeployedUnit) -> wasmano::infrastructure::InfraFuture<'_, ()> {
        let failing = self.fail_removes.load(std::sync::atomic::Ordering::SeqCst);
        if failing > 0 {
            self.fail_removes
                .store(failing - 1, std::sync::atomic::Ordering::SeqCst);
            return Box::pin(async { Err(wasmano::infrastructure::InfraError::Backend("remove refused".into())) });
        }
        self.inner.remove(unit)
    }

    fn adopt(&self, units: Vec<wasmano::infrastructure::DeployedUnit>) -> wasmano::infrastructure::InfraFuture<'_, ()> {
        self.inner.adopt(units)
    }

    fn reconcile(
        &self,
        known: std::collections::HashSet<String>,
    ) -> wasmano::infrastructure::InfraFuture<'_, wasmano::infrastructure::Reconciliation> {
        self.inner.reconcile(known)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_after_deployment_undo_what_the_request_added_and_removals_can_be_retried() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let listed = store.ns(&id).await.unwrap().network_functions;
    let before = used_capacity(&flaky.inner).await;

    // Scale-out fails injecting the new web's envs, after it was deployed and started.
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    let error = orchestrator.scale_out(&id, "web").await.unwrap_err();
    assert!(error.to_string().contains("set_envs refused"), "{error}");
    flaky.fail_set_envs.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        used_capacity(&flaky.inner).await,
        before,
        "the new instance was removed"
    );
    let nsr = store.ns(&id).await.unwrap();
    assert_eq!(
        (nsr.network_functions.clone(), nsr.status),
        (listed.clone(), Status::NormalOperation)
    );
    let journal = store.journal_of(&id).await.unwrap();
    assert!(
        journal
            .iter()
            .any(|step| step.workflow == "scale_out" && step.outcome == StepOutcome::RolledBack)
    );

    // The service still works: the failed request left it consistent.
    let reconfigured = orchestrator.reconfigure(&id).await.unwrap();
    assert_eq!(reconfigured.vnfrs.len(), 3);

    // A termination whose removal fails keeps the VNFs not yet removed...
    flaky.fail_removes.store(1, std::sync::atomic::Ordering::SeqCst);
    let partial = orchestrator.terminate(&id).await;
    assert!(partial.is_err());
    // ...and a second termination finishes the job.
    let terminated = orchestrator.terminate(&id).await.unwrap();
    assert_eq!(terminated.nsr.status, Status::Terminated);
    assert_eq!(used_capacity(&flaky.inner).await, (0.0, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_scale_out_resumes_with_the_instance_it_kept() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let listed = store.ns(&id).await.unwrap().network_functions;
    let scale_out = || Task::ScaleOut { vnf_id: "web".into() };
    // The scale-out fails setting the new web's envs; the failure is kept.
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    let paused = RunContext::new(Some("op-1"), FailurePolicy::Keep);
    let error = orchestrator.run_with(&id, &paused, scale_out()).await.unwrap_err();
    assert!(error.to_string().contains("set_envs refused"), "{error}");
    flaky.fail_set_envs.store(false, std::sync::atomic::Ordering::SeqCst);
    let kept = used_capacity(&flaky.inner).await;
    let added: Vec<String> = store
        .vnfs_of(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|record| !listed.contains(&record.id))
        .map(|record| record.id)
        .collect();
    assert_eq!(added.len(), 1, "the new instance is kept, not listed yet");

    // Resumed: the kept instance is started again and committed; nothing
    // else is deployed.
    let report = resume_deploying_nothing(&orchestrator, &id, scale_out()).await;
    assert!(report.steps.iter().any(|step| step.step == "fsm start web"));
    assert_eq!(used_capacity(&flaky.inner).await, kept);
    let nsr = store.ns(&id).await.unwrap();
    assert_eq!(nsr.network_functions.len(), listed.len() + 1);
    assert!(nsr.network_functions.contains(&added[0]));
    assert_eq!(nsr.status, Status::NormalOperation);
    // A resumed scale-out with nothing kept adds an instance as usual.
    let again = orchestrator
        .run_with(&id, &RunContext::default().resuming(), scale_out())
        .await
        .unwrap();
    assert_eq!(again.nsr.network_functions.len(), listed.len() + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_scale_out_that_failed_after_listing_its_instance_adds_no_second_one() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let listed = store.ns(&id).await.unwrap().network_functions;
    let scale_out = || Task::ScaleOut { vnf_id: "web".into() };
    // The new web starts (its envs set), the NSR lists it, then configure
    // fails setting envs; the failure is kept.
    flaky.set_envs_passing.store(1, std::sync::atomic::Ordering::SeqCst);
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    let paused = RunContext::new(Some("op-1"), FailurePolicy::Keep);
    let error = orchestrator.run_with(&id, &paused, scale_out()).await.unwrap_err();
    assert!(error.to_string().contains("set_envs refused"), "{error}");
    flaky.fail_set_envs.store(false, std::sync::atomic::Ordering::SeqCst);
    let failed_run = store.ns(&id).await.unwrap().network_functions;
    assert_eq!(failed_run.len(), listed.len() + 1, "the NSR lists the new web already");
    let kept = used_capacity(&flaky.inner).await;

    // Resumed: configure runs again; nothing is deployed.
    resume_deploying_nothing(&orchestrator, &id, scale_out()).await;
    assert_eq!(used_capacity(&flaky.inner).await, kept);
    let nsr = store.ns(&id).await.unwrap();
    assert_eq!(nsr.network_functions, failed_run);
    assert_eq!(nsr.status, Status::NormalOperation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_scale_out_undone_after_listing_its_instance_lists_what_it_listed_before() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let before = store.ns(&id).await.unwrap();
    let capacity = used_capacity(&flaky.inner).await;
    let scale_out = || Task::ScaleOut { vnf_id: "web".into() };
    flaky.set_envs_passing.store(1, std::sync::atomic::Ordering::SeqCst);
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    let paused = RunContext::new(Some("op-1"), FailurePolicy::Keep);
    orchestrator.run_with(&id, &paused, scale_out()).await.unwrap_err();
    let added = unlisted_instances(&store, &id).await;
    assert!(added.is_empty(), "listed already");

    // Retried with the undo policy, configure fails again: the new web
    // goes and the NSR lists what it listed before the first run.
    let retried = RunContext::new(Some("op-1"), FailurePolicy::Undo).resuming();
    let error = orchestrator.run_with(&id, &retried, scale_out()).await.unwrap_err();
    assert!(matches!(error, WorkflowError::Step { undone: true, .. }), "{error}");
    let nsr = store.ns(&id).await.unwrap();
    assert_eq!(
        (nsr.network_functions, nsr.status),
        (before.network_functions, before.status)
    );
    assert_eq!(used_capacity(&flaky.inner).await, capacity);
}

/// Resumes operation `op-1`'s failed `task`, keeping failures, and checks
/// it deployed nothing.
async fn resume_deploying_nothing(orchestrator: &Orchestrator, id: &str, task: Task) -> WorkflowReport {
    let resumed = RunContext::new(Some("op-1"), FailurePolicy::Keep).resuming();
    let report = orchestrator.run_with(id, &resumed, task).await.unwrap();
    assert!(
        !report.steps.iter().any(|step| step.step.starts_with("deploy ")),
        "{:#?}",
        report.steps
    );
    report
}

/// An orchestrator over [`Flaky`] VIMs, and a service instantiated on it.
async fn flaky_service() -> (Arc<Flaky>, Arc<SqliteStore>, Orchestrator, String, tempfile::TempDir) {
    let (flaky, store, orchestrator, data) = flaky_orchestrator();
    let service = orchestrator.instantiate(template(example_ssms())).await.unwrap();
    (flaky, store, orchestrator, service.service_id, data)
}

fn flaky_orchestrator() -> (Arc<Flaky>, Arc<SqliteStore>, Orchestrator, tempfile::TempDir) {
    flaky_orchestrator_on(Flaky::new())
}

fn flaky_orchestrator_on(flaky: Flaky) -> (Arc<Flaky>, Arc<SqliteStore>, Orchestrator, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let flaky = Arc::new(flaky);
    let store = Arc::new(SqliteStore::open(&data.path().join("records.sqlite")).unwrap());
    let orchestrator = Orchestrator::new(
        Arc::clone(&flaky) as Arc<dyn Infrastructure>,
        Arc::clone(&store) as Arc<dyn RecordStore>,
        PlacementOptions::default(),
    );
    (flaky, store, orchestrator, data)
}

/// The record of the first instance of the NSD's VNF `vnf_id`.
fn instance_of<'a>(report: &'a WorkflowReport, vnf_id: &str) -> &'a VnfRecord {
    report.vnfrs.iter().find(|vnfr| vnfr.vnf_id == vnf_id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsm_start_gets_generic_envs_built_from_the_records_and_its_per_unit_envs_reach_their_unit() {
    let (flaky, _store, orchestrator, _data) = flaky_orchestrator();
    let report = orchestrator.instantiate(template(example_ssms())).await.unwrap();
    let (web, cache, db) = (
        instance_of(&report, "web"),
        instance_of(&report, "cache"),
        instance_of(&report, "db"),
    );
    let address = |record: &VnfRecord| record.deployment_units[0].addresses[0].address.clone();
    // The example FSM answers each container unit's generic envs, addressed
    // by its cdu_id (`unit01-<instance>`), plus the peers' addresses.
    assert_eq!(flaky.env(&web.id, "CACHE_UNIT01_IP"), Some(address(cache)));
    assert_eq!(flaky.env(&web.id, "DB_UNIT01_IP"), Some(address(db)));
    assert_eq!(flaky.env(&web.id, "DB_UNIT01_ETH0_PORT").as_deref(), Some("8080"));
    assert_eq!(
        flaky.env(&web.id, "CACHE_UNIT01_ETH0_TYPE").as_deref(),
        Some("serviceendpoint")
    );
    assert_eq!(flaky.env(&web.id, "WEB_UNIT01_IP"), None, "a unit is not its own peer");
    assert_eq!(flaky.env(&cache.id, "WEB_UNIT01_IP"), Some(address(web)));
    // The VM gets no envs: they are for container units only.
    assert!(!flaky.envs.lock().unwrap().keys().any(|key| key.starts_with(&db.id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsm_scale_runs_on_every_instance_of_the_scaled_vnf_and_its_envs_follow_the_scaling() {
    let (flaky, _store, orchestrator, _data) = flaky_orchestrator();
    let mut service = (*template(Vec::new())).clone();
    service.vnfs[0].fsms.push(ManagerBinding {
        manager: manager(&guests().scale, "web-balancer", &[], Limits::default()),
        events: vec![FsmEvent::Scale],
    });
    let report = orchestrator.instantiate(Arc::new(service)).await.unwrap();
    let id = report.service_id.clone();
    let first = instance_of(&report, "web").id.clone();

    let scaled = orchestrator.scale_out(&id, "web").await.unwrap();
    assert_eq!(hooks(&scaled), ["fsm start web", "fsm scale web", "fsm scale web"]);
    let webs: Vec<String> = scaled
        .vnfrs
        .iter()
        .filter(|vnfr| vnfr.vnf_id == "web")
        .map(|vnfr| vnfr.id.clone())
        .collect();
    assert_eq!(webs.len(), 2);
    for web in &webs {
        assert_eq!(flaky.env(web, "BACKEND_COUNT").as_deref(), Some("2"), "{web}");
    }
    assert_eq!(flaky.env(&first, "BACKENDS"), flaky.env(&webs[1], "BACKENDS"));

    let added = webs.iter().find(|web| **web != first).unwrap();
    let scaled_in = orchestrator.scale_in(&id, added).await.unwrap();
    assert_eq!(hooks(&scaled_in), ["fsm scale web"]);
    assert_eq!(flaky.env(&first, "BACKEND_COUNT").as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_manager_reorders_the_instantiation_and_a_schedule_it_may_not_ask_for_is_refused() {
    let task = |behaviour: (&str, &str), path: &std::path::Path| ManagerBinding {
        manager: manager(path, "task", &[behaviour], Limits::default()),
        events: vec![SsmEvent::Task],
    };
    let setup = setup();
    let mut ssms = example_ssms();
    ssms.push(task(("configure", "before-start"), &guests().task));
    let report = setup.orchestrator.instantiate(template(ssms)).await.unwrap();
    assert_eq!(
        hooks(&report),
        [
            "ssm task",
            "ssm placement",
            "ssm configure",
            "fsm configure web",
            "fsm configure cache",
            "fsm configure db",
            "fsm start web",
            "fsm start cache",
            "fsm start db",
        ]
    );

    // The hostile manager answers an empty schedule to `random`: placement,
    // deployment and the NSR cannot be skipped, so nothing is deployed.
    let mut ssms = example_ssms();
    ssms.push(task(("behaviour", "random"), &guests().hostile));
    let error = setup.orchestrator.instantiate(template(ssms)).await.unwrap_err();
    assert!(
        error.to_string().contains("the schedule must keep SLM_mapping"),
        "{error}"
    );
    assert_eq!(
        used_capacity(&setup.infrastructure).await,
        (7.0, 14_000.0),
        "only the first service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_a_configure_manager_switches_off_stays_off_in_later_workflows() {
    let setup = setup();
    let mut ssms = example_ssms();
    ssms[1] = ManagerBinding {
        manager: manager(
            &guests().configure,
            "configure",
            &[("switch_off", "stop")],
            Limits::default(),
        ),
        events: vec![SsmEvent::Configure],
    };
    let report = setup.orchestrator.instantiate(template(ssms)).await.unwrap();
    for vnfr in &report.vnfrs {
        let stored = setup.store.vnf(&vnfr.id).await.unwrap();
        assert_eq!(
            stored.switches.stop.map(|switch| switch.trigger),
            Some(false),
            "{}",
            vnfr.vnf_id
        );
    }
    let terminated = setup.orchestrator.terminate(&report.service_id).await.unwrap();
    assert!(hooks(&terminated).is_empty(), "{:?}", hooks(&terminated));
    assert_eq!(terminated.nsr.status, Status::Terminated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_that_fails_during_an_undo_is_held_and_retried_until_gone() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let before = used_capacity(&flaky.inner).await;
    // The scale-out fails injecting envs; removing the new instance fails too.
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    flaky.fail_removes.store(1, std::sync::atomic::Ordering::SeqCst);
    let error = orchestrator.scale_out(&id, "web").await.unwrap_err();
    assert!(error.to_string().contains("set_envs refused"), "{error}");
    flaky.fail_set_envs.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_ne!(used_capacity(&flaky.inner).await, before, "the unit is still deployed");
    assert_eq!(store.held_removals().await.unwrap().len(), 1, "and held, not dropped");
    let journal = store.journal_of(&id).await.unwrap();
    assert!(journal.iter().any(|step| step.step.starts_with("hold removal of web")));
    // The first retry fails again; the unit stays held until one succeeds.
    flaky.fail_removes.store(1, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(orchestrator.retry_removals().await.unwrap(), 1);
    assert_eq!(orchestrator.retry_removals().await.unwrap(), 0);
    assert!(store.held_removals().await.unwrap().is_empty());
    assert_eq!(used_capacity(&flaky.inner).await, before, "gone at last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_whose_old_instance_cannot_be_removed_holds_it_for_a_retry() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let vnfrs = store.vnfs_of(&id).await.unwrap();
    let db = vnfrs.iter().find(|vnfr| vnfr.vnf_id == "db").unwrap();
    let current = db.deployment_units[0].vim_id.clone();
    let target = default_vims()
        .into_iter()
        .find(|vim| vim.kind == VimKind::Vm && vim.id != current)
        .unwrap()
        .id;
    // Past its commit point the migration is done: the old instance's
    // removal fails, its unit is held, and the migration completes.
    flaky.fail_removes.store(1, std::sync::atomic::Ordering::SeqCst);
    let migrated = orchestrator.migrate(&id, &db.id, &target).await.unwrap();
    let failed_removal = migrated
        .steps
        .iter()
        .find(|step| step.step == "remove db")
        .expect("the removal is journaled");
    assert_eq!(failed_removal.outcome, StepOutcome::Failed);
    assert!(
        migrated
            .steps
            .iter()
            .any(|step| step.step == "hold removal of db unit01")
    );
    let held = store.held_removals().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].spec.vnf_instance_id, db.id, "the old instance's unit is held");
    assert_eq!(
        store.vnf(&db.id).await.unwrap().status,
        Status::Terminated,
        "the old instance is out of the service"
    );
    let nsr = store.ns(&id).await.unwrap();
    assert!(!nsr.network_functions.contains(&db.id), "the new instance replaced it");
    assert_eq!(nsr.status, Status::NormalOperation);
    assert_eq!(orchestrator.retry_removals().await.unwrap(), 0);
    let terminated = orchestrator.terminate(&id).await.unwrap();
    assert_eq!(terminated.nsr.status, Status::Terminated);
    assert_eq!(used_capacity(&flaky.inner).await, (0.0, 0.0), "nothing leaked");
}

/// The service's VNF instances that are not terminated and its NSR does
/// not list.
async fn unlisted_instances(store: &SqliteStore, id: &str) -> Vec<String> {
    let listed = store.ns(id).await.unwrap().network_functions;
    store
        .vnfs_of(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|record| !listed.contains(&record.id) && record.status != Status::Terminated)
        .map(|record| record.id)
        .collect()
}

/// The service's web VNFR, the other container VIM, and a task that
/// migrates the web there.
async fn web_migration(store: &SqliteStore, id: &str) -> (VnfRecord, String, impl Fn() -> Task + use<>) {
    let web = store
        .vnfs_of(id)
        .await
        .unwrap()
        .into_iter()
        .find(|vnfr| vnfr.vnf_id == "web")
        .unwrap();
    let target = default_vims()
        .into_iter()
        .find(|vim| vim.kind == VimKind::Container && vim.id != web.deployment_units[0].vim_id)
        .unwrap()
        .id;
    let (vnf_instance_id, target_vim) = (web.id.clone(), target.clone());
    let migrate = move || Task::Migrate {
        vnf_instance_id: vnf_instance_id.clone(),
        target_vim: target_vim.clone(),
    };
    (web, target, migrate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_migration_resumes_with_the_instance_it_deployed() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let (web, target, migrate) = web_migration(&store, &id).await;
    // The new web is deployed, then setting its envs at start fails; the
    // failure is kept.
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    let paused = RunContext::new(Some("op-1"), FailurePolicy::Keep);
    let error = orchestrator.run_with(&id, &paused, migrate()).await.unwrap_err();
    assert!(error.to_string().contains("set_envs refused"), "{error}");
    assert!(
        matches!(error, WorkflowError::Step { undone: false, .. }),
        "kept, not undone"
    );
    flaky.fail_set_envs.store(false, std::sync::atomic::Ordering::SeqCst);
    let kept = used_capacity(&flaky.inner).await;
    let new = unlisted_instances(&store, &id).await;
    assert_eq!(new.len(), 1, "the new instance is kept, not listed");

    // Resumed: the kept instance is started, given the state and committed;
    // nothing else is deployed.
    let resumed = RunContext::new(Some("op-1"), FailurePolicy::Keep).resuming();
    let report = orchestrator.run_with(&id, &resumed, migrate()).await.unwrap();
    assert!(
        !report.steps.iter().any(|step| step.step.starts_with("deploy ")),
        "{:#?}",
        report.steps
    );
    assert_eq!(
        hooks(&report),
        [
            "fsm start web",
            "fsm state extract web",
            "ssm state",
            "fsm state inject web"
        ]
    );
    let nsr = store.ns(&id).await.unwrap();
    assert!(nsr.network_functions.contains(&new[0]));
    assert!(!nsr.network_functions.contains(&web.id));
    assert_eq!(nsr.status, Status::NormalOperation);
    assert_eq!(store.vnf(&web.id).await.unwrap().status, Status::Terminated);
    assert_eq!(store.vnf(&new[0]).await.unwrap().deployment_units[0].vim_id, target);
    let (cores, memory) = kept;
    assert_eq!(
        used_capacity(&flaky.inner).await,
        (cores - 2.0, memory - 2_000.0),
        "only the old web's capacity was given back"
    );

    // Resumed again past its commit point, there is nothing left to do.
    let again = orchestrator.run_with(&id, &resumed, migrate()).await.unwrap();
    assert!(hooks(&again).is_empty(), "{:#?}", again.steps);
    assert_eq!(again.nsr.network_functions, nsr.network_functions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_migration_that_fails_again_is_undone_with_what_the_failed_run_left() {
    let (flaky, store, orchestrator, id, _data) = flaky_service().await;
    let before = used_capacity(&flaky.inner).await;
    let nsr_before = store.ns(&id).await.unwrap();
    let (web, _, migrate) = web_migration(&store, &id).await;
    // The new web is deployed, setting its envs fails: the failure is kept.
    flaky.fail_set_envs.store(true, std::sync::atomic::Ordering::SeqCst);
    let paused = RunContext::new(Some("op-1"), FailurePolicy::Keep);
    orchestrator.run_with(&id, &paused, migrate()).await.unwrap_err();
    let left = unlisted_instances(&store, &id).await;
    assert_eq!(left.len(), 1, "the new instance is kept");

    // Retried with the undo policy, it fails again: what the first run left
    // is undone with what the retry did.
    let retried = RunContext::new(Some("op-1"), FailurePolicy::Undo).resuming();
    let error = orchestrator.run_with(&id, &retried, migrate()).await.unwrap_err();
    assert!(matches!(error, WorkflowError::Step { undone: true, .. }), "{error}");
    assert_eq!(store.vnf(&left[0]).await.unwrap().status, Status::Failed);
    let nsr = store.ns(&id).await.unwrap();
    assert_eq!(
        (nsr.network_functions, nsr.status),
        (nsr_before.network_functions, nsr_before.status)
    );
    assert_eq!(store.vnf(&web.id).await.unwrap().status, Status::NormalOperation);
    assert_eq!(
        used_capacity(&flaky.inner).await,
        before,
        "only the old web's capacity is used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_termination_goes_past_a_failing_stop_hook() {
    let setup = setup();
    let template = template(example_ssms());
    let mut vnfs = template.vnfs.clone();
    vnfs[0].fsms.push(ManagerBinding {
        manager: manager(
            &guests().hostile,
            "failing-stop",
            &[("behaviour", "error")],
            Limits::default(),
        ),
        events: vec![FsmEvent::Stop],
    });
    vnfs[0].fsms[0].events.retain(|event| *event != FsmEvent::Stop);
    let template = Arc::new(ServiceTemplate {
        vnfs,
        ..(*template).clone()
    });
    let service = setup.orchestrator.instantiate(template).await.unwrap();
    let id = service.service_id;
    let refused = setup.orchestrator.terminate(&id).await.unwrap_err();
    assert!(refused.to_string().contains("fsm stop web"), "{refused}");
    assert_ne!(
        used_capacity(&setup.infrastructure).await,
        (0.0, 0.0),
        "nothing was removed"
    );
    let forced = setup
        .orchestrator
        .run(&id, None, Task::Terminate { force: true })
        .await
        .unwrap();
    assert_eq!(forced.nsr.status, Status::Terminated);
    let stop = forced.steps.iter().find(|step| step.step == "fsm stop web").unwrap();
    assert_eq!(stop.outcome, StepOutcome::Failed, "the failure is journaled");
    assert_eq!(used_capacity(&setup.infrastructure).await, (0.0, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_placement_manager_delays_only_its_own_service() {
    let setup = setup();
    let mut looping = example_ssms();
    looping[0] = ManagerBinding {
        manager: manager(
            &guests().hostile,
            "looping-placement",
            &[("behaviour", "loop")],
            Limits {
                deadline: Duration::from_secs(10),
                ..Limits::default()
            },
        ),
        events: vec![SsmEvent::Placement],
    };
    // Both services' managers are loaded (compiled) before either starts.
    let (looping, good) = (template(looping), template(example_ssms()));
    let orchestrator = Arc::clone(&setup.orchestrator);
    let hostile = tokio::spawn(async move { orchestrator.instantiate(looping).await });
    // Let the hostile service reach its placement hook.
    while setup.store.all_ns().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let served = setup.orchestrator.instantiate(good).await.unwrap();
    assert_eq!(served.nsr.status, Status::NormalOperation);
    assert!(
        !hostile.is_finished(),
        "the other service was instantiated while the placement manager still looped"
    );
    let error = hostile.await.unwrap().unwrap_err();
    assert!(error.to_string().contains("deadline"), "{error}");
}

/// tng-schema's NSR and VNFR schemas, from the 5GTANGO corpus.
struct RecordSchemas {
    nsr: jsonschema::Validator,
    vnfr: jsonschema::Validator,
}

impl RecordSchemas {
    /// The schemas of `$WASMANO_CORPUS` (.ci/run sets it), or `None`.
    fn from_corpus() -> Option<Self> {
        let Some(corpus) = std::env::var_os("WASMANO_CORPUS").map(std::path::PathBuf::from) else {
            eprintln!("WASMANO_CORPUS is not set: records are checked against tng-schema in .ci/run");
            return None;
        };
        let schema = |name: &str| {
            let path = corpus.join("schemas").join(name);
            let schema: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            // Draft 4, as the schemas declare; they refer only to their own
            // definitions, so nothing is fetched.
            jsonschema::draft4::new(&schema).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        };
        Some(Self {
            nsr: schema("tng-schema_nsr-schema.yml"),
            vnfr: schema("tng-schema_vnfr-schema.yml"),
        })
    }

    /// Why `record` does not validate against `schema`, one line per error
    /// (empty when it does).
    fn problems(schema: &jsonschema::Validator, record: &serde_json::Value) -> Vec<String> {
        schema
            .iter_errors(record)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect()
    }

    /// Panics, naming every error, unless `nsr` and `vnfrs` validate.
    fn assert_valid(&self, what: &str, nsr: &serde_json::Value, vnfrs: &[serde_json::Value]) {
        let problems = Self::problems(&self.nsr, nsr);
        assert!(
            problems.is_empty(),
            "{what}: the NSR does not validate: {problems:#?}\n{nsr:#}"
        );
        for vnfr in vnfrs {
            let problems = Self::problems(&self.vnfr, vnfr);
            assert!(
                problems.is_empty(),
                "{what}: a VNFR does not validate: {problems:#?}\n{vnfr:#}"
            );
        }
    }
}

/// The demo-shaped service with the virtual links of the demo's
/// descriptors (examples-sm/package): between the VNFs in the NSD, and
/// from each VNF's connection point to its unit in its VNFD.
fn template_with_virtual_links() -> Arc<ServiceTemplate> {
    let mut template = ServiceTemplate::clone(&template(example_ssms()));
    template.nsd.virtual_links = typed(json!([
        {"id": "ingress-2-web", "connectivity_type": "E-Line",
         "connection_points_reference": ["ingress", "web:eth0"]},
        {"id": "backend", "connectivity_type": "E-LAN",
         "connection_points_reference": ["web:eth0", "cache:eth0", "db:eth0"]},
    ]));
    for vnf in &mut template.vnfs {
        // Whole cores, as a VNFD's YAML writes them (`vnf` writes the
        // template's floats).
        let cores = Quantity::from(vnf.units[0].cores as i64);
        let units = match vnf.kind() {
            VimKind::Container => &mut vnf.vnfd.cloudnative_deployment_units,
            VimKind::Vm => &mut vnf.vnfd.virtual_deployment_units,
        };
        let requirements = units[0]
            .resource_requirements
            .as_mut()
            .expect("the unit's requirements");
        requirements.cpu.as_mut().expect("its cpu").vcpus = cores;
        vnf.vnfd.other.insert(
            "virtual_links".to_owned(),
            json!([{"id": "eth0-2-unit01", "connectivity_type": "E-Line",
                "connection_points_reference": ["unit01:eth0", "eth0"]}]),
        );
    }
    Arc::new(template)
}

/// Checks that every record of the service, as the workflow's report has
/// it and as the store has it right after, renders as a valid tng-schema
/// document naming its record's and its descriptor's references; answers
/// the report.
async fn assert_tango_records(
    schemas: &RecordSchemas,
    store: &SqliteStore,
    template: &ServiceTemplate,
    report: WorkflowReport,
) -> WorkflowReport {
    let stored = (
        store.ns(&report.service_id).await.unwrap(),
        store.vnfs_of(&report.service_id).await.unwrap(),
    );
    for (nsr, vnfrs) in [(&report.nsr, &report.vnfrs), (&stored.0, &stored.1)] {
        assert_eq!(nsr.descriptor_reference, template.nsd_reference);
        let tango_nsr = to_document(&nsr.to_tango(&template.nsd));
        let tango_vnfrs: Vec<serde_json::Value> = vnfrs
            .iter()
            .map(|vnfr| {
                let vnf = template
                    .vnfs
                    .iter()
                    .find(|vnf| vnf.vnfd_reference == vnfr.descriptor_reference);
                to_document(&vnfr.to_tango(&vnf.expect("the VNFR's VNFD is the service's").vnfd))
            })
            .collect();
        schemas.assert_valid(report.workflow.name(), &tango_nsr, &tango_vnfrs);
        // What the schemas cannot say: the references are the records' and
        // the descriptors' own.
        let listed = tango_nsr["network_functions"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, nsr.network_functions.len());
        assert_eq!(tango_nsr["virtual_links"], to_document(&template.nsd)["virtual_links"]);
        for vnfr in &tango_vnfrs {
            assert_eq!(vnfr["virtual_links"].as_array().unwrap().len(), 1, "{vnfr:#}");
            let units = ["virtual_deployment_units", "cloudnative_deployment_units"]
                .into_iter()
                .filter_map(|key| vnfr.get(key)?.as_array())
                .flatten();
            for unit in units {
                let reference = unit.get("vdu_reference").or_else(|| unit.get("cdu_reference"));
                let reference = reference.and_then(serde_json::Value::as_str).unwrap_or_default();
                assert!(reference.ends_with("-vnf:unit01"), "{unit:#}");
            }
        }
    }
    report
}

/// The VNF instance of `vnf_id` a report lists last (the newest).
fn last_instance_of<'a>(report: &'a WorkflowReport, vnf_id: &str) -> &'a VnfRecord {
    report.vnfrs.iter().rfind(|vnfr| vnfr.vnf_id == vnf_id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_every_workflow_validates_against_tng_schema() {
    let Some(schemas) = RecordSchemas::from_corpus() else {
        return;
    };
    let setup = setup();
    let orchestrator = &setup.orchestrator;
    let template = template_with_virtual_links();
    let check = |report| assert_tango_records(&schemas, &setup.store, &template, report);
    let service = check(orchestrator.instantiate(Arc::clone(&template)).await.unwrap()).await;
    let id = service.service_id.clone();
    let scaled = check(orchestrator.scale_out(&id, "web").await.unwrap()).await;
    let db = instance_of(&scaled, "db").id.clone();
    check(orchestrator.migrate(&id, &db, "core-us-west").await.unwrap()).await;
    check(orchestrator.reconfigure(&id).await.unwrap()).await;
    let extra_web = last_instance_of(&scaled, "web").id.clone();
    check(orchestrator.scale_in(&id, &extra_web).await.unwrap()).await;
    let terminated = check(orchestrator.terminate(&id).await.unwrap()).await;
    assert_eq!(terminated.nsr.status, Status::Terminated);
    // A VNF's instances name one descriptor UUID, as FSMs that group
    // sibling instances expect.
    let web = template.vnfs.iter().find(|vnf| vnf.vnf_id == "web").unwrap();
    let webs: BTreeSet<Option<String>> = scaled
        .vnfrs
        .iter()
        .filter(|vnfr| vnfr.vnf_id == "web")
        .map(|vnfr| vnfr.to_tango(&web.vnfd).descriptor_reference)
        .collect();
    assert_eq!(webs.len(), 1);
}

/// The corpus's record files, none of which validates against tng-schema:
/// why, and a text each of its errors contains one of.
const CORPUS_RECORDS: &[(&str, &str, &[&str])] = &[
    (
        "son-mano-framework_slm-test_expected_vnfr_iperf.yml",
        "SONATA's older shape: connection point addresses under `type`, no `interface`",
        ADDRESSES_UNDER_TYPE,
    ),
    (
        "son-mano-framework_slm-test_ia-nsr.yml",
        "a test id that is not a UUID",
        &["/id: \"9df6a98f-9e11-4cb7-b3c0-InAdUnitTest-02\" does not match"],
    ),
    (
        "son-mano-framework_slm-test_ia-vnfr.yml",
        "addresses under `type`, and a VDU without `resource_requirements`",
        &[
            "/type: {",
            "\"interface\" is a required property",
            "\"resource_requirements\" is a required property",
        ],
    ),
    (
        "son-mano-framework_slm-test_sonata-demo-nsr.yml",
        "status `DEPLOYED` (a request's status), a test id, connection points typed `interface`",
        &["DEPLOYED", "does not match", "\"interface\""],
    ),
    (
        "son-mano-framework_slm-test_sonata-demo-vnfrs.yml",
        "addresses under `type`",
        ADDRESSES_UNDER_TYPE,
    ),
    (
        "son-mano-framework_smr-test_nsr.yml",
        "generated filler, not even YAML: a quoted scalar continued at its key's indentation",
        &["invalid indentation in multiline quoted scalar"],
    ),
    (
        "son-mano-framework_smr-test_vnfr.yml",
        "catalogue entries (`uuid`, `created_at`, `updated_at`, no `id`), addresses under `type`",
        &[
            "\"id\" is a required property",
            "Additional properties",
            "/type: {",
            "\"interface\" is a required property",
        ],
    ),
    (
        "tng-sdk-sm_generated_nsr.yml",
        "tng-sdk-sm leaves `descriptor_version` null and adds `instance_name`",
        &["/descriptor_version: null", "'instance_name' was unexpected"],
    ),
    (
        "tng-sdk-sm_generated_vnfr0.yml",
        "tng-sdk-sm leaves `descriptor_version` null",
        &["/descriptor_version: null"],
    ),
    (
        "tng-sdk-sm_generated_vnfr_from_vnfd7.yml",
        "tng-sdk-sm leaves `descriptor_version` null",
        &["/descriptor_version: null"],
    ),
];

/// SONATA's records put a connection point's address in `type`, where
/// tng-schema has its kind, and have no `interface`.
const ADDRESSES_UNDER_TYPE: &[&str] = &["/type: {", "\"interface\" is a required property"];

/// The records a corpus file holds (a record, a list, or an answer
/// wrapping one under `key`), or why it cannot be read.
fn corpus_records(path: &std::path::Path, key: &str) -> Result<Vec<serde_json::Value>, String> {
    let document: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).map_err(|error| error.to_string())?;
    Ok(match document.get(key).cloned().unwrap_or(document) {
        serde_json::Value::Array(records) => records,
        record => vec![record],
    })
}

#[test]
fn the_corpus_records_fail_tng_schema_only_for_their_known_defects() {
    let Some(schemas) = RecordSchemas::from_corpus() else {
        return;
    };
    let records = std::path::PathBuf::from(std::env::var_os("WASMANO_CORPUS").unwrap()).join("records");
    let mut files: Vec<String> = std::fs::read_dir(&records)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let listed: Vec<&str> = CORPUS_RECORDS.iter().map(|(name, ..)| *name).collect();
    assert_eq!(files, listed, "every corpus record file is listed");
    for (name, why, markers) in CORPUS_RECORDS {
        let (schema, key) = if name.contains("vnfr") {
            (&schemas.vnfr, "vnfr")
        } else {
            (&schemas.nsr, "nsr")
        };
        let problems = match corpus_records(&records.join(name), key) {
            Ok(documents) => documents
                .iter()
                .flat_map(|record| RecordSchemas::problems(schema, record))
                .collect(),
            Err(error) => vec![error],
        };
        assert!(
            !problems.is_empty(),
            "{name} validates now; it was listed because {why}"
        );
        for problem in &problems {
            assert!(
                markers.iter().any(|marker| problem.contains(marker)),
                "{name}: {problem} is not among its known defects ({why})"
            );
        }
    }
    // The validator accepts real 5GTANGO records: tng-sdk-sm's, once their
    // defects are repaired as 5GTANGO's service platform wrote records.
    for (name, key, schema, version) in [
        ("tng-sdk-sm_generated_nsr.yml", "nsr", &schemas.nsr, "nsr-schema-01"),
        (
            "tng-sdk-sm_generated_vnfr0.yml",
            "vnfr",
            &schemas.vnfr,
            "vnfr-schema-01",
        ),
        (
            "tng-sdk-sm_generated_vnfr_from_vnfd7.yml",
            "vnfr",
            &schemas.vnfr,
            "vnfr-schema-01",
        ),
    ] {
        for mut record in corpus_records(&records.join(name), key).unwrap() {
            record["descriptor_version"] = json!(version);
            record.as_object_mut().unwrap().remove("instance_name");
            let problems = RecordSchemas::problems(schema, &record);
            assert!(problems.is_empty(), "{name}, repaired: {problems:#?}");
        }
    }
}

/// A configure manager that answers only once the test lets it.
struct Gated {
    gate: tokio::sync::Semaphore,
}

impl SpecificManager for Gated {
    fn id(&self) -> &str {
        "gated-configure"
    }

    fn kind(&self) -> ManagerKind {
        ManagerKind::Service
    }

    fn invoke(&self, _request: Request) -> BoxFuture<'_, Result<Reply, InvocationError>> {
        Box::pin(async move {
            let _permit = self.gate.acquire().await;
            Ok(Reply::Configure(Vec::new()))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operations_steps_can_be_followed_while_its_run_goes() {
    // On VIMs whose effects outlive the process, as Docker's do, each
    // effect's intent is a durable write that tells the steps before it
    // (on emulated VIMs a run's steps are told with its two or three
    // record writes: `record_writes_go_with_the_runs_next_durable_write`).
    let (_, store, orchestrator, _data) = flaky_orchestrator_on(Flaky {
        outlives: true,
        ..Flaky::new()
    });
    let orchestrator = Arc::new(orchestrator);
    let gated = Arc::new(Gated {
        gate: tokio::sync::Semaphore::new(0),
    });
    let mut ssms = example_ssms();
    ssms.retain(|binding| !binding.events.contains(&SsmEvent::Configure));
    ssms.push(ManagerBinding {
        manager: Arc::clone(&gated) as Arc<dyn SpecificManager>,
        events: vec![SsmEvent::Configure],
    });
    let mut committed = orchestrator.committed_steps();
    let run = tokio::spawn({
        let orchestrator = Arc::clone(&orchestrator);
        let task = Task::Instantiate {
            template: template(ssms),
            placement: None,
        };
        async move {
            let context = RunContext::new(Some("followed-operation"), FailurePolicy::Undo);
            orchestrator.run_with("followed-service", &context, task).await
        }
    });

    // The run waits in its configure hook; what it stored so far is told.
    let mut told = Vec::new();
    while !told
        .iter()
        .any(|step: &String| step.starts_with("VNFR in operation") || step == "fsm start web")
    {
        let batch = tokio::time::timeout(Duration::from_secs(30), committed.recv())
            .await
            .expect("steps while the run goes")
            .unwrap();
        assert_eq!(batch.operation_id, "followed-operation");
        told.extend(batch.steps.into_iter().map(|entry| entry.step));
    }
    assert!(told.contains(&"ssm placement".to_owned()), "{told:?}");
    assert!(!run.is_finished(), "the steps were told before the run ended");

    gated.gate.add_permits(1);
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.nsr.status, Status::NormalOperation);
    let journaled: Vec<String> = store
        .journal_of_operation("followed-operation")
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.step)
        .collect();
    assert!(journaled.starts_with(&told), "told {told:?}, journaled {journaled:?}");
}

/// A configure manager that keeps every request it gets and decides
/// nothing.
#[derive(Default)]
struct Recording {
    requests: std::sync::Mutex<Vec<serde_json::Value>>,
}

impl SpecificManager for Recording {
    fn id(&self) -> &str {
        "recording-configure"
    }

    fn kind(&self) -> ManagerKind {
        ManagerKind::Service
    }

    fn invoke(&self, request: Request) -> BoxFuture<'_, Result<Reply, InvocationError>> {
        let content = serde_json::from_str(request.content_json()).unwrap();
        self.requests.lock().unwrap().push(content);
        Box::pin(async { Ok(Reply::Configure(Vec::new())) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconfigure_hands_its_payload_to_the_configure_manager() {
    let setup = setup();
    let recording = Arc::new(Recording::default());
    let mut ssms = example_ssms();
    ssms.retain(|binding| !binding.events.contains(&SsmEvent::Configure));
    ssms.push(ManagerBinding {
        manager: Arc::clone(&recording) as Arc<dyn SpecificManager>,
        events: vec![SsmEvent::Configure],
    });
    let service = setup.orchestrator.instantiate(template(ssms)).await.unwrap().service_id;
    let payload = json!({"workflow": "reconfigure", "quarantine_state": true});
    let task = Task::Reconfigure {
        reconfiguration_payload: Some(payload.clone()),
    };
    setup
        .orchestrator
        .run_with(&service, &RunContext::default(), task)
        .await
        .unwrap();
    setup.orchestrator.reconfigure(&service).await.unwrap();

    let requests = recording.requests.lock().unwrap();
    let seen: Vec<(&serde_json::Value, &serde_json::Value)> = requests
        .iter()
        .map(|request| (&request["workflow"], &request["service"]["reconfiguration_payload"]))
        .collect();
    assert_eq!(
        seen,
        [
            (&json!("instantiation"), &serde_json::Value::Null),
            (&json!("reconfigure"), &payload),
            (&json!("reconfigure"), &serde_json::Value::Null),
        ]
    );
    assert_eq!(requests[1]["service"]["id"], json!(service));
}

/// A placement manager that puts every VNF on the first VIM of its kind and
/// the NSD's `front` link inside the container VIM its ends share.
struct LinkPlacer;

impl SpecificManager for LinkPlacer {
    fn id(&self) -> &str {
        "link-placer"
    }

    fn kind(&self) -> ManagerKind {
        ManagerKind::Service
    }

    fn invoke(&self, request: Request) -> BoxFuture<'_, Result<Reply, InvocationError>> {
        let content: serde_json::Value = serde_json::from_str(request.content_json()).unwrap();
        let vims = content["topology"]["vims"]["vim_list"].as_array().unwrap().clone();
        let first_of = |kind: &str| {
            vims.iter()
                .find(|vim| vim["type"] == kind)
                .and_then(|vim| vim["vim_uuid"].as_str())
                .unwrap()
                .to_owned()
        };
        let vnfs = content["vnfds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|vnfd| {
                let kind = if vnfd.get("cloudnative_deployment_units").is_some() {
                    "container"
                } else {
                    "vm"
                };
                VnfPlacement {
                    vnf: vnfd["instance_uuid"].as_str().unwrap().to_owned(),
                    vim: first_of(kind),
                }
            })
            .collect();
        let links = vec![LinkPlacement {
            link: "front".into(),
            site: LinkSite::Vim(first_of("container")),
        }];
        Box::pin(async move { Ok(Reply::Placement(Placement { vnfs, links })) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_links_a_placement_manager_places_are_recorded_in_the_nsr() {
    let setup = setup();
    let mut ssms = example_ssms();
    ssms.retain(|binding| !binding.events.contains(&SsmEvent::Placement));
    ssms.push(ManagerBinding {
        manager: Arc::new(LinkPlacer),
        events: vec![SsmEvent::Placement],
    });
    let mut service = (*template(ssms)).clone();
    service.nsd.virtual_links = typed(json!([
        {"id": "front", "connectivity_type": "E-LAN", "connection_points_reference": ["web:eth0", "cache:eth0"]},
        {"id": "back", "connectivity_type": "E-Line", "connection_points_reference": ["web:eth0", "db:eth0"]},
    ]));
    let report = setup.orchestrator.instantiate(Arc::new(service.clone())).await.unwrap();
    let container_vim = report
        .vnfrs
        .iter()
        .find(|vnfr| vnfr.vnf_id == "web")
        .unwrap()
        .deployment_units[0]
        .vim_id
        .clone();
    let stored = setup.store.ns(&report.service_id).await.unwrap();
    assert_eq!(
        stored.link_vims,
        std::collections::BTreeMap::from([("front".to_owned(), container_vim.clone())])
    );
    let links = to_document(&stored.to_tango(&service.nsd))["virtual_links"].clone();
    assert_eq!(links[0]["vim_id"], json!([container_vim]));
    assert!(
        links[1].get("vim_id").is_none(),
        "a link left out is the orchestrator's"
    );
}

/// The record store, keeping what each commit carried: the kinds of its
/// record writes (`CreateVnf`, `UpdateNs`, ...) and its journal entries.
struct CommitLog {
    inner: SqliteStore,
    commits: std::sync::Mutex<Vec<(Vec<&'static str>, Vec<JournalEntry>)>>,
}

impl CommitLog {
    fn taken(&self) -> Vec<(Vec<&'static str>, Vec<JournalEntry>)> {
        std::mem::take(&mut *self.commits.lock().unwrap())
    }
}

fn write_kinds(write: &RecordWrite, kinds: &mut Vec<&'static str>) {
    match write {
        RecordWrite::Nothing => {}
        RecordWrite::CreateNs(_) => kinds.push("CreateNs"),
        RecordWrite::UpdateNs(_) => kinds.push("UpdateNs"),
        RecordWrite::CreateVnf(_) => kinds.push("CreateVnf"),
        RecordWrite::UpdateVnf(_) => kinds.push("UpdateVnf"),
        RecordWrite::HoldRemoval(_) => kinds.push("HoldRemoval"),
        RecordWrite::All(writes) => writes.iter().for_each(|write| write_kinds(write, kinds)),
    }
}

impl RecordStore for CommitLog {
    fn commit(&self, write: RecordWrite, journal: Vec<JournalEntry>) -> StoreFuture<'_, Written> {
        let mut kinds = Vec::new();
        write_kinds(&write, &mut kinds);
        self.commits.lock().unwrap().push((kinds, journal.clone()));
        self.inner.commit(write, journal)
    }
    fn ns(&self, id: &str) -> StoreFuture<'_, NsRecord> {
        self.inner.ns(id)
    }
    fn all_ns(&self) -> StoreFuture<'_, Vec<NsRecord>> {
        self.inner.all_ns()
    }
    fn vnf(&self, id: &str) -> StoreFuture<'_, VnfRecord> {
        self.inner.vnf(id)
    }
    fn vnfs_of(&self, service_id: &str) -> StoreFuture<'_, Vec<VnfRecord>> {
        self.inner.vnfs_of(service_id)
    }
    fn ns_many(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<NsRecord>> {
        self.inner.ns_many(ids)
    }
    fn vnfs_of_many(&self, service_ids: Vec<String>) -> StoreFuture<'_, Vec<VnfRecord>> {
        self.inner.vnfs_of_many(service_ids)
    }
    fn journal_of(&self, service_id: &str) -> StoreFuture<'_, Vec<JournalEntry>> {
        self.inner.journal_of(service_id)
    }
    fn journal_of_operation(&self, operation_id: &str) -> StoreFuture<'_, Vec<JournalEntry>> {
        self.inner.journal_of_operation(operation_id)
    }
    fn held_removals(&self) -> StoreFuture<'_, Vec<wasmano::infrastructure::DeployedUnit>> {
        self.inner.held_removals()
    }
    fn removal_done(&self, instance_ref: &str) -> StoreFuture<'_, ()> {
        self.inner.removal_done(instance_ref)
    }
}

/// A lifecycle on `infrastructure`, logging its commits; the store holds
/// exactly the records each workflow reports, at their versions.
async fn logged_lifecycle(
    infrastructure: Arc<dyn Infrastructure>,
) -> (
    Vec<(Vec<&'static str>, Vec<JournalEntry>)>,
    Vec<(Vec<&'static str>, Vec<JournalEntry>)>,
) {
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(CommitLog {
        inner: SqliteStore::open(&data.path().join("records.sqlite")).unwrap(),
        commits: std::sync::Mutex::default(),
    });
    let orchestrator = Orchestrator::new(
        infrastructure,
        Arc::clone(&store) as Arc<dyn RecordStore>,
        PlacementOptions::default(),
    );
    let stored = |report: WorkflowReport| {
        let store = Arc::clone(&store);
        async move {
            assert_eq!(store.ns(&report.service_id).await.unwrap(), report.nsr);
            let mut vnfrs = store.vnfs_of(&report.service_id).await.unwrap();
            let mut reported = report.vnfrs.clone();
            vnfrs.sort_by(|a, b| a.id.cmp(&b.id));
            reported.sort_by(|a, b| a.id.cmp(&b.id));
            assert_eq!(vnfrs, reported);
            report.service_id
        }
    };
    let id = stored(orchestrator.instantiate(template(example_ssms())).await.unwrap()).await;
    let instantiation = store.taken();
    stored(orchestrator.terminate(&id).await.unwrap()).await;
    (instantiation, store.taken())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_go_with_the_runs_next_durable_write() {
    // Effects that die with the process: the NSR stored, the service in
    // operation (every VNF record written since with it), the service
    // terminated (with its VNFs' records).
    let emulated = Arc::new(EmulatedInfrastructure::new(default_vims()).unwrap());
    let (instantiation, termination) = logged_lifecycle(emulated).await;
    let kinds = |commits: &[(Vec<&'static str>, Vec<JournalEntry>)]| -> Vec<Vec<&'static str>> {
        commits.iter().map(|(kinds, _)| kinds.clone()).collect()
    };
    let vnf_writes = |commit: &Vec<&'static str>| commit.iter().filter(|kind| kind.ends_with("Vnf")).count();
    let instantiated = kinds(&instantiation);
    assert_eq!(instantiated.len(), 2, "{instantiated:?}");
    assert_eq!(instantiated[0], ["CreateNs"]);
    assert_eq!(*instantiated[1].last().unwrap(), "UpdateNs");
    // Three records created, two given their container's envs, three in
    // operation (and whatever the configure manager switched).
    assert!(vnf_writes(&instantiated[1]) >= 8, "{instantiated:?}");
    assert_eq!(
        kinds(&termination),
        [vec!["UpdateVnf", "UpdateVnf", "UpdateVnf", "UpdateNs"]]
    );

    // Effects that outlive the process: each is journaled as an intent
    // first, and a VNF record written before it goes with that intent.
    let outliving = Arc::new(Flaky {
        outlives: true,
        ..Flaky::new()
    });
    let (instantiation, termination) = logged_lifecycle(outliving).await;
    let intent_of = |commits: &[(Vec<&'static str>, Vec<JournalEntry>)], prefix: &str| {
        commits
            .iter()
            .position(|(_, steps)| {
                steps
                    .iter()
                    .any(|step| step.outcome == StepOutcome::Intended && step.step.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no intent of {prefix}"))
    };
    let deploying_cache = &instantiation[intent_of(&instantiation, "deploy cache")];
    assert_eq!(deploying_cache.0, ["CreateVnf"], "web's record, with cache's intent");
    assert!(
        deploying_cache.1.iter().any(|step| step.step == "store VNFR web"),
        "{:#?}",
        deploying_cache.1
    );
    let removing_cache = &termination[intent_of(&termination, "remove cache")];
    assert_eq!(
        removing_cache.0,
        ["UpdateVnf"],
        "web's record terminated, with cache's removal intent"
    );
}
