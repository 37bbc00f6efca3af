//! Seal benchmark: `evscope seal` and `evscope verify-seal` of 1,000,000 events on PostgreSQL
//! beside `COPY (SELECT ...) TO STDOUT` of the same rows (the read-only floor), with --jobs 1
//! and --jobs 2, and the peak RSS of each run (and of a seal of a tenth of the range, to show
//! that memory does not grow with it).
//!
//!     cargo bench --bench seal
//!
//! Writes bench-results/seal.md.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::timed;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    support::with_throwaway_db("evscope_seal", |url| async move { run(&url).await }).await;
}

async fn run(url: &str) {
    let mut c = support::native_store(url).await;
    let t = Instant::now();
    sqlx::raw_sql(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at)
         SELECT i, 'account-' || lpad((i % 10000)::text, 5, '0'), i / 10000 + 1, md5(i::text)::uuid,
                CASE WHEN i % 3 = 0 THEN 'Withdrawn' ELSE 'Deposited' END,
                jsonb_build_object('amount', 1 + i % 5000, 'currency', 'BRL', 'note', 'payment ' || i),
                jsonb_build_object('correlation_id', md5((i / 3)::text)::uuid, 'user', 'demo'),
                timestamptz '2026-01-01' + i * interval '1 second'
         FROM generate_series(1, 1000000) AS i;",
    )
    .execute(&mut c)
    .await
    .expect("generate");
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut c)
        .await
        .expect("vacuum");
    eprintln!(
        "bench: generated 1M events in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let bin = env!("CARGO_BIN_EXE_evscope");
    let dir = tempfile_dir();
    let copy = format!(
        "psql -X -q -d '{url}' -c \"COPY (SELECT global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at FROM evscope_events ORDER BY global_position) TO STDOUT\""
    );
    let seal = |jobs: u32, extra: &str, name: &str| {
        format!(
            "{bin} --db '{url}' seal --quiet --jobs {jobs} {extra} --out {dir}/{name}.json",
            dir = dir.display()
        )
    };
    let seal1 = seal(1, "", "r1");
    let seal2 = seal(2, "", "r2");
    let seal_tenth = seal(1, "--to-position 100000", "tenth");
    let verify = |jobs: u32| {
        format!(
            "{bin} --db '{url}' verify-seal --quiet --jobs {jobs} {dir}/r1.json",
            dir = dir.display()
        )
    };
    let (verify1, verify2) = (verify(1), verify(2));
    let cmds = [&copy, &seal1, &seal2, &verify1, &verify2, &seal_tenth];
    // Best of 2 each, taken in turn.
    let mut runs: Vec<Vec<(Duration, f64, i32)>> = vec![vec![]; cmds.len()];
    for _ in 0..2 {
        for (i, cmd) in cmds.iter().enumerate() {
            runs[i].push(timed(cmd));
        }
    }
    let best = |i: usize| *runs[i].iter().min_by_key(|r| r.0).unwrap();
    let root = |name: &str| -> String {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        v["root"].as_str().unwrap_or("?").to_string()
    };
    let same = root("r1") == root("r2");
    let floor = best(0).0.as_secs_f64();
    let row = |label: &str, i: usize| {
        let (d, rss, code) = best(i);
        let s = d.as_secs_f64();
        format!(
            "| {label} (exit {code}) | {s:.2} | {:.0} | {:.2}x | {rss:.1} |\n",
            1e6 / s,
            s / floor
        )
    };
    let mut md = String::from(
        "# evscope seal benchmark\n\n1,000,000 events (10,000 streams; data and metadata jsonb) on PostgreSQL 15, best of 2 runs each.\n\n\
         | | seconds | events per second | / COPY | peak RSS MB |\n|---|---:|---:|---:|---:|\n",
    );
    md.push_str(&format!(
        "| COPY (SELECT the 8 columns ORDER BY global_position) TO STDOUT | {floor:.2} | {:.0} | 1.00x | |\n",
        1e6 / floor
    ));
    md.push_str(&row("evscope seal --jobs 1", 1));
    md.push_str(&row("evscope seal --jobs 2", 2));
    md.push_str(&row("evscope verify-seal --jobs 1", 3));
    md.push_str(&row("evscope verify-seal --jobs 2", 4));
    let (d, rss, code) = best(5);
    md.push_str(&format!(
        "| evscope seal --jobs 1 of the first 100,000 events (exit {code}) | {:.2} | {:.0} | | {rss:.1} |\n",
        d.as_secs_f64(),
        1e5 / d.as_secs_f64()
    ));
    md.push_str(&format!(
        "\n--jobs 2 gives the --jobs 1 root: {same} ({}).\n",
        root("r1")
    ));
    println!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let _ = std::fs::write("bench-results/seal.md", md);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("evscope-seal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
