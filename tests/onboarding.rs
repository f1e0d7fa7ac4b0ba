//! Packages and onboarding on real descriptors and real compiled modules:
//! the bundled example package onboards once (twice is a no-op), and a
//! package with any problem stores nothing and names every problem; the
//! `wasmano onboard`, `catalogue` and `demo` commands end to end; 5GTANGO
//! `.tgo` packages written here from corpus descriptors, through the CLI
//! and the HTTP upload.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;
#[path = "support/package.rs"]
mod support_package;
#[allow(dead_code, reason = "each test binary uses its own part of the support modules")]
#[path = "support/server.rs"]
mod support_server;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::Compression;
use flate2::write::GzEncoder;
use support_package::write_bundled_package;
use wasmano::catalogue::{Catalogue, EntryKind};
use wasmano::package::{
    MAX_DESCRIPTOR_BYTES, MAX_ENTRY_METADATA_BYTES, MAX_MODULE_BYTES, MAX_PACKAGE_BYTES, Package, onboard,
};
use wasmano_host::{Host, HostConfig, Origin};

const BIN: &str = env!("CARGO_BIN_EXE_wasmano");

/// The bundled package, assembled in `dir` with its modules and pinned digests.
fn example_package(dir: &Path) -> PathBuf {
    write_bundled_package(&dir.join("package"), &support::guests().examples(), |_, text| text)
}

fn host(data: &Path) -> Host {
    Host::new(HostConfig {
        cache_dir: Some(data.join("cache")),
        max_instances: 8,
        ..HostConfig::default()
    })
    .unwrap()
}

fn onboard_dir(package: &Path, data: &Path) -> Result<wasmano::package::OnboardReport, Vec<String>> {
    let catalogue = Catalogue::open(data).unwrap();
    onboard(&Package::read(package).unwrap(), &catalogue, &host(data))
        .map_err(|problems| problems.iter().map(ToString::to_string).collect())
}

fn entries(data: &Path) -> usize {
    Catalogue::open(data).unwrap().list().unwrap().len()
}

#[test]
fn the_example_package_onboards_once_and_twice_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let data = dir.path().join("data");
    let first = onboard_dir(&package, &data).unwrap();
    assert_eq!(first.nsd.to_string(), "eu.wasmano/demo-web-service/1.0");
    let kinds: Vec<EntryKind> = first.stored.added.iter().map(|entry| entry.kind).collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == EntryKind::Module).count(), 4);
    assert_eq!(kinds.iter().filter(|kind| **kind == EntryKind::Vnfd).count(), 3);
    let second = onboard_dir(&package, &data).unwrap();
    assert!(second.stored.added.is_empty());
    assert_eq!(second.stored.unchanged.len(), first.stored.added.len());
    assert_eq!(entries(&data), 8);
}

#[test]
fn an_onboarded_module_runs_from_the_cache_without_compiling_again() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let data = dir.path().join("data");
    onboard_dir(&package, &data).unwrap();
    let host = host(&data);
    for module in std::fs::read_dir(package.join("modules")).unwrap() {
        let loaded = host.load_file(&module.unwrap().path(), None).unwrap();
        assert_eq!(loaded.origin(), Origin::Cached);
    }
}

#[test]
fn a_wrong_digest_or_a_missing_module_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let nsd = package.join("nsd.yml");
    let text = std::fs::read_to_string(&nsd).unwrap();
    // Point the state manager at a digest its module does not have, and
    // remove the configure manager's module.
    let state_digest = wasmano_host::sha256_hex(&std::fs::read(package.join("modules/sm_state.wasm")).unwrap());
    std::fs::write(&nsd, text.replace(&state_digest, &"f".repeat(64))).unwrap();
    std::fs::remove_file(package.join("modules/sm_configure.wasm")).unwrap();
    let data = dir.path().join("data");
    let problems = onboard_dir(&package, &data).unwrap_err();
    assert!(
        problems.iter().any(
            |problem| problem.contains("nsd.yml: service_specific_managers[2].wasm.module")
                && problem.contains(&format!(
                    "sha256 mismatch: expected {}, the module's is {state_digest}",
                    "f".repeat(64)
                ))
        ),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("modules/sm_configure.wasm is not in the package")),
        "{problems:#?}"
    );
    assert_eq!(entries(&data), 0, "a failed onboarding stores nothing");
}

