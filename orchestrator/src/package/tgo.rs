//! 5GTANGO `.tgo` packages, as tng-sdk-package writes them: a ZIP archive
//! whose `TOSCA-Metadata/TOSCA.meta` names the NAPD (the block with
//! `Content-Type: application/vnd.5gtango.napd`; `TOSCA-Metadata/NAPD.yaml`
//! when none does), whose `package_content` lists the package's files with
//! their `content-type` and digest (`algorithm: SHA-256`, `hash`).
//!
//! Only the files the NAPD lists are read, each under the same caps as a
//! `.tar.gz`'s (checked on the size the archive's directory gives, then on
//! what the entry inflates to); the others are ignored, unread. Every
//! entry of the archive is refused if it is a link or its path leaves the
//! package, listed or not. A listed file missing or whose digest differs
//! refuses the package. Descriptors are the files listed as 5GTANGO NSDs
//! and VNFDs, whatever their names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::{Contents, MAX_DESCRIPTOR_BYTES, MAX_PACKAGE_FILES};
use crate::descriptor;

/// Where tng-sdk-package puts the TOSCA metadata, below the package root.
const TOSCA_META: &str = "TOSCA-Metadata/TOSCA.meta";
/// Where the NAPD is when TOSCA.meta names none.
const DEFAULT_NAPD: &str = "TOSCA-Metadata/NAPD.yaml";
/// The content type TOSCA.meta gives the NAPD.
const NAPD_CONTENT_TYPE: &str = "application/vnd.5gtango.napd";
/// The content types of the descriptors wasmano onboards.
const DESCRIPTOR_CONTENT_TYPES: [&str; 2] = ["application/vnd.5gtango.nsd", "application/vnd.5gtango.vnfd"];
/// The digest algorithm tng-sdk-package writes, the one wasmano checks.
const SHA_256: &str = "SHA-256";

/// The part of the NAPD that says what the package holds; its other fields
/// (vendor, maintainer, ...) are 5GTANGO's and ignored.
#[derive(Debug, Deserialize)]
struct Napd {
    #[serde(default)]
    package_content: Vec<ContentEntry>,
}

/// One `package_content` entry.
#[derive(Debug, Deserialize)]
struct ContentEntry {
    /// The file, relative to the package root.
    source: String,
    #[serde(rename = "content-type")]
    content_type: Option<String>,
    algorithm: Option<String>,
    hash: Option<String>,
}

/// Whether the file is a ZIP archive (by its first four bytes).
pub(super) fn is_zip(path: &Path) -> io::Result<bool> {
    let mut magic = [0; 4];
    let read = File::open(path)?.take(4).read(&mut magic)?;
    Ok(read == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"))
}

/// Reads the files a `.tgo`'s NAPD lists into `contents`, by path relative
/// to the package root, and returns those that are descriptors.
pub(super) fn read(path: &Path, contents: &mut Contents) -> Result<BTreeSet<PathBuf>, String> {
    let file = File::open(path).map_err(|error| error.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| format!("not a .tgo package: {error}"))?;
    let entries = regular_entries(&mut archive)?;
    let root = package_root(&entries)?;
    let tosca_meta = read_metadata(&mut archive, &entries, &root.join(TOSCA_META))?;
    let napd_path = napd_path(&String::from_utf8_lossy(&tosca_meta))?;
    let napd_bytes = read_metadata(&mut archive, &entries, &root.join(&napd_path))?;
    let napd = descriptor::document(&napd_bytes)
        .map_err(|problem| format!("{}: {problem}", napd_path.display()))
        .and_then(|document| {
            serde_json::from_value::<Napd>(document).map_err(|error| format!("{}: {error}", napd_path.display()))
        })?;
    let mut descriptors = BTreeSet::new();
    for (index, entry) in napd.package_content.iter().enumerate() {
        let field = format!("{}: package_content[{index}]", napd_path.display());
        let source = inside_package(Path::new(&entry.source))
            .ok_or_else(|| format!("{field}.source: {:?} leaves the package", entry.source))?;
        let index = *entries
            .get(&root.join(&source))
            .ok_or_else(|| format!("{field}: {} is listed but not in the archive", source.display()))?;
        let bytes = read_entry(&mut archive, index, &source, |size| contents.admit(&source, size))?;
        check_digest(&field, &source, entry, &bytes)?;
        if entry
            .content_type
            .as_deref()
            .is_some_and(|content_type| DESCRIPTOR_CONTENT_TYPES.contains(&content_type))
        {
            descriptors.insert(source.clone());
        }
        contents.insert(source, bytes)?;
    }
    Ok(descriptors)
}

/// The archive's regular files by path, refusing links and paths that
/// leave the package, before anything is inflated.
fn regular_entries(archive: &mut zip::ZipArchive<File>) -> Result<BTreeMap<PathBuf, usize>, String> {
    // Directories and unlisted files count too: twice the file cap leaves
    // room for them and still bounds the listing held in memory.
    if archive.len() > 2 * MAX_PACKAGE_FILES {
        return Err(format!(
            "{} archive entries, more than a package of at most {MAX_PACKAGE_FILES} files may have",
            archive.len()
        ));
    }
    let mut entries = BTreeMap::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|error| error.to_string())?;
        let name = entry.name().map_err(|error| error.to_string())?.into_owned();
        if entry.is_symlink() {
            return Err(format!(
                "archive entry {name} is not a regular file but a link (links are not followed)"
            ));
        }
        let path =
            inside_package(Path::new(&name)).ok_or_else(|| format!("archive entry {name} leaves the package"))?;
        if !entry.is_dir() {
            entries.insert(path, index);
        }
    }
    Ok(entries)
}

