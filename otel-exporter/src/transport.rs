//! OTLP/HTTP delivery with the specification's retry rules: 429, 502, 503
//! and 504 are retried with exponential backoff (or the server's
//! `Retry-After`), a bounded number of times; every other answer or
//! transport failure gives the batch up at once.

use crate::config::{Protocol, RetryPolicy};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest response body read (partial-success messages are small).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Which OTLP signal a request carries (decides how to read the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

/// Why a request was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A status that must not be retried (400, 401, 404, 413, ...).
    Rejected(u16),
    /// A retryable status, still failing after the allowed retries.
    RetriesExhausted(u16),
    /// No answer within the timeout.
    Timeout,
    /// Connection refused or host not found.
    Unreachable,
    /// Any other transport failure.
    Transport,
}

impl Failure {
    /// The reason handed to drop callbacks.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Rejected(_) => "collector_rejected",
            Self::RetriesExhausted(_) => "retries_exhausted",
            Self::Timeout => "timeout",
            Self::Unreachable => "collector_unreachable",
            Self::Transport => "transport_error",
        }
    }
}

/// A successful export; `rejected` items were refused by a partial success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) rejected: u64,
}

pub(crate) struct Transport {
    agent: ureq::Agent,
    protocol: Protocol,
    headers: Vec<(String, String)>,
    timeout: Duration,
    retry: RetryPolicy,
    jitter: u64,
}

/// Statuses the OTLP/HTTP specification calls retryable.
pub(crate) fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

impl Transport {
    pub(crate) fn new(
        protocol: Protocol,
        headers: Vec<(String, String)>,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("fluxlive-otel/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            agent,
            protocol,
            headers,
            // The HTTP client adds this to `Instant`s: keep it representable.
            timeout: timeout.min(Duration::from_secs(3600)),
            retry,
            jitter: crate::ids::IdGen::random_seed() | 1,
        }
    }

    /// POSTs `body`, retrying as the module docs say. `deadline` (shutdown)
    /// bounds every attempt and every backoff; `retries` counts the retries.
    pub(crate) fn post(
        &mut self,
        url: &str,
        body: &[u8],
        signal: Signal,
        deadline: Option<Instant>,
        retries: &AtomicU64,
    ) -> Result<Delivered, Failure> {
        let mut attempt: u32 = 0;
        loop {
            let now = Instant::now();
            let mut timeout = self.timeout;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(now);
                if left.is_zero() {
                    return Err(Failure::Timeout);
                }
                timeout = timeout.min(left);
            }
            let mut req = self
                .agent
                .post(url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header("content-type", self.protocol.content_type());
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let mut resp = match req.send(body) {
                Ok(r) => r,
                Err(e) => return Err(classify(&e)),
            };
            let status = resp.status().as_u16();
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE_BYTES)
                .read_to_vec()
                .unwrap_or_default();
            if (200..300).contains(&status) {
                let json = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("json"));
                return Ok(Delivered {
                    rejected: rejected_count(signal, json, &bytes),
                });
            }
            if !retryable(status) {
                return Err(Failure::Rejected(status));
            }
            if attempt >= self.retry.max_retries {
                return Err(Failure::RetriesExhausted(status));
            }
            let delay = retry_after(resp.headers())
                .unwrap_or_else(|| self.backoff(attempt))
                .min(self.retry.max_backoff);
            if deadline.is_some_and(|d| crate::exporter::after(Instant::now(), delay) >= d) {
                return Err(Failure::RetriesExhausted(status));
            }
            tracing::debug!(target: "fluxlive_otel", status, ?delay, attempt, "collector busy, retrying batch");
            retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            std::thread::sleep(delay);
        }
    }

    /// `initial * 2^attempt`, scaled by a random factor in [0.5, 1) so that
    /// many exporters do not retry in lockstep.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let base = self
            .retry
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16));
        // xorshift64: a cheap, good-enough jitter source.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let frac = 0.5 + (self.jitter % 1000) as f64 / 2000.0;
        base.mul_f64(frac).min(self.retry.max_backoff)
    }
}

fn classify(e: &ureq::Error) -> Failure {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) => Failure::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => Failure::Unreachable,
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => Failure::Timeout,
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable | ErrorKind::NotFound => {
                Failure::Unreachable
            }
            _ => Failure::Transport,
        },
        _ => Failure::Transport,
    }
}

/// `Retry-After` in delay-seconds form (the HTTP-date form falls back to
/// our own backoff).
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn rejected_count(signal: Signal, json: bool, body: &[u8]) -> u64 {
    if body.is_empty() {
        return 0;
    }
    let n = match (signal, json) {
        (Signal::Traces, false) => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| p.rejected_spans),
        (Signal::Traces, true) => json_rejected(body, "rejectedSpans"),
        (Signal::Metrics, false) => ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| p.rejected_data_points),
        (Signal::Metrics, true) => json_rejected(body, "rejectedDataPoints"),
    };
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// OTLP/JSON writes int64 as a string, but some servers send a number.
fn json_rejected(body: &[u8], field: &str) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.get("partialSuccess")?.get(field)? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spec_statuses_are_retryable() {
        for s in [429, 502, 503, 504] {
            assert!(retryable(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 408, 413, 500, 501] {
            assert!(!retryable(s), "{s}");
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let mut t = Transport::new(
            Protocol::HttpProtobuf,
            Vec::new(),
            Duration::from_secs(1),
            RetryPolicy {
                max_retries: 10,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(700),
            },
        );
        for _ in 0..50 {
            let b0 = t.backoff(0);
            assert!(
                b0 >= Duration::from_millis(50) && b0 < Duration::from_millis(100),
                "{b0:?}"
            );
            let b2 = t.backoff(2);
            assert!(
                b2 >= Duration::from_millis(200) && b2 < Duration::from_millis(400),
                "{b2:?}"
            );
            assert!(t.backoff(30) <= Duration::from_millis(700));
        }
    }

    #[test]
    fn reads_partial_success_in_both_encodings() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(
            rejected_count(Signal::Traces, false, &resp.encode_to_vec()),
            3
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"x"}}"#;
        assert_eq!(rejected_count(Signal::Traces, true, json), 2);
        let json = br#"{"partialSuccess":{"rejectedDataPoints":4}}"#;
        assert_eq!(rejected_count(Signal::Metrics, true, json), 4);
        assert_eq!(rejected_count(Signal::Traces, true, b"{}"), 0);
        assert_eq!(
            rejected_count(Signal::Metrics, false, b"\xff\xff garbage"),
            0
        );
    }
}
