//! Numbers come out as they are stored (issue 17, item 1): on each database, an event whose
//! data holds numbers an `f64` cannot (more digits, beyond its range, underflow) is written
//! byte for byte as the database prints it by `log` (JSON lines and JSON), `events`, a replay
//! to a JSONL file and to NATS; jq sees those numbers as numbers, integers exactly; and an
//! ordinary event's output is what it always was.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use common::{NATS_URL, Server, TempDb, available, evscope, nats_available, unique_name};
use futures_util::StreamExt;

const DATA: &str = r#"{"amount": 123456789012345678901234567890.123456789, "tiny": -1e-400, "huge": 1e400, "n": 12345678901234567890123, "f": 0.1, "i": 42}"#;
const METADATA: &str = r#"{"m": 1e-400, "user": "ada"}"#;

/// The ordinary event (position 2), as evscope has always written it.
const PLAIN: &str = r#"{"global_position":2,"stream_id":"account-1","stream_version":2,"event_id":"00000000-0000-4000-8000-000000000002","event_type":"Deposited","data":{"amount":12.5,"big":12345678901234567,"i":42,"note":"1e400 -0 0.1000000000000000000001","rate":0.0125},"metadata":null,"recorded_at":"2026-01-05T10:02:00Z"}"#;

/// The end of `log --format json`: the ordinary event, as evscope has always written it.
const PLAIN_PRETTY: &str = r#"},
  {
    "global_position": 2,
    "stream_id": "account-1",
    "stream_version": 2,
    "event_id": "00000000-0000-4000-8000-000000000002",
    "event_type": "Deposited",
    "data": {
      "amount": 12.5,
      "big": 12345678901234567,
      "i": 42,
      "note": "1e400 -0 0.1000000000000000000001",
      "rate": 0.0125
    },
    "metadata": null,
    "recorded_at": "2026-01-05T10:02:00Z"
  }
]
"#;

/// The event with exact numbers (position 1), with `data` and `metadata` as given.
fn exact_line(data: &str, metadata: &str) -> String {
    format!(
        r#"{{"global_position":1,"stream_id":"account-1","stream_version":1,"event_id":"00000000-0000-4000-8000-000000000001","event_type":"Deposited","data":{data},"metadata":{metadata},"recorded_at":"2026-01-05T10:01:00Z"}}"#
    )
}

/// A native store holding the two events, and the text the database prints for the first
/// event's data and metadata, without the spaces it puts between tokens.
async fn store(server: Server) -> Option<(TempDb, String, String)> {
    if !available(server) {
        return None;
    }
    let db = TempDb::create(server, "fidelity").await;
    let (ddl, time) = match server {
        Server::Postgres => ("native/postgres.sql", "2026-01-05T10:0{}:00Z"),
        Server::MariaDb => ("native/mysql.sql", "2026-01-05 10:0{}:00"),
        Server::Sqlite => ("native/sqlite.sql", "2026-01-05T10:0{}:00.000000Z"),
    };
    db.load(ddl).await;
    let plain = r#"{"amount": 12.5, "rate": 0.0125, "i": 42, "big": 12345678901234567, "note": "1e400 -0 0.1000000000000000000001"}"#;
    let row = |pos: i64, data: &str, metadata: &str| {
        format!(
            "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, \
             event_type, data, metadata, recorded_at) VALUES ({pos}, 'account-1', {pos}, \
             '00000000-0000-4000-8000-00000000000{pos}', 'Deposited', '{data}', {metadata}, '{}');",
            time.replace("{}", &pos.to_string())
        )
    };
    db.exec(&(row(1, DATA, &format!("'{METADATA}'")) + &row(2, plain, "NULL")))
        .await;
    let printed = |column: &str| {
        let sql = match server {
            Server::Postgres => {
                format!("SELECT {column}::text FROM evscope_events WHERE global_position = 1")
            }
            Server::MariaDb => format!(
                "SELECT CAST({column} AS CHAR) FROM evscope_events WHERE global_position = 1"
            ),
            Server::Sqlite => {
                format!("SELECT {column} FROM evscope_events WHERE global_position = 1")
            }
        };
        let url = db.url.clone();
        async move {
            use sqlx::{Connection, Row};
            let text: String = match server {
                Server::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                    sqlx::query(&sql).fetch_one(&mut c).await.unwrap().get(0)
                }
                Server::MariaDb => {
                    let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
                    sqlx::query(&sql).fetch_one(&mut c).await.unwrap().get(0)
                }
                Server::Sqlite => {
                    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    sqlx::query(&sql).fetch_one(&mut c).await.unwrap().get(0)
                }
            };
            // No string here holds ": " or ", ".
            text.replace(": ", ":").replace(", ", ",")
        }
    };
    let data = printed("data").await;
    let metadata = printed("metadata").await;
    Some((db, data, metadata))
}

