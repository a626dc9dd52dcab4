//! fluxlive demo: counters and a todo list.
//!
//! Run with: `cargo xtask demo` (builds the DevTools panel too), or
//! `cargo run -p fluxlive-demo -- [--addr HOST:PORT] [--debug]`.

use fluxlive::DebugConfig;
use std::net::SocketAddr;

struct Args {
    addr: SocketAddr,
    debug: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 3000).into();
    let mut debug = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--addr" => {
                let v = it.next().ok_or("--addr needs HOST:PORT")?;
                addr = v
                    .parse()
                    .map_err(|e| format!("--addr {v}: not a HOST:PORT socket address ({e})"))?;
            }
            "--debug" => debug = true,
            "-h" | "--help" => {
                return Err("usage: fluxlive-demo [--addr HOST:PORT] [--debug]".into());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(Args { addr, debug })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,fluxlive=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // Recording is cheap enough to leave on; DevTools and OTLP export read it.
    let mut builder = fluxlive_demo::builder()
        .recorder(fluxlive::Recorder::builder().build())
        // The DevTools panel's "Export OpenTelemetry" button asks for this.
        .export_format("otlp-json", |session| {
            Ok(fluxlive_otel::session_to_otlp_json(session))
        });
    builder = if args.debug {
        // The demo is a dev tool: the page may announce the token to DevTools.
        builder.debug(DebugConfig::from_env().unwrap_or_else(DebugConfig::dev))
    } else {
        builder.debug_from_env()
    };
    if args.debug && std::env::var_os("FLUXLIVE_SECRET").is_none() {
        // A fixed development key, so pages keep their state across demo
        // restarts (signed rehydration). Never use a fixed key in production.
        builder = builder.secret(b"fluxlive-demo-development-key".to_vec());
    }
    let live = builder.build();

    let otel = match fluxlive_otel::attach_from_env(live.recorder()) {
        Ok(Some(a)) => {
            println!("fluxlive otel: exporting traces and metrics (OTEL_EXPORTER_OTLP_*)");
            Some(a)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("OpenTelemetry export not started: {e}");
            None
        }
    };
    let app = fluxlive_demo::app(&live);

    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(args.addr);
    println!("fluxlive demo listening on http://{addr}/");
    if let Some(token) = live.debug_token() {
        println!("fluxlive devtools: http://{addr}/__live/devtools/?token={token}");
        println!("fluxlive debug channel: ws://{addr}/__live/debug?token={token}");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = fluxlive::serve_until(listener, app, shutdown).await;
    if let Some(otel) = otel {
        if let Err(e) = otel.shutdown().await {
            eprintln!("OpenTelemetry export did not flush: {e}");
        }
    }
    if let Err(e) = served {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}
