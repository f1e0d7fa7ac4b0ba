//! Descriptors (tng-schema NSD and VNFD) and what a VNF needs from a VIM.

use serde::{Deserialize, Serialize};

use crate::{Quantity, Scalar, Unknown, is_default};

/// A network service descriptor (NSD).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nsd {
    /// Descriptor uuid, when the catalogue assigned one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Vendor of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Name of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version of the descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Scalar>,
    /// The VNFs the service is made of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_functions: Vec<NetworkFunction>,
    /// Links between the VNFs' and the service's connection points.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_links: Vec<VirtualLink>,
    /// The service-specific managers of this service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_specific_managers: Vec<ManagerDeclaration>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// One VNF of a service, referring to a VNFD by vendor, name and version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkFunction {
    /// The VNF's id inside the service (`vnf_id`).
    pub vnf_id: String,
    /// Referenced VNFD's vendor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnf_vendor: Option<String>,
    /// Referenced VNFD's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnf_name: Option<String>,
    /// Referenced VNFD's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnf_version: Option<Scalar>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A connection point of a service, a VNF or a deployment unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionPoint {
    /// Id, unique among its siblings.
    pub id: String,
    /// `type`: internal, external, management, serviceendpoint, ...
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `port` of a container unit's connection point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<Scalar>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A virtual link between connection points: in an NSD a service cp or
/// `vnf_id:cp`, in a VNFD a VNF cp or `unit:cp`. Records carry the links of
/// their descriptor, with the VIMs they are realised in as `vim_id` (a
/// list in an NSR, one VIM in a VNFR: kept in `other`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualLink {
    /// Link id.
    pub id: String,
    /// The connection points the link joins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connection_points_reference: Vec<String>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A virtual network function descriptor (VNFD), possibly carrying the
/// instance uuid the orchestrator gave it (placement requests do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Vnfd {
    /// Descriptor uuid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The VNF instance this descriptor was sent for, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_uuid: Option<String>,
    /// Vendor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Scalar>,
    /// Virtual machine deployment units.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_deployment_units: Vec<DeploymentUnit>,
    /// Container deployment units.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cloudnative_deployment_units: Vec<DeploymentUnit>,
    /// The function-specific managers of this VNF.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_specific_managers: Vec<ManagerDeclaration>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A specific manager declared in a descriptor (`service_specific_managers`
/// or `function_specific_managers`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagerDeclaration {
    /// The manager's id in the descriptor.
    pub id: String,
    /// The container image of a legacy manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `key: value` options; `key: type` lists the events it handles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionEntry>,
    /// Every other field (wasmano's `wasm` and `limits` blocks included),
    /// as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

impl ManagerDeclaration {
    /// Whether the declaration lists this event (`key: type`, `value: event`).
    pub fn declares_event(&self, event: &str) -> bool {
        self.options
            .iter()
            .any(|option| option.key == "type" && option.value.as_ref().is_some_and(|value| value == event))
    }
}

/// One `options` entry of a manager declaration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptionEntry {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Scalar>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// One deployment unit of a VNFD: a VDU (virtual machine) or a CDU
/// (container).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentUnit {
    /// Unit id.
    pub id: String,
    /// A CDU's container image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A VDU's virtual machine image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_image: Option<String>,
    /// The unit's connection points.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connection_points: Vec<ConnectionPoint>,
    /// What the unit needs from its VIM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<ResourceRequirements>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

impl DeploymentUnit {
    /// Whether the unit has this connection point.
    pub fn has_connection_point(&self, id: &str) -> bool {
        self.connection_points.iter().any(|point| point.id == id)
    }
}

/// CPU and memory a deployment unit needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRequirements {
    /// CPU requirement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Memory requirement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// Every other field (`storage`, `network`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A CPU requirement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// Virtual CPUs.
    #[serde(skip_serializing_if = "is_default")]
    pub vcpus: Quantity,
    /// Every other field (`cpu_model`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A memory requirement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Amount, in `size_unit`.
    #[serde(skip_serializing_if = "is_default")]
    pub size: Quantity,
    /// Unit of `size`: B, kB/KB, MB, GB, TB (and the binary -iB forms);
    /// MB when absent, as in tng-schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_unit: Option<String>,
    /// Every other field (`large_pages_required`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
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
        Some(self.size.value() * factor)
    }
}

/// Which kind of infrastructure a VNF needs or a VIM offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VimKind {
    /// Virtual machines (VDUs).
    Vm,
    /// Containers (CDUs).
    Container,
}

impl VimKind {
    /// Its 5GTANGO name, as a VIM's `type` spells it: `vm`, `container`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vm => "vm",
            Self::Container => "container",
        }
    }
}

impl std::fmt::Display for VimKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
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

    /// The deployment unit (VDU or CDU) with this id.
    pub fn deployment_unit(&self, id: &str) -> Option<&DeploymentUnit> {
        self.virtual_deployment_units
            .iter()
            .chain(&self.cloudnative_deployment_units)
            .find(|unit| unit.id == id)
    }

    /// What this VNF needs from a VIM (see [`Demand::of_units`]).
    pub fn demand(&self) -> Result<Demand, String> {
        Demand::of_units(&self.virtual_deployment_units, &self.cloudnative_deployment_units)
    }
}

impl Demand {
    /// What a VNF with these units needs from a VIM: containers when it has
    /// cloud-native units (their sum), else virtual machines. Units without
    /// requirements need nothing; a memory unit tng-schema does not define
    /// is an error naming it.
    pub fn of_units(virtual_units: &[DeploymentUnit], cloudnative_units: &[DeploymentUnit]) -> Result<Self, String> {
        let (kind, units) = if cloudnative_units.is_empty() {
            (VimKind::Vm, virtual_units)
        } else {
            (VimKind::Container, cloudnative_units)
        };
        let mut demand = Self {
            cores: 0.0,
            memory_mb: 0.0,
            kind,
        };
        for unit in units {
            let Some(requirements) = &unit.resource_requirements else {
                continue;
            };
            if let Some(cpu) = &requirements.cpu {
                demand.cores += cpu.vcpus.value();
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

    use super::VimKind;

    /// A VIM kind is shown as a VIM's `type` spells it, so messages name
    /// the kind an operator writes in the VIMs file.
    #[test]
    fn vim_kinds_display_as_their_5gtango_names() {
        for kind in [VimKind::Vm, VimKind::Container] {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.to_string()));
        }
        assert_eq!(VimKind::Vm.to_string(), "vm");
    }
}
