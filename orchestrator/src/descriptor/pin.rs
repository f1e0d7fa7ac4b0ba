//! Pinning a descriptor's WebAssembly modules: the sha256 of the module each
//! manager entry names, written into its `wasm.sha256`.
//!
//! Only those values change in the file's text: a digest already there is
//! replaced where it stands, a missing one goes on the line after `module:`
//! (or after its value, in a flow mapping). Comments, order, quoting and
//! line endings stay as the vendor wrote them. The edited text is read back
//! and must be the original document with exactly those digests set;
//! anything else is refused, naming the digest to write by hand.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::manager::ModuleRef;
use super::problem::Problem;
use super::yaml::{self, Content, Node};

/// The lists of manager entries in NSDs (SSMs) and VNFDs (FSMs).
const MANAGER_LISTS: [&str; 2] = ["service_specific_managers", "function_specific_managers"];

/// A descriptor's text with its modules pinned.
#[derive(Debug, Clone, PartialEq)]
pub struct Pinned {
    /// The edited text (the original when nothing changed).
    pub text: String,
    /// One entry per WebAssembly manager, in the file's order.
    pub modules: Vec<PinnedModule>,
}

impl Pinned {
    /// Whether any digest was added or changed.
    pub fn changed(&self) -> bool {
        self.modules.iter().any(|module| module.changed)
    }
}

/// One WebAssembly manager entry and the digest of its module.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnedModule {
    /// The entry, e.g. `service_specific_managers[0]`.
    pub field: String,
    /// The manager's `id`.
    pub manager: String,
    /// Its `wasm.module`.
    pub module: String,
    /// The module file's sha256.
    pub sha256: String,
    /// Whether the descriptor held no digest, or another one.
    pub changed: bool,
}

/// Why a descriptor could not be pinned. Nothing is written then.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The text is not a YAML document the descriptor budgets accept.
    #[error("{}{problem}", problem.line.map(|line| format!("line {line}: ")).unwrap_or_default())]
    Unreadable {
        /// What is wrong.
        problem: Problem,
    },
    /// `wasm.module` is not a path inside the package.
    #[error("{field}.wasm.module: {module}: not a path inside the package")]
    NotInPackage {
        /// The entry.
        field: String,
        /// The reference.
        module: String,
    },
    /// The module file cannot be read.
    #[error("{field}.wasm.module: cannot read {}: {source}", path.display())]
    ModuleUnreadable {
        /// The entry.
        field: String,
        /// Where the module was looked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The text could not be edited in place safely.
    #[error("{field}.wasm: {reason}; write sha256: \"{sha256}\" there by hand")]
    CannotEdit {
        /// The entry.
        field: String,
        /// Why.
        reason: String,
        /// The digest it should hold.
        sha256: String,
    },
}

/// One WebAssembly manager entry as the text holds it.
struct Entry {
    field: String,
    manager: String,
    module: String,
    /// 0-based line of `module`'s value, when the parser knew it.
    module_line: Option<usize>,
    /// `sha256`'s value and 0-based line, when present.
    pinned: Option<(String, Option<usize>)>,
}

/// Pins every WebAssembly manager of the descriptor `text` to the digest of
/// its module, resolved under `root` (the package's root).
pub fn pin_module_digests(text: &str, root: &Path) -> Result<Pinned, PinError> {
    pin_digests(text, |module| {
        let path = root.join(module);
        std::fs::read(&path)
            .map(|bytes| wasmano_host::sha256_hex(&bytes))
            .map_err(|source| (path, source))
    })
}

