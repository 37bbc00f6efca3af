//! Connections (read-only by construction) and row decoding for the three databases.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgValueFormat};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{ColumnIndex, Decode, Executor, Row, Type, TypeInfo, ValueRef};

use super::StoreError;
use super::layout::Encoding;
use super::model::{Event, Exact};
pub use super::problem::{Problem, ProblemKind};
use super::sql::{Dialect, Param, Sql};
use crate::exact::{self, ExactJson};
use crate::redact::redact_url;

/// Queries captured for benchmarks (see [`capture`]); off unless asked for.
static CAPTURING: AtomicBool = AtomicBool::new(false);
static CAPTURED: Mutex<Vec<Sql>> = Mutex::new(Vec::new());

/// Start (true) or stop (false) recording every query run, and return what was recorded.
/// Benchmarks use it to time the very same SQL with psql.
pub fn capture(on: bool) -> Vec<Sql> {
    CAPTURING.store(on, Ordering::SeqCst);
    std::mem::take(&mut *CAPTURED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Connections per pool, opened when needed: enough for `verify-snapshots --jobs 8` (a read
/// per part being checked, one for the part queued next and one for the snapshots).
pub const MAX_CONNECTIONS: u32 = 10;

/// A pooled connection idle this long is pinged before it is handed out (one that fails is
/// closed and another one taken); one used moments ago is not, so the reads of a scroll or
/// a replay spend no round trip on a ping each (sqlx's default pings on every acquire).
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long opening a store waits for the server when nothing else says (`--connect-timeout`,
/// `connect_timeout` in the config file).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection made and closed before the pool is built, within `within`: a pool retries
/// a refused connection until its own timeout and then says only "pool timed out", while
/// this says why (refused, no such host, no answer, bad password) at once.
async fn probe<C: sqlx::Connection>(
    connecting: impl std::future::Future<Output = Result<C, sqlx::Error>>,
    within: Duration,
    shown: &str,
    url: &str,
) -> Result<(), StoreError> {
    match tokio::time::timeout(within, connecting).await {
        Err(_) => Err(StoreError::Connect(format!(
            "{shown}: no answer within {}s (is the server up, and its port open to this machine? --connect-timeout waits longer)",
            within.as_secs_f64()
        ))),
        Ok(Err(e)) => Err(StoreError::from_sqlx(e, shown, url)),
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
            Ok(())
        }
    }
}

/// A pool on one of the three databases.
#[derive(Debug, Clone)]
pub enum Db {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// A value as read off the wire, before it becomes a canonical field.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Time(DateTime<Utc>),
    /// A time the column holds that is no point in time evscope can represent (PostgreSQL's
    /// `infinity`, a year past 262143, MariaDB's zero date), as the database writes it.
    BadTime(String),
}

/// The pools' check before handing a connection out: a ping, only once it has been idle for
/// [`PING_AFTER_IDLE`] (a failed ping closes it, and the pool takes another).
fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if meta.idle_for >= PING_AFTER_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
}

impl Db {
    /// Open a read-only pool. PostgreSQL: every transaction read-only
    /// (`default_transaction_read_only`), session time zone UTC. MySQL: `SET SESSION TRANSACTION
    /// READ ONLY`, time zone +00:00. SQLite: `mode=ro`.
    pub async fn connect(url: &str, within: Duration) -> Result<Db, StoreError> {
        let shown = redact_url(url);
        let err = |e: sqlx::Error| StoreError::from_sqlx(e, &shown, url);
        let acquire = within.max(Duration::from_secs(10));
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(err)?
                .application_name("evscope")
                .options([("default_transaction_read_only", "on"), ("TimeZone", "UTC")]);
            probe(sqlx::ConnectOptions::connect(&opts), within, &shown, url).await?;
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(acquire)
                .test_before_acquire(false)
                .before_acquire(ping_if_idle)
                .connect_with(opts)
                .await
                .map_err(err)?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url2 = url.replacen("mariadb://", "mysql://", 1);
            let opts = MySqlConnectOptions::from_str(&url2).map_err(err)?;
            probe(sqlx::ConnectOptions::connect(&opts), within, &shown, url).await?;
            let pool = MySqlPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(acquire)
                .test_before_acquire(false)
                .before_acquire(ping_if_idle)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("SET SESSION TRANSACTION READ ONLY").await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(err)?;
            Ok(Db::MySql(pool))
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(err)?
                .read_only(true)
                .create_if_missing(false);
            let path = opts.get_filename().to_path_buf();
            if !path.as_os_str().is_empty()
                && path != std::path::Path::new(":memory:")
                && !path.exists()
            {
                return Err(StoreError::Connect(format!(
                    "{shown}: no such SQLite file {}",
                    path.display()
                )));
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .connect_with(opts)
                .await
                .map_err(err)?;
            Ok(Db::Sqlite(pool))
        } else {
            Err(StoreError::Connect(format!(
                "{shown}: unsupported URL scheme (use postgres://, mysql:// or sqlite:)"
            )))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Postgres(_) => Dialect::Postgres,
            Db::MySql(_) => Dialect::MySql,
            Db::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Run a query and turn each row into a vector of raw values, decoding each column with
    /// the encoding given for it (None: integer-or-text, guessed).
    pub async fn fetch_raw(
        &self,
        sql: &Sql,
        encodings: &[Option<Encoding>],
    ) -> Result<Vec<Vec<Raw>>, StoreError> {
        map_rows!(self, sql, |row| encodings
            .iter()
            .enumerate()
            .map(|(i, enc)| get_raw(row, i, *enc, Typed::Checked))
            .collect())
    }

    /// Run a query selecting the eight canonical columns (see `Source::select_list`, encoded
    /// as given) and build each row's event as it arrives.
    pub async fn fetch_events(&self, sql: &Sql, d: &Decoding) -> Result<Vec<Event>, StoreError> {
        // The columns' types are checked on the first row, for all of them.
        let mut typed = None;
        map_rows!(self, sql, |row| {
            let t = typed.get_or_insert_with(|| Typed::of(row));
            event_from_row(row, d, t)
        })
    }
}

/// `$sql` as a sqlx query with its parameters bound (logged, and captured for tests).
macro_rules! bound {
    ($sql:expr) => {{
        let sql: &Sql = $sql;
        tracing::debug!(sql = %sql.text, params = ?sql.params, "query");
        if CAPTURING.load(Ordering::Relaxed) {
            CAPTURED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sql.clone());
        }
        let mut q = sqlx::query(&sql.text);
        for p in &sql.params {
            q = match p {
                Param::I64(v) => q.bind(*v),
                Param::Text(v) => q.bind(v.as_str()),
                Param::Time(v) => q.bind(*v),
                Param::Bool(v) => q.bind(*v),
                Param::Bytes(v) => q.bind(v.as_slice()),
            };
        }
        q
    }};
}
use bound;

impl Db {
    /// [`Db::fetch_events`] as the rows arrive: events sent in batches of `batch` until the
    /// query ends (or fails: the error is sent), or until `tx` is closed (the reader has what
    /// it wants; the query is dropped with its connection, which is closed). One query,
    /// however many rows it gives: the database plans it whole (in parallel where it can),
    /// where pages are one query each.
    pub async fn stream_events(
        &self,
        sql: &Sql,
        d: &Decoding,
        batch: usize,
        tx: &tokio::sync::mpsc::Sender<Result<Vec<Event>, StoreError>>,
    ) {
        macro_rules! run {
            ($pool:expr) => {{
                let mut conn = match $pool.acquire().await {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(StoreError::query(e))).await;
                        return;
                    }
                };
                let q = bound!(sql);
                let stopped = 'read: {
                    let mut rows = q.fetch(&mut *conn);
                    let mut out = Vec::with_capacity(batch);
                    let mut typed = None;
                    loop {
                        match rows.try_next().await {
                            Ok(Some(row)) => {
                                let t = typed.get_or_insert_with(|| Typed::of(&row));
                                out.push(event_from_row(&row, d, t));
                                if out.len() >= batch
                                    && tx.send(Ok(std::mem::take(&mut out))).await.is_err()
                                {
                                    break 'read true;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                let _ = tx.send(Err(StoreError::query(e))).await;
                                break 'read false;
                            }
                        }
                    }
                    if !out.is_empty() {
                        let _ = tx.send(Ok(out)).await;
                    }
                    false
                };
                if stopped {
                    // The reader went away before the query's end: its connection is closed
                    // (the server stops sending), not put back in the pool with the rest of
                    // the rows still to come, which its next user would wait for while sqlx
                    // reads and discards them.
                    drop(conn.detach());
                }
            }};
        }
        match self {
            Db::Postgres(p) => run!(p),
            Db::MySql(p) => run!(p),
            Db::Sqlite(p) => run!(p),
        }
    }
}

/// Run `$sql` on `$db` and map each row (a `&Row` of whichever database) with `$map`.
macro_rules! map_rows {
    ($db:expr, $sql:expr, |$row:ident| $map:expr) => {{
        let sql: &Sql = $sql;
        macro_rules! run {
            ($pool:expr) => {{
                let q = bound!(sql);
                let mut rows = q.fetch($pool);
                let mut out = Vec::new();
                while let Some(row) = rows.try_next().await.map_err(StoreError::query)? {
                    let $row = &row;
                    out.push($map);
                }
                Ok(out)
            }};
        }
        match $db {
            Db::Postgres(p) => run!(p),
            Db::MySql(p) => run!(p),
            Db::Sqlite(p) => run!(p),
        }
    }};
}
use map_rows;

/// Decode column `i` as the encoding says, trying the wire types each database may use.
/// (Inlined: a row decodes eight columns, and the call per column is measurable.)
#[inline(always)]
fn get_raw<'r, R>(row: &'r R, i: usize, enc: Option<Encoding>, typed: Typed) -> Raw
where
    R: WireTime,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    NaiveDateTime: Decode<'r, R::Database> + Type<R::Database>,
{
    fn opt<T>(r: Result<Option<T>, sqlx::Error>, f: impl FnOnce(T) -> Raw) -> Option<Raw> {
        r.ok().map(|v| v.map_or(Raw::Null, f))
    }
    // A column whose type was checked once (see [`Typed`]) is decoded without the check.
    let int = || {
        if typed == Typed::Int {
            if let Some(v) = opt(row.try_get_unchecked::<Option<i64>, _>(i), Raw::Int) {
                return Some(v);
            }
        }
        opt(row.try_get::<Option<i64>, _>(i), Raw::Int)
            .or_else(|| opt(row.try_get::<Option<i32>, _>(i), |v| Raw::Int(v.into())))
            .or_else(|| opt(row.try_get::<Option<bool>, _>(i), |v| Raw::Int(v.into())))
    };
    let text = || {
        if typed == Typed::Text {
            if let Some(v) = opt(row.try_get_unchecked::<Option<String>, _>(i), Raw::Text) {
                return Some(v);
            }
        }
        opt(row.try_get::<Option<String>, _>(i), Raw::Text)
    };
    let bytes = || opt(row.try_get::<Option<Vec<u8>>, _>(i), Raw::Bytes);
    let time = || {
        opt(row.try_get::<Option<DateTime<Utc>>, _>(i), Raw::Time).or_else(|| {
            opt(row.try_get::<Option<NaiveDateTime>, _>(i), |t| {
                Raw::Time(t.and_utc())
            })
        })
    };
    use Encoding as E;
    let v = match enc {
        Some(E::Integer | E::EpochMs | E::Boolean) => int().or_else(text),
        Some(E::Bytes) => bytes().or_else(text),
        // The wire form first: sqlx's own decoding panics on PostgreSQL's infinities and
        // years past chrono's, and takes MariaDB's zero date for NULL.
        Some(E::Timestamp) => row.wire_time(i).or_else(time).or_else(text).or_else(int),
        Some(_) => text().or_else(bytes),
        None => int().or_else(text).or_else(bytes),
    };
    v.unwrap_or_else(|| {
        // Not one of the types we know: say so in the value rather than fail the read.
        Raw::Text(format!(
            "<unreadable column {} of type {:?}>",
            i,
            sqlx::Column::type_info(row.column(i))
        ))
    })
}

