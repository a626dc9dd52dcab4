//! Components that talk, over real sockets: shared instances, the event
//! bus, dependencies, batching, idempotency keys, signed rehydration,
//! server-side debounce and SSR.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use fluxlive::{live_component, Ctx, Live, LiveBuilder, Render};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use support::{eventually, serve, Client};

#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Chat {
    messages: Vec<String>,
}

#[live_component(shared)]
impl Chat {
    #[action]
    fn post(&mut self, text: String, ctx: &mut Ctx) -> usize {
        self.messages.push(text.clone());
        ctx.broadcast("chat-posted", json!({ "text": text }));
        self.messages.len()
    }
}

#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Feed {
    seen: Vec<String>,
    pings: u32,
}

#[live_component]
impl Feed {
    fn on_mount(&mut self, ctx: &mut Ctx) {
        ctx.subscribe("chat-posted", "on_posted").unwrap();
    }

    #[handler]
    fn on_posted(&mut self, data: Value) {
        self.seen
            .push(data["text"].as_str().unwrap_or("").to_owned());
    }

    #[action]
    fn ping_sibling(&mut self, target: String, ctx: &mut Ctx) {
        self.pings += 1;
        ctx.emit_to(target, "pinged", json!({ "from": ctx.id() }));
    }

    #[action]
    fn bad_subscribe(&mut self, ctx: &mut Ctx) -> Result<(), fluxlive::BusError> {
        ctx.subscribe("x", "not_a_handler")
    }
}

#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Num {
    n: i64,
}

#[live_component]
impl Num {
    #[action]
    fn set(&mut self, n: i64) {
        self.n = n;
    }
}

/// Mirrors another instance (`Num` or `Mirror`) by dependency.
#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Mirror {
    copy: i64,
}

#[live_component]
impl Mirror {
    #[action]
    fn follow(&mut self, target: String, ctx: &mut Ctx) -> Result<(), fluxlive::BusError> {
        ctx.depend_on(&target, "on_change")
    }

    #[handler]
    fn on_change(&mut self, state: Value, _version: u64) {
        self.copy = state["n"]
            .as_i64()
            .or_else(|| state["copy"].as_i64())
            .unwrap_or(0);
    }
}

/// Saves (server-side debounce) after typing stops.
#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Draft {
    text: String,
    saves: u32,
    throttled_hits: u32,
}

#[live_component]
impl Draft {
    #[action]
    fn typed(&mut self, text: String, ctx: &mut Ctx) {
        self.text = text;
        if ctx.throttle("hits", Duration::from_secs(3600)) {
            self.throttled_hits += 1;
        }
        ctx.debounce("save", Duration::from_millis(300), "save")
            .unwrap();
    }

    #[handler]
    fn save(&mut self) {
        self.saves += 1;
    }
}

#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Badge {
    label: String,
    clicks: u32,
}

#[derive(Deserialize, Serialize, Default)]
struct BadgeProps {
    label: String,
}

#[live_component]
impl Badge {
    fn mount(p: BadgeProps) -> Self {
        Badge {
            label: p.label,
            clicks: 0,
        }
    }

    #[action]
    fn click(&mut self) -> u32 {
        self.clicks += 1;
        self.clicks
    }
}

impl Render for Badge {
    fn render(&self) -> String {
        format!(
            r#"<button data-action="click">{} <span data-role="clicks">{}</span></button>"#,
            self.label, self.clicks
        )
    }
}

fn builder() -> LiveBuilder {
    support::builder()
        .component::<Chat>()
        .component::<Feed>()
        .component::<Num>()
        .component::<Mirror>()
        .component::<Draft>()
        .component::<Badge>()
        .secret(b"test-secret".to_vec())
}

