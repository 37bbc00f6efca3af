//! Canonical event bytes: what a seal hashes for each event.
//!
//! An event's canonical bytes are one JSON object in RFC 8785 (JCS) form with eight members,
//! in JCS's key order:
//!
//! `{"data":…,"id":"…","metadata":…,"position":…,"stream":"…","time":"…","type":"…","version":…}`
//!
//! - `data`, `metadata`: the field's JSON in JCS form (keys sorted by UTF-16 code units, no
//!   whitespace, strings escaped as ECMAScript's `JSON.stringify` does). A field whose stored
//!   bytes are not valid JSON (or nest deeper than evscope reads) is hashed as its raw text
//!   instead, under the member `data_raw` / `metadata_raw` (a JSON string), so that it can never
//!   hash equal to a valid value; the seal counts and flags such rows.
//! - **Numbers** are written from their *exact decimal value as stored*, in ECMAScript's
//!   layout (`1e+30`, `0.000001`, `4.5`). For every number an IEEE-754 double holds exactly
//!   (the only numbers RFC 8785 knows) this is JCS's text, byte for byte. A number a double
//!   would change (`123456789012345678901234567890.123456789`, `1e400`, `-0`, an integer past
//!   2^53 held exactly as an `i64`/`u64`) keeps all its digits (trailing zeros of the fraction
//!   dropped: `1.50` and `1.5` are one value), so two different stored values never hash equal
//!   (issue #17: numbers are kept exact). A negative zero stays `-0`.
//! - `time`: RFC 3339 in UTC with exactly nine fractional digits
//!   (`2026-01-05T10:01:00.000000000Z`), `null` when the row has no readable time.
//! - `position`: the global position, `null` on layouts without one; `version`: the stream
//!   version; `id`, `stream`, `type`: as evscope reads them (ids lower-cased, bytes that are not
//!   UTF-8 as `\xHH`).

use serde_json::Value;

use super::fast_jcs as fast;
use crate::store::Event;

/// The name of this encoding, recorded in every receipt.
pub const ENCODING: &str = "evscope-event-v1 (RFC 8785 JSON object of data, id, metadata, position, stream, time, type, version; numbers by their exact decimal value; times UTC, 9 fractional digits)";

/// One event's canonical bytes (one JCS object, see the module's documentation), with where
/// each field's JCS text lies in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    text: String,
    /// Each field's text in `text`, in [`FIELDS`] order.
    spans: [(usize, usize); 8],
    /// Whether data, metadata were hashed as their raw text.
    raw: [bool; 2],
}

/// The eight fields, in the order their digests are kept in a digest file.
pub const FIELDS: [&str; 8] = [
    "position", "stream", "version", "id", "type", "data", "metadata", "time",
];

/// Indexes in [`FIELDS`].
const POSITION: usize = 0;
const STREAM: usize = 1;
const VERSION: usize = 2;
const ID: usize = 3;
const TYPE: usize = 4;
const DATA: usize = 5;
const METADATA: usize = 6;
const TIME: usize = 7;

impl Canonical {
    /// The event's canonical bytes, written in one buffer in JCS member order.
    pub fn of(e: &Event) -> Canonical {
        let mut c = Canonical {
            text: String::with_capacity(
                160 + e.stream_id.len() + e.event_type.len() + e.event_id.len(),
            ),
            spans: [(0, 0); 8],
            raw: [false; 2],
        };
        c.text.push('{');
        c.field_json(DATA, e);
        c.member(ID, "id", |o| write_string(o, &e.event_id));
        c.field_json(METADATA, e);
        c.member(POSITION, "position", |o| match e.global_position {
            Some(p) => o.push_str(itoa::Buffer::new().format(p)),
            None => o.push_str("null"),
        });
        c.member(STREAM, "stream", |o| write_string(o, &e.stream_id));
        c.member(TIME, "time", |o| match &e.recorded_at {
            Some(t) => write_time(o, t),
            None => o.push_str("null"),
        });
        c.member(TYPE, "type", |o| write_string(o, &e.event_type));
        c.member(VERSION, "version", |o| {
            o.push_str(itoa::Buffer::new().format(e.stream_version))
        });
        c.text.push('}');
        c
    }

