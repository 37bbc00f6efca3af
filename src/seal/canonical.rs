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

use crate::store::Event;

/// The name of this encoding, recorded in every receipt.
pub const ENCODING: &str = "evscope-event-v1 (RFC 8785 JSON object of data, id, metadata, position, stream, time, type, version; numbers by their exact decimal value; times UTC, 9 fractional digits)";

/// The canonical members of one event, each as its JCS text (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    pub data: Member,
    pub id: String,
    pub metadata: Member,
    pub position: String,
    pub stream: String,
    pub time: String,
    pub kind: String,
    pub version: String,
}

/// A JSON field: its JCS text, or its raw text (a JCS string) when it is not valid JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Json(String),
    Raw(String),
}

/// The eight fields, in the order their digests are kept in a digest file.
pub const FIELDS: [&str; 8] = [
    "position", "stream", "version", "id", "type", "data", "metadata", "time",
];

impl Canonical {
    pub fn of(e: &Event) -> Canonical {
        let raw = |field: &str| e.problems.iter().any(|p| p.kept_as_text(field));
        let member = |field: &str, v: &Value, text: Option<&str>, repeated: Option<&str>| {
            // An object repeating a key: its stored text, every member of it (the value keeps
            // only the first of each, so a change to a later one would not show).
            if let Some(t) = repeated {
                return Member::Raw(string(t));
            }
            if raw(field) {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                return Member::Raw(string(&s));
            }
            Member::Json(match text {
                Some(t) => text_jcs(t).unwrap_or_else(|| value_jcs(v)),
                None => value_jcs(v),
            })
        };
        Canonical {
            data: member("data", &e.data, e.data_text(), e.data_repeated()),
            id: string(&e.event_id),
            metadata: member(
                "metadata",
                &e.metadata,
                e.metadata_text(),
                e.metadata_repeated(),
            ),
            position: e
                .global_position
                .map_or_else(|| "null".to_string(), |p| p.to_string()),
            stream: string(&e.stream_id),
            time: e.recorded_at.map_or_else(
                || "null".to_string(),
                |t| string(&t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()),
            ),
            kind: string(&e.event_type),
            version: e.stream_version.to_string(),
        }
    }

    /// Whether a JSON field was hashed as its raw text.
    pub fn has_raw(&self) -> bool {
        matches!(self.data, Member::Raw(_)) || matches!(self.metadata, Member::Raw(_))
    }

    /// The canonical bytes: one JCS object.
    pub fn bytes(&self) -> Vec<u8> {
        let (dk, dv) = self.data.parts("data");
        let (mk, mv) = self.metadata.parts("metadata");
        let mut s = String::with_capacity(
            64 + dv.len() + mv.len() + self.stream.len() + self.kind.len() + self.id.len(),
        );
        for (i, (k, v)) in [
            (dk, dv),
            ("id", &self.id),
            (mk, mv),
            ("position", &self.position),
            ("stream", &self.stream),
            ("time", &self.time),
            ("type", &self.kind),
            ("version", &self.version),
        ]
        .into_iter()
        .enumerate()
        {
            s.push(if i == 0 { '{' } else { ',' });
            s.push('"');
            s.push_str(k);
            s.push_str("\":");
            s.push_str(v);
        }
        s.push('}');
        s.into_bytes()
    }

    /// Each field's text, in [`FIELDS`] order, with a prefix (`raw:` for a JSON field hashed
    /// as its raw text, so that it differs from any valid value).
    pub fn field_texts(&self) -> [(&'static str, &str); 8] {
        fn m(m: &Member) -> (&'static str, &str) {
            match m {
                Member::Json(s) => ("", s.as_str()),
                Member::Raw(s) => ("raw:", s.as_str()),
            }
        }
        [
            ("", self.position.as_str()),
            ("", self.stream.as_str()),
            ("", self.version.as_str()),
            ("", self.id.as_str()),
            ("", self.kind.as_str()),
            m(&self.data),
            m(&self.metadata),
            ("", self.time.as_str()),
        ]
    }
}

impl Member {
    fn parts<'a>(&'a self, name: &'static str) -> (&'static str, &'a str) {
        match self {
            Member::Json(s) => (name, s),
            Member::Raw(s) => (
                if name == "data" {
                    "data_raw"
                } else {
                    "metadata_raw"
                },
                s,
            ),
        }
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
            let d = if let Some(i) = n.as_u64() {
                Decimal::from_text(&i.to_string())
            } else if let Some(i) = n.as_i64() {
                Decimal::from_text(&i.to_string())
            } else {
                Decimal::from_f64(n.as_f64().unwrap_or(0.0))
            };
            out.push_str(&d.layout());
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
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, &m[k]);
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

fn write_string(out: &mut String, s: &str) {
    out.push('"');
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
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return serde_json::from_str(self.s.get(start..self.i)?).ok();
                }
                _ => self.i += 1,
            }
        }
        None
    }

    fn number(&mut self) -> Option<String> {
        let start = self.i;
        while self.i < self.b.len()
            && matches!(
                self.b[self.i],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.i += 1;
        }
        let n = self.s.get(start..self.i)?;
        if !is_json_number(n) {
            return None;
        }
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
        assert_eq!(c.data, Member::Raw(r#""{\"a\": 1, \"a\": 2}""#.into()));
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
            c.data,
            Member::Json(
                r#"{"amount":1.23456789012345678901234567890123456789e+29,"i":42}"#.into()
            )
        );
    }
}
