//! The filter language of the TUI's `/` input and the CLI's `--where`.
//!
//! One line, as an operator types it:
//!
//! ```text
//! type:Withdrawn stream:account-* since:2026-01-01 | select(.data.amount > 1000)
//! ```
//!
//! Before the first `|` that is not inside double quotes come space-separated `key:value`
//! terms, which become an [`EventFilter`] (the store answers them):
//!
//! | term | meaning |
//! |---|---|
//! | `type:A` | event type `A`; repeatable, and `type:A,B` is `type:A type:B` |
//! | `stream:X` | exactly the stream `X` |
//! | `stream:X*` | streams whose id starts with `X` (an unquoted trailing `*`) |
//! | `category:C` | streams in category `C` |
//! | `since:TIME` | recorded at or after `TIME` (inclusive) |
//! | `until:TIME` | recorded before `TIME` (exclusive) |
//!
//! Times are whatever [`parse_time_at`] takes (RFC 3339, `2026-01-05`, `"2026-01-05 10:00"`,
//! `2h`, `7d`). A value may be put in double quotes, wholly or in part, to hold spaces, `|`,
//! `,` or a literal `*` (`\"` and `\\` inside quotes stand for `"` and `\`).
//!
//! After the `|` comes a jq program (run by jaq, with the jaq-std and jaq-json definitions):
//! an event matches when the program, run on the event as JSON, yields at least one output
//! that is neither `false` nor `null`. So both `select(.data.amount > 1000)` and
//! `.data.amount > 1000` work.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jaq_core::load;
use jaq_core::{Ctx, Vars};
use jaq_json::{Map, Val};

use crate::store::model::format_time;
use crate::store::{Event, EventFilter};
use crate::timeparse::parse_time_at;

/// A parsed filter line: what the store can answer, and the jq predicate for the rest.
/// `Query::default()` is the empty query (no filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub filter: EventFilter,
    pub jq: Option<JqPredicate>,
    /// The input as it was given.
    pub text: String,
}

impl Query {
    /// True when the query filters nothing (e.g. empty input).
    pub fn is_empty(&self) -> bool {
        self.jq.is_none() && self.filter == EventFilter::default()
    }
}

/// Why a filter line is not valid.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    /// One line, naming the term at fault.
    pub message: String,
    /// Byte offset in the input where the problem is, when known.
    pub at: Option<usize>,
}

