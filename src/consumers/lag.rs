//! How far behind each consumer is: in events (what it follows, after its checkpoint, up to the
//! head), in time (the age of the oldest event it has not processed), and the flags an operator
//! acts on: stalled, beyond-head, at-gap, failed, paused, rebuilding.
//!
//! Lag is counted against the newest visible position (the events committed that the consumer
//! has not processed). The settled head — the position below which nothing can still appear,
//! `store::head::settled_head`, the one safe-head rule — is reported beside it and is where a
//! replay for a consumer ends.
//!
//! Counting is bounded so that a list of many consumers on a large log answers at once: a span
//! of at most [`EXACT_SPAN`] positions is counted exactly (an index range count); a longer one is
//! counted over its first [`EXACT_SPAN`] positions and scaled to the span, and says it is an
//! estimate (for a consumer of the whole log, the span itself is an upper bound).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use super::{Consumer, ConsumerError, Counts, Follows, Framework, State};
use crate::store::layout::Encoding;
use crate::store::sql::{Param, Scope, Source};
use crate::store::{
    Cursor, Direction, EventFilter, LogQuery, Start, Store, StoreError, StreamRead,
};

/// Spans of positions up to this long are counted exactly.
pub const EXACT_SPAN: i64 = 10_000;
/// The default threshold for `stalled`.
pub const STALL_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// Behind, and its checkpoint has not moved for the threshold.
    Stalled,
    /// Its checkpoint is past the newest event (after a restore, or the wrong database).
    BeyondHead,
    /// Waiting at (or right before) positions missing from the log.
    AtGap,
    Failed,
    Paused,
    Rebuilding,
    /// No checkpoint yet.
    NotStarted,
    /// A checkpoint is stored but evscope cannot read it: its lag is unknown.
    Unreadable,
    /// Events it failed to apply were skipped and kept as dead letters: what it built lacks
    /// them.
    DeadLetters,
}

impl Flag {
    pub fn label(self) -> &'static str {
        match self {
            Flag::Stalled => "stalled",
            Flag::BeyondHead => "beyond-head",
            Flag::AtGap => "at-gap",
            Flag::Failed => "failed",
            Flag::Paused => "paused",
            Flag::Rebuilding => "rebuilding",
            Flag::NotStarted => "not-started",
            Flag::Unreadable => "unreadable",
            Flag::DeadLetters => "dead-letters",
        }
    }
    /// Whether `consumers --check` fails on it.
    pub fn alarming(self) -> bool {
        // An unreadable checkpoint cannot be vouched for: a check does not pass it.
        matches!(
            self,
            Flag::Stalled | Flag::BeyondHead | Flag::Failed | Flag::Unreadable
        )
    }
}

/// A consumer with its lag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lagged {
    #[serde(flatten)]
    pub consumer: Consumer,
    /// Events after the checkpoint that it follows, up to the head.
    pub lag_events: Option<u64>,
    /// False when `lag_events` is an estimate.
    pub lag_exact: bool,
    /// Age of the oldest event it has not processed, in seconds (0 when caught up).
    pub lag_secs: Option<f64>,
    #[serde(serialize_with = "super::ser_opt_time")]
    pub oldest_unprocessed: Option<DateTime<Utc>>,
    /// Seconds since the checkpoint was last written (or, under --watch, last seen to move).
    pub idle_secs: Option<f64>,
    pub flags: Vec<Flag>,
}

