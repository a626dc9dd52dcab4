//! Cost of `offer()` and throughput with the exporter on vs off.
//!
//! Run with `cargo bench -p fluxlive-otel --bench offer`. The "on" cases send
//! to a local OTLP/HTTP receiver on 127.0.0.1 (the same test receiver the
//! integration tests use), so the export thread's mapping, encoding and HTTP
//! work competes for the same cores as the loop, as it would in production.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Receiver, Reply};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fluxlive_otel::{records_to_otlp_request, FileExportOptions, OtelConfig, OtelExporter};
use fluxlive_protocol::record::{
    ActionRecord, CallSource, DiffRecord, InstanceRef, Outcome, Record, RecordBody, TraceContext,
};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;

/// One traced action and its diff, as the runtime records them.
fn action_pair(i: u64) -> [Record; 2] {
    let instance = Some(InstanceRef {
        iid: i % 64,
        id: format!("c{}", i % 64),
        component: "Counter".into(),
    });
    let trace = Some(TraceContext {
        trace_id: format!("{:032x}", i + 1),
        span_id: format!("{:016x}", i + 1),
        parent_span_id: Some(format!("{:016x}", (i + 1) << 8)),
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
                outcome: Outcome::Ok { result: json!(null) },
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
                ops: serde_json::from_value(json!([{"op": "replace", "path": "/count", "value": i}])).unwrap(),
                bytes: 60,
                diff_us: 1,
                encode_us: 1,
                trace,
            }),
        },
    ]
}

fn records(n: u64) -> Vec<Record> {
    (0..n / 2).flat_map(action_pair).collect()
}

fn exporter(rx: &Receiver) -> OtelExporter {
    OtelExporter::start(
        OtelConfig::default()
            .endpoint(&rx.base)
            .metrics_endpoint(None)
            .queue_capacity(1 << 16)
            .batch_delay(Duration::from_millis(50))
            .linger(Duration::from_millis(20)),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let rx = Receiver::start(Reply::Ok);

    // Per-record cost of offer(&[Record]) (clone + queue) for a batch of 64.
    let mut g = c.benchmark_group("offer");
    let batch = records(64);
    g.throughput(Throughput::Elements(batch.len() as u64));
    {
        let e = exporter(&rx);
        g.bench_function("offer_slice_64", |b| b.iter(|| e.offer(black_box(&batch))));
        eprintln!("offer_slice_64: {:?}", e.stats());
    }
    {
        let e = exporter(&rx);
        g.bench_function("offer_owned_64", |b| {
            b.iter_batched(|| batch.clone(), |v| e.offer_owned(v), BatchSize::SmallInput)
        });
        eprintln!("offer_owned_64: {:?}", e.stats());
    }
    {
        // A full queue: the refusal path.
        let e = OtelExporter::start(
            OtelConfig::default()
                .endpoint(&rx.base)
                .metrics_endpoint(None)
                .queue_capacity(1),
        )
        .unwrap();
        e.offer(&batch);
        g.bench_function("offer_slice_64_queue_full", |b| b.iter(|| e.offer(black_box(&batch[1..2]))));
    }
    g.finish();

    // A loop that creates records, with the exporter off and on.
    let mut g = c.benchmark_group("create_loop");
    g.throughput(Throughput::Elements(64));
    g.bench_function("exporter_off", |b| b.iter(|| black_box(records(64))));
    {
        let e = exporter(&rx);
        g.bench_function("exporter_on", |b| b.iter(|| e.offer_owned(records(64))));
        e.flush(Duration::from_secs(30)).unwrap();
        eprintln!("create_loop/exporter_on: {:?}", e.stats());
    }
    g.finish();

    // What the export thread can map per second (records -> spans).
    let mut g = c.benchmark_group("map");
    let many = records(10_000);
    g.throughput(Throughput::Elements(many.len() as u64));
    g.sample_size(20);
    g.bench_function("records_to_spans_10k", |b| {
        b.iter(|| records_to_otlp_request(black_box(&many), 1, &FileExportOptions::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
