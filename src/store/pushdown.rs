//! Conditions from a jq filter that the database answers first ("push-down").
//!
//! A filter's jq program always runs on every row the store returns, so a pushed condition
//! only has to keep **every row the program could keep, or fail on**: it may let more rows
//! through (the program drops them), never fewer. Each condition here is written that way:
//!
//! - a string equality on a column (`.event_id == "…"`, `.stream_id`, `.event_type`) keeps
//!   the rows whose column equals it, as the database compares (a case-insensitive
//!   collation or an uppercase UUID keeps more, never fewer);
//! - a string equality at a path of `data` or `metadata` (`.data.owner.name == "Ana"`) keeps
//!   the rows where the path holds that string, **and** every row the program would fail on
//!   rather than say `false`: JSON the database cannot read (the program sees its raw text
//!   and fails on `.owner`), and a value on the way that is neither an object nor null
//!   (`.owner` of an array fails in jq). A row whose path is missing or null is `false` in
//!   jq and dropped here too.
//! - a comparison of such a path with a number (`.data.amount > 9990`) keeps, besides the rows
//!   it could fail on, the rows where jq's order makes it true: a number compared as a number,
//!   and by type otherwise (jq orders null < false < true < numbers < strings < arrays <
//!   objects, so a string is `> 5` and a missing value `< 5`). The number is compared with a
//!   margin of a few units in the last place of a double (both sides may be rounded to one on
//!   the way to jq, the database may compare them exactly): a row at the edge is let through
//!   and jq decides it.
//!
//! - an order of strings (`.data.name >= "m"`, `.event_type < "O"`) is exact: strings by
//!   their UTF-8 bytes, as jq orders them (never by a collation), other values by jq's order
//!   of types ([`push_string_order`]);
//! - `FIELD | test("regex")` keeps the strings holding one of the literals every match of
//!   the regex starts with ([`regex_literals`]; `LIKE`, which may ignore case: more rows), and
//!   every row where the value is not a string (jq fails on it);
//! - a negation (`C | not`, `X != v`) keeps every row where `C` is not *surely* true (see
//!   [`push_cond`]): each comparison also has an exact form that never holds where it is false
//!   in jq (strings byte for byte, numbers narrowed by the margin, a regex never).
//!
//! Where a column's encoding does not allow that guarantee (JSON kept as bytes; JSON text on
//! PostgreSQL, whose cast fails on an invalid row), or a key needs quoting a JSON path
//! would not take, the condition is not pushed: the program alone decides, as before.

use super::layout::Encoding;
use super::sql::{Dialect, Expr, Param, Source, Sql, looks_like_uuid};

/// What a pushed condition compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    EventId,
    StreamId,
    EventType,
    /// A path of object keys in the event's data.
    Data(Vec<String>),
    /// A path of object keys in the event's metadata.
    Metadata(Vec<String>),
}

/// How a pushed condition compares (`!=` is the negation of `==`: see [`Cond::Not`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `FIELD | test("regex")`: the value is a string the regex matches (the value is the
    /// regex; a value that is not a string fails in jq).
    Matches,
}

impl Cmp {
    /// The comparison with its sides swapped (`5 < x` is `x > 5`).
    pub fn flipped(self) -> Cmp {
        match self {
            Cmp::Eq => Cmp::Eq,
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            Cmp::Matches => Cmp::Matches,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Matches => "| test",
        }
    }
}

/// What a field is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    /// A finite number: its text in the program and its value.
    Num {
        text: String,
        value: f64,
    },
}

/// `FIELD OP value`, as a jq program says it (the field on the left).
#[derive(Debug, Clone, PartialEq)]
pub struct Atom {
    pub field: Field,
    pub cmp: Cmp,
    pub value: Lit,
}

impl std::fmt::Display for Atom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = |root: &str, keys: &[String]| {
            let mut s = format!(".{root}");
            for k in keys {
                if is_plain_key(k) {
                    s.push('.');
                    s.push_str(k);
                } else {
                    s.push_str(&format!("[{}]", serde_json::Value::String(k.clone())));
                }
            }
            s
        };
        let lhs = match &self.field {
            Field::EventId => ".event_id".to_string(),
            Field::StreamId => ".stream_id".to_string(),
            Field::EventType => ".event_type".to_string(),
            Field::Data(k) => path("data", k),
            Field::Metadata(k) => path("metadata", k),
        };
        match &self.value {
            Lit::Str(v) if self.cmp == Cmp::Matches => {
                write!(f, "{lhs} | test({})", serde_json::Value::String(v.clone()))
            }
            Lit::Str(v) => write!(
                f,
                "{lhs} {} {}",
                self.cmp.symbol(),
                serde_json::Value::String(v.clone())
            ),
            Lit::Num { text, .. } => write!(f, "{lhs} {} {text}", self.cmp.symbol()),
        }
    }
}

/// One conjunct of the pushed conjunction: a comparison, or conditions combined as jq
/// combines them (`A or B`, `A and B` inside another condition, `C | not`, `A != B`).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Atom(Atom),
    /// `A or B or …`, which jq evaluates from the left.
    Any(Vec<Cond>),
    /// `A and B and …` (inside `or` or `not`; at the top the conjuncts are a list).
    All(Vec<Cond>),
    /// `C | not` (and `X != v`, which is `X == v | not` in jq, failures included).
    Not(Box<Cond>),
}

