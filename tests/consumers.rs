//! `evscope consumers` on the real servers: each framework's checkpoint table built from our DDL
//! fixture (fixtures/<framework>/consumers-*.sql), filled as the framework writes it, with
//! consumers in each state; the rewind SQL printed and NOT run.

mod common;

use std::collections::BTreeMap;

use common::{Server, TempDb, available, evscope, fixture_path};
use serde_json::Value;

/// `consumers --format json` on `url` (with extra global flags), and its exit code.
fn consumers(url: &str, extra: &[&str], args: &[&str]) -> (Value, i32) {
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .arg("--db")
        .arg(url)
        .args(extra)
        .arg("consumers")
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out.status.code().unwrap_or(-1))
}

fn by_id(doc: &Value) -> BTreeMap<String, Value> {
    doc["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = match c["segment"].as_str() {
                Some(s) => format!("{}/{s}", c["name"].as_str().unwrap()),
                None => c["name"].as_str().unwrap().to_string(),
            };
            (id, c.clone())
        })
        .collect()
}

fn flags(c: &Value) -> Vec<String> {
    c["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// The consumer `id` has this checkpoint, lag (exact) and exactly these flags.
#[track_caller]
fn expect(m: &BTreeMap<String, Value>, id: &str, checkpoint: Option<i64>, lag: u64, f: &[&str]) {
    let c = m
        .get(id)
        .unwrap_or_else(|| panic!("no consumer {id} in {:?}", m.keys().collect::<Vec<_>>()));
    assert_eq!(c["checkpoint"].as_i64(), checkpoint, "{id} checkpoint: {c}");
    assert_eq!(c["lag_events"].as_u64(), Some(lag), "{id} lag: {c}");
    assert_eq!(c["lag_exact"], Value::Bool(true), "{id}: {c}");
    assert_eq!(flags(c), f, "{id} flags: {c}");
}

async fn native_db(server: Server) -> TempDb {
    let db = TempDb::create(server, "consumers_native").await;
    let suffix = match server {
        Server::Postgres => "postgres",
        Server::MariaDb => "mysql",
        Server::Sqlite => "sqlite",
    };
    db.load(&format!("native/{suffix}.sql")).await;
    db.load(&format!("native/dataset-{suffix}.sql")).await;
    db.load(&format!("native/consumers-{suffix}.sql")).await;
    db
}

fn check_native(url: &str) {
    let (doc, code) = consumers(url, &[], &[]);
    assert_eq!(code, 0);
    assert_eq!(doc["head"], 10);
    let m = by_id(&doc);
    assert_eq!(m.len(), 6, "{doc}");
    expect(&m, "caught-up", Some(10), 0, &[]);
    expect(&m, "lagging", Some(7), 3, &[]);
    expect(&m, "stalled", Some(4), 6, &["stalled"]);
    expect(&m, "beyond-head", Some(25), 0, &["beyond-head"]);
    // Only its category: payment-5001 at 7 and 10.
    expect(&m, "payments", Some(4), 2, &[]);
    // account streams' Deposited events: 2, 5, 8, 9.
    expect(&m, "deposits", Some(0), 4, &["failed"]);
    assert_eq!(m["caught-up"]["owner"], "worker-1");
    // The oldest event "lagging" has not processed is position 8, recorded 10:08.
    assert_eq!(m["lagging"]["oldest_unprocessed"], "2026-01-05T10:08:00Z");
    // Sorted by lag, most behind first.
    let order: Vec<&str> = doc["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(order[0], "stalled");
    // --check: stalled, beyond the head and failed are findings.
    let (_, code) = consumers(url, &[], &["--check"]);
    assert_eq!(code, 1);
}

#[tokio::test]
async fn native_consumers_on_postgres() {
    if !available(Server::Postgres) {
        return;
    }
    let db = native_db(Server::Postgres).await;
    check_native(&db.url);
}

#[tokio::test]
async fn native_consumers_on_mariadb() {
    if !available(Server::MariaDb) {
        return;
    }
    let db = native_db(Server::MariaDb).await;
    check_native(&db.url);
}

#[tokio::test]
async fn native_consumers_on_sqlite() {
    let db = native_db(Server::Sqlite).await;
    check_native(&db.url);
}

#[tokio::test]
async fn check_passes_when_every_consumer_is_well() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_ok").await;
    db.load("native/postgres.sql").await;
    db.load("native/dataset-postgres.sql").await;
    db.exec("INSERT INTO evscope_consumers (name, position) VALUES ('a', 10), ('b', 9)")
        .await;
    let (doc, code) = consumers(&db.url, &[], &["--check"]);
    assert_eq!(code, 0, "{doc}");
    // The settled head is waited for and reported.
    assert_eq!(doc["settled_head"], 10);
}

/// A consumer of one category waits at a gap too: position 5 is missing from the log, and
/// "payments" (checkpoint 4) is flagged at-gap although the next event it follows is 7.
#[tokio::test]
async fn a_category_consumer_right_before_a_gap_is_at_gap() {
    if !available(Server::Postgres) {
        return;
    }
    let db = native_db(Server::Postgres).await;
    let (doc, _) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    expect(&m, "payments", Some(4), 2, &[]);
    db.exec("DELETE FROM evscope_events WHERE global_position = 5")
        .await;
    let (doc, _) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    let flags = m["payments"]["flags"].to_string();
    assert!(flags.contains("at-gap"), "{}", m["payments"]);
    // The whole-log consumer at 4 is at the gap as before.
    assert!(
        m["stalled"]["flags"].to_string().contains("at-gap"),
        "{}",
        m["stalled"]
    );
}

#[tokio::test]
async fn marten_progression_with_its_optional_columns_and_skips() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_marten").await;
    db.load("marten-string/postgres.sql").await;
    db.load("marten/consumers-postgres.sql").await;
    let (doc, _) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    assert!(
        !m.contains_key("HighWaterMark"),
        "the daemon's own mark is no consumer"
    );
    assert_eq!(m.len(), 6, "{doc}");
    expect(&m, "Trips:All", Some(10), 0, &[]);
    expect(&m, "Balances:All", Some(7), 3, &["dead-letters"]);
    // Waiting right before position 5, which the high-water mark skipped.
    expect(&m, "Ledger:All", Some(4), 6, &["stalled", "at-gap"]);
    expect(&m, "Search:All", Some(25), 0, &["beyond-head"]);
    expect(&m, "Fraud:All", Some(6), 4, &["paused", "dead-letters"]);
    expect(&m, "Statements:All", Some(3), 7, &["rebuilding"]);
    assert_eq!(m["Trips:All"]["owner"], "node 1");
    let fraud = m["Fraud:All"]["notes"].to_string();
    assert!(
        fraud.contains("Error applying Withdrawn") && fraud.contains("ApplyEvent at sequence 7"),
        "{fraud}"
    );
    // Dead letters, by progression name, whatever the serializer's casing.
    assert!(
        fraud.contains("2 dead letters, the last at sequence 9 (mt_doc_deadletterevent)"),
        "{fraud}"
    );
    let balances = m["Balances:All"]["notes"].to_string();
    assert!(
        balances.contains("1 dead letter, the last at sequence 5"),
        "{balances}"
    );
    assert!(!m["Trips:All"]["notes"].to_string().contains("dead letter"));
    assert_eq!(m["Fraud:All"]["dead_letters"], 2);
    assert_eq!(m["Trips:All"].get("dead_letters"), None);
}

/// A Marten progression that records a failure while its agent still says Running is failed
/// (the status column alone would call it well); a paused one with a failure stays paused.
#[tokio::test]
async fn marten_progression_with_a_failure_is_failed() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_marten_failed").await;
    db.load("marten-string/postgres.sql").await;
    db.load("marten/consumers-postgres.sql").await;
    db.exec(
        "INSERT INTO public.mt_event_progression
            (name, last_seq_id, last_updated, mode, heartbeat, agent_status, running_on_node, pause_reason,
             failure_category, failure_event_sequence, failure_event_type)
         VALUES ('Alerts:All', 8, now(), 'continuous', now(), 'Running', 1, NULL, 'ApplyEvent', 9, 'Deposited');",
    )
    .await;
    let (doc, code) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    expect(&m, "Alerts:All", Some(8), 2, &["failed"]);
    let notes = m["Alerts:All"]["notes"].to_string();
    assert!(notes.contains("ApplyEvent at sequence 9"), "{notes}");
    expect(&m, "Fraud:All", Some(6), 4, &["paused", "dead-letters"]);
    // `consumers --check` fails on it.
    let (_, check) = consumers(&db.url, &[], &["--check"]);
    assert_ne!(check, 0, "a failed consumer fails --check");
    assert_eq!(code, 0, "listing is not checking");
}

