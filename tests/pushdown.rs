//! Push-down: the conditions of a jq filter the database answers first give exactly the
//! results (and the errors) of the same filter run on every row, on PostgreSQL, MariaDB and
//! SQLite — including rows whose data jq cannot index (arrays, strings, numbers on the way)
//! and rows that are not JSON at all.

mod common;

use common::{Server, TempDb, available, evscope};

const ID: &str = "00000000-0000-4000-8000-0000000000";

/// (stream, version, type, data, metadata) of the rows every test store holds.
const ROWS: &[(&str, i64, &str, &str, Option<&str>)] = &[
    (
        "named-1",
        1,
        "Named",
        r#"{"owner": {"name": "Ana"}}"#,
        Some(r#"{"correlation_id": "c-1"}"#),
    ),
    (
        "named-1",
        2,
        "Named",
        r#"{"owner": {"name": "ana"}}"#,
        Some(
            r#"{"correlation_id": "c-1", "causation_id": "00000000-0000-4000-8000-000000000001"}"#,
        ),
    ),
    (
        "named-2",
        1,
        "Named",
        r#"{"owner": {"name": "Ana", "x": 1}}"#,
        None,
    ),
    (
        "named-2",
        2,
        "Named",
        r#"{"owner": null}"#,
        Some(r#"{"correlation_id": "c-2"}"#),
    ),
    (
        "named-3",
        1,
        "Named",
        r#"{}"#,
        Some(r#"{"correlationId": "c-1"}"#),
    ),
    ("named-3", 2, "Named", r#"{"owner": {"name": 5}}"#, None),
    (
        "named-3",
        3,
        "Named",
        r#"{"owner": {"name": "Ana\u00e9"}}"#,
        None,
    ),
    (
        "named-4",
        1,
        "Named",
        r#"{"owner": {"name": "Ana ", "other": "Ana"}}"#,
        None,
    ),
    ("odd-1", 1, "Odd", r#"[1, 2]"#, None),
    ("num-1", 1, "Num", r#"{"amount": 100}"#, None),
    ("num-1", 2, "Num", r#"{"amount": 100.0}"#, None),
    // Below 100 in decimal, 100 as a double: jq may see either.
    (
        "num-1",
        3,
        "Num",
        r#"{"amount": 99.99999999999999999}"#,
        None,
    ),
    ("num-1", 4, "Num", r#"{"amount": 100.00000000000001}"#, None),
    ("num-1", 5, "Num", r#"{"amount": 9991}"#, None),
    ("num-1", 6, "Num", r#"{"amount": -5}"#, None),
    ("num-1", 7, "Num", r#"{"amount": "200"}"#, None),
    ("num-1", 8, "Num", r#"{"amount": null}"#, None),
    ("num-1", 9, "Num", r#"{"other": 1}"#, None),
    ("num-1", 10, "Num", r#"{"amount": true}"#, None),
    ("num-1", 11, "Num", r#"{"amount": [1]}"#, None),
    ("num-1", 12, "Num", r#"{"amount": {"v": 1}}"#, None),
    (
        "num-1",
        13,
        "Num",
        r#"{"amount": 123456789012345678901234567890.123456789}"#,
        None,
    ),
    ("num-1", 14, "Num", r#"{"amount": 1e-400}"#, None),
    ("num-1", 15, "Num", r#"{"amount": 0}"#, None),
    ("num-1", 16, "Num", r#"{"amount": -0.0}"#, None),
    (
        "num-1",
        17,
        "Num",
        r#"{"amount": -1.5, "n": {"deep": 3}}"#,
        None,
    ),
    ("num-1", 18, "Num", r#"{"amount": false, "n": [3]}"#, None),
    ("odd-1", 2, "Odd", r#""just a string""#, None),
    ("odd-1", 3, "Odd", r#"{"owner": 7}"#, None),
    (
        "odd-1",
        4,
        "Odd",
        r#"{"owner": {"name": "Ana"}}"#,
        Some(r#"{"correlation_id": 5}"#),
    ),
    // Strings to order: by bytes (code points), not by a collation or UTF-16.
    ("ord-1", 1, "Ord", r#"{"name": "é"}"#, None),
    ("ord-1", 2, "Ord", r#"{"name": "z"}"#, None),
    ("ord-1", 3, "Ord", r#"{"name": "Z"}"#, None),
    ("ord-1", 4, "Ord", r#"{"name": "😀"}"#, None),
    ("ord-1", 5, "Ord", r#"{"name": "\ufb33"}"#, None),
    ("ord-1", 6, "Ord", r#"{"name": ""}"#, None),
    ("ord-1", 7, "Ord", r#"{"name": "zz"}"#, None),
    ("ord-1", 8, "Ord", r#"{"name": "caf\u00e9"}"#, None),
    ("ord-1", 9, "Ord", r#"{"name": ["z"]}"#, None),
    ("ord-1", 10, "Ord", r#"{"name": {"v": "a"}}"#, None),
    ("ord-1", 11, "Ord", r#"{"name": 12}"#, None),
    ("ord-1", 12, "Ord", r#"{"name": true}"#, None),
    ("ord-1", 13, "Ord", r#"{"name": null}"#, None),
    ("ord-1", 14, "Ord", r#"{}"#, None),
    ("ord-1", 15, "Ord", r#"{"name": "a\"b\\c"}"#, None),
    ("ord-1", 16, "Ord", r#"{"name": "Ana "}"#, None),
    // Keys a JSON path must quote: a space, a non-ASCII letter, a dot, a quote mark.
    (
        "quoted-1",
        1,
        "Quoted",
        r#"{"first name": "Ana", "ação": 1, "a.b": {"c": 2}, "it's": "x"}"#,
        None,
    ),
    (
        "quoted-1",
        2,
        "Quoted",
        r#"{"first name": "Bia", "ação": 2.5, "a.b": 5, "it's": "y"}"#,
        None,
    ),
];

fn insert(
    server: Server,
    i: usize,
    (stream, version, typ, data, meta): (&str, i64, &str, &str, Option<&str>),
) -> String {
    // MariaDB reads a backslash in a string literal as an escape: doubled, JSON keeps its own.
    let q = |s: &str| {
        let s = s.replace('\'', "''");
        let s = if server == Server::MariaDb {
            s.replace('\\', "\\\\")
        } else {
            s
        };
        format!("'{s}'")
    };
    format!(
        "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data, metadata) VALUES ({}, {version}, '{ID}{:02x}', {}, {}, {});\n",
        q(stream),
        i + 1,
        q(typ),
        q(data),
        meta.map_or("NULL".to_string(), q)
    )
}

async fn store(server: Server) -> TempDb {
    let db = TempDb::create(server, "pushdown").await;
    let ddl = match server {
        Server::Postgres => "native/postgres.sql",
        Server::MariaDb => "native/mysql.sql",
        Server::Sqlite => "native/sqlite.sql",
    };
    db.load(ddl).await;
    let mut sql = String::new();
    for (i, r) in ROWS.iter().enumerate() {
        sql.push_str(&insert(server, i, *r));
    }
    if server == Server::Sqlite {
        // A JSON text column can hold what is not JSON: jq fails on it, pushed or not.
        sql.push_str(&insert(
            server,
            ROWS.len(),
            ("broken-1", 1, "Broken", r#"{"owner": "#, None),
        ));
    }
    db.exec(&sql).await;
    db
}

/// (exit code, stdout, stderr) of `log --where "| PROGRAM"`.
fn log(dir: &std::path::Path, db: &str, program: &str) -> (Option<i32>, String, String) {
    filtered(dir, db, &["log", "--limit", "1000"], program)
}

/// (exit code, stdout, stderr) of `COMMAND --format jsonl --where "| PROGRAM"`.
fn filtered(
    dir: &std::path::Path,
    db: &str,
    command: &[&str],
    program: &str,
) -> (Option<i32>, String, String) {
    let out = evscope(dir)
        .args(["--db", db])
        .args(command)
        .args(["--format", "jsonl", "--where", &format!("| {program}")])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn explained(dir: &std::path::Path, db: &str, program: &str) -> serde_json::Value {
    let out = evscope(dir)
        .args(["--db", db, "log", "--explain", "--format", "json"])
        .args(["--where", &format!("| {program}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `log --where "| PROGRAM"` gives what the same program ending in `| .` (a pipe at the top:
/// nothing pushed) gives, and `--explain` says `pushed` of its conditions were pushed (none for
/// the other); the result, for the caller's own checks.
fn same_pushed_or_not(
    server: Server,
    dir: &std::path::Path,
    db: &str,
    p: &str,
    pushed: usize,
) -> (Option<i32>, String, String) {
    let with = log(dir, db, p);
    let without = log(dir, db, &format!("({p}) | ."));
    assert_eq!(with, without, "{server:?}: {p}");
    let doc = explained(dir, db, p);
    let n = doc["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pushed"] == true)
        .count();
    assert_eq!(n, pushed, "{server:?}: {p}: {doc}");
    let plain = explained(dir, db, &format!("({p}) | ."));
    assert_eq!(plain["pushed"], serde_json::json!([]), "{plain}");
    with
}

async fn same_results_pushed_or_not(server: Server) {
    if !available(server) {
        return;
    }
    let db = store(server).await;
    let dir = tempfile::tempdir().unwrap();
    let upper = format!("{ID}0A");
    // (program, how many of its conditions this store answers first)
    let programs: Vec<(String, usize)> = vec![
        (
            r#"select(.event_type == "Named" and .data.owner.name == "Ana")"#.into(),
            2,
        ),
        (r#".data.owner.name == "Ana""#.into(), 1),
        (
            r#"select(.data.owner.name == "Ana" and .event_type == "Named")"#.into(),
            2,
        ),
        (
            r#"select(.event_type == "Odd" and .data.owner == 7)"#.into(),
            2,
        ),
        (r#".metadata.correlation_id == "c-1""#.into(), 1),
        (format!(r#".event_id == "{ID}03""#), 1),
        // An uppercase id: the database's uuid equality takes it, jq's string equality not.
        (format!(r#".event_id == "{upper}""#), 1),
        (r#".stream_id == "named-2""#.into(), 1),
        (
            r#"select(.event_type == "Named" and .data.owner.name == "Anaé")"#.into(),
            2,
        ),
        (
            r#"select(.event_type == "Named" and .data.owner.name == "Ana ")"#.into(),
            2,
        ),
        (
            r#"select(.event_type == "Broken" and .data.owner.name == "x")"#.into(),
            2,
        ),
        (
            r#"select(.event_type == "Named" and .data.owner.name == "nobody")"#.into(),
            2,
        ),
        // Disjunctions: true where either may be, failing where either may (the second one
        // fails on the array data of odd-1@1, where the first is false).
        (
            r#"select(.event_type == "Named" or .event_type == "Odd")"#.into(),
            1,
        ),
        (
            r#"(.event_type == "Named" or .data.owner.name == "Ana")"#.into(),
            1,
        ),
        // Quoted keys, answered by every database's JSON path (`$."first name"`).
        (
            r#"select(.event_type == "Quoted" and .data["first name"] == "Ana")"#.into(),
            2,
        ),
        (r#".event_type == "Quoted" and .data["ação"] > 1"#.into(), 2),
        (
            r#".event_type == "Quoted" and .data["it's"] == "y""#.into(),
            2,
        ),
        // On the way through a quoted key: a number cannot be indexed (fails pushed or not).
        (
            r#".event_type == "Quoted" and .data["a.b"].c == 2"#.into(),
            2,
        ),
    ];
    // Numbers, compared by jq's order of types.
    let numeric: Vec<(String, usize)> = [
        r#"select(.event_type == "Num" and .data.amount > 100)"#,
        r#".event_type == "Num" and .data.amount >= 100"#,
        r#".event_type == "Num" and .data.amount == 100"#,
        r#".event_type == "Num" and .data.amount < 0"#,
        r#".event_type == "Num" and .data.amount <= 0"#,
        r#".event_type == "Num" and 9990 < .data.amount"#,
        r#".event_type == "Num" and .data.amount == 0"#,
        r#".event_type == "Num" and .data.amount > -1.5"#,
        r#".event_type == "Num" and .data.amount >= -1.5"#,
        r#".event_type == "Num" and .data.amount > 123456789012345678901234567890"#,
        r#".event_type == "Num" and .data.amount < 1e-300"#,
        r#".event_type == "Num" and (.data.amount > 9990 or .data.amount < -1)"#,
        r#"select(.event_type == "Num" and (.data.amount == 0 or .data.other == 1 or .data.amount == "200"))"#,
    ]
    .into_iter()
    .map(|p| (p.to_string(), 2))
    .collect();
    // Negations (`!=`, `not`) keep every row where their operand may be false or fail: a
    // string compared byte for byte (MariaDB's collation ignores case, "Ana " pads), a number
    // narrowed by the margin; and `test` on strings.
    let negated: Vec<(String, usize)> = [
        (r#".event_type != "Named""#.to_string(), 1),
        (r#".event_type != "named""#.into(), 1),
        (r#"select(.event_type == "Num" and .data.amount != 100)"#.into(), 2),
        (r#".event_type == "Num" and (.data.amount > 0 | not)"#.into(), 2),
        (r#".event_type == "Num" and .data.amount != 0"#.into(), 2),
        (r#".event_type == "Num" and (.data.amount == 0 or .data.amount >= 100 | not)"#.into(), 2),
        (r#".event_type == "Num" and (.data.amount < -1.5 | not)"#.into(), 2),
        (r#".event_type == "Num" and (.data.amount <= -1.5 | not)"#.into(), 2),
        (r#".event_type == "Num" and .data.amount != 123456789012345678901234567890"#.into(), 2),
        (r#"select(.event_type == "Named" and .data.owner.name != "Ana")"#.into(), 2),
        (r#"select(.event_type == "Named" and .data.owner.name != "ana")"#.into(), 2),
        (r#"select(.event_type == "Named" and .data.owner.name != "Ana ")"#.into(), 2),
        (r#"select(.event_type == "Named" and (.data.owner.name == "Ana" and .data.owner.x == 1 | not))"#.into(), 2),
        (r#".event_type == "Named" and (.data.owner.name | test("^An"))"#.into(), 2),
        (r#".event_type == "Named" and (.data.owner | test("x"))"#.into(), 2),
        (r#".event_type == "Named" and (.data.owner.name | test("na") | not)"#.into(), 2),
        (r#".event_type == "Named" and (.data.owner.name | test("(?i)ANA"))"#.into(), 2),
        (r#".event_type == "Named" and (.data.owner.name | test("ANA"; "i"))"#.into(), 2),
        (r#".event_type == "Named" and (.data.owner.name | test("^a N a"; "xig"))"#.into(), 2),
        (r#".event_type | test("nu|od"; "i")"#.into(), 1),
        (r#".event_type | test("NAMED"; "i") | not"#.into(), 1),
        // A regex jq's engine refuses (a Unicode class): not pushed, jq fails the same.
        (r#".event_type == "Named" and (.data.owner.name | test("An\\p{L}"))"#.into(), 1),
        (r#".stream_id | test("^named-[12]")"#.into(), 1),
        (r#".stream_id | test("1$")"#.into(), 1),
        (r#".event_type | test("Nu|Od")"#.into(), 1),
        (r#".event_type | test("am") | not"#.into(), 1),
        (r#".stream_id != "named-2""#.into(), 1),
        (r#".metadata.correlation_id != "c-1""#.into(), 1),
        (format!(r#".event_id != "{ID}03""#), 1),
        (format!(r#".event_id != "{upper}""#), 1),
        (r#"(.event_type == "Odd" and .data.owner == 7) | not"#.into(), 1),
    ]
    .into_iter()
    .collect();
    // Strings ordered as jq orders them, and other types by jq's order of types.
    let ordered: Vec<(String, usize)> = [
        (r#".event_type == "Ord" and .data.name > "z""#, 2),
        (r#".event_type == "Ord" and .data.name >= "z""#, 2),
        (r#".event_type == "Ord" and .data.name < "Z""#, 2),
        (r#".event_type == "Ord" and .data.name <= "é""#, 2),
        (r#".event_type == "Ord" and .data.name > "\ufb33""#, 2),
        (r#".event_type == "Ord" and .data.name < "😀""#, 2),
        (r#".event_type == "Ord" and "café" <= .data.name"#, 2),
        (r#".event_type == "Ord" and .data.name > """#, 2),
        (r#".event_type == "Ord" and .data.name < "a\"b\\c""#, 2),
        (r#".event_type == "Ord" and .data.name >= "Ana""#, 2),
        (r#".event_type == "Ord" and (.data.name > "z" | not)"#, 2),
        (
            r#".event_type == "Ord" and (.data.name >= "é" or .data.name < "Z" | not)"#,
            2,
        ),
        (r#".event_type == "Named" and .data.owner.name > "Ana""#, 2),
        (r#".event_type == "Named" and .data.owner.name <= "Ana""#, 2),
        (r#".event_type == "Num" and .data.amount > "1""#, 2),
        (r#".event_type == "Num" and .data.amount < "1""#, 2),
        (r#".event_type > "Num""#, 1),
        (r#".event_type <= "Named""#, 1),
        (r#"(.event_type < "O" | not)"#, 1),
        (r#""named-2" > .stream_id"#, 1),
        (r#".stream_id >= "ord""#, 1),
    ]
    .into_iter()
    .map(|(p, n)| (p.to_string(), n))
    .collect();
    let mut in_order = 0;
    for (p, pushed) in &ordered {
        let with = same_pushed_or_not(server, dir.path(), &db.url, p, *pushed);
        assert_eq!(with.0, Some(0), "{server:?}: {p}: {}", with.2);
        in_order += with.1.lines().count();
    }
    assert!(in_order > 100, "{server:?}: {in_order}");
    // Ordered without a type first: jq fails on the first array of data, pushed or not.
    let with = same_pushed_or_not(server, dir.path(), &db.url, r#".data.name < "z""#, 1);
    assert_eq!(with.0, Some(1), "{server:?}: {with:?}");
    let mut negations = 0;
    for (p, pushed) in &negated {
        let with = same_pushed_or_not(server, dir.path(), &db.url, p, *pushed);
        if with.0 == Some(0) {
            negations += with.1.lines().count();
        }
    }
    assert!(negations > 100, "{server:?}: {negations}");
    let mut numbers = 0;
    for (p, pushed) in &numeric {
        let with = same_pushed_or_not(server, dir.path(), &db.url, p, *pushed);
        assert_eq!(with.0, Some(0), "{server:?}: {p}: {}", with.2);
        numbers += with.1.lines().count();
    }
    assert!(numbers > 20, "{server:?}: {numbers}");
    // A path through a value jq cannot index fails the same way pushed or not.
    let p = r#".event_type == "Num" and .data.n.deep > 1"#;
    let with = log(dir.path(), &db.url, p);
    assert_eq!(
        with,
        log(dir.path(), &db.url, &format!("({p}) | .")),
        "{server:?}"
    );
    assert_eq!(with.0, Some(1), "{server:?}: {with:?}");
    assert!(with.2.contains("num-1@18"), "{server:?}: {}", with.2);
    let mut matched = 0;
    for (p, pushed) in &programs {
        let with = same_pushed_or_not(server, dir.path(), &db.url, p, *pushed);
        if with.0 == Some(0) {
            matched += with.1.lines().count();
        }
    }
    // The comparisons are not all empty: rows 1 and 3, 1 and 2, 3, 3 and 4, 7, 8, the 12
    // of types Named or Odd, and one row for each of the three quoted keys.
    assert_eq!(matched, 24, "{server:?}");
    // The errors are the same event's: jq fails on the first array of data.
    let (code, _, err) = log(dir.path(), &db.url, r#".data.owner.name == "Ana""#);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("odd-1@1"), "{err}");
    if server == Server::Sqlite {
        let (code, _, err) = log(
            dir.path(),
            &db.url,
            r#"select(.event_type == "Broken" and .data.owner.name == "x")"#,
        );
        assert_eq!(code, Some(1), "the row that is not JSON is reported: {err}");
        assert!(err.contains("broken-1@1"), "{err}");
    }
}

/// `trace`: the events sharing the correlation id (under any of the names services write it
/// under: named-3's `correlationId` too), the cause first.
async fn trace(server: Server) {
    if !available(server) {
        return;
    }
    let db = store(server).await;
    let dir = tempfile::tempdir().unwrap();
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "trace",
            &format!("{ID}02"),
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = common::jsonl(&String::from_utf8_lossy(&out.stdout));
    let shape = common::trace_shape(&events);
    assert_eq!(
        shape,
        [
            (format!("{ID}01"), 0, None),
            (format!("{ID}02"), 1, Some(format!("{ID}01"))),
            (format!("{ID}05"), 0, None),
        ],
        "{server:?}"
    );
    // The table: its header first, one line per event, the cause's child indented; what
    // was traced on stderr.
    let out = evscope(dir.path())
        .args(["--db", &db.url, "trace", &format!("{ID}02")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("POSITION"), "{table}");
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[2].contains("└ "), "{table}");
    assert!(!lines[3].contains("└ "), "{table}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 events share"),
        "{out:?}"
    );
    let out = evscope(dir.path())
        .args(["--db", &db.url, "trace", &format!("{ID}03")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no correlation id"),
        "{out:?}"
    );
}

#[tokio::test]
async fn traces_follow_the_correlation_id_on_every_database() {
    for s in [Server::Postgres, Server::MariaDb, Server::Sqlite] {
        trace(s).await;
    }
}

#[tokio::test]
async fn postgres_gives_the_same_results_pushed_or_not() {
    same_results_pushed_or_not(Server::Postgres).await;
}

#[tokio::test]
async fn mariadb_gives_the_same_results_pushed_or_not() {
    same_results_pushed_or_not(Server::MariaDb).await;
}

#[tokio::test]
async fn sqlite_gives_the_same_results_pushed_or_not() {
    same_results_pushed_or_not(Server::Sqlite).await;
}

/// A stream's reads take the same push-down as the log's (`events STREAM --where`, the TUI's
/// stream view, a stream's export): the database keeps only the rows the program could be
/// true or fail on, and the results are the unpushed scan's.
async fn stream_reads_push_down(server: Server) {
    if !available(server) {
        return;
    }
    let db = store(server).await;
    let dir = tempfile::tempdir().unwrap();
    let events =
        |stream: &str, program: &str| filtered(dir.path(), &db.url, &["events", stream], program);
    let store = evscope::store::Store::open(&evscope::store::OpenOptions {
        url: db.url.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    // (stream, program): the database keeps fewer rows than the stream holds, and at least
    // every row that matches.
    let cases = [
        ("named-1", r#".data.owner.name == "Ana""#),
        ("named-1", r#".data.owner.name == "nobody""#),
        ("ord-1", r#".data.name >= "z""#),
        ("num-1", r#".data.amount > 9000"#),
        ("quoted-1", r#".data["first name"] == "Bia""#),
    ];
    for (stream, program) in cases {
        let all = events(stream, "true").1.lines().count();
        let with = events(stream, program);
        let without = events(stream, &format!("({program}) | ."));
        assert_eq!(with, without, "{server:?}: {stream}: {program}");
        assert_eq!(
            with.0,
            Some(0),
            "{server:?}: {stream}: {program}: {}",
            with.2
        );
        let matching = with.1.lines().count();
        // What the database itself returned for the stream read, before jq ran.
        let q = evscope::filter::parse(&format!("| {program}"), chrono::Utc::now()).unwrap();
        assert!(!q.filter.pushed.is_empty(), "{program}: something to push");
        let kept = store
            .read_stream(
                stream,
                &evscope::store::StreamRead {
                    limit: 1000,
                    ..evscope::store::StreamRead::of_filter(&q.filter)
                },
            )
            .await
            .unwrap()
            .len();
        assert!(
            matching <= kept && kept < all,
            "{server:?}: {stream}: {program}: {matching} match, the database kept {kept} of {all}"
        );
    }
}

#[tokio::test]
async fn stream_reads_are_pushed_down_on_every_database() {
    for s in [Server::Postgres, Server::MariaDb, Server::Sqlite] {
        stream_reads_push_down(s).await;
    }
}
