//! Where a replay publishes. A sink takes events one at a time and answers each with a
//! future that resolves when the far side has acknowledged it; the job logic (order, rate,
//! checkpoints, retries) knows nothing else about it, so Kafka, RabbitMQ or a webhook are one
//! more implementation of [`Sink`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::redact::{percent_decode, redact_url};
use crate::store::Event;

/// The default NATS subject template.
pub const DEFAULT_SUBJECT: &str = "replay.{category}.{type}";

/// How long the bus may take to acknowledge one publish before it counts as unavailable.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the dry run's look at the target stream waits out a stream without a leader.
const TARGET_WAIT: Duration = Duration::from_secs(10);

/// A sink as a job records it. Shown only through [`SinkSpec::describe`], which hides any
/// password of its URLs; a job file keeps the URLs redacted too, and of the NATS credentials
/// only where they come from (see [`NatsAuth`]).
// One per job: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    Nats {
        /// The servers and where their credentials come from.
        url: NatsTarget,
        subject: String,
    },
    /// `path: None` is standard output.
    Jsonl { path: Option<PathBuf> },
}

/// How a sink is written in a job file: the URL redacted, the credentials as references.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SinkFile {
    Nats {
        url: String,
        subject: String,
        #[serde(default, skip_serializing_if = "NatsAuth::is_empty")]
        auth: NatsAuth,
    },
    Jsonl {
        path: Option<PathBuf>,
    },
}

impl Serialize for SinkSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SinkSpec::Nats { url, subject } => SinkFile::Nats {
                url: redact_url(&url.servers),
                subject: subject.clone(),
                auth: url.auth.clone(),
            },
            SinkSpec::Jsonl { path } => SinkFile::Jsonl { path: path.clone() },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SinkSpec {
    /// A job file written before URLs were redacted still loads (its URL with the password).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SinkSpec, D::Error> {
        Ok(match SinkFile::deserialize(d)? {
            SinkFile::Nats { url, subject, auth } => SinkSpec::Nats {
                url: NatsTarget { servers: url, auth },
                subject,
            },
            SinkFile::Jsonl { path } => SinkSpec::Jsonl { path },
        })
    }
}

impl SinkSpec {
    /// `nats://HOST:PORT` or a server list `nats://A:4222,nats://B:4222` (`nats://A:4222,B:4222`
    /// too), with `subject` (default [`DEFAULT_SUBJECT`]); `jsonl:PATH`, `jsonl:-`. Credentials in
    /// a NATS URL (`nats://USER:PASSWORD@HOST`, `nats://TOKEN@HOST`) are used to connect.
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
                url: NatsTarget {
                    servers: servers.join(","),
                    auth: NatsAuth::default(),
                },
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
            SinkSpec::Nats { url, subject } => {
                let auth = url.auth.describe();
                let mut s = format!("{} subject {subject}", redact_url(&url.servers));
                if !auth.is_empty() {
                    s.push_str(&format!(" ({auth})"));
                }
                s
            }
            SinkSpec::Jsonl { path: None } => "jsonl:- (standard output)".into(),
            SinkSpec::Jsonl { path: Some(p) } => format!("jsonl:{}", p.display()),
        }
    }

    /// Open the sink: `resume` None for a new job, else the sink's own position at the
    /// checkpoint (a file's length; 0 before the first checkpoint). A NATS sink finds its
    /// credentials here first (a file that cannot be read, an unset variable: Fatal), and again
    /// at every connection.
    pub fn open(&self, resume: Option<u64>) -> Result<Box<dyn Sink>, SinkError> {
        match self {
            SinkSpec::Nats { url, subject } => {
                Resolved::new(url)?;
                Ok(Box::new(NatsSink::new(url, subject)?))
            }
            SinkSpec::Jsonl { path } => Ok(Box::new(JsonlSink::open(path.clone(), resume)?)),
        }
    }

    /// Whether a new job could use this sink, asked before anything is planned and without
    /// side effects (no file created, nothing published): a file must be new or empty, in a
    /// directory that exists (the refusal [`JsonlSink::open`] makes for a new job); a bus must
    /// have its credentials and answer a connection. A stream for the subject is the dry run's
    /// question ([`nats_target`]), which needs the range's events.
    pub async fn check(&self) -> Result<(), SinkError> {
        match self {
            SinkSpec::Nats { url, subject } => {
                Template::parse(subject).map_err(|e| SinkError::new(SinkErrorKind::Fatal, e))?;
                connect_nats(url).await.map(drop).map_err(|e| match e.kind {
                    SinkErrorKind::Unavailable => SinkError {
                        message: format!("the bus cannot be reached: {}", e.message),
                        ..e
                    },
                    _ => e,
                })
            }
            SinkSpec::Jsonl { path: None } => Ok(()),
            SinkSpec::Jsonl { path: Some(p) } => check_new_file(p),
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
    /// Push out what was handed over and is still buffered (the runner calls it before it
    /// waits for a paced send, so that each event leaves at its time under --rate, not in a
    /// burst with the ones buffered before it).
    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }
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

/// A file a new job may write to: none yet, in a directory that exists, or an empty one that
/// can be written. (A directory that refuses a new file is found when the job creates it.)
fn check_new_file(path: &Path) -> Result<(), SinkError> {
    let fatal = |m: String| Err(SinkError::new(SinkErrorKind::Fatal, m));
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => fatal(format!("{shown} is a directory: give a file in it")),
        Ok(m) if m.len() > 0 => fatal(not_empty(path)),
        // Opened as the sink opens it (read and write: a FIFO does not block), not truncated:
        // nothing changes.
        Ok(_) => match OpenOptions::new().read(true).write(true).open(path) {
            Ok(_) => Ok(()),
            Err(e) => fatal(format!("cannot write {shown}: {e}")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            match std::fs::metadata(dir) {
                Ok(m) if !m.is_dir() => fatal(format!("{} is not a directory", dir.display())),
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => fatal(format!(
                    "{shown} cannot be created: the directory {} does not exist",
                    dir.display()
                )),
                Err(e) => fatal(format!("{shown}: {}: {e}", dir.display())),
            }
        }
        Err(e) => fatal(format!("cannot open {shown}: {e}")),
    }
}

fn not_empty(path: &Path) -> String {
    format!(
        "{} exists and is not empty: remove it or choose another file",
        path.display()
    )
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
        if resume.is_none() {
            // Why a new job cannot have the file, said before it is created.
            check_new_file(&path)?;
        }
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
            // The file got content since the check: still refused, never cut.
            None if len > 0 => return Err(SinkError::new(SinkErrorKind::Fatal, not_empty(&path))),
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

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move { self.out.flush().map_err(Self::io) })
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

// ---- NATS credentials and TLS ----

/// The environment variable a token is read from when nothing else names a credential.
pub const TOKEN_ENV: &str = "EVSCOPE_NATS_TOKEN";
/// The environment variable holding the password of `--nats-user` (or of a resumed job's URL).
pub const PASSWORD_ENV: &str = "EVSCOPE_NATS_PASSWORD";

/// The servers of a NATS sink and where its credentials come from. `servers` may hold a
/// password (`nats://u:p@h`) or a token (`nats://t@h`) in memory; a job file keeps it redacted
/// (`***`), and a resumed job is given it again ([`NatsTarget::recover`]).
#[derive(Clone, PartialEq)]
pub struct NatsTarget {
    /// Full URLs, comma-separated (as [`nats_servers`] made them).
    servers: String,
    pub auth: NatsAuth,
}

impl std::fmt::Debug for NatsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsTarget")
            .field("servers", &redact_url(&self.servers))
            .field("auth", &self.auth)
            .finish()
    }
}

