//! `cargo xtask demo`: make sure the panel and extension exist, then run
//! the demo app with the debug channel on.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::workspace::{self, Workspace};
use crate::{dist, panel, process, tools};

pub(crate) fn run(ws: &Workspace, addr: &str, extra: &[String]) -> Result<ExitCode> {
    tools::ensure_wasm_toolchain(ws).context(
        "the DevTools panel needs the wasm toolchain; fix the above or run `cargo xtask tools`",
    )?;
    panel::build(ws, false).context("building the DevTools panel for the demo")?;
    // The page and /__live/devtools only need dist/panel/; the browser
    // extension is a bonus, so its failure must not stop the demo.
    if let Err(err) = dist::build(ws) {
        println!(
            "warning: the browser extension was not built ({err:#}); \
             the demo runs and serves the panel at /__live/devtools"
        );
    }
    let mut cmd = workspace::cargo();
    cmd.current_dir(&ws.root)
        .args([
            "run",
            "-p",
            "fluxlive-demo",
            "--",
            "--debug",
            "--addr",
            addr,
        ])
        .args(extra);
    let line = process::display(&cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    // Ctrl-C ends the demo by signal: that is the normal way out.
    Ok(match status.code() {
        Some(0) | None => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
    })
}
