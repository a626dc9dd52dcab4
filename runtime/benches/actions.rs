//! Action throughput in-process, recording off vs on, in one run.
//!
//! Two runtimes are built side by side, one with the recorder off and one
//! with it on; each serves a loopback socket whose client has mounted one
//! `Counter` (the demo's shape: a step, a label, a server-only audit log,
//! an event per increment). Three paths are timed:
//!
//! * `dispatch/*`: `Live::dispatch` → mailbox → actor → diff → patch and
//!   event encoded into the session's outbox → reply over a oneshot, one
//!   call at a time. The socket's writer and a draining client run
//!   concurrently, so their cost is in the time too, but the call itself
//!   skips the socket. One call at a time makes this a latency figure: two
//!   thread wake-ups per call (the caller is the bench's main thread) are
//!   most of it.
//! * `dispatch_window64/*`: the same with 64 calls in flight, so the actor
//!   always has work: in-process throughput.
//! * `socket_window64/*`: the app protocol over the loopback socket, 64
//!   calls in flight, time per call.
//!
//! Criterion reports each; then an interleaved pass (off, on, off, on, …)
//! prints the recording overhead as a percentage, so that drift on a busy
//! machine hits both sides alike. A last interleaved pass runs
//! `dispatch_window64` with two more rigs on a current-thread runtime: the
//! recorder's cost on the actor's thread, without the scheduler's noise.
//! `FLUXLIVE_BENCH_ONE_THREAD_ONLY=1` runs that pass alone (a few seconds), to
//! compare two builds by alternating their bench binaries.

use criterion::{criterion_group, criterion_main, Criterion};
use fluxlive::{live_component, Ctx, Live, Recorder};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

// A recorder frees on its collector thread what the app's threads
// allocated; glibc malloc degrades badly under that pattern (measured:
// +51 % overhead on `dispatch` with glibc, +16 % with mimalloc). Production
// servers that record should use mimalloc or jemalloc; so does this bench.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for one frame before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(10);
/// Calls in flight on the socket path.
const WINDOW: u64 = 64;

/// The demo counter's shape.
#[derive(Serialize, Deserialize, Default, fluxlive::Live)]
pub struct Counter {
    count: i64,
    step: i64,
    label: String,
    #[live(server_only)]
    #[serde(default)]
    audit: Vec<String>,
}

#[live_component]
impl Counter {
    fn mount() -> Self {
        Counter {
            count: 0,
            step: 1,
            label: "Counter".into(),
            audit: Vec::new(),
        }
    }

    #[action]
    fn increment(&mut self, ctx: &mut Ctx) {
        self.count += self.step;
        if self.audit.len() >= 32 {
            self.audit.remove(0);
        }
        self.audit.push("increment".to_owned());
        ctx.emit("count-changed", serde_json::json!({ "count": self.count }));
    }

    #[action]
    fn count(&self) -> i64 {
        self.count
    }
}

#[derive(Debug)]
struct Failed(String);

fn fail(what: &str, e: impl std::fmt::Display) -> Failed {
    Failed(format!("{what}: {e}"))
}

/// One runtime with one mounted counter, reachable both ways.
struct Rig {
    live: Live,
    /// The counter's global number, for `dispatch`.
    iid: u64,
    /// A second socket with its own counter `c`, for the socket path.
    ws: Ws,
    next_ref: u32,
}

async fn serve(live: &Live) -> Result<SocketAddr, Failed> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| fail("bind", e))?;
    let addr = listener.local_addr().map_err(|e| fail("local_addr", e))?;
    let app = axum::Router::new().merge(live.router());
    // Without TCP_NODELAY, pipelined small frames meet Nagle's algorithm
    // and delayed ACKs: the socket path then measures the kernel's timers.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(addr)
}

async fn next_text(ws: &mut Ws) -> Result<String, Failed> {
    for _ in 0..64 {
        match tokio::time::timeout(DEADLINE, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(fail("read", e)),
            Ok(None) => return Err(Failed("socket closed".into())),
            Err(_) => return Err(Failed("no frame before the deadline".into())),
        }
    }
    Err(Failed("only control frames".into()))
}

/// Reads frames until one of type `t` (bounded).
async fn expect(ws: &mut Ws, t: &str) -> Result<serde_json::Value, Failed> {
    for _ in 0..1024 {
        let text = next_text(ws).await?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail("json", e))?;
        if v["t"] == t {
            return Ok(v);
        }
        if v["t"] == "error" {
            return Err(Failed(format!("expected {t}, got {text}")));
        }
    }
    Err(Failed(format!("no {t} frame")))
}

