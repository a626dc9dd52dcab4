//! The debug session over channels, against a fake of the runtime.
#![allow(clippy::unwrap_used)]

mod support;

use fluxlive_instrumentation::{run_debug_session, DebugLimits, DebugOps, Recorder};
use fluxlive_protocol::debug::{ComponentInfo, HubFrame, InstanceInfo, ReplayReport};
use fluxlive_protocol::record::RecordKind;
use fluxlive_protocol::session::{text_parts, Session};
use fluxlive_protocol::{ErrorCode, REDACTED};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::sync::{broadcast, mpsc};

struct FakeRuntime {
    picks: broadcast::Sender<Option<u64>>,
    calls: Mutex<Vec<String>>,
}

impl FakeRuntime {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            picks: broadcast::channel(8).0,
            calls: Mutex::new(Vec::new()),
        })
    }
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
}

impl DebugOps for FakeRuntime {
    fn snapshot(&self) -> (Vec<InstanceInfo>, usize, u64) {
        let info = InstanceInfo {
            iid: 5,
            id: "v".into(),
            component: "Vault".into(),
            conn: 1,
            version: 3,
            state: json!({"token": SECRET, "n": 2}),
            props: json!({"token": SECRET}),
            travelling: false,
        };
        (vec![info], 1, 4)
    }
    fn components(&self) -> Vec<ComponentInfo> {
        vec![ComponentInfo {
            name: "Counter".into(),
            actions: vec!["add".into()],
        }]
    }
    fn highlight(&self, iid: u64, on: bool) -> Result<(), (ErrorCode, String)> {
        self.log(format!("highlight {iid} {on}"));
        if iid == 404 {
            return Err((ErrorCode::NotMounted, "instance 404 is not mounted".into()));
        }
        Ok(())
    }
    fn picker(&self, on: bool) {
        self.log(format!("picker {on}"));
    }
    fn time_travel(
        &self,
        iid: u64,
        version: u64,
    ) -> BoxFuture<'static, Result<(), (ErrorCode, String)>> {
        self.log(format!("travel {iid} {version}"));
        async { Ok(()) }.boxed()
    }
    fn back_to_live(&self, iid: u64) -> BoxFuture<'static, Result<(), (ErrorCode, String)>> {
        self.log(format!("live {iid}"));
        async { Ok(()) }.boxed()
    }
    fn dispatch(
        &self,
        iid: u64,
        method: String,
        args: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, (ErrorCode, String)>> {
        async move {
            match method.as_str() {
                "add" => Ok(json!(
                    args.first().and_then(Value::as_i64).unwrap_or(0) + iid as i64
                )),
                _ => Err((
                    ErrorCode::UnknownMethod,
                    format!("Counter has no action {method:?}"),
                )),
            }
        }
        .boxed()
    }
    fn replay(
        &self,
        session: Session,
    ) -> BoxFuture<'static, Result<ReplayReport, (ErrorCode, String)>> {
        let n = session.records.len();
        async move {
            Ok(ReplayReport {
                instances: 1,
                actions: n,
                divergence: None,
            })
        }
        .boxed()
    }
    fn picked(&self) -> broadcast::Receiver<Option<u64>> {
        self.picks.subscribe()
    }
}

struct Panel {
    tx: mpsc::Sender<String>,
    rx: mpsc::Receiver<String>,
    task: tokio::task::JoinHandle<()>,
    raw_sizes: Vec<usize>,
}