#[test]
fn a_module_of_the_wrong_kind_or_missing_events_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let nsd = package.join("nsd.yml");
    let text = std::fs::read_to_string(&nsd).unwrap();
    // The placement entry now names the FSM module.
    let fsm_digest = wasmano_host::sha256_hex(&std::fs::read(package.join("modules/sm_vnf_manager.wasm")).unwrap());
    let placement_digest = wasmano_host::sha256_hex(&std::fs::read(package.join("modules/sm_placement.wasm")).unwrap());
    let text = text
        .replace("modules/sm_placement.wasm", "modules/sm_vnf_manager.wasm")
        .replace(&placement_digest, &fsm_digest);
    // The state entry now names the configure module, which does not handle state.
    let configure_digest = wasmano_host::sha256_hex(&std::fs::read(package.join("modules/sm_configure.wasm")).unwrap());
    let state_digest = wasmano_host::sha256_hex(&std::fs::read(package.join("modules/sm_state.wasm")).unwrap());
    let text = text
        .replace("modules/sm_state.wasm", "modules/sm_configure.wasm")
        .replace(&state_digest, &configure_digest);
    std::fs::write(&nsd, text).unwrap();
    let data = dir.path().join("data");
    let problems = onboard_dir(&package, &data).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("is a fsm module, this entry needs a ssm")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("does not handle the declared event(s) state")),
        "{problems:#?}"
    );
    assert_eq!(entries(&data), 0);
}

#[test]
fn changed_content_under_an_onboarded_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let data = dir.path().join("data");
    onboard_dir(&package, &data).unwrap();
    let vnfd = package.join("web-vnfd.yml");
    let text = std::fs::read_to_string(&vnfd).unwrap();
    std::fs::write(&vnfd, text.replace("nginx-like web front end", "another front end")).unwrap();
    let problems = onboard_dir(&package, &data).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("eu.wasmano/web-vnf/1.0 was onboarded before")),
        "{problems:#?}"
    );
    assert_eq!(entries(&data), 8);
}

