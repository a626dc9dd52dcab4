//! The `wasm-bindgen` CLI at exactly the version of the `wasm-bindgen`
//! crate in `Cargo.lock` (the two must match or the generated glue breaks).
//!
//! `cargo install wasm-bindgen-cli --locked` can fail because the crate's
//! own lock file pins a `webpki-roots` release the registry may not serve;
//! so the source is copied out of cargo's cache, its lock is repaired when
//! (and only when) fetching it fails, and it is installed from the path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::lockfile;
use crate::process;
use crate::workspace::{self, Workspace};

/// The `webpki-roots` release known to resolve when the CLI's lock pin
/// does not (checked for wasm-bindgen-cli 0.2.130).
const WEBPKI_ROOTS_FALLBACK: &str = "1.0.10";

/// The `wasm-bindgen` version pinned in the workspace's `Cargo.lock`.
pub(crate) fn required_version(ws: &Workspace) -> Result<String> {
    let lock_path = ws.path("Cargo.lock");
    let lock = fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))?;
    version_in_lock(&lock)
}

fn version_in_lock(lock: &str) -> Result<String> {
    let versions = lockfile::package_versions(lock, "wasm-bindgen");
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "Cargo.lock has no `wasm-bindgen` package: the panel crate (extension-ui) \
             must depend on it (pinned with `=`) before the panel can be built"
        ),
        many => bail!(
            "Cargo.lock holds several wasm-bindgen versions ({}); pin one with `=` so \
             the CLI can match it",
            many.join(", ")
        ),
    }
}

/// `wasm-bindgen 0.2.130` → `0.2.130`.
pub(crate) fn parse_version_output(output: &str) -> Option<&str> {
    let mut words = output.split_whitespace();
    (words.next()? == "wasm-bindgen").then_some(())?;
    let version = words.next()?;
    version
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit())
        .then_some(version)
}

/// The `wasm-bindgen` binary to run: from `PATH`, else from
/// `$CARGO_HOME/bin` (where `cargo install` puts it even when that is not
/// on `PATH`), with its version.
pub(crate) fn installed() -> Option<(PathBuf, String)> {
    let mut candidates = vec![PathBuf::from("wasm-bindgen")];
    if let Some(home) = workspace::cargo_home() {
        candidates.push(home.join("bin").join("wasm-bindgen"));
    }
    candidates.into_iter().find_map(|program| {
        let output = process::probe(Command::new(&program).arg("--version"))?;
        let version = parse_version_output(&output)?.to_owned();
        Some((program, version))
    })
}

/// The binary at the required version, or an error saying how to get it.
pub(crate) fn require(ws: &Workspace) -> Result<PathBuf> {
    let wanted = required_version(ws)?;
    match installed() {
        Some((path, version)) if version == wanted => Ok(path),
        Some((_, version)) => bail!(
            "wasm-bindgen {version} is installed but Cargo.lock pins {wanted}; \
             run `cargo xtask tools` to build the matching CLI"
        ),
        None => bail!("wasm-bindgen CLI not found; run `cargo xtask tools` to build {wanted}"),
    }
}

/// Installs the CLI at the `Cargo.lock` version unless it is already there.
pub(crate) fn ensure(ws: &Workspace) -> Result<()> {
    let wanted = required_version(ws)?;
    match installed() {
        Some((path, version)) if version == wanted => {
            let place = if path.is_absolute() {
                path.display().to_string()
            } else {
                "on PATH".to_owned()
            };
            println!("wasm-bindgen {version}: present ({place}), matches Cargo.lock");
            return Ok(());
        }
        Some((_, version)) => println!(
            "wasm-bindgen {version} is installed but Cargo.lock pins {wanted}: \
             building {wanted} (takes about 5 minutes on 2 cores)"
        ),
        None => println!(
            "wasm-bindgen CLI missing: building {wanted} to match Cargo.lock \
             (takes about 5 minutes on 2 cores)"
        ),
    }
    install(&wanted)?;
    match installed() {
        Some((_, version)) if version == wanted => Ok(()),
        Some((path, version)) => bail!(
            "installed wasm-bindgen {wanted}, but `{}` still reports {version}: \
             another wasm-bindgen earlier on PATH shadows $CARGO_HOME/bin",
            path.display()
        ),
        None => bail!("installed wasm-bindgen {wanted} but cannot run it"),
    }
}