/// What a database prints for the numbers of [`DATA`]: PostgreSQL's jsonb keeps them as
/// `numeric` and prints plain decimals; a text column keeps what was written.
fn printed_numbers(server: Server) -> [String; 5] {
    match server {
        Server::Postgres => [
            "123456789012345678901234567890.123456789".into(),
            format!("-0.{}1", "0".repeat(399)),
            format!("1{}", "0".repeat(400)),
            "12345678901234567890123".into(),
            "0.1".into(),
        ],
        _ => [
            "123456789012345678901234567890.123456789".into(),
            "-1e-400".into(),
            "1e400".into(),
            "12345678901234567890123".into(),
            "0.1".into(),
        ],
    }
}

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let out = evscope(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every line is one valid JSON document (as evscope reads JSON: numbers beyond an `f64` are
/// valid).
fn valid_lines(text: &str) {
    for l in text.lines() {
        evscope::exact::parse(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
}

async fn numbers_come_out_as_stored(server: Server) {
    let Some((db, data, metadata)) = store(server).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The database prints the numbers we expect, and evscope is given exactly that.
    for n in printed_numbers(server) {
        assert!(
            data.contains(&format!(":{n},")) || data.contains(&format!(":{n}}}")),
            "{n} in {data}"
        );
    }
    let want = format!("{}\n{PLAIN}\n", exact_line(&data, &metadata));

    let log = run(d, &["--db", &db.url, "log", "--format", "jsonl"]);
    assert_eq!(log, want, "log --format jsonl");
    assert!(!log.contains("problems"), "flagged nowhere");
    valid_lines(&log);

    let events = run(
        d,
        &["--db", &db.url, "events", "account-1", "--format", "jsonl"],
    );
    assert_eq!(events, want, "events --format jsonl");

    // JSON: the stored text in place of the value (compact), the ordinary event as before.
    let json = run(d, &["--db", &db.url, "log", "--format", "json"]);
    evscope::exact::parse(&json).unwrap();
    assert!(
        json.contains(&format!("\n    \"data\": {data},\n")),
        "{json}"
    );
    assert!(
        json.contains(&format!("\n    \"metadata\": {metadata},\n")),
        "{json}"
    );
    assert!(json.ends_with(PLAIN_PRETTY), "{json}");

    // A replay to a JSONL file writes the same lines.
    let file = d.join("out.jsonl");
    let sink = format!("jsonl:{}", file.display());
    run(
        d,
        &[
            "--db",
            &db.url,
            "replay",
            "--from-position",
            "1",
            "--sink",
            &sink,
            "--yes",
            "--quiet",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        want,
        "replay to {sink}"
    );

    // jq sees numbers: integers exactly, decimals written as they are.
    let count = |filter: &str| {
        run(
            d,
            &[
                "--db", &db.url, "log", "--format", "jsonl", "--where", filter,
            ],
        )
        .lines()
        .count()
    };
    let [amount, tiny, ..] = printed_numbers(server);
    for (filter, n) in [
        ("| select(.data.n > 12345678901234567890122)", 1),
        ("| select(.data.n > 12345678901234567890123)", 0),
        ("| select(.data.n == 12345678901234567890123)", 1),
        (&format!("| select(.data.huge > {})", "9".repeat(400)), 1),
        (&format!("| select(.data.huge > 1{})", "0".repeat(400)), 0),
        (&format!("| select(.data.huge == 1{})", "0".repeat(400)), 1),
        ("| select(.data.amount > 1.2e29)", 1),
        ("| select(.data.amount > 1e29 and .data.amount < 1.3e29)", 1),
        (
            "| select([.data.huge, .data.tiny] | map(type) == [\"number\", \"number\"])",
            1,
        ),
        (
            &format!("| select((.data.amount | tojson) == \"{amount}\")"),
            1,
        ),
        (&format!("| select((.data.tiny | tojson) == \"{tiny}\")"), 1),
        // 1e400 in a text column is the integer it is, as jsonb prints it.
        (
            &format!(
                "| select((.data.huge | tojson) == \"1{}\")",
                "0".repeat(400)
            ),
            1,
        ),
        ("| select(.data.f == 0.1 and .data.i == 42)", 1),
        ("| select(.metadata.user == \"ada\")", 1),
        // The ordinary event, as before.
        (
            "| select(.data.amount == 12.5 and .data.big == 12345678901234567)",
            1,
        ),
    ] {
        assert_eq!(count(filter), n, "{filter}");
    }
}

#[tokio::test]
async fn numbers_come_out_as_stored_on_postgres() {
    numbers_come_out_as_stored(Server::Postgres).await;
}

#[tokio::test]
async fn numbers_come_out_as_stored_on_mariadb() {
    numbers_come_out_as_stored(Server::MariaDb).await;
}

#[tokio::test]
async fn numbers_come_out_as_stored_on_sqlite() {
    numbers_come_out_as_stored(Server::Sqlite).await;
}

/// The NATS payload is the event as `log --format jsonl` writes it, byte for byte.
#[tokio::test]
async fn nats_payloads_hold_the_stored_numbers() {
    if !nats_available() {
        return;
    }
    let Some((db, data, metadata)) = store(Server::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name("fidelity").to_uppercase();
    let prefix = name.to_lowercase();
    let js = jetstream::new(async_nats::connect(NATS_URL).await.expect("NATS"));
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .expect("create stream");
    let subject = format!("{prefix}.{{category}}.{{type}}");
    run(
        dir.path(),
        &[
            "--db",
            &db.url,
            "replay",
            "--sink",
            NATS_URL,
            "--subject",
            &subject,
            "--yes",
            "--quiet",
        ],
    );
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream(&name)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    while let Some(m) = batch.next().await {
        got.push(String::from_utf8(m.unwrap().payload.to_vec()).unwrap());
    }
    let _ = js.delete_stream(&name).await;
    assert_eq!(got, [exact_line(&data, &metadata), PLAIN.to_string()]);
}
