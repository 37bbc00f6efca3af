//! SQL text for every read, built from a [`Layout`] and a [`Dialect`].
//!
//! Identifiers come only from validated [`Ident`]s and are quoted here; every value is a bound
//! parameter ([`Param`]). The dialect differences (quoting, placeholders, casts, prefix
//! matching) live in this file and nowhere else.

use chrono::{DateTime, Utc};

use super::Columns;
use super::layout::{Column, Encoding, FixedValue, Ident, Layout, Side, Special, TableRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    pub fn quote(self, id: &Ident) -> String {
        // Idents cannot contain quote characters (validated), so no escaping is needed.
        match self {
            Dialect::MySql => format!("`{id}`"),
            _ => format!("\"{id}\""),
        }
    }

    pub fn table(self, t: &TableRef) -> String {
        match &t.schema {
            Some(s) => format!("{}.{}", self.quote(s), self.quote(&t.table)),
            None => self.quote(&t.table),
        }
    }

    /// The expression that puts a column on the wire in the form the decoder expects.
    pub fn select_expr(self, col: &str, enc: Encoding) -> String {
        use Encoding as E;
        match (self, enc) {
            (Dialect::Sqlite, _) | (_, E::Bytes) => col.to_string(),
            (Dialect::Postgres, E::Integer | E::EpochMs) => format!("CAST({col} AS BIGINT)"),
            (Dialect::Postgres, E::Timestamp) => format!("CAST({col} AS TIMESTAMPTZ)"),
            (Dialect::Postgres, E::Boolean) => col.to_string(),
            (Dialect::Postgres, _) => format!("CAST({col} AS TEXT)"),
            (Dialect::MySql, E::Integer | E::EpochMs) => format!("CAST({col} AS SIGNED)"),
            (Dialect::MySql, E::Timestamp | E::Boolean) => col.to_string(),
            (Dialect::MySql, _) => format!("CAST({col} AS CHAR)"),
        }
    }
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    I64(i64),
    Text(String),
    Time(DateTime<Utc>),
    Bool(bool),
    /// Bytes (bytea, BLOB, VARBINARY): a stream id that is not valid UTF-8, or the id of a
    /// binary stream column.
    Bytes(Vec<u8>),
}

/// A stream id as a value of the stream column (see [`Source::stream_keys`]).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamKey {
    Text(String),
    Bytes(Vec<u8>),
    /// SQLite: the bytes as a TEXT value (how it keeps text that is not valid UTF-8).
    BytesAsText(Vec<u8>),
}

impl StreamKey {
    pub fn push(&self, sql: &mut Sql) {
        match self {
            StreamKey::Text(t) => {
                sql.bind(Param::Text(t.clone()));
            }
            StreamKey::Bytes(b) => {
                sql.bind(Param::Bytes(b.clone()));
            }
            StreamKey::BytesAsText(b) => {
                sql.push("CAST(")
                    .bind(Param::Bytes(b.clone()))
                    .push(" AS TEXT)");
            }
        }
    }
}

/// SQL text with its parameters, placeholders numbered as the dialect wants.
#[derive(Debug, Clone)]
pub struct Sql {
    pub dialect: Dialect,
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            text: String::new(),
            params: Vec::new(),
        }
    }
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    pub fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        match self.dialect {
            Dialect::Postgres => {
                let n = self.params.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }
}

impl Sql {
    /// The statement with its parameters written in as literals, for tools like psql that
    /// time the same SQL (benchmarks only; evscope itself always binds).
    pub fn with_literals(&self) -> String {
        let lit = |p: &Param| match p {
            Param::I64(v) => v.to_string(),
            Param::Bool(b) => b.to_string(),
            Param::Text(t) => format!("'{}'", t.replace('\'', "''")),
            Param::Time(t) => format!("'{}'", super::model::format_time(t)),
            Param::Bytes(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                match self.dialect {
                    Dialect::Postgres => format!("'\\x{hex}'::bytea"),
                    _ => format!("X'{hex}'"),
                }
            }
        };
        match self.dialect {
            Dialect::Postgres => {
                let mut text = self.text.clone();
                for (i, p) in self.params.iter().enumerate().rev() {
                    text = text.replace(&format!("${}", i + 1), &lit(p));
                }
                text
            }
            _ => {
                let mut out = String::new();
                let mut params = self.params.iter();
                for c in self.text.chars() {
                    match (c, params.len()) {
                        ('?', n) if n > 0 => {
                            out.push_str(&params.next().map(lit).unwrap_or_default())
                        }
                        _ => out.push(c),
                    }
                }
                out
            }
        }
    }
}

