//! Reducers: how a stream's events fold into state.
//!
//! Without a reducer file, the default fold merges each event's data into the state (JSON
//! merge-patch). A reducer file (TOML) defines, per stream category or stream pattern, an
//! initial state and, per event type, a jq program (jaq) mapping the current state to the next,
//! with the event bound as `$event` (type, data, metadata, version, position, time, stream).
//!
//! ```toml
//! [[reducer]]
//! match = ["account"]            # categories, or stream patterns with `*` ("account-*", "*")
//! initial = { balance = 0, status = "new" }
//! unknown = "error"              # event types with no entry and no "*": skip | merge | error
//! ignore = [".updatedAt"]        # snapshot audit: paths not compared
//! tolerance = 0.001              # snapshot audit: numbers equal within this
//! [reducer.on]
//! AccountOpened = '.owner = $event.data.owner | .status = "open"'
//! Deposited = '.balance += $event.data.amount'
//! "*" = '.'                      # any other type
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use jaq_core::{Ctx, Vars};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::diff::{DiffOptions, merge_patch};
use crate::store::Event;
use crate::store::model::{category, format_time};

use crate::jq::{Data, RunError, int, run_error};
pub use crate::jq::{json_to_val, val_to_json};

/// What to do with an event type the reducer does not name (and no `*` entry covers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    Skip,
    Merge,
    Error,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "reducer", default)]
    reducers: Vec<RawReducer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReducer {
    name: Option<String>,
    #[serde(rename = "match", default)]
    patterns: Option<Patterns>,
    /// The stream's type as the store records it (Marten's mt_streams.type, Emmett's
    /// stream_type, a Python eventsourcing stream's originator_topic): names or globs.
    #[serde(default)]
    stream_type: Option<Patterns>,
    /// The type of the stream's first event: names or globs.
    #[serde(default)]
    first_event: Option<Patterns>,
    #[serde(default)]
    initial: Option<toml::Value>,
    unknown: Unknown,
    #[serde(default)]
    on: BTreeMap<String, String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    tolerance: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Patterns {
    One(String),
    Many(Vec<String>),
}

/// A jq program mapping (state, $event) to the next state.
#[derive(Clone)]
pub struct Program {
    pub source: String,
    filter: Arc<jaq_core::Filter<Data>>,
    /// The fields of `$event` it reads: only those are built for each event.
    reads: EventFields,
    /// The program run without jaq's interpreter, when it is of a shape [`fast`] knows.
    fast: Option<fast::Fast>,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Program>();
};

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Program").field(&self.source).finish()
    }
}

impl Program {
    pub fn compile(src: &str) -> Result<Program, CompileError> {
        let filter = crate::jq::compile(
            src,
            &["$event"],
            |errs| {
                format!(
                    "jq: cannot parse {src:?} ({} error{})",
                    errs.len(),
                    if errs.len() == 1 { "" } else { "s" }
                )
            },
            |errs| {
                let names: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_, e)| e.into_iter().map(|(name, _)| name.to_string()))
                    .collect();
                format!("jq: {src:?}: undefined {}", names.join(", "))
            },
        )
        .map_err(CompileError)?;
        Ok(Program {
            source: src.to_string(),
            filter: Arc::new(filter),
            reads: EventFields::read_by(src),
            fast: fast::Fast::recognise(src),
        })
    }

    /// Run on `state` with `$event` built from `e`; exactly one output is the next state.
    pub fn run_on(&self, state: Val, e: &Event) -> Result<Val, StepError> {
        // The fast path looks up only the paths it uses, in the event itself; jaq gets the
        // whole `$event`.
        let state = match &self.fast {
            Some(f) => match f.run(
                state,
                &LazyEvent {
                    e,
                    reads: self.reads,
                },
            ) {
                Ok(next) => return Ok(next),
                Err(untouched) => untouched,
            },
            None => state,
        };
        self.run_jaq(state, event_val(e, self.reads))
    }

    /// Run on `state` with `$event`; exactly one output is the next state.
    pub fn run(&self, state: Val, event: Val) -> Result<Val, StepError> {
        let state = match &self.fast {
            Some(f) => match f.run(state, &event) {
                Ok(next) => return Ok(next),
                Err(untouched) => untouched,
            },
            None => state,
        };
        self.run_jaq(state, event)
    }

    /// Run with jaq's interpreter. Bounded as filters are (see [`crate::jq::bounded`]).
    pub fn run_jaq(&self, state: Val, event: Val) -> Result<Val, StepError> {
        let _bound = crate::jq::bounded();
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([event]));
        let mut outs = self.filter.id.run((ctx, state));
        let first = match outs.next() {
            None => return Err(StepError::NoState),
            Some(r) => r.map_err(|e| run_error(e, "reducer"))?,
        };
        if let Some(second) = outs.next() {
            let _ = second;
            return Err(StepError::ManyStates);
        }
        Ok(first)
    }
}

