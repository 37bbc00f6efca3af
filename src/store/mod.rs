//! Event-store access: the canonical model, schema adapters, keyset-paged reads.
//!
//! Nothing here knows about terminals; the CLI and the TUI are two faces over this module.

pub mod db;
pub mod detect;
mod facts;
pub mod head;
pub mod layout;
pub mod model;
pub mod problem;
pub mod pushdown;
pub mod role;
pub mod sql;
mod streams;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use db::Db;
pub use layout::Layout;
pub use model::{Cursor, Event, Snapshot, StreamInfo, category};
use sql::{Dialect, Param, Scope, Source, Sql};
pub use streams::Recent;

use crate::redact::{redact_secrets, redact_url};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("{0}")]
    Schema(String),
    #[error("mapping file: {0}")]
    Mapping(String),
    #[error("missing table: {0}")]
    MissingTable(String),
    #[error("{0}")]
    BadInput(String),
    #[error("query failed: {0}")]
    Query(String),
    /// A complete read could not be proven complete in time (positions still held open).
    #[error("{0}")]
    Unsettled(String),
    /// A read of one stream named a stream the store does not hold.
    #[error("no stream {0:?} in this store (evscope streams lists them)")]
    NoSuchStream(String),
}

impl StoreError {
    /// Classify a connection error, with the URL's password removed from the message.
    pub fn from_sqlx(e: sqlx::Error, shown: &str, url: &str) -> StoreError {
        let msg = redact_secrets(&e.to_string(), url);
        match &e {
            sqlx::Error::Database(d) => {
                let code = d.code().map(|c| c.to_string()).unwrap_or_default();
                match code.as_str() {
                    // PostgreSQL invalid_password / invalid_authorization; MySQL 1045.
                    "28P01" | "28000" | "1045" => StoreError::Auth(format!("{shown}: {msg}")),
                    _ => StoreError::Connect(format!("{shown}: {msg}")),
                }
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
                StoreError::Connect(format!("cannot reach {shown}: {msg}"))
            }
            sqlx::Error::Configuration(_) => {
                StoreError::Connect(format!("invalid database URL {shown}: {msg}"))
            }
            _ => StoreError::Connect(format!("{shown}: {msg}")),
        }
    }

    pub fn query(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(d) = &e {
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            let m = d.message();
            if code == "42P01" || code == "1146" || m.contains("no such table") {
                return StoreError::MissingTable(m.to_string());
            }
            if code == "42703" || code == "1054" || m.contains("no such column") {
                return StoreError::Schema(format!("missing column: {m}"));
            }
        }
        StoreError::Query(e.to_string())
    }
}

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub url: String,
    /// A built-in layout name, optionally `NAME@SCHEMA`, or `mapped`.
    pub schema: Option<String>,
    /// A mapping file (implies the `mapped` layout).
    pub mapping: Option<PathBuf>,
    /// How long to wait for the server (default [`db::CONNECT_TIMEOUT`]).
    pub connect_timeout: Option<std::time::Duration>,
    /// Consumers that follow one stream where the store does not say so (an Eventuous stream
    /// subscription): (consumer id, stream). Their checkpoints are that stream's versions.
    pub stream_subscriptions: Vec<(String, String)>,
}

/// Which end of the log a read starts from, and whether the start is included.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Start {
    /// The first event (forward) or the newest (backward).
    #[default]
    End,
    /// At this point, included.
    At(Cursor),
    /// Just past this point (keyset continuation).
    After(Cursor),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

impl Direction {
    /// The comparison for an included start (`--from`).
    pub fn from_op(self) -> &'static str {
        if self == Direction::Forward {
            ">="
        } else {
            "<="
        }
    }
    /// The comparison for an included end (`--to`).
    pub fn to_op(self) -> &'static str {
        if self == Direction::Forward {
            "<="
        } else {
            ">="
        }
    }
    /// The comparison for a keyset continuation (strictly past the last row seen).
    pub fn after_op(self) -> &'static str {
        if self == Direction::Forward { ">" } else { "<" }
    }
    pub fn order(self) -> &'static str {
        if self == Direction::Forward {
            "ASC"
        } else {
            "DESC"
        }
    }
}