/// [`pin_module_digests`] with the digest of each module (its path inside
/// the package) given by `digest_of`, which says where it looked when it
/// cannot tell.
pub fn pin_digests(
    text: &str,
    mut digest_of: impl FnMut(&Path) -> Result<String, (PathBuf, std::io::Error)>,
) -> Result<Pinned, PinError> {
    let tree = yaml::parse(text.as_bytes()).map_err(|problem| PinError::Unreadable { problem })?;
    let entries = wasm_entries(&tree);
    let mut modules = Vec::with_capacity(entries.len());
    for entry in &entries {
        let Some(ModuleRef::Package(module)) = ModuleRef::parse(&entry.module) else {
            return Err(PinError::NotInPackage {
                field: entry.field.clone(),
                module: entry.module.clone(),
            });
        };
        let sha256 = digest_of(&module).map_err(|(path, source)| PinError::ModuleUnreadable {
            field: entry.field.clone(),
            path,
            source,
        })?;
        modules.push(PinnedModule {
            field: entry.field.clone(),
            manager: entry.manager.clone(),
            module: entry.module.clone(),
            changed: entry.pinned.as_ref().is_none_or(|(held, _)| *held != sha256),
            sha256,
        });
    }

    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    // Bottom up, so that an inserted line does not move the ones still to edit.
    let mut edits: Vec<(&Entry, &PinnedModule)> = entries
        .iter()
        .zip(&modules)
        .filter(|(_, module)| module.changed)
        .collect();
    edits.sort_by_key(|(entry, _)| std::cmp::Reverse(entry.module_line));
    for (entry, module) in &edits {
        let cannot = |reason: &str| PinError::CannotEdit {
            field: entry.field.clone(),
            reason: reason.to_owned(),
            sha256: module.sha256.clone(),
        };
        let sharing_a_line = entries
            .iter()
            .filter(|other| other.module_line == entry.module_line || edit_line(other) == edit_line(entry))
            .count();
        if sharing_a_line > 1 {
            return Err(cannot("another manager is written on the same line"));
        }
        let quoted = format!("\"{}\"", module.sha256);
        match entry.pinned {
            Some((_, line)) => {
                let text = line
                    .and_then(|line| lines.get_mut(line))
                    .ok_or_else(|| cannot("sha256's line is past the end"))?;
                let (start, end) =
                    value_after_key(text, "sha256").ok_or_else(|| cannot("sha256 is not on its line"))?;
                text.replace_range(start..end, &quoted);
            }
            None => {
                let line = entry.module_line.ok_or_else(|| cannot("module's line is not known"))?;
                let text = lines
                    .get(line)
                    .ok_or_else(|| cannot("module's line is past the end"))?
                    .clone();
                let (start, end) =
                    value_after_key(&text, "module").ok_or_else(|| cannot("module is not on its line"))?;
                if key_opens_line(&text, start) {
                    let indent: String = text.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
                    let ending = if text.ends_with("\r\n") { "\r\n" } else { "\n" };
                    if !text.ends_with('\n') {
                        lines[line].push_str(ending);
                    }
                    lines.insert(line + 1, format!("{indent}sha256: {quoted}{ending}"));
                } else {
                    lines[line].insert_str(end, &format!(", sha256: {quoted}"));
                }
            }
        }
    }
    let Some(&(first_entry, first_module)) = edits.first() else {
        return Ok(Pinned {
            text: text.to_owned(),
            modules,
        });
    };
    let edited = lines.concat();

    // The edit must read back as the original document with the digests set.
    let mut expected = tree.to_json();
    for module in &modules {
        if let Some(wasm) = wasm_of(&mut expected, &module.field) {
            wasm.insert("sha256".to_owned(), Value::String(module.sha256.clone()));
        }
    }
    let read_back = yaml::parse(edited.as_bytes()).map(|tree| tree.to_json());
    if read_back.as_ref().ok() != Some(&expected) {
        return Err(PinError::CannotEdit {
            field: first_entry.field.clone(),
            reason: "the edited file does not read back as this descriptor with its digests".to_owned(),
            sha256: first_module.sha256.clone(),
        });
    }
    Ok(Pinned { text: edited, modules })
}

/// The line a digest is written on or after.
fn edit_line(entry: &Entry) -> Option<usize> {
    entry.pinned.as_ref().map_or(entry.module_line, |(_, line)| *line)
}

