//! What a replay publishes: a range of the log, fixed when the job is created, read page by
//! page from a mark (the last event the sink acknowledged).

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::filter::JqPredicate;
use crate::scan::{Key, Pages, Scan, ScanError, Stop, Streamed};
use crate::store::head::{HighWaterMark, Waiting};
use crate::store::{
    Cursor, Direction, Event, EventFilter, LogQuery, Start, Store, StoreError, StreamRead,
};

/// Events per read.
pub const PAGE: u32 = 2000;

/// A range of events. Every part narrows it; positions and versions are inclusive, `until` is
/// exclusive (as everywhere in evscope).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// A jq predicate every event must pass (the TUI's filter in force, or `--where ... | jq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jq: Option<String>,
}

/// A range that cannot be read as given: a usage error (flags that do not combine, bounds
/// the wrong way round, positions on a layout without them, a jq filter that does not
/// compile). The CLI exits 2 on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRange(pub String);

impl Range {
    /// Refuse what cannot be read: versions without a stream, positions on a layout without
    /// them, bounds the wrong way round.
    pub fn validate(&self, store: &Store) -> Result<(), InvalidRange> {
        self.check(store).map_err(InvalidRange)
    }

    fn check(&self, store: &Store) -> Result<(), String> {
        if self.stream.is_none() && (self.from_version.is_some() || self.to_version.is_some()) {
            return Err("--from-version/--to-version need --stream".into());
        }
        if self.stream.is_some()
            && (self.category.is_some()
                || self.stream_prefix.is_some()
                || self.from_position.is_some()
                || self.to_position.is_some())
        {
            return Err(
                "--stream selects by version: it does not combine with --category, --stream-prefix or positions"
                    .into(),
            );
        }
        if (self.from_position.is_some() || self.to_position.is_some())
            && store.layout().position.is_none()
        {
            return Err(format!(
                "the {} layout has no global position: choose the range by --since/--until, --stream or --category",
                store.layout().name
            ));
        }
        if let (Some(a), Some(b)) = (self.from_position, self.to_position) {
            if a > b {
                return Err(format!("--from-position {a} is after --to-position {b}"));
            }
        }
        if let (Some(a), Some(b)) = (self.from_version, self.to_version) {
            if a > b {
                return Err(format!("--from-version {a} is after --to-version {b}"));
            }
        }
        if let (Some(a), Some(b)) = (self.since, self.until) {
            if a >= b {
                return Err("--since is not before --until".into());
            }
        }
        if let Some(j) = &self.jq {
            JqPredicate::compile(j).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Fix the open upper end at the store's head now, so that a job means the same events
    /// when it is resumed later: events appended after the job was created are not in it.
    /// A `--until` still in the future is waited for (at most `max_wait`).
    pub async fn freeze(&mut self, store: &Store, max_wait: Duration) -> Result<(), StoreError> {
        if let Some(stream) = &self.stream {
            if self.to_version.is_none() {
                let last = store
                    .read_stream(
                        stream,
                        &StreamRead {
                            direction: Direction::Backward,
                            limit: 1,
                            ..Default::default()
                        },
                    )
                    .await?;
                // A stream that does not exist is an error naming it, not an empty range.
                if last.is_empty() {
                    store.require_stream(stream).await?;
                }
                self.to_version = Some(last.first().map_or(-1, |e| e.stream_version));
            }
        } else if store.layout().position.is_some() {
            if self.to_position.is_none() {
                // The newest visible position: the reader then waits, through the safe head,
                // for any position below it still held by an open transaction. A range bounded
                // by time must also hold the events of transactions running now that took a
                // position above the visible head with a time before --until: its end is the
                // head once those have finished.
                let head = match self.until {
                    Some(until) => {
                        let wait = until - Utc::now();
                        if let Ok(w) = wait.to_std() {
                            if w > max_wait {
                                return Err(StoreError::Unsettled(format!(
                                    "--until {} is more than {} away (--max-wait)",
                                    until.to_rfc3339(),
                                    crate::output::human_secs(max_wait.as_secs_f64())
                                )));
                            }
                            tokio::time::sleep(w).await;
                        }
                        crate::store::head::settled_head(store, max_wait).await?
                    }
                    None => store.max_position().await?,
                };
                self.to_position = Some(head.unwrap_or(0));
            }
        } else if self.until.is_none() {
            self.until = Some(Utc::now());
        }
        Ok(())
    }

    /// One line for people: "positions 1..500 · category account · types A, B".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let span = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => format!("{a}..{b}"),
            (Some(a), None) => format!("{a}.."),
            (None, Some(b)) => format!("..{b}"),
            (None, None) => "all".into(),
        };
        if let Some(s) = &self.stream {
            parts.push(format!(
                "stream {s} versions {}",
                span(self.from_version, self.to_version)
            ));
        } else if self.from_position.is_some() || self.to_position.is_some() {
            parts.push(format!(
                "positions {}",
                span(self.from_position, self.to_position)
            ));
        } else {
            parts.push("whole log".into());
        }
        if let Some(c) = &self.category {
            parts.push(format!("category {c}"));
        }
        if let Some(p) = &self.stream_prefix {
            parts.push(format!("streams {p}*"));
        }
        if !self.types.is_empty() {
            parts.push(format!("types {}", self.types.join(", ")));
        }
        if let Some(t) = self.since {
            parts.push(format!("since {}", t.to_rfc3339()));
        }
        if let Some(t) = self.until {
            parts.push(format!("until {}", t.to_rfc3339()));
        }
        if let Some(j) = &self.jq {
            parts.push(format!("| {j}"));
        }
        parts.join(" · ")
    }

