//! The receipt: what a seal writes, and its optional Ed25519 signature.
//!
//! The signature is over the receipt's JSON without its `signature` member, in RFC 8785 form
//! (the same canonicalizer as the events), so any edit of any field breaks it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::SealError;
use super::build::{KeyKind, Sealed};
use super::canonical::{self, value_jcs};
use super::merkle::{self, Hash};
use crate::replay::range::Range;
use crate::store::{Db, Store};

/// The receipt format's version.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub evscope_receipt: u32,
    pub store: StoreIdentity,
    pub range: Range,
    pub range_text: String,
    pub key: KeyKind,
    pub count: u64,
    pub first: Option<EventSummary>,
    pub last: Option<EventSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_through: Option<i64>,
    /// Rows hashed as their raw bytes (JSON that is not valid).
    pub raw_rows: u64,
    pub encoding: String,
    pub hash: String,
    pub root: String,
    /// The roots of the tree's aligned subtrees (at most 64): where in the range a difference
    /// lies can be said from the receipt alone, and verify-seal starts its walk at the first
    /// subtree that differs. Absent in receipts of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtrees: Option<ReceiptSubtrees>,
    /// The digest file written beside the receipt (a path relative to the receipt's
    /// directory), which lets `verify-seal` name what changed and `prove` build proofs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<String>,
    /// The receipt this one continues (`seal --after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    pub evscope_version: String,
    pub sealed_at: DateTime<Utc>,
    pub sealed_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ReceiptSignature>,
}

/// The subtrees of a receipt: consecutive aligned subtrees of `leaves` events each (the last
/// holding what remains), their roots in hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptSubtrees {
    pub leaves: u64,
    pub roots: Vec<String>,
}

/// The first or last event of a sealed range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_position: Option<i64>,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub event_id: String,
    pub recorded_at: Option<String>,
}

impl From<&crate::replay::range::EventRef> for EventSummary {
    fn from(e: &crate::replay::range::EventRef) -> Self {
        EventSummary {
            global_position: e.global_position,
            stream_id: e.stream_id.clone(),
            stream_version: e.stream_version,
            event_type: e.event_type.clone(),
            event_id: e.event_id.clone(),
            recorded_at: e.recorded_at.as_ref().map(crate::store::model::format_time),
        }
    }
}

