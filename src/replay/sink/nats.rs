//! The NATS JetStream sink: connecting, publishing, and what its failures mean.

use super::*;

use std::fmt::Write as _;
use std::pin::Pin;

use async_nats::HeaderName;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use bytes::{BufMut, BytesMut};
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;

use super::routes::{Route, Routes};
use super::window::{Window, reply_number};

/// Publishes to JetStream: one message per event, the event's JSON (as in JSONL) as payload,
/// `Nats-Msg-Id` = the event id (so the stream's duplicate window absorbs re-sends) and
/// `Evscope-*` headers for the stream, version, position, type and job.
///
/// A cluster's failover is waited out, never taken for a missing stream: JetStream answers a
/// publish with "no responders" both when no stream captures its subject and when the stream
/// that does has no leader for a moment (an election after its leader went away). Such a
/// publish fails the attempt as [`SinkErrorKind::Unavailable`], and the next connection asks
/// the cluster which stream captures the subject: only its definite answer "none" is fatal.
///
/// # Acknowledgements in flight
///
/// Each publish carries its own reply subject `<inbox>.<n>` (n counts the publishes of the
/// connection), and one subscription to `<inbox>.*`, made on the connection before anything is
/// published on it, receives every answer (the PubAck, JetStream's error, or the server's "no
/// responders"). A [`Window`] puts each answer in its publish's slot and hands the answers to
/// the job strictly in publish order; one timer per connection watches the oldest publish
/// without an answer. (async-nats's own JetStream publish makes a request per message: an
/// inbox, a oneshot channel, a map entry in the connection task and a timer each.) Why the
/// replay's guarantees hold as they did with one request per message:
///
/// - *A checkpoint never runs ahead of the acknowledgements.* The job counts an event (and may
///   checkpoint it) only when [`Sink::next_ack`]/[`Sink::try_ack`] answer it, and they answer
///   the oldest publish in flight only: a PubAck that arrives for a later publish waits in the
///   window until every publish before it is answered. One without an answer holds back all
///   later ones until it comes or is late ([`ACK_TIMEOUT`] after it was sent, the same limit
///   as before), and then the attempt ends with the checkpoint before it.
/// - *An answer belongs to its publish.* It is matched by the number in its subject, never by
///   its arrival order, so answers arriving out of order (several streams, a cluster) are
///   right; a number not in flight, or a second answer to one, is ignored. Every connection has
///   a new inbox, so no answer of an earlier connection is taken for one of this connection.
/// - *Exactly once, in order.* Every event carries its `Nats-Msg-Id`; the first failure on a
///   connection (an error answer, no responders, a late answer) stops publishing on it (later
///   events are answered "not sent" without leaving), the job resends from its checkpoint on a
///   new connection, and the stream's duplicate window absorbs what had been stored after the
///   checkpoint.
/// - *Nothing overtakes a publish that failed.* The publishes already in flight after a failed
///   one would otherwise be stored before it is sent again, which breaks a stream's version
///   order on the bus (and, past the duplicate window, stores them twice). So the publishes to
///   one JetStream stream form a chain: each carries `Nats-Expected-Last-Msg-Id`, the id of the
///   previous publish to that stream on the connection, and the server stores it only if that
///   one is its last message. When one fails, every later one of its chain is refused, and what
///   the stream holds after the checkpoint is a prefix of what was sent: resending from the
///   checkpoint keeps the order (the server looks for a duplicate before the expectation). The
///   first publish to a stream on a connection expects nothing (nothing of the job's is in
///   flight to it). Which stream stores a subject comes from the streams' subject filters,
///   listed once per connection ([`Routes`]); a subject no filter matches is published only
///   when nothing is in flight, and its acknowledgement names its stream.
/// - *Another publisher on the same stream.* Its messages come between two of the job's, and
///   the job's next publish is refused ("wrong last msg ID") although nothing of the job's
///   failed: that stream is then published to one message at a time, each only once every
///   earlier publish is answered, without an expectation, for the rest of the job.
/// - *Failover and a missing stream.* The answers are classified as async-nats classifies its
///   own ([`publish_error`]): "no responders" (status 503 on the reply) and 503 API errors are
///   unavailable, and the next connection asks the cluster whether a stream captures the
///   subject; only its answer that none does is fatal.
/// - *Success only with every ack.* The job completes only once every event handed over has
///   been answered as stored; a connection that breaks answers nothing more, and its oldest
///   publish is late after [`ACK_TIMEOUT`].
pub struct NatsSink {
    target: NatsTarget,
    template: Template,
    conn: Option<Conn>,
    /// A subject whose publish found no responders, for the next connection to look up.
    unanswered: Option<String>,
    /// Payloads are serialized into this buffer and split off it, so that many share one
    /// allocation.
    payload: BytesMut,
    /// Which JetStream stream stores each subject, kept across connections.
    routes: Routes,
}

