//! Profiler numbers: per-component cost summaries, the slowest records and a
//! time histogram, computed from the compact rows.

use crate::log::{Log, Row, NONE};
use fluxlive_protocol::record::RecordKind;
use std::collections::BTreeMap;

/// The `p`th percentile (nearest rank, `p` in 0..=100) of sorted `values`.
pub fn percentile(sorted: &[u32], p: u32) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = (u64::from(p.min(100)) * n as u64).div_ceil(100) as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Count and spread of one kind of cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median, µs.
    pub p50: u32,
    /// 95th percentile, µs.
    pub p95: u32,
    /// Largest, µs.
    pub max: u32,
    /// Sum, µs.
    pub total: u64,
}

impl Summary {
    /// Summarizes `values` (sorted in place).
    pub fn of(values: &mut [u32]) -> Self {
        values.sort_unstable();
        Self {
            count: values.len(),
            p50: percentile(values, 50),
            p95: percentile(values, 95),
            max: values.last().copied().unwrap_or(0),
            total: values.iter().map(|&v| u64::from(v)).sum(),
        }
    }
}

/// Costs of one component type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentCost {
    /// Component type.
    pub component: String,
    /// Action run times.
    pub actions: Summary,
    /// Server diff + encode times.
    pub diffs: Summary,
    /// Client render-callback times.
    pub renders: Summary,
}

/// One bar of the time chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket, µs since the runtime started.
    pub start_us: u64,
    /// Actions that started in it.
    pub actions: u32,
    /// Their summed run time, µs.
    pub action_us: u64,
    /// Renders reported in it.
    pub renders: u32,
    /// Their summed render time, µs.
    pub render_us: u64,
}

/// Everything the profiler view shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// Per component type, sorted by name.
    pub components: Vec<ComponentCost>,
    /// Row indices of the slowest actions, slowest first.
    pub slowest_actions: Vec<u32>,
    /// Row indices of the slowest renders, slowest first.
    pub slowest_renders: Vec<u32>,
    /// The time chart.
    pub buckets: Vec<Bucket>,
    /// Width of each bucket, µs.
    pub bucket_us: u64,
}

/// How many slowest rows to keep.
const TOP: usize = 10;

/// Keeps the `TOP` rows with the largest `dur_us`.
#[derive(Default)]
struct TopN(Vec<(u32, u32)>);

impl TopN {
    fn offer(&mut self, dur: u32, idx: u32) {
        if self.0.len() < TOP {
            self.0.push((dur, idx));
            self.0.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        } else if self.0.last().is_some_and(|l| dur > l.0) {
            self.0.pop();
            let pos = self.0.partition_point(|e| e.0 >= dur);
            self.0.insert(pos, (dur, idx));
        }
    }

    fn into_indices(self) -> Vec<u32> {
        self.0.into_iter().map(|(_, i)| i).collect()
    }
}

/// Builds the profile of every row in `log`; `component_of` maps a row's
/// instance index to its component type name.
pub fn profile<'a>(
    log: &Log,
    component_of: impl Fn(u32) -> Option<&'a str>,
    buckets: usize,
) -> Profile {
    #[derive(Default)]
    struct Acc {
        actions: Vec<u32>,
        diffs: Vec<u32>,
        renders: Vec<u32>,
    }
    let rows = log.rows();
    let mut per: BTreeMap<&str, Acc> = BTreeMap::new();
    let mut slow_a = TopN::default();
    let mut slow_r = TopN::default();
    for (i, row) in rows.iter().enumerate() {
        let idx = u32::try_from(i).unwrap_or(NONE);
        let comp = if row.inst == NONE {
            None
        } else {
            component_of(row.inst)
        };
        let Some(comp) = comp else { continue };
        let acc = per.entry(comp).or_default();
        match row.kind {
            RecordKind::Action => {
                acc.actions.push(row.dur_us);
                slow_a.offer(row.dur_us, idx);
            }
            RecordKind::Diff => acc.diffs.push(row.dur_us),
            RecordKind::Render => {
                acc.renders.push(row.dur_us);
                slow_r.offer(row.dur_us, idx);
            }
            _ => {}
        }
    }
    let components = per
        .into_iter()
        .map(|(name, mut acc)| ComponentCost {
            component: name.to_owned(),
            actions: Summary::of(&mut acc.actions),
            diffs: Summary::of(&mut acc.diffs),
            renders: Summary::of(&mut acc.renders),
        })
        .collect();
    let (buckets, bucket_us) = histogram(rows, buckets);
    Profile {
        components,
        slowest_actions: slow_a.into_indices(),
        slowest_renders: slow_r.into_indices(),
        buckets,
        bucket_us,
    }
}

