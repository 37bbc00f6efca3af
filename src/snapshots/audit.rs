//! Integrity audit: what would make history untrustworthy. One pass over the global log (in
//! pages, per-stream state only) finds version gaps, versions that repeat or go backwards,
//! timestamps going backwards within a stream, and unreadable rows (data or metadata that is
//! not valid JSON or nested too deep, NULL data, a time that is no time, a stream id or other
//! text that is not valid UTF-8), each by its kind; duplicate event ids are found by an aggregate on the server (holding every id in
//! memory would not scale); event types that no reducer knows are reported as information.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rehydrate::reducer::Reducers;
use crate::store::layout::Encoding;
use crate::store::sql::{Param, Scope, Source, Sql};
use crate::store::{Direction, LogQuery, Start, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    VersionGap,
    DuplicateVersion,
    VersionBackwards,
    TimeBackwards,
    InvalidJson,
    /// JSON nested deeper than evscope reads (kept as its text).
    JsonTooDeep,
    /// An object of the JSON repeats a key (the first is read; readers disagree on which).
    RepeatedKey,
    /// The data column is NULL.
    NullData,
    /// A time column holds no time evscope can represent (infinity, a zero date, a year
    /// out of range, text that is no time).
    InvalidTime,
    /// A stream id, event id or type that is not valid UTF-8.
    InvalidUtf8,
    /// Any other unreadable value (a version that is not an integer).
    UnreadableValue,
    DuplicateEventId,
    UnknownType,
}

impl Kind {
    /// The kind's name as every format writes it (`unknown_type`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Info,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditSummary {
    pub events: u64,
    pub streams: usize,
    pub errors: usize,
    pub infos: usize,
}

const PAGE: u32 = 10_000;

struct StreamState {
    version: i64,
    time: Option<DateTime<Utc>>,
    /// The stream's reducer (an index into the file), chosen at its first event seen.
    reducer: Option<usize>,
}

