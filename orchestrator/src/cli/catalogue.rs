//! `wasmano onboard` and `wasmano catalogue`: put packages into the local
//! data directory's catalogue and list what is there.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args as ClapArgs;
use wasmano::catalogue::{Catalogue, EntryKind};
use wasmano::package::{Package, PackageError, onboard};
use wasmano_host::{Host, HostConfig};

use super::output::outln;
use super::{Failure, exit};

/// Where wasmano keeps its catalogue, compiled modules and records.
#[derive(Debug, Clone, ClapArgs)]
pub struct DataDir {
    /// The data directory (default: $WASMANO_DATA_DIR, else
    /// $XDG_DATA_HOME/wasmano, else ~/.local/share/wasmano).
    #[arg(long = "data-dir", value_name = "DIR")]
    path: Option<PathBuf>,
}

impl DataDir {
    /// Whether `--data-dir` was given.
    pub fn is_explicit(&self) -> bool {
        self.path.is_some()
    }

    /// The directory to use.
    pub fn resolve(&self) -> Result<PathBuf, Failure> {
        self.path
            .clone()
            .or_else(|| std::env::var_os("WASMANO_DATA_DIR").map(PathBuf::from))
            .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|dir| PathBuf::from(dir).join("wasmano")))
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share/wasmano")))
            .ok_or_else(|| {
                Failure::new(
                    exit::USAGE,
                    "no data directory: pass --data-dir or set WASMANO_DATA_DIR",
                )
            })
    }
}

/// Arguments of `wasmano onboard`.
#[derive(Debug, ClapArgs)]
pub struct OnboardArgs {
    /// The package: a directory or a .tar.gz of one.
    package: PathBuf,
    #[command(flatten)]
    data_dir: DataDir,
}

/// The catalogue in a data directory.
pub fn open_catalogue(data_dir: &Path) -> Result<Catalogue, Failure> {
    Catalogue::open(data_dir).map_err(|error| Failure::new(exit::CANT_CREATE, error.to_string()))
}

/// A host whose precompiled cache lives in the data directory.
pub fn host_in(data_dir: &Path) -> Result<Host, Failure> {
    Host::new(HostConfig {
        cache_dir: Some(data_dir.join("cache/modules")),
        // A command that checks modules one at a time: no other work to
        // give the CPU to.
        demote_after: None,
        ..HostConfig::default()
    })
    .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))
}

pub fn onboard_command(args: OnboardArgs) -> Result<ExitCode, Failure> {
    let data_dir = args.data_dir.resolve()?;
    let package = Package::read(&args.package).map_err(|error| match error {
        PackageError::Missing(_) => Failure::new(exit::NO_INPUT, error.to_string()),
        PackageError::Unreadable { .. } => Failure::new(exit::DATA, error.to_string()),
    })?;
    let catalogue = open_catalogue(&data_dir)?;
    let host = host_in(&data_dir)?;
    match onboard(&package, &catalogue, &host) {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("{}: warning: {warning}", args.package.display());
            }
            for entry in &report.stored.added {
                outln!("added {} {} (sha256 {})", entry.kind, entry.identity, entry.sha256);
            }
            if report.stored.added.is_empty() {
                outln!("{}: already onboarded, nothing changed", report.nsd);
            } else {
                outln!(
                    "{}: onboarded ({} entries already there)",
                    report.nsd,
                    report.stored.unchanged.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{}: {problem}", args.package.display());
            }
            Err(Failure::new(
                exit::DATA,
                format!(
                    "{}: {} problem(s), nothing was stored",
                    args.package.display(),
                    problems.len()
                ),
            ))
        }
    }
}

pub fn catalogue_command(data_dir: &DataDir) -> Result<ExitCode, Failure> {
    let catalogue = open_catalogue(&data_dir.resolve()?)?;
    let entries = catalogue
        .list()
        .map_err(|error| Failure::new(exit::SOFTWARE, error.to_string()))?;
    if entries.is_empty() {
        eprintln!("the catalogue is empty");
    }
    for entry in entries {
        // A module's identity is its digest: print it once.
        let identity = if entry.kind == EntryKind::Module {
            String::new()
        } else {
            entry.identity.to_string()
        };
        outln!("{:<6} {identity:<44} {} {:>8} B", entry.kind, entry.sha256, entry.size);
    }
    Ok(ExitCode::SUCCESS)
}