impl Lagged {
    pub fn alarming(&self) -> bool {
        self.flags.iter().any(|f| f.alarming())
    }
    /// "1,234" or "≈1,234".
    pub fn lag_text(&self) -> String {
        match self.lag_events {
            None => "?".into(),
            Some(n) if self.lag_exact => n.to_string(),
            Some(n) => format!("≈{n}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub stall_after: Duration,
    /// Also wait for the settled head (PostgreSQL: the grace period; MySQL: the stale threshold).
    pub settle: bool,
    pub settle_wait: Duration,
    /// When each consumer was last seen to move (`--watch`), for those whose table records no
    /// update time: keyed by [`Consumer::id`] and framework.
    pub last_moved: std::collections::BTreeMap<(Framework, String), DateTime<Utc>>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            stall_after: STALL_AFTER,
            settle: true,
            settle_wait: Duration::from_secs(5),
            last_moved: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The layout the log is read through.
    pub layout: String,
    /// The newest visible position.
    pub head: Option<i64>,
    /// The settled head (None: not asked for, or it did not settle; see `settled_note`).
    pub settled_head: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_note: Option<String>,
    #[serde(serialize_with = "crate::store::model::ser_time")]
    pub at: Option<DateTime<Utc>>,
    pub stall_after_secs: u64,
    pub consumers: Vec<Lagged>,
}

impl Report {
    pub fn alarming(&self) -> bool {
        self.consumers.iter().any(Lagged::alarming)
    }
}

/// Read every consumer and measure it against the head.
pub async fn report(
    store: &Store,
    consumers: Vec<Consumer>,
    opts: &ReportOptions,
) -> Result<Report, ConsumerError> {
    let now = Utc::now();
    let head = store.max_position().await?;
    let settle = async {
        if !opts.settle {
            return (None, None);
        }
        match crate::store::head::settled_head(store, opts.settle_wait).await {
            Ok(h) => (h, None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let measure = futures_util::stream::iter(consumers.into_iter().map(|c| {
        let store = store.clone();
        async move { measure(&store, c, head, now, opts).await }
    }))
    .buffered(8)
    .collect::<Vec<_>>();
    let ((settled_head, settled_note), measured) = tokio::join!(settle, measure);
    let mut lagged = measured.into_iter().collect::<Result<Vec<_>, _>>()?;
    sort(&mut lagged);
    Ok(Report {
        layout: store.layout().name.clone(),
        head,
        settled_head,
        settled_note,
        at: Some(now),
        stall_after_secs: opts.stall_after.as_secs(),
        consumers: lagged,
    })
}

/// Most behind first (in events, then in time), then by name.
pub fn sort(v: &mut [Lagged]) {
    v.sort_by(|a, b| {
        b.lag_events
            .unwrap_or(0)
            .cmp(&a.lag_events.unwrap_or(0))
            .then(
                b.lag_secs
                    .unwrap_or(0.0)
                    .total_cmp(&a.lag_secs.unwrap_or(0.0)),
            )
            .then_with(|| a.consumer.id().cmp(&b.consumer.id()))
    });
}

fn filter_of(f: &Follows) -> EventFilter {
    EventFilter {
        types: f.types.clone(),
        stream: f.stream.clone(),
        category: f.category.clone(),
        ..EventFilter::default()
    }
}

/// Events after `after` up to `to` that `f` selects, counted exactly, or over the first
/// [`EXACT_SPAN`] positions and scaled (then `false`).
pub async fn count_after(
    store: &Store,
    f: &Follows,
    after: i64,
    to: i64,
) -> Result<(u64, bool), StoreError> {
    if to <= after {
        return Ok((0, true));
    }
    let span = to - after;
    let d = store.dialect();
    let src = Source::new(store.layout(), d, Scope::Global);
    let Some(pos) = &src.position else {
        return Ok((0, false));
    };
    if f.is_all() && span > EXACT_SPAN {
        // Positions are handed out one by one: the span bounds the count.
        return Ok((span as u64, false));
    }
    let upto = to.min(after + EXACT_SPAN);
    let mut sql = src.select_where("COUNT(*)");
    Store::push_filter(&src, &mut sql, &filter_of(f));
    sql.push(" AND ").push(&pos.sql).push(" > ");
    sql.bind(Param::I64(after));
    sql.push(" AND ").push(&pos.sql).push(" <= ");
    sql.bind(Param::I64(upto));
    let rows = store
        .db()
        .fetch_raw(&sql, &[Some(Encoding::Integer)])
        .await?;
    let n = rows.first().and_then(|r| r[0].int()).unwrap_or(0).max(0) as u64;
    if upto == to {
        Ok((n, true))
    } else {
        let scaled = (n as f64) * (span as f64) / (EXACT_SPAN as f64);
        Ok((scaled.round() as u64, false))
    }
}

/// The application a Python eventsourcing follower follows and the one whose log is open,
/// when they differ (PostgreSQL keeps each application's events in `{app}_events`; an
/// application's name is its class name, the table's lower-cased).
fn other_application(c: &Consumer, store: &Store) -> Option<(String, String)> {
    if c.framework != Framework::Eventsourcing {
        return None;
    }
    let layout = store.layout();
    if layout.name != "python-eventsourcing" {
        return None;
    }
    // SQLite keeps one application's `stored_events` per database file.
    let table = layout.events.table.as_str();
    if table.eq_ignore_ascii_case("stored_events") {
        return None;
    }
    let open = table.strip_suffix("_events")?;
    let upstream = c.segment.as_deref()?;
    (!upstream.eq_ignore_ascii_case(open)).then(|| (upstream.to_string(), open.to_string()))
}

async fn measure(
    store: &Store,
    c: Consumer,
    head: Option<i64>,
    now: DateTime<Utc>,
    opts: &ReportOptions,
) -> Result<Lagged, ConsumerError> {
    let mut l = Lagged {
        consumer: c,
        lag_events: None,
        lag_exact: true,
        lag_secs: None,
        oldest_unprocessed: None,
        idle_secs: None,
        flags: Vec::new(),
    };
    let c = &mut l.consumer;
    let layout = store.layout().name.as_str();
    if c.framework != Framework::Mapped && c.framework.layout() != layout {
        c.notes.push(format!(
            "its positions are those of the {} layout; the log open is {layout}",
            c.framework.layout()
        ));
    }
    if let Some((upstream, open)) = other_application(c, store) {
        // A follower counts the notification ids of the application it follows: another
        // application's log says nothing about it.
        c.notes.push(format!(
            "it follows the application {upstream}; the log open is {open}'s: lag is not counted (open it with --schema {})",
            upstream.to_ascii_lowercase()
        ));
        return Ok(l);
    }
    if c.unreadable {
        l.flags.push(Flag::Unreadable);
    }
    // An unreadable checkpoint has no lag to count.
    if !c.unreadable {
        let cp = c.checkpoint.unwrap_or(0);
        if c.checkpoint.is_none() {
            l.flags.push(Flag::NotStarted);
        }
        match c.counts {
            Counts::Global if store.layout().position.is_some() => {
                let head = head.unwrap_or(0);
                if cp > head {
                    l.flags.push(Flag::BeyondHead);
                    l.lag_events = Some(0);
                    l.lag_secs = Some(0.0);
                } else {
                    let (n, exact) = count_after(store, &c.follows, cp, head).await?;
                    l.lag_events = Some(n);
                    l.lag_exact = exact;
                    let first = store
                        .read_log(&LogQuery {
                            filter: filter_of(&c.follows),
                            start: Start::After(Cursor::Position(cp)),
                            direction: Direction::Forward,
                            limit: 1,
                            up_to: Some(head),
                        })
                        .await?;
                    match first.first() {
                        Some(e) => {
                            l.oldest_unprocessed = e.recorded_at;
                            l.lag_secs = e
                                .recorded_at
                                .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
                            // The position right after the checkpoint is missing from the log.
                            // For a consumer of part of the log the next event it follows is
                            // further on anyway: the whole log says whether the position is there.
                            let hole = e.global_position.is_some_and(|p| p > cp + 1);
                            let missing = if !hole || c.checkpoint.is_none() {
                                false
                            } else if c.follows.is_all() {
                                true
                            } else {
                                store
                                    .read_log(&LogQuery {
                                        filter: Default::default(),
                                        start: Start::After(Cursor::Position(cp)),
                                        direction: Direction::Forward,
                                        limit: 1,
                                        up_to: Some(head),
                                    })
                                    .await?
                                    .first()
                                    .is_some_and(|n| n.global_position.is_some_and(|p| p > cp + 1))
                            };
                            if missing {
                                l.flags.push(Flag::AtGap);
                            }
                        }
                        None => {
                            l.lag_events = Some(0);
                            l.lag_exact = true;
                            l.lag_secs = Some(0.0);
                        }
                    }
                }
            }
            Counts::Global => {
                c.notes.push(format!(
                    "the {layout} layout has no global position: lag is not counted"
                ));
            }
            Counts::StreamVersion => {
                let stream = c.follows.stream.clone().unwrap_or_default();
                let events = store
                    .read_stream(
                        &stream,
                        &StreamRead {
                            after_version: Some(cp),
                            limit: EXACT_SPAN as u32 + 1,
                            ..StreamRead::default()
                        },
                    )
                    .await?;
                let last = store
                    .read_stream(
                        &stream,
                        &StreamRead {
                            direction: Direction::Backward,
                            limit: 1,
                            ..StreamRead::default()
                        },
                    )
                    .await?;
                if last.first().is_some_and(|e| cp > e.stream_version) {
                    l.flags.push(Flag::BeyondHead);
                }
                l.lag_exact = events.len() as i64 <= EXACT_SPAN;
                l.lag_events = Some(events.len() as u64);
                l.oldest_unprocessed = events.first().and_then(|e| e.recorded_at);
                l.lag_secs = Some(
                    l.oldest_unprocessed
                        .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
                );
            }
        }
    }
    if !c.gaps.is_empty() && !l.flags.contains(&Flag::AtGap) {
        l.flags.push(Flag::AtGap);
    }
    if c.dead_letters.is_some_and(|n| n > 0) {
        l.flags.push(Flag::DeadLetters);
    }
    let moved = c
        .updated_at
        .or_else(|| opts.last_moved.get(&(c.framework, c.id())).copied());
    l.idle_secs = moved.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    let behind = l.lag_events.is_some_and(|n| n > 0);
    // Emmett's `stopped` is no decision to stop: it is what a processor says whenever no
    // instance holds it, shut down or stopped by a handler that threw (Emmett records no
    // failure). Behind and not moving, it is stalled like a running one.
    let emmett_stopped = c.framework == Framework::Emmett && c.state == Some(State::Stopped);
    if behind && emmett_stopped {
        c.notes.push(
            "stopped behind the head: Emmett records no failures, and a processor whose handler threw is stopped like one that was shut down".into(),
        );
    }
    if behind
        && l.idle_secs
            .is_some_and(|s| s >= opts.stall_after.as_secs_f64())
        && (emmett_stopped || !matches!(c.state, Some(State::Paused | State::Stopped)))
    {
        l.flags.push(Flag::Stalled);
    }
    match c.state {
        Some(State::Failed) => l.flags.push(Flag::Failed),
        Some(State::Paused) => l.flags.push(Flag::Paused),
        Some(State::Rebuilding) => l.flags.push(Flag::Rebuilding),
        _ => {}
    }
    l.flags.sort();
    l.flags.dedup();
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lagged(name: &str, n: Option<u64>, secs: Option<f64>) -> Lagged {
        Lagged {
            consumer: Consumer::new(Framework::Native, name, "t"),
            lag_events: n,
            lag_exact: true,
            lag_secs: secs,
            oldest_unprocessed: None,
            idle_secs: None,
            flags: vec![],
        }
    }

    #[test]
    fn most_behind_first() {
        let mut v = vec![
            lagged("a", Some(1), Some(5.0)),
            lagged("b", Some(10), None),
            lagged("c", Some(1), Some(50.0)),
            lagged("d", None, None),
        ];
        sort(&mut v);
        let names: Vec<&str> = v.iter().map(|l| l.consumer.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a", "d"]);
    }

    #[test]
    fn an_estimate_says_so() {
        let mut l = lagged("a", Some(1200), None);
        assert_eq!(l.lag_text(), "1200");
        l.lag_exact = false;
        assert_eq!(l.lag_text(), "≈1200");
    }
}
