//! Controlled re-publication of a range of events to a sink (NATS JetStream, JSONL), as a job
//! that survives a crash: the range is fixed when the job is created, events go out in log
//! order (so each stream's in version order) at a chosen rate with a bound on events in
//! flight, and the last acknowledged event is checkpointed after each batch. Resuming starts
//! just after the checkpoint; the events re-sent after a crash carry the same `Nats-Msg-Id`,
//! so JetStream's duplicate window absorbs them.
//!
//! The TUI and the CLI drive the same [`run`]: a [`Control`] channel to pause, resume, cancel
//! or stop, and [`Progress`] reports back.

mod bus;
pub mod job;
pub mod range;
pub mod sink;

pub use bus::{BusCheck, check_bus};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use tokio::sync::{mpsc, watch};

use crate::store::{Event, Store};
use crate::task::AbortOnDrop;
use job::{Job, JobStore, Status};
use range::{Mark, Reader};
use sink::{Acked, Sink, SinkError, SinkErrorKind};

pub use job::Checkpoint;
pub use range::{Plan, Range, plan};
pub use sink::SinkSpec;

/// The default bound on events published and not yet acknowledged.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Save the checkpoint after this many acknowledgements, or after [`SAVE_INTERVAL`].
const SAVE_EVERY: u64 = 10_000;
const SAVE_INTERVAL: Duration = Duration::from_millis(250);
const REPORT_INTERVAL: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the operator wants of a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    Pause,
    /// Stop for good (status cancelled; not resumable).
    Cancel,
    /// Stop here, resumable (Ctrl-C, a signal, the TUI closing).
    Stop,
}

/// A report on a running job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub job: String,
    pub status: Status,
    pub done: u64,
    pub total: u64,
    pub duplicates: u64,
    /// Failed attempts (bus unavailable) so far in this run.
    pub errors: u64,
    /// Events acknowledged per second, over the last few seconds.
    pub rate: f64,
    pub eta_secs: Option<f64>,
    pub last: Option<String>,
}

enum Outcome {
    Done,
    Stopped(Control),
    Unavailable(String),
    Failed(String),
}

/// One event sent and not yet acknowledged: its page (shared, not copied) and its place in
/// it. The mark, id and description are derived only when needed. The runner keeps them in
/// send order, and the sink answers them in that order.
struct Sent {
    page: Arc<Vec<Event>>,
    i: usize,
}

impl Sent {
    fn event(&self) -> &Event {
        &self.page[self.i]
    }
}

/// Spaces sends at `rate` per second. Time lost (a pause, a slow bus, the process stopped by
/// SIGSTOP) is never caught up with a burst: a send that is late by more than a small slack
/// moves the schedule forward instead, so over any one-second window at most `rate` events go
/// out, plus the slack's worth (2 ms of sends, at least one) that absorbs timer lateness.
struct Pacer {
    rate: Option<f64>,
    /// When the next event may go.
    next: Instant,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            rate: rate.filter(|r| *r > 0.0),
            next: Instant::now(),
        }
    }

    fn reset(&mut self) {
        self.next = Instant::now();
    }

    /// When the next event may go, if not now.
    fn due(&mut self) -> Option<Instant> {
        self.rate?;
        self.due_at(Instant::now())
    }

    fn due_at(&mut self, now: Instant) -> Option<Instant> {
        let rate = self.rate?;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let slack = interval.max(Duration::from_millis(2));
        if let Some(earliest) = now.checked_sub(slack) {
            if self.next < earliest {
                self.next = earliest;
            }
        }
        let due = self.next;
        self.next += interval;
        (due > now).then_some(due)
    }
}

/// Acknowledgements per second over a sliding window.
struct Meter {
    samples: VecDeque<(Instant, u64)>,
}