/// Where a NATS sink's credentials and TLS files come from — references only (file paths, a
/// context's name, environment variable names), never a secret, so that a job file can keep
/// them and a resumed job finds its credentials the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsAuth {
    /// A `nats` CLI context (`$XDG_CONFIG_HOME/nats/context/NAME.json`), read at every
    /// connection: what the fields below leave unset comes from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The config file's `[sinks.NAME]` this came from (for the record; its settings are
    /// copied into the fields below).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A `.creds` file: a user JWT and its NKey seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds: Option<PathBuf>,
    /// A file holding an NKey seed (`SU…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<PathBuf>,
    /// A file holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The environment variable holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The environment variable holding `user`'s password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// CA certificates (PEM) to trust for the servers' certificates, instead of the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) and its key, for servers that verify clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// TLS before the server's INFO (servers with `handshake_first`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_first: bool,
}

impl NatsAuth {
    pub fn is_empty(&self) -> bool {
        self == &NatsAuth::default()
    }

    /// The credentials it names, by their flags (for messages).
    fn credentials(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.creds.is_some() {
            v.push("--nats-creds");
        }
        if self.nkey.is_some() {
            v.push("--nats-nkey");
        }
        if self.token_file.is_some() {
            v.push("--nats-token-file");
        }
        if self.token_env.is_some() {
            v.push("token_env");
        }
        if self.user.is_some() {
            v.push("--nats-user");
        }
        v
    }

    /// Where the credentials come from, for the job's description: "context prod, token from
    /// $EVSCOPE_NATS_TOKEN, TLS CA /etc/ca.pem".
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        let p = |p: &PathBuf| p.display().to_string();
        if let Some(n) = &self.profile {
            v.push(format!("profile {n}"));
        }
        if let Some(n) = &self.context {
            v.push(format!("context {n}"));
        }
        if let Some(f) = &self.creds {
            v.push(format!("creds {}", p(f)));
        }
        if let Some(f) = &self.nkey {
            v.push(format!("nkey {}", p(f)));
        }
        if let Some(f) = &self.token_file {
            v.push(format!("token from {}", p(f)));
        }
        if let Some(e) = &self.token_env {
            v.push(format!("token from ${e}"));
        }
        if let Some(u) = &self.user {
            let env = self.password_env.as_deref().unwrap_or(PASSWORD_ENV);
            v.push(format!("user {u}, password from ${env}"));
        }
        if let Some(f) = &self.tls_ca {
            v.push(format!("TLS CA {}", p(f)));
        }
        if let Some(f) = &self.tls_cert {
            v.push(format!("client certificate {}", p(f)));
        }
        if self.tls_first {
            v.push("TLS first".into());
        }
        v.join(", ")
    }
}

/// What names a NATS sink: the flags (`--sink`, `--subject`, `--sink-context`, `--nats-*`),
/// a config profile (`[sinks.NAME]`), or both (the flags win, field by field; a credential
/// named by a flag replaces the profile's).
#[derive(Debug, Clone, Default)]
pub struct SinkChoice {
    pub sink: Option<String>,
    pub subject: Option<String>,
    pub profile: Option<(String, crate::config::SinkProfile)>,
    /// From the flags; `context` included.
    pub auth: NatsAuth,
}

impl SinkChoice {
    /// The sink these name. With no credential named anywhere (flags, profile, URL, context),
    /// a token in [`TOKEN_ENV`] is used.
    pub fn resolve(self) -> Result<SinkSpec, String> {
        let flags = self.auth;
        let flag_creds = flags.credentials();
        if flag_creds.len() > 1 {
            return Err(format!(
                "{}: choose one credential for the NATS sink",
                flag_creds.join(" and ")
            ));
        }
        let mut auth = flags.clone();
        let mut sink = self.sink;
        let mut subject = self.subject;
        if let Some((name, p)) = &self.profile {
            let profile_auth = NatsAuth {
                creds: p.creds.clone(),
                nkey: p.nkey.clone(),
                token_file: p.token_file.clone(),
                token_env: p.token_env.clone(),
                user: p.user.clone(),
                password_env: p.password_env.clone(),
                ..NatsAuth::default()
            };
            let theirs = profile_auth.credentials();
            if theirs.len() > 1 {
                return Err(format!(
                    "sink profile {name}: one credential at most (creds, nkey, token_file/token_env or user)"
                ));
            }
            if p.password_env.is_some() && p.user.is_none() {
                return Err(format!(
                    "sink profile {name}: password_env is the password of `user`, which is not set"
                ));
            }
            if flag_creds.is_empty() {
                auth.creds = profile_auth.creds;
                auth.nkey = profile_auth.nkey;
                auth.token_file = profile_auth.token_file;
                auth.token_env = profile_auth.token_env;
                auth.user = profile_auth.user;
                auth.password_env = profile_auth.password_env;
            }
            auth.profile = Some(name.clone());
            auth.context = auth.context.or(p.context.clone());
            auth.tls_ca = auth.tls_ca.or(p.tls_ca.clone());
            auth.tls_cert = auth.tls_cert.or(p.tls_cert.clone());
            auth.tls_key = auth.tls_key.or(p.tls_key.clone());
            auth.tls_first |= p.tls_first;
            sink = sink.or(p.url.clone());
            subject = subject.or(p.subject.clone());
        }
        if auth.user.is_some() && auth.password_env.is_none() {
            auth.password_env = Some(PASSWORD_ENV.into());
        }
        if sink.is_none() {
            if let Some(name) = &auth.context {
                sink = Some(NatsContext::load(name)?.url()?);
            }
        }
        let Some(sink) = sink else {
            return Err(
                "replay needs --sink nats://HOST:PORT, jsonl:PATH or jsonl:- (or --sink-profile NAME, --sink-context NAME; see evscope replay --help)"
                    .into(),
            );
        };
        let mut spec = SinkSpec::parse(&sink, subject.as_deref())?;
        match &mut spec {
            SinkSpec::Jsonl { .. } => {
                let named = NatsAuth {
                    profile: None,
                    ..auth.clone()
                };
                if !named.is_empty() {
                    return Err(format!(
                        "{}: NATS credentials, TLS files and contexts are for a nats:// sink",
                        redact_url(&sink)
                    ));
                }
            }
            SinkSpec::Nats { url, .. } => {
                let in_url = url_credential(&url.servers)?;
                if in_url.is_some() && !auth.credentials().is_empty() {
                    return Err(format!(
                        "the sink {} holds a credential and {} names another: choose one",
                        redact_url(&sink),
                        auth.credentials().join(", ")
                    ));
                }
                if in_url.is_none()
                    && auth.credentials().is_empty()
                    && auth.context.is_none()
                    && std::env::var(TOKEN_ENV).is_ok_and(|t| !t.is_empty())
                {
                    auth.token_env = Some(TOKEN_ENV.into());
                }
                if auth.tls_cert.is_some() != auth.tls_key.is_some() {
                    return Err(
                        "--nats-tls-cert and --nats-tls-key go together (a client certificate and its key)"
                            .into(),
                    );
                }
                url.auth = auth;
            }
        }
        Ok(spec)
    }
}

