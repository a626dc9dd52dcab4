//! The frequent record bodies (actions, diffs, renders) stored as only the
//! part their [`Row`] cannot hold. [`crate::log::Log`] keeps the residue only
//! when [`rebuild`] gives back the exact body, so nothing is ever lost.

use crate::log::{Row, FLAG_DEBUG, FLAG_REPLAY};
use fluxlive_protocol::record::{
    ActionRecord, CallSource, DiffRecord, Outcome, RecordBody, RenderRecord, TraceContext,
};
use fluxlive_protocol::Patch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn empty_args() -> Value {
    Value::Array(Vec::new())
}

fn is_empty_args(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty)
}

/// What an action row leaves out. Absent fields mean: no arguments,
/// returned `null`, no trace, not truncated.
#[derive(Serialize, Deserialize)]
struct ActionRest {
    #[serde(default = "empty_args", skip_serializing_if = "is_empty_args")]
    a: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<TraceContext>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x: bool,
    /// A source the row's flags cannot say (not client, debug or replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<CallSource>,
}

/// Whether the row's flags can say `source`.
fn flag_source(source: CallSource) -> bool {
    [CallSource::Client, CallSource::Debug, CallSource::Replay].contains(&source)
}

/// What a diff row leaves out.
#[derive(Serialize, Deserialize)]
struct DiffRest {
    o: Patch,
    d: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<TraceContext>,
}

/// The residue of `body`, or `None` when this kind is stored whole.
pub fn residue(body: &RecordBody) -> Option<String> {
    match body {
        RecordBody::Action(a) => {
            let rest = ActionRest {
                a: a.args.clone(),
                o: match &a.outcome {
                    Outcome::Ok {
                        result: Value::Null,
                    } => None,
                    other => Some(other.clone()),
                },
                t: a.trace.clone(),
                x: a.args_truncated,
                s: (!flag_source(a.source)).then_some(a.source),
            };
            if is_empty_args(&rest.a)
                && rest.o.is_none()
                && rest.t.is_none()
                && !rest.x
                && rest.s.is_none()
            {
                return Some(String::new());
            }
            serde_json::to_string(&rest).ok()
        }
        RecordBody::Diff(d) => serde_json::to_string(&DiffRest {
            o: d.ops.clone(),
            d: d.diff_us,
            t: d.trace.clone(),
        })
        .ok(),
        RecordBody::Render(r) if r.at_unix_us.is_none() && r.trace.is_none() => Some(String::new()),
        _ => None,
    }
}

