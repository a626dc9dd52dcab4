//! Exporter configuration: the standard `OTEL_*` environment variables or
//! builder methods on [`OtelConfig`].

use crate::error::ConfigError;
use std::fmt;
use std::time::Duration;

/// The OTLP encoding used over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `http/protobuf`: binary protobuf, `Content-Type: application/x-protobuf`.
    #[default]
    HttpProtobuf,
    /// `http/json`: OTLP/JSON, `Content-Type: application/json`.
    HttpJson,
}

impl Protocol {
    /// Parses the `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "http/protobuf" => Some(Self::HttpProtobuf),
            "http/json" => Some(Self::HttpJson),
            _ => None,
        }
    }

    /// The HTTP `Content-Type` of request bodies.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "application/x-protobuf",
            Self::HttpJson => "application/json",
        }
    }
}

/// When and how often a batch is sent again.
///
/// Only answers 429, 502, 503 and 504 are retried (as the OTLP/HTTP
/// specification says); every other failure drops the batch at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub initial_backoff: Duration,
    /// Upper bound of one delay, also applied to a server's `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Which traces are exported (`OTEL_TRACES_SAMPLER`). The decision depends
/// on the trace id only, so the client, action and render spans of one call
/// are kept or dropped together. "Parent" is the browser: its `traceparent`
/// flags carry its sampling decision.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sampler {
    /// Every span, whatever the browser decided.
    AlwaysOn,
    /// No span (metrics are still exported).
    AlwaysOff,
    /// Browser calls as the browser decided; everything else.
    #[default]
    ParentBasedAlwaysOn,
    /// Browser calls as the browser decided; nothing else.
    ParentBasedAlwaysOff,
    /// This share (0..=1) of traces, by trace id, whatever the browser decided.
    TraceIdRatio(f64),
    /// Browser calls as the browser decided; this share of the others.
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// Parses `OTEL_TRACES_SAMPLER` and its `OTEL_TRACES_SAMPLER_ARG`.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Self, ConfigError> {
        let ratio = || -> Result<f64, ConfigError> {
            let Some(a) = arg else { return Ok(1.0) };
            match a.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(ConfigError::Number {
                    var: "OTEL_TRACES_SAMPLER_ARG",
                    value: a.to_owned(),
                    expected: "a ratio between 0 and 1",
                }),
            }
        };
        Ok(match name.trim() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "parentbased_always_on" => Self::ParentBasedAlwaysOn,
            "parentbased_always_off" => Self::ParentBasedAlwaysOff,
            "traceidratio" => Self::TraceIdRatio(ratio()?),
            "parentbased_traceidratio" => Self::ParentBasedTraceIdRatio(ratio()?),
            other => {
                return Err(ConfigError::Sampler {
                    value: other.to_owned(),
                })
            }
        })
    }

    /// Whether to export a span of `trace`; `browser_flags` are the W3C
    /// flags when the browser started the trace.
    pub(crate) fn keep(self, trace: &[u8], browser_flags: Option<u8>) -> bool {
        let parent = browser_flags.map(|f| f & 0x01 != 0);
        match self {
            Self::AlwaysOn => true,
            Self::AlwaysOff => false,
            Self::ParentBasedAlwaysOn => parent.unwrap_or(true),
            Self::ParentBasedAlwaysOff => parent.unwrap_or(false),
            Self::TraceIdRatio(r) => ratio_keeps(trace, r),
            Self::ParentBasedTraceIdRatio(r) => parent.unwrap_or_else(|| ratio_keeps(trace, r)),
        }
    }
}

/// The W3C/OTel rule: the trace id's low 8 bytes, as a number, below
/// `ratio × 2^64`.
fn ratio_keeps(trace: &[u8], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let mut low = [0u8; 8];
    if let Some(tail) = trace.get(trace.len().saturating_sub(8)..) {
        low[8 - tail.len()..].copy_from_slice(tail);
    }
    (u64::from_be_bytes(low) as f64) < ratio * (u64::MAX as f64)
}

/// Default OTLP/HTTP base endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// Default `service.name`.
pub const DEFAULT_SERVICE_NAME: &str = "fluxlive";

