//! Numbers exactly as they are stored.
//!
//! A [`Value`] holds a number as an `i64`, a `u64` or an `f64`, so a stored
//! `123456789012345678901234567890.123456789` becomes `1.2345678901234568e29`, `-1e-400` becomes
//! `-0.0`, and `1e400` is refused. [`parse`] reads JSON text into a `Value` as before and, when
//! a number of the text does not come out of the `Value` as the same number, also keeps the
//! text itself (compacted, an [`ExactJson`]): the event is then written with that text, and jq
//! reads its numbers from it.
//!
//! Most rows pay nothing: the text is looked at again only when parsing met a float, and then
//! each number is first judged by its digits alone.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// JSON text holding a number that a [`Value`] does not hold exactly: the text as stored with
/// the whitespace between tokens removed (strings and numbers byte for byte), and the value it
/// was read as (the text stands for a field only while the field still holds that value).
/// (One pointer: what every row carries is `None`.)
#[derive(Debug, Clone)]
pub struct ExactJson(Box<Kept>);

#[derive(Debug, Clone)]
struct Kept {
    raw: Box<RawValue>,
    value: Value,
}

impl ExactJson {
    /// Keep `text` (valid JSON, read as `value`), compacted.
    fn new(text: &str, value: Value) -> Option<ExactJson> {
        let raw = RawValue::from_string(compact(text)).ok()?;
        Some(ExactJson(Box::new(Kept { raw, value })))
    }

    /// The compacted text.
    pub fn text(&self) -> &str {
        self.0.raw.get()
    }

    /// The text, to serialize in place of the value.
    pub fn raw(&self) -> &RawValue {
        &self.0.raw
    }

    /// Whether the text stands for `v`: `v` is the value it was read as (a field changed
    /// since no longer has its text).
    pub fn stands_for(&self, v: &Value) -> bool {
        self.0.value == *v
    }
}

impl PartialEq for ExactJson {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() && self.0.value == other.0.value
    }
}

/// JSON text read by [`read`]: its value, the text itself when one of its numbers does not
/// survive the value, and the first key an object of it repeats.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub value: Value,
    pub exact: Option<ExactJson>,
    /// A key that one of the text's objects holds more than once (the first one met). The value
    /// then holds the **first** of the repeated members, as MariaDB's and SQLite's JSON
    /// functions read such text (PostgreSQL's `jsonb` and jq keep the last): what evscope shows,
    /// jq sees and a pushed-down condition compares agree. No [`ExactJson`] is kept then (jq
    /// would read the text its own way).
    pub duplicate: Option<String>,
}

/// Parse JSON text. Besides the value, the text itself when one of its numbers does not survive
/// the value (see [`survives`]). Numbers beyond the range of an `f64`, which serde_json
/// refuses, are valid: the value holds ±1e308 in their place, and the text is kept. Nested
/// deeper than serde_json's 128 levels is an error here (see [`parse_deep`]). A repeated key
/// keeps its first value (see [`Parsed::duplicate`], which [`read`] reports).
pub fn parse(text: &str) -> Result<(Value, Option<ExactJson>), serde_json::Error> {
    read(text).map(|p| (p.value, p.exact))
}

/// [`parse`] without serde_json's limit of 128 levels, the stack grown as the nesting needs
/// (the caller bounds the depth: the value it returns is walked recursively elsewhere).
pub fn parse_deep(text: &str) -> Result<(Value, Option<ExactJson>), serde_json::Error> {
    read_deep(text).map(|p| (p.value, p.exact))
}

/// [`parse`], saying which key an object repeats.
pub fn read(text: &str) -> Result<Parsed, serde_json::Error> {
    parse_with(text, false)
}

/// [`parse_deep`], saying which key an object repeats.
pub fn read_deep(text: &str) -> Result<Parsed, serde_json::Error> {
    parse_with(text, true)
}