/// Escape a LIKE prefix with `!` as the escape character (portable across the three).
pub fn like_prefix(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '!' | '%' | '_') {
            s.push('!');
        }
        s.push(c);
    }
    s.push('%');
    s
}

/// Which rows a query ranges over: the global log, or one stream's own rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Stream,
}

/// A column expression and its encoding.
#[derive(Debug, Clone)]
pub struct Expr {
    pub sql: String,
    pub enc: Encoding,
}

/// FROM clause, fixed conditions and the canonical column expressions for one scope.
#[derive(Debug, Clone)]
pub struct Source {
    pub dialect: Dialect,
    pub from: String,
    pub fixed: Vec<(String, FixedValue)>,
    pub position: Option<Expr>,
    pub stream: Expr,
    pub version: Expr,
    pub event_id: Expr,
    pub event_type: Expr,
    pub data: Expr,
    pub metadata: Option<Expr>,
    /// The time (`NULL` when the store records none: see `has_time`).
    pub recorded_at: Expr,
    /// Whether the store records a time (time filters are refused when it does not).
    pub has_time: bool,
    /// When the time is inside the data (a path of keys): a row's time is read from its
    /// parsed data, not in SQL (where JSON the database cannot read would fail the query);
    /// `recorded_at` is still the SQL expression for time filters and time order.
    pub time_path: Vec<String>,
    /// The raw stream column (comparisons must use it, not a cast, to use the index).
    pub stream_raw: String,
}

/// The metadata: its column, with the members kept in columns of their own merged in (see
/// [`Layout::metadata_keys`]; PostgreSQL, checked when the layout is). A row whose member
/// columns are all NULL keeps its metadata as stored, so do one whose metadata is not an
/// object.
fn metadata_expr(
    layout: &Layout,
    base: Option<Expr>,
    col: &dyn Fn(&Column) -> Expr,
) -> Option<Expr> {
    if layout.metadata_keys.is_empty() {
        return base;
    }
    let cols: Vec<(String, Expr)> = layout
        .metadata_keys
        .iter()
        .map(|(k, c)| (k.clone(), col(c)))
        .collect();
    let all_null = cols
        .iter()
        .map(|(_, e)| format!("{} IS NULL", e.sql))
        .collect::<Vec<_>>()
        .join(" AND ");
    let members = cols
        .iter()
        .map(|(k, e)| format!("'{k}', {}", e.sql))
        .collect::<Vec<_>>()
        .join(", ");
    let built = format!("jsonb_strip_nulls(jsonb_build_object({members}))");
    let sql = match base {
        Some(b) => format!(
            "(CASE WHEN {all_null} OR jsonb_typeof({m}) IN ('array', 'string', 'number', 'boolean') THEN {m} ELSE COALESCE({m}, CAST('{{}}' AS jsonb)) || {built} END)",
            m = b.sql
        ),
        None => format!("(CASE WHEN {all_null} THEN NULL ELSE {built} END)"),
    };
    Some(Expr {
        sql,
        enc: Encoding::Jsonb,
    })
}

impl Source {
    pub fn new(layout: &Layout, d: Dialect, scope: Scope) -> Source {
        let q = |id: &Ident| d.quote(id);
        let col = |c: &Column| {
            let alias = if c.side == Side::Streams { "s" } else { "e" };
            Expr {
                sql: format!("{alias}.{}", q(&c.name)),
                enc: c.encoding,
            }
        };
        if layout.special == Special::Commanded {
            return Self::commanded(layout, d, scope);
        }
        let mut from = format!("{} e", d.table(&layout.events));
        if let Some(j) = &layout.streams {
            from.push_str(&format!(
                " JOIN {} s ON s.{} = e.{}",
                d.table(&j.table),
                q(&j.key),
                q(&j.events_key)
            ));
        }
        let stream = col(&layout.stream);
        let version = col(&layout.version);
        let data = col(&layout.data);
        let event_id = match &layout.event_id {
            Some(c) => col(c),
            None => synthetic_id(d, &stream, &version),
        };
        let recorded_at = time_expr(
            d,
            layout.recorded_at.as_ref().map(col),
            &layout.time_path,
            data.enc,
        );
        Source {
            dialect: d,
            from,
            fixed: layout
                .filter
                .iter()
                .map(|(c, v)| (format!("e.{}", q(c)), v.clone()))
                .collect(),
            position: layout.position.as_ref().map(col),
            stream_raw: stream.sql.clone(),
            stream,
            version,
            event_id,
            event_type: col(&layout.event_type),
            data,
            metadata: metadata_expr(layout, layout.metadata.as_ref().map(col), &col),
            has_time: layout.recorded_at.is_some(),
            time_path: layout
                .time_path
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            recorded_at,
        }
    }

