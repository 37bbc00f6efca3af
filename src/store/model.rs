//! The canonical event model every layer above the store works with.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::problem::Problem;
use crate::exact::ExactJson;

/// One event, whatever layout it was read from. It serializes (JSON, JSON lines, the replay
/// sinks) as its fields, in order, with `problems` left out when empty, and `data` and
/// `metadata` written as their stored text when that holds numbers a `Value` cannot (see
/// [`Exact`]).
#[derive(Debug, Clone, PartialEq)]
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
    pub recorded_at: Option<DateTime<Utc>>,
    /// What was wrong with the row (invalid JSON, NULL data, a time that is no time, text
    /// that is not valid UTF-8). Omitted when empty.
    pub problems: Vec<Problem>,
    /// The stored text of `data` and `metadata`, when it holds a number their `Value` does not
    /// hold exactly (`None` for almost every event; not serialized as a field).
    pub exact: Option<Arc<Exact>>,
}

/// The stored JSON text of an event's fields whose numbers a [`Value`] changes (more digits
/// than an `f64` keeps, beyond its range, a negative zero): what the event is written with,
/// and what jq reads. A text stands for its field only while the field holds the value it
/// was read as, so changing `data` or `metadata` drops it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exact {
    pub data: Option<ExactJson>,
    pub metadata: Option<ExactJson>,
    /// The stored text of `data` when one of its objects repeats a key (the value holds the
    /// first of each, and the event's problems say so): what a seal hashes for it.
    pub data_repeated: Option<Box<str>>,
    /// The same for `metadata`.
    pub metadata_repeated: Option<Box<str>>,
    /// The stored texts of `data` and `metadata` (in that order) when the read kept them
    /// unparsed (a store opened with [`super::Store::keeping_json_text`], for readers that
    /// need only the text, such as a seal): the field's value is `null` and its problems
    /// unknown until [`Event::parse_json`] reads it.
    pub unparsed: [Option<Box<str>>; 2],
}

impl Exact {
    /// What an event keeps of its two JSON fields' texts; `None` (almost every event) when
    /// their values hold them exactly.
    pub fn of(data: &super::db::JsonField, metadata: &super::db::JsonField) -> Option<Arc<Exact>> {
        let e = Exact {
            data: data.exact.clone(),
            metadata: metadata.exact.clone(),
            data_repeated: data.repeated.clone(),
            metadata_repeated: metadata.repeated.clone(),
            unparsed: [None, None],
        };
        (e != Exact::default()).then(|| Arc::new(e))
    }
}

impl Event {
    /// The stored text of `data` (0) or `metadata` (1) when the read kept it unparsed (see
    /// [`Exact::unparsed`]).
    pub fn unparsed(&self, field: usize) -> Option<&str> {
        self.exact.as_deref()?.unparsed.get(field)?.as_deref()
    }

    /// Parse the fields a read kept as text (see [`Exact::unparsed`]) as a read that parses
    /// them does: their values, exact texts, repeated keys and problems. Nothing to do for an
    /// event read the usual way.
    pub fn parse_json(&mut self) {
        let Some(x) = self.exact.as_mut() else { return };
        if x.unparsed.iter().all(Option::is_none) {
            return;
        }
        let x = Arc::make_mut(x);
        let [d, m] = std::mem::take(&mut x.unparsed);
        let mut read = |text: Option<Box<str>>,
                        value: &mut Value,
                        exact: Option<ExactJson>,
                        repeated: Option<Box<str>>,
                        name: &str| match text {
            Some(t) => super::db::parse_json(&t, name, &mut self.problems),
            None => super::db::JsonField {
                value: std::mem::take(value),
                exact,
                repeated,
            },
        };
        let data = read(
            d,
            &mut self.data,
            x.data.take(),
            x.data_repeated.take(),
            "data",
        );
        let metadata = read(
            m,
            &mut self.metadata,
            x.metadata.take(),
            x.metadata_repeated.take(),
            "metadata",
        );
        self.exact = Exact::of(&data, &metadata);
        (self.data, self.metadata) = (data.value, metadata.value);
    }

    /// The stored text of `data`, when it holds numbers the `Value` does not hold exactly.
    pub fn data_text(&self) -> Option<&str> {
        self.data_exact().map(ExactJson::text)
    }

    /// The stored text of `metadata`, when it holds numbers the `Value` does not hold exactly.
    pub fn metadata_text(&self) -> Option<&str> {
        self.metadata_exact().map(ExactJson::text)
    }

