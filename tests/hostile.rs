//! Hostile but valid rows (issue 17, items 4, 8 and 10 with the cases that already held):
//! on each database, the fixture `fixtures/hostile/*.sql` (loaded after the native DDL, with a
//! mapped table for what the native types refuse) holds times that are no time (PostgreSQL's
//! infinities and year 294276, MariaDB's zero date), NULL data, data that is not JSON, JSON
//! nested 200 and 100,000 levels deep, stream ids that are not valid UTF-8, a 65,536-character
//! type, escape sequences in a stream id and in data, and numbers an `f64` cannot hold, among
//! ordinary events. Every reading command runs over it in every format: nothing panics, every
//! row is there, each hostile row is flagged in `problems` (and by the audit, by kind) and no
//! other is, a replay to JSONL is `log --format jsonl` byte for byte, and no table holds a raw
//! escape byte.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{Server, TempDb, available, evscope, fixture_path};
use serde_json::Value;

/// One store over the fixture: the native tables (detected) or the mapped one.
struct Case {
    name: &'static str,
    /// `--db URL` and, for the mapped table, `--mapping FILE`.
    args: Vec<String>,
    /// The rows the fixture inserted.
    rows: usize,
    /// Position → (audit kind, text its problem holds); every other row has none.
    flagged: BTreeMap<i64, (&'static str, &'static str)>,
    /// Positions whose data reads as JSON nested 200 levels deep.
    deep_200: Vec<i64>,
    /// The position of the row with numbers an `f64` cannot hold.
    exact: i64,
    snapshots: bool,
}

const UTF8_FF: (&str, &str) = (
    "invalid_utf8",
    "stream_id is not valid UTF-8 (bytes 62 61 64 ff 2d 31)",
);
const NULL: (&str, &str) = ("null_data", "data is NULL");
const NOT_JSON: (&str, &str) = ("invalid_json", "data is not valid JSON");
const TOO_DEEP: (&str, &str) = ("json_too_deep", "data is JSON nested 100000 levels deep");

fn cases(server: Server, db: &TempDb) -> Vec<Case> {
    let native = vec!["--db".to_string(), db.url.clone()];
    let mut mapped = native.clone();
    let file = match server {
        Server::Postgres => "hostile/postgres.toml",
        Server::MariaDb => "hostile/mysql.toml",
        Server::Sqlite => "hostile/sqlite.toml",
    };
    mapped.extend([
        "--mapping".to_string(),
        fixture_path(file).display().to_string(),
    ]);
    let time = |held: &'static str| ("invalid_time", held);
    match server {
        Server::Postgres => vec![
            Case {
                name: "postgres native",
                args: native,
                rows: 9,
                flagged: BTreeMap::from([
                    (2, time("recorded_at holds \"infinity\"")),
                    (3, time("recorded_at holds \"-infinity\"")),
                    (
                        4,
                        time("recorded_at holds \"294276-12-31T23:59:59.999999Z\""),
                    ),
                ]),
                deep_200: vec![5],
                exact: 8,
                snapshots: true,
            },
            Case {
                name: "postgres mapped",
                args: mapped,
                rows: 11,
                flagged: BTreeMap::from([
                    (2, NULL),
                    (3, NOT_JSON),
                    (4, NOT_JSON),
                    (5, TOO_DEEP),
                    (6, UTF8_FF),
                    (7, UTF8_FF),
                    (10, time("recorded_at holds \"infinity\"")),
                ]),
                deep_200: vec![9],
                exact: 8,
                snapshots: false,
            },
        ],
        Server::MariaDb => vec![
            Case {
                name: "mariadb native",
                args: native,
                rows: 6,
                flagged: BTreeMap::from([
                    (2, time("recorded_at holds \"0000-00-00 00:00:00\"")),
                    (3, time("recorded_at holds \"2026-00-10 00:00:00\"")),
                ]),
                deep_200: vec![],
                exact: 5,
                snapshots: true,
            },
            Case {
                name: "mariadb mapped",
                args: mapped,
                rows: 12,
                flagged: BTreeMap::from([
                    (2, NULL),
                    (3, NOT_JSON),
                    (4, NOT_JSON),
                    (5, TOO_DEEP),
                    (6, UTF8_FF),
                    (7, UTF8_FF),
                    (10, time("recorded_at holds \"0000-00-00 00:00:00\"")),
                ]),
                deep_200: vec![9],
                exact: 8,
                snapshots: false,
            },
        ],
        Server::Sqlite => vec![
            Case {
                name: "sqlite native",
                args: native,
                rows: 13,
                flagged: BTreeMap::from([
                    (2, time("recorded_at \"infinity\" is not a readable time")),
                    (4, TOO_DEEP),
                    (7, NOT_JSON),
                    (8, NOT_JSON),
                    (9, UTF8_FF),
                    (10, UTF8_FF),
                    (
                        11,
                        (
                            "invalid_utf8",
                            "stream_id is not valid UTF-8 (bytes 62 61 64 fe 2d 32)",
                        ),
                    ),
                ]),
                deep_200: vec![3],
                exact: 12,
                snapshots: true,
            },
            Case {
                name: "sqlite mapped",
                args: mapped,
                rows: 4,
                flagged: BTreeMap::from([(2, NULL), (3, UTF8_FF)]),
                deep_200: vec![],
                exact: 0,
                snapshots: false,
            },
        ],
    }
}