#[tokio::test]
async fn eventuous_checkpoints() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_eventuous").await;
    db.load("eventuous/postgres.sql").await;
    db.load("eventuous/consumers-postgres.sql").await;
    let mapping = fixture_path("mappings/eventuous.toml");
    let (doc, _) = consumers(&db.url, &["--mapping", mapping.to_str().unwrap()], &[]);
    let m = by_id(&doc);
    assert_eq!(m.len(), 4, "{doc}");
    expect(&m, "AccountsProjection", Some(10), 0, &[]);
    // No update time is recorded: behind, but not known to be stalled.
    expect(&m, "PaymentsReactor", Some(7), 3, &[]);
    expect(&m, "SearchIndexer", Some(25), 0, &["beyond-head"]);
    expect(&m, "NewSubscription", None, 10, &["not-started"]);
    // A stream subscription keeps its stream's position; the table does not say which ones
    // are: read as a global position unless told (--stream-subscription ID=STREAM).
    db.exec("INSERT INTO eventuous.checkpoints (id, position) VALUES ('Account1001Watcher', 1);")
        .await;
    let (doc, _) = consumers(&db.url, &["--mapping", mapping.to_str().unwrap()], &[]);
    let m = by_id(&doc);
    expect(&m, "Account1001Watcher", Some(1), 9, &[]);
    assert!(
        m["Account1001Watcher"]["notes"]
            .to_string()
            .contains("--stream-subscription ID=STREAM"),
        "{doc}"
    );
    let told = ["--stream-subscription", "Account1001Watcher=account-1001"];
    let with: Vec<&str> = ["--mapping", mapping.to_str().unwrap()]
        .into_iter()
        .chain(told)
        .collect();
    let (doc, _) = consumers(&db.url, &with, &[]);
    let m = by_id(&doc);
    // account-1001 holds versions 0..=4: after version 1, three are left.
    expect(&m, "Account1001Watcher", Some(1), 3, &[]);
    assert_eq!(
        m["Account1001Watcher"]["follows"]["stream"], "account-1001",
        "{doc}"
    );
    expect(&m, "PaymentsReactor", Some(7), 3, &[]);
    // Its rewind moves it to a version of the stream.
    rewound_by_hand(&db, &with, "Account1001Watcher").await;
    let (doc, _) = consumers(&db.url, &with, &[]);
    expect(&by_id(&doc), "Account1001Watcher", Some(2), 2, &[]);
    // A connection profile keeps them.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.bank]\ndb = \"{}\"\nmapping = \"{}\"\n[profiles.bank.stream_subscriptions]\nAccount1001Watcher = \"account-1001\"\n",
            db.url,
            mapping.display()
        ),
    )
    .unwrap();
    let out = evscope(dir.path())
        .arg("--config")
        .arg(&config)
        .args(["--profile", "bank", "consumers", "--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    expect(&by_id(&doc), "Account1001Watcher", Some(2), 2, &[]);
}

#[tokio::test]
async fn emmett_processors_in_both_checkpoint_formats() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_emmett").await;
    db.load("emmett/postgres.sql").await;
    db.load("emmett/consumers-postgres.sql").await;
    let mapping = fixture_path("mappings/emmett.toml");
    let (doc, _) = consumers(&db.url, &["--mapping", mapping.to_str().unwrap()], &[]);
    let m = by_id(&doc);
    // The partition (emt_processors_emt_default) is not read a second time.
    assert_eq!(m.len(), 4, "{doc}");
    expect(&m, "accounts", Some(10), 0, &[]);
    expect(&m, "payments", Some(7), 3, &[]);
    expect(&m, "ledger", Some(4), 6, &["stalled"]);
    expect(&m, "search", Some(25), 0, &["beyond-head"]);
    assert_eq!(m["ledger"]["owner"], "instance instance-c");
    assert_eq!(
        m["search"]["owner"],
        Value::Null,
        "a stopped processor holds no lock"
    );
}

