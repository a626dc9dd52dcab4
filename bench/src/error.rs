//! What can go wrong while benchmarking.

use std::io;

/// A benchmark step that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// Bad command line.
    #[error("{0}")]
    Usage(String),
    /// A socket, process or /proc read failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The WebSocket client failed.
    #[error("{what}: {source}")]
    Ws {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The server answered something unexpected or nothing in time.
    #[error("{0}")]
    Protocol(String),
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn ws(
        what: impl Into<String>,
        source: tokio_tungstenite::tungstenite::Error,
    ) -> Self {
        Self::Ws {
            what: what.into(),
            source: Box::new(source),
        }
    }
}
