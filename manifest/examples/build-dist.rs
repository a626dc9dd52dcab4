//! Packs the extension: `dist/chrome`, `dist/firefox` and their zips.
//!
//! Run with `cargo run -p fluxlive-manifest --example build-dist` after
//! `cargo xtask panel` (`cargo xtask dist` does both). An argument names
//! another root holding `extension/` and `dist/panel/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
        });
    match fluxlive_manifest::build_dist(&root) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
