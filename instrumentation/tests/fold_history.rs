//! Folding evicted records into each instance's base, checked against the
//! states the recorded ops produce one after the other: whatever mix of
//! ops, snapshots and redacted fields was evicted in whatever batches,
//! every version the history still holds rebuilds exactly, and none that a
//! held record names is lost.
#![allow(clippy::unwrap_used)]

mod support;

use fluxlive_instrumentation::{EventBody, Recorder, StateAtError};
use fluxlive_protocol::record::RecordBody;
use fluxlive_protocol::REDACTED;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

/// One state change, as a template filled in against the current state.
#[derive(Debug, Clone, Copy)]
enum Step {
    Count,
    TwoFields,
    FieldA,
    Push,
    PopFront,
    ReplaceFirstItem,
    NestedLeaf,
    NestedWhole,
    Token,
    /// An action with no state change in between.
    NoChange,
    /// A snapshot of the current state.
    Snapshot,
    /// A count change recorded as the runtime does after recording was
    /// resumed: a snapshot at the new version first, then the diff to it.
    ResumedCount,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Count),
        2 => Just(Step::TwoFields),
        1 => Just(Step::FieldA),
        1 => Just(Step::Push),
        1 => Just(Step::PopFront),
        1 => Just(Step::ReplaceFirstItem),
        1 => Just(Step::NestedLeaf),
        1 => Just(Step::NestedWhole),
        2 => Just(Step::Token),
        1 => Just(Step::NoChange),
        1 => Just(Step::Snapshot),
        1 => Just(Step::ResumedCount),
    ]
}

/// The ops of `step` at counter value `n`, or `None` when it has no ops
/// (or would not apply to `state`).
fn ops_for(step: Step, n: u64, state: &Value) -> Option<Value> {
    let items = state["items"].as_array().map_or(0, Vec::len);
    Some(match step {
        Step::Count | Step::ResumedCount => {
            json!([{"op": "replace", "path": "/count", "value": n}])
        }
        Step::TwoFields => json!([
            {"op": "replace", "path": "/a", "value": n},
            {"op": "replace", "path": "/b", "value": format!("b{n}")}
        ]),
        Step::FieldA => json!([{"op": "replace", "path": "/a", "value": {"n": n}}]),
        Step::Push => json!([{"op": "add", "path": "/items/-", "value": n}]),
        Step::PopFront if items > 0 => json!([{"op": "remove", "path": "/items/0"}]),
        Step::ReplaceFirstItem if items > 0 => {
            json!([{"op": "replace", "path": "/items/0", "value": n}])
        }
        Step::NestedLeaf => json!([{"op": "replace", "path": "/nested/x", "value": n}]),
        Step::NestedWhole => json!([{"op": "replace", "path": "/nested", "value": {"x": n}}]),
        Step::Token => json!([{"op": "replace", "path": "/token", "value": format!("t{n}")}]),
        _ => return None,
    })
}

/// What the history shows of instance `i`'s state: `Vault` (1) redacts `token`.
fn shown(i: usize, state: &Value) -> Value {
    let mut s = state.clone();
    if i == 1 {
        s["token"] = json!(REDACTED);
    }
    s
}

