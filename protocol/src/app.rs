//! App channel frames (`/__live/ws`): browser client ⇄ runtime.
//!
//! Every frame is one JSON text message with a `t` tag. Requests carry a
//! client-chosen `ref` that the answer echoes, so the client can match
//! replies to promises even when frames for other instances interleave.

use crate::error::ErrorCode;
use json_patch::Patch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A frame sent by the browser client.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame on every socket. `resume` reattaches a session the server
    /// may still hold after a dropped connection.
    Hello {
        /// Protocol version the client speaks.
        protocol: u32,
        /// Session to resume, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Resume>,
        /// Optional features the client understands (`"batch"`: the server
        /// may coalesce frames into `batch` frames).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        caps: Vec<String>,
    },
    /// Create an instance of a registered component type.
    Mount {
        /// Request reference echoed in the answer.
        #[serde(rename = "ref")]
        req: u32,
        /// Registered component type name.
        #[serde(rename = "type")]
        component: String,
        /// Props decoded into the component's props type.
        #[serde(default)]
        props: Value,
        /// Instance id, unique within this connection; the server picks one when absent.
        /// For a shared component type it is the shared key: every connection
        /// that mounts the same type with the same id gets the same instance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// A signed state the server gave earlier: rebuild the instance from
        /// it when the server no longer holds it (restart, grace expired).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<SignedState>,
    },
    /// Frames coalesced by the client in one tick, applied in order.
    Batch {
        /// The frames (no nested batches).
        frames: Vec<ClientFrame>,
    },
    /// Several calls on several instances, applied in order, answered once
    /// with `batch_reply`.
    BatchCall {
        /// Request reference echoed in the answer.
        #[serde(rename = "ref")]
        req: u32,
        /// The calls.
        calls: Vec<BatchItem>,
    },
    /// Call an action on an instance this connection mounted.
    Call {
        /// Request reference echoed in the answer.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance id.
        id: String,
        /// Action name.
        method: String,
        /// Positional arguments.
        #[serde(default)]
        args: Vec<Value>,
        /// W3C `traceparent` of the client span that made the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
        /// Idempotency key: a retried call with the same key is applied once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// Give an instance new props (runs its `on_props_changed`); answered like a call.
    Props {
        /// Request reference echoed in the answer.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance id.
        id: String,
        /// The new props.
        props: Value,
    },
    /// Free an instance now.
    Unmount {
        /// Request reference echoed in the answer.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance id.
        id: String,
    },
    /// Ask for the full state of an instance (after a version gap).
    Sync {
        /// Instance id.
        id: String,
    },
    /// Render metrics and client call spans measured by the client, batched.
    Renders {
        /// One report per applied patch or state.
        #[serde(default)]
        items: Vec<RenderReport>,
        /// One report per finished call that carried a trace.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        spans: Vec<ClientSpanReport>,
    },
    /// The user picked an instance in the page (DevTools picker), or cancelled (`null`).
    Pick {
        /// Picked instance id, `None` when the picker was cancelled.
        id: Option<String>,
    },
}

/// A client-visible state with the server's HMAC signature, for rehydration.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignedState {
    /// Version of `state`.
    pub version: u64,
    /// The state as the client holds it.
    pub state: Value,
    /// The signature from the frame that produced this version (`sig`).
    pub sig: String,
}

/// One call of a `batch_call`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// Instance id.
    pub id: String,
    /// Action name.
    pub method: String,
    /// Positional arguments.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The outcome of one call of a `batch_call`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum BatchOutcome {
    /// The action's return value.
    Ok {
        /// Return value.
        ok: Value,
    },
    /// Why the call failed.
    Err {
        /// The error, as in an `error` frame.
        error: ErrorFrame,
    },
}

/// Credentials to reattach a session after a reconnect.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// Session id from the previous `welcome`.
    pub session: String,
    /// Secret resume token from the previous `welcome`.
    pub token: String,
}

