//! `wasmano validate` as a user runs it, on the real binary: the bundled
//! valid descriptors pass, every broken case under `tests/descriptors/invalid`
//! fails with exactly the lines in its `.expected` file, warnings load the
//! descriptor unless `--strict`, hostile inputs are refused quickly, and
//! (when `WASMANO_CORPUS` points at the 5GTANGO corpus) every corpus
//! descriptor loads, with only its known warnings, except those with a
//! defect that prevents running, and the SMR update fixture's update
//! directive is read.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wasmano::descriptor::{self, Descriptor, ManagerSource, Severity, check_service};

const BIN: &str = env!("CARGO_BIN_EXE_wasmano");

/// `sysexits` codes of the validate contract.
const DATA: i32 = 65;
const NO_INPUT: i32 = 66;

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/descriptors")
        .join(kind)
}

/// Runs `wasmano validate` in `dir` on files named relative to it.
fn validate(dir: &Path, files: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .arg("validate")
        .args(files)
        .env("NO_COLOR", "1")
        .output()
        .expect("run wasmano")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn yaml_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn bundled_valid_descriptors_pass_with_one_line_each() {
    let dir = fixtures("valid");
    let files = yaml_files(&dir);
    assert_eq!(files.len(), 4, "{files:?}");
    let output = validate(&dir, &files.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stderr), "");
    assert_eq!(
        text(&output.stdout),
        "tng-sdk-sm_examples_vnfd7.yml: ok (VNFD eu.5gtango/cnf7-no-sm/0.7)\n\
         tng-tests_NSID1V_nsd.yaml: ok (NSD eu.5gtango/test-nsid1v/0.1)\n\
         tng-tests_NSID1V_vnfd1.yaml: ok (VNFD eu.5gtango/testvnf/0.1)\n\
         wasm-managers_nsd.yml: ok (NSD eu.wasmano/wasm-managed/0.1)\n"
    );
}

#[test]
fn every_invalid_case_reports_exactly_its_expected_lines() {
    let dir = fixtures("invalid");
    let cases = yaml_files(&dir);
    assert!(cases.len() >= 10, "{cases:?}");
    for case in cases {
        let expected = fs::read_to_string(dir.join(case.replace(".yml", ".expected"))).unwrap();
        let output = validate(&dir, &[&case]);
        assert_eq!(output.status.code(), Some(DATA), "{case}");
        assert_eq!(text(&output.stdout), "", "{case}");
        assert_eq!(text(&output.stderr), expected, "{case}");
    }
}

#[test]
fn a_missing_file_exits_66_after_checking_the_others() {
    let dir = fixtures("valid");
    let output = validate(
        &dir,
        &[
            "tng-tests_NSID1V_nsd.yaml",
            "no-such-file.yml",
            "../invalid/malformed.yml",
        ],
    );
    assert_eq!(output.status.code(), Some(NO_INPUT));
    assert_eq!(
        text(&output.stdout),
        "tng-tests_NSID1V_nsd.yaml: ok (NSD eu.5gtango/test-nsid1v/0.1)\n"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("no-such-file.yml: No such file or directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n../invalid/malformed.yml:4: error: unclosed bracket"),
        "{stderr}"
    );
}

