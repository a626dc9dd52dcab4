//! One debug-channel session (`/__live/debug`), independent of the
//! transport: the runtime turns its WebSocket into a `Stream` of incoming
//! text frames and a `Sink` of outgoing ones and calls [`run_debug_session`].
//!
//! The session answers every [`PanelCommand`] with a frame that echoes its
//! `ref`, streams the subscribed records in size-capped `records` frames,
//! and forwards picks. Slow commands (dispatch, time travel, replay,
//! export) run concurrently so that records keep flowing meanwhile. A bad
//! frame gets a `bad_frame` error and the session goes on.

use crate::recorder::Recorder;
use crate::subscription::Subscription;
use fluxlive_protocol::debug::{
    ComponentInfo, Hello, HubFrame, InstanceInfo, PanelCommand, ReplayReport, SnapshotFrame,
};
use fluxlive_protocol::record::Record;
use fluxlive_protocol::session::{text_parts, Session};
use fluxlive_protocol::{ErrorCode, DEBUG_PROTOCOL_VERSION, PROTOCOL_VERSION};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::broadcast;

/// What the debug session needs from the runtime.
pub trait DebugOps: Send + Sync + 'static {
    /// Every live instance (states may be unredacted: the session redacts
    /// them by type), the number of live connections and of instances
    /// mounted since start.
    fn snapshot(&self) -> (Vec<InstanceInfo>, usize, u64);
    /// Registered component types.
    fn components(&self) -> Vec<ComponentInfo>;
    /// Outlines (or stops outlining) an instance's element in its page.
    fn highlight(&self, iid: u64, on: bool) -> Result<(), (ErrorCode, String)>;
    /// Starts or stops picker mode in every connected page.
    fn picker(&self, on: bool);
    /// Sets a live instance back to the recorded state of `version`.
    fn time_travel(
        &self,
        iid: u64,
        version: u64,
    ) -> BoxFuture<'static, Result<(), (ErrorCode, String)>>;
    /// Ends time travel for an instance.
    fn back_to_live(&self, iid: u64) -> BoxFuture<'static, Result<(), (ErrorCode, String)>>;
    /// Calls an action as if its owning client had.
    fn dispatch(
        &self,
        iid: u64,
        method: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, (ErrorCode, String)>>;
    /// Re-runs a session on fresh instances.
    fn replay(
        &self,
        session: Session,
    ) -> BoxFuture<'static, Result<ReplayReport, (ErrorCode, String)>>;
    /// Picks reported by pages (`None`: picking cancelled).
    fn picked(&self) -> broadcast::Receiver<Option<u64>>;
    /// Converts an exported session to another format (`export` with
    /// `format`); announce the names as `export:<name>` capabilities.
    fn convert_export(
        &self,
        format: &str,
        session: Session,
    ) -> Result<String, (ErrorCode, String)> {
        let _ = session;
        Err((
            ErrorCode::BadFrame,
            format!("export format {format:?} is not available on this runtime"),
        ))
    }
    /// Capabilities announced in `hello`.
    fn capabilities(&self) -> Vec<String> {
        CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()
    }
}

/// What every debug session offers; runtimes add to it (e.g. `export:<format>`).
pub const CAPABILITIES: &[&str] = &[
    "time_travel",
    "replay",
    "dispatch",
    "export",
    "picker",
    "highlight",
];

/// Size limits of a debug session's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugLimits {
    /// Most records in one `records` frame.
    pub max_records_per_frame: usize,
    /// Largest `records` or `export_chunk` frame, in bytes (a single record
    /// larger than this still goes out alone).
    pub max_frame_bytes: usize,
    /// Largest command the panel may send, in bytes: a longer one is
    /// answered `frame_too_large` and the session goes on.
    pub max_command_bytes: usize,
    /// Largest session file a `replay` may carry, all its parts together.
    pub max_session_bytes: usize,
}

impl Default for DebugLimits {
    fn default() -> Self {
        Self {
            max_records_per_frame: 256,
            max_frame_bytes: 512 << 10,
            max_command_bytes: 1 << 20,
            max_session_bytes: 256 << 20,
        }
    }
}

/// A session file arriving in `replay` parts.
struct Upload {
    req: u32,
    text: String,
    /// Over the size limit: already answered, the rest of its parts are
    /// dropped unread.
    refused: bool,
}

/// The sink refused a frame: the peer is gone.
struct Closed;

type Answer = BoxFuture<'static, Vec<HubFrame>>;

