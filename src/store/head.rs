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
//!   gap was first seen. The gap is passed once every transaction in progress at that moment
//!   has finished (from `pg_current_snapshot()`) and a grace period has elapsed (it covers a
//!   transaction that took its position before it had a transaction id), re-reading after.
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
    /// PostgreSQL: transaction ids in progress when the gap was first seen.
    in_flight: Vec<i64>,
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
        let gap_settled = match (&self.gap, dialect) {
            (None, _) => false,
            (Some(_), Dialect::Sqlite) => true,
            (Some(g), Dialect::Postgres) => {
                let now = pg_in_flight(store).await?;
                g.seen_at.elapsed() >= self.pg_grace && !g.in_flight.iter().any(|x| now.contains(x))
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

/// Transaction ids in progress now (PostgreSQL 13+).
async fn pg_in_flight(store: &Store) -> Result<Vec<i64>, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(
        "SELECT CAST(CAST(x AS TEXT) AS BIGINT) FROM pg_snapshot_xip(pg_current_snapshot()) AS x",
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
