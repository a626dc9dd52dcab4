//! `fluxlive-bench`: a load generator that drives the fluxlive demo runtime
//! and a raw WebSocket echo server in the same run, on loopback, and prints
//! throughput, round trips, server CPU per action and memory per session,
//! each as a ratio against the echo baseline.
//!
//! Run with: `cargo run --release -p fluxlive-bench -- --help`.
//!
//! By default the servers and the load generator share one process but not
//! one thread pool: servers run on a tokio runtime whose threads are named
//! `srv`, the load generator on one named `cli`, so the server's CPU time
//! is read per thread from /proc. `--layout shared` puts both on one pool
//! instead. Memory is measured on a server in a child process.

mod args;
mod client;
mod error;
mod load;
mod memory;
mod proc_stats;
mod report;
mod rounds;
mod servers;

use args::{Args, Layout};
use error::BenchError;
use load::{Outcome, Shape};
use servers::{Running, Target};
use std::process::ExitCode;

#[cfg(all(feature = "mimalloc", not(feature = "system-alloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Which allocator this build measures (printed with the results).
pub(crate) const ALLOCATOR: &str = if cfg!(all(feature = "mimalloc", not(feature = "system-alloc")))
{
    "mimalloc"
} else {
    "system (glibc malloc)"
};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,fluxlive::config=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let res = if argv.first().map(String::as_str) == Some(memory::CHILD_FLAG) {
        memory::parse_child_arg(argv.get(1).map_or("", String::as_str))
            .and_then(memory::serve_child)
    } else {
        Args::parse(argv).and_then(run)
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(BenchError::Usage(u)) => {
            eprintln!("{u}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("fluxlive-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(threads: usize, name: &str) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("tokio runtime", e))
}

fn run(args: Args) -> Result<(), BenchError> {
    let server_rt = runtime(args.server_threads, "srv")?;
    let client_rt = match args.layout {
        Layout::Split => Some(runtime(args.client_threads, proc_stats::CLIENT_THREAD)?),
        Layout::Shared => None,
    };
    let mut targets = vec![Target::Echo];
    if args.echo3 {
        targets.extend([Target::Echo3, Target::Echo3Buffered]);
    }
    if args.recording.off() {
        targets.push(Target::LiveOff);
    }
    if args.recording.on() {
        targets.push(Target::LiveOn);
    }
    if args.otel {
        targets.extend([Target::LiveOtelDown, Target::LiveOtelHang]);
    }
    let servers: Vec<(Target, Running)> = server_rt.block_on(async {
        let mut v = Vec::new();
        for &t in &targets {
            v.push((t, servers::start(t, args.recorder).await?));
        }
        Ok::<_, BenchError>(v)
    })?;

    println!("# fluxlive-bench");
    println!();
    println!("machine: {}", report::machine());
    println!("allocator: {ALLOCATOR}");
    println!(
        "layout: {:?} (server threads {}, client threads {}), {} s per scenario in {} interleaved rounds, each after {} s warm-up; client caps batch: {}",
        args.layout,
        args.server_threads,
        match args.layout {
            Layout::Split => args.client_threads.to_string(),
            Layout::Shared => "shared".into(),
        },
        args.seconds.as_secs_f64(),
        args.rounds,
        args.warmup.as_secs_f64(),
        args.batch
    );
    println!();

    let driver = client_rt.as_ref().unwrap_or(&server_rt);
    let per_round = args.seconds / u32::try_from(args.rounds).unwrap_or(1).max(1);
    let (outcomes, footprints) = driver.block_on(async {
        let mut shapes: Vec<Shape> = args
            .connections
            .iter()
            .map(|&k| Shape {
                connections: k,
                inflight: args.inflight,
                warmup: args.warmup,
                measure: per_round,
                max_calls: args.max_calls,
                batch: args.batch,
            })
            .collect();
        if args.single {
            shapes.push(Shape {
                connections: 1,
                inflight: 1,
                warmup: args.warmup,
                measure: per_round,
                max_calls: args.max_calls,
                batch: args.batch,
            });
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        for shape in shapes {
            let first = outcomes.len();
            for round in 0..args.rounds {
                for i in rounds::order(&targets, round) {
                    let Some((t, server)) = servers.get(i) else {
                        continue;
                    };
                    let o = load::run(server, *t, shape).await?;
                    eprintln!(
                        "round {round} {:>18} {:>4} × {:<3}: {:>8.0}/s  p50 {:>6} µs  p99 {:>6} µs  server {:>5.1} µs/action  load {}",
                        t.label(),
                        shape.connections,
                        shape.inflight,
                        o.per_sec(),
                        o.p50_us(),
                        o.p99_us(),
                        o.server_us_per_action(),
                        report::loadavg()
                    );
                    if let Some(e) = &o.first_error {
                        eprintln!("  first error answer: {e}");
                    }
                    match outcomes.get_mut(first + i) {
                        Some(acc) => acc.absorb(o)?,
                        None => outcomes.push(o),
                    }
                }
            }
        }
        let mut footprints = Vec::new();
        if args.memory {
            for &t in targets
                .iter()
                .filter(|t| t.is_live() || t.is_baseline())
            {
                let f = memory::measure(t, args.sessions, args.instances).await?;
                eprintln!(
                    "{:>18} memory: {:.0} B/session, {} B/instance",
                    t.label(),
                    f.per_session,
                    f.per_instance.map_or("-".into(), |b| format!("{b:.0}"))
                );
                footprints.push(f);
            }
        }
        Ok::<_, BenchError>((outcomes, footprints))
    })?;

    println!("{}", report::throughput_table(&outcomes, args.layout));
    if !footprints.is_empty() {
        println!("{}", report::memory_table(&footprints));
    }
    println!("Against the DESIGN targets:");
    println!();
    print!("{}", report::targets(&outcomes, &footprints, args.layout));
    println!();
    println!("load average at the end: {}", report::loadavg());
    drop(servers);
    server_rt.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Some(rt) = client_rt {
        rt.shutdown_timeout(std::time::Duration::from_secs(1));
    }
    Ok(())
}
