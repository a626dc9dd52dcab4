//! The panel's state: a [`Model`] driven by incoming [`HubFrame`]s and UI
//! [`Action`]s, wrapped in a Yew [`Reducible`] ([`Store`]).
//!
//! The model holds up to millions of rows, so the reducible does not clone
//! it: it shares one `Rc<RefCell<Model>>` and bumps a generation number to
//! make Yew re-render. Everything the model wants done outside itself
//! (commands to send, files to download) is queued as [`Effect`]s that the
//! app drains after each render, which keeps this module free of browser APIs
//! and testable on the host.

use crate::filter::{matching, Compiled, TimelineFilter};
use crate::instances::Instances;
use crate::log::{Log, NONE};
use fluxlive_protocol::debug::{Filter, Hello, HubFrame, PanelCommand, ReplayReport};
use fluxlive_protocol::record::{Record, RecordKind};
use fluxlive_protocol::session::{text_parts, Session, SessionHeader};
use fluxlive_protocol::DEBUG_PROTOCOL_VERSION;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use yew::Reducible;

/// State of the debug socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnStatus {
    /// Nothing to connect to yet.
    Idle,
    /// Waiting for the extension's host page to say where the runtime is.
    WaitingForHost,
    /// Opening the socket.
    Connecting,
    /// Open and greeted.
    Connected,
    /// Lost; trying again after `delay_ms`.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Wait before the next one.
        delay_ms: u32,
    },
    /// Closed for good (in words, why).
    Closed(String),
    /// The inspected page has no fluxlive runtime.
    NoRuntime,
    /// The inspected page's runtime has its debug channel off.
    ChannelOff,
}

/// Where the records on screen come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The connected runtime.
    Live,
    /// A session file.
    Imported {
        /// File name.
        name: String,
        /// Its header.
        header: SessionHeader,
    },
}

/// Something the model wants done outside itself.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a command on the debug socket.
    Send(PanelCommand),
    /// Close the debug socket for good, with why.
    Disconnect(String),
    /// Offer a file for download.
    Download {
        /// Suggested file name.
        name: String,
        /// Its text.
        text: Rc<str>,
    },
}

/// The answer to a dispatch, once it came.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchState {
    /// Request reference.
    pub req: u32,
    /// Instance called.
    pub iid: u64,
    /// Action called.
    pub method: String,
    /// `None` while waiting.
    pub result: Option<Result<Value, String>>,
}

/// The state of an instance at a chosen version.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// Instance.
    pub iid: u64,
    /// Version shown.
    pub version: u64,
    /// The state, `None` while asked of the server.
    pub state: Option<Result<Value, String>>,
}

/// The export format name a runtime announces as `export:otlp-json`.
pub const OTLP_FORMAT: &str = "otlp-json";

/// Text per `replay` part: JSON escaping at most doubles a session file
/// (it holds no raw control characters but newlines), so a part stays
/// under the runtime's default 1 MiB command limit.
const REPLAY_PART_BYTES: usize = 256 << 10;

#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Dispatch,
    Export,
    Replay,
    StateAt,
    Travel(u64),
    BackToLive(u64),
    Snapshot,
    Other,
}

