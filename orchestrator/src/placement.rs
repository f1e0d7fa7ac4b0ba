//! Default placement: on which VIM each VNF instance runs when a service
//! brings no placement SSM of its own, and the check the orchestrator runs on
//! the mapping a placement SSM answers.
//!
//! It follows the 5GTANGO default placement (one VIM per VNF, VM/container
//! kind match, cores and memory never overcommitted, a customer blacklist,
//! predefined mappings kept, a "load balanced", "fill first" or priority
//! policy) and OPNFV Domino's policy labels (a VNF a policy targets only goes
//! to a VIM holding all the labels the policy requires). 5GTANGO solves an
//! integer program; a backtracking search does the same job here without a
//! solver. The strategy only orders the choices, so whenever some feasible
//! assignment exists the search finds one, and a node budget bounds the work
//! on adversarial instances instead of letting a workflow hang.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use tango_model::descriptor::{Demand, Nsd, VimKind};
use tango_model::ssm::{LinkPlacement, LinkSite, PlacementContent, VnfPlacement};
use tango_model::topology::Vim;

/// The search nodes (tentative assignments) [`place`] explores before giving
/// up, unless [`PlacementOptions::node_budget`] says otherwise.
pub const DEFAULT_NODE_BUDGET: u64 = 100_000;

/// Relative slack of capacity comparisons, so that fractional demands adding
/// up to exactly the free capacity (0.1 + 0.2 cores on 0.3 free) fit whatever
/// order they are summed in.
const CAPACITY_SLACK: f64 = 1e-9;

/// A VIM as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledVim {
    /// Its id, kind, capacity and use, as a 5GTANGO topology lists them.
    pub vim: Vim,
    /// The policy labels it holds (Domino subscriptions), such as
    /// `tosca.policies.Placement.Geolocation:properties:region:us-west-1`.
    pub labels: BTreeSet<String>,
}

/// A VNF instance to place.
#[derive(Debug, Clone, PartialEq)]
pub struct VnfToPlace {
    /// The instance id, as answered in [`VnfPlacement::vnf`].
    pub id: String,
    /// The cores, memory and VIM kind it needs.
    pub demand: Demand,
    /// The labels the policies targeting it require of its VIM; empty when
    /// no policy targets it.
    pub required_labels: BTreeSet<String>,
}

/// How [`place`] orders the VIMs a VNF could go to. The order decides which
/// feasible placement is found, never whether one is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PlacementStrategy {
    /// Spread the load: the VIM with the most free cores first, then the one
    /// with the most free memory. The 5GTANGO default.
    #[default]
    LoadBalanced,
    /// Pack: the VIM with the fewest free cores that still fits first, then
    /// the one with the least free memory.
    FillFirst,
    /// The VIMs with these ids, in this order; VIMs not listed come after
    /// them, in input order.
    Priority(Vec<String>),
}

/// The policy and constraints of a placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementOptions {
    /// How VIMs are preferred.
    pub strategy: PlacementStrategy,
    /// Predefined mappings, VNF instance id to VIM id, kept as they are.
    pub fixed: BTreeMap<String, String>,
    /// Ids of the VIMs the customer excludes; ids no VIM has are ignored.
    pub blacklist: BTreeSet<String>,
    /// Tentative assignments explored before giving up with
    /// [`PlacementError::BudgetExhausted`].
    pub node_budget: u64,
}

impl Default for PlacementOptions {
    fn default() -> Self {
        Self {
            strategy: PlacementStrategy::default(),
            fixed: BTreeMap::new(),
            blacklist: BTreeSet::new(),
            node_budget: DEFAULT_NODE_BUDGET,
        }
    }
}

/// Where each VNF goes, in the order the VNFs were given to [`place`].
pub type Mapping = Vec<VnfPlacement>;

/// Why a VIM cannot host a VNF, even with nothing else placed.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The customer blacklisted it.
    Blacklisted,
    /// It offers this other kind.
    WrongKind(VimKind),
    /// It lacks these of the labels the VNF requires.
    MissingLabels(BTreeSet<String>),
    /// It has only this many free cores.
    TooFewCores(f64),
    /// It has only this much free memory, in MB.
    TooLittleMemory(f64),
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blacklisted => formatter.write_str("is blacklisted"),
            Self::WrongKind(kind) => write!(formatter, "is a {kind} VIM"),
            Self::MissingLabels(labels) if labels.len() == 1 => write!(formatter, "lacks label {}", join(labels)),
            Self::MissingLabels(labels) => write!(formatter, "lacks labels {}", join(labels)),
            Self::TooFewCores(free) => write!(formatter, "has {free} free cores"),
            Self::TooLittleMemory(free) => write!(formatter, "has {free} MB free"),
        }
    }
}

/// A VIM that cannot host a VNF, with every reason why.
#[derive(Debug, Clone, PartialEq)]
pub struct VimRejection {
    /// The VIM's id.
    pub vim: String,
    /// Why it cannot host the VNF; never empty.
    pub reasons: Vec<Rejection>,
}

impl fmt::Display for VimRejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.vim)?;
        for (position, reason) in self.reasons.iter().enumerate() {
            let separator = if position == 0 { " " } else { " and " };
            write!(formatter, "{separator}{reason}")?;
        }
        Ok(())
    }
}

/// What ran short where the search for a placement got stuck.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shortfall {
    /// None of the VIMs the VNF fits alone has room left for it.
    NoRoomLeft,
    /// The unplaced VNFs need more cores than the VIMs they fit can take.
    Cores {
        /// Cores the unplaced VNFs need.
        needed: f64,
        /// The most cores the VIMs they fit can take.
        usable: f64,
    },
    /// The unplaced VNFs need more memory than the VIMs they fit can take.
    Memory {
        /// Memory the unplaced VNFs need, in MB.
        needed: f64,
        /// The most memory the VIMs they fit can take, in MB.
        usable: f64,
    },
}

impl fmt::Display for Shortfall {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRoomLeft => formatter.write_str("no VIM it fits has room left for it"),
            Self::Cores { needed, usable } => write!(
                formatter,
                "the unplaced VNFs need {needed} cores, the VIMs they fit can take {usable}"
            ),
            Self::Memory { needed, usable } => write!(
                formatter,
                "the unplaced VNFs need {needed} MB, the VIMs they fit can take {usable} MB"
            ),
        }
    }
}

/// Why [`place`] found no placement. Every message starts with 5GTANGO's
/// "Unable to perform placement".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    /// Two VNFs have the same instance id.
    #[error("Unable to perform placement: two VNFs have the instance id {0}")]
    DuplicateVnf(String),
    /// Two VIMs have the same id.
    #[error("Unable to perform placement: two VIMs have the id {0}")]
    DuplicateVim(String),
    /// A predefined mapping names a VNF that is not to be placed.
    #[error("Unable to perform placement: a predefined mapping puts unknown VNF {vnf} on {vim}")]
    FixedUnknownVnf {
        /// The unknown VNF.
        vnf: String,
        /// The VIM the mapping names.
        vim: String,
    },
    /// A predefined mapping names a VIM that is not in the topology.
    #[error("Unable to perform placement: the predefined mapping of VNF {vnf} names unknown VIM {vim}")]
    FixedUnknownVim {
        /// The VNF.
        vnf: String,
        /// The unknown VIM.
        vim: String,
    },
    /// A VNF's demand is negative or not a number.
    #[error(
        "Unable to perform placement: VNF {vnf} asks for {cores} cores and {memory_mb} MB, not finite non-negative amounts"
    )]
    InvalidDemand {
        /// The VNF.
        vnf: String,
        /// Cores asked for.
        cores: f64,
        /// Memory asked for, in MB.
        memory_mb: f64,
    },
    /// A VNF fits no VIM, even with nothing else placed.
    #[error(
        "Unable to perform placement: VNF {vnf}{} needs {}: no VIM qualifies: {}",
        fixed_clause(.fixed_to),
        describe_need(.demand, .required_labels),
        describe_rejections(.rejections)
    )]
    NoQualifyingVim {
        /// The VNF.
        vnf: String,
        /// What it needs.
        demand: Demand,
        /// The labels it requires.
        required_labels: BTreeSet<String>,
        /// The VIM a predefined mapping fixes it to, if one does.
        fixed_to: Option<String>,
        /// Every VIM considered (only the fixed one, if any) and why it
        /// does not qualify.
        rejections: Vec<VimRejection>,
    },
    /// Every VNF fits some VIM alone, but no assignment fits them all.
    #[error(
        "Unable to perform placement: each VNF fits some VIM on its own, but the VIMs' joint capacity is exhausted: \
         the search failed at VNF {vnf} (alone it fits {}) with {placed} of {total} VNFs placed: {shortfall}",
        .fits_alone_on.join(", ")
    )]
    JointCapacityExhausted {
        /// The most constrained VNF at the deepest point the search reached.
        vnf: String,
        /// The VIMs that VNF fits when nothing else is placed.
        fits_alone_on: Vec<String>,
        /// How many VNFs were placed at that point.
        placed: usize,
        /// How many VNFs there are.
        total: usize,
        /// What ran short at that point.
        shortfall: Shortfall,
    },
    /// The search explored its whole node budget without deciding.
    #[error(
        "Unable to perform placement: the search gave up after {budget} nodes, having placed at most {placed} of {total} VNFs"
    )]
    BudgetExhausted {
        /// The node budget.
        budget: u64,
        /// The most VNFs placed at once during the search.
        placed: usize,
        /// How many VNFs there are.
        total: usize,
    },
}

