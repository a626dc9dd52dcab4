//! A real action over a real WebSocket becomes one trace in an OTLP
//! receiver: client span (root) → server action span → render span.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../otel-exporter/tests/common/mod.rs"]
mod common;

use common::{attr_int, attr_str, hex, span, wait_for, Receiver, Reply};
use fluxlive::{live_component, Live, Recorder};
use fluxlive_otel::OtelConfig;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A component with a secret, to check redaction end to end.
#[derive(Serialize, Deserialize, Default, Live)]
struct Vault {
    opened: u32,
    #[live(redact)]
    #[serde(default)]
    pin: String,
}

#[live_component]
impl Vault {
    #[action]
    fn open(&mut self, #[redact] pin: String) -> u32 {
        self.pin = pin;
        self.opened += 1;
        self.opened
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves the demo app of `live` on an ephemeral loopback port and opens an app socket.
async fn serve_and_connect(live: &Live) -> (std::net::SocketAddr, Socket) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = fluxlive_demo::app(live);
    tokio::spawn(async move { fluxlive::serve(listener, app).await });
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/__live/ws"))
        .await
        .unwrap();
    (addr, ws)
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

#[test]
fn one_trace_per_action_from_click_to_render() {
    let receiver = Receiver::start(Reply::Ok);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let live = fluxlive_demo::builder()
            .component::<Vault>()
            .recorder(Recorder::builder().build())
            .build();
        let attached = fluxlive_otel::attach(
            live.recorder(),
            OtelConfig::default()
                .endpoint(&receiver.base)
                .batch_delay(Duration::from_millis(20)),
        )
        .unwrap();
        let (_, mut ws) = serve_and_connect(&live).await;
        for frame in [
            json!({"t": "hello", "protocol": 1}),
            json!({"t": "mount", "ref": 1, "type": "Counter", "props": {}, "id": "c"}),
            json!({"t": "mount", "ref": 2, "type": "Vault", "props": {}, "id": "v"}),
            json!({"t": "call", "ref": 3, "id": "c", "method": "increment", "args": [],
                   "trace": format!("00-{TRACE}-{CLIENT_SPAN}-01")}),
            json!({"t": "call", "ref": 4, "id": "c", "method": "fail", "args": [],
                   "trace": "00-11111111111111111111111111111111-2222222222222222-01"}),
            json!({"t": "call", "ref": 5, "id": "v", "method": "open", "args": ["PIN-4242-SECRET"],
                   "trace": "00-33333333333333333333333333333333-4444444444444444-01"}),
        ] {
            ws.send(Message::text(frame.to_string())).await.unwrap();
        }
        // Read until every call is answered (instances run in parallel, so
        // their answers may come in any order), keeping the increment's patch.
        let mut patch_trace = None;
        let mut seen = Vec::new();
        let mut answered = std::collections::HashSet::new();
        for _ in 0..100 {
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let f: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            seen.push(f.to_string());
            if f["t"] == "patch" && f["id"] == "c" {
                patch_trace = f["trace"].as_str().map(str::to_owned);
            }
            if let Some(r) = f["ref"].as_u64().filter(|r| *r >= 3) {
                answered.insert(r);
            }
            if answered.len() == 3 {
                break;
            }
        }
        let patch_trace = patch_trace.unwrap_or_else(|| panic!("the patch names the server span: {seen:#?}"));
        // What the browser client reports: its render of that patch, and its call span.
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        ws.send(Message::text(
            json!({"t": "renders",
                "items": [{"id": "c", "version": 1, "apply_us": 40, "render_us": 120, "frame_us": 9000,
                           "at_unix_us": now_us, "trace": patch_trace}],
                "spans": [{"trace": format!("00-{TRACE}-{CLIENT_SPAN}-01"), "id": "c", "method": "increment",
                           "start_unix_us": now_us - 2000, "dur_us": 1500}]})
            .to_string(),
        ))
        .await
        .unwrap();
        live.recorder().flush().await;
        tokio::task::spawn_blocking(move || {
            // Give the feed task a moment to hand the batch over, then flush.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while attached.exporter().stats().records_offered == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            attached.exporter().flush(Duration::from_secs(10)).unwrap();
        })
        .await
        .unwrap();
    });

