//! Replay jobs on disk: one JSON file per job (range, sink, status, checkpoint), replaced
//! atomically after each acknowledged batch; a lock file while a process runs it; and an
//! append-only audit log of who did what to which job. All in the user's data directory,
//! never in the event store. The directories are 0700 and every file 0600 (owner only): a
//! job file names a store and a bus (redacted URLs, and only where the bus's credentials come
//! from — never a password, token or seed).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::range::{Mark, Range};
use super::sink::SinkSpec;

/// Why a job file, its lock or the audit trail cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Reading or writing a file of the job store (`what` says which, and doing what).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0:?} is not a job id")]
    BadId(String),
    #[error("no replay job {0} (see `evscope replay jobs`)")]
    NotFound(String),
    #[error("job {id}: {} is damaged: {message}", path.display())]
    Damaged {
        id: String,
        path: PathBuf,
        message: String,
    },
    #[error("job {id} is running in process {pid}")]
    Running { id: String, pid: u32 },
    #[error("could not lock job {0}")]
    NotLocked(String),
    /// The checkpoint does not agree with what it records (see [`Job::verify_checkpoint`]).
    #[error("{0}")]
    Checkpoint(String),
    /// The job's sink could not be opened (the job is then recorded failed).
    #[error("{}", .0.message)]
    Sink(super::sink::SinkError),
    /// A line of the audit log is not an entry.
    #[error("audit log line {line}: {message}")]
    AuditDamaged { line: usize, message: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> JobError {
    let what = what.into();
    move |source| JobError::Io { what, source }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Planned, not started.
    Created,
    Running,
    Paused,
    /// Positions of the range are still held by open transactions (or its explicit end is
    /// beyond the head): nothing past them is sent until they settle or `max_wait` passes.
    Waiting {
        position: i64,
        detail: String,
    },
    /// The bus is unavailable; the job retries with backoff.
    Retrying {
        attempt: u32,
        error: String,
    },
    /// Stopped by Ctrl-C or a signal (or its process died): resumable.
    Interrupted,
    Cancelled,
    Failed {
        error: String,
    },
    Completed,
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Waiting { .. } => "waiting",
            Status::Retrying { .. } => "retrying",
            Status::Interrupted => "interrupted",
            Status::Cancelled => "cancelled",
            Status::Failed { .. } => "failed",
            Status::Completed => "completed",
        }
    }

    /// Whether `replay resume` may continue it.
    pub fn resumable(&self) -> bool {
        !matches!(self, Status::Cancelled | Status::Completed)
    }
}

/// The last event the sink acknowledged, and the counts up to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub mark: Option<Mark>,
    /// Events acknowledged (the job's progress).
    pub done: u64,
    /// Of those, how many the bus reported as duplicates (re-sends it had already).
    pub duplicates: u64,
    /// The sink's own resume point (a JSONL file's length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink_offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// user@host of whoever created it.
    pub created_by: String,
    /// The store's URL, password redacted.
    pub store: String,
    pub layout: String,
    pub range: Range,
    pub sink: SinkSpec,
    /// Events per second; None is as fast as the sink acknowledges.
    pub rate: Option<f64>,
    pub max_in_flight: usize,
    /// How long to wait for held positions before failing (None: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_secs: Option<f64>,
    /// Events in the range, from the plan.
    pub total: u64,
    pub status: Status,
    pub checkpoint: Checkpoint,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The sink could not be opened when the job was created (it failed then): nothing was
    /// written to it, so a resume opens it as a new job's (a file with content is refused, not
    /// cut back to the checkpoint's empty length). See [`Job::open_sink`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sink_never_opened: bool,
}

impl Job {
    /// A new job on `store` (its URL kept redacted), not yet saved.
    pub fn new(
        store: &crate::store::Store,
        range: Range,
        sink: SinkSpec,
        rate: Option<f64>,
        max_in_flight: usize,
        total: u64,
    ) -> Job {
        let now = Utc::now();
        Job {
            id: new_id(now),
            created_at: now,
            created_by: whoami(),
            store: crate::redact::redact_url(store.url()),
            layout: store.layout().name.clone(),
            range,
            sink,
            rate,
            max_in_flight,
            max_wait_secs: None,
            total,
            status: Status::Created,
            checkpoint: Checkpoint::default(),
            updated_at: now,
            finished_at: None,
            sink_never_opened: false,
        }
    }