impl FilterError {
    fn new(message: impl Into<String>, at: usize) -> FilterError {
        FilterError {
            message: message.into(),
            at: Some(at),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

const TERMS_HINT: &str = "use type:, stream:, category:, since:, until: or `| jq`";

/// The query that filters nothing.
pub fn empty_query() -> Query {
    Query {
        filter: EventFilter::default(),
        jq: None,
        text: String::new(),
    }
}

/// Parse a filter line. `now` anchors relative times (`since:2h`).
pub fn parse(input: &str, now: DateTime<Utc>) -> Result<Query, FilterError> {
    let (tokens, pipe) = tokenize(input)?;
    let mut filter = EventFilter::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for tok in &tokens {
        let Some(colon) = tok.chars.iter().position(|c| c.ch == ':' && !c.quoted) else {
            return Err(FilterError::new(
                format!("unknown term {:?}: {TERMS_HINT}", text_of(&tok.chars)),
                tok.start,
            ));
        };
        let key = text_of(&tok.chars[..colon]);
        let value = &tok.chars[colon + 1..];
        let key: &'static str = match key.as_str() {
            "type" => "type",
            "stream" => "stream",
            "category" => "category",
            "since" => "since",
            "until" => "until",
            _ => {
                return Err(FilterError::new(
                    format!("unknown key {key:?}: {TERMS_HINT}"),
                    tok.start,
                ));
            }
        };
        if key != "type" {
            if seen.contains(&key) {
                return Err(FilterError::new(
                    format!("{key}: given twice (only one {key}: term is allowed)"),
                    tok.start,
                ));
            }
            seen.push(key);
        }
        if value.is_empty() {
            return Err(FilterError::new(
                format!("{key}: needs a value, e.g. {}", example(key)),
                tok.start,
            ));
        }
        match key {
            "type" => {
                for part in value.split(|c| c.ch == ',' && !c.quoted) {
                    if part.is_empty() {
                        return Err(FilterError::new(
                            "type: empty type name (write type:A,B or type:A type:B)",
                            tok.start,
                        ));
                    }
                    let t = text_of(part);
                    if !filter.types.contains(&t) {
                        filter.types.push(t);
                    }
                }
            }
            "stream" => {
                let stars = value.iter().filter(|c| c.ch == '*' && !c.quoted).count();
                let last_is_star = value.last().is_some_and(|c| c.ch == '*' && !c.quoted);
                if stars == 0 {
                    filter.stream = Some(text_of(value));
                } else if stars == 1 && last_is_star && value.len() > 1 {
                    filter.stream_prefix = Some(text_of(&value[..value.len() - 1]));
                } else if stars == 1 && last_is_star {
                    return Err(FilterError::new(
                        "stream: * alone matches every stream; give a prefix (stream:account-*) \
                         or leave the term out",
                        tok.start,
                    ));
                } else {
                    return Err(FilterError::new(
                        "stream: only a trailing * (a prefix, stream:account-*) is supported; \
                         quote a literal *",
                        tok.start,
                    ));
                }
            }
            "category" => filter.category = Some(text_of(value)),
            "since" | "until" => {
                let t = parse_time_at(&text_of(value), now)
                    .map_err(|e| FilterError::new(format!("{key}: {e}"), tok.start))?;
                if key == "since" {
                    filter.since = Some(t);
                } else {
                    filter.until = Some(t);
                }
            }
            _ => unreachable!("keys are checked above"),
        }
    }
    let jq = match pipe {
        None => None,
        Some(p) => {
            let rest = &input[p + 1..];
            let src = rest.trim();
            if src.is_empty() {
                return Err(FilterError::new(
                    "`|` must be followed by a jq program, e.g. | select(.data.amount > 1000)",
                    p,
                ));
            }
            let base = p + 1 + (rest.len() - rest.trim_start().len());
            let pred = JqPredicate::compile(src).map_err(|e| FilterError {
                message: e.message,
                at: Some(base + e.at.unwrap_or(0)),
            })?;
            // What the database can answer first; the program still runs on every row.
            filter.pushed = crate::pushdown::atoms(src);
            Some(pred)
        }
    };
    Ok(Query {
        filter,
        jq,
        text: input.to_string(),
    })
}

fn example(key: &str) -> &'static str {
    match key {
        "type" => "type:Deposited",
        "stream" => "stream:account-1001 or stream:account-*",
        "category" => "category:account",
        "since" => "since:2026-01-05 or since:2h",
        _ => "until:\"2026-01-05 10:00\"",
    }
}

/// One character of a term, with where it is and whether it was inside quotes.
#[derive(Debug, Clone, Copy)]
struct Ch {
    ch: char,
    quoted: bool,
}

/// A space-separated term, quotes removed.
#[derive(Debug)]
struct Token {
    /// Byte offset of its first character (or opening quote).
    start: usize,
    chars: Vec<Ch>,
}

fn text_of(chars: &[Ch]) -> String {
    chars.iter().map(|c| c.ch).collect()
}

/// Split the terms part into tokens; also return the offset of the first top-level `|`.
fn tokenize(input: &str) -> Result<(Vec<Token>, Option<usize>), FilterError> {
    let mut tokens = Vec::new();
    let mut cur: Option<Token> = None;
    let mut quote_at: Option<usize> = None;
    let mut pipe = None;
    let mut it = input.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if quote_at.is_some() {
            let tok = cur.as_mut().expect("a quote is inside a token");
            match c {
                '"' => quote_at = None,
                '\\' if matches!(it.peek(), Some((_, '"' | '\\'))) => {
                    let (_, e) = it.next().expect("peeked");
                    tok.chars.push(Ch {
                        ch: e,
                        quoted: true,
                    });
                }
                _ => tok.chars.push(Ch {
                    ch: c,
                    quoted: true,
                }),
            }
            continue;
        }
        if c.is_whitespace() {
            tokens.extend(cur.take());
            continue;
        }
        if c == '|' {
            pipe = Some(i);
            break;
        }
        let tok = cur.get_or_insert_with(|| Token {
            start: i,
            chars: Vec::new(),
        });
        if c == '"' {
            quote_at = Some(i);
        } else {
            tok.chars.push(Ch {
                ch: c,
                quoted: false,
            });
        }
    }
    if let Some(q) = quote_at {
        return Err(FilterError::new(
            "unclosed quote: a value that starts with \" must end with \"",
            q,
        ));
    }
    tokens.extend(cur.take());
    Ok((tokens, pipe))
}

