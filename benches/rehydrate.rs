//! Rehydration benchmark: fold a 1,000,000-event stream from PostgreSQL.
//!
//!     cargo bench --bench rehydrate
//!
//! In one run, on one generated stream (native layout, throwaway database):
//! - the physical limit: `COPY (SELECT ...) TO STDOUT` of the stream's rows with psql;
//! - `evscope rehydrate` with the default merge fold, and with a jq reducer (the demo's account
//!   reducer), end to end as a user runs them (events/s, peak RSS);
//! - an operator's usual pipeline: `psql -At -c 'SELECT data ...' | jq -s 'reduce ...'`;
//! - one step back at deep versions with the timeline (median and worst of many).
//!
//! Environment: EVSCOPE_BENCH_PG (admin URL), EVSCOPE_BENCH_FOLD_EVENTS (default 1000000).
//! Writes bench-results/rehydrate.md.

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use evscope::rehydrate::reducer::Reducers;
use evscope::rehydrate::timeline::Timeline;
use evscope::store::{OpenOptions, Store};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Wall time and peak RSS (MB) of a shell command that must succeed.
fn timed(shell: &str) -> (Duration, f64) {
    let (d, rss, code) = support::timed(shell);
    assert_eq!(code, 0, "{shell} failed");
    (d, rss)
}

fn best_of(n: usize, shell: &str) -> (Duration, f64) {
    (0..n)
        .map(|_| timed(shell))
        .min_by_key(|(d, _)| *d)
        .expect("runs")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: i64 = env_or("EVSCOPE_BENCH_FOLD_EVENTS", "1000000")
        .parse()
        .expect("count");
    support::with_throwaway_db("evscope_fold", |url| async move { run(&url, n).await }).await;
}

