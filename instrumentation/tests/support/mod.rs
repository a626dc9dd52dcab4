//! Helpers shared by the integration tests: component metadata, event
//! builders and stream checks.
#![allow(dead_code, clippy::unwrap_used)]

use fluxlive_instrumentation::clock::Instant;
use fluxlive_instrumentation::{
    ActionMeta, Event, EventBody, Filter, InstanceKey, Recorder, TypeMeta,
};
use fluxlive_protocol::record::{Record, RecordBody};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The secret that must never appear in any output.
pub(crate) const SECRET: &str = "hunter2-s3cr3t";

pub(crate) static COUNTER: TypeMeta = TypeMeta {
    name: "Counter",
    redacted_fields: &[],
    actions: &[ActionMeta {
        name: "add",
        params: &["n"],
        redacted_params: &[],
    }],
};

pub(crate) static VAULT: TypeMeta = TypeMeta {
    name: "Vault",
    redacted_fields: &["token"],
    actions: &[ActionMeta {
        name: "login",
        params: &["user", "password"],
        redacted_params: &["password"],
    }],
};

pub(crate) fn key(iid: u64, meta: &'static TypeMeta) -> InstanceKey {
    InstanceKey {
        iid,
        id: Arc::from(format!("i{iid}").as_str()),
        meta,
    }
}

pub(crate) fn ev(iid: u64, meta: &'static TypeMeta, body: EventBody) -> Event {
    Event {
        conn: 1,
        instance: Some(key(iid, meta)),
        body,
    }
}

pub(crate) fn mount(iid: u64, state: Value) -> Event {
    ev(
        iid,
        &COUNTER,
        EventBody::Mount {
            props: json!({}),
            version: 1,
            state,
        },
    )
}

pub(crate) fn patch(ops: Value) -> json_patch::Patch {
    serde_json::from_value(ops).unwrap()
}

/// A diff that sets `/count` to `version`.
pub(crate) fn count_diff(iid: u64, base: u64) -> Event {
    ev(
        iid,
        &COUNTER,
        EventBody::Diff {
            base,
            version: base + 1,
            ops: patch(json!([{"op": "replace", "path": "/count", "value": base + 1}])),
            bytes: 40,
            diff: Duration::from_micros(1),
            encode: Duration::from_micros(1),
            trace: None,
        },
    )
}

pub(crate) fn action(iid: u64, method: &'static str, args: Vec<Value>, before: u64) -> Event {
    ev(
        iid,
        &COUNTER,
        EventBody::Action {
            method: method.into(),
            args,
            started: Instant::now(),
            dur: Duration::from_micros(2),
            outcome: Ok(Value::Null),
            version_before: before,
            version_after: before + 1,
            trace: None,
            source: Default::default(),
            diff: None,
            emits: Vec::new(),
        },
    )
}

/// Every record held, oldest first.
pub(crate) fn held(rec: &Recorder) -> Vec<Record> {
    let mut sub = rec.subscribe(Some(0), Filter::default());
    let mut out = Vec::new();
    while let Some(batch) = sub.try_recv() {
        out.extend(batch);
    }
    out
}

/// Sequence numbers increase by one, except right before a `Dropped`
/// record, which explains a jump of exactly its `count`.
pub(crate) fn assert_gaps_explained(records: &[Record]) {
    let mut prev: Option<u64> = None;
    for r in records {
        if let Some(p) = prev {
            let step = match &r.body {
                RecordBody::Dropped { count, .. } => *count,
                _ => 1,
            };
            assert_eq!(
                r.seq,
                p + step,
                "unexplained gap before {:?} (previous seq {p})",
                r
            );
        }
        prev = Some(r.seq);
    }
}

/// Sum of `count` over `Dropped` records.
pub(crate) fn dropped_in(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| match &r.body {
            RecordBody::Dropped { count, .. } => *count,
            _ => 0,
        })
        .sum()
}

/// The `/count` versions of diffs per instance, in record order.
pub(crate) fn diff_versions(records: &[Record], iid: u64) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r.instance.as_ref().map(|i| i.iid) == Some(iid))
        .filter_map(|r| match &r.body {
            RecordBody::Diff(d) => Some(d.version),
            _ => None,
        })
        .collect()
}

/// Runs `f` on a current-thread tokio runtime.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
