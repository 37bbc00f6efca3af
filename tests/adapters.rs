//! Every adapter, on every database it supports, reads the same ten-event dataset (see
//! fixtures/THIRD_PARTY.md) through the real CLI, and must give exactly the expected events,
//! in order, under each filter and paging direction.

mod common;

use std::collections::BTreeMap;

use common::{Server, TempDb, available, evscope, fixture_path, jsonl};
use serde_json::Value;

struct Case {
    server: Server,
    /// Fixture files loaded in order.
    fixtures: &'static [&'static str],
    expected: &'static str,
    /// Extra global flags (a mapping file).
    mapping: Option<&'static str>,
    layout: &'static str,
}

fn run(db: &TempDb, dir: &std::path::Path, case: &Case, args: &[&str]) -> String {
    let mut cmd = evscope(dir);
    cmd.arg("--db").arg(&db.url);
    if let Some(m) = case.mapping {
        cmd.arg("--mapping").arg(fixture_path(m));
    }
    let out = cmd.args(args).output().expect("run evscope");
    assert!(
        out.status.success(),
        "evscope {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn field<'a>(e: &'a Value, k: &str) -> &'a Value {
    e.get(k).unwrap_or_else(|| panic!("no {k} in {e}"))
}

fn time(e: &Value) -> &str {
    field(e, "recorded_at")
        .as_str()
        .expect("recorded_at is a string")
}

fn category(s: &str) -> &str {
    s.split_once('-').map_or(s, |(c, _)| c)
}

async fn check(case: Case) {
    if !available(case.server) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TempDb::create(case.server, case.layout).await;
    for f in case.fixtures {
        db.load(f).await;
    }
    let expected =
        jsonl(&std::fs::read_to_string(fixture_path(case.expected)).expect("expected file"));
    assert_eq!(expected.len(), 10);
    let run = |args: &[&str]| run(&db, dir.path(), &case, args);
    let pick = |pred: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        expected.iter().filter(|e| pred(e)).cloned().collect()
    };

    // Detection (or the mapping) chose the right layout.
    let info: Value = serde_json::from_str(&run(&["info", "--format", "json"])).expect("info json");
    assert_eq!(info["layout"], case.layout, "{info}");
    // ... and says why: the signature it matched, or the mapping file.
    let why = info["detected"].as_str().expect("detected");
    if case.mapping.is_some() {
        assert!(why.starts_with("mapping file"), "{why}");
    } else {
        assert!(why.contains('(') && why.contains(')'), "{why}");
    }

    // The whole log, in order, field for field.
    assert_eq!(jsonl(&run(&["log", "--format", "jsonl"])), expected, "log");
    // `json` is the same events as one array.
    let arr: Vec<Value> =
        serde_json::from_str(&run(&["log", "--format", "json"])).expect("json array");
    assert_eq!(arr, expected, "log --format json");

    // Backward from the newest.
    let mut newest: Vec<Value> = expected.iter().rev().take(3).cloned().collect();
    assert_eq!(
        jsonl(&run(&[
            "log",
            "--backward",
            "--limit",
            "3",
            "--format",
            "jsonl"
        ])),
        newest
    );

    // Keyset paging from a position, both ways.
    if expected[0]["global_position"].is_i64() {
        let p4 = expected[3]["global_position"].to_string();
        assert_eq!(
            jsonl(&run(&[
                "log", "--from", &p4, "--limit", "2", "--format", "jsonl"
            ])),
            expected[3..5].to_vec()
        );
        newest = expected[2..4].iter().rev().cloned().collect();
        assert_eq!(
            jsonl(&run(&[
                "log",
                "--from",
                &p4,
                "--backward",
                "--limit",
                "2",
                "--format",
                "jsonl"
            ])),
            newest
        );
    }

    // Filters: types (repeatable), category, prefix, time range.
    let ty = field(&expected[1], "event_type")
        .as_str()
        .unwrap()
        .to_string();
    let ty2 = field(&expected[5], "event_type")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        jsonl(&run(&[
            "log", "--type", &ty, "--type", &ty2, "--format", "jsonl"
        ])),
        pick(&|e| e["event_type"] == ty.as_str() || e["event_type"] == ty2.as_str()),
        "--type"
    );
    let pay_stream = field(&expected[3], "stream_id")
        .as_str()
        .unwrap()
        .to_string();
    let cat = category(&pay_stream).to_string();
    assert_eq!(
        jsonl(&run(&["log", "--category", &cat, "--format", "jsonl"])),
        pick(&|e| category(e["stream_id"].as_str().unwrap()) == cat),
        "--category {cat}"
    );
    let prefix = &pay_stream[..pay_stream.len() - 1];
    assert_eq!(
        jsonl(&run(&[
            "log",
            "--stream-prefix",
            prefix,
            "--format",
            "jsonl"
        ])),
        pick(&|e| e["stream_id"].as_str().unwrap().starts_with(prefix)),
        "--stream-prefix {prefix}"
    );
    let (since, until) = (
        time(&expected[4]).to_string(),
        time(&expected[7]).to_string(),
    );
    assert_eq!(
        jsonl(&run(&[
            "log", "--since", &since, "--until", &until, "--format", "jsonl"
        ])),
        expected[4..7].to_vec(),
        "--since {since} --until {until}"
    );
    assert_eq!(
        jsonl(&run(&[
            "log", "--type", &ty, "--since", &since, "--limit", "1", "--format", "jsonl"
        ])),
        pick(&|e| e["event_type"] == ty.as_str() && time(e) >= since.as_str())[..1].to_vec(),
    );

    // One stream, by version range and backward.
    let acc = field(&expected[0], "stream_id")
        .as_str()
        .unwrap()
        .to_string();
    let acc_events = pick(&|e| e["stream_id"] == acc.as_str());
    assert_eq!(acc_events.len(), 5);
    assert_eq!(
        jsonl(&run(&["events", &acc, "--format", "jsonl"])),
        acc_events,
        "events"
    );
    let v1 = acc_events[1]["stream_version"].to_string();
    let v3 = acc_events[3]["stream_version"].to_string();
    assert_eq!(
        jsonl(&run(&[
            "events", &acc, "--from", &v1, "--to", &v3, "--format", "jsonl"
        ])),
        acc_events[1..4].to_vec()
    );
    let back: Vec<Value> = acc_events.iter().rev().take(2).cloned().collect();
    assert_eq!(
        jsonl(&run(&[
            "events",
            &acc,
            "--backward",
            "--limit",
            "2",
            "--format",
            "jsonl"
        ])),
        back
    );
    assert_eq!(
        jsonl(&run(&["events", &acc, "--type", &ty, "--format", "jsonl"])),
        pick(&|e| e["stream_id"] == acc.as_str() && e["event_type"] == ty.as_str())
    );
    // A stream that does not exist is an error naming it, on every layout.
    let mut cmd = evscope(dir.path());
    cmd.arg("--db").arg(&db.url);
    if let Some(m) = case.mapping {
        cmd.arg("--mapping").arg(fixture_path(m));
    }
    let out = cmd
        .args(["events", "no-such-stream", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", case.layout);
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stream \"no-such-stream\""));

    // The stream list, derived from the expected events.
    let mut streams: BTreeMap<String, (i64, i64, String)> = BTreeMap::new();
    for e in &expected {
        let s = streams
            .entry(e["stream_id"].as_str().unwrap().to_string())
            .or_default();
        s.0 += 1;
        s.1 = e["stream_version"].as_i64().unwrap();
        s.2 = time(e).to_string();
    }
    let want: Vec<Value> = streams
        .iter()
        .map(|(id, (n, v, t))| {
            serde_json::json!({"stream_id": id, "category": category(id), "event_count": n,
                               "last_version": v, "last_recorded_at": t})
        })
        .collect();
    let got: Vec<Value> = serde_json::from_str(&run(&["streams", "--format", "json"])).unwrap();
    assert_eq!(got, want, "streams");
    let got = jsonl(&run(&["streams", "--category", &cat, "--format", "jsonl"]));
    assert_eq!(
        got,
        want.iter()
            .filter(|s| s["category"] == cat.as_str())
            .cloned()
            .collect::<Vec<_>>()
    );
    let first = want[0]["stream_id"].as_str().unwrap();
    assert_eq!(
        jsonl(&run(&[
            "streams", "--after", first, "--limit", "1", "--format", "jsonl"
        ])),
        want[1..2]
    );
    assert_eq!(
        jsonl(&run(&["streams", "--limit", "2", "--format", "jsonl"])),
        want[..2]
    );

    // The table format shows every event.
    let table = run(&["log"]);
    assert_eq!(table.lines().count(), 11, "{table}");
    assert!(table.starts_with("POSITION"), "{table}");

    // A jq filter gives the same events whether the database answers part of it first
    // (push-down, where this layout's JSON allows) or not (`| .` at the end turns it off),
    // in the log and in one stream; and the comparisons are not all empty.
    let corr = expected
        .iter()
        .find_map(|e| e["metadata"]["correlation_id"].as_str())
        .map(str::to_string);
    let mut programs = vec![
        format!(".event_type == {}", Value::String(ty.clone())),
        ".data.amount > 300".to_string(),
        format!(
            "(.data.amount >= 250 or .event_type == {}) and (.stream_id | test(\"1\"))",
            Value::String(ty.clone())
        ),
        format!(
            ".stream_id == {} and .data.amount != 500",
            Value::String(acc.clone())
        ),
        ".data.owner | test(\"^Ana\")? // false".to_string(),
    ];
    if let Some(c) = &corr {
        programs.push(format!(
            ".metadata.correlation_id == {}",
            Value::String(c.clone())
        ));
    }
    let mut matched = 0;
    for p in &programs {
        let pushed = run(&["log", "--where", &format!("| {p}"), "--format", "jsonl"]);
        let plain = run(&[
            "log",
            "--where",
            &format!("| ({p}) | ."),
            "--format",
            "jsonl",
        ]);
        assert_eq!(pushed, plain, "{p}");
        matched += pushed.lines().count();
        let pushed = run(&[
            "events",
            &acc,
            "--where",
            &format!("| {p}"),
            "--format",
            "jsonl",
        ]);
        let plain = run(&[
            "events",
            &acc,
            "--where",
            &format!("| ({p}) | ."),
            "--format",
            "jsonl",
        ]);
        assert_eq!(pushed, plain, "events {acc}: {p}");
    }
    assert_eq!(
        jsonl(&run(&[
            "log",
            "--where",
            &format!("| {}", programs[0]),
            "--format",
            "jsonl"
        ])),
        pick(&|e| e["event_type"] == ty.as_str()),
        "{}",
        programs[0]
    );
    assert!(matched > 2, "the comparisons matched {matched} events");
}

