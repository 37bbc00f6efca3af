//! Stepping through a stream's history: the state at any version, forward and back, without
//! refolding from the first event. Checkpoints of the state are kept every `every` events (in
//! memory, bounded: when there are too many, every other one is dropped and the spacing
//! doubles); a step back refolds at most `every` events from the nearest checkpoint.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::diff::{Change, diff};
use super::reducer::{Fold, FoldError, State};
use crate::scan::{Scan, ScanError};
use crate::store::{Direction, Event, Store, StoreError, StreamRead};
use crate::task::AbortOnDrop;

/// Where a fold started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// The reducer's initial state.
    Initial,
    /// An in-memory checkpoint at this version.
    Checkpoint { version: i64 },
    /// The state already shown, at this version (a step forward).
    Current { version: i64 },
    /// The store's snapshot at this version (only when snapshots are trusted).
    Snapshot { version: i64 },
    /// Kept from a fold that passed this version a moment ago (steps back through what was
    /// just folded need neither a read nor a fold).
    Kept,
}

/// The state at one point of the stream.
#[derive(Debug, Clone)]
pub struct Step {
    /// The version of the last applied event (None: before the first event).
    pub version: Option<i64>,
    /// The event just applied.
    pub event: Option<Event>,
    pub state: Value,
    /// What the event changed.
    pub changes: Vec<Change>,
    /// Where the fold to this step started, and how many events it applied.
    pub origin: Origin,
    pub folded: usize,
    /// The reducer failed at this event: `state` is the state before it.
    pub error: Option<FoldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A page of the fold could not be read.
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("stream {0} has no events")]
    Empty(String),
}

pub struct Timeline {
    store: Store,
    pub stream: String,
    pub fold: Fold,
    /// (version, state after it), ascending; the initial state is not kept here.
    checkpoints: Vec<(i64, Value)>,
    pub every: usize,
    pub max_checkpoints: usize,
    pub first_version: i64,
    pub last_version: i64,
    /// When the first and the last event were recorded (the timeline's ends).
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    pub current: Option<Step>,
    /// Start from the store's snapshots when they are nearer than a checkpoint. Off unless
    /// the operator trusts them (a drifted snapshot would carry its drift forward).
    pub trust_snapshots: bool,
    /// Called after each page of a fold with (version reached, target version).
    pub progress: Option<std::sync::Arc<dyn Fn(i64, i64) + Send + Sync>>,
    /// The most steps kept from the latest folds (0: none), and the most memory they take
    /// (approximately: a stream with large states keeps fewer).
    pub max_kept: usize,
    pub max_kept_bytes: usize,
    /// The steps of the versions the last folds went through, up to their targets.
    kept: Option<Kept>,
}

/// The last steps of the latest folds: (event, state after it) for consecutive events of the
/// stream, and the state before the first of them. Bounded by [`Timeline::keep`] steps and
/// by [`Timeline::max_kept_bytes`] (the oldest go first).
struct Kept {
    /// Folded with snapshots trusted (such states are not kept for an untrusting timeline).
    trusted: bool,
    /// The version of the event before `steps[0]` (None: the state before the first event).
    base_version: Option<i64>,
    base: Value,
    steps: std::collections::VecDeque<(Event, Value, usize)>,
    /// The approximate size of the steps held (see [`approx_size`]).
    bytes: usize,
}

impl Kept {
    fn new(trusted: bool, base_version: Option<i64>, base: Value) -> Kept {
        Kept {
            trusted,
            base_version,
            base,
            steps: Default::default(),
            bytes: 0,
        }
    }

    /// Add the step after the last one, then drop the oldest while more than `keep` steps or
    /// `budget` bytes are held.
    fn push(&mut self, e: Event, state: Value, keep: usize, budget: usize) {
        let size = approx_size(&state)
            + approx_size(&e.data)
            + approx_size(&e.metadata)
            + e.stream_id.len()
            + e.event_id.len()
            + e.event_type.len()
            + std::mem::size_of::<Event>();
        self.push_sized(e, state, size, keep, budget);
    }

    /// [`Kept::push`] of a step whose size is known.
    fn push_sized(&mut self, e: Event, state: Value, size: usize, keep: usize, budget: usize) {
        self.bytes += size;
        self.steps.push_back((e, state, size));
        while self.steps.len() > keep || (self.bytes > budget && !self.steps.is_empty()) {
            if let Some((e, s, size)) = self.steps.pop_front() {
                self.bytes -= size;
                self.base_version = Some(e.stream_version);
                self.base = s;
            }
        }
    }