/// A native time column decoded from its wire form by evscope itself, where sqlx's decoding
/// cannot be trusted with every value a database stores: PostgreSQL sends `timestamptz` as
/// microseconds since 2000-01-01, `infinity` and `-infinity` as `i64::MAX` and `i64::MIN`, and
/// years up to 294276, which sqlx adds to its epoch with chrono's panicking `+`; MariaDB sends
/// its zero date (`0000-00-00 00:00:00`) as an empty value, which sqlx reports as NULL. `None`:
/// not a native time column here (the generic decoding applies).
pub trait WireTime: Row {
    fn wire_time(&self, i: usize) -> Option<Raw>;
    /// Whether every value of a column has the column's type (PostgreSQL, MySQL: a result
    /// describes its columns once), so that a type checked once serves every row; SQLite's
    /// values each have their own.
    const TYPED_COLUMNS: bool;
}

/// What a column of a result decodes as without checking each value's type (see
/// [`Typed::of`]); `Checked`: the type is checked on every value, as sqlx's `try_get` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    Int,
    Text,
    Checked,
}

impl Typed {
    /// The columns of `row`'s result (the first row tells): those whose type is one an
    /// `i64` or a text decodes from, where every value has its column's type. The check is
    /// the one sqlx makes per value, made once.
    pub fn of<R>(row: &R) -> [Typed; 8]
    where
        R: WireTime,
        i64: Type<R::Database>,
        String: Type<R::Database>,
    {
        let mut t = [Typed::Checked; 8];
        if !R::TYPED_COLUMNS {
            return t;
        }
        for (i, c) in row.columns().iter().enumerate().take(8) {
            let ty = sqlx::Column::type_info(c);
            t[i] = if <i64 as Type<R::Database>>::compatible(ty) {
                Typed::Int
            } else if <String as Type<R::Database>>::compatible(ty) {
                Typed::Text
            } else {
                Typed::Checked
            };
        }
        t
    }
}

