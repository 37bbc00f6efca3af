//! Replay benchmark: re-publish 1,000,000 events from PostgreSQL to NATS JetStream with
//! acknowledgements (`evscope replay ... --yes`, a separate process measured with GNU time),
//! against a plain async-nats publisher pushing the same messages from memory with the same
//! number in flight — the bus's limit on this machine — in one run.
//!
//! Then the same against an R3 stream on a 3-node JetStream cluster the bench starts itself
//! (EVSCOPE_BENCH_CLUSTER=0 skips it).
//!
//! The plain publisher runs twice on each bus: as it is, and with each message chained to the
//! previous one (`Nats-Expected-Last-Msg-Id`, the order guarantee evscope's job sends), so
//! that what the bus charges for the expectation is apart from what evscope costs.
//!
//!     cargo bench --bench replay          (NATS at $EVSCOPE_BENCH_NATS or 127.0.0.1:4222)
//!
//! Writes bench-results/replay.md.
//!
//! The wall-clock ratio moves with the machine's load; what the replay costs per event is
//! measured repeatably with callgrind on the same rows (50,000 of them, a fresh stream):
//!
//!     valgrind --tool=callgrind target/release/evscope --db postgres://…/db replay \
//!         --sink nats://127.0.0.1:4222 --subject 'prof.{category}.{type}' --yes --quiet
//!
//! then `callgrind_annotate --inclusive=yes` for `cli::replay::execute` (the runner),
//! `replay::read_ahead` and async-nats's `ConnectionHandler::process`, divided by 50,000.

#[path = "support/mod.rs"]
mod support;

#[path = "../tests/common/nats_cluster.rs"]
#[allow(dead_code)]
mod nats_cluster;

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

async fn make_stream(js: &jetstream::Context, name: &str, prefix: &str, replicas: usize) {
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .expect("create stream");
}

/// One bus's figures: the evscope job, the whole command, its RSS, and the plain publisher.
struct Figures {
    secs: f64,
    rate: f64,
    cli_secs: f64,
    rss: f64,
    base_secs: f64,
    base_rate: f64,
    /// The plain publisher with each message chained to the previous one.
    chained_secs: f64,
    chained_rate: f64,
}

