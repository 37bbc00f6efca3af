//! The Merkle tree of a seal: RFC 6962 (Certificate Transparency) hashing with SHA-256.
//!
//! Leaf hash = SHA-256(0x00 ‖ bytes), node = SHA-256(0x01 ‖ left ‖ right), the tree over `n`
//! leaves split at the largest power of two below `n` (RFC 6962 2.1); the empty tree's root is
//! SHA-256 of nothing.
//!
//! A [`CompactRange`] holds the roots of the perfect, aligned subtrees that cover leaves
//! `[begin, end)`: at most two per level, so O(log n) hashes for any range. Leaves are appended
//! one at a time (a seal streams its events), and two adjacent ranges merge into one — so
//! subranges read at once by several jobs combine into exactly the root one job computes.
//!
//! A range can also watch one level of the tree: the roots of its aligned subtrees of 2^level
//! leaves ([`Subtrees`]), kept as they complete — at most 64 of them for a seal (the level
//! rises with the count), so that a receipt names where in its range a difference lies, and
//! `verify-seal` goes down the tree to the first subtree that differs instead of walking every
//! leaf before it.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The name of this hashing, recorded in every receipt.
pub const HASHING: &str =
    "sha256, RFC 6962 Merkle tree (leaf = H(0x00||bytes), node = H(0x01||left||right))";

pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

pub fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_hex(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    for (i, b) in h.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(h)
}

/// Two compact ranges that cannot be joined: the second does not start where the first ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ranges not adjacent: [{}, {}) then [{}, {})", first.0, first.1, then.0, then.1)]
pub struct NotAdjacent {
    pub first: (u64, u64),
    pub then: (u64, u64),
}

/// The aligned perfect subtrees covering leaves `[begin, end)`, left to right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactRange {
    begin: u64,
    end: u64,
    /// (level, hash): the subtree of 2^level leaves starting at index `start >> level`.
    nodes: Vec<(u32, Hash)>,
    watch: Option<Watch>,
}

/// The subtrees of one level a range records as they complete.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watch {
    level: u32,
    /// (index at `level`, root), in the order they completed.
    done: Vec<(u64, Hash)>,
    /// Rising: when more than this many are done, the level goes up one (pairs merge).
    rise_above: Option<usize>,
    /// A fixed level's list stops at this many (memory stays bounded whatever the range):
    /// `overflowed` then says the list is not whole.
    cap: usize,
    overflowed: bool,
}

/// The most subtrees a seal names.
pub const MAX_SUBTREES: u64 = 64;
/// The most a fixed level records (a range that grew since its seal).
const WATCH_CAP: usize = 4096;

/// The level whose subtrees a range of `n` leaves is cut into: the lowest at which there are
/// at most [`MAX_SUBTREES`].
pub fn subtree_level(n: u64) -> u32 {
    let mut level = 0;
    while n.div_ceil(1u64 << level) > MAX_SUBTREES {
        level += 1;
    }
    level
}

/// The roots of the consecutive aligned subtrees of 2^level leaves of a tree (the last one
/// holding what remains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtrees {
    pub level: u32,
    pub roots: Vec<Hash>,
}

impl Subtrees {
    /// The tree's root from its subtrees' (each complete subtree is a node of the tree, and
    /// the tree splits at subtree boundaries: RFC 6962's split of the leaves is the split of
    /// the subtrees).
    pub fn root(&self) -> Hash {
        fn over(r: &[Hash]) -> Hash {
            match r.len() {
                0 => empty_root(),
                1 => r[0],
                n => {
                    let k = split(n as u64) as usize;
                    node_hash(&over(&r[..k]), &over(&r[k..]))
                }
            }
        }
        over(&self.roots)
    }

    /// The leaves `[first, end)` of subtree `i` in a tree of `n` leaves.
    pub fn span(&self, i: usize, n: u64) -> (u64, u64) {
        let size = 1u64 << self.level;
        let a = (i as u64).saturating_mul(size).min(n);
        (a, a.saturating_add(size).min(n))
    }
}

impl CompactRange {
    /// An empty range starting at leaf `begin`.
    pub fn new(begin: u64) -> CompactRange {
        CompactRange {
            begin,
            end: begin,
            nodes: Vec::new(),
            watch: None,
        }
    }

