//! Where a replay publishes. A sink takes events one at a time and answers each with a
//! future that resolves when the far side has acknowledged it; the job logic (order, rate,
//! checkpoints, retries) knows nothing else about it, so Kafka, RabbitMQ or a webhook are one
//! more implementation of [`Sink`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::redact::{redact_secrets, redact_url};
use crate::store::Event;

/// The default NATS subject template.
pub const DEFAULT_SUBJECT: &str = "replay.{category}.{type}";

/// How long the bus may take to acknowledge one publish before it counts as unavailable.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the dry run's look at the target stream waits out a stream without a leader.
const TARGET_WAIT: Duration = Duration::from_secs(10);

/// A sink as a job records it. Shown only through [`SinkSpec::describe`], which hides any
/// password of its URLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkSpec {
    Nats {
        /// One server URL or a comma-separated list of them (every one a full URL, as
        /// [`nats_servers`] checked it).
        url: String,
        subject: String,
    },
    /// `path: None` is standard output.
    Jsonl { path: Option<PathBuf> },
}

impl SinkSpec {
    /// `nats://HOST:PORT` or a server list `nats://A:4222,nats://B:4222` (`nats://A:4222,B:4222`
    /// too), with `subject` (default [`DEFAULT_SUBJECT`]); `jsonl:PATH`, `jsonl:-`.
    pub fn parse(s: &str, subject: Option<&str>) -> Result<SinkSpec, String> {
        if let Some(rest) = s.strip_prefix("jsonl:") {
            if subject.is_some() {
                return Err("--subject is for the nats sink".into());
            }
            if rest.is_empty() {
                return Err("jsonl: needs a path, or - for standard output".into());
            }
            return Ok(SinkSpec::Jsonl {
                path: (rest != "-").then(|| PathBuf::from(rest)),
            });
        }
        if s.starts_with("nats://") || s.starts_with("tls://") {
            let servers = nats_servers(s)?;
            let subject = subject.unwrap_or(DEFAULT_SUBJECT).to_string();
            Template::parse(&subject)?;
            return Ok(SinkSpec::Nats {
                url: servers.join(","),
                subject,
            });
        }
        Err(format!(
            "unknown sink {:?}: use nats://HOST:PORT (or a list nats://HOST:PORT,HOST:PORT), jsonl:PATH or jsonl:- (standard output)",
            redact_url(s)
        ))
    }

    pub fn describe(&self) -> String {
        match self {
            SinkSpec::Nats { url, subject } => format!("{} subject {subject}", redact_url(url)),
            SinkSpec::Jsonl { path: None } => "jsonl:- (standard output)".into(),
            SinkSpec::Jsonl { path: Some(p) } => format!("jsonl:{}", p.display()),
        }
    }

