//! The instance table: every instance the panel has heard of, its current
//! state as far as the records tell, and the versions it can travel to.

use crate::log::{Interner, Log, NONE};
use fluxlive_protocol::debug::SnapshotFrame;
use fluxlive_protocol::record::{InstanceRef, RecordBody, RecordKind};
use serde_json::Value;
use std::collections::HashMap;

/// One instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Global instance number.
    pub iid: u64,
    /// Client-visible id.
    pub id: String,
    /// Component type.
    pub component: String,
    /// Interned component type, for fast row filters.
    pub component_id: u32,
    /// Owning connection.
    pub conn: u64,
    /// Still mounted.
    pub live: bool,
    /// Held at a past version by time travel.
    pub travelling: bool,
    /// Version of `state`.
    pub version: u64,
    /// Newest version any record or snapshot named.
    pub latest_seen: u64,
    /// Current client-visible state, when known.
    pub state: Option<Value>,
    /// Mount props.
    pub props: Value,
    /// Versions recorded by mounts and actions (what the time-travel slider walks).
    pub history: Vec<u64>,
    /// Versions created by time travel (kept off the slider).
    travel_versions: Vec<u64>,
    /// Indices of this instance's rows in the log.
    pub rows: Vec<u32>,
    /// Diffs applied to `state` so far.
    applied: u64,
    /// States kept every [`CHECKPOINT_EVERY`] applied diffs, so that
    /// rebuilding a late version does not replay the whole history:
    /// `(version, position in rows, state)`.
    checkpoints: Vec<(u64, u32, Value)>,
}

/// Applied diffs between two kept states.
pub const CHECKPOINT_EVERY: u64 = 128;

/// All instances, by table index and by `iid`.
#[derive(Default, Debug)]
pub struct Instances {
    list: Vec<Instance>,
    by_iid: HashMap<u64, u32>,
    /// Interned component types.
    pub components: Interner,
}

fn add_version(history: &mut Vec<u64>, v: u64) {
    match history.last() {
        Some(&last) if last >= v => {
            if let Err(pos) = history.binary_search(&v) {
                history.insert(pos, v);
            }
        }
        _ => history.push(v),
    }
}

impl Instances {
    /// Every instance, in order of first sight.
    pub fn list(&self) -> &[Instance] {
        &self.list
    }

    /// The instance at table index `idx`.
    pub fn get(&self, idx: u32) -> Option<&Instance> {
        self.list.get(idx as usize)
    }

    /// The table index of `iid`.
    pub fn index_of(&self, iid: u64) -> Option<u32> {
        self.by_iid.get(&iid).copied()
    }

    /// The instance numbered `iid`.
    pub fn by_iid(&self, iid: u64) -> Option<&Instance> {
        self.index_of(iid).and_then(|i| self.get(i))
    }

    /// Mutable access by `iid`.
    pub fn by_iid_mut(&mut self, iid: u64) -> Option<&mut Instance> {
        let i = self.index_of(iid)?;
        self.list.get_mut(i as usize)
    }

    /// Live instances.
    pub fn live_count(&self) -> usize {
        self.list.iter().filter(|i| i.live).count()
    }

    /// The table index for `r`, adding the instance when new.
    pub fn index_for(&mut self, r: &InstanceRef, conn: u64) -> u32 {
        if let Some(&i) = self.by_iid.get(&r.iid) {
            return i;
        }
        let idx = u32::try_from(self.list.len()).unwrap_or(NONE);
        let component_id = self.components.intern(&r.component);
        self.list.push(Instance {
            iid: r.iid,
            id: r.id.clone(),
            component: r.component.clone(),
            component_id,
            conn,
            live: true,
            travelling: false,
            version: 0,
            latest_seen: 0,
            state: None,
            props: Value::Null,
            history: Vec::new(),
            travel_versions: Vec::new(),
            rows: Vec::new(),
            applied: 0,
            checkpoints: Vec::new(),
        });
        self.by_iid.insert(r.iid, idx);
        idx
    }