/// One connection and the publishes in flight on it.
struct Conn {
    client: async_nats::Client,
    /// `<inbox prefix>.<unique>.`: publish n is answered on this followed by n.
    inbox: String,
    answers: async_nats::Subscriber,
    window: Window<Answer>,
    /// A publish failed on this connection (or was not answered in time): nothing more is
    /// published on it, so that no later event is stored before the failed one is sent again.
    failed: bool,
    /// Wakes the wait for an answer no later than the oldest publish's deadline (moved only
    /// once it has passed: deadlines only grow).
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The message id of the last publish to each JetStream stream on this connection: what
    /// the next one to it expects to be the stream's last message.
    chain: Vec<Option<String>>,
    /// A publish to a subject whose stream is not known yet: its acknowledgement names it.
    /// While it is in flight nothing else is published.
    learning: Option<Learning>,
}

struct Learning {
    n: u64,
    subject: String,
    id: String,
}

/// What a publish was answered.
enum Answer {
    Stored {
        duplicate: bool,
    },
    Failed(PublishError),
    /// Not published: an earlier publish on this connection failed.
    NotSent,
}

const MSG_ID: HeaderName = HeaderName::from_static("Nats-Msg-Id");
const STREAM: HeaderName = HeaderName::from_static("Evscope-Stream");
const VERSION: HeaderName = HeaderName::from_static("Evscope-Version");
const POSITION: HeaderName = HeaderName::from_static("Evscope-Position");
const TYPE: HeaderName = HeaderName::from_static("Evscope-Type");
const JOB: HeaderName = HeaderName::from_static("Evscope-Job");
const EXPECTED_LAST_MSG_ID: HeaderName = HeaderName::from_static("Nats-Expected-Last-Msg-Id");
const CONTENT_TYPE: HeaderName = HeaderName::from_static("Content-Type");

/// Answers the subscription holds before the job takes them: async-nats drops what comes
/// beyond it (a "slow consumer"), so no more publishes than this are ever in flight.
const ANSWERS: usize = 1 << 16;

/// Payloads share buffers of this size (a larger one gets a buffer of its own size).
const PAYLOAD_BUFFER: usize = 1 << 16;

/// JetStream's answer to a publish: a PubAck (`{"stream":…,"seq":…,"duplicate":…}`) or an
/// error (`{"error":{"code":…,"err_code":…,"description":…}}`).
#[derive(Deserialize)]
struct Reply {
    stream: Option<serde::de::IgnoredAny>,
    seq: Option<u64>,
    #[serde(default)]
    duplicate: bool,
    error: Option<async_nats::jetstream::Error>,
}

impl Answer {
    fn of(m: &async_nats::Message) -> Answer {
        if m.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Answer::Failed(PublishError::new(PublishErrorKind::StreamNotFound));
        }
        if let Some(duplicate) = plain_ack(&m.payload) {
            return Answer::Stored { duplicate };
        }
        match serde_json::from_slice::<Reply>(&m.payload) {
            Ok(Reply { error: Some(e), .. }) => {
                Answer::Failed(PublishError::with_source(PublishErrorKind::Other, e))
            }
            Ok(Reply {
                stream: Some(_),
                seq: Some(_),
                duplicate,
                ..
            }) => Answer::Stored { duplicate },
            Ok(_) => Answer::Failed(PublishError::with_source(
                PublishErrorKind::Other,
                format!(
                    "not a JetStream acknowledgement: {}",
                    String::from_utf8_lossy(&m.payload)
                ),
            )),
            Err(e) => Answer::Failed(PublishError::with_source(PublishErrorKind::Other, e)),
        }
    }
}

