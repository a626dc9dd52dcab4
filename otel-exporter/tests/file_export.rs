//! OTLP/JSON files: the text decodes with opentelemetry-proto's serde types,
//! follows the OTLP/JSON rules, and the `export` command reports bad input.
#![allow(clippy::unwrap_used)]

mod common;

use common::records::{assert_no_secret, check_scenario, session, SCENARIO_SPANS};
use fluxlive_otel::proto::collector::trace::v1::ExportTraceServiceRequest;
use fluxlive_otel::proto::trace::v1::Span;
use fluxlive_otel::session_to_otlp_json;
use std::path::PathBuf;
use std::process::Command;

fn spans_of(req: &ExportTraceServiceRequest) -> Vec<Span> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().cloned())
        .collect()
}

#[test]
fn session_file_decodes_with_the_official_serde_types() {
    let json = session_to_otlp_json(&session());
    let req: ExportTraceServiceRequest = serde_json::from_str(&json).unwrap();
    check_scenario(&spans_of(&req));
    assert_no_secret(json.as_bytes());
}

#[test]
fn json_follows_the_otlp_json_encoding() {
    let json = session_to_otlp_json(&session());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), SCENARIO_SPANS);
    let is_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    for s in spans {
        assert!(
            is_hex(s["traceId"].as_str().unwrap(), 32),
            "traceId is lowercase hex: {}",
            s["traceId"]
        );
        assert!(
            is_hex(s["spanId"].as_str().unwrap(), 16),
            "spanId is lowercase hex"
        );
        let parent = s["parentSpanId"].as_str().unwrap();
        assert!(parent.is_empty() || is_hex(parent, 16));
        assert!(s["kind"].is_u64(), "kind is an integer enum: {}", s["kind"]);
        assert!(
            s["status"]["code"].is_u64(),
            "status code is an integer enum"
        );
        for t in ["startTimeUnixNano", "endTimeUnixNano"] {
            let text = s[t]
                .as_str()
                .unwrap_or_else(|| panic!("{t} is a string: {}", s[t]));
            assert!(text.parse::<u64>().is_ok(), "{t} is a decimal string");
        }
        for a in s["attributes"].as_array().unwrap() {
            if let Some(i) = a["value"].get("intValue") {
                assert!(
                    i.as_str().is_some_and(|t| t.parse::<i64>().is_ok()),
                    "intValue as string: {i}"
                );
            }
        }
    }
    // Keys are lowerCamelCase: no snake_case key anywhere in the document.
    fn walk(v: &serde_json::Value, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k.contains('_') {
                        bad.push(k.clone());
                    }
                    walk(v, bad);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(&v, &mut bad);
    assert!(bad.is_empty(), "snake_case keys: {bad:?}");
}

#[test]
fn same_session_gives_the_same_file() {
    assert_eq!(
        session_to_otlp_json(&session()),
        session_to_otlp_json(&session())
    );
    let mut other = session();
    other.header.started_unix_us += 1;
    let a: ExportTraceServiceRequest =
        serde_json::from_str(&session_to_otlp_json(&session())).unwrap();
    let b: ExportTraceServiceRequest = serde_json::from_str(&session_to_otlp_json(&other)).unwrap();
    // Ids the records name stay; derived ones (connection trace) differ per recording.
    let conn_trace = |r: &ExportTraceServiceRequest| {
        spans_of(r)
            .into_iter()
            .find(|s| s.name == "connection")
            .unwrap()
            .trace_id
    };
    assert_ne!(conn_trace(&a), conn_trace(&b));
}

/// A unique scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fluxlive-otel-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fluxlive-otel"))
}

#[test]
fn export_command_writes_an_otlp_json_body() {
    let dir = scratch("ok");
    let path = dir.join("session.jsonl");
    std::fs::write(&path, session().to_jsonl()).unwrap();
    let out = cli()
        .arg("export")
        .arg(&path)
        .env("OTEL_SERVICE_NAME", "from-env")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let req: ExportTraceServiceRequest = serde_json::from_slice(&out.stdout).unwrap();
    check_scenario(&spans_of(&req));
    let res = req.resource_spans[0].resource.as_ref().unwrap();
    assert!(format!("{:?}", res.attributes).contains("from-env"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn export_command_names_the_bad_line_and_exits_2() {
    let dir = scratch("bad");
    let path = dir.join("broken.jsonl");
    let mut text = session().to_jsonl();
    text.push_str("{\"seq\": 99, \"kind\": \"no_such_kind\"}\n");
    let bad_line = text.lines().count();
    std::fs::write(&path, text).unwrap();
    let out = cli().arg("export").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("line {bad_line}")), "{err}");
    assert!(err.contains("broken.jsonl"), "{err}");
    assert!(out.stdout.is_empty());

    let missing = dir.join("missing.jsonl");
    let out = cli().arg("export").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl"));

    std::fs::write(&path, "not json\n").unwrap();
    let out = cli().arg("export").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));

    let out = cli().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    std::fs::remove_dir_all(dir).unwrap();
}