impl Meter {
    fn rate(&mut self, done: u64) -> f64 {
        let now = Instant::now();
        self.samples.push_back((now, done));
        while self.samples.len() > 2
            && now.duration_since(self.samples[0].0) > Duration::from_secs(3)
        {
            self.samples.pop_front();
        }
        let (t0, d0) = self.samples[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.05 {
            return 0.0;
        }
        done.saturating_sub(d0) as f64 / dt
    }
}

/// A checkpoint being written: when, and whether it was.
type Saving = tokio::task::JoinHandle<(chrono::DateTime<Utc>, Result<(), String>)>;

struct Runner<'a> {
    store: &'a Store,
    jobs: &'a JobStore,
    job: &'a mut Job,
    sink: &'a mut dyn Sink,
    ctl: watch::Receiver<Control>,
    report: &'a mut (dyn FnMut(&Progress) + Send),
    /// Sent and not yet answered, oldest first.
    inflight: VecDeque<Sent>,
    /// The checkpoint being written off the runtime's threads, if one is.
    saving: Option<Saving>,
    pacer: Pacer,
    meter: Meter,
    since_save: u64,
    last_save: Instant,
    last_report: Instant,
    errors: u64,
    /// Consecutive failed attempts (reset by an acknowledgement).
    attempt: u32,
    /// The last acknowledged event, not yet written into the checkpoint's mark.
    last_acked: Option<Sent>,
}

/// Run (or resume) a job to its end, a stop, a cancel or a failure; returns the final status,
/// which is also saved and written to the audit log.
pub async fn run(
    store: &Store,
    jobs: &JobStore,
    job: &mut Job,
    sink: &mut dyn Sink,
    ctl: watch::Receiver<Control>,
    report: &mut (dyn FnMut(&Progress) + Send),
) -> Status {
    let resumed = job.status != Status::Created;
    let rate = job.rate;
    let mut r = Runner {
        store,
        jobs,
        job,
        sink,
        ctl,
        report,
        inflight: VecDeque::new(),
        saving: None,
        pacer: Pacer::new(rate),
        meter: Meter {
            samples: VecDeque::new(),
        },
        since_save: 0,
        last_save: Instant::now(),
        last_report: Instant::now(),
        errors: 0,
        attempt: 0,
        last_acked: None,
    };
    r.job.status = Status::Running;
    r.job.finished_at = None;
    let detail = resumed.then(|| {
        r.job
            .checkpoint
            .mark
            .as_ref()
            .map_or("from the start".into(), |m| {
                format!("after {}", m.describe())
            })
    });
    r.log(if resumed { "resumed" } else { "started" }, detail);
    r.save();
    r.progress(true);
    loop {
        let outcome = r.attempt_run().await;
        r.settle().await;
        r.inflight.clear();
        let status = match outcome {
            Outcome::Done => Status::Completed,
            Outcome::Stopped(Control::Cancel) => Status::Cancelled,
            Outcome::Stopped(_) => Status::Interrupted,
            Outcome::Failed(e) => Status::Failed { error: e },
            Outcome::Unavailable(e) => {
                r.errors += 1;
                r.attempt += 1;
                let first = r.attempt == 1;
                r.job.status = Status::Retrying {
                    attempt: r.attempt,
                    error: e.clone(),
                };
                if first {
                    r.log("retrying", Some(e));
                }
                r.save();
                r.progress(true);
                let backoff = Duration::from_millis(250)
                    .saturating_mul(1 << r.attempt.min(10))
                    .min(MAX_BACKOFF);
                match r.sleep(backoff).await {
                    Some(c) => match c {
                        Control::Cancel => Status::Cancelled,
                        _ => Status::Interrupted,
                    },
                    None => continue,
                }
            }
        };
        return r.finish(status);
    }
}