fn parse_with(text: &str, deep: bool) -> Result<Parsed, serde_json::Error> {
    let floats = Cell::new(0);
    let duplicate = RefCell::new(None);
    let read = |text: &str| {
        let mut de = serde_json::Deserializer::from_str(text);
        if deep {
            de.disable_recursion_limit();
        }
        Floats {
            floats: &floats,
            duplicate: &duplicate,
            deep,
        }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
    };
    let done = |value: Value, exact: Option<ExactJson>| {
        let duplicate = duplicate.take();
        Parsed {
            value,
            exact: if duplicate.is_some() { None } else { exact },
            duplicate,
        }
    };
    match read(text) {
        Ok(v) if floats.get() == 0 || all_survive(text, floats.get()) => Ok(done(v, None)),
        Ok(v) => {
            let exact = ExactJson::new(text, v.clone());
            Ok(done(v, exact))
        }
        Err(e) => {
            let Some(clamped) = clamp_out_of_range(text) else {
                return Err(e);
            };
            // Same length as the text: an error (of another kind) is where it is in the text.
            let v = read(&clamped)?;
            let exact = ExactJson::new(text, v.clone());
            Ok(done(v, exact))
        }
    }
}

/// Builds a [`Value`] as serde_json's own `Deserialize` does, except that a repeated key keeps
/// its first value (and is noted in `duplicate`), and counts the floats met (only a float can
/// have lost something: integers that fit come as `i64`/`u64`, and serde_json reads any other
/// number as an `f64`). Deep: each nested value on a stack grown when little of it is left.
#[derive(Clone, Copy)]
struct Floats<'a> {
    floats: &'a Cell<usize>,
    duplicate: &'a RefCell<Option<String>>,
    deep: bool,
}

impl<'de> DeserializeSeed<'de> for Floats<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.deep {
            stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || d.deserialize_any(self))
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Floats<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        self.floats.set(self.floats.get() + 1);
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(self)? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            match m.entry(k) {
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                serde_json::map::Entry::Occupied(e) => {
                    let mut d = self.duplicate.borrow_mut();
                    if d.is_none() {
                        *d = Some(e.key().clone());
                    }
                }
            }
        }
        Ok(Value::Object(m))
    }
}

/// The end of the string whose content starts at `i` (just after the opening quote): the
/// index after its closing quote. Eight bytes at a time while no quote or backslash is among
/// them.
fn string_end(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    loop {
        while let Some(w) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
            let (q, s) = (w ^ (ONES * u64::from(b'"')), w ^ (ONES * u64::from(b'\\')));
            // The lowest byte flagged is a quote or a backslash (higher ones may be false).
            let m = ((q.wrapping_sub(ONES) & !q) | (s.wrapping_sub(ONES) & !s)) & HIGH;
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        while i < b.len() && b[i] != b'"' && b[i] != b'\\' {
            i += 1;
        }
        match b.get(i) {
            None => return b.len(),
            Some(b'"') => return i + 1,
            Some(_) => i += 2, // an escape
        }
    }
}

/// A number-like run (sign, digits, fraction, exponent): where its point and its exponent's
/// `e` are, from its start.
#[derive(Debug, Clone, Copy)]
struct Shape {
    point: Option<usize>,
    e: Option<usize>,
}

/// The end and shape of the number-like run starting at `i`.
fn number_at(b: &[u8], start: usize) -> (usize, Shape) {
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut shape = Shape {
        point: None,
        e: None,
    };
    let mut i = start + usize::from(b.get(start) == Some(&b'-'));
    i = digits(i);
    if b.get(i) == Some(&b'.') {
        shape.point = Some(i - start);
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        shape.e = Some(i - start);
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i);
    }
    (i, shape)
}

/// Call `f` with the start, text and shape of each number of JSON text (outside strings),
/// until it returns true; whether it did.
fn any_number(text: &str, mut f: impl FnMut(usize, &str, Shape) -> bool) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i + 1),
            b'-' | b'0'..=b'9' => {
                let (end, shape) = number_at(b, i);
                if f(i, &text[i..end], shape) {
                    return true;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    false
}

/// Whether every number of (valid) JSON text survives its `Value`, given how many of them
/// serde_json read as floats (the rest, integers that fit, survive: the scan ends at the last
/// float).
fn all_survive(text: &str, floats: usize) -> bool {
    let mut left = floats;
    let mut lost = false;
    any_number(text, |_, n, shape| {
        lost = !survives_shaped(n, shape);
        left = left.saturating_sub(usize::from(read_as_float(n, shape)));
        lost || left == 0
    });
    !lost
}

/// Whether serde_json reads the (valid) JSON number `n` as an `f64`: a fraction or an
/// exponent, an integer beyond `u64` (or below `i64`), or `-0`.
fn read_as_float(n: &str, shape: Shape) -> bool {
    if shape.point.is_some() || shape.e.is_some() {
        return true;
    }
    match n.strip_prefix('-') {
        None => n.len() > 19 && n.parse::<u64>().is_err(),
        Some(d) => d.parse::<u64>().map_or(true, |s| s == 0 || s > 1 << 63),
    }
}

/// JSON text without the whitespace between its tokens (strings are copied as they are).
pub fn compact(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut run, mut i) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i + 1),
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push_str(&text[run..i]);
                i += 1;
                run = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[run.min(text.len())..]);
    out
}

