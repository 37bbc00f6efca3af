//! `evscope replay`: plan, start, resume, cancel and list re-publication jobs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;
use tokio::sync::watch;

use super::{CliError, FilterArgs, FormatArg, check_where, merge_filter, open};
use crate::redact::redact_url;
use crate::replay::job::{self, Job, JobStore, Status};
use crate::replay::range::PlanProgress;
use crate::replay::sink::{self, NatsAuth, SinkChoice};
use crate::replay::{self, Control, Plan, Progress, Range, SinkSpec};
use crate::store::Store;

pub const ABOUT: &str = "Re-publish a range of events to a message bus (NATS JetStream) or a JSONL file, as a resumable, audited job";

pub const HELP: &str = "\
The range is fixed when the job is created (events appended later are not in it). Events go out
in global-log order, so each stream's in version order. Every job has an id; its checkpoint (the
last event the sink acknowledged) is saved after each batch in <data dir>/replay, with an audit
log (audit.jsonl) of who started, paused, resumed or cancelled what.

NATS credentials: in the URL (nats://USER:PASSWORD@HOST, nats://TOKEN@HOST), --nats-creds,
--nats-nkey, --nats-token-file, $EVSCOPE_NATS_TOKEN, --nats-user with $EVSCOPE_NATS_PASSWORD, a
--sink-profile or a --sink-context. The job file keeps the URL redacted and only where the
credentials come from (files, context, variable names); `replay resume` reads them there again,
and asks for a URL's password (--sink URL or $EVSCOPE_NATS_PASSWORD).

Exit code: 0 done (or a dry run), 1 failed, 2 usage (also: neither --yes nor --dry-run),
130 stopped by Ctrl-C or cancelled (the checkpoint is written; `replay resume ID` continues).

Examples:
  evscope replay --category account --sink nats://127.0.0.1:4222 --dry-run
  evscope replay --from-position 1000 --to-position 2000 --sink nats://127.0.0.1:4222 \\
      --subject 'rebuild.{category}.{type}' --rate 500 --yes
  evscope replay --stream account-0042 --from-version 10 --sink jsonl:/tmp/a42.jsonl --yes
  evscope replay --sink tls://nats.prod:4222 --nats-creds ~/.nkeys/replay.creds \\
      --nats-tls-ca /etc/ssl/nats-ca.pem --category account --yes
  evscope replay --sink-context prod --category account --yes     # a `nats` CLI context
  evscope replay --sink-profile bus --category account --yes       # [sinks.bus] of the config
  evscope replay jobs
  evscope replay resume r20261123-101500-3fa9
  evscope replay cancel r20261123-101500-3fa9";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub action: Option<ReplayAction>,
    #[command(flatten)]
    pub start: StartArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReplayAction {
    /// List replay jobs, newest first
    Jobs {
        #[arg(long, value_enum, default_value_t)]
        format: FormatArg,
    },
    /// One job in full, with its audit trail
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: FormatArg,
    },
    /// Continue a job just after its last acknowledged event
    Resume {
        id: String,
        /// The job's NATS URL with its password (or token), which the job file does not keep
        /// (else $EVSCOPE_NATS_PASSWORD, or $EVSCOPE_NATS_TOKEN for a token)
        #[arg(long, value_name = "URL")]
        sink: Option<String>,
        #[command(flatten)]
        control: RunArgs,
    },
    /// Cancel a job (a running one stops at its next checkpoint)
    Cancel {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: FormatArg,
    },
}