/// Why a mapping answered by a placement manager is not acceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// Two VNFs to place have the same instance id.
    #[error("placement answer: two VNFs to place have the instance id {0}")]
    DuplicateVnf(String),
    /// Two VIMs have the same id.
    #[error("placement answer: two VIMs have the id {0}")]
    DuplicateVim(String),
    /// The mapping places a VNF that was not to be placed.
    #[error("placement answer places unknown VNF {vnf} (on {vim})")]
    UnknownVnf {
        /// The unknown VNF.
        vnf: String,
        /// The VIM it was put on.
        vim: String,
    },
    /// The mapping places a VNF twice.
    #[error("placement answer places VNF {vnf} twice, on {first} and on {second}")]
    PlacedTwice {
        /// The VNF.
        vnf: String,
        /// Its first VIM.
        first: String,
        /// Its second VIM.
        second: String,
    },
    /// The mapping leaves a VNF out.
    #[error("placement answer leaves VNF {0} unplaced")]
    Unplaced(String),
    /// The mapping names a VIM that is not in the topology.
    #[error("placement answer puts VNF {vnf} on unknown VIM {vim}")]
    UnknownVim {
        /// The VNF.
        vnf: String,
        /// The unknown VIM.
        vim: String,
    },
    /// The mapping puts a VNF on a VIM of the other kind.
    #[error("placement answer puts {needs} VNF {vnf} on {vim}, a {offers} VIM")]
    KindMismatch {
        /// The VNF.
        vnf: String,
        /// The VIM.
        vim: String,
        /// The kind the VNF needs.
        needs: VimKind,
        /// The kind the VIM offers.
        offers: VimKind,
    },
    /// The mapping puts a VNF on a VIM lacking labels it requires.
    #[error("placement answer puts VNF {vnf} on {vim}, which lacks {}", join(.missing))]
    MissingLabels {
        /// The VNF.
        vnf: String,
        /// The VIM.
        vim: String,
        /// The required labels the VIM lacks.
        missing: BTreeSet<String>,
    },
    /// The VNFs the mapping puts on a VIM need more than it has free.
    #[error(
        "placement answer overloads VIM {vim} with VNF {vnf}: its VNFs so far need {cores} cores and {memory_mb} MB, \
         {free_cores} cores and {free_memory_mb} MB are free"
    )]
    CapacityExceeded {
        /// The VIM.
        vim: String,
        /// The VNF that tipped it over.
        vnf: String,
        /// Cores of the VIM's VNFs up to and including that one.
        cores: f64,
        /// Memory of the VIM's VNFs up to and including that one, in MB.
        memory_mb: f64,
        /// The VIM's free cores.
        free_cores: f64,
        /// The VIM's free memory, in MB.
        free_memory_mb: f64,
    },
}

/// Places every VNF on a VIM: one that is not blacklisted, offers the VNF's
/// kind, holds all its required labels, has room for it next to the VNFs
/// already placed there, and is the one a predefined mapping names, if any.
///
/// The search is complete: it answers a placement whenever one exists, the
/// strategy only deciding which. It places the most constrained VNF first
/// (fewest VIMs with room left, then the biggest), tries that VNF's VIMs in
/// the strategy's order, prunes when the room the remaining VNFs could use
/// falls short of what they need, tries only one of interchangeable VIMs,
/// and backtracks on a dead end. Its recursion is as deep as there are VNFs.
///
/// # Errors
///
/// [`PlacementError::NoQualifyingVim`] when a VNF fits no VIM alone (naming
/// every VIM and why), [`PlacementError::JointCapacityExhausted`] when each
/// fits alone but not all together, [`PlacementError::BudgetExhausted`] when
/// the node budget runs out first, and the other variants for inconsistent
/// input.
pub fn place(vnfs: &[VnfToPlace], vims: &[LabelledVim], options: &PlacementOptions) -> Result<Mapping, PlacementError> {
    let vim_positions =
        positions_by_id(vims, |vim| &vim.vim.uuid).map_err(|id| PlacementError::DuplicateVim(id.to_owned()))?;
    let vnf_positions =
        positions_by_id(vnfs, |vnf| &vnf.id).map_err(|id| PlacementError::DuplicateVnf(id.to_owned()))?;
    let mut fixed_vims = vec![None; vnfs.len()];
    for (vnf, vim) in &options.fixed {
        let &vnf_position = vnf_positions
            .get(vnf.as_str())
            .ok_or_else(|| PlacementError::FixedUnknownVnf {
                vnf: vnf.clone(),
                vim: vim.clone(),
            })?;
        let &vim_position = vim_positions
            .get(vim.as_str())
            .ok_or_else(|| PlacementError::FixedUnknownVim {
                vnf: vnf.clone(),
                vim: vim.clone(),
            })?;
        fixed_vims[vnf_position] = Some(vim_position);
    }
    if let Some(vnf) = vnfs
        .iter()
        .find(|vnf| !is_valid_amount(vnf.demand.cores) || !is_valid_amount(vnf.demand.memory_mb))
    {
        return Err(PlacementError::InvalidDemand {
            vnf: vnf.id.clone(),
            cores: vnf.demand.cores,
            memory_mb: vnf.demand.memory_mb,
        });
    }
    let candidates = vnfs
        .iter()
        .zip(&fixed_vims)
        .map(|(vnf, &fixed)| qualifying_vims(vnf, fixed, vims, &options.blacklist))
        .collect::<Result<Vec<_>, _>>()?;

    let mut search = Search::new(
        vnfs,
        vims,
        candidates,
        &fixed_vims,
        &options.strategy,
        options.node_budget,
    );
    match search.extend(0) {
        Ok(Outcome::Complete) => Ok(vnfs
            .iter()
            .zip(&search.assignment)
            // A complete search has assigned every VNF.
            .filter_map(|(vnf, vim)| {
                vim.map(|vim| VnfPlacement {
                    vnf: vnf.id.clone(),
                    vim: vims[vim].vim.uuid.clone(),
                })
            })
            .collect()),
        Ok(Outcome::Stuck(dead_end)) => Err(PlacementError::JointCapacityExhausted {
            vnf: vnfs[dead_end.vnf].id.clone(),
            fits_alone_on: search.candidates[dead_end.vnf]
                .iter()
                .map(|&vim| vims[vim].vim.uuid.clone())
                .collect(),
            placed: dead_end.placed,
            total: vnfs.len(),
            shortfall: dead_end.shortfall,
        }),
        Err(OutOfBudget) => Err(PlacementError::BudgetExhausted {
            budget: options.node_budget,
            placed: search.most_placed,
            total: vnfs.len(),
        }),
    }
}

