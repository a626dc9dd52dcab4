//! Attribute names and size-capped attribute builders.
//!
//! Every string that comes from a record is capped on the way in, so no record
//! value can make a span larger than the configured attribute limit.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};

/// Attribute keys this exporter writes (OpenTelemetry naming: lower case,
/// dot-separated namespaces).
pub mod keys {
    /// Component type, e.g. `Counter`.
    pub const COMPONENT_TYPE: &str = "fluxlive.component.type";
    /// Client-visible instance id (unique within a connection).
    pub const COMPONENT_ID: &str = "fluxlive.component.id";
    /// Global instance number.
    pub const INSTANCE_IID: &str = "fluxlive.instance.iid";
    /// Action (method) name.
    pub const ACTION: &str = "fluxlive.action";
    /// Who called the action: `client`, `debug` or `replay`.
    pub const ACTION_SOURCE: &str = "fluxlive.action.source";
    /// Redacted, size-capped JSON of the action arguments.
    pub const ACTION_ARGS: &str = "fluxlive.action.args";
    /// True when the recorder cut the arguments to its size cap.
    pub const ACTION_ARGS_TRUNCATED: &str = "fluxlive.action.args_truncated";
    /// Redacted, size-capped JSON of the action result.
    pub const ACTION_RESULT: &str = "fluxlive.action.result";
    /// Microseconds the action itself ran (the span also covers the diff).
    pub const ACTION_DURATION_US: &str = "fluxlive.action.duration_us";
    /// State version after the record's event.
    pub const STATE_VERSION: &str = "fluxlive.state.version";
    /// State version before the record's event.
    pub const STATE_VERSION_BEFORE: &str = "fluxlive.state.version_before";
    /// Encoded patch frame size in bytes.
    pub const PATCH_BYTES: &str = "fluxlive.patch.bytes";
    /// Number of RFC 6902 operations in the patch.
    pub const PATCH_OPS: &str = "fluxlive.patch.ops";
    /// JSON pointer paths touched by the patch (first few only).
    pub const PATCH_PATHS: &str = "fluxlive.patch.paths";
    /// Microseconds spent serializing and diffing the state.
    pub const DIFF_US: &str = "fluxlive.diff.duration_us";
    /// Microseconds spent encoding the patch frame.
    pub const ENCODE_US: &str = "fluxlive.encode.duration_us";
    /// Connection (session) id.
    pub const CONNECTION_ID: &str = "fluxlive.connection.id";
    /// Why a connection closed.
    pub const CONNECTION_CLOSE_REASON: &str = "fluxlive.connection.close_reason";
    /// True on a connection span emitted while the connection was still open.
    pub const CONNECTION_OPEN: &str = "fluxlive.connection.still_open";
    /// Stable fluxlive error code (`action_failed`, `action_panicked`, ...).
    pub const ERROR_CODE: &str = "fluxlive.error.code";
    /// OpenTelemetry semantic convention for the error class.
    pub const ERROR_TYPE: &str = "error.type";
    /// Browser time from frame receipt to patch applied, µs.
    pub const RENDER_APPLY_US: &str = "fluxlive.render.apply_us";
    /// Browser time in render callbacks, µs.
    pub const RENDER_RENDER_US: &str = "fluxlive.render.render_us";
    /// Browser time from frame receipt to next animation frame, µs.
    pub const RENDER_FRAME_US: &str = "fluxlive.render.frame_us";
    /// Redacted, size-capped JSON of mount props.
    pub const PROPS: &str = "fluxlive.component.props";
    /// Why an instance was unmounted.
    pub const UNMOUNT_REASON: &str = "fluxlive.unmount.reason";
    /// The recorded version a time travel restored.
    pub const TIME_TRAVEL_TARGET: &str = "fluxlive.time_travel.target";
    /// Name of an emitted event.
    pub const EVENT_NAME: &str = "fluxlive.event.name";
    /// The record's sequence number.
    pub const RECORD_SEQ: &str = "fluxlive.record.seq";
    /// Peer address of a connection (as recorded).
    pub const PEER_ADDRESS: &str = "network.peer.address";
    /// Exception event: type.
    pub const EXCEPTION_TYPE: &str = "exception.type";
    /// Exception event: message.
    pub const EXCEPTION_MESSAGE: &str = "exception.message";
    /// Metrics: outcome of an action (`ok` or an error code).
    pub const OUTCOME: &str = "fluxlive.outcome";
    /// Metrics: where records were dropped.
    pub const DROP_SITE: &str = "fluxlive.drop.site";
}

/// How many patch paths go into [`keys::PATCH_PATHS`].
pub(crate) const MAX_PATCH_PATHS: usize = 16;

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 3);
    out.push_str(&s[..end]);
    out.push('…');
    out
}

/// Collects attributes with a per-value size cap.
pub(crate) struct Attrs {
    max_len: usize,
    list: Vec<KeyValue>,
}

impl Attrs {
    pub(crate) fn new(max_len: usize) -> Self {
        Self {
            max_len,
            list: Vec::with_capacity(12),
        }
    }

    fn push(&mut self, key: &str, value: Value) {
        self.list.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            key_strindex: 0,
        });
    }

    pub(crate) fn str(&mut self, key: &str, v: &str) -> &mut Self {
        let v = cap(v, self.max_len);
        self.push(key, Value::StringValue(v));
        self
    }

    pub(crate) fn int(&mut self, key: &str, v: u64) -> &mut Self {
        self.push(key, Value::IntValue(i64::try_from(v).unwrap_or(i64::MAX)));
        self
    }

    pub(crate) fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.push(key, Value::BoolValue(v));
        self
    }

    /// A JSON value rendered as capped text (records are already redacted).
    pub(crate) fn json(&mut self, key: &str, v: &serde_json::Value) -> &mut Self {
        let text = serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned());
        self.str(key, &text)
    }

    pub(crate) fn str_array<'a>(
        &mut self,
        key: &str,
        vs: impl Iterator<Item = &'a str>,
    ) -> &mut Self {
        let values = vs
            .map(|s| AnyValue {
                value: Some(Value::StringValue(cap(s, self.max_len))),
            })
            .collect();
        self.push(key, Value::ArrayValue(ArrayValue { values }));
        self
    }

    pub(crate) fn finish(self) -> Vec<KeyValue> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_short_strings_and_cuts_on_char_boundaries() {
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("abcd", 3), "abc…");
        // "é" is two bytes: cutting at 2 must not split it.
        assert_eq!(cap("aéb", 2), "a…");
        assert_eq!(cap("", 0), "");
    }

    #[test]
    fn attrs_cap_every_string() {
        let mut a = Attrs::new(4);
        a.str("k", "0123456789")
            .json("j", &serde_json::json!({"long": "value"}))
            .int("i", u64::MAX);
        let list = a.finish();
        let s = |i: usize| match list[i].value.as_ref().and_then(|v| v.value.clone()) {
            Some(Value::StringValue(s)) => s,
            other => panic!("not a string: {other:?}"),
        };
        assert_eq!(s(0), "0123…");
        assert_eq!(s(1), "{\"lo…");
        assert!(matches!(
            list[2].value.as_ref().and_then(|v| v.value.clone()),
            Some(Value::IntValue(i64::MAX))
        ));
    }
}
