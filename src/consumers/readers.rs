//! One reader per framework's checkpoint table, each found by its column signature in the
//! catalog of the connected database (any schema), whatever event layout is open.
//!
//! | framework | table | signature |
//! |---|---|---|
//! | native | `evscope_consumers` | name, position, updated_at |
//! | Marten | `mt_event_progression` | name, last_seq_id, last_updated (+ mode, agent_status, ...) |
//! | Eventuous | `checkpoints` | exactly id, position |
//! | Emmett | `emt_processors` | processor_id, partition, version, last_processed_checkpoint |
//! | Commanded | `subscriptions` | subscription_id, stream_uuid, subscription_name, last_seen |
//! | Commanded Ecto projections | `projection_versions` | projection_name, last_seen_event_number |
//! | Axon | `token_entry` / `TokenEntry` | processor_name, segment, token, token_type, owner |
//! | Message DB | `message_store.messages` | position streams, see [`super::messagedb`] |
//! | Python eventsourcing | `{name}_tracking` | exactly application_name, notification_id |

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Consumer, ConsumerError, Counts, Follows, Framework, RowKey};
use crate::store::Store;
use crate::store::db::{Raw, parse_time_text};
use crate::store::detect::{CatTable, catalog};
use crate::store::layout::{Encoding, Ident};
use crate::store::sql::{Dialect, Param, Sql};

/// A catalog table with the dialect to quote it in.
pub struct Tbl<'a> {
    pub cat: &'a CatTable,
    pub d: Dialect,
}

impl Tbl<'_> {
    pub fn has(&self, cols: &[&str]) -> bool {
        cols.iter().all(|c| self.cat.columns.contains_key(*c))
    }
    /// Whether the table has exactly these columns.
    pub fn is_exactly(&self, cols: &[&str]) -> bool {
        self.cat.columns.len() == cols.len() && self.has(cols)
    }
    /// The first of these columns the table has.
    pub fn first_of<'c>(&self, cols: &[&'c str]) -> Option<&'c str> {
        cols.iter()
            .copied()
            .find(|c| self.cat.columns.contains_key(*c))
    }
    pub fn column_type(&self, col: &str) -> &str {
        self.cat.columns.get(col).map_or("", String::as_str)
    }
    /// `schema.table` for people.
    pub fn label(&self) -> String {
        match &self.cat.schema {
            Some(s) if s != "public" => format!("{s}.{}", self.cat.table),
            _ => self.cat.table.clone(),
        }
    }
    /// The quoted, qualified table name (None: a name that is no valid identifier).
    pub fn sql_name(&self) -> Option<String> {
        let t = Ident::new(&self.cat.table).ok()?;
        Some(match &self.cat.schema {
            Some(s) => format!(
                "{}.{}",
                self.d.quote(&Ident::new(s).ok()?),
                self.d.quote(&t)
            ),
            None => self.d.quote(&t),
        })
    }
    /// A column, quoted as the database names it (lower-cased name given).
    pub fn col(&self, lower: &str) -> String {
        let exact = self.cat.exact.get(lower).map_or(lower, String::as_str);
        match Ident::new(exact) {
            Ok(i) => self.d.quote(&i),
            // Catalog names that are not identifiers never reach SQL: the reader skips them.
            Err(_) => "NULL".into(),
        }
    }
    pub fn exact(&self, lower: &str) -> String {
        self.cat
            .exact
            .get(lower)
            .cloned()
            .unwrap_or_else(|| lower.to_string())
    }
    /// `col` put on the wire as `enc` (see `Dialect::select_expr`).
    pub fn sel(&self, lower: &str, enc: Encoding) -> String {
        self.d.select_expr(&self.col(lower), enc)
    }
    pub fn row_key(&self, key: Vec<(&str, Param)>) -> RowKey {
        RowKey {
            schema: self.cat.schema.clone(),
            table: self.cat.table.clone(),
            key: key.into_iter().map(|(c, v)| (self.exact(c), v)).collect(),
            position_column: None,
        }
    }
    /// Whether every column name this reader uses is a valid identifier.
    fn usable(&self, cols: &[&str]) -> bool {
        self.sql_name().is_some() && cols.iter().all(|c| Ident::new(&self.exact(c)).is_ok())
    }
}