    /// Open the sink: `resume` None for a new job, else the sink's own position at the
    /// checkpoint (a file's length; 0 before the first checkpoint).
    pub fn open(&self, resume: Option<u64>) -> Result<Box<dyn Sink>, SinkError> {
        match self {
            SinkSpec::Nats { url, subject } => Ok(Box::new(NatsSink::new(url, subject)?)),
            SinkSpec::Jsonl { path } => Ok(Box::new(JsonlSink::open(path.clone(), resume)?)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// The bus cannot be reached or did not answer in time: retry later, nothing is lost.
    Unavailable,
    /// The bus refused this event.
    Rejected,
    /// Retrying will not help (no stream for the subject, a file that cannot be written).
    Fatal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SinkError {
    pub kind: SinkErrorKind,
    pub message: String,
}

impl SinkError {
    pub fn new(kind: SinkErrorKind, message: impl Into<String>) -> SinkError {
        SinkError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A sink's answer for one event.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Acked {
    /// The bus already had it (JetStream's duplicate window absorbed a re-send).
    pub duplicate: bool,
    /// The sink's own resume point just after this event (a file's length), if it has one.
    pub offset: Option<u64>,
}

pub type Pending = BoxFuture<'static, Result<Acked, SinkError>>;

pub trait Sink: Send {
    /// Connect, or connect afresh after [`SinkErrorKind::Unavailable`]: nothing sent on an
    /// earlier connection may arrive after this returns.
    fn connect(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Hand one event over; the returned future resolves when it is acknowledged.
    fn send<'a>(
        &'a mut self,
        event: &'a Event,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Pending, SinkError>>;
    /// Make everything acknowledged so far durable (before a checkpoint names it).
    fn sync(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
}

// ---- subject templates ----

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Category,
    Type,
    Stream,
    Version,
    Position,
    Job,
}

/// A subject template: `{category}`, `{type}`, `{stream}`, `{version}`, `{position}`, `{job}`.
/// Values are made into single subject tokens: every character outside `A-Za-z0-9_-` becomes `_`
/// (so a `.` in a type name does not split the subject, and no value is a wildcard).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("subject {s:?}: '{{' without '}}'"))?;
            let name = &rest[open + 1..open + close];
            parts.push(match name {
                "category" => Part::Category,
                "type" => Part::Type,
                "stream" => Part::Stream,
                "version" => Part::Version,
                "position" => Part::Position,
                "job" => Part::Job,
                other => {
                    return Err(format!(
                        "subject {s:?}: unknown {{{other}}}; use {{category}}, {{type}}, {{stream}}, {{version}}, {{position}} or {{job}}"
                    ))
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        for p in &parts {
            if let Part::Text(t) = p {
                if t.contains('}') || t.chars().any(|c| c.is_whitespace() || c == '*' || c == '>') {
                    return Err(format!(
                        "subject {s:?}: no spaces, wildcards (* >) or stray braces"
                    ));
                }
            }
        }
        let t = Template { parts };
        // Every token must be non-empty whatever the values are.
        let sample = t.render_with("c", "t", "s", 1, Some(1), "j");
        if sample.is_empty() || sample.split('.').any(str::is_empty) {
            return Err(format!("subject {s:?}: empty token"));
        }
        Ok(t)
    }

    pub fn render(&self, e: &Event, job: &str) -> String {
        self.render_with(
            e.category(),
            &e.event_type,
            &e.stream_id,
            e.stream_version,
            e.global_position,
            job,
        )
    }

    fn render_with(
        &self,
        category: &str,
        ty: &str,
        stream: &str,
        version: i64,
        position: Option<i64>,
        job: &str,
    ) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Category => token(&mut out, category),
                Part::Type => token(&mut out, ty),
                Part::Stream => token(&mut out, stream),
                Part::Version => out.push_str(&version.to_string()),
                Part::Position => match position {
                    Some(p) => out.push_str(&p.to_string()),
                    None => out.push('_'),
                },
                Part::Job => token(&mut out, job),
            }
        }
        out
    }
}

fn token(out: &mut String, v: &str) {
    if v.is_empty() {
        out.push('_');
        return;
    }
    out.extend(v.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        }
    }));
}

// ---- JSONL ----

/// One event per line, the same bytes as `evscope log --format jsonl`. A file sink keeps its
/// length in the checkpoint, so a resumed job first cuts what was written after it: the file
/// then holds every event of the range exactly once.
pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    file: Option<File>,
    offset: u64,
    line: Vec<u8>,
}

impl JsonlSink {
    pub fn open(path: Option<PathBuf>, resume: Option<u64>) -> Result<JsonlSink, SinkError> {
        let fatal = |what: &str, p: &PathBuf, e: std::io::Error| {
            SinkError::new(SinkErrorKind::Fatal, format!("{what} {}: {e}", p.display()))
        };
        let Some(path) = path else {
            return Ok(JsonlSink {
                out: BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())),
                file: None,
                offset: 0,
                line: Vec::new(),
            });
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| fatal("cannot open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| fatal("cannot read", &path, e))?
            .len();
        let offset = match resume {
            Some(at) if at > len => {
                return Err(SinkError::new(
                    SinkErrorKind::Fatal,
                    format!(
                        "{} is {len} bytes, shorter than the checkpoint's {at}: it was changed since; not resuming into it",
                        path.display()
                    ),
                ));
            }
            Some(at) => {
                file.set_len(at)
                    .map_err(|e| fatal("cannot cut", &path, e))?;
                at
            }
            None if len > 0 => {
                return Err(SinkError::new(
                    SinkErrorKind::Fatal,
                    format!(
                        "{} exists and is not empty: remove it or choose another file",
                        path.display()
                    ),
                ));
            }
            None => 0,
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| fatal("cannot seek", &path, e))?;
        let writer = file
            .try_clone()
            .map_err(|e| fatal("cannot open", &path, e))?;
        Ok(JsonlSink {
            out: BufWriter::with_capacity(1 << 16, Box::new(writer)),
            file: Some(file),
            offset,
            line: Vec::new(),
        })
    }

