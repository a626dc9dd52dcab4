//! The flight recorder: the last N entries (and at most a byte budget), plus
//! per-instance state folding so that state at any held version can be
//! rebuilt after older entries were evicted.
//!
//! Entries are kept as the runtime pushed them ([`Entry`]): turning one into
//! a protocol [`Record`] (strings, redaction, size caps) happens only when
//! somebody reads it, so a recorder nobody is watching costs the collector
//! a move per event and a fold per evicted diff, not a conversion.
//!
//! Each instance evicted at least once has a *base*: its (redacted) state
//! after every evicted entry, the "committed state" of Redux DevTools.
//! Rebuilding version `v` starts from the base and replays the instance's
//! held diffs. States rebuilt here are always in the redacted domain (a
//! redacted base, patches passed through [`redact_ops`]), exactly like a
//! reader rebuilding from the records it was sent.

use crate::convert::{materialize, Caps};
use crate::error::StateAtError;
use crate::event::{EventBody, InstanceKey, TypeMeta};
use crate::redact::{approx_size, redact_ops, redact_top};
use fluxlive_protocol::debug::{Filter, HistoryBounds};
use fluxlive_protocol::record::{DropSite, Record, RecordBody, RecordKind};
use fluxlive_protocol::session::{Session, SessionHeader};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// One held entry: an event as pushed, or a recorder-made record. An
/// action carrying its diff and emits stands for several records (diff,
/// emits, action, in that order) with consecutive sequence numbers.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Sequence number of the entry's first record.
    pub(crate) seq: u64,
    /// Records the entry stands for (at least 1).
    pub(crate) span: u32,
    pub(crate) ts_us: u64,
    pub(crate) conn: u64,
    pub(crate) instance: Option<InstanceKey>,
    pub(crate) body: Body,
}

/// What an [`Entry`] holds.
// Events stay inline: boxing them would add an allocation per event on the
// collector, and almost every entry is an event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Body {
    Event(EventBody),
    Dropped {
        count: u64,
        site: DropSite,
        reason: Cow<'static, str>,
    },
    Recording {
        on: bool,
    },
}

impl Entry {
    /// Sequence number of the entry's last record.
    pub(crate) fn last_seq(&self) -> u64 {
        self.seq + u64::from(self.span) - 1
    }
}

impl Body {
    /// The record kind of the entry's last (for an action: main) record.
    pub(crate) fn kind(&self) -> RecordKind {
        match self {
            Body::Dropped { .. } => RecordKind::Dropped,
            Body::Recording { .. } => RecordKind::Recording,
            Body::Event(ev) => match ev {
                EventBody::ConnOpen { .. } => RecordKind::ConnOpen,
                EventBody::ConnClose { .. } => RecordKind::ConnClose,
                EventBody::Mount { .. } => RecordKind::Mount,
                EventBody::Unmount { .. } => RecordKind::Unmount,
                EventBody::Resume { .. } => RecordKind::Resume,
                EventBody::Action { .. } => RecordKind::Action,
                EventBody::Diff { .. } => RecordKind::Diff,
                EventBody::Render(_) => RecordKind::Render,
                EventBody::ClientSpan(_) => RecordKind::ClientSpan,
                EventBody::Emit { .. } => RecordKind::Emit,
                EventBody::Panic { .. } => RecordKind::Panic,
                EventBody::TimeTravel { .. } => RecordKind::TimeTravel,
                EventBody::Snapshot { .. } => RecordKind::Snapshot,
            },
        }
    }
}

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
        RecordBody::Diff(d) => apply_diff(cur, d.base, d.version, &d.ops.0),
        _ => {}
    }
}

