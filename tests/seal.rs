//! Seal and verify on the real servers: the same events give the same root on PostgreSQL,
//! MariaDB and SQLite (and in jsonb or json-text columns), and every kind of tampering done
//! with the test's own superuser connection is detected and named.

mod common;

use common::seal::{root, run, seal, verify};
use common::{Server, TempDb, available};
use serde_json::Value;

/// Events of the test's dataset: positions 1..=21 without 11 (a position a rolled-back insert
/// took), JSON with keys in no particular order, Unicode, numbers written several ways and
/// one that no double holds, NULL metadata on some rows, times with microseconds.
struct Row {
    pos: i64,
    stream: String,
    version: i64,
    id: String,
    kind: &'static str,
    data: String,
    metadata: Option<String>,
    /// "2026-01-05 10:MM:SS.ffffff" (UTC)
    time: String,
}

fn rows() -> Vec<Row> {
    let mut out = Vec::new();
    let mut versions = [0i64; 3];
    for pos in (1..=21).filter(|p| *p != 11) {
        let s = (pos as usize * 7) % 3;
        versions[s] += 1;
        let kind = ["Deposited", "Withdrawn", "Noted"][pos as usize % 3];
        let data = format!(
            r#"{{"zeta": "ü€😀 {pos}", "amount": {}, "nested": {{"y": [1.50, 1e2, true, null], "b": "x"}}, "big": 123456789012345678901234567890.{pos}, "a": {pos}}}"#,
            1000 + pos * 13
        );
        let metadata = (pos % 5 != 0)
            .then(|| format!(r#"{{"user": "ana", "correlation_id": "c-{pos}", "n": {pos}.25}}"#));
        out.push(Row {
            pos,
            stream: format!("account-{}", 1001 + s),
            version: versions[s],
            id: format!("00000000-0000-4000-8000-{pos:012}"),
            kind,
            data,
            metadata,
            time: format!("2026-01-05 10:{:02}:{:02}.{:06}", pos, pos * 2, pos * 1111),
        });
    }
    out
}

fn insert_sql(server: Server, r: &Row) -> String {
    let time = match server {
        Server::MariaDb => format!("'{}'", r.time),
        _ => format!("'{}Z'", r.time.replacen(' ', "T", 1)),
    };
    let meta = r
        .metadata
        .as_ref()
        .map_or("NULL".to_string(), |m| format!("'{m}'"));
    format!(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) VALUES ({}, '{}', {}, '{}', '{}', '{}', {meta}, {time});\n",
        r.pos, r.stream, r.version, r.id, r.kind, r.data
    )
}

fn ddl(server: Server) -> &'static str {
    match server {
        Server::Postgres => "native/postgres.sql",
        Server::MariaDb => "native/mysql.sql",
        Server::Sqlite => "native/sqlite.sql",
    }
}

/// A native-layout store holding the dataset.
async fn store(server: Server, tag: &str) -> TempDb {
    let db = TempDb::create(server, tag).await;
    db.load(ddl(server)).await;
    let sql: String = rows().iter().map(|r| insert_sql(server, r)).collect();
    db.exec(&sql).await;
    db
}

fn servers() -> Vec<Server> {
    [Server::Postgres, Server::MariaDb, Server::Sqlite]
        .into_iter()
        .filter(|s| available(*s))
        .collect()
}

#[tokio::test]
async fn the_same_events_give_the_same_root_on_every_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut roots = Vec::new();
    let mut fixture_roots = Vec::new();
    for server in servers() {
        let db = store(server, "seal_same").await;
        let r = seal(dir.path(), &db.url, &format!("{server:?}.json"), &[]);
        assert_eq!(r["count"], 20, "{server:?}");
        assert_eq!(r["raw_rows"], 0);
        assert_eq!(r["first"]["global_position"], 1);
        assert_eq!(r["last"]["global_position"], 21);
        assert_eq!(r["store"]["layout"], "native");
        match server {
            Server::Postgres => {
                assert_eq!(r["store"]["db_kind"], "postgres");
                assert!(
                    r["store"]["system_identifier"]
                        .as_str()
                        .is_some_and(|s| s.len() > 5),
                    "{r}"
                );
            }
            Server::MariaDb => assert_eq!(r["store"]["db_kind"], "mysql"),
            Server::Sqlite => assert_eq!(r["store"]["db_kind"], "sqlite"),
        }
        roots.push((server, r["root"].as_str().unwrap().to_string()));
        // The project's shared ten-event dataset too.
        let f = TempDb::create(server, "seal_fixture").await;
        f.load(ddl(server)).await;
        f.load(&format!(
            "native/dataset-{}.sql",
            match server {
                Server::Postgres => "postgres",
                Server::MariaDb => "mysql",
                Server::Sqlite => "sqlite",
            }
        ))
        .await;
        fixture_roots.push((server, root(dir.path(), &f.url, &[])));
    }
    for (s, r) in &roots {
        assert_eq!(r, &roots[0].1, "{s:?} vs {:?}", roots[0].0);
    }
    for (s, r) in &fixture_roots {
        assert_eq!(
            r, &fixture_roots[0].1,
            "fixture: {s:?} vs {:?}",
            fixture_roots[0].0
        );
    }
    assert_ne!(roots[0].1, fixture_roots[0].1);
}

