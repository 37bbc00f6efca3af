//! The headless command line: `evscope streams | log | events | demo | info`.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::output::{self, Format};
use crate::redact::redact_url;
use crate::scan::{Scan, Stop};
use crate::store::{
    Cursor, Direction, EventFilter, LogQuery, OpenOptions, Start, Store, StreamQuery, StreamRead,
};
use crate::timeparse::parse_time;

pub mod consumers;
mod log;
use log::{explain, follow, say_cut, write_scan};
pub mod reducers;
mod rehydrate;
pub mod replay;
mod report;
pub mod seal;
pub mod trace;

const ABOUT: &str =
    "Look inside an event store (PostgreSQL, MySQL/MariaDB, SQLite) and act on it safely.";

const MAIN_EXAMPLES: &str = "\
Connection: --db URL, else $DATABASE_URL, else --profile NAME (or default_profile) from the
config file, else the embedded demo store (created on first use).

Examples:
  evscope demo                                   # create/open the demo store, print where it is
  evscope streams --category account --limit 20
  evscope --db postgres://postgres@127.0.0.1/app log --type Deposited --since 7d
  evscope --db mysql://root@127.0.0.1/bank events account-1001 --format json";

#[derive(Debug, Parser)]
#[command(name = "evscope", version, about = ABOUT, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Database URL: postgres://..., mysql://..., sqlite:PATH
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub db: Option<String>,
    /// A connection profile from the config file
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The config file (default: $EVSCOPE_CONFIG or <config dir>/evscope/config.toml)
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The layout: native, message-db, marten, commanded, classic (NAME@SCHEMA to pick a
    /// PostgreSQL schema), or mapped with --mapping. Detected when omitted.
    #[arg(long, global = true)]
    pub schema: Option<String>,
    /// A TOML mapping file describing any other layout
    #[arg(long, global = true)]
    pub mapping: Option<PathBuf>,
    /// TUI theme: dark, light, high-contrast, or a theme file (default: the config's, or dark)
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// The reducer file for rehydration (default: the profile's, the demo's for the demo
    /// store, else the default merge fold)
    #[arg(long, global = true, value_name = "FILE")]
    pub reducers: Option<PathBuf>,
    /// Fold every stream with this reducer of the reducer file (else each stream's reducer is
    /// found by its id, type, first event or the event types a reducer handles)
    #[arg(long, global = true, value_name = "NAME")]
    pub reducer: Option<String>,
    /// How long to wait for the database server: 5s, 500ms, 1m (default: the profile's
    /// `connect_timeout`, the config file's, else 5s)
    #[arg(long, global = true, value_name = "DURATION", value_parser = crate::config::parse_timeout)]
    pub connect_timeout: Option<std::time::Duration>,
    /// A consumer that follows one stream, where the store does not record it (an Eventuous
    /// stream subscription keeps the stream's version as its checkpoint): ID=STREAM, repeatable
    #[arg(long, global = true, value_name = "ID=STREAM", value_parser = parse_stream_subscription)]
    pub stream_subscription: Vec<(String, String)>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List streams with event count, last version and last time
    #[command(
        after_help = "Example:\n  evscope streams --category account --limit 50 --format json\n  evscope streams --after account-0100   # the next page"
    )]
    Streams(StreamsArgs),
    /// Read the global log in position order
    #[command(
        after_help = "Example:\n  evscope log --type Deposited --type Withdrawn --since 2026-06-01 --limit 20\n  evscope log --backward --limit 10      # the 10 newest events\n  evscope log --from 5000000 --format jsonl"
    )]
    Log(LogArgs),
    /// Read one stream's events in version order
    #[command(
        after_help = "Example:\n  evscope events account-0001 --from 10 --to 20\n  evscope events payment-0042 --format json"
    )]
    Events(EventsArgs),
    /// Create (or reuse) the embedded demo store and print where it is
    #[command(
        after_help = "Example:\n  evscope demo --accounts 50 --path /tmp/demo.db\n  evscope --db sqlite:/tmp/demo.db streams"
    )]
    Demo(DemoArgs),
    /// Rebuild a stream's state by folding its events (time travel)
    #[command(
        after_help = "Example:\n  evscope rehydrate account-0001                 # the state now\n  evscope rehydrate account-0001 --at 40         # after version 40\n  evscope rehydrate account-0001 --as-of 2026-07-01 --trace   # one JSON line per event\n  evscope --db postgres://... rehydrate conta-1 --reducers fixtures/reducers/seeds.toml"
    )]
    Rehydrate(RehydrateArgs),
    /// Check every stored snapshot against the state recomputed from its events
    #[command(
        name = "verify-snapshots",
        after_help = "Exit code: 0 when every snapshot matches, 1 when any drifted, 2 on an error, 3 when some were not checked (no reducer for their streams).\n\nExample:\n  evscope verify-snapshots                          # the whole store\n  evscope verify-snapshots --category account --format json\n  evscope verify-snapshots --stream account-0042 --since 7d"
    )]
    VerifySnapshots(VerifyArgs),
    /// Report what would make history untrustworthy (version gaps, duplicates, time going
    /// backwards, invalid JSON, unknown types)
    #[command(
        after_help = "Exit code: 0 when nothing is wrong (information only), 1 when a fault is found, 2 on an error.\n\nExample:\n  evscope audit\n  evscope --db postgres://... --reducers bank.toml audit --format json"
    )]
    Audit(AuditArgs),
    #[command(about = replay::ABOUT, after_help = replay::HELP)]
    Replay(Box<replay::ReplayArgs>),
    /// Every event sharing an event's correlation id, as a causation tree
    #[command(after_help = trace::HELP)]
    Trace(trace::TraceArgs),
    #[command(about = consumers::ABOUT, after_help = consumers::HELP)]
    Consumers(consumers::ConsumersArgs),
    /// Seal a range of the log: a receipt with the Merkle root of its events (tamper evidence)
    #[command(after_help = seal::SEAL_HELP)]
    Seal(Box<seal::SealArgs>),
    /// Check that a sealed range is unchanged, or name the first event that differs
    #[command(name = "verify-seal", after_help = seal::VERIFY_HELP)]
    VerifySeal(Box<seal::VerifySealArgs>),
    /// Prove that one event, with its exact content, is in a sealed range (JSON on stdout)
    #[command(
        after_help = "Exit code: 0 a proof, 1 the event is not in the range or changed since the seal, 2 an unusable receipt.\n\nExample:\n  evscope prove 4242 --receipt audit/2026-12.json > proof.json\n  evscope prove 00000000-0000-4000-8000-000000000004 --receipt audit/2026-12.json"
    )]
    Prove(seal::ProveArgs),
    /// Check an inclusion proof against its receipt (no database needed)
    #[command(
        name = "check-proof",
        after_help = "Exit code: 0 valid, 1 the proof does not hold, 2 an unusable receipt (bad signature, wrong key).\n\nExample:\n  evscope check-proof proof.json --receipt audit/2026-12.json --key seal.key.pub"
    )]
    CheckProof(seal::CheckProofArgs),
    /// Write an Ed25519 key pair for signing receipts (FILE and FILE.pub)
    #[command(after_help = "Example:\n  evscope keygen --out ~/.evscope/seal.key")]
    Keygen(seal::KeygenArgs),
    /// Show the connection, the layout in use and the size of the log
    #[command(
        after_help = "Example:\n  evscope --db postgres://postgres@127.0.0.1/app info --format json"
    )]
    Info(InfoArgs),
    /// Reducer files: `init` writes a starting one for the store at hand
    Reducers(reducers::ReducersArgs),
}

