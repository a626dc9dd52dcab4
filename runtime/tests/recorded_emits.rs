//! The actor reuses an action's emit list for the next action: each action's
//! recorded emits must be exactly its own, whatever the one before emitted.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use fluxlive::protocol::record::RecordBody;
use fluxlive::{live_component, Ctx, Live, Recorder};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{serve, Client};

#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
struct Pinger {
    pings: u64,
}

#[derive(Deserialize)]
struct NoProps {}

#[live_component]
impl Pinger {
    fn mount(_props: NoProps) -> Self {
        Pinger::default()
    }

    /// Emits `n` events named `ping`, numbered from the running total.
    #[action]
    fn ping(&mut self, n: u64, ctx: &mut Ctx) {
        for _ in 0..n {
            self.pings += 1;
            ctx.emit("ping", json!({ "i": self.pings }));
        }
    }
}

#[tokio::test]
async fn each_action_records_exactly_its_own_emits() {
    let s = serve(
        Live::builder()
            .component::<Pinger>()
            .recorder(Recorder::builder().build())
            .build(),
    )
    .await;
    let mut c = Client::connect(s.addr).await;
    c.mount("Pinger", json!({}), Some("p")).await;
    // Small lists are kept for the next action, a burst past the kept size
    // is not; the calls with none must record none.
    let counts = [2u64, 0, 1, 20, 0, 3, 0];
    for n in counts {
        c.call("p", "ping", json!([n])).await;
    }
    s.live.recorder().flush().await;
    let session = s.live.recorder().export();

    let mut emitted: Vec<u64> = Vec::new();
    let mut per_action: Vec<Vec<u64>> = Vec::new();
    for r in &session.records {
        match &r.body {
            RecordBody::Emit { name, data } => {
                assert_eq!(name, "ping");
                emitted.push(data["i"].as_u64().expect("a numbered ping"));
            }
            RecordBody::Action(a) if a.method == "ping" => {
                per_action.push(std::mem::take(&mut emitted));
            }
            _ => {}
        }
    }
    assert!(
        emitted.is_empty(),
        "emits after the last action: {emitted:?}"
    );
    let mut next = 1;
    let expected: Vec<Vec<u64>> = counts
        .iter()
        .map(|&n| {
            let v: Vec<u64> = (next..next + n).collect();
            next += n;
            v
        })
        .collect();
    assert_eq!(per_action, expected);
}
