//! Applies encoded patch operations straight onto a state, with redaction,
//! without first building `json_patch` operations.
//!
//! Why: the collector folds every evicted diff into its instance's base,
//! and `state_at` replays held ones. Going through `json_patch` meant, per
//! op, parsing the path into a `PointerBuf`, cloning the value, and having
//! `serde_json::Value::pointer_mut` split and unescape the path again; it
//! was more than half of the collector's CPU per action. Here the common
//! ops (`add`, `remove`, `replace` on paths with no `~` escapes, which is
//! what `json_patch::diff` and the runtime emit) walk the state with
//! borrowed path segments and move the decoded value in. Anything else
//! (`move`, `copy`, `test`, the root path, escaped segments) goes through
//! `json_patch` one op at a time, with [`redact_ops`], so the result is
//! the same as applying `redact_ops(meta, ops)` with `json_patch` (a
//! property test holds the two side by side).

use crate::codec::{op, CodecError, Reader};
use crate::event::TypeMeta;
use crate::redact::redact_ops;
use fluxlive_protocol::REDACTED;
use json_patch::Patch;
use serde_json::Value;

/// Why encoded ops could not be applied. Either way the state they were
/// applied to is no longer known (ops before the failing one took effect).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FoldError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("patch op {index} does not apply: {reason}")]
    Apply { index: usize, reason: String },
}

/// Reads the ops [`put_ops`](crate::slice_codec::put_ops) wrote and applies
/// each to `state`, redacting `meta`'s fields as [`redact_ops`] does.
pub(crate) fn apply_encoded(
    r: &mut Reader<'_>,
    state: &mut Value,
    meta: &TypeMeta,
) -> Result<(), FoldError> {
    let n = r.len()?;
    for index in 0..n {
        let tag = r.u8()?;
        let path = r.str()?;
        let fail = |reason: &str| FoldError::Apply {
            index,
            reason: format!("{reason} at {path:?}"),
        };
        match tag {
            op::ADD | op::REPLACE | op::REMOVE if plain(path) => {
                let value = if tag == op::REMOVE {
                    None
                } else {
                    Some(r.value()?)
                };
                let (first, whole) = first_segment(path);
                if meta.is_redacted(first) && !(tag == op::REMOVE && whole) {
                    // Every write to a redacted field or below it reads as
                    // `add /<field> "[redacted]"`.
                    let Value::Object(map) = state else {
                        return Err(fail("redacted field in a non-object state"));
                    };
                    map.insert(first.to_owned(), Value::String(REDACTED.to_owned()));
                    continue;
                }
                let done = match (tag, value) {
                    (op::ADD, Some(v)) => add(state, path, v),
                    (op::REPLACE, Some(v)) => replace(state, path, v),
                    _ => remove(state, path),
                };
                done.map_err(fail)?;
            }
            _ => {
                let op = r.op_rest(tag, path)?;
                let ops = redact_ops(meta, Patch(vec![op]));
                json_patch::patch_unsafe(state, &ops.0).map_err(|e| FoldError::Apply {
                    index,
                    reason: e.to_string(),
                })?;
            }
        }
    }
    Ok(())
}

/// The length of the encoded op list at the start of `ops` when every op
/// in it is a `replace` on a plain path (the shape a counter's or a form
/// field's diff has), `None` otherwise.
pub(crate) fn replace_only(ops: &[u8]) -> Option<usize> {
    let mut r = Reader::new(ops);
    for _ in 0..r.len().ok()? {
        if r.u8().ok()? != op::REPLACE || !plain_bytes(r.str_bytes().ok()?) {
            return None;
        }
        r.skip_value().ok()?;
    }
    Some(ops.len() - r.rest().len())
}

