//! Snapshot audit: every stored snapshot compared with the state recomputed from the events.
//!
//! Snapshots are derived and disposable; the events are the truth. Each stream is folded
//! once, forward, and compared at each of its snapshots' versions (the fold is shared by all
//! the snapshots of a stream, so checking a store costs about one read of its events).

pub mod audit;
pub mod scan;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rehydrate::diff::{Change, diff_with};
use crate::rehydrate::reducer::{Reducers, State};
use crate::store::{Event, Snapshot, Store, StoreError};
use scan::{Filter, Scan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Drifted,
    Error,
}

/// The verdict on one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub stream_id: String,
    pub stream_version: i64,
    pub status: Status,
    /// Stored vs recomputed: what the snapshot has wrong (`old` = recomputed, `new` = stored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub streams: usize,
    pub checked: usize,
    pub ok: usize,
    pub drifted: usize,
    pub errors: usize,
}

impl Summary {
    pub fn add(&mut self, c: &Check) {
        self.checked += 1;
        match c.status {
            Status::Ok => self.ok += 1,
            Status::Drifted => self.drifted += 1,
            Status::Error => self.errors += 1,
        }
    }
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub stream: Option<String>,
    pub category: Option<String>,
    /// Only snapshots taken at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Rows per page of each scan (a page of each is in memory, and one more on its way).
const EVENT_PAGE: u32 = 10_000;
const SNAPSHOT_PAGE: u32 = 5_000;

/// Check every snapshot of one stream (the same merge as [`verify`], narrowed to it).
pub async fn verify_stream(
    store: &Store,
    reducers: &Reducers,
    stream: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Check>, StoreError> {
    let scope = Scope {
        stream: Some(stream.to_string()),
        category: None,
        since,
    };
    let mut out = Vec::new();
    verify(store, reducers, &scope, |_, checks| {
        out.extend_from_slice(checks)
    })
    .await?;
    Ok(out)
}

/// Check every snapshot in scope with two ordered scans merged: snapshots and events, both in
/// (stream, version) order, each stream folded once from its first event to its last snapshot
/// (about one read of those events; memory: two pages of each, the next one being read while
/// this one is folded, see [`scan`]). `on_stream` gets each stream's checks as they are done.
pub async fn verify(
    store: &Store,
    reducers: &Reducers,
    scope: &Scope,
    mut on_stream: impl FnMut(&str, &[Check]),
) -> Result<Summary, StoreError> {
    let filter = Filter {
        category: scope.category.clone(),
        stream: scope.stream.clone(),
    };
    let mut summary = Summary::default();
    let mut snaps = Scan::<Snapshot>::new(store, filter.clone(), SNAPSHOT_PAGE);
    let mut events = Scan::<Event>::new(store, filter, EVENT_PAGE);
    let check = |s: &Snapshot, status: Status, changes: Vec<Change>, error: Option<String>| Check {
        stream_id: s.stream_id.clone(),
        stream_version: s.stream_version,
        status,
        changes,
        error,
        taken_at: s.taken_at.as_ref().map(crate::store::model::format_time),
    };
    loop {
        // This stream's snapshots (they may span pages).
        let mut mine: Vec<Snapshot> = Vec::new();
        while let Some(s) = snaps.peek().await? {
            if mine.first().is_some_and(|m| m.stream_id != s.stream_id) {
                break;
            }
            mine.extend(snaps.pop());
        }
        let Some(first) = mine.first() else { break };
        let stream = first.stream_id.clone();
        let last_version = mine.last().map_or(i64::MIN, |s| s.stream_version);
        let fold = reducers.fold_for(&stream);
        let opts = fold.diff_options();
        let mut state = fold.start(&fold.initial());
        let mut checks = Vec::with_capacity(mine.len());
        let mut i = 0;
        let mut failed: Option<String> = None;
        events.seek(&stream).await?;
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
                    check(s, Status::Error, vec![], Some(s.problems.join("; ")))
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
        for s in &mine[i..] {
            let why = match &failed {
                Some(e) => format!("cannot recompute: {e}"),
                None => format!("the stream ends before version {}", s.stream_version),
            };
            checks.push(check(s, Status::Error, vec![], Some(why)));
        }
        if let Some(t) = scope.since {
            let keep: Vec<bool> = mine
                .iter()
                .map(|s| s.taken_at.is_some_and(|at| at >= t))
                .collect();
            let mut k = keep.into_iter();
            checks.retain(|_| k.next().unwrap_or(false));
        }
        summary.streams += 1;
        for c in &checks {
            summary.add(c);
        }
        on_stream(&stream, &checks);
    }
    Ok(summary)
}
