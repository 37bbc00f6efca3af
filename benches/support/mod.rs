//! Helpers shared by the benches (not a bench itself).
#![allow(dead_code)]

use std::process::{Command, Stdio};

// The allocator the evscope binary uses (src/main.rs), for every bench that includes these
// helpers: the in-process timings are of what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

/// Peak RSS of this process, in MB (VmHWM).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Wall time, peak RSS in MB (GNU time's %M) and exit code of a shell command.
pub fn timed(shell: &str) -> (Duration, f64, i32) {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "sh", "-c", shell])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run /usr/bin/time");
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0);
    (t.elapsed(), rss, out.status.code().unwrap_or(-1))
}

/// A connection to the (empty) database at `url` with the native layout's tables created.
pub async fn native_store(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(include_str!("../../fixtures/native/postgres.sql"))
        .execute(&mut c)
        .await
        .expect("ddl");
    c
}

/// Run `body` with the URL of a PostgreSQL database created for it (named `prefix_<pid>`,
/// beside `$EVSCOPE_BENCH_PG`'s) and dropped afterwards, also when `body` panics.
pub async fn with_throwaway_db<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use sqlx::Connection;
    let admin = std::env::var("EVSCOPE_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("{prefix}_{}", std::process::id());
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    let mut a = sqlx::PgConnection::connect(&admin)
        .await
        .expect("admin connection");
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut a)
        .await
        .expect("create the bench database");
    let outcome =
        futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body(url))).await;
    sqlx::raw_sql(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut a)
        .await
        .expect("drop the bench database");
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

/// Positions `from..=to` of the store bench's native store at `db_url` (event i: stream
/// `account-<i % streams>`, version `i / streams + 1`, amount `i % 1000`, a correlation id
/// shared by 7 events), with its indexes rebuilt and the table analyzed.
pub async fn generate_native(db_url: &str, from: u64, to: u64, streams: u64) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db_url)
        .await
        .expect("connect bench db");
    let t = Instant::now();
    sqlx::raw_sql(
        "SET synchronous_commit = off; SET maintenance_work_mem = '1GB';
         ALTER TABLE evscope_events DROP CONSTRAINT IF EXISTS evscope_events_stream_version;
         ALTER TABLE evscope_events DROP CONSTRAINT IF EXISTS evscope_events_event_id;
         DROP INDEX IF EXISTS evscope_events_type;",
    )
    .execute(&mut c)
    .await
    .expect("drop indexes");
    // Event i belongs to stream i % streams, as version i / streams + 1: every stream grows
    // through the whole log, as real streams do.
    let sql = format!(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at)
         SELECT i, 'account-' || lpad((i % {streams})::text, 6, '0'), i / {streams} + 1,
                md5(i::text)::uuid,
                (ARRAY['Deposited','Withdrawn','Deposited','PaymentCreated'])[1 + i % 4],
                jsonb_build_object('amount', i % 1000, 'channel', 'PIX', 'note', 'bench event ' || i),
                jsonb_build_object('correlation_id', md5((i / 7)::text)::uuid, 'user', 'bench'),
                timestamptz '2026-01-01' + i * interval '1 second'
         FROM generate_series({from}, {to}) AS i"
    );
    sqlx::raw_sql(&sql)
        .execute(&mut c)
        .await
        .expect("generate events");
    sqlx::raw_sql(
        "SET maintenance_work_mem = '1GB';
         ALTER TABLE evscope_events ADD CONSTRAINT evscope_events_stream_version UNIQUE (stream_id, stream_version);
         ALTER TABLE evscope_events ADD CONSTRAINT evscope_events_event_id UNIQUE (event_id);
         CREATE INDEX evscope_events_type ON evscope_events (event_type, global_position);",
    )
    .execute(&mut c)
    .await
    .expect("build indexes");
    // Its own statement: VACUUM cannot run in the implicit transaction of a multi-statement query.
    sqlx::raw_sql("VACUUM ANALYZE evscope_events")
        .execute(&mut c)
        .await
        .expect("vacuum");
    eprintln!(
        "bench: generated positions {from}..={to} in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}