async fn send(ws: &mut Ws, text: String) -> Result<(), Failed> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| fail("send", e))
}

async fn connect_and_mount(addr: SocketAddr, id: &str) -> Result<Ws, Failed> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/__live/ws"), None, true)
            .await
            .map_err(|e| fail("connect", e))?;
    send(&mut ws, r#"{"t":"hello","protocol":1}"#.into()).await?;
    expect(&mut ws, "welcome").await?;
    send(
        &mut ws,
        format!(r#"{{"t":"mount","ref":1,"type":"Counter","props":{{}},"id":"{id}"}}"#),
    )
    .await?;
    expect(&mut ws, "mounted").await?;
    Ok(ws)
}

async fn rig(recording: bool) -> Result<Rig, Failed> {
    let builder = Live::builder().component::<Counter>();
    let live = if recording {
        builder.recorder(Recorder::builder().build()).build()
    } else {
        builder.build()
    };
    let addr = serve(&live).await?;
    // The dispatch target: the first instance of a fresh runtime is #1.
    let mut drained = connect_and_mount(addr, "d").await?;
    let iid = 1;
    live.dispatch(iid, "count", Vec::new())
        .await
        .map_err(|e| fail("dispatch to instance #1 (is it the mounted counter?)", e))?;
    // Its patches and events must be read or the outbox would fill.
    tokio::spawn(async move { while let Some(Ok(_)) = drained.next().await {} });
    let ws = connect_and_mount(addr, "c").await?;
    Ok(Rig {
        live,
        iid,
        ws,
        next_ref: 2,
    })
}

impl Rig {
    async fn dispatch_n(&self, n: u64) -> Result<Duration, Failed> {
        let t = Instant::now();
        for _ in 0..n {
            self.live
                .dispatch(self.iid, "increment", Vec::new())
                .await
                .map_err(|e| fail("dispatch", e))?;
        }
        Ok(t.elapsed())
    }

    /// `n` calls through `Live::dispatch` with up to [`WINDOW`] in flight.
    async fn dispatch_window_n(&self, n: u64) -> Result<Duration, Failed> {
        let t = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        let (mut sent, mut answered) = (0u64, 0u64);
        // Each pass waits for one answer: n passes at most.
        while answered < n {
            while sent < n && (in_flight.len() as u64) < WINDOW {
                in_flight.push(self.live.dispatch(self.iid, "increment", Vec::new()));
                sent += 1;
            }
            match tokio::time::timeout(DEADLINE, in_flight.next()).await {
                Ok(Some(Ok(_))) => answered += 1,
                Ok(Some(Err(e))) => return Err(fail("dispatch", e)),
                Ok(None) => return Err(Failed(format!("{answered} of {n} calls answered"))),
                Err(_) => return Err(Failed("no answer before the deadline".into())),
            }
        }
        Ok(t.elapsed())
    }

    fn call(&mut self) -> String {
        let r = self.next_ref;
        self.next_ref = self.next_ref.wrapping_add(1).max(2);
        format!(r#"{{"t":"call","ref":{r},"id":"c","method":"increment","args":[]}}"#)
    }

    /// `n` calls over the socket with up to [`WINDOW`] in flight.
    async fn socket_n(&mut self, n: u64) -> Result<Duration, Failed> {
        let t = Instant::now();
        let (mut sent, mut answered) = (0u64, 0u64);
        while sent < n.min(WINDOW) {
            let f = self.call();
            self.ws
                .feed(Message::text(f))
                .await
                .map_err(|e| fail("send", e))?;
            sent += 1;
        }
        self.ws.flush().await.map_err(|e| fail("flush", e))?;
        // Each call brings a patch, an event and a reply.
        for _ in 0..n.saturating_mul(3).saturating_add(64) {
            if answered == n {
                break;
            }
            let text = next_text(&mut self.ws).await?;
            if text.starts_with(r#"{"t":"reply""#) {
                answered += 1;
                if sent < n {
                    let f = self.call();
                    send(&mut self.ws, f).await?;
                    sent += 1;
                }
            } else if text.starts_with(r#"{"t":"error""#) {
                return Err(Failed(format!("call failed: {text}")));
            }
        }
        if answered != n {
            return Err(Failed(format!("{answered} of {n} calls answered")));
        }
        Ok(t.elapsed())
    }
}

/// The timed paths.
#[derive(Clone, Copy)]
enum Path {
    Dispatch,
    DispatchWindow,
    SocketWindow,
}

impl Path {
    const ALL: [Path; 3] = [Path::Dispatch, Path::DispatchWindow, Path::SocketWindow];

    fn name(self) -> &'static str {
        match self {
            Path::Dispatch => "dispatch",
            Path::DispatchWindow => "dispatch_window64",
            Path::SocketWindow => "socket_window64",
        }
    }
}

impl Rig {
    async fn run(&mut self, path: Path, n: u64) -> Result<Duration, Failed> {
        match path {
            Path::Dispatch => self.dispatch_n(n).await,
            Path::DispatchWindow => self.dispatch_window_n(n).await,
            Path::SocketWindow => self.socket_n(n).await,
        }
    }
}

struct Rigs {
    rt: tokio::runtime::Runtime,
    off: Rig,
    on: Rig,
    /// Appended to the printed names: which runtime serves the rigs.
    runtime: &'static str,
}

/// The app's runtime: tokio's multi-thread scheduler with two workers.
fn setup() -> Result<Rigs, Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail("tokio runtime", e))?;
    rigs_on(rt, "")
}