    /// Write member `name` (after a comma unless it is the first), its value by `write`, and
    /// note where the value lies as field `field`'s text.
    fn member(&mut self, field: usize, name: &str, write: impl FnOnce(&mut String)) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        self.text.push('"');
        self.text.push_str(name);
        self.text.push_str("\":");
        let a = self.text.len();
        write(&mut self.text);
        self.spans[field] = (a, self.text.len());
    }

    /// Data or metadata: from the stored text when the read kept it unparsed (written in JCS
    /// form as it is read; text the fast writer leaves to the full reading is parsed as a read
    /// parses it), else from the event's value.
    fn field_json(&mut self, field: usize, e: &Event) {
        let name = FIELDS[field];
        if let Some(text) = e.unparsed(field - DATA) {
            let start = self.text.len();
            let mut written = false;
            self.member(field, name, |o| written = fast::write(o, text));
            if written {
                return;
            }
            self.text.truncate(start);
            // Left to the full reading: read as an event's field is read.
            let mut problems = vec![];
            let f = crate::store::db::parse_json(text, name, &mut problems);
            let invalid = problems.iter().any(|p| p.kept_as_text(name));
            let exact = f.exact.as_ref().map(crate::exact::ExactJson::text);
            self.json(field, &f.value, exact, f.repeated.as_deref(), invalid);
            return;
        }
        let (v, text, repeated) = if field == DATA {
            (&e.data, e.data_text(), e.data_repeated())
        } else {
            (&e.metadata, e.metadata_text(), e.metadata_repeated())
        };
        let invalid = e.problems.iter().any(|p| p.kept_as_text(name));
        self.json(field, v, text, repeated, invalid);
    }

    /// A JSON field: its JCS text, or its raw text under `{name}_raw` (the stored text of an
    /// object repeating a key, whose value keeps only the first of each; or a field that is
    /// not valid JSON).
    fn json(
        &mut self,
        field: usize,
        v: &Value,
        text: Option<&str>,
        repeated: Option<&str>,
        invalid: bool,
    ) {
        let name = FIELDS[field];
        if repeated.is_some() || invalid {
            self.raw[field - DATA] = true;
            let raw_name = if field == DATA {
                "data_raw"
            } else {
                "metadata_raw"
            };
            self.member(field, raw_name, |o| match (repeated, v) {
                (Some(t), _) => write_string(o, t),
                (None, Value::String(s)) => write_string(o, s),
                (None, other) => write_string(o, &other.to_string()),
            });
            return;
        }
        let exact = text.and_then(text_jcs);
        self.member(field, name, |o| match exact {
            Some(t) => o.push_str(&t),
            None => write_value(o, v),
        });
    }

    /// Whether a JSON field was hashed as its raw text.
    pub fn has_raw(&self) -> bool {
        self.raw[0] || self.raw[1]
    }

    /// The canonical bytes: one JCS object.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The canonical bytes, owned.
    pub fn bytes(&self) -> Vec<u8> {
        self.text.as_bytes().to_vec()
    }

    /// One field's text (a JCS value) and whether it is a JSON field's raw text.
    fn field(&self, field: usize) -> (&str, bool) {
        let (a, b) = self.spans[field];
        let raw = matches!(field, DATA | METADATA) && self.raw[field - DATA];
        (&self.text[a..b], raw)
    }

    /// Each field's text, in [`FIELDS`] order, with a prefix (`raw:` for a JSON field hashed
    /// as its raw text, so that it differs from any valid value).
    pub fn field_texts(&self) -> [(&'static str, &str); 8] {
        std::array::from_fn(|i| {
            let (t, raw) = self.field(i);
            (if raw { "raw:" } else { "" }, t)
        })
    }
}

