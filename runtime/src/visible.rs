//! The client-visible part of a component's state: server-only fields
//! (`#[live(server_only)]`) are left out of every patch, snapshot and
//! signature the page gets.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::Value;

/// The patch from `old` to `new`, without server-only fields.
///
/// A server-only field is skipped before diffing, not filtered out after:
/// it is where a component keeps what the page never sees (logs, caches,
/// handles), often the largest part of its state, and diffing it only to
/// throw the operations away cost the demo's counter more than a third of
/// its server time (`docs/benchmarks.md`). Same operations, in the same
/// order, as `json_patch::diff` followed by dropping those under a
/// server-only key (a property test checks it).
pub(crate) fn visible_diff(old: &Value, new: &Value, server_only: &[&str]) -> Patch {
    if server_only.is_empty() {
        return json_patch::diff(old, new);
    }
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        // Not an object: no fields to skip, only operations to drop.
        let mut ops = json_patch::diff(old, new);
        ops.0.retain(|op| !is_server_only(op, server_only));
        return ops;
    };
    let visible = |k: &str| !server_only.contains(&k);
    let mut ops = Patch::default();
    for (key, now) in new.iter().filter(|(k, _)| visible(k)) {
        match old.get(key) {
            Some(was) => {
                for mut op in json_patch::diff(was, now).0 {
                    under(key, &mut op);
                    ops.0.push(op);
                }
            }
            None => ops.0.push(PatchOperation::Add(AddOperation {
                path: PointerBuf::from_tokens([key.as_str()]),
                value: now.clone(),
            })),
        }
    }
    for key in old.keys().filter(|k| visible(k) && !new.contains_key(*k)) {
        ops.0.push(PatchOperation::Remove(RemoveOperation {
            path: PointerBuf::from_tokens([key.as_str()]),
        }));
    }
    ops
}

/// Moves an operation of a field's own diff under that field.
fn under(key: &str, op: &mut PatchOperation) {
    match op {
        PatchOperation::Add(o) => o.path.push_front(key),
        PatchOperation::Remove(o) => o.path.push_front(key),
        PatchOperation::Replace(o) => o.path.push_front(key),
        PatchOperation::Test(o) => o.path.push_front(key),
        PatchOperation::Move(o) => {
            o.path.push_front(key);
            o.from.push_front(key);
        }
        PatchOperation::Copy(o) => {
            o.path.push_front(key);
            o.from.push_front(key);
        }
    }
}

/// Serializes like [`visible_state`] of the same arguments, without copying.
pub(crate) struct VisibleRef<'a>(pub(crate) &'a Value, pub(crate) &'static [&'static str]);

impl serde::Serialize for VisibleRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(map) if !self.1.is_empty() => {
                let kept = map.iter().filter(|(k, _)| !self.1.contains(&k.as_str()));
                let mut m = s.serialize_map(None)?;
                for (k, v) in kept {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            other => other.serialize(s),
        }
    }
}

/// The client-visible part of a serialized state.
pub(crate) fn visible_state(full: &Value, server_only: &[&str]) -> Value {
    match full {
        Value::Object(map) if !server_only.is_empty() => Value::Object(
            map.iter()
                .filter(|(k, _)| !server_only.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_server_only(op: &PatchOperation, keys: &[&str]) -> bool {
    let path = op.path().as_str();
    keys.iter().any(|k| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(*k))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z~/]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z~/]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any state change round-trips: applying diff(old, new) to old gives new.
        #[test]
        fn diff_then_apply_round_trips(old in json_value(), new in json_value()) {
            let ops = visible_diff(&old, &new, &[]);
            let mut got = old.clone();
            json_patch::patch(&mut got, &ops).unwrap();
            prop_assert_eq!(got, new);
        }

        /// Server-only keys never appear in a patch, and the rest still round-trips.
        #[test]
        fn server_only_keys_are_filtered(
            a in json_value(), b in json_value(), sa in json_value(), sb in json_value()
        ) {
            let old = serde_json::json!({"pub": a, "hidden": sa});
            let new = serde_json::json!({"pub": b.clone(), "hidden": sb});
            let ops = visible_diff(&old, &new, &["hidden"]);
            for op in &ops.0 {
                prop_assert!(!op.path().as_str().starts_with("/hidden"));
            }
            let mut got = visible_state(&old, &["hidden"]);
            json_patch::patch(&mut got, &ops).unwrap();
            prop_assert_eq!(got, serde_json::json!({"pub": b}));
        }
    }

    /// The old way: diff everything, then drop what is under a server-only key.
    fn diff_then_filter(old: &Value, new: &Value, server_only: &[&str]) -> Patch {
        let mut ops = json_patch::diff(old, new);
        ops.0.retain(|op| {
            let first = op.path().first().map(|t| t.decoded().into_owned());
            !first.is_some_and(|k| server_only.contains(&k.as_str()))
        });
        ops
    }

    proptest! {
        /// Skipping server-only fields before the diff gives exactly the
        /// operations (same order) of filtering them out after it.
        #[test]
        fn skipping_equals_filtering(
            old in prop::collection::btree_map("[a-z~/]{0,3}", json_value(), 0..8),
            new in prop::collection::btree_map("[a-z~/]{0,3}", json_value(), 0..8),
            hidden in prop::collection::vec("[a-z~/]{0,3}", 0..4),
        ) {
            let old = Value::Object(old.into_iter().collect());
            let new = Value::Object(new.into_iter().collect());
            let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
            prop_assert_eq!(
                visible_diff(&old, &new, &hidden),
                diff_then_filter(&old, &new, &hidden)
            );
        }
    }

    proptest! {
        /// What is signed is byte for byte what the client receives.
        #[test]
        fn visible_ref_serializes_like_the_visible_copy(a in json_value(), b in json_value()) {
            let full = serde_json::json!({"pub": a, "hidden": b, "z": 1});
            let keys: &'static [&'static str] = &["hidden"];
            prop_assert_eq!(
                serde_json::to_vec(&VisibleRef(&full, keys)).unwrap(),
                serde_json::to_vec(&visible_state(&full, keys)).unwrap()
            );
        }
    }

    #[test]
    fn server_only_prefix_does_not_match_longer_keys() {
        let op: PatchOperation = serde_json::from_value(
            serde_json::json!({"op": "replace", "path": "/hiddenness", "value": 1}),
        )
        .unwrap();
        assert!(!is_server_only(&op, &["hidden"]));
        let op: PatchOperation = serde_json::from_value(
            serde_json::json!({"op": "replace", "path": "/hidden/x", "value": 1}),
        )
        .unwrap();
        assert!(is_server_only(&op, &["hidden"]));
    }
}
