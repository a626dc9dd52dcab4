//! Packs the extension: `dist/chrome`, `dist/firefox` and their zips.
//!
//! Run with `cargo run -p fluxlive-manifest --example build-dist` after
//! `cargo xtask panel` (`cargo xtask dist` does both).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
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
