//! CPU time per record of the export thread's work: mapping records to
//! spans (and, with `encode`, protobuf encoding), in batches of 512 records
//! as the exporter sends them. Thread CPU time (from /proc, Linux) rather
//! than wall time, so the figure holds on a machine shared with other work.
//!
//! Run with: `cargo run --release -p fluxlive-otel --example cpu_per_record [encode]`
#![allow(missing_docs, clippy::unwrap_used)]
use fluxlive_otel::{records_to_otlp_request, FileExportOptions};
use fluxlive_protocol::record::Record;

fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) * 10
}

#[path = "../benches/support/action_pair.rs"]
mod action_pair;

fn main() {
    let recs: Vec<Record> = (0..256u64).flat_map(action_pair::action_pair).collect();
    let encode = std::env::args().nth(1).is_some();
    let c0 = cpu_ms();
    let mut n = 0u64;
    let mut bytes = 0;
    while cpu_ms() - c0 < 3000 {
        for _ in 0..20 {
            let req = records_to_otlp_request(&recs, 1, &FileExportOptions::default());
            if encode {
                bytes += prost::Message::encode_to_vec(&req).len();
            }
            n += recs.len() as u64;
        }
    }
    let c = cpu_ms() - c0;
    eprintln!(
        "{} records, {c} ms CPU => {:.3} us CPU/record ({bytes} bytes)",
        n,
        c as f64 * 1000.0 / n as f64
    );
}
