//! `consumers rewind`: the statement that would move a consumer's checkpoint in its
//! framework's own table, and what the consumer would process again. evscope is read-only: the
//! statement is printed for the operator (who stops the consumer, runs it, restarts), never run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Consumer, ConsumerError, Counts, Framework, RowKey};
use crate::replay::range::{Plan, Range, plan};
use crate::store::db::Raw;
use crate::store::layout::{Encoding, Ident};
use crate::store::sql::{Dialect, Param, Sql};
use crate::store::{Direction, EventFilter, LogQuery, Start, Store};

/// Where to move the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The last event to count as processed.
    Position(i64),
    /// Process again every event recorded at or after this time.
    Time(DateTime<Utc>),
}

impl Target {
    /// A position (digits) or a time (`2026-06-01`, RFC 3339, an age such as `2h`).
    pub fn parse(s: &str) -> Result<Target, TargetError> {
        if let Ok(p) = s.trim().parse::<i64>() {
            if p < 0 {
                return Err(TargetError::Negative(p));
            }
            return Ok(Target::Position(p));
        }
        Ok(Target::Time(crate::timeparse::parse_time(s)?))
    }
}

/// Why a rewind's target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("position {0} is negative")]
    Negative(i64),
    #[error(transparent)]
    Time(#[from] crate::timeparse::TimeError),
}

/// The printed plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rewind {
    pub consumer: String,
    pub framework: Framework,
    /// Each segment's current checkpoint (`name/segment` for a consumer with several).
    pub from: Vec<(String, Option<i64>)>,
    /// The new checkpoint: the last event counted as processed.
    pub to: i64,
    /// The statements that would move it (never run by evscope).
    pub sql: Vec<String>,
    /// What the consumer would process again (or skip, when the checkpoint moves forward).
    pub reprocess: Plan,
    pub range: Range,
    pub skips: bool,
    /// Processes holding a lock or lease on it.
    pub holders: Vec<String>,
    pub notes: Vec<String>,
}

/// The literal for a value in printed SQL (evscope itself always binds; this is text for a
/// person to run). MySQL's default mode also treats backslash as an escape.
pub fn literal(d: Dialect, p: &Param) -> String {
    match p {
        Param::I64(v) => v.to_string(),
        Param::Bool(b) => b.to_string(),
        Param::Text(t) => {
            let mut s = t.replace('\'', "''");
            if d == Dialect::MySql {
                s = s.replace('\\', "\\\\");
            }
            format!("'{s}'")
        }
        Param::Time(t) => format!("'{}'", crate::store::model::format_time(t)),
        Param::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            match d {
                Dialect::Postgres => format!("'\\x{hex}'::bytea"),
                _ => format!("X'{hex}'"),
            }
        }
    }
}

fn quote(d: Dialect, name: &str) -> Result<String, ConsumerError> {
    Ident::new(name)
        .map(|i| d.quote(&i))
        .map_err(|e| ConsumerError::BadInput(e.to_string()))
}

fn table_name(d: Dialect, r: &RowKey) -> Result<String, ConsumerError> {
    Ok(match &r.schema {
        Some(s) if d == Dialect::Postgres => format!("{}.{}", quote(d, s)?, quote(d, &r.table)?),
        _ => quote(d, &r.table)?,
    })
}

fn now_expr(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "now()",
        Dialect::MySql => "CURRENT_TIMESTAMP(6)",
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    }
}

/// `UPDATE t SET sets WHERE key = ...;`
fn update(d: Dialect, r: &RowKey, sets: &[(String, String)]) -> Result<String, ConsumerError> {
    let set = sets
        .iter()
        .map(|(c, v)| Ok(format!("{} = {v}", quote(d, c)?)))
        .collect::<Result<Vec<_>, ConsumerError>>()?
        .join(", ");
    Ok(format!(
        "UPDATE {} SET {set} WHERE {};",
        table_name(d, r)?,
        where_key(d, r)?
    ))
}

