//! Errors the runtime reports to clients. Each variant has a stable
//! [`ErrorCode`] and a message naming the component, method and cause.

use fluxlive_protocol::app::ErrorFrame;
use fluxlive_protocol::ErrorCode;
use serde_json::Value;
use std::fmt::Display;

/// Why an action (or lifecycle hook) did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The component has no action of that name.
    #[error("{component} has no action `{method}` (actions: {available})")]
    UnknownMethod {
        /// Component type.
        component: &'static str,
        /// What the client asked for.
        method: String,
        /// The callable actions.
        available: String,
    },
    /// Arguments have the wrong count or types.
    #[error("{component}.{method}: {reason}")]
    BadArgs {
        /// Component type.
        component: &'static str,
        /// Action.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// The action returned `Err`; its state changes were rolled back.
    #[error("{component}.{method} failed: {message}")]
    Failed {
        /// Component type.
        component: &'static str,
        /// Action.
        method: String,
        /// The error's `Display`.
        message: String,
        /// The error serialized, when it implements `Serialize`.
        detail: Option<Value>,
    },
    /// The action panicked; its state was rolled back.
    #[error("{component}.{method} panicked: {message} (state rolled back)")]
    Panicked {
        /// Component type.
        component: &'static str,
        /// Action.
        method: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The return value could not be serialized.
    #[error("{component}.{method}: could not serialize the result: {reason}")]
    Output {
        /// Component type.
        component: &'static str,
        /// Action.
        method: String,
        /// Serializer error.
        reason: String,
    },
    /// No live instance has that runtime id (never mounted, or gone).
    #[error("instance #{iid} is not live (calling `{method}`)")]
    NotLive {
        /// The runtime id asked for.
        iid: u64,
        /// Action.
        method: String,
    },
    /// The state could not be serialized or restored.
    #[error("{component}.{method}: state error: {reason}")]
    State {
        /// Component type.
        component: &'static str,
        /// Action.
        method: String,
        /// What failed.
        reason: String,
    },
}

impl ActionError {
    /// The action does not exist.
    pub fn unknown_method(component: &'static str, method: &str) -> Self {
        Self::UnknownMethod {
            component,
            method: method.to_owned(),
            available: String::new(),
        }
    }

    /// The action returned an error.
    pub fn failed(
        component: &'static str,
        method: &str,
        err: &dyn Display,
        detail: Option<Value>,
    ) -> Self {
        Self::Failed {
            component,
            method: method.to_owned(),
            message: err.to_string(),
            detail,
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnknownMethod { .. } => ErrorCode::UnknownMethod,
            Self::BadArgs { .. } => ErrorCode::BadArgs,
            Self::Failed { .. } => ErrorCode::ActionFailed,
            Self::Panicked { .. } => ErrorCode::ActionPanicked,
            Self::Output { .. } | Self::State { .. } => ErrorCode::StateError,
            Self::NotLive { .. } => ErrorCode::NotMounted,
        }
    }

    /// The method concerned.
    pub fn method(&self) -> &str {
        match self {
            Self::UnknownMethod { method, .. }
            | Self::BadArgs { method, .. }
            | Self::Failed { method, .. }
            | Self::Panicked { method, .. }
            | Self::Output { method, .. }
            | Self::NotLive { method, .. }
            | Self::State { method, .. } => method,
        }
    }

    /// The component concerned; `None` for [`NotLive`](Self::NotLive),
    /// whose instance is gone and its type with it.
    pub fn component(&self) -> Option<&'static str> {
        match self {
            Self::UnknownMethod { component, .. }
            | Self::BadArgs { component, .. }
            | Self::Failed { component, .. }
            | Self::Panicked { component, .. }
            | Self::Output { component, .. }
            | Self::State { component, .. } => Some(component),
            Self::NotLive { .. } => None,
        }
    }

    /// The wire form, answering request `req` about instance `id`.
    pub fn to_frame(&self, req: Option<u32>, id: &str) -> ErrorFrame {
        ErrorFrame {
            req,
            code: self.code(),
            message: self.to_string(),
            id: Some(id.to_owned()),
            component: self.component().map(str::to_owned),
            method: Some(self.method().to_owned()),
            detail: match self {
                Self::Failed { detail, .. } => detail.clone(),
                _ => None,
            },
        }
    }
}

