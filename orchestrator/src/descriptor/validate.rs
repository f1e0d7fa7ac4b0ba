//! Reading a parsed YAML tree into the model, checking as it goes.
//!
//! One pass over the tree both builds the typed descriptor and checks it,
//! because the tree still knows the line of every node: types and required
//! fields, unique ids, links that name declared connection points, positive
//! resources, manager sources and events. Every problem is collected; the
//! descriptor is returned only when there are none. [`check_service`] then
//! checks an NSD against its VNFDs, which no single file can.

use std::collections::{HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroU64};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tango_model::Quantity;
use tango_model::descriptor::{ConnectionPoint, Cpu, DeploymentUnit, Memory, ResourceRequirements, VirtualLink};
use wasmano_host::{Event, ManagerKind};

use super::manager::{
    CURRENT_ID_OPTION_KEY, CURRENT_IMAGE_OPTION_KEY, EVENT_OPTION_KEY, MAX_WASM_DEADLINE_MS, MAX_WASM_MEMORY_MB,
    Manager, ManagerOption, ManagerSource, ManagerUpdate, ModuleRef, Sha256Digest, WasmLimits,
};
use super::model::{Identity, NetworkFunction, Nsd, Vnfd};
use super::problem::{Issue, Problem, Severity};
use super::yaml::{Content, Node};
use super::{Checked, Descriptor};

/// The events 5GTANGO's service-specific managers handle (`scale` marks an
/// SSM that takes part in scaling, as 5GTANGO's SLM asks "does the SSM
/// handle scaling?").
const SERVICE_EVENTS: &[&str] = &["task", "placement", "configure", "state", "monitor", "scale"];
/// The events 5GTANGO's function-specific managers handle.
const FUNCTION_EVENTS: &[&str] = &["start", "stop", "configure", "state", "scale"];

/// The keys of a manager's `wasm` block, which wasmano owns.
const WASM_KEYS: &[&str] = &["module", "sha256", "limits"];
/// The keys of `wasm.limits`.
const WASM_LIMITS_KEYS: &[&str] = &["deadline_ms", "memory_mb"];

/// Reads a descriptor from its YAML tree with its warnings, or says
/// everything wrong with it (errors and warnings), in line order.
pub(crate) fn read_descriptor(root: &Node) -> Result<Checked, Vec<Problem>> {
    let mut reader = Reader::default();
    let descriptor = reader.descriptor(root);
    let mut problems = reader.problems;
    problems.sort_by_key(|problem| problem.line.unwrap_or(usize::MAX));
    let has_errors = problems.iter().any(|problem| problem.severity() == Severity::Error);
    match descriptor {
        Some(descriptor) if !has_errors => Ok(Checked {
            descriptor,
            warnings: problems,
        }),
        _ => Err(problems),
    }
}

/// Checks a service against its functions' descriptors: every network
/// function has its VNFD among `vnfds`, and every `vnf_id:cp` a virtual link
/// names is a connection point of that VNFD. The model does not keep lines,
/// so these problems have none.
pub fn check_service(nsd: &Nsd, vnfds: &[Vnfd]) -> Vec<Problem> {
    let vnfd_of = |function: &NetworkFunction| vnfds.iter().find(|vnfd| vnfd.identity == function.vnfd);
    let mut problems = Vec::new();
    for (index, function) in nsd.network_functions.iter().enumerate() {
        if vnfd_of(function).is_none() {
            problems.push(Problem {
                path: format!("network_functions[{index}]"),
                line: None,
                issue: Issue::MissingVnfd {
                    vnfd: function.vnfd.to_string(),
                },
            });
        }
    }
    for (link_index, link) in nsd.virtual_links.iter().enumerate() {
        for (index, reference) in link.connection_points_reference.iter().enumerate() {
            if nsd.connection_points.iter().any(|point| point.id == *reference) {
                continue;
            }
            let Some((vnf_id, cp)) = reference.split_once(':') else {
                continue;
            };
            let Some(vnfd) = nsd.network_function(vnf_id).and_then(vnfd_of) else {
                continue;
            };
            if !vnfd.has_connection_point(cp) {
                problems.push(Problem {
                    path: format!("virtual_links[{link_index}].connection_points_reference[{index}]"),
                    line: None,
                    issue: Issue::NoSuchVnfPoint {
                        vnfd: vnfd.identity.to_string(),
                        cp: cp.to_owned(),
                    },
                });
            }
        }
    }
    problems
}

/// A manager entry's `currentId` (and `currentImage`) options: the entry
/// updates the manager `current_id` declared before it.
struct UpdateDirective {
    current_id: String,
    current_image: Option<String>,
    /// Where the `currentId` option is.
    path: String,
    line: Option<usize>,
}

/// Ids declared so far in one list, with the path of each first declaration.
type Declared = HashMap<String, String>;

/// The entries of one mapping, remembering which ones the model took.
struct Fields<'a> {
    entries: &'a [(String, Node)],
    taken: Vec<bool>,
    path: String,
    line: Option<usize>,
}