/// The WebAssembly manager entries of a descriptor, in the file's order.
fn wasm_entries(tree: &Node) -> Vec<Entry> {
    let mut entries = Vec::new();
    for list in MANAGER_LISTS {
        let Some(Content::List(managers)) = field(tree, list).map(|node| &node.content) else {
            continue;
        };
        for (index, manager) in managers.iter().enumerate() {
            let Some(wasm) = field(manager, "wasm") else {
                continue;
            };
            let Some(module) = field(wasm, "module") else {
                continue;
            };
            let Some(module_text) = text(module) else {
                continue;
            };
            let zero_based = |node: &Node| node.line.and_then(|line| line.checked_sub(1));
            let pinned = field(wasm, "sha256").and_then(|node| Some((text(node)?.to_owned(), zero_based(node))));
            entries.push(Entry {
                field: format!("{list}[{index}]"),
                manager: field(manager, "id").and_then(text).unwrap_or_default().to_owned(),
                module: module_text.to_owned(),
                module_line: zero_based(module),
                pinned,
            });
        }
    }
    entries
}

fn field<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.content {
        Content::Map(fields) => fields.iter().find(|(name, _)| name == key).map(|(_, value)| value),
        _ => None,
    }
}

fn text(node: &Node) -> Option<&str> {
    match &node.content {
        Content::Text(text) => Some(text),
        _ => None,
    }
}

/// The `wasm` mapping of `field` (`list[index]`) in a descriptor document.
fn wasm_of<'a>(document: &'a mut Value, field: &str) -> Option<&'a mut serde_json::Map<String, Value>> {
    let (list, index) = field.strip_suffix(']')?.split_once('[')?;
    document
        .get_mut(list)?
        .get_mut(index.parse::<usize>().ok()?)?
        .get_mut("wasm")?
        .as_object_mut()
}

/// The byte range of the scalar after `key:` on `line` (the key bare or
/// quoted), quotes included.
fn value_after_key(line: &str, key: &str) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    for (at, _) in line.match_indices(key) {
        let before = at.checked_sub(1).map(|index| bytes[index]);
        let mut next = at + key.len();
        if let Some(quote @ (b'"' | b'\'')) = before
            && bytes.get(next) == Some(&quote)
        {
            next += 1;
        } else if before.is_some_and(|byte| !matches!(byte, b' ' | b'\t' | b'{' | b',')) {
            continue;
        }
        while matches!(bytes.get(next), Some(b' ' | b'\t')) {
            next += 1;
        }
        if bytes.get(next) != Some(&b':') {
            continue;
        }
        let mut start = next + 1;
        while matches!(bytes.get(start), Some(b' ' | b'\t')) {
            start += 1;
        }
        let end = match bytes.get(start) {
            Some(quote @ (b'"' | b'\'')) => start + 1 + line[start + 1..].find(*quote as char)? + 1,
            Some(_) => {
                start
                    + line[start..]
                        .find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == '#')
                        .unwrap_or(line.len() - start)
            }
            None => return None,
        };
        return (end > start).then_some((start, end));
    }
    None
}