    /// Applies what record row `row` (body `body`) says about instance `idx`.
    pub fn apply(&mut self, idx: u32, row: u32, body: &RecordBody) {
        let Some(inst) = self.list.get_mut(idx as usize) else {
            return;
        };
        inst.rows.push(row);
        match body {
            RecordBody::Mount {
                props,
                version,
                state,
            } => {
                inst.live = true;
                inst.props = props.clone();
                if inst.state.is_none() || *version >= inst.version {
                    inst.state = Some(state.clone());
                    inst.version = *version;
                }
                inst.latest_seen = inst.latest_seen.max(*version);
                add_version(&mut inst.history, *version);
            }
            RecordBody::Unmount { version, .. } => {
                inst.live = false;
                inst.latest_seen = inst.latest_seen.max(*version);
            }
            RecordBody::Resume { version } => {
                inst.live = true;
                inst.latest_seen = inst.latest_seen.max(*version);
            }
            RecordBody::Diff(d) => {
                inst.latest_seen = inst.latest_seen.max(d.version);
                if !inst.travel_versions.contains(&d.version) {
                    add_version(&mut inst.history, d.version);
                }
                if inst.version == d.base {
                    if let Some(state) = inst.state.as_mut() {
                        // A patch that does not apply leaves the state stale;
                        // the model then asks for a snapshot.
                        if json_patch::patch(state, &d.ops).is_ok() {
                            inst.version = d.version;
                            inst.applied += 1;
                            if inst.applied % CHECKPOINT_EVERY == 0 {
                                let pos = u32::try_from(inst.rows.len() - 1).unwrap_or(NONE);
                                inst.checkpoints.push((d.version, pos, state.clone()));
                            }
                        }
                    }
                }
            }
            RecordBody::Snapshot { version, state } => {
                inst.latest_seen = inst.latest_seen.max(*version);
                if inst.state.is_none() || *version >= inst.version {
                    inst.state = Some(state.clone());
                    inst.version = *version;
                }
            }
            RecordBody::TimeTravel { version, .. } => {
                inst.latest_seen = inst.latest_seen.max(*version);
                inst.travel_versions.push(*version);
                inst.history.retain(|v| v != version);
            }
            RecordBody::Action(a) => {
                inst.latest_seen = inst.latest_seen.max(a.version_after);
            }
            _ => {}
        }
    }

    /// True when some live instance's state is older than its records say.
    pub fn any_stale(&self) -> bool {
        self.list
            .iter()
            .any(|i| i.live && (i.state.is_none() || i.version < i.latest_seen))
    }

    /// Applies a `snapshot` answer: states, props, liveness.
    pub fn apply_snapshot(&mut self, snap: &SnapshotFrame) {
        for inst in &mut self.list {
            inst.live = false;
        }
        for info in &snap.instances {
            let r = InstanceRef {
                iid: info.iid,
                id: info.id.clone(),
                component: info.component.clone(),
            };
            let idx = self.index_for(&r, info.conn);
            if let Some(inst) = self.list.get_mut(idx as usize) {
                inst.live = true;
                inst.conn = info.conn;
                inst.travelling = info.travelling;
                inst.props = info.props.clone();
                inst.latest_seen = inst.latest_seen.max(info.version);
                if inst.state.is_none() || info.version >= inst.version {
                    inst.state = Some(info.state.clone());
                    inst.version = info.version;
                }
                if inst.history.is_empty() {
                    add_version(&mut inst.history, info.version);
                }
            }
        }
    }

    /// Rebuilds instance `idx`'s state at `version` from the log: the newest
    /// mount or snapshot record at or before it, then the diffs after it.
    pub fn state_at(&self, log: &Log, idx: u32, version: u64) -> Option<Value> {
        self.state_at_depth(log, idx, version, 0)
    }

