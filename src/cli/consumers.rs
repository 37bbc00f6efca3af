//! `evscope consumers`: every consumer's checkpoint, lag and flags; `--watch`, `--check`, and
//! `consumers rewind NAME --to ... --dry-run` (printed, never run).

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{CliError, FormatArg, open};
use crate::consumers::lag::{Lagged, Report, ReportOptions};
use crate::consumers::rewind::{Rewind, Target, plan_rewind};
use crate::consumers::trend::{History, Movement, sparkline};
use crate::consumers::{self, Consumer, ConsumerError, Counts};
use crate::output::{clip, human_secs};
use crate::replay::range::{DEFAULT_MAX_WAIT, Plan, Range};
use crate::store::Store;

pub const ABOUT: &str = "List consumers (projections, subscriptions) with their checkpoint, lag and flags: stalled, beyond-head, at-gap, failed";

pub const HELP: &str = "\
Consumers are read from each framework's own table, found by its columns in the connected
database: evscope_consumers (native), Marten's mt_event_progression, Eventuous' checkpoints,
Emmett's emt_processors, Commanded's subscriptions and projection_versions, Axon's token_entry,
Message DB position streams, Python eventsourcing's *_tracking, and the [consumers] section of
the mapping file. Lag counts the events after the checkpoint that the consumer follows, up to
the newest visible event (≈: an estimate, for long spans); the settled head is where a replay
for it would end.

Exit code: 0; with --check, 1 when any consumer is stalled, beyond the head or failed.

Examples:
  evscope consumers
  evscope consumers --check --format json        # for cron and alerting
  evscope consumers --watch --interval 2s
  evscope consumers rewind balances --to 2026-06-01 --dry-run
  evscope replay --for-consumer balances --sink jsonl:/tmp/b.jsonl --dry-run";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConsumersArgs {
    #[command(subcommand)]
    pub action: Option<ConsumersAction>,
    /// Refresh every --interval, with the trend (lag growing or shrinking, events/s, a
    /// sparkline), until Ctrl-C
    #[arg(long)]
    pub watch: bool,
    /// How often --watch refreshes: 2s, 10s, 1m
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = crate::timeparse::parse_duration)]
    pub interval: Duration,
    /// Exit code 1 when any consumer is stalled, beyond the head or failed
    #[arg(long, conflicts_with = "watch")]
    pub check: bool,
    /// A consumer behind the head whose checkpoint has not moved this long is stalled
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::timeparse::parse_duration)]
    pub stall_after: Duration,
    /// Do not wait for the settled head (PostgreSQL waits 250 ms for the transactions in
    /// progress, MySQL/MariaDB 3 s); lag is counted to the newest visible event either way
    #[arg(long)]
    pub no_settle: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Subcommand)]
pub enum ConsumersAction {
    /// Print the SQL that would move a consumer's checkpoint (never run), with what it would
    /// process again; the plan is recorded in the audit trail
    #[command(
        after_help = "Example:\n  evscope consumers rewind balances --to 1200 --dry-run\n  evscope consumers rewind invoices/2 --to 2026-06-01T00:00:00Z --dry-run --format json"
    )]
    Rewind(RewindArgs),
}

