//! Message DB / Eventide consumers: each keeps its position in a stream of its own,
//! `{category}:position-{consumer}` (or `{category}:position` without an identifier; the
//! `position` type is added to the category's types: `account:command+position-x`), whose last
//! message, `Recorded` (`Updated` in older versions), holds `{"position": N}` — the global
//! position of the last message it handled. A consumer writes it every
//! `position_update_interval` messages (100 by default), so the stored position may trail what
//! the consumer has handled by up to that many.

use super::readers::{Tbl, time_of};
use super::{Consumer, ConsumerError, Follows, Framework};
use crate::store::Store;
use crate::store::db::Raw;
use crate::store::layout::Encoding;
use crate::store::sql::{Dialect, Sql};

pub fn is_message_store(t: &Tbl<'_>) -> bool {
    t.d == Dialect::Postgres
        && t.cat.table == "messages"
        && t.has(&[
            "global_position",
            "position",
            "stream_name",
            "type",
            "data",
            "time",
        ])
}

/// A position stream's name taken apart: the category the consumer reads and its identifier.
pub fn parse_position_stream(stream: &str) -> Option<(String, Option<String>)> {
    let (category, id) = match stream.split_once('-') {
        Some((c, id)) => (c, Some(id.to_string())),
        None => (stream, None),
    };
    let (entity, types) = category.split_once(':')?;
    let mut types: Vec<&str> = types.split('+').collect();
    let before = types.len();
    types.retain(|t| *t != "position");
    if types.len() == before {
        return None;
    }
    let followed = if types.is_empty() {
        entity.to_string()
    } else {
        format!("{entity}:{}", types.join("+"))
    };
    Some((followed, id))
}

pub async fn read(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    let Some(table) = tbl.sql_name() else {
        return Ok(vec![]);
    };
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(&format!(
        "SELECT DISTINCT ON (stream_name) stream_name, type, CAST(data AS TEXT), \
         CAST(time AS TIMESTAMP) AT TIME ZONE 'UTC' \
         FROM {table} WHERE stream_name LIKE '%:%position%' \
         ORDER BY stream_name, position DESC"
    ));
    let t = Some(Encoding::Text);
    let rows = store
        .db()
        .fetch_raw(&sql, &[t, t, t, Some(Encoding::Timestamp)])
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let mut next = || it.next().unwrap_or(Raw::Null);
        let stream = next().text();
        let Some((category, id)) = parse_position_stream(&stream) else {
            continue;
        };
        let ty = next().text();
        let data = next().text();
        let time = time_of(next());
        let name = id.clone().unwrap_or_else(|| category.clone());
        let mut c = Consumer::new(Framework::MessageDb, name, stream.clone());
        c.follows = Follows {
            category: Some(category),
            ..Follows::default()
        };
        c.updated_at = time;
        c.raw_checkpoint = data.clone();
        if ty != "Recorded" && ty != "Updated" {
            c.unreadable(format!(
                "the last message of {stream} is a {ty}, not a Recorded position"
            ));
        } else {
            let v: Option<serde_json::Value> = serde_json::from_str(&data).ok();
            c.checkpoint = v
                .as_ref()
                .and_then(|v| v.get("position"))
                .and_then(serde_json::Value::as_i64);
            if c.checkpoint.is_none() {
                c.unreadable(format!("{ty} message without a numeric position: {data}"));
            }
        }
        c.notes.push(
            "Message DB consumers write their position every N messages (100 by default), so it may trail by that much".into(),
        );
        c.row = Some(tbl.row_key(vec![(
            "stream_name",
            crate::store::sql::Param::Text(stream),
        )]));
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_streams_name_their_category_and_consumer() {
        assert_eq!(
            parse_position_stream("account:position-projector"),
            Some(("account".into(), Some("projector".into())))
        );
        assert_eq!(
            parse_position_stream("account:position"),
            Some(("account".into(), None))
        );
        assert_eq!(
            parse_position_stream("account:command+position-x-1"),
            Some(("account:command".into(), Some("x-1".into())))
        );
        assert_eq!(parse_position_stream("account-1"), None);
        assert_eq!(parse_position_stream("account:command-1"), None);
    }
}