impl EventSummary {
    pub fn describe(&self) -> String {
        format!(
            "{}{}@{} {}",
            self.global_position
                .map_or(String::new(), |p| format!("#{p} ")),
            self.stream_id,
            self.stream_version,
            self.event_type
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    pub root: String,
    /// SHA-256 of the previous receipt file's bytes.
    pub receipt_sha256: String,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptSignature {
    pub algorithm: String,
    /// The public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub value: String,
}

/// Which store a receipt was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreIdentity {
    /// The URL, password redacted.
    pub url: String,
    pub db_kind: String,
    pub layout: String,
    /// The database (PostgreSQL/MySQL) or file (SQLite).
    pub database: Option<String>,
    /// PostgreSQL's cluster system identifier (shared by its physical standbys); MySQL's
    /// server_uuid where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_identifier: Option<String>,
}

impl StoreIdentity {
    /// What differs between the store a receipt was made on and this one (None: the same).
    pub fn mismatch(&self, now: &StoreIdentity) -> Option<String> {
        self.differs(now, false)
    }

    /// What differs between the sealed store and `now`, a copy of it (a restored backup, a
    /// copied SQLite file): only the database kind and the layout, since the copy's name, file
    /// and system identifier are its own.
    pub fn mismatch_of_copy(&self, now: &StoreIdentity) -> Option<String> {
        self.differs(now, true)
    }

    /// The copy's identity where it is not the sealed store's (None: the same store).
    pub fn copy_note(&self, now: &StoreIdentity) -> Option<String> {
        self.differs(now, false).map(|_| {
            format!(
                "verified as a copy of the store sealed on {} (its name, file and system identifier are not compared)",
                self.url
            )
        })
    }

    fn differs(&self, now: &StoreIdentity, copy: bool) -> Option<String> {
        let mut d = Vec::new();
        if self.db_kind != now.db_kind {
            d.push(format!("database kind {} vs {}", self.db_kind, now.db_kind));
        }
        if self.layout != now.layout {
            d.push(format!("layout {} vs {}", self.layout, now.layout));
        }
        if copy {
            return (!d.is_empty()).then(|| {
                format!(
                    "the store is not a copy of the sealed one (sealed on {}; {})",
                    self.url,
                    d.join(", ")
                )
            });
        }
        if self.database != now.database {
            d.push(format!(
                "database {} vs {}",
                self.database.as_deref().unwrap_or("?"),
                now.database.as_deref().unwrap_or("?")
            ));
        }
        if let (Some(a), Some(b)) = (&self.system_identifier, &now.system_identifier) {
            if a != b {
                d.push(format!("system identifier {a} vs {b}"));
            }
        }
        (!d.is_empty()).then(|| {
            format!(
                "the receipt is from another store (sealed on {}; {}; a copy of it, such as a restored backup, is verified with --copy)",
                self.url,
                d.join(", ")
            )
        })
    }
}

/// The identity of the store evscope is connected to.
pub async fn identify(store: &Store) -> Result<StoreIdentity, SealError> {
    let q = |e: sqlx::Error| SealError::Store(crate::store::StoreError::query(e));
    let (kind, database, sysid) = match store.db() {
        Db::Postgres(pool) => {
            let db: String = sqlx::query_scalar("SELECT current_database()")
                .fetch_one(pool)
                .await
                .map_err(q)?;
            // pg_control_system() may be refused to a role without pg_monitor: the
            // identifier is then not recorded (and not compared).
            let sysid: Option<String> = sqlx::query_scalar(
                "SELECT CAST(system_identifier AS text) FROM pg_control_system()",
            )
            .fetch_one(pool)
            .await
            .ok();
            ("postgres", Some(db), sysid)
        }
        Db::MySql(pool) => {
            let db: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
                .fetch_one(pool)
                .await
                .map_err(q)?;
            // MariaDB has no server_uuid.
            let uuid: Option<String> = sqlx::query_scalar("SELECT CAST(@@server_uuid AS CHAR)")
                .fetch_one(pool)
                .await
                .ok()
                .flatten();
            ("mysql", db, uuid)
        }
        Db::Sqlite(_) => {
            let url = store.url();
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let path = path.split('?').next().unwrap_or(path);
            let abs = std::fs::canonicalize(path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| path.to_string());
            ("sqlite", Some(abs), None)
        }
    };
    Ok(StoreIdentity {
        url: store.url().to_string(),
        db_kind: kind.into(),
        layout: store.layout().name.clone(),
        database,
        system_identifier: sysid,
    })
}

impl Receipt {
    pub fn new(
        store: StoreIdentity,
        range: &Range,
        sealed: &Sealed,
        digests: Option<String>,
        previous: Option<Previous>,
    ) -> Receipt {
        Receipt {
            evscope_receipt: FORMAT,
            store,
            range: range.clone(),
            range_text: range.describe(),
            key: sealed.key,
            count: sealed.count,
            first: sealed.first.as_ref().map(EventSummary::from),
            last: sealed.last.as_ref().map(EventSummary::from),
            settled_through: sealed.settled_through,
            raw_rows: sealed.raw_rows,
            encoding: canonical::ENCODING.into(),
            hash: merkle::HASHING.into(),
            root: merkle::hex(&sealed.root),
            subtrees: sealed.subtrees.as_ref().map(|t| ReceiptSubtrees {
                leaves: 1u64 << t.level,
                roots: t.roots.iter().map(merkle::hex).collect(),
            }),
            digests,
            previous,
            evscope_version: env!("CARGO_PKG_VERSION").into(),
            sealed_at: Utc::now(),
            sealed_by: crate::replay::job::whoami(),
            signature: None,
        }
    }

    /// The receipt's subtrees, checked: they must cover its count and give its root (a
    /// receipt whose subtrees were edited is refused, signed or not).
    pub fn subtrees(&self) -> Result<Option<merkle::Subtrees>, SealError> {
        let Some(t) = &self.subtrees else {
            return Ok(None);
        };
        let bad = |why: &str| SealError::Receipt(format!("its subtrees {why}"));
        if !t.leaves.is_power_of_two() {
            return Err(bad("are not of a power of two events each"));
        }
        if t.roots.len() as u64 != self.count.div_ceil(t.leaves) {
            return Err(bad("do not cover the events it sealed"));
        }
        let roots = t
            .roots
            .iter()
            .map(|r| merkle::parse_hex(r).ok_or_else(|| bad("hold a root that is not a hash")))
            .collect::<Result<Vec<_>, _>>()?;
        let st = merkle::Subtrees {
            level: t.leaves.trailing_zeros(),
            roots,
        };
        if st.root() != self.root_hash()? {
            return Err(bad("do not give its root (the receipt was edited)"));
        }
        Ok(Some(st))
    }

    pub fn root_hash(&self) -> Result<Hash, SealError> {
        merkle::parse_hex(&self.root)
            .ok_or_else(|| SealError::Receipt(format!("the root {:?} is not a hash", self.root)))
    }

    /// The bytes a signature covers: the receipt without `signature`, RFC 8785.
    /// A receipt read from a file is checked as the file holds it (`raw`): a member added by
    /// hand, which the struct would drop, breaks the signature too.
    fn signed_bytes(&self, raw: Option<&[u8]>) -> Result<Vec<u8>, SealError> {
        let mut v = match raw {
            Some(b) => serde_json::from_slice(b),
            None => serde_json::to_value(self),
        }
        .map_err(|e| SealError::Receipt(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.remove("signature");
        }
        Ok(value_jcs(&v).into_bytes())
    }

    pub fn sign(&mut self, key: &SigningKey) -> Result<(), SealError> {
        self.signature = None;
        let sig = key.sign(&self.signed_bytes(None)?);
        self.signature = Some(ReceiptSignature {
            algorithm: "ed25519".into(),
            public_key: to_hex(key.verifying_key().as_bytes()),
            value: to_hex(&sig.to_bytes()),
        });
        Ok(())
    }

    /// Check the signature (when there is one, or when `key` requires one): Ok(Some(public
    /// key)) when signed and valid, Ok(None) when unsigned and no key is required.
    pub fn check_signature(
        &self,
        raw: Option<&[u8]>,
        key: Option<&VerifyingKey>,
    ) -> Result<Option<String>, SealError> {
        let Some(s) = &self.signature else {
            return match key {
                Some(_) => Err(SealError::Signature(
                    "the receipt is not signed, and a key was given".into(),
                )),
                None => Ok(None),
            };
        };
        if s.algorithm != "ed25519" {
            return Err(SealError::Signature(format!(
                "unknown signature algorithm {:?}",
                s.algorithm
            )));
        }
        let pk = from_hex::<32>(&s.public_key)
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| SealError::Signature("the receipt's public key is malformed".into()))?;
        if let Some(k) = key {
            if k != &pk {
                return Err(SealError::Signature(format!(
                    "signed by another key ({}), not the one given ({})",
                    s.public_key,
                    to_hex(k.as_bytes())
                )));
            }
        }
        let sig = from_hex::<64>(&s.value)
            .map(|b| Signature::from_bytes(&b))
            .ok_or_else(|| SealError::Signature("the signature is malformed".into()))?;
        pk.verify(&self.signed_bytes(raw)?, &sig).map_err(|_| {
            SealError::Signature(
                "the signature does not match the receipt (it was changed after signing)".into(),
            )
        })?;
        Ok(Some(s.public_key.clone()))
    }

    /// Read a receipt file.
    pub fn load(path: &Path) -> Result<(Receipt, Vec<u8>), SealError> {
        let bytes = std::fs::read(path)
            .map_err(|e| SealError::Receipt(format!("{}: {e}", path.display())))?;
        let r: Receipt = serde_json::from_slice(&bytes).map_err(|e| {
            SealError::Receipt(format!("{} is not an evscope receipt: {e}", path.display()))
        })?;
        if r.evscope_receipt != FORMAT {
            return Err(SealError::Receipt(format!(
                "{}: receipt format {} (this evscope reads {FORMAT})",
                path.display(),
                r.evscope_receipt
            )));
        }
        Ok((r, bytes))
    }

    /// The digest file: the one given, else the receipt's own beside it.
    pub fn digests_path(&self, receipt: &Path, given: Option<&Path>) -> Option<PathBuf> {
        if let Some(g) = given {
            return Some(g.to_path_buf());
        }
        let d = self.digests.as_ref()?;
        let dir = receipt.parent().unwrap_or(Path::new("."));
        Some(dir.join(d))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

const SECRET_TAG: &str = "evscope-ed25519-secret-key";
const PUBLIC_TAG: &str = "evscope-ed25519-public-key";

/// Write a new key pair: `path` (the secret key, mode 0600) and `path.pub`.
pub fn keygen(path: &Path, force: bool) -> Result<(PathBuf, String), SealError> {
    let public = public_path(path);
    for p in [path, public.as_path()] {
        if p.exists() && !force {
            return Err(SealError::Usage(format!(
                "{} exists (--force replaces it)",
                p.display()
            )));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| SealError::Key(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let pk = to_hex(key.verifying_key().as_bytes());
    write_private(path, &format!("{SECRET_TAG} {}\n", to_hex(&seed)))?;
    std::fs::write(&public, format!("{PUBLIC_TAG} {pk}\n"))
        .map_err(|e| SealError::Key(format!("{}: {e}", public.display())))?;
    Ok((public, pk))
}

pub fn public_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn write_private(path: &Path, text: &str) -> Result<(), SealError> {
    use std::io::Write;
    let err = |e: std::io::Error| SealError::Key(format!("{}: {e}", path.display()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Read a secret key file written by [`keygen`].
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SealError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SealError::Key(format!("{}: {e}", path.display())))?;
    let hex = text
        .trim()
        .strip_prefix(SECRET_TAG)
        .map(str::trim)
        .ok_or_else(|| {
            SealError::Key(format!(
                "{} is not an evscope secret key (evscope keygen writes one)",
                path.display()
            ))
        })?;
    let seed = from_hex::<32>(hex)
        .ok_or_else(|| SealError::Key(format!("{}: malformed key", path.display())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Read a public key file (`KEY.pub`), or the public half of a secret key file.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, SealError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SealError::Key(format!("{}: {e}", path.display())))?;
    let t = text.trim();
    if t.starts_with(SECRET_TAG) {
        return Ok(load_signing_key(path)?.verifying_key());
    }
    let hex = t.strip_prefix(PUBLIC_TAG).map(str::trim).ok_or_else(|| {
        SealError::Key(format!("{} is not an evscope public key", path.display()))
    })?;
    from_hex::<32>(hex)
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| SealError::Key(format!("{}: malformed key", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            evscope_receipt: FORMAT,
            store: StoreIdentity {
                url: "sqlite:///x.db".into(),
                db_kind: "sqlite".into(),
                layout: "native".into(),
                database: Some("/x.db".into()),
                system_identifier: None,
            },
            range: Range::default(),
            range_text: "whole log".into(),
            key: KeyKind::Position,
            count: 3,
            first: None,
            last: None,
            settled_through: None,
            raw_rows: 0,
            encoding: canonical::ENCODING.into(),
            hash: merkle::HASHING.into(),
            root: merkle::hex(&merkle::empty_root()),
            subtrees: None,
            digests: None,
            previous: None,
            evscope_version: "0".into(),
            sealed_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            sealed_by: "a@b".into(),
            signature: None,
        }
    }

    #[test]
    fn signatures_cover_every_field_and_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let kp = dir.path().join("k");
        keygen(&kp, false).unwrap();
        assert!(keygen(&kp, false).is_err(), "an existing key is kept");
        let key = load_signing_key(&kp).unwrap();
        let vk = load_verifying_key(&public_path(&kp)).unwrap();
        assert_eq!(vk, key.verifying_key());
        let mut r = receipt();
        r.sign(&key).unwrap();
        assert!(r.check_signature(None, None).unwrap().is_some());
        assert!(r.check_signature(None, Some(&vk)).is_ok());
        // Through a file and back.
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Receipt = serde_json::from_str(&text).unwrap();
        assert!(
            back.check_signature(Some(text.as_bytes()), Some(&vk))
                .is_ok()
        );
        // A member added by hand breaks it, though the struct does not keep it.
        let added = text.replacen('{', "{\"note\": \"x\",", 1);
        let back: Receipt = serde_json::from_str(&added).unwrap();
        assert!(back.check_signature(Some(added.as_bytes()), None).is_err());
        // An edit anywhere breaks it.
        let mut edited = r.clone();
        edited.count = 4;
        assert!(matches!(
            edited.check_signature(None, None),
            Err(SealError::Signature(_))
        ));
        // Another key is named as such.
        let other = dir.path().join("o");
        keygen(&other, false).unwrap();
        let ovk = load_verifying_key(&public_path(&other)).unwrap();
        let e = r.check_signature(None, Some(&ovk)).unwrap_err().to_string();
        assert!(e.contains("another key"), "{e}");
        // An unsigned receipt when a key is required.
        assert!(receipt().check_signature(None, Some(&vk)).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&kp).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