impl<'a> Fields<'a> {
    /// The value of `key`, null counting as absent, without taking it.
    fn peek(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(name, node)| name == key && node.content != Content::Null)
            .map(|(_, node)| node)
    }

    /// The value of `key`, null counting as absent; it leaves `other`.
    fn take(&mut self, key: &str) -> Option<&'a Node> {
        let index = self.entries.iter().position(|(name, _)| name == key)?;
        self.taken[index] = true;
        let node = &self.entries[index].1;
        (node.content != Content::Null).then_some(node)
    }

    /// The path of a field of this mapping.
    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The keys the model did not take, with their lines.
    fn untaken(&self) -> impl Iterator<Item = (&'a str, Option<usize>)> + '_ {
        self.untaken_nodes().map(|(key, node)| (key, node.line))
    }

    /// The entries the model did not take.
    fn untaken_nodes(&self) -> impl Iterator<Item = (&'a str, &'a Node)> + '_ {
        self.entries
            .iter()
            .zip(&self.taken)
            .filter(|(_, taken)| !**taken)
            .map(|((key, node), _)| (key.as_str(), node))
    }

    /// The entries the model did not take, as written.
    fn other(&self) -> Map<String, Value> {
        self.untaken_nodes()
            .map(|(key, node)| (key.to_owned(), node.to_json()))
            .collect()
    }

    /// [`other`](Self::other), the fields done with.
    fn into_other(self) -> Map<String, Value> {
        self.other()
    }
}

/// Which descriptor a document is.
enum DescriptorKind {
    Service,
    Function,
}

