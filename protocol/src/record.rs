//! The recorded event model: what the flight recorder keeps and the debug
//! channel streams.
//!
//! Every [`Record`] has a global sequence number (gaps are only ever
//! explained by a [`RecordBody::Dropped`] record), a monotonic timestamp in
//! microseconds since the runtime started (`hello.started_unix_us` turns it
//! into wall-clock time), the connection it belongs to, and the instance it
//! names.

use crate::error::ErrorCode;
use json_patch::Patch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recorded event.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Record {
    /// Global sequence number, strictly increasing, starting at 1.
    pub seq: u64,
    /// Microseconds since the runtime started (monotonic clock).
    pub ts_us: u64,
    /// Connection (session) id; 0 when the record belongs to none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conn: u64,
    /// The instance the record is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceRef>,
    /// What happened.
    #[serde(flatten)]
    pub body: RecordBody,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Names an instance in a record.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceRef {
    /// Globally unique instance number (stable for the life of the runtime).
    pub iid: u64,
    /// Client-visible instance id (unique within its connection).
    pub id: String,
    /// Component type.
    #[serde(rename = "type")]
    pub component: String,
}

/// The kinds of record, for filters.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// [`RecordBody::ConnOpen`]
    ConnOpen,
    /// [`RecordBody::ConnClose`]
    ConnClose,
    /// [`RecordBody::Mount`]
    Mount,
    /// [`RecordBody::Unmount`]
    Unmount,
    /// [`RecordBody::Resume`]
    Resume,
    /// [`RecordBody::Action`]
    Action,
    /// [`RecordBody::Diff`]
    Diff,
    /// [`RecordBody::Render`]
    Render,
    /// [`RecordBody::ClientSpan`]
    ClientSpan,
    /// [`RecordBody::Emit`]
    Emit,
    /// [`RecordBody::Panic`]
    Panic,
    /// [`RecordBody::Snapshot`]
    Snapshot,
    /// [`RecordBody::TimeTravel`]
    TimeTravel,
    /// [`RecordBody::Dropped`]
    Dropped,
    /// [`RecordBody::Recording`]
    Recording,
}

/// What a record says happened.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    /// A WebSocket connection opened (a session started or resumed on it).
    ConnOpen {
        /// Peer address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
    },
    /// A WebSocket connection closed.
    ConnClose {
        /// Why it closed.
        reason: String,
    },
    /// An instance was mounted.
    Mount {
        /// Props it was mounted with (redacted).
        props: Value,
        /// Version after mount.
        version: u64,
        /// Client-visible state after mount (redacted).
        state: Value,
    },
    /// An instance was freed.
    Unmount {
        /// Why.
        reason: UnmountReason,
        /// Its last version.
        version: u64,
    },
    /// A session (and so this instance) was reattached after a reconnect.
    Resume {
        /// Instance version at resume.
        version: u64,
    },
    /// An action ran.
    Action(ActionRecord),
    /// State changed.
    Diff(DiffRecord),
    /// The browser client applied and rendered a patch.
    Render(RenderRecord),
    /// The browser side of a traced call (the root span of its trace).
    ClientSpan(ClientSpanRecord),
    /// An action emitted an event.
    Emit {
        /// Event name.
        name: String,
        /// Payload (redacted, capped).
        data: Value,
    },
    /// A component method panicked (the state was rolled back).
    Panic {
        /// Method or hook that panicked.
        method: String,
        /// Panic message.
        message: String,
    },
    /// Full state at a version, recorded periodically so that state at any
    /// version can be rebuilt from the nearest snapshot plus diffs.
    Snapshot {
        /// Version of this state.
        version: u64,
        /// Client-visible state (redacted).
        state: Value,
    },
    /// DevTools set an instance back to a recorded version (a new version
    /// whose state equals the recorded one).
    TimeTravel {
        /// The recorded version whose state was restored.
        target: u64,
        /// The new version.
        version: u64,
    },
    /// Records were lost; `count` explains the matching sequence gap.
    Dropped {
        /// How many records were lost.
        count: u64,
        /// Where.
        site: DropSite,
        /// Why, in words.
        reason: String,
    },
    /// Recording was paused or resumed.
    Recording {
        /// `true` when recording resumed.
        on: bool,
    },
}

