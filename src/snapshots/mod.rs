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
use crate::store::{Snapshot, Store, StoreError, StreamRead};

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

/// Check every snapshot of one stream with one forward fold.
pub async fn verify_stream(
    store: &Store,
    reducers: &Reducers,
    stream: &str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Check>, StoreError> {
    let mut snaps: Vec<Snapshot> = store.snapshots(stream, None, false, u32::MAX >> 1).await?;
    if let Some(t) = since {
        snaps.retain(|s| s.taken_at.is_some_and(|at| at >= t));
    }
    let fold = reducers.fold_for(stream);
    let opts = fold.diff_options();
    let mut out = Vec::with_capacity(snaps.len());
    let mut state = fold.start(&fold.initial());
    let mut read = StreamRead {
        limit: PAGE,
        ..Default::default()
    };
    let mut next = 0usize; // the next snapshot to compare
    let mut failed: Option<String> = None;
    let check = |s: &Snapshot, status: Status, changes: Vec<Change>, error: Option<String>| Check {
        stream_id: s.stream_id.clone(),
        stream_version: s.stream_version,
        status,
        changes,
        error,
        taken_at: s.taken_at.as_ref().map(crate::store::model::format_time),
    };
    'read: while next < snaps.len() && failed.is_none() {
        // Only as far as the last snapshot needs.
        read.to_version = snaps.last().map(|s| s.stream_version);
        let page = store.read_stream(stream, &read).await?;
        let n = page.len();
        {
            let mut st = std::mem::replace(&mut state, fold.start(&serde_json::Value::Null));
            for e in &page {
                // Snapshots below this event's version that were never reached (a gap).
                while next < snaps.len() && snaps[next].stream_version < e.stream_version {
                    let s = &snaps[next];
                    out.push(check(
                        s,
                        Status::Error,
                        vec![],
                        Some(format!(
                            "the stream has no event at version {}",
                            s.stream_version
                        )),
                    ));
                    next += 1;
                }
                if let Err(err) = fold.apply_mut(&mut st, e) {
                    failed = Some(err.to_string());
                    break 'read;
                }
                while next < snaps.len() && snaps[next].stream_version == e.stream_version {
                    let s = &snaps[next];
                    let c = if !s.problems.is_empty() {
                        check(s, Status::Error, vec![], Some(s.problems.join("; ")))
                    } else {
                        // old = recomputed (the truth), new = stored.
                        let changes = diff_with(&st.to_json(), &s.state, &opts);
                        let status = if changes.is_empty() {
                            Status::Ok
                        } else {
                            Status::Drifted
                        };
                        check(s, status, changes, None)
                    };
                    out.push(c);
                    next += 1;
                }
            }
            state = st;
        }
        read.after_version = page.last().map(|e| e.stream_version).or(read.after_version);
        if n < PAGE as usize {
            break;
        }
    }
    for s in &snaps[next..] {
        let why = match &failed {
            Some(e) => format!("cannot recompute: {e}"),
            None => format!("the stream ends before version {}", s.stream_version),
        };
        out.push(check(s, Status::Error, vec![], Some(why)));
    }
    Ok(out)
}

/// Check every snapshot in scope, stream by stream (bounded memory: one stream's snapshots
/// and one page of events at a time), reporting each stream's checks as they are done.
pub async fn verify(
    store: &Store,
    reducers: &Reducers,
    scope: &Scope,
    mut on_stream: impl FnMut(&str, &[Check]),
) -> Result<Summary, StoreError> {
    let mut summary = Summary::default();
    let mut after: Option<String> = None;
    loop {
        let streams = store
            .snapshot_streams(
                after.as_deref(),
                500,
                scope.category.as_deref(),
                scope.stream.as_deref(),
            )
            .await?;
        for s in &streams {
            let checks = verify_stream(store, reducers, s, scope.since).await?;
            summary.streams += 1;
            for c in &checks {
                summary.add(c);
            }
            on_stream(s, &checks);
        }
        match streams.last() {
            Some(l) if streams.len() == 500 => after = Some(l.clone()),
            _ => break,
        }
    }
    Ok(summary)
}
