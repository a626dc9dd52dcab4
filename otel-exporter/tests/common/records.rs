//! A realistic recorded session, built by hand: one connection mounting a
//! `Counter` and a `TodoList`, one fully traced increment (client span,
//! action, diff, emit, render), a failing and a panicking action, a time
//! travel, an unmount and a close; plus records whose secrets the exporter
//! must never export.

use super::{attr, attr_int, attr_str, hex, span};
use fluxlive_otel::attrs::keys;
use fluxlive_otel::proto::common::v1::any_value::Value;
use fluxlive_otel::proto::trace::v1::span::SpanKind;
use fluxlive_otel::proto::trace::v1::status::StatusCode;
use fluxlive_otel::proto::trace::v1::Span;
use fluxlive_protocol::record::{
    ActionRecord, CallSource, ClientSpanRecord, DiffRecord, DropSite, InstanceRef, Outcome, Record,
    RecordBody, RenderRecord, TraceContext, UnmountReason,
};
use fluxlive_protocol::session::{Session, SessionHeader};
use fluxlive_protocol::{ErrorCode, REDACTED};
use serde_json::json;

/// Wall-clock start of the recording runtime, µs.
pub const STARTED: u64 = 1_764_115_200_000_000;
pub const CONN: u64 = 7;
pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const CLIENT_SPAN: &str = "00f067aa0ba902b7";
pub const SERVER_SPAN: &str = "b7ad6b7169203331";
pub const FAIL_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
pub const PANIC_TRACE: &str = "11112222333344445555666677778888";
/// Appears only in record fields the exporter must not export.
pub const SECRET: &str = "hunter2-top-secret";

fn hero() -> InstanceRef {
    InstanceRef {
        iid: 3,
        id: "hero".into(),
        component: "Counter".into(),
    }
}

fn todos() -> InstanceRef {
    InstanceRef {
        iid: 4,
        id: "todos".into(),
        component: "TodoList".into(),
    }
}

fn rec(seq: u64, ts_us: u64, instance: Option<InstanceRef>, body: RecordBody) -> Record {
    Record {
        seq,
        ts_us,
        conn: CONN,
        instance,
        body,
    }
}

fn ctx(trace: &str, span: &str, parent: &str) -> Option<TraceContext> {
    Some(TraceContext {
        trace_id: trace.into(),
        span_id: span.into(),
        parent_span_id: Some(parent.into()),
        flags: 1,
    })
}