#[tokio::test]
async fn shared_instance_is_one_instance_for_every_client() {
    let s = serve(builder().build()).await;
    let mut a = Client::connect(s.addr).await;
    let mut b = Client::connect(s.addr).await;
    let ma = a.mount("Chat", json!({}), Some("room-1")).await;
    let mb = b.mount("Chat", json!({}), Some("room-1")).await;
    assert_eq!(ma["shared"], true);
    assert_eq!(s.live.stats().instances, 1);
    let (r, _) = a.call("room-1", "post", json!(["hello from a"])).await;
    assert_eq!(r["result"], 1);
    let p = b.expect("patch").await;
    assert_eq!(p["ops"][0]["value"], "hello from a");
    let (r, _) = b.call("room-1", "post", json!(["hi from b"])).await;
    assert_eq!(r["result"], 2);
    let p = a.expect("patch").await;
    assert_eq!(p["version"], 2);
    assert_eq!(mb["version"], 0);
    // No key: refused clearly.
    let e = a.mount("Chat", json!({}), None).await;
    assert_eq!(e["code"], "bad_frame");
    assert!(e["message"].as_str().unwrap().contains("shared"));
    // It lives while anyone holds it.
    let r = a.take_ref();
    a.send(json!({"t": "unmount", "ref": r, "id": "room-1"}))
        .await;
    assert_eq!(a.answer(r).await.0["t"], "unmounted");
    assert_eq!(s.live.stats().instances, 1);
    let r = b.take_ref();
    b.send(json!({"t": "unmount", "ref": r, "id": "room-1"}))
        .await;
    assert_eq!(b.answer(r).await.0["t"], "unmounted");
    assert!(eventually(|| s.live.stats().instances == 0).await);
}

#[tokio::test]
async fn a_thousand_clients_get_every_patch_with_one_encoding_per_change() {
    let s = serve(builder().outbox(4096).build()).await;
    let mut clients = Vec::new();
    for _ in 0..1000 {
        let mut c = Client::connect(s.addr).await;
        c.mount("Chat", json!({}), Some("big-room")).await;
        clients.push(c);
    }
    assert_eq!(s.live.stats().instances, 1);
    let before = s.live.stats().patches_encoded;
    for i in 0..5 {
        let (r, _) = clients[i * 100]
            .call("big-room", "post", json!([format!("m{i}")]))
            .await;
        assert_eq!(r["result"], i + 1);
    }
    assert_eq!(
        s.live.stats().patches_encoded - before,
        5,
        "one encoding per change"
    );
    for (k, c) in clients.iter_mut().enumerate() {
        let patches = |c: &Client| {
            c.raw
                .iter()
                .filter_map(|t| serde_json::from_str::<Value>(t).ok())
                .filter(|f| f["t"] == "patch")
                .map(|f| f["version"].as_u64().unwrap())
                .collect::<Vec<_>>()
        };
        while patches(c).len() < 5 {
            c.recv().await;
        }
        assert_eq!(
            patches(c),
            vec![1, 2, 3, 4, 5],
            "client {k} got every patch in order"
        );
    }
}

#[tokio::test]
async fn broadcast_subscribe_and_emit_to() {
    let s = serve(builder().build()).await;
    let mut a = Client::connect(s.addr).await;
    let mut b = Client::connect(s.addr).await;
    a.mount("Feed", json!({}), Some("feed")).await;
    a.mount("Feed", json!({}), Some("feed2")).await;
    b.mount("Chat", json!({}), Some("room")).await;
    b.call("room", "post", json!(["news"])).await;
    // Both subscribed feeds on another connection ran their handler.
    let mut seen = 0;
    while seen < 2 {
        let f = a.recv().await;
        if f["t"] == "patch" {
            assert_eq!(f["ops"][0]["value"], "news");
            seen += 1;
        }
    }
    // Handlers are not client-callable.
    let (e, _) = a.call("feed", "on_posted", json!([{}])).await;
    assert_eq!(e["code"], "unknown_method");
    // emit_to a sibling on the same connection.
    let (_, before) = a.call("feed", "ping_sibling", json!(["feed2"])).await;
    let ev = before
        .iter()
        .find(|f| f["t"] == "event")
        .expect("the event precedes the reply")
        .clone();
    assert_eq!(ev["id"], "feed2");
    assert_eq!(ev["name"], "pinged");
    assert_eq!(ev["data"]["from"], "feed");
    let (e, _) = a.call("feed", "bad_subscribe", json!([])).await;
    assert_eq!(e["code"], "action_failed");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("no handler `not_a_handler`"));
    // Subscriptions end with the instance.
    let r = a.take_ref();
    a.send(json!({"t": "unmount", "ref": r, "id": "feed"}))
        .await;
    a.answer(r).await;
    b.call("room", "post", json!(["later"])).await;
    let p = a.expect("patch").await;
    assert_eq!(p["id"], "feed2", "only the live subscriber reacts");
}

