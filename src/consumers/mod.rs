//! Consumers: the checkpoints that projections, subscriptions and process managers keep in the
//! database beside the events, read across frameworks, with their lag behind the log.
//!
//! Each framework keeps its checkpoints in a table of its own (see [`readers`]); they are found
//! by their column signature in the connected database, whatever event layout is open, and
//! turned into one [`Consumer`] model whose checkpoint is a global position of the log.
//! [`lag`] measures each against the head; [`rewind`] prints (never runs) the SQL that would
//! move one. Nothing here writes to the database.

pub mod axon;
pub mod lag;
pub mod mapping;
pub mod messagedb;
pub mod readers;
pub mod rewind;
pub mod trend;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::StoreError;
use crate::store::sql::Param;

pub use lag::{Flag, Lagged, Report, ReportOptions, report};

/// Why consumers could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A `[consumers]` section of a mapping file that cannot be used.
    #[error("mapping file [consumers]: {0}")]
    Mapping(String),
    /// No consumer of that name.
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be answered as asked (ambiguous name, a position it cannot use).
    #[error("{0}")]
    BadInput(String),
}

/// Which framework's table a consumer was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    Native,
    Marten,
    Eventuous,
    Emmett,
    Commanded,
    CommandedEcto,
    Axon,
    MessageDb,
    Eventsourcing,
    Mapped,
}

impl Framework {
    pub fn label(self) -> &'static str {
        match self {
            Framework::Native => "native",
            Framework::Marten => "marten",
            Framework::Eventuous => "eventuous",
            Framework::Emmett => "emmett",
            Framework::Commanded => "commanded",
            Framework::CommandedEcto => "commanded-ecto",
            Framework::Axon => "axon",
            Framework::MessageDb => "message-db",
            Framework::Eventsourcing => "eventsourcing",
            Framework::Mapped => "mapped",
        }
    }

    /// The event layout whose global positions this framework's checkpoints count.
    pub fn layout(self) -> &'static str {
        match self {
            Framework::CommandedEcto => "commanded",
            Framework::Eventsourcing => "python-eventsourcing",
            other => other.label(),
        }
    }
}

/// What a checkpoint counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Counts {
    /// A global position of the log (the last event processed).
    #[default]
    Global,
    /// A version of the one stream the consumer follows (a stream subscription).
    StreamVersion,
}

/// What part of the log a consumer reads. Empty: the whole log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Follows {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
}

impl Follows {
    pub fn all() -> Follows {
        Follows::default()
    }
    pub fn is_all(&self) -> bool {
        self.category.is_none() && self.stream.is_none() && self.types.is_empty()
    }
    /// "all", "category:account", "stream:x types:A,B".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.category {
            parts.push(format!("category:{c}"));
        }
        if let Some(s) = &self.stream {
            parts.push(format!("stream:{s}"));
        }
        if !self.types.is_empty() {
            parts.push(format!("types:{}", self.types.join(",")));
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(" ")
        }
    }
}

/// The state a framework records for a consumer, normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Stopped,
    Paused,
    Failed,
    Rebuilding,
}

impl State {
    /// A framework's own word for it (case-insensitive), when it is one of these.
    pub fn parse(s: &str) -> Option<State> {
        match s.trim().to_ascii_lowercase().as_str() {
            "running" | "active" | "started" | "continuous" | "async_processing" => {
                Some(State::Running)
            }
            "stopped" | "inactive" | "idle" => Some(State::Stopped),
            "paused" | "pausing" => Some(State::Paused),
            "failed" | "faulted" | "error" | "errored" | "dead" => Some(State::Failed),
            "rebuilding" | "rebuild" | "replaying" | "catching_up" => Some(State::Rebuilding),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Paused => "paused",
            State::Failed => "failed",
            State::Rebuilding => "rebuilding",
        }
    }
}

/// Where a consumer's checkpoint row is, to write the statement that would move it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowKey {
    /// The table, as the catalog names it.
    pub schema: Option<String>,
    pub table: String,
    /// The columns that pick the row, with their values.
    pub key: Vec<(String, Param)>,
    /// The checkpoint column, when the framework's reader does not know it (mapped tables).
    pub position_column: Option<String>,
}

/// One consumer and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consumer {
    pub framework: Framework,
    pub name: String,
    /// A segment (Axon), partition (Emmett) or part of the consumer, when it has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// `schema.table` (or the position stream, for Message DB) it was read from.
    pub source: String,
    /// The last event processed, as a global position (or a stream version, see `counts`);
    /// None: it has not processed anything yet.
    pub checkpoint: Option<i64>,
    pub counts: Counts,
    pub follows: Follows,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub updated_at: Option<DateTime<Utc>>,
    /// The status as the framework records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The process holding its lock or lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether a session holds the consumer's lock now, where evscope can see it (Commanded's
    /// PostgreSQL advisory lock: taken while its subscription runs); None: not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_held: Option<bool>,
    /// The checkpoint exactly as stored (a padded string, a token blob).
    pub raw_checkpoint: String,
    /// Positions below the checkpoint the framework says it still waits for (Axon's gaps) or
    /// skipped (Marten's high-water skips).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<i64>,
    /// Events the framework failed to apply for it and skipped, kept as dead letters
    /// (Marten's `mt_doc_deadletterevent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The stored checkpoint could not be read (a token evscope does not decode, a position
    /// message without a position): its lag is not known, and is not reported as if it were at
    /// the start. A note says why.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
    #[serde(skip)]
    pub row: Option<RowKey>,
}

