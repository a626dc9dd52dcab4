//! Records to OTLP spans.
//!
//! One user action is one trace: the browser's [`ClientSpanRecord`] is the
//! root (kind CLIENT), the runtime's [`ActionRecord`] its child (SERVER),
//! and the browser's [`RenderRecord`] a child of the action (INTERNAL).
//! Each of these carries its own ids, so they become spans independently.
//! The [`DiffRecord`], panic and emit records of an action become attributes
//! and events of the action span: the mapper holds an action span back for
//! one or two ticks ([`SpanMapper::advance`]) so that they can join it,
//! whichever order they arrive in.
//!
//! Lifecycle records (connection, mount, unmount, resume, time travel) go
//! into one trace per connection, as children of a `connection` span whose
//! ids are derived from the connection id.

use crate::attrs::{cap, keys, Attrs, MAX_PATCH_PATHS};
use crate::config::Sampler;
use crate::ids::{self, salt, IdGen, SpanId, TraceId};
use fluxlive_protocol::record::{
    ActionRecord, CallSource, ClientSpanRecord, DiffRecord, InstanceRef, Outcome, Record,
    RecordBody, RenderRecord,
};
use fluxlive_protocol::PatchOperation;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash: the held-record maps are keyed by numbers the runtime assigns
/// (sequence, instance, version), not by client input, so a fast
/// non-keyed hash is safe; SipHash showed in the profile.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// `Span.flags` bit: whether the parent is remote is known.
const HAS_IS_REMOTE: u32 = 0x100;
/// `Span.flags` bit: the parent is remote (another process).
const IS_REMOTE: u32 = 0x200;
/// W3C sampled flag.
const SAMPLED: u8 = 0x01;
/// Events kept on one span; more are counted in `dropped_events_count`.
const MAX_EVENTS: usize = 32;
/// A panic record may land this long after its action's measured end.
const PANIC_SLACK_US: u64 = 1_000;
/// Held records before the mapper flushes everything to stay bounded.
const MAX_PENDING: usize = 100_000;
/// Open connections remembered for their `connection` span.
const MAX_OPEN_CONNS: usize = 100_000;

/// How records are turned into spans.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapOptions {
    pub(crate) max_attr_len: usize,
    pub(crate) record_values: bool,
    pub(crate) sampler: Sampler,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DiffKey {
    iid: u64,
    base: u64,
    version: u64,
}

/// Connection and instance: the actor that ran an action.
type InstKey = (u64, u64);

struct PendingAction {
    span: Span,
    sampled: bool,
    diff_key: Option<DiffKey>,
    inst: Option<InstKey>,
    method: String,
    start_us: u64,
    end_us: u64,
    gen: u64,
}

struct PendingDiff {
    rec: Record,
    gen: u64,
}

enum EventKind {
    Emit { name: String },
    Panic { method: String, message: String },
}

struct PendingEvent {
    kind: EventKind,
    rec_seq: u64,
    ts_us: u64,
    conn: u64,
    instance: Option<InstanceRef>,
    gen: u64,
}

struct ConnInfo {
    open_ts_us: u64,
    peer: Option<String>,
}

/// Turns records into spans; see the module docs.
pub(crate) struct SpanMapper {
    started_unix_us: u64,
    ids: IdGen,
    opts: MapOptions,
    gen: u64,
    actions: FxMap<u64, PendingAction>,
    action_by_diff: FxMap<DiffKey, u64>,
    actions_by_inst: FxMap<InstKey, Vec<u64>>,
    diffs: FxMap<DiffKey, PendingDiff>,
    events: FxMap<InstKey, Vec<PendingEvent>>,
    pending_events: usize,
    conns: FxMap<u64, ConnInfo>,
    last_ts_us: u64,
}

/// Where a span without trace context of its own goes.
struct Placement {
    trace: TraceId,
    parent: Option<SpanId>,
}

impl SpanMapper {
    pub(crate) fn new(started_unix_us: u64, ids: IdGen, opts: MapOptions) -> Self {
        Self {
            started_unix_us,
            ids,
            opts,
            gen: 0,
            actions: FxMap::default(),
            action_by_diff: FxMap::default(),
            actions_by_inst: FxMap::default(),
            diffs: FxMap::default(),
            events: FxMap::default(),
            pending_events: 0,
            conns: FxMap::default(),
            last_ts_us: 0,
        }
    }

    /// Records held back waiting for their partners.
    pub(crate) fn pending(&self) -> usize {
        self.actions.len() + self.diffs.len() + self.pending_events
    }

    fn wall_ns(&self, ts_us: u64) -> u64 {
        self.started_unix_us
            .saturating_add(ts_us)
            .saturating_mul(1_000)
    }

    fn keep(&self, trace: &[u8], browser_flags: Option<u8>) -> bool {
        self.opts.sampler.keep(trace, browser_flags)
    }

