//! The flight recorder: the last N records (and at most a byte budget), plus
//! per-instance state folding so that state at any held version can be
//! rebuilt after older records were evicted.
//!
//! Each instance has a *base* (its state after every evicted record, the
//! "committed state" of Redux DevTools) and a *head* (its newest state).
//! When a record is evicted, its effect is folded into the base; rebuilding
//! version `v` starts from the base and replays the instance's held records.

use crate::convert::Converted;
use crate::error::StateAtError;
use crate::redact::approx_size;
use fluxlive_protocol::debug::{Filter, HistoryBounds};
use fluxlive_protocol::record::{DropSite, InstanceRef, Record, RecordBody};
use fluxlive_protocol::session::{Session, SessionHeader};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// A state at a version.
#[derive(Debug, Clone)]
struct Versioned {
    version: u64,
    state: Value,
}

/// Applies one record's effect to a versioned state. `None` means "unknown":
/// a diff whose base does not match (a gap in recording) makes it unknown
/// until the next mount or snapshot.
fn step(cur: &mut Option<Versioned>, body: &RecordBody) {
    match body {
        RecordBody::Mount { version, state, .. } | RecordBody::Snapshot { version, state } => {
            *cur = Some(Versioned {
                version: *version,
                state: state.clone(),
            });
        }
        RecordBody::Diff(d) => {
            let Some(v) = cur.as_mut() else { return };
            if v.version != d.base {
                tracing::debug!(
                    target: "fluxlive::recorder",
                    have = v.version,
                    base = d.base,
                    "diff does not apply to the tracked version"
                );
                *cur = None;
                return;
            }
            // On failure the state is dropped, so the undo log of `patch` is not needed.
            if let Err(e) = json_patch::patch_unsafe(&mut v.state, &d.ops.0) {
                tracing::warn!(target: "fluxlive::recorder", error = %e, "recorded diff does not apply");
                *cur = None;
                return;
            }
            v.version = d.version;
        }
        _ => {}
    }
}

/// State of instance `iid` at `version` (the newest when `None`) rebuilt from
/// `records` alone, e.g. a parsed session file from [`Recorder::export`]
/// (which starts with a snapshot of every instance whose mount was evicted).
///
/// [`Recorder::export`]: crate::Recorder::export
pub fn state_in_records(
    records: &[Record],
    iid: u64,
    version: Option<u64>,
) -> Result<(u64, Value), StateAtError> {
    let mut cur = None;
    let mut seen = false;
    let mut newest = None;
    for r in records {
        if r.instance.as_ref().map(|i| i.iid) != Some(iid) {
            continue;
        }
        seen = true;
        step(&mut cur, &r.body);
        if let Some(v) = &cur {
            if Some(v.version) == version {
                return Ok((v.version, v.state.clone()));
            }
            newest = Some(v.clone());
        } else {
            newest = None;
        }
    }
    if !seen {
        return Err(StateAtError::UnknownInstance { iid });
    }
    match (version, newest) {
        (None, Some(v)) => Ok((v.version, v.state)),
        (version, _) => Err(StateAtError::VersionUnavailable { iid, version }),
    }
}

/// What the recorder tracks per instance.
#[derive(Debug)]
struct Track {
    inst: InstanceRef,
    conn: u64,
    /// State after every evicted record of this instance.
    base: Option<Versioned>,
    /// Sequence number and timestamp of the last record folded into `base`.
    base_seq: u64,
    base_ts: u64,
    /// Newest state.
    head: Option<Versioned>,
}

/// Where a subscriber is, and what it gets next.
#[derive(Debug)]
pub(crate) struct ReadOutcome {
    /// Records (a lag `Dropped` record first, when the reader fell behind).
    pub(crate) records: Vec<Record>,
    /// Records the reader missed because they were evicted first.
    pub(crate) missed: u64,
    /// True when the read stopped early and more records may follow.
    pub(crate) more: bool,
}

/// The bounded history.
#[derive(Debug)]
pub(crate) struct History {
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    records: VecDeque<(Record, usize)>,
    next_seq: u64,
    /// Sequence numbers below this were forgotten by `clear`, not evicted.
    cleared_below: u64,
    tracks: HashMap<u64, Track>,
}