fn apply_diff(
    cur: &mut Option<Versioned>,
    base: u64,
    version: u64,
    ops: &[json_patch::PatchOperation],
) {
    let Some(v) = cur.as_mut() else { return };
    if v.version == version && version != base {
        // Already there: a snapshot taken at this version came first.
        return;
    }
    if v.version != base {
        tracing::debug!(
            target: "fluxlive::recorder",
            have = v.version,
            base,
            "diff does not apply to the tracked version"
        );
        *cur = None;
        return;
    }
    // On failure the state is dropped, so the undo log of `patch` is not needed.
    if let Err(e) = json_patch::patch_unsafe(&mut v.state, ops) {
        tracing::warn!(target: "fluxlive::recorder", error = %e, "recorded diff does not apply");
        *cur = None;
        return;
    }
    v.version = version;
}

/// Applies a held event's effect to a redacted versioned state, by reference.
fn step_event(cur: &mut Option<Versioned>, meta: &TypeMeta, ev: &EventBody) {
    match ev {
        EventBody::Mount { version, state, .. } | EventBody::Snapshot { version, state } => {
            let mut state = state.clone();
            redact_top(meta, &mut state);
            *cur = Some(Versioned {
                version: *version,
                state,
            });
        }
        EventBody::Diff {
            base, version, ops, ..
        } => step_ops(cur, meta, *base, *version, ops),
        EventBody::Action { diff: Some(d), .. } => step_ops(cur, meta, d.base, d.version, &d.ops),
        _ => {}
    }
}

fn step_ops(
    cur: &mut Option<Versioned>,
    meta: &TypeMeta,
    base: u64,
    version: u64,
    ops: &json_patch::Patch,
) {
    if meta.redacted_fields.is_empty() {
        apply_diff(cur, base, version, &ops.0);
    } else {
        let ops = redact_ops(meta, ops.clone());
        apply_diff(cur, base, version, &ops.0);
    }
}

