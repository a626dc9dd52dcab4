//! Installing what the build and tests need, only when it is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

use crate::process;
use crate::wasm_bindgen_cli;
use crate::workspace::{self, Workspace};

/// Where the browser tests expect Chromium unless `CHROMIUM` says otherwise.
pub(crate) const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// Every tool `cargo xtask test` needs. Each is attempted even when an
/// earlier one fails, so one missing piece does not hide the others.
pub(crate) fn ensure_all(ws: &Workspace) -> Result<()> {
    let results = [
        ("rustfmt/clippy", ensure_rust_components()),
        ("wasm toolchain", ensure_wasm_toolchain(ws)),
        ("chromium", ensure_chromium()),
        ("npm packages", ensure_npm_packages(ws)),
    ];
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(what, result)| result.err().map(|err| format!("{what}: {err:#}")))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("\n"))
    }
}

/// The wasm32 target and the matching `wasm-bindgen` CLI: what the panel
/// build needs.
pub(crate) fn ensure_wasm_toolchain(ws: &Workspace) -> Result<()> {
    ensure_wasm_target()?;
    wasm_bindgen_cli::ensure(ws)
}

/// rustup's `minimal` profile (common on CI images) leaves these out.
/// Probing the subcommands tests what the steps need, whatever rustup
/// calls the component.
fn ensure_rust_components() -> Result<()> {
    let missing: Vec<&str> = [("rustfmt", "fmt"), ("clippy", "clippy")]
        .into_iter()
        .filter(|(_, subcommand)| {
            process::probe(workspace::cargo().args([subcommand, "--version"])).is_none()
        })
        .map(|(component, _)| component)
        .collect();
    if missing.is_empty() {
        println!("rustfmt, clippy: present");
        return Ok(());
    }
    println!(
        "{} missing: adding (the fmt and clippy steps run them)",
        missing.join(", ")
    );
    process::run(
        Command::new("rustup")
            .args(["component", "add"])
            .args(&missing),
    )
}

fn ensure_wasm_target() -> Result<()> {
    const TARGET: &str = "wasm32-unknown-unknown";
    let installed = process::probe(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("cannot run `rustup target list --installed`: is rustup installed?")?;
    if installed.lines().any(|line| line.trim() == TARGET) {
        println!("{TARGET} target: present");
        return Ok(());
    }
    println!("{TARGET} target missing: adding it (the panel compiles to wasm)");
    process::run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// The Chromium the browser tests drive: `$CHROMIUM`, else Debian's.
pub(crate) fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM))
}

fn ensure_chromium() -> Result<()> {
    let path = chromium_path();
    if path.is_file() {
        let version = process::probe(Command::new(&path).arg("--version"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "version unknown".to_owned());
        println!("chromium: present ({}, {version})", path.display());
        return Ok(());
    }
    if path != Path::new(DEFAULT_CHROMIUM) {
        bail!(
            "CHROMIUM={} does not exist; unset it to use {DEFAULT_CHROMIUM}",
            path.display()
        );
    }
    if !running_as_root() {
        bail!(
            "Chromium not found at {DEFAULT_CHROMIUM} (the browser tests drive it); install it with\n    \
             sudo apt-get update && sudo apt-get install -y chromium\n\
             or point CHROMIUM at another Chromium binary"
        );
    }
    println!("chromium missing: installing Debian's package (the browser tests drive it)");
    // Another apt run (unattended upgrades, a parallel setup) may hold the
    // dpkg lock: wait for it rather than fail.
    let apt = || {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-o", "DPkg::Lock::Timeout=600"]);
        cmd
    };
    process::run(apt().arg("update"))?;
    // With recommends (fonts among them), as on the machines the browser
    // tests were written on.
    process::run(apt().args(["install", "-y", "chromium"]))?;
    if !Path::new(DEFAULT_CHROMIUM).is_file() {
        bail!("apt-get installed chromium but {DEFAULT_CHROMIUM} is still missing");
    }
    Ok(())
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        == Some(0)
}

/// The effective uid from `/proc/self/status` (`Uid: real effective …`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn ensure_npm_packages(ws: &Workspace) -> Result<()> {
    let lock = ws.path("package-lock.json");
    let modules = ws.path("node_modules");
    if !ws.path("package.json").is_file() {
        bail!("no package.json at the workspace root: the JavaScript tests cannot run");
    }
    process::probe(Command::new("npm").arg("--version"))
        .context("npm not found: install Node.js 20 (with npm) to run the JavaScript tests")?;
    let npm = |subcommand: &str| {
        let mut cmd = Command::new("npm");
        cmd.current_dir(&ws.root)
            // playwright-core drives the system Chromium; never fetch a browser.
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .args([subcommand, "--no-audit", "--no-fund"]);
        cmd
    };
    if !lock.is_file() {
        println!("package-lock.json missing: running `npm install` (commit the lock it writes)");
        return process::run(&mut npm("install"));
    }
    // npm writes node_modules/.package-lock.json on every install.
    let installed_marker = modules.join(".package-lock.json");
    match npm_plan(modified(&installed_marker), modified(&lock)) {
        NpmPlan::UpToDate => {
            println!("npm packages: node_modules is up to date with package-lock.json");
            Ok(())
        }
        NpmPlan::Ci(why) => {
            println!("{why}: running `npm ci` (installs package-lock.json exactly)");
            process::run(&mut npm("ci"))
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum NpmPlan {
    UpToDate,
    Ci(&'static str),
}

/// From the times npm last installed (`node_modules/.package-lock.json`)
/// and the lock last changed.
fn npm_plan(installed: Option<SystemTime>, locked: Option<SystemTime>) -> NpmPlan {
    match (installed, locked) {
        (None, _) => NpmPlan::Ci("node_modules missing"),
        (Some(installed), Some(locked)) if installed < locked => {
            NpmPlan::Ci("package-lock.json is newer than node_modules")
        }
        _ => NpmPlan::UpToDate,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).ok()?.modified().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_ci_runs_when_modules_are_missing_or_older_than_the_lock() {
        use std::time::Duration;
        let t = |secs| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(npm_plan(None, t(10)), NpmPlan::Ci("node_modules missing"));
        assert!(matches!(npm_plan(t(5), t(10)), NpmPlan::Ci(why) if why.contains("newer")));
        assert_eq!(npm_plan(t(10), t(10)), NpmPlan::UpToDate);
        assert_eq!(npm_plan(t(20), t(10)), NpmPlan::UpToDate);
    }

    #[test]
    fn reads_the_effective_uid_not_the_real_one() {
        let status = "Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tcat\n"), None);
    }
}
