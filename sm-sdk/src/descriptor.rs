//! Typed, tolerant views of 5GTANGO descriptors and records (tng-schema).
//!
//! Only the fields that managers and the orchestrator reason about are typed;
//! everything else in a document is ignored here and stays reachable through
//! the request's raw [`Document`](crate::Document). Numbers that 5GTANGO
//! writes either as strings or as numbers (`version: '1'`) are accepted both
//! ways.

use serde::{Deserialize, Deserializer};

/// A network service descriptor (NSD).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Nsd {
    /// Descriptor uuid, when the catalogue assigned one.
    pub uuid: Option<String>,
    /// Vendor of the service.
    pub vendor: Option<String>,
    /// Name of the service.
    pub name: Option<String>,
    /// Version of the descriptor.
    #[serde(deserialize_with = "string_or_number")]
    pub version: Option<String>,
    /// The VNFs the service is made of.
    pub network_functions: Vec<NetworkFunction>,
    /// Links between the VNFs' and the service's connection points.
    pub virtual_links: Vec<VirtualLink>,
    /// The service-specific managers of this service.
    pub service_specific_managers: Vec<ManagerDeclaration>,
}

/// One VNF of a service, referring to a VNFD by vendor, name and version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetworkFunction {
    /// The VNF's id inside the service (`vnf_id`).
    pub vnf_id: String,
    /// Referenced VNFD's vendor.
    pub vnf_vendor: Option<String>,
    /// Referenced VNFD's name.
    pub vnf_name: Option<String>,
    /// Referenced VNFD's version.
    #[serde(deserialize_with = "string_or_number")]
    pub vnf_version: Option<String>,
}

/// A virtual link between connection points (`vnf_id:cp` or a service cp).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VirtualLink {
    /// Link id.
    pub id: String,
    /// E-Line, E-LAN or E-Tree.
    pub connectivity_type: Option<String>,
    /// The connection points the link joins.
    pub connection_points_reference: Vec<String>,
}

/// A virtual network function descriptor (VNFD), possibly carrying the
/// instance uuid the orchestrator gave it (placement requests do).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Vnfd {
    /// Descriptor uuid.
    pub uuid: Option<String>,
    /// The VNF instance this descriptor was sent for, when it was.
    pub instance_uuid: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Version.
    #[serde(deserialize_with = "string_or_number")]
    pub version: Option<String>,
    /// Virtual machine deployment units.
    pub virtual_deployment_units: Vec<DeploymentUnit>,
    /// Container deployment units.
    pub cloudnative_deployment_units: Vec<DeploymentUnit>,
    /// The function-specific managers of this VNF.
    pub function_specific_managers: Vec<ManagerDeclaration>,
}

/// A specific manager declared in a descriptor (`service_specific_managers`
/// or `function_specific_managers`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ManagerDeclaration {
    /// The manager's id in the descriptor.
    pub id: String,
    /// `key: value` options; `key: type` lists the events it handles.
    pub options: Vec<OptionEntry>,
}

/// One `options` entry of a manager declaration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OptionEntry {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(deserialize_with = "string_or_number")]
    pub value: Option<String>,
}

impl ManagerDeclaration {
    /// Whether the declaration lists this event (`key: type`, `value: event`).
    pub fn declares_event(&self, event: &str) -> bool {
        self.options
            .iter()
            .any(|option| option.key == "type" && option.value.as_deref() == Some(event))
    }
}

/// One deployment unit (VDU or CDU) of a VNFD.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeploymentUnit {
    /// Unit id.
    pub id: String,
    /// What the unit needs from its VIM.
    pub resource_requirements: Option<ResourceRequirements>,
}

/// CPU and memory a deployment unit needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResourceRequirements {
    /// CPU requirement.
    pub cpu: Option<Cpu>,
    /// Memory requirement.
    pub memory: Option<Memory>,
}

/// A CPU requirement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// Virtual CPUs.
    pub vcpus: f64,
}

/// A memory requirement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Amount, in `size_unit`.
    pub size: f64,
    /// Unit of `size`: B, kB/KB, MB, GB, TB (and the binary -iB forms);
    /// MB when absent, as in tng-schema.
    pub size_unit: Option<String>,
}

impl Memory {
    /// The amount in megabytes (10^6 bytes, as tng-schema counts), or `None`
    /// for a unit tng-schema does not define.
    pub fn megabytes(&self) -> Option<f64> {
        let factor = match self.size_unit.as_deref().unwrap_or("MB") {
            "B" => 1e-6,
            "kB" | "KB" => 1e-3,
            "KiB" => 1.024e-3,
            "MB" => 1.0,
            "MiB" => 1.048_576,
            "GB" => 1e3,
            "GiB" => 1_073.741_824,
            "TB" => 1e6,
            "TiB" => 1_099_511.627_776,
            _ => return None,
        };
        Some(self.size * factor)
    }
}

/// Which kind of infrastructure a VNF needs or a VIM offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VimKind {
    /// Virtual machines (VDUs).
    Vm,
    /// Containers (CDUs).
    Container,
}

/// What one VNF needs from the VIM it is placed on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// Cores, summed over the deployment units.
    pub cores: f64,
    /// Memory in megabytes, summed over the deployment units.
    pub memory_mb: f64,
    /// Containers when the VNF has cloud-native units, else virtual machines.
    pub kind: VimKind,
}

impl Vnfd {
    /// The instance id placement answers for: `instance_uuid`, else `uuid`.
    pub fn instance_id(&self) -> Option<&str> {
        self.instance_uuid.as_deref().or(self.uuid.as_deref())
    }