impl std::fmt::Display for Cond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let join = |f: &mut std::fmt::Formatter<'_>, cs: &[Cond], op: &str| {
            let parts: Vec<String> = cs.iter().map(|c| c.to_string()).collect();
            write!(f, "({})", parts.join(op))
        };
        match self {
            Cond::Atom(a) => write!(f, "{a}"),
            Cond::Any(any) => join(f, any, " or "),
            Cond::All(all) => join(f, all, " and "),
            Cond::Not(c) => write!(f, "({c} | not)"),
        }
    }
}

impl Cond {
    /// Every comparison in the condition.
    fn atoms(&self) -> Vec<&Atom> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Atom>) {
        match self {
            Cond::Atom(a) => out.push(a),
            Cond::Any(cs) | Cond::All(cs) => cs.iter().for_each(|c| c.collect(out)),
            Cond::Not(c) => c.collect(out),
        }
    }
}

/// A key a JSON path takes without quoting (`$.owner`), in every dialect.
fn is_plain_key(k: &str) -> bool {
    let mut c = k.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && k.len() <= 64
}

/// Whether `atom` can be answered by this source's database (see the module documentation).
pub fn pushable(src: &Source, atom: &Atom) -> bool {
    let text_col = |e: &Expr| matches!(e.enc, Encoding::Text);
    match &atom.value {
        Lit::Str(re) if atom.cmp == Cmp::Matches => {
            // On a column, only where jq sees the column's text as stored (an event id is
            // lower-cased by evscope: not pushed).
            let column = match &atom.field {
                Field::EventType => text_col(&src.event_type),
                Field::StreamId => text_col(&src.stream),
                Field::EventId => false,
                Field::Data(_) | Field::Metadata(_) => true,
            };
            if !column || regex_literals(re).is_none() {
                return false;
            }
        }
        // An order of strings: on JSON, or on a column whose text jq sees as stored (an
        // event id is lower-cased by evscope).
        Lit::Str(_) if !matches!(atom.cmp, Cmp::Eq | Cmp::Matches) => match &atom.field {
            Field::EventType if !text_col(&src.event_type) => return false,
            Field::StreamId if !text_col(&src.stream) => return false,
            Field::EventId => return false,
            _ => {}
        },
        Lit::Num { value, .. } if !value.is_finite() => return false,
        Lit::Num { .. } if !matches!(atom.field, Field::Data(_) | Field::Metadata(_)) => {
            return false;
        }
        _ => {}
    }
    let text = |v: &Lit| match v {
        Lit::Str(s) => s.clone(),
        Lit::Num { text, .. } => text.clone(),
    };
    match &atom.field {
        Field::EventType => text_col(&src.event_type),
        // A store without an id column has `stream@version` as the id, built in SQL from the
        // stream's text: that is the id evscope shows unless the stream is kept as bytes
        // (which the database would print its own way), so such stores are not pushed then.
        Field::EventId => {
            (text_col(&src.event_id) && src.stream.enc != Encoding::Bytes)
                || (src.event_id.enc == Encoding::Uuid
                    && (src.dialect != Dialect::Postgres || looks_like_uuid(&text(&atom.value))))
        }
        Field::StreamId => matches!(
            src.stream.enc,
            Encoding::Text | Encoding::Uuid | Encoding::Integer
        ),
        Field::Data(keys) => json_pushable(src.dialect, &src.data, keys),
        Field::Metadata(keys) => src
            .metadata
            .as_ref()
            .is_some_and(|m| json_pushable(src.dialect, m, keys)),
    }
}

fn json_pushable(d: Dialect, e: &Expr, keys: &[String]) -> bool {
    if keys.is_empty() {
        return false;
    }
    match d {
        Dialect::Postgres => e.enc == Encoding::Jsonb,
        Dialect::MySql | Dialect::Sqlite => {
            matches!(e.enc, Encoding::Jsonb | Encoding::Json)
                && keys.iter().all(|k| is_quotable_key(k))
        }
    }
}

/// ` AND (…)`: the rows on which a conjunction of `conds` (in jq's evaluation order) could
/// be true or fail. Only the leading conditions that [`pushable`] accepts (every comparison
/// of a disjunction) are used: the first one it does not ends the condition (it could fail on
/// a row), as the analysis ends the list at the first conjunct it cannot read. jq evaluates
/// `A and B` as: A fails → the program fails; A false → false; A true → B decides. So the
/// rows kept are `fails(A) OR (true(A) AND (fails(B) OR (true(B) AND …)))`. And `A or B`: A
/// fails → fails; A true → true; A false → B decides: it may fail where either may, and be
/// true where either may be.
pub fn push_atoms(src: &Source, sql: &mut Sql, conds: &[Cond]) {
    let n = pushed_count(src, conds);
    if n == 0 {
        return;
    }
    sql.push(" AND ");
    push_conjunction(src, sql, &conds[..n]);
}

/// How many of `conds`, from the first, [`push_atoms`] uses.
pub fn pushed_count(src: &Source, conds: &[Cond]) -> usize {
    conds
        .iter()
        .take_while(|c| c.atoms().into_iter().all(|a| pushable(src, a)))
        .count()
}

fn push_conjunction(src: &Source, sql: &mut Sql, conds: &[Cond]) {
    let Some((c, rest)) = conds.split_first() else {
        return;
    };
    sql.push("(");
    let atoms = c.atoms();
    let mut failing = atoms.iter().filter(|a| can_fail(src, a)).peekable();
    if failing.peek().is_some() {
        sql.push("(");
        for (i, a) in failing.enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            push_fails(src, sql, a);
        }
        sql.push(") OR ");
    }
    sql.push("(");
    push_cond(src, sql, c, Sense::May);
    if !rest.is_empty() {
        sql.push(" AND ");
        push_conjunction(src, sql, rest);
    }
    sql.push("))");
}