/// What a 5GTANGO placement request asks, as [`validate_mapping`] reads it:
/// each VNF instance with its demand, and each VIM of the topology. A
/// 5GTANGO request carries no policy labels, so none are required or held.
///
/// # Errors
///
/// A VNF without an instance id (no mapping could name it) or whose demand
/// cannot be read, naming its position in `vnfds`.
pub fn requested_placement(request: PlacementContent) -> Result<(Vec<VnfToPlace>, Vec<LabelledVim>), String> {
    let vnfs = request
        .vnfds
        .iter()
        .enumerate()
        .map(|(position, vnfd)| {
            let id = vnfd.instance_id().ok_or_else(|| {
                format!("vnfds[{position}] has neither instance_uuid nor uuid, so no mapping can place it")
            })?;
            let demand = vnfd.demand().map_err(|error| format!("vnfds[{position}]: {error}"))?;
            Ok(VnfToPlace {
                id: id.to_owned(),
                demand,
                required_labels: BTreeSet::new(),
            })
        })
        .collect::<Result<_, String>>()?;
    let vims = request
        .topology
        .and_then(|topology| topology.vims)
        .map(|sites| sites.vim_list)
        .unwrap_or_default()
        .into_iter()
        .map(|vim| LabelledVim {
            vim,
            labels: BTreeSet::new(),
        })
        .collect();
    Ok((vnfs, vims))
}

/// Checks a placement manager's virtual-link placement: each link is one of
/// the NSD's, placed once; a link inside a VIM has every instance of every
/// VNF it joins there (`sites`: the NSD's VNF id and VIM of each instance
/// the service will have); the infrastructure adapters have no WIMs, so a
/// link on a WIM names an unknown one.
pub fn validate_links(links: &[LinkPlacement], nsd: &Nsd, sites: &[(&str, &str)]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for link in links {
        if !seen.insert(link.link.as_str()) {
            return Err(format!("virtual link {} is placed twice", link.link));
        }
        let Some(declaration) = nsd.virtual_links.iter().find(|declared| declared.id == link.link) else {
            return Err(format!("the NSD has no virtual link {}", link.link));
        };
        let vim = match &link.site {
            LinkSite::Wim(wim) => {
                return Err(format!(
                    "virtual link {} is placed on WIM {wim}, which the infrastructure does not have",
                    link.link
                ));
            }
            LinkSite::Vim(vim) => vim,
        };
        let ends = declaration
            .connection_points_reference
            .iter()
            .filter_map(|end| end.split_once(':').map(|(vnf, _)| vnf));
        for vnf_id in ends {
            if let Some((_, elsewhere)) = sites.iter().find(|(vnf, site)| *vnf == vnf_id && site != vim) {
                return Err(format!(
                    "virtual link {} is placed inside VIM {vim}, but VNF {vnf_id} runs on {elsewhere}",
                    link.link
                ));
            }
        }
    }
    Ok(())
}

/// Checks a mapping answered by a placement manager: every VNF placed exactly
/// once, on a VIM of the topology that offers its kind and holds its labels,
/// and no VIM given more cores or memory than it has free. Leave blacklisted
/// VIMs out of `vims` to forbid them.
///
/// # Errors
///
/// The first problem found, walking the mapping in order, naming the VNF and
/// the VIM concerned.
pub fn validate_mapping(
    mapping: &[VnfPlacement],
    vnfs: &[VnfToPlace],
    vims: &[LabelledVim],
) -> Result<(), MappingError> {
    let vnf_positions = positions_by_id(vnfs, |vnf| &vnf.id).map_err(|id| MappingError::DuplicateVnf(id.to_owned()))?;
    let vim_positions =
        positions_by_id(vims, |vim| &vim.vim.uuid).map_err(|id| MappingError::DuplicateVim(id.to_owned()))?;
    let mut placed_on: Vec<Option<usize>> = vec![None; vnfs.len()];
    let mut assigned_cores = vec![0.0; vims.len()];
    let mut assigned_memory = vec![0.0; vims.len()];
    for placement in mapping {
        let &vnf_position = vnf_positions
            .get(placement.vnf.as_str())
            .ok_or_else(|| MappingError::UnknownVnf {
                vnf: placement.vnf.clone(),
                vim: placement.vim.clone(),
            })?;
        if let Some(first) = placed_on[vnf_position] {
            return Err(MappingError::PlacedTwice {
                vnf: placement.vnf.clone(),
                first: vims[first].vim.uuid.clone(),
                second: placement.vim.clone(),
            });
        }
        let &vim_position = vim_positions
            .get(placement.vim.as_str())
            .ok_or_else(|| MappingError::UnknownVim {
                vnf: placement.vnf.clone(),
                vim: placement.vim.clone(),
            })?;
        let (vnf, vim) = (&vnfs[vnf_position], &vims[vim_position]);
        if vnf.demand.kind != vim.vim.kind {
            return Err(MappingError::KindMismatch {
                vnf: vnf.id.clone(),
                vim: vim.vim.uuid.clone(),
                needs: vnf.demand.kind,
                offers: vim.vim.kind,
            });
        }
        let missing = missing_labels(vnf, vim);
        if !missing.is_empty() {
            return Err(MappingError::MissingLabels {
                vnf: vnf.id.clone(),
                vim: vim.vim.uuid.clone(),
                missing,
            });
        }
        assigned_cores[vim_position] += vnf.demand.cores;
        assigned_memory[vim_position] += vnf.demand.memory_mb;
        let (cores, memory_mb) = (assigned_cores[vim_position], assigned_memory[vim_position]);
        if !within(vim.vim.free_cores(), cores) || !within(vim.vim.free_memory(), memory_mb) {
            return Err(MappingError::CapacityExceeded {
                vim: vim.vim.uuid.clone(),
                vnf: vnf.id.clone(),
                cores,
                memory_mb,
                free_cores: vim.vim.free_cores(),
                free_memory_mb: vim.vim.free_memory(),
            });
        }
        placed_on[vnf_position] = Some(vim_position);
    }
    match vnfs.iter().zip(&placed_on).find(|(_, vim)| vim.is_none()) {
        Some((unplaced, _)) => Err(MappingError::Unplaced(unplaced.id.clone())),
        None => Ok(()),
    }
}

/// Where the search stopped short: the most constrained VNF when `placed`
/// VNFs were placed, and what ran short.
#[derive(Debug, Clone, Copy)]
struct DeadEnd {
    placed: usize,
    vnf: usize,
    shortfall: Shortfall,
}

/// How a (sub)search ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Every VNF is assigned.
    Complete,
    /// No assignment exists below this point; the deepest dead end met.
    Stuck(DeadEnd),
}

/// The node budget ran out.
#[derive(Debug, Clone, Copy)]
struct OutOfBudget;

/// The order the strategy gives a VNF's VIMs.
#[derive(Debug)]
enum VimOrder {
    MostFreeFirst,
    LeastFreeFirst,
    /// Per VIM, its rank in the priority list (the list's length if absent).
    Ranked(Vec<usize>),
}

/// The state of the backtracking search.
#[derive(Debug)]
struct Search<'a> {
    vnfs: &'a [VnfToPlace],
    vims: &'a [LabelledVim],
    /// Per VNF, the VIMs that could host it alone, in input order.
    candidates: Vec<Vec<usize>>,
    /// Per VIM, its class: VIMs of a class are interchangeable while they
    /// have the same VNFs' worth of cores and memory assigned.
    classes: Vec<usize>,
    /// Per VNF, its rank among equally constrained VNFs: biggest first.
    tie_ranks: Vec<usize>,
    order: VimOrder,
    /// Per VNF, the VIM it is assigned to so far.
    assignment: Vec<Option<usize>>,
    /// Per VIM, the cores and memory assigned to it so far.
    assigned_cores: Vec<f64>,
    assigned_memory: Vec<f64>,
    /// Per VIM, scratch: what the unplaced VNFs that still fit it need.
    wanted_cores: Vec<f64>,
    wanted_memory: Vec<f64>,
    nodes: u64,
    node_budget: u64,
    most_placed: usize,
}

impl<'a> Search<'a> {
    fn new(
        vnfs: &'a [VnfToPlace],
        vims: &'a [LabelledVim],
        candidates: Vec<Vec<usize>>,
        fixed_vims: &[Option<usize>],
        strategy: &PlacementStrategy,
        node_budget: u64,
    ) -> Self {
        let mut by_size: Vec<usize> = (0..vnfs.len()).collect();
        by_size.sort_by(|&a, &b| {
            let (a, b) = (&vnfs[a].demand, &vnfs[b].demand);
            b.cores.total_cmp(&a.cores).then(b.memory_mb.total_cmp(&a.memory_mb))
        });
        let mut tie_ranks = vec![0; vnfs.len()];
        for (rank, &vnf) in by_size.iter().enumerate() {
            tie_ranks[vnf] = rank;
        }
        let order = match strategy {
            PlacementStrategy::LoadBalanced => VimOrder::MostFreeFirst,
            PlacementStrategy::FillFirst => VimOrder::LeastFreeFirst,
            PlacementStrategy::Priority(ids) => VimOrder::Ranked(
                vims.iter()
                    .map(|vim| ids.iter().position(|id| *id == vim.vim.uuid).unwrap_or(ids.len()))
                    .collect(),
            ),
        };
        Self {
            vnfs,
            vims,
            candidates,
            classes: vim_classes(vims, fixed_vims),
            tie_ranks,
            order,
            assignment: vec![None; vnfs.len()],
            assigned_cores: vec![0.0; vims.len()],
            assigned_memory: vec![0.0; vims.len()],
            wanted_cores: vec![0.0; vims.len()],
            wanted_memory: vec![0.0; vims.len()],
            nodes: 0,
            node_budget,
            most_placed: 0,
        }
    }

