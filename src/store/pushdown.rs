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

/// `FIELD == "value"`, as a jq program says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atom {
    pub field: Field,
    pub value: String,
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
        write!(
            f,
            "{lhs} == {}",
            serde_json::Value::String(self.value.clone())
        )
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
    match &atom.field {
        Field::EventType => text_col(&src.event_type),
        // A store without an id column has `stream@version` as the id, built in SQL from the
        // stream's text: that is the id evscope shows unless the stream is kept as bytes
        // (which the database would print its own way), so such stores are not pushed then.
        Field::EventId => {
            (text_col(&src.event_id) && src.stream.enc != Encoding::Bytes)
                || (src.event_id.enc == Encoding::Uuid
                    && (src.dialect != Dialect::Postgres || looks_like_uuid(&atom.value)))
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
                && keys.iter().all(|k| is_plain_key(k))
        }
    }
}

/// ` AND (…)`: the rows on which a conjunction of `atoms` (in jq's evaluation order) could be
/// true or fail. Only the leading atoms that [`pushable`] accepts are used: the first one it
/// does not ends the condition (it could fail on a row), as the analysis ends the list at the
/// first conjunct that is no equality. jq evaluates `A and B` as: A fails → the program
/// fails; A false → false; A true → B decides. So the rows kept are
/// `fails(A) OR (true(A) AND (fails(B) OR (true(B) AND …)))`.
pub fn push_atoms(src: &Source, sql: &mut Sql, atoms: &[Atom]) {
    let n = pushed_count(src, atoms);
    if n == 0 {
        return;
    }
    sql.push(" AND ");
    push_conjunction(src, sql, &atoms[..n]);
}

/// How many of `atoms`, from the first, [`push_atoms`] uses.
pub fn pushed_count(src: &Source, atoms: &[Atom]) -> usize {
    atoms.iter().take_while(|a| pushable(src, a)).count()
}

fn push_conjunction(src: &Source, sql: &mut Sql, atoms: &[Atom]) {
    let Some((a, rest)) = atoms.split_first() else {
        return;
    };
    sql.push("(");
    if push_fails(src, sql, a) {
        sql.push(" OR ");
    }
    sql.push("(");
    push_true(src, sql, a);
    if !rest.is_empty() {
        sql.push(" AND ");
        push_conjunction(src, sql, rest);
    }
    sql.push("))");
}

/// The JSON column and keys of a path atom.
fn json_of<'a>(src: &'a Source, a: &'a Atom) -> Option<(&'a Expr, &'a [String])> {
    match &a.field {
        Field::Data(k) => Some((&src.data, k)),
        Field::Metadata(k) => src.metadata.as_ref().map(|m| (m, k.as_slice())),
        _ => None,
    }
}

/// The JSON paths (`$`, `$.a`, `$.a.b`) of the values on the way to `keys`' last one.
fn steps(keys: &[String]) -> Vec<String> {
    let mut prefix = String::from("$");
    let mut out = vec![prefix.clone()];
    for k in &keys[..keys.len().saturating_sub(1)] {
        prefix.push('.');
        prefix.push_str(k);
        out.push(prefix.clone());
    }
    out
}

/// The condition under which the atom fails in jq (a JSON value the database cannot read, or
/// a value on the way that is neither an object nor null); false when it cannot fail
/// (nothing is written).
fn push_fails(src: &Source, sql: &mut Sql, a: &Atom) -> bool {
    let Some((e, keys)) = json_of(src, a) else {
        return false;
    };
    let col = &e.sql;
    match src.dialect {
        Dialect::Postgres => {
            // jsonb is always valid JSON; `->` of a non-object is NULL, never an error.
            sql.push("(");
            for i in 0..keys.len() {
                if i > 0 {
                    sql.push(" OR ");
                }
                sql.push("jsonb_typeof(");
                pg_path(sql, col, &keys[..i]);
                sql.push(") NOT IN ('object', 'null')");
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
    let value = || Param::Text(a.value.clone());
    match &a.field {
        Field::StreamId => {
            sql.push("1=1");
            src.push_stream_eq(sql, &a.value);
        }
        Field::EventType => {
            sql.push(&src.event_type.sql).push(" = ").bind(value());
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
            let col = &e.sql;
            let full = format!("$.{}", keys.join("."));
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