impl WireTime for PgRow {
    const TYPED_COLUMNS: bool = true;
    #[inline]
    fn wire_time(&self, i: usize) -> Option<Raw> {
        let v = self.try_get_raw(i).ok()?;
        if !matches!(v.type_info().name(), "TIMESTAMPTZ" | "TIMESTAMP") {
            return None;
        }
        if v.is_null() {
            return Some(Raw::Null);
        }
        if !matches!(v.format(), PgValueFormat::Binary) {
            return None; // text (never asked for): parsed as text, "infinity" flagged there
        }
        let us: [u8; 8] = v.as_bytes().ok()?.try_into().ok()?;
        Some(pg_time(i64::from_be_bytes(us)))
    }
}

impl WireTime for MySqlRow {
    const TYPED_COLUMNS: bool = true;
    #[inline]
    fn wire_time(&self, i: usize) -> Option<Raw> {
        let v = self.try_get_raw(i).ok()?;
        if !matches!(v.type_info().name(), "DATETIME" | "TIMESTAMP" | "DATE") {
            return None;
        }
        // The bytes as sent (sqlx's `is_null` is true for a zero date as for NULL; only a
        // real NULL has none).
        match <&[u8] as Decode<MySql>>::decode(v) {
            Err(_) => Some(Raw::Null),
            Ok(b) => Some(mysql_time(b)),
        }
    }
}

