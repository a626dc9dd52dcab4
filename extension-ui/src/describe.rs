//! Records and numbers in words, for lists and details.

use fluxlive_protocol::record::{Outcome, RecordBody, RecordKind};
use serde_json::Value;

/// A duration in µs, short: `850µs`, `12.3ms`, `1.20s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2}s", us as f64 / 1_000_000.0)
    }
}

/// A record timestamp (µs since the runtime started) as `s.mmm`.
pub fn fmt_ts(us: u64) -> String {
    format!("{}.{:03}", us / 1_000_000, (us / 1_000) % 1_000)
}

/// The kind's wire name.
pub fn kind_name(k: RecordKind) -> &'static str {
    match k {
        RecordKind::ConnOpen => "conn_open",
        RecordKind::ConnClose => "conn_close",
        RecordKind::Mount => "mount",
        RecordKind::Unmount => "unmount",
        RecordKind::Resume => "resume",
        RecordKind::Action => "action",
        RecordKind::Diff => "diff",
        RecordKind::Render => "render",
        RecordKind::ClientSpan => "client_span",
        RecordKind::Emit => "emit",
        RecordKind::Panic => "panic",
        RecordKind::Snapshot => "snapshot",
        RecordKind::TimeTravel => "time_travel",
        RecordKind::Dropped => "dropped",
        RecordKind::Recording => "recording",
    }
}

/// The kind from its wire name.
pub fn kind_from_name(s: &str) -> Option<RecordKind> {
    serde_json::from_value(Value::String(s.to_owned())).ok()
}

fn short(v: &Value, max: usize) -> String {
    let s = v.to_string();
    if s.len() <= max {
        return s;
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &s[..cut])
}

fn args_text(args: &Value) -> String {
    match args {
        Value::Array(items) => items
            .iter()
            .map(|a| short(a, 40))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => short(other, 60),
    }
}

/// One line about a record body.
pub fn summary(body: &RecordBody) -> String {
    match body {
        RecordBody::Action(a) => {
            let out = match &a.outcome {
                Outcome::Ok {
                    result: Value::Null,
                } => String::new(),
                Outcome::Ok { result } => format!(" → {}", short(result, 40)),
                Outcome::Err { code, message } => format!(" ✗ {code}: {message}"),
            };
            let change = if a.version_after != a.version_before {
                format!("  v{}→v{}", a.version_before, a.version_after)
            } else {
                "  (no change)".to_owned()
            };
            format!("{}({}){out}{change}", a.method, args_text(&a.args))
        }
        RecordBody::Diff(d) => format!(
            "v{}→v{} · {} op{} · {} B",
            d.base,
            d.version,
            d.ops.0.len(),
            if d.ops.0.len() == 1 { "" } else { "s" },
            d.bytes
        ),
        RecordBody::Render(r) => format!(
            "v{} rendered in {} (apply {}, frame {})",
            r.version,
            fmt_us(r.render_us),
            fmt_us(r.apply_us),
            fmt_us(r.frame_us)
        ),
        RecordBody::ClientSpan(s) => match &s.error {
            Some(e) => format!("client call {} ✗ {e}", s.method),
            None => format!("client call {}", s.method),
        },
        RecordBody::Emit { name, data } => format!("emit {name} {}", short(data, 60)),
        RecordBody::Panic { method, message } => format!("{method} panicked: {message}"),
        RecordBody::Mount { version, props, .. } => {
            format!("mounted v{version} props {}", short(props, 60))
        }
        RecordBody::Unmount { reason, version } => format!("unmounted at v{version} ({reason:?})"),
        RecordBody::Resume { version } => format!("resumed at v{version}"),
        RecordBody::Snapshot { version, .. } => format!("state snapshot v{version}"),
        RecordBody::TimeTravel { target, version } => {
            format!("time travel to v{target} (new v{version})")
        }
        RecordBody::Dropped {
            count,
            site,
            reason,
        } => format!("{count} records dropped at {site:?}: {reason}"),
        RecordBody::Recording { on } => (if *on {
            "recording resumed"
        } else {
            "recording paused"
        })
        .to_owned(),
        RecordBody::ConnOpen { peer } => format!(
            "connection opened{}",
            peer.as_ref()
                .map(|p| format!(" from {p}"))
                .unwrap_or_default()
        ),
        RecordBody::ConnClose { reason } => format!("connection closed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxlive_protocol::record::{ActionRecord, CallSource};
    use serde_json::json;

    #[test]
    fn durations_and_times() {
        assert_eq!(fmt_us(850), "850µs");
        assert_eq!(fmt_us(12_345), "12.3ms");
        assert_eq!(fmt_us(1_200_000), "1.20s");
        assert_eq!(fmt_ts(3_004_500), "3.004");
    }

    #[test]
    fn kind_names_round_trip() {
        for &k in crate::store::Model::kinds() {
            assert_eq!(kind_from_name(kind_name(k)), Some(k));
        }
        assert_eq!(kind_from_name("nope"), None);
    }

    #[test]
    fn action_summary_names_args_result_and_change() {
        let body = RecordBody::Action(ActionRecord {
            method: "add".into(),
            args: json!([5]),
            args_truncated: false,
            dur_us: 3,
            outcome: Outcome::Ok { result: json!(15) },
            version_before: 2,
            version_after: 3,
            trace: None,
            source: CallSource::Client,
        });
        assert_eq!(summary(&body), "add(5) → 15  v2→v3");
    }

    #[test]
    fn long_values_are_cut_on_char_boundaries() {
        let s = short(&json!("ééééééééééééééééééééééééééééééé"), 10);
        assert!(s.ends_with('…'));
    }
}