#[tokio::test]
async fn dependencies_react_and_cycles_are_refused() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Num", json!({}), Some("num")).await;
    c.mount("Mirror", json!({}), Some("m1")).await;
    c.mount("Mirror", json!({}), Some("m2")).await;
    let (r, _) = c.call("m1", "follow", json!(["num"])).await;
    assert_eq!(r["t"], "reply");
    let (r, _) = c.call("m2", "follow", json!(["m1"])).await;
    assert_eq!(r["t"], "reply");
    c.call("num", "set", json!([42])).await;
    let mut got = std::collections::HashMap::new();
    while got.len() < 2 {
        let f = c.recv().await;
        if f["t"] == "patch" && f["id"] != "num" {
            got.insert(
                f["id"].as_str().unwrap().to_owned(),
                f["ops"][0]["value"].clone(),
            );
        }
    }
    assert_eq!(got["m1"], 42);
    assert_eq!(got["m2"], 42, "chains propagate");
    // m1 → num is fine, but num ← m1 ← m2 ← m1 would loop: refused.
    let (e, _) = c.call("m1", "follow", json!(["m2"])).await;
    assert_eq!(e["code"], "action_failed");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("dependency cycle refused"), "{msg}");
    assert!(
        msg.contains("Mirror `m1`") && msg.contains("Mirror `m2`"),
        "{msg}"
    );
    let (e, _) = c.call("m1", "follow", json!(["nobody"])).await;
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("no instance `nobody`"));
}

#[tokio::test]
async fn server_side_debounce_and_throttle() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Draft", json!({}), Some("d")).await;
    // Pipelined, so the ten calls land well inside the debounce window.
    for i in 0..10 {
        let r = c.take_ref();
        c.send(
            json!({"t": "call", "ref": r, "id": "d", "method": "typed", "args": [format!("t{i}")]}),
        )
        .await;
    }
    // Exactly one save after typing stops.
    let mut saves = 0;
    for _ in 0..1000 {
        let f = c.recv().await;
        if f["t"] == "patch" {
            if let Some(op) = f["ops"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["path"] == "/saves")
            {
                saves = op["value"].as_u64().unwrap();
                break;
            }
        }
    }
    assert_eq!(saves, 1);
    c.send(json!({"t": "sync", "id": "d"})).await;
    let st = c.expect("state").await;
    assert_eq!(st["state"]["saves"], 1);
    assert_eq!(st["state"]["throttled_hits"], 1, "throttle let one through");
}