    fn filter(&self) -> EventFilter {
        EventFilter {
            types: self.types.clone(),
            stream: None,
            category: self.category.clone(),
            stream_prefix: self.stream_prefix.clone(),
            since: self.since,
            until: self.until,
            // The database answers what it can of the program first; the program still
            // runs on every row read (see `pushdown`).
            pushed: self
                .jq
                .as_deref()
                .map(crate::pushdown::atoms)
                .unwrap_or_default(),
        }
    }
}

/// Where a replay stands: the last event of the range the sink acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mark {
    Position {
        position: i64,
    },
    Version {
        version: i64,
    },
    /// Layouts without a global position, ordered by (time, stream, version).
    Ordered {
        at: Option<DateTime<Utc>>,
        stream: String,
        version: i64,
    },
}

impl Mark {
    pub fn of(range: &Range, e: &Event) -> Mark {
        if range.stream.is_some() {
            return Mark::Version {
                version: e.stream_version,
            };
        }
        match e.cursor() {
            Cursor::Position(p) => Mark::Position { position: p },
            Cursor::Ordered {
                at,
                stream,
                version,
            } => Mark::Ordered {
                at,
                stream,
                version,
            },
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mark::Position { position } => format!("position {position}"),
            Mark::Version { version } => format!("version {version}"),
            Mark::Ordered {
                stream, version, ..
            } => format!("{stream}@{version}"),
        }
    }
}

/// How long a replay (or its dry run) waits, by default, for positions of its range that are
/// still held by open transactions before it fails with what holds them.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);

/// What a reader calls while it waits for held positions.
type OnWait = Box<dyn FnMut(&Waiting) + Send + Sync>;

/// Reads a range forward in pages, from just after a mark.
///
/// A range over global positions is read only as far as the store's safe head
/// ([`HighWaterMark`]): a position that an open transaction still holds is waited for, whether
/// the range's end is open (frozen at the head when the job was created) or explicit, and the
/// wait is reported through [`Reader::on_wait`]; after `max_wait` the read fails with what it
/// waits on. A range without a global position (one stream by version, or a layout ordered by
/// time) is read as stored. The pages themselves are a [`Scan`] of the range (with the safe
/// head as its ceiling), through the range's jq predicate.
pub struct Reader {
    store: Store,
    range: Range,
    scan: Scan<Pages>,
    done: bool,
    page: u32,
    /// The safe head, for ranges over global positions.
    gate: Option<HighWaterMark>,
    /// How far past the last row read the safe head is looked for (grows when pages are sparse).
    span: i64,
    max_wait: Duration,
    waiting_since: Option<Instant>,
    last_report: Option<Instant>,
    on_wait: Option<OnWait>,
}

