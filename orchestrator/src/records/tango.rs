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

use serde_json::{Map, Value, json};
use sm_sdk::descriptor::VimKind;
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

/// The fields of a descriptor's virtual link that tng-schema's NSR and
/// VNFR both carry over (the rest of an NSR's, e.g. a `vim_id`, is the
/// record's own).
const LINK_FIELDS: &[&str] = &[
    "id",
    "connectivity_type",
    "connection_points_reference",
    "access",
    "external_access",
    "root_requirement",
    "leaf_requirement",
    "dhcp",
    "qos",
];

/// The field of a descriptor's virtual link that only a VNFR carries over.
const VNFR_LINK_FIELDS: &[&str] = &["cidr"];

/// The UUID of the descriptor `document` whose catalogue identity is
/// `reference` (`vendor/name/version`): its own `uuid` field when that is a
/// UUID, else the version 5 UUID of `reference` in wasmano's descriptor
/// namespace. The catalogue never gives one identity two contents, so the
/// same descriptor always gets the same UUID.
pub fn descriptor_uuid(reference: &str, document: &Value) -> Uuid {
    document
        .get("uuid")
        .and_then(Value::as_str)
        .and_then(|text| Uuid::try_parse(text).ok())
        .unwrap_or_else(|| Uuid::new_v5(&DESCRIPTOR_NAMESPACE, reference.as_bytes()))
}

impl NsRecord {
    /// The record in tng-schema's NSR shape, `nsd` being the document of
    /// the NSD it instantiates: its VNF records as `network_functions`
    /// (left out while there are none: the schema wants at least one) and
    /// the NSD's virtual links, with the VIM of those that were placed.
    pub fn to_tango(&self, nsd: &Value) -> Value {
        let mut record = json!({
            "descriptor_version": NSR_SCHEMA_VERSION,
            "id": self.id,
            "descriptor_reference": descriptor_uuid(&self.descriptor_reference, nsd).to_string(),
            "status": self.status.as_str(),
            "version": self.version.to_string(),
            "virtual_links": self.placed_links(nsd),
        });
        if !self.network_functions.is_empty() {
            record["network_functions"] = self
                .network_functions
                .iter()
                .map(|id| json!({ "vnfr_id": id }))
                .collect();
        }
        record
    }
}

impl NsRecord {
    /// The NSD's virtual links, each one a placement manager placed with
    /// the VIM it is realised in (`vim_id`).
    fn placed_links(&self, nsd: &Value) -> Vec<Value> {
        let mut links = virtual_links(nsd, &[]);
        for link in &mut links {
            let placed = link
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| self.link_vims.get(id));
            if let Some(vim) = placed {
                link["vim_id"] = json!([vim]);
            }
        }
        links
    }
}

