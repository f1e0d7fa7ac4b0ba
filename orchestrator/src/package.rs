//! Packages and onboarding.
//!
//! A package is a directory, a `.tar.gz` of one, or a 5GTANGO `.tgo`
//! (a ZIP whose NAPD manifest lists its files, read by the `tgo` module), holding one
//! NSD, its VNFDs and the WebAssembly modules their managers reference. Reading one
//! is bounded before anything is held in memory: each module and descriptor
//! by its own cap and the whole package by [`MAX_PACKAGE_BYTES`], checked on
//! the size the file system or the archive header gives before a file is
//! read; an archive's inflated bytes are counted as they stream out of the
//! gzip decoder, so a gzip bomb is refused as soon as it inflates past what a
//! package may hold.
//!
//! Onboarding checks everything before storing anything: every descriptor
//! loads (its warnings, inconsistencies 5GTANGO accepted, are reported with
//! what was stored), the NSD's VNFs resolve to VNFDs (in the package or already
//! onboarded), every module is in the package with its pinned digest,
//! compiles (without writing the host's precompiled cache until the package
//! is stored) to a manager of the right kind that handles the events its entry declares, and no
//! descriptor changes content under a version already onboarded. Any failure
//! leaves the data directory as it was and reports every problem found.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use tango_model::KeyValue;
use tango_model::descriptor::Demand;
use tango_model::topology::Vim;
use wasmano_host::{Host, Limits, LoadedModule, ManagerKind, WasmManager};

use crate::catalogue::{self, Catalogue, CatalogueError, EntryKind, NewEntry, StoreReport};

mod tgo;
use crate::descriptor::{
    self, Descriptor, Manager, ManagerSource, ManagerUpdate, ModuleRef, Nsd, Problem, Severity, Vnfd,
};

/// The most a package may hold, unpacked; a `.tar.gz` may also inflate to no
/// more than this, headers included.
pub const MAX_PACKAGE_BYTES: u64 = 512 << 20;
/// The most files a package may hold.
pub const MAX_PACKAGE_FILES: usize = 10_000;
/// The largest module (a `.wasm` file) a package may hold, checked before
/// the file is read: the host's default cap on a component (Rust managers
/// are a few hundred KB, Python ones about 20 MB).
pub const MAX_MODULE_BYTES: u64 = wasmano_host::MAX_MODULE_BYTES as u64;
/// The largest descriptor (a `.yml` or `.yaml` file) a package may hold,
/// checked before the file is read: the most the descriptor parser accepts
/// ([`descriptor::MAX_DESCRIPTOR_BYTES`]).
pub const MAX_DESCRIPTOR_BYTES: u64 = descriptor::MAX_DESCRIPTOR_BYTES as u64;
/// The most a `.tar.gz` may inflate to between one entry's data and the
/// next: padding, a header and its long-name and PAX records, which the tar
/// reader holds in memory whole. Also the most a directory entry or a PAX
/// global header may hold.
pub const MAX_ENTRY_METADATA_BYTES: u64 = 64 << 10;

/// A package's files, by path relative to its root.
#[derive(Debug, Clone)]
pub struct Package {
    /// Where it was read from.
    pub source: PathBuf,
    /// Its files.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// Which files are descriptors.
    descriptors: DescriptorFiles,
}

/// How a package says which of its files are descriptors.
#[derive(Debug, Clone)]
enum DescriptorFiles {
    /// A directory or `.tar.gz`: every `.yml` and `.yaml` file.
    ByExtension,
    /// A `.tgo`: the files its NAPD lists as 5GTANGO NSDs and VNFDs.
    Listed(BTreeSet<PathBuf>),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingProblem {
    /// The file, relative to the package root.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field path, when the problem is with one field.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Whether the problem is an identity onboarded with other content
    /// (the package itself may be valid).
    pub identity_clash: bool,
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
            identity_clash: false,
        }
    }

    fn from_descriptor(file: &Path, problem: Problem) -> Self {
        Self {
            file: file.to_owned(),
            line: problem.line,
            path: problem.path,
            message: problem.issue.to_string(),
            identity_clash: false,
        }
    }
}