use crate::jq::{Data, RunError, data_val, int, key, metadata_val, run_error};

/// A compiled jq program used as a predicate on events.
///
/// Cheap to clone (an `Arc` around the compiled program) and `Send + Sync`: compile once,
/// share it with a background task, and call [`JqPredicate::matches`] from any thread.
#[derive(Clone)]
pub struct JqPredicate {
    inner: Arc<Compiled>,
}

struct Compiled {
    source: String,
    filter: jaq_core::Filter<Data>,
}

// The compiled program holds only owned terms and function pointers; values (which use `Rc`)
// exist only during one `matches` call.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<JqPredicate>();
};

impl fmt::Debug for JqPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JqPredicate").field(&self.source()).finish()
    }
}

/// Two predicates are equal when their sources are.
impl PartialEq for JqPredicate {
    fn eq(&self, other: &Self) -> bool {
        self.source() == other.source()
    }
}

impl JqPredicate {
    /// Compile a jq program. Errors carry a one-line message and the byte offset in `src`.
    pub fn compile(src: &str) -> Result<JqPredicate, FilterError> {
        if src.trim().is_empty() {
            return Err(FilterError {
                message: "jq: empty program".into(),
                at: Some(0),
            });
        }
        let filter = crate::jq::compile(
            src,
            &[],
            |errs| load_error(src, errs),
            |errs| compile_error(src, errs),
        )?;
        Ok(JqPredicate {
            inner: Arc::new(Compiled {
                source: src.to_string(),
                filter,
            }),
        })
    }

    /// The program's source text.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Whether the program yields an output other than `false` and `null` for this event
    /// (stopping at the first such output). `Err` is a jq runtime error raised before any
    /// such output.
    ///
    /// The program runs on the calling thread, bounded (see [`crate::jq::bounded`]): a
    /// recursion without an end (`def f: f; f`, `last(repeat(1))`) is an error after
    /// [`crate::jq::RUN_TIME`] or once it is too deep, never a hang or a stack overflow.
    pub fn matches(&self, event: &Event) -> Result<bool, RunError> {
        use jaq_core::ValT as _;
        let _bound = crate::jq::bounded();
        let filter = &self.inner.filter;
        let ctx = Ctx::<Data>::new(&filter.lut, Vars::new([]));
        for out in filter.id.run((ctx, event_to_val(event))) {
            match out {
                Ok(v) if v.as_bool() => return Ok(true),
                Ok(_) => {}
                // Never `unwrap_valr`: it exits the process on `halt`.
                Err(exn) => return Err(run_error(exn, "filter")),
            }
        }
        Ok(false)
    }
}

/// The byte offset of `part` in `whole`, when `part` is a slice of it.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    (p >= w && p + part.len() <= w + whole.len()).then(|| p - w)
}

fn load_error(src: &str, errs: load::Errors<&str, ()>) -> FilterError {
    let more = errs.len().saturating_sub(1);
    let Some((_, err)) = errs.into_iter().next() else {
        return FilterError {
            message: "jq: invalid program".into(),
            at: None,
        };
    };
    let (message, at) = match err {
        load::Error::Io(v) => match v.into_iter().next() {
            Some((path, e)) => (
                format!("jq: cannot load module {path:?}: {e}"),
                offset_in(src, path),
            ),
            None => ("jq: cannot load a module".into(), None),
        },
        load::Error::Lex(v) => match v.into_iter().next() {
            Some((load::lex::Expect::Delim(open), _)) => {
                let msg = match open {
                    "(" => "jq: unclosed parenthesis: no closing `)`".to_string(),
                    "[" => "jq: unclosed bracket: no closing `]`".to_string(),
                    "{" => "jq: unclosed brace: no closing `}`".to_string(),
                    "\"" => "jq: unclosed string: no closing `\"`".to_string(),
                    _ => format!("jq: unclosed `{open}`"),
                };
                (msg, offset_in(src, open))
            }
            Some((load::lex::Expect::Token, rest)) => {
                let found = rest.chars().next().map_or(String::new(), String::from);
                (format!("jq: unexpected `{found}`"), offset_in(src, rest))
            }
            Some((expect, rest)) => {
                let found: String = rest.chars().take(10).collect();
                let msg = if found.is_empty() {
                    format!("jq: expected {}, found end of program", expect.as_str())
                } else {
                    format!("jq: expected {}, found `{found}`", expect.as_str())
                };
                (msg, offset_in(src, rest))
            }
            None => ("jq: invalid program".into(), None),
        },
        load::Error::Parse(v) => match v.into_iter().next() {
            Some((expect, found)) => {
                let msg = if found.is_empty() {
                    format!("jq: expected {}, found end of program", expect.as_str())
                } else {
                    format!("jq: expected {}, found `{found}`", expect.as_str())
                };
                (msg, offset_in(src, found))
            }
            None => ("jq: invalid program".into(), None),
        },
    };
    let message = if more > 0 {
        format!("{message} (and {more} more)")
    } else {
        message
    };
    FilterError { message, at }
}

