//! The DevTools debug channel: `/__live/debug` (WebSocket) and
//! `/__live/devtools` (the standalone panel page).
//!
//! Off unless enabled. When on, it accepts loopback peers only (unless
//! configured otherwise), requires the token (random per start unless
//! configured), checks `Origin` (same-origin pages and browser-extension
//! origins), and caps frame sizes. The protocol itself is handled by
//! `fluxlive_instrumentation::run_debug_session`; this module is the axum
//! glue plus [`RuntimeOps`], the runtime side of each command.

use crate::instance::{Msg, Snapshot};
use crate::live::Peer;
use crate::live::{call_iid, Live};
use crate::runtime::Runtime;
use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fluxlive_instrumentation::{DebugLimits, DebugOps};
use fluxlive_protocol::app::ServerFrame;
use fluxlive_protocol::debug::{ComponentInfo, HubFrame, InstanceInfo, ReplayReport};
use fluxlive_protocol::record::CallSource;
use fluxlive_protocol::session::Session as SessionFile;
use fluxlive_protocol::ErrorCode;
use futures_util::future::BoxFuture;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// How the debug channel is set up.
#[derive(Debug, Clone)]
pub struct DebugConfig {
    token: Option<String>,
    allow_remote: bool,
    announce_token: bool,
    origins: Vec<String>,
    max_frame: usize,
    max_session: usize,
    panel_dir: Option<PathBuf>,
}

impl Default for DebugConfig {
    fn default() -> Self {
        Self::loopback()
    }
}

impl DebugConfig {
    /// Loopback peers only, random token, token not announced to pages.
    pub fn loopback() -> Self {
        Self {
            token: None,
            allow_remote: false,
            announce_token: false,
            origins: Vec::new(),
            // The debug session's own defaults (1 MiB, 256 MiB).
            max_frame: DebugLimits::default().max_command_bytes,
            max_session: DebugLimits::default().max_session_bytes,
            panel_dir: None,
        }
    }

    /// Development mode: like [`loopback`](Self::loopback), and the page's
    /// client announces the token to the DevTools extension.
    pub fn dev() -> Self {
        Self {
            announce_token: true,
            ..Self::loopback()
        }
    }

    /// From `FLUXLIVE_DEBUG` (`1`/`true`/`dev` to enable; `dev` also
    /// announces the token), `FLUXLIVE_DEBUG_TOKEN` and `FLUXLIVE_PANEL_DIR`.
    pub fn from_env() -> Option<Self> {
        let v = std::env::var("FLUXLIVE_DEBUG").ok()?;
        let mut cfg = match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Self::loopback(),
            "dev" => Self::dev(),
            _ => return None,
        };
        if let Ok(t) = std::env::var("FLUXLIVE_DEBUG_TOKEN") {
            if !t.is_empty() {
                cfg.token = Some(t);
            }
        }
        if let Ok(d) = std::env::var("FLUXLIVE_PANEL_DIR") {
            cfg.panel_dir = Some(PathBuf::from(d));
        }
        Some(cfg)
    }

    /// Use this token instead of a random one.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Accept non-loopback peers (the token is still required).
    pub fn allow_remote(mut self, yes: bool) -> Self {
        self.allow_remote = yes;
        self
    }

    /// Let the page's client announce the token to DevTools (dev only).
    pub fn announce_token(mut self, yes: bool) -> Self {
        self.announce_token = yes;
        self
    }

    /// Also accept WebSocket upgrades from this `Origin`.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Largest panel command accepted, in bytes (default 1 MiB). A longer
    /// one gets a `frame_too_large` error and the session goes on; one over
    /// four times this closes the connection (code 1009) after the same
    /// error, since the transport stops reading it.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Largest session file a `replay` may carry, all its parts together
    /// (default 256 MiB).
    pub fn max_session(mut self, bytes: usize) -> Self {
        self.max_session = bytes;
        self
    }

    /// Where the built panel lives (default: the workspace's `dist/panel`).
    pub fn panel_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.panel_dir = Some(dir.into());
        self
    }
}

/// Resolved settings held by the runtime.
#[derive(Debug, Clone)]
pub(crate) struct DebugSettings {
    pub(crate) token: String,
    pub(crate) allow_remote: bool,
    pub(crate) announce_token: bool,
    pub(crate) origins: Vec<String>,
    pub(crate) max_frame: usize,
    pub(crate) max_session: usize,
    pub(crate) panel_dir: PathBuf,
}