/// Everything but the recorder's collector on the bench's thread: no
/// wake-up crosses threads, so what the scheduler does to a 2-vCPU machine
/// (in-process rounds of one binary ranged from −17 % to +72 % overhead on
/// the multi-thread runtime) stays out, and what is left is the recorder's
/// cost on the actor's own thread (quartiles over pairs of rounds mostly
/// 1–4 points apart).
fn setup_one_thread() -> Result<Rigs, Failed> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("tokio runtime", e))?;
    rigs_on(rt, " (current-thread runtime)")
}

fn rigs_on(rt: tokio::runtime::Runtime, runtime: &'static str) -> Result<Rigs, Failed> {
    let (off, on) =
        rt.block_on(async { Ok::<_, Failed>((rig(false).await?, rig(true).await?)) })?;
    Ok(Rigs {
        rt,
        off,
        on,
        runtime,
    })
}

/// CPU nanoseconds of every thread of this process (the app's workers, the
/// recorder's collector, the bench's own thread), from
/// `/proc/self/task/*/schedstat`; `None` where that is not readable.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread may exit while we look: skip it.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// The `q` quantile (0 ..= 1) of `v`, nearest rank.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = (v.len().saturating_sub(1) as f64 * q).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Off/on rounds interleaved; prints per-call medians and the overhead,
/// both as the ratio of the medians and as the median (with quartiles) over
/// pairs of rounds, which a drift in the machine's load moves much less.
/// Every other round runs on before off, as the load generator does: there
/// a fluxlive server that ran right after the other one came out 3 % slower
/// with neither recording (A/A runs in `docs/benchmarks.md`). Here each rig
/// always follows the other, so that effect cancels either way; the swap
/// keeps any order effect within a round out of the overhead too.
fn overhead(rigs: &mut Rigs, path: Path, rounds: usize, per_round: u64) {
    let name = format!("{}{}", path.name(), rigs.runtime);
    let rounds = rounds + rounds % 2;
    let (mut off_ns, mut on_ns) = (Vec::new(), Vec::new());
    let (mut off_cpu, mut on_cpu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for recording in order {
            let out = if recording { &mut on_ns } else { &mut off_ns };
            let cpu_out = if recording { &mut on_cpu } else { &mut off_cpu };
            let rig = if recording {
                &mut rigs.on
            } else {
                &mut rigs.off
            };
            let cpu_before = process_cpu_ns();
            let took = rigs.rt.block_on(rig.run(path, per_round));
            if let (Some(a), Some(b)) = (cpu_before, process_cpu_ns()) {
                cpu_out.push(b.saturating_sub(a) as f64 / per_round as f64);
            }
            match took {
                Ok(d) => out.push(d.as_nanos() as f64 / per_round as f64),
                Err(e) => {
                    eprintln!("{name}: {}", e.0);
                    return;
                }
            }
        }
    }
    let cpu_complete = off_cpu.len() == off_ns.len() && on_cpu.len() == on_ns.len();
    let wall = Summary::of(off_ns, on_ns);
    eprintln!(
        "{name}: recording off {:.2} µs/call ({:.0}/s), on {:.2} µs/call ({:.0}/s): overhead {:+.1} % (medians of {rounds} interleaved rounds of {per_round} calls); pairs of rounds: median {:+.1} %, quartiles {:+.1} % .. {:+.1} %",
        wall.off / 1000.0,
        1e9 / wall.off,
        wall.on / 1000.0,
        1e9 / wall.on,
        wall.overhead(),
        wall.pairs[1],
        wall.pairs[0],
        wall.pairs[2],
    );
    if cpu_complete {
        let cpu = Summary::of(off_cpu, on_cpu);
        eprintln!(
            "{name}: process CPU per call off {:.2} µs, on {:.2} µs: {:+.1} %; pairs of rounds: median {:+.1} %, quartiles {:+.1} % .. {:+.1} %",
            cpu.off / 1000.0,
            cpu.on / 1000.0,
            cpu.overhead(),
            cpu.pairs[1],
            cpu.pairs[0],
            cpu.pairs[2],
        );
    }
}

