//! The Docker adapter against a real daemon: containers are created with the
//! unit's image, envs and labels, recreated by `set_envs`, removed without a
//! trace, and refused when the VIM's capacity or kind does not allow them;
//! each is confined (CPU, memory and pids caps, no capabilities,
//! no-new-privileges) on its service's own network, which no other service
//! reaches and which goes with the service's last container (or, left
//! empty by a crash, at the next reconciliation).
//!
//! The daemon must be running (`scripts/test.sh` starts it); if it is not,
//! these tests fail and say how to start it. The image they run,
//! `wasmano/test-vnf:2`, is built here from the static busybox binary of
//! Debian's `busybox-static` when the daemon does not have it yet (the tag
//! changes whenever its applets do).

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerInspectResponse, NetworkCreateRequest, NetworkInspect};
use tango_model::KeyValue;
use tango_model::descriptor::VimKind;
use wasmano::infrastructure::docker::{
    DEFAULT_CPUS, DEFAULT_MEMORY_MB, DockerInfrastructure, LABEL_SERVICE, LABEL_UNIT, LABEL_VIM, LABEL_VNF,
    LABEL_VNF_ID, PIDS_LIMIT, container_name, network_name,
};
use wasmano::infrastructure::emulated::CapacityLedger;
use wasmano::infrastructure::{DeployedUnit, InfraError, Infrastructure, UnitSpec, VimConfig};

use support::{DOCKER_HOW_TO_START as HOW_TO_START, TEST_IMAGE as IMAGE, ensure_test_image as ensure_image};