/// Whether `s` is a JSON number (RFC 8259).
fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == int || (b[int] == b'0' && i - int > 1) {
        return false;
    }
    // What follows the integer part is a fraction and an exponent, as `number_at` took them.
    let rest = &b[i..];
    let mut j = 0;
    if rest.first() == Some(&b'.') {
        j += 1;
        let start = j;
        while j < rest.len() && rest[j].is_ascii_digit() {
            j += 1;
        }
        if j == start {
            return false;
        }
    }
    if matches!(rest.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(rest.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let start = j;
        while j < rest.len() && rest[j].is_ascii_digit() {
            j += 1;
        }
        if j == start {
            return false;
        }
    }
    j == rest.len()
}

/// The text with each number that serde_json refuses as out of range replaced by ±1e308,
/// padded with spaces to its length; `None` when there is none.
fn clamp_out_of_range(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    any_number(text, |at, n, shape| {
        let big = n.len() > 300 || shape.e.is_some();
        if big && is_number(n) && serde_json::from_str::<f64>(n).is_err() {
            out.push_str(&text[copied..at]);
            let with = if n.starts_with('-') {
                "-1e308"
            } else {
                "1e308"
            };
            out.push_str(with);
            out.extend(std::iter::repeat_n(' ', n.len() - with.len()));
            copied = at + n.len();
        }
        false
    });
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Whether the JSON number `n` comes out of a [`Value`] as the same number: serde_json reads it
/// as an integer, or as an `f64` that it writes back with the same decimal value (`0.10` and
/// `1E2` survive as `0.1` and `100.0`; `0.1000000000000000000001`, `12345678901234567890123`,
/// `1e-400`, `1e400` and any negative zero do not).
pub fn survives(n: &str) -> bool {
    survives_shaped(n, number_at(n.as_bytes(), 0).1)
}

fn survives_shaped(n: &str, shape: Shape) -> bool {
    surely(n, shape).unwrap_or_else(|| survives_slowly(n))
}

/// Powers of ten that fit in a `u64`.
const POW10: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// [`survives`] judged from the digits alone, when that is certain: integers that fit, and
/// decimals of at most 15 significant digits that serde_json reads by one correctly rounded
/// operation (its significand and the power of ten both exact in an `f64`, as its parser
/// computes them: every digit into a `u64` significand, the zeros that end a fraction only
/// while they fit).
fn surely(n: &str, shape: Shape) -> Option<bool> {
    let b = n.as_bytes();
    let neg = b.first() == Some(&b'-');
    if b.len() <= 16 && shape.e.is_none() {
        // An integer of at most 16 digits, or a decimal of at most 15 (and as many places),
        // read exactly; only a negative zero is changed.
        return Some(!neg || b.iter().any(|c| matches!(c, b'1'..=b'9')));
    }
    let (mantissa, exponent) = b.split_at(shape.e.unwrap_or(b.len()));
    let (int, frac) = match shape.point {
        Some(p) => (&mantissa[usize::from(neg)..p], &mantissa[p + 1..]),
        None => (&mantissa[usize::from(neg)..], &[][..]),
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| c - b'0');
    let mut exp = 0i32;
    if let Some((_, e)) = exponent.split_first() {
        let (eneg, e) = match e.split_first() {
            Some((b'-', e)) => (true, e),
            Some((b'+', e)) => (false, e),
            _ => (false, e),
        };
        for &c in e {
            exp = exp.checked_mul(10)?.checked_add(i32::from(digit(c)?))?;
        }
        if eneg {
            exp = -exp;
        }
    }
    // The fraction up to its last non-zero digit, then its zeros (eight at a time).
    let mut frac_len = frac.len();
    while frac_len >= 8 && frac[frac_len - 8..frac_len] == *b"00000000" {
        frac_len -= 8;
    }
    while frac_len > 0 && frac[frac_len - 1] == b'0' {
        frac_len -= 1;
    }
    let zeros = frac.len() - frac_len;
    // The significand of those digits; a part of them left out (an overflow) is not judged.
    let mut sig: u64 = 0;
    for &c in int.iter().chain(&frac[..frac_len]) {
        sig = sig.checked_mul(10)?.checked_add(u64::from(digit(c)?))?;
    }
    if shape.point.is_none() && exponent.is_empty() {
        return match (neg, sig) {
            (false, _) => Some(true),
            (true, 0) => Some(false),
            (true, s) if s <= 1 << 63 => Some(true),
            _ => None,
        };
    }
    if sig == 0 {
        return Some(!neg); // a zero; negative zero is not kept by every reader
    }
    // Its significant digits (a fraction ends with one; an integer part may end with zeros).
    let mut significant = sig;
    if frac_len == 0 {
        while significant % 10 == 0 {
            significant /= 10;
        }
    }
    // The zeros that end the fraction go into the significand while it has room: all of
    // 19 digits, and a 20th when it fits.
    let len = sig.ilog10() as usize + 1;
    let room = match len {
        20 => 0,
        _ => 19 - len + usize::from(sig.checked_mul(POW10[20 - len]).is_some()),
    };
    let taken = zeros.min(room);
    let sig = sig * POW10[taken];
    let exp = exp.checked_sub(i32::try_from(frac_len + taken).ok()?)?;
    let odd = sig >> sig.trailing_zeros();
    (significant < POW10[15] && exp.abs() <= 22 && odd < 1 << 53).then_some(true)
}

/// [`survives`] by reading the number as serde_json does and comparing the decimal value
/// it writes with the text's.
fn survives_slowly(n: &str) -> bool {
    let Ok(Value::Number(v)) = serde_json::from_str::<Value>(n) else {
        return false; // out of range
    };
    if v.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) {
        return false;
    }
    Decimal::of(n) == Decimal::of(&v.to_string())
}