    /// Assigns the unassigned VNFs, `placed` VNFs being assigned already.
    fn extend(&mut self, placed: usize) -> Result<Outcome, OutOfBudget> {
        let vnf = match self.most_constrained_vnf(placed) {
            None => return Ok(Outcome::Complete),
            Some(Ok(vnf)) => vnf,
            Some(Err(dead_end)) => return Ok(Outcome::Stuck(dead_end)),
        };
        // What this node is when no VIM is left to try.
        let mut deepest = DeadEnd {
            placed,
            vnf,
            shortfall: Shortfall::NoRoomLeft,
        };
        let mut tried: Vec<usize> = Vec::new();
        for vim in self.ordered_choices(vnf) {
            if tried.iter().any(|&earlier| self.interchangeable(earlier, vim)) {
                continue;
            }
            tried.push(vim);
            if self.nodes == self.node_budget {
                return Err(OutOfBudget);
            }
            self.nodes += 1;
            let before = (self.assigned_cores[vim], self.assigned_memory[vim]);
            self.assigned_cores[vim] += self.vnfs[vnf].demand.cores;
            self.assigned_memory[vim] += self.vnfs[vnf].demand.memory_mb;
            self.assignment[vnf] = Some(vim);
            self.most_placed = self.most_placed.max(placed + 1);
            match self.extend(placed + 1)? {
                Outcome::Complete => return Ok(Outcome::Complete),
                Outcome::Stuck(dead_end) if dead_end.placed > deepest.placed => deepest = dead_end,
                Outcome::Stuck(_) => {}
            }
            self.assignment[vnf] = None;
            (self.assigned_cores[vim], self.assigned_memory[vim]) = before;
        }
        Ok(Outcome::Stuck(deepest))
    }

    /// The unassigned VNF with the fewest VIMs it still fits, the biggest of
    /// equals; a dead end if some VNF fits no VIM any more or if the room
    /// the unassigned VNFs could use adds up to less than they need; `None`
    /// when every VNF is assigned.
    fn most_constrained_vnf(&mut self, placed: usize) -> Option<Result<usize, DeadEnd>> {
        self.wanted_cores.fill(0.0);
        self.wanted_memory.fill(0.0);
        let (mut needed_cores, mut needed_memory) = (0.0, 0.0);
        let mut most_constrained: Option<((usize, usize), usize)> = None;
        for vnf in (0..self.vnfs.len()).filter(|&vnf| self.assignment[vnf].is_none()) {
            let demand = self.vnfs[vnf].demand;
            needed_cores += demand.cores;
            needed_memory += demand.memory_mb;
            let mut fitting = 0;
            for &vim in &self.candidates[vnf] {
                if self.fits(vnf, vim) {
                    fitting += 1;
                    self.wanted_cores[vim] += demand.cores;
                    self.wanted_memory[vim] += demand.memory_mb;
                }
            }
            let key = (fitting, self.tie_ranks[vnf]);
            if most_constrained.is_none_or(|(best, _)| key < best) {
                most_constrained = Some((key, vnf));
            }
        }
        let ((fitting, _), vnf) = most_constrained?;
        // Each VIM can take at most its room left, give or take the slack,
        // and at most what the VNFs that still fit it need.
        let (mut usable_cores, mut usable_memory) = (0.0, 0.0);
        let (mut cores_slack, mut memory_slack) = (0.0, 0.0);
        for (vim, state) in self.vims.iter().map(|vim| &vim.vim).enumerate() {
            usable_cores += (state.free_cores() - self.assigned_cores[vim])
                .min(self.wanted_cores[vim])
                .max(0.0);
            usable_memory += (state.free_memory() - self.assigned_memory[vim])
                .min(self.wanted_memory[vim])
                .max(0.0);
            cores_slack += slack(state.free_cores());
            memory_slack += slack(state.free_memory());
        }
        let shortfall = if fitting == 0 {
            Shortfall::NoRoomLeft
        } else if !within(usable_cores + cores_slack, needed_cores) {
            Shortfall::Cores {
                needed: needed_cores,
                usable: usable_cores,
            }
        } else if !within(usable_memory + memory_slack, needed_memory) {
            Shortfall::Memory {
                needed: needed_memory,
                usable: usable_memory,
            }
        } else {
            return Some(Ok(vnf));
        };
        Some(Err(DeadEnd { placed, vnf, shortfall }))
    }

    /// The VIMs the VNF fits now, in the strategy's order; input order
    /// among equals.
    fn ordered_choices(&self, vnf: usize) -> Vec<usize> {
        let mut choices: Vec<usize> = self.candidates[vnf]
            .iter()
            .copied()
            .filter(|&vim| self.fits(vnf, vim))
            .collect();
        let free_left = |vim: usize| {
            let vim_state = &self.vims[vim].vim;
            (
                vim_state.free_cores() - self.assigned_cores[vim],
                vim_state.free_memory() - self.assigned_memory[vim],
            )
        };
        let by_room = |a: usize, b: usize| {
            let ((a_cores, a_memory), (b_cores, b_memory)) = (free_left(a), free_left(b));
            a_cores.total_cmp(&b_cores).then(a_memory.total_cmp(&b_memory))
        };
        match &self.order {
            VimOrder::MostFreeFirst => choices.sort_by(|&a, &b| by_room(b, a)),
            VimOrder::LeastFreeFirst => choices.sort_by(|&a, &b| by_room(a, b)),
            VimOrder::Ranked(ranks) => choices.sort_by_key(|&vim| ranks[vim]),
        }
        choices
    }

    /// Whether the VNF fits the VIM next to what is assigned to it.
    fn fits(&self, vnf: usize, vim: usize) -> bool {
        let (demand, vim_state) = (&self.vnfs[vnf].demand, &self.vims[vim].vim);
        within(vim_state.free_cores(), self.assigned_cores[vim] + demand.cores)
            && within(vim_state.free_memory(), self.assigned_memory[vim] + demand.memory_mb)
    }

    /// Whether the two VIMs lead to the same sub-search: same class, same
    /// cores and memory assigned.
    fn interchangeable(&self, a: usize, b: usize) -> bool {
        self.classes[a] == self.classes[b]
            && self.assigned_cores[a].to_bits() == self.assigned_cores[b].to_bits()
            && self.assigned_memory[a].to_bits() == self.assigned_memory[b].to_bits()
    }
}

/// Per VIM, the position of the first VIM it is interchangeable with: same
/// kind, labels and free capacity, and no predefined mapping naming either.
fn vim_classes(vims: &[LabelledVim], fixed_vims: &[Option<usize>]) -> Vec<usize> {
    let pinned: BTreeSet<usize> = fixed_vims.iter().flatten().copied().collect();
    let alike = |a: &LabelledVim, b: &LabelledVim| {
        a.vim.kind == b.vim.kind
            && a.labels == b.labels
            && a.vim.free_cores().to_bits() == b.vim.free_cores().to_bits()
            && a.vim.free_memory().to_bits() == b.vim.free_memory().to_bits()
    };
    (0..vims.len())
        .map(|vim| {
            if pinned.contains(&vim) {
                return vim;
            }
            (0..vim)
                .find(|&earlier| !pinned.contains(&earlier) && alike(&vims[earlier], &vims[vim]))
                .unwrap_or(vim)
        })
        .collect()
}