/// A time as read: a native timestamp, or text holding one.
pub fn time_of(raw: Raw) -> Option<DateTime<Utc>> {
    match raw {
        Raw::Time(t) => Some(t),
        Raw::Text(s) => parse_time_text(&s),
        Raw::Int(ms) => DateTime::from_timestamp_millis(ms),
        _ => None,
    }
}

/// Text, or None for NULL / empty.
pub fn opt_text(raw: Raw) -> Option<String> {
    match raw {
        Raw::Null => None,
        r => Some(r.text()).filter(|s| !s.is_empty()),
    }
}

const T: Option<Encoding> = Some(Encoding::Text);
const I: Option<Encoding> = Some(Encoding::Integer);
const TS: Option<Encoding> = Some(Encoding::Timestamp);

/// Tables that are partitions of another (PostgreSQL lists them in the catalog too: Emmett's
/// `emt_processors` is list-partitioned).
async fn pg_partitions(store: &Store) -> Result<BTreeSet<(String, String)>, ConsumerError> {
    if store.dialect() != Dialect::Postgres {
        return Ok(BTreeSet::new());
    }
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relispartition",
    );
    let rows = store.db().fetch_raw(&sql, &[T, T]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            (
                it.next().map(Raw::text).unwrap_or_default(),
                it.next().map(Raw::text).unwrap_or_default(),
            )
        })
        .collect())
}

/// Every framework's consumers found in the connected database.
pub async fn read_all(store: &Store) -> Result<Vec<Consumer>, ConsumerError> {
    let cat = catalog(store.db()).await?;
    let parts = pg_partitions(store).await?;
    let d = store.dialect();
    let mut out = Vec::new();
    for t in &cat {
        let key = (t.schema.clone().unwrap_or_default(), t.table.clone());
        if parts.contains(&key) {
            continue;
        }
        let tbl = Tbl { cat: t, d };
        let name = t.table.to_ascii_lowercase();
        if name == "evscope_consumers" && tbl.has(&["name", "position", "updated_at"]) {
            out.extend(native(store, &tbl).await?);
        } else if tbl.has(&["name", "last_seq_id", "last_updated"]) {
            out.extend(marten(store, &tbl, &cat).await?);
        } else if tbl.is_exactly(&["id", "position"]) {
            out.extend(eventuous(store, &tbl).await?);
        } else if tbl.has(&[
            "processor_id",
            "partition",
            "version",
            "last_processed_checkpoint",
        ]) {
            out.extend(emmett(store, &tbl).await?);
        } else if tbl.has(&[
            "subscription_id",
            "stream_uuid",
            "subscription_name",
            "last_seen",
        ]) {
            out.extend(commanded(store, &tbl).await?);
        } else if tbl.has(&["projection_name", "last_seen_event_number"]) {
            out.extend(commanded_ecto(store, &tbl).await?);
        } else if super::axon::is_token_table(&tbl) {
            out.extend(super::axon::read(store, &tbl).await?);
        } else if tbl.is_exactly(&["application_name", "notification_id"]) {
            out.extend(eventsourcing(store, &tbl).await?);
        } else if super::messagedb::is_message_store(&tbl) {
            out.extend(super::messagedb::read(store, &tbl).await?);
        }
    }
    Ok(out)
}

/// Run `SELECT <cols> FROM <table> <tail>`.
async fn select(
    store: &Store,
    tbl: &Tbl<'_>,
    cols: &[String],
    encs: &[Option<Encoding>],
    tail: &str,
) -> Result<Vec<Vec<Raw>>, ConsumerError> {
    let Some(name) = tbl.sql_name() else {
        return Ok(vec![]);
    };
    let mut sql = Sql::new(tbl.d);
    sql.push("SELECT ")
        .push(&cols.join(", "))
        .push(" FROM ")
        .push(&name)
        .push(tail);
    Ok(store.db().fetch_raw(&sql, encs).await?)
}

fn take(it: &mut impl Iterator<Item = Raw>) -> Raw {
    it.next().unwrap_or(Raw::Null)
}

