//! Benchmark of onboarding (release build):
//! `cargo bench -p wasmano --bench onboarding`.
//!
//! The bundled example package plus a fifth module (five WebAssembly
//! managers, four descriptors): onboarding it into an empty catalogue with
//! a cold precompiled cache (every module compiled), with a warm cache (filled
//! the way a running orchestrator fills it: by loading the modules to run
//! them; onboarding itself reads the cache but never writes it), and again
//! into a catalogue that already holds it (a no-op).

#[path = "../../tests/support/mod.rs"]
mod support;
#[path = "../../tests/support/package.rs"]
mod support_package;

use std::path::Path;
use std::time::{Duration, Instant};

use wasmano::catalogue::Catalogue;
use wasmano::package::{Package, onboard};
use wasmano_host::{Host, HostConfig};

use support_package::write_bundled_package;

/// The package's modules.
fn modules() -> [&'static Path; 5] {
    let guests = support::guests();
    [
        &guests.placement,
        &guests.configure,
        &guests.state,
        &guests.vnf_manager,
        &guests.hostile,
    ]
}

/// Fills a precompiled cache with the package's modules.
fn fill_cache(cache: &Path) {
    let host = Host::new(HostConfig {
        cache_dir: Some(cache.to_owned()),
        max_instances: 8,
        ..HostConfig::default()
    })
    .expect("host");
    for module in modules() {
        host.load_file(module, None).expect("load module");
    }
}

fn package(dir: &Path) -> Package {
    let root = write_bundled_package(&dir.join("package"), &modules(), |name, text| {
        if name == "nsd.yml" {
            // A fifth manager, declared for no event: onboarded, never called.
            text.replacen(
                "service_specific_managers:\n",
                "service_specific_managers:\n  - id: \"audit\"\n    wasm:\n      module: \"modules/sm_hostile.wasm\"\n",
                1,
            )
        } else {
            text
        }
    });
    Package::read(&root).expect("read package")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Onboards the package into the catalogue in `data`, compiling through the
/// precompiled cache in `cache`; returns how long onboarding took.
fn onboard_once(package: &Package, cache: &Path, data: &Path) -> Duration {
    let host_config = HostConfig {
        cache_dir: Some(cache.to_owned()),
        max_instances: 8,
        ..HostConfig::default()
    };
    let host = Host::new(host_config).expect("host");
    let catalogue = Catalogue::open(data).expect("catalogue");
    let started = Instant::now();
    onboard(package, &catalogue, &host).expect("onboard");
    started.elapsed()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let package = package(dir.path());
    let path = |name: String| dir.path().join(name);
    let cold: Vec<Duration> = (0..5)
        .map(|run| {
            onboard_once(
                &package,
                &path(format!("cold-cache-{run}")),
                &path(format!("cold-data-{run}")),
            )
        })
        .collect();
    let warm_cache = path("warm-cache".into());
    fill_cache(&warm_cache);
    let warm: Vec<Duration> = (0..20)
        .map(|run| onboard_once(&package, &warm_cache, &path(format!("warm-data-{run}"))))
        .collect();
    let no_op: Vec<Duration> = (0..20)
        .map(|_| onboard_once(&package, &warm_cache, &path("warm-data-0".into())))
        .collect();
    println!("## Onboarding a package of 4 descriptors and 5 modules\n");
    println!("| case | median |");
    println!("|---|---|");
    println!(
        "| cold cache (5 modules compiled) | {:.1} ms |",
        median(cold).as_secs_f64() * 1e3
    );
    println!("| warm cache | {:.1} ms |", median(warm).as_secs_f64() * 1e3);
    println!(
        "| already onboarded (no-op) | {:.1} ms |",
        median(no_op).as_secs_f64() * 1e3
    );
}
