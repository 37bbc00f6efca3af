//! The safe head of the global log: the highest position below which no event can still appear.
//!
//! Positions come from a sequence (or AUTO_INCREMENT) and are handed out before commit, so
//! transactions can commit out of position order: a reader that jumps to the newest visible
//! position could pass over an event that commits a moment later with a lower position.
//! [`HighWaterMark`] releases positions only while they are contiguous; at a gap it waits
//! until the gap can no longer be filled:
//! - SQLite serializes writers, and a transaction holds the write lock from its first insert to
//!   its commit, so any visible gap is already permanent (a rolled-back insert).
//! - PostgreSQL: the missing position was handed to a transaction that was running when the
//!   gap was first seen. The gap is passed once every transaction of this database in progress
//!   at that moment has finished (backend transaction ids from `pg_stat_activity`, and prepared
//!   transactions) and a grace period has elapsed (it covers a transaction that took its
//!   position before it had a transaction id), re-reading after.
//! - MySQL/MariaDB: in-progress transactions are not visible to a SELECT-only user, so a gap
//!   is passed after the stale threshold (Marten's approach).

use std::time::{Duration, Instant};

use super::db::Raw;
use super::layout::Encoding;
use super::sql::{Dialect, Param, Sql};
use super::{Store, StoreError};

#[derive(Debug, Clone)]
struct PendingGap {
    /// The first missing position.
    missing: i64,
    seen_at: Instant,
    /// PostgreSQL: transaction ids in progress when the gap was first seen, and again once
    /// the grace period is over (a holder without an id at first has one by then).
    in_flight: Vec<i64>,
    rechecked: bool,
}

#[derive(Debug, Clone)]
pub struct HighWaterMark {
    safe: i64,
    gap: Option<PendingGap>,
    /// How long a gap must have been seen before it may be passed (PostgreSQL: in addition
    /// to the in-flight check).
    pub pg_grace: Duration,
    /// MySQL/MariaDB: how long a gap blocks before it is treated as permanent.
    pub stale_after: Duration,
    /// How many positions to look at per round trip.
    pub batch: u32,
}

impl HighWaterMark {
    /// Start with every position up to `safe` already known to be settled.
    pub fn new(safe: i64) -> HighWaterMark {
        HighWaterMark {
            safe,
            gap: None,
            pg_grace: Duration::from_millis(250),
            stale_after: Duration::from_secs(3),
            batch: 10_000,
        }
    }

    pub fn safe(&self) -> i64 {
        self.safe
    }

    /// Whether the mark is waiting at a gap, and since when (for status displays).
    pub fn waiting_at(&self) -> Option<(i64, Duration)> {
        self.gap.as_ref().map(|g| (g.missing, g.seen_at.elapsed()))
    }

    /// Move the mark as far as is safe now; returns the new safe position.
    pub async fn advance(&mut self, store: &Store) -> Result<i64, StoreError> {
        let dialect = store.dialect();
        // Check the in-flight transactions BEFORE reading positions: a transaction that was
        // holding the missing position and has finished by now is visible to the read below.
        let gap_settled = match (&mut self.gap, dialect) {
            (None, _) => false,
            (Some(_), Dialect::Sqlite) => true,
            (Some(g), Dialect::Postgres) => {
                if g.seen_at.elapsed() < self.pg_grace {
                    false
                } else {
                    let now = pg_in_flight(store).await?;
                    if !g.rechecked {
                        g.in_flight.extend(now.iter().copied());
                        g.rechecked = true;
                    }
                    !g.in_flight.iter().any(|x| now.contains(x))
                }
            }
            (Some(g), Dialect::MySql) => g.seen_at.elapsed() >= self.stale_after,
        };
        loop {
            let positions = store.positions_after(self.safe, self.batch).await?;
            let n = positions.len();
            for p in positions {
                if p == self.safe + 1 {
                    self.safe = p;
                    self.gap = None;
                    continue;
                }
                // A gap: positions safe+1 ..= p-1 are missing.
                let missing = self.safe + 1;
                let permanent = dialect == Dialect::Sqlite
                    || (gap_settled && self.gap.as_ref().is_some_and(|g| g.missing == missing));
                if permanent {
                    tracing::debug!(from = missing, to = p - 1, "passing a settled gap");
                    self.safe = p;
                    self.gap = None;
                    continue;
                }
                if self.gap.as_ref().is_none_or(|g| g.missing != missing) {
                    let in_flight = if dialect == Dialect::Postgres {
                        pg_in_flight(store).await?
                    } else {
                        vec![]
                    };
                    self.gap = Some(PendingGap {
                        missing,
                        seen_at: Instant::now(),
                        in_flight,
                        rechecked: false,
                    });
                }
                return Ok(self.safe);
            }
            if n < self.batch as usize {
                return Ok(self.safe);
            }
        }
    }
}