    /// Commanded: `stream_events` links events to streams; the `$all` stream (stream_id 0)
    /// numbers every event globally. A stream is read through its own rows (index on
    /// (stream_id, stream_version)) and joined to its `$all` row for the global position.
    fn commanded(layout: &Layout, d: Dialect, scope: Scope) -> Source {
        let q = |s: &str| d.quote(&Ident::new(s).expect("static identifier"));
        let schema = layout.events.schema.clone();
        let t = |name: &str| {
            d.table(&TableRef {
                schema: schema.clone(),
                table: Ident::new(name).expect("static identifier"),
            })
        };
        let e = |c: &Column| Expr {
            sql: format!("e.{}", d.quote(&c.name)),
            enc: c.encoding,
        };
        let (from, position, version) = match scope {
            Scope::Global => (
                format!(
                    "{se} se JOIN {ev} e ON e.{eid} = se.{eid} JOIN {st} s ON s.{sid} = se.{osid}",
                    se = t("stream_events"),
                    ev = t("events"),
                    st = t("streams"),
                    eid = q("event_id"),
                    sid = q("stream_id"),
                    osid = q("original_stream_id"),
                ),
                format!("se.{}", q("stream_version")),
                format!("se.{}", q("original_stream_version")),
            ),
            Scope::Stream => (
                format!(
                    "{se} se JOIN {ev} e ON e.{eid} = se.{eid} JOIN {st} s ON s.{sid} = se.{sid} \
                     JOIN {se} ae ON ae.{eid} = se.{eid} AND ae.{sid} = 0",
                    se = t("stream_events"),
                    ev = t("events"),
                    st = t("streams"),
                    eid = q("event_id"),
                    sid = q("stream_id"),
                ),
                format!("ae.{}", q("stream_version")),
                format!("se.{}", q("stream_version")),
            ),
        };
        let stream_sql = format!("s.{}", q("stream_uuid"));
        let mut fixed = vec![];
        if scope == Scope::Global {
            fixed.push((format!("se.{}", q("stream_id")), FixedValue::Int(0)));
        }
        Source {
            dialect: d,
            from,
            fixed,
            position: Some(Expr {
                sql: position,
                enc: Encoding::Integer,
            }),
            stream: Expr {
                sql: stream_sql.clone(),
                enc: Encoding::Text,
            },
            stream_raw: stream_sql,
            version: Expr {
                sql: version,
                enc: Encoding::Integer,
            },
            event_id: layout.event_id.as_ref().map_or_else(
                || Expr {
                    sql: "NULL".into(),
                    enc: Encoding::Text,
                },
                e,
            ),
            event_type: e(&layout.event_type),
            data: e(&layout.data),
            metadata: layout.metadata.as_ref().map(e),
            has_time: layout.recorded_at.is_some(),
            time_path: vec![],
            recorded_at: time_expr(d, layout.recorded_at.as_ref().map(e), &[], Encoding::Text),
        }
    }

    /// What to select for a row's time, and its encoding: the time column, or (a time inside
    /// the data) the data itself, for [`crate::store::db::raw_time`] to read the path from
    /// in evscope (the database's JSON functions would fail the query on JSON it cannot read).
    pub fn time_select(&self) -> (String, Encoding) {
        if self.time_path.is_empty() {
            (
                self.dialect
                    .select_expr(&self.recorded_at.sql, self.recorded_at.enc),
                self.recorded_at.enc,
            )
        } else {
            (
                self.dialect.select_expr(&self.data.sql, self.data.enc),
                self.data.enc,
            )
        }
    }

