//! Metrics aggregated from records: action and render duration histograms,
//! live instance and connection counts, recorded and dropped record counters.
//! Cumulative temporality: every export carries totals since the exporter
//! started, so a lost export loses nothing but freshness.

use crate::attrs::{keys, Attrs};
use fluxlive_protocol::record::{DropSite, Outcome, Record, RecordBody};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::{BTreeMap, HashMap};

/// Metric names.
pub mod names {
    /// Histogram of action durations, seconds.
    pub const ACTION_DURATION: &str = "fluxlive.action.duration";
    /// Histogram of browser render durations (patch apply + render callbacks), seconds.
    pub const RENDER_DURATION: &str = "fluxlive.render.duration";
    /// Mounted instances (up-down counter).
    pub const INSTANCES: &str = "fluxlive.instances.live";
    /// Open connections (up-down counter).
    pub const CONNECTIONS: &str = "fluxlive.connections.live";
    /// Records the recorder produced and offered to the exporter.
    pub const RECORDS_RECORDED: &str = "fluxlive.records.recorded";
    /// Records lost, by site.
    pub const RECORDS_DROPPED: &str = "fluxlive.records.dropped";
}

/// Histogram bucket bounds in seconds: 5 µs to 10 s, because actions are
/// microseconds and renders milliseconds.
const BOUNDS_S: [f64; 20] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Attribute sets per histogram before new ones fold into an overflow series.
const MAX_SERIES: usize = 2_000;
/// Longest attribute value in metrics (they are low-cardinality names).
const MAX_METRIC_ATTR: usize = 128;

#[derive(Debug, Clone)]
struct Hist {
    counts: [u64; BOUNDS_S.len() + 1],
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
}