/// Audit the whole store. `progress` is called after each page with the events read so far.
pub async fn audit(
    store: &Store,
    reducers: &Reducers,
    mut progress: impl FnMut(u64),
) -> Result<(Vec<Finding>, AuditSummary), StoreError> {
    let mut findings = Vec::new();
    let mut streams: HashMap<String, StreamState> = HashMap::new();
    // (reducer or category, type) -> (count, first stream) for the information findings.
    let mut unknown: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    let mut summary = AuditSummary::default();
    let mut q = LogQuery {
        limit: PAGE,
        direction: Direction::Forward,
        start: Start::End,
        ..Default::default()
    };
    loop {
        let page = store.read_log(&q).await?;
        let n = page.len();
        for e in &page {
            summary.events += 1;
            let at = |kind, detail: String| Finding {
                kind,
                severity: Severity::Error,
                stream_id: Some(e.stream_id.clone()),
                stream_version: Some(e.stream_version),
                global_position: e.global_position,
                event_id: Some(e.event_id.clone()),
                detail,
            };
            for p in &e.problems {
                findings.push(at(problem_kind(p), p.text.clone()));
            }
            match streams.get_mut(&e.stream_id) {
                None => {
                    // By its id, else by what its first event says and (when a reducer
                    // matches by stream type) the type a table of streams records, as a
                    // snapshot check chooses (`snapshots::choose_fold`).
                    let mut reducer = None;
                    if !reducers.reducers.is_empty() {
                        let chosen = match reducers.for_stream(&e.stream_id) {
                            Some(r) => Some(r),
                            None => {
                                let with_type = reducers.uses_stream_type();
                                let facts =
                                    store.facts_from(&e.stream_id, Some(e), with_type).await?;
                                reducers.choose(&e.stream_id, &facts).map(|(r, _)| r)
                            }
                        };
                        reducer = chosen.and_then(|r| {
                            reducers.reducers.iter().position(|x| std::ptr::eq(x, r))
                        });
                    }
                    streams.insert(
                        e.stream_id.clone(),
                        StreamState {
                            version: e.stream_version,
                            time: e.recorded_at,
                            reducer,
                        },
                    );
                }
                Some(s) => {
                    if e.stream_version == s.version {
                        findings.push(at(
                            Kind::DuplicateVersion,
                            format!("version {} appears again", e.stream_version),
                        ));
                    } else if e.stream_version < s.version {
                        findings.push(at(
                            Kind::VersionBackwards,
                            format!(
                                "version {} comes after version {} in the global order",
                                e.stream_version, s.version
                            ),
                        ));
                    } else if e.stream_version > s.version + 1 {
                        let missing = if e.stream_version == s.version + 2 {
                            format!("version {} is missing", s.version + 1)
                        } else {
                            format!(
                                "versions {}..{} are missing",
                                s.version + 1,
                                e.stream_version - 1
                            )
                        };
                        findings.push(at(Kind::VersionGap, missing));
                    }
                    if let (Some(prev), Some(t)) = (s.time, e.recorded_at) {
                        if t < prev {
                            findings.push(at(
                                Kind::TimeBackwards,
                                format!(
                                    "recorded at {} but the previous event of the stream at {}",
                                    crate::store::model::format_time(&t),
                                    crate::store::model::format_time(&prev)
                                ),
                            ));
                        }
                    }
                    s.version = s.version.max(e.stream_version);
                    s.time = match (s.time, e.recorded_at) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            // Unknown types are information only when a reducer file is in use.
            if reducers.reducers.is_empty() {
                continue;
            }
            let chosen = streams.get(&e.stream_id).and_then(|s| s.reducer);
            let (who, known) = match chosen.and_then(|i| reducers.reducers.get(i)) {
                Some(r) => (format!("reducer {}", r.name), r.names(&e.event_type)),
                None => (
                    format!(
                        "category {} (no reducer)",
                        crate::store::category(&e.stream_id)
                    ),
                    false,
                ),
            };
            if !known {
                let entry = unknown
                    .entry((who, e.event_type.clone()))
                    .or_insert((0, e.stream_id.clone()));
                entry.0 += 1;
            }
        }
        progress(summary.events);
        match page.last() {
            Some(e) if n == PAGE as usize => q.start = Start::After(e.cursor()),
            _ => break,
        }
    }
    findings.extend(duplicate_ids(store).await?);
    for ((who, ty), (count, example)) in unknown {
        findings.push(Finding {
            kind: Kind::UnknownType,
            severity: Severity::Info,
            stream_id: Some(example),
            stream_version: None,
            global_position: None,
            event_id: None,
            detail: format!("{count} event(s) of type {ty} that {who} does not name"),
        });
    }
    summary.streams = streams.len();
    summary.errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    summary.infos = findings.len() - summary.errors;
    Ok((findings, summary))
}

/// The audit's kind of a row's problem.
pub fn problem_kind(p: &crate::store::problem::Problem) -> Kind {
    use crate::store::problem::ProblemKind as P;
    match p.kind {
        P::InvalidJson => Kind::InvalidJson,
        P::JsonTooDeep => Kind::JsonTooDeep,
        P::RepeatedKey => Kind::RepeatedKey,
        P::NullData => Kind::NullData,
        P::InvalidTime => Kind::InvalidTime,
        P::InvalidUtf8 => Kind::InvalidUtf8,
        P::StateJq | P::Other => Kind::UnreadableValue,
    }
}

/// Event ids present more than once (an aggregate on the server; at most 1000 reported).
async fn duplicate_ids(store: &Store) -> Result<Vec<Finding>, StoreError> {
    let d = store.dialect();
    let src = Source::new(store.layout(), d, Scope::Global);
    let id = &src.event_id;
    let mut sql = Sql::new(d);
    sql.push(&format!(
        "SELECT {}, COUNT(*) FROM {} WHERE 1=1",
        d.select_expr(&id.sql, id.enc),
        src.from
    ));
    src.push_fixed(&mut sql);
    sql.push(&format!(" GROUP BY {} HAVING COUNT(*) > 1 LIMIT ", id.sql));
    sql.bind(Param::I64(1000));
    let rows = store
        .db()
        .fetch_raw(&sql, &[Some(Encoding::Text), Some(Encoding::Integer)])
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let event_id = it
                .next()
                .map(|x| x.text())
                .unwrap_or_default()
                .to_lowercase();
            let n = it.next().and_then(|x| x.int()).unwrap_or(0);
            Finding {
                kind: Kind::DuplicateEventId,
                severity: Severity::Error,
                stream_id: None,
                stream_version: None,
                global_position: None,
                event_id: Some(event_id.clone()),
                detail: format!("event id {event_id} appears {n} times"),
            }
        })
        .collect())
}
