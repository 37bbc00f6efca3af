//! The acknowledgements of a window of publishes in flight, against the real NATS JetStream
//! server: a publish whose answer never comes while the publishes after it are acknowledged,
//! and an answer that is an error in the middle of the window, must each leave the checkpoint
//! just before that publish, and the job sends again from it (the ones after it absorbed as
//! duplicates).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use common::*;
use futures_util::StreamExt;
use serde_json::Value;

const EVENTS: usize = 60;
/// The event JetStream refuses (too big for the stream), in the middle of the window.
const REFUSED: usize = 31;

fn jobs(dir: &std::path::Path) -> Vec<Value> {
    let out = evscope(dir)
        .args(["replay", "jobs", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The one job of the test.
fn job(dir: &std::path::Path) -> Value {
    let jobs = jobs(dir);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap()
}

/// The `Nats-Msg-Id` of every message of the stream, in stream order.
async fn stored_ids(js: &jetstream::Context, name: &str) -> Vec<String> {
    let mut s = js.get_stream(name).await.unwrap();
    let expected = s.info().await.unwrap().state.messages as usize;
    let consumer: jetstream::consumer::PullConsumer = s
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    while ids.len() < expected {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let h = m.headers.as_ref().expect("headers");
            ids.push(h.get("Nats-Msg-Id").unwrap().to_string());
        }
    }
    ids
}

#[tokio::test]
async fn an_error_answer_mid_window_checkpoints_before_it_and_resume_sends_from_it() {
    if !nats_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Sqlite, "acks_window").await;
    db.load("native/sqlite.sql").await;
    // One stream per event: what lands after the refused one is in other streams, so every
    // stream's order holds whichever way the window went.
    let mut sql = String::new();
    for v in 1..=EVENTS {
        let data = if v == REFUSED {
            format!("{{\"blob\": \"{}\"}}", "x".repeat(4000))
        } else {
            format!("{{\"n\": {v}}}")
        };
        sql.push_str(&format!(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
             VALUES ('acct-{v}', 1, 'e{v}', 'T', '{data}');\n"
        ));
    }
    db.exec(&sql).await;
    let name = unique_name("acks_window").to_uppercase();
    let prefix = name.to_lowercase();
    let js = jetstream::new(async_nats::connect(NATS_URL).await.unwrap());
    let mut config = stream::Config {
        name: name.clone(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        // The server refuses the big event (an error answer, not a client-side refusal).
        max_message_size: 2000,
        ..Default::default()
    };
    js.create_stream(config.clone()).await.unwrap();
    let subject = format!("{prefix}.{{category}}.{{type}}");

    let out = evscope(dir.path())
        .args(["--db", &db.url, "replay", "--sink", NATS_URL])
        .args(["--subject", &subject, "--max-in-flight", "256"])
        .args(["--yes", "--quiet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rejected event") && err.contains(&format!("e{REFUSED} ")),
        "{err}"
    );
    let j = job(dir.path());
    assert_eq!(j["status"]["state"], "failed", "{j}");
    // Whatever was answered after the refused event, the checkpoint stands just before it.
    assert_eq!(j["checkpoint"]["done"], REFUSED as u64 - 1, "{j}");
    assert_eq!(
        j["checkpoint"]["last_event_id"],
        format!("e{}", REFUSED - 1),
        "{j}"
    );
    let before = stored_ids(&js, &name).await;
    let after_it = before.len() - (REFUSED - 1);
    eprintln!(
        "stored when the job failed: {} ({after_it} after the refused one)",
        before.len()
    );
    assert!(!before.contains(&format!("e{REFUSED}")));

    // The cause fixed, the resumed job sends from the refused event on.
    config.max_message_size = -1;
    js.update_stream(config).await.unwrap();
    let id = j["id"].as_str().unwrap();
    let out = evscope(dir.path())
        .args(["--db", &db.url, "replay", "resume", id, "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = job(dir.path());
    assert_eq!(j["status"]["state"], "completed", "{j}");
    assert_eq!(j["checkpoint"]["done"], EVENTS as u64, "{j}");
    assert_eq!(
        j["checkpoint"]["duplicates"], after_it as u64,
        "the ones stored after the refused event are absorbed: {j}"
    );
    let ids = stored_ids(&js, &name).await;
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event stored twice");
    assert_eq!(ids.len(), EVENTS, "every event");
    let _ = js.delete_stream(&name).await;
}

/// The job's process, killed if the test fails before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A publish without an answer: its subject is not the stream's but a plain subscriber's,
/// which never replies. Every later publish of the window is stored and acknowledged, yet the
/// checkpoint stays before the unanswered one while the job retries; once the stream takes
/// that subject too, the retry sends from it and the job completes, each event stored once.
#[tokio::test]
async fn a_missing_answer_mid_window_holds_the_checkpoint_before_it() {
    if !nats_available() {
        return;
    }
    const MISSING: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::create(Server::Sqlite, "acks_missing").await;
    db.load("native/sqlite.sql").await;
    let mut sql = String::new();
    for v in 1..=EVENTS {
        let ty = if v == MISSING { "Unanswered" } else { "T" };
        sql.push_str(&format!(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
             VALUES ('acct-{v}', 1, 'e{v}', '{ty}', '{{\"n\": {v}}}');\n"
        ));
    }
    db.exec(&sql).await;
    let name = unique_name("acks_missing").to_uppercase();
    let prefix = name.to_lowercase();
    let client = async_nats::connect(NATS_URL).await.unwrap();
    let js = jetstream::new(client.clone());
    let mut config = stream::Config {
        name: name.clone(),
        subjects: vec![format!("{prefix}.acct.T")],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    js.create_stream(config.clone()).await.unwrap();
    // Someone listens on the unanswered event's subject (so no "no responders") and never
    // answers.
    let silent = client
        .subscribe(format!("{prefix}.acct.Unanswered"))
        .await
        .unwrap();
    client.flush().await.unwrap();

    let subject = format!("{prefix}.{{category}}.{{type}}");
    let mut child = KillOnDrop(
        evscope_process(dir.path())
            .args(["--db", &db.url, "replay", "--sink", NATS_URL])
            .args(["--subject", &subject, "--max-in-flight", "256"])
            .args(["--yes", "--quiet"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let j = loop {
        // (No job yet while the plan is made.)
        let j = jobs(dir.path()).pop().unwrap_or_default();
        if j["status"]["state"] == "retrying" {
            break j;
        }
        assert!(Instant::now() < deadline, "the job never retried: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        j["status"]["error"]
            .as_str()
            .unwrap()
            .contains("no acknowledgement"),
        "{j}"
    );
    assert_eq!(j["checkpoint"]["done"], MISSING as u64 - 1, "{j}");
    assert_eq!(
        j["checkpoint"]["last_event_id"],
        format!("e{}", MISSING - 1),
        "{j}"
    );
    // Everything after it was stored and acknowledged all the same.
    let stored = stored_ids(&js, &name).await;
    assert_eq!(stored.len(), EVENTS - 1, "{stored:?}");

    config.subjects = vec![format!("{prefix}.>")];
    js.update_stream(config).await.unwrap();
    drop(silent);
    client.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the job did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    let j = job(dir.path());
    assert_eq!(j["status"]["state"], "completed", "{j}");
    assert_eq!(j["checkpoint"]["done"], EVENTS as u64, "{j}");
    let ids = stored_ids(&js, &name).await;
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event stored twice: {ids:?}");
    assert_eq!(ids.len(), EVENTS, "every event");
    let _ = js.delete_stream(&name).await;
}
