//! From descriptors to a [`ServiceTemplate`] the workflows run: deployment
//! units typed from the VNFDs, and every WebAssembly manager loaded (through
//! the host's precompiled cache) and bound to the events it declared.
//!
//! Legacy container managers (`image`) run over the broker
//! ([`crate::bus`]): a descriptor's legacy managers form one
//! [`LegacyGroup`], started per service or function instance. During
//! development a command can stand in for an image ([`LegacySettings`]).
//!
//! Templates come from the catalogue (onboarded services) or straight from
//! descriptor files (the demo's external-service mode), where legacy
//! container managers can also be mapped onto WebAssembly modules given by
//! the operator.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tango_model::KeyValue;
use tango_model::descriptor::{DeploymentUnit, ManagerDeclaration, VimKind};
use tango_model::fsm::FsmEvent;
use tango_model::ssm::SsmEvent;
use wasmano_host::{Event, Host, Limits, ManagerKind, SpecificManager, WasmManager};

use crate::bus::{
    Broker, DEFAULT_BROKER_URL, DEFAULT_CALL_DEADLINE, DEFAULT_READY_WITHIN, Launcher, LegacyGroup, LegacyHandover,
    LegacyManager, LegacySpec, ManagerRequests,
};
use crate::catalogue::{Catalogue, EntryKind};
use crate::descriptor::{self, Descriptor, Manager, ManagerSource, ModuleRef, Nsd, Sha256Digest, Vnfd, WasmLimits};
use crate::workflow::{ManagerBinding, ServiceTemplate, UnitTemplate, VnfTemplate};

/// Why a service could not be resolved into a template.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A descriptor is missing or invalid.
    #[error("{0}")]
    Descriptor(String),
    /// A manager could not be loaded.
    #[error("manager {manager}: {message}")]
    Manager {
        /// The manager's id.
        manager: String,
        /// Why.
        message: String,
    },
}

/// Where the modules of a service's managers come from.
#[derive(Debug)]
pub enum ModuleSource<'a> {
    /// Onboarded modules, by digest.
    Catalogue(&'a Catalogue),
    /// Module files by manager id; a legacy container manager listed here
    /// runs as that module instead.
    Files(&'a BTreeMap<String, PathBuf>),
    /// No manager is loaded: the service runs on the defaults (sample
    /// payloads are built from such a run).
    Nothing,
}

/// How legacy container managers run.
#[derive(Debug, Clone)]
pub struct LegacySettings {
    /// The broker they talk to (contacted only when one runs).
    pub broker: Broker,
    /// Command lines standing in for images, by image or by manager id
    /// (the image is looked up first): managers that exist as source,
    /// during development and in tests.
    pub commands: BTreeMap<String, String>,
    /// How long an instance's managers have to register and subscribe.
    pub ready_within: Duration,
    /// How long a legacy manager has for one event.
    pub call_deadline: Duration,
    /// Where legacy SSMs' unasked workflow requests go (`serve` acts on
    /// them); dropped when `None`.
    pub requests: Option<ManagerRequests>,
}

impl LegacySettings {
    /// A group of these managers, run with these settings.
    fn group(&self, kind: ManagerKind, specs: Vec<LegacySpec>) -> Arc<LegacyGroup> {
        let group = LegacyGroup::new(kind, specs, self.broker.clone(), self.ready_within);
        match &self.requests {
            Some(requests) => group.forwarding_requests_to(requests.clone()),
            None => group,
        }
    }

    /// How the manager `manager_id` with image `image` starts: the command
    /// standing in for the image or the manager, or else the image.
    pub fn launcher_for(&self, manager_id: &str, image: &str) -> Launcher {
        match self.commands.get(image).or_else(|| self.commands.get(manager_id)) {
            Some(command) => Launcher::Command(command.clone()),
            None => Launcher::Image(image.to_owned()),
        }
    }

    /// The settings for managers on `broker`, with 5GTANGO's readiness
    /// timeout and the default call deadline.
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            commands: BTreeMap::new(),
            ready_within: DEFAULT_READY_WITHIN,
            call_deadline: DEFAULT_CALL_DEADLINE,
            requests: None,
        }
    }
}

