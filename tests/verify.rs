//! verify-snapshots against real stores with known drifts: exactly the drifted snapshots are
//! reported, with their paths; exit codes 0 / 1 / 2.

mod common;

use common::{Server, TempDb, available, evscope};
use serde_json::Value;

const REDUCERS: &str = r#"
[[reducer]]
match = "account"
unknown = "skip"
TUNING
[reducer.on]
AccountOpened = '{owner: $event.data.owner, currency: $event.data.currency, balance: 0}'
Deposited = '.balance += $event.data.amount'
Withdrawn = '.balance -= $event.data.amount'
"com.example.bank.AccountOpened" = '{owner: $event.data.owner, currency: $event.data.currency, balance: 0}'
"com.example.bank.Deposited" = '.balance += $event.data.amount'
"com.example.bank.Withdrawn" = '.balance -= $event.data.amount'
"#;

fn reducers(dir: &std::path::Path, tuning: &str) -> String {
    let p = dir.join(format!("r{}.toml", tuning.len()));
    std::fs::write(&p, REDUCERS.replace("TUNING", tuning)).unwrap();
    p.display().to_string()
}

/// Run verify-snapshots; (exit code, JSON document).
fn verify(dir: &std::path::Path, db: &str, extra: &[&str]) -> (i32, Value) {
    let out = evscope(dir)
        .args(["--db", db])
        .args(extra)
        .args(["verify-snapshots", "--format", "json"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if doc.is_null() {
        assert_eq!(
            code,
            2,
            "no JSON only on errors: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (code, doc)
}

/// Run `verify-snapshots ARGS` on `db` with the reducer file `reducers`.
fn verify_with(
    dir: &std::path::Path,
    db: &str,
    reducers: &str,
    args: &[&str],
) -> std::process::Output {
    evscope(dir)
        .args(["--db", db, "--reducers", reducers, "verify-snapshots"])
        .args(args)
        .output()
        .unwrap()
}

fn drifted(doc: &Value) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "drifted")
        .map(|c| {
            (
                c["stream_id"].as_str().unwrap().to_string(),
                c["stream_version"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_demo_store_reports_exactly_its_recorded_drifts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    let summary = evscope::demo::ensure(&path, 40, false).await.unwrap();
    let (code, doc) = verify(
        dir.path(),
        &evscope::demo::url_for(&path),
        &[
            "--reducers",
            common::fixture_path("reducers/demo.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let mut want: Vec<(String, i64)> = summary
        .drifted
        .iter()
        .map(|d| (d.stream_id.clone(), d.stream_version))
        .collect();
    want.sort();
    assert_eq!(drifted(&doc), want);
    assert_eq!(doc["summary"]["errors"], 0);
    assert_eq!(
        doc["summary"]["checked"].as_i64().unwrap(),
        summary.snapshots
    );
    // Each drift names its path, with the stored and the recomputed values.
    for d in &summary.drifted {
        let c = doc["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["stream_id"] == d.stream_id.as_str() && c["stream_version"] == d.stream_version
            })
            .unwrap();
        assert_eq!(c["changes"][0]["path"], d.path.as_str());
        assert_eq!(c["changes"][0]["stored"], d.stored);
        assert_eq!(c["changes"][0]["recomputed"], d.expected);
    }
    // The table format: one line per drift and the summary.
    let out = evscope(dir.path())
        .args(["--db", &evscope::demo::url_for(&path), "verify-snapshots"])
        .output()
        .unwrap();
    // With --db the demo's reducers are not implied: no reducer applies, so nothing is
    // checked (the merge fold would compare something else entirely) — exit 3, never drift.
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no reducer for category account: ") && text.contains("not checked"),
        "{text}"
    );
    assert!(!text.contains("DRIFTED"), "{text}");
}

/// The change records of `--format json` and `jsonl` name the stored and the recomputed
/// values (never `old` / `new`, whose meaning the reader would have to guess), for each kind of
/// change; `delta` is stored − recomputed, as the TUI shows it.
#[tokio::test]
async fn change_records_say_stored_and_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    evscope::demo::ensure(&path, 6, false).await.unwrap();
    // account-0002 v20 recomputes to {balance: 2660, currency: "BRL", owner: "Wagner Ribeiro",
    // status: "open"}: store it wrong in every way.
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}?mode=rw",
        path.display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE evscope_snapshots SET state = '{\"balance\": 2600, \"extra\": [1, 2], \"owner\": 7, \"status\": \"open\"}' WHERE stream_id = 'account-0002' AND stream_version = 20")
        .execute(&mut c)
        .await
        .unwrap();
    let url = evscope::demo::url_for(&path);
    let demo = common::fixture_path("reducers/demo.toml");
    for format in ["json", "jsonl"] {
        let out = verify_with(
            dir.path(),
            &url,
            demo.to_str().unwrap(),
            &["--stream", "account-0002", "--format", format],
        );
        assert_eq!(out.status.code(), Some(1), "{format}");
        // json: one document; jsonl: one check per line, then the summary.
        let checks: Vec<Value> = if format == "json" {
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            doc["snapshots"].as_array().unwrap().clone()
        } else {
            common::jsonl(&String::from_utf8_lossy(&out.stdout))
        };
        let check = checks.iter().find(|c| c["stream_version"] == 20).unwrap();
        assert_eq!(
            check["changes"],
            serde_json::json!([
                {"op": "changed", "path": ".balance", "stored": 2600, "recomputed": 2660,
                 "delta": -60.0, "type_changed": false},
                {"op": "removed", "path": ".currency", "recomputed": "BRL"},
                {"op": "added", "path": ".extra", "stored": [1, 2]},
                {"op": "changed", "path": ".owner", "stored": 7, "recomputed": "Wagner Ribeiro",
                 "type_changed": true},
            ]),
            "{format}"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("\"old\"") && !text.contains("\"new\""),
            "{format}: {text}"
        );
    }
    // The table says the same in words.
    let out = verify_with(
        dir.path(),
        &url,
        demo.to_str().unwrap(),
        &["--stream", "account-0002"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(".balance: stored 2600, recomputed 2660")
            && text.contains(".currency: missing, recomputed \"BRL\"")
            && text.contains(".extra: stored [1,2], recomputed absent"),
        "{text}"
    );
}

#[tokio::test]
async fn native_sqlite_drift_tolerance_ignore_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Sqlite, "verify").await;
    db.load("native/sqlite.sql").await;
    db.load("native/dataset-sqlite.sql").await;
    let plain = reducers(dir.path(), "");
    let (code, doc) = verify(dir.path(), &db.url, &["--reducers", &plain]);
    assert_eq!(code, 1);
    // v2 holds balance 999 (the deliberate drift); both hold a `status` this reducer does not
    // produce.
    assert_eq!(
        drifted(&doc),
        vec![
            ("account-1001".to_string(), 2),
            ("account-1001".to_string(), 4)
        ]
    );
    let c = &doc["snapshots"][0];
    assert_eq!(c["changes"][0]["path"], ".balance");
    assert_eq!(c["changes"][0]["delta"], -1.0);
    // Stored snapshots carry a `status` the reducer does not produce: reported as well.
    assert_eq!(doc["snapshots"][1]["status"], "drifted");
    assert_eq!(doc["snapshots"][1]["changes"][0]["path"], ".status");
    // ignore and tolerance, per category in the reducer file.
    let tuned = reducers(dir.path(), "ignore = [\".status\"]\ntolerance = 1.5");
    let (code, doc) = verify(dir.path(), &db.url, &["--reducers", &tuned]);
    assert_eq!((code, doc["summary"]["ok"].as_i64()), (0, Some(2)), "{doc}");
    // --since: nothing taken since then, nothing to report.
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "--reducers",
            &plain,
            "verify-snapshots",
            "--since",
            "2027-01-01",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // A reducer that fails: an error, exit 2.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[reducer]]\nmatch = \"account\"\nunknown = \"error\"\n[reducer.on]\nAccountOpened = '.x = 1'\n").unwrap();
    let (code, doc) = verify(dir.path(), &db.url, &["--reducers", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(doc["summary"]["errors"], 2);
    assert!(
        doc["snapshots"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot recompute")
    );
    // A layout without snapshots: exit 2 with a message.
    let classic = TempDb::create(Server::Sqlite, "classic").await;
    classic.load("classic/sqlite.sql").await;
    let out = evscope(dir.path())
        .args(["--db", &classic.url, "verify-snapshots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps no snapshots"));
}

#[tokio::test]
async fn commanded_on_postgres_reads_bytea_snapshots() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Postgres, "vcmd").await;
    db.load("commanded/postgres.sql").await;
    let (code, doc) = verify(
        dir.path(),
        &db.url,
        &["--reducers", &reducers(dir.path(), "")],
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["summary"]["checked"], 1);
    assert_eq!(doc["snapshots"][0]["stream_version"], 4);
}

#[tokio::test]
async fn axon_on_mariadb_through_a_mapping_file() {
    if !available(Server::MariaDb) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::MariaDb, "vaxon").await;
    db.load("axon/mysql.sql").await;
    let mapping = common::fixture_path("mappings/axon.toml");
    let (code, doc) = verify(
        dir.path(),
        &db.url,
        &[
            "--mapping",
            mapping.to_str().unwrap(),
            "--reducers",
            &reducers(dir.path(), ""),
        ],
    );
    assert_eq!(code, 1, "{doc}");
    assert_eq!(drifted(&doc), vec![("account-1001".to_string(), 1)]);
    let c = &doc["snapshots"][0];
    assert_eq!(
        (
            c["changes"][0]["recomputed"].as_i64(),
            c["changes"][0]["stored"].as_i64()
        ),
        (Some(1000), Some(999))
    );
    assert_eq!(doc["snapshots"][1]["status"], "ok");
}

/// Axon (both table naming schemes, both databases) and Eventuous stores with only `--db`:
/// detected, folded, and their snapshots verified, or the plain refusal where the layout keeps
/// none.
#[tokio::test]
async fn axon_and_eventuous_fold_and_verify_with_only_the_url() {
    let cases = [
        (Server::Postgres, "axon/postgres.sql", true),
        (Server::Postgres, "axon/jdbc-postgres.sql", true),
        (Server::MariaDb, "axon/mysql.sql", true),
        (Server::MariaDb, "axon/jdbc-mysql.sql", true),
        (Server::Postgres, "eventuous/postgres.sql", false),
    ];
    let dir = tempfile::tempdir().unwrap();
    let r = reducers(dir.path(), "");
    for (server, fixture, snapshots) in cases {
        if !available(server) {
            continue;
        }
        let db = TempDb::create(server, "vonly").await;
        db.load(fixture).await;
        let out = evscope(dir.path())
            .args(["--db", &db.url, "--reducers", &r])
            .args(["rehydrate", "account-1001", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{fixture}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let state: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(state["balance"], 1500, "{fixture}: {state}");
        assert_eq!(state["owner"], "Ana Souza", "{fixture}: {state}");
        if snapshots {
            let (code, doc) = verify(dir.path(), &db.url, &["--reducers", &r]);
            assert_eq!(code, 1, "{fixture}: {doc}");
            assert_eq!(
                drifted(&doc),
                vec![("account-1001".to_string(), 1)],
                "{fixture}"
            );
            assert_eq!(doc["summary"]["ok"], 1, "{fixture}: {doc}");
        } else {
            let out = verify_with(dir.path(), &db.url, &r, &[]);
            assert_eq!(out.status.code(), Some(2), "{fixture}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("keeps no snapshots"),
                "{fixture}"
            );
        }
    }
}

const AUDIT_MAPPING: &str = r#"
name = "audit-test"
[events]
table = "audit_events"
[columns]
position = { column = "pos" }
stream = { column = "stream" }
version = { column = "ver" }
event_id = { column = "eid" }
event_type = { column = "ty" }
data = { column = "data", encoding = "json" }
recorded_at = { column = "at", encoding = "iso8601" }
"#;

const AUDIT_REDUCERS: &str = "[[reducer]]\nmatch = [\"a\", \"b\", \"c\", \"d\"]\nunknown = \"skip\"\n[reducer.on]\nOpened = '.'\nDeposited = '.'\n";

/// One of each fault, in a table with no constraints to stop them.
const AUDIT_ROWS: &str = "
INSERT INTO audit_events VALUES (1, 'a-1', 1, 'e1', 'Opened', '{}', '2026-01-01T00:00:01Z');
INSERT INTO audit_events VALUES (2, 'a-1', 2, 'e2', 'Deposited', '{}', '2026-01-01T00:00:02Z');
INSERT INTO audit_events VALUES (3, 'a-1', 4, 'e3', 'Deposited', '{}', '2026-01-01T00:00:03Z');
INSERT INTO audit_events VALUES (4, 'b-1', 1, 'e4', 'Opened', '{}', '2026-01-01T00:00:04Z');
INSERT INTO audit_events VALUES (5, 'b-1', 1, 'e5', 'Opened', '{}', '2026-01-01T00:00:05Z');
INSERT INTO audit_events VALUES (6, 'b-1', 2, 'e2', 'Deposited', '{}', '2026-01-01T00:00:06Z');
INSERT INTO audit_events VALUES (7, 'c-1', 1, 'e7', 'Opened', '{}', '2026-01-01T00:00:07Z');
INSERT INTO audit_events VALUES (8, 'c-1', 2, 'e8', 'Deposited', '{}', '2026-01-01T00:00:01Z');
INSERT INTO audit_events VALUES (9, 'c-1', 3, 'e9', 'Deposited', '{broken', '2026-01-01T00:00:09Z');
INSERT INTO audit_events VALUES (10, 'd-1', 1, 'e10', 'Mystery', '{}', '2026-01-01T00:00:10Z');
";

#[tokio::test]
async fn audit_finds_exactly_the_faults_inserted_on_every_database() {
    for (server, ddl) in [
        (
            Server::Sqlite,
            "CREATE TABLE audit_events (pos INTEGER PRIMARY KEY, stream TEXT, ver INTEGER, eid TEXT, ty TEXT, data TEXT, at TEXT);",
        ),
        (
            Server::Postgres,
            "CREATE TABLE audit_events (pos bigint PRIMARY KEY, stream text, ver bigint, eid text, ty text, data text, at text);",
        ),
        (
            Server::MariaDb,
            "CREATE TABLE audit_events (pos BIGINT PRIMARY KEY, stream VARCHAR(100), ver BIGINT, eid VARCHAR(64), ty VARCHAR(100), data TEXT, at VARCHAR(40));",
        ),
    ] {
        if !available(server) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = TempDb::create(server, "audit").await;
        db.exec(ddl).await;
        db.exec(AUDIT_ROWS).await;
        let mapping = dir.path().join("m.toml");
        std::fs::write(&mapping, AUDIT_MAPPING).unwrap();
        let red = dir.path().join("r.toml");
        std::fs::write(&red, AUDIT_REDUCERS).unwrap();
        let out = evscope(dir.path())
            .args([
                "--db",
                &db.url,
                "--mapping",
                mapping.to_str().unwrap(),
                "--reducers",
                red.to_str().unwrap(),
                "audit",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{server:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut got: Vec<(String, String, i64)> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap().to_string(),
                    f["stream_id"]
                        .as_str()
                        .or(f["event_id"].as_str())
                        .unwrap_or("")
                        .to_string(),
                    f["stream_version"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        got.sort();
        let want = vec![
            ("duplicate_event_id".to_string(), "e2".to_string(), -1),
            ("duplicate_version".to_string(), "b-1".to_string(), 1),
            ("invalid_json".to_string(), "c-1".to_string(), 3),
            ("time_backwards".to_string(), "c-1".to_string(), 2),
            ("unknown_type".to_string(), "d-1".to_string(), -1),
            ("version_gap".to_string(), "a-1".to_string(), 4),
        ];
        assert_eq!(got, want, "{server:?}: {doc}");
        assert_eq!(doc["summary"]["errors"], 5);
        assert_eq!(doc["summary"]["infos"], 1);
        assert_eq!(doc["summary"]["events"], 10);
        let unknown = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "unknown_type")
            .unwrap();
        assert_eq!(unknown["severity"], "info");
        assert!(unknown["detail"].as_str().unwrap().contains("Mystery"));
    }
    // A sound store: exit 0.
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Sqlite, "sound").await;
    db.load("native/sqlite.sql").await;
    db.load("native/dataset-sqlite.sql").await;
    let demo = common::fixture_path("reducers/demo.toml");
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "--reducers",
            demo.to_str().unwrap(),
            "audit",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A store big enough for several parts checked at once (`--jobs`): the report is the same,
/// in the same order, as one part after the other, and holds exactly the planted faults.
#[tokio::test]
async fn parts_checked_at_once_report_exactly_what_one_at_a_time_does() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "vjobs").await;
    db.load("native/postgres.sql").await;
    // 400 streams of 30 events (account-0100 has no version 10); every 10th stream has no
    // snapshot, the others one every 3 versions; the balance of version 15 is one too high in
    // every 37th stream; account-0005 has a snapshot past its end, account-0100 one at its gap.
    db.exec(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data)
         SELECT 'account-' || lpad(s::text, 4, '0'), v, md5(s || '/' || v)::uuid,
                CASE WHEN v = 1 THEN 'AccountOpened' ELSE 'Deposited' END,
                CASE WHEN v = 1 THEN jsonb_build_object('owner', 'O' || s, 'currency', 'BRL')
                     ELSE jsonb_build_object('amount', (s + v) % 7 + 1) END
         FROM generate_series(0, 399) s, generate_series(1, 30) v
         WHERE NOT (s = 100 AND v = 10)
         ORDER BY v, s;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state)
         SELECT e.stream_id, e.stream_version, jsonb_build_object(
                  'owner', 'O' || substr(e.stream_id, 9)::int, 'currency', 'BRL',
                  'balance', (SELECT coalesce(sum((x.data->>'amount')::int), 0) FROM evscope_events x
                              WHERE x.stream_id = e.stream_id AND x.stream_version <= e.stream_version)
                    + CASE WHEN substr(e.stream_id, 9)::int % 37 = 0 AND e.stream_version = 15
                           THEN 1 ELSE 0 END)
         FROM evscope_events e
         WHERE e.stream_version % 3 = 0 AND substr(e.stream_id, 9)::int % 10 <> 9;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state) VALUES
           ('account-0005', 40, '{}'), ('account-0100', 10, '{}');",
    )
    .await;
    assert_parts_agree(&db);
}

/// The same store on MariaDB (its own SQL to make it).
#[tokio::test]
async fn parts_checked_at_once_on_mariadb() {
    if !available(Server::MariaDb) {
        return;
    }
    let db = TempDb::create(Server::MariaDb, "vjobs").await;
    db.load("native/mysql.sql").await;
    db.exec(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data)
         SELECT CONCAT('account-', LPAD(s.seq, 4, '0')), v.seq,
                CONCAT(LPAD(s.seq, 4, '0'), '-', LPAD(v.seq, 31, '0')),
                IF(v.seq = 1, 'AccountOpened', 'Deposited'),
                IF(v.seq = 1, JSON_OBJECT('owner', CONCAT('O', s.seq), 'currency', 'BRL'),
                   JSON_OBJECT('amount', (s.seq + v.seq) % 7 + 1))
         FROM seq_0_to_399 s, seq_1_to_30 v
         WHERE NOT (s.seq = 100 AND v.seq = 10)
         ORDER BY v.seq, s.seq;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state)
         SELECT e.stream_id, e.stream_version, JSON_OBJECT(
                  'owner', CONCAT('O', CAST(SUBSTR(e.stream_id, 9) AS UNSIGNED)), 'currency', 'BRL',
                  'balance', (SELECT COALESCE(SUM(JSON_VALUE(x.data, '$.amount')), 0) FROM evscope_events x
                              WHERE x.stream_id = e.stream_id AND x.stream_version <= e.stream_version)
                    + IF(CAST(SUBSTR(e.stream_id, 9) AS UNSIGNED) % 37 = 0 AND e.stream_version = 15, 1, 0))
         FROM evscope_events e
         WHERE e.stream_version % 3 = 0 AND CAST(SUBSTR(e.stream_id, 9) AS UNSIGNED) % 10 <> 9;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state) VALUES
           ('account-0005', 40, '{}'), ('account-0100', 10, '{}');",
    )
    .await;
    assert_parts_agree(&db);
}

/// The store above checked with 1, 2, 3 and the default jobs, and narrowed to its category:
/// one report, with exactly the planted drifts and errors.
fn assert_parts_agree(db: &TempDb) {
    let dir = tempfile::tempdir().unwrap();
    let r = reducers(dir.path(), "");
    let run = |jobs: &str| {
        let out = verify_with(
            dir.path(),
            &db.url,
            &r,
            &["--format", "json", "--jobs", jobs],
        );
        (out.status.code(), out.stdout)
    };
    // Exit 2: two snapshots cannot be checked (errors outrank drifts).
    let (code, one) = run("1");
    assert_eq!(code, Some(2));
    for jobs in ["2", "3", "0"] {
        let (code, many) = run(jobs);
        assert_eq!(code, Some(2), "--jobs {jobs}");
        assert!(many == one, "--jobs {jobs} reports differently");
    }
    let doc: Value = serde_json::from_slice(&one).unwrap();
    let want: Vec<(String, i64)> = (0..400)
        .filter(|s| s % 37 == 0 && s % 10 != 9)
        .map(|s| (format!("account-{s:04}"), 15))
        .collect();
    assert_eq!(drifted(&doc), want);
    let errors: Vec<(String, i64, String)> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .map(|c| {
            (
                c["stream_id"].as_str().unwrap().to_string(),
                c["stream_version"].as_i64().unwrap(),
                c["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                "account-0005".to_string(),
                40,
                "the stream ends before version 40".to_string()
            ),
            (
                "account-0100".to_string(),
                10,
                "the stream has no event at version 10".to_string()
            ),
        ]
    );
    assert_eq!(doc["summary"]["checked"], 360 * 10 + 2);
    assert_eq!(doc["summary"]["streams"], 360);
    // In (stream, version) order.
    let keys: Vec<(String, i64)> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["stream_id"].as_str().unwrap().to_string(),
                c["stream_version"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // --category narrows to a part of those (and still agrees).
    let args = ["--format", "json", "--jobs", "3", "--category", "account"];
    assert!(verify_with(dir.path(), &db.url, &r, &args).stdout == one);
}

/// Stream ids ordered by the database's collation, not byte by byte (an ICU collation puts
/// `a-1` before `B-1`): the merge of snapshots and events follows the database's order.
#[tokio::test]
async fn a_collation_that_is_not_bytewise_changes_nothing() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Postgres, "vicu").await;
    db.load("native/postgres.sql").await;
    db.exec(
        "ALTER TABLE evscope_events ALTER COLUMN stream_id TYPE text COLLATE \"und-x-icu\";
         ALTER TABLE evscope_snapshots ALTER COLUMN stream_id TYPE text COLLATE \"und-x-icu\";
         INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data)
         SELECT s, v, md5(s || v)::uuid, CASE WHEN v = 1 THEN 'AccountOpened' ELSE 'Deposited' END,
                CASE WHEN v = 1 THEN '{\"owner\": \"o\", \"currency\": \"BRL\"}'::jsonb
                     ELSE jsonb_build_object('amount', v) END
         FROM unnest(ARRAY['a-1', 'B-1', 'b-2', 'C-1', 'c-2']) s, generate_series(1, 4) v;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state)
         SELECT s, 4, '{\"owner\": \"o\", \"currency\": \"BRL\", \"balance\": 9}'
         FROM unnest(ARRAY['B-1', 'C-1', 'c-2']) s;",
    )
    .await;
    let r = dir.path().join("abc.toml");
    std::fs::write(
        &r,
        REDUCERS.replace("TUNING", "").replace(
            "match = \"account\"",
            "match = [\"a\", \"b\", \"c\", \"B\", \"C\"]",
        ),
    )
    .unwrap();
    let r = r.display().to_string();
    for jobs in ["1", "2"] {
        let out = verify_with(dir.path(), &db.url, &r, &["--jobs", jobs]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "--jobs {jobs}: {text}");
        assert!(text.contains("3 snapshots in 3 streams: 3 ok"), "{text}");
    }
}