    /// Pushes a span the server started (no browser sampling decision).
    fn push_server(&self, out: &mut Vec<Span>, span: Span) {
        if self.keep(&span.trace_id, None) {
            out.push(span);
        }
    }

    /// Maps one record; finished spans are appended to `out`.
    pub(crate) fn push(&mut self, rec: &Record, out: &mut Vec<Span>) {
        if self.pending() >= MAX_PENDING {
            self.flush_pending(out);
        }
        self.last_ts_us = self.last_ts_us.max(rec.ts_us);
        match &rec.body {
            RecordBody::Action(a) => self.on_action(rec, a, out),
            RecordBody::Diff(d) => self.on_diff(rec, d, out),
            RecordBody::Render(r) => {
                if let Some(s) = self.render_span(rec, r) {
                    out.push(s);
                }
            }
            RecordBody::ClientSpan(c) => {
                if let Some(s) = self.client_span(rec, c) {
                    out.push(s);
                }
            }
            RecordBody::Emit { name, .. } => {
                self.on_event(rec, EventKind::Emit { name: name.clone() }, out)
            }
            RecordBody::Panic { method, message } => self.on_event(
                rec,
                EventKind::Panic {
                    method: method.clone(),
                    message: message.clone(),
                },
                out,
            ),
            RecordBody::Mount { props, version, .. } => {
                let mut a = self.attrs(rec);
                a.int(keys::STATE_VERSION, *version);
                if self.opts.record_values {
                    a.json(keys::PROPS, props);
                }
                self.push_server(out, self.lifecycle_span(rec, "mount", a, None));
            }
            RecordBody::Unmount { reason, version } => {
                let mut a = self.attrs(rec);
                a.int(keys::STATE_VERSION, *version)
                    .str(keys::UNMOUNT_REASON, &wire_name(*reason));
                self.push_server(out, self.lifecycle_span(rec, "unmount", a, None));
            }
            RecordBody::Resume { version } => {
                let mut a = self.attrs(rec);
                a.int(keys::STATE_VERSION, *version);
                self.push_server(out, self.lifecycle_span(rec, "resume", a, None));
            }
            RecordBody::TimeTravel { target, version } => {
                let mut a = self.attrs(rec);
                a.int(keys::TIME_TRAVEL_TARGET, *target)
                    .int(keys::STATE_VERSION, *version);
                self.push_server(out, self.lifecycle_span(rec, "time_travel", a, None));
            }
            RecordBody::ConnOpen { peer } => {
                if rec.conn != 0
                    && (self.conns.len() < MAX_OPEN_CONNS || self.conns.contains_key(&rec.conn))
                {
                    self.conns.insert(
                        rec.conn,
                        ConnInfo {
                            open_ts_us: rec.ts_us,
                            peer: peer.clone(),
                        },
                    );
                }
            }
            RecordBody::ConnClose { reason } => {
                let info = self.conns.remove(&rec.conn);
                self.push_server(
                    out,
                    self.connection_span(rec.conn, info, rec.ts_us, Some(reason)),
                );
            }
            // Snapshots hold full states (not telemetry); drops and recording
            // switches are counted by the metrics.
            RecordBody::Snapshot { .. }
            | RecordBody::Dropped { .. }
            | RecordBody::Recording { .. } => {}
        }
    }

    /// Ends one tick: records held since before the previous tick are sent
    /// without the partners that did not come.
    pub(crate) fn advance(&mut self, out: &mut Vec<Span>) {
        let cutoff = self.gen;
        self.flush_older_than(cutoff, out);
        self.gen += 1;
    }

    /// Sends everything held, including spans for still-open connections
    /// (end of a session file, or shutdown).
    pub(crate) fn drain(&mut self, out: &mut Vec<Span>) {
        self.flush_pending(out);
        let mut open: Vec<(u64, ConnInfo)> = self.conns.drain().collect();
        open.sort_by_key(|(c, _)| *c);
        let end = self.last_ts_us;
        for (conn, info) in open {
            let span = self.connection_span(conn, Some(info), end, None);
            self.push_server(out, span);
        }
    }

    pub(crate) fn flush_pending(&mut self, out: &mut Vec<Span>) {
        self.flush_older_than(u64::MAX, out);
    }

    fn flush_older_than(&mut self, cutoff: u64, out: &mut Vec<Span>) {
        let mut due: Vec<u64> = self
            .actions
            .iter()
            .filter(|(_, p)| p.gen < cutoff)
            .map(|(seq, _)| *seq)
            .collect();
        due.sort_unstable();
        for seq in due {
            if let Some(p) = self.take_action(seq) {
                if p.sampled {
                    out.push(p.span);
                }
            }
        }
        let old: Vec<DiffKey> = self
            .diffs
            .iter()
            .filter(|(_, d)| d.gen < cutoff)
            .map(|(k, _)| *k)
            .collect();
        let mut diffs: Vec<PendingDiff> = old.iter().filter_map(|k| self.diffs.remove(k)).collect();
        diffs.sort_by_key(|d| d.rec.seq);
        for d in diffs {
            if let RecordBody::Diff(diff) = &d.rec.body {
                if let Some(s) = self.orphan_diff_span(&d.rec, diff) {
                    out.push(s);
                }
            }
        }
        let mut events: Vec<PendingEvent> = Vec::new();
        self.events.retain(|_, list| {
            let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(list)
                .into_iter()
                .partition(|e| e.gen < cutoff);
            events.extend(old);
            *list = keep;
            !list.is_empty()
        });
        self.pending_events -= events.len();
        events.sort_by_key(|e| e.rec_seq);
        for e in events {
            let span = self.orphan_event_span(e);
            self.push_server(out, span);
        }
    }

