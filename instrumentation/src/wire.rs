//! The bytes of one recorded event: a fixed header the collector reads
//! without decoding anything, then the body in [`codec`](crate::codec) form.
//!
//! ```text
//! len u32 (bytes after this field) | ticket u64 | at_ns u64 | conn u64 | iid u64
//! | type u32 | flags u8 | kind u8 | span u32 | body…
//! ```
//!
//! `at_ns` counts from the recorder's start; `type` indexes the recorder's
//! type registry; `span` is the number of records the event stands for (an
//! action carrying its diff and emits stands for several). Bodies start with
//! the instance id when flag [`HAS_INSTANCE`] is set.

use crate::clock::Instant;
use crate::codec::{CodecError, Reader, Writer};
use crate::event::{DiffPart, Event, EventBody};
use crate::slice_codec::{
    put_len, put_ops, put_str, put_u32, put_u64, put_u8, put_value, put_values,
};
use fluxlive_protocol::app::{ClientSpanReport, RenderReport};
use fluxlive_protocol::record::{CallSource, DropSite, TraceContext, UnmountReason};
use fluxlive_protocol::ErrorCode;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// Bytes in the fixed header, `len` included.
pub(crate) const HEADER: usize = 46;
/// Header flag: the body starts with an instance id.
pub(crate) const HAS_INSTANCE: u8 = 1;

/// Kind codes (the kind of the event's last record).
pub(crate) mod kind {
    pub(crate) const CONN_OPEN: u8 = 1;
    pub(crate) const CONN_CLOSE: u8 = 2;
    pub(crate) const MOUNT: u8 = 3;
    pub(crate) const UNMOUNT: u8 = 4;
    pub(crate) const RESUME: u8 = 5;
    pub(crate) const ACTION: u8 = 6;
    pub(crate) const DIFF: u8 = 7;
    pub(crate) const RENDER: u8 = 8;
    pub(crate) const CLIENT_SPAN: u8 = 9;
    pub(crate) const EMIT: u8 = 10;
    pub(crate) const PANIC: u8 = 11;
    pub(crate) const TIME_TRAVEL: u8 = 12;
    pub(crate) const SNAPSHOT: u8 = 13;
    pub(crate) const DROPPED: u8 = 14;
    pub(crate) const RECORDING: u8 = 15;
}

/// The fixed header, as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) ticket: u64,
    pub(crate) at_ns: u64,
    pub(crate) conn: u64,
    pub(crate) iid: u64,
    pub(crate) type_idx: u32,
    pub(crate) flags: u8,
    pub(crate) kind: u8,
    pub(crate) span: u32,
}

impl Header {
    pub(crate) fn has_instance(&self) -> bool {
        self.flags & HAS_INSTANCE != 0
    }