#[derive(Default)]
struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    fn report(&mut self, path: &str, line: Option<usize>, issue: Issue) {
        self.problems.push(Problem {
            path: path.to_owned(),
            line,
            issue,
        });
    }

    /// Reports every key of a block wasmano owns that the model did not
    /// take: a typo there would silently change what runs.
    fn refuse_unknown_keys(&mut self, fields: &Fields<'_>, block: &'static str, known: &'static [&'static str]) {
        for (key, line) in fields.untaken() {
            self.report(
                &fields.path_of(key),
                line,
                Issue::UnknownKey {
                    key: key.to_owned(),
                    block,
                    known: known.join(", "),
                },
            );
        }
    }

    /// The model's reading of the fields the walk did not take: those it
    /// types (`image`, `port`, ...) in their fields, the others in `other`.
    /// A field the model cannot read is an error at that field's path and
    /// line.
    fn rest<T: DeserializeOwned + Default>(&mut self, fields: Fields<'_>) -> T {
        let error = match serde_json::from_value::<T>(Value::Object(fields.other())) {
            Ok(typed) => return typed,
            Err(error) => error,
        };
        // Which field: the first that does not read on its own.
        let culprit = fields.untaken_nodes().find_map(|(key, node)| {
            let alone = Value::Object(Map::from_iter([(key.to_owned(), node.to_json())]));
            serde_json::from_value::<T>(alone)
                .err()
                .map(|error| (key, node.line, error))
        });
        let (path, line, message) = match culprit {
            Some((key, line, error)) => (fields.path_of(key), line, error.to_string()),
            None => (fields.path.clone(), fields.line, error.to_string()),
        };
        self.report(&path, line, Issue::NotTngShape { message });
        T::default()
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &'static str) {
        let found = node.type_name();
        self.report(path, node.line, Issue::WrongType { expected, found });
    }

    fn descriptor(&mut self, root: &Node) -> Option<Descriptor> {
        let fields = self.mapping(root, "")?;
        match descriptor_kind(&fields) {
            Some(DescriptorKind::Service) => self.nsd(fields).map(Descriptor::Service),
            Some(DescriptorKind::Function) => self.vnfd(fields).map(Descriptor::Function),
            None => {
                self.report("", None, Issue::NotADescriptor);
                None
            }
        }
    }

    fn nsd(&mut self, mut fields: Fields<'_>) -> Option<Nsd> {
        let identity = self.identity(&mut fields, ["vendor", "name", "version"]);
        let mut function_ids = Declared::new();
        let network_functions = self
            .list(&mut fields, "network_functions")
            .into_iter()
            .filter_map(|(path, node)| self.network_function(node, &path, &mut function_ids))
            .collect();
        let mut point_ids = Declared::new();
        let connection_points = self.connection_points(&mut fields, &mut point_ids);
        let resolve = |reference: &str| {
            if point_ids.contains_key(reference) {
                return None;
            }
            match reference.split_once(':') {
                Some((vnf_id, _)) if function_ids.contains_key(vnf_id) => None,
                Some((vnf_id, _)) => Some(Issue::UnknownNetworkFunction {
                    vnf_id: vnf_id.to_owned(),
                }),
                None => Some(Issue::UnknownServicePoint {
                    reference: reference.to_owned(),
                }),
            }
        };
        let virtual_links = self.virtual_links(&mut fields, resolve);
        let (service_specific_managers, service_manager_updates) =
            self.managers(&mut fields, "service_specific_managers", ManagerKind::Service);
        Some(Nsd {
            identity: identity?,
            network_functions,
            connection_points,
            virtual_links,
            service_specific_managers,
            service_manager_updates,
            other: fields.into_other(),
        })
    }

    fn vnfd(&mut self, mut fields: Fields<'_>) -> Option<Vnfd> {
        let identity = self.identity(&mut fields, ["vendor", "name", "version"]);
        let mut unit_ids = Declared::new();
        let mut unit_points = HashMap::new();
        let mut units = |reader: &mut Self, fields: &mut Fields<'_>, key: &str| -> Vec<DeploymentUnit> {
            reader
                .list(fields, key)
                .into_iter()
                .filter_map(|(path, node)| reader.deployment_unit(node, &path, &mut unit_ids, &mut unit_points))
                .collect()
        };
        let virtual_deployment_units = units(self, &mut fields, "virtual_deployment_units");
        let cloudnative_line = fields.peek("cloudnative_deployment_units").and_then(|node| node.line);
        let cloudnative_deployment_units = units(self, &mut fields, "cloudnative_deployment_units");
        if !virtual_deployment_units.is_empty() && !cloudnative_deployment_units.is_empty() {
            self.report(
                &fields.path_of("cloudnative_deployment_units"),
                cloudnative_line,
                Issue::MixedUnits,
            );
        }
        let mut point_ids = Declared::new();
        let connection_points = self.connection_points(&mut fields, &mut point_ids);
        let resolve = |reference: &str| {
            if point_ids.contains_key(reference) {
                return None;
            }
            let Some((unit, cp)) = reference.split_once(':') else {
                return Some(Issue::UnknownFunctionPoint {
                    reference: reference.to_owned(),
                });
            };
            match unit_points.get(unit) {
                None => Some(Issue::UnknownUnit { unit: unit.to_owned() }),
                // SONATA's early descriptors name unit cps `unit:cp` in full.
                Some(points) if points.contains(cp) || points.contains(reference) => None,
                Some(_) => Some(Issue::UnknownUnitPoint {
                    unit: unit.to_owned(),
                    cp: cp.to_owned(),
                }),
            }
        };
        let virtual_links = self.virtual_links(&mut fields, resolve);
        let (function_specific_managers, function_manager_updates) =
            self.managers(&mut fields, "function_specific_managers", ManagerKind::Function);
        Some(Vnfd {
            identity: identity?,
            virtual_deployment_units,
            cloudnative_deployment_units,
            connection_points,
            virtual_links,
            function_specific_managers,
            function_manager_updates,
            other: fields.into_other(),
        })
    }

    fn network_function(&mut self, node: &Node, path: &str, ids: &mut Declared) -> Option<NetworkFunction> {
        let mut fields = self.mapping(node, path)?;
        let vnf_id = self.id(&mut fields, "vnf_id", ids);
        let vnfd = self.identity(&mut fields, ["vnf_vendor", "vnf_name", "vnf_version"]);
        let placement_labels = self
            .list(&mut fields, "placement_labels")
            .into_iter()
            .filter_map(|(path, node)| self.text(node, &path))
            .collect();
        Some(NetworkFunction {
            vnf_id: vnf_id?,
            vnfd: vnfd?,
            placement_labels,
            other: fields.into_other(),
        })
    }

    fn connection_points(&mut self, fields: &mut Fields<'_>, ids: &mut Declared) -> Vec<ConnectionPoint> {
        self.list(fields, "connection_points")
            .into_iter()
            .filter_map(|(path, node)| {
                let mut fields = self.mapping(node, &path)?;
                let id = self.id(&mut fields, "id", ids)?;
                Some(ConnectionPoint {
                    id,
                    ..self.rest(fields)
                })
            })
            .collect()
    }

    fn virtual_links(&mut self, fields: &mut Fields<'_>, resolve: impl Fn(&str) -> Option<Issue>) -> Vec<VirtualLink> {
        let mut ids = Declared::new();
        self.list(fields, "virtual_links")
            .into_iter()
            .filter_map(|(path, node)| {
                let mut fields = self.mapping(node, &path)?;
                let id = self.id(&mut fields, "id", &mut ids);
                if fields.peek("connection_points_reference").is_none() {
                    self.report(
                        &fields.path_of("connection_points_reference"),
                        fields.line,
                        Issue::Missing,
                    );
                }
                let mut dangling = false;
                let references: Vec<String> = self
                    .list(&mut fields, "connection_points_reference")
                    .into_iter()
                    .filter_map(|(path, node)| {
                        let reference = self.text(node, &path)?;
                        if let Some(issue) = resolve(&reference) {
                            dangling |= issue.severity() == Severity::Warning;
                            self.report(&path, node.line, issue);
                        }
                        Some(reference)
                    })
                    .collect();
                // A link with an end nowhere does not join what it says it
                // does: it is left out (reported as a warning above).
                let link = VirtualLink {
                    id: id?,
                    connection_points_reference: references,
                    ..self.rest(fields)
                };
                (!dangling).then_some(link)
            })
            .collect()
    }

    fn deployment_unit(
        &mut self,
        node: &Node,
        path: &str,
        ids: &mut Declared,
        unit_points: &mut HashMap<String, HashSet<String>>,
    ) -> Option<DeploymentUnit> {
        let mut fields = self.mapping(node, path)?;
        let id = self.id(&mut fields, "id", ids);
        let mut point_ids = Declared::new();
        let connection_points = self.connection_points(&mut fields, &mut point_ids);
        if let Some(id) = &id {
            unit_points.entry(id.clone()).or_default().extend(point_ids.into_keys());
        }
        let resource_requirements = fields
            .take("resource_requirements")
            .and_then(|node| self.resource_requirements(node, &format!("{path}.resource_requirements")));
        Some(DeploymentUnit {
            id: id?,
            connection_points,
            resource_requirements,
            ..self.rest(fields)
        })
    }

    fn resource_requirements(&mut self, node: &Node, path: &str) -> Option<ResourceRequirements> {
        let mut fields = self.mapping(node, path)?;
        let cpu = fields.take("cpu").and_then(|node| {
            let mut fields = self.mapping(node, &format!("{path}.cpu"))?;
            let vcpus = self.positive(&mut fields, "vcpus")?;
            Some(Cpu {
                vcpus,
                ..self.rest(fields)
            })
        });
        let memory = fields.take("memory").and_then(|node| {
            let mut fields = self.mapping(node, &format!("{path}.memory"))?;
            let size = self.positive(&mut fields, "size");
            let unit_node = fields.peek("size_unit");
            let size_unit = self.optional_text(&mut fields, "size_unit");
            let amount = Memory {
                size: size?,
                size_unit,
                ..Memory::default()
            };
            if amount.megabytes().is_none() {
                let unit = amount.size_unit.clone().unwrap_or_default();
                self.report(
                    &fields.path_of("size_unit"),
                    unit_node.and_then(|node| node.line),
                    Issue::UnknownMemoryUnit { unit },
                );
                return None;
            }
            Some(Memory {
                other: self.rest::<Memory>(fields).other,
                ..amount
            })
        });
        Some(ResourceRequirements {
            cpu,
            memory,
            ..self.rest(fields)
        })
    }

    /// A list of managers: the managers it declares, and the updates of
    /// some of them it declares (5GTANGO's update directive: see
    /// [`ManagerUpdate`]).
    fn managers(
        &mut self,
        fields: &mut Fields<'_>,
        key: &str,
        kind: ManagerKind,
    ) -> (Vec<Manager>, Vec<ManagerUpdate>) {
        let mut ids = Declared::new();
        let mut managers: Vec<Manager> = Vec::new();
        let mut updates = Vec::new();
        for (entry, (path, node)) in self.list(fields, key).into_iter().enumerate() {
            match self.manager(node, &path, kind, &mut ids) {
                Some((manager, None)) => managers.push(manager),
                Some((manager, Some(directive))) => {
                    let replaced = managers.iter().find(|declared| declared.id == directive.current_id);
                    if let (Some(replaced), Some(current_image)) = (replaced, &directive.current_image)
                        && replaced.source
                            != (ManagerSource::Container {
                                image: current_image.clone(),
                            })
                    {
                        self.report(
                            &directive.path,
                            directive.line,
                            Issue::UpdateOfAnotherImage {
                                current_id: directive.current_id.clone(),
                                current_image: current_image.clone(),
                            },
                        );
                    }
                    updates.push(ManagerUpdate {
                        current_id: directive.current_id,
                        current_image: directive.current_image,
                        manager,
                        entry,
                    });
                }
                None => {}
            }
        }
        (managers, updates)
    }

    /// A manager entry, and the update directive it carries, if any.
    fn manager(
        &mut self,
        node: &Node,
        path: &str,
        kind: ManagerKind,
        ids: &mut Declared,
    ) -> Option<(Manager, Option<UpdateDirective>)> {
        let mut fields = self.mapping(node, path)?;
        let description = self.optional_text(&mut fields, "description");
        let image = fields.take("image");
        let wasm = fields.take("wasm");
        let source = match (image, wasm) {
            (Some(_), Some(_)) => {
                self.report(path, node.line, Issue::BothImageAndWasm);
                None
            }
            (None, None) => {
                self.report(path, node.line, Issue::NoManagerSource);
                None
            }
            (Some(image), None) => self
                .text(image, &fields.path_of("image"))
                .map(|image| ManagerSource::Container { image }),
            (None, Some(wasm)) => self.wasm_source(wasm, &fields.path_of("wasm")),
        };
        let is_wasm = wasm.is_some() && image.is_none();
        let mut options = Vec::new();
        let mut current_id = None;
        let mut current_image = None;
        for (path, node) in self.list(&mut fields, "options") {
            let Some(option) = self.manager_option(node, &path, kind, is_wasm) else {
                continue;
            };
            match option.key.as_str() {
                CURRENT_ID_OPTION_KEY => current_id = Some((option.value, path, node.line)),
                CURRENT_IMAGE_OPTION_KEY => current_image = Some(option.value),
                _ => options.push(option),
            }
        }
        let directive = match current_id {
            Some((current_id, path, line)) => Some(UpdateDirective {
                current_id,
                current_image,
                path,
                line,
            }),
            None => {
                if current_image.is_some() {
                    self.report(&fields.path_of("options"), fields.line, Issue::UpdateWithoutCurrentId);
                }
                None
            }
        };
        let id = match &directive {
            None => self.id(&mut fields, "id", ids),
            Some(directive) => {
                let id = self.required_text(&mut fields, "id");
                if !ids.contains_key(&directive.current_id) {
                    let current_id = directive.current_id.clone();
                    self.report(
                        &directive.path,
                        directive.line,
                        Issue::UpdateOfUndeclaredManager { current_id },
                    );
                }
                id
            }
        };
        let manager = Manager {
            id: id?,
            description,
            options,
            source: source?,
            other: fields.into_other(),
        };
        Some((manager, directive))
    }

    fn manager_option(&mut self, node: &Node, path: &str, kind: ManagerKind, is_wasm: bool) -> Option<ManagerOption> {
        let mut fields = self.mapping(node, path)?;
        let key = self.required_text(&mut fields, "key");
        let value_line = fields.peek("value").and_then(|node| node.line);
        let value = self.required_text(&mut fields, "value");
        if let (Some(key), Some(event)) = (&key, &value)
            && key == EVENT_OPTION_KEY
            && let Some(issue) = event_issue(kind, event, is_wasm)
        {
            self.report(&fields.path_of("value"), value_line, issue);
        }
        Some(ManagerOption {
            key: key?,
            value: value?,
        })
    }

    fn wasm_source(&mut self, node: &Node, path: &str) -> Option<ManagerSource> {
        let mut fields = self.mapping(node, path)?;
        let module = self.parsed(&mut fields, "module", |text| {
            ModuleRef::parse(text).ok_or(Issue::BadModuleReference)
        });
        let sha256 = if fields.peek("sha256").is_none() {
            self.report(&fields.path_of("sha256"), fields.line, Issue::Unpinned);
            None
        } else {
            self.parsed(&mut fields, "sha256", |text| {
                Sha256Digest::parse(text).ok_or(Issue::BadSha256)
            })
        };
        let limits = match fields.take("limits") {
            None => Some(WasmLimits::default()),
            Some(node) => self.wasm_limits(node, &fields.path_of("limits")),
        };
        self.refuse_unknown_keys(&fields, "wasm", WASM_KEYS);
        Some(ManagerSource::Wasm {
            module: module?,
            sha256: sha256?,
            limits: limits?,
        })
    }

    fn wasm_limits(&mut self, node: &Node, path: &str) -> Option<WasmLimits> {
        let mut fields = self.mapping(node, path)?;
        let deadline_line = fields.peek("deadline_ms").and_then(|node| node.line);
        let deadline_ms = match self.optional_count(&mut fields, "deadline_ms") {
            Ok(Some(milliseconds)) if milliseconds > MAX_WASM_DEADLINE_MS => {
                let max = MAX_WASM_DEADLINE_MS;
                self.report(
                    &fields.path_of("deadline_ms"),
                    deadline_line,
                    Issue::DeadlineTooLong { max },
                );
                Err(())
            }
            other => other,
        };
        let memory_line = fields.peek("memory_mb").and_then(|node| node.line);
        let memory_mb = self.optional_count(&mut fields, "memory_mb");
        let memory_mb = match memory_mb {
            Ok(Some(megabytes)) if megabytes > u64::from(MAX_WASM_MEMORY_MB) => {
                let max = MAX_WASM_MEMORY_MB;
                self.report(
                    &fields.path_of("memory_mb"),
                    memory_line,
                    Issue::MemoryLimitTooLarge { max },
                );
                Err(())
            }
            other => other,
        };
        self.refuse_unknown_keys(&fields, "wasm.limits", WASM_LIMITS_KEYS);
        Some(WasmLimits {
            deadline_ms: deadline_ms.ok()?.and_then(NonZeroU64::new),
            memory_mb: memory_mb
                .ok()?
                .and_then(|megabytes| u32::try_from(megabytes).ok())
                .and_then(NonZeroU32::new),
        })
    }

    fn identity(&mut self, fields: &mut Fields<'_>, [vendor, name, version]: [&str; 3]) -> Option<Identity> {
        let vendor = self.required_text(fields, vendor);
        let name = self.required_text(fields, name);
        let version = self.required_text(fields, version);
        Some(Identity {
            vendor: vendor?,
            name: name?,
            version: version?,
        })
    }

    /// A required id, reported when it repeats one already declared.
    fn id(&mut self, fields: &mut Fields<'_>, key: &str, declared: &mut Declared) -> Option<String> {
        let line = fields.peek(key).and_then(|node| node.line);
        let id = self.required_text(fields, key)?;
        let path = fields.path_of(key);
        match declared.get(&id) {
            Some(first) => {
                let first = first.clone();
                self.report(&path, line, Issue::DuplicateId { id: id.clone(), first });
            }
            None => {
                declared.insert(id.clone(), path);
            }
        }
        Some(id)
    }

    fn mapping<'a>(&mut self, node: &'a Node, path: &str) -> Option<Fields<'a>> {
        match &node.content {
            Content::Map(entries) => Some(Fields {
                entries,
                taken: vec![false; entries.len()],
                path: path.to_owned(),
                line: node.line,
            }),
            _ => {
                self.wrong_type(node, path, "a mapping");
                None
            }
        }
    }

    /// The items of a list field with their paths; an absent field is empty.
    fn list<'a>(&mut self, fields: &mut Fields<'a>, key: &str) -> Vec<(String, &'a Node)> {
        let path = fields.path_of(key);
        match fields.take(key) {
            None => Vec::new(),
            Some(Node {
                content: Content::List(items),
                ..
            }) => items
                .iter()
                .enumerate()
                .map(|(index, item)| (format!("{path}[{index}]"), item))
                .collect(),
            Some(node) => {
                self.wrong_type(node, &path, "a list");
                Vec::new()
            }
        }
    }

    fn required_text(&mut self, fields: &mut Fields<'_>, key: &str) -> Option<String> {
        let path = fields.path_of(key);
        match fields.take(key) {
            Some(node) => self.text(node, &path),
            None => {
                self.report(&path, fields.line, Issue::Missing);
                None
            }
        }
    }

    fn optional_text(&mut self, fields: &mut Fields<'_>, key: &str) -> Option<String> {
        let path = fields.path_of(key);
        fields.take(key).and_then(|node| self.text(node, &path))
    }

    /// A non-empty scalar as text (numbers and booleans spelled out).
    fn text(&mut self, node: &Node, path: &str) -> Option<String> {
        match node.scalar_text() {
            Some(text) if text.is_empty() => {
                self.report(path, node.line, Issue::Empty);
                None
            }
            Some(text) => Some(text),
            None if node.content == Content::Null => {
                self.report(path, node.line, Issue::Missing);
                None
            }
            None => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A required text field that `parse` turns into a value.
    fn parsed<T>(
        &mut self,
        fields: &mut Fields<'_>,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, Issue>,
    ) -> Option<T> {
        let line = fields.peek(key).and_then(|node| node.line);
        let text = self.required_text(fields, key)?;
        parse(&text)
            .map_err(|issue| self.report(&fields.path_of(key), line, issue))
            .ok()
    }

    /// A required number that must be positive.
    fn positive(&mut self, fields: &mut Fields<'_>, key: &str) -> Option<Quantity> {
        let path = fields.path_of(key);
        let Some(node) = fields.take(key) else {
            self.report(&path, fields.line, Issue::Missing);
            return None;
        };
        let quantity = match node.content {
            Content::Integer(number) => Quantity::from(number),
            Content::Float(number) => Quantity::from(number),
            _ => {
                self.wrong_type(node, &path, "a number");
                return None;
            }
        };
        let value = quantity.value();
        if value > 0.0 {
            Some(quantity)
        } else {
            self.report(&path, node.line, Issue::NotPositive { value });
            None
        }
    }

    /// An optional positive whole number: `Ok(None)` when absent, `Err` when
    /// reported as wrong.
    fn optional_count(&mut self, fields: &mut Fields<'_>, key: &str) -> Result<Option<u64>, ()> {
        let path = fields.path_of(key);
        let Some(node) = fields.take(key) else {
            return Ok(None);
        };
        match node.content {
            Content::Integer(number) if number > 0 => Ok(number.try_into().ok()),
            Content::Integer(number) => {
                self.report(&path, node.line, Issue::NotPositive { value: number as f64 });
                Err(())
            }
            _ => {
                self.wrong_type(node, &path, "a whole number");
                Err(())
            }
        }
    }
}

/// What a document declares itself to be: its `descriptor_schema` when that
/// names tng-schema's service or function descriptor, else the sections only
/// one of them has.
fn descriptor_kind(fields: &Fields<'_>) -> Option<DescriptorKind> {
    let schema = fields
        .peek("descriptor_schema")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    if schema.contains("service-descriptor") {
        Some(DescriptorKind::Service)
    } else if schema.contains("function-descriptor") {
        Some(DescriptorKind::Function)
    } else if fields.peek("network_functions").is_some() {
        Some(DescriptorKind::Service)
    } else if fields.peek("virtual_deployment_units").is_some() || fields.peek("cloudnative_deployment_units").is_some()
    {
        Some(DescriptorKind::Function)
    } else {
        None
    }
}

/// What is wrong with a manager declaring `event`, if anything: it must be a
/// 5GTANGO event of its kind, and for a WebAssembly manager one of the
/// wasmano contract.
fn event_issue(kind: ManagerKind, event: &str, is_wasm: bool) -> Option<Issue> {
    let (label, known) = match kind {
        ManagerKind::Service => ("SSM", SERVICE_EVENTS),
        ManagerKind::Function => ("FSM", FUNCTION_EVENTS),
    };
    if !known.contains(&event) {
        return Some(Issue::UnknownEvent {
            kind: label,
            event: event.to_owned(),
            known: known.join(", "),
        });
    }
    (is_wasm && Event::parse(kind, event).is_none()).then(|| Issue::UnsupportedWasmEvent {
        kind: label,
        event: event.to_owned(),
        offered: Event::all(kind)
            .iter()
            .map(|event| event.name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::parse;

    const NSD: &str = r#"
descriptor_schema: "https://raw.githubusercontent.com/sonata-nfv/tng-schema/master/service-descriptor/nsd-schema.yml"
vendor: eu.5gtango
name: demo
version: 0.9
author: someone
network_functions:
  - {vnf_id: vnf1, vnf_vendor: eu.5gtango, vnf_name: demo-vnf, vnf_version: "0.9", placement_labels: [edge, eu]}
connection_points:
  - {id: "ns:input", type: external}
virtual_links:
  - id: input
    connectivity_type: E-Line
    connection_points_reference: ["ns:input", "vnf1:input"]
service_specific_managers:
  - id: placement
    wasm:
      module: sm/placement.wasm
      sha256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
      limits: {deadline_ms: 200, memory_mb: 64}
    options:
      - {key: type, value: placement}
  - id: config
    image: tsoenen/config-ssm
    options:
      - {key: type, value: task}
"#;

    const VNFD: &str = r#"
vendor: eu.5gtango
name: demo-vnf
version: "0.9"
virtual_deployment_units:
  - id: vdu01
    resource_requirements:
      cpu: {vcpus: 2}
      memory: {size: 1, size_unit: GB}
      storage: {size: 10}
    connection_points:
      - {id: "vdu01:eth0"}
      - {id: eth1}
connection_points:
  - {id: input}
virtual_links:
  - {id: a, connection_points_reference: ["vdu01:eth0", input]}
  - {id: b, connection_points_reference: ["vdu01:eth1", input]}
"#;

    fn nsd(text: &str) -> Nsd {
        match parse(text.as_bytes()) {
            Ok(Descriptor::Service(nsd)) => nsd,
            other => panic!("not a valid NSD: {other:?}"),
        }
    }

    fn vnfd(text: &str) -> Vnfd {
        match parse(text.as_bytes()) {
            Ok(Descriptor::Function(vnfd)) => vnfd,
            other => panic!("not a valid VNFD: {other:?}"),
        }
    }

    fn problems(text: &str) -> Vec<String> {
        let problems = parse(text.as_bytes()).unwrap_err();
        problems
            .iter()
            .map(|problem| {
                format!(
                    "{}: {problem}",
                    problem.line.map_or("?".to_owned(), |line| line.to_string())
                )
            })
            .collect()
    }

    #[test]
    fn an_nsd_is_typed_and_keeps_what_it_does_not_type() {
        let nsd = nsd(NSD);
        assert_eq!(nsd.identity.to_string(), "eu.5gtango/demo/0.9");
        assert_eq!(nsd.other["author"], "someone");
        assert_eq!(nsd.virtual_links[0].other["connectivity_type"], "E-Line");
        assert_eq!(nsd.network_functions[0].vnfd.name, "demo-vnf");
        assert_eq!(
            nsd.network_functions[0].placement_labels.iter().collect::<Vec<_>>(),
            ["edge", "eu"]
        );
        let [wasm, container] = &nsd.service_specific_managers[..] else {
            panic!("two managers")
        };
        let ManagerSource::Wasm { module, sha256, limits } = &wasm.source else {
            panic!("a wasm manager")
        };
        assert_eq!(*module, ModuleRef::Package("sm/placement.wasm".into()));
        assert_eq!(
            sha256.as_str(),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(limits.deadline_ms.map(NonZeroU64::get), Some(200));
        assert_eq!(limits.memory_mb.map(NonZeroU32::get), Some(64));
        assert!(wasm.declares("placement"));
        assert_eq!(
            container.source,
            ManagerSource::Container {
                image: "tsoenen/config-ssm".into()
            }
        );
        assert_eq!(container.declared_events().collect::<Vec<_>>(), ["task"]);
    }

    #[test]
    fn a_vnfd_accepts_sonatas_full_unit_cp_names_and_computes_its_demand() {
        let vnfd = vnfd(VNFD);
        let unit = &vnfd.virtual_deployment_units[0];
        assert!(unit.has_connection_point("vdu01:eth0"));
        let requirements = unit.resource_requirements.as_ref().unwrap();
        assert_eq!(requirements.other["storage"]["size"], 10);
        let demand = vnfd.demand().unwrap();
        assert_eq!(
            (demand.cores, demand.memory_mb, demand.kind),
            (2.0, 1000.0, tango_model::descriptor::VimKind::Vm)
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_in_line_order() {
        let text = r#"
vendor: v
version: 1
virtual_deployment_units:
  - id: u
    resource_requirements:
      cpu: {vcpus: 0}
      memory: {size: -1, size_unit: GB}
    connection_points: [{id: a}, {id: a}]
  - id: u
    resource_requirements:
      memory: {size: 1, size_unit: parsecs}
connection_points: [{id: x}]
virtual_links:
  - {id: l, connection_points_reference: [x, "u:b", "w:a", y]}
  - {id: l}
function_specific_managers:
  - {id: m, image: i, options: [{key: type, value: launch}]}
"#;
        assert_eq!(
            problems(text),
            [
                "2: name: is required",
                "7: virtual_deployment_units[0].resource_requirements.cpu.vcpus: must be positive, found 0",
                "8: virtual_deployment_units[0].resource_requirements.memory.size: must be positive, found -1",
                "9: virtual_deployment_units[0].connection_points[1].id: duplicate id \"a\", already declared at \
                 virtual_deployment_units[0].connection_points[0].id",
                "10: virtual_deployment_units[1].id: duplicate id \"u\", already declared at virtual_deployment_units[0].id",
                "12: virtual_deployment_units[1].resource_requirements.memory.size_unit: unknown memory unit \"parsecs\" \
                 (expected B, kB, KB, KiB, MB, MiB, GB, GiB, TB or TiB)",
                "15: virtual_links[0].connection_points_reference[1]: deployment unit \"u\" has no connection point \"b\"; \
                 the link is left out",
                "15: virtual_links[0].connection_points_reference[2]: \"w\" is not a declared deployment unit \
                 (virtual_ or cloudnative_deployment_units[].id); the link is left out",
                "15: virtual_links[0].connection_points_reference[3]: \"y\" is neither a VNF connection point nor unit:cp; \
                 the link is left out",
                "16: virtual_links[1].id: duplicate id \"l\", already declared at virtual_links[0].id",
                "16: virtual_links[1].connection_points_reference: is required",
                "18: function_specific_managers[0].options[0].value: \"launch\" is not a 5GTANGO FSM event \
                 (known: start, stop, configure, state, scale)",
            ]
        );
    }

    #[test]
    fn wasm_managers_are_checked_against_the_contract() {
        let manager = |body: &str| {
            format!("vendor: v\nname: n\nversion: '1'\nnetwork_functions: []\nservice_specific_managers:\n  - {body}\n")
        };
        let digest = "a".repeat(64);
        assert_eq!(
            problems(&manager(&format!(
                "{{id: m, wasm: {{module: m.wasm, sha256: '{digest}'}}, options: [{{key: type, value: scale}}]}}"
            ))),
            [
                "6: service_specific_managers[0].options[0].value: a WebAssembly SSM cannot handle \"scale\": \
              the wasmano contract offers placement, configure, state, task, monitor"
            ]
        );
        assert_eq!(
            problems(&manager(
                "{id: m, wasm: {module: /abs.wasm, sha256: xyz, limits: {deadline_ms: 0, memory_mb: 512}}}"
            )),
            [
                "6: service_specific_managers[0].wasm.module: must be a relative path inside the package (no `..`) \
                 or an https:// URL",
                "6: service_specific_managers[0].wasm.sha256: must be 64 hexadecimal digits",
                "6: service_specific_managers[0].wasm.limits.deadline_ms: must be positive, found 0",
                "6: service_specific_managers[0].wasm.limits.memory_mb: must be at most 256 (MiB)",
            ]
        );
        assert_eq!(
            problems(&manager("{id: m, wasm: {module: m.wasm}}")),
            [
                "6: service_specific_managers[0].wasm.sha256: is required: it pins the module (`wasmano sm pin` writes it)"
            ]
        );
        assert_eq!(
            problems(&manager(&format!(
                "{{id: m, image: i, wasm: {{module: m.wasm, sha256: '{digest}'}}}}"
            ))),
            [
                "6: service_specific_managers[0]: declares both image (a container) and wasm (a WebAssembly module); keep one"
            ]
        );
        assert_eq!(
            problems(&manager("{id: m}")),
            ["6: service_specific_managers[0]: declares neither image (a container) nor wasm (a WebAssembly module)"]
        );
    }

    #[test]
    fn a_repeated_manager_id_is_an_update_only_with_current_id() {
        let managers = |entries: &str| {
            format!("vendor: v\nname: n\nversion: '1'\nnetwork_functions: []\nservice_specific_managers:\n{entries}")
        };
        let original = "  - {id: m, image: old}\n";
        let update = |options: &str| format!("  - {{id: m, image: new, options: [{options}]}}\n");
        let Descriptor::Service(nsd) = parse(
            managers(&format!(
                "{original}{}",
                update("{key: currentId, value: m}, {key: currentImage, value: old}, {key: type, value: task}")
            ))
            .as_bytes(),
        )
        .unwrap() else {
            panic!("an NSD")
        };
        assert_eq!(nsd.service_specific_managers.len(), 1);
        let [update_of_m] = nsd.service_manager_updates.as_slice() else {
            panic!("one update")
        };
        assert_eq!(
            (
                update_of_m.current_id.as_str(),
                update_of_m.current_image.as_deref(),
                update_of_m.entry
            ),
            ("m", Some("old"), 1)
        );
        assert_eq!(update_of_m.manager.declared_events().collect::<Vec<_>>(), ["task"]);

        assert_eq!(
            problems(&managers(&format!("{original}{}", update("{key: myKey, value: v}")))),
            [
                "7: service_specific_managers[1].id: duplicate id \"m\", already declared at service_specific_managers[0].id"
            ]
        );
        assert_eq!(
            problems(&managers(&update("{key: currentId, value: m}"))),
            ["6: service_specific_managers[0].options[0]: currentId \"m\" names no manager declared before this entry"]
        );
        assert_eq!(
            problems(&managers(&format!(
                "{original}{}",
                update("{key: currentId, value: m}, {key: currentImage, value: other}")
            ))),
            [
                "7: service_specific_managers[1].options[0]: currentImage \"other\" is not the image manager \"m\" is \
              declared with"
            ]
        );
        assert_eq!(
            problems(&managers(&format!(
                "{original}{}",
                update("{key: currentImage, value: old}")
            ))),
            [
                "7: service_specific_managers[1].options: currentImage without currentId: an update names the manager \
                 it replaces with currentId",
                "7: service_specific_managers[1].id: duplicate id \"m\", already declared at service_specific_managers[0].id"
            ]
        );
    }

    #[test]
    fn wrong_types_and_non_descriptors_are_named() {
        assert_eq!(
            problems("vendor: v\nname: [n]\nversion: '1'\nnetwork_functions: {a: 1}\n"),
            [
                "2: name: expected a string, found a list",
                "4: network_functions: expected a list, found a mapping"
            ]
        );
        assert_eq!(problems("- a\n"), ["1: expected a mapping, found a list"]);
        assert_eq!(
            problems(
                "vendor: v\nname: n\nversion: '1'\nnetwork_functions:\n  - {vnf_id: a, vnf_vendor: v, vnf_name: f, vnf_version: '1', placement_labels: edge}\n"
            ),
            ["5: network_functions[0].placement_labels: expected a list, found a string"]
        );
        // A field the model types, of another shape: named with its line.
        assert_eq!(
            problems(
                "vendor: v\nname: f\nversion: '1'\ncloudnative_deployment_units:\n  - id: c\n    image: [a, b]\n    connection_points:\n      - {id: eth0, port: {p: 1}}\n"
            ),
            [
                "6: cloudnative_deployment_units[0].image: does not have its tng-schema shape: invalid type: sequence, expected a string",
                "8: cloudnative_deployment_units[0].connection_points[0].port: does not have its tng-schema shape: expected text, a number or a boolean",
            ]
        );
        let not_a_descriptor = problems("package: {name: x}\n");
        assert_eq!(not_a_descriptor.len(), 1);
        assert!(not_a_descriptor[0].starts_with("?: neither an NSD nor a VNFD"));
    }

    #[test]
    fn a_service_is_checked_against_its_functions() {
        let nsd = nsd(NSD);
        let vnfd = vnfd(VNFD);
        assert_eq!(check_service(&nsd, std::slice::from_ref(&vnfd)), []);
        let mut renamed = vnfd.clone();
        renamed.connection_points[0].id = "in".into();
        let problems = check_service(&nsd, &[renamed]);
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "virtual_links[0].connection_points_reference[1]: VNFD eu.5gtango/demo-vnf/0.9 has no connection point \"input\""
            ]
        );
        let problems = check_service(&nsd, &[]);
        assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["network_functions[0]: no VNFD eu.5gtango/demo-vnf/0.9 among the function descriptors given"]
        );
    }
}
