//! Store guarantees against the real servers: read-only sessions, a SELECT-only role, and the
//! safe head when transactions commit out of position order.

mod common;

use std::time::Duration;

use common::{Server, TempDb, available, evscope, jsonl};
use evscope::store::head::{HighWaterMark, settled_head};
use evscope::store::sql::Sql;
use evscope::store::{OpenOptions, Store};
use sqlx::Connection;

async fn open(url: &str) -> Store {
    Store::open(&OpenOptions {
        url: url.to_string(),
        ..Default::default()
    })
    .await
    .expect("open store")
}

#[tokio::test]
async fn sessions_are_read_only_on_every_database() {
    for (server, ddl, data, refusal) in [
        (
            Server::Postgres,
            "native/postgres.sql",
            "native/dataset-postgres.sql",
            "read-only transaction",
        ),
        (
            Server::MariaDb,
            "native/mysql.sql",
            "native/dataset-mysql.sql",
            "READ ONLY",
        ),
        (
            Server::Sqlite,
            "native/sqlite.sql",
            "native/dataset-sqlite.sql",
            "readonly",
        ),
    ] {
        if !available(server) {
            continue;
        }
        let db = TempDb::create(server, "ro").await;
        db.load(ddl).await;
        db.load(data).await;
        let store = open(&db.url).await;
        for stmt in [
            "DELETE FROM evscope_events",
            "UPDATE evscope_events SET event_type = 'x'",
            "CREATE TABLE evscope_sneaky (x int)",
        ] {
            let mut sql = Sql::new(store.dialect());
            sql.push(stmt);
            let err = store
                .db()
                .fetch_raw(&sql, &[])
                .await
                .expect_err(stmt)
                .to_string();
            assert!(err.contains(refusal), "{server:?} {stmt}: {err}");
        }
        assert_eq!(
            store.max_position().await.unwrap(),
            Some(10),
            "{server:?}: nothing changed"
        );
    }
}

#[tokio::test]
async fn a_select_only_postgres_role_is_enough_for_every_reading_feature() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "role").await;
    db.load("message-db/postgres.sql").await;
    let role = common::unique_name("reader");
    db.exec(&format!(
        "CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE \"{}\" TO {role}; \
         GRANT USAGE ON SCHEMA message_store TO {role}; \
         GRANT SELECT ON ALL TABLES IN SCHEMA message_store TO {role};",
        db.name
    ))
    .await;
    let url = format!("postgres://{role}@127.0.0.1:5432/{}", db.name);
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["info", "--format", "json"],
        vec!["log", "--format", "jsonl"],
        vec![
            "log",
            "--backward",
            "--type",
            "Deposited",
            "--format",
            "jsonl",
        ],
        vec!["events", "account-1001", "--format", "jsonl"],
        vec!["streams", "--category", "account", "--format", "jsonl"],
    ] {
        let out = evscope(dir.path())
            .arg("--db")
            .arg(&url)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
    }
    let out = evscope(dir.path())
        .arg("--db")
        .arg(&url)
        .args(["log", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(jsonl(&String::from_utf8_lossy(&out.stdout)).len(), 10);
    // The safe head works for the role too (pg_stat_activity and pg_prepared_xacts are readable).
    let store = open(&url).await;
    let mut hwm = HighWaterMark::new(0);
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);
    drop(store);
    // Without SELECT the message is clear.
    db.exec(&format!(
        "REVOKE SELECT ON ALL TABLES IN SCHEMA message_store FROM {role}"
    ))
    .await;
    let out = evscope(dir.path())
        .arg("--db")
        .arg(&url)
        .args(["log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no known event-store layout") || err.contains("permission denied"),
        "{err}"
    );
    drop(db);
    let mut admin = sqlx::PgConnection::connect(common::PG_ADMIN).await.unwrap();
    sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&mut admin)
        .await
        .unwrap();
}

const INSERT_PG: &str = "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
     VALUES ($1, 1, gen_random_uuid(), 'Tested', '{}') RETURNING global_position";

