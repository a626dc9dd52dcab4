//! Entry → record conversion: decoding, string allocation, redaction and
//! size caps. Runs when a record is read (subscription, export), never on
//! the hot path and not for entries nobody reads.

use crate::clock::Instant;
use crate::event::{EventBody, TypeMeta};
use crate::history::Entry;
use crate::redact::{cap, cap_str, redact_args, redact_ops, redact_top};
use crate::wire::{self, Decoded};
use fluxlive_protocol::record::{
    ActionRecord, ClientSpanRecord, DiffRecord, InstanceRef, Outcome, Record, RecordBody,
    RenderRecord,
};
use serde_json::Value;

/// Limits applied while converting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Largest argument, result, props or emit payload kept as is.
    pub(crate) max_value_bytes: usize,
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds from `start` to `at` (0 when `at` is earlier).
pub(crate) fn ts_since(start: Instant, at: Instant) -> u64 {
    micros(at.saturating_duration_since(start))
}

/// Appends the records a held entry stands for, from sequence number
/// `from` on (an action carrying its diff and emits stands for several):
/// decoded, redacted and capped. `bytes` are the entry's encoded bytes.
pub(crate) fn materialize(
    e: &Entry,
    bytes: &[u8],
    meta: Option<&'static TypeMeta>,
    from: u64,
    caps: Caps,
    start: Instant,
    out: &mut Vec<Record>,
) {
    let decoded = match wire::decode(&e.hdr, bytes, start) {
        Ok(d) => d,
        Err(err) => {
            tracing::error!(target: "fluxlive::recorder", error = %err, seq = e.seq, "held entry does not decode");
            return;
        }
    };
    let (id, body) = match decoded {
        Decoded::Event { id, body } => (id, body),
        Decoded::Dropped {
            count,
            site,
            reason,
        } => {
            if e.last_seq() >= from {
                out.push(plain(
                    e,
                    RecordBody::Dropped {
                        count,
                        site,
                        reason,
                    },
                ));
            }
            return;
        }
        Decoded::Recording(on) => {
            if e.last_seq() >= from {
                out.push(plain(e, RecordBody::Recording { on }));
            }
            return;
        }
        Decoded::ConnClose(reason) => {
            if e.last_seq() >= from {
                out.push(plain(e, RecordBody::ConnClose { reason }));
            }
            return;
        }
    };
    let instance = match (&id, meta) {
        (Some(id), Some(m)) => Some(InstanceRef {
            iid: e.hdr.iid,
            id: id.to_string(),
            component: m.name.to_owned(),
        }),
        _ => None,
    };
    let record = |seq: u64, ts_us: u64, body: RecordBody| Record {
        seq,
        ts_us,
        conn: e.hdr.conn,
        instance: instance.clone(),
        body,
    };
    if let EventBody::Action {
        diff,
        emits,
        trace,
        started,
        dur,
        ..
    } = &body
    {
        let mut seq = e.seq;
        if let Some(d) = diff {
            if seq >= from {
                let body = diff_body(
                    d.base,
                    d.version,
                    &d.ops,
                    d.bytes,
                    (d.diff, d.encode),
                    trace.as_deref(),
                    meta,
                );
                out.push(record(seq, ts_since(start, d.at), body));
            }
            seq += 1;
        }
        let ended = ts_since(start, *started + *dur);
        for (name, data) in emits {
            if seq >= from {
                out.push(record(seq, ended, emit_body(name, data, meta, caps)));
            }
            seq += 1;
        }
    }
    let last = e.last_seq();
    if last >= from {
        let body = convert_body(&body, meta, caps);
        out.push(record(last, e.ts_us, body));
    }
}

fn plain(e: &Entry, body: RecordBody) -> Record {
    Record {
        seq: e.last_seq(),
        ts_us: e.ts_us,
        conn: e.hdr.conn,
        instance: None,
        body,
    }
}

