//! The safe head of the global log: the highest position below which no event can still appear.
//!
//! Positions come from a sequence (or AUTO_INCREMENT) and are handed out before commit, so
//! transactions can commit out of position order: a reader that jumps to the newest visible
//! position could pass over an event that commits a moment later with a lower position.
//! [`HighWaterMark`] releases positions only while they are contiguous; at a gap it waits
//! until the gap can no longer be filled. Every gap seen missing at one moment shares one
//! *observation* (so a stretch of history with many rolled-back positions costs one wait, not
//! one per gap):
//! - SQLite serializes writers, and a transaction holds the write lock from its first insert to
//!   its commit, so any visible gap is already permanent (a rolled-back insert).
//! - PostgreSQL primary: a missing position was handed to a transaction that was running when
//!   the gap was seen. The gap is passed once every transaction of this database in progress
//!   at that moment has finished (backend transaction ids from `pg_stat_activity`, and prepared
//!   transactions), counted again once a grace period is over (it covers a transaction that
//!   took its position before it had a transaction id), re-reading after.
//! - PostgreSQL hot standby: the primary's backends are not in `pg_stat_activity`, but the
//!   standby knows every transaction id whose WAL it has replayed and whether it has finished.
//!   The gap is passed once every transaction id the standby knew of when the gap was seen (and
//!   again after the grace period) has finished there — its snapshot's xmin has reached the
//!   next id it knew of — and the stale threshold has gone by (a holder whose WAL has not reached
//!   the standby is invisible to it: PostgreSQL ships WAL once it is flushed, which a commit does).
//! - MySQL/MariaDB: in-progress transactions are not visible to a SELECT-only user, so a gap
//!   is passed after the stale threshold (Marten's approach), on a primary and a replica alike.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::db::{Db, Raw};
use super::layout::Encoding;
use super::sql::{Dialect, Param, Sql};
use super::{Store, StoreError};

/// How long a PostgreSQL gap must have been seen before its holders are counted again.
pub const PG_GRACE: Duration = Duration::from_millis(250);
/// MySQL/MariaDB (and a PostgreSQL standby, for holders it cannot see): how long a gap blocks
/// before it is treated as permanent.
pub const STALE_AFTER: Duration = Duration::from_secs(3);

/// Gaps seen missing at one moment, and what was running then.
#[derive(Debug, Clone)]
struct Observation {
    /// Gaps at or below this position were missing at `seen_at`.
    upto: i64,
    seen_at: Instant,
    standby: bool,
    /// PostgreSQL primary: transaction ids of this database in progress when the gaps were
    /// seen, and again once the grace period was over.
    in_flight: Vec<i64>,
    /// PostgreSQL standby: the next transaction id the standby knew of when the gaps were seen
    /// (and at the recheck); every id below it must have finished.
    horizon: i64,
    rechecked: bool,
    /// PostgreSQL primary: when the gaps were seen, no other session of this database was
    /// inside a transaction (nor any transaction prepared): nothing can fill them, no grace
    /// period is needed.
    quiet: bool,
}

/// Who may still commit a missing position, as far as the database shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Holder {
    pub xid: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// How long its transaction has been open (primary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Why a complete read is waiting: the first position that is neither visible nor known to be
/// permanently absent, and what may still commit it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    /// The first missing position.
    pub position: i64,
    /// Seconds since the gap was first seen.
    pub secs: f64,
    pub dialect: &'static str,
    /// PostgreSQL: whether the connection is to a hot standby.
    pub standby: bool,
    pub holders: Vec<Holder>,
}

