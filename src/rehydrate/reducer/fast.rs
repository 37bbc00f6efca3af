//! The reducer programs people write most, run without jaq's interpreter.
//!
//! A fold runs one small program per event, and most are of a handful of shapes:
//! `.balance += $event.data.amount`, `.status = "closed"`, `{owner: $event.data.owner,
//! balance: 0}`, or a `|` of those. For such a program jaq builds closures and boxed
//! iterators per event, which is most of a fold's time. [`Fast`] recognises exactly these
//! shapes in the program's text and runs them directly on jaq's values, with jaq's own
//! arithmetic (`Val + Val`, …) and map updates, so the next state is the one jaq gives.
//!
//! Anything else — another shape, a path through something that is not an object, an
//! arithmetic error — is not decided here: [`Fast::run`] hands the state back untouched and
//! jaq runs the program, with its own result or its own error message.
//!
//! ```text
//! program := step ('|' step)*
//! step    := path ('=' | '+=' | '-=' | '*=') value  |  '{' key ':' value (',' key ':' value)* '}'
//! path    := ('.' key)+
//! value   := '$event' ('.' key)+  |  number  |  "string without escapes"  |  true | false | null
//! ```

use bytes::Bytes;
use jaq_core::ValT;
use jaq_json::Val;

/// Where `$event.a.b…` is looked up: a built `$event` value, or (see
/// [`super::LazyEvent`]) the event itself, without building the whole value per event.
pub trait EventSource {
    /// The value at `path` under `$event` (null where a key is missing), or None where jaq
    /// would fail (an index into something not an object).
    fn at(&self, path: &[Bytes]) -> Option<Val>;
}

impl EventSource for Val {
    fn at(&self, path: &[Bytes]) -> Option<Val> {
        walk(self.clone(), path)
    }
}

/// `v.a.b…` as jaq indexes it: a missing key and anything under null are null; an index into
/// anything else is an error (None).
pub fn walk(v: Val, path: &[Bytes]) -> Option<Val> {
    let mut at = v;
    for k in path {
        at = match at {
            Val::Obj(o) => o.get(&key(k)).cloned().unwrap_or(Val::Null),
            Val::Null => Val::Null,
            _ => return None,
        };
    }
    Some(at)
}

/// A recognised program: its steps, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fast {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `path op= value` (`op` None: `=`).
    Update {
        path: Vec<Bytes>,
        op: Option<Op>,
        value: Value,
    },
    /// `{k: value, ...}`: a new state (the keys are distinct).
    Object(Vec<(Bytes, Value)>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
}

/// A value that does not depend on the state (kept as text: a `Val` is not `Send`).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// `$event.a.b…`: the path under `$event`.
    Event(Vec<Bytes>),
    /// A number literal, as written (made a value as jaq makes one of its literals).
    Number(String),
    Str(String),
    Bool(bool),
    Null,
}

/// jq's keywords: `.if`, `{then: 1}` and the like are left to jaq.
const KEYWORDS: &[&str] = &[
    "def", "if", "then", "elif", "else", "end", "as", "reduce", "foreach", "try", "catch", "label",
    "import", "include", "and", "or", "not", "__loc__",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Dot,
    Ident(&'a str),
    Var(&'a str),
    Num(&'a str),
    Str(&'a str),
    Assign(Option<Op>),
    Pipe,
    Open,
    Close,
    Colon,
    Comma,
}

/// The tokens of `src`, or None when it holds anything the grammar does not.
fn tokens(src: &str) -> Option<Vec<Tok<'_>>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        let start = i;
        let single = match c {
            b'.' => Some(Tok::Dot),
            b'{' => Some(Tok::Open),
            b'}' => Some(Tok::Close),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            // `|=` is an update jaq runs.
            b'|' if b.get(i + 1) != Some(&b'=') => Some(Tok::Pipe),
            _ => None,
        };
        if let Some(t) = single {
            out.push(t);
            i += 1;
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'=' => {
                // `==` is a comparison.
                if b.get(i + 1) == Some(&b'=') {
                    return None;
                }
                out.push(Tok::Assign(None));
                i += 1;
            }
            b'+' | b'-' | b'*' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Assign(Some(match c {
                    b'+' => Op::Add,
                    b'-' => Op::Sub,
                    _ => Op::Mul,
                })));
                i += 2;
            }
            b'$' => {
                i += 1;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                out.push(Tok::Var(&src[start + 1..i]));
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    // Escapes and interpolation are left to jaq.
                    if b[i] == b'\\' {
                        return None;
                    }
                    i += 1;
                }
                if i == b.len() {
                    return None;
                }
                out.push(Tok::Str(&src[start + 1..i]));
                i += 1;
            }
            b'0'..=b'9' => {
                // Plain decimal integers only: jaq decides the rest (`1.5`, `1e3`).
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && (ident(b[i]) || b[i] == b'.') {
                    return None;
                }
                out.push(Tok::Num(&src[start..i]));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(&src[start..i]));
            }
            _ => return None,
        }
    }
    Some(out)
}