    fn io(e: std::io::Error) -> SinkError {
        SinkError::new(SinkErrorKind::Fatal, format!("jsonl: {e}"))
    }
}

impl Sink for JsonlSink {
    fn connect(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(
        &'a mut self,
        event: &'a Event,
        _job: &'a str,
    ) -> BoxFuture<'a, Result<Pending, SinkError>> {
        Box::pin(async move {
            self.line.clear();
            serde_json::to_writer(&mut self.line, event)
                .map_err(|e| SinkError::new(SinkErrorKind::Fatal, e.to_string()))?;
            self.line.push(b'\n');
            self.out.write_all(&self.line).map_err(Self::io)?;
            self.offset += self.line.len() as u64;
            let acked = Acked {
                duplicate: false,
                offset: self.file.as_ref().map(|_| self.offset),
            };
            let p: Pending = Box::pin(async move { Ok(acked) });
            Ok(p)
        })
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.out.flush().map_err(Self::io)?;
            if let Some(f) = &self.file {
                f.sync_data().map_err(Self::io)?;
            }
            Ok(())
        })
    }
}

// ---- NATS JetStream ----

/// The servers of a NATS sink, each a full URL: `nats://a:4222`, a list
/// `nats://a:4222,nats://b:4222`, or `nats://a:4222,b:4222` (a server written without a scheme
/// takes the first one's). Errors name the sink with its passwords hidden.
pub fn nats_servers(list: &str) -> Result<Vec<String>, String> {
    let shown = redact_url(list);
    let scheme = list
        .split_once("://")
        .map(|(s, _)| s)
        .filter(|s| matches!(*s, "nats" | "tls"))
        .ok_or_else(|| format!("sink {shown}: a NATS server URL starts with nats:// or tls://"))?;
    let mut servers = Vec::new();
    for raw in list.split(',').map(str::trim) {
        if raw.is_empty() {
            return Err(format!("sink {shown}: an empty entry in the server list"));
        }
        let full = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("{scheme}://{raw}")
        };
        let bad = |why: String| {
            if servers.is_empty() && !list.contains(',') {
                format!("sink {shown}: {why}")
            } else {
                format!("sink {shown}: server {}: {why}", redact_url(&full))
            }
        };
        let u = url::Url::parse(&full).map_err(|e| bad(e.to_string()))?;
        if !matches!(u.scheme(), "nats" | "tls") {
            return Err(bad("use nats:// or tls://".into()));
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".into()));
        }
        servers.push(full);
    }
    Ok(servers)
}

/// Publishes to JetStream: one message per event, the event's JSON (as in JSONL) as payload,
/// `Nats-Msg-Id` = the event id (so the stream's duplicate window absorbs re-sends) and
/// `Evscope-*` headers for the stream, version, position, type and job.
///
/// A cluster's failover is waited out, never taken for a missing stream: JetStream answers a
/// publish with "no responders" both when no stream captures its subject and when the stream
/// that does has no leader for a moment (an election after its leader went away). Such a
/// publish fails the attempt as [`SinkErrorKind::Unavailable`], and the next connection asks
/// the cluster which stream captures the subject: only its definite answer "none" is fatal.
pub struct NatsSink {
    url: String,
    template: Template,
    js: Option<async_nats::jetstream::Context>,
    client: Option<async_nats::Client>,
    /// The first publish that failed on this connection: nothing more is published on it, so
    /// that no later event is stored before the failed one is sent again.
    failed: Arc<Mutex<Option<SinkError>>>,
    /// A subject whose publish found no responders, for the next connection to look up.
    unanswered: Arc<Mutex<Option<String>>>,
}