/// Which of a condition's two SQL forms is written (see [`push_cond`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sense {
    /// It may be true in jq: holds on every row where it is true (and may hold on more).
    May,
    /// It is surely true in jq, or fails: never holds on a row where it is false (and may hold
    /// on fewer rows than that; `1=0` when nothing is known).
    Sure,
}

impl Sense {
    fn negated(self) -> Sense {
        match self {
            Sense::May => Sense::Sure,
            Sense::Sure => Sense::May,
        }
    }
}

/// `c` in the given sense. A condition fails where any of its comparisons may fail (the caller
/// keeps those rows: see [`push_fails`]), so `not C` may be true wherever C is not surely
/// true, and is surely true wherever C cannot be. `A or B` and `A and B` keep the sense of
/// their operands: sure where either (if A fails, so does the whole) or both are.
fn push_cond(src: &Source, sql: &mut Sql, c: &Cond, sense: Sense) {
    let each = |sql: &mut Sql, cs: &[Cond], op: &str| {
        sql.push("(");
        for (i, c) in cs.iter().enumerate() {
            if i > 0 {
                sql.push(op);
            }
            push_cond(src, sql, c, sense);
        }
        sql.push(")");
    };
    match c {
        Cond::Atom(a) => {
            sql.push("(");
            match sense {
                Sense::May => push_true(src, sql, a),
                Sense::Sure => push_exactly(src, sql, a),
            }
            sql.push(")");
        }
        Cond::Any(cs) => each(sql, cs, " OR "),
        Cond::All(cs) => each(sql, cs, " AND "),
        Cond::Not(c) => {
            sql.push("(NOT ((");
            push_cond(src, sql, c, sense.negated());
            sql.push(") IS TRUE))");
        }
    }
}

/// Whether jq could fail on the atom (a path into JSON); [`push_fails`] writes when.
fn can_fail(src: &Source, a: &Atom) -> bool {
    json_of(src, a).is_some()
}

/// The JSON column and keys of a path atom.
fn json_of<'a>(src: &'a Source, a: &'a Atom) -> Option<(&'a Expr, &'a [String])> {
    match &a.field {
        Field::Data(k) => Some((&src.data, k)),
        Field::Metadata(k) => src.metadata.as_ref().map(|m| (m, k.as_slice())),
        _ => None,
    }
}

/// The JSON column as the pushed SQL reads it. On PostgreSQL a native JSON column may be
/// `jsonb` or `json`, and the operators used (`@>`, `jsonb_typeof`, `->`) are jsonb's: the
/// column is cast, which changes nothing for `jsonb` (a cast to its own type is dropped when
/// the query is parsed) and cannot fail for `json` (its values were checked when written).
fn json_col(src: &Source, e: &Expr) -> String {
    match src.dialect {
        Dialect::Postgres => format!("CAST({} AS jsonb)", e.sql),
        Dialect::MySql | Dialect::Sqlite => e.sql.clone(),
    }
}

/// The JSON paths (`$`, `$.a`, `$.a."b c"`) of the values on the way to `keys`' last one.
fn steps(keys: &[String]) -> Vec<String> {
    let mut prefix = String::from("$");
    let mut out = vec![prefix.clone()];
    for k in &keys[..keys.len().saturating_sub(1)] {
        push_key(&mut prefix, k);
        out.push(prefix.clone());
    }
    out
}

/// The MySQL/MariaDB and SQLite JSON path of `keys` (`$.owner.name`, `$."first name"`).
fn json_path(keys: &[String]) -> String {
    let mut p = String::from("$");
    for k in keys {
        push_key(&mut p, k);
    }
    p
}

/// `.key`, quoted (`."first name"`) unless it is a plain identifier; only keys
/// [`is_quotable_key`] accepts are given.
fn push_key(path: &mut String, k: &str) {
    path.push('.');
    if is_plain_key(k) {
        path.push_str(k);
    } else {
        path.push('"');
        path.push_str(k);
        path.push('"');
    }
}

/// A key MySQL/MariaDB and SQLite both read in a quoted path step (`$."first name"`): not
/// empty, and no `"`, `\` or control character (SQLite's path parser takes a quoted label to
/// the next `"`, without escapes).
fn is_quotable_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 256 && !k.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