#[tokio::test]
async fn commanded_subscriptions_and_projection_versions() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_commanded").await;
    db.load("commanded/postgres.sql").await;
    db.load("commanded/consumers-postgres.sql").await;
    let (doc, _) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    assert_eq!(m.len(), 6, "{doc}");
    expect(&m, "AccountsProjector", Some(10), 0, &[]);
    expect(&m, "PaymentsHandler", Some(7), 3, &[]);
    expect(&m, "FutureHandler", Some(25), 0, &["beyond-head"]);
    // A stream subscription counts versions of its stream: account-1001 has 5.
    expect(&m, "Account1001Watcher/account-1001", Some(3), 2, &[]);
    assert_eq!(
        m["Account1001Watcher/account-1001"]["counts"],
        "stream-version"
    );
    expect(&m, "Bank.Projections.Accounts", Some(10), 0, &[]);
    expect(&m, "Bank.Projections.Ledger", Some(4), 6, &["stalled"]);
    // Nobody runs them: no session holds a subscription's advisory lock.
    assert_eq!(m["PaymentsHandler"]["lock_held"], false, "{doc}");
    assert_eq!(m["PaymentsHandler"]["owner"], Value::Null);
    // A running subscription: its advisory lock taken as EventStore takes it, on a session
    // of its own (the subscriptions table's oid, the subscription id).
    use sqlx::Connection;
    let mut running = sqlx::PgConnection::connect(&format!("{}?application_name=bank-app", db.url))
        .await
        .unwrap();
    let got: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_lock('\"public\".subscriptions'::regclass::oid::int, \
         (SELECT subscription_id FROM subscriptions WHERE subscription_name = 'PaymentsHandler')::int)",
    )
    .fetch_one(&mut running)
    .await
    .unwrap();
    assert!(got);
    // Another application's lock on the same number, without the namespace: not Commanded's.
    sqlx::query("SELECT pg_advisory_lock(1)")
        .execute(&mut running)
        .await
        .unwrap();
    let (doc, _) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    assert_eq!(m["PaymentsHandler"]["lock_held"], true, "{doc}");
    let owner = m["PaymentsHandler"]["owner"].as_str().unwrap();
    assert!(
        owner.starts_with("PostgreSQL session ") && owner.contains("bank-app"),
        "{owner}"
    );
    assert_eq!(m["AccountsProjector"]["lock_held"], false, "{doc}");
    // The rewind plan names the holder; for one nobody runs, no warning.
    let plan = |name: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = evscope(dir.path())
            .args(["--db", &db.url, "consumers", "rewind", name, "--to", "2"])
            .args(["--dry-run"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let held = plan("PaymentsHandler");
    assert!(
        held.contains("held by PostgreSQL session")
            && held.contains("lasts as long as that session"),
        "{held}"
    );
    let free = plan("AccountsProjector");
    assert!(!free.contains("advisory lock"), "{free}");
    running.close().await.unwrap();
}

async fn check_axon(server: Server, suffix: &str, then: Option<&str>) {
    let db = TempDb::create(server, "consumers_axon").await;
    db.load(&format!("axon/{suffix}.sql")).await;
    db.load(&format!("axon/consumers-{suffix}.sql")).await;
    if let Some(sql) = then {
        db.exec(sql).await;
    }
    let mapping = fixture_path("mappings/axon.toml");
    let (doc, _) = consumers(&db.url, &["--mapping", mapping.to_str().unwrap()], &[]);
    let m = by_id(&doc);
    // The blobs are what Axon's own serializers wrote (fixtures/axon-generated).
    assert_eq!(m.len(), 11, "{doc}");
    expect(&m, "accounts/0", Some(10), 0, &[]);
    expect(&m, "payments/0", Some(7), 3, &[]);
    // A gap-aware token still waiting for position 3.
    expect(&m, "payments/1", Some(4), 6, &["stalled", "at-gap"]);
    assert_eq!(m["payments/1"]["gaps"], serde_json::json!([3]));
    // The JSON serializer's token; released (no owner).
    expect(&m, "ledger/0", Some(6), 4, &["stalled"]);
    assert_eq!(m["ledger/0"]["owner"], Value::Null);
    // A replay token: its current position, replaying until 10.
    expect(&m, "replayer/0", Some(3), 7, &["rebuilding"]);
    assert_eq!(m["replayer/0"]["status"], "replaying until 10");
    expect(&m, "future/0", Some(25), 0, &["beyond-head"]);
    assert_eq!(m["accounts/0"]["owner"], "1@node-a");
    // Two segments being merged stand at the lower of their positions (XML and JSON).
    for id in ["merging/0", "merging-json/0"] {
        expect(&m, id, Some(5), 5, &[]);
        assert_eq!(m[id]["status"], "merging two segments (at 8 and 5)", "{id}");
    }
    // The JSON serializer's replay token over gap-aware tokens.
    expect(&m, "rebuild-json/0", Some(2), 8, &["rebuilding"]);
    assert_eq!(m["rebuild-json/0"]["status"], "replaying until 9");
    // Axon 4.6's XStream wrote the gaps as a reflected ConcurrentSkipListSet.
    expect(&m, "archive/0", Some(9), 1, &["stalled", "at-gap"]);
    assert_eq!(m["archive/0"]["gaps"], serde_json::json!([3]));
    // A Java-serialized token: reported, not guessed; its bytes shown as hex.
    let java = &m["serialized/0"];
    assert_eq!(java["checkpoint"], Value::Null, "{java}");
    // Its lag is unknown, not that of a consumer at the start of the log.
    assert_eq!(java["lag_events"], Value::Null, "{java}");
    assert_eq!(flags(java), ["unreadable"], "{java}");
    assert_eq!(java["unreadable"], true, "{java}");
    assert!(
        java["notes"].to_string().contains("Java-serialized"),
        "{java}"
    );
    assert!(
        java["raw_checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("0xaced0005"),
        "{java}"
    );
}

#[tokio::test]
async fn axon_tokens_on_postgres() {
    if !available(Server::Postgres) {
        return;
    }
    check_axon(Server::Postgres, "postgres", None).await;
}

/// Hibernate maps the JPA entity's `@Lob byte[] token` to an `oid` on PostgreSQL unless told
/// otherwise: the tokens are large objects, read with `lo_get`.
#[tokio::test]
async fn axon_tokens_in_large_objects_on_postgres() {
    if !available(Server::Postgres) {
        return;
    }
    check_axon(
        Server::Postgres,
        "postgres",
        Some(
            "ALTER TABLE token_entry ADD COLUMN token_lo oid; \
             UPDATE token_entry SET token_lo = lo_from_bytea(0, token); \
             ALTER TABLE token_entry DROP COLUMN token; \
             ALTER TABLE token_entry RENAME COLUMN token_lo TO token;",
        ),
    )
    .await;
}

#[tokio::test]
async fn axon_tokens_on_mariadb() {
    if !available(Server::MariaDb) {
        return;
    }
    check_axon(Server::MariaDb, "mysql", None).await;
}

#[tokio::test]
async fn message_db_position_streams() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_mdb").await;
    db.load("message-db/postgres.sql").await;
    db.load("message-db/consumers-postgres.sql").await;
    let (doc, _) = consumers(&db.url, &[], &[]);
    assert_eq!(doc["head"], 15);
    let m = by_id(&doc);
    assert_eq!(m.len(), 4, "{doc}");
    // The last Recorded message wins (9, not 2); account events after 9: none.
    expect(&m, "projector", Some(9), 0, &[]);
    assert_eq!(m["projector"]["follows"]["category"], "account");
    // payment events after 4: 7 and 10.
    expect(&m, "notifier", Some(4), 2, &["stalled"]);
    // `account:position` (no identifier, an older Updated message) beyond the head.
    expect(&m, "account", Some(30), 0, &["beyond-head"]);
    expect(&m, "handler", Some(1), 0, &[]);
    assert_eq!(m["handler"]["follows"]["category"], "payment:command");
    assert!(m["notifier"]["notes"].to_string().contains("may trail"));
}

/// Python eventsourcing's tracking tables (hand-written here, in both the single-row and the
/// older multi-row form), read beside the native log.
#[tokio::test]
async fn python_eventsourcing_tracking_tables() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_pyes").await;
    db.load("native/postgres.sql").await;
    db.load("native/dataset-postgres.sql").await;
    db.load("eventsourcing/consumers-postgres.sql").await;
    let (doc, _) = consumers(&db.url, &[], &[]);
    let m = by_id(&doc);
    assert_eq!(m.len(), 3, "{doc}");
    expect(&m, "reports/bankaccounts", Some(7), 3, &[]);
    expect(&m, "reports/payments", Some(10), 0, &[]);
    // The multi-row table: the highest notification id.
    expect(&m, "legacy/bankaccounts", Some(4), 6, &[]);
    assert!(
        m["legacy/bankaccounts"]["notes"]
            .to_string()
            .contains("multi-row")
    );
}