impl Default for LegacySettings {
    /// The local broker with 5GTANGO's default credentials.
    fn default() -> Self {
        Self::new(Broker::new(DEFAULT_BROKER_URL, None).unwrap_or_else(|error| unreachable!("{error}")))
    }
}

/// A descriptor's document as managers receive it.
pub fn document(bytes: &[u8]) -> Result<Value, ResolveError> {
    descriptor::document(bytes).map_err(|problem| ResolveError::Descriptor(problem.to_string()))
}

/// An onboarded VNFD, checked.
pub fn onboarded_vnfd(catalogue: &Catalogue, identity: &descriptor::Identity) -> Result<Vnfd, String> {
    let bytes = catalogue
        .read(EntryKind::Vnfd, identity)
        .map_err(|error| error.to_string())?;
    match descriptor::parse(&bytes) {
        Ok(Descriptor::Function(vnfd)) => Ok(vnfd),
        Ok(Descriptor::Service(_)) => Err(format!("{identity} is stored as a VNFD but is an NSD")),
        Err(problems) => Err(format!("{identity} no longer validates: {}", problems[0])),
    }
}

/// The template of an onboarded service.
pub fn from_catalogue(
    catalogue: &Catalogue,
    host: &Host,
    legacy: &LegacySettings,
    nsd: &descriptor::Identity,
) -> Result<ServiceTemplate, ResolveError> {
    let bytes = catalogue
        .read(EntryKind::Nsd, nsd)
        .map_err(|error| ResolveError::Descriptor(error.to_string()))?;
    let Ok(Descriptor::Service(parsed)) = descriptor::parse(&bytes) else {
        return Err(ResolveError::Descriptor(format!(
            "{nsd} in the catalogue is not a valid NSD"
        )));
    };
    let mut vnfds = Vec::new();
    for function in &parsed.network_functions {
        let vnfd_bytes = catalogue
            .read(EntryKind::Vnfd, &function.vnfd)
            .map_err(|error| ResolveError::Descriptor(error.to_string()))?;
        let vnfd = onboarded_vnfd(catalogue, &function.vnfd).map_err(ResolveError::Descriptor)?;
        vnfds.push((vnfd, document(&vnfd_bytes)?));
    }
    build(
        host,
        &parsed,
        document(&bytes)?,
        &vnfds,
        &ModuleSource::Catalogue(catalogue),
        legacy,
    )
}

/// A template from parsed descriptors and their documents. `vnfds` must
/// hold a VNFD for every network function of the NSD.
pub fn build(
    host: &Host,
    nsd: &Nsd,
    nsd_document: Value,
    vnfds: &[(Vnfd, Value)],
    modules: &ModuleSource,
    legacy: &LegacySettings,
) -> Result<ServiceTemplate, ResolveError> {
    let ssms = bind_managers(
        host,
        &nsd.service_specific_managers,
        ManagerKind::Service,
        modules,
        legacy,
    )?
    .into_iter()
    .map(|(manager, events)| ManagerBinding::<SsmEvent> {
        manager,
        events: events.into_iter().filter_map(Event::as_ssm).collect(),
    })
    .collect();
    let mut vnfs = Vec::new();
    for function in &nsd.network_functions {
        let (vnfd, document) = vnfds
            .iter()
            .find(|(vnfd, _)| vnfd.identity == function.vnfd)
            .ok_or_else(|| ResolveError::Descriptor(format!("VNF {}: no VNFD {}", function.vnf_id, function.vnfd)))?;
        let fsms = bind_managers(
            host,
            &vnfd.function_specific_managers,
            ManagerKind::Function,
            modules,
            legacy,
        )?
        .into_iter()
        .map(|(manager, events)| ManagerBinding::<FsmEvent> {
            manager,
            events: events.into_iter().filter_map(Event::as_fsm).collect(),
        })
        .collect();
        let units = vnfd
            .virtual_deployment_units
            .iter()
            .map(|unit| unit_template(unit, VimKind::Vm))
            .chain(
                vnfd.cloudnative_deployment_units
                    .iter()
                    .map(|unit| unit_template(unit, VimKind::Container)),
            )
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| ResolveError::Descriptor(format!("VNFD {}: {message}", vnfd.identity)))?;
        vnfs.push(VnfTemplate {
            vnf_id: function.vnf_id.clone(),
            vnfd_reference: vnfd.identity.to_string(),
            vnfd_version: vnfd.identity.version.clone(),
            vnfd: model_document(document, &vnfd.identity)?,
            units,
            required_labels: function.placement_labels.clone(),
            fsms,
        });
    }
    Ok(ServiceTemplate {
        nsd_reference: nsd.identity.to_string(),
        nsd_version: nsd.identity.version.clone(),
        nsd: model_document(&nsd_document, &nsd.identity)?,
        vnfs,
        ssms,
    })
}