/// Whether the answer is a PubAck as nats-server writes it for most publishes,
/// `{"stream":"S","seq":N}` or `{"stream":"S","seq":N,"duplicate":true}`: Some(duplicate).
/// Anything else (an error, a domain, fields a newer server adds) is None and goes to the full
/// parse. A stream name holds no quote, backslash or space (the server refuses them).
fn plain_ack(p: &[u8]) -> Option<bool> {
    let rest = p.strip_prefix(br#"{"stream":""#)?;
    let end = rest.iter().position(|b| matches!(b, b'"' | b'\\'))?;
    if end == 0 || rest[end] != b'"' {
        return None;
    }
    let rest = rest[end + 1..].strip_prefix(br#","seq":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    match &rest[digits..] {
        b"}" => Some(false),
        br#","duplicate":true}"# => Some(true),
        _ => None,
    }
}

impl Conn {
    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn record(&mut self, m: async_nats::Message, routes: &mut Routes) {
        let Some(n) = reply_number(m.subject.as_str()) else {
            return;
        };
        let answer = Answer::of(&m);
        let stored = matches!(answer, Answer::Stored { .. });
        if !stored {
            self.failed = true;
        }
        if self.learning.as_ref().is_some_and(|l| l.n == n) {
            let l = self.learning.take().expect("checked");
            if let Some(stream) = stored.then(|| acked_stream(&m.payload)).flatten() {
                let r = routes.learn(&l.subject, &stream);
                *self.chain_of(r) = Some(l.id);
            }
        }
        self.window.answer(n, answer);
    }

    fn chain_of(&mut self, r: Route) -> &mut Option<String> {
        let i = r as usize;
        if self.chain.len() <= i {
            self.chain.resize(i + 1, None);
        }
        &mut self.chain[i]
    }

    /// Take every answer that has arrived; false when the subscription ended (the client is
    /// gone).
    fn receive_ready(&mut self, routes: &mut Routes) -> bool {
        while let Some(m) = self.answers.next().now_or_never() {
            match m {
                Some(m) => self.record(m, routes),
                None => return false,
            }
        }
        true
    }

    /// Wait until every publish in flight is answered, so that the next one overtakes nothing.
    /// One that is late, or a connection that breaks, marks the connection failed instead (the
    /// job then finds the late one, or the break, where it waits for its answers).
    async fn drain(&mut self, routes: &mut Routes) {
        while !self.failed {
            if !self.receive_ready(routes) {
                self.failed = true;
                return;
            }
            let Some(deadline) = self.window.oldest_unanswered_deadline(ACK_TIMEOUT) else {
                return;
            };
            tokio::select! {
                biased;
                m = self.answers.next() => match m {
                    Some(m) => self.record(m, routes),
                    None => self.failed = true,
                },
                _ = tokio::time::sleep_until(deadline) => self.failed = true,
            }
        }
    }
}

/// The stream an acknowledgement names.
fn acked_stream(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Ack {
        stream: String,
    }
    serde_json::from_slice::<Ack>(payload)
        .ok()
        .map(|a| a.stream)
}

/// The streams the server has and the subjects each captures, for [`Routes`]. A server that
/// does not list them (no permission for the API, no answer in time) leaves them unknown: each
/// new subject then waits until nothing is in flight and learns its stream from its ack.
async fn list_streams(js: &async_nats::jetstream::Context) -> Option<Vec<(String, Vec<String>)>> {
    let list = async {
        let mut streams = js.streams();
        let mut out = Vec::new();
        while let Some(info) = streams.next().await {
            let info = info.map_err(|e| e.to_string())?;
            out.push((info.config.name, info.config.subjects));
        }
        Ok::<_, String>(out)
    };
    match tokio::time::timeout(ACK_TIMEOUT, list).await {
        Ok(Ok(streams)) => Some(streams),
        Ok(Err(e)) => {
            tracing::info!("JetStream did not list its streams ({e}): learning them from acks");
            None
        }
        Err(_) => {
            tracing::info!("JetStream did not list its streams in time: learning them from acks");
            None
        }
    }
}

impl NatsSink {
    pub fn new(target: &NatsTarget, subject: &str) -> Result<NatsSink, SinkError> {
        Ok(NatsSink {
            target: target.clone(),
            template: Template::parse(subject)
                .map_err(|e| SinkError::new(SinkErrorKind::Fatal, e))?,
            conn: None,
            unanswered: None,
            payload: BytesMut::new(),
            routes: Routes::default(),
        })
    }

    /// The job's answer for `oldest`, from what its publish was answered.
    fn deliver(&mut self, a: Answer, oldest: &Event, job: &str) -> Result<Acked, SinkError> {
        match a {
            Answer::Stored { duplicate } => Ok(Acked {
                duplicate,
                offset: None,
            }),
            Answer::Failed(e) => {
                let up = self.conn.as_ref().is_some_and(Conn::connected);
                let subject = self.template.render(oldest, job);
                // The first failure the job sees: every publish before it was stored, its
                // chain's previous one included. A refused expectation then means that
                // something else was stored in between.
                if api_error(&e).is_some_and(|j| {
                    j.error_code() == async_nats::jetstream::ErrorCode::STREAM_WRONG_LAST_MESSAGE_ID
                }) {
                    if let Some(r) = self.routes.route(&subject) {
                        self.routes.set_serial(r);
                        let stream = self.routes.name(r);
                        tracing::warn!(
                            "another publisher writes to JetStream stream {stream}: publishing to it one message at a time"
                        );
                        return Err(SinkError::new(
                            SinkErrorKind::Unavailable,
                            format!(
                                "another publisher wrote to JetStream stream {stream} between two of this job's messages ({e}); publishing to it one message at a time from now on, to keep each stream's order (subject {subject})"
                            ),
                        ));
                    }
                }
                Err(publish_error(e, &subject, up, &mut self.unanswered))
            }
            Answer::NotSent => Err(SinkError::new(
                SinkErrorKind::Unavailable,
                "not sent after an earlier failure on this connection",
            )),
        }
    }
}

fn not_connected() -> SinkError {
    SinkError::new(SinkErrorKind::Unavailable, "not connected")
}

fn broken() -> SinkError {
    SinkError::new(SinkErrorKind::Unavailable, "the NATS connection broke")
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
        .subscription_capacity(ANSWERS)
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
    unanswered: &mut Option<String>,
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
            *unanswered = Some(subject.to_string());
            unavailable(format!(
                "no responders for subject {subject}: its stream has no leader at the moment, or no stream captures it"
            ))
        }
        K::Other
            if api.is_some_and(|j| {
                j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND
            }) =>
        {
            *unanswered = Some(subject.to_string());
            unavailable(format!("{e} (subject {subject})"))
        }
        K::Other if api.is_some_and(transient) => unavailable(format!("{e} (subject {subject})")),
        _ => SinkError::new(SinkErrorKind::Rejected, format!("{e} (subject {subject})")),
    }
}

