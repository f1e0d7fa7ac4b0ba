//! `wasmano validate`: checks descriptor files the way onboarding will, and
//! reports every problem as `file:line: field.path: message`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args as ClapArgs;
use wasmano::descriptor::{self, LoadError, Problem};

use super::exit;

/// Arguments of `wasmano validate`.
#[derive(Debug, ClapArgs)]
pub struct ValidateArgs {
    /// NSD and VNFD files (5GTANGO tng-schema YAML).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Checks every file: one `file: ok (KIND vendor/name/version)` line on
/// stdout per valid file, one line per problem on stderr otherwise. Exits
/// with [`exit::NO_INPUT`] when a file could not be read (after checking the
/// others), else [`exit::DATA`] when a file is invalid, else success.
pub fn validate(args: ValidateArgs) -> ExitCode {
    let mut unreadable = false;
    let mut invalid = false;
    for file in &args.files {
        match descriptor::load_file(file) {
            Ok(descriptor) => println!(
                "{}: ok ({} {})",
                file.display(),
                descriptor.kind_name(),
                descriptor.identity()
            ),
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

/// `file:line: field.path: message`, without `:line` when it is unknown.
fn located(file: &Path, problem: &Problem) -> String {
    match problem.line {
        Some(line) => format!("{}:{line}: {problem}", file.display()),
        None => format!("{}: {problem}", file.display()),
    }
}
