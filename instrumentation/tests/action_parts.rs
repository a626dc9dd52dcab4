//! An action event that carries its diff and emits (one push per action)
//! reads back as separate diff, emit and action records; history bounds,
//! cursors, filters, state rebuilding and skipping all see those records.
#![allow(clippy::unwrap_used)]

mod support;

use fluxlive_instrumentation::clock::Instant;
use fluxlive_instrumentation::{DiffPart, EventBody, Filter, Recorder, TraceContext};
use fluxlive_protocol::record::{RecordBody, RecordKind};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// `add(1)` from `before` that set `/count` to `before + 1` and emitted
/// `emits` events named `e0`, `e1`, …
fn combined(
    iid: u64,
    before: u64,
    emits: usize,
    trace: Option<TraceContext>,
) -> fluxlive_instrumentation::Event {
    let started = Instant::now();
    ev(
        iid,
        &VAULT,
        EventBody::Action {
            method: "login".into(),
            args: vec![json!("ann"), json!(SECRET)],
            started,
            dur: Duration::from_micros(30),
            outcome: Ok(Value::Null),
            version_before: before,
            version_after: before + 1,
            trace: trace.map(Arc::new),
            source: Default::default(),
            diff: Some(DiffPart {
                base: before,
                version: before + 1,
                ops: patch(json!([
                    {"op": "replace", "path": "/count", "value": before + 1},
                    {"op": "replace", "path": "/token", "value": SECRET}
                ])),
                bytes: 90,
                diff: Duration::from_micros(3),
                encode: Duration::from_micros(2),
                at: started + Duration::from_micros(20),
            }),
            emits: (0..emits)
                .map(|i| (format!("e{i}").into(), json!({"n": i, "token": SECRET})))
                .collect(),
        },
    )
}

fn vault_mount(iid: u64) -> fluxlive_instrumentation::Event {
    ev(
        iid,
        &VAULT,
        EventBody::Mount {
            props: json!({}),
            version: 1,
            state: json!({"count": 1, "token": SECRET}),
        },
    )
}

fn trace() -> TraceContext {
    TraceContext {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "00f067aa0ba902b7".into(),
        parent_span_id: Some("a3ce929d0e0e4736".into()),
        flags: 1,
    }
}