    /// Reads the header at the start of `bytes` (which include `len`).
    pub(crate) fn read(bytes: &[u8]) -> Result<Header, CodecError> {
        let mut r = Reader::new(bytes);
        let _len = r.u32()?;
        Ok(Header {
            ticket: r.u64()?,
            at_ns: r.u64()?,
            conn: r.u64()?,
            iid: r.u64()?,
            type_idx: r.u32()?,
            flags: r.u8()?,
            kind: r.u8()?,
            span: r.u32()?,
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn put_header(buf: &mut Vec<u8>, h: &Header) {
    // Filled on the stack and appended once: one capacity check, not ten.
    buf.extend_from_slice(&header_bytes(h));
}

/// The header's bytes, `len` left zero (see [`seal`]).
fn header_bytes(h: &Header) -> [u8; HEADER] {
    let mut head = [0u8; HEADER];
    let fields: [&[u8]; 8] = [
        &h.ticket.to_le_bytes(),
        &h.at_ns.to_le_bytes(),
        &h.conn.to_le_bytes(),
        &h.iid.to_le_bytes(),
        &h.type_idx.to_le_bytes(),
        &[h.flags],
        &[h.kind],
        &h.span.to_le_bytes(),
    ];
    // The length (first four bytes) is written by `seal`.
    let mut at = 4;
    for f in fields {
        head[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    debug_assert_eq!(at, HEADER);
    head
}

/// Writes the final length into the first four bytes.
fn seal(buf: &mut [u8]) {
    let len = u32::try_from(buf.len().saturating_sub(4)).unwrap_or(u32::MAX);
    if let Some(head) = buf.get_mut(..4) {
        head.copy_from_slice(&len.to_le_bytes());
    }
}

/// Overwrites the ticket of encoded bytes.
pub(crate) fn set_ticket(buf: &mut [u8], ticket: u64) {
    if let Some(t) = buf.get_mut(4..12) {
        t.copy_from_slice(&ticket.to_le_bytes());
    }
}

fn source_code(s: CallSource) -> u8 {
    match s {
        CallSource::Client => 0,
        CallSource::Debug => 1,
        CallSource::Replay => 2,
        CallSource::Event => 3,
        CallSource::Dependency => 4,
        CallSource::Timer => 5,
    }
}

fn source_of(c: u8) -> CallSource {
    match c {
        1 => CallSource::Debug,
        2 => CallSource::Replay,
        3 => CallSource::Event,
        4 => CallSource::Dependency,
        5 => CallSource::Timer,
        _ => CallSource::Client,
    }
}

fn unmount_code(r: UnmountReason) -> u8 {
    match r {
        UnmountReason::Client => 0,
        UnmountReason::Grace => 1,
        UnmountReason::Shutdown => 2,
    }
}

fn unmount_of(c: u8) -> UnmountReason {
    match c {
        1 => UnmountReason::Grace,
        2 => UnmountReason::Shutdown,
        _ => UnmountReason::Client,
    }
}

fn site_code(s: DropSite) -> u8 {
    match s {
        DropSite::Ring => 0,
        DropSite::Subscriber => 1,
        DropSite::Exporter => 2,
        DropSite::Client => 3,
    }
}

fn site_of(c: u8) -> DropSite {
    match c {
        1 => DropSite::Subscriber,
        2 => DropSite::Exporter,
        3 => DropSite::Client,
        _ => DropSite::Ring,
    }
}

fn get_trace(r: &mut Reader<'_>) -> Result<Option<TraceContext>, CodecError> {
    Ok(match r.u8()? {
        0 => None,
        _ => Some(TraceContext {
            trace_id: r.string()?,
            span_id: r.string()?,
            parent_span_id: r.opt_string()?,
            flags: r.u8()?,
        }),
    })
}

fn error_code_str(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(Value::String(s)) => s,
        _ => "internal".to_owned(),
    }
}

fn error_code_of(s: &str) -> ErrorCode {
    serde_json::from_value(Value::String(s.to_owned())).unwrap_or(ErrorCode::Internal)
}

/// The header of `ev`, ticket zero (see [`set_ticket`]).
fn event_header(ev: &Event, at_ns: u64, type_idx: u32) -> Header {
    let (kind, span) = kind_span(&ev.body);
    Header {
        ticket: 0,
        at_ns,
        conn: ev.conn,
        iid: ev.instance.as_ref().map_or(0, |k| k.iid),
        type_idx,
        flags: if ev.instance.is_some() {
            HAS_INSTANCE
        } else {
            0
        },
        kind,
        span,
    }
}

/// The kind code of `body`'s last record and how many records it stands for.
fn kind_span(body: &EventBody) -> (u8, u32) {
    match body {
        EventBody::ConnOpen { .. } => (kind::CONN_OPEN, 1),
        EventBody::ConnClose { .. } => (kind::CONN_CLOSE, 1),
        EventBody::Mount { .. } => (kind::MOUNT, 1),
        EventBody::Unmount { .. } => (kind::UNMOUNT, 1),
        EventBody::Resume { .. } => (kind::RESUME, 1),
        EventBody::Action { diff, emits, .. } => (
            kind::ACTION,
            1 + u32::from(diff.is_some()) + u32::try_from(emits.len()).unwrap_or(u32::MAX - 2),
        ),
        EventBody::Diff { .. } => (kind::DIFF, 1),
        EventBody::Render(_) => (kind::RENDER, 1),
        EventBody::ClientSpan(_) => (kind::CLIENT_SPAN, 1),
        EventBody::Emit { .. } => (kind::EMIT, 1),
        EventBody::Panic { .. } => (kind::PANIC, 1),
        EventBody::TimeTravel { .. } => (kind::TIME_TRAVEL, 1),
        EventBody::Snapshot { .. } => (kind::SNAPSHOT, 1),
    }
}

/// Encodes `ev` into `buf` (cleared first); the ticket is filled in later
/// with [`set_ticket`]. `at_ns` counts from the recorder's start.
pub(crate) fn encode_event(
    ev: &Event,
    at_ns: u64,
    type_idx: u32,
    start: Instant,
    buf: &mut Vec<u8>,
) {
    buf.clear();
    if in_place(&ev.body) {
        // Actions and diffs have one writer, [`encode_into`]: here into
        // `buf`, grown to the size a first pass counted if it ran past the end.
        buf.resize(buf.capacity().max(4 * HEADER), 0);
        let n = encode_into(ev, at_ns, type_idx, start, buf).unwrap_or(0);
        if n > buf.len() {
            buf.resize(n, 0);
            let _ = encode_into(ev, at_ns, type_idx, start, buf);
        }
        buf.truncate(n);
        return;
    }
    put_header(buf, &event_header(ev, at_ns, type_idx));
    let mut w = Writer(buf);
    if let Some(k) = &ev.instance {
        w.str(&k.id);
    }
    match &ev.body {
        EventBody::ConnOpen { peer } => match peer {
            None => w.u8(0),
            Some(std::net::SocketAddr::V4(a)) => {
                w.u8(4);
                w.u32(u32::from(*a.ip()));
                w.u32(u32::from(a.port()));
            }
            Some(std::net::SocketAddr::V6(a)) => {
                w.u8(6);
                w.0.extend_from_slice(&a.ip().octets());
                w.u32(u32::from(a.port()));
            }
        },
        EventBody::ConnClose { reason } => w.str(reason),
        EventBody::Mount {
            props,
            version,
            state,
        } => {
            w.u64(*version);
            w.value(state);
            w.value(props);
        }
        EventBody::Unmount { reason, version } => {
            w.u8(unmount_code(*reason));
            w.u64(*version);
        }
        EventBody::Resume { version } => w.u64(*version),
        // Written by `encode_into` above.
        EventBody::Action { .. } | EventBody::Diff { .. } => {}
        EventBody::Render(r) => {
            w.str(&r.id);
            w.u64(r.version);
            w.u64(r.apply_us);
            w.u64(r.render_us);
            w.u64(r.frame_us);
            w.opt_u64(r.at_unix_us);
            w.opt_str(r.trace.as_deref());
        }
        EventBody::ClientSpan(s) => {
            w.str(&s.trace);
            w.str(&s.id);
            w.str(&s.method);
            w.u64(s.start_unix_us);
            w.u64(s.dur_us);
            w.opt_str(s.error.as_deref());
        }
        EventBody::Emit { name, data } => {
            w.str(name);
            w.value(data);
        }
        EventBody::Panic { method, message } => {
            w.str(method);
            w.str(message);
        }
        EventBody::TimeTravel { target, version } => {
            w.u64(*target);
            w.u64(*version);
        }
        EventBody::Snapshot { version, state } => {
            w.u64(*version);
            w.value(state);
        }
    }
    seal(buf);
}

/// Whether [`encode_into`] writes `body` (actions and diffs, nearly every
/// event); everything else goes through [`Writer`].
fn in_place(body: &EventBody) -> bool {
    matches!(body, EventBody::Action { .. } | EventBody::Diff { .. })
}

/// The one writer of actions (with their diff and emits) and diffs: into
/// `out`, on the hot path the thread's fixed staging buffer (see
/// [`slice_codec`](crate::slice_codec) for why), ticket zero. Returns the
/// bytes' length, which is past `out`'s end when they did not fit (then
/// `out` holds a cut-off prefix and must not be used), or `None` for other
/// events, which [`encode_event`] writes.
pub(crate) fn encode_into(
    ev: &Event,
    at_ns: u64,
    type_idx: u32,
    start: Instant,
    out: &mut [u8],
) -> Option<usize> {
    if !in_place(&ev.body) {
        return None;
    }
    let head = header_bytes(&event_header(ev, at_ns, type_idx));
    if let Some(dst) = out.get_mut(..HEADER) {
        dst.copy_from_slice(&head);
    }
    let mut at = HEADER;
    if let Some(k) = &ev.instance {
        at = put_str(out, at, &k.id);
    }
    at = match &ev.body {
        EventBody::Action {
            method,
            args,
            started: _,
            dur,
            outcome,
            version_before,
            version_after,
            trace,
            source,
            diff,
            emits,
        } => {
            // The diff first: folding an evicted action reads only this.
            match diff {
                Some(d) => {
                    at = put_u8(out, at, 1);
                    at = put_u64(out, at, d.base);
                    at = put_u64(out, at, d.version);
                    at = put_ops(out, at, &d.ops);
                    at = put_u32(out, at, d.bytes);
                    at = put_u64(out, at, nanos(d.diff));
                    at = put_u64(out, at, nanos(d.encode));
                    at = put_u64(out, at, nanos(d.at.saturating_duration_since(start)));
                }
                None => at = put_u8(out, at, 0),
            }
            at = put_str(out, at, method);
            at = put_values(out, at, args);
            at = put_u64(out, at, nanos(*dur));
            match outcome {
                Ok(v) => {
                    at = put_u8(out, at, 0);
                    at = put_value(out, at, v);
                }
                Err((code, message)) => {
                    at = put_u8(out, at, 1);
                    at = put_str(out, at, &error_code_str(*code));
                    at = put_str(out, at, message);
                }
            }
            at = put_u64(out, at, *version_before);
            at = put_u64(out, at, *version_after);
            at = put_trace(out, at, trace.as_deref());
            at = put_u8(out, at, source_code(*source));
            at = put_len(out, at, emits.len());
            for (name, data) in emits {
                at = put_str(out, at, name);
                at = put_value(out, at, data);
            }
            at
        }
        EventBody::Diff {
            base,
            version,
            ops,
            bytes,
            diff,
            encode,
            trace,
        } => {
            at = put_u64(out, at, *base);
            at = put_u64(out, at, *version);
            at = put_ops(out, at, ops);
            at = put_u32(out, at, *bytes);
            at = put_u64(out, at, nanos(*diff));
            at = put_u64(out, at, nanos(*encode));
            put_trace(out, at, trace.as_deref())
        }
        _ => return None,
    };
    if let Some(written) = out.get_mut(..at) {
        seal(written);
    }
    Some(at)
}

/// A trace context, or its absence.
fn put_trace(out: &mut [u8], mut at: usize, t: Option<&TraceContext>) -> usize {
    let Some(t) = t else {
        return put_u8(out, at, 0);
    };
    at = put_u8(out, at, 1);
    at = put_str(out, at, &t.trace_id);
    at = put_str(out, at, &t.span_id);
    match t.parent_span_id.as_deref() {
        Some(p) => {
            at = put_u8(out, at, 1);
            at = put_str(out, at, p);
        }
        None => at = put_u8(out, at, 0),
    }
    put_u8(out, at, t.flags)
}

/// A record the collector makes itself (not pushed by the runtime).
pub(crate) enum Made<'a> {
    Dropped {
        count: u64,
        site: DropSite,
        reason: &'a str,
    },
    Recording(bool),
    /// State restored by time travel, for instance `iid`.
    Snapshot {
        id: &'a str,
        iid: u64,
        type_idx: u32,
        conn: u64,
        version: u64,
        state: &'a Value,
    },
}

/// Encodes a collector-made record.
pub(crate) fn encode_made(made: &Made<'_>, at_ns: u64, buf: &mut Vec<u8>) {
    buf.clear();
    let (kind, conn, iid, type_idx, flags) = match made {
        Made::Dropped { .. } => (kind::DROPPED, 0, 0, 0, 0),
        Made::Recording(_) => (kind::RECORDING, 0, 0, 0, 0),
        Made::Snapshot {
            iid,
            type_idx,
            conn,
            ..
        } => (kind::SNAPSHOT, *conn, *iid, *type_idx, HAS_INSTANCE),
    };
    put_header(
        buf,
        &Header {
            ticket: 0,
            at_ns,
            conn,
            iid,
            type_idx,
            flags,
            kind,
            span: 1,
        },
    );
    let mut w = Writer(buf);
    match made {
        Made::Dropped {
            count,
            site,
            reason,
        } => {
            w.u64(*count);
            w.u8(site_code(*site));
            w.str(reason);
        }
        Made::Recording(on) => w.u8(u8::from(*on)),
        Made::Snapshot {
            id, version, state, ..
        } => {
            w.str(id);
            w.u64(*version);
            w.value(state);
        }
    }
    seal(buf);
}

/// What an entry's body decodes to.
// Decoded one at a time on read paths; boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Decoded {
    Event {
        id: Option<Arc<str>>,
        body: EventBody,
    },
    Dropped {
        count: u64,
        site: DropSite,
        reason: String,
    },
    Recording(bool),
    ConnClose(String),
}

/// The state effect of an entry, decoded without the rest of its body.
pub(crate) enum StateChange<'a> {
    /// Full state at a version (mount, snapshot).
    Set { version: u64, state: Value },
    /// A patch from `base` to `version`, still encoded: `ops` is positioned
    /// at it, for [`fold::apply_encoded`](crate::fold::apply_encoded).
    Patch {
        base: u64,
        version: u64,
        ops: Reader<'a>,
    },
}

fn body_after_id<'a>(
    h: &Header,
    bytes: &'a [u8],
) -> Result<(Option<&'a str>, Reader<'a>), CodecError> {
    let mut r = Reader::new(bytes.get(HEADER..).ok_or(CodecError("short entry"))?);
    let id = if h.has_instance() {
        Some(r.str()?)
    } else {
        None
    };
    Ok((id, r))
}

/// The state effect of the entry in `bytes`, if it has one.
pub(crate) fn state_change<'a>(
    h: &Header,
    bytes: &'a [u8],
) -> Result<Option<StateChange<'a>>, CodecError> {
    let (_, mut r) = body_after_id(h, bytes)?;
    let has_diff = match h.kind {
        kind::MOUNT | kind::SNAPSHOT => {
            return Ok(Some(StateChange::Set {
                version: r.u64()?,
                state: r.value()?,
            }))
        }
        kind::DIFF => true,
        kind::ACTION => r.u8()? != 0,
        _ => false,
    };
    if !has_diff {
        return Ok(None);
    }
    Ok(Some(StateChange::Patch {
        base: r.u64()?,
        version: r.u64()?,
        ops: r,
    }))
}