/// A descriptor document as the model types it (what managers get).
fn model_document<T: serde::de::DeserializeOwned>(
    document: &Value,
    identity: &descriptor::Identity,
) -> Result<T, ResolveError> {
    T::deserialize(document).map_err(|error| ResolveError::Descriptor(format!("{identity}: {error}")))
}

/// A descriptor's managers, each bound to its events: WebAssembly ones
/// loaded, legacy container ones (not mapped onto a module) in one
/// [`LegacyGroup`] for the descriptor, bound to every event they declare.
fn bind_managers(
    host: &Host,
    managers: &[Manager],
    kind: ManagerKind,
    modules: &ModuleSource,
    legacy: &LegacySettings,
) -> Result<Vec<LoadedManager>, ResolveError> {
    let mut bound = Vec::new();
    let mut legacy_managers = Vec::new();
    for manager in managers {
        match (&manager.source, modules) {
            (_, ModuleSource::Nothing) => {}
            (ManagerSource::Container { image }, ModuleSource::Files(files)) if !files.contains_key(&manager.id) => {
                legacy_managers.push((manager, image));
            }
            (ManagerSource::Container { image }, ModuleSource::Catalogue(_)) => legacy_managers.push((manager, image)),
            _ => bound.extend(load_manager(host, manager, kind, modules)?),
        }
    }
    if legacy_managers.is_empty() {
        return Ok(bound);
    }
    let specs = legacy_managers
        .iter()
        .map(|(manager, image)| LegacySpec {
            id: manager.id.clone(),
            launcher: legacy.launcher_for(&manager.id, image),
        })
        .collect();
    let group = legacy.group(kind, specs);
    for (manager, _) in legacy_managers {
        bound.push(legacy_binding(manager, kind, &group, legacy.call_deadline));
    }
    Ok(bound)
}

/// A legacy manager of `group`, bound to the events its entry declares.
fn legacy_binding(manager: &Manager, kind: ManagerKind, group: &Arc<LegacyGroup>, deadline: Duration) -> LoadedManager {
    let events = manager
        .declared_events()
        .filter_map(|name| Event::parse(kind, name))
        .collect();
    let legacy_manager = LegacyManager::new(&manager.id, Arc::clone(group), deadline);
    (Arc::new(legacy_manager) as Arc<dyn SpecificManager>, events)
}

fn unit_template(unit: &DeploymentUnit, kind: VimKind) -> Result<UnitTemplate, String> {
    let requirements = unit.resource_requirements.as_ref();
    let memory_mb = match requirements.and_then(|requirements| requirements.memory.as_ref()) {
        Some(memory) => memory
            .megabytes()
            .ok_or_else(|| format!("unit {}: unknown memory unit", unit.id))?,
        None => 0.0,
    };
    Ok(UnitTemplate {
        unit_id: unit.id.clone(),
        kind,
        image: match kind {
            VimKind::Vm => unit.vm_image.clone(),
            VimKind::Container => unit.image.clone(),
        },
        cores: requirements
            .and_then(|requirements| requirements.cpu.as_ref())
            .map_or(0.0, |cpu| cpu.vcpus.value()),
        memory_mb,
        connection_points: unit.connection_points.iter().map(|point| point.id.clone()).collect(),
    })
}

