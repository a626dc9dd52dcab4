//! Debug channel frames (`/__live/debug`): DevTools panel ⇄ runtime.
//!
//! The panel sends [`PanelCommand`]s, each with a `ref` the answer echoes;
//! the runtime sends [`HubFrame`]s: the first is always [`HubFrame::Hello`],
//! then answers and batched [`HubFrame::Records`].

use crate::error::ErrorCode;
use crate::record::{Record, RecordBody, RecordKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A command from the panel.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum PanelCommand {
    /// Stream records: backfill from `from_seq` (oldest held when absent or
    /// older), then live. Replaces any earlier subscription on this socket.
    Subscribe {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// First sequence number wanted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seq: Option<u64>,
        /// Which records to send.
        #[serde(default)]
        filter: Filter,
    },
    /// Every live instance with its state.
    Snapshot {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
    },
    /// State of an instance at a recorded version (newest when absent).
    StateAt {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance number.
        iid: u64,
        /// Version wanted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
    },
    /// Outline an instance's element in the page (`on: false` clears it).
    Highlight {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance number.
        iid: u64,
        /// Draw or clear.
        on: bool,
    },
    /// Start or stop element-picker mode in every connected page.
    Picker {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Start or stop.
        on: bool,
    },
    /// Set a live instance back to a recorded version.
    TimeTravel {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance number.
        iid: u64,
        /// Recorded version to restore.
        version: u64,
    },
    /// Leave time travel: restore the newest state recorded before it began.
    BackToLive {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance number.
        iid: u64,
    },
    /// Call an action as if the owning client had.
    Dispatch {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance number.
        iid: u64,
        /// Action name.
        method: String,
        /// Positional arguments.
        #[serde(default)]
        args: Vec<Value>,
    },
    /// Stop recording (the app keeps running).
    Pause {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
    },
    /// Start recording again.
    Resume {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
    },
    /// Forget the recorded history.
    Clear {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
    },
    /// Send the recorded history as a session file, in chunks.
    Export {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Output format: absent or `"jsonl"` for a session file; another
        /// name the runtime announced in `hello.capabilities` as
        /// `export:<name>` (e.g. `export:otlp-json`, an OTLP/JSON trace body).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
    },
    /// Re-run a session file on fresh instances and compare every diff.
    ///
    /// A session larger than one frame goes in parts: every frame but the
    /// last carries `more: true` and the same `ref`; the runtime joins them
    /// and replays when the last arrives.
    Replay {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// The session file's text (JSON Lines), or the next part of it.
        session: String,
        /// More parts of this session follow.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
}

impl PanelCommand {
    /// The request reference of any command.
    pub fn req(&self) -> u32 {
        match self {
            Self::Subscribe { req, .. }
            | Self::Snapshot { req }
            | Self::StateAt { req, .. }
            | Self::Highlight { req, .. }
            | Self::Picker { req, .. }
            | Self::TimeTravel { req, .. }
            | Self::BackToLive { req, .. }
            | Self::Dispatch { req, .. }
            | Self::Pause { req }
            | Self::Resume { req }
            | Self::Clear { req }
            | Self::Export { req, .. }
            | Self::Replay { req, .. } => *req,
        }
    }
}

/// Subscriber-side record filter. Empty lists match everything.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(default)]
pub struct Filter {
    /// Instance numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<u64>,
    /// Component types.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Action names (matches action records only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Record kinds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<RecordKind>,
    /// Only failures (error outcomes, panics, drops).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub errors_only: bool,
}

impl Filter {
    /// True when `record` passes. `Dropped` records always pass, so a
    /// filtered stream can still explain its sequence gaps.
    pub fn matches(&self, record: &Record) -> bool {
        if matches!(record.body, RecordBody::Dropped { .. }) {
            return true;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&record.body.kind()) {
            return false;
        }
        if self.errors_only && !record.body.is_error() {
            return false;
        }
        if !self.instances.is_empty() || !self.types.is_empty() {
            let Some(inst) = &record.instance else {
                return false;
            };
            if !self.instances.is_empty() && !self.instances.contains(&inst.iid) {
                return false;
            }
            if !self.types.is_empty() && !self.types.iter().any(|t| t == &inst.component) {
                return false;
            }
        }
        if !self.methods.is_empty() {
            match &record.body {
                RecordBody::Action(a) => {
                    if !self.methods.iter().any(|m| m == &a.method) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        true
    }
}

/// A frame from the runtime to the panel.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum HubFrame {
    /// First frame on every debug socket.
    Hello(Hello),
    /// A batch of records, in sequence order.
    Records {
        /// The records.
        records: Vec<Record>,
    },
    /// Answer to `snapshot`.
    Snapshot(SnapshotFrame),
    /// Answer to `state_at`.
    State {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Instance number.
        iid: u64,
        /// Version of `state`.
        version: u64,
        /// Client-visible state (redacted).
        state: Value,
    },
    /// A command succeeded with nothing more to say.
    Ack {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
    },
    /// Answer to `dispatch`.
    DispatchResult {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// The action's return value.
        result: Value,
    },
    /// A command failed.
    Error {
        /// Request reference, when the error answers a command.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        req: Option<u32>,
        /// Stable error code.
        code: ErrorCode,
        /// What was wrong.
        message: String,
    },
    /// The user picked an instance in a page (picker mode).
    Picked {
        /// Instance number, `None` when picking was cancelled.
        iid: Option<u64>,
    },
    /// A piece of an exported session file.
    ExportChunk {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// JSON Lines text.
        data: String,
        /// True on the final chunk.
        last: bool,
    },
    /// Answer to `replay`.
    Replay {
        /// Request reference.
        #[serde(rename = "ref")]
        req: u32,
        /// Outcome.
        report: ReplayReport,
    },
    /// Recording state changed.
    Status {
        /// Whether records are being recorded.
        recording: bool,
        /// Records dropped so far, all sites.
        dropped: u64,
    },
}

/// The `hello` frame.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hello {
    /// Debug protocol version.
    pub protocol: u32,
    /// App protocol version.
    pub app_protocol: u32,
    /// Runtime crate version.
    pub runtime: String,
    /// Optional features this runtime offers (`time_travel`, `replay`, `otel`…).
    pub capabilities: Vec<String>,
    /// What the flight recorder holds.
    pub history: HistoryBounds,
    /// Whether recording is on.
    pub recording: bool,
    /// Wall-clock time the runtime started, microseconds since the Unix epoch.
    pub started_unix_us: u64,
    /// Registered component types with their actions.
    pub components: Vec<ComponentInfo>,
}

/// A registered component type.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Type name.
    pub name: String,
    /// Callable actions.
    pub actions: Vec<String>,
}

/// Bounds of the flight recorder.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBounds {
    /// Records held at steady state (eviction runs in batches: for a
    /// moment the history may hold up to 1/32 more).
    pub capacity: usize,
    /// Oldest sequence number held (0 when empty).
    pub oldest_seq: u64,
    /// Sequence number the next record will get.
    pub next_seq: u64,
}

/// Answer to `snapshot`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SnapshotFrame {
    /// Request reference.
    #[serde(rename = "ref")]
    pub req: u32,
    /// Every live instance.
    pub instances: Vec<InstanceInfo>,
    /// Live connections.
    pub connections: usize,
    /// Instances mounted since start.
    pub total_mounted: u64,
}

/// One live instance.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    /// Instance number.
    pub iid: u64,
    /// Client-visible id.
    pub id: String,
    /// Component type.
    #[serde(rename = "type")]
    pub component: String,
    /// Owning connection (session) id.
    pub conn: u64,
    /// Current version.
    pub version: u64,
    /// Current client-visible state (redacted).
    pub state: Value,
    /// Props it was mounted with (redacted).
    pub props: Value,
    /// True while time travel holds it at a past version.
    #[serde(default)]
    pub travelling: bool,
}

/// Outcome of a replay.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// Instances rebuilt.
    pub instances: usize,
    /// Actions re-run.
    pub actions: usize,
    /// The first divergence, `None` when every diff matched.
    pub divergence: Option<Divergence>,
}

/// Where a replay stopped matching the recording.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Divergence {
    /// Sequence number of the recorded record that did not match.
    pub seq: u64,
    /// Instance concerned.
    pub instance: String,
    /// Action being replayed.
    pub method: String,
    /// What the recording says.
    pub expected: Value,
    /// What the replay produced.
    pub got: Value,
    /// In words.
    pub message: String,
}