/// Writes a hostile file, validates it, and returns the single line said
/// about it, checking the refusal was quick.
fn refusal(name: &str, contents: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(name), contents).unwrap();
    let started = Instant::now();
    let output = validate(dir.path(), &[name]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{name} took {elapsed:?}");
    assert_eq!(output.status.code(), Some(DATA), "{name}");
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn hundred_thousand_deep_nesting_is_refused_quickly() {
    assert_eq!(
        refusal("deep-block.yml", "- ".repeat(100_000).as_bytes()),
        "deep-block.yml:1: error: refused: nested deeper than 32 levels\n"
    );
    assert!(refusal("deep-flow.yml", "[".repeat(100_000).as_bytes()).starts_with("deep-flow.yml:1: "));
}

#[test]
fn a_50_mb_file_is_refused_without_reading_it_all() {
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    let big = line.repeat(50 * 1024 * 1024 / line.len());
    assert_eq!(
        refusal("big.yml", big.as_bytes()),
        "big.yml: error: refused: the file is larger than 1048576 bytes, the most a descriptor may have\n"
    );
}

#[test]
fn the_bundled_service_matches_its_function_descriptor() {
    let dir = fixtures("valid");
    let Descriptor::Service(nsd) = descriptor::load_file(&dir.join("tng-tests_NSID1V_nsd.yaml")).unwrap() else {
        panic!("an NSD")
    };
    let Descriptor::Function(vnfd) = descriptor::load_file(&dir.join("tng-tests_NSID1V_vnfd1.yaml")).unwrap() else {
        panic!("a VNFD")
    };
    assert_eq!(check_service(&nsd, &[vnfd]), []);
}

/// Corpus descriptors that load with warnings: inconsistencies 5GTANGO's
/// platform accepted and ran, whose inconsistent part wasmano leaves out.
const CORPUS_WARNINGS: &[(&str, &[&str])] = &[
    // Links to `cdu01`; the unit is `cndu01`.
    (
        "plain/tng-schema_cnf-vnfd.yml",
        &[
            "88: warning: virtual_links[0].connection_points_reference[1]: \"cdu01\" is not a declared deployment unit",
            "93: warning: virtual_links[1].connection_points_reference[1]: \"cdu01\" is not a declared deployment unit",
        ],
    ),
    // The mgmt link names `vnf2`; the service has only `vnf1`.
    (
        "plain/tng-schema_default-nsd.yml",
        &["72: warning: virtual_links[0].connection_points_reference[1]: \"vnf2\" is not a declared network function"],
    ),
    (
        "plain/tng-schema_multi-flavour-nsd.yml",
        &["72: warning: virtual_links[0].connection_points_reference[1]: \"vnf2\" is not a declared network function"],
    ),
];

/// Corpus descriptors with a defect that prevents running them, found by
/// hand and confirmed: they parse and are recognised, but do not load.
const CORPUS_ERRORS: &[(&str, &[&str])] = &[
    // The SMR termination fixture repeats two SSM ids with a `termination`
    // option, not 5GTANGO's update directive (currentId/currentImage): two
    // managers with one id, and nothing says which one runs.
    (
        "with-sm/son-mano-framework_smr-test_nsdt_terminate.yml",
        &[
            "57: error: service_specific_managers[2].id: duplicate id \"sonssmservice1placement1\"",
            "64: error: service_specific_managers[3].id: duplicate id \"sonssmservice1dumb1\"",
        ],
    ),
    // The option's `value:` slipped to column 0, making it a top-level key:
    // the FSM's option has no value.
    (
        "with-sm/tng-schema_haproxy-vnfd.yml",
        &["152: error: function_specific_managers[0].options[0].value: is required"],
    ),
];

/// The problems `table` lists for a corpus file; none when it is not listed.
fn listed(table: &[(&str, &'static [&'static str])], relative: &str) -> &'static [&'static str] {
    table
        .iter()
        .find(|(file, _)| *file == relative)
        .map_or(&[], |(_, problems)| *problems)
}

/// The corpus directory, when `WASMANO_CORPUS` names one (.ci/run sets it).
fn corpus() -> Option<PathBuf> {
    let corpus = std::env::var_os("WASMANO_CORPUS").map(PathBuf::from);
    if corpus.is_none() {
        eprintln!("WASMANO_CORPUS is not set: the 5GTANGO corpus is not checked");
    }
    corpus
}

/// Checks that `stderr` holds exactly the `expected` lines (each a prefix
/// after `file:`).
fn assert_reported(relative: &str, stderr: &str, expected: &[&str]) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{relative}: {stderr}");
    for (line, problem) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("{relative}:{problem}")),
            "{relative}: {line:?} vs {problem:?}"
        );
    }
}