#[derive(Debug, Args, Default, Clone)]
pub struct RunArgs {
    /// At most this many events per second (default: as fast as the sink acknowledges)
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// At most this many events published and not yet acknowledged
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_in_flight: Option<u64>,
    /// Fail when positions of the range stay held by open transactions (or its end stays
    /// beyond the head) this long: 90, 90s, 5m, 1h (default 5m)
    #[arg(long, value_name = "DURATION", value_parser = crate::timeparse::parse_duration)]
    pub max_wait: Option<Duration>,
    /// No progress on stderr
    #[arg(long)]
    pub quiet: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

/// A range of the log as the replay and the seal take it (one set of flags, one reading).
#[derive(Debug, Args, Default)]
pub struct RangeArgs {
    /// From this global position (included)
    #[arg(long, value_name = "POSITION")]
    pub from_position: Option<i64>,
    /// To this global position (included; default: the head when the command starts)
    #[arg(long, value_name = "POSITION")]
    pub to_position: Option<i64>,
    /// Only this stream (with --from-version/--to-version)
    #[arg(long)]
    pub stream: Option<String>,
    /// From this version of --stream (included)
    #[arg(long, value_name = "VERSION", requires = "stream")]
    pub from_version: Option<i64>,
    /// To this version of --stream (included; default: its last when the command starts)
    #[arg(long, value_name = "VERSION", requires = "stream")]
    pub to_version: Option<i64>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The TUI's filter language, e.g. 'type:Deposited | select(.data.amount > 100)'
    #[arg(long = "where", value_name = "FILTER", value_parser = check_where)]
    pub where_: Option<String>,
}

impl RangeArgs {
    /// The range these flags name (`stream:` in --where is one stream, not a pattern).
    pub fn range(&self) -> Result<Range, CliError> {
        let (filter, jq) = merge_filter(&self.filter, self.where_.as_deref())?;
        let stream = match (&self.stream, &filter.stream) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(s)) if !s.contains('*') => Some(s.clone()),
            (None, Some(s)) => {
                return Err(CliError::Usage(format!(
                    "stream:{s} in --where: use --stream-prefix or --category for several streams"
                )));
            }
            (None, None) => None,
        };
        Ok(Range {
            from_position: self.from_position,
            to_position: self.to_position,
            stream,
            from_version: self.from_version,
            to_version: self.to_version,
            category: filter.category,
            stream_prefix: filter.stream_prefix,
            types: filter.types,
            since: filter.since,
            until: filter.until,
            jq: jq.map(|j| j.source().to_string()),
        })
    }
}

#[derive(Debug, Args, Default)]
pub struct StartArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// nats://HOST:PORT (tls:// for TLS; a list nats://A:4222,B:4222), jsonl:PATH or jsonl:-
    /// (standard output)
    #[arg(long)]
    pub sink: Option<String>,
    /// NATS subject template: {category} {type} {stream} {version} {position} {job}
    #[arg(long, value_name = "TEMPLATE")]
    pub subject: Option<String>,
    /// The range a consumer has not processed: (its checkpoint, the settled head], what it
    /// follows (see `evscope consumers`)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["from_position", "to_position", "stream", "from_version", "to_version"])]
    pub for_consumer: Option<String>,
    /// Plan only: count, histograms, first and last event, estimated duration
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// Publish without asking (headless runs need it)
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub run: RunArgs,
    // Last: its help heading would take the flags after it.
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// Where the NATS sink's servers, credentials and TLS files come from. The job file keeps
/// these references (paths made absolute, the context's name, variable names), never what
/// they hold.
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "NATS sink")]
pub struct NatsArgs {
    /// A `nats` CLI context ($XDG_CONFIG_HOME/nats/context/NAME.json, else ~/.config/...):
    /// its servers (when --sink is not given), credentials and TLS files
    #[arg(long, value_name = "NAME")]
    pub sink_context: Option<String>,
    /// A [sinks.NAME] table of the config file (url, subject, creds, tls_ca, ...); flags given
    /// beside it win
    #[arg(long, value_name = "NAME")]
    pub sink_profile: Option<String>,
    /// A .creds file (a user JWT and its NKey seed)
    #[arg(long, value_name = "FILE", group = "nats_credential")]
    pub nats_creds: Option<PathBuf>,
    /// A file holding an NKey seed (SU..., as `nk -gen user` writes it)
    #[arg(long, value_name = "FILE", group = "nats_credential")]
    pub nats_nkey: Option<PathBuf>,
    /// A file holding a token (without any credential named: $EVSCOPE_NATS_TOKEN)
    #[arg(long, value_name = "FILE", group = "nats_credential")]
    pub nats_token_file: Option<PathBuf>,
    /// A user name; its password is read from $EVSCOPE_NATS_PASSWORD
    #[arg(long, value_name = "NAME", group = "nats_credential")]
    pub nats_user: Option<String>,
    /// CA certificates (PEM) to verify the servers with, instead of the system's (TLS is then
    /// required)
    #[arg(long, value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for servers that verify clients, with --nats-tls-key
    #[arg(long, value_name = "FILE", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,
}

/// A path as the job file keeps it: absolute, so that a resume from another directory finds
/// the same file.
fn absolute(p: &Option<PathBuf>) -> Option<PathBuf> {
    p.as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
}

