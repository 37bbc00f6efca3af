//! Snapshot audit: every stored snapshot compared with the state recomputed from the events.
//!
//! Snapshots are derived and disposable; the events are the truth. Each stream is folded
//! once, forward, and compared at each of its snapshots' versions (the fold is shared by all
//! the snapshots of a stream, so checking a store costs about one read of its events).

pub mod audit;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rehydrate::diff::{Change, diff_with};
use crate::rehydrate::reducer::Reducers;
use crate::store::{Snapshot, Store, StoreError};

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

const PAGE: u32 = 10_000;

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

/// Events in (stream, version) order, read in pages, that can jump ahead to a stream.
struct EventScan<'a> {
    store: &'a Store,
    buf: std::collections::VecDeque<crate::store::Event>,
    after: Option<(String, i64)>,
    done: bool,
    category: Option<&'a str>,
    stream: Option<&'a str>,
}

impl EventScan<'_> {
    async fn peek(&mut self) -> Result<Option<&crate::store::Event>, StoreError> {
        if self.buf.is_empty() && !self.done {
            let after = self.after.as_ref().map(|(s, v)| (s.as_str(), *v));
            let page = self
                .store
                .read_by_stream(after, PAGE, self.category, self.stream)
                .await?;
            self.done = page.len() < PAGE as usize;
            if let Some(e) = page.last() {
                self.after = Some((e.stream_id.clone(), e.stream_version));
            }
            self.buf.extend(page);
        }
        Ok(self.buf.front())
    }

    /// Drop what comes before `stream`; when that empties the buffer, restart the scan at it
    /// (streams without snapshots are not read at all).
    fn seek(&mut self, stream: &str) {
        while self
            .buf
            .front()
            .is_some_and(|e| e.stream_id.as_str() < stream)
        {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            self.after = Some((stream.to_string(), i64::MIN));
            self.done = false;
        }
    }
}

/// Check every snapshot in scope with two ordered scans merged: snapshots and events, both in
/// (stream, version) order, each stream folded once from its first event to its last snapshot
/// (about one read of those events; memory: one page of each). `on_stream` gets each stream's
/// checks as they are done.
pub async fn verify(
    store: &Store,
    reducers: &Reducers,
    scope: &Scope,
    mut on_stream: impl FnMut(&str, &[Check]),
) -> Result<Summary, StoreError> {
    let (cat, one) = (scope.category.as_deref(), scope.stream.as_deref());
    let mut summary = Summary::default();
    let mut snaps: std::collections::VecDeque<Snapshot> = Default::default();
    let mut snap_after: Option<(String, i64)> = None;
    let mut snaps_done = false;
    let mut events = EventScan {
        store,
        buf: Default::default(),
        after: None,
        done: false,
        category: cat,
        stream: one,
    };
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
        loop {
            if snaps.is_empty() && !snaps_done {
                let after = snap_after.as_ref().map(|(s, v)| (s.as_str(), *v));
                let page = store.snapshots_by_stream(after, 5000, cat, one).await?;
                snaps_done = page.len() < 5000;
                if let Some(l) = page.last() {
                    snap_after = Some((l.stream_id.clone(), l.stream_version));
                }
                snaps.extend(page);
            }
            match snaps.front() {
                Some(s) if mine.first().is_none_or(|m| m.stream_id == s.stream_id) => {
                    mine.extend(snaps.pop_front());
                }
                _ => break,
            }
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
        events.seek(&stream);
        while let Some(e) = events.peek().await? {
            if e.stream_id != stream || i >= mine.len() || e.stream_version > last_version {
                break;
            }
            let e = events.buf.pop_front().expect("peeked");
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
            if let Err(err) = fold.apply_mut(&mut state, &e) {
                failed = Some(err.to_string());
                continue;
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
