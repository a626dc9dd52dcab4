//! Assembling the Chrome and Firefox extensions in `dist/` from the built
//! panel, the static extension files and the typed manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::workspace::Workspace;

/// Writes `dist/chrome/`, `dist/firefox/` and their zips; needs
/// `dist/panel/` (see `panel::build`).
pub(crate) fn build(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let written = manifest_build_dist(&ws.root)?;
    for path in &written {
        let shown = path.strip_prefix(&ws.root).unwrap_or(path);
        println!("dist: wrote {}", shown.display());
    }
    Ok(written)
}

/// The manifest crate owns the layout of each browser's package; xtask
/// only decides when to call it.
fn manifest_build_dist(root: &Path) -> Result<Vec<PathBuf>> {
    fluxlive_manifest::build_dist(root).with_context(|| {
        format!(
            "assembling the browser extensions from {} and {}",
            root.join("extension").display(),
            root.join("dist/panel").display()
        )
    })
}
