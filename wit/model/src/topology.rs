//! The infrastructure a placement sees (`topology`): VIMs with their
//! capacity, network endpoints, and the WIMs joining them.

use serde::{Deserialize, Serialize};

use crate::descriptor::VimKind;
use crate::{ContentError, Unknown, null_as_default};

/// A placement request's `topology`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Topology {
    /// The VIMs and network endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vims: Option<Sites>,
    /// The WIMs joining VIMs and endpoints.
    #[serde(deserialize_with = "null_as_default")]
    pub wims: Vec<Wim>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// `topology.vims`: the VIMs and the network endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sites {
    /// The VIMs, with their capacity.
    #[serde(deserialize_with = "null_as_default")]
    pub vim_list: Vec<Vim>,
    /// The network endpoints.
    #[serde(deserialize_with = "null_as_default")]
    pub nep_list: Vec<Nep>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// One VIM of the placement topology, with its capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vim {
    /// `vim_uuid`.
    #[serde(rename = "vim_uuid")]
    pub uuid: String,
    /// `type`: vm or container.
    #[serde(rename = "type")]
    pub kind: VimKind,
    /// Cores in all.
    #[serde(default)]
    pub core_total: f64,
    /// Cores already in use.
    #[serde(default)]
    pub core_used: f64,
    /// Memory in all (MB in 5GTANGO topologies).
    #[serde(default)]
    pub memory_total: f64,
    /// Memory already in use.
    #[serde(default)]
    pub memory_used: f64,
    /// `vim_name`.
    #[serde(default, rename = "vim_name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `vim_city`.
    #[serde(default, rename = "vim_city", skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// `vim_endpoint`.
    #[serde(default, rename = "vim_endpoint", skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Every other field (`vim_domain`, wasmano's `labels`, ...), as
    /// written. The contract passes the typed fields above to a guest; the
    /// others stay in the request's document.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

impl Vim {
    /// A VIM with this capacity, nothing in use.
    pub fn new(uuid: impl Into<String>, kind: VimKind, cores: f64, memory: f64) -> Self {
        Self {
            uuid: uuid.into(),
            kind,
            core_total: cores,
            core_used: 0.0,
            memory_total: memory,
            memory_used: 0.0,
            name: None,
            city: None,
            endpoint: None,
            other: Unknown::new(),
        }
    }

    /// Cores not yet in use.
    pub fn free_cores(&self) -> f64 {
        self.core_total - self.core_used
    }

    /// Memory not yet in use.
    pub fn free_memory(&self) -> f64 {
        self.memory_total - self.memory_used
    }
}

/// One WIM of the placement topology (`topology.wims`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wim {
    /// `uuid`.
    pub uuid: String,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VIMs it connects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached_vims: Vec<String>,
    /// The network endpoints it connects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached_endpoints: Vec<String>,
    /// The quality of its links.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub qos: Vec<LinkQos>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// The quality of the link a WIM offers between two nodes (VIMs or NEPs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkQos {
    /// One end (`node_1`).
    #[serde(rename = "node_1")]
    pub node_a: String,
    /// The other end (`node_2`).
    #[serde(rename = "node_2")]
    pub node_b: String,
    /// `latency`, in `latency_unit` (ms when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
    /// `latency_unit`: s, ms or us.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_unit: Option<String>,
    /// `bandwidth`, in `bandwidth_unit` (Mbps when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<f64>,
    /// `bandwidth_unit`: bps, kbps, Mbps or Gbps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandwidth_unit: Option<String>,
    /// Every other field, as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

impl LinkQos {
    /// The latency in milliseconds, when known in a unit this model reads.
    pub fn latency_ms(&self) -> Option<f64> {
        let factor = match self.latency_unit.as_deref().unwrap_or("ms") {
            "s" => 1e3,
            "ms" => 1.0,
            "us" => 1e-3,
            _ => return None,
        };
        Some(self.latency? * factor)
    }

    /// The bandwidth in Mbit/s, when known in a unit this model reads.
    pub fn bandwidth_mbps(&self) -> Option<f64> {
        let factor = match self.bandwidth_unit.as_deref().unwrap_or("Mbps") {
            "bps" => 1e-6,
            "kbps" | "Kbps" => 1e-3,
            "Mbps" => 1.0,
            "Gbps" => 1e3,
            _ => return None,
        };
        Some(self.bandwidth? * factor)
    }
}

/// A network endpoint (NEP) of the topology (`topology.vims.nep_list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nep {
    /// `nep_uuid`.
    #[serde(rename = "nep_uuid")]
    pub uuid: String,
    /// `nep_name`.
    #[serde(rename = "nep_name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other field (`type`, ...), as written.
    #[cfg_attr(feature = "keep-unknown", serde(flatten))]
    #[cfg_attr(not(feature = "keep-unknown"), serde(skip))]
    pub other: Unknown,
}

/// Reads the VIMs (`topology.vims.vim_list`) of a placement content without
/// typing the rest of it (NEPs, WIMs and their QoS lists can be most of a
/// request): what the host passes typed with each placement call.
pub fn topology_vims(content: &serde_json::Value) -> Result<Vec<Vim>, ContentError> {
    /// `topology` read for its VIMs only: the rest is skipped unread.
    #[derive(Deserialize)]
    struct VimsOf {
        #[serde(default)]
        vims: Option<VimListOf>,
    }
    /// `topology.vims` read for its `vim_list` only.
    #[derive(Deserialize)]
    struct VimListOf {
        #[serde(default, deserialize_with = "null_as_default")]
        vim_list: Vec<Vim>,
    }
    match content.get("topology") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(topology) => VimsOf::deserialize(topology)
            .map(|topology| topology.vims.map(|sites| sites.vim_list).unwrap_or_default())
            .map_err(|error| ContentError::new("topology", error)),
    }
}