impl NatsSink {
    pub fn new(url: &str, subject: &str) -> Result<NatsSink, SinkError> {
        Ok(NatsSink {
            url: url.to_string(),
            template: Template::parse(subject)
                .map_err(|e| SinkError::new(SinkErrorKind::Fatal, e))?,
            js: None,
            client: None,
            failed: Arc::default(),
            unanswered: Arc::default(),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Connect to NATS for a replay: to any one server of the list (`url` is one URL or several,
/// comma-separated), tried in random order as NATS clients do, each once. The client never
/// reconnects on its own: a connection that breaks is dropped with whatever it still
/// buffered, and the job starts a new one (to whichever server answers) from its checkpoint,
/// so that messages of a broken connection cannot land after newer ones.
pub async fn connect_nats(url: &str) -> Result<async_nats::Client, SinkError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let shown = redact_url(url);
    let servers = nats_servers(url).map_err(|e| SinkError::new(SinkErrorKind::Fatal, e))?;
    let addrs = servers
        .iter()
        .map(|s| s.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            SinkError::new(
                SinkErrorKind::Fatal,
                format!("NATS {shown}: {}", redact_secrets(&e.to_string(), url)),
            )
        })?;
    // async-nats has no "never reconnect" setting: it counts every server it tries as an
    // attempt, so the first connect may try each server of the list once, without waiting;
    // once connected, the reconnect it is allowed waits a year (the connection is long
    // dropped by then).
    let connected = Arc::new(AtomicBool::new(false));
    let flag = connected.clone();
    let client = async_nats::ConnectOptions::new()
        .name("evscope replay")
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(addrs.len())
        .reconnect_delay_callback(move |_| {
            if flag.load(Ordering::SeqCst) {
                Duration::from_secs(365 * 24 * 3600)
            } else {
                Duration::ZERO
            }
        })
        .connect(addrs)
        .await
        .map_err(|e| {
            SinkError::new(
                SinkErrorKind::Unavailable,
                format!("NATS {shown}: {}", redact_secrets(&e.to_string(), url)),
            )
        })?;
    connected.store(true, Ordering::SeqCst);
    Ok(client)
}

fn context(client: async_nats::Client) -> async_nats::jetstream::Context {
    async_nats::jetstream::context::ContextBuilder::new()
        .timeout(ACK_TIMEOUT)
        .build(client)
}

fn no_stream(subject: &str) -> String {
    format!(
        "no JetStream stream captures subject {subject}: create one first (e.g. nats stream add --subjects 'replay.>')"
    )
}

/// The JetStream API's error answer in an error's sources, if it was one.
fn api_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a async_nats::jetstream::Error> {
    let mut at = Some(e);
    while let Some(e) = at {
        if let Some(j) = e.downcast_ref::<async_nats::jetstream::Error>() {
            return Some(j);
        }
        at = e.source();
    }
    None
}

/// An answer of the JetStream API that means "not now": the cluster (or the stream's group)
/// has no leader at the moment, or the stream is offline.
fn transient(e: &async_nats::jetstream::Error) -> bool {
    use async_nats::jetstream::ErrorCode as C;
    e.code() == 503
        || [
            C::CLUSTER_NOT_AVAILABLE,
            C::CLUSTER_NOT_ACTIVE,
            C::CLUSTER_NOT_ASSIGNED,
            C::CLUSTER_NOT_LEADER,
            C::STREAM_OFFLINE,
        ]
        .contains(&e.error_code())
}

/// The stream that captures `subject`, as the cluster answers. Only its answer that none does
/// is fatal; no answer (no responders, 503 during an election, a timeout) is unavailable.
async fn stream_for(
    js: &async_nats::jetstream::Context,
    subject: &str,
) -> Result<String, SinkError> {
    use async_nats::jetstream::context::GetStreamByNameErrorKind as K;
    js.stream_by_subject(subject)
        .await
        .map_err(|e| match e.kind() {
            K::NotFound => SinkError::new(SinkErrorKind::Fatal, no_stream(subject)),
            K::InvalidSubject => {
                SinkError::new(SinkErrorKind::Fatal, format!("subject {subject}: {e}"))
            }
            _ => match api_error(&e) {
                Some(j) if !transient(j) => SinkError::new(
                    SinkErrorKind::Fatal,
                    format!(
                        "JetStream refused to say which stream captures subject {subject}: {j}"
                    ),
                ),
                _ => SinkError::new(
                    SinkErrorKind::Unavailable,
                    format!("JetStream did not say which stream captures subject {subject}: {e}"),
                ),
            },
        })
}

fn publish_error(
    e: async_nats::jetstream::context::PublishError,
    subject: &str,
    connected: bool,
    unanswered: &Mutex<Option<String>>,
) -> SinkError {
    use async_nats::jetstream::context::PublishErrorKind as K;
    let unavailable = |m: String| SinkError::new(SinkErrorKind::Unavailable, m);
    if !connected {
        return unavailable(format!(
            "the NATS connection broke: {e} (subject {subject})"
        ));
    }
    let api = api_error(&e);
    match e.kind() {
        K::TimedOut => unavailable(format!(
            "no acknowledgement within {}s (subject {subject})",
            ACK_TIMEOUT.as_secs()
        )),
        K::BrokenPipe | K::MaxAckPending => unavailable(format!("{e} (subject {subject})")),
        // "No responders": no stream captures the subject, or its stream is electing a
        // leader. The next connection asks which.
        K::StreamNotFound => {
            *lock(unanswered) = Some(subject.to_string());
            unavailable(format!(
                "no responders for subject {subject}: its stream has no leader at the moment, or no stream captures it"
            ))
        }
        K::Other
            if api.is_some_and(|j| {
                j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND
            }) =>
        {
            *lock(unanswered) = Some(subject.to_string());
            unavailable(format!("{e} (subject {subject})"))
        }
        K::Other if api.is_some_and(transient) => unavailable(format!("{e} (subject {subject})")),
        _ => SinkError::new(SinkErrorKind::Rejected, format!("{e} (subject {subject})")),
    }
}

impl Sink for NatsSink {
    fn connect(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.js = None;
            self.client = None;
            let client = connect_nats(&self.url).await?;
            let js = context(client.clone());
            // A publish found no responders: a stream without a leader for a moment is waited
            // out (the job retries), a subject that no stream captures fails the job.
            let unanswered = lock(&self.unanswered).clone();
            if let Some(subject) = unanswered {
                let stream = stream_for(&js, &subject).await?;
                tracing::info!("stream {stream} captures {subject}: it was without a leader");
                *lock(&self.unanswered) = None;
            }
            self.failed = Arc::default();
            self.client = Some(client);
            self.js = Some(js);
            Ok(())
        })
    }

    fn send<'a>(
        &'a mut self,
        e: &'a Event,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Pending, SinkError>> {
        Box::pin(async move {
            let (Some(js), Some(client)) = (&self.js, &self.client) else {
                return Err(SinkError::new(SinkErrorKind::Unavailable, "not connected"));
            };
            if let Some(first) = lock(&self.failed).clone() {
                // Not published: an earlier event failed on this connection, and this one must
                // not be stored before that one's re-send. The job sees the earlier failure
                // first (acknowledgements are taken in order) and never this answer.
                let p: Pending = Box::pin(async move {
                    Err(SinkError::new(
                        SinkErrorKind::Unavailable,
                        format!("not sent after an earlier failure: {}", first.message),
                    ))
                });
                return Ok(p);
            }
            let subject = self.template.render(e, job);
            let mut h = async_nats::HeaderMap::new();
            let id = if e.event_id.is_empty() {
                format!("{}@{}", e.stream_id, e.stream_version)
            } else {
                e.event_id.clone()
            };
            h.insert("Nats-Msg-Id", id.as_str());
            h.insert("Evscope-Stream", e.stream_id.as_str());
            h.insert("Evscope-Version", e.stream_version.to_string().as_str());
            if let Some(p) = e.global_position {
                h.insert("Evscope-Position", p.to_string().as_str());
            }
            h.insert("Evscope-Type", e.event_type.as_str());
            h.insert("Evscope-Job", job);
            h.insert("Content-Type", "application/json");
            // Serialized straight into the message's buffer (no copy).
            let payload = bytes::Bytes::from(
                serde_json::to_vec(e)
                    .map_err(|err| SinkError::new(SinkErrorKind::Fatal, err.to_string()))?,
            );
            let connected =
                || client.connection_state() == async_nats::connection::State::Connected;
            let ack = js
                .publish_with_headers(subject.clone(), h, payload)
                .await
                .map_err(|err| publish_error(err, &subject, connected(), &self.unanswered))?;
            let client = client.clone();
            let failed = self.failed.clone();
            let unanswered = self.unanswered.clone();
            let p: Pending = Box::pin(async move {
                match ack.await {
                    Ok(a) => Ok(Acked {
                        duplicate: a.duplicate,
                        offset: None,
                    }),
                    Err(err) => {
                        let up =
                            client.connection_state() == async_nats::connection::State::Connected;
                        let e = publish_error(err, &subject, up, &unanswered);
                        lock(&failed).get_or_insert_with(|| e.clone());
                        Err(e)
                    }
                }
            });
            Ok(p)
        })
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        // An acknowledged publish is stored by the server: nothing to flush.
        Box::pin(async { Ok(()) })
    }
}