impl From<DebugConfig> for DebugSettings {
    fn from(c: DebugConfig) -> Self {
        Self {
            token: c
                .token
                .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>())),
            allow_remote: c.allow_remote,
            announce_token: c.announce_token,
            origins: c.origins,
            max_frame: c.max_frame,
            max_session: c.max_session,
            panel_dir: c.panel_dir.unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist/panel"))
            }),
        }
    }
}

pub(crate) fn routes(r: Router<Live>) -> Router<Live> {
    r.route(crate::DEBUG_PATH, get(debug_upgrade))
        .route(crate::DEVTOOLS_PATH, get(panel_redirect))
        .route(&format!("{}/", crate::DEVTOOLS_PATH), get(panel_index))
        .route(
            &format!("{}/{{file}}", crate::DEVTOOLS_PATH),
            get(panel_file),
        )
}

/// Why a debug connection was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DebugRejection {
    #[error("debug channel refused: peer {0} is not a loopback address (enable allow_remote to accept it)")]
    NotLoopback(SocketAddr),
    #[error("debug channel refused: peer address unknown (serve with into_make_service_with_connect_info::<SocketAddr>())")]
    UnknownPeer,
    #[error("debug channel refused: missing token (pass ?token=…)")]
    NoToken,
    #[error("debug channel refused: wrong token")]
    WrongToken,
    #[error("debug channel refused: origin {0} is not allowed")]
    Origin(String),
}

impl IntoResponse for DebugRejection {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NoToken | Self::WrongToken => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        };
        tracing::info!(target: "fluxlive::rejection", "{self}");
        (status, self.to_string()).into_response()
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

fn check_peer(d: &DebugSettings, peer: Option<SocketAddr>) -> Result<(), DebugRejection> {
    if d.allow_remote {
        return Ok(());
    }
    match peer {
        Some(p) if p.ip().is_loopback() => Ok(()),
        Some(p) => Err(DebugRejection::NotLoopback(p)),
        None => Err(DebugRejection::UnknownPeer),
    }
}

fn check_origin(d: &DebugSettings, headers: &HeaderMap) -> Result<(), DebugRejection> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Non-browser tools send no Origin; browsers always do.
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same_origin = !host.is_empty()
        && (origin == format!("http://{host}") || origin == format!("https://{host}"));
    let extension =
        origin.starts_with("chrome-extension://") || origin.starts_with("moz-extension://");
    if same_origin || extension || d.origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        Err(DebugRejection::Origin(origin.to_owned()))
    }
}

async fn debug_upgrade(
    State(live): State<Live>,
    Peer(peer): Peer,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, DebugRejection> {
    let Some(d) = live.rt.debug.clone() else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    check_peer(&d, peer)?;
    match q.token.as_deref() {
        None | Some("") => return Err(DebugRejection::NoToken),
        Some(t) if !crate::session::token_eq(t, &d.token) => {
            return Err(DebugRejection::WrongToken)
        }
        Some(_) => {}
    }
    check_origin(&d, &headers)?;
    let rt = live.rt.clone();
    let limits = DebugLimits {
        max_command_bytes: d.max_frame,
        max_session_bytes: d.max_session,
        ..DebugLimits::default()
    };
    // Commands between `max_frame` and the transport's limit are read and
    // refused by the session with an error; past the limit the transport
    // stops reading, and closing is all that is left.
    let transport_max = d.max_frame.saturating_mul(TRANSPORT_FACTOR);
    Ok(ws
        .max_message_size(transport_max)
        .max_frame_size(transport_max)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            let refused: Arc<Mutex<Option<String>>> = Arc::default();
            let seen = Arc::clone(&refused);
            let incoming = stream
                .take_while(move |m| {
                    if let Err(e) = m {
                        let reason = e.to_string();
                        tracing::debug!(target: "fluxlive::debug", error = %reason, "debug transport stopped reading");
                        *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                    }
                    futures_util::future::ready(m.is_ok())
                })
                .filter_map(|m| {
                    futures_util::future::ready(match m {
                        Ok(Message::Text(t)) => Some(t.to_string()),
                        _ => None,
                    })
                })
                .boxed();
            let mut outgoing = sink.with(|s: String| {
                futures_util::future::ready(Ok::<_, axum::Error>(Message::Text(Utf8Bytes::from(s))))
            });
            let ops: Arc<dyn DebugOps> = Arc::new(RuntimeOps::new(rt.clone()));
            fluxlive_instrumentation::run_debug_session(
                rt.recorder.clone(),
                ops,
                incoming,
                &mut outgoing,
                limits,
            )
            .await;
            let reason = refused.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(reason) = reason {
                close_refused(outgoing.get_mut(), &reason, transport_max).await;
            }
        }))
}

/// The transport reads commands up to this many times `max_frame`.
const TRANSPORT_FACTOR: usize = 4;