/// The newest position once nothing at or below it can still commit: what a range "up to
/// now" may end at. PostgreSQL waits (up to `limit`) until the transactions of this database in
/// progress now, and those that have an id once the grace period is over, have finished;
/// MySQL/MariaDB wait the stale threshold when the newest positions have a gap; SQLite's
/// gaps are final at once. None for an empty log.
pub async fn settled_head(store: &Store, limit: Duration) -> Result<Option<i64>, StoreError> {
    let hwm = HighWaterMark::new(0);
    match store.dialect() {
        Dialect::Sqlite => store.max_position().await,
        Dialect::MySql => {
            let head = store.max_position().await?;
            if let Some(h) = head {
                let from = (h - i64::from(hwm.batch)).max(0);
                let seen = store.positions_after(from, hwm.batch).await?;
                if (seen.len() as i64) < h - from {
                    tokio::time::sleep(hwm.stale_after).await;
                }
            }
            Ok(head)
        }
        Dialect::Postgres => {
            let mut waiting = pg_in_flight(store).await?;
            let head = store.max_position().await?;
            tokio::time::sleep(hwm.pg_grace).await;
            waiting.extend(pg_in_flight(store).await?);
            let deadline = Instant::now() + limit;
            loop {
                let now = pg_in_flight(store).await?;
                if !waiting.iter().any(|x| now.contains(x)) {
                    return Ok(head);
                }
                if Instant::now() >= deadline {
                    return Err(StoreError::BadInput(format!(
                        "transactions open for over {}s may still commit events below position {}: give the range an explicit end (--to-position)",
                        limit.as_secs(),
                        head.unwrap_or(0)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Transaction ids in progress now in this database: every backend's, and prepared (two-phase)
/// transactions'. Not `pg_current_snapshot()`'s list: it leaves out transactions whose id is at
/// or past its xmax (newer than the newest finished one), and one of those can hold a missing
/// position; and it spans the whole cluster, so a long transaction in another database would
/// hold the mark for nothing. Readable by any role (backend_xid and datname are not hidden).
async fn pg_in_flight(store: &Store) -> Result<Vec<i64>, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(
        "SELECT CAST(CAST(backend_xid AS TEXT) AS BIGINT) FROM pg_stat_activity \
         WHERE datname = current_database() AND backend_xid IS NOT NULL \
         UNION SELECT CAST(CAST(transaction AS TEXT) AS BIGINT) FROM pg_prepared_xacts \
         WHERE database = current_database()",
    );
    let rows = store
        .db()
        .fetch_raw(&sql, &[Some(Encoding::Integer)])
        .await?;
    Ok(rows.into_iter().filter_map(|r| r[0].int()).collect())
}

impl Store {
    /// Global positions after `after`, ascending, at most `limit` (no filters, so that rows
    /// hidden by a layout's fixed conditions do not look like gaps).
    pub async fn positions_after(&self, after: i64, limit: u32) -> Result<Vec<i64>, StoreError> {
        let layout = self.layout();
        let d = self.dialect();
        let src = super::sql::Source::new(layout, d, super::sql::Scope::Global);
        let Some(pos) = &src.position else {
            return Err(StoreError::BadInput(format!(
                "the {} layout has no global position",
                layout.name
            )));
        };
        let mut sql = Sql::new(d);
        sql.push("SELECT ")
            .push(&d.select_expr(&pos.sql, Encoding::Integer))
            .push(" FROM ")
            .push(&src.from)
            .push(" WHERE ")
            .push(&pos.sql)
            .push(" > ")
            .bind(Param::I64(after));
        if layout.special == super::layout::Special::Commanded {
            // The $all stream only.
            src.push_fixed(&mut sql);
        }
        sql.push(" ORDER BY ")
            .push(&pos.sql)
            .push(" LIMIT ")
            .bind(Param::I64(limit.into()));
        let rows = self
            .db()
            .fetch_raw(&sql, &[Some(Encoding::Integer)])
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r.into_iter().next() {
                Some(Raw::Int(i)) => Some(i),
                _ => None,
            })
            .collect())
    }
}
