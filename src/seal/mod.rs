//! Seal and verify: tamper evidence for event stores kept in SQL databases.
//!
//! A seal reads a range of the log in order and writes a receipt: the store, the range, the
//! count, the first and last event and the Merkle root over the events' canonical bytes
//! ([`canonical`], [`merkle`]), with a digest file beside it ([`digests`]). `verify-seal`
//! ([`verify`]) reads the range again and says whether anything changed, and what; [`proof`]
//! proves one event's inclusion to a third party; [`chain`] links receipts of consecutive
//! ranges. evscope stays read-only: receipts are files, never rows in the user's tables.

pub mod build;
pub mod canonical;
pub mod chain;
pub mod digests;
mod fast_jcs;
pub mod merkle;
pub mod proof;
pub mod receipt;
pub mod verify;

use std::path::{Path, PathBuf};

use crate::replay::range::Range;
use crate::store::{Store, StoreError};

pub use build::{KeyKind, Options};
pub use receipt::Receipt;

/// Why a seal, a verification or a proof could not be made. `verify-seal` and `check-proof`
/// exit 2 on these (1 is a finding: something changed, a proof that does not hold).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scan(#[from] crate::scan::ScanError),
    #[error("{0}")]
    Io(String),
    /// The digest file is not the receipt's (or is damaged).
    #[error("digest file: {0}")]
    Digests(String),
    /// The receipt cannot be read.
    #[error("receipt: {0}")]
    Receipt(String),
    /// The signature does not hold (or the wrong key signed).
    #[error("bad signature: {0}")]
    Signature(String),
    /// The receipt was made on another store.
    #[error("{0}")]
    OtherStore(String),
    #[error("{0}")]
    Usage(String),
    #[error("key: {0}")]
    Key(String),
    #[error("{0}")]
    NotFound(String),
    /// The event a proof was asked for changed since the seal.
    #[error("{0}")]
    Changed(String),
    /// A proof that does not hold.
    #[error("invalid proof: {0}")]
    BadProof(String),
}

/// What a seal is asked to do.
pub struct SealRequest<'a> {
    pub range: Range,
    /// The receipt file (None: the receipt is only returned).
    pub out: Option<&'a Path>,
    /// The digest file (default: the receipt's path with `.digests` added).
    pub digests: Option<PathBuf>,
    pub sign: Option<&'a Path>,
    /// The receipt this one continues.
    pub after: Option<&'a Path>,
    pub options: Options,
}

/// The range that follows a receipt's: from just past its end, to the head now.
pub fn range_after(prev: &Receipt, mut next: Range) -> Result<Range, SealError> {
    let r = &prev.range;
    if let Some(s) = &r.stream {
        next.stream = Some(s.clone());
        next.from_version = Some(r.to_version.unwrap_or(-1) + 1);
    } else if let Some(to) = r.to_position {
        next.from_position = Some(to + 1);
    } else {
        return Err(SealError::Usage(
            "--after needs a receipt of a range over positions or of one stream".into(),
        ));
    }
    next.category = r.category.clone();
    next.stream_prefix = r.stream_prefix.clone();
    next.types = r.types.clone();
    next.jq = r.jq.clone();
    Ok(next)
}

/// Seal a range: freeze it, read it (through the settled head), write the digest file and the
/// receipt (signed when asked). `stores[0]` is the store; job `i` reads `stores[i % len]`.
pub async fn seal(stores: &[Store], req: SealRequest<'_>) -> Result<Receipt, SealError> {
    let store = &stores[0];
    let identity = receipt::identify(store).await?;
    for s in &stores[1..] {
        if let Some(m) = identity.mismatch(&receipt::identify(s).await?) {
            return Err(SealError::OtherStore(format!(
                "a --job-db is not the same store: {m}"
            )));
        }
    }
    let key = match req.sign {
        Some(p) => Some(receipt::load_signing_key(p)?),
        None => None,
    };
    let (mut range, previous) = match req.after {
        Some(p) => {
            let (prev, bytes) = Receipt::load(p)?;
            if let Some(m) = prev.store.mismatch(&identity) {
                return Err(SealError::OtherStore(m));
            }
            let range = range_after(&prev, req.range.clone())?;
            let file = p.file_name().map_or_else(
                || p.display().to_string(),
                |f| f.to_string_lossy().to_string(),
            );
            (
                range,
                Some(receipt::Previous {
                    root: prev.root.clone(),
                    receipt_sha256: receipt::sha256_hex(&bytes),
                    file,
                }),
            )
        }
        None => (req.range.clone(), None),
    };
    range
        .validate(store)
        .map_err(|e| SealError::Usage(e.to_string()))?;
    range.freeze(store, req.options.max_wait).await?;
    let digests = req.digests.clone().or_else(|| {
        req.out.map(|o| {
            let mut s = o.as_os_str().to_owned();
            s.push(".digests");
            PathBuf::from(s)
        })
    });
    // Without a file to keep them, the digests go to a temporary file that is removed.
    let (dpath, keep) = match &digests {
        Some(d) => (d.clone(), true),
        None => (temp_digests("seal"), false),
    };
    let sealed = build::seal(stores, &range, &dpath, &req.options, None).await;
    if !keep {
        let _ = std::fs::remove_file(&dpath);
    }
    let sealed = sealed?;
    let digests_name = keep.then(|| relative_to(&dpath, req.out));
    let mut r = Receipt::new(identity, &range, &sealed, digests_name, previous);
    if let Some(k) = &key {
        r.sign(k)?;
    }
    if let Some(out) = req.out {
        let text = serde_json::to_string_pretty(&r).map_err(|e| SealError::Io(e.to_string()))?;
        write_atomically(out, format!("{text}\n").as_bytes())?;
    }
    Ok(r)
}

/// The digest file's path as the receipt names it: relative to the receipt's directory when
/// it lies there.
fn relative_to(digests: &Path, receipt: Option<&Path>) -> String {
    let parent = |p: &Path| {
        p.parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    };
    if let (Some(r), Some(name)) = (receipt, digests.file_name()) {
        let a = std::path::absolute(parent(r)).ok();
        let b = std::path::absolute(parent(digests)).ok();
        if a.is_some() && a == b {
            return name.to_string_lossy().to_string();
        }
    }
    std::path::absolute(digests)
        .unwrap_or_else(|_| digests.to_path_buf())
        .display()
        .to_string()
}

/// A digest file of its own in the temporary directory.
pub(crate) fn temp_digests(what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "evscope-{what}-{}-{}.digests",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    use std::io::Write;
    let err = |e: std::io::Error| SealError::Io(format!("{}: {e}", path.display()));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