/// Why a frame was refused before reaching any action.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Not JSON, or not a known frame.
    #[error("malformed frame: {0}")]
    BadFrame(String),
    /// Over the size limit.
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    FrameTooLarge {
        /// Frame size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Protocol version not spoken here.
    #[error("client speaks protocol {client}, server speaks {server}")]
    ProtocolMismatch {
        /// Client's version.
        client: u32,
        /// Server's version.
        server: u32,
    },
    /// No such component type.
    #[error("no component type named `{name}` is registered (registered: {registered})")]
    UnknownComponent {
        /// What the client asked for.
        name: String,
        /// What exists.
        registered: String,
    },
    /// Props did not decode.
    #[error("{component}: bad props: {reason}")]
    BadProps {
        /// Component type.
        component: &'static str,
        /// Decoder error.
        reason: String,
    },
    /// The id is not mounted by this connection.
    #[error("instance `{id}` is not mounted by this connection{}", method.as_ref().map(|m| format!(" (calling `{m}`)")).unwrap_or_default())]
    NotMounted {
        /// Instance id.
        id: String,
        /// Method being called, if any.
        method: Option<String>,
    },
    /// The id is already in use on this connection.
    #[error("instance id `{id}` is already mounted by this connection")]
    DuplicateId {
        /// Instance id.
        id: String,
    },
    /// The method is not an action of the component.
    #[error("{component} has no action `{method}` (actions: {available})")]
    UnknownMethod {
        /// Component type.
        component: &'static str,
        /// What the client asked for.
        method: String,
        /// The callable actions.
        available: String,
    },
    /// The instance's mailbox is full.
    #[error("{component} `{id}` is overloaded: its mailbox is full; retry later")]
    Overloaded {
        /// Component type.
        component: &'static str,
        /// Instance id.
        id: String,
    },
    /// A signed snapshot was refused; mount without it to start fresh.
    #[error("{component} `{id}`: snapshot refused: {reason}")]
    BadSnapshot {
        /// Component type.
        component: &'static str,
        /// Instance id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A shared component was mounted without its key.
    #[error("{component} is shared: mount it with an id (its shared key)")]
    SharedNeedsKey {
        /// Component type.
        component: &'static str,
    },
    /// The runtime is shutting the instance down.
    #[error("{component} `{id}` is shutting down")]
    Gone {
        /// Component type.
        component: &'static str,
        /// Instance id.
        id: String,
    },
}

impl Rejection {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadFrame(_) => ErrorCode::BadFrame,
            Self::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::ProtocolMismatch { .. } => ErrorCode::ProtocolMismatch,
            Self::UnknownComponent { .. } => ErrorCode::UnknownComponent,
            Self::BadProps { .. } => ErrorCode::BadProps,
            Self::NotMounted { .. } | Self::Gone { .. } => ErrorCode::NotMounted,
            Self::DuplicateId { .. } => ErrorCode::DuplicateId,
            Self::Overloaded { .. } => ErrorCode::Overloaded,
            Self::BadSnapshot { .. } => ErrorCode::BadSnapshot,
            Self::UnknownMethod { .. } => ErrorCode::UnknownMethod,
            Self::SharedNeedsKey { .. } => ErrorCode::BadFrame,
        }
    }

    /// The wire form.
    pub fn to_frame(&self, req: Option<u32>) -> ErrorFrame {
        let mut f = ErrorFrame::new(self.code(), self.to_string());
        f.req = req;
        match self {
            Self::UnknownComponent { name, .. } => f.component = Some(name.clone()),
            Self::BadProps { component, .. } => f.component = Some((*component).to_owned()),
            Self::NotMounted { id, method } => {
                f.id = Some(id.clone());
                f.method = method.clone();
            }
            Self::DuplicateId { id } => f.id = Some(id.clone()),
            Self::BadSnapshot { component, id, .. } => {
                f.id = Some(id.clone());
                f.component = Some((*component).to_owned());
            }
            Self::SharedNeedsKey { component } => f.component = Some((*component).to_owned()),
            Self::UnknownMethod {
                component, method, ..
            } => {
                f.component = Some((*component).to_owned());
                f.method = Some(method.clone());
            }
            Self::Overloaded { component, id } | Self::Gone { component, id } => {
                f.id = Some(id.clone());
                f.component = Some((*component).to_owned());
            }
            _ => {}
        }
        f
    }
}
