//! How work leaves `update` and comes back: every request runs in a task, and its answer
//! arrives as a [`Msg::Reply`] addressed to the view (or overlay) that asked, with the
//! request's id. Views never name each other's messages: a [`Replier`] carries any answer type,
//! and the view downcasts what it receives.
//!
//! [`Slot`] is the "newest request wins" rule in one place: starting a request aborts the one
//! before it, and only the newest answer is accepted. [`Tasks`] is the same for a list that
//! has up to one request per side in flight. Both abort their tasks when dropped, so a view
//! that is popped takes its work with it.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;

use ratatui::crossterm::event::Event as TermEvent;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Who a reply is for: a view of the stack, or an overlay of the app.
pub type Target = u64;

/// Everything that reaches the app's `update`.
#[derive(Debug)]
pub enum Msg {
    Term(TermEvent),
    Tick,
    Reply(Reply),
}

/// An answer to a request.
pub struct Reply {
    pub to: Target,
    pub req: u64,
    pub payload: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply {{ to: {}, req: {} }}", self.to, self.req)
    }
}

/// Sends answers of type `T` to one target, tagged with one request id.
pub struct Replier<T> {
    tx: UnboundedSender<Msg>,
    to: Target,
    req: u64,
    _t: PhantomData<fn(T)>,
}

impl<T> Clone for Replier<T> {
    fn clone(&self) -> Self {
        Replier {
            tx: self.tx.clone(),
            to: self.to,
            req: self.req,
            _t: PhantomData,
        }
    }
}

impl<T: Send + 'static> Replier<T> {
    pub fn new(tx: UnboundedSender<Msg>, to: Target, req: u64) -> Self {
        Replier {
            tx,
            to,
            req,
            _t: PhantomData,
        }
    }

    /// The same target, another request id (a worker answering several requests).
    pub fn with_req(&self, req: u64) -> Self {
        Replier {
            req,
            ..self.clone()
        }
    }

    /// The request id answers carry.
    pub fn req(&self) -> u64 {
        self.req
    }

    /// The same target and request id, for answers of another type (progress reports).
    pub fn clone_as<U: Send + 'static>(&self) -> Replier<U> {
        Replier::new(self.tx.clone(), self.to, self.req)
    }

    /// False when the app is gone.
    pub fn send(&self, answer: T) -> bool {
        self.tx
            .send(Msg::Reply(Reply {
                to: self.to,
                req: self.req,
                payload: Box::new(answer),
            }))
            .is_ok()
    }
}

/// What a request's answer is, if it is of type `T`.
pub fn downcast<T: 'static>(payload: Box<dyn Any + Send>) -> Option<T> {
    payload.downcast::<T>().ok().map(|b| *b)
}

/// Stops a running request.
enum Stop {
    Abort(AbortHandle),
    /// A task on a blocking thread stops when this is dropped (at its next await).
    Signal(#[allow(dead_code)] oneshot::Sender<()>),
    /// Answered by a worker the view owns: nothing to stop.
    Worker,
}

impl Stop {
    fn stop(self) {
        match self {
            Stop::Abort(h) => h.abort(),
            Stop::Signal(s) => drop(s),
            Stop::Worker => {}
        }
    }
}

/// Spawn `work`; its result is sent with `reply`.
fn spawn<T, F>(reply: Replier<T>, work: F) -> Stop
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let h = tokio::spawn(async move {
        // The tests' way to make a task panic (debug builds only): the TUI must end on it
        // as on a panic of its own loop, the terminal restored (tests/tmux.rs).
        #[cfg(debug_assertions)]
        if std::env::var_os("EVSCOPE_TEST_PANIC_IN_TASK").is_some() {
            panic!("a test panic in a TUI task (EVSCOPE_TEST_PANIC_IN_TASK)");
        }
        let answer = work.await;
        reply.send(answer);
    });
    Stop::Abort(h.abort_handle())
}

/// Run a future that cannot move between threads (jq values are not `Send`) on a blocking
/// thread of its own, with the runtime's handle; it stops when the returned signal drops.
fn spawn_blocking<T, F, Fut>(reply: Replier<T>, make: F) -> Stop
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            tokio::select! {
                answer = make() => { reply.send(answer); }
                _ = stopped => {}
            }
        })
    });
    Stop::Signal(stop)
}

