//! Connections (read-only by construction) and row decoding for the three databases.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ColumnIndex, Decode, Executor, Row, Type};

use super::StoreError;
use super::layout::Encoding;
use super::model::{Event, Exact};
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
}

impl Db {
    /// Open a read-only pool. PostgreSQL: every transaction read-only
    /// (`default_transaction_read_only`), session time zone UTC. MySQL: `SET SESSION TRANSACTION
    /// READ ONLY`, time zone +00:00. SQLite: `mode=ro`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        let shown = redact_url(url);
        let err = |e: sqlx::Error| StoreError::from_sqlx(e, &shown, url);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(err)?
                .application_name("evscope")
                .options([("default_transaction_read_only", "on"), ("TimeZone", "UTC")]);
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(err)?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url2 = url.replacen("mariadb://", "mysql://", 1);
            let opts = MySqlConnectOptions::from_str(&url2).map_err(err)?;
            let pool = MySqlPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(10))
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
            .map(|(i, enc)| get_raw(row, i, *enc))
            .collect())
    }

    /// Run a query selecting the eight canonical columns (see `Source::select_list`, encoded
    /// as given) and build each row's event as it arrives.
    pub async fn fetch_events(
        &self,
        sql: &Sql,
        encodings: &[Option<Encoding>; 8],
        time_enc: Encoding,
    ) -> Result<Vec<Event>, StoreError> {
        map_rows!(self, sql, |row| event_from_row(row, encodings, time_enc))
    }
}

/// Run `$sql` on `$db` and map each row (a `&Row` of whichever database) with `$map`.
macro_rules! map_rows {
    ($db:expr, $sql:expr, |$row:ident| $map:expr) => {{
        let sql: &Sql = $sql;
        tracing::debug!(sql = %sql.text, params = ?sql.params, "query");
        if CAPTURING.load(Ordering::Relaxed) {
            CAPTURED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sql.clone());
        }
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query(&sql.text);
                for p in &sql.params {
                    q = match p {
                        Param::I64(v) => q.bind(*v),
                        Param::Text(v) => q.bind(v.as_str()),
                        Param::Time(v) => q.bind(*v),
                        Param::Bool(v) => q.bind(*v),
                    };
                }
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
fn get_raw<'r, R>(row: &'r R, i: usize, enc: Option<Encoding>) -> Raw
where
    R: Row,
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
    let int = || {
        opt(row.try_get::<Option<i64>, _>(i), Raw::Int)
            .or_else(|| opt(row.try_get::<Option<i32>, _>(i), |v| Raw::Int(v.into())))
            .or_else(|| opt(row.try_get::<Option<bool>, _>(i), |v| Raw::Int(v.into())))
    };
    let text = || opt(row.try_get::<Option<String>, _>(i), Raw::Text);
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
        Some(E::Timestamp) => time().or_else(text).or_else(int),
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
            Raw::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
            Raw::Time(t) => super::model::format_time(&t),
        }
    }
}

fn not_json(field: &str, e: &serde_json::Error) -> String {
    format!("{field} is not valid JSON ({e})")
}

/// Parse a JSON value; on failure keep the raw text and describe the problem.
pub fn json_value(raw: Raw, field: &str, problems: &mut Vec<String>) -> Value {
    json_exact(raw, field, problems).0
}

/// [`json_value`], and the stored text when the value does not hold its numbers exactly.
pub fn json_exact(raw: Raw, field: &str, problems: &mut Vec<String>) -> (Value, Option<ExactJson>) {
    let parsed = match &raw {
        Raw::Null => return (Value::Null, None),
        Raw::Text(t) => exact::parse(t),
        Raw::Bytes(b) => match std::str::from_utf8(b) {
            Ok(t) => exact::parse(t),
            Err(_) => serde_json::from_slice(b).map(|v| (v, None)),
        },
        Raw::Int(i) => return (Value::from(*i), None),
        Raw::Time(t) => return (Value::String(super::model::format_time(t)), None),
    };
    parsed.unwrap_or_else(|e| {
        problems.push(not_json(field, &e));
        (Value::String(raw.text()), None)
    })
}

/// Parse a time in the given encoding.
pub fn time_value(raw: Raw, enc: Encoding, problems: &mut Vec<String>) -> Option<DateTime<Utc>> {
    let t = match (&raw, enc) {
        (Raw::Null, _) => return None,
        (Raw::Time(t), _) => Some(*t),
        (Raw::Int(ms), Encoding::EpochMs) => DateTime::from_timestamp_millis(*ms),
        (Raw::Int(s), _) => DateTime::from_timestamp(*s, 0),
        (Raw::Text(s), _) => parse_time_text(s),
        (Raw::Bytes(b), _) => std::str::from_utf8(b).ok().and_then(parse_time_text),
    };
    if t.is_none() {
        problems.push(format!(
            "recorded_at {:?} is not a readable time",
            raw.text()
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

/// Build an event from a row of the eight canonical columns (see `Source::select_list`).
fn event_from_row<'r, R>(row: &'r R, enc: &[Option<Encoding>; 8], time_enc: Encoding) -> Event
where
    R: Row,
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
    let col = |i: usize| get_raw(row, i, enc[i]);
    // A JSON column is parsed from the row's own buffer when it is text (no copy of the
    // text); other types as [`json_exact`] reads them.
    let json = |i: usize, field: &str, problems: &mut Vec<String>| {
        if enc[i] != Some(Encoding::Bytes) {
            if let Ok(text) = row.try_get::<Option<&str>, _>(i) {
                return match text {
                    None => (Value::Null, None),
                    Some(t) => exact::parse(t).unwrap_or_else(|e| {
                        problems.push(not_json(field, &e));
                        (Value::String(t.to_string()), None)
                    }),
                };
            }
        }
        json_exact(col(i), field, problems)
    };
    let mut problems = Vec::new();
    let position = col(0).int();
    let stream_id = col(1).text();
    let version_raw = col(2);
    let stream_version = version_raw.int().unwrap_or_else(|| {
        problems.push(format!(
            "stream_version {:?} is not an integer",
            version_raw.clone().text()
        ));
        -1
    });
    let mut event_id = col(3).text();
    if event_id.chars().any(char::is_uppercase) {
        event_id = event_id.to_lowercase();
    }
    let event_type = col(4).text();
    let (data, data_text) = json(5, "data", &mut problems);
    let (metadata, metadata_text) = json(6, "metadata", &mut problems);
    let exact = (data_text.is_some() || metadata_text.is_some()).then(|| {
        Arc::new(Exact {
            data: data_text,
            metadata: metadata_text,
        })
    });
    let recorded_at = time_value(col(7), time_enc, &mut problems);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_is_kept_raw_and_flagged() {
        let mut p = vec![];
        let v = json_value(Raw::Text("{not json".into()), "data", &mut p);
        assert_eq!(v, Value::String("{not json".into()));
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("data is not valid JSON"), "{p:?}");
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
}
