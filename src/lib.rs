//! evscope: look inside an event store and act on it safely.
//!
//! `store` reads event stores (no terminal code); `cli` and `tui` are two faces over it.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod consumers;
pub mod demo;
pub mod exact;
pub mod filter;
pub mod jq;
pub mod output;
pub mod pushdown;
pub mod redact;
pub mod rehydrate;
pub mod replay;
pub mod scan;
pub mod seal;
pub mod snapshots;
pub mod store;
pub mod task;
pub mod timeparse;
pub mod trace;
pub mod tui;
