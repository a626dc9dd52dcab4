//! The shape of a WebExtension `manifest.json` (Manifest V3), as far as
//! fluxlive uses it. Keys absent here are keys we never emit.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Manifest V3 `manifest.json`, for Chrome or Firefox.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always 3.
    pub manifest_version: u8,
    /// Name shown in the browser's extension list.
    pub name: String,
    /// One to four dot-separated integers.
    pub version: String,
    /// One line shown under the name.
    pub description: String,
    /// Icon files by pixel size.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub icons: BTreeMap<u32, String>,
    /// The hidden page DevTools loads for the extension; it creates the panel.
    pub devtools_page: String,
    /// The relay between panels and content scripts.
    pub background: Background,
    /// Scripts injected into matching pages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_scripts: Vec<ContentScript>,
    /// Policy for the extension's own pages.
    pub content_security_policy: ContentSecurityPolicy,
    /// API permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// Host permissions (URL match patterns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_permissions: Vec<String>,
    /// Files that web pages may load from the extension.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub web_accessible_resources: Vec<WebAccessibleResource>,
    /// Chrome only: the oldest Chrome that may install the extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_chrome_version: Option<String>,
    /// Firefox only: add-on id and version bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_specific_settings: Option<BrowserSpecificSettings>,
}

/// The `background` key: a service worker (Chrome) or event-page scripts
/// (Firefox, whose stable MV3 has no extension service workers).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum Background {
    /// `{"service_worker": "background.js"}`
    ServiceWorker {
        /// The worker script.
        service_worker: String,
    },
    /// `{"scripts": ["background.js"]}`
    Scripts {
        /// Scripts loaded, in order, into the background page.
        scripts: Vec<String>,
    },
}

/// One entry of `content_scripts`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContentScript {
    /// URL match patterns of pages the scripts run in.
    pub matches: Vec<String>,
    /// Script files, in order.
    pub js: Vec<String>,
    /// When to inject.
    pub run_at: RunAt,
    /// Inject into every frame, or the top frame only.
    pub all_frames: bool,
}

/// `content_scripts[].run_at`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunAt {
    /// Before any page script runs.
    DocumentStart,
    /// After the DOM is parsed.
    DocumentEnd,
    /// After `load` (the browser's default).
    DocumentIdle,
}

/// The MV3 `content_security_policy` object.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContentSecurityPolicy {
    /// Policy for `chrome-extension://` / `moz-extension://` pages.
    pub extension_pages: String,
}

/// One entry of the MV3 `web_accessible_resources` list.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebAccessibleResource {
    /// Files exposed.
    pub resources: Vec<String>,
    /// Pages allowed to load them.
    pub matches: Vec<String>,
}

/// Firefox's `browser_specific_settings`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BrowserSpecificSettings {
    /// Gecko (Firefox desktop) settings.
    pub gecko: Gecko,
}

/// `browser_specific_settings.gecko`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Gecko {
    /// Add-on id: `name@domain` or a `{GUID}`. MV3 add-ons must have one.
    pub id: String,
    /// Oldest Firefox that may install the add-on.
    pub strict_min_version: String,
    /// What the add-on collects (AMO requires the key for new add-ons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_collection_permissions: Option<DataCollectionPermissions>,
}

/// `gecko.data_collection_permissions`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DataCollectionPermissions {
    /// Data kinds the add-on needs; `["none"]` when it collects nothing.
    pub required: Vec<String>,
}
