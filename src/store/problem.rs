//! What was wrong with a value as it was read: the field, the kind, and the sentence shown.
//!
//! Code that acts on a problem (the audit's kinds, a seal hashing a field as its raw text, the
//! merge fold refusing data it cannot read) asks its field and kind; only people read the
//! sentence. Every format writes a problem as its sentence.

use serde::{Serialize, Serializer};

/// What kind of problem a row has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The JSON is not valid: kept as its text.
    InvalidJson,
    /// JSON nested deeper than evscope reads: kept as its text.
    JsonTooDeep,
    /// An object of the JSON repeats a key (valid JSON to MariaDB and SQLite, ambiguous to
    /// every reader): the first is read.
    RepeatedKey,
    /// The data column is NULL.
    NullData,
    /// A time column holds no time evscope can represent.
    InvalidTime,
    /// Text that is not valid UTF-8 (shown with `\xHH` escapes).
    InvalidUtf8,
    /// A layout's `state_jq` failed on a snapshot's state (shown as stored).
    StateJq,
    /// Anything else unreadable (a version that is not an integer).
    Other,
}

/// One problem of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field it is in (`data`, `metadata`, `stream_id`, `recorded_at`, `state`, …).
    pub field: String,
    pub kind: ProblemKind,
    /// The sentence shown, which starts with the field.
    pub text: String,
}

impl Problem {
    pub fn new(field: &str, kind: ProblemKind, text: String) -> Problem {
        Problem {
            field: field.to_string(),
            kind,
            text,
        }
    }

    /// Whether it is a problem of `field` that left the field as its stored text (invalid or
    /// too deeply nested JSON).
    pub fn kept_as_text(&self, field: &str) -> bool {
        self.field == field
            && matches!(
                self.kind,
                ProblemKind::InvalidJson | ProblemKind::JsonTooDeep
            )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// The sentences of `problems`, joined with `; `.
pub fn joined(problems: &[Problem]) -> String {
    let texts: Vec<&str> = problems.iter().map(|p| p.text.as_str()).collect();
    texts.join("; ")
}