    /// The eight canonical columns, in the order the decoder reads them.
    pub fn select_list(&self) -> String {
        self.select_columns(Columns::ALL)
    }

    /// [`Self::select_list`] with the columns left out of `cols` selected as NULL.
    pub fn select_columns(&self, cols: Columns) -> String {
        let d = self.dialect;
        let s = |x: &Expr| d.select_expr(&x.sql, x.enc);
        let null = || "NULL".to_string();
        let opt = |x: Option<&Expr>, read: bool| x.filter(|_| read).map_or_else(null, &s);
        [
            opt(self.position.as_ref(), cols.position),
            s(&self.stream),
            s(&self.version),
            opt(Some(&self.event_id), cols.id),
            s(&self.event_type),
            s(&self.data),
            opt(self.metadata.as_ref(), cols.metadata),
            opt(
                Some(&self.recorded_at),
                cols.time && self.time_path.is_empty(),
            ),
        ]
        .join(", ")
    }

    /// The encodings of [`Self::select_list`]'s columns.
    pub fn encodings(&self) -> [Option<Encoding>; 8] {
        [
            self.position.as_ref().map(|p| p.enc),
            Some(self.stream.enc),
            Some(self.version.enc),
            Some(self.event_id.enc),
            Some(self.event_type.enc),
            Some(self.data.enc),
            self.metadata.as_ref().map(|m| m.enc),
            Some(self.recorded_at.enc),
        ]
    }

    /// `SELECT <what> FROM <source> WHERE 1=1` with the fixed conditions: the start of every
    /// read over this source.
    pub fn select_where(&self, what: &str) -> Sql {
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT ")
            .push(what)
            .push(" FROM ")
            .push(&self.from)
            .push(" WHERE 1=1");
        self.push_fixed(&mut sql);
        sql
    }

    /// Append ` AND cond` for each fixed condition.
    pub fn push_fixed(&self, sql: &mut Sql) {
        for (col, v) in &self.fixed {
            sql.push(" AND ").push(col).push(" = ");
            match v {
                FixedValue::Bool(b) => sql.bind(Param::Bool(*b)),
                FixedValue::Int(i) => sql.bind(Param::I64(*i)),
                FixedValue::Text(t) => sql.bind(Param::Text(t.clone())),
            };
        }
    }