/// Medians of per-call figures, off and on, and the quartiles (25, 50,
/// 75 %) of the overhead over pairs of rounds.
struct Summary {
    off: f64,
    on: f64,
    pairs: [f64; 3],
}

impl Summary {
    fn of(off: Vec<f64>, on: Vec<f64>) -> Self {
        let paired = pair_overheads(&off, &on);
        Summary {
            pairs: [0.25, 0.5, 0.75].map(|q| quantile(paired.clone(), q)),
            off: quantile(off, 0.5),
            on: quantile(on, 0.5),
        }
    }

    fn overhead(&self) -> f64 {
        (self.on / self.off - 1.0) * 100.0
    }
}

/// The overhead of each pair of rounds (one with off first, one with on
/// first), in percent.
fn pair_overheads(off: &[f64], on: &[f64]) -> Vec<f64> {
    off.chunks_exact(2)
        .zip(on.chunks_exact(2))
        .map(|(off, on)| ((on[0] + on[1]) / (off[0] + off[1]) - 1.0) * 100.0)
        .collect()
}

/// Records the recording rig's recorder has dropped so far.
fn dropped(rigs: &Rigs) -> u64 {
    let recorder = rigs.on.live.recorder();
    // Ring drops are counted by the collector's next round: wait for it.
    rigs.rt.block_on(recorder.flush());
    recorder.dropped_total()
}

/// The interleaved `dispatch_window64` pass on a current-thread runtime;
/// returns the records its recorder dropped.
fn one_thread_pass() -> u64 {
    match setup_one_thread() {
        Ok(mut one) => {
            overhead(&mut one, Path::DispatchWindow, 41, 10000);
            dropped(&one)
        }
        Err(e) => {
            eprintln!("current-thread setup failed: {}", e.0);
            0
        }
    }
}

fn bench_actions(c: &mut Criterion) {
    if std::env::var_os("FLUXLIVE_BENCH_ONE_THREAD_ONLY").is_some() {
        // A few seconds: for comparing two builds, pass by pass.
        let dropped = one_thread_pass();
        eprintln!("recorder: {dropped} records dropped over the pass (0 = every event recorded)");
        return;
    }
    let mut rigs = match setup() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench setup failed: {}", e.0);
            return;
        }
    };
    let mut g = c.benchmark_group("actions");
    for path in Path::ALL {
        for (label, recording) in [("off", false), ("on", true)] {
            g.bench_function(format!("{}/recording_{label}", path.name()), |b| {
                b.iter_custom(|iters| {
                    let rig = if recording {
                        &mut rigs.on
                    } else {
                        &mut rigs.off
                    };
                    rigs.rt.block_on(rig.run(path, iters)).unwrap_or_else(|e| {
                        eprintln!("{}", e.0);
                        Duration::MAX / 4
                    })
                })
            });
        }
    }
    g.finish();
    overhead(&mut rigs, Path::Dispatch, 41, 5000);
    overhead(&mut rigs, Path::DispatchWindow, 41, 10000);
    overhead(&mut rigs, Path::SocketWindow, 41, 10000);
    let mut dropped = dropped(&rigs);
    // Shut the first rigs down (their runtime's threads, the collector) first.
    drop(rigs);
    dropped += one_thread_pass();
    eprintln!("recorder: {dropped} records dropped over the whole run (0 = every event recorded)");
}

criterion_group! {
    name = benches;
    // Short runs: the whole file should finish in about two minutes on 2 cores.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench_actions
}
criterion_main!(benches);
