//! Redaction and size caps, applied by the collector before a record is
//! stored, so that nothing downstream (history, subscribers, state
//! rebuilding, export) can ever see a redacted value.

use crate::event::TypeMeta;
use fluxlive_protocol::REDACTED;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::Value;

/// Replaces the redacted top-level fields of an object with `"[redacted]"`.
pub fn redact_top(meta: &TypeMeta, value: &mut Value) {
    if meta.redacted_fields.is_empty() {
        return;
    }
    if let Value::Object(map) = value {
        for field in meta.redacted_fields {
            if let Some(v) = map.get_mut(*field) {
                *v = Value::String(REDACTED.to_owned());
            }
        }
    }
}

/// Puts the live values of redacted top-level fields back into a state
/// rebuilt from records (where they read `"[redacted]"`), so that time
/// travel can restore a recorded version without writing the marker into
/// the component: redacted fields keep their current server-side value.
pub fn restore_redacted(meta: &TypeMeta, recorded: &mut Value, live: &Value) {
    let (Value::Object(rec), Value::Object(live)) = (recorded, live) else {
        return;
    };
    for field in meta.redacted_fields {
        match live.get(*field) {
            Some(v) => {
                rec.insert((*field).to_owned(), v.clone());
            }
            None => {
                rec.remove(*field);
            }
        }
    }
}

/// The redacted top-level field a JSON pointer points into, if any.
fn redacted_root(meta: &TypeMeta, path: &PointerBuf) -> Option<String> {
    let first = path.first()?;
    let name = first.decoded();
    meta.is_redacted(&name).then(|| name.into_owned())
}

/// Rewrites patch operations that touch a redacted field.
///
/// The rule keeps the rebuilt state consistent with a redacted base: every
/// write to `/<field>` or below it becomes `add /<field> "[redacted]"`
/// (RFC 6902 `add` replaces an existing member), a `remove` of the whole
/// field stays, and `test` ops on the field are dropped (they could only
/// fail against the redacted base). Moves and copies *from* a redacted field
/// are safe as they stand: applied to the redacted base they carry the
/// marker, not the secret.
pub fn redact_ops(meta: &TypeMeta, patch: Patch) -> Patch {
    if meta.redacted_fields.is_empty() {
        return patch;
    }
    let mut out = Vec::with_capacity(patch.0.len());
    for op in patch.0 {
        let target = match &op {
            PatchOperation::Add(o) => redacted_root(meta, &o.path).map(|f| (f, &o.path)),
            PatchOperation::Remove(o) => redacted_root(meta, &o.path).map(|f| (f, &o.path)),
            PatchOperation::Replace(o) => redacted_root(meta, &o.path).map(|f| (f, &o.path)),
            PatchOperation::Move(o) => redacted_root(meta, &o.path).map(|f| (f, &o.path)),
            PatchOperation::Copy(o) => redacted_root(meta, &o.path).map(|f| (f, &o.path)),
            PatchOperation::Test(o) => redacted_root(meta, &o.path).map(|f| (f, &o.path)),
        };
        let Some((field, path)) = target else {
            out.push(op);
            continue;
        };
        let whole = path.count() == 1;
        match op {
            PatchOperation::Test(_) => {}
            PatchOperation::Remove(_) if whole => out.push(op),
            _ => out.push(PatchOperation::Add(AddOperation {
                path: PointerBuf::from_tokens([field.as_str()]),
                value: Value::String(REDACTED.to_owned()),
            })),
        }
    }
    Patch(out)
}

/// Redacts positional arguments by parameter name.
pub fn redact_args(meta: &TypeMeta, method: &str, args: &mut [Value]) {
    let Some(action) = meta.action(method) else {
        return;
    };
    for (value, name) in args.iter_mut().zip(action.params) {
        if action.redacted_params.contains(name) || meta.is_redacted(name) {
            *value = Value::String(REDACTED.to_owned());
        }
    }
}

/// Approximate heap footprint of a JSON value in bytes, stopping early once
/// it passes `limit` (so capping a huge value costs little).
pub(crate) fn approx_size(value: &Value, limit: usize) -> usize {
    let mut total = 0usize;
    let mut stack: Vec<&Value> = vec![value];
    while let Some(v) = stack.pop() {
        total += 16;
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => {
                for (k, v) in map {
                    total += k.len() + 16;
                    stack.push(v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        if total > limit {
            return total;
        }
    }
    total
}

/// Replaces `value` with a short marker when it is larger than `max` bytes;
/// returns true when it did.
pub(crate) fn cap(value: &mut Value, max: usize) -> bool {
    let size = approx_size(value, max);
    if size <= max {
        return false;
    }
    *value = Value::String(format!("[truncated: over {max} bytes]"));
    true
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub(crate) fn cap_str(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::ActionMeta;
    use serde_json::json;

    static META: TypeMeta = TypeMeta {
        name: "Vault",
        redacted_fields: &["secret"],
        actions: &[ActionMeta {
            name: "login",
            params: &["user", "password"],
            redacted_params: &["password"],
        }],
    };

    #[test]
    fn ops_under_a_redacted_field_become_a_marker_and_apply_to_a_redacted_base() {
        let state = json!({"secret": {"k": "hunter2"}, "n": 1});
        let mut base = state.clone();
        redact_top(&META, &mut base);
        let patch: Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/secret/k", "value": "swordfish"},
            {"op": "test", "path": "/secret/k", "value": "swordfish"},
            {"op": "replace", "path": "/n", "value": 2},
            {"op": "copy", "from": "/secret", "path": "/copy"}
        ]))
        .unwrap();
        let redacted = redact_ops(&META, patch);
        let text = serde_json::to_string(&redacted).unwrap();
        assert!(!text.contains("swordfish"), "{text}");
        json_patch::patch(&mut base, &redacted.0).unwrap();
        assert_eq!(base, json!({"secret": REDACTED, "n": 2, "copy": REDACTED}));
    }

    #[test]
    fn restore_redacted_takes_redacted_fields_from_the_live_state() {
        let mut recorded = json!({"secret": REDACTED, "n": 1});
        restore_redacted(&META, &mut recorded, &json!({"secret": {"k": 1}, "n": 9}));
        assert_eq!(recorded, json!({"secret": {"k": 1}, "n": 1}));
        let mut recorded = json!({"secret": REDACTED, "n": 1});
        restore_redacted(&META, &mut recorded, &json!({"n": 9}));
        assert_eq!(recorded, json!({"n": 1}));
    }

    #[test]
    fn removing_the_whole_field_is_kept() {
        let patch: Patch =
            serde_json::from_value(json!([{"op": "remove", "path": "/secret"}])).unwrap();
        let out = redact_ops(&META, patch.clone());
        assert_eq!(out, patch);
    }

    #[test]
    fn args_are_redacted_by_parameter_name() {
        let mut args = vec![json!("ann"), json!("hunter2")];
        redact_args(&META, "login", &mut args);
        assert_eq!(args, vec![json!("ann"), json!(REDACTED)]);
    }

    #[test]
    fn cap_replaces_large_values_only() {
        let mut small = json!({"a": 1});
        assert!(!cap(&mut small, 100));
        let mut big = json!({"a": "x".repeat(500)});
        assert!(cap(&mut big, 100));
        assert!(big.as_str().unwrap().starts_with("[truncated"));
        let mut s = "héllo".to_owned();
        cap_str(&mut s, 2);
        assert_eq!(s, "h…");
    }
}
