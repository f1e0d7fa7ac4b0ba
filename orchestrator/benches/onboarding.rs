//! Benchmark of onboarding (release build):
//! `cargo bench -p wasmano --bench onboarding`.
//!
//! The bundled example package plus a fifth module (five WebAssembly
//! managers, four descriptors): onboarding it into an empty catalogue with
//! a cold precompiled cache (every module compiled), with a warm cache, and
//! again into a catalogue that already holds it (a no-op).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use wasmano::catalogue::Catalogue;
use wasmano::package::{Package, onboard, pin_module_digests};
use wasmano_host::{Host, HostConfig};

fn package(dir: &Path) -> Package {
    let guests = support::guests();
    let root = dir.join("package");
    std::fs::create_dir_all(root.join("modules")).expect("package dir");
    for module in [
        &guests.placement,
        &guests.configure,
        &guests.state,
        &guests.vnf_manager,
        &guests.hostile,
    ] {
        std::fs::copy(module, root.join("modules").join(module.file_name().expect("name"))).expect("copy module");
    }
    for entry in std::fs::read_dir(support::workspace_root().join("examples-sm/package")).expect("descriptors") {
        let source = entry.expect("entry").path();
        let mut text = std::fs::read_to_string(&source).expect("descriptor");
        if source.file_name().is_some_and(|name| name == "nsd.yml") {
            // A fifth manager, declared for no event: onboarded, never called.
            text = text.replacen(
                "service_specific_managers:\n",
                "service_specific_managers:\n  - id: \"audit\"\n    wasm:\n      module: \"modules/sm_hostile.wasm\"\n",
                1,
            );
        }
        let pinned = pin_module_digests(&text, &root).expect("pin");
        std::fs::write(root.join(source.file_name().expect("name")), pinned).expect("write");
    }
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
    onboard_once(&package, &warm_cache, &path("warm-data-fill".into()));
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
