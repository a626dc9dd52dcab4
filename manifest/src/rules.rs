//! Checks a rendered `manifest.json` against each browser's Manifest V3
//! rules and against fluxlive's declared permissions. Run by [`crate::build_dist`]
//! before anything is packed, and by the tests on every rendering.

use crate::extension::{Browser, CONTENT_MATCHES, HOST_PERMISSIONS, PERMISSIONS};
use serde_json::Value;

/// First Chrome whose extension CSP accepts `'wasm-unsafe-eval'`.
const CHROME_WASM_CSP: u32 = 103;
/// First Firefox with Manifest V3 enabled.
const FIREFOX_MV3: u32 = 109;
/// First Firefox that reads `gecko.data_collection_permissions`.
const FIREFOX_DATA_COLLECTION: u32 = 140;

/// Keys only Chrome understands; Firefox warns about them or ignores them.
const CHROME_ONLY_KEYS: &[&str] = &[
    "minimum_chrome_version",
    "key",
    "update_url",
    "side_panel",
    "oauth2",
    "externally_connectable",
    "export",
    "import",
];

/// Keys only Firefox understands.
const FIREFOX_ONLY_KEYS: &[&str] = &["browser_specific_settings", "applications"];

/// Manifest V2 keys that MV3 removed or replaced.
const MV2_KEYS: &[&str] = &["browser_action", "page_action"];

/// Every rule `manifest` breaks for `browser`, as readable sentences; empty
/// when it is valid. `file_exists` answers whether a path the manifest
/// references is present in the package.
pub fn violations(
    browser: Browser,
    manifest: &Value,
    file_exists: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = manifest.as_object() else {
        return vec!["manifest is not a JSON object".to_owned()];
    };

    if obj.get("manifest_version") != Some(&Value::from(3)) {
        out.push("manifest_version must be 3".to_owned());
    }
    match obj.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() && name.chars().count() <= 75 => {}
        _ => out.push("name must be 1 to 75 characters".to_owned()),
    }
    match obj.get("description").and_then(Value::as_str) {
        Some(d) if d.chars().count() <= 132 => {}
        Some(_) => out.push("description must be at most 132 characters".to_owned()),
        None => {}
    }
    match obj.get("version").and_then(Value::as_str) {
        Some(v) if is_extension_version(v) => {}
        other => out.push(format!(
            "version must be 1 to 4 dot-separated integers 0..=65535, got {other:?}"
        )),
    }
    for key in MV2_KEYS {
        if obj.contains_key(*key) {
            out.push(format!("`{key}` is Manifest V2 only"));
        }
    }

    check_background(browser, obj.get("background"), &mut out);
    check_csp(obj.get("content_security_policy"), &mut out);
    check_permissions(obj, &mut out);
    check_content_scripts(obj.get("content_scripts"), &mut out);
    check_war(obj.get("web_accessible_resources"), &mut out);

    match browser {
        Browser::Chrome => {
            for key in FIREFOX_ONLY_KEYS {
                if obj.contains_key(*key) {
                    out.push(format!("`{key}` is Firefox only"));
                }
            }
            match obj
                .get("minimum_chrome_version")
                .and_then(Value::as_str)
                .and_then(major)
            {
                Some(v) if v >= CHROME_WASM_CSP => {}
                _ => out.push(format!(
                    "minimum_chrome_version must be at least {CHROME_WASM_CSP} ('wasm-unsafe-eval')"
                )),
            }
        }
        Browser::Firefox => {
            for key in CHROME_ONLY_KEYS {
                if obj.contains_key(*key) {
                    out.push(format!("`{key}` is Chrome only"));
                }
            }
            check_gecko(obj.get("browser_specific_settings"), &mut out);
        }
    }

    for file in referenced_files(manifest) {
        if file.starts_with('/') || file.contains("..") || file.contains("://") {
            out.push(format!(
                "`{file}` must be a relative path inside the package"
            ));
        } else if !file_exists(&file) {
            out.push(format!("`{file}` is referenced but not in the package"));
        }
    }
    out
}

