//! Delivery rules: what is retried, what is dropped, what is counted, and
//! that `offer` never blocks. Every assertion is on counts, never on time.
#![allow(clippy::unwrap_used)]

mod common;

use common::{wait_for, Receiver, Reply};
use fluxlive_otel::{OtelConfig, OtelExporter, RetryPolicy};
use fluxlive_protocol::record::{InstanceRef, Record, RecordBody};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `n` mount records; each becomes one span at once.
fn mounts(n: u64) -> Vec<Record> {
    (1..=n)
        .map(|i| Record {
            seq: i,
            ts_us: i * 10,
            conn: 0,
            instance: Some(InstanceRef {
                iid: i,
                id: format!("c{i}"),
                component: "Counter".into(),
            }),
            body: RecordBody::Mount {
                props: serde_json::json!({}),
                version: 1,
                state: serde_json::json!({"count": 0}),
            },
        })
        .collect()
}

fn config(base: &str) -> OtelConfig {
    OtelConfig::default()
        .endpoint(base)
        .metrics_endpoint(None)
        .batch_delay(Duration::from_millis(10))
        .linger(Duration::from_millis(10))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        })
}

type Drops = Arc<Mutex<Vec<(u64, &'static str)>>>;

fn watch_drops(e: &OtelExporter) -> Drops {
    let drops: Drops = Arc::default();
    let d = Arc::clone(&drops);
    e.on_drop(Box::new(move |n, why| d.lock().unwrap().push((n, why))));
    drops
}

fn total(drops: &Drops, reason: &str) -> u64 {
    drops
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| *r == reason)
        .map(|(n, _)| n)
        .sum()
}

/// A port nobody listens on: bind, note it, close it.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn unreachable_collector_drops_and_counts_without_retrying() {
    let port = closed_port();
    let e = OtelExporter::start(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let drops = watch_drops(&e);
    e.offer(&mounts(3));
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert_eq!(
        (
            s.batches_failed,
            s.spans_dropped,
            s.retries,
            s.spans_exported
        ),
        (1, 3, 0, 0)
    );
    assert_eq!(total(&drops, "collector_unreachable"), 3);
}

#[test]
fn busy_collector_is_retried_and_gets_the_batch_once() {
    let rx = Receiver::start(Reply::Ok);
    rx.script([Reply::Status(503), Reply::Ok]);
    let e = OtelExporter::start(config(&rx.base)).unwrap();
    let drops = watch_drops(&e);
    e.offer(&mounts(4));
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert_eq!(s.retries, 1);
    assert_eq!((s.batches_exported, s.batches_failed), (1, 0));
    assert_eq!((s.spans_exported, s.spans_dropped), (4, 0));
    assert_eq!(rx.trace_hits(), 2);
    assert_eq!(rx.delivered_spans().len(), 4, "delivered exactly once");
    assert!(drops.lock().unwrap().is_empty());
}

#[test]
fn every_retryable_status_is_retried_and_retry_after_is_honoured_within_the_cap() {
    let rx = Receiver::start(Reply::Ok);
    rx.script([
        Reply::StatusRetryAfter(429, 30),
        Reply::Status(502),
        Reply::Status(504),
        Reply::Ok,
    ]);
    let e = OtelExporter::start(config(&rx.base)).unwrap();
    e.offer(&mounts(2));
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert_eq!(s.retries, 3);
    assert_eq!((s.spans_exported, s.batches_failed), (2, 0));
    assert_eq!(rx.trace_hits(), 4);
    assert_eq!(rx.delivered_spans().len(), 2);
}

#[test]
fn retries_are_bounded() {
    let rx = Receiver::start(Reply::Status(503));
    let e = OtelExporter::start(config(&rx.base).retry(RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }))
    .unwrap();
    let drops = watch_drops(&e);
    e.offer(&mounts(5));
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert_eq!(rx.trace_hits(), 3, "first attempt plus two retries");
    assert_eq!((s.retries, s.batches_failed, s.spans_dropped), (2, 1, 5));
    assert_eq!(total(&drops, "retries_exhausted"), 5);
}

#[test]
fn bad_request_is_not_retried_and_counted_as_dropped() {
    for status in [400, 401, 404, 413, 500] {
        let rx = Receiver::start(Reply::Status(status));
        let e = OtelExporter::start(config(&rx.base)).unwrap();
        let drops = watch_drops(&e);
        e.offer(&mounts(3));
        e.flush(Duration::from_secs(10)).unwrap();
        let s = e.stats();
        assert_eq!(rx.trace_hits(), 1, "status {status} must not be retried");
        assert_eq!(
            (
                s.retries,
                s.batches_failed,
                s.spans_dropped,
                s.spans_exported
            ),
            (0, 1, 3, 0),
            "{status}"
        );
        assert_eq!(total(&drops, "collector_rejected"), 3, "{status}");
    }
}

#[test]
fn partial_success_counts_rejected_spans() {
    let rx = Receiver::start(Reply::PartialReject(2));
    let e = OtelExporter::start(config(&rx.base)).unwrap();
    let drops = watch_drops(&e);
    e.offer(&mounts(5));
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert_eq!(
        (s.spans_exported, s.spans_dropped, s.batches_exported),
        (3, 2, 1)
    );
    assert_eq!(total(&drops, "collector_partial_success"), 2);
}