/// Whether the key whose value starts at `value_start` is the first thing on
/// its line (block style), not inside a flow mapping.
fn key_opens_line(line: &str, value_start: usize) -> bool {
    let head = line[..value_start].trim_start();
    let key = head.trim_end().trim_end_matches(':').trim_end();
    !key.contains(['{', ',', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm not really a module";

    fn package() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("modules")).unwrap();
        std::fs::write(root.path().join("modules/m.wasm"), MODULE).unwrap();
        root
    }

    fn digest() -> String {
        wasmano_host::sha256_hex(MODULE)
    }

    #[test]
    fn a_missing_digest_goes_under_module_and_everything_else_stays() {
        let root = package();
        let text = "# the vendor's comment\nservice_specific_managers:\n  - id: \"p\"   # keep me\n    wasm:\n      module: \"modules/m.wasm\"  # here\n      limits: {deadline_ms: 50}\n    options:\n      - {key: type, value: placement}\n";
        let pinned = pin_module_digests(text, root.path()).unwrap();
        let expected = text.replace("# here\n", &format!("# here\n      sha256: \"{}\"\n", digest()));
        assert_eq!(pinned.text, expected);
        assert_eq!(pinned.modules.len(), 1);
        assert_eq!(pinned.modules[0].field, "service_specific_managers[0]");
        assert_eq!(pinned.modules[0].manager, "p");
        assert!(pinned.changed());

        let again = pin_module_digests(&pinned.text, root.path()).unwrap();
        assert_eq!(again.text, pinned.text);
        assert!(!again.changed());
    }

    #[test]
    fn a_wrong_digest_is_replaced_where_it_stands_in_either_style() {
        let root = package();
        let stale = "ab".repeat(32);
        for (text, expected) in [
            (
                format!(
                    "function_specific_managers:\n  - id: f\n    wasm:\n      sha256: '{stale}' # old\n      module: modules/m.wasm\n"
                ),
                format!(
                    "function_specific_managers:\n  - id: f\n    wasm:\n      sha256: \"{}\" # old\n      module: modules/m.wasm\n",
                    digest()
                ),
            ),
            (
                format!(
                    "function_specific_managers:\r\n  - {{id: f, wasm: {{module: modules/m.wasm, sha256: {stale}}}}}\r\n"
                ),
                format!(
                    "function_specific_managers:\r\n  - {{id: f, wasm: {{module: modules/m.wasm, sha256: \"{}\"}}}}\r\n",
                    digest()
                ),
            ),
            (
                "function_specific_managers:\r\n  - {id: f, wasm: {module: modules/m.wasm}}\r\n".to_owned(),
                format!(
                    "function_specific_managers:\r\n  - {{id: f, wasm: {{module: modules/m.wasm, sha256: \"{}\"}}}}\r\n",
                    digest()
                ),
            ),
            (
                "function_specific_managers:\r\n  - id: f\r\n    wasm:\r\n      \"module\": modules/m.wasm\r\n"
                    .to_owned(),
                format!(
                    "function_specific_managers:\r\n  - id: f\r\n    wasm:\r\n      \"module\": modules/m.wasm\r\n      sha256: \"{}\"\r\n",
                    digest()
                ),
            ),
        ] {
            assert_eq!(pin_module_digests(&text, root.path()).unwrap().text, expected, "{text}");
        }
    }

    #[test]
    fn what_cannot_be_pinned_is_refused_naming_the_entry() {
        let root = package();
        let two_on_a_line = "service_specific_managers: [{id: a, wasm: {module: modules/m.wasm}}, {id: b, wasm: {module: modules/m.wasm}}]\n";
        let error = pin_module_digests(two_on_a_line, root.path()).unwrap_err();
        assert!(matches!(error, PinError::CannotEdit { .. }), "{error}");
        assert!(error.to_string().contains(&digest()), "{error}");

        // Taken for block style, but inside a flow mapping: the inserted line
        // would not read back as intended, so nothing is written.
        let flow_over_lines =
            "service_specific_managers:\n  - id: a\n    wasm: {\n      module: modules/m.wasm\n    }\n";
        let error = pin_module_digests(flow_over_lines, root.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not read back"), "{error}");

        let missing = "service_specific_managers:\n  - id: a\n    wasm:\n      module: modules/absent.wasm\n";
        let error = pin_module_digests(missing, root.path()).unwrap_err().to_string();
        assert!(
            error.starts_with("service_specific_managers[0].wasm.module: cannot read "),
            "{error}"
        );
        assert!(error.contains("modules/absent.wasm"), "{error}");

        let outside = "service_specific_managers:\n  - id: a\n    wasm:\n      module: ../m.wasm\n";
        assert_eq!(
            pin_module_digests(outside, root.path()).unwrap_err().to_string(),
            "service_specific_managers[0].wasm.module: ../m.wasm: not a path inside the package"
        );
        assert!(matches!(
            pin_module_digests("a: [", root.path()).unwrap_err(),
            PinError::Unreadable { .. }
        ));
    }

    #[test]
    fn a_descriptor_without_wasm_managers_is_left_as_it_is() {
        let root = package();
        let text = "service_specific_managers:\n  - id: c\n    image: tsoenen/config-ssm\n";
        let pinned = pin_module_digests(text, root.path()).unwrap();
        assert_eq!((pinned.text.as_str(), pinned.modules.len()), (text, 0));
    }
}
