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
}

impl CompactRange {
    /// An empty range starting at leaf `begin`.
    pub fn new(begin: u64) -> CompactRange {
        CompactRange {
            begin,
            end: begin,
            nodes: Vec::new(),
        }
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
        while index & 1 == 1 {
            match self.nodes.last() {
                Some((l, left)) if *l == level => {
                    hash = node_hash(left, &hash);
                    self.nodes.pop();
                    level += 1;
                    index >>= 1;
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
        let mut it = self.nodes.iter().rev();
        let Some((_, last)) = it.next() else {
            return empty_root();
        };
        let mut acc = *last;
        for (_, h) in it {
            acc = node_hash(h, &acc);
        }
        acc
    }
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