    fn state_at_depth(&self, log: &Log, idx: u32, version: u64, depth: u8) -> Option<Value> {
        // Time travel chains resolve by recursion; a cycle cannot occur in
        // honest records, and the depth bound keeps forged ones harmless.
        if depth > 8 {
            return None;
        }
        let inst = self.get(idx)?;
        let base = inst.rows.iter().rposition(|&r| {
            log.row(r).is_some_and(|row| {
                matches!(row.kind, RecordKind::Mount | RecordKind::Snapshot)
                    && row.version <= version
            })
        });
        // Versions only grow, so the newest checkpoint at or before the
        // target is the latest usable one; start from whichever of it and
        // the recorded state comes later.
        let checkpoint = inst
            .checkpoints
            .iter()
            .rev()
            .find(|c| c.0 <= version)
            .filter(|c| base.is_none_or(|b| c.1 as usize > b));
        let (start, mut state, mut cur) = match (checkpoint, base) {
            (Some((v, pos, state)), _) => (*pos as usize, state.clone(), *v),
            (None, Some(b)) => match log.body(inst.rows[b])? {
                RecordBody::Mount { state, .. } | RecordBody::Snapshot { state, .. } => {
                    (b, state, log.row(inst.rows[b])?.version)
                }
                _ => return None,
            },
            (None, None) => return None,
        };
        for &r in &inst.rows[start + 1..] {
            if cur == version {
                break;
            }
            let Some(row) = log.row(r) else { continue };
            match row.kind {
                RecordKind::Diff => {
                    if let Some(RecordBody::Diff(d)) = log.body(r) {
                        if d.base == cur && d.version <= version {
                            json_patch::patch(&mut state, &d.ops).ok()?;
                            cur = d.version;
                        }
                    }
                }
                RecordKind::TimeTravel if row.version <= version => {
                    if let Some(RecordBody::TimeTravel { target, version: v }) = log.body(r) {
                        if target < v {
                            state = self.state_at_depth(log, idx, target, depth + 1)?;
                            cur = v;
                        }
                    }
                }
                _ => {}
            }
        }
        (cur == version).then_some(state)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fluxlive_protocol::debug::InstanceInfo;
    use fluxlive_protocol::record::{DiffRecord, Record};
    use serde_json::json;

    fn iref() -> InstanceRef {
        InstanceRef {
            iid: 9,
            id: "hero".into(),
            component: "Counter".into(),
        }
    }

    fn rec(seq: u64, body: RecordBody) -> Record {
        Record {
            seq,
            ts_us: seq,
            conn: 1,
            instance: Some(iref()),
            body,
        }
    }

    fn diff(seq: u64, base: u64, count: i64) -> Record {
        let ops = serde_json::from_value(json!([{"op":"replace","path":"/count","value":count}]))
            .unwrap();
        rec(
            seq,
            RecordBody::Diff(DiffRecord {
                base,
                version: base + 1,
                ops,
                bytes: 40,
                diff_us: 3,
                encode_us: 1,
                trace: None,
            }),
        )
    }

    fn feed(log: &mut Log, insts: &mut Instances, r: &Record) {
        let idx = insts.index_for(r.instance.as_ref().unwrap(), r.conn);
        let row = log.push(r, idx);
        insts.apply(idx, row, &r.body);
    }

    fn mounted() -> (Log, Instances) {
        let mut log = Log::default();
        let mut insts = Instances::default();
        let m = rec(
            1,
            RecordBody::Mount {
                props: json!({"start": 10}),
                version: 1,
                state: json!({"count": 10}),
            },
        );
        feed(&mut log, &mut insts, &m);
        (log, insts)
    }

    #[test]
    fn diffs_keep_state_current_and_history_grows() {
        let (mut log, mut insts) = mounted();
        feed(&mut log, &mut insts, &diff(2, 1, 15));
        feed(&mut log, &mut insts, &diff(3, 2, 20));
        let i = insts.by_iid(9).unwrap();
        assert_eq!(i.state, Some(json!({"count": 20})));
        assert_eq!(i.version, 3);
        assert_eq!(i.history, vec![1, 2, 3]);
        assert_eq!(i.props, json!({"start": 10}));
        assert!(!insts.any_stale());
    }

    #[test]
    fn missed_diff_marks_stale() {
        let (mut log, mut insts) = mounted();
        feed(&mut log, &mut insts, &diff(3, 2, 20));
        let i = insts.by_iid(9).unwrap();
        assert_eq!(i.version, 1);
        assert_eq!(i.state, Some(json!({"count": 10})));
        assert!(insts.any_stale());
    }

    #[test]
    fn state_at_rebuilds_past_versions_and_travel() {
        let (mut log, mut insts) = mounted();
        feed(&mut log, &mut insts, &diff(2, 1, 15));
        feed(&mut log, &mut insts, &diff(3, 2, 20));
        // travel to v1 creates v4 == v1's state, then an action makes v5
        feed(
            &mut log,
            &mut insts,
            &rec(
                4,
                RecordBody::TimeTravel {
                    target: 1,
                    version: 4,
                },
            ),
        );
        feed(&mut log, &mut insts, &diff(5, 4, 99));
        let idx = insts.index_of(9).unwrap();
        assert_eq!(insts.state_at(&log, idx, 1), Some(json!({"count": 10})));
        assert_eq!(insts.state_at(&log, idx, 2), Some(json!({"count": 15})));
        assert_eq!(insts.state_at(&log, idx, 3), Some(json!({"count": 20})));
        assert_eq!(insts.state_at(&log, idx, 4), Some(json!({"count": 10})));
        assert_eq!(insts.state_at(&log, idx, 5), Some(json!({"count": 99})));
        assert_eq!(insts.state_at(&log, idx, 7), None);
        // the travel version stays off the slider, the action after it is on
        assert_eq!(insts.by_iid(9).unwrap().history, vec![1, 2, 3, 5]);
    }

    #[test]
    fn long_histories_rebuild_from_checkpoints() {
        let (mut log, mut insts) = mounted();
        let n = CHECKPOINT_EVERY * 3 + 5;
        for k in 0..n {
            feed(&mut log, &mut insts, &diff(2 + k, 1 + k, 1000 + k as i64));
        }
        let idx = insts.index_of(9).unwrap();
        assert_eq!(insts.get(idx).unwrap().checkpoints.len(), 3);
        for v in [
            1,
            2,
            CHECKPOINT_EVERY + 1,
            CHECKPOINT_EVERY + 2,
            n - 1,
            n + 1,
        ] {
            let want = if v == 1 { 10 } else { 1000 + v as i64 - 2 };
            assert_eq!(
                insts.state_at(&log, idx, v),
                Some(json!({"count": want})),
                "v{v}"
            );
        }
        assert_eq!(insts.state_at(&log, idx, n + 2), None);
    }

    #[test]
    fn snapshot_sets_liveness_and_newer_state_only() {
        let (mut log, mut insts) = mounted();
        feed(&mut log, &mut insts, &diff(2, 1, 15));
        let info = |iid: u64, version: u64, count: i64| InstanceInfo {
            iid,
            id: format!("c{iid}"),
            component: "Counter".into(),
            conn: 2,
            version,
            state: json!({"count": count}),
            props: json!({}),
            travelling: false,
        };
        let snap = SnapshotFrame {
            req: 1,
            instances: vec![info(10, 4, 7)],
            connections: 1,
            total_mounted: 2,
        };
        insts.apply_snapshot(&snap);
        assert!(
            !insts.by_iid(9).unwrap().live,
            "absent from the snapshot means gone"
        );
        assert_eq!(insts.by_iid(10).unwrap().state, Some(json!({"count": 7})));
        assert_eq!(insts.live_count(), 1);
        // an older snapshot does not roll state back
        let snap = SnapshotFrame {
            req: 2,
            instances: vec![info(9, 1, 10)],
            connections: 1,
            total_mounted: 2,
        };
        insts.apply_snapshot(&snap);
        let i = insts.by_iid(9).unwrap();
        assert!(i.live);
        assert_eq!(i.state, Some(json!({"count": 15})));
    }

    #[test]
    fn unmount_marks_gone() {
        let (mut log, mut insts) = mounted();
        feed(
            &mut log,
            &mut insts,
            &rec(
                2,
                RecordBody::Unmount {
                    reason: fluxlive_protocol::record::UnmountReason::Client,
                    version: 1,
                },
            ),
        );
        assert!(!insts.by_iid(9).unwrap().live);
        assert_eq!(insts.live_count(), 0);
    }
}
