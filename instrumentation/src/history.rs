//! The flight recorder: the last N records (and at most a byte budget), plus
//! per-instance state folding so that state at any held version can be
//! rebuilt after older records were evicted.
//!
//! Entries are kept as the hot path encoded them ([`wire`]):
//! their bytes live in a chunked arena owned by the history, and a small
//! index entry per pushed event says where, with the fields filters and
//! folds need (kind, instance, type). Turning bytes into a protocol
//! [`Record`] (strings, redaction, size caps) happens only when somebody
//! reads it, so a recorder nobody is watching costs the collector a copy
//! per event and a fold per evicted diff.
//!
//! Each instance evicted at least once has a *base*: its (redacted) state
//! after every evicted entry, the "committed state" of Redux DevTools.
//! Rebuilding version `v` starts from the base and replays the instance's
//! held diffs. States rebuilt here are always in the redacted domain (a
//! redacted base, patches passed through [`redact_ops`](crate::redact::redact_ops)), exactly like a
//! reader rebuilding from the records it was sent.

use crate::clock::Instant;
use crate::codec::Reader;
use crate::convert::{materialize, Caps};
use crate::error::StateAtError;
use crate::event::TypeMeta;
use crate::fold;
use crate::redact::redact_top;
use crate::wire::{self, kind, Header, Made, StateChange};
use fluxlive_protocol::debug::{Filter, HistoryBounds};
use fluxlive_protocol::record::{DropSite, Record, RecordBody, RecordKind};
use fluxlive_protocol::session::{Session, SessionHeader};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

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
    let Some(v) = due(cur, base, version) else {
        return;
    };
    // On failure the state is dropped, so the undo log of `patch` is not needed.
    if let Err(e) = json_patch::patch_unsafe(&mut v.state, ops) {
        tracing::warn!(target: "fluxlive::recorder", error = %e, "recorded diff does not apply");
        *cur = None;
        return;
    }
    v.version = version;
}