impl Waiting {
    /// One line for people.
    pub fn describe(&self) -> String {
        let head = format!(
            "position {} is not committed yet (waiting {})",
            self.position,
            secs(self.secs)
        );
        let list = |hs: &[Holder]| {
            hs.iter()
                .map(|h| {
                    let mut s = format!("transaction {}", h.xid);
                    let mut extra = vec![];
                    if let Some(p) = h.pid {
                        extra.push(format!("pid {p}"));
                    }
                    if let Some(o) = h.open_secs {
                        extra.push(format!("open {}", secs(o)));
                    }
                    if let Some(st) = &h.state {
                        extra.push(st.clone());
                    }
                    if !extra.is_empty() {
                        s.push_str(&format!(" ({})", extra.join(", ")));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self.dialect, self.standby, self.holders.is_empty()) {
            ("postgres", false, false) => {
                format!("{head}: it may be held by {}", list(&self.holders))
            }
            ("postgres", false, true) => format!(
                "{head}: its holder has no transaction id yet (grace period {})",
                secs(PG_GRACE.as_secs_f64())
            ),
            ("postgres", true, false) => format!(
                "{head}: the standby sees {} in progress on the primary",
                list(&self.holders)
            ),
            ("postgres", true, true) => format!(
                "{head}: the standby cannot see who holds it; a gap is taken as permanent after {} with no transaction in progress",
                secs(STALE_AFTER.as_secs_f64())
            ),
            _ => format!(
                "{head}: MySQL/MariaDB do not show other sessions' transactions; a gap is taken as permanent after {}",
                secs(STALE_AFTER.as_secs_f64())
            ),
        }
    }
}

/// Seconds for messages: one decimal below ten seconds.
fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1}s")
    } else {
        crate::output::human_secs(s)
    }
}

#[derive(Debug, Clone)]
pub struct HighWaterMark {
    safe: i64,
    obs: Option<Observation>,
    /// Taken at the first advance: once what was running then has finished, every position up
    /// to the head of that moment is settled, and the mark jumps there instead of looking at
    /// each position (a replay of history costs one observation, not a scan of its positions).
    floor: Option<Observation>,
    floor_taken: bool,
    /// Where the mark stopped at a gap it could not pass yet.
    blocked: Option<i64>,
    /// How long a PostgreSQL gap must have been seen before its holders are counted again.
    pub pg_grace: Duration,
    /// MySQL/MariaDB (and a PostgreSQL standby): how long a gap blocks before it is treated as
    /// permanent.
    pub stale_after: Duration,
    /// How many positions to look at per round trip.
    pub batch: u32,
}

impl HighWaterMark {
    /// Start with every position up to `safe` already known to be settled.
    pub fn new(safe: i64) -> HighWaterMark {
        HighWaterMark {
            safe,
            obs: None,
            floor: None,
            floor_taken: false,
            blocked: None,
            pg_grace: PG_GRACE,
            stale_after: STALE_AFTER,
            batch: 10_000,
        }
    }

    pub fn safe(&self) -> i64 {
        self.safe
    }

    /// Whether the mark is waiting at a gap, and since when (for status displays).
    pub fn waiting_at(&self) -> Option<(i64, Duration)> {
        let p = self.blocked?;
        let since = self
            .obs
            .as_ref()
            .map_or(Duration::ZERO, |o| o.seen_at.elapsed());
        Some((p, since))
    }

    /// What the mark waits for, with the transactions that may hold the missing position.
    pub async fn waiting(&self, store: &Store) -> Result<Option<Waiting>, StoreError> {
        let (Some(position), Some(o)) = (self.blocked, &self.obs) else {
            return Ok(None);
        };
        let holders = match store.dialect() {
            Dialect::Postgres if o.standby => standby_holders(store, o.horizon).await?,
            Dialect::Postgres => primary_holders(store, &o.in_flight).await?,
            _ => vec![],
        };
        Ok(Some(Waiting {
            position,
            secs: o.seen_at.elapsed().as_secs_f64(),
            dialect: store.dialect().name(),
            standby: o.standby,
            holders,
        }))
    }

    /// Move the mark as far as is safe now; returns the new safe position.
    pub async fn advance(&mut self, store: &Store) -> Result<i64, StoreError> {
        self.advance_to(store, i64::MAX).await
    }

