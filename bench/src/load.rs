//! The load generator: K connections × N pipelined calls, bounded by time
//! and by count, with round trips in a histogram and CPU read from /proc.

use crate::client::{self, Head, Ws};
use crate::error::BenchError;
use crate::proc_stats::{self, CpuSplit};
use crate::servers::{Running, Target};
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How one scenario runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) connections: usize,
    pub(crate) inflight: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    /// Most calls one connection sends (the count bound).
    pub(crate) max_calls: u64,
    /// Announce `caps: ["batch"]` (as `live.js` does).
    pub(crate) batch: bool,
}

/// What one scenario measured.
pub(crate) struct Outcome {
    pub(crate) target: Target,
    pub(crate) shape: Shape,
    /// Round trips completed inside the measuring window.
    pub(crate) actions: u64,
    pub(crate) secs: f64,
    /// Round trips in microseconds.
    pub(crate) hist: Histogram<u64>,
    pub(crate) cpu: CpuSplit,
    /// Error answers (should be 0).
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// Records the recorder dropped during the scenario (recording on only).
    pub(crate) rec_dropped: Option<u64>,
    /// Actions per second of each round, in round order.
    pub(crate) round_rates: Vec<f64>,
}

impl Outcome {
    pub(crate) fn per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.actions as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Server CPU microseconds per action.
    pub(crate) fn server_us_per_action(&self) -> f64 {
        per_action_us(self.cpu.server_ns, self.actions)
    }

    /// Recorder collector CPU microseconds per action (part of the server's).
    pub(crate) fn recorder_us_per_action(&self) -> f64 {
        per_action_us(self.cpu.recorder_ns, self.actions)
    }

    /// Whole-process CPU microseconds per action (client included).
    pub(crate) fn process_us_per_action(&self) -> f64 {
        per_action_us(self.cpu.total_ns(), self.actions)
    }

    pub(crate) fn p50_us(&self) -> u64 {
        self.hist.value_at_quantile(0.50)
    }

    pub(crate) fn p99_us(&self) -> u64 {
        self.hist.value_at_quantile(0.99)
    }
}

impl Outcome {
    /// Adds another round of the same scenario (rounds are interleaved
    /// with the other servers' so that load drift hits all of them).
    pub(crate) fn absorb(&mut self, other: Outcome) -> Result<(), BenchError> {
        self.actions += other.actions;
        self.secs += other.secs;
        self.hist
            .add(&other.hist)
            .map_err(|e| BenchError::Protocol(format!("histogram: {e}")))?;
        self.cpu.server_ns += other.cpu.server_ns;
        self.cpu.client_ns += other.cpu.client_ns;
        self.cpu.recorder_ns += other.cpu.recorder_ns;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.round_rates.extend(other.round_rates);
        self.rec_dropped = match (self.rec_dropped, other.rec_dropped) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        Ok(())
    }
}

fn per_action_us(ns: u64, actions: u64) -> f64 {
    if actions == 0 {
        0.0
    } else {
        ns as f64 / 1000.0 / actions as f64
    }
}

fn new_hist() -> Result<Histogram<u64>, BenchError> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| BenchError::Protocol(format!("histogram: {e}")))
}

/// Connects and prepares one connection: for fluxlive, hello + mount one
/// `Counter`; for echo, one round trip. Returns the next free `ref`.
async fn prepare(server: &Running, target: Target, batch: bool) -> Result<(Ws, u32), BenchError> {
    let mut ws = client::connect(&server.ws_url()).await?;
    if target.is_live() {
        client::hello(&mut ws, batch).await?;
        client::mount_counter(&mut ws, 1, client::INSTANCE_ID).await?;
    } else {
        client::echo_once(&mut ws).await?;
    }
    Ok((ws, 2))
}

struct Window {
    start: Instant,
    end: Instant,
}

