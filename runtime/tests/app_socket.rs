//! The app channel over a real WebSocket against a real server.
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{builder, eventually, serve, Client};

#[tokio::test]
async fn mount_call_patch_reply_in_order() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect(s.addr).await;
    assert_eq!(c.welcome["protocol"], 1);
    assert_eq!(c.welcome["resumed"], false);
    let m = c.mount("Counter", json!({"start": 5}), Some("a")).await;
    assert_eq!(m["t"], "mounted");
    assert_eq!(m["version"], 0);
    assert_eq!(m["state"]["count"], 5);

    let (reply, before) = c.call("a", "add", json!([3])).await;
    assert_eq!(reply["t"], "reply");
    assert_eq!(reply["result"], 8);
    // The patch comes before the reply and names base → version.
    let patch = before.iter().find(|f| f["t"] == "patch").expect("a patch");
    assert_eq!(patch["id"], "a");
    assert_eq!(patch["base"], 0);
    assert_eq!(patch["version"], 1);
    // Minimal: one replace of /count.
    assert_eq!(
        patch["ops"],
        json!([{"op": "replace", "path": "/count", "value": 8}])
    );

    let (_, before) = c.call("a", "increment", json!([])).await;
    let kinds: Vec<&str> = before.iter().map(|f| f["t"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["patch", "event"]);
    assert_eq!(before[0]["base"], 1);
    assert_eq!(before[0]["version"], 2);
    assert_eq!(before[1]["name"], "count-changed");
    assert_eq!(before[1]["data"]["count"], 9);
}

#[tokio::test]
async fn an_action_that_changes_nothing_sends_no_patch() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    let (reply, before) = c.call("a", "noop", json!([])).await;
    assert_eq!(reply["result"], 0);
    assert!(before.is_empty(), "no frame before the reply: {before:?}");
    // And the version did not move: the next change is base 0.
    let (_, before) = c.call("a", "increment", json!([])).await;
    assert_eq!(before[0]["base"], 0);
}

#[tokio::test]
async fn instances_are_isolated_on_one_page_and_across_connections() {
    let s = serve(builder().build()).await;
    let mut c1 = Client::connect(s.addr).await;
    let mut c2 = Client::connect(s.addr).await;
    let a = c1.mount("Counter", json!({"start": 1}), None).await;
    let b = c1.mount("Counter", json!({"start": 1}), None).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let b_id = b["id"].as_str().unwrap().to_owned();
    assert_ne!(a_id, b_id);
    // The same client id on another connection is another instance.
    let other = c2.mount("Counter", json!({"start": 1}), Some(&a_id)).await;
    assert_eq!(other["t"], "mounted");

    let (r, before) = c1.call(&a_id, "add", json!([10])).await;
    assert_eq!(r["result"], 11);
    assert!(before.iter().all(|f| f["id"] == a_id.as_str()));
    let (r, _) = c1.call(&b_id, "noop", json!([])).await;
    assert_eq!(r["result"], 1, "sibling unchanged");
    let (r, _) = c2.call(&a_id, "noop", json!([])).await;
    assert_eq!(r["result"], 1, "other connection's instance unchanged");

    // c2 cannot reach c1's b: it was never mounted there.
    let (e, _) = c2.call(&b_id, "increment", json!([])).await;
    assert_eq!(e["t"], "error");
    assert_eq!(e["code"], "not_mounted");
    assert!(e["message"].as_str().unwrap().contains(&b_id));
    let (r, _) = c1.call(&b_id, "noop", json!([])).await;
    assert_eq!(r["result"], 1, "c1's b untouched by c2's attempt");
}