/// A UI action or a bridge event.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The socket changed state.
    Status(ConnStatus),
    /// A frame arrived.
    Frame(Box<HubFrame>),
    /// A frame could not be read.
    BadFrame(String),
    /// Something outside the model failed (a send, a download): show it.
    Failed(String),
    /// Select an instance (or none).
    Select(Option<u64>),
    /// Pointer entered or left an instance in the tree.
    Hover(u64, bool),
    /// Start or stop the element picker.
    Picker(bool),
    /// Stop recording.
    Pause,
    /// Start recording again.
    Resume,
    /// Forget every record (here and on the server).
    Clear,
    /// Change the timeline filter.
    SetFilter(TimelineFilter),
    /// Open one timeline record (by sequence number).
    SelectRecord(Option<u64>),
    /// Show an instance's state at a version.
    Preview(u64, u64),
    /// Set an instance back to a version.
    TimeTravel(u64, u64),
    /// Leave time travel.
    BackToLive(u64),
    /// Stop previewing a past version (offline "back to live").
    EndPreview,
    /// Call an action by hand.
    Dispatch {
        /// Instance.
        iid: u64,
        /// Action.
        method: String,
        /// Positional arguments.
        args: Vec<Value>,
    },
    /// Ask the server for the session file.
    Export,
    /// Ask the server for the recording as an OpenTelemetry trace
    /// (OTLP/JSON, `export` with `format: "otlp-json"`).
    ExportOtlp,
    /// Load a session file.
    Import {
        /// File name.
        name: String,
        /// Its text.
        text: Rc<str>,
    },
    /// Leave an imported session and show the live runtime again.
    ReturnToLive,
    /// Re-run the loaded session on the server.
    Replay,
    /// Ask for a fresh snapshot of every instance.
    Refresh,
    /// Records made in the panel (benchmark mode).
    Synthetic(Rc<Vec<Record>>),
    /// Dismiss the error banner.
    DismissError,
}

/// Everything the panel knows.
#[derive(Debug)]
pub struct Model {
    /// Every record held.
    pub log: Log,
    /// Every instance heard of.
    pub instances: Instances,
    /// Timeline filter.
    pub filter: TimelineFilter,
    compiled: Option<Compiled>,
    /// Log indices passing the filter.
    pub filtered: Vec<u32>,
    /// Debug socket state.
    pub status: ConnStatus,
    /// The runtime's greeting.
    pub hello: Option<Hello>,
    /// Whether the runtime records.
    pub recording: bool,
    /// Records the runtime says it dropped.
    pub dropped: u64,
    /// Records the drop records in the log account for.
    pub dropped_in_log: u64,
    /// Live connections (from the last snapshot).
    pub connections: usize,
    /// Live or imported.
    pub source: Source,
    /// Selected instance.
    pub selected: Option<u64>,
    hovered: Option<u64>,
    /// Opened timeline record.
    pub selected_seq: Option<u64>,
    /// Picker mode on.
    pub picking: bool,
    /// The last dispatch.
    pub dispatch: Option<DispatchState>,
    /// Export in progress: request, text so far, and whether it is OTLP/JSON.
    export_buf: Option<(u32, String, bool)>,
    /// The last imported or exported session text.
    pub session_text: Option<Rc<str>>,
    /// Replay: `None` never run, `Some(None)` running.
    pub replay: Option<Option<Result<ReplayReport, String>>>,
    /// Time-travel preview.
    pub preview: Option<Preview>,
    /// Last error, for the banner.
    pub last_error: Option<String>,
    /// Live records ignored while an imported session is shown.
    pub ignored_live: u64,
    next_ref: u32,
    pending: HashMap<u32, (Pending, u64)>,
    effects: Vec<Effect>,
    snapshot_pending: bool,
    snapshot_again: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            log: Log::default(),
            instances: Instances::default(),
            filter: TimelineFilter::default(),
            compiled: None,
            filtered: Vec::new(),
            status: ConnStatus::Idle,
            hello: None,
            recording: true,
            dropped: 0,
            dropped_in_log: 0,
            connections: 0,
            source: Source::Live,
            selected: None,
            hovered: None,
            selected_seq: None,
            picking: false,
            dispatch: None,
            export_buf: None,
            session_text: None,
            replay: None,
            preview: None,
            last_error: None,
            ignored_live: 0,
            next_ref: 1,
            pending: HashMap::new(),
            effects: Vec::new(),
            snapshot_pending: false,
            snapshot_again: false,
        }
    }
}

impl Model {
    /// Where the record `seq` sits in the filtered list.
    pub fn filtered_position(&self, seq: u64) -> Option<usize> {
        // Filtered rows keep log order, which is sequence order.
        self.filtered
            .binary_search_by_key(&seq, |&i| self.log.row(i).map_or(0, |r| r.seq))
            .ok()
    }