impl Panel {
    fn open(rec: &Recorder, ops: Arc<FakeRuntime>, limits: DebugLimits) -> Self {
        let (in_tx, in_rx) = mpsc::channel::<String>(16);
        let (out_tx, out_rx) = mpsc::channel::<String>(16);
        let incoming = Box::pin(futures_util::stream::unfold(in_rx, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        }));
        let outgoing = Box::pin(futures_util::sink::unfold(
            out_tx,
            |tx, m: String| async move { tx.send(m).await.map(|_| tx) },
        ));
        let task = tokio::spawn(run_debug_session(
            rec.clone(),
            ops,
            incoming,
            outgoing,
            limits,
        ));
        Self {
            tx: in_tx,
            rx: out_rx,
            task,
            raw_sizes: Vec::new(),
        }
    }

    async fn send(&self, v: Value) {
        self.tx.send(v.to_string()).await.unwrap();
    }

    async fn next(&mut self) -> HubFrame {
        let text = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("no frame within the deadline")
            .expect("session ended");
        self.raw_sizes.push(text.len());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad frame {text}: {e}"))
    }

    /// Sends a session file as `replay` parts under one `ref`.
    async fn send_replay_parts(&self, req: u32, parts: &[&str]) {
        for (i, part) in parts.iter().enumerate() {
            let more = i + 1 < parts.len();
            self.send(json!({"t": "replay", "ref": req, "session": part, "more": more}))
                .await;
        }
    }

    /// Next frame that is not a `records` frame.
    async fn answer(&mut self) -> HubFrame {
        for _ in 0..10_000 {
            let f = self.next().await;
            if !matches!(f, HubFrame::Records { .. }) {
                return f;
            }
        }
        panic!("only records frames")
    }
}

#[tokio::test]
async fn hello_comes_first_and_commands_are_answered() {
    let rec = Recorder::builder().build();
    let ops = FakeRuntime::new();
    let mut p = Panel::open(&rec, ops.clone(), DebugLimits::default());
    let HubFrame::Hello(h) = p.next().await else {
        panic!("hello must come first")
    };
    assert_eq!(h.protocol, fluxlive_protocol::DEBUG_PROTOCOL_VERSION);
    assert!(h.recording);
    assert_eq!(h.components[0].name, "Counter");
    assert!(h.capabilities.iter().any(|c| c == "time_travel"));
    assert_eq!(h.started_unix_us, rec.started_unix_us());

    p.tx.send("{not json".into()).await.unwrap();
    let HubFrame::Error {
        req: None,
        code: ErrorCode::BadFrame,
        message,
    } = p.next().await
    else {
        panic!()
    };
    assert!(message.contains("not JSON"));
    p.send(json!({"t": "teleport", "ref": 9})).await;
    let HubFrame::Error {
        req: Some(9),
        code: ErrorCode::BadFrame,
        message,
    } = p.next().await
    else {
        panic!()
    };
    assert!(message.contains("teleport"), "{message}");
    p.send(json!({"t": "highlight", "ref": 10})).await;
    let HubFrame::Error {
        req: Some(10),
        code: ErrorCode::BadFrame,
        message,
    } = p.next().await
    else {
        panic!()
    };
    assert!(message.contains("iid"), "{message}");

    // The session kept going.
    p.send(json!({"t": "highlight", "ref": 1, "iid": 7, "on": true}))
        .await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 1 });
    p.send(json!({"t": "highlight", "ref": 2, "iid": 404, "on": true}))
        .await;
    let HubFrame::Error {
        req: Some(2),
        code: ErrorCode::NotMounted,
        ..
    } = p.next().await
    else {
        panic!()
    };
    p.send(json!({"t": "picker", "ref": 3, "on": true})).await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 3 });
    ops.picks.send(Some(42)).unwrap();
    assert_eq!(p.next().await, HubFrame::Picked { iid: Some(42) });
    p.send(json!({"t": "time_travel", "ref": 4, "iid": 7, "version": 2}))
        .await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 4 });
    p.send(json!({"t": "back_to_live", "ref": 5, "iid": 7}))
        .await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 5 });
    p.send(json!({"t": "dispatch", "ref": 6, "iid": 7, "method": "add", "args": [5]}))
        .await;
    assert_eq!(
        p.next().await,
        HubFrame::DispatchResult {
            req: 6,
            result: json!(12)
        }
    );
    p.send(json!({"t": "dispatch", "ref": 7, "iid": 7, "method": "fly"}))
        .await;
    let HubFrame::Error {
        req: Some(7),
        code: ErrorCode::UnknownMethod,
        ..
    } = p.next().await
    else {
        panic!()
    };
    assert_eq!(
        *ops.calls.lock().unwrap(),
        vec![
            "highlight 7 true",
            "highlight 404 true",
            "picker true",
            "travel 7 2",
            "live 7"
        ]
    );

    drop(p.tx);
    tokio::time::timeout(Duration::from_secs(10), p.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn subscribe_streams_backfill_then_live_in_capped_frames() {
    let rec = Recorder::builder().build();
    rec.record(mount(1, json!({"count": 1})));
    for v in 1..600 {
        rec.record(count_diff(1, v));
    }
    rec.flush().await;
    let limits = DebugLimits {
        max_records_per_frame: 100,
        max_frame_bytes: 8 << 10,
        ..DebugLimits::default()
    };
    let mut p = Panel::open(&rec, FakeRuntime::new(), limits);
    p.next().await;
    p.send(json!({"t": "subscribe", "ref": 1, "from_seq": 1}))
        .await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 1 });
    let mut seqs = Vec::new();
    let mut live_sent = false;
    for _ in 0..10_000 {
        if seqs.len() == 601 {
            break;
        }
        let HubFrame::Records { records } = p.next().await else {
            panic!("expected records")
        };
        assert!(records.len() <= 100);
        assert!(*p.raw_sizes.last().unwrap() <= 8 << 10);
        seqs.extend(records.iter().map(|r| r.seq));
        if seqs.len() == 600 && !live_sent {
            live_sent = true;
            rec.record(count_diff(1, 600));
        }
    }
    assert_eq!(seqs, (1..=601).collect::<Vec<_>>());
}

