//! How long the default placement takes on a service bigger than 5GTANGO
//! ones usually are: 100 VNFs on 50 VIMs, some VNFs pinned to a region by a
//! Domino label. Prints p50 and p99 per strategy as a Markdown table.
//!
//! `cargo bench -p wasmano --bench placement`

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tango_model::descriptor::{Demand, VimKind};
use tango_model::topology::Vim;
use wasmano::placement::{LabelledVim, PlacementOptions, PlacementStrategy, VnfToPlace, place, validate_mapping};

const VIMS: usize = 50;
const VNFS: usize = 100;
const WARM_UP: usize = 20;
const ITERATIONS: usize = 500;
const REGIONS: [&str; 3] = ["us-west-1", "eu-central-1", "ap-south-1"];

/// splitmix64: the same numbers on every run.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A whole number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> f64 {
        (low + self.next() % (high - low + 1)) as f64
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn region_label(region: &str) -> String {
    format!("tosca.policies.Placement.Geolocation:properties:region:{region}")
}

fn topology(numbers: &mut Numbers) -> Vec<LabelledVim> {
    (0..VIMS)
        .map(|position| {
            let kind = if position % 3 == 2 {
                VimKind::Container
            } else {
                VimKind::Vm
            };
            let core_total = numbers.between(16, 64);
            let memory_total = numbers.between(32, 256) * 1_000.0;
            let mut vim = Vim::new(format!("vim-{position:02}"), kind, core_total, memory_total);
            vim.core_used = (core_total * numbers.between(0, 40) / 100.0).floor();
            vim.memory_used = (memory_total * numbers.between(0, 40) / 100.0).floor();
            LabelledVim {
                vim,
                // Every region has VIMs of both kinds.
                labels: BTreeSet::from([region_label(REGIONS[position / 3 % REGIONS.len()])]),
            }
        })
        .collect()
}

fn service(numbers: &mut Numbers) -> Vec<VnfToPlace> {
    (0..VNFS)
        .map(|position| {
            let kind = if numbers.chance(30) {
                VimKind::Container
            } else {
                VimKind::Vm
            };
            let required_labels = if numbers.chance(20) {
                let region = REGIONS[(numbers.next() % REGIONS.len() as u64) as usize];
                BTreeSet::from([region_label(region)])
            } else {
                BTreeSet::new()
            };
            VnfToPlace {
                id: format!("vnf-{position:03}"),
                demand: Demand {
                    cores: numbers.between(1, 8),
                    memory_mb: numbers.between(1, 16) * 1_000.0,
                    kind,
                },
                required_labels,
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

fn main() {
    let mut numbers = Numbers(0x5747_414E_474F);
    let vims = topology(&mut numbers);
    let vnfs = service(&mut numbers);
    let mut priority: Vec<String> = vims.iter().map(|vim| vim.vim.uuid.clone()).collect();
    priority.reverse();
    let strategies = [
        ("load balanced", PlacementStrategy::LoadBalanced),
        ("fill first", PlacementStrategy::FillFirst),
        ("priority", PlacementStrategy::Priority(priority)),
    ];

    println!("{VNFS} VNFs on {VIMS} VIMs, {ITERATIONS} iterations each\n");
    println!("| strategy | p50 | p99 |");
    println!("|---|---:|---:|");
    for (name, strategy) in strategies {
        let options = PlacementOptions {
            strategy,
            ..PlacementOptions::default()
        };
        let mapping = place(&vnfs, &vims, &options).unwrap_or_else(|error| panic!("{error}"));
        validate_mapping(&mapping, &vnfs, &vims).unwrap_or_else(|error| panic!("{error}"));
        for _ in 0..WARM_UP {
            std::hint::black_box(place(&vnfs, &vims, &options).ok());
        }
        let mut times: Vec<Duration> = (0..ITERATIONS)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(place(std::hint::black_box(&vnfs), &vims, &options).ok());
                start.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "| {name} | {:.1} µs | {:.1} µs |",
            percentile(&times, 50).as_secs_f64() * 1e6,
            percentile(&times, 99).as_secs_f64() * 1e6
        );
    }
}