/// The length of the encoded op list at the start of `ops` when it
/// replaces exactly the paths `prev` (a list [`replace_only`] accepted)
/// replaces, in the same order; `None` at the first difference. Then
/// applying `ops` gives the same state whether or not `prev` was applied
/// before it: each replace overwrites whatever `prev` put at its path, and
/// a recorded diff applies to the state it was taken from.
pub(crate) fn same_replaces(ops: &[u8], prev: &[u8]) -> Option<usize> {
    let (mut r, mut p) = (Reader::new(ops), Reader::new(prev));
    let n = r.len().ok()?;
    if p.len().ok()? != n {
        return None;
    }
    for _ in 0..n {
        if r.u8().ok()? != op::REPLACE || p.u8().ok()? != op::REPLACE {
            return None;
        }
        if r.str_bytes().ok()? != p.str_bytes().ok()? {
            return None;
        }
        r.skip_value().ok()?;
        p.skip_value().ok()?;
    }
    Some(ops.len() - r.rest().len())
}

/// A path the fast ops handle: not the root, and no `~` escapes.
fn plain(path: &str) -> bool {
    plain_bytes(path.as_bytes())
}

fn plain_bytes(path: &[u8]) -> bool {
    path.first() == Some(&b'/') && !path.contains(&b'~')
}

/// The first segment of a plain path, and whether it is the only one.
fn first_segment(path: &str) -> (&str, bool) {
    let rest = &path[1..];
    match rest.split_once('/') {
        Some((first, _)) => (first, false),
        None => (rest, true),
    }
}

/// `serde_json`'s array index rule for a path segment (what
/// `Value::pointer_mut` accepts): digits, no sign, no leading zero.
fn walk_index(s: &str) -> Option<usize> {
    if s.starts_with('+') || (s.starts_with('0') && s.len() != 1) {
        return None;
    }
    s.parse().ok()
}