#[test]
fn two_descriptors_with_one_identity_are_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    // The same VNFD identity under a second file name, with other content:
    // before, one of the two was silently left out of the catalogue.
    let text = std::fs::read_to_string(package.join("web-vnfd.yml")).unwrap();
    std::fs::write(
        package.join("web-vnfd-copy.yml"),
        text.replace("nginx-like web front end", "another front end"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let problems = onboard_dir(&package, &data).unwrap_err();
    assert_eq!(
        problems,
        [
            "web-vnfd.yml: VNFD eu.wasmano/web-vnf/1.0 is also declared by web-vnfd-copy.yml: a package holds \
             one descriptor per identity (vendor/name/version); give one of them another version"
        ],
        "{problems:#?}"
    );
    assert_eq!(entries(&data), 0, "nothing stored");
}

fn wasmano(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").output().unwrap()
}

#[test]
fn onboard_and_catalogue_commands_report_and_exit_distinctly() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();

    // A .tar.gz of the package onboards like the directory.
    let archive = dir.path().join("package.tar.gz");
    write_tar_gz(&archive, |builder| builder.append_dir_all("demo", &package).unwrap());
    let output = wasmano(&["onboard", archive.to_str().unwrap(), "--data-dir", data_arg]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("eu.wasmano/demo-web-service/1.0: onboarded"));

    let again = wasmano(&["onboard", package.to_str().unwrap(), "--data-dir", data_arg]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already onboarded, nothing changed"));

    let listing = wasmano(&["catalogue", "--data-dir", data_arg]);
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert_eq!(listing.lines().count(), 8, "{listing}");
    assert!(
        listing.starts_with("nsd    eu.wasmano/demo-web-service/1.0"),
        "{listing}"
    );

    let missing = wasmano(&["onboard", "/nonexistent/package", "--data-dir", data_arg]);
    assert_eq!(missing.status.code(), Some(66));
    std::fs::remove_file(package.join("modules/sm_state.wasm")).unwrap();
    let broken = wasmano(&[
        "onboard",
        package.to_str().unwrap(),
        "--data-dir",
        dir.path().join("other").to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("sm_state.wasm is not in the package") && stderr.contains("nothing was stored"),
        "{stderr}"
    );
}

#[test]
fn the_demo_runs_the_bundled_service_through_its_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let output = wasmano(&["demo", "--data-dir", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for workflow in [
        "instantiation",
        "scale_out",
        "migration",
        "reconfigure",
        "scale_in",
        "termination",
    ] {
        assert!(
            stdout.contains(&format!("== {workflow} of service")),
            "{workflow} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("hook state on state"),
        "the migration carried state through the state manager"
    );
    assert!(stdout.contains("status: terminated"));
}

/// A real 5GTANGO service from the corpus, its container managers mapped
/// onto the example modules. Runs when `WASMANO_CORPUS` is set (.ci/run sets it).
#[test]
fn the_demo_runs_the_corpus_nsid1v_service() {
    let Some(corpus) = std::env::var_os("WASMANO_CORPUS").map(PathBuf::from) else {
        eprintln!("WASMANO_CORPUS is not set: the NSID1V run happens in .ci/run");
        return;
    };
    let guests = support::guests();
    let descriptors = corpus.join("descriptors/with-sm");
    let dir = tempfile::tempdir().unwrap();
    let config = format!("config={}", guests.configure.display());
    let cirros = format!("cirros={}", guests.vnf_manager.display());
    let output = wasmano(&[
        "demo",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--nsd",
        descriptors.join("tng-tests_NSID1V_nsd.yaml").to_str().unwrap(),
        "--vnfd",
        descriptors.join("tng-tests_NSID1V_vnfd1.yaml").to_str().unwrap(),
        "--manager",
        &config,
        "--manager",
        &cirros,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("hook start on cirros") && stdout.contains("hook configure on config"),
        "{stdout}"
    );
    assert!(stdout.contains("status: terminated"));
}

/// A `.tar.gz` written by streaming entries through a gzip encoder into a
/// file: nothing is held in memory whole.
fn write_tar_gz(path: &Path, fill: impl FnOnce(&mut tar::Builder<GzEncoder<File>>)) {
    let mut builder = tar::Builder::new(GzEncoder::new(File::create(path).unwrap(), Compression::best()));
    fill(&mut builder);
    builder.into_inner().unwrap().finish().unwrap();
}

/// Appends an entry of `size` zero bytes, streamed.
fn append_zeros(builder: &mut tar::Builder<GzEncoder<File>>, path: &str, kind: tar::EntryType, size: u64) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(size);
    builder
        .append_data(&mut header, path, io::repeat(0).take(size))
        .unwrap();
}

#[test]
fn a_gzip_bomb_is_refused_on_its_header_before_it_is_inflated() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bomb.tar.gz");
    write_tar_gz(&archive, |builder| {
        append_zeros(
            builder,
            "bomb/filler.bin",
            tar::EntryType::Regular,
            MAX_PACKAGE_BYTES + (1 << 20),
        );
    });
    let packed = std::fs::metadata(&archive).unwrap().len();
    assert!(packed < 1 << 20, "a bomb: small packed, not {packed} bytes");
    let error = Package::read(&archive).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}: ", archive.display()))
            && error.contains("bomb/filler.bin")
            && error.contains(&format!(
                "the package may still hold ({MAX_PACKAGE_BYTES} bytes in all)"
            )),
        "{error}"
    );
}

#[test]
fn a_gzip_bomb_in_tar_metadata_is_refused_while_it_inflates() {
    // A PAX record, which the tar reader holds in memory whole before it
    // yields the entry it describes: only the meter on the inflated stream
    // sees it.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bomb.tar.gz");
    write_tar_gz(&archive, |builder| {
        append_zeros(
            builder,
            "bomb/pax",
            tar::EntryType::XHeader,
            MAX_PACKAGE_BYTES + (1 << 20),
        );
        append_zeros(builder, "bomb/nsd.yml", tar::EntryType::Regular, 1);
    });
    let packed = std::fs::metadata(&archive).unwrap().len();
    assert!(packed < 1 << 20, "a bomb: small packed, not {packed} bytes");
    let error = Package::read(&archive).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}: ", archive.display()))
            && error.contains(&format!("more than {MAX_ENTRY_METADATA_BYTES} bytes of tar headers")),
        "{error}"
    );
}

