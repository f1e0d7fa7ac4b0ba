//! The records in tng-schema's NSR and VNFR shapes: what managers and
//! 5GTANGO tools are shown of a record.
//!
//! A stored record keeps only what the orchestrator itself decided (ids,
//! status, units and addresses); the rest of a tng-schema record is its
//! descriptor instantiated (virtual links, the VDUs' requirements and
//! images, connection point types), so a record is rendered together with
//! the descriptor document it was created from. Since a descriptor's
//! identity never changes its content in the catalogue, the same record and
//! descriptor always render the same document, also for records stored
//! before this shape existed.
//!
//! tng-schema wants the descriptor's UUID in `descriptor_reference` and the
//! record schema's version in `descriptor_version`. 5GTANGO's catalogue
//! assigned descriptors a UUID; wasmano's identifies them by
//! `vendor/name/version`, which the stored record keeps (the REST API shows
//! it) and which [`descriptor_uuid`] maps onto a UUID for the rendering.

use serde::Deserialize;
use serde_json::{Value, json};
use tango_model::descriptor::{DeploymentUnit, Nsd, VimKind, VirtualLink, Vnfd};
use tango_model::record::{
    CduRecord, ConnectionPointRecord, InterfaceRecord, LoadBalancerIp, Nsr, VduRecord, VnfcInstance, Vnfr,
    VnfrReference,
};
use tango_model::{Scalar, Unknown, to_document};
use uuid::Uuid;

use super::{NsRecord, UnitInstance, VnfRecord};

/// The NSR schema version records are written in (tng-schema's
/// `nsr-schema.yml`, as 5GTANGO's records name it).
pub const NSR_SCHEMA_VERSION: &str = "nsr-schema-01";

/// The VNFR schema version records are written in (tng-schema's
/// `vnfr-schema.yml`, as 5GTANGO's records name it).
pub const VNFR_SCHEMA_VERSION: &str = "vnfr-schema-01";

/// The namespace of the name-based UUIDs of descriptors that carry none:
/// fixed, so a descriptor gets the same UUID on every orchestrator and
/// across restarts.
const DESCRIPTOR_NAMESPACE: Uuid = Uuid::from_u128(0x4470_dbe4_1610_4aae_ac05_bdd1_2e16_2d85);

/// The fields of a descriptor's virtual link, besides its id and ends, that
/// tng-schema's NSR and VNFR both carry over (the rest of an
/// NSR's, e.g. a `vim_id`, is the record's own).
const LINK_FIELDS: &[&str] = &[
    "connectivity_type",
    "access",
    "external_access",
    "root_requirement",
    "leaf_requirement",
    "dhcp",
    "qos",
];

/// The field of a descriptor's virtual link that only a VNFR carries over.
const VNFR_LINK_FIELDS: &[&str] = &["cidr"];

/// The UUID of a descriptor whose catalogue identity is `reference` and
/// whose own `uuid` field is `uuid`: that field when it is a UUID, else the
/// version 5 UUID of `reference` in wasmano's descriptor namespace. The
/// catalogue never gives one identity two contents, so the same descriptor
/// always gets the same UUID.
pub fn descriptor_uuid(reference: &str, uuid: Option<&str>) -> Uuid {
    uuid.and_then(|text| Uuid::try_parse(text).ok())
        .unwrap_or_else(|| Uuid::new_v5(&DESCRIPTOR_NAMESPACE, reference.as_bytes()))
}

impl NsRecord {
    /// The record in tng-schema's NSR shape, `nsd` being the NSD it
    /// instantiates: its VNF records as `network_functions` (left out while
    /// there are none: the schema wants at least one) and the NSD's virtual
    /// links, with the VIM of those that were placed.
    pub fn to_tango(&self, nsd: &Nsd) -> Nsr {
        Nsr {
            id: self.id.clone(),
            descriptor_reference: Some(descriptor_uuid(&self.descriptor_reference, nsd.uuid.as_deref()).to_string()),
            descriptor_version: Some(NSR_SCHEMA_VERSION.to_owned()),
            status: Some(self.status.as_str().to_owned()),
            version: Some(Scalar::Text(self.version.to_string())),
            network_functions: self
                .network_functions
                .iter()
                .map(|id| VnfrReference {
                    vnfr_id: id.clone(),
                    other: Unknown::new(),
                })
                .collect(),
            other: Unknown::from_iter([("virtual_links".to_owned(), json!(self.placed_links(nsd)))]),
        }
    }

    /// The NSD's virtual links, each one a placement manager placed with
    /// the VIM it is realised in (`vim_id`).
    fn placed_links(&self, nsd: &Nsd) -> Vec<VirtualLink> {
        nsd.virtual_links
            .iter()
            .map(|link| {
                let mut link = carried_link(link, &[]);
                if let Some(vim) = self.link_vims.get(&link.id) {
                    link.other.insert("vim_id".to_owned(), json!([vim]));
                }
                link
            })
            .collect()
    }
}

