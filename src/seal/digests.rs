//! The digest file beside a receipt: one fixed-size record per sealed event, in range order.
//!
//! A record holds the event's key in the range (its global position, its stream version for a
//! range of one stream, or its index on layouts without a position), its leaf hash, and a
//! 4-byte tag (FNV-1a) of each of its eight canonical fields. The leaves are what the receipt's root is
//! computed from, so a digest file is checked against its receipt before it is believed; the
//! tags let `verify-seal` say which fields of a changed event changed, and recognise an event
//! that moved. Records are read and written as a stream: memory stays bounded however many
//! events the range holds.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::SealError;
use super::canonical::{Canonical, FIELDS};
use super::merkle::{CompactRange, Hash, leaf_hash};

pub const MAGIC: &[u8; 8] = b"EVSDIG1\n";
pub const RECORD: usize = 8 + 32 + 4 * 8;

/// One sealed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub key: i64,
    pub leaf: Hash,
    /// A tag of each field, in [`FIELDS`] order.
    pub tags: [u32; 8],
}

impl Record {
    pub fn of(key: i64, c: &Canonical) -> Record {
        let texts = c.field_texts();
        let mut tags = [0u32; 8];
        for (t, (prefix, text)) in tags.iter_mut().zip(texts.iter()) {
            *t = tag(prefix.as_bytes(), text.as_bytes());
        }
        Record {
            key,
            leaf: leaf_hash(c.as_bytes()),
            tags,
        }
    }

