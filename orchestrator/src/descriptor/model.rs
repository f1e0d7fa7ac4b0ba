//! A descriptor as the catalogue holds it once validated: its identity, its
//! managers read into wasmano's [`Manager`] (source, limits, events) and
//! its update directives, around the model's types for what 5GTANGO
//! defines (connection points, virtual links, deployment units; see
//! [`tango_model::descriptor`]). Every field neither types is kept in an
//! `other` map as written, so nothing a descriptor says is lost.

use std::fmt;

use serde_json::{Map, Value};
use tango_model::descriptor::{ConnectionPoint, Demand, DeploymentUnit, VirtualLink};

use super::manager::{Manager, ManagerUpdate};

/// A descriptor's identity: `vendor/name/version`. The catalogue also names
/// modules with it: their sha256 as name, vendor and version empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity {
    /// Vendor, e.g. `eu.5gtango`.
    pub vendor: String,
    /// Name.
    pub name: String,
    /// Version (numbers written unquoted are spelled as text).
    pub version: String,
}

impl std::str::FromStr for Identity {
    type Err = String;

    /// Reads `vendor/name/version`: three non-empty parts.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split('/').collect::<Vec<_>>().as_slice() {
            [vendor, name, version] if !vendor.is_empty() && !name.is_empty() && !version.is_empty() => Ok(Self {
                vendor: (*vendor).to_owned(),
                name: (*name).to_owned(),
                version: (*version).to_owned(),
            }),
            _ => Err(format!("{text:?} is not a descriptor id (vendor/name/version)")),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vendor, self.name, self.version)
    }
}

/// A network service descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Nsd {
    /// `vendor`, `name`, `version`.
    pub identity: Identity,
    /// The VNFs the service is made of.
    pub network_functions: Vec<NetworkFunction>,
    /// The service's own connection points.
    pub connection_points: Vec<ConnectionPoint>,
    /// Links between service and VNF connection points.
    pub virtual_links: Vec<VirtualLink>,
    /// The service's specific managers, ids unique.
    pub service_specific_managers: Vec<Manager>,
    /// Updates of some of them the descriptor declares (5GTANGO's update
    /// directive), in declaration order.
    pub service_manager_updates: Vec<ManagerUpdate>,
    /// Every other top-level field.
    pub other: Map<String, Value>,
}

impl Nsd {
    /// The network function with this `vnf_id`.
    pub fn network_function(&self, vnf_id: &str) -> Option<&NetworkFunction> {
        self.network_functions.iter().find(|function| function.vnf_id == vnf_id)
    }
}

/// One VNF of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkFunction {
    /// The VNF's id inside the service.
    pub vnf_id: String,
    /// The VNFD it instantiates (`vnf_vendor`, `vnf_name`, `vnf_version`).
    pub vnfd: Identity,
    /// `placement_labels` (a wasmano extension): the labels (Domino
    /// policy) a VIM must carry to host this VNF.
    pub placement_labels: std::collections::BTreeSet<String>,
    /// Every other field.
    pub other: Map<String, Value>,
}

/// A virtual network function descriptor.
#[derive(Debug, Clone)]
pub struct Vnfd {
    /// `vendor`, `name`, `version`.
    pub identity: Identity,
    /// Virtual machine units.
    pub virtual_deployment_units: Vec<DeploymentUnit>,
    /// Container units.
    pub cloudnative_deployment_units: Vec<DeploymentUnit>,
    /// The VNF's external connection points.
    pub connection_points: Vec<ConnectionPoint>,
    /// Links between VNF and unit connection points.
    pub virtual_links: Vec<VirtualLink>,
    /// The VNF's specific managers, ids unique.
    pub function_specific_managers: Vec<Manager>,
    /// Updates of some of them the descriptor declares (5GTANGO's update
    /// directive), in declaration order.
    pub function_manager_updates: Vec<ManagerUpdate>,
    /// Every other top-level field.
    pub other: Map<String, Value>,
}

impl Vnfd {
    /// Whether the VNF has this external connection point.
    pub fn has_connection_point(&self, id: &str) -> bool {
        self.connection_points.iter().any(|point| point.id == id)
    }

    /// What the VNF needs from a VIM, computed as managers compute it
    /// (see [`Demand::of_units`]).
    pub fn demand(&self) -> Result<Demand, String> {
        Demand::of_units(&self.virtual_deployment_units, &self.cloudnative_deployment_units)
    }
}
