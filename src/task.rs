//! Small helpers for spawned work.

use tokio::task::JoinHandle;

/// Aborts its task when dropped: a read-ahead whose reader went away stops at once.
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