/// The condition under which the atom fails in jq (a JSON value the database cannot read, or
/// a value on the way that is neither an object nor null); false when it cannot fail
/// (nothing is written).
fn push_fails(src: &Source, sql: &mut Sql, a: &Atom) -> bool {
    let Some((e, keys)) = json_of(src, a) else {
        return false;
    };
    let col = &json_col(src, e);
    if a.cmp == Cmp::Matches {
        // `test` fails on anything but a string: on the way (a NULL path), null, a missing
        // value, any other type.
        match src.dialect {
            Dialect::Postgres => {
                sql.push("(COALESCE(jsonb_typeof(");
                pg_path(sql, col, keys);
                sql.push("), 'null') <> 'string')");
            }
            Dialect::MySql | Dialect::Sqlite => {
                let string = if src.dialect == Dialect::MySql {
                    "'STRING'"
                } else {
                    "'text'"
                };
                let full = json_path(keys);
                push_if_valid(src.dialect, sql, col);
                push_json_type(src.dialect, sql, col, full.clone());
                sql.push(" IS NULL OR ");
                push_json_type(src.dialect, sql, col, full);
                sql.push(&format!(" <> {string}) ELSE 1 END)"));
            }
        }
        return true;
    }
    match src.dialect {
        Dialect::Postgres => {
            // jsonb is always valid JSON; `->` of a non-object is NULL, never an error.
            sql.push("(");
            for i in 0..keys.len() {
                if i > 0 {
                    sql.push(" OR ");
                }
                // Not an object (containment of the empty object holds of every object and
                // of nothing else; a JSON null is kept too, which jq does not fail on: a row
                // more for the program, never one less). Cheaper per row than naming the
                // types with `jsonb_typeof`, which makes a text of each (count(*) of the
                // pushed search on 1M rows: 214-245 ms against 286-322, 155-193 with no
                // check at all), and estimated as the named types were (NOT IN on an
                // expression is estimated as true of ~99% of rows, and a scan thought to
                // keep most rows walks the position index instead of a parallel scan).
                sql.push("NOT (");
                pg_path(sql, col, &keys[..i]);
                sql.push(" @> CAST('{}' AS jsonb))");
            }
            sql.push(")");
        }
        Dialect::MySql | Dialect::Sqlite => {
            // JSON functions may fail on invalid JSON: CASE evaluates them only on valid
            // JSON; the rest is kept (the program reports it).
            let (obj, null) = match src.dialect {
                Dialect::MySql => ("'OBJECT'", "'NULL'"),
                _ => ("'object'", "'null'"),
            };
            push_if_valid(src.dialect, sql, col);
            for (i, p) in steps(keys).into_iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                push_json_type(src.dialect, sql, col, p);
                sql.push(&format!(" NOT IN ({obj}, {null})"));
            }
            sql.push(") ELSE 1 END)");
        }
    }
    true
}

/// The condition under which the atom is true.
fn push_true(src: &Source, sql: &mut Sql, a: &Atom) {
    let s = match &a.value {
        Lit::Str(re) if a.cmp == Cmp::Matches => return push_matches(src, sql, a, re),
        Lit::Str(s) if a.cmp != Cmp::Eq => return push_string_order(src, sql, a, s, false),
        Lit::Str(s) => s,
        Lit::Num { value, .. } => return push_number(src, sql, a, *value, false),
    };
    let value = || Param::Text(s.clone());
    match &a.field {
        // A NULL stream or type is the empty string to evscope (and jq).
        Field::StreamId | Field::EventType => {
            let column = if a.field == Field::StreamId {
                sql.push("(1=1");
                src.push_stream_eq(sql, s);
                &src.stream_raw
            } else {
                sql.push("(")
                    .push(&src.event_type.sql)
                    .push(" = ")
                    .bind(value());
                &src.event_type.sql
            };
            if s.is_empty() {
                sql.push(" OR ").push(column).push(" IS NULL");
            }
            sql.push(")");
        }
        Field::EventId => {
            sql.push(&src.event_id.sql);
            if src.dialect == Dialect::Postgres && src.event_id.enc == Encoding::Uuid {
                sql.push(" = CAST(").bind(value()).push(" AS UUID)");
            } else {
                sql.push(" = ").bind(value());
            }
        }
        Field::Data(_) | Field::Metadata(_) => {
            let Some((e, keys)) = json_of(src, a) else {
                sql.push("1=1");
                return;
            };
            let col = &json_col(src, e);
            let full = json_path(keys);
            match src.dialect {
                Dialect::Postgres => {
                    pg_path(sql, col, keys);
                    sql.push(" = to_jsonb(CAST(")
                        .bind(value())
                        .push(" AS TEXT))");
                }
                Dialect::MySql | Dialect::Sqlite => {
                    let (string, text) = match src.dialect {
                        Dialect::MySql => ("'STRING'", "JSON_UNQUOTE(JSON_EXTRACT("),
                        _ => ("'text'", "json_extract("),
                    };
                    push_if_valid(src.dialect, sql, col);
                    push_json_type(src.dialect, sql, col, full.clone());
                    sql.push(" = ").push(string).push(" AND ").push(text);
                    sql.push(col).push(", ").bind(Param::Text(full));
                    sql.push(if src.dialect == Dialect::MySql {
                        "))"
                    } else {
                        ")"
                    });
                    sql.push(" = ").bind(value()).push(") ELSE 0 END)");
                }
            }
        }
    }
}

