//! Errors of the recorder's query API.

use fluxlive_protocol::ErrorCode;

/// Why [`Recorder::state_at`](crate::Recorder::state_at) has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateAtError {
    /// The recorder knows no instance with that number.
    #[error("instance {iid} is not known to the recorder")]
    UnknownInstance {
        /// Instance number asked for.
        iid: u64,
    },
    /// The version is not in the recorded history (evicted, never recorded,
    /// or recorded while recording was paused).
    #[error("{} of instance {iid} is not in the recorded history", match .version { Some(v) => format!("version {v}"), None => "the newest version".to_owned() })]
    VersionUnavailable {
        /// Instance number.
        iid: u64,
        /// Version asked for (`None`: the newest).
        version: Option<u64>,
    },
}

impl StateAtError {
    /// The protocol error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnknownInstance { .. } => ErrorCode::NotMounted,
            Self::VersionUnavailable { .. } => ErrorCode::VersionUnavailable,
        }
    }
}
