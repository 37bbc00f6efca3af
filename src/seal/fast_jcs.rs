//! JSON text written in JCS form as it is read, with no value built: what a seal does with
//! the stored text of an event's data and metadata (see `canonical`).
//!
//! [`write`] handles what stores hold almost always: valid JSON, objects whose keys have no
//! escapes and are not repeated, nesting to [`MAX_DEPTH`]. Anything else it declines
//! (`false`), and the caller reads the text the full way (the same bytes, or the raw member
//! for text that is not JSON or repeats a key). Its output is exactly the canonical writer's
//! for the same text: numbers by their exact decimal value in ECMAScript's layout, strings
//! escaped as `JSON.stringify` does, members sorted by the UTF-16 code units of their keys.

use std::cell::RefCell;

use super::canonical::{number_layout, number_literal, string_literal, write_string};

/// Deeper nesting is left to the full reading (which grows its stack).
pub const MAX_DEPTH: usize = 100;

/// One member of an object being written: where it lies in the output (after its comma), and
/// where its key lies in the input (between the quotes).
#[derive(Clone, Copy)]
struct Member {
    start: usize,
    end: usize,
    key: (usize, usize),
}

#[derive(Default)]
struct Scratch {
    members: Vec<Member>,
    buf: String,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Append `text` in JCS form to `out`; `false` when the text is left to the full reading
/// (`out` then holds a partial write the caller drops).
pub fn write(out: &mut String, text: &str) -> bool {
    SCRATCH.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return false;
        };
        s.members.clear();
        let mut w = Writer {
            b: text.as_bytes(),
            s: text,
            i: 0,
            out,
            scratch: &mut s,
        };
        w.ws();
        w.value(0) && {
            w.ws();
            w.i == w.b.len()
        }
    })
}

struct Writer<'a, 'o> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    out: &'o mut String,
    scratch: &'o mut Scratch,
}

impl Writer<'_, '_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.b.get(self.i) {
            Some(b'{') => depth < MAX_DEPTH && self.object(depth + 1),
            Some(b'[') => depth < MAX_DEPTH && self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &str) -> bool {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            self.out.push_str(word);
            true
        } else {
            false
        }
    }

    /// The content of the string literal at `i` (between its quotes), when it holds no
    /// escape and no control character; `None` otherwise (or unterminated).
    fn plain_string(&mut self) -> Option<(usize, usize)> {
        let start = self.i + 1;
        let rest = &self.b[start..];
        let n = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[n] != b'"' {
            return None;
        }
        self.i = start + n + 1;
        Some((start, start + n))
    }

    fn string(&mut self) -> bool {
        let at = self.i;
        if let Some((a, b)) = self.plain_string() {
            // Nothing in it needs an escape in JCS either.
            self.out.reserve(b - a + 2);
            self.out.push('"');
            self.out.push_str(&self.s[a..b]);
            self.out.push('"');
            return true;
        }
        // Escapes: the literal's value as serde_json reads it, written as JCS writes it.
        let Some((v, end)) = string_literal(self.s, at) else {
            return false;
        };
        self.i = end;
        write_string(self.out, &v);
        true
    }

    fn number(&mut self) -> bool {
        let Some((n, end)) = number_literal(self.s, self.i) else {
            return false;
        };
        self.i = end;
        // An integer of up to 18 digits is its own layout (no sign of zero to keep).
        let digits = n.strip_prefix('-').unwrap_or(n);
        if digits.len() <= 18 && digits.bytes().all(|c| c.is_ascii_digit()) && n != "-0" {
            self.out.push_str(n);
        } else {
            self.out.push_str(&number_layout(n));
        }
        true
    }

    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        self.out.push('[');
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            self.out.push(']');
            return true;
        }
        loop {
            self.ws();
            if !self.value(depth) {
                return false;
            }
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.out.push(',');
                }
                Some(b']') => {
                    self.i += 1;
                    self.out.push(']');
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        self.out.push('{');
        let base = self.scratch.members.len();
        let body = self.out.len();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.out.push('}');
            return true;
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return false;
            }
            if self.scratch.members.len() > base {
                self.out.push(',');
            }
            let start = self.out.len();
            // A key with an escape is left to the full reading (its order is its value's).
            let Some(key) = self.plain_string() else {
                return false;
            };
            self.out.push('"');
            self.out.push_str(&self.s[key.0..key.1]);
            self.out.push_str("\":");
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return false;
            }
            self.i += 1;
            self.ws();
            if !self.value(depth) {
                return false;
            }
            let end = self.out.len();
            self.scratch.members.push(Member { start, end, key });
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => return false,
            }
        }
        let ok = self.order(base, body);
        self.scratch.members.truncate(base);
        self.out.push('}');
        ok
    }

    /// Put the members from `base` (written from `body` on) in JCS order; `false` when two
    /// keys are equal (a repeated key is left to the full reading).
    fn order(&mut self, base: usize, body: usize) -> bool {
        let s = self.s;
        let key = |m: &Member| &s[m.key.0..m.key.1];
        let members = &mut self.scratch.members[base..];
        let mut sorted = true;
        for w in members.windows(2) {
            match jcs_cmp(key(&w[0]), key(&w[1])) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return false,
                std::cmp::Ordering::Greater => sorted = false,
            }
        }
        if sorted {
            return true;
        }
        members.sort_unstable_by(|a, b| jcs_cmp(key(a), key(b)));
        if members
            .windows(2)
            .any(|w| jcs_cmp(key(&w[0]), key(&w[1])).is_eq())
        {
            return false;
        }
        let buf = &mut self.scratch.buf;
        buf.clear();
        buf.push_str(&self.out[body..]);
        self.out.truncate(body);
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(&buf[m.start - body..m.end - body]);
        }
        true
    }
}