impl RecordBody {
    /// The kind of this body.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::ConnOpen { .. } => RecordKind::ConnOpen,
            Self::ConnClose { .. } => RecordKind::ConnClose,
            Self::Mount { .. } => RecordKind::Mount,
            Self::Unmount { .. } => RecordKind::Unmount,
            Self::Resume { .. } => RecordKind::Resume,
            Self::Action(_) => RecordKind::Action,
            Self::Diff(_) => RecordKind::Diff,
            Self::Render(_) => RecordKind::Render,
            Self::ClientSpan(_) => RecordKind::ClientSpan,
            Self::Emit { .. } => RecordKind::Emit,
            Self::Panic { .. } => RecordKind::Panic,
            Self::Snapshot { .. } => RecordKind::Snapshot,
            Self::TimeTravel { .. } => RecordKind::TimeTravel,
            Self::Dropped { .. } => RecordKind::Dropped,
            Self::Recording { .. } => RecordKind::Recording,
        }
    }

    /// True for records that report a failure.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Self::Panic { .. }
                | Self::Dropped { .. }
                | Self::Action(ActionRecord {
                    outcome: Outcome::Err { .. },
                    ..
                })
        )
    }
}

/// Why an instance was freed.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnmountReason {
    /// The client asked.
    Client,
    /// The connection dropped and the grace period ran out.
    Grace,
    /// The runtime is shutting down.
    Shutdown,
}

/// Who asked for an action.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CallSource {
    /// The browser client.
    #[default]
    Client,
    /// The DevTools dispatch command.
    Debug,
    /// The replay engine.
    Replay,
    /// A broadcast event the instance subscribed to.
    Event,
    /// A change of an instance this one depends on.
    Dependency,
    /// A server-side debounce timer.
    Timer,
}

/// One action.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ActionRecord {
    /// Action name.
    pub method: String,
    /// Arguments, redacted and size-capped.
    pub args: Value,
    /// True when `args` was cut to the size cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    /// Duration in microseconds (the record's `ts_us` is the start).
    pub dur_us: u64,
    /// Result or error.
    pub outcome: Outcome,
    /// State version before the action.
    pub version_before: u64,
    /// State version after the action (equal when nothing changed).
    pub version_after: u64,
    /// Trace context, when the client sent a `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
    /// Who called it.
    #[serde(default)]
    pub source: CallSource,
}

/// How an action ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Returned normally.
    Ok {
        /// Return value, redacted and size-capped.
        result: Value,
    },
    /// Failed.
    Err {
        /// Stable error code.
        code: ErrorCode,
        /// Message naming component, method and cause.
        message: String,
    },
}

/// W3C trace context of an action: the server span and its client parent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// The server action span, 16 lowercase hex digits.
    pub span_id: String,
    /// The client span that made the call, 16 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// Trace flags (bit 0: sampled).
    #[serde(default)]
    pub flags: u8,
}

impl TraceContext {
    /// Parses a W3C `traceparent` header value (`00-<trace>-<span>-<flags>`)
    /// into the client side of a context; `span_id` is left for the server to fill.
    pub fn parse_traceparent(s: &str) -> Option<(String, String, u8)> {
        let mut parts = s.trim().split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let hex = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(version, 2)
            || version == "ff"
            || !hex(trace, 32)
            || !hex(span, 16)
            || !hex(flags, 2)
        {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        if trace.bytes().all(|b| b == b'0') || span.bytes().all(|b| b == b'0') {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some((trace.to_owned(), span.to_owned(), flags))
    }

    /// The `traceparent` that names this context's server span.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }
}

/// One state change.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DiffRecord {
    /// Version the patch applies to.
    pub base: u64,
    /// Version after the patch.
    pub version: u64,
    /// RFC 6902 operations (redacted).
    pub ops: Patch,
    /// Size of the encoded patch frame in bytes.
    pub bytes: u32,
    /// Microseconds spent serializing the state and diffing (and signing
    /// the new state, when the server signs states).
    pub diff_us: u64,
    /// Microseconds spent encoding the patch frame.
    pub encode_us: u64,
    /// Trace context of the action that caused it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// One render measured by the browser client.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RenderRecord {
    /// Version rendered.
    pub version: u64,
    /// Frame receipt to patch applied, microseconds.
    pub apply_us: u64,
    /// Time in the page's render callbacks, microseconds.
    pub render_us: u64,
    /// Frame receipt to next animation frame, microseconds.
    pub frame_us: u64,
    /// Wall-clock time of frame receipt, microseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_unix_us: Option<u64>,
    /// `traceparent` of the server action span that caused the patch (the
    /// patch frame's `trace`, echoed by the client), so the render span is
    /// a child of the action span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// A client call span, reported by the browser client.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ClientSpanRecord {
    /// Action name.
    pub method: String,
    /// The call's `traceparent` (trace id and client span id).
    pub trace: String,
    /// Call start, microseconds since the Unix epoch.
    pub start_unix_us: u64,
    /// Call duration, microseconds.
    pub dur_us: u64,
    /// Error code when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where records were lost.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DropSite {
    /// A per-thread ring buffer was full when the hot path pushed.
    Ring,
    /// A debug subscriber read too slowly.
    Subscriber,
    /// The OpenTelemetry exporter's queue was full or the collector refused.
    Exporter,
    /// The browser client's render-report queue overflowed.
    Client,
}