/// Followers the library itself ran (fixtures/python-eventsourcing/generate.py): Statements
/// caught up, Ledger held at the notification before the withdrawal its policy failed on. Lag
/// is counted in the log of the application they follow, and only there.
#[tokio::test]
async fn python_eventsourcing_followers_written_by_the_library() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_pyesgen").await;
    db.load("python-eventsourcing/postgres.sql").await;
    let (doc, code) = consumers(&db.url, &[], &["--check"]);
    assert_eq!(
        code, 0,
        "no update time: nothing is known to be stalled\n{doc}"
    );
    let m = by_id(&doc);
    assert_eq!(m.len(), 2, "{doc}");
    expect(&m, "statements/BankAccounts", Some(11), 0, &[]);
    expect(&m, "ledger/BankAccounts", Some(2), 9, &[]);
    let notes = m["ledger/BankAccounts"]["notes"].to_string();
    assert!(notes.contains("single-row tracking"), "{notes}");
    assert!(!notes.contains("layout"), "its own layout is open: {notes}");
    // Opened on another application's log (the empty statements_events), a follower of
    // BankAccounts is not measured against it.
    let (doc, _) = consumers(&db.url, &["--schema", "statements"], &[]);
    let c = &by_id(&doc)["ledger/BankAccounts"];
    assert_eq!(c["lag_events"], Value::Null, "{c}");
    assert!(
        c["notes"].to_string().contains("--schema bankaccounts"),
        "{c}"
    );
    // SQLite: one tracking table per database file, so no follower's name.
    let lite = TempDb::create(Server::Sqlite, "consumers_pyesgen").await;
    lite.load("python-eventsourcing/sqlite.sql").await;
    let (doc, _) = consumers(&lite.url, &[], &[]);
    let m = by_id(&doc);
    expect(&m, "tracking/BankAccounts", Some(11), 0, &[]);
    assert!(
        m["tracking/BankAccounts"]["notes"]
            .to_string()
            .contains("follower's name is not recorded"),
        "{doc}"
    );
}