#[tokio::test]
async fn jsonb_and_json_text_columns_give_the_same_root() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let jsonb = store(Server::Postgres, "seal_jsonb").await;
    let text = TempDb::create(Server::Postgres, "seal_jsontext").await;
    text.load(ddl(Server::Postgres)).await;
    text.exec(
        "ALTER TABLE evscope_events ALTER COLUMN data TYPE json USING data::text::json, \
         ALTER COLUMN metadata TYPE json USING metadata::text::json",
    )
    .await;
    let sql: String = rows()
        .iter()
        .map(|r| insert_sql(Server::Postgres, r))
        .collect();
    text.exec(&sql).await;
    // The json column keeps the text as written (keys in their order, 1.50, 1e2); jsonb
    // reorders keys and normalizes. The canonical bytes do not see the difference.
    let shown = run(
        dir.path(),
        &text.url,
        &["log", "--limit", "1", "--format", "jsonl"],
    );
    assert!(shown.stdout.contains(r#""zeta":"#), "{}", shown.stdout);
    assert_eq!(
        root(dir.path(), &jsonb.url, &[]),
        root(dir.path(), &text.url, &[])
    );
}

/// A tampering, its undoing, and what verify-seal must say.
struct Case {
    name: &'static str,
    tamper: String,
    undo: String,
    kind: &'static str,
    key: i64,
    fields: Vec<&'static str>,
    sealed_at: Option<i64>,
}

fn cases(server: Server) -> Vec<Case> {
    let all = rows();
    let row = |p: i64| all.iter().find(|r| r.pos == p).unwrap();
    let r3 = row(3);
    let one_digit = r3.data.replacen("1039", "1038", 1);
    assert_ne!(one_digit, r3.data);
    let r4 = row(4);
    let meta = r4
        .metadata
        .clone()
        .unwrap()
        .replacen("\"ana\"", "\"bob\"", 1);
    let time_plus = match server {
        Server::Postgres => "recorded_at + interval '1 microsecond'".to_string(),
        Server::MariaDb => "recorded_at + INTERVAL 1 MICROSECOND".to_string(),
        Server::Sqlite => "'2026-01-05T10:06:12.006667Z'".to_string(),
    };
    let time_back = match server {
        Server::Postgres => "recorded_at - interval '1 microsecond'".to_string(),
        Server::MariaDb => "recorded_at - INTERVAL 1 MICROSECOND".to_string(),
        Server::Sqlite => "'2026-01-05T10:06:12.006666Z'".to_string(),
    };
    let intruder = Row {
        pos: 11,
        stream: "account-9999".into(),
        version: 1,
        id: "00000000-0000-4000-8000-999999999999".into(),
        kind: "Deposited",
        data: r#"{"amount": 1}"#.into(),
        metadata: None,
        time: "2026-01-05 10:11:00.000000".into(),
    };
    let deleted = row(5);
    vec![
        Case {
            name: "one digit of data",
            tamper: format!(
                "UPDATE evscope_events SET data = '{one_digit}' WHERE global_position = 3"
            ),
            undo: format!(
                "UPDATE evscope_events SET data = '{}' WHERE global_position = 3",
                r3.data
            ),
            kind: "changed",
            key: 3,
            fields: vec!["data"],
            sealed_at: None,
        },
        Case {
            name: "metadata",
            tamper: format!(
                "UPDATE evscope_events SET metadata = '{meta}' WHERE global_position = 4"
            ),
            undo: format!(
                "UPDATE evscope_events SET metadata = '{}' WHERE global_position = 4",
                r4.metadata.as_ref().unwrap()
            ),
            kind: "changed",
            key: 4,
            fields: vec!["metadata"],
            sealed_at: None,
        },
        Case {
            name: "type",
            tamper: "UPDATE evscope_events SET event_type = 'Deposited2' WHERE global_position = 2"
                .into(),
            undo: format!(
                "UPDATE evscope_events SET event_type = '{}' WHERE global_position = 2",
                row(2).kind
            ),
            kind: "changed",
            key: 2,
            fields: vec!["type"],
            sealed_at: None,
        },
        Case {
            name: "time (one microsecond)",
            tamper: format!(
                "UPDATE evscope_events SET recorded_at = {time_plus} WHERE global_position = 6"
            ),
            undo: format!(
                "UPDATE evscope_events SET recorded_at = {time_back} WHERE global_position = 6"
            ),
            kind: "changed",
            key: 6,
            fields: vec!["time"],
            sealed_at: None,
        },
        Case {
            name: "a deleted event",
            tamper: "DELETE FROM evscope_events WHERE global_position = 5".into(),
            undo: insert_sql(server, deleted),
            kind: "missing",
            key: 5,
            fields: vec![],
            sealed_at: None,
        },
        Case {
            name: "an event inserted in the middle at a reused position",
            tamper: insert_sql(server, &intruder),
            undo: "DELETE FROM evscope_events WHERE global_position = 11".into(),
            kind: "inserted",
            key: 11,
            fields: vec![],
            sealed_at: None,
        },
        Case {
            name: "two events swapped",
            tamper: "UPDATE evscope_events SET global_position = -8 WHERE global_position = 8;\n\
                     UPDATE evscope_events SET global_position = 8 WHERE global_position = 9;\n\
                     UPDATE evscope_events SET global_position = 9 WHERE global_position = -8;"
                .into(),
            undo: "UPDATE evscope_events SET global_position = -8 WHERE global_position = 8;\n\
                   UPDATE evscope_events SET global_position = 8 WHERE global_position = 9;\n\
                   UPDATE evscope_events SET global_position = 9 WHERE global_position = -8;"
                .into(),
            kind: "moved",
            key: 8,
            fields: vec!["position"],
            sealed_at: Some(9),
        },
    ]
}

#[tokio::test]
async fn every_tampering_is_detected_and_named() {
    let dir = tempfile::tempdir().unwrap();
    for server in servers() {
        let db = store(server, "seal_tamper").await;
        seal(dir.path(), &db.url, "r.json", &["--to-position", "21"]);
        let (code, v, err) = verify(dir.path(), &db.url, "r.json", &[]);
        assert_eq!(code, 0, "{server:?}: {v} {err}");
        assert_eq!(v["status"], "unchanged");
        for c in cases(server) {
            db.exec(&c.tamper).await;
            let (code, v, err) = verify(dir.path(), &db.url, "r.json", &[]);
            let what = format!("{server:?}, {}: {v:#} {err}", c.name);
            assert_eq!(code, 1, "{what}");
            assert_eq!(v["status"], "changed", "{what}");
            let f = &v["first_difference"];
            assert_eq!(f["kind"], c.kind, "{what}");
            assert_eq!(f["key"], c.key, "{what}");
            let fields: Vec<&str> = f["fields"]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(fields, c.fields, "{what}");
            if let Some(s) = c.sealed_at {
                assert_eq!(f["sealed_at"], s, "{what}");
                // The other half of the swap differs too.
                assert_eq!(v["differing_after_first"], 1, "{what}");
            } else {
                assert_eq!(v["differing_after_first"], 0, "{what}");
            }
            // The table says it in words.
            let t = run(dir.path(), &db.url, &["verify-seal", "r.json", "--quiet"]);
            assert_eq!(t.code, 1);
            assert!(t.stdout.contains("first difference:"), "{}", t.stdout);
            db.exec(&c.undo).await;
        }
        let (code, v, err) = verify(dir.path(), &db.url, "r.json", &[]);
        assert_eq!(code, 0, "{server:?} after undoing everything: {v} {err}");
    }
}

#[tokio::test]
async fn receipts_edited_signed_by_another_key_or_from_another_store_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let any = servers()[0];
    let db = store(any, "seal_receipt").await;
    for k in ["k1", "k2"] {
        let r = run(d, &db.url, &["keygen", "--out", k]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_ne!(run(d, &db.url, &["keygen", "--out", "k1"]).code, 0, "kept");
    let receipt = seal(d, &db.url, "signed.json", &["--sign", "k1"]);
    assert_eq!(receipt["signature"]["algorithm"], "ed25519");
    let (code, v, _) = verify(d, &db.url, "signed.json", &["--key", "k1.pub"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["signed_by"].is_string());
    // Another key.
    let (code, _, err) = verify(d, &db.url, "signed.json", &["--key", "k2.pub"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another key"), "{err}");
    // Edited by hand: the count, then a member added.
    let text = std::fs::read_to_string(d.join("signed.json")).unwrap();
    std::fs::write(
        d.join("edited.json"),
        text.replacen("\"count\": 20", "\"count\": 19", 1),
    )
    .unwrap();
    let (code, _, err) = verify(d, &db.url, "edited.json", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad signature"), "{err}");
    std::fs::write(
        d.join("added.json"),
        text.replacen('{', "{\n  \"note\": \"fine\",", 1),
    )
    .unwrap();
    assert_eq!(verify(d, &db.url, "added.json", &[]).0, 2);
    // An unsigned receipt whose root was edited: its subtrees no longer give it; without
    // them (an earlier version's receipt), its digest file no longer matches it.
    let plain = seal(d, &db.url, "plain.json", &[]);
    let root = plain["root"].as_str().unwrap();
    let other = format!(
        "{}{}",
        if root.starts_with('0') { "1" } else { "0" },
        &root[1..]
    );
    let t = std::fs::read_to_string(d.join("plain.json")).unwrap();
    std::fs::write(d.join("plain.json"), t.replace(root, &other)).unwrap();
    let (code, _, err) = verify(d, &db.url, "plain.json", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("subtrees do not give its root"), "{err}");
    let mut old: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("plain.json")).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("subtrees");
    std::fs::write(d.join("plain.json"), old.to_string()).unwrap();
    let (code, _, err) = verify(d, &db.url, "plain.json", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("digest file"), "{err}");
    // An unsigned receipt when a key is required.
    seal(d, &db.url, "plain2.json", &[]);
    assert_eq!(verify(d, &db.url, "plain2.json", &["--key", "k1.pub"]).0, 2);
    // Against another database holding the same events.
    let twin = store(any, "seal_twin").await;
    let (code, _, err) = verify(d, &twin.url, "signed.json", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another store"), "{err}");
    if any != Server::Sqlite {
        // And against another kind of database.
        let lite = store(Server::Sqlite, "seal_lite").await;
        let (code, _, err) = verify(d, &lite.url, "signed.json", &[]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("database kind"), "{err}");
    }
}

#[tokio::test]
async fn a_chain_of_three_receipts_names_the_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    std::fs::create_dir(&chain).unwrap();
    for server in servers() {
        let db = store(server, "seal_chain").await;
        let sub = chain.join(format!("{server:?}"));
        std::fs::create_dir(&sub).unwrap();
        let (a, b, z) = (
            format!("chain/{server:?}/1.json"),
            format!("chain/{server:?}/2.json"),
            format!("chain/{server:?}/3.json"),
        );
        let r1 = seal(dir.path(), &db.url, &a, &["--to-position", "7"]);
        let r2 = seal(
            dir.path(),
            &db.url,
            &b,
            &["--after", &a, "--to-position", "15"],
        );
        let r3 = seal(dir.path(), &db.url, &z, &["--after", &b]);
        assert_eq!(r2["range"]["from_position"], 8);
        assert_eq!(r3["range"]["from_position"], 16);
        assert_eq!(r2["previous"]["root"], r1["root"]);
        assert_eq!(r3["previous"]["root"], r2["root"]);
        assert_eq!(
            r1["count"].as_u64().unwrap()
                + r2["count"].as_u64().unwrap()
                + r3["count"].as_u64().unwrap(),
            20
        );
        let dirarg = format!("chain/{server:?}");
        let ok = run(
            dir.path(),
            &db.url,
            &[
                "verify-seal",
                "--chain",
                &dirarg,
                "--format",
                "json",
                "--quiet",
            ],
        );
        assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
        // A change in the second range.
        db.exec("UPDATE evscope_events SET event_type = 'Forged' WHERE global_position = 12")
            .await;
        let bad = run(
            dir.path(),
            &db.url,
            &[
                "verify-seal",
                "--chain",
                &dirarg,
                "--format",
                "json",
                "--quiet",
            ],
        );
        assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
        let entries: Value = serde_json::from_str(&bad.stdout).unwrap();
        let status: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["report"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(status, ["unchanged", "changed", "unchanged"], "{server:?}");
        assert_eq!(entries[1]["report"]["first_difference"]["key"], 12);
        let links: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["link"].as_str().unwrap())
            .collect();
        assert_eq!(links, ["first", "ok", "ok"]);
        // A receipt of the chain replaced by another seal of the same range breaks the link.
        let kind = rows().iter().find(|r| r.pos == 12).unwrap().kind;
        db.exec(&format!(
            "UPDATE evscope_events SET event_type = '{kind}' WHERE global_position = 12"
        ))
        .await;
        let again = seal(
            dir.path(),
            &db.url,
            &a.replace(".json", "-x.json"),
            &["--to-position", "7"],
        );
        assert_eq!(again["root"], r1["root"]);
        std::fs::rename(
            dir.path().join(a.replace(".json", "-x.json")),
            dir.path().join(&a),
        )
        .unwrap();
        let broken = run(
            dir.path(),
            &db.url,
            &["verify-seal", "--chain", &dirarg, "--quiet"],
        );
        assert_eq!(broken.code, 2, "{}{}", broken.stdout, broken.stderr);
    }
}

#[tokio::test]
async fn jobs_give_the_single_job_root_for_every_range_size() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite: a bigger store, sizes around powers of two.
    let lite = gapped_store("seal_jobs").await;
    for to in [1, 2, 3, 4, 5, 16, 17, 33, 64, 65, 129, 255, 300] {
        let to_s = to.to_string();
        let one = root(dir.path(), &lite.url, &["--to-position", &to_s]);
        for jobs in ["2", "3", "4", "7"] {
            assert_eq!(
                root(
                    dir.path(),
                    &lite.url,
                    &["--to-position", &to_s, "--jobs", jobs]
                ),
                one,
                "to {to}, jobs {jobs}"
            );
        }
    }
    // A range starting later, and a category.
    let one = root(
        dir.path(),
        &lite.url,
        &["--from-position", "40", "--category", "s"],
    );
    assert_eq!(
        root(
            dir.path(),
            &lite.url,
            &["--from-position", "40", "--category", "s", "--jobs", "5"]
        ),
        one
    );
    // PostgreSQL: several connections, and a second URL of the same store.
    if available(Server::Postgres) {
        let pg = store(Server::Postgres, "seal_jobs_pg").await;
        let one = root(dir.path(), &pg.url, &[]);
        for jobs in ["2", "3", "6"] {
            assert_eq!(
                root(dir.path(), &pg.url, &["--jobs", jobs]),
                one,
                "jobs {jobs}"
            );
        }
        assert_eq!(
            root(dir.path(), &pg.url, &["--jobs", "2", "--job-db", &pg.url]),
            one
        );
        // Another store as a job's URL is refused.
        let other = store(Server::Postgres, "seal_jobs_other").await;
        let r = run(
            dir.path(),
            &pg.url,
            &["seal", "--jobs", "2", "--job-db", &other.url, "--quiet"],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        // verify-seal with jobs too.
        seal(dir.path(), &pg.url, "pg.json", &[]);
        assert_eq!(
            verify(dir.path(), &pg.url, "pg.json", &["--jobs", "3"]).0,
            0
        );
    }
    // --jobs on a range of one stream is refused with the reason.
    let r = run(
        dir.path(),
        &lite.url,
        &["seal", "--stream", "s-1", "--jobs", "2", "--quiet"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--jobs"), "{}", r.stderr);
}

#[tokio::test]
async fn proofs_hold_without_a_database_and_fail_when_edited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let any = servers()[0];
    let db = store(any, "seal_proof").await;
    let r = run(d, &db.url, &["keygen", "--out", "k"]);
    assert_eq!(r.code, 0);
    seal(d, &db.url, "r.json", &["--sign", "k"]);
    for (event, pos) in [
        ("4", 4),
        ("00000000-0000-4000-8000-000000000013", 13),
        ("21", 21),
    ] {
        let p = run(d, &db.url, &["prove", event, "--receipt", "r.json"]);
        assert_eq!(p.code, 0, "{}", p.stderr);
        std::fs::write(d.join("proof.json"), &p.stdout).unwrap();
        let proof: Value = serde_json::from_str(&p.stdout).unwrap();
        assert_eq!(proof["key"], pos);
        // No database: check-proof is given none.
        let c = run(
            d,
            "sqlite:///nonexistent.db",
            &[
                "check-proof",
                "proof.json",
                "--receipt",
                "r.json",
                "--key",
                "k.pub",
                "--format",
                "json",
            ],
        );
        assert_eq!(c.code, 0, "{}{}", c.stdout, c.stderr);
        let checked: Value = serde_json::from_str(&c.stdout).unwrap();
        assert_eq!(checked["valid"], true);
        assert_eq!(checked["event"]["position"], pos);
        // One digit of the event changed.
        let ev = proof["event"].as_str().unwrap();
        let forged = ev.replacen(&format!("\"a\":{pos}"), &format!("\"a\":{}", pos + 1), 1);
        assert_ne!(forged, ev);
        let mut bad = proof.clone();
        bad["event"] = Value::String(forged);
        std::fs::write(d.join("bad.json"), bad.to_string()).unwrap();
        let c = run(
            d,
            &db.url,
            &["check-proof", "bad.json", "--receipt", "r.json"],
        );
        assert_eq!(c.code, 1, "{}", c.stderr);
        assert!(c.stderr.contains("invalid proof"), "{}", c.stderr);
    }
    // A proof against another receipt.
    seal(d, &db.url, "short.json", &["--to-position", "9"]);
    let c = run(
        d,
        &db.url,
        &["check-proof", "proof.json", "--receipt", "short.json"],
    );
    assert_eq!(c.code, 1, "{}", c.stderr);
    // An event not in the range, and a changed one.
    assert_eq!(
        run(d, &db.url, &["prove", "11", "--receipt", "r.json"]).code,
        1
    );
    db.exec("UPDATE evscope_events SET event_type = 'Forged' WHERE global_position = 4")
        .await;
    let p = run(d, &db.url, &["prove", "4", "--receipt", "r.json"]);
    assert_eq!(p.code, 1, "{}", p.stderr);
    assert!(p.stderr.contains("changed since the seal"), "{}", p.stderr);
}

#[tokio::test]
async fn rows_with_invalid_json_are_hashed_raw_flagged_and_still_verified() {
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Sqlite, "seal_raw").await;
    db.load(ddl(Server::Sqlite)).await;
    db.exec(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) VALUES \
         (1, 'a-1', 1, 'e1', 'T', '{\"ok\": 1}', NULL, '2026-01-01T00:00:00Z'), \
         (2, 'a-1', 2, 'e2', 'T', '{not json', '{\"m\": 1e400}', '2026-01-01T00:00:01Z'), \
         (3, 'a-1', 3, 'e3', 'T', '\"{not json\"', NULL, '2026-01-01T00:00:02Z');",
    )
    .await;
    let r = seal(dir.path(), &db.url, "r.json", &[]);
    assert_eq!(r["raw_rows"], 1);
    assert_eq!(r["count"], 3);
    assert_eq!(verify(dir.path(), &db.url, "r.json", &[]).0, 0);
    let t = run(dir.path(), &db.url, &["seal", "--out", "t.json", "--quiet"]);
    assert!(t.stdout.contains("not valid"), "{}", t.stdout);
    // The raw text is what is sealed: one more character is a change.
    db.exec("UPDATE evscope_events SET data = '{not json!' WHERE global_position = 2")
        .await;
    let (code, v, _) = verify(dir.path(), &db.url, "r.json", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["first_difference"]["fields"], serde_json::json!(["data"]));
    // An exact number (1e400, which no double holds) is sealed as written: 1e401 differs.
    db.exec("UPDATE evscope_events SET data = '{not json', metadata = '{\"m\": 1e401}' WHERE global_position = 2").await;
    let (code, v, _) = verify(dir.path(), &db.url, "r.json", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        v["first_difference"]["fields"],
        serde_json::json!(["metadata"])
    );
}

/// A receipt copied without its digest file: an unchanged range still verifies, and a
/// changed one is still reported changed (exit 1), saying that which event cannot be named
/// without the file — not an error about a missing file.
#[tokio::test]
async fn a_receipt_without_its_digest_file_still_tells_changed_from_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(Server::Sqlite, "seal_nodigests").await;
    seal(dir.path(), &db.url, "r.json", &[]);
    let digests: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".digests"))
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    std::fs::remove_file(&digests[0]).unwrap();
    let (code, v, err) = verify(dir.path(), &db.url, "r.json", &[]);
    assert_eq!(code, 0, "{v} {err}");
    db.exec("UPDATE evscope_events SET event_type = 'Other' WHERE global_position = 3")
        .await;
    let (code, v, err) = verify(dir.path(), &db.url, "r.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["status"], "changed", "{v}");
    assert!(v["note"].as_str().unwrap().contains("is not there"), "{v}");
    assert!(v["first_difference"].is_null(), "{v}");
}

/// A layout without a global position is sealed keyed by each event's index in the range, so
/// a deleted or inserted event shifts every index after it: verify still names it as missing
/// or inserted (not as "moved"), with nothing after it differing, and a change as a change.
/// A seal of one stream (`--stream`) is keyed by the stream's versions: a change there is
/// named by version, a deleted version is missing and the rest stays aligned; another
/// stream's events are not in it, and a version appended after the seal leaves the sealed
/// history unchanged.
#[tokio::test]
async fn a_stream_seal_is_keyed_by_version_and_names_what_changed_in_it() {
    let all = rows();
    let row = |p: i64| all.iter().find(|r| r.pos == p).unwrap();
    // account-1001 holds positions 3, 6, 9 … 21 as versions 1 … 7.
    assert_eq!(
        (row(6).stream.as_str(), row(6).version),
        ("account-1001", 2)
    );
    assert_eq!(
        (row(9).stream.as_str(), row(9).version),
        ("account-1001", 3)
    );
    for server in servers() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(server, "seal_stream").await;
        let r = seal(dir.path(), &db.url, "s.json", &["--stream", "account-1001"]);
        assert_eq!(r["count"], 7, "{server:?}: {r:#}");
        let check = |want: i32| {
            let (code, v, err) = verify(dir.path(), &db.url, "s.json", &[]);
            assert_eq!(code, want, "{server:?}: {v:#} {err}");
            v
        };
        check(0);
        // Another stream's event changed: not part of this seal.
        db.exec("UPDATE evscope_events SET event_type = 'Other' WHERE global_position = 4")
            .await;
        assert_eq!(check(0)["status"], "unchanged");
        // Version 2's type changed: named by its version.
        db.exec("UPDATE evscope_events SET event_type = 'Changed' WHERE global_position = 6")
            .await;
        let v = check(1);
        let f = &v["first_difference"];
        assert_eq!(
            (&f["kind"], &f["key"], &f["fields"]),
            (&"changed".into(), &2.into(), &serde_json::json!(["type"])),
            "{server:?}: {v:#}"
        );
        db.exec(&format!(
            "UPDATE evscope_events SET event_type = '{}' WHERE global_position = 6",
            row(6).kind
        ))
        .await;
        check(0);
        // Version 3 deleted: missing at version 3, the versions after it still match.
        db.exec("DELETE FROM evscope_events WHERE global_position = 9")
            .await;
        let v = check(1);
        let f = &v["first_difference"];
        assert_eq!(
            (&f["kind"], &f["key"]),
            (&"missing".into(), &3.into()),
            "{server:?}: {v:#}"
        );
        assert_eq!(v["differing_after_first"], 0, "{server:?}: {v:#}");
        db.exec(&insert_sql(server, row(9))).await;
        check(0);
        // A version appended after the seal: the sealed history is intact.
        let appended = Row {
            pos: 22,
            stream: "account-1001".into(),
            version: 8,
            id: "00000000-0000-4000-8000-000000000022".into(),
            kind: "Deposited",
            data: r#"{"amount": 5}"#.into(),
            metadata: None,
            time: "2026-01-05 10:59:00.000000".into(),
        };
        db.exec(&insert_sql(server, &appended)).await;
        assert_eq!(check(0)["status"], "unchanged");
    }
}

#[tokio::test]
async fn a_range_keyed_by_index_names_a_deletion_and_an_insertion() {
    let cases = [
        (
            "DELETE FROM events WHERE event_id = '00000000-0000-4000-8000-000000000005'",
            "missing",
            4,
        ),
        (
            "INSERT INTO events VALUES ('00000000-0000-4000-8000-000000000099', 'account-1001', 'Deposited', 9, '{\"amount\":1}', '2026-01-05 10:02:30')",
            "inserted",
            2,
        ),
        (
            "UPDATE events SET payload = '{\"amount\":1001}' WHERE event_id = '00000000-0000-4000-8000-000000000002'",
            "changed",
            1,
        ),
    ];
    for (tamper, kind, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = TempDb::create(Server::Sqlite, "seal_index").await;
        db.load("classic/sqlite.sql").await;
        seal(dir.path(), &db.url, "r.json", &[]);
        db.exec(tamper).await;
        let (code, v, err) = verify(dir.path(), &db.url, "r.json", &[]);
        assert_eq!(code, 1, "{kind}: {v} {err}");
        let f = &v["first_difference"];
        assert_eq!(f["kind"], kind, "{v:#}");
        assert_eq!(f["key"], key, "{v:#}");
        assert_eq!(
            v["differing_after_first"], 0,
            "{kind}: the rest is aligned: {v:#}"
        );
    }
}

/// A seal reads each event's data and metadata as their stored text and writes them in JCS
/// form without building values (see `Store::keeping_json_text`): on every database, each
/// event hashes exactly as the same event read the usual way, including rows the fast writer
/// leaves to the full reading (not JSON, a repeated or escaped key, deep nesting, numbers no
/// double holds); and parsing such an event afterwards gives the event read the usual way.
#[tokio::test]
async fn events_read_as_text_hash_as_events_read_as_values() {
    use evscope::seal::canonical::Canonical;
    use evscope::store::{LogQuery, OpenOptions, Store};
    for server in servers() {
        let db = store(server, "seal_text").await;
        if server == Server::Sqlite {
            // Text columns take what the JSON types refuse or rewrite.
            db.exec(&format!(
                "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) VALUES \
                 (30, 'h-1', 1, 'h1', 'T', '{{not json', '{{\"a\": 1, \"a\": 2}}', '2026-01-01T00:00:00Z'), \
                 (31, 'h-1', 2, 'h2', 'T', '{{\"\\u0062\": 1, \"a\": {{\"y\": 1, \"x\": 2}}}}', '[1e400, -0, 0.10, \"\\ud83d\\ude00\\n\"]', '2026-01-01T00:00:01Z'), \
                 (32, 'h-1', 3, 'h3', 'T', '{}', '{{\"\u{e000}\": 1, \"\u{1F600}\": 2, \"\": 3}}', '2026-01-01T00:00:02Z'), \
                 (33, 'h-1', 4, 'h4', 'T', '  \"x\"  ', NULL, '2026-01-01T00:00:03Z');",
                "[".repeat(150) + "1" + &"]".repeat(150),
            ))
            .await;
        }
        let opts = OpenOptions {
            url: db.url.clone(),
            ..Default::default()
        };
        let plain = Store::open(&opts).await.unwrap();
        let text = plain.keeping_json_text();
        let q = LogQuery {
            limit: 1000,
            ..Default::default()
        };
        let (a, b) = (
            plain.read_log(&q).await.unwrap(),
            text.read_log(&q).await.unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{server:?}");
        assert!(a.len() >= 20, "{server:?}");
        assert!(
            b.iter()
                .all(|e| e.unparsed(0).is_some() || e.problems.len() == 1),
            "{server:?}: the data is kept as text"
        );
        for (p, t) in a.iter().zip(&b) {
            assert_eq!(
                String::from_utf8_lossy(Canonical::of(t).as_bytes()),
                String::from_utf8_lossy(Canonical::of(p).as_bytes()),
                "{server:?} {}",
                p.describe()
            );
            assert_eq!(Canonical::of(t).has_raw(), Canonical::of(p).has_raw());
            let mut t = t.clone();
            t.parse_json();
            assert_eq!(t.unparsed(0), None);
            let problems = |e: &evscope::store::Event| {
                let mut v: Vec<String> = e.problems.iter().map(|p| p.text.clone()).collect();
                v.sort();
                v
            };
            assert_eq!(problems(&t), problems(p), "{server:?} {}", p.describe());
            t.problems = p.problems.clone();
            assert_eq!(&t, p, "{server:?}");
        }
    }
}

/// An auditor verifies a copy of the sealed store (a restored backup, a copied SQLite file):
/// without `--copy` it is another store (exit 2, with the hint); with it, the copy is
/// verified — unchanged, or changed and named — and the report says it was a copy. A store of
/// another layout is no copy even so.
#[tokio::test]
async fn a_copy_of_the_sealed_store_is_verified_with_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(Server::Sqlite, "seal_copy").await;
    seal(dir.path(), &db.url, "r.json", &["--to-position", "21"]);
    let original = db
        .url
        .strip_prefix("sqlite://")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let copy = dir.path().join("restored.db");
    std::fs::copy(&original, &copy).unwrap();
    let copy_url = format!("sqlite://{}", copy.display());
    let (code, v, err) = verify(dir.path(), &copy_url, "r.json", &[]);
    assert_eq!(code, 2, "{v} {err}");
    assert!(
        err.contains("another store") && err.contains("--copy"),
        "{err}"
    );
    let (code, v, err) = verify(dir.path(), &copy_url, "r.json", &["--copy"]);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["status"], "unchanged");
    assert!(
        v["copy_of"]
            .as_str()
            .is_some_and(|c| c.contains("verified as a copy of the store sealed on")),
        "{v:#}"
    );
    let t = run(
        dir.path(),
        &copy_url,
        &["verify-seal", "r.json", "--copy", "--quiet"],
    );
    assert!(t.stdout.contains("verified as a copy"), "{}", t.stdout);
    // The sealed store itself is no copy of itself: no note.
    let (code, v, _) = verify(dir.path(), &db.url, "r.json", &["--copy"]);
    assert_eq!((code, v.get("copy_of")), (0, None), "{v:#}");
    // A change in the copy is found and named.
    let c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("{copy_url}?mode=rw"));
    let mut c = c.await.unwrap();
    sqlx::query("UPDATE evscope_events SET event_type = 'Forged' WHERE global_position = 7")
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    let (code, v, err) = verify(dir.path(), &copy_url, "r.json", &["--copy"]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["first_difference"]["key"], 7, "{v:#}");
    // A store of another layout is not a copy.
    let other = TempDb::create(Server::Sqlite, "seal_copy_other").await;
    other.load("classic/sqlite.sql").await;
    let (code, _, err) = verify(dir.path(), &other.url, "r.json", &["--copy"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a copy of the sealed one"), "{err}");
}

/// A SQLite native store of positions 1..=300 without the multiples of 17 (282 events).
async fn gapped_store(tag: &str) -> TempDb {
    let lite = TempDb::create(Server::Sqlite, tag).await;
    lite.load(ddl(Server::Sqlite)).await;
    let mut sql = String::from("BEGIN;\n");
    for p in (1..=300i64).filter(|p| p % 17 != 0) {
        sql.push_str(&format!(
            "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) VALUES ({p}, 's-{}', {p}, 'id-{p}', 'T', '{{\"n\": {p}}}', NULL, '2026-01-01T00:00:00Z');\n",
            p % 7
        ));
    }
    sql.push_str("COMMIT;\n");
    lite.exec(&sql).await;
    lite
}

/// A receipt records the roots of its tree's aligned subtrees (the same for any --jobs), and
/// verify-seal goes down to the first that differs: the report says which events of the range
/// it covers even when the digest file is gone, and with the file names the event. A receipt
/// whose subtrees were edited is refused; one without them (an earlier version's) verifies.
#[tokio::test]
async fn the_receipts_subtrees_say_where_a_change_lies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = gapped_store("seal_subtrees").await;
    let one = seal(d, &db.url, "r.json", &[]);
    let three = seal(d, &db.url, "r3.json", &["--jobs", "3"]);
    assert_eq!(one["count"], 283);
    // 283 events: the lowest level with at most 64 subtrees is 8 events each (36 of them).
    assert_eq!(one["subtrees"]["leaves"], 8, "{one}");
    assert_eq!(one["subtrees"]["roots"].as_array().unwrap().len(), 36);
    assert_eq!(one["subtrees"], three["subtrees"]);
    let (code, v, err) = verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 0, "{v} {err}");
    assert!(v.get("subtrees").is_none(), "{v}");

    // Position 150 is event 142 of the range (8 gaps before it): subtree #17, events
    // 137–144, positions 145–152.
    db.exec("UPDATE evscope_events SET data = '{\"n\": 151}' WHERE global_position = 150")
        .await;
    for receipt in ["r.json", "r3.json"] {
        for jobs in ["1", "2"] {
            let (code, v, err) = verify(d, &db.url, receipt, &["--jobs", jobs]);
            assert_eq!(code, 1, "{v} {err}");
            assert_eq!(v["first_difference"]["key"], 150, "{v}");
            assert_eq!(v["differing"], 1, "{v}");
            let t = &v["subtrees"];
            assert_eq!(t["events_each"], 8, "{v}");
            assert_eq!(
                (t["sealed"].clone(), t["differing"].clone()),
                (36.into(), 1.into())
            );
            assert_eq!(t["first"], 17, "{v}");
            assert_eq!(t["first_events"], serde_json::json!([136, 144]), "{v}");
            assert_eq!(t["first_keys_now"], serde_json::json!([145, 152]), "{v}");
        }
    }
    let table = run(d, &db.url, &["verify-seal", "r.json", "--quiet"]);
    assert_eq!(table.code, 1);
    assert!(
        table.stdout.contains(
            "subtrees of 8 events: 1 of 36 differ; the first is #17, events 137–144 of the range (positions 145–152 now)"
        ),
        "{}",
        table.stdout
    );

    // Without the digest file the subtree is still named.
    std::fs::copy(d.join("r.json"), d.join("bare.json")).unwrap();
    let mut bare: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    bare["digests"] = Value::String("gone.digests".into());
    std::fs::write(d.join("bare.json"), bare.to_string()).unwrap();
    let (code, v, err) = verify(d, &db.url, "bare.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert!(v["first_difference"].is_null(), "{v}");
    assert_eq!(v["subtrees"]["first"], 17, "{v}");
    assert_eq!(
        v["subtrees"]["first_keys_now"],
        serde_json::json!([145, 152]),
        "{v}"
    );

    // Subtrees edited by hand: refused (exit 2), whatever the rest says.
    let mut edited = bare.clone();
    edited["subtrees"]["roots"][3] = edited["subtrees"]["roots"][4].clone();
    std::fs::write(d.join("edited.json"), edited.to_string()).unwrap();
    let (code, v, err) = verify(d, &db.url, "edited.json", &[]);
    assert_eq!(code, 2, "{v} {err}");
    assert!(err.contains("subtrees"), "{err}");
    let mut short = bare.clone();
    short["subtrees"]["roots"].as_array_mut().unwrap().pop();
    std::fs::write(d.join("short.json"), short.to_string()).unwrap();
    assert_eq!(verify(d, &db.url, "short.json", &[]).0, 2);

    // A receipt of an earlier version (no subtrees): still changed, nothing said of subtrees.
    let mut old = bare.clone();
    old.as_object_mut().unwrap().remove("subtrees");
    std::fs::write(d.join("old.json"), old.to_string()).unwrap();
    let (code, v, err) = verify(d, &db.url, "old.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert!(v.get("subtrees").is_none(), "{v}");

    // A deleted event (position 20: event 19, subtree #2) shifts every subtree after it.
    db.exec("UPDATE evscope_events SET data = '{\"n\": 150}' WHERE global_position = 150")
        .await;
    db.exec("DELETE FROM evscope_events WHERE global_position = 20")
        .await;
    let (code, v, err) = verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["first_difference"]["key"], 20, "{v}");
    assert_eq!(v["first_difference"]["kind"], "missing", "{v}");
    assert_eq!(v["subtrees"]["first"], 2, "{v}");
    assert_eq!(v["subtrees"]["differing"], 34, "{v}");
}

