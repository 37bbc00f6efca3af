//! Rehydration end to end: reducers on real stores, the CLI, stepping back and forth.

mod common;

use common::{Server, TempDb, evscope, jsonl};
use evscope::rehydrate::reducer::Reducers;
use evscope::rehydrate::timeline::{Origin, Timeline};
use evscope::store::{OpenOptions, Store, StreamRead};
use serde_json::{Value, json};

/// The seeds' bank account in the classic table, with the events of the article.
async fn seeds_db() -> TempDb {
    let db = TempDb::create(Server::Sqlite, "seeds").await;
    db.load("classic/sqlite.sql").await;
    db.exec(
        "DELETE FROM events;
         INSERT INTO events VALUES ('s1', 'conta-1', 'ContaCriada', 1, '{\"titularId\":\"123\",\"saldoInicial\":1000.00}', '2024-01-01 00:00:00');
         INSERT INTO events VALUES ('s2', 'conta-1', 'DepositoRealizado', 2, '{\"valor\":500.00,\"origem\":\"TED\"}', '2024-01-15 00:00:00');
         INSERT INTO events VALUES ('s3', 'conta-1', 'SaqueRealizado', 3, '{\"valor\":200.00,\"local\":\"ATM\"}', '2024-01-20 00:00:00');
         INSERT INTO events VALUES ('s4', 'conta-1', 'DepositoRealizado', 4, '{\"valor\":200.00,\"origem\":\"PIX\"}', '2024-01-25 00:00:00');",
    )
    .await;
    db
}

#[tokio::test]
async fn the_seed_account_rehydrates_to_1500_through_the_cli() {
    let db = seeds_db().await;
    let dir = tempfile::tempdir().unwrap();
    let seeds = common::fixture_path("reducers/seeds.toml");
    let run = |extra: &[&str]| {
        evscope(dir.path())
            .args([
                "--db",
                &db.url,
                "rehydrate",
                "conta-1",
                "--reducers",
                seeds.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["saldo"].as_f64(), Some(1500.0), "{state}");
    // As of a version, and as of a time.
    let at2: Value = serde_json::from_slice(&run(&["--at", "2"]).stdout).unwrap();
    assert_eq!(
        at2["saldo"].as_f64(),
        Some(1500.0),
        "1000 + 500 at version 2: {at2}"
    );
    let asof: Value = serde_json::from_slice(&run(&["--as-of", "2024-01-20"]).stdout).unwrap();
    assert_eq!(
        asof["saldo"].as_f64(),
        Some(1300.0),
        "after the withdrawal of 2024-01-20: {asof}"
    );
    // The trace: one line per event with what it changed.
    let trace = jsonl(&String::from_utf8_lossy(&run(&["--trace"]).stdout));
    assert_eq!(trace.len(), 4);
    assert_eq!(trace[0]["event_type"], "ContaCriada");
    assert_eq!(
        trace[2]["changes"],
        json!([{"op": "changed", "path": ".saldo", "old": 1500.0, "new": 1300.0, "delta": -200.0, "type_changed": false}])
    );
    // Without reducers: the default merge fold.
    let out = evscope(dir.path())
        .args(["--db", &db.url, "rehydrate", "conta-1"])
        .output()
        .unwrap();
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        merged["origem"], "PIX",
        "the last deposit's data merged: {merged}"
    );
    // An unknown stream is an error.
    let out = evscope(dir.path())
        .args(["--db", &db.url, "rehydrate", "conta-404"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stream \"conta-404\""));
}

#[tokio::test]
async fn a_failing_reducer_stops_at_its_event_and_names_the_filter() {
    let db = seeds_db().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[reducer]]\nmatch = \"conta\"\nunknown = \"error\"\n[reducer.on]\nContaCriada = '.saldo = $event.data.saldoInicial'\nDepositoRealizado = '.saldo += $event.data.origem'\nSaqueRealizado = '.'\n",
    )
    .unwrap();
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "rehydrate",
            "conta-1",
            "--reducers",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DepositoRealizado")
            && err.contains("version 2")
            && err.contains(".saldo += $event.data.origem"),
        "{err}"
    );
    let before: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        before["saldo"].as_f64(),
        Some(1000.0),
        "the state before the failing event is shown"
    );
}