/// The sink the flags (and the sink profile they name) describe.
fn sink_of(cli: &super::Cli, a: &StartArgs) -> Result<SinkSpec, CliError> {
    let n = &a.nats;
    let profile = match &n.sink_profile {
        Some(name) => {
            let config = crate::config::Config::load(cli.config.as_deref())?;
            let p = config.sink(name)?.clone();
            Some((name.clone(), p.with_absolute_paths()))
        }
        None => None,
    };
    SinkChoice {
        sink: a.sink.clone(),
        subject: a.subject.clone(),
        profile,
        auth: NatsAuth {
            context: n.sink_context.clone(),
            creds: absolute(&n.nats_creds),
            nkey: absolute(&n.nats_nkey),
            token_file: absolute(&n.nats_token_file),
            user: n.nats_user.clone(),
            tls_ca: absolute(&n.nats_tls_ca),
            tls_cert: absolute(&n.nats_tls_cert),
            tls_key: absolute(&n.nats_tls_key),
            ..NatsAuth::default()
        },
    }
    .resolve()
    .map_err(|e| CliError::Failed(e.into()))
}

fn check_rate(rate: Option<f64>) -> Result<(), CliError> {
    match rate {
        Some(r) if !(r > 0.0 && r.is_finite()) => {
            Err(CliError::Usage("--rate must be a positive number".into()))
        }
        _ => Ok(()),
    }
}

fn jobs_store() -> Result<JobStore, CliError> {
    Ok(JobStore::open(JobStore::default_dir())?)
}

pub async fn replay(cli: &super::Cli, a: &ReplayArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    match &a.action {
        None => start(cli, &a.start, out).await,
        Some(ReplayAction::Jobs { format }) => list(out, *format).map(|()| 0),
        Some(ReplayAction::Show { id, format }) => show(out, id, *format).map(|()| 0),
        Some(ReplayAction::Resume { id, sink, control }) => {
            resume(cli, id, sink.as_deref(), control, out).await
        }
        Some(ReplayAction::Cancel { id, format }) => cancel(id, *format, out).await,
    }
}

/// The range the flags describe.
#[derive(Serialize)]
struct PlanOut<'a> {
    range: &'a Range,
    range_text: String,
    sink: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bus: Option<&'a replay::BusCheck>,
    rate: Option<f64>,
    max_in_flight: usize,
    estimated_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer: Option<&'a super::consumers::ForConsumer>,
    #[serde(flatten)]
    plan: &'a Plan,
}

fn write_plan(out: &mut dyn Write, p: &PlanOut, format: FormatArg) -> std::io::Result<()> {
    if format != FormatArg::Table {
        return crate::output::write_doc(out, p, super::fmt(format));
    }
    // Stream ids, types and categories come from the store: cut, and control characters
    // (escape sequences) never reach the terminal.
    let clip = crate::output::clip;
    let fmt_ref = |e: &Option<replay::range::EventRef>| {
        e.as_ref()
            .map_or("-".to_string(), |e| clip(&e.describe(), 300))
    };
    writeln!(out, "replay plan")?;
    writeln!(out, "  range      {}", clip(&p.range_text, 500))?;
    writeln!(out, "  sink       {}", p.sink)?;
    if let Some(c) = p.consumer {
        writeln!(out, "  consumer   {}", clip(&c.describe(), 300))?;
    }
    if let Some(b) = p.bus {
        match b.describe() {
            Ok(text) => writeln!(out, "  bus        {text}")?,
            Err(problem) => writeln!(out, "  bus        PROBLEM: {problem}")?,
        }
    }
    match (p.plan.settled_through, p.plan.head) {
        (Some(s), Some(h)) => writeln!(
            out,
            "  settled    through position {s} (every position up to it committed or gone for good; head at {h})"
        )?,
        (Some(s), None) => writeln!(out, "  settled    through position {s}")?,
        _ => {}
    }
    writeln!(out, "  events     {}", p.plan.total)?;
    writeln!(out, "  first      {}", fmt_ref(&p.plan.first))?;
    writeln!(out, "  last       {}", fmt_ref(&p.plan.last))?;
    match (p.rate, p.estimated_secs) {
        (Some(r), Some(s)) => writeln!(
            out,
            "  rate       {r}/s, about {}",
            crate::output::human_secs(s)
        )?,
        _ => writeln!(
            out,
            "  rate       unlimited (as fast as the sink acknowledges)"
        )?,
    }
    writeln!(out, "  in flight  at most {}", p.max_in_flight)?;
    let hist = |out: &mut dyn Write, title: &str, m: &std::collections::BTreeMap<String, u64>| {
        let v: Vec<(String, u64)> = Plan::ranked(m)
            .into_iter()
            .map(|(k, n)| (clip(k, 80), n))
            .collect();
        // A table under its header, measured in display width, indented under the plan.
        let rows: Vec<Vec<String>> = v.into_iter().map(|(k, n)| vec![k, n.to_string()]).collect();
        let mut t = Vec::new();
        crate::output::table(&mut t, &[title, "EVENTS"], &rows)?;
        for line in String::from_utf8_lossy(&t).lines() {
            writeln!(out, "  {line}")?;
        }
        Ok::<(), std::io::Error>(())
    };
    if p.plan.total > 0 {
        hist(out, "TYPE", &p.plan.by_type)?;
        hist(out, "CATEGORY", &p.plan.by_category)?;
    }
    Ok(())
}