/// A JSON value in JCS form (numbers by their exact value, see the module's documentation).
pub fn value_jcs(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            // An integer's ECMAScript layout is its decimal digits (every i64/u64 is below
            // 10^21, where exponents start).
            if let Some(i) = n.as_u64() {
                out.push_str(itoa::Buffer::new().format(i));
            } else if let Some(i) = n.as_i64() {
                out.push_str(itoa::Buffer::new().format(i));
            } else {
                out.push_str(&Decimal::from_f64(n.as_f64().unwrap_or(0.0)).layout());
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            // The map is in UTF-8 byte order, which is JCS's UTF-16 order unless a key holds
            // a character from U+E000 on (lead byte 0xEE or more): only then sort again.
            let write = |out: &mut String, i: usize, k: &str, x: &Value| {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, x);
            };
            out.push('{');
            if m.keys().any(|k| k.bytes().any(|b| b >= 0xEE)) {
                let mut members: Vec<(&String, &Value)> = m.iter().collect();
                members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                for (i, (k, x)) in members.into_iter().enumerate() {
                    write(out, i, k, x);
                }
            } else {
                for (i, (k, x)) in m.iter().enumerate() {
                    write(out, i, k, x);
                }
            }
            out.push('}');
        }
    })
}

/// A string as a JCS string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    out
}

pub(super) fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of bytes that need no escape are copied whole; only quotes, backslashes and controls
    // (all ASCII, so never inside a multi-byte character) are written one by one.
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            c if c < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A time as the canonical form writes it (a JCS string): RFC 3339 in UTC with nine
/// fractional digits.
fn write_time(out: &mut String, t: &chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, Timelike};
    let (y, ns) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&y) || ns >= 1_000_000_000 {
        // Years chrono writes with a sign, and leap seconds: chrono's own layout.
        return write_string(out, &t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string());
    }
    let mut b = *b"\"0000-00-00T00:00:00.000000000Z\"";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for k in (at..at + width).rev() {
            b[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(1, 4, y as u32);
    put(6, 2, t.month());
    put(9, 2, t.day());
    put(12, 2, t.hour());
    put(15, 2, t.minute());
    put(18, 2, t.second());
    put(21, 9, ns);
    out.extend(b.iter().map(|&c| char::from(c)));
}

/// JSON text in JCS form, its numbers taken from the text itself (None: not valid JSON).
pub fn text_jcs(text: &str) -> Option<String> {
    let mut p = TextParser {
        b: text.as_bytes(),
        s: text,
        i: 0,
    };
    p.ws();
    let t = p.value()?;
    p.ws();
    (p.i == p.b.len()).then_some(t)
}

/// A small recursive-descent reader of JSON text that writes JCS as it goes.
struct TextParser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
}

impl TextParser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Option<String> {
        stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || {
            self.ws();
            match *self.b.get(self.i)? {
                b'{' => self.object(),
                b'[' => self.array(),
                b'"' => {
                    let s = self.string()?;
                    Some(string(&s))
                }
                b't' => self.literal("true"),
                b'f' => self.literal("false"),
                b'n' => self.literal("null"),
                _ => self.number(),
            }
        })
    }

    fn literal(&mut self, word: &str) -> Option<String> {
        self.s.get(self.i..)?.starts_with(word).then(|| {
            self.i += word.len();
            word.to_string()
        })
    }

    fn string(&mut self) -> Option<String> {
        let (v, end) = string_literal(self.s, self.i)?;
        self.i = end;
        Some(v)
    }

    fn number(&mut self) -> Option<String> {
        let (n, end) = number_literal(self.s, self.i)?;
        self.i = end;
        Some(Decimal::from_text(n).layout())
    }

    fn array(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::from("[");
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some("[]".into());
        }
        loop {
            out.push_str(&self.value()?);
            self.ws();
            match *self.b.get(self.i)? {
                b',' => {
                    self.i += 1;
                    out.push(',');
                }
                b']' => {
                    self.i += 1;
                    out.push(']');
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self) -> Option<String> {
        self.i += 1;
        let mut members: Vec<(String, String)> = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some("{}".into());
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return None;
            }
            let k = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            let v = self.value()?;
            // A repeated key keeps the last value here. No text that repeats a key is hashed
            // through this (an event's such field is hashed as its raw text, and its value
            // keeps the first: see exact::Parsed::duplicate), and a proof's event that repeats
            // one is not in canonical form either way.
            match members.iter_mut().find(|(mk, _)| *mk == k) {
                Some(m) => m.1 = v,
                None => members.push((k, v)),
            }
            self.ws();
            match *self.b.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        let mut out = String::from("{");
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(&mut out, k);
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        Some(out)
    }
}