impl Reader {
    /// A reader of `range` from just after `after` (None: from the range's start). A jq
    /// predicate that does not compile, or a mark of the wrong kind for the range (a version
    /// for a range that is not one stream, or the other way round), is an error.
    pub fn new(store: Store, range: Range, after: Option<Mark>) -> Result<Reader, ScanError> {
        Reader::build(store, range, after, false)
    }

    /// [`Reader::new`], reading the range's rows through one query as they stream in (see
    /// [`Streamed`]) rather than a query per page, wherever the read's bounds stay the same (a
    /// range below a settled head: a new query when the safe head the read is bounded by moves
    /// on). The database then sends the rows as `COPY` would, with no page's round trip,
    /// planning and index descent. A reader dropped before its end closes its query's
    /// connection (see [`Streamed`]).
    pub fn in_one_query(
        store: Store,
        range: Range,
        after: Option<Mark>,
    ) -> Result<Reader, ScanError> {
        Reader::build(store, range, after, true)
    }

    fn build(
        store: Store,
        range: Range,
        after: Option<Mark>,
        one_query: bool,
    ) -> Result<Reader, ScanError> {
        let jq = match &range.jq {
            Some(j) => Some(JqPredicate::compile(j)?),
            None => None,
        };
        let gate = (range.stream.is_none() && store.layout().position.is_some()).then(|| {
            let start = match &after {
                Some(Mark::Position { position }) => *position,
                _ => range.from_position.map_or(0, |p| p.saturating_sub(1)),
            };
            HighWaterMark::new(start)
        });
        let pages = match one_query {
            true => Pages::Streamed(Box::new(Streamed::new(store.clone(), usize::MAX))),
            false => Pages::Keyset(Box::new(store.clone())),
        };
        let scan = scan_of(pages, &range, after)?.with_jq(jq).with_page(PAGE);
        Ok(Reader {
            store,
            range,
            scan,
            done: false,
            page: PAGE,
            gate,
            span: i64::from(PAGE) * 4,
            max_wait: DEFAULT_MAX_WAIT,
            waiting_since: None,
            last_report: None,
            on_wait: None,
        })
    }

    pub fn with_page(mut self, page: u32) -> Reader {
        self.page = page.max(1);
        self.span = i64::from(self.page) * 4;
        self.scan = self.scan.with_page(self.page);
        self
    }

    /// Fail after waiting this long for held positions (default [`DEFAULT_MAX_WAIT`]).
    pub fn with_max_wait(mut self, d: Duration) -> Reader {
        self.max_wait = d;
        self
    }

    /// Called while the read waits for held positions (about once a second), and once with
    /// nothing more to say when it goes on.
    pub fn on_wait(mut self, f: impl FnMut(&Waiting) + Send + Sync + 'static) -> Reader {
        self.on_wait = Some(Box::new(f));
        self
    }

    /// The position up to which the range has been proven complete (None: not a range over
    /// global positions).
    pub fn settled_through(&self) -> Option<i64> {
        self.gate.as_ref().map(HighWaterMark::safe)
    }