async fn start(cli: &super::Cli, a: &StartArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let spec = sink_of(cli, a)?;
    check_rate(a.run.rate)?;
    let store = open(cli).await?;
    let max_wait = a.run.max_wait.unwrap_or(replay::range::DEFAULT_MAX_WAIT);
    let (mut range, for_consumer) = match &a.for_consumer {
        Some(name) => {
            let (r, c) = super::consumers::range_for(&store, name, max_wait).await?;
            (r, Some(c))
        }
        None => (a.range.range()?, None),
    };
    range
        .validate(&store)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    range.freeze(&store, max_wait).await?;
    let tty = std::io::stderr().is_terminal();
    let quiet = a.run.quiet;
    let plan = replay::plan(&store, &range, max_wait, move |p| match p {
        PlanProgress::Counted(n) if tty && !quiet => {
            eprint!("\r\x1b[Kcounting the range: {n} events");
        }
        PlanProgress::Waiting(w) if !quiet => {
            let text = crate::output::clip(&w.describe(), 300);
            if tty {
                eprint!("\r\x1b[Kwaiting: {text}");
            } else {
                eprintln!("waiting: {text}");
            }
        }
        _ => {}
    })
    .await?;
    if tty && !quiet {
        eprint!("\r\x1b[K");
    }
    let bus = replay::check_bus(&spec, &plan).await;
    let max_in_flight = a
        .run
        .max_in_flight
        .map_or(replay::DEFAULT_MAX_IN_FLIGHT, |n| n as usize);
    let plan_out = PlanOut {
        range: &range,
        range_text: range.describe(),
        sink: spec.describe(),
        bus: bus.as_ref(),
        rate: a.run.rate,
        max_in_flight,
        estimated_secs: plan.estimate_secs(a.run.rate),
        consumer: for_consumer.as_ref(),
        plan: &plan,
    };
    // With the events on standard output, everything else goes to stderr.
    let to_stdout = matches!(spec, SinkSpec::Jsonl { path: None });
    let mut stderr = std::io::stderr();
    let info: &mut dyn Write = if to_stdout { &mut stderr } else { out };
    // With --yes, JSON output is one document at the end: {"plan", "job"}.
    let plan_json = serde_json::to_value(&plan_out).map_err(|e| CliError::Failed(e.to_string()))?;
    if a.run.format == FormatArg::Table || !a.yes {
        write_plan(info, &plan_out, a.run.format)?;
        info.flush()?;
    }
    if a.dry_run {
        // A dry run that found a problem (no stream for the subject, the bus unreachable)
        // says so in its exit code too.
        if let Some(b) = bus.as_ref().filter(|b| b.fatal) {
            eprintln!(
                "the replay could not start: {}",
                b.problem.clone().unwrap_or_default()
            );
            return Ok(1);
        }
        return Ok(0);
    }
    if !a.yes {
        eprintln!(
            "nothing published: add --yes to publish these {} events (or --dry-run to only plan)",
            plan.total
        );
        return Ok(2);
    }
    if plan.total == 0 {
        eprintln!("nothing to replay: the range is empty");
        return Ok(0);
    }
    if let Some(b) = bus.as_ref().filter(|b| b.fatal) {
        return Err(CliError::Failed(b.problem.clone().unwrap_or_default()));
    }
    let jobs = jobs_store()?;
    let mut job = Job::new(&store, range, spec, a.run.rate, max_in_flight, plan.total);
    job.max_wait_secs = a.run.max_wait.map(|d| d.as_secs_f64());
    let (mut sink, _lock) = jobs.create(&mut job, None)?;
    eprintln!(
        "replay job {} created: {} events → {}",
        job.id,
        job.total,
        job.sink.describe()
    );
    execute(
        &store,
        &jobs,
        &mut job,
        sink.as_mut(),
        &a.run,
        out,
        to_stdout,
        Some(plan_json),
    )
    .await
}