/// Everything the exporter needs to know. Build it with
/// [`OtelConfig::from_env`] or [`OtelConfig::default`] plus builder methods:
///
/// ```
/// use fluxlive_otel::{OtelConfig, Protocol};
/// use std::time::Duration;
/// let cfg = OtelConfig::default()
///     .endpoint("http://127.0.0.1:4318")
///     .protocol(Protocol::HttpJson)
///     .timeout(Duration::from_secs(2))
///     .service_name("shop");
/// assert_eq!(cfg.traces_endpoint, "http://127.0.0.1:4318/v1/traces");
/// ```
#[derive(Clone, PartialEq)]
pub struct OtelConfig {
    /// Full URL spans are POSTed to (`.../v1/traces`).
    pub traces_endpoint: String,
    /// Full URL metrics are POSTed to (`.../v1/metrics`); `None` turns metrics off.
    pub metrics_endpoint: Option<String>,
    /// Body encoding.
    pub protocol: Protocol,
    /// Extra request headers (e.g. an API key). Never printed by `Debug`.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout (connect, send, and wait for the answer).
    pub timeout: Duration,
    /// Resource `service.name`.
    pub service_name: String,
    /// Further resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// Wall-clock start of the runtime in µs since the Unix epoch: record
    /// timestamps are relative to it. `None`: the time the exporter starts.
    pub started_unix_us: Option<u64>,
    /// Records the queue holds before `offer` starts dropping.
    pub queue_capacity: usize,
    /// Most spans in one request.
    pub max_batch: usize,
    /// Longest time a span waits for its batch to fill.
    pub batch_delay: Duration,
    /// How long an action span waits for its diff, panic and emit records
    /// before it is sent without them.
    pub linger: Duration,
    /// How often metrics are sent.
    pub metrics_interval: Duration,
    /// Retry rules.
    pub retry: RetryPolicy,
    /// Longest time `shutdown` (and dropping the exporter) waits for the
    /// last batches.
    pub shutdown_timeout: Duration,
    /// Longest string attribute in bytes; longer values are cut.
    pub max_attribute_len: usize,
    /// Whether redacted argument, result and props values go into spans.
    pub record_values: bool,
    /// Which traces are exported.
    pub sampler: Sampler,
}

impl Default for OtelConfig {
    fn default() -> Self {
        Self {
            traces_endpoint: signal_url(DEFAULT_ENDPOINT, "traces"),
            metrics_endpoint: Some(signal_url(DEFAULT_ENDPOINT, "metrics")),
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            resource_attributes: Vec::new(),
            started_unix_us: None,
            queue_capacity: 2048,
            max_batch: 512,
            batch_delay: Duration::from_secs(1),
            linger: Duration::from_millis(100),
            metrics_interval: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            shutdown_timeout: Duration::from_secs(5),
            max_attribute_len: 512,
            record_values: true,
            sampler: Sampler::default(),
        }
    }
}

impl fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are often credentials: print names only.
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtelConfig")
            .field("traces_endpoint", &self.traces_endpoint)
            .field("metrics_endpoint", &self.metrics_endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("started_unix_us", &self.started_unix_us)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("batch_delay", &self.batch_delay)
            .field("linger", &self.linger)
            .field("metrics_interval", &self.metrics_interval)
            .field("retry", &self.retry)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("max_attribute_len", &self.max_attribute_len)
            .field("record_values", &self.record_values)
            .field("sampler", &self.sampler)
            .finish()
    }
}

/// `base` + `/v1/<signal>`, as the OTLP spec builds signal URLs from
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn signal_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim().trim_end_matches('/'))
}