/// The VIMs that could host the VNF alone (only the fixed one, if any), or
/// the error naming every VIM considered and why it does not qualify.
fn qualifying_vims(
    vnf: &VnfToPlace,
    fixed: Option<usize>,
    vims: &[LabelledVim],
    blacklist: &BTreeSet<String>,
) -> Result<Vec<usize>, PlacementError> {
    let considered: Vec<usize> = match fixed {
        Some(vim) => vec![vim],
        None => (0..vims.len()).collect(),
    };
    let mut qualifying = Vec::new();
    let mut rejections = Vec::new();
    for position in considered {
        let vim = &vims[position];
        let reasons = rejections_of(vnf, vim, blacklist);
        if reasons.is_empty() {
            qualifying.push(position);
        } else {
            rejections.push(VimRejection {
                vim: vim.vim.uuid.clone(),
                reasons,
            });
        }
    }
    if qualifying.is_empty() {
        return Err(PlacementError::NoQualifyingVim {
            vnf: vnf.id.clone(),
            demand: vnf.demand,
            required_labels: vnf.required_labels.clone(),
            fixed_to: fixed.map(|vim| vims[vim].vim.uuid.clone()),
            rejections,
        });
    }
    Ok(qualifying)
}

/// Every reason the VIM cannot host the VNF alone; empty when it can.
fn rejections_of(vnf: &VnfToPlace, vim: &LabelledVim, blacklist: &BTreeSet<String>) -> Vec<Rejection> {
    let mut reasons = Vec::new();
    if blacklist.contains(&vim.vim.uuid) {
        reasons.push(Rejection::Blacklisted);
    }
    if vim.vim.kind != vnf.demand.kind {
        reasons.push(Rejection::WrongKind(vim.vim.kind));
    }
    let missing = missing_labels(vnf, vim);
    if !missing.is_empty() {
        reasons.push(Rejection::MissingLabels(missing));
    }
    if !within(vim.vim.free_cores(), vnf.demand.cores) {
        reasons.push(Rejection::TooFewCores(vim.vim.free_cores()));
    }
    if !within(vim.vim.free_memory(), vnf.demand.memory_mb) {
        reasons.push(Rejection::TooLittleMemory(vim.vim.free_memory()));
    }
    reasons
}

/// Why none of `vims` could host one instance of a VNF with this demand,
/// even with nothing placed on it: "needs 2 cores and 4096 MB on a vm VIM;
/// docker-a is a container VIM; ...". `None` when one could. Labels are
/// left out: an instantiation brings them.
pub fn fits_no_vim(demand: &Demand, vims: &[Vim]) -> Option<String> {
    let vnf = VnfToPlace {
        id: String::new(),
        demand: *demand,
        required_labels: BTreeSet::new(),
    };
    let nothing_blacklisted = BTreeSet::new();
    let mut rejections = Vec::with_capacity(vims.len());
    for vim in vims {
        let empty = LabelledVim {
            vim: Vim {
                core_used: 0.0,
                memory_used: 0.0,
                ..vim.clone()
            },
            labels: BTreeSet::new(),
        };
        let reasons = rejections_of(&vnf, &empty, &nothing_blacklisted);
        if reasons.is_empty() {
            return None;
        }
        rejections.push(VimRejection {
            vim: vim.uuid.clone(),
            reasons,
        });
    }
    Some(format!(
        "needs {}; {}",
        describe_need(demand, &BTreeSet::new()),
        describe_rejections(&rejections)
    ))
}

/// The labels the VNF requires that the VIM does not hold.
fn missing_labels(vnf: &VnfToPlace, vim: &LabelledVim) -> BTreeSet<String> {
    vnf.required_labels.difference(&vim.labels).cloned().collect()
}

/// Each item's position by id, or the first id met twice.
fn positions_by_id<'a, T>(
    items: &'a [T],
    id_of: impl Fn(&'a T) -> &'a str,
) -> Result<HashMap<&'a str, usize>, &'a str> {
    let mut positions = HashMap::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        let id = id_of(item);
        if positions.insert(id, position).is_some() {
            return Err(id);
        }
    }
    Ok(positions)
}

/// How much over `capacity` still counts as fitting.
fn slack(capacity: f64) -> f64 {
    CAPACITY_SLACK * capacity.abs().max(1.0)
}

/// Whether `amount` fits in `capacity`.
fn within(capacity: f64, amount: f64) -> bool {
    amount <= capacity + slack(capacity)
}

/// Whether a demanded amount is one placement can reason about.
fn is_valid_amount(amount: f64) -> bool {
    amount.is_finite() && amount >= 0.0
}