impl History {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            records: VecDeque::new(),
            next_seq: 1,
            cleared_below: 1,
            tracks: HashMap::new(),
        }
    }

    pub(crate) fn bounds(&self) -> HistoryBounds {
        HistoryBounds {
            capacity: self.capacity,
            oldest_seq: self.records.front().map_or(0, |(r, _)| r.seq),
            next_seq: self.next_seq,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Approximate bytes held by records.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Appends a converted event, updating the instance's head. After a
    /// time travel it also appends a `Snapshot` of the restored state so
    /// that the new version can be rebuilt without the old one.
    pub(crate) fn append(&mut self, c: Converted) {
        let iid = c.instance.as_ref().map(|i| i.iid);
        let travel = match &c.body {
            RecordBody::TimeTravel { target, version } => Some((*target, *version)),
            _ => None,
        };
        if let (Some(iid), Some(inst)) = (iid, &c.instance) {
            if matches!(c.body, RecordBody::Mount { .. }) || !self.tracks.contains_key(&iid) {
                self.tracks.insert(
                    iid,
                    Track {
                        inst: inst.clone(),
                        conn: c.conn,
                        base: None,
                        base_seq: 0,
                        base_ts: c.ts_us,
                        head: None,
                    },
                );
            }
            if let Some(t) = self.tracks.get_mut(&iid) {
                step(&mut t.head, &c.body);
            }
        }
        let snapshot = match (iid, travel) {
            (Some(iid), Some((target, version))) => match self.state_at(iid, Some(target)) {
                Ok((_, state)) => Some(RecordBody::Snapshot { version, state }),
                Err(e) => {
                    tracing::debug!(target: "fluxlive::recorder", error = %e, "time travel target not held");
                    None
                }
            },
            _ => None,
        };
        let (ts_us, conn, instance) = (c.ts_us, c.conn, c.instance.clone());
        let seq = self.take_seq(1);
        self.push(Record {
            seq,
            ts_us,
            conn,
            instance: c.instance,
            body: c.body,
        });
        if let (Some(body), Some(iid)) = (snapshot, iid) {
            if let Some(t) = self.tracks.get_mut(&iid) {
                step(&mut t.head, &body);
            }
            let seq = self.take_seq(1);
            self.push(Record {
                seq,
                ts_us,
                conn,
                instance,
                body,
            });
        }
    }

    /// Appends a `Dropped` record that takes the last of `count` sequence
    /// numbers: the stream jumps from `seq - count` to `seq`.
    pub(crate) fn append_dropped(&mut self, ts_us: u64, count: u64, site: DropSite, reason: &str) {
        let seq = self.take_seq(count.max(1));
        self.push(Record {
            seq,
            ts_us,
            conn: 0,
            instance: None,
            body: RecordBody::Dropped {
                count,
                site,
                reason: reason.to_owned(),
            },
        });
    }

    /// Appends a record that belongs to no instance.
    pub(crate) fn append_plain(&mut self, ts_us: u64, body: RecordBody) {
        let seq = self.take_seq(1);
        self.push(Record {
            seq,
            ts_us,
            conn: 0,
            instance: None,
            body,
        });
    }

    /// Reserves `n` sequence numbers and returns the last.
    fn take_seq(&mut self, n: u64) -> u64 {
        self.next_seq += n;
        self.next_seq - 1
    }

    fn push(&mut self, record: Record) {
        let size = record_size(&record);
        self.bytes += size;
        self.records.push_back((record, size));
        while self.records.len() > self.capacity
            || (self.bytes > self.max_bytes && self.records.len() > 1)
        {
            self.evict_front();
        }
    }

    fn evict_front(&mut self) {
        let Some((r, size)) = self.records.pop_front() else {
            return;
        };
        self.bytes -= size;
        self.fold(&r);
    }

    fn fold(&mut self, r: &Record) {
        let Some(iid) = r.instance.as_ref().map(|i| i.iid) else {
            return;
        };
        if matches!(r.body, RecordBody::Unmount { .. }) {
            self.tracks.remove(&iid);
            return;
        }
        if let Some(t) = self.tracks.get_mut(&iid) {
            step(&mut t.base, &r.body);
            t.base_seq = r.seq;
            t.base_ts = r.ts_us;
        }
    }

    /// Forgets every record. Live instances keep their newest state as base
    /// so that `state_at` and export still work for them.
    pub(crate) fn clear(&mut self) {
        while !self.records.is_empty() {
            self.evict_front();
        }
        self.cleared_below = self.next_seq;
        for t in self.tracks.values_mut() {
            t.base.clone_from(&t.head);
        }
    }

    /// State of `iid` at `version` (newest when `None`).
    pub(crate) fn state_at(
        &self,
        iid: u64,
        version: Option<u64>,
    ) -> Result<(u64, Value), StateAtError> {
        let t = self
            .tracks
            .get(&iid)
            .ok_or(StateAtError::UnknownInstance { iid })?;
        let unavailable = StateAtError::VersionUnavailable { iid, version };
        let target = match (version, &t.head) {
            (Some(v), _) => v,
            (None, Some(h)) => h.version,
            (None, None) => return Err(unavailable),
        };
        if let Some(h) = t.head.as_ref().filter(|h| h.version == target) {
            return Ok((h.version, h.state.clone()));
        }
        let mut cur = t.base.clone();
        for (r, _) in &self.records {
            if let Some(v) = cur.as_ref().filter(|v| v.version == target) {
                return Ok((v.version, v.state.clone()));
            }
            if r.instance.as_ref().map(|i| i.iid) == Some(iid) {
                step(&mut cur, &r.body);
            }
        }
        match cur.filter(|v| v.version == target) {
            Some(v) => Ok((v.version, v.state)),
            None => Err(unavailable),
        }
    }

    /// Records from `cursor` on that pass `filter`, at most `max`; advances
    /// `cursor`. A reader behind the oldest held record first gets a
    /// `Dropped { site: subscriber }` record standing for what it missed.
    pub(crate) fn read(
        &self,
        cursor: &mut u64,
        filter: &Filter,
        max: usize,
        now_us: u64,
    ) -> ReadOutcome {
        let mut out = ReadOutcome {
            records: Vec::new(),
            missed: 0,
            more: false,
        };
        let oldest = self.records.front().map_or(self.next_seq, |(r, _)| r.seq);
        if *cursor < oldest {
            let from = (*cursor).max(self.cleared_below);
            if from < oldest {
                let count = oldest - from;
                out.missed = count;
                out.records.push(Record {
                    seq: oldest - 1,
                    ts_us: now_us,
                    conn: 0,
                    instance: None,
                    body: RecordBody::Dropped {
                        count,
                        site: DropSite::Subscriber,
                        reason: format!(
                            "subscriber fell behind: {count} records evicted before it read them"
                        ),
                    },
                });
            }
            *cursor = oldest;
        }
        let start = self.records.partition_point(|(r, _)| r.seq < *cursor);
        // Bound the work done under the lock when a filter matches little.
        let scan_limit = 65_536;
        for (scanned, (r, _)) in self.records.range(start..).enumerate() {
            if scanned >= scan_limit || out.records.len() >= max {
                out.more = true;
                break;
            }
            *cursor = r.seq + 1;
            if filter.matches(r) {
                out.records.push(r.clone());
            }
        }
        out
    }

    /// The session file: a snapshot of each instance whose base was folded
    /// from evicted records (numbered with the sequence number of the last
    /// record folded into it, so numbers stay increasing and unique), then
    /// every held record.
    pub(crate) fn export(&self, runtime: &str, started_unix_us: u64) -> Session {
        let oldest = self.records.front().map_or(self.next_seq, |(r, _)| r.seq);
        let mut snapshots: Vec<Record> = self
            .tracks
            .values()
            .filter(|t| t.base_seq > 0 && t.base_seq < oldest)
            .filter_map(|t| {
                let base = t.base.as_ref()?;
                Some(Record {
                    seq: t.base_seq,
                    ts_us: t.base_ts,
                    conn: t.conn,
                    instance: Some(t.inst.clone()),
                    body: RecordBody::Snapshot {
                        version: base.version,
                        state: base.state.clone(),
                    },
                })
            })
            .collect();
        snapshots.sort_by_key(|r| r.seq);
        let records: Vec<Record> = snapshots
            .into_iter()
            .chain(self.records.iter().map(|(r, _)| r.clone()))
            .collect();
        Session {
            header: SessionHeader::new(runtime, started_unix_us, records.len() as u64),
            records,
        }
    }
}

/// Approximate memory held by a record, for the byte budget.
fn record_size(r: &Record) -> usize {
    const FIXED: usize = 192;
    let unbounded = usize::MAX;
    let inst = r
        .instance
        .as_ref()
        .map_or(0, |i| i.id.len() + i.component.len());
    let body = match &r.body {
        RecordBody::Mount { props, state, .. } => {
            approx_size(props, unbounded) + approx_size(state, unbounded)
        }
        RecordBody::Snapshot { state, .. } => approx_size(state, unbounded),
        RecordBody::Action(a) => {
            let out = match &a.outcome {
                fluxlive_protocol::record::Outcome::Ok { result } => approx_size(result, unbounded),
                fluxlive_protocol::record::Outcome::Err { message, .. } => message.len(),
            };
            a.method.len() + approx_size(&a.args, unbounded) + out + 96
        }
        RecordBody::Diff(d) => d
            .ops
            .0
            .iter()
            .map(|op| match op {
                json_patch::PatchOperation::Add(o) => o.path.as_str().len() + approx_size(&o.value, unbounded),
                json_patch::PatchOperation::Replace(o) => o.path.as_str().len() + approx_size(&o.value, unbounded),
                json_patch::PatchOperation::Test(o) => o.path.as_str().len() + approx_size(&o.value, unbounded),
                json_patch::PatchOperation::Remove(o) => o.path.as_str().len(),
                json_patch::PatchOperation::Move(o) => o.path.as_str().len() + o.from.as_str().len(),
                json_patch::PatchOperation::Copy(o) => o.path.as_str().len() + o.from.as_str().len(),
            } + 48)
            .sum(),
        RecordBody::Emit { name, data } => name.len() + approx_size(data, unbounded),
        RecordBody::Panic { method, message } => method.len() + message.len(),
        RecordBody::Dropped { reason, .. } => reason.len(),
        RecordBody::ConnClose { reason } => reason.len(),
        RecordBody::ConnOpen { peer } => peer.as_ref().map_or(0, String::len),
        RecordBody::Render(r) => r.trace.as_ref().map_or(0, String::len),
        RecordBody::ClientSpan(s) => s.method.len() + s.trace.len(),
        RecordBody::Unmount { .. }
        | RecordBody::Resume { .. }
        | RecordBody::TimeTravel { .. }
        | RecordBody::Recording { .. } => 0,
    };
    FIXED + inst + body
}
