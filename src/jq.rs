//! jq (jaq) as evscope uses it, in one place: the standard definitions and functions, the
//! program type, and the bridge between serde_json values and jaq values. The filter language
//! (`filter`) and the reducers (`rehydrate::reducer`) both build on it; each formats its own
//! errors.

use jaq_core::data;
use jaq_json::{Num, Rc, Val};
use serde_json::Value;

use crate::exact;
use crate::store::Event;

/// The data kind every evscope jq program runs on.
pub type Data = data::JustLut<Val>;

/// jq's, jaq's standard and jaq-json's definitions (`select`, `map`, `test`, ...); every
/// recursive one (`repeat`, `recurse`, `until`, ...) checks the run's bound at each step.
pub fn defs() -> impl Iterator<Item = jaq_core::load::parse::Def<&'static str>> {
    prelude().iter().map(|(d, _)| d.clone())
}

/// [`defs`], parsed and given the bound once per process (jaq parses its definitions' text at
/// each call, and the bound looks through every body), each with the names its body calls.
fn prelude() -> &'static [(Def, Vec<&'static str>)] {
    static DEFS: std::sync::OnceLock<Vec<(Def, Vec<&'static str>)>> = std::sync::OnceLock::new();
    DEFS.get_or_init(|| {
        jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .map(bound_def)
            .map(|d| {
                let mut calls = Vec::new();
                calls_in(&d.body, &mut calls);
                (d, calls)
            })
            .collect()
    })
}

/// The definitions of [`defs`] that a program whose source mentions `words` can reach: those
/// it names, and those their bodies call, transitively. Compiling with these only gives the
/// same filter (a call can only reach a definition by its name) for a fraction of the work:
/// jaq compiles every definition it is given.
fn reachable(words: &std::collections::HashSet<&str>) -> Vec<Def> {
    let all = prelude();
    let mut names: std::collections::HashSet<&str> = words.clone();
    // Syntax that jaq turns into calls without the name in the source (`..`).
    names.insert("recurse");
    let mut taken = vec![false; all.len()];
    loop {
        let mut grew = false;
        for (i, (d, calls)) in all.iter().enumerate() {
            if !taken[i] && names.contains(d.name) {
                taken[i] = true;
                grew = true;
                names.extend(calls.iter().copied());
            }
        }
        if !grew {
            break;
        }
    }
    all.iter()
        .zip(taken)
        .filter(|(_, t)| *t)
        .map(|((d, _), _)| d.clone())
        .collect()
}

/// Every word of a program's source, as jaq's lexer reads them (None: it does not lex).
fn words(src: &str) -> Option<std::collections::HashSet<&str>> {
    use jaq_core::load::lex::{StrPart, Tok, Token};
    fn walk<'a>(tokens: &[Token<&'a str>], out: &mut std::collections::HashSet<&'a str>) {
        for Token(s, t) in tokens {
            match t {
                // Formats (`@base64`, `@text "…"`) are definitions named with their `@`.
                Tok::Word | Tok::Fmt => {
                    out.insert(s);
                }
                Tok::Block(inner) => walk(inner, out),
                Tok::Str(parts) => {
                    for p in parts {
                        if let StrPart::Term(t) = p {
                            walk(std::slice::from_ref(t), out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let tokens = jaq_core::load::Lexer::new(src).lex().ok()?;
    let mut out = std::collections::HashSet::new();
    walk(&tokens, &mut out);
    Some(out)
}

/// The names `t` calls (with formats' names, `@base64`, as called).
fn calls_in(t: &Term, out: &mut Vec<&'static str>) {
    use jaq_core::load::lex::StrPart;
    use jaq_core::path::Part;
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {
            if matches!(t, Term::Recurse) {
                out.push("recurse");
            }
        }
        Term::Str(fmt, parts) => {
            if let Some(f) = fmt {
                out.push(f);
            }
            for p in parts {
                if let StrPart::Term(t) = p {
                    calls_in(t, out);
                }
            }
        }
        Term::Arr(a) => {
            if let Some(a) = a {
                calls_in(a, out);
            }
        }
        Term::Obj(kvs) => {
            for (k, v) in kvs {
                calls_in(k, out);
                if let Some(v) = v {
                    calls_in(v, out);
                }
            }
        }
        Term::Neg(a) | Term::Label(_, a) => calls_in(a, out),
        Term::BinOp(a, _, b) => {
            calls_in(a, out);
            calls_in(b, out);
        }
        Term::Fold(_, a, _, args) => {
            calls_in(a, out);
            args.iter().for_each(|t| calls_in(t, out));
        }
        Term::TryCatch(a, b) => {
            calls_in(a, out);
            if let Some(b) = b {
                calls_in(b, out);
            }
        }
        Term::IfThenElse(arms, els) => {
            for (c, x) in arms {
                calls_in(c, out);
                calls_in(x, out);
            }
            if let Some(e) = els {
                calls_in(e, out);
            }
        }
        Term::Def(defs, rest) => {
            for d in defs {
                calls_in(&d.body, out);
            }
            calls_in(rest, out);
        }
        Term::Call(name, args) => {
            out.push(name);
            args.iter().for_each(|t| calls_in(t, out));
        }
        Term::Path(a, path) => {
            calls_in(a, out);
            for (part, _) in &path.0 {
                match part {
                    Part::Index(i) => calls_in(i, out),
                    Part::Range(a, b) => {
                        if let Some(a) = a {
                            calls_in(a, out);
                        }
                        if let Some(b) = b {
                            calls_in(b, out);
                        }
                    }
                }
            }
        }
    }
}

/// The native functions that go with [`defs`], and the bound's check.
pub fn funs() -> impl Iterator<Item = jaq_core::native::Fun<Data>> {
    jaq_core::funs::<Data>()
        // jaq's own `range/3` is a native iterator that never meets the bound:
        // `last(range(1e12))` would run for hours. Ours checks it at every step.
        .filter(|(name, arity, _)| !(*name == "range" && arity.len() == 3))
        .chain(jaq_std::funs::<Data>())
        .chain(jaq_json::funs::<Data>())
        .chain([tick_fun(), range_fun()])
}

// ---- the bound on a run ------------------------------------------------------------------
//
// A jq program can recurse for ever (`def f: f; f` loops, `def f: 1 + f; f` overflows the
// stack, which aborts the process). Every recursive definition — the standard ones and the
// program's own — starts with a call to a native check, `__evscope_tick`, that fails the run
// with a clear error once it has taken longer than its time or reached deeper into the stack
// than its limit. Non-recursive definitions are left alone (they cost nothing more).

/// How long one run (a filter on one event, a reducer on one event) may take.
pub const RUN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// How much stack the recursion of one run may use (threads that run jq have 2 MiB or more).
pub const RUN_STACK: usize = 768 * 1024;

const TICK: &str = "__evscope_tick";

thread_local! {
    /// The running bound on this thread: its deadline and the stack address it started at.
    static BOUND: std::cell::Cell<Option<(std::time::Instant, usize)>> =
        const { std::cell::Cell::new(None) };
    /// Whether the bound of the run on this thread has stopped it.
    static TRIPPED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// An approximation of the current stack address (the stack grows down on every platform
/// evscope runs on).
#[inline(never)]
fn stack_here() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The bound of one run on this thread, from now; the previous one is restored on drop.
pub struct Bounded(Option<(std::time::Instant, usize)>);

/// Start bounding a run (see [`RUN_TIME`], [`RUN_STACK`]).
pub fn bounded() -> Bounded {
    let now = (std::time::Instant::now() + RUN_TIME, stack_here());
    TRIPPED.with(|t| t.set(false));
    Bounded(BOUND.with(|b| b.replace(Some(now))))
}

impl Drop for Bounded {
    fn drop(&mut self) {
        BOUND.with(|b| b.set(self.0));
    }
}

fn check() -> Result<(), jaq_core::Error<Val>> {
    let Some((deadline, base)) = BOUND.with(|b| b.get()) else {
        return Ok(());
    };
    if base.saturating_sub(stack_here()) > RUN_STACK {
        TRIPPED.with(|t| t.set(true));
        return Err(jaq_core::Error::str(format!(
            "the program recursed too deeply (over {} KiB of stack): a recursive definition without an end?",
            RUN_STACK / 1024
        )));
    }
    if std::time::Instant::now() > deadline {
        TRIPPED.with(|t| t.set(true));
        return Err(jaq_core::Error::str(format!(
            "the program ran for over {}s on one event: a loop or a recursion without an end?",
            RUN_TIME.as_secs()
        )));
    }
    Ok(())
}

fn tick_fun() -> jaq_core::native::Fun<Data> {
    use jaq_core::box_iter::box_once;
    use jaq_core::{Exn, Native};
    let native = Native::new(|cv| box_once(check().map(|()| cv.1).map_err(Exn::from)))
        .with_paths(|cv| box_once(check().map(|()| cv.1).map_err(Exn::from)))
        .with_update(|cv, f| match check() {
            Ok(()) => f(cv.1),
            Err(e) => box_once(Err(Exn::from(e))),
        });
    (TICK, jaq_core::native::v(0), native)
}

/// `range($from; $to; $by)` as jaq defines it (`$from | while(. < $to; . + $by)` for a
/// positive step, `>` for a negative one, `!=` for zero), checking the run's bound before
/// every value it yields.
fn range_fun() -> jaq_core::native::Fun<Data> {
    use jaq_core::{Exn, Native};
    use std::cmp::Ordering::{Equal, Greater, Less};
    let native = Native::new(|mut cv| {
        let by: Val = cv.0.pop_var();
        let to: Val = cv.0.pop_var();
        let from: Val = cv.0.pop_var();
        let step = by.partial_cmp(&Val::from(0isize)).unwrap_or(Equal);
        let mut next: Option<Result<Val, Exn<Val>>> = Some(Ok(from));
        Box::new(std::iter::from_fn(move || {
            let x = match next.take()? {
                Ok(x) => x,
                Err(e) => return Some(Err(e)),
            };
            let go_on = match step {
                Greater => x < to,
                Less => x > to,
                Equal => x != to,
            };
            if !go_on {
                return None;
            }
            if let Err(e) = check() {
                return Some(Err(Exn::from(e)));
            }
            next = Some((x.clone() + by.clone()).map_err(Exn::from));
            Some(Ok(x))
        }))
    });
    ("range", jaq_core::native::v(3), native)
}

type Def = jaq_core::load::parse::Def<&'static str>;
type Term = jaq_core::load::parse::Term<&'static str>;

/// A definition with the check prepended to its body when it is recursive (its body calls
/// its own name), and to every recursive definition nested in it (`def repeat(f): def rec:
/// f, rec; rec;`).
fn bound_def(mut d: Def) -> Def {
    use jaq_core::load::parse::BinaryOp;
    bound_term(&mut d.body);
    if format!("{:?}", d.body).contains(&format!("Call({:?}", d.name)) {
        let body = std::mem::take(&mut d.body);
        d.body = Term::BinOp(
            Box::new(Term::Call(TICK, vec![])),
            BinaryOp::Pipe(None),
            Box::new(body),
        );
    }
    d
}

/// [`bound_def`] for every definition nested in `t`.
fn bound_term(t: &mut Term) {
    use jaq_core::load::lex::StrPart;
    use jaq_core::path::Part;
    let each = |ts: &mut dyn Iterator<Item = &mut Term>| ts.for_each(bound_term);
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => {
            for p in parts {
                if let StrPart::Term(t) = p {
                    bound_term(t);
                }
            }
        }
        Term::Arr(a) => each(&mut a.iter_mut().map(|b| &mut **b)),
        Term::Obj(kvs) => {
            for (k, v) in kvs {
                bound_term(k);
                if let Some(v) = v {
                    bound_term(v);
                }
            }
        }
        Term::Neg(a) | Term::Label(_, a) => bound_term(a),
        Term::BinOp(a, _, b) => {
            bound_term(a);
            bound_term(b);
        }
        Term::Fold(_, a, _, args) => {
            bound_term(a);
            each(&mut args.iter_mut());
        }
        Term::TryCatch(a, b) => {
            bound_term(a);
            if let Some(b) = b {
                bound_term(b);
            }
        }
        Term::IfThenElse(arms, els) => {
            for (c, x) in arms {
                bound_term(c);
                bound_term(x);
            }
            if let Some(e) = els {
                bound_term(e);
            }
        }
        Term::Def(defs, rest) => {
            let owned = std::mem::take(defs);
            *defs = owned.into_iter().map(bound_def).collect();
            bound_term(rest);
        }
        Term::Call(_, args) => each(&mut args.iter_mut()),
        Term::Path(a, path) => {
            bound_term(a);
            for (part, _) in &mut path.0 {
                match part {
                    Part::Index(i) => bound_term(i),
                    Part::Range(a, b) => {
                        if let Some(a) = a {
                            bound_term(a);
                        }
                        if let Some(b) = b {
                            bound_term(b);
                        }
                    }
                }
            }
        }
    }
}

/// `src` with the check prepended to the body of each of its recursive definitions
/// (`def f: BODY;` becomes `def f: __evscope_tick | (BODY);`), found with jaq's own lexer; None
/// when it has none (or does not lex: the compile reports that).
fn bound_source(src: &str) -> Option<String> {
    use jaq_core::load::lex::{StrPart, Tok, Token};
    fn offset(src: &str, part: &str) -> usize {
        part.as_ptr() as usize - src.as_ptr() as usize
    }
    /// Whether the tokens mention `name` as a word.
    fn mentions(tokens: &[Token<&str>], name: &str) -> bool {
        tokens.iter().any(|Token(s, t)| match t {
            Tok::Word => *s == name,
            Tok::Block(inner) => mentions(inner, name),
            Tok::Str(parts) => parts.iter().any(|p| match p {
                StrPart::Term(t) => mentions(std::slice::from_ref(t), name),
                _ => false,
            }),
            _ => false,
        })
    }
    fn walk(src: &str, tokens: &[Token<&str>], edits: &mut Vec<(usize, &'static str)>) {
        // Definitions opened at this level: (name, index of the first body token, recursive?).
        let mut open: Vec<(&str, usize)> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let Token(s, t) = &tokens[i];
            match t {
                Tok::Word if *s == "def" => {
                    let name = tokens.get(i + 1).map_or("", |t| t.0);
                    let colon = (i + 1..tokens.len())
                        .find(|&j| matches!(tokens[j].1, Tok::Sym) && tokens[j].0 == ":");
                    if let Some(j) = colon {
                        open.push((name, j + 1));
                        i = j + 1;
                        continue;
                    }
                }
                Tok::Sym if *s == ";" => {
                    if let Some((name, first)) = open.pop() {
                        let body = &tokens[first..i];
                        if mentions(body, name) {
                            if let Some(b) = body.first() {
                                edits.push((offset(src, b.0), "__evscope_tick | ("));
                                edits.push((offset(src, s), ")"));
                            }
                        }
                    }
                }
                Tok::Block(inner) => walk(src, inner, edits),
                Tok::Str(parts) => {
                    for p in parts {
                        if let StrPart::Term(t) = p {
                            walk(src, std::slice::from_ref(t), edits);
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    if !src.contains("def") {
        return None;
    }
    let tokens = jaq_core::load::Lexer::new(src).lex().ok()?;
    let mut edits = Vec::new();
    walk(src, &tokens, &mut edits);
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(src.len() + edits.len() * 20);
    let mut at = 0;
    for (pos, text) in edits {
        out.push_str(&src[at..pos]);
        out.push_str(text);
        at = pos;
    }
    out.push_str(&src[at..]);
    Some(out)
}

/// Parse and compile `src` with [`defs`] and [`funs`], and `vars` as global variables. The
/// caller words the errors: `load_err` when it does not parse, `compile_err` when it names
/// what is not defined (the errors borrow from the parse, so they are turned into `E` here).
pub fn compile<E>(
    src: &str,
    vars: &[&'static str],
    load_err: impl FnOnce(jaq_core::load::Errors<&str, ()>) -> E,
    compile_err: impl FnOnce(jaq_core::compile::Errors<&str, ()>) -> E,
) -> Result<jaq_core::Filter<Data>, E> {
    // A program that does not parse is said so at once: parsing does not look at the
    // definitions (the error is the one a load with all of them gives).
    {
        use jaq_core::load::{Arena, File, Loader};
        let arena = Arena::default();
        if let Err(e) = Loader::new(std::iter::empty()).load(
            &arena,
            File {
                code: src,
                path: (),
            },
        ) {
            return Err(load_err(e));
        }
    }
    // With the definitions the program can reach first; anything that does not compile so is
    // compiled again with all of them, so that every error is jaq's own, as before.
    if let Some(f) = words(src).and_then(|w| {
        let reach = reachable(&w);
        compile_with(src, vars, || reach.clone(), |_| (), |_| ()).ok()
    }) {
        return Ok(f);
    }
    compile_with(src, vars, || defs().collect(), load_err, compile_err)
}

fn compile_with<E>(
    src: &str,
    vars: &[&'static str],
    prelude: impl Fn() -> Vec<Def>,
    load_err: impl FnOnce(jaq_core::load::Errors<&str, ()>) -> E,
    compile_err: impl FnOnce(jaq_core::compile::Errors<&str, ()>) -> E,
) -> Result<jaq_core::Filter<Data>, E> {
    use jaq_core::load::{Arena, File, Loader};
    let arena = Arena::default();
    let modules = Loader::new(prelude())
        .load(
            &arena,
            File {
                code: src,
                path: (),
            },
        )
        .map_err(load_err)?;
    let filter = jaq_core::Compiler::default()
        .with_funs(funs())
        .with_global_vars(vars.iter().copied())
        .compile(modules)
        .map_err(compile_err)?;
    // The program's own recursive definitions get the bound's check too (compiled from the
    // rewritten text only once the original compiled, so that errors point into the original).
    let Some(bounded) = bound_source(src) else {
        return Ok(filter);
    };
    let arena = Arena::default();
    let rewritten = Loader::new(prelude())
        .load(
            &arena,
            File {
                code: bounded.as_str(),
                path: (),
            },
        )
        .ok()
        .and_then(|m| {
            jaq_core::Compiler::default()
                .with_funs(funs())
                .with_global_vars(vars.iter().copied())
                .compile(m)
                .ok()
        });
    match rewritten {
        Some(f) => Ok(f),
        None => {
            tracing::warn!("jq: the bounded form of {src:?} did not compile; running it unbounded");
            Ok(filter)
        }
    }
}

pub fn key(k: &str) -> Val {
    Val::from(k.to_string())
}

pub fn int(i: i64) -> Val {
    Val::Num(Num::from_integral(i))
}

pub fn json_to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => int(i),
            (None, Some(u)) => Val::Num(Num::from_integral(u)),
            _ => n.as_f64().map_or(Val::Null, Val::from),
        },
        Value::String(s) => Val::from(s.clone()),
        Value::Array(a) => a.iter().map(json_to_val).collect(),
        Value::Object(o) => Val::obj(o.iter().map(|(k, v)| (key(k), json_to_val(v))).collect()),
    }
}

/// An event's `data` as jq sees it: read from the stored text when that holds numbers the
/// `Value` does not hold exactly (see [`exact_to_val`]).
pub fn data_val(e: &Event) -> Val {
    e.data_text()
        .and_then(exact_to_val)
        .unwrap_or_else(|| json_to_val(&e.data))
}

/// An event's `metadata` as jq sees it (see [`data_val`]).
pub fn metadata_val(e: &Event) -> Val {
    e.metadata_text()
        .and_then(exact_to_val)
        .unwrap_or_else(|| json_to_val(&e.metadata))
}

/// The most digits of an integer written in another notation (`1e400`) that jq gets as an
/// integer; a longer one is a decimal.
const MAX_INTEGER_DIGITS: usize = 4096;

/// JSON text as jq sees it, its numbers exact: the same value as [`json_to_val`] of its
/// `Value` (objects in key order), except that a number the `Value` does not hold exactly is
/// an integer when it is one (`12345678901234567890123`, `1e400`: compared exactly), else a
/// decimal kept as its text (`0.1000000000000000000001`: written as it is, but jaq compares
/// and computes with decimals as `f64`s).
/// `None` when the text is not valid JSON.
pub fn exact_to_val(text: &str) -> Option<Val> {
    fn num(n: &str) -> Val {
        if exact::survives(n) {
            if let Ok(Value::Number(v)) = serde_json::from_str::<Value>(n) {
                return json_to_val(&Value::Number(v));
            }
        }
        exact::integer_digits(n, MAX_INTEGER_DIGITS)
            .and_then(|i| Num::from_str_radix(&i, 10))
            .map_or_else(|| Val::Num(Num::Dec(Rc::new(n.to_string()))), Val::Num)
    }
    fn fix(v: &Val) -> Val {
        match v {
            Val::Num(Num::Dec(n)) => num(n),
            Val::Arr(a) => a.iter().map(fix).collect(),
            Val::Obj(o) => {
                let mut kv: Vec<(Val, Val)> = o.iter().map(|(k, v)| (k.clone(), fix(v))).collect();
                kv.sort_by(|a, b| a.0.cmp(&b.0));
                Val::obj(kv.into_iter().collect())
            }
            other => other.clone(),
        }
    }
    jaq_json::read::parse_single(text.as_bytes())
        .ok()
        .map(|v| fix(&v))
}

pub fn val_to_json(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => match n {
            Num::Int(i) => Value::from(*i as i64),
            Num::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            // Beyond an f64 (a big integer, a decimal): as evscope reads such a number.
            other => exact::parse(&other.to_string()).map_or(Value::Null, |(v, _)| v),
        },
        Val::TStr(s) | Val::BStr(s) => Value::String(String::from_utf8_lossy(s).into_owned()),
        Val::Arr(a) => Value::Array(a.iter().map(val_to_json).collect()),
        Val::Obj(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let k = match k {
                        Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                        other => other.to_string(),
                    };
                    (k, val_to_json(v))
                })
                .collect(),
        ),
    }
}

/// A jq runtime error, with what stopped the run; `halt` is refused rather than obeyed
/// (jaq's own helper would exit the process).
pub fn run_error(exn: jaq_core::Exn<Val>, what: &str) -> RunError {
    let bounded = TRIPPED.with(|t| t.get());
    let (kind, message) = match exn.get_err() {
        Ok(e) => (
            if bounded {
                RunErrorKind::Bounded
            } else {
                RunErrorKind::Raised
            },
            match e.into_val() {
                Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(&s).into_owned(),
                v => v.to_string(),
            },
        ),
        Err(exn) => match exn.get_halt() {
            Ok(code) => (
                RunErrorKind::Halt,
                format!("halt({code}) is not supported in a {what}"),
            ),
            Err(_) => (RunErrorKind::Internal, "internal jq error".into()),
        },
    };
    RunError { kind, message }
}

/// Why a jq program (a filter, a reducer, a mapping's `state_jq`) stopped with an error
/// while running on one input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub kind: RunErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunErrorKind {
    /// The program raised it (`error(…)`, a type error such as adding a string to a number):
    /// its verdict on this input.
    Raised,
    /// The run met evscope's bound ([`RUN_TIME`], [`RUN_STACK`]): a loop or a recursion
    /// without an end.
    Bounded,
    /// `halt` or `halt_error`, which evscope does not support inside its programs.
    Halt,
    /// jaq failed in a way no program should cause.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every output (or error) of `f` on `v`, as text.
    fn outputs(f: &jaq_core::Filter<Data>, v: &Value) -> Vec<String> {
        let _bound = bounded();
        let ctx = jaq_core::Ctx::<Data>::new(&f.lut, jaq_core::Vars::new([]));
        f.id.run((ctx, json_to_val(v)))
            .take(50)
            .map(|r| match r {
                Ok(v) => v.to_string(),
                Err(e) => format!("error: {e:?}"),
            })
            .collect()
    }

    /// Compiling with only the definitions a program can reach gives the filter compiling with
    /// all of them gives: the same outputs and errors, on programs using standard definitions
    /// that call others, formats, `..`, recursion and the program's own definitions; and a
    /// program that does not compile gives jaq's own error.
    #[test]
    fn the_reachable_definitions_compile_to_the_same_filter() {
        let programs = [
            ".data.amount > 5",
            "select(.a == 1) | .b",
            "map(. * 2) | add",
            "[paths]",
            "[.. | numbers]",
            "walk(if type == \"number\" then . + 1 else . end)",
            "to_entries | from_entries",
            "with_entries(.value |= tostring)",
            "[limit(3; repeat(1))]",
            "first(range(10))",
            "[splits(\", \")]",
            "@base64",
            "@text \"x\\(.)\"",
            "tostream",
            "fromstream(tostream)",
            "getpath([\"a\"])",
            "ascii_downcase",
            "test(\"A\"; \"i\")",
            "[scan(\"a\")]",
            "sub(\"a\"; \"b\")",
            "gsub(\"a\"; \"b\")",
            "tojson | fromjson",
            "todate",
            "def f: if . > 3 then . else . + 1 | f end; f",
            "def map(f): 7; map(.)",
            "reduce .[]? as $x (0; . + $x)",
            "[foreach .[]? as $x (0; . + $x)]",
            "env | type",
            "input_line_number? // 0",
            "recurse(.[]?; . != null) | type",
            "indices(1)",
            "inside([1,2,3])",
            "combinations | tostring",
            "ltrimstr(\"a\")",
            "splits(\"a\")",
            "min_by(.)",
            "unique_by(length)",
            "group_by(.)",
            "any(. > 1)",
            "all(. > 1)",
            "isvalid(.a)",
            "getpath([\"a\",\"b\"]) as [$x] | $x",
        ];
        let inputs = [
            json!({"a": 1, "b": [1, 2], "data": {"amount": 9}}),
            json!([1, 2, 3]),
            json!("Abc, abc"),
            json!(4),
            json!(1_780_000_000),
            json!(null),
        ];
        for p in programs {
            let full = compile_with(p, &[], || defs().collect(), |_| (), |_| ());
            let pruned = compile(p, &[], |_| (), |_| ());
            match (full, pruned) {
                (Ok(a), Ok(b)) => {
                    for v in &inputs {
                        assert_eq!(outputs(&a, v), outputs(&b, v), "{p} on {v}");
                    }
                }
                (Err(()), Err(())) => {}
                (a, b) => panic!("{p}: full {:?}, pruned {:?}", a.is_ok(), b.is_ok()),
            }
            // The pruned compile alone succeeds wherever the full one does (no fallback).
            if compile_with(p, &[], || defs().collect(), |_| (), |_| ()).is_ok() {
                let w = words(p).expect("lexes");
                let reach = reachable(&w);
                assert!(
                    compile_with(p, &[], || reach.clone(), |_| (), |_| ()).is_ok(),
                    "{p} needs a definition the reachable set misses"
                );
                assert!(reach.len() < defs().count(), "{p}: nothing pruned");
            }
        }
        // Errors are jaq's, with all definitions in view.
        let e = compile(
            "nosuchfn(1)",
            &[],
            |_| "load".to_string(),
            |e| format!("{:?}", e),
        );
        assert!(e.is_err_and(|m| m.contains("nosuchfn")));
    }

    #[test]
    fn values_round_trip_between_serde_and_jaq() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}, "big": 12345678901234i64});
        assert_eq!(val_to_json(&json_to_val(&v)), v);
    }

    #[test]
    fn exact_text_gives_jq_its_numbers() {
        let text = r#"{"n": 12345678901234567890123, "huge": 1e400, "d": 0.1000000000000000000001,
            "f": 0.10, "i": 42, "a": [1E2, -3, "x"]}"#;
        let v = exact_to_val(text).unwrap();
        let (value, _) = crate::exact::parse(text).unwrap();
        let get = |k: &str| v.clone().index(&key(k)).unwrap();
        use jaq_core::ValT;
        let big = |s: &str| Val::Num(Num::from_str_radix(s, 10).unwrap());
        assert_eq!(get("n"), big("12345678901234567890123"));
        assert!(matches!(get("n"), Val::Num(Num::BigInt(_))));
        assert_eq!(get("huge").to_string(), format!("1{}", "0".repeat(400)));
        assert!(matches!(get("d"), Val::Num(Num::Dec(ref d)) if **d == "0.1000000000000000000001"));
        // The numbers a Value holds exactly are as `json_to_val` has them.
        for k in ["f", "i", "a"] {
            assert_eq!(get(k), json_to_val(&value[k]), "{k}");
            assert_eq!(
                get(k).to_string(),
                json_to_val(&value[k]).to_string(),
                "{k}"
            );
        }
        // Keys in the order of the Value's map.
        let keys: Vec<String> = (v.clone().key_values())
            .map(|kv| kv.unwrap().0.to_string())
            .collect();
        assert_eq!(
            keys,
            ["\"a\"", "\"d\"", "\"f\"", "\"huge\"", "\"i\"", "\"n\""]
        );
        assert_eq!(exact_to_val("{oops"), None);
        // Back to a Value: as evscope reads such numbers.
        assert_eq!(val_to_json(&get("huge")), serde_json::json!(1e308));
    }

    #[test]
    fn recursive_definitions_of_the_program_get_the_check() {
        assert_eq!(bound_source(". + 1"), None);
        assert_eq!(bound_source("def f: . + 1; f"), None, "not recursive");
        assert_eq!(
            bound_source("def f: f; f").as_deref(),
            Some("def f: __evscope_tick | (f); f")
        );
        assert_eq!(
            bound_source("def f(g; $x): if . > $x then g | f(g; $x) else . end; f(.+1; 3)")
                .as_deref(),
            Some(
                "def f(g; $x): __evscope_tick | (if . > $x then g | f(g; $x) else . end); f(.+1; 3)"
            )
        );
        // Nested, and inside parentheses and string interpolation.
        assert_eq!(
            bound_source("(def r: r; r), \"\\(def s: s; s)\"").as_deref(),
            Some("(def r: __evscope_tick | (r); r), \"\\(def s: __evscope_tick | (s); s)\"")
        );
    }

    #[test]
    fn runs_without_an_end_are_errors_not_hangs_or_overflows() {
        let run = |src: &str| {
            let f = compile(src, &[], |_| "load".to_string(), |_| "compile".to_string()).unwrap();
            let _b = bounded();
            let ctx = jaq_core::Ctx::<Data>::new(&f.lut, jaq_core::Vars::new([]));
            let out: Vec<Result<Val, RunError>> =
                f.id.run((ctx, Val::Null))
                    .take(5)
                    .map(|r| r.map_err(|e| run_error(e, "filter")))
                    .collect();
            out
        };
        let bounded =
            |r: &Result<Val, RunError>| r.as_ref().is_err_and(|e| e.kind == RunErrorKind::Bounded);
        // A thread with a stack the size tokio's blocking threads have (2 MiB).
        let t = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let deep = run("def f: 1 + f; f");
                assert!(
                    deep.iter().any(|r| bounded(r)
                        && r.as_ref().is_err_and(|e| e.message.contains("too deeply"))),
                    "{deep:?}"
                );
                // An error the program raises is its own, not the bound's.
                let raised = run(r#"error("boom")"#);
                assert_eq!(
                    raised[0].as_ref().unwrap_err(),
                    &RunError {
                        kind: RunErrorKind::Raised,
                        message: "boom".into()
                    }
                );
                let ok = run("def fact: if . <= 1 then 1 else . * (. - 1 | fact) end; 10 | fact");
                assert_eq!(ok.len(), 1);
                assert!(ok[0].is_ok(), "{ok:?}");
                // A native iterator with no end in sight meets the bound too.
                let long = run("last(range(1e12))");
                assert!(
                    long.iter().any(|r| bounded(r)
                        && r.as_ref()
                            .is_err_and(|e| e.message.contains("ran for over"))),
                    "{long:?}"
                );
                // range keeps jq's meaning.
                let r = run("[range(5)], [range(0; 10; 3)], [range(5; 0; -2)], [range(1; 1; 0)]");
                let r: Vec<String> = r
                    .into_iter()
                    .map(|v| val_to_json(&v.unwrap()).to_string())
                    .collect();
                assert_eq!(r, ["[0,1,2,3,4]", "[0,3,6,9]", "[5,3,1]", "[]"]);
                let ok = run("1");
                assert_eq!(ok.len(), 1);
                assert!(ok[0].is_ok(), "{ok:?}");
            })
            .unwrap();
        t.join().unwrap();
    }
}
