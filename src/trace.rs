//! Correlation traces: every event that shares an event's correlation id, across streams, as
//! a causation tree where causation ids exist.
//!
//! The ids come from the event's metadata, under the names the common frameworks write:
//! `correlation_id` / `causation_id` (Marten, Eventuous, Emmett, most hand-written stores),
//! their camel-case forms, EventStoreDB's `$correlationId` / `$causationId`, and Message DB's
//! `correlationStreamName` (causation there is `causationMessageGlobalPosition`); Marten's
//! columns of the same names are part of its metadata (the layout's `metadata_keys`). The events
//! are found with one filtered scan of the log whose condition the database answers first
//! (`pushdown`), so a trace reads only the events it lists where the metadata is `jsonb`,
//! `JSON` or SQLite JSON text.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::filter;
use crate::scan::{Scan, ScanError};
use crate::store::{Direction, Event, LogQuery, Start, Store, StoreError};

/// The metadata keys that hold a correlation id, in the order they are looked for.
pub const CORRELATION_KEYS: &[&str] = &[
    "correlation_id",
    "correlationId",
    "$correlationId",
    "correlationStreamName",
];

/// The metadata keys that hold the id of the event that caused this one.
pub const CAUSATION_KEYS: &[&str] = &["causation_id", "causationId", "$causationId"];

/// Events a trace lists at most unless told otherwise (`trace --limit`, the TUI's `c`).
pub const DEFAULT_LIMIT: u32 = 10_000;

/// Message DB's causation: the global position of the causing message.
pub const CAUSATION_POSITION_KEY: &str = "causationMessageGlobalPosition";

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("no event with id {0:?} in this store")]
    NoSuchEvent(String),
    #[error(
        "event {0} has no correlation id in its metadata (looked for {keys})",
        keys = CORRELATION_KEYS.join(", ")
    )]
    NoCorrelation(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("{0}")]
    Filter(String),
}

/// One event of a trace, with its place in the causation tree.
#[derive(Debug, Clone, Serialize)]
pub struct Traced {
    #[serde(flatten)]
    pub event: Event,
    /// The event id of the event that caused this one, when that event is in the trace.
    pub caused_by: Option<String>,
    /// 0 for an event whose cause is not in the trace.
    pub depth: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// The metadata key and the value shared.
    pub key: String,
    pub correlation: Value,
    /// In tree order: each event followed by the events it caused (in log order).
    pub events: Vec<Traced>,
    /// More events share the correlation id than were read (`limit`).
    pub cut: bool,
}

/// The correlation key and value of an event's metadata.
pub fn correlation_of(e: &Event) -> Option<(&'static str, Value)> {
    CORRELATION_KEYS.iter().find_map(|k| {
        e.metadata
            .get(*k)
            .filter(|v| !v.is_null())
            .map(|v| (*k, v.clone()))
    })
}

/// The filter of the events whose metadata holds `value` as their correlation id, under any
/// of the names [`CORRELATION_KEYS`] lists (services of one system do not all write the same
/// one), as a user could type it (`| .metadata["correlation_id"] == V or
/// .metadata["correlationId"] == V or …`): the database answers it first (push-down).
pub fn correlation_query(value: &Value) -> Result<filter::Query, TraceError> {
    let program = CORRELATION_KEYS
        .iter()
        .map(|k| format!(".metadata[{}] == {value}", Value::String(k.to_string())))
        .collect::<Vec<_>>()
        .join(" or ");
    filter::parse(&format!("| {program}"), chrono::Utc::now())
        .map_err(|e| TraceError::Filter(e.to_string()))
}

/// What caused `e`: an event id, or (Message DB) a global position.
enum Cause {
    Id(String),
    Position(i64),
}

fn cause_of(e: &Event) -> Option<Cause> {
    for k in CAUSATION_KEYS {
        match e.metadata.get(*k) {
            Some(Value::String(s)) => return Some(Cause::Id(s.clone())),
            Some(Value::Number(n)) => return Some(Cause::Id(n.to_string())),
            _ => {}
        }
    }
    e.metadata
        .get(CAUSATION_POSITION_KEY)
        .and_then(Value::as_i64)
        .map(Cause::Position)
}

/// The trace of the event with id `event_id`: at most `limit` events, in tree order.
pub async fn trace(store: &Store, event_id: &str, limit: usize) -> Result<Trace, TraceError> {
    let start = store
        .find_event(event_id)
        .await?
        .ok_or_else(|| TraceError::NoSuchEvent(event_id.to_string()))?;
    trace_of(store, &start, limit).await
}

