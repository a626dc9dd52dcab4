//! Record a session over a real socket, export it, replay it: identical
//! components pass; a changed component reports the exact divergence.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use fluxlive::{live_component, Ctx, Live, Recorder};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{builder, serve, Client};

/// "Counter" with a bug: increment adds 2 after the count reaches 3.
#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct BuggyCounter {
    count: i64,
    #[live(server_only)]
    #[serde(default)]
    secret_audit: Vec<String>,
    #[live(redact)]
    #[serde(default)]
    api_token: String,
}

#[live_component(name = "Counter")]
impl BuggyCounter {
    fn mount(props: support::CounterProps) -> Self {
        BuggyCounter {
            count: props.start,
            secret_audit: Vec::new(),
            api_token: props.api_token.unwrap_or_default(),
        }
    }
    #[action]
    fn increment(&mut self, _ctx: &mut Ctx) {
        self.count += if self.count >= 3 { 2 } else { 1 };
    }
    #[action]
    fn add(&mut self, n: i64) -> i64 {
        self.count += n;
        self.count
    }
    #[action]
    fn noop(&self) -> i64 {
        self.count
    }
}

async fn record_session() -> fluxlive::protocol::session::Session {
    let s = serve(builder().recorder(Recorder::builder().build()).build()).await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Counter", json!({"start": 1}), Some("a")).await;
    c.mount("Counter", json!({"start": 10}), Some("b")).await;
    for _ in 0..4 {
        c.call("a", "increment", json!([])).await;
    }
    c.call("b", "add", json!([5])).await;
    c.call("b", "add", json!([500])).await; // fails, rolled back
    c.call("a", "explode", json!([])).await; // panics, rolled back
    c.call("a", "noop", json!([])).await;
    s.live.recorder().flush().await;
    s.live.recorder().export()
}

#[tokio::test]
async fn replay_of_a_recorded_session_matches() {
    let session = record_session().await;
    let live = builder().build();
    let report = fluxlive::testing::replay(&live, &session).await.unwrap();
    assert_eq!(report.divergence, None);
    assert_eq!(report.instances, 2);
    assert_eq!(report.actions, 8);

    // Through a file, as a one-line regression test.
    let path = std::env::temp_dir().join(format!("fluxlive-replay-{}.jsonl", std::process::id()));
    std::fs::write(&path, session.to_jsonl()).unwrap();
    fluxlive::testing::assert_replays(&live, &path).await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn replay_reports_the_exact_divergence() {
    let session = record_session().await;
    let live = Live::builder().component::<BuggyCounter>().build();
    let report = fluxlive::testing::replay(&live, &session).await.unwrap();
    let d = report.divergence.expect("a divergence");
    assert_eq!(d.instance, "a");
    assert_eq!(d.method, "increment");
    // The 3rd increment (count 3 → 4 recorded, 3 → 5 replayed).
    let rec = session.records.iter().find(|r| r.seq == d.seq).unwrap();
    match &rec.body {
        fluxlive::protocol::record::RecordBody::Action(a) => {
            assert_eq!(a.version_before, 2);
        }
        other => panic!("divergence names a non-action record: {other:?}"),
    }
    assert_eq!(
        d.expected,
        json!([{"op": "replace", "path": "/count", "value": 4}])
    );
    assert_eq!(
        d.got,
        json!([{"op": "replace", "path": "/count", "value": 5}])
    );
    assert!(d.message.contains("Counter `a`.increment"), "{}", d.message);
}

#[tokio::test]
async fn replay_refuses_unknown_types_clearly() {
    let session = record_session().await;
    let live = Live::builder().build();
    let err = fluxlive::testing::replay(&live, &session)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`Counter`, which is not registered"),
        "{err}"
    );
}
