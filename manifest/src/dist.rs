//! Assembles `dist/chrome/` and `dist/firefox/` from `extension/` and the
//! built panel, writes each `manifest.json`, checks it, and zips each.

use crate::error::Error;
use crate::extension::Browser;
use crate::{render, rules};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Files of the panel output without which the panel cannot start.
pub const PANEL_FILES: &[&str] = &["panel.js", "panel_bg.wasm"];

/// Builds both browser packages under `root/dist/` and returns what it wrote:
/// `dist/chrome`, `dist/firefox`, `dist/fluxlive-chrome.zip`,
/// `dist/fluxlive-firefox.zip`, in that order.
///
/// `root` is the workspace root. It reads `root/extension/` and
/// `root/dist/panel/` (built by `cargo xtask panel`); both are copied to the
/// top of each package. Each package directory is replaced whole. Nothing is
/// zipped unless the package passes [`rules::violations`] and every local
/// `src`/`href` in its HTML pages resolves.
pub fn build_dist(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let ext_dir = root.join("extension");
    let panel_dir = root.join("dist").join("panel");
    if !ext_dir.is_dir() {
        return Err(Error::ExtensionMissing { dir: ext_dir });
    }
    if !panel_dir.is_dir() {
        return Err(Error::PanelNotBuilt {
            missing: "the directory".to_owned(),
            dir: panel_dir,
        });
    }
    if let Some(missing) = PANEL_FILES.iter().find(|f| !panel_dir.join(f).is_file()) {
        return Err(Error::PanelNotBuilt {
            missing: (*missing).to_owned(),
            dir: panel_dir,
        });
    }

    let ext_files = list_files(&ext_dir)?;
    let panel_files = list_files(&panel_dir)?;
    if let Some(name) = ext_files.iter().find(|f| panel_files.contains(f)) {
        return Err(Error::Collision {
            name: name.clone(),
            first: ext_dir,
            second: panel_dir,
        });
    }

    let dist = root.join("dist");
    let mut dirs = Vec::new();
    let mut zips = Vec::new();
    for browser in Browser::ALL {
        let out = dist.join(browser.name());
        if out.exists() {
            fs::remove_dir_all(&out).map_err(Error::io("remove", &out))?;
        }
        copy_files(&ext_dir, &ext_files, &out)?;
        copy_files(&panel_dir, &panel_files, &out)?;

        let manifest = render(browser);
        let mut violations = rules::violations(browser, &manifest, &|f| out.join(f).is_file());
        violations.extend(broken_html_refs(&out, &ext_files)?);
        if !violations.is_empty() {
            return Err(Error::Invalid {
                browser,
                violations,
            });
        }
        // The typed model keeps the conventional key order (manifest_version
        // first); `render`'s Value would sort keys alphabetically.
        let mut text = serde_json::to_string_pretty(&crate::extension::manifest(browser))
            .map_err(|source| Error::Json { browser, source })?;
        text.push('\n');
        let manifest_path = out.join("manifest.json");
        fs::write(&manifest_path, text).map_err(Error::io("write", &manifest_path))?;

        let zip_path = dist.join(format!("fluxlive-{}.zip", browser.name()));
        write_zip(&out, &zip_path)?;
        tracing::info!(%browser, dir = %out.display(), zip = %zip_path.display(), "extension packaged");
        dirs.push(out);
        zips.push(zip_path);
    }
    dirs.extend(zips);
    Ok(dirs)
}

