//! Shared test support: an OTLP/HTTP receiver on 127.0.0.1:0 that decodes
//! requests with the official protobuf/serde types, a scenario of realistic
//! records, and span lookup helpers.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

pub mod records;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use fluxlive_otel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use fluxlive_otel::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use fluxlive_otel::proto::common::v1::any_value::Value;
use fluxlive_otel::proto::trace::v1::Span;
use prost::Message;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Status(u16),
    /// Status with a `Retry-After` header in seconds.
    StatusRetryAfter(u16, u64),
    /// Never answers.
    Hang,
    /// 200 with a partial success rejecting this many spans.
    PartialReject(i64),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub reply: Reply,
    pub traces: Option<ExportTraceServiceRequest>,
    pub metrics: Option<ExportMetricsServiceRequest>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    received: Mutex<Vec<Received>>,
}

pub struct Receiver {
    pub base: String,
    inner: Arc<Inner>,
    rt: Option<tokio::runtime::Runtime>,
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| inner.default.lock().unwrap().unwrap_or(Reply::Ok));
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let json = content_type == "application/json";
    let path = uri.path().to_owned();
    let (traces, metrics) = if path == "/v1/traces" {
        let t = if json {
            serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
        } else {
            ExportTraceServiceRequest::decode(body.as_ref()).map_err(|e| e.to_string())
        };
        match t {
            Ok(t) => (Some(t), None),
            Err(e) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("undecodable traces: {e}"),
                )
                    .into_response()
            }
        }
    } else {
        let m = if json {
            serde_json::from_slice::<ExportMetricsServiceRequest>(&body).map_err(|e| e.to_string())
        } else {
            ExportMetricsServiceRequest::decode(body.as_ref()).map_err(|e| e.to_string())
        };
        match m {
            Ok(m) => (None, Some(m)),
            Err(e) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("undecodable metrics: {e}"),
                )
                    .into_response()
            }
        }
    };
    inner.received.lock().unwrap().push(Received {
        path,
        content_type: content_type.clone(),
        reply,
        traces,
        metrics,
        headers,
        body: body.to_vec(),
    });
    match reply {
        Reply::Ok => ok_response(json, None),
        Reply::PartialReject(n) => ok_response(json, Some(n)),
        Reply::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Reply::StatusRetryAfter(s, secs) => (
            StatusCode::from_u16(s).unwrap(),
            [("retry-after", secs.to_string())],
        )
            .into_response(),
        Reply::Hang => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
    }
}

fn ok_response(json: bool, rejected: Option<i64>) -> Response {
    let resp = ExportTraceServiceResponse {
        partial_success: rejected.map(|n| ExportTracePartialSuccess {
            rejected_spans: n,
            error_message: "rejected by test".into(),
        }),
    };
    if json {
        let body = match rejected {
            Some(n) => {
                format!(r#"{{"partialSuccess":{{"rejectedSpans":"{n}","errorMessage":"x"}}}}"#)
            }
            None => "{}".to_owned(),
        };
        ([("content-type", "application/json")], body).into_response()
    } else {
        (
            [("content-type", "application/x-protobuf")],
            resp.encode_to_vec(),
        )
            .into_response()
    }
}

impl Receiver {
    /// Starts a receiver answering `default` unless a scripted reply is queued.
    pub fn start(default: Reply) -> Self {
        let inner = Arc::new(Inner::default());
        *inner.default.lock().unwrap() = Some(default);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/v1/traces", post(handle))
            .route("/v1/metrics", post(handle))
            .with_state(Arc::clone(&inner));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            inner,
            rt: Some(rt),
        }
    }

    /// Queues replies for the next requests.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Requests on `/v1/traces`, whatever the answer.
    pub fn trace_hits(&self) -> usize {
        self.received()
            .iter()
            .filter(|r| r.path == "/v1/traces")
            .count()
    }

    /// Spans of the trace requests that were answered with success.
    pub fn delivered_spans(&self) -> Vec<Span> {
        self.received()
            .into_iter()
            .filter(|r| matches!(r.reply, Reply::Ok | Reply::PartialReject(_)))
            .filter_map(|r| r.traces)
            .flat_map(|t| t.resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }

    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.received()
            .into_iter()
            .filter_map(|r| r.metrics)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Polls `cond` until it holds, failing the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The span named `name`; fails listing the names present.
pub fn span<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one span named {name:?}, have {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

pub fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn attr_str<'a>(span: &'a Span, key: &str) -> &'a str {
    match attr(span, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{}: attribute {key} is not a string: {other:?}", span.name),
    }
}

pub fn attr_int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(Value::IntValue(i)) => *i,
        other => panic!("{}: attribute {key} is not an int: {other:?}", span.name),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
