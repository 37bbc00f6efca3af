//! One paged, filtered read of the store: the global log or one stream, forward or backward,
//! through an optional jq predicate, in keyset pages of the scan's own size.
//!
//! Every reader of "the events that match" goes through [`Scan`]: a page of the TUI's log or
//! stream window (up to 200 matches, budgeted), `evscope log` / `events` (stop at `--limit`),
//! an export (every match), the replay range reader (up to the safe head, see
//! [`Scan::set_ceiling`]) and the time-travel fold's pages.
//!
//! How many rows one store read asks for is the scan's business, not the caller's: without a
//! jq predicate every row is a match, so a read asks for what is still wanted and one more (to
//! tell the end from a page that just fills; at most [`PAGE_MAX`] + 1); with one, a read asks
//! for at least [`PAGE_MIN`] rows, doubling page after page up to [`PAGE_MAX`] — `log --where
//! '| …' --limit 1` over a log where nothing matches reads it in a few hundred pages, not one
//! row at a time. The caller's count only says when to stop.

use std::collections::VecDeque;
use std::future::Future;

use crate::filter::{FilterError, JqPredicate, JqRunError};
use crate::store::{Cursor, Direction, Event, LogQuery, Start, Store, StoreError, StreamRead};

/// The fewest rows a jq-filtered scan asks the store for at once.
pub const PAGE_MIN: u32 = 500;
/// The most rows a scan asks the store for at once (whatever is wanted).
pub const PAGE_MAX: u32 = 5_000;
/// How many rows a budgeted scan (the TUI's pages) reads before it answers with what it
/// found — never with nothing while the log goes on.
pub const SCAN_BUDGET: usize = 20_000;

/// Where pages come from: the store, or (in tests) anything that answers the same two keyset
/// reads.
pub trait PageSource: Send + Sync {
    /// One page of the global log (see [`Store::read_log`]).
    fn read_log(&self, q: &LogQuery)
    -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;
    /// One page of a stream (see [`Store::read_stream`]).
    fn read_stream(
        &self,
        stream: &str,
        r: &StreamRead,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;
}

impl PageSource for Store {
    fn read_log(
        &self,
        q: &LogQuery,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        Store::read_log(self, q)
    }
    fn read_stream(
        &self,
        stream: &str,
        r: &StreamRead,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        Store::read_stream(self, stream, r)
    }
}

/// Pages of the global log cut from one query whose rows stream in ([`Store::stream_log`]),
/// for a scan that reads on until it has what it wants (`log --where …`): the database plans
/// that one query whole — a parallel scan where it finds that best, an index where the limit
/// is small — where keyset pages, each `LIMIT`ed, walk the position index row by row (3.4 s
/// against 1.3 s for the search bench's pushed-down scan of 10M rows). The pages a [`Scan`]
/// asks for are the same (the same rows, in the same order, the same keys), so everything
/// else about the scan holds. A read that does not continue the last one starts a new query.
///
/// A query given up before its end (the reader stopped, or its bounds changed) closes its
/// connection, so nothing is left for the pool to drain; a read whose bounds change every
/// page (a ceiling raised each time) would start a query per page and gains nothing.
pub struct Streamed {
    store: Store,
    /// The most rows the first query asks for: what the caller will take (the rows jq drops
    /// aside), so that a small `--limit` is planned as one.
    first: u32,
    open: tokio::sync::Mutex<Option<Open>>,
}

struct Open {
    /// The read the query serves (its start and limit aside).
    base: LogQuery,
    rx: tokio::sync::mpsc::Receiver<Result<Vec<Event>, StoreError>>,
    buf: VecDeque<Event>,
    /// Rows received, and the query's `LIMIT`.
    got: u64,
    cap: u64,
    /// The last row handed out (the next read continues strictly after it).
    last: Option<Cursor>,
    closed: bool,
}

impl Streamed {
    /// `first`: the rows the first query asks for at most — the caller's `--limit`, plus one to
    /// tell whether more exist, and no fewer than a jq scan's first page ([`PAGE_MIN`], which
    /// must come from that query: a second one, unlimited, is planned for reading on).
    pub fn new(store: Store, first: usize) -> Streamed {
        Streamed {
            store,
            first: u32::try_from(first).unwrap_or(u32::MAX).max(PAGE_MIN),
            open: tokio::sync::Mutex::new(None),
        }
    }

