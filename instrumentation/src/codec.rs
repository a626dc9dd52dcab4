//! A small binary encoding of JSON values and patch operations, for the
//! bytes the hot path copies into its ring and the history keeps.
//!
//! Why not keep the `Value`s themselves: every tree the app's thread
//! allocated and the recorder kept would be freed, tens of thousands of
//! records later, by the collector thread. Allocators handle that badly
//! (glibc malloc most of all: measured +51 % per action against +16 % under
//! mimalloc), and it made eviction walk cold trees. Encoded bytes are
//! copied once, owned by the history's arena, and dropped by the chunk.
//!
//! Why not JSON text: numbers and escapes make it several times slower to
//! write and read than this length-prefixed form, and the hot path writes
//! it. Bytes are only ever read back by this module in the same process;
//! decoding still never panics on malformed input (it returns an error).

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, CopyOperation, MoveOperation, Patch, PatchOperation, RemoveOperation,
    ReplaceOperation, TestOperation,
};
use serde_json::{Map, Number, Value};

/// Bytes that do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("recorded bytes do not decode: {0}")]
pub(crate) struct CodecError(pub(crate) &'static str);

type Result<T> = std::result::Result<T, CodecError>;

/// Deepest value nesting decoded (the encoder never writes deeper than
/// `serde_json` parses, which is 128).
const MAX_DEPTH: usize = 160;

/// Tags of the encoded patch operations.
pub(crate) mod op {
    pub(crate) const ADD: u8 = 0;
    pub(crate) const REMOVE: u8 = 1;
    pub(crate) const REPLACE: u8 = 2;
    pub(crate) const MOVE: u8 = 3;
    pub(crate) const COPY: u8 = 4;
    pub(crate) const TEST: u8 = 5;
}

/// Appends to a byte buffer.
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// LEB128.
    pub(crate) fn len(&mut self, mut v: usize) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }

    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
            None => self.u8(0),
        }
    }

    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(0),
            Value::Bool(false) => self.u8(1),
            Value::Bool(true) => self.u8(2),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.u8(3);
                    self.u64(u);
                } else if let Some(i) = n.as_i64() {
                    self.u8(4);
                    self.u64(i as u64);
                } else {
                    self.u8(5);
                    self.u64(n.as_f64().unwrap_or(0.0).to_bits());
                }
            }
            Value::String(s) => {
                self.u8(6);
                self.str(s);
            }
            Value::Array(items) => {
                self.u8(7);
                self.len(items.len());
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => {
                self.u8(8);
                self.len(map.len());
                for (k, v) in map {
                    self.str(k);
                    self.value(v);
                }
            }
        }
    }

    // Actions and diffs, the only events with patches, are written by
    // `slice_codec`; this stays as its tests' reference.
    #[cfg(test)]
    pub(crate) fn ops(&mut self, patch: &Patch) {
        self.len(patch.0.len());
        for o in &patch.0 {
            match o {
                PatchOperation::Add(o) => {
                    self.u8(op::ADD);
                    self.str(o.path.as_str());
                    self.value(&o.value);
                }
                PatchOperation::Remove(o) => {
                    self.u8(op::REMOVE);
                    self.str(o.path.as_str());
                }
                PatchOperation::Replace(o) => {
                    self.u8(op::REPLACE);
                    self.str(o.path.as_str());
                    self.value(&o.value);
                }
                PatchOperation::Move(o) => {
                    self.u8(op::MOVE);
                    self.str(o.path.as_str());
                    self.str(o.from.as_str());
                }
                PatchOperation::Copy(o) => {
                    self.u8(op::COPY);
                    self.str(o.path.as_str());
                    self.str(o.from.as_str());
                }
                PatchOperation::Test(o) => {
                    self.u8(op::TEST);
                    self.str(o.path.as_str());
                    self.value(&o.value);
                }
            }
        }
    }
}

