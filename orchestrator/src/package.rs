//! Packages and onboarding.
//!
//! A package is a directory, or a `.tar.gz` of one, holding one NSD, its
//! VNFDs and the WebAssembly modules their managers reference. Onboarding
//! checks everything before storing anything: every descriptor is valid, the
//! NSD's VNFs resolve to VNFDs (in the package or already onboarded), every
//! module is in the package with its pinned digest, compiles (once, through
//! the host's precompiled cache) to a manager of the right kind that handles
//! the events its entry declares, and no descriptor changes content under a
//! version already onboarded. Any failure stores nothing and reports every
//! problem found.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sm_sdk::KeyValue;
use wasmano_host::{Host, Limits, ManagerKind, WasmManager};

use crate::catalogue::{self, Catalogue, EntryKind, NewEntry, StoreReport};
use crate::descriptor::{self, Descriptor, Manager, ManagerSource, ModuleRef, Nsd, Problem, Vnfd};

/// The most a package may hold, unpacked.
pub const MAX_PACKAGE_BYTES: u64 = 512 << 20;
/// The most files a package may hold.
pub const MAX_PACKAGE_FILES: usize = 10_000;

/// A package's files, by path relative to its root.
#[derive(Debug, Clone)]
pub struct Package {
    /// Where it was read from.
    pub source: PathBuf,
    /// Its files.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

/// Why a package could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The path does not exist.
    #[error("{}: no such package", .0.display())]
    Missing(PathBuf),
    /// It could not be read.
    #[error("{}: {message}", path.display())]
    Unreadable {
        /// The package.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// One problem found while onboarding: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingProblem {
    /// The file, relative to the package root.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field path, when the problem is with one field.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for OnboardingProblem {
    /// `file:line: field.path: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl OnboardingProblem {
    fn new(file: &Path, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            path: path.into(),
            message: message.into(),
        }
    }

    fn from_descriptor(file: &Path, problem: Problem) -> Self {
        Self {
            file: file.to_owned(),
            line: problem.line,
            path: problem.path,
            message: problem.issue.to_string(),
        }
    }
}

/// What onboarding stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardReport {
    /// The service onboarded.
    pub nsd: catalogue::Identity,
    /// New and unchanged catalogue entries.
    pub stored: StoreReport,
}

impl Package {
    /// Reads a package directory or `.tar.gz` archive, refusing paths that
    /// leave the package and anything beyond [`MAX_PACKAGE_BYTES`] or
    /// [`MAX_PACKAGE_FILES`].
    pub fn read(path: &Path) -> Result<Self, PackageError> {
        if !path.exists() {
            return Err(PackageError::Missing(path.to_owned()));
        }
        let unreadable = |message: String| PackageError::Unreadable {
            path: path.to_owned(),
            message,
        };
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        let mut add = |relative: PathBuf, bytes: Vec<u8>| -> Result<(), String> {
            total += bytes.len() as u64;
            if total > MAX_PACKAGE_BYTES || files.len() >= MAX_PACKAGE_FILES {
                return Err(format!(
                    "larger than {MAX_PACKAGE_BYTES} bytes or {MAX_PACKAGE_FILES} files"
                ));
            }
            files.insert(relative, bytes);
            Ok(())
        };
        if path.is_dir() {
            let mut pending = vec![path.to_owned()];
            while let Some(dir) = pending.pop() {
                let entries =
                    std::fs::read_dir(&dir).map_err(|error| unreadable(format!("{}: {error}", dir.display())))?;
                for entry in entries {
                    let entry = entry.map_err(|error| unreadable(error.to_string()))?;
                    let file = entry.path();
                    // Not following links: a package holds its own files only,
                    // never a link out of it or a device to read forever.
                    let kind = entry.file_type().map_err(|error| unreadable(error.to_string()))?;
                    if kind.is_dir() {
                        pending.push(file);
                        continue;
                    }
                    if !kind.is_file() {
                        return Err(unreadable(format!(
                            "{} is not a regular file (links are not followed)",
                            file.display()
                        )));
                    }
                    let mut bytes = Vec::new();
                    std::fs::File::open(&file)
                        .and_then(|opened| opened.take(MAX_PACKAGE_BYTES + 1).read_to_end(&mut bytes))
                        .map_err(|error| unreadable(format!("{}: {error}", file.display())))?;
                    let relative = file
                        .strip_prefix(path)
                        .map_err(|error| unreadable(error.to_string()))?
                        .to_owned();
                    add(relative, bytes).map_err(unreadable)?;
                }
            }
        } else {
            let archive = std::fs::File::open(path).map_err(|error| unreadable(error.to_string()))?;
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive));
            let entries = archive
                .entries()
                .map_err(|error| unreadable(format!("not a .tar.gz package: {error}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|error| unreadable(format!("not a .tar.gz package: {error}")))?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let relative = entry
                    .path()
                    .map_err(|error| unreadable(error.to_string()))?
                    .into_owned();
                let inside = relative
                    .components()
                    .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
                if !inside {
                    return Err(unreadable(format!(
                        "archive entry {} leaves the package",
                        relative.display()
                    )));
                }
                let mut bytes = Vec::new();
                // Never inflate more than the whole package may hold.
                entry
                    .by_ref()
                    .take(MAX_PACKAGE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|error| unreadable(error.to_string()))?;
                let relative: PathBuf = relative
                    .components()
                    .filter(|part| matches!(part, Component::Normal(_)))
                    .collect();
                add(relative, bytes).map_err(unreadable)?;
            }
        }
        Ok(Self {
            source: path.to_owned(),
            files: strip_common_root(files),
        })
    }