struct Parser<'a> {
    toks: Vec<Tok<'a>>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn eat(&mut self, t: &Tok<'_>) -> Option<()> {
        (self.next()? == *t).then_some(())
    }
    fn key(&mut self) -> Option<Bytes> {
        match self.next()? {
            Tok::Ident(k) if !KEYWORDS.contains(&k) => Some(Bytes::copy_from_slice(k.as_bytes())),
            _ => None,
        }
    }
    /// `.k.k…`: at least one key.
    fn path(&mut self) -> Option<Vec<Bytes>> {
        let mut keys = Vec::new();
        while self.peek() == Some(&Tok::Dot) {
            self.next();
            keys.push(self.key()?);
        }
        (!keys.is_empty()).then_some(keys)
    }
    fn value(&mut self) -> Option<Value> {
        Some(match self.next()? {
            Tok::Var("event") => Value::Event(self.path()?),
            Tok::Num(n) => Value::Number(n.to_string()),
            Tok::Str(s) => Value::Str(s.to_string()),
            Tok::Ident("true") => Value::Bool(true),
            Tok::Ident("false") => Value::Bool(false),
            Tok::Ident("null") => Value::Null,
            _ => return None,
        })
    }
    fn step(&mut self) -> Option<Step> {
        if self.peek() == Some(&Tok::Open) {
            self.next();
            let mut pairs: Vec<(Bytes, Value)> = Vec::new();
            loop {
                let k = self.key()?;
                self.eat(&Tok::Colon)?;
                let v = self.value()?;
                // A repeated key: jaq's order of evaluation decides which value stays.
                if pairs.iter().any(|(seen, _)| *seen == k) {
                    return None;
                }
                pairs.push((k, v));
                match self.next()? {
                    Tok::Comma => continue,
                    Tok::Close => break,
                    _ => return None,
                }
            }
            return Some(Step::Object(pairs));
        }
        let path = self.path()?;
        let op = match self.next()? {
            Tok::Assign(op) => op,
            _ => return None,
        };
        let value = self.value()?;
        Some(Step::Update { path, op, value })
    }
}

impl Fast {
    /// The program, when it is of a shape run here.
    pub fn recognise(src: &str) -> Option<Fast> {
        let mut p = Parser {
            toks: tokens(src)?,
            at: 0,
        };
        let mut steps = vec![p.step()?];
        while p.peek().is_some() {
            p.eat(&Tok::Pipe)?;
            steps.push(p.step()?);
        }
        Some(Fast { steps })
    }

    /// The next state; `Err(state)`, untouched, when jaq must decide. `event` is `$event` as
    /// jaq would get it.
    pub fn run(&self, state: Val, event: &dyn EventSource) -> Result<Val, Val> {
        if let [one] = self.steps.as_slice() {
            // One step changes the state only once it has all it needs: in place.
            return one.run(state, event);
        }
        // A later step may fail after an earlier one changed the state: jaq then starts from
        // the state as it was.
        let original = state.clone();
        let mut state = state;
        for s in &self.steps {
            state = match s.run(state, event) {
                Ok(next) => next,
                Err(_) => return Err(original),
            };
        }
        Ok(state)
    }
}