/// Processors Emmett itself ran (fixtures/emmett-generated/generate.mjs): caught up, stopped
/// after position 6, stopped by a handler that threw at position 4 (its batch's checkpoint
/// never stored), and one still running when the database was dumped.
#[tokio::test]
async fn emmett_processors_written_by_emmett() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_emmettgen").await;
    db.load("emmett-generated/postgres.sql").await;
    // The fixture's times are those of its run: a second is long ago for any of them.
    let (doc, code) = consumers(&db.url, &[], &["--check", "--stall-after", "1s"]);
    let m = by_id(&doc);
    assert_eq!(m.len(), 4, "{doc}");
    expect(&m, "statements", Some(10), 0, &[]);
    expect(&m, "emails", Some(10), 0, &[]);
    // Stopped behind the head since the fixture was made: stalled, as Emmett cannot say why.
    expect(&m, "notifications", Some(6), 4, &["stalled"]);
    expect(&m, "ledger", Some(0), 10, &["stalled"]);
    assert_eq!(code, 1, "--check: {doc}");
    assert_eq!(m["ledger"]["status"], "stopped");
    assert!(
        m["ledger"]["notes"]
            .to_string()
            .contains("Emmett records no failures"),
        "{doc}"
    );
    assert_eq!(m["emails"]["status"], "running");
    let owner = m["emails"]["owner"].as_str().unwrap_or_default();
    assert!(owner.starts_with("instance emails:"), "{doc}");
    assert_eq!(m["statements"]["owner"], Value::Null, "{doc}");
    // A rewind of the running one says who holds it.
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "consumers",
            "rewind",
            "emails",
            "--to",
            "2",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("held by instance emails:") && text.contains("Emmett processor lock"),
        "{text}"
    );
    // And the printed SQL, run by hand, moves Emmett's own row.
    rewound_by_hand(&db, &[], "notifications").await;
}

#[tokio::test]
async fn a_mapping_files_consumers_section() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_mapped").await;
    db.load("eventuous/postgres.sql").await;
    db.exec(
        "CREATE TABLE eventuous.my_checkpoints (who text PRIMARY KEY, upto bigint, at timestamptz, part text);
         INSERT INTO eventuous.my_checkpoints VALUES ('mine', 6, now() - interval '1 hour', 'p1');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.toml");
    let base = std::fs::read_to_string(fixture_path("mappings/eventuous.toml")).unwrap();
    std::fs::write(
        &mapping,
        format!(
            "{base}\n[consumers]\ntable = \"my_checkpoints\"\nschema = \"eventuous\"\nname = {{ column = \"who\" }}\nposition = {{ column = \"upto\" }}\nupdated_at = {{ column = \"at\" }}\nsegment = {{ column = \"part\" }}\n"
        ),
    )
    .unwrap();
    let (doc, _) = consumers(&db.url, &["--mapping", mapping.to_str().unwrap()], &[]);
    let m = by_id(&doc);
    expect(&m, "mine/p1", Some(6), 4, &["stalled"]);
    assert_eq!(m["mine/p1"]["framework"], "mapped");
}

/// The table's rows as text, to show a rewind left it as it was.
async fn dump(url: &str, sql: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql)
        .fetch_all(&mut c)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

