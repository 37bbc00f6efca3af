//! Consumers benchmark: `evscope consumers` on a native-layout PostgreSQL store of 10,000,000
//! events with 50 consumers (of the whole log, of a category, of some types; caught up, a few
//! events behind, far behind, beyond the head), beside the floor: psql reading the same
//! checkpoint table and the head.
//!
//!     cargo bench --bench consumers
//!
//! Environment:
//! - EVSCOPE_BENCH_PG: admin URL (default postgres://postgres@127.0.0.1:5432/test)
//! - EVSCOPE_BENCH_EVENTS: size (default 10,000,000)
//! - EVSCOPE_BENCH_DB: keep the store in this database and reuse it on the next run
//!
//! Results go to stdout and to bench-results/consumers.md.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use evscope::consumers::{self, ReportOptions};
use evscope::store::{OpenOptions, Store};
use sqlx::Connection;

const RUNS: usize = 15;
const CONSUMERS: usize = 50;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// Events in three categories (account, payment, ledger), four types, one per second.
async fn generate(db_url: &str, total: u64) {
    let mut c = sqlx::PgConnection::connect(db_url).await.expect("connect");
    let t = Instant::now();
    sqlx::raw_sql(&format!(
        "SET synchronous_commit = off; SET maintenance_work_mem = '1GB';
         DROP INDEX IF EXISTS evscope_events_type;
         ALTER TABLE evscope_events DROP CONSTRAINT IF EXISTS evscope_events_stream_version;
         ALTER TABLE evscope_events DROP CONSTRAINT IF EXISTS evscope_events_event_id;
         INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, recorded_at)
         SELECT i, (ARRAY['account','payment','ledger'])[1 + i % 3] || '-' || (i % 30000), i / 30000 + 1,
                md5(i::text)::uuid, (ARRAY['Deposited','Withdrawn','PaymentCreated','Posted'])[1 + i % 4],
                jsonb_build_object('n', i), timestamptz '2026-01-01' + i * interval '1 second'
         FROM generate_series(1, {total}) AS i;
         ALTER TABLE evscope_events ADD CONSTRAINT evscope_events_stream_version UNIQUE (stream_id, stream_version);
         ALTER TABLE evscope_events ADD CONSTRAINT evscope_events_event_id UNIQUE (event_id);
         CREATE INDEX evscope_events_type ON evscope_events (event_type, global_position);"
    ))
    .execute(&mut c)
    .await
    .expect("generate events");
    sqlx::raw_sql("VACUUM ANALYZE evscope_events")
        .execute(&mut c)
        .await
        .expect("vacuum");
    eprintln!(
        "bench: generated {total} events in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

/// 50 consumers spread over the states and what they follow.
async fn consumers_table(db_url: &str, head: i64) {
    let mut c = sqlx::PgConnection::connect(db_url).await.expect("connect");
    sqlx::raw_sql("TRUNCATE evscope_consumers")
        .execute(&mut c)
        .await
        .expect("truncate");
    let behind = [
        0,
        3,
        50,
        900,
        9_000,
        40_000,
        1_000_000,
        head / 2,
        head,
        -200,
    ];
    for i in 0..CONSUMERS {
        let pos = (head - behind[i % behind.len()]).max(0);
        let (category, types) = match i % 5 {
            0 | 1 => (None, None),
            2 => (Some("account"), None),
            3 => (Some("payment"), Some("PaymentCreated")),
            _ => (None, Some("Deposited,Withdrawn")),
        };
        sqlx::query(
            "INSERT INTO evscope_consumers (name, position, updated_at, category, types, status)
             VALUES ($1, $2, now() - ($3 || ' seconds')::interval, $4, $5, 'running')",
        )
        .bind(format!("consumer-{i:02}"))
        .bind(pos)
        .bind(((i * 37) % 900).to_string())
        .bind(category)
        .bind(types)
        .execute(&mut c)
        .await
        .expect("insert consumer");
    }
}

/// psql's median time for the floor: the checkpoint table and the head, nothing counted.
fn psql_floor(db_url: &str) -> f64 {
    let mut script = String::from("\\timing on\n");
    for _ in 0..RUNS + 1 {
        script.push_str(
            "SELECT * FROM evscope_consumers; SELECT max(global_position) FROM evscope_events;\n",
        );
    }
    let path = std::env::temp_dir().join(format!("evscope-bench-c-{}.sql", std::process::id()));
    std::fs::write(&path, script).expect("script");
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-d", db_url, "-f"])
        .arg(&path)
        .args(["-o", "/dev/null"])
        .output()
        .expect("psql");
    let _ = std::fs::remove_file(&path);
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    // Pairs of statements per run; the first run warms up.
    let mut runs: Vec<f64> = times.chunks(2).skip(1).map(|p| p.iter().sum()).collect();
    runs.sort_by(f64::total_cmp);
    runs.get(runs.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let admin = env_or(
        "EVSCOPE_BENCH_PG",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let total: u64 = env_or("EVSCOPE_BENCH_EVENTS", "10000000")
        .parse()
        .expect("EVSCOPE_BENCH_EVENTS");
    let keep = std::env::var("EVSCOPE_BENCH_DB").ok();
    let name = keep
        .clone()
        .unwrap_or_else(|| format!("evscope_bench_consumers_{}", std::process::id()));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let db_url = format!("{base}/{name}");
    let mut a = sqlx::PgConnection::connect(&admin).await.expect("admin");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut a)
            .await
            .expect("check database");
    let mut have = 0i64;
    if exists && keep.is_some() {
        let mut c = sqlx::PgConnection::connect(&db_url).await.expect("connect");
        have = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM evscope_events")
            .fetch_one(&mut c)
            .await
            .unwrap_or(0);
        eprintln!("bench: reusing {name} with {have} events");
    } else {
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut a)
            .await
            .expect("create db");
        support::native_store(&db_url).await;
    }
    if have != total as i64 {
        if have > 0 {
            sqlx::raw_sql("TRUNCATE evscope_events")
                .execute(&mut sqlx::PgConnection::connect(&db_url).await.expect("c"))
                .await
                .expect("truncate");
        }
        generate(&db_url, total).await;
    }
    let head = total as i64;
    consumers_table(&db_url, head).await;

    let store = Store::open(&OpenOptions {
        url: db_url.clone(),
        ..Default::default()
    })
    .await
    .expect("open");
    let measure = |settle: bool| {
        let store = store.clone();
        async move {
            let opts = ReportOptions {
                settle,
                ..ReportOptions::default()
            };
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..RUNS + 1 {
                let t = Instant::now();
                let found = consumers::discover(&store).await.expect("discover");
                let r = consumers::report(&store, found, &opts)
                    .await
                    .expect("report");
                times.push(t.elapsed());
                last = Some(r);
            }
            times.remove(0);
            (median(times), last.expect("a report"))
        }
    };
    let (lag_ms, report) = measure(false).await;
    let (settled_ms, _) = measure(true).await;
    assert_eq!(report.consumers.len(), CONSUMERS);
    let estimates = report.consumers.iter().filter(|l| !l.lag_exact).count();
    // The whole command, process start and connection included.
    let bin = env!("CARGO_BIN_EXE_evscope");
    let mut cli = Vec::new();
    for _ in 0..6 {
        let t = Instant::now();
        let out = Command::new(bin)
            .args([
                "--db",
                &db_url,
                "consumers",
                "--no-settle",
                "--format",
                "json",
            ])
            .output()
            .expect("evscope");
        assert!(out.status.success());
        cli.push(t.elapsed());
    }
    cli.remove(0);
    let cli_ms = median(cli);
    let floor_ms = psql_floor(&db_url);

    let text = format!(
        "# consumers bench\n\n\
         {total} events (native layout, PostgreSQL), {CONSUMERS} consumers; median of {RUNS} runs.\n\n\
         | what | ms |\n|---|---|\n\
         | floor: psql `SELECT * FROM evscope_consumers` + `max(global_position)` | {floor_ms:.1} |\n\
         | `consumers` report, lag to the visible head (`--no-settle`) | {lag_ms:.1} |\n\
         | `consumers` report with the settled head (no other session in a transaction: no grace period) | {settled_ms:.1} |\n\
         | `evscope consumers --no-settle --format json` (process, connection, catalog) | {cli_ms:.1} |\n\n\
         {estimates} of {CONSUMERS} lags are estimates (spans over 10,000 positions).\n"
    );
    println!("{text}");
    let _ = std::fs::create_dir_all("bench-results");
    if let Ok(mut f) = std::fs::File::create("bench-results/consumers.md") {
        let _ = f.write_all(text.as_bytes());
    }
    drop(store);
    if keep.is_none() {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut a)
            .await;
    }
}