/// The condition under which `path OP n` is true in jq, on the JSON at a path: a number in
/// the range the comparison allows (widened by [`margin`]), otherwise by jq's order of types.
///
/// `sure`: the condition under which it is surely true instead — the range narrowed by the
/// margin (an equality only for a number a double holds with room to spare: the database may
/// compare it as a double, jq an integer exactly), the same order of types.
fn push_number(src: &Source, sql: &mut Sql, a: &Atom, n: f64, sure: bool) {
    let Some((e, keys)) = json_of(src, a) else {
        sql.push(if sure { "1=0" } else { "1=1" });
        return;
    };
    let col = &json_col(src, e);
    let d = margin(n);
    let (lo, hi) = match (a.cmp, sure) {
        (Cmp::Eq, false) => (Some(n - d), Some(n + d)),
        (Cmp::Eq, true) if n.abs() <= (1u64 << 52) as f64 => (Some(n), Some(n)),
        (Cmp::Eq, true) | (Cmp::Matches, _) => {
            sql.push("1=0");
            return;
        }
        (Cmp::Gt | Cmp::Ge, false) => (Some(n - d), None),
        (Cmp::Gt | Cmp::Ge, true) => (Some(n + d), None),
        (Cmp::Lt | Cmp::Le, false) => (None, Some(n + d)),
        (Cmp::Lt | Cmp::Le, true) => (None, Some(n - d)),
    };
    // By type: strings, arrays and objects are above every number, null and booleans (and a
    // missing value, which jq reads as null) below.
    let above = matches!(a.cmp, Cmp::Gt | Cmp::Ge);
    let below = matches!(a.cmp, Cmp::Lt | Cmp::Le);
    let b = |v: bool| if v { "1=1" } else { "1=0" };
    let bound = |sql: &mut Sql, x: &dyn Fn(&mut Sql), cast: &str| {
        let mut first = true;
        for (op, v) in [(">=", lo), ("<=", hi)] {
            let Some(v) = v else { continue };
            if !first {
                sql.push(" AND ");
            }
            first = false;
            x(sql);
            sql.push(&format!(" {op} CAST("))
                .bind(Param::Text(format!("{v:e}")))
                .push(&format!(" AS {cast})"));
        }
    };
    match src.dialect {
        // May be true: jsonb's own order, which compares numbers as numbers and other types
        // by type — object > array > boolean > number > string > null — so a bound keeps
        // arrays and objects above a number, JSON null below, as jq does; strings (above in
        // jq, below here) and booleans (below in jq, above here) are added by type, and a
        // missing value (NULL: jq's null) below. Booleans above a lower bound are kept too
        // (jq drops them). No less exact than the JSON path query it replaces, and cheaper
        // per row (search bench store, count(*) of the pushed condition: median of six 2.03 s
        // against 2.35 s; no difference that stands out of the noise once rows are sent).
        Dialect::Postgres if !sure => {
            let path = |sql: &mut Sql| pg_path(sql, col, keys);
            sql.push("(");
            bound(sql, &path, "jsonb");
            if above {
                sql.push(" OR jsonb_typeof(");
                path(sql);
                sql.push(") = 'string'");
            }
            if below {
                sql.push(" OR jsonb_typeof(");
                path(sql);
                sql.push(") = 'boolean' OR ");
                path(sql);
                sql.push(" IS NULL");
            }
            sql.push(")");
        }
        Dialect::Postgres => {
            let path = |sql: &mut Sql| pg_path(sql, col, keys);
            sql.push("(CASE jsonb_typeof(");
            path(sql);
            sql.push(") WHEN 'number' THEN ");
            bound(
                sql,
                &|sql: &mut Sql| {
                    sql.push("CAST(");
                    path(sql);
                    sql.push(" AS NUMERIC)");
                },
                "NUMERIC",
            );
            sql.push(" WHEN 'string' THEN ")
                .push(b(above))
                .push(" WHEN 'array' THEN ")
                .push(b(above))
                .push(" WHEN 'object' THEN ")
                .push(b(above))
                .push(" ELSE ")
                .push(b(below))
                .push(" END)");
        }
        Dialect::MySql | Dialect::Sqlite => {
            let full = json_path(keys);
            let my = src.dialect == Dialect::MySql;
            let (numbers, bigger, smaller, cast) = if my {
                (
                    "('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')",
                    "('STRING', 'ARRAY', 'OBJECT')",
                    "('NULL', 'BOOLEAN')",
                    "DOUBLE",
                )
            } else {
                (
                    "('integer', 'real')",
                    "('text', 'array', 'object')",
                    "('null', 'true', 'false')",
                    "REAL",
                )
            };
            let typed = Typed {
                col,
                path: &full,
                own: format!(" IN {numbers}"),
                bigger,
                smaller,
                above,
                below,
                sure,
            };
            typed.push(src.dialect, sql, &|sql: &mut Sql| {
                bound(
                    sql,
                    &|sql: &mut Sql| {
                        sql.push("CAST(JSON_EXTRACT(")
                            .push(col)
                            .push(", ")
                            .bind(Param::Text(full.clone()))
                            .push(&format!(") AS {cast})"));
                    },
                    cast,
                );
            });
        }
    }
}