#[derive(Debug, Args)]
pub struct RewindArgs {
    /// The consumer: NAME (every segment) or NAME/SEGMENT
    pub name: String,
    /// The new checkpoint: a global position (the last event counted as processed), or a time
    /// (every event from it on is processed again)
    #[arg(long, value_name = "POSITION|TIME", value_parser = Target::parse)]
    pub to: Target,
    /// Required: evscope prints the statement, it never runs it
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

fn err(e: ConsumerError) -> CliError {
    CliError::Failed(e.to_string())
}

async fn discover(store: &Store) -> Result<Vec<Consumer>, CliError> {
    consumers::discover(store).await.map_err(err)
}

pub async fn run(cli: &super::Cli, a: &ConsumersArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    if let Some(ConsumersAction::Rewind(r)) = &a.action {
        return rewind(cli, r, out).await;
    }
    let store = open(cli).await?;
    let mut opts = ReportOptions {
        stall_after: a.stall_after,
        settle: !a.no_settle,
        ..ReportOptions::default()
    };
    if !a.watch {
        let found = discover(&store).await?;
        let report = consumers::report(&store, found, &opts).await.map_err(err)?;
        write_report(out, &report, None, a.format)?;
        return Ok(if a.check && report.alarming() { 1 } else { 0 });
    }
    let mut history = History::default();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let found = discover(&store).await?;
        opts.last_moved = history.last_moved();
        let report = consumers::report(&store, found, &opts).await.map_err(err)?;
        history.add(&report);
        if tty && a.format == FormatArg::Table {
            write!(out, "\x1b[H\x1b[2J")?;
        }
        write_report(out, &report, Some(&history), a.format)?;
        out.flush()?;
        tokio::select! {
            _ = tokio::time::sleep(a.interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
    }
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    lagged: &'a Lagged,
    #[serde(skip_serializing_if = "Option::is_none")]
    trend: Option<Movement>,
}

fn movement(h: Option<&History>, l: &Lagged) -> Option<Movement> {
    h?.movement(l.consumer.framework, &l.consumer.id())
}

/// The report as a table, a JSON document (`{head, settled_head, consumers: [...]}`) or one
/// JSON line per consumer.
pub fn write_report(
    out: &mut dyn Write,
    r: &Report,
    h: Option<&History>,
    format: FormatArg,
) -> std::io::Result<()> {
    match format {
        FormatArg::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                #[serde(flatten)]
                report: &'a Report,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                trends: Vec<Option<Movement>>,
            }
            let trends = match h {
                Some(_) => r.consumers.iter().map(|l| movement(h, l)).collect(),
                None => vec![],
            };
            serde_json::to_writer_pretty(&mut *out, &Doc { report: r, trends })?;
            writeln!(out)
        }
        FormatArg::Jsonl => {
            for l in &r.consumers {
                serde_json::to_writer(
                    &mut *out,
                    &Row {
                        lagged: l,
                        trend: movement(h, l),
                    },
                )?;
                writeln!(out)?;
            }
            Ok(())
        }
        FormatArg::Table => {
            let head = r.head.map_or("-".into(), |p| p.to_string());
            let settled = match (r.settled_head, &r.settled_note) {
                (Some(s), _) => s.to_string(),
                (None, Some(n)) => format!("not settled ({})", clip(n, 120)),
                (None, None) => "not waited for".into(),
            };
            writeln!(
                out,
                "head {head} · settled head {settled} · layout {} · {} consumers",
                r.layout,
                r.consumers.len()
            )?;
            let mut header = vec![
                "CONSUMER",
                "FRAMEWORK",
                "FOLLOWS",
                "CHECKPOINT",
                "LAG",
                "LAG TIME",
                "UPDATED",
                "STATUS",
                "FLAGS",
            ];
            if h.is_some() {
                header.extend(["TREND", "EV/S", "HISTORY"]);
            }
            let rows: Vec<Vec<String>> = r
                .consumers
                .iter()
                .map(|l| {
                    let c = &l.consumer;
                    let mut row = vec![
                        clip(&c.id(), 40),
                        c.framework.label().to_string(),
                        clip(&c.follows.describe(), 30),
                        c.checkpoint_text(),
                        l.lag_text(),
                        l.lag_secs.map_or("-".into(), human_secs),
                        c.updated_at.as_ref().map_or("-".into(), |t| {
                            format!(
                                "{} ago",
                                human_secs((Utc::now() - *t).num_seconds().max(0) as f64)
                            )
                        }),
                        clip(c.status.as_deref().unwrap_or("-"), 24),
                        l.flags
                            .iter()
                            .map(|f| f.label())
                            .collect::<Vec<_>>()
                            .join(","),
                    ];
                    if let Some(m) = movement(h, l) {
                        row.push(m.direction.arrow().to_string());
                        row.push(format!("{:.1}", m.events_per_sec));
                        row.push(sparkline(&m.lag_history));
                    } else if h.is_some() {
                        row.extend(["-".into(), "-".into(), String::new()]);
                    }
                    row
                })
                .collect();
            crate::output::table(out, &header, &rows)?;
            // Notes and owners, one line each, after the table.
            for l in &r.consumers {
                let c = &l.consumer;
                for n in &c.notes {
                    writeln!(out, "  {}: {}", clip(&c.id(), 60), clip(n, 200))?;
                }
            }
            if r.consumers.is_empty() {
                writeln!(
                    out,
                    "no consumer tables found (see `evscope consumers --help` for the tables read)"
                )?;
            }
            Ok(())
        }
    }
}

async fn rewind(cli: &super::Cli, a: &RewindArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    if !a.dry_run {
        eprintln!(
            "error: evscope is read-only: `consumers rewind` prints the statement for you to run; give --dry-run"
        );
        return Ok(2);
    }
    let target = a.to.clone();
    let store = open(cli).await?;
    let all = discover(&store).await?;
    let picked = consumers::select(&all, &a.name).map_err(err)?;
    let plan = plan_rewind(&store, &picked, &target, DEFAULT_MAX_WAIT)
        .await
        .map_err(err)?;
    record(&plan, &a.name)?;
    write_rewind(out, &plan, a.format)?;
    Ok(0)
}

/// The plan in the audit trail of the replay jobs (<data dir>/replay/audit.jsonl).
fn record(p: &Rewind, name: &str) -> Result<(), CliError> {
    let jobs = crate::replay::job::JobStore::open(crate::replay::job::JobStore::default_dir())?;
    let detail = serde_json::json!({
        "framework": p.framework,
        "from": p.from,
        "to": p.to,
        "sql": p.sql,
        "reprocess": p.reprocess.total,
        "printed_not_run": true,
    });
    jobs.record(&crate::replay::job::AuditEntry {
        at: Utc::now(),
        job: format!("consumer:{name}"),
        event: "rewind-planned".into(),
        by: crate::replay::job::whoami(),
        pid: std::process::id(),
        done: 0,
        total: p.reprocess.total,
        detail: Some(detail.to_string()),
    })?;
    Ok(())
}

