//! Keyset scans in (stream, version) order that read the next page while this one is used.
//!
//! The snapshot audit folds the events of a page while the database sends the next one: each
//! page that follows the one before it (a sequential read) starts the read of the page after
//! it on a task of its own, so folding and reading overlap. A jump over streams that have
//! nothing to check reads no page ahead, since the next stream to check may be far too.

use std::collections::VecDeque;
use std::future::Future;

use crate::task::AbortOnDrop;

use crate::store::{Event, Snapshot, Store, StoreError};

/// What a scan reads: every stream, one category or one stream (events only: up to a last
/// stream, and some of their columns).
pub use crate::store::ByStream as Filter;

/// A row of a scan in (stream, version) order, and how a page of them is read.
pub trait Keyed: Sized + Send + 'static {
    fn stream(&self) -> &str;
    fn version(&self) -> i64;
    /// The page of at most `limit` rows after `after` (from the first without).
    fn read(
        store: Store,
        filter: Filter,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send;
}

impl Keyed for Event {
    fn stream(&self) -> &str {
        &self.stream_id
    }
    fn version(&self) -> i64 {
        self.stream_version
    }
    async fn read(
        store: Store,
        f: Filter,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let after = after.as_ref().map(|(s, v)| (s.as_str(), *v));
        store.read_by_stream(after, limit, &f).await
    }
}

impl Keyed for Snapshot {
    fn stream(&self) -> &str {
        &self.stream_id
    }
    fn version(&self) -> i64 {
        self.stream_version
    }
    async fn read(
        store: Store,
        f: Filter,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let after = after.as_ref().map(|(s, v)| (s.as_str(), *v));
        store
            .snapshots_by_stream(after, limit, f.category.as_deref(), f.stream.as_deref())
            .await
    }
}

/// Rows in (stream, version) order, read in pages of `page`, that can jump ahead to a stream.
pub struct Scan<T: Keyed> {
    store: Store,
    filter: Filter,
    page: u32,
    buf: VecDeque<T>,
    /// The page after the buffer's, being read on a task of its own (aborted when dropped).
    ahead: Option<AbortOnDrop<Result<Vec<T>, StoreError>>>,
    /// The next page starts after this key (None: at the first row).
    after: Option<(String, i64)>,
    /// Whether a next page may exist (the last one read was full).
    more: bool,
}

impl<T: Keyed> Scan<T> {
    pub fn new(store: &Store, filter: Filter, page: u32) -> Scan<T> {
        Scan {
            store: store.clone(),
            filter,
            page: page.max(1),
            buf: VecDeque::new(),
            ahead: None,
            after: None,
            more: true,
        }
    }

    /// A scan from after a (stream, version) key on whose first page is being read already
    /// (for a part of the store that will be read through: nothing waits for its first page
    /// later).
    pub fn starting_at(store: &Store, filter: Filter, page: u32, after: (&str, i64)) -> Scan<T> {
        let mut scan = Scan::new(store, filter, page);
        scan.after = Some((after.0.to_string(), after.1));
        scan.ahead = Some(scan.start_read());
        scan
    }

    /// The next row, reading a page when the buffer is used up.
    pub async fn peek(&mut self) -> Result<Option<&T>, StoreError> {
        if self.buf.is_empty() {
            self.fill(true).await?;
        }
        Ok(self.buf.front())
    }

    /// Take the next row (after [`Self::peek`] saw it).
    pub fn pop(&mut self) -> Option<T> {
        self.buf.pop_front()
    }

    /// Skip what comes before `stream` (which must not be behind the scan). When that uses
    /// up the buffer and the page on its way, the scan restarts at `stream`: the streams in
    /// between are not read.
    pub async fn seek(&mut self, stream: &str) -> Result<(), StoreError> {
        self.drop_before(stream);
        if self.buf.is_empty() && self.ahead.is_some() {
            // Already on its way, and where a sequential read goes on.
            self.fill(true).await?;
            self.drop_before(stream);
        }
        if self.buf.is_empty() && self.more {
            self.ahead = None; // aborted
            self.after = Some((stream.to_string(), i64::MIN));
            self.fill(false).await?;
        }
        Ok(())
    }