async fn demo_store(dir: &std::path::Path) -> Store {
    let path = dir.join("demo.db");
    evscope::demo::ensure(&path, 8, false).await.unwrap();
    Store::open(&OpenOptions {
        url: evscope::demo::url_for(&path),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn stepping_back_and_forth_equals_folding_straight_to_each_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path()).await;
    let stream = "account-0003";
    let fold = Reducers::demo().fold_for(stream);
    let all = store
        .read_stream(
            stream,
            &StreamRead {
                limit: 100_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Straight folds, for every version.
    let mut straight = Vec::new();
    let mut s = fold.start(&fold.initial());
    for e in &all {
        s = fold.apply(s, e).unwrap();
        straight.push(s.to_json());
    }
    // With no steps kept, every step back refolds from a checkpoint; with them (the default),
    // the steps back through what was folded are the kept states.
    for max_kept in [0, 2048] {
        let mut t = Timeline::open(store.clone(), stream, fold.clone())
            .await
            .unwrap();
        t.every = 10;
        t.max_checkpoints = 4;
        t.max_kept = max_kept;
        // Forward to the end one step at a time.
        let mut step = t.start().await.unwrap();
        assert_eq!(step.state, straight[0]);
        for (i, want) in straight.iter().enumerate().skip(1) {
            step = t.forward().await.unwrap();
            assert_eq!(&step.state, want, "forward to version {}", i + 1);
            assert_eq!(step.folded, 1, "a step forward applies one event");
        }
        assert!(
            t.checkpoints() <= 4,
            "checkpoints stay bounded: {}",
            t.checkpoints()
        );
        // Back to the start, one step at a time, never refolding from the first event.
        for i in (0..straight.len() - 1).rev() {
            step = t.back().await.unwrap();
            assert_eq!(step.state, straight[i], "back to version {}", i + 1);
            assert_eq!(step.event.as_ref().unwrap().stream_version, i as i64 + 1);
            assert!(step.folded <= t.every, "refolded {} events", step.folded);
            if max_kept > 0 {
                assert_eq!(step.origin, Origin::Kept, "back to version {}", i + 1);
                assert_eq!(step.folded, 0);
            } else if i > 2 * t.every {
                assert!(
                    matches!(step.origin, Origin::Checkpoint { .. }),
                    "{:?}",
                    step.origin
                );
            }
            if i > 0 {
                let changed = evscope::rehydrate::diff::diff(&straight[i - 1], &straight[i]);
                assert_eq!(step.changes, changed, "the changes of version {}", i + 1);
            }
        }
    }
    let mut t = Timeline::open(store.clone(), stream, fold.clone())
        .await
        .unwrap();
    // Jumps and the changes of a step.
    let mid = all.len() as i64 / 2;
    let s = t.goto(mid).await.unwrap();
    assert_eq!(s.state, straight[mid as usize - 1]);
    let ev = s.event.unwrap();
    assert_eq!(ev.stream_version, mid);
    if ev.event_type == "Deposited" || ev.event_type == "Withdrawn" {
        assert_eq!(s.changes.len(), 1);
        assert_eq!(s.changes[0].path(), ".balance");
    }
    let before = t.goto(0).await.unwrap();
    assert_eq!(before.version, None);
    assert_eq!(before.state, fold.initial());
    let end = t.end().await.unwrap();
    assert_eq!(&end.state, straight.last().unwrap());
    let t0 = all[9].recorded_at.unwrap();
    let asof = t.as_of(t0).await.unwrap();
    assert_eq!(asof.version, Some(10));
}

#[tokio::test]
async fn demo_snapshots_match_the_demo_reducers_except_the_recorded_drifts() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path()).await;
    let summary = evscope::demo::ensure(&dir.path().join("demo.db"), 8, false)
        .await
        .unwrap();
    let reducers = Reducers::demo();
    let url = evscope::demo::url_for(&dir.path().join("demo.db"));
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let snaps: Vec<(String, i64, String)> = sqlx::query_as("SELECT stream_id, stream_version, state FROM evscope_snapshots ORDER BY stream_id, stream_version")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let mut drifted = Vec::new();
    let mut timelines = std::collections::HashMap::new();
    for (stream, version, state) in snaps {
        if !timelines.contains_key(&stream) {
            let t = Timeline::open(store.clone(), &stream, reducers.fold_for(&stream))
                .await
                .unwrap();
            timelines.insert(stream.clone(), t);
        }
        let t = timelines.get_mut(&stream).unwrap();
        let step = t.goto(version).await.unwrap();
        assert!(step.error.is_none());
        let stored: Value = serde_json::from_str(&state).unwrap();
        if stored != step.state {
            drifted.push((stream.clone(), version));
        }
    }
    let mut recorded: Vec<(String, i64)> = summary
        .drifted
        .iter()
        .map(|d| (d.stream_id.clone(), d.stream_version))
        .collect();
    recorded.sort();
    drifted.sort();
    assert_eq!(drifted, recorded);
}

#[tokio::test]
async fn trusted_snapshots_are_starting_points_and_say_so() {
    let db = TempDb::create(Server::Sqlite, "snap").await;
    db.load("native/sqlite.sql").await;
    db.load("native/dataset-sqlite.sql").await;
    let store = Store::open(&OpenOptions {
        url: db.url.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let fold = Reducers::demo().fold_for("account-1001");
    let snaps = store
        .snapshots("account-1001", None, false, 10)
        .await
        .unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.stream_version).collect::<Vec<_>>(),
        vec![2, 4]
    );
    assert_eq!(snaps[0].snapshot_type.as_deref(), Some("Account"));
    let mut t = Timeline::open(store.clone(), "account-1001", fold.clone())
        .await
        .unwrap();
    let honest = t.goto(3).await.unwrap();
    assert_eq!(honest.state["balance"], 1500);
    assert_eq!(honest.origin, Origin::Initial);
    t.trust_snapshots = true;
    t.current = None;
    let s5 = t.goto(5).await.unwrap();
    assert_eq!(s5.origin, Origin::Snapshot { version: 4 });
    assert_eq!(s5.folded, 1);
    assert_eq!(s5.state["balance"], 1500, "1300 at v4 + 200");
    // The drifted snapshot at v2 (balance 999) carries its drift: why trust is opt-in.
    t.current = None;
    let s3 = t.goto(3).await.unwrap();
    assert_eq!(s3.origin, Origin::Snapshot { version: 2 });
    assert_eq!(s3.state["balance"], 1499);

    let dir = tempfile::tempdir().unwrap();
    let demo = common::fixture_path("reducers/demo.toml");
    let out = evscope(dir.path())
        .args([
            "--db",
            &db.url,
            "--reducers",
            demo.to_str().unwrap(),
            "rehydrate",
            "account-1001",
            "--trust-snapshots",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("snapshot at version 4"));
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["balance"], 1500);
}

/// Steps back through what a fold just went through are served from the steps it kept:
/// with the events table gone from under it, the kept versions still step (same states as
/// before), and the first version past them is a read that fails with its error.
#[tokio::test]
async fn steps_back_through_a_fold_just_made_read_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path()).await;
    let stream = "account-0005";
    let fold = Reducers::demo().fold_for(stream);
    let mut t = Timeline::open(store.clone(), stream, fold).await.unwrap();
    t.max_kept = 20;
    let end = t.end().await.unwrap();
    let last = end.version.unwrap();
    assert!(last > 40, "{last}");
    // The same states with the table there.
    let mut want = Vec::new();
    for _ in 0..19 {
        want.push(t.back().await.unwrap().state);
    }
    t.end().await.unwrap();
    // The same with little memory for them: fewer are kept (the oldest go first).
    let mut small = Timeline::open(store.clone(), stream, Reducers::demo().fold_for(stream))
        .await
        .unwrap();
    small.max_kept = 20;
    small.max_kept_bytes = 4096;
    small.end().await.unwrap();
    let url = evscope::demo::url_for(&dir.path().join("demo.db"));
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql("ALTER TABLE evscope_events RENAME TO moved_away")
        .execute(&mut c)
        .await
        .unwrap();
    for (k, w) in want.iter().enumerate() {
        let s = t.back().await.expect("a kept step");
        assert_eq!(s.origin, Origin::Kept);
        assert_eq!(s.version, Some(last - 1 - k as i64));
        assert_eq!(&s.state, w);
    }
    let gone = t.back().await;
    assert!(
        gone.is_err(),
        "a version not kept is read: {:?}",
        gone.map(|s| s.version)
    );
    let mut served = 0;
    while let Ok(s) = small.back().await {
        assert_eq!(s.origin, Origin::Kept);
        assert_eq!(&s.state, &want[served]);
        served += 1;
        assert!(served < 20, "4 KB keeps fewer than 20 steps");
    }
    assert!(served >= 1, "the newest steps are kept");
}