/// A number's decimal value: sign, significant digits (no leading or trailing zero), and
/// the power of ten of `0.DIGITS`. Zero has no digits.
#[derive(Debug, PartialEq)]
struct Decimal {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Decimal {
    /// Of a JSON number (or of how serde_json writes one).
    fn of(n: &str) -> Decimal {
        let neg = n.starts_with('-');
        let n = n.trim_start_matches(['-', '+']);
        let (mantissa, e) = n.split_once(['e', 'E']).unwrap_or((n, ""));
        let e = e.trim_start_matches('+');
        let (eneg, e) = e.strip_prefix('-').map_or((false, e), |e| (true, e));
        let mut exp: i64 = e.bytes().fold(0, |a, c| {
            a.saturating_mul(10)
                .saturating_add(i64::from(c.wrapping_sub(b'0')))
        });
        if eneg {
            exp = -exp;
        }
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = || int.bytes().chain(frac.bytes());
        let Some(first) = all().position(|c| c != b'0') else {
            return Decimal {
                neg,
                digits: vec![],
                exp: 0,
            };
        };
        let mut digits: Vec<u8> = all().skip(first).collect();
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        let exp = exp.saturating_add(int.len() as i64 - first as i64);
        Decimal { neg, digits, exp }
    }
}

/// The integer a JSON number stands for, in decimal digits, when it is one of at most
/// `max_digits` digits (`1.5e3` is `1500`, `1e400` is 1 and 400 zeros; `0.5` is none).
pub fn integer_digits(n: &str, max_digits: usize) -> Option<String> {
    let d = Decimal::of(n);
    if d.digits.is_empty() {
        return Some("0".into());
    }
    let len = usize::try_from(d.exp).ok()?;
    if len < d.digits.len() || len > max_digits {
        return None;
    }
    let mut s = String::with_capacity(len + 1);
    if d.neg {
        s.push('-');
    }
    s.extend(d.digits.iter().map(|&c| char::from(c)));
    s.extend(std::iter::repeat_n('0', len - d.digits.len()));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_repeated_key_keeps_its_first_value_and_is_reported() {
        let p = read(r#"{"a": 1, "b": {"c": "x", "c": "y", "d": 2}, "a": 3}"#).unwrap();
        assert_eq!(p.value, json!({"a": 1, "b": {"c": "x", "d": 2}}));
        // The first repeat met, in text order (the inner object closes first).
        assert_eq!(p.duplicate.as_deref(), Some("c"));
        // Keys equal once unescaped are the same key.
        let p = read(r#"[{"k": 1, "\u006b": 2}]"#).unwrap();
        assert_eq!(p.value, json!([{"k": 1}]));
        assert_eq!(p.duplicate.as_deref(), Some("k"));
        // No text is kept for jq then, even with numbers a value changes (jq would read the
        // text, and its repeated keys, its own way).
        let p = read(r#"{"n": 1e400, "n": 2}"#).unwrap();
        assert_eq!(p.duplicate.as_deref(), Some("n"));
        assert!(p.exact.is_none());
        let p = read_deep(r#"{"a": [1, {"a": 1}], "b": {"a": 2}}"#).unwrap();
        assert_eq!(p.duplicate, None);
    }

    #[test]
    fn compaction_removes_whitespace_between_tokens_only() {
        let text = " {\"a b\" : [ 1 ,\t2.50 ],\n \"c\\\" d\": \"x  \\\\\"  , \"e\":{ } }\r\n";
        assert_eq!(compact(text), r#"{"a b":[1,2.50],"c\" d":"x  \\","e":{}}"#);
        assert_eq!(compact("1e400"), "1e400");
        assert_eq!(compact("  "), "");
        assert_eq!(compact(r#"{"ü é": "€ \u00e9"}"#), r#"{"ü é":"€ \u00e9"}"#);
    }

    #[test]
    fn strings_end_at_their_first_unescaped_quote() {
        let mut r = fastrand::Rng::with_seed(3);
        let alphabet = ['a', ' ', '"', '\\', 'é', '\n', '0', 'e'];
        for _ in 0..20_000 {
            let s: String = (0..r.usize(0..40))
                .map(|_| alphabet[r.usize(..alphabet.len())])
                .collect();
            let lit = serde_json::to_string(&s).unwrap();
            let text = format!("{lit}, 1e-400, \"x\"");
            assert_eq!(string_end(text.as_bytes(), 1), lit.len(), "{text}");
        }
        assert_eq!(string_end(br#""abc"#, 1), 4);
    }

    #[test]
    fn numbers_that_survive_a_value() {
        for n in [
            "0",
            "42",
            "-42",
            "18446744073709551615",
            "-9223372036854775808",
            "0.1",
            "0.10",
            "0.0",
            "1E2",
            "1e-7",
            "12.5",
            "0.01000000000000000000",
            "999.99000000000000000000",
            "0.30000000000000004",
            "1.7976931348623157e308",
            "5e-324",
            "1e22",
            "100000000000000000000",
            "0e999999999999",
            "123456789012345.6",
        ] {
            assert!(survives(n), "{n} should survive");
        }
        for n in [
            "-0",
            "-0.0",
            "-0e5",
            "123456789012345678901234567890.123456789",
            "12345678901234567890123",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1000000000000000000001",
            "1.00000000000000000000001",
            "-1e-400",
            "1e-400",
            "1e400",
            "1e99999999999",
            "2e-324",
        ] {
            assert!(!survives(n), "{n} should not survive");
        }
    }

    #[test]
    fn what_postgresql_prints_is_judged_quickly() {
        for n in [
            "0.01000000000000000000",
            "999.99000000000000000000",
            "12.5",
            "0.0125",
            "1",
        ] {
            assert_eq!(surely(n, number_at(n.as_bytes(), 0).1), Some(true), "{n}");
        }
    }

    /// The judgement from digits alone never says what reading the number would not.
    #[test]
    fn the_quick_judgement_agrees_with_the_slow_one() {
        let mut r = fastrand::Rng::with_seed(17);
        let digits = |r: &mut fastrand::Rng, n: usize| -> String {
            (0..r.usize(1..=n)).map(|_| r.digit(10)).collect()
        };
        let (mut judged, mut kept) = (0, 0);
        for _ in 0..300_000 {
            let long = r.u8(0..4) == 0;
            let int = digits(&mut r, if long { 22 } else { 9 });
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let mut n = format!("{}{int}", if r.bool() { "-" } else { "" });
            if r.bool() {
                let zeros = "0".repeat(r.usize(0..=22));
                n = format!("{n}.{}{zeros}", digits(&mut r, if long { 24 } else { 9 }));
            }
            if r.u8(0..3) == 0 {
                n = format!(
                    "{n}{}{}",
                    ["e", "E", "e+", "e-"][r.usize(0..4)],
                    r.u32(0..=40)
                );
            }
            if let Ok(Value::Number(v)) = serde_json::from_str::<Value>(&n) {
                assert_eq!(
                    read_as_float(&n, number_at(n.as_bytes(), 0).1),
                    v.is_f64(),
                    "{n}"
                );
            }
            if let Some(quick) = surely(&n, number_at(n.as_bytes(), 0).1) {
                judged += 1;
                kept += usize::from(!quick);
                assert_eq!(quick, survives_slowly(&n), "{n}");
            }
        }
        assert!(judged > 100_000 && kept > 100, "{judged} {kept}");
    }

    #[test]
    fn ordinary_text_is_read_as_before_and_not_kept() {
        for text in [
            r#"{"amount": 12.5, "n": 3, "s": "1e400 -0 0.1000000000000000000001", "a": [0.1, -2]}"#,
            r#"{"x": 0.01000000000000000000}"#,
            "[]",
            "null",
            r#""-0""#,
        ] {
            let (v, exact) = parse(text).unwrap();
            assert_eq!(v, serde_json::from_str::<Value>(text).unwrap(), "{text}");
            assert!(exact.is_none(), "{text}");
        }
    }

    #[test]
    fn numbers_a_value_changes_keep_the_text() {
        let text = "{\"amount\": 123456789012345678901234567890.123456789,\n \"tiny\": -1e-400, \"i\": 42}";
        let (v, exact) = parse(text).unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        let exact = exact.expect("kept");
        assert_eq!(
            exact.text(),
            r#"{"amount":123456789012345678901234567890.123456789,"tiny":-1e-400,"i":42}"#
        );
        assert!(exact.stands_for(&v));
        assert!(!exact.stands_for(&json!({})));
        assert!(parse(r#"{"z": -0}"#).unwrap().1.is_some());
        // After the floats that survive, the lossy one is still found.
        assert!(
            parse(r#"[1.5, "x\"1e-400", 2, 3.5, 1e-400, 7]"#)
                .unwrap()
                .1
                .is_some()
        );
        assert!(parse(r#"[1.5, "x\\", 2, -0, 3]"#).unwrap().1.is_some());
        assert!(parse(r#"[12345678901234567890123]"#).unwrap().1.is_some());
    }

    #[test]
    fn numbers_beyond_f64_are_valid_and_kept() {
        assert!(serde_json::from_str::<Value>(r#"{"huge": 1e400}"#).is_err());
        let (v, exact) = parse(r#"{"huge": 1e400, "neg": [-1E+400], "ok": 1}"#).unwrap();
        assert_eq!(v, json!({"huge": 1e308, "neg": [-1e308], "ok": 1}));
        assert_eq!(
            exact.unwrap().text(),
            r#"{"huge":1e400,"neg":[-1E+400],"ok":1}"#
        );
        let big = format!("[{}]", "9".repeat(400));
        assert_eq!(parse(&big).unwrap().1.unwrap().text(), big);
        // Other errors stay errors, where they are in the text.
        let e = parse(r#"{"huge": 1e400, oops}"#).unwrap_err();
        assert_eq!(e.column(), 17, "{e}");
        for bad in ["{not json", "1e", "[1e400", "-", "01e400", "[1e400 1]"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_in_any_notation() {
        assert_eq!(integer_digits("1.5e3", 100).as_deref(), Some("1500"));
        assert_eq!(integer_digits("-12e0", 100).as_deref(), Some("-12"));
        assert_eq!(integer_digits("0.0", 100).as_deref(), Some("0"));
        assert_eq!(integer_digits("0.5", 100), None);
        assert_eq!(integer_digits("1e400", 1000).unwrap().len(), 401);
        assert_eq!(integer_digits("1e400", 100), None);
        assert_eq!(integer_digits("-1e-400", 1000), None);
    }
}