pub fn scenario() -> Vec<Record> {
    let mut records = vec![
        rec(
            1,
            1_000,
            None,
            RecordBody::ConnOpen {
                peer: Some("127.0.0.1:50123".into()),
            },
        ),
        rec(
            2,
            1_100,
            Some(hero()),
            RecordBody::Mount {
                props: json!({"start": 10, "step": 5, "label": "Hero", "api_key": REDACTED}),
                version: 1,
                state: json!({"count": 10, "step": 5, "label": "Hero", "note": SECRET}),
            },
        ),
        rec(
            3,
            1_200,
            Some(todos()),
            RecordBody::Mount {
                props: json!({}),
                version: 1,
                state: json!({"title": "", "items": [], "next_id": 1}),
            },
        ),
        // Emitted while `increment` ran: recorded before the action record.
        rec(
            4,
            2_010,
            Some(hero()),
            RecordBody::Emit {
                name: "count-changed".into(),
                data: json!({"count": 15, "token": SECRET}),
            },
        ),
        rec(
            5,
            2_000,
            Some(hero()),
            RecordBody::Action(ActionRecord {
                method: "increment".into(),
                args: json!([]),
                args_truncated: false,
                dur_us: 40,
                outcome: Outcome::Ok {
                    result: json!(null),
                },
                version_before: 1,
                version_after: 2,
                trace: ctx(TRACE, SERVER_SPAN, CLIENT_SPAN),
                source: CallSource::Client,
            }),
        ),
        rec(
            6,
            2_045,
            Some(hero()),
            RecordBody::Diff(DiffRecord {
                base: 1,
                version: 2,
                ops: serde_json::from_value(
                    json!([{"op": "replace", "path": "/count", "value": 15}]),
                )
                .unwrap(),
                bytes: 64,
                diff_us: 3,
                encode_us: 2,
                trace: ctx(TRACE, SERVER_SPAN, CLIENT_SPAN),
            }),
        ),
        rec(
            7,
            3_200,
            Some(hero()),
            RecordBody::Render(RenderRecord {
                version: 2,
                apply_us: 150,
                render_us: 300,
                frame_us: 900,
                at_unix_us: Some(STARTED + 2_100),
                trace: Some(format!("00-{TRACE}-{SERVER_SPAN}-01")),
            }),
        ),
        rec(
            8,
            3_300,
            Some(hero()),
            RecordBody::ClientSpan(ClientSpanRecord {
                method: "increment".into(),
                trace: format!("00-{TRACE}-{CLIENT_SPAN}-01"),
                start_unix_us: STARTED + 1_900,
                dur_us: 1_500,
                error: None,
            }),
        ),
        // A validation failure; the recorder already redacted the argument.
        rec(
            9,
            4_000,
            Some(todos()),
            RecordBody::Action(ActionRecord {
                method: "add".into(),
                args: json!([REDACTED]),
                args_truncated: false,
                dur_us: 12,
                outcome: Outcome::Err {
                    code: ErrorCode::ActionFailed,
                    message: "TodoList.add: text: must not be empty".into(),
                },
                version_before: 1,
                version_after: 1,
                trace: ctx(FAIL_TRACE, "1111111111111111", "2222222222222222"),
                source: CallSource::Client,
            }),
        ),
        rec(
            10,
            5_010,
            Some(hero()),
            RecordBody::Panic {
                method: "explode".into(),
                message: "explode called".into(),
            },
        ),
        rec(
            11,
            5_000,
            Some(hero()),
            RecordBody::Action(ActionRecord {
                method: "explode".into(),
                args: json!([]),
                args_truncated: false,
                dur_us: 30,
                outcome: Outcome::Err {
                    code: ErrorCode::ActionPanicked,
                    message: "Counter.explode panicked: explode called (state rolled back)".into(),
                },
                version_before: 2,
                version_after: 2,
                trace: ctx(PANIC_TRACE, "3333333333333333", "4444444444444444"),
                source: CallSource::Client,
            }),
        ),
        rec(
            12,
            6_000,
            Some(hero()),
            RecordBody::Snapshot {
                version: 2,
                state: json!({"count": 15, "note": SECRET}),
            },
        ),
        rec(
            13,
            7_000,
            Some(hero()),
            RecordBody::TimeTravel {
                target: 1,
                version: 3,
            },
        ),
        rec(
            14,
            8_000,
            Some(hero()),
            RecordBody::Unmount {
                reason: UnmountReason::Client,
                version: 3,
            },
        ),
        rec(14, 8_500, Some(todos()), RecordBody::Resume { version: 1 }),
        rec(14, 8_600, None, RecordBody::Recording { on: true }),
        rec(
            15,
            9_000,
            None,
            RecordBody::Dropped {
                count: 5,
                site: DropSite::Ring,
                reason: "ring full".into(),
            },
        ),
        rec(
            16,
            10_000,
            None,
            RecordBody::ConnClose {
                reason: "client closed".into(),
            },
        ),
    ];
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64 + 1;
    }
    records
}

pub fn session() -> Session {
    let records = scenario();
    Session {
        header: SessionHeader::new("0.1.0", STARTED, records.len() as u64),
        records,
    }
}

/// Spans the scenario must produce.
pub const SCENARIO_SPANS: usize = 11;

fn ns(us: u64) -> u64 {
    us * 1_000
}

