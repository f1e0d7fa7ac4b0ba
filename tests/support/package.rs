//! The bundled example package (`examples-sm/package`) written out with its
//! modules and their digests pinned, as `wasmano demo` prepares it, for the
//! benchmarks that onboard it. Included with `#[path]` next to `support` by
//! the orchestrator's benchmarks (it needs the `wasmano` crate).

use std::path::{Path, PathBuf};

use wasmano::descriptor::pin_module_digests;

use crate::support::workspace_root;

/// Writes the package under `root`: `modules` copied into `root/modules`,
/// each descriptor passed through `edit(file name, text)` and pinned.
pub fn write_bundled_package(root: &Path, modules: &[&Path], edit: impl Fn(&str, String) -> String) -> PathBuf {
    std::fs::create_dir_all(root.join("modules")).expect("package dir");
    for module in modules {
        std::fs::copy(module, root.join("modules").join(module.file_name().expect("name"))).expect("copy module");
    }
    for entry in std::fs::read_dir(workspace_root().join("examples-sm/package")).expect("descriptors") {
        let source = entry.expect("entry").path();
        let name = source.file_name().expect("name").to_string_lossy().into_owned();
        let text = edit(&name, std::fs::read_to_string(&source).expect("descriptor"));
        let pinned = pin_module_digests(&text, root).expect("pin").text;
        std::fs::write(root.join(&name), pinned).expect("write");
    }
    root.to_owned()
}