async fn native(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    let opt = |c: &str| {
        if tbl.has(&[c]) {
            tbl.sel(c, Encoding::Text)
        } else {
            "NULL".into()
        }
    };
    if !tbl.usable(&["name", "position", "updated_at"]) {
        return Ok(vec![]);
    }
    let time_enc = if tbl.d == Dialect::Sqlite {
        Encoding::Iso8601
    } else {
        Encoding::Timestamp
    };
    let cols = vec![
        tbl.sel("name", Encoding::Text),
        tbl.sel("position", Encoding::Integer),
        tbl.sel("updated_at", time_enc),
        opt("category"),
        opt("types"),
        opt("status"),
        opt("owner"),
        opt("error"),
    ];
    let rows = select(
        store,
        tbl,
        &cols,
        &[T, I, Some(time_enc), T, T, T, T, T],
        "",
    )
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let name = take(&mut it).text();
        let pos = take(&mut it);
        let mut c = Consumer::new(Framework::Native, name.clone(), tbl.label());
        c.raw_checkpoint = pos.clone().text();
        c.checkpoint = pos.int();
        c.updated_at = time_of(take(&mut it));
        c.follows = Follows {
            category: opt_text(take(&mut it)),
            stream: None,
            types: opt_text(take(&mut it))
                .map(|t| {
                    t.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        };
        c = c.with_status(opt_text(take(&mut it)));
        c.owner = opt_text(take(&mut it));
        if let Some(e) = opt_text(take(&mut it)) {
            c.notes.push(e);
        }
        c.row = Some(tbl.row_key(vec![("name", Param::Text(name))]));
        out.push(c);
    }
    Ok(out)
}

/// Marten's dead letters (events a projection or subscription failed to apply and skipped,
/// kept as `DeadLetterEvent` documents in `mt_doc_deadletterevent` of the same schema), by
/// progression name (`Projection:Shard`, as `mt_event_progression` names it): how many, and
/// the newest one's event sequence. The document's keys follow the store's serializer casing
/// (`ProjectionName` by default, `projectionName` with camel case): both are read.
async fn marten_dead_letters(
    store: &Store,
    tbl: &Tbl<'_>,
    cat: &[CatTable],
) -> Result<std::collections::HashMap<String, (i64, Option<i64>)>, ConsumerError> {
    let mut out = std::collections::HashMap::new();
    let Some(t) = cat.iter().find(|t| {
        t.schema == tbl.cat.schema && t.table.eq_ignore_ascii_case("mt_doc_deadletterevent")
    }) else {
        return Ok(out);
    };
    let t = Tbl { cat: t, d: tbl.d };
    if store.dialect() != crate::store::sql::Dialect::Postgres
        || !t.has(&["data"])
        || !t.usable(&["data"])
        || !t.column_type("data").to_ascii_lowercase().contains("json")
    {
        return Ok(out);
    }
    let d = t.col("data");
    let key = |pascal: &str, camel: &str| format!("COALESCE({d}->>'{pascal}', {d}->>'{camel}')");
    let name = format!(
        "CAST(COALESCE({}, '') || ':' || COALESCE({}, '') AS TEXT)",
        key("ProjectionName", "projectionName"),
        key("ShardName", "shardName")
    );
    let seq = format!(
        "MAX(CASE WHEN {s} ~ '^[0-9]{{1,18}}$' THEN CAST({s} AS BIGINT) END)",
        s = key("EventSequence", "eventSequence")
    );
    let rows = select(
        store,
        &t,
        &[name, "COUNT(*)".into(), seq],
        &[T, I, I],
        " GROUP BY 1",
    )
    .await?;
    for r in rows {
        let mut it = r.into_iter();
        let name = take(&mut it).text();
        let n = take(&mut it).int().unwrap_or(0);
        let last = take(&mut it).int();
        out.insert(name, (n, last));
    }
    Ok(out)
}

/// Rows of `mt_event_progression` that are Marten's own bookkeeping, not projections.
fn marten_internal(name: &str) -> bool {
    name == "HighWaterMark"
        || name.starts_with("HighWaterMark:")
        || name == "HighWaterAllocationFence"
        || name == "HighWaterStuckGap"
}

async fn marten(
    store: &Store,
    tbl: &Tbl<'_>,
    cat: &[CatTable],
) -> Result<Vec<Consumer>, ConsumerError> {
    if !tbl.usable(&["name", "last_seq_id", "last_updated"]) {
        return Ok(vec![]);
    }
    let optional = [
        "mode",
        "agent_status",
        "pause_reason",
        "heartbeat",
        "running_on_node",
        "assigned_node",
        "failure_category",
        "failure_event_sequence",
        "failure_event_type",
    ];
    let mut cols = vec![
        tbl.sel("name", Encoding::Text),
        tbl.sel("last_seq_id", Encoding::Integer),
        tbl.sel("last_updated", Encoding::Timestamp),
    ];
    let mut encs = vec![T, I, TS];
    for o in optional {
        if tbl.has(&[o]) && tbl.usable(&[o]) {
            cols.push(if o == "heartbeat" {
                tbl.sel(o, Encoding::Timestamp)
            } else {
                tbl.sel(o, Encoding::Text)
            });
            encs.push(if o == "heartbeat" { TS } else { T });
        } else {
            cols.push("NULL".into());
            encs.push(T);
        }
    }
    let rows = select(store, tbl, &cols, &encs, "").await?;
    // Skipped positions (the high-water mark passed them as permanent gaps).
    let skips_tbl = cat.iter().find(|t| {
        t.schema == tbl.cat.schema && t.table.eq_ignore_ascii_case("mt_high_water_skips")
    });
    let mut skips: Vec<(i64, i64)> = Vec::new();
    if let Some(st) = skips_tbl {
        let st = Tbl { cat: st, d: tbl.d };
        if st.has(&["starting_sequence", "ending_sequence"])
            && st.usable(&["starting_sequence", "ending_sequence"])
        {
            let rows = select(
                store,
                &st,
                &[
                    st.sel("starting_sequence", Encoding::Integer),
                    st.sel("ending_sequence", Encoding::Integer),
                ],
                &[I, I],
                " ORDER BY 2 DESC LIMIT 1000",
            )
            .await?;
            skips = rows
                .into_iter()
                .filter_map(|r| Some((r[0].int()?, r[1].int()?)))
                .collect();
        }
    }
    let dead = marten_dead_letters(store, tbl, cat).await?;
    let mut out = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let name = take(&mut it).text();
        if marten_internal(&name) {
            continue;
        }
        let pos = take(&mut it);
        let mut c = Consumer::new(Framework::Marten, name.clone(), tbl.label());
        c.raw_checkpoint = pos.clone().text();
        c.checkpoint = pos.int();
        c.updated_at = time_of(take(&mut it));
        let mode = opt_text(take(&mut it));
        let agent = opt_text(take(&mut it));
        let reason = opt_text(take(&mut it));
        let heartbeat = time_of(take(&mut it));
        let running_on = opt_text(take(&mut it));
        let assigned = opt_text(take(&mut it)).filter(|n| n != "0");
        let failure_cat = opt_text(take(&mut it));
        let failure_seq = opt_text(take(&mut it));
        let failure_type = opt_text(take(&mut it));
        let rebuilding = mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("rebuilding"));
        let status = if rebuilding {
            mode.clone()
        } else {
            agent.clone()
        };
        c = c.with_status(status);
        if failure_cat.is_some() && c.state != Some(super::State::Paused) {
            c.state = Some(super::State::Failed);
        }
        c.owner = running_on.or(assigned).map(|n| format!("node {n}"));
        if let Some(h) = heartbeat {
            c.notes.push(format!(
                "heartbeat {}",
                crate::store::model::format_time(&h)
            ));
        }
        if let Some(r) = reason {
            c.notes.push(format!("paused: {r}"));
        }
        if let Some(fc) = failure_cat {
            let mut s = format!("failure {fc}");
            if let Some(q) = failure_seq {
                s.push_str(&format!(" at sequence {q}"));
            }
            if let Some(t) = failure_type {
                s.push_str(&format!(" ({t})"));
            }
            c.notes.push(s);
        }
        if let Some((n, last)) = dead.get(&name) {
            c.dead_letters = Some(*n as u64);
            let at = last.map_or(String::new(), |q| format!(", the last at sequence {q}"));
            c.notes.push(format!(
                "{n} dead letter{}{at} (mt_doc_deadletterevent)",
                if *n == 1 { "" } else { "s" }
            ));
        }
        if let Some(cp) = c.checkpoint {
            if let Some((s, e)) = skips.iter().find(|(s, e)| *s <= cp + 1 && cp < *e) {
                c.gaps.extend(*s..=(*e).min(*s + 99));
                c.notes.push(format!(
                    "the high-water mark skipped positions {s}..{e} (mt_high_water_skips)"
                ));
            }
        }
        c.row = Some(tbl.row_key(vec![("name", Param::Text(name))]));
        out.push(c);
    }
    Ok(out)
}

