//! The command line as a user meets it: help, exit codes, error messages, the demo store.

mod common;

use std::collections::BTreeMap;

use common::{Server, TempDb, available, evscope, jsonl};
use predicates::prelude::*;
use serde_json::Value;

#[test]
fn version_and_help_with_examples_on_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    evscope(dir.path())
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("evscope "));
    for sub in ["streams", "log", "events", "demo", "info"] {
        evscope(dir.path())
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Example:"))
            .stdout(
                predicate::str::contains(format!("evscope {sub}"))
                    .or(predicate::str::contains("evscope --db")),
            );
    }
    evscope(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"));
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["log", "--since", "yesterday"],
        vec!["log", "--limit", "0"],
        vec!["log", "--from", "abc"],
        vec!["log", "--format", "xml"],
        vec!["events"],
        vec!["bogus"],
        vec!["consumers", "rewind", "c", "--to", "someday", "--dry-run"],
        vec!["--stream-subscription", "no-stream", "consumers"],
        vec!["consumers", "rewind", "c", "--to", "-3", "--dry-run"],
    ] {
        let out = evscope(dir.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = evscope(dir.path())
        .args(["log", "--since", "yesterday"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a time"));
}

/// `reducers init` on a store that records no stream type: one reducer per category, matched
/// by it, with every type seen; the file parses, and with it every snapshot is checked (none
/// "not checked"), though its merge programs are only a start.
#[test]
fn reducers_init_makes_one_reducer_per_category_where_no_stream_type_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    let out = evscope(dir.path())
        .args(["--db", &db, "reducers", "init"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let r = evscope::rehydrate::reducer::Reducers::parse(&text, "init")
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let names: Vec<&str> = r.reducers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["account", "payment"], "{text}");
    assert!(text.contains("# 2 stream(s) of category account"), "{text}");
    assert!(text.contains("match = \"account\""), "{text}");
    assert!(!text.contains("stream_type"), "{text}");
    assert_eq!(
        r.for_stream("account-1002").map(|r| r.name.as_str()),
        Some("account")
    );
    assert_eq!(
        r.for_stream("payment-5001").map(|r| r.name.as_str()),
        Some("payment")
    );
    // The same groups for scripts, each by category with its streams counted.
    let out = evscope(dir.path())
        .args(["--db", &db, "reducers", "init", "--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups: Vec<(&str, &str, u64)> = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap(),
                g["by"].as_str().unwrap(),
                g["streams"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("account", "category", 2), ("payment", "category", 1)],
        "{doc}"
    );
    // With the file, the snapshots are checked by it.
    let file = dir.path().join("reducers.toml");
    std::fs::write(&file, &text).unwrap();
    let out = evscope(dir.path())
        .args([
            "--db",
            &db,
            "--reducers",
            file.to_str().unwrap(),
            "verify-snapshots",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let s = &doc["summary"];
    assert!(s["checked"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(s["no_reducer"], 0, "{doc}");
    assert_eq!(s["errors"], 0, "{doc}");
}

/// `streams --recent` reads the log from its end (no layout indexes streams by activity):
/// when that read is long, stderr says how many events it scanned and what reads less; a list
/// found in the newest page says nothing.
#[test]
fn streams_recent_says_when_it_scanned_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let mut sql = std::fs::read_to_string(common::fixture_path("native/sqlite.sql")).unwrap();
    // Two streams taking turns for 12,000 events.
    sql.push_str(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000) \
         INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
         SELECT i, 'busy-' || (i % 2), (i + 1) / 2, printf('00000000-0000-4000-8000-%012d', i), 'Ticked', '{}', NULL, '2026-01-05T10:00:00Z' FROM n;",
    );
    common::sqlite3(&path, &sql);
    let db = format!("sqlite://{}", path.display());
    let run = |limit: &str| {
        let out = evscope(dir.path())
            .args(["--db", &db, "streams", "--recent", "--limit", limit])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Five wanted, two exist: the whole log is read to be sure.
    let (table, err) = run("5");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        err.contains("--recent scanned the newest 12000 events of the log to find 2 stream(s)"),
        "{err}"
    );
    assert!(err.contains("--category reads less"), "{err}");
    // Two wanted: the newest page has them.
    let (table, err) = run("2");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(!err.contains("scanned"), "{err}");
}

/// Usage mistakes evscope itself finds (flags that do not combine, given a store) exit 2
/// as clap's do, with one line saying what to do instead.
#[test]
fn usage_mistakes_found_with_the_store_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    let sink = format!("jsonl:{}", dir.path().join("out.jsonl").display());
    for (args, says) in [
        (
            vec!["events", "account-1", "--where", "stream:x"],
            "events reads one stream",
        ),
        (
            vec!["--reducer", "x", "rehydrate", "account-1"],
            "give --reducers FILE",
        ),
        (
            vec![
                "replay",
                "--from-position",
                "5",
                "--to-position",
                "2",
                "--sink",
                &sink,
                "--dry-run",
            ],
            "is after --to-position",
        ),
        (
            vec!["replay", "--rate", "0", "--sink", &sink, "--dry-run"],
            "--rate must be",
        ),
        (
            vec![
                "seal",
                "--from-position",
                "5",
                "--to-position",
                "2",
                "--out",
                "r.json",
            ],
            "is after --to-position",
        ),
    ] {
        let mut all = vec!["--db", db.as_str()];
        all.extend_from_slice(&args);
        let out = evscope(dir.path()).args(&all).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

fn runtime_error(dir: &std::path::Path, args: &[&str]) -> String {
    let out = evscope(dir).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line, no backtrace: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{err}"
    );
    err
}

#[test]
fn unreachable_server_is_one_line_and_the_password_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let err = runtime_error(
        dir.path(),
        &[
            "--db",
            "postgres://alice:Sup3rS3cret@127.0.0.1:1/app",
            "log",
        ],
    );
    assert!(err.contains("cannot reach"), "{err}");
    assert!(!err.contains("Sup3rS3cret"), "{err}");
    assert!(err.contains("alice:***@"), "{err}");
    let err = runtime_error(
        dir.path(),
        &[
            "--db",
            "mysql://root:Sup3rS3cret@127.0.0.1:1/app",
            "streams",
        ],
    );
    assert!(!err.contains("Sup3rS3cret"), "{err}");
    let err = runtime_error(dir.path(), &["--db", "oracle://x@y/z", "log"]);
    assert!(err.contains("unsupported URL scheme"), "{err}");
    let err = runtime_error(
        dir.path(),
        &["--db", "sqlite:///nonexistent/dir/x.db", "log"],
    );
    assert!(err.contains("no such SQLite file"), "{err}");
}

#[tokio::test]
async fn bad_credentials_are_reported_without_the_password() {
    if !available(Server::MariaDb) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let err = runtime_error(
        dir.path(),
        &[
            "--db",
            "mysql://nobody_here:Sup3rS3cret@127.0.0.1:3306/test",
            "log",
        ],
    );
    assert!(
        err.contains("authentication failed") || err.contains("Access denied"),
        "{err}"
    );
    assert!(!err.contains("Sup3rS3cret"), "{err}");
}

#[tokio::test]
async fn unknown_ambiguous_and_misnamed_schemas_say_what_was_found() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Postgres, "schemas").await;
    db.exec("CREATE TABLE orders (id int)").await;
    let err = runtime_error(dir.path(), &["--db", &db.url, "log"]);
    assert!(
        err.contains("no known event-store layout") && err.contains("orders"),
        "{err}"
    );
    let err = runtime_error(dir.path(), &["--db", &db.url, "--schema", "nope", "log"]);
    assert!(
        err.contains("unknown schema") && err.contains("message-db"),
        "{err}"
    );
    // Two layouts in one database: detection refuses to guess, naming both.
    db.load("message-db/postgres.sql").await;
    db.load("marten-string/postgres.sql").await;
    let err = runtime_error(dir.path(), &["--db", &db.url, "log"]);
    assert!(
        err.contains("ambiguous")
            && err.contains("marten@public")
            && err.contains("message-db@message_store"),
        "{err}"
    );
    let err = runtime_error(
        dir.path(),
        &["--db", &db.url, "--schema", "commanded", "log"],
    );
    assert!(err.contains("not found"), "{err}");
    // Naming one resolves it.
    let out = evscope(dir.path())
        .args([
            "--db", &db.url, "--schema", "marten", "log", "--format", "jsonl",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(jsonl(&String::from_utf8_lossy(&out.stdout)).len(), 10);
    // A mapping file naming a missing column, and one that is not valid.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(common::fixture_path("mappings/eventuous.toml"))
            .unwrap()
            .replace("json_data", "json_payload"),
    )
    .unwrap();
    db.load("eventuous/postgres.sql").await;
    let err = runtime_error(
        dir.path(),
        &["--db", &db.url, "--mapping", bad.to_str().unwrap(), "log"],
    );
    assert!(err.contains("json_payload"), "{err}");
    // A column that differs only in case: PostgreSQL's quoted names are case-sensitive, so it
    // is refused when the store is opened, not at the first query.
    std::fs::write(
        &bad,
        std::fs::read_to_string(common::fixture_path("mappings/eventuous.toml"))
            .unwrap()
            .replace("\"json_data\"", "\"JSON_DATA\""),
    )
    .unwrap();
    let err = runtime_error(
        dir.path(),
        &["--db", &db.url, "--mapping", bad.to_str().unwrap(), "log"],
    );
    assert!(
        err.contains("JSON_DATA") && err.contains("case-sensitive"),
        "{err}"
    );
    std::fs::write(
        &bad,
        "name = \"x\"\n[events]\ntable = \"a; drop table b\"\n",
    )
    .unwrap();
    let err = runtime_error(
        dir.path(),
        &["--db", &db.url, "--mapping", bad.to_str().unwrap(), "log"],
    );
    assert!(err.contains("mapping file"), "{err}");
    let err = runtime_error(
        dir.path(),
        &["--db", &db.url, "--mapping", "/no/such/file.toml", "log"],
    );
    assert!(err.contains("cannot read"), "{err}");
    // A mapping naming a table the database does not have.
    std::fs::write(
        &bad,
        std::fs::read_to_string(common::fixture_path("mappings/eventuous.toml"))
            .unwrap()
            .replace("table = \"messages\"", "table = \"messages_v2\""),
    )
    .unwrap();
    let err = runtime_error(
        dir.path(),
        &["--db", &db.url, "--mapping", bad.to_str().unwrap(), "log"],
    );
    assert!(
        err.contains("missing table") && err.contains("eventuous.messages_v2"),
        "{err}"
    );
}

#[tokio::test]
async fn a_row_that_is_not_json_is_shown_raw_and_flagged_and_the_read_continues() {
    for server in [Server::Sqlite, Server::MariaDb, Server::Postgres] {
        if !available(server) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = TempDb::create(server, "badjson").await;
        match server {
            // MariaDB's JSON is LONGTEXT with a CHECK; classic tables often use TEXT anyway.
            Server::MariaDb => {
                db.exec(
                    &std::fs::read_to_string(common::fixture_path("classic/mysql.sql"))
                        .unwrap()
                        .replace("JSON         NOT NULL", "TEXT NOT NULL"),
                )
                .await
            }
            Server::Postgres => {
                db.exec(
                    &std::fs::read_to_string(common::fixture_path("classic/postgres.sql"))
                        .unwrap()
                        .replace("json         NOT NULL", "text NOT NULL"),
                )
                .await
            }
            Server::Sqlite => db.load("classic/sqlite.sql").await,
        }
        db.exec("UPDATE events SET payload = '{\"amount\": 5' WHERE event_id = '00000000-0000-4000-8000-000000000002'").await;
        let out = evscope(dir.path())
            .args(["--db", &db.url, "log", "--format", "jsonl"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{server:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events = jsonl(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            events.len(),
            10,
            "{server:?}: the read continues past the bad row"
        );
        let bad = &events[1];
        assert_eq!(
            bad["data"],
            Value::String("{\"amount\": 5".into()),
            "{server:?}"
        );
        assert!(
            bad["problems"][0]
                .as_str()
                .unwrap()
                .contains("data is not valid JSON"),
            "{bad}"
        );
        assert!(events[0].get("problems").is_none());
        let table = evscope(dir.path())
            .args(["--db", &db.url, "log"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        assert!(
            table.contains("! account-1001 v2: data is not valid JSON"),
            "{table}"
        );
    }
}

#[test]
fn no_connection_means_the_demo_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args(["info", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        info["database"].as_str().unwrap().ends_with("demo.db"),
        "{info}"
    );
    assert_eq!(info["layout"], "native");
    assert!(dir.path().join("demo.db").exists());
    // Bare `evscope` opens the TUI on it; without a terminal it says so (and writes no
    // escape sequences).
    let out = evscope(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("demo.db"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn profiles_come_after_db_and_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("p.db");
    evscope(dir.path())
        .args(["demo", "--accounts", "3", "--path", demo.to_str().unwrap()])
        .assert()
        .success();
    let cfg = dir.path().join("cfg.toml");
    std::fs::write(
        &cfg,
        format!("default_profile = \"d\"\n[profiles.d]\ndb = \"sqlite://{}\"\n[profiles.broken]\ndb = \"postgres://127.0.0.1:1/x\"\n", demo.display()),
    )
    .unwrap();
    let info = |extra: &[&str], env_db: Option<&str>| {
        let mut c = evscope(dir.path());
        c.env("EVSCOPE_CONFIG", &cfg);
        if let Some(u) = env_db {
            c.env("DATABASE_URL", u);
        }
        c.args(extra)
            .args(["info", "--format", "json"])
            .output()
            .unwrap()
    };
    let out = info(&[], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("p.db"));
    // --profile beats default_profile; DATABASE_URL beats profiles; --db beats all.
    assert_eq!(info(&["--profile", "broken"], None).status.code(), Some(1));
    let env_url = format!("sqlite://{}", demo.display());
    assert!(
        info(&["--profile", "broken"], Some(&env_url))
            .status
            .success()
    );
    assert_eq!(
        info(&["--db", "postgres://127.0.0.1:1/x"], Some(&env_url))
            .status
            .code(),
        Some(1)
    );
    let err = info(&["--profile", "nope"], None);
    assert!(String::from_utf8_lossy(&err.stderr).contains("no profile \"nope\""));
}

#[tokio::test]
async fn the_demo_store_has_its_domain_and_exactly_the_drifted_snapshots_it_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    let p = path.to_str().unwrap();
    let out = evscope(dir.path())
        .args(["demo", "--path", p, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["created"], true);
    let (streams, events) = (
        s["streams"].as_i64().unwrap(),
        s["events"].as_i64().unwrap(),
    );
    assert!(
        (200..1000).contains(&streams),
        "a few hundred streams: {streams}"
    );
    assert!(
        (10_000..100_000).contains(&events),
        "tens of thousands of events: {events}"
    );
    let drifted = s["drifted"].as_array().unwrap().clone();
    assert!(
        (3..=10).contains(&drifted.len()),
        "a handful drifted: {}",
        drifted.len()
    );
    // Reused, not rebuilt, on the second run.
    let again: Value = serde_json::from_slice(
        &evscope(dir.path())
            .args(["demo", "--path", p, "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["events"], s["events"]);

    // Recompute every account snapshot from the events and compare: the mismatches must be
    // exactly the recorded drifts.
    let url = format!("sqlite://{p}");
    let all = evscope(dir.path())
        .args([
            "--db", &url, "log", "--limit", "1000000", "--format", "jsonl",
        ])
        .output()
        .unwrap();
    let all = jsonl(&String::from_utf8_lossy(&all.stdout));
    assert_eq!(all.len() as i64, events);
    let months: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|e| &e["recorded_at"].as_str().unwrap()[..7])
        .collect();
    assert!(months.len() >= 5, "several months: {months:?}");
    let types: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for t in [
        "AccountOpened",
        "Deposited",
        "Withdrawn",
        "AccountClosed",
        "PaymentCreated",
        "PaymentConfirmed",
        "PaymentRefunded",
        "TransferRequested",
        "TransferCompleted",
    ] {
        assert!(types.contains(t), "missing {t}");
    }
    let mut states: BTreeMap<(String, i64), Value> = BTreeMap::new();
    let mut cur: BTreeMap<String, Value> = BTreeMap::new();
    for e in all
        .iter()
        .filter(|e| e["stream_id"].as_str().unwrap().starts_with("account-"))
    {
        let id = e["stream_id"].as_str().unwrap().to_string();
        let st = cur.entry(id.clone()).or_insert(Value::Null);
        let amount = e["data"]["amount"].as_i64().unwrap_or(0);
        match e["event_type"].as_str().unwrap() {
            "AccountOpened" => {
                *st = serde_json::json!({"owner": e["data"]["owner"], "currency": e["data"]["currency"], "balance": 0, "status": "open"})
            }
            "Deposited" => st["balance"] = (st["balance"].as_i64().unwrap() + amount).into(),
            "Withdrawn" => st["balance"] = (st["balance"].as_i64().unwrap() - amount).into(),
            "AccountClosed" => st["status"] = "closed".into(),
            other => panic!("unexpected account event {other}"),
        }
        states.insert((id, e["stream_version"].as_i64().unwrap()), st.clone());
    }
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let snaps: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT stream_id, stream_version, state FROM evscope_snapshots")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(snaps.len() > 100);
    let mut found: Vec<(String, i64)> = snaps
        .iter()
        .filter(|(s, v, state)| {
            let stored: Value = serde_json::from_str(state).unwrap();
            states.get(&(s.clone(), *v)) != Some(&stored)
        })
        .map(|(s, v, _)| (s.clone(), *v))
        .collect();
    found.sort();
    let mut recorded: Vec<(String, i64)> = drifted
        .iter()
        .map(|d| {
            (
                d["stream_id"].as_str().unwrap().to_string(),
                d["stream_version"].as_i64().unwrap(),
            )
        })
        .collect();
    recorded.sort();
    assert_eq!(found, recorded);
}

fn native_sqlite(dir: &std::path::Path) -> String {
    let path = dir.join("native.db");
    let mut ddl = std::fs::read_to_string(common::fixture_path("native/sqlite.sql")).unwrap();
    ddl.push_str(
        &std::fs::read_to_string(common::fixture_path("native/dataset-sqlite.sql")).unwrap(),
    );
    common::sqlite3(&path, &ddl);
    format!("sqlite://{}", path.display())
}

fn positions(out: &std::process::Output) -> Vec<i64> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    jsonl(&String::from_utf8_lossy(&out.stdout))
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect()
}

#[test]
fn where_takes_the_tui_filter_language_with_jq() {
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    let run = |args: &[&str]| {
        evscope(dir.path())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap()
    };
    let f = ["--format", "jsonl"];
    assert_eq!(
        positions(&run(&[
            &[
                "log",
                "--where",
                "type:Deposited | select(.data.amount > 250)"
            ][..],
            &f
        ]
        .concat())),
        vec![2, 5, 8]
    );
    // Flags and --where combine; --limit counts matching events.
    assert_eq!(
        positions(&run(&[
            &[
                "log",
                "--where",
                "| .data.amount >= 200",
                "--type",
                "Withdrawn",
                "--limit",
                "5"
            ][..],
            &f
        ]
        .concat())),
        vec![6]
    );
    assert_eq!(
        positions(&run(&[
            &[
                "log",
                "--where",
                "stream:account-* | .data.amount == 200",
                "--limit",
                "1"
            ][..],
            &f
        ]
        .concat())),
        vec![6]
    );
    assert_eq!(
        positions(&run(&[
            &["events", "account-1001", "--where", "| .data.amount == 200"][..],
            &f
        ]
        .concat())),
        vec![6, 9]
    );
    // A bad filter is a usage error.
    for bad in ["since:yesterday", "colour:red", "| select(", "type:A |"] {
        let out = run(&["log", "--where", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--where"),
            "{bad}"
        );
    }
    // A filter that does not fit one stream is a usage error too.
    let out = run(&["events", "account-1001", "--where", "category:x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn follow_prints_events_committed_later_by_another_process() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    let bin = env!("CARGO_BIN_EXE_evscope");
    let mut child = std::process::Command::new(bin)
        .env("EVSCOPE_DATA_DIR", dir.path())
        .env("EVSCOPE_CONFIG", dir.path().join("none.toml"))
        .args([
            "--db",
            &db,
            "log",
            "--follow",
            "--format",
            "jsonl",
            "--where",
            "type:Tailed",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(700));
    let path = db.strip_prefix("sqlite://").unwrap();
    let sql = "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES \
               ('t-1', 1, 'x1', 'Other', '{}'), ('t-1', 2, 'x2', 'Tailed', '{\"n\":1}'), ('t-1', 3, 'x3', 'Tailed', '{\"n\":2}');";
    common::sqlite3(std::path::Path::new(path), sql);
    let mut got = Vec::new();
    while got.len() < 2 {
        match rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(l) => got.push(serde_json::from_str::<Value>(&l).unwrap()),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let ns: Vec<i64> = got
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ns,
        vec![1, 2],
        "the two Tailed events, in order, and nothing else: {got:?}"
    );
    assert_eq!(got[0]["global_position"], 12);
}

#[test]
fn streams_by_recent_activity() {
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    let out = evscope(dir.path())
        .args(["--db", &db, "streams", "--recent", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = jsonl(&String::from_utf8_lossy(&out.stdout))
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap().to_string())
        .collect();
    // Newest events: 10 payment-5001, 9 account-1001, 8 account-1002.
    assert_eq!(ids, ["payment-5001", "account-1001", "account-1002"]);
    let out = evscope(dir.path())
        .args([
            "--db",
            &db,
            "streams",
            "--recent",
            "--backward",
            "--limit",
            "2",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    let ids: Vec<String> = jsonl(&String::from_utf8_lossy(&out.stdout))
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["account-1002", "account-1001"]);
}

/// `log` and `events` read and write page by page: a result of many pages comes out whole, in
/// order, the same in every format, exactly `--limit` long.
#[tokio::test]
async fn results_of_many_pages_come_out_whole_and_in_order() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Postgres, "pages").await;
    db.load("native/postgres.sql").await;
    // 12,345 events of one stream, then 100 of another.
    db.exec(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data)
         SELECT 'big-1', v, md5('b' || v)::uuid, CASE WHEN v % 2 = 0 THEN 'Even' ELSE 'Odd' END,
                jsonb_build_object('n', v)
         FROM generate_series(1, 12345) v;
         INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data)
         SELECT 'small-1', v, md5('s' || v)::uuid, 'Odd', '{}' FROM generate_series(1, 100) v;",
    )
    .await;
    let run = |args: &[&str]| {
        let out = evscope(dir.path())
            .args(["--db", &db.url])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let versions = |items: Vec<Value>| -> Vec<i64> {
        items
            .iter()
            .map(|e| e["stream_version"].as_i64().unwrap())
            .collect()
    };
    // The whole stream, then a limit inside the third page; json and jsonl agree.
    let all = run(&["events", "big-1", "--limit", "1000000", "--format", "jsonl"]);
    assert_eq!(versions(jsonl(&all)), (1..=12345).collect::<Vec<_>>());
    let json: Vec<Value> = serde_json::from_str(&run(&[
        "events", "big-1", "--limit", "11000", "--format", "json",
    ]))
    .unwrap();
    assert_eq!(versions(json), (1..=11000).collect::<Vec<_>>());
    // Backward, through a jq predicate that keeps one event in two.
    let odd = run(&[
        "events",
        "big-1",
        "--backward",
        "--limit",
        "6000",
        "--format",
        "jsonl",
        "--where",
        "| select(.data.n % 2 == 1)",
    ]);
    let want: Vec<i64> = (1..=12345)
        .rev()
        .filter(|v| v % 2 == 1)
        .take(6000)
        .collect();
    assert_eq!(versions(jsonl(&odd)), want);
    // The log: positions in order across pages, the table one line per event plus its header.
    let log = jsonl(&run(&["log", "--limit", "12400", "--format", "jsonl"]));
    let pos: Vec<i64> = log
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect();
    assert_eq!(pos.len(), 12400);
    assert!(pos.windows(2).all(|w| w[0] < w[1]));
    let table = run(&["log", "--limit", "12400"]);
    assert_eq!(table.lines().count(), 12401);
    assert!(table.starts_with("POSITION"));
    let json: Vec<Value> =
        serde_json::from_str(&run(&["log", "--limit", "12400", "--format", "json"])).unwrap();
    assert_eq!(json, log);
    let odd_log = jsonl(&run(&[
        "log", "--type", "Odd", "--limit", "7000", "--format", "jsonl",
    ]));
    assert_eq!(odd_log.len(), 6173 + 100);
}

/// #14: a scan pages the store by its own size, not by `--limit`: `--limit 1` under a jq
/// predicate that matches nothing reads 3,000 events in a handful of queries (it made one
/// query per event), counted in the debug log; `events` likewise.
#[test]
fn limit_one_under_jq_reads_the_store_in_pages_of_its_own_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.db");
    let mut ddl = std::fs::read_to_string(common::fixture_path("native/sqlite.sql")).unwrap();
    ddl.push_str(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
         SELECT CASE WHEN i <= 2000 THEN 'big' ELSE 'acct-' || (i % 10) END, i, 'e' || i, \
         'Deposited', json_object('amount', i) FROM n;",
    );
    common::sqlite3(&path, &ddl);
    let db = format!("sqlite://{}", path.display());
    let log = dir.path().join("evscope.log");
    let run = |args: &[&str]| -> (usize, Vec<Value>) {
        let _ = std::fs::remove_file(&log);
        let out = evscope(dir.path())
            .env("EVSCOPE_LOG", "evscope=debug")
            .args(["--db", &db])
            .args(args)
            .args(["--format", "jsonl"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let reads = text
            .lines()
            .filter(|l| l.contains("FROM \"evscope_events\"") && l.contains(" LIMIT "))
            .count();
        (reads, jsonl(&String::from_utf8_lossy(&out.stdout)))
    };
    let nothing = "| select(.event_id == \"nope\")";
    let (reads, got) = run(&["log", "--where", nothing, "--limit", "1"]);
    assert!(got.is_empty());
    assert!((1..=5).contains(&reads), "{reads} reads");
    let (reads, got) = run(&["log", "--where", nothing, "--limit", "1", "--backward"]);
    assert!(got.is_empty());
    assert!((1..=5).contains(&reads), "{reads} reads");
    // The last event matches: found, still in a few reads.
    let (reads, got) = run(&["log", "--where", "| .data.amount == 3000", "--limit", "1"]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["global_position"], 3000);
    assert!(reads <= 5, "{reads} reads");
    // One stream of 2,000 events (and the read that checks the stream exists).
    let (reads, got) = run(&["events", "big", "--where", nothing, "--limit", "1"]);
    assert!(got.is_empty());
    assert!((2..=5).contains(&reads), "{reads} reads");
    // Without jq, --limit 1 is one row of one read.
    let (reads, got) = run(&["log", "--limit", "1"]);
    assert_eq!(got.len(), 1);
    assert_eq!(reads, 1);
}

/// A jq error at run time is an error naming the event, never "no match"; a row whose data
/// cannot be read is reported under a filter, not dropped (log, events, a replay's dry run);
/// the merge fold stops at it instead of taking its raw text as the whole state.
#[test]
fn unreadable_rows_and_jq_errors_under_a_filter_are_reported_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.db");
    let mut ddl = std::fs::read_to_string(common::fixture_path("native/sqlite.sql")).unwrap();
    ddl.push_str(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES \
         ('acct-1', 1, 'e1', 'Opened', '{\"owner\": \"Ana\", \"amount\": 0}'), \
         ('acct-1', 2, 'e2', 'Deposited', '{\"amount\": 5'), \
         ('acct-1', 3, 'e3', 'Deposited', 'not json'), \
         ('acct-1', 4, 'e4', 'Deposited', '{\"amount\": 7');",
    );
    common::sqlite3(&path, &ddl);
    let db = format!("sqlite://{}", path.display());
    for args in [
        vec!["log", "--where", "| .data.amount >= 0"],
        vec!["events", "acct-1", "--where", "| .data.amount >= 0"],
        vec![
            "replay",
            "--where",
            "| .data.amount >= 0",
            "--sink",
            "jsonl:-",
            "--dry-run",
        ],
    ] {
        let mut all = vec!["--db", db.as_str()];
        all.extend(args.iter().copied());
        let err = runtime_error(dir.path(), &all);
        assert!(
            err.contains("e2 (acct-1@2") && err.contains("unreadable row"),
            "{args:?}: {err}"
        );
    }
    let err = runtime_error(
        dir.path(),
        &["--db", &db, "log", "--where", "| error(\"boom\")"],
    );
    assert!(
        err.contains("boom") && err.contains("e1 (acct-1@1"),
        "{err}"
    );
    // Asked to, the failing step counts as not matching: the readable row alone.
    let out = evscope(dir.path())
        .args(["--db", &db, "log", "--format", "jsonl"])
        .args(["--where", "| .data.amount? >= 0"])
        .output()
        .unwrap();
    assert_eq!(positions(&out), vec![1]);
    // The merge fold stops at the unreadable row, with the state before it.
    let out = evscope(dir.path())
        .args(["--db", &db, "rehydrate", "acct-1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not valid JSON") && err.contains("version 2"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"amount\": 5"));
}

/// A jq program without an end (a filter or a reducer) is an error naming the event, not a
/// hang or a stack overflow that aborts the process.
#[test]
fn endless_jq_programs_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    let err = runtime_error(
        dir.path(),
        &["--db", &db, "log", "--where", "| def f: 1 + f; f"],
    );
    assert!(err.contains("recursed too deeply"), "{err}");
    let err = runtime_error(
        dir.path(),
        &["--db", &db, "log", "--where", "| def f: f; f"],
    );
    assert!(err.contains("ran for over 5s"), "{err}");
    let reducers = dir.path().join("loop.toml");
    std::fs::write(
        &reducers,
        "[[reducer]]\nmatch = \"account\"\ninitial = {}\nunknown = \"skip\"\n[reducer.on]\n\"*\" = 'def f: 1 + f; .n = f'\n",
    )
    .unwrap();
    let out = evscope(dir.path())
        .args(["--db", &db, "--reducers", reducers.to_str().unwrap()])
        .args(["rehydrate", "account-1001"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("recursed too deeply"), "{err}");
}

/// A stream that does not exist is an error naming it, not an empty table and exit 0.
#[test]
fn events_of_a_stream_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = native_sqlite(dir.path());
    for format in ["table", "json", "jsonl"] {
        let err = runtime_error(
            dir.path(),
            &["--db", &db, "events", "nope-1", "--format", format],
        );
        assert!(err.contains("no stream \"nope-1\""), "{err}");
    }
    // Every command that reads one stream says the same, rather than an empty result.
    let sink = format!("jsonl:{}", dir.path().join("out.jsonl").display());
    for args in [
        &["rehydrate", "nope-1"][..],
        &["replay", "--stream", "nope-1", "--sink", &sink, "--dry-run"][..],
        &["seal", "--stream", "nope-1", "--out", "r.json"][..],
    ] {
        let mut all = vec!["--db", db.as_str()];
        all.extend_from_slice(args);
        let err = runtime_error(dir.path(), &all);
        assert!(err.contains("no stream \"nope-1\""), "{args:?}: {err}");
    }
    assert!(
        !dir.path().join("r.json").exists(),
        "no receipt for a stream that is not there"
    );
    // verify-snapshots keeps its own codes: 2 for an error.
    let out = evscope(dir.path())
        .args(["--db", &db, "verify-snapshots", "--stream", "nope-1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no stream \"nope-1\""), "{err}");
}

/// A `--limit` that cut the output says so on stderr, with the `--from` that reads on; the
/// continuation gives the next events, none twice, none missed. Output that fitted says
/// nothing.
#[test]
fn a_limit_that_cut_the_output_says_where_to_continue() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let run = |args: &[&str]| {
        let out = common::evscope(dir.path())
            .args(["--db", &url])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            common::jsonl(&String::from_utf8_lossy(&out.stdout)),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (all, note) = run(&["log", "--limit", "1000", "--format", "jsonl"]);
    assert!(note.is_empty(), "everything fitted: {note}");
    let n = all.len();
    assert!(n > 4, "{n}");
    // A limit equal to what there is cut nothing: no note, with a filter or without.
    for extra in [&[][..], &["--where", "| true"][..]] {
        let limit = n.to_string();
        let mut a = vec!["log", "--limit", limit.as_str(), "--format", "jsonl"];
        a.extend_from_slice(extra);
        let (got, note) = run(&a);
        assert_eq!(got.len(), n);
        assert!(note.is_empty(), "{extra:?}: {note}");
    }
    // Forward, page by page with the --from the note gives.
    let mut seen = Vec::new();
    let mut args: Vec<String> = vec!["log".into(), "--limit".into(), "3".into()];
    for _ in 0..n {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend(["--format", "jsonl"]);
        let (page, note) = run(&a);
        seen.extend(page.iter().map(|e| e["global_position"].as_i64().unwrap()));
        let Some(from) = note.split("--from ").nth(1) else {
            assert!(note.is_empty(), "{note}");
            break;
        };
        assert!(
            note.contains("stopped at --limit 3; more events may follow"),
            "{note}"
        );
        let from = from.trim().to_string();
        args = vec![
            "log".into(),
            "--limit".into(),
            "3".into(),
            "--from".into(),
            from,
        ];
    }
    let want: Vec<i64> = all
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, want, "every event once, in order");
    // A stream read backward says how to go on backward.
    let longest = all
        .iter()
        .max_by_key(|e| e["stream_version"].as_i64().unwrap())
        .unwrap();
    let stream = longest["stream_id"].as_str().unwrap().to_string();
    let (page, note) = run(&[
        "events",
        &stream,
        "--backward",
        "--limit",
        "1",
        "--format",
        "jsonl",
    ]);
    let v = page[0]["stream_version"].as_i64().unwrap();
    assert!(v > 1, "a stream of more than one event: {stream} v{v}");
    assert!(
        note.contains(&format!("--from {} --backward", v - 1)),
        "{note}"
    );
    // The stream list, page by page with the --after its note gives.
    let (streams, note) = run(&["streams", "--limit", "1000", "--format", "jsonl"]);
    assert!(note.is_empty(), "{note}");
    let want: Vec<String> = streams
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap().to_string())
        .collect();
    assert!(want.len() > 2, "{want:?}");
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=want.len() {
        let mut a = vec!["streams", "--limit", "2", "--format", "jsonl"];
        if let Some(x) = &after {
            a.extend(["--after", x.as_str()]);
        }
        let (page, note) = run(&a);
        seen.extend(
            page.iter()
                .map(|s| s["stream_id"].as_str().unwrap().to_string()),
        );
        match note.split("--after ").nth(1) {
            Some(next) => {
                assert!(
                    note.contains("stopped at --limit 2; more streams may follow"),
                    "{note}"
                );
                after = Some(next.trim().trim_matches('\'').to_string());
            }
            None => {
                assert!(note.is_empty(), "{note}");
                break;
            }
        }
    }
    assert_eq!(seen, want, "every stream once, in order");
}
