//! Cost of `offer()` and throughput with the exporter on vs off.
//!
//! Run with `cargo bench -p fluxlive-otel --bench offer`. The exporter sends
//! to a local OTLP/HTTP receiver on 127.0.0.1 (the same test receiver the
//! integration tests use), so the export thread's mapping, encoding and HTTP
//! work (and the receiver's decoding) compete for the same cores as the
//! measured loop, as export would in production.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Receiver, Reply};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fluxlive_otel::proto::collector::trace::v1::ExportTraceServiceRequest;
use fluxlive_otel::{records_to_otlp_request, FileExportOptions, OtelConfig, OtelExporter};
use fluxlive_protocol::record::Record;
use prost::Message;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Iterations timed between two untimed drains of the queue, so that every
/// timed offer is accepted (none refused by a full queue).
const CHUNK: u64 = 64;
const BATCH: u64 = 64;

#[path = "support/action_pair.rs"]
mod action_pair;

use action_pair::action_pair;

fn records(n: u64) -> Vec<Record> {
    (0..n / 2).flat_map(action_pair).collect()
}

fn exporter(rx: &Receiver) -> OtelExporter {
    OtelExporter::start(
        OtelConfig::default()
            .endpoint(&rx.base)
            .metrics_endpoint(None)
            .queue_capacity((CHUNK * BATCH * 2) as usize)
            .batch_delay(Duration::from_millis(20))
            .linger(Duration::from_millis(10)),
    )
    .unwrap()
}

/// Times `f` over `iters` iterations in chunks, draining the exporter
/// (untimed) between chunks.
fn timed_accepted(iters: u64, e: &OtelExporter, mut f: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let t = Instant::now();
        for i in 0..n {
            f(done + i);
        }
        total += t.elapsed();
        done += n;
        e.flush(Duration::from_secs(30)).unwrap();
    }
    total
}

/// CPU time (user + system) of the live `fluxlive-otel` export thread, from
/// /proc (Linux; clock ticks of 10 ms). CPU time, unlike wall time, is not
/// inflated when other processes hold the cores.
fn export_thread_cpu() -> Option<Duration> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "fluxlive-otel" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        total = Some(Duration::from_millis(ticks * 10));
    }
    total
}

fn bench(c: &mut Criterion) {
    let rx = Receiver::start(Reply::Ok);
    let batch = records(BATCH);

    let mut g = c.benchmark_group("offer");
    g.throughput(Throughput::Elements(BATCH));
    {
        // offer(&[Record]) of 64 records, all accepted: clone + queue.
        let e = exporter(&rx);
        g.bench_function("accepted_slice_64", |b| {
            b.iter_custom(|iters| timed_accepted(iters, &e, |_| e.offer(black_box(&batch))))
        });
        let s = e.stats();
        assert_eq!(s.records_dropped, 0, "{s:?}");
        eprintln!("offer/accepted_slice_64: {s:?}");
    }
    {
        // offer_owned(Vec<Record>) of 64 records, all accepted: no clone.
        let e = exporter(&rx);
        g.bench_function("accepted_owned_64", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = CHUNK.min(iters - done);
                    let mut vecs: Vec<Vec<Record>> = (0..n).map(|_| batch.clone()).collect();
                    let t = Instant::now();
                    for v in vecs.drain(..) {
                        e.offer_owned(v);
                    }
                    total += t.elapsed();
                    done += n;
                    e.flush(Duration::from_secs(30)).unwrap();
                }
                total
            })
        });
        assert_eq!(e.stats().records_dropped, 0);
    }
    {
        // A full queue: the refusal path (one atomic add and one sub).
        let e = OtelExporter::start(
            OtelConfig::default()
                .endpoint(&rx.base)
                .metrics_endpoint(None)
                .queue_capacity(1),
        )
        .unwrap();
        e.offer(&batch[..1]);
        g.bench_function("refused_slice_64", |b| {
            b.iter(|| e.offer(black_box(&batch)))
        });
    }
    g.finish();

    // A loop that creates records, with the exporter off and on. "On"
    // offers every batch; records the export thread cannot keep up with
    // are refused and counted (printed below).
    let mut g = c.benchmark_group("create_loop");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("exporter_off", |b| b.iter(|| black_box(records(BATCH))));
    {
        let e = OtelExporter::start(
            OtelConfig::default()
                .endpoint(&rx.base)
                .metrics_endpoint(None)
                .batch_delay(Duration::from_millis(20))
                .linger(Duration::from_millis(10)),
        )
        .unwrap();
        g.bench_function("exporter_on", |b| b.iter(|| e.offer_owned(records(BATCH))));
        e.flush(Duration::from_secs(30)).unwrap();
        let s = e.stats();
        eprintln!(
            "create_loop/exporter_on: {s:?} => {:.1}% of offered records dropped at the queue",
            100.0 * s.records_dropped as f64 / s.records_offered.max(1) as f64
        );
        if let Some(cpu) = export_thread_cpu() {
            let accepted = s.records_offered - s.records_dropped;
            eprintln!(
                "export thread CPU: {cpu:?} for {accepted} records / {} spans => {:.2} µs CPU per record \
                 (map + encode + HTTP), i.e. about {:.0} records/s per core",
                s.spans_exported,
                cpu.as_secs_f64() * 1e6 / accepted.max(1) as f64,
                accepted as f64 / cpu.as_secs_f64().max(1e-9)
            );
        }
    }
    g.finish();

    // What the export thread can do per second, alone on a core.
    let mut g = c.benchmark_group("export_thread");
    let many = records(10_000);
    g.throughput(Throughput::Elements(many.len() as u64));
    g.sample_size(20);
    g.bench_function("map_10k_records", |b| {
        b.iter(|| records_to_otlp_request(black_box(&many), 1, &FileExportOptions::default()))
    });
    let req: ExportTraceServiceRequest =
        records_to_otlp_request(&many, 1, &FileExportOptions::default());
    g.bench_function("encode_protobuf_10k_records", |b| {
        b.iter(|| black_box(&req).encode_to_vec())
    });
    g.bench_function("encode_json_10k_records", |b| {
        b.iter(|| serde_json::to_vec(black_box(&req)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