    /// Open the sink to resume the job: from its checkpoint (a file's recorded length; 0 before
    /// the first checkpoint, so what was written and not acknowledged is cut), or as new if the
    /// job failed before its sink was ever opened.
    pub fn open_sink(&mut self) -> Result<Box<dyn super::sink::Sink>, super::sink::SinkError> {
        let at = (!self.sink_never_opened).then(|| self.checkpoint.sink_offset.unwrap_or(0));
        let sink = self.sink.open(at)?;
        self.sink_never_opened = false;
        Ok(sink)
    }
}

impl Job {
    /// Cross-check the checkpoint against what it records, before a resume trusts it: the
    /// event at its mark must be the one it names (`last_event_id`), and a JSONL file must end,
    /// at the recorded length, with a whole line holding that event. A job file edited by hand
    /// (the mark moved back or forward, an offset in the middle of a line) or a store that
    /// changed under the job is refused, naming what differs — a resume would otherwise
    /// re-send or skip events while reporting success.
    pub async fn verify_checkpoint(&self, store: &crate::store::Store) -> Result<(), JobError> {
        self.check_checkpoint(store)
            .await
            .map_err(JobError::Checkpoint)
    }

    async fn check_checkpoint(&self, store: &crate::store::Store) -> Result<(), String> {
        use crate::store::{Cursor, Direction, LogQuery, Start, StreamRead};
        let cp = &self.checkpoint;
        let Some(mark) = &cp.mark else {
            if cp.done > 0 {
                return Err(format!(
                    "job {}'s checkpoint counts {} events sent but names none",
                    self.id, cp.done
                ));
            }
            return Ok(());
        };
        let Some(want) = &cp.last_event_id else {
            return Err(format!(
                "job {}'s checkpoint is at {} but does not name the event there (last_event_id)",
                self.id,
                mark.describe()
            ));
        };
        let found = match (mark, &self.range.stream) {
            (Mark::Version { version }, Some(stream)) => store
                .read_stream(
                    stream,
                    &StreamRead {
                        from_version: Some(*version),
                        to_version: Some(*version),
                        direction: Direction::Forward,
                        limit: 1,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?,
            (Mark::Position { position }, None) => store
                .read_log(&LogQuery {
                    start: Start::At(Cursor::Position(*position)),
                    direction: Direction::Forward,
                    limit: 1,
                    up_to: Some(*position),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?,
            (
                Mark::Ordered {
                    at,
                    stream,
                    version,
                },
                None,
            ) => store
                .read_log(&LogQuery {
                    start: Start::At(Cursor::Ordered {
                        at: *at,
                        stream: stream.clone(),
                        version: *version,
                    }),
                    direction: Direction::Forward,
                    limit: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|e| &e.stream_id == stream && e.stream_version == *version)
                .collect(),
            _ => {
                return Err(format!(
                    "job {}'s checkpoint ({}) does not fit its range ({})",
                    self.id,
                    mark.describe(),
                    self.range.describe()
                ));
            }
        };
        match found.first() {
            None => {
                return Err(format!(
                    "job {}'s checkpoint is at {}, where the store has no event (it should be {want}): the job file was edited or the store changed; not resuming",
                    self.id,
                    mark.describe()
                ));
            }
            Some(e) if &e.event_id != want => {
                return Err(format!(
                    "job {}'s checkpoint is at {}, which holds event {} in the store, but the checkpoint names {want}: the job file was edited or the store changed; not resuming",
                    self.id,
                    mark.describe(),
                    e.event_id
                ));
            }
            Some(_) => {}
        }
        if let SinkSpec::Jsonl { path: Some(path) } = &self.sink {
            let offset = cp.sink_offset.ok_or_else(|| {
                format!(
                    "job {}'s checkpoint has sent events to {} but records no file length",
                    self.id,
                    path.display()
                )
            })?;
            check_jsonl_tail(path, offset, want).map_err(|why| {
                format!(
                    "job {}'s checkpoint does not agree with {}: {why}; not resuming",
                    self.id,
                    path.display()
                )
            })?;
        }
        Ok(())
    }

    /// How long the job waits for held positions before it fails.
    pub fn max_wait(&self) -> std::time::Duration {
        self.max_wait_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(
                super::range::DEFAULT_MAX_WAIT,
                std::time::Duration::from_secs_f64,
            )
    }
}

/// The JSONL file must be at least `offset` bytes long, and its bytes up to `offset` must end
/// with a whole line that is the event `event_id`.
fn check_jsonl_tail(path: &Path, offset: u64, event_id: &str) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len < offset {
        return Err(format!(
            "the checkpoint records {offset} bytes written, the file has {len}"
        ));
    }
    if offset == 0 {
        return Err("the checkpoint records events sent but 0 bytes written".into());
    }
    // The last line before the offset (events are at most a few MB; read back up to 64 MB).
    let back = offset.min(64 << 20);
    f.seek(SeekFrom::Start(offset - back))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0; back as usize];
    f.read_exact(&mut buf).map_err(|e| e.to_string())?;
    if buf.last() != Some(&b'\n') {
        return Err(format!(
            "byte {offset} is not at the end of a line (the recorded length cuts a line)"
        ));
    }
    let body = &buf[..buf.len() - 1];
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if start == 0 && back < offset {
        return Err("the last line before the recorded length is longer than 64 MB".into());
    }
    let line = &body[start..];
    let v: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| format!("the line that ends at byte {offset} is not an event ({e})"))?;
    match v.get("event_id").and_then(|i| i.as_str()) {
        Some(id) if id == event_id => Ok(()),
        Some(id) => Err(format!(
            "the line that ends at byte {offset} is event {id}, the checkpoint names {event_id}"
        )),
        None => Err(format!(
            "the line that ends at byte {offset} has no event_id"
        )),
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub job: String,
    /// created, started, resumed, paused, waiting, settled, retrying, running, interrupted,
    /// cancelled, failed, completed
    pub event: String,
    pub by: String,
    pub pid: u32,
    pub done: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// user@host for the audit trail.
pub fn whoami() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// A new job id: the creation time and a random suffix, e.g. `r20261123-142501-3fa9`.
pub fn new_id(now: DateTime<Utc>) -> String {
    format!("r{}-{:04x}", now.format("%Y%m%d-%H%M%S"), fastrand::u16(..))
}

#[derive(Debug, Clone)]
pub struct JobStore {
    dir: PathBuf,
}

/// Held while a process runs a job; removed on drop.
#[derive(Debug)]
pub struct JobLock {
    path: PathBuf,
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if !proc.exists() {
        // Without /proc there is no cheap check: assume alive, so a lock is never stolen.
        return true;
    }
    // A zombie (killed, not yet reaped) holds no lock.
    match fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Create `dir` (and its parents) if missing; `dir` itself is made 0700.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // One made by an older version, or before the umask was tightened.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    fs::create_dir_all(dir)
}

/// Open (creating it 0600 if missing) a file of the job store; one that exists is made 0600
/// too (files written by older versions were 0644).
fn private_file(path: &Path, how: &mut OpenOptions) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let f = how.mode(0o600).open(path)?;
        if f.metadata()?.permissions().mode() & 0o077 != 0 {
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(f)
    }
    #[cfg(not(unix))]
    how.open(path)
}

impl JobStore {
    /// `<data dir>/replay`.
    pub fn default_dir() -> PathBuf {
        crate::config::data_dir().join("replay")
    }

    pub fn open(dir: PathBuf) -> Result<JobStore, JobError> {
        private_dir(&dir)
            .and_then(|()| private_dir(&dir.join("jobs")))
            .map_err(io(format!("replay jobs {}", dir.display())))?;
        Ok(JobStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.json"))
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.lock"))
    }

    fn cancel_path(&self, id: &str) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.cancel"))
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }

    fn check_id(id: &str) -> Result<(), JobError> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(JobError::BadId(id.to_string()));
        }
        Ok(())
    }

    /// Write the job file atomically: a temporary file, fsync, rename, fsync of the directory.
    pub fn save(&self, job: &mut Job) -> Result<(), JobError> {
        job.updated_at = Utc::now();
        let path = self.path(&job.id);
        let tmp = path.with_extension("json.tmp");
        let what = format!("saving job {}", job.id);
        let err = |e: std::io::Error| JobError::Io {
            what: what.clone(),
            source: e,
        };
        let mut f = private_file(
            &tmp,
            OpenOptions::new().write(true).create(true).truncate(true),
        )
        .map_err(err)?;
        let text = serde_json::to_vec_pretty(job).map_err(|e| err(e.into()))?;
        f.write_all(&text).map_err(err)?;
        f.write_all(b"\n").map_err(err)?;
        f.sync_all().map_err(err)?;
        fs::rename(&tmp, &path).map_err(err)?;
        if let Ok(d) = File::open(self.dir.join("jobs")) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    pub fn load(&self, id: &str) -> Result<Job, JobError> {
        Self::check_id(id)?;
        let path = self.path(id);
        let text = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => JobError::NotFound(id.to_string()),
            _ => JobError::Io {
                what: format!("job {id}"),
                source: e,
            },
        })?;
        serde_json::from_slice(&text).map_err(|e| JobError::Damaged {
            id: id.to_string(),
            path,
            message: e.to_string(),
        })
    }