impl OtelConfig {
    /// Reads the standard variables from the process environment.
    ///
    /// Read: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms),
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_METRICS_EXPORTER`
    /// (`none` turns metrics off), `OTEL_METRIC_EXPORT_INTERVAL` (ms),
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms), `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`. Unset or empty variables keep the defaults;
    /// invalid values are an error naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// [`OtelConfig::from_env`] when the environment asks for export: an
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// is set and `OTEL_SDK_DISABLED` is not `true`; `None` otherwise, so a
    /// runtime can start the exporter only when it was configured.
    pub fn from_env_if_configured() -> Result<Option<Self>, ConfigError> {
        Self::from_vars_if_configured(|k| std::env::var(k).ok())
    }

    /// [`OtelConfig::from_env_if_configured`] with variables looked up by `get`.
    pub fn from_vars_if_configured(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let set = |k: &str| get(k).is_some_and(|v| !v.trim().is_empty());
        let disabled =
            get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if disabled
            || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        {
            return Ok(None);
        }
        Self::from_vars(get).map(Some)
    }

    /// Like [`OtelConfig::from_env`] with variables looked up by `get`
    /// (tests pass a map instead of touching the process environment).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut c = Self::default();
        if let Some(base) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            check_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?;
            c = c.endpoint(&base);
        }
        if let Some(url) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            check_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?;
            c.traces_endpoint = url.trim().to_owned();
        }
        if let Some(url) = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            check_url("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &url)?;
            c.metrics_endpoint = Some(url.trim().to_owned());
        }
        if get("OTEL_METRICS_EXPORTER").is_some_and(|v| v.trim() == "none") {
            c.metrics_endpoint = None;
        }
        if let Some(p) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            c.protocol = Protocol::parse(&p).ok_or(ConfigError::Protocol {
                var: "OTEL_EXPORTER_OTLP_PROTOCOL",
                value: p,
            })?;
        }
        if let Some(h) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            c.headers = parse_key_values("OTEL_EXPORTER_OTLP_HEADERS", &h)?;
            check_headers("OTEL_EXPORTER_OTLP_HEADERS", &c.headers)?;
        }
        if let Some(ms) = get("OTEL_EXPORTER_OTLP_TIMEOUT") {
            c.timeout = Duration::from_millis(parse_num("OTEL_EXPORTER_OTLP_TIMEOUT", &ms)?);
        }
        if let Some(attrs) = get("OTEL_RESOURCE_ATTRIBUTES") {
            let mut attrs = parse_key_values("OTEL_RESOURCE_ATTRIBUTES", &attrs)?;
            if let Some(pos) = attrs.iter().position(|(k, _)| k == "service.name") {
                c.service_name = attrs.remove(pos).1;
            }
            c.resource_attributes = attrs;
        }
        if let Some(name) = get("OTEL_SERVICE_NAME") {
            c.service_name = name.trim().to_owned();
        }
        if let Some(ms) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            c.metrics_interval =
                Duration::from_millis(parse_positive("OTEL_METRIC_EXPORT_INTERVAL", &ms)?);
        }
        if let Some(n) = get("OTEL_BSP_MAX_QUEUE_SIZE") {
            c.queue_capacity = to_usize(parse_positive("OTEL_BSP_MAX_QUEUE_SIZE", &n)?);
        }
        if let Some(n) = get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            c.max_batch = to_usize(parse_positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &n)?);
        }
        if let Some(name) = get("OTEL_TRACES_SAMPLER") {
            c.sampler = Sampler::parse(&name, get("OTEL_TRACES_SAMPLER_ARG").as_deref())?;
        }
        if let Some(ms) = get("OTEL_BSP_SCHEDULE_DELAY") {
            c.batch_delay = Duration::from_millis(parse_num("OTEL_BSP_SCHEDULE_DELAY", &ms)?);
        }
        Ok(c)
    }

    /// Sets both signal URLs from an OTLP/HTTP base (`http://host:4318`).
    pub fn endpoint(mut self, base: &str) -> Self {
        self.traces_endpoint = signal_url(base, "traces");
        if self.metrics_endpoint.is_some() {
            self.metrics_endpoint = Some(signal_url(base, "metrics"));
        }
        self
    }

    /// Sets the full traces URL.
    pub fn traces_endpoint(mut self, url: &str) -> Self {
        self.traces_endpoint = url.to_owned();
        self
    }

    /// Sets the full metrics URL, or turns metrics off with `None`.
    pub fn metrics_endpoint(mut self, url: Option<&str>) -> Self {
        self.metrics_endpoint = url.map(str::to_owned);
        self
    }

