//! Event → record conversion: string allocation, redaction and size caps.
//! Runs on the collector thread, never on the hot path.

use crate::event::{Event, EventBody, TypeMeta};
use crate::redact::{cap, cap_str, redact_args, redact_ops, redact_top};
use fluxlive_protocol::record::{
    ActionRecord, ClientSpanRecord, DiffRecord, InstanceRef, Outcome, RecordBody, RenderRecord,
};
use serde_json::Value;
use std::time::Instant;

/// Limits applied while converting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Largest argument, result, props or emit payload kept as is.
    pub(crate) max_value_bytes: usize,
}

/// An event turned into record parts, still without a sequence number.
#[derive(Debug)]
pub(crate) struct Converted {
    pub(crate) ts_us: u64,
    pub(crate) conn: u64,
    pub(crate) instance: Option<InstanceRef>,
    pub(crate) meta: Option<&'static TypeMeta>,
    pub(crate) body: RecordBody,
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds from `start` to `at` (0 when `at` is earlier).
pub(crate) fn ts_since(start: Instant, at: Instant) -> u64 {
    micros(at.saturating_duration_since(start))
}

/// Converts one event. `at` is the hot-path timestamp.
pub(crate) fn convert(ev: Event, at: Instant, start: Instant, caps: Caps) -> Converted {
    let meta = ev.instance.as_ref().map(|k| k.meta);
    let instance = ev.instance.map(|k| InstanceRef {
        iid: k.iid,
        id: k.id.to_string(),
        component: k.meta.name.to_owned(),
    });
    let redact = |v: &mut Value| {
        if let Some(m) = meta {
            redact_top(m, v);
        }
    };
    let max = caps.max_value_bytes;
    let body = match ev.body {
        EventBody::ConnOpen { peer } => RecordBody::ConnOpen {
            peer: peer.map(|p| p.to_string()),
        },
        EventBody::ConnClose { reason } => RecordBody::ConnClose {
            reason: reason.to_owned(),
        },
        EventBody::Mount {
            mut props,
            version,
            mut state,
        } => {
            redact(&mut props);
            cap(&mut props, max);
            // State is never capped: rebuilding later versions needs all of it.
            redact(&mut state);
            RecordBody::Mount {
                props,
                version,
                state,
            }
        }
        EventBody::Unmount { reason, version } => RecordBody::Unmount { reason, version },
        EventBody::Resume { version } => RecordBody::Resume { version },
        EventBody::Action {
            method,
            mut args,
            started: _,
            dur,
            outcome,
            version_before,
            version_after,
            trace,
            source,
        } => {
            if let Some(m) = meta {
                redact_args(m, &method, &mut args);
            }
            let mut args_truncated = false;
            for a in &mut args {
                args_truncated |= cap(a, max);
            }
            let outcome = match outcome {
                Ok(mut result) => {
                    redact(&mut result);
                    cap(&mut result, max);
                    Outcome::Ok { result }
                }
                Err((code, mut message)) => {
                    cap_str(&mut message, max);
                    Outcome::Err { code, message }
                }
            };
            RecordBody::Action(ActionRecord {
                method: method.into_owned(),
                args: Value::Array(args),
                args_truncated,
                dur_us: micros(dur),
                outcome,
                version_before,
                version_after,
                trace,
                source,
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
        } => RecordBody::Diff(DiffRecord {
            base,
            version,
            ops: match meta {
                Some(m) => redact_ops(m, ops),
                None => ops,
            },
            bytes,
            diff_us: micros(diff),
            encode_us: micros(encode),
            trace,
        }),
        EventBody::Render(r) => RecordBody::Render(RenderRecord {
            version: r.version,
            apply_us: r.apply_us,
            render_us: r.render_us,
            frame_us: r.frame_us,
            at_unix_us: r.at_unix_us,
            trace: r.trace,
        }),
        EventBody::ClientSpan(s) => RecordBody::ClientSpan(ClientSpanRecord {
            method: s.method,
            trace: s.trace,
            start_unix_us: s.start_unix_us,
            dur_us: s.dur_us,
            error: s.error,
        }),
        EventBody::Emit { name, mut data } => {
            redact(&mut data);
            cap(&mut data, max);
            RecordBody::Emit {
                name: name.into_owned(),
                data,
            }
        }
        EventBody::Panic {
            method,
            mut message,
        } => {
            cap_str(&mut message, max);
            RecordBody::Panic {
                method: method.into_owned(),
                message,
            }
        }
        EventBody::TimeTravel { target, version } => RecordBody::TimeTravel { target, version },
        EventBody::Snapshot { version, mut state } => {
            redact(&mut state);
            RecordBody::Snapshot { version, state }
        }
    };
    Converted {
        ts_us: ts_since(start, at),
        conn: ev.conn,
        instance,
        meta,
        body,
    }
}
