//! Session files: a versioned header line followed by one record per line
//! (JSON Lines). Export writes them, import and replay read them.

use crate::record::Record;
use serde::{Deserialize, Serialize};

/// The `format` value of every session header.
pub const SESSION_FORMAT: &str = "fluxlive-session";
/// The session file version this crate writes and reads.
pub const SESSION_VERSION: u32 = 1;

/// First line of a session file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SessionHeader {
    /// Always [`SESSION_FORMAT`].
    pub format: String,
    /// Always [`SESSION_VERSION`] for files this crate writes.
    pub version: u32,
    /// Runtime crate version that recorded it.
    pub runtime: String,
    /// Wall-clock start of the recording runtime, µs since the Unix epoch.
    pub started_unix_us: u64,
    /// Number of records that follow.
    pub records: u64,
}

impl SessionHeader {
    /// A header for `records` records.
    pub fn new(runtime: &str, started_unix_us: u64, records: u64) -> Self {
        Self {
            format: SESSION_FORMAT.to_owned(),
            version: SESSION_VERSION,
            runtime: runtime.to_owned(),
            started_unix_us,
            records,
        }
    }
}

/// A parsed session file.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The header.
    pub header: SessionHeader,
    /// The records, in file order.
    pub records: Vec<Record>,
}

/// Why a session file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session file line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SessionError {}

impl Session {
    /// Parses a session file.
    pub fn parse(text: &str) -> Result<Self, SessionError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or(SessionError {
            line: 1,
            message: "empty file: expected a session header".into(),
        })?;
        let header: SessionHeader = serde_json::from_str(first).map_err(|e| SessionError {
            line: 1,
            message: format!("bad header: {e}"),
        })?;
        if header.format != SESSION_FORMAT {
            return Err(SessionError {
                line: 1,
                message: format!("format is {:?}, expected {SESSION_FORMAT:?}", header.format),
            });
        }
        if header.version != SESSION_VERSION {
            return Err(SessionError {
                line: 1,
                message: format!(
                    "session version {} is not supported (this build reads {SESSION_VERSION})",
                    header.version
                ),
            });
        }
        let mut records = Vec::new();
        for (i, line) in lines {
            let rec: Record = serde_json::from_str(line).map_err(|e| SessionError {
                line: i + 1,
                message: format!("bad record: {e}"),
            })?;
            records.push(rec);
        }
        Ok(Self { header, records })
    }

    /// Writes the session file text.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        push_line(&mut out, &self.header);
        for r in &self.records {
            push_line(&mut out, r);
        }
        out
    }
}

/// Splits a session file's text into parts of at most `max` bytes (at
/// least 4), cut at character boundaries: the export's `export_chunk`
/// frames and the panel's `replay` parts. Always at least one part, the
/// only one empty when `text` is.
pub fn text_parts(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut parts = Vec::with_capacity(text.len() / max + 1);
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts.push(rest);
    parts
}

fn push_line<T: Serialize>(out: &mut String, v: &T) {
    // Serializing these plain data types to a String cannot fail.
    if let Ok(s) = serde_json::to_string(v) {
        out.push_str(&s);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::text_parts;

    #[test]
    fn text_parts_cut_at_character_boundaries_and_join_back() {
        let text = "ab€dé€f".repeat(50);
        for max in [4, 5, 7, 64, text.len(), text.len() + 1] {
            let parts = text_parts(&text, max);
            assert!(parts.iter().all(|p| p.len() <= max), "max {max}");
            assert_eq!(parts.concat(), text, "max {max}");
            assert!(parts.len() >= text.len().div_ceil(max), "max {max}");
            // A cut never lands inside a 3-byte '€', so no part is shorter than max - 2.
            assert!(
                parts[..parts.len() - 1].iter().all(|p| p.len() + 2 >= max),
                "max {max}"
            );
        }
        assert_eq!(text_parts("", 8), vec![""]);
    }
}
