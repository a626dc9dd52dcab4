//! `attach`: the live feed from a recorder. While the exporter would drop
//! records anyway (collector unreachable, queue full behind a hanging
//! collector) the feed skips them unread, and every record is still either
//! exported or counted as dropped in the recorder's own stream.
#![allow(clippy::unwrap_used)]

mod common;

use common::{wait_for, Receiver, Reply};
use fluxlive_instrumentation::{Event, EventBody, Filter, InstanceKey, Recorder, TypeMeta};
use fluxlive_otel::{OtelConfig, RetryPolicy};
use fluxlive_protocol::record::{DropSite, Record, RecordBody};
use std::sync::Arc;
use std::time::Duration;

static COUNTER: TypeMeta = TypeMeta::new("Counter");

fn mount(iid: u64) -> Event {
    Event {
        conn: 1,
        instance: Some(InstanceKey {
            iid,
            id: Arc::from(format!("c{iid}").as_str()),
            meta: &COUNTER,
        }),
        body: EventBody::Mount {
            props: serde_json::json!({}),
            version: 1,
            state: serde_json::json!({"count": 0}),
        },
    }
}

fn config(base: &str) -> OtelConfig {
    OtelConfig::default()
        .endpoint(base)
        .metrics_endpoint(None)
        .batch_delay(Duration::from_millis(5))
        .linger(Duration::from_millis(5))
        .timeout(Duration::from_millis(300))
        .queue_capacity(64)
        .retry(RetryPolicy {
            max_retries: 0,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        })
}

fn all(rec: &Recorder) -> Vec<Record> {
    let mut sub = rec.subscribe(Some(0), Filter::default());
    let mut out = Vec::new();
    while let Some(b) = sub.try_recv() {
        out.extend(b);
    }
    out
}

/// Exporter drops reported back into the recorder, by reason.
fn exporter_drops(rec: &Recorder, reason: &str) -> u64 {
    all(rec)
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::Dropped {
                count,
                site: DropSite::Exporter,
                reason: why,
            } if why == reason => Some(*count),
            _ => None,
        })
        .sum()
}

/// Records `n` mounts in bursts, letting the feed run between them.
async fn record_mounts(rec: &Recorder, n: u64) {
    for i in 1..=n {
        rec.record(mount(i));
        if i % 50 == 0 {
            rec.flush().await;
            tokio::task::yield_now().await;
        }
    }
    rec.flush().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn drops_by_reason(rec: &Recorder) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for r in all(rec) {
        if let RecordBody::Dropped {
            count,
            site: DropSite::Exporter,
            reason,
        } = r.body
        {
            match out.iter_mut().find(|(why, _)| *why == reason) {
                Some((_, n)) => *n += count,
                None => out.push((reason, count)),
            }
        }
    }
    out
}

#[test]
fn an_unreachable_collector_is_skipped_unread_and_every_record_is_counted() {
    let rt = runtime();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rec = Recorder::builder().build();
    let attached = rt.block_on(async {
        fluxlive_otel::attach(&rec, config(&format!("http://127.0.0.1:{port}"))).unwrap()
    });
    let exporter = attached.exporter();
    rt.block_on(async {
        rec.record(mount(1_000));
        rec.flush().await;
    });
    wait_for("the exporter to back off", Duration::from_secs(10), || {
        exporter.shedding() == Some("collector_unreachable")
    });
    rt.block_on(record_mounts(&rec, 2_000));
    wait_for("the feed to catch up", Duration::from_secs(10), || {
        exporter.stats().records_offered >= 2_001
    });
    let s = exporter.stats();
    assert_eq!(s.spans_exported, 0);
    // The first mount became a span lost to the refused connection; the
    // 2,000 that followed were skipped unread.
    assert_eq!(s.records_offered, 2_001, "{s:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while drops_by_reason(&rec).iter().map(|(_, n)| n).sum::<u64>() < 2_001 {
        assert!(
            std::time::Instant::now() < deadline,
            "drops reported so far: {:?}, {:?}",
            drops_by_reason(&rec),
            exporter.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        exporter_drops(&rec, "collector_unreachable"),
        2_001,
        "{:?}",
        drops_by_reason(&rec)
    );
    rt.block_on(attached.shutdown()).unwrap();
}

#[test]
fn a_hanging_collector_fills_the_queue_then_records_are_skipped_and_counted() {
    let receiver = Receiver::start(Reply::Hang);
    let rt = runtime();
    let rec = Recorder::builder().build();
    let attached =
        rt.block_on(async { fluxlive_otel::attach(&rec, config(&receiver.base)).unwrap() });
    let exporter = attached.exporter();
    rt.block_on(record_mounts(&rec, 3_000));
    wait_for("the feed to catch up", Duration::from_secs(10), || {
        exporter.stats().records_offered >= 3_000
    });
    let s = exporter.stats();
    assert_eq!(s.records_offered, 3_000, "{s:?}");
    assert!(
        s.records_dropped >= 3_000 - 2 * 64 - 512,
        "most records should be shed while the collector hangs: {s:?}"
    );
    // Everything not dropped on the way in was built into a span and lost to
    // the timeout; all of it comes back to the recorder as counted drops.
    wait_for(
        "every record accounted for",
        Duration::from_secs(20),
        || {
            let s = exporter.stats();
            s.records_dropped + s.spans_dropped >= 3_000
        },
    );
    wait_for(
        "the drops reported to the recorder",
        Duration::from_secs(10),
        || drops_by_reason(&rec).iter().map(|(_, n)| n).sum::<u64>() >= 3_000,
    );
    assert_eq!(
        drops_by_reason(&rec).iter().map(|(_, n)| n).sum::<u64>(),
        3_000,
        "{:?}",
        drops_by_reason(&rec)
    );
    rt.block_on(attached.shutdown()).unwrap();
}