/// [`step_event`] for an entry the history owns and drops afterwards: no clone.
fn fold_event(cur: &mut Option<Versioned>, meta: &TypeMeta, ev: EventBody) {
    match ev {
        EventBody::Mount {
            version, mut state, ..
        }
        | EventBody::Snapshot { version, mut state } => {
            redact_top(meta, &mut state);
            *cur = Some(Versioned { version, state });
        }
        EventBody::Diff {
            base, version, ops, ..
        } => {
            let ops = redact_ops(meta, ops);
            apply_diff(cur, base, version, &ops.0);
        }
        EventBody::Action { diff: Some(d), .. } => {
            let ops = redact_ops(meta, d.ops);
            apply_diff(cur, d.base, d.version, &ops.0);
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

/// Instance numbers are small sequential integers: hashing them is wasted work.
#[derive(Default)]
struct IidHasher(u64);

impl Hasher for IidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Spread sequential numbers over the table's high bits too.
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IidMap<V> = HashMap<u64, V, BuildHasherDefault<IidHasher>>;

/// What the history keeps per instance once one of its entries was evicted.
#[derive(Debug)]
struct Track {
    key: InstanceKey,
    conn: u64,
    /// Redacted state after every evicted entry of this instance.
    base: Option<Versioned>,
    /// Sequence number and timestamp of the last entry folded into `base`.
    base_seq: u64,
    base_ts: u64,
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
    /// Records held (entries can stand for several).
    held: usize,
    entries: VecDeque<(Entry, usize)>,
    next_seq: u64,
    /// Sequence numbers below this were forgotten by `clear`, not evicted.
    cleared_below: u64,
    tracks: IidMap<Track>,
    caps: Caps,
    /// The recorder's start, for the timestamps of an action's diff.
    start: Instant,
}

impl History {
    pub(crate) fn new(capacity: usize, max_bytes: usize, caps: Caps, start: Instant) -> Self {
        Self {
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            held: 0,
            entries: VecDeque::new(),
            next_seq: 1,
            cleared_below: 1,
            tracks: IidMap::default(),
            caps,
            start,
        }
    }

    pub(crate) fn bounds(&self) -> HistoryBounds {
        HistoryBounds {
            capacity: self.capacity,
            oldest_seq: self.entries.front().map_or(0, |(e, _)| e.seq),
            next_seq: self.next_seq,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Approximate bytes held by entries.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.held
    }

    /// Appends an event (never an action still carrying parts). After a
    /// time travel it also appends a `Snapshot` of the restored state so
    /// that the new version can be rebuilt without the old one.
    pub(crate) fn append_event(
        &mut self,
        ts_us: u64,
        conn: u64,
        instance: Option<InstanceKey>,
        ev: EventBody,
    ) {
        let travel = match (&ev, &instance) {
            (EventBody::TimeTravel { target, version }, Some(k)) => {
                Some((k.clone(), *target, *version))
            }
            _ => None,
        };
        let span = match &ev {
            EventBody::Action { diff, emits, .. } => {
                1 + u32::from(diff.is_some()) + emits.len() as u32
            }
            _ => 1,
        };
        let seq = self.take_seq(u64::from(span)) + 1 - u64::from(span);
        self.push(Entry {
            seq,
            span,
            ts_us,
            conn,
            instance,
            body: Body::Event(ev),
        });
        if let Some((key, target, version)) = travel {
            match self.state_at(key.iid, Some(target)) {
                Ok((_, state, _)) => {
                    // Already redacted: stored as is, redacting again is harmless.
                    let seq = self.take_seq(1);
                    self.push(Entry {
                        seq,
                        span: 1,
                        ts_us,
                        conn,
                        instance: Some(key),
                        body: Body::Event(EventBody::Snapshot { version, state }),
                    });
                }
                Err(e) => {
                    tracing::debug!(target: "fluxlive::recorder", error = %e, "time travel target not held");
                }
            }
        }
    }

    /// Appends a `Dropped` record that takes the last of `count` sequence
    /// numbers: the stream jumps from `seq - count` to `seq`.
    pub(crate) fn append_dropped(
        &mut self,
        ts_us: u64,
        count: u64,
        site: DropSite,
        reason: &'static str,
    ) {
        let seq = self.take_seq(count.max(1));
        self.push(Entry {
            seq,
            span: 1,
            ts_us,
            conn: 0,
            instance: None,
            body: Body::Dropped {
                count,
                site,
                reason: Cow::Borrowed(reason),
            },
        });
    }

    /// Appends a `Recording` record.
    pub(crate) fn append_recording(&mut self, ts_us: u64, on: bool) {
        let seq = self.take_seq(1);
        self.push(Entry {
            seq,
            span: 1,
            ts_us,
            conn: 0,
            instance: None,
            body: Body::Recording { on },
        });
    }

    /// Reserves `n` sequence numbers and returns the last.
    fn take_seq(&mut self, n: u64) -> u64 {
        self.next_seq += n;
        self.next_seq - 1
    }

    fn push(&mut self, entry: Entry) {
        let size = entry_size(&entry);
        self.bytes += size;
        self.held += entry.span as usize;
        self.entries.push_back((entry, size));
        while self.held > self.capacity || (self.bytes > self.max_bytes && self.entries.len() > 1) {
            self.evict_front();
        }
    }

    fn evict_front(&mut self) {
        let Some((e, size)) = self.entries.pop_front() else {
            return;
        };
        self.bytes -= size;
        self.held -= e.span as usize;
        self.fold(e);
    }

    /// Folds an evicted entry into its instance's base. Only entries that
    /// change state (or end the instance) touch the track.
    fn fold(&mut self, e: Entry) {
        let (Some(key), Body::Event(ev)) = (e.instance, e.body) else {
            return;
        };
        match ev {
            EventBody::Unmount { .. } => {
                self.tracks.remove(&key.iid);
            }
            EventBody::Mount { .. }
            | EventBody::Snapshot { .. }
            | EventBody::Diff { .. }
            | EventBody::Action { diff: Some(_), .. } => {
                let meta = key.meta;
                let t = self.tracks.entry(key.iid).or_insert_with(|| Track {
                    key,
                    conn: e.conn,
                    base: None,
                    base_seq: 0,
                    base_ts: 0,
                });
                fold_event(&mut t.base, meta, ev);
                t.base_seq = e.seq + u64::from(e.span) - 1;
                t.base_ts = e.ts_us;
            }
            _ => {}
        }
    }

    /// Forgets every entry. Each instance's base then holds its newest
    /// state, so `state_at` and export still work for live instances.
    pub(crate) fn clear(&mut self) {
        while !self.entries.is_empty() {
            self.evict_front();
        }
        self.cleared_below = self.next_seq;
    }

    /// Redacted state of `iid` at `version` (newest when `None`), with the
    /// instance's type.
    pub(crate) fn state_at(
        &self,
        iid: u64,
        version: Option<u64>,
    ) -> Result<(u64, Value, &'static TypeMeta), StateAtError> {
        let track = self.tracks.get(&iid);
        let mut meta = track.map(|t| t.key.meta);
        let mut cur = track.and_then(|t| t.base.clone());
        let unavailable = StateAtError::VersionUnavailable { iid, version };
        if let (Some(v), Some(m)) = (version, meta) {
            if let Some(c) = cur.as_ref().filter(|c| c.version == v) {
                return Ok((c.version, c.state.clone(), m));
            }
        }
        for (e, _) in &self.entries {
            let (Some(k), Body::Event(ev)) = (&e.instance, &e.body) else {
                continue;
            };
            if k.iid != iid {
                continue;
            }
            meta = Some(k.meta);
            step_event(&mut cur, k.meta, ev);
            if let (Some(c), Some(v)) = (&cur, version) {
                if c.version == v {
                    return Ok((c.version, c.state.clone(), k.meta));
                }
            }
        }
        let Some(meta) = meta else {
            return Err(StateAtError::UnknownInstance { iid });
        };
        match (version, cur) {
            (None, Some(c)) => Ok((c.version, c.state, meta)),
            _ => Err(unavailable),
        }
    }

    /// Records from `cursor` on that pass `filter`, at most `max`; advances
    /// `cursor`. A reader behind the oldest held entry first gets a
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
        self.catch_up(cursor, now_us, &mut out);
        let first = self
            .entries
            .partition_point(|(e, _)| e.last_seq() < *cursor);
        // Bound the work done under the lock when a filter matches little.
        let scan_limit = 65_536;
        let mut parts = Vec::new();
        for (scanned, (e, _)) in self.entries.range(first..).enumerate() {
            if scanned >= scan_limit || out.records.len() >= max {
                out.more = true;
                break;
            }
            let from = *cursor;
            *cursor = e.last_seq() + 1;
            if !could_match(filter, e) {
                continue;
            }
            materialize(e, from, self.caps, self.start, &mut parts);
            out.records
                .extend(parts.drain(..).filter(|r| filter.matches(r)));
        }
        out
    }

    /// Moves `cursor` past every held entry without reading them; returns
    /// how many records were passed over. `Dropped` records do not count
    /// (they stand for records already lost, and counting their sequence
    /// numbers would feed a shedding consumer's own drop reports back to it).
    pub(crate) fn skip(&self, cursor: &mut u64) -> u64 {
        let oldest = self.entries.front().map_or(self.next_seq, |(e, _)| e.seq);
        let mut skipped = oldest.saturating_sub((*cursor).max(self.cleared_below));
        let first = self
            .entries
            .partition_point(|(e, _)| e.last_seq() < *cursor);
        for (e, _) in self.entries.range(first..) {
            if !matches!(e.body, Body::Dropped { .. }) {
                let from = (*cursor).max(e.seq);
                skipped += e.last_seq() + 1 - from;
            }
        }
        *cursor = self.next_seq;
        skipped
    }

    /// A cursor behind the oldest held entry jumps to it; the records it
    /// missed become one `Dropped { site: subscriber }` record.
    fn catch_up(&self, cursor: &mut u64, now_us: u64, out: &mut ReadOutcome) {
        let oldest = self.entries.front().map_or(self.next_seq, |(e, _)| e.seq);
        if *cursor >= oldest {
            return;
        }
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

    /// The session file: a snapshot of each instance whose base was folded
    /// from evicted entries (numbered with the sequence number of the last
    /// entry folded into it, so numbers stay increasing and unique), then
    /// every held record.
    pub(crate) fn export(&self, runtime: &str, started_unix_us: u64) -> Session {
        let oldest = self.entries.front().map_or(self.next_seq, |(e, _)| e.seq);
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
                    instance: Some(t.key.to_ref()),
                    body: RecordBody::Snapshot {
                        version: base.version,
                        state: base.state.clone(),
                    },
                })
            })
            .collect();
        snapshots.sort_by_key(|r| r.seq);
        let mut records = snapshots;
        for (e, _) in &self.entries {
            materialize(e, 0, self.caps, self.start, &mut records);
        }
        Session {
            header: SessionHeader::new(runtime, started_unix_us, records.len() as u64),
            records,
        }
    }
}

