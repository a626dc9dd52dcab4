//! OTLP/JSON files from recorded sessions: the body of an
//! `ExportTraceServiceRequest` a collector accepts as is
//! (`curl -X POST -H 'Content-Type: application/json' --data @trace.json http://collector:4318/v1/traces`).

use crate::config::{Sampler, DEFAULT_SERVICE_NAME};
use crate::ids::IdGen;
use crate::resource;
use crate::spans::{MapOptions, SpanMapper};
use fluxlive_protocol::record::Record;
use fluxlive_protocol::session::Session;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

/// How a file export names its resource and sizes its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct FileExportOptions {
    /// Resource `service.name`.
    pub service_name: String,
    /// Further resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// Longest string attribute in bytes.
    pub max_attribute_len: usize,
    /// Whether redacted args, results and props go into spans.
    pub record_values: bool,
    /// Which traces are exported (default: as the browser decided).
    pub sampler: Sampler,
}

impl Default for FileExportOptions {
    fn default() -> Self {
        Self {
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            resource_attributes: Vec::new(),
            max_attribute_len: 512,
            record_values: true,
            sampler: Sampler::default(),
        }
    }
}

/// The spans of `records` as one request. Ids not named by the records are
/// derived from `started_unix_us`, so the same session always gives the
/// same file.
pub fn records_to_otlp_request(
    records: &[Record],
    started_unix_us: u64,
    opts: &FileExportOptions,
) -> ExportTraceServiceRequest {
    let mut mapper = SpanMapper::new(
        started_unix_us,
        IdGen::new(started_unix_us),
        MapOptions {
            max_attr_len: opts.max_attribute_len,
            record_values: opts.record_values,
            sampler: opts.sampler,
        },
    );
    let mut spans = Vec::with_capacity(records.len());
    for r in records {
        mapper.push(r, &mut spans);
    }
    mapper.drain(&mut spans);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource::resource(
                &opts.service_name,
                &opts.resource_attributes,
            )),
            scope_spans: vec![ScopeSpans {
                scope: Some(resource::scope()),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// OTLP/JSON text of [`records_to_otlp_request`].
pub fn records_to_otlp_json_with(
    records: &[Record],
    started_unix_us: u64,
    opts: &FileExportOptions,
) -> String {
    let req = records_to_otlp_request(records, started_unix_us, opts);
    match serde_json::to_string(&req) {
        Ok(s) => s,
        Err(e) => {
            // The request holds strings and integers only; keep the contract
            // of returning a body a collector accepts.
            tracing::error!(target: "fluxlive_otel", error = %e, "could not encode OTLP/JSON");
            r#"{"resourceSpans":[]}"#.to_owned()
        }
    }
}

/// OTLP/JSON text for `records` with default options.
pub fn records_to_otlp_json(records: &[Record], started_unix_us: u64) -> String {
    records_to_otlp_json_with(records, started_unix_us, &FileExportOptions::default())
}

/// OTLP/JSON text for a parsed session file.
pub fn session_to_otlp_json(session: &Session) -> String {
    records_to_otlp_json(&session.records, session.header.started_unix_us)
}