#[tokio::test]
async fn postgres_safe_head_waits_for_a_lower_position_that_commits_late() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "hwm").await;
    db.load("native/postgres.sql").await;
    db.load("native/dataset-postgres.sql").await;
    let store = open(&db.url).await;
    let mut hwm = HighWaterMark::new(0);
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);

    // T1 takes position 11 and stays open; T2 takes 12 and commits.
    let mut t1 = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut t2 = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut t1).await.unwrap();
    let p1: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("late-1")
        .fetch_one(&mut t1)
        .await
        .unwrap();
    let p2: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("early-2")
        .fetch_one(&mut t2)
        .await
        .unwrap();
    assert_eq!((p1, p2), (11, 12));
    // 12 is visible, 11 is not: the mark stays at 10 however long T1 runs.
    assert_eq!(store.max_position().await.unwrap(), Some(12));
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        hwm.advance(&store).await.unwrap(),
        10,
        "must not pass a gap held by a live transaction"
    );
    assert!(hwm.waiting_at().is_some_and(|(p, _)| p == 11));
    sqlx::raw_sql("COMMIT").execute(&mut t1).await.unwrap();
    assert_eq!(hwm.advance(&store).await.unwrap(), 12);

    // A rolled-back position is a permanent gap: passed once its transaction is gone.
    sqlx::raw_sql("BEGIN").execute(&mut t1).await.unwrap();
    let p3: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("rolled-back")
        .fetch_one(&mut t1)
        .await
        .unwrap();
    let p4: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("after")
        .fetch_one(&mut t2)
        .await
        .unwrap();
    assert_eq!((p3, p4), (13, 14));
    assert_eq!(hwm.advance(&store).await.unwrap(), 12);
    sqlx::raw_sql("ROLLBACK").execute(&mut t1).await.unwrap();
    tokio::time::sleep(hwm.pg_grace + Duration::from_millis(50)).await;
    assert_eq!(hwm.advance(&store).await.unwrap(), 14);
    assert!(hwm.waiting_at().is_none());
}

#[tokio::test]
async fn mariadb_safe_head_holds_a_gap_until_the_stale_threshold() {
    if !available(Server::MariaDb) {
        return;
    }
    let db = TempDb::create(Server::MariaDb, "hwm").await;
    db.load("native/mysql.sql").await;
    db.load("native/dataset-mysql.sql").await;
    let store = open(&db.url).await;
    let mut hwm = HighWaterMark::new(0);
    hwm.stale_after = Duration::from_millis(600);
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);
    let ins = "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES (?, 1, UUID(), 'Tested', '{}')";
    let mut t1 = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    let mut t2 = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut t1).await.unwrap();
    sqlx::query(ins)
        .bind("late")
        .execute(&mut t1)
        .await
        .unwrap();
    sqlx::query(ins)
        .bind("early")
        .execute(&mut t2)
        .await
        .unwrap();
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);
    sqlx::raw_sql("COMMIT").execute(&mut t1).await.unwrap();
    // Committed within the threshold: read contiguously, nothing skipped.
    assert_eq!(hwm.advance(&store).await.unwrap(), 12);
    // A gap that never fills is passed after the threshold.
    sqlx::raw_sql("BEGIN").execute(&mut t1).await.unwrap();
    sqlx::query(ins)
        .bind("rolled-back")
        .execute(&mut t1)
        .await
        .unwrap();
    sqlx::query(ins)
        .bind("after")
        .execute(&mut t2)
        .await
        .unwrap();
    sqlx::raw_sql("ROLLBACK").execute(&mut t1).await.unwrap();
    assert_eq!(hwm.advance(&store).await.unwrap(), 12);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(hwm.advance(&store).await.unwrap(), 14);
}