    fn last_state(&self) -> Option<&Value> {
        self.steps.back().map(|(_, s, _)| s)
    }
}

/// About how many bytes a JSON value takes in memory (its strings, and a word or so per
/// node): what bounds the kept steps, without serializing them.
fn approx_size(v: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => NODE,
        Value::String(s) => NODE + s.len(),
        Value::Array(a) => NODE + a.iter().map(approx_size).sum::<usize>(),
        Value::Object(o) => {
            NODE + o
                .iter()
                .map(|(k, v)| NODE + k.len() + approx_size(v))
                .sum::<usize>()
        }
    }
}

/// Events per read: large pages keep round trips few on long folds.
const PAGE: u32 = 10_000;

impl Timeline {
    /// Open a stream: its first and last versions.
    pub async fn open(store: Store, stream: &str, fold: Fold) -> Result<Timeline, TimelineError> {
        let one = |direction| StreamRead {
            limit: 1,
            direction,
            ..Default::default()
        };
        let first = store.read_stream(stream, &one(Direction::Forward)).await?;
        let last = store.read_stream(stream, &one(Direction::Backward)).await?;
        let (Some(f), Some(l)) = (first.first(), last.first()) else {
            return Err(TimelineError::Empty(stream.to_string()));
        };
        Ok(Timeline {
            store,
            stream: stream.to_string(),
            fold,
            checkpoints: Vec::new(),
            every: 64,
            max_checkpoints: 4096,
            first_version: f.stream_version,
            last_version: l.stream_version,
            first_at: f.recorded_at,
            last_at: l.recorded_at,
            current: None,
            trust_snapshots: false,
            progress: None,
            max_kept: 2048,
            max_kept_bytes: 64 << 20,
            kept: None,
        })
    }

    /// How many steps a fold keeps (its last ones): those between two checkpoints (at least
    /// 256, at most `max_kept`), so that stepping back through them reads and folds nothing.
    fn keep(&self) -> usize {
        self.every.max(256).min(self.max_kept)
    }

    /// The step at `target` from the kept steps, if they hold it.
    fn kept_step(&self, target: i64) -> Option<Step> {
        let k = self
            .kept
            .as_ref()
            .filter(|k| self.max_kept > 0 && k.trusted == self.trust_snapshots)?;
        let i = k
            .steps
            .binary_search_by_key(&target, |(e, _, _)| e.stream_version)
            .ok()?;
        let before = if i == 0 { &k.base } else { &k.steps[i - 1].1 };
        let (event, state, _) = &k.steps[i];
        Some(Step {
            version: Some(target),
            event: Some(event.clone()),
            state: state.clone(),
            changes: diff(before, state),
            origin: Origin::Kept,
            folded: 0,
            error: None,
        })
    }

    /// Keep the last steps of a fold (`fold`, already bounded): appended to the kept ones
    /// when they go on from them, else in their place.
    fn keep_steps(&mut self, fold: Kept) {
        if fold.steps.is_empty() {
            return;
        }
        let (keep, budget) = (self.keep(), self.max_kept_bytes);
        match self.kept.as_mut() {
            Some(k)
                if k.trusted == fold.trusted
                    && fold.base_version.is_some()
                    && k.steps.back().map(|(e, _, _)| e.stream_version) == fold.base_version =>
            {
                for (e, s, size) in fold.steps {
                    k.push_sized(e, s, size, keep, budget);
                }
            }
            _ => self.kept = Some(fold),
        }
    }

    /// The number of checkpoints held (bounded by `max_checkpoints`).
    pub fn checkpoints(&self) -> usize {
        self.checkpoints.len()
    }

    /// Keep a checkpoint when `version` is at least `every` past the newest one (checkpoints
    /// only grow at the frontier; a refold in the middle adds none).
    fn remember(&mut self, version: i64, state: &State) {
        let newest = self
            .checkpoints
            .last()
            .map_or(self.first_version - 1, |(v, _)| *v);
        if version - newest >= self.every as i64 {
            self.checkpoints.push((version, state.to_json()));
            if self.checkpoints.len() > self.max_checkpoints {
                // Thin out: keep every other checkpoint, double the spacing.
                let kept: Vec<(i64, Value)> = self
                    .checkpoints
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .cloned()
                    .collect();
                self.checkpoints = kept;
                self.every *= 2;
            }
        }
    }

