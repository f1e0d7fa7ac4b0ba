//! `wasmano sm pin`: writes the sha256 of each WebAssembly manager's module
//! into the descriptors that name it (`wasm.sha256`), editing nothing else
//! in the files; with `--check`, only says whether they are pinned, for a
//! vendor's build to fail on a stale digest before onboarding does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args as ClapArgs;
use wasmano::descriptor::{self, PinError, Pinned};

use super::output::outln;
use super::{Failure, exit};

/// Arguments of `wasmano sm pin`.
#[derive(Debug, ClapArgs)]
pub struct PinArgs {
    /// NSD and VNFD files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The package's root, which `wasm.module` paths are relative to; by
    /// default the directory holding each descriptor.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Change nothing; exit 65 when a digest is missing or differs from
    /// its module's.
    #[arg(long)]
    check: bool,
}

/// Pins every file, or none: all are read and their modules hashed before
/// any is written. One line per WebAssembly manager on stdout.
pub fn pin(args: PinArgs) -> Result<ExitCode, Failure> {
    let mut pinned_files = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let text = read_descriptor(file)?;
        let root = match &args.root {
            Some(root) => root.clone(),
            None => file
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
        };
        let pinned = descriptor::pin_module_digests(&text, &root).map_err(|error| {
            let code = match &error {
                PinError::ModuleUnreadable { .. } => exit::NO_INPUT,
                PinError::Unreadable { .. } | PinError::NotInPackage { .. } | PinError::CannotEdit { .. } => exit::DATA,
            };
            Failure::new(code, format!("{}: {error}", file.display()))
        })?;
        pinned_files.push((file, pinned));
    }
    if !args.check {
        // Written before anything is printed: a reader of the report that
        // goes away early (`| head -1`) ends the process on the next line.
        for (file, pinned) in pinned_files.iter().filter(|(_, pinned)| pinned.changed()) {
            replace_file(file, &pinned.text)
                .map_err(|error| Failure::new(exit::CANT_CREATE, format!("{}: {error}", file.display())))?;
        }
    }
    for (file, pinned) in &pinned_files {
        report(file, pinned, args.check);
    }
    match pinned_files.iter().find(|(_, pinned)| args.check && pinned.changed()) {
        Some((file, _)) => Err(Failure::new(
            exit::DATA,
            format!(
                "{}: a module's digest is missing or stale; `wasmano sm pin` writes it",
                file.display()
            ),
        )),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn read_descriptor(file: &Path) -> Result<String, Failure> {
    let bytes = descriptor::read_file(file).map_err(|error| Failure::new(exit::NO_INPUT, error.to_string()))?;
    String::from_utf8(bytes)
        .map_err(|error| Failure::new(exit::DATA, format!("{}: not UTF-8 text: {error}", file.display())))
}

/// `FILE: FIELD (ID): MODULE sha256 HEX STATE`, one line per manager.
fn report(file: &Path, pinned: &Pinned, check: bool) {
    for module in &pinned.modules {
        let state = match (module.changed, check) {
            (false, _) => "already pinned",
            (true, false) => "pinned",
            (true, true) => "missing or stale",
        };
        outln!(
            "{}: {} ({}): {} sha256 {} {state}",
            file.display(),
            module.field,
            module.manager,
            module.module,
            module.sha256
        );
    }
}

/// Replaces `file` with `text` in one rename, keeping its permissions.
fn replace_file(file: &Path, text: &str) -> std::io::Result<()> {
    let directory = file
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(file)?.permissions();
    let mut replacement = tempfile::NamedTempFile::new_in(directory)?;
    std::io::Write::write_all(&mut replacement, text.as_bytes())?;
    replacement.as_file().set_permissions(permissions)?;
    replacement.as_file().sync_all()?;
    replacement.persist(file).map_err(|error| error.error)?;
    Ok(())
}