/// A credential written in a server URL.
#[derive(Clone, PartialEq)]
enum UrlCredential {
    UserPassword(String, String),
    /// `nats://TOKEN@host`: a lone user name is a token.
    Token(String),
}

/// The credential the servers' URLs hold (the same in each one that has one).
fn url_credential(servers: &str) -> Result<Option<UrlCredential>, String> {
    let mut found: Option<UrlCredential> = None;
    for s in servers.split(',') {
        let u = url::Url::parse(s).map_err(|e| format!("sink {}: {e}", redact_url(servers)))?;
        if u.username().is_empty() && u.password().is_none() {
            continue;
        }
        let user = percent_decode(u.username());
        let this = match u.password() {
            Some(p) => UrlCredential::UserPassword(user, percent_decode(p)),
            None => UrlCredential::Token(user),
        };
        match &found {
            Some(f) if f != &this => {
                return Err(format!(
                    "sink {}: its servers hold different credentials, but one connection uses one",
                    redact_url(servers)
                ));
            }
            _ => found = Some(this),
        }
    }
    Ok(found)
}

/// The servers without their credentials: what async-nats is given (it would not use them,
/// and it logs server addresses with their passwords at debug level).
fn bare_servers(servers: &str) -> Result<Vec<String>, String> {
    servers
        .split(',')
        .map(|s| {
            let mut u =
                url::Url::parse(s).map_err(|e| format!("sink {}: {e}", redact_url(servers)))?;
            let _ = u.set_password(None);
            let _ = u.set_username("");
            Ok(u.to_string())
        })
        .collect()
}

impl NatsTarget {
    /// The servers, with their passwords hidden.
    pub fn shown(&self) -> String {
        redact_url(&self.servers)
    }

    /// What of the URL's credential a job file does not keep: "password" or "token".
    pub fn missing(&self) -> Option<&'static str> {
        self.servers.split(',').find_map(|s| {
            let u = url::Url::parse(s).ok()?;
            match u.password() {
                Some("***") => Some("password"),
                None if u.username() == "***" => Some("token"),
                _ => None,
            }
        })
    }

    /// Give a resumed job's URL its password (or token) again, which the job file does not
    /// keep: from `given` (the URL with it, which must be the job's once redacted), else the
    /// sink profile's URL (`profile_url`) or the context's, when it is the job's, else
    /// [`PASSWORD_ENV`] ([`TOKEN_ENV`] for a token). Err names what is missing and where to
    /// give it.
    pub fn recover(
        &mut self,
        given: Option<&str>,
        profile_url: Option<&str>,
    ) -> Result<(), String> {
        let shown = self.shown();
        if let Some(g) = given {
            let full = nats_servers(g)?.join(",");
            if redact_url(&full) != shown {
                return Err(format!(
                    "--sink {} is not the job's sink, {shown}",
                    redact_url(g)
                ));
            }
            self.servers = full;
        }
        let Some(what) = self.missing() else {
            return Ok(());
        };
        let context_url = self
            .auth
            .context
            .as_deref()
            .and_then(|n| NatsContext::load(n).ok())
            .and_then(|c| c.url().ok());
        for candidate in [profile_url.map(str::to_string), context_url]
            .into_iter()
            .flatten()
        {
            if let Ok(list) = nats_servers(&candidate) {
                let full = list.join(",");
                if redact_url(&full) == shown && url_credential(&full).is_ok() {
                    self.servers = full;
                    if self.missing().is_none() {
                        return Ok(());
                    }
                }
            }
        }
        let env = if what == "password" {
            PASSWORD_ENV
        } else {
            TOKEN_ENV
        };
        if let Some(secret) = std::env::var(env).ok().filter(|v| !v.is_empty()) {
            let mut out = Vec::new();
            for s in self.servers.split(',') {
                let mut u = url::Url::parse(s).map_err(|e| e.to_string())?;
                if u.password() == Some("***") {
                    let _ = u.set_password(Some(&secret));
                } else if u.password().is_none() && u.username() == "***" {
                    let _ = u.set_username(&secret);
                }
                out.push(u.to_string());
            }
            self.servers = out.join(",");
            return Ok(());
        }
        let with = shown.replacen(
            "***",
            if what == "password" {
                "PASSWORD"
            } else {
                "TOKEN"
            },
            1,
        );
        Err(format!(
            "its sink is {shown}, whose {what} is not kept in the job file: give it again with --sink '{with}' or in ${env}"
        ))
    }
}

/// Where the `nats` CLI keeps context NAME: `$XDG_CONFIG_HOME/nats/context/NAME.json`, else
/// `~/.config/nats/context/NAME.json`.
pub fn context_path(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() || name.contains("..") || name.contains('/') || name.contains('\\') {
        return Err(format!("{name:?} is not a nats context name"));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".config"))
            .ok_or("no $HOME to find nats contexts in")?,
    };
    Ok(base
        .join("nats")
        .join("context")
        .join(format!("{name}.json")))
}