/// Every regular file under `dir`, as sorted `/`-separated relative paths.
/// Dot files (editor and OS litter) are left out.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        let entries = fs::read_dir(&path).map_err(Error::io("read", &path))?;
        for entry in entries {
            let entry = entry.map_err(Error::io("read", &path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type().map_err(Error::io("read", entry.path()))?;
            if kind.is_dir() {
                stack.push((entry.path(), rel));
            } else if kind.is_file() {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn copy_files(from: &Path, files: &[String], to: &Path) -> Result<(), Error> {
    for rel in files {
        let src = from.join(rel);
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
        }
        fs::copy(&src, &dst).map_err(Error::io("copy", &src))?;
    }
    Ok(())
}

/// Local `src="…"`/`href="…"` targets of the HTML pages among `pages` that
/// are not files under `package`.
fn broken_html_refs(package: &Path, pages: &[String]) -> Result<Vec<String>, Error> {
    let mut broken = Vec::new();
    for page in pages.iter().filter(|p| p.ends_with(".html")) {
        let path = package.join(page);
        let html = fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        let base = Path::new(page).parent().unwrap_or(Path::new(""));
        for target in local_refs(&html) {
            if !package.join(base).join(&target).is_file() {
                broken.push(format!(
                    "{page} loads `{target}`, which is not in the package"
                ));
            }
        }
    }
    Ok(broken)
}

/// Relative URLs in `src` and `href` attributes, without query or fragment.
pub(crate) fn local_refs(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attr) {
            let rest = &html[at + attr.len()..];
            let Some(end) = rest.find('"') else { continue };
            let url = rest[..end].split(['?', '#']).next().unwrap_or_default();
            let url = url.strip_prefix("./").unwrap_or(url);
            if url.is_empty() || url.contains(':') || url.starts_with('/') {
                continue;
            }
            refs.push(url.to_owned());
        }
    }
    refs
}

/// Zips `dir` with sorted entries and a fixed timestamp, so the same inputs
/// give byte-identical archives. Written beside the target and renamed, so a
/// failure never leaves a truncated archive under the final name.
fn write_zip(dir: &Path, zip_path: &Path) -> Result<(), Error> {
    let files = list_files(dir)?;
    let partial = zip_path.with_extension("zip.partial");
    let zip_err = |source| Error::Zip {
        path: zip_path.to_path_buf(),
        source,
    };
    let file = fs::File::create(&partial).map_err(Error::io("create", &partial))?;
    let mut zip = ZipWriter::new(file);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    for rel in &files {
        let src = dir.join(rel);
        let bytes = fs::read(&src).map_err(Error::io("read", &src))?;
        zip.start_file(rel.as_str(), options).map_err(zip_err)?;
        zip.write_all(&bytes)
            .map_err(Error::io("write", &partial))?;
    }
    zip.finish().map_err(zip_err)?;
    fs::rename(&partial, zip_path).map_err(Error::io("rename", &partial))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A workspace root holding a copy of the real `extension/` and a fake
    /// built panel.
    fn fake_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../extension");
        let files = list_files(&real).unwrap();
        copy_files(&real, &files, &root.path().join("extension")).unwrap();
        let panel = root.path().join("dist/panel");
        fs::create_dir_all(&panel).unwrap();
        for (name, body) in [
            (
                "index.html",
                "<!doctype html><script type=module src=\"./panel.js\"></script>",
            ),
            ("panel.js", "export default async function init() {}"),
            ("panel_bg.wasm", "\0asm"),
            ("panel.css", "body{}"),
        ] {
            fs::write(panel.join(name), body).unwrap();
        }
        root
    }

    fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).unwrap();
                (f.name().unwrap().into_owned(), bytes)
            })
            .collect()
    }

    #[test]
    fn builds_both_packages_and_their_zips() {
        let root = fake_root();
        let out = build_dist(root.path()).unwrap();
        let dist = root.path().join("dist");
        assert_eq!(
            out,
            vec![
                dist.join("chrome"),
                dist.join("firefox"),
                dist.join("fluxlive-chrome.zip"),
                dist.join("fluxlive-firefox.zip"),
            ]
        );
        for browser in Browser::ALL {
            let dir = dist.join(browser.name());
            let written: serde_json::Value =
                serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
            assert_eq!(written, render(browser));
            for f in [
                "devtools.html",
                "panel.html",
                "background.js",
                "content.js",
                "panel.js",
                "panel_bg.wasm",
                "icons/icon-48.png",
            ] {
                assert!(dir.join(f).is_file(), "{browser}: {f}");
            }
            let entries = zip_entries(&dist.join(format!("fluxlive-{}.zip", browser.name())));
            let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, list_files(&dir).unwrap());
            let (_, manifest) = entries.iter().find(|(n, _)| n == "manifest.json").unwrap();
            assert_eq!(manifest, &fs::read(dir.join("manifest.json")).unwrap());
        }
    }

    #[test]
    fn rebuilding_gives_identical_archives_and_drops_stale_files() {
        let root = fake_root();
        build_dist(root.path()).unwrap();
        let zip = root.path().join("dist/fluxlive-firefox.zip");
        let first = fs::read(&zip).unwrap();
        fs::write(root.path().join("dist/firefox/stale.js"), "old").unwrap();
        build_dist(root.path()).unwrap();
        assert_eq!(fs::read(&zip).unwrap(), first);
        assert!(!root.path().join("dist/firefox/stale.js").exists());
    }

    #[test]
    fn a_missing_panel_names_the_directory_and_the_command() {
        let root = fake_root();
        fs::remove_dir_all(root.path().join("dist/panel")).unwrap();
        let err = build_dist(root.path()).unwrap_err();
        assert!(matches!(err, Error::PanelNotBuilt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("dist/panel"), "{msg}");
        assert!(msg.contains("cargo xtask panel"), "{msg}");

        let root = fake_root();
        fs::remove_file(root.path().join("dist/panel/panel_bg.wasm")).unwrap();
        let msg = build_dist(root.path()).unwrap_err().to_string();
        assert!(
            msg.contains("panel_bg.wasm") && msg.contains("cargo xtask panel"),
            "{msg}"
        );
        assert!(!root.path().join("dist/fluxlive-chrome.zip").exists());
    }

    #[test]
    fn a_name_in_both_sources_is_refused() {
        let root = fake_root();
        fs::write(root.path().join("dist/panel/content.js"), "").unwrap();
        let err = build_dist(root.path()).unwrap_err();
        assert!(
            matches!(&err, Error::Collision { name, .. } if name == "content.js"),
            "{err:?}"
        );
    }

    #[test]
    fn a_page_loading_a_missing_file_fails_the_build() {
        let root = fake_root();
        fs::remove_file(root.path().join("dist/panel/panel.css")).unwrap();
        let err = build_dist(root.path()).unwrap_err();
        let Error::Invalid { violations, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(
            violations.iter().any(|v| v.contains("panel.css")),
            "{violations:?}"
        );
    }

    #[test]
    fn a_missing_manifest_file_fails_the_build() {
        let root = fake_root();
        fs::remove_file(root.path().join("extension/icons/icon-128.png")).unwrap();
        let err = build_dist(root.path()).unwrap_err();
        assert!(err.to_string().contains("icons/icon-128.png"), "{err}");
    }

    #[test]
    fn local_refs_skips_remote_and_absolute_urls() {
        let html = r##"<link href="panel.css"><script src="./a.js?v=1"></script>
            <a href="https://x.test/"></a><img src="/abs.png"><a href="#top"></a>"##;
        assert_eq!(local_refs(html), vec!["a.js", "panel.css"]);
    }
}
