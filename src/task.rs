//! Small helpers for spawned work.

use tokio::task::{JoinError, JoinHandle};

/// A spawned task that is aborted when this is dropped: a read-ahead whose reader went away
/// (an error, a cancelled view, a fold that stopped) stops at once.
pub struct AbortOnDrop<T = ()>(Option<JoinHandle<T>>);

impl<T> AbortOnDrop<T> {
    pub fn new(task: JoinHandle<T>) -> AbortOnDrop<T> {
        AbortOnDrop(Some(task))
    }

    /// Wait for the task's result.
    pub async fn join(mut self) -> Result<T, JoinError> {
        match self.0.take() {
            Some(task) => task.await,
            None => unreachable!("the handle is only taken here or on drop"),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}
