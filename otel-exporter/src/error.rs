//! Errors of the exporter's entry points.

use std::time::Duration;

/// Why the exporter could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is not usable.
    #[error("invalid OpenTelemetry exporter configuration: {0}")]
    Config(#[from] ConfigError),
    /// The background export thread could not be spawned.
    #[error("could not start the OpenTelemetry export thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// `shutdown` or `flush` gave up waiting for the export thread.
    #[error("OpenTelemetry exporter did not finish within {0:?}; pending spans may be lost")]
    Timeout(Duration),
    /// The exporter was already shut down.
    #[error("OpenTelemetry exporter is shut down")]
    Closed,
}

/// A configuration value that cannot be used; names the variable or setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The OTLP protocol is not one this exporter speaks.
    #[error("{var}: unsupported protocol {value:?} (expected \"http/protobuf\" or \"http/json\"; gRPC is not supported)")]
    Protocol {
        /// Variable or setting name.
        var: &'static str,
        /// The value given.
        value: String,
    },
    /// An endpoint is not an http(s) URL.
    #[error("{var}: endpoint {value:?} must be an http:// or https:// URL")]
    Endpoint {
        /// Variable or setting name.
        var: &'static str,
        /// The value given.
        value: String,
    },
    /// An https endpoint without the `tls` cargo feature.
    #[error("{var}: endpoint {value:?} needs TLS: build fluxlive-otel with the `tls` feature")]
    TlsDisabled {
        /// Variable or setting name.
        var: &'static str,
        /// The value given.
        value: String,
    },
    /// A number could not be parsed.
    #[error("{var}: {value:?} is not a valid number ({expected})")]
    Number {
        /// Variable or setting name.
        var: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A `key=value,...` list has a bad entry.
    #[error("{var}: bad entry {entry:?}: expected key=value with a non-empty key")]
    KeyValue {
        /// Variable or setting name.
        var: &'static str,
        /// The offending entry.
        entry: String,
    },
    /// An unknown `OTEL_TRACES_SAMPLER`.
    #[error("OTEL_TRACES_SAMPLER: unsupported sampler {value:?} (expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)")]
    Sampler {
        /// The value given.
        value: String,
    },
    /// A header name or value is not valid in HTTP.
    #[error("{var}: header {name:?} is not a valid HTTP header name or value")]
    Header {
        /// Variable or setting name.
        var: &'static str,
        /// The header name.
        name: String,
    },
}