type Message = (String, async_nats::HeaderMap, bytes::Bytes);

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
    // The same messages, prepared in memory (not timed), for the plain publisher.
    let store = Store::open(&OpenOptions {
        url: url.to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut reader = Reader::new(store, Range::default(), None).unwrap();
    let mut events = Vec::with_capacity(EVENTS as usize);
    while let Some(page) = reader.next_page().await.unwrap() {
        events.extend(page);
    }
    let messages = |prefix: &str| -> Vec<Message> {
        let template = Template::parse(&format!("{prefix}.{{category}}.{{type}}")).unwrap();
        events
            .iter()
            .map(|e| {
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
                (template.render(e, "bench"), h, payload)
            })
            .collect()
    };

    let single = bus(url, &nats, 1, &messages).await;
    let mut md = format!(
        "# replay: 1,000,000 events, PostgreSQL → NATS JetStream (file storage, acknowledged, {IN_FLIGHT} in flight)\n\n\
         | bus | | time | events/s | peak RSS |\n|---|---|---|---|---|\n{}",
        rows("one server, R1 stream", &single)
    );
    let cluster_too = std::env::var("EVSCOPE_BENCH_CLUSTER").map_or(true, |v| v != "0");
    let clustered = if cluster_too && std::path::Path::new(nats_cluster::NATS_SERVER).exists() {
        let cluster = nats_cluster::NatsCluster::start(3);
        cluster.wait_ready(Duration::from_secs(30)).await;
        let urls = cluster.urls(&[0, 1, 2]);
        let f = bus(url, &urls, 3, &messages).await;
        md.push_str(&rows("3-node cluster, R3 stream", &f));
        Some(f)
    } else {
        None
    };
    md.push_str(&format!(
        "\nevscope reaches **{:.0}%** of the plain publisher's rate on one server (target: 95%; {:.0}% of the chained one){}, every range read through the safe head.\n",
        single.rate / single.base_rate * 100.0,
        single.rate / single.chained_rate * 100.0,
        clustered.as_ref().map_or(String::new(), |f| format!(
            " and **{:.0}%** on the R3 stream of the 3-node cluster ({:.0}% of the chained one; chaining alone costs the plain publisher {:.0}% there)",
            f.rate / f.base_rate * 100.0,
            f.rate / f.chained_rate * 100.0,
            (1.0 - f.chained_rate / f.base_rate) * 100.0
        ))
    ));
    print!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let _ = std::fs::write("bench-results/replay.md", md);
}

fn rows(label: &str, f: &Figures) -> String {
    format!(
        "| {label} | plain async-nats publisher, messages prepared in memory (the bus's limit) | {:.2} s | {:.0} | (bench process) |\n\
         | {label} | the same, each message chained to the previous one (`Nats-Expected-Last-Msg-Id`) | {:.2} s | {:.0} | (bench process) |\n\
         | {label} | `evscope replay --yes`: the job (read, publish, acks, checkpoints) | {:.2} s | {:.0} | {:.1} MB |\n\
         | {label} | `evscope replay --yes`: whole command (incl. the dry-run count) | {:.2} s | | |\n",
        f.base_secs, f.base_rate, f.chained_secs, f.chained_rate, f.secs, f.rate, f.rss, f.cli_secs
    )
}

/// evscope's replay into a fresh stream with `replicas` replicas on `nats` (one URL or a
/// list), then the plain publisher into another.
async fn bus(
    url: &str,
    nats: &str,
    replicas: usize,
    messages: &dyn Fn(&str) -> Vec<Message>,
) -> Figures {
    let first = nats.split(',').next().unwrap();
    let client = async_nats::connect(first).await.expect("NATS");
    let js = jetstream::new(client.clone());
    let pid = std::process::id();
    let (replay_stream, replay_prefix) = (
        format!("EVB_REPLAY_{pid}_{replicas}"),
        format!("evbr{pid}r{replicas}"),
    );
    let (base_stream, base_prefix) = (
        format!("EVB_BASE_{pid}_{replicas}"),
        format!("evbb{pid}r{replicas}"),
    );
    make_stream(&js, &replay_stream, &replay_prefix, replicas).await;
    make_stream(&js, &base_stream, &base_prefix, replicas).await;

    // 1. evscope replay, as an operator runs it.
    let data = tempfile::tempdir().unwrap();
    let subject = format!("{replay_prefix}.{{category}}.{{type}}");
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_evscope"))
        .args(["--db", url, "replay", "--sink", nats, "--subject", &subject])
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
    let cli_secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    let rss = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0);
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
    let rate = done as f64 / secs;
    eprintln!(
        "bench: R{replicas}: evscope replay {done} in {secs:.2}s ({rate:.0}/s), whole command {cli_secs:.2}s, peak RSS {rss:.1} MB"
    );

    // 2. The same messages, pushed by a plain publisher with the same bound in flight, as they
    // are and chained (into a fresh stream each).
    let (base_secs, base_rate) = plain(&js, messages(&base_prefix), false).await;
    eprintln!("bench: R{replicas}: plain publisher {EVENTS} in {base_secs:.2}s ({base_rate:.0}/s)");
    let _ = js.delete_stream(&base_stream).await;
    make_stream(&js, &base_stream, &base_prefix, replicas).await;
    let (chained_secs, chained_rate) = plain(&js, messages(&base_prefix), true).await;
    eprintln!(
        "bench: R{replicas}: plain publisher, chained, {EVENTS} in {chained_secs:.2}s ({chained_rate:.0}/s)"
    );
    let _ = js.delete_stream(&replay_stream).await;
    let _ = js.delete_stream(&base_stream).await;
    Figures {
        secs,
        rate,
        cli_secs,
        rss,
        base_secs,
        base_rate,
        chained_secs,
        chained_rate,
    }
}

/// Publish `prepared` with IN_FLIGHT acks outstanding; chained: each message expects the
/// previous one's id to be the stream's last. (seconds, events/s)
async fn plain(js: &jetstream::Context, prepared: Vec<Message>, chained: bool) -> (f64, f64) {
    type AckFut = <async_nats::jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture;
    let t = Instant::now();
    let mut inflight: FuturesOrdered<AckFut> = FuturesOrdered::new();
    let mut previous: Option<String> = None;
    for (subject, mut h, payload) in prepared {
        if inflight.len() >= IN_FLIGHT {
            inflight.next().await.unwrap().expect("ack");
        }
        let id = h.get("Nats-Msg-Id").map(|v| v.as_str().to_string());
        if chained {
            if let Some(p) = &previous {
                h.insert("Nats-Expected-Last-Msg-Id", p.as_str());
            }
            previous = id;
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
    let secs = t.elapsed().as_secs_f64();
    (secs, EVENTS as f64 / secs)
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
