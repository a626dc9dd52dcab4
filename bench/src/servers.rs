//! The servers under test: the fluxlive demo runtime and a raw axum
//! WebSocket echo server with the same socket settings, both on loopback.

use crate::args::RecorderSettings;
use crate::error::BenchError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use fluxlive::{Live, Recorder};
use std::net::SocketAddr;

/// Path of the echo endpoint on the echo server.
pub(crate) const ECHO_PATH: &str = "/echo";
/// Path of the three-frame echo (patch-, event- and reply-shaped frames).
pub(crate) const ECHO3_PATH: &str = "/echo3";
/// The same, with a 16 KiB write buffer so the three frames leave in one `send`.
pub(crate) const ECHO3_BUFFERED_PATH: &str = "/echo3-buffered";

/// A patch frame of the size the demo counter's `increment` produces.
const CANNED_PATCH: &str = r#"{"t":"patch","id":"c","base":41,"version":42,"ops":[{"op":"replace","path":"/count","value":42}]}"#;
/// An event frame of the size `count-changed` produces.
const CANNED_EVENT: &str = r#"{"t":"event","id":"c","name":"count-changed","data":{"count":42}}"#;

/// Which server a scenario drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The raw echo server: one frame back per frame sent.
    Echo,
    /// Echo that first sends a canned patch and event frame, as fluxlive
    /// does for `increment`: the protocol's frame count without the runtime.
    Echo3,
    /// [`Target::Echo3`] with a write buffer, so each answer is one `send`.
    Echo3Buffered,
    /// The fluxlive demo with the recorder off.
    LiveOff,
    /// The fluxlive demo with the recorder on.
    LiveOn,
    /// Recorder on and an OTLP exporter whose collector refuses connections.
    LiveOtelDown,
    /// Recorder on and an OTLP exporter whose collector accepts and never answers.
    LiveOtelHang,
}

impl Target {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Target::Echo => "echo",
            Target::Echo3 => "echo, 3 frames",
            Target::Echo3Buffered => "echo, 3 frames, 1 send",
            Target::LiveOff => "fluxlive rec off",
            Target::LiveOn => "fluxlive rec on",
            Target::LiveOtelDown => "rec on + otel, collector down",
            Target::LiveOtelHang => "rec on + otel, collector hangs",
        }
    }

    pub(crate) fn is_live(self) -> bool {
        matches!(
            self,
            Target::LiveOff | Target::LiveOn | Target::LiveOtelDown | Target::LiveOtelHang
        )
    }

    /// The baseline every other row is compared with.
    pub(crate) fn is_baseline(self) -> bool {
        self == Target::Echo
    }
}

/// A server listening on loopback, and the `Live` behind it (if any).
pub(crate) struct Running {
    pub(crate) target: Target,
    pub(crate) addr: SocketAddr,
    pub(crate) live: Option<Live>,
    /// The OTLP export of the exporter rows, kept alive while the server runs.
    pub(crate) _otel: Option<fluxlive_otel::Attached>,
}

impl Running {
    /// The WebSocket URL a client connects to.
    pub(crate) fn ws_url(&self) -> String {
        let path = match self.target {
            Target::Echo => ECHO_PATH,
            Target::Echo3 => ECHO3_PATH,
            Target::Echo3Buffered => ECHO3_BUFFERED_PATH,
            Target::LiveOff | Target::LiveOn | Target::LiveOtelDown | Target::LiveOtelHang => {
                fluxlive::WS_PATH
            }
        };
        format!("ws://{}{path}", self.addr)
    }
}

/// The same limits the runtime puts on its app socket (see
/// `runtime/src/live.rs`: 4 KiB read buffer, no write buffering, hard
/// message limit of 4 × 64 KiB), so the two servers differ only in what
/// they do with a frame.
const HARD_LIMIT: usize = 4 * 64 * 1024;

fn limits(ws: WebSocketUpgrade, write_buffer: usize) -> WebSocketUpgrade {
    ws.max_message_size(HARD_LIMIT)
        .max_frame_size(HARD_LIMIT)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(write_buffer)
}

async fn echo_upgrade(ws: WebSocketUpgrade) -> impl IntoResponse {
    limits(ws, 0).on_upgrade(echo)
}

