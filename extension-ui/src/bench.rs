//! `?bench=N`: synthesize N records in the panel, ingest them through the
//! same path as live records, and time ingestion, filtering and scroll
//! renders. The numbers are shown in the panel and quoted in docs/panel.md.

use fluxlive_protocol::record::{
    ActionRecord, CallSource, DiffRecord, InstanceRef, Outcome, Record, RecordBody, RenderRecord,
};
use serde_json::json;
use std::cell::RefCell;

/// Instances the synthetic records are spread over.
pub const INSTANCES: u64 = 24;

fn instance(i: u64) -> InstanceRef {
    let (id, ty) = if i % 4 == 3 {
        (format!("todos-{i}"), "TodoList")
    } else {
        (format!("c{i}"), "Counter")
    };
    InstanceRef {
        iid: i + 1,
        id,
        component: ty.to_owned(),
    }
}

/// Records `seq_from..seq_from + n`: mounts first, then action / diff /
/// render triples round-robin over the instances, with an occasional
/// failing or slow action so filters and the profiler have work.
pub fn synth(seq_from: u64, n: usize) -> Vec<Record> {
    let mut out = Vec::with_capacity(n);
    for k in 0..n as u64 {
        let seq = seq_from + k;
        let ts_us = seq * 37;
        let body;
        let i;
        if seq <= INSTANCES {
            i = seq - 1;
            body = RecordBody::Mount {
                props: json!({"start": 0}),
                version: 1,
                state: json!({"count": 0, "step": 1, "label": null}),
            };
        } else {
            let step = seq - INSTANCES - 1;
            let round = step / 3;
            i = round % INSTANCES;
            // Version after this round's action for instance i.
            let v = 1 + round / INSTANCES + 1;
            body = match step % 3 {
                0 => {
                    let fail = round % 997 == 5;
                    RecordBody::Action(ActionRecord {
                        method: if fail {
                            "fail".into()
                        } else {
                            "increment".into()
                        },
                        args: json!([]),
                        args_truncated: false,
                        dur_us: if round % 1009 == 7 {
                            9_000
                        } else {
                            5 + round % 40
                        },
                        outcome: if fail {
                            Outcome::Err {
                                code: fluxlive_protocol::ErrorCode::ActionFailed,
                                message: "Counter.fail: synthetic".into(),
                            }
                        } else {
                            Outcome::Ok {
                                result: json!(null),
                            }
                        },
                        version_before: v - 1,
                        version_after: v,
                        trace: None,
                        source: CallSource::Client,
                    })
                }
                1 => RecordBody::Diff(DiffRecord {
                    base: v - 1,
                    version: v,
                    ops: serde_json::from_value(
                        json!([{"op": "replace", "path": "/count", "value": v - 1}]),
                    )
                    .unwrap_or_default(),
                    bytes: 64,
                    diff_us: 3,
                    encode_us: 1,
                    trace: None,
                }),
                _ => RecordBody::Render(RenderRecord {
                    version: v,
                    apply_us: 20,
                    render_us: 40 + round % 60,
                    frame_us: 8_000,
                    at_unix_us: None,
                    trace: None,
                }),
            };
        }
        out.push(Record {
            seq,
            ts_us,
            conn: 1 + (i % 3),
            instance: Some(instance(i)),
            body,
        });
    }
    out
}

/// Scroll-render timings: the scroll event time, and each render commit after it.
#[derive(Default, Debug)]
struct Probe {
    event_at: Option<f64>,
    samples: Vec<f64>,
}

thread_local! {
    static PROBE: RefCell<Probe> = RefCell::new(Probe::default());
}

/// The timeline saw a scroll event at `now` (ms).
pub fn on_scroll(now: f64) {
    PROBE.with(|p| p.borrow_mut().event_at = Some(now));
}

/// The timeline committed a render at `now` (ms).
pub fn on_commit(now: f64) {
    PROBE.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(t) = p.event_at.take() {
            p.samples.push(now - t);
        }
    });
}

/// Takes the scroll-to-render times collected so far (ms).
pub fn take_samples() -> Vec<f64> {
    PROBE.with(|p| std::mem::take(&mut p.borrow_mut().samples))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::Model;

    #[test]
    fn synthetic_records_are_consistent() {
        let recs = synth(1, 3_000);
        assert_eq!(recs.len(), 3_000);
        assert!(recs.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let mut m = Model::default();
        m.ingest(&recs);
        assert_eq!(m.log.len(), 3_000);
        assert_eq!(m.instances.list().len(), INSTANCES as usize);
        // every diff applied: states follow the actions
        assert!(!m.instances.any_stale(), "diff chain broken");
        let errors = m.log.rows().iter().filter(|r| r.is_error()).count();
        assert!(errors > 0);
    }

    #[test]
    fn probe_pairs_scroll_with_next_commit() {
        on_commit(1.0);
        on_scroll(10.0);
        on_commit(12.5);
        on_commit(20.0);
        assert_eq!(take_samples(), vec![2.5]);
        assert!(take_samples().is_empty());
    }
}