/// The trace of `start` (an event read from the store): `evscope trace` and the TUI's `c`.
pub async fn trace_of(store: &Store, start: &Event, limit: usize) -> Result<Trace, TraceError> {
    let (key, value) =
        correlation_of(start).ok_or_else(|| TraceError::NoCorrelation(start.event_id.clone()))?;
    let q = correlation_query(&value)?;
    let log = LogQuery {
        filter: q.filter,
        start: Start::End,
        direction: Direction::Forward,
        limit: 0,
        up_to: None,
    };
    // Every match, read from one query (see scan::Streamed), planned for all of them: the
    // limit is a cut of the output, and a trace is most often a handful of events in the whole
    // log, which a limited query would look for by walking the position index.
    let source = crate::scan::Streamed::new(store.clone(), usize::MAX);
    let mut scan = Scan::log(source, log).with_jq(q.jq);
    let mut found = Vec::new();
    let mut cut = false;
    loop {
        let b = scan.next(limit.saturating_sub(found.len()).max(1)).await?;
        let more = b.more();
        found.extend(b.events);
        if !more {
            break;
        }
        if found.len() >= limit {
            cut = true;
            break;
        }
    }
    found.truncate(limit);
    Ok(Trace {
        key: key.to_string(),
        correlation: value,
        events: tree(found),
        cut,
    })
}

/// The events in tree order, each after its cause (when its cause is among them).
fn tree(events: Vec<Event>) -> Vec<Traced> {
    let by_id: HashMap<&str, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.event_id.as_str(), i))
        .collect();
    let by_pos: HashMap<i64, usize> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.global_position.map(|p| (p, i)))
        .collect();
    let parent: Vec<Option<usize>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let p = match cause_of(e)? {
                Cause::Id(id) => by_id.get(id.as_str()).copied(),
                Cause::Position(p) => by_pos.get(&p).copied(),
            }?;
            // An event that names itself (a command's first event often does) is a root.
            (p != i).then_some(p)
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    let mut roots = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(p) => children[*p].push(i),
            None => roots.push(i),
        }
    }
    // Depth-first, children in log order; a cycle of causes (a corrupt store) is cut where it
    // closes: every event is listed once.
    let mut seen = vec![false; events.len()];
    let mut order = Vec::with_capacity(events.len());
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    loop {
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            order.push((i, depth));
            for &c in children[i].iter().rev() {
                stack.push((c, depth + 1));
            }
        }
        match seen.iter().position(|s| !s) {
            Some(i) => stack.push((i, 0)),
            None => break,
        }
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let mut slots: Vec<Option<Event>> = events.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(i, depth)| {
            Some(Traced {
                caused_by: parent[i].map(|p| ids[p].clone()),
                depth,
                event: slots[i].take()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(p: i64, id: &str, meta: Value) -> Event {
        Event {
            global_position: Some(p),
            stream_id: format!("s-{p}"),
            stream_version: 1,
            event_id: id.into(),
            event_type: "T".into(),
            data: json!({}),
            metadata: meta,
            recorded_at: None,
            exact: None,
            problems: vec![],
        }
    }

    #[test]
    fn causes_make_a_tree_in_log_order() {
        let t = tree(vec![
            ev(1, "a", json!({"correlation_id": "c", "causation_id": "a"})),
            ev(2, "b", json!({"correlation_id": "c", "causation_id": "a"})),
            ev(
                3,
                "x",
                json!({"correlation_id": "c", "causation_id": "gone"}),
            ),
            ev(4, "c", json!({"correlation_id": "c", "causation_id": "b"})),
            ev(5, "d", json!({"correlation_id": "c", "causation_id": "a"})),
        ]);
        let shape: Vec<(String, usize, Option<String>)> = t
            .iter()
            .map(|t| (t.event.event_id.clone(), t.depth, t.caused_by.clone()))
            .collect();
        assert_eq!(
            shape,
            [
                ("a".into(), 0, None),
                ("b".into(), 1, Some("a".into())),
                ("c".into(), 2, Some("b".into())),
                ("d".into(), 1, Some("a".into())),
                ("x".into(), 0, None),
            ]
        );
        // Message DB: the cause by global position.
        let t = tree(vec![
            ev(10, "m1", json!({"correlationStreamName": "x"})),
            ev(
                11,
                "m2",
                json!({"correlationStreamName": "x", "causationMessageGlobalPosition": 10}),
            ),
        ]);
        assert_eq!(t[1].caused_by.as_deref(), Some("m1"));
        assert_eq!(t[1].depth, 1);
        // A cycle of causes: each event once.
        let t = tree(vec![
            ev(1, "a", json!({"causation_id": "b"})),
            ev(2, "b", json!({"causation_id": "a"})),
        ]);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_correlation_is_found_under_each_frameworks_name() {
        for k in CORRELATION_KEYS {
            let e = ev(1, "a", json!({ *k: "v" }));
            assert_eq!(correlation_of(&e), Some((*k, json!("v"))));
        }
        assert_eq!(correlation_of(&ev(1, "a", json!({"x": 1}))), None);
        assert_eq!(correlation_of(&ev(1, "a", Value::Null)), None);
    }
}