/// One reducer: the streams it applies to, its initial state and its handlers.
#[derive(Debug, Clone)]
pub struct Reducer {
    pub name: String,
    patterns: Vec<String>,
    stream_types: Vec<String>,
    first_events: Vec<String>,
    pub initial: Value,
    pub on: BTreeMap<String, Program>,
    pub fallback: Option<Program>,
    pub unknown: Unknown,
    pub diff: DiffOptions,
}

/// What a store says about a stream that a reducer can be matched by, besides its id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFacts {
    /// The stream's type where the store records one (Marten `mt_streams.type`, Emmett
    /// `emt_streams.stream_type`, the `originator_topic` of a Python eventsourcing stream's
    /// first event).
    pub stream_type: Option<String>,
    /// The type of the stream's first event.
    pub first_type: Option<String>,
}

/// How a reducer was matched to a stream (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Named,
    Pattern,
    StreamType,
    FirstEvent,
    Handles,
}

impl Reducer {
    fn applies_to(&self, stream: &str) -> bool {
        self.patterns.iter().any(|p| pattern_matches(p, stream))
    }

    /// Whether the reducer handles this type with a program of its own (not `*`).
    pub fn handles(&self, event_type: &str) -> bool {
        self.on.contains_key(event_type)
    }

    /// Whether the reducer has a program for this type (its own entry or `*`); types left to
    /// `unknown` are not named (the audit reports them as information).
    pub fn names(&self, event_type: &str) -> bool {
        self.on.contains_key(event_type) || self.fallback.is_some()
    }
}