    /// True when the runtime can export its recording as OTLP/JSON.
    pub fn can_export_otlp(&self) -> bool {
        self.hello.as_ref().is_some_and(|h| {
            h.capabilities
                .iter()
                .any(|c| c.strip_prefix("export:") == Some(OTLP_FORMAT))
        })
    }

    /// Bytes received so far of an export in progress.
    pub fn exporting(&self) -> Option<usize> {
        self.export_buf.as_ref().map(|(_, b, _)| b.len())
    }

    /// Takes the queued effects.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// True when commands can be sent.
    pub fn connected(&self) -> bool {
        self.status == ConnStatus::Connected
    }

    /// True when showing live data from a connected runtime.
    pub fn live(&self) -> bool {
        self.connected() && self.source == Source::Live
    }

    /// Actions callable on `component`, from the hello frame.
    pub fn actions_of(&self, component: &str) -> Vec<String> {
        self.hello
            .as_ref()
            .and_then(|h| h.components.iter().find(|c| c.name == component))
            .map(|c| c.actions.clone())
            .unwrap_or_default()
    }

    fn send(
        &mut self,
        pending: Pending,
        arg: u64,
        make: impl FnOnce(u32) -> PanelCommand,
    ) -> Option<u32> {
        if !self.connected() {
            self.last_error = Some("not connected to a runtime".into());
            return None;
        }
        let req = self.next_ref;
        self.next_ref = self.next_ref.wrapping_add(1).max(1);
        self.pending.insert(req, (pending, arg));
        self.effects.push(Effect::Send(make(req)));
        Some(req)
    }

    fn request_snapshot(&mut self) {
        if self.snapshot_pending {
            // The answer in flight may predate what prompted this request.
            self.snapshot_again = true;
        } else if self.connected() {
            self.snapshot_pending = true;
            self.send(Pending::Snapshot, 0, |req| PanelCommand::Snapshot { req });
        }
    }

    fn subscribe(&mut self) {
        let from_seq = self.log.last_seq().map(|s| s + 1);
        self.send(Pending::Other, 0, |req| PanelCommand::Subscribe {
            req,
            from_seq,
            filter: Filter::default(),
        });
        self.snapshot_pending = false;
        self.snapshot_again = false;
        self.request_snapshot();
    }

    fn reset_records(&mut self) {
        self.log = Log::default();
        self.instances = Instances::default();
        self.filtered.clear();
        self.compiled = None;
        self.selected_seq = None;
        self.preview = None;
        self.dropped_in_log = 0;
    }

    /// Appends records, keeping instances, drops and the filtered view current.
    pub fn ingest(&mut self, records: &[Record]) {
        let from = self.log.len();
        for r in records {
            if self.log.last_seq().is_some_and(|last| r.seq <= last) {
                continue; // already held (backfill overlapping a reconnect)
            }
            let inst = match &r.instance {
                Some(i) => self.instances.index_for(i, r.conn),
                None => NONE,
            };
            let row = self.log.push(r, inst);
            if inst != NONE {
                self.instances.apply(inst, row, &r.body);
            }
            match &r.body {
                fluxlive_protocol::record::RecordBody::Dropped { count, .. } => {
                    self.dropped_in_log += count;
                }
                fluxlive_protocol::record::RecordBody::Recording { on } => self.recording = *on,
                _ => {}
            }
        }
        // Names first seen in this batch may satisfy a filter that matched
        // nothing before, so recompile every batch (cheap: a few lookups).
        let compiled = Compiled::new(&self.filter, &self.log, &self.instances);
        let start = if self.compiled.is_some() { from } else { 0 };
        if start == 0 {
            self.filtered.clear();
        }
        let more = matching(&self.log, &self.instances, &compiled, start);
        self.filtered.extend(more);
        self.compiled = Some(compiled);
    }

    fn refilter(&mut self) {
        let compiled = Compiled::new(&self.filter, &self.log, &self.instances);
        self.filtered = matching(&self.log, &self.instances, &compiled, 0);
        self.compiled = Some(compiled);
    }

    fn highlight(&mut self, iid: u64, on: bool) {
        if self.live() {
            self.send(Pending::Other, 0, |req| PanelCommand::Highlight {
                req,
                iid,
                on,
            });
        }
    }