impl Runner<'_> {
    fn log(&mut self, event: &str, detail: Option<String>) {
        if let Err(e) = self.jobs.audit(self.job, event, detail) {
            tracing::warn!("replay audit log: {e}");
        }
    }

    fn take_acked(&mut self) {
        if let Some(sent) = self.last_acked.take() {
            let e = sent.event();
            self.job.checkpoint.mark = Some(Mark::of(&self.job.range, e));
            self.job.checkpoint.last_event_id = Some(e.event_id.clone());
        }
    }

    fn save(&mut self) {
        self.take_acked();
        if let Err(e) = self.jobs.save(self.job) {
            tracing::error!("{e}");
        }
    }

    /// Start writing the checkpoint off the runtime's threads, and go on publishing while it
    /// is written: the job file is fsynced, which can take milliseconds, and a runtime thread
    /// blocked that long starves the bus client's writer (its queued messages then leave in one
    /// burst, over the --rate), while a runner waiting for it leaves the pipeline empty. What
    /// is written is a copy of the job as it is now, so it names only acknowledged events
    /// (never ahead of the acks); the file may lag behind the job, never lead it. One write at
    /// a time, in order: the previous one is waited for first ([`Self::settle`]), and every
    /// write done in place (`save`) comes after a settle.
    async fn save_behind(&mut self) {
        self.settle().await;
        self.take_acked();
        let mut job = self.job.clone();
        let jobs = self.jobs.clone();
        self.saving = Some(tokio::task::spawn_blocking(move || {
            let r = jobs.save(&mut job).map_err(|e| e.to_string());
            (job.updated_at, r)
        }));
    }

    /// Wait for the checkpoint being written, if one is.
    async fn settle(&mut self) {
        let Some(h) = self.saving.take() else {
            return;
        };
        match h.await {
            Ok((at, r)) => {
                self.job.updated_at = at;
                if let Err(e) = r {
                    tracing::error!("{e}");
                }
            }
            Err(e) => tracing::error!("saving the job: {e}"),
        }
    }

    fn finish(&mut self, status: Status) -> Status {
        let (event, detail) = match &status {
            Status::Completed => ("completed", None),
            Status::Cancelled => ("cancelled", None),
            Status::Interrupted => ("interrupted", None),
            Status::Failed { error } => ("failed", Some(error.clone())),
            _ => ("stopped", None),
        };
        self.job.status = status.clone();
        if matches!(status, Status::Completed | Status::Cancelled) {
            self.job.finished_at = Some(Utc::now());
        }
        self.save();
        let detail = detail.or_else(|| {
            Some(format!(
                "{} of {} acknowledged, {} duplicates",
                self.job.checkpoint.done, self.job.total, self.job.checkpoint.duplicates
            ))
        });
        self.log(event, detail);
        self.progress(true);
        status
    }

    fn progress(&mut self, force: bool) {
        if !force && self.last_report.elapsed() < REPORT_INTERVAL {
            return;
        }
        self.last_report = Instant::now();
        let done = self.job.checkpoint.done;
        let rate = self.meter.rate(done);
        let left = self.job.total.saturating_sub(done);
        let p = Progress {
            job: self.job.id.clone(),
            status: self.job.status.clone(),
            done,
            total: self.job.total,
            duplicates: self.job.checkpoint.duplicates,
            errors: self.errors,
            rate,
            eta_secs: (rate > 0.0).then(|| left as f64 / rate),
            last: match &self.last_acked {
                Some(s) => Some(Mark::of(&self.job.range, s.event()).describe()),
                None => self.job.checkpoint.mark.as_ref().map(Mark::describe),
            },
        };
        (self.report)(&p);
    }

    /// The read waits for held positions: say so (the audit trail once per wait).
    async fn waiting(&mut self, w: &crate::store::head::Waiting) {
        self.settle().await;
        let first = !matches!(self.job.status, Status::Waiting { .. });
        self.job.status = Status::Waiting {
            position: w.position,
            detail: w.describe(),
        };
        if first {
            self.log("waiting", Some(w.describe()));
            self.save();
        }
        self.progress(true);
    }

    /// Sleep, unless the operator stops or cancels first (then that).
    async fn sleep(&mut self, d: Duration) -> Option<Control> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return None,
                r = self.ctl.changed() => {
                    let c = if r.is_err() { Control::Stop } else { *self.ctl.borrow_and_update() };
                    if matches!(c, Control::Cancel | Control::Stop) {
                        return Some(c);
                    }
                }
            }
        }
    }

    /// Persist the checkpoint: the sink first makes what it acknowledged durable.
    async fn checkpoint(&mut self) -> Result<(), Outcome> {
        self.sink.sync().await.map_err(classify)?;
        self.since_save = 0;
        self.last_save = Instant::now();
        self.save_behind().await;
        self.progress(false);
        Ok(())
    }

    fn applied(&mut self, sent: Sent, r: Result<Acked, SinkError>) -> Result<(), Outcome> {
        match r {
            Ok(a) => {
                let cp = &mut self.job.checkpoint;
                cp.done += 1;
                if a.duplicate {
                    cp.duplicates += 1;
                }
                if a.offset.is_some() {
                    cp.sink_offset = a.offset;
                }
                self.last_acked = Some(sent);
                self.since_save += 1;
                if self.attempt > 0 {
                    self.attempt = 0;
                    self.job.status = Status::Running;
                    self.log("running", Some("the sink answers again".into()));
                    self.progress(true);
                }
                Ok(())
            }
            Err(e) => Err(outcome_at(e, sent.event())),
        }
    }

    async fn after_acks(&mut self) -> Result<(), Outcome> {
        if self.since_save >= SAVE_EVERY
            || (self.since_save > 0 && self.last_save.elapsed() >= SAVE_INTERVAL)
        {
            self.checkpoint().await?;
            if self.jobs.cancel_requested(&self.job.id) {
                return Err(Outcome::Stopped(Control::Cancel));
            }
        } else {
            self.progress(false);
        }
        Ok(())
    }

    /// Take the answer of the oldest event in flight, waiting for it.
    async fn next_ack(&mut self) -> Result<(), Outcome> {
        let Some(oldest) = self.inflight.front() else {
            return Ok(());
        };
        let r = self.sink.next_ack(oldest.event(), &self.job.id).await;
        let sent = self.inflight.pop_front().expect("in flight");
        self.applied(sent, r)
    }

    /// Take the answers that have come, in order, without waiting; whether there were any.
    fn ready_acks(&mut self) -> Result<bool, Outcome> {
        let mut any = false;
        while let Some(oldest) = self.inflight.front() {
            let Some(r) = self.sink.try_ack(oldest.event(), &self.job.id) else {
                break;
            };
            let sent = self.inflight.pop_front().expect("in flight");
            self.applied(sent, r)?;
            any = true;
        }
        Ok(any)
    }

    /// Every event in flight answered, and the checkpoint written (durable once this returns).
    async fn drain(&mut self) -> Result<(), Outcome> {
        while !self.inflight.is_empty() {
            self.next_ack().await?;
        }
        self.checkpoint().await?;
        self.settle().await;
        Ok(())
    }

    /// Honour the control channel: pause here (everything in flight acknowledged and
    /// checkpointed first) until resumed; Err to stop.
    async fn control(&mut self) -> Result<(), Outcome> {
        let c = *self.ctl.borrow_and_update();
        if c == Control::Run {
            return Ok(());
        }
        self.drain().await?;
        if c != Control::Pause {
            return Err(Outcome::Stopped(c));
        }
        self.job.status = Status::Paused;
        self.save();
        self.log("paused", None);
        self.progress(true);
        loop {
            // While paused, a `replay cancel` from another process is looked for every second.
            tokio::select! {
                r = self.ctl.changed() => {
                    if r.is_err() {
                        return Err(Outcome::Stopped(Control::Stop));
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if self.jobs.cancel_requested(&self.job.id) {
                        return Err(Outcome::Stopped(Control::Cancel));
                    }
                    continue;
                }
            }
            match *self.ctl.borrow_and_update() {
                Control::Pause => {}
                Control::Run => break,
                other => return Err(Outcome::Stopped(other)),
            }
        }
        self.job.status = Status::Running;
        self.save();
        self.log("unpaused", None);
        self.pacer.reset();
        self.progress(true);
        Ok(())
    }

    async fn attempt_run(&mut self) -> Outcome {
        match self.attempt_inner().await {
            Ok(()) => Outcome::Done,
            Err(o) => o,
        }
    }

    async fn attempt_inner(&mut self) -> Result<(), Outcome> {
        self.control().await?;
        self.sink.connect().await.map_err(classify)?;
        let (tx, mut rx) = mpsc::channel(2);
        let waits = tx.clone();
        let reader = Reader::new(
            self.store.clone(),
            self.job.range.clone(),
            self.job.checkpoint.mark.clone(),
        )
        .map_err(|e| {
            Outcome::Failed(match e {
                crate::scan::ScanError::Filter(f) => f.to_string(),
                e => format!("reading the store: {e}"),
            })
        })?
        .with_max_wait(self.job.max_wait())
        .on_wait(move |w| {
            let _ = waits.try_send(Ahead::Waiting(w.clone()));
        });
        let task = tokio::spawn(read_ahead(reader, tx));
        let _abort = AbortOnDrop::new(task);
        self.pacer.reset();
        let max = self.job.max_in_flight.clamp(1, self.sink.max_in_flight());
        while let Some(item) = rx.recv().await {
            let page = match item {
                Ahead::Page(p) => p,
                Ahead::Waiting(w) => {
                    self.waiting(&w).await;
                    continue;
                }
                Ahead::Failed(e) => {
                    return Err(Outcome::Failed(format!("reading the store: {e}")));
                }
            };
            if matches!(self.job.status, Status::Waiting { .. }) {
                self.job.status = Status::Running;
                self.log("settled", Some("the held positions are settled".into()));
                self.progress(true);
            }
            let page = Arc::new(page);
            for (i, e) in page.iter().enumerate() {
                if self.ctl.has_changed().unwrap_or(true) {
                    self.control().await?;
                }
                if let Some(due) = self.pacer.due() {
                    self.sink.flush().await.map_err(classify)?;
                    if let Some(c) = self.sleep_until(due).await {
                        if c != Control::Run {
                            self.control().await?;
                        }
                    }
                }
                while self.inflight.len() >= max {
                    self.next_ack().await?;
                }
                if self.ready_acks()? {
                    self.after_acks().await?;
                }
                match self.sink.send(e, &self.job.id).await {
                    Ok(()) => {}
                    Err(err) => {
                        // What was sent before this event counts: its acknowledgements are
                        // taken (and checkpointed) before the job stops on this one.
                        let outcome = outcome_at(err, e);
                        self.drain().await?;
                        return Err(outcome);
                    }
                };
                self.inflight.push_back(Sent {
                    page: page.clone(),
                    i,
                });
            }
        }
        self.drain().await
    }

    /// Wait until `due`; a control change ends the wait early with the new value.
    async fn sleep_until(&mut self, due: Instant) -> Option<Control> {
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => None,
            r = self.ctl.changed() => Some(if r.is_err() { Control::Stop } else { *self.ctl.borrow() }),
        }
    }
}

