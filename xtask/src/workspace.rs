//! Where things are in the checkout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The workspace checkout and the paths xtask reads and writes.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    pub(crate) target_dir: PathBuf,
}

impl Workspace {
    /// The workspace holding this crate. `CARGO_MANIFEST_DIR` is baked in
    /// at compile time, which is right for `cargo xtask` (always built from
    /// the checkout it runs in).
    pub(crate) fn locate() -> Result<Self> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir
            .parent()
            .context("xtask's manifest directory has no parent")?
            .to_path_buf();
        if !root.join("Cargo.lock").is_file() {
            anyhow::bail!(
                "no Cargo.lock in {}: run `cargo generate-lockfile` or any cargo build first",
                root.display()
            );
        }
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Ok(Self { root, target_dir })
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub(crate) fn dist_panel(&self) -> PathBuf {
        self.root.join("dist").join("panel")
    }

    pub(crate) fn demo_binary(&self) -> PathBuf {
        self.target_dir.join("debug").join("fluxlive-demo")
    }
}

/// `$CARGO_HOME`, defaulting like cargo does.
pub(crate) fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// The cargo that runs us, so nested builds use the same toolchain.
pub(crate) fn cargo() -> std::process::Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    std::process::Command::new(program)
}