    fn start(&self, q: &LogQuery, cap: u32) -> Result<Open, StoreError> {
        let mut query = q.clone();
        query.limit = cap;
        let rx = self.store.stream_log(&query)?;
        Ok(Open {
            base: q.clone(),
            rx,
            buf: VecDeque::new(),
            got: 0,
            cap: u64::from(cap),
            last: match &q.start {
                Start::After(c) => Some(c.clone()),
                _ => None,
            },
            closed: false,
        })
    }

    async fn page(&self, q: &LogQuery) -> Result<Vec<Event>, StoreError> {
        let mut open = self.open.lock().await;
        let continues = open.as_ref().is_some_and(|o| {
            o.base.filter == q.filter
                && o.base.direction == q.direction
                && o.base.up_to == q.up_to
                && match (&q.start, &o.last) {
                    (Start::After(c), Some(l)) => c == l,
                    (start, None) => *start == o.base.start,
                    _ => false,
                }
        });
        if !continues {
            *open = Some(self.start(q, self.first)?);
        }
        let Some(o) = open.as_mut() else {
            return Ok(Vec::new());
        };
        let want = q.limit.max(1) as usize;
        let mut page = Vec::with_capacity(want.min(PAGE_MAX as usize));
        while page.len() < want {
            if let Some(e) = o.buf.pop_front() {
                page.push(e);
                continue;
            }
            if !o.closed {
                match o.rx.recv().await {
                    Some(Ok(b)) => {
                        o.got += b.len() as u64;
                        o.buf.extend(b);
                    }
                    Some(Err(e)) => {
                        *open = None;
                        return Err(e);
                    }
                    None => o.closed = true,
                }
                continue;
            }
            if o.got < o.cap {
                break; // the end of what the read covers
            }
            // The query's LIMIT ended it (jq dropped some of its rows): on from the last row,
            // with a query not limited by the caller's count.
            let after = page.last().map(Event::cursor).or_else(|| o.last.clone());
            let mut next = o.base.clone();
            if let Some(c) = after {
                next.start = Start::After(c);
            }
            let mut fresh = self.start(&next, u32::MAX)?;
            fresh.base = o.base.clone();
            fresh.last = o.last.clone();
            *o = fresh;
        }
        if let Some(e) = page.last() {
            o.last = Some(e.cursor());
        }
        Ok(page)
    }
}

impl PageSource for Streamed {
    fn read_log(
        &self,
        q: &LogQuery,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        self.page(q)
    }
    fn read_stream(
        &self,
        stream: &str,
        r: &StreamRead,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        Store::read_stream(&self.store, stream, r)
    }
}

/// The store read in keyset pages, or through one query whose rows stream in ([`Streamed`]),
/// for a reader that chooses when it is built (a range reader: see
/// `replay::range::Reader::in_one_query`).
pub enum Pages {
    Keyset(Box<Store>),
    Streamed(Box<Streamed>),
}

impl PageSource for Pages {
    async fn read_log(&self, q: &LogQuery) -> Result<Vec<Event>, StoreError> {
        match self {
            Pages::Keyset(s) => s.read_log(q).await,
            Pages::Streamed(s) => s.page(q).await,
        }
    }
    fn read_stream(
        &self,
        stream: &str,
        r: &StreamRead,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        let store = match self {
            Pages::Keyset(s) => s,
            Pages::Streamed(s) => &s.store,
        };
        Store::read_stream(store, stream, r)
    }
}

/// Why a scan could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The store failed (or, for a read through the safe head, could not prove a position
    /// settled in time: [`StoreError::Unsettled`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The jq predicate failed on an event (named, with its problems when the row was
    /// unreadable): an event the filter cannot judge is reported, never skipped.
    #[error(transparent)]
    Jq(#[from] JqRunError),
    /// The jq program does not compile (a stored range's filter).
    #[error("{0}")]
    Filter(#[from] FilterError),
    /// The worker thread running the jq predicate ended without an answer.
    #[error("the filter's worker ended: {0}")]
    Worker(String),
}

/// A place in what a scan covers: the last row it read, or the last event it handed out.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// In the global log.
    Log(Cursor),
    /// In one stream.
    Version(i64),
}

/// Why a [`Batch`] ends where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// As many matches as asked for were found; more may follow.
    Enough,
    /// The scan budget was spent (with at least one match); more may follow.
    Budget,
    /// Everything up to the ceiling (the safe head) was read; more may follow once it moves.
    Ceiling,
    /// Nothing more: the end of the range, the stream or (now) the log.
    End,
}

