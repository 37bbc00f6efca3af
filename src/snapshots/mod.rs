//! Snapshot audit: every stored snapshot compared with the state recomputed from the events.
//!
//! Snapshots are derived and disposable; the events are the truth. Each stream is folded
//! once, forward, and compared at each of its snapshots' versions (the fold is shared by all
//! the snapshots of a stream, so checking a store costs about one read of its events).

pub mod audit;
pub mod scan;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::rehydrate::diff::{Change, diff_with};
use crate::rehydrate::reducer::{Fold, Reducers, State};
use crate::store::{Event, Snapshot, Store, StoreError};
use scan::{Filter, Scan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Drifted,
    Error,
    /// No reducer applies to the stream: the snapshot was not checked (the default merge
    /// fold would compare something else entirely with the stored state).
    NoReducer,
}

/// The verdict on one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub stream_id: String,
    pub stream_version: i64,
    pub status: Status,
    /// Stored vs recomputed: what the snapshot has wrong (`old` = recomputed, `new` = stored;
    /// serialized as [`Drift`], which names them).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_drifts"
    )]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
    /// For [`Status::NoReducer`]: what no reducer was found for (its stream type, else
    /// `category X`), as the summary counts it (the error says it in words).
    #[serde(skip)]
    pub unchecked: Option<String>,
}

/// One difference of a snapshot as the report writes it (`verify-snapshots --format json`):
/// the stored value and the recomputed one by name. The domain's [`Change`] is the diff from
/// the recomputed state to the stored one (its `old` is the recomputed value, its `new` the
/// stored one), which a reader of the report should not have to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Drift<'a> {
    /// A path only the stored snapshot has.
    Added { path: &'a str, stored: &'a Value },
    /// A path the recomputed state has and the stored snapshot lacks.
    Removed {
        path: &'a str,
        recomputed: &'a Value,
    },
    Changed {
        path: &'a str,
        stored: &'a Value,
        recomputed: &'a Value,
        /// stored − recomputed, when both are numbers
        #[serde(skip_serializing_if = "Option::is_none")]
        delta: Option<f64>,
        /// true when the JSON types differ
        type_changed: bool,
    },
}

impl<'a> From<&'a Change> for Drift<'a> {
    fn from(c: &'a Change) -> Drift<'a> {
        match c {
            Change::Added { path, new } => Drift::Added { path, stored: new },
            Change::Removed { path, old } => Drift::Removed {
                path,
                recomputed: old,
            },
            Change::Changed {
                path,
                old,
                new,
                delta,
                type_changed,
            } => Drift::Changed {
                path,
                stored: new,
                recomputed: old,
                delta: *delta,
                type_changed: *type_changed,
            },
        }
    }
}

fn serialize_drifts<S: Serializer>(changes: &[Change], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(changes.iter().map(Drift::from))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub streams: usize,
    pub checked: usize,
    pub ok: usize,
    pub drifted: usize,
    pub errors: usize,
    /// Snapshots of streams no reducer applies to (not checked).
    pub no_reducer: usize,
    /// Those, by what the stream is (its type, else its category): "no reducer for X: N
    /// snapshots not checked".
    pub unchecked: BTreeMap<String, usize>,
    /// The reducer file has reducers and none of them applied to any stream checked.
    pub no_reducer_matched: bool,
}

impl Summary {
    /// The summary once every stream was checked: whether a reducer file with reducers
    /// applied to none of them.
    fn finished(mut self, reducers: &Reducers) -> Summary {
        self.no_reducer_matched =
            !reducers.reducers.is_empty() && self.checked > 0 && self.no_reducer == self.checked;
        self
    }

    pub fn add(&mut self, c: &Check) {
        self.checked += 1;
        match c.status {
            Status::Ok => self.ok += 1,
            Status::Drifted => self.drifted += 1,
            Status::Error => self.errors += 1,
            Status::NoReducer => {
                self.no_reducer += 1;
                *self
                    .unchecked
                    .entry(c.unchecked.clone().unwrap_or_else(|| "?".into()))
                    .or_default() += 1;
            }
        }
    }

    /// "no reducer for X: N snapshots not checked", one line per X.
    pub fn unchecked_lines(&self) -> Vec<String> {
        self.unchecked
            .iter()
            .map(|(what, n)| {
                format!(
                    "no reducer for {what}: {n} snapshot{} not checked",
                    if *n == 1 { "" } else { "s" }
                )
            })
            .collect()
    }
}