    fn take_action(&mut self, seq: u64) -> Option<PendingAction> {
        let p = self.actions.remove(&seq)?;
        if let Some(k) = p.diff_key {
            self.action_by_diff.remove(&k);
        }
        if let Some(inst) = p.inst {
            if let Some(list) = self.actions_by_inst.get_mut(&inst) {
                list.retain(|s| *s != seq);
                if list.is_empty() {
                    self.actions_by_inst.remove(&inst);
                }
            }
        }
        Some(p)
    }

    fn attrs(&self, rec: &Record) -> Attrs {
        let mut a = Attrs::new(self.opts.max_attr_len);
        if let Some(i) = &rec.instance {
            a.str(keys::COMPONENT_TYPE, &i.component)
                .str(keys::COMPONENT_ID, &i.id)
                .int(keys::INSTANCE_IID, i.iid);
        }
        if rec.conn != 0 {
            a.int(keys::CONNECTION_ID, rec.conn);
        }
        a
    }

    fn name(&self, verb: &str, instance: Option<&InstanceRef>, method: Option<&str>) -> String {
        let target = match (instance, method) {
            (Some(i), Some(m)) => format!("{}.{m}", i.component),
            (Some(i), None) => i.component.clone(),
            (None, Some(m)) => m.to_owned(),
            (None, None) => String::new(),
        };
        let n = match (verb.is_empty(), target.is_empty()) {
            (true, _) => target,
            (false, true) => verb.to_owned(),
            (false, false) => format!("{verb} {target}"),
        };
        cap(&n, self.opts.max_attr_len)
    }

    /// The connection trace a record without its own context belongs to.
    fn placement(&self, rec: &Record) -> Placement {
        if rec.conn != 0 {
            Placement {
                trace: self.ids.trace_id(salt::CONN, rec.conn),
                parent: Some(self.ids.span_id(salt::CONN, rec.conn)),
            }
        } else {
            Placement {
                trace: self.ids.trace_id(salt::RECORD, rec.seq),
                parent: None,
            }
        }
    }

    fn lifecycle_span(
        &self,
        rec: &Record,
        verb: &str,
        attrs: Attrs,
        status: Option<Status>,
    ) -> Span {
        let at = self.placement(rec);
        let t = self.wall_ns(rec.ts_us);
        let mut attrs = attrs;
        attrs.int(keys::RECORD_SEQ, rec.seq);
        new_span(SpanParts {
            trace: at.trace,
            span: self.ids.span_id(salt::RECORD, rec.seq),
            parent: at.parent,
            flags: u32::from(SAMPLED) | HAS_IS_REMOTE,
            name: self.name(verb, rec.instance.as_ref(), None),
            kind: SpanKind::Internal,
            start_ns: t,
            end_ns: t,
            attributes: attrs.finish(),
            status,
        })
    }

    fn connection_span(
        &self,
        conn: u64,
        info: Option<ConnInfo>,
        end_ts_us: u64,
        reason: Option<&str>,
    ) -> Span {
        let mut a = Attrs::new(self.opts.max_attr_len);
        a.int(keys::CONNECTION_ID, conn);
        let start_us = info
            .as_ref()
            .map_or(end_ts_us, |i| i.open_ts_us.min(end_ts_us));
        if let Some(peer) = info.as_ref().and_then(|i| i.peer.as_deref()) {
            a.str(keys::PEER_ADDRESS, peer);
        }
        match reason {
            Some(r) => {
                a.str(keys::CONNECTION_CLOSE_REASON, r);
            }
            None => {
                a.bool(keys::CONNECTION_OPEN, true);
            }
        }
        let (trace, span) = if conn != 0 {
            (
                self.ids.trace_id(salt::CONN, conn),
                self.ids.span_id(salt::CONN, conn),
            )
        } else {
            (
                self.ids.trace_id(salt::RECORD, end_ts_us),
                self.ids.span_id(salt::RECORD, end_ts_us),
            )
        };
        new_span(SpanParts {
            trace,
            span,
            parent: None,
            flags: u32::from(SAMPLED) | HAS_IS_REMOTE,
            name: "connection".to_owned(),
            kind: SpanKind::Server,
            start_ns: self.wall_ns(start_us),
            end_ns: self.wall_ns(end_ts_us),
            attributes: a.finish(),
            status: None,
        })
    }