/// What one [`Scan::next`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Matching events, in the scan's order; at most as many as were asked for.
    pub events: Vec<Event>,
    pub stop: Stop,
    /// Where to continue (strictly after it) to miss nothing and repeat nothing: the last row
    /// read when every match read was handed out, else the last event handed out. None when
    /// the scan has read nothing yet.
    pub resume: Option<Key>,
}

impl Batch {
    /// Whether more matches may exist past this batch.
    pub fn more(&self) -> bool {
        self.stop != Stop::End
    }
}

#[derive(Debug, Clone)]
enum Over {
    Log(LogQuery),
    Stream { stream: String, read: StreamRead },
}

#[derive(Debug, Clone, Copy)]
enum Paging {
    /// The scan's own sizes: what is wanted without jq; growing from [`PAGE_MIN`] with it.
    Own { next: u32 },
    /// Always this many rows per read.
    Fixed(u32),
}

/// A paged, filtered read. See the module documentation.
pub struct Scan<S: PageSource = Store> {
    source: S,
    over: Over,
    jq: Option<JqPredicate>,
    paging: Paging,
    budget: Option<usize>,
    /// Global-log scans: never read past this position for now (the safe head).
    ceiling: Option<i64>,
    /// The last row read, matching or not (or the start, when it is a continuation).
    scanned: Option<Key>,
    /// Matches read but not yet handed out (a page can hold more than was asked for).
    held: VecDeque<Event>,
    /// The last event handed out.
    given: Option<Key>,
    done: bool,
    pages: u64,
    rows: u64,
    /// Told after every store read: the rows read so far and where the scan stands.
    progress: Option<Progress>,
}

/// A scan's progress hook (see [`Scan::on_progress`]).
pub type Progress = Box<dyn FnMut(u64, &Key) + Send>;

impl<S: PageSource> Scan<S> {
    /// The global log as `q` describes it: its filter, from its start, in its direction, never
    /// past its `up_to`. Its `limit` is not used (the scan pages by its own size).
    pub fn log(source: S, q: LogQuery) -> Scan<S> {
        let scanned = match &q.start {
            Start::After(c) => Some(Key::Log(c.clone())),
            _ => None,
        };
        Scan::new(source, Over::Log(q), scanned)
    }

    /// One stream as `r` describes it: its version bounds, types, times and columns, from
    /// its `from_version` / `after_version`, in its direction. Its `limit` is not used.
    pub fn stream(source: S, stream: impl Into<String>, r: StreamRead) -> Scan<S> {
        let scanned = r.after_version.map(Key::Version);
        let over = Over::Stream {
            stream: stream.into(),
            read: r,
        };
        Scan::new(source, over, scanned)
    }

    fn new(source: S, over: Over, scanned: Option<Key>) -> Scan<S> {
        Scan {
            source,
            over,
            jq: None,
            paging: Paging::Own { next: PAGE_MIN },
            budget: None,
            ceiling: None,
            scanned,
            held: VecDeque::new(),
            given: None,
            done: false,
            pages: 0,
            rows: 0,
            progress: None,
        }
    }

    /// Call `f` after every store read with the rows read so far (matching or not) and the
    /// last one read: what a long search shows while nothing matches.
    pub fn on_progress(mut self, f: impl FnMut(u64, &Key) + Send + 'static) -> Scan<S> {
        self.progress = Some(Box::new(f));
        self
    }

    /// Keep only the events this predicate accepts.
    pub fn with_jq(mut self, jq: Option<JqPredicate>) -> Scan<S> {
        self.jq = jq;
        self
    }

    /// Answer a [`Scan::next`] once it has read `rows` rows and found at least one match.
    pub fn with_budget(mut self, rows: usize) -> Scan<S> {
        self.budget = Some(rows.max(1));
        self
    }

    /// Read exactly `rows` rows per store read (the replay reader's and the fold's pages).
    pub fn with_page(mut self, rows: u32) -> Scan<S> {
        self.paging = Paging::Fixed(rows.max(1));
        self
    }

    /// A global-log scan reads no position above `safe` until the ceiling is raised: a batch
    /// that reaches it ends with [`Stop::Ceiling`], and the scan then stands at `safe` (every
    /// position up to it read, matching or not). Only for forward scans of a layout with
    /// global positions; a ceiling never goes down.
    pub fn set_ceiling(&mut self, safe: i64) {
        self.ceiling = Some(self.ceiling.map_or(safe, |c| c.max(safe)));
    }

    /// No more matches can come.
    pub fn is_done(&self) -> bool {
        self.done && self.held.is_empty()
    }