/// A context as the `nats` CLI writes it (`nats context save`): the fields evscope uses;
/// others (description, color_scheme, …) are ignored. Values are never Debug-printed.
#[derive(Default, Deserialize)]
#[serde(default)]
struct NatsContext {
    #[serde(skip)]
    name: String,
    url: String,
    token: String,
    user: String,
    password: String,
    creds: String,
    nkey: String,
    user_jwt: String,
    cert: String,
    key: String,
    ca: String,
    nsc: String,
    socks_proxy: String,
    inbox_prefix: String,
    jetstream_domain: String,
    jetstream_api_prefix: String,
    tls_first: bool,
}

impl std::fmt::Debug for NatsContext {
    /// Its name only: its fields may hold a password or a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsContext({})", self.name)
    }
}

impl NatsContext {
    fn load(name: &str) -> Result<NatsContext, String> {
        let path = context_path(name)?;
        let text = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no nats context {name} ({} does not exist; `nats context ls` lists them)",
                path.display()
            ),
            _ => format!("nats context {name}: {}: {e}", path.display()),
        })?;
        NatsContext::parse(name, &path, &text)
    }

    /// A context file's text. The nsc lookup and SOCKS proxies are refused (evscope does
    /// neither).
    fn parse(name: &str, path: &Path, text: &[u8]) -> Result<NatsContext, String> {
        // The parser's message could quote a value: only where it failed is told.
        let mut c: NatsContext = serde_json::from_slice(text).map_err(|e| {
            format!(
                "nats context {name}: {} is not a context file (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        c.name = name.to_string();
        if !c.nsc.is_empty() {
            return Err(format!(
                "nats context {name} takes its credentials from nsc, which evscope does not run: give the user's creds file with --nats-creds (nsc generate creds)"
            ));
        }
        if !c.socks_proxy.is_empty() {
            return Err(format!(
                "nats context {name} connects through a SOCKS proxy, which evscope does not support"
            ));
        }
        Ok(c)
    }

    /// Its servers (the nats CLI's default when it names none), each with a scheme.
    fn url(&self) -> Result<String, String> {
        let u = self.url.trim();
        if u.is_empty() {
            return Ok("nats://127.0.0.1:4222".into());
        }
        let full = if u.contains("://") {
            u.to_string()
        } else {
            format!("nats://{u}")
        };
        nats_servers(&full)
            .map(|s| s.join(","))
            .map_err(|e| format!("nats context {}: {e}", self.name))
    }

    /// A file named by the context: `file://` and `~/` as the nats CLI takes them.
    fn path(&self, v: &str) -> Option<PathBuf> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        let v = v.strip_prefix("file://").unwrap_or(v);
        Some(match v.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(rest))
                .unwrap_or_else(|| PathBuf::from(v)),
            None => PathBuf::from(v),
        })
    }

    /// A secret field: the value itself, `env://VAR` or `file://PATH`.
    fn secret(&self, field: &str, v: &str) -> Result<Option<(String, String)>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        let name = &self.name;
        if let Some(var) = v.strip_prefix("env://") {
            return match std::env::var(var) {
                Ok(s) if !s.is_empty() => {
                    Ok(Some((s, format!("context {name}'s {field} (${var})"))))
                }
                _ => Err(format!(
                    "nats context {name}: its {field} is read from ${var}, which is not set"
                )),
            };
        }
        if let Some(p) = v.strip_prefix("file://") {
            let p = self.path(p).unwrap_or_default();
            let s = std::fs::read_to_string(&p).map_err(|e| {
                format!("nats context {name}: its {field} file {}: {e}", p.display())
            })?;
            return Ok(Some((
                s.trim().to_string(),
                format!("context {name}'s {field} ({})", p.display()),
            )));
        }
        if let Some((scheme, _)) = v.split_once("://") {
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "nats context {name}: its {field} is a {scheme}:// reference, which evscope cannot look up (env:// and file:// it can)"
                ));
            }
        }
        Ok(Some((v.to_string(), format!("context {name}'s {field}"))))
    }
}

/// A credential read from where it is kept, for one connection. Never Debug-printed.
enum Secret {
    UserPassword(String, String),
    Token(String),
    NKey(String),
    /// A `.creds` file's text (the user JWT and its seed).
    Creds(String),
}

/// Everything one connection needs, read afresh each time (a rotated token or creds file is
/// picked up at the next connection).
struct Resolved {
    addrs: Vec<async_nats::ServerAddr>,
    /// The servers with their passwords hidden.
    shown: String,
    secret: Option<Secret>,
    /// Where the credential came from, for messages: "the token in $EVSCOPE_NATS_TOKEN".
    from: Option<String>,
    ca: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    tls: bool,
    tls_first: bool,
    inbox_prefix: Option<String>,
    js_prefix: Option<String>,
    /// Every secret value, to cut from any message.
    secrets: Vec<String>,
}

/// The NKey seed in a seed file (`nk -gen user`, or a decorated one): its first word that
/// looks like one (`S` then base32).
fn seed_in(text: &str) -> Option<&str> {
    text.split_whitespace().find(|w| {
        w.len() >= 50
            && w.starts_with('S')
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    })
}

