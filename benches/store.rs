//! Store benchmark: page reads on a native-layout PostgreSQL store of 10,000,000 events in
//! 100,000 streams, each beside psql's own time for the very same SQL.
//!
//!     cargo bench --bench store
//!
//! Environment:
//! - EVSCOPE_BENCH_PG: admin URL (default postgres://postgres@127.0.0.1:5432/test)
//! - EVSCOPE_BENCH_EVENTS / EVSCOPE_BENCH_STREAMS: size (default 10,000,000 / 100,000)
//! - EVSCOPE_BENCH_DB: keep the store in this database and reuse it on the next run
//!   (default: a throwaway database, dropped at the end)
//!
//! The store is measured at 1,000,000 events and again at the full size, so that the figures
//! (and the process's peak RSS) can be compared as the store grows. Results go to stdout and
//! to bench-results/store.md.

#[path = "support/mod.rs"]
mod support;
use support::peak_rss_mb;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use evscope::store::db::capture;
use evscope::store::layout::Encoding;
use evscope::store::sql::{Dialect, Sql};
use evscope::store::{
    Cursor, Direction, LogQuery, OpenOptions, Start, Store, StreamQuery, StreamRead,
};
use sqlx::Connection;

const RUNS: usize = 15;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// psql's median time for `sqls` (run in sequence, summed), over `runs` runs.
fn psql_ms(db_url: &str, sqls: &[String], runs: usize) -> f64 {
    let mut script = String::from("\\timing on\n");
    for _ in 0..runs + 1 {
        for s in sqls {
            script.push_str(s);
            script.push_str(";\n");
        }
    }
    let path = std::env::temp_dir().join(format!("evscope-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script).expect("write psql script");
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-d", db_url, "-f"])
        .arg(&path)
        .args(["-o", "/dev/null", "-v", "ON_ERROR_STOP=1"])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    // Skip the first round (warm-up), sum each round's statements.
    let per_round: Vec<Duration> = times
        .chunks(sqls.len())
        .skip(1)
        .map(|c| Duration::from_secs_f64(c.iter().sum::<f64>() / 1000.0))
        .collect();
    median(per_round)
}

struct Row {
    stage: u64,
    what: String,
    ours: f64,
    psql: f64,
}

async fn measure<F, Fut>(db_url: &str, runs: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm-up
    capture(true);
    f().await;
    let sqls: Vec<String> = capture(false).iter().map(Sql::with_literals).collect();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    (median(times), psql_ms(db_url, &sqls, runs))
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
    let streams: u64 = env_or("EVSCOPE_BENCH_STREAMS", "100000")
        .parse()
        .expect("EVSCOPE_BENCH_STREAMS");
    let keep = std::env::var("EVSCOPE_BENCH_DB").ok();
    let name = keep
        .clone()
        .unwrap_or_else(|| format!("evscope_bench_{}", std::process::id()));
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_string();
    let db_url = format!("{base}/{name}");

    let mut a = sqlx::PgConnection::connect(&admin)
        .await
        .expect("admin connection");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut a)
            .await
            .expect("check database");
    let mut have: u64 = 0;
    if exists && keep.is_some() {
        let mut c = sqlx::PgConnection::connect(&db_url).await.expect("connect");
        have = sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(MAX(global_position), 0) FROM evscope_events",
        )
        .fetch_one(&mut c)
        .await
        .unwrap_or(0) as u64;
        eprintln!("bench: reusing {name} with {have} events");
    } else {
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut a)
            .await
            .expect("create db");
        support::native_store(&db_url).await;
    }

    let stages: Vec<u64> = [1_000_000u64.min(total), total]
        .into_iter()
        .filter(|s| *s > 0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    let mut rss: Vec<(u64, f64)> = Vec::new();
    for &stage in &stages {
        if have > stage {
            eprintln!(
                "bench: the kept store already has {have} events; skipping the {stage} stage"
            );
            continue;
        }
        if have < stage {
            support::generate_native(&db_url, have + 1, stage, streams).await;
            have = stage;
        }
        let store = Store::open(&OpenOptions {
            url: db_url.clone(),
            ..Default::default()
        })
        .await
        .expect("open bench store");
        let mut add = |what: String, (ours, psql): (f64, f64)| {
            eprintln!("bench: {stage:>10} {what:<44} evscope {ours:>9.3} ms  psql {psql:>9.3} ms");
            rows.push(Row {
                stage,
                what,
                ours,
                psql,
            });
        };
        let depths = [0u64, stage / 2, stage / 100 * 99];
        for &depth in &depths {
            for dir in [Direction::Forward, Direction::Backward] {
                let q = LogQuery {
                    start: Start::At(Cursor::Position(depth as i64)),
                    direction: dir,
                    limit: 100,
                    ..Default::default()
                };
                let r = measure(&db_url, RUNS, || async {
                    let page = store.read_log(&q).await.expect("read_log");
                    assert!(!page.is_empty() || depth == 0 && dir == Direction::Backward);
                })
                .await;
                add(format!("log page at {depth} ({dir:?}, keyset)"), r);
            }
        }
        // The safe head's cost: a replay reading 100 pages (200,000 events) through the
        // high-water mark (it scans positions until its first observation settles, then jumps
        // to the head of that moment), beside the same pages read plainly.
        for &depth in &depths {
            let from = depth.max(1) as i64;
            let page = evscope::replay::range::PAGE;
            let pages = 100i64.min((stage as i64 - from) / i64::from(page));
            if pages < 1 {
                continue;
            }
            let to = from + pages * i64::from(page) - 1;
            let plain = measure(&db_url, 3, || async {
                let mut q = LogQuery {
                    start: Start::At(Cursor::Position(from)),
                    direction: Direction::Forward,
                    limit: page,
                    up_to: Some(to),
                    ..Default::default()
                };
                let mut n = 0;
                loop {
                    let p = store.read_log(&q).await.expect("read_log");
                    n += p.len();
                    match p.last() {
                        Some(e) if p.len() == page as usize => q.start = Start::After(e.cursor()),
                        _ => break,
                    }
                }
                assert_eq!(n as i64, to - from + 1);
            })
            .await;
            add(
                format!("{pages} pages of {page} from {depth}, plain"),
                plain,
            );
            let range = evscope::replay::Range {
                from_position: Some(from),
                to_position: Some(to),
                ..Default::default()
            };
            let gated = measure(&db_url, 3, || async {
                let mut r = evscope::replay::range::Reader::new(store.clone(), range.clone(), None)
                    .expect("reader");
                let mut n = 0;
                while let Some(p) = r.next_page().await.expect("page") {
                    n += p.len();
                }
                assert_eq!(n as i64, to - from + 1);
            })
            .await;
            add(
                format!("{pages} pages of {page} from {depth}, through the safe head"),
                gated,
            );
        }
        let sel = "global_position, stream_id, stream_version, CAST(event_id AS TEXT), event_type, CAST(data AS TEXT), CAST(metadata AS TEXT), recorded_at";
        let enc = [
            Some(Encoding::Integer),
            Some(Encoding::Text),
            Some(Encoding::Integer),
            Some(Encoding::Text),
            Some(Encoding::Text),
            Some(Encoding::Json),
            Some(Encoding::Json),
            Some(Encoding::Timestamp),
        ];
        for &depth in &depths {
            let mut sql = Sql::new(Dialect::Postgres);
            sql.push(&format!(
                "SELECT {sel} FROM evscope_events ORDER BY global_position LIMIT 100 OFFSET {depth}"
            ));
            let runs = if depth > 100_000 { 3 } else { RUNS };
            let r = measure(&db_url, runs, || async {
                store.db().fetch_raw(&sql, &enc).await.expect("offset page");
            })
            .await;
            add(format!("log page at {depth} (OFFSET, for comparison)"), r);
        }
        let mid_stream = format!("account-{:06}", streams / 2);
        let r = measure(&db_url, RUNS, || async {
            let page = store
                .read_stream(
                    &mid_stream,
                    &StreamRead {
                        limit: 100,
                        ..Default::default()
                    },
                )
                .await
                .expect("read_stream");
            assert!(!page.is_empty());
        })
        .await;
        add(format!("stream page ({mid_stream})"), r);
        let r = measure(&db_url, RUNS, || async {
            let page = store
                .read_stream(
                    &mid_stream,
                    &StreamRead {
                        limit: 100,
                        direction: Direction::Backward,
                        ..Default::default()
                    },
                )
                .await
                .expect("read_stream");
            assert!(!page.is_empty());
        })
        .await;
        add(format!("stream page ({mid_stream}, newest first)"), r);
        for (label, after) in [("start", None), ("middle", Some(mid_stream.clone()))] {
            let q = StreamQuery {
                limit: 100,
                after,
                ..Default::default()
            };
            let r = measure(&db_url, RUNS, || async {
                let page = store.list_streams(&q).await.expect("list_streams");
                assert_eq!(page.len(), 100);
            })
            .await;
            add(
                format!("stream list page at its {label} (ids, then stats)"),
                r,
            );
        }
        let q = StreamQuery {
            limit: 100,
            category: Some("account".into()),
            after: Some(mid_stream.clone()),
            ..Default::default()
        };
        let r = measure(&db_url, RUNS, || async {
            store.list_streams(&q).await.expect("list_streams");
        })
        .await;
        add("stream list page, --category account, middle".into(), r);
        // The naive way, for comparison: GROUP BY over all events.
        let mut naive = Sql::new(Dialect::Postgres);
        naive.push("SELECT stream_id, COUNT(*), MAX(stream_version), MAX(recorded_at) FROM evscope_events GROUP BY stream_id ORDER BY stream_id LIMIT 100");
        let r = measure(&db_url, 3, || async {
            store
                .db()
                .fetch_raw(
                    &naive,
                    &[
                        Some(Encoding::Text),
                        Some(Encoding::Integer),
                        Some(Encoding::Integer),
                        Some(Encoding::Timestamp),
                    ],
                )
                .await
                .expect("naive");
        })
        .await;
        add("stream list page, naive GROUP BY (comparison)".into(), r);
        rss.push((stage, peak_rss_mb()));
    }

    let mut md = String::new();
    md.push_str(&format!(
        "# evscope store benchmark\n\nNative layout on PostgreSQL, {streams} streams; median of {RUNS} runs (3 for OFFSET and GROUP BY at depth).\n\"psql\" is psql's `\\timing` for the very same SQL (parameters written in), the floor.\n\n| events | read | evscope ms | psql ms | ratio |\n|---:|---|---:|---:|---:|\n"
    ));
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.2} |\n",
            r.stage,
            r.what,
            r.ours,
            r.psql,
            r.ours / r.psql
        ));
    }
    md.push_str("\n| events | peak RSS of the bench process (MB) |\n|---:|---:|\n");
    for (s, mb) in &rss {
        md.push_str(&format!("| {s} | {mb:.1} |\n"));
    }
    for &stage in &stages {
        let get = |w: &str| {
            rows.iter()
                .find(|r| r.stage == stage && r.what == w)
                .map(|r| r.ours)
        };
        let deep = stage / 100 * 99;
        if let (Some(k), Some(o)) = (
            get(&format!("log page at {deep} (Forward, keyset)")),
            get(&format!("log page at {deep} (OFFSET, for comparison)")),
        ) {
            md.push_str(&format!(
                "\nAt {stage} events, keyset is {:.0}x faster than OFFSET at position {deep}.\n",
                o / k
            ));
        }
    }
    println!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    if let Ok(mut f) = std::fs::File::create("bench-results/store.md") {
        let _ = f.write_all(md.as_bytes());
    }
    if keep.is_none() {
        sqlx::raw_sql(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .execute(&mut a)
            .await
            .expect("drop bench db");
    }
}