fn key(k: &Bytes) -> Val {
    Val::utf8_str(k.clone())
}

impl Value {
    /// The value, or None where jaq would fail (an index into something not an object).
    fn eval(&self, event: &dyn EventSource) -> Option<Val> {
        Some(match self {
            Value::Event(path) => event.at(path)?,
            Value::Number(n) => Val::from_num(n).ok()?,
            Value::Str(s) => Val::from(s.clone()),
            Value::Bool(b) => Val::Bool(*b),
            Value::Null => Val::Null,
        })
    }
}

impl Step {
    fn run(&self, state: Val, event: &dyn EventSource) -> Result<Val, Val> {
        match self {
            Step::Object(pairs) => {
                let mut m = jaq_json::Map::default();
                for (k, v) in pairs {
                    match v.eval(event) {
                        Some(v) => {
                            m.insert(key(k), v);
                        }
                        None => return Err(state),
                    }
                }
                Ok(Val::obj(m))
            }
            Step::Update { path, op, value } => {
                let Some(y) = value.eval(event) else {
                    return Err(state);
                };
                // Every object on the way must be there; the leaf may be missing (null).
                let keys: Vec<Val> = path.iter().map(key).collect();
                let Some(cur) = leaf(&state, &keys) else {
                    return Err(state);
                };
                let next = match op {
                    None => y,
                    Some(op) => {
                        let r = match op {
                            Op::Add => cur + y,
                            Op::Sub => cur - y,
                            Op::Mul => cur * y,
                        };
                        match r {
                            Ok(v) => v,
                            Err(_) => return Err(state),
                        }
                    }
                };
                let mut state = state;
                set(&mut state, &keys, next);
                Ok(state)
            }
        }
    }
}

/// The value at `keys` (null when the last key is missing), when every value on the way to
/// it is an object.
fn leaf(state: &Val, keys: &[Val]) -> Option<Val> {
    let mut at = state;
    let (last, way) = keys.split_last()?;
    for k in way {
        match at {
            Val::Obj(o) => at = o.get(k)?,
            _ => return None,
        }
    }
    match at {
        Val::Obj(o) => Some(o.get(last).cloned().unwrap_or(Val::Null)),
        _ => None,
    }
}