/// What a manager runs from after a change (CHANGE_MANAGER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerChange<'a> {
    /// An onboarded module, by its sha256.
    Module(&'a str),
    /// A legacy container image.
    Image(&'a str),
}

/// A template with one manager changed, and the hand-over the change needs
/// before the service may use it (`None` when neither the old nor the new
/// manager is a legacy one).
#[derive(Debug)]
pub struct ChangedTemplate {
    /// The service with the changed manager.
    pub template: ServiceTemplate,
    /// Starts the new legacy manager and stops the old one.
    pub handover: Option<LegacyHandover>,
}

/// `template` with the manager `manager_id` (an SSM, or the FSM of VNF
/// `vnf_id`) running from `change` instead, with its descriptor entry's
/// options (and limits, for a module): a module must be of the manager's
/// kind and handle every event the entry declares. A manager may change
/// between a module and an image either way (porting a legacy manager, or
/// going back). Nothing starts or stops here: see
/// [`ChangedTemplate::handover`].
pub fn replace_manager(
    catalogue: &Catalogue,
    host: &Host,
    legacy: &LegacySettings,
    template: &ServiceTemplate,
    manager_id: &str,
    vnf_id: Option<&str>,
    change: ManagerChange<'_>,
) -> Result<ChangedTemplate, ResolveError> {
    let failure = |message: String| ResolveError::Manager {
        manager: manager_id.to_owned(),
        message,
    };
    let mut replaced = template.clone();
    let document = replaced.descriptor_document(vnf_id).map_err(failure)?;
    let (entries_kept, bindings) = descriptor_of_mut(&mut replaced, vnf_id).map_err(failure)?;
    let parsed = descriptor::parse(document.to_string().as_bytes())
        .map_err(|problems| failure(format!("its descriptor no longer validates: {}", problems[0])))?;
    let (entries, kind) = match &parsed {
        Descriptor::Service(nsd) => (&nsd.service_specific_managers, ManagerKind::Service),
        Descriptor::Function(vnfd) => (&vnfd.function_specific_managers, ManagerKind::Function),
    };
    let mut entry = entries
        .iter()
        .find(|entry| entry.id == manager_id)
        .cloned()
        .ok_or_else(|| failure("no such manager in its descriptor".into()))?;
    let old_group = bindings
        .iter()
        .find_map(|binding| (binding.manager().as_ref() as &dyn Any).downcast_ref::<LegacyManager>())
        .map(|manager| Arc::clone(manager.group()));
    let (manager, events, group) = match change {
        ManagerChange::Module(sha256) => {
            let digest = Sha256Digest::parse(sha256).ok_or_else(|| failure(format!("{sha256:?} is not a sha256")))?;
            entry.source = match entry.source {
                ManagerSource::Wasm { module, limits, .. } => ManagerSource::Wasm {
                    module,
                    sha256: digest,
                    limits,
                },
                ManagerSource::Container { .. } => ManagerSource::Wasm {
                    module: ModuleRef::Package(PathBuf::from(format!("{sha256}.wasm"))),
                    sha256: digest,
                    limits: WasmLimits::default(),
                },
            };
            let declared = entry.declared_events().count();
            let (manager, events) = load_manager(host, &entry, kind, &ModuleSource::Catalogue(catalogue))?
                .ok_or_else(|| failure("the module could not be loaded".into()))?;
            if events.len() < declared {
                return Err(failure(format!(
                    "module {sha256} does not handle every event the entry declares ({})",
                    entry.declared_events().collect::<Vec<_>>().join(", ")
                )));
            }
            let group = old_group
                .filter(|group| group.specs().iter().any(|spec| spec.id == manager_id))
                .map(|group| group.with_manager(manager_id, None));
            (manager, events, group)
        }
        ManagerChange::Image(image) => {
            if image.trim().is_empty() {
                return Err(failure("the image reference is empty".into()));
            }
            entry.source = ManagerSource::Container {
                image: image.to_owned(),
            };
            let launcher = legacy.launcher_for(manager_id, image);
            let group = match old_group {
                Some(group) => group.with_manager(manager_id, Some(launcher)),
                None => legacy.group(
                    kind,
                    vec![LegacySpec {
                        id: manager_id.to_owned(),
                        launcher,
                    }],
                ),
            };
            let (manager, events) = legacy_binding(&entry, kind, &group, legacy.call_deadline);
            (manager, events, Some(group))
        }
    };
    pin_source(entries_kept, manager_id, change);
    let mut found = false;
    for mut binding in bindings {
        if binding.id() == manager_id {
            found = true;
            binding.set_manager(Arc::clone(&manager));
            binding.set_events(&events);
        } else if let (Some(group), Some(other)) = (
            &group,
            (binding.manager().as_ref() as &dyn Any).downcast_ref::<LegacyManager>(),
        ) {
            // Every legacy manager of the descriptor runs in the new group.
            let moved = LegacyManager::new(other.id(), Arc::clone(group), other.deadline());
            binding.set_manager(Arc::new(moved));
        }
    }
    if !found {
        return Err(failure("the service does not run it".into()));
    }
    Ok(ChangedTemplate {
        template: replaced,
        handover: group.map(|group| LegacyHandover {
            group,
            manager: manager_id.to_owned(),
        }),
    })
}

/// A binding of either kind, for [`replace_manager`].
enum AnyBinding<'a> {
    Ssm(&'a mut ManagerBinding<SsmEvent>),
    Fsm(&'a mut ManagerBinding<FsmEvent>),
}

impl AnyBinding<'_> {
    fn id(&self) -> &str {
        self.manager().id()
    }

    fn manager(&self) -> &Arc<dyn SpecificManager> {
        match self {
            Self::Ssm(binding) => &binding.manager,
            Self::Fsm(binding) => &binding.manager,
        }
    }

    fn set_manager(&mut self, manager: Arc<dyn SpecificManager>) {
        match self {
            Self::Ssm(binding) => binding.manager = manager,
            Self::Fsm(binding) => binding.manager = manager,
        }
    }

    /// Binds it to those of `events` of its kind.
    fn set_events(&mut self, events: &[Event]) {
        match self {
            Self::Ssm(binding) => {
                binding.events = events.iter().copied().filter_map(Event::as_ssm).collect();
            }
            Self::Fsm(binding) => {
                binding.events = events.iter().copied().filter_map(Event::as_fsm).collect();
            }
        }
    }
}

/// The manager entries a manager change edits (the NSD's, or those of the
/// VNFD of VNF `vnf_id`) and the managers bound from them.
fn descriptor_of_mut<'a>(
    template: &'a mut ServiceTemplate,
    vnf_id: Option<&str>,
) -> Result<(&'a mut Vec<ManagerDeclaration>, Vec<AnyBinding<'a>>), String> {
    match vnf_id {
        None => Ok((
            &mut template.nsd.service_specific_managers,
            template.ssms.iter_mut().map(AnyBinding::Ssm).collect(),
        )),
        Some(vnf_id) => {
            let vnf = template
                .vnfs
                .iter_mut()
                .find(|vnf| vnf.vnf_id == vnf_id)
                .ok_or_else(|| format!("the service has no VNF {vnf_id:?}"))?;
            Ok((
                &mut vnf.vnfd.function_specific_managers,
                vnf.fsms.iter_mut().map(AnyBinding::Fsm).collect(),
            ))
        }
    }
}