    /// The package's descriptor files (`.yml`, `.yaml`).
    fn descriptor_files(&self) -> impl Iterator<Item = (&PathBuf, &Vec<u8>)> {
        self.files
            .iter()
            .filter(|(path, _)| matches!(path.extension().and_then(|ext| ext.to_str()), Some("yml" | "yaml")))
    }
}

/// An archive of a directory holds that directory as its only top-level
/// entry: the package root is inside it.
fn strip_common_root(files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    let first = |path: &PathBuf| path.components().next().map(|part| part.as_os_str().to_owned());
    let Some(root) = files.keys().next().and_then(first) else {
        return files;
    };
    let shared = files
        .keys()
        .all(|path| path.components().count() > 1 && first(path).as_ref() == Some(&root));
    if !shared {
        return files;
    }
    files
        .into_iter()
        .map(|(path, bytes)| (path.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(path), bytes))
        .collect()
}

/// A manager entry whose module must be checked, and where it was declared.
struct ModuleUse<'a> {
    file: &'a Path,
    field: String,
    manager: &'a Manager,
    kind: ManagerKind,
}

/// Checks a package and stores it in the catalogue, or stores nothing and
/// returns every problem.
pub fn onboard(package: &Package, catalogue: &Catalogue, host: &Host) -> Result<OnboardReport, Vec<OnboardingProblem>> {
    let mut problems = Vec::new();
    let mut nsds: Vec<(&Path, Nsd, &[u8])> = Vec::new();
    let mut vnfds: Vec<(&Path, Vnfd, &[u8])> = Vec::new();
    for (file, bytes) in package.descriptor_files() {
        match descriptor::parse(bytes) {
            Ok(Descriptor::Service(nsd)) => nsds.push((file, nsd, bytes)),
            Ok(Descriptor::Function(vnfd)) => vnfds.push((file, vnfd, bytes)),
            Err(found) => problems.extend(
                found
                    .into_iter()
                    .map(|problem| OnboardingProblem::from_descriptor(file, problem)),
            ),
        }
    }
    let root = Path::new(".");
    if nsds.is_empty() && !problems.is_empty() {
        return Err(problems);
    }
    let [(nsd_file, nsd, nsd_bytes)] = nsds.as_slice() else {
        let files: Vec<String> = nsds.iter().map(|(file, ..)| file.display().to_string()).collect();
        problems.push(OnboardingProblem::new(
            root,
            "",
            format!(
                "a package holds exactly one NSD, this one holds {}: {}",
                nsds.len(),
                files.join(", ")
            ),
        ));
        return Err(problems);
    };

    // The NSD's VNFs: from the package, else from the catalogue.
    let mut service_vnfds: Vec<Vnfd> = Vec::new();
    for (index, function) in nsd.network_functions.iter().enumerate() {
        if let Some((_, vnfd, _)) = vnfds.iter().find(|(_, vnfd, _)| vnfd.identity == function.vnfd) {
            service_vnfds.push(vnfd.clone());
            continue;
        }
        match crate::service::onboarded_vnfd(catalogue, &function.vnfd) {
            Ok(vnfd) => service_vnfds.push(vnfd),
            Err(message) => problems.push(OnboardingProblem::new(
                nsd_file,
                format!("network_functions[{index}]"),
                format!(
                    "VNFD {} is neither in the package nor onboarded: {message}",
                    function.vnfd
                ),
            )),
        }
    }
    problems.extend(
        descriptor::check_service(nsd, &service_vnfds)
            .into_iter()
            .map(|problem| OnboardingProblem::from_descriptor(nsd_file, problem)),
    );

    // Every WebAssembly manager's module.
    let mut uses: Vec<ModuleUse> = nsd
        .service_specific_managers
        .iter()
        .enumerate()
        .map(|(index, manager)| ModuleUse {
            file: nsd_file,
            field: format!("service_specific_managers[{index}]"),
            manager,
            kind: ManagerKind::Service,
        })
        .collect();
    for (file, vnfd, _) in &vnfds {
        uses.extend(
            vnfd.function_specific_managers
                .iter()
                .enumerate()
                .map(|(index, manager)| ModuleUse {
                    file,
                    field: format!("function_specific_managers[{index}]"),
                    manager,
                    kind: ManagerKind::Function,
                }),
        );
    }
    let mut entries = Vec::new();
    for module_use in &uses {
        match check_module(package, host, module_use) {
            Ok(Some(bytes)) => entries.push(NewEntry {
                kind: EntryKind::Module,
                identity: catalogue::module_identity(&wasmano_host::sha256_hex(&bytes)),
                bytes,
            }),
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }

    let descriptor_entry = |kind, identity: &descriptor::Identity, bytes: &[u8]| NewEntry {
        kind,
        identity: identity.clone(),
        bytes: bytes.to_vec(),
    };
    entries.push(descriptor_entry(EntryKind::Nsd, &nsd.identity, nsd_bytes));
    entries.extend(
        vnfds
            .iter()
            .map(|(_, vnfd, bytes)| descriptor_entry(EntryKind::Vnfd, &vnfd.identity, bytes)),
    );
    entries.sort_by(|a, b| (a.kind, &a.identity).cmp(&(b.kind, &b.identity)));
    entries.dedup_by(|a, b| a.kind == b.kind && a.identity == b.identity);
    if let Err(conflicts) = catalogue.check(&entries) {
        problems.extend(
            conflicts
                .into_iter()
                .map(|conflict| OnboardingProblem::new(root, "", conflict.to_string())),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let stored = catalogue.store(&entries).map_err(|errors| {
        errors
            .into_iter()
            .map(|error| OnboardingProblem::new(root, "", error.to_string()))
            .collect::<Vec<_>>()
    })?;
    Ok(OnboardReport {
        nsd: nsd.identity.clone(),
        stored,
    })
}

/// Pins a descriptor's WebAssembly modules: sets `wasm.sha256` of every
/// manager entry to the digest of the module file it names under
/// `package_dir`, and returns the descriptor as YAML. Vendors run this when
/// they assemble a package; onboarding then holds the package to it.
pub fn pin_module_digests(descriptor: &str, package_dir: &Path) -> Result<String, String> {
    let mut document: serde_json::Value = serde_saphyr::from_str(descriptor).map_err(|error| error.to_string())?;
    for list in ["service_specific_managers", "function_specific_managers"] {
        let Some(serde_json::Value::Array(managers)) = document.get_mut(list) else {
            continue;
        };
        for manager in managers {
            let Some(wasm) = manager.get_mut("wasm").and_then(serde_json::Value::as_object_mut) else {
                continue;
            };
            let Some(module) = wasm.get("module").and_then(serde_json::Value::as_str) else {
                continue;
            };
            let Some(ModuleRef::Package(path)) = ModuleRef::parse(module) else {
                return Err(format!("{module}: not a path inside the package"));
            };
            let bytes = std::fs::read(package_dir.join(&path)).map_err(|error| format!("{module}: {error}"))?;
            wasm.insert(
                "sha256".into(),
                serde_json::Value::String(wasmano_host::sha256_hex(&bytes)),
            );
        }
    }
    serde_saphyr::to_string(&document).map_err(|error| error.to_string())
}

/// Checks one manager entry's module: in the package, pinned digest, a
/// component of the right kind handling the declared events. Container
/// managers have no module (`None`).
fn check_module(package: &Package, host: &Host, module_use: &ModuleUse) -> Result<Option<Vec<u8>>, OnboardingProblem> {
    let ModuleUse {
        file,
        field,
        manager,
        kind,
    } = module_use;
    let ManagerSource::Wasm { module, sha256, .. } = &manager.source else {
        return Ok(None);
    };
    let field = format!("{field}.wasm.module");
    let problem = |message: String| OnboardingProblem::new(file, field.clone(), message);
    let path = match module {
        ModuleRef::Package(path) => path,
        ModuleRef::Url(url) => {
            return Err(problem(format!(
                "{url}: fetching modules by URL is not supported yet; put the module in the package"
            )));
        }
    };
    let normalized: PathBuf = path
        .components()
        .filter(|part| matches!(part, Component::Normal(_)))
        .collect();
    let bytes = package
        .files
        .get(&normalized)
        .ok_or_else(|| problem(format!("{} is not in the package", path.display())))?;
    let loaded = host
        .load_bytes(bytes, Some(sha256.as_str()))
        .map_err(|error| problem(format!("{}: {error}", path.display())))?;
    if loaded.kind() != *kind {
        return Err(problem(format!(
            "{} is a {} module, this entry needs a {kind}",
            path.display(),
            loaded.kind()
        )));
    }
    let options = manager
        .options
        .iter()
        .map(|option| KeyValue::new(&option.key, &option.value))
        .collect();
    let probe = WasmManager::new(host, loaded, &manager.id, options, Limits::default())
        .map_err(|error| problem(error.to_string()))?;
    let handled = probe
        .handled_events()
        .map_err(|cause| problem(format!("{}: {cause}", path.display())))?;
    let missing: Vec<&str> = manager
        .declared_events()
        .filter(|event| !handled.iter().any(|handled| handled.name() == *event))
        .collect();
    if !missing.is_empty() {
        return Err(problem(format!(
            "{} does not handle the declared event(s) {}",
            path.display(),
            missing.join(", ")
        )));
    }
    Ok(Some(bytes.clone()))
}