    /// An empty range that records its subtrees of 2^level leaves.
    pub fn watching(begin: u64, level: u32) -> CompactRange {
        let mut c = CompactRange::new(begin);
        c.watch = Some(Watch {
            level,
            done: Vec::new(),
            rise_above: None,
            cap: WATCH_CAP,
            overflowed: false,
        });
        c
    }

    /// An empty range from leaf 0 whose count is not known yet: it records subtrees at a level
    /// that rises as leaves come, so that at most [`MAX_SUBTREES`] are held.
    pub fn watching_rising() -> CompactRange {
        let mut c = CompactRange::watching(0, 0);
        if let Some(w) = &mut c.watch {
            w.rise_above = Some(MAX_SUBTREES as usize);
        }
        c
    }

    /// The subtrees recorded so far: (level, [(index, root)]), or None when not watching or
    /// when a fixed level's list overflowed.
    pub fn watched(&self) -> Option<(u32, &[(u64, Hash)])> {
        let w = self.watch.as_ref()?;
        (!w.overflowed).then_some((w.level, w.done.as_slice()))
    }

    fn record(&mut self, level: u32, index: u64, hash: Hash) {
        let Some(w) = &mut self.watch else {
            return;
        };
        if level != w.level || w.overflowed {
            return;
        }
        if w.done.len() >= w.cap {
            w.overflowed = true;
            w.done = Vec::new();
            return;
        }
        w.done.push((index, hash));
        if w.rise_above.is_some_and(|m| w.done.len() > m) {
            // Up one level: pairs of siblings merge. An unpaired last one is not a node of
            // the new level yet; its parent is recorded when its sibling completes (or it
            // stays in the tail).
            let paired: Vec<(u64, Hash)> = w
                .done
                .chunks_exact(2)
                .filter(|p| p[0].0 % 2 == 0 && p[1].0 == p[0].0 + 1)
                .map(|p| (p[0].0 / 2, node_hash(&p[0].1, &p[1].1)))
                .collect();
            w.done = paired;
            w.level += 1;
        }
    }

    /// The subtrees of the whole range (which starts at leaf 0), at the level watched or at
    /// the one [`subtree_level`] gives for its count when the level rose; `more` holds subtrees
    /// recorded by the ranges this one was appended from (the jobs of a seal). None when not
    /// watching, overflowed, or not from leaf 0.
    pub fn subtrees(&self, more: &[(u64, Hash)]) -> Option<Subtrees> {
        let w = self.watch.as_ref()?;
        if w.overflowed || self.begin != 0 {
            return None;
        }
        let mut done: Vec<(u64, Hash)> = w.done.iter().chain(more).copied().collect();
        done.sort_by_key(|(i, _)| *i);
        done.dedup_by_key(|(i, _)| *i);
        let n = self.end;
        let size = 1u64 << w.level;
        let complete = n / size;
        if done.len() as u64 != complete
            || done.iter().enumerate().any(|(k, (i, _))| *i != k as u64)
        {
            return None;
        }
        let mut roots: Vec<Hash> = done.into_iter().map(|(_, h)| h).collect();
        // What remains after the last complete subtree: the nodes below the level.
        roots.extend(fold_nodes(
            self.nodes
                .iter()
                .filter(|(l, _)| *l < w.level)
                .map(|(_, h)| h),
        ));
        let mut t = Subtrees {
            level: w.level,
            roots,
        };
        // A rising level stops once there are few enough: at the end, rise to the count's.
        if w.rise_above.is_some() {
            while (t.roots.len() as u64) > MAX_SUBTREES {
                let pairs: Vec<Hash> = t
                    .roots
                    .chunks(2)
                    .map(|p| {
                        if p.len() == 2 {
                            node_hash(&p[0], &p[1])
                        } else {
                            p[0]
                        }
                    })
                    .collect();
                t = Subtrees {
                    level: t.level + 1,
                    roots: pairs,
                };
            }
        }
        Some(t)
    }