    /// The stored text of `data` when one of its objects repeats a key.
    pub fn data_repeated(&self) -> Option<&str> {
        self.exact.as_deref()?.data_repeated.as_deref()
    }

    /// The stored text of `metadata` when one of its objects repeats a key.
    pub fn metadata_repeated(&self) -> Option<&str> {
        self.exact.as_deref()?.metadata_repeated.as_deref()
    }

    fn data_exact(&self) -> Option<&ExactJson> {
        let x = self.exact.as_deref()?.data.as_ref()?;
        x.stands_for(&self.data).then_some(x)
    }

    fn metadata_exact(&self) -> Option<&ExactJson> {
        let x = self.exact.as_deref()?.metadata.as_ref()?;
        x.stands_for(&self.metadata).then_some(x)
    }

    /// "id (stream@version, position p, Type)" for messages (no position where the layout has
    /// none).
    pub fn describe(&self) -> String {
        let pos = self
            .global_position
            .map_or(String::new(), |p| format!(", position {p}"));
        format!(
            "{} ({}@{}{pos}, {})",
            self.event_id, self.stream_id, self.stream_version, self.event_type
        )
    }

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

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// A JSON field: its stored text when there is one, else its value.
        struct Json<'a>(&'a Value, Option<&'a ExactJson>);
        impl Serialize for Json<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.1 {
                    Some(x) => <RawValue as Serialize>::serialize(x.raw(), s),
                    None => self.0.serialize(s),
                }
            }
        }
        struct Time<'a>(&'a Option<DateTime<Utc>>);
        impl Serialize for Time<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                ser_time(self.0, s)
            }
        }
        let problems = !self.problems.is_empty();
        let mut st = s.serialize_struct("Event", 8 + usize::from(problems))?;
        st.serialize_field("global_position", &self.global_position)?;
        st.serialize_field("stream_id", &self.stream_id)?;
        st.serialize_field("stream_version", &self.stream_version)?;
        st.serialize_field("event_id", &self.event_id)?;
        st.serialize_field("event_type", &self.event_type)?;
        st.serialize_field("data", &Json(&self.data, self.data_exact()))?;
        st.serialize_field("metadata", &Json(&self.metadata, self.metadata_exact()))?;
        st.serialize_field("recorded_at", &Time(&self.recorded_at))?;
        if problems {
            st.serialize_field("problems", &self.problems)?;
        } else {
            st.skip_field("problems")?;
        }
        st.end()
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
    /// What is wrong with the stream's row: an id that is not valid UTF-8 (shown with `\xHH`
    /// for its bytes that are not), a last time that is no time. Omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
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
    pub problems: Vec<Problem>,
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
            exact: None,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"global_position":7,"stream_id":"account-1","stream_version":2,"event_id":"e","event_type":"Deposited","data":{"amount":5},"metadata":null,"recorded_at":"2026-01-05T10:01:00.250Z"}"#
        );
        assert_eq!(e.cursor(), Cursor::Position(7));
    }

    #[test]
    fn the_stored_text_of_exact_numbers_is_written_in_place_of_the_value() {
        let text = "{\"amount\": 123456789012345678901234567890.123456789,\n \"i\": 42}";
        let (data, kept) = crate::exact::parse(text).unwrap();
        let mut e = Event {
            global_position: Some(7),
            stream_id: "account-1".into(),
            stream_version: 2,
            event_id: "e".into(),
            event_type: "Deposited".into(),
            data,
            metadata: Value::Null,
            recorded_at: None,
            problems: vec![],
            exact: Some(Arc::new(Exact {
                data: kept,
                metadata: None,
                ..Default::default()
            })),
        };
        let want =
            r#""data":{"amount":123456789012345678901234567890.123456789,"i":42},"metadata":null"#;
        assert!(serde_json::to_string(&e).unwrap().contains(want));
        let pretty = serde_json::to_string_pretty(&e).unwrap();
        assert!(
            pretty
                .contains(r#""data": {"amount":123456789012345678901234567890.123456789,"i":42},"#),
            "{pretty}"
        );
        assert_eq!(
            e.data_text(),
            Some(r#"{"amount":123456789012345678901234567890.123456789,"i":42}"#)
        );
        // A changed field is written as it now is.
        e.data = serde_json::json!({"amount": 1});
        assert_eq!(e.data_text(), None);
        assert!(
            serde_json::to_string(&e)
                .unwrap()
                .contains(r#""data":{"amount":1},"#)
        );
    }
}