/// The tracked state when a diff from `base` to `version` is due on it;
/// `None` when there is nothing to do (unknown, or already at `version`).
/// A diff whose base is not the tracked version makes the state unknown.
fn due(cur: &mut Option<Versioned>, base: u64, version: u64) -> Option<&mut Versioned> {
    let have = cur.as_ref()?.version;
    if have == version && version != base {
        // Already there: a snapshot taken at this version came first.
        return None;
    }
    if have != base {
        tracing::debug!(
            target: "fluxlive::recorder",
            have,
            base,
            "diff does not apply to the tracked version"
        );
        *cur = None;
        return None;
    }
    cur.as_mut()
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

/// Applies an entry's state effect to a redacted versioned state.
fn apply_change(cur: &mut Option<Versioned>, meta: &TypeMeta, change: StateChange) {
    match change {
        StateChange::Set { version, mut state } => {
            redact_top(meta, &mut state);
            *cur = Some(Versioned { version, state });
        }
        StateChange::Patch {
            base,
            version,
            mut ops,
        } => {
            let Some(v) = due(cur, base, version) else {
                return;
            };
            match fold::apply_encoded(&mut ops, &mut v.state, meta) {
                Ok(()) => v.version = version,
                Err(e) => {
                    tracing::warn!(target: "fluxlive::recorder", error = %e, "recorded diff does not apply");
                    *cur = None;
                }
            }
        }
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

/// A type for entries whose type index is unknown (cannot happen: the
/// registry only grows and is synced before entries are appended).
static UNKNOWN: TypeMeta = TypeMeta::new("unknown");

/// Where an entry's bytes are.
#[derive(Debug, Clone, Copy)]
struct Loc {
    chunk: u64,
    off: u32,
    len: u32,
}

/// One held entry: the index of one pushed event (or collector-made record).
/// An action carrying its diff and emits stands for several records (diff,
/// emits, action, in that order) with consecutive sequence numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    /// Sequence number of the entry's first record.
    pub(crate) seq: u64,
    pub(crate) ts_us: u64,
    pub(crate) hdr: Header,
    loc: Loc,
}

impl Entry {
    /// Records the entry stands for (at least 1).
    pub(crate) fn span(&self) -> u64 {
        u64::from(self.hdr.span.max(1))
    }

    /// Sequence number of the entry's last record.
    pub(crate) fn last_seq(&self) -> u64 {
        self.seq + self.span() - 1
    }

    fn record_kind(&self) -> RecordKind {
        match self.hdr.kind {
            kind::CONN_OPEN => RecordKind::ConnOpen,
            kind::CONN_CLOSE => RecordKind::ConnClose,
            kind::MOUNT => RecordKind::Mount,
            kind::UNMOUNT => RecordKind::Unmount,
            kind::RESUME => RecordKind::Resume,
            kind::ACTION => RecordKind::Action,
            kind::DIFF => RecordKind::Diff,
            kind::RENDER => RecordKind::Render,
            kind::CLIENT_SPAN => RecordKind::ClientSpan,
            kind::EMIT => RecordKind::Emit,
            kind::PANIC => RecordKind::Panic,
            kind::TIME_TRAVEL => RecordKind::TimeTravel,
            kind::SNAPSHOT => RecordKind::Snapshot,
            kind::DROPPED => RecordKind::Dropped,
            _ => RecordKind::Recording,
        }
    }
}

/// Chunk size of the arena: big enough that chunk turnover is rare.
const CHUNK: usize = 256 << 10;

/// The bytes of held entries, in chunks freed whole once every entry in
/// them was evicted (entries are evicted oldest first).
#[derive(Debug, Default)]
struct Arena {
    chunks: VecDeque<Chunk>,
    /// Id of `chunks[0]`.
    first: u64,
    /// Emptied chunks kept for reuse (no page faults on the next ones).
    spare: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    live: u32,
}

impl Arena {
    /// Appends `parts` (one entry's bytes, split where a ring wraps) and
    /// returns where they are, with the bytes as stored.
    fn push(&mut self, parts: [&[u8]; 2]) -> (Loc, &[u8]) {
        let n = parts[0].len() + parts[1].len();
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.data.capacity() - c.data.len() >= n);
        if !fits {
            let mut data = self.spare.pop().unwrap_or_default();
            data.clear();
            data.reserve(CHUNK.max(n));
            self.chunks.push_back(Chunk { data, live: 0 });
        }
        let chunk = self.first + self.chunks.len() as u64 - 1;
        let Some(c) = self.chunks.back_mut() else {
            // Just pushed one.
            return (
                Loc {
                    chunk,
                    off: 0,
                    len: 0,
                },
                &[],
            );
        };
        let off = c.data.len();
        // Extending (not resizing, then copying) writes each byte once.
        c.data.extend_from_slice(parts[0]);
        c.data.extend_from_slice(parts[1]);
        c.live += 1;
        let loc = Loc {
            chunk,
            off: u32::try_from(off).unwrap_or(u32::MAX),
            len: u32::try_from(n).unwrap_or(u32::MAX),
        };
        (loc, &c.data[off..off + n])
    }

    fn get(&self, loc: Loc) -> &[u8] {
        let Some(c) = usize::try_from(loc.chunk - self.first)
            .ok()
            .and_then(|i| self.chunks.get(i))
        else {
            return &[];
        };
        let (off, len) = (loc.off as usize, loc.len as usize);
        c.data.get(off..off + len).unwrap_or(&[])
    }

    fn release(&mut self, loc: Loc) {
        if let Some(c) = usize::try_from(loc.chunk - self.first)
            .ok()
            .and_then(|i| self.chunks.get_mut(i))
        {
            c.live = c.live.saturating_sub(1);
        }
        // Free whole chunks from the front; keep the one being filled.
        while self.chunks.len() > 1 && self.chunks.front().is_some_and(|c| c.live == 0) {
            if let Some(c) = self.chunks.pop_front() {
                self.first += 1;
                if self.spare.len() < 2 {
                    self.spare.push(c.data);
                }
            }
        }
    }
}

/// What the history keeps per instance once one of its entries was evicted.
#[derive(Debug)]
struct Track {
    id: String,
    type_idx: u32,
    conn: u64,
    /// Redacted state after every evicted entry of this instance but the
    /// deferred diff ([`Track::state`] is both).
    base: Option<Versioned>,
    deferred: Deferred,
    /// Sequence number and timestamp of the last entry folded into `base`.
    base_seq: u64,
    base_ts: u64,
}

/// Encoded ops longer than this are applied at once rather than deferred,
/// so that a track keeps at most this much besides its state.
const DEFER_MAX: usize = 256;

/// An evicted diff of replace ops only, not applied to the base yet.
///
/// Why: most evicted diffs of an instance replace the same paths as the
/// one before (a counter's `/count`, a form's field), and then the earlier
/// one never needs applying ([`fold::same_replaces`]). Folding each one was
/// the collector's largest cost per action (decode the value, walk the
/// path, drop the old value: about 70 ns of 200 in a load-generator
/// profile); now a run of them costs a path comparison each and one
/// application at the end.
#[derive(Debug, Default)]
struct Deferred {
    /// Base and version of the deferred diff; `None` when none is.
    span: Option<(u64, u64)>,
    /// Its encoded ops (the buffer is reused).
    ops: Vec<u8>,
    /// Whether it has superseded an earlier deferred diff.
    superseding: bool,
    /// Diffs to apply at once without looking at their shape, after a
    /// deferred diff that nothing superseded; `backoff` doubles with every
    /// such miss in a row (up to 64) and resets on a hit, so an instance
    /// whose diffs alternate between fields soon stops paying for the look.
    skip: u8,
    backoff: u8,
}

impl Deferred {
    /// Defers the diff from `from` to `version` whose ops are `ops`,
    /// `superseding` one deferred before it.
    fn hold(&mut self, from: u64, version: u64, ops: &[u8], superseding: bool) {
        self.span = Some((from, version));
        self.superseding = superseding;
        self.ops.clear();
        self.ops.extend_from_slice(ops);
    }

    /// Applies the deferred diff, if any, to `cur`.
    fn apply_to(&self, cur: &mut Option<Versioned>, meta: &TypeMeta) {
        if let Some((base, version)) = self.span {
            let ops = Reader::new(&self.ops);
            apply_change(cur, meta, StateChange::Patch { base, version, ops });
        }
    }
}

impl Track {
    /// Applies the deferred diff, if any, to the base.
    fn settle(&mut self, meta: &TypeMeta) {
        self.deferred.apply_to(&mut self.base, meta);
        self.deferred.span = None;
    }

    /// Folds an evicted diff from `base` to `version` in. A diff that
    /// continues the deferred one and replaces the same paths supersedes
    /// it; otherwise the deferred one is applied, and the new one deferred
    /// when it replaces paths only and continues from the base, or applied
    /// at once (where [`due`] judges it exactly as it would have one step
    /// at a time). After a deferred diff that nothing superseded, the next
    /// few diffs are applied at once without looking at their shape
    /// ([`Deferred::skip`]).
    fn fold_patch(&mut self, meta: &TypeMeta, base: u64, version: u64, ops: Reader<'_>) {
        let bytes = ops.rest();
        if let Some((from, v)) = self.deferred.span {
            if v == base {
                if let Some(n) = fold::same_replaces(bytes, &self.deferred.ops) {
                    let d = &mut self.deferred;
                    d.backoff = 0;
                    d.hold(from, version, &bytes[..n], true);
                    return;
                }
            }
            let d = &mut self.deferred;
            if !d.superseding {
                d.backoff = d.backoff.saturating_mul(2).clamp(1, 64);
                d.skip = d.backoff;
            }
            self.settle(meta);
        }
        if self.deferred.skip > 0 {
            self.deferred.skip -= 1;
        } else if self.base_version() == Some(base) {
            if let Some(n) = fold::replace_only(bytes).filter(|&n| n <= DEFER_MAX) {
                self.deferred.hold(base, version, &bytes[..n], false);
                return;
            }
        }
        apply_change(
            &mut self.base,
            meta,
            StateChange::Patch { base, version, ops },
        );
    }

    fn base_version(&self) -> Option<u64> {
        self.base.as_ref().map(|b| b.version)
    }

    /// The instance's state after every evicted entry.
    fn state(&self, meta: &TypeMeta) -> Option<Versioned> {
        let mut cur = self.base.clone();
        self.deferred.apply_to(&mut cur, meta);
        cur
    }
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
    /// Bytes held: entry bytes plus the index.
    bytes: usize,
    /// Records held (entries can stand for several).
    held: usize,
    entries: VecDeque<Entry>,
    arena: Arena,
    next_seq: u64,
    /// Sequence numbers below this were forgotten by `clear`, not evicted.
    cleared_below: u64,
    tracks: IidMap<Track>,
    caps: Caps,
    /// The recorder's start: entry times count from it.
    start: Instant,
    /// The recorder's type registry (index → type), synced by the collector.
    types: Vec<&'static TypeMeta>,
    scratch: Vec<u8>,
}

impl History {
    pub(crate) fn new(capacity: usize, max_bytes: usize, caps: Caps, start: Instant) -> Self {
        Self {
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            held: 0,
            entries: VecDeque::new(),
            arena: Arena::default(),
            next_seq: 1,
            cleared_below: 1,
            tracks: IidMap::default(),
            caps,
            start,
            types: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Takes the registry's newer types.
    pub(crate) fn sync_types(&mut self, registry: &[&'static TypeMeta]) {
        if registry.len() > self.types.len() {
            self.types = registry.to_vec();
        }
    }

    pub(crate) fn types_len(&self) -> usize {
        self.types.len()
    }

    fn meta(&self, hdr: &Header) -> Option<&'static TypeMeta> {
        hdr.has_instance().then(|| {
            self.types
                .get(hdr.type_idx as usize)
                .copied()
                .unwrap_or(&UNKNOWN)
        })
    }

    pub(crate) fn bounds(&self) -> HistoryBounds {
        HistoryBounds {
            capacity: self.capacity,
            oldest_seq: self.entries.front().map_or(0, |e| e.seq),
            next_seq: self.next_seq,
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Approximate bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.held
    }

    /// Appends one encoded event, given as its bytes (in two parts where
    /// its ring wrapped). Returns the entry's header.
    pub(crate) fn append(&mut self, parts: [&[u8]; 2]) -> Option<Header> {
        let (loc, stored) = self.arena.push(parts);
        let hdr = match Header::read(stored) {
            Ok(h) => h,
            Err(_) => {
                tracing::error!(target: "fluxlive::recorder", "a ring entry did not read back; dropped");
                self.arena.release(loc);
                return None;
            }
        };
        self.index(hdr, loc);
        Some(hdr)
    }

    /// Appends a record the collector makes.
    pub(crate) fn append_made(&mut self, made: &Made<'_>, at_ns: u64) {
        let mut buf = std::mem::take(&mut self.scratch);
        wire::encode_made(made, at_ns, &mut buf);
        self.append([&buf, &[]]);
        self.scratch = buf;
    }

    /// Appends a `Dropped` record that takes the last of `count` sequence
    /// numbers: the stream jumps from `seq - count` to `seq`.
    pub(crate) fn append_dropped(&mut self, at_ns: u64, count: u64, site: DropSite, reason: &str) {
        self.append_made(
            &Made::Dropped {
                count,
                site,
                reason,
            },
            at_ns,
        );
    }

    fn index(&mut self, hdr: Header, loc: Loc) {
        // A `Dropped` record takes the last of its `count` numbers.
        let reserve = if hdr.kind == kind::DROPPED {
            wire::dropped_count(&hdr, self.arena.get(loc)).max(1)
        } else {
            u64::from(hdr.span.max(1))
        };
        self.next_seq += reserve;
        let seq = self.next_seq - u64::from(hdr.span.max(1));
        let entry = Entry {
            seq,
            ts_us: hdr.at_ns / 1_000,
            hdr,
            loc,
        };
        self.bytes += loc.len as usize + std::mem::size_of::<Entry>();
        self.held += entry.span() as usize;
        self.entries.push_back(entry);
        // Evict in batches: the oldest entries are cold in cache, and a tight
        // run over consecutive ones lets the hardware prefetch them (one at a
        // time, each eviction was a cache miss on the collector).
        let slack = self.capacity / 32;
        let byte_slack = self.max_bytes / 32;
        if self.held > self.capacity + slack || self.bytes > self.max_bytes + byte_slack {
            // The newest entry always stays, even when it alone is over a bound.
            while self.entries.len() > 1
                && (self.held > self.capacity || self.bytes > self.max_bytes)
            {
                self.evict_front();
            }
        }
        if hdr.kind == kind::TIME_TRAVEL && hdr.has_instance() {
            self.snapshot_after_travel(&entry);
        }
    }

    /// After a time travel, a `Snapshot` of the restored state, so that the
    /// new version can be rebuilt without the old one.
    fn snapshot_after_travel(&mut self, e: &Entry) {
        let decoded = wire::decode(&e.hdr, self.arena.get(e.loc), self.start);
        let (id, target, version) = match decoded {
            Ok(wire::Decoded::Event {
                id: Some(id),
                body: crate::event::EventBody::TimeTravel { target, version },
            }) => (id, target, version),
            _ => return,
        };
        match self.state_at(e.hdr.iid, Some(target)) {
            Ok((_, state, _)) => {
                // Already redacted: redacting again on read is harmless.
                let made = Made::Snapshot {
                    id: &id,
                    iid: e.hdr.iid,
                    type_idx: e.hdr.type_idx,
                    conn: e.hdr.conn,
                    version,
                    state: &state,
                };
                self.append_made(&made, e.hdr.at_ns);
            }
            Err(err) => {
                tracing::debug!(target: "fluxlive::recorder", error = %err, "time travel target not held");
            }
        }
    }

    fn evict_front(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        self.bytes -= e.loc.len as usize + std::mem::size_of::<Entry>();
        self.held -= e.span() as usize;
        self.fold(&e);
        self.arena.release(e.loc);
    }

    /// Folds an evicted entry into its instance's base. Only entries that
    /// change state (or end the instance) touch the track.
    fn fold(&mut self, e: &Entry) {
        if !e.hdr.has_instance() {
            return;
        }
        match e.hdr.kind {
            kind::UNMOUNT => {
                self.tracks.remove(&e.hdr.iid);
            }
            kind::MOUNT | kind::SNAPSHOT | kind::DIFF | kind::ACTION => {
                let bytes = self.arena.get(e.loc);
                let change = match wire::state_change(&e.hdr, bytes) {
                    Ok(Some(c)) => c,
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(target: "fluxlive::recorder", error = %err, "evicted entry does not decode");
                        return;
                    }
                };
                let meta = self.meta(&e.hdr).unwrap_or(&UNKNOWN);
                let t = match self.tracks.entry(e.hdr.iid) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(Track {
                        id: wire::instance_id(&e.hdr, bytes)
                            .unwrap_or_default()
                            .to_owned(),
                        type_idx: e.hdr.type_idx,
                        conn: e.hdr.conn,
                        base: None,
                        deferred: Deferred::default(),
                        base_seq: 0,
                        base_ts: 0,
                    }),
                };
                match change {
                    StateChange::Patch { base, version, ops } => {
                        t.fold_patch(meta, base, version, ops);
                    }
                    set @ StateChange::Set { .. } => {
                        t.deferred.span = None;
                        apply_change(&mut t.base, meta, set);
                    }
                }
                t.base_seq = e.last_seq();
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
        let mut meta = track.and_then(|t| self.types.get(t.type_idx as usize).copied());
        let mut cur = track.and_then(|t| t.state(meta.unwrap_or(&UNKNOWN)));
        if let (Some(v), Some(m)) = (version, meta) {
            if let Some(c) = cur.as_ref().filter(|c| c.version == v) {
                return Ok((c.version, c.state.clone(), m));
            }
        }
        for e in &self.entries {
            if !e.hdr.has_instance() || e.hdr.iid != iid {
                continue;
            }
            let m = self.meta(&e.hdr).unwrap_or(&UNKNOWN);
            meta = Some(m);
            if !matches!(
                e.hdr.kind,
                kind::MOUNT | kind::SNAPSHOT | kind::DIFF | kind::ACTION
            ) {
                continue;
            }
            if let Ok(Some(change)) = wire::state_change(&e.hdr, self.arena.get(e.loc)) {
                apply_change(&mut cur, m, change);
            }
            if let (Some(c), Some(v)) = (&cur, version) {
                if c.version == v {
                    return Ok((c.version, c.state.clone(), m));
                }
            }
        }
        let Some(meta) = meta else {
            return Err(StateAtError::UnknownInstance { iid });
        };
        match (version, cur) {
            (None, Some(c)) => Ok((c.version, c.state, meta)),
            _ => Err(StateAtError::VersionUnavailable { iid, version }),
        }
    }

    /// The records an entry stands for, from sequence number `from` on.
    fn records_of(&self, e: &Entry, from: u64, out: &mut Vec<Record>) {
        materialize(
            e,
            self.arena.get(e.loc),
            self.meta(&e.hdr),
            from,
            self.caps,
            self.start,
            out,
        );
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
        let first = self.entries.partition_point(|e| e.last_seq() < *cursor);
        // Bound the work done under the lock when a filter matches little.
        let scan_limit = 65_536;
        let mut parts = Vec::new();
        for (scanned, e) in self.entries.range(first..).enumerate() {
            if scanned >= scan_limit || out.records.len() >= max {
                out.more = true;
                break;
            }
            let from = *cursor;
            *cursor = e.last_seq() + 1;
            if !self.could_match(filter, e) {
                continue;
            }
            self.records_of(e, from, &mut parts);
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
        let oldest = self.entries.front().map_or(self.next_seq, |e| e.seq);
        let mut skipped = oldest.saturating_sub((*cursor).max(self.cleared_below));
        let first = self.entries.partition_point(|e| e.last_seq() < *cursor);
        for e in self.entries.range(first..) {
            if e.hdr.kind != kind::DROPPED {
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
        let oldest = self.entries.front().map_or(self.next_seq, |e| e.seq);
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
        let oldest = self.entries.front().map_or(self.next_seq, |e| e.seq);
        let mut snapshots: Vec<Record> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.base_seq > 0 && t.base_seq < oldest)
            .filter_map(|(iid, t)| {
                let meta = self
                    .types
                    .get(t.type_idx as usize)
                    .copied()
                    .unwrap_or(&UNKNOWN);
                let base = t.state(meta)?;
                Some(Record {
                    seq: t.base_seq,
                    ts_us: t.base_ts,
                    conn: t.conn,
                    instance: Some(fluxlive_protocol::record::InstanceRef {
                        iid: *iid,
                        id: t.id.clone(),
                        component: meta.name.to_owned(),
                    }),
                    body: RecordBody::Snapshot {
                        version: base.version,
                        state: base.state,
                    },
                })
            })
            .collect();
        snapshots.sort_by_key(|r| r.seq);
        let mut records = snapshots;
        for e in &self.entries {
            self.records_of(e, 0, &mut records);
        }
        Session {
            header: SessionHeader::new(runtime, started_unix_us, records.len() as u64),
            records,
        }
    }

    /// A cheap pre-check of `filter` on an entry, so that a narrow filter
    /// does not pay for decoding entries it rejects. Never rejects an entry
    /// whose records would match: the full [`Filter::matches`] runs afterwards.
    fn could_match(&self, filter: &Filter, e: &Entry) -> bool {
        let kind = e.record_kind();
        if kind == RecordKind::Dropped {
            return true;
        }
        let several = e.span() > 1;
        if !filter.kinds.is_empty()
            && !filter.kinds.contains(&kind)
            && !(several
                && (filter.kinds.contains(&RecordKind::Diff)
                    || filter.kinds.contains(&RecordKind::Emit)))
        {
            return false;
        }
        if !filter.instances.is_empty() || !filter.types.is_empty() {
            let Some(meta) = self.meta(&e.hdr) else {
                return false;
            };
            if !filter.instances.is_empty() && !filter.instances.contains(&e.hdr.iid) {
                return false;
            }
            if !filter.types.is_empty() && !filter.types.iter().any(|t| t == meta.name) {
                return false;
            }
        }
        if !filter.methods.is_empty() {
            // Only action records match a method filter.
            if kind != RecordKind::Action {
                return false;
            }
            if let Ok(method) = wire::action_method(&e.hdr, self.arena.get(e.loc)) {
                if !filter.methods.iter().any(|m| m == method) {
                    return false;
                }
            }
        }
        true
    }
}