/// The columns of an event a read fetches besides stream, version, type and data (always
/// read); one left out comes back empty: no position, an empty id, null metadata, no time.
/// A store-wide fold reads only what its reducers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub position: bool,
    pub id: bool,
    pub metadata: bool,
    pub time: bool,
}

impl Columns {
    pub const ALL: Columns = Columns {
        position: true,
        id: true,
        metadata: true,
        time: true,
    };
}

impl Default for Columns {
    fn default() -> Columns {
        Columns::ALL
    }
}

/// What a read in (stream, version) order covers: every stream, one category or one stream,
/// up to a last stream (included), and the columns it fetches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ByStream {
    pub category: Option<String>,
    pub stream: Option<String>,
    pub up_to: Option<String>,
    pub columns: Columns,
}

/// Filters on events (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub types: Vec<String>,
    pub stream: Option<String>,
    pub category: Option<String>,
    pub stream_prefix: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
    /// Conditions of the filter's jq program the database answers first (see
    /// [`pushdown`]); the program still runs on every row.
    pub pushed: Vec<pushdown::Cond>,
}

/// The events a [`Store::stream_log`] sends at once.
const STREAM_BATCH: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub filter: EventFilter,
    pub start: Start,
    pub direction: Direction,
    pub limit: u32,
    /// Never return events past this global position (the safe head for live reads).
    pub up_to: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamRead {
    pub from_version: Option<i64>,
    pub to_version: Option<i64>,
    /// Keyset continuation: versions strictly after (forward) / before (backward) this one.
    pub after_version: Option<i64>,
    pub direction: Direction,
    pub limit: u32,
    pub types: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Events recorded at or before this time (inclusive; time travel's "as of").
    pub as_of: Option<DateTime<Utc>>,
    /// The columns read (a fold that prints only its end state reads what its reducer uses).
    pub columns: Columns,
    /// Conditions of a filter's jq program the database answers first, as in a log read
    /// ([`EventFilter::pushed`]).
    pub pushed: Vec<pushdown::Cond>,
}

impl StreamRead {
    /// A read of a stream narrowed by what `f` says of its events (types, times, pushed
    /// conditions); the stream, category and prefix terms are not a stream read's.
    pub fn of_filter(f: &EventFilter) -> StreamRead {
        StreamRead {
            types: f.types.clone(),
            since: f.since,
            until: f.until,
            pushed: f.pushed.clone(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StreamQuery {
    pub category: Option<String>,
    pub prefix: Option<String>,
    /// Keyset continuation: streams past this id in `direction`.
    pub after: Option<String>,
    /// Forward: ascending stream ids; Backward: descending (from the last stream).
    pub direction: Direction,
    pub limit: u32,
}

/// An open event store: a read-only pool and the layout it is read through.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    layout: Layout,
    shown_url: String,
    global: Source,
    stream: Source,
    /// Why this layout: the signature detection matched, the mapping file, the `--schema`.
    reason: String,
    /// The snapshots' `state_jq`, compiled.
    state_jq: Option<StateJq>,
    /// The mapping file the store was opened with (its other sections, such as
    /// `[consumers]`, are read by those who need them).
    mapping: Option<PathBuf>,
    /// Events are read with data and metadata kept as their stored text (see
    /// [`Store::keeping_json_text`]).
    json_text: bool,
    /// See [`OpenOptions::stream_subscriptions`].
    stream_subscriptions: std::sync::Arc<Vec<(String, String)>>,
}

/// A compiled `state_jq` (see [`layout::SnapshotLayout::state_jq`]).
#[derive(Clone)]
struct StateJq(std::sync::Arc<jaq_core::Filter<crate::jq::Data>>);

impl std::fmt::Debug for StateJq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateJq")
    }
}

impl Store {
    pub async fn open(opts: &OpenOptions) -> Result<Store, StoreError> {
        let within = opts.connect_timeout.unwrap_or(db::CONNECT_TIMEOUT);
        let db = Db::connect(&opts.url, within).await?;
        let (layout, reason) = detect::resolve(&db, opts).await?;
        let mut store = Store::with_layout(db, layout, redact_url(&opts.url));
        store.reason = reason;
        store.mapping = opts.mapping.clone();
        store.stream_subscriptions = std::sync::Arc::new(opts.stream_subscriptions.clone());
        Ok(store)
    }

    pub fn with_layout(db: Db, layout: Layout, shown_url: String) -> Store {
        let d = db.dialect();
        let state_jq = layout
            .snapshots
            .as_ref()
            .and_then(|s| s.state_jq.as_deref())
            .and_then(|src| crate::jq::compile(src, &[], |_| (), |_| ()).ok())
            .map(|f| StateJq(std::sync::Arc::new(f)));
        Store {
            global: Source::new(&layout, d, Scope::Global),
            stream: Source::new(&layout, d, Scope::Stream),
            reason: format!("layout {}", layout.name),
            db,
            layout,
            shown_url,
            state_jq,
            mapping: None,
            json_text: false,
            stream_subscriptions: Default::default(),
        }
    }

    /// This store, reading events whose data and metadata are kept as their stored text,
    /// unparsed, wherever the database sends them as text (see `model::Exact::unparsed`): for
    /// a reader that needs only the text (a seal hashes its canonical form), which then
    /// parses no JSON into values on the read's own thread. A jq predicate in a scan parses
    /// each event before it runs (see `scan::run_jq`); anything else that looks at the
    /// values calls [`Event::parse_json`] first.
    pub fn keeping_json_text(&self) -> Store {
        Store {
            json_text: true,
            ..self.clone()
        }
    }

    /// The mapping file the store was opened with, if any.
    pub fn mapping_file(&self) -> Option<&std::path::Path> {
        self.mapping.as_deref()
    }

    /// The stream consumer `id` follows, when it was said to be a stream subscription
    /// ([`OpenOptions::stream_subscriptions`]).
    pub fn stream_subscription(&self, id: &str) -> Option<&str> {
        self.stream_subscriptions
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, s)| s.as_str())
    }

    /// Why this layout was chosen (detection's matched signature, a mapping file, `--schema`).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the store records when each event happened.
    pub fn has_time(&self) -> bool {
        self.global.has_time
    }

    /// A read that needs times, on a store that records none: said plainly.
    fn need_time(&self, what: &str) -> Result<(), StoreError> {
        if self.has_time() {
            return Ok(());
        }
        Err(StoreError::BadInput(format!(
            "the {} layout records no time for its events: {what} cannot apply",
            self.layout.name
        )))
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }
    /// The database URL with its password redacted.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    async fn fetch_events(&self, src: &Source, sql: &Sql) -> Result<Vec<Event>, StoreError> {
        self.db.fetch_events(sql, &self.decoding(src)).await
    }

    /// How rows of `src` are made events.
    fn decoding(&self, src: &Source) -> db::Decoding {
        db::Decoding {
            encodings: src.encodings(),
            time_enc: src.recorded_at.enc,
            time_path: src.time_path.clone(),
            json_text: self.json_text,
        }
    }

    /// ` AND ...` for each part of the filter (types, stream, category, prefix, times).
    pub fn push_filter(src: &Source, sql: &mut Sql, f: &EventFilter) {
        if !f.types.is_empty() {
            sql.push(" AND ").push(&src.event_type.sql).push(" IN (");
            for (i, t) in f.types.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(Param::Text(t.clone()));
            }
            sql.push(")");
        }
        if let Some(s) = &f.stream {
            src.push_stream_eq(sql, s);
        }
        if let Some(c) = &f.category {
            src.push_category(sql, c);
        }
        if let Some(p) = &f.stream_prefix {
            src.push_stream_prefix(sql, p);
        }
        if let Some(t) = f.since {
            src.push_time_bound(sql, ">=", t);
        }
        if let Some(t) = f.until {
            src.push_time_bound(sql, "<", t);
        }
        pushdown::push_atoms(src, sql, &f.pushed);
    }

    /// One page of the global log, in position order (keyset paging, never OFFSET).
    pub async fn read_log(&self, q: &LogQuery) -> Result<Vec<Event>, StoreError> {
        let sql = self.log_sql(q)?;
        self.fetch_events(&self.global, &sql).await
    }

    /// [`Store::read_log`] of `q` as one query whose rows arrive as the database finds them
    /// (`q.limit` rows at most), read on its own task: batches of events in the receiver,
    /// an error in place of a batch, the end when it closes. Dropping the receiver stops it.
    pub fn stream_log(
        &self,
        q: &LogQuery,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<Vec<Event>, StoreError>>, StoreError> {
        let sql = self.log_sql(q)?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let db = self.db.clone();
        let d = self.decoding(&self.global);
        tokio::spawn(async move {
            db.stream_events(&sql, &d, STREAM_BATCH, &tx).await;
        });
        Ok(rx)
    }

    /// What [`Store::read_log`] of `q` runs, and which of its filter's pushed conditions the
    /// database answers (the others are left to the jq program).
    pub fn explain_log(
        &self,
        q: &LogQuery,
    ) -> Result<(Sql, Vec<(pushdown::Cond, bool)>), StoreError> {
        let sql = self.log_sql(q)?;
        let n = pushdown::pushed_count(&self.global, &q.filter.pushed);
        let pushed = q
            .filter
            .pushed
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i < n))
            .collect();
        Ok((sql, pushed))
    }

    fn log_sql(&self, q: &LogQuery) -> Result<Sql, StoreError> {
        if q.filter.since.is_some() || q.filter.until.is_some() {
            self.need_time("a time range (since/until)")?;
        }
        let src = &self.global;
        let mut sql = src.select_where(&src.select_list());
        Self::push_filter(src, &mut sql, &q.filter);
        let fwd = q.direction == Direction::Forward;
        let asc = q.direction.order();
        match &src.position {
            Some(pos) => {
                let (op, cur) = match &q.start {
                    Start::End => ("", None),
                    Start::At(c) => (q.direction.from_op(), Some(c)),
                    Start::After(c) => (q.direction.after_op(), Some(c)),
                };
                if let Some(c) = cur {
                    let Cursor::Position(p) = c else {
                        return Err(StoreError::BadInput(
                            "this layout pages by global position; the cursor is not one".into(),
                        ));
                    };
                    sql.push(" AND ")
                        .push(&pos.sql)
                        .push(" ")
                        .push(op)
                        .push(" ");
                    sql.bind(Param::I64(*p));
                }
                if let Some(up) = q.up_to {
                    sql.push(" AND ")
                        .push(&pos.sql)
                        .push(" <= ")
                        .bind(Param::I64(up));
                }
                sql.push(" ORDER BY ").push(&pos.sql).push(" ").push(asc);
            }
            None => {
                let cur = match &q.start {
                    Start::End => None,
                    Start::At(c) => Some((c, true)),
                    Start::After(c) => Some((c, false)),
                };
                if let Some((c, inclusive)) = cur {
                    let Cursor::Ordered {
                        at,
                        stream,
                        version,
                    } = c
                    else {
                        return Err(StoreError::BadInput(format!(
                            "the {} layout has no global position: page it by time (--since/--until)",
                            self.layout.name
                        )));
                    };
                    let Some(at) = at else {
                        return Err(StoreError::BadInput("cursor without a time".into()));
                    };
                    push_ordered_keyset(src, &mut sql, *at, stream, *version, fwd, inclusive);
                }
                sql.push(" ORDER BY ")
                    .push(&src.recorded_at.sql)
                    .push(&format!(" {asc}, "))
                    .push(&src.stream_raw)
                    .push(&format!(" {asc}, "))
                    .push(&src.version.sql)
                    .push(&format!(" {asc}"));
            }
        }
        sql.push(" LIMIT ").bind(Param::I64(q.limit.max(1).into()));
        Ok(sql)
    }

    /// One page of a stream's events, in version order.
    pub async fn read_stream(
        &self,
        stream: &str,
        r: &StreamRead,
    ) -> Result<Vec<Event>, StoreError> {
        if r.since.is_some() || r.until.is_some() {
            self.need_time("a time range (since/until)")?;
        }
        if r.as_of.is_some() {
            self.need_time("a time (as of)")?;
        }
        let src = &self.stream;
        let mut sql = src.select_where(&src.select_columns(r.columns));
        src.push_stream_eq(&mut sql, stream);
        let filter = EventFilter {
            types: r.types.clone(),
            since: r.since,
            until: r.until,
            pushed: r.pushed.clone(),
            ..Default::default()
        };
        Self::push_filter(src, &mut sql, &filter);
        if let Some(t) = r.as_of {
            src.push_time_bound(&mut sql, "<=", t);
        }
        let v = &src.version.sql;
        let dir = r.direction;
        for (bound, op) in [
            (r.from_version, dir.from_op()),
            (r.to_version, dir.to_op()),
            (r.after_version, dir.after_op()),
        ] {
            if let Some(value) = bound {
                sql.push(&format!(" AND {v} {op} ")).bind(Param::I64(value));
            }
        }
        let asc = dir.order();
        sql.push(&format!(" ORDER BY {v} {asc} LIMIT "));
        sql.bind(Param::I64(r.limit.max(1).into()));
        self.fetch_events(src, &sql).await
    }

    /// The event with this id, if the store has it (correlation/causation links).
    pub async fn find_event(&self, event_id: &str) -> Result<Option<Event>, StoreError> {
        let src = &self.global;
        let d = self.dialect();
        let col = &src.event_id;
        let uuid_col = d == Dialect::Postgres && col.enc == layout::Encoding::Uuid;
        if uuid_col && !sql::looks_like_uuid(event_id) {
            return Ok(None);
        }
        let mut sql = src.select_where(&src.select_list());
        sql.push(" AND ").push(&col.sql).push(" = ");
        if uuid_col {
            sql.push("CAST(")
                .bind(Param::Text(event_id.to_string()))
                .push(" AS UUID)");
        } else {
            sql.bind(Param::Text(event_id.to_string()));
        }
        sql.push(" LIMIT 1");
        Ok(self.fetch_events(src, &sql).await?.into_iter().next())
    }

    /// A stream's snapshots with versions in `from..=to`, newest first when `newest_first`,
    /// at most `limit` (empty when the layout keeps no snapshots).
    pub async fn snapshots(
        &self,
        stream: &str,
        to: Option<i64>,
        newest_first: bool,
        limit: u32,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let Some(sl) = &self.layout.snapshots else {
            return Ok(vec![]);
        };
        let d = self.dialect();
        let q = |c: &layout::Column| format!("n.{}", d.quote(&c.name));
        let mut sql = Sql::new(d);
        sql.push(&self.snapshot_select(sl))
            .push(&format!(" WHERE {} = ", q(&sl.stream)));
        if d == Dialect::Postgres && sl.stream.encoding == layout::Encoding::Uuid {
            if !sql::looks_like_uuid(stream) {
                return Ok(vec![]);
            }
            sql.push("CAST(")
                .bind(Param::Text(stream.to_string()))
                .push(" AS UUID)");
        } else {
            sql.bind(Param::Text(stream.to_string()));
        }
        if let Some(v) = to {
            sql.push(&format!(" AND {} <= ", q(&sl.version)))
                .bind(Param::I64(v));
        }
        let order = if newest_first { "DESC" } else { "ASC" };
        sql.push(&format!(" ORDER BY {} {order} LIMIT ", q(&sl.version)));
        sql.bind(Param::I64(limit.into()));
        self.fetch_snapshots(sl, &sql).await
    }

    /// `SELECT stream, version, state, taken_at, type, schema_version FROM <snapshots> n`.
    fn snapshot_select(&self, sl: &layout::SnapshotLayout) -> String {
        let d = self.dialect();
        let col =
            |c: &layout::Column| d.select_expr(&format!("n.{}", d.quote(&c.name)), c.encoding);
        let opt = |c: &Option<layout::Column>| c.as_ref().map_or("NULL".to_string(), col);
        // A time inside the state is read from the parsed state (see `fetch_snapshots`): the
        // database's JSON functions would fail the query on a state it cannot read.
        let taken = match &sl.taken_at {
            Some(_) if !sl.taken_at_path.is_empty() => "NULL".to_string(),
            c => opt(c),
        };
        format!(
            "SELECT {}, {}, {}, {}, {}, {} FROM {} n",
            col(&sl.stream),
            col(&sl.version),
            col(&sl.state),
            taken,
            opt(&sl.snapshot_type),
            opt(&sl.schema_version),
            d.table(&sl.table)
        )
    }

    async fn fetch_snapshots(
        &self,
        sl: &layout::SnapshotLayout,
        sql: &Sql,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let time_enc = sl.taken_at.as_ref().map(|c| c.encoding);
        let enc = [
            Some(sl.stream.encoding),
            Some(layout::Encoding::Integer),
            Some(sl.state.encoding),
            time_enc,
            Some(layout::Encoding::Text),
            Some(layout::Encoding::Integer),
        ];
        let rows = self.db.fetch_raw(sql, &enc).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut it = r.into_iter();
                let mut next = || it.next().unwrap_or(db::Raw::Null);
                let mut problems = Vec::new();
                let stream_id = next().text();
                let stream_version = next().int().unwrap_or(-1);
                let mut state = db::json_value(next(), "state", &mut problems);
                let taken_in_state = (!sl.taken_at_path.is_empty()).then(|| {
                    let path: Vec<String> = sl
                        .taken_at_path
                        .iter()
                        .map(|k| k.as_str().to_string())
                        .collect();
                    db::time_at_path(&state, &path)
                });
                if let Some(f) = &self.state_jq {
                    match run_state_jq(&f.0, &state) {
                        Ok(v) => state = v,
                        Err(e) => problems.push(problem::Problem::new(
                            "state",
                            problem::ProblemKind::StateJq,
                            format!(
                                "state: the layout's state_jq failed on it ({e}); shown as stored"
                            ),
                        )),
                    }
                }
                let column = next();
                let taken = taken_in_state.unwrap_or(column);
                let taken_at = match (taken, time_enc) {
                    (db::Raw::Null, _) | (_, None) => None,
                    (t, Some(e)) => db::time_field(t, e, "taken_at", &mut problems),
                };
                let snapshot_type = match next() {
                    db::Raw::Null => None,
                    t => Some(t.text()),
                };
                let schema_version = next().int();
                Snapshot {
                    stream_id,
                    stream_version,
                    state,
                    taken_at,
                    snapshot_type,
                    schema_version,
                    problems,
                }
            })
            .collect())
    }

    /// A stream id as a value comparable with a (stream, version) key's stream column.
    fn push_key(&self, sql: &mut Sql, uuid: bool, key: &sql::StreamKey) {
        match key {
            sql::StreamKey::Text(stream) if uuid && self.dialect() == Dialect::Postgres => {
                sql.push("CAST(")
                    .bind(Param::Text(stream.to_string()))
                    .push(" AS UUID)");
            }
            k => k.push(sql),
        }
    }

    /// Keyset condition "(stream, version) after (s, v)" on a stream/version column pair.
    fn push_pair_after(
        &self,
        sql: &mut Sql,
        stream_col: &str,
        uuid: bool,
        version_col: &str,
        after: (&sql::StreamKey, i64),
    ) {
        let val = |sql: &mut Sql| self.push_key(sql, uuid, after.0);
        // The leading `>=` gives the index its range start (an OR alone is scanned from the
        // beginning of the index on every page); the OR keeps the keyset exact.
        sql.push(&format!(" AND {stream_col} >= "));
        val(sql);
        sql.push(&format!(" AND ({stream_col} > "));
        val(sql);
        sql.push(&format!(" OR ({stream_col} = "));
        val(sql);
        sql.push(&format!(" AND {version_col} > "))
            .bind(Param::I64(after.1))
            .push("))");
    }

    /// The form in which the events' stream column holds a stream id, for comparisons by
    /// order (see [`Source::stream_keys`]): asked of the database when it may be more than
    /// one (SQLite, for an id that names bytes), guessed otherwise.
    async fn stream_key(
        &self,
        from: &str,
        col: &str,
        stream: &str,
    ) -> Result<sql::StreamKey, StoreError> {
        let src = &self.global;
        let keys = src.stream_keys(stream);
        if keys.len() < 2 || self.dialect() != Dialect::Sqlite {
            return Ok(src.stream_key_guess(stream));
        }
        let mut sql = Sql::new(Dialect::Sqlite);
        sql.push(&format!(
            "SELECT typeof({col}), CAST({col} AS BLOB) FROM {from} WHERE {col} IN ("
        ));
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            k.push(&mut sql);
        }
        sql.push(") LIMIT 1");
        let enc = [Some(layout::Encoding::Text), Some(layout::Encoding::Bytes)];
        let row = self.db.fetch_raw(&sql, &enc).await?.into_iter().next();
        Ok(match row.as_deref() {
            Some([db::Raw::Text(ty), db::Raw::Bytes(b)]) if ty == "blob" => {
                sql::StreamKey::Bytes(b.clone())
            }
            Some([_, db::Raw::Bytes(b)]) => match std::str::from_utf8(b) {
                Ok(t) => sql::StreamKey::Text(t.to_string()),
                Err(_) => sql::StreamKey::BytesAsText(b.clone()),
            },
            _ => src.stream_key_guess(stream),
        })
    }

    /// Events in (stream, version) order after a (stream, version) key, as `what` says: the
    /// scan a store-wide fold needs (the (stream, version) index).
    pub async fn read_by_stream(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
        what: &ByStream,
    ) -> Result<Vec<Event>, StoreError> {
        let src = &self.global;
        let mut sql = src.select_where(&src.select_columns(what.columns));
        if let Some(s) = &what.stream {
            src.push_stream_eq(&mut sql, s);
        }
        if let Some(c) = &what.category {
            src.push_category(&mut sql, c);
        }
        let uuid = src.stream.enc == layout::Encoding::Uuid;
        if let Some(last) = &what.up_to {
            let key = self.stream_key(&src.from, &src.stream_raw, last).await?;
            sql.push(&format!(" AND {} <= ", src.stream_raw));
            self.push_key(&mut sql, uuid, &key);
        }
        if let Some((s, v)) = after {
            let key = self.stream_key(&src.from, &src.stream_raw, s).await?;
            self.push_pair_after(
                &mut sql,
                &src.stream_raw.clone(),
                uuid,
                &src.version.sql.clone(),
                (&key, v),
            );
        }
        sql.push(&format!(
            " ORDER BY {} ASC, {} ASC LIMIT ",
            src.stream_raw, src.version.sql
        ));
        sql.bind(Param::I64(limit.into()));
        self.fetch_events(src, &sql).await
    }

    /// Snapshots in (stream, version) order after a key, every stream or a category / one
    /// stream (empty when the layout keeps none).
    pub async fn snapshots_by_stream(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
        category: Option<&str>,
        stream: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let Some(sl) = &self.layout.snapshots else {
            return Ok(vec![]);
        };
        let d = self.dialect();
        let q = |c: &layout::Column| format!("n.{}", d.quote(&c.name));
        let uuid = sl.stream.encoding == layout::Encoding::Uuid;
        let text_col = if uuid && d == Dialect::Postgres {
            format!("CAST({} AS TEXT)", q(&sl.stream))
        } else {
            q(&sl.stream)
        };
        let mut sql = Sql::new(d);
        sql.push(&self.snapshot_select(sl)).push(" WHERE 1=1");
        if let Some(s) = stream {
            sql.push(&format!(" AND {text_col} = "))
                .bind(Param::Text(s.to_string()));
        }
        if let Some(c) = category {
            sql.push(&format!(" AND ({text_col} = "))
                .bind(Param::Text(c.to_string()))
                .push(&format!(" OR {text_col} LIKE "))
                .bind(Param::Text(sql::like_prefix(&format!("{c}-"))))
                .push(" ESCAPE '!')");
        }
        if let Some((s, v)) = after {
            let key = sql::StreamKey::Text(s.to_string());
            self.push_pair_after(&mut sql, &q(&sl.stream), uuid, &q(&sl.version), (&key, v));
        }
        sql.push(&format!(
            " ORDER BY {} ASC, {} ASC LIMIT ",
            q(&sl.stream),
            q(&sl.version)
        ));
        sql.bind(Param::I64(limit.into()));
        self.fetch_snapshots(sl, &sql).await
    }

    /// The newest global position visible now (None: empty store, or no position column).
    pub async fn max_position(&self) -> Result<Option<i64>, StoreError> {
        let src = &self.global;
        let Some(pos) = &src.position else {
            return Ok(None);
        };
        let mut sql = src.select_where(&self.dialect().select_expr(&pos.sql, pos.enc));
        sql.push(" ORDER BY ").push(&pos.sql).push(" DESC LIMIT 1");
        let rows = self.db.fetch_raw(&sql, &[Some(pos.enc)]).await?;
        Ok(rows.into_iter().next().and_then(|r| r[0].int()))
    }
}

