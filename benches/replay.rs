//! Replay benchmark: re-publish 1,000,000 events from PostgreSQL to NATS JetStream with
//! acknowledgements (`evscope replay ... --yes`, a separate process measured with GNU time),
//! against a plain async-nats publisher pushing the same messages from memory with the same
//! number in flight — the bus's limit on this machine — in one run.
//!
//!     cargo bench --bench replay          (NATS at $EVSCOPE_BENCH_NATS or 127.0.0.1:4222)
//!
//! Writes bench-results/replay.md.

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use evscope::replay::range::{Range, Reader};
use evscope::replay::sink::Template;
use evscope::store::{OpenOptions, Store};
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::future::IntoFuture;

const EVENTS: i64 = 1_000_000;
const IN_FLIGHT: usize = 256;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    support::with_throwaway_db("evscope_replay", |url| async move { run(&url).await }).await;
}

async fn make_stream(js: &jetstream::Context, name: &str, prefix: &str) {
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .expect("create stream");
}

async fn run(url: &str) {
    let nats =
        std::env::var("EVSCOPE_BENCH_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let mut c = support::native_store(url).await;
    let t = Instant::now();
    sqlx::raw_sql(&format!(
        "INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata)
         SELECT i, 'account-' || lpad((i % 10000)::text, 5, '0'), i / 10000 + 1, md5(i::text)::uuid,
                CASE WHEN i < 10000 THEN 'AccountOpened' WHEN i % 3 = 0 THEN 'Withdrawn' ELSE 'Deposited' END,
                CASE WHEN i < 10000 THEN jsonb_build_object('owner', 'Owner ' || i, 'currency', 'BRL')
                     ELSE jsonb_build_object('amount', 1 + i % 50) END,
                jsonb_build_object('correlation_id', md5((i / 7)::text))
         FROM generate_series(0, {}) AS i;",
        EVENTS - 1
    ))
    .execute(&mut c)
    .await
    .expect("generate");
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut c)
        .await
        .expect("vacuum");
    eprintln!(
        "bench: generated {EVENTS} events in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let client = async_nats::connect(&nats).await.expect("NATS");
    let js = jetstream::new(client.clone());
    let pid = std::process::id();
    let (replay_stream, replay_prefix) = (format!("EVB_REPLAY_{pid}"), format!("evbr{pid}"));
    let (base_stream, base_prefix) = (format!("EVB_BASE_{pid}"), format!("evbb{pid}"));
    make_stream(&js, &replay_stream, &replay_prefix).await;
    make_stream(&js, &base_stream, &base_prefix).await;

    // 1. evscope replay, as an operator runs it.
    let data = tempfile::tempdir().unwrap();
    let subject = format!("{replay_prefix}.{{category}}.{{type}}");
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_evscope"))
        .args([
            "--db",
            url,
            "replay",
            "--sink",
            &nats,
            "--subject",
            &subject,
        ])
        .args([
            "--max-in-flight",
            &IN_FLIGHT.to_string(),
            "--yes",
            "--quiet",
            "--format",
            "json",
        ])
        .env("EVSCOPE_DATA_DIR", data.path())
        .env("EVSCOPE_CONFIG", data.path().join("none.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run evscope");
    let cli_total = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    let rss = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0);
    // "... (N this run in S s, R/s) ..." is in the table form; the JSON form has the job.
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let job = &doc["job"];
    let secs = (chrono::DateTime::parse_from_rfc3339(job["finished_at"].as_str().unwrap()).unwrap()
        - audit_start(data.path(), job["id"].as_str().unwrap()))
    .num_milliseconds() as f64
        / 1000.0;
    let done = job["checkpoint"]["done"].as_u64().unwrap();
    assert_eq!(done as i64, EVENTS, "every event acknowledged");
    let mut s = js.get_stream(&replay_stream).await.unwrap();
    assert_eq!(s.info().await.unwrap().state.messages as i64, EVENTS);
    let replay_rate = done as f64 / secs;
    eprintln!(
        "bench: evscope replay {done} in {secs:.2}s ({replay_rate:.0}/s), whole command {:.2}s, peak RSS {rss:.1} MB",
        cli_total.as_secs_f64()
    );

    // 2. The same messages, prepared in memory (not timed), pushed by a plain publisher.
    let store = Store::open(&OpenOptions {
        url: url.to_string(),
        schema: None,
        mapping: None,
    })
    .await
    .unwrap();
    let template = Template::parse(&format!("{base_prefix}.{{category}}.{{type}}")).unwrap();
    let mut reader = Reader::new(store, Range::default(), None).unwrap();
    let mut messages = Vec::with_capacity(EVENTS as usize);
    while let Some(page) = reader.next_page().await.unwrap() {
        for e in &page {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", e.event_id.as_str());
            h.insert("Evscope-Stream", e.stream_id.as_str());
            h.insert("Evscope-Version", e.stream_version.to_string().as_str());
            h.insert(
                "Evscope-Position",
                e.global_position.unwrap().to_string().as_str(),
            );
            h.insert("Evscope-Type", e.event_type.as_str());
            h.insert("Evscope-Job", "bench");
            h.insert("Content-Type", "application/json");
            let payload = bytes::Bytes::from(serde_json::to_vec(e).unwrap());
            messages.push((template.render(e, "bench"), h, payload));
        }
    }
    let t = Instant::now();
    type AckFut = <async_nats::jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture;
    let mut inflight: FuturesOrdered<AckFut> = FuturesOrdered::new();
    for (subject, h, payload) in messages {
        if inflight.len() >= IN_FLIGHT {
            inflight.next().await.unwrap().expect("ack");
        }
        let ack = js
            .publish_with_headers(subject, h, payload)
            .await
            .expect("publish");
        inflight.push_back(ack.into_future());
    }
    while let Some(a) = inflight.next().await {
        a.expect("ack");
    }
    let base_secs = t.elapsed().as_secs_f64();
    let base_rate = EVENTS as f64 / base_secs;
    eprintln!("bench: plain publisher {EVENTS} in {base_secs:.2}s ({base_rate:.0}/s)");
    let _ = js.delete_stream(&replay_stream).await;
    let _ = js.delete_stream(&base_stream).await;

    let md = format!(
        "# replay: 1,000,000 events, PostgreSQL → NATS JetStream (file storage, acknowledged, {IN_FLIGHT} in flight)\n\n\
         | | time | events/s | peak RSS |\n|---|---|---|---|\n\
         | plain async-nats publisher, messages prepared in memory (the bus's limit) | {base_secs:.2} s | {base_rate:.0} | (bench process) |\n\
         | `evscope replay --yes`: the job (read, publish, acks, checkpoints) | {secs:.2} s | {replay_rate:.0} | {rss:.1} MB |\n\
         | `evscope replay --yes`: whole command (incl. the dry-run count) | {:.2} s | | |\n\n\
         evscope reaches **{:.0}%** of the plain publisher's rate (target: at least 70%).\n",
        cli_total.as_secs_f64(),
        replay_rate / base_rate * 100.0
    );
    print!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let _ = std::fs::write("bench-results/replay.md", md);
}

/// When the job started, from its audit log ("started").
fn audit_start(dir: &std::path::Path, id: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let text = std::fs::read_to_string(dir.join("replay").join("audit.jsonl")).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["job"] == id && v["event"] == "started" {
            return chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
        }
    }
    panic!("no start in the audit log");
}