/// Tells the panel why the transport stopped reading, then closes with
/// 1009 (message too big).
async fn close_refused(out: &mut SplitSink<WebSocket, Message>, reason: &str, limit: usize) {
    let frame = HubFrame::Error {
        req: None,
        code: ErrorCode::FrameTooLarge,
        message: format!(
            "debug frame over the {limit}-byte transport limit ({reason}); closing the connection"
        ),
    };
    if let Ok(text) = serde_json::to_string(&frame) {
        let _ = out.send(Message::Text(Utf8Bytes::from(text))).await;
    }
    let close = CloseFrame {
        code: close_code::SIZE,
        reason: Utf8Bytes::from_static("frame too large"),
    };
    let _ = out.send(Message::Close(Some(close))).await;
}

fn panel_dir(live: &Live) -> Option<PathBuf> {
    live.rt.debug.as_ref().map(|d| d.panel_dir.clone())
}

/// `/__live/devtools?…` → `/__live/devtools/?…`, so the page's relative
/// asset URLs resolve inside the panel directory.
async fn panel_redirect(uri: axum::http::Uri) -> Response {
    let target = match uri.query() {
        Some(q) => format!("{}/?{q}", crate::DEVTOOLS_PATH),
        None => format!("{}/", crate::DEVTOOLS_PATH),
    };
    axum::response::Redirect::permanent(&target).into_response()
}

async fn panel_index(State(live): State<Live>, Peer(peer): Peer) -> Response {
    serve_panel_file(&live, peer, "index.html").await
}

async fn panel_file(
    State(live): State<Live>,
    Peer(peer): Peer,
    Path(file): Path<String>,
) -> Response {
    serve_panel_file(&live, peer, &file).await
}

async fn serve_panel_file(live: &Live, peer: Option<SocketAddr>, file: &str) -> Response {
    let Some(d) = live.rt.debug.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(r) = check_peer(d, peer) {
        return r.into_response();
    }
    if file.contains("..") || file.contains('/') || file.contains('\\') || file.starts_with('.') {
        return (StatusCode::BAD_REQUEST, "bad file name").into_response();
    }
    let Some(dir) = panel_dir(live) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let path = dir.join(file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let ct = match path.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("wasm") => "application/wasm",
                Some("css") => "text/css; charset=utf-8",
                Some("json") => "application/json",
                Some("png") => "image/png",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
        }
        Err(_) if file == "index.html" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "The fluxlive DevTools panel has not been built (looked in {}).\nRun `cargo xtask panel` (or `cargo xtask demo`), or set FLUXLIVE_PANEL_DIR.\n",
                dir.display()
            ),
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The runtime side of the debug commands.
pub(crate) struct RuntimeOps {
    rt: Arc<Runtime>,
    /// Per instance under time travel: the newest version before it began.
    travel: Arc<Mutex<HashMap<u64, u64>>>,
}

impl RuntimeOps {
    pub(crate) fn new(rt: Arc<Runtime>) -> Self {
        let travel = rt.travel.clone();
        Self { rt, travel }
    }
}

type OpResult<T> = Result<T, (ErrorCode, String)>;

fn not_live(iid: u64) -> (ErrorCode, String) {
    (
        ErrorCode::NotMounted,
        format!("instance #{iid} is not live"),
    )
}

impl DebugOps for RuntimeOps {
    fn snapshot(&self) -> (Vec<InstanceInfo>, usize, u64) {
        let travel = self.travel.lock().map(|t| t.clone()).unwrap_or_default();
        let mut out: Vec<InstanceInfo> = self
            .rt
            .all_instances()
            .iter()
            .map(|h| {
                let snap: Snapshot = h.snapshot();
                let mut info = snap.into_info(h);
                info.travelling = travel.contains_key(&h.iid());
                info
            })
            .collect();
        out.sort_by_key(|i| i.iid);
        for info in &mut out {
            if let Some(meta) = self.meta_of(info.iid) {
                fluxlive_instrumentation::redact_top(meta, &mut info.state);
                fluxlive_instrumentation::redact_top(meta, &mut info.props);
            }
        }
        let s = crate::live::Live {
            rt: self.rt.clone(),
        }
        .stats();
        (out, s.connections, s.total_mounted)
    }