async fn run(url: &str, n: i64) {
    let mut c = support::native_store(url).await;
    let t = Instant::now();
    sqlx::raw_sql(&format!(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data, metadata, recorded_at)
         SELECT 'account-1', i, md5(i::text)::uuid,
                CASE WHEN i = 1 THEN 'AccountOpened' WHEN i % 3 = 0 THEN 'Withdrawn' ELSE 'Deposited' END,
                CASE WHEN i = 1 THEN jsonb_build_object('owner', 'Bench Owner', 'currency', 'BRL')
                     ELSE jsonb_build_object('amount', 1 + i % 97, 'channel', 'PIX') END,
                jsonb_build_object('correlation_id', md5(i::text)::uuid),
                timestamptz '2026-01-01' + i * interval '1 second'
         FROM generate_series(1, {n}) AS i"
    ))
    .execute(&mut c)
    .await
    .expect("generate");
    sqlx::raw_sql("VACUUM ANALYZE evscope_events")
        .execute(&mut c)
        .await
        .expect("vacuum");
    eprintln!(
        "bench: generated {n} events in one stream in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let bin = env!("CARGO_BIN_EXE_evscope");
    let reducers = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/reducers/demo.toml");
    let cols = "global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at";
    let copy = format!(
        "psql -X -q -d '{url}' -c \"COPY (SELECT {cols} FROM evscope_events WHERE stream_id = 'account-1' ORDER BY stream_version) TO STDOUT\""
    );
    let merge = format!("{bin} --db '{url}' rehydrate account-1");
    let jq_fold = format!("{bin} --db '{url}' --reducers {reducers} rehydrate account-1");
    // The same reducer behind 200 that do not apply (by pattern, by first event type, by
    // stream type): what choosing among many reducers costs a fold.
    let many = std::env::temp_dir().join(format!(
        "evscope-bench-reducers-{}.toml",
        std::process::id()
    ));
    let mut decoys = String::new();
    for i in 0..200 {
        let how = match i % 3 {
            0 => format!("match = \"decoy{i}-*\""),
            1 => format!("first_event = \"Decoy{i}Opened\""),
            _ => format!("stream_type = \"Decoy{i}\""),
        };
        decoys.push_str(&format!(
            "[[reducer]]\nname = \"decoy{i}\"\n{how}\ninitial = {{}}\nunknown = \"skip\"\n[reducer.on]\nDecoy{i} = '.'\n\n"
        ));
    }
    decoys.push_str(&std::fs::read_to_string(reducers).expect("reducers"));
    std::fs::write(&many, decoys).expect("write the reducer file");
    let jq_fold_many = format!(
        "{bin} --db '{url}' --reducers {} rehydrate account-1",
        many.display()
    );
    let pipeline = format!(
        "psql -X -At -d '{url}' -c \"SELECT json_build_object('type', event_type, 'data', data) FROM evscope_events WHERE stream_id = 'account-1' ORDER BY stream_version\" \
         | jq -s 'reduce .[] as $e ({{balance: 0}}; if $e.type == \"Deposited\" then .balance += $e.data.amount elif $e.type == \"Withdrawn\" then .balance -= $e.data.amount else . + {{owner: $e.data.owner}} end)'"
    );
    // Check that the three folds agree before timing them.
    let state = Command::new("sh")
        .args(["-c", &jq_fold])
        .output()
        .expect("fold");
    let jq_out = Command::new("sh")
        .args(["-c", &pipeline])
        .output()
        .expect("pipeline");
    let ours: serde_json::Value = serde_json::from_slice(&state.stdout).expect("evscope state");
    let theirs: serde_json::Value = serde_json::from_slice(&jq_out.stdout).expect("jq state");
    assert_eq!(ours["balance"], theirs["balance"], "the folds agree");

    let rows: Vec<(String, Duration, f64)> = vec![
        (
            "COPY (SELECT ...) TO STDOUT (read only, the limit)".into(),
            best_of(3, &copy).0,
            f64::NAN,
        ),
        {
            let (d, r) = best_of(3, &merge);
            ("evscope rehydrate, default merge fold".into(), d, r)
        },
        {
            let (d, r) = best_of(3, &jq_fold);
            (
                "evscope rehydrate, jq reducer (demo account reducer)".into(),
                d,
                r,
            )
        },
        {
            let (d, r) = best_of(1, &pipeline);
            ("psql -At ... | jq -s 'reduce ...'".into(), d, r)
        },
        {
            let (d, r) = best_of(3, &jq_fold_many);
            (
                "evscope rehydrate, the same reducer behind 200 that do not apply".into(),
                d,
                r,
            )
        },
    ];
    let _ = std::fs::remove_file(&many);

    // One step back at deep versions.
    let store = Store::open(&OpenOptions {
        url: url.to_string(),
        ..Default::default()
    })
    .await
    .expect("open");
    let fold = Reducers::parse(
        &std::fs::read_to_string(reducers).expect("reducers"),
        "demo",
    )
    .expect("parse")
    .fold_for("account-1");
    let mut t = Timeline::open(store, "account-1", fold)
        .await
        .expect("timeline");
    let t0 = Instant::now();
    t.end().await.expect("fold to the end");
    let to_end = t0.elapsed();
    // 300 steps back from each of three versions: through the steps the fold kept, and across
    // checkpoints (a refold of at most the checkpoint spacing); then the same with none kept.
    let mut runs = Vec::new();
    for max_kept in [t.max_kept, 0] {
        t.max_kept = max_kept;
        let mut all = Vec::new();
        let mut refolds = Vec::new();
        for v in [n / 2, n - 10, n / 10] {
            t.goto(v).await.expect("goto");
            for _ in 0..300 {
                let s = Instant::now();
                let step = t.back().await.expect("back");
                let d = s.elapsed();
                all.push(d);
                if step.origin != evscope::rehydrate::timeline::Origin::Kept {
                    refolds.push(d);
                }
            }
        }
        all.sort();
        refolds.sort();
        runs.push((max_kept, all, refolds));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let limit = rows[0].1;
    let mut md = format!(
        "# evscope rehydration benchmark\n\nOne stream of {n} events, native layout on PostgreSQL (best of 3; the psql|jq pipeline once).\n\n\
         | fold | seconds | events/s | vs the read-only limit | peak RSS MB |\n|---|---:|---:|---:|---:|\n"
    );
    for (what, d, rss) in &rows {
        md.push_str(&format!(
            "| {what} | {:.2} | {:.0} | {:.2}x | {} |\n",
            d.as_secs_f64(),
            n as f64 / d.as_secs_f64(),
            d.as_secs_f64() / limit.as_secs_f64(),
            if rss.is_nan() {
                "".to_string()
            } else {
                format!("{rss:.1}")
            }
        ));
    }
    md.push_str(&format!(
        "\njq reducer vs the psql|jq pipeline: {:.1}x faster.\n\nTimeline: fold to the end (from the TUI's worker, checkpoints kept: {}, every {} events) {:.2} s.\n\n\
         | 300 steps back at versions {}, {}, {} each | median ms | worst ms | steps that refolded | their median ms | their worst ms |\n|---|---:|---:|---:|---:|---:|\n",
        rows[3].1.as_secs_f64() / rows[2].1.as_secs_f64(),
        t.checkpoints(),
        t.every,
        to_end.as_secs_f64(),
        n / 2,
        n - 10,
        n / 10,
    ));
    for (max_kept, all, refolds) in &runs {
        let pick = |v: &Vec<Duration>, q: usize| {
            v.get(q)
                .map_or("".to_string(), |d| format!("{:.3}", ms(*d)))
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            if *max_kept > 0 {
                format!("the last steps of each fold kept (at most {max_kept})")
            } else {
                "no steps kept (every step back refolds from a checkpoint)".to_string()
            },
            pick(all, all.len() / 2),
            pick(all, all.len().saturating_sub(1)),
            refolds.len(),
            pick(refolds, refolds.len() / 2),
            pick(refolds, refolds.len().saturating_sub(1)),
        ));
    }
    println!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let _ = std::fs::write("bench-results/rehydrate.md", md);
}
