//! Hot-path cost of `Recorder::record`: one call for an action event and
//! for a diff event with recording on, and one call with recording off.
//!
//! Events are built outside the timed section, and the collector is flushed
//! between timed blocks of 2048 calls so that the rings never fill: what is
//! timed is the push itself, not the drop path.

use criterion::{criterion_group, criterion_main, Criterion};
use fluxlive_instrumentation::{ActionMeta, Event, EventBody, InstanceKey, Recorder, TypeMeta};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

static COUNTER: TypeMeta = TypeMeta {
    name: "Counter",
    redacted_fields: &[],
    actions: &[ActionMeta {
        name: "add",
        params: &["n"],
        redacted_params: &[],
    }],
};

fn key(id: &Arc<str>) -> Option<InstanceKey> {
    Some(InstanceKey {
        iid: 7,
        id: Arc::clone(id),
        meta: &COUNTER,
    })
}

fn action(id: &Arc<str>, v: u64) -> Event {
    Event {
        conn: 1,
        instance: key(id),
        body: EventBody::Action {
            method: "add".into(),
            args: vec![json!(5)],
            started: Instant::now(),
            dur: Duration::from_micros(3),
            outcome: Ok(json!(v + 5)),
            version_before: v,
            version_after: v + 1,
            trace: None,
            source: Default::default(),
        },
    }
}

fn diff(id: &Arc<str>, v: u64) -> Event {
    let ops = serde_json::from_value(json!([{"op": "replace", "path": "/count", "value": v + 1}]))
        .unwrap_or_default();
    Event {
        conn: 1,
        instance: key(id),
        body: EventBody::Diff {
            base: v,
            version: v + 1,
            ops,
            bytes: 64,
            diff: Duration::from_micros(2),
            encode: Duration::from_micros(1),
            trace: None,
        },
    }
}

const BLOCK: u64 = 2048;

/// Times `record` over prebuilt events, flushing between blocks.
fn timed(
    rec: &Recorder,
    rt: &tokio::runtime::Runtime,
    iters: u64,
    make: &dyn Fn(u64) -> Event,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut v = 0;
    while left > 0 {
        let n = left.min(BLOCK);
        let events: Vec<Event> = (0..n)
            .map(|_| {
                v += 1;
                make(v)
            })
            .collect();
        let t = Instant::now();
        for ev in events {
            rec.record(black_box(ev));
        }
        total += t.elapsed();
        rt.block_on(rec.flush());
        left -= n;
    }
    total
}

fn bench_record(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot build a tokio runtime: {e}");
            return;
        }
    };
    let id: Arc<str> = Arc::from("hero");
    let rec = Recorder::builder()
        .ring_capacity(2 * BLOCK as usize)
        .history(50_000)
        .build();
    c.bench_function("record/action", |b| {
        b.iter_custom(|iters| timed(&rec, &rt, iters, &|v| action(&id, v)))
    });
    c.bench_function("record/diff", |b| {
        b.iter_custom(|iters| timed(&rec, &rt, iters, &|v| diff(&id, v)))
    });
    eprintln!(
        "recording on: {} records dropped during the benchmark (0 means every timed push took the normal path)",
        rec.dropped_total()
    );
    let off = Recorder::disabled();
    c.bench_function("record/disabled_action", |b| {
        b.iter_custom(|iters| timed(&off, &rt, iters, &|v| action(&id, v)))
    });
    c.bench_function("enabled/disabled", |b| b.iter(|| black_box(&off).enabled()));
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