    /// Every job, newest first. Damaged files are reported, not skipped silently.
    pub fn list(&self) -> Result<Vec<Result<Job, JobError>>, JobError> {
        let mut out = Vec::new();
        let dir = self.dir.join("jobs");
        let rd = fs::read_dir(&dir).map_err(io(format!("replay jobs {}", dir.display())))?;
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(".json") {
                out.push(self.load(id));
            }
        }
        out.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)),
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(a), Err(b)) => a.to_string().cmp(&b.to_string()),
        });
        Ok(out)
    }

    /// The process holding the job, if one is alive.
    pub fn holder(&self, id: &str) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.lock_path(id))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        pid_alive(pid).then_some(pid)
    }

    /// Take the job for this process. A lock left by a dead process (kill -9) is taken over.
    pub fn lock(&self, id: &str) -> Result<JobLock, JobError> {
        Self::check_id(id)?;
        let path = self.lock_path(id);
        for _ in 0..2 {
            match private_file(&path, OpenOptions::new().write(true).create_new(true)) {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).map_err(io(format!("locking job {id}")))?;
                    let _ = fs::remove_file(self.cancel_path(id));
                    return Ok(JobLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Some(pid) = self.holder(id) {
                        return Err(JobError::Running {
                            id: id.to_string(),
                            pid,
                        });
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(io(format!("locking job {id}"))(e)),
            }
        }
        Err(JobError::NotLocked(id.to_string()))
    }

    /// Start a new job: save it, take its lock, write `created` (with `via`, e.g. "from the
    /// TUI") to the audit log, then open its sink (a file sink refuses a file with content).
    /// The sink and the lock are the caller's to run the job with. A sink that cannot be opened
    /// fails the job: it stays listed (`replay jobs`), failed with the reason, which is also
    /// the error returned.
    pub fn create(
        &self,
        job: &mut Job,
        via: Option<&str>,
    ) -> Result<(Box<dyn super::sink::Sink>, JobLock), JobError> {
        self.save(job)?;
        let lock = self.lock(&job.id)?;
        let via = via.map_or(String::new(), |v| format!(", {v}"));
        self.audit(
            job,
            "created",
            Some(format!(
                "{} → {} ({} events{via})",
                job.range.describe(),
                job.sink.describe(),
                job.total
            )),
        )?;
        match job.sink.open(None) {
            Ok(sink) => Ok((sink, lock)),
            Err(e) => {
                job.status = Status::Failed {
                    error: e.message.clone(),
                };
                job.sink_never_opened = true;
                self.save(job)?;
                self.audit(job, "failed", Some(e.message.clone()))?;
                Err(JobError::Sink(e))
            }
        }
    }

    /// Ask the process running a job to cancel it (it checks at each checkpoint).
    pub fn request_cancel(&self, id: &str) -> Result<(), JobError> {
        Self::check_id(id)?;
        private_file(
            &self.cancel_path(id),
            OpenOptions::new().write(true).create(true).truncate(true),
        )
        .map(|_| ())
        .map_err(io(format!("cancelling job {id}")))
    }

    pub fn cancel_requested(&self, id: &str) -> bool {
        self.cancel_path(id).exists()
    }

    pub fn audit(&self, job: &Job, event: &str, detail: Option<String>) -> Result<(), JobError> {
        self.record(&AuditEntry {
            at: Utc::now(),
            job: job.id.clone(),
            event: event.to_string(),
            by: whoami(),
            pid: std::process::id(),
            done: job.checkpoint.done,
            total: job.total,
            detail,
        })
    }

    /// Append one entry to the audit log (a job's event, or a plan that is not a job, such as
    /// a consumer rewind printed by `consumers rewind`).
    pub fn record(&self, entry: &AuditEntry) -> Result<(), JobError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| io("audit log")(e.into()))?;
        line.push(b'\n');
        let mut f = private_file(
            &self.audit_path(),
            OpenOptions::new().create(true).append(true),
        )
        .map_err(io("audit log"))?;
        // One write of one line: appends from several processes do not interleave.
        f.write_all(&line).map_err(io("audit log"))?;
        f.sync_data().map_err(io("audit log"))
    }

    /// The audit entries, of one job or all.
    pub fn history(&self, id: Option<&str>) -> Result<Vec<AuditEntry>, JobError> {
        let text = match fs::read_to_string(self.audit_path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io("audit log")(e)),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: AuditEntry = serde_json::from_str(line).map_err(|e| JobError::AuditDamaged {
                line: i + 1,
                message: e.to_string(),
            })?;
            if id.is_none_or(|id| e.job == id) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Job {
        let now = Utc::now();
        Job {
            id: id.into(),
            created_at: now,
            created_by: whoami(),
            store: "sqlite:x".into(),
            layout: "native".into(),
            range: Range::default(),
            sink: SinkSpec::Jsonl { path: None },
            rate: None,
            max_in_flight: 10,
            max_wait_secs: None,
            total: 5,
            status: Status::Created,
            checkpoint: Checkpoint::default(),
            updated_at: now,
            finished_at: None,
            sink_never_opened: false,
        }
    }

    #[test]
    fn jobs_round_trip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path().to_path_buf()).unwrap();
        let mut j = job("r1");
        j.checkpoint.mark = Some(Mark::Position { position: 42 });
        store.save(&mut j).unwrap();
        assert_eq!(store.load("r1").unwrap(), j);
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(store.load("../etc/passwd").is_err());
        assert!(matches!(store.load("nope"), Err(JobError::NotFound(_))));

        let lock = store.lock("r1").unwrap();
        assert!(matches!(store.lock("r1"), Err(JobError::Running { .. })));
        drop(lock);
        // A lock left by a dead process is taken over.
        fs::write(store.lock_path("r1"), "999999999").unwrap();
        let _lock = store.lock("r1").unwrap();

        store.audit(&j, "created", Some("x".into())).unwrap();
        store.audit(&job("r2"), "created", None).unwrap();
        assert_eq!(store.history(Some("r1")).unwrap().len(), 1);
        assert_eq!(store.history(None).unwrap().len(), 2);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.path("r1")), 0o600);
            assert_eq!(mode(&store.audit_path()), 0o600);
            assert_eq!(mode(dir.path()), 0o700);
            assert_eq!(mode(&dir.path().join("jobs")), 0o700);
            // Files an older version left 0644 are made 0600 when next written.
            fs::set_permissions(store.audit_path(), fs::Permissions::from_mode(0o644)).unwrap();
            store.audit(&j, "resumed", None).unwrap();
            assert_eq!(mode(&store.audit_path()), 0o600);
        }
    }

    #[test]
    fn a_job_file_keeps_no_nats_secret_and_old_ones_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path().to_path_buf()).unwrap();
        let mut j = job("r3");
        j.sink = SinkSpec::parse("nats://alice:s3cret@127.0.0.1:4222", None).unwrap();
        store.save(&mut j).unwrap();
        let text = fs::read_to_string(store.path("r3")).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("nats://alice:***@127.0.0.1:4222"), "{text}");
        let SinkSpec::Nats { url, .. } = store.load("r3").unwrap().sink else {
            panic!("a nats sink")
        };
        assert_eq!(url.missing(), Some("password"));
        // A job file written before URLs were redacted loads with its URL as it was.
        let old = text.replace("alice:***@", "alice:s3cret@");
        fs::write(store.path("r3"), old).unwrap();
        let SinkSpec::Nats { url, .. } = store.load("r3").unwrap().sink else {
            panic!("a nats sink")
        };
        assert_eq!(url.missing(), None);
    }
}
