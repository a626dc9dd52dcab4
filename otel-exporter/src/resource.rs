//! The OTLP resource (who sends) and instrumentation scope (what produced
//! the telemetry).

use crate::config::OtelConfig;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Name of the instrumentation scope and of `telemetry.sdk.name`.
pub(crate) const SCOPE_NAME: &str = "fluxlive";
/// Longest resource attribute value kept.
const MAX_RESOURCE_VALUE: usize = 256;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(crate::attrs::cap(
                value,
                MAX_RESOURCE_VALUE,
            ))),
        }),
        key_strindex: 0,
    }
}

/// Resource with `service.name`, `telemetry.sdk.*` and the extra attributes.
pub(crate) fn resource(service_name: &str, extra: &[(String, String)]) -> Resource {
    let mut attributes = vec![
        kv("service.name", service_name),
        kv("telemetry.sdk.name", "fluxlive-otel"),
        kv("telemetry.sdk.language", "rust"),
        kv("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    for (k, v) in extra {
        // Our own keys win over a user's attempt to override them.
        if !attributes.iter().any(|a| &a.key == k) {
            attributes.push(kv(k, v));
        }
    }
    Resource {
        attributes,
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

pub(crate) fn resource_for(config: &OtelConfig) -> Resource {
    resource(&config.service_name, &config.resource_attributes)
}

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}