/// Reads what [`Writer`] wrote.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(CodecError("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn len(&mut self) -> Result<usize> {
        // Most lengths (strings, lists) fit in one byte.
        if let Some(&b) = self.bytes.first() {
            if b & 0x80 == 0 && usize::from(b) <= self.bytes.len() * 8 {
                self.bytes = &self.bytes[1..];
                return Ok(usize::from(b));
            }
        }
        let mut v = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                // A length never exceeds what is left to read.
                return if v <= self.bytes.len().saturating_mul(8).saturating_add(8) {
                    Ok(v)
                } else {
                    Err(CodecError("length past the end"))
                };
            }
        }
        Err(CodecError("length too long"))
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.str_bytes()?).map_err(|_| CodecError("not UTF-8"))
    }

    /// The bytes of a string, not checked for UTF-8 (for comparisons).
    pub(crate) fn str_bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String> {
        self.str().map(str::to_owned)
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<String>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.string()?),
        })
    }

    pub(crate) fn opt_u64(&mut self) -> Result<Option<u64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.u64()?),
        })
    }

    pub(crate) fn value(&mut self) -> Result<Value> {
        self.value_at(0)
    }

    /// Steps over one value without building it.
    pub(crate) fn skip_value(&mut self) -> Result<()> {
        self.skip_value_at(0)
    }

    fn skip_value_at(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(CodecError("nested too deep"));
        }
        match self.u8()? {
            0..=2 => {}
            3..=5 => {
                self.take(8)?;
            }
            6 => {
                self.str_bytes()?;
            }
            7 => {
                for _ in 0..self.len()? {
                    self.skip_value_at(depth + 1)?;
                }
            }
            8 => {
                for _ in 0..self.len()? {
                    self.str_bytes()?;
                    self.skip_value_at(depth + 1)?;
                }
            }
            _ => return Err(CodecError("unknown value tag")),
        }
        Ok(())
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn value_at(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(CodecError("nested too deep"));
        }
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Number(Number::from(self.u64()?)),
            4 => Value::Number(Number::from(self.u64()? as i64)),
            5 => Number::from_f64(f64::from_bits(self.u64()?)).map_or(Value::Null, Value::Number),
            6 => Value::String(self.string()?),
            7 => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value_at(depth + 1)?);
                }
                Value::Array(items)
            }
            8 => {
                let n = self.len()?;
                let mut map = Map::new();
                for _ in 0..n {
                    let k = self.string()?;
                    let v = self.value_at(depth + 1)?;
                    map.insert(k, v);
                }
                Value::Object(map)
            }
            _ => return Err(CodecError("unknown value tag")),
        })
    }

    pub(crate) fn values(&mut self) -> Result<Vec<Value>> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(self.value()?);
        }
        Ok(out)
    }

    fn pointer(&mut self) -> Result<PointerBuf> {
        parse_pointer(self.str()?)
    }

    pub(crate) fn ops(&mut self) -> Result<Patch> {
        let n = self.len()?;
        let mut ops = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let tag = self.u8()?;
            let path = self.str()?;
            ops.push(self.op_rest(tag, path)?);
        }
        Ok(Patch(ops))
    }

    /// The rest of an operation whose tag and path were read.
    pub(crate) fn op_rest(&mut self, tag: u8, path: &str) -> Result<PatchOperation> {
        let path = parse_pointer(path)?;
        Ok(match tag {
            op::ADD => PatchOperation::Add(AddOperation {
                path,
                value: self.value()?,
            }),
            op::REMOVE => PatchOperation::Remove(RemoveOperation { path }),
            op::REPLACE => PatchOperation::Replace(ReplaceOperation {
                path,
                value: self.value()?,
            }),
            op::MOVE => PatchOperation::Move(MoveOperation {
                path,
                from: self.pointer()?,
            }),
            op::COPY => PatchOperation::Copy(CopyOperation {
                path,
                from: self.pointer()?,
            }),
            op::TEST => PatchOperation::Test(TestOperation {
                path,
                value: self.value()?,
            }),
            _ => return Err(CodecError("unknown patch op")),
        })
    }
}

fn parse_pointer(s: &str) -> Result<PointerBuf> {
    PointerBuf::parse(s).map_err(|_| CodecError("bad JSON pointer"))
}

/// Generators shared by this crate's property tests.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Any JSON value up to four levels deep, strings short and long (a
    /// length of 128 or more takes two bytes).
    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e300f64..1e300).prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            ".{120,140}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Up to four ops of every kind but `test`, on short paths.
    pub(crate) fn patch() -> impl Strategy<Value = json_patch::Patch> {
        prop::collection::vec((0..5u8, "(/[a-z0-9]{0,6}){0,3}", json_value()), 0..4).prop_map(
            |ops| {
                let ops = ops
                    .into_iter()
                    .map(|(kind, path, value)| match kind {
                        0 => json!({"op": "replace", "path": path, "value": value}),
                        1 => json!({"op": "add", "path": path, "value": value}),
                        2 => json!({"op": "remove", "path": path}),
                        3 => json!({"op": "move", "path": path, "from": "/x"}),
                        _ => json!({"op": "copy", "path": path, "from": "/a"}),
                    })
                    .collect();
                serde_json::from_value(Value::Array(ops)).unwrap_or_default()
            },
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::strategies::json_value;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn roundtrip(v: &Value) -> Value {
        let mut buf = Vec::new();
        Writer(&mut buf).value(v);
        let mut r = Reader::new(&buf);
        let back = r.value().unwrap();
        assert!(r.bytes.is_empty());
        back
    }

    proptest! {
        #[test]
        fn values_round_trip(v in json_value()) {
            prop_assert_eq!(roundtrip(&v), v);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Reader::new(&bytes).value();
            let _ = Reader::new(&bytes).ops();
            let _ = Reader::new(&bytes).skip_value();
        }

        #[test]
        fn skip_value_steps_over_exactly_one_value(v in json_value(), w in json_value()) {
            let mut buf = Vec::new();
            Writer(&mut buf).value(&v);
            Writer(&mut buf).value(&w);
            let mut r = Reader::new(&buf);
            r.skip_value().unwrap();
            prop_assert_eq!(r.value().unwrap(), w);
            prop_assert!(r.rest().is_empty());
        }
    }

    #[test]
    fn every_patch_op_round_trips() {
        let patch: Patch = serde_json::from_value(json!([
            {"op": "add", "path": "/a~1b/0", "value": {"x": [1, -2, 3.5]}},
            {"op": "remove", "path": "/gone"},
            {"op": "replace", "path": "/count", "value": 7},
            {"op": "move", "from": "/x", "path": "/y"},
            {"op": "copy", "from": "/y", "path": "/z~0"},
            {"op": "test", "path": "/count", "value": 7}
        ]))
        .unwrap();
        let mut buf = Vec::new();
        Writer(&mut buf).ops(&patch);
        assert_eq!(Reader::new(&buf).ops().unwrap(), patch);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut buf = Vec::new();
        Writer(&mut buf).value(&json!({"key": "a longer string value"}));
        for cut in 0..buf.len() {
            assert!(Reader::new(&buf[..cut]).value().is_err(), "cut at {cut}");
        }
    }
}
