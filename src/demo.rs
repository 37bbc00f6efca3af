//! The embedded demo store: a SQLite file in the native layout with a bank domain taken from
//! the seeds — accounts (opened, deposited, withdrawn, closed), payments (created, confirmed,
//! refunded) and ledger transfers between accounts — over six months, with account snapshots
//! every [`SNAPSHOT_EVERY`] events and a few deliberately drifted ones, recorded in
//! `evscope_demo_meta` so that tests can check they are found.
//!
//! The store is evscope's own file, built in a temporary file and renamed into place; user
//! event stores are never written to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, Executor, Row, SqliteConnection};

use crate::store::sql::iso_fixed;

pub const DEFAULT_ACCOUNTS: u32 = 200;
pub const SNAPSHOT_EVERY: i64 = 20;
const SEED: u64 = 0x5EED_2026;

pub fn default_path() -> PathBuf {
    crate::config::data_dir().join("demo.db")
}

pub fn url_for(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A snapshot the demo wrote wrong on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRecord {
    pub stream_id: String,
    pub stream_version: i64,
    /// The JSON path that differs, e.g. `.balance`.
    pub path: String,
    pub stored: Value,
    pub expected: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoSummary {
    pub path: String,
    pub url: String,
    pub created: bool,
    pub accounts: u32,
    pub streams: i64,
    pub events: i64,
    pub snapshots: i64,
    pub drifted: Vec<DriftRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

/// Create the demo store at `path` unless it exists (or `force`); return what it holds.
pub async fn ensure(path: &Path, accounts: u32, force: bool) -> Result<DemoSummary, DemoError> {
    if path.exists() && !force {
        return read_summary(path).await;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = build(&tmp, accounts).await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    let mut s = read_summary(path).await?;
    s.created = true;
    Ok(s)
}

async fn read_summary(path: &Path) -> Result<DemoSummary, DemoError> {
    let opts = SqliteConnectOptions::from_str(&url_for(path))?.read_only(true);
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let meta: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM evscope_demo_meta")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| {
            DemoError::Other(format!(
                "not an evscope demo store ({e}); use --force to recreate it"
            ))
        })?;
    let meta: BTreeMap<String, String> = meta.into_iter().collect();
    let get = |k: &str| meta.get(k).cloned().unwrap_or_default();
    let count = |sql: &'static str| sqlx::query(sql);
    let events: i64 = count("SELECT COUNT(*) FROM evscope_events")
        .fetch_one(&mut conn)
        .await?
        .get(0);
    let streams: i64 = count("SELECT COUNT(DISTINCT stream_id) FROM evscope_events")
        .fetch_one(&mut conn)
        .await?
        .get(0);
    let snapshots: i64 = count("SELECT COUNT(*) FROM evscope_snapshots")
        .fetch_one(&mut conn)
        .await?
        .get(0);
    conn.close().await?;
    Ok(DemoSummary {
        path: path.display().to_string(),
        url: url_for(path),
        created: false,
        accounts: get("accounts").parse().unwrap_or(0),
        streams,
        events,
        snapshots,
        drifted: serde_json::from_str(&get("drifted_snapshots")).unwrap_or_default(),
    })
}

/// One generated event before it gets its global position.
struct NewEvent {
    stream: String,
    version: i64,
    id: String,
    ty: &'static str,
    data: Value,
    meta: Value,
    at: DateTime<Utc>,
}

/// A snapshot as generated (before the deliberate drift).
struct Snap {
    stream: String,
    version: i64,
    state: Value,
    at: DateTime<Utc>,
}

/// Record a snapshot of `a` when its version is a multiple of [`SNAPSHOT_EVERY`].
fn snap(a: &Account, at: DateTime<Utc>, snaps: &mut Vec<Snap>) {
    if a.version % SNAPSHOT_EVERY == 0 {
        snaps.push(Snap {
            stream: a.id.clone(),
            version: a.version,
            state: account_state(&a.owner, a.balance, a.open),
            at,
        });
    }
}

#[derive(Clone)]
struct Account {
    id: String,
    owner: String,
    balance: i64,
    open: bool,
    version: i64,
}

const FIRST: &[&str] = &[
    "Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela",
    "João", "Larissa", "Marcos", "Natália", "Otávio", "Paula", "Rafael", "Sofia", "Tiago",
    "Vitória", "Wagner",
];
const LAST: &[&str] = &[
    "Souza",
    "Lima",
    "Oliveira",
    "Santos",
    "Pereira",
    "Costa",
    "Rodrigues",
    "Almeida",
    "Nascimento",
    "Carvalho",
    "Ribeiro",
    "Gomes",
    "Martins",
    "Barbosa",
    "Rocha",
];

struct Gen {
    rng: fastrand::Rng,
    events: Vec<NewEvent>,
    versions: BTreeMap<String, i64>,
}

impl Gen {
    fn uuid(&mut self) -> String {
        let a = self.rng.u64(..);
        let b = self.rng.u64(..);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        stream: &str,
        ty: &'static str,
        data: Value,
        at: DateTime<Utc>,
        correlation: Option<&str>,
        causation: Option<&str>,
    ) -> String {
        let v = self.versions.entry(stream.to_string()).or_insert(0);
        *v += 1;
        let version = *v;
        let id = self.uuid();
        let correlation = correlation.unwrap_or(&id).to_string();
        let causation = causation.unwrap_or(&id).to_string();
        self.events.push(NewEvent {
            stream: stream.to_string(),
            version,
            id: id.clone(),
            ty,
            data,
            meta: json!({
                "correlation_id": correlation,
                "causation_id": causation,
                "user": "demo",
                "source": "evscope-demo",
            }),
            at,
        });
        id
    }
}

/// The account state the demo's reducers fold to (what snapshots hold).
pub fn account_state(owner: &str, balance: i64, open: bool) -> Value {
    json!({
        "owner": owner,
        "currency": "BRL",
        "balance": balance,
        "status": if open { "open" } else { "closed" },
    })
}

fn generate(accounts: u32) -> (Vec<NewEvent>, Vec<Snap>) {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(SEED ^ u64::from(accounts)),
        events: Vec::new(),
        versions: BTreeMap::new(),
    };
    let start = Utc
        .with_ymd_and_hms(2026, 5, 1, 8, 0, 0)
        .single()
        .expect("valid date");
    let span_secs: i64 = 183 * 24 * 3600;
    let n = accounts as usize;
    let mut accts: Vec<Account> = Vec::with_capacity(n);
    // Ticks spread over the span: openings in the first two months, then activity.
    let ticks = n * 130;
    let mut times: Vec<i64> = (0..ticks).map(|_| g.rng.i64(0..span_secs)).collect();
    times.sort_unstable();
    let mut opened = 0usize;
    let mut payments: Vec<(String, String, i64, bool)> = Vec::new(); // (stream, account, amount, refunded)
    let mut transfers = 0u32;
    let mut snapshots: Vec<Snap> = Vec::new();
    for (i, t) in times.iter().enumerate() {
        let at = start + Duration::seconds(*t) + Duration::milliseconds(g.rng.i64(0..1000));
        let progress = i as f64 / ticks as f64;
        // Open accounts early on (all by ~35% of the ticks).
        if opened < n
            && (accts.iter().filter(|a| a.open).count() < 2
                || g.rng.f64() < (0.35 - progress).max(0.0) * 0.5
                || progress > 0.35)
        {
            let id = format!("account-{:04}", opened + 1);
            let owner = format!(
                "{} {}",
                FIRST[g.rng.usize(..FIRST.len())],
                LAST[g.rng.usize(..LAST.len())]
            );
            g.emit(
                &id,
                "AccountOpened",
                json!({"owner": owner, "currency": "BRL"}),
                at,
                None,
                None,
            );
            let mut a = Account {
                id,
                owner,
                balance: 0,
                open: true,
                version: 1,
            };
            let amount = g.rng.i64(1..50) * 100;
            g.emit(
                &a.id,
                "Deposited",
                json!({"amount": amount, "source": "TED"}),
                at + Duration::seconds(30),
                None,
                None,
            );
            a.balance += amount;
            a.version += 1;
            snap(&a, at, &mut snapshots);
            accts.push(a);
            opened += 1;
            continue;
        }
        let open: Vec<usize> = (0..accts.len()).filter(|&k| accts[k].open).collect();
        if open.is_empty() {
            continue;
        }
        let k = open[g.rng.usize(..open.len())];
        let roll = g.rng.f64();
        if roll < 0.52 {
            let amount = g.rng.i64(1..200) * 10;
            let source = ["PIX", "TED", "cash", "salary"][g.rng.usize(..4)];
            g.emit(
                &accts[k].id.clone(),
                "Deposited",
                json!({"amount": amount, "source": source}),
                at,
                None,
                None,
            );
            accts[k].balance += amount;
            accts[k].version += 1;
            snap(&accts[k], at, &mut snapshots);
        } else if roll < 0.965 {
            let amount = (g.rng.i64(1..150) * 10).min(accts[k].balance);
            if amount == 0 {
                continue;
            }
            let channel = ["ATM", "PIX", "card", "branch"][g.rng.usize(..4)];
            g.emit(
                &accts[k].id.clone(),
                "Withdrawn",
                json!({"amount": amount, "channel": channel}),
                at,
                None,
                None,
            );
            accts[k].balance -= amount;
            accts[k].version += 1;
            snap(&accts[k], at, &mut snapshots);
        } else if roll < 0.974 && open.len() > 1 {
            // A ledger transfer: its own stream, and one leg on each account.
            let mut to = open[g.rng.usize(..open.len())];
            if to == k {
                to = open[(open.iter().position(|&x| x == k).unwrap_or(0) + 1) % open.len()];
            }
            let amount = (g.rng.i64(1..100) * 10).min(accts[k].balance);
            if amount == 0 || to == k {
                continue;
            }
            transfers += 1;
            let tid = format!("transfer-{transfers:05}");
            let (from_id, to_id) = (accts[k].id.clone(), accts[to].id.clone());
            let req = g.emit(
                &tid,
                "TransferRequested",
                json!({"from": from_id, "to": to_id, "amount": amount}),
                at,
                None,
                None,
            );
            let w = g.emit(
                &from_id,
                "Withdrawn",
                json!({"amount": amount, "channel": "transfer", "transfer": tid}),
                at + Duration::milliseconds(40),
                Some(&req),
                Some(&req),
            );
            accts[k].balance -= amount;
            accts[k].version += 1;
            snap(&accts[k], at, &mut snapshots);
            let d = g.emit(
                &to_id,
                "Deposited",
                json!({"amount": amount, "source": "transfer", "transfer": tid}),
                at + Duration::milliseconds(80),
                Some(&req),
                Some(&w),
            );
            accts[to].balance += amount;
            accts[to].version += 1;
            snap(&accts[to], at, &mut snapshots);
            g.emit(
                &tid,
                "TransferCompleted",
                json!({}),
                at + Duration::milliseconds(120),
                Some(&req),
                Some(&d),
            );
        } else if roll < 0.983 {
            // A payment, confirmed at once (the account is charged), sometimes refunded later.
            let amount = (g.rng.i64(1..80) * 5).min(accts[k].balance);
            if amount == 0 {
                continue;
            }
            let pid = format!("payment-{:05}", payments.len() + 1);
            let acc = accts[k].id.clone();
            let method = ["pix", "card", "boleto"][g.rng.usize(..3)];
            let c = g.emit(
                &pid,
                "PaymentCreated",
                json!({"amount": amount, "account": acc, "method": method}),
                at,
                None,
                None,
            );
            let conf = g.emit(
                &pid,
                "PaymentConfirmed",
                json!({}),
                at + Duration::seconds(2),
                Some(&c),
                Some(&c),
            );
            g.emit(
                &acc,
                "Withdrawn",
                json!({"amount": amount, "channel": "payment", "payment": pid}),
                at + Duration::seconds(3),
                Some(&c),
                Some(&conf),
            );
            accts[k].balance -= amount;
            accts[k].version += 1;
            snap(&accts[k], at, &mut snapshots);
            payments.push((pid, acc, amount, false));
        } else if roll < 0.986 && !payments.is_empty() {
            let p = g.rng.usize(..payments.len());
            let (pid, acc, amount, refunded) = payments[p].clone();
            let Some(ai) = accts.iter().position(|a| a.id == acc && a.open) else {
                continue;
            };
            if refunded {
                continue;
            }
            let r = g.emit(
                &pid,
                "PaymentRefunded",
                json!({"reason": "customer request", "amount": amount}),
                at,
                None,
                None,
            );
            g.emit(
                &acc,
                "Deposited",
                json!({"amount": amount, "source": "refund", "payment": pid}),
                at + Duration::seconds(1),
                Some(&r),
                Some(&r),
            );
            accts[ai].balance += amount;
            accts[ai].version += 1;
            snap(&accts[ai], at, &mut snapshots);
            payments[p].3 = true;
        } else if progress > 0.8 && g.rng.f64() < 0.25 {
            // Close an account: withdraw what is left, then close.
            let a = accts[k].clone();
            if a.balance > 0 {
                g.emit(
                    &a.id,
                    "Withdrawn",
                    json!({"amount": a.balance, "channel": "branch"}),
                    at,
                    None,
                    None,
                );
                accts[k].balance = 0;
                accts[k].version += 1;
                snap(&accts[k], at, &mut snapshots);
            }
            g.emit(
                &a.id,
                "AccountClosed",
                json!({"reason": "customer request"}),
                at + Duration::seconds(5),
                None,
                None,
            );
            accts[k].open = false;
            accts[k].version += 1;
            snap(&accts[k], at, &mut snapshots);
        }
    }
    // Events were emitted in tick order; legs carry small offsets, so sort stably by time.
    g.events.sort_by_key(|e| e.at);
    (g.events, snapshots)
}

async fn build(path: &Path, accounts: u32) -> Result<(), DemoError> {
    let opts = SqliteConnectOptions::from_str(&url_for(path))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(include_str!("../fixtures/native/sqlite.sql"))
        .execute(&mut *conn)
        .await?;
    conn.execute("CREATE TABLE evscope_demo_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .await?;
    let (events, mut snapshots) = generate(accounts);
    let mut tx = conn.begin().await?;
    for chunk in events.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(&e.stream)
                .bind(e.version)
                .bind(&e.id)
                .bind(e.ty)
                .bind(e.data.to_string())
                .bind(e.meta.to_string())
                .bind(iso_fixed(e.at));
        }
        q.execute(&mut *tx).await?;
    }
    consumers(&mut tx, &events).await?;
    // Drift a handful of snapshots, spread over the list, in different ways.
    let mut drifted = Vec::new();
    let len = snapshots.len();
    for (n, pick) in [
        len / 7,
        2 * len / 7,
        3 * len / 7,
        4 * len / 7,
        5 * len / 7,
        6 * len / 7,
    ]
    .into_iter()
    .enumerate()
    {
        let Some(Snap {
            stream,
            version,
            state,
            ..
        }) = snapshots.get_mut(pick)
        else {
            continue;
        };
        if drifted.iter().any(|d: &DriftRecord| &d.stream_id == stream) {
            continue;
        }
        let (path, expected, stored) = match n % 3 {
            0 => {
                let old = state["balance"].clone();
                let new = json!(old.as_i64().unwrap_or(0) + 100);
                (".balance", old, new)
            }
            1 => {
                let old = state["balance"].clone();
                let new = json!(old.as_i64().unwrap_or(0) - 35);
                (".balance", old, new)
            }
            _ => {
                let old = state["owner"].clone();
                (".owner", old, json!("Conta Fantasma"))
            }
        };
        let key = &path[1..];
        state[key] = stored.clone();
        drifted.push(DriftRecord {
            stream_id: stream.clone(),
            stream_version: *version,
            path: path.to_string(),
            stored,
            expected,
        });
    }
    for chunk in snapshots.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO evscope_snapshots (stream_id, stream_version, state, taken_at, snapshot_type, schema_version) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, 'Account', 1)"; chunk.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for sn in chunk {
            q = q
                .bind(&sn.stream)
                .bind(sn.version)
                .bind(sn.state.to_string())
                .bind(iso_fixed(sn.at + Duration::seconds(1)));
        }
        q.execute(&mut *tx).await?;
    }
    for (k, v) in [
        ("accounts", accounts.to_string()),
        ("seed", SEED.to_string()),
        ("snapshot_every", SNAPSHOT_EVERY.to_string()),
        (
            "drifted_snapshots",
            serde_json::to_string(&drifted).unwrap_or_default(),
        ),
        (
            "generator",
            format!("evscope {}", env!("CARGO_PKG_VERSION")),
        ),
    ] {
        sqlx::query("INSERT INTO evscope_demo_meta (key, value) VALUES (?, ?)")
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    drop(conn);
    pool.close().await;
    Ok(())
}