macro_rules! case {
    ($name:ident, $server:expr, [$($f:expr),*], $expected:expr, $mapping:expr, $layout:expr) => {
        #[tokio::test]
        async fn $name() {
            check(Case {
                server: $server,
                fixtures: &[$($f),*],
                expected: $expected,
                mapping: $mapping,
                layout: $layout,
            })
            .await;
        }
    };
}

use Server::{MariaDb, Postgres, Sqlite};
case!(
    native_postgres,
    Postgres,
    ["native/postgres.sql", "native/dataset-postgres.sql"],
    "expected/native.jsonl",
    None,
    "native"
);
case!(
    native_mariadb,
    MariaDb,
    ["native/mysql.sql", "native/dataset-mysql.sql"],
    "expected/native.jsonl",
    None,
    "native"
);
case!(
    native_sqlite,
    Sqlite,
    ["native/sqlite.sql", "native/dataset-sqlite.sql"],
    "expected/native.jsonl",
    None,
    "native"
);
case!(
    classic_postgres,
    Postgres,
    ["classic/postgres.sql"],
    "expected/classic.jsonl",
    None,
    "classic"
);
case!(
    classic_mariadb,
    MariaDb,
    ["classic/mysql.sql"],
    "expected/classic.jsonl",
    None,
    "classic"
);
case!(
    classic_sqlite,
    Sqlite,
    ["classic/sqlite.sql"],
    "expected/classic.jsonl",
    None,
    "classic"
);
case!(
    message_db,
    Postgres,
    ["message-db/postgres.sql"],
    "expected/message-db.jsonl",
    None,
    "message-db"
);
case!(
    marten_guid,
    Postgres,
    ["marten-guid/postgres.sql"],
    "expected/marten-guid.jsonl",
    None,
    "marten"
);
case!(
    marten_string,
    Postgres,
    ["marten-string/postgres.sql"],
    "expected/marten-string.jsonl",
    None,
    "marten"
);
case!(
    commanded,
    Postgres,
    ["commanded/postgres.sql"],
    "expected/commanded.jsonl",
    None,
    "commanded"
);
case!(
    eventuous_mapped,
    Postgres,
    ["eventuous/postgres.sql"],
    "expected/eventuous.jsonl",
    Some("mappings/eventuous.toml"),
    "eventuous"
);
case!(
    emmett_mapped,
    Postgres,
    ["emmett/postgres.sql"],
    "expected/emmett.jsonl",
    Some("mappings/emmett.toml"),
    "emmett"
);
case!(
    axon_postgres_mapped,
    Postgres,
    ["axon/postgres.sql"],
    "expected/axon-postgres.jsonl",
    Some("mappings/axon.toml"),
    "axon"
);
case!(
    axon_mariadb_mapped,
    MariaDb,
    ["axon/mysql.sql"],
    "expected/axon-mysql.jsonl",
    Some("mappings/axon.toml"),
    "axon"
);