/// One request at a time: the newest wins.
#[derive(Default)]
pub struct Slot {
    current: Option<(u64, Stop)>,
}

impl Slot {
    /// Start a request (`reply` carries its id); the one before it is stopped and its answer
    /// will be refused.
    pub fn start<T, F>(&mut self, reply: Replier<T>, work: F) -> u64
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let req = reply.req;
        self.replace(req, spawn(reply, work));
        req
    }

    /// [`Slot::start`] for work that is not `Send` (see [`spawn_blocking`]).
    pub fn start_blocking<T, F, Fut>(&mut self, reply: Replier<T>, make: F) -> u64
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let req = reply.req;
        self.replace(req, spawn_blocking(reply, make));
        req
    }

    /// Wait for request `req`, sent to a worker the view owns (which answers only the newest of
    /// the commands queued to it).
    pub fn expect(&mut self, req: u64) {
        self.replace(req, Stop::Worker);
    }

    fn replace(&mut self, req: u64, stop: Stop) {
        if let Some((_, old)) = self.current.replace((req, stop)) {
            old.stop();
        }
    }

    /// Take the answer to `req` if it is the newest request (the slot is then free).
    pub fn accept(&mut self, req: u64) -> bool {
        if self.current.as_ref().is_some_and(|(r, _)| *r == req) {
            self.current = None;
            true
        } else {
            false
        }
    }

    /// The newest request is `req` and still running (progress reports are for it).
    pub fn is(&self, req: u64) -> bool {
        self.current.as_ref().is_some_and(|(r, _)| *r == req)
    }

    pub fn is_pending(&self) -> bool {
        self.current.is_some()
    }

    /// Stop the request running, if any.
    pub fn cancel(&mut self) {
        if let Some((_, s)) = self.current.take() {
            s.stop();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Several requests in flight (a list's pages before and after its rows); those the list no
/// longer waits for are stopped with [`Tasks::keep_only`].
#[derive(Default)]
pub struct Tasks {
    running: Vec<(u64, AbortHandle)>,
}

impl Tasks {
    pub fn start<T, F>(&mut self, reply: Replier<T>, work: F)
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.running.retain(|(_, h)| !h.is_finished());
        let req = reply.req;
        if let Stop::Abort(h) = spawn(reply, work) {
            self.running.push((req, h));
        }
    }

    /// Stop every task whose id is not in `live`.
    pub fn keep_only(&mut self, live: &[u64]) {
        self.running.retain(|(id, h)| {
            let keep = live.contains(id) && !h.is_finished();
            if !keep {
                h.abort();
            }
            keep
        });
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for (_, h) in &self.running {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    #[tokio::test]
    async fn the_newest_request_wins_and_the_older_one_is_stopped() {
        let (tx, mut rx) = unbounded_channel();
        let mut slot = Slot::default();
        let (started_tx, started) = oneshot::channel::<()>();
        let slow = slot.start(Replier::<u32>::new(tx.clone(), 7, 1), async move {
            let _ = started_tx.send(());
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            1
        });
        started.await.unwrap();
        let fast = slot.start(Replier::<u32>::new(tx.clone(), 7, 2), async { 2 });
        let Some(Msg::Reply(r)) = rx.recv().await else {
            panic!("no reply")
        };
        assert_eq!((r.to, r.req), (7, fast));
        assert!(!slot.accept(slow), "an older answer is refused");
        assert!(slot.accept(fast));
        assert_eq!(downcast::<u32>(r.payload), Some(2));
        assert!(!slot.is_pending());
        // The slow one was aborted: nothing else arrives.
        drop(tx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn dropping_a_slot_stops_its_request() {
        let (tx, mut rx) = unbounded_channel();
        let mut slot = Slot::default();
        slot.start_blocking(Replier::<u32>::new(tx.clone(), 1, 1), || async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            1
        });
        drop(slot);
        drop(tx);
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
        assert!(
            matches!(r, Ok(None)),
            "the blocking task ended without answering"
        );
    }
}