    /// The fields whose tags differ.
    pub fn changed_fields(&self, other: &Record) -> Vec<&'static str> {
        FIELDS
            .iter()
            .zip(self.tags.iter().zip(other.tags.iter()))
            .filter(|(_, (a, b))| a != b)
            .map(|(f, _)| *f)
            .collect()
    }

    /// Whether the two are the same event apart from its position (or key).
    pub fn same_content(&self, other: &Record) -> bool {
        self.tags[1..] == other.tags[1..]
    }

    fn encode(&self) -> [u8; RECORD] {
        let mut b = [0u8; RECORD];
        b[..8].copy_from_slice(&self.key.to_le_bytes());
        b[8..40].copy_from_slice(&self.leaf);
        for (i, t) in self.tags.iter().enumerate() {
            b[40 + 4 * i..44 + 4 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    fn decode(b: &[u8]) -> Record {
        let mut key = [0u8; 8];
        key.copy_from_slice(&b[..8]);
        let mut leaf = [0u8; 32];
        leaf.copy_from_slice(&b[8..40]);
        let mut tags = [0u32; 8];
        for (i, t) in tags.iter_mut().enumerate() {
            let mut x = [0u8; 4];
            x.copy_from_slice(&b[40 + 4 * i..44 + 4 * i]);
            *t = u32::from_le_bytes(x);
        }
        Record {
            key: i64::from_le_bytes(key),
            leaf,
            tags,
        }
    }
}

/// A field's tag: 32-bit FNV-1a of its text. Tags only name the fields of an event whose leaf
/// (SHA-256) differs, and recognise a moved event; they carry no security, so a fast, stable
/// hash is enough (eight SHA-256 runs per event cost more than a tenth of a seal).
fn tag(prefix: &[u8], text: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in [prefix, text] {
        for b in part {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SealError + '_ {
    move |e| SealError::Io(format!("{}: {e}", path.display()))
}

/// Writes records to a file (created, replacing what was there).
pub struct Writer {
    w: BufWriter<File>,
    path: PathBuf,
    count: u64,
}

impl Writer {
    pub fn create(path: &Path) -> Result<Writer, SealError> {
        let f = File::create(path).map_err(io(path))?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        w.write_all(MAGIC).map_err(io(path))?;
        Ok(Writer {
            w,
            path: path.to_path_buf(),
            count: 0,
        })
    }

    pub fn push(&mut self, r: &Record) -> Result<(), SealError> {
        self.count += 1;
        self.w.write_all(&r.encode()).map_err(io(&self.path))
    }

    /// Append every record of another digest file.
    pub fn append_file(&mut self, other: &Path) -> Result<(), SealError> {
        let mut r = Reader::open(other)?;
        while let Some(rec) = r.next_record()? {
            self.push(&rec)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<u64, SealError> {
        self.w.flush().map_err(io(&self.path))?;
        self.w
            .get_ref()
            .sync_all()
            .map_err(io(&self.path))
            .map(|_| self.count)
    }
}

/// Reads records in order.
pub struct Reader {
    r: BufReader<File>,
    path: PathBuf,
    count: u64,
    read: u64,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, SealError> {
        let mut f = File::open(path).map_err(io(path))?;
        let len = f.metadata().map_err(io(path))?.len();
        let mut magic = [0u8; 8];
        if len < 8 || f.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(SealError::Digests(format!(
                "{} is not an evscope digest file",
                path.display()
            )));
        }
        if (len - 8) % RECORD as u64 != 0 {
            return Err(SealError::Digests(format!(
                "{} is cut short (its length is not a whole number of records)",
                path.display()
            )));
        }
        Ok(Reader {
            r: BufReader::with_capacity(1 << 16, f),
            path: path.to_path_buf(),
            count: (len - 8) / RECORD as u64,
            read: 0,
        })
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, SealError> {
        if self.read == self.count {
            return Ok(None);
        }
        let mut b = [0u8; RECORD];
        self.r.read_exact(&mut b).map_err(io(&self.path))?;
        self.read += 1;
        Ok(Some(Record::decode(&b)))
    }

    /// Go to record `index` (the next read returns it; past the end: nothing more).
    pub fn seek(&mut self, index: u64) -> Result<(), SealError> {
        let index = index.min(self.count);
        self.r
            .seek(SeekFrom::Start(8 + index * RECORD as u64))
            .map_err(io(&self.path))?;
        self.read = index;
        Ok(())
    }

    /// The record at `index` (random access; the next read goes on after it).
    pub fn record_at(&mut self, index: u64) -> Result<Record, SealError> {
        if index >= self.count {
            return Err(SealError::Digests(format!(
                "{}: no record {index} (it holds {})",
                self.path.display(),
                self.count
            )));
        }
        self.r
            .seek(SeekFrom::Start(8 + index * RECORD as u64))
            .map_err(io(&self.path))?;
        self.read = index;
        Ok(self.next_record()?.expect("in range"))
    }

    /// The index of the record with this key (keys increase along the file).
    pub fn find_key(&mut self, key: i64) -> Result<Option<u64>, SealError> {
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let r = self.record_at(mid)?;
            match r.key.cmp(&key) {
                std::cmp::Ordering::Equal => return Ok(Some(mid)),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// The compact range of this file's leaves, numbered from `offset`.
    pub fn compact_range(self, offset: u64) -> Result<CompactRange, SealError> {
        self.compact_range_into(CompactRange::new(offset))
    }

    /// The same, recording its subtrees of 2^level leaves.
    pub fn compact_range_watching(
        self,
        offset: u64,
        level: u32,
    ) -> Result<CompactRange, SealError> {
        self.compact_range_into(CompactRange::watching(offset, level))
    }

    fn compact_range_into(mut self, mut c: CompactRange) -> Result<CompactRange, SealError> {
        while let Some(r) = self.next_record()? {
            c.push(r.leaf);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_fnv1a() {
        // The FNV-1a test vectors ("" and "a", "foobar").
        assert_eq!(tag(b"", b""), 0x811c9dc5);
        assert_eq!(tag(b"", b"a"), 0xe40c292c);
        assert_eq!(tag(b"foo", b"bar"), 0xbf9cf968);
    }

    #[test]
    fn records_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d");
        let mut w = Writer::create(&p).unwrap();
        let recs: Vec<Record> = (0..10)
            .map(|i| Record {
                key: i * 3 - 5,
                leaf: leaf_hash(&[i as u8]),
                tags: [i as u32; 8],
            })
            .collect();
        for r in &recs {
            w.push(r).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 10);
        let mut r = Reader::open(&p).unwrap();
        assert_eq!(r.count(), 10);
        let mut back = vec![];
        while let Some(x) = r.next_record().unwrap() {
            back.push(x);
        }
        assert_eq!(back, recs);
        assert_eq!(r.find_key(7).unwrap(), Some(4));
        assert_eq!(r.find_key(8).unwrap(), None);
        assert_eq!(r.record_at(9).unwrap(), recs[9]);
        // A file cut in the middle of a record is refused.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(Reader::open(&p).is_err());
    }
}