async fn eventuous(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    if !tbl.usable(&["id", "position"]) {
        return Ok(vec![]);
    }
    let cols = vec![
        tbl.sel("id", Encoding::Text),
        tbl.sel("position", Encoding::Integer),
    ];
    let rows = select(store, tbl, &cols, &[T, I], "").await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let id = take(&mut it).text();
            let pos = take(&mut it);
            let mut c = Consumer::new(Framework::Eventuous, id.clone(), tbl.label());
            c.raw_checkpoint = pos.clone().text();
            c.checkpoint = pos.int();
            match store.stream_subscription(&id) {
                // Said to be a stream subscription: its checkpoint is that stream's version.
                Some(stream) => {
                    c.counts = Counts::StreamVersion;
                    c.follows.stream = Some(stream.to_string());
                    c.notes.push(format!(
                        "Eventuous records no update time; a subscription to stream {stream} (--stream-subscription): its checkpoint is the stream's position"
                    ));
                }
                None => c.notes.push(
                    "Eventuous records no update time; its checkpoint is read as a global position (a stream subscription's is its stream's: --stream-subscription ID=STREAM)".into(),
                ),
            }
            c.row = Some(tbl.row_key(vec![("id", Param::Text(id))]));
            c
        })
        .collect())
}

/// Emmett's `last_processed_checkpoint`: the global position padded to 19 digits, or (0.43+)
/// `<transaction id, 20 digits>:<global position, 19 digits>`.
pub fn emmett_checkpoint(raw: &str) -> Option<i64> {
    let pos = raw.rsplit(':').next()?;
    pos.trim().parse().ok()
}

