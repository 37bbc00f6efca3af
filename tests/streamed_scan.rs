//! `log --where` reads its matches from one streaming query (scan::Streamed) rather than
//! keyset pages: the same events, in the same order, as the paged read gives, across many
//! pages; a `--limit` whose first query's rows jq thins out reads on (a second query after
//! the last row) and still stops at the limit, saying where to continue; on each database.

mod common;

use common::{Server, TempDb, available, evscope};

const EVENTS: i64 = 12_000;

async fn store(server: Server) -> TempDb {
    let db = TempDb::create(server, "streamed").await;
    db.load(match server {
        Server::Postgres => "native/postgres.sql",
        Server::MariaDb => "native/mysql.sql",
        Server::Sqlite => "native/sqlite.sql",
    })
    .await;
    let (id, data) = match server {
        Server::Postgres => (
            "md5(i::text)::uuid",
            "CAST('{\"n\": ' || i || '}' AS jsonb)",
        ),
        Server::MariaDb => (
            "CONCAT('00000000-0000-4000-8000-', LPAD(i, 12, '0'))",
            "CONCAT('{\"n\": ', i, '}')",
        ),
        Server::Sqlite => (
            "printf('00000000-0000-4000-8000-%012d', i)",
            "'{\"n\": ' || i || '}'",
        ),
    };
    let stream = match server {
        Server::MariaDb => "CONCAT('s-', i % 40)",
        _ => "'s-' || (i % 40)",
    };
    let prefix = match server {
        Server::MariaDb => "SET STATEMENT max_recursive_iterations = 100000 FOR ",
        _ => "",
    };
    db.exec(&format!(
        "{prefix}INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {EVENTS}) \
         SELECT {stream}, i, {id}, CASE WHEN i % 2 = 0 THEN 'Even' ELSE 'Odd' END, {data} FROM n;"
    ))
    .await;
    db
}

fn run(dir: &std::path::Path, db: &str, args: &[&str]) -> (i32, Vec<i64>, String) {
    let out = evscope(dir)
        .args(["--db", db, "log", "--format", "jsonl"])
        .args(args)
        .output()
        .unwrap();
    let n = common::jsonl(&String::from_utf8_lossy(&out.stdout))
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        n,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn streamed(server: Server) {
    if !available(server) {
        return;
    }
    let db = store(server).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The paged read (no jq): every event, in order.
    let (code, all, err) = run(d, &db.url, &["--limit", "100000"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(all, (1..=EVENTS).collect::<Vec<_>>(), "{server:?}");
    // Pushed down (types) and jq alone (n % 3), across many of the scan's pages.
    type Keep = fn(i64) -> bool;
    let cases: [(&str, Keep); 3] = [
        ("type:Even | .data.n % 3 == 0", |n| n % 2 == 0 && n % 3 == 0),
        ("| .data.n % 7 == 1 or .data.n > 11990", |n| {
            n % 7 == 1 || n > 11990
        }),
        ("| .event_type == \"Odd\" and .data.n > 5000", |n| {
            n % 2 == 1 && n > 5000
        }),
    ];
    for (filter, keep) in cases {
        let want: Vec<i64> = all.iter().copied().filter(|n| keep(*n)).collect();
        let (code, got, err) = run(d, &db.url, &["--where", filter, "--limit", "100000"]);
        assert_eq!(code, 0, "{server:?} {filter}: {err}");
        assert_eq!(got, want, "{server:?} {filter}");
        // A limit the first query's rows do not reach once jq has thinned them: read on, stop
        // at the limit, say where to continue.
        for limit in [1usize, 150, want.len() - 7] {
            let (code, got, err) = run(
                d,
                &db.url,
                &["--where", filter, "--limit", &limit.to_string()],
            );
            assert_eq!(code, 0, "{server:?} {filter} {limit}: {err}");
            assert_eq!(got, want[..limit], "{server:?} {filter} --limit {limit}");
            assert!(
                err.contains(&format!("continue with --from {}", want[limit - 1] + 1)),
                "{server:?} {filter} {limit}: {err}"
            );
        }
        // Exactly every match.
        let (code, got, err) = run(
            d,
            &db.url,
            &["--where", filter, "--limit", &want.len().to_string()],
        );
        assert_eq!((code, got), (0, want.clone()), "{server:?} {filter}: {err}");
        // Backward, from a position.
        let (code, got, err) = run(
            d,
            &db.url,
            &[
                "--where",
                filter,
                "--backward",
                "--from",
                "9000",
                "--limit",
                "300",
            ],
        );
        let back: Vec<i64> = want
            .iter()
            .rev()
            .copied()
            .filter(|n| *n <= 9000)
            .take(300)
            .collect();
        assert_eq!(code, 0, "{server:?}: {err}");
        assert_eq!(got, back, "{server:?} {filter} backward");
    }
}

#[tokio::test]
async fn a_streamed_scan_reads_what_pages_read_on_postgres() {
    streamed(Server::Postgres).await;
}

#[tokio::test]
async fn a_streamed_scan_reads_what_pages_read_on_mariadb() {
    streamed(Server::MariaDb).await;
}

#[tokio::test]
async fn a_streamed_scan_reads_what_pages_read_on_sqlite() {
    streamed(Server::Sqlite).await;
}

/// A streamed read given up before its end closes its connection (the server's backend for it
/// ends), rather than going back to the pool, where sqlx would read and discard every row
/// the query has left (the whole rest of a scan of the log, run to its end by the server).
/// The pool still answers afterwards.
#[tokio::test]
async fn a_streamed_read_given_up_early_closes_its_connection() {
    use evscope::store::{LogQuery, OpenOptions, Store};
    use sqlx::Connection;
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "streamed_stop").await;
    db.load("native/postgres.sql").await;
    // ~40 MB of rows: far more than the socket buffers hold, so the query is still sending.
    db.exec(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
         SELECT 's-' || (i % 40), i, md5(i::text)::uuid, 'Big', jsonb_build_object('pad', repeat('x', 2000)) \
         FROM generate_series(1, 20000) AS i",
    )
    .await;
    let store = Store::open(&OpenOptions {
        url: db.url.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let all = LogQuery {
        limit: u32::MAX,
        ..Default::default()
    };
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut rx = store.stream_log(&all).unwrap();
    assert!(!rx.recv().await.unwrap().unwrap().is_empty());
    // The backend sending the rows.
    let pid: i32 = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND query LIKE '%evscope_events%' AND query NOT LIKE '%pg_stat_activity%'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    drop(rx);
    let mut alive = true;
    for _ in 0..200 {
        alive = sqlx::query_scalar("SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if !alive {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !alive,
        "the abandoned query's connection (backend {pid}) is still open after 20 s"
    );
    let page = LogQuery {
        limit: 5,
        ..Default::default()
    };
    assert_eq!(store.read_log(&page).await.unwrap().len(), 5);
}