impl VnfRecord {
    /// The record in tng-schema's VNFR shape, `vnfd` being the VNFD it
    /// instantiates: a `virtual_deployment_units` entry per VDU (left out
    /// while there are none: the schema wants at least one), with its
    /// instance, VIM and connection point addresses, and a
    /// `cloudnative_deployment_units` entry per CDU, with its VIM and its
    /// address as `load_balancer_ip` (as 5GTANGO's CNF FSMs read it); each
    /// unit with its reference, image and (VDUs) requirements from the
    /// VNFD; the VNFD's virtual links.
    pub fn to_tango(&self, vnfd: &Vnfd) -> Vnfr {
        let reference = |unit: &UnitInstance| vnfd.name.as_ref().map(|name| format!("{name}:{}", unit.unit_id));
        let cdus = declared_units(&self.deployment_units, vnfd, VimKind::Container)
            .map(|(unit, declared)| {
                let address = unit.addresses.first().map(|cp| cp.address.clone());
                let connection_points: Vec<ConnectionPointRecord> = unit
                    .addresses
                    .iter()
                    .map(|cp| point_record(declared, &cp.cp, true))
                    .collect();
                let mut other = Unknown::from_iter([
                    ("number_of_instances".to_owned(), json!(1)),
                    ("connection_points".to_owned(), json!(connection_points)),
                ]);
                if let Some(reference) = reference(unit) {
                    other.insert("cdu_reference".to_owned(), json!(reference));
                }
                if let Some(image) = declared.and_then(|unit| unit.image.as_ref()) {
                    other.insert("image".to_owned(), json!(image));
                }
                CduRecord {
                    id: unit.unit_id.clone(),
                    vim_id: Some(unit.vim_id.clone()),
                    load_balancer_ip: Some(LoadBalancerIp {
                        floating_ip: address.clone(),
                        internal_ip: address,
                        other: Unknown::new(),
                    }),
                    other,
                }
            })
            .collect();
        let vdus = declared_units(&self.deployment_units, vnfd, VimKind::Vm)
            .map(|(unit, declared)| {
                let connection_points = unit
                    .addresses
                    .iter()
                    .map(|cp| ConnectionPointRecord {
                        interface: Some(InterfaceRecord {
                            address: Some(cp.address.clone()),
                            hardware_address: None,
                            other: Unknown::new(),
                        }),
                        ..point_record(declared, &cp.cp, false)
                    })
                    .collect();
                let instance = VnfcInstance {
                    id: Some("0".to_owned()),
                    vim_id: Some(unit.vim_id.clone()),
                    connection_points,
                    other: Unknown::from_iter([("vc_id".to_owned(), json!(unit.instance_ref))]),
                };
                let mut other = Unknown::from_iter([("number_of_instances".to_owned(), json!(1))]);
                if let Some(reference) = reference(unit) {
                    other.insert("vdu_reference".to_owned(), json!(reference));
                }
                if let Some(declared) = declared {
                    if let Some(image) = &declared.vm_image {
                        other.insert("vm_image".to_owned(), json!(image));
                    }
                    if let Some(requirements) = &declared.resource_requirements {
                        other.insert("resource_requirements".to_owned(), to_document(requirements));
                    }
                    if let Some(monitoring) = declared.other.get("monitoring_parameters") {
                        other.insert("monitoring_parameters".to_owned(), monitoring.clone());
                    }
                }
                VduRecord {
                    id: unit.unit_id.clone(),
                    vnfc_instance: vec![instance],
                    other,
                }
            })
            .collect();
        Vnfr {
            id: self.id.clone(),
            name: Some(self.vnf_id.clone()),
            descriptor_reference: Some(descriptor_uuid(&self.descriptor_reference, vnfd.uuid.as_deref()).to_string()),
            descriptor_version: Some(VNFR_SCHEMA_VERSION.to_owned()),
            status: Some(self.status.as_str().to_owned()),
            version: Some(Scalar::Text(self.version.to_string())),
            virtual_deployment_units: vdus,
            cloudnative_deployment_units: cdus,
            other: Unknown::from_iter([("virtual_links".to_owned(), json!(vnfd_links(vnfd)))]),
        }
    }
}

/// The record of connection point `id` of a unit: its `type` from the
/// unit's declaration, and its `port` when `with_port` (container units).
fn point_record(declared: Option<&DeploymentUnit>, id: &str, with_port: bool) -> ConnectionPointRecord {
    let point = declared.and_then(|unit| unit.connection_points.iter().find(|point| point.id == id));
    let mut other = Unknown::new();
    if let Some(kind) = point.and_then(|point| point.kind.as_ref()) {
        other.insert("type".to_owned(), json!(kind));
    }
    if let Some(port) = point.and_then(|point| point.port.as_ref()).filter(|_| with_port) {
        other.insert("port".to_owned(), json!(port));
    }
    ConnectionPointRecord {
        id: id.to_owned(),
        interface: None,
        other,
    }
}

/// The VNFD's virtual links as a VNFR carries them; an entry that is not a
/// link is left out (the descriptor's validation reported it).
fn vnfd_links(vnfd: &Vnfd) -> Vec<VirtualLink> {
    let declared = vnfd.other.get("virtual_links").and_then(Value::as_array);
    declared
        .into_iter()
        .flatten()
        .filter_map(|link| VirtualLink::deserialize(link).ok())
        .map(|link| carried_link(&link, VNFR_LINK_FIELDS))
        .collect()
}

/// A descriptor's virtual link with the fields a record carries over: its
/// id and ends, [`LINK_FIELDS`] and the record's `own_fields`.
fn carried_link(link: &VirtualLink, own_fields: &[&str]) -> VirtualLink {
    VirtualLink {
        id: link.id.clone(),
        connection_points_reference: link.connection_points_reference.clone(),
        other: link
            .other
            .iter()
            .filter(|(key, _)| LINK_FIELDS.contains(&key.as_str()) || own_fields.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    }
}

/// The `units` of `kind`, each with its entry in the VNFD (when it has one).
fn declared_units<'a>(
    units: &'a [UnitInstance],
    vnfd: &'a Vnfd,
    kind: VimKind,
) -> impl Iterator<Item = (&'a UnitInstance, Option<&'a DeploymentUnit>)> {
    let list = match kind {
        VimKind::Vm => &vnfd.virtual_deployment_units,
        VimKind::Container => &vnfd.cloudnative_deployment_units,
    };
    units
        .iter()
        .filter(move |unit| unit.kind == kind)
        .map(move |unit| (unit, list.iter().find(|declared| declared.id == unit.unit_id)))
}