/// Makes the manager entry the template keeps name the manager's new
/// source: the module's digest, or the image.
fn pin_source(entries: &mut [ManagerDeclaration], manager_id: &str, change: ManagerChange<'_>) {
    let Some(entry) = entries.iter_mut().find(|entry| entry.id == manager_id) else {
        return;
    };
    match change {
        ManagerChange::Module(sha256) => {
            entry.image = None;
            let wasm = entry
                .other
                .entry("wasm")
                .or_insert_with(|| serde_json::json!({"module": format!("{sha256}.wasm")}));
            if let Some(wasm) = wasm.as_object_mut() {
                wasm.insert("sha256".into(), Value::String(sha256.to_ascii_lowercase()));
            }
        }
        ManagerChange::Image(image) => {
            entry.other.remove("wasm");
            entry.image = Some(image.to_owned());
        }
    }
}

/// A manager ready to run, and the events it is bound to.
type LoadedManager = (Arc<dyn SpecificManager>, Vec<Event>);

/// Loads a manager's module and binds it to the events it declared and
/// handles. A declared event the module does not handle is left unbound
/// (and logged): onboarding refuses such modules, so this only happens when
/// an operator maps a legacy manager onto a module by hand. `None` for a
/// legacy container manager no module was given for (it runs over the bus).
fn load_manager(
    host: &Host,
    manager: &Manager,
    kind: ManagerKind,
    modules: &ModuleSource,
) -> Result<Option<LoadedManager>, ResolveError> {
    let failure = |message: String| ResolveError::Manager {
        manager: manager.id.clone(),
        message,
    };
    let (bytes, sha256, limits) = match (&manager.source, modules) {
        (_, ModuleSource::Nothing) => return Ok(None),
        (ManagerSource::Wasm { sha256, limits, .. }, ModuleSource::Catalogue(catalogue)) => {
            let identity = crate::catalogue::module_identity(sha256.as_str());
            let bytes = catalogue
                .read(EntryKind::Module, &identity)
                .map_err(|error| failure(error.to_string()))?;
            (bytes, Some(sha256.to_string()), *limits)
        }
        (source, ModuleSource::Files(files)) => {
            let Some(path) = files.get(&manager.id) else {
                return match source {
                    ManagerSource::Container { .. } => Ok(None),
                    ManagerSource::Wasm { module, .. } => Err(failure(format!("no file given for module {module}"))),
                };
            };
            let bytes = std::fs::read(path).map_err(|error| failure(format!("{}: {error}", path.display())))?;
            let (sha256, limits) = match source {
                ManagerSource::Wasm { sha256, limits, .. } => (Some(sha256.to_string()), *limits),
                ManagerSource::Container { .. } => (None, Default::default()),
            };
            (bytes, sha256, limits)
        }
        (ManagerSource::Container { .. }, ModuleSource::Catalogue(_)) => return Ok(None),
    };
    let module = host
        .load_bytes(&bytes, sha256.as_deref())
        .map_err(|error| failure(error.to_string()))?;
    if module.kind() != kind {
        return Err(failure(format!(
            "the module is a {} module, a {kind} is needed",
            module.kind()
        )));
    }
    let defaults = Limits::default();
    let limits = Limits {
        deadline: limits
            .deadline_ms
            .map_or(defaults.deadline, |ms| Duration::from_millis(ms.get())),
        memory_bytes: limits
            .memory_mb
            .map_or(defaults.memory_bytes, |mb| mb.get() as usize * (1 << 20)),
        ..defaults
    };
    let options = manager
        .options
        .iter()
        .map(|option| KeyValue::new(&option.key, &option.value))
        .collect();
    let wasm =
        WasmManager::new(host, module, &manager.id, options, limits).map_err(|error| failure(error.to_string()))?;
    let handled = wasm.handled_events().map_err(|cause| failure(cause.to_string()))?;
    let mut events = Vec::new();
    for declared in manager.declared_events() {
        match handled.iter().find(|event| event.name() == declared) {
            Some(event) => events.push(*event),
            None => {
                tracing::warn!(manager = %manager.id, "declared event {declared} is not handled by its module: left to the defaults")
            }
        }
    }
    Ok(Some((Arc::new(wasm), events)))
}