/// The instance id at the start of an entry's body, if it names one.
pub(crate) fn instance_id<'a>(h: &Header, bytes: &'a [u8]) -> Option<&'a str> {
    body_after_id(h, bytes).ok().and_then(|(id, _)| id)
}

/// The `count` of an encoded `Dropped` record (1 when it does not read).
pub(crate) fn dropped_count(h: &Header, bytes: &[u8]) -> u64 {
    match body_after_id(h, bytes) {
        Ok((_, mut r)) if h.kind == kind::DROPPED => r.u64().unwrap_or(1),
        _ => 1,
    }
}

/// The action name of an action entry.
pub(crate) fn action_method<'a>(h: &Header, bytes: &'a [u8]) -> Result<&'a str, CodecError> {
    let (_, mut r) = body_after_id(h, bytes)?;
    if r.u8()? != 0 {
        r.u64()?;
        r.u64()?;
        r.ops()?;
        r.u32()?;
        r.u64()?;
        r.u64()?;
        r.u64()?;
    }
    r.str()
}

/// Decodes a whole entry. `start` is the recorder's start (instants are
/// rebuilt from it).
pub(crate) fn decode(h: &Header, bytes: &[u8], start: Instant) -> Result<Decoded, CodecError> {
    let at = |ns: u64| start + Duration::from_nanos(ns);
    let (id, mut r) = body_after_id(h, bytes)?;
    let id = id.map(Arc::from);
    let body = match h.kind {
        kind::DROPPED => {
            return Ok(Decoded::Dropped {
                count: r.u64()?,
                site: site_of(r.u8()?),
                reason: r.string()?,
            })
        }
        kind::RECORDING => return Ok(Decoded::Recording(r.u8()? != 0)),
        kind::CONN_OPEN => EventBody::ConnOpen {
            peer: match r.u8()? {
                4 => {
                    let ip = std::net::Ipv4Addr::from(r.u32()?);
                    Some(std::net::SocketAddr::from((ip, port(r.u32()?))))
                }
                6 => {
                    let mut o = [0u8; 16];
                    for b in &mut o {
                        *b = r.u8()?;
                    }
                    let ip = std::net::Ipv6Addr::from(o);
                    Some(std::net::SocketAddr::from((ip, port(r.u32()?))))
                }
                _ => None,
            },
        },
        // `&'static str` in events: read back as its own variant.
        kind::CONN_CLOSE => return Ok(Decoded::ConnClose(r.string()?)),
        kind::MOUNT => {
            let version = r.u64()?;
            let state = r.value()?;
            EventBody::Mount {
                props: r.value()?,
                version,
                state,
            }
        }
        kind::UNMOUNT => EventBody::Unmount {
            reason: unmount_of(r.u8()?),
            version: r.u64()?,
        },
        kind::RESUME => EventBody::Resume { version: r.u64()? },
        kind::ACTION => {
            let diff = match r.u8()? {
                0 => None,
                _ => Some(DiffPart {
                    base: r.u64()?,
                    version: r.u64()?,
                    ops: r.ops()?,
                    bytes: r.u32()?,
                    diff: Duration::from_nanos(r.u64()?),
                    encode: Duration::from_nanos(r.u64()?),
                    at: at(r.u64()?),
                }),
            };
            let method = Cow::Owned(r.string()?);
            let args = r.values()?;
            let dur = Duration::from_nanos(r.u64()?);
            let outcome = match r.u8()? {
                0 => Ok(r.value()?),
                _ => {
                    let code = error_code_of(r.str()?);
                    Err((code, r.string()?))
                }
            };
            let version_before = r.u64()?;
            let version_after = r.u64()?;
            let trace = get_trace(&mut r)?.map(Arc::new);
            let source = source_of(r.u8()?);
            let n = r.len()?;
            let mut emits = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let name = Cow::Owned(r.string()?);
                emits.push((name, r.value()?));
            }
            EventBody::Action {
                method,
                args,
                started: at(h.at_ns),
                dur,
                outcome,
                version_before,
                version_after,
                trace,
                source,
                diff,
                emits,
            }
        }
        kind::DIFF => EventBody::Diff {
            base: r.u64()?,
            version: r.u64()?,
            ops: r.ops()?,
            bytes: r.u32()?,
            diff: Duration::from_nanos(r.u64()?),
            encode: Duration::from_nanos(r.u64()?),
            trace: get_trace(&mut r)?.map(Arc::new),
        },
        kind::RENDER => EventBody::Render(RenderReport {
            id: r.string()?,
            version: r.u64()?,
            apply_us: r.u64()?,
            render_us: r.u64()?,
            frame_us: r.u64()?,
            at_unix_us: r.opt_u64()?,
            trace: r.opt_string()?,
        }),
        kind::CLIENT_SPAN => EventBody::ClientSpan(ClientSpanReport {
            trace: r.string()?,
            id: r.string()?,
            method: r.string()?,
            start_unix_us: r.u64()?,
            dur_us: r.u64()?,
            error: r.opt_string()?,
        }),
        kind::EMIT => EventBody::Emit {
            name: Cow::Owned(r.string()?),
            data: r.value()?,
        },
        kind::PANIC => EventBody::Panic {
            method: Cow::Owned(r.string()?),
            message: r.string()?,
        },
        kind::TIME_TRAVEL => EventBody::TimeTravel {
            target: r.u64()?,
            version: r.u64()?,
        },
        kind::SNAPSHOT => EventBody::Snapshot {
            version: r.u64()?,
            state: r.value()?,
        },
        _ => return Err(CodecError("unknown record kind")),
    };
    Ok(Decoded::Event { id, body })
}