    /// Drop rows up to the first of `stream`. By equality, never by comparing ids here: the
    /// rows come in the database's order, which is the column's collation (an ICU or a
    /// language collation puts `a-1` before `B-1`, bytes put it after). A stream that has no
    /// row empties the buffer, and [`Self::seek`] asks the database from it.
    fn drop_before(&mut self, stream: &str) {
        while self.buf.front().is_some_and(|r| r.stream() != stream) {
            self.buf.pop_front();
        }
    }

    fn start_read(&self) -> AbortOnDrop<Result<Vec<T>, StoreError>> {
        let read = T::read(
            self.store.clone(),
            self.filter.clone(),
            self.after.clone(),
            self.page,
        );
        AbortOnDrop::new(tokio::spawn(read))
    }

    /// Append the next page (the one on its way, or read now); with `read_ahead`, start
    /// reading the page after it.
    async fn fill(&mut self, read_ahead: bool) -> Result<(), StoreError> {
        let page = match self.ahead.take() {
            Some(task) => task
                .join()
                .await
                .map_err(|e| StoreError::Query(format!("reading a page failed: {e}")))??,
            None if self.more => {
                T::read(
                    self.store.clone(),
                    self.filter.clone(),
                    self.after.clone(),
                    self.page,
                )
                .await?
            }
            None => return Ok(()),
        };
        self.more = page.len() >= self.page as usize;
        if let Some(last) = page.last() {
            self.after = Some((last.stream().to_string(), last.version()));
        }
        if self.more && read_ahead {
            self.ahead = Some(self.start_read());
        }
        self.buf.extend(page);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenOptions;

    async fn demo_store(dir: &std::path::Path) -> Store {
        let path = dir.join("demo.db");
        crate::demo::ensure(&path, 12, false).await.unwrap();
        Store::open(&OpenOptions {
            url: crate::demo::url_for(&path),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    async fn all<T: Keyed>(scan: &mut Scan<T>) -> Vec<(String, i64)> {
        let mut out = vec![];
        while let Some(r) = scan.peek().await.unwrap() {
            out.push((r.stream().to_string(), r.version()));
            scan.pop();
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_read_ahead_and_jumps_give_the_rows_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = demo_store(dir.path()).await;
        let want = all(&mut Scan::<Event>::new(
            &store,
            Filter::default(),
            1_000_000,
        ))
        .await;
        assert!(want.len() > 50, "{}", want.len());
        let mut sorted = want.clone();
        sorted.sort();
        assert_eq!(want, sorted);
        for page in [1, 3, 7, 50] {
            let got = all(&mut Scan::<Event>::new(&store, Filter::default(), page)).await;
            assert_eq!(got, want, "page {page}");
        }
        // Seeking to every third stream: exactly those streams' rows, whatever the page size.
        let streams: Vec<&str> = {
            let mut s: Vec<&str> = want.iter().map(|(s, _)| s.as_str()).collect();
            s.dedup();
            s.into_iter().step_by(3).collect()
        };
        for page in [1, 4, 1000] {
            let mut scan = Scan::<Event>::new(&store, Filter::default(), page);
            let mut got = vec![];
            for s in &streams {
                scan.seek(s).await.unwrap();
                while let Some(r) = scan.peek().await.unwrap() {
                    if r.stream() != *s {
                        break;
                    }
                    got.push((r.stream().to_string(), r.version()));
                    scan.pop();
                }
            }
            let expected: Vec<_> = want
                .iter()
                .filter(|(s, _)| streams.contains(&s.as_str()))
                .cloned()
                .collect();
            assert_eq!(got, expected, "page {page}");
        }
        // Snapshots page the same way.
        let snaps = all(&mut Scan::<Snapshot>::new(&store, Filter::default(), 2)).await;
        let one = all(&mut Scan::<Snapshot>::new(
            &store,
            Filter::default(),
            10_000,
        ))
        .await;
        assert!(!one.is_empty());
        assert_eq!(snaps, one);
    }
}