/// A handful of consumers in `evscope_consumers`, one in each state `evscope consumers`
/// reports: caught up, lagging (written at build time: the file is static, so it reads as
/// stalled once the threshold has passed), stalled, beyond the head, failed, paused.
async fn consumers(tx: &mut sqlx::SqliteConnection, events: &[NewEvent]) -> Result<(), DemoError> {
    let head = events.len() as i64;
    let now = iso_fixed(Utc::now());
    let last = events
        .last()
        .map_or_else(|| now.clone(), |e| iso_fixed(e.at));
    let mid = events
        .get(events.len() / 2)
        .map_or_else(|| now.clone(), |e| iso_fixed(e.at));
    struct C<'a> {
        name: &'a str,
        position: i64,
        at: &'a str,
        category: Option<&'a str>,
        types: Option<&'a str>,
        status: &'a str,
        error: Option<&'a str>,
    }
    let c = |name, position, at, category, types, status, error| C {
        name,
        position,
        at,
        category,
        types,
        status,
        error,
    };
    let rows = [
        c(
            "balances",
            head,
            &now,
            Some("account"),
            None,
            "running",
            None,
        ),
        c(
            "payments-read-model",
            (head - 400).max(0),
            &now,
            Some("payment"),
            None,
            "running",
            None,
        ),
        c(
            "ledger-exporter",
            head / 2,
            &mid,
            None,
            None,
            "running",
            None,
        ),
        c(
            "search-indexer",
            head + 500,
            &last,
            None,
            None,
            "running",
            Some("restored from a backup newer than the events"),
        ),
        c(
            "notifications",
            (head - 1000).max(0),
            &last,
            Some("payment"),
            Some("PaymentConfirmed,PaymentRefunded"),
            "failed",
            Some("mailer answered 503"),
        ),
        c(
            "fraud-scores",
            (head - 50).max(0),
            &last,
            None,
            Some("Withdrawn,TransferRequested"),
            "paused",
            Some("paused by ops"),
        ),
    ];
    for C {
        name,
        position,
        at,
        category,
        types,
        status,
        error,
    } in rows
    {
        sqlx::query(
            "INSERT INTO evscope_consumers (name, position, updated_at, category, types, status, owner, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(position)
        .bind(at)
        .bind(category)
        .bind(types)
        .bind(status)
        .bind((status == "running").then_some("demo-worker-1"))
        .bind(error)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let (a, sa) = generate(30);
        let (b, _) = generate(30);
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.id == y.id && x.at == y.at));
        // Versions per stream are 1..n in time order.
        let mut seen: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &a {
            let v = seen.entry(&e.stream).or_insert(0);
            *v += 1;
            assert_eq!(e.stream_version_check(), *v, "{} out of order", e.stream);
        }
        // Times never go backwards in the global order.
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        // Balances never go negative: replay the account events.
        let mut bal: BTreeMap<&str, i64> = BTreeMap::new();
        for e in a.iter().filter(|e| e.stream.starts_with("account-")) {
            let amt = e.data["amount"].as_i64().unwrap_or(0);
            let b = bal.entry(&e.stream).or_insert(0);
            match e.ty {
                "Deposited" => *b += amt,
                "Withdrawn" => *b -= amt,
                _ => {}
            }
            assert!(*b >= 0, "{} went negative", e.stream);
        }
        assert!(!sa.is_empty());
        assert!(sa.iter().all(|s| s.version % SNAPSHOT_EVERY == 0));
    }

    impl NewEvent {
        fn stream_version_check(&self) -> i64 {
            self.version
        }
    }
}