/// With a receipt's subtrees, verify-seal reads the digest file only from the first subtree
/// that differs, checking each subtree it reads against the receipt: an edited record there
/// makes the file not the receipt's (exit 2); one in a subtree before it is never read, and
/// the change is still named. A receipt without subtrees checks the whole file first.
#[tokio::test]
async fn the_digest_file_is_checked_subtree_by_subtree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = gapped_store("seal_digest_subtrees").await;
    seal(d, &db.url, "r.json", &[]);
    let digests = d.join("r.json.digests");
    let pristine = std::fs::read(&digests).unwrap();
    // One bit of record `i`'s leaf hash flipped.
    let edit = |i: usize| {
        let mut b = pristine.clone();
        b[8 + i * 72 + 8] ^= 1;
        std::fs::write(&digests, b).unwrap();
    };
    // Position 150 is event 141 (from 0): subtree #17 of 8 events.
    db.exec("UPDATE evscope_events SET data = '{\"n\": 151}' WHERE global_position = 150")
        .await;
    let (code, v, err) = verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["first_difference"]["key"], 150, "{v}");
    // A record after the change (subtree #20), and one in the changed subtree itself.
    for i in [165, 141, 282] {
        edit(i);
        let (code, v, err) = verify(d, &db.url, "r.json", &[]);
        assert_eq!(code, 2, "record {i}: {v} {err}");
        assert!(err.contains("not this receipt's digest file"), "{err}");
    }
    // A record before it (subtree #3): not read, the change still named.
    edit(30);
    let (code, v, err) = verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["first_difference"]["key"], 150, "{v}");
    assert_eq!(
        v["first_difference"]["fields"],
        serde_json::json!(["data"]),
        "{v}"
    );
    // Without subtrees in the receipt, the whole file is checked: the same edit is refused.
    let mut old: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("subtrees");
    old["digests"] = Value::String("r.json.digests".into());
    std::fs::write(d.join("old.json"), old.to_string()).unwrap();
    let (code, _, err) = verify(d, &db.url, "old.json", &[]);
    assert_eq!(code, 2, "{err}");
    std::fs::write(&digests, &pristine).unwrap();
    assert_eq!(verify(d, &db.url, "old.json", &[]).0, 1);
    // Two events swapped: named as moved (the search for where it was sealed reads the
    // file from its first subtree, each checked).
    db.exec("UPDATE evscope_events SET data = '{\"n\": 150}' WHERE global_position = 150")
        .await;
    db.exec(
        "UPDATE evscope_events SET global_position = -200 WHERE global_position = 200;\n\
         UPDATE evscope_events SET global_position = 200 WHERE global_position = 201;\n\
         UPDATE evscope_events SET global_position = 201 WHERE global_position = -200;",
    )
    .await;
    let (code, v, err) = verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["first_difference"]["kind"], "moved", "{v}");
    assert_eq!(v["first_difference"]["key"], 200, "{v}");
    assert_eq!(v["first_difference"]["sealed_at"], 201, "{v}");
    assert_eq!(v["subtrees"]["differing"], 1, "{v}");
    edit(20);
    let (code, v, err) = verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 2, "the moved search reads subtree #2: {v} {err}");
}
