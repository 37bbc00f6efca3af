//! The canonical event model every layer above the store works with.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// One event, whatever layout it was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Position in the global log. `None` for layouts without one (classic), whose global
    /// order is (recorded_at, stream_id, stream_version).
    pub global_position: Option<i64>,
    pub stream_id: String,
    /// The version within the stream, numbered as the store numbers it (Message DB from 0,
    /// Marten and Commanded from 1, ...).
    pub stream_version: i64,
    pub event_id: String,
    pub event_type: String,
    /// The event's data; when the stored bytes are not valid JSON, the raw text as a JSON
    /// string and a note in `problems`.
    pub data: Value,
    /// `null` when the layout keeps no metadata.
    pub metadata: Value,
    #[serde(serialize_with = "ser_time")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// What was wrong with the row (invalid JSON, unreadable time). Omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Event {
    pub fn category(&self) -> &str {
        category(&self.stream_id)
    }

    /// The key of this event in the global order.
    pub fn cursor(&self) -> Cursor {
        match self.global_position {
            Some(p) => Cursor::Position(p),
            None => Cursor::Ordered {
                at: self.recorded_at,
                stream: self.stream_id.clone(),
                version: self.stream_version,
            },
        }
    }
}

/// The category of a stream: the part before the first `-` (Message DB, EventStoreDB).
pub fn category(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(c, _)| c)
}

/// A point in the global order, for keyset paging. Ordered as the log is (one store uses
/// one variant).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum Cursor {
    Position(i64),
    /// For layouts without a global position (classic).
    Ordered {
        at: Option<DateTime<Utc>>,
        stream: String,
        version: i64,
    },
}

/// One stream in the stream list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamInfo {
    pub stream_id: String,
    pub category: String,
    pub event_count: i64,
    pub last_version: i64,
    #[serde(serialize_with = "ser_time")]
    pub last_recorded_at: Option<DateTime<Utc>>,
    /// The global position of the stream's newest event, when known (recent-activity order).
    #[serde(skip)]
    pub last_position: Option<i64>,
}

/// A stored snapshot of a stream's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub stream_id: String,
    pub stream_version: i64,
    pub state: Value,
    #[serde(serialize_with = "ser_time")]
    pub taken_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// RFC 3339 in UTC with a `Z`, fractional seconds only when present.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub fn ser_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_is_the_part_before_the_first_dash() {
        assert_eq!(category("account-1001"), "account");
        assert_eq!(category("account:command-42-x"), "account:command");
        assert_eq!(category("account"), "account");
        assert_eq!(category("-x"), "");
        assert_eq!(category(""), "");
    }

    #[test]
    fn events_serialize_with_snake_case_fields_and_rfc3339_times() {
        let e = Event {
            global_position: Some(7),
            stream_id: "account-1".into(),
            stream_version: 2,
            event_id: "e".into(),
            event_type: "Deposited".into(),
            data: serde_json::json!({"amount": 5}),
            metadata: Value::Null,
            recorded_at: Some("2026-01-05T10:01:00.250Z".parse().unwrap()),
            problems: vec![],
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"global_position":7,"stream_id":"account-1","stream_version":2,"event_id":"e","event_type":"Deposited","data":{"amount":5},"metadata":null,"recorded_at":"2026-01-05T10:01:00.250Z"}"#
        );
        assert_eq!(e.cursor(), Cursor::Position(7));
    }
}