async fn emmett(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    let base = [
        "processor_id",
        "partition",
        "version",
        "last_processed_checkpoint",
    ];
    if !tbl.usable(&base) {
        return Ok(vec![]);
    }
    let opt = |c: &str, enc: Encoding| {
        if tbl.has(&[c]) && tbl.usable(&[c]) {
            tbl.sel(c, enc)
        } else {
            "NULL".into()
        }
    };
    let time_enc = if tbl.d == Dialect::Sqlite {
        Encoding::Iso8601
    } else {
        Encoding::Timestamp
    };
    let cols = vec![
        tbl.sel("processor_id", Encoding::Text),
        tbl.sel("partition", Encoding::Text),
        tbl.sel("version", Encoding::Integer),
        tbl.sel("last_processed_checkpoint", Encoding::Text),
        opt("status", Encoding::Text),
        opt("processor_instance_id", Encoding::Text),
        opt("last_updated", time_enc),
    ];
    let rows = select(store, tbl, &cols, &[T, T, I, T, T, T, Some(time_enc)], "").await?;
    let mut out = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let id = take(&mut it).text();
        let partition = take(&mut it).text();
        let version = take(&mut it).int().unwrap_or(1);
        let raw = take(&mut it).text();
        let status = opt_text(take(&mut it));
        let instance = opt_text(take(&mut it)).filter(|i| i != "emt:unknown" && i != "unknown");
        let mut c = Consumer::new(Framework::Emmett, id.clone(), tbl.label());
        if partition != "emt:default" && partition != "global" && partition != "emt:global" {
            c.segment = Some(partition.clone());
        }
        if version != 1 {
            c.notes.push(format!("processor version {version}"));
        }
        c.checkpoint = emmett_checkpoint(&raw);
        if c.checkpoint.is_none() && !raw.is_empty() {
            c.unreadable(format!("checkpoint {raw:?} is not a global position"));
        }
        c.raw_checkpoint = raw;
        c = c.with_status(status);
        if c.state == Some(super::State::Running) {
            c.owner = instance.map(|i| format!("instance {i}"));
        }
        c.updated_at = time_of(take(&mut it));
        c.row = Some(tbl.row_key(vec![
            ("processor_id", Param::Text(id)),
            ("partition", Param::Text(partition)),
            ("version", Param::I64(version)),
        ]));
        out.push(c);
    }
    Ok(out)
}