impl Resolved {
    fn new(t: &NatsTarget) -> Result<Resolved, SinkError> {
        let fatal = |m: String| SinkError::new(SinkErrorKind::Fatal, m);
        let shown = t.shown();
        if let Some(what) = t.missing() {
            let env = if what == "password" {
                PASSWORD_ENV
            } else {
                TOKEN_ENV
            };
            return Err(fatal(format!(
                "NATS {shown}: the {what} of the URL is not known (a job file does not keep it): give the URL with it (--sink) or put it in ${env}"
            )));
        }
        let in_url = url_credential(&t.servers).map_err(fatal)?;
        let addrs = bare_servers(&t.servers)
            .map_err(fatal)?
            .iter()
            .map(|s| s.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fatal(format!("NATS {shown}: {e}")))?;
        let a = &t.auth;
        let ctx = match &a.context {
            Some(n) => Some(NatsContext::load(n).map_err(fatal)?),
            None => None,
        };
        let read = |what: &str, p: &Path| {
            std::fs::read_to_string(p).map_err(|e| {
                fatal(format!(
                    "NATS {shown}: cannot read {what} {}: {e}",
                    p.display()
                ))
            })
        };
        let env = |var: &str, what: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    fatal(format!(
                        "NATS {shown}: {what} is read from ${var}, which is not set"
                    ))
                })
        };
        let seed = |text: &str, p: &Path| {
            seed_in(text).map(str::to_string).ok_or_else(|| {
                fatal(format!(
                    "NATS {shown}: {} holds no NKey seed (a line SU…, as `nk -gen user` writes it)",
                    p.display()
                ))
            })
        };
        let (secret, from) = if let Some(p) = &a.creds {
            (
                Some(Secret::Creds(read("the creds file", p)?)),
                Some(format!("the creds file {}", p.display())),
            )
        } else if let Some(p) = &a.nkey {
            let text = read("the NKey seed file", p)?;
            (
                Some(Secret::NKey(seed(&text, p)?)),
                Some(format!("the NKey seed in {}", p.display())),
            )
        } else if let Some(p) = &a.token_file {
            let token = read("the token file", p)?.trim().to_string();
            if token.is_empty() {
                return Err(fatal(format!(
                    "NATS {shown}: the token file {} is empty",
                    p.display()
                )));
            }
            (
                Some(Secret::Token(token)),
                Some(format!("the token in {}", p.display())),
            )
        } else if let Some(var) = &a.token_env {
            (
                Some(Secret::Token(env(var, "the token")?)),
                Some(format!("the token in ${var}")),
            )
        } else if let Some(user) = &a.user {
            let var = a.password_env.as_deref().unwrap_or(PASSWORD_ENV);
            let pass = env(var, &format!("the password of user {user}"))?;
            (
                Some(Secret::UserPassword(user.clone(), pass)),
                Some(format!("user {user} (password in ${var})")),
            )
        } else if let Some(c) = in_url {
            match c {
                UrlCredential::UserPassword(u, p) => (
                    Some(Secret::UserPassword(u.clone(), p)),
                    Some(format!("user {u} of the URL")),
                ),
                UrlCredential::Token(t) => (Some(Secret::Token(t)), Some("the URL's token".into())),
            }
        } else if let Some(c) = &ctx {
            // As the nats CLI takes them: a user, else a creds file, else an NKey; else a token.
            let n = &c.name;
            if !c.user.is_empty() {
                let pass = c.secret("password", &c.password).map_err(fatal)?;
                (
                    Some(Secret::UserPassword(
                        c.user.clone(),
                        pass.map(|p| p.0).unwrap_or_default(),
                    )),
                    Some(format!("context {n}'s user {}", c.user)),
                )
            } else if let Some(p) = c.path(&c.creds) {
                (
                    Some(Secret::Creds(read(
                        &format!("context {n}'s creds file"),
                        &p,
                    )?)),
                    Some(format!("context {n}'s creds file {}", p.display())),
                )
            } else if let Some(p) = c.path(&c.nkey) {
                let text = read(&format!("context {n}'s NKey seed file"), &p)?;
                let s = seed(&text, &p)?;
                if c.user_jwt.trim().is_empty() {
                    (
                        Some(Secret::NKey(s)),
                        Some(format!("context {n}'s NKey seed in {}", p.display())),
                    )
                } else {
                    // A user JWT signed with that seed: the same as a creds file.
                    let creds = format!(
                        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{s}\n------END USER NKEY SEED------\n",
                        c.user_jwt.trim()
                    );
                    (
                        Some(Secret::Creds(creds)),
                        Some(format!("context {n}'s user JWT and seed {}", p.display())),
                    )
                }
            } else if let Some((tok, from)) = c.secret("token", &c.token).map_err(fatal)? {
                (
                    Some(Secret::Token(tok)),
                    Some(format!("the token of {from}")),
                )
            } else {
                (None, None)
            }
        } else {
            (None, None)
        };
        let mut secrets = Vec::new();
        match &secret {
            Some(Secret::UserPassword(_, p)) => secrets.push(p.clone()),
            Some(Secret::Token(t)) => secrets.push(t.clone()),
            Some(Secret::NKey(s)) => secrets.push(s.clone()),
            Some(Secret::Creds(text)) => {
                // Checked now, so that a file that is not one fails before anything starts.
                if let Err(e) = async_nats::ConnectOptions::new().credentials(text) {
                    return Err(fatal(format!(
                        "NATS {shown}: {} does not hold a user JWT and its NKey seed (as `nsc generate creds` writes them): {e}",
                        from.as_deref().unwrap_or("the creds file")
                    )));
                }
                secrets.extend(
                    text.split_whitespace()
                        .filter(|w| w.len() >= 20)
                        .map(str::to_string),
                );
            }
            None => {}
        }
        if let Some(c) = &ctx {
            secrets.extend(
                [c.password.clone(), c.token.clone()]
                    .into_iter()
                    .filter(|s| !s.is_empty()),
            );
        }
        // Any password in the URLs too (raw and percent-encoded).
        for s in t.servers.split(',') {
            if let Ok(u) = url::Url::parse(s) {
                if let Some(p) = u.password() {
                    secrets.push(p.to_string());
                    secrets.push(percent_decode(p));
                } else if !u.username().is_empty() {
                    secrets.push(u.username().to_string());
                    secrets.push(percent_decode(u.username()));
                }
            }
        }
        secrets.retain(|s| s.len() >= 3 && s != "***");
        let file = |flag: &str, p: Option<PathBuf>| -> Result<Option<PathBuf>, SinkError> {
            match p {
                Some(p) => match std::fs::File::open(&p) {
                    Ok(_) => Ok(Some(p)),
                    Err(e) => Err(fatal(format!(
                        "NATS {shown}: cannot read {flag} {}: {e}",
                        p.display()
                    ))),
                },
                None => Ok(None),
            }
        };
        let from_ctx = |f: fn(&NatsContext) -> &String| ctx.as_ref().and_then(|c| c.path(f(c)));
        let ca = file(
            "the TLS CA",
            a.tls_ca.clone().or_else(|| from_ctx(|c| &c.ca)),
        )?;
        let cert = file(
            "the client certificate",
            a.tls_cert.clone().or_else(|| from_ctx(|c| &c.cert)),
        )?;
        let key = file(
            "the client key",
            a.tls_key.clone().or_else(|| from_ctx(|c| &c.key)),
        )?;
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(fatal(format!(
                    "NATS {shown}: a client certificate goes with its key (--nats-tls-cert and --nats-tls-key)"
                )));
            }
        };
        let tls_first = a.tls_first || ctx.as_ref().is_some_and(|c| c.tls_first);
        let nonempty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let (inbox_prefix, js_prefix) = match &ctx {
            Some(c) => (
                nonempty(&c.inbox_prefix),
                nonempty(&c.jetstream_api_prefix)
                    .or_else(|| nonempty(&c.jetstream_domain).map(|d| format!("$JS.{d}.API"))),
            ),
            None => (None, None),
        };
        Ok(Resolved {
            tls: ca.is_some() || client_cert.is_some() || tls_first,
            addrs,
            shown,
            secret,
            from,
            ca,
            client_cert,
            tls_first,
            inbox_prefix,
            js_prefix,
            secrets,
        })
    }

    /// A message with every secret of this connection cut out.
    fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        let mut secrets = self.secrets.clone();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in &secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    fn options(&self) -> async_nats::ConnectOptions {
        let mut o = async_nats::ConnectOptions::new();
        match &self.secret {
            Some(Secret::UserPassword(u, p)) => o = o.user_and_password(u.clone(), p.clone()),
            Some(Secret::Token(t)) => o = o.token(t.clone()),
            Some(Secret::NKey(s)) => o = o.nkey(s.clone()),
            // Checked in Resolved::new.
            Some(Secret::Creds(text)) => {
                if let Ok(with) = o.clone().credentials(text) {
                    o = with;
                }
            }
            None => {}
        }
        if let Some(ca) = &self.ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls {
            o = o.require_tls(true);
        }
        if self.tls_first {
            o = o.tls_first();
        }
        if let Some(p) = &self.inbox_prefix {
            o = o.custom_inbox_prefix(p);
        }
        o
    }

    /// What a failed connection means: a refused credential or a TLS problem is fatal
    /// (retrying does not help), anything else (refused, timed out) unavailable.
    fn connect_error(&self, e: async_nats::ConnectError) -> SinkError {
        use async_nats::ConnectErrorKind as K;
        let shown = &self.shown;
        let fatal = |m: String| SinkError::new(SinkErrorKind::Fatal, m);
        let text = self.scrub(&e.to_string());
        match e.kind() {
            K::AuthorizationViolation => fatal(match &self.from {
                Some(f) => {
                    format!("NATS {shown}: the server refused {f} (authorization violation)")
                }
                None => format!(
                    "NATS {shown}: the server wants credentials (authorization violation): give them in the URL, with --nats-creds, --nats-nkey, --nats-token-file (or ${TOKEN_ENV}), --nats-user (password in ${PASSWORD_ENV}), --sink-profile or --sink-context"
                ),
            }),
            K::Authentication => fatal(format!(
                "NATS {shown}: could not sign the server's challenge with {}: is it a valid NKey seed? ({text})",
                self.from.as_deref().unwrap_or("the credential")
            )),
            K::Tls => fatal(format!("NATS {shown}: TLS: {text}")),
            _ => match tls_problem(&e) {
                Some(hint) => fatal(format!("NATS {shown}: TLS: {text}{hint}")),
                None => SinkError::new(SinkErrorKind::Unavailable, format!("NATS {shown}: {text}")),
            },
        }
    }
}