// The same stores with no configuration: the layouts are built in and detected.
case!(
    eventuous_detected,
    Postgres,
    ["eventuous/postgres.sql"],
    "expected/eventuous.jsonl",
    None,
    "eventuous"
);
case!(
    emmett_detected,
    Postgres,
    ["emmett/postgres.sql"],
    "expected/emmett.jsonl",
    None,
    "emmett"
);
case!(
    axon_postgres_detected,
    Postgres,
    ["axon/postgres.sql"],
    "expected/axon-postgres.jsonl",
    None,
    "axon"
);
case!(
    axon_mariadb_detected,
    MariaDb,
    ["axon/mysql.sql"],
    "expected/axon-mysql.jsonl",
    None,
    "axon"
);
// Axon's JDBC engine with its default (camelCase) names.
case!(
    axon_jdbc_postgres_detected,
    Postgres,
    ["axon/jdbc-postgres.sql"],
    "expected/axon-postgres.jsonl",
    None,
    "axon"
);
case!(
    axon_jdbc_mariadb_detected,
    MariaDb,
    ["axon/jdbc-mysql.sql"],
    "expected/axon-mysql.jsonl",
    None,
    "axon"
);

/// Marten keeps correlation and causation ids in columns of their own, apart from its
/// headers: evscope shows them in the metadata, and `trace` follows them (event 6 was caused
/// by event 5). A store whose metadata config leaves those columns out reads as before.
#[tokio::test]
async fn marten_correlation_columns_are_metadata_and_traced() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TempDb::create(Server::Postgres, "marten_trace").await;
    db.load("marten-guid/postgres.sql").await;
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "trace",
            "00000000-0000-4000-8000-000000000005",
        ])
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let events = jsonl(&String::from_utf8_lossy(&out.stdout));
    let shape = common::trace_shape(&events);
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    assert_eq!(
        shape,
        [(id(5), 0, None), (id(6), 1, Some(id(5)))],
        "{events:?}"
    );
    // The custom header and the columns together.
    let out = evscope(dir.path())
        .args(["--db", &db.url, "log", "--format", "jsonl", "--limit", "4"])
        .output()
        .unwrap();
    let log = jsonl(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        log[3]["metadata"],
        serde_json::json!({"causation_id": "c0000000-0000-4000-8000-000000000004", "correlation_id": "c0000000-0000-4000-8000-000000000004", "user-name": "ana"})
    );
    // Without the columns (Marten's default metadata config): the headers alone.
    db.exec("ALTER TABLE mt_events DROP COLUMN correlation_id, DROP COLUMN causation_id")
        .await;
    let out = evscope(dir.path())
        .args(["--db", &db.url, "log", "--format", "jsonl", "--limit", "4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = jsonl(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(log[0]["metadata"], Value::Null);
    assert_eq!(log[3]["metadata"], serde_json::json!({"user-name": "ana"}));
}