/// RFC 6901's rule for the last segment of an array path (as `jsonptr`
/// reads it): `-` is one past the end.
fn last_index(s: &str, len: usize) -> Option<usize> {
    if s == "-" {
        return Some(len);
    }
    if (s.starts_with('0') && s != "0") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The value at a plain path (`""` is the root).
fn walk<'v>(mut at: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    if path.is_empty() {
        return Some(at);
    }
    for seg in path[1..].split('/') {
        at = match at {
            Value::Object(map) => map.get_mut(seg)?,
            Value::Array(items) => items.get_mut(walk_index(seg)?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// Parent path and last segment of a plain path.
fn split_last(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

fn add(state: &mut Value, path: &str, value: Value) -> Result<(), &'static str> {
    let (parent, last) = split_last(path);
    match walk(state, parent).ok_or("no such parent")? {
        Value::Object(map) => {
            map.insert(last.to_owned(), value);
        }
        Value::Array(items) => {
            let i = last_index(last, items.len()).ok_or("bad array index")?;
            if i > items.len() {
                return Err("array index out of bounds");
            }
            items.insert(i, value);
        }
        _ => return Err("parent is not a container"),
    }
    Ok(())
}

fn replace(state: &mut Value, path: &str, value: Value) -> Result<(), &'static str> {
    *walk(state, path).ok_or("no such member")? = value;
    Ok(())
}

fn remove(state: &mut Value, path: &str) -> Result<(), &'static str> {
    let (parent, last) = split_last(path);
    match walk(state, parent).ok_or("no such parent")? {
        Value::Object(map) => map.remove(last).map(drop).ok_or("no such member"),
        Value::Array(items) => {
            let i = last_index(last, items.len()).ok_or("bad array index")?;
            if i >= items.len() {
                return Err("array index out of bounds");
            }
            items.remove(i);
            Ok(())
        }
        _ => Err("parent is not a container"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::Writer;
    use proptest::prelude::*;
    use serde_json::json;

    static PLAIN: TypeMeta = TypeMeta {
        name: "Plain",
        redacted_fields: &[],
        actions: &[],
    };
    static SECRET: TypeMeta = TypeMeta {
        name: "Secret",
        redacted_fields: &["token", "a"],
        actions: &[],
    };

    /// What the fold replaces: `redact_ops`, then `json_patch`.
    fn reference(state: &Value, ops: &Patch, meta: &TypeMeta) -> Option<Value> {
        let mut s = state.clone();
        let ops = redact_ops(meta, ops.clone());
        json_patch::patch_unsafe(&mut s, &ops.0).ok().map(|()| s)
    }

    fn fast(state: &Value, ops: &Patch, meta: &TypeMeta) -> Option<Value> {
        let mut buf = Vec::new();
        Writer(&mut buf).ops(ops);
        let mut s = state.clone();
        let mut r = Reader::new(&buf);
        apply_encoded(&mut r, &mut s, meta).ok().map(|()| s)
    }

    fn patch(v: Value) -> Patch {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn common_ops_match_json_patch() {
        let state = json!({"count": 1, "items": [1, 2, 3], "nested": {"x": {"y": 1}}, "a/b": 2});
        let cases = [
            json!([{"op": "replace", "path": "/count", "value": 2}]),
            json!([{"op": "add", "path": "/items/-", "value": 4}]),
            json!([{"op": "add", "path": "/items/0", "value": 0}]),
            json!([{"op": "add", "path": "/items/3", "value": 9}]),
            json!([{"op": "add", "path": "/items/4", "value": 9}]),
            json!([{"op": "add", "path": "/items/01", "value": 9}]),
            json!([{"op": "remove", "path": "/items/1"}]),
            json!([{"op": "remove", "path": "/items/-"}]),
            json!([{"op": "remove", "path": "/items/3"}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "replace", "path": "/missing", "value": 1}]),
            json!([{"op": "add", "path": "/nested/x/z", "value": [1]}]),
            json!([{"op": "add", "path": "/nested/q/z", "value": 1}]),
            json!([{"op": "replace", "path": "/count/x", "value": 1}]),
            json!([{"op": "replace", "path": "/items/+1", "value": 1}]),
            json!([{"op": "replace", "path": "", "value": {"all": "new"}}]),
            json!([{"op": "remove", "path": "/a~1b"}]),
            json!([{"op": "move", "from": "/count", "path": "/moved"}]),
            json!([{"op": "copy", "from": "/items", "path": "/nested/copy"}]),
            json!([{"op": "test", "path": "/count", "value": 1}, {"op": "remove", "path": "/count"}]),
            json!([{"op": "test", "path": "/count", "value": 5}]),
            json!([{"op": "add", "path": "/", "value": 1}]),
        ];
        for case in cases {
            let ops = patch(case.clone());
            assert_eq!(
                fast(&state, &ops, &PLAIN),
                reference(&state, &ops, &PLAIN),
                "{case}"
            );
        }
    }

    fn encoded(v: Value) -> Vec<u8> {
        let mut buf = Vec::new();
        Writer(&mut buf).ops(&patch(v));
        buf
    }

    #[test]
    fn replace_only_takes_the_whole_list_of_plain_replaces_and_nothing_else() {
        let two = encoded(json!([
            {"op": "replace", "path": "/count", "value": {"deep": [1, "x"]}},
            {"op": "replace", "path": "/a/0", "value": 2}
        ]));
        let mut with_tail = two.clone();
        with_tail.extend_from_slice(b"tail");
        assert_eq!(replace_only(&with_tail), Some(two.len()));
        for not in [
            json!([{"op": "replace", "path": "/count", "value": 1}, {"op": "add", "path": "/b", "value": 1}]),
            json!([{"op": "remove", "path": "/count"}]),
            json!([{"op": "replace", "path": "/a~1b", "value": 1}]),
            json!([{"op": "replace", "path": "", "value": 1}]),
        ] {
            assert_eq!(replace_only(&encoded(not.clone())), None, "{not}");
        }
        assert_eq!(replace_only(&two[..two.len() - 1]), None, "cut short");
    }

    #[test]
    fn same_replaces_wants_the_same_paths_in_the_same_order_whatever_the_values() {
        let a = encoded(
            json!([{"op": "replace", "path": "/x", "value": 1}, {"op": "replace", "path": "/y", "value": "s"}]),
        );
        let b = encoded(
            json!([{"op": "replace", "path": "/x", "value": [9]}, {"op": "replace", "path": "/y", "value": null}]),
        );
        assert_eq!(same_replaces(&b, &a), Some(b.len()));
        for other in [
            json!([{"op": "replace", "path": "/y", "value": 1}, {"op": "replace", "path": "/x", "value": 1}]),
            json!([{"op": "replace", "path": "/x", "value": 1}]),
            json!([{"op": "replace", "path": "/x", "value": 1}, {"op": "replace", "path": "/z", "value": 1}]),
            json!([{"op": "replace", "path": "/x", "value": 1}, {"op": "add", "path": "/y", "value": 1}]),
            json!([{"op": "replace", "path": "/x", "value": 1}, {"op": "replace", "path": "/y", "value": 1}, {"op": "replace", "path": "/z", "value": 1}]),
        ] {
            let o = encoded(other.clone());
            assert_eq!(same_replaces(&o, &a), None, "{other}");
            assert_eq!(same_replaces(&a, &o), None, "{other}");
        }
    }

    #[test]
    fn redacted_writes_read_as_the_marker() {
        let state = json!({"token": "[redacted]", "count": 1, "a": {"b": "[redacted]"}});
        let cases = [
            json!([{"op": "replace", "path": "/token", "value": "hunter2"}]),
            json!([{"op": "add", "path": "/a/b", "value": "secret"}]),
            json!([{"op": "remove", "path": "/a/b"}]),
            json!([{"op": "remove", "path": "/token"}]),
            json!([{"op": "test", "path": "/token", "value": "hunter2"}]),
            json!([{"op": "copy", "from": "/token", "path": "/leak"}]),
            json!([{"op": "replace", "path": "/count", "value": 2}]),
        ];
        for case in cases {
            let ops = patch(case.clone());
            let got = fast(&state, &ops, &SECRET);
            assert_eq!(got, reference(&state, &ops, &SECRET), "{case}");
            let text = serde_json::to_string(&got).unwrap();
            assert!(
                !text.contains("hunter2") && !text.contains("secret\""),
                "{text}"
            );
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..50).prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ]
    }

    fn doc() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[ab]|token|0|-", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A state the way components have them: an object at the top.
    fn object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[ab]|token|0|-", doc(), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// Paths that exist in some docs and not in others, plain and not.
    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("token"),
                Just("0"),
                Just("1"),
                Just("-"),
                Just("01"),
                Just("a~1b")
            ],
            0..3,
        )
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect())
    }

    fn op() -> impl Strategy<Value = Value> {
        prop_oneof![
            (path(), leaf()).prop_map(|(p, v)| json!({"op": "add", "path": p, "value": v})),
            path().prop_map(|p| json!({"op": "remove", "path": p})),
            (path(), doc()).prop_map(|(p, v)| json!({"op": "replace", "path": p, "value": v})),
            (path(), path()).prop_map(|(p, f)| json!({"op": "move", "path": p, "from": f})),
            (path(), path()).prop_map(|(p, f)| json!({"op": "copy", "path": p, "from": f})),
            (path(), leaf()).prop_map(|(p, v)| json!({"op": "test", "path": p, "value": v})),
        ]
    }

    proptest! {
        #[test]
        fn diffs_between_docs_apply_as_json_patch_does(a in doc(), b in doc()) {
            let ops = json_patch::diff(&a, &b);
            for meta in [&PLAIN, &SECRET] {
                prop_assert_eq!(fast(&a, &ops, meta), reference(&a, &ops, meta));
            }
            prop_assert_eq!(fast(&a, &ops, &PLAIN), Some(b));
        }

        #[test]
        fn any_ops_apply_or_fail_as_json_patch_does(
            state in object(),
            ops in prop::collection::vec(op(), 1..3),
        ) {
            let ops = patch(Value::Array(ops));
            for meta in [&PLAIN, &SECRET] {
                prop_assert_eq!(fast(&state, &ops, meta), reference(&state, &ops, meta));
            }
        }
    }
}
