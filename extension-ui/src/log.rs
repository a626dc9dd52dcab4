//! The record log: one fixed-size [`Row`] per record plus the record body as
//! JSON text in a chunked arena.
//!
//! A million records must fit and stay quick to filter, so nothing here keeps
//! a `serde_json::Value` tree per record: the row holds what lists, filters
//! and the profiler read, and the body is parsed back only for the handful of
//! rows on screen or the one the user opens.

use crate::compact;
use fluxlive_protocol::record::{CallSource, Outcome, Record, RecordBody, RecordKind};
use std::collections::HashMap;

/// Row field value meaning "no instance" / "no name".
pub const NONE: u32 = u32::MAX;

/// Actions at least this long (µs) are marked slow.
pub const SLOW_ACTION_US: u64 = 5_000;

/// Row flag: the record reports a failure.
pub const FLAG_ERROR: u8 = 1;
/// Row flag: the action was slow.
pub const FLAG_SLOW: u8 = 2;
/// Row flag: the action changed the state.
pub const FLAG_CHANGED: u8 = 4;
/// Row flag: the action came from DevTools dispatch.
pub const FLAG_DEBUG: u8 = 8;
/// Row flag: the action came from the replay engine.
pub const FLAG_REPLAY: u8 = 16;
/// Row flag: the stored text is the whole body, not the residue that
/// [`crate::compact`] rebuilds the body from.
pub const FLAG_FULL: u8 = 32;

/// Where a record body's text lives in the [`Arena`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextSpan {
    chunk: u32,
    off: u32,
    len: u32,
}

/// Append-only text storage in fixed chunks, so growing never copies what is
/// already stored (a doubling `String` would briefly need twice the memory).
#[derive(Default, Debug)]
pub struct Arena {
    chunks: Vec<String>,
    bytes: usize,
}

const CHUNK: usize = 1 << 20;

impl Arena {
    /// Stores `text`, returning where it went.
    pub fn push(&mut self, text: &str) -> TextSpan {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + text.len() <= c.capacity());
        if !fits {
            self.chunks
                .push(String::with_capacity(CHUNK.max(text.len())));
        }
        let chunk = self.chunks.len() - 1;
        let buf = &mut self.chunks[chunk];
        let off = buf.len();
        buf.push_str(text);
        self.bytes += text.len();
        TextSpan {
            chunk: u32::try_from(chunk).unwrap_or(u32::MAX),
            off: u32::try_from(off).unwrap_or(u32::MAX),
            len: u32::try_from(text.len()).unwrap_or(u32::MAX),
        }
    }

    /// The text at `span`, empty when the span is not from this arena.
    pub fn get(&self, span: TextSpan) -> &str {
        let start = span.off as usize;
        self.chunks
            .get(span.chunk as usize)
            .and_then(|c| c.get(start..start + span.len as usize))
            .unwrap_or("")
    }

    /// Bytes of text stored.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes reserved (including the unused tail of each chunk).
    pub fn reserved(&self) -> usize {
        self.chunks.iter().map(String::capacity).sum()
    }
}

/// Small strings seen many times (method names, component types) as numbers.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    /// The number for `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(NONE);
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }

    /// The number of `name`, if seen.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The name for `id` (empty for [`NONE`] or unknown ids).
    pub fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Every name, in order of first sight.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// One record, compactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Global sequence number.
    pub seq: u64,
    /// Microseconds since the runtime started.
    pub ts_us: u64,
    /// Version the record is about (after an action, after a diff, rendered…), 0 when none.
    pub version: u64,
    /// Index into the model's instance table, or [`NONE`].
    pub inst: u32,
    /// Interned name: action or span method, event name, panicking method, drop site.
    pub name: u32,
    /// Main duration in µs: action run, diff + encode, render callbacks, client span.
    pub dur_us: u32,
    /// Kind-specific number: diff bytes, render frame µs, drop count, travel target, version before an action.
    pub extra: u32,
    /// Connection id (saturated to u32).
    pub conn: u32,
    /// Second kind-specific number: render apply µs, diff base version.
    pub aux: u32,
    /// The body's JSON text.
    pub body: TextSpan,
    /// Record kind.
    pub kind: RecordKind,
    /// `FLAG_*` bits.
    pub flags: u8,
}

impl Row {
    /// True when the record reports a failure.
    pub fn is_error(&self) -> bool {
        self.flags & FLAG_ERROR != 0
    }

