//! Spans built from realistic records reach a real OTLP/HTTP receiver, in
//! both encodings, with the right tree, attributes and statuses.
#![allow(clippy::unwrap_used)]

mod common;

use common::records::{assert_no_secret, check_scenario, scenario, SCENARIO_SPANS, STARTED};
use common::{Receiver, Reply};
use fluxlive_otel::{OtelConfig, OtelExporter, Protocol};
use std::time::Duration;

fn config(rx: &Receiver, protocol: Protocol) -> OtelConfig {
    OtelConfig::default()
        .endpoint(&rx.base)
        .protocol(protocol)
        .metrics_endpoint(None)
        .started_unix_us(STARTED)
        .batch_delay(Duration::from_millis(20))
        .linger(Duration::from_millis(20))
        .timeout(Duration::from_secs(5))
        .header("x-api-key", "k-123")
        .service_name("shop")
}

fn export_scenario(protocol: Protocol) {
    let rx = Receiver::start(Reply::Ok);
    let exporter = OtelExporter::start(config(&rx, protocol)).unwrap();
    exporter.offer(&scenario());
    exporter.flush(Duration::from_secs(10)).unwrap();

    let spans = rx.delivered_spans();
    check_scenario(&spans);
    let received = rx.received();
    let expected_type = match protocol {
        Protocol::HttpProtobuf => "application/x-protobuf",
        Protocol::HttpJson => "application/json",
    };
    for r in &received {
        assert_eq!(r.content_type, expected_type);
        assert_eq!(r.headers.get("x-api-key").unwrap(), "k-123");
        assert_no_secret(&r.body);
        let res = r.traces.as_ref().unwrap().resource_spans[0]
            .resource
            .clone()
            .unwrap();
        let service = res
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .unwrap();
        assert_eq!(
            format!("{:?}", service.value),
            format!("{:?}", Some(string_value("shop")))
        );
        assert!(res
            .attributes
            .iter()
            .any(|kv| kv.key == "telemetry.sdk.language"));
    }
    let stats = exporter.stats();
    assert_eq!(stats.records_offered, scenario().len() as u64);
    assert_eq!(stats.records_dropped, 0);
    assert_eq!(stats.spans_exported, SCENARIO_SPANS as u64);
    assert_eq!(stats.spans_dropped, 0);
    assert_eq!(stats.batches_failed, 0);
    exporter.shutdown().unwrap();
}

fn string_value(s: &str) -> fluxlive_otel::proto::common::v1::AnyValue {
    fluxlive_otel::proto::common::v1::AnyValue {
        value: Some(fluxlive_otel::proto::common::v1::any_value::Value::StringValue(s.into())),
    }
}

#[test]
fn scenario_reaches_the_receiver_as_protobuf() {
    export_scenario(Protocol::HttpProtobuf);
}

#[test]
fn scenario_reaches_the_receiver_as_json() {
    export_scenario(Protocol::HttpJson);
}

#[test]
fn records_split_across_offers_still_join() {
    // The runtime hands records over in batches as they are drained: a diff
    // may arrive in a later batch than its action.
    let rx = Receiver::start(Reply::Ok);
    let exporter =
        OtelExporter::start(config(&rx, Protocol::HttpProtobuf).linger(Duration::from_secs(30)))
            .unwrap();
    for r in scenario() {
        exporter.offer(std::slice::from_ref(&r));
    }
    exporter.flush(Duration::from_secs(10)).unwrap();
    check_scenario(&rx.delivered_spans());
}

#[test]
fn batches_respect_max_batch() {
    let rx = Receiver::start(Reply::Ok);
    let exporter = OtelExporter::start(config(&rx, Protocol::HttpProtobuf).max_batch(3)).unwrap();
    exporter.offer(&scenario());
    exporter.flush(Duration::from_secs(10)).unwrap();
    let sizes: Vec<usize> = rx
        .received()
        .iter()
        .map(|r| {
            r.traces.as_ref().unwrap().resource_spans[0].scope_spans[0]
                .spans
                .len()
        })
        .collect();
    assert!(sizes.iter().all(|&n| n <= 3), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), SCENARIO_SPANS);
    assert_eq!(exporter.stats().batches_exported, sizes.len() as u64);
}

#[test]
fn spans_are_sent_without_an_explicit_flush() {
    let rx = Receiver::start(Reply::Ok);
    let exporter = OtelExporter::start(config(&rx, Protocol::HttpProtobuf)).unwrap();
    exporter.offer(&scenario());
    common::wait_for("all spans", Duration::from_secs(10), || {
        rx.delivered_spans().len() == SCENARIO_SPANS
    });
    check_scenario(&rx.delivered_spans());
}

