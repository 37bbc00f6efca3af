//! `evscope seal | verify-seal | prove | check-proof | keygen`: tamper evidence for a range of
//! the log (see `crate::seal`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::replay::RangeArgs;
use super::{CliError, FormatArg, fmt, open};
use crate::output::{self, Format, write_doc};
use crate::replay::range::DEFAULT_MAX_WAIT;
use crate::seal::proof::{self, Proof};
use crate::seal::receipt::{self, Receipt};
use crate::seal::verify::{self, Status, VerifyOptions};
use crate::seal::{self as domain, Options, SealError, SealRequest};
use crate::store::Store;

pub const SEAL_HELP: &str = "\
The range takes the replay's flags, and its end is fixed as a replay's is: at the head when the
seal starts, positions still held by open transactions waited for (--max-wait). The receipt (JSON)
names the store, the range, the count, the first and last event, the canonical encoding, the hash
and the Merkle root; the digest file beside it (FILE.digests, one 72-byte record per event) lets
verify-seal name what changed and prove build proofs. Receipts are files: nothing is written to
the database.

Examples:
  evscope keygen --out ~/.evscope/seal.key
  evscope seal --to-position 1000000 --out audit/2026-12.json --sign ~/.evscope/seal.key
  evscope seal --after audit/2026-12.json --out audit/2027-01.json --sign ~/.evscope/seal.key
  evscope seal --category account --jobs 4 --out account.json
  evscope seal --jobs 2 --job-db postgres://reader@standby-1/bank --out all.json";

pub const VERIFY_HELP: &str = "\
Reads the sealed range again. Exit code: 0 unchanged, 1 changed (the first differing event is
named: changed with its fields, missing, inserted or moved, and how many differ after it), 2 when
the receipt cannot be trusted or used: a bad signature, a receipt from another store, a digest file
that is not the receipt's, or an error.

Examples:
  evscope verify-seal audit/2026-12.json
  evscope verify-seal audit/2026-12.json --key ~/.evscope/seal.key.pub --format json
  evscope verify-seal --chain audit/ --key ~/.evscope/seal.key.pub";

#[derive(Debug, Args, Default, Clone)]
pub struct JobArgs {
    /// Subranges read at once, each on its own connection (ranges over global positions);
    /// the root is the one a single job computes
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Another URL of the same store (a hot standby, say) for the jobs to read from
    /// (repeatable; job i reads from the i-th of --db and these)
    #[arg(long, value_name = "URL")]
    pub job_db: Vec<String>,
    /// Fail when positions of the range stay held by open transactions this long (default 5m)
    #[arg(long, value_name = "DURATION", value_parser = crate::timeparse::parse_duration)]
    pub max_wait: Option<Duration>,
    /// No progress on stderr
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// The receipt file (default: the receipt on standard output, without a digest file)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The digest file (default: the receipt's path with .digests added)
    #[arg(long, value_name = "FILE")]
    pub digests: Option<PathBuf>,
    /// Sign the receipt with this secret key (evscope keygen)
    #[arg(long, value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,
    /// Seal the range that follows this receipt's, and link to it
    #[arg(long, value_name = "RECEIPT")]
    pub after: Option<PathBuf>,
    #[command(flatten)]
    pub jobs: JobArgs,
    /// table: a summary; json/jsonl: the receipt
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct VerifySealArgs {
    /// The receipt (not with --chain)
    #[arg(required_unless_present = "chain", conflicts_with = "chain")]
    pub receipt: Option<PathBuf>,
    /// Verify every receipt of this directory as one chain (seal --after)
    #[arg(long, value_name = "DIR")]
    pub chain: Option<PathBuf>,
    /// The digest file (default: the one the receipt names, beside it)
    #[arg(long, value_name = "FILE", conflicts_with = "chain")]
    pub digests: Option<PathBuf>,
    /// Require a signature by this public key (KEY.pub from evscope keygen)
    #[arg(long, value_name = "PUBKEY")]
    pub key: Option<PathBuf>,
    /// The store is a copy of the sealed one (a restored backup, a copied SQLite file): its
    /// database name, file and system identifier are its own and are not compared (its kind
    /// and layout still are); the report says it was verified as a copy
    #[arg(long)]
    pub copy: bool,
    #[command(flatten)]
    pub jobs: JobArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The event: its global position (its version for a receipt of one stream), or its id
    pub event: String,
    #[arg(long, value_name = "RECEIPT")]
    pub receipt: PathBuf,
    /// The digest file (default: the one the receipt names)
    #[arg(long, value_name = "FILE")]
    pub digests: Option<PathBuf>,
    /// json (default): the proof; table: a summary
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// The proof (evscope prove's output)
    pub proof: PathBuf,
    #[arg(long, value_name = "RECEIPT")]
    pub receipt: PathBuf,
    /// Require the receipt to be signed by this public key
    #[arg(long, value_name = "PUBKEY")]
    pub key: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The secret key file (mode 0600); the public key goes to FILE.pub
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace key files that exist
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: FormatArg,
}

/// The error's exit code: 2 when the receipt (or the request) is unusable, 1 otherwise.
fn fail(e: &SealError) -> u8 {
    eprintln!("error: {e}");
    match e {
        SealError::Store(_) | SealError::Scan(_) | SealError::Io(_) => 1,
        SealError::NotFound(_) | SealError::Changed(_) | SealError::BadProof(_) => 1,
        _ => 2,
    }
}

/// The store and the jobs' other URLs.
async fn stores(cli: &super::Cli, jobs: &JobArgs) -> Result<Vec<Store>, CliError> {
    let store = open(cli).await?;
    let mut all = vec![store];
    for url in &jobs.job_db {
        all.push(Store::open(&super::url_options(cli, url, cli.connect_timeout)).await?);
    }
    Ok(all)
}

fn pass_options(jobs: &JobArgs, what: &'static str) -> Options {
    let progress: Option<Arc<dyn Fn(u64) + Send + Sync>> =
        (!jobs.quiet && std::io::stderr().is_terminal()).then(|| {
            let f: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n: u64| {
                eprint!("\r{what} {n} events");
            });
            f
        });
    Options {
        jobs: usize::from(jobs.jobs),
        max_wait: jobs.max_wait.unwrap_or(DEFAULT_MAX_WAIT),
        progress,
    }
}