/// Checks everything the scenario promises about its spans.
pub fn check_scenario(spans: &[Span]) {
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(spans.len(), SCENARIO_SPANS, "spans: {names:?}");

    // One trace per action: client (root) -> action -> render.
    let client = span(spans, "call Counter.increment");
    let action = span(spans, "Counter.increment");
    let render = span(spans, "render Counter");
    for s in [client, action, render] {
        assert_eq!(hex(&s.trace_id), TRACE, "{}", s.name);
    }
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert!(client.parent_span_id.is_empty(), "client span is the root");
    assert_eq!(hex(&client.span_id), CLIENT_SPAN);
    assert_eq!(client.start_time_unix_nano, ns(STARTED + 1_900));
    assert_eq!(client.end_time_unix_nano, ns(STARTED + 3_400));

    assert_eq!(action.kind, SpanKind::Server as i32);
    assert_eq!(hex(&action.span_id), SERVER_SPAN);
    assert_eq!(hex(&action.parent_span_id), CLIENT_SPAN);
    assert_eq!(action.start_time_unix_nano, ns(STARTED + 2_000));
    assert!(action.end_time_unix_nano >= ns(STARTED + 2_040));
    assert_eq!(attr_str(action, keys::COMPONENT_TYPE), "Counter");
    assert_eq!(attr_str(action, keys::COMPONENT_ID), "hero");
    assert_eq!(attr_int(action, keys::INSTANCE_IID), 3);
    assert_eq!(attr_str(action, keys::ACTION), "increment");
    assert_eq!(attr_int(action, keys::STATE_VERSION_BEFORE), 1);
    assert_eq!(attr_int(action, keys::STATE_VERSION), 2);
    assert_eq!(attr_int(action, keys::CONNECTION_ID), CONN as i64);
    // The diff joined the action span.
    assert_eq!(attr_int(action, keys::PATCH_BYTES), 64);
    assert_eq!(attr_int(action, keys::PATCH_OPS), 1);
    let events: Vec<&str> = action.events.iter().map(|e| e.name.as_str()).collect();
    assert!(events.contains(&"fluxlive.diff"), "events: {events:?}");
    assert!(events.contains(&"fluxlive.emit"), "events: {events:?}");
    assert_eq!(
        action.status.as_ref().map(|s| s.code),
        Some(StatusCode::Unset as i32)
    );

    assert_eq!(render.kind, SpanKind::Internal as i32);
    assert_eq!(
        hex(&render.parent_span_id),
        SERVER_SPAN,
        "render is a child of the action"
    );
    assert_eq!(render.start_time_unix_nano, ns(STARTED + 2_100));
    assert_eq!(render.end_time_unix_nano, ns(STARTED + 3_000));
    assert_eq!(attr_int(render, keys::RENDER_RENDER_US), 300);
    assert_ne!(render.span_id, action.span_id);

    // Errors: status Error with the code and message.
    let failed = span(spans, "TodoList.add");
    assert_eq!(hex(&failed.trace_id), FAIL_TRACE);
    let st = failed.status.as_ref().expect("status");
    assert_eq!(st.code, StatusCode::Error as i32);
    assert_eq!(st.message, "TodoList.add: text: must not be empty");
    assert_eq!(attr_str(failed, keys::ERROR_CODE), "action_failed");
    // The redaction marker survives; the value it replaced was never there.
    assert!(attr_str(failed, keys::ACTION_ARGS).contains(fluxlive_protocol::REDACTED));

    let panicked = span(spans, "Counter.explode");
    assert_eq!(
        panicked.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(attr_str(panicked, keys::ERROR_CODE), "action_panicked");
    let exc = panicked
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("panic joined the action as an exception event");
    assert!(exc
        .attributes
        .iter()
        .any(|kv| kv.key == keys::EXCEPTION_MESSAGE
            && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(m)) if m == "explode called")));

    // Lifecycle: children of the connection span, in the connection's trace.
    let conn = span(spans, "connection");
    assert_eq!(conn.kind, SpanKind::Server as i32);
    assert_eq!(conn.start_time_unix_nano, ns(STARTED + 1_000));
    assert_eq!(conn.end_time_unix_nano, ns(STARTED + 10_000));
    assert_eq!(
        attr_str(conn, keys::CONNECTION_CLOSE_REASON),
        "client closed"
    );
    for name in [
        "mount Counter",
        "mount TodoList",
        "time_travel Counter",
        "unmount Counter",
    ] {
        let s = span(spans, name);
        assert_eq!(s.trace_id, conn.trace_id, "{name}");
        assert_eq!(s.parent_span_id, conn.span_id, "{name}");
        assert_eq!(s.kind, SpanKind::Internal as i32, "{name}");
    }
    let mount = span(spans, "mount Counter");
    assert!(attr_str(mount, keys::PROPS).contains(fluxlive_protocol::REDACTED));
    assert_eq!(
        attr_int(span(spans, "time_travel Counter"), keys::TIME_TRAVEL_TARGET),
        1
    );
    assert_eq!(
        attr_str(span(spans, "unmount Counter"), keys::UNMOUNT_REASON),
        "client"
    );

    // Span ids are unique.
    let mut ids: Vec<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), spans.len());
    let _ = attr; // (used by other tests)
}

/// Fails if the secret appears anywhere in `bytes`.
pub fn assert_no_secret(bytes: &[u8]) {
    let hay = String::from_utf8_lossy(bytes);
    assert!(!hay.contains(SECRET), "a secret leaked into the export");
}