/// What the bus says about the stream that would receive `subject`: its name and duplicate
/// window, for the dry run. Err when no stream captures it (Fatal) or the bus cannot be
/// reached or does not answer (Unavailable); a stream without a leader is waited for a while
/// ([`TARGET_WAIT`]) first.
pub async fn nats_target(url: &str, subject: &str) -> Result<(String, Duration), SinkError> {
    let js = context(connect_nats(url).await?);
    let deadline = tokio::time::Instant::now() + TARGET_WAIT;
    let mut delay = Duration::from_millis(250);
    loop {
        match target(&js, subject).await {
            Err(e)
                if e.kind == SinkErrorKind::Unavailable
                    && tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::debug!("waiting for JetStream: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            r => return r,
        }
    }
}

async fn target(
    js: &async_nats::jetstream::Context,
    subject: &str,
) -> Result<(String, Duration), SinkError> {
    use async_nats::jetstream::context::GetStreamErrorKind as K;
    let name = stream_for(js, subject).await?;
    let stream = js.get_stream(&name).await.map_err(|e| match e.kind() {
        K::JetStream(j) if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND => {
            SinkError::new(SinkErrorKind::Fatal, no_stream(subject))
        }
        K::JetStream(j) if !transient(&j) => SinkError::new(
            SinkErrorKind::Fatal,
            format!("stream {name} (for subject {subject}): {j}"),
        ),
        _ => SinkError::new(
            SinkErrorKind::Unavailable,
            format!("stream {name} captures subject {subject} but does not answer: {e}"),
        ),
    })?;
    Ok((name, stream.cached_info().config.duplicate_window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stream: &str, ty: &str) -> Event {
        Event {
            global_position: Some(7),
            stream_id: stream.into(),
            stream_version: 3,
            event_id: "id-1".into(),
            event_type: ty.into(),
            data: serde_json::json!({}),
            metadata: serde_json::Value::Null,
            recorded_at: None,
            problems: vec![],
        }
    }

    #[test]
    fn templates_render_one_token_per_value() {
        let t = Template::parse("replay.{category}.{type}").unwrap();
        assert_eq!(
            t.render(&ev("account-1", "Bank.Deposited v2"), "j"),
            "replay.account.Bank_Deposited_v2"
        );
        let t = Template::parse("x.{stream}.{version}.{position}.{job}").unwrap();
        assert_eq!(t.render(&ev("a-1", "T"), "r1"), "x.a-1.3.7.r1");
        assert_eq!(
            t.render(&ev("a.*>", "T"), "r1"),
            "x.a___.3.7.r1",
            "no wildcard or extra token"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "replay.{kind}",
            "replay.{type",
            "a..{type}",
            "a.*",
            "a b",
            "",
            "{type}.",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sink_specs_parse() {
        assert_eq!(
            SinkSpec::parse("jsonl:-", None).unwrap(),
            SinkSpec::Jsonl { path: None }
        );
        assert_eq!(
            SinkSpec::parse("jsonl:/tmp/x.jsonl", None).unwrap(),
            SinkSpec::Jsonl {
                path: Some("/tmp/x.jsonl".into())
            }
        );
        assert_eq!(
            SinkSpec::parse("nats://127.0.0.1:4222", None).unwrap(),
            SinkSpec::Nats {
                url: "nats://127.0.0.1:4222".into(),
                subject: DEFAULT_SUBJECT.into()
            }
        );
        assert!(SinkSpec::parse("kafka://x", None).is_err());
        assert!(SinkSpec::parse("jsonl:", None).is_err());
        assert!(SinkSpec::parse("nats://h:1", Some("a.{nope}")).is_err());
    }

    #[test]
    fn nats_sinks_take_a_server_list() {
        let nats = |s: &str| match SinkSpec::parse(s, None) {
            Ok(SinkSpec::Nats { url, .. }) => Ok(url),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(
            nats("nats://a:4222,nats://b:4222,nats://c:4222").unwrap(),
            "nats://a:4222,nats://b:4222,nats://c:4222"
        );
        // A server without a scheme takes the first one's; spaces around commas are dropped.
        assert_eq!(
            nats("nats://a:4222, b:4222,c").unwrap(),
            "nats://a:4222,nats://b:4222,nats://c"
        );
        assert_eq!(
            nats_servers("tls://a:4222,b:4223").unwrap(),
            ["tls://a:4222", "tls://b:4223"]
        );
        for bad in [
            "nats://a:4222,",
            "nats://a:4222,,b:4222",
            "nats://a:4222,b:99999",
            "nats://a:4222,http://b:80",
            "nats://",
        ] {
            assert!(SinkSpec::parse(bad, None).is_err(), "{bad:?} accepted");
        }
        // Every server of the list becomes an address async-nats connects to.
        for s in nats_servers("nats://a:4222,b:4222").unwrap() {
            s.parse::<async_nats::ServerAddr>().unwrap();
        }
    }

    #[test]
    fn passwords_in_a_server_list_are_hidden() {
        let spec = SinkSpec::parse("nats://u:s3cret@a:4222,v:hunter2@b:4222,c:4222", None).unwrap();
        let shown = spec.describe();
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(
            shown.contains("nats://u:***@a:4222") && shown.contains("v:***@b:4222"),
            "{shown}"
        );
        let err = SinkSpec::parse("nats://u:s3cret@a:4222,v:hunter2@b:x", None).unwrap_err();
        assert!(!err.contains("s3cret") && !err.contains("hunter2"), "{err}");
        assert!(err.contains("b:x") || err.contains("port"), "{err}");
    }

    #[test]
    fn a_stream_without_a_leader_is_unavailable_not_missing() {
        use async_nats::jetstream::context::{PublishError, PublishErrorKind as K};
        let unanswered = Mutex::new(None);
        // "No responders": transient; the next connection asks whether a stream captures it.
        let e = publish_error(
            PublishError::new(K::StreamNotFound),
            "replay.a.T",
            true,
            &unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        assert_eq!(lock(&unanswered).as_deref(), Some("replay.a.T"));
        let e = publish_error(
            PublishError::new(K::TimedOut),
            "replay.a.T",
            true,
            &unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        let api = |json: &str| {
            let j: async_nats::jetstream::Error = serde_json::from_str(json).unwrap();
            PublishError::with_source(K::Other, j)
        };
        let e = publish_error(
            api(
                r#"{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}"#,
            ),
            "replay.a.T",
            true,
            &unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        let e = publish_error(
            api(
                r#"{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}"#,
            ),
            "replay.a.T",
            true,
            &unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Rejected, "{e}");
        // Anything on a broken connection is transient.
        let e = publish_error(
            PublishError::new(K::Other),
            "replay.a.T",
            false,
            &unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
    }

    #[test]
    fn a_file_sink_resumes_by_cutting_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(&p, "line one\npartial li").unwrap();
        // A new job refuses a file with content.
        assert!(JsonlSink::open(Some(p.clone()), None).is_err());
        // Resuming at 9 bytes cuts the partial line.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut s = JsonlSink::open(Some(p.clone()), Some(9)).unwrap();
            let e = ev("a-1", "T");
            let acked = s.send(&e, "j").await.unwrap().await.unwrap();
            s.sync().await.unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.starts_with("line one\n{"), "{text}");
            assert_eq!(acked.offset, Some(text.len() as u64));
        });
        // A checkpoint past the end means the file was changed.
        assert!(JsonlSink::open(Some(p.clone()), Some(1 << 20)).is_err());
    }
}