#[test]
fn every_corpus_descriptor_loads_except_those_with_a_defect_that_prevents_running() {
    let Some(corpus) = corpus() else { return };
    let root = corpus.join("descriptors");
    let mut checked = 0;
    for kind in ["plain", "with-sm"] {
        for name in yaml_files(&root.join(kind)) {
            let relative = format!("{kind}/{name}");
            if relative == "with-sm/tng-tests_NSID1V_project.yml" {
                // A tng-sdk project file, not a descriptor: refused as such.
                let problems = descriptor::parse(&fs::read(root.join(&relative)).unwrap()).unwrap_err();
                assert!(
                    problems[0].to_string().starts_with("neither an NSD nor a VNFD"),
                    "{problems:?}"
                );
                continue;
            }
            checked += 1;
            let output = validate(&root, &[&relative]);
            let stderr = text(&output.stderr);
            let errors = listed(CORPUS_ERRORS, &relative);
            if errors.is_empty() {
                assert_eq!(output.status.code(), Some(0), "{relative}: {stderr}");
                assert!(text(&output.stdout).starts_with(&format!("{relative}: ok (")));
                assert_reported(&relative, &stderr, listed(CORPUS_WARNINGS, &relative));
            } else {
                assert_eq!(output.status.code(), Some(DATA), "{relative}");
                assert_reported(&relative, &stderr, errors);
            }
        }
    }
    assert_eq!(checked, 29);
}

#[test]
fn strict_refuses_a_corpus_descriptor_that_loads_with_warnings() {
    let Some(corpus) = corpus() else { return };
    let root = corpus.join("descriptors");
    let relative = "plain/tng-schema_default-nsd.yml";
    let output = Command::new(BIN)
        .current_dir(&root)
        .args(["validate", "--strict", relative])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(DATA));
    assert_eq!(text(&output.stdout), "", "not ok under --strict");
    let warnings = listed(CORPUS_WARNINGS, relative);
    assert!(!warnings.is_empty());
    assert_reported(relative, &text(&output.stderr), warnings);
}

/// 5GTANGO's update directive, as the specific manager registry's update
/// fixture declares it: a repeated SSM id whose options name the manager it
/// replaces (`currentId`) and the image that manager runs (`currentImage`).
#[test]
fn the_smr_update_fixture_loads_with_its_update_directive() {
    let Some(corpus) = corpus() else { return };
    let file = corpus.join("descriptors/with-sm/son-mano-framework_smr-test_nsdu_update.yml");
    let checked = descriptor::load_file_checked(&file).unwrap();
    assert_eq!(checked.warnings, []);
    let Descriptor::Service(nsd) = checked.descriptor else {
        panic!("an NSD")
    };
    let ids: Vec<&str> = nsd
        .service_specific_managers
        .iter()
        .map(|manager| manager.id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["sonssmservice1dumb1", "sonssmservice1placement1"],
        "ids stay unique"
    );
    let [update] = nsd.service_manager_updates.as_slice() else {
        panic!("one update: {:?}", nsd.service_manager_updates)
    };
    assert_eq!(update.current_id, "sonssmservice1dumb1");
    assert_eq!(update.current_image.as_deref(), Some("hadik3r/sonssmservice1dumb1"));
    assert_eq!(update.entry, 2);
    assert_eq!(update.manager.id, "sonssmservice1dumb1");
    assert_eq!(
        update.manager.source,
        ManagerSource::Container {
            image: "hadik3r/sonssmservice1updateddumb1".into()
        }
    );
    assert_eq!(
        update.manager.options,
        [],
        "currentId and currentImage are the directive, not options"
    );
}

#[test]
fn warnings_load_the_descriptor_without_the_link_and_strict_refuses_them() {
    let dir = fixtures("warnings");
    let expected = fs::read_to_string(dir.join("dangling-links.expected")).unwrap();
    let output = validate(&dir, &["dangling-links.yml"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "dangling-links.yml: ok (VNFD eu.wasmano/dangling/0.1), 3 warnings\n"
    );
    assert_eq!(text(&output.stderr), expected);

    let strict = Command::new(BIN)
        .current_dir(&dir)
        .args(["validate", "--strict", "dangling-links.yml"])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(DATA));
    assert_eq!(text(&strict.stdout), "");
    assert_eq!(text(&strict.stderr), expected);

    let checked = descriptor::load_file_checked(&dir.join("dangling-links.yml")).unwrap();
    assert_eq!(checked.warnings.len(), 3);
    assert!(
        checked
            .warnings
            .iter()
            .all(|warning| warning.severity() == Severity::Warning)
    );
    let Descriptor::Function(vnfd) = checked.descriptor else {
        panic!("a VNFD")
    };
    let links: Vec<&str> = vnfd.virtual_links.iter().map(|link| link.id.as_str()).collect();
    assert_eq!(links, ["mgmt"], "the dangling link is left out of the model");
}