/// A VNF of an onboarded service and what one instance of it needs from
/// the VIM it is placed on: what an orchestrator checks its VIMs against.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFunction {
    /// Where the NSD names it: its file, relative to the package root, and
    /// the field (`network_functions[i]`).
    pub file: PathBuf,
    /// The field.
    pub path: String,
    /// Its `vnf_id` in the service.
    pub vnf_id: String,
    /// Its VNFD.
    pub vnfd: descriptor::Identity,
    /// Cores, memory and kind of VIM, or why the VNFD does not say.
    pub demand: Result<Demand, String>,
}

/// What onboarding stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OnboardReport {
    /// The service onboarded.
    pub nsd: catalogue::Identity,
    /// New and unchanged catalogue entries.
    pub stored: StoreReport,
    /// What is inconsistent in the descriptors although 5GTANGO ran such
    /// descriptors (left out of their model), in file and line order.
    pub warnings: Vec<OnboardingProblem>,
    /// The service's VNFs, in the order of its `network_functions`.
    pub functions: Vec<ServiceFunction>,
}

/// A warning for each of the service's VNFs that none of `vims` could host
/// even with nothing placed on it: the service would be refused at
/// placement. A warning, not a refusal: VIMs may be added before the
/// service is instantiated, and the catalogue is shared by orchestrators.
pub fn unplaceable_functions(functions: &[ServiceFunction], vims: &[Vim]) -> Vec<OnboardingProblem> {
    functions
        .iter()
        .filter_map(|function| {
            let demand = function.demand.as_ref().ok()?;
            let why = crate::placement::fits_no_vim(demand, vims)?;
            Some(OnboardingProblem::new(
                &function.file,
                function.path.clone(),
                format!(
                    "VNF {} ({}) fits no VIM of this orchestrator, even an empty one: it {why}; \
                     an instance of the service cannot be placed until a VIM can host it",
                    function.vnf_id, function.vnfd
                ),
            ))
        })
        .collect()
}

impl Package {
    /// Reads a package directory or `.tar.gz` archive, refusing links,
    /// paths that leave the package, a module over [`MAX_MODULE_BYTES`], a
    /// descriptor over [`MAX_DESCRIPTOR_BYTES`] (both before reading them)
    /// and anything beyond [`MAX_PACKAGE_BYTES`] or [`MAX_PACKAGE_FILES`].
    ///
    /// A file is read by what it holds, whatever its name: a ZIP archive is a
    /// 5GTANGO `.tgo` package (only the files its NAPD lists, their digests
    /// checked), anything else a `.tar.gz`.
    pub fn read(path: &Path) -> Result<Self, PackageError> {
        if !path.exists() {
            return Err(PackageError::Missing(path.to_owned()));
        }
        let mut contents = Contents::default();
        let unreadable = |message| PackageError::Unreadable {
            path: path.to_owned(),
            message,
        };
        let (files, descriptors) = if path.is_dir() {
            read_directory(path, &mut contents).map_err(unreadable)?;
            (strip_common_root(contents.files), DescriptorFiles::ByExtension)
        } else if tgo::is_zip(path).map_err(|error| unreadable(error.to_string()))? {
            let listed = tgo::read(path, &mut contents).map_err(unreadable)?;
            (contents.files, DescriptorFiles::Listed(listed))
        } else {
            read_archive(path, &mut contents).map_err(unreadable)?;
            (strip_common_root(contents.files), DescriptorFiles::ByExtension)
        };
        Ok(Self {
            source: path.to_owned(),
            files,
            descriptors,
        })
    }

    /// The package's descriptor files: `.yml` and `.yaml` files, or those
    /// a `.tgo`'s NAPD lists as NSDs and VNFDs.
    fn descriptor_files(&self) -> impl Iterator<Item = (&PathBuf, &Vec<u8>)> {
        self.files.iter().filter(|(path, _)| match &self.descriptors {
            DescriptorFiles::ByExtension => FileKind::of(path) == FileKind::Descriptor,
            DescriptorFiles::Listed(listed) => listed.contains(*path),
        })
    }
}