async fn resume(
    cli: &super::Cli,
    id: &str,
    sink: Option<&str>,
    run: &RunArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let jobs = jobs_store()?;
    let mut job = jobs.load(id)?;
    if !job.status.resumable() {
        return Err(CliError::Failed(format!(
            "job {id} is {}: nothing to resume",
            job.status.label()
        )));
    }
    let _lock = jobs.lock(id)?;
    // The bus's credentials are found where the job says they are; a password of its URL is
    // asked for again (the job file does not keep it).
    match &mut job.sink {
        SinkSpec::Nats { url, .. } => {
            let profile_url = url.auth.profile.as_ref().and_then(|n| {
                let config = crate::config::Config::load(cli.config.as_deref()).ok()?;
                config.sinks.get(n)?.url.clone()
            });
            url.recover(sink, profile_url.as_deref())
                .map_err(|e| CliError::Failed(format!("job {id}: {e}")))?;
        }
        SinkSpec::Jsonl { .. } if sink.is_some() => {
            return Err(CliError::Usage(format!(
                "job {id} writes to {}: --sink gives a NATS job's URL again",
                job.sink.describe()
            )));
        }
        SinkSpec::Jsonl { .. } => {}
    }
    // Without a connection named, the job's own store (when its URL holds no secret).
    let named = cli.db.as_deref().is_some_and(|d| !d.is_empty()) || cli.profile.is_some();
    if !named
        && job.store.contains("***")
        && matches!(super::resolve_target(cli)?, super::Target::Demo(_))
    {
        return Err(CliError::Failed(format!(
            "job {id} reads {}, whose password is not kept: give the URL with its password (--db, DATABASE_URL or a profile)",
            job.store
        )));
    }
    let store = if !named
        && !job.store.contains("***")
        && matches!(super::resolve_target(cli)?, super::Target::Demo(_))
    {
        Store::open(&super::url_options(cli, &job.store, cli.connect_timeout)).await?
    } else {
        open(cli).await?
    };
    let here = redact_url(store.url());
    if here != job.store {
        return Err(CliError::Failed(format!(
            "job {id} was created on {}, but this is {here}: pass the same --db (or profile)",
            job.store
        )));
    }
    check_rate(run.rate)?;
    job.verify_checkpoint(&store).await?;
    if let Some(r) = run.rate {
        job.rate = Some(r);
    }
    if let Some(n) = run.max_in_flight {
        job.max_in_flight = n as usize;
    }
    if let Some(d) = run.max_wait {
        job.max_wait_secs = Some(d.as_secs_f64());
    }
    // A resumed sink starts from its checkpoint; before the first one, from its beginning
    // (a file is cut back to empty: nothing in it was acknowledged). A job that failed before
    // its sink was opened opens it as new.
    let mut sink = job.open_sink().map_err(|e| CliError::Failed(e.message))?;
    eprintln!(
        "resuming replay job {} at {} of {} ({})",
        job.id,
        job.checkpoint.done,
        job.total,
        job.checkpoint
            .mark
            .as_ref()
            .map_or("from the start".into(), |m| format!(
                "after {}",
                m.describe()
            ))
    );
    let to_stdout = matches!(job.sink, SinkSpec::Jsonl { path: None });
    execute(
        &store,
        &jobs,
        &mut job,
        sink.as_mut(),
        run,
        out,
        to_stdout,
        None,
    )
    .await
}

