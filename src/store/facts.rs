//! What a store says about a stream besides its events: its recorded type and the type of
//! its first event (reducers are matched by them; see `rehydrate::reducer::Reducers`).

use serde_json::Value;

use super::layout::{Encoding, StreamType};
use super::sql::{Dialect, Param, Sql, looks_like_uuid};
use super::{Columns, Event, Store, StoreError, StreamRead};
use crate::rehydrate::reducer::StreamFacts;

impl Store {
    /// The facts of a stream: the type of its first event, and its recorded type (the one
    /// a table holds is read only when `with_type`: a read per stream).
    pub async fn stream_facts(
        &self,
        stream: &str,
        with_type: bool,
    ) -> Result<StreamFacts, StoreError> {
        let first = self
            .read_stream(
                stream,
                &StreamRead {
                    limit: 1,
                    columns: Columns {
                        position: false,
                        id: false,
                        metadata: false,
                        time: false,
                    },
                    ..Default::default()
                },
            )
            .await?;
        self.facts_from(stream, first.first(), with_type).await
    }

    /// The facts of `stream` whose first event is `first` (when known): what that event
    /// tells, and (when `with_type` and the event does not tell it) the type a table of
    /// streams records.
    pub async fn facts_from(
        &self,
        stream: &str,
        first: Option<&Event>,
        with_type: bool,
    ) -> Result<StreamFacts, StoreError> {
        let mut facts = first.map(|e| self.facts_of_first(e)).unwrap_or_default();
        if with_type && facts.stream_type.is_none() {
            facts.stream_type = self.recorded_stream_type(stream).await?;
        }
        Ok(facts)
    }

    /// What a stream's first event tells: its type, and the stream's type when the layout
    /// records it in the first event's data.
    pub fn facts_of_first(&self, e: &Event) -> StreamFacts {
        let stream_type = match &self.layout().stream_type {
            Some(StreamType::FirstEvent(path)) => path
                .iter()
                .try_fold(&e.data, |v, k| v.get(k.as_str()))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        StreamFacts {
            stream_type,
            first_type: Some(e.event_type.clone()),
        }
    }

    /// The stream's type from the layout's table of streams (None: not recorded).
    pub async fn recorded_stream_type(&self, stream: &str) -> Result<Option<String>, StoreError> {
        let Some(StreamType::Table { table, key, column }) = &self.layout().stream_type else {
            return Ok(None);
        };
        let d = self.dialect();
        let mut sql = Sql::new(d);
        let key = format!("t.{}", d.quote(key));
        sql.push(&format!(
            "SELECT {} FROM {} t WHERE ",
            d.select_expr(&format!("t.{}", d.quote(column)), Encoding::Text),
            d.table(table)
        ));
        let uuid = d == Dialect::Postgres && self.layout().stream.encoding == Encoding::Uuid;
        if uuid && looks_like_uuid(stream) {
            sql.push(&format!("{key} = CAST("))
                .bind(Param::Text(stream.to_string()))
                .push(" AS UUID)");
        } else if uuid {
            sql.push(&format!("CAST({key} AS TEXT) = "))
                .bind(Param::Text(stream.to_string()));
        } else {
            sql.push(&format!("{key} = "))
                .bind(Param::Text(stream.to_string()));
        }
        sql.push(" LIMIT 1");
        let rows = self.db().fetch_raw(&sql, &[Some(Encoding::Text)]).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .and_then(|v| match v {
                super::db::Raw::Null => None,
                v => Some(v.text()),
            })
            .filter(|t| !t.is_empty()))
    }
}