#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only events of this type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only streams of this category (the part of the stream id before the first '-')
    #[arg(long)]
    pub category: Option<String>,
    /// Only streams whose id starts with this
    #[arg(long)]
    pub stream_prefix: Option<String>,
    /// From this time (inclusive): RFC 3339, 2026-01-05, "2026-01-05 10:00" (UTC), or 2h/7d ago
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Before this time (exclusive), same forms as --since
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum FormatArg {
    #[default]
    Table,
    Json,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct StreamsArgs {
    /// Only streams of this category
    #[arg(long)]
    pub category: Option<String>,
    /// Only streams whose id starts with this
    #[arg(long)]
    pub stream_prefix: Option<String>,
    /// Start after this stream id (keyset paging)
    #[arg(long)]
    pub after: Option<String>,
    /// Descending stream ids (from the last stream; --after continues downward)
    #[arg(long)]
    pub backward: bool,
    /// By recent activity instead of by id: the most recently written streams first (with
    /// --backward: the least recently written first)
    #[arg(long, conflicts_with = "after")]
    pub recent: bool,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The TUI's filter language, e.g. 'type:Withdrawn stream:account-* | select(.data.amount > 1000)'
    #[arg(long = "where", value_name = "FILTER", value_parser = check_where)]
    pub where_: Option<String>,
    /// Keep running and print new events as they are committed (safe-head order; Ctrl-C stops)
    #[arg(long)]
    pub follow: bool,
    /// Print the SQL a page of this read runs and which conditions of the jq program the
    /// database answers first, instead of reading
    #[arg(long, conflicts_with = "follow")]
    pub explain: bool,
    /// Start at this global position (included)
    #[arg(long, value_name = "POSITION")]
    pub from: Option<i64>,
    /// Read toward older events (from --from, or from the newest)
    #[arg(long)]
    pub backward: bool,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The stream id
    pub stream: String,
    /// The TUI's filter language (type:, since:, until:, and `| jq`)
    #[arg(long = "where", value_name = "FILTER", value_parser = check_where)]
    pub where_: Option<String>,
    /// Only events of this type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Start at this stream version (included)
    #[arg(long, value_name = "VERSION")]
    pub from: Option<i64>,
    /// Stop at this stream version (included)
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
    /// Read toward older versions
    #[arg(long)]
    pub backward: bool,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo store lives (default: <data dir>/evscope/demo.db)
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Number of bank accounts to generate
    #[arg(long, default_value_t = crate::demo::DEFAULT_ACCOUNTS, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub accounts: u32,
    /// Recreate the store even if it exists
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct RehydrateArgs {
    /// The stream id
    pub stream: String,
    /// Stop after this stream version
    #[arg(long, value_name = "VERSION", conflicts_with = "as_of")]
    pub at: Option<i64>,
    /// Stop after the last event recorded at or before this time
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub as_of: Option<DateTime<Utc>>,
    /// One JSON line per event with the change it made, instead of the final state
    #[arg(long)]
    pub trace: bool,
    /// Start from the newest stored snapshot at or before the target instead of the first
    /// event (only when you trust the snapshots: a drifted one carries its drift forward)
    #[arg(long)]
    pub trust_snapshots: bool,
    /// table: the state's values path by path (with --trace: one line per event and what it
    /// changed); json: the state as one document (--trace: an array); jsonl: on one line
    /// (--trace: one object per event). Default: json, or jsonl with --trace.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this stream's snapshots
    #[arg(long, conflicts_with = "category")]
    pub stream: Option<String>,
    /// Only snapshots of streams of this category
    #[arg(long)]
    pub category: Option<String>,
    /// Only snapshots taken at or after this time
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Parts of the store checked at once, each with its own thread and reads (0: one per
    /// CPU, at most 4; 1 keeps the load on the database to one query at a time; at most 8)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=8))]
    pub jobs: u16,
    /// table: one line per drifted or failed snapshot and a summary; json: everything
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

/// Why a command did not succeed; printed as one line. Its exit code is [`CliError::code`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A runtime failure (the store, the bus, a file, a jq error at run time): exit 1.
    #[error("{0}")]
    Failed(String),
    /// The command line asks for what cannot be done (flags that do not combine, a flag
    /// this store's layout has no meaning for): exit 2, as clap's own usage errors.
    #[error("{0}")]
    Usage(String),
    /// The reader of evscope's output went away (`evscope log | head`): not a failure.
    /// Only a write to the command's own output gives it; a replay whose sink is standard
    /// output fails for real when its reader goes (the job is `failed`).
    #[error("the reader of the output went away")]
    OutputClosed,
}

impl CliError {
    /// The process's exit code for this error (0 for a reader that went away).
    pub fn code(&self) -> u8 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::OutputClosed => 0,
        }
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<crate::replay::job::JobError> for CliError {
    fn from(e: crate::replay::job::JobError) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<crate::rehydrate::reducer::ReducerError> for CliError {
    fn from(e: crate::rehydrate::reducer::ReducerError) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<crate::scan::ScanError> for CliError {
    fn from(e: crate::scan::ScanError) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::OutputClosed;
        }
        CliError::Failed(e.to_string())
    }
}

/// Where the connection comes from.
#[derive(Debug, Clone)]
pub enum Target {
    Url(OpenOptions),
    /// No --db, DATABASE_URL or profile: the demo store at this path.
    Demo(PathBuf),
}

/// --db, then DATABASE_URL (both via clap), then --profile / default_profile, else the demo.
pub fn resolve_target(cli: &Cli) -> Result<Target, CliError> {
    let config = Config::load(cli.config.as_deref())?;
    let timeout = |p: Option<&crate::config::Profile>| {
        cli.connect_timeout
            .or(p.and_then(|p| p.connect_timeout()))
            .or(config.connect_timeout())
    };
    let from_profile = |name: &str| -> Result<Target, CliError> {
        let p = config.profile(name)?;
        Ok(Target::Url(OpenOptions {
            url: p.db.clone(),
            schema: cli.schema.clone().or_else(|| p.schema.clone()),
            mapping: cli.mapping.clone().or_else(|| p.mapping.clone()),
            connect_timeout: timeout(Some(p)),
            // The profile's, then the flags' (which win for the same consumer).
            stream_subscriptions: p
                .stream_subscriptions
                .iter()
                .filter(|(id, _)| !cli.stream_subscription.iter().any(|(c, _)| c == *id))
                .map(|(id, s)| (id.clone(), s.clone()))
                .chain(cli.stream_subscription.iter().cloned())
                .collect(),
        }))
    };
    if let Some(url) = cli.db.as_deref().filter(|u| !u.is_empty()) {
        return Ok(Target::Url(url_options(cli, url, timeout(None))));
    }
    if let Some(name) = &cli.profile {
        return from_profile(name);
    }
    if let Some(name) = &config.default_profile {
        return from_profile(name);
    }
    Ok(Target::Demo(crate::demo::default_path()))
}

/// How to open the store at `url` with the flags of `cli` (schema, mapping, stream
/// subscriptions) and this connect timeout.
pub(crate) fn url_options(
    cli: &Cli,
    url: &str,
    connect_timeout: Option<std::time::Duration>,
) -> OpenOptions {
    OpenOptions {
        url: url.to_string(),
        schema: cli.schema.clone(),
        mapping: cli.mapping.clone(),
        connect_timeout,
        stream_subscriptions: cli.stream_subscription.clone(),
    }
}

pub(crate) async fn open(cli: &Cli) -> Result<Store, CliError> {
    match resolve_target(cli)? {
        Target::Url(opts) => Ok(Store::open(&opts).await?),
        Target::Demo(path) => {
            crate::demo::ensure(&path, crate::demo::DEFAULT_ACCOUNTS, false)
                .await
                .map_err(|e| CliError::Failed(format!("demo store {}: {e}", path.display())))?;
            Ok(Store::open(&url_options(cli, &crate::demo::url_for(&path), None)).await?)
        }
    }
}

pub(super) fn fmt(f: FormatArg) -> Format {
    match f {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Jsonl => Format::Jsonl,
    }
}

/// Run the command line; Ok carries the exit code (0, or a command's own such as
/// verify-snapshots' 1 for drift and 2 for errors).
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<u8, CliError> {
    match &cli.command {
        None => {
            let config = Config::load(cli.config.as_deref())?;
            let target = resolve_target(&cli)?;
            let source = reducer_source(&cli, &target)?;
            // A reducer file that does not load is said now, not when time travel starts.
            source.load()?;
            let opts = crate::tui::TuiOptions {
                theme: cli.theme.clone().or(config.theme.clone()),
                keys: config.keys.clone(),
                reducers: source,
                sinks: config
                    .sinks
                    .iter()
                    .map(|(name, p)| (name.clone(), p.clone().with_absolute_paths()))
                    .collect(),
            };
            // Theme and keys are checked before the terminal is taken over.
            crate::tui::prepare(&opts).map_err(CliError::Failed)?;
            // A database is connected to with the TUI on the screen (it says where, and `q`
            // quits); the demo store is local.
            let opening = match target {
                Target::Url(o) => crate::tui::Opening::Connecting {
                    to: redact_url(&o.url),
                    within: o
                        .connect_timeout
                        .unwrap_or(crate::store::db::CONNECT_TIMEOUT),
                    open: Box::pin(async move {
                        Store::open(&o)
                            .await
                            .map_err(|e| CliError::from(e).to_string())
                    }),
                },
                Target::Demo(_) => crate::tui::Opening::Open(Box::new(open(&cli).await?)),
            };
            crate::tui::run(opening, opts)
                .await
                .map_err(CliError::Failed)?;
        }
        Some(Command::Demo(a)) => {
            let path = a.path.clone().unwrap_or_else(crate::demo::default_path);
            let summary = crate::demo::ensure(&path, a.accounts, a.force)
                .await
                .map_err(|e| CliError::Failed(format!("demo store {}: {e}", path.display())))?;
            output::write_demo(out, &summary, fmt(a.format))?;
        }
        Some(Command::Rehydrate(a)) => {
            let target = resolve_target(&cli)?;
            let reducers = reducer_source(&cli, &target)?.load()?;
            let store = open(&cli).await?;
            rehydrate::rehydrate(&store, &reducers, a, out).await?;
        }
        Some(Command::VerifySnapshots(a)) => {
            return Ok(report::verify_snapshots(&cli, a, out).await);
        }
        Some(Command::Audit(a)) => {
            return Ok(report::audit(&cli, a, out).await);
        }
        Some(Command::Replay(a)) => {
            return replay::replay(&cli, a, out).await;
        }
        Some(Command::Reducers(a)) => {
            reducers::run(&cli, a, out).await?;
        }
        Some(Command::Trace(a)) => {
            return trace::run(&cli, a, out).await;
        }
        Some(Command::Consumers(a)) => {
            return consumers::run(&cli, a, out).await;
        }
        Some(Command::Seal(a)) => return seal::seal(&cli, a, out).await,
        Some(Command::VerifySeal(a)) => return seal::verify_seal(&cli, a, out).await,
        Some(Command::Prove(a)) => return seal::prove(&cli, a, out).await,
        Some(Command::CheckProof(a)) => return seal::check_proof(a, out),
        Some(Command::Keygen(a)) => return seal::keygen(a, out),
        Some(Command::Info(a)) => {
            let store = open(&cli).await?;
            let head = store.max_position().await?;
            let server = store.server_role().await?;
            output::write_info(out, &store, head, &server, fmt(a.format))?;
        }
        Some(Command::Streams(a)) => {
            let store = open(&cli).await?;
            let q = StreamQuery {
                category: a.category.clone(),
                prefix: a.stream_prefix.clone(),
                after: a.after.clone(),
                direction: if a.backward {
                    Direction::Backward
                } else {
                    Direction::Forward
                },
                limit: a.limit,
            };
            let streams = if a.recent {
                let dir = if a.backward {
                    Direction::Forward
                } else {
                    Direction::Backward
                };
                let r = store
                    .recent_streams(
                        dir,
                        None,
                        a.limit as usize,
                        q.category.as_deref(),
                        q.prefix.as_deref(),
                    )
                    .await?;
                // No layout keeps streams indexed by last activity: the list is a scan from
                // the log's end, and a long one says so (a smaller --limit, or --category,
                // reads less).
                if r.events_read >= RECENT_SCAN_NOTE {
                    eprintln!(
                        "evscope: --recent scanned the newest {} events of the log to find {} stream(s) (no index orders the {} layout's streams by activity; --limit or --category reads less)",
                        r.events_read,
                        r.streams.len(),
                        store.layout().name
                    );
                }
                r.streams
            } else {
                store.list_streams(&q).await?
            };
            output::write_streams(out, &streams, fmt(a.format))?;
            // A --limit that cut the list says so, with the --after that reads on.
            if a.limit > 0 && streams.len() >= a.limit as usize {
                let hint = match streams.last() {
                    Some(last) if !a.recent => format!(
                        ": continue with --after {}{}",
                        output::shell_quote(&last.stream_id),
                        if a.backward { " --backward" } else { "" }
                    ),
                    _ => " (raise --limit to see more)".to_string(),
                };
                log::say_stopped(a.limit, "streams", &hint);
            }
        }
        Some(Command::Log(a)) => {
            let store = open(&cli).await?;
            if a.from.is_some() && store.layout().position.is_none() {
                return Err(CliError::Usage(format!(
                    "the {} layout has no global position, so --from cannot be used; narrow with --since/--until",
                    store.layout().name
                )));
            }
            let (filter, jq) = merge_filter(&a.filter, a.where_.as_deref())?;
            let q = LogQuery {
                filter,
                start: a
                    .from
                    .map_or(Start::End, |p| Start::At(Cursor::Position(p))),
                direction: if a.backward {
                    Direction::Backward
                } else {
                    Direction::Forward
                },
                limit: a.limit,
                up_to: None,
            };
            if a.explain {
                return explain(&store, q, jq.as_ref(), fmt(a.format), out).map(|()| 0);
            }
            if a.follow {
                return follow(&store, q, jq, fmt(a.format), out).await.map(|()| 0);
            }
            let limit = q.limit as usize;
            // A jq filter reads on until it has found `limit` matches: one streaming query
            // (see scan::Streamed), planned by the database as a whole.
            let last = if jq.is_some() {
                let source = crate::scan::Streamed::new(store.clone(), limit.saturating_add(1));
                write_scan(Scan::log(source, q).with_jq(jq), limit, out, fmt(a.format)).await?
            } else {
                write_scan(Scan::log(store.clone(), q), limit, out, fmt(a.format)).await?
            };
            if let Some(last) = last {
                let next = last
                    .global_position
                    .map(|p| if a.backward { p - 1 } else { p + 1 });
                say_cut(limit, next, a.backward, "events");
            }
        }
        Some(Command::Events(a)) => {
            let store = open(&cli).await?;
            let flags = FilterArgs {
                types: a.types.clone(),
                since: a.since,
                until: a.until,
                ..Default::default()
            };
            let (filter, jq) = merge_filter(&flags, a.where_.as_deref())?;
            if filter.stream.is_some()
                || filter.category.is_some()
                || filter.stream_prefix.is_some()
            {
                return Err(CliError::Usage(
                    "events reads one stream: --where takes type:, since:, until: and `| jq` here"
                        .into(),
                ));
            }
            // A stream that does not exist is an error naming it, not an empty result.
            store.require_stream(&a.stream).await?;
            let r = StreamRead {
                from_version: a.from,
                to_version: a.to,
                direction: if a.backward {
                    Direction::Backward
                } else {
                    Direction::Forward
                },
                ..StreamRead::of_filter(&filter)
            };
            let scan = Scan::stream(store.clone(), a.stream.clone(), r).with_jq(jq);
            if let Some(last) = write_scan(scan, a.limit as usize, out, fmt(a.format)).await? {
                let v = last.stream_version;
                let next = Some(if a.backward { v - 1 } else { v + 1 });
                say_cut(a.limit as usize, next, a.backward, "events of the stream");
            }
        }
    }
    Ok(0)
}

/// Text from the store for a table line: control characters (escape sequences) shown as
/// spaces, cut at 200 characters.
fn shown(s: &str) -> String {
    output::clip(s, 200)
}

/// A value for a table line, as compact JSON cut at 200 characters, saying how much was cut
/// (the JSON formats give it whole).
fn cut_value(v: &serde_json::Value) -> String {
    const MAX: usize = 200;
    let text = v.to_string();
    let n = text.chars().count();
    if n <= MAX {
        return output::clip(&text, MAX);
    }
    let head: String = text.chars().take(MAX).collect();
    format!(
        "{}… ({} more characters; --format json has it whole)",
        output::clip(&head, MAX),
        n - MAX
    )
}

/// Where the reducers come from: --reducers, else the profile's, else the demo's for the
/// demo store, else none (the default merge fold).
fn reducer_source(
    cli: &Cli,
    target: &Target,
) -> Result<crate::rehydrate::source::ReducerSource, CliError> {
    use crate::rehydrate::source::ReducerSource;
    let source = reducer_file(cli, target)?;
    match &cli.reducer {
        None => Ok(source),
        Some(_) if matches!(source, ReducerSource::None) => Err(CliError::Usage(
            "--reducer NAME names a reducer of a reducer file: give --reducers FILE".into(),
        )),
        Some(name) => Ok(ReducerSource::Forced(Box::new(source), name.clone())),
    }
}

/// The reducer file of [`reducer_source`].
fn reducer_file(
    cli: &Cli,
    target: &Target,
) -> Result<crate::rehydrate::source::ReducerSource, CliError> {
    use crate::rehydrate::source::ReducerSource;
    if let Some(p) = &cli.reducers {
        return Ok(ReducerSource::File(p.clone()));
    }
    if matches!(target, Target::Demo(_)) {
        return Ok(ReducerSource::Demo);
    }
    let config = Config::load(cli.config.as_deref())?;
    if cli.db.is_none() {
        let profile = cli.profile.clone().or(config.default_profile.clone());
        if let Some(p) =
            profile.and_then(|n| config.profiles.get(&n).and_then(|p| p.reducers.clone()))
        {
            return Ok(ReducerSource::File(p));
        }
    }
    Ok(ReducerSource::None)
}

/// A `--where` value must parse (a bad filter is a usage error, exit code 2).
/// `--stream-subscription ID=STREAM`.
fn parse_stream_subscription(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((id, stream)) if !id.trim().is_empty() && !stream.trim().is_empty() => {
            Ok((id.trim().to_string(), stream.trim().to_string()))
        }
        _ => Err(format!(
            "{s:?}: give ID=STREAM (the consumer, the stream it follows)"
        )),
    }
}

/// Events a `streams --recent` scan reads before it says so on stderr.
const RECENT_SCAN_NOTE: u64 = 10_000;

pub(crate) fn check_where(s: &str) -> Result<String, String> {
    crate::filter::parse(s, chrono::Utc::now())
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// The flags and `--where` together: flags add types and override single values.
pub(crate) fn merge_filter(
    flags: &FilterArgs,
    where_: Option<&str>,
) -> Result<(EventFilter, Option<crate::filter::JqPredicate>), CliError> {
    let parsed = match where_ {
        Some(w) => crate::filter::parse(w, chrono::Utc::now())
            .map_err(|e| CliError::Failed(format!("--where: {e}")))?,
        None => crate::filter::parse("", chrono::Utc::now())
            .map_err(|e| CliError::Failed(e.to_string()))?,
    };
    let mut f = parsed.filter;
    for t in &flags.types {
        if !f.types.contains(t) {
            f.types.push(t.clone());
        }
    }
    f.category = flags.category.clone().or(f.category);
    f.stream_prefix = flags.stream_prefix.clone().or(f.stream_prefix);
    f.since = flags.since.or(f.since);
    f.until = flags.until.or(f.until);
    Ok((f, parsed.jq))
}

/// Events written per batch by `log` and `events` (whatever their --limit): memory holds one
/// batch of the result. How many rows each store read asks for is the scan's own business.
const OUTPUT_PAGE: usize = 5_000;

/// The URL a target will open, redacted, for messages.
pub fn describe_target(t: &Target) -> String {
    match t {
        Target::Url(o) => redact_url(&o.url),
        Target::Demo(p) => format!("demo store {}", p.display()),
    }
}
