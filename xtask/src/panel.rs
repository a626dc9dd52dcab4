//! Building the Yew DevTools panel into `dist/panel/`: release wasm,
//! wasm-bindgen glue, static files, optional wasm-opt, size report.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::fresh::{self, Freshness};
use crate::process;
use crate::wasm_bindgen_cli;
use crate::workspace::{self, Workspace};

const PANEL_CRATE: &str = "fluxlive-devtools";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WASM_PROFILE: &str = "wasm-release";
/// `--out-name`: gives `panel.js` and `panel_bg.wasm`.
const OUT_NAME: &str = "panel";

/// Builds the panel unless its outputs are newer than every input.
pub(crate) fn build(ws: &Workspace, force: bool) -> Result<()> {
    let out_dir = ws.dist_panel();
    let static_dir = ws.path("extension-ui/static");
    let outputs = outputs(&out_dir, &static_dir)?;
    let inputs = inputs(ws);
    if !force {
        match fresh::check(&inputs, &outputs).context("checking whether the panel is up to date")? {
            Freshness::Fresh => {
                println!(
                    "panel: dist/panel/ is newer than extension-ui/, protocol/ and Cargo.lock; \
                     not rebuilding (use --force to rebuild)"
                );
                return report_sizes(&out_dir);
            }
            Freshness::Stale(reason) => println!("panel: rebuilding because {reason}"),
        }
    }
    let wasm_bindgen = wasm_bindgen_cli::require(ws)?;

    process::run(workspace::cargo().current_dir(&ws.root).args([
        "build",
        "-p",
        PANEL_CRATE,
        "--target",
        WASM_TARGET,
        "--profile",
        WASM_PROFILE,
    ]))?;
    let wasm = ws
        .target_dir
        .join(WASM_TARGET)
        .join(WASM_PROFILE)
        .join(format!("{}.wasm", PANEL_CRATE.replace('-', "_")));
    if !wasm.is_file() {
        anyhow::bail!(
            "{} was not produced: {PANEL_CRATE} needs `crate-type = [\"cdylib\", \"rlib\"]` in its [lib]",
            wasm.display()
        );
    }
    // Stale files from an older build (renamed snippets) must not linger.
    if out_dir.exists() {
        fs::remove_dir_all(&out_dir).with_context(|| format!("clearing {}", out_dir.display()))?;
    }
    process::run(
        Command::new(&wasm_bindgen)
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&out_dir)
            .args([
                "--out-name",
                OUT_NAME,
                "--remove-name-section",
                "--remove-producers-section",
            ])
            .arg(&wasm),
    )?;
    optimize_if_available(ws, &out_dir.join(format!("{OUT_NAME}_bg.wasm")))?;
    copy_static(&static_dir, &out_dir)?;
    report_sizes(&out_dir)
}

/// What the panel is built from. The root manifest holds the wasm profile.
fn inputs(ws: &Workspace) -> Vec<PathBuf> {
    ["extension-ui", "protocol", "Cargo.lock", "Cargo.toml"]
        .iter()
        .map(|relative| ws.path(relative))
        .collect()
}

/// The glue, the wasm, and one copy of every static file.
fn outputs(out_dir: &Path, static_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut outputs = vec![
        out_dir.join(format!("{OUT_NAME}.js")),
        out_dir.join(format!("{OUT_NAME}_bg.wasm")),
    ];
    if static_dir.is_dir() {
        for entry in
            fs::read_dir(static_dir).with_context(|| format!("reading {}", static_dir.display()))?
        {
            outputs.push(out_dir.join(entry?.file_name()));
        }
    }
    Ok(outputs)
}

/// `wasm-opt -Oz` from the npm `binaryen` package when installed (Debian's
/// binaryen is too old for wasm-bindgen's output). Optional: a failure
/// leaves the unoptimised file in place.
fn optimize_if_available(ws: &Workspace, wasm: &Path) -> Result<()> {
    let wasm_opt = ws.path("node_modules/.bin/wasm-opt");
    if !wasm_opt.is_file() {
        println!("wasm-opt: npm package `binaryen` not installed; keeping wasm-bindgen's output");
        return Ok(());
    }
    let optimized = wasm.with_extension("opt.wasm");
    let result = process::run(
        Command::new(&wasm_opt)
            .arg("-Oz")
            .arg(wasm)
            .arg("-o")
            .arg(&optimized),
    );
    match result {
        Ok(()) => fs::rename(&optimized, wasm)
            .with_context(|| format!("replacing {} with its optimised copy", wasm.display())),
        Err(err) => {
            println!("wasm-opt failed ({err:#}); keeping the unoptimised wasm");
            let _ = fs::remove_file(&optimized);
            Ok(())
        }
    }
}

fn copy_static(static_dir: &Path, out_dir: &Path) -> Result<()> {
    if !static_dir.is_dir() {
        println!(
            "panel: no {} (index.html, panel.css); only the wasm and its glue were built",
            static_dir.display()
        );
        return Ok(());
    }
    copy_tree(static_dir, out_dir)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).with_context(|| {
                format!("copying {} to {}", entry.path().display(), target.display())
            })?;
        }
    }
    Ok(())
}

fn report_sizes(out_dir: &Path) -> Result<()> {
    for name in [format!("{OUT_NAME}_bg.wasm"), format!("{OUT_NAME}.js")] {
        let path = out_dir.join(&name);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let gzipped = gzip_len(&bytes)?;
        println!(
            "panel size: {name}: {} raw, {} gzip",
            human(bytes.len()),
            human(gzipped)
        );
    }
    Ok(())
}

/// Size after `gzip -9`: roughly what a browser downloads.
pub(crate) fn gzip_len(bytes: &[u8]) -> Result<usize> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

fn human(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB ({bytes} B)", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fresh::tests::Scratch;

    #[test]
    fn gzip_shrinks_repetitive_input_and_reads_back() {
        let bytes = vec![b'a'; 100_000];
        let len = gzip_len(&bytes).unwrap();
        assert!(len < 1_000, "{len}");
        assert!(gzip_len(b"").unwrap() > 0, "a gzip stream has a header");
    }

    #[test]
    fn outputs_include_every_static_file() {
        let dir = Scratch::new("panel-outputs");
        let static_dir = dir.0.join("static");
        fs::create_dir_all(&static_dir).unwrap();
        fs::write(static_dir.join("index.html"), "<html>").unwrap();
        fs::write(static_dir.join("panel.css"), "body{}").unwrap();
        let out = dir.0.join("out");
        let mut names: Vec<_> = outputs(&out, &static_dir)
            .unwrap()
            .into_iter()
            .map(|p| p.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["index.html", "panel.css", "panel.js", "panel_bg.wasm"]
        );
    }

    #[test]
    fn copy_tree_copies_nested_files() {
        let dir = Scratch::new("panel-copy");
        fs::create_dir_all(dir.0.join("from/icons")).unwrap();
        fs::write(dir.0.join("from/index.html"), "<html>").unwrap();
        fs::write(dir.0.join("from/icons/a.svg"), "<svg/>").unwrap();
        copy_tree(&dir.0.join("from"), &dir.0.join("to")).unwrap();
        assert_eq!(
            fs::read_to_string(dir.0.join("to/icons/a.svg")).unwrap(),
            "<svg/>"
        );
        assert_eq!(
            fs::read_to_string(dir.0.join("to/index.html")).unwrap(),
            "<html>"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(2048), "2.0 KiB (2048 B)");
    }
}