/// A cheap pre-check of `filter` on an entry, so that a narrow filter does
/// not pay for converting entries it rejects. Never rejects an entry whose
/// record would match: the full [`Filter::matches`] runs afterwards.
fn could_match(filter: &Filter, e: &Entry) -> bool {
    let kind = e.body.kind();
    if kind == RecordKind::Dropped {
        return true;
    }
    let several = e.span > 1;
    if !filter.kinds.is_empty()
        && !filter.kinds.contains(&kind)
        && !(several
            && (filter.kinds.contains(&RecordKind::Diff)
                || filter.kinds.contains(&RecordKind::Emit)))
    {
        return false;
    }
    if !filter.instances.is_empty() || !filter.types.is_empty() {
        let Some(k) = &e.instance else {
            return false;
        };
        if !filter.instances.is_empty() && !filter.instances.contains(&k.iid) {
            return false;
        }
        if !filter.types.is_empty() && !filter.types.iter().any(|t| t == k.meta.name) {
            return false;
        }
    }
    if !filter.methods.is_empty() {
        // Only action records match a method filter.
        let Body::Event(EventBody::Action { method, .. }) = &e.body else {
            return false;
        };
        if !filter.methods.iter().any(|m| m == method) {
            return false;
        }
    }
    true
}

/// Approximate memory held by an entry, for the byte budget. Cheap on the
/// collector's path: a diff is sized by its encoded frame, not by walking it.
fn entry_size(e: &Entry) -> usize {
    const FIXED: usize = 224;
    let unbounded = usize::MAX;
    let body = match &e.body {
        Body::Dropped { reason, .. } => reason.len(),
        Body::Recording { .. } => 0,
        Body::Event(ev) => match ev {
            EventBody::Mount { props, state, .. } => {
                approx_size(props, unbounded) + approx_size(state, unbounded)
            }
            EventBody::Snapshot { state, .. } => approx_size(state, unbounded),
            EventBody::Action {
                args,
                outcome,
                diff,
                emits,
                ..
            } => {
                let out = match outcome {
                    Ok(v) => approx_size(v, unbounded),
                    Err((_, message)) => message.len(),
                };
                let diff = diff
                    .as_ref()
                    .map_or(0, |d| FIXED + d.bytes as usize + 48 * d.ops.0.len());
                let emits: usize = emits
                    .iter()
                    .map(|(name, data)| FIXED + name.len() + approx_size(data, unbounded))
                    .sum();
                args.iter()
                    .map(|a| approx_size(a, unbounded))
                    .sum::<usize>()
                    + out
                    + diff
                    + emits
            }
            EventBody::Diff { ops, bytes, .. } => *bytes as usize + 48 * ops.0.len(),
            EventBody::Emit { data, .. } => approx_size(data, unbounded),
            EventBody::Panic { message, .. } => message.len(),
            EventBody::Render(r) => r.trace.as_ref().map_or(0, String::len),
            EventBody::ClientSpan(s) => s.method.len() + s.trace.len(),
            EventBody::ConnOpen { .. }
            | EventBody::ConnClose { .. }
            | EventBody::Unmount { .. }
            | EventBody::Resume { .. }
            | EventBody::TimeTravel { .. } => 0,
        },
    };
    FIXED + body
}
