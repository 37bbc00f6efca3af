//! Search benchmark: filtered reads of `evscope log` on the store bench's native PostgreSQL
//! store (10,000,000 events in 100,000 streams), with the jq condition pushed down to the
//! database and not (the same program ending in `| .`, which turns push-down off), each beside
//! psql running the equivalent SQL, in one run; and `trace` on a correlation id.
//!
//!     cargo bench --bench search
//!
//! Environment as for the store bench (EVSCOPE_BENCH_PG, EVSCOPE_BENCH_EVENTS,
//! EVSCOPE_BENCH_STREAMS; EVSCOPE_BENCH_DB keeps the store and reuses it, e.g. the one the store
//! bench built). Every figure is the wall time of a whole command (the evscope process, or
//! psql), the median of several runs for the short ones. Writes bench-results/search.md.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Duration;

use sqlx::Connection;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Median wall time of `shell` over `runs` runs, in seconds; the command must succeed.
fn median_s(shell: &str, runs: usize) -> f64 {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let (t, _, code) = support::timed(shell);
            assert_eq!(code, 0, "{shell}");
            t
        })
        .collect();
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

/// The lines `shell` prints.
fn lines(shell: &str) -> u64 {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{shell} | wc -l")])
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

struct Row {
    what: String,
    shell: String,
    seconds: f64,
    note: String,
}

#[tokio::main(flavor = "current_thread")]
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
    match std::env::var("EVSCOPE_BENCH_DB") {
        Ok(name) => {
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            let url = format!("{base}/{name}");
            let mut a = sqlx::PgConnection::connect(&admin).await.expect("admin");
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut a)
                    .await
                    .expect("check database");
            if !exists {
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut a)
                    .await
                    .expect("create db");
                support::native_store(&url).await;
            }
            run(&url, total, streams).await;
        }
        Err(_) => {
            support::with_throwaway_db("evscope_search_bench", |url| async move {
                support::native_store(&url).await;
                run(&url, total, streams).await;
            })
            .await
        }
    }
}

