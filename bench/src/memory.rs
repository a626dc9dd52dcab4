//! Memory per connected session and per extra instance.
//!
//! The server runs in a child process (this binary with `--serve-child`),
//! so its resident set holds nothing of the client's: the parent opens
//! sessions, mounts instances and reads the child's `VmRSS` from /proc.
//! Kernel socket buffers are not in RSS and are not counted.

use crate::args::RecorderSettings;
use crate::client::{self, Ws};
use crate::error::BenchError;
use crate::proc_stats;
use crate::servers::{self, Running, Target};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Flag that turns this binary into the child server.
pub(crate) const CHILD_FLAG: &str = "--serve-child";

/// Longest a child server lives if its parent never closes its stdin.
const CHILD_LIFETIME: Duration = Duration::from_secs(600);

/// Connections opened (and kept) before the baseline is read, so one-off
/// allocations (thread-local buffers, first-use tables) are not counted.
const WARM_SESSIONS: usize = 32;

/// What the memory run measured for one server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Footprint {
    pub(crate) target: Target,
    pub(crate) sessions: usize,
    pub(crate) rss_baseline: u64,
    pub(crate) per_session: f64,
    /// Per extra instance (fluxlive only).
    pub(crate) instances: usize,
    pub(crate) per_instance: Option<f64>,
}

/// Child mode: serve `target` on 127.0.0.1:0, print `port N`, and exit
/// when stdin closes (or after [`CHILD_LIFETIME`]).
pub(crate) fn serve_child(target: Target) -> Result<(), BenchError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("srv")
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("tokio runtime", e))?;
    rt.block_on(async {
        let running = servers::start(target, RecorderSettings::default()).await?;
        println!("port {}", running.addr.port());
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let wait_eof = async {
            // Bounded by the lifetime timeout below.
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(CHILD_LIFETIME, wait_eof).await;
        drop(running);
        Ok(())
    })
}

fn child_arg(target: Target) -> &'static str {
    match target {
        Target::Echo | Target::Echo3 | Target::Echo3Buffered => "echo",
        Target::LiveOff => "off",
        Target::LiveOn | Target::LiveOtelDown | Target::LiveOtelHang => "on",
    }
}

/// Parses the child-mode argument.
pub(crate) fn parse_child_arg(s: &str) -> Result<Target, BenchError> {
    match s {
        "echo" => Ok(Target::Echo),
        "off" => Ok(Target::LiveOff),
        "on" => Ok(Target::LiveOn),
        other => Err(BenchError::Usage(format!(
            "{CHILD_FLAG} echo|off|on, not {other:?}"
        ))),
    }
}

struct ChildServer {
    child: Child,
    pid: u32,
    running: Running,
}

async fn spawn_child(target: Target) -> Result<ChildServer, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::io("current_exe", e))?;
    let mut child = Command::new(exe)
        .args([CHILD_FLAG, child_arg(target)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::io("spawn child server", e))?;
    let pid = child
        .id()
        .ok_or_else(|| BenchError::Protocol("child server exited at once".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Protocol("child stdout not piped".into()))?;
    let mut line = String::new();
    tokio::time::timeout(
        client::FRAME_DEADLINE,
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .map_err(|_| BenchError::Protocol("child server did not report its port".into()))?
    .map_err(|e| BenchError::io("read child stdout", e))?;
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| BenchError::Protocol(format!("child said {line:?}, not `port N`")))?;
    let running = Running {
        target,
        addr: ([127, 0, 0, 1], port).into(),
        // The `Live` lives in the child.
        live: None,
        _otel: None,
    };
    Ok(ChildServer {
        child,
        pid,
        running,
    })
}

impl ChildServer {
    async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

async fn open_session(url: &str, target: Target) -> Result<Ws, BenchError> {
    let mut ws = client::connect(url).await?;
    if target.is_live() {
        client::hello(&mut ws, true).await?;
    } else {
        client::echo_once(&mut ws).await?;
    }
    Ok(ws)
}

/// Opens `sessions` sessions on a fresh child server, then (fluxlive only)
/// mounts `per_session` extra `Counter`s on each, reading RSS in between.
pub(crate) async fn measure(
    target: Target,
    sessions: usize,
    per_session: usize,
) -> Result<Footprint, BenchError> {
    let child = spawn_child(target).await?;
    let url = child.running.ws_url();
    let result = measure_on(&child, &url, target, sessions, per_session).await;
    child.stop().await;
    result
}

async fn measure_on(
    child: &ChildServer,
    url: &str,
    target: Target,
    sessions: usize,
    per_session: usize,
) -> Result<Footprint, BenchError> {
    let mut warm = Vec::with_capacity(WARM_SESSIONS);
    for i in 0..WARM_SESSIONS {
        let mut ws = open_session(url, target).await?;
        if target.is_live() {
            client::mount_counter(&mut ws, 1, &format!("w{i}")).await?;
        }
        warm.push(ws);
    }
    let rss0 = proc_stats::rss_bytes(child.pid)?;
    let mut open = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        open.push(open_session(url, target).await?);
    }
    let rss1 = proc_stats::rss_bytes(child.pid)?;
    let mut per_instance = None;
    let instances = if target.is_live() {
        sessions * per_session
    } else {
        0
    };
    if instances > 0 {
        for ws in open.iter_mut() {
            for j in 0..per_session {
                let req = u32::try_from(j + 1).unwrap_or(u32::MAX);
                client::mount_counter(ws, req, &format!("m{j}")).await?;
            }
        }
        let rss2 = proc_stats::rss_bytes(child.pid)?;
        per_instance = Some(rss2.saturating_sub(rss1) as f64 / instances as f64);
    }
    Ok(Footprint {
        target,
        sessions,
        rss_baseline: rss0,
        per_session: rss1.saturating_sub(rss0) as f64 / sessions.max(1) as f64,
        instances,
        per_instance,
    })
}
