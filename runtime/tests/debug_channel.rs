//! The debug channel over a real WebSocket: auth, streaming, snapshot,
//! state at version, time travel, dispatch, redaction, export and replay.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use fluxlive::{DebugConfig, Recorder};
use fluxlive_protocol::session::text_parts;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use support::{builder, serve, Client, Server, DEADLINE};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "test-token-123";

async fn debug_server() -> Server {
    serve(
        builder()
            .recorder(Recorder::builder().history(50_000).build())
            .debug(DebugConfig::loopback().token(TOKEN))
            .build(),
    )
    .await
}

struct Panel {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_ref: u32,
    hello: Value,
    raw: Vec<String>,
}

impl Panel {
    async fn open(s: &Server) -> Panel {
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/__live/debug?token={TOKEN}", s.addr))
                .await
                .unwrap();
        let mut p = Panel {
            ws,
            next_ref: 1,
            hello: Value::Null,
            raw: Vec::new(),
        };
        p.hello = p.expect("hello").await;
        p
    }

    async fn send(&mut self, mut v: Value) -> u32 {
        let r = self.next_ref;
        self.next_ref += 1;
        v["ref"] = json!(r);
        self.ws.send(Message::text(v.to_string())).await.unwrap();
        r
    }

    async fn recv(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("debug frame before the deadline")
                .expect("open")
                .expect("ok");
            if let Message::Text(t) = m {
                self.raw.push(t.to_string());
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    async fn expect(&mut self, t: &str) -> Value {
        for _ in 0..100_000 {
            let f = self.recv().await;
            if f["t"] == t {
                return f;
            }
        }
        panic!("no {t}");
    }

    /// The answer to `req`, skipping record batches.
    async fn answer(&mut self, req: u32) -> Value {
        for _ in 0..100_000 {
            let f = self.recv().await;
            if f["ref"] == req {
                return f;
            }
        }
        panic!("no answer to {req}");
    }

    /// The next error, which must be `frame_too_large` (sent with no
    /// `ref`: the command was not read) and say `what`.
    async fn expect_too_large(&mut self, what: &str) {
        let e = self.expect("error").await;
        assert_eq!(e["code"], "frame_too_large", "{e}");
        assert!(e.get("ref").is_none_or(Value::is_null), "{e}");
        let message = e["message"].as_str().unwrap_or_default();
        assert!(message.contains(what), "{e}");
    }

    async fn request(&mut self, v: Value) -> Value {
        let r = self.send(v).await;
        self.answer(r).await
    }
}

async fn refused(s: &Server, query: &str, origin: Option<&str>) -> (u16, String) {
    let mut req = format!("ws://{}/__live/debug{query}", s.addr)
        .into_client_request()
        .unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => panic!("connection with {query} / {origin:?} was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (resp.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn refuses_missing_or_wrong_token_and_foreign_origins() {
    let s = debug_server().await;
    let (status, body) = refused(&s, "", None).await;
    assert_eq!(status, 401);
    assert!(body.contains("missing token"), "{body}");
    let (status, body) = refused(&s, "?token=nope", None).await;
    assert_eq!(status, 401);
    assert!(body.contains("wrong token"), "{body}");
    let (status, body) = refused(&s, &format!("?token={TOKEN}"), Some("http://evil.example")).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("origin http://evil.example is not allowed"),
        "{body}"
    );
    // Extension and same-origin pages are fine.
    for origin in ["chrome-extension://abcdef", &format!("http://{}", s.addr)] {
        let mut req = format!("ws://{}/__live/debug?token={TOKEN}", s.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        assert!(
            tokio_tungstenite::connect_async(req).await.is_ok(),
            "{origin}"
        );
    }
    // Off unless enabled.
    let off = serve(builder().build()).await;
    let res =
        tokio_tungstenite::connect_async(format!("ws://{}/__live/debug?token=x", off.addr)).await;
    assert!(res.is_err());
}

#[tokio::test]
async fn hello_then_every_action_and_diff_exactly_once_in_order() {
    let s = debug_server().await;
    let mut p = Panel::open(&s).await;
    assert_eq!(p.hello["protocol"], 1);
    assert!(p.hello["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "time_travel"));
    assert!(p.hello["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "Counter"));
    p.send(json!({"t": "subscribe", "filter": {}})).await;

    // Concurrent load from several clients, each with two instances.
    let mut tasks = Vec::new();
    for k in 0..6 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            for i in 0..2 {
                c.mount("Counter", json!({}), Some(&format!("c{k}-{i}"))).await;
            }
            for n in 0..40 {
                let id = format!("c{k}-{}", n % 2);
                c.call(&id, "increment", json!([])).await;
            }
            // The client reports renders for what it applied.
            c.send(json!({"t": "renders", "items": [
                {"id": format!("c{k}-0"), "version": 20, "apply_us": 5, "render_us": 7, "frame_us": 900}
            ]}))
            .await;
            c
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    s.live.recorder().flush().await;

    let mut actions: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    let mut diffs: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut renders = 0;
    let mut last_seq = 0u64;
    let mut dropped = 0u64;
    let mut gaps = 0u64;
    let want_actions = 6 * 40;
    while actions.values().map(Vec::len).sum::<usize>() < want_actions
        || diffs.values().map(Vec::len).sum::<usize>() < want_actions
        || renders < 6
    {
        let f = p.expect("records").await;
        for r in f["records"].as_array().unwrap() {
            let seq = r["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "sequence strictly increasing");
            if r["kind"] == "dropped" {
                dropped += r["count"].as_u64().unwrap();
            }
            gaps += seq - last_seq - 1;
            last_seq = seq;
            let iid = r["instance"]["iid"].as_u64().unwrap_or(0);
            match r["kind"].as_str().unwrap() {
                "action" => actions.entry(iid).or_default().push((
                    r["version_before"].as_u64().unwrap(),
                    r["version_after"].as_u64().unwrap(),
                )),
                "diff" => diffs
                    .entry(iid)
                    .or_default()
                    .push(r["version"].as_u64().unwrap()),
                "render" => renders += 1,
                _ => {}
            }
        }
    }
    assert!(
        gaps <= dropped,
        "every sequence gap is explained by a dropped record"
    );
    assert_eq!(dropped, 0);
    assert_eq!(gaps, 0);
    assert_eq!(actions.len(), 12);
    for (iid, a) in &actions {
        assert_eq!(a.len(), 20, "instance {iid}: each action exactly once");
        for (i, (before, after)) in a.iter().enumerate() {
            assert_eq!(*before, i as u64, "instance {iid}: in order");
            assert_eq!(*after, i as u64 + 1);
        }
        let d = &diffs[iid];
        assert_eq!(
            d,
            &(1..=20).collect::<Vec<u64>>(),
            "instance {iid}: diffs once, in order"
        );
    }
    assert_eq!(renders, 6);
    drop(clients);
}

#[tokio::test]
async fn snapshot_state_at_time_travel_dispatch_and_redaction() {
    let s = debug_server().await;
    let mut p = Panel::open(&s).await;
    let mut c = Client::connect(s.addr).await;
    c.mount(
        "Counter",
        json!({"start": 1, "api_token": "tok-SUPER-SECRET"}),
        Some("a"),
    )
    .await;
    for _ in 0..3 {
        c.call("a", "increment", json!([])).await;
    }
    c.call("a", "set_token", json!(["tok-ALSO-SECRET"])).await;
    s.live.recorder().flush().await;

    let snap = p.request(json!({"t": "snapshot"})).await;
    assert_eq!(snap["t"], "snapshot");
    let inst = &snap["instances"][0];
    assert_eq!(inst["id"], "a");
    assert_eq!(inst["type"], "Counter");
    assert_eq!(inst["version"], 4);
    assert_eq!(inst["state"]["count"], 4);
    assert_eq!(inst["state"]["api_token"], "[redacted]");
    assert!(inst["state"].get("secret_audit").is_none());
    let iid = inst["iid"].as_u64().unwrap();

    let st = p
        .request(json!({"t": "state_at", "iid": iid, "version": 1}))
        .await;
    assert_eq!(st["t"], "state");
    assert_eq!(st["state"]["count"], 2);
    let st = p
        .request(json!({"t": "state_at", "iid": iid, "version": 99}))
        .await;
    assert_eq!(st["t"], "error");
    assert_eq!(st["code"], "version_unavailable");

    // Time travel to version 1: the server state changes and the page gets it.
    let ack = p
        .request(json!({"t": "time_travel", "iid": iid, "version": 1}))
        .await;
    assert_eq!(ack["t"], "ack", "{ack}");
    let patch = c.expect("patch").await;
    assert_eq!(patch["version"], 5);
    assert!(patch["ops"].to_string().contains("\"value\":2"), "{patch}");
    let (r, _) = c.call("a", "noop", json!([])).await;
    assert_eq!(r["result"], 2);
    // The redacted field kept its live value (never restored from "[redacted]").
    let (r, _) = c.call("a", "noop", json!([])).await;
    assert_eq!(r["result"], 2);

    let ack = p.request(json!({"t": "back_to_live", "iid": iid})).await;
    assert_eq!(ack["t"], "ack", "{ack}");
    let (r, _) = c.call("a", "noop", json!([])).await;
    assert_eq!(r["result"], 4);

    // Dispatch as if the client had: the page sees the patch.
    let res = p
        .request(json!({"t": "dispatch", "iid": iid, "method": "add", "args": [10]}))
        .await;
    assert_eq!(res["t"], "dispatch_result");
    assert_eq!(res["result"], 14);
    let patch = c.expect("patch").await;
    assert_eq!(patch["ops"][0]["value"], 14);
    let res = p
        .request(json!({"t": "dispatch", "iid": iid, "method": "nope", "args": []}))
        .await;
    assert_eq!(res["t"], "error");
    assert_eq!(res["code"], "unknown_method");
    // An instance that is not live: named, with the method, as not_mounted.
    let res = p
        .request(json!({"t": "dispatch", "iid": 999_999, "method": "add", "args": [1]}))
        .await;
    assert_eq!(res["t"], "error", "{res}");
    assert_eq!(res["code"], "not_mounted", "{res}");
    assert_eq!(
        res["message"], "instance #999999 is not live (calling `add`)",
        "{res}"
    );

    // Highlight goes to the owning page.
    let ack = p
        .request(json!({"t": "highlight", "iid": iid, "on": true}))
        .await;
    assert_eq!(ack["t"], "ack");
    let h = c.expect("highlight").await;
    assert_eq!(h["id"], "a");
    assert_eq!(h["on"], true);
    // The page reports a pick.
    p.send(json!({"t": "picker", "on": true})).await;
    let pk = c.expect("picker").await;
    assert_eq!(pk["on"], true);
    c.send(json!({"t": "pick", "id": "a"})).await;
    let picked = p.expect("picked").await;
    assert_eq!(picked["iid"], iid);

    // Export: the whole history as a session file; no secret anywhere.
    let r = p.send(json!({"t": "export"})).await;
    let mut text = String::new();
    for _ in 0..10_000 {
        let f = p.recv().await;
        if f["t"] == "export_chunk" && f["ref"] == r {
            text.push_str(f["data"].as_str().unwrap());
            if f["last"] == true {
                break;
            }
        }
    }
    let session = fluxlive::protocol::session::Session::parse(&text).unwrap();
    assert!(session.records.len() > 5);
    p.send(json!({"t": "subscribe"})).await;
    s.live.recorder().flush().await;
    let _ = p.expect("records").await;
    for raw in p.raw.iter().chain(std::iter::once(&text)) {
        assert!(!raw.contains("SUPER-SECRET"), "secret leaked: {raw}");
        assert!(!raw.contains("ALSO-SECRET"), "secret leaked: {raw}");
        assert!(
            !raw.contains("server-only-increment"),
            "server-only leaked: {raw}"
        );
    }
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_never_slows_actions_and_learns_its_drops() {
    // A small history so that a stalled subscriber falls behind it.
    let s = serve(
        builder()
            .recorder(Recorder::builder().history(300).build())
            .debug(DebugConfig::loopback().token(TOKEN))
            .build(),
    )
    .await;
    // A subscriber (what each debug session holds) that reads nothing while
    // the app runs.
    let mut sub = s.live.recorder().subscribe(
        None,
        fluxlive::protocol::debug::Filter {
            kinds: vec![fluxlive::protocol::record::RecordKind::Action],
            ..Default::default()
        },
    );
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    // 3000 actions (pipelined 100 at a time) while the panel reads
    // nothing: every one completes.
    let mut replies = 0;
    for _ in 0..30 {
        for _ in 0..100 {
            let r = c.take_ref();
            c.send(json!({"t": "call", "ref": r, "id": "a", "method": "increment", "args": []}))
                .await;
        }
        let target = replies + 100;
        while replies < target {
            let f = c.recv().await;
            assert_ne!(f["t"], "error", "{f}");
            if f["t"] == "reply" {
                replies += 1;
            }
        }
    }
    s.live.recorder().flush().await;
    // Now the panel reads: it gets what the history still holds, plus a
    // dropped record that counts exactly what it missed.
    let mut seen = 0u64;
    let mut dropped = 0u64;
    let mut last_action_version = 0u64;
    while last_action_version < 3000 {
        let batch = tokio::time::timeout(DEADLINE, sub.recv())
            .await
            .unwrap()
            .unwrap();
        for r in batch {
            let r = serde_json::to_value(&r).unwrap();
            match r["kind"].as_str().unwrap() {
                "dropped" => {
                    assert_eq!(r["site"], "subscriber", "{r}");
                    dropped += r["count"].as_u64().unwrap();
                }
                "action" => {
                    seen += 1;
                    last_action_version = r["version_after"].as_u64().unwrap();
                }
                other => panic!("filter let through {other}"),
            }
        }
    }
    assert!(dropped > 0, "the stalled subscriber was told it lagged");
    assert!(seen < 3000);
    // Every missed record is accounted for: the history kept the rest.
    assert!(seen + dropped >= 3000, "seen {seen} + dropped {dropped}");
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn the_devtools_page_redirects_to_its_directory_and_explains_a_missing_build() {
    let dir = std::env::temp_dir().join(format!("fluxlive-no-panel-{}", std::process::id()));
    let s = serve(
        builder()
            .debug(DebugConfig::loopback().token(TOKEN).panel_dir(&dir))
            .build(),
    )
    .await;
    let resp = http_get(s.addr, &format!("/__live/devtools?token={TOKEN}")).await;
    assert!(resp.starts_with("HTTP/1.1 308"), "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains(&format!("location: /__live/devtools/?token={TOKEN}")),
        "{resp}"
    );
    let resp = http_get(s.addr, "/__live/devtools/").await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.contains("cargo xtask panel"), "{resp}");
    let resp = http_get(s.addr, "/__live/devtools/..%2Fsecret").await;
    assert!(!resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[tokio::test]
async fn export_answers_when_nothing_new_happens() {
    let s = debug_server().await;
    let mut p = Panel::open(&s).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    c.call("a", "increment", json!([])).await;
    // Repeated exports with no new events in between must each finish.
    for _ in 0..20 {
        let r = p.send(json!({"t": "export"})).await;
        loop {
            let f = p.recv().await;
            if f["t"] == "export_chunk" && f["ref"] == r && f["last"] == true {
                break;
            }
        }
    }
}

#[tokio::test]
async fn export_in_another_format_when_the_app_offers_one() {
    let s = serve(
        builder()
            .recorder(Recorder::builder().build())
            .debug(DebugConfig::loopback().token(TOKEN))
            .export_format("count", |session| {
                Ok(format!("{} records", session.records.len()))
            })
            .build(),
    )
    .await;
    let mut p = Panel::open(&s).await;
    let caps = p.hello["capabilities"].as_array().unwrap().clone();
    assert!(caps.iter().any(|c| c == "export:count"), "{caps:?}");
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    let r = p.send(json!({"t": "export", "format": "count"})).await;
    let chunk = loop {
        let f = p.recv().await;
        if f["ref"] == r {
            break f;
        }
    };
    assert_eq!(chunk["t"], "export_chunk", "{chunk}");
    assert!(chunk["data"].as_str().unwrap().ends_with(" records"));
    let e = p.request(json!({"t": "export", "format": "nope"})).await;
    assert_eq!(e["code"], "bad_frame");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("\"nope\"") && msg.contains("jsonl, count"),
        "{msg}"
    );
}

#[tokio::test]
async fn versions_made_while_paused_can_still_be_rebuilt_after_resume() {
    let s = debug_server().await;
    let mut p = Panel::open(&s).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    c.call("a", "increment", json!([])).await; // v1, recorded
    assert_eq!(p.request(json!({"t": "pause"})).await["t"], "ack");
    c.call("a", "increment", json!([])).await; // v2, not recorded
    assert_eq!(p.request(json!({"t": "resume"})).await["t"], "ack");
    c.call("a", "increment", json!([])).await; // v3: brings a snapshot
    s.live.recorder().flush().await;
    let iid = p.request(json!({"t": "snapshot"})).await["instances"][0]["iid"].clone();
    let st = p
        .request(json!({"t": "state_at", "iid": iid, "version": 3}))
        .await;
    assert_eq!(st["t"], "state", "{st}");
    assert_eq!(st["state"]["count"], 3);
    let st = p
        .request(json!({"t": "state_at", "iid": iid, "version": 1}))
        .await;
    assert_eq!(st["state"]["count"], 1);
}

/// The whole export of `p`'s runtime, joined from its chunks.
async fn export_text(p: &mut Panel) -> String {
    let r = p.send(json!({"t": "export"})).await;
    let mut text = String::new();
    for _ in 0..100_000 {
        let f = p.recv().await;
        if f["t"] == "export_chunk" && f["ref"] == r {
            text.push_str(f["data"].as_str().unwrap());
            if f["last"] == true {
                return text;
            }
        }
    }
    panic!("export did not end");
}

#[tokio::test]
async fn oversized_commands_are_refused_by_name_and_a_large_session_replays_in_parts() {
    let s = serve(
        builder()
            .recorder(Recorder::builder().history(50_000).build())
            .debug(DebugConfig::loopback().token(TOKEN).max_frame(4096))
            .build(),
    )
    .await;
    let mut p = Panel::open(&s).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({"start": 1}), Some("a")).await;
    for _ in 0..200 {
        c.call("a", "increment", json!([])).await;
    }
    s.live.recorder().flush().await;
    let text = export_text(&mut p).await;
    assert!(text.len() > 8 * 4096, "{} bytes", text.len());

    // Over max_frame but under the transport's limit: an error, and the
    // session goes on.
    p.send(json!({"t": "replay", "session": "x".repeat(10_000)}))
        .await;
    p.expect_too_large("over the 4096-byte limit").await;

    // The session file in parts under the limit replays like the recording.
    let r = p.next_ref;
    p.next_ref += 1;
    let parts = text_parts(&text, 1024);
    for (i, part) in parts.iter().enumerate() {
        let more = i + 1 < parts.len();
        let cmd = json!({"t": "replay", "ref": r, "session": part, "more": more});
        p.ws.send(Message::text(cmd.to_string())).await.unwrap();
    }
    let rep = p.answer(r).await;
    assert_eq!(rep["t"], "replay", "{rep}");
    assert_eq!(rep["report"]["actions"], 200, "{rep}");
    assert!(rep["report"]["divergence"].is_null(), "{rep}");

    // Over the transport's limit (4 × max_frame): the reason, then close 1009.
    p.send(json!({"t": "replay", "session": "x".repeat(100_000)}))
        .await;
    p.expect_too_large("16384-byte transport limit").await;
    let close = tokio::time::timeout(DEADLINE, p.ws.next())
        .await
        .expect("close before the deadline");
    match close {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1009, "{f:?}"),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    // The app lives on.
    let (r, others) = c.call("a", "increment", json!([])).await;
    assert_eq!(r["t"], "reply", "{r}");
    let patch = others.iter().find(|f| f["t"] == "patch").expect("a patch");
    assert_eq!(patch["ops"][0]["value"], 202, "{patch}");
}