/// Run evscope; it must end by itself with one of `codes`, never a panic (exit 101, a panic
/// message, a stack overflow) or a signal. Table output (and stderr) holds no ESC byte.
fn run(dir: &Path, case: &Case, args: &[&str], codes: &[i32]) -> String {
    let mut all: Vec<&str> = case.args.iter().map(String::as_str).collect();
    all.extend(args);
    let out = evscope(dir).args(&all).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!("{}: evscope {}", case.name, args.join(" "));
    assert!(
        !stderr.contains("panicked") && !stderr.contains("overflowed its stack"),
        "{what}: {stderr}"
    );
    match out.status.code() {
        Some(c) if codes.contains(&c) => {}
        c => panic!("{what}: exit {c:?}, wanted one of {codes:?}: {stderr}"),
    }
    let table = !args.contains(&"json") && !args.contains(&"jsonl");
    assert!(
        !(table && out.stdout.contains(&0x1b)),
        "{what}: a raw ESC in the table"
    );
    assert!(!stderr.contains('\u{1b}'), "{what}: a raw ESC on stderr");
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{what}: output not UTF-8: {e}"))
}

/// JSON lines as evscope reads JSON (numbers beyond an `f64` are valid, nesting deeper than
/// 128 levels too).
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            evscope::exact::parse_deep(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
                .0
        })
        .collect()
}

