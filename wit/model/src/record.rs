//! Records (tng-schema NSR and VNFR): what a service and its VNFs became.
//!
//! Typed are the fields managers and wasmano read: ids, statuses, the
//! units with their VIMs and addresses. The rest of a record (its virtual
//! links, unit references, images, requirements) is its descriptor
//! instantiated, kept in `other`: guests would pay for typing it on every
//! call, and nothing reads it typed.

use serde::{Deserialize, Serialize};

use crate::{Scalar, Unknown, id_text};

/// A network service record (NSR).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nsr {
    /// Record id: the service instance id (empty when absent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The UUID of the NSD this record instantiates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_reference: Option<String>,
    /// The version of the record schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_version: Option<String>,
    /// Status, as in [`Vnfr::status`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Incremented on every update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Scalar>,
    /// The service's VNF records, by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_functions: Vec<VnfrReference>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A reference from an NSR to one of its VNFRs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VnfrReference {
    /// The VNFR's id.
    pub vnfr_id: String,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A VNF record (VNFR).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Vnfr {
    /// Record id: the VNF instance id (empty when absent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Name of the VNF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The UUID of the VNFD this record instantiates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_reference: Option<String>,
    /// The version of the record schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_version: Option<String>,
    /// normal operation, degraded operation, offline, failed, updating, terminated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Incremented on every update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Scalar>,
    /// Deployed virtual machine units.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_deployment_units: Vec<VduRecord>,
    /// Deployed container units.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cloudnative_deployment_units: Vec<CduRecord>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A deployed VDU and its instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VduRecord {
    /// Unit id.
    pub id: String,
    /// The component instances of this unit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vnfc_instance: Vec<VnfcInstance>,
    /// Every other field (`vdu_reference`, `vm_image`,
    /// `resource_requirements`, `monitoring_parameters`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// One running instance of a VDU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VnfcInstance {
    /// Instance id.
    #[serde(deserialize_with = "id_text", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The VIM it runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vim_id: Option<String>,
    /// Its connection points and their addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connection_points: Vec<ConnectionPointRecord>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A connection point of a running unit. Its `type` is the descriptor's
/// kind in tng-schema records and the address in SONATA's older ones, so it
/// stays in `other` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionPointRecord {
    /// Connection point id.
    pub id: String,
    /// A VDU instance's interface, with the address when one was assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceRecord>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The address of a connection point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceRecord {
    /// IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// MAC address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware_address: Option<String>,
    /// Every other field (`netmask`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// A deployed CDU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CduRecord {
    /// Unit id.
    pub id: String,
    /// The VIM it runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vim_id: Option<String>,
    /// Its load balancer's addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<LoadBalancerIp>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The addresses of a CDU's load balancer, and a floating address mapped
/// to an internal one (`ip_mapping` entries have this shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadBalancerIp {
    /// Address reachable from outside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating_ip: Option<String>,
    /// Address inside the VIM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_ip: Option<String>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
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