/// The condition under which `FIELD OP "s"` (an order, not `==`) is true in jq — exactly, so
/// both senses are the same but for a JSON type this does not know (kept if `!sure`, never
/// said true if `sure`): jq orders strings by their UTF-8 bytes (code points), which SQL says
/// without a collation — PostgreSQL's `jsonpath` compares strings so, a column is compared as
/// UTF-8 bytes, MariaDB/MySQL's text as `utf8mb4` bytes, SQLite's with `BINARY` — and other
/// values by type: arrays and objects above every string; null, booleans, numbers and a
/// missing value below. (An event type or stream of NULL is the empty string to evscope.)
fn push_string_order(src: &Source, sql: &mut Sql, a: &Atom, s: &str, sure: bool) {
    let op = match a.cmp {
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
        // Not an order (the callers send those elsewhere): nothing said, in either sense.
        Cmp::Eq | Cmp::Matches => {
            sql.push(if sure { "1=0" } else { "1=1" });
            return;
        }
    };
    let above = matches!(a.cmp, Cmp::Gt | Cmp::Ge);
    let column = match &a.field {
        Field::EventType => Some(&src.event_type.sql),
        Field::StreamId => Some(&src.stream.sql),
        _ => None,
    };
    if let Some(col) = column {
        let v = Param::Text(s.to_string());
        match src.dialect {
            Dialect::Postgres => {
                sql.push("convert_to(COALESCE(CAST(")
                    .push(col)
                    .push(&format!(" AS TEXT), ''), 'UTF8') {op} convert_to(CAST("))
                    .bind(v)
                    .push(" AS TEXT), 'UTF8')");
            }
            Dialect::MySql => {
                sql.push("CAST(CONVERT(COALESCE(")
                    .push(col)
                    .push(&format!(
                        ", '') USING utf8mb4) AS BINARY) {op} CAST(CONVERT("
                    ))
                    .bind(v)
                    .push(" USING utf8mb4) AS BINARY)");
            }
            Dialect::Sqlite => {
                sql.push("CAST(COALESCE(")
                    .push(col)
                    .push(&format!(", '') AS TEXT) {op} "))
                    .bind(v)
                    .push(" COLLATE BINARY");
            }
        }
        return;
    }
    let Some((e, keys)) = json_of(src, a) else {
        sql.push("1=0");
        return;
    };
    let col = &json_col(src, e);
    match src.dialect {
        Dialect::Postgres => {
            // A JSON path query, in strict mode (an array is an array); a missing value is no
            // item to it, hence the `IS NULL` where jq's null counts as below.
            let mut path = String::from("strict $");
            for k in keys {
                path.push('.');
                path.push_str(&serde_json::Value::String(k.clone()).to_string());
            }
            let lit = serde_json::Value::String(s.to_string()).to_string();
            let mut any = vec![format!("(@.type() == \"string\" && @ {op} {lit})")];
            let types: &[&str] = if above {
                &["array", "object"]
            } else {
                &["null", "boolean", "number"]
            };
            for t in types {
                any.push(format!("@.type() == \"{t}\""));
            }
            sql.push("(")
                .push(col)
                .push(" @? CAST(")
                .bind(Param::Text(format!("{path} ? ({})", any.join(" || "))))
                .push(" AS jsonpath)");
            if !above {
                sql.push(" OR jsonb_typeof(");
                pg_path(sql, col, keys);
                sql.push(") IS NULL");
            }
            sql.push(")");
        }
        Dialect::MySql | Dialect::Sqlite => {
            let full = json_path(keys);
            let my = src.dialect == Dialect::MySql;
            let (string, bigger, smaller) = if my {
                (
                    "'STRING'",
                    "('ARRAY', 'OBJECT')",
                    "('NULL', 'BOOLEAN', 'INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')",
                )
            } else {
                (
                    "'text'",
                    "('array', 'object')",
                    "('null', 'true', 'false', 'integer', 'real')",
                )
            };
            let typed = Typed {
                col,
                path: &full,
                own: format!(" = {string}"),
                bigger,
                smaller,
                above,
                below: !above,
                sure,
            };
            typed.push(src.dialect, sql, &|sql: &mut Sql| {
                if my {
                    sql.push("CAST(CONVERT(JSON_UNQUOTE(JSON_EXTRACT(")
                        .push(col)
                        .push(", ")
                        .bind(Param::Text(full.clone()))
                        .push(&format!(")) USING utf8mb4) AS BINARY) {op} CAST(CONVERT("))
                        .bind(Param::Text(s.to_string()))
                        .push(" USING utf8mb4) AS BINARY)");
                } else {
                    sql.push("json_extract(")
                        .push(col)
                        .push(", ")
                        .bind(Param::Text(full.clone()))
                        .push(&format!(") {op} "))
                        .bind(Param::Text(s.to_string()))
                        .push(" COLLATE BINARY");
                }
            });
        }
    }
}

/// `FIELD | test(re)` may be true: the value is a string holding one of the literals every
/// match of the regex starts with (`LIKE`, which on MariaDB/MySQL and SQLite may also ignore
/// case: more rows, never fewer), or any string when the regex has no such literals.
fn push_matches(src: &Source, sql: &mut Sql, a: &Atom, re: &str) {
    let literals = regex_literals(re).unwrap_or_default();
    let like = |sql: &mut Sql, text: &dyn Fn(&mut Sql)| {
        if literals.is_empty() {
            sql.push("1=1");
            return;
        }
        sql.push("(");
        for (i, l) in literals.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            text(sql);
            sql.push(" LIKE ")
                .bind(Param::Text(like_pattern(l)))
                .push(" ESCAPE '!'");
        }
        sql.push(")");
    };
    match &a.field {
        Field::EventType => like(sql, &|sql: &mut Sql| {
            sql.push(&src.event_type.sql);
        }),
        Field::StreamId => like(sql, &|sql: &mut Sql| {
            sql.push(&src.stream.sql);
        }),
        Field::EventId => {
            sql.push("1=1");
        }
        Field::Data(_) | Field::Metadata(_) => {
            let Some((e, keys)) = json_of(src, a) else {
                sql.push("1=1");
                return;
            };
            let col = &json_col(src, e);
            match src.dialect {
                Dialect::Postgres => {
                    sql.push("jsonb_typeof(");
                    pg_path(sql, col, keys);
                    sql.push(") = 'string' AND ");
                    like(sql, &|sql: &mut Sql| {
                        sql.push("(");
                        pg_path(sql, col, keys);
                        sql.push(" #>> '{}')");
                    });
                }
                Dialect::MySql | Dialect::Sqlite => {
                    let full = json_path(keys);
                    let my = src.dialect == Dialect::MySql;
                    push_if_valid(src.dialect, sql, col);
                    push_json_type(src.dialect, sql, col, full.clone());
                    sql.push(if my {
                        " = 'STRING' AND "
                    } else {
                        " = 'text' AND "
                    });
                    like(sql, &|sql: &mut Sql| {
                        sql.push(if my {
                            "JSON_UNQUOTE(JSON_EXTRACT("
                        } else {
                            "json_extract("
                        });
                        sql.push(col).push(", ").bind(Param::Text(full.clone()));
                        sql.push(if my { "))" } else { ")" });
                    });
                    sql.push(") ELSE 0 END)");
                }
            }
        }
    }
}

/// The most literals a `test` is pushed down with (more: any string is kept).
const MAX_LITERALS: usize = 8;

