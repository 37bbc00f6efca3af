//! A window of rows over a list that may be far too large to load: a contiguous run of rows in
//! key order, the selection inside it, and what to fetch next. Pure state, no I/O: the app
//! asks it what to request, runs the request elsewhere, and hands the answer back with the
//! request id; answers to requests the window no longer waits for are dropped.

/// Where a requested page goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Replace everything (Home, End, a jump, a new filter).
    Reset,
    /// Rows after the last one.
    After,
    /// Rows before the first one (fetched newest-first, prepended in order).
    Before,
}

/// What a reset starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Anchor<K> {
    /// The first row.
    Start,
    /// The last row (End).
    End,
    /// The first row at or after this key, and the rows before it above.
    At(K),
}

/// A request the window wants made.
#[derive(Debug, Clone, PartialEq)]
pub enum Want<K> {
    /// Load from the anchor: forward from the start / at key, or backward from the end.
    Reset(Anchor<K>),
    /// Rows strictly after this key.
    After(K),
    /// Rows strictly before this key (newest first).
    Before(K),
}

#[derive(Debug, Clone)]
pub struct Window<T, K> {
    pub rows: Vec<T>,
    pub selected: usize,
    /// The first row shown.
    pub top: usize,
    pub at_start: bool,
    pub at_end: bool,
    /// The request in flight for each side, by id.
    pending_reset: Option<u64>,
    pending_after: Option<u64>,
    pending_before: Option<u64>,
    /// After a reset at a key, the key to select once rows arrive.
    select_key: Option<K>,
    /// Where the last reset was anchored (End keeps the selection on the last row).
    last_anchor: Anchor<K>,
    key: fn(&T) -> K,
    /// Rows kept at most (the rest is dropped from the far side and refetched when needed).
    pub capacity: usize,
    /// Fetch more when the selection is this close to an edge.
    pub margin: usize,
}

impl<T, K: Clone + PartialEq + PartialOrd> Window<T, K> {
    pub fn new(key: fn(&T) -> K) -> Self {
        Window {
            rows: Vec::new(),
            selected: 0,
            top: 0,
            at_start: false,
            at_end: false,
            pending_reset: None,
            pending_after: None,
            pending_before: None,
            select_key: None,
            last_anchor: Anchor::Start,
            key,
            capacity: 3000,
            margin: 50,
        }
    }

    /// Where the last reset was anchored.
    pub fn anchor(&self) -> &Anchor<K> {
        &self.last_anchor
    }

    pub fn is_loading(&self) -> bool {
        self.pending_reset.is_some()
            || self.pending_after.is_some()
            || self.pending_before.is_some()
    }

    pub fn selected_row(&self) -> Option<&T> {
        self.rows.get(self.selected)
    }

    /// Start over from an anchor; returns what to request. Pending requests are forgotten
    /// (their answers will be dropped).
    pub fn reset(&mut self, anchor: Anchor<K>, id: u64) -> Want<K> {
        self.pending_reset = Some(id);
        self.pending_after = None;
        self.pending_before = None;
        self.select_key = match &anchor {
            Anchor::At(k) => Some(k.clone()),
            _ => None,
        };
        self.last_anchor = anchor.clone();
        Want::Reset(anchor)
    }