#[tokio::test]
async fn pause_resume_state_snapshot_export_and_replay() {
    let rec = Recorder::builder().history(50).build();
    rec.record(ev(
        5,
        &VAULT,
        fluxlive_instrumentation::EventBody::Mount {
            props: json!({}),
            version: 1,
            state: json!({"token": SECRET, "n": 1}),
        },
    ));
    for v in 1..200 {
        rec.record(ev(
            5,
            &VAULT,
            fluxlive_instrumentation::EventBody::Diff {
                base: v,
                version: v + 1,
                ops: patch(json!([{"op": "replace", "path": "/n", "value": v + 1}])),
                bytes: 1,
                diff: Duration::ZERO,
                encode: Duration::ZERO,
                trace: None,
            },
        ));
    }
    let mut p = Panel::open(
        &rec,
        FakeRuntime::new(),
        DebugLimits {
            max_records_per_frame: 256,
            max_frame_bytes: 2048,
            ..DebugLimits::default()
        },
    );
    p.next().await;

    p.send(json!({"t": "pause", "ref": 1})).await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 1 });
    assert!(matches!(
        p.next().await,
        HubFrame::Status {
            recording: false,
            ..
        }
    ));
    p.send(json!({"t": "resume", "ref": 2})).await;
    assert_eq!(p.next().await, HubFrame::Ack { req: 2 });
    assert!(matches!(
        p.next().await,
        HubFrame::Status {
            recording: true,
            ..
        }
    ));

    p.send(json!({"t": "state_at", "ref": 3, "iid": 5, "version": 190}))
        .await;
    assert_eq!(
        p.next().await,
        HubFrame::State {
            req: 3,
            iid: 5,
            version: 190,
            state: json!({"token": REDACTED, "n": 190})
        }
    );
    p.send(json!({"t": "state_at", "ref": 4, "iid": 5, "version": 2}))
        .await;
    let HubFrame::Error {
        req: Some(4),
        code: ErrorCode::VersionUnavailable,
        ..
    } = p.next().await
    else {
        panic!()
    };

    p.send(json!({"t": "snapshot", "ref": 5})).await;
    let HubFrame::Snapshot(s) = p.next().await else {
        panic!()
    };
    assert_eq!((s.req, s.connections, s.total_mounted), (5, 1, 4));
    assert_eq!(s.instances[0].state["token"], json!(REDACTED));
    assert_eq!(s.instances[0].props["token"], json!(REDACTED));

    p.send(json!({"t": "export", "ref": 6})).await;
    let mut text = String::new();
    let mut chunks = 0;
    for _ in 0..10_000 {
        let HubFrame::ExportChunk { req: 6, data, last } = p.answer().await else {
            panic!()
        };
        assert!(*p.raw_sizes.last().unwrap() <= 2048);
        chunks += 1;
        text.push_str(&data);
        if last {
            break;
        }
    }
    assert!(chunks > 3);
    assert!(!text.contains(SECRET));
    let session = Session::parse(&text).unwrap();
    assert_eq!(session.records[0].body.kind(), RecordKind::Snapshot);
    assert_eq!(
        fluxlive_instrumentation::state_in_records(&session.records, 5, Some(190))
            .unwrap()
            .1,
        json!({"token": REDACTED, "n": 190})
    );

    p.send(json!({"t": "replay", "ref": 7, "session": "garbage"}))
        .await;
    let HubFrame::Error {
        req: Some(7),
        code: ErrorCode::BadSession,
        ..
    } = p.answer().await
    else {
        panic!()
    };
    p.send(json!({"t": "replay", "ref": 8, "session": text}))
        .await;
    let HubFrame::Replay { req: 8, report } = p.answer().await else {
        panic!()
    };
    assert_eq!(report.actions, session.records.len());

    p.send(json!({"t": "clear", "ref": 9})).await;
    assert_eq!(p.answer().await, HubFrame::Ack { req: 9 });
    assert_eq!(rec.history_len(), 0);
}