/// A category (`account`: the stream's category is exactly it) or a glob with `*`.
pub fn pattern_matches(pattern: &str, stream: &str) -> bool {
    if !pattern.contains('*') {
        return category(stream) == pattern || stream == pattern;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = stream;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// A name or a glob with `*` (no categories: for types).
fn glob_or_eq(pattern: &str, value: &str) -> bool {
    if pattern.contains('*') {
        pattern_matches(pattern, value)
    } else {
        pattern == value
    }
}

/// A reducer file. The reducer of a stream is, in order: the one named with `--reducer`; the
/// first whose `match` fits the stream id; the first whose `stream_type` fits the type the
/// store records for the stream; the first whose `first_event` fits the type of the stream's
/// first event; the first with a program for that first event's type.
#[derive(Debug, Clone, Default)]
pub struct Reducers {
    pub reducers: Vec<Reducer>,
    /// Where it came from (for messages).
    pub origin: String,
    /// `--reducer NAME`: this reducer for every stream.
    pub forced: Option<String>,
}

fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// Why a reducer file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReducerError {
    /// The file could not be read.
    #[error("cannot read reducers {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// It is not a reducer file: not TOML of the format, a program that does not compile, an
    /// `ignore` path or a `tolerance` that cannot be.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    /// `--reducer NAME` names no reducer of the file.
    #[error(
        "--reducer {name}: {} has no reducer of that name (it has: {})",
        if origin.is_empty() { "the reducer file" } else { origin },
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    NoSuchReducer {
        name: String,
        origin: String,
        known: Vec<String>,
    },
}

impl Reducers {
    pub fn parse(text: &str, origin: &str) -> Result<Reducers, ReducerError> {
        let invalid = |message: String| ReducerError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        let mut reducers = Vec::new();
        for (i, r) in raw.reducers.into_iter().enumerate() {
            let list = |p: Option<Patterns>| match p {
                None => vec![],
                Some(Patterns::One(p)) => vec![p],
                Some(Patterns::Many(v)) => v,
            };
            let patterns = list(r.patterns);
            let stream_types = list(r.stream_type);
            let first_events = list(r.first_event);
            let name = r.name.unwrap_or_else(|| {
                if patterns.is_empty() {
                    format!("reducer {}", i + 1)
                } else {
                    patterns.join(",")
                }
            });
            let mut on = BTreeMap::new();
            let mut fallback = None;
            for (ty, src) in r.on {
                let p = Program::compile(&src)
                    .map_err(|e| invalid(format!("reducer {name}, {ty}: {e}")))?;
                if ty == "*" {
                    fallback = Some(p);
                } else {
                    on.insert(ty, p);
                }
            }
            for path in &r.ignore {
                super::diff::parse_path(path)
                    .map_err(|e| invalid(format!("reducer {name}, ignore {path:?}: {e}")))?;
            }
            if r.tolerance < 0.0 || !r.tolerance.is_finite() {
                return Err(invalid(format!(
                    "reducer {name}: tolerance must be a number >= 0"
                )));
            }
            reducers.push(Reducer {
                name,
                patterns,
                stream_types,
                first_events,
                initial: r
                    .initial
                    .map(toml_to_json)
                    .unwrap_or_else(|| Value::Object(Map::new())),
                on,
                fallback,
                unknown: r.unknown,
                diff: DiffOptions {
                    ignore: r.ignore,
                    tolerance: r.tolerance,
                },
            });
        }
        Ok(Reducers {
            reducers,
            origin: origin.to_string(),
            forced: None,
        })
    }

    /// `--reducer NAME`: that reducer for every stream (an error names the ones there are).
    pub fn force(mut self, name: &str) -> Result<Reducers, ReducerError> {
        if !self.reducers.iter().any(|r| r.name == name) {
            return Err(ReducerError::NoSuchReducer {
                name: name.to_string(),
                origin: self.origin.clone(),
                known: self.reducers.iter().map(|r| r.name.clone()).collect(),
            });
        }
        self.forced = Some(name.to_string());
        Ok(self)
    }

    /// Whether some reducer matches by the stream type (which may cost a read per stream).
    pub fn uses_stream_type(&self) -> bool {
        self.forced.is_none() && self.reducers.iter().any(|r| !r.stream_types.is_empty())
    }

    /// The reducer of a stream, and how it was matched (see [`Reducers`]).
    pub fn choose(&self, stream: &str, facts: &StreamFacts) -> Option<(&Reducer, MatchedBy)> {
        if let Some(name) = &self.forced {
            return self
                .reducers
                .iter()
                .find(|r| &r.name == name)
                .map(|r| (r, MatchedBy::Named));
        }
        let find = |f: &dyn Fn(&Reducer) -> bool| self.reducers.iter().find(|r| f(r));
        if let Some(r) = find(&|r| r.applies_to(stream)) {
            return Some((r, MatchedBy::Pattern));
        }
        if let Some(t) = &facts.stream_type {
            if let Some(r) = find(&|r| r.stream_types.iter().any(|p| glob_or_eq(p, t))) {
                return Some((r, MatchedBy::StreamType));
            }
        }
        let first = facts.first_type.as_deref()?;
        if let Some(r) = find(&|r| r.first_events.iter().any(|p| glob_or_eq(p, first))) {
            return Some((r, MatchedBy::FirstEvent));
        }
        find(&|r| r.handles(first)).map(|r| (r, MatchedBy::Handles))
    }

    /// The fold of a stream given what the store says of it: its reducer, else the merge fold.
    pub fn fold_with(&self, stream: &str, facts: &StreamFacts) -> Fold {
        match self.choose(stream, facts) {
            Some((r, _)) => Fold::Reducer(Arc::new(r.clone())),
            None => Fold::Merge,
        }
    }

    /// [`Self::fold_with`] with the facts read from the store (the stream's first event,
    /// and its recorded type when a reducer matches by it).
    pub async fn fold_in(
        &self,
        store: &crate::store::Store,
        stream: &str,
    ) -> Result<Fold, crate::store::StoreError> {
        if self.reducers.is_empty() {
            return Ok(Fold::Merge);
        }
        if let Some((r, _)) = self.choose(stream, &StreamFacts::default()) {
            return Ok(Fold::Reducer(Arc::new(r.clone())));
        }
        let facts = store.stream_facts(stream, self.uses_stream_type()).await?;
        Ok(self.fold_with(stream, &facts))
    }

    pub fn load(path: &Path) -> Result<Reducers, ReducerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReducerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Reducers::parse(&text, &path.display().to_string())
    }

    /// The reducers of the demo store's domain (shipped in fixtures/reducers/demo.toml).
    pub fn demo() -> Reducers {
        Reducers::parse(
            include_str!("../../../fixtures/reducers/demo.toml"),
            "demo reducers",
        )
        .expect("the demo reducers parse (tested)")
    }

    /// The reducer of a stream by its id alone (`--reducer`, `match`); see [`Self::choose`].
    pub fn for_stream(&self, stream: &str) -> Option<&Reducer> {
        self.choose(stream, &StreamFacts::default()).map(|(r, _)| r)
    }

    /// The columns of an event that folding with these reducers reads (the merge fold reads
    /// only the data; a program what its `$event` uses).
    pub fn columns(&self) -> crate::store::Columns {
        let mut read = EventFields(0);
        for r in &self.reducers {
            for p in r.on.values().chain(&r.fallback) {
                read.0 |= p.reads.0;
            }
        }
        crate::store::Columns {
            position: read.has("position"),
            id: read.has("id"),
            metadata: read.has("metadata"),
            time: read.has("time"),
        }
    }

    /// The fold for a stream: its reducer, or the default merge fold.
    pub fn fold_for(&self, stream: &str) -> Fold {
        match self.for_stream(stream) {
            Some(r) => Fold::Reducer(Arc::new(r.clone())),
            None => Fold::Merge,
        }
    }
}