    /// The next events of the range (never an empty page), or None at its end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Event>>, ScanError> {
        while !self.done {
            let page = match self.gate.is_some() {
                true => match self.read_settled().await? {
                    Some(p) => p,
                    None => continue,
                },
                false => {
                    let b = self.scan.next(self.page as usize).await?;
                    if !b.more() {
                        self.done = true;
                    }
                    b.events
                }
            };
            if !page.is_empty() {
                return Ok(Some(page));
            }
        }
        Ok(None)
    }

    /// The position the read stands at: every position up to it has been read (or handed
    /// out, matching or not).
    fn at(&self) -> i64 {
        match self.scan.resume() {
            Some(Key::Log(Cursor::Position(p))) => p,
            _ => self.range.from_position.map_or(0, |p| p.saturating_sub(1)),
        }
    }

    /// Events of a range over positions, read only below the safe head; None when it had to
    /// wait (the caller asks again).
    async fn read_settled(&mut self) -> Result<Option<Vec<Event>>, ScanError> {
        let target = self.range.to_position.unwrap_or(i64::MAX);
        let at = self.at();
        if at >= target {
            self.done = true;
            return Ok(Some(vec![]));
        }
        let gate = self.gate.as_mut().expect("a gated range");
        if gate.safe() < target && gate.safe() < at.saturating_add(self.span / 2) {
            let cap = target.min(at.saturating_add(self.span));
            gate.advance_to(&self.store, cap).await?;
        }
        let safe = gate.safe().min(target);
        if safe <= at {
            if gate.waiting_at().is_none() {
                // Nothing held, nothing newer: an open range ends here; an explicit end that
                // lies beyond the head waits for the head to reach it.
                if self.range.to_position.is_none() {
                    self.done = true;
                    return Ok(Some(vec![]));
                }
            }
            self.wait().await?;
            return Ok(None);
        }
        if self.waiting_since.take().is_some() {
            self.last_report = None;
        }
        // Everything up to the safe head is read, matching or not; the scan then stands there.
        self.scan.set_ceiling(safe);
        let b = self.scan.next(self.page as usize).await?;
        match b.stop {
            Stop::End => self.done = true,
            Stop::Ceiling if safe >= target => self.done = true,
            Stop::Ceiling if safe == at.saturating_add(self.span) => {
                // The read was cut by how far the head was looked for: look further next time.
                self.span = self.span.saturating_mul(2).min(1 << 40);
            }
            _ => {}
        }
        Ok(Some(b.events))
    }

    async fn wait(&mut self) -> Result<(), StoreError> {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let gate = self.gate.as_ref().expect("a gated range");
        let report = self
            .last_report
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        let timed_out = since.elapsed() >= self.max_wait;
        if report || timed_out {
            self.last_report = Some(Instant::now());
            let w = match gate.waiting(&self.store).await? {
                Some(w) => w,
                None => Waiting {
                    position: gate.safe() + 1,
                    secs: since.elapsed().as_secs_f64(),
                    dialect: self.store.dialect().name(),
                    standby: false,
                    holders: vec![],
                },
            };
            if timed_out {
                return Err(StoreError::Unsettled(format!(
                    "gave up after waiting {}: {}",
                    crate::output::human_secs(self.max_wait.as_secs_f64()),
                    if gate.waiting_at().is_some() {
                        w.describe()
                    } else {
                        format!(
                            "the range ends at position {} but the log's head is at {}",
                            self.range.to_position.unwrap_or_default(),
                            gate.safe()
                        )
                    }
                )));
            }
            if let Some(f) = &mut self.on_wait {
                f(&w);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

/// The scan of a range from just after a mark: one stream by version, or the log by position
/// (or by time, stream and version where the layout has no position).
fn scan_of(pages: Pages, r: &Range, after: Option<Mark>) -> Result<Scan<Pages>, StoreError> {
    if let Some(stream) = &r.stream {
        let after = match after {
            Some(Mark::Version { version }) => Some(version),
            Some(_) => {
                return Err(StoreError::BadInput(
                    "the checkpoint is not a stream version".into(),
                ));
            }
            None => None,
        };
        let read = StreamRead {
            from_version: r.from_version,
            to_version: r.to_version,
            after_version: after,
            direction: Direction::Forward,
            types: r.types.clone(),
            since: r.since,
            until: r.until,
            ..Default::default()
        };
        return Ok(Scan::stream(pages, stream.clone(), read));
    }
    let start = match after {
        Some(Mark::Position { position }) => Start::After(Cursor::Position(position)),
        Some(Mark::Ordered {
            at,
            stream,
            version,
        }) => Start::After(Cursor::Ordered {
            at,
            stream,
            version,
        }),
        Some(Mark::Version { .. }) => {
            return Err(StoreError::BadInput(
                "the checkpoint is a stream version, but the range is not one stream".into(),
            ));
        }
        None => r
            .from_position
            .map_or(Start::End, |p| Start::At(Cursor::Position(p))),
    };
    let q = LogQuery {
        filter: r.filter(),
        start,
        direction: Direction::Forward,
        limit: PAGE,
        up_to: r.to_position,
    };
    Ok(Scan::log(pages, q))
}

/// The first or last event of a plan, in short.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_position: Option<i64>,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub event_id: String,
    #[serde(serialize_with = "crate::store::model::ser_time")]
    pub recorded_at: Option<DateTime<Utc>>,
}

impl EventRef {
    /// "#p stream@v Type time" (no position where the layout has none).
    pub fn describe(&self) -> String {
        format!(
            "{}{}@{} {} {}",
            self.global_position
                .map_or(String::new(), |p| format!("#{p} ")),
            self.stream_id,
            self.stream_version,
            self.event_type,
            self.recorded_at
                .as_ref()
                .map_or("?".into(), crate::store::model::format_time)
        )
    }
}

impl From<&Event> for EventRef {
    fn from(e: &Event) -> EventRef {
        EventRef {
            global_position: e.global_position,
            stream_id: e.stream_id.clone(),
            stream_version: e.stream_version,
            event_type: e.event_type.clone(),
            event_id: e.event_id.clone(),
            recorded_at: e.recorded_at,
        }
    }
}

/// What a replay would publish: the dry run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub total: u64,
    pub by_type: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    pub first: Option<EventRef>,
    pub last: Option<EventRef>,
    /// The position up to which the range was proven complete: every position at or below it
    /// is committed or can no longer appear (None: a range not read by global position).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_through: Option<i64>,
    /// The newest visible position when the plan was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<i64>,
}

impl Plan {
    pub fn add(&mut self, e: &Event) {
        self.total += 1;
        *self.by_type.entry(e.event_type.clone()).or_default() += 1;
        *self
            .by_category
            .entry(e.category().to_string())
            .or_default() += 1;
        if self.first.is_none() {
            self.first = Some(e.into());
        }
        self.last = Some(e.into());
    }

    /// A histogram, most frequent first (ties by name).
    pub fn ranked(m: &BTreeMap<String, u64>) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = m.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// Seconds at `rate` events per second; None without a rate.
    pub fn estimate_secs(&self, rate: Option<f64>) -> Option<f64> {
        rate.filter(|r| *r > 0.0).map(|r| self.total as f64 / r)
    }
}

/// What a dry run reports while it reads.
#[derive(Debug, Clone)]
pub enum PlanProgress {
    /// Events counted so far.
    Counted(u64),
    /// The read waits for positions still held by open transactions.
    Waiting(Waiting),
}

/// Count the range (one read of it, through the safe head: a held position is waited for, at
/// most `max_wait`), with histograms, its ends and how far it was proven complete; `progress`
/// is called after each page and while waiting.
pub async fn plan(
    store: &Store,
    range: &Range,
    max_wait: Duration,
    progress: impl FnMut(PlanProgress) + Send + 'static,
) -> Result<Plan, ScanError> {
    let progress = std::sync::Arc::new(std::sync::Mutex::new(progress));
    let on_wait = progress.clone();
    // A plan reads no event's data: it is not parsed (see Store::keeping_json_text), and the
    // range is read through one query.
    let mut reader = Reader::in_one_query(store.keeping_json_text(), range.clone(), None)?
        .with_max_wait(max_wait)
        .on_wait(move |w| {
            if let Ok(mut f) = on_wait.lock() {
                f(PlanProgress::Waiting(w.clone()));
            }
        });
    let mut plan = Plan::default();
    while let Some(page) = reader.next_page().await? {
        for e in &page {
            plan.add(e);
        }
        if let Ok(mut f) = progress.lock() {
            f(PlanProgress::Counted(plan.total));
        }
    }
    plan.settled_through = reader.settled_through().map(|s| match range.to_position {
        Some(to) => s.min(to),
        None => s,
    });
    if store.layout().position.is_some() {
        plan.head = store.max_position().await?;
    }
    Ok(plan)
}
