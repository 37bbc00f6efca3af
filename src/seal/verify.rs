//! `verify-seal`: read a sealed range again and say whether it is unchanged, or what the
//! first difference is.
//!
//! The range is sealed again exactly as the receipt's was (same frozen range, same reader,
//! same jobs machinery) into a temporary digest file. Equal roots: unchanged. Otherwise the
//! receipt's own digest file — checked first against the receipt's root, so a doctored digest
//! file is refused — and the new one are walked side by side in key order: a key only the
//! store has is an inserted event, one only the seal has a missing event, a key whose leaf
//! differs a changed event (the fields named by their tags), and an event whose content (all
//! but its position) was sealed at another key is a moved one. Both files are streamed, so
//! memory stays bounded whatever the size of the range.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::SealError;
use super::build::{self, KeyKind, Options};
use super::digests::{self, Record};
use super::merkle::{self, CompactRange, Subtrees};
use super::receipt::{Receipt, identify};
use crate::replay::range::EventRef;
use crate::store::{Cursor, Direction, Event, LogQuery, Start, Store, StreamRead};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unchanged,
    Changed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The same key, other content.
    Changed,
    /// Sealed, no longer in the store.
    Missing,
    /// In the store, not sealed.
    Inserted,
    /// Sealed at another key: the same event (all but its position) now here.
    Moved,
}

/// The first difference.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// What the key is (position, version, index) and its value.
    pub key_kind: KeyKind,
    pub key: i64,
    /// The fields that differ (changed and moved events).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
    /// For a moved event: the key it was sealed at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_at: Option<i64>,
    /// The event the store holds there now (none for a missing one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRef>,
}