fn compile_error(src: &str, errs: jaq_core::compile::Errors<&str, ()>) -> FilterError {
    let mut all = errs.into_iter().flat_map(|(_, e)| e);
    let Some((name, undef)) = all.next() else {
        return FilterError {
            message: "jq: invalid program".into(),
            at: None,
        };
    };
    let more = all.count();
    let what = match undef {
        jaq_core::compile::Undefined::Filter(arity) => format!("filter `{name}/{arity}`"),
        u => format!("{} `{name}`", u.as_str()),
    };
    let mut message = format!("jq: undefined {what}");
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    FilterError {
        message,
        at: offset_in(src, name),
    }
}

fn event_to_val(e: &Event) -> Val {
    // In the order `serde_json::to_value` gives (its maps sort their keys).
    let mut m = Map::default();
    m.insert(key("data"), data_val(e));
    m.insert(key("event_id"), Val::from(e.event_id.clone()));
    m.insert(key("event_type"), Val::from(e.event_type.clone()));
    m.insert(
        key("global_position"),
        e.global_position.map_or(Val::Null, int),
    );
    m.insert(key("metadata"), metadata_val(e));
    if !e.problems.is_empty() {
        m.insert(
            key("problems"),
            e.problems
                .iter()
                .map(|p| Val::from(p.text.clone()))
                .collect(),
        );
    }
    m.insert(
        key("recorded_at"),
        e.recorded_at
            .as_ref()
            .map_or(Val::Null, |t| Val::from(format_time(t))),
    );
    m.insert(key("stream_id"), Val::from(e.stream_id.clone()));
    m.insert(key("stream_version"), int(e.stream_version));
    Val::obj(m)
}

/// A jq program that failed on an event at run time: an error, never "no match" — an event it
/// cannot judge (often a row whose data could not be read) is reported, not skipped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct JqRunError {
    /// "id (stream@version, position p, Type)", and its problems when the row was unreadable.
    pub event: String,
    /// What stopped the program: its own error, or evscope's bound on a run.
    pub kind: crate::jq::RunErrorKind,
    pub message: String,
}

impl std::fmt::Display for JqRunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the filter failed on event {}: {}",
            self.event, self.message
        )?;
        if self.kind == crate::jq::RunErrorKind::Raised {
            // The program's own error on this event: it can be made to pass over it.
            f.write_str(
                " (to count such events as not matching, make the failing step optional, e.g. .data.amount?)",
            )?;
        }
        Ok(())
    }
}