impl WireTime for SqliteRow {
    const TYPED_COLUMNS: bool = false;
    #[inline]
    fn wire_time(&self, _: usize) -> Option<Raw> {
        None // text or numbers, decoded without panics
    }
}

/// Microseconds from 2000-01-01 to 1970-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A PostgreSQL `timestamp[tz]` sent as microseconds since 2000-01-01 (UTC).
fn pg_time(us: i64) -> Raw {
    match us {
        i64::MAX => Raw::BadTime("infinity".into()),
        i64::MIN => Raw::BadTime("-infinity".into()),
        _ => us
            .checked_add(PG_EPOCH_US)
            .and_then(DateTime::from_timestamp_micros)
            .map_or_else(|| Raw::BadTime(civil_text(us)), Raw::Time),
    }
}

/// Microseconds since 2000-01-01 as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, for any year (chrono's
/// end at 262143).
fn civil_text(us: i64) -> String {
    let us = i128::from(us) + i128::from(PG_EPOCH_US);
    let (secs, micros) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A MySQL/MariaDB `DATETIME`/`TIMESTAMP`/`DATE` as the binary protocol sends it: a length
/// (0, 4, 7 or 11), year (2 bytes LE), month, day, hour, minute, second, microseconds (4 bytes
/// LE). Zero parts, which `sql_mode` may let a column hold, are no date: kept as written.
fn mysql_time(b: &[u8]) -> Raw {
    let binary = b
        .split_first()
        .is_some_and(|(&n, rest)| matches!(n, 0 | 4 | 7 | 11) && rest.len() == usize::from(n));
    if !binary {
        // The text protocol (never asked for).
        let s = String::from_utf8_lossy(b);
        return parse_time_text(&s).map_or_else(|| Raw::BadTime(s.into_owned()), Raw::Time);
    }
    let at = |k: usize| b.get(k).copied().unwrap_or(0);
    let year = u16::from_le_bytes([at(1), at(2)]);
    let (month, day, h, m, s) = (at(3), at(4), at(5), at(6), at(7));
    let micros = u32::from_le_bytes([at(8), at(9), at(10), at(11)]);
    chrono::NaiveDate::from_ymd_opt(year.into(), month.into(), day.into())
        .and_then(|d| d.and_hms_micro_opt(h.into(), m.into(), s.into(), micros))
        .map_or_else(
            || {
                let frac = if b[0] == 11 {
                    format!(".{micros:06}")
                } else {
                    String::new()
                };
                Raw::BadTime(format!(
                    "{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}{frac}"
                ))
            },
            |t| Raw::Time(t.and_utc()),
        )
}

impl Raw {
    pub fn int(&self) -> Option<i64> {
        match self {
            Raw::Int(i) => Some(*i),
            Raw::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }
    pub fn text(self) -> String {
        match self {
            Raw::Null => String::new(),
            Raw::Int(i) => i.to_string(),
            Raw::Text(t) => t,
            Raw::Bytes(b) => match String::from_utf8(b) {
                Ok(t) => t,
                Err(e) => escape_bytes(e.as_bytes()),
            },
            Raw::Time(t) => super::model::format_time(&t),
            Raw::BadTime(t) => t,
        }
    }
}

/// Bytes that are not valid UTF-8, as text that names them exactly: the characters as they
/// are, each byte that is no part of one as `\xHH`, and a backslash as `\x5c` (so that
/// [`unescape_bytes`] gives the bytes back).
pub fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                s.push_str("\\x5c");
            } else {
                s.push(c);
            }
        }
        for x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    s
}

/// The bytes a text made by [`escape_bytes`] names, when it is one: every backslash starts a
/// `\xHH`, and the bytes are not valid UTF-8 (`None` for any other text).
pub fn unescape_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.contains("\\x") {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let hex = s.get(i + 2..i + 4).filter(|h| {
                b.get(i + 1) == Some(&b'x') && h.bytes().all(|c| c.is_ascii_hexdigit())
            })?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&out).is_err().then_some(out)
}

/// A text column's value; bytes that are not valid UTF-8 are flagged in `problems` (with the
/// bytes in hex) and named as [`escape_bytes`] writes them.
pub fn text_value(raw: Raw, field: &str, problems: &mut Vec<Problem>) -> String {
    match raw {
        Raw::Bytes(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(e) => {
                let b = e.as_bytes();
                problems.push(not_utf8(field, b));
                escape_bytes(b)
            }
        },
        r => r.text(),
    }
}

/// The problem of a text value that is not valid UTF-8.
pub fn not_utf8(field: &str, b: &[u8]) -> Problem {
    const SHOWN: usize = 64;
    let mut hex: Vec<String> = b.iter().take(SHOWN).map(|x| format!("{x:02x}")).collect();
    if b.len() > SHOWN {
        hex.push(format!("… ({} bytes)", b.len()));
    }
    Problem::new(
        field,
        ProblemKind::InvalidUtf8,
        format!(
            "{field} is not valid UTF-8 (bytes {}): shown with \\xHH for each byte that is not part of a character",
            hex.join(" ")
        ),
    )
}

fn not_json(field: &str, e: &serde_json::Error) -> Problem {
    Problem::new(
        field,
        ProblemKind::InvalidJson,
        format!("{field} is not valid JSON ({e})"),
    )
}