    /// What this VNF needs from a VIM. Units without requirements need nothing;
    /// a memory unit tng-schema does not define is an error naming it.
    pub fn demand(&self) -> Result<Demand, String> {
        let (kind, units) = if self.cloudnative_deployment_units.is_empty() {
            (VimKind::Vm, &self.virtual_deployment_units)
        } else {
            (VimKind::Container, &self.cloudnative_deployment_units)
        };
        let mut demand = Demand {
            cores: 0.0,
            memory_mb: 0.0,
            kind,
        };
        for unit in units {
            let Some(requirements) = &unit.resource_requirements else {
                continue;
            };
            if let Some(cpu) = &requirements.cpu {
                demand.cores += cpu.vcpus;
            }
            if let Some(memory) = &requirements.memory {
                demand.memory_mb += memory.megabytes().ok_or_else(|| {
                    format!(
                        "deployment unit {}: unknown memory unit {:?}",
                        unit.id,
                        memory.size_unit.as_deref().unwrap_or_default()
                    )
                })?;
            }
        }
        Ok(demand)
    }
}

/// A VNF record (VNFR).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Vnfr {
    /// Record id: the VNF instance id.
    pub id: String,
    /// Name of the VNF.
    pub name: Option<String>,
    /// The VNFD this record instantiates.
    pub descriptor_reference: Option<String>,
    /// normal operation, degraded operation, offline, failed, updating, terminated.
    pub status: Option<String>,
    /// Incremented on every update.
    #[serde(deserialize_with = "string_or_number")]
    pub version: Option<String>,
    /// Deployed virtual machine units.
    pub virtual_deployment_units: Vec<VduRecord>,
    /// Deployed container units.
    pub cloudnative_deployment_units: Vec<CduRecord>,
}

/// A deployed VDU and its instances.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VduRecord {
    /// Unit id.
    pub id: String,
    /// The component instances of this unit.
    pub vnfc_instance: Vec<VnfcInstance>,
}

/// One running instance of a VDU.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VnfcInstance {
    /// Instance id.
    #[serde(deserialize_with = "string_or_number")]
    pub id: Option<String>,
    /// The VIM it runs on.
    pub vim_id: Option<String>,
    /// Its connection points and their addresses.
    pub connection_points: Vec<ConnectionPointRecord>,
}

/// A connection point of a running instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConnectionPointRecord {
    /// Connection point id.
    pub id: String,
    /// Its interface, with the address when one was assigned.
    pub interface: Option<InterfaceRecord>,
}

/// The address of a connection point.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InterfaceRecord {
    /// IP address.
    pub address: Option<String>,
    /// MAC address.
    pub hardware_address: Option<String>,
}

/// A deployed CDU.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CduRecord {
    /// Unit id.
    pub id: String,
    /// The VIM it runs on.
    pub vim_id: Option<String>,
    /// Its load balancer's addresses.
    pub load_balancer_ip: Option<LoadBalancerIp>,
}

/// The addresses of a CDU's load balancer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LoadBalancerIp {
    /// Address reachable from outside.
    pub floating_ip: Option<String>,
    /// Address inside the VIM.
    pub internal_ip: Option<String>,
}

impl Vnfr {
    /// The VIM the VNF runs on: that of its first unit that names one.
    pub fn vim_id(&self) -> Option<&str> {
        let vdu = self
            .virtual_deployment_units
            .iter()
            .flat_map(|vdu| &vdu.vnfc_instance)
            .find_map(|vnfc| vnfc.vim_id.as_deref());
        vdu.or_else(|| {
            self.cloudnative_deployment_units
                .iter()
                .find_map(|cdu| cdu.vim_id.as_deref())
        })
    }

    /// Every address the VNF is reachable at: connection point addresses of
    /// its VDU instances, then its CDUs' load balancer addresses.
    pub fn addresses(&self) -> Vec<&str> {
        let vdus = self
            .virtual_deployment_units
            .iter()
            .flat_map(|vdu| &vdu.vnfc_instance)
            .flat_map(|vnfc| &vnfc.connection_points)
            .filter_map(|cp| cp.interface.as_ref()?.address.as_deref());
        let cdus = self
            .cloudnative_deployment_units
            .iter()
            .filter_map(|cdu| cdu.load_balancer_ip.as_ref())
            .flat_map(|lb| [lb.floating_ip.as_deref(), lb.internal_ip.as_deref()])
            .flatten();
        vdus.chain(cdus).collect()
    }
}

/// A network service record (NSR).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Nsr {
    /// Record id: the service instance id.
    pub id: String,
    /// The NSD this record instantiates.
    pub descriptor_reference: Option<String>,
    /// Status, as in [`Vnfr::status`].
    pub status: Option<String>,
    /// Incremented on every update.
    #[serde(deserialize_with = "string_or_number")]
    pub version: Option<String>,
    /// The service's VNF records, by id.
    pub network_functions: Vec<VnfrReference>,
}

/// A reference from an NSR to one of its VNFRs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VnfrReference {
    /// The VNFR's id.
    pub vnfr_id: String,
}

/// Accepts `'1'`, `1` and `1.0` alike: 5GTANGO documents write versions and
/// ids both ways.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Float(f64),
        Flag(bool),
    }
    Ok(Option::<Scalar>::deserialize(deserializer)?.map(|scalar| match scalar {
        Scalar::Text(text) => text,
        Scalar::Integer(number) => number.to_string(),
        Scalar::Float(number) => number.to_string(),
        Scalar::Flag(flag) => flag.to_string(),
    }))
}