#[test]
fn hanging_collector_times_out_and_is_counted() {
    let rx = Receiver::start(Reply::Hang);
    let e = OtelExporter::start(config(&rx.base).timeout(Duration::from_millis(200))).unwrap();
    let drops = watch_drops(&e);
    e.offer(&mounts(3));
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert_eq!(rx.trace_hits(), 1);
    assert_eq!((s.batches_failed, s.spans_dropped, s.retries), (1, 3, 0));
    assert_eq!(total(&drops, "timeout"), 3);
}

#[test]
fn offer_never_blocks_while_the_collector_hangs() {
    const CAPACITY: usize = 100;
    const OFFERS: u64 = 5_000;
    let rx = Receiver::start(Reply::Hang);
    let e = OtelExporter::start(
        config(&rx.base)
            .queue_capacity(CAPACITY)
            .max_batch(10)
            .timeout(Duration::from_secs(1))
            .shutdown_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let drops = watch_drops(&e);
    let batch = mounts(10);
    e.offer(&batch);
    // The export thread is now stuck in the hanging request.
    wait_for("the first request", Duration::from_secs(10), || {
        rx.trace_hits() == 1
    });
    let one = mounts(1);
    let mut completed = 0u64;
    for _ in 0..OFFERS {
        e.offer(&one);
        completed += 1;
    }
    assert_eq!(completed, OFFERS);
    let s = e.stats();
    assert_eq!(s.records_offered, OFFERS + 10);
    assert!(
        s.records_dropped >= OFFERS - CAPACITY as u64,
        "queue is bounded: only {} of {OFFERS} dropped",
        s.records_dropped
    );
    // Drops are reported once the export thread is free again.
    // (Possibly in several reports if the loop outlasted the hanging request.)
    wait_for(
        "every drop reported as queue_full",
        Duration::from_secs(10),
        || total(&drops, "queue_full") == s.records_dropped,
    );
    let _ = e.shutdown();
}

#[test]
fn concurrent_offers_are_all_accounted_for() {
    let rx = Receiver::start(Reply::Ok);
    let e = Arc::new(OtelExporter::start(config(&rx.base).queue_capacity(64)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let recs = mounts(3);
                for _ in 0..500 {
                    e.offer(&recs);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    e.flush(Duration::from_secs(30)).unwrap();
    let s = e.stats();
    assert_eq!(s.records_offered, 4 * 500 * 3);
    // Every accepted record became one span that was delivered.
    assert_eq!(s.records_offered - s.records_dropped, s.spans_exported);
    assert_eq!(rx.delivered_spans().len() as u64, s.spans_exported);
}

#[test]
fn a_panicking_drop_callback_does_not_kill_the_exporter() {
    let rx = Receiver::start(Reply::Status(400));
    let e = OtelExporter::start(config(&rx.base)).unwrap();
    e.on_drop(Box::new(|_, _| panic!("callback bug")));
    e.offer(&mounts(1));
    e.flush(Duration::from_secs(10)).unwrap();
    e.offer(&mounts(1));
    e.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(e.stats().batches_failed, 2);
}

#[test]
fn a_collector_found_down_costs_no_mapping_until_it_is_tried_again() {
    let port = closed_port();
    let e = OtelExporter::start(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let drops = watch_drops(&e);
    e.offer(&mounts(3));
    common::wait_for("the first failed batch", Duration::from_secs(10), || {
        e.stats().batches_failed >= 1
    });
    // 100 more batches while the collector is known to be down: they are
    // dropped and counted on arrival, not mapped, encoded and sent one by one.
    for _ in 0..100 {
        e.offer(&mounts(3));
    }
    common::wait_for(
        "every record accounted for",
        Duration::from_secs(10),
        || total(&drops, "collector_unreachable") == 303,
    );
    let s = e.stats();
    assert!(
        s.batches_failed < 20,
        "{} send attempts for 101 batches",
        s.batches_failed
    );
    assert_eq!(s.spans_exported, 0);
}

#[test]
fn after_a_back_off_one_probe_batch_goes_through_and_the_rest_is_shed() {
    let port = closed_port();
    let e = OtelExporter::start(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let drops = watch_drops(&e);
    assert_eq!(e.shedding(), None);
    e.offer(&mounts(1));
    common::wait_for("the first failed batch", Duration::from_secs(10), || {
        e.stats().batches_failed >= 1
    });
    assert_eq!(e.shedding(), Some("collector_unreachable"));
    // When the back-off ends, exactly one caller is told to go ahead …
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while e.shedding().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the back-off never ended"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // … and everyone else keeps shedding while its probe is out.
    assert_eq!(e.shedding(), Some("collector_unreachable"));
    e.offer(&mounts(2));
    common::wait_for("the probe to fail", Duration::from_secs(10), || {
        e.stats().batches_failed >= 2
    });
    assert_eq!(e.shedding(), Some("collector_unreachable"));
    e.shed(40, "collector_unreachable");
    common::wait_for("every loss reported", Duration::from_secs(10), || {
        total(&drops, "collector_unreachable") == 1 + 2 + 40
    });
    let s = e.stats();
    assert_eq!(
        (s.records_offered, s.records_dropped, s.spans_dropped),
        (43, 40, 3)
    );
}
