//! Recorder behaviour: sequence numbers and drops, ordering across threads,
//! history bounds, subscribers, filters, pause/resume/off.
#![allow(clippy::unwrap_used)]

mod support;

use fluxlive_instrumentation::{DropSite, Filter, Recorder};
use fluxlive_protocol::record::{RecordBody, RecordKind};
use serde_json::json;
use std::sync::Mutex;
use support::*;

#[test]
fn a_full_ring_drops_are_counted_and_explain_the_sequence_gap() {
    // One 256-byte slot: a diff event is about 100 bytes, so 2 fit.
    let rec = Recorder::builder().ring_capacity(1).build();
    block_on(async {
        rec.record(mount(1, json!({"count": 1})));
        rec.flush().await;
        rec.hold_collector(true);
        for v in 1..=10 {
            rec.record(count_diff(1, v));
        }
        rec.hold_collector(false);
        rec.flush().await;
        rec.record(count_diff(1, 11));
        rec.flush().await;
    });
    let records = held(&rec);
    assert_eq!(records.first().map(|r| r.seq), Some(1));
    assert_gaps_explained(&records);
    let drops: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::Dropped { count, site, .. } => Some((*count, *site)),
            _ => None,
        })
        .collect();
    assert_eq!(drops.len(), 1, "{drops:?}");
    let (dropped, site) = drops[0];
    assert_eq!(site, DropSite::Ring);
    assert!((1..10).contains(&dropped), "{dropped} of 10 dropped");
    // The ring kept the oldest pushes and refused the rest.
    let kept = 10 - dropped;
    let mut expect: Vec<u64> = (2..2 + kept).collect();
    expect.push(12);
    assert_eq!(diff_versions(&records, 1), expect);
    assert_eq!(rec.dropped_total(), dropped);
    // Every recorded event is either held or counted.
    let held_events = records
        .iter()
        .filter(|r| r.body.kind() != RecordKind::Dropped)
        .count() as u64;
    assert_eq!(held_events + dropped_in(&records), 1 + 11);
}

#[test]
fn reported_drops_from_other_sites_take_their_count_of_sequence_numbers() {
    let rec = Recorder::builder().build();
    block_on(async {
        rec.record(mount(1, json!({"count": 1})));
        rec.record_drop(5, DropSite::Exporter, "otlp queue full");
        rec.record(count_diff(1, 1));
        rec.flush().await;
    });
    let records = held(&rec);
    assert_gaps_explained(&records);
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 6, 7]
    );
    assert!(matches!(
        records[1].body,
        RecordBody::Dropped {
            count: 5,
            site: DropSite::Exporter,
            ..
        }
    ));
    assert_eq!(rec.dropped_total(), 5);
}