/// The daemon, for inspecting what the adapter did.
async fn daemon() -> Docker {
    Docker::connect_with_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

/// The adapter serving container VIMs `(id, cores, memory_mb)` on the daemon.
async fn connect(vims: &[(&str, f64, f64)]) -> Arc<DockerInfrastructure> {
    let vims = vims
        .iter()
        .map(|(id, cores, memory_mb)| VimConfig {
            id: (*id).to_string(),
            kind: VimKind::Container,
            cores: *cores,
            memory_mb: *memory_mb,
            labels: BTreeSet::new(),
        })
        .collect();
    // Each test is an orchestrator of its own on the shared daemon.
    let infra = DockerInfrastructure::connect(CapacityLedger::new(vims).unwrap(), &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_or_else(|error| panic!("{error}\n{HOW_TO_START}"));
    ensure_image();
    Arc::new(infra)
}

/// A service id of this test run; dropping it force-removes the containers
/// and networks still labelled with it, so a failed test leaves nothing
/// running.
struct Service(String);

impl Service {
    fn new(test: &str) -> Self {
        Self(format!("test-{}-{test}", std::process::id()))
    }

    fn unit(&self, vnf_instance: &str, unit_id: &str, cores: f64, envs: &[(&str, &str)]) -> UnitSpec {
        UnitSpec {
            service_id: self.0.clone(),
            vnf_instance_id: vnf_instance.into(),
            vnf_id: format!("{vnf_instance}-id"),
            unit_id: unit_id.into(),
            kind: VimKind::Container,
            image: Some(IMAGE.into()),
            cores,
            memory_mb: 64.0,
            connection_points: vec!["mgmt".into(), "input".into()],
            envs: envs.iter().map(|(key, value)| KeyValue::new(*key, *value)).collect(),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let filter = format!("label={LABEL_SERVICE}={}", self.0);
        let labelled = |list: &[&str]| -> Vec<String> {
            Command::new("docker")
                .args(list)
                .args(["-q", "--filter", &filter])
                .output()
                .map(|listed| {
                    String::from_utf8_lossy(&listed.stdout)
                        .split_whitespace()
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let containers = labelled(&["ps", "-a"]);
        if !containers.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&containers).output();
        }
        let networks = labelled(&["network", "ls"]);
        if !networks.is_empty() {
            let _ = Command::new("docker").args(["network", "rm"]).args(&networks).output();
        }
    }
}

async fn inspect(docker: &Docker, id: &str) -> ContainerInspectResponse {
    docker.inspect_container(id, None).await.unwrap()
}

fn env(inspected: &ContainerInspectResponse) -> BTreeSet<String> {
    inspected
        .config
        .as_ref()
        .unwrap()
        .env
        .clone()
        .unwrap()
        .into_iter()
        .collect()
}

fn labels(inspected: &ContainerInspectResponse) -> HashMap<String, String> {
    inspected.config.as_ref().unwrap().labels.clone().unwrap()
}

fn running(inspected: &ContainerInspectResponse) -> bool {
    inspected.state.as_ref().unwrap().running == Some(true)
}

/// The service's network as the daemon has it, or `None` once it is gone.
async fn service_network(docker: &Docker, service_id: &str) -> Option<NetworkInspect> {
    match docker.inspect_network(&network_name(service_id), None).await {
        Ok(network) => Some(network),
        Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => None,
        Err(error) => panic!("inspecting the network of {service_id}: {error}"),
    }
}

/// The networks the container is attached to, by name, with their ids.
fn attached_networks(inspected: &ContainerInspectResponse) -> Vec<(String, String)> {
    let networks = inspected.network_settings.as_ref().unwrap().networks.as_ref().unwrap();
    let mut attached: Vec<_> = networks
        .iter()
        .map(|(name, endpoint)| (name.clone(), endpoint.network_id.clone().unwrap_or_default()))
        .collect();
    attached.sort();
    attached
}

/// Runs a command in a running container.
fn exec(container: &str, command: &[&str]) -> Output {
    Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(command)
        .output()
        .unwrap()
}

/// Whether a TCP connection from the container to `address:7000` opens
/// within two seconds.
fn connects(from: &str, address: &str) -> bool {
    exec(from, &["nc", "-w", "2", address, "7000"]).status.success()
}

/// A network made by hand, removed when dropped.
struct HandMadeNetwork(String);

impl Drop for HandMadeNetwork {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["network", "rm", &self.0]).output();
    }
}

/// Deploys a small unit (`cdu0`, a quarter core) of VNF instance
/// `vnf_instance` of the service on VIM `docker-a`.
async fn deploy_small(infra: &DockerInfrastructure, service: &Service, vnf_instance: &str) -> DeployedUnit {
    infra
        .deploy("docker-a", service.unit(vnf_instance, "cdu0", 0.25, &[]))
        .await
        .unwrap()
}

/// The cores and memory in use on the VIM.
async fn used(infra: &DockerInfrastructure, vim_id: &str) -> (f64, f64) {
    let vims = infra.vims().await.unwrap();
    let vim = vims.iter().find(|vim| vim.config.id == vim_id).unwrap();
    (vim.cores_used, vim.memory_used_mb)
}

fn assert_at_container_address(unit: &DeployedUnit, inspected: &ContainerInspectResponse) {
    let networks = inspected.network_settings.as_ref().unwrap().networks.as_ref().unwrap();
    let ip = networks
        .values()
        .find_map(|network| network.ip_address.clone())
        .unwrap();
    assert!(!ip.is_empty());
    let cps: Vec<_> = unit
        .addresses
        .iter()
        .map(|cp| (cp.cp.as_str(), cp.address.as_str()))
        .collect();
    assert_eq!(cps, [("mgmt", ip.as_str()), ("input", ip.as_str())]);
}

#[tokio::test]
async fn containers_are_deployed_recreated_and_removed() {
    let infra = connect(&[("docker-a", 4.0, 4096.0)]).await;
    let docker = daemon().await;
    let service = Service::new("lifecycle");

    let spec = service.unit("vnf-a", "cdu0", 1.0, &[("MODE", "a"), ("SHARED", "x")]);
    let a = infra.deploy("docker-a", spec.clone()).await.unwrap();
    let b = infra
        .deploy("docker-a", service.unit("vnf-b", "cdu0", 0.5, &[]))
        .await
        .unwrap();
    assert_eq!(used(&infra, "docker-a").await, (1.5, 128.0));

    let inspected = inspect(&docker, &a.instance_ref).await;
    assert!(running(&inspected), "{:?}", inspected.state);
    assert_eq!(
        inspected.name.as_deref(),
        Some(format!("/{}", container_name(&spec)).as_str())
    );
    let env_a = env(&inspected);
    assert!(env_a.contains("MODE=a") && env_a.contains("SHARED=x"), "{env_a:?}");
    let labels_a = labels(&inspected);
    for (label, value) in [
        (LABEL_SERVICE, service.0.as_str()),
        (LABEL_VNF, "vnf-a"),
        (LABEL_VNF_ID, "vnf-a-id"),
        (LABEL_UNIT, "cdu0"),
        (LABEL_VIM, "docker-a"),
    ] {
        assert_eq!(labels_a.get(label).map(String::as_str), Some(value), "label {label}");
    }
    assert_at_container_address(&a, &inspected);
    let inspected_b = inspect(&docker, &b.instance_ref).await;
    assert!(running(&inspected_b));
    assert_ne!(a.addresses[0].address, b.addresses[0].address);

    // set_envs replaces the container (old one gone, envs merged) under the
    // same name, which is the unit's reference: a record naming it stays true.
    let old_id = inspect(&docker, &a.instance_ref).await.id.unwrap();
    let a2 = infra
        .set_envs(
            a.clone(),
            vec![KeyValue::new("MODE", "b"), KeyValue::new("PEER", "10.0.0.7")],
        )
        .await
        .unwrap();
    assert_eq!(a2.instance_ref, a.instance_ref);
    assert!(matches!(
        docker.inspect_container(&old_id, None).await,
        Err(DockerError::DockerResponseServerError { status_code: 404, .. })
    ));
    let inspected = inspect(&docker, &a2.instance_ref).await;
    assert!(running(&inspected));
    let env_a2 = env(&inspected);
    assert!(
        env_a2.contains("MODE=b") && env_a2.contains("SHARED=x") && env_a2.contains("PEER=10.0.0.7"),
        "{env_a2:?}"
    );
    assert!(!env_a2.contains("MODE=a"));
    assert_eq!(a2.spec.envs.len(), 3);
    assert_eq!(labels(&inspected), labels_a);
    assert_at_container_address(&a2, &inspected);
    assert_eq!(
        used(&infra, "docker-a").await,
        (1.5, 128.0),
        "recreating keeps the reservation"
    );

    let listed = infra.service_containers(&service.0).await.unwrap();
    let mut ids: Vec<_> = listed.iter().map(|container| container.name.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![a2.instance_ref.as_str(), b.instance_ref.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(
        listed.iter().all(|container| container.state == "running"),
        "{listed:?}"
    );

    infra.remove(a2.clone()).await.unwrap();
    infra.remove(b).await.unwrap();
    assert!(infra.service_containers(&service.0).await.unwrap().is_empty());
    assert_eq!(used(&infra, "docker-a").await, (0.0, 0.0));
    // Removing again, or through the stale handle, is fine and frees nothing twice.
    infra.remove(a2.clone()).await.unwrap();
    infra.remove(a).await.unwrap();
    assert_eq!(used(&infra, "docker-a").await, (0.0, 0.0));
    assert!(
        infra.set_envs(a2, Vec::new()).await.is_err(),
        "a removed unit cannot be recreated"
    );
    assert!(infra.service_containers(&service.0).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capacity_and_kind_are_enforced() {
    let infra = connect(&[("small", 1.0, 1024.0), ("other", 8.0, 8192.0)]).await;
    let service = Service::new("refusals");

    let mut vm = service.unit("vnf-vm", "vdu0", 0.5, &[]);
    vm.kind = VimKind::Vm;
    let error = infra.deploy("small", vm).await.unwrap_err();
    assert!(
        matches!(
            error,
            InfraError::KindMismatch {
                unit_kind: VimKind::Vm,
                vim_kind: VimKind::Container,
                ..
            }
        ),
        "{error}"
    );
    let error = infra
        .deploy("nowhere", service.unit("vnf-x", "cdu0", 0.5, &[]))
        .await
        .unwrap_err();
    assert_eq!(error, InfraError::UnknownVim("nowhere".into()));
    let mut imageless = service.unit("vnf-x", "cdu0", 0.5, &[]);
    imageless.image = None;
    let error = infra.deploy("small", imageless).await.unwrap_err();
    assert!(
        matches!(&error, InfraError::Backend(message) if message.contains("no image")),
        "{error}"
    );
    let mut missing_image = service.unit("vnf-x", "cdu0", 0.5, &[]);
    missing_image.image = Some("wasmano/no-such-image:latest".into());
    let error = infra.deploy("small", missing_image).await.unwrap_err();
    assert!(
        matches!(&error, InfraError::Backend(message) if message.contains("wasmano/no-such-image:latest is not present on the Docker daemon and could not be pulled from docker.io")),
        "{error}"
    );
    assert_eq!(
        used(&infra, "small").await,
        (0.0, 0.0),
        "refused deploys reserve nothing"
    );
    assert!(infra.service_containers(&service.0).await.unwrap().is_empty());

    // Six concurrent deploys of half a core race for one core: two win.
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let infra = Arc::clone(&infra);
            let spec = service.unit(&format!("vnf-{n}"), "cdu0", 0.5, &[]);
            tokio::spawn(async move { infra.deploy("small", spec).await })
        })
        .collect();
    let mut deployed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => deployed += 1,
            Err(error) => assert!(matches!(error, InfraError::Capacity { .. }), "{error}"),
        }
    }
    assert_eq!(deployed, 2);
    assert_eq!(used(&infra, "small").await, (1.0, 128.0));
    assert_eq!(infra.service_containers(&service.0).await.unwrap().len(), 2);
    let error = infra
        .deploy("small", service.unit("vnf-late", "cdu0", 0.25, &[]))
        .await
        .unwrap_err();
    assert!(matches!(error, InfraError::Capacity { .. }), "{error}");
    // The same daemon serves the other VIM independently.
    infra
        .deploy("other", service.unit("vnf-elsewhere", "cdu0", 2.0, &[]))
        .await
        .unwrap();

    assert_eq!(infra.remove_service(&service.0).await.unwrap(), 3);
    assert!(infra.service_containers(&service.0).await.unwrap().is_empty());
    assert_eq!(used(&infra, "small").await, (0.0, 0.0));
    assert_eq!(used(&infra, "other").await, (0.0, 0.0));
}

/// The workflows on real containers: FSM start and configure envs reach the
/// containers, migration recreates the VNF on the other VIM, termination and
/// a failed instantiation leave no container behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_run_real_containers_with_the_managers_envs() {
    use serde_json::json;
    use tango_model::fsm::FsmEvent;
    use tango_model::ssm::SsmEvent;
    use wasmano::placement::PlacementOptions;
    use wasmano::records::{RecordStore, SqliteStore};
    use wasmano::workflow::{ManagerBinding, Orchestrator, ServiceTemplate, UnitTemplate, VnfTemplate, WorkflowError};
    use wasmano_host::{Host, HostConfig, Limits, SpecificManager, WasmManager};

    let infra = connect(&[("docker-a", 4.0, 2048.0), ("docker-b", 4.0, 2048.0)]).await;
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn RecordStore> = Arc::new(SqliteStore::open(&data.path().join("records.sqlite")).unwrap());
    let orchestrator = Orchestrator::new(
        Arc::clone(&infra) as Arc<dyn Infrastructure>,
        store,
        PlacementOptions::default(),
    );
    let host = Host::new(HostConfig {
        max_instances: 16,
        ..HostConfig::default()
    })
    .unwrap();
    let guests = support::guests();
    let load = |path: &Path, id: &str, options: &[(&str, &str)]| -> Arc<dyn SpecificManager> {
        let module = host.load_file(path, None).unwrap();
        let options = options.iter().map(|(key, value)| KeyValue::new(*key, *value)).collect();
        Arc::new(WasmManager::new(&host, module, id, options, Limits::default()).unwrap())
    };
    let fsm = load(&guests.vnf_manager, "fsm", &[]);
    let vnf = |vnf_id: &str| VnfTemplate {
        vnf_id: vnf_id.into(),
        vnfd_reference: format!("eu.wasmano/{vnf_id}/1.0"),
        vnfd_version: "1.0".into(),
        vnfd: serde_json::from_value(
            json!({"name": vnf_id, "function_specific_managers": [{"id": "fsm", "options": [
            {"key": "type", "value": "configure"}]}]}),
        )
        .unwrap(),
        units: vec![UnitTemplate {
            unit_id: "cdu01".into(),
            kind: VimKind::Container,
            image: Some(IMAGE.into()),
            cores: 1.0,
            memory_mb: 64.0,
            connection_points: vec!["eth0".into()],
        }],
        required_labels: BTreeSet::new(),
        fsms: vec![ManagerBinding {
            manager: Arc::clone(&fsm),
            events: FsmEvent::ALL.to_vec(),
        }],
    };
    let template = |configure: Arc<dyn SpecificManager>| {
        Arc::new(ServiceTemplate {
            nsd_reference: "eu.wasmano/docker-demo/1.0".into(),
            nsd_version: "1.0".into(),
            nsd: serde_json::from_value(json!({"name": "docker-demo"})).unwrap(),
            vnfs: vec![vnf("web"), vnf("cache")],
            ssms: vec![ManagerBinding {
                manager: configure,
                events: vec![SsmEvent::Configure],
            }],
        })
    };
    let docker = daemon().await;

    let service = orchestrator
        .instantiate(template(load(&guests.configure, "configure", &[])))
        .await
        .unwrap();
    let id = service.service_id.clone();
    let containers = infra.service_containers(&id).await.unwrap();
    assert_eq!(containers.len(), 2);
    for vnfr in &service.vnfrs {
        let instance = &vnfr.deployment_units[0].instance_ref;
        let inspected = inspect(&docker, instance).await;
        assert!(running(&inspected));
        let envs = env(&inspected);
        assert!(
            envs.contains(&format!("VNF_ID={}", vnfr.id)),
            "FSM start envs: {envs:?}"
        );
        assert!(
            envs.iter().any(|env| env.starts_with("PEERS=")),
            "FSM configure envs: {envs:?}"
        );
        assert_eq!(labels(&inspected)[LABEL_SERVICE], id);
        assert_eq!(
            inspected.host_config.as_ref().unwrap().network_mode.as_deref(),
            Some(network_name(&id).as_str()),
            "the VNFs share their service's network"
        );
    }

    let web = service.vnfrs.iter().find(|vnfr| vnfr.vnf_id == "web").unwrap();
    let from = web.deployment_units[0].vim_id.clone();
    let to = if from == "docker-a" { "docker-b" } else { "docker-a" };
    let migrated = orchestrator.migrate(&id, &web.id, to).await.unwrap();
    let moved = migrated.vnfrs.iter().find(|vnfr| vnfr.vnf_id == "web").unwrap();
    let inspected = inspect(&docker, &moved.deployment_units[0].instance_ref).await;
    assert_eq!(labels(&inspected)[LABEL_VIM], to);
    assert_eq!(
        infra.service_containers(&id).await.unwrap().len(),
        2,
        "the old web container is gone"
    );

    orchestrator.terminate(&id).await.unwrap();
    assert!(infra.service_containers(&id).await.unwrap().is_empty());
    assert!(
        service_network(&docker, &id).await.is_none(),
        "termination removed the network"
    );

    let error = orchestrator
        .instantiate(template(load(&guests.hostile, "hostile", &[("behaviour", "error")])))
        .await
        .unwrap_err();
    let WorkflowError::Step { service, .. } = &error else {
        panic!("{error}")
    };
    assert!(
        infra.service_containers(service).await.unwrap().is_empty(),
        "rollback removed the containers"
    );
    assert!(
        service_network(&docker, service).await.is_none(),
        "rollback removed the network"
    );
    assert_eq!(used(&infra, "docker-a").await, (0.0, 0.0));
    assert_eq!(used(&infra, "docker-b").await, (0.0, 0.0));
}

/// Every container runs under its unit's CPU and memory (or the documented
/// defaults), a pids limit, no capabilities and no-new-privileges, on its
/// service's network; the kernel really applies the privileges, and a
/// recreated container is confined the same.
#[tokio::test]
async fn containers_are_confined_by_their_units_requirements() {
    let infra = connect(&[("docker-a", 64.0, 8192.0)]).await;
    let docker = daemon().await;
    let service = Service::new("confined");
    let daemon_cpus = docker.info().await.unwrap().ncpu.unwrap();

    let declared = infra
        .deploy("docker-a", service.unit("vnf-a", "cdu0", 0.5, &[]))
        .await
        .unwrap();
    let mut bare = service.unit("vnf-b", "cdu0", 0.0, &[]);
    bare.memory_mb = 0.0;
    let undeclared = infra.deploy("docker-a", bare).await.unwrap();
    // More cores than the daemon has: capped at the daemon's CPUs, which it accepts.
    let greedy = infra
        .deploy("docker-a", service.unit("vnf-c", "cdu0", daemon_cpus as f64 + 1.0, &[]))
        .await
        .unwrap();
    let recreated = infra
        .set_envs(declared.clone(), vec![KeyValue::new("MODE", "b")])
        .await
        .unwrap();

    let default_nano_cpus = (DEFAULT_CPUS * 1e9) as i64;
    let default_memory = (DEFAULT_MEMORY_MB * 1e6) as i64;
    // `declared` itself is gone: `recreated` replaced it.
    for (unit, nano_cpus, memory) in [
        (&recreated, 500_000_000, 64_000_000),
        (&undeclared, default_nano_cpus, default_memory),
        (&greedy, daemon_cpus * 1_000_000_000, 64_000_000),
    ] {
        let inspected = inspect(&docker, &unit.instance_ref).await;
        assert!(running(&inspected), "{:?}", inspected.state);
        let host = inspected.host_config.clone().unwrap();
        let vnf = &unit.spec.vnf_instance_id;
        assert_eq!(host.nano_cpus, Some(nano_cpus), "{vnf}: NanoCpus");
        assert_eq!(host.memory, Some(memory), "{vnf}: Memory");
        assert_eq!(host.pids_limit, Some(PIDS_LIMIT), "{vnf}: PidsLimit");
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]), "{vnf}: CapDrop");
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()]),
            "{vnf}: SecurityOpt"
        );
        assert_eq!(
            host.network_mode.as_deref(),
            Some(network_name(&service.0).as_str()),
            "{vnf}: NetworkMode"
        );

        let status = exec(
            &unit.instance_ref,
            &[
                "sh",
                "-c",
                "while read -r line; do echo \"$line\"; done < /proc/self/status",
            ],
        );
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        let fields: HashMap<String, String> = String::from_utf8_lossy(&status.stdout)
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(key, value)| (key.to_string(), value.trim().to_string()))
            .collect();
        for capabilities in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(fields[capabilities], "0000000000000000", "{vnf}: {capabilities}");
        }
        assert_eq!(fields["NoNewPrivs"], "1", "{vnf}: NoNewPrivs");
    }

    assert_eq!(infra.remove_service(&service.0).await.unwrap(), 3);
    assert!(service_network(&docker, &service.0).await.is_none());
}

