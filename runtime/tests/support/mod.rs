//! A real server on an ephemeral loopback port and a raw WebSocket client.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use fluxlive::{live_component, Ctx, Live, LiveBuilder};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
pub struct Counter {
    pub count: i64,
    #[live(server_only)]
    #[serde(default)]
    pub secret_audit: Vec<String>,
    #[live(redact)]
    #[serde(default)]
    pub api_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CounterProps {
    pub start: i64,
    pub api_token: Option<String>,
}

#[derive(Debug, thiserror::Error, Serialize)]
#[error("too big: {n} > 100")]
pub struct TooBig {
    pub n: i64,
}

#[live_component]
impl Counter {
    fn mount(props: CounterProps) -> Self {
        Counter {
            count: props.start,
            secret_audit: vec!["mounted-server-only-marker".into()],
            api_token: props.api_token.unwrap_or_else(|| "tok-SECRET-123".into()),
        }
    }

    #[action]
    fn increment(&mut self, ctx: &mut Ctx) {
        self.count += 1;
        self.secret_audit.push("server-only-increment".into());
        ctx.emit("count-changed", json!({ "count": self.count }));
    }

    #[action]
    fn add(&mut self, n: i64) -> Result<i64, TooBig> {
        if n > 100 {
            self.count += n; // rolled back
            return Err(TooBig { n });
        }
        self.count += n;
        Ok(self.count)
    }

    #[action]
    fn noop(&self) -> i64 {
        self.count
    }

    #[action]
    fn set_token(&mut self, #[redact] token: String) {
        self.api_token = token;
    }

    #[action]
    async fn slow_add(&mut self, n: i64, ms: u64) -> i64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.count += n;
        self.count
    }

    #[action]
    fn explode(&mut self) {
        self.count = -999;
        panic!("boom from the test");
    }

    #[action]
    async fn explode_later(&mut self) {
        self.count = -999;
        tokio::task::yield_now().await;
        panic!("async boom");
    }

    /// Not an action: must not be callable.
    pub fn internal_reset(&mut self) {
        self.count = 0;
    }
}

/// A component with hooks and no props.
#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
pub struct Hooked {
    pub mounted: bool,
    pub label: String,
}

#[derive(Deserialize, Default)]
pub struct HookedProps {
    #[serde(default)]
    pub label: String,
}

#[live_component]
impl Hooked {
    fn mount(props: HookedProps, _ctx: &mut Ctx) -> Self {
        Hooked {
            mounted: false,
            label: props.label,
        }
    }

    async fn on_mount(&mut self, _ctx: &mut Ctx) {
        tokio::task::yield_now().await;
        self.mounted = true;
    }

    fn on_props_changed(&mut self, props: HookedProps, _ctx: &mut Ctx) {
        self.label = props.label;
    }

    #[action]
    fn get(&self) -> String {
        self.label.clone()
    }
}

pub fn builder() -> LiveBuilder {
    Live::builder().component::<Counter>().component::<Hooked>()
}

pub struct Server {
    pub live: Live,
    pub addr: SocketAddr,
}

pub async fn serve(live: Live) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().merge(live.router());
    tokio::spawn(async move {
        fluxlive::serve(listener, app).await.unwrap();
    });
    Server { live, addr }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub next_ref: u32,
    pub welcome: Value,
    /// Every text frame received, raw, for leak checks.
    pub raw: Vec<String>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Self::connect_with(addr, json!({"t": "hello", "protocol": 1})).await
    }

    pub async fn connect_with(addr: SocketAddr, hello: Value) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/__live/ws"))
            .await
            .unwrap();
        let mut c = Client {
            ws,
            next_ref: 1,
            welcome: Value::Null,
            raw: Vec::new(),
        };
        c.send(hello).await;
        c.welcome = c.expect("welcome").await;
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_text(&mut self, s: String) {
        self.ws.send(Message::text(s)).await.unwrap();
    }

    /// Next text frame, with a deadline.
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("no frame before the deadline")
                .expect("socket closed")
                .expect("socket error");
            if let Message::Text(t) = msg {
                self.raw.push(t.to_string());
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// Waits for the next frame of type `t`, returning it; other frames are kept in `raw`.
    pub async fn expect(&mut self, t: &str) -> Value {
        for _ in 0..10_000 {
            let f = self.recv().await;
            if f["t"] == t {
                return f;
            }
        }
        panic!("no {t} frame");
    }

    /// Waits for the answer (reply or error) to `req`, collecting frames before it.
    pub async fn answer(&mut self, req: u32) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        for _ in 0..10_000 {
            let f = self.recv().await;
            if f["ref"] == req
                && (f["t"] == "reply"
                    || f["t"] == "error"
                    || f["t"] == "mounted"
                    || f["t"] == "unmounted")
            {
                return (f, before);
            }
            before.push(f);
        }
        panic!("no answer to ref {req}");
    }

    pub async fn mount(&mut self, ty: &str, props: Value, id: Option<&str>) -> Value {
        let r = self.take_ref();
        let mut f = json!({"t": "mount", "ref": r, "type": ty, "props": props});
        if let Some(id) = id {
            f["id"] = json!(id);
        }
        self.send(f).await;
        self.answer(r).await.0
    }

    pub async fn call(&mut self, id: &str, method: &str, args: Value) -> (Value, Vec<Value>) {
        let r = self.take_ref();
        self.send(json!({"t": "call", "ref": r, "id": id, "method": method, "args": args}))
            .await;
        self.answer(r).await
    }

    pub async fn mount_with_snapshot(&mut self, ty: &str, id: &str, snapshot: Value) -> Value {
        let r = self.take_ref();
        self.send(json!({"t": "mount", "ref": r, "type": ty, "props": {}, "id": id, "snapshot": snapshot}))
            .await;
        self.answer(r).await.0
    }

    pub fn take_ref(&mut self) -> u32 {
        let r = self.next_ref;
        self.next_ref += 1;
        r
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Polls `f` until it is true or the deadline passes.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f()
}