#[test]
fn an_oversize_module_or_descriptor_is_refused_before_it_is_read() {
    // Sparse files: as large as the cap plus one byte, costing nothing.
    let grow = |file: &Path, size: u64| File::options().write(true).open(file).unwrap().set_len(size).unwrap();
    let refusal = |package: &Path| Package::read(package).unwrap_err().to_string();

    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    grow(&package.join("modules/sm_state.wasm"), MAX_MODULE_BYTES + 1);
    let error = refusal(&package);
    assert!(
        error.contains(&format!(
            "modules/sm_state.wasm is {} bytes, more than the {MAX_MODULE_BYTES} bytes a module may hold",
            MAX_MODULE_BYTES + 1
        )),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    grow(&package.join("nsd.yml"), MAX_DESCRIPTOR_BYTES + 1);
    let error = refusal(&package);
    assert!(
        error.contains(&format!(
            "nsd.yml is {} bytes, more than the {MAX_DESCRIPTOR_BYTES} bytes a descriptor may hold",
            MAX_DESCRIPTOR_BYTES + 1
        )),
        "{error}"
    );

    // In an archive, the entry's header gives the size.
    let archive = dir.path().join("big.tar.gz");
    write_tar_gz(&archive, |builder| {
        append_zeros(
            builder,
            "big/modules/big.wasm",
            tar::EntryType::Regular,
            MAX_MODULE_BYTES + 1,
        );
    });
    let error = refusal(&archive);
    assert!(
        error.starts_with(&format!("{}: ", archive.display()))
            && error.contains(&format!("big/modules/big.wasm is {} bytes", MAX_MODULE_BYTES + 1))
            && error.contains(&format!("the {MAX_MODULE_BYTES} bytes a module may hold")),
        "{error}"
    );
}

/// One entry of a directory tree, compared byte for byte; printed by digest.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct TreeEntry {
    path: PathBuf,
    kind: &'static str,
    /// A file's content, a link's target.
    bytes: Vec<u8>,
}

impl std::fmt::Debug for TreeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digest = wasmano_host::sha256_hex(&self.bytes);
        write!(
            f,
            "{} {} ({} bytes, sha256 {digest})",
            self.kind,
            self.path.display(),
            self.bytes.len()
        )
    }
}

/// Everything under `root`, links not followed, sorted by path.
fn tree(root: &Path) -> Vec<TreeEntry> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            let (kind, bytes) = if kind.is_dir() {
                pending.push(path.clone());
                ("dir", Vec::new())
            } else if kind.is_file() {
                ("file", std::fs::read(&path).unwrap())
            } else if kind.is_symlink() {
                (
                    "symlink",
                    std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes(),
                )
            } else {
                ("other", Vec::new())
            };
            let path = path.strip_prefix(root).unwrap().to_owned();
            found.push(TreeEntry { path, kind, bytes });
        }
    }
    found.sort();
    found
}