#[tokio::test]
async fn concurrent_calls_on_one_instance_never_race() {
    // A mailbox that holds every pipelined call: this test is about order,
    // not about overload (see `a_full_mailbox_answers_overloaded`).
    let s = serve(builder().mailbox(2048).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("shared")).await;
    let iid = s.live.stats().total_mounted; // the only instance
                                            // Pipeline 400 increments on the socket while 8 tasks dispatch 50 each.
    let mut refs = Vec::new();
    for _ in 0..400 {
        let r = c.take_ref();
        refs.push(r);
        c.send(json!({"t": "call", "ref": r, "id": "shared", "method": "increment", "args": []}))
            .await;
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let live = s.live.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                live.dispatch(iid, "add", vec![json!(1)]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut replies = 0;
    let mut last_version = 0;
    while replies < 400 {
        let f = c.recv().await;
        match f["t"].as_str().unwrap() {
            "reply" => replies += 1,
            "patch" => {
                let v = f["version"].as_u64().unwrap();
                assert_eq!(f["base"].as_u64().unwrap(), v - 1, "patches are contiguous");
                assert!(v > last_version);
                last_version = v;
            }
            "event" => {}
            other => panic!("unexpected {other}: {f}"),
        }
    }
    let (r, _) = c.call("shared", "noop", json!([])).await;
    assert_eq!(r["result"], 800);
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let s = serve(builder().max_frame(4096).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({"start": 7}), Some("a")).await;

    let e = c.mount("Nope", json!({}), None).await;
    assert_eq!(e["code"], "unknown_component");
    assert!(e["message"].as_str().unwrap().contains("Nope"));
    assert!(
        e["message"].as_str().unwrap().contains("Counter"),
        "lists what exists"
    );

    let e = c.mount("Counter", json!({"start": "x"}), Some("b")).await;
    assert_eq!(e["code"], "bad_props");

    let e = c.mount("Counter", json!({}), Some("a")).await;
    assert_eq!(e["code"], "duplicate_id");

    let (e, _) = c.call("a", "nope", json!([])).await;
    assert_eq!(e["code"], "unknown_method");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("Counter") && msg.contains("nope") && msg.contains("increment"),
        "{msg}"
    );
    assert_eq!(e["method"], "nope");
    assert_eq!(e["type"], "Counter");

    // A public method that is not an action is not callable.
    let (e, _) = c.call("a", "internal_reset", json!([])).await;
    assert_eq!(e["code"], "unknown_method");

    let (e, _) = c.call("a", "add", json!([1, 2])).await;
    assert_eq!(e["code"], "bad_args");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("takes 1 argument (n: i64), got 2"));

    let (e, _) = c.call("a", "add", json!(["three"])).await;
    assert_eq!(e["code"], "bad_args");
    assert!(e["message"].as_str().unwrap().contains("`n: i64`"));

    let (e, _) = c.call("a", "add", json!([])).await;
    assert_eq!(e["code"], "bad_args");
    assert!(e["message"].as_str().unwrap().contains("missing argument"));

    // Malformed JSON: an error naming the problem, the connection lives.
    c.send_text("{not json".into()).await;
    let e = c.expect("error").await;
    assert_eq!(e["code"], "bad_frame");
    // Unknown frame type.
    c.send(json!({"t": "teleport", "ref": 99})).await;
    let e = c.expect("error").await;
    assert_eq!(e["code"], "bad_frame");
    assert_eq!(e["ref"], 99);

    // Over the size limit (but under the hard cap): error, connection lives.
    let big = format!(
        r#"{{"t":"call","ref":500,"id":"a","method":"add","args":["{}"]}}"#,
        "x".repeat(8000)
    );
    c.send_text(big).await;
    let e = c.expect("error").await;
    assert_eq!(e["code"], "frame_too_large");
    assert!(e["message"].as_str().unwrap().contains("4096"));

    // An action error rolls its changes back and carries the detail.
    let (e, before) = c.call("a", "add", json!([1000])).await;
    assert_eq!(e["code"], "action_failed");
    assert_eq!(e["detail"], json!({"n": 1000}));
    assert!(before.iter().all(|f| f["t"] != "patch"));

    // A panicking action rolls back, and the instance and server live on.
    let (e, before) = c.call("a", "explode", json!([])).await;
    assert_eq!(e["code"], "action_panicked");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("boom from the test"));
    assert!(before.iter().all(|f| f["t"] != "patch"));
    let (e, _) = c.call("a", "explode_later", json!([])).await;
    assert_eq!(e["code"], "action_panicked");

    let (r, _) = c.call("a", "noop", json!([])).await;
    assert_eq!(r["result"], 7, "state unchanged by every bad input");
    let (r, _) = c.call("a", "add", json!([1])).await;
    assert_eq!(r["result"], 8, "the instance still works");

    // Another connection works too: the server lives on.
    let mut c2 = Client::connect(s.addr).await;
    let m = c2.mount("Counter", json!({}), None).await;
    assert_eq!(m["t"], "mounted");
}

#[tokio::test]
async fn server_only_fields_never_leave_the_server() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect(s.addr).await;
    let m = c.mount("Counter", json!({}), Some("a")).await;
    assert!(m["state"].get("secret_audit").is_none());
    for _ in 0..3 {
        c.call("a", "increment", json!([])).await;
    }
    c.send(json!({"t": "sync", "id": "a"})).await;
    let st = c.expect("state").await;
    assert_eq!(st["state"]["count"], 3);
    assert!(st["state"].get("secret_audit").is_none());
    for raw in &c.raw {
        assert!(!raw.contains("secret_audit"), "leaked: {raw}");
        assert!(!raw.contains("server-only-increment"), "leaked: {raw}");
        assert!(!raw.contains("mounted-server-only-marker"), "leaked: {raw}");
    }
}

