//! Snapshot audit benchmark: verify every snapshot of a PostgreSQL store of 1,000,000 events
//! in 10,000 streams with a snapshot every 10 events (100,000 snapshots, 1,000 drifted), against
//! the time to read the events once (`COPY (SELECT ...) TO STDOUT`).
//!
//!     cargo bench --bench verify
//!
//! Writes bench-results/verify.md.

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Instant;

use support::timed;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    support::with_throwaway_db("evscope_verify", |url| async move { run(&url).await }).await;
}

async fn run(url: &str) {
    let mut c = support::native_store(url).await;
    let t = Instant::now();
    // Event i: stream i % 10000, version i / 10000 + 1; the first event of a stream opens it.
    sqlx::raw_sql(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data)
         SELECT i, 'account-' || lpad((i % 10000)::text, 5, '0'), i / 10000 + 1, md5(i::text)::uuid,
                CASE WHEN i < 10000 THEN 'AccountOpened' WHEN i % 3 = 0 THEN 'Withdrawn' ELSE 'Deposited' END,
                CASE WHEN i < 10000 THEN jsonb_build_object('owner', 'Owner ' || i, 'currency', 'BRL')
                     ELSE jsonb_build_object('amount', 1 + i % 50) END
         FROM generate_series(0, 999999) AS i;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state)
         SELECT e.stream_id, e.stream_version,
                jsonb_build_object('owner', 'Owner ' || substr(e.stream_id, 9)::int, 'currency', 'BRL', 'status', 'open',
                  'balance', (SELECT sum(CASE x.event_type WHEN 'Deposited' THEN (x.data->>'amount')::int WHEN 'Withdrawn' THEN -(x.data->>'amount')::int ELSE 0 END)
                              FROM evscope_events x WHERE x.stream_id = e.stream_id AND x.stream_version <= e.stream_version)
                    + CASE WHEN e.stream_id LIKE '%7' AND e.stream_version = 50 THEN 1 ELSE 0 END)
         FROM evscope_events e WHERE e.stream_version % 10 = 0;",
    )
    .execute(&mut c)
    .await
    .expect("generate");
    // Its own statement: VACUUM cannot run in a multi-statement query's transaction.
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut c)
        .await
        .expect("vacuum");
    let snapshots: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM evscope_snapshots")
        .fetch_one(&mut c)
        .await
        .unwrap();
    eprintln!(
        "bench: generated 1M events and {snapshots} snapshots in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let bin = env!("CARGO_BIN_EXE_evscope");
    let reducers = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/reducers/demo.toml");
    let copy = format!(
        "psql -X -q -d '{url}' -c \"COPY (SELECT global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at FROM evscope_events ORDER BY stream_id, stream_version) TO STDOUT\""
    );
    // The columns verify-snapshots reads with these reducers (the demo's payment reducer reads
    // `$event.time`): the same read without the columns it leaves out.
    let copy_read = format!(
        "psql -X -q -d '{url}' -c \"COPY (SELECT stream_id, stream_version, event_type, data, recorded_at FROM evscope_events ORDER BY stream_id, stream_version) TO STDOUT\""
    );
    let verify = format!("{bin} --db '{url}' --reducers {reducers} verify-snapshots --format json");
    let one_job = format!("{verify} --jobs 1");
    // Best of 3 each, taken in turn (the machine's own noise is ±10% between runs).
    let mut runs: [Vec<(std::time::Duration, f64, i32)>; 4] = Default::default();
    for _ in 0..3 {
        for (i, cmd) in [&copy, &verify, &one_job, &copy_read]
            .into_iter()
            .enumerate()
        {
            runs[i].push(timed(cmd));
        }
    }
    let best = |i: usize| *runs[i].iter().min_by_key(|r| r.0).unwrap();
    let (read, _, _) = best(0);
    let (ver, rss, code) = best(1);
    let (ver1, rss1, code1) = best(2);
    let (read_used, _, _) = best(3);
    let jobs = evscope::snapshots::Scope::default().jobs();
    let doc: serde_json::Value = serde_json::from_slice(
        &Command::new("sh")
            .args(["-c", &verify])
            .output()
            .unwrap()
            .stdout,
    )
    .expect("verify-snapshots prints one JSON document");
    let s = &doc["summary"];
    let drifted = format!(
        "{} checked, {} ok, {} drifted, {} errors",
        s["checked"], s["ok"], s["drifted"], s["errors"]
    );
    let md = format!(
        "# evscope snapshot-audit benchmark\n\n1,000,000 events in 10,000 streams, {snapshots} snapshots (every 10 events).\n\n\
         | | seconds | per second | peak RSS MB |\n|---|---:|---:|---:|\n\
         | read the events once: COPY (SELECT ...) TO STDOUT | {:.2} | {:.0} events | |\n\
         | the same, only the 5 columns verify-snapshots reads here | {:.2} | {:.0} events | |\n\
         | evscope verify-snapshots, {jobs} parts at once (the default here; exit {code}; {drifted}) | {:.2} | {:.0} snapshots | {rss:.1} |\n\
         | evscope verify-snapshots --jobs 1 (exit {code1}) | {:.2} | {:.0} snapshots | {rss1:.1} |\n\n\
         verify-snapshots / one read: {:.2}x (--jobs 1: {:.2}x); / a read of the columns it reads: {:.2}x (--jobs 1: {:.2}x); best of 3 runs each\n",
        read.as_secs_f64(),
        1e6 / read.as_secs_f64(),
        read_used.as_secs_f64(),
        1e6 / read_used.as_secs_f64(),
        ver.as_secs_f64(),
        snapshots as f64 / ver.as_secs_f64(),
        ver1.as_secs_f64(),
        snapshots as f64 / ver1.as_secs_f64(),
        ver.as_secs_f64() / read.as_secs_f64(),
        ver1.as_secs_f64() / read.as_secs_f64(),
        ver.as_secs_f64() / read_used.as_secs_f64(),
        ver1.as_secs_f64() / read_used.as_secs_f64()
    );
    println!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let _ = std::fs::write("bench-results/verify.md", md);
}