    /// True for a slow action.
    pub fn is_slow(&self) -> bool {
        self.flags & FLAG_SLOW != 0
    }
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The numbers a row keeps about a body: `(name, version, dur_us, extra, aux, flags)`.
fn summarize(body: &RecordBody) -> (Option<&str>, u64, u64, u64, u64, u8) {
    let (name, version, dur, extra, flags) = summarize_main(body);
    let aux = match body {
        RecordBody::Render(r) => r.apply_us,
        RecordBody::Diff(d) => d.base,
        _ => 0,
    };
    (name, version, dur, extra, aux, flags)
}

fn summarize_main(body: &RecordBody) -> (Option<&str>, u64, u64, u64, u8) {
    match body {
        RecordBody::Action(a) => {
            let mut flags = 0;
            if matches!(a.outcome, Outcome::Err { .. }) {
                flags |= FLAG_ERROR;
            }
            if a.dur_us >= SLOW_ACTION_US {
                flags |= FLAG_SLOW;
            }
            if a.version_after != a.version_before {
                flags |= FLAG_CHANGED;
            }
            // Other sources (events, timers…) travel in the stored residue.
            if a.source == CallSource::Debug {
                flags |= FLAG_DEBUG;
            } else if a.source == CallSource::Replay {
                flags |= FLAG_REPLAY;
            }
            (
                Some(&a.method),
                a.version_after,
                a.dur_us,
                a.version_before,
                flags,
            )
        }
        RecordBody::Diff(d) => (
            None,
            d.version,
            d.diff_us + d.encode_us,
            u64::from(d.bytes),
            0,
        ),
        RecordBody::Render(r) => (None, r.version, r.render_us, r.frame_us, 0),
        RecordBody::ClientSpan(s) => {
            let flags = if s.error.is_some() { FLAG_ERROR } else { 0 };
            (Some(&s.method), 0, s.dur_us, 0, flags)
        }
        RecordBody::Emit { name, .. } => (Some(name), 0, 0, 0, 0),
        RecordBody::Panic { method, .. } => (Some(method), 0, 0, 0, FLAG_ERROR),
        RecordBody::Mount { version, .. }
        | RecordBody::Unmount { version, .. }
        | RecordBody::Resume { version }
        | RecordBody::Snapshot { version, .. } => (None, *version, 0, 0, 0),
        RecordBody::TimeTravel { target, version } => (None, *version, 0, *target, 0),
        RecordBody::Dropped { count, site, .. } => {
            let site = match site {
                fluxlive_protocol::record::DropSite::Ring => "ring",
                fluxlive_protocol::record::DropSite::Subscriber => "subscriber",
                fluxlive_protocol::record::DropSite::Exporter => "exporter",
                fluxlive_protocol::record::DropSite::Client => "client",
            };
            (Some(site), 0, 0, *count, FLAG_ERROR)
        }
        RecordBody::Recording { on } => (None, 0, 0, u64::from(*on), 0),
        RecordBody::ConnOpen { .. } | RecordBody::ConnClose { .. } => (None, 0, 0, 0, 0),
    }
}

/// Every record held, in arrival order (sequence order from one runtime).
#[derive(Default, Debug)]
pub struct Log {
    rows: Vec<Row>,
    arena: Arena,
    /// Interned action/event/method names.
    pub names: Interner,
    /// Which of `names` are action names, in order of first sight.
    action_names: Vec<u32>,
}

impl Log {
    /// Appends `record`, naming its instance by table index `inst`.
    pub fn push(&mut self, record: &Record, inst: u32) -> u32 {
        let (name, version, dur, extra, aux, mut flags) = summarize(&record.body);
        let name = name.map_or(NONE, |n| self.names.intern(n));
        if record.body.kind() == RecordKind::Action && !self.action_names.contains(&name) {
            self.action_names.push(name);
        }
        let mut row = Row {
            seq: record.seq,
            ts_us: record.ts_us,
            version,
            inst,
            name,
            dur_us: sat32(dur),
            extra: sat32(extra),
            conn: sat32(record.conn),
            aux: sat32(aux),
            body: TextSpan::default(),
            kind: record.body.kind(),
            flags,
        };
        // Keep only what the row cannot say, when the row plus that residue
        // rebuilds the body exactly; otherwise keep the whole body.
        let residue = compact::residue(&record.body).filter(|r| {
            compact::rebuild(&row, self.names.name(name), r).as_ref() == Some(&record.body)
        });
        let text = match residue {
            Some(r) => r,
            None => {
                flags |= FLAG_FULL;
                // Serializing a plain data enum to a String cannot fail; an
                // empty body only costs the detail view.
                serde_json::to_string(&record.body).unwrap_or_default()
            }
        };
        row.flags = flags;
        row.body = self.arena.push(&text);
        let idx = u32::try_from(self.rows.len()).unwrap_or(NONE);
        self.rows.push(row);
        idx
    }