/// Put `v` at `keys` (checked by [`leaf`]): an existing key keeps its place, a new one goes
/// last, as jaq's update does.
fn set(state: &mut Val, keys: &[Val], v: Val) {
    let mut at = state;
    for (i, k) in keys.iter().enumerate() {
        let Val::Obj(o) = at else {
            unreachable!("checked by leaf")
        };
        let m = std::rc::Rc::make_mut(o);
        if i + 1 == keys.len() {
            match m.get_mut(k) {
                Some(slot) => *slot = v,
                None => {
                    m.insert(k.clone(), v);
                }
            }
            return;
        }
        at = m.get_mut(k).expect("checked by leaf");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jq::{json_to_val, val_to_json};
    use serde_json::json;

    #[test]
    fn the_shapes_are_recognised_and_the_rest_is_left_to_jaq() {
        for src in [
            ".balance += $event.data.amount",
            ".balance -= $event.data.amount",
            ".n *= 2",
            ".status = \"closed\"",
            ".a.b = $event.data.x.y | .c = null | .d = true",
            "{owner: $event.data.owner, currency: $event.data.currency, balance: 0, status: \"open\"}",
            "{a: 1} | .b += 2",
            " .x = $event.time ",
        ] {
            assert!(Fast::recognise(src).is_some(), "{src}");
        }
        for src in [
            ".",
            ".balance |= . + 1",
            ".a == 1",
            ".a += 1.5",
            ".a += 1e3",
            ".a = \"x\\ny\"",
            ".a = \"\\(.b)\"",
            ".a += $event.data.amount + 1",
            ".a += .b",
            ".a = $x.y",
            ".a = $event",
            ".if = 1",
            "{a: 1, a: 2}",
            "{$event}",
            "{a: .b}",
            ".a[0] = 1",
            ".a? = 1",
            ".a = 1 |",
            "| .a = 1",
            "{a: 1",
            ".a = 1 # comment",
            ".a // 1",
            "del(.a)",
            ".a = 1, .b = 2",
            ".\"a b\" = 1",
        ] {
            assert!(Fast::recognise(src).is_none(), "{src}");
        }
    }

    /// Run `src` on `state` with `$event` both ways: the same result, or (fast) a hand-back
    /// of the untouched state.
    fn both(src: &str, state: serde_json::Value, event: serde_json::Value) -> Option<String> {
        let p = super::super::Program::compile(src).unwrap();
        let ev = json_to_val(&event);
        let jaq = p.run_jaq(json_to_val(&state), ev.clone());
        let fast = Fast::recognise(src).expect(src);
        match fast.run(json_to_val(&state), &ev) {
            Ok(v) => {
                let want = jaq.unwrap_or_else(|e| panic!("{src}: jaq failed ({e}), fast did not"));
                assert!(v == want, "{src} on {state}: {v} vs {want}");
                // Same keys in the same order (jaq writes a map in its order).
                let (a, b) = (v.to_string(), want.to_string());
                assert_eq!(a, b, "{src} on {state}");
                assert_eq!(val_to_json(&v), val_to_json(&want));
                Some(a)
            }
            Err(back) => {
                assert!(
                    back == json_to_val(&state),
                    "{src}: the state is handed back as it was"
                );
                None
            }
        }
    }

    #[test]
    fn fast_runs_give_what_jaq_gives() {
        let ev = json!({"data": {"amount": 25, "owner": "Ana", "x": {"y": [1, 2]}, "f": 0.1, "s": "t",
                                 "big": 12345678901234567890u64}, "time": "2026-01-01T00:00:00Z"});
        let states = [
            json!({"balance": 100, "owner": "x", "status": "open"}),
            json!({"status": "open"}),
            json!({"a": {"b": 1}, "balance": 1.5}),
            json!({"balance": "text"}),
            json!({"balance": null, "n": 3}),
            json!({"a": 1}),
            json!({"a": [1]}),
            json!({}),
            json!(null),
            json!([1, 2]),
            json!("scalar"),
        ];
        let programs = [
            ".balance += $event.data.amount",
            ".balance -= $event.data.amount",
            ".balance += $event.data.f",
            ".balance += $event.data.big",
            ".balance += $event.data.s",
            ".balance -= $event.data.missing",
            ".balance += $event.data.missing",
            ".n *= 2",
            ".n *= $event.data.s",
            ".status = \"closed\"",
            ".status = $event.time",
            ".a.b = $event.data.x.y",
            ".a.b += 1",
            ".a.b.c = 1",
            ".new = 1 | .status = \"x\"",
            ".balance += 1 | .balance -= $event.data.s",
            "{owner: $event.data.owner, balance: 0, status: \"open\", none: null, yes: true}",
            "{x: $event.data.s.deeper}",
            "{x: $event.data.x.y}",
            "{a: 1} | .b += 2 | .a *= 3",
            ".balance = $event.data.owner.name",
        ];
        let mut fast = 0;
        for p in programs {
            for s in &states {
                fast += usize::from(both(p, s.clone(), ev.clone()).is_some());
            }
        }
        // Most combinations are decided here; the rest were handed to jaq.
        assert!(fast > 80, "{fast}");
        assert_eq!(
            both(
                ".balance += $event.data.amount",
                json!({"balance": 100}),
                ev.clone()
            )
            .as_deref(),
            Some(r#"{"balance":125}"#)
        );
        // A key already there keeps its place; a new one goes last.
        assert_eq!(
            both(".z = 1 | .a = 2", json!({"a": 0, "b": 0}), ev.clone()).as_deref(),
            Some(r#"{"a":2,"b":0,"z":1}"#)
        );
    }
}
