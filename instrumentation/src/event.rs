//! What the runtime hands to [`Recorder::record`](crate::Recorder::record).
//!
//! Events are compact and owned: the hot path moves payloads in and never
//! formats, clones or redacts. The history keeps them as they are and turns
//! each into a [`Record`](fluxlive_protocol::record::Record) only when it is
//! read, off the hot path.

use crate::clock::Instant;
use fluxlive_protocol::app::{ClientSpanReport, RenderReport};
use fluxlive_protocol::record::{CallSource, TraceContext, UnmountReason};
use fluxlive_protocol::ErrorCode;
use serde_json::Value;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Static description of a component type, emitted by the `#[live]` macro as
/// a `static` item so that events carry a pointer instead of strings.
#[derive(Debug)]
pub struct TypeMeta {
    /// Component type name.
    pub name: &'static str,
    /// Top-level state/props fields shown as `"[redacted]"` everywhere.
    pub redacted_fields: &'static [&'static str],
    /// Callable actions.
    pub actions: &'static [ActionMeta],
}

impl TypeMeta {
    /// A type with no redacted fields and no actions (for tests and tools).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            redacted_fields: &[],
            actions: &[],
        }
    }

    /// The action named `name`.
    pub fn action(&self, name: &str) -> Option<&ActionMeta> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// True when the top-level field `field` is redacted.
    pub fn is_redacted(&self, field: &str) -> bool {
        self.redacted_fields.contains(&field)
    }
}

/// Static description of one action.
#[derive(Debug)]
pub struct ActionMeta {
    /// Action name.
    pub name: &'static str,
    /// Parameter names, in call order.
    pub params: &'static [&'static str],
    /// Parameters whose values are shown as `"[redacted]"`.
    pub redacted_params: &'static [&'static str],
}

/// Names the instance an event is about.
#[derive(Clone, Debug)]
pub struct InstanceKey {
    /// Global instance number.
    pub iid: u64,
    /// Client-visible id (unique within its connection).
    pub id: Arc<str>,
    /// The component type.
    pub meta: &'static TypeMeta,
}

/// A state change carried inside an [`EventBody::Action`]; it reads back as
/// its own `diff` record. Same fields as [`EventBody::Diff`], plus the
/// instant it was published (the action's trace context is shared).
#[derive(Debug)]
pub struct DiffPart {
    /// Version the patch applies to.
    pub base: u64,
    /// Version after the patch.
    pub version: u64,
    /// RFC 6902 operations.
    pub ops: json_patch::Patch,
    /// Encoded patch frame size.
    pub bytes: u32,
    /// Time spent serializing, diffing (and signing, when states are signed).
    pub diff: Duration,
    /// Time spent encoding the frame.
    pub encode: Duration,
    /// When the patch was published (the diff record's timestamp).
    pub at: Instant,
}

impl DiffPart {
    /// The same change as a `Diff` event of its own (a step that was not a
    /// call), carrying `trace`; stamp it with [`at`](Self::at).
    pub fn into_body(self, trace: Option<Arc<TraceContext>>) -> EventBody {
        EventBody::Diff {
            base: self.base,
            version: self.version,
            ops: self.ops,
            bytes: self.bytes,
            diff: self.diff,
            encode: self.encode,
            trace,
        }
    }
}

/// One thing that happened, as pushed by the runtime.
#[derive(Debug)]
pub struct Event {
    /// Connection (session) id; 0 when none.
    pub conn: u64,
    /// The instance concerned, if any.
    pub instance: Option<InstanceKey>,
    /// What happened.
    pub body: EventBody,
}

/// The payload of an [`Event`]. Each variant maps to one
/// [`RecordBody`](fluxlive_protocol::record::RecordBody) variant.
#[derive(Debug)]
pub enum EventBody {
    /// A WebSocket connection opened.
    ConnOpen {
        /// Peer address.
        peer: Option<SocketAddr>,
    },
    /// A WebSocket connection closed.
    ConnClose {
        /// Why.
        reason: &'static str,
    },
    /// An instance was mounted. `state` must be the full client-visible state.
    Mount {
        /// Props it was mounted with.
        props: Value,
        /// Version after mount.
        version: u64,
        /// Client-visible state after mount.
        state: Value,
    },
    /// An instance was freed.
    Unmount {
        /// Why.
        reason: UnmountReason,
        /// Last version.
        version: u64,
    },
    /// A session was reattached after a reconnect.
    Resume {
        /// Instance version at resume.
        version: u64,
    },
    /// An action ran. The record's timestamp is `started`.
    Action {
        /// Action name.
        method: Cow<'static, str>,
        /// Positional arguments.
        args: Vec<Value>,
        /// When the action started.
        started: Instant,
        /// How long it ran.
        dur: Duration,
        /// Return value, or error code and message.
        outcome: Result<Value, (ErrorCode, String)>,
        /// Version before.
        version_before: u64,
        /// Version after (equal when nothing changed).
        version_after: u64,
        /// Trace context.
        trace: Option<Arc<TraceContext>>,
        /// Who called.
        source: CallSource,
        /// The state change the action made, recorded as a `diff` record
        /// just before the action's own record. Carrying it here saves the
        /// hot path a second push (and a clock read) per action.
        diff: Option<DiffPart>,
        /// Events the action emitted, in order, recorded as `emit` records
        /// between the diff and the action (stamped with the action's end).
        emits: Vec<(Cow<'static, str>, Value)>,
    },
    /// State changed from `base` to `version` by `ops`.
    Diff {
        /// Version the patch applies to.
        base: u64,
        /// Version after the patch.
        version: u64,
        /// RFC 6902 operations.
        ops: json_patch::Patch,
        /// Encoded patch frame size.
        bytes: u32,
        /// Time spent serializing, diffing (and signing, when states are signed).
        diff: Duration,
        /// Time spent encoding the frame.
        encode: Duration,
        /// Trace context of the action that caused it.
        trace: Option<Arc<TraceContext>>,
    },
    /// The browser reported a render.
    Render(RenderReport),
    /// The browser reported a client call span.
    ClientSpan(ClientSpanReport),
    /// An action emitted an event.
    Emit {
        /// Event name.
        name: Cow<'static, str>,
        /// Payload.
        data: Value,
    },
    /// A component method panicked (state rolled back).
    Panic {
        /// Method or hook.
        method: Cow<'static, str>,
        /// Panic message.
        message: String,
    },
    /// DevTools restored the state of version `target` as new version `version`.
    TimeTravel {
        /// Restored version.
        target: u64,
        /// New version.
        version: u64,
    },
    /// Full state at a version. Record one when the recorder may have missed
    /// diffs (e.g. after recording was resumed), so that later versions can
    /// be rebuilt; the collector also writes these itself after time travel.
    Snapshot {
        /// Version of `state`.
        version: u64,
        /// Client-visible state.
        state: Value,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_size_stays_compact() {
        // Every ring slot holds one event: keep it small.
        let size = std::mem::size_of::<super::Event>();
        assert!(size <= 320, "Event is {size} bytes");
    }
}