/// The package root: the directory holding `TOSCA-Metadata/TOSCA.meta`,
/// the archive's own or one folder that holds everything (as zips of a
/// directory have).
fn package_root(entries: &BTreeMap<PathBuf, usize>) -> Result<PathBuf, String> {
    entries
        .keys()
        .filter(|path| path.ends_with(TOSCA_META))
        .min_by_key(|path| path.components().count())
        .and_then(|path| path.ancestors().nth(2))
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("not a .tgo package: no {TOSCA_META}"))
}

/// The NAPD's path from TOSCA.meta's blocks (`key: value` lines, blocks
/// separated by blank lines): the `Name` of the block whose `Content-Type`
/// is the NAPD's, else tng-sdk-package's default place.
fn napd_path(tosca_meta: &str) -> Result<PathBuf, String> {
    let named = tosca_meta.split("\n\n").find_map(|block| {
        let field = |key: &str| {
            block.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == key).then(|| value.trim())
            })
        };
        (field("Content-Type") == Some(NAPD_CONTENT_TYPE)).then(|| field("Name"))?
    });
    let name = named.unwrap_or(DEFAULT_NAPD);
    inside_package(Path::new(name)).ok_or_else(|| format!("{TOSCA_META}: the NAPD {name:?} leaves the package"))
}

/// A TOSCA.meta or NAPD file: capped like a descriptor, not one of the
/// package's files.
fn read_metadata(
    archive: &mut zip::ZipArchive<File>,
    entries: &BTreeMap<PathBuf, usize>,
    path: &Path,
) -> Result<Vec<u8>, String> {
    let index = *entries
        .get(path)
        .ok_or_else(|| format!("not a .tgo package: no {}", path.display()))?;
    read_entry(archive, index, path, |size| {
        if size > MAX_DESCRIPTOR_BYTES {
            Err(format!(
                "{} is {size} bytes, more than the {MAX_DESCRIPTOR_BYTES} bytes package metadata may hold",
                path.display()
            ))
        } else {
            Ok(size + 1)
        }
    })
}

/// Inflates one entry: `admit` checks the size the archive's directory
/// declares before anything is inflated and says how much to read at most;
/// an entry that inflates past its declared size is refused as soon as it
/// does.
fn read_entry(
    archive: &mut zip::ZipArchive<File>,
    index: usize,
    path: &Path,
    admit: impl FnOnce(u64) -> Result<u64, String>,
) -> Result<Vec<u8>, String> {
    let entry = archive
        .by_index(index)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    let declared = entry.size();
    let bound = admit(declared)?.min(declared.saturating_add(1));
    let mut bytes = Vec::with_capacity(usize::try_from(declared.min(bound)).unwrap_or(0));
    entry
        .take(bound)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    if bytes.len() as u64 > declared {
        return Err(format!(
            "refused: {} inflates to more than the {declared} bytes the archive declares for it (a zip bomb?)",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Checks a listed file against the digest the NAPD gives it. An entry
/// without `algorithm` has no digest to check (tng-sdk-package skips it too).
fn check_digest(field: &str, source: &Path, entry: &ContentEntry, bytes: &[u8]) -> Result<(), String> {
    let Some(algorithm) = &entry.algorithm else {
        return Ok(());
    };
    if algorithm != SHA_256 {
        return Err(format!(
            "{field}.algorithm: {algorithm:?} is not supported for {} (only {SHA_256})",
            source.display()
        ));
    }
    let expected = entry
        .hash
        .as_deref()
        .ok_or_else(|| format!("{field}.hash: is required with algorithm {SHA_256}"))?;
    let actual = wasmano_host::sha256_hex(bytes);
    if !expected.eq_ignore_ascii_case(&actual) {
        return Err(format!(
            "{}: sha256 mismatch: the NAPD says {expected}, the file has {actual}",
            source.display()
        ));
    }
    Ok(())
}

/// A relative path without `..`, normalized (`.` parts dropped); `None` when
/// it would leave the package.
fn inside_package(path: &Path) -> Option<PathBuf> {
    let inside = path
        .components()
        .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
    let normalized: PathBuf = path
        .components()
        .filter(|part| matches!(part, Component::Normal(_)))
        .collect();
    (inside && normalized.components().next().is_some()).then_some(normalized)
}