/// Event `v` of instance `i` is recorded by thread `(v + i) % threads`, so
/// consecutive events of one instance always come from different threads
/// (and so different rings); the instance's lock orders them.
fn hammer_from_threads(rec: &Recorder, threads: u64, instances: u64, per_instance: u64) {
    let counters: Vec<Mutex<u64>> = (0..instances).map(|_| Mutex::new(1)).collect();
    let done = |counters: &[Mutex<u64>]| counters.iter().all(|c| *c.lock().unwrap() > per_instance);
    std::thread::scope(|s| {
        for t in 0..threads {
            let counters = &counters;
            s.spawn(move || {
                // Bounded: the test fails below if the work is not finished.
                for _pass in 0..50_000_000u64 {
                    let mut progressed = false;
                    for i in 0..instances {
                        let mut v = counters[i as usize].lock().unwrap();
                        if *v <= per_instance && (*v + i) % threads == t {
                            rec.record(count_diff(i + 1, *v));
                            *v += 1;
                            progressed = true;
                        }
                    }
                    if done(counters) {
                        return;
                    }
                    if !progressed {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    assert!(
        done(&counters),
        "threads gave up before recording everything"
    );
}

#[test]
fn per_instance_order_survives_events_pushed_from_many_threads() {
    let rec = Recorder::builder()
        .history(1 << 20)
        .ring_capacity(1 << 16)
        .build();
    let (instances, per) = (8u64, 1500u64);
    hammer_from_threads(&rec, 4, instances, per);
    block_on(rec.flush());
    let records = held(&rec);
    assert_gaps_explained(&records);
    assert_eq!(dropped_in(&records), 0);
    for iid in 1..=instances {
        let versions = diff_versions(&records, iid);
        let expected: Vec<u64> = (2..=per + 1).collect();
        assert_eq!(versions, expected, "instance {iid} out of order");
    }
}

#[test]
fn a_dropped_event_does_not_stall_the_others() {
    let rec = Recorder::builder()
        .history(1 << 20)
        .ring_capacity(8)
        .build();
    let (instances, per) = (6u64, 3000u64);
    hammer_from_threads(&rec, 4, instances, per);
    // A stalled reorder stage would never answer this flush.
    block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(30), rec.flush())
            .await
            .expect("flush stalled")
    });
    let records = held(&rec);
    assert_gaps_explained(&records);
    let kept: usize = (1..=instances)
        .map(|i| diff_versions(&records, i).len())
        .sum();
    assert_eq!(kept as u64 + dropped_in(&records), instances * per);
    for iid in 1..=instances {
        let versions = diff_versions(&records, iid);
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "instance {iid} out of order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_instance_order_survives_tasks_moving_between_tokio_workers() {
    let rec = Recorder::builder()
        .history(1 << 20)
        .ring_capacity(1 << 15)
        .build();
    let (instances, per) = (16u64, 400u64);
    let mut tasks = Vec::new();
    for iid in 1..=instances {
        let rec = rec.clone();
        tasks.push(tokio::spawn(async move {
            rec.record(mount(iid, json!({"count": 1})));
            for v in 1..=per {
                rec.record(count_diff(iid, v));
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rec.flush().await;
    let records = held(&rec);
    assert_gaps_explained(&records);
    for iid in 1..=instances {
        let expected: Vec<u64> = (2..=per + 1).collect();
        assert_eq!(diff_versions(&records, iid), expected, "instance {iid}");
        let (v, state) = rec.state_at(iid, None).unwrap();
        assert_eq!((v, state), (per + 1, json!({"count": per + 1})));
    }
}

#[test]
fn history_keeps_the_last_n_records_within_its_byte_budget() {
    let rec = Recorder::builder().history(100).build();
    block_on(async {
        rec.record(mount(1, json!({"count": 1})));
        for v in 1..1000 {
            rec.record(count_diff(1, v));
        }
        rec.flush().await;
    });
    let b = rec.bounds();
    assert_eq!(b.capacity, 100);
    assert_eq!(b.next_seq, 1001);
    assert_eq!(b.oldest_seq, 901);
    assert_eq!(rec.history_len(), 100);

    let budget = 256 << 10;
    let rec = Recorder::builder()
        .history(1_000_000)
        .history_bytes(budget)
        .build();
    let big = "x".repeat(8 << 10);
    block_on(async {
        for i in 0..500u64 {
            rec.record(ev(
                i + 1,
                &COUNTER,
                fluxlive_instrumentation::EventBody::Mount {
                    props: json!({}),
                    version: 1,
                    state: json!({"blob": big}),
                },
            ));
        }
        rec.flush().await;
    });
    // Eviction runs in batches: the documented bound is the budget plus 1/32.
    let bound = budget + budget / 32;
    assert!(
        rec.history_bytes() <= bound,
        "{} > {bound}",
        rec.history_bytes()
    );
    assert!(rec.history_len() < 500 && rec.history_len() > 10);
    assert_eq!(rec.bounds().next_seq, 501);
}

#[tokio::test]
async fn a_slow_subscriber_lags_and_gets_the_exact_dropped_count() {
    let rec = Recorder::builder().history(64).build();
    let mut slow = rec.subscribe(None, Filter::default());
    let mut fast = rec.subscribe(None, Filter::default());
    let mut fast_seqs = Vec::new();
    rec.record(mount(1, json!({"count": 1})));
    for v in 1..1000 {
        // The producer never waits for the slow subscriber.
        rec.record(count_diff(1, v));
        if v % 32 == 0 {
            rec.flush().await;
            while let Some(batch) = fast.try_recv() {
                fast_seqs.extend(batch.iter().map(|r| r.seq));
            }
        }
    }
    rec.flush().await;
    while let Some(batch) = fast.try_recv() {
        fast_seqs.extend(batch.iter().map(|r| r.seq));
    }
    assert_eq!(fast_seqs, (1..=1000).collect::<Vec<_>>());
    assert_eq!(rec.bounds().next_seq, 1001);

    let first = slow.recv().await.unwrap();
    match &first[0].body {
        RecordBody::Dropped { count, site, .. } => {
            assert_eq!(*site, DropSite::Subscriber);
            assert_eq!(*count, 1000 - 64);
        }
        other => panic!("expected a Dropped record, got {other:?}"),
    }
    let mut rest = first;
    while let Some(batch) = slow.try_recv() {
        rest.extend(batch);
    }
    assert_gaps_explained(&rest);
    assert_eq!(rest.len(), 65);
    assert_eq!(rest.last().map(|r| r.seq), Some(1000));
    assert_eq!(rec.dropped_total(), 1000 - 64);
}

#[tokio::test]
async fn a_live_subscriber_is_woken_by_new_records() {
    let rec = Recorder::builder().build();
    let mut sub = rec.subscribe(None, Filter::default());
    let producer = rec.clone();
    let handle = tokio::spawn(async move {
        producer.record(mount(1, json!({"count": 1})));
    });
    let batch = tokio::time::timeout(std::time::Duration::from_secs(10), sub.recv())
        .await
        .expect("no wake-up")
        .unwrap();
    handle.await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].body.kind(), RecordKind::Mount);
}

#[tokio::test]
async fn filters_select_instances_kinds_methods_and_errors() {
    let rec = Recorder::builder().build();
    rec.record(mount(1, json!({"count": 1})));
    rec.record(mount(2, json!({"count": 1})));
    rec.record(action(1, "add", vec![json!(1)], 1));
    rec.record(action(2, "reset", vec![], 1));
    rec.record(ev(
        2,
        &COUNTER,
        fluxlive_instrumentation::EventBody::Panic {
            method: "explode".into(),
            message: "boom".into(),
        },
    ));
    rec.record_drop(1, DropSite::Client, "render queue");
    rec.flush().await;
    let kinds_of = |filter: Filter| -> Vec<(RecordKind, Option<u64>)> {
        let mut sub = rec.subscribe(None, filter);
        let mut out = Vec::new();
        while let Some(b) = sub.try_recv() {
            out.extend(
                b.iter()
                    .map(|r| (r.body.kind(), r.instance.as_ref().map(|i| i.iid))),
            );
        }
        out
    };
    use RecordKind::*;
    assert_eq!(
        kinds_of(Filter {
            instances: vec![2],
            ..Filter::default()
        }),
        vec![
            (Mount, Some(2)),
            (Action, Some(2)),
            (Panic, Some(2)),
            (Dropped, None)
        ]
    );
    assert_eq!(
        kinds_of(Filter {
            methods: vec!["add".into()],
            ..Filter::default()
        }),
        vec![(Action, Some(1)), (Dropped, None)]
    );
    assert_eq!(
        kinds_of(Filter {
            kinds: vec![Mount],
            ..Filter::default()
        }),
        vec![(Mount, Some(1)), (Mount, Some(2)), (Dropped, None)]
    );
    assert_eq!(
        kinds_of(Filter {
            errors_only: true,
            ..Filter::default()
        }),
        vec![(Panic, Some(2)), (Dropped, None)]
    );
    let mut sub = rec.subscribe(
        None,
        Filter {
            types: vec!["Nope".into()],
            ..Filter::default()
        },
    );
    sub.set_filter(Filter::default());
    assert_eq!(sub.try_recv().map(|b| b.len()), Some(6));
}

#[tokio::test]
async fn pause_and_resume_are_recorded_and_nothing_is_recorded_between() {
    let rec = Recorder::builder().build();
    assert!(rec.enabled());
    rec.record(mount(1, json!({"count": 1})));
    rec.pause();
    assert!(!rec.enabled());
    rec.record(count_diff(1, 1));
    rec.pause();
    rec.resume();
    rec.resume();
    assert!(rec.enabled());
    rec.record(action(1, "add", vec![json!(1)], 2));
    rec.flush().await;
    let kinds: Vec<_> = held(&rec).iter().map(|r| r.body.clone()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(kinds[1], RecordBody::Recording { on: false });
    assert_eq!(kinds[2], RecordBody::Recording { on: true });
    assert_eq!(kinds[3].kind(), RecordKind::Action);
}

#[tokio::test]
async fn a_disabled_recorder_records_nothing_and_never_waits() {
    let rec = Recorder::disabled();
    assert!(!rec.enabled());
    rec.resume();
    assert!(!rec.enabled());
    rec.record(mount(1, json!({"count": 1})));
    rec.record_drop(3, DropSite::Exporter, "x");
    rec.flush().await;
    let mut sub = rec.subscribe(None, Filter::default());
    assert_eq!(sub.recv().await, None);
    assert_eq!(rec.bounds().next_seq, 1);
    assert_eq!(rec.dropped_total(), 0);
}

#[tokio::test]
async fn several_recorders_in_one_thread_keep_their_own_records() {
    let a = Recorder::builder().build();
    let b = Recorder::builder().build();
    a.record(mount(1, json!({"count": 1})));
    b.record(mount(2, json!({"count": 1})));
    b.record(count_diff(2, 1));
    a.flush().await;
    b.flush().await;
    let (ra, rb) = (held(&a), held(&b));
    assert_eq!(ra.len(), 1);
    assert_eq!(rb.len(), 2);
    assert!(rb
        .iter()
        .all(|r| r.instance.as_ref().map(|i| i.iid) == Some(2)));
    // A recorder dropped while its thread-local ring lives does not disturb a new one.
    drop(a);
    let c = Recorder::builder().build();
    c.record(mount(3, json!({"count": 1})));
    c.flush().await;
    assert_eq!(held(&c).len(), 1);
}

#[tokio::test]
async fn subscriptions_end_when_the_recorder_stops() {
    let rec = Recorder::builder().build();
    let mut sub = rec.subscribe(None, Filter::default());
    rec.record(mount(1, json!({"count": 1})));
    rec.flush().await;
    drop(rec);
    let first = sub.recv().await.unwrap();
    assert_eq!(first.len(), 1);
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), sub.recv())
        .await
        .expect("subscription did not end");
    assert_eq!(end, None);
}

#[tokio::test]
async fn clear_forgets_history_but_keeps_current_state() {
    let rec = Recorder::builder().build();
    rec.record(mount(1, json!({"count": 1})));
    rec.record(count_diff(1, 1));
    let mut sub = rec.subscribe(None, Filter::default());
    rec.flush().await;
    rec.clear();
    rec.flush().await;
    assert_eq!(rec.history_len(), 0);
    assert_eq!(rec.bounds().oldest_seq, 0);
    assert_eq!(rec.state_at(1, None).unwrap(), (2, json!({"count": 2})));
    // A reader that had not read the cleared records is not told they were dropped.
    rec.record(count_diff(1, 2));
    rec.flush().await;
    let batch = sub.recv().await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].body.kind(), RecordKind::Diff);
    let session = rec.export();
    assert_eq!(session.records[0].body.kind(), RecordKind::Snapshot);
    assert_eq!(
        fluxlive_instrumentation::state_in_records(&session.records, 1, Some(3)).unwrap(),
        (3, json!({"count": 3}))
    );
}

#[test]
fn events_from_a_thread_that_exited_are_still_collected() {
    let rec = Recorder::builder().build();
    for round in 0..5u64 {
        let r = rec.clone();
        std::thread::spawn(move || {
            r.record(mount(round + 1, json!({"count": 1})));
            for v in 1..=20 {
                r.record(count_diff(round + 1, v));
            }
        })
        .join()
        .unwrap();
    }
    block_on(rec.flush());
    let records = held(&rec);
    assert_gaps_explained(&records);
    assert_eq!(records.len(), 5 * 21);
    for iid in 1..=5 {
        assert_eq!(diff_versions(&records, iid), (2..=21).collect::<Vec<_>>());
    }
}