/// How deep JSON may nest and still be read as a value. serde_json stops at 128, which jsonb
/// (and any text column) goes well past. Deeper JSON is parsed on a stack grown as needed (see
/// [`exact::parse_deep`]), but the value then travels through code that walks it recursively
/// on an ordinary thread stack (serializing it, jq, the TUI's tree, dropping it): jq, the
/// deepest of those walks, overflows a tokio worker's 2 MiB near 1,900 levels in a debug
/// build. 1,000 keeps every walk within about half its stack, and is where SQLite's own JSON
/// functions stop (MySQL's stop at 100; PostgreSQL's jsonb parser at its `max_stack_depth`,
/// short of 10,000 levels by default). Deeper JSON is kept as its text, flagged.
pub const MAX_JSON_DEPTH: usize = 1000;

/// Parse a column's JSON text; on failure keep the text as a string and describe the problem.
/// JSON text as an event's field is read: its value, exact text, repeated key and problems.
pub(crate) fn parse_json(t: &str, field: &str, problems: &mut Vec<Problem>) -> JsonField {
    let e = match exact::read(t) {
        Ok(p) => return parsed(t, p, field, problems),
        Err(e) => e,
    };
    // Deeper than serde_json's limit: read it on a grown stack, up to MAX_JSON_DEPTH.
    let parsed_deep = if e.to_string().starts_with("recursion limit exceeded") {
        let depth = nesting_depth(t);
        if depth > MAX_JSON_DEPTH {
            problems.push(too_deep(field, depth));
            return JsonField::value(Value::String(t.to_string()));
        }
        exact::read_deep(t)
    } else {
        Err(e)
    };
    match parsed_deep {
        Ok(p) => parsed(t, p, field, problems),
        Err(e) => {
            problems.push(not_json(field, &e));
            JsonField::value(Value::String(t.to_string()))
        }
    }
}

fn parsed(t: &str, p: exact::Parsed, field: &str, problems: &mut Vec<Problem>) -> JsonField {
    let repeated = p.duplicate.map(|k| {
        problems.push(repeated_key(field, &k));
        t.into()
    });
    JsonField {
        value: p.value,
        exact: p.exact,
        repeated,
    }
}

/// The problem of JSON text whose object repeats a key.
fn repeated_key(field: &str, key: &str) -> Problem {
    Problem::new(
        field,
        ProblemKind::RepeatedKey,
        format!(
            "{field} repeats the key {} in one object: the first is read (as MariaDB's and SQLite's JSON functions read it; PostgreSQL's jsonb and jq would keep the last)",
            Value::String(key.to_string())
        ),
    )
}

/// The problem of JSON nested deeper than [`MAX_JSON_DEPTH`].
fn too_deep(field: &str, depth: usize) -> Problem {
    Problem::new(
        field,
        ProblemKind::JsonTooDeep,
        format!(
            "{field} is JSON nested {depth} levels deep, deeper than the {MAX_JSON_DEPTH} evscope reads: kept as its text"
        ),
    )
}

/// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not
/// count).
fn nesting_depth(t: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in t.as_bytes() {
        if in_str {
            match c {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parse a JSON value; on failure keep the raw text and describe the problem.
pub fn json_value(raw: Raw, field: &str, problems: &mut Vec<Problem>) -> Value {
    json_exact(raw, field, problems).value
}

/// A JSON column as read: its value, and the stored text when the value does not hold the
/// text exactly.
#[derive(Debug, Clone)]
pub struct JsonField {
    pub value: Value,
    /// The text, when it holds a number the value does not hold exactly.
    pub exact: Option<ExactJson>,
    /// The text as stored, when one of its objects repeats a key (the value holds the first
    /// of each; see [`exact::Parsed::duplicate`]): what a seal hashes for it.
    pub repeated: Option<Box<str>>,
}

impl JsonField {
    fn value(value: Value) -> JsonField {
        JsonField {
            value,
            exact: None,
            repeated: None,
        }
    }
}

/// [`json_value`], and the stored text when the value does not hold it exactly.
pub fn json_exact(raw: Raw, field: &str, problems: &mut Vec<Problem>) -> JsonField {
    match raw {
        Raw::Null => JsonField::value(Value::Null),
        Raw::Text(t) => parse_json(&t, field, problems),
        Raw::Bytes(b) => match std::str::from_utf8(&b) {
            Ok(t) => parse_json(t, field, problems),
            Err(_) => match serde_json::from_slice(&b) {
                Ok(v) => JsonField::value(v),
                Err(e) => {
                    problems.push(not_json(field, &e));
                    JsonField::value(Value::String(Raw::Bytes(b).text()))
                }
            },
        },
        Raw::Int(i) => JsonField::value(Value::from(i)),
        Raw::Time(t) => JsonField::value(Value::String(super::model::format_time(&t))),
        Raw::BadTime(t) => JsonField::value(Value::String(t)),
    }
}

/// The problem of an event whose data column is NULL (a mapped column that allows it): the
/// event's data is `null`, which is not what any event was written with.
pub const NULL_DATA: &str = "data is NULL (the column holds no value; shown as null)";

/// [`NULL_DATA`] as a problem.
pub fn null_data() -> Problem {
    Problem::new("data", ProblemKind::NullData, NULL_DATA.to_string())
}

/// Parse a time in the given encoding (the event's `recorded_at`).
pub fn time_value(raw: Raw, enc: Encoding, problems: &mut Vec<Problem>) -> Option<DateTime<Utc>> {
    time_field(raw, enc, "recorded_at", problems)
}

/// Parse a time in the given encoding; a value that is no time evscope can represent is
/// `None`, and `problems` says what the column held.
pub fn time_field(
    raw: Raw,
    enc: Encoding,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<DateTime<Utc>> {
    let t = match (&raw, enc) {
        (Raw::Null, _) => return None,
        (Raw::Time(t), _) => Some(*t),
        (Raw::BadTime(held), _) => {
            problems.push(Problem::new(
                field,
                ProblemKind::InvalidTime,
                format!(
                    "{field} holds {held:?}, which is not a time evscope can represent (shown as null)"
                ),
            ));
            return None;
        }
        (Raw::Int(ms), Encoding::EpochMs) => DateTime::from_timestamp_millis(*ms),
        (Raw::Int(s), _) => DateTime::from_timestamp(*s, 0),
        (Raw::Text(s), _) => parse_time_text(s),
        (Raw::Bytes(b), _) => std::str::from_utf8(b).ok().and_then(parse_time_text),
    };
    if t.is_none() {
        let mut text = raw.text();
        if text.len() > 200 {
            let mut end = 200;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        problems.push(Problem::new(
            field,
            ProblemKind::InvalidTime,
            format!("{field} {text:?} is not a readable time"),
        ));
    }
    t
}

/// RFC 3339 / ISO-8601 with or without offset (no offset = UTC), `T` or space separated.
pub fn parse_time_text(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// How a row of the eight canonical columns (see `Source::select_list`) is made an event.
#[derive(Debug, Clone)]
pub struct Decoding {
    /// Each column's encoding.
    pub encodings: [Option<Encoding>; 8],
    /// The time's encoding, and the path in the data it is read from (empty: its column).
    pub time_enc: Encoding,
    pub time_path: Vec<String>,
    /// Data and metadata that arrive as text are kept as their text, unparsed (see
    /// `Exact::unparsed`), unless the time is read from the data.
    pub json_text: bool,
}

/// Build an event from a row of the eight canonical columns (see `Source::select_list`).
fn event_from_row<'r, R>(row: &'r R, d: &Decoding, typed: &[Typed; 8]) -> Event
where
    R: WireTime,
    usize: ColumnIndex<R>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    NaiveDateTime: Decode<'r, R::Database> + Type<R::Database>,
{
    let (enc, time_enc, time_path) = (&d.encodings, d.time_enc, d.time_path.as_slice());
    let col = |i: usize| get_raw(row, i, enc[i], typed[i]);
    // A JSON column's text, from the row's own buffer (no copy), when it arrives as text
    // (`Some(None)`: NULL); `None` for other types, read as [`json_exact`] reads them.
    let text_of = |i: usize| match enc[i] {
        Some(Encoding::Bytes) => None,
        _ if typed[i] == Typed::Text => row
            .try_get_unchecked::<Option<&str>, _>(i)
            .ok()
            .or_else(|| row.try_get::<Option<&str>, _>(i).ok()),
        _ => row.try_get::<Option<&str>, _>(i).ok(),
    };
    // Kept as its stored text, unparsed, when the reader asked for that (and the time is not
    // read from the data).
    let keep_text = d.json_text && time_path.is_empty();
    let mut problems = Vec::new();
    let position = col(0).int();
    let stream_id = text_value(col(1), "stream_id", &mut problems);
    let version_raw = col(2);
    let stream_version = version_raw.int().unwrap_or_else(|| {
        problems.push(Problem::new(
            "stream_version",
            ProblemKind::Other,
            format!(
                "stream_version {:?} is not an integer",
                version_raw.clone().text()
            ),
        ));
        -1
    });
    let mut event_id = text_value(col(3), "event_id", &mut problems);
    if event_id.chars().any(char::is_uppercase) {
        event_id = event_id.to_lowercase();
    }
    let event_type = text_value(col(4), "event_type", &mut problems);
    let mut texts: [Option<Box<str>>; 2] = [None, None];
    let mut field = |i: usize, name: &str, problems: &mut Vec<Problem>| match text_of(i) {
        Some(Some(t)) if keep_text => {
            texts[i - 5] = Some(t.into());
            JsonField::value(Value::Null)
        }
        Some(Some(t)) => parse_json(t, name, problems),
        Some(None) => JsonField::value(Value::Null),
        None => json_exact(col(i), name, problems),
    };
    let data = field(5, "data", &mut problems);
    if data.value.is_null() && row.try_get_raw(5).is_ok_and(|v| v.is_null()) {
        problems.push(null_data());
    }
    let metadata = field(6, "metadata", &mut problems);
    let mut exact = Exact::of(&data, &metadata);
    if texts.iter().any(Option::is_some) {
        let mut x = exact.map(Arc::unwrap_or_clone).unwrap_or_default();
        x.unparsed = texts;
        exact = Some(Arc::new(x));
    }
    let (data, metadata) = (data.value, metadata.value);
    let recorded_at = if time_path.is_empty() {
        time_value(col(7), time_enc, &mut problems)
    } else {
        time_value(time_at_path(&data, time_path), time_enc, &mut problems)
    };
    Event {
        global_position: position,
        stream_id,
        stream_version,
        event_id,
        event_type,
        data,
        metadata,
        recorded_at,
        problems,
        exact,
    }
}

/// A time column's raw value, or (`path` not empty) the value at `path` in the raw data
/// selected instead (see `Source::time_select`).
pub fn raw_time(raw: Raw, path: &[String]) -> Raw {
    if path.is_empty() {
        return raw;
    }
    // Read as an event's data is read (the first of a repeated key, numbers past an f64),
    // so that a stream's last time is its last event's.
    let text = match &raw {
        Raw::Text(t) => Some(t.as_str()),
        Raw::Bytes(b) => std::str::from_utf8(b).ok(),
        _ => None,
    };
    text.and_then(|t| exact::parse(t).ok())
        .map_or(Raw::Null, |(v, _)| time_at_path(&v, path))
}

/// The value at `path` in a row's parsed data, as a raw column value for the time decoder:
/// a string or an integer; anything else (missing, null, data that is not JSON) is no time.
pub fn time_at_path(data: &Value, path: &[String]) -> Raw {
    let mut at = data;
    for k in path {
        match at.get(k) {
            Some(v) => at = v,
            None => return Raw::Null,
        }
    }
    match at {
        Value::String(s) => Raw::Text(s.clone()),
        Value::Number(n) => n.as_i64().map_or(Raw::Text(n.to_string()), Raw::Int),
        _ => Raw::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &[Problem]) -> Vec<&str> {
        p.iter().map(|p| p.text.as_str()).collect()
    }

    #[test]
    fn a_time_inside_the_data_is_read_from_the_parsed_data() {
        let path = ["timestamp".to_string(), "_data_".to_string()];
        let d = serde_json::json!({"timestamp": {"_data_": "2026-05-01T10:00:00+00:00"}});
        let mut p = vec![];
        let t = time_value(time_at_path(&d, &path), Encoding::Iso8601, &mut p);
        assert_eq!(t, Some("2026-05-01T10:00:00Z".parse().unwrap()));
        assert!(p.is_empty());
        let ms = serde_json::json!({"timestamp": {"_data_": 1_780_000_000_000_i64}});
        let t = time_value(time_at_path(&ms, &path), Encoding::EpochMs, &mut p);
        assert_eq!(t, DateTime::from_timestamp_millis(1_780_000_000_000));
        // Data that is not JSON (kept as its text), a missing key, null: no time, no failure.
        for d in [
            Value::String("{not json".into()),
            serde_json::json!({"timestamp": {}}),
            serde_json::json!({"timestamp": null}),
            serde_json::json!([1]),
        ] {
            assert_eq!(
                time_value(time_at_path(&d, &path), Encoding::Iso8601, &mut p),
                None
            );
        }
        assert!(p.is_empty(), "{p:?}");
        // The raw data a stream's last time is read from: as the event's data is read, the
        // first of a repeated key.
        let raw = r#"{"timestamp": {"_data_": "2026-05-01T10:00:00Z"}, "timestamp": {"_data_": "2027-01-01T00:00:00Z"}}"#;
        let mut p = vec![];
        let shown = json_value(Raw::Text(raw.into()), "data", &mut p);
        assert_eq!(
            raw_time(Raw::Text(raw.into()), &path),
            time_at_path(&shown, &path)
        );
        assert_eq!(
            raw_time(Raw::Bytes(raw.as_bytes().to_vec()), &path),
            Raw::Text("2026-05-01T10:00:00Z".into())
        );
    }

    #[test]
    fn invalid_json_is_kept_raw_and_flagged() {
        let mut p = vec![];
        let v = json_value(Raw::Text("{not json".into()), "data", &mut p);
        assert_eq!(v, Value::String("{not json".into()));
        assert_eq!(p.len(), 1);
        assert!(p[0].text.starts_with("data is not valid JSON"), "{p:?}");
        assert_eq!(
            (p[0].field.as_str(), p[0].kind),
            ("data", ProblemKind::InvalidJson)
        );
        let v = json_value(Raw::Bytes(br#"{"a":1}"#.to_vec()), "data", &mut p);
        assert_eq!(v, serde_json::json!({"a": 1}));
        let v = json_value(Raw::Bytes(vec![0xff, 0xfe]), "metadata", &mut p);
        assert!(v.is_string());
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn times_parse_in_the_forms_stores_write() {
        let want: DateTime<Utc> = "2026-01-05T10:01:00Z".parse().unwrap();
        for s in [
            "2026-01-05T10:01:00Z",
            "2026-01-05T10:01:00.000000Z",
            "2026-01-05T11:01:00+01:00",
            "2026-01-05 10:01:00",
            "2026-01-05T10:01:00",
            "2026-01-05 10:01:00+00",
        ] {
            assert_eq!(parse_time_text(s), Some(want), "{s}");
        }
        assert_eq!(parse_time_text("yesterday"), None);
        let mut p = vec![];
        assert_eq!(
            time_value(Raw::Int(want.timestamp_millis()), Encoding::EpochMs, &mut p),
            Some(want)
        );
        assert_eq!(
            time_value(Raw::Text("x".into()), Encoding::Iso8601, &mut p),
            None
        );
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn times_past_what_chrono_holds_are_flagged_not_a_panic() {
        assert_eq!(pg_time(i64::MAX), Raw::BadTime("infinity".into()));
        assert_eq!(pg_time(i64::MIN), Raw::BadTime("-infinity".into()));
        // PostgreSQL's last microsecond (294276-12-31 23:59:59.999999) and its first (4714 BC).
        assert_eq!(
            pg_time(9_223_371_331_199_999_999),
            Raw::BadTime("294276-12-31T23:59:59.999999Z".into())
        );
        assert_eq!(
            pg_time(0),
            Raw::Time("2000-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(civil_text(-PG_EPOCH_US - 1), "1969-12-31T23:59:59.999999Z");
        let mut p = vec![];
        assert_eq!(
            time_value(pg_time(i64::MAX), Encoding::Timestamp, &mut p),
            None
        );
        assert_eq!(
            texts(&p),
            [
                "recorded_at holds \"infinity\", which is not a time evscope can represent (shown as null)"
            ]
        );
        assert_eq!(p[0].kind, ProblemKind::InvalidTime);
        // MySQL's binary DATETIME: the zero date is sent empty; zero parts are no date.
        assert_eq!(mysql_time(&[0]), Raw::BadTime("0000-00-00 00:00:00".into()));
        assert_eq!(
            mysql_time(&[7, 0xea, 0x07, 0, 10, 1, 2, 3]),
            Raw::BadTime("2026-00-10 01:02:03".into())
        );
        assert_eq!(
            mysql_time(&[11, 0xea, 0x07, 1, 5, 10, 1, 0, 0x40, 0xe2, 0x01, 0]),
            Raw::Time("2026-01-05T10:01:00.123456Z".parse().unwrap())
        );
        assert_eq!(
            mysql_time(b"2026-01-05 10:01:00"),
            Raw::Time("2026-01-05T10:01:00Z".parse().unwrap())
        );
        let mut p = vec![];
        let long = "9".repeat(5000);
        assert_eq!(
            time_field(Raw::Text(long), Encoding::Iso8601, "taken_at", &mut p),
            None
        );
        assert!(
            p[0].text.starts_with("taken_at \"999")
                && p[0].text.len() < 300
                && p[0].field == "taken_at",
            "{p:?}"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_exactly_and_flagged() {
        let b = b"bad\xff-\\1\xe2\x82".to_vec();
        let shown = escape_bytes(&b);
        assert_eq!(shown, "bad\\xff-\\x5c1\\xe2\\x82");
        assert_eq!(unescape_bytes(&shown), Some(b.clone()));
        assert_eq!(Raw::Bytes(b.clone()).text(), shown);
        // Text that names valid UTF-8, or is not in that form, names no bytes.
        for s in ["ok-1", "a\\x41", "a\\xfz", "a\\", "a\\x+f", "€\\x"] {
            assert_eq!(unescape_bytes(s), None, "{s}");
        }
        let mut p = vec![];
        assert_eq!(text_value(Raw::Bytes(b), "stream_id", &mut p), shown);
        assert_eq!(
            texts(&p),
            [
                "stream_id is not valid UTF-8 (bytes 62 61 64 ff 2d 5c 31 e2 82): shown with \\xHH for each byte that is not part of a character"
            ]
        );
        assert_eq!(p[0].kind, ProblemKind::InvalidUtf8);
        assert_eq!(
            text_value(Raw::Bytes(b"ok".to_vec()), "stream_id", &mut p),
            "ok"
        );
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn json_deeper_than_serde_json_goes_is_read_up_to_the_limit() {
        let nested = |n: usize| format!("{}1e400{}", "[".repeat(n), "]".repeat(n));
        let mut p = vec![];
        let f = json_exact(Raw::Text(nested(200)), "data", &mut p);
        assert!(p.is_empty(), "{p:?}");
        assert!(f.value.is_array());
        assert_eq!(f.exact.unwrap().text(), nested(200));
        json_exact(Raw::Text(nested(MAX_JSON_DEPTH)), "data", &mut p);
        assert!(p.is_empty(), "{p:?}");
        let deep = nested(100_000);
        let v = json_value(Raw::Text(deep.clone()), "data", &mut p);
        assert_eq!(v, Value::String(deep));
        assert_eq!(
            texts(&p),
            [
                "data is JSON nested 100000 levels deep, deeper than the 1000 evscope reads: kept as its text"
            ]
        );
        assert_eq!(p[0].kind, ProblemKind::JsonTooDeep);
        // Brackets inside strings do not nest; a deep error is still an error.
        assert_eq!(nesting_depth(r#"{"a": "[[[\"[", "b": [[]]}"#), 3);
        let mut p = vec![];
        json_value(Raw::Text(format!("{}x", "[".repeat(300))), "data", &mut p);
        assert_eq!(p[0].kind, ProblemKind::InvalidJson, "{p:?}");
        assert_eq!(null_data().kind, ProblemKind::NullData);
        assert_eq!(null_data().field, "data");
    }
}