/// JCS's order of keys: by UTF-16 code units, which is UTF-8 byte order unless a key holds a
/// character from U+E000 on (lead byte 0xEE or more).
fn jcs_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.bytes().chain(b.bytes()).any(|c| c >= 0xEE) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the canonical writer makes of the text read the full way (None: it would hash the
    /// text raw, as not JSON or repeating a key).
    fn full(text: &str) -> Option<String> {
        let mut problems = vec![];
        let f = crate::store::db::parse_json(text, "data", &mut problems);
        if f.repeated.is_some() || problems.iter().any(|p| p.kept_as_text("data")) {
            return None;
        }
        Some(match f.exact {
            Some(x) => super::super::canonical::text_jcs(x.text()).unwrap(),
            None => super::super::canonical::value_jcs(&f.value),
        })
    }

    fn fast(text: &str) -> Option<String> {
        let mut out = String::from("x");
        write(&mut out, text).then(|| out[1..].to_string())
    }

    /// Whatever the fast writer writes is the full reading's text; what it declines is what it
    /// says it declines.
    fn check(text: &str) {
        match (fast(text), full(text)) {
            (Some(f), Some(w)) => assert_eq!(f, w, "{text:?}"),
            (Some(f), None) => panic!("{text:?}: fast wrote {f:?}, the full reading hashes it raw"),
            (None, _) => {}
        }
    }

    #[test]
    fn writes_what_the_full_reading_writes() {
        for t in [
            r#"{"note": "payment 1", "amount": 1, "currency": "BRL"}"#,
            r#"{"b":1,"a":"x"}"#,
            r#"  {"a" : [1, 2.50, -0, 0.0, 1e2, 1E-7, 123456789012345678901234567890.123456789, 1e400] }  "#,
            r#"[true,false,null,"x\u00e9\n\"","\ud83d\ude00"]"#,
            r#"{"\u00e9":1,"é":2}"#,
            r#"{"€":1,"😀":2,"ﬀ":3,"a":{"z":[],"y":{}}}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#""just a string""#,
            "42",
            "-9223372036854775808",
            "18446744073709551616",
            "0.1",
            "5e-324",
            "1.7976931348623157e308",
            "{not json",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "\"\t\"",
            "\"\\ud800\"",
            "tru",
            "nullx",
            "{} {}",
            "",
        ] {
            check(t);
        }
        // The common shapes are written, not declined.
        for t in [
            r#"{"note": "payment 1", "amount": 1, "currency": "BRL"}"#,
            r#"{"a": [1, 2.5, {"c": null, "b": true}], "€": "x\n"}"#,
        ] {
            assert!(fast(t).is_some(), "{t}");
        }
        assert_eq!(
            fast(r#"{"note": "p", "amount": 1, "currency": "BRL"}"#).unwrap(),
            r#"{"amount":1,"currency":"BRL","note":"p"}"#
        );
        // Repeated keys, escaped keys, invalid text: declined.
        for t in [r#"{"a":1,"a":2}"#, r#"{"\u0061":1}"#, "{not json", "[1,]"] {
            assert_eq!(fast(t), None, "{t}");
        }
    }

    /// Random documents from a small grammar of the shapes that differ most (numbers near the
    /// limits of a double, keys past U+E000 and astral, escapes, nesting).
    #[test]
    fn random_documents_agree_with_the_full_reading() {
        let mut rng = fastrand::Rng::with_seed(17);
        const NUMBERS: &[&str] = &[
            "0",
            "-0",
            "1",
            "-1",
            "10",
            "1.5",
            "1.50",
            "0.1",
            "0.30000000000000004",
            "1e21",
            "1e20",
            "123e-9",
            "1e-7",
            "0.000001",
            "9007199254740993",
            "9007199254740992",
            "12345678901234567890",
            "-12345678901234567890123",
            "2.5e-5",
            "1E+2",
            "4.35",
            "1.0000000000000002",
            "1.00000000000000001",
            "5e-324",
            "1e400",
            "-1e-400",
        ];
        const KEYS: &[&str] = &[
            "a", "b", "aa", "A", "_", "é", "€", "\u{e000}", "\u{ffff}", "😀", "ﬀ", "id", "",
        ];
        const STRINGS: &[&str] = &[
            r#""""#,
            r#""x""#,
            r#""\n\t\"\\\/""#,
            r#""\u0000\u001f""#,
            r#""é😀""#,
            r#""\ud83d\ude00""#,
            r#""\u2028""#,
        ];
        fn doc(rng: &mut fastrand::Rng, depth: u32, out: &mut String) {
            let pick = if depth > 3 {
                rng.u32(0..3)
            } else {
                rng.u32(0..5)
            };
            let ws = |rng: &mut fastrand::Rng, out: &mut String| {
                if rng.u32(0..4) == 0 {
                    out.push_str([" ", "\n", "\t ", "\r\n"][rng.usize(0..4)]);
                }
            };
            match pick {
                0 => out.push_str(NUMBERS[rng.usize(0..NUMBERS.len())]),
                1 => out.push_str(STRINGS[rng.usize(0..STRINGS.len())]),
                2 => out.push_str(["true", "false", "null"][rng.usize(0..3)]),
                3 => {
                    out.push('[');
                    for i in 0..rng.usize(0..4) {
                        if i > 0 {
                            out.push(',');
                        }
                        ws(rng, out);
                        doc(rng, depth + 1, out);
                        ws(rng, out);
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    for i in 0..rng.usize(0..6) {
                        if i > 0 {
                            out.push(',');
                        }
                        ws(rng, out);
                        out.push_str(
                            &serde_json::to_string(KEYS[rng.usize(0..KEYS.len())]).unwrap(),
                        );
                        ws(rng, out);
                        out.push(':');
                        ws(rng, out);
                        doc(rng, depth + 1, out);
                    }
                    out.push('}');
                }
            }
        }
        let mut written = 0;
        for _ in 0..20_000 {
            let mut t = String::new();
            doc(&mut rng, 0, &mut t);
            check(&t);
            written += usize::from(fast(&t).is_some());
        }
        // Most are written (repeated keys are the ones declined).
        assert!(written > 12_000, "{written}");
    }

    #[test]
    fn nesting_past_the_limit_is_declined() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(fast(&deep(MAX_DEPTH)).is_some());
        assert_eq!(fast(&deep(MAX_DEPTH + 1)), None);
        check(&deep(MAX_DEPTH));
    }
}
