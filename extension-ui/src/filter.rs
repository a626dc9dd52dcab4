//! The timeline filter and its fast per-row form.

use crate::instances::Instances;
use crate::log::{Log, Row, NONE};
use fluxlive_protocol::record::RecordKind;

/// What the user asked the timeline to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    /// One instance.
    pub iid: Option<u64>,
    /// One component type.
    pub component: Option<String>,
    /// One action name.
    pub method: Option<String>,
    /// One record kind.
    pub kind: Option<RecordKind>,
    /// Failures only.
    pub errors_only: bool,
}

impl TimelineFilter {
    /// True when the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A [`TimelineFilter`] resolved to row numbers.
#[derive(Clone, Debug)]
pub struct Compiled {
    inst: Option<u32>,
    component: Option<u32>,
    method: Option<u32>,
    kind: Option<RecordKind>,
    errors_only: bool,
    /// A named instance/type/method the panel has never seen matches nothing.
    impossible: bool,
}

impl Compiled {
    /// Resolves `f` against the names seen so far.
    pub fn new(f: &TimelineFilter, log: &Log, instances: &Instances) -> Self {
        let mut impossible = false;
        let mut resolve = |v: Option<Option<u32>>| match v {
            None => None,
            Some(Some(id)) => Some(id),
            Some(None) => {
                impossible = true;
                None
            }
        };
        let inst = resolve(f.iid.map(|iid| instances.index_of(iid)));
        let component = resolve(
            f.component
                .as_deref()
                .map(|c| instances.components.lookup(c)),
        );
        let method = resolve(f.method.as_deref().map(|m| log.names.lookup(m)));
        Self {
            inst,
            component,
            method,
            kind: f.kind,
            errors_only: f.errors_only,
            impossible,
        }
    }

    /// True when `row` passes. Drop records pass every instance, type and
    /// method filter so the gaps they explain stay visible.
    pub fn matches(&self, row: &Row, instances: &Instances) -> bool {
        let dropped = row.kind == RecordKind::Dropped;
        if let Some(k) = self.kind {
            if row.kind != k {
                return false;
            }
        }
        if self.errors_only && !row.is_error() {
            return false;
        }
        if dropped {
            return true;
        }
        if self.impossible {
            return false;
        }
        if let Some(i) = self.inst {
            if row.inst != i {
                return false;
            }
        }
        if let Some(c) = self.component {
            if row.inst == NONE || instances.get(row.inst).map(|i| i.component_id) != Some(c) {
                return false;
            }
        }
        if let Some(m) = self.method {
            if row.kind != RecordKind::Action || row.name != m {
                return false;
            }
        }
        true
    }
}

/// Indices of the rows of `log` from `from` on that pass `f`.
pub fn matching(log: &Log, instances: &Instances, f: &Compiled, from: usize) -> Vec<u32> {
    log.rows()
        .iter()
        .enumerate()
        .skip(from)
        .filter(|(_, r)| f.matches(r, instances))
        .filter_map(|(i, _)| u32::try_from(i).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fluxlive_protocol::record::{
        ActionRecord, CallSource, DropSite, InstanceRef, Outcome, Record, RecordBody,
    };
    use serde_json::json;

    fn setup() -> (Log, Instances) {
        let mut log = Log::default();
        let mut insts = Instances::default();
        let mk = |seq: u64, iid: u64, ty: &str, method: &str, ok: bool| Record {
            seq,
            ts_us: seq,
            conn: 1,
            instance: Some(InstanceRef {
                iid,
                id: format!("i{iid}"),
                component: ty.into(),
            }),
            body: RecordBody::Action(ActionRecord {
                method: method.into(),
                args: json!([]),
                args_truncated: false,
                dur_us: 1,
                outcome: if ok {
                    Outcome::Ok {
                        result: json!(null),
                    }
                } else {
                    Outcome::Err {
                        code: fluxlive_protocol::ErrorCode::ActionFailed,
                        message: "x".into(),
                    }
                },
                version_before: 1,
                version_after: 1,
                trace: None,
                source: CallSource::Client,
            }),
        };
        let recs = [
            mk(1, 1, "Counter", "increment", true),
            mk(2, 2, "Counter", "fail", false),
            mk(3, 3, "TodoList", "add", true),
            mk(4, 1, "Counter", "add", true),
        ];
        for r in &recs {
            let idx = insts.index_for(r.instance.as_ref().unwrap(), 1);
            let row = log.push(r, idx);
            insts.apply(idx, row, &r.body);
        }
        let drop = Record {
            seq: 10,
            ts_us: 10,
            conn: 0,
            instance: None,
            body: RecordBody::Dropped {
                count: 5,
                site: DropSite::Ring,
                reason: "full".into(),
            },
        };
        log.push(&drop, NONE);
        (log, insts)
    }

    fn seqs(f: TimelineFilter) -> Vec<u64> {
        let (log, insts) = setup();
        let c = Compiled::new(&f, &log, &insts);
        matching(&log, &insts, &c, 0)
            .iter()
            .map(|&i| log.row(i).unwrap().seq)
            .collect()
    }

    #[test]
    fn empty_filter_matches_all() {
        assert_eq!(seqs(TimelineFilter::default()), vec![1, 2, 3, 4, 10]);
    }

    #[test]
    fn by_instance_type_method_keep_drops() {
        assert_eq!(
            seqs(TimelineFilter {
                iid: Some(1),
                ..Default::default()
            }),
            vec![1, 4, 10]
        );
        assert_eq!(
            seqs(TimelineFilter {
                component: Some("TodoList".into()),
                ..Default::default()
            }),
            vec![3, 10]
        );
        assert_eq!(
            seqs(TimelineFilter {
                method: Some("add".into()),
                ..Default::default()
            }),
            vec![3, 4, 10]
        );
        assert_eq!(
            seqs(TimelineFilter {
                component: Some("Counter".into()),
                method: Some("add".into()),
                ..Default::default()
            }),
            vec![4, 10]
        );
    }

    #[test]
    fn errors_only_and_kind() {
        assert_eq!(
            seqs(TimelineFilter {
                errors_only: true,
                ..Default::default()
            }),
            vec![2, 10]
        );
        assert_eq!(
            seqs(TimelineFilter {
                kind: Some(RecordKind::Action),
                ..Default::default()
            }),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            seqs(TimelineFilter {
                kind: Some(RecordKind::Dropped),
                ..Default::default()
            }),
            vec![10]
        );
    }

    #[test]
    fn unknown_names_match_only_drops() {
        assert_eq!(
            seqs(TimelineFilter {
                method: Some("nope".into()),
                ..Default::default()
            }),
            vec![10]
        );
        assert_eq!(
            seqs(TimelineFilter {
                iid: Some(77),
                ..Default::default()
            }),
            vec![10]
        );
    }
}