    /// Ids of requests in flight (so that superseded work can be cancelled).
    pub fn pending_ids(&self) -> Vec<u64> {
        [self.pending_reset, self.pending_after, self.pending_before]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Take an answer. `rows` are in key order for Reset-from-start/At and After, newest
    /// first for Reset-from-end and Before. `full` says whether the page was complete (a
    /// short page means the end of the list in that direction). Returns false when the
    /// answer was stale and dropped.
    pub fn answer(
        &mut self,
        id: u64,
        side: Side,
        mut rows: Vec<T>,
        full: bool,
        height: usize,
    ) -> bool {
        match side {
            Side::Reset if self.pending_reset == Some(id) => {
                self.pending_reset = None;
                let from_end = self.last_anchor == Anchor::End;
                if from_end {
                    rows.reverse();
                }
                self.rows = rows;
                // From the end: the end is reached, the start when the page was short.
                // From the start (or a key): the reverse.
                (self.at_start, self.at_end) = if from_end {
                    (!full, true)
                } else {
                    (matches!(self.last_anchor, Anchor::Start), !full)
                };
                self.selected = if from_end {
                    self.rows.len().saturating_sub(1)
                } else {
                    0
                };
                if let Some(k) = self.select_key.take() {
                    if let Some(i) = self.rows.iter().position(|r| (self.key)(r) >= k) {
                        self.selected = i;
                    }
                }
                self.top = self.selected.saturating_sub(if from_end {
                    height.saturating_sub(1)
                } else {
                    0
                });
                true
            }
            Side::After if self.pending_after == Some(id) => {
                self.pending_after = None;
                if !full {
                    self.at_end = true;
                }
                // Rows already present (a live tail racing a page) are not added twice.
                if let Some(last) = self.rows.last().map(self.key) {
                    rows.retain(|r| (self.key)(r) > last);
                }
                self.rows.extend(rows);
                self.trim_front();
                true
            }
            Side::Before if self.pending_before == Some(id) => {
                self.pending_before = None;
                if !full {
                    self.at_start = true;
                }
                if let Some(first) = self.rows.first().map(self.key) {
                    rows.retain(|r| (self.key)(r) < first);
                }
                rows.reverse();
                let n = rows.len();
                rows.extend(std::mem::take(&mut self.rows));
                self.rows = rows;
                self.selected += n;
                self.top += n;
                self.trim_back();
                true
            }
            _ => false,
        }
    }

    /// A failed request: stop waiting for it. Returns false when it was stale.
    pub fn failed(&mut self, id: u64) -> bool {
        for p in [
            &mut self.pending_reset,
            &mut self.pending_after,
            &mut self.pending_before,
        ] {
            if *p == Some(id) {
                *p = None;
                return true;
            }
        }
        false
    }

    fn trim_front(&mut self) {
        if self.rows.len() > self.capacity {
            let cut = (self.rows.len() - self.capacity).min(self.top.min(self.selected));
            if cut > 0 {
                self.rows.drain(..cut);
                self.selected -= cut;
                self.top -= cut;
                self.at_start = false;
            }
        }
    }

    fn trim_back(&mut self) {
        if self.rows.len() > self.capacity {
            let keep = self.capacity.max(self.selected + 1);
            if keep < self.rows.len() {
                self.rows.truncate(keep);
                self.at_end = false;
            }
        }
    }

    /// Move the selection by `delta` rows (clamped), keep it visible in `height` rows, and
    /// say what to fetch to stay ahead of it.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        if self.rows.is_empty() {
            return;
        }
        let max = self.rows.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
        self.scroll_to_selection(height);
    }

    pub fn select(&mut self, index: usize, height: usize) {
        if !self.rows.is_empty() {
            self.selected = index.min(self.rows.len() - 1);
            self.scroll_to_selection(height);
        }
    }

    pub fn scroll_to_selection(&mut self, height: usize) {
        let h = height.max(1);
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top + h {
            self.top = self.selected + 1 - h;
        }
    }

    /// The next request to make, if any: more rows near the selection's edges. Call after
    /// every move; `next_id` is used only when something is wanted.
    pub fn wants(&mut self, next_id: &mut u64) -> Option<Want<K>> {
        if self.pending_reset.is_some() || self.rows.is_empty() {
            return None;
        }
        if !self.at_end
            && self.pending_after.is_none()
            && self.selected + self.margin >= self.rows.len()
        {
            *next_id += 1;
            self.pending_after = Some(*next_id);
            return self.rows.last().map(|r| Want::After((self.key)(r)));
        }
        if !self.at_start && self.pending_before.is_none() && self.selected < self.margin {
            *next_id += 1;
            self.pending_before = Some(*next_id);
            return self.rows.first().map(|r| Want::Before((self.key)(r)));
        }
        None
    }

    /// Follow mode: ask for rows after the last one even at the end.
    pub fn want_tail(&mut self, next_id: &mut u64) -> Option<Want<K>> {
        if self.pending_reset.is_some() || self.pending_after.is_some() {
            return None;
        }
        *next_id += 1;
        self.pending_after = Some(*next_id);
        self.at_end = false;
        Some(match self.rows.last() {
            Some(r) => Want::After((self.key)(r)),
            None => Want::Reset(Anchor::Start),
        })
    }

    /// A click on line `row` of a table drawn in a bordered block under a header line: the
    /// row there is selected; false when the click was not on a row.
    pub fn click(&mut self, row: usize, height: usize) -> bool {
        match row.checked_sub(2) {
            Some(offset) if offset < height && self.top + offset < self.rows.len() => {
                let i = self.top + offset;
                self.select(i, height);
                true
            }
            _ => false,
        }
    }

    /// The rows visible in `height` lines.
    pub fn visible(&self, height: usize) -> &[T] {
        let end = (self.top + height).min(self.rows.len());
        &self.rows[self.top.min(end)..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> Window<i64, i64> {
        let mut w = Window::new(|r: &i64| *r);
        w.margin = 5;
        w.capacity = 50;
        w
    }

    #[test]
    fn reset_then_pages_forward_and_stale_answers_are_dropped() {
        let mut w = w();
        let mut id = 1;
        assert_eq!(w.reset(Anchor::Start, id), Want::Reset(Anchor::Start));
        // A second reset supersedes the first: its answer is dropped.
        id += 1;
        w.reset(Anchor::Start, id);
        assert!(!w.answer(1, Side::Reset, vec![100], true, 10));
        assert!(w.answer(2, Side::Reset, (1..=20).collect(), true, 10));
        assert!(w.at_start && !w.at_end);
        assert_eq!(w.selected_row(), Some(&1));
        w.move_by(16, 10);
        assert_eq!(w.selected_row(), Some(&17));
        assert_eq!(w.top, 7);
        let want = w.wants(&mut id);
        assert_eq!(want, Some(Want::After(20)));
        assert!(w.is_loading());
        assert!(w.answer(id, Side::After, vec![21, 22], false, 10));
        assert!(w.at_end);
        assert_eq!(w.rows.len(), 22);
        assert_eq!(w.wants(&mut id), None, "nothing more at the end");
    }

    #[test]
    fn end_loads_newest_first_and_selects_the_last_row() {
        let mut w = w();
        w.reset(Anchor::End, 7);
        assert!(w.answer(7, Side::Reset, vec![30, 29, 28, 27], true, 3));
        assert_eq!(w.rows, vec![27, 28, 29, 30]);
        assert_eq!(w.selected_row(), Some(&30));
        assert_eq!(w.top, 1);
        assert!(w.at_end && !w.at_start);
        let mut id = 7;
        assert_eq!(w.wants(&mut id), Some(Want::Before(27)));
        assert!(w.answer(id, Side::Before, vec![26, 25], false, 3));
        assert_eq!(w.rows, vec![25, 26, 27, 28, 29, 30]);
        assert_eq!(
            w.selected_row(),
            Some(&30),
            "the selection stays on the same row"
        );
        assert!(w.at_start);
    }

    #[test]
    fn a_jump_selects_the_first_row_at_or_after_the_key() {
        let mut w = w();
        w.reset(Anchor::At(15), 1);
        assert!(w.answer(1, Side::Reset, vec![16, 17, 18], true, 10));
        assert_eq!(w.selected_row(), Some(&16));
    }

    #[test]
    fn capacity_bounds_the_rows_kept() {
        let mut w = w();
        let mut id = 0;
        w.reset(Anchor::Start, id);
        w.answer(0, Side::Reset, (0..40).collect(), true, 10);
        for round in 0..10 {
            w.move_by(1000, 10);
            let Some(Want::After(k)) = w.wants(&mut id) else {
                panic!("round {round}: wants more")
            };
            w.answer(id, Side::After, (k + 1..k + 41).collect(), true, 10);
            assert!(w.rows.len() <= 50 + 40, "{}", w.rows.len());
        }
        assert_eq!(*w.selected_row().unwrap(), w.rows[w.selected]);
        assert!(!w.at_start, "rows were dropped from the front");
    }

    #[test]
    fn tail_pages_do_not_duplicate_rows() {
        let mut w = w();
        w.reset(Anchor::Start, 1);
        w.answer(1, Side::Reset, vec![1, 2, 3], false, 10);
        let mut id = 1;
        assert_eq!(w.want_tail(&mut id), Some(Want::After(3)));
        assert!(w.answer(id, Side::After, vec![3, 4, 5], false, 10));
        assert_eq!(w.rows, vec![1, 2, 3, 4, 5]);
        assert!(!w.failed(99), "an unknown id is stale");
    }
}