async fn commanded(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    let base = ["subscription_name", "stream_uuid", "last_seen"];
    if !tbl.usable(&base) {
        return Ok(vec![]);
    }
    let with_id = tbl.has(&["subscription_id"]) && tbl.usable(&["subscription_id"]);
    let cols = vec![
        tbl.sel("subscription_name", Encoding::Text),
        tbl.sel("stream_uuid", Encoding::Text),
        tbl.sel("last_seen", Encoding::Integer),
        if with_id {
            tbl.sel("subscription_id", Encoding::Integer)
        } else {
            "NULL".into()
        },
    ];
    let rows = select(store, tbl, &cols, &[T, T, I, I], "").await?;
    let locks = match (with_id, tbl.d) {
        (true, Dialect::Postgres) => Some(commanded_locks(store, tbl).await),
        _ => None,
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let name = take(&mut it).text();
            let stream = take(&mut it).text();
            let seen = take(&mut it);
            let id = take(&mut it).int();
            let mut c = Consumer::new(Framework::Commanded, name.clone(), tbl.label());
            c.raw_checkpoint = seen.clone().text();
            c.checkpoint = seen.int();
            if stream != "$all" {
                c.counts = Counts::StreamVersion;
                c.follows.stream = Some(stream.clone());
                c.segment = Some(stream.clone());
            }
            c.notes.push(
                "Commanded records no update time for a subscription (stalls show in --watch)"
                    .into(),
            );
            match (&locks, id) {
                (Some(Ok(held)), Some(id)) => {
                    // EventStore's second key: the id, folded into an int4.
                    let key = if id > i64::from(i32::MAX) {
                        id % i64::from(i32::MAX)
                    } else {
                        id
                    };
                    c.owner = held.get(&key).cloned();
                    c.lock_held = Some(c.owner.is_some());
                    if c.owner.is_none() {
                        c.notes.push(
                            "no session holds its advisory lock: the subscription is not running"
                                .into(),
                        );
                    }
                }
                (Some(Err(e)), _) => c
                    .notes
                    .push(format!("its advisory lock could not be read ({e})")),
                _ => c.notes.push(
                    "its process holds a PostgreSQL advisory lock while it runs (not seen here)"
                        .into(),
                ),
            }
            c.row = Some(tbl.row_key(vec![
                ("subscription_name", Param::Text(name)),
                ("stream_uuid", Param::Text(stream)),
            ]));
            c
        })
        .collect())
}

/// The sessions holding Commanded subscriptions' advisory locks, by lock key: EventStore takes
/// `pg_try_advisory_lock(<subscriptions table oid>, <subscription id>)` (two int4 keys, since
/// EventStore 1.0; the one-key form of older versions is not read: it cannot be told apart
/// from another application's lock) on a connection of its own for as long as the
/// subscription runs.
async fn commanded_locks(
    store: &Store,
    tbl: &Tbl<'_>,
) -> Result<std::collections::HashMap<i64, String>, String> {
    let name = tbl.sql_name().ok_or("no table name")?;
    let mut sql = Sql::new(tbl.d);
    sql.push(
        "SELECT CAST(l.objid AS BIGINT), CAST(l.pid AS BIGINT), CAST(a.application_name AS TEXT), \
         CAST(host(a.client_addr) AS TEXT) FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.classid = CAST(CAST(CAST(",
    )
    .bind(Param::Text(name))
    .push(" AS TEXT) AS regclass) AS oid)");
    let rows = store
        .db()
        .fetch_raw(&sql, &[I, I, T, T])
        .await
        .map_err(|e| e.to_string())?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let mut it = r.into_iter();
        let (Some(key), pid) = (take(&mut it).int(), take(&mut it).int()) else {
            continue;
        };
        let app = opt_text(take(&mut it));
        let client = opt_text(take(&mut it));
        let mut who = format!("PostgreSQL session {}", pid.unwrap_or_default());
        let what: Vec<String> = [app, client.map(|c| format!("from {c}"))]
            .into_iter()
            .flatten()
            .collect();
        if !what.is_empty() {
            who.push_str(&format!(" ({})", what.join(", ")));
        }
        out.insert(key, who);
    }
    Ok(out)
}