    pub fn begin(&self) -> u64 {
        self.begin
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// Append the leaf hash of leaf `end`.
    pub fn push(&mut self, leaf: Hash) {
        self.push_node(0, leaf);
    }

    /// Append a perfect subtree of 2^level leaves starting at `end` (it must be aligned).
    fn push_node(&mut self, level: u32, hash: Hash) {
        let mut level = level;
        let mut hash = hash;
        let mut index = self.end >> level;
        self.end += 1u64 << level;
        self.record(level, index, hash);
        while index & 1 == 1 {
            match self.nodes.last() {
                Some((l, left)) if *l == level => {
                    hash = node_hash(left, &hash);
                    self.nodes.pop();
                    level += 1;
                    index >>= 1;
                    self.record(level, index, hash);
                }
                _ => break,
            }
        }
        self.nodes.push((level, hash));
    }

    /// Append the range that follows this one (`other.begin() == self.end()`).
    pub fn append(&mut self, other: &CompactRange) -> Result<(), NotAdjacent> {
        if other.begin != self.end {
            return Err(NotAdjacent {
                first: (self.begin, self.end),
                then: (other.begin, other.end),
            });
        }
        for (level, h) in &other.nodes {
            self.push_node(*level, *h);
        }
        Ok(())
    }

    /// The root of the tree over leaves `[begin, end)` (for a range from 0: the RFC 6962 tree
    /// hash of all its leaves).
    pub fn root(&self) -> Hash {
        fold_nodes(self.nodes.iter().map(|(_, h)| h)).unwrap_or_else(empty_root)
    }
}

/// The root of consecutive nodes of decreasing size (a compact range's, from the left), folded
/// from the right; None when there are none.
fn fold_nodes<'a>(nodes: impl DoubleEndedIterator<Item = &'a Hash>) -> Option<Hash> {
    let mut it = nodes.rev();
    let last = *it.next()?;
    Some(it.fold(last, |acc, h| node_hash(h, &acc)))
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1u64;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The leaf ranges whose subtree hashes make the inclusion proof of leaf `m` in a tree of `n`
/// leaves (RFC 6962 2.1.1), in the order of the proof (nearest the leaf first).
pub fn path_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    fn walk(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m - lo < k {
            walk(m, lo, lo + k, out);
            out.push((lo + k, hi));
        } else {
            walk(m, lo + k, hi, out);
            out.push((lo, lo + k));
        }
    }
    if m < n {
        walk(m, 0, n, &mut out);
    }
    out
}