    /// Where to continue after what was handed out (see [`Batch::resume`]).
    pub fn resume(&self) -> Option<Key> {
        if self.held.is_empty() {
            self.scanned.clone()
        } else {
            self.given.clone()
        }
    }

    /// Store reads made so far.
    pub fn pages_read(&self) -> u64 {
        self.pages
    }

    /// Rows read so far, matching or not.
    pub fn rows_scanned(&self) -> u64 {
        self.rows
    }

    /// The next matches, at most `want`: read until that many are found, the scan budget is
    /// spent with at least one, the ceiling is reached, or the source ends.
    pub async fn next(&mut self, want: usize) -> Result<Batch, ScanError> {
        let want = want.max(1);
        let mut out: Vec<Event> = Vec::new();
        let take = |held: &mut VecDeque<Event>, out: &mut Vec<Event>| {
            let n = (want - out.len()).min(held.len());
            out.extend(held.drain(..n));
        };
        take(&mut self.held, &mut out);
        let mut scanned = 0usize;
        let stop = loop {
            if out.len() >= want {
                break if self.is_done() {
                    Stop::End
                } else {
                    Stop::Enough
                };
            }
            if self.done {
                break Stop::End;
            }
            if self.at_ceiling() {
                break Stop::Ceiling;
            }
            if self.budget.is_some_and(|b| scanned >= b && !out.is_empty()) {
                break Stop::Budget;
            }
            scanned += self.read_page(want - out.len()).await?;
            take(&mut self.held, &mut out);
        };
        if let Some(e) = out.last() {
            self.given = Some(self.key_of(e));
        }
        Ok(Batch {
            events: out,
            stop,
            resume: self.resume(),
        })
    }

    /// Every match to the end (an export, a count). Use only where the whole result is wanted
    /// in memory; otherwise page with [`Scan::next`].
    pub async fn collect_all(&mut self) -> Result<Vec<Event>, ScanError> {
        let mut all = Vec::new();
        loop {
            let b = self.next(PAGE_MAX as usize).await?;
            all.extend(b.events);
            if b.stop != Stop::Enough && b.stop != Stop::Budget {
                return Ok(all);
            }
        }
    }

    fn key_of(&self, e: &Event) -> Key {
        match self.over {
            Over::Log(_) => Key::Log(e.cursor()),
            Over::Stream { .. } => Key::Version(e.stream_version),
        }
    }

    /// The position the scan stands at in a global-log scan by position, if known.
    fn position(&self) -> Option<i64> {
        match (&self.scanned, &self.over) {
            (Some(Key::Log(Cursor::Position(p))), _) => Some(*p),
            (None, Over::Log(q)) => match &q.start {
                Start::At(Cursor::Position(p)) => Some(p.saturating_sub(1)),
                _ => None,
            },
            _ => None,
        }
    }

    fn at_ceiling(&self) -> bool {
        match (self.ceiling, self.position()) {
            (Some(c), Some(p)) => p >= c,
            _ => false,
        }
    }