/// Labels, comma separated.
fn join(labels: &BTreeSet<String>) -> String {
    labels.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// ", fixed to VIM," when a predefined mapping fixes the VNF.
fn fixed_clause(fixed_to: &Option<String>) -> String {
    fixed_to
        .as_ref()
        .map(|vim| format!(", fixed to {vim},"))
        .unwrap_or_default()
}

/// "4 cores and 8000 MB on a vm VIM with labels {...}".
fn describe_need(demand: &Demand, required_labels: &BTreeSet<String>) -> String {
    let need = format!(
        "{} cores and {} MB on a {} VIM",
        demand.cores, demand.memory_mb, demand.kind
    );
    if required_labels.is_empty() {
        need
    } else {
        format!("{need} with labels {{{}}}", join(required_labels))
    }
}

/// Every VIM that does not qualify and why, semicolon separated.
fn describe_rejections(rejections: &[VimRejection]) -> String {
    if rejections.is_empty() {
        return "there are no VIMs".to_owned();
    }
    rejections
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn link(link: &str, site: LinkSite) -> LinkPlacement {
        LinkPlacement {
            link: link.into(),
            site,
        }
    }

    #[test]
    fn a_link_placement_must_name_an_nsd_link_once_with_every_end_on_its_vim() {
        let nsd: Nsd = serde_json::from_value(json!({"virtual_links": [
            {"id": "data", "connection_points_reference": ["web:eth0", "cache:eth0", "input"]},
            {"id": "mgmt", "connection_points_reference": ["web:mgmt", "mgmt"]},
        ]}))
        .unwrap();
        let sites = [("web", "a"), ("web", "a"), ("cache", "a"), ("db", "b")];
        let inside = |vim: &str| LinkSite::Vim(vim.into());
        assert!(validate_links(&[link("data", inside("a")), link("mgmt", inside("a"))], &nsd, &sites).is_ok());
        assert!(
            validate_links(&[], &nsd, &sites).is_ok(),
            "links left out are the orchestrator's"
        );
        for (links, error) in [
            (vec![link("data", inside("b"))], "VNF web runs on a"),
            (vec![link("nope", inside("a"))], "the NSD has no virtual link nope"),
            (
                vec![link("mgmt", inside("a")), link("mgmt", inside("a"))],
                "placed twice",
            ),
            (
                vec![link("data", LinkSite::Wim("w".into()))],
                "WIM w, which the infrastructure does not have",
            ),
        ] {
            let Err(refused) = validate_links(&links, &nsd, &sites) else {
                panic!("{links:?} must be refused");
            };
            assert!(refused.contains(error), "{refused}");
        }
        // One instance elsewhere is enough to refuse.
        let split = [("web", "a"), ("web", "b"), ("cache", "a")];
        assert!(validate_links(&[link("data", inside("a"))], &nsd, &split).is_err());
    }
    #[test]
    fn a_demand_that_fits_no_empty_vim_says_why_for_each() {
        let demand = Demand {
            cores: 8.0,
            memory_mb: 4000.0,
            kind: VimKind::Vm,
        };
        let small = Vim::new("small", VimKind::Vm, 4.0, 2000.0);
        let pod = Vim::new("pod", VimKind::Container, 64.0, 64_000.0);
        assert_eq!(
            fits_no_vim(&demand, &[small.clone(), pod.clone()]).as_deref(),
            Some(
                "needs 8 cores and 4000 MB on a vm VIM; small has 4 free cores and has 2000 MB free; \
                 pod is a container VIM"
            )
        );
        // Capacity in use does not count: onboarding looks at empty VIMs.
        let mut busy = Vim::new("busy", VimKind::Vm, 8.0, 4000.0);
        busy.core_used = 8.0;
        assert_eq!(fits_no_vim(&demand, &[small, busy]), None);
        assert_eq!(
            fits_no_vim(&demand, &[]).as_deref(),
            Some("needs 8 cores and 4000 MB on a vm VIM; there are no VIMs")
        );
    }

    use proptest::prelude::{Just, ProptestConfig, prop, prop_assert, prop_assert_eq, prop_oneof, proptest};
    use proptest::strategy::Strategy;

    const WEST: &str = "tosca.policies.Placement.Geolocation:properties:region:us-west-1";
    const EDGE: &str = "tosca.policies.Placement.Tier:properties:tier:edge";

    fn vim(id: &str, kind: VimKind, free_cores: f64, free_memory_mb: f64) -> LabelledVim {
        LabelledVim {
            vim: Vim::new(id, kind, free_cores, free_memory_mb),
            labels: BTreeSet::new(),
        }
    }

    fn vm_vim(id: &str, free_cores: f64) -> LabelledVim {
        vim(id, VimKind::Vm, free_cores, 100_000.0)
    }

    fn with_labels(mut vim: LabelledVim, labels: &[&str]) -> LabelledVim {
        vim.labels = labels.iter().map(|label| (*label).to_owned()).collect();
        vim
    }

    fn vnf(id: &str, kind: VimKind, cores: f64, memory_mb: f64) -> VnfToPlace {
        VnfToPlace {
            id: id.to_owned(),
            demand: Demand { cores, memory_mb, kind },
            required_labels: BTreeSet::new(),
        }
    }

    fn vm_vnf(id: &str, cores: f64) -> VnfToPlace {
        vnf(id, VimKind::Vm, cores, 1_000.0)
    }

    fn requiring(mut vnf: VnfToPlace, labels: &[&str]) -> VnfToPlace {
        vnf.required_labels = labels.iter().map(|label| (*label).to_owned()).collect();
        vnf
    }

    fn with_strategy(strategy: PlacementStrategy) -> PlacementOptions {
        PlacementOptions {
            strategy,
            ..PlacementOptions::default()
        }
    }

    /// The chosen VIM of each VNF, in order.
    fn chosen(vnfs: &[VnfToPlace], vims: &[LabelledVim], options: &PlacementOptions) -> Vec<String> {
        let mapping = place(vnfs, vims, options).unwrap();
        validate_mapping(&mapping, vnfs, vims).unwrap();
        let ids: Vec<&str> = mapping.iter().map(|placement| placement.vnf.as_str()).collect();
        let expected: Vec<&str> = vnfs.iter().map(|vnf| vnf.id.as_str()).collect();
        assert_eq!(ids, expected, "the mapping follows the VNFs' order");
        mapping.into_iter().map(|placement| placement.vim).collect()
    }

    fn placement(vnf: &str, vim: &str) -> VnfPlacement {
        VnfPlacement {
            vnf: vnf.to_owned(),
            vim: vim.to_owned(),
        }
    }

    #[test]
    fn load_balanced_prefers_the_most_free_cores_and_accounts_for_earlier_vnfs() {
        let vims = [vm_vim("small", 4.0), vm_vim("big", 6.0)];
        let vnfs = [vm_vnf("a", 4.0), vm_vnf("b", 2.0)];
        // a takes 4 of big's 6 cores, leaving small (4 free) the better choice for b.
        assert_eq!(chosen(&vnfs, &vims, &PlacementOptions::default()), ["big", "small"]);
    }

    #[test]
    fn load_balanced_breaks_core_ties_by_free_memory_then_input_order() {
        let vims = [
            vim("first", VimKind::Vm, 4.0, 2_000.0),
            vim("roomy", VimKind::Vm, 4.0, 8_000.0),
            vim("twin", VimKind::Vm, 4.0, 8_000.0),
        ];
        assert_eq!(
            chosen(&[vm_vnf("a", 1.0)], &vims, &PlacementOptions::default()),
            ["roomy"]
        );
    }

    #[test]
    fn fill_first_packs_onto_the_fullest_vim_that_still_fits() {
        let vims = [vm_vim("empty", 16.0), vm_vim("busy", 4.0), vm_vim("full", 1.0)];
        let vnfs = [vm_vnf("a", 2.0), vm_vnf("b", 2.0), vm_vnf("c", 2.0)];
        let options = with_strategy(PlacementStrategy::FillFirst);
        assert_eq!(chosen(&vnfs, &vims, &options), ["busy", "busy", "empty"]);
    }

    #[test]
    fn priority_follows_the_list_then_the_unlisted_vims_in_input_order() {
        let vims = [vm_vim("unlisted", 8.0), vm_vim("second", 8.0), vm_vim("first", 2.0)];
        let vnfs = [vm_vnf("a", 2.0), vm_vnf("b", 4.0), vm_vnf("c", 4.0), vm_vnf("d", 4.0)];
        let options = with_strategy(PlacementStrategy::Priority(vec!["first".into(), "second".into()]));
        // The biggest VNFs go first: b and c fill second, d spills to the unlisted VIM, a fits first.
        assert_eq!(
            chosen(&vnfs, &vims, &options),
            ["first", "second", "second", "unlisted"]
        );
    }

    #[test]
    fn a_vnf_targeted_by_a_policy_goes_to_a_vim_holding_all_its_labels() {
        let vims = [
            with_labels(vm_vim("roomy-unlabelled", 64.0), &[]),
            with_labels(vm_vim("west-only", 32.0), &[WEST]),
            with_labels(vm_vim("west-edge", 2.0), &[WEST, EDGE]),
        ];
        let vnfs = [requiring(vm_vnf("edge-cache", 2.0), &[WEST, EDGE]), vm_vnf("free", 2.0)];
        assert_eq!(
            chosen(&vnfs, &vims, &PlacementOptions::default()),
            ["west-edge", "roomy-unlabelled"]
        );
    }

    #[test]
    fn never_puts_a_vnf_on_a_vim_of_the_other_kind() {
        let vims = [
            vim("k8s", VimKind::Container, 64.0, 1_000_000.0),
            vim("os", VimKind::Vm, 2.0, 4_000.0),
        ];
        let vnfs = [
            vnf("vm", VimKind::Vm, 1.0, 1.0),
            vnf("cnf", VimKind::Container, 1.0, 1.0),
        ];
        assert_eq!(chosen(&vnfs, &vims, &PlacementOptions::default()), ["os", "k8s"]);
    }

    #[test]
    fn predefined_mappings_are_kept_and_their_capacity_counted() {
        let vims = [vm_vim("big", 8.0), vm_vim("small", 4.0)];
        let vnfs = [vm_vnf("free", 4.0), vm_vnf("pinned", 6.0)];
        let options = PlacementOptions {
            fixed: BTreeMap::from([("pinned".into(), "big".into())]),
            ..PlacementOptions::default()
        };
        assert_eq!(chosen(&vnfs, &vims, &options), ["small", "big"]);
    }

    #[test]
    fn a_predefined_mapping_that_cannot_hold_says_why() {
        let vims = [vm_vim("big", 8.0), vm_vim("small", 2.0)];
        let options = PlacementOptions {
            fixed: BTreeMap::from([("pinned".into(), "small".into())]),
            ..PlacementOptions::default()
        };
        let error = place(&[vm_vnf("pinned", 4.0)], &vims, &options).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Unable to perform placement: VNF pinned, fixed to small, needs 4 cores and 1000 MB on a vm VIM: \
             no VIM qualifies: small has 2 free cores"
        );
    }

    #[test]
    fn predefined_mappings_must_name_known_vnfs_and_vims() {
        let vims = [vm_vim("vim", 8.0)];
        let vnfs = [vm_vnf("a", 1.0)];
        let unknown_vnf = PlacementOptions {
            fixed: BTreeMap::from([("ghost".into(), "vim".into())]),
            ..PlacementOptions::default()
        };
        assert!(matches!(
            place(&vnfs, &vims, &unknown_vnf),
            Err(PlacementError::FixedUnknownVnf { vnf, .. }) if vnf == "ghost"
        ));
        let unknown_vim = PlacementOptions {
            fixed: BTreeMap::from([("a".into(), "nowhere".into())]),
            ..PlacementOptions::default()
        };
        assert!(matches!(
            place(&vnfs, &vims, &unknown_vim),
            Err(PlacementError::FixedUnknownVim { vim, .. }) if vim == "nowhere"
        ));
    }

    #[test]
    fn blacklisted_vims_are_avoided() {
        let vims = [vm_vim("banned", 64.0), vm_vim("allowed", 2.0)];
        let options = PlacementOptions {
            blacklist: BTreeSet::from(["banned".into(), "not-in-the-topology".into()]),
            ..PlacementOptions::default()
        };
        assert_eq!(chosen(&[vm_vnf("a", 2.0)], &vims, &options), ["allowed"]);
        let error = place(&[vm_vnf("a", 4.0)], &vims, &options).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("banned is blacklisted; allowed has 2 free cores"),
            "{error}"
        );
    }

    #[test]
    fn a_vnf_that_fits_nowhere_gets_every_vims_reasons() {
        let vims = [
            vim("vim-a", VimKind::Container, 64.0, 64_000.0),
            with_labels(vim("vim-b", VimKind::Vm, 2.0, 4_000.0), &[WEST]),
            vim("vim-c", VimKind::Vm, 16.0, 16_000.0),
        ];
        let vnfs = [
            vm_vnf("fits", 1.0),
            requiring(vnf("x", VimKind::Vm, 4.0, 8_000.0), &[WEST]),
        ];
        let error = place(&vnfs, &vims, &PlacementOptions::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "Unable to perform placement: VNF x needs 4 cores and 8000 MB on a vm VIM with labels {{{WEST}}}: \
                 no VIM qualifies: vim-a is a container VIM and lacks label {WEST}; \
                 vim-b has 2 free cores and has 4000 MB free; vim-c lacks label {WEST}"
            )
        );
        assert!(matches!(error, PlacementError::NoQualifyingVim { vnf, .. } if vnf == "x"));
    }

    #[test]
    fn with_no_vims_nothing_qualifies_but_no_vnfs_need_none() {
        let error = place(&[vm_vnf("a", 1.0)], &[], &PlacementOptions::default()).unwrap_err();
        assert!(
            error.to_string().ends_with("no VIM qualifies: there are no VIMs"),
            "{error}"
        );
        assert_eq!(place(&[], &[], &PlacementOptions::default()), Ok(Vec::new()));
    }

    #[test]
    fn the_search_backtracks_when_the_preferred_vim_leads_to_a_dead_end() {
        // Load balancing puts c (3 cores) on big, leaving 1 + 3 cores for a and
        // b (2 each): only c on small and a, b on big fits all three.
        let vims = [vm_vim("big", 4.0), vm_vim("small", 3.0)];
        let vnfs = [vm_vnf("a", 2.0), vm_vnf("b", 2.0), vm_vnf("c", 3.0)];
        for strategy in [
            PlacementStrategy::LoadBalanced,
            PlacementStrategy::FillFirst,
            PlacementStrategy::Priority(vec!["big".into()]),
        ] {
            assert_eq!(chosen(&vnfs, &vims, &with_strategy(strategy)), ["big", "big", "small"]);
        }
    }

    #[test]
    fn fractional_demands_fill_a_vim_exactly() {
        let vims = [vim("vim", VimKind::Vm, 0.3, 0.3)];
        let vnfs = [vnf("a", VimKind::Vm, 0.1, 0.1), vnf("b", VimKind::Vm, 0.2, 0.2)];
        assert_eq!(chosen(&vnfs, &vims, &PlacementOptions::default()), ["vim", "vim"]);
    }

    #[test]
    fn when_each_vnf_fits_alone_but_not_together_the_joint_capacity_is_named() {
        let vims = [vm_vim("vim-a", 4.0), vm_vim("vim-b", 4.0)];
        let vnfs = [vm_vnf("x", 3.0), vm_vnf("y", 3.0), vm_vnf("z", 3.0)];
        let error = place(&vnfs, &vims, &PlacementOptions::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Unable to perform placement: each VNF fits some VIM on its own, but the VIMs' joint capacity is \
             exhausted: the search failed at VNF x (alone it fits vim-a, vim-b) with 0 of 3 VNFs placed: \
             the unplaced VNFs need 9 cores, the VIMs they fit can take 8"
        );
    }

    #[test]
    fn the_joint_capacity_error_names_the_vnf_left_without_room() {
        // p and r both need the WEST VIM, which only holds p: the total cores
        // would do, but r finds no room once p is placed.
        let vims = [
            with_labels(vm_vim("west", 3.0), &[WEST]),
            vm_vim("b", 2.0),
            vm_vim("c", 3.0),
        ];
        let vnfs = [
            requiring(vm_vnf("p", 3.0), &[WEST]),
            requiring(vm_vnf("r", 1.0), &[WEST]),
            vm_vnf("s", 2.0),
            vm_vnf("t", 2.0),
        ];
        let error = place(&vnfs, &vims, &PlacementOptions::default()).unwrap_err();
        assert_eq!(
            error,
            PlacementError::JointCapacityExhausted {
                vnf: "r".into(),
                fits_alone_on: vec!["west".into()],
                placed: 1,
                total: 4,
                shortfall: Shortfall::NoRoomLeft,
            }
        );
        assert!(
            error.to_string().ends_with(
                "failed at VNF r (alone it fits west) with 1 of 4 VNFs placed: no VIM it fits has room left for it"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_search_stops_at_its_node_budget() {
        let vims = [vm_vim("big", 4.0), vm_vim("small", 3.0)];
        let vnfs = [vm_vnf("a", 2.0), vm_vnf("b", 2.0), vm_vnf("c", 3.0)];
        let options = PlacementOptions {
            node_budget: 1,
            ..PlacementOptions::default()
        };
        let error = place(&vnfs, &vims, &options).unwrap_err();
        assert_eq!(
            error,
            PlacementError::BudgetExhausted {
                budget: 1,
                placed: 1,
                total: 3
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("Unable to perform placement: the search gave up after 1 nodes")
        );
    }

    #[test]
    fn many_interchangeable_vims_do_not_blow_up_an_infeasible_search() {
        // 40 VNFs of 3 cores on 30 VIMs of 4 cores: only 30 fit. Trying one of
        // the interchangeable VIMs per step decides this in a few nodes.
        let vims: Vec<LabelledVim> = (0..30).map(|vim| vm_vim(&format!("vim-{vim}"), 4.0)).collect();
        let vnfs: Vec<VnfToPlace> = (0..40).map(|vnf| vm_vnf(&format!("vnf-{vnf}"), 3.0)).collect();
        let options = PlacementOptions {
            node_budget: 1_000,
            ..PlacementOptions::default()
        };
        assert!(matches!(
            place(&vnfs, &vims, &options),
            Err(PlacementError::JointCapacityExhausted { .. })
        ));
    }

    #[test]
    fn inconsistent_input_is_refused() {
        let vims = [vm_vim("vim", 8.0)];
        assert_eq!(
            place(
                &[vm_vnf("a", 1.0), vm_vnf("a", 1.0)],
                &vims,
                &PlacementOptions::default()
            ),
            Err(PlacementError::DuplicateVnf("a".into()))
        );
        assert_eq!(
            place(
                &[vm_vnf("a", 1.0)],
                &[vm_vim("vim", 1.0), vm_vim("vim", 2.0)],
                &PlacementOptions::default()
            ),
            Err(PlacementError::DuplicateVim("vim".into()))
        );
        assert!(matches!(
            place(&[vm_vnf("a", -1.0)], &vims, &PlacementOptions::default()),
            Err(PlacementError::InvalidDemand { vnf, .. }) if vnf == "a"
        ));
        assert!(matches!(
            place(
                &[vnf("a", VimKind::Vm, 1.0, f64::NAN)],
                &vims,
                &PlacementOptions::default()
            ),
            Err(PlacementError::InvalidDemand { .. })
        ));
    }

    #[test]
    fn validate_mapping_accepts_a_sound_answer_in_any_order() {
        let vims = [vm_vim("a", 4.0), vm_vim("b", 4.0)];
        let vnfs = [vm_vnf("x", 2.0), vm_vnf("y", 2.0), vm_vnf("z", 4.0)];
        let mapping = [placement("z", "b"), placement("x", "a"), placement("y", "a")];
        assert_eq!(validate_mapping(&mapping, &vnfs, &vims), Ok(()));
    }

    #[test]
    fn validate_mapping_names_what_is_wrong() {
        let vims = [
            with_labels(vm_vim("west", 4.0), &[WEST]),
            vm_vim("plain", 4.0),
            vim("k8s", VimKind::Container, 4.0, 4_000.0),
        ];
        let vnfs = [requiring(vm_vnf("x", 2.0), &[WEST]), vm_vnf("y", 3.0)];
        let check = |mapping: &[VnfPlacement]| validate_mapping(mapping, &vnfs, &vims).unwrap_err();

        assert_eq!(
            check(&[placement("x", "west"), placement("y", "west")]).to_string(),
            "placement answer overloads VIM west with VNF y: its VNFs so far need 5 cores and 2000 MB, \
             4 cores and 100000 MB are free"
        );
        assert_eq!(
            check(&[placement("x", "plain"), placement("y", "west")]),
            MappingError::MissingLabels {
                vnf: "x".into(),
                vim: "plain".into(),
                missing: BTreeSet::from([WEST.into()]),
            }
        );
        assert_eq!(
            check(&[placement("x", "west"), placement("y", "k8s")]).to_string(),
            "placement answer puts vm VNF y on k8s, a container VIM"
        );
        assert_eq!(check(&[placement("x", "west")]), MappingError::Unplaced("y".into()));
        assert_eq!(
            check(&[placement("x", "west"), placement("x", "plain")]),
            MappingError::PlacedTwice {
                vnf: "x".into(),
                first: "west".into(),
                second: "plain".into(),
            }
        );
        assert_eq!(
            check(&[placement("ghost", "west")]),
            MappingError::UnknownVnf {
                vnf: "ghost".into(),
                vim: "west".into(),
            }
        );
        assert_eq!(
            check(&[placement("x", "nowhere")]),
            MappingError::UnknownVim {
                vnf: "x".into(),
                vim: "nowhere".into(),
            }
        );
    }

    /// A small random placement problem.
    #[derive(Debug, Clone)]
    struct Case {
        vnfs: Vec<VnfToPlace>,
        vims: Vec<LabelledVim>,
        options: PlacementOptions,
    }

    /// Virtual machines `vm_weight` times as often as containers.
    fn kinds(vm_weight: u32) -> impl Strategy<Value = VimKind> {
        prop_oneof![vm_weight => Just(VimKind::Vm), 1 => Just(VimKind::Container)]
    }

    fn label_sets() -> impl Strategy<Value = BTreeSet<String>> {
        prop::sample::subsequence(vec![WEST, EDGE], 0..=2)
            .prop_map(|labels| labels.into_iter().map(str::to_owned).collect())
    }

    fn required_label_sets() -> impl Strategy<Value = BTreeSet<String>> {
        prop_oneof![6 => Just(BTreeSet::new()), 1 => label_sets()]
    }

    /// 1 to 4 VIMs of 2 to 8 cores and 2048 to 8192 MB, up to half of it in
    /// use; up to 6 VNFs of up to 3 cores (in halves) and 3072 MB: tight
    /// enough that many cases hinge on how VNFs share the VIMs. Amounts are
    /// exact in binary, so the brute force compares them without slack.
    fn cases() -> impl Strategy<Value = Case> {
        let vims = prop::collection::vec((kinds(2), 2u8..=8, 0u8..=8, 4u8..=16, 0u8..=16, label_sets()), 1..=4);
        let vnfs = prop::collection::vec(
            (
                kinds(6),
                0u8..=6,
                0u8..=6,
                required_label_sets(),
                prop::option::weighted(0.05, 0usize..4),
            ),
            0..=6,
        );
        let strategies = (0u8..3, Just(vec![0, 1, 2, 3]).prop_shuffle());
        let blacklist = prop::collection::vec(prop::bool::weighted(0.05), 4);
        (vims, vnfs, strategies, blacklist).prop_map(|(vims, vnfs, (strategy, ranking), blacklist)| {
            let vims: Vec<LabelledVim> = vims
                .into_iter()
                .enumerate()
                .map(
                    |(position, (kind, cores, cores_used, memory, memory_used, labels))| LabelledVim {
                        vim: Vim {
                            uuid: format!("vim-{position}"),
                            kind,
                            core_total: f64::from(cores),
                            core_used: f64::from(cores_used % (cores + 1) / 2),
                            memory_total: 512.0 * f64::from(memory),
                            memory_used: 512.0 * f64::from(memory_used % (memory + 1) / 2),
                            name: None,
                            city: None,
                            endpoint: None,
                            other: Default::default(),
                        },
                        labels,
                    },
                )
                .collect();
            let vim_id = |position: usize| format!("vim-{}", position % vims.len());
            let mut fixed = BTreeMap::new();
            let vnfs: Vec<VnfToPlace> = vnfs
                .into_iter()
                .enumerate()
                .map(|(position, (kind, half_cores, memory, required_labels, pinned))| {
                    let id = format!("vnf-{position}");
                    if let Some(vim) = pinned {
                        fixed.insert(id.clone(), vim_id(vim));
                    }
                    VnfToPlace {
                        id,
                        demand: Demand {
                            cores: f64::from(half_cores) / 2.0,
                            memory_mb: 512.0 * f64::from(memory),
                            kind,
                        },
                        required_labels,
                    }
                })
                .collect();
            let strategy = match strategy {
                0 => PlacementStrategy::LoadBalanced,
                1 => PlacementStrategy::FillFirst,
                _ => PlacementStrategy::Priority(ranking.into_iter().take(vims.len()).map(vim_id).collect()),
            };
            let blacklist = (0..vims.len())
                .filter(|&position| blacklist[position])
                .map(vim_id)
                .collect();
            Case {
                vnfs,
                vims,
                options: PlacementOptions {
                    strategy,
                    fixed,
                    blacklist,
                    node_budget: DEFAULT_NODE_BUDGET,
                },
            }
        })
    }

    /// Whether VNF `vnf` may go on VIM `vim` in this case, capacity aside.
    fn allowed(case: &Case, vnf: &VnfToPlace, vim: &LabelledVim) -> bool {
        !case.options.blacklist.contains(&vim.vim.uuid)
            && case
                .options
                .fixed
                .get(&vnf.id)
                .is_none_or(|fixed| *fixed == vim.vim.uuid)
            && vim.vim.kind == vnf.demand.kind
            && vnf.required_labels.is_subset(&vim.labels)
    }

    /// Whether no VIM gets more than it has free, summing exactly.
    fn within_capacity(case: &Case, vim_of: impl Fn(usize) -> usize) -> bool {
        case.vims.iter().enumerate().all(|(position, vim)| {
            let on_vim = (0..case.vnfs.len()).filter(|&vnf| vim_of(vnf) == position);
            let cores: f64 = on_vim.clone().map(|vnf| case.vnfs[vnf].demand.cores).sum();
            let memory: f64 = on_vim.map(|vnf| case.vnfs[vnf].demand.memory_mb).sum();
            cores <= vim.vim.free_cores() && memory <= vim.vim.free_memory()
        })
    }

    /// Tries every assignment of VNFs to VIMs.
    fn brute_force_finds_a_placement(case: &Case) -> bool {
        let (vnfs, vims) = (case.vnfs.len(), case.vims.len());
        let assignments = vims.pow(u32::try_from(vnfs).unwrap());
        (0..assignments).any(|code| {
            let vim_of = |vnf: usize| code / vims.pow(u32::try_from(vnf).unwrap()) % vims;
            (0..vnfs).all(|vnf| allowed(case, &case.vnfs[vnf], &case.vims[vim_of(vnf)]))
                && within_capacity(case, vim_of)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_placement_found_respects_capacity_kinds_labels_and_constraints(case in cases()) {
            if let Ok(mapping) = place(&case.vnfs, &case.vims, &case.options) {
                prop_assert_eq!(validate_mapping(&mapping, &case.vnfs, &case.vims), Ok(()));
                prop_assert_eq!(mapping.len(), case.vnfs.len());
                let position_of = |id: &str| case.vims.iter().position(|vim| vim.vim.uuid == id).unwrap();
                for (vnf, placement) in case.vnfs.iter().zip(&mapping) {
                    prop_assert_eq!(&placement.vnf, &vnf.id);
                    prop_assert!(allowed(&case, vnf, &case.vims[position_of(&placement.vim)]), "{placement:?}");
                }
                prop_assert!(within_capacity(&case, |vnf| position_of(&mapping[vnf].vim)));
            }
        }

        #[test]
        fn place_succeeds_exactly_when_brute_force_finds_a_placement(case in cases()) {
            let feasible = brute_force_finds_a_placement(&case);
            match place(&case.vnfs, &case.vims, &case.options) {
                Ok(mapping) => prop_assert!(feasible, "placed {mapping:?} where brute force found nothing"),
                Err(error) => {
                    prop_assert!(!feasible, "brute force found a placement, place said: {error}");
                    prop_assert!(
                        matches!(error, PlacementError::NoQualifyingVim { .. } | PlacementError::JointCapacityExhausted { .. }),
                        "{error}"
                    );
                }
            }
        }
    }
}