    /// ` AND stream = ?` (cast the parameter, not the column, so the index is used; a value
    /// that is not a uuid is compared as text against a uuid column: no match, no error). A
    /// stream id that names bytes (see [`StreamKey`]) is compared in each form it may be
    /// stored in.
    pub fn push_stream_eq(&self, sql: &mut Sql, stream: &str) {
        sql.push(" AND ");
        let uuid_col = self.dialect == Dialect::Postgres && self.stream.enc == Encoding::Uuid;
        if uuid_col && !looks_like_uuid(stream) {
            sql.push(&format!("CAST({} AS TEXT) = ", self.stream_raw));
            sql.bind(Param::Text(stream.to_string()));
            return;
        }
        sql.push(&self.stream_raw);
        if uuid_col {
            sql.push(" = CAST(")
                .bind(Param::Text(stream.to_string()))
                .push(" AS UUID)");
            return;
        }
        match self.stream_keys(stream).as_slice() {
            [one] => {
                sql.push(" = ");
                one.push(sql);
            }
            many => {
                sql.push(" IN (");
                for (i, k) in many.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    k.push(sql);
                }
                sql.push(")");
            }
        }
    }

    /// Whether the stream column is binary (`encoding = "bytes"`: bytea, BLOB, VARBINARY).
    pub fn bytes_col(&self) -> bool {
        self.stream.enc == Encoding::Bytes
    }

    /// Each form a stream id given as text may be stored in: the text itself and, when it names
    /// bytes that are not valid UTF-8 (as [`escape_bytes`](super::db::escape_bytes) writes
    /// them), those bytes; on a binary column, as bytes. SQLite keeps a value as TEXT or as a
    /// BLOB whatever the column's type, and the two never compare equal: both are tried.
    pub fn stream_keys(&self, stream: &str) -> Vec<StreamKey> {
        let raw = super::db::unescape_bytes(stream);
        let text = || StreamKey::Text(stream.to_string());
        let lit = || StreamKey::Bytes(stream.as_bytes().to_vec());
        match (self.dialect, raw) {
            (Dialect::Postgres, raw) if self.bytes_col() => std::iter::once(lit())
                .chain(raw.map(StreamKey::Bytes))
                .collect(),
            // A text column of a UTF-8 database holds no invalid bytes.
            (Dialect::Postgres, _) | (Dialect::MySql, None) => vec![text()],
            (Dialect::MySql, Some(b)) => vec![text(), StreamKey::Bytes(b)],
            (Dialect::Sqlite, None) if !self.bytes_col() => vec![text()],
            (Dialect::Sqlite, None) => vec![text(), lit()],
            (Dialect::Sqlite, Some(b)) => vec![
                text(),
                StreamKey::Bytes(b.clone()),
                StreamKey::BytesAsText(b),
            ],
        }
    }

    /// The form of a stream id to compare the column with by order (a keyset continuation),
    /// when the store has not been asked which one it holds (see `Store::stream_key`).
    pub fn stream_key_guess(&self, stream: &str) -> StreamKey {
        let mut keys = self.stream_keys(stream);
        match self.dialect {
            // SQLite: a TEXT value is the likelier (a BLOB sorts after every TEXT).
            Dialect::Sqlite if keys.len() == 3 => keys.swap_remove(2),
            Dialect::Sqlite if keys.len() == 2 => keys.swap_remove(1),
            _ => keys.pop().unwrap_or(StreamKey::Text(stream.to_string())),
        }
    }

    /// A stream id as a value of the stream column's type (for derived tables). A stream id
    /// with several forms ([`Self::stream_keys`]) is given in the one guessed.
    pub fn push_stream_value(&self, sql: &mut Sql, stream: &str) {
        let uuid_col = self.dialect == Dialect::Postgres && self.stream.enc == Encoding::Uuid;
        if uuid_col && looks_like_uuid(stream) {
            sql.push("CAST(")
                .bind(Param::Text(stream.to_string()))
                .push(" AS UUID)");
            return;
        }
        match self.stream_key_guess(stream) {
            StreamKey::Bytes(b) if self.dialect == Dialect::Postgres => {
                sql.push("CAST(").bind(Param::Bytes(b)).push(" AS BYTEA)");
            }
            StreamKey::Text(t) if self.dialect == Dialect::Postgres => {
                // An untyped parameter in a UNION would be resolved as text anyway; say so.
                sql.push("CAST(").bind(Param::Text(t)).push(" AS TEXT)");
            }
            k => k.push(sql),
        }
    }

    /// ` AND stream LIKE 'prefix%'`, exact and case-sensitive on every database.
    pub fn push_stream_prefix(&self, sql: &mut Sql, prefix: &str) {
        let col = if self.stream.enc == Encoding::Uuid && self.dialect == Dialect::Postgres {
            format!("CAST({} AS TEXT)", self.stream_raw)
        } else {
            self.stream_raw.clone()
        };
        if let Some(raw) = super::db::unescape_bytes(prefix) {
            return self.push_bytes_prefix(sql, &col, &raw);
        }
        match self.dialect {
            Dialect::Postgres if self.bytes_col() => {
                sql.push(" AND ").push(&col).push(" LIKE ");
                sql.bind(Param::Bytes(like_prefix(prefix).into_bytes()))
                    .push(" ESCAPE CAST('!' AS BYTEA)");
            }
            Dialect::Postgres => {
                sql.push(" AND ").push(&col).push(" LIKE ");
                sql.bind(Param::Text(like_prefix(prefix)))
                    .push(" ESCAPE '!'");
            }
            Dialect::MySql => {
                // LIKE follows the column's collation (often case-insensitive); the BINARY
                // comparison of the prefix keeps the match exact while LIKE keeps the index.
                sql.push(" AND ").push(&col).push(" LIKE ");
                sql.bind(Param::Text(like_prefix(prefix)))
                    .push(" ESCAPE '!'");
                sql.push(" AND BINARY LEFT(").push(&col).push(", ");
                sql.bind(Param::I64(prefix.chars().count() as i64));
                sql.push(") = BINARY ")
                    .bind(Param::Text(prefix.to_string()));
            }
            Dialect::Sqlite => {
                // SQLite's LIKE ignores ASCII case; a range on the BINARY collation is exact and
                // uses the index.
                sql.push(" AND ").push(&col).push(" >= ");
                sql.bind(Param::Text(prefix.to_string()));
                if let Some(upper) = prefix_upper_bound(prefix) {
                    sql.push(" AND ")
                        .push(&col)
                        .push(" < ")
                        .bind(Param::Text(upper));
                }
            }
        }
    }

    /// [`Self::push_stream_prefix`] of a prefix that names bytes (not valid UTF-8, as
    /// [`escape_bytes`](super::db::escape_bytes) writes them): compared as bytes.
    fn push_bytes_prefix(&self, sql: &mut Sql, col: &str, raw: &[u8]) {
        let mut pattern = Vec::with_capacity(raw.len() + 2);
        for &b in raw {
            if matches!(b, b'!' | b'%' | b'_') {
                pattern.push(b'!');
            }
            pattern.push(b);
        }
        pattern.push(b'%');
        sql.push(" AND ");
        match self.dialect {
            Dialect::Postgres if self.bytes_col() => {
                sql.push(col).push(" LIKE ");
                sql.bind(Param::Bytes(pattern))
                    .push(" ESCAPE CAST('!' AS BYTEA)");
            }
            // A text column of a UTF-8 database holds no such bytes.
            Dialect::Postgres => {
                sql.push("1=0");
            }
            // A binary pattern compares bytewise.
            Dialect::MySql => {
                sql.push(col).push(" LIKE ");
                sql.bind(Param::Bytes(pattern)).push(" ESCAPE '!'");
            }
            // TEXT or BLOB, as bytes (no index: such prefixes are rare).
            Dialect::Sqlite => {
                sql.push(&format!("substr(CAST({col} AS BLOB), 1, "));
                sql.bind(Param::I64(raw.len() as i64)).push(") = ");
                sql.bind(Param::Bytes(raw.to_vec()));
            }
        }
    }

    /// ` AND (stream = C OR stream LIKE 'C-%')`.
    pub fn push_category(&self, sql: &mut Sql, category: &str) {
        sql.push(" AND (1=1");
        self.push_stream_eq(sql, category);
        sql.push(" OR 1=1");
        self.push_stream_prefix(sql, &format!("{category}-"));
        sql.push(")");
    }

    /// ` AND time >= since` / ` AND time < until`, with the value in the column's encoding.
    pub fn push_time_bound(&self, sql: &mut Sql, op: &str, t: DateTime<Utc>) {
        sql.push(" AND ");
        self.push_time_cmp(sql, op, t);
    }

    /// `time op value`, comparing as times whatever the column's encoding.
    pub fn push_time_cmp(&self, sql: &mut Sql, op: &str, t: DateTime<Utc>) {
        let col = &self.recorded_at.sql;
        match (self.recorded_at.enc, self.dialect) {
            (Encoding::EpochMs, _) => {
                sql.push(&format!("{col} {op} "))
                    .bind(Param::I64(t.timestamp_millis()));
            }
            // Text times in any form SQLite understands (millisecond precision).
            (_, Dialect::Sqlite) => {
                sql.push(&format!("julianday({col}) {op} julianday("));
                sql.bind(Param::Text(iso_fixed(t))).push(")");
            }
            (Encoding::Iso8601, Dialect::Postgres) => {
                sql.push(&format!("CAST({col} AS TIMESTAMPTZ) {op} "))
                    .bind(Param::Time(t));
            }
            (Encoding::Iso8601, Dialect::MySql) => {
                sql.push(&format!(
                    "CAST(REPLACE(REPLACE({col}, 'T', ' '), 'Z', '') AS DATETIME(6)) {op} "
                ));
                sql.bind(Param::Time(t));
            }
            _ => {
                sql.push(&format!("{col} {op} ")).bind(Param::Time(t));
            }
        }
    }
}