/// How the error of a [`Status::NoReducer`] check starts (then what the stream is: its
/// [`Check::unchecked`]).
pub const NO_REDUCER: &str = "no reducer for ";

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub stream: Option<String>,
    pub category: Option<String>,
    /// Only snapshots taken at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Parts of the store checked at once, each on a thread of its own with its own reads
    /// (0: one per CPU, at most [`MAX_AUTO_JOBS`]; one stream is always checked by one).
    pub jobs: usize,
}

impl Scope {
    /// How many parts are checked at once for this scope.
    pub fn jobs(&self) -> usize {
        if self.stream.is_some() {
            return 1;
        }
        match self.jobs {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_AUTO_JOBS),
            n => n,
        }
    }
}

/// Rows per page of each scan (a page of each is in memory, and one more on its way).
const EVENT_PAGE: u32 = 2_000;
const SNAPSHOT_PAGE: u32 = 2_000;
/// Snapshots per part of a store-wide check (a part ends with its last stream's snapshots)...
const PART_SNAPSHOTS: usize = 1_000;
/// ...unless one stream has more than this: then it is cut, and its fold goes on in the next
/// part (memory stays bounded however many snapshots a stream has).
const PART_MAX_SNAPSHOTS: usize = 5_000;
/// The default number of parts checked at once on a machine with many CPUs.
pub const MAX_AUTO_JOBS: usize = 4;

