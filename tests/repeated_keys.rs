//! JSON whose object repeats a key — valid to MariaDB's and SQLite's JSON functions, which
//! read the first; PostgreSQL's `jsonb` keeps only the last when it stores it — is read as the
//! database's JSON functions read it (the first), flagged on the event and by the audit, gives
//! the same results with a filter pushed down or not, and is sealed as stored: changing the
//! member evscope does not show is still caught by verify-seal.

mod common;

use common::{Server, TempDb, available, evscope, seal};

const ID: &str = "00000000-0000-4000-8000-0000000000";

async fn store(server: Server) -> TempDb {
    let db = TempDb::create(server, "repeated").await;
    db.load(match server {
        Server::MariaDb => "native/mysql.sql",
        _ => "native/sqlite.sql",
    })
    .await;
    let rows = [
        ("dup-1", 1, r#"{"owner": {"name": "Bob", "name": "Ana"}}"#),
        ("dup-1", 2, r#"{"owner": {"name": "Ana"}}"#),
    ];
    let mut sql = String::new();
    for (i, (stream, version, data)) in rows.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES ('{stream}', {version}, '{ID}{:02x}', 'Named', '{data}');\n",
            i + 1
        ));
    }
    db.exec(&sql).await;
    db
}

fn lines(dir: &std::path::Path, db: &str, args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = evscope(dir).args(["--db", db]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    (out.status.code().unwrap_or(-1), common::jsonl(&text))
}

async fn repeated_keys(server: Server) {
    if !available(server) {
        return;
    }
    let db = store(server).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, events) = lines(d, &db.url, &["log", "--format", "jsonl"]);
    assert_eq!(code, 0);
    assert_eq!(events.len(), 2, "{server:?}: {events:?}");
    assert_eq!(
        events[0]["data"],
        serde_json::json!({"owner": {"name": "Bob"}})
    );
    let problems = events[0]["problems"].as_array().unwrap();
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with(r#"data repeats the key "name" in one object: the first is read"#),
        "{server:?}: {problems:?}"
    );
    assert!(events[1].get("problems").is_none(), "{:?}", events[1]);
    // jq sees what evscope shows, and the database compares the same member: pushed or not,
    // "Ana" is only the second event, "Bob" only the first.
    for (name, want) in [("Ana", 2), ("Bob", 1)] {
        let program = format!(r#".data.owner.name == "{name}""#);
        for p in [program.clone(), format!("({program}) | .")] {
            let (code, found) = lines(
                d,
                &db.url,
                &["log", "--format", "jsonl", "--where", &format!("| {p}")],
            );
            assert_eq!(code, 0, "{server:?}: {p}");
            let versions: Vec<_> = found.iter().map(|e| e["stream_version"].clone()).collect();
            assert_eq!(versions, [serde_json::json!(want)], "{server:?}: {p}");
        }
    }
    // The audit names it.
    let (_, findings) = lines(d, &db.url, &["audit", "--format", "jsonl"]);
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "repeated_key" && f["stream_version"] == 1),
        "{server:?}: {findings:?}"
    );
    // Sealed as stored: the member evscope does not show is in the seal.
    let receipt = seal::seal(d, &db.url, "r.json", &[]);
    assert_eq!(receipt["count"], 2, "{receipt}");
    let (code, _, err) = seal::verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 0, "{err}");
    db.exec(&format!(
        r#"UPDATE evscope_events SET data = '{{"owner": {{"name": "Bob", "name": "Eve"}}}}' WHERE event_id = '{ID}01';"#
    ))
    .await;
    let (_, shown) = lines(d, &db.url, &["log", "--format", "jsonl"]);
    assert_eq!(
        shown[0]["data"], events[0]["data"],
        "evscope shows no change"
    );
    let (code, report, err) = seal::verify(d, &db.url, "r.json", &[]);
    assert_eq!(code, 1, "{server:?}: {report} {err}");
    assert!(report.to_string().contains("changed"), "{report}");
}

#[tokio::test]
async fn repeated_keys_on_mariadb() {
    repeated_keys(Server::MariaDb).await;
}

#[tokio::test]
async fn repeated_keys_on_sqlite() {
    repeated_keys(Server::Sqlite).await;
}
