//! Metrics reach `/v1/metrics`: duration histograms, live gauges and record
//! counters computed from the scenario.
#![allow(clippy::unwrap_used)]

mod common;

use common::records::{scenario, STARTED};
use common::{wait_for, Receiver, Reply};
use fluxlive_otel::metrics::names;
use fluxlive_otel::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use fluxlive_otel::proto::common::v1::any_value::Value;
use fluxlive_otel::proto::common::v1::KeyValue;
use fluxlive_otel::proto::metrics::v1::{metric::Data, number_data_point, Metric};
use fluxlive_otel::{OtelConfig, OtelExporter, Protocol};
use std::time::Duration;

fn metric<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn has(attrs: &[KeyValue], key: &str, value: &str) -> bool {
    attrs.iter().any(|kv| {
        kv.key == key && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if s == value)
    })
}

fn sum_value(m: &Metric, site: Option<&str>) -> i64 {
    let Some(Data::Sum(s)) = &m.data else {
        panic!("{} is not a sum", m.name)
    };
    let p = s
        .data_points
        .iter()
        .find(|p| site.is_none_or(|site| has(&p.attributes, "fluxlive.drop.site", site)))
        .unwrap_or_else(|| panic!("{}: no point for {site:?}", m.name));
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i,
        other => panic!("{other:?}"),
    }
}

fn check(req: &ExportMetricsServiceRequest) {
    let Some(Data::Histogram(h)) = &metric(req, names::ACTION_DURATION).data else {
        panic!("not a histogram")
    };
    let point = |action: &str, outcome: &str| {
        h.data_points
            .iter()
            .find(|p| {
                has(&p.attributes, "fluxlive.action", action)
                    && has(&p.attributes, "fluxlive.outcome", outcome)
            })
            .unwrap_or_else(|| panic!("no point for {action}/{outcome}"))
    };
    let inc = point("increment", "ok");
    assert_eq!(inc.count, 1);
    assert!(has(&inc.attributes, "fluxlive.component.type", "Counter"));
    assert!((inc.sum.unwrap() - 40e-6).abs() < 1e-9, "40 µs in seconds");
    assert_eq!(inc.bucket_counts.len(), inc.explicit_bounds.len() + 1);
    assert_eq!(inc.bucket_counts.iter().sum::<u64>(), 1);
    assert_eq!(point("explode", "action_panicked").count, 1);
    assert_eq!(point("add", "action_failed").count, 1);

    let Some(Data::Histogram(r)) = &metric(req, names::RENDER_DURATION).data else {
        panic!("not a histogram")
    };
    assert_eq!(r.data_points.len(), 1);
    assert_eq!(r.data_points[0].count, 1);
    assert!(
        (r.data_points[0].sum.unwrap() - 450e-6).abs() < 1e-9,
        "apply + render"
    );

    // Two mounts, one unmount; the connection opened and closed.
    assert_eq!(sum_value(metric(req, names::INSTANCES), None), 1);
    assert_eq!(sum_value(metric(req, names::CONNECTIONS), None), 0);
    assert_eq!(
        sum_value(metric(req, names::RECORDS_RECORDED), None),
        scenario().len() as i64
    );
    let dropped = metric(req, names::RECORDS_DROPPED);
    assert_eq!(sum_value(dropped, Some("ring")), 5);
    assert_eq!(sum_value(dropped, Some("exporter")), 0);
    let Some(Data::Sum(s)) = &dropped.data else {
        unreachable!()
    };
    assert!(s.is_monotonic);
}

fn config(rx: &Receiver) -> OtelConfig {
    OtelConfig::default()
        .endpoint(&rx.base)
        .started_unix_us(STARTED)
        .metrics_interval(Duration::from_secs(3600))
        .batch_delay(Duration::from_millis(10))
}

#[test]
fn metrics_are_exported_on_flush_in_both_encodings() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let rx = Receiver::start(Reply::Ok);
        let e = OtelExporter::start(config(&rx).protocol(protocol)).unwrap();
        e.offer(&scenario());
        e.flush(Duration::from_secs(10)).unwrap();
        let m = rx.metrics();
        assert_eq!(m.len(), 1, "{protocol:?}");
        check(&m[0]);
        assert_eq!(e.stats().metric_exports, 1);
    }
}

#[test]
fn metrics_are_exported_periodically() {
    let rx = Receiver::start(Reply::Ok);
    let e = OtelExporter::start(config(&rx).metrics_interval(Duration::from_millis(20))).unwrap();
    e.offer(&scenario());
    wait_for(
        "two periodic metric exports",
        Duration::from_secs(10),
        || rx.metrics().len() >= 2,
    );
    // Cumulative: the latest export carries the totals.
    wait_for("totals", Duration::from_secs(10), || {
        rx.metrics().last().is_some_and(|m| {
            sum_value(metric(m, names::RECORDS_RECORDED), None) == scenario().len() as i64
        })
    });
    check(rx.metrics().last().unwrap());
}

#[test]
fn exporter_drops_show_in_the_dropped_counter() {
    let rx = Receiver::start(Reply::Ok);
    let e = OtelExporter::start(config(&rx).queue_capacity(4)).unwrap();
    // 18 records into a queue of 4: at least 14 are refused at once.
    e.offer(&scenario());
    e.flush(Duration::from_secs(10)).unwrap();
    let s = e.stats();
    assert!(s.records_dropped >= 14, "{s:?}");
    let m = rx.metrics();
    let last = m.last().unwrap();
    assert_eq!(
        sum_value(metric(last, names::RECORDS_DROPPED), Some("exporter")),
        s.records_dropped as i64
    );
}