/// A snapshot layout's `state_jq` on a stored state: its first output (bounded as every jq
/// run is).
fn run_state_jq(
    f: &jaq_core::Filter<crate::jq::Data>,
    v: &serde_json::Value,
) -> Result<serde_json::Value, StateJqError> {
    let _bound = crate::jq::bounded();
    let vars: [jaq_json::Val; 0] = [];
    let ctx = jaq_core::Ctx::<crate::jq::Data>::new(&f.lut, jaq_core::Vars::new(vars));
    let mut outs = f.id.run((ctx, crate::jq::json_to_val(v)));
    match outs.next() {
        None => Err(StateJqError::NoOutput),
        Some(Ok(v)) => Ok(crate::jq::val_to_json(&v)),
        Some(Err(e)) => Err(StateJqError::Run(crate::jq::run_error(e, "state_jq"))),
    }
}

/// Why a snapshot layout's `state_jq` gave no state for a stored one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum StateJqError {
    #[error("it gave no output")]
    NoOutput,
    #[error(transparent)]
    Run(crate::jq::RunError),
}

/// Keyset condition on (recorded_at, stream, version) for layouts without a position.
fn push_ordered_keyset(
    src: &Source,
    sql: &mut Sql,
    at: DateTime<Utc>,
    stream: &str,
    version: i64,
    forward: bool,
    inclusive: bool,
) {
    let gt = if forward { ">" } else { "<" };
    let last = if inclusive {
        if forward { ">=" } else { "<=" }
    } else {
        gt
    };
    sql.push(" AND (");
    src.push_time_cmp(sql, gt, at);
    sql.push(" OR (");
    src.push_time_cmp(sql, "=", at);
    let key = src.stream_key_guess(stream);
    sql.push(" AND (")
        .push(&src.stream_raw)
        .push(&format!(" {gt} "));
    key.push(sql);
    sql.push(" OR (").push(&src.stream_raw).push(" = ");
    key.push(sql);
    sql.push(" AND ")
        .push(&src.version.sql)
        .push(&format!(" {last} "));
    sql.bind(Param::I64(version));
    sql.push("))))");
}