/// Every package file `manifest` names: pages, scripts, icons, exposed
/// resources.
pub fn referenced_files(manifest: &Value) -> Vec<String> {
    let mut files = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str) {
            files.push(s.to_owned());
        }
    };
    push(manifest.get("devtools_page"));
    if let Some(bg) = manifest.get("background") {
        push(bg.get("service_worker"));
        push(bg.get("page"));
        for s in array(bg.get("scripts")) {
            push(Some(s));
        }
    }
    if let Some(icons) = manifest.get("icons").and_then(Value::as_object) {
        for icon in icons.values() {
            push(Some(icon));
        }
    }
    for cs in array(manifest.get("content_scripts")) {
        for s in array(cs.get("js")).chain(array(cs.get("css"))) {
            push(Some(s));
        }
    }
    for war in array(manifest.get("web_accessible_resources")) {
        for r in array(war.get("resources")) {
            // Glob patterns are the browser's business, not a file to check.
            if !r.as_str().is_some_and(|s| s.contains('*')) {
                push(Some(r));
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn check_background(browser: Browser, bg: Option<&Value>, out: &mut Vec<String>) {
    let Some(bg) = bg.and_then(Value::as_object) else {
        out.push("background is missing".to_owned());
        return;
    };
    if bg.contains_key("persistent") {
        out.push("background.persistent is Manifest V2 only".to_owned());
    }
    if bg.contains_key("page") {
        out.push("background.page is not used: give a script".to_owned());
    }
    let has_worker = bg.get("service_worker").and_then(Value::as_str).is_some();
    let scripts_ok = bg
        .get("scripts")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty() && s.iter().all(Value::is_string));
    match browser {
        Browser::Chrome => {
            if !has_worker {
                out.push("Chrome MV3 needs background.service_worker".to_owned());
            }
            if bg.contains_key("scripts") {
                out.push("Chrome MV3 has no background.scripts".to_owned());
            }
        }
        Browser::Firefox => {
            if !scripts_ok {
                out.push("Firefox MV3 needs background.scripts (a non-empty list)".to_owned());
            }
            if bg.contains_key("service_worker") {
                out.push("Firefox MV3 does not run background.service_worker".to_owned());
            }
        }
    }
}

fn check_csp(csp: Option<&Value>, out: &mut Vec<String>) {
    let Some(csp) = csp else {
        out.push(
            "content_security_policy is missing (the panel needs 'wasm-unsafe-eval')".to_owned(),
        );
        return;
    };
    let Some(pages) = csp.get("extension_pages").and_then(Value::as_str) else {
        out.push("content_security_policy must be an object with extension_pages (MV3)".to_owned());
        return;
    };
    let mut script_src = None;
    for directive in pages.split(';') {
        let mut words = directive.split_whitespace();
        if words.next() == Some("script-src") {
            script_src = Some(words.collect::<Vec<_>>());
        }
    }
    let Some(sources) = script_src else {
        out.push("extension_pages CSP has no script-src".to_owned());
        return;
    };
    if !sources.contains(&"'wasm-unsafe-eval'") {
        out.push("extension_pages script-src lacks 'wasm-unsafe-eval'".to_owned());
    }
    for s in sources {
        // MV3 refuses remote code, eval and inline script in extension pages.
        if !matches!(s, "'self'" | "'wasm-unsafe-eval'" | "'none'") {
            out.push(format!("extension_pages script-src allows {s}"));
        }
    }
}

fn check_permissions(obj: &serde_json::Map<String, Value>, out: &mut Vec<String>) {
    for (key, allowed) in [
        ("permissions", PERMISSIONS),
        ("host_permissions", HOST_PERMISSIONS),
        ("optional_permissions", &[][..]),
        ("optional_host_permissions", &[][..]),
    ] {
        for p in array(obj.get(key)) {
            let p = p.as_str().unwrap_or_default();
            if !allowed.contains(&p) {
                out.push(format!("{key} has undeclared `{p}`"));
            }
        }
    }
}

fn check_content_scripts(cs: Option<&Value>, out: &mut Vec<String>) {
    for script in array(cs) {
        for m in array(script.get("matches")) {
            let m = m.as_str().unwrap_or_default();
            if !CONTENT_MATCHES.contains(&m) {
                out.push(format!("content script matches undeclared `{m}`"));
            }
        }
        if script.get("all_frames") == Some(&Value::Bool(true)) {
            out.push("content script must run in the top frame only".to_owned());
        }
    }
}

fn check_war(war: Option<&Value>, out: &mut Vec<String>) {
    for entry in array(war) {
        if entry.is_string() {
            out.push("web_accessible_resources entries must be objects (MV3)".to_owned());
        } else if array(entry.get("matches")).any(|m| m.as_str() == Some("<all_urls>")) {
            out.push("web_accessible_resources must not be exposed to <all_urls>".to_owned());
        }
    }
}

fn check_gecko(bss: Option<&Value>, out: &mut Vec<String>) {
    let Some(gecko) = bss.and_then(|b| b.get("gecko")) else {
        out.push("Firefox MV3 needs browser_specific_settings.gecko".to_owned());
        return;
    };
    match gecko.get("id").and_then(Value::as_str) {
        Some(id) if is_gecko_id(id) => {}
        other => out.push(format!(
            "gecko.id must be name@domain or a {{GUID}}, got {other:?}"
        )),
    }
    let min = gecko
        .get("strict_min_version")
        .and_then(Value::as_str)
        .and_then(major);
    match min {
        Some(v) if v >= FIREFOX_MV3 => {}
        _ => out.push(format!(
            "gecko.strict_min_version must be at least {FIREFOX_MV3}.0 (Manifest V3)"
        )),
    }
    if gecko.get("data_collection_permissions").is_some()
        && min.is_some_and(|v| v < FIREFOX_DATA_COLLECTION)
    {
        out.push(format!(
            "gecko.data_collection_permissions needs strict_min_version {FIREFOX_DATA_COLLECTION}.0 or later"
        ));
    }
}

/// Chrome and Firefox: one to four dot-separated integers 0..=65535, no
/// leading zeros.
pub(crate) fn is_extension_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (1..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
        })
}

