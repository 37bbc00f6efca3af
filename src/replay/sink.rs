//! Where a replay publishes. A sink takes events one at a time and answers each with a
//! future that resolves when the far side has acknowledged it; the job logic (order, rate,
//! checkpoints, retries) knows nothing else about it, so Kafka, RabbitMQ or a webhook are one
//! more implementation of [`Sink`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    pub fn parse(s: &str, subject: Option<&str>) -> Result<SinkSpec, SinkConfigError> {
        Self::parse_text(s, subject).map_err(SinkConfigError)
    }

    fn parse_text(s: &str, subject: Option<&str>) -> Result<SinkSpec, String> {
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

/// A sink that cannot be used as given (a malformed URL or subject, a missing credential, a
/// context that cannot be read), found before anything connects; the message names the
/// problem with passwords hidden.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkConfigError(pub String);

// The helpers that build a sink's description say what is wrong in a sentence.
impl From<SinkConfigError> for String {
    fn from(e: SinkConfigError) -> String {
        e.0
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

/// Where a replay publishes: events are handed over one at a time ([`Sink::send`]) and
/// answered strictly in the order they were handed over ([`Sink::next_ack`],
/// [`Sink::try_ack`]), so the job counts an event only once it and everything before it are
/// acknowledged. The job keeps the events in flight (at most `--max-in-flight`) and names the
/// oldest when it asks for an answer.
pub trait Sink: Send {
    /// Connect, or connect afresh after [`SinkErrorKind::Unavailable`]: nothing sent on an
    /// earlier connection may arrive after this returns, and what was in flight on it is
    /// forgotten (the job sends it again).
    fn connect(&mut self) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Hand one event over: Ok when it is on its way (its answer comes later), Err when it was
    /// not handed over (it is not in flight).
    fn send<'a>(
        &'a mut self,
        event: &'a Event,
        job: &'a str,
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// The answer for the oldest event in flight, `oldest` (which the job names, for messages):
    /// waits for it.
    fn next_ack<'a>(
        &'a mut self,
        oldest: &'a Event,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Acked, SinkError>>;
    /// The answer for the oldest event in flight if it has come, without waiting.
    fn try_ack(&mut self, oldest: &Event, job: &str) -> Option<Result<Acked, SinkError>>;
    /// How many events the sink can keep in flight at most (the job's bound is cut to it).
    fn max_in_flight(&self) -> usize {
        usize::MAX
    }
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
    pub fn parse(s: &str) -> Result<Template, SinkConfigError> {
        Self::parse_text(s).map_err(SinkConfigError)
    }

    fn parse_text(s: &str) -> Result<Template, String> {
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
        use std::fmt::Write as _;
        let mut out = String::with_capacity(64);
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Category => token(&mut out, category),
                Part::Type => token(&mut out, ty),
                Part::Stream => token(&mut out, stream),
                Part::Version => {
                    let _ = write!(out, "{version}");
                }
                Part::Position => match position {
                    Some(p) => {
                        let _ = write!(out, "{p}");
                    }
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
    if v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        out.push_str(v);
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

mod auth;
mod context;
mod jsonl;
mod nats;
mod routes;
mod window;

pub use auth::*;
pub use context::*;
pub use jsonl::*;
pub use nats::*;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ev(stream: &str, ty: &str) -> Event {
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
}
