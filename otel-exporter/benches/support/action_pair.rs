//! The records of one traced `Counter.increment`, shared by the `offer`
//! bench and the `cpu_per_record` example.

use fluxlive_protocol::record::{
    ActionRecord, CallSource, DiffRecord, InstanceRef, Outcome, Record, RecordBody, TraceContext,
};
use serde_json::json;

/// One traced action and its diff, as the runtime records them.
pub(crate) fn action_pair(i: u64) -> [Record; 2] {
    let instance = Some(InstanceRef {
        iid: i % 64,
        id: "c1".into(),
        component: "Counter".into(),
    });
    let trace = Some(TraceContext {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "b7ad6b7169203331".into(),
        parent_span_id: Some("00f067aa0ba902b7".into()),
        flags: 1,
    });
    [
        Record {
            seq: 2 * i + 1,
            ts_us: i * 10,
            conn: 1 + i % 8,
            instance: instance.clone(),
            body: RecordBody::Action(ActionRecord {
                method: "increment".into(),
                args: json!([]),
                args_truncated: false,
                dur_us: 4,
                outcome: Outcome::Ok {
                    result: json!(null),
                },
                version_before: i,
                version_after: i + 1,
                trace: trace.clone(),
                source: CallSource::Client,
            }),
        },
        Record {
            seq: 2 * i + 2,
            ts_us: i * 10 + 5,
            conn: 1 + i % 8,
            instance,
            body: RecordBody::Diff(DiffRecord {
                base: i,
                version: i + 1,
                ops: ops(),
                bytes: 60,
                diff_us: 1,
                encode_us: 1,
                trace,
            }),
        },
    ]
}

fn ops() -> fluxlive_protocol::Patch {
    static OPS: std::sync::OnceLock<fluxlive_protocol::Patch> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        serde_json::from_value(json!([{"op": "replace", "path": "/count", "value": 1}])).unwrap()
    })
    .clone()
}
