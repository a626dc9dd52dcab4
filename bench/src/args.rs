//! Command line.

use crate::error::BenchError;
use std::time::Duration;

pub(crate) const USAGE: &str = "\
usage: fluxlive-bench [--connections 10,100] [--inflight 8] [--seconds 5] [--warmup 0.5]
                      [--recording on|off|both] [--layout split|shared]
                      [--server-threads 2] [--client-threads 1] [--max-calls N] [--rounds 4]
                      [--sessions 1000] [--instances 5] [--no-single] [--no-memory] [--no-echo3]
                      [--ring-capacity SLOTS] [--history RECORDS] [--no-batch] [--otel]

Starts a raw WebSocket echo server and the fluxlive demo runtime on 127.0.0.1,
drives K connections x N pipelined Counter.increment calls (the same frame to
echo) for each K, then one client with one call in flight, then measures memory
per session and per instance on a server in a child process.

  Besides the plain echo, two more baselines answer each call with three frames
  (a canned patch, event and the echoed call), as fluxlive does for increment:
  one with writes unbuffered like the runtime's socket (3 sends), one with a
  16 KiB write buffer (1 send). --no-echo3 leaves them out.

  The fluxlive client says caps: [batch] in hello, as live.js always does, so
  the server may coalesce queued frames into one batch frame; --no-batch turns
  that off (one WebSocket frame per patch, event and reply).

  --seconds is the measured time per scenario, split into --rounds rounds that
  alternate between the servers (echo, off, on, echo, on, off, ...) so that
  changing load on a shared machine hits each alike; the fluxlive servers swap
  places every other round (see rounds.rs), so --rounds is rounded up to even.

  --layout split   server and load generator on separate tokio runtimes
                   (threads srv-* / cli-*), so server CPU is read per thread
  --layout shared  one runtime of --server-threads workers for both: server
                   CPU cannot be told apart; the table shows process CPU";

/// Which recorder settings to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recording {
    On,
    Off,
    Both,
}

impl Recording {
    pub(crate) fn off(self) -> bool {
        matches!(self, Recording::Off | Recording::Both)
    }
    pub(crate) fn on(self) -> bool {
        matches!(self, Recording::On | Recording::Both)
    }
}

/// How server and load generator share the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Split,
    Shared,
}

#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) connections: Vec<usize>,
    pub(crate) inflight: usize,
    pub(crate) seconds: Duration,
    pub(crate) warmup: Duration,
    pub(crate) recording: Recording,
    pub(crate) layout: Layout,
    pub(crate) server_threads: usize,
    pub(crate) client_threads: usize,
    pub(crate) max_calls: u64,
    pub(crate) rounds: usize,
    pub(crate) sessions: usize,
    pub(crate) instances: usize,
    pub(crate) single: bool,
    pub(crate) memory: bool,
    pub(crate) echo3: bool,
    /// The fluxlive client announces `caps: ["batch"]`.
    pub(crate) batch: bool,
    /// Settings of the recording-on servers' recorder.
    pub(crate) recorder: RecorderSettings,
    /// Add recording-on rows with an OpenTelemetry exporter attached to a
    /// collector that is down (connection refused) and one that never answers.
    pub(crate) otel: bool,
}

/// Recorder settings; `None` keeps the recorder's default.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecorderSettings {
    /// Ring slots per thread.
    pub(crate) ring_capacity: Option<usize>,
    /// Records the history keeps.
    pub(crate) history: Option<usize>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            connections: vec![10, 100],
            inflight: 8,
            seconds: Duration::from_secs(5),
            warmup: Duration::from_millis(500),
            recording: Recording::Both,
            layout: Layout::Split,
            server_threads: 2,
            client_threads: 1,
            max_calls: 10_000_000,
            rounds: 4,
            sessions: 1000,
            instances: 5,
            single: true,
            memory: true,
            echo3: true,
            otel: false,
            batch: true,
            recorder: RecorderSettings::default(),
        }
    }
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, BenchError> {
    v.parse()
        .map_err(|_| BenchError::Usage(format!("{flag} {v:?}: not a number\n\n{USAGE}")))
}