#[test]
fn one_pushed_action_reads_back_as_diff_then_emits_then_action() {
    let rec = Recorder::builder().build();
    block_on(async {
        rec.record(vault_mount(1));
        rec.record(combined(1, 1, 2, Some(trace())));
        rec.flush().await;
    });
    let records = held(&rec);
    assert_gaps_explained(&records);
    let kinds: Vec<RecordKind> = records.iter().map(|r| r.body.kind()).collect();
    assert_eq!(
        kinds,
        [
            RecordKind::Mount,
            RecordKind::Diff,
            RecordKind::Emit,
            RecordKind::Emit,
            RecordKind::Action
        ]
    );
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(rec.history_len(), 5);
    let (diff, action) = (&records[1], &records[4]);
    // Diff stamped when it was published, emits at the action's end.
    assert_eq!(diff.ts_us, action.ts_us + 20);
    assert_eq!(records[2].ts_us, action.ts_us + 30);
    match (&diff.body, &action.body) {
        (RecordBody::Diff(d), RecordBody::Action(a)) => {
            assert_eq!((d.base, d.version, d.bytes), (1, 2, 90));
            assert_eq!(d.trace, a.trace);
            assert_eq!(
                d.trace.as_ref().map(|t| t.span_id.as_str()),
                Some("00f067aa0ba902b7")
            );
            assert_eq!((a.version_before, a.version_after), (1, 2));
        }
        other => panic!("unexpected bodies {other:?}"),
    }
    match &records[3].body {
        RecordBody::Emit { name, data } => {
            assert_eq!(name, "e1");
            assert_eq!(data["n"], json!(1));
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(SECRET), "secret leaked: {text}");
}

#[test]
fn a_cursor_inside_an_action_gets_only_the_rest_and_filters_see_each_record() {
    let rec = Recorder::builder().build();
    block_on(async {
        rec.record(vault_mount(1));
        rec.record(combined(1, 1, 2, None));
        rec.flush().await;
    });
    // From the second emit (seq 4) on: that emit and the action.
    let mut sub = rec.subscribe(Some(4), Filter::default());
    let got = sub.try_recv().unwrap();
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(sub.cursor(), 6);

    let only = |kinds: Vec<RecordKind>| {
        let mut sub = rec.subscribe(
            Some(0),
            Filter {
                kinds,
                ..Filter::default()
            },
        );
        sub.try_recv().unwrap_or_default()
    };
    let emits = only(vec![RecordKind::Emit]);
    assert_eq!(emits.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
    let diffs = only(vec![RecordKind::Diff]);
    assert_eq!(diffs.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
    let mut by_method = rec.subscribe(
        Some(0),
        Filter {
            methods: vec!["login".into()],
            ..Filter::default()
        },
    );
    let actions = by_method.try_recv().unwrap();
    assert_eq!(actions.iter().map(|r| r.seq).collect::<Vec<_>>(), [5]);
}

#[test]
fn state_at_uses_the_diff_inside_an_action_before_and_after_eviction() {
    // 4 records: the mount (1) and the first action (3) are evicted by the second.
    let rec = Recorder::builder().history(4).build();
    block_on(async {
        rec.record(vault_mount(1));
        rec.record(combined(1, 1, 1, None));
        rec.flush().await;
        assert_eq!(
            rec.state_at(1, Some(2)).unwrap(),
            (2, json!({"count": 2, "token": "[redacted]"}))
        );
        rec.record(combined(1, 2, 1, None));
        rec.flush().await;
    });
    let bounds = rec.bounds();
    assert_eq!((bounds.oldest_seq, bounds.next_seq), (5, 8));
    assert_eq!(rec.history_len(), 3);
    // Version 2 was folded into the base; 3 is rebuilt from it and the held diff.
    assert_eq!(
        rec.state_at(1, Some(2)).unwrap(),
        (2, json!({"count": 2, "token": "[redacted]"}))
    );
    assert_eq!(
        rec.state_at(1, None).unwrap(),
        (3, json!({"count": 3, "token": "[redacted]"}))
    );
    let session = rec.export();
    let text = session.to_jsonl();
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert_eq!(
        fluxlive_instrumentation::state_in_records(&session.records, 1, None).unwrap(),
        (3, json!({"count": 3, "token": "[redacted]"}))
    );
}

#[test]
fn skip_to_end_passes_over_everything_recorded_and_reads_what_follows() {
    let rec = Recorder::builder().build();
    let mut sub = rec.subscribe(None, Filter::default());
    block_on(async {
        rec.record(vault_mount(1));
        for v in 1..=10 {
            rec.record(combined(1, v, 1, None));
        }
        rec.flush().await;
        // 1 mount + 10 × (diff, emit, action).
        assert_eq!(sub.skip_to_end(), 31);
        assert_eq!(sub.skip_to_end(), 0);
        // A reported drop takes 50 sequence numbers but is not 50 records.
        rec.record_drop(
            50,
            fluxlive_instrumentation::DropSite::Exporter,
            "queue_full",
        );
        rec.flush().await;
        assert!(sub.ready().await);
        assert_eq!(sub.skip_to_end(), 0);
        rec.record(combined(1, 11, 0, None));
        rec.flush().await;
        assert!(sub.ready().await);
    });
    let got = sub.try_recv().unwrap();
    assert_eq!(
        got.iter()
            .map(|r| (r.seq, r.body.kind()))
            .collect::<Vec<_>>(),
        [(82, RecordKind::Diff), (83, RecordKind::Action)]
    );
}

#[test]
fn an_event_bigger_than_the_ring_is_recorded_in_order_not_dropped() {
    // A 4 KiB ring and a mount whose state alone is about 40 KiB.
    let rec = Recorder::builder().ring_capacity(16).build();
    let big: Vec<String> = (0..1000).map(|i| format!("item-{i:05}-padding")).collect();
    block_on(async {
        rec.record(count_diff(9, 1));
        rec.record(ev(
            1,
            &VAULT,
            EventBody::Mount {
                props: json!({}),
                version: 1,
                state: json!({"count": 1, "token": SECRET, "items": big}),
            },
        ));
        rec.record(combined(1, 1, 0, None));
        rec.flush().await;
    });
    let records = held(&rec);
    assert_gaps_explained(&records);
    assert_eq!(rec.dropped_total(), 0);
    assert_eq!(
        records.iter().map(|r| r.body.kind()).collect::<Vec<_>>(),
        [
            RecordKind::Diff,
            RecordKind::Mount,
            RecordKind::Diff,
            RecordKind::Action
        ]
    );
    let (version, state) = rec.state_at(1, Some(2)).unwrap();
    assert_eq!(version, 2);
    assert_eq!(state["count"], json!(2));
    assert_eq!(state["token"], json!("[redacted]"));
    assert_eq!(state["items"].as_array().map(Vec::len), Some(1000));
}

#[test]
fn an_action_too_big_for_the_staging_buffer_reads_back_whole_and_in_order() {
    // The hot path encodes actions and diffs in a 2 KiB staging buffer per thread;
    // this one takes about 6 KiB and goes through the general encoder.
    let rec = Recorder::builder().build();
    let long = "n".repeat(3000);
    let mut big = combined(1, 2, 1, Some(trace()));
    if let EventBody::Action { args, emits, .. } = &mut big.body {
        args.push(json!(long));
        emits.push(("long".into(), json!({ "text": long })));
    }
    block_on(async {
        rec.record(vault_mount(1));
        rec.record(combined(1, 1, 1, None));
        rec.record(big);
        rec.record(combined(1, 3, 0, None));
        rec.flush().await;
    });
    let records = held(&rec);
    assert_gaps_explained(&records);
    assert_eq!(rec.dropped_total(), 0);
    let kinds: Vec<_> = records.iter().map(|r| r.body.kind()).collect();
    use RecordKind::{Action, Diff, Emit, Mount};
    assert_eq!(
        kinds,
        [Mount, Diff, Emit, Action, Diff, Emit, Emit, Action, Diff, Action]
    );
    let actions: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::Action(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(
        actions.iter().map(|a| a.version_before).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let big = actions[1];
    assert_eq!(big.args[2], json!(long), "the long argument is whole");
    assert_eq!(big.args[1], json!("[redacted]"));
    assert_eq!(
        big.trace.as_ref().map(|t| t.span_id.as_str()),
        Some("00f067aa0ba902b7")
    );
    let long_emit = records.iter().find_map(|r| match &r.body {
        RecordBody::Emit { name, data } if name == "long" => Some(data),
        _ => None,
    });
    assert_eq!(long_emit, Some(&json!({ "text": long })));
    let (version, state) = rec.state_at(1, Some(4)).unwrap();
    assert_eq!((version, &state["count"]), (4, &json!(4)));
}