struct ConnTally {
    hist: Histogram<u64>,
    measured: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Drives one connection until the window closes and every call sent has
/// been answered.
async fn drive(
    mut ws: Ws,
    mut next_ref: u32,
    target: Target,
    shape: Shape,
    window: Window,
) -> Result<ConnTally, BenchError> {
    let mut tally = ConnTally {
        hist: new_hist()?,
        measured: 0,
        errors: 0,
        first_error: None,
    };
    let mut pending: HashMap<u32, Instant> = HashMap::with_capacity(shape.inflight * 2);
    let mut sent: u64 = 0;
    let answer_tag = if target.is_live() { "reply" } else { "call" };

    for _ in 0..shape
        .inflight
        .min(usize::try_from(shape.max_calls).unwrap_or(usize::MAX))
    {
        // Timestamps are taken before sending: a round trip includes the send.
        pending.insert(next_ref, Instant::now());
        ws.feed(Message::text(client::call_frame(next_ref)))
            .await
            .map_err(|e| BenchError::ws("send", e))?;
        next_ref = next_ref.wrapping_add(1).max(1);
        sent += 1;
    }
    ws.flush().await.map_err(|e| BenchError::ws("flush", e))?;

    // Each call brings at most a patch, an event and an answer.
    let frame_bound = shape.max_calls.saturating_mul(4).saturating_add(1024);
    for _ in 0..frame_bound {
        if pending.is_empty() {
            break;
        }
        let text = client::recv_text(&mut ws).await?;
        let Some(head) = Head::parse(&text) else {
            return Err(BenchError::Protocol(format!("unreadable frame: {text}")));
        };
        let now = Instant::now();
        let mut to_send = 0usize;
        for (t, req) in head.each() {
            let is_error = t == "error";
            if t != answer_tag && !is_error {
                continue; // patch, event
            }
            let Some(req) = req else {
                return Err(BenchError::Protocol(format!("answer without ref: {text}")));
            };
            let Some(sent_at) = pending.remove(&req) else {
                return Err(BenchError::Protocol(format!(
                    "answer to unknown ref {req}: {text}"
                )));
            };
            if is_error {
                tally.errors += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(text.clone());
                }
            }
            if now >= window.start && now <= window.end {
                let us = u64::try_from(now.duration_since(sent_at).as_micros()).unwrap_or(u64::MAX);
                // Out-of-range samples are clamped by saturating_record.
                tally.hist.saturating_record(us.max(1));
                tally.measured += 1;
            }
            if now < window.end && sent < shape.max_calls {
                to_send += 1;
                sent += 1;
            }
        }
        // Answers that arrived together are replaced together, in one flush.
        if to_send > 0 {
            for _ in 0..to_send {
                pending.insert(next_ref, Instant::now());
                ws.feed(Message::text(client::call_frame(next_ref)))
                    .await
                    .map_err(|e| BenchError::ws("send", e))?;
                next_ref = next_ref.wrapping_add(1).max(1);
            }
            ws.flush().await.map_err(|e| BenchError::ws("flush", e))?;
        }
    }
    if !pending.is_empty() {
        return Err(BenchError::Protocol(format!(
            "{} calls unanswered after the frame bound",
            pending.len()
        )));
    }
    let _ = ws.close(None).await;
    Ok(tally)
}

/// Runs one scenario against `server` from the current tokio runtime.
pub(crate) async fn run(
    server: &Running,
    target: Target,
    shape: Shape,
) -> Result<Outcome, BenchError> {
    let mut ready = Vec::with_capacity(shape.connections);
    for _ in 0..shape.connections {
        ready.push(prepare(server, target, shape.batch).await?);
    }
    let rec = server
        .live
        .as_ref()
        .filter(|l| l.recorder().enabled())
        .map(|l| l.recorder().clone());
    let dropped_before = rec.as_ref().map(|r| r.dropped_total());

    let warm = Instant::now();
    let start = warm + shape.warmup;
    let end = start + shape.measure;
    let mut tasks = Vec::with_capacity(ready.len());
    for (ws, next_ref) in ready {
        let window = Window { start, end };
        tasks.push(tokio::spawn(drive(ws, next_ref, target, shape, window)));
    }
    tokio::time::sleep_until(start).await;
    let cpu0 = proc_stats::cpu_split()?;
    tokio::time::sleep_until(end).await;
    let cpu1 = proc_stats::cpu_split()?;

    let mut hist = new_hist()?;
    let (mut actions, mut errors, mut first_error) = (0u64, 0u64, None);
    for task in tasks {
        let tally = tokio::time::timeout(client::FRAME_DEADLINE * 2, task)
            .await
            .map_err(|_| BenchError::Protocol("a connection did not finish in time".into()))?
            .map_err(|e| BenchError::Protocol(format!("connection task failed: {e}")))??;
        hist.add(&tally.hist)
            .map_err(|e| BenchError::Protocol(format!("histogram: {e}")))?;
        actions += tally.measured;
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    let rec_dropped = match (rec, dropped_before) {
        (Some(r), Some(before)) => Some(r.dropped_total().saturating_sub(before)),
        _ => None,
    };
    let mut outcome = Outcome {
        target,
        shape,
        actions,
        secs: end.duration_since(start).as_secs_f64(),
        round_rates: Vec::new(),
        hist,
        cpu: cpu1.since(cpu0),
        errors,
        first_error,
        rec_dropped,
    };
    outcome.round_rates.push(outcome.per_sec());
    Ok(outcome)
}
