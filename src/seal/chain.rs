//! Chains of receipts: `seal --after R` records R's root and the SHA-256 of R's file, and
//! seals the range that follows R's; `verify-seal --chain DIR` orders the receipts of a
//! directory by those links, checks each link (the recorded root and file hash, ranges that
//! follow each other) and verifies every receipt against the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::SealError;
use super::receipt::{Receipt, sha256_hex};
use super::verify::{self, Report, Status, VerifyOptions};
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    pub receipt: String,
    /// "first", "ok", or what is wrong with the link to the receipt before it.
    pub link: String,
    /// The verification (None when it could not be made: see `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0 unchanged and linked, 1 changed, 2 a broken link or an error.
    pub exit: u8,
}

struct Loaded {
    path: PathBuf,
    receipt: Receipt,
    raw: Vec<u8>,
    sha: String,
}

/// The receipts of `dir` in chain order (each `.json` file that is a receipt).
fn order(dir: &Path) -> Result<Vec<Loaded>, SealError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| SealError::Receipt(format!("{}: {e}", dir.display())))?;
    let mut all = Vec::new();
    for entry in rd {
        let p = entry.map_err(|e| SealError::Io(e.to_string()))?.path();
        if p.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let (receipt, raw) = Receipt::load(&p)?;
        let sha = sha256_hex(&raw);
        all.push(Loaded {
            path: p,
            receipt,
            raw,
            sha,
        });
    }
    if all.is_empty() {
        return Err(SealError::Receipt(format!(
            "no receipts in {}",
            dir.display()
        )));
    }
    let shas: HashMap<String, usize> = all
        .iter()
        .enumerate()
        .map(|(i, l)| (l.sha.clone(), i))
        .collect();
    let starts: Vec<usize> = (0..all.len())
        .filter(|i| {
            all[*i]
                .receipt
                .previous
                .as_ref()
                .is_none_or(|p| !shas.contains_key(&p.receipt_sha256))
        })
        .collect();
    if starts.len() != 1 {
        let names: Vec<String> = starts
            .iter()
            .map(|i| all[*i].path.display().to_string())
            .collect();
        return Err(SealError::Receipt(format!(
            "{} does not hold one chain: {} receipts start one ({})",
            dir.display(),
            starts.len(),
            names.join(", ")
        )));
    }
    let mut next: HashMap<String, usize> = HashMap::new();
    for (i, l) in all.iter().enumerate() {
        if let Some(p) = &l.receipt.previous {
            if next.insert(p.receipt_sha256.clone(), i).is_some() {
                return Err(SealError::Receipt(format!(
                    "two receipts continue {} (a fork)",
                    p.file
                )));
            }
        }
    }
    let mut chain = vec![starts[0]];
    while let Some(n) = next.get(&all[*chain.last().expect("one")].sha) {
        chain.push(*n);
    }
    if chain.len() != all.len() {
        return Err(SealError::Receipt(format!(
            "{} of the {} receipts in {} are not in the chain",
            all.len() - chain.len(),
            all.len(),
            dir.display()
        )));
    }
    let mut slots: Vec<Option<Loaded>> = all.into_iter().map(Some).collect();
    Ok(chain
        .into_iter()
        .map(|i| slots[i].take().expect("once"))
        .collect())
}

/// What is wrong with the link from `prev` to `cur` (None: sound).
fn link_problem(prev: &Loaded, cur: &Loaded) -> Option<String> {
    let p = cur.receipt.previous.as_ref()?;
    if p.root != prev.receipt.root {
        return Some(format!(
            "records {} as the previous root, but {} has {}",
            p.root,
            prev.path.display(),
            prev.receipt.root
        ));
    }
    let (a, b) = (&prev.receipt.range, &cur.receipt.range);
    let follows = match (&a.stream, a.to_position, a.to_version) {
        (Some(_), _, Some(v)) => b.stream == a.stream && b.from_version == Some(v + 1),
        (None, Some(to), _) => b.from_position == Some(to + 1),
        _ => false,
    };
    (!follows).then(|| {
        format!(
            "its range ({}) does not follow {}'s ({})",
            b.describe(),
            prev.path.display(),
            a.describe()
        )
    })
}

pub async fn verify_chain(
    stores: &[Store],
    dir: &Path,
    opts: &VerifyOptions,
) -> Result<Vec<ChainEntry>, SealError> {
    let chain = order(dir)?;
    let mut out = Vec::new();
    for (i, cur) in chain.iter().enumerate() {
        let link = match i {
            0 => Ok("first".to_string()),
            _ => match link_problem(&chain[i - 1], cur) {
                None => Ok("ok".to_string()),
                Some(p) => Err(p),
            },
        };
        let v = verify::verify(stores, &cur.receipt, &cur.raw, &cur.path, opts).await;
        let link_ok = link.is_ok();
        let link = link.unwrap_or_else(|p| format!("broken: {p}"));
        let entry = match v {
            Ok(r) => {
                let exit = match (link_ok, r.status) {
                    (false, _) => 2,
                    (true, Status::Unchanged) => 0,
                    (true, Status::Changed) => 1,
                };
                ChainEntry {
                    receipt: cur.path.display().to_string(),
                    link,
                    report: Some(r),
                    error: None,
                    exit,
                }
            }
            Err(e) => ChainEntry {
                receipt: cur.path.display().to_string(),
                link,
                report: None,
                error: Some(e.to_string()),
                exit: 2,
            },
        };
        out.push(entry);
    }
    Ok(out)
}