#[test]
fn a_refused_package_leaves_the_data_directory_byte_for_byte_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let package = example_package(dir.path());
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let listing = wasmano(&["catalogue", "--data-dir", data_arg]);
    assert_eq!(listing.status.code(), Some(0), "an empty catalogue");
    let before = tree(&data);
    let refuse = |package: &Path, reason: &str| {
        let output = wasmano(&["onboard", package.to_str().unwrap(), "--data-dir", data_arg]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(65), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
        assert_eq!(tree(&data), before, "{stderr}");
    };

    // An archive whose state module is a link; its other three modules are valid.
    let state = package.join("modules/sm_state.wasm");
    let outside = dir.path().join("sm_state.wasm");
    std::fs::rename(&state, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &state).unwrap();
    let archive = dir.path().join("linked.tar.gz");
    write_tar_gz(&archive, |builder| {
        builder.follow_symlinks(false);
        builder.append_dir_all("demo", &package).unwrap();
    });
    refuse(
        &archive,
        "archive entry demo/modules/sm_state.wasm is not a regular file but a Symlink",
    );
    std::fs::remove_file(&state).unwrap();
    std::fs::rename(&outside, &state).unwrap();

    // The same package, its state module pinned to another digest.
    let nsd = package.join("nsd.yml");
    let pinned = std::fs::read_to_string(&nsd).unwrap();
    let state_digest = wasmano_host::sha256_hex(&std::fs::read(&state).unwrap());
    std::fs::write(&nsd, pinned.replace(&state_digest, &"f".repeat(64))).unwrap();
    refuse(&package, "sha256 mismatch");

    // The comparison sees what onboarding writes.
    std::fs::write(&nsd, pinned).unwrap();
    let onboarded = wasmano(&["onboard", package.to_str().unwrap(), "--data-dir", data_arg]);
    assert_eq!(onboarded.status.code(), Some(0));
    assert_ne!(tree(&data), before);
}