/// Run a job with progress on stderr and Ctrl-C / SIGTERM as a clean stop.
#[allow(clippy::too_many_arguments)]
async fn execute(
    store: &Store,
    jobs: &JobStore,
    job: &mut Job,
    sink: &mut dyn sink::Sink,
    run: &RunArgs,
    out: &mut dyn Write,
    to_stdout: bool,
    plan: Option<serde_json::Value>,
) -> Result<u8, CliError> {
    let (tx, rx) = watch::channel(Control::Run);
    let signals = tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(Control::Stop);
    });
    let tty = std::io::stderr().is_terminal();
    let quiet = run.quiet;
    let mut last_line = Instant::now() - Duration::from_secs(10);
    let mut last_status = String::new();
    let mut report = move |p: &Progress| {
        if quiet {
            return;
        }
        let status = p.status.label().to_string();
        let changed = status != last_status;
        if !changed && last_line.elapsed() < Duration::from_millis(if tty { 200 } else { 2000 }) {
            return;
        }
        last_line = Instant::now();
        last_status = status;
        let line = progress_line(p);
        if tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
    };
    let started = Instant::now();
    let start_done = job.checkpoint.done;
    let status = replay::run(store, jobs, job, sink, rx, &mut report).await;
    signals.abort();
    if tty && !quiet {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = job.checkpoint.done.saturating_sub(start_done);
    let mut stderr = std::io::stderr();
    let info: &mut dyn Write = if to_stdout { &mut stderr } else { out };
    if run.format == FormatArg::Table {
        writeln!(
            info,
            "job {} {}: {} of {} events acknowledged ({} this run in {:.1}s, {:.0}/s), {} duplicates absorbed",
            job.id,
            status.label(),
            job.checkpoint.done,
            job.total,
            sent,
            secs,
            if secs > 0.0 { sent as f64 / secs } else { 0.0 },
            job.checkpoint.duplicates
        )?;
    } else {
        let mut doc = serde_json::json!({ "job": &*job });
        if let Some(p) = plan {
            doc["plan"] = p;
        }
        crate::output::write_doc(info, &doc, super::fmt(run.format))?;
    }
    info.flush()?;
    match &status {
        Status::Completed => Ok(0),
        Status::Failed { error } => Err(CliError::Failed(format!(
            "replay job {} failed: {error}",
            job.id
        ))),
        _ => {
            eprintln!(
                "stopped at {} of {}; continue with: evscope replay resume {}",
                job.checkpoint.done, job.total, job.id
            );
            Ok(130)
        }
    }
}

fn progress_line(p: &Progress) -> String {
    let pct = if p.total > 0 {
        p.done as f64 * 100.0 / p.total as f64
    } else {
        100.0
    };
    let mut s = format!(
        "{} {}  {}/{} ({pct:.1}%)  {:.0}/s",
        p.job,
        p.status.label(),
        p.done,
        p.total,
        p.rate
    );
    if let Some(eta) = p.eta_secs.filter(|_| p.status == Status::Running) {
        s.push_str(&format!("  ETA {}", crate::output::human_secs(eta)));
    }
    if p.duplicates > 0 {
        s.push_str(&format!("  dup {}", p.duplicates));
    }
    if p.errors > 0 {
        s.push_str(&format!("  errors {}", p.errors));
    }
    if let Status::Waiting { detail, .. } = &p.status {
        s.push_str(&format!("  ({})", crate::output::clip(detail, 200)));
    }
    if let Status::Retrying { attempt, error } = &p.status {
        s.push_str(&format!("  (attempt {attempt}: {error})"));
    }
    s
}

#[derive(Serialize)]
struct JobRow<'a> {
    #[serde(flatten)]
    job: &'a Job,
    /// Whether a live process holds it.
    alive: bool,
}

fn status_shown(job: &Job, alive: bool) -> String {
    match &job.status {
        Status::Running | Status::Retrying { .. } | Status::Paused if !alive => {
            "interrupted (process gone)".into()
        }
        s => s.label().into(),
    }
}

