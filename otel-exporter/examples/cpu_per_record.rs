//! CPU time per record of the export thread's work: mapping records to
//! spans (and, with `encode`, protobuf encoding), in batches of 512 records
//! as the exporter sends them. Thread CPU time (from /proc, Linux) rather
//! than wall time, so the figure holds on a machine shared with other work.
//!
//! Run with: `cargo run --release -p fluxlive-otel --example cpu_per_record [encode]`
#![allow(missing_docs, clippy::unwrap_used)]
use fluxlive_otel::{records_to_otlp_request, FileExportOptions};
use fluxlive_protocol::record::*;
use serde_json::json;

fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) * 10
}

fn main() {
    let ops: fluxlive_protocol::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/count", "value": 1}])).unwrap();
    let mut recs = Vec::new();
    for i in 0..256u64 {
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
        recs.push(Record {
            seq: 2 * i + 1,
            ts_us: i * 10,
            conn: 1,
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
        });
        recs.push(Record {
            seq: 2 * i + 2,
            ts_us: i * 10 + 5,
            conn: 1,
            instance,
            body: RecordBody::Diff(DiffRecord {
                base: i,
                version: i + 1,
                ops: ops.clone(),
                bytes: 60,
                diff_us: 1,
                encode_us: 1,
                trace,
            }),
        });
    }
    let encode = std::env::args().nth(1).is_some();
    let c0 = cpu_ms();
    let mut n = 0u64;
    let mut bytes = 0;
    while cpu_ms() - c0 < 3000 {
        for _ in 0..20 {
            let req = records_to_otlp_request(&recs, 1, &FileExportOptions::default());
            if encode {
                bytes += prost::Message::encode_to_vec(&req).len();
            }
            n += recs.len() as u64;
        }
    }
    let c = cpu_ms() - c0;
    eprintln!(
        "{} records, {c} ms CPU => {:.3} us CPU/record ({bytes} bytes)",
        n,
        c as f64 * 1000.0 / n as f64
    );
}
