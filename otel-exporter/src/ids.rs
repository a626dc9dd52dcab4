//! Trace and span ids: parsing the W3C hex forms records carry, and
//! deriving ids for spans the records do not name.

use fluxlive_protocol::record::TraceContext;

/// A 16-byte trace id.
pub(crate) type TraceId = [u8; 16];
/// An 8-byte span id.
pub(crate) type SpanId = [u8; 8];

/// Parses `N` bytes of hex (either case); all-zero ids are invalid in W3C
/// trace context and are refused.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    if out.iter().all(|&x| x == 0) {
        return None;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses a W3C `traceparent` (browser-supplied, so untrusted) into trace
/// id, span id and flags.
pub(crate) fn parse_traceparent(s: &str) -> Option<(TraceId, SpanId, u8)> {
    let (trace, span, flags) = TraceContext::parse_traceparent(s)?;
    Some((parse_hex(&trace)?, parse_hex(&span)?, flags))
}

/// The ids of an action's [`TraceContext`], when they are well formed.
pub(crate) struct ActionIds {
    pub(crate) trace: TraceId,
    pub(crate) span: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) flags: u8,
}

pub(crate) fn parse_context(ctx: &TraceContext) -> Option<ActionIds> {
    let parent = match &ctx.parent_span_id {
        Some(p) => Some(parse_hex(p)?),
        None => None,
    };
    Some(ActionIds {
        trace: parse_hex(&ctx.trace_id)?,
        span: parse_hex(&ctx.span_id)?,
        parent,
        flags: ctx.flags,
    })
}

/// Derives ids from a seed and a salt. The same seed and salt always give the
/// same id, so exporting a session file twice gives the same trace; a live
/// exporter uses a random seed so that two runtimes never collide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdGen {
    seed: u64,
}

/// Salts that keep the id spaces of different span kinds apart.
pub(crate) mod salt {
    pub(crate) const ACTION: u64 = 0x6163_7469_6f6e;
    pub(crate) const RENDER: u64 = 0x7265_6e64_6572;
    pub(crate) const CLIENT: u64 = 0x636c_6965_6e74;
    pub(crate) const RECORD: u64 = 0x7265_636f_7264;
    pub(crate) const CONN: u64 = 0x636f_6e6e;
}

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// A seed no other process is likely to use.
    pub(crate) fn random_seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        h.finish()
    }

    fn mix(&self, salt: u64, n: u64) -> u64 {
        let v = splitmix64(self.seed ^ splitmix64(salt ^ splitmix64(n)));
        // Zero is the invalid id.
        if v == 0 {
            1
        } else {
            v
        }
    }

    pub(crate) fn span_id(&self, salt: u64, n: u64) -> SpanId {
        self.mix(salt, n).to_be_bytes()
    }

    pub(crate) fn trace_id(&self, salt: u64, n: u64) -> TraceId {
        let hi = self.mix(salt, n);
        let lo = self.mix(salt.rotate_left(17) ^ 0x0074_7261_6365, n);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&hi.to_be_bytes());
        out[8..].copy_from_slice(&lo.to_be_bytes());
        out
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_ids_and_refuses_bad_ones() {
        assert_eq!(parse_hex::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(parse_hex::<2>("0aF"), None);
        assert_eq!(parse_hex::<2>("0g00"), None);
        assert_eq!(parse_hex::<2>("0000"), None);
        assert_eq!(parse_hex::<2>("é0"), None);
    }

    #[test]
    fn parses_traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (t, s, f) = parse_traceparent(tp).expect("valid traceparent");
        assert_eq!(t[0], 0x4b);
        assert_eq!(s[7], 0xb7);
        assert_eq!(f, 1);
        assert!(parse_traceparent("00-xyz-00f067aa0ba902b7-01").is_none());
        assert!(parse_traceparent("").is_none());
    }

    #[test]
    fn derived_ids_are_stable_distinct_and_non_zero() {
        let g = IdGen::new(42);
        assert_eq!(g.span_id(salt::RENDER, 7), g.span_id(salt::RENDER, 7));
        assert_ne!(g.span_id(salt::RENDER, 7), g.span_id(salt::RENDER, 8));
        assert_ne!(g.span_id(salt::RENDER, 7), g.span_id(salt::ACTION, 7));
        assert_ne!(
            IdGen::new(43).span_id(salt::RENDER, 7),
            g.span_id(salt::RENDER, 7)
        );
        let t = g.trace_id(salt::ACTION, 1);
        assert_ne!(t[..8], t[8..]);
        assert!(t.iter().any(|&b| b != 0));
    }
}
