//! State rebuilding (`state_at`) after eviction and time travel, session
//! export round trips, redaction and size caps.
#![allow(clippy::unwrap_used)]

mod support;

use fluxlive_instrumentation::clock::Instant;
use fluxlive_instrumentation::{state_in_records, EventBody, Filter, Recorder, StateAtError};
use fluxlive_protocol::record::{Outcome, RecordBody, RecordKind};
use fluxlive_protocol::session::Session;
use fluxlive_protocol::REDACTED;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn state_at_is_rebuilt_from_the_folded_base_after_eviction() {
    let rec = Recorder::builder().history(10).build();
    rec.record(mount(1, json!({"count": 1, "label": "a"})));
    for v in 1..50 {
        rec.record(count_diff(1, v));
    }
    rec.flush().await;
    assert_eq!(rec.bounds().oldest_seq, 41);
    for v in [41, 45, 50] {
        assert_eq!(
            rec.state_at(1, Some(v)).unwrap(),
            (v, json!({"count": v, "label": "a"}))
        );
    }
    assert_eq!(rec.state_at(1, None).unwrap().0, 50);
    // Version 40 is the folded base itself; 39 is gone.
    assert_eq!(rec.state_at(1, Some(40)).unwrap().0, 40);
    assert_eq!(
        rec.state_at(1, Some(39)),
        Err(StateAtError::VersionUnavailable {
            iid: 1,
            version: Some(39)
        })
    );
    assert_eq!(
        rec.state_at(9, None),
        Err(StateAtError::UnknownInstance { iid: 9 })
    );
    assert_eq!(
        rec.state_at(1, Some(99)).unwrap_err().code(),
        fluxlive_protocol::ErrorCode::VersionUnavailable
    );
}

#[tokio::test]
async fn export_round_trips_and_is_self_sufficient_after_eviction() {
    let rec = Recorder::builder()
        .history(10)
        .runtime_version("9.9.9")
        .build();
    rec.record(mount(1, json!({"count": 1})));
    rec.record(mount(2, json!({"count": 1})));
    for v in 1..30 {
        rec.record(count_diff(1, v));
    }
    rec.record(count_diff(2, 1));
    rec.flush().await;
    let session = rec.export();
    assert_eq!(session.header.runtime, "9.9.9");
    assert_eq!(session.header.records as usize, session.records.len());
    assert_eq!(session.header.started_unix_us, rec.started_unix_us());
    let text = session.to_jsonl();
    let parsed = Session::parse(&text).unwrap();
    assert_eq!(parsed, session);
    // Both instances' mounts were evicted: the file starts with their snapshots.
    let snaps: Vec<_> = parsed
        .records
        .iter()
        .take_while(|r| r.body.kind() == RecordKind::Snapshot)
        .map(|r| r.instance.as_ref().unwrap().iid)
        .collect();
    assert_eq!(snaps.len(), 2, "{:?}", parsed.records.first());
    assert!(parsed.records.windows(2).all(|w| w[0].seq < w[1].seq));
    let oldest_diff_base = parsed
        .records
        .iter()
        .find_map(|r| match &r.body {
            RecordBody::Diff(d) if r.instance.as_ref().unwrap().iid == 1 => Some(d.base),
            _ => None,
        })
        .unwrap();
    for v in oldest_diff_base..=30 {
        assert_eq!(
            state_in_records(&parsed.records, 1, Some(v)).unwrap(),
            (v, json!({"count": v})),
            "version {v}"
        );
        assert_eq!(rec.state_at(1, Some(v)).unwrap().1, json!({"count": v}));
    }
    assert_eq!(
        state_in_records(&parsed.records, 2, None).unwrap(),
        (2, json!({"count": 2}))
    );
}

fn travel(iid: u64, target: u64, version: u64) -> fluxlive_instrumentation::Event {
    ev(iid, &COUNTER, EventBody::TimeTravel { target, version })
}

