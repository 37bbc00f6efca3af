//! Seal and verify: tamper evidence for event stores kept in SQL databases.
//!
//! A seal reads a range of the log in order and writes a receipt: the store, the range, the
//! count, the first and last event and the Merkle root over the events' canonical bytes
//! ([`canonical`], [`merkle`]). `verify-seal` reads the range again and says whether anything
//! changed, and what. evscope stays read-only: receipts are files.

pub mod canonical;
pub mod merkle;
