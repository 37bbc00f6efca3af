//! The acknowledgements of a window of publishes in flight, against the real NATS JetStream
//! server: an answer that is an error in the middle of the window, with the answers of the
//! publishes after it received, must leave the checkpoint just before it, and the resumed job
//! sends again from it (the ones after it absorbed as duplicates).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use common::*;
use futures_util::StreamExt;
use serde_json::Value;

const EVENTS: usize = 60;
/// The event JetStream refuses (too big for the stream), in the middle of the window.
const REFUSED: usize = 31;

fn job(dir: &std::path::Path) -> Value {
    let out = evscope(dir)
        .args(["replay", "jobs", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let jobs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
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
    eprintln!("stored when the job failed: {} ({after_it} after the refused one)", before.len());
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