#[tokio::test]
async fn time_travel_versions_rebuild_even_after_the_target_is_evicted() {
    let rec = Recorder::builder().history(6).build();
    rec.record(mount(1, json!({"count": 1})));
    for v in 1..5 {
        rec.record(count_diff(1, v));
    }
    // Version 6 restores version 2; version 7 continues from it.
    rec.record(travel(1, 2, 6));
    rec.record(ev(
        1,
        &COUNTER,
        EventBody::Diff {
            base: 6,
            version: 7,
            ops: patch(json!([{"op": "add", "path": "/note", "value": "after"}])),
            bytes: 1,
            diff: Duration::ZERO,
            encode: Duration::ZERO,
            trace: None,
        },
    ));
    rec.flush().await;
    assert_eq!(rec.state_at(1, Some(6)).unwrap(), (6, json!({"count": 2})));
    assert_eq!(
        rec.state_at(1, None).unwrap(),
        (7, json!({"count": 2, "note": "after"}))
    );
    let records = held(&rec);
    let travel_at = records
        .iter()
        .position(|r| r.body.kind() == RecordKind::TimeTravel)
        .unwrap();
    assert_eq!(
        records[travel_at + 1].body,
        RecordBody::Snapshot {
            version: 6,
            state: json!({"count": 2})
        }
    );
    // Push everything before the travel out of the history.
    for _ in 0..4 {
        rec.record(ev(1, &COUNTER, EventBody::Resume { version: 7 }));
    }
    rec.flush().await;
    assert!(rec.bounds().oldest_seq > records[travel_at].seq);
    assert_eq!(rec.state_at(1, Some(6)).unwrap().1, json!({"count": 2}));
    assert_eq!(
        rec.state_at(1, Some(7)).unwrap().1,
        json!({"count": 2, "note": "after"})
    );
    let session = Session::parse(&rec.export().to_jsonl()).unwrap();
    assert_eq!(
        state_in_records(&session.records, 1, Some(7)).unwrap().1,
        json!({"count": 2, "note": "after"})
    );
}

#[tokio::test]
async fn a_gap_in_diffs_makes_versions_unavailable_until_a_snapshot() {
    let rec = Recorder::builder().build();
    rec.record(mount(1, json!({"count": 1})));
    rec.record(count_diff(1, 1));
    rec.pause();
    rec.record(count_diff(1, 2)); // not recorded
    rec.resume();
    rec.record(count_diff(1, 3));
    rec.flush().await;
    assert!(rec.state_at(1, Some(4)).is_err());
    assert!(rec.state_at(1, None).is_err());
    assert_eq!(rec.state_at(1, Some(2)).unwrap().1, json!({"count": 2}));
    rec.record(ev(
        1,
        &COUNTER,
        EventBody::Snapshot {
            version: 4,
            state: json!({"count": 4}),
        },
    ));
    rec.record(count_diff(1, 4));
    rec.flush().await;
    assert_eq!(rec.state_at(1, None).unwrap(), (5, json!({"count": 5})));
}

fn vault(body: EventBody) -> fluxlive_instrumentation::Event {
    ev(5, &VAULT, body)
}

#[tokio::test]
async fn redacted_fields_never_leak_into_records_state_or_export() {
    let rec = Recorder::builder().history(8).build();
    let mut sub = rec.subscribe(None, Filter::default());
    rec.record(vault(EventBody::Mount {
        props: json!({"token": SECRET, "user": "ann"}),
        version: 1,
        state: json!({"token": SECRET, "user": "ann", "n": 0}),
    }));
    rec.record(vault(EventBody::Action {
        method: "login".into(),
        args: vec![json!("ann"), json!(SECRET)],
        started: Instant::now(),
        dur: Duration::from_micros(5),
        outcome: Ok(json!({"token": SECRET, "ok": true})),
        version_before: 1,
        version_after: 2,
        trace: None,
        source: Default::default(),
        diff: None,
        emits: Vec::new(),
    }));
    rec.record(vault(EventBody::Diff {
        base: 1,
        version: 2,
        ops: patch(json!([
            {"op": "replace", "path": "/token", "value": format!("{SECRET}-2")},
            {"op": "replace", "path": "/n", "value": 1}
        ])),
        bytes: 10,
        diff: Duration::ZERO,
        encode: Duration::ZERO,
        trace: None,
    }));
    rec.record(vault(EventBody::Diff {
        base: 2,
        version: 3,
        ops: patch(json!([
            {"op": "remove", "path": "/token"},
            {"op": "add", "path": "/token", "value": {"inner": SECRET}},
            {"op": "add", "path": "/token/more", "value": SECRET},
            {"op": "replace", "path": "/n", "value": 2}
        ])),
        bytes: 10,
        diff: Duration::ZERO,
        encode: Duration::ZERO,
        trace: None,
    }));
    rec.record(vault(EventBody::Emit {
        name: "logged-in".into(),
        data: json!({"token": SECRET}),
    }));
    rec.record(vault(EventBody::Snapshot {
        version: 3,
        state: json!({"token": SECRET, "n": 2, "user": "ann"}),
    }));
    rec.flush().await;

    let mut text = String::new();
    while let Some(batch) = sub.try_recv() {
        text.push_str(&serde_json::to_string(&batch).unwrap());
    }
    assert!(text.contains(REDACTED));
    for v in 1..=3 {
        let (_, state) = rec.state_at(5, Some(v)).unwrap();
        assert_eq!(state["token"], json!(REDACTED), "version {v}");
        text.push_str(&state.to_string());
    }
    assert_eq!(
        rec.state_at(5, Some(3)).unwrap().1,
        json!({"token": REDACTED, "user": "ann", "n": 2})
    );
    // Evict the mount so that export has to write the folded base.
    for _ in 0..8 {
        rec.record(vault(EventBody::Resume { version: 3 }));
    }
    rec.flush().await;
    let export = rec.export().to_jsonl();
    assert!(export.contains("\"kind\":\"snapshot\""));
    text.push_str(&export);
    let mut live = json!({"token": SECRET, "n": 1});
    assert!(rec.redact_state("Vault", &mut live));
    text.push_str(&live.to_string());
    assert!(!text.contains(SECRET), "secret leaked: {text}");
}