/// Each service gets its own labelled network, reused when it exists;
/// containers of one service reach each other and not those of another; a
/// service's network goes with its last container, whichever way it goes,
/// and a network of the same name that is not the service's is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_has_its_own_network_until_its_last_unit_goes() {
    let infra = connect(&[("docker-a", 8.0, 8192.0)]).await;
    let docker = daemon().await;
    let first = Service::new("network-first");
    let second = Service::new("network-second");

    // A network the first service left behind (say, the orchestrator was
    // killed) is joined, not duplicated.
    let left_behind = docker
        .create_network(NetworkCreateRequest {
            name: network_name(&first.0),
            labels: Some(HashMap::from([(LABEL_SERVICE.to_string(), first.0.clone())])),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let a = deploy_small(&infra, &first, "vnf-a").await;
    let b = deploy_small(&infra, &first, "vnf-b").await;
    let c = deploy_small(&infra, &second, "vnf-c").await;

    let first_network = service_network(&docker, &first.0).await.unwrap();
    let second_network = service_network(&docker, &second.0).await.unwrap();
    assert_eq!(first_network.id.as_deref(), Some(left_behind.as_str()));
    assert_ne!(first_network.id, second_network.id);
    assert_eq!(second_network.driver.as_deref(), Some("bridge"));
    assert_eq!(
        second_network.labels.as_ref().unwrap().get(LABEL_SERVICE),
        Some(&second.0)
    );
    let labelled = |service: &str| {
        let filter = format!("label={LABEL_SERVICE}={service}");
        let listed = Command::new("docker")
            .args(["network", "ls", "-q", "--filter", &filter])
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout).split_whitespace().count()
    };
    assert_eq!(labelled(&first.0), 1, "one network per service");
    for (unit, network) in [(&a, &first_network), (&b, &first_network), (&c, &second_network)] {
        let inspected = inspect(&docker, &unit.instance_ref).await;
        assert_eq!(
            attached_networks(&inspected),
            [(network.name.clone().unwrap(), network.id.clone().unwrap())],
            "{} is on its service's network only",
            unit.spec.vnf_instance_id
        );
    }

    // a listens; b (same service) reaches it, c (other service) does not.
    let listening = Command::new("docker")
        .args([
            "exec",
            "-d",
            &a.instance_ref,
            "nc",
            "-ll",
            "-p",
            "7000",
            "-e",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert!(
        listening.status.success(),
        "{}",
        String::from_utf8_lossy(&listening.stderr)
    );
    let a_address = a.addresses[0].address.clone();
    let mut reached = false;
    for _ in 0..20 {
        reached = connects(&b.instance_ref, &a_address);
        if reached {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(reached, "a container reaches another of its service");
    assert!(
        !connects(&c.instance_ref, &a_address),
        "a container of another service reaches {a_address}"
    );

    // The network stays while a unit of the service is left, and goes with the last.
    infra.remove(a).await.unwrap();
    assert!(service_network(&docker, &first.0).await.is_some());
    infra.remove(b.clone()).await.unwrap();
    assert!(service_network(&docker, &first.0).await.is_none());
    infra.remove(b).await.unwrap();
    assert!(service_network(&docker, &second.0).await.is_some());
    assert_eq!(infra.remove_service(&second.0).await.unwrap(), 1);
    assert!(service_network(&docker, &second.0).await.is_none());

    // A deploy that fails once the network is made leaves no network
    // behind: an image with no command cannot become a container.
    let imported = Command::new("sh")
        .args([
            "-c",
            "tar cf - --files-from /dev/null | docker import - wasmano/no-command:1",
        ])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let failing = Service::new("network-failing");
    let mut no_command = failing.unit("vnf-x", "cdu0", 0.25, &[]);
    no_command.image = Some("wasmano/no-command:1".into());
    let error = infra.deploy("docker-a", no_command).await.unwrap_err();
    assert!(error.to_string().contains("creating container"), "{error}");
    assert!(service_network(&docker, &failing.0).await.is_none());

    // A network of the service's name that is not labelled with it is neither
    // joined nor removed.
    let foreign = Service::new("network-foreign");
    let _hand_made = HandMadeNetwork(network_name(&foreign.0));
    docker
        .create_network(NetworkCreateRequest {
            name: network_name(&foreign.0),
            ..Default::default()
        })
        .await
        .unwrap();
    let error = infra
        .deploy("docker-a", foreign.unit("vnf-y", "cdu0", 0.25, &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, InfraError::Backend(message) if message.contains("is not service")),
        "{error}"
    );
    assert!(infra.service_containers(&foreign.0).await.unwrap().is_empty());
    assert!(service_network(&docker, &foreign.0).await.is_some());
    assert_eq!(used(&infra, "docker-a").await, (0.0, 0.0));
}

/// A service network no container uses any more (the orchestrator died
/// between creating it and the service's first container, or the
/// containers went behind its back) goes at the orchestrator's next
/// reconciliation; a network a unit still uses stays, and so does another
/// orchestrator's until that one reconciles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_removes_the_networks_no_container_uses() {
    let ours = connect(&[("docker-a", 8.0, 8192.0)]).await;
    let theirs = connect(&[("docker-a", 8.0, 8192.0)]).await;
    let docker = daemon().await;
    let emptied = Service::new("reconcile-emptied");
    let kept = Service::new("reconcile-kept");
    let foreign = Service::new("reconcile-foreign");
    let emptied_unit = deploy_small(&ours, &emptied, "vnf-a").await;
    let kept_unit = deploy_small(&ours, &kept, "vnf-b").await;
    let foreign_unit = deploy_small(&theirs, &foreign, "vnf-c").await;
    for unit in [&emptied_unit, &foreign_unit] {
        let removed = Command::new("docker")
            .args(["rm", "-f", &unit.instance_ref])
            .output()
            .unwrap();
        assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    }
    assert!(service_network(&docker, &emptied.0).await.is_some());

    let known = [&emptied_unit, &kept_unit].map(|unit| unit.instance_ref.clone()).into();
    let reconciliation = ours.reconcile(known).await.unwrap();
    assert_eq!(reconciliation.removed, Vec::<String>::new());
    assert_eq!(reconciliation.missing, std::slice::from_ref(&emptied_unit.instance_ref));
    assert_eq!(reconciliation.removed_networks, [network_name(&emptied.0)]);
    assert!(service_network(&docker, &emptied.0).await.is_none());
    assert!(
        service_network(&docker, &kept.0).await.is_some(),
        "the network of a running unit stays"
    );
    assert!(
        service_network(&docker, &foreign.0).await.is_some(),
        "another orchestrator's network stays"
    );

    let reconciliation = theirs.reconcile(HashSet::new()).await.unwrap();
    assert_eq!(reconciliation.removed_networks, [network_name(&foreign.0)]);
    assert!(service_network(&docker, &foreign.0).await.is_none());
    ours.remove(kept_unit).await.unwrap();
    assert!(service_network(&docker, &kept.0).await.is_none());
}