fn where_key(d: Dialect, r: &RowKey) -> Result<String, ConsumerError> {
    Ok(r.key
        .iter()
        .map(|(c, v)| Ok(format!("{} = {}", quote(d, c)?, literal(d, v))))
        .collect::<Result<Vec<_>, ConsumerError>>()?
        .join(" AND "))
}

/// The transaction id of the event at `position` (Emmett's checkpoints name it).
async fn transaction_of(store: &Store, position: i64) -> Result<Option<String>, ConsumerError> {
    if position == 0 {
        return Ok(Some("0".into()));
    }
    let l = store.layout();
    let (Some(tx), Some(pos)) = (&l.transaction_id, &l.position) else {
        return Ok(None);
    };
    let d = store.dialect();
    let mut sql = Sql::new(d);
    sql.push(&format!(
        "SELECT {} FROM {} WHERE {} = ",
        d.select_expr(&d.quote(&tx.name), Encoding::Text),
        d.table(&l.events),
        d.quote(&pos.name)
    ));
    sql.bind(Param::I64(position));
    let rows = store.db().fetch_raw(&sql, &[Some(Encoding::Text)]).await?;
    Ok(rows.into_iter().next().map(|r| {
        let mut it = r.into_iter();
        it.next().map(Raw::text).unwrap_or_default()
    }))
}