/// What a package file is to onboarding, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// A descriptor: `.yml` or `.yaml`.
    Descriptor,
    /// A WebAssembly module: `.wasm`.
    Module,
    /// Anything else, bounded by the package's total only.
    Other,
}

impl FileKind {
    fn of(path: &Path) -> Self {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some("yml" | "yaml") => Self::Descriptor,
            Some("wasm") => Self::Module,
            _ => Self::Other,
        }
    }

    /// The most one file of this kind may hold, and what to call it in a
    /// refusal.
    fn cap(self) -> Option<(u64, &'static str)> {
        match self {
            Self::Descriptor => Some((MAX_DESCRIPTOR_BYTES, "descriptor")),
            Self::Module => Some((MAX_MODULE_BYTES, "module")),
            Self::Other => None,
        }
    }
}

/// The files of a package being read, kept within its caps.
#[derive(Debug, Default)]
pub(crate) struct Contents {
    files: BTreeMap<PathBuf, Vec<u8>>,
    bytes: u64,
}

impl Contents {
    /// Admits a file before any of it is read, on the size the file system
    /// or the archive header gives: refuses it when it is over its kind's
    /// cap or would take the package past [`MAX_PACKAGE_BYTES`] or
    /// [`MAX_PACKAGE_FILES`]. Returns how many bytes to read at most: one
    /// more than the file may hold, so that one that grew is caught.
    pub(crate) fn admit(&self, file: &Path, size: u64) -> Result<u64, String> {
        if self.files.len() >= MAX_PACKAGE_FILES {
            return Err(format!(
                "more than {MAX_PACKAGE_FILES} files, the most a package may hold"
            ));
        }
        let remaining = MAX_PACKAGE_BYTES - self.bytes;
        let mut allowed = remaining;
        if let Some((cap, what)) = FileKind::of(file).cap() {
            if size > cap {
                return Err(format!(
                    "{} is {size} bytes, more than the {cap} bytes a {what} may hold",
                    file.display()
                ));
            }
            allowed = allowed.min(cap);
        }
        if size > remaining {
            return Err(format!(
                "{} is {size} bytes, more than the {remaining} bytes the package may still hold \
                 ({MAX_PACKAGE_BYTES} bytes in all)",
                file.display()
            ));
        }
        Ok(allowed + 1)
    }

    /// Keeps a file read under the bound [`Contents::admit`] gave, checking
    /// the size it turned out to have.
    pub(crate) fn insert(&mut self, file: PathBuf, bytes: Vec<u8>) -> Result<(), String> {
        let size = bytes.len() as u64;
        self.admit(&file, size)?;
        self.bytes += size;
        self.files.insert(file, bytes);
        Ok(())
    }
}

/// Reads a package directory's regular files, refusing links and anything
/// else that is not a regular file.
fn read_directory(root: &Path, contents: &mut Contents) -> Result<(), String> {
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let unlistable = |error: io::Error| format!("{}: {error}", dir.display());
        for entry in std::fs::read_dir(&dir).map_err(unlistable)? {
            let entry = entry.map_err(unlistable)?;
            let file = entry.path();
            let relative = file.strip_prefix(root).map_err(|error| error.to_string())?.to_owned();
            // Not following links: a package holds its own files only,
            // never a link out of it or a device to read forever.
            let kind = entry.file_type().map_err(unlistable)?;
            if kind.is_dir() {
                pending.push(file);
                continue;
            }
            if !kind.is_file() {
                return Err(format!(
                    "{} is not a regular file (links are not followed)",
                    relative.display()
                ));
            }
            let unreadable = |error: io::Error| format!("{}: {error}", relative.display());
            let opened = File::open(&file).map_err(unreadable)?;
            let size = opened.metadata().map_err(unreadable)?.len();
            let bound = contents.admit(&relative, size)?;
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            opened.take(bound).read_to_end(&mut bytes).map_err(unreadable)?;
            contents.insert(relative, bytes)?;
        }
    }
    Ok(())
}

