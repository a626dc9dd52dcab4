//! Assembling the Chrome and Firefox extensions in `dist/` from the built
//! panel, the static extension files and the typed manifest.

use std::path::{Path, PathBuf};

use anyhow::Result;

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

/// PENDING WIRING: `fluxlive_manifest::build_dist(root)` does not exist yet
/// (manifest/src/lib.rs is a stub). When it does, add
/// `fluxlive-manifest = { path = "../manifest" }` to xtask/Cargo.toml and
/// make this body `Ok(fluxlive_manifest::build_dist(root)?)`.
fn manifest_build_dist(root: &Path) -> Result<Vec<PathBuf>> {
    anyhow::bail!(
        "the manifest crate does not expose `build_dist` yet ({}): the extension cannot be assembled",
        root.join("manifest/src/lib.rs").display()
    )
}