    /// Move the mark as far as is safe now, but not past `cap` (a reader that needs only the
    /// next page settled does not scan the rest of the log); returns the new safe position.
    pub async fn advance_to(&mut self, store: &Store, cap: i64) -> Result<i64, StoreError> {
        let dialect = store.dialect();
        if !self.floor_taken {
            self.floor_taken = true;
            self.floor = Some(Observation::take(store).await?);
        }
        if let Some(f) = &mut self.floor {
            if f.settled(store, self.pg_grace, self.stale_after).await? {
                if f.upto > self.safe {
                    tracing::debug!(from = self.safe, to = f.upto, "the floor is settled");
                    self.safe = f.upto;
                }
                self.floor = None;
            }
        }
        // Check the holders BEFORE reading positions: a transaction that was holding a missing
        // position and has finished by now is visible to the read below.
        let settled = match &mut self.obs {
            Some(o) => o.settled(store, self.pg_grace, self.stale_after).await?,
            None => false,
        };
        self.blocked = None;
        while self.safe < cap {
            let limit = i64::from(self.batch).min(cap - self.safe) as u32;
            let positions = store.positions_after(self.safe, limit).await?;
            let n = positions.len();
            for p in positions {
                if p > cap {
                    break;
                }
                if p == self.safe + 1 {
                    self.safe = p;
                    continue;
                }
                // A gap: positions safe+1 ..= p-1 are missing.
                let covered = self.obs.as_ref().is_some_and(|o| p - 1 <= o.upto);
                if dialect == Dialect::Sqlite || (settled && covered) {
                    tracing::debug!(from = self.safe + 1, to = p - 1, "passing a settled gap");
                    self.safe = p;
                    continue;
                }
                if !covered {
                    self.obs = Some(Observation::take(store).await?);
                }
                self.blocked = Some(self.safe + 1);
                return Ok(self.safe);
            }
            if n < limit as usize {
                break;
            }
        }
        if self.obs.as_ref().is_some_and(|o| self.safe >= o.upto) {
            self.obs = None;
        }
        if self.floor.as_ref().is_some_and(|f| self.safe >= f.upto) {
            self.floor = None;
        }
        Ok(self.safe)
    }
}

impl Observation {
    /// Record what may still fill the gaps missing now.
    async fn take(store: &Store) -> Result<Observation, StoreError> {
        // Every position at or below the visible head that is missing now is seen now. The
        // head first: whoever holds a position below it took it before, so is still in its
        // transaction when the sessions are looked at next, or has committed (the positions are
        // read again once the gap is judged).
        let upto = store.max_position().await?.unwrap_or(0);
        let seen_at = Instant::now();
        let (standby, in_flight, horizon, quiet) = match store.dialect() {
            Dialect::Postgres => {
                // One round trip for the three (the sessions' state is sampled once for it).
                let seen = pg_sessions(store).await?;
                if seen.in_recovery {
                    (true, vec![], standby_next_xid(store).await?, false)
                } else {
                    (false, seen.in_flight, 0, seen.quiet)
                }
            }
            _ => (false, vec![], 0, false),
        };
        Ok(Observation {
            upto,
            seen_at,
            standby,
            in_flight,
            horizon,
            rechecked: false,
            quiet,
        })
    }

    /// Whether nothing that was running when the gaps were seen can still fill them.
    async fn settled(
        &mut self,
        store: &Store,
        grace: Duration,
        stale: Duration,
    ) -> Result<bool, StoreError> {
        let age = self.seen_at.elapsed();
        Ok(match store.dialect() {
            Dialect::Sqlite => true,
            Dialect::MySql => age >= stale,
            Dialect::Postgres if self.quiet => true,
            Dialect::Postgres if age < grace => false,
            Dialect::Postgres if self.standby => {
                if !self.rechecked {
                    self.horizon = self.horizon.max(standby_next_xid(store).await?);
                    self.rechecked = true;
                }
                age >= stale && standby_xmin(store).await? >= self.horizon
            }
            Dialect::Postgres => {
                let now = pg_in_flight(store).await?;
                if !self.rechecked {
                    self.in_flight.extend(now.iter().copied());
                    self.rechecked = true;
                }
                !self.in_flight.iter().any(|x| now.contains(x))
            }
        })
    }
}