    fn select(&mut self, iid: Option<u64>) {
        if self.selected == iid {
            return;
        }
        if let Some(prev) = self.selected {
            self.highlight(prev, false);
        }
        self.selected = iid;
        self.preview = None;
        if let Some(iid) = iid {
            self.highlight(iid, true);
        }
    }

    fn on_frame(&mut self, frame: HubFrame) {
        match frame {
            HubFrame::Hello(hello) if hello.protocol != DEBUG_PROTOCOL_VERSION => {
                let why = format!(
                    "the runtime ({}) speaks debug protocol v{}; this panel speaks v{DEBUG_PROTOCOL_VERSION}",
                    hello.runtime, hello.protocol
                );
                self.effects.push(Effect::Disconnect(why));
            }
            HubFrame::Hello(hello) => {
                let restarted = self
                    .hello
                    .as_ref()
                    .is_some_and(|h| h.started_unix_us != hello.started_unix_us);
                if restarted && self.source == Source::Live {
                    self.reset_records();
                }
                self.recording = hello.recording;
                self.hello = Some(hello);
                self.status = ConnStatus::Connected;
                self.pending.clear();
                if self.source == Source::Live {
                    self.subscribe();
                }
            }
            HubFrame::Records { records } => {
                if self.source == Source::Live {
                    self.ingest(&records);
                    if self.instances.any_stale() {
                        self.request_snapshot();
                    }
                } else {
                    self.ignored_live += records.len() as u64;
                }
            }
            HubFrame::Snapshot(snap) => {
                self.pending.remove(&snap.req);
                self.snapshot_pending = false;
                if self.source == Source::Live {
                    self.instances.apply_snapshot(&snap);
                    self.connections = snap.connections;
                }
                if std::mem::take(&mut self.snapshot_again) {
                    self.request_snapshot();
                }
            }
            HubFrame::State {
                req,
                iid,
                version,
                state,
            } => {
                self.pending.remove(&req);
                if let Some(p) = self.preview.as_mut() {
                    if p.iid == iid && p.version == version {
                        p.state = Some(Ok(state));
                    }
                }
            }
            HubFrame::Ack { req } => match self.pending.remove(&req) {
                Some((Pending::Travel(iid), _)) => {
                    if let Some(i) = self.instances.by_iid_mut(iid) {
                        i.travelling = true;
                    }
                    self.request_snapshot();
                }
                Some((Pending::BackToLive(iid), _)) => {
                    if let Some(i) = self.instances.by_iid_mut(iid) {
                        i.travelling = false;
                    }
                    self.preview = None;
                    self.request_snapshot();
                }
                _ => {}
            },
            HubFrame::DispatchResult { req, result } => {
                self.pending.remove(&req);
                if let Some(d) = self.dispatch.as_mut().filter(|d| d.req == req) {
                    d.result = Some(Ok(result));
                }
            }
            HubFrame::Error { req, code, message } => {
                let text = format!("{code}: {message}");
                let pending = req.and_then(|r| self.pending.remove(&r));
                match pending.map(|p| p.0) {
                    Some(Pending::Dispatch) => {
                        if let Some(d) = self.dispatch.as_mut().filter(|d| Some(d.req) == req) {
                            d.result = Some(Err(text));
                        }
                    }
                    Some(Pending::Replay) => self.replay = Some(Some(Err(text))),
                    Some(Pending::StateAt) => {
                        if let Some(p) = self.preview.as_mut() {
                            p.state = Some(Err(text));
                        }
                    }
                    Some(Pending::Export) => {
                        self.export_buf = None;
                        self.last_error = Some(format!("export failed: {text}"));
                    }
                    Some(Pending::Snapshot) => {
                        self.snapshot_pending = false;
                        self.last_error = Some(text);
                    }
                    _ => self.last_error = Some(text),
                }
            }
            HubFrame::Picked { iid } => {
                self.picking = false;
                if iid.is_some() {
                    self.select(iid);
                }
            }
            HubFrame::ExportChunk { req, data, last } => {
                let Some((buf_req, buf, _)) = self.export_buf.as_mut() else {
                    return;
                };
                if *buf_req != req {
                    return;
                }
                buf.push_str(&data);
                if last {
                    self.pending.remove(&req);
                    if let Some((_, text, otlp)) = self.export_buf.take() {
                        let text: Rc<str> = text.into();
                        let stamp = self
                            .hello
                            .as_ref()
                            .map_or(0, |h| h.started_unix_us / 1_000_000);
                        let name = if otlp {
                            format!("fluxlive-trace-{stamp}.otlp.json")
                        } else {
                            format!("fluxlive-session-{stamp}.jsonl")
                        };
                        self.effects.push(Effect::Download {
                            name,
                            text: Rc::clone(&text),
                        });
                        // An OTLP body is not a session the panel can browse.
                        if !otlp {
                            self.session_text = Some(text);
                        }
                    }
                }
            }
            HubFrame::Replay { req, report } => {
                self.pending.remove(&req);
                self.replay = Some(Some(Ok(report)));
            }
            HubFrame::Status { recording, dropped } => {
                self.recording = recording;
                self.dropped = dropped;
            }
        }
    }