/// Reads a `.tar.gz` package's regular files, refusing links, special files
/// and paths that leave the package. Every size is checked on the entry's
/// header before its data is read, and the inflated stream is metered
/// ([`InflationMeter`]).
fn read_archive(path: &Path, contents: &mut Contents) -> Result<(), String> {
    let gauge = InflationGauge::default();
    let file = File::open(path).map_err(|error| error.to_string())?;
    let mut archive = tar::Archive::new(InflationMeter {
        inflating: flate2::read::GzDecoder::new(file),
        gauge: &gauge,
    });
    let mut entries = archive.entries().map_err(|error| gauge.explain(&error))?;
    // Each header (with its long-name and PAX records) is inflated under
    // the allowance for metadata, each entry's data under the package's.
    let headers = std::iter::from_fn(|| {
        gauge.expect_headers();
        entries.next()
    });
    for entry in headers {
        let mut entry = entry.map_err(|error| gauge.explain(&error))?;
        gauge.expect_data();
        let name = entry
            .path()
            .map_err(|error| format!("archive entry with an unusable path: {error}"))?
            .into_owned();
        let kind = entry.header().entry_type();
        let size = entry.size();
        if kind.is_dir() || kind.is_pax_global_extensions() {
            if size > MAX_ENTRY_METADATA_BYTES {
                return Err(format!(
                    "archive entry {} ({kind:?}) holds {size} bytes, more than the {MAX_ENTRY_METADATA_BYTES} bytes one may hold",
                    name.display()
                ));
            }
            io::copy(&mut entry, &mut io::sink()).map_err(|error| gauge.explain(&error))?;
            continue;
        }
        if !kind.is_file() {
            return Err(format!(
                "archive entry {} is not a regular file but a {kind:?} (links are not followed)",
                name.display()
            ));
        }
        let inside = name
            .components()
            .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
        if !inside {
            return Err(format!("archive entry {} leaves the package", name.display()));
        }
        let bound = contents.admit(&name, size)?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .by_ref()
            .take(bound)
            .read_to_end(&mut bytes)
            .map_err(|error| gauge.explain(&error))?;
        let relative: PathBuf = name
            .components()
            .filter(|part| matches!(part, Component::Normal(_)))
            .collect();
        contents.insert(relative, bytes)?;
    }
    Ok(())
}

/// How much of a `.tar.gz` has been inflated, which limit applies to what
/// comes next, and whether a limit was passed: shared between the
/// [`InflationMeter`], which counts, and the reader of the archive, which
/// says what is being read and explains a refusal.
#[derive(Debug, Default)]
struct InflationGauge {
    inflated: Cell<u64>,
    limit: Cell<u64>,
    exceeded: Cell<bool>,
}

impl InflationGauge {
    /// What comes next is padding, the next header and its long-name and PAX
    /// records, which the tar reader holds in memory whole: at most
    /// [`MAX_ENTRY_METADATA_BYTES`] of them.
    fn expect_headers(&self) {
        let limit = self.inflated.get().saturating_add(MAX_ENTRY_METADATA_BYTES);
        self.limit.set(limit.min(MAX_PACKAGE_BYTES));
    }

    /// What comes next is an entry's data, whose size its header gave and
    /// the reader checked: the archive's total is the limit.
    fn expect_data(&self) {
        self.limit.set(MAX_PACKAGE_BYTES);
    }

    /// An error reading the archive, in the operator's terms.
    fn explain(&self, error: &io::Error) -> String {
        if !self.exceeded.get() {
            format!("not a .tar.gz package: {error}")
        } else if self.inflated.get() > MAX_PACKAGE_BYTES {
            format!(
                "refused: the archive inflates to more than {MAX_PACKAGE_BYTES} bytes, the most a package may hold (a gzip bomb?)"
            )
        } else {
            format!(
                "refused: more than {MAX_ENTRY_METADATA_BYTES} bytes of tar headers, long names and PAX records before one entry's data (a gzip bomb?)"
            )
        }
    }
}