impl Default for Hist {
    fn default() -> Self {
        Self {
            counts: [0; BOUNDS_S.len() + 1],
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Hist {
    fn record(&mut self, v: f64) {
        let i = BOUNDS_S
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(BOUNDS_S.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// Histograms keyed by attribute values, bounded in series count.
#[derive(Debug, Default)]
struct Series {
    by_key: HashMap<Vec<String>, Hist>,
    overflow: Hist,
}

impl Series {
    fn record(&mut self, key: Vec<String>, v: f64) {
        if let Some(h) = self.by_key.get_mut(&key) {
            h.record(v);
        } else if self.by_key.len() < MAX_SERIES {
            self.by_key.entry(key).or_default().record(v);
        } else {
            self.overflow.record(v);
        }
    }
}

/// Running totals; see the module docs.
#[derive(Debug)]
pub(crate) struct MetricsAgg {
    start_ns: u64,
    actions: Series,
    renders: Series,
    instances: i64,
    connections: i64,
    /// Drops reported by `Dropped` records, by site.
    dropped: BTreeMap<String, u64>,
}

impl MetricsAgg {
    pub(crate) fn new(start_ns: u64) -> Self {
        Self {
            start_ns,
            actions: Series::default(),
            renders: Series::default(),
            instances: 0,
            connections: 0,
            dropped: BTreeMap::new(),
        }
    }

    pub(crate) fn observe(&mut self, rec: &Record) {
        let component = || {
            rec.instance
                .as_ref()
                .map(|i| i.component.clone())
                .unwrap_or_default()
        };
        match &rec.body {
            RecordBody::Action(a) => {
                let outcome = match &a.outcome {
                    Outcome::Ok { .. } => "ok".to_owned(),
                    Outcome::Err { code, .. } => code.as_str().to_owned(),
                };
                self.actions.record(
                    vec![component(), a.method.clone(), outcome],
                    us_to_s(a.dur_us),
                );
            }
            RecordBody::Render(r) => {
                self.renders.record(
                    vec![component()],
                    us_to_s(r.apply_us.saturating_add(r.render_us)),
                );
            }
            RecordBody::Mount { .. } => self.instances += 1,
            RecordBody::Unmount { .. } => self.instances -= 1,
            RecordBody::ConnOpen { .. } => self.connections += 1,
            RecordBody::ConnClose { .. } => self.connections -= 1,
            // Our own drops are counted by the exporter directly; the runtime
            // may turn them into `Dropped{site: Exporter}` records that come
            // back here, which must not count twice.
            RecordBody::Dropped { count, site, .. } if *site != DropSite::Exporter => {
                *self.dropped.entry(drop_site(*site)).or_default() += count;
            }
            _ => {}
        }
    }

    /// The request for one export. `recorded` and `exporter_dropped` are the
    /// exporter's own totals.
    pub(crate) fn to_request(
        &self,
        resource: &Resource,
        scope: &InstrumentationScope,
        now_ns: u64,
        recorded: u64,
        exporter_dropped: u64,
    ) -> ExportMetricsServiceRequest {
        let start = self.start_ns;
        let action_attrs = |k: &[String]| {
            let mut a = Attrs::new(MAX_METRIC_ATTR);
            if let [component, action, outcome] = k {
                if !component.is_empty() {
                    a.str(keys::COMPONENT_TYPE, component);
                }
                a.str(keys::ACTION, action).str(keys::OUTCOME, outcome);
            }
            a.finish()
        };
        let render_attrs = |k: &[String]| {
            let mut a = Attrs::new(MAX_METRIC_ATTR);
            if let Some(c) = k.first().filter(|c| !c.is_empty()) {
                a.str(keys::COMPONENT_TYPE, c);
            }
            a.finish()
        };
        let mut drops: BTreeMap<String, u64> = self.dropped.clone();
        *drops.entry(drop_site(DropSite::Exporter)).or_default() += exporter_dropped;
        let drop_points = drops
            .into_iter()
            .map(|(site, n)| {
                let mut a = Attrs::new(MAX_METRIC_ATTR);
                a.str(keys::DROP_SITE, &site);
                int_point(a.finish(), start, now_ns, n)
            })
            .collect();
        let metrics = vec![
            histogram(
                names::ACTION_DURATION,
                "Duration of component actions on the server",
                &self.actions,
                action_attrs,
                start,
                now_ns,
            ),
            histogram(
                names::RENDER_DURATION,
                "Browser time to apply a patch and run render callbacks",
                &self.renders,
                render_attrs,
                start,
                now_ns,
            ),
            sum(
                names::INSTANCES,
                "Mounted component instances",
                "{instance}",
                false,
                vec![int_point(Vec::new(), start, now_ns, self.instances)],
            ),
            sum(
                names::CONNECTIONS,
                "Open live connections",
                "{connection}",
                false,
                vec![int_point(Vec::new(), start, now_ns, self.connections)],
            ),
            sum(
                names::RECORDS_RECORDED,
                "Records offered to the exporter",
                "{record}",
                true,
                vec![int_point(Vec::new(), start, now_ns, recorded)],
            ),
            sum(
                names::RECORDS_DROPPED,
                "Records lost, by site",
                "{record}",
                true,
                drop_points,
            ),
        ];
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope.clone()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

fn us_to_s(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The protocol's spelling of a drop site (new sites need no change here).
fn drop_site(s: DropSite) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

fn int_point(
    attributes: Vec<KeyValue>,
    start: u64,
    now: u64,
    v: impl TryInto<i64>,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        exemplars: Vec::new(),
        flags: 0,
        value: Some(number_data_point::Value::AsInt(
            v.try_into().unwrap_or(i64::MAX),
        )),
    }
}

fn sum(
    name: &str,
    description: &str,
    unit: &str,
    monotonic: bool,
    data_points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        metadata: Vec::new(),
        data: Some(Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: monotonic,
        })),
    }
}

fn histogram(
    name: &str,
    description: &str,
    series: &Series,
    attrs: impl Fn(&[String]) -> Vec<KeyValue>,
    start: u64,
    now: u64,
) -> Metric {
    let point = |attributes: Vec<KeyValue>, h: &Hist| HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: h.count,
        sum: Some(h.sum),
        bucket_counts: h.counts.to_vec(),
        explicit_bounds: BOUNDS_S.to_vec(),
        exemplars: Vec::new(),
        flags: 0,
        min: (h.count > 0).then_some(h.min),
        max: (h.count > 0).then_some(h.max),
    };
    let mut keys_sorted: Vec<&Vec<String>> = series.by_key.keys().collect();
    keys_sorted.sort();
    let mut data_points: Vec<HistogramDataPoint> = keys_sorted
        .into_iter()
        .filter_map(|k| series.by_key.get(k).map(|h| point(attrs(k), h)))
        .collect();
    if series.overflow.count > 0 {
        let mut a = Attrs::new(MAX_METRIC_ATTR);
        a.bool("otel.metric.overflow", true);
        data_points.push(point(a.finish(), &series.overflow));
    }
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: "s".to_owned(),
        metadata: Vec::new(),
        data: Some(Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_follow_bounds() {
        let mut h = Hist::default();
        h.record(0.000_001);
        h.record(0.000_005);
        h.record(0.003);
        h.record(100.0);
        assert_eq!(h.counts[0], 2, "<= first bound, inclusive");
        assert_eq!(h.counts[9], 1, "0.003 falls in (0.0025, 0.005]");
        assert_eq!(h.counts[BOUNDS_S.len()], 1, "overflow bucket");
        assert_eq!(h.count, 4);
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert!((h.max - 100.0).abs() < f64::EPSILON);
    }

    #[test]
    fn series_fold_into_overflow_past_the_cap() {
        let mut s = Series::default();
        for i in 0..MAX_SERIES + 5 {
            s.record(vec![i.to_string()], 0.001);
        }
        assert_eq!(s.by_key.len(), MAX_SERIES);
        assert_eq!(s.overflow.count, 5);
    }
}