/// A TLS failure in an error's sources (a handshake's error comes as an I/O error), with a
/// hint at what to give.
fn tls_problem(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use async_nats::rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let mut at = Some(e);
    while let Some(e) = at {
        let tls = e.downcast_ref::<R>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<R>())
        });
        if let Some(t) = tls {
            return Some(match t {
                R::InvalidCertificate(C::UnknownIssuer) => {
                    ": the server's certificate is not signed by a CA evscope trusts (give its CA with --nats-tls-ca FILE)"
                }
                R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                    ": the server's certificate is not for the host name (or IP address) of the URL"
                }
                R::AlertReceived(
                    A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::HandshakeFailure,
                ) => {
                    ": the server wants a client certificate it trusts (--nats-tls-cert FILE --nats-tls-key FILE)"
                }
                R::InvalidMessage(_) => ": does the server speak TLS there?",
                _ => "",
            });
        }
        at = e.source();
    }
    None
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
    target: NatsTarget,
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
    pub fn new(target: &NatsTarget, subject: &str) -> Result<NatsSink, SinkError> {
        Ok(NatsSink {
            target: target.clone(),
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

/// Connect to NATS for a replay: to any one server of the list (one URL or several,
/// comma-separated), tried in random order as NATS clients do, each once, with the
/// credentials and TLS files `target` names (read now, from where they are kept). The client
/// never reconnects on its own: a connection that breaks is dropped with whatever it still
/// buffered, and the job starts a new one (to whichever server answers) from its checkpoint,
/// so that messages of a broken connection cannot land after newer ones.
///
/// async-nats is given the server addresses without their credentials (it logs addresses,
/// passwords included, at debug level, and does not use a URL's credentials anyway): they go
/// in its options, which it never prints.
pub async fn connect_nats(
    target: &NatsTarget,
) -> Result<(async_nats::Client, async_nats::jetstream::Context), SinkError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let r = Resolved::new(target)?;
    // async-nats has no "never reconnect" setting: it counts every server it tries as an
    // attempt, so the first connect may try each server of the list once, without waiting;
    // once connected, the reconnect it is allowed waits a year (the connection is long
    // dropped by then).
    let connected = Arc::new(AtomicBool::new(false));
    let flag = connected.clone();
    let client = r
        .options()
        .name("evscope replay")
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(r.addrs.len())
        .reconnect_delay_callback(move |_| {
            if flag.load(Ordering::SeqCst) {
                Duration::from_secs(365 * 24 * 3600)
            } else {
                Duration::ZERO
            }
        })
        .connect(r.addrs.clone())
        .await
        .map_err(|e| r.connect_error(e))?;
    connected.store(true, Ordering::SeqCst);
    let js = match &r.js_prefix {
        Some(p) => async_nats::jetstream::context::ContextBuilder::new()
            .api_prefix(p.clone())
            .timeout(ACK_TIMEOUT)
            .build(client.clone()),
        None => async_nats::jetstream::context::ContextBuilder::new()
            .timeout(ACK_TIMEOUT)
            .build(client.clone()),
    };
    Ok((client, js))
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
            let (client, js) = connect_nats(&self.target).await?;
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

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            // The client never reconnects by itself (see connect_nats): a flush on a broken
            // connection would wait for ever, so the state is looked at first, and the flush is
            // given the acknowledgement's time at most.
            let Some(c) = &self.client else {
                return Ok(());
            };
            let gone = || SinkError::new(SinkErrorKind::Unavailable, "the NATS connection broke");
            if c.connection_state() != async_nats::connection::State::Connected {
                return Err(gone());
            }
            match tokio::time::timeout(ACK_TIMEOUT, c.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SinkError::new(
                    SinkErrorKind::Unavailable,
                    format!("flushing to NATS: {e}"),
                )),
                Err(_) => Err(gone()),
            }
        })
    }
}

