//! Layout descriptions: where each canonical field lives in a database and how it is encoded.
//!
//! Every built-in adapter is one of these descriptions, embedded from `layouts/*.toml`, in the
//! same format a user writes for a `mapped` layout — so the user's path is the tested path.
//! Identifiers are validated here, once; the query builder quotes them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::StoreError;

/// How a column's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Plain text (VARCHAR/TEXT).
    Text,
    /// A native UUID type (PostgreSQL `uuid`); text elsewhere.
    Uuid,
    /// An integer type.
    Integer,
    /// A native JSON type (`jsonb`/`json` in PostgreSQL, `JSON` in MySQL).
    Jsonb,
    /// A text column holding JSON.
    Json,
    /// A binary column (bytea/BLOB) holding UTF-8 JSON, or (the stream column only) stream
    /// ids, read and compared as bytes.
    Bytes,
    /// A native timestamp type (timestamptz, timestamp, DATETIME).
    Timestamp,
    /// A text column holding an ISO-8601 / RFC 3339 time.
    Iso8601,
    /// An integer column holding milliseconds since the Unix epoch.
    EpochMs,
    /// A boolean column (only in `[filter]` conditions).
    Boolean,
}

impl Encoding {
    pub fn is_json(self) -> bool {
        matches!(self, Encoding::Jsonb | Encoding::Json | Encoding::Bytes)
    }
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Encoding::Timestamp | Encoding::Iso8601 | Encoding::EpochMs
        )
    }
}

/// Which table of the layout a column belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    #[default]
    Events,
    Streams,
}