/// Firefox add-on ids: `name@domain` (letters, digits, `.`, `_`, `-`) or a
/// braced GUID, at most 80 characters.
pub(crate) fn is_gecko_id(id: &str) -> bool {
    if id.len() > 80 {
        return false;
    }
    let word = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if let Some((name, domain)) = id.split_once('@') {
        return word(name) && !domain.is_empty() && word(domain);
    }
    let Some(guid) = id.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        return false;
    };
    let groups: Vec<&str> = guid.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Major version of `"109.0"`, `"103"`, `"121.0a1"`.
fn major(v: &str) -> Option<u32> {
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render;
    use serde_json::json;

    fn any_file(_: &str) -> bool {
        true
    }

    /// The rules broken by `render(browser)` after `edit`.
    fn broken_after(browser: Browser, edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut m = render(browser);
        edit(&mut m);
        violations(browser, &m, &any_file)
    }

    fn has(v: &[String], needle: &str) -> bool {
        v.iter().any(|s| s.contains(needle))
    }

    #[test]
    fn a_service_worker_is_refused_in_firefox_and_required_in_chrome() {
        let v = broken_after(Browser::Firefox, |m| {
            m["background"] = json!({"service_worker": "background.js"});
        });
        assert!(has(&v, "does not run background.service_worker"), "{v:?}");
        assert!(has(&v, "needs background.scripts"), "{v:?}");
        let v = broken_after(Browser::Chrome, |m| {
            m["background"] = json!({"scripts": ["background.js"]});
        });
        assert!(has(&v, "needs background.service_worker"), "{v:?}");
    }

    #[test]
    fn firefox_needs_a_well_formed_gecko_id_and_version() {
        let v = broken_after(Browser::Firefox, |m| {
            m["browser_specific_settings"]["gecko"]["id"] = json!("not an id");
            m["browser_specific_settings"]["gecko"]["strict_min_version"] = json!("102.0");
        });
        assert!(has(&v, "gecko.id"), "{v:?}");
        assert!(has(&v, "strict_min_version"), "{v:?}");
        let v = broken_after(Browser::Firefox, |m| {
            m.as_object_mut()
                .unwrap()
                .remove("browser_specific_settings");
        });
        assert!(has(&v, "needs browser_specific_settings.gecko"), "{v:?}");
        let v = broken_after(Browser::Firefox, |m| {
            m["browser_specific_settings"]["gecko"]["strict_min_version"] = json!("115.0");
        });
        assert_eq!(
            v,
            vec!["gecko.data_collection_permissions needs strict_min_version 140.0 or later"]
        );
    }

    #[test]
    fn chrome_only_keys_are_refused_in_firefox_and_the_reverse() {
        let v = broken_after(Browser::Firefox, |m| {
            m["minimum_chrome_version"] = json!("103")
        });
        assert!(has(&v, "`minimum_chrome_version` is Chrome only"), "{v:?}");
        let v = broken_after(Browser::Chrome, |m| {
            m["browser_specific_settings"] = json!({"gecko": {"id": "a@b"}});
        });
        assert!(
            has(&v, "`browser_specific_settings` is Firefox only"),
            "{v:?}"
        );
        let v = broken_after(Browser::Chrome, |m| {
            m["minimum_chrome_version"] = json!("88")
        });
        assert!(
            has(&v, "minimum_chrome_version must be at least 103"),
            "{v:?}"
        );
    }

    #[test]
    fn csp_must_allow_wasm_and_nothing_remote() {
        for browser in Browser::ALL {
            let v = broken_after(browser, |m| {
                m["content_security_policy"]["extension_pages"] =
                    json!("script-src 'self'; object-src 'self'");
            });
            assert!(has(&v, "lacks 'wasm-unsafe-eval'"), "{v:?}");
            let v = broken_after(browser, |m| {
                m["content_security_policy"]["extension_pages"] = json!(
                    "script-src 'self' 'wasm-unsafe-eval' https://cdn.example; object-src 'self'"
                );
            });
            assert!(has(&v, "allows https://cdn.example"), "{v:?}");
            let v = broken_after(browser, |m| {
                m["content_security_policy"] = json!("script-src 'self'");
            });
            assert!(has(&v, "must be an object"), "{v:?}");
        }
    }

    #[test]
    fn undeclared_permissions_and_matches_are_caught() {
        for browser in Browser::ALL {
            let v = broken_after(browser, |m| {
                m["permissions"] = json!(["tabs"]);
                m["host_permissions"] = json!(["<all_urls>"]);
                m["optional_permissions"] = json!(["storage"]);
                m["content_scripts"][0]["matches"] = json!(["<all_urls>"]);
            });
            for needle in [
                "permissions has undeclared `tabs`",
                "host_permissions has undeclared `<all_urls>`",
                "optional_permissions has undeclared `storage`",
                "content script matches undeclared `<all_urls>`",
            ] {
                assert!(has(&v, needle), "{needle}: {v:?}");
            }
        }
    }

    #[test]
    fn mv2_shapes_are_caught() {
        let v = broken_after(Browser::Chrome, |m| {
            m["manifest_version"] = json!(2);
            m["browser_action"] = json!({});
            m["background"]["persistent"] = json!(false);
            m["web_accessible_resources"] = json!(["hook.js"]);
        });
        for needle in [
            "manifest_version must be 3",
            "`browser_action` is Manifest V2 only",
            "background.persistent",
            "entries must be objects",
        ] {
            assert!(has(&v, needle), "{needle}: {v:?}");
        }
    }

    #[test]
    fn missing_and_escaping_files_are_caught() {
        let m = render(Browser::Chrome);
        let v = violations(Browser::Chrome, &m, &|f| f != "content.js");
        assert_eq!(v, vec!["`content.js` is referenced but not in the package"]);
        let v = broken_after(Browser::Chrome, |m| {
            m["devtools_page"] = json!("../devtools.html")
        });
        assert!(
            has(&v, "must be a relative path inside the package"),
            "{v:?}"
        );
    }

    #[test]
    fn referenced_files_lists_pages_scripts_and_icons() {
        let files = referenced_files(&render(Browser::Firefox));
        for f in [
            "devtools.html",
            "background.js",
            "content.js",
            "icons/icon-16.png",
            "icons/icon-128.png",
        ] {
            assert!(files.iter().any(|x| x == f), "{f}: {files:?}");
        }
    }

    #[test]
    fn versions_and_ids() {
        for ok in ["0.1.0", "1", "1.2.3.4", "65535.0"] {
            assert!(is_extension_version(ok), "{ok}");
        }
        for bad in ["", "1.2.3.4.5", "01.0", "1.a", "65536", "1..2", "-1"] {
            assert!(!is_extension_version(bad), "{bad}");
        }
        for ok in [
            "devtools@fluxlive.dev",
            "@fluxlive",
            "{12345678-abcd-ef01-2345-6789abcdef01}",
        ] {
            assert!(is_gecko_id(ok), "{ok}");
        }
        for bad in [
            "fluxlive",
            "a@",
            "a b@c",
            "{1234}",
            "{12345678-abcd-ef01-2345-6789abcdef0g}",
        ] {
            assert!(!is_gecko_id(bad), "{bad}");
        }
        assert_eq!(major("121.0a1"), Some(121));
        assert_eq!(major("x"), None);
    }
}