/// A diff record's body, its operations redacted.
fn diff_body(
    base: u64,
    version: u64,
    ops: &json_patch::Patch,
    bytes: u32,
    (diff, encode): (std::time::Duration, std::time::Duration),
    trace: Option<&fluxlive_protocol::record::TraceContext>,
    meta: Option<&'static TypeMeta>,
) -> RecordBody {
    RecordBody::Diff(DiffRecord {
        base,
        version,
        ops: match meta {
            Some(m) => redact_ops(m, ops.clone()),
            None => ops.clone(),
        },
        bytes,
        diff_us: micros(diff),
        encode_us: micros(encode),
        trace: trace.cloned(),
    })
}

fn emit_body(name: &str, data: &Value, meta: Option<&'static TypeMeta>, caps: Caps) -> RecordBody {
    let mut data = data.clone();
    if let Some(m) = meta {
        redact_top(m, &mut data);
    }
    cap(&mut data, caps.max_value_bytes);
    RecordBody::Emit {
        name: name.to_owned(),
        data,
    }
}

fn convert_body(ev: &EventBody, meta: Option<&'static TypeMeta>, caps: Caps) -> RecordBody {
    let redacted = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = meta {
            redact_top(m, &mut v);
        }
        v
    };
    let max = caps.max_value_bytes;
    match ev {
        EventBody::ConnOpen { peer } => RecordBody::ConnOpen {
            peer: peer.map(|p| p.to_string()),
        },
        EventBody::ConnClose { reason } => RecordBody::ConnClose {
            reason: (*reason).to_owned(),
        },
        EventBody::Mount {
            props,
            version,
            state,
        } => {
            let mut props = redacted(props);
            cap(&mut props, max);
            // State is never capped: rebuilding later versions needs all of it.
            RecordBody::Mount {
                props,
                version: *version,
                state: redacted(state),
            }
        }
        EventBody::Unmount { reason, version } => RecordBody::Unmount {
            reason: *reason,
            version: *version,
        },
        EventBody::Resume { version } => RecordBody::Resume { version: *version },
        EventBody::Action {
            method,
            args,
            dur,
            outcome,
            version_before,
            version_after,
            trace,
            source,
            ..
        } => {
            let mut args = args.clone();
            if let Some(m) = meta {
                redact_args(m, method, &mut args);
            }
            let mut args_truncated = false;
            for a in &mut args {
                args_truncated |= cap(a, max);
            }
            let outcome = match outcome {
                Ok(result) => {
                    let mut result = redacted(result);
                    cap(&mut result, max);
                    Outcome::Ok { result }
                }
                Err((code, message)) => {
                    let mut message = message.clone();
                    cap_str(&mut message, max);
                    Outcome::Err {
                        code: *code,
                        message,
                    }
                }
            };
            RecordBody::Action(ActionRecord {
                method: method.to_string(),
                args: Value::Array(args),
                args_truncated,
                dur_us: micros(*dur),
                outcome,
                version_before: *version_before,
                version_after: *version_after,
                trace: trace.as_deref().cloned(),
                source: *source,
            })
        }
        EventBody::Diff {
            base,
            version,
            ops,
            bytes,
            diff,
            encode,
            trace,
        } => diff_body(
            *base,
            *version,
            ops,
            *bytes,
            (*diff, *encode),
            trace.as_deref(),
            meta,
        ),
        EventBody::Render(r) => RecordBody::Render(RenderRecord {
            version: r.version,
            apply_us: r.apply_us,
            render_us: r.render_us,
            frame_us: r.frame_us,
            at_unix_us: r.at_unix_us,
            trace: r.trace.clone(),
        }),
        EventBody::ClientSpan(s) => RecordBody::ClientSpan(ClientSpanRecord {
            method: s.method.clone(),
            trace: s.trace.clone(),
            start_unix_us: s.start_unix_us,
            dur_us: s.dur_us,
            error: s.error.clone(),
        }),
        EventBody::Emit { name, data } => emit_body(name, data, meta, caps),
        EventBody::Panic { method, message } => {
            let mut message = message.clone();
            cap_str(&mut message, max);
            RecordBody::Panic {
                method: method.to_string(),
                message,
            }
        }
        EventBody::TimeTravel { target, version } => RecordBody::TimeTravel {
            target: *target,
            version: *version,
        },
        EventBody::Snapshot { version, state } => RecordBody::Snapshot {
            version: *version,
            state: redacted(state),
        },
    }
}