/// A validated SQL identifier (letters, digits, `_`, `$`; not starting with a digit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    pub fn new(s: &str) -> Result<Ident, StoreError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if ok {
            Ok(Ident(s.to_string()))
        } else {
            Err(StoreError::Mapping(format!(
                "invalid identifier {s:?}: use letters, digits, '_' or '$', starting with a letter or '_', at most 63 characters"
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableRef {
    pub schema: Option<Ident>,
    pub table: Ident,
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.table),
            None => write!(f, "{}", self.table),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: Ident,
    pub side: Side,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamsJoin {
    pub table: TableRef,
    pub key: Ident,
    pub events_key: Ident,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotLayout {
    pub table: TableRef,
    pub stream: Column,
    pub version: Column,
    pub state: Column,
    /// A jq program over the stored value giving the state to compare (`state_jq`: e.g.
    /// `.state | del(._created_on)` to unwrap a framework's envelope); none: the value itself.
    pub state_jq: Option<String>,
    pub taken_at: Option<Column>,
    /// The time taken lives at this path inside the stored state (then `taken_at` names the
    /// state column, with the time's own encoding).
    pub taken_at_path: Vec<Ident>,
    pub snapshot_type: Option<Column>,
    pub schema_version: Option<Column>,
}

/// A fixed condition on an events-table column (e.g. Emmett's `is_archived = false`).
#[derive(Debug, Clone, PartialEq)]
pub enum FixedValue {
    Bool(bool),
    Int(i64),
    Text(String),
}

/// Code paths for layouts that a column description alone cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    /// Commanded: the global log is the `$all` stream in `stream_events`.
    Commanded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub name: String,
    pub events: TableRef,
    pub streams: Option<StreamsJoin>,
    /// None: the layout has no global position (classic); the global order is
    /// (recorded_at, stream, version).
    pub position: Option<Column>,
    pub stream: Column,
    pub version: Column,
    /// None: the store keeps no event id; an event's id is then `stream@version`.
    pub event_id: Option<Column>,
    pub event_type: Column,
    pub data: Column,
    pub metadata: Option<Column>,
    /// Members of the metadata the store keeps in columns of their own (Marten's
    /// `correlation_id`, `causation_id`): merged into the metadata object (PostgreSQL only),
    /// the column's value winning, a NULL column adding nothing.
    pub metadata_keys: Vec<(String, Column)>,
    /// None: the store records no time (time filters and `--as-of` are refused, saying so).
    pub recorded_at: Option<Column>,
    /// Non-empty: the time is at this path inside the event data (`timestamp._data_`); then
    /// `recorded_at` names the data column, with the time's encoding (iso8601 or epoch_ms).
    pub time_path: Vec<Ident>,
    pub transaction_id: Option<Column>,
    pub filter: Vec<(Ident, FixedValue)>,
    pub snapshots: Option<SnapshotLayout>,
    /// Where the store records a stream's type (reducers can match by it).
    pub stream_type: Option<StreamType>,
    pub special: Special,
}

/// Where a store records the type of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamType {
    /// A table with a row per stream: `column` where `key` is the stream id (Marten's
    /// `mt_streams.type`, Emmett's `emt_streams.stream_type`).
    Table {
        table: TableRef,
        key: Ident,
        column: Ident,
    },
    /// A path inside the data of the stream's first event (Python eventsourcing's
    /// `originator_topic`).
    FirstEvent(Vec<Ident>),
}

// ---- the file format -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    name: String,
    events: RawTable,
    streams: Option<RawStreams>,
    columns: RawColumns,
    #[serde(default)]
    filter: BTreeMap<String, toml::Value>,
    snapshots: Option<RawSnapshots>,
    /// `[consumers]`: read and validated by `crate::consumers::mapping`, not here.
    #[allow(dead_code)]
    consumers: Option<toml::Value>,
    stream_type: Option<RawStreamType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreamType {
    table: Option<String>,
    schema: Option<String>,
    key: Option<String>,
    column: Option<String>,
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    table: String,
    schema: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreams {
    table: String,
    schema: Option<String>,
    key: String,
    events_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    column: String,
    #[serde(default)]
    table: Side,
    encoding: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumns {
    position: Option<RawColumn>,
    stream: RawColumn,
    version: RawColumn,
    event_id: Option<RawColumn>,
    event_type: RawColumn,
    data: RawColumn,
    metadata: Option<RawColumn>,
    /// `[columns.metadata_keys]`: `key = { column = "…" }`.
    #[serde(default)]
    metadata_keys: BTreeMap<String, RawColumn>,
    recorded_at: Option<RawTime>,
    transaction_id: Option<RawColumn>,
}

/// A time: a column of its own, or a path inside the JSON of the data (events) or state
/// (snapshots) column: `{ path = "timestamp._data_" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    column: Option<String>,
    path: Option<String>,
    #[serde(default)]
    table: Side,
    encoding: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshots {
    table: String,
    schema: Option<String>,
    stream: RawColumn,
    version: RawColumn,
    state: RawColumn,
    state_jq: Option<String>,
    taken_at: Option<RawTime>,
    #[serde(rename = "type")]
    snapshot_type: Option<RawColumn>,
    schema_version: Option<RawColumn>,
}

fn table_ref(table: &str, schema: Option<&str>) -> Result<TableRef, StoreError> {
    Ok(TableRef {
        schema: schema.map(Ident::new).transpose()?,
        table: Ident::new(table)?,
    })
}

/// What a canonical field may hold, and its default encoding.
fn column(
    field: &str,
    raw: &RawColumn,
    default: Encoding,
    allowed: &[Encoding],
    has_streams: bool,
) -> Result<Column, StoreError> {
    let encoding = raw.encoding.unwrap_or(default);
    if !allowed.contains(&encoding) {
        return Err(StoreError::Mapping(format!(
            "column {field}: encoding {encoding:?} is not allowed here (allowed: {})",
            allowed
                .iter()
                .map(|e| format!("{e:?}").to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if raw.table == Side::Streams && !has_streams {
        return Err(StoreError::Mapping(format!(
            "column {field} says table = \"streams\" but the file has no [streams] section"
        )));
    }
    Ok(Column {
        name: Ident::new(&raw.column)?,
        side: raw.table,
        encoding,
    })
}

/// A time field: its own column, or a path inside `json` (the data or state column).
fn time_field(
    field: &str,
    raw: &RawTime,
    json: &Column,
    has_streams: bool,
) -> Result<(Column, Vec<Ident>), StoreError> {
    match (&raw.column, &raw.path) {
        (Some(_), Some(_)) => Err(StoreError::Mapping(format!(
            "{field}: give a column or a path in the data, not both"
        ))),
        (None, None) => Err(StoreError::Mapping(format!(
            "{field}: give a column (column = \"...\") or a path in the data (path = \"a.b\")"
        ))),
        (Some(c), None) => {
            let raw = RawColumn {
                column: c.clone(),
                table: raw.table,
                encoding: raw.encoding,
            };
            Ok((
                column(field, &raw, E::Timestamp, TIME_ENC, has_streams)?,
                vec![],
            ))
        }
        (None, Some(p)) => {
            let encoding = raw.encoding.unwrap_or(E::Iso8601);
            if !matches!(encoding, E::Iso8601 | E::EpochMs) {
                return Err(StoreError::Mapping(format!(
                    "{field}: a time inside the data is iso8601 or epoch_ms, not {encoding:?}"
                )));
            }
            if raw.table == Side::Streams {
                return Err(StoreError::Mapping(format!(
                    "{field}: a path is read in the events' data, not in the [streams] table"
                )));
            }
            Ok((
                Column {
                    name: json.name.clone(),
                    side: json.side,
                    encoding,
                },
                json_path(field, p)?,
            ))
        }
    }
}

/// `timestamp._data_` (or `.timestamp._data_`): object keys, each an identifier (so that the
/// path can be written into SQL's JSON operators).
pub fn json_path(field: &str, p: &str) -> Result<Vec<Ident>, StoreError> {
    let p = p.strip_prefix('.').unwrap_or(p);
    p.split('.')
        .map(|k| {
            Ident::new(k).map_err(|_| {
                StoreError::Mapping(format!(
                    "{field}: bad path {p:?}: each key is letters, digits, '_' or '$'"
                ))
            })
        })
        .collect()
}

fn stream_type(r: &RawStreamType) -> Result<StreamType, StoreError> {
    match (r, &r.path) {
        (
            RawStreamType {
                table: Some(t),
                key: Some(k),
                column: Some(c),
                path: None,
                schema,
            },
            _,
        ) => Ok(StreamType::Table {
            table: table_ref(t, schema.as_deref())?,
            key: Ident::new(k)?,
            column: Ident::new(c)?,
        }),
        (
            RawStreamType {
                table: None,
                key: None,
                column: None,
                schema: None,
                ..
            },
            Some(p),
        ) => Ok(StreamType::FirstEvent(json_path("stream_type.path", p)?)),
        _ => Err(StoreError::Mapping(
            "[stream_type]: give table, key and column (a table with a row per stream), or path (in the data of the stream's first event)".into(),
        )),
    }
}

/// Check that a jq program over a stored value compiles.
fn check_jq(field: &str, src: &str) -> Result<(), StoreError> {
    crate::jq::compile(
        src,
        &[],
        |_| StoreError::Mapping(format!("{field}: jq program {src:?} does not parse")),
        |_| {
            StoreError::Mapping(format!(
                "{field}: jq program {src:?} names what is not defined"
            ))
        },
    )
    .map(|_| ())
}

use Encoding as E;
const ID_ENC: &[Encoding] = &[E::Text, E::Uuid];
/// A stream column may also be binary (bytea, BLOB, VARBINARY): read and compared as bytes.
const STREAM_ENC: &[Encoding] = &[E::Text, E::Uuid, E::Bytes];
const INT_ENC: &[Encoding] = &[E::Integer];
const JSON_ENC: &[Encoding] = &[E::Jsonb, E::Json, E::Bytes];
const TIME_ENC: &[Encoding] = &[E::Timestamp, E::Iso8601, E::EpochMs];

impl Layout {
    /// Parse and validate a layout description (a mapping file or an embedded built-in).
    pub fn from_toml(text: &str) -> Result<Layout, StoreError> {
        let raw: RawLayout =
            toml::from_str(text).map_err(|e| StoreError::Mapping(e.message().to_string()))?;
        let has_streams = raw.streams.is_some();
        let c = &raw.columns;
        let col =
            |f: &str, r: &RawColumn, d: Encoding, a: &[Encoding]| column(f, r, d, a, has_streams);
        let mut filter = Vec::new();
        for (k, v) in &raw.filter {
            let value = match v {
                toml::Value::Boolean(b) => FixedValue::Bool(*b),
                toml::Value::Integer(i) => FixedValue::Int(*i),
                toml::Value::String(s) => FixedValue::Text(s.clone()),
                other => {
                    return Err(StoreError::Mapping(format!(
                        "filter {k}: only booleans, integers and strings are allowed, got {}",
                        other.type_str()
                    )));
                }
            };
            filter.push((Ident::new(k)?, value));
        }
        let snapshots = match &raw.snapshots {
            None => None,
            Some(s) => {
                let state = column("snapshots.state", &s.state, E::Jsonb, JSON_ENC, false)?;
                let taken = s
                    .taken_at
                    .as_ref()
                    .map(|r| time_field("snapshots.taken_at", r, &state, false))
                    .transpose()?;
                if let Some(src) = &s.state_jq {
                    check_jq("snapshots.state_jq", src)?;
                }
                let (taken_at, taken_at_path) = match taken {
                    Some((c, p)) => (Some(c), p),
                    None => (None, vec![]),
                };
                Some(SnapshotLayout {
                    table: table_ref(&s.table, s.schema.as_deref())?,
                    stream: column("snapshots.stream", &s.stream, E::Text, ID_ENC, false)?,
                    version: column("snapshots.version", &s.version, E::Integer, INT_ENC, false)?,
                    state,
                    state_jq: s.state_jq.clone(),
                    taken_at,
                    taken_at_path,
                    snapshot_type: s
                        .snapshot_type
                        .as_ref()
                        .map(|r| column("snapshots.type", r, E::Text, &[E::Text], false))
                        .transpose()?,
                    schema_version: s
                        .schema_version
                        .as_ref()
                        .map(|r| column("snapshots.schema_version", r, E::Integer, INT_ENC, false))
                        .transpose()?,
                })
            }
        };
        let data = col("data", &c.data, E::Jsonb, JSON_ENC)?;
        let time = c
            .recorded_at
            .as_ref()
            .map(|r| time_field("recorded_at", r, &data, has_streams))
            .transpose()?;
        let (recorded_at, time_path) = match time {
            Some((c, p)) => (Some(c), p),
            None => (None, vec![]),
        };
        if c.position.is_none() && recorded_at.is_none() {
            return Err(StoreError::Mapping(
                "a layout without a position column needs a time (recorded_at): its global order is (time, stream, version)".into(),
            ));
        }
        let layout = Layout {
            name: raw.name.clone(),
            events: table_ref(&raw.events.table, raw.events.schema.as_deref())?,
            streams: raw
                .streams
                .as_ref()
                .map(|s| -> Result<StreamsJoin, StoreError> {
                    Ok(StreamsJoin {
                        table: table_ref(&s.table, s.schema.as_deref())?,
                        key: Ident::new(&s.key)?,
                        events_key: Ident::new(&s.events_key)?,
                    })
                })
                .transpose()?,
            position: c
                .position
                .as_ref()
                .map(|r| col("position", r, E::Integer, INT_ENC))
                .transpose()?,
            stream: col("stream", &c.stream, E::Text, STREAM_ENC)?,
            version: col("version", &c.version, E::Integer, INT_ENC)?,
            event_id: c
                .event_id
                .as_ref()
                .map(|r| col("event_id", r, E::Text, ID_ENC))
                .transpose()?,
            event_type: col("event_type", &c.event_type, E::Text, &[E::Text])?,
            data,
            metadata: c
                .metadata
                .as_ref()
                .map(|r| col("metadata", r, E::Jsonb, JSON_ENC))
                .transpose()?,
            metadata_keys: c
                .metadata_keys
                .iter()
                .map(|(k, r)| -> Result<(String, Column), StoreError> {
                    // Written into the SQL as a string literal: plain keys only.
                    let plain = !k.is_empty()
                        && k.len() <= 64
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
                    if !plain {
                        return Err(StoreError::Mapping(format!(
                            "metadata_keys: key {k:?} must be letters, digits, '_', '$' or '-' (at most 64)"
                        )));
                    }
                    let field = format!("metadata_keys.{k}");
                    let c = column(&field, r, E::Text, &[E::Text, E::Uuid, E::Integer], false)?;
                    Ok((k.clone(), c))
                })
                .collect::<Result<_, _>>()?,
            recorded_at,
            time_path,
            transaction_id: c
                .transaction_id
                .as_ref()
                .map(|r| col("transaction_id", r, E::Integer, INT_ENC))
                .transpose()?,
            filter,
            snapshots,
            stream_type: raw.stream_type.as_ref().map(stream_type).transpose()?,
            special: Special::None,
        };
        for (name, colm) in layout.columns() {
            if name != "stream" && colm.side == Side::Streams {
                return Err(StoreError::Mapping(format!(
                    "column {name}: only `stream` may live in the [streams] table"
                )));
            }
        }
        Ok(layout)
    }

    /// The canonical fields that are mapped, by name.
    pub fn columns(&self) -> Vec<(&'static str, &Column)> {
        let mut v = vec![
            ("stream", &self.stream),
            ("version", &self.version),
            ("event_type", &self.event_type),
            ("data", &self.data),
        ];
        if let Some(p) = &self.position {
            v.insert(0, ("position", p));
        }
        if let Some(i) = &self.event_id {
            v.push(("event_id", i));
        }
        if let Some(t) = &self.recorded_at {
            v.push(("recorded_at", t));
        }
        if let Some(m) = &self.metadata {
            v.push(("metadata", m));
        }
        if let Some(t) = &self.transaction_id {
            v.push(("transaction_id", t));
        }
        v
    }

    /// Put every table of the layout into `schema` (a PostgreSQL schema chosen at detection).
    pub fn in_schema(mut self, schema: &str) -> Result<Layout, StoreError> {
        let s = Ident::new(schema)?;
        self.events.schema = Some(s.clone());
        if let Some(j) = &mut self.streams {
            j.table.schema = Some(s.clone());
        }
        if let Some(sn) = &mut self.snapshots {
            sn.table.schema = Some(s.clone());
        }
        if let Some(StreamType::Table { table, .. }) = &mut self.stream_type {
            table.schema = Some(s);
        }
        Ok(self)
    }
}

/// The built-in adapters.
pub const BUILTIN_NAMES: &[&str] = &[
    "native",
    "message-db",
    "marten",
    "commanded",
    "classic",
    "eventuous",
    "emmett",
    "axon",
    "python-eventsourcing",
];

/// The embedded description of a built-in layout (`axon-jdbc`: Axon with the JDBC engine's
/// names, chosen at detection).
pub fn builtin_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "native" => include_str!("layouts/native.toml"),
        "message-db" => include_str!("layouts/message-db.toml"),
        "marten" => include_str!("layouts/marten.toml"),
        "commanded" => include_str!("layouts/commanded.toml"),
        "classic" => include_str!("layouts/classic.toml"),
        "eventuous" => include_str!("layouts/eventuous.toml"),
        "emmett" => include_str!("layouts/emmett.toml"),
        "axon" => include_str!("layouts/axon.toml"),
        "axon-jdbc" => include_str!("layouts/axon-jdbc.toml"),
        "python-eventsourcing" => include_str!("layouts/python-eventsourcing.toml"),
        _ => return None,
    })
}

pub fn builtin(name: &str) -> Option<Layout> {
    // The embedded descriptions are tested to parse (see tests below).
    let mut layout = Layout::from_toml(builtin_text(name)?).ok()?;
    if name == "commanded" {
        layout.special = Special::Commanded;
    }
    Some(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        for name in BUILTIN_NAMES.iter().chain(&["axon-jdbc"]) {
            let text = builtin_text(name).unwrap();
            let l = Layout::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(l.name, name.trim_end_matches("-jdbc"));
            assert!(builtin(name).is_some());
        }
        let py = builtin("python-eventsourcing").unwrap();
        assert!(py.event_id.is_none());
        assert_eq!(py.time_path.len(), 2);
        assert_eq!(py.recorded_at.as_ref().unwrap().encoding, Encoding::Iso8601);
        let sn = py.snapshots.unwrap();
        assert!(sn.state_jq.is_some());
        assert_eq!(sn.taken_at_path.len(), 2);
        assert!(builtin("classic").unwrap().position.is_none());
        assert_eq!(builtin("commanded").unwrap().special, Special::Commanded);
    }

    #[test]
    fn shipped_mapping_files_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mappings");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                Layout::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(
            n >= 3,
            "expected the Eventuous, Emmett and Axon mapping files"
        );
    }

    #[test]
    fn identifiers_are_validated() {
        assert!(Ident::new("mt_events").is_ok());
        assert!(Ident::new("a$b").is_ok());
        for bad in [
            "",
            "1abc",
            "a-b",
            "a\"b",
            "x; drop table y",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(Ident::new(bad).is_err(), "{bad:?} accepted");
        }
        let text = include_str!("layouts/native.toml").replace("evscope_events", "ev\\\"ents");
        let err = Layout::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("invalid identifier"), "{err}");
    }

    #[test]
    fn metadata_keys_are_plain_keys_of_text_columns() {
        let marten = include_str!("layouts/marten.toml");
        let l = Layout::from_toml(marten).unwrap();
        let keys: Vec<&str> = l.metadata_keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["causation_id", "correlation_id", "user_name"]);
        for (bad, says) in [
            ("\"it's\" = { column = \"x\" }", "must be letters"),
            ("k = { column = \"a b\" }", "invalid identifier"),
            (
                "k = { column = \"x\", encoding = \"jsonb\" }",
                "not allowed",
            ),
        ] {
            let text = marten.replace(
                "causation_id   = { column = \"causation_id\" }",
                &format!("causation_id = {{ column = \"causation_id\" }}\n{bad}"),
            );
            let e = Layout::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_encodings_and_sides_are_refused() {
        let text = include_str!("layouts/native.toml").replace(
            "encoding = \"jsonb\" }\nmetadata",
            "encoding = \"epoch_ms\" }\nmetadata",
        );
        assert!(
            Layout::from_toml(&text)
                .unwrap_err()
                .to_string()
                .contains("not allowed")
        );
        let text = include_str!("layouts/native.toml").replace(
            "event_type     = { column = \"event_type\" }",
            "event_type     = { column = \"event_type\", table = \"streams\" }",
        );
        assert!(
            Layout::from_toml(&text)
                .unwrap_err()
                .to_string()
                .contains("[streams]")
        );
        let text = include_str!("layouts/native.toml").replace("[columns]", "[columns]\nbogus = 1");
        assert!(Layout::from_toml(&text).is_err());
    }

    #[test]
    fn ids_and_times_are_optional_and_times_may_live_in_the_data() {
        let base = "name = \"m\"\n[events]\ntable = \"t\"\n[columns]\n\
                    stream = { column = \"s\" }\nversion = { column = \"v\" }\n\
                    event_type = { column = \"ty\" }\ndata = { column = \"d\", encoding = \"bytes\" }\n";
        let with = |extra: &str| Layout::from_toml(&format!("{base}{extra}"));
        let l = with("position = { column = \"p\" }\n").unwrap();
        assert!(l.event_id.is_none() && l.recorded_at.is_none());
        let err = with("").unwrap_err().to_string();
        assert!(err.contains("needs a time"), "{err}");
        let l = with("recorded_at = { path = \".timestamp._data_\" }\n").unwrap();
        let t = l.recorded_at.unwrap();
        assert_eq!((t.name.as_str(), t.encoding), ("d", Encoding::Iso8601));
        assert_eq!(l.time_path.len(), 2);
        for bad in [
            "recorded_at = { path = \"a.b-c\" }\n",
            "recorded_at = { path = \"a..b\" }\n",
            "recorded_at = { path = \"a\", column = \"x\" }\n",
            "recorded_at = { path = \"a\", encoding = \"jsonb\" }\n",
            "recorded_at = { }\n",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
        let snap = "position = { column = \"p\" }\n[snapshots]\ntable = \"n\"\n\
                    stream = { column = \"s\" }\nversion = { column = \"v\" }\n\
                    state = { column = \"st\" }\n";
        assert!(with(&format!("{snap}state_jq = '.state | del(._x)'\n")).is_ok());
        let err = with(&format!("{snap}state_jq = '.state | nosuchfn'\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("state_jq"), "{err}");
    }
}
