//! `wasmano validate`: checks descriptor files the way onboarding will, and
//! reports every problem as `file:line: severity: field.path: message`.
//! Warnings (inconsistent, but 5GTANGO ran such descriptors) do not fail a
//! file unless `--strict` is given.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args as ClapArgs;
use wasmano::descriptor::{self, LoadError, Problem};

use super::exit;
use super::output::outln;

/// Arguments of `wasmano validate`.
#[derive(Debug, ClapArgs)]
pub struct ValidateArgs {
    /// NSD and VNFD files (5GTANGO tng-schema YAML).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Fail on warnings too (e.g. a virtual link naming an undeclared
    /// connection point, which 5GTANGO accepted and wasmano leaves out).
    #[arg(long)]
    strict: bool,
}

/// Checks every file: one `file: ok (KIND vendor/name/version)` line on
/// stdout per file that loads (with its number of warnings), one line per
/// problem on stderr. Exits with [`exit::NO_INPUT`] when a file could not
/// be read (after checking the others), else [`exit::DATA`] when a file has
/// an error (or, with `--strict`, a warning), else success.
pub fn validate(args: ValidateArgs) -> ExitCode {
    let mut unreadable = false;
    let mut invalid = false;
    for file in &args.files {
        match descriptor::load_file_checked(file) {
            Ok(checked) => {
                for warning in &checked.warnings {
                    eprintln!("{}", located(file, warning));
                }
                if args.strict && !checked.warnings.is_empty() {
                    invalid = true;
                    continue;
                }
                let warnings = match checked.warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_owned(),
                    count => format!(", {count} warnings"),
                };
                outln!(
                    "{}: ok ({} {}){warnings}",
                    file.display(),
                    checked.descriptor.kind_name(),
                    checked.descriptor.identity()
                );
            }
            Err(LoadError::Read { source, .. }) => {
                unreadable = true;
                eprintln!("{}: {source}", file.display());
            }
            Err(LoadError::Invalid { problems, .. }) => {
                invalid = true;
                for problem in &problems {
                    eprintln!("{}", located(file, problem));
                }
            }
        }
    }
    if unreadable {
        ExitCode::from(exit::NO_INPUT)
    } else if invalid {
        ExitCode::from(exit::DATA)
    } else {
        ExitCode::SUCCESS
    }
}

/// `file:line: severity: field.path: message`, without `:line` when it is
/// unknown.
fn located(file: &Path, problem: &Problem) -> String {
    let severity = problem.severity();
    match problem.line {
        Some(line) => format!("{}:{line}: {severity}: {problem}", file.display()),
        None => format!("{}: {severity}: {problem}", file.display()),
    }
}