    /// Sets the body encoding.
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = p;
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the per-request timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets `service.name`.
    pub fn service_name(mut self, name: &str) -> Self {
        self.service_name = name.to_owned();
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: &str, value: &str) -> Self {
        self.resource_attributes
            .push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets the runtime's wall-clock start (µs since the Unix epoch; the
    /// debug channel's `hello.started_unix_us`).
    pub fn started_unix_us(mut self, us: u64) -> Self {
        self.started_unix_us = Some(us);
        self
    }

    /// Sets the queue capacity in records.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Sets the largest batch in spans.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }

    /// Sets the longest wait before a partial batch is sent.
    pub fn batch_delay(mut self, d: Duration) -> Self {
        self.batch_delay = d;
        self
    }

    /// Sets how long action spans wait for their diff records.
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// Sets the metrics interval.
    pub fn metrics_interval(mut self, d: Duration) -> Self {
        self.metrics_interval = d;
        self
    }

    /// Sets the retry rules.
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// Sets the shutdown timeout.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Sets the string attribute cap in bytes.
    pub fn max_attribute_len(mut self, n: usize) -> Self {
        self.max_attribute_len = n;
        self
    }

    /// Whether redacted args, results and props go into spans.
    pub fn record_values(mut self, on: bool) -> Self {
        self.record_values = on;
        self
    }

    /// Sets the sampler.
    pub fn sampler(mut self, s: Sampler) -> Self {
        self.sampler = s;
        self
    }

    /// Checks the settings a builder may have got wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("traces_endpoint", &self.traces_endpoint)?;
        if let Some(m) = &self.metrics_endpoint {
            check_url("metrics_endpoint", m)?;
        }
        check_headers("headers", &self.headers)?;
        for (var, n) in [
            ("queue_capacity", self.queue_capacity),
            ("max_batch", self.max_batch),
        ] {
            if n == 0 {
                return Err(ConfigError::Number {
                    var,
                    value: "0".into(),
                    expected: "a positive integer",
                });
            }
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::Number {
                var: "timeout",
                value: "0".into(),
                expected: "a positive duration",
            });
        }
        Ok(())
    }
}

fn check_url(var: &'static str, url: &str) -> Result<(), ConfigError> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://") {
        if rest.is_empty() {
            return Err(ConfigError::Endpoint {
                var,
                value: url.to_owned(),
            });
        }
        if !cfg!(feature = "tls") {
            return Err(ConfigError::TlsDisabled {
                var,
                value: url.to_owned(),
            });
        }
        return Ok(());
    }
    match lower.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err(ConfigError::Endpoint {
            var,
            value: url.to_owned(),
        }),
    }
}