#[tokio::test]
async fn sqlite_gaps_are_permanent_at_once() {
    let db = TempDb::create(Server::Sqlite, "hwm").await;
    db.load("native/sqlite.sql").await;
    db.load("native/dataset-sqlite.sql").await;
    db.exec("INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data) VALUES (15, 's-1', 1, 'x', 'T', '{}')").await;
    let store = open(&db.url).await;
    let mut hwm = HighWaterMark::new(0);
    hwm.batch = 4; // several round trips
    assert_eq!(hwm.advance(&store).await.unwrap(), 15);
}

#[tokio::test]
async fn commanded_bytea_data_and_the_all_stream() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "cmd").await;
    db.load("commanded/postgres.sql").await;
    let store = open(&db.url).await;
    assert_eq!(store.layout().name, "commanded");
    assert_eq!(store.max_position().await.unwrap(), Some(10));
    assert_eq!(store.positions_after(7, 100).await.unwrap(), vec![8, 9, 10]);
    let page = store
        .read_stream(
            "payment-5001",
            &evscope::store::StreamRead {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let positions: Vec<Option<i64>> = page.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, vec![Some(4), Some(7), Some(10)]);
    assert!(
        page.iter()
            .all(|e| e.data.is_object() && e.problems.is_empty())
    );
}

/// A position handed out before its transaction had an id, whose id then comes after every
/// finished transaction's: `pg_current_snapshot()` does not list it (it is at or past the
/// snapshot's xmax), yet it can still commit the missing position.
#[tokio::test]
async fn postgres_safe_head_waits_for_a_holder_newer_than_the_snapshot() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "hwm_xmax").await;
    db.load("native/postgres.sql").await;
    db.load("native/dataset-postgres.sql").await;
    let store = open(&db.url).await;
    let mut hwm = HighWaterMark::new(0);
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);
    let mut h = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // C has a transaction id before H has one...
    sqlx::raw_sql("BEGIN").execute(&mut c).await.unwrap();
    sqlx::raw_sql("SELECT pg_current_xact_id()")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut h).await.unwrap();
    // ...then H takes position 11 from the sequence (and its id, newer than C's).
    let p: i64 = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('evscope_events', 'global_position'))",
    )
    .fetch_one(&mut h)
    .await
    .unwrap();
    assert_eq!(p, 11);
    // C takes 12 and commits: the newest finished id is C's, older than H's, so H is at or
    // past the snapshot's xmax. H writes 11 and stays open.
    let q: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("c")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(q, 12);
    sqlx::raw_sql("COMMIT").execute(&mut c).await.unwrap();
    sqlx::query(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data) \
         VALUES ($1, 'h', 1, gen_random_uuid(), 'Tested', '{}')",
    )
    .bind(p)
    .execute(&mut h)
    .await
    .unwrap();
    assert_eq!(hwm.advance(&store).await.unwrap(), 10);
    tokio::time::sleep(hwm.pg_grace * 2).await;
    assert_eq!(
        hwm.advance(&store).await.unwrap(),
        10,
        "must not pass a gap whose holder is still running"
    );
    sqlx::raw_sql("COMMIT").execute(&mut h).await.unwrap();
    assert_eq!(hwm.advance(&store).await.unwrap(), 12);
}

/// A replay's "up to now" waits for the transactions that may still commit below the head.
#[tokio::test]
async fn postgres_settled_head_waits_for_open_writers() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "settled").await;
    db.load("native/postgres.sql").await;
    db.load("native/dataset-postgres.sql").await;
    let store = open(&db.url).await;
    let short = Duration::from_millis(600);
    assert_eq!(settled_head(&store, short).await.unwrap(), Some(10));
    let mut h = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut h).await.unwrap();
    let p: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("h")
        .fetch_one(&mut h)
        .await
        .unwrap();
    let q: i64 = sqlx::query_scalar(INSERT_PG)
        .bind("c")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!((p, q), (11, 12));
    // While H is open, 11 may still appear: no head is settled.
    let err = settled_head(&store, short).await.unwrap_err().to_string();
    assert!(err.contains("--to-position"), "{err}");
    // H commits while the head waits: then 12 is settled.
    let commit = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        sqlx::raw_sql("COMMIT").execute(&mut h).await.unwrap();
    };
    let (head, ()) = tokio::join!(settled_head(&store, Duration::from_secs(10)), commit);
    assert_eq!(head.unwrap(), Some(12));
}