/// The literals one of which starts every match of `re` as jq's regex engine reads it (the
/// prefixes regex-syntax extracts, which never leave a match out; empty when one of them is
/// empty or there are too many: any string may match); `None` when the regex does not parse
/// (jq then fails on every row it meets: nothing may be dropped).
pub fn regex_literals(re: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    // jq's own engine (regex-bites, a smaller syntax than regex-syntax's: no Unicode
    // classes) must take it, or jq fails on every string.
    regex_bites::Regex::new(re).ok()?;
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(re)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let Some(lits) = seq.literals() else {
        return Some(Vec::new());
    };
    if lits.len() > MAX_LITERALS {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for l in lits {
        // A prefix cut inside a character: its whole characters.
        let b = l.as_bytes();
        let text = match std::str::from_utf8(b) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default(),
        };
        if text.is_empty() {
            return Some(Vec::new());
        }
        out.push(text.to_string());
    }
    Some(out)
}

/// `%text%` for `LIKE … ESCAPE '!'`.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The condition under which the atom is surely true in jq, or fails (see [`Sense::Sure`]):
/// string equality compared byte for byte (no collation, no padding), numbers narrowed by
/// the margin; `1=0` where that cannot be said (a regex, an id evscope lower-cases).
fn push_exactly(src: &Source, sql: &mut Sql, a: &Atom) {
    let s = match &a.value {
        Lit::Str(_) if a.cmp == Cmp::Matches => {
            sql.push("1=0");
            return;
        }
        Lit::Str(s) if a.cmp != Cmp::Eq => return push_string_order(src, sql, a, s, true),
        Lit::Str(s) => s,
        Lit::Num { value, .. } => return push_number(src, sql, a, *value, true),
    };
    let canonical_uuid = looks_like_uuid(s) && !s.chars().any(|c| c.is_ascii_uppercase());
    match &a.field {
        Field::EventType if src.event_type.enc == Encoding::Text => {
            push_bytes_eq(src.dialect, sql, &src.event_type.sql, s);
        }
        Field::StreamId if src.stream.enc == Encoding::Text => {
            push_bytes_eq(src.dialect, sql, &src.stream.sql, s);
        }
        Field::StreamId
            if src.stream.enc == Encoding::Uuid
                && src.dialect == Dialect::Postgres
                && canonical_uuid =>
        {
            sql.push(&src.stream_raw)
                .push(" = CAST(")
                .bind(Param::Text(s.clone()))
                .push(" AS UUID)");
        }
        // evscope shows an id lower-cased: a literal with a capital never equals it.
        Field::EventId if s.chars().any(char::is_uppercase) => {
            sql.push("1=0");
        }
        Field::EventId
            if src.event_id.enc == Encoding::Text && src.stream.enc != Encoding::Bytes =>
        {
            push_bytes_eq(src.dialect, sql, &src.event_id.sql, s);
        }
        Field::EventId
            if src.event_id.enc == Encoding::Uuid
                && src.dialect == Dialect::Postgres
                && canonical_uuid =>
        {
            sql.push(&src.event_id.sql)
                .push(" = CAST(")
                .bind(Param::Text(s.clone()))
                .push(" AS UUID)");
        }
        Field::Data(_) | Field::Metadata(_) => {
            let Some((e, keys)) = json_of(src, a) else {
                sql.push("1=0");
                return;
            };
            let col = &json_col(src, e);
            let full = json_path(keys);
            match src.dialect {
                // jsonb compares strings by their bytes (the collation only orders them).
                Dialect::Postgres => push_true(src, sql, a),
                Dialect::MySql => {
                    push_if_valid(src.dialect, sql, col);
                    push_json_type(src.dialect, sql, col, full.clone());
                    sql.push(" = 'STRING' AND CAST(JSON_UNQUOTE(JSON_EXTRACT(")
                        .push(col)
                        .push(", ")
                        .bind(Param::Text(full))
                        .push(")) AS BINARY) = CAST(")
                        .bind(Param::Text(s.clone()))
                        .push(" AS BINARY)) ELSE 0 END)");
                }
                Dialect::Sqlite => {
                    push_if_valid(src.dialect, sql, col);
                    push_json_type(src.dialect, sql, col, full.clone());
                    sql.push(" = 'text' AND json_extract(")
                        .push(col)
                        .push(", ")
                        .bind(Param::Text(full))
                        .push(") = ")
                        .bind(Param::Text(s.clone()))
                        .push(" COLLATE BINARY) ELSE 0 END)");
                }
            }
        }
        _ => {
            sql.push("1=0");
        }
    }
}

/// `expr` holds exactly the text `s`, byte for byte: no collation (a case-insensitive or
/// nondeterministic one would say more rows are equal) and no padding (`char(n)`).
fn push_bytes_eq(d: Dialect, sql: &mut Sql, expr: &str, s: &str) {
    let v = || Param::Text(s.to_string());
    match d {
        Dialect::Postgres => {
            sql.push("(CAST(")
                .push(expr)
                .push(" AS TEXT) = CAST(")
                .bind(v())
                .push(" AS TEXT) COLLATE \"C\" AND octet_length(")
                .push(expr)
                .push(") = octet_length(CAST(")
                .bind(v())
                .push(" AS TEXT)))");
        }
        Dialect::MySql => {
            sql.push("CAST(")
                .push(expr)
                .push(" AS BINARY) = CAST(")
                .bind(v())
                .push(" AS BINARY)");
        }
        Dialect::Sqlite => {
            sql.push(expr).push(" = ").bind(v()).push(" COLLATE BINARY");
        }
    }
}