/// Runs one debug session until the incoming stream ends or the sink fails.
pub async fn run_debug_session<S, K>(
    rec: Recorder,
    ops: Arc<dyn DebugOps>,
    incoming: S,
    outgoing: K,
    limits: DebugLimits,
) where
    S: Stream<Item = String> + Unpin,
    K: Sink<String> + Unpin,
{
    let mut session = DebugSession {
        rec,
        ops,
        out: outgoing,
        limits,
        sub: None,
        pending: FuturesUnordered::new(),
        upload: None,
    };
    if session.run(incoming).await.is_err() {
        tracing::debug!(target: "fluxlive::debug", "debug peer went away");
    }
}

struct DebugSession<K> {
    rec: Recorder,
    ops: Arc<dyn DebugOps>,
    out: K,
    limits: DebugLimits,
    sub: Option<Subscription>,
    pending: FuturesUnordered<Answer>,
    upload: Option<Upload>,
}

async fn next_batch(sub: &mut Option<Subscription>) -> Option<Vec<Record>> {
    match sub.as_mut() {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

impl<K: Sink<String> + Unpin> DebugSession<K> {
    async fn run<S: Stream<Item = String> + Unpin>(
        &mut self,
        mut incoming: S,
    ) -> Result<(), Closed> {
        let hello = HubFrame::Hello(Hello {
            protocol: DEBUG_PROTOCOL_VERSION,
            app_protocol: PROTOCOL_VERSION,
            runtime: self.rec.runtime_version().to_owned(),
            capabilities: self.ops.capabilities(),
            history: self.rec.bounds(),
            recording: self.rec.enabled(),
            started_unix_us: self.rec.started_unix_us(),
            components: self.ops.components(),
        });
        self.send(&hello).await?;
        let mut picked = Some(self.ops.picked());
        loop {
            tokio::select! {
                cmd = incoming.next() => match cmd {
                    Some(text) => self.handle(&text).await?,
                    None => return Ok(()),
                },
                Some(frames) = self.pending.next(), if !self.pending.is_empty() => {
                    for f in frames {
                        self.send(&f).await?;
                    }
                }
                batch = next_batch(&mut self.sub) => match batch {
                    Some(records) => self.send_records(records).await?,
                    None => self.sub = None,
                },
                pick = async { match picked.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => match pick {
                    Ok(iid) => self.send(&HubFrame::Picked { iid }).await?,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(target: "fluxlive::debug", skipped = n, "picks skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => picked = None,
                },
            }
        }
    }

    async fn send(&mut self, frame: &HubFrame) -> Result<(), Closed> {
        match serde_json::to_string(frame) {
            Ok(text) => self.out.send(text).await.map_err(|_| Closed),
            Err(e) => {
                tracing::error!(target: "fluxlive::debug", error = %e, "cannot encode a debug frame");
                Ok(())
            }
        }
    }

    /// Sends records as `records` frames within the count and byte caps.
    async fn send_records(&mut self, records: Vec<Record>) -> Result<(), Closed> {
        const HEAD: &str = r#"{"t":"records","records":["#;
        const TAIL: &str = "]}";
        let max_records = self.limits.max_records_per_frame.max(1);
        let mut frame = String::from(HEAD);
        let mut n = 0usize;
        for r in &records {
            let Ok(text) = serde_json::to_string(r) else {
                tracing::error!(target: "fluxlive::debug", seq = r.seq, "cannot encode a record");
                continue;
            };
            let full = n >= max_records
                || frame.len() + text.len() + 1 + TAIL.len() > self.limits.max_frame_bytes;
            if n > 0 && full {
                frame.push_str(TAIL);
                self.out.send(frame).await.map_err(|_| Closed)?;
                frame = String::from(HEAD);
                n = 0;
            }
            if n > 0 {
                frame.push(',');
            }
            frame.push_str(&text);
            n += 1;
        }
        if n > 0 {
            frame.push_str(TAIL);
            self.out.send(frame).await.map_err(|_| Closed)?;
        }
        Ok(())
    }

    async fn handle(&mut self, text: &str) -> Result<(), Closed> {
        let max = self.limits.max_command_bytes;
        if text.len() > max {
            let frame = HubFrame::Error {
                req: None,
                code: ErrorCode::FrameTooLarge,
                message: format!(
                    "debug command of {} bytes is over the {max}-byte limit \
                     (send a large session to `replay` in parts, with `more: true`)",
                    text.len()
                ),
            };
            return self.send(&frame).await;
        }
        let cmd = match parse_command(text) {
            Ok(cmd) => cmd,
            Err(BadFrame { req, message }) => {
                let frame = HubFrame::Error {
                    req,
                    code: ErrorCode::BadFrame,
                    message,
                };
                return self.send(&frame).await;
            }
        };
        let req = cmd.req();
        let ack = HubFrame::Ack { req };
        match cmd {
            PanelCommand::Subscribe {
                from_seq, filter, ..
            } => {
                self.sub = Some(self.rec.subscribe(from_seq, filter));
                self.send(&ack).await
            }
            PanelCommand::Snapshot { .. } => {
                let (mut instances, connections, total_mounted) = self.ops.snapshot();
                for i in &mut instances {
                    self.rec.redact_state(&i.component, &mut i.state);
                    self.rec.redact_state(&i.component, &mut i.props);
                }
                self.send(&HubFrame::Snapshot(SnapshotFrame {
                    req,
                    instances,
                    connections,
                    total_mounted,
                }))
                .await
            }
            PanelCommand::StateAt { iid, version, .. } => {
                let rec = self.rec.clone();
                self.pending.push(
                    async move {
                        rec.flush().await;
                        vec![match rec.state_at(iid, version) {
                            Ok((version, state)) => HubFrame::State {
                                req,
                                iid,
                                version,
                                state,
                            },
                            Err(e) => error(req, e.code(), e.to_string()),
                        }]
                    }
                    .boxed(),
                );
                Ok(())
            }
            PanelCommand::Highlight { iid, on, .. } => {
                let frame = match self.ops.highlight(iid, on) {
                    Ok(()) => ack,
                    Err((code, message)) => error(req, code, message),
                };
                self.send(&frame).await
            }
            PanelCommand::Picker { on, .. } => {
                self.ops.picker(on);
                self.send(&ack).await
            }
            PanelCommand::TimeTravel { iid, version, .. } => {
                let fut = self.ops.time_travel(iid, version);
                self.pending
                    .push(fut.map(move |r| vec![ack_or_error(req, r)]).boxed());
                Ok(())
            }
            PanelCommand::BackToLive { iid, .. } => {
                let fut = self.ops.back_to_live(iid);
                self.pending
                    .push(fut.map(move |r| vec![ack_or_error(req, r)]).boxed());
                Ok(())
            }
            PanelCommand::Dispatch {
                iid, method, args, ..
            } => {
                let fut = self.ops.dispatch(iid, method, args);
                self.pending.push(
                    fut.map(move |r| {
                        vec![match r {
                            Ok(result) => HubFrame::DispatchResult { req, result },
                            Err((code, message)) => error(req, code, message),
                        }]
                    })
                    .boxed(),
                );
                Ok(())
            }
            PanelCommand::Pause { .. } => {
                self.rec.pause();
                self.send(&ack).await?;
                self.send(&self.status()).await
            }
            PanelCommand::Resume { .. } => {
                self.rec.resume();
                self.send(&ack).await?;
                self.send(&self.status()).await
            }
            PanelCommand::Clear { .. } => {
                self.rec.clear();
                let rec = self.rec.clone();
                self.pending.push(
                    async move {
                        rec.flush().await;
                        vec![ack]
                    }
                    .boxed(),
                );
                Ok(())
            }
            PanelCommand::Export { format, .. } => {
                let rec = self.rec.clone();
                let ops = self.ops.clone();
                let max = self.limits.max_frame_bytes;
                self.pending.push(
                    async move {
                        rec.flush().await;
                        let session = rec.export();
                        match format.as_deref() {
                            None | Some("jsonl") => export_chunks(req, &session.to_jsonl(), max),
                            Some(f) => match ops.convert_export(f, session) {
                                Ok(text) => export_chunks(req, &text, max),
                                Err((code, message)) => vec![error(req, code, message)],
                            },
                        }
                    }
                    .boxed(),
                );
                Ok(())
            }
            PanelCommand::Replay { session, more, .. } => {
                let Some(text) = self.join_upload(req, session, more).await? else {
                    return Ok(());
                };
                let ops = self.ops.clone();
                // Parsing a large session takes a while: off the session's task.
                let parsed = tokio::task::spawn_blocking(move || Session::parse(&text));
                self.pending.push(
                    async move {
                        let result = match parsed.await {
                            Ok(Ok(session)) => ops.replay(session).await,
                            Ok(Err(e)) => Err((ErrorCode::BadSession, e.to_string())),
                            Err(e) => {
                                Err((ErrorCode::Internal, format!("session parser stopped: {e}")))
                            }
                        };
                        vec![match result {
                            Ok(report) => HubFrame::Replay { req, report },
                            Err((code, message)) => error(req, code, message),
                        }]
                    }
                    .boxed(),
                );
                Ok(())
            }
        }
    }

    /// Adds a `replay` part to the session being uploaded. Returns the whole
    /// text once its last part is in; `None` while parts are still to come
    /// or when the upload was refused (the refusal already answered).
    async fn join_upload(
        &mut self,
        req: u32,
        part: String,
        more: bool,
    ) -> Result<Option<String>, Closed> {
        let mut upload = match self.upload.take() {
            Some(u) if u.req == req => u,
            other => {
                if let Some(old) = other.filter(|u| !u.refused) {
                    let message = format!(
                        "session upload abandoned: `replay` ref {req} began before this one's last part arrived"
                    );
                    self.send(&error(old.req, ErrorCode::BadSession, message))
                        .await?;
                }
                Upload {
                    req,
                    text: String::new(),
                    refused: false,
                }
            }
        };
        if !upload.refused {
            let max = self.limits.max_session_bytes;
            let size = upload.text.len() + part.len();
            if size > max {
                upload.refused = true;
                upload.text = String::new();
                let message = format!(
                    "session file of {}{size} bytes is over the {max}-byte limit",
                    if more { "at least " } else { "" }
                );
                self.send(&error(req, ErrorCode::BadSession, message))
                    .await?;
            } else if upload.text.is_empty() {
                upload.text = part;
            } else {
                upload.text.push_str(&part);
            }
        }
        if more {
            self.upload = Some(upload);
            return Ok(None);
        }
        Ok((!upload.refused).then_some(upload.text))
    }

    fn status(&self) -> HubFrame {
        HubFrame::Status {
            recording: self.rec.enabled(),
            dropped: self.rec.dropped_total(),
        }
    }
}

fn error(req: u32, code: ErrorCode, message: String) -> HubFrame {
    HubFrame::Error {
        req: Some(req),
        code,
        message,
    }
}

fn ack_or_error(req: u32, r: Result<(), (ErrorCode, String)>) -> HubFrame {
    match r {
        Ok(()) => HubFrame::Ack { req },
        Err((code, message)) => error(req, code, message),
    }
}

/// A panel frame that could not be understood.
#[derive(Debug)]
struct BadFrame {
    req: Option<u32>,
    message: String,
}

/// Parses a panel frame, or says precisely what was wrong with it.
fn parse_command(text: &str) -> Result<PanelCommand, BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| BadFrame {
        req: None,
        message: format!("debug frame is not JSON: {e}"),
    })?;
    let req = value
        .get("ref")
        .and_then(Value::as_u64)
        .and_then(|r| u32::try_from(r).ok());
    let tag = value.get("t").and_then(Value::as_str).map(str::to_owned);
    serde_json::from_value(value).map_err(|e| BadFrame {
        req,
        message: match tag {
            Some(t) => format!("bad debug command {t:?}: {e}"),
            None => format!("debug frame has no command tag \"t\": {e}"),
        },
    })
}

/// Splits a session file into `export_chunk` frames under `max` bytes each.
/// JSON escaping at most doubles the JSON Lines text (it holds no raw
/// control characters but newlines), so chunks of `max / 2` minus the
/// frame's own overhead always fit.
fn export_chunks(req: u32, text: &str, max: usize) -> Vec<HubFrame> {
    let chunk = (max / 2).saturating_sub(128).max(64);
    let parts = text_parts(text, chunk);
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| HubFrame::ExportChunk {
            req,
            data: part.to_owned(),
            last: i + 1 == n,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn export_chunks_reassemble_and_fit() {
        let text = "{\"a\":\"é\\\"q\"}\n".repeat(500);
        let frames = export_chunks(7, &text, 1024);
        assert!(frames.len() > 1);
        let mut joined = String::new();
        for (i, f) in frames.iter().enumerate() {
            let encoded = serde_json::to_string(f).unwrap();
            assert!(
                encoded.len() <= 1024,
                "frame {i} is {} bytes",
                encoded.len()
            );
            let HubFrame::ExportChunk { req, data, last } = f else {
                panic!("not a chunk")
            };
            assert_eq!(*req, 7);
            assert_eq!(*last, i + 1 == frames.len());
            joined.push_str(data);
        }
        assert_eq!(joined, text);
    }

    #[test]
    fn bad_frames_name_the_problem_and_echo_the_ref() {
        let BadFrame { req, message } = parse_command("{nope").unwrap_err();
        assert_eq!(req, None);
        assert!(message.contains("not JSON"), "{message}");
        let BadFrame { req, message } = parse_command(r#"{"t":"fly","ref":3}"#).unwrap_err();
        assert_eq!(req, Some(3));
        assert!(message.contains("fly"), "{message}");
    }
}