fn write_rewind(out: &mut dyn Write, p: &Rewind, format: FormatArg) -> std::io::Result<()> {
    if format != FormatArg::Table {
        return crate::output::write_doc(out, p, super::fmt(format));
    }
    writeln!(
        out,
        "-- rewind plan for {} ({}), printed, NOT run by evscope",
        p.consumer,
        p.framework.label()
    )?;
    for (id, cp) in &p.from {
        writeln!(
            out,
            "--   {}: checkpoint {} -> {}",
            clip(id, 80),
            cp.map_or("none".into(), |c| c.to_string()),
            p.to
        )?;
    }
    let verb = if p.skips { "skip" } else { "process again" };
    writeln!(
        out,
        "--   it would {verb} {} events ({})",
        p.reprocess.total,
        p.range.describe()
    )?;
    write_plan_summary(out, &p.reprocess)?;
    for h in &p.holders {
        writeln!(out, "--   LOCK: {}", clip(h, 300))?;
    }
    for n in &p.notes {
        writeln!(out, "--   note: {}", clip(n, 300))?;
    }
    writeln!(out, "--   recorded in the audit trail (replay/audit.jsonl)")?;
    for s in &p.sql {
        writeln!(out, "{s}")?;
    }
    Ok(())
}

fn write_plan_summary(out: &mut dyn Write, p: &Plan) -> std::io::Result<()> {
    let fmt_ref = |e: &Option<crate::replay::range::EventRef>| {
        e.as_ref()
            .map_or("-".to_string(), |e| clip(&e.describe(), 200))
    };
    if p.total == 0 {
        return Ok(());
    }
    writeln!(out, "--   first  {}", fmt_ref(&p.first))?;
    writeln!(out, "--   last   {}", fmt_ref(&p.last))?;
    let ranked = Plan::ranked(&p.by_type);
    for (t, n) in ranked.iter().take(6) {
        writeln!(out, "--     {n:>8}  {}", clip(t, 80))?;
    }
    if ranked.len() > 6 {
        let rest: u64 = ranked[6..].iter().map(|(_, n)| n).sum();
        writeln!(
            out,
            "--     +{} more types ({rest} events)",
            ranked.len() - 6
        )?;
    }
    Ok(())
}

/// What `replay --for-consumer` adds to its plan.
#[derive(Debug, Clone, Serialize)]
pub struct ForConsumer {
    pub name: String,
    pub framework: &'static str,
    pub checkpoint: Option<i64>,
    pub lag_events: Option<u64>,
    pub lag_exact: bool,
    pub settled_head: Option<i64>,
}

impl ForConsumer {
    pub fn describe(&self) -> String {
        format!(
            "{} ({}): checkpoint {}, lag {}{} events, up to the settled head {}",
            self.name,
            self.framework,
            self.checkpoint.map_or("none".into(), |c| c.to_string()),
            if self.lag_exact { "" } else { "≈" },
            self.lag_events.map_or("?".into(), |n| n.to_string()),
            self.settled_head.map_or("-".into(), |h| h.to_string()),
        )
    }
}

/// The range a replay for a consumer covers: (checkpoint, settled head], what it follows.
pub async fn range_for(
    store: &Store,
    name: &str,
    max_wait: Duration,
) -> Result<(Range, ForConsumer), CliError> {
    let all = discover(store).await?;
    let picked = consumers::select(&all, name).map_err(err)?;
    // Several segments: from the one furthest behind.
    let Some(c) = picked.iter().min_by_key(|c| c.checkpoint.unwrap_or(0)) else {
        return Err(CliError::Failed(format!("no consumer {name:?}")));
    };
    let opts = ReportOptions {
        settle: false,
        ..ReportOptions::default()
    };
    let report = consumers::report(store, vec![(*c).clone()], &opts)
        .await
        .map_err(err)?;
    let lag = report.consumers.first();
    let cp = c.checkpoint.unwrap_or(0);
    let settled = match c.counts {
        Counts::StreamVersion => None,
        Counts::Global => {
            let settled = crate::store::head::settled_head(store, max_wait).await?;
            let head = settled.unwrap_or(0);
            if cp >= head {
                return Err(CliError::Failed(format!(
                    "{} is at {cp}, not behind the settled head {head}: nothing to replay",
                    c.id()
                )));
            }
            settled
        }
    };
    let range = c.range(cp, settled);
    Ok((
        range,
        ForConsumer {
            name: c.id(),
            framework: c.framework.label(),
            checkpoint: c.checkpoint,
            lag_events: lag.and_then(|l| l.lag_events),
            lag_exact: lag.is_none_or(|l| l.lag_exact),
            settled_head: settled,
        },
    ))
}