/// What the client measured while applying one patch or state.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RenderReport {
    /// Instance id.
    pub id: String,
    /// State version that was rendered.
    pub version: u64,
    /// Microseconds from frame receipt to patch applied.
    pub apply_us: u64,
    /// Microseconds spent in the page's state listeners (render callbacks).
    pub render_us: u64,
    /// Microseconds from frame receipt to the next animation frame.
    pub frame_us: u64,
    /// Wall-clock time of frame receipt, microseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_unix_us: Option<u64>,
    /// `traceparent` of the call whose patch this was, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// The client side of one traced call: the root span of its trace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ClientSpanReport {
    /// The `traceparent` the call carried (names the client span).
    pub trace: String,
    /// Instance id.
    pub id: String,
    /// Action name.
    pub method: String,
    /// Call start, microseconds since the Unix epoch.
    pub start_unix_us: u64,
    /// Call start to reply (or error), microseconds.
    pub dur_us: u64,
    /// Error code when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A frame sent by the runtime.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to `hello`.
    Welcome {
        /// Protocol version the server speaks.
        protocol: u32,
        /// Session id; pass it back in `hello.resume` after a reconnect.
        session: String,
        /// Secret resume token for this session.
        token: String,
        /// True when `hello.resume` reattached the old session.
        resumed: bool,
        /// How long the server keeps a disconnected session, in milliseconds.
        grace_ms: u64,
        /// Largest frame the server accepts, in bytes.
        max_frame: usize,
        /// On resume: every instance the session still holds, with full state.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        instances: Vec<InstanceState>,
        /// Where DevTools can reach this runtime's debug channel, when it is on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        debug: Option<DebugAnnounce>,
    },
    /// Answer to `mount`.
    Mounted {
        /// Echo of the request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance id.
        id: String,
        /// Component type.
        #[serde(rename = "type")]
        component: String,
        /// Current version.
        version: u64,
        /// Full client-visible state.
        state: Value,
        /// Signature of this state, for rehydration (when enabled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<String>,
        /// True when the instance was rebuilt from the client's signed snapshot.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rehydrated: bool,
        /// True for an instance of a shared type (other clients see it too).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        shared: bool,
    },
    /// Server frames coalesced per connection per flush, in order.
    Batch {
        /// The frames (no nested batches).
        frames: Vec<ServerFrame>,
    },
    /// Answer to `batch_call`, one outcome per call, in order.
    BatchReply {
        /// Echo of the request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Outcomes.
        results: Vec<BatchOutcome>,
    },
    /// Successful answer to `call`. Sent after the patch the call caused.
    Reply {
        /// Echo of the request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance id.
        id: String,
        /// The action's return value (`null` for unit).
        result: Value,
    },
    /// An error, in answer to a request (`ref` set) or about the connection.
    Error(ErrorFrame),
    /// A state change: apply `ops` to the state at `base` to get `version`.
    Patch {
        /// Instance id.
        id: String,
        /// Version the patch applies to.
        base: u64,
        /// Version after the patch.
        version: u64,
        /// RFC 6902 operations.
        ops: Patch,
        /// `traceparent` of the server action span that caused the change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
        /// Signature of the state at `version`, for rehydration (when enabled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<String>,
    },
    /// Full state (answer to `sync`).
    State {
        /// Instance id.
        id: String,
        /// Version of this state.
        version: u64,
        /// Full client-visible state.
        state: Value,
        /// Signature of this state, for rehydration (when enabled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<String>,
    },
    /// An event emitted by an action (`ctx.emit`).
    Event {
        /// Instance id that emitted it.
        id: String,
        /// Event name.
        name: String,
        /// Event payload.
        data: Value,
    },
    /// The instance is gone.
    Unmounted {
        /// Echo of the request reference, when the client asked.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        req: Option<u32>,
        /// Instance id.
        id: String,
    },
    /// DevTools asks the page to outline (or stop outlining) an instance's element.
    Highlight {
        /// Instance id.
        id: String,
        /// `true` to draw the overlay, `false` to clear it.
        on: bool,
        /// Label shown on the overlay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// DevTools asks the page to enter (or leave) element-picker mode.
    Picker {
        /// `true` to start picking.
        on: bool,
    },
}

/// How DevTools reaches the debug channel (sent in `welcome`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DebugAnnounce {
    /// Path of the debug WebSocket on this server, e.g. `/__live/debug`.
    pub path: String,
    /// The debug token; present only in dev mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Full state of one instance.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InstanceState {
    /// Instance id.
    pub id: String,
    /// Component type.
    #[serde(rename = "type")]
    pub component: String,
    /// Current version.
    pub version: u64,
    /// Full client-visible state.
    pub state: Value,
    /// Signature of this state, for rehydration (when enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// Body of an `error` frame.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ErrorFrame {
    /// Echo of the request reference, when the error answers a request.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub req: Option<u32>,
    /// Stable error code.
    pub code: ErrorCode,
    /// Human-readable message naming component, method and cause.
    pub message: String,
    /// Instance id concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Component type concerned, if any.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Method concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Application error payload (`Result::Err` of an action, serialized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl ErrorFrame {
    /// An error with a code and message and nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            req: None,
            code,
            message: message.into(),
            id: None,
            component: None,
            method: None,
            detail: None,
        }
    }
}