    fn page_size(&self, wanted: usize) -> u32 {
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX).min(PAGE_MAX);
        match self.paging {
            Paging::Fixed(n) => n,
            // One row more than is wanted: when it is not there, the scan knows it has reached
            // the end (a `--limit` equal to what is left is not "more may follow").
            Paging::Own { .. } if self.jq.is_none() => wanted.max(1).saturating_add(1),
            Paging::Own { next } => next.max(wanted),
        }
    }

    /// One store read: matches go to `held`; returns the rows read.
    async fn read_page(&mut self, wanted: usize) -> Result<usize, ScanError> {
        let limit = self.page_size(wanted);
        let ceiling = self.ceiling;
        let page = match &self.over {
            Over::Log(q) => {
                let mut q = q.clone();
                q.limit = limit;
                if let Some(k) = &self.scanned {
                    let Key::Log(c) = k else {
                        return Err(StoreError::BadInput(
                            "a stream version does not continue a scan of the log".into(),
                        )
                        .into());
                    };
                    q.start = Start::After(c.clone());
                }
                if let Some(c) = ceiling {
                    q.up_to = Some(q.up_to.map_or(c, |u| u.min(c)));
                }
                self.source.read_log(&q).await?
            }
            Over::Stream { stream, read } => {
                let mut r = read.clone();
                r.limit = limit;
                if let Some(k) = &self.scanned {
                    let Key::Version(v) = k else {
                        return Err(StoreError::BadInput(
                            "a log cursor does not continue a scan of a stream".into(),
                        )
                        .into());
                    };
                    r.after_version = Some(*v);
                }
                self.source.read_stream(stream, &r).await?
            }
        };
        let n = page.len();
        let full = n >= limit as usize;
        let last = page.last().map(|e| self.key_of(e));
        // jq first: on an error the scan stays where it was (asked again, it fails again,
        // rather than passing over the event).
        let kept = match &self.jq {
            Some(jq) => run_jq(jq, page).await?,
            None => page,
        };
        self.pages += 1;
        self.rows += n as u64;
        if let (Paging::Own { next }, Some(_)) = (&mut self.paging, &self.jq) {
            *next = next.saturating_mul(2).min(PAGE_MAX);
        }
        if last.is_some() {
            self.scanned = last;
        }
        if let (Some(f), Some(k)) = (&mut self.progress, &self.scanned) {
            f(self.rows, k);
        }
        self.held.extend(kept);
        if !full {
            self.ended_page();
        } else if self.past_end() {
            self.done = true;
        }
        Ok(n)
    }

    /// A page shorter than asked for: the source has nothing more below its bound. Under a
    /// ceiling below the scan's own end, that is the ceiling: the scan stands there.
    fn ended_page(&mut self) {
        if let (Some(c), Over::Log(q)) = (self.ceiling, &self.over) {
            if q.direction == Direction::Forward && q.up_to.is_none_or(|u| c < u) {
                match &self.scanned {
                    Some(Key::Log(Cursor::Position(_))) | None => {
                        let at = self.position().map_or(c, |p| p.max(c));
                        self.scanned = Some(Key::Log(Cursor::Position(at)));
                        return;
                    }
                    // A ceiling means nothing to a log without positions.
                    Some(_) => {}
                }
            }
        }
        self.done = true;
    }

    /// A full page that ends at the scan's own last position or version: nothing can follow
    /// (spares the empty read that would say so).
    fn past_end(&self) -> bool {
        match (&self.over, &self.scanned) {
            (Over::Log(q), Some(Key::Log(Cursor::Position(p)))) => {
                q.direction == Direction::Forward && q.up_to.is_some_and(|u| *p >= u)
            }
            (Over::Stream { read, .. }, Some(Key::Version(v))) => match read.direction {
                Direction::Forward => read.to_version.is_some_and(|t| *v >= t),
                Direction::Backward => read.to_version.is_some_and(|t| *v <= t),
            },
            _ => false,
        }
    }
}