impl Finding {
    pub fn describe(&self) -> String {
        let key = match self.key_kind {
            KeyKind::Position => format!("position {}", self.key),
            KeyKind::Version => format!("version {}", self.key),
            KeyKind::Index => format!("event #{} of the range", self.key),
        };
        let ev = self
            .event
            .as_ref()
            .map_or(String::new(), |e| format!(" ({})", e.describe()));
        match self.kind {
            FindingKind::Changed => format!("changed at {key}{ev}: {}", self.fields.join(", ")),
            FindingKind::Missing => format!("missing: the event sealed at {key} is gone"),
            FindingKind::Inserted => format!("inserted at {key}{ev}: not in the seal"),
            FindingKind::Moved => format!(
                "moved: the event sealed at {} is now at {key}{ev}",
                self.sealed_at.map_or("?".into(), |k| k.to_string())
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub receipt: String,
    pub status: Status,
    pub range: String,
    pub sealed_count: u64,
    pub count_now: u64,
    pub sealed_root: String,
    pub root_now: String,
    /// The public key that signed the receipt (when signed; the signature was checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<Finding>,
    /// How many events differ, the first included (0 when unchanged).
    pub differing: u64,
    /// How many differ after the first.
    pub differing_after_first: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Verified as a copy of the sealed store (`--copy`), whose identity is its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    /// Which of the receipt's subtrees differ (a receipt that has them, and a change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtrees: Option<SubtreeReport>,
}

/// The receipt's subtrees against the store's now: where in the range the difference lies,
/// known from the receipt alone (no digest file needed).
#[derive(Debug, Clone, Serialize)]
pub struct SubtreeReport {
    /// Events in each subtree (the last holds what remains).
    pub events_each: u64,
    /// Subtrees in the receipt.
    pub sealed: usize,
    /// Subtrees that differ (or that one side lacks).
    pub differing: usize,
    /// The first that differs, numbered from 0.
    pub first: usize,
    /// The events of the range it covers: indexes in the range, from 0, the end excluded.
    pub first_events: (u64, u64),
    /// The keys (positions, versions) of its first and last event as the store holds them
    /// now (none when the store now ends before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_keys_now: Option<(i64, i64)>,
}

impl SubtreeReport {
    fn describe(&self, key: KeyKind) -> String {
        let (a, b) = self.first_events;
        let now = self.first_keys_now.map_or(String::new(), |(x, y)| {
            let what = match key {
                KeyKind::Position => "position",
                KeyKind::Version => "version",
                KeyKind::Index => "event",
            };
            if x == y {
                format!(" ({what} {x} now)")
            } else {
                format!(" ({what}s {x}–{y} now)")
            }
        });
        let events = if b == a + 1 {
            format!("event {b}")
        } else {
            format!("events {}–{b}", a + 1)
        };
        let each = match self.events_each {
            1 => "1 event".to_string(),
            n => format!("{n} events"),
        };
        format!(
            "subtrees of {each}: {} of {} differ; the first is #{}, {events} of the range{now}",
            self.differing, self.sealed, self.first,
        )
    }
}

impl Report {
    /// One paragraph for people (the CLI's table, the TUI's dialog).
    pub fn summary(&self) -> String {
        let r = self;
        let signed = r
            .signed_by
            .as_ref()
            .map_or(String::new(), |k| format!(", signature by {k} valid"));
        let copy = r
            .copy_of
            .as_ref()
            .map_or(String::new(), |c| format!("\n{c}"));
        let said = match r.status {
            Status::Unchanged => format!(
                "unchanged: {} events, root {}{signed}",
                r.sealed_count, r.sealed_root
            ),
            Status::Changed => {
                let mut s = format!(
                    "CHANGED: sealed {} events (root {}), the store now gives {} (root {}){signed}",
                    r.sealed_count, r.sealed_root, r.count_now, r.root_now
                );
                if let Some(f) = &r.first_difference {
                    s.push_str(&format!(
                        "\nfirst difference: {}\n{} more differ after it",
                        f.describe(),
                        r.differing_after_first
                    ));
                }
                // Subtrees of one event each are the events themselves: the first difference
                // already says it (without a digest file, they still locate it).
                if let Some(t) = r
                    .subtrees
                    .as_ref()
                    .filter(|t| t.events_each > 1 || r.first_difference.is_none())
                {
                    let key = r
                        .first_difference
                        .as_ref()
                        .map_or(KeyKind::Position, |f| f.key_kind);
                    s.push_str(&format!("\n{}", t.describe(key)));
                }
                if let Some(n) = &r.note {
                    s.push_str(&format!("\n{n}"));
                }
                s
            }
        };
        format!("{said}{copy}")
    }
}

pub struct VerifyOptions {
    pub pass: Options,
    pub key: Option<ed25519_dalek::VerifyingKey>,
    pub digests: Option<PathBuf>,
    /// The store is a copy of the sealed one (`--copy`): only its kind and layout must match.
    pub copy: bool,
}

/// Check a receipt's signature (when signed, or when a key is required) and that `stores`
/// are the store it was made on.
/// The signer (when signed) and, for a copy, what its identity says of it.
pub async fn check_receipt(
    stores: &[Store],
    receipt: &Receipt,
    raw: &[u8],
    key: Option<&ed25519_dalek::VerifyingKey>,
    copy: bool,
) -> Result<(Option<String>, Option<String>), SealError> {
    let signed_by = receipt.check_signature(Some(raw), key)?;
    let mut note = None;
    for s in stores {
        let now = identify(s).await?;
        let m = if copy {
            receipt.store.mismatch_of_copy(&now)
        } else {
            receipt.store.mismatch(&now)
        };
        if let Some(m) = m {
            return Err(SealError::OtherStore(m));
        }
        if copy && note.is_none() {
            note = receipt.store.copy_note(&now);
        }
    }
    receipt.root_hash()?;
    receipt.subtrees()?;
    Ok((signed_by, note))
}

pub async fn verify(
    stores: &[Store],
    receipt: &Receipt,
    raw: &[u8],
    receipt_path: &Path,
    opts: &VerifyOptions,
) -> Result<Report, SealError> {
    let (signed_by, copy_of) =
        check_receipt(stores, receipt, raw, opts.key.as_ref(), opts.copy).await?;
    let sealed_root = receipt.root_hash()?;
    let sealed_subtrees = receipt.subtrees()?;
    // The store's records now, in a temporary file (removed at the end), and its subtrees at
    // the receipt's level.
    let temp = super::temp_digests("verify");
    let result = async {
        let level = sealed_subtrees.as_ref().map(|t| t.level);
        let now = build::seal(stores, &receipt.range, &temp, &opts.pass, level).await?;
        let mut report = Report {
            receipt: receipt_path.display().to_string(),
            status: Status::Unchanged,
            range: receipt.range_text.clone(),
            sealed_count: receipt.count,
            count_now: now.count,
            sealed_root: receipt.root.clone(),
            root_now: merkle::hex(&now.root),
            signed_by,
            first_difference: None,
            differing: 0,
            differing_after_first: 0,
            note: None,
            copy_of,
            subtrees: None,
        };
        if now.root == sealed_root && now.count == receipt.count {
            return Ok(report);
        }
        report.status = Status::Changed;
        // Down the tree: the subtrees that differ, and where the first lies. The events before
        // it are the sealed ones, leaf for leaf: the walk below starts there.
        let mut start = 0u64;
        if let (Some(a), Some(b)) = (&sealed_subtrees, &now.subtrees) {
            let n = a.roots.len().max(b.roots.len());
            let differs = |i: &usize| a.roots.get(*i) != b.roots.get(*i);
            if let Some(first) = (0..n).find(differs) {
                let (x, y) = a.span(first, receipt.count.max(now.count));
                start = x;
                let mut r = digests::Reader::open(&temp)?;
                let keys = if x < now.count {
                    let last = y.min(now.count) - 1;
                    Some((r.record_at(x)?.key, r.record_at(last)?.key))
                } else {
                    None
                };
                report.subtrees = Some(SubtreeReport {
                    events_each: 1u64 << a.level,
                    sealed: a.roots.len(),
                    differing: (0..n).filter(differs).count(),
                    first,
                    first_events: (x, y),
                    first_keys_now: keys,
                });
            }
        }
        let Some(dpath) = receipt.digests_path(receipt_path, opts.digests.as_deref()) else {
            report.note =
                Some("the receipt names no digest file: which event changed cannot be said".into());
            return Ok(report);
        };
        // A receipt copied without its digest file still says the range changed (exit 1);
        // only which event cannot be said.
        if !dpath.exists() {
            report.note = Some(format!(
                "the digest file {} is not there (seal writes it beside the receipt; --digests FILE names another place): which event changed cannot be said",
                dpath.display()
            ));
            return Ok(report);
        }
        // With the receipt's subtrees, the digest file's records are checked subtree by
        // subtree as the walk reads them (those before `start` are never read); without,
        // the whole file is checked first.
        let sealed = match &sealed_subtrees {
            Some(t) => {
                check_count(&dpath, receipt)?;
                Sealed::Checked(t)
            }
            None => {
                check_digests(&dpath, receipt)?;
                Sealed::Whole
            }
        };
        let (first, total) = compare(&temp, &dpath, now.key, start, sealed)?;
        report.differing = total;
        report.differing_after_first = total.saturating_sub(1);
        if let Some(mut f) = first {
            if f.kind != FindingKind::Missing {
                f.event = event_at(&stores[0], receipt, f.key)
                    .await?
                    .as_ref()
                    .map(EventRef::from);
            }
            report.first_difference = Some(f);
        }
        if total == 0 {
            report.note = Some("the roots differ but every record agrees".into());
        }
        Ok(report)
    }
    .await;
    let _ = std::fs::remove_file(&temp);
    result
}

/// A digest file is believed only when its leaves give the receipt's root.
pub fn check_digests(path: &Path, receipt: &Receipt) -> Result<(), SealError> {
    let r = check_count(path, receipt)?;
    let root = r.compact_range(0)?.root();
    if merkle::hex(&root) != receipt.root {
        return Err(SealError::Digests(format!(
            "{} does not give the receipt's root: it is not this receipt's digest file (or it was changed)",
            path.display()
        )));
    }
    Ok(())
}

/// The digest file opened, when it holds as many records as the receipt sealed.
fn check_count(path: &Path, receipt: &Receipt) -> Result<digests::Reader, SealError> {
    let r = digests::Reader::open(path)?;
    if r.count() != receipt.count {
        return Err(SealError::Digests(format!(
            "{} holds {} events, the receipt {}: it is not this receipt's digest file",
            path.display(),
            r.count(),
            receipt.count
        )));
    }
    Ok(r)
}

/// How the sealed records of a walk are believed.
#[derive(Clone, Copy)]
enum Sealed<'a> {
    /// The whole file was checked against the receipt's root before.
    Whole,
    /// Each subtree is checked against the receipt's root for it as it is read.
    Checked(&'a Subtrees),
}

/// A digest file's records read from the start of a subtree on; with [`Sealed::Checked`],
/// each subtree's records, once read, must give the receipt's root for that subtree (else
/// the file is not the receipt's: an error, whatever the walk found).
struct SealedRecords<'a> {
    r: digests::Reader,
    path: &'a Path,
    check: Option<&'a Subtrees>,
    /// The index of the next record, and the leaves of the subtree being read.
    next: u64,
    acc: CompactRange,
}

impl<'a> SealedRecords<'a> {
    /// From record `start` (with a check, the first of a subtree).
    fn open(path: &'a Path, start: u64, sealed: Sealed<'a>) -> Result<Self, SealError> {
        let mut r = digests::Reader::open(path)?;
        let check = match sealed {
            Sealed::Whole => None,
            Sealed::Checked(t) => Some(t),
        };
        let start = match check {
            Some(t) => start >> t.level << t.level,
            None => start,
        };
        r.seek(start)?;
        Ok(SealedRecords {
            r,
            path,
            check,
            next: start,
            acc: CompactRange::new(0),
        })
    }

    fn next_record(&mut self) -> Result<Option<Record>, SealError> {
        let rec = self.r.next_record()?;
        let Some(t) = self.check else {
            return Ok(rec);
        };
        match rec {
            Some(r) => {
                self.acc.push(r.leaf);
                self.next += 1;
                if self.next.trailing_zeros() >= t.level {
                    self.check_subtree(t)?;
                }
            }
            // The last subtree, when it holds fewer.
            None if self.acc.end() > 0 => self.check_subtree(t)?,
            None => {}
        }
        Ok(rec)
    }

    /// Read on to the end of the subtree being read, checking it.
    fn finish_subtree(&mut self) -> Result<(), SealError> {
        while self.check.is_some() && self.acc.end() > 0 {
            if self.next_record()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn check_subtree(&mut self, t: &Subtrees) -> Result<(), SealError> {
        let i = ((self.next - 1) >> t.level) as usize;
        let root = std::mem::replace(&mut self.acc, CompactRange::new(0)).root();
        if t.roots.get(i) != Some(&root) {
            return Err(SealError::Digests(format!(
                "{} does not give the receipt's root for its events {}–{}: it is not this receipt's digest file (or it was changed)",
                self.path.display(),
                (i as u64) << t.level,
                self.next
            )));
        }
        Ok(())
    }
}

/// Walk the store's records (`now`) beside the sealed ones from record `start` (the records
/// before it are known to agree): the first difference and how many there are.
fn compare(
    now: &Path,
    sealed_path: &Path,
    key: KeyKind,
    start: u64,
    sealed: Sealed,
) -> Result<(Option<Finding>, u64), SealError> {
    let mut a = digests::Reader::open(now)?;
    let mut b = SealedRecords::open(sealed_path, start, sealed)?;
    a.seek(start)?;
    // The current record of each side and the one after it (a one-record look-ahead).
    let mut x = a.next_record()?;
    let mut xn = a.next_record()?;
    let mut y = b.next_record()?;
    let mut yn = b.next_record()?;
    let mut first: Option<(FindingKind, Record, Option<Record>)> = None;
    let mut total = 0u64;
    let by_key = key != KeyKind::Index;
    loop {
        // What differs here (None: nothing), and which sides move on: now (a), sealed (b).
        let (found, step_a, step_b) = match (x, y) {
            (None, None) => break,
            (Some(p), None) => (Some((FindingKind::Inserted, p, None)), true, false),
            (None, Some(q)) => (Some((FindingKind::Missing, q, Some(q))), false, true),
            (Some(p), Some(q)) if by_key && p.key < q.key => {
                (Some((FindingKind::Inserted, p, None)), true, false)
            }
            (Some(p), Some(q)) if by_key && p.key > q.key => {
                (Some((FindingKind::Missing, q, Some(q))), false, true)
            }
            (Some(p), Some(q)) if p.leaf == q.leaf => (None, true, true),
            // Keyed by index, a deleted or inserted event shifts every index after it: the
            // look-ahead tells a deletion (the next sealed event is the one here now) and an
            // insertion (the next event now is the one sealed here) from a change, and the
            // walk goes on aligned.
            (Some(p), Some(q)) if !by_key && yn.is_some_and(|n| n.same_content(&p)) => {
                (Some((FindingKind::Missing, q, Some(q))), false, true)
            }
            (Some(p), Some(q)) if !by_key && xn.is_some_and(|n| n.same_content(&q)) => {
                (Some((FindingKind::Inserted, p, None)), true, false)
            }
            (Some(p), Some(q)) => (Some((FindingKind::Changed, p, Some(q))), true, true),
        };
        if step_a {
            x = xn;
            xn = a.next_record()?;
        }
        if step_b {
            y = yn;
            yn = b.next_record()?;
        }
        let Some((kind, now_rec, sealed_rec)) = found else {
            continue;
        };
        total += 1;
        if first.is_none() {
            first = Some((kind, now_rec, sealed_rec));
        }
    }
    let Some((kind, rec, sealed_rec)) = first else {
        return Ok((None, 0));
    };
    let mut f = Finding {
        kind,
        key_kind: key,
        key: rec.key,
        fields: vec![],
        sealed_at: None,
        event: None,
    };
    if kind == FindingKind::Changed {
        f.fields = rec.changed_fields(sealed_rec.as_ref().expect("a sealed record"));
    }
    // An event that is not the one sealed here (another id) may be one sealed elsewhere.
    let other_event = match kind {
        FindingKind::Inserted => true,
        FindingKind::Changed => f.fields.contains(&"id"),
        _ => false,
    };
    if other_event {
        let mut s = SealedRecords::open(sealed_path, 0, sealed)?;
        while let Some(r) = s.next_record()? {
            if r.key != rec.key && r.same_content(&rec) {
                // Believed once its subtree is.
                s.finish_subtree()?;
                f.kind = FindingKind::Moved;
                f.sealed_at = Some(r.key);
                f.fields = vec!["position"];
                break;
            }
        }
    }
    Ok((Some(f), total))
}

/// The event of the receipt's range at `key` now (None: no such event, or a layout keyed by
/// index).
pub async fn event_at(
    store: &Store,
    receipt: &Receipt,
    key: i64,
) -> Result<Option<Event>, SealError> {
    Ok(match receipt.key {
        KeyKind::Position => store
            .read_log(&LogQuery {
                filter: Default::default(),
                start: Start::At(Cursor::Position(key)),
                direction: Direction::Forward,
                limit: 1,
                up_to: Some(key),
            })
            .await?
            .into_iter()
            .next(),
        KeyKind::Version => match &receipt.range.stream {
            Some(s) => store
                .read_stream(
                    s,
                    &StreamRead {
                        from_version: Some(key),
                        to_version: Some(key),
                        direction: Direction::Forward,
                        limit: 1,
                        ..Default::default()
                    },
                )
                .await?
                .into_iter()
                .next(),
            None => None,
        },
        KeyKind::Index => None,
    })
}