fn end_progress(jobs: &JobArgs) {
    if !jobs.quiet && std::io::stderr().is_terminal() {
        eprintln!();
    }
}

pub async fn seal(cli: &super::Cli, a: &SealArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let range = a.range.range()?;
    let stores = stores(cli, &a.jobs).await?;
    let req = SealRequest {
        range,
        out: a.out.as_deref(),
        digests: a.digests.clone(),
        sign: a.sign.as_deref(),
        after: a.after.as_deref(),
        options: pass_options(&a.jobs, "sealed"),
    };
    let r = domain::seal(&stores, req).await;
    end_progress(&a.jobs);
    let r = match r {
        Ok(r) => r,
        Err(e) => return Ok(fail(&e)),
    };
    match fmt(a.format) {
        // Without --out the receipt itself is the output.
        Format::Table if a.out.is_none() => write_doc(out, &r, Format::Json)?,
        Format::Table => {
            writeln!(out, "sealed {} events: {}", r.count, r.range_text)?;
            if let (Some(f), Some(l)) = (&r.first, &r.last) {
                writeln!(out, "first  {}", f.describe())?;
                writeln!(out, "last   {}", l.describe())?;
            }
            writeln!(out, "root   {}", r.root)?;
            if r.raw_rows > 0 {
                writeln!(
                    out,
                    "note   {} rows hold JSON that is not valid: hashed as their raw text",
                    r.raw_rows
                )?;
            }
            if let Some(s) = &r.signature {
                writeln!(out, "signed {}", s.public_key)?;
            }
            if let Some(p) = &r.previous {
                writeln!(out, "after  {} (root {})", p.file, p.root)?;
            }
            if let Some(o) = &a.out {
                writeln!(out, "receipt {}", o.display())?;
                if let Some(d) = &r.digests {
                    writeln!(out, "digests {d}")?;
                }
            }
        }
        f => write_doc(out, &r, f)?,
    }
    Ok(0)
}

fn load_key(p: &Option<PathBuf>) -> Result<Option<ed25519_dalek::VerifyingKey>, SealError> {
    p.as_deref().map(receipt::load_verifying_key).transpose()
}