fn port(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::strategies::{json_value, patch};
    use crate::event::{InstanceKey, TypeMeta};
    use proptest::prelude::*;
    use serde_json::json;

    static TYPE: TypeMeta = TypeMeta::new("Counter");

    fn trace() -> impl Strategy<Value = Option<Arc<TraceContext>>> {
        prop::option::of(
            (
                "[0-9a-f]{32}",
                "[0-9a-f]{16}",
                prop::option::of("[0-9a-f]{16}"),
                any::<u8>(),
            )
                .prop_map(|(trace_id, span_id, parent_span_id, flags)| {
                    Arc::new(TraceContext {
                        trace_id,
                        span_id,
                        parent_span_id,
                        flags,
                    })
                }),
        )
    }

    fn instance() -> impl Strategy<Value = Option<InstanceKey>> {
        prop::option::of("[a-z0-9-]{0,140}").prop_map(|id| {
            id.map(|id| InstanceKey {
                iid: 3,
                id: id.into(),
                meta: &TYPE,
            })
        })
    }

    /// One instant for every generated event, so that a diff part's
    /// `at` can count from the action's `started`.
    fn origin() -> Instant {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now)
    }

    prop_compose! {
        fn diff_part()(
            base in any::<u64>(),
            ops in patch(),
            bytes in any::<u32>(),
            nanos in (any::<u32>(), any::<u32>(), any::<u32>()),
        ) -> DiffPart {
            DiffPart {
                base,
                version: base.wrapping_add(1),
                ops,
                bytes,
                diff: Duration::from_nanos(nanos.0.into()),
                encode: Duration::from_nanos(nanos.1.into()),
                at: origin() + Duration::from_nanos(nanos.2.into()),
            }
        }
    }

    prop_compose! {
        fn action()(
            method in ".{0,20}",
            args in prop::collection::vec(json_value(), 0..3),
            ok in any::<bool>(),
            result in json_value(),
            message in ".{0,140}",
            versions in (any::<u64>(), any::<u64>()),
            dur in any::<u32>(),
            source in 0..6u8,
            diff in prop::option::of(diff_part()),
            emits in prop::collection::vec((".{0,20}", json_value()), 0..3),
            instance in instance(),
            trace in trace(),
        ) -> Event {
            Event {
                conn: 7,
                instance,
                body: EventBody::Action {
                    method: method.into(),
                    args,
                    started: origin(),
                    dur: Duration::from_nanos(dur.into()),
                    outcome: if ok { Ok(result) } else { Err((ErrorCode::ActionFailed, message)) },
                    version_before: versions.0,
                    version_after: versions.1,
                    trace,
                    source: source_of(source),
                    diff,
                    emits: emits.into_iter().map(|(n, d)| (Cow::Owned(n), d)).collect(),
                },
            }
        }
    }

    fn diff_event() -> impl Strategy<Value = Event> {
        (diff_part(), trace(), instance()).prop_map(|(d, trace, instance)| Event {
            conn: 2,
            instance,
            body: d.into_body(trace),
        })
    }

    /// Staged in place (the hot path) and grown into a `Vec` (the general
    /// path, from a smaller first guess) the bytes are the same; one byte
    /// less of room is reported as a length past the end; and they decode
    /// to the event they came from, which encodes back to the same bytes.
    fn staged_equals_general(ev: &Event) -> Result<(), TestCaseError> {
        // The recorder's start, 99 ns before the action began: decoding
        // then rebuilds its instants exactly.
        let start = match &ev.body {
            EventBody::Action { started, .. } => started
                .checked_sub(Duration::from_nanos(99))
                .ok_or_else(|| TestCaseError::reject("clock too close to its origin"))?,
            _ => Instant::now(),
        };
        let mut general = Vec::new();
        encode_event(ev, 99, 2, start, &mut general);
        let mut staging = vec![0u8; general.len() + 16];
        let n = encode_into(ev, 99, 2, start, &mut staging);
        prop_assert_eq!(n, Some(general.len()));
        prop_assert_eq!(&staging[..general.len()], &general[..]);
        let mut short = vec![0u8; general.len() - 1];
        prop_assert_eq!(
            encode_into(ev, 99, 2, start, &mut short),
            Some(general.len())
        );

        let hdr = Header::read(&general).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((hdr.at_ns, hdr.type_idx, hdr.conn), (99, 2, ev.conn));
        let Ok(Decoded::Event { id, body }) = decode(&hdr, &general, start) else {
            return Err(TestCaseError::fail("does not decode as an event"));
        };
        prop_assert_eq!(format!("{body:?}"), format!("{:?}", ev.body));
        prop_assert_eq!(id.as_deref(), ev.instance.as_ref().map(|k| &*k.id));
        let again = Event {
            conn: hdr.conn,
            instance: id.map(|id| InstanceKey {
                iid: hdr.iid,
                id,
                meta: &TYPE,
            }),
            body,
        };
        let mut reencoded = Vec::new();
        encode_event(&again, hdr.at_ns, hdr.type_idx, start, &mut reencoded);
        prop_assert_eq!(reencoded, general);
        Ok(())
    }

    proptest! {
        #[test]
        fn an_action_staged_in_place_is_what_the_general_encoder_writes(ev in action()) {
            staged_equals_general(&ev)?;
        }

        #[test]
        fn a_diff_staged_in_place_is_what_the_general_encoder_writes(ev in diff_event()) {
            staged_equals_general(&ev)?;
        }
    }

    #[test]
    fn other_events_are_left_to_the_general_encoder() {
        let ev = Event {
            conn: 1,
            instance: None,
            body: EventBody::Emit {
                name: "saved".into(),
                data: json!({"id": 4}),
            },
        };
        let mut staging = vec![0u8; 4096];
        assert_eq!(encode_into(&ev, 1, 0, Instant::now(), &mut staging), None);
    }
}