    wait_for(
        "the three spans of the increment",
        Duration::from_secs(15),
        || {
            let spans = receiver.delivered_spans();
            [
                "call Counter.increment",
                "Counter.increment",
                "render Counter",
            ]
            .iter()
            .all(|n| spans.iter().any(|s| &s.name == n))
        },
    );
    let spans = receiver.delivered_spans();
    let client = span(&spans, "call Counter.increment");
    let action = span(&spans, "Counter.increment");
    let render = span(&spans, "render Counter");
    assert_eq!(hex(&client.trace_id), TRACE);
    assert_eq!(hex(&client.span_id), CLIENT_SPAN);
    assert!(
        client.parent_span_id.is_empty(),
        "the client span is the root"
    );
    assert_eq!(hex(&action.trace_id), TRACE);
    assert_eq!(action.parent_span_id, client.span_id, "action ← client");
    assert_eq!(hex(&render.trace_id), TRACE);
    assert_eq!(render.parent_span_id, action.span_id, "render ← action");
    assert_eq!(attr_str(action, "fluxlive.component.type"), "Counter");
    assert_eq!(attr_str(action, "fluxlive.component.id"), "c");
    assert_eq!(attr_str(action, "fluxlive.action"), "increment");
    assert_eq!(attr_int(action, "fluxlive.state.version"), 1);

    let failed = span(&spans, "Counter.fail");
    let status = failed
        .status
        .as_ref()
        .expect("a status on the failed action");
    assert_eq!(status.code, 2, "STATUS_CODE_ERROR");
    assert!(
        status.message.contains("action_failed") || status.message.contains("refuses"),
        "{}",
        status.message
    );

    // The secret argument and state never reach the collector.
    for r in receiver.received() {
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("PIN-4242-SECRET"), "secret leaked to OTLP");
    }
    let vault = span(&spans, "Vault.open");
    assert_eq!(attr_str(vault, "fluxlive.component.type"), "Vault");
}

#[tokio::test]
async fn the_debug_channel_exports_the_history_as_otlp_json() {
    let live = fluxlive_demo::builder()
        .recorder(Recorder::builder().build())
        .debug(fluxlive::DebugConfig::loopback().token("t"))
        .export_format("otlp-json", |s| Ok(fluxlive_otel::session_to_otlp_json(s)))
        .build();
    let (addr, mut ws) = serve_and_connect(&live).await;
    for frame in [
        json!({"t": "hello", "protocol": 1}),
        json!({"t": "mount", "ref": 1, "type": "Counter", "props": {}, "id": "c"}),
        json!({"t": "call", "ref": 2, "id": "c", "method": "increment", "args": [],
               "trace": format!("00-{TRACE}-{CLIENT_SPAN}-01")}),
    ] {
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
    loop {
        let m = ws.next().await.unwrap().unwrap();
        let f: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        if f["ref"] == 2 {
            break;
        }
    }
    let (mut panel, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/__live/debug?token=t"))
            .await
            .unwrap();
    panel
        .send(Message::text(
            json!({"t": "export", "ref": 9, "format": "otlp-json"}).to_string(),
        ))
        .await
        .unwrap();
    let mut text = String::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), panel.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let f: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        if f["t"] == "export_chunk" && f["ref"] == 9 {
            text.push_str(f["data"].as_str().unwrap());
            if f["last"] == true {
                break;
            }
        }
    }
    let req: fluxlive_otel::proto::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_str(&text).expect("a collector-ready OTLP/JSON body");
    let names: Vec<String> = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect();
    assert!(names.iter().any(|n| n == "Counter.increment"), "{names:?}");
}