async fn run(url: &str, total: u64, streams: u64) {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    let have: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM evscope_events")
            .fetch_one(&mut c)
            .await
            .expect("count");
    if (have as u64) < total {
        support::generate_native(url, have as u64 + 1, total, streams).await;
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM evscope_events")
        .fetch_one(&mut c)
        .await
        .expect("count");
    let mid: String =
        sqlx::query_scalar("SELECT event_id::text FROM evscope_events WHERE global_position = $1")
            .bind(events / 2)
            .fetch_one(&mut c)
            .await
            .expect("an event in the middle");
    drop(c);

    let bin = env!("CARGO_BIN_EXE_evscope");
    let data = tempfile::tempdir().expect("tempdir");
    let ev = |args: &str| {
        format!(
            "EVSCOPE_DATA_DIR={} EVSCOPE_CONFIG=/nonexistent {bin} --db {} {args}",
            data.path().display(),
            quote(url)
        )
    };
    let psql = |sql: &str| format!("psql -X -q -A -t -d {} -c {}", quote(url), quote(sql));
    let cols = "global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at";
    let amount = "type:Withdrawn | select(.data.amount > 990)";
    let amount_off = "type:Withdrawn | (select(.data.amount > 990)) | .";
    let amount_sql = "event_type = 'Withdrawn' AND jsonb_typeof(data->'amount') = 'number' AND (data->'amount')::numeric > 990";
    let absent = r#"| select(.event_id == "00000000-0000-4000-8000-00000000dead")"#;
    let absent_off = r#"| (select(.event_id == "00000000-0000-4000-8000-00000000dead")) | ."#;

    let log = |filter: &str, limit: u64| {
        ev(&format!(
            "log --where {} --limit {limit} --format jsonl",
            quote(filter)
        ))
    };
    let matches = lines(&log(amount, 1_000_000));
    let off_matches = lines(&log(amount_off, 1_000_000));
    assert_eq!(matches, off_matches, "the same rows pushed or not");
    let psql_matches = lines(&psql(&format!(
        "COPY (SELECT {cols} FROM evscope_events WHERE {amount_sql} ORDER BY global_position) TO STDOUT"
    )));
    assert_eq!(matches, psql_matches, "the same rows as psql's SQL");
    eprintln!("bench: {events} events, {matches} match {amount:?}");

    // evscope's own SQL for the read (as `log --explain` prints it), without its page limit:
    // what the database alone takes for the rows the scan pages through.
    let explained = std::process::Command::new("sh")
        .args([
            "-c",
            &ev(&format!(
                "log --explain --format json --where {}",
                quote(amount)
            )),
        ])
        .output()
        .expect("explain");
    let doc: serde_json::Value = serde_json::from_slice(&explained.stdout).expect("explain json");
    let own_sql = doc["sql_with_values"].as_str().expect("sql").to_string();
    let own_sql = own_sql
        .rsplit_once(" LIMIT ")
        .map_or(own_sql.as_str(), |(head, _)| head)
        .to_string();
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |what: &str, shell: String, runs: usize, note: String| {
        let seconds = median_s(&shell, runs);
        eprintln!("bench: {what:<58} {:>9.3} s {note}", seconds);
        rows.push(Row {
            what: what.to_string(),
            shell,
            seconds,
            note,
        });
    };
    add(
        "first page (100), pushed down",
        log(amount, 100),
        5,
        String::new(),
    );
    add(
        "first page (100), not pushed down",
        log(amount_off, 100),
        3,
        String::new(),
    );
    add(
        "psql: the first 100 rows of the same SQL",
        psql(&format!(
            "SELECT {cols} FROM evscope_events WHERE {amount_sql} ORDER BY global_position LIMIT 100"
        )),
        5,
        String::new(),
    );
    add(
        "every match, pushed down",
        log(amount, 1_000_000),
        3,
        format!("{matches} events"),
    );
    add(
        "every match, not pushed down",
        log(amount_off, 1_000_000),
        1,
        format!("{matches} events"),
    );
    add(
        "psql: COPY of every match",
        psql(&format!(
            "COPY (SELECT {cols} FROM evscope_events WHERE {amount_sql} ORDER BY global_position) TO STDOUT"
        )),
        3,
        format!("{matches} rows"),
    );
    add(
        "psql: COPY of evscope's own SQL (log --explain), unpaged",
        psql(&format!("COPY ({own_sql}) TO STDOUT")),
        3,
        format!("{matches} rows"),
    );
    add(
        "psql: count(*) of the same SQL",
        psql(&format!(
            "SELECT count(*) FROM evscope_events WHERE {amount_sql}"
        )),
        3,
        String::new(),
    );
    add(
        "an absent event id, --limit 1, pushed down",
        log(absent, 1),
        5,
        String::new(),
    );
    add(
        "an absent event id, --limit 1, not pushed down",
        log(absent_off, 1),
        1,
        String::new(),
    );
    add(
        "psql: COPY of every row (the floor of a scan)",
        psql(&format!(
            "COPY (SELECT {cols} FROM evscope_events ORDER BY global_position) TO STDOUT"
        )),
        1,
        String::new(),
    );
    add(
        "trace of an event (its correlation id: 7 events)",
        ev(&format!("trace {mid} --format jsonl")),
        5,
        String::new(),
    );

    let get = |what: &str| {
        rows.iter()
            .find(|r| r.what == what)
            .map(|r| r.seconds)
            .expect(what)
    };
    let pushed_all = get("every match, pushed down");
    let psql_all = get("psql: COPY of every match");
    let scan_off = get("an absent event id, --limit 1, not pushed down");
    let copy_all = get("psql: COPY of every row (the floor of a scan)");
    let mut md = format!(
        "# search: {events} events (native layout, PostgreSQL), `{amount}` ({matches} matches)\n\n\
         | read | time | |\n|---|---|---|\n"
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {:.3} s | {} |\n",
            r.what, r.seconds, r.note
        ));
    }
    md.push_str(&format!(
        "\nEvery match, pushed down: **{:.2}×** psql's COPY of the same rows (target: 1.5×). \
         Against psql's COPY of evscope's own SQL, unpaged: {:.2}×. An absent id without push-down scans {:.0} events/s; psql's COPY of the whole table reads \
         {:.0} rows/s.\n\nCommands:\n\n",
        pushed_all / psql_all,
        pushed_all / get("psql: COPY of evscope's own SQL (log --explain), unpaged"),
        events as f64 / scan_off,
        events as f64 / copy_all,
    ));
    for r in &rows {
        md.push_str(&format!(
            "- {}: `{}`\n",
            r.what,
            r.shell.replace(bin, "evscope")
        ));
    }
    print!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let mut f = std::fs::File::create("bench-results/search.md").expect("bench-results");
    f.write_all(md.as_bytes()).expect("write");
}