/// A `.tgo` as tng-sdk-package writes it: `TOSCA-Metadata/TOSCA.meta`
/// naming the NAPD, the NAPD listing `listed` (path, content type) with
/// their SHA-256, and every file of `files` (listed or not) in a ZIP.
fn write_tgo(path: &Path, files: &[(&str, &[u8])], listed: &[(&str, &str)], edit_napd: impl Fn(String) -> String) {
    let content: String = listed
        .iter()
        .map(|(source, content_type)| {
            let bytes = files.iter().find(|(name, _)| name == source).unwrap().1;
            format!(
                "- source: {source}\n  content-type: {content_type}\n  algorithm: SHA-256\n  hash: '{}'\n",
                wasmano_host::sha256_hex(bytes)
            )
        })
        .collect();
    let napd = edit_napd(format!(
        "descriptor_schema: https://raw.githubusercontent.com/sonata-nfv/tng-schema/master/package-specification/napd-schema.yml\n\
         vendor: eu.5gtango\nname: default-ns-package\nversion: '0.9'\npackage_type: application/vnd.5gtango.package.nsp\n\
         maintainer: wasmano tests\nrelease_date_time: '2019-01-01T00:00:00+00:00'\npackage_content:\n{content}"
    ));
    let tosca = "TOSCA-Meta-Version: 1.0\nCSAR-Version: 1.0\nCreated-By: wasmano tests\nEntry-Manifest: etsi_manifest.mf\n\
                 Entry-Definitions: TODO\n\nName: TOSCA-Metadata/NAPD.yaml\nContent-Type: application/vnd.5gtango.napd\n\n";
    let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let metadata: [(&str, &[u8]); 2] = [
        ("TOSCA-Metadata/TOSCA.meta", tosca.as_bytes()),
        ("TOSCA-Metadata/NAPD.yaml", napd.as_bytes()),
    ];
    for (name, bytes) in metadata.iter().chain(files) {
        zip.start_file(*name, options).unwrap();
        io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Corpus descriptors for a `.tgo`: tng-schema's default NSD (whose mgmt
/// link names an undeclared VNF: a warning) and its VNFD, under
/// `Definitions/` as tng-sdk-package places descriptors, plus a broken
/// `.yml` the NAPD does not list.
fn corpus_tgo_files(corpus: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let read = |name: &str| std::fs::read(corpus.join("descriptors/plain").join(name)).unwrap();
    vec![
        ("Definitions/nsd.yml", read("tng-schema_default-nsd.yml")),
        ("Definitions/vnfd.yml", read("tng-schema_default-vnfd.yml")),
        (
            "Definitions/not-listed.yml",
            b"{ not: a descriptor, nor: [valid".to_vec(),
        ),
    ]
}

const LISTED: [(&str, &str); 2] = [
    ("Definitions/nsd.yml", "application/vnd.5gtango.nsd"),
    ("Definitions/vnfd.yml", "application/vnd.5gtango.vnfd"),
];

fn borrowed<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files.iter().map(|(name, bytes)| (*name, bytes.as_slice())).collect()
}

/// The corpus directory, when `WASMANO_CORPUS` names one (.ci/run sets it).
fn corpus() -> Option<PathBuf> {
    let corpus = std::env::var_os("WASMANO_CORPUS").map(PathBuf::from);
    if corpus.is_none() {
        eprintln!("WASMANO_CORPUS is not set: the .tgo package is built from the corpus in .ci/run");
    }
    corpus
}

/// Writes the corpus `.tgo` in `dir`, its NAPD passed through
/// `edit(napd, the VNFD's digest)`, and onboards it with `wasmano onboard`
/// into `dir/data`.
fn onboard_corpus_tgo(corpus: &Path, dir: &Path, edit: impl Fn(String, &str) -> String) -> (PathBuf, Output) {
    let files = corpus_tgo_files(corpus);
    let vnfd_digest = wasmano_host::sha256_hex(&files[1].1);
    let package = dir.join("eu.5gtango.default-ns-package.0.9.tgo");
    write_tgo(&package, &borrowed(&files), &LISTED, |napd| edit(napd, &vnfd_digest));
    let output = wasmano(&[
        "onboard",
        package.to_str().unwrap(),
        "--data-dir",
        dir.join("data").to_str().unwrap(),
    ]);
    (package, output)
}

#[test]
fn a_tgo_package_onboards_through_the_cli_and_over_http() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (package, output) = onboard_corpus_tgo(&corpus, dir.path(), |napd, _| napd);
    let data = dir.path().join("data");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("eu.5gtango/default-nsd/0.9: onboarded"), "{stdout}");
    assert!(stdout.contains("added vnfd eu.5gtango/ubuntu-vnf/0.9"), "{stdout}");
    assert!(
        stderr.contains(
            "warning: Definitions/nsd.yml:72: virtual_links[0].connection_points_reference[1]: \"vnf2\" is not a \
             declared network function"
        ),
        "the NSD's warning is reported: {stderr}"
    );
    assert_eq!(entries(&data), 2, "the NSD and the VNFD; the unlisted file is ignored");

    // The same bytes uploaded, declared as a ZIP.
    let server = support_server::Server::start(&dir.path().join("server-data"), &[]);
    let admin = server.admin();
    let project = admin.project("p");
    let (_, operator) = admin.token("operator", Some(&project));
    let uploaded = server.client(&operator).post_raw(
        "/wasmano/v1/packages",
        "application/zip",
        &std::fs::read(&package).unwrap(),
    );
    assert_eq!(uploaded.status, 201, "{uploaded:#?}");
    assert_eq!(uploaded.body["nsdId"], "eu.5gtango/default-nsd/0.9");
    assert_eq!(uploaded.body["vnfds"][0]["id"], "eu.5gtango/ubuntu-vnf/0.9");
    // The upload's answer carries the warnings too; reading the package
    // later does not.
    let warning = &uploaded.body["warnings"][0];
    assert_eq!(
        (warning["file"].as_str(), warning["line"].as_u64()),
        (Some("Definitions/nsd.yml"), Some(72)),
        "{uploaded:#?}"
    );
    assert!(
        warning["detail"]
            .as_str()
            .unwrap()
            .contains("\"vnf2\" is not a declared network function")
    );
    let id = uploaded.body["id"].as_str().unwrap();
    let read = server.client(&operator).get(&format!("/wasmano/v1/packages/{id}"));
    assert_eq!(read.body.get("warnings"), None, "{read:#?}");
}

