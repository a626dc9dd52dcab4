//! Tables (Markdown, so they paste into `docs/benchmarks.md`) and the
//! comparison against the DESIGN targets.

use crate::args::Layout;
use crate::load::Outcome;
use crate::memory::Footprint;
use crate::servers::Target;
use std::fmt::Write;

/// The machine, as /proc describes it.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown", str::trim)
        .to_owned();
    format!("{cores} cores, {model}, load average {}", loadavg())
}

/// The 1-minute load average: other work on the machine skews everything.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn echo_for<'a>(all: &'a [Outcome], o: &Outcome) -> Option<&'a Outcome> {
    all.iter().find(|e| {
        e.target == Target::Echo
            && e.shape.connections == o.shape.connections
            && e.shape.inflight == o.shape.inflight
    })
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

/// The throughput and round-trip table.
pub(crate) fn throughput_table(all: &[Outcome], layout: Layout) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | conns × in flight | actions/s | × echo | p50 µs | p99 µs | p50 × echo | p99 × echo | server CPU µs/action | of which collector | process CPU µs/action | rec drops | errors |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for o in all {
        let echo = echo_for(all, o);
        let (x_rate, x_p50, x_p99) = match echo {
            Some(e) if !o.target.is_baseline() => (
                ratio(o.per_sec(), e.per_sec()),
                ratio(o.p50_us() as f64, e.p50_us() as f64),
                ratio(o.p99_us() as f64, e.p99_us() as f64),
            ),
            _ => ("1".into(), "1".into(), "1".into()),
        };
        let server_cpu = match layout {
            Layout::Split => format!("{:.1}", o.server_us_per_action()),
            Layout::Shared => "n/a (shared)".into(),
        };
        let collector = if o.rec_dropped.is_some() {
            format!("{:.1}", o.recorder_us_per_action())
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} × {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            o.target.label(),
            o.shape.connections,
            o.shape.inflight,
            o.per_sec(),
            x_rate,
            o.p50_us(),
            o.p99_us(),
            x_p50,
            x_p99,
            server_cpu,
            collector,
            o.process_us_per_action(),
            o.rec_dropped.map_or("-".into(), |d| d.to_string()),
            o.errors,
        );
    }
    s
}

fn kib(bytes: f64) -> String {
    format!("{:.2} KiB", bytes / 1024.0)
}

/// The memory table.
pub(crate) fn memory_table(all: &[Footprint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| server (child process) | baseline RSS | sessions | RSS per session | extra instances | RSS per instance |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for f in all {
        let _ = writeln!(
            s,
            "| {} | {:.1} MiB | {} | {} | {} | {} |",
            f.target.label(),
            f.rss_baseline as f64 / (1024.0 * 1024.0),
            f.sessions,
            kib(f.per_session),
            f.instances,
            f.per_instance.map_or("-".into(), kib),
        );
    }
    s
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets"
    } else {
        "MISSES"
    }
}

/// One line per DESIGN target that this run can judge.
pub(crate) fn targets(all: &[Outcome], mem: &[Footprint], layout: Layout) -> String {
    let mut s = String::new();
    let find = |t: Target, k: usize, n: usize| {
        all.iter()
            .find(|o| o.target == t && o.shape.connections == k && o.shape.inflight == n)
    };
    for o in all
        .iter()
        .filter(|o| o.target == Target::LiveOn && o.shape.inflight > 1)
    {
        let (k, n) = (o.shape.connections, o.shape.inflight);
        if let Some(e) = find(Target::Echo, k, n) {
            let r = o.per_sec() / e.per_sec().max(1.0);
            let _ = writeln!(
                s,
                "- throughput, {k}×{n}, recording on: {:.0}/s = {r:.2} × echo ({:.0}/s); target ≥ 0.80 × echo: {}",
                o.per_sec(),
                e.per_sec(),
                verdict(r >= 0.8)
            );
        }
        if layout == Layout::Split {
            let cpu = o.server_us_per_action();
            let _ = writeln!(
                s,
                "- server CPU per action, {k}×{n}, recording on: {cpu:.1} µs (echo {:.1} µs); target ≤ 15 µs: {}",
                find(Target::Echo, k, n).map_or(0.0, Outcome::server_us_per_action),
                verdict(cpu <= 15.0)
            );
        }
        if let Some(off) = find(Target::LiveOff, k, n) {
            let overhead = 1.0 - o.per_sec() / off.per_sec().max(1.0);
            let _ = writeln!(
                s,
                "- recording overhead on throughput, {k}×{n}: {:.1} % ({:.0}/s off → {:.0}/s on); target ≤ 5 %: {}",
                overhead * 100.0,
                off.per_sec(),
                o.per_sec(),
                verdict(overhead <= 0.05)
            );
            if let Some(p) = paired(&off.round_rates, &o.round_rates) {
                let _ = writeln!(
                    s,
                    "  per two rounds (off first, then on first; {} such pairs): median {:.1} %, quartiles {:.1} % .. {:.1} %",
                    p.pairs,
                    p.median * 100.0,
                    p.q1 * 100.0,
                    p.q3 * 100.0
                );
            }
        }
    }
    for o in all
        .iter()
        .filter(|o| o.target == Target::LiveOn && o.shape.inflight == 1 && o.shape.connections == 1)
    {
        if let Some(e) = find(Target::Echo, 1, 1) {
            let r50 = o.p50_us() as f64 / e.p50_us().max(1) as f64;
            let r99 = o.p99_us() as f64 / e.p99_us().max(1) as f64;
            let _ = writeln!(
                s,
                "- round trip, one client, recording on: p50 {} µs = {r50:.2} × echo ({} µs), p99 {} µs = {r99:.2} × echo ({} µs); target ≤ 1.3 × echo: {}",
                o.p50_us(),
                e.p50_us(),
                o.p99_us(),
                e.p99_us(),
                verdict(r50 <= 1.3 && r99 <= 1.3)
            );
        }
    }
    for f in mem.iter().filter(|f| f.target.is_live()) {
        let _ = writeln!(
            s,
            "- memory, {}: {} per session (target ≤ 8 KiB: {}), {} per extra instance (target ≤ 2 KiB: {})",
            f.target.label(),
            kib(f.per_session),
            verdict(f.per_session <= 8.0 * 1024.0),
            f.per_instance.map_or("-".into(), kib),
            verdict(f.per_instance.is_some_and(|b| b <= 2.0 * 1024.0)),
        );
    }
    s
}

/// Throughput cost of pairs of rounds: the median and quartiles of
/// `1 - on/off` over two rounds back to back (one where off ran first, one
/// where on did; see `rounds.rs`), which a slow drift of the machine's load
/// moves much less than the ratio of the totals.
struct Paired {
    pairs: usize,
    median: f64,
    q1: f64,
    q3: f64,
}

fn paired(off: &[f64], on: &[f64]) -> Option<Paired> {
    let mut costs: Vec<f64> = off
        .chunks_exact(2)
        .zip(on.chunks_exact(2))
        .filter_map(|(off, on)| {
            let off: f64 = off.iter().sum();
            (off > 0.0).then(|| 1.0 - on.iter().sum::<f64>() / off)
        })
        .collect();
    if costs.len() < 3 {
        return None;
    }
    costs.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((costs.len() - 1) as f64 * q).round() as usize;
        costs.get(i).copied().unwrap_or(f64::NAN)
    };
    Some(Paired {
        pairs: costs.len(),
        median: at(0.5),
        q1: at(0.25),
        q3: at(0.75),
    })
}