/// A stream with more snapshots than a part holds is cut between parts, its fold handed from
/// one to the next: the same report as one part after the other, a drift on either side of a
/// cut found, a fold that failed before a cut reported after it too, the stream counted once.
#[tokio::test]
async fn a_stream_with_many_snapshots_is_cut_between_parts() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Postgres, "vcut").await;
    db.load("native/postgres.sql").await;
    // account-1: 12,000 events, a snapshot at each (7,000 and 11,000 drifted); account-2:
    // 6,000 events whose 3,000th cannot be folded (an amount that is text), a snapshot at
    // each; account-3: 30 events, a snapshot every 10.
    db.exec(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data)
         SELECT s, v, md5(s || '/' || v)::uuid,
                CASE WHEN v = 1 THEN 'AccountOpened' ELSE 'Deposited' END,
                CASE WHEN v = 1 THEN '{\"owner\": \"o\", \"currency\": \"BRL\"}'::jsonb
                     WHEN s = 'account-2' AND v = 3000 THEN '{\"amount\": \"x\"}'::jsonb
                     ELSE jsonb_build_object('amount', v % 10) END
         FROM (VALUES ('account-1', 12000), ('account-2', 6000), ('account-3', 30)) AS n(s, len),
              generate_series(1, len) v;
         INSERT INTO evscope_snapshots (stream_id, stream_version, state)
         SELECT stream_id, stream_version,
                jsonb_build_object('owner', 'o', 'currency', 'BRL', 'balance',
                  balance + CASE WHEN stream_id = 'account-1' AND stream_version IN (7000, 11000)
                                 THEN 1 ELSE 0 END)
         FROM (SELECT stream_id, stream_version, sum(CASE WHEN stream_version = 1 OR data->>'amount' = 'x'
                                                          THEN 0 ELSE (data->>'amount')::int END)
                        OVER (PARTITION BY stream_id ORDER BY stream_version) AS balance
               FROM evscope_events) b
         WHERE stream_id <> 'account-3' OR stream_version % 10 = 0;",
    )
    .await;
    let r = reducers(dir.path(), "");
    let run = |jobs: &str| {
        let out = verify_with(
            dir.path(),
            &db.url,
            &r,
            &["--format", "json", "--jobs", jobs],
        );
        assert_eq!(out.status.code(), Some(2), "--jobs {jobs}: errors");
        out.stdout
    };
    let one = run("1");
    for jobs in ["2", "3"] {
        assert!(run(jobs) == one, "--jobs {jobs} reports differently");
    }
    let doc: Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(
        drifted(&doc),
        vec![
            ("account-1".to_string(), 7000),
            ("account-1".to_string(), 11000)
        ]
    );
    let errors: Vec<i64> = doc["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .map(|c| {
            assert_eq!(c["stream_id"], "account-2");
            let why = c["error"].as_str().unwrap();
            assert!(why.starts_with("cannot recompute: "), "{why}");
            assert!(why.contains("version 3000"), "{why}");
            c["stream_version"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(errors, (3000..=6000).collect::<Vec<_>>());
    let s = &doc["summary"];
    assert_eq!(s["checked"], 12000 + 6000 + 3);
    assert_eq!(s["ok"], 12000 + 6000 + 3 - 2 - 3001);
    assert_eq!(s["streams"], 3);
}