#[tokio::test]
async fn async_actions_and_hooks() {
    let s = serve(builder().build()).await;
    let mut c = Client::connect(s.addr).await;
    let m = c.mount("Hooked", json!({"label": "x"}), Some("h")).await;
    assert_eq!(
        m["state"]["mounted"], true,
        "async on_mount ran before mounted"
    );
    let r = c.take_ref();
    c.send(json!({"t": "props", "ref": r, "id": "h", "props": {"label": "y"}}))
        .await;
    let (ans, before) = c.answer(r).await;
    assert_eq!(ans["t"], "reply");
    assert_eq!(
        before[0]["ops"],
        json!([{"op": "replace", "path": "/label", "value": "y"}])
    );

    c.mount("Counter", json!({}), Some("a")).await;
    // Two pipelined async calls complete in order.
    let r1 = c.take_ref();
    let r2 = c.take_ref();
    c.send(json!({"t": "call", "ref": r1, "id": "a", "method": "slow_add", "args": [1, 30]}))
        .await;
    c.send(json!({"t": "call", "ref": r2, "id": "a", "method": "slow_add", "args": [10, 1]}))
        .await;
    let (a1, _) = c.answer(r1).await;
    let (a2, _) = c.answer(r2).await;
    assert_eq!(a1["result"], 1);
    assert_eq!(a2["result"], 11);
}

#[tokio::test]
async fn unmount_frees_at_once_and_dropped_connections_after_grace() {
    let s = serve(builder().grace(Duration::from_millis(100)).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    c.mount("Counter", json!({}), Some("b")).await;
    assert_eq!(s.live.stats().instances, 2);
    let r = c.take_ref();
    c.send(json!({"t": "unmount", "ref": r, "id": "a"})).await;
    let (u, _) = c.answer(r).await;
    assert_eq!(u["t"], "unmounted");
    assert!(eventually(|| s.live.stats().instances == 1).await);
    let (e, _) = c.call("a", "increment", json!([])).await;
    assert_eq!(e["code"], "not_mounted");

    c.close().await;
    assert!(eventually(|| s.live.stats().connections == 0).await);
    assert!(
        eventually(|| {
            let st = s.live.stats();
            st.instances == 0 && st.sessions == 0
        })
        .await,
        "everything freed after the grace period: {:?}",
        s.live.stats()
    );
}

#[tokio::test]
async fn reconnect_within_grace_resumes_the_same_instances() {
    let s = serve(builder().grace(Duration::from_secs(30)).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({"start": 2}), Some("a")).await;
    c.call("a", "add", json!([5])).await;
    let session = c.welcome["session"].clone();
    let token = c.welcome["token"].clone();
    c.close().await;
    assert!(eventually(|| s.live.stats().connections == 0).await);
    assert_eq!(s.live.stats().instances, 1, "held for the grace period");

    // A wrong token does not resume.
    let bad = Client::connect_with(
        s.addr,
        json!({"t": "hello", "protocol": 1, "resume": {"session": session, "token": "0000"}}),
    )
    .await;
    assert_eq!(bad.welcome["resumed"], false);
    bad.close().await;

    let mut c = Client::connect_with(
        s.addr,
        json!({"t": "hello", "protocol": 1, "resume": {"session": session, "token": token}}),
    )
    .await;
    assert_eq!(c.welcome["resumed"], true);
    let inst = &c.welcome["instances"][0];
    assert_eq!(inst["id"], "a");
    assert_eq!(inst["version"], 1);
    assert_eq!(inst["state"]["count"], 7);
    let (r, _) = c.call("a", "add", json!([1])).await;
    assert_eq!(r["result"], 8);
    assert_eq!(s.live.stats().instances, 1);
}

#[tokio::test]
async fn protocol_mismatch_is_reported() {
    let s = serve(builder().build()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/__live/ws", s.addr))
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"t": "hello", "protocol": 99}).to_string(),
    ))
    .await
    .unwrap();
    let mut codes = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(support::DEADLINE, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        codes.push(v["t"].as_str().unwrap().to_owned() + ":" + v["code"].as_str().unwrap_or(""));
    }
    assert!(
        codes.contains(&"error:protocol_mismatch".to_owned()),
        "{codes:?}"
    );
}

#[tokio::test]
async fn a_full_mailbox_answers_overloaded_and_changes_nothing() {
    let s = serve(builder().mailbox(1).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({}), Some("a")).await;
    // A slow action holds the mailbox while more calls arrive.
    let first = c.take_ref();
    c.send(json!({"t": "call", "ref": first, "id": "a", "method": "slow_add", "args": [1, 300]}))
        .await;
    let mut refs = Vec::new();
    for _ in 0..20 {
        let r = c.take_ref();
        refs.push(r);
        c.send(json!({"t": "call", "ref": r, "id": "a", "method": "add", "args": [1]}))
            .await;
    }
    let mut overloaded = 0;
    let mut applied = 1; // slow_add
    for _ in 0..21 {
        let f = loop {
            let f = c.recv().await;
            if f["t"] == "reply" || f["t"] == "error" {
                break f;
            }
        };
        if f["t"] == "error" {
            assert_eq!(f["code"], "overloaded", "{f}");
            assert!(f["message"].as_str().unwrap().contains("mailbox is full"));
            overloaded += 1;
        } else if f["ref"] != first {
            applied += 1;
        }
    }
    assert!(overloaded > 0, "some calls found the mailbox full");
    let (r, _) = c.call("a", "noop", json!([])).await;
    assert_eq!(
        r["result"], applied,
        "only accepted calls changed the state"
    );
}