    /// Applies one action.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Status(s) => {
                if s != ConnStatus::Connected {
                    self.picking = false;
                    self.pending.clear();
                    self.snapshot_pending = false;
                    self.snapshot_again = false;
                    self.export_buf = None;
                }
                // "Connected" is only true once the hello arrives.
                if s == ConnStatus::Connected && self.status != ConnStatus::Connected {
                    self.status = ConnStatus::Connecting;
                } else {
                    self.status = s;
                }
            }
            Action::Frame(f) => self.on_frame(*f),
            Action::BadFrame(e) => self.last_error = Some(format!("unreadable frame: {e}")),
            Action::Failed(e) => self.last_error = Some(e),
            Action::Select(iid) => self.select(iid),
            Action::Hover(iid, on) => {
                // The selected instance keeps its outline while hovered over.
                if self.selected == Some(iid) {
                    return;
                }
                if on {
                    if let Some(prev) = self.hovered.take().filter(|p| *p != iid) {
                        self.highlight(prev, false);
                    }
                    self.hovered = Some(iid);
                } else {
                    self.hovered = None;
                }
                self.highlight(iid, on);
            }
            Action::Picker(on) => {
                if self
                    .send(Pending::Other, 0, |req| PanelCommand::Picker { req, on })
                    .is_some()
                {
                    self.picking = on;
                }
            }
            Action::Pause => {
                if self
                    .send(Pending::Other, 0, |req| PanelCommand::Pause { req })
                    .is_some()
                {
                    self.recording = false;
                }
            }
            Action::Resume => {
                if self
                    .send(Pending::Other, 0, |req| PanelCommand::Resume { req })
                    .is_some()
                {
                    self.recording = true;
                }
            }
            Action::Clear => {
                if self.live() {
                    self.send(Pending::Other, 0, |req| PanelCommand::Clear { req });
                }
                self.reset_records();
                // Instances still live on the server come back from a snapshot.
                if self.live() {
                    self.request_snapshot();
                }
            }
            Action::SetFilter(f) => {
                self.filter = f;
                self.refilter();
            }
            Action::SelectRecord(seq) => self.selected_seq = seq,
            Action::EndPreview => self.preview = None,
            Action::Preview(iid, version) => self.preview_at(iid, version),
            Action::TimeTravel(iid, version) => {
                self.preview_at(iid, version);
                self.send(Pending::Travel(iid), iid, |req| PanelCommand::TimeTravel {
                    req,
                    iid,
                    version,
                });
            }
            Action::BackToLive(iid) => {
                self.send(Pending::BackToLive(iid), iid, |req| {
                    PanelCommand::BackToLive { req, iid }
                });
            }
            Action::Dispatch { iid, method, args } => {
                let m = method.clone();
                if let Some(req) = self.send(Pending::Dispatch, iid, |req| PanelCommand::Dispatch {
                    req,
                    iid,
                    method: m,
                    args,
                }) {
                    self.dispatch = Some(DispatchState {
                        req,
                        iid,
                        method,
                        result: None,
                    });
                }
            }
            a @ (Action::Export | Action::ExportOtlp) => {
                let otlp = a == Action::ExportOtlp;
                let format = otlp.then(|| OTLP_FORMAT.to_owned());
                if let Some(req) = self.send(Pending::Export, 0, |req| PanelCommand::Export {
                    req,
                    format,
                }) {
                    self.export_buf = Some((req, String::new(), otlp));
                }
            }
            Action::Import { name, text } => self.import(name, text),
            Action::ReturnToLive => {
                self.source = Source::Live;
                self.reset_records();
                self.ignored_live = 0;
                if self.connected() {
                    self.subscribe();
                }
            }
            Action::Replay => {
                let Some(session) = self.session_text.clone() else {
                    self.last_error = Some("no session loaded: import or export one first".into());
                    return;
                };
                let mut parts = text_parts(&session, REPLAY_PART_BYTES).into_iter();
                let first = parts.next().unwrap_or_default();
                let more = parts.len() > 0;
                let Some(req) = self.send(Pending::Replay, 0, |req| PanelCommand::Replay {
                    req,
                    session: first.to_owned(),
                    more,
                }) else {
                    return;
                };
                while let Some(part) = parts.next() {
                    self.effects.push(Effect::Send(PanelCommand::Replay {
                        req,
                        session: part.to_owned(),
                        more: parts.len() > 0,
                    }));
                }
                self.replay = Some(None);
            }
            Action::Refresh => {
                self.request_snapshot();
            }
            Action::Synthetic(records) => self.ingest(&records),
            Action::DismissError => self.last_error = None,
        }
    }

    fn preview_at(&mut self, iid: u64, version: u64) {
        let local = self
            .instances
            .index_of(iid)
            .and_then(|idx| self.instances.state_at(&self.log, idx, version));
        self.preview = Some(Preview {
            iid,
            version,
            state: local.map(Ok),
        });
        if self.preview.as_ref().is_some_and(|p| p.state.is_none()) {
            if self.live() {
                self.send(Pending::StateAt, iid, |req| PanelCommand::StateAt {
                    req,
                    iid,
                    version: Some(version),
                });
            } else if let Some(p) = self.preview.as_mut() {
                p.state = Some(Err(format!(
                    "version {version} is not in the loaded records"
                )));
            }
        }
    }

    fn import(&mut self, name: String, text: Rc<str>) {
        match Session::parse(&text) {
            Ok(session) => {
                self.select(None);
                self.reset_records();
                self.source = Source::Imported {
                    name,
                    header: session.header,
                };
                self.ingest(&session.records);
                // Everything the file names is history, not a live instance.
                self.session_text = Some(text);
                self.last_error = None;
            }
            Err(e) => self.last_error = Some(format!("could not import {name}: {e}")),
        }
    }

    /// Kinds present in the log (for the filter menu).
    pub fn kinds() -> &'static [RecordKind] {
        &[
            RecordKind::Action,
            RecordKind::Diff,
            RecordKind::Render,
            RecordKind::Mount,
            RecordKind::Unmount,
            RecordKind::Resume,
            RecordKind::Emit,
            RecordKind::Panic,
            RecordKind::Snapshot,
            RecordKind::TimeTravel,
            RecordKind::ClientSpan,
            RecordKind::ConnOpen,
            RecordKind::ConnClose,
            RecordKind::Dropped,
            RecordKind::Recording,
        ]
    }
}

/// The Yew reducible around the shared model.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// The model (shared, mutated in place by `reduce`).
    pub model: Rc<RefCell<Model>>,
    /// Bumped on every change so that Yew re-renders.
    pub generation: u64,
}

impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.generation == other.generation && Rc::ptr_eq(&self.model, &other.model)
    }
}

impl Reducible for Store {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        self.model.borrow_mut().apply(action);
        Rc::new(Self {
            model: Rc::clone(&self.model),
            generation: self.generation + 1,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