pub async fn verify_seal(
    cli: &super::Cli,
    a: &VerifySealArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let key = match load_key(&a.key) {
        Ok(k) => k,
        Err(e) => return Ok(fail(&e)),
    };
    let stores = match stores(cli, &a.jobs).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let opts = VerifyOptions {
        pass: pass_options(&a.jobs, "read"),
        key,
        digests: a.digests.clone(),
        copy: a.copy,
    };
    if let Some(dir) = &a.chain {
        let entries = crate::seal::chain::verify_chain(&stores, dir, &opts).await;
        end_progress(&a.jobs);
        let entries = match entries {
            Ok(e) => e,
            Err(e) => return Ok(fail(&e)),
        };
        match fmt(a.format) {
            Format::Table => {
                for e in &entries {
                    let what = match (&e.report, &e.error) {
                        (Some(r), _) => r.summary(),
                        (None, Some(err)) => format!("error: {err}"),
                        (None, None) => String::new(),
                    };
                    writeln!(out, "{}  link {}  {what}", e.receipt, e.link)?;
                }
            }
            f => output::write_json(out, &entries, f)?,
        }
        return Ok(entries.iter().map(|e| e.exit).max().unwrap_or(0));
    }
    let path = a.receipt.as_deref().expect("clap requires it");
    let (r, raw) = match Receipt::load(path) {
        Ok(x) => x,
        Err(e) => return Ok(fail(&e)),
    };
    let report = verify::verify(&stores, &r, &raw, path, &opts).await;
    end_progress(&a.jobs);
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    match fmt(a.format) {
        Format::Table => writeln!(out, "{}", report.summary())?,
        f => write_doc(out, &report, f)?,
    }
    Ok(match report.status {
        Status::Unchanged => 0,
        Status::Changed => 1,
    })
}

pub async fn prove(cli: &super::Cli, a: &ProveArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let (r, _) = match Receipt::load(&a.receipt) {
        Ok(x) => x,
        Err(e) => return Ok(fail(&e)),
    };
    let Some(d) = r.digests_path(&a.receipt, a.digests.as_deref()) else {
        eprintln!("error: the receipt names no digest file (give --digests)");
        return Ok(2);
    };
    let store = open(cli).await?;
    if let Some(m) = r.store.mismatch(&match receipt::identify(&store).await {
        Ok(i) => i,
        Err(e) => return Ok(fail(&e)),
    }) {
        eprintln!("error: {m}");
        return Ok(2);
    }
    let p = match proof::prove(&store, &r, &d, &a.event).await {
        Ok(p) => p,
        Err(e) => return Ok(fail(&e)),
    };
    match fmt(a.format) {
        Format::Table => writeln!(
            out,
            "event at {} is leaf {} of {}; {} hashes lead to root {}",
            p.key,
            p.leaf_index,
            p.tree_size,
            p.path.len(),
            p.root
        )?,
        f => write_doc(out, &p, f)?,
    }
    Ok(0)
}

pub fn check_proof(a: &CheckProofArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let run = || -> Result<proof::Checked, SealError> {
        let key = load_key(&a.key)?;
        let (r, raw) = Receipt::load(&a.receipt)?;
        let text = std::fs::read(&a.proof)
            .map_err(|e| SealError::BadProof(format!("{}: {e}", a.proof.display())))?;
        let p: Proof = serde_json::from_slice(&text).map_err(|e| {
            SealError::BadProof(format!(
                "{} is not an evscope proof: {e}",
                a.proof.display()
            ))
        })?;
        proof::check(&p, &r, &raw, key.as_ref())
    };
    let c = match run() {
        Ok(c) => c,
        Err(e) => return Ok(fail(&e)),
    };
    match fmt(a.format) {
        Format::Table => {
            let e = &c.event;
            writeln!(
                out,
                "valid: {}@{} {} (position {}) is leaf {} of {} under root {}{}",
                e["stream"].as_str().unwrap_or("?"),
                e["version"],
                e["type"].as_str().unwrap_or("?"),
                e["position"],
                c.leaf_index,
                c.tree_size,
                c.root,
                c.signed_by
                    .as_ref()
                    .map_or(String::new(), |k| format!(", receipt signed by {k}"))
            )?;
        }
        f => write_doc(out, &c, f)?,
    }
    Ok(0)
}

#[derive(Serialize)]
struct KeyOut<'a> {
    secret_key: &'a Path,
    public_key_file: &'a Path,
    public_key: &'a str,
}

pub fn keygen(a: &KeygenArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let (public, pk) = match receipt::keygen(&a.out, a.force) {
        Ok(x) => x,
        Err(e) => return Ok(fail(&e)),
    };
    match fmt(a.format) {
        Format::Table => {
            writeln!(out, "secret key {} (keep it private)", a.out.display())?;
            writeln!(out, "public key {} ({pk})", public.display())?;
        }
        f => write_doc(
            out,
            &KeyOut {
                secret_key: &a.out,
                public_key_file: &public,
                public_key: &pk,
            },
            f,
        )?,
    }
    Ok(0)
}
