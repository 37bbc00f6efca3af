//! The sealing pass: read a range in log order (the replay's [`Reader`], so the settled-head
//! rules hold), hash each event's canonical bytes, write the digest file and compute the root.
//!
//! With several jobs the range (over global positions) is cut into position slices read at
//! once, each on its own connection (stores may be several servers holding the same data,
//! such as a primary's hot standbys). Each job writes its slice's records to a digest segment;
//! once every job's count is known each segment's leaves form a [`CompactRange`] at its offset,
//! built on a thread of its own, and the ranges merge into exactly the root one job computes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SealError;
use super::canonical::Canonical;
use super::digests::{self, Record};
use super::merkle::{CompactRange, Hash, Subtrees, subtree_level};
use crate::replay::range::{EventRef, Range, Reader};
use crate::store::{Event, Store};

/// What orders the records of a range (and keys them in the digest file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The global position.
    Position,
    /// The stream version (a range of one stream).
    Version,
    /// The index in the range (a layout without a global position).
    Index,
}

impl KeyKind {
    pub fn of(store: &Store, range: &Range) -> KeyKind {
        if range.stream.is_some() {
            KeyKind::Version
        } else if store.layout().position.is_some() {
            KeyKind::Position
        } else {
            KeyKind::Index
        }
    }

    fn key(self, e: &Event, index: u64) -> i64 {
        match self {
            KeyKind::Position => e.global_position.unwrap_or(index as i64),
            KeyKind::Version => e.stream_version,
            KeyKind::Index => index as i64,
        }
    }
}

/// What the pass found.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub count: u64,
    pub first: Option<EventRef>,
    pub last: Option<EventRef>,
    pub root: Hash,
    /// The roots of its aligned subtrees (None: the level asked for recorded too many, a range
    /// that grew since its seal).
    pub subtrees: Option<Subtrees>,
    /// Rows hashed as their raw bytes (a JSON field that is not valid JSON).
    pub raw_rows: u64,
    pub settled_through: Option<i64>,
    pub key: KeyKind,
}

/// How a pass runs.
pub struct Options {
    /// Jobs reading at once (1: one read in order).
    pub jobs: usize,
    pub max_wait: Duration,
    /// Called with the number of events hashed so far (all jobs together).
    pub progress: Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>,
}

/// One job's slice.
struct Part {
    count: u64,
    first: Option<EventRef>,
    last: Option<EventRef>,
    raw_rows: u64,
    settled_through: Option<i64>,
}