fn classify(e: SinkError) -> Outcome {
    match e.kind {
        SinkErrorKind::Unavailable => Outcome::Unavailable(e.message),
        _ => Outcome::Failed(e.message),
    }
}

/// What a sink's failure on event `e` means for the job, naming the event.
fn outcome_at(e: SinkError, ev: &Event) -> Outcome {
    match e.kind {
        SinkErrorKind::Unavailable => Outcome::Unavailable(e.message),
        SinkErrorKind::Rejected => Outcome::Failed(format!(
            "the sink rejected event {}: {}",
            describe_event(ev),
            e.message
        )),
        SinkErrorKind::Fatal => {
            Outcome::Failed(format!("{} (at event {})", e.message, describe_event(ev)))
        }
    }
}

/// "id (stream@version, position p, Type)" for messages.
pub fn describe_event(e: &Event) -> String {
    e.describe()
}

/// What the read-ahead task hands the publisher.
enum Ahead {
    Page(Vec<Event>),
    /// The read waits for held positions (reported about once a second).
    Waiting(crate::store::head::Waiting),
    Failed(crate::scan::ScanError),
}

/// Read the range ahead of the publisher (two pages), so the store and the bus work at once.
async fn read_ahead(mut reader: Reader, tx: mpsc::Sender<Ahead>) {
    loop {
        match reader.next_page().await {
            Ok(Some(p)) => {
                if tx.send(Ahead::Page(p)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Ahead::Failed(e)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spaces_sends() {
        let mut p = Pacer::new(Some(100.0));
        // The first goes at once; the tenth is due ~90 ms after the start.
        assert!(p.due().is_none());
        for _ in 0..8 {
            p.due();
        }
        let due = p.due().expect("throttled");
        let wait = due.duration_since(Instant::now());
        assert!(
            wait > Duration::from_millis(70) && wait <= Duration::from_millis(90),
            "{wait:?}"
        );
        assert!(Pacer::new(None).due().is_none());
    }

    /// After a pause (or SIGSTOP) the sends do not catch up: at 1000/s, a 5 s stop is followed
    /// by at most 1000 + the slack in the next second, not 5,000 at once.
    #[test]
    fn the_pacer_does_not_burst_after_a_pause() {
        let mut p = Pacer::new(Some(1000.0));
        let t0 = Instant::now();
        let mut now = t0;
        for _ in 0..100 {
            if let Some(d) = p.due_at(now) {
                now = d;
            }
        }
        // Stopped for 5 s, then every due send goes the moment it is due.
        now += Duration::from_secs(5);
        let resumed = now;
        let mut sent_at = vec![];
        while now < resumed + Duration::from_secs(2) {
            if let Some(d) = p.due_at(now) {
                now = d;
            }
            sent_at.push(now);
        }
        for start in &sent_at {
            let in_window = sent_at
                .iter()
                .filter(|t| **t >= *start && **t < *start + Duration::from_secs(1))
                .count();
            assert!(in_window <= 1003, "{in_window} sends in one second");
        }
        let first_second = sent_at
            .iter()
            .filter(|t| **t < resumed + Duration::from_secs(1))
            .count();
        assert!(first_second >= 995, "{first_second}: the rate holds");
    }
}