/// What the bus says about the stream that would receive `subject`: its name and duplicate
/// window, for the dry run. Err when no stream captures it (Fatal) or the bus cannot be
/// reached or does not answer (Unavailable); a stream without a leader is waited for a while
/// ([`TARGET_WAIT`]) first.
pub async fn nats_target(bus: &NatsTarget, subject: &str) -> Result<(String, Duration), SinkError> {
    let (_client, js) = connect_nats(bus).await?;
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
            exact: None,
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
                url: NatsTarget {
                    servers: "nats://127.0.0.1:4222".into(),
                    auth: NatsAuth::default()
                },
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
            Ok(SinkSpec::Nats { url, .. }) => Ok(url.servers),
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

    fn nats(url: &str) -> NatsTarget {
        match SinkSpec::parse(url, None).unwrap() {
            SinkSpec::Nats { url, .. } => url,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_job_file_keeps_the_url_redacted_and_credentials_as_references() {
        let mut spec = SinkSpec::parse("nats://alice:s3cr%40t@a:4222,b:4222", None).unwrap();
        if let SinkSpec::Nats { url, .. } = &mut spec {
            url.auth.tls_ca = Some("/etc/ca.pem".into());
            url.auth.context = Some("prod".into());
        }
        let text = serde_json::to_string(&spec).unwrap();
        assert!(!text.contains("s3cr"), "{text}");
        assert!(text.contains("nats://alice:***@a:4222"), "{text}");
        assert!(
            text.contains(r#""tls_ca":"/etc/ca.pem""#) && text.contains(r#""context":"prod""#),
            "{text}"
        );
        let debug = format!("{spec:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        let back: SinkSpec = serde_json::from_str(&text).unwrap();
        let SinkSpec::Nats { url, .. } = &back else {
            panic!("{back:?}")
        };
        assert_eq!(url.missing(), Some("password"));
        assert_eq!(url.auth.context.as_deref(), Some("prod"));
        // A job file of an earlier version: no auth, the URL as it was given.
        let old: SinkSpec = serde_json::from_str(
            r#"{"kind":"nats","url":"nats://alice:s3cret@a:4222","subject":"replay.{type}"}"#,
        )
        .unwrap();
        let SinkSpec::Nats { url, .. } = &old else {
            panic!("{old:?}")
        };
        assert_eq!(url.missing(), None);
        assert!(url.auth.is_empty());
        // Without credentials, nothing more than before is written.
        let plain =
            serde_json::to_string(&SinkSpec::parse("nats://a:4222", None).unwrap()).unwrap();
        assert!(!plain.contains("auth"), "{plain}");
    }

    #[test]
    fn credentials_in_a_url_are_used_decoded_and_never_given_to_async_nats() {
        let c = url_credential("nats://alice:p%40ss%3Aw@a:4222,nats://b:4222").unwrap();
        assert!(c == Some(UrlCredential::UserPassword("alice".into(), "p@ss:w".into())));
        let c = url_credential("nats://t0k3n@a:4222").unwrap();
        assert!(c == Some(UrlCredential::Token("t0k3n".into())));
        assert!(url_credential("nats://a:4222").unwrap().is_none());
        let e = url_credential("nats://u:one@a:4222,nats://u:two@b:4222")
            .err()
            .unwrap();
        assert!(
            e.contains("different credentials") && !e.contains("one@"),
            "{e}"
        );
        assert_eq!(
            bare_servers("nats://alice:pw@a:4222,nats://tok@b:4222").unwrap(),
            ["nats://a:4222", "nats://b:4222"]
        );
        let r = Resolved::new(&nats("nats://alice:p%40ss%3Aw@127.0.0.1:4222")).unwrap();
        assert!(
            matches!(&r.secret, Some(Secret::UserPassword(u, p)) if u == "alice" && p == "p@ss:w")
        );
        assert!(!format!("{:?}", r.addrs).contains("p%40ss"));
        let cut = r.scrub("refused p@ss:w (p%40ss%3Aw)");
        assert!(!cut.contains("p@ss") && !cut.contains("p%40ss"), "{cut}");
    }

    #[test]
    fn a_resumed_job_is_given_its_password_again() {
        let mut t = nats("nats://alice:***@127.0.0.1:4222");
        assert_eq!(t.missing(), Some("password"));
        assert_eq!(nats("nats://***@127.0.0.1:4222").missing(), Some("token"));
        if std::env::var_os(PASSWORD_ENV).is_none() {
            let e = t.recover(None, None).unwrap_err();
            assert!(
                e.contains("--sink 'nats://alice:PASSWORD@127.0.0.1:4222'")
                    && e.contains(PASSWORD_ENV),
                "{e}"
            );
            assert!(Resolved::new(&t).is_err());
        }
        let e = t
            .recover(Some("nats://bob:pw@127.0.0.1:4222"), None)
            .unwrap_err();
        assert!(
            e.contains("not the job's sink") && !e.contains("pw@"),
            "{e}"
        );
        let mut given = t.clone();
        given
            .recover(Some("nats://alice:pw@127.0.0.1:4222"), None)
            .unwrap();
        assert_eq!(given.missing(), None);
        // The sink profile's URL, when it is the job's.
        let mut from_profile = t.clone();
        from_profile
            .recover(None, Some("nats://alice:pw@127.0.0.1:4222"))
            .unwrap();
        assert!(matches!(
            Resolved::new(&from_profile).unwrap().secret,
            Some(Secret::UserPassword(_, p)) if p == "pw"
        ));
        // Nothing to give: nothing asked.
        nats("nats://127.0.0.1:4222").recover(None, None).unwrap();
    }

    #[test]
    fn a_sink_is_named_by_flags_a_profile_or_both() {
        let choice = |sink: &str, auth: NatsAuth| SinkChoice {
            sink: Some(sink.into()),
            auth,
            ..Default::default()
        };
        let two = NatsAuth {
            creds: Some("/a.creds".into()),
            user: Some("alice".into()),
            ..Default::default()
        };
        assert!(
            choice("nats://h:1", two)
                .resolve()
                .unwrap_err()
                .contains("choose one")
        );
        let token = NatsAuth {
            token_file: Some("/t".into()),
            ..Default::default()
        };
        let e = choice("nats://u:pw@h:1", token.clone())
            .resolve()
            .unwrap_err();
        assert!(e.contains("choose one") && !e.contains("pw@"), "{e}");
        let e = choice("jsonl:/tmp/x", token.clone()).resolve().unwrap_err();
        assert!(e.contains("for a nats:// sink"), "{e}");
        let half = NatsAuth {
            tls_cert: Some("/c.pem".into()),
            ..Default::default()
        };
        assert!(
            choice("tls://h:1", half)
                .resolve()
                .unwrap_err()
                .contains("--nats-tls-key")
        );
        let user = NatsAuth {
            user: Some("alice".into()),
            ..Default::default()
        };
        let SinkSpec::Nats { url, .. } = choice("nats://h:1", user).resolve().unwrap() else {
            panic!()
        };
        assert_eq!(url.auth.password_env.as_deref(), Some(PASSWORD_ENV));
        assert!(
            url.auth
                .describe()
                .contains("user alice, password from $EVSCOPE_NATS_PASSWORD")
        );
        // A profile: its settings, unless a flag says otherwise (a flag's credential replaces
        // the profile's whole).
        let profile = crate::config::SinkProfile {
            url: Some("tls://bus:4222".into()),
            subject: Some("x.{type}".into()),
            creds: Some("/p.creds".into()),
            tls_ca: Some("/p-ca.pem".into()),
            ..Default::default()
        };
        let with = |auth: NatsAuth, sink: Option<&str>| SinkChoice {
            sink: sink.map(str::to_string),
            subject: None,
            profile: Some(("bus".into(), profile.clone())),
            auth,
        };
        let SinkSpec::Nats { url, subject } = with(NatsAuth::default(), None).resolve().unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (url.shown().as_str(), subject.as_str()),
            ("tls://bus:4222", "x.{type}")
        );
        assert_eq!(url.auth.creds.as_deref(), Some(Path::new("/p.creds")));
        assert_eq!(url.auth.profile.as_deref(), Some("bus"));
        let SinkSpec::Nats { url, .. } = with(token, Some("nats://other:4222")).resolve().unwrap()
        else {
            panic!()
        };
        assert_eq!(url.shown(), "nats://other:4222");
        assert_eq!(
            (url.auth.creds, url.auth.token_file.as_deref()),
            (None, Some(Path::new("/t")))
        );
        assert_eq!(url.auth.tls_ca.as_deref(), Some(Path::new("/p-ca.pem")));
        let greedy = crate::config::SinkProfile {
            nkey: Some("/n".into()),
            token_env: Some("T".into()),
            ..profile.clone()
        };
        let e = SinkChoice {
            profile: Some(("bus".into(), greedy)),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.contains("one credential at most"), "{e}");
        assert!(
            SinkChoice::default()
                .resolve()
                .unwrap_err()
                .contains("--sink-context")
        );
    }

    #[test]
    fn contexts_are_read_as_the_nats_cli_writes_them() {
        let parse =
            |json: &str| NatsContext::parse("prod", Path::new("/c/prod.json"), json.as_bytes());
        let c = parse(
            r#"{"description":"","url":"demo.nats.io","socks_proxy":"","token":"","user":"u",
               "password":"env://EVSCOPE_TEST_SURELY_UNSET_4711","creds":"","nkey":"",
               "cert":"","key":"","ca":"file:///etc/ca.pem","nsc":"","jetstream_domain":"hub",
               "jetstream_api_prefix":"","jetstream_event_prefix":"","inbox_prefix":"",
               "user_jwt":"","color_scheme":"","tls_first":false,"windows_cert_store":""}"#,
        )
        .unwrap();
        assert_eq!(c.url().unwrap(), "nats://demo.nats.io");
        assert_eq!(c.path(&c.ca), Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(c.path(""), None);
        let e = c.secret("password", &c.password).unwrap_err();
        assert!(
            e.contains("$EVSCOPE_TEST_SURELY_UNSET_4711") && e.contains("not set"),
            "{e}"
        );
        assert!(
            c.secret("token", "op://vault/nats/token")
                .unwrap_err()
                .contains("op://")
        );
        let (v, from) = c.secret("token", "plain-t0k3n").unwrap().unwrap();
        assert_eq!(v, "plain-t0k3n");
        assert!(!from.contains("plain-t0k3n"), "{from}");
        assert_eq!(
            parse(r#"{"url":"a:4222,b:4223"}"#).unwrap().url().unwrap(),
            "nats://a:4222,nats://b:4223"
        );
        assert_eq!(parse("{}").unwrap().url().unwrap(), "nats://127.0.0.1:4222");
        assert!(
            parse(r#"{"nsc":"nsc://op/acc/user"}"#)
                .unwrap_err()
                .contains("--nats-creds")
        );
        let e = parse(r#"{"password": 12345678}"#).unwrap_err();
        assert!(e.contains("line 1") && !e.contains("12345678"), "{e}");
        assert!(context_path("../etc").is_err() && context_path("a/b").is_err());
    }

    #[test]
    fn seeds_are_found_in_seed_files() {
        let seed = "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM";
        assert_eq!(seed_in(&format!("{seed}\n")), Some(seed));
        let decorated =
            format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n");
        assert_eq!(seed_in(&decorated), Some(seed));
        assert_eq!(
            seed_in("UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"),
            None
        );
        assert_eq!(seed_in("not a seed"), None);
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

    /// The check a form makes before planning: what a new job's file sink would refuse, said
    /// without creating anything; the same refusals as opening it.
    #[tokio::test]
    async fn a_sink_is_checked_without_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |p: &Path| SinkSpec::Jsonl {
            path: Some(p.to_path_buf()),
        };
        let new = dir.path().join("new.jsonl");
        spec(&new).check().await.unwrap();
        assert!(!new.exists(), "the check creates nothing");
        let full = dir.path().join("full.jsonl");
        std::fs::write(&full, "x\n").unwrap();
        let e = spec(&full).check().await.unwrap_err();
        assert_eq!(e.kind, SinkErrorKind::Fatal);
        assert!(e.message.contains("exists and is not empty"), "{e}");
        assert_eq!(
            JsonlSink::open(Some(full.clone()), None)
                .err()
                .unwrap()
                .message,
            e.message,
            "the same refusal as opening it"
        );
        assert_eq!(std::fs::read_to_string(&full).unwrap(), "x\n");
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        spec(&empty).check().await.unwrap();
        let nowhere = dir.path().join("no-such-dir").join("x.jsonl");
        let e = spec(&nowhere).check().await.unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        assert!(!nowhere.parent().unwrap().exists());
        assert!(
            JsonlSink::open(Some(nowhere), None)
                .err()
                .unwrap()
                .message
                .contains("does not exist")
        );
        let e = spec(dir.path()).check().await.unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
        SinkSpec::Jsonl { path: None }.check().await.unwrap();
        // A bus that does not answer (nothing listens on port 1).
        let bus = SinkSpec::parse("nats://127.0.0.1:1", None).unwrap();
        let e = bus.check().await.unwrap_err();
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        assert!(e.message.starts_with("the bus cannot be reached"), "{e}");
    }
}