#[tokio::test]
async fn rewind_prints_the_sql_and_runs_none_of_it() {
    if !available(Server::Postgres) {
        return;
    }
    let db = native_db(Server::Postgres).await;
    let q = "SELECT CAST(c AS TEXT) FROM evscope_consumers c ORDER BY name";
    let before = dump(&db.url, q).await;
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "consumers",
            "rewind",
            "lagging",
            "--to",
            "3",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "UPDATE \"public\".\"evscope_consumers\" SET \"position\" = 3, \"updated_at\" = now() WHERE \"name\" = 'lagging';"
        ),
        "{text}"
    );
    // Events 4..7 would be processed again.
    assert!(text.contains("process again 4 events"), "{text}");
    assert!(text.contains("LOCK: lagging: held by worker-2"), "{text}");
    assert_eq!(dump(&db.url, q).await, before, "the table is unchanged");
    // The plan is in the audit trail.
    let audit = std::fs::read_to_string(dir.path().join("replay/audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"job\":\"consumer:lagging\"") && audit.contains("rewind-planned"),
        "{audit}"
    );
    // Without --dry-run: refused, nothing printed as if done.
    evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "consumers",
            "rewind",
            "lagging",
            "--to",
            "3",
        ])
        .assert()
        .code(2);
    // By time: every event from 10:05 on again.
    let by_time = |format: &str| {
        let out = evscope(dir.path())
            .args(["--db", &db.url, "consumers", "rewind", "caught-up"])
            .args([
                "--to",
                "2026-01-05T10:05:00Z",
                "--dry-run",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let plan: Value = serde_json::from_str(&by_time("json")).unwrap();
    assert_eq!(plan["to"], 4);
    assert_eq!(plan["reprocess"]["total"], 6);
    assert_eq!(plan["reprocess"]["by_type"]["Deposited"], 3);
    // jsonl: the same plan as one line.
    let text = by_time("jsonl");
    assert_eq!(text.lines().count(), 1, "{text}");
    let line: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(line["to"], plan["to"]);
    assert_eq!(line["reprocess"], plan["reprocess"]);
}

#[tokio::test]
async fn rewind_sql_per_framework_leaves_every_table_as_it_was() {
    if !available(Server::Postgres) {
        return;
    }
    // (events fixture, consumers fixture, mapping, consumer, table dump, expected SQL, the
    // lock or lease the plan must warn of)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
    );
    let cases: [Case; 8] = [
        (
            "marten-string/postgres.sql",
            "marten/consumers-postgres.sql",
            None,
            "Balances:All",
            "SELECT CAST(t AS TEXT) FROM mt_event_progression t ORDER BY name",
            "UPDATE \"public\".\"mt_event_progression\" SET \"last_seq_id\" = 2, \"last_updated\" = now() WHERE \"name\" = 'Balances:All';",
            Some("LOCK: Balances:All: held by node 2"),
        ),
        (
            "emmett/postgres.sql",
            "emmett/consumers-postgres.sql",
            Some("mappings/emmett.toml"),
            "accounts",
            "SELECT CAST(t AS TEXT) FROM emt_processors t ORDER BY processor_id",
            "UPDATE \"public\".\"emt_processors\" SET \"last_processed_checkpoint\" = '00000000000000000102:0000000000000000002', \"last_processed_transaction_id\" = '102'::xid8, \"last_updated\" = now() WHERE \"processor_id\" = 'accounts' AND \"partition\" = 'emt:default' AND \"version\" = 1;",
            Some("LOCK: accounts: held by instance instance-a"),
        ),
        (
            "axon/postgres.sql",
            "axon/consumers-postgres.sql",
            Some("mappings/axon.toml"),
            "ledger",
            "SELECT CAST(t AS TEXT) FROM token_entry t ORDER BY processor_name, segment",
            "SET \"token\" = convert_to('{\"globalIndex\":2}', 'UTF8'), \"token_type\" = 'org.axonframework.eventhandling.GlobalSequenceTrackingToken'",
            None,
        ),
        (
            "axon/postgres.sql",
            "axon/consumers-postgres.sql",
            Some("mappings/axon.toml"),
            "accounts",
            "SELECT CAST(t AS TEXT) FROM token_entry t ORDER BY processor_name, segment",
            "token_entry",
            Some("LOCK: accounts"),
        ),
        // A merged token is rewound to the kind its segments hold (gap-aware), as is a JSON
        // replay token over gap-aware tokens: the processor reads back what it expects.
        (
            "axon/postgres.sql",
            "axon/consumers-postgres.sql",
            Some("mappings/axon.toml"),
            "merging",
            "SELECT CAST(t AS TEXT) FROM token_entry t ORDER BY processor_name, segment",
            "SET \"token\" = convert_to('<org.axonframework.eventhandling.GapAwareTrackingToken><index>2</index><gaps/></org.axonframework.eventhandling.GapAwareTrackingToken>', 'UTF8'), \"token_type\" = 'org.axonframework.eventhandling.GapAwareTrackingToken'",
            Some("LOCK: merging"),
        ),
        (
            "axon/postgres.sql",
            "axon/consumers-postgres.sql",
            Some("mappings/axon.toml"),
            "rebuild-json",
            "SELECT CAST(t AS TEXT) FROM token_entry t ORDER BY processor_name, segment",
            "SET \"token\" = convert_to('{\"index\":2,\"gaps\":[]}', 'UTF8'), \"token_type\" = 'org.axonframework.eventhandling.GapAwareTrackingToken'",
            None,
        ),
        (
            "commanded/postgres.sql",
            "commanded/consumers-postgres.sql",
            None,
            "PaymentsHandler",
            "SELECT CAST(t AS TEXT) FROM subscriptions t ORDER BY subscription_id",
            "UPDATE \"public\".\"subscriptions\" SET \"last_seen\" = 2 WHERE \"subscription_name\" = 'PaymentsHandler' AND \"stream_uuid\" = '$all';",
            None,
        ),
        (
            "message-db/postgres.sql",
            "message-db/consumers-postgres.sql",
            None,
            "projector",
            "SELECT CAST(t AS TEXT) FROM message_store.messages t ORDER BY global_position",
            "SELECT message_store.write_message(gen_random_uuid()::varchar, 'account:position-projector', 'Recorded', '{\"position\":2}');",
            None,
        ),
    ];
    for (events, fixture, mapping, name, q, sql, lock) in cases {
        let db = TempDb::create(Server::Postgres, "consumers_rewind").await;
        db.load(events).await;
        db.load(fixture).await;
        let before = dump(&db.url, q).await;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = evscope(dir.path());
        cmd.args(["--db", &db.url]);
        if let Some(m) = mapping {
            cmd.arg("--mapping").arg(fixture_path(m));
        }
        let out = cmd
            .args(["consumers", "rewind", name, "--to", "2", "--dry-run"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{fixture}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(sql), "{fixture}: expected\n{sql}\nin\n{text}");
        match lock {
            Some(l) => assert!(
                text.contains(l),
                "{fixture} {name}: expected {l:?} in\n{text}"
            ),
            None => assert!(!text.contains("LOCK:"), "{fixture} {name}: no lock\n{text}"),
        }
        assert_eq!(
            dump(&db.url, q).await,
            before,
            "{fixture}: the table is unchanged"
        );
    }
    // A token evscope does not read (Java-serialized) gets no plan that would replace it with
    // a token of another kind.
    let db = TempDb::create(Server::Postgres, "consumers_rewind").await;
    db.load("axon/postgres.sql").await;
    db.load("axon/consumers-postgres.sql").await;
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args(["--db", &db.url, "--mapping"])
        .arg(fixture_path("mappings/axon.toml"))
        .args([
            "consumers",
            "rewind",
            "serialized",
            "--to",
            "2",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("serialized/0")
            && err.contains("Java-serialized")
            && !out.stdout.contains(&b'U'),
        "{err}"
    );
}

/// The printed rewind is SQL that works: run by hand (here, by the test, on a throwaway
/// database — evscope itself never runs it), it moves the checkpoint exactly where the plan
/// said, for every framework evscope reads on PostgreSQL and for a mapping file's table.
#[tokio::test]
async fn rewind_sql_run_by_hand_moves_the_checkpoint_to_the_target() {
    if !available(Server::Postgres) {
        return;
    }
    let mapped_table = "CREATE TABLE eventuous.my_checkpoints (who text PRIMARY KEY, upto bigint, at timestamptz, part text);
         INSERT INTO eventuous.my_checkpoints VALUES ('mine', 6, now() - interval '1 hour', 'p1');";
    let dir = tempfile::tempdir().unwrap();
    let mapped = dir.path().join("mapped.toml");
    let base = std::fs::read_to_string(fixture_path("mappings/eventuous.toml")).unwrap();
    std::fs::write(
        &mapped,
        format!(
            "{base}\n[consumers]\ntable = \"my_checkpoints\"\nschema = \"eventuous\"\nname = {{ column = \"who\" }}\nposition = {{ column = \"upto\" }}\nupdated_at = {{ column = \"at\" }}\nsegment = {{ column = \"part\" }}\n"
        ),
    )
    .unwrap();
    let mapped = mapped.display().to_string();
    let eventuous = fixture_path("mappings/eventuous.toml")
        .display()
        .to_string();
    let emmett = fixture_path("mappings/emmett.toml").display().to_string();
    let axon = fixture_path("mappings/axon.toml").display().to_string();
    // (events, consumers, mapping, the consumer rewound)
    let cases: [(&str, &str, Option<&str>, &str); 11] = [
        (
            "native/postgres.sql",
            "native/consumers-postgres.sql",
            None,
            "stalled",
        ),
        (
            "marten-string/postgres.sql",
            "marten/consumers-postgres.sql",
            None,
            "Balances:All",
        ),
        (
            "eventuous/postgres.sql",
            "eventuous/consumers-postgres.sql",
            Some(&eventuous),
            "PaymentsReactor",
        ),
        (
            "emmett/postgres.sql",
            "emmett/consumers-postgres.sql",
            Some(&emmett),
            "accounts",
        ),
        (
            "commanded/postgres.sql",
            "commanded/consumers-postgres.sql",
            None,
            "PaymentsHandler",
        ),
        (
            "commanded/postgres.sql",
            "commanded/consumers-postgres.sql",
            None,
            "Bank.Projections.Ledger",
        ),
        (
            "message-db/postgres.sql",
            "message-db/consumers-postgres.sql",
            None,
            "projector",
        ),
        (
            "native/postgres.sql",
            "eventsourcing/consumers-postgres.sql",
            None,
            "reports/bankaccounts",
        ),
        (
            "native/postgres.sql",
            "eventsourcing/consumers-postgres.sql",
            None,
            "legacy/bankaccounts",
        ),
        (
            "axon/postgres.sql",
            "axon/consumers-postgres.sql",
            Some(&axon),
            "ledger",
        ),
        (
            "eventuous/postgres.sql",
            mapped_table,
            Some(&mapped),
            "mine/p1",
        ),
    ];
    for (events, consumers_sql, mapping, name) in cases {
        let db = postgres_with(events, "consumers_rewind_run").await;
        if consumers_sql.ends_with(".sql") {
            db.load(consumers_sql).await;
        } else {
            db.exec(consumers_sql).await;
        }
        if events.starts_with("message-db/") {
            // The fixture leaves Message DB's functions out; its write_message, with the real
            // signature (database/functions/write-message.sql), appends at the stream's next
            // position as the real one does (its lock and checks left out).
            db.exec(
                "CREATE FUNCTION message_store.write_message(id varchar, stream_name varchar, \"type\" varchar, data jsonb, metadata jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL) RETURNS bigint AS $$
                 INSERT INTO message_store.messages (id, stream_name, position, type, data, metadata)
                 SELECT uuid(write_message.id), write_message.stream_name,
                        COALESCE(MAX(m.position), -1) + 1, write_message.type, write_message.data, write_message.metadata
                 FROM message_store.messages m WHERE m.stream_name = write_message.stream_name
                 RETURNING position
                 $$ LANGUAGE sql;",
            )
            .await;
        }
        let extra: Vec<&str> = mapping.map_or(vec![], |m| vec!["--mapping", m]);
        rewound_by_hand(&db, &extra, name).await;
    }
    // MariaDB and SQLite: the native table, and Axon's tokens on MariaDB.
    for server in [Server::MariaDb, Server::Sqlite] {
        if !available(server) {
            continue;
        }
        let db = native_db(server).await;
        rewound_by_hand(&db, &[], "stalled").await;
        if server == Server::MariaDb {
            let db = TempDb::create(server, "consumers_rewind_run").await;
            db.load("axon/mysql.sql").await;
            db.load("axon/consumers-mysql.sql").await;
            rewound_by_hand(&db, &["--mapping", &axon], "ledger").await;
        }
    }
}

/// A PostgreSQL database holding the events fixture `events` (the native DDL with its dataset).
async fn postgres_with(events: &str, tag: &str) -> TempDb {
    let db = TempDb::create(Server::Postgres, tag).await;
    db.load(events).await;
    if events == "native/postgres.sql" {
        db.load("native/dataset-postgres.sql").await;
    }
    db
}

/// `consumers rewind NAME --to 2`'s SQL, run on `db`, leaves NAME (each of its segments) at 2.
async fn rewound_by_hand(db: &TempDb, extra: &[&str], name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (doc, _) = consumers(&db.url, extra, &[]);
    let before = by_id(&doc);
    let ids: Vec<&String> = before
        .keys()
        .filter(|id| *id == name || id.starts_with(&format!("{name}/")))
        .collect();
    assert!(!ids.is_empty(), "{name}: {:?}", before.keys());
    assert!(
        ids.iter()
            .all(|id| before[*id]["checkpoint"].as_i64() != Some(2)),
        "{name} starts elsewhere"
    );
    let out = evscope(dir.path())
        .args(["--db", &db.url])
        .args(extra)
        .args([
            "consumers",
            "rewind",
            name,
            "--to",
            "2",
            "--dry-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["to"], 2, "{name}: {plan:#}");
    let sql: Vec<&str> = plan["sql"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(!sql.is_empty(), "{name}: {plan:#}");
    db.exec(&sql.join("\n")).await;
    let (doc, _) = consumers(&db.url, extra, &[]);
    let after = by_id(&doc);
    for id in ids {
        assert_eq!(
            after[id]["checkpoint"].as_i64(),
            Some(2),
            "{name}: {id} after running\n{}\n{}",
            sql.join("\n"),
            after[id]
        );
    }
}

#[tokio::test]
async fn replay_for_a_consumer_is_its_unprocessed_range() {
    if !available(Server::Postgres) {
        return;
    }
    let db = native_db(Server::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = format!("jsonl:{}", dir.path().join("out.jsonl").display());
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "replay",
            "--for-consumer",
            "payments",
            "--sink",
            &sink,
            "--dry-run",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["range"]["from_position"], 5);
    assert_eq!(plan["range"]["to_position"], 10);
    assert_eq!(plan["range"]["category"], "payment");
    assert_eq!(plan["total"], 2);
    assert_eq!(plan["consumer"]["name"], "payments");
    assert_eq!(plan["consumer"]["checkpoint"], 4);
    assert_eq!(plan["consumer"]["lag_events"], 2);
    // A consumer at the head has nothing to replay.
    evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "replay",
            "--for-consumer",
            "caught-up",
            "--sink",
            &sink,
            "--dry-run",
        ])
        .assert()
        .code(1);
}

#[tokio::test]
async fn the_table_lists_every_consumer_with_its_flags() {
    if !available(Server::Postgres) {
        return;
    }
    let db = native_db(Server::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args(["--db", &db.url, "consumers"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("head 10 · settled head 10 · layout native · 6 consumers"),
        "{text}"
    );
    let line = text.lines().find(|l| l.starts_with("stalled ")).unwrap();
    assert!(line.contains(" 6 ") && line.ends_with("stalled"), "{line}");
    assert!(
        text.contains("deposits: handler threw at position 2"),
        "{text}"
    );
}

/// The table, for every framework read on PostgreSQL: the summary, then a header, then one
/// line per consumer of the JSON listing with its framework, checkpoint and flags.
#[tokio::test]
async fn the_table_of_every_framework_says_what_the_json_says() {
    if !available(Server::Postgres) {
        return;
    }
    let eventuous = fixture_path("mappings/eventuous.toml")
        .display()
        .to_string();
    let emmett = fixture_path("mappings/emmett.toml").display().to_string();
    let axon = fixture_path("mappings/axon.toml").display().to_string();
    let cases: [(&str, &str, Option<&str>); 7] = [
        (
            "marten-string/postgres.sql",
            "marten/consumers-postgres.sql",
            None,
        ),
        (
            "eventuous/postgres.sql",
            "eventuous/consumers-postgres.sql",
            Some(&eventuous),
        ),
        (
            "emmett/postgres.sql",
            "emmett/consumers-postgres.sql",
            Some(&emmett),
        ),
        (
            "commanded/postgres.sql",
            "commanded/consumers-postgres.sql",
            None,
        ),
        (
            "message-db/postgres.sql",
            "message-db/consumers-postgres.sql",
            None,
        ),
        (
            "native/postgres.sql",
            "eventsourcing/consumers-postgres.sql",
            None,
        ),
        (
            "axon/postgres.sql",
            "axon/consumers-postgres.sql",
            Some(&axon),
        ),
    ];
    for (events, fixture, mapping) in cases {
        let db = postgres_with(events, "consumers_table").await;
        db.load(fixture).await;
        let extra: Vec<&str> = mapping.map_or(vec![], |m| vec!["--mapping", m]);
        let (doc, _) = consumers(&db.url, &extra, &[]);
        let dir = tempfile::tempdir().unwrap();
        let out = evscope(dir.path())
            .args(["--db", &db.url])
            .args(&extra)
            .arg("consumers")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        let all = by_id(&doc);
        assert!(
            lines[0].contains(&format!("{} consumers", all.len())),
            "{fixture}: {text}"
        );
        assert!(lines[1].starts_with("CONSUMER "), "{fixture}: {text}");
        for (id, c) in &all {
            let line = lines
                .iter()
                .find(|l| l.starts_with(&format!("{id} ")))
                .unwrap_or_else(|| panic!("{fixture}: no line for {id}:\n{text}"));
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                cells[1],
                c["framework"].as_str().unwrap(),
                "{fixture}: {line}"
            );
            let cp = c["checkpoint"]
                .as_i64()
                .map_or("-".to_string(), |p| p.to_string());
            // A stream subscription's checkpoint is a stream version: `v3`.
            assert!(
                line.contains(&format!(" {cp} ")) || line.contains(&format!(" v{cp} ")),
                "{fixture}: {id}: {cp}: {line}"
            );
            let f = flags(c).join(",");
            if f.is_empty() {
                assert!(
                    !["stalled", "failed", "beyond-head", "paused"]
                        .iter()
                        .any(|x| line.ends_with(x)),
                    "{fixture}: {line}"
                );
            } else {
                assert!(
                    line.trim_end().ends_with(&f),
                    "{fixture}: {id}: {f}: {line}"
                );
            }
        }
    }
}

#[tokio::test]
async fn watch_refreshes_with_the_trend() {
    use std::io::{BufRead, BufReader};
    if !available(Server::Postgres) {
        return;
    }
    let db = native_db(Server::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::evscope_process(dir.path())
        .args([
            "--db",
            &db.url,
            "consumers",
            "--watch",
            "--interval",
            "1s",
            "--no-settle",
            "--format",
            "jsonl",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen: Vec<Value> = Vec::new();
    // The first refresh, then a consumer moves, then the second and third.
    while seen.len() < 6 {
        seen.push(serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap());
    }
    db.exec("UPDATE evscope_consumers SET position = 9, updated_at = now() WHERE name = 'lagging'")
        .await;
    let mut lagging = Vec::new();
    while lagging.len() < 3 {
        let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if v["name"] == "lagging" {
            lagging.push(v);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // Every line has its trend; once the checkpoint moved, the lag shrank.
    assert!(seen.iter().all(|v| v["trend"].is_object()), "{seen:?}");
    let last = lagging.last().unwrap();
    assert_eq!(last["lag_events"], 1);
    assert_eq!(last["trend"]["direction"], "shrinking", "{last}");
    let h = last["trend"]["lag_history"].as_array().unwrap();
    assert_eq!(h.first().unwrap(), 3);
    assert_eq!(h.last().unwrap(), 1);
}