impl Sink for NatsSink {
    fn connect(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.conn = None;
            let (client, js) = connect_nats(&self.target).await?;
            // A publish found no responders: a stream without a leader for a moment is waited
            // out (the job retries), a subject that no stream captures fails the job.
            if let Some(subject) = self.unanswered.clone() {
                let stream = stream_for(&js, &subject).await?;
                tracing::info!("stream {stream} captures {subject}: it was without a leader");
                self.unanswered = None;
            }
            if let Some(streams) = list_streams(&js).await {
                self.routes.set_listing(streams);
            }
            let inbox = format!("{}.", client.new_inbox());
            let answers = client.subscribe(format!("{inbox}*")).await.map_err(|e| {
                SinkError::new(
                    SinkErrorKind::Unavailable,
                    format!("NATS: subscribing to the acknowledgements: {e}"),
                )
            })?;
            self.conn = Some(Conn {
                client,
                inbox,
                answers,
                window: Window::new(),
                failed: false,
                timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
                chain: Vec::new(),
                learning: None,
            });
            Ok(())
        })
    }

    fn send<'a>(&'a mut self, e: &'a Event, job: &'a str) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let Some(conn) = self.conn.as_mut() else {
                return Err(not_connected());
            };
            let subject = self.template.render(e, job);
            let id = if e.event_id.is_empty() {
                format!("{}@{}", e.stream_id, e.stream_version)
            } else {
                e.event_id.clone()
            };
            // A publish that cannot be chained waits until nothing is in flight: its stream is
            // not known, another publisher writes to its stream, or a publish whose stream is
            // being learned is in flight (the chain of that stream is not known until then).
            let route = self.routes.route(&subject);
            let chained = route.filter(|r| !self.routes.serial(*r));
            if chained.is_none() || conn.learning.is_some() {
                conn.drain(&mut self.routes).await;
            }
            let now = Instant::now();
            if conn.failed {
                // The job sees the earlier failure first (answers are taken in order) and
                // never this one.
                conn.window.push_answered(now, Answer::NotSent);
                return Ok(());
            }
            let mut h = async_nats::HeaderMap::new();
            match (route, chained) {
                (_, Some(r)) => {
                    if let Some(previous) = conn.chain_of(r).replace(id.clone()) {
                        h.insert(EXPECTED_LAST_MSG_ID, previous);
                    }
                }
                (Some(_), None) => {}
                (None, _) => {
                    conn.learning = Some(Learning {
                        n: conn.window.next(),
                        subject: subject.clone(),
                        id: id.clone(),
                    });
                }
            }
            h.insert(MSG_ID, id);
            h.insert(STREAM, e.stream_id.as_str());
            h.insert(VERSION, e.stream_version.to_string());
            if let Some(p) = e.global_position {
                h.insert(POSITION, p.to_string());
            }
            h.insert(TYPE, e.event_type.as_str());
            h.insert(JOB, job);
            h.insert(CONTENT_TYPE, "application/json");
            if self.payload.capacity() < PAYLOAD_BUFFER / 16 {
                self.payload.reserve(PAYLOAD_BUFFER);
            }
            serde_json::to_writer((&mut self.payload).writer(), e)
                .map_err(|err| SinkError::new(SinkErrorKind::Fatal, err.to_string()))?;
            let payload = self.payload.split().freeze();
            let n = conn.window.next();
            let mut reply = String::with_capacity(conn.inbox.len() + 20);
            reply.push_str(&conn.inbox);
            let _ = write!(reply, "{n}");
            let publish = conn
                .client
                .publish_with_reply_and_headers(subject, reply, h, payload);
            match tokio::time::timeout(ACK_TIMEOUT, publish).await {
                Ok(Ok(())) => {
                    conn.window.push(now);
                    Ok(())
                }
                Ok(Err(err)) => {
                    use async_nats::client::PublishErrorKind as K;
                    conn.failed = true;
                    conn.learning = None;
                    let subject = self.template.render(e, job);
                    Err(match err.kind() {
                        K::Send => broken(),
                        _ => SinkError::new(
                            SinkErrorKind::Rejected,
                            format!("{err} (subject {subject})"),
                        ),
                    })
                }
                Err(_) => {
                    conn.failed = true;
                    conn.learning = None;
                    Err(SinkError::new(
                        SinkErrorKind::Unavailable,
                        format!(
                            "the NATS client took no message for {}s",
                            ACK_TIMEOUT.as_secs()
                        ),
                    ))
                }
            }
        })
    }

    fn next_ack<'a>(
        &'a mut self,
        oldest: &'a Event,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Acked, SinkError>> {
        Box::pin(async move {
            loop {
                let Some(conn) = self.conn.as_mut() else {
                    return Err(not_connected());
                };
                if let Some(a) = conn.window.pop() {
                    return self.deliver(a, oldest, job);
                }
                if !conn.receive_ready(&mut self.routes) {
                    return Err(broken());
                }
                if let Some(a) = conn.window.pop() {
                    return self.deliver(a, oldest, job);
                }
                let Some(deadline) = conn.window.deadline(ACK_TIMEOUT) else {
                    return Err(SinkError::new(
                        SinkErrorKind::Fatal,
                        "NATS: an acknowledgement was asked for with nothing in flight",
                    ));
                };
                let now = Instant::now();
                if now >= deadline {
                    conn.failed = true;
                    let up = conn.connected();
                    let subject = self.template.render(oldest, job);
                    return Err(publish_error(
                        PublishError::new(PublishErrorKind::TimedOut),
                        &subject,
                        up,
                        &mut self.unanswered,
                    ));
                }
                if conn.timer.deadline() <= now || conn.timer.deadline() > deadline {
                    conn.timer.as_mut().reset(deadline);
                }
                tokio::select! {
                    biased;
                    m = conn.answers.next() => match m {
                        Some(m) => conn.record(m, &mut self.routes),
                        None => return Err(broken()),
                    },
                    _ = conn.timer.as_mut() => {}
                }
            }
        })
    }

    fn try_ack(&mut self, oldest: &Event, job: &str) -> Option<Result<Acked, SinkError>> {
        let Some(conn) = self.conn.as_mut() else {
            return Some(Err(not_connected()));
        };
        let a = match conn.window.pop() {
            Some(a) => a,
            None => {
                if !conn.receive_ready(&mut self.routes) {
                    return Some(Err(broken()));
                }
                conn.window.pop()?
            }
        };
        Some(self.deliver(a, oldest, job))
    }

    fn max_in_flight(&self) -> usize {
        ANSWERS
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
            let Some(c) = self.conn.as_ref().map(|c| &c.client) else {
                return Ok(());
            };
            if c.connection_state() != async_nats::connection::State::Connected {
                return Err(broken());
            }
            match tokio::time::timeout(ACK_TIMEOUT, c.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SinkError::new(
                    SinkErrorKind::Unavailable,
                    format!("flushing to NATS: {e}"),
                )),
                Err(_) => Err(broken()),
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

    #[test]
    fn plain_pub_acks_are_read_without_the_parser_and_the_rest_with_it() {
        assert_eq!(plain_ack(br#"{"stream":"PROF","seq":17}"#), Some(false));
        assert_eq!(
            plain_ack(br#"{"stream":"PROF","seq":17,"duplicate":true}"#),
            Some(true)
        );
        for other in [
            &br#"{"error":{"code":503,"err_code":10008,"description":"x"}}"#[..],
            br#"{"stream":"PROF","seq":17,"domain":"hub"}"#,
            br#"{"stream":"PROF","seq":17,"duplicate":false}"#,
            br#"{"stream":"PROF","seq":17,"batch":"b","count":2}"#,
            br#"{"stream":"","seq":17}"#,
            br#"{"stream":"a\"b","seq":17}"#,
            br#"{"stream":"PROF","seq":}"#,
            br#"{"stream":"PROF","seq":17"#,
            b"",
        ] {
            assert_eq!(plain_ack(other), None, "{}", String::from_utf8_lossy(other));
        }
        // What the fast path leaves goes to the parser, which reads it the same way.
        let full = |p: &[u8]| match serde_json::from_slice::<Reply>(p).unwrap() {
            Reply {
                stream: Some(_),
                seq: Some(_),
                duplicate,
                error: None,
            } => duplicate,
            _ => panic!(),
        };
        assert!(!full(br#"{"stream":"PROF","seq":17,"domain":"hub"}"#));
        assert!(!full(br#"{"stream":"PROF","seq":17,"duplicate":false}"#));
        assert!(full(br#"{"stream":"PROF","seq":17,"duplicate":true}"#));
    }

    #[test]
    fn a_stream_without_a_leader_is_unavailable_not_missing() {
        use async_nats::jetstream::context::{PublishError, PublishErrorKind as K};
        let mut unanswered = None;
        // "No responders": transient; the next connection asks whether a stream captures it.
        let e = publish_error(
            PublishError::new(K::StreamNotFound),
            "replay.a.T",
            true,
            &mut unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        assert_eq!(unanswered.as_deref(), Some("replay.a.T"));
        let e = publish_error(
            PublishError::new(K::TimedOut),
            "replay.a.T",
            true,
            &mut unanswered,
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
            &mut unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
        let e = publish_error(
            api(
                r#"{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}"#,
            ),
            "replay.a.T",
            true,
            &mut unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Rejected, "{e}");
        // Anything on a broken connection is transient.
        let e = publish_error(
            PublishError::new(K::Other),
            "replay.a.T",
            false,
            &mut unanswered,
        );
        assert_eq!(e.kind, SinkErrorKind::Unavailable, "{e}");
    }
}