fn list(out: &mut dyn Write, format: FormatArg) -> Result<(), CliError> {
    let jobs = jobs_store()?;
    let all = jobs.list()?;
    if format != FormatArg::Table {
        let rows: Vec<_> = all
            .iter()
            .filter_map(|j| j.as_ref().ok())
            .map(|j| JobRow {
                job: j,
                alive: jobs.holder(&j.id).is_some(),
            })
            .collect();
        crate::output::write_json(out, &rows, super::fmt(format))?;
        for e in all.iter().filter_map(|j| j.as_ref().err()) {
            eprintln!("warning: {e}");
        }
        return Ok(());
    }
    if all.is_empty() {
        writeln!(out, "no replay jobs (in {})", jobs.dir().display())?;
        return Ok(());
    }
    let mut rows = Vec::new();
    for j in &all {
        match j {
            Ok(j) => rows.push(vec![
                j.id.clone(),
                status_shown(j, jobs.holder(&j.id).is_some()),
                format!("{}/{}", j.checkpoint.done, j.total),
                j.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                j.created_by.clone(),
                j.sink.describe(),
                j.range.describe(),
            ]),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    crate::output::table(
        out,
        &["ID", "STATUS", "DONE", "CREATED", "BY", "SINK", "RANGE"],
        &rows,
    )?;
    Ok(())
}

fn show(out: &mut dyn Write, id: &str, format: FormatArg) -> Result<(), CliError> {
    let jobs = jobs_store()?;
    let job = jobs.load(id)?;
    let alive = jobs.holder(id).is_some();
    let history = jobs
        .history(Some(id))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if format != FormatArg::Table {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            job: &'a Job,
            alive: bool,
            history: &'a [job::AuditEntry],
        }
        let shown = Shown {
            job: &job,
            alive,
            history: &history,
        };
        crate::output::write_doc(out, &shown, super::fmt(format))?;
        return Ok(());
    }
    let t = |d: &DateTime<Utc>| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    writeln!(out, "job        {}", job.id)?;
    writeln!(out, "status     {}", status_shown(&job, alive))?;
    if let Status::Failed { error } | Status::Retrying { error, .. } = &job.status {
        writeln!(out, "error      {error}")?;
    }
    writeln!(
        out,
        "created    {} by {}",
        t(&job.created_at),
        job.created_by
    )?;
    writeln!(out, "store      {} ({})", job.store, job.layout)?;
    writeln!(out, "range      {}", job.range.describe())?;
    writeln!(out, "sink       {}", job.sink.describe())?;
    writeln!(
        out,
        "progress   {} of {} acknowledged, {} duplicates{}",
        job.checkpoint.done,
        job.total,
        job.checkpoint.duplicates,
        job.checkpoint
            .mark
            .as_ref()
            .map_or(String::new(), |m| format!(", last at {}", m.describe()))
    )?;
    writeln!(
        out,
        "rate       {}, at most {} in flight",
        job.rate.map_or("unlimited".into(), |r| format!("{r}/s")),
        job.max_in_flight
    )?;
    writeln!(out, "history")?;
    for h in &history {
        writeln!(
            out,
            "  {}  {:<11}  {}  {}/{}{}",
            t(&h.at),
            h.event,
            h.by,
            h.done,
            h.total,
            h.detail
                .as_ref()
                .map_or(String::new(), |d| format!("  {d}"))
        )?;
    }
    Ok(())
}

async fn cancel(id: &str, format: FormatArg, out: &mut dyn Write) -> Result<u8, CliError> {
    let jobs = jobs_store()?;
    let mut job = jobs.load(id)?;
    if !job.status.resumable() {
        return Err(CliError::Failed(format!(
            "job {id} is already {}",
            job.status.label()
        )));
    }
    if let Some(pid) = jobs.holder(id) {
        jobs.request_cancel(id)?;
        // Until the running process confirms, or goes away.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && jobs.holder(id).is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if jobs.load(id).is_ok_and(|j| j.status == Status::Cancelled) {
                break;
            }
        }
        job = jobs.load(id)?;
        if job.status != Status::Cancelled {
            return Err(CliError::Failed(format!(
                "asked process {pid} to cancel job {id}, but it has not confirmed yet (status {})",
                job.status.label()
            )));
        }
    } else {
        let _lock = jobs.lock(id)?;
        job.status = Status::Cancelled;
        job.finished_at = Some(Utc::now());
        jobs.save(&mut job)?;
        jobs.audit(
            &job,
            "cancelled",
            Some(format!(
                "{} of {} acknowledged",
                job.checkpoint.done, job.total
            )),
        )?;
    }
    if format == FormatArg::Table {
        writeln!(
            out,
            "job {id} cancelled at {} of {}",
            job.checkpoint.done, job.total
        )?;
    } else {
        let doc = serde_json::json!({
            "job": id,
            "status": job.status.label(),
            "done": job.checkpoint.done,
            "total": job.total,
        });
        crate::output::write_doc(out, &doc, super::fmt(format))?;
    }
    Ok(0)
}