impl JqRunError {
    pub(crate) fn of(e: &Event, error: RunError) -> JqRunError {
        let mut event = e.describe();
        if !e.problems.is_empty() {
            event.push_str(&format!(
                " [unreadable row: {}]",
                crate::store::problem::joined(&e.problems)
            ));
        }
        JqRunError {
            event,
            kind: error.kind,
            message: error.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jq::json_to_val;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn ok(s: &str) -> Query {
        parse(s, now()).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
    }

    fn err(s: &str) -> FilterError {
        match parse(s, now()) {
            Ok(q) => panic!("{s:?} parsed: {q:?}"),
            Err(e) => e,
        }
    }

    fn event() -> Event {
        Event {
            global_position: Some(42),
            stream_id: "account-1001".into(),
            stream_version: 3,
            event_id: "5b0e7c1e-0000-4000-8000-000000000001".into(),
            event_type: "Withdrawn".into(),
            data: json!({"amount": 1500, "currency": "EUR", "tags": ["atm", "night"], "fee": 1.5}),
            metadata: json!({"correlation_id": "c-77", "user": {"name": "Ada"}}),
            recorded_at: Some(t("2026-01-05T10:01:00.250Z")),
            exact: None,
            problems: vec![],
        }
    }

    fn jq(src: &str) -> JqPredicate {
        JqPredicate::compile(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"))
    }

    #[test]
    fn empty_input_is_no_filter() {
        for s in ["", "   ", "\t"] {
            let q = ok(s);
            assert!(q.is_empty(), "{s:?}");
            assert_eq!(q.filter, EventFilter::default());
            assert!(q.jq.is_none());
            assert_eq!(q.text, s);
        }
        assert!(!ok("type:A").is_empty());
        assert!(!ok("| .").is_empty());
    }

    #[test]
    fn every_term_kind() {
        assert_eq!(ok("type:Deposited").filter.types, ["Deposited"]);
        let q = ok("stream:account-1001");
        assert_eq!(q.filter.stream.as_deref(), Some("account-1001"));
        assert_eq!(q.filter.stream_prefix, None);
        let q = ok("stream:account-*");
        assert_eq!(q.filter.stream, None);
        assert_eq!(q.filter.stream_prefix.as_deref(), Some("account-"));
        assert_eq!(
            ok("category:account").filter.category.as_deref(),
            Some("account")
        );
        assert_eq!(
            ok("since:2026-01-05").filter.since,
            Some(t("2026-01-05T00:00:00Z"))
        );
        assert_eq!(
            ok("until:2026-01-05T10:30:00+02:00").filter.until,
            Some(t("2026-01-05T08:30:00Z"))
        );
        // Relative times are anchored at `now`.
        assert_eq!(ok("since:2h").filter.since, Some(t("2026-03-01T10:00:00Z")));
        // A stream id with colons keeps them (only the first colon separates the key).
        assert_eq!(
            ok("stream:ns:account-1").filter.stream.as_deref(),
            Some("ns:account-1")
        );
    }

    #[test]
    fn repeated_and_comma_separated_types() {
        assert_eq!(ok("type:A type:B").filter.types, ["A", "B"]);
        assert_eq!(ok("type:A,B").filter.types, ["A", "B"]);
        assert_eq!(ok("type:A,B type:C,A").filter.types, ["A", "B", "C"]);
        assert_eq!(ok("type:\"A,B\"").filter.types, ["A,B"]);
    }

    #[test]
    fn quoted_values() {
        assert_eq!(
            ok("since:\"2026-01-05 10:00\"").filter.since,
            Some(t("2026-01-05T10:00:00Z"))
        );
        assert_eq!(
            ok("until:\"2026-01-05 10:00\" type:A").filter.until,
            Some(t("2026-01-05T10:00:00Z"))
        );
        assert_eq!(ok("type:\"Money Moved\"").filter.types, ["Money Moved"]);
        assert_eq!(ok(r#"type:"say \"hi\"""#).filter.types, [r#"say "hi""#]);
        assert_eq!(ok(r#"type:"a\\b""#).filter.types, [r"a\b"]);
        // Partly quoted: the unquoted trailing * still makes a prefix.
        assert_eq!(
            ok("stream:\"my stream\"-*").filter.stream_prefix.as_deref(),
            Some("my stream-")
        );
        // A quoted * is literal.
        let q = ok("stream:\"odd*\"");
        assert_eq!(q.filter.stream.as_deref(), Some("odd*"));
        assert_eq!(q.filter.stream_prefix, None);
    }

    #[test]
    fn pipe_inside_quotes_does_not_split() {
        let q = ok("type:\"A|B\"");
        assert_eq!(q.filter.types, ["A|B"]);
        assert!(q.jq.is_none());
        let q = ok("type:\"A|B\" | .data.x == 1");
        assert_eq!(q.filter.types, ["A|B"]);
        assert_eq!(q.jq.unwrap().source(), ".data.x == 1");
    }

    #[test]
    fn combinations() {
        let q =
            ok("type:Withdrawn stream:account-* since:2026-01-01 | select(.data.amount > 1000)");
        assert_eq!(
            q.filter,
            EventFilter {
                types: vec!["Withdrawn".into()],
                stream_prefix: Some("account-".into()),
                since: Some(t("2026-01-01T00:00:00Z")),
                // The comparison is answered by the database first (the program still runs).
                pushed: vec![crate::store::pushdown::Cond::Atom(
                    crate::store::pushdown::Atom {
                        field: crate::store::pushdown::Field::Data(vec!["amount".into()]),
                        cmp: crate::store::pushdown::Cmp::Gt,
                        value: crate::store::pushdown::Lit::Num {
                            text: "1000".into(),
                            value: 1000.0
                        },
                    }
                )],
                ..EventFilter::default()
            }
        );
        let jq = q.jq.expect("a jq part");
        assert_eq!(jq.source(), "select(.data.amount > 1000)");
        assert!(jq.matches(&event()).unwrap());

        let q = ok("  category:payment   type:A  until:7d since:\"2026-01-01 00:30\"  ");
        assert_eq!(
            q.filter,
            EventFilter {
                types: vec!["A".into()],
                category: Some("payment".into()),
                since: Some(t("2026-01-01T00:30:00Z")),
                until: Some(t("2026-02-22T12:00:00Z")),
                ..EventFilter::default()
            }
        );
        // Only jq; a `|` inside the jq program belongs to it; no space needed before `|`.
        let q = ok("| .data | .amount > 1");
        assert_eq!(q.filter, EventFilter::default());
        assert_eq!(q.jq.unwrap().source(), ".data | .amount > 1");
        let q = ok("type:A|.data.amount>1");
        assert_eq!(q.filter.types, ["A"]);
        assert_eq!(q.jq.unwrap().source(), ".data.amount>1");
    }

    #[test]
    fn unknown_key_is_an_error_at_the_term() {
        let e = err("type:A colour:red");
        assert!(e.message.contains("unknown key \"colour\""), "{e}");
        assert!(e.message.contains("type:, stream:"), "{e}");
        assert_eq!(e.at, Some(7));
        let e = err(":x");
        assert!(e.message.contains("unknown key \"\""), "{e}");
        assert_eq!(e.at, Some(0));
    }

    #[test]
    fn bare_word_is_an_error() {
        let e = err("type:A Withdrawn");
        assert!(e.message.starts_with("unknown term \"Withdrawn\""), "{e}");
        assert!(
            e.message
                .contains("use type:, stream:, category:, since:, until: or `| jq`"),
            "{e}"
        );
        assert_eq!(e.at, Some(7));
        // A jq program without the `|` is a bare word too.
        let e = err(".data.amount");
        assert!(e.message.contains("`| jq`"), "{e}");
        assert_eq!(e.at, Some(0));
        // Wholly quoted: the colon is part of the word.
        assert!(err("\"type:A\"").message.starts_with("unknown term"));
    }

    #[test]
    fn bad_time_names_the_term_and_points_at_it() {
        let e = err("type:A since:yesterday");
        assert!(
            e.message.starts_with("since: \"yesterday\" is not a time"),
            "{e}"
        );
        assert_eq!(e.at, Some(7));
        assert_eq!(e.to_string(), e.message);
        assert!(!e.to_string().contains('\n'));
        let e = err("until:\"2026-13-01 10:00\"");
        assert!(e.message.starts_with("until: "), "{e}");
        assert_eq!(e.at, Some(0));
    }

    #[test]
    fn duplicated_single_valued_keys_are_errors() {
        for (s, at) in [
            ("stream:a stream:b", 9),
            ("stream:a stream:b*", 9),
            ("stream:a* stream:b", 10),
            ("category:a category:a", 11),
            ("since:1h since:2h", 9),
            ("until:1h type:A until:2h", 16),
        ] {
            let e = err(s);
            assert!(e.message.contains("given twice"), "{s}: {e}");
            assert_eq!(e.at, Some(at), "{s}");
        }
    }

    #[test]
    fn malformed_values_are_errors() {
        for (s, what) in [
            ("type:", "type: needs a value"),
            ("stream:", "stream: needs a value"),
            ("since:\"\"", "since: needs a value"),
            ("type:A,", "type: empty type name"),
            ("type:,A", "type: empty type name"),
            ("stream:*", "stream: * alone"),
            ("stream:a*b", "only a trailing *"),
            ("stream:a**", "only a trailing *"),
        ] {
            let e = err(s);
            assert!(e.message.contains(what), "{s}: {e}");
            assert_eq!(e.at, Some(0), "{s}");
        }
        let e = err("type:A |  ");
        assert!(
            e.message.contains("must be followed by a jq program"),
            "{e}"
        );
        assert_eq!(e.at, Some(7));
    }

    #[test]
    fn unbalanced_quote_is_an_error_at_the_quote() {
        let e = err("type:A since:\"2026-01-05 10:00");
        assert!(e.message.starts_with("unclosed quote"), "{e}");
        assert_eq!(e.at, Some(13));
        // The unclosed quote swallows a later `|`: still an error, not a split.
        let e = err("type:\"A | select(.x)");
        assert!(e.message.starts_with("unclosed quote"), "{e}");
        assert_eq!(e.at, Some(5));
    }

    #[test]
    fn jq_syntax_errors_are_reported_not_panicked() {
        let e = err("type:A | .data.amount >");
        assert_eq!(e.message, "jq: expected term, found end of program");
        assert_eq!(e.at, Some(23));
        let e = err("type:A | .a | | .b");
        assert_eq!(e.message, "jq: expected term, found `|`");
        assert_eq!(e.at, Some(14));
        let e = err("type:A | .data.amount > )");
        assert_eq!(e.message, "jq: unexpected `)`");
        assert_eq!(e.at, Some(24));

        let e = JqPredicate::compile("\"abc").unwrap_err();
        assert_eq!(e.message, "jq: unclosed string: no closing `\"`");
        assert_eq!(e.at, Some(0));
        let e = JqPredicate::compile("select(.a").unwrap_err();
        assert!(e.message.contains("unclosed parenthesis"), "{e}");
        assert_eq!(e.at, Some(6));
        // Offsets in the whole line are shifted past the `|` and the spaces after it.
        let e = err("type:A |  select(.a");
        assert_eq!(e.at, Some(16));

        let e = JqPredicate::compile(".a | nosuchfilter(1)").unwrap_err();
        assert_eq!(e.message, "jq: undefined filter `nosuchfilter/1`");
        assert_eq!(e.at, Some(5));
        let e = JqPredicate::compile("$nope").unwrap_err();
        assert!(e.message.starts_with("jq: undefined variable"), "{e}");

        for bad in [
            ")",
            ".[",
            "\"abc",
            "if . then 1",
            "@",
            ".a.",
            "1 +",
            "{a:}",
            "\\",
        ] {
            let e = JqPredicate::compile(bad).unwrap_err();
            assert!(e.message.starts_with("jq: "), "{bad:?}: {e}");
            assert!(!e.message.contains('\n'), "{bad:?}: {e}");
            assert!(e.at.is_some_and(|a| a <= bad.len()), "{bad:?}: {e:?}");
        }
        assert!(JqPredicate::compile("  ").is_err());
    }

    #[test]
    fn jq_numeric_comparison_on_data() {
        let e = event();
        assert!(jq(".data.amount > 1000").matches(&e).unwrap());
        assert!(jq("select(.data.amount > 1000)").matches(&e).unwrap());
        assert!(!jq(".data.amount > 2000").matches(&e).unwrap());
        assert!(!jq("select(.data.amount > 2000)").matches(&e).unwrap());
        assert!(jq(".data.fee == 1.5").matches(&e).unwrap());
        assert!(
            jq(".stream_version == 3 and .global_position == 42")
                .matches(&e)
                .unwrap()
        );
        assert!(
            jq(".data.tags | index(\"night\") != null")
                .matches(&e)
                .unwrap()
        );
        assert!(jq("any(.data.tags[]; . == \"atm\")").matches(&e).unwrap());
    }

    #[test]
    fn jq_string_tests_on_stream_id_and_type() {
        let e = event();
        assert!(
            jq(".stream_id | startswith(\"account-\")")
                .matches(&e)
                .unwrap()
        );
        assert!(
            !jq(".stream_id | startswith(\"payment-\")")
                .matches(&e)
                .unwrap()
        );
        assert!(
            jq(".stream_id | test(\"^account-[0-9]+$\")")
                .matches(&e)
                .unwrap()
        );
        assert!(
            jq(".event_type | ascii_downcase == \"withdrawn\"")
                .matches(&e)
                .unwrap()
        );
        assert!(
            jq(".recorded_at | startswith(\"2026-01-05T10:01\")")
                .matches(&e)
                .unwrap()
        );
        assert!(jq(".event_id | contains(\"4000\")").matches(&e).unwrap());
    }

    #[test]
    fn jq_metadata_access() {
        let e = event();
        assert!(
            jq(".metadata.correlation_id == \"c-77\"")
                .matches(&e)
                .unwrap()
        );
        assert!(jq(".metadata.user.name == \"Ada\"").matches(&e).unwrap());
        assert!(!jq(".metadata.user.name == \"Bob\"").matches(&e).unwrap());
        let mut none = event();
        none.metadata = serde_json::Value::Null;
        assert!(!jq(".metadata.correlation_id").matches(&none).unwrap());
        assert!(jq(".metadata == null").matches(&none).unwrap());
    }

    #[test]
    fn null_false_and_no_output_do_not_match() {
        let e = event();
        for src in [
            "null",
            "false",
            ".nope",
            "empty",
            ".data.missing",
            "false, null",
        ] {
            assert!(!jq(src).matches(&e).unwrap(), "{src}");
        }
        // Any output other than false/null matches, including 0, "" and [].
        for src in ["0", "\"\"", "[]", "{}", "false, 1", "null, true"] {
            assert!(jq(src).matches(&e).unwrap(), "{src}");
        }
    }

    #[test]
    fn jq_runtime_errors_are_err() {
        let e = event();
        let err = jq(".data.amount + \"x\"").matches(&e).unwrap_err();
        assert_eq!(err.kind, crate::jq::RunErrorKind::Raised);
        let msg = err.message;
        assert!(msg.contains("cannot"), "{msg}");
        assert!(msg.contains("1500"), "{msg}");
        assert_eq!(
            jq("error(\"boom\")").matches(&e).unwrap_err().message,
            "boom"
        );
        assert!(jq(".stream_id | .[0]").matches(&e).is_err());
        // An error is caught by try, and `?` suppresses it.
        assert!(!jq("(.data.amount + \"x\")?").matches(&e).unwrap());
        // halt must not exit the process.
        let err = jq("halt").matches(&e).unwrap_err();
        assert_eq!(err.kind, crate::jq::RunErrorKind::Halt);
        assert!(err.message.contains("halt"), "{err}");
        // A truthy output before the error is a match.
        assert!(jq("true, error(\"late\")").matches(&e).unwrap());
    }

    #[test]
    fn the_jq_input_is_the_serialized_event() {
        let mut e = event();
        let via_serde = json_to_val(&serde_json::to_value(&e).unwrap());
        assert_eq!(event_to_val(&e), via_serde);
        assert_eq!(event_to_val(&e).to_string(), via_serde.to_string());
        e.global_position = None;
        e.recorded_at = None;
        e.problems = vec![crate::store::problem::Problem::new(
            "data",
            crate::store::problem::ProblemKind::InvalidJson,
            "data is not valid JSON".into(),
        )];
        e.data = json!("raw {");
        let via_serde = json_to_val(&serde_json::to_value(&e).unwrap());
        assert_eq!(event_to_val(&e).to_string(), via_serde.to_string());
        assert!(
            jq(".global_position == null and .recorded_at == null")
                .matches(&e)
                .unwrap()
        );
        assert!(jq(".problems | length == 1").matches(&e).unwrap());
        assert!(jq("keys == [\"data\",\"event_id\",\"event_type\",\"global_position\",\"metadata\",\"problems\",\"recorded_at\",\"stream_id\",\"stream_version\"]").matches(&e).unwrap());
    }

    #[test]
    fn predicate_is_shared_across_threads() {
        let p = jq(".data.amount > 1000");
        let q = p.clone();
        assert_eq!(p, q);
        let e = event();
        let h = std::thread::spawn(move || q.matches(&event()).unwrap());
        assert!(h.join().unwrap());
        assert!(p.matches(&e).unwrap());
        assert_eq!(format!("{p:?}"), "JqPredicate(\".data.amount > 1000\")");
    }
}