    fn on_action(&mut self, rec: &Record, act: &ActionRecord, out: &mut Vec<Span>) {
        let recorded = act.trace.as_ref().and_then(ids::parse_context);
        // A replayed action re-runs a recorded call: reusing its ids would
        // give the backend two spans with one id. It gets a trace of its
        // own, linked to the original call.
        let (ctx, replay_of) = if act.source == CallSource::Replay {
            (None, recorded)
        } else {
            (recorded, None)
        };
        let (trace, span_id, parent, flags) = match &ctx {
            Some(c) => (c.trace, c.span, c.parent, c.flags),
            None => (
                self.ids.trace_id(salt::ACTION, rec.seq),
                self.ids.span_id(salt::ACTION, rec.seq),
                None,
                SAMPLED,
            ),
        };
        let mut a = self.attrs(rec);
        a.str(keys::ACTION, &act.method)
            .str(keys::ACTION_SOURCE, &wire_name(act.source))
            .int(keys::STATE_VERSION_BEFORE, act.version_before)
            .int(keys::STATE_VERSION, act.version_after)
            .int(keys::ACTION_DURATION_US, act.dur_us)
            .int(keys::RECORD_SEQ, rec.seq);
        if self.opts.record_values {
            a.json(keys::ACTION_ARGS, &act.args);
            if act.args_truncated {
                a.bool(keys::ACTION_ARGS_TRUNCATED, true);
            }
        }
        let status = match &act.outcome {
            Outcome::Ok { result } => {
                if self.opts.record_values {
                    a.json(keys::ACTION_RESULT, result);
                }
                None
            }
            Outcome::Err { code, message } => {
                a.str(keys::ERROR_CODE, code.as_str())
                    .str(keys::ERROR_TYPE, code.as_str());
                Some(error_status(message, self.opts.max_attr_len))
            }
        };
        let end_us = rec.ts_us.saturating_add(act.dur_us);
        let span = new_span(SpanParts {
            trace,
            span: span_id,
            parent,
            flags: u32::from(flags) | HAS_IS_REMOTE | if parent.is_some() { IS_REMOTE } else { 0 },
            name: self.name("", rec.instance.as_ref(), Some(&act.method)),
            kind: SpanKind::Server,
            start_ns: self.wall_ns(rec.ts_us),
            end_ns: self.wall_ns(end_us),
            attributes: a.finish(),
            status,
        });
        let mut span = span;
        if let Some(orig) = replay_of {
            span.links.push(Link {
                trace_id: orig.trace.to_vec(),
                span_id: orig.span.to_vec(),
                trace_state: String::new(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                flags: u32::from(orig.flags) | HAS_IS_REMOTE,
            });
        }
        let inst = rec.instance.as_ref().map(|i| (rec.conn, i.iid));
        let diff_key = match &rec.instance {
            Some(i) if act.version_after != act.version_before => Some(DiffKey {
                iid: i.iid,
                base: act.version_before,
                version: act.version_after,
            }),
            _ => None,
        };
        let mut p = PendingAction {
            span,
            sampled: self.keep(&trace, ctx.as_ref().map(|c| c.flags)),
            diff_key,
            inst,
            method: act.method.clone(),
            start_us: rec.ts_us,
            end_us,
            gen: self.gen,
        };
        // Emits and panics are recorded while the action runs, so usually
        // before the action record itself.
        if let Some(k) = inst {
            if let Some(list) = self.events.get_mut(&k) {
                let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(list)
                    .into_iter()
                    .partition(|e| event_belongs(&p, e.ts_us, &e.kind));
                *list = rest;
                if list.is_empty() {
                    self.events.remove(&k);
                }
                self.pending_events -= mine.len();
                for e in mine {
                    self.attach_event(&mut p.span, &e);
                }
            }
        }
        let mut complete = diff_key.is_none();
        if let Some(k) = diff_key {
            if let Some(d) = self.diffs.remove(&k) {
                if let RecordBody::Diff(diff) = &d.rec.body {
                    self.attach_diff(&mut p.span, &d.rec, diff);
                }
                complete = true;
            }
        }
        if complete {
            if p.sampled {
                out.push(p.span);
            }
            return;
        }
        if let Some(k) = diff_key {
            self.action_by_diff.insert(k, rec.seq);
        }
        if let Some(k) = inst {
            self.actions_by_inst.entry(k).or_default().push(rec.seq);
        }
        self.actions.insert(rec.seq, p);
    }

    fn on_diff(&mut self, rec: &Record, diff: &DiffRecord, out: &mut Vec<Span>) {
        let Some(i) = &rec.instance else {
            if let Some(s) = self.orphan_diff_span(rec, diff) {
                out.push(s);
            }
            return;
        };
        let key = DiffKey {
            iid: i.iid,
            base: diff.base,
            version: diff.version,
        };
        if let Some(seq) = self.action_by_diff.get(&key).copied() {
            if let Some(mut p) = self.take_action(seq) {
                self.attach_diff(&mut p.span, rec, diff);
                if p.sampled {
                    out.push(p.span);
                }
            }
            return;
        }
        self.diffs.insert(
            key,
            PendingDiff {
                rec: rec.clone(),
                gen: self.gen,
            },
        );
    }

    fn on_event(&mut self, rec: &Record, kind: EventKind, out: &mut Vec<Span>) {
        let ev = PendingEvent {
            kind,
            rec_seq: rec.seq,
            ts_us: rec.ts_us,
            conn: rec.conn,
            instance: rec.instance.clone(),
            gen: self.gen,
        };
        let Some(i) = &rec.instance else {
            let span = self.orphan_event_span(ev);
            self.push_server(out, span);
            return;
        };
        let k = (rec.conn, i.iid);
        // An action still waiting for its diff may be the one this event came from.
        let target = self.actions_by_inst.get(&k).and_then(|seqs| {
            seqs.iter().rev().copied().find(|s| {
                self.actions
                    .get(s)
                    .is_some_and(|p| event_belongs(p, ev.ts_us, &ev.kind))
            })
        });
        if let Some(seq) = target {
            if let Some(mut p) = self.actions.remove(&seq) {
                self.attach_event(&mut p.span, &ev);
                self.actions.insert(seq, p);
            }
            return;
        }
        self.events.entry(k).or_default().push(ev);
        self.pending_events += 1;
    }

    fn attach_diff(&self, span: &mut Span, rec: &Record, diff: &DiffRecord) {
        let ops = diff.ops.0.len() as u64;
        span.attributes.extend({
            let mut a = Attrs::new(self.opts.max_attr_len);
            a.int(keys::PATCH_BYTES, u64::from(diff.bytes))
                .int(keys::PATCH_OPS, ops);
            a.finish()
        });
        // Size and versions are on the span already; the event says what changed and what it cost.
        let mut a = Attrs::new(self.opts.max_attr_len);
        a.int(keys::DIFF_US, diff.diff_us)
            .int(keys::ENCODE_US, diff.encode_us)
            .str_array(
                keys::PATCH_PATHS,
                diff.ops.0.iter().take(MAX_PATCH_PATHS).map(op_path),
            );
        let t = self.wall_ns(rec.ts_us);
        // The span covers the server work the call caused, diff included.
        span.end_time_unix_nano = span.end_time_unix_nano.max(t);
        push_event(
            span,
            Event {
                time_unix_nano: t,
                name: "fluxlive.diff".to_owned(),
                attributes: a.finish(),
                dropped_attributes_count: 0,
            },
        );
    }

    fn attach_event(&self, span: &mut Span, e: &PendingEvent) {
        let t = self.wall_ns(e.ts_us);
        let mut a = Attrs::new(self.opts.max_attr_len);
        let name = match &e.kind {
            EventKind::Emit { name } => {
                a.str(keys::EVENT_NAME, name);
                "fluxlive.emit"
            }
            EventKind::Panic { method, message } => {
                a.str(keys::EXCEPTION_TYPE, "panic")
                    .str(keys::EXCEPTION_MESSAGE, message)
                    .str(keys::ACTION, method);
                span.status = Some(error_status(message, self.opts.max_attr_len));
                "exception"
            }
        };
        push_event(
            span,
            Event {
                time_unix_nano: t,
                name: name.to_owned(),
                attributes: a.finish(),
                dropped_attributes_count: 0,
            },
        );
    }

    fn orphan_event_span(&self, e: PendingEvent) -> Span {
        let rec = Record {
            seq: e.rec_seq,
            ts_us: e.ts_us,
            conn: e.conn,
            instance: e.instance.clone(),
            body: RecordBody::Recording { on: true },
        };
        let a = self.attrs(&rec);
        let (verb, status) = match &e.kind {
            EventKind::Emit { .. } => ("emit", None),
            EventKind::Panic { message, .. } => {
                ("panic", Some(error_status(message, self.opts.max_attr_len)))
            }
        };
        let mut span = self.lifecycle_span(&rec, verb, a, status);
        if let EventKind::Panic { method, .. } = &e.kind {
            span.name = self.name("panic", rec.instance.as_ref(), Some(method));
            span.attributes.extend({
                let mut a = Attrs::new(self.opts.max_attr_len);
                a.str(keys::ERROR_CODE, "action_panicked")
                    .str(keys::ERROR_TYPE, "action_panicked");
                a.finish()
            });
        }
        self.attach_event(&mut span, &e);
        span
    }

    fn orphan_diff_span(&self, rec: &Record, diff: &DiffRecord) -> Option<Span> {
        let ctx = diff.trace.as_ref().and_then(ids::parse_context);
        let trace = match &ctx {
            Some(c) => c.trace,
            None => self.placement(rec).trace,
        };
        if !self.keep(&trace, ctx.as_ref().map(|c| c.flags)) {
            return None;
        }
        let mut a = self.attrs(rec);
        a.int(keys::STATE_VERSION_BEFORE, diff.base)
            .int(keys::STATE_VERSION, diff.version);
        let mut span = self.lifecycle_span(rec, "patch", a, None);
        if let Some(c) = ctx {
            // A patch whose action span was not seen: still a child of it.
            span.trace_id = c.trace.to_vec();
            span.parent_span_id = c.span.to_vec();
            span.flags = u32::from(c.flags) | HAS_IS_REMOTE;
        }
        self.attach_diff(&mut span, rec, diff);
        Some(span)
    }

    fn render_span(&self, rec: &Record, r: &RenderRecord) -> Option<Span> {
        let dur_us = r.frame_us.max(r.apply_us.saturating_add(r.render_us));
        let start_us = r.at_unix_us.unwrap_or_else(|| {
            // The report reaches the server after the frame: count back.
            self.started_unix_us
                .saturating_add(rec.ts_us)
                .saturating_sub(dur_us)
        });
        let mut a = self.attrs(rec);
        a.int(keys::STATE_VERSION, r.version)
            .int(keys::RENDER_APPLY_US, r.apply_us)
            .int(keys::RENDER_RENDER_US, r.render_us)
            .int(keys::RENDER_FRAME_US, r.frame_us)
            .int(keys::RECORD_SEQ, rec.seq);
        let (trace, parent, flags, browser) =
            match r.trace.as_deref().and_then(ids::parse_traceparent) {
                Some((t, s, f)) => (
                    t,
                    Some(s),
                    u32::from(f) | HAS_IS_REMOTE | IS_REMOTE,
                    Some(f),
                ),
                None => {
                    let at = self.placement(rec);
                    (
                        at.trace,
                        at.parent,
                        u32::from(SAMPLED) | HAS_IS_REMOTE,
                        None,
                    )
                }
            };
        if !self.keep(&trace, browser) {
            return None;
        }
        Some(new_span(SpanParts {
            trace,
            span: self.ids.span_id(salt::RENDER, rec.seq),
            parent,
            flags,
            name: self.name("render", rec.instance.as_ref(), None),
            kind: SpanKind::Internal,
            start_ns: start_us.saturating_mul(1_000),
            end_ns: start_us.saturating_add(dur_us).saturating_mul(1_000),
            attributes: a.finish(),
            status: None,
        }))
    }

    fn client_span(&self, rec: &Record, c: &ClientSpanRecord) -> Option<Span> {
        let mut a = self.attrs(rec);
        a.str(keys::ACTION, &c.method)
            .int(keys::RECORD_SEQ, rec.seq);
        let status = c.error.as_deref().map(|code| {
            a.str(keys::ERROR_CODE, code).str(keys::ERROR_TYPE, code);
            error_status(code, self.opts.max_attr_len)
        });
        let (trace, span, flags) = match ids::parse_traceparent(&c.trace) {
            Some((t, _, f)) if !self.keep(&t, Some(f)) => return None,
            Some((t, s, f)) => (t, s, f),
            // A browser sent a malformed traceparent: keep the span, in its own trace.
            None => (
                self.ids.trace_id(salt::CLIENT, rec.seq),
                self.ids.span_id(salt::CLIENT, rec.seq),
                SAMPLED,
            ),
        };
        let start_ns = c.start_unix_us.saturating_mul(1_000);
        Some(new_span(SpanParts {
            trace,
            span,
            parent: None,
            flags: u32::from(flags) | HAS_IS_REMOTE,
            name: self.name("call", rec.instance.as_ref(), Some(&c.method)),
            kind: SpanKind::Client,
            start_ns,
            end_ns: c
                .start_unix_us
                .saturating_add(c.dur_us)
                .saturating_mul(1_000),
            attributes: a.finish(),
            status,
        }))
    }
}

fn event_belongs(p: &PendingAction, ts_us: u64, kind: &EventKind) -> bool {
    match kind {
        EventKind::Emit { .. } => p.start_us <= ts_us && ts_us <= p.end_us,
        EventKind::Panic { method, .. } => {
            method == &p.method
                && p.start_us <= ts_us
                && ts_us <= p.end_us.saturating_add(PANIC_SLACK_US)
        }
    }
}

fn push_event(span: &mut Span, ev: Event) {
    if span.events.len() < MAX_EVENTS {
        span.events.push(ev);
    } else {
        span.dropped_events_count += 1;
    }
}

fn op_path(op: &PatchOperation) -> &str {
    match op {
        PatchOperation::Add(o) => o.path.as_str(),
        PatchOperation::Remove(o) => o.path.as_str(),
        PatchOperation::Replace(o) => o.path.as_str(),
        PatchOperation::Move(o) => o.path.as_str(),
        PatchOperation::Copy(o) => o.path.as_str(),
        PatchOperation::Test(o) => o.path.as_str(),
    }
}

fn error_status(message: &str, max: usize) -> Status {
    Status {
        message: cap(message, max),
        code: StatusCode::Error as i32,
    }
}

/// The protocol's own snake_case spelling of a unit enum, so that variants
/// added to the protocol later need no change here.
fn wire_name<T: serde::Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

struct SpanParts {
    trace: TraceId,
    span: SpanId,
    parent: Option<SpanId>,
    flags: u32,
    name: String,
    kind: SpanKind,
    start_ns: u64,
    end_ns: u64,
    attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    status: Option<Status>,
}

fn new_span(p: SpanParts) -> Span {
    Span {
        trace_id: p.trace.to_vec(),
        span_id: p.span.to_vec(),
        trace_state: String::new(),
        parent_span_id: p.parent.map(|s| s.to_vec()).unwrap_or_default(),
        flags: p.flags,
        name: p.name,
        kind: p.kind as i32,
        start_time_unix_nano: p.start_ns,
        end_time_unix_nano: p.end_ns.max(p.start_ns),
        attributes: p.attributes,
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        // Always present: some OTLP/JSON readers dislike a null status.
        status: Some(p.status.unwrap_or(Status {
            message: String::new(),
            code: StatusCode::Unset as i32,
        })),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fluxlive_protocol::record::TraceContext;
    use serde_json::json;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "b7ad6b7169203331";
    const PARENT: &str = "00f067aa0ba902b7";

    fn mapper() -> SpanMapper {
        SpanMapper::new(
            1_000_000,
            IdGen::new(9),
            MapOptions {
                max_attr_len: 64,
                record_values: true,
                sampler: Sampler::default(),
            },
        )
    }

    fn inst() -> Option<InstanceRef> {
        Some(InstanceRef {
            iid: 1,
            id: "c".into(),
            component: "Counter".into(),
        })
    }

    fn ctx(flags: u8) -> Option<TraceContext> {
        Some(TraceContext {
            trace_id: TRACE.into(),
            span_id: SPAN.into(),
            parent_span_id: Some(PARENT.into()),
            flags,
        })
    }

    fn action(seq: u64, ts: u64, before: u64, after: u64, flags: u8) -> Record {
        Record {
            seq,
            ts_us: ts,
            conn: 1,
            instance: inst(),
            body: RecordBody::Action(ActionRecord {
                method: "increment".into(),
                args: json!([]),
                args_truncated: false,
                dur_us: 10,
                outcome: Outcome::Ok {
                    result: json!(null),
                },
                version_before: before,
                version_after: after,
                trace: ctx(flags),
                source: CallSource::Client,
            }),
        }
    }

    fn diff(seq: u64, base: u64, version: u64) -> Record {
        Record {
            seq,
            ts_us: 20,
            conn: 1,
            instance: inst(),
            body: RecordBody::Diff(DiffRecord {
                base,
                version,
                ops: serde_json::from_value(
                    json!([{"op": "replace", "path": "/count", "value": 1}]),
                )
                .unwrap(),
                bytes: 40,
                diff_us: 1,
                encode_us: 1,
                trace: ctx(1),
            }),
        }
    }

    fn emit(seq: u64, ts: u64) -> Record {
        Record {
            seq,
            ts_us: ts,
            conn: 1,
            instance: inst(),
            body: RecordBody::Emit {
                name: "changed".into(),
                data: json!({}),
            },
        }
    }

    fn has_attr(s: &Span, key: &str) -> bool {
        s.attributes.iter().any(|kv| kv.key == key)
    }

    #[test]
    fn diff_after_action_joins_and_releases_the_span() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&action(1, 5, 1, 2, 1), &mut out);
        assert!(out.is_empty(), "held until its diff arrives");
        m.push(&diff(2, 1, 2), &mut out);
        assert_eq!(out.len(), 1);
        assert!(has_attr(&out[0], keys::PATCH_OPS));
        assert_eq!(m.pending(), 0);
    }