/// Splits the time span of `rows` into `n` equal buckets.
pub fn histogram(rows: &[Row], n: usize) -> (Vec<Bucket>, u64) {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return (Vec::new(), 0);
    };
    let n = n.max(1);
    let span = last.ts_us.saturating_sub(first.ts_us) + 1;
    let width = span.div_ceil(n as u64).max(1);
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start_us: first.ts_us + width * i as u64,
            ..Bucket::default()
        })
        .collect();
    for row in rows {
        let b = ((row.ts_us.saturating_sub(first.ts_us)) / width) as usize;
        let Some(b) = out.get_mut(b.min(n - 1)) else {
            continue;
        };
        match row.kind {
            RecordKind::Action => {
                b.actions += 1;
                b.action_us += u64::from(row.dur_us);
            }
            RecordKind::Render => {
                b.renders += 1;
                b.render_us += u64::from(row.dur_us);
            }
            _ => {}
        }
    }
    (out, width)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fluxlive_protocol::record::{
        ActionRecord, CallSource, InstanceRef, Outcome, Record, RecordBody, RenderRecord,
    };
    use serde_json::json;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 95), 95);
        assert_eq!(percentile(&v, 100), 100);
        assert_eq!(percentile(&v, 0), 1);
        assert_eq!(percentile(&[7], 50), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[1, 2, 3, 4], 50), 2);
    }

    #[test]
    fn summary_sorts_and_totals() {
        let mut v = vec![30, 10, 20];
        let s = Summary::of(&mut v);
        assert_eq!((s.count, s.p50, s.p95, s.max, s.total), (3, 20, 30, 30, 60));
    }

    fn inst(iid: u64, ty: &str) -> Option<InstanceRef> {
        Some(InstanceRef {
            iid,
            id: format!("i{iid}"),
            component: ty.into(),
        })
    }

    fn act(seq: u64, iid: u64, ty: &str, dur: u64) -> Record {
        Record {
            seq,
            ts_us: seq * 100,
            conn: 1,
            instance: inst(iid, ty),
            body: RecordBody::Action(ActionRecord {
                method: "m".into(),
                args: json!([]),
                args_truncated: false,
                dur_us: dur,
                outcome: Outcome::Ok {
                    result: json!(null),
                },
                version_before: 1,
                version_after: 2,
                trace: None,
                source: CallSource::Client,
            }),
        }
    }

    #[test]
    fn profile_groups_by_component_and_finds_slowest() {
        let mut log = Log::default();
        let types = ["Counter", "Todo"];
        for s in 1..=30u64 {
            let t = (s % 2) as usize;
            log.push(&act(s, t as u64, types[t], s * 10), t as u32);
        }
        let render = Record {
            seq: 31,
            ts_us: 3100,
            conn: 1,
            instance: inst(0, "Counter"),
            body: RecordBody::Render(RenderRecord {
                version: 2,
                apply_us: 1,
                render_us: 77,
                frame_us: 900,
                at_unix_us: None,
                trace: None,
            }),
        };
        log.push(&render, 0);
        let p = profile(&log, |i| types.get(i as usize).copied(), 10);
        assert_eq!(p.components.len(), 2);
        let counter = &p.components[0];
        assert_eq!(counter.component, "Counter");
        assert_eq!(counter.actions.count, 15);
        assert_eq!(counter.actions.max, 300);
        assert_eq!(counter.renders.count, 1);
        assert_eq!(counter.renders.max, 77);
        assert_eq!(p.slowest_actions.len(), TOP);
        let durs: Vec<u32> = p
            .slowest_actions
            .iter()
            .map(|&i| log.row(i).unwrap().dur_us)
            .collect();
        assert_eq!(durs, vec![300, 290, 280, 270, 260, 250, 240, 230, 220, 210]);
        assert_eq!(p.slowest_renders.len(), 1);
        let total: u32 = p.buckets.iter().map(|b| b.actions).sum();
        assert_eq!(total, 30);
        assert_eq!(p.buckets.len(), 10);
    }
}
