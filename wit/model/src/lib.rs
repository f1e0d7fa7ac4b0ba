//! 5GTANGO's documents as Rust types: descriptors (NSD, VNFD), records
//! (NSR, VNFR), the placement topology, the content of every specific
//! manager event's request, and every event's reply, typed and in 5GTANGO's
//! wire shape ([`reply`]). The guest SDK, the host and the
//! orchestrator all use these types: whoever produces a shape and whoever
//! consumes it share its type, so a document cannot be written one way and
//! read another.
//!
//! Each type names the fields a manager or the orchestrator reads, and is
//! tolerant elsewhere. Fields only ever written (a record's unit references,
//! images and links, the configure request's service NSD and NSR) are not
//! typed: every guest would pay for reading them on every call, and nothing
//! reads them typed.
//!
//! - **Unknown fields are kept.** With the `keep-unknown` feature (on in the
//!   host and the orchestrator), every field a type does not name is read
//!   into its `other` map and written back as it was, so a document read and
//!   written again says everything it said. Guests build without it: they
//!   have the whole document as text, and mapping fields they never look at
//!   would cost every call.
//! - **Loose scalars.** 5GTANGO writes versions, option values and ports
//!   either as text or as numbers (`version: '1'`, `version: 1`); such fields
//!   are a [`Scalar`], read both ways and written back as they were written;
//!   amounts are a [`Quantity`], whole ones staying whole.
//! - **Null is absent.** A field written `null` reads as absent and is
//!   written absent, as 5GTANGO's managers read it (`dict.get`); so is an
//!   empty list. Fields kept in `other` keep their nulls.
#![deny(missing_docs)]

pub mod descriptor;
pub mod event;
pub mod fsm;
pub mod record;
pub mod reply;
mod scalar;
pub mod ssm;
pub mod topology;

pub use scalar::{Quantity, Scalar};

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The fields of a document its type does not name, in document order (see
/// the crate documentation).
pub type Unknown = serde_json::Map<String, serde_json::Value>;

/// A content that does not have its 5GTANGO shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    /// The event or field that could not be read.
    pub what: String,
    /// What was wrong with it.
    pub message: String,
}

impl ContentError {
    /// An error reading `what`.
    pub fn new(what: &str, error: impl fmt::Display) -> Self {
        Self {
            what: what.to_owned(),
            message: error.to_string(),
        }
    }
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} request: {}", self.what, self.message)
    }
}

impl std::error::Error for ContentError {}

/// A key/value pair: an env variable in replies, an option in descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

impl KeyValue {
    /// A pair.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Envs for a VNF's container units: one entry of an FSM's reply (5GTANGO's
/// `envs: [{cdu_id, envs}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitEnvs {
    /// The unit, by its id in the VNFD or its record's `cdu_id`
    /// (`<unit id>-<VNF instance id>`); `None` is every container unit.
    pub unit: Option<String>,
    /// The envs, merged in order into what the unit has.
    pub envs: Vec<KeyValue>,
}

impl UnitEnvs {
    /// Envs for every container unit of the VNF.
    pub fn every_unit(envs: Vec<KeyValue>) -> Self {
        Self { unit: None, envs }
    }

    /// Envs for one unit.
    pub fn unit(unit: impl Into<String>, envs: Vec<KeyValue>) -> Self {
        Self {
            unit: Some(unit.into()),
            envs,
        }
    }

    /// Whether these envs are for the unit `unit_id` of VNF instance
    /// `vnf_instance_id`.
    pub fn applies_to(&self, unit_id: &str, vnf_instance_id: &str) -> bool {
        match &self.unit {
            None => true,
            Some(unit) => {
                unit == unit_id
                    || unit
                        .strip_prefix(unit_id)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|instance| instance == vnf_instance_id)
            }
        }
    }
}

/// Reads a field written `null` as its default (an empty list, an empty
/// map): 5GTANGO's SLM writes `ip_mapping: null` and `generic_envs: null`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Whether a value is its type's default: written fields skip it.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Reads an id 5GTANGO writes as text or as a number (`uuid: 7`) as text.
pub(crate) fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(deserializer)?.map(|scalar| scalar.to_string()))
}

/// Writes a `Serialize` value as a JSON document.
pub fn to_document<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|error| unreachable!("model types serialise to JSON: {error}"))
}