    /// The state after the event at `version` (clamped to the stream), or before the first
    /// event when `version` is below it.
    pub async fn goto(&mut self, version: i64) -> Result<Step, TimelineError> {
        let target = version.min(self.last_version);
        if target < self.first_version {
            let step = Step {
                version: None,
                event: None,
                state: self.fold.initial(),
                changes: vec![],
                origin: Origin::Initial,
                folded: 0,
                error: None,
            };
            self.current = Some(step.clone());
            return Ok(step);
        }
        // A version a fold just went through.
        if let Some(step) = self.kept_step(target) {
            self.current = Some(step.clone());
            return Ok(step);
        }
        // One step forward from where we are: just the next event.
        let start = match &self.current {
            Some(cur)
                if cur.error.is_none()
                    && cur.version.is_some_and(|v| v < target)
                    && self.is_near(cur, target) =>
            {
                (
                    cur.version,
                    cur.state.clone(),
                    Origin::Current {
                        version: cur.version.unwrap_or(0),
                    },
                )
            }
            _ => match self.checkpoints.iter().rev().find(|(v, _)| *v < target) {
                Some((v, s)) => (Some(*v), s.clone(), Origin::Checkpoint { version: *v }),
                None => (None, self.fold.initial(), Origin::Initial),
            },
        };
        let (mut from, mut state0, mut origin) = start;
        if self.trust_snapshots {
            let near = self
                .store
                .snapshots(&self.stream, Some(target - 1), true, 1)
                .await?;
            if let Some(sn) = near.into_iter().next() {
                if sn.problems.is_empty() && from.is_none_or(|f| sn.stream_version > f) {
                    from = Some(sn.stream_version);
                    origin = Origin::Snapshot {
                        version: sn.stream_version,
                    };
                    state0 = sn.state;
                }
            }
        }
        // The fold state is converted back at each page boundary: jaq's values are not Send,
        // and this future may move between threads at every await.
        let mut state_json = state0.clone();
        let mut before = state0;
        let mut read = StreamRead {
            limit: PAGE,
            after_version: from,
            to_version: Some(target),
            ..Default::default()
        };
        let mut folded = 0;
        let mut last_event: Option<Event> = None;
        // The fold's last steps (those within `keep` versions of the target), kept for the
        // steps back that follow, and the state before the first of them.
        let (keep, budget) = (self.keep(), self.max_kept_bytes);
        let keep_from = target.saturating_sub(keep as i64);
        let mut kept: Option<Kept> = None;
        let pages = Pages::new(
            self.store.clone(),
            self.stream.clone(),
            read.clone(),
            target,
        );
        // A long fold reads the next page while this one is folded; a step (one page at most)
        // reads inline, without a task to schedule.
        let span = target - from.unwrap_or(self.first_version - 1);
        let mut pages = if span > i64::from(PAGE) {
            pages.ahead()
        } else {
            pages
        };
        while let Some(page) = pages.next().await {
            let page = page?;
            let mut failed: Option<Step> = None;
            {
                let mut state = self.fold.start(&state_json);
                for e in page {
                    let keeping = e.stream_version > keep_from;
                    if keeping && kept.is_none() {
                        kept = Some(Kept::new(
                            self.trust_snapshots,
                            read.after_version.or(from),
                            state.to_json(),
                        ));
                    }
                    if e.stream_version == target {
                        before = match kept.as_ref().and_then(Kept::last_state) {
                            Some(s) => s.clone(),
                            None => state.to_json(),
                        };
                    }
                    match self.fold.apply_mut(&mut state, &e) {
                        Ok(()) => {}
                        Err(err) => {
                            failed = Some(Step {
                                version: Some(e.stream_version),
                                event: Some(e),
                                state: state.to_json(),
                                changes: vec![],
                                origin: origin.clone(),
                                folded,
                                error: Some(err),
                            });
                            break;
                        }
                    }
                    folded += 1;
                    self.remember(e.stream_version, &state);
                    if let (true, Some(k)) = (keeping, kept.as_mut()) {
                        k.push(e.clone(), state.to_json(), keep, budget);
                    }
                    read.after_version = Some(e.stream_version);
                    last_event = Some(e);
                }
                state_json = state.to_json();
            }
            if let Some(step) = failed {
                self.current = Some(step.clone());
                return Ok(step);
            }
            if let (Some(p), Some(v)) = (&self.progress, read.after_version) {
                p(v, target);
            }
        }
        let after = state_json;
        if let Some(k) = kept {
            self.keep_steps(k);
        }
        let changes = if last_event
            .as_ref()
            .is_some_and(|e| e.stream_version == target)
        {
            diff(&before, &after)
        } else {
            vec![]
        };
        let step = Step {
            version: last_event.as_ref().map(|e| e.stream_version).or(from),
            event: last_event,
            state: after,
            changes,
            origin,
            folded,
            error: None,
        };
        self.current = Some(step.clone());
        Ok(step)
    }