/// How one stream folds.
#[derive(Debug, Clone)]
pub enum Fold {
    /// The default: each event's data merged into the state (JSON merge-patch).
    Merge,
    Reducer(Arc<Reducer>),
}

/// A reducer that failed on an event: the fold stops there.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldError {
    pub stream_version: i64,
    pub event_type: String,
    /// The jq program that failed (none for an unknown type under `unknown = "error"`).
    pub filter: Option<String>,
    pub cause: StepError,
}

/// A reducer's jq program that does not compile; the message names the program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(String);

/// Why one event could not be folded into the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The reducer's program failed at run time (its own error, or evscope's bound).
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the reducer produced no state (empty output)")]
    NoState,
    #[error("the reducer produced more than one state")]
    ManyStates,
    /// The event's data could not be read (the problem, as the store reported it): the
    /// merge fold cannot apply it.
    #[error("the event's {0}: the merge fold cannot apply it (the state before it is kept)")]
    Unreadable(String),
    /// No reducer handles the type, and the reducer file says `unknown = "error"`.
    #[error("no reducer handles event type {0:?} (unknown = \"error\")")]
    Unhandled(String),
}

impl fmt::Display for FoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            Some(src) => write!(
                f,
                "the reducer failed on {} (version {}): {} — filter: {src}",
                self.event_type, self.stream_version, self.cause
            ),
            None => write!(
                f,
                "{} (version {}): {}",
                self.event_type, self.stream_version, self.cause
            ),
        }
    }
}

/// Fold state while folding: serde values for the merge fold, jaq values for jq reducers (no
/// conversion per event).
#[derive(Clone, Debug)]
pub enum State {
    Json(Value),
    Jq(Val),
}

impl State {
    pub fn to_json(&self) -> Value {
        match self {
            State::Json(v) => v.clone(),
            State::Jq(v) => val_to_json(v),
        }
    }
}

impl Fold {
    pub fn name(&self) -> String {
        match self {
            Fold::Merge => "default merge fold".into(),
            Fold::Reducer(r) => format!("reducer {}", r.name),
        }
    }

    pub fn initial(&self) -> Value {
        match self {
            Fold::Merge => Value::Object(Map::new()),
            Fold::Reducer(r) => r.initial.clone(),
        }
    }