fn check_headers(var: &'static str, headers: &[(String, String)]) -> Result<(), ConfigError> {
    // RFC 9110 token characters for names; values must not break the header line.
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    for (name, value) in headers {
        let name_ok = !name.is_empty() && name.bytes().all(token);
        let value_ok = value
            .bytes()
            .all(|c| c == b'\t' || (c >= 0x20 && c != 0x7f));
        if !name_ok || !value_ok {
            return Err(ConfigError::Header {
                var,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

fn parse_num(var: &'static str, s: &str) -> Result<u64, ConfigError> {
    s.trim().parse().map_err(|_| ConfigError::Number {
        var,
        value: s.to_owned(),
        expected: "a whole number",
    })
}

fn parse_positive(var: &'static str, s: &str) -> Result<u64, ConfigError> {
    match parse_num(var, s)? {
        0 => Err(ConfigError::Number {
            var,
            value: s.to_owned(),
            expected: "a positive whole number",
        }),
        n => Ok(n),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Parses the W3C-baggage-like `key=value,key2=value2` lists of
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`; keys and
/// values are percent-decoded and trimmed.
pub(crate) fn parse_key_values(
    var: &'static str,
    s: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for entry in s.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        let bad = || ConfigError::KeyValue {
            var,
            entry: entry.to_owned(),
        };
        let (k, v) = entry.split_once('=').ok_or_else(bad)?;
        let k = percent_decode(k.trim()).ok_or_else(bad)?;
        let v = percent_decode(v.trim()).ok_or_else(bad)?;
        if k.is_empty() {
            return Err(bad());
        }
        out.push((k, v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<OtelConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtelConfig::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_otlp_spec() {
        let c = from(&[]).expect("defaults are valid");
        assert_eq!(c.traces_endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(
            c.metrics_endpoint.as_deref(),
            Some("http://localhost:4318/v1/metrics")
        );
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.service_name, "fluxlive");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn base_endpoint_gets_signal_paths_and_specific_ones_win() {
        let c = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://tempo:4318/custom/traces",
            ),
        ])
        .expect("valid");
        assert_eq!(c.traces_endpoint, "http://tempo:4318/custom/traces");
        assert_eq!(
            c.metrics_endpoint.as_deref(),
            Some("http://collector:4318/v1/metrics")
        );
    }

    #[test]
    fn reads_protocol_headers_timeout_service_and_resource() {
        let c = from(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s%3Dcret, x-tenant = acme ,",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod%20eu",
            ),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .expect("valid");
        assert_eq!(c.protocol, Protocol::HttpJson);
        assert_eq!(
            c.headers,
            vec![
                ("api-key".into(), "s=cret".into()),
                ("x-tenant".into(), "acme".into())
            ]
        );
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.service_name, "from-attrs");
        assert_eq!(
            c.resource_attributes,
            vec![("deployment.environment".into(), "prod eu".into())]
        );
        assert_eq!(c.metrics_endpoint, None);
        let c = from(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "wins"),
        ])
        .expect("valid");
        assert_eq!(c.service_name, "wins");
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let e = from(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect_err("grpc refused");
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{e}");
        let e = from(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]).expect_err("units refused");
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{e}");
        let e = from(&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]).expect_err("no =");
        assert!(matches!(e, ConfigError::KeyValue { .. }));
        let e = from(&[("OTEL_EXPORTER_OTLP_HEADERS", "bad name=x")]).expect_err("space in name");
        assert!(matches!(e, ConfigError::Header { .. }));
        let e = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).expect_err("no scheme");
        assert!(matches!(e, ConfigError::Endpoint { .. }));
        let e = from(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]).expect_err("zero queue");
        assert!(matches!(e, ConfigError::Number { .. }));
    }

    #[test]
    fn export_is_wanted_only_when_an_endpoint_is_set() {
        let wanted = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            OtelConfig::from_vars_if_configured(|k| map.get(k).cloned())
        };
        assert_eq!(wanted(&[]), Ok(None));
        assert_eq!(wanted(&[("OTEL_SERVICE_NAME", "x")]), Ok(None));
        assert_eq!(wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
        let c = wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).expect("valid");
        assert_eq!(
            c.map(|c| c.traces_endpoint).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert!(wanted(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces"
        )])
        .expect("valid")
        .is_some());
        assert_eq!(
            wanted(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "TRUE")
            ]),
            Ok(None)
        );
        assert!(wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")]).is_err());
    }

    #[test]
    fn reads_the_sampler() {
        let c = from(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ])
        .expect("valid");
        assert_eq!(c.sampler, Sampler::ParentBasedTraceIdRatio(0.25));
        assert_eq!(
            from(&[]).expect("valid").sampler,
            Sampler::ParentBasedAlwaysOn
        );
        let e = from(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]);
        assert!(e
            .expect_err("ratio > 1")
            .to_string()
            .contains("OTEL_TRACES_SAMPLER_ARG"));
        assert!(from(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).is_err());
    }

    #[test]
    fn samplers_decide_by_trace_id_and_browser_flags() {
        let low = [0u8; 16];
        let high = [0xffu8; 16];
        assert!(
            Sampler::TraceIdRatio(0.5).keep(&low, Some(0)),
            "ratio ignores the browser"
        );
        assert!(!Sampler::TraceIdRatio(0.5).keep(&high, Some(1)));
        assert!(
            !Sampler::ParentBasedTraceIdRatio(0.5).keep(&low, Some(0)),
            "browser said no"
        );
        assert!(
            Sampler::ParentBasedTraceIdRatio(0.5).keep(&high, Some(1)),
            "browser said yes"
        );
        assert!(Sampler::ParentBasedTraceIdRatio(0.5).keep(&low, None));
        assert!(!Sampler::ParentBasedTraceIdRatio(0.5).keep(&high, None));
        assert!(!Sampler::AlwaysOff.keep(&low, Some(1)));
        assert!(Sampler::AlwaysOn.keep(&high, Some(0)));
        assert!(!Sampler::ParentBasedAlwaysOn.keep(&low, Some(0)));
        assert!(!Sampler::ParentBasedAlwaysOff.keep(&low, None));
        // About the asked share of many ids.
        let kept = (0u64..10_000)
            .filter(|i| {
                let mut t = [0u8; 16];
                t[8..].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
                Sampler::TraceIdRatio(0.3).keep(&t, None)
            })
            .count();
        assert!((2_700..3_300).contains(&kept), "{kept}");
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let r = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]);
        assert_eq!(r.is_ok(), cfg!(feature = "tls"));
    }

    #[test]
    fn debug_hides_header_values() {
        let c = OtelConfig::default().header("authorization", "Bearer hunter2");
        let text = format!("{c:?}");
        assert!(text.contains("authorization"));
        assert!(!text.contains("hunter2"));
    }
}