    fn is_near(&self, cur: &Step, target: i64) -> bool {
        // Folding on from the current state beats a checkpoint when it is the nearest start.
        let from_cp = self
            .checkpoints
            .iter()
            .rev()
            .find(|(v, _)| *v < target)
            .map(|(v, _)| *v);
        cur.version.is_some_and(|v| from_cp.is_none_or(|c| v >= c))
    }

    pub async fn forward(&mut self) -> Result<Step, TimelineError> {
        let v = self
            .current
            .as_ref()
            .and_then(|s| s.version)
            .map_or(self.first_version, |v| v + 1);
        self.goto(v).await
    }

    pub async fn back(&mut self) -> Result<Step, TimelineError> {
        let v = self
            .current
            .as_ref()
            .and_then(|s| s.version)
            .unwrap_or(self.first_version);
        self.goto(v - 1).await
    }

    pub async fn start(&mut self) -> Result<Step, TimelineError> {
        self.goto(self.first_version).await
    }

    pub async fn end(&mut self) -> Result<Step, TimelineError> {
        self.goto(self.last_version).await
    }

    /// The state as of a time: after the last event recorded at or before it.
    pub async fn as_of(&mut self, t: DateTime<Utc>) -> Result<Step, TimelineError> {
        let read = StreamRead {
            limit: 1,
            direction: Direction::Backward,
            as_of: Some(t),
            ..Default::default()
        };
        let last = self.store.read_stream(&self.stream, &read).await?;
        match last.first() {
            Some(e) => self.goto(e.stream_version).await,
            None => self.goto(self.first_version - 1).await,
        }
    }
}

/// The pages of a fold up to `target`: a [`Scan`] of the stream in pages of the read's
/// limit, read inline, or by a task one page ahead.
// One per fold, on the stack: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pages {
    Inline {
        scan: Scan,
        page: usize,
        /// A read failed: the fold stops there (it is reported once, not retried).
        failed: bool,
    },
    Ahead {
        pages: tokio::sync::mpsc::Receiver<Result<Vec<Event>, ScanError>>,
        /// Aborts the reading task when the fold stops early.
        _reader: AbortOnDrop,
    },
}

impl Pages {
    /// The pages of `stream` from `read` on (its `limit` rows each), up to version `target`,
    /// read when asked for.
    pub(crate) fn new(store: Store, stream: String, read: StreamRead, target: i64) -> Pages {
        let page = read.limit.max(1);
        let mut read = read;
        // The scan knows its last version: a full page that ends there is the last one.
        read.to_version = match read.to_version {
            Some(v) => Some(v.min(target)),
            None if target < i64::MAX => Some(target),
            None => None,
        };
        Pages::Inline {
            scan: Scan::stream(store, stream, read).with_page(page),
            page: page as usize,
            failed: false,
        }
    }

    /// The same pages, read on a task that stays one page ahead (stopped when dropped).
    pub(crate) fn ahead(mut self) -> Pages {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(async move {
            while let Some(page) = self.next().await {
                if tx.send(page).await.is_err() {
                    return;
                }
            }
        });
        Pages::Ahead {
            pages: rx,
            _reader: AbortOnDrop::new(task),
        }
    }

    pub(crate) async fn next(&mut self) -> Option<Result<Vec<Event>, ScanError>> {
        match self {
            Pages::Ahead { pages, .. } => pages.recv().await,
            Pages::Inline { scan, page, failed } => {
                if *failed || scan.is_done() {
                    return None;
                }
                match scan.next(*page).await {
                    // An empty last page (the stream ended on a full one) is no page.
                    Ok(b) if b.events.is_empty() && !b.more() => None,
                    Ok(b) => Some(Ok(b.events)),
                    Err(e) => {
                        *failed = true;
                        Some(Err(e))
                    }
                }
            }
        }
    }
}
