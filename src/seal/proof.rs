//! Inclusion proofs: that one event, with its exact content, is in a sealed range.
//!
//! `prove` reads the event from the store, checks that it still hashes to the leaf the
//! digest file sealed, and writes its canonical bytes with the RFC 6962 audit path (the
//! sibling subtree hashes, from the digest file in one streamed pass). `check-proof` needs
//! no database: the canonical bytes hash to the leaf, the path leads to the receipt's root.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SealError;
use super::build::KeyKind;
use super::canonical::{Canonical, text_jcs};
use super::digests::{self, Record};
use super::merkle::{self, CompactRange, Hash, leaf_hash, path_ranges, root_from_path};
use super::receipt::Receipt;
use super::verify::{check_digests, event_at};
use crate::store::Store;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proof {
    pub evscope_proof: u32,
    /// The receipt's root and count, which the proof leads to.
    pub root: String,
    pub tree_size: u64,
    pub leaf_index: u64,
    pub key_kind: KeyKind,
    pub key: i64,
    /// The event's canonical bytes (see the receipt's `encoding`).
    pub event: String,
    pub leaf_hash: String,
    /// Sibling subtree hashes, from the leaf up.
    pub path: Vec<String>,
}

/// What a proof establishes.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub valid: bool,
    pub root: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub event: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// The key of the event `selector` names: a number is the key itself (a position, or a
/// version for a receipt of one stream), anything else an event id.
async fn key_of(store: &Store, receipt: &Receipt, selector: &str) -> Result<i64, SealError> {
    if let Ok(k) = selector.parse::<i64>() {
        return Ok(k);
    }
    let e = store
        .find_event(selector)
        .await?
        .ok_or_else(|| SealError::NotFound(format!("no event with id {selector} in the store")))?;
    match receipt.key {
        KeyKind::Position => e
            .global_position
            .ok_or_else(|| SealError::NotFound(format!("event {selector} has no global position"))),
        KeyKind::Version => Ok(e.stream_version),
        KeyKind::Index => Err(SealError::Usage(
            "this layout has no global position: name the event by its index in the range".into(),
        )),
    }
}

pub async fn prove(
    store: &Store,
    receipt: &Receipt,
    digests_path: &Path,
    selector: &str,
) -> Result<Proof, SealError> {
    if receipt.key == KeyKind::Index {
        return Err(SealError::Usage(
            "proofs need a layout with global positions, or a range of one stream".into(),
        ));
    }
    check_digests(digests_path, receipt)?;
    let key = key_of(store, receipt, selector).await?;
    let mut d = digests::Reader::open(digests_path)?;
    let index = d.find_key(key)?.ok_or_else(|| {
        SealError::NotFound(format!(
            "no event at {key} in the sealed range ({})",
            receipt.range_text
        ))
    })?;
    let sealed = d.record_at(index)?;
    let Some(e) = event_at(store, receipt, key).await? else {
        return Err(SealError::Changed(format!(
            "the event sealed at {key} is no longer in the store"
        )));
    };
    let c = Canonical::of(&e);
    let now = Record::of(key, &c);
    if now.leaf != sealed.leaf {
        return Err(SealError::Changed(format!(
            "the event at {key} changed since the seal ({}): no proof of what the store holds now",
            now.changed_fields(&sealed).join(", ")
        )));
    }
    let path = audit_path(digests_path, index, receipt.count)?;
    Ok(Proof {
        evscope_proof: FORMAT,
        root: receipt.root.clone(),
        tree_size: receipt.count,
        leaf_index: index,
        key_kind: receipt.key,
        key,
        event: String::from_utf8(c.bytes()).map_err(|e| SealError::Io(e.to_string()))?,
        leaf_hash: merkle::hex(&now.leaf),
        path: path.iter().map(merkle::hex).collect(),
    })
}

/// The audit path of leaf `m` of `n`: each sibling subtree's root, from one pass over the
/// digest file (the ranges are disjoint and in file order once sorted).
fn audit_path(digests_path: &Path, m: u64, n: u64) -> Result<Vec<Hash>, SealError> {
    let ranges = path_ranges(m, n);
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|i| ranges[*i].0);
    let mut out = vec![[0u8; 32]; ranges.len()];
    let mut d = digests::Reader::open(digests_path)?;
    for i in order {
        let (a, b) = ranges[i];
        let mut c = CompactRange::new(a);
        if a < b {
            c.push(d.record_at(a)?.leaf);
            for _ in a + 1..b {
                let r = d
                    .next_record()?
                    .ok_or_else(|| SealError::Digests("the digest file ended early".into()))?;
                c.push(r.leaf);
            }
        }
        out[i] = c.root();
    }
    Ok(out)
}

/// Check a proof against a receipt (no database).
pub fn check(
    proof: &Proof,
    receipt: &Receipt,
    receipt_raw: &[u8],
    key: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<Checked, SealError> {
    let signed_by = receipt.check_signature(Some(receipt_raw), key)?;
    let bad = |why: String| Err(SealError::BadProof(why));
    if proof.evscope_proof != FORMAT {
        return bad(format!(
            "proof format {} (this evscope reads {FORMAT})",
            proof.evscope_proof
        ));
    }
    if proof.root != receipt.root || proof.tree_size != receipt.count {
        return bad("the proof is for another receipt (its root or size differ)".into());
    }
    if text_jcs(&proof.event).as_deref() != Some(proof.event.as_str()) {
        return bad("the event is not in canonical form (it was edited)".into());
    }
    let leaf = leaf_hash(proof.event.as_bytes());
    if merkle::hex(&leaf) != proof.leaf_hash {
        return bad("the event does not hash to the proof's leaf".into());
    }
    let path: Option<Vec<Hash>> = proof.path.iter().map(|h| merkle::parse_hex(h)).collect();
    let Some(path) = path else {
        return bad("the path holds something that is not a hash".into());
    };
    let root = receipt.root_hash()?;
    if root_from_path(proof.leaf_index, proof.tree_size, leaf, &path) != Some(root) {
        return bad("the path does not lead to the receipt's root".into());
    }
    let event: Value =
        serde_json::from_str(&proof.event).map_err(|e| SealError::BadProof(e.to_string()))?;
    let key_field = match proof.key_kind {
        KeyKind::Position => event.get("position").and_then(Value::as_i64),
        KeyKind::Version => event.get("version").and_then(Value::as_i64),
        KeyKind::Index => Some(proof.leaf_index as i64),
    };
    if key_field != Some(proof.key) {
        return bad("the event's key is not the proof's".into());
    }
    Ok(Checked {
        valid: true,
        root: receipt.root.clone(),
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        event,
        signed_by,
    })
}