fn problems(v: &Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn check(dir: &Path, case: &Case) {
    const FORMATS: [&str; 3] = ["table", "json", "jsonl"];
    // The log: every row, each hostile row flagged as it should be and no other.
    let log = run(
        dir,
        case,
        &["log", "--limit", "1000", "--format", "jsonl"],
        &[0],
    );
    let events = lines(&log);
    assert_eq!(events.len(), case.rows, "{}: rows in the log", case.name);
    for e in &events {
        let pos = e["global_position"].as_i64().unwrap();
        let got = problems(e);
        match case.flagged.get(&pos) {
            Some((_, want)) => assert!(
                got.iter().any(|p| p.contains(want)),
                "{} position {pos}: {want:?} not in {got:?}",
                case.name
            ),
            None => assert!(got.is_empty(), "{} position {pos}: {got:?}", case.name),
        }
    }
    let at = |pos: i64| {
        events
            .iter()
            .find(|e| e["global_position"] == pos)
            .unwrap_or_else(|| panic!("{}: no position {pos}", case.name))
    };
    for &pos in &case.deep_200 {
        let mut v = &at(pos)["data"];
        let mut depth = 0;
        while let Some(inner) = v.as_array().and_then(|a| a.first()).or(v.get("a")) {
            depth += 1;
            v = inner;
        }
        assert_eq!(depth, 199, "{} position {pos}: read as JSON", case.name);
    }
    if case.exact > 0 {
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("{{\"global_position\":{},", case.exact)))
            .unwrap();
        assert!(
            line.contains(r#""amount":123456789012345678901234567890.123456789"#),
            "{}: {line}",
            case.name
        );
    }
    for f in FORMATS {
        run(dir, case, &["log", "--limit", "1000", "--format", f], &[0]);
        run(dir, case, &["info", "--format", f], &[0]);
    }

    // The stream list: every stream of the log, the ones not valid UTF-8 flagged.
    let ids: BTreeSet<String> = events
        .iter()
        .map(|e| e["stream_id"].as_str().unwrap().to_string())
        .collect();
    let streams = lines(&run(
        dir,
        case,
        &["streams", "--limit", "1000", "--format", "jsonl"],
        &[0],
    ));
    let listed: BTreeSet<String> = streams
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ids, "{}: the stream list", case.name);
    for s in &streams {
        let id = s["stream_id"].as_str().unwrap();
        let bad_utf8 = events
            .iter()
            .filter(|e| e["stream_id"] == id)
            .any(|e| problems(e).iter().any(|p| p.starts_with("stream_id ")));
        assert_eq!(
            problems(s)
                .iter()
                .any(|p| p.starts_with("stream_id is not valid UTF-8")),
            bad_utf8,
            "{}: stream {id:?}: {s}",
            case.name
        );
        let count = events.iter().filter(|e| e["stream_id"] == id).count();
        assert_eq!(s["event_count"], count, "{}: {s}", case.name);
        if bad_utf8 {
            // Its category, as shown, finds it too.
            let category = s["category"].as_str().unwrap();
            let listed = lines(&run(
                dir,
                case,
                &["streams", "--category", category, "--format", "jsonl"],
                &[0],
            ));
            assert!(
                listed.iter().any(|l| l["stream_id"] == id),
                "{}: streams --category {category}",
                case.name
            );
            let where_ = format!("category:{category}");
            let got = run(
                dir,
                case,
                &["log", "--where", &where_, "--format", "jsonl"],
                &[0],
            );
            assert_eq!(got.lines().count(), count, "{}: {where_}", case.name);
        }
    }
    for f in FORMATS {
        run(
            dir,
            case,
            &["streams", "--limit", "1000", "--format", f],
            &[0],
        );
    }

    // Each stream by its id as shown: all of its events, as the log has them.
    let mut seen = 0;
    for id in &ids {
        let got = lines(&run(
            dir,
            case,
            &["events", id, "--limit", "1000", "--format", "jsonl"],
            &[0],
        ));
        let want: Vec<&Value> = events.iter().filter(|e| e["stream_id"] == **id).collect();
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            want,
            "{}: events {id:?}",
            case.name
        );
        seen += got.len();
        for f in ["table", "json"] {
            run(
                dir,
                case,
                &["events", id, "--limit", "1000", "--format", f],
                &[0],
            );
        }
        // A fold stops at an unreadable row with the reason (exit 1); never a panic.
        run(dir, case, &["rehydrate", id], &[0, 1]);
    }
    assert_eq!(seen, case.rows, "{}: events of every stream", case.name);

    // The audit: each flagged row is an error of its kind.
    let audit: Value = serde_json::from_str(&run(dir, case, &["audit", "--format", "json"], &[1]))
        .unwrap_or_else(|e| panic!("{}: audit JSON: {e}", case.name));
    let findings = audit["findings"].as_array().unwrap();
    for (pos, (kind, text)) in &case.flagged {
        assert!(
            findings.iter().any(|f| f["global_position"] == *pos
                && f["kind"] == *kind
                && f["severity"] == "error"
                && f["detail"].as_str().unwrap_or("").contains(text)),
            "{}: no {kind} finding at {pos}: {findings:#?}",
            case.name
        );
    }
    assert_eq!(audit["summary"]["events"], case.rows, "{}", case.name);
    for f in FORMATS {
        run(dir, case, &["audit", "--format", f], &[1]);
    }
    if case.snapshots {
        // A snapshot taken at a time that is no time is an error that says so (exit 2).
        for f in FORMATS {
            let out = run(dir, case, &["verify-snapshots", "--format", f], &[2]);
            assert!(out.contains("taken_at "), "{}: {out}", case.name);
        }
    }

    // A replay to JSONL writes what `log --format jsonl` writes, byte for byte.
    let file = dir.join(format!("{}.jsonl", case.name.replace(' ', "-")));
    let sink = format!("jsonl:{}", file.display());
    for f in FORMATS {
        let _ = std::fs::remove_file(&file);
        run(
            dir,
            case,
            &[
                "replay",
                "--from-position",
                "1",
                "--sink",
                &sink,
                "--yes",
                "--quiet",
                "--format",
                f,
            ],
            &[0],
        );
        let replayed = std::fs::read_to_string(&file).unwrap();
        assert!(
            replayed == log,
            "{}: the replay differs from the log",
            case.name
        );
    }
}

async fn hostile_rows(server: Server) {
    if !available(server) {
        return;
    }
    let db = TempDb::create(server, "hostile").await;
    let (ddl, rows) = match server {
        Server::Postgres => ("native/postgres.sql", "hostile/postgres.sql"),
        Server::MariaDb => ("native/mysql.sql", "hostile/mysql.sql"),
        Server::Sqlite => ("native/sqlite.sql", "hostile/sqlite.sql"),
    };
    db.load(ddl).await;
    db.load(rows).await;
    let dir = tempfile::tempdir().unwrap();
    for case in cases(server, &db) {
        check(dir.path(), &case);
    }
}

#[tokio::test]
async fn hostile_rows_on_postgres() {
    hostile_rows(Server::Postgres).await;
}

#[tokio::test]
async fn hostile_rows_on_mariadb() {
    hostile_rows(Server::MariaDb).await;
}

#[tokio::test]
async fn hostile_rows_on_sqlite() {
    hostile_rows(Server::Sqlite).await;
}

/// The fixture is for tests: the demo store has none of it.
#[test]
fn the_demo_store_stays_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args(["audit", "--format", "json"])
        .output()
        .unwrap();
    let audit: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: BTreeSet<&str> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .filter_map(|f| f["kind"].as_str())
        .collect();
    for k in [
        "null_data",
        "invalid_time",
        "invalid_utf8",
        "json_too_deep",
        "invalid_json",
    ] {
        assert!(!kinds.contains(k), "the demo store has {k}: {kinds:?}");
    }
}