fn install(version: &str) -> Result<()> {
    let scratch = std::env::temp_dir().join("fluxlive-xtask");
    let source = cached_source(version, &scratch)?;
    let build_dir = scratch.join(format!("wasm-bindgen-cli-{version}"));
    if build_dir.exists() {
        fs::remove_dir_all(&build_dir)
            .with_context(|| format!("clearing {}", build_dir.display()))?;
    }
    copy_dir(&source, &build_dir)?;

    let fetched = process::run(
        workspace::cargo()
            .args(["fetch", "--locked"])
            .current_dir(&build_dir),
    );
    if let Err(err) = fetched {
        println!(
            "the CLI's own lock file does not resolve here ({err:#}); \
             moving webpki-roots to {WEBPKI_ROOTS_FALLBACK}"
        );
        process::run(
            workspace::cargo()
                .args(["update", "-p", "webpki-roots", "--precise"])
                .arg(WEBPKI_ROOTS_FALLBACK)
                .current_dir(&build_dir),
        )?;
    }
    // A target dir of its own: never contend with, or bloat, the workspace's.
    let target_dir = scratch.join("wasm-bindgen-cli-target");
    process::run(
        workspace::cargo()
            .args(["install", "--path", ".", "--locked", "--force"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(&build_dir),
    )?;
    // About 450 MB of intermediates, useless once the binary is installed.
    if let Err(err) = fs::remove_dir_all(&target_dir) {
        println!("note: could not remove {}: {err}", target_dir.display());
    }
    Ok(())
}

/// The unpacked crate source in cargo's registry cache, fetched through a
/// throwaway crate that depends on it when it is not there yet.
fn cached_source(version: &str, scratch: &Path) -> Result<PathBuf> {
    let dir_name = format!("wasm-bindgen-cli-{version}");
    if let Some(found) = find_in_registry_src(&dir_name) {
        return Ok(found);
    }
    let fetcher = scratch.join("fetch-wasm-bindgen-cli");
    fs::create_dir_all(fetcher.join("src"))
        .with_context(|| format!("creating {}", fetcher.display()))?;
    fs::write(
        fetcher.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fetch-wasm-bindgen-cli\"\nversion = \"0.0.0\"\n\
             edition = \"2021\"\npublish = false\n\n[workspace]\n\n\
             [dependencies]\nwasm-bindgen-cli = \"={version}\"\n"
        ),
    )?;
    fs::write(fetcher.join("src").join("main.rs"), "fn main() {}\n")?;
    println!("downloading wasm-bindgen-cli {version} source through cargo fetch");
    process::run(workspace::cargo().arg("fetch").current_dir(&fetcher))?;
    if let Some(found) = find_in_registry_src(&dir_name) {
        return Ok(found);
    }
    // Some cargo versions only download the archive: unpack it ourselves.
    let archive = find_in_registry("cache", &format!("{dir_name}.crate"))
        .context("cargo fetch finished but the wasm-bindgen-cli archive is not in the cache")?;
    let unpack = scratch.join("unpacked");
    fs::create_dir_all(&unpack)?;
    process::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&unpack),
    )?;
    Ok(unpack.join(dir_name))
}

fn find_in_registry_src(dir_name: &str) -> Option<PathBuf> {
    find_in_registry("src", dir_name).filter(|dir| dir.join("Cargo.toml").is_file())
}

/// `$CARGO_HOME/registry/<kind>/<any index>/<name>`.
fn find_in_registry(kind: &str, name: &str) -> Option<PathBuf> {
    let base = workspace::cargo_home()?.join("registry").join(kind);
    fs::read_dir(base)
        .ok()?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join(name))
        .find(|candidate| candidate.exists())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_version_line() {
        assert_eq!(
            parse_version_output("wasm-bindgen 0.2.130\n"),
            Some("0.2.130")
        );
        assert_eq!(parse_version_output("wasm-opt version 132"), None);
        assert_eq!(parse_version_output("wasm-bindgen\n"), None);
        assert_eq!(parse_version_output(""), None);
    }

    #[test]
    fn the_lock_must_pin_exactly_one_wasm_bindgen() {
        let package = |version: &str| {
            format!("[[package]]\nname = \"wasm-bindgen\"\nversion = \"{version}\"\n\n")
        };
        assert_eq!(version_in_lock(&package("0.2.130")).unwrap(), "0.2.130");

        let none = version_in_lock("[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\n");
        assert!(none.unwrap_err().to_string().contains("extension-ui"));

        let two = format!("{}{}", package("0.2.129"), package("0.2.130"));
        let err = version_in_lock(&two).unwrap_err().to_string();
        assert!(err.contains("0.2.129, 0.2.130"), "{err}");
    }
}