#[test]
fn a_tgo_with_a_wrong_digest_is_refused_naming_the_file_and_stores_nothing() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let vnfd_digest = wasmano_host::sha256_hex(&corpus_tgo_files(&corpus)[1].1);
    let (_, output) = onboard_corpus_tgo(&corpus, dir.path(), |napd, vnfd_digest| {
        napd.replace(vnfd_digest, &wrong)
    });
    let data = dir.path().join("data");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Definitions/vnfd.yml: sha256 mismatch: the NAPD says {wrong}, the file has {vnfd_digest}"
        )),
        "{stderr}"
    );
    assert!(!data.join("catalogue").exists(), "nothing stored: {stderr}");
}

#[test]
fn an_oversized_entry_or_a_zip_bomb_in_a_tgo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A listed descriptor over the descriptor cap, refused on the size the
    // archive declares for it.
    let big = vec![b'#'; usize::try_from(MAX_DESCRIPTOR_BYTES).unwrap() + 1];
    let package = dir.path().join("big.tgo");
    write_tgo(
        &package,
        &[("Definitions/nsd.yml", &big)],
        &[("Definitions/nsd.yml", "application/vnd.5gtango.nsd")],
        |napd| napd,
    );
    let error = Package::read(&package).unwrap_err().to_string();
    assert!(
        error.contains(&format!(
            "Definitions/nsd.yml is {} bytes, more than the {MAX_DESCRIPTOR_BYTES} bytes a descriptor may hold",
            MAX_DESCRIPTOR_BYTES + 1
        )),
        "{error}"
    );

    // A bomb: 4 MiB of zeros whose archive entry claims 1,000 bytes, the
    // size the caps are checked on. Refused once it inflates past it.
    let zeros = vec![0; 4 << 20];
    let package = dir.path().join("bomb.tgo");
    write_tgo(
        &package,
        &[("Files/zeros.bin", &zeros)],
        &[("Files/zeros.bin", "text/plain")],
        |napd| napd,
    );
    let mut bytes = std::fs::read(&package).unwrap();
    let name = b"Files/zeros.bin";
    let found: Vec<usize> = bytes
        .windows(name.len())
        .enumerate()
        .filter(|(_, window)| window == name)
        .map(|(at, _)| at)
        .collect();
    let [local, central] = found[..] else {
        panic!("the name in the local header and the directory: {found:?}")
    };
    let declared = 1000u32.to_le_bytes();
    // Uncompressed size: 22 bytes into a local header (30 before the
    // name), 24 into a central directory header (46 before the name).
    bytes[local - 30 + 22..local - 30 + 26].copy_from_slice(&declared);
    bytes[central - 46 + 24..central - 46 + 28].copy_from_slice(&declared);
    std::fs::write(&package, &bytes).unwrap();
    let error = Package::read(&package).unwrap_err().to_string();
    assert!(
        // The zip reader's own check or wasmano's, whichever sees it first.
        error.contains("Files/zeros.bin") && error.contains("declare"),
        "{error}"
    );
}