async fn commanded_ecto(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    if !tbl.usable(&["projection_name", "last_seen_event_number"]) {
        return Ok(vec![]);
    }
    let updated = if tbl.has(&["updated_at"]) && tbl.usable(&["updated_at"]) {
        tbl.sel("updated_at", Encoding::Timestamp)
    } else {
        "NULL".into()
    };
    let cols = vec![
        tbl.sel("projection_name", Encoding::Text),
        tbl.sel("last_seen_event_number", Encoding::Integer),
        updated,
    ];
    let rows = select(store, tbl, &cols, &[T, I, TS], "").await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let name = take(&mut it).text();
            let seen = take(&mut it);
            let mut c = Consumer::new(Framework::CommandedEcto, name.clone(), tbl.label());
            c.raw_checkpoint = seen.clone().text();
            c.checkpoint = seen.int();
            c.updated_at = time_of(take(&mut it));
            c.row = Some(tbl.row_key(vec![("projection_name", Param::Text(name))]));
            c
        })
        .collect())
}

/// The row Python eventsourcing keeps in a single-row tracking table to say it is one.
const EVENTSOURCING_MIGRATION: &str = "__migration__";

async fn eventsourcing(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    if !tbl.usable(&["application_name", "notification_id"]) {
        return Ok(vec![]);
    }
    let cols = vec![
        tbl.sel("application_name", Encoding::Text),
        format!(
            "{}, COUNT(*)",
            tbl.d.select_expr(
                &format!("MAX({})", tbl.col("notification_id")),
                Encoding::Integer
            )
        ),
    ];
    let group = format!(" GROUP BY {}", tbl.col("application_name"));
    let rows = select(store, tbl, &cols, &[T, I, I], &group).await?;
    let single = rows
        .iter()
        .any(|r| matches!(&r[0], Raw::Text(t) if t == EVENTSOURCING_MIGRATION));
    let follower = tbl
        .cat
        .table
        .strip_suffix("_tracking")
        .unwrap_or(&tbl.cat.table)
        .to_string();
    let mut out = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let upstream = take(&mut it).text();
        if upstream == EVENTSOURCING_MIGRATION {
            continue;
        }
        let max = take(&mut it);
        let rows_n = take(&mut it).int().unwrap_or(0);
        let mut c = Consumer::new(Framework::Eventsourcing, follower.clone(), tbl.label());
        c.segment = Some(upstream.clone());
        c.raw_checkpoint = max.clone().text();
        c.checkpoint = max.int();
        c.notes.push(if single {
            "single-row tracking; no update time is recorded".to_string()
        } else {
            format!("multi-row tracking ({rows_n} rows); no update time is recorded")
        });
        if tbl.cat.table.eq_ignore_ascii_case("tracking") {
            c.notes.push(
                "SQLite keeps one tracking table per database file: the follower's name is not recorded (`tracking` is the table's)".into(),
            );
        }
        c.row = Some(tbl.row_key(vec![("application_name", Param::Text(upstream))]));
        out.push(c);
    }
    Ok(out)
}

/// Whether a Python eventsourcing tracking table keeps one row per upstream (newer) or one row
/// per notification (older): rewinding differs.
pub fn eventsourcing_single_row(c: &Consumer) -> bool {
    c.notes.iter().any(|n| n.starts_with("single-row"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emmett_checkpoints_in_both_formats() {
        assert_eq!(emmett_checkpoint("0000000000000000042"), Some(42));
        assert_eq!(
            emmett_checkpoint("00000000000000000777:0000000000000000042"),
            Some(42)
        );
        assert_eq!(emmett_checkpoint("nope"), None);
    }

    #[test]
    fn martens_own_rows_are_not_consumers() {
        assert!(marten_internal("HighWaterMark"));
        assert!(marten_internal("HighWaterMark:tenant1"));
        assert!(marten_internal("HighWaterStuckGap"));
        assert!(!marten_internal("Trip:All"));
    }
}
