//! Stable error codes shared by both channels.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A stable, machine-readable error code. The string form (snake_case) is
/// part of the protocol: never rename a variant, only add new ones.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid JSON or not a known frame shape.
    BadFrame,
    /// The frame is larger than the server's limit.
    FrameTooLarge,
    /// The client speaks a protocol version this server does not.
    ProtocolMismatch,
    /// No component type of that name is registered.
    UnknownComponent,
    /// The component has no action of that name (or the method is not an action).
    UnknownMethod,
    /// Action arguments have the wrong count or types.
    BadArgs,
    /// Mount props could not be decoded into the component's props type.
    BadProps,
    /// The instance is not mounted by this connection (or does not exist).
    NotMounted,
    /// An instance with that id is already mounted by this connection.
    DuplicateId,
    /// The action returned an error.
    ActionFailed,
    /// The action panicked; its state was rolled back.
    ActionPanicked,
    /// The instance's mailbox is full; retry later.
    Overloaded,
    /// The state could not be serialized or restored.
    StateError,
    /// The debug channel refused the request (token, origin, peer).
    Unauthorized,
    /// The requested version is not in the recorded history.
    VersionUnavailable,
    /// A session file or replay could not be processed.
    BadSession,
    /// A signed state snapshot was refused (forged, altered, expired, other type).
    BadSnapshot,
    /// Something went wrong on the server that is not the client's fault.
    Internal,
}

impl ErrorCode {
    /// The wire spelling of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::FrameTooLarge => "frame_too_large",
            Self::ProtocolMismatch => "protocol_mismatch",
            Self::UnknownComponent => "unknown_component",
            Self::UnknownMethod => "unknown_method",
            Self::BadArgs => "bad_args",
            Self::BadProps => "bad_props",
            Self::NotMounted => "not_mounted",
            Self::DuplicateId => "duplicate_id",
            Self::ActionFailed => "action_failed",
            Self::ActionPanicked => "action_panicked",
            Self::Overloaded => "overloaded",
            Self::StateError => "state_error",
            Self::Unauthorized => "unauthorized",
            Self::VersionUnavailable => "version_unavailable",
            Self::BadSession => "bad_session",
            Self::BadSnapshot => "bad_snapshot",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