#[tokio::test]
async fn batches_in_and_out_and_batch_call() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect_with(
        s.addr,
        json!({"t": "hello", "protocol": 1, "caps": ["batch"]}),
    )
    .await;
    c.mount("Num", json!({}), Some("a")).await;
    c.mount("Num", json!({}), Some("b")).await;
    // One client frame carrying several calls, applied in order.
    c.send(json!({"t": "batch", "frames": [
        {"t": "call", "ref": 100, "id": "a", "method": "set", "args": [1]},
        {"t": "call", "ref": 101, "id": "a", "method": "set", "args": [2]},
        {"t": "call", "ref": 102, "id": "b", "method": "set", "args": [3]}
    ]}))
    .await;
    let mut frames = Vec::new();
    let mut batches = 0;
    while !frames.iter().any(|f: &Value| f["ref"] == 102) {
        let f = c.recv().await;
        if f["t"] == "batch" {
            batches += 1;
            frames.extend(f["frames"].as_array().unwrap().iter().cloned());
        } else {
            frames.push(f);
        }
    }
    let order: Vec<String> = frames
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["t"].as_str().unwrap(),
                f["ref"]
                    .as_u64()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| f["version"].to_string())
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "patch:1",
            "reply:100",
            "patch:2",
            "reply:101",
            "patch:1",
            "reply:102"
        ]
    );
    assert!(batches >= 1, "outgoing frames were coalesced at least once");

    // batch_call: several instances, one answer, errors in place.
    c.send(json!({"t": "batch_call", "ref": 7, "calls": [
        {"id": "a", "method": "set", "args": [10]},
        {"id": "nope", "method": "set", "args": [1]},
        {"id": "b", "method": "set", "args": ["x"]},
        {"id": "b", "method": "set", "args": [30]}
    ]}))
    .await;
    let reply = loop {
        let f = c.recv().await;
        let found = if f["t"] == "batch" {
            f["frames"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["t"] == "batch_reply")
                .cloned()
        } else if f["t"] == "batch_reply" {
            Some(f)
        } else {
            None
        };
        if let Some(r) = found {
            break r;
        }
    };
    assert_eq!(reply["ref"], 7);
    let res = reply["results"].as_array().unwrap();
    assert_eq!(res.len(), 4);
    assert_eq!(res[0], json!({"ok": null}));
    assert_eq!(res[1]["error"]["code"], "not_mounted");
    assert_eq!(res[2]["error"]["code"], "bad_args");
    assert_eq!(res[3], json!({"ok": null}));
}

