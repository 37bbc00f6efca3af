//! Time-travel rehydration: fold a stream's events into state, one event at a time.
//!
//! No terminal code here: the CLI (`evscope rehydrate`) and the TUI's rehydration view are two
//! faces over it.

pub mod diff;
pub mod reducer;
pub mod source;
pub mod timeline;