/// The newest visible position once nothing that was running when it was asked for can still
/// commit below it: what a time-bounded range "up to now" may end at. Waits (up to `limit`)
/// as [`HighWaterMark`] does at a gap: PostgreSQL until the transactions in progress have
/// finished (on a standby, those the standby knows of, and the stale threshold), MySQL/MariaDB
/// the stale threshold, SQLite not at all. None for an empty log.
pub async fn settled_head(store: &Store, limit: Duration) -> Result<Option<i64>, StoreError> {
    if store.dialect() == Dialect::Sqlite {
        return store.max_position().await;
    }
    let mut o = Observation::take(store).await?;
    let deadline = Instant::now() + limit;
    loop {
        if o.settled(store, PG_GRACE, STALE_AFTER).await? {
            return store.max_position().await;
        }
        if Instant::now() >= deadline {
            let mut hwm = HighWaterMark::new(0);
            hwm.blocked = Some(o.upto + 1);
            hwm.obs = Some(o);
            let why = hwm
                .waiting(store)
                .await?
                .map(|w| w.describe())
                .unwrap_or_default();
            return Err(StoreError::Unsettled(format!(
                "transactions open for over {} may still commit events below the head: {why}; give the range an explicit end (--to-position)",
                crate::output::human_secs(limit.as_secs_f64()),
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a PostgreSQL connection is to a hot standby.
pub async fn pg_in_recovery(store: &Store) -> Result<bool, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push("SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END");
    let rows = store
        .db()
        .fetch_raw(&sql, &[Some(Encoding::Integer)])
        .await?;
    Ok(rows.first().and_then(|r| r[0].int()) == Some(1))
}

/// Transaction ids in progress now in this database: every backend's, and prepared (two-phase)
/// transactions'. Not `pg_current_snapshot()`'s list: it leaves out transactions whose id is at
/// or past its xmax (newer than the newest finished one), and one of those can hold a missing
/// position; and it spans the whole cluster, so a long transaction in another database would
/// hold the mark for nothing. Readable by any role (backend_xid and datname are not hidden).
async fn pg_in_flight(store: &Store) -> Result<Vec<i64>, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(IN_FLIGHT);
    let rows = store
        .db()
        .fetch_raw(&sql, &[Some(Encoding::Integer)])
        .await?;
    Ok(rows.into_iter().filter_map(|r| r[0].int()).collect())
}

/// The transaction ids of [`pg_in_flight`], one per row.
const IN_FLIGHT: &str = "SELECT CAST(CAST(backend_xid AS TEXT) AS BIGINT) FROM pg_stat_activity \
     WHERE datname = current_database() AND backend_xid IS NOT NULL \
     UNION SELECT CAST(CAST(transaction AS TEXT) AS BIGINT) FROM pg_prepared_xacts \
     WHERE database = current_database()";

/// How many other sessions of this database are inside a transaction, or prepared ones
/// (see [`Sessions::quiet`]).
const BUSY: &str = "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
     AND pid <> pg_backend_pid() AND backend_type = 'client backend' \
     AND application_name IS DISTINCT FROM 'evscope' \
     AND (xact_start IS NOT NULL OR state IS NULL)) \
     + (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database())";

/// What an observation of a PostgreSQL server needs, asked in one statement.
struct Sessions {
    /// A hot standby (then the rest is not used: the primary's sessions are not seen here).
    in_recovery: bool,
    /// No other session of this database is inside a transaction, and none is prepared: a
    /// position is only ever held by a transaction (a statement running in autocommit is one),
    /// so every missing position is then for good. Sessions whose state this user may not see
    /// (another user's, without `pg_read_all_stats`) count as busy; evscope's own sessions
    /// (`application_name` evscope: reads only) do not. One exception the grace period does
    /// not cover either: a sequence with `CACHE` > 1 hands a session values it uses later.
    quiet: bool,
    /// [`pg_in_flight`]'s transaction ids.
    in_flight: Vec<i64>,
}

async fn pg_sessions(store: &Store) -> Result<Sessions, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(&format!(
        "SELECT CAST(CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END AS BIGINT), \
         CAST({BUSY} AS BIGINT), \
         (SELECT string_agg(CAST(x AS TEXT), ',') FROM ({IN_FLIGHT}) f(x))"
    ));
    let enc = [
        Some(Encoding::Integer),
        Some(Encoding::Integer),
        Some(Encoding::Text),
    ];
    let rows = store.db().fetch_raw(&sql, &enc).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Query("the server said nothing of its sessions".into()))?;
    let mut it = row.into_iter();
    let in_recovery = it.next().and_then(|r| r.int()) == Some(1);
    let quiet = it.next().and_then(|r| r.int()) == Some(0);
    let mut in_flight = Vec::new();
    if let Some(list) = it.next().map(Raw::text) {
        for x in list.split(',').filter(|x| !x.is_empty()) {
            in_flight.push(x.trim().parse().map_err(|_| {
                StoreError::Query(format!("a transaction id that is not a number: {x:?}"))
            })?);
        }
    }
    Ok(Sessions {
        in_recovery,
        quiet,
        in_flight,
    })
}

/// The transactions of `ids` still in progress on the primary, with their sessions.
async fn primary_holders(store: &Store, ids: &[i64]) -> Result<Vec<Holder>, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(
        "SELECT CAST(CAST(backend_xid AS TEXT) AS BIGINT), CAST(pid AS BIGINT), \
         CAST(EXTRACT(EPOCH FROM (clock_timestamp() - xact_start)) * 1000 AS BIGINT), state \
         FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL \
         UNION ALL SELECT CAST(CAST(transaction AS TEXT) AS BIGINT), NULL, \
         CAST(EXTRACT(EPOCH FROM (clock_timestamp() - prepared)) * 1000 AS BIGINT), 'prepared' \
         FROM pg_prepared_xacts WHERE database = current_database() ORDER BY 1",
    );
    let enc = [
        Some(Encoding::Integer),
        Some(Encoding::Integer),
        Some(Encoding::Integer),
        Some(Encoding::Text),
    ];
    let rows = store.db().fetch_raw(&sql, &enc).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let xid = r[0].int()?;
            ids.contains(&xid).then(|| Holder {
                xid,
                pid: r[1].int(),
                open_secs: r[2].int().map(|ms| ms as f64 / 1000.0),
                state: match &r[3] {
                    Raw::Text(t) if !t.is_empty() => Some(t.clone()),
                    _ => None,
                },
            })
        })
        .collect())
}