#[test]
fn shutdown_sends_what_was_offered_and_later_offers_are_dropped() {
    let rx = Receiver::start(Reply::Ok);
    let exporter = OtelExporter::start(
        config(&rx, Protocol::HttpProtobuf).batch_delay(Duration::from_secs(60)),
    )
    .unwrap();
    exporter.offer(&scenario());
    exporter.shutdown().unwrap();
    check_scenario(&rx.delivered_spans());
    exporter.offer(&scenario());
    let stats = exporter.stats();
    assert_eq!(stats.records_dropped, scenario().len() as u64);
    assert!(matches!(
        exporter.shutdown(),
        Err(fluxlive_otel::Error::Closed)
    ));
    assert!(matches!(
        exporter.flush(Duration::from_secs(1)),
        Err(fluxlive_otel::Error::Closed)
    ));
}

#[test]
fn record_values_off_keeps_args_out() {
    let rx = Receiver::start(Reply::Ok);
    let exporter =
        OtelExporter::start(config(&rx, Protocol::HttpProtobuf).record_values(false)).unwrap();
    exporter.offer(&scenario());
    exporter.flush(Duration::from_secs(10)).unwrap();
    let spans = rx.delivered_spans();
    assert_eq!(spans.len(), SCENARIO_SPANS);
    for s in &spans {
        for key in [
            fluxlive_otel::attrs::keys::ACTION_ARGS,
            fluxlive_otel::attrs::keys::ACTION_RESULT,
            fluxlive_otel::attrs::keys::PROPS,
        ] {
            assert!(common::attr(s, key).is_none(), "{} has {key}", s.name);
        }
    }
}

#[test]
fn long_values_are_capped() {
    use fluxlive_protocol::record::{ActionRecord, CallSource, Outcome, Record, RecordBody};
    let rx = Receiver::start(Reply::Ok);
    let exporter =
        OtelExporter::start(config(&rx, Protocol::HttpProtobuf).max_attribute_len(32)).unwrap();
    let long = "x".repeat(10_000);
    exporter.offer(&[Record {
        seq: 1,
        ts_us: 5,
        conn: 0,
        instance: None,
        body: RecordBody::Action(ActionRecord {
            method: long.clone(),
            args: serde_json::json!([long.clone()]),
            args_truncated: true,
            dur_us: 1,
            outcome: Outcome::Err {
                code: fluxlive_protocol::ErrorCode::ActionFailed,
                message: long.clone(),
            },
            version_before: 1,
            version_after: 1,
            trace: None,
            source: CallSource::Debug,
        }),
    }]);
    exporter.flush(Duration::from_secs(10)).unwrap();
    let spans = rx.delivered_spans();
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert!(s.name.len() <= 32 + 3, "{}", s.name.len());
    assert!(common::attr_str(s, fluxlive_otel::attrs::keys::ACTION_ARGS).len() <= 35);
    assert!(s.status.as_ref().unwrap().message.len() <= 35);
    assert_eq!(
        common::attr_str(s, fluxlive_otel::attrs::keys::ACTION_SOURCE),
        "debug"
    );
    // No trace context: the span gets ids of its own and no parent.
    assert_eq!(s.trace_id.len(), 16);
    assert!(s.parent_span_id.is_empty());
}

#[test]
fn samplers_choose_whole_traces() {
    use fluxlive_otel::Sampler;
    // Browser-traced calls follow the browser (sampled); server-started
    // traces (connection, lifecycle) fall to the 0 ratio.
    let rx = Receiver::start(Reply::Ok);
    let exporter = OtelExporter::start(
        config(&rx, Protocol::HttpProtobuf).sampler(Sampler::ParentBasedTraceIdRatio(0.0)),
    )
    .unwrap();
    exporter.offer(&scenario());
    exporter.flush(Duration::from_secs(10)).unwrap();
    let mut names: Vec<String> = rx.delivered_spans().into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Counter.explode",
            "Counter.increment",
            "TodoList.add",
            "call Counter.increment",
            "render Counter"
        ]
    );

    let rx = Receiver::start(Reply::Ok);
    let exporter =
        OtelExporter::start(config(&rx, Protocol::HttpProtobuf).sampler(Sampler::AlwaysOff))
            .unwrap();
    exporter.offer(&scenario());
    exporter.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(rx.trace_hits(), 0);
    assert_eq!(exporter.stats().spans_exported, 0);
}

#[test]
fn huge_durations_do_not_overflow() {
    // "Never" written as Duration::MAX must not panic on Instant arithmetic.
    let rx = Receiver::start(Reply::Ok);
    let exporter = OtelExporter::start(
        config(&rx, Protocol::HttpProtobuf)
            .endpoint(&rx.base)
            .metrics_interval(Duration::MAX)
            .batch_delay(Duration::MAX)
            .linger(Duration::MAX)
            .shutdown_timeout(Duration::from_secs(10)),
    )
    .unwrap();
    exporter.offer(&scenario());
    exporter.flush(Duration::MAX).unwrap();
    check_scenario(&rx.delivered_spans());
    exporter.shutdown().unwrap();
}