/// Gaps seen at one moment share one wait: a stretch of history with many permanent gaps
/// (rolled-back positions) costs one grace period on PostgreSQL and one stale threshold on
/// MariaDB, not one per gap. On PostgreSQL the grace period is only waited while some other
/// session is inside a transaction (here one that holds nothing); with none, the gaps are
/// passed at once.
#[tokio::test]
async fn many_old_gaps_are_passed_with_one_wait() {
    for server in [Server::Postgres, Server::MariaDb] {
        if !available(server) {
            continue;
        }
        let db = TempDb::create(server, "gaps").await;
        let (ddl, insert) = match server {
            Server::Postgres => (
                "native/postgres.sql",
                "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data) \
                 SELECT i * 3, 's-' || i, 1, gen_random_uuid(), 'T', '{}' FROM generate_series(1, 200) AS i",
            ),
            _ => (
                "native/mysql.sql",
                "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data) \
                 SELECT seq * 3, CONCAT('s-', seq), 1, UUID(), 'T', '{}' FROM seq_1_to_200",
            ),
        };
        db.load(ddl).await;
        db.exec(insert).await;
        let store = open(&db.url).await;
        let mut other = None;
        if server == Server::Postgres {
            let mut quiet = HighWaterMark::new(0);
            assert_eq!(
                quiet.advance(&store).await.unwrap(),
                600,
                "no transaction anywhere: the gaps are passed at once"
            );
            // A session inside a transaction (holding no position): the grace period applies.
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql("BEGIN; SELECT 1")
                .execute(&mut c)
                .await
                .unwrap();
            other = Some(c);
        }
        let mut hwm = HighWaterMark::new(0);
        hwm.stale_after = Duration::from_millis(500);
        assert_eq!(hwm.advance(&store).await.unwrap(), 0, "{server:?}");
        let started = std::time::Instant::now();
        let mut safe = 0;
        while safe < 600 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            safe = hwm.advance(&store).await.unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{server:?}: 199 old gaps must share one wait (at {safe})"
            );
        }
        assert!(hwm.waiting_at().is_none());
        drop(other);
    }
}

/// The pool pings a connection only when it has been idle a while (evscope's reads come in
/// bursts: a ping before each was a round trip each). A connection the server ended while it
/// sat idle is found out by that ping and replaced: the next read works, on PostgreSQL and
/// MariaDB.
#[tokio::test]
async fn a_connection_ended_while_idle_is_replaced_before_the_next_read() {
    for (server, ddl, data, kill) in [
        (
            Server::Postgres,
            "native/postgres.sql",
            "native/dataset-postgres.sql",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'evscope'",
        ),
        (
            Server::MariaDb,
            "native/mysql.sql",
            "native/dataset-mysql.sql",
            "",
        ),
    ] {
        if !available(server) {
            continue;
        }
        let db = TempDb::create(server, "idle_ping").await;
        db.load(ddl).await;
        db.load(data).await;
        let store = open(&db.url).await;
        let q = evscope::store::LogQuery {
            limit: 5,
            ..Default::default()
        };
        assert_eq!(store.read_log(&q).await.unwrap().len(), 5);
        // Every connection of evscope's pool ended by the server.
        if server == Server::Postgres {
            db.exec(kill).await;
        } else {
            let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            assert!(
                !ids.is_empty(),
                "{server:?}: evscope's connections are listed"
            );
            for (id,) in ids {
                sqlx::query(&format!("KILL {id}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
        tokio::time::sleep(evscope::store::db::PING_AFTER_IDLE + Duration::from_millis(300)).await;
        let again = store.read_log(&q).await;
        assert_eq!(
            again.map(|e| e.len()).map_err(|e| e.to_string()),
            Ok(5),
            "{server:?}: the read after the server ended the idle connections"
        );
    }
}