#[tokio::test]
async fn idempotency_keys_apply_a_retried_call_once() {
    let s = serve(builder().grace(Duration::from_secs(30)).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    let session = c.welcome["session"].clone();
    let token = c.welcome["token"].clone();
    let mut applied_keys = 0u32;
    // Kill the socket mid-stream many times while calls are in flight;
    // after each reconnect, resend every call whose answer was not seen.
    let mut next_key = 0u32;
    let mut unanswered: Vec<(u32, String)> = Vec::new();
    for round in 0..20 {
        for _ in 0..5 {
            let r = c.take_ref();
            let key = format!("k{next_key}");
            next_key += 1;
            c.send(
                json!({"t": "call", "ref": r, "id": "a", "method": "add", "args": [1], "key": key}),
            )
            .await;
            unanswered.push((r, key));
        }
        // Read a few answers, then drop the socket without reading the rest.
        let take = round % 4;
        for _ in 0..take {
            let f = c.recv().await;
            if f["t"] == "reply" {
                unanswered.retain(|(r, _)| f["ref"] != *r);
            }
        }
        c.close().await;
        c = Client::connect_with(
            s.addr,
            json!({"t": "hello", "protocol": 1, "resume": {"session": session, "token": token}}),
        )
        .await;
        assert_eq!(c.welcome["resumed"], true);
        let pending = std::mem::take(&mut unanswered);
        for (_, key) in &pending {
            let r = c.take_ref();
            c.send(
                json!({"t": "call", "ref": r, "id": "a", "method": "add", "args": [1], "key": key}),
            )
            .await;
            let (ans, _) = c.answer(r).await;
            assert_eq!(ans["t"], "reply", "{ans}");
            applied_keys += 1;
        }
        let _ = applied_keys;
    }
    let (r, _) = c.call("a", "noop", json!([])).await;
    assert_eq!(r["result"], next_key, "every call applied exactly once");
}

#[tokio::test]
async fn signed_state_rebuilds_an_instance_the_server_lost() {
    let s1 = serve(builder().build()).await;
    let mut c = Client::connect(s1.addr).await;
    let m = c.mount("Counter", json!({"start": 5}), Some("a")).await;
    assert!(m["sig"].as_str().unwrap().starts_with("v1."));
    let (_, before) = c.call("a", "add", json!([3])).await;
    let patch = before.iter().find(|f| f["t"] == "patch").unwrap().clone();
    let sig = patch["sig"].as_str().unwrap().to_owned();
    let state = json!({"count": 8, "api_token": "tok-SECRET-123"});
    assert!(!sig.is_empty());
    c.close().await;

    // "Restart": a new runtime with the same secret on another port.
    let s2 = serve(builder().build()).await;
    let mut c = Client::connect(s2.addr).await;
    let snap = json!({"version": 1, "state": state, "sig": sig});
    let r = c.take_ref();
    c.send(json!({"t": "mount", "ref": r, "type": "Counter", "props": {"start": 5}, "id": "a", "snapshot": snap}))
        .await;
    let (m, _) = c.answer(r).await;
    assert_eq!(m["t"], "mounted", "{m}");
    assert_eq!(m["rehydrated"], true);
    assert_eq!(m["version"], 1);
    assert_eq!(m["state"]["count"], 8);
    let (r, _) = c.call("a", "add", json!([1])).await;
    assert_eq!(
        r["result"], 9,
        "the next call works on the rehydrated state"
    );

    // Tampered, other type, other key: refused with bad_snapshot.
    let mut tampered = snap.clone();
    tampered["state"]["count"] = json!(1000);
    let e = c.mount_with_snapshot("Counter", "b", tampered).await;
    assert_eq!(e["code"], "bad_snapshot");
    assert!(
        e["message"].as_str().unwrap().contains("does not match"),
        "{e}"
    );
    let e = c.mount_with_snapshot("Num", "c", snap.clone()).await;
    assert_eq!(e["code"], "bad_snapshot");
    let s3 = serve(builder().secret(b"other".to_vec()).build()).await;
    let mut c3 = Client::connect(s3.addr).await;
    let e = c3.mount_with_snapshot("Counter", "a", snap.clone()).await;
    assert_eq!(e["code"], "bad_snapshot");
    // A fresh mount still works after a refusal.
    let m = c3.mount("Counter", json!({"start": 5}), Some("a")).await;
    assert_eq!(m["state"]["count"], 5);
    // Server-only fields are never in what the client holds.
    for raw in &c.raw {
        assert!(!raw.contains("secret_audit"), "{raw}");
    }
}

#[tokio::test]
async fn ssr_renders_first_and_the_client_attaches_without_a_remount() {
    let rec = fluxlive::Recorder::builder().build();
    let s = serve(builder().recorder(rec.clone()).build()).await;
    let mut page = s.live.ssr();
    let html = page
        .mount::<Badge>(
            "badge",
            BadgeProps {
                label: "Likes".into(),
            },
        )
        .await
        .unwrap();
    assert!(html.contains(r#"data-live-id="badge""#), "{html}");
    assert!(
        html.contains(r#"Likes <span data-role="clicks">0</span>"#),
        "{html}"
    );
    let hydration = page.hydration();
    let json_text = hydration
        .trim_start_matches(r#"<script type="application/json" id="fluxlive-ssr">"#)
        .trim_end_matches("</script>");
    let data: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(data["instances"][0]["state"]["clicks"], 0);
    let mut c = Client::connect_with(
        s.addr,
        json!({"t": "hello", "protocol": 1, "resume": {"session": data["session"], "token": data["token"]}}),
    )
    .await;
    assert_eq!(c.welcome["resumed"], true);
    assert_eq!(c.welcome["instances"][0]["id"], "badge");
    let (r, before) = c.call("badge", "click", json!([])).await;
    assert_eq!(r["result"], 1);
    assert!(before.iter().any(|f| f["t"] == "patch"));
    rec.flush().await;
    let mounts = rec
        .export()
        .records
        .iter()
        .filter(|r| r.body.kind() == fluxlive::protocol::record::RecordKind::Mount)
        .count();
    assert_eq!(mounts, 1, "attached, not remounted");
    let _ = Live::builder();
}
