//! Hot-path cost of `Recorder::record`: one call for an action event, for
//! the demo counter's action as the runtime records it (carrying its diff
//! and emit: three records, one push) and for a diff event with recording
//! on, and one call with recording off. The `baseline/drop_*` benches time
//! dropping the same events unrecorded: the timed pushes include that drop.
//!
//! Events are built outside the timed section, and the collector is flushed
//! between timed blocks of 2048 calls so that the rings never fill: what is
//! timed is the push itself, not the drop path.
//!
//! Time is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall
//! time: on a small shared machine wall-clock figures are dominated by the
//! scheduler. Set `FLUXLIVE_BENCH_WALL=1` to time with the wall clock.

use criterion::{criterion_group, criterion_main, Criterion};
use fluxlive_instrumentation::clock::Instant;
use fluxlive_instrumentation::{
    ActionMeta, DiffPart, Event, EventBody, InstanceKey, Recorder, TypeMeta,
};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

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
    key_of(7, id)
}

fn key_of(iid: u64, id: &Arc<str>) -> Option<InstanceKey> {
    Some(InstanceKey {
        iid,
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
            diff: None,
            emits: Vec::new(),
        },
    }
}

/// The demo counter's `increment` as the runtime records it: one event
/// carrying the action, its diff and its emit (one push per action).
fn counter_action(id: &Arc<str>, v: u64) -> Event {
    let now = Instant::now();
    Event {
        conn: 1,
        instance: key(id),
        body: EventBody::Action {
            method: "increment".into(),
            args: Vec::new(),
            started: now,
            dur: Duration::from_micros(3),
            outcome: Ok(serde_json::Value::Null),
            version_before: v,
            version_after: v + 1,
            trace: None,
            source: Default::default(),
            diff: Some(DiffPart {
                base: v,
                version: v + 1,
                ops: replace_ops("/count", v),
                bytes: 64,
                diff: Duration::from_micros(2),
                encode: Duration::from_micros(1),
                at: now,
            }),
            emits: vec![("count-changed".into(), json!({ "count": v + 1 }))],
        },
    }
}

fn diff(id: &Arc<str>, v: u64) -> Event {
    replace_diff(key(id), "/count", v)
}

/// The ops from version `v` to `v + 1`: replace `path` with `v + 1`.
fn replace_ops(path: &str, v: u64) -> json_patch::Patch {
    serde_json::from_value(json!([{"op": "replace", "path": path, "value": v + 1}]))
        .unwrap_or_default()
}