fn secs(flag: &str, v: &str) -> Result<Duration, BenchError> {
    let s: f64 = num(flag, v)?;
    if !(0.0..=3600.0).contains(&s) {
        return Err(BenchError::Usage(format!("{flag} {v}: 0 to 3600 seconds")));
    }
    Ok(Duration::from_secs_f64(s))
}

impl Args {
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, BenchError> {
        let mut a = Args::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value\n\n{USAGE}")))
            };
            match flag.as_str() {
                "--connections" => {
                    let v = value()?;
                    a.connections = v
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| num("--connections", s))
                        .collect::<Result<_, _>>()?;
                    if a.connections.iter().any(|&k| k == 0 || k > 10_000) {
                        return Err(BenchError::Usage("--connections: 1 to 10000 each".into()));
                    }
                }
                "--inflight" => a.inflight = num::<usize>("--inflight", &value()?)?.clamp(1, 1024),
                "--seconds" => a.seconds = secs("--seconds", &value()?)?,
                "--warmup" => a.warmup = secs("--warmup", &value()?)?,
                "--recording" => {
                    a.recording = match value()?.as_str() {
                        "on" => Recording::On,
                        "off" => Recording::Off,
                        "both" => Recording::Both,
                        other => {
                            return Err(BenchError::Usage(format!(
                                "--recording on|off|both, not {other:?}"
                            )))
                        }
                    }
                }
                "--layout" => {
                    a.layout = match value()?.as_str() {
                        "split" => Layout::Split,
                        "shared" => Layout::Shared,
                        other => {
                            return Err(BenchError::Usage(format!(
                                "--layout split|shared, not {other:?}"
                            )))
                        }
                    }
                }
                "--server-threads" => {
                    a.server_threads = num::<usize>("--server-threads", &value()?)?.clamp(1, 64)
                }
                "--client-threads" => {
                    a.client_threads = num::<usize>("--client-threads", &value()?)?.clamp(1, 64)
                }
                "--max-calls" => a.max_calls = num::<u64>("--max-calls", &value()?)?.max(1),
                "--rounds" => {
                    a.rounds =
                        crate::rounds::balanced(num::<usize>("--rounds", &value()?)?.clamp(1, 100));
                }
                "--sessions" => a.sessions = num::<usize>("--sessions", &value()?)?.min(10_000),
                "--instances" => a.instances = num::<usize>("--instances", &value()?)?.min(512),
                "--no-single" => a.single = false,
                "--no-memory" => a.memory = false,
                "--no-echo3" => a.echo3 = false,
                "--no-batch" => a.batch = false,
                "--otel" => a.otel = true,
                "--ring-capacity" => {
                    a.recorder.ring_capacity =
                        Some(num::<usize>("--ring-capacity", &value()?)?.clamp(64, 1 << 22))
                }
                "--history" => {
                    a.recorder.history =
                        Some(num::<usize>("--history", &value()?)?.clamp(1, 10_000_000))
                }
                "-h" | "--help" => return Err(BenchError::Usage(USAGE.into())),
                other => {
                    return Err(BenchError::Usage(format!(
                        "unknown argument {other:?}\n\n{USAGE}"
                    )))
                }
            }
        }
        if a.sessions == 0 {
            a.memory = false;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, BenchError> {
        Args::parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn defaults_match_the_documented_command() {
        let a = parse("").unwrap_or_default();
        assert_eq!(a.connections, vec![10, 100]);
        assert_eq!(a.inflight, 8);
        assert_eq!(a.recording, Recording::Both);
        assert_eq!(a.layout, Layout::Split);
    }

    #[test]
    fn flags_are_read_and_bad_values_refused() {
        let a =
            parse("--connections 1,50 --inflight 4 --seconds 0.5 --recording on --layout shared")
                .unwrap_or_default();
        assert_eq!(a.connections, vec![1, 50]);
        assert_eq!(a.inflight, 4);
        assert_eq!(a.seconds, Duration::from_millis(500));
        assert!(a.recording.on() && !a.recording.off());
        assert_eq!(a.layout, Layout::Shared);
        assert!(parse("--connections 0").is_err());
        assert!(parse("--recording maybe").is_err());
        assert!(parse("--seconds").is_err());
        assert!(parse("--frobnicate").is_err());
        assert!(!parse("--sessions 0").map(|a| a.memory).unwrap_or(true));
    }
}