/// The id of an event in a store that keeps none: `stream@version`.
fn synthetic_id(d: Dialect, stream: &Expr, version: &Expr) -> Expr {
    let text = |x: &Expr| match d {
        Dialect::MySql => format!("CAST({} AS CHAR)", x.sql),
        _ => format!("CAST({} AS TEXT)", x.sql),
    };
    let sql = match d {
        Dialect::MySql => format!("CONCAT({}, '@', {})", text(stream), text(version)),
        _ => format!("({} || '@' || {})", text(stream), text(version)),
    };
    Expr {
        sql,
        enc: Encoding::Text,
    }
}

/// The time of an event: its column, the text at `path` inside the JSON column `col` (whose
/// JSON is stored as `json_enc`), or `NULL` when the store records none.
pub fn time_expr(d: Dialect, col: Option<Expr>, path: &[Ident], json_enc: Encoding) -> Expr {
    let Some(col) = col else {
        return Expr {
            sql: "NULL".into(),
            enc: Encoding::Timestamp,
        };
    };
    if path.is_empty() {
        return col;
    }
    // Path keys are validated identifiers (no quotes, dots or braces): written in as they are.
    let keys: Vec<&str> = path.iter().map(Ident::as_str).collect();
    let quoted: String = keys.iter().map(|k| format!(".\"{k}\"")).collect();
    let sql = match (d, json_enc) {
        (Dialect::Postgres, Encoding::Jsonb) => {
            format!("({} #>> '{{{}}}')", col.sql, keys.join(","))
        }
        (Dialect::Postgres, Encoding::Bytes) => format!(
            "(CAST(convert_from({}, 'UTF8') AS JSONB) #>> '{{{}}}')",
            col.sql,
            keys.join(",")
        ),
        (Dialect::Postgres, _) => {
            format!("(CAST({} AS JSONB) #>> '{{{}}}')", col.sql, keys.join(","))
        }
        (Dialect::MySql, Encoding::Bytes) => format!(
            "JSON_UNQUOTE(JSON_EXTRACT(CONVERT({} USING utf8mb4), '${quoted}'))",
            col.sql
        ),
        (Dialect::MySql, _) => format!("JSON_UNQUOTE(JSON_EXTRACT({}, '${quoted}'))", col.sql),
        (Dialect::Sqlite, _) => format!("json_extract(CAST({} AS TEXT), '${quoted}')", col.sql),
    };
    Expr { sql, enc: col.enc }
}

