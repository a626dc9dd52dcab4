//! Why packaging the extension failed.

use crate::extension::Browser;
use std::path::PathBuf;

/// An error from [`crate::build_dist`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `dist/panel/` is missing or lacks a file the extension loads.
    #[error(
        "the DevTools panel is not built: {} (missing {missing}); run `cargo xtask panel` first",
        dir.display()
    )]
    PanelNotBuilt {
        /// The panel output directory.
        dir: PathBuf,
        /// What is missing: the directory itself or a file in it.
        missing: String,
    },
    /// `extension/` is missing.
    #[error("the extension sources are missing: {} is not a directory", dir.display())]
    ExtensionMissing {
        /// The expected directory.
        dir: PathBuf,
    },
    /// The same file name comes from both `extension/` and the panel.
    #[error("`{name}` is in both {} and {}; rename one", first.display(), second.display())]
    Collision {
        /// Path relative to both directories.
        name: String,
        /// The extension source directory.
        first: PathBuf,
        /// The panel output directory.
        second: PathBuf,
    },
    /// The assembled package breaks a manifest rule or misses a file.
    #[error("the {browser} package is invalid: {}", violations.join("; "))]
    Invalid {
        /// Which package.
        browser: Browser,
        /// Every rule broken.
        violations: Vec<String>,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "copy", "create" …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing a zip archive failed.
    #[error("cannot write the archive {}: {source}", path.display())]
    Zip {
        /// The archive being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: zip::result::ZipError,
    },
    /// Encoding a manifest failed.
    #[error("cannot encode the {browser} manifest: {source}")]
    Json {
        /// Which manifest.
        browser: Browser,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