/// Records `steps` for two instances (`Vault` has `token` redacted) into a
/// history of `capacity` records, then checks every version it can rebuild.
fn check(capacity: usize, steps: &[(bool, Step)]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rec = Recorder::builder().history(capacity).build();
    let start = json!({"count": 0, "a": 0, "b": "", "items": [], "nested": {"x": 0}, "token": "t"});
    // Per instance: its meta, the true state, and the redacted state at each version.
    let metas = [&COUNTER, &VAULT];
    let mut states = [start.clone(), start.clone()];
    let mut versions: [Vec<Value>; 2] = [vec![Value::Null], vec![Value::Null]];
    for (i, meta) in metas.iter().enumerate() {
        let iid = i as u64 + 1;
        rec.record(ev(
            iid,
            meta,
            EventBody::Mount {
                props: json!({}),
                version: 1,
                state: start.clone(),
            },
        ));
        versions[i].push(shown(i, &start));
    }
    for (n, (second, step)) in steps.iter().enumerate() {
        let i = usize::from(*second);
        let (iid, meta) = (i as u64 + 1, metas[i]);
        let version = versions[i].len() as u64 - 1;
        match (step, ops_for(*step, n as u64, &states[i])) {
            (_, Some(ops)) => {
                let ops = patch(ops);
                json_patch::patch(&mut states[i], &ops).unwrap();
                versions[i].push(shown(i, &states[i]));
                if matches!(step, Step::ResumedCount) {
                    rec.record(ev(
                        iid,
                        meta,
                        EventBody::Snapshot {
                            version: version + 1,
                            state: states[i].clone(),
                        },
                    ));
                }
                rec.record(ev(
                    iid,
                    meta,
                    EventBody::Diff {
                        base: version,
                        version: version + 1,
                        ops,
                        bytes: 40,
                        diff: Duration::ZERO,
                        encode: Duration::ZERO,
                        trace: None,
                    },
                ));
            }
            (Step::Snapshot, None) => rec.record(ev(
                iid,
                meta,
                EventBody::Snapshot {
                    version,
                    state: states[i].clone(),
                },
            )),
            (_, None) => {
                // An action that changed nothing.
                let mut e = action(iid, "add", vec![json!(1)], version);
                e.instance = Some(key(iid, meta));
                if let EventBody::Action { version_after, .. } = &mut e.body {
                    *version_after = version;
                }
                rec.record(e);
            }
        }
    }
    rt.block_on(rec.flush());
    let records = support::held(&rec);
    for (i, expected) in versions.iter().enumerate() {
        let iid = i as u64 + 1;
        let newest = expected.len() as u64 - 1;
        let mut held = Vec::new();
        for v in 1..=newest {
            match rec.state_at(iid, Some(v)) {
                Ok((got_v, got)) => {
                    prop_assert_eq!(got_v, v);
                    prop_assert_eq!(
                        &got,
                        &expected[v as usize],
                        "instance {} version {}",
                        iid,
                        v
                    );
                    held.push(v);
                }
                Err(StateAtError::VersionUnavailable { .. }) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{iid} v{v}: {e}"))),
            }
        }
        // Whatever was evicted, the versions left run unbroken up to the
        // newest, and include every version a held record names: the base
        // the evicted records were folded into is known.
        prop_assert!(!held.is_empty(), "instance {} has no version", iid);
        let first = held[0];
        prop_assert_eq!(&held, &(first..=newest).collect::<Vec<_>>());
        for r in records
            .iter()
            .filter(|r| r.instance.as_ref().map(|k| k.iid) == Some(iid))
        {
            let named = match &r.body {
                RecordBody::Diff(d) => d.version,
                RecordBody::Snapshot { version, .. } | RecordBody::Mount { version, .. } => {
                    *version
                }
                _ => continue,
            };
            prop_assert!(
                named >= first,
                "instance {} lost version {} (oldest rebuilt {})",
                iid,
                named,
                first
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_held_version_rebuilds_exactly_whatever_was_evicted(
        capacity in prop_oneof![Just(64usize), Just(96), Just(320)],
        steps in prop::collection::vec((any::<bool>(), step()), 0..700),
    ) {
        check(capacity, &steps)?;
    }
}

/// Long runs of one counter field, evicted in big batches, with another
/// instance's (partly redacted) changes interleaved.
#[test]
fn long_replace_runs_fold_to_the_same_states() {
    let steps: Vec<(bool, Step)> = (0..5_000)
        .map(|n| match n % 7 {
            0 => (true, Step::TwoFields),
            3 => (true, Step::Token),
            _ => (false, Step::Count),
        })
        .collect();
    check(640, &steps).unwrap();
}

/// A diff lost between two recorded ones (a full ring drops it) leaves
/// the instance's state unknown from there on, as it does one step at a
/// time, even when the diffs on both sides replace the same field and the
/// fold would otherwise let the later one stand for the earlier one.
#[test]
fn a_lost_diff_between_two_like_ones_is_not_folded_over() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rec = Recorder::builder().history(64).build();
    let diff = |base: u64, ops: Value| {
        ev(
            1,
            &COUNTER,
            EventBody::Diff {
                base,
                version: base + 1,
                ops: patch(ops),
                bytes: 40,
                diff: Duration::ZERO,
                encode: Duration::ZERO,
                trace: None,
            },
        )
    };
    rec.record(ev(
        1,
        &COUNTER,
        EventBody::Mount {
            props: json!({}),
            version: 1,
            state: json!({"count": 0, "a": 0}),
        },
    ));
    rec.record(diff(
        1,
        json!([{"op": "replace", "path": "/count", "value": 1}]),
    ));
    // 2 -> 3 (`/a` to 7) never reached the recorder.
    rec.record(diff(
        3,
        json!([{"op": "replace", "path": "/count", "value": 2}]),
    ));
    // Evict all of it.
    for n in 0..200 {
        rec.record(ev(
            2,
            &COUNTER,
            EventBody::Snapshot {
                version: n + 1,
                state: json!({"count": n}),
            },
        ));
    }
    rt.block_on(rec.flush());
    for v in [3, 4] {
        match rec.state_at(1, Some(v)) {
            Err(StateAtError::VersionUnavailable { .. }) => {}
            other => panic!("version {v} after a lost diff: {other:?}"),
        }
    }
}