/// 8-4-4-4-12 hex digits, or 32 hex digits.
pub fn looks_like_uuid(s: &str) -> bool {
    let hex = s.chars().filter(char::is_ascii_hexdigit).count();
    let dashed = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    dashed || (s.len() == 32 && hex == 32)
}

/// The fixed-width ISO-8601 form evscope writes and compares text times with.
pub fn iso_fixed(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The smallest string greater than every string starting with `prefix` (bytewise), if any.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::builtin;

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("account-"), "account-%");
        assert_eq!(like_prefix("a_b%c!"), "a!_b!%c!!%");
    }

    #[test]
    fn prefix_upper_bound_is_the_next_string() {
        assert_eq!(prefix_upper_bound("account-").as_deref(), Some("account."));
        assert_eq!(prefix_upper_bound("").as_deref(), None);
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let mut pg = Sql::new(Dialect::Postgres);
        pg.push("a = ")
            .bind(Param::I64(1))
            .push(" AND b = ")
            .bind(Param::I64(2));
        assert_eq!(pg.text, "a = $1 AND b = $2");
        let mut my = Sql::new(Dialect::MySql);
        my.push("a = ").bind(Param::I64(1));
        assert_eq!(my.text, "a = ?");
    }

    #[test]
    fn identifiers_are_quoted_per_dialect() {
        let l = builtin("message-db").unwrap();
        let pg = Source::new(&l, Dialect::Postgres, Scope::Global);
        assert_eq!(pg.from, "\"message_store\".\"messages\" e");
        assert_eq!(pg.stream.sql, "e.\"stream_name\"");
        let my = Source::new(&builtin("classic").unwrap(), Dialect::MySql, Scope::Global);
        assert_eq!(my.from, "`events` e");
        assert!(
            my.select_list()
                .starts_with("NULL, CAST(e.`aggregate_id` AS CHAR)")
        );
    }

    #[test]
    fn uuid_streams_compare_by_casting_the_parameter() {
        let mut l = builtin("marten").unwrap();
        l.stream.encoding = Encoding::Uuid;
        let src = Source::new(&l, Dialect::Postgres, Scope::Stream);
        let mut sql = Sql::new(Dialect::Postgres);
        src.push_stream_eq(&mut sql, "10010000-0000-4000-8000-000000000000");
        assert_eq!(sql.text, " AND e.\"stream_id\" = CAST($1 AS UUID)");
    }
}