    /// Every action name seen.
    pub fn action_names(&self) -> impl Iterator<Item = &str> {
        self.action_names.iter().map(|&id| self.names.name(id))
    }

    /// All rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Row at index `i`.
    pub fn row(&self, i: u32) -> Option<&Row> {
        self.rows.get(i as usize)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Sequence number of the newest row.
    pub fn last_seq(&self) -> Option<u64> {
        self.rows.last().map(|r| r.seq)
    }

    /// Index of the row with sequence number `seq`.
    pub fn index_of_seq(&self, seq: u64) -> Option<u32> {
        // Rows arrive in sequence order, so a binary search finds it.
        self.rows
            .binary_search_by_key(&seq, |r| r.seq)
            .ok()
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The body of row `i`, parsed back.
    pub fn body(&self, i: u32) -> Option<RecordBody> {
        let row = self.row(i)?;
        let text = self.arena.get(row.body);
        if row.flags & FLAG_FULL != 0 {
            serde_json::from_str(text).ok()
        } else {
            compact::rebuild(row, self.names.name(row.name), text)
        }
    }

    /// Approximate bytes held: rows plus body text.
    pub fn memory_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>() + self.arena.reserved()
    }

    /// Bytes of body text.
    pub fn text_bytes(&self) -> usize {
        self.arena.bytes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fluxlive_protocol::record::ActionRecord;
    use serde_json::json;

    fn action(seq: u64, method: &str, dur_us: u64, ok: bool) -> Record {
        Record {
            seq,
            ts_us: seq * 10,
            conn: 1,
            instance: None,
            body: RecordBody::Action(ActionRecord {
                method: method.into(),
                args: json!([1, "x"]),
                args_truncated: false,
                dur_us,
                outcome: if ok {
                    Outcome::Ok { result: json!(2) }
                } else {
                    Outcome::Err {
                        code: fluxlive_protocol::ErrorCode::ActionFailed,
                        message: "no".into(),
                    }
                },
                version_before: 3,
                version_after: if ok { 4 } else { 3 },
                trace: None,
                source: CallSource::Debug,
            }),
        }
    }

    #[test]
    fn arena_keeps_text_across_chunks() {
        let mut a = Arena::default();
        let big = "y".repeat(CHUNK + 5);
        let s1 = a.push("hello");
        let s2 = a.push(&big);
        let s3 = a.push("world");
        assert_eq!(a.get(s1), "hello");
        assert_eq!(a.get(s2), big);
        assert_eq!(a.get(s3), "world");
        assert_eq!(a.bytes(), 10 + big.len());
    }

    #[test]
    fn row_summarizes_action_and_body_round_trips() {
        let mut log = Log::default();
        let rec = action(7, "add", SLOW_ACTION_US + 1, true);
        let i = log.push(&rec, 0);
        let row = *log.row(i).unwrap();
        assert_eq!(row.seq, 7);
        assert_eq!(row.kind, RecordKind::Action);
        assert_eq!(log.names.name(row.name), "add");
        assert_eq!(row.version, 4);
        assert_eq!(row.extra, 3);
        assert!(row.is_slow());
        assert!(!row.is_error());
        assert_eq!(row.flags & FLAG_CHANGED, FLAG_CHANGED);
        assert_eq!(row.flags & FLAG_DEBUG, FLAG_DEBUG);
        assert_eq!(log.body(i).unwrap(), rec.body);
        assert_eq!(log.action_names().collect::<Vec<_>>(), vec!["add"]);
    }

    #[test]
    fn failed_action_is_error_and_unchanged() {
        let mut log = Log::default();
        let i = log.push(&action(1, "fail", 3, false), NONE);
        let row = log.row(i).unwrap();
        assert!(row.is_error());
        assert_eq!(row.flags & FLAG_CHANGED, 0);
        assert!(!row.is_slow());
    }

    #[test]
    fn index_of_seq_finds_rows() {
        let mut log = Log::default();
        for s in [2, 5, 9] {
            log.push(&action(s, "a", 1, true), NONE);
        }
        assert_eq!(log.index_of_seq(5), Some(1));
        assert_eq!(log.index_of_seq(6), None);
        assert_eq!(log.last_seq(), Some(9));
    }

    #[test]
    fn row_is_compact() {
        assert!(
            std::mem::size_of::<Row>() <= 64,
            "{}",
            std::mem::size_of::<Row>()
        );
    }
}
