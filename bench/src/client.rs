//! A minimal app-channel client: connect, hello, mount, and the frames the
//! load generator sends and recognises.

use crate::error::BenchError;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client socket.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for any one frame; a server that stalls this long fails the run.
pub(crate) const FRAME_DEADLINE: Duration = Duration::from_secs(10);

/// Instance id the load generator mounts on each connection.
pub(crate) const INSTANCE_ID: &str = "c";

/// The fields of a server frame the load generator looks at. Everything
/// else is skipped by the parser without being built.
#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(borrow)]
    pub(crate) t: &'a str,
    #[serde(rename = "ref")]
    pub(crate) req: Option<u32>,
    /// The frames of a `batch` frame (clients that sent `caps: ["batch"]`).
    #[serde(default, borrow)]
    pub(crate) frames: Vec<Inner<'a>>,
}

/// One frame inside a `batch`.
#[derive(Deserialize)]
pub(crate) struct Inner<'a> {
    #[serde(borrow)]
    pub(crate) t: &'a str,
    #[serde(rename = "ref")]
    pub(crate) req: Option<u32>,
}

impl<'a> Head<'a> {
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// `(t, ref)` of this frame, or of each frame it batches, in order.
    pub(crate) fn each(&self) -> Vec<(&'a str, Option<u32>)> {
        if self.t == "batch" {
            self.frames.iter().map(|f| (f.t, f.req)).collect()
        } else {
            vec![(self.t, self.req)]
        }
    }
}

/// One `Counter.increment` call. The echo scenarios send this same text,
/// so both servers see frames of the same size.
pub(crate) fn call_frame(req: u32) -> String {
    format!(r#"{{"t":"call","ref":{req},"id":"{INSTANCE_ID}","method":"increment","args":[]}}"#)
}

/// Opens a WebSocket with a modest read buffer (the client's memory is not
/// what is measured, but thousands of 128 KiB defaults add up).
pub(crate) async fn connect(url: &str) -> Result<Ws, BenchError> {
    let cfg = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (ws, _) = tokio::time::timeout(
        FRAME_DEADLINE,
        tokio_tungstenite::connect_async_with_config(url, Some(cfg), true),
    )
    .await
    .map_err(|_| BenchError::Protocol(format!("connect {url}: timed out")))?
    .map_err(|e| BenchError::ws(format!("connect {url}"), e))?;
    Ok(ws)
}

/// Next text frame, within [`FRAME_DEADLINE`].
pub(crate) async fn recv_text(ws: &mut Ws) -> Result<String, BenchError> {
    // Bounded: control frames in between are few.
    for _ in 0..64 {
        let msg = tokio::time::timeout(FRAME_DEADLINE, ws.next())
            .await
            .map_err(|_| BenchError::Protocol("no frame before the deadline".into()))?
            .ok_or_else(|| BenchError::Protocol("socket closed".into()))?
            .map_err(|e| BenchError::ws("read", e))?;
        match msg {
            Message::Text(t) => return Ok(t.to_string()),
            Message::Close(_) => {
                return Err(BenchError::Protocol("server closed the socket".into()))
            }
            _ => {}
        }
    }
    Err(BenchError::Protocol("only control frames".into()))
}

/// Waits for a frame of type `t`, skipping others (bounded).
pub(crate) async fn expect(ws: &mut Ws, t: &str) -> Result<String, BenchError> {
    for _ in 0..1024 {
        let text = recv_text(ws).await?;
        let kinds = Head::parse(&text).map(|h| h.each()).unwrap_or_default();
        if kinds.iter().any(|(k, _)| *k == t) {
            return Ok(text);
        }
        if kinds.iter().any(|(k, _)| *k == "error") {
            return Err(BenchError::Protocol(format!("expected {t}, got {text}")));
        }
    }
    Err(BenchError::Protocol(format!("no {t} frame")))
}

pub(crate) async fn send(ws: &mut Ws, text: String) -> Result<(), BenchError> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| BenchError::ws("send", e))
}

/// `hello` → `welcome`. With `batch` the client announces `caps: ["batch"]`
/// as `live.js` always does, and the server may coalesce queued frames.
pub(crate) async fn hello(ws: &mut Ws, batch: bool) -> Result<(), BenchError> {
    let hello = if batch {
        r#"{"t":"hello","protocol":1,"caps":["batch"]}"#
    } else {
        r#"{"t":"hello","protocol":1}"#
    };
    send(ws, hello.to_owned()).await?;
    expect(ws, "welcome").await.map(|_| ())
}

/// Mounts a `Counter` with id `id`, using request `req`.
pub(crate) async fn mount_counter(ws: &mut Ws, req: u32, id: &str) -> Result<(), BenchError> {
    send(
        ws,
        format!(r#"{{"t":"mount","ref":{req},"type":"Counter","props":{{}},"id":"{id}"}}"#),
    )
    .await?;
    expect(ws, "mounted").await.map(|_| ())
}

/// One echo round trip, so an echo connection is fully set up.
pub(crate) async fn echo_once(ws: &mut Ws) -> Result<(), BenchError> {
    send(ws, call_frame(0)).await?;
    expect(ws, "call").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_read_from_every_server_frame_shape() {
        let reply = r#"{"t":"reply","ref":7,"id":"c","result":null}"#;
        let h = Head::parse(reply);
        assert_eq!(h.as_ref().map(|h| (h.t, h.req)), Some(("reply", Some(7))));
        let patch = r#"{"t":"patch","id":"c","base":1,"version":2,"ops":[{"op":"replace","path":"/count","value":2}]}"#;
        let h = Head::parse(patch);
        assert_eq!(h.as_ref().map(|h| (h.t, h.req)), Some(("patch", None)));
        assert!(Head::parse("not json").is_none());
        let batch = r#"{"t":"batch","frames":[{"t":"patch","id":"c","base":1,"version":2,"ops":[]},{"t":"event","id":"c","name":"x","data":{"t":"reply","ref":1}},{"t":"reply","ref":9,"id":"c","result":null}]}"#;
        let h = Head::parse(batch);
        assert_eq!(
            h.as_ref().map(Head::each),
            Some(vec![("patch", None), ("event", None), ("reply", Some(9))])
        );
    }

    #[test]
    fn the_call_frame_is_a_valid_client_frame() {
        let f: fluxlive::protocol::app::ClientFrame =
            serde_json::from_str(&call_frame(42)).unwrap_or_else(|e| panic!("{e}"));
        match f {
            fluxlive::protocol::app::ClientFrame::Call {
                req, id, method, ..
            } => {
                assert_eq!(
                    (req, id.as_str(), method.as_str()),
                    (42, INSTANCE_ID, "increment")
                );
            }
            other => panic!("not a call: {other:?}"),
        }
    }
}