/// Deleting a package frees none of its versions: the same package comes
/// back, but one whose NSD changed under the same version is refused (409)
/// with a reason that says so, and nothing of it is stored.
#[test]
fn a_deleted_packages_versions_keep_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let server = support_server::Server::start(&dir.path().join("data"), &[]);
    let admin = server.admin();
    let project = admin.project("p");
    let (_, operator) = admin.token("operator", Some(&project));
    let api = server.client(&operator);
    let original = support_server::bundled_archive(dir.path(), |_, text| text);
    let onboarded = api.onboard(&original);
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    let package = format!("/wasmano/v1/packages/{}", onboarded.body["id"].as_str().unwrap());
    assert_eq!(api.delete(&package).status, 204);
    assert_eq!(api.get("/wasmano/v1/packages").body, serde_json::json!([]));

    let changed = support_server::bundled_archive(dir.path(), |name, text| {
        if name == "nsd.yml" {
            text.replace(
                "description: \"A web front end",
                "description: \"Changed: a web front end",
            )
        } else {
            text
        }
    });
    assert_ne!(changed, original);
    let refused = api.onboard(&changed);
    refused.assert_problem(409, "identity-clash");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("nsd eu.wasmano/demo-web-service/1.0 was onboarded before with different content")
            && detail.contains("even once its package is deleted"),
        "{detail}"
    );
    assert_eq!(
        api.get("/wasmano/v1/packages").body,
        serde_json::json!([]),
        "nothing stored"
    );

    let again = api.onboard(&original);
    assert_eq!(again.status, 201, "the same content comes back: {again:#?}");
}

/// A package whose VNF fits none of the orchestrator's VIMs, even empty,
/// onboards with a warning that names the VNF, its field and every VIM with
/// why: here the bundled service's database, a 4-core VM, on a server whose
/// VIMs are two containers. The embedded VIMs host every VNF: no warning.
#[test]
fn a_vnf_no_vim_could_host_is_warned_about_at_onboarding() {
    let dir = tempfile::tempdir().unwrap();
    let archive = support_server::bundled_archive(dir.path(), |_, text| text);
    let containers_only = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/docker/vims.yml");
    let server = support_server::Server::start_with(&dir.path().join("data"), &[], &["--vims", containers_only]);
    let admin = server.admin();
    let project = admin.project("p");
    let (_, operator) = admin.token("operator", Some(&project));
    let onboarded = server.client(&operator).onboard(&archive);
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    let warnings: Vec<&serde_json::Value> = onboarded.body["warnings"]
        .as_array()
        .map(|warnings| {
            warnings
                .iter()
                .filter(|warning| warning["detail"].as_str().unwrap().contains("fits no VIM"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{:#}", onboarded.body);
    assert_eq!(warnings[0]["file"], "nsd.yml");
    assert_eq!(warnings[0]["path"], "network_functions[2]");
    assert_eq!(
        warnings[0]["detail"],
        "VNF db (eu.wasmano/db-vnf/1.0) fits no VIM of this orchestrator, even an empty one: it needs 4 cores \
         and 8000 MB on a vm VIM; docker-a is a container VIM; docker-b is a container VIM; an instance of the \
         service cannot be placed until a VIM can host it"
    );
    // The CLI says so on stderr, under the table.
    let package = dir.path().join("package.tar.gz");
    std::fs::write(&package, &archive).unwrap();
    let token_file = dir.path().join("operator.token");
    std::fs::write(&token_file, &operator).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wasmano"))
        .args(["package", "onboard"])
        .arg(&package)
        .args(["--server", &server.base, "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let expected = format!(
        "{}: warning: nsd.yml: network_functions[2]: VNF db (eu.wasmano/db-vnf/1.0) fits no VIM",
        package.display()
    );
    assert!(stderr.lines().any(|line| line.starts_with(&expected)), "{stderr}");
    drop(server);

    let embedded = support_server::Server::start(&dir.path().join("embedded"), &[]);
    let admin = embedded.admin();
    let project = admin.project("p");
    let (_, operator) = admin.token("operator", Some(&project));
    let onboarded = embedded.client(&operator).onboard(&archive);
    assert_eq!(onboarded.status, 201, "{onboarded:#?}");
    assert!(onboarded.body.get("warnings").is_none(), "{:#}", onboarded.body);
}