/// A session file of `n` diffs after a mount, as export writes it.
async fn session_text(n: u64) -> (String, usize) {
    let rec = Recorder::builder().build();
    rec.record(mount(5, json!({"count": 0})));
    for v in 0..n {
        rec.record(count_diff(5, v));
    }
    rec.flush().await;
    let session = rec.export();
    (session.to_jsonl(), session.records.len())
}

#[tokio::test]
async fn replay_parts_are_joined_and_the_size_limits_answer_with_errors() {
    let (text, records) = session_text(400).await;
    let limits = DebugLimits {
        max_command_bytes: 8 << 10,
        max_session_bytes: text.len(),
        ..DebugLimits::default()
    };
    assert!(text.len() > 4 * limits.max_command_bytes, "{}", text.len());
    let rec = Recorder::builder().build();
    let mut p = Panel::open(&rec, FakeRuntime::new(), limits);
    p.next().await;

    // One frame over the command limit: refused by name, the session goes on.
    p.send(json!({"t": "replay", "ref": 1, "session": text}))
        .await;
    let HubFrame::Error {
        req: None,
        code: ErrorCode::FrameTooLarge,
        message,
    } = p.answer().await
    else {
        panic!("an oversized command must be refused")
    };
    assert!(message.contains("over the 8192-byte limit"), "{message}");

    // In parts under the limit: joined, then replayed whole.
    let parts = text_parts(&text, 3 << 10);
    p.send_replay_parts(2, &parts).await;
    let HubFrame::Replay { req: 2, report } = p.answer().await else {
        panic!("the joined session must replay")
    };
    assert_eq!(report.actions, records);

    // A part of another upload abandons the unfinished one, with an error
    // for it; the new one still replays.
    p.send(json!({"t": "replay", "ref": 3, "session": parts[0], "more": true}))
        .await;
    p.send_replay_parts(4, &parts).await;
    let HubFrame::Error {
        req: Some(3),
        code: ErrorCode::BadSession,
        message,
    } = p.answer().await
    else {
        panic!("the abandoned upload must be answered")
    };
    assert!(message.contains("abandoned"), "{message}");
    let HubFrame::Replay { req: 4, report } = p.answer().await else {
        panic!()
    };
    assert_eq!(report.actions, records);

    // Over the session limit: one error as soon as it is known, the rest of
    // its parts are dropped unread, and the session goes on.
    let half = text.len() / 2;
    let mut p = Panel::open(
        &rec,
        FakeRuntime::new(),
        DebugLimits {
            max_session_bytes: half,
            ..limits
        },
    );
    p.next().await;
    p.send_replay_parts(5, &parts).await;
    p.send(json!({"t": "snapshot", "ref": 6})).await;
    let HubFrame::Error {
        req: Some(5),
        code: ErrorCode::BadSession,
        message,
    } = p.answer().await
    else {
        panic!("an oversized session must be refused")
    };
    assert!(
        message.contains("of at least") && message.contains(&format!("over the {half}-byte limit")),
        "{message}"
    );
    let HubFrame::Snapshot(s) = p.answer().await else {
        panic!("only one answer for the refused upload")
    };
    assert_eq!(s.req, 6);
}
