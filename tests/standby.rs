//! Never skip an event: a position held by an open transaction on the primary is delivered,
//! in order, by `log --follow` and by a replay with an explicit end — against the primary and
//! against a hot standby (PostgreSQL) or an asynchronous replica (MariaDB) that the test starts
//! itself; a rolled-back position is passed without waiting forever.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::topology::{MariaPair, PgPair};
use common::{evscope, evscope_process, fixture_path, jsonl};
use serde_json::Value;
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
enum Layout {
    Native,
    MessageDb,
    NativeMariaDb,
}

/// A connection writing events the way the layout's library does.
enum Writer {
    Pg(sqlx::PgConnection, Layout),
    My(sqlx::MySqlConnection),
}

impl Writer {
    async fn open(url: &str, layout: Layout) -> Writer {
        match layout {
            Layout::NativeMariaDb => Writer::My(sqlx::MySqlConnection::connect(url).await.unwrap()),
            _ => Writer::Pg(sqlx::PgConnection::connect(url).await.unwrap(), layout),
        }
    }

    async fn exec(&mut self, sql: &str) {
        match self {
            Writer::Pg(c, _) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Writer::My(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Append one event to `stream` (in the transaction open on this connection, if any);
    /// returns its global position.
    async fn append(&mut self, stream: &str) -> i64 {
        match self {
            Writer::Pg(c, Layout::MessageDb) => {
                // As message_store.write_message does: the stream's lock, then the insert, whose
                // global position comes from the sequence.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(stream)
                    .execute(&mut *c)
                    .await
                    .unwrap();
                sqlx::query_scalar(
                    "INSERT INTO message_store.messages (id, stream_name, position, type, data, metadata) \
                     VALUES (gen_random_uuid(), $1, 0, 'Held', '{}', NULL) RETURNING global_position",
                )
                .bind(stream)
                .fetch_one(c)
                .await
                .unwrap()
            }
            Writer::Pg(c, _) => sqlx::query_scalar(
                "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
                 VALUES ($1, 1, gen_random_uuid(), 'Held', '{}') RETURNING global_position",
            )
            .bind(stream)
            .fetch_one(c)
            .await
            .unwrap(),
            Writer::My(c) => {
                sqlx::query(
                    "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
                     VALUES (?, 1, UUID(), 'Held', '{}')",
                )
                .bind(stream)
                .execute(&mut *c)
                .await
                .unwrap();
                let id: u64 = sqlx::query_scalar("SELECT LAST_INSERT_ID()")
                    .fetch_one(c)
                    .await
                    .unwrap();
                id as i64
            }
        }
    }
}

/// `log --follow` running beside the test; its lines are collected as they come.
struct Follow {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Follow {
    fn start(dir: &Path, url: &str, from: i64) -> Follow {
        let mut child = evscope_process(dir)
            .args([
                "--db", url, "log", "--follow", "--format", "jsonl", "--from",
            ])
            .arg(from.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(vec![]));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&l) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Follow { child, lines }
    }

    fn positions(&self) -> Vec<i64> {
        positions(&self.lines.lock().unwrap())
    }

    /// Wait until `n` events have come (or `limit`), then the positions seen.
    fn wait_for(&self, n: usize, limit: Duration) -> Vec<i64> {
        let deadline = Instant::now() + limit;
        while self.lines.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.positions()
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn positions(v: &[Value]) -> Vec<i64> {
    v.iter()
        .map(|e| e["global_position"].as_i64().expect("a position"))
        .collect()
}

/// A replay of positions [from, to] into a JSONL file, running beside the test.
fn start_replay(dir: &Path, url: &str, from: i64, to: i64, out: &Path) -> Child {
    evscope_process(dir)
        .args(["--db", url, "replay", "--yes", "--from-position"])
        .arg(from.to_string())
        .arg("--to-position")
        .arg(to.to_string())
        .arg("--sink")
        .arg(format!("jsonl:{}", out.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for a child to end; its exit code and stderr.
fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (s.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("evscope did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn file_positions(path: &Path) -> Vec<i64> {
    positions(&jsonl(&std::fs::read_to_string(path).unwrap()))
}

/// The two checks, reading from `read_url` while writing through `write_url`; `synced` waits
/// until what was written is readable there (a standby or replica replays it).
async fn held_then_rolled_back<F, Fut>(
    write_url: &str,
    read_url: &str,
    layout: Layout,
    hold_ok: Duration,
    synced: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Writer::open(write_url, layout).await;
    let mut other = Writer::open(write_url, layout).await;
    static ROUND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let round = ROUND.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let tag = format!("{}-{round}", std::process::id());

    // A transaction takes position N and stays open while N+1 commits.
    holder.exec("BEGIN").await;
    let n = holder.append(&format!("held-{tag}")).await;
    let n1 = other.append(&format!("after-{tag}")).await;
    assert_eq!(n1, n + 1);
    synced().await;
    let follow = Follow::start(dir.path(), read_url, n - 1);
    let out = dir.path().join("held.jsonl");
    let replay = start_replay(dir.path(), read_url, n - 1, n + 1, &out);
    let started = Instant::now();
    std::thread::sleep(hold_ok);
    let mut replay = replay;
    assert!(
        replay.try_wait().unwrap().is_none(),
        "{layout:?} on {read_url}: the replay ended while position {n} was held"
    );
    assert_eq!(
        follow.positions(),
        vec![n - 1],
        "{layout:?} on {read_url}: the follow passed the held position {n}"
    );
    holder.exec("COMMIT").await;
    let committed = Instant::now();
    synced().await;
    let (code, err) = finish(replay, Duration::from_secs(30));
    assert_eq!(code, 0, "{layout:?} on {read_url}: {err}");
    assert!(err.contains("waiting"), "the replay said it waited: {err}");
    assert_eq!(file_positions(&out), vec![n - 1, n, n + 1], "{err}");
    assert_eq!(
        follow.wait_for(3, Duration::from_secs(10)),
        vec![n - 1, n, n + 1],
        "{layout:?} on {read_url}: follow"
    );
    eprintln!(
        "{layout:?} on {read_url}: the held event was delivered {:?} after its commit (replay started {:?} before)",
        committed.elapsed(),
        committed.duration_since(started)
    );
    drop(follow);

    // A rolled-back position is a permanent gap: passed without waiting forever.
    holder.exec("BEGIN").await;
    let m = holder.append(&format!("rolled-back-{tag}")).await;
    let m1 = other.append(&format!("after-rb-{tag}")).await;
    assert_eq!(m1, m + 1);
    synced().await;
    let follow = Follow::start(dir.path(), read_url, m - 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.exec("ROLLBACK").await;
    let out = dir.path().join("rolled-back.jsonl");
    let (code, err) = finish(
        start_replay(dir.path(), read_url, m - 1, m + 1, &out),
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(file_positions(&out), vec![m - 1, m + 1], "{err}");
    assert_eq!(
        follow.wait_for(2, Duration::from_secs(10)),
        vec![m - 1, m + 1],
        "{layout:?} on {read_url}: follow past a rolled-back position"
    );
}

async fn pg_case(layout: Layout) {
    let Some(pair) = PgPair::start() else {
        return;
    };
    let admin = pair.url(pair.primary, "postgres");
    let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql("CREATE DATABASE ev")
        .execute(&mut c)
        .await
        .unwrap();
    let primary = pair.url(pair.primary, "ev");
    let standby = pair.url(pair.standby, "ev");
    let mut p = sqlx::PgConnection::connect(&primary).await.unwrap();
    let fixtures: &[&str] = match layout {
        Layout::MessageDb => &["message-db/postgres.sql"],
        _ => &["native/postgres.sql", "native/dataset-postgres.sql"],
    };
    for f in fixtures {
        let sql = std::fs::read_to_string(fixture_path(f)).unwrap();
        sqlx::raw_sql(&sql).execute(&mut p).await.unwrap();
    }
    pair.catch_up("ev").await;

    // `info` says where it is connected.
    let dir = tempfile::tempdir().unwrap();
    for (url, role) in [(&standby, "standby"), (&primary, "primary")] {
        let out = evscope(dir.path())
            .args(["--db", url, "info", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["server"]["role"], role, "{v}");
        if role == "standby" {
            assert!(v["server"]["lag_bytes"].is_i64(), "{v}");
        }
    }

    let sync = || pair.catch_up("ev");
    held_then_rolled_back(
        &primary,
        &standby,
        layout,
        Duration::from_millis(1500),
        sync,
    )
    .await;
    held_then_rolled_back(
        &primary,
        &primary,
        layout,
        Duration::from_millis(1500),
        || async {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn message_db_on_a_hot_standby_and_its_primary_never_skips_a_held_position() {
    pg_case(Layout::MessageDb).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn native_on_a_hot_standby_and_its_primary_never_skips_a_held_position() {
    pg_case(Layout::Native).await;
}

/// MariaDB shows a SELECT-only reader nothing of other transactions, on a primary or a replica:
/// a gap holds for the stale threshold (3 s), then counts as permanent. A position held for
/// less than that is delivered in order on both.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_replica_and_its_primary_hold_a_gap_for_the_stale_threshold() {
    let Some(pair) = MariaPair::start().await else {
        return;
    };
    let mut c = sqlx::MySqlConnection::connect(&pair.url(pair.primary, "mysql"))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE DATABASE ev")
        .execute(&mut c)
        .await
        .unwrap();
    let primary = pair.url(pair.primary, "ev");
    let replica = pair.url(pair.replica, "ev");
    let mut p = sqlx::MySqlConnection::connect(&primary).await.unwrap();
    for f in ["native/mysql.sql", "native/dataset-mysql.sql"] {
        let sql = std::fs::read_to_string(fixture_path(f)).unwrap();
        sqlx::raw_sql(&sql).execute(&mut p).await.unwrap();
    }
    // A reader with SELECT only (created on the primary, replicated).
    sqlx::raw_sql(
        "CREATE USER 'reader'@'%' IDENTIFIED BY 'r3ad'; GRANT SELECT ON ev.* TO 'reader'@'%'; \
         CREATE USER 'reader'@'localhost' IDENTIFIED BY 'r3ad'; GRANT SELECT ON ev.* TO 'reader'@'localhost';",
    )
    .execute(&mut p)
    .await
    .unwrap();
    pair.catch_up().await;
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args([
            "--db",
            &format!("mysql://reader:r3ad@127.0.0.1:{}/ev", pair.replica),
        ])
        .args(["info", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["server"]["role"], "replica", "{v}");
    assert!(v["server"]["lag_secs"].is_null(), "{v}");
    assert!(
        v["server"]["detail"]
            .as_str()
            .unwrap()
            .contains("lag unknown"),
        "{v}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("r3ad"));
    for (url, role) in [(&replica, "replica"), (&primary, "primary")] {
        let out = evscope(dir.path())
            .args(["--db", url, "info", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["server"]["role"], role, "{v}");
        if role == "replica" {
            assert!(v["server"]["lag_secs"].is_number(), "{v}");
        }
    }
    let sync = || pair.catch_up();
    held_then_rolled_back(
        &primary,
        &replica,
        Layout::NativeMariaDb,
        Duration::from_millis(1000),
        sync,
    )
    .await;
    held_then_rolled_back(
        &primary,
        &primary,
        Layout::NativeMariaDb,
        Duration::from_millis(1000),
        || async {},
    )
    .await;
}