impl Consumer {
    /// A consumer read from `source` with nothing known yet but its name.
    pub fn new(framework: Framework, name: impl Into<String>, source: impl Into<String>) -> Self {
        Consumer {
            framework,
            name: name.into(),
            segment: None,
            source: source.into(),
            checkpoint: None,
            counts: Counts::Global,
            follows: Follows::all(),
            updated_at: None,
            status: None,
            state: None,
            owner: None,
            lock_held: None,
            raw_checkpoint: String::new(),
            gaps: Vec::new(),
            dead_letters: None,
            notes: Vec::new(),
            unreadable: false,
            row: None,
        }
    }

    /// Its checkpoint is stored but could not be read, for the reason given.
    pub fn unreadable(&mut self, why: String) {
        self.checkpoint = None;
        self.unreadable = true;
        self.notes.push(why);
    }

    /// `name` or `name/segment`: how the consumer is named on the command line.
    pub fn id(&self) -> String {
        match &self.segment {
            Some(s) => format!("{}/{s}", self.name),
            None => self.name.clone(),
        }
    }

    /// The checkpoint for people: a position, `v3` for a stream version, `-` for none.
    pub fn checkpoint_text(&self) -> String {
        match (self.checkpoint, self.counts) {
            (None, _) => "-".to_string(),
            (Some(p), Counts::Global) => p.to_string(),
            (Some(v), Counts::StreamVersion) => format!("v{v}"),
        }
    }

    /// The events it follows after `after` up to `upto` (None: open, fixed when a replay is
    /// created): positions of what it follows, or versions of its stream.
    pub fn range(&self, after: i64, upto: Option<i64>) -> crate::replay::Range {
        let f = &self.follows;
        match self.counts {
            Counts::StreamVersion => crate::replay::Range {
                stream: f.stream.clone(),
                from_version: Some(after + 1),
                to_version: upto,
                ..Default::default()
            },
            Counts::Global => crate::replay::Range {
                from_position: Some(after + 1),
                to_position: upto,
                category: f.category.clone(),
                types: f.types.clone(),
                ..Default::default()
            },
        }
    }

    fn with_status(mut self, status: Option<String>) -> Self {
        self.state = status.as_deref().and_then(State::parse);
        self.status = status.filter(|s| !s.is_empty());
        self
    }
}

fn ser_opt_time<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    crate::store::model::ser_time(t, s)
}

/// Every consumer of the connected database: each framework's table found in its catalog, and
/// the `[consumers]` section of the mapping file in use, if it has one.
pub async fn discover(store: &crate::store::Store) -> Result<Vec<Consumer>, ConsumerError> {
    let mut all = readers::read_all(store).await?;
    if let Some(path) = store.mapping_file() {
        if let Some(m) = mapping::Mapping::from_file(path)? {
            all.extend(m.read(store).await?);
        }
    }
    all.sort_by(|a, b| (a.framework, &a.name, &a.segment).cmp(&(b.framework, &b.name, &b.segment)));
    Ok(all)
}

/// The consumers `name` picks: its id (`name/segment`) exactly, else every segment of `name`.
pub fn select<'a>(all: &'a [Consumer], name: &str) -> Result<Vec<&'a Consumer>, ConsumerError> {
    let exact: Vec<&Consumer> = all.iter().filter(|c| c.id() == name).collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    let by_name: Vec<&Consumer> = all.iter().filter(|c| c.name == name).collect();
    if by_name.is_empty() {
        let known: Vec<String> = all.iter().map(Consumer::id).take(20).collect();
        return Err(ConsumerError::NotFound(if known.is_empty() {
            format!("no consumer {name:?}: this database has no consumer tables evscope knows")
        } else {
            format!("no consumer {name:?}; there are: {}", known.join(", "))
        }));
    }
    let frameworks: std::collections::BTreeSet<Framework> =
        by_name.iter().map(|c| c.framework).collect();
    if frameworks.len() > 1 {
        return Err(ConsumerError::BadInput(format!(
            "{name:?} names consumers of {} frameworks; the tables are {}",
            frameworks.len(),
            by_name
                .iter()
                .map(|c| c.source.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(by_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_read_from_each_frameworks_words() {
        assert_eq!(State::parse("Running"), Some(State::Running));
        assert_eq!(State::parse("paused"), Some(State::Paused));
        assert_eq!(State::parse("rebuilding"), Some(State::Rebuilding));
        assert_eq!(State::parse("stopped"), Some(State::Stopped));
        assert_eq!(State::parse("whatever"), None);
    }

    #[test]
    fn a_name_picks_its_segments_and_an_id_one_of_them() {
        let mut a = Consumer::new(Framework::Axon, "proj", "token_entry");
        a.segment = Some("0".into());
        let mut b = a.clone();
        b.segment = Some("1".into());
        let c = Consumer::new(Framework::Native, "other", "evscope_consumers");
        let all = vec![a, b, c];
        assert_eq!(select(&all, "proj").unwrap().len(), 2);
        assert_eq!(select(&all, "proj/1").unwrap().len(), 1);
        let e = select(&all, "nope").unwrap_err().to_string();
        assert!(e.contains("there are: proj/0, proj/1, other"), "{e}");
    }

    #[test]
    fn follows_describes_itself() {
        assert_eq!(Follows::all().describe(), "all");
        let f = Follows {
            category: Some("account".into()),
            types: vec!["A".into(), "B".into()],
            ..Default::default()
        };
        assert_eq!(f.describe(), "category:account types:A,B");
    }
}