/// Counts the bytes a gzip stream inflates to as they leave the decoder and
/// fails the read that passes the gauge's limit: a gzip bomb is refused
/// after inflating one byte more than it may, and nothing is kept here.
struct InflationMeter<'gauge, R> {
    inflating: R,
    gauge: &'gauge InflationGauge,
}

impl<R: Read> Read for InflationMeter<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let inflated = self.gauge.inflated.get();
        let limit = self.gauge.limit.get();
        // One byte past the limit is enough to know it is passed.
        let room = usize::try_from(limit.saturating_sub(inflated).saturating_add(1)).unwrap_or(usize::MAX);
        let length = buffer.len().min(room);
        let read = self.inflating.read(&mut buffer[..length])?;
        let inflated = inflated + read as u64;
        self.gauge.inflated.set(inflated);
        if inflated > limit {
            self.gauge.exceeded.set(true);
            return Err(io::Error::other("the archive inflates past its limit"));
        }
        Ok(read)
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

/// Two VNFDs of one package with one identity: the catalogue keeps one
/// descriptor per identity, so one of them would silently not be onboarded.
/// Each later file is named with the first one declaring the identity.
fn shared_identities(vnfds: &[(&Path, Vnfd, &[u8])]) -> Vec<OnboardingProblem> {
    let mut first_file: HashMap<&descriptor::Identity, &Path> = HashMap::new();
    let mut problems = Vec::new();
    for (file, vnfd, _) in vnfds {
        match first_file.get(&vnfd.identity) {
            Some(first) => problems.push(OnboardingProblem::new(
                file,
                "",
                format!(
                    "VNFD {} is also declared by {}: a package holds one descriptor per identity \
                     (vendor/name/version); give one of them another version",
                    vnfd.identity,
                    first.display()
                ),
            )),
            None => {
                first_file.insert(&vnfd.identity, file);
            }
        }
    }
    problems
}

/// A manager entry whose module must be checked, and where it was declared.
struct ModuleUse<'a> {
    file: &'a Path,
    field: String,
    manager: &'a Manager,
    kind: ManagerKind,
}

/// The manager entries of one descriptor's list (`key`), the managers it
/// runs and the updates it declares, each named by its position in the
/// list as written.
fn module_uses<'a>(
    file: &'a Path,
    key: &str,
    managers: &'a [Manager],
    updates: &'a [ManagerUpdate],
    kind: ManagerKind,
) -> Vec<ModuleUse<'a>> {
    let update_entries: Vec<usize> = updates.iter().map(|update| update.entry).collect();
    let positions = (0..).filter(|position| !update_entries.contains(position));
    let ordinary = positions.zip(managers);
    let updated = updates.iter().map(|update| (update.entry, &update.manager));
    ordinary
        .chain(updated)
        .map(|(position, manager)| ModuleUse {
            file,
            field: format!("{key}[{position}]"),
            manager,
            kind,
        })
        .collect()
}