/// The JSON string literal whose opening quote is at `at` in `s`: its value, as serde_json
/// reads it, and the index just past its closing quote (None: unterminated or invalid).
pub(super) fn string_literal(s: &str, at: usize) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => {
                return serde_json::from_str(s.get(at..=i)?)
                    .ok()
                    .map(|v| (v, i + 1));
            }
            _ => i += 1,
        }
    }
    None
}

/// The JSON number at `at` in `s`: its text and the index just past it (None: what is there
/// is not a JSON number).
pub(super) fn number_literal(s: &str, at: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    let mut i = at;
    while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    let n = s.get(at..i)?;
    is_json_number(n).then_some((n, i))
}

/// The JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(n: &str) -> bool {
    let b = n.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let int_start = i;
    let int = digits(&mut i);
    if int == 0 || (int > 1 && b[int_start] == b'0') {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// ECMAScript's rule where two shortest digit strings are equally near the double (its exact
/// value lies halfway between them): the even one. Rust's shortest form may give the other.
/// A tie needs the precision limit, so only long digit strings are checked; `e` is the
/// exponent of the first digit.
fn ties_to_even(f: f64, digits: String, e: i64) -> String {
    let k = digits.len();
    let last = digits.as_bytes()[k - 1] - b'0';
    // The exact value, to far more digits than a double has (its expansion is finite).
    let exact = format!("{:.1100e}", f);
    let (m, _) = exact.split_once('e').unwrap_or((&exact, ""));
    let all: String = m.chars().filter(|c| *c != '.').collect();
    let (head, tail) = all.split_at(k.min(all.len()));
    if !(tail.starts_with('5') && tail[1..].bytes().all(|c| c == b'0')) {
        return digits;
    }
    // Halfway between `head` and `head + 1` (in the last place): both are candidates.
    let other = if head == digits {
        if last == 9 {
            return digits;
        }
        format!("{}{}", &digits[..k - 1], last + 1)
    } else if last > 0 {
        format!("{}{}", &digits[..k - 1], last - 1)
    } else {
        return digits;
    };
    let other_last = other.as_bytes()[k - 1] - b'0';
    let back: Option<f64> = format!("{}.{}e{e}", &other[..1], &other[1..]).parse().ok();
    if other_last % 2 == 0 && back == Some(f) {
        other
    } else {
        digits
    }
}

/// Valid JSON number text in JCS form: its exact decimal value in ECMAScript's layout.
pub(super) fn number_layout(n: &str) -> String {
    Decimal::from_text(n).layout()
}

/// A decimal number: `±0.DIGITS × 10^n` (no leading or trailing zeros in `digits`; empty for
/// zero).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    neg: bool,
    digits: String,
    n: i64,
}

