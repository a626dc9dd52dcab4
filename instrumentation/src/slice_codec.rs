//! The [`codec`](crate::codec) form written into a fixed slice: the hot
//! path's encoder for actions and diffs.
//!
//! [`Writer`](crate::codec::Writer) appends to a `Vec`, whose length lives
//! in memory: every field loads it, stores a byte and stores it back, and
//! the next field waits for that store (an annotated profile shows the
//! `addq $8, len` of each field as the encoder's hottest instructions).
//! Here every `put_*` takes the position by value and returns the next
//! one, so it stays in a register, across calls too, and the slice is the
//! thread's fixed staging buffer: nothing is counted or grown first.
//!
//! A `put_*` past the end of the slice writes nothing and still advances:
//! a final position past the end means the event did not fit, and the
//! caller encodes it with `Writer` instead.

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use crate::codec::op;

#[inline(always)]
fn put<const N: usize>(out: &mut [u8], at: usize, b: [u8; N]) -> usize {
    if let Some(dst) = out.get_mut(at..at + N) {
        dst.copy_from_slice(&b);
    }
    at + N
}

#[inline(always)]
pub(crate) fn put_u8(out: &mut [u8], at: usize, v: u8) -> usize {
    put(out, at, [v])
}

#[inline(always)]
pub(crate) fn put_u32(out: &mut [u8], at: usize, v: u32) -> usize {
    put(out, at, v.to_le_bytes())
}

#[inline(always)]
pub(crate) fn put_u64(out: &mut [u8], at: usize, v: u64) -> usize {
    put(out, at, v.to_le_bytes())
}

/// LEB128, as [`Writer::len`](crate::codec::Writer::len).
#[inline(always)]
pub(crate) fn put_len(out: &mut [u8], mut at: usize, mut v: usize) -> usize {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            return put_u8(out, at, byte);
        }
        at = put_u8(out, at, byte | 0x80);
    }
}

#[inline(always)]
pub(crate) fn put_str(out: &mut [u8], at: usize, s: &str) -> usize {
    let at = put_len(out, at, s.len());
    if let Some(dst) = out.get_mut(at..at + s.len()) {
        dst.copy_from_slice(s.as_bytes());
    }
    at + s.len()
}

#[inline(always)]
fn put_tag_str(out: &mut [u8], at: usize, tag: u8, s: &str) -> usize {
    let at = put_u8(out, at, tag);
    put_str(out, at, s)
}

/// As [`Writer::value`](crate::codec::Writer::value); scalars inline,
/// containers out of line.
#[inline(always)]
pub(crate) fn put_value(out: &mut [u8], at: usize, v: &Value) -> usize {
    match v {
        Value::Null => put_u8(out, at, 0),
        Value::Bool(false) => put_u8(out, at, 1),
        Value::Bool(true) => put_u8(out, at, 2),
        _ => put_value_rest(out, at, v),
    }
}

fn put_value_rest(out: &mut [u8], at: usize, v: &Value) -> usize {
    match v {
        Value::Null => put_u8(out, at, 0),
        Value::Bool(false) => put_u8(out, at, 1),
        Value::Bool(true) => put_u8(out, at, 2),
        Value::Number(n) => {
            let (tag, bits) = if let Some(u) = n.as_u64() {
                (3, u)
            } else if let Some(i) = n.as_i64() {
                (4, i as u64)
            } else {
                (5, n.as_f64().unwrap_or(0.0).to_bits())
            };
            let at = put_u8(out, at, tag);
            put_u64(out, at, bits)
        }
        Value::String(s) => put_tag_str(out, at, 6, s),
        Value::Array(items) => {
            let at = put_u8(out, at, 7);
            let mut at = put_len(out, at, items.len());
            for item in items {
                at = put_value(out, at, item);
            }
            at
        }
        Value::Object(map) => {
            let at = put_u8(out, at, 8);
            let mut at = put_len(out, at, map.len());
            for (k, v) in map {
                at = put_str(out, at, k);
                at = put_value(out, at, v);
            }
            at
        }
    }
}

pub(crate) fn put_values(out: &mut [u8], at: usize, vs: &[Value]) -> usize {
    let mut at = put_len(out, at, vs.len());
    for v in vs {
        at = put_value(out, at, v);
    }
    at
}

/// A patch, in the form [`Reader::ops`](crate::codec::Reader::ops) reads.
pub(crate) fn put_ops(out: &mut [u8], at: usize, patch: &Patch) -> usize {
    let mut at = put_len(out, at, patch.0.len());
    for o in &patch.0 {
        at = match o {
            PatchOperation::Add(o) => {
                let at = put_tag_str(out, at, op::ADD, o.path.as_str());
                put_value(out, at, &o.value)
            }
            PatchOperation::Remove(o) => put_tag_str(out, at, op::REMOVE, o.path.as_str()),
            PatchOperation::Replace(o) => {
                let at = put_tag_str(out, at, op::REPLACE, o.path.as_str());
                put_value(out, at, &o.value)
            }
            PatchOperation::Move(o) => {
                let at = put_tag_str(out, at, op::MOVE, o.path.as_str());
                put_str(out, at, o.from.as_str())
            }
            PatchOperation::Copy(o) => {
                let at = put_tag_str(out, at, op::COPY, o.path.as_str());
                put_str(out, at, o.from.as_str())
            }
            PatchOperation::Test(o) => {
                let at = put_tag_str(out, at, op::TEST, o.path.as_str());
                put_value(out, at, &o.value)
            }
        };
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::strategies::{json_value, patch};
    use crate::codec::Writer;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_short_slice_is_not_written_past_and_the_position_tells() {
        let v = json!({"count": 5, "label": "x"});
        let mut whole = Vec::new();
        Writer(&mut whole).value(&v);
        let mut out = vec![0u8; whole.len() - 1];
        let end = put_value(&mut out, 0, &v);
        assert_eq!(end, whole.len(), "the position counts what did not fit");
        assert_eq!(out[..out.len() - 1], whole[..out.len() - 1]);
    }

    proptest! {
        #[test]
        fn values_come_out_as_the_writer_writes_them(v in json_value()) {
            let mut by_writer = Vec::new();
            Writer(&mut by_writer).value(&v);
            let mut out = vec![0u8; by_writer.len() + 8];
            let end = put_value(&mut out, 0, &v);
            prop_assert_eq!(&out[..end], &by_writer[..]);
        }

        #[test]
        fn ops_come_out_as_the_writer_writes_them(patch in patch()) {
            let mut by_writer = Vec::new();
            Writer(&mut by_writer).ops(&patch);
            let mut out = vec![0u8; by_writer.len()];
            let end = put_ops(&mut out, 0, &patch);
            prop_assert_eq!(end, by_writer.len());
            prop_assert_eq!(out, by_writer);
        }
    }
}
