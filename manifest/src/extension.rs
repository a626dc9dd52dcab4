//! The one description of the fluxlive DevTools extension, and what differs
//! between browsers.

use crate::model::{
    Background, BrowserSpecificSettings, ContentScript, ContentSecurityPolicy,
    DataCollectionPermissions, Gecko, Manifest, RunAt,
};
use std::fmt;

/// A browser the extension is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Browser {
    /// Chrome, Chromium, Edge and other Chromium-based browsers.
    Chrome,
    /// Firefox desktop.
    Firefox,
}

impl Browser {
    /// Every supported browser.
    pub const ALL: [Browser; 2] = [Browser::Chrome, Browser::Firefox];

    /// Lower-case name, used for `dist/<name>/` and the zip file name.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chrome => "chrome",
            Browser::Firefox => "firefox",
        }
    }
}

impl fmt::Display for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Name shown in the browser's extension list.
pub const NAME: &str = "fluxlive DevTools";

/// One line shown under the name.
pub const DESCRIPTION: &str =
    "Inspect fluxlive live components: state, actions, diffs, renders and time travel.";

/// API permissions the extension asks for: none.
///
/// Everything it does needs no permission: `devtools_page` and
/// `chrome.devtools.*` are granted by the key itself; `runtime.connect`,
/// `runtime.sendMessage`, `tabs.sendMessage` and `tabs.onRemoved` need no
/// permission; the panel's WebSocket to the page's debug channel is not
/// subject to host permissions (the runtime checks the `Origin` instead).
/// `tabs` (would expose every tab's URL), `scripting`, `storage` and
/// `<all_urls>` host access are deliberately absent.
pub const PERMISSIONS: &[&str] = &[];

/// Host permissions: none (see [`PERMISSIONS`]).
pub const HOST_PERMISSIONS: &[&str] = &[];

/// Pages the content script relay is injected into.
///
/// The debug channel only accepts loopback peers, so a page whose runtime
/// DevTools can reach is, in practice, served from a loopback name. The
/// relay is limited to those names instead of `<all_urls>`, so the extension
/// cannot read other sites. Any port matches (match patterns carry no port).
/// Pages on other names (say `myapp.test` mapped to 127.0.0.1) are still
/// found when DevTools is open: the panel host falls back to
/// `devtools.inspectedWindow.eval("window.__FLUXLIVE__")`, which needs no
/// permission.
pub const CONTENT_MATCHES: &[&str] = &[
    "http://localhost/*",
    "https://localhost/*",
    "http://*.localhost/*",
    "https://*.localhost/*",
    "http://127.0.0.1/*",
    "https://127.0.0.1/*",
    "http://[::1]/*",
    "https://[::1]/*",
];

/// Policy for the extension's pages: wasm compilation (the panel is a Yew
/// app) and nothing else beyond the MV3 default; no remote or inline script.
pub const EXTENSION_PAGES_CSP: &str = "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'";

/// Oldest Chrome: 103 is the first whose extension CSP accepts
/// `'wasm-unsafe-eval'`.
pub const MIN_CHROME: &str = "103";

/// Firefox add-on id (`name@domain` form).
pub const GECKO_ID: &str = "devtools@fluxlive.dev";

/// Oldest Firefox: 140, the current ESR. Manifest V3 alone would allow 109,
/// but `data_collection_permissions` (which addons.mozilla.org requires of
/// new add-ons) is read from 140 on; Mozilla's addons-linter warns below it.
pub const MIN_FIREFOX: &str = "140.0";

/// The devtools page (creates the panel).
pub const DEVTOOLS_PAGE: &str = "devtools.html";
/// The relay between panels and content scripts.
pub const BACKGROUND_SCRIPT: &str = "background.js";
/// The content-script relay.
pub const CONTENT_SCRIPT: &str = "content.js";
/// Icon files by size, under `extension/`.
pub const ICONS: [(u32, &str); 4] = [
    (16, "icons/icon-16.png"),
    (32, "icons/icon-32.png"),
    (48, "icons/icon-48.png"),
    (128, "icons/icon-128.png"),
];

/// The extension's manifest for `browser`.
pub fn manifest(browser: Browser) -> Manifest {
    let (background, minimum_chrome_version, browser_specific_settings) = match browser {
        Browser::Chrome => (
            Background::ServiceWorker {
                service_worker: BACKGROUND_SCRIPT.to_owned(),
            },
            Some(MIN_CHROME.to_owned()),
            None,
        ),
        Browser::Firefox => (
            Background::Scripts {
                scripts: vec![BACKGROUND_SCRIPT.to_owned()],
            },
            None,
            Some(BrowserSpecificSettings {
                gecko: Gecko {
                    id: GECKO_ID.to_owned(),
                    strict_min_version: MIN_FIREFOX.to_owned(),
                    data_collection_permissions: Some(DataCollectionPermissions {
                        required: vec!["none".to_owned()],
                    }),
                },
            }),
        ),
    };
    Manifest {
        manifest_version: 3,
        name: NAME.to_owned(),
        version: extension_version(env!("CARGO_PKG_VERSION")),
        description: DESCRIPTION.to_owned(),
        icons: ICONS
            .iter()
            .map(|&(size, file)| (size, file.to_owned()))
            .collect(),
        devtools_page: DEVTOOLS_PAGE.to_owned(),
        background,
        content_scripts: vec![ContentScript {
            matches: owned(CONTENT_MATCHES),
            js: vec![CONTENT_SCRIPT.to_owned()],
            // The page announces its runtime once its socket is up, which can
            // be before `document_idle`; listening from the start misses none.
            run_at: RunAt::DocumentStart,
            all_frames: false,
        }],
        content_security_policy: ContentSecurityPolicy {
            extension_pages: EXTENSION_PAGES_CSP.to_owned(),
        },
        permissions: owned(PERMISSIONS),
        host_permissions: owned(HOST_PERMISSIONS),
        web_accessible_resources: Vec::new(),
        minimum_chrome_version,
        browser_specific_settings,
    }
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A crate version as an extension version: browsers accept only dotted
/// integers, so a pre-release or build suffix (`0.2.0-beta.1`) is dropped.
pub(crate) fn extension_version(crate_version: &str) -> String {
    let core = crate_version
        .split(['-', '+'])
        .next()
        .unwrap_or(crate_version);
    let parts: Vec<&str> = core
        .split('.')
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .take(4)
        .collect();
    if parts.is_empty() {
        "0.0.0".to_owned()
    } else {
        parts.join(".")
    }
}