    pub fn diff_options(&self) -> DiffOptions {
        match self {
            Fold::Merge => DiffOptions::default(),
            Fold::Reducer(r) => r.diff.clone(),
        }
    }

    /// Start folding from a state (the initial state, a checkpoint or a snapshot).
    pub fn start(&self, state: &Value) -> State {
        match self {
            Fold::Merge => State::Json(state.clone()),
            Fold::Reducer(_) => State::Jq(json_to_val(state)),
        }
    }

    /// Apply one event in place; on error the state is left as it was (the state before the
    /// failing event). No conversion of the state per event; but keeping the state before
    /// the event means a jq program gets a shared (`Rc`) state and copies the objects it
    /// updates. A fold that needs nothing after a failure (the snapshot audit) uses
    /// [`Self::apply`], by value, and the program updates in place.
    pub fn apply_mut(&self, state: &mut State, e: &Event) -> Result<(), FoldError> {
        // The fast paths: a jq handler on a jq state, a merge on a JSON state.
        if let (Fold::Reducer(r), State::Jq(val)) = (self, &mut *state) {
            if let Some(p) = r.on.get(&e.event_type).or(r.fallback.as_ref()) {
                let next = p.run_on(val.clone(), e).map_err(|m| FoldError {
                    stream_version: e.stream_version,
                    event_type: e.event_type.clone(),
                    filter: Some(p.source.clone()),
                    cause: m,
                })?;
                *val = next;
                return Ok(());
            }
        }
        if let (Fold::Merge, State::Json(v)) = (self, &mut *state) {
            return merge_event(v, e).map_err(|m| FoldError {
                stream_version: e.stream_version,
                event_type: e.event_type.clone(),
                filter: None,
                cause: m,
            });
        }
        // Everything else (unknown types, a state of the other kind): by value, and the state
        // is put back when the event fails.
        let owned = std::mem::replace(state, State::Json(Value::Null));
        match self.apply(owned.clone(), e) {
            Ok(next) => {
                *state = next;
                Ok(())
            }
            Err(err) => {
                *state = owned;
                Err(err)
            }
        }
    }

    pub fn apply(&self, state: State, e: &Event) -> Result<State, FoldError> {
        let err = |filter: Option<&Program>, cause: StepError| FoldError {
            stream_version: e.stream_version,
            event_type: e.event_type.clone(),
            filter: filter.map(|p| p.source.clone()),
            cause,
        };
        match (self, state) {
            (Fold::Merge, State::Json(mut v)) => {
                merge_event(&mut v, e).map_err(|m| err(None, m))?;
                Ok(State::Json(v))
            }
            (Fold::Reducer(r), state) => {
                let val = match state {
                    State::Jq(v) => v,
                    State::Json(j) => json_to_val(&j),
                };
                let program = r.on.get(&e.event_type).or(r.fallback.as_ref());
                match program {
                    Some(p) => p.run_on(val, e).map(State::Jq).map_err(|m| err(Some(p), m)),
                    None => match r.unknown {
                        Unknown::Skip => Ok(State::Jq(val)),
                        Unknown::Merge => {
                            let mut j = val_to_json(&val);
                            merge_event(&mut j, e).map_err(|m| err(None, m))?;
                            Ok(State::Jq(json_to_val(&j)))
                        }
                        Unknown::Error => {
                            Err(err(None, StepError::Unhandled(e.event_type.clone())))
                        }
                    },
                }
            }
            (Fold::Merge, State::Jq(v)) => {
                let mut j = val_to_json(&v);
                merge_event(&mut j, e).map_err(|m| err(None, m))?;
                Ok(State::Json(j))
            }
        }
    }
}

/// Merge an event's data into the state (JSON merge-patch). An event whose data could not be
/// read stops the fold: its raw text would otherwise replace the whole state. An event with
/// no data (NULL) changes nothing.
fn merge_event(state: &mut Value, e: &Event) -> Result<(), StepError> {
    if let Some(p) = e.problems.iter().find(|p| p.kept_as_text("data")) {
        return Err(StepError::Unreadable(p.to_string()));
    }
    if !e.data.is_null() {
        merge_patch(state, &e.data);
    }
    Ok(())
}

// ---- values ------------------------------------------------------------------------------