async fn pg_scalar(store: &Store, sql: &str, arg: Option<i64>) -> Result<i64, StoreError> {
    let mut q = Sql::new(Dialect::Postgres);
    q.push(sql);
    if let Some(a) = arg {
        q.bind(Param::I64(a));
    }
    let rows = store.db().fetch_raw(&q, &[Some(Encoding::Integer)]).await?;
    rows.first()
        .and_then(|r| r[0].int())
        .ok_or_else(|| StoreError::Query(format!("no value from {sql}")))
}

/// The standby's snapshot xmin: every transaction id below it has finished (as replayed).
async fn standby_xmin(store: &Store) -> Result<i64, StoreError> {
    pg_scalar(
        store,
        "SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)",
        None,
    )
    .await
}

/// Whether the standby knows of transaction id `x` (it has replayed WAL naming it or a newer
/// one); `pg_xact_status` refuses an id "in the future" with SQLSTATE 22023.
async fn standby_knows(store: &Store, x: i64) -> Result<bool, StoreError> {
    let Db::Postgres(pool) = store.db() else {
        return Ok(false);
    };
    let r: Result<Option<String>, sqlx::Error> =
        sqlx::query_scalar("SELECT pg_xact_status(CAST(CAST($1 AS TEXT) AS xid8))")
            .bind(x)
            .fetch_one(pool)
            .await;
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(d))
            if d.code().as_deref() == Some("22023") && d.message().contains("future") =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::query(e)),
    }
}

/// The next transaction id a standby knows of: one past the newest id in the WAL it has
/// replayed (found by an exponential then a binary search from its snapshot's xmax, since the
/// snapshot itself only reaches the newest *finished* id).
async fn standby_next_xid(store: &Store) -> Result<i64, StoreError> {
    let xmax = pg_scalar(
        store,
        "SELECT CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS TEXT) AS BIGINT)",
        None,
    )
    .await?;
    if !standby_knows(store, xmax).await? {
        return Ok(xmax);
    }
    // xmax is known: find an unknown one above it.
    let (mut lo, mut step) = (xmax, 1i64);
    let hi = loop {
        let probe = lo + step;
        if !standby_knows(store, probe).await? {
            break probe;
        }
        lo = probe;
        step = step.saturating_mul(2);
    };
    // lo is known, hi is not.
    let mut hi = hi;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if standby_knows(store, mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// Transactions the standby sees in progress below `horizon` (at most ten, for messages).
async fn standby_holders(store: &Store, horizon: i64) -> Result<Vec<Holder>, StoreError> {
    let xmin = standby_xmin(store).await?;
    if horizon <= xmin {
        return Ok(vec![]);
    }
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push("SELECT x FROM generate_series(CAST(")
        .bind(Param::I64(xmin))
        .push(" AS BIGINT), CAST(")
        .bind(Param::I64(horizon.min(xmin + 100_000) - 1))
        .push(
            " AS BIGINT)) AS x WHERE pg_xact_status(CAST(CAST(x AS TEXT) AS xid8)) = 'in progress' \
             ORDER BY x LIMIT 10",
        );
    let rows = store
        .db()
        .fetch_raw(&sql, &[Some(Encoding::Integer)])
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r[0].int())
        .map(|xid| Holder {
            xid,
            pid: None,
            open_secs: None,
            state: None,
        })
        .collect())
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