/// The events of `page` that the predicate accepts; the first event the program fails on is
/// an error naming it. jq runs on the blocking pool: a slow (or endless) program occupies a
/// blocking thread, never one of the runtime's workers, so the UI keeps answering keys.
pub(crate) async fn run_jq(jq: &JqPredicate, page: Vec<Event>) -> Result<Vec<Event>, ScanError> {
    let jq = jq.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(page.len());
        for mut e in page {
            e.parse_json();
            match jq.matches(&e) {
                Ok(true) => out.push(e),
                Ok(false) => {}
                Err(m) => return Err(ScanError::Jq(JqRunError::of(&e, m))),
            }
        }
        Ok(out)
    })
    .await
    .unwrap_or_else(|e| Err(ScanError::Worker(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    /// A log of `n` events at positions 1..=n, in streams `s-0` .. `s-{streams-1}` (round
    /// robin); records the limit of every read; fails the read numbered `fail_at` (from 0).
    struct Fake {
        events: Vec<Event>,
        limits: Mutex<Vec<u32>>,
        fail_at: Option<usize>,
    }

    fn ev(p: i64, streams: i64) -> Event {
        Event {
            global_position: Some(p),
            stream_id: format!("s-{}", p % streams),
            stream_version: (p - 1) / streams,
            event_id: format!("e{p}"),
            event_type: if p % 10 == 0 { "Ten" } else { "Other" }.into(),
            data: json!({"n": p}),
            metadata: serde_json::Value::Null,
            recorded_at: None,
            problems: vec![],
            exact: None,
        }
    }

    impl Fake {
        fn new(n: i64, streams: i64) -> Fake {
            Fake {
                events: (1..=n).map(|p| ev(p, streams)).collect(),
                limits: Mutex::new(vec![]),
                fail_at: None,
            }
        }
        fn limits(&self) -> Vec<u32> {
            self.limits.lock().unwrap().clone()
        }
        fn record(&self, limit: u32) -> Result<(), StoreError> {
            let mut l = self.limits.lock().unwrap();
            l.push(limit);
            if self.fail_at == Some(l.len() - 1) {
                return Err(StoreError::Query("connection reset".into()));
            }
            Ok(())
        }
    }

    impl PageSource for &Fake {
        async fn read_log(&self, q: &LogQuery) -> Result<Vec<Event>, StoreError> {
            self.record(q.limit)?;
            let fwd = q.direction == Direction::Forward;
            let pos = |e: &Event| e.global_position.unwrap();
            let from = |e: &Event| match &q.start {
                Start::End => true,
                Start::At(Cursor::Position(p)) => {
                    if fwd {
                        pos(e) >= *p
                    } else {
                        pos(e) <= *p
                    }
                }
                Start::After(Cursor::Position(p)) => {
                    if fwd {
                        pos(e) > *p
                    } else {
                        pos(e) < *p
                    }
                }
                _ => panic!("positions only"),
            };
            let mut v: Vec<Event> = self
                .events
                .iter()
                .filter(|e| from(e) && q.up_to.is_none_or(|u| pos(e) <= u))
                .filter(|e| q.filter.types.is_empty() || q.filter.types.contains(&e.event_type))
                .cloned()
                .collect();
            if !fwd {
                v.reverse();
            }
            v.truncate(q.limit as usize);
            Ok(v)
        }
        async fn read_stream(
            &self,
            stream: &str,
            r: &StreamRead,
        ) -> Result<Vec<Event>, StoreError> {
            self.record(r.limit)?;
            let fwd = r.direction == Direction::Forward;
            let cmp = |v: i64, b: Option<i64>, op: &str| match b {
                None => true,
                Some(b) => match op {
                    ">=" => v >= b,
                    "<=" => v <= b,
                    ">" => v > b,
                    _ => v < b,
                },
            };
            let mut v: Vec<Event> = self
                .events
                .iter()
                .filter(|e| e.stream_id == stream)
                .filter(|e| {
                    let x = e.stream_version;
                    cmp(x, r.from_version, r.direction.from_op())
                        && cmp(x, r.to_version, r.direction.to_op())
                        && cmp(x, r.after_version, r.direction.after_op())
                })
                .cloned()
                .collect();
            if !fwd {
                v.reverse();
            }
            v.truncate(r.limit as usize);
            Ok(v)
        }
    }

    fn jq(src: &str) -> Option<JqPredicate> {
        Some(JqPredicate::compile(src).unwrap())
    }

    fn positions(b: &Batch) -> Vec<i64> {
        b.events
            .iter()
            .map(|e| e.global_position.unwrap())
            .collect()
    }

    fn log(dir: Direction) -> LogQuery {
        LogQuery {
            direction: dir,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn limit_one_with_a_jq_predicate_pages_by_the_scans_own_size() {
        // #14: `log --where '| select(.event_id == "…")' --limit 1` read one row per query.
        let fake = Fake::new(5000, 7);
        let mut scan =
            Scan::log(&fake, log(Direction::Forward)).with_jq(jq(r#"select(.event_id == "nope")"#));
        let b = scan.next(1).await.unwrap();
        assert!(b.events.is_empty());
        assert_eq!(b.stop, Stop::End);
        assert!(!b.more());
        let limits = fake.limits();
        assert!(limits.len() <= 5, "{} reads: {limits:?}", limits.len());
        assert!(limits.iter().all(|l| *l >= PAGE_MIN), "{limits:?}");
        assert_eq!(limits[..4], [500, 1000, 2000, 4000]);
        assert_eq!(scan.rows_scanned(), 5000);
        assert_eq!(scan.pages_read(), limits.len() as u64);
        assert_eq!(b.resume, Some(Key::Log(Cursor::Position(5000))));
    }

    #[tokio::test]
    async fn without_jq_a_read_asks_for_what_is_wanted() {
        let fake = Fake::new(20, 1);
        let mut scan = Scan::log(&fake, log(Direction::Forward));
        let b = scan.next(1).await.unwrap();
        assert_eq!(positions(&b), [1]);
        assert_eq!(b.stop, Stop::Enough);
        let b = scan.next(5).await.unwrap();
        assert_eq!(positions(&b), [2, 3, 4, 5, 6]);
        // One more than wanted each time (the first read's extra row is handed out next).
        assert_eq!(fake.limits(), [2, 5]);
        // The rest: a short page is the end.
        let b = scan.next(100).await.unwrap();
        assert_eq!(b.events.len(), 14);
        assert_eq!(b.stop, Stop::End);
        assert!(scan.is_done());
    }

    #[tokio::test]
    async fn an_empty_source_is_one_read_and_the_end() {
        let fake = Fake::new(0, 1);
        for q in [jq("true"), None] {
            let mut scan = Scan::log(&fake, log(Direction::Backward)).with_jq(q);
            let b = scan.next(200).await.unwrap();
            assert!(b.events.is_empty());
            assert_eq!(b.stop, Stop::End);
            assert_eq!(b.resume, None);
            // Asked again: still the end, without another read.
            let n = fake.limits().len();
            assert_eq!(scan.next(200).await.unwrap().stop, Stop::End);
            assert_eq!(fake.limits().len(), n);
        }
    }

    #[tokio::test]
    async fn matches_beyond_what_was_asked_are_held_not_lost() {
        let fake = Fake::new(3000, 3);
        // Every tenth event matches; 7 wanted per batch.
        let mut scan =
            Scan::log(&fake, log(Direction::Forward)).with_jq(jq(".event_type == \"Ten\""));
        let mut got = vec![];
        loop {
            let b = scan.next(7).await.unwrap();
            assert!(b.events.len() <= 7);
            if let Some(e) = b.events.last() {
                // The resume point is the last event handed out while matches are held.
                if b.more() && !scan.held.is_empty() {
                    assert_eq!(b.resume, Some(Key::Log(e.cursor())));
                }
            }
            got.extend(positions(&b));
            if !b.more() {
                break;
            }
        }
        assert_eq!(got, (1..=300).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_budget_answers_with_what_was_found_but_never_with_nothing() {
        // One match, 20,000 rows in: a budget of 1,000 does not stop the scan while nothing
        // was found.
        let fake = Fake::new(30_000, 5);
        let mut scan = Scan::log(&fake, log(Direction::Forward))
            .with_jq(jq(".data.n == 20000"))
            .with_budget(1000);
        let b = scan.next(200).await.unwrap();
        assert_eq!(positions(&b), [20000]);
        assert_eq!(b.stop, Stop::Budget);
        assert!(b.more());
        // The rest holds nothing; the next batch reads to the end.
        let b = scan.next(200).await.unwrap();
        assert!(b.events.is_empty());
        assert_eq!(b.stop, Stop::End);
        // With matches early, the budget cuts the batch short of 200.
        let mut scan = Scan::log(&fake, log(Direction::Forward))
            .with_jq(jq(".data.n % 1000 == 0"))
            .with_budget(2000);
        let b = scan.next(200).await.unwrap();
        assert_eq!(b.stop, Stop::Budget);
        assert!(
            !b.events.is_empty() && b.events.len() < 200,
            "{}",
            b.events.len()
        );
        // Continuing from the resume point misses nothing.
        let Some(Key::Log(c)) = b.resume.clone() else {
            panic!("{:?}", b.resume)
        };
        let mut again = Scan::log(
            &fake,
            LogQuery {
                start: Start::After(c),
                ..Default::default()
            },
        )
        .with_jq(jq(".data.n % 1000 == 0"));
        let rest = again.next(1000).await.unwrap();
        let mut all = positions(&b);
        all.extend(positions(&rest));
        assert_eq!(all, (1..=30).map(|i| i * 1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn backward_paging_of_the_log_and_of_a_stream() {
        let fake = Fake::new(1000, 4);
        let mut scan = Scan::log(
            &fake,
            LogQuery {
                start: Start::At(Cursor::Position(500)),
                direction: Direction::Backward,
                ..Default::default()
            },
        )
        .with_jq(jq(".data.n % 100 == 0"));
        let b = scan.next(3).await.unwrap();
        assert_eq!(positions(&b), [500, 400, 300]);
        assert_eq!(b.stop, Stop::Enough);
        let b = scan.next(3).await.unwrap();
        assert_eq!(positions(&b), [200, 100]);
        assert_eq!(b.stop, Stop::End);
        // A stream, newest first, down to version 12, in pages of 7.
        let mut scan = Scan::stream(
            &fake,
            "s-1",
            StreamRead {
                direction: Direction::Backward,
                to_version: Some(12),
                ..Default::default()
            },
        )
        .with_page(7);
        let mut versions = vec![];
        loop {
            let b = scan.next(7).await.unwrap();
            versions.extend(b.events.iter().map(|e| e.stream_version));
            if !b.more() {
                break;
            }
        }
        assert_eq!(versions, (12..=249).rev().collect::<Vec<_>>());
        // 238 versions in pages of 7: the last full page ends at version 12, and no empty
        // read follows it.
        assert_eq!(fake.limits().len(), 2 + 238 / 7);
    }

    #[tokio::test]
    async fn a_jq_error_names_the_event_and_the_scan_does_not_pass_it() {
        let mut fake = Fake::new(50, 1);
        fake.events[41].problems = vec![crate::store::problem::Problem::new(
            "data",
            crate::store::problem::ProblemKind::InvalidJson,
            "data is not valid JSON".into(),
        )];
        fake.events[41].data = json!("{\"n\": 4");
        let mut scan = Scan::log(&fake, log(Direction::Forward)).with_jq(jq(".data.n >= 0"));
        let err = scan.next(100).await.unwrap_err();
        let ScanError::Jq(e) = &err else {
            panic!("{err:?}")
        };
        assert!(
            e.event.starts_with("e42 (s-0@41, position 42"),
            "{}",
            e.event
        );
        assert!(
            e.event.contains("unreadable row: data is not valid JSON"),
            "{}",
            e.event
        );
        assert!(
            err.to_string().contains("the filter failed on event e42"),
            "{err}"
        );
        // Asked again, it fails again: the unreadable row is never skipped.
        assert!(matches!(scan.next(100).await, Err(ScanError::Jq(_))));
        // An optional step counts it as not matching.
        let mut scan = Scan::log(&fake, log(Direction::Forward)).with_jq(jq(".data.n? >= 0"));
        assert_eq!(scan.next(100).await.unwrap().events.len(), 49);
    }

    #[tokio::test]
    async fn a_store_error_is_typed_and_the_scan_can_go_on() {
        let mut fake = Fake::new(30, 1);
        fake.fail_at = Some(1);
        let mut scan = Scan::log(&fake, log(Direction::Forward)).with_page(10);
        assert_eq!(scan.next(10).await.unwrap().events.len(), 10);
        let err = scan.next(10).await.unwrap_err();
        assert!(
            matches!(err, ScanError::Store(StoreError::Query(_))),
            "{err:?}"
        );
        let b = scan.next(20).await.unwrap();
        assert_eq!(positions(&b), (11..=30).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_ceiling_holds_the_scan_at_the_safe_head() {
        let fake = Fake::new(100, 2);
        let mut scan = Scan::log(
            &fake,
            LogQuery {
                start: Start::After(Cursor::Position(10)),
                up_to: Some(90),
                ..Default::default()
            },
        )
        .with_jq(jq(".data.n % 20 == 0"))
        .with_page(1000);
        scan.set_ceiling(50);
        let b = scan.next(100).await.unwrap();
        assert_eq!(positions(&b), [20, 40]);
        assert_eq!(b.stop, Stop::Ceiling);
        // Everything up to the ceiling was read, matching or not.
        assert_eq!(b.resume, Some(Key::Log(Cursor::Position(50))));
        // At the ceiling, nothing is read until it moves.
        let n = fake.limits().len();
        assert_eq!(scan.next(100).await.unwrap().stop, Stop::Ceiling);
        assert_eq!(fake.limits().len(), n);
        scan.set_ceiling(40); // never down
        scan.set_ceiling(200); // past the scan's own end: that is the end
        let b = scan.next(100).await.unwrap();
        assert_eq!(positions(&b), [60, 80]);
        assert_eq!(b.stop, Stop::End);
    }

    #[tokio::test]
    async fn a_stream_scan_continues_by_version() {
        let fake = Fake::new(100, 4);
        let mut scan = Scan::stream(
            &fake,
            "s-2",
            StreamRead {
                after_version: Some(3),
                to_version: Some(20),
                ..Default::default()
            },
        )
        .with_jq(jq(".stream_version % 2 == 0"))
        .with_budget(5);
        let b = scan.next(3).await.unwrap();
        assert_eq!(
            b.events
                .iter()
                .map(|e| e.stream_version)
                .collect::<Vec<_>>(),
            [4, 6, 8]
        );
        assert_eq!(b.resume, Some(Key::Version(8)));
        let rest = scan.next(100).await.unwrap();
        assert_eq!(
            rest.events
                .iter()
                .map(|e| e.stream_version)
                .collect::<Vec<_>>(),
            [10, 12, 14, 16, 18, 20]
        );
        assert_eq!(rest.stop, Stop::End);
    }
}