/// A diff from version `v` to `v + 1` that replaces `path` with `v + 1`.
fn replace_diff(instance: Option<InstanceKey>, path: &str, v: u64) -> Event {
    let ops = replace_ops(path, v);
    Event {
        conn: 1,
        instance,
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

/// A stopwatch on this thread's CPU time (or the wall clock, on request).
struct Clock {
    wall: bool,
}

impl Clock {
    fn new() -> Self {
        Self {
            wall: std::env::var_os("FLUXLIVE_BENCH_WALL").is_some(),
        }
    }

    fn now(&self) -> Duration {
        if self.wall {
            static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            return ORIGIN.get_or_init(Instant::now).elapsed();
        }
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }
}

/// Times `record` over prebuilt events, flushing between blocks. The event
/// buffer is reused so that no allocation is freed inside the timed loop.
fn timed(
    rec: &Recorder,
    rt: &tokio::runtime::Runtime,
    iters: u64,
    make: &dyn Fn(u64) -> Event,
    at: Option<Instant>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut v = 0;
    let mut events: Vec<Event> = Vec::with_capacity(BLOCK as usize);
    let clock = Clock::new();
    while left > 0 {
        let n = left.min(BLOCK);
        events.extend((0..n).map(|_| {
            v += 1;
            make(v)
        }));
        let t = clock.now();
        match at {
            None => {
                for ev in events.drain(..) {
                    rec.record(black_box(ev));
                }
            }
            Some(at) => {
                for ev in events.drain(..) {
                    rec.record_at(black_box(ev), at);
                }
            }
        }
        total += clock.now().saturating_sub(t);
        rt.block_on(rec.flush());
        left -= n;
    }
    total
}

/// Times dropping the same events without recording them: what a caller
/// pays for an event when recording is off, whatever `record` does.
fn timed_drop(iters: u64, make: &dyn Fn(u64) -> Event) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut events: Vec<Event> = Vec::with_capacity(BLOCK as usize);
    let clock = Clock::new();
    while left > 0 {
        let n = left.min(BLOCK);
        events.extend((0..n).map(make));
        let t = clock.now();
        for ev in events.drain(..) {
            drop(black_box(ev));
        }
        total += clock.now().saturating_sub(t);
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
        b.iter_custom(|iters| timed(&rec, &rt, iters, &|v| action(&id, v), None))
    });
    c.bench_function("record/counter_action", |b| {
        b.iter_custom(|iters| timed(&rec, &rt, iters, &|v| counter_action(&id, v), None))
    });
    c.bench_function("record/diff", |b| {
        b.iter_custom(|iters| timed(&rec, &rt, iters, &|v| diff(&id, v), None))
    });
    c.bench_function("record_at/diff", |b| {
        let now = Instant::now();
        b.iter_custom(|iters| timed(&rec, &rt, iters, &|v| diff(&id, v), Some(now)))
    });
    eprintln!(
        "recording on: {} records dropped during the benchmark (0 means every timed push took the normal path)",
        rec.dropped_total()
    );
    // End to end: push a block and wait until the collector has converted
    // it into history (wall clock: includes the collector thread's work).
    c.bench_function("collector/diff_throughput", |b| {
        let mut v = 1_000_000;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            let mut events: Vec<Event> = Vec::with_capacity(BLOCK as usize);
            while left > 0 {
                let n = left.min(BLOCK);
                events.extend((0..n).map(|_| {
                    v += 1;
                    diff(&id, v)
                }));
                let t = Instant::now();
                for ev in events.drain(..) {
                    rec.record(ev);
                }
                rt.block_on(rec.flush());
                total += t.elapsed();
                left -= n;
            }
            total
        })
    });
    collector_cpu(&rec, &rt, &id);
    let off = Recorder::disabled();
    c.bench_function("record/disabled_action", |b| {
        b.iter_custom(|iters| timed(&off, &rt, iters, &|v| action(&id, v), None))
    });
    c.bench_function("baseline/drop_action_event", |b| {
        b.iter_custom(|iters| timed_drop(iters, &|v| action(&id, v)))
    });
    c.bench_function("baseline/drop_counter_action_event", |b| {
        b.iter_custom(|iters| timed_drop(iters, &|v| counter_action(&id, v)))
    });
    // The recorder's clock against std's: an action reads it five times.
    c.bench_function("baseline/clock_now", |b| b.iter(Instant::now));
    c.bench_function("baseline/std_instant_now", |b| {
        b.iter(std::time::Instant::now)
    });
    c.bench_function("enabled/disabled", |b| b.iter(|| black_box(&off).enabled()));
}

/// CPU time of the recorder's collector threads so far, in nanoseconds
/// (`schedstat`'s first field; `stat`'s ticks are 10 ms coarse).
fn collector_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut ns = 0;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("fluxlive-record") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    ns
}

/// Collector CPU per diff event (merge, history append, eviction and
/// folding), measured over many events once the history is full, so that
/// every event appended also evicts and folds one, from a known base (a
/// mount first); not a criterion timing. Two workloads: one field replaced
/// over and over (a counter: each evicted diff supersedes the deferred one
/// unapplied) and two fields replaced in turn (every evicted diff is
/// applied).
fn collector_cpu(rec: &Recorder, rt: &tokio::runtime::Runtime, id: &Arc<str>) {
    const EVENTS: u64 = 400_000;
    for (iid, label, fields) in [
        (8, "one field", &["/count"][..]),
        (9, "two fields in turn", &["/a", "/b"][..]),
    ] {
        let mut v = 1;
        rec.record(Event {
            conn: 1,
            instance: key_of(iid, id),
            body: EventBody::Mount {
                props: json!({}),
                version: v,
                state: json!({"count": 0, "a": 0, "b": 0}),
            },
        });
        let before = collector_ns();
        let mut left = EVENTS;
        while left > 0 {
            let n = left.min(BLOCK);
            for _ in 0..n {
                let path = fields[(v as usize) % fields.len()];
                rec.record(replace_diff(key_of(iid, id), path, v));
                v += 1;
            }
            rt.block_on(rec.flush());
            left -= n;
        }
        let ns = (collector_ns() - before) as f64 / EVENTS as f64;
        eprintln!("collector CPU, {label}: {ns:.0} ns per diff event over {EVENTS} events");
        if rec.state_at(iid, None).map(|(version, _)| version) != Ok(v) {
            eprintln!("collector CPU, {label}: the newest state is not version {v}");
        }
    }
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