/// Seal `range` (already frozen) of `stores[0]`'s data, writing the digest file `out`. Job `i`
/// reads from `stores[i % stores.len()]`. The subtrees are recorded at `level` (a receipt's,
/// when verifying), else at the level [`subtree_level`] gives for the count.
pub async fn seal(
    stores: &[Store],
    range: &Range,
    out: &Path,
    opts: &Options,
    level: Option<u32>,
) -> Result<Sealed, SealError> {
    let store = &stores[0];
    let key = KeyKind::of(store, range);
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if opts.jobs <= 1 || key != KeyKind::Position {
        if opts.jobs > 1 {
            return Err(SealError::Usage(
                "--jobs needs a range over global positions (not one stream, and a layout with a position)".into(),
            ));
        }
        let mut w = digests::Writer::create(out)?;
        let mut c = match level {
            Some(l) => CompactRange::watching(0, l),
            None => CompactRange::watching_rising(),
        };
        let part = read_part(store, range, key, opts, &counter, &mut |r| {
            c.push(r.leaf);
            w.push(r)
        })
        .await?;
        w.finish()?;
        return Ok(Sealed {
            count: part.count,
            first: part.first,
            last: part.last,
            root: c.root(),
            subtrees: c.subtrees(&[]),
            raw_rows: part.raw_rows,
            settled_through: part.settled_through,
            key,
        });
    }
    let (lo, hi) = bounds(store, range, opts.max_wait).await?;
    let Some((lo, hi)) = lo.zip(hi) else {
        // An empty range: one job says so.
        return Box::pin(seal(
            &stores[..1],
            range,
            out,
            &Options {
                jobs: 1,
                max_wait: opts.max_wait,
                progress: opts.progress.clone(),
            },
            level,
        ))
        .await;
    };
    let n = opts.jobs as i64;
    let span = hi - lo + 1;
    let mut slices = Vec::new();
    for i in 0..n {
        let a = lo + span * i / n;
        let b = lo + span * (i + 1) / n - 1;
        if a <= b {
            slices.push((a, b));
        }
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = out
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| "digests".into());
    let segs: Vec<PathBuf> = (0..slices.len())
        .map(|i| dir.join(format!(".{stem}.part{i}")))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, ((a, b), seg)) in slices.iter().zip(&segs).enumerate() {
        let mut sub = range.clone();
        sub.from_position = Some(*a);
        sub.to_position = Some(*b);
        let st = stores[i % stores.len()].clone();
        let seg = seg.clone();
        let counter = counter.clone();
        let opts = Options {
            jobs: 1,
            max_wait: opts.max_wait,
            progress: opts.progress.clone(),
        };
        tasks.spawn(async move {
            let mut w = digests::Writer::create(&seg)?;
            let part = read_part(&st, &sub, key, &opts, &counter, &mut |r| w.push(r)).await?;
            w.finish()?;
            Ok::<_, SealError>((i, part))
        });
    }
    let mut parts: Vec<Option<Part>> = (0..slices.len()).map(|_| None).collect();
    let cleanup = |segs: &[PathBuf]| {
        for s in segs {
            let _ = std::fs::remove_file(s);
        }
    };
    while let Some(j) = tasks.join_next().await {
        match j {
            Ok(Ok((i, p))) => parts[i] = Some(p),
            Ok(Err(e)) => {
                tasks.abort_all();
                cleanup(&segs);
                return Err(e);
            }
            Err(e) => {
                cleanup(&segs);
                return Err(SealError::Io(format!("a seal job ended: {e}")));
            }
        }
    }
    let parts: Vec<Part> = parts.into_iter().map(|p| p.expect("joined")).collect();
    // Each segment's subtree roots at its offset, built at once, then merged in order.
    let mut offsets = Vec::new();
    let mut total = 0u64;
    for p in &parts {
        offsets.push(total);
        total += p.count;
    }
    let level = level.unwrap_or_else(|| subtree_level(total));
    let ranges = tokio::task::spawn_blocking({
        let segs = segs.clone();
        move || {
            std::thread::scope(|s| {
                let hs: Vec<_> = segs
                    .iter()
                    .zip(&offsets)
                    .map(|(seg, off)| {
                        s.spawn(move || {
                            digests::Reader::open(seg)?.compact_range_watching(*off, level)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(SealError::Io("a hashing thread failed".into()))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
        }
    })
    .await
    .map_err(|e| SealError::Io(e.to_string()))?;
    let ranges = match ranges {
        Ok(r) => r,
        Err(e) => {
            cleanup(&segs);
            return Err(e);
        }
    };
    let mut acc = CompactRange::watching(0, level);
    // The subtrees each job completed; those across two jobs' slices complete in `acc`.
    let mut more = Vec::new();
    let mut whole = true;
    for r in &ranges {
        acc.append(r).map_err(|e| SealError::Io(e.to_string()))?;
        match r.watched() {
            Some((_, done)) => more.extend_from_slice(done),
            None => whole = false,
        }
    }
    let mut w = digests::Writer::create(out)?;
    for s in &segs {
        w.append_file(s)?;
    }
    w.finish()?;
    cleanup(&segs);
    Ok(Sealed {
        count: total,
        first: parts.iter().find_map(|p| p.first.clone()),
        last: parts.iter().rev().find_map(|p| p.last.clone()),
        root: acc.root(),
        subtrees: acc.subtrees(&more).filter(|_| whole),
        raw_rows: parts.iter().map(|p| p.raw_rows).sum(),
        settled_through: parts.last().and_then(|p| p.settled_through),
        key,
    })
}

/// The first position of the range (its first event's) and its last (the frozen end).
async fn bounds(
    store: &Store,
    range: &Range,
    max_wait: Duration,
) -> Result<(Option<i64>, Option<i64>), SealError> {
    let hi = range.to_position;
    let lo = match range.from_position {
        Some(p) => Some(p),
        None => {
            let mut r = Reader::new(store.clone(), range.clone(), None)?
                .with_page(1)
                .with_max_wait(max_wait);
            r.next_page()
                .await?
                .and_then(|p| p.first().and_then(|e| e.global_position))
        }
    };
    Ok((lo, hi.filter(|h| lo.is_none_or(|l| l <= *h))))
}

/// Read one range in order, handing each event's record to `sink`. Pages are read by a task
/// of their own while the previous page is hashed.
async fn read_part(
    store: &Store,
    range: &Range,
    key: KeyKind,
    opts: &Options,
    counter: &std::sync::Arc<std::sync::atomic::AtomicU64>,
    sink: &mut (dyn FnMut(&Record) -> Result<(), SealError> + Send),
) -> Result<Part, SealError> {
    // The events' JSON is hashed from its stored text (nothing parses it into values on the
    // reading task: see Store::keeping_json_text), and the range is read through one query,
    // whose rows the database sends as COPY would.
    let mut reader = Reader::in_one_query(store.keeping_json_text(), range.clone(), None)?
        .with_max_wait(opts.max_wait);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let feeder = tokio::spawn(async move {
        loop {
            match reader.next_page().await {
                Ok(Some(p)) => {
                    if tx.send(Ok(p)).await.is_err() {
                        return None;
                    }
                }
                Ok(None) => return Some(reader.settled_through()),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return None;
                }
            }
        }
    });
    let mut part = Part {
        count: 0,
        first: None,
        last: None,
        raw_rows: 0,
        settled_through: None,
    };
    while let Some(page) = rx.recv().await {
        let page = page?;
        // Hashing is CPU work: off the reactor's threads, one page at a time.
        let start = part.count;
        let (page, recs) = tokio::task::spawn_blocking(move || {
            let recs = page
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let c = Canonical::of(e);
                    (c.has_raw(), Record::of(key.key(e, start + i as u64), &c))
                })
                .collect::<Vec<_>>();
            (page, recs)
        })
        .await
        .map_err(|e| SealError::Io(format!("hashing ended: {e}")))?;
        for (raw, r) in &recs {
            sink(r)?;
            part.raw_rows += u64::from(*raw);
        }
        if part.first.is_none() {
            part.first = page.first().map(EventRef::from);
        }
        part.last = page.last().map(EventRef::from).or(part.last);
        part.count += page.len() as u64;
        let all = counter.fetch_add(page.len() as u64, std::sync::atomic::Ordering::Relaxed)
            + page.len() as u64;
        if let Some(p) = &opts.progress {
            p(all);
        }
    }
    part.settled_through = feeder
        .await
        .map_err(|e| SealError::Io(format!("the reader ended: {e}")))?
        .flatten();
    if let (Some(s), Some(to)) = (part.settled_through, range.to_position) {
        part.settled_through = Some(s.min(to));
    }
    Ok(part)
}