/// The root an inclusion proof gives for leaf `m` of `n` with hash `leaf` (None: a proof of
/// the wrong length).
pub fn root_from_path(m: u64, n: u64, leaf: Hash, path: &[Hash]) -> Option<Hash> {
    if m >= n {
        return None;
    }
    fn up(m: u64, n: u64, leaf: Hash, path: &[Hash]) -> Option<Hash> {
        if n == 1 {
            return path.is_empty().then_some(leaf);
        }
        let (last, rest) = path.split_last()?;
        let k = split(n);
        if m < k {
            Some(node_hash(&up(m, k, leaf, rest)?, last))
        } else {
            Some(node_hash(last, &up(m - k, n - k, leaf, rest)?))
        }
    }
    up(m, n, leaf, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's definition, recursively, over all leaves in memory.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("e{i}").as_bytes()))
            .collect()
    }

    #[test]
    fn known_answers() {
        // The empty tree and a one-leaf tree of the empty string (RFC 6962, as CT logs use).
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn streaming_gives_the_recursive_root_for_every_size() {
        let all = leaves(300);
        let mut c = CompactRange::new(0);
        for n in 0..=300 {
            assert_eq!(c.root(), mth(&all[..n]), "n = {n}");
            assert!(c.nodes.len() <= 64);
            if n < 300 {
                c.push(all[n]);
            }
        }
    }

    #[test]
    fn adjacent_ranges_merge_into_the_same_root() {
        let all = leaves(157);
        for cuts in [
            vec![0, 157],
            vec![0, 1, 157],
            vec![0, 64, 128, 157],
            vec![0, 3, 10, 77, 100, 156, 157],
            vec![0, 50, 51, 52, 157],
        ] {
            let parts: Vec<CompactRange> = cuts
                .windows(2)
                .map(|w| {
                    let mut c = CompactRange::new(w[0]);
                    for l in &all[w[0] as usize..w[1] as usize] {
                        c.push(*l);
                    }
                    c
                })
                .collect();
            let mut acc = CompactRange::new(0);
            for p in &parts {
                acc.append(p).unwrap();
            }
            assert_eq!(acc.root(), mth(&all), "{cuts:?}");
        }
        assert!(CompactRange::new(0).append(&CompactRange::new(5)).is_err());
    }

    /// Subtrees of 2^level leaves by the definition: MTH of each slice.
    fn subtrees_by_definition(all: &[Hash], level: u32) -> Vec<Hash> {
        all.chunks(1 << level).map(mth).collect()
    }

    #[test]
    fn subtrees_watched_are_the_trees_slices_and_give_its_root() {
        let all = leaves(700);
        for n in [
            0usize, 1, 2, 3, 63, 64, 65, 100, 128, 129, 255, 256, 257, 500, 700,
        ] {
            let level = subtree_level(n as u64);
            // Rising (a seal in one job: the count is not known).
            let mut rising = CompactRange::watching_rising();
            // Fixed (verify-seal at the receipt's level).
            let mut fixed = CompactRange::watching(0, level);
            for l in &all[..n] {
                rising.push(*l);
                fixed.push(*l);
            }
            let want = subtrees_by_definition(&all[..n], level);
            assert!(want.len() as u64 <= MAX_SUBTREES, "n = {n}");
            for c in [&rising, &fixed] {
                let t = c.subtrees(&[]).expect("watched");
                assert_eq!((t.level, &t.roots), (level, &want), "n = {n}");
                assert_eq!(t.root(), mth(&all[..n]), "n = {n}");
                assert!(c.watch.as_ref().unwrap().done.len() <= 2 * MAX_SUBTREES as usize);
            }
        }
    }

    #[test]
    fn subtrees_of_jobs_merged_are_those_of_one_job() {
        let all = leaves(300);
        let n = 300u64;
        let level = subtree_level(n);
        for cuts in [
            vec![0u64, 300],
            vec![0, 7, 300],
            vec![0, 100, 200, 300],
            vec![0, 1, 2, 299, 300],
        ] {
            let parts: Vec<CompactRange> = cuts
                .windows(2)
                .map(|w| {
                    let mut c = CompactRange::watching(w[0], level);
                    for l in &all[w[0] as usize..w[1] as usize] {
                        c.push(*l);
                    }
                    c
                })
                .collect();
            let mut acc = CompactRange::watching(0, level);
            let mut more = Vec::new();
            for p in &parts {
                acc.append(p).unwrap();
                more.extend_from_slice(p.watched().unwrap().1);
            }
            let t = acc.subtrees(&more).unwrap();
            assert_eq!(t.roots, subtrees_by_definition(&all, level), "{cuts:?}");
            assert_eq!(t.root(), mth(&all));
        }
    }

    #[test]
    fn a_fixed_level_stops_recording_at_its_cap() {
        let mut c = CompactRange::watching(0, 0);
        for i in 0..(WATCH_CAP + 1) {
            c.push(leaf_hash(&i.to_le_bytes()));
        }
        assert!(c.watched().is_none());
        assert!(c.subtrees(&[]).is_none());
    }

    #[test]
    fn inclusion_proofs_verify_and_fail_when_anything_changes() {
        for n in [1u64, 2, 3, 5, 8, 13, 64, 100] {
            let all = leaves(n as usize);
            let root = mth(&all);
            for m in 0..n {
                let path: Vec<Hash> = path_ranges(m, n)
                    .into_iter()
                    .map(|(a, b)| mth(&all[a as usize..b as usize]))
                    .collect();
                assert_eq!(root_from_path(m, n, all[m as usize], &path), Some(root));
                let other = leaf_hash(b"changed");
                assert_ne!(root_from_path(m, n, other, &path), Some(root));
                if n > 1 {
                    assert_ne!(
                        root_from_path((m + 1) % n, n, all[m as usize], &path),
                        Some(root)
                    );
                }
            }
        }
    }
}