    #[test]
    fn diff_before_action_joins_too() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&diff(2, 1, 2), &mut out);
        assert!(out.is_empty());
        m.push(&action(1, 5, 1, 2, 1), &mut out);
        assert_eq!(out.len(), 1);
        assert!(has_attr(&out[0], keys::PATCH_BYTES));
        assert_eq!(m.pending(), 0);
    }

    #[test]
    fn an_action_that_changes_nothing_is_not_held() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&action(1, 5, 3, 3, 1), &mut out);
        assert_eq!(out.len(), 1);
        assert!(!has_attr(&out[0], keys::PATCH_OPS));
    }

    #[test]
    fn a_missing_diff_releases_the_action_after_two_ticks() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&action(1, 5, 1, 2, 1), &mut out);
        m.advance(&mut out);
        assert!(out.is_empty(), "one tick is not enough");
        m.advance(&mut out);
        assert_eq!(out.len(), 1);
        assert!(!has_attr(&out[0], keys::PATCH_OPS));
        assert_eq!(m.pending(), 0);
    }

    #[test]
    fn an_orphan_diff_becomes_a_patch_span_under_its_action() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&diff(2, 7, 8), &mut out);
        m.advance(&mut out);
        m.advance(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "patch Counter");
        assert_eq!(
            out[0].parent_span_id,
            crate::ids::parse_hex::<8>(SPAN).unwrap().to_vec()
        );
    }

    #[test]
    fn emits_join_their_action_before_or_after_it() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&emit(1, 7), &mut out);
        m.push(&action(2, 5, 1, 2, 1), &mut out);
        m.push(&emit(3, 12), &mut out);
        // Outside the action's [5, 15] window: not this action's event.
        m.push(&emit(4, 40), &mut out);
        m.push(&diff(5, 1, 2), &mut out);
        assert_eq!(out.len(), 1);
        let names: Vec<&str> = out[0].events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names.iter().filter(|n| **n == "fluxlive.emit").count(),
            2,
            "{names:?}"
        );
        m.advance(&mut out);
        m.advance(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, "emit Counter");
    }

    #[test]
    fn unsampled_traces_are_not_exported() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(&action(1, 5, 1, 1, 0), &mut out);
        m.push(
            &Record {
                seq: 2,
                ts_us: 9,
                conn: 1,
                instance: inst(),
                body: RecordBody::ClientSpan(ClientSpanRecord {
                    method: "increment".into(),
                    trace: format!("00-{TRACE}-{PARENT}-00"),
                    start_unix_us: 1,
                    dur_us: 1,
                    error: None,
                }),
            },
            &mut out,
        );
        m.push(
            &Record {
                seq: 3,
                ts_us: 10,
                conn: 1,
                instance: inst(),
                body: RecordBody::Render(RenderRecord {
                    version: 2,
                    apply_us: 1,
                    render_us: 1,
                    frame_us: 1,
                    at_unix_us: None,
                    trace: Some(format!("00-{TRACE}-{SPAN}-00")),
                }),
            },
            &mut out,
        );
        m.flush_pending(&mut out);
        assert!(
            out.is_empty(),
            "{:?}",
            out.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }

    #[test]
    fn malformed_browser_traceparent_still_gives_a_span() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(
            &Record {
                seq: 2,
                ts_us: 9,
                conn: 1,
                instance: None,
                body: RecordBody::ClientSpan(ClientSpanRecord {
                    method: "increment".into(),
                    trace: "00-not-hex-at-all".into(),
                    start_unix_us: 1,
                    dur_us: 1,
                    error: Some("overloaded".into()),
                }),
            },
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].trace_id.len(), 16);
        assert_eq!(
            out[0].status.as_ref().unwrap().code,
            StatusCode::Error as i32
        );
    }

    #[test]
    fn drain_closes_open_connections() {
        let mut m = mapper();
        let mut out = Vec::new();
        m.push(
            &Record {
                seq: 1,
                ts_us: 3,
                conn: 5,
                instance: None,
                body: RecordBody::ConnOpen { peer: None },
            },
            &mut out,
        );
        m.push(&action(2, 50, 1, 1, 1), &mut out);
        m.flush_pending(&mut out);
        assert_eq!(out.len(), 1, "flush keeps connections open");
        m.drain(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, "connection");
        assert!(has_attr(&out[1], keys::CONNECTION_OPEN));
        assert_eq!(out[1].end_time_unix_nano, (1_000_000 + 50) * 1_000);
    }

    #[test]
    fn replayed_actions_get_their_own_trace_linked_to_the_original() {
        let mut m = mapper();
        let mut out = Vec::new();
        let mut r = action(1, 5, 1, 1, 1);
        if let RecordBody::Action(a) = &mut r.body {
            a.source = CallSource::Replay;
        }
        m.push(&r, &mut out);
        assert_eq!(out.len(), 1);
        let original = crate::ids::parse_hex::<16>(TRACE).unwrap().to_vec();
        assert_ne!(out[0].trace_id, original);
        assert!(out[0].parent_span_id.is_empty());
        assert_eq!(out[0].links.len(), 1);
        assert_eq!(out[0].links[0].trace_id, original);
        assert_eq!(
            out[0].links[0].span_id,
            crate::ids::parse_hex::<8>(SPAN).unwrap().to_vec()
        );
    }

    #[test]
    fn held_records_stay_bounded() {
        let mut m = mapper();
        let mut out = Vec::new();
        for i in 0..(MAX_PENDING as u64 + 10) {
            // Each waits for a diff that never comes.
            let mut a = action(i + 1, i, 1, 2, 1);
            a.instance = Some(InstanceRef {
                iid: i,
                id: "c".into(),
                component: "Counter".into(),
            });
            m.push(&a, &mut out);
        }
        assert!(m.pending() <= MAX_PENDING);
        assert!(out.len() >= MAX_PENDING);
    }
}
