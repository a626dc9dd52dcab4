//! The shared test vectors in `protocol/vectors/` are the contract between
//! these Rust types and the JavaScript client (`client/test/` reads the same
//! files). Every frame must survive a decode/encode round trip unchanged, and
//! every patch must give the same result under `json_patch` as under the
//! client's applier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxlive_protocol::{ClientFrame, ErrorCode, ServerFrame};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Deserialize)]
struct FrameVector {
    name: String,
    dir: String,
    frame: Value,
}

#[derive(Deserialize)]
struct PatchVector {
    name: String,
    before: Value,
    ops: Value,
    after: Value,
    #[serde(default)]
    error: bool,
}

fn read<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn frames() -> Vec<FrameVector> {
    read("frames.json")
}

fn round_trip<T>(v: &FrameVector) -> T
where
    T: for<'de> Deserialize<'de> + serde::Serialize,
{
    let decoded: T = serde_json::from_value(v.frame.clone())
        .unwrap_or_else(|e| panic!("{}: does not decode: {e}", v.name));
    let encoded = serde_json::to_value(&decoded).unwrap();
    assert_eq!(encoded, v.frame, "{}: re-encodes differently", v.name);
    decoded
}

#[test]
fn every_frame_round_trips() {
    for v in frames() {
        match v.dir.as_str() {
            "client" => {
                round_trip::<ClientFrame>(&v);
            }
            "server" => {
                round_trip::<ServerFrame>(&v);
            }
            other => panic!("{}: unknown dir {other}", v.name),
        }
    }
}

fn tag(f: &Value) -> String {
    f["t"].as_str().unwrap_or_default().to_owned()
}

/// Every variant tag of a frame enum, read from serde's own "unknown variant"
/// message, so a new frame type without a vector fails here.
fn variant_tags<T: for<'de> Deserialize<'de> + std::fmt::Debug>() -> BTreeSet<String> {
    let err = serde_json::from_value::<T>(serde_json::json!({"t": "\u{0}no such frame"}))
        .expect_err("a bogus tag must not decode")
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected serde message: {err}"));
    list.split(", ")
        .map(|s| s.trim().trim_matches('`').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn vectors_cover_every_frame_type() {
    let vs = frames();
    let tags = |dir: &str| -> BTreeSet<String> {
        vs.iter()
            .filter(|v| v.dir == dir)
            .map(|v| tag(&v.frame))
            .collect()
    };
    let client = variant_tags::<ClientFrame>();
    let server = variant_tags::<ServerFrame>();
    assert!(
        client.contains("hello") && client.contains("call"),
        "{client:?}"
    );
    assert!(
        server.contains("welcome") && server.contains("patch"),
        "{server:?}"
    );
    assert_eq!(tags("client"), client);
    assert_eq!(tags("server"), server);
}

#[test]
fn vectors_cover_every_error_code() {
    // serde lists every code in its "unknown variant" message.
    let err = serde_json::from_value::<ErrorCode>(serde_json::json!("\u{0}no such code"))
        .expect_err("a bogus code must not decode")
        .to_string();
    let all: BTreeSet<String> = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected serde message: {err}"))
        .split(", ")
        .map(|s| s.trim().trim_matches('`').to_owned())
        .collect();
    assert!(
        all.contains("bad_frame") && all.contains("internal"),
        "{all:?}"
    );
    let seen: BTreeSet<String> = frames()
        .iter()
        .filter(|v| tag(&v.frame) == "error")
        .map(|v| v.frame["code"].as_str().unwrap().to_owned())
        .collect();
    for code in &all {
        assert!(seen.contains(code), "no error vector for {code}");
    }
    for code in &seen {
        assert!(all.contains(code), "vector for unknown code {code}");
    }
}

#[test]
fn unknown_client_fields_are_refused() {
    let v = serde_json::json!({"t": "sync", "id": "a", "extra": 1});
    assert!(serde_json::from_value::<ClientFrame>(v).is_err());
}

#[test]
fn patches_match_json_patch() {
    let vs: Vec<PatchVector> = read("patches.json");
    assert!(vs.len() >= 20);
    for v in vs {
        let ops: json_patch::Patch = serde_json::from_value(v.ops.clone())
            .unwrap_or_else(|e| panic!("{}: ops do not decode: {e}", v.name));
        let mut doc = v.before.clone();
        let res = json_patch::patch(&mut doc, &ops);
        if v.error {
            assert!(res.is_err(), "{}: should fail", v.name);
            assert_eq!(
                doc, v.before,
                "{}: a failed patch changed the document",
                v.name
            );
        } else {
            res.unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(doc, v.after, "{}", v.name);
        }
    }
}
