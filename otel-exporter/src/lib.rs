//! OpenTelemetry export of fluxlive records.
//!
//! The runtime feeds batches of recorded [`Record`](fluxlive_protocol::record::Record)s
//! to an [`OtelExporter`], which turns them into spans (one trace per user
//! action: browser call → server action → browser render) and metrics, and
//! sends them to an OTLP/HTTP collector from its own thread without ever
//! blocking the caller. [`session_to_otlp_json`] turns a recorded session
//! file into an OTLP/JSON request body instead.
//!
//! The mapping, configuration and delivery rules are described in
//! `docs/otel.md`.
//!
//! | module | holds |
//! |---|---|
//! | [`attach()`] | live export of a `Recorder`'s records, in one call |
//! | [`config`] | [`OtelConfig`] from `OTEL_*` variables or builder methods |
//! | [`exporter`] | [`OtelExporter`], [`ExportStats`], the queue and export thread |
//! | [`mod@file`] | OTLP/JSON files from sessions |
//! | [`attrs`] | attribute names |
//! | [`metrics`] | metric names |

mod attach;
pub mod attrs;
pub mod config;
mod error;
pub mod exporter;
pub mod file;
mod ids;
pub mod metrics;
mod resource;
mod spans;
mod transport;

pub use attach::{attach, attach_from_env, Attached};
pub use config::{OtelConfig, Protocol, RetryPolicy, Sampler};
pub use error::{ConfigError, Error};
pub use exporter::{DropCallback, ExportStats, OtelExporter};
pub use file::{
    records_to_otlp_json, records_to_otlp_json_with, records_to_otlp_request, session_to_otlp_json,
    FileExportOptions,
};
/// The official OTLP message types this crate produces (re-exported so that
/// callers and tests decode with the same definitions).
pub use opentelemetry_proto::tonic as proto;