/// The statements for one row.
async fn statements(
    store: &Store,
    c: &Consumer,
    to: i64,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, ConsumerError> {
    let d = store.dialect();
    let Some(r) = &c.row else {
        return Err(ConsumerError::BadInput(format!(
            "{}: no row to rewind",
            c.id()
        )));
    };
    let n = to.to_string();
    let now = now_expr(d).to_string();
    let s = |cols: &[(&str, &str)]| -> Vec<(String, String)> {
        cols.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    Ok(match c.framework {
        Framework::Native => vec![update(d, r, &s(&[("position", &n), ("updated_at", &now)]))?],
        Framework::Marten => vec![update(
            d,
            r,
            &s(&[("last_seq_id", &n), ("last_updated", &now)]),
        )?],
        Framework::Eventuous => vec![update(d, r, &s(&[("position", &n)]))?],
        Framework::Commanded => vec![update(d, r, &s(&[("last_seen", &n)]))?],
        Framework::CommandedEcto => vec![update(
            d,
            r,
            &s(&[("last_seen_event_number", &n), ("updated_at", &now)]),
        )?],
        Framework::Mapped => {
            notes.push(
                "the [consumers] mapping names no update-time rule: only the position is set"
                    .into(),
            );
            let col = r.position_column.clone().ok_or_else(|| {
                ConsumerError::BadInput(format!("{}: position column unknown", c.id()))
            })?;
            vec![update(d, r, &s(&[(&col, &n)]))?]
        }
        Framework::Emmett => {
            let padded = format!("{to:019}");
            if c.raw_checkpoint.contains(':') {
                let Some(tx) = transaction_of(store, to).await? else {
                    return Err(ConsumerError::BadInput(format!(
                        "Emmett's checkpoint {:?} names the transaction of its event; the open layout ({}) has no transaction_id column to find the one of position {to} (open the events with --mapping fixtures/mappings/emmett.toml)",
                        c.raw_checkpoint,
                        store.layout().name
                    )));
                };
                let cp = format!("{tx:0>20}:{padded}");
                vec![update(
                    d,
                    r,
                    &s(&[
                        ("last_processed_checkpoint", &literal(d, &Param::Text(cp))),
                        (
                            "last_processed_transaction_id",
                            &format!("{}::xid8", literal(d, &Param::Text(tx))),
                        ),
                        ("last_updated", &now),
                    ]),
                )?]
            } else {
                let mut sets = vec![(
                    "last_processed_checkpoint".to_string(),
                    literal(d, &Param::Text(padded)),
                )];
                if c.updated_at.is_some() {
                    sets.push(("last_updated".into(), now.clone()));
                }
                vec![update(d, r, &sets)?]
            }
        }
        Framework::Axon => {
            // A token never stored (no blob) is written as the XML serializer would; a token
            // evscope cannot read (Java-serialized, multi-source) is not replaced by one of
            // another kind: the processor's serializer might not read it back.
            let like = if c.raw_checkpoint.is_empty() {
                super::axon::Token {
                    format: "xml",
                    ..Default::default()
                }
            } else {
                super::axon::decode(&super::axon::raw_bytes(&c.raw_checkpoint), None).map_err(
                    |e| {
                        ConsumerError::BadInput(format!(
                            "{}: no rewind is planned for a token evscope does not read ({e}); \
                         reset the processor with Axon's own resetTokens",
                            c.id()
                        ))
                    },
                )?
            };
            let (blob, class) = super::axon::encode(&like, to);
            let blob_sql = match d {
                Dialect::Postgres => {
                    format!("convert_to({}, 'UTF8')", literal(d, &Param::Text(blob)))
                }
                Dialect::MySql => format!("CAST({} AS BINARY)", literal(d, &Param::Text(blob))),
                Dialect::Sqlite => format!("CAST({} AS BLOB)", literal(d, &Param::Text(blob))),
            };
            let type_col = if r.key.iter().any(|(k, _)| k == "processorName") {
                "tokenType"
            } else {
                "token_type"
            };
            // As Axon's DateTimeUtils.formatInstant writes it: UTC, milliseconds.
            let stamp = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            vec![update(
                d,
                r,
                &s(&[
                    ("token", &blob_sql),
                    (type_col, &literal(d, &Param::Text(class.to_string()))),
                    ("timestamp", &literal(d, &Param::Text(stamp))),
                ]),
            )?]
        }
        Framework::MessageDb => {
            let stream = r
                .key
                .first()
                .map(|(_, v)| v.clone())
                .unwrap_or(Param::Text(String::new()));
            notes.push("Message DB keeps positions as messages: the rewind writes a new Recorded message to the position stream".into());
            vec![format!(
                "SELECT message_store.write_message(gen_random_uuid()::varchar, {}, 'Recorded', {});",
                literal(d, &stream),
                literal(d, &Param::Text(format!("{{\"position\":{to}}}")))
            )]
        }
        Framework::Eventsourcing => {
            if super::readers::eventsourcing_single_row(c) {
                vec![update(d, r, &s(&[("notification_id", &n)]))?]
            } else {
                notes.push("multi-row tracking: the rows after the new position are deleted, and one is added at it".into());
                let t = table_name(d, r)?;
                let app = r
                    .key
                    .first()
                    .map(|(_, v)| literal(d, v))
                    .unwrap_or_default();
                vec![
                    format!(
                        "DELETE FROM {t} WHERE {} AND {} > {to};",
                        where_key(d, r)?,
                        quote(d, "notification_id")?
                    ),
                    format!(
                        "INSERT INTO {t} ({}, {}) SELECT {app}, {to} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {} AND {} = {to});",
                        quote(d, "application_name")?,
                        quote(d, "notification_id")?,
                        where_key(d, r)?,
                        quote(d, "notification_id")?
                    ),
                ]
            }
        }
    })
}

/// The new checkpoint for a target: a position as given, a time as the position just before
/// the first event recorded at or after it.
pub async fn resolve(store: &Store, target: &Target) -> Result<i64, ConsumerError> {
    match target {
        Target::Position(p) => Ok(*p),
        Target::Time(t) => {
            let first = store
                .read_log(&LogQuery {
                    filter: EventFilter {
                        since: Some(*t),
                        ..EventFilter::default()
                    },
                    start: Start::End,
                    direction: Direction::Forward,
                    limit: 1,
                    up_to: None,
                })
                .await?;
            match first.first().and_then(|e| e.global_position) {
                Some(p) => Ok(p - 1),
                None => Ok(store.max_position().await?.unwrap_or(0)),
            }
        }
    }
}

/// The plan for moving `consumers` (one consumer's rows: one per segment) to `to`.
pub async fn plan_rewind(
    store: &Store,
    consumers: &[&Consumer],
    target: &Target,
    max_wait: Duration,
) -> Result<Rewind, ConsumerError> {
    let first = consumers
        .first()
        .ok_or_else(|| ConsumerError::NotFound("no consumer".into()))?;
    let to = match (first.counts, target) {
        (Counts::StreamVersion, Target::Time(_)) => {
            return Err(ConsumerError::BadInput(format!(
                "{} counts versions of {}: rewind it to a version, not a time",
                first.id(),
                first.follows.stream.as_deref().unwrap_or("its stream")
            )));
        }
        _ => resolve(store, target).await?,
    };
    let mut notes = Vec::new();
    let mut sql = Vec::new();
    let mut holders = Vec::new();
    for c in consumers {
        sql.extend(statements(store, c, to, &mut notes).await?);
        if let Some(o) = &c.owner {
            let until = match c.framework {
                Framework::Axon => "or let the Axon claim lease expire",
                Framework::Emmett => "or let the Emmett processor lock lease expire",
                Framework::Marten => "or let the Marten daemon's lease expire",
                Framework::Commanded => "its advisory lock lasts as long as that session",
                _ => "or let the process's lease expire",
            };
            holders.push(format!(
                "{}: held by {o} — stop it ({until}) before running this",
                c.id()
            ));
        }
    }
    // Commanded's lock where it could not be seen: said as a rule.
    if first.framework == Framework::Commanded && consumers.iter().any(|c| c.lock_held.is_none()) {
        holders.push("Commanded's subscription process holds a PostgreSQL advisory lock on the subscription while it runs: stop it first".into());
    }
    if first.framework == Framework::Axon {
        notes.push("Axon's own way is processor.resetTokens() on a stopped processor; this sets every segment's token to the position".into());
    }
    notes.sort();
    notes.dedup();
    // What would be processed again: the events after the new checkpoint up to the highest
    // current one (a segment behind the others re-processes less).
    let current = consumers
        .iter()
        .filter_map(|c| c.checkpoint)
        .max()
        .unwrap_or(0);
    let (lo, hi, skips) = if to <= current {
        (to, current, false)
    } else {
        (current, to, true)
    };
    let range = first.range(lo, Some(hi));
    let reprocess = if lo >= hi {
        Plan::default()
    } else {
        plan(store, &range, max_wait, |_| {})
            .await
            .map_err(|e| ConsumerError::BadInput(e.to_string()))?
    };
    if skips {
        notes.push(format!(
            "this moves the checkpoint FORWARD: the consumer would skip {} events",
            reprocess.total
        ));
    }
    Ok(Rewind {
        consumer: first.name.clone(),
        framework: first.framework,
        from: consumers.iter().map(|c| (c.id(), c.checkpoint)).collect(),
        to,
        sql,
        reprocess,
        range,
        skips,
        holders,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_literals_are_escaped_per_dialect() {
        let p = Param::Text("it's a \\ b".into());
        assert_eq!(literal(Dialect::Postgres, &p), "'it''s a \\ b'");
        assert_eq!(literal(Dialect::MySql, &p), "'it''s a \\\\ b'");
        assert_eq!(literal(Dialect::Sqlite, &Param::I64(5)), "5");
    }

    #[test]
    fn targets_are_positions_or_times() {
        assert_eq!(Target::parse("42").unwrap(), Target::Position(42));
        assert!(matches!(
            Target::parse("2026-06-01").unwrap(),
            Target::Time(_)
        ));
        assert_eq!(Target::parse("-3"), Err(TargetError::Negative(-3)));
        assert!(matches!(
            Target::parse("yesterday-ish"),
            Err(TargetError::Time(crate::timeparse::TimeError::NotATime(_)))
        ));
    }

    #[test]
    fn an_update_quotes_names_and_writes_values() {
        let r = RowKey {
            schema: Some("app".into()),
            table: "evscope_consumers".into(),
            key: vec![("name".into(), Param::Text("o'neil".into()))],
            position_column: None,
        };
        let s = update(Dialect::Postgres, &r, &[("position".into(), "5".into())]).unwrap();
        assert_eq!(
            s,
            "UPDATE \"app\".\"evscope_consumers\" SET \"position\" = 5 WHERE \"name\" = 'o''neil';"
        );
    }
}