/// Which fields of `$event` a program reads (type, data, metadata, version, position, time,
/// stream, id), found in its source: when every `$event` in it is followed by `.name`, only
/// those names are read; any other use (`$event` alone, `$event[..]`, `{$event}`, ...) reads
/// them all. Conservative: a `$event` in a string or a comment counts as a use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFields(u8);

/// The fields of `$event`, in the order they are built.
const EVENT_FIELDS: [&str; 8] = [
    "type", "data", "metadata", "version", "position", "time", "stream", "id",
];

impl EventFields {
    pub const ALL: EventFields = EventFields(u8::MAX);

    pub fn read_by(src: &str) -> EventFields {
        const VAR: &str = "$event";
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut bits = 0u8;
        let mut rest = src;
        while let Some(at) = rest.find(VAR) {
            rest = &rest[at + VAR.len()..];
            if rest.starts_with(ident) {
                continue; // another variable ($events, $event_x)
            }
            let Some(field) = rest.strip_prefix('.') else {
                return EventFields::ALL;
            };
            let name = &field[..field.find(|c: char| !ident(c)).unwrap_or(field.len())];
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                return EventFields::ALL;
            }
            // A name that is not a field is null whether or not the others are built.
            if let Some(i) = EVENT_FIELDS.iter().position(|f| *f == name) {
                bits |= 1 << i;
            }
        }
        EventFields(bits)
    }

    pub fn has(self, field: &str) -> bool {
        EVENT_FIELDS
            .iter()
            .position(|f| *f == field)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// `$event` as [`event_val`] builds it, looked up path by path in the event: a path into
/// `data` or `metadata` converts only the value it ends at.
pub struct LazyEvent<'a> {
    pub e: &'a Event,
    pub reads: EventFields,
}

impl fast::EventSource for LazyEvent<'_> {
    fn at(&self, path: &[bytes::Bytes]) -> Option<Val> {
        let e = self.e;
        let Some((first, rest)) = path.split_first() else {
            return Some(event_val(e, self.reads));
        };
        let Some(name) = EVENT_FIELDS
            .into_iter()
            .find(|n| n.as_bytes() == first.as_ref())
            .filter(|n| self.reads.has(n))
        else {
            // Not a field, or one not built: null, and null under it.
            return Some(Val::Null);
        };
        let json = match name {
            "data" if e.data_text().is_none() => &e.data,
            "metadata" if e.metadata_text().is_none() => &e.metadata,
            // Numbers the value does not hold exactly, a scalar field: as event_val has it.
            _ => return fast::walk(field_val(e, name), rest),
        };
        let mut at = json;
        for k in rest {
            at = match at {
                Value::Object(o) => match o.get(std::str::from_utf8(k).ok()?) {
                    Some(v) => v,
                    None => return Some(Val::Null),
                },
                Value::Null => return Some(Val::Null),
                _ => return None,
            };
        }
        Some(crate::jq::json_to_val(at))
    }
}

/// One field of `$event` (see [`event_val`]).
fn field_val(e: &Event, name: &str) -> Val {
    match name {
        "type" => Val::from(e.event_type.clone()),
        "data" => crate::jq::data_val(e),
        "metadata" => crate::jq::metadata_val(e),
        "version" => int(e.stream_version),
        "position" => e.global_position.map_or(Val::Null, int),
        "time" => e
            .recorded_at
            .as_ref()
            .map_or(Val::Null, |t| Val::from(format_time(t))),
        "stream" => Val::from(e.stream_id.clone()),
        _ => Val::from(e.event_id.clone()),
    }
}

/// `$event`: type, data, metadata, version, position, time, stream and id, those of `fields`.
pub fn event_val(e: &Event, fields: EventFields) -> Val {
    let mut m = jaq_json::Map::default();
    for (i, name) in EVENT_FIELDS.into_iter().enumerate() {
        if fields.0 & (1 << i) == 0 {
            continue;
        }
        let v = field_val(e, name);
        // The names are static: no allocation for the text of the key.
        m.insert(Val::utf8_str(bytes::Bytes::from_static(name.as_bytes())), v);
    }
    Val::obj(m)
}

mod fast;

#[cfg(test)]
mod tests;
