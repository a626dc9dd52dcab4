//! CPU time and resident memory read from `/proc`.
//!
//! CPU time comes from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on
//! the CPU, per thread), so server threads and client threads of one
//! process can be told apart by name. Where `schedstat` is missing, the
//! `stat` utime+stime ticks are used instead (USER_HZ = 100).

use crate::error::BenchError;
use std::fs;
use std::path::Path;

/// Name prefix of the load generator's threads; every other thread of the
/// process but the main one counts as server.
pub(crate) const CLIENT_THREAD: &str = "cli";

/// Name prefix of the recorder's collector thread (`fluxlive-recorder`,
/// cut to 15 bytes by the kernel).
const RECORDER_THREAD: &str = "fluxlive-record";

/// CPU nanoseconds, split between server and client threads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSplit {
    pub(crate) server_ns: u64,
    pub(crate) client_ns: u64,
    /// The part of `server_ns` spent by recorder collector threads.
    pub(crate) recorder_ns: u64,
}

impl CpuSplit {
    pub(crate) fn since(self, before: CpuSplit) -> CpuSplit {
        CpuSplit {
            server_ns: self.server_ns.saturating_sub(before.server_ns),
            client_ns: self.client_ns.saturating_sub(before.client_ns),
            recorder_ns: self.recorder_ns.saturating_sub(before.recorder_ns),
        }
    }

    pub(crate) fn total_ns(self) -> u64 {
        self.server_ns + self.client_ns
    }
}

/// CPU time of every live thread of this process, by role.
///
/// Threads that exit between two samples take their time with them; the
/// runtimes used here keep their worker threads for the whole run.
pub(crate) fn cpu_split() -> Result<CpuSplit, BenchError> {
    let pid = std::process::id();
    let dir = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&dir).map_err(|e| BenchError::io(format!("read {dir}"), e))?;
    let mut out = CpuSplit::default();
    for entry in entries.flatten() {
        let path = entry.path();
        let tid = entry
            .file_name()
            .to_string_lossy()
            .parse::<u32>()
            .unwrap_or(0);
        // A thread may exit while we look: skip it rather than fail.
        let Some(ns) = thread_cpu_ns(&path) else {
            continue;
        };
        let comm = fs::read_to_string(path.join("comm")).unwrap_or_default();
        if tid == pid || comm.starts_with(CLIENT_THREAD) {
            out.client_ns += ns;
        } else {
            out.server_ns += ns;
            if comm.starts_with(RECORDER_THREAD) {
                out.recorder_ns += ns;
            }
        }
    }
    Ok(out)
}

/// CPU nanoseconds used by a whole process (all its threads, dead ones
/// included), from `/proc/<pid>/stat`: a cross-check of the per-thread sum.
#[cfg(test)]
pub(crate) fn process_cpu_ns(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {path}"), e))?;
    stat_ticks(&text)
        .map(ticks_to_ns)
        .ok_or_else(|| BenchError::Protocol(format!("{path}: unexpected format")))
}

fn thread_cpu_ns(task: &Path) -> Option<u64> {
    if let Ok(s) = fs::read_to_string(task.join("schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Some(ns);
        }
    }
    let stat = fs::read_to_string(task.join("stat")).ok()?;
    stat_ticks(&stat).map(ticks_to_ns)
}

/// utime + stime from a `stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after the last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ")": state(3) ppid(4) ... utime(14) stime(15) → indexes 11, 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_ns(ticks: u64) -> u64 {
    // USER_HZ is 100 on every Linux ABI this runs on.
    ticks * 10_000_000
}

/// Resident set size of a process in bytes (`VmRSS` in `/proc/<pid>/status`).
pub(crate) fn rss_bytes(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| BenchError::io(format!("read {path}"), e))?;
    parse_vm_rss(&text).ok_or_else(|| BenchError::Protocol(format!("{path}: no VmRSS line")))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(stat_ticks(line), Some(10));
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t 900 kB\nVmRSS:\t   1234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    fn burn() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
    }

    #[test]
    fn a_thread_named_like_the_collector_counts_as_recorder_time() {
        let moved = std::thread::Builder::new()
            .name("fluxlive-recorder".into())
            .spawn(|| {
                let before = cpu_split().unwrap_or_default();
                burn();
                let after = cpu_split().unwrap_or_default();
                after.since(before).recorder_ns
            })
            .map(|h| h.join().unwrap_or(0))
            .unwrap_or(0);
        assert!(
            moved > 0,
            "the collector-named thread's CPU was not attributed"
        );
    }

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let pid = std::process::id();
        let before = process_cpu_ns(pid).unwrap_or(0);
        let split = cpu_split().unwrap_or_default();
        // Burn a little CPU so the counters must move (bounded loop).
        burn();
        let after = cpu_split().unwrap_or_default();
        assert!(
            after.total_ns() > split.total_ns(),
            "{after:?} vs {split:?}"
        );
        assert!(process_cpu_ns(pid).unwrap_or(0) >= before);
        assert!(rss_bytes(pid).unwrap_or(0) > 1 << 20);
    }
}