impl VnfRecord {
    /// The record in tng-schema's VNFR shape, `vnfd` being the document of
    /// the VNFD it instantiates: a `virtual_deployment_units` entry per VDU
    /// (left out while there are none: the schema wants at least one), with
    /// its instance, VIM and connection point addresses, and a
    /// `cloudnative_deployment_units` entry per CDU, with its VIM and its
    /// address as `load_balancer_ip` (as 5GTANGO's CNF FSMs read it); each
    /// unit with its reference, image and (VDUs) requirements from the
    /// VNFD; the VNFD's virtual links.
    pub fn to_tango(&self, vnfd: &Value) -> Value {
        let reference = |unit: &UnitInstance| {
            vnfd.get("name")
                .and_then(Value::as_str)
                .map(|name| format!("{name}:{}", unit.unit_id))
        };
        let cdus: Vec<Value> = declared_units(&self.deployment_units, vnfd, VimKind::Container)
            .map(|(unit, declared)| {
                let address = unit.addresses.first().map(|cp| cp.address.as_str());
                let connection_points: Vec<Value> = unit
                    .addresses
                    .iter()
                    .map(|cp| {
                        let mut point = Map::from_iter([("id".to_owned(), json!(cp.cp))]);
                        copy_fields(
                            entry_with_id(declared.and_then(|unit| unit.get("connection_points")), &cp.cp),
                            &["type", "port"],
                            &mut point,
                        );
                        Value::Object(point)
                    })
                    .collect();
                let mut cdu = Map::from_iter([
                    ("id".to_owned(), json!(unit.unit_id)),
                    ("vim_id".to_owned(), json!(unit.vim_id)),
                    ("number_of_instances".to_owned(), json!(1)),
                    ("connection_points".to_owned(), json!(connection_points)),
                    (
                        "load_balancer_ip".to_owned(),
                        json!({ "floating_ip": address, "internal_ip": address }),
                    ),
                ]);
                if let Some(reference) = reference(unit) {
                    cdu.insert("cdu_reference".to_owned(), json!(reference));
                }
                copy_fields(declared, &["image"], &mut cdu);
                Value::Object(cdu)
            })
            .collect();
        let vdus: Vec<Value> = declared_units(&self.deployment_units, vnfd, VimKind::Vm)
            .map(|(unit, declared)| {
                let connection_points: Vec<Value> = unit
                    .addresses
                    .iter()
                    .map(|cp| {
                        let mut point = Map::from_iter([
                            ("id".to_owned(), json!(cp.cp)),
                            ("interface".to_owned(), json!({ "address": cp.address })),
                        ]);
                        copy_fields(
                            entry_with_id(declared.and_then(|unit| unit.get("connection_points")), &cp.cp),
                            &["type"],
                            &mut point,
                        );
                        Value::Object(point)
                    })
                    .collect();
                let mut instance = Map::from_iter([
                    ("id".to_owned(), json!("0")),
                    ("vc_id".to_owned(), json!(unit.instance_ref)),
                    ("vim_id".to_owned(), json!(unit.vim_id)),
                ]);
                // The schema wants at least one connection point when they are listed.
                if !connection_points.is_empty() {
                    instance.insert("connection_points".to_owned(), json!(connection_points));
                }
                let mut vdu = Map::from_iter([
                    ("id".to_owned(), json!(unit.unit_id)),
                    ("number_of_instances".to_owned(), json!(1)),
                    ("vnfc_instance".to_owned(), json!([instance])),
                ]);
                if let Some(reference) = reference(unit) {
                    vdu.insert("vdu_reference".to_owned(), json!(reference));
                }
                copy_fields(
                    declared,
                    &["vm_image", "resource_requirements", "monitoring_parameters"],
                    &mut vdu,
                );
                Value::Object(vdu)
            })
            .collect();
        let mut record = json!({
            "descriptor_version": VNFR_SCHEMA_VERSION,
            "id": self.id,
            "name": self.vnf_id,
            "descriptor_reference": descriptor_uuid(&self.descriptor_reference, vnfd).to_string(),
            "status": self.status.as_str(),
            "version": self.version.to_string(),
            "cloudnative_deployment_units": cdus,
            "virtual_links": virtual_links(vnfd, VNFR_LINK_FIELDS),
        });
        if !vdus.is_empty() {
            record["virtual_deployment_units"] = Value::Array(vdus);
        }
        record
    }
}

/// The descriptor's virtual links with the fields a record carries over:
/// [`LINK_FIELDS`] and the record's `own_fields`.
fn virtual_links(descriptor: &Value, own_fields: &[&str]) -> Vec<Value> {
    descriptor
        .get("virtual_links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|link| {
            let mut carried = Map::new();
            copy_fields(link.as_object(), LINK_FIELDS, &mut carried);
            copy_fields(link.as_object(), own_fields, &mut carried);
            Value::Object(carried)
        })
        .collect()
}

/// The `units` of `kind`, each with its entry in the VNFD (when it has one).
fn declared_units<'a>(
    units: &'a [UnitInstance],
    vnfd: &'a Value,
    kind: VimKind,
) -> impl Iterator<Item = (&'a UnitInstance, Option<&'a Map<String, Value>>)> {
    let list = vnfd.get(match kind {
        VimKind::Vm => "virtual_deployment_units",
        VimKind::Container => "cloudnative_deployment_units",
    });
    units
        .iter()
        .filter(move |unit| unit.kind == kind)
        .map(move |unit| (unit, entry_with_id(list, &unit.unit_id)))
}

/// The entry of a descriptor's `list` (units, connection points) whose
/// `id` is `id`.
fn entry_with_id<'a>(list: Option<&'a Value>, id: &str) -> Option<&'a Map<String, Value>> {
    list?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|entry| entry.get("id").and_then(Value::as_str) == Some(id))
}

/// Copies the `fields` `from` has (when there is a `from`) into `to`.
fn copy_fields(from: Option<&Map<String, Value>>, fields: &[&str], to: &mut Map<String, Value>) {
    let Some(from) = from else { return };
    for field in fields {
        if let Some(value) = from.get(*field) {
            to.insert((*field).to_owned(), value.clone());
        }
    }
}
