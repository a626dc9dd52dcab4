//! `fluxlive-otel export session.jsonl > trace.json`: turns a recorded
//! fluxlive session file into an OTLP/JSON `ExportTraceServiceRequest` body.
//! Exit status 2 on any error, with a message naming the file and line.

use fluxlive_otel::{records_to_otlp_json_with, FileExportOptions, OtelConfig};
use fluxlive_protocol::session::Session;
use std::io::{Read, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: fluxlive-otel export <session.jsonl | ->\n\
  Writes the session's spans as an OTLP/JSON request body to stdout:\n\
  curl -X POST -H 'Content-Type: application/json' --data @trace.json http://collector:4318/v1/traces\n\
  service.name and resource attributes come from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("fluxlive-otel: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let path = match args {
        [cmd, path] if cmd == "export" => path,
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => return Err(USAGE.to_owned()),
    };
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
    };
    let session = Session::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let cfg = OtelConfig::from_vars(|k| match k {
        "OTEL_SERVICE_NAME" | "OTEL_RESOURCE_ATTRIBUTES" => std::env::var(k).ok(),
        _ => None,
    })
    .map_err(|e| e.to_string())?;
    let opts = FileExportOptions {
        service_name: cfg.service_name,
        resource_attributes: cfg.resource_attributes,
        ..FileExportOptions::default()
    };
    let json = records_to_otlp_json_with(&session.records, session.header.started_unix_us, &opts);
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write output: {e}"))
}