/// The body of `row` (whose interned name is `name`) from its residue.
pub fn rebuild(row: &Row, name: &str, residue: &str) -> Option<RecordBody> {
    use fluxlive_protocol::record::RecordKind;
    match row.kind {
        RecordKind::Action => {
            let rest: ActionRest = if residue.is_empty() {
                ActionRest {
                    a: empty_args(),
                    o: None,
                    t: None,
                    x: false,
                    s: None,
                }
            } else {
                serde_json::from_str(residue).ok()?
            };
            let source = if let Some(s) = rest.s {
                s
            } else if row.flags & FLAG_DEBUG != 0 {
                CallSource::Debug
            } else if row.flags & FLAG_REPLAY != 0 {
                CallSource::Replay
            } else {
                CallSource::Client
            };
            Some(RecordBody::Action(ActionRecord {
                method: name.to_owned(),
                args: rest.a,
                args_truncated: rest.x,
                dur_us: u64::from(row.dur_us),
                outcome: rest.o.unwrap_or(Outcome::Ok {
                    result: Value::Null,
                }),
                version_before: u64::from(row.extra),
                version_after: row.version,
                trace: rest.t,
                source,
            }))
        }
        RecordKind::Diff => {
            let rest: DiffRest = serde_json::from_str(residue).ok()?;
            Some(RecordBody::Diff(DiffRecord {
                base: u64::from(row.aux),
                version: row.version,
                ops: rest.o,
                bytes: row.extra,
                diff_us: rest.d,
                encode_us: u64::from(row.dur_us).checked_sub(rest.d)?,
                trace: rest.t,
            }))
        }
        RecordKind::Render if residue.is_empty() => Some(RecordBody::Render(RenderRecord {
            version: row.version,
            apply_us: u64::from(row.aux),
            render_us: u64::from(row.dur_us),
            frame_us: u64::from(row.extra),
            at_unix_us: None,
            trace: None,
        })),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::log::{Log, FLAG_FULL, NONE};
    use fluxlive_protocol::record::*;
    use serde_json::json;

    fn round_trip(body: RecordBody) -> (bool, usize) {
        let mut log = Log::default();
        let rec = Record {
            seq: 1,
            ts_us: 5,
            conn: 2,
            instance: None,
            body: body.clone(),
        };
        let i = log.push(&rec, NONE);
        assert_eq!(log.body(i).unwrap(), body);
        (log.row(i).unwrap().flags & FLAG_FULL != 0, log.text_bytes())
    }

    fn action(args: serde_json::Value, outcome: Outcome, before: u64, trace: bool) -> RecordBody {
        RecordBody::Action(ActionRecord {
            method: "add".into(),
            args,
            args_truncated: false,
            dur_us: 17,
            outcome,
            version_before: before,
            version_after: before + 1,
            trace: trace.then(|| TraceContext {
                trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
                span_id: "b7ad6b7169203331".into(),
                parent_span_id: None,
                flags: 1,
            }),
            source: CallSource::Replay,
        })
    }

    #[test]
    fn trivial_action_and_render_store_no_text() {
        let (full, bytes) = round_trip(action(
            json!([]),
            Outcome::Ok {
                result: json!(null),
            },
            3,
            false,
        ));
        assert!(!full);
        assert_eq!(bytes, 0);
        let render = RecordBody::Render(RenderRecord {
            version: 4,
            apply_us: 20,
            render_us: 40,
            frame_us: 8000,
            at_unix_us: None,
            trace: None,
        });
        assert_eq!(round_trip(render), (false, 0));
    }

    #[test]
    fn actions_with_args_errors_and_traces_round_trip_compactly() {
        let err = Outcome::Err {
            code: fluxlive_protocol::ErrorCode::ActionFailed,
            message: "no".into(),
        };
        for body in [
            action(json!([5, "x"]), Outcome::Ok { result: json!(15) }, 2, true),
            action(json!([]), err, 2, false),
        ] {
            let full_len = serde_json::to_string(&body).unwrap().len();
            let (full, bytes) = round_trip(body);
            assert!(!full);
            assert!(bytes < full_len / 2 + 40, "{bytes} vs {full_len}");
        }
    }

    #[test]
    fn every_call_source_round_trips() {
        for src in ["client", "debug", "replay", "event", "dependency", "timer"] {
            // Sources this protocol version lacks are skipped.
            let Ok(source) = serde_json::from_value::<CallSource>(json!(src)) else {
                continue;
            };
            let RecordBody::Action(mut a) = action(
                json!([]),
                Outcome::Ok {
                    result: json!(null),
                },
                1,
                false,
            ) else {
                unreachable!()
            };
            a.source = source;
            assert!(!round_trip(RecordBody::Action(a)).0, "{src} stored whole");
        }
    }

    #[test]
    fn diff_round_trips_and_odd_values_fall_back_to_full() {
        let ops = serde_json::from_value(json!([{"op": "replace", "path": "/count", "value": 3}]))
            .unwrap();
        let diff = RecordBody::Diff(DiffRecord {
            base: 2,
            version: 3,
            ops,
            bytes: 64,
            diff_us: 3,
            encode_us: 1,
            trace: None,
        });
        assert!(!round_trip(diff).0);
        // a version past u32 does not fit the row's version-before field
        let big = action(
            json!([]),
            Outcome::Ok {
                result: json!(null),
            },
            u64::from(u32::MAX) + 7,
            false,
        );
        assert!(round_trip(big).0);
        let render = RecordBody::Render(RenderRecord {
            version: 4,
            apply_us: 20,
            render_us: 40,
            frame_us: 8000,
            at_unix_us: Some(1),
            trace: None,
        });
        assert!(round_trip(render).0);
        let mount = RecordBody::Mount {
            props: json!({}),
            version: 0,
            state: json!({"count": 0}),
        };
        assert!(round_trip(mount).0);
    }
}
