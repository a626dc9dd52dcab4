//! Typed browser-extension manifest for the fluxlive DevTools.
//!
//! One description of the extension ([`extension::manifest`]) rendered per
//! browser ([`render`]): Manifest V3 with a service worker for Chrome, MV3
//! with background scripts and a gecko id for Firefox. [`build_dist`]
//! assembles `dist/chrome/` and `dist/firefox/` from `extension/` and the
//! built panel (`dist/panel/`), checks them with [`rules::violations`], and
//! zips them.
//!
//! ```
//! use fluxlive_manifest::{render, Browser};
//! let chrome = render(Browser::Chrome);
//! assert_eq!(chrome["background"]["service_worker"], "background.js");
//! let firefox = render(Browser::Firefox);
//! assert_eq!(firefox["background"]["scripts"][0], "background.js");
//! ```

mod dist;
mod error;
pub mod extension;
pub mod model;
pub mod rules;

pub use dist::{build_dist, PANEL_FILES};
pub use error::Error;
pub use extension::Browser;
pub use model::Manifest;

/// The extension's `manifest.json` for `browser`.
pub fn render(browser: Browser) -> serde_json::Value {
    let manifest = extension::manifest(browser);
    // The model is plain structs with string keys: serialising it cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_value(&manifest).expect("a Manifest always serialises")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::{Path, PathBuf};

    fn extension_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../extension")
    }

    /// A file the manifest may name: in `extension/` (committed) or one of
    /// the panel's outputs (built later by `cargo xtask panel`).
    fn in_package(file: &str) -> bool {
        extension_dir().join(file).is_file() || PANEL_FILES.contains(&file)
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn every_rendering_passes_its_browsers_rules() {
        for browser in Browser::ALL {
            let m = render(browser);
            assert_eq!(
                rules::violations(browser, &m, &in_package),
                Vec::<String>::new(),
                "{browser}"
            );
        }
    }

    #[test]
    fn chrome_is_mv3_with_a_service_worker() {
        let m = render(Browser::Chrome);
        assert_eq!(m["manifest_version"], 3);
        assert_eq!(
            m["background"],
            serde_json::json!({"service_worker": "background.js"})
        );
        assert_eq!(m["minimum_chrome_version"], "103");
        assert!(m.get("browser_specific_settings").is_none());
        assert_eq!(m["devtools_page"], "devtools.html");
    }

    #[test]
    fn firefox_has_gecko_settings_and_background_scripts() {
        let m = render(Browser::Firefox);
        assert_eq!(m["manifest_version"], 3);
        assert_eq!(
            m["background"],
            serde_json::json!({"scripts": ["background.js"]})
        );
        let gecko = &m["browser_specific_settings"]["gecko"];
        assert!(rules::is_gecko_id(gecko["id"].as_str().unwrap()));
        let min: f64 = gecko["strict_min_version"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(min >= 109.0, "{min}");
        assert!(m.get("minimum_chrome_version").is_none());
    }

    #[test]
    fn both_allow_wasm_and_nothing_more() {
        for browser in Browser::ALL {
            let m = render(browser);
            assert_eq!(
                m["content_security_policy"]["extension_pages"],
                "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'"
            );
        }
    }

    #[test]
    fn no_permission_beyond_the_declared_list() {
        for browser in Browser::ALL {
            let m = render(browser);
            for key in [
                "permissions",
                "host_permissions",
                "optional_permissions",
                "optional_host_permissions",
            ] {
                let got: Vec<&str> = m
                    .get(key)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let declared: &[&str] = match key {
                    "permissions" => extension::PERMISSIONS,
                    "host_permissions" => extension::HOST_PERMISSIONS,
                    _ => &[],
                };
                assert_eq!(got, declared, "{browser} {key}");
            }
            let scripts = m["content_scripts"].as_array().unwrap();
            assert_eq!(scripts.len(), 1);
            let matches: Vec<&str> = scripts[0]["matches"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(matches, extension::CONTENT_MATCHES);
            assert!(!matches.contains(&"<all_urls>"));
            assert_eq!(scripts[0]["run_at"], "document_start");
            assert_eq!(scripts[0]["all_frames"], false);
        }
    }

    #[test]
    fn the_two_renderings_differ_only_in_browser_keys() {
        let mut chrome = render(Browser::Chrome);
        let mut firefox = render(Browser::Firefox);
        for m in [&mut chrome, &mut firefox] {
            let obj = m.as_object_mut().unwrap();
            for key in [
                "background",
                "minimum_chrome_version",
                "browser_specific_settings",
            ] {
                obj.remove(key);
            }
        }
        assert_eq!(chrome, firefox);
        assert!(keys(&render(Browser::Chrome)).contains(&"minimum_chrome_version"));
        assert!(keys(&render(Browser::Firefox)).contains(&"browser_specific_settings"));
    }

    #[test]
    fn rendering_round_trips_through_the_typed_model() {
        for browser in Browser::ALL {
            let m = render(browser);
            let typed: Manifest = serde_json::from_value(m.clone()).unwrap();
            assert_eq!(typed, extension::manifest(browser));
            assert_eq!(serde_json::to_value(&typed).unwrap(), m);
        }
    }

    #[test]
    fn version_comes_from_the_crate_as_dotted_integers() {
        let m = render(Browser::Chrome);
        assert_eq!(
            m["version"],
            env!("CARGO_PKG_VERSION").split('-').next().unwrap()
        );
        assert_eq!(extension::extension_version("0.2.0-beta.1"), "0.2.0");
        assert_eq!(extension::extension_version("1.2.3+build.5"), "1.2.3");
        assert_eq!(extension::extension_version("garbage"), "0.0.0");
        assert!(rules::is_extension_version(&extension::extension_version(
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn every_committed_page_loads_only_files_that_ship() {
        let dir = extension_dir();
        let files = dist::list_files(&dir).unwrap();
        assert!(files.iter().any(|f| f == "panel.html"), "{files:?}");
        let panel_extra = ["panel.css"];
        for page in files.iter().filter(|f| f.ends_with(".html")) {
            let html = std::fs::read_to_string(dir.join(page)).unwrap();
            for target in dist::local_refs(&html) {
                assert!(
                    in_package(&target) || panel_extra.contains(&target.as_str()),
                    "{page} loads {target}"
                );
            }
        }
    }
}