impl Decimal {
    /// From valid JSON number text.
    fn from_text(t: &str) -> Decimal {
        let (neg, t) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let (mantissa, exp) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], &t[i + 1..]),
            None => (t, "0"),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let exp_neg = exp.starts_with('-');
        let mut e: i64 = 0;
        for c in exp.trim_start_matches(['+', '-']).bytes() {
            e = e.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        }
        if exp_neg {
            e = -e;
        }
        let all = format!("{int}{frac}");
        let lead = all.len() - all.trim_start_matches('0').len();
        let digits = all
            .trim_start_matches('0')
            .trim_end_matches('0')
            .to_string();
        let n = (int.len() as i64)
            .saturating_add(e)
            .saturating_sub(lead as i64);
        Decimal { neg, digits, n }
    }

    /// From a double: its shortest round-trip digits (what ECMAScript prints).
    fn from_f64(f: f64) -> Decimal {
        if f == 0.0 || !f.is_finite() {
            return Decimal {
                neg: false,
                digits: String::new(),
                n: 0,
            };
        }
        let s = format!("{:e}", f.abs());
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let digits: String = m.chars().filter(|c| *c != '.').collect();
        let mut digits = digits.trim_end_matches('0').to_string();
        let e: i64 = e.parse().unwrap_or(0);
        if digits.len() >= 16 {
            digits = ties_to_even(f.abs(), digits, e);
        }
        Decimal {
            neg: f < 0.0,
            digits,
            n: e + 1,
        }
    }

    /// ECMAScript's Number::toString layout (ECMA-262, 7.1.12.1), with these digits.
    fn layout(&self) -> String {
        let sign = if self.neg { "-" } else { "" };
        if self.digits.is_empty() {
            return format!("{sign}0");
        }
        let k = self.digits.len() as i64;
        let n = self.n;
        let d = &self.digits;
        let body = if k <= n && n <= 21 {
            format!("{d}{}", "0".repeat((n - k) as usize))
        } else if 0 < n && n <= 21 {
            format!("{}.{}", &d[..n as usize], &d[n as usize..])
        } else if -6 < n && n <= 0 {
            format!("0.{}{d}", "0".repeat((-n) as usize))
        } else {
            let e = n - 1;
            let es = if e >= 0 {
                format!("+{e}")
            } else {
                e.to_string()
            };
            if k == 1 {
                format!("{d}e{es}")
            } else {
                format!("{}.{}e{es}", &d[..1], &d[1..])
            }
        };
        format!("{sign}{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(bits: u64) -> String {
        Decimal::from_f64(f64::from_bits(bits)).layout()
    }

    #[test]
    fn numbers_as_rfc_8785_appendix_b_writes_them() {
        for (bits, want) in [
            (0x0000000000000000u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ] {
            assert_eq!(f(bits), want, "{bits:#x}");
            // The same number read from the text JCS writes gives the same text.
            assert_eq!(Decimal::from_text(want).layout(), want, "{want}");
        }
    }

    #[test]
    fn the_rfc_8785_example_object() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let want = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        // Through a Value (every number a double): exactly JCS. (serde_json's own float
        // reading is not always correctly rounded — it reads 333333333.33333329 as
        // 333333333.33333325 — which is why a row whose numbers do not survive it carries
        // its stored text, see `exact`; the Value here holds the correctly rounded double.)
        let mut v: Value = serde_json::from_str(input).unwrap();
        v["numbers"][0] = Value::from("333333333.33333329".parse::<f64>().unwrap());
        assert_eq!(value_jcs(&v), want);
        // From the text, numbers keep their exact value: 333333333.33333329 is not the
        // double 333333333.3333333, so it keeps its digits; the others are doubles' values.
        let exact = want.replace("333333333.3333333", "333333333.33333329");
        assert_eq!(text_jcs(input).unwrap(), exact);
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // RFC 8785 3.2.3: "\u20ac" (€) < "\ud83d\ude00" (😀) < "\ufb33" in UTF-16, though
        // not in UTF-8 or by code point.
        let text =
            r#"{"\ufb33":3,"\ud83d\ude00":2,"\u20ac":1,"\r":0,"1":-1,"\u0080":5,"\u00f6":6}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let want = "{\"\\r\":0,\"1\":-1,\"\u{80}\":5,\"ö\":6,\"€\":1,\"😀\":2,\"דּ\":3}";
        assert_eq!(value_jcs(&v), want);
        assert_eq!(text_jcs(text).unwrap(), want);
    }

    #[test]
    fn exact_numbers_keep_their_value_and_equal_values_agree() {
        let t = |s: &str| text_jcs(s).unwrap();
        // Numbers a double changes keep every digit.
        assert_eq!(
            t("123456789012345678901234567890.123456789"),
            "1.23456789012345678901234567890123456789e+29"
        );
        assert_eq!(t("1e400"), "1e+400");
        assert_eq!(t("-1e-400"), "-1e-400");
        assert_eq!(t("-0"), "-0");
        assert_eq!(t("-0.0"), "-0");
        assert_eq!(t("0.0"), "0");
        assert_eq!(t("18446744073709551617"), "18446744073709551617");
        assert_eq!(t("9007199254740993"), "9007199254740993");
        // ... so values that differ do not collide, where a double would make them equal.
        assert_ne!(t("0.1000000000000000000001"), t("0.1"));
        assert_ne!(t("9007199254740993"), t("9007199254740992"));
        // One value written several ways is one text.
        assert_eq!(t("1.50"), "1.5");
        assert_eq!(t("15e-1"), "1.5");
        assert_eq!(t("0.00015E4"), "1.5");
        assert_eq!(t("1E2"), "100");
        assert_eq!(t("100.000"), "100");
        // An integer held exactly in a Value (u64 past 2^53) keeps its digits too.
        let v: Value = serde_json::from_str("[9007199254740993, 18446744073709551615]").unwrap();
        assert_eq!(value_jcs(&v), "[9007199254740993,18446744073709551615]");
        // The stored text and the Value agree wherever the Value is exact.
        for s in ["[1.5,2e-3,1E30,0.000001,-12.25,7]", r#"{"b":1,"a":[0.1]}"#] {
            let v: Value = serde_json::from_str(s).unwrap();
            assert_eq!(text_jcs(s).unwrap(), value_jcs(&v), "{s}");
        }
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        for s in [
            "",
            "{",
            "[1,]",
            "01",
            "1.",
            "{\"a\" 1}",
            "tru",
            "[1] x",
            "\"a",
        ] {
            assert_eq!(text_jcs(s), None, "{s:?}");
        }
    }

    fn event() -> Event {
        Event {
            global_position: Some(7),
            stream_id: "account-1".into(),
            stream_version: 2,
            event_id: "e1".into(),
            event_type: "Deposited".into(),
            data: serde_json::json!({"b": 1, "a": "x"}),
            metadata: Value::Null,
            recorded_at: Some("2026-01-05T10:01:00.25Z".parse().unwrap()),
            problems: vec![],
            exact: None,
        }
    }

    #[test]
    fn event_bytes_are_one_jcs_object() {
        let c = Canonical::of(&event());
        assert_eq!(
            String::from_utf8(c.bytes()).unwrap(),
            r#"{"data":{"a":"x","b":1},"id":"e1","metadata":null,"position":7,"stream":"account-1","time":"2026-01-05T10:01:00.250000000Z","type":"Deposited","version":2}"#
        );
        // The bytes are themselves in canonical form.
        let b = String::from_utf8(c.bytes()).unwrap();
        assert_eq!(text_jcs(&b).unwrap(), b);
    }

    #[test]
    fn invalid_json_is_hashed_raw_and_never_equals_a_value() {
        let mut e = event();
        e.data = Value::String("{not json".into());
        e.problems = vec![crate::store::problem::Problem::new(
            "data",
            crate::store::problem::ProblemKind::InvalidJson,
            "data is not valid JSON (key must be a string at line 1)".into(),
        )];
        let c = Canonical::of(&e);
        assert!(c.has_raw());
        let b = String::from_utf8(c.bytes()).unwrap();
        assert!(b.starts_with(r#"{"data_raw":"{not json","id""#), "{b}");
        // Valid data holding the same string is another member.
        let mut v = event();
        v.data = Value::String("{not json".into());
        assert_ne!(Canonical::of(&v).bytes(), c.bytes());
        assert!(!Canonical::of(&v).has_raw());
    }

    /// A repeated key is hashed as the stored text: a change to any of its members (the value
    /// keeps only the first) changes the digest.
    #[test]
    fn json_repeating_a_key_is_hashed_as_its_text() {
        let read = |text: &str| {
            let mut problems = vec![];
            let f = crate::store::db::json_exact(
                crate::store::db::Raw::Text(text.into()),
                "data",
                &mut problems,
            );
            let mut e = event();
            e.exact = crate::store::model::Exact::of(
                &f,
                &crate::store::db::json_exact(crate::store::db::Raw::Null, "metadata", &mut vec![]),
            );
            e.data = f.value;
            e.problems = problems;
            e
        };
        let e = read(r#"{"a": 1, "a": 2}"#);
        assert_eq!(e.data, serde_json::json!({"a": 1}));
        assert_eq!(e.problems.len(), 1, "{:?}", e.problems);
        assert!(
            e.problems[0]
                .text
                .starts_with(r#"data repeats the key "a" in one object"#)
        );
        let c = Canonical::of(&e);
        assert_eq!(c.field(DATA), (r#""{\"a\": 1, \"a\": 2}""#, true));
        assert!(c.has_raw());
        assert_ne!(
            c.bytes(),
            Canonical::of(&read(r#"{"a": 1, "a": 3}"#)).bytes()
        );
        assert_ne!(c.bytes(), Canonical::of(&read(r#"{"a": 1}"#)).bytes());
    }

    #[test]
    fn the_stored_text_gives_exact_numbers() {
        let text = r#"{"amount": 123456789012345678901234567890.123456789, "i": 42}"#;
        let (data, kept) = crate::exact::parse(text).unwrap();
        let mut e = event();
        e.data = data;
        e.exact = Some(std::sync::Arc::new(crate::store::model::Exact {
            data: kept,
            metadata: None,
            ..Default::default()
        }));
        let c = Canonical::of(&e);
        assert_eq!(
            c.field(DATA),
            (
                r#"{"amount":1.23456789012345678901234567890123456789e+29,"i":42}"#,
                false
            )
        );
    }

    /// The escaping as written before runs were copied whole: one character at a time.
    fn string_by_chars(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_are_escaped_as_character_by_character() {
        let mut cases: Vec<String> = [
            "",
            "plain",
            "\"",
            "\\",
            "a\"b\\c",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "\u{8}\t\n\u{c}\r",
            "tail\n",
            "\nhead",
            "東京-🚀\"",
            "ö\u{1}ö",
            "\u{2028}\u{2029}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every ASCII byte between multi-byte characters.
        cases.extend((0u8..128).map(|b| format!("é{}😀{}", char::from(b), char::from(b))));
        for c in &cases {
            assert_eq!(string(c), string_by_chars(c), "{c:?}");
        }
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        use chrono::{DateTime, TimeZone, Utc};
        let fmt = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
        let mut times = vec![
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(1_767_225_600, 123_456_789).unwrap(),
            Utc.timestamp_opt(1_767_225_600, 1).unwrap(),
            Utc.timestamp_opt(253_402_300_799, 999_999_999).unwrap(), // 9999-12-31T23:59:59
            Utc.timestamp_opt(253_402_300_800, 0).unwrap(),           // year 10000
            Utc.timestamp_opt(-62_167_219_200, 0).unwrap(),           // year 0
            Utc.timestamp_opt(-62_167_219_201, 5).unwrap(),           // year -1
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        // A leap second (nanoseconds past 10^9).
        times.push(
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        );
        let mut x: i64 = 88_172_645_463_325_252;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x.rem_euclid(400 * 366 * 86_400) - 100 * 366 * 86_400;
            times.push(
                Utc.timestamp_opt(secs, (x >> 3).rem_euclid(1_000_000_000) as u32)
                    .unwrap(),
            );
        }
        for t in &times {
            let mut out = String::new();
            write_time(&mut out, t);
            assert_eq!(out, string(&fmt(t)), "{t:?}");
        }
    }

    #[test]
    fn integers_are_written_as_their_decimal_layout() {
        let mut ints: Vec<i128> =
            vec![0, 1, -1, 9, 10, 100, 1 << 53, (1 << 53) + 1, -(1 << 53) - 1];
        ints.extend([i64::MAX, i64::MIN].map(i128::from));
        ints.push(u64::MAX.into());
        ints.extend((0..64).flat_map(|k| [1i128 << k, -(1i128 << k), (1i128 << k) - 1]));
        for i in ints {
            let text = i.to_string();
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value_jcs(&v), Decimal::from_text(&text).layout(), "{text}");
        }
    }
}