/// Check every snapshot of one stream (the same merge as [`verify`], narrowed to it).
pub async fn verify_stream(
    store: &Store,
    reducers: &Reducers,
    stream: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Check>, StoreError> {
    let scope = Scope {
        stream: Some(stream.to_string()),
        since,
        ..Scope::default()
    };
    let mut out = Vec::new();
    verify(store, reducers, &scope, |_, checks| {
        out.extend_from_slice(checks)
    })
    .await?;
    Ok(out)
}

/// A run of snapshots in (stream, version) order, with the scan of their events (already
/// reading). Its first and last streams may be cut: see [`Carry`].
struct Part {
    /// For what a stream's first event cannot tell (its recorded type, a cut stream's first
    /// event).
    store: Store,
    snapshots: Vec<Snapshot>,
    events: Scan<Event>,
    /// The first stream goes on from the part before: its fold up to this version, handed
    /// over when that part is done.
    carried_in: Option<(i64, oneshot::Receiver<Carry>)>,
    /// The last stream goes on in the next part: where its fold is handed.
    carry_out: Option<oneshot::Sender<Carry>>,
}

/// The fold of a stream cut between two parts, from the first to the next: the state at the
/// first part's last snapshot (as JSON: a fold's state stays on its thread), or why it could
/// not be recomputed.
type Carry = Result<serde_json::Value, String>;

/// Each stream of a part with its checks, in order.
type Checked = Vec<(String, Vec<Check>)>;

/// The snapshots in scope, cut into parts.
struct Parts {
    snapshots: Scan<Snapshot>,
    filter: Filter,
    /// The fold the next part goes on with (the last part's last stream was cut).
    carry: Option<(i64, oneshot::Receiver<Carry>)>,
}

impl Parts {
    /// The next part: at least [`PART_SNAPSHOTS`] snapshots (fewer at the end) and every
    /// snapshot of its last stream, unless that makes more than [`PART_MAX_SNAPSHOTS`]; its
    /// events' first page starts being read now.
    async fn next(&mut self, store: &Store) -> Result<Option<Part>, StoreError> {
        let mut snapshots: Vec<Snapshot> = Vec::new();
        let mut cut = false;
        while let Some(s) = self.snapshots.peek().await? {
            if let Some(last) = snapshots.last() {
                let same = last.stream_id == s.stream_id;
                if snapshots.len() >= PART_SNAPSHOTS && !same {
                    break;
                }
                // (Between two versions: the next part's events start after the last one.)
                if snapshots.len() >= PART_MAX_SNAPSHOTS && last.stream_version != s.stream_version
                {
                    cut = true;
                    break;
                }
            }
            snapshots.extend(self.snapshots.pop());
        }
        let (Some(first), Some(last)) = (snapshots.first(), snapshots.last()) else {
            return Ok(None);
        };
        let carried_in = self.carry.take();
        let carry_out = cut.then(|| {
            let (tx, rx) = oneshot::channel();
            self.carry = Some((last.stream_version, rx));
            tx
        });
        let events = Filter {
            up_to: Some(last.stream_id.clone()),
            ..self.filter.clone()
        };
        let from = carried_in.as_ref().map_or(i64::MIN, |(v, _)| *v);
        let events = Scan::starting_at(store, events, EVENT_PAGE, (&first.stream_id, from));
        Ok(Some(Part {
            store: store.clone(),
            snapshots,
            events,
            carried_in,
            carry_out,
        }))
    }
}

/// Check every snapshot in scope with two ordered scans merged: snapshots and events, both in
/// (stream, version) order, each stream folded once from its first event to its last snapshot
/// (about one read of those events). The snapshots are cut into parts of whole streams, and
/// [`Scope::jobs`] parts are checked at once, each on a thread of its own reading its own
/// events (the next page read while this one is folded, see [`scan`]); `on_stream` gets each
/// stream's checks in (stream) order. Memory: a few parts and two pages of events per part.
pub async fn verify(
    store: &Store,
    reducers: &Reducers,
    scope: &Scope,
    mut on_stream: impl FnMut(&str, &[Check]),
) -> Result<Summary, StoreError> {
    let filter = Filter {
        category: scope.category.clone(),
        stream: scope.stream.clone(),
        up_to: None,
        // Only the columns the folds read (an event id or a time per event is a good part of
        // reading and decoding it).
        columns: reducers.columns(),
    };
    let mut parts = Parts {
        snapshots: Scan::<Snapshot>::new(store, filter.clone(), SNAPSHOT_PAGE),
        filter,
        carry: None,
    };
    let mut summary = Summary::default();
    let mut last_stream = String::new();
    let mut emit = |checked: Checked| {
        for (stream, checks) in checked {
            // A stream cut between two parts comes in two pieces.
            if stream != last_stream {
                summary.streams += 1;
                last_stream.clone_from(&stream);
            }
            for c in &checks {
                summary.add(c);
            }
            on_stream(&stream, &checks);
        }
    };
    let jobs = scope.jobs();
    if jobs <= 1 {
        // Here, the next part's first page is read while this one is checked.
        let mut next = parts.next(store).await?;
        while let Some(part) = next {
            next = parts.next(store).await?;
            emit(check_part(reducers, scope.since, part, &AtomicBool::new(false)).await?);
        }
        return Ok(summary.finished(reducers));
    }
    let mut workers = Workers::start(jobs, reducers, scope.since);
    // Parts given out but not reported yet: bounds what waits behind a slow part.
    let window = jobs * 4;
    let (mut given, mut reported, mut done) = (0, 0, false);
    let mut waiting: BTreeMap<usize, Result<Checked, StoreError>> = BTreeMap::new();
    loop {
        if !done && given < reported + window {
            // A place in the queue first (every worker busy and one part queued: wait), then
            // the part, whose reads start now: no more than one part waits with its events.
            let slot = workers.parts.reserve().await.map_err(|_| workers_gone())?;
            match parts.next(store).await? {
                Some(part) => {
                    slot.send((given, part));
                    given += 1;
                    continue;
                }
                None => done = true,
            }
        }
        if reported == given {
            break;
        }
        let (i, checked) = workers.results.recv().await.ok_or_else(workers_gone)?;
        waiting.insert(i, checked);
        while let Some(checked) = waiting.remove(&reported) {
            reported += 1;
            emit(checked?);
        }
    }
    Ok(summary.finished(reducers))
}

fn workers_gone() -> StoreError {
    StoreError::Query("the snapshot checks stopped (a worker thread ended)".into())
}

/// Threads that check parts (a fold's state is not `Send`: each part is folded on one
/// thread, its reads are tasks of the runtime). Dropping this stops them after the stream
/// they are on.
struct Workers {
    parts: mpsc::Sender<(usize, Part)>,
    results: mpsc::UnboundedReceiver<(usize, Result<Checked, StoreError>)>,
    stop: Arc<AtomicBool>,
}

impl Workers {
    fn start(jobs: usize, reducers: &Reducers, since: Option<DateTime<Utc>>) -> Workers {
        let (parts, queue) = mpsc::channel::<(usize, Part)>(1);
        let queue = Arc::new(Mutex::new(queue));
        let (report, results) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Handle::current();
        for _ in 0..jobs {
            let (queue, report, stop) = (queue.clone(), report.clone(), stop.clone());
            let (runtime, reducers) = (runtime.clone(), reducers.clone());
            tokio::task::spawn_blocking(move || {
                loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .blocking_recv();
                    let Some((i, part)) = next else { break };
                    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        runtime.block_on(check_part(&reducers, since, part, &stop))
                    }))
                    .unwrap_or_else(|_| {
                        Err(StoreError::Query(
                            "checking snapshots failed (a worker panicked)".into(),
                        ))
                    });
                    if report.send((i, checked)).is_err() {
                        break;
                    }
                }
            });
        }
        Workers {
            parts,
            results,
            stop,
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Check one part: each of its streams folded once, forward, from its first event (or from
/// where the part before stopped), and compared at each of its snapshots' versions. Stops
/// early (with what it has) on `stop`.
async fn check_part(
    reducers: &Reducers,
    since: Option<DateTime<Utc>>,
    part: Part,
    stop: &AtomicBool,
) -> Result<Checked, StoreError> {
    let Part {
        store,
        snapshots,
        mut events,
        mut carried_in,
        mut carry_out,
    } = part;
    let check = |s: &Snapshot, status: Status, changes: Vec<Change>, error: Option<String>| Check {
        stream_id: s.stream_id.clone(),
        stream_version: s.stream_version,
        status,
        changes,
        error,
        taken_at: s.taken_at.as_ref().map(crate::store::model::format_time),
        unchecked: None,
    };
    let mut out = Vec::new();
    let mut rest = &snapshots[..];
    while let Some(first) = rest.first() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // This stream's snapshots.
        let n = rest
            .iter()
            .position(|s| s.stream_id != first.stream_id)
            .unwrap_or(rest.len());
        let (mine, after) = rest.split_at(n);
        rest = after;
        let stream = first.stream_id.clone();
        let last_version = mine.last().map_or(i64::MIN, |s| s.stream_version);
        events.seek(&stream).await?;
        // The stream's reducer: by its id, else by what its first event (or its recorded
        // type) says — the first event is the next one read, at no cost.
        let cut = carried_in.is_some();
        let (fold, unchecked) = choose_fold(reducers, &store, &stream, &mut events, cut).await?;
        let opts = fold.diff_options();
        let mut state = fold.start(&fold.initial());
        let mut failed: Option<String> = None;
        if let Some((_, handed)) = carried_in.take() {
            match handed.await {
                Ok(Ok(v)) => state = fold.start(&v),
                Ok(Err(why)) => failed = Some(why),
                Err(_) => failed = Some("the check of its earlier snapshots stopped".into()),
            }
        }
        if let Some(what) = &unchecked {
            failed = Some(format!("{NO_REDUCER}{what}"));
        }
        let mut checks = Vec::with_capacity(mine.len());
        let mut i = 0;
        while let Some(e) = events.peek().await? {
            if e.stream_id != stream || i >= mine.len() || e.stream_version > last_version {
                break;
            }
            let e = events.pop().expect("peeked");
            if failed.is_some() {
                continue;
            }
            while i < mine.len() && mine[i].stream_version < e.stream_version {
                let why = format!(
                    "the stream has no event at version {}",
                    mine[i].stream_version
                );
                checks.push(check(&mine[i], Status::Error, vec![], Some(why)));
                i += 1;
            }
            // By value: nothing needs the state after a failure, and a state held once is
            // updated in place by the reducer (no copy of it per event).
            let held = std::mem::replace(&mut state, State::Json(serde_json::Value::Null));
            match fold.apply(held, &e) {
                Ok(next) => state = next,
                Err(err) => {
                    failed = Some(err.to_string());
                    continue;
                }
            }
            while i < mine.len() && mine[i].stream_version == e.stream_version {
                let s = &mine[i];
                checks.push(if !s.problems.is_empty() {
                    check(
                        s,
                        Status::Error,
                        vec![],
                        Some(crate::store::problem::joined(&s.problems)),
                    )
                } else {
                    // old = recomputed (the truth), new = stored.
                    let changes = diff_with(&state.to_json(), &s.state, &opts);
                    let status = if changes.is_empty() {
                        Status::Ok
                    } else {
                        Status::Drifted
                    };
                    check(s, status, changes, None)
                });
                i += 1;
            }
        }
        if rest.is_empty() {
            if let Some(next) = carry_out.take() {
                let _ = next.send(match &failed {
                    Some(why) => Err(why.clone()),
                    None => Ok(state.to_json()),
                });
            }
        }
        for s in &mine[i..] {
            if let Some(e) = failed.as_ref().filter(|_| unchecked.is_some()) {
                // A snapshot that could not be read is an error whether or not it can be
                // checked.
                checks.push(if s.problems.is_empty() {
                    Check {
                        unchecked: unchecked.clone(),
                        ..check(s, Status::NoReducer, vec![], Some(e.clone()))
                    }
                } else {
                    check(
                        s,
                        Status::Error,
                        vec![],
                        Some(crate::store::problem::joined(&s.problems)),
                    )
                });
                continue;
            }
            let why = match &failed {
                Some(e) => format!("cannot recompute: {e}"),
                None => format!("the stream ends before version {}", s.stream_version),
            };
            checks.push(check(s, Status::Error, vec![], Some(why)));
        }
        if let Some(t) = since {
            let mut keep = mine.iter().map(|s| s.taken_at.is_some_and(|at| at >= t));
            checks.retain(|_| keep.next().unwrap_or(false));
        }
        out.push((stream, checks));
    }
    Ok(out)
}

/// The fold of a stream about to be checked, and (when no reducer applies) what the stream
/// is for the "no reducer for X" status. `events` is at the stream's first event, unless the
/// stream was `cut` (its start is in an earlier part: its facts are read from the store).
async fn choose_fold(
    reducers: &Reducers,
    store: &Store,
    stream: &str,
    events: &mut Scan<Event>,
    cut: bool,
) -> Result<(Fold, Option<String>), StoreError> {
    if let Some(r) = reducers.for_stream(stream) {
        return Ok((Fold::Reducer(Arc::new(r.clone())), None));
    }
    let with_type = reducers.uses_stream_type();
    let facts = if cut {
        store.stream_facts(stream, with_type).await?
    } else {
        let first = events.peek().await?.filter(|e| e.stream_id == stream);
        store.facts_from(stream, first, with_type).await?
    };
    match reducers.choose(stream, &facts) {
        Some((r, _)) => Ok((Fold::Reducer(Arc::new(r.clone())), None)),
        None => {
            let what = facts
                .stream_type
                .clone()
                .unwrap_or_else(|| format!("category {}", crate::store::category(stream)));
            Ok((Fold::Merge, Some(what)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenOptions;

    /// The report names the stored and the recomputed values (the diff it comes from runs
    /// from the recomputed state to the stored one: `old` is the recomputed value).
    #[test]
    fn a_check_serializes_its_changes_as_stored_and_recomputed() {
        use serde_json::json;
        let recomputed = json!({"balance": 9200, "gone": [1], "n": 7});
        let stored = json!({"balance": 9165, "extra": true, "n": "7"});
        let c = Check {
            stream_id: "account-1".into(),
            stream_version: 20,
            status: Status::Drifted,
            changes: crate::rehydrate::diff::diff(&recomputed, &stored),
            error: None,
            taken_at: None,
            unchecked: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v["changes"],
            json!([
                {"op": "changed", "path": ".balance", "stored": 9165, "recomputed": 9200,
                 "delta": -35.0, "type_changed": false},
                {"op": "added", "path": ".extra", "stored": true},
                {"op": "removed", "path": ".gone", "recomputed": [1]},
                {"op": "changed", "path": ".n", "stored": "7", "recomputed": 7,
                 "type_changed": true},
            ])
        );
        // No changes: no field.
        let ok = Check {
            status: Status::Ok,
            changes: vec![],
            ..c
        };
        assert!(serde_json::to_value(&ok).unwrap().get("changes").is_none());
    }

    /// Every way of running the check gives the same report: one job or several, on a runtime
    /// with one thread (the workers' reads are then driven by the thread waiting for them) or
    /// with several; and the demo store's recorded drifts are exactly what it finds.
    #[test]
    fn jobs_and_runtimes_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.db");
        let single = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let summary = single
            .block_on(crate::demo::ensure(&path, 250, false))
            .unwrap();
        assert!(summary.snapshots > PART_SNAPSHOTS as i64, "several parts");
        let run = |rt: &tokio::runtime::Runtime, jobs: usize| {
            rt.block_on(async {
                let store = Store::open(&OpenOptions {
                    url: crate::demo::url_for(&path),
                    ..Default::default()
                })
                .await
                .unwrap();
                let scope = Scope {
                    jobs,
                    ..Scope::default()
                };
                let mut all = Vec::new();
                let s = verify(&store, &Reducers::demo(), &scope, |_, c| {
                    all.extend_from_slice(c)
                })
                .await
                .unwrap();
                (s, all)
            })
        };
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (want_summary, want) = run(&single, 1);
        assert_eq!(want_summary.checked as i64, summary.snapshots);
        let mut drifted: Vec<(String, i64)> = want
            .iter()
            .filter(|c| c.status == Status::Drifted)
            .map(|c| (c.stream_id.clone(), c.stream_version))
            .collect();
        drifted.sort();
        let mut recorded: Vec<(String, i64)> = summary
            .drifted
            .iter()
            .map(|d| (d.stream_id.clone(), d.stream_version))
            .collect();
        recorded.sort();
        assert_eq!(drifted, recorded);
        for (rt, jobs) in [(&single, 3), (&multi, 1), (&multi, 2), (&multi, 4)] {
            let (s, got) = run(rt, jobs);
            assert_eq!(s, want_summary, "jobs {jobs}");
            assert!(got == want, "jobs {jobs}");
        }
    }
}