/// How far a number may move on its way to jq and still compare as it would there: a few
/// units in the last place of a double (the store's value and the program's literal may each
/// be rounded to one; the database may compare them exactly).
fn margin(n: f64) -> f64 {
    (n.abs() * f64::EPSILON * 16.0).max(f64::MIN_POSITIVE)
}

/// A comparison on MariaDB/MySQL or SQLite JSON decided by the value's JSON type, as jq orders
/// types: its own type compared (`compare`), the types above it (`bigger`) and below it
/// (`smaller`, and a missing value) by whether the comparison holds above or below; a type
/// this does not know is kept (jq decides) unless `sure`; JSON the database cannot read is
/// left to the failing part (see [`push_fails`]).
struct Typed<'a> {
    col: &'a str,
    path: &'a str,
    /// The predicate on the type for the compared type (` IN (…)`, ` = 'STRING'`).
    own: String,
    bigger: &'a str,
    smaller: &'a str,
    above: bool,
    below: bool,
    sure: bool,
}

impl Typed<'_> {
    fn push(&self, d: Dialect, sql: &mut Sql, compare: &dyn Fn(&mut Sql)) {
        let b = |v: bool| if v { "1=1" } else { "1=0" };
        let ty = |sql: &mut Sql| push_json_type(d, sql, self.col, self.path.to_string());
        push_if_valid(d, sql, self.col);
        sql.push("CASE WHEN ");
        ty(sql);
        sql.push(&self.own).push(" THEN ");
        compare(sql);
        sql.push(" WHEN ");
        ty(sql);
        sql.push(&format!(" IN {} THEN ", self.bigger))
            .push(b(self.above));
        sql.push(" WHEN ");
        ty(sql);
        sql.push(" IS NULL OR ");
        ty(sql);
        sql.push(&format!(" IN {} THEN ", self.smaller))
            .push(b(self.below));
        sql.push(if self.sure {
            " ELSE 1=0 END) ELSE 1=0 END)"
        } else {
            " ELSE 1=1 END) ELSE 1=0 END)"
        });
    }
}

/// `(CASE WHEN <col is valid JSON> THEN (`: MariaDB/MySQL and SQLite evaluate their JSON
/// functions only on valid JSON this way (the caller closes the CASE).
fn push_if_valid(d: Dialect, sql: &mut Sql, col: &str) {
    let valid = if d == Dialect::MySql {
        "JSON_VALID"
    } else {
        "json_valid"
    };
    sql.push("(CASE WHEN ")
        .push(valid)
        .push("(")
        .push(col)
        .push(") THEN (");
}

/// The JSON type of the value at `path` (`$.a.b`) of `col`, MariaDB/MySQL or SQLite.
fn push_json_type(d: Dialect, sql: &mut Sql, col: &str, path: String) {
    if d == Dialect::MySql {
        sql.push("JSON_TYPE(JSON_EXTRACT(")
            .push(col)
            .push(", ")
            .bind(Param::Text(path))
            .push("))");
    } else {
        sql.push("json_type(")
            .push(col)
            .push(", ")
            .bind(Param::Text(path))
            .push(")");
    }
}

/// `col -> $1 -> $2 …`, the keys bound.
fn pg_path(sql: &mut Sql, col: &str, keys: &[String]) {
    sql.push(col);
    for k in keys {
        sql.push(" -> ").bind(Param::Text(k.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regex_gives_the_literals_its_matches_start_with() {
        let lits = |re: &str| regex_literals(re).map(|l| l.join(","));
        assert_eq!(lits("Deposit").as_deref(), Some("Deposit"));
        assert_eq!(lits("^An+a").as_deref(), Some("An"));
        assert_eq!(lits("Nu|Od").as_deref(), Some("Nu,Od"));
        assert_eq!(lits("(?i)ab").as_deref(), Some("AB,Ab,aB,ab"));
        assert_eq!(lits(r"a\.b_%!").as_deref(), Some("a.b_%!"));
        // Anything may start a match: any string is kept.
        assert_eq!(lits("x?y").as_deref(), Some("xy,y"));
        assert_eq!(lits("(a|)b").as_deref(), Some("ab,b"));
        for re in ["", ".*x", "[a-z]+", "x*", "(a|)"] {
            assert_eq!(lits(re).as_deref(), Some(""), "{re}");
        }
        // A regex that does not parse: jq fails on every row, nothing is pushed. Also one
        // regex-syntax reads but jq's engine does not (a Unicode class).
        assert_eq!(lits("(("), None);
        assert_eq!(lits(r"ab\p{Greek}"), None);
        assert_eq!(lits(r"(?ix)a b # c").as_deref(), Some("AB,Ab,aB,ab"));
        assert_eq!(like_pattern("a.b_%!"), "%a.b!_!%!!%");
    }

    #[test]
    fn paths_quote_the_keys_that_need_it_and_refuse_what_cannot_be_quoted() {
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(json_path(&keys(&["owner", "name"])), "$.owner.name");
        assert_eq!(
            json_path(&keys(&["first name", "ação", "a.b", "it's"])),
            "$.\"first name\".\"ação\".\"a.b\".\"it's\""
        );
        assert_eq!(
            steps(&keys(&["a b", "c", "d"])),
            ["$", "$.\"a b\"", "$.\"a b\".c"]
        );
        for bad in ["", "say \"hi\"", "back\\slash", "tab\there"] {
            assert!(!is_quotable_key(bad), "{bad:?}");
        }
        assert!(is_quotable_key("first name") && is_quotable_key("😀"));
    }
}
