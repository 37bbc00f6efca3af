//! Real stores with no configuration (#15): layouts built in and detected (Python
//! eventsourcing from the dumps its own library wrote), stores without event ids or time
//! columns, snapshot states unwrapped by jq, reducers found by stream type, first event or the
//! types they handle, `reducers init`, and the "no reducer" status.

mod common;

use common::{Server, TempDb, available, evscope, fixture_path, jsonl};
use evscope::rehydrate::reducer::Reducers;
use serde_json::Value;

/// Run evscope on `db` with `args`: (exit code, stdout, stderr).
fn run(db: &TempDb, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = evscope(dir.path())
        .arg("--db")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run evscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(db: &TempDb, args: &[&str]) -> String {
    let (code, out, err) = run(db, args);
    assert_eq!(code, 0, "evscope {args:?}: {err}");
    out
}

/// A mapping of the table `ev(pos, s, v, ty, d)` (no id, no time) written in `dir`, with
/// `more` lines at the end of its `[columns]`.
fn bare_mapping(dir: &std::path::Path, more: &str) -> std::path::PathBuf {
    let m = dir.join("m.toml");
    std::fs::write(
        &m,
        format!(
            "name = \"bare\"\n[events]\ntable = \"ev\"\n[columns]\nposition = {{ column = \"pos\" }}\n\
             stream = {{ column = \"s\" }}\nversion = {{ column = \"v\" }}\nevent_type = {{ column = \"ty\" }}\n\
             data = {{ column = \"d\", encoding = \"json\" }}\n{more}"
        ),
    )
    .unwrap();
    m
}

fn fixture(rel: &str) -> String {
    fixture_path(rel).to_str().unwrap().to_string()
}

/// The three accounts of fixtures/python-eventsourcing/bankapp.py (uuid5 ids).
const ANA: &str = "c56365e0-412b-534d-97d1-5d2244de3659";
const BRUNO: &str = "f070318a-47c4-5b65-8374-2b1594ff1f3c";
const CARLA: &str = "3ecaaa8e-8f86-5904-941f-6f5df8fea9cf";

/// A stream id as the store writes it: a uuid on PostgreSQL, 32 hex digits on SQLite.
fn id(server: Server, uuid: &str) -> String {
    if server == Server::Sqlite {
        uuid.replace('-', "")
    } else {
        uuid.to_string()
    }
}

/// A store the Python eventsourcing library wrote (fixtures/python-eventsourcing).
async fn python_store(server: Server, tag: &str) -> TempDb {
    let db = TempDb::create(server, tag).await;
    db.load(if server == Server::Sqlite {
        "python-eventsourcing/sqlite.sql"
    } else {
        "python-eventsourcing/postgres.sql"
    })
    .await;
    db
}

async fn python_eventsourcing(server: Server) {
    if !available(server) {
        return;
    }
    let db = python_store(server, "pyes").await;
    let sqlite = server == Server::Sqlite;
    let (ana, bruno, carla) = (id(server, ANA), id(server, BRUNO), id(server, CARLA));

    // Detection, and why.
    let info: Value = serde_json::from_str(&ok(&db, &["info", "--format", "json"])).unwrap();
    assert_eq!(info["layout"], "python-eventsourcing", "{info}");
    assert_eq!(info["has_time"], true);
    assert_eq!(info["has_event_ids"], false);
    let why = info["detected"].as_str().unwrap();
    if sqlite {
        assert!(why.starts_with("stored_events(originator_id"), "{why}");
        assert!(why.contains("rowid"), "{why}");
    } else {
        // A leader with events and a follower (statements) without: the leader is opened,
        // and both are named.
        assert!(
            why.starts_with("bankaccounts_events(originator_id"),
            "{why}"
        );
        assert!(
            why.contains("python-eventsourcing:bankaccounts")
                && why.contains("python-eventsourcing:statements"),
            "{why}"
        );
        let info: Value = serde_json::from_str(&ok(
            &db,
            &["--schema", "statements", "info", "--format", "json"],
        ))
        .unwrap();
        assert_eq!(info["events_table"], "public.statements_events", "{info}");
        assert!(
            jsonl(&ok(
                &db,
                &["--schema", "statements", "log", "--format", "jsonl"]
            ))
            .is_empty()
        );
        let info: Value = serde_json::from_str(&ok(
            &db,
            &[
                "--schema",
                "python-eventsourcing:bankaccounts",
                "info",
                "--format",
                "json",
            ],
        ))
        .unwrap();
        assert_eq!(info["events_table"], "public.bankaccounts_events");
    }

    // Every field of every event, in order.
    let log = jsonl(&ok(&db, &["log", "--format", "jsonl"]));
    assert_eq!(log.len(), 11);
    let streams = [
        &ana, &ana, &ana, &ana, &bruno, &bruno, &carla, &carla, &carla, &carla, &carla,
    ];
    let versions = [1, 2, 3, 4, 1, 2, 1, 2, 3, 4, 5];
    let types = [
        "Opened",
        "Deposited",
        "Withdrawn",
        "Deposited",
        "Opened",
        "Deposited",
        "Opened",
        "Deposited",
        "Deposited",
        "Deposited",
        "Deposited",
    ];
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e["global_position"], i as i64 + 1, "{e}");
        assert_eq!(e["stream_id"], streams[i].as_str(), "{e}");
        assert_eq!(e["stream_version"], versions[i], "{e}");
        // No event id in the store: stream@version.
        assert_eq!(
            e["event_id"],
            format!("{}@{}", streams[i], versions[i]),
            "{e}"
        );
        assert_eq!(e["event_type"], format!("bankapp:BankAccount.{}", types[i]));
        assert_eq!(e["metadata"], Value::Null);
        assert!(e.get("problems").is_none(), "{e}");
        // The time is the one inside the data.
        let inside = e["data"]["timestamp"]["_data_"].as_str().unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(inside).unwrap();
        let shown = chrono::DateTime::parse_from_rfc3339(e["recorded_at"].as_str().unwrap());
        assert_eq!(shown.unwrap(), t, "{e}");
    }
    assert_eq!(log[0]["data"]["owner"], "ana");
    assert_eq!(log[0]["data"]["originator_topic"], "bankapp:BankAccount");
    assert_eq!(log[1]["data"]["amount"], 500);

    // Filters: type, category-free prefix, time range from the JSON, both directions.
    let w = jsonl(&ok(
        &db,
        &[
            "log",
            "--type",
            "bankapp:BankAccount.Withdrawn",
            "--format",
            "jsonl",
        ],
    ));
    assert_eq!(w, log[2..3]);
    let (since, until) = (
        log[3]["recorded_at"].as_str().unwrap(),
        log[6]["recorded_at"].as_str().unwrap(),
    );
    assert_eq!(
        jsonl(&ok(
            &db,
            &[
                "log", "--since", since, "--until", until, "--format", "jsonl"
            ]
        )),
        log[3..6]
    );
    let back = jsonl(&ok(
        &db,
        &["log", "--backward", "--limit", "2", "--format", "jsonl"],
    ));
    assert_eq!(back, [log[10].clone(), log[9].clone()]);
    assert_eq!(
        jsonl(&ok(&db, &["events", &ana, "--format", "jsonl"])),
        log[0..4]
    );
    assert_eq!(
        jsonl(&ok(
            &db,
            &[
                "events",
                &carla,
                "--backward",
                "--limit",
                "2",
                "--format",
                "jsonl"
            ]
        )),
        [log[10].clone(), log[9].clone()]
    );
    assert_eq!(
        jsonl(&ok(
            &db,
            &["log", "--stream-prefix", &bruno[..6], "--format", "jsonl"]
        )),
        log[4..6]
    );
    assert_eq!(
        jsonl(&ok(
            &db,
            &["events", &ana, "--since", since, "--format", "jsonl"]
        )),
        log[3..4]
    );
    let s: Vec<Value> = serde_json::from_str(&ok(&db, &["streams", "--format", "json"])).unwrap();
    assert_eq!(s.len(), 3);

    // Without a reducer file: the snapshots are not checked, and it says so (exit 3).
    let (code, out, _) = run(&db, &["verify-snapshots"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("no reducer for bankapp:BankAccount: 2 snapshots not checked"),
        "{out}"
    );
    // With one, matched by stream type: the wrapped states verify.
    let reducers = fixture("reducers/python-eventsourcing.toml");
    let (code, out, err) = run(
        &db,
        &[
            "--reducers",
            &reducers,
            "verify-snapshots",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["ok"], 2, "{doc}");
    let snaps = doc["snapshots"].as_array().unwrap();
    assert_eq!(
        snaps[0]["taken_at"].as_str().map(|t| t.starts_with("20")),
        Some(true)
    );
    let state: Value =
        serde_json::from_str(&ok(&db, &["--reducers", &reducers, "rehydrate", &ana])).unwrap();
    assert_eq!(state, serde_json::json!({"owner": "ana", "balance": 1500}));
    let state: Value = serde_json::from_str(&ok(
        &db,
        &["--reducers", &reducers, "rehydrate", &ana, "--at", "3"],
    ))
    .unwrap();
    assert_eq!(state["balance"], 1300);

    // reducers init: one reducer for the stream type, every type seen; it parses.
    let text = ok(&db, &["reducers", "init"]);
    let r = Reducers::parse(&text, "init").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(r.reducers.len(), 1, "{text}");
    assert!(
        text.contains("stream_type = \"bankapp:BankAccount\""),
        "{text}"
    );
    for t in ["Opened", "Deposited", "Withdrawn"] {
        assert!(
            r.reducers[0].handles(&format!("bankapp:BankAccount.{t}")),
            "{text}"
        );
    }
    assert!(
        text.contains("\"opening_balance\":1000"),
        "a sample payload: {text}"
    );
    // Its merge programs fold: the snapshots now drift (the merge is only a start), exit 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("init.toml");
    std::fs::write(&path, &text).unwrap();
    let (code, _, _) = run(
        &db,
        &["--reducers", path.to_str().unwrap(), "verify-snapshots"],
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn python_eventsourcing_on_postgres() {
    python_eventsourcing(Server::Postgres).await;
}

#[tokio::test]
async fn python_eventsourcing_on_sqlite() {
    python_eventsourcing(Server::Sqlite).await;
}

/// The seeds' classic example: aggregate `1` folds to 1500 (1300 at version 3) with only
/// `--reducers`: the reducer `conta` matches no id, but it handles the stream's first event.
async fn seeds(server: Server, fixture_file: &str) {
    if !available(server) {
        return;
    }
    let db = TempDb::create(server, "seeds15").await;
    db.load(fixture_file).await;
    db.exec(
        "DELETE FROM events;
         INSERT INTO events (event_id, aggregate_id, event_type, version, payload, timestamp) VALUES
           ('s1', '1', 'ContaCriada', 1, '{\"titularId\":\"123\",\"saldoInicial\":1000}', '2024-01-01 00:00:00'),
           ('s2', '1', 'DepositoRealizado', 2, '{\"valor\":500}', '2024-01-10 00:00:00'),
           ('s3', '1', 'SaqueRealizado', 3, '{\"valor\":200}', '2024-01-20 00:00:00'),
           ('s4', '1', 'DepositoRealizado', 4, '{\"valor\":200}', '2024-01-30 00:00:00');"
            .replace(" timestamp)", if server == Server::Postgres { " \"timestamp\")" } else { " timestamp)" })
            .as_str(),
    )
    .await;
    let seeds = fixture("reducers/seeds.toml");
    let state: Value =
        serde_json::from_str(&ok(&db, &["--reducers", &seeds, "rehydrate", "1"])).unwrap();
    assert_eq!(state["saldo"].as_f64(), Some(1500.0), "{state}");
    let state: Value = serde_json::from_str(&ok(
        &db,
        &["--reducers", &seeds, "rehydrate", "1", "--at", "3"],
    ))
    .unwrap();
    assert_eq!(state["saldo"].as_f64(), Some(1300.0), "{state}");
    // --reducer names one explicitly (pagamento knows none of these types: it says so).
    let (code, _, err) = run(
        &db,
        &[
            "--reducers",
            &seeds,
            "--reducer",
            "pagamento",
            "rehydrate",
            "1",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ContaCriada"), "{err}");
    let (code, _, err) = run(
        &db,
        &["--reducers", &seeds, "--reducer", "nope", "rehydrate", "1"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("conta, pagamento"), "{err}");
    // The audit names no type as unknown: each is handled by the stream's reducer.
    let out = ok(&db, &["--reducers", &seeds, "audit", "--format", "json"]);
    assert!(!out.contains("does not name"), "{out}");
}

#[tokio::test]
async fn seeds_fold_by_their_first_event_on_sqlite() {
    seeds(Server::Sqlite, "classic/sqlite.sql").await;
}

#[tokio::test]
async fn seeds_fold_by_their_first_event_on_mariadb() {
    seeds(Server::MariaDb, "classic/mysql.sql").await;
}

#[tokio::test]
async fn seeds_fold_by_their_first_event_on_postgres() {
    seeds(Server::Postgres, "classic/postgres.sql").await;
}

/// Reducers matched by the type the store records in a table: Emmett's emt_streams and
/// Marten's mt_streams.
#[tokio::test]
async fn reducers_match_by_the_stream_type_a_table_records() {
    if !available(Server::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        "[[reducer]]\nname = \"pay\"\nstream_type = [\"payment\", \"Bank.Payment*\"]\nunknown = \"skip\"\n\
         [reducer.on]\nPaymentCreated = '.made = $event.data.amount'\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let db = TempDb::create(Server::Postgres, "emmett15").await;
    db.load("emmett/postgres.sql").await;
    let state: Value =
        serde_json::from_str(&ok(&db, &["--reducers", file, "rehydrate", "payment-5001"])).unwrap();
    assert_eq!(state, serde_json::json!({"made": 250}));
    // account streams have type `account`: no reducer, the merge fold.
    let state: Value =
        serde_json::from_str(&ok(&db, &["--reducers", file, "rehydrate", "account-1002"])).unwrap();
    assert_eq!(state["owner"], "Bruno Lima");
    // The audit matches the same way: payment streams are the reducer's, not "no reducer".
    let (_, audit, _) = run(&db, &["--reducers", file, "audit", "--format", "jsonl"]);
    assert!(!audit.contains("category payment (no reducer)"), "{audit}");
    assert!(audit.contains("category account (no reducer)"), "{audit}");

    let db = TempDb::create(Server::Postgres, "marten15").await;
    db.load("marten-guid/postgres.sql").await;
    let log = jsonl(&ok(
        &db,
        &["log", "--type", "PaymentCreated", "--format", "jsonl"],
    ));
    let payment = log[0]["stream_id"].as_str().unwrap().to_string();
    db.exec(&format!(
        "UPDATE mt_streams SET type = 'Bank.Payment, Bank' WHERE id = '{payment}'"
    ))
    .await;
    let state: Value =
        serde_json::from_str(&ok(&db, &["--reducers", file, "rehydrate", &payment])).unwrap();
    assert_eq!(state, serde_json::json!({"made": 250}));
    // The audit reads mt_streams.type too: the payment stream is the reducer's, also for a
    // reducer that does not handle the stream's first event (so only its type can match it).
    let late = dir.path().join("late.toml");
    std::fs::write(
        &late,
        "[[reducer]]\nname = \"pay\"\nstream_type = [\"Bank.Payment*\"]\nunknown = \"skip\"\n\
         [reducer.on]\nPaymentConfirmed = '.ok = true'\n",
    )
    .unwrap();
    let late = late.to_str().unwrap();
    let (_, audit, _) = run(&db, &["--reducers", late, "audit", "--format", "jsonl"]);
    let about: Vec<Value> = jsonl(&audit)
        .into_iter()
        .filter(|f| f["stream_id"] == payment.as_str())
        .collect();
    assert!(!about.is_empty(), "{audit}");
    assert!(
        about
            .iter()
            .all(|f| f["detail"].as_str().unwrap().contains("reducer pay")),
        "{audit}"
    );
}

/// No reducer for a store's streams: not "drifted" but not checked, with its own exit code;
/// a reducer file that applies to none says so.
#[tokio::test]
async fn snapshots_without_a_reducer_are_not_checked_and_say_so() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "commanded15").await;
    db.load("commanded/postgres.sql").await;
    let (code, out, _) = run(&db, &["verify-snapshots"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("no reducer for category account: 1 snapshot not checked"),
        "{out}"
    );
    assert!(out.contains("0 drifted"), "{out}");
    let (code, out, _) = run(&db, &["verify-snapshots", "--format", "json"]);
    assert_eq!(code, 3);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["snapshots"][0]["status"], "no_reducer", "{doc}");
    assert_eq!(doc["summary"]["no_reducer"], 1);
    assert_eq!(
        doc["summary"]["no_reducer_matched"], false,
        "no reducer file"
    );
    // Seeds' reducers fit no stream of this store.
    let (code, _, err) = run(
        &db,
        &[
            "--reducers",
            &fixture("reducers/seeds.toml"),
            "verify-snapshots",
        ],
    );
    assert_eq!(code, 3);
    assert!(err.contains("none of the 2 reducer(s)"), "{err}");
    let (code, out, _) = run(
        &db,
        &[
            "--reducers",
            &fixture("reducers/seeds.toml"),
            "verify-snapshots",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 3);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["no_reducer_matched"], true, "{doc}");
    // A fold with that file says the merge fold ran instead, rather than nothing.
    let stream = doc["snapshots"][0]["stream_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, err) = run(
        &db,
        &[
            "--reducers",
            &fixture("reducers/seeds.toml"),
            "rehydrate",
            &stream,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no reducer of") && err.contains("merge fold"),
        "{err}"
    );
    // Without a reducer file the audit lists no type as unknown.
    let out = ok(&db, &["audit", "--format", "json"]);
    assert!(!out.contains("does not name"), "{out}");
}

/// A store with no time column: the time features say so.
#[tokio::test]
async fn a_store_without_time_says_so() {
    let db = TempDb::create(Server::Sqlite, "notime").await;
    db.exec(
        "CREATE TABLE ev (pos INTEGER PRIMARY KEY, s TEXT, v INTEGER, ty TEXT, d TEXT);
         INSERT INTO ev VALUES (1, 'a-1', 1, 'Made', '{\"x\":1}'), (2, 'a-1', 2, 'Changed', '{\"x\":2}');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = bare_mapping(dir.path(), "");
    let m = m.to_str().unwrap();
    let log = jsonl(&ok(&db, &["--mapping", m, "log", "--format", "jsonl"]));
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["recorded_at"], Value::Null);
    assert_eq!(log[1]["event_id"], "a-1@2");
    let info = ok(&db, &["--mapping", m, "info"]);
    assert!(info.contains("time       none"), "{info}");
    for args in [
        &["log", "--since", "2026-01-01"][..],
        &["events", "a-1", "--until", "2026-01-01"],
        &["rehydrate", "a-1", "--as-of", "2026-01-01"],
    ] {
        let mut a = vec!["--mapping", m];
        a.extend_from_slice(args);
        let (code, _, err) = run(&db, &a);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("records no time"), "{args:?}: {err}");
    }
}

/// Type and stream columns that may be NULL: evscope (and jq) see the empty string, and a
/// pushed-down `.event_type == ""` / `.stream_id == ""` keeps those rows as the unpushed
/// program does.
#[tokio::test]
async fn a_null_type_is_the_empty_string_pushed_or_not() {
    let db = TempDb::create(Server::Sqlite, "nulltype").await;
    db.exec(
        "CREATE TABLE ev (pos INTEGER PRIMARY KEY, s TEXT, v INTEGER, ty TEXT, d TEXT);
         INSERT INTO ev VALUES (1, 'a-1', 1, NULL, '{}'), (2, 'a-1', 2, 'Made', '{}'), (3, 'a-1', 3, '', '{}'),
           (4, NULL, 1, 'Made', '{}');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = bare_mapping(dir.path(), "");
    let m = m.to_str().unwrap();
    let pos = |program: &str| -> Vec<i64> {
        jsonl(&ok(
            &db,
            &[
                "--mapping",
                m,
                "log",
                "--format",
                "jsonl",
                "--where",
                program,
            ],
        ))
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect()
    };
    assert_eq!(pos(r#"| .event_type == """#), [1, 3]);
    assert_eq!(pos(r#"| (.event_type == "") | ."#), [1, 3]);
    assert_eq!(pos(r#"| .event_type < "M""#), [1, 3]);
    assert_eq!(pos(r#"| .event_type != """#), [2, 4]);
    // And a NULL stream: the empty string.
    assert_eq!(pos(r#"| .stream_id == """#), [4]);
    assert_eq!(pos(r#"| (.stream_id == "") | ."#), [4]);
}

/// Metadata members kept in columns of their own are merged on PostgreSQL only: elsewhere
/// the mapping is refused at once, naming why (never a query error later, never a silent
/// metadata without them).
#[tokio::test]
async fn metadata_keys_are_refused_off_postgres() {
    let db = TempDb::create(Server::Sqlite, "metakeys").await;
    db.exec(
        "CREATE TABLE ev (pos INTEGER PRIMARY KEY, s TEXT, v INTEGER, ty TEXT, d TEXT, m TEXT, corr TEXT);
         INSERT INTO ev VALUES (1, 'a-1', 1, 'Made', '{\"x\":1}', '{}', 'c-1');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = bare_mapping(
        dir.path(),
        "metadata = { column = \"m\", encoding = \"json\" }\n\
         [columns.metadata_keys]\ncorrelation_id = { column = \"corr\" }\n",
    );
    let (code, _, err) = run(&db, &["--mapping", m.to_str().unwrap(), "log"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("PostgreSQL only"), "{err}");
}

/// Emmett's own store (fixtures/emmett-generated: written by @event-driven-io/emmett-postgresql
/// and dumped): detected with no configuration, the shared dataset's streams, versions, types
/// and data, and its stream types from emt_streams.
#[tokio::test]
async fn an_emmett_store_written_by_emmett() {
    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "emmettgen").await;
    db.load("emmett-generated/postgres.sql").await;
    let info: Value = serde_json::from_str(&ok(&db, &["info", "--format", "json"])).unwrap();
    assert_eq!(info["layout"], "emmett", "{info}");
    let log = jsonl(&ok(&db, &["log", "--format", "jsonl"]));
    let expected = jsonl(&std::fs::read_to_string(fixture_path("expected/emmett.jsonl")).unwrap());
    assert_eq!(log.len(), expected.len());
    for (got, want) in log.iter().zip(&expected) {
        for k in [
            "global_position",
            "stream_id",
            "stream_version",
            "event_type",
            "data",
        ] {
            assert_eq!(got[k], want[k], "{k}: {got} / {want}");
        }
        assert_eq!(
            got["metadata"]["correlation_id"], want["metadata"]["correlation_id"],
            "{got}"
        );
        assert!(got["event_id"].as_str().unwrap().len() == 36, "{got}");
    }
    let text = ok(&db, &["reducers", "init"]);
    let r = Reducers::parse(&text, "init").unwrap();
    let names: Vec<&str> = r.reducers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["account", "payment"], "{text}");
    assert!(text.contains("stream_type = \"payment\""), "{text}");
    // The same survey for scripts: json one document, jsonl one group per line.
    let doc: Value =
        serde_json::from_str(&ok(&db, &["reducers", "init", "--format", "json"])).unwrap();
    assert_eq!(doc["more"], false, "{doc}");
    let groups = doc["groups"].as_array().unwrap();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["account", "payment"], "{doc}");
    assert!(groups.iter().all(|g| g["by"] == "stream_type"), "{doc}");
    let counted: u64 = groups
        .iter()
        .flat_map(|g| g["types"].as_array().unwrap())
        .map(|t| t["count"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(counted), doc["events_read"].as_u64(), "{doc}");
    let lines = jsonl(&ok(&db, &["reducers", "init", "--format", "jsonl"]));
    assert_eq!(lines, *groups, "jsonl holds the json's groups, one a line");
}

/// A time taken from a path in the data (`recorded_at = { path = ... }`), read and filtered by
/// the database on each of the three.
async fn time_from_the_data(server: Server) {
    if !available(server) {
        return;
    }
    let db = TempDb::create(server, "timepath").await;
    let (json, text) = match server {
        Server::Postgres => ("jsonb", "text"),
        Server::MariaDb => ("json", "varchar(64)"),
        Server::Sqlite => ("text", "text"),
    };
    db.exec(&format!(
        "CREATE TABLE ev (pos BIGINT PRIMARY KEY, s {text}, v BIGINT, ty {text}, d {json});
         INSERT INTO ev VALUES
           (1, 'a-1', 1, 'Made', '{{\"x\": 1, \"meta\": {{\"at\": \"2026-01-05T10:01:00Z\"}}}}'),
           (2, 'a-1', 2, 'Changed', '{{\"x\": 2, \"meta\": {{\"at\": \"2026-01-05T10:02:30.5Z\"}}}}'),
           (3, 'b-1', 1, 'Made', '{{\"x\": 3, \"meta\": {{\"at\": \"2026-01-05T10:03:00Z\"}}}}');"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.toml");
    let enc = if server == Server::Sqlite {
        "json"
    } else {
        "jsonb"
    };
    std::fs::write(
        &m,
        format!(
            "name = \"inside\"\n[events]\ntable = \"ev\"\n[columns]\nposition = {{ column = \"pos\" }}\n\
             stream = {{ column = \"s\" }}\nversion = {{ column = \"v\" }}\nevent_type = {{ column = \"ty\" }}\n\
             data = {{ column = \"d\", encoding = \"{enc}\" }}\nrecorded_at = {{ path = \"meta.at\" }}\n"
        ),
    )
    .unwrap();
    let m = m.to_str().unwrap();
    let log = jsonl(&ok(&db, &["--mapping", m, "log", "--format", "jsonl"]));
    let times: Vec<&str> = log
        .iter()
        .map(|e| e["recorded_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-01-05T10:01:00Z",
            "2026-01-05T10:02:30.500Z",
            "2026-01-05T10:03:00Z"
        ],
        "{server:?}"
    );
    let w = jsonl(&ok(
        &db,
        &[
            "--mapping",
            m,
            "log",
            "--since",
            "2026-01-05T10:02:00Z",
            "--until",
            "2026-01-05T10:03:00Z",
            "--format",
            "jsonl",
        ],
    ));
    assert_eq!(w, log[1..2], "{server:?}");
    let back = jsonl(&ok(
        &db,
        &[
            "--mapping",
            m,
            "events",
            "a-1",
            "--backward",
            "--until",
            "2026-01-05T10:02:00Z",
            "--format",
            "jsonl",
        ],
    ));
    assert_eq!(back, log[0..1], "{server:?}");
    let state: Value = serde_json::from_str(&ok(
        &db,
        &[
            "--mapping",
            m,
            "rehydrate",
            "a-1",
            "--as-of",
            "2026-01-05T10:02:00Z",
        ],
    ))
    .unwrap();
    assert_eq!(state["x"], 1, "{server:?}");
}

#[tokio::test]
async fn time_from_the_data_on_postgres() {
    time_from_the_data(Server::Postgres).await;
}

#[tokio::test]
async fn time_from_the_data_on_mariadb() {
    time_from_the_data(Server::MariaDb).await;
}

#[tokio::test]
async fn time_from_the_data_on_sqlite() {
    time_from_the_data(Server::Sqlite).await;
}

/// A Python eventsourcing state that is not JSON (compressed, encrypted, or damaged: the
/// library can compress and encrypt) is one flagged row, not a failed read: the time inside
/// the state is read from the parsed state, never by the database (whose JSON cast would fail
/// the whole query).
async fn python_eventsourcing_with_a_state_that_is_not_json(server: Server) {
    if !available(server) {
        return;
    }
    let db = python_store(server, "pyes_bad").await;
    let sqlite = server == Server::Sqlite;
    db.exec(if sqlite {
        "INSERT INTO stored_events VALUES('00000000000000000000000000000001',1,'bankapp:BankAccount.Opened',X'789c00ff');"
    } else {
        "INSERT INTO public.bankaccounts_events VALUES ('00000000-0000-0000-0000-000000000001', 1, 'bankapp:BankAccount.Opened', '\\x789c00ff', 12);"
    })
    .await;
    let log = jsonl(&ok(&db, &["log", "--format", "jsonl"]));
    assert_eq!(log.len(), 12, "every event, the bad one too");
    let bad = &log[11];
    assert_eq!(bad["recorded_at"], Value::Null, "{bad}");
    let problems = bad["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("not valid JSON")),
        "{bad}"
    );
    // The others keep their times.
    assert!(
        log[..11].iter().all(|e| e["recorded_at"].is_string()),
        "{log:?}"
    );
    let stream = if sqlite {
        "00000000000000000000000000000001"
    } else {
        "00000000-0000-0000-0000-000000000001"
    };
    let events = jsonl(&ok(&db, &["events", stream, "--format", "jsonl"]));
    assert_eq!(events.len(), 1);
    // The stream list and the audit read it too.
    let streams = jsonl(&ok(&db, &["streams", "--format", "jsonl"]));
    assert!(
        streams.iter().any(|s| s["stream_id"] == stream),
        "{streams:?}"
    );
    let (code, out, err) = run(&db, &["audit", "--format", "json"]);
    assert!(code == 0 || code == 1, "{code} {out} {err}");
    // A snapshot whose state is not JSON: flagged, the other snapshots still read with times.
    db.exec(if sqlite {
        "INSERT INTO stored_snapshots VALUES('00000000000000000000000000000001',1,'eventsourcing.domain:Snapshot',X'789c00ff');"
    } else {
        "INSERT INTO public.bankaccounts_snapshots VALUES ('00000000-0000-0000-0000-000000000001', 1, 'eventsourcing.domain:Snapshot', '\\x789c00ff');"
    })
    .await;
    let (code, out, err) = run(&db, &["verify-snapshots", "--format", "json"]);
    assert!(!err.contains("query failed"), "{code} {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let checks = doc["snapshots"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(checks.len(), 3, "{doc}");
    let bad = checks.iter().find(|c| c["stream_id"] == stream).unwrap();
    assert_eq!(bad["status"], "error", "{bad}");
    assert!(
        checks
            .iter()
            .filter(|c| c["stream_id"] != stream)
            .all(|c| c["taken_at"].is_string()),
        "{doc}"
    );
}

#[tokio::test]
async fn python_eventsourcing_state_that_is_not_json_on_postgres() {
    python_eventsourcing_with_a_state_that_is_not_json(Server::Postgres).await;
}

#[tokio::test]
async fn python_eventsourcing_state_that_is_not_json_on_sqlite() {
    python_eventsourcing_with_a_state_that_is_not_json(Server::Sqlite).await;
}
