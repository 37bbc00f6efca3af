//! Standby benchmark: how long after a late commit `evscope log --follow`, pointed at a hot
//! standby, delivers the event it was waiting for. A PostgreSQL primary and a streaming standby
//! are started on free ports (as the tests do); each round a transaction holds position N while
//! N+1 commits, the follow waits at the gap, then N commits on the primary and the time until
//! the follow prints it is measured (replication, the safe head's checks and the follow's poll
//! interval included). The same on the primary, for comparison.
//!
//!     cargo bench --bench standby
//!
//! Writes bench-results/standby.md.

#[path = "../tests/common/topology.rs"]
#[allow(dead_code)]
mod topology;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::Connection;

const ROUNDS: usize = 20;

const INSERT: &str = "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
     VALUES ($1, 1, gen_random_uuid(), 'Held', '{}') RETURNING global_position";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(pair) = topology::PgPair::start() else {
        return;
    };
    let mut admin = sqlx::PgConnection::connect(&pair.url(pair.primary, "postgres"))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE DATABASE ev")
        .execute(&mut admin)
        .await
        .unwrap();
    let primary = pair.url(pair.primary, "ev");
    let standby = pair.url(pair.standby, "ev");
    let mut p = sqlx::PgConnection::connect(&primary).await.unwrap();
    let ddl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/native/postgres.sql"
    ))
    .unwrap();
    sqlx::raw_sql(&ddl).execute(&mut p).await.unwrap();
    sqlx::query(INSERT)
        .bind("start")
        .fetch_one(&mut p)
        .await
        .unwrap();
    pair.catch_up("ev").await;

    let mut md = String::from(
        "# evscope standby benchmark\n\nA transaction holds position N while N+1 commits; `log --follow` waits at the gap; N commits on the primary. Time from that commit to the follow printing N (median, p90 and worst of 20 rounds; the follow looks again every 50 ms while it waits at a gap, every 500 ms otherwise).\n\n| connected to | median ms | p90 ms | worst ms |\n|---|---:|---:|---:|\n",
    );
    for (label, url) in [("hot standby", &standby), ("primary", &primary)] {
        let mut times = round_trip(&pair, &primary, url).await;
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let median = ms(times[times.len() / 2]);
        let p90 = ms(times[times.len() * 9 / 10]);
        let worst = ms(*times.last().unwrap());
        eprintln!("bench: {label}: median {median:.0} ms, p90 {p90:.0} ms, worst {worst:.0} ms");
        md.push_str(&format!(
            "| {label} | {median:.0} | {p90:.0} | {worst:.0} |\n"
        ));
    }
    std::fs::create_dir_all("bench-results").unwrap();
    std::fs::write("bench-results/standby.md", md).unwrap();
    eprintln!("bench: wrote bench-results/standby.md");
}

/// ROUNDS late commits, each timed from its commit to the follow printing it.
async fn round_trip(pair: &topology::PgPair, primary: &str, read: &str) -> Vec<Duration> {
    let data = tempfile::tempdir().unwrap();
    let mut holder = sqlx::PgConnection::connect(primary).await.unwrap();
    let mut other = sqlx::PgConnection::connect(primary).await.unwrap();
    let head: i64 = sqlx::query_scalar("SELECT MAX(global_position) FROM evscope_events")
        .fetch_one(&mut other)
        .await
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evscope"))
        .env("EVSCOPE_DATA_DIR", data.path())
        .env("EVSCOPE_CONFIG", data.path().join("none.toml"))
        .args([
            "--db", read, "log", "--follow", "--format", "jsonl", "--from",
        ])
        .arg((head + 1).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("evscope");
    let (tx, rx) = mpsc::channel::<(i64, Instant)>();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let _ = tx.send((v["global_position"].as_i64().unwrap(), Instant::now()));
        }
    });
    let mut times = vec![];
    for round in 0..ROUNDS {
        sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
        let n: i64 = sqlx::query_scalar(INSERT)
            .bind(format!("held-{round}-{read}"))
            .fetch_one(&mut holder)
            .await
            .unwrap();
        let n1: i64 = sqlx::query_scalar(INSERT)
            .bind(format!("after-{round}-{read}"))
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert_eq!(n1, n + 1);
        // Let the follow reach the gap, then commit the held position (at a random moment of
        // the follow's polling cycle: the rounds would otherwise lock onto its phase).
        tokio::time::sleep(Duration::from_millis(700 + fastrand::u64(0..100))).await;
        let committed = Instant::now();
        sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
        let deadline = committed + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (pos, at) = rx.recv_timeout(left).expect("the follow delivered it");
            assert!(pos <= n1, "{pos} after {n1}");
            if pos == n {
                times.push(at.duration_since(committed));
            }
            if pos == n1 {
                assert_eq!(times.len(), round + 1, "position {n} was passed over");
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = pair;
    times
}