#[tokio::test]
async fn large_values_are_capped_and_flagged() {
    let rec = Recorder::builder().max_value_bytes(256).build();
    rec.record(action(1, "add", vec![json!(1), json!("y".repeat(1000))], 1));
    rec.record(ev(
        1,
        &COUNTER,
        EventBody::Emit {
            name: "big".into(),
            data: json!(["z".repeat(1000)]),
        },
    ));
    rec.record(ev(
        1,
        &COUNTER,
        EventBody::Panic {
            method: "explode".into(),
            message: "p".repeat(1000),
        },
    ));
    rec.flush().await;
    let records = held(&rec);
    let RecordBody::Action(a) = &records[0].body else {
        panic!()
    };
    assert!(a.args_truncated);
    assert_eq!(a.args[0], json!(1));
    assert!(a.args[1].as_str().unwrap().starts_with("[truncated"));
    assert!(matches!(
        a.outcome,
        Outcome::Ok {
            result: Value::Null
        }
    ));
    let RecordBody::Emit { data, .. } = &records[1].body else {
        panic!()
    };
    assert!(data.as_str().unwrap().starts_with("[truncated"));
    let RecordBody::Panic { message, .. } = &records[2].body else {
        panic!()
    };
    assert!(message.len() < 300);
}

#[tokio::test]
async fn records_carry_instance_connection_and_monotonic_timestamps() {
    let rec = Recorder::builder().build();
    let started = Instant::now();
    rec.record(ev(
        3,
        &COUNTER,
        EventBody::ConnOpen {
            peer: Some("127.0.0.1:5000".parse().unwrap()),
        },
    ));
    rec.record(mount(3, json!({"count": 1})));
    rec.record(ev(
        3,
        &COUNTER,
        EventBody::Action {
            method: "add".into(),
            args: vec![json!(2)],
            started,
            dur: Duration::from_millis(3),
            outcome: Err((fluxlive_protocol::ErrorCode::ActionFailed, "nope".into())),
            version_before: 1,
            version_after: 1,
            trace: None,
            source: fluxlive_protocol::record::CallSource::Debug,
            diff: None,
            emits: Vec::new(),
        },
    ));
    rec.flush().await;
    let records = held(&rec);
    assert_eq!(
        records[0].body,
        RecordBody::ConnOpen {
            peer: Some("127.0.0.1:5000".into())
        }
    );
    let inst = records[1].instance.as_ref().unwrap();
    assert_eq!(
        (inst.iid, inst.id.as_str(), inst.component.as_str()),
        (3, "i3", "Counter")
    );
    assert_eq!(records[1].conn, 1);
    assert!(records[0].ts_us <= records[1].ts_us);
    let RecordBody::Action(a) = &records[2].body else {
        panic!()
    };
    assert_eq!(a.dur_us, 3000);
    assert!(matches!(&a.outcome, Outcome::Err { message, .. } if message == "nope"));
    // The action is stamped with its start, taken before the other two.
    assert!(records[2].ts_us <= records[0].ts_us);
}