/// Checks a package and stores it in the catalogue, or stores nothing and
/// returns every problem.
pub fn onboard(package: &Package, catalogue: &Catalogue, host: &Host) -> Result<OnboardReport, Vec<OnboardingProblem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut nsds: Vec<(&Path, Nsd, &[u8])> = Vec::new();
    let mut vnfds: Vec<(&Path, Vnfd, &[u8])> = Vec::new();
    for (file, bytes) in package.descriptor_files() {
        let on_file = |problem| OnboardingProblem::from_descriptor(file, problem);
        match descriptor::parse_checked(bytes) {
            Ok(checked) => {
                warnings.extend(checked.warnings.into_iter().map(on_file));
                match checked.descriptor {
                    Descriptor::Service(nsd) => nsds.push((file, nsd, bytes)),
                    Descriptor::Function(vnfd) => vnfds.push((file, vnfd, bytes)),
                }
            }
            Err(found) => problems.extend(
                found
                    .into_iter()
                    .filter(|problem| problem.severity() == Severity::Error)
                    .map(on_file),
            ),
        }
    }
    problems.extend(shared_identities(&vnfds));
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

    // Every WebAssembly manager's module, updates' too.
    let mut uses = module_uses(
        nsd_file,
        "service_specific_managers",
        &nsd.service_specific_managers,
        &nsd.service_manager_updates,
        ManagerKind::Service,
    );
    for (file, vnfd, _) in &vnfds {
        uses.extend(module_uses(
            file,
            "function_specific_managers",
            &vnfd.function_specific_managers,
            &vnfd.function_manager_updates,
            ManagerKind::Function,
        ));
    }
    let mut entries = Vec::new();
    let mut verified = VerifiedModules::new();
    for module_use in &uses {
        match check_module(package, host, module_use, &mut verified) {
            Ok(Some((bytes, loaded))) => entries.push(NewEntry {
                kind: EntryKind::Module,
                identity: catalogue::module_identity(loaded.sha256()),
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
    // Modules shared by several entries; descriptors are unique by now.
    entries.dedup_by(|a, b| a.kind == b.kind && a.identity == b.identity);
    if let Err(conflicts) = catalogue.check(&entries) {
        problems.extend(conflicts.into_iter().map(|conflict| OnboardingProblem {
            identity_clash: matches!(conflict, CatalogueError::Changed { .. }),
            ..OnboardingProblem::new(root, "", conflict.to_string())
        }));
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
    // Committed: the modules' compiled code may now go to the cache, so
    // that running them does not compile them again.
    for module in verified.values() {
        if let Err(error) = host.store_compiled(module) {
            tracing::warn!(module = module.sha256(), "cannot cache the compiled module: {error}");
        }
    }
    let functions = nsd
        .network_functions
        .iter()
        .zip(&service_vnfds)
        .enumerate()
        .map(|(index, (function, vnfd))| ServiceFunction {
            file: nsd_file.to_path_buf(),
            path: format!("network_functions[{index}]"),
            vnf_id: function.vnf_id.clone(),
            vnfd: vnfd.identity.clone(),
            demand: vnfd.demand(),
        })
        .collect();
    Ok(OnboardReport {
        nsd: nsd.identity.clone(),
        stored,
        warnings,
        functions,
    })
}

/// The modules one onboarding has compiled, by package path and pinned
/// digest: a module that several entries use (one FSM for many VNFDs) is
/// compiled once.
type VerifiedModules = HashMap<(PathBuf, String), LoadedModule>;

/// Checks one manager entry's module: in the package, pinned digest, a
/// component of the right kind handling the declared events, checked
/// without writing anything. Returns its bytes and its compiled form;
/// container managers have no module (`None`).
fn check_module(
    package: &Package,
    host: &Host,
    module_use: &ModuleUse,
    verified: &mut VerifiedModules,
) -> Result<Option<(Vec<u8>, LoadedModule)>, OnboardingProblem> {
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
    // Verified, not loaded: a refused package must leave no compiled
    // artifact in the precompiled cache; `onboard` stores it once committed.
    let key = (normalized, sha256.as_str().to_ascii_lowercase());
    let loaded = match verified.get(&key) {
        Some(loaded) => loaded.clone(),
        None => {
            let loaded = host
                .verify_bytes(bytes, Some(sha256.as_str()))
                .map_err(|error| problem(format!("{}: {error}", path.display())))?;
            verified.insert(key, loaded.clone());
            loaded
        }
    };
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
    let probe = WasmManager::new(host, loaded.clone(), &manager.id, options, Limits::default())
        .map_err(|error| problem(error.to_string()))?;
    probe
        .check_contract()
        .map_err(|cause| problem(format!("{}: {cause}", path.display())))?;
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
    Ok(Some((bytes.clone(), loaded)))
}