    fn components(&self) -> Vec<ComponentInfo> {
        let mut v: Vec<ComponentInfo> = self
            .rt
            .factories
            .values()
            .map(|f| ComponentInfo {
                name: f.meta().name.to_owned(),
                actions: f.meta().actions.iter().map(|a| a.name.to_owned()).collect(),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn highlight(&self, iid: u64, on: bool) -> OpResult<()> {
        let h = self.rt.instance(iid).ok_or_else(|| not_live(iid))?;
        if !h.shared.owners().iter().any(|s| s.is_attached()) {
            return Err((
                ErrorCode::NotMounted,
                format!("instance #{iid}'s page is not connected"),
            ));
        }
        if let Some(text) = crate::instance::encode(&ServerFrame::Highlight {
            id: h.id().to_string(),
            on,
            label: Some(format!("{} #{}", h.component(), h.id())),
        }) {
            h.shared.send_all(&text);
        }
        Ok(())
    }

    fn picker(&self, on: bool) {
        if let Some(text) = crate::instance::encode(&ServerFrame::Picker { on }) {
            for s in self.rt.all_sessions() {
                s.send(text.clone());
            }
        }
    }

    fn time_travel(&self, iid: u64, version: u64) -> BoxFuture<'static, OpResult<()>> {
        let rt = self.rt.clone();
        let travel = self.travel.clone();
        Box::pin(async move {
            let h = rt.instance(iid).ok_or_else(|| not_live(iid))?;
            // Versions published a moment ago may still be in a ring.
            rt.recorder.flush().await;
            let (_, state) = rt
                .recorder
                .state_at(iid, Some(version))
                .map_err(|e| (e.code(), e.to_string()))?;
            let current = h.snapshot().version;
            if let Ok(mut t) = travel.lock() {
                t.entry(iid).or_insert(current);
            }
            restore(&h, state, version).await.map(|_| ())
        })
    }

    fn back_to_live(&self, iid: u64) -> BoxFuture<'static, OpResult<()>> {
        let rt = self.rt.clone();
        let travel = self.travel.clone();
        Box::pin(async move {
            let h = rt.instance(iid).ok_or_else(|| not_live(iid))?;
            let origin = travel
                .lock()
                .ok()
                .and_then(|mut t| t.remove(&iid))
                .ok_or_else(|| {
                    (
                        ErrorCode::VersionUnavailable,
                        format!("instance #{iid} is not time travelling"),
                    )
                })?;
            rt.recorder.flush().await;
            let (_, state) = rt
                .recorder
                .state_at(iid, Some(origin))
                .map_err(|e| (e.code(), e.to_string()))?;
            restore(&h, state, origin).await.map(|_| ())
        })
    }

    fn dispatch(
        &self,
        iid: u64,
        method: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, OpResult<Value>> {
        let rt = self.rt.clone();
        Box::pin(async move {
            call_iid(&rt, iid, &method, args, CallSource::Debug)
                .await
                .map_err(|e| (e.code(), e.to_string()))
        })
    }

    fn replay(&self, session: SessionFile) -> BoxFuture<'static, OpResult<ReplayReport>> {
        let rt = self.rt.clone();
        Box::pin(async move {
            crate::replay::replay_with(&rt.factories, &session)
                .await
                .map_err(|e| (ErrorCode::BadSession, e.to_string()))
        })
    }

    fn picked(&self) -> tokio::sync::broadcast::Receiver<Option<u64>> {
        self.rt.picks.subscribe()
    }

    fn convert_export(&self, format: &str, session: SessionFile) -> OpResult<String> {
        let convert = self.rt.export_formats.get(format).ok_or_else(|| {
            let mut known: Vec<&str> = self.rt.export_formats.keys().map(String::as_str).collect();
            known.sort_unstable();
            (
                ErrorCode::BadFrame,
                format!(
                    "export format {format:?} is not available (available: jsonl{}{})",
                    if known.is_empty() { "" } else { ", " },
                    known.join(", ")
                ),
            )
        })?;
        convert(&session).map_err(|e| (ErrorCode::BadSession, format!("export as {format}: {e}")))
    }

    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = fluxlive_instrumentation::CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let mut formats: Vec<String> = self
            .rt
            .export_formats
            .keys()
            .map(|f| format!("export:{f}"))
            .collect();
        formats.sort_unstable();
        caps.extend(formats);
        caps
    }
}

impl RuntimeOps {
    fn meta_of(&self, iid: u64) -> Option<&'static fluxlive_instrumentation::TypeMeta> {
        self.rt.instance(iid).map(|h| h.meta())
    }
}

async fn restore(h: &crate::instance::InstanceHandle, state: Value, target: u64) -> OpResult<u64> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    h.shared
        .tx
        .send(Msg::Restore(Box::new((state, target, tx))))
        .await
        .map_err(|_| not_live(h.iid()))?;
    rx.await
        .map_err(|_| not_live(h.iid()))?
        .map_err(|e| (ErrorCode::StateError, e))
}
