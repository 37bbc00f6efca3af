//! The acknowledgements of a window of publishes in flight, against the real NATS JetStream
//! server: a publish whose answer never comes, and an answer that is an error in the middle of
//! the window, must each leave the checkpoint just before that publish, nothing published
//! after it may be stored before it (a stream's version order on the bus), and the job sends
//! again from it. Another publisher writing to the same JetStream stream does not break that.

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
    // One stream: the publishes after the refused one are in flight when it is refused, and
    // none of them may be stored before it, or the stream's order on the bus is broken.
    let mut sql = String::new();
    for v in 1..=EVENTS {
        let data = if v == REFUSED {
            format!("{{\"blob\": \"{}\"}}", "x".repeat(4000))
        } else {
            format!("{{\"n\": {v}}}")
        };
        sql.push_str(&format!(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
             VALUES ('acct-1', {v}, 'e{v}', 'T', '{data}');\n"
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
    assert_eq!(
        before,
        ids(1..REFUSED),
        "what is stored is the events before the refused one, in order, and nothing after it"
    );

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
    assert_eq!(j["checkpoint"]["duplicates"], 0, "{j}");
    assert_eq!(
        stored_ids(&js, &name).await,
        ids(1..EVENTS + 1),
        "every event once, in version order"
    );
    let _ = js.delete_stream(&name).await;
}

/// `e{n}` for each n.
fn ids(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|v| format!("e{v}")).collect()
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
    // Nothing after it was stored: it would be ahead of it on the bus.
    assert_eq!(stored_ids(&js, &name).await, ids(1..MISSING));

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
    let stored = stored_ids(&js, &name).await;
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "no event stored twice: {stored:?}"
    );
    assert_eq!(stored, ids(1..EVENTS + 1), "every event, in order");
    let _ = js.delete_stream(&name).await;
}

/// The `Nats-Msg-Id` of every message of the stream that has one (the job's, and the other
/// publisher's `f…`), in stream order.
async fn stored_events(js: &jetstream::Context, name: &str) -> Vec<String> {
    stored_ids(js, name)
        .await
        .into_iter()
        .filter(|id| id.starts_with('e'))
        .collect()
}

/// A store of `n` events in `streams` streams of category `acct`, interleaved in the log:
/// event `e{v}` is version `v / streams + 1` of stream `acct-{v % streams}`.
async fn interleaved_store(name: &str, n: usize, streams: usize, categories: &[&str]) -> TempDb {
    let db = TempDb::create(Server::Sqlite, name).await;
    db.load("native/sqlite.sql").await;
    let mut sql = String::from("BEGIN;\n");
    for v in 1..=n {
        let s = v % streams;
        let category = categories[s % categories.len()];
        sql.push_str(&format!(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
             VALUES ('{category}-{s}', {}, 'e{v}', 'T', '{{\"n\": {v}}}');\n",
            v / streams + 1
        ));
    }
    sql.push_str("COMMIT;\n");
    db.exec(&sql).await;
    db
}

/// Another publisher writes to the JetStream stream the whole time the job publishes to it:
/// its messages come between the job's, which a chain of expectations cannot tell from a
/// failure of the job's own. The job goes on one message at a time and completes, every event
/// stored once and in log order.
// Two threads: the other publisher goes on while the test waits for the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_publisher_on_the_same_jetstream_stream_does_not_break_the_order() {
    if !nats_available() {
        return;
    }
    const N: usize = 5000;
    let dir = tempfile::tempdir().unwrap();
    let db = interleaved_store("acks_foreign", N, 10, &["acct"]).await;
    let name = unique_name("acks_foreign").to_uppercase();
    let prefix = name.to_lowercase();
    let client = async_nats::connect(NATS_URL).await.unwrap();
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let (client, stop, subject) = (client.clone(), stop.clone(), format!("{prefix}.other"));
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut h = async_nats::HeaderMap::new();
                h.insert("Nats-Msg-Id", format!("f{n}").as_str());
                client
                    .publish_with_headers(subject.clone(), h, "{}".into())
                    .await
                    .unwrap();
                n += 1;
                if n % 4 == 0 {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
            }
            client.flush().await.unwrap();
            n
        })
    };
    let js2 = js.clone();
    let name2 = name.clone();
    let wait = async move {
        // The other publisher is under way before the job starts.
        while js2
            .get_stream(&name2)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages
            < 50
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap();

    let subject = format!("{prefix}.{{category}}.{{type}}");
    let out = evscope(dir.path())
        .env("EVSCOPE_LOG", "evscope=info")
        .args(["--db", &db.url, "replay", "--sink", NATS_URL])
        .args(["--subject", &subject, "--yes", "--quiet"])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let others = other.await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = job(dir.path());
    assert_eq!(j["status"]["state"], "completed", "{j}");
    let log = std::fs::read_to_string(dir.path().join("evscope.log")).unwrap();
    assert!(
        log.contains(&format!(
            "another publisher writes to JetStream stream {name}"
        )),
        "the other publisher's messages came between the job's: {log} {j}"
    );
    assert_eq!(stored_events(&js, &name).await, ids(1..N + 1));
    let all = stored_ids(&js, &name).await;
    assert_eq!(
        all.len() as u64,
        N as u64 + others,
        "the other publisher's too"
    );
    let _ = js.delete_stream(&name).await;
}

/// A subject template that sends two categories to two JetStream streams: each stream's
/// publishes form their own chain (a chain across both would be refused at every switch),
/// and each stream receives its events in log order, with no fallback to one at a time.
#[tokio::test]
async fn publishes_to_two_jetstream_streams_are_chained_per_stream() {
    if !nats_available() {
        return;
    }
    const N: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let db = interleaved_store("acks_two", N, 4, &["alpha", "beta"]).await;
    let base = unique_name("acks_two").to_uppercase();
    let prefix = base.to_lowercase();
    let js = jetstream::new(async_nats::connect(NATS_URL).await.unwrap());
    for c in ["alpha", "beta"] {
        js.create_stream(stream::Config {
            name: format!("{base}_{}", c.to_uppercase()),
            subjects: vec![format!("{prefix}.{c}.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let subject = format!("{prefix}.{{category}}.{{type}}");
    let out = evscope(dir.path())
        .env("EVSCOPE_LOG", "evscope=info")
        .args(["--db", &db.url, "replay", "--sink", NATS_URL])
        .args(["--subject", &subject, "--yes", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(dir.path().join("evscope.log")).unwrap_or_default();
    assert!(!log.contains("another publisher"), "{log}");
    // Streams 0 and 2 are alpha, 1 and 3 beta.
    let of = |parity: usize| {
        ids(1..N + 1)
            .into_iter()
            .filter(move |id| id[1..].parse::<usize>().unwrap() % 4 % 2 == parity)
    };
    assert_eq!(
        stored_events(&js, &format!("{base}_ALPHA")).await,
        of(0).collect::<Vec<_>>()
    );
    assert_eq!(
        stored_events(&js, &format!("{base}_BETA")).await,
        of(1).collect::<Vec<_>>()
    );
    for c in ["ALPHA", "BETA"] {
        let _ = js.delete_stream(format!("{base}_{c}")).await;
    }
}