async fn echo3_upgrade(ws: WebSocketUpgrade) -> impl IntoResponse {
    limits(ws, 0).on_upgrade(echo3)
}

async fn echo3_buffered_upgrade(ws: WebSocketUpgrade) -> impl IntoResponse {
    limits(ws, 16 * 1024).on_upgrade(echo3)
}

/// Patch, event, then the call itself; fed then flushed once, as the
/// runtime's writer does.
async fn echo3(mut socket: WebSocket) {
    use futures_util::SinkExt;
    while let Some(Ok(msg)) = socket.recv().await {
        let sent = match msg {
            Message::Text(t) => {
                let mut r = socket.feed(Message::Text(CANNED_PATCH.into())).await;
                if r.is_ok() {
                    r = socket.feed(Message::Text(CANNED_EVENT.into())).await;
                }
                if r.is_ok() {
                    r = socket.feed(Message::Text(t)).await;
                }
                if r.is_ok() {
                    r = socket.flush().await;
                }
                r
            }
            Message::Close(_) => return,
            _ => Ok(()),
        };
        if sent.is_err() {
            return;
        }
    }
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.recv().await {
        let sent = match msg {
            Message::Text(t) => socket.send(Message::Text(t)).await,
            Message::Close(_) => return,
            _ => Ok(()),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Builds the demo runtime. Must run inside a tokio runtime (the recorder
/// starts its collector).
pub(crate) fn build_live(recording: bool, settings: RecorderSettings) -> Live {
    let builder = fluxlive_demo::builder();
    if recording {
        let mut rec = Recorder::builder();
        if let Some(slots) = settings.ring_capacity {
            rec = rec.ring_capacity(slots);
        }
        if let Some(records) = settings.history {
            rec = rec.history(records);
        }
        builder.recorder(rec.build()).build()
    } else {
        builder.build()
    }
}

/// Binds 127.0.0.1:0 and serves `target` on the current tokio runtime.
///
/// Both servers set `TCP_NODELAY`: small pipelined frames would otherwise
/// meet Nagle's algorithm, and the comparison would measure that.
pub(crate) async fn start(
    target: Target,
    recorder: RecorderSettings,
) -> Result<Running, BenchError> {
    let (app, live) = match target {
        Target::Echo | Target::Echo3 | Target::Echo3Buffered => (
            Router::new()
                .route(ECHO_PATH, get(echo_upgrade))
                .route(ECHO3_PATH, get(echo3_upgrade))
                .route(ECHO3_BUFFERED_PATH, get(echo3_buffered_upgrade)),
            None,
        ),
        Target::LiveOff | Target::LiveOn | Target::LiveOtelDown | Target::LiveOtelHang => {
            let live = build_live(target != Target::LiveOff, recorder);
            (fluxlive_demo::app(&live), Some(live))
        }
    };
    let otel = match (target, &live) {
        (Target::LiveOtelDown | Target::LiveOtelHang, Some(live)) => {
            let endpoint = bad_collector(target == Target::LiveOtelHang).await?;
            let config = fluxlive_otel::OtelConfig::default()
                .endpoint(&endpoint)
                .timeout(std::time::Duration::from_secs(1));
            Some(
                fluxlive_otel::attach(live.recorder(), config)
                    .map_err(|e| BenchError::Usage(format!("OTLP exporter: {e}")))?,
            )
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io("bind 127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("local_addr", e))?;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
    });
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(Running {
        target,
        addr,
        live,
        _otel: otel,
    })
}

/// A loopback "collector" that refuses connections (`hang == false`: a
/// port that was bound and released) or accepts them and never answers.
async fn bad_collector(hang: bool) -> Result<String, BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io("bind collector", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("collector local_addr", e))?;
    if hang {
        tokio::spawn(async move {
            // Hold every connection open without reading or answering (bounded).
            let mut held = Vec::new();
            while held.len() < 1024 {
                match listener.accept().await {
                    Ok((s, _)) => held.push(s),
                    Err(_) => break,
                }
            }
            std::future::pending::<()>().await;
        });
    } else {
        drop(listener);
    }
    Ok(format!("http://{addr}"))
}
