//! The publishes in flight on one NATS connection and their answers, in publish order.
//!
//! Every publish carries its own reply subject, `<inbox>.<n>`, `n` its number on the
//! connection, and one subscription to `<inbox>.*` receives every answer. An answer is put in
//! the slot its subject names, whatever order answers arrive in (one stream answers in order;
//! several streams, or a cluster, need not), and the job is handed the answers strictly in
//! publish order: [`Window::pop`] gives the oldest publish's answer only once it has one. So an
//! acknowledgement never counts before the acknowledgements of everything published before it,
//! and a publish without an answer holds back every later one (see `NatsSink` for the whole
//! argument).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A publish's answer, as far as the window is concerned: `A` is the sink's own type.
struct Slot<A> {
    sent: Instant,
    answer: Option<A>,
}

/// Publishes numbered from `base` (the oldest not yet handed to the job) on.
pub(super) struct Window<A> {
    base: u64,
    slots: VecDeque<Slot<A>>,
    /// How many slots have no answer yet.
    unanswered: usize,
}

impl<A> Window<A> {
    pub(super) fn new() -> Window<A> {
        Window {
            base: 0,
            slots: VecDeque::new(),
            unanswered: 0,
        }
    }

    /// The number the next publish gets (for its reply subject).
    pub(super) fn next(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// A new publish, sent at `sent`: its number.
    pub(super) fn push(&mut self, sent: Instant) -> u64 {
        let n = self.next();
        self.slots.push_back(Slot { sent, answer: None });
        self.unanswered += 1;
        n
    }

    /// A publish that has its answer already (it was not sent: an earlier one failed).
    pub(super) fn push_answered(&mut self, sent: Instant, answer: A) {
        self.slots.push_back(Slot {
            sent,
            answer: Some(answer),
        });
    }

    /// The answer to publish `n`. An answer to a publish that is not in flight (already handed
    /// to the job, or never made) and a second answer to one are ignored: the first counts.
    pub(super) fn answer(&mut self, n: u64, answer: A) {
        let Some(i) = n.checked_sub(self.base) else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(i as usize) {
            if slot.answer.is_none() {
                slot.answer = Some(answer);
                self.unanswered -= 1;
            }
        }
    }

    /// The oldest publish's answer, if it has one (then it leaves the window).
    pub(super) fn pop(&mut self) -> Option<A> {
        self.slots.front()?.answer.as_ref()?;
        let slot = self.slots.pop_front()?;
        self.base += 1;
        slot.answer
    }

    /// When the oldest publish without an answer is late: `timeout` after it was sent. (The
    /// job waits for the oldest first, so only its time matters: every later one was sent
    /// after it.)
    pub(super) fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let front = self.slots.front()?;
        front.answer.is_none().then(|| front.sent + timeout)
    }

    /// Whether every publish in the window has its answer (none is in flight).
    #[cfg(test)]
    fn all_answered(&self) -> bool {
        self.unanswered == 0
    }

    /// When the oldest publish still without an answer, wherever it is in the window, is late.
    pub(super) fn oldest_unanswered_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.unanswered == 0 {
            return None;
        }
        let slot = self.slots.iter().find(|s| s.answer.is_none())?;
        Some(slot.sent + timeout)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// The publish number in a reply subject `<inbox>.<n>`.
pub(super) fn reply_number(subject: &str) -> Option<u64> {
    subject.rsplit_once('.')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_handed_over_in_publish_order_whatever_order_they_arrive_in() {
        let t = Instant::now();
        let mut w = Window::new();
        let n: Vec<u64> = (0..5).map(|_| w.push(t)).collect();
        assert_eq!(n, [0, 1, 2, 3, 4]);
        w.answer(2, "c");
        w.answer(1, "b");
        assert_eq!(w.pop(), None, "the oldest has no answer: nothing counts");
        w.answer(0, "a");
        assert_eq!(w.pop(), Some("a"));
        assert_eq!(w.pop(), Some("b"));
        assert_eq!(w.pop(), Some("c"));
        assert_eq!(w.pop(), None);
        assert_eq!(w.len(), 2);
        // A number goes on where it was.
        assert_eq!(w.push(t), 5);
    }

    /// Answers arrive for every publish of a window but one: none after the missing one is
    /// handed over, however long the wait, and the missing one is the one that is late.
    #[test]
    fn a_missing_answer_holds_back_every_later_one() {
        let t = Instant::now();
        let timeout = Duration::from_secs(5);
        let mut w = Window::new();
        for _ in 0..256 {
            w.push(t);
        }
        for n in (0..256).filter(|n| *n != 100) {
            w.answer(n, Ok::<u64, &str>(n));
        }
        let mut handed = vec![];
        while let Some(a) = w.pop() {
            handed.push(a.unwrap());
        }
        assert_eq!(handed, (0..100).collect::<Vec<_>>());
        assert_eq!(w.len(), 156);
        assert_eq!(
            w.deadline(timeout),
            Some(t + timeout),
            "publish 100 is waited for"
        );
        // Its error comes: it is handed over first, then the ones after it (which the job
        // never takes: it stops at the error).
        w.answer(100, Err("rejected"));
        assert_eq!(w.pop(), Some(Err("rejected")));
        assert_eq!(w.pop(), Some(Ok(101)));
    }

    #[test]
    fn stray_and_repeated_answers_are_ignored() {
        let t = Instant::now();
        let mut w = Window::new();
        w.push(t);
        w.push(t);
        w.answer(0, 1);
        w.answer(0, 2);
        w.answer(7, 9);
        assert_eq!(w.pop(), Some(1));
        w.answer(0, 3);
        assert_eq!(w.pop(), None);
        w.push_answered(t, 4);
        w.answer(1, 5);
        assert_eq!((w.pop(), w.pop(), w.pop()), (Some(5), Some(4), None));
        assert_eq!(w.deadline(Duration::from_secs(1)), None);
        assert!(w.all_answered());
    }

    /// What a publish that must not overtake anything waits for: every publish in flight
    /// answered, the oldest unanswered one (not only the front) being the one that is late.
    #[test]
    fn the_window_knows_when_nothing_is_in_flight() {
        let t = Instant::now();
        let timeout = Duration::from_secs(5);
        let mut w = Window::new();
        assert!(w.all_answered());
        assert_eq!(w.oldest_unanswered_deadline(timeout), None);
        w.push(t);
        w.push(t + Duration::from_secs(1));
        w.push(t + Duration::from_secs(2));
        assert!(!w.all_answered());
        w.answer(0, 0);
        w.answer(2, 2);
        assert_eq!(
            w.oldest_unanswered_deadline(timeout),
            Some(t + Duration::from_secs(1) + timeout)
        );
        w.answer(1, 1);
        w.answer(1, 9);
        assert!(w.all_answered(), "a second answer counts once");
        assert_eq!(w.oldest_unanswered_deadline(timeout), None);
        w.push_answered(t, 3);
        assert!(w.all_answered());
    }

    #[test]
    fn reply_subjects_name_their_publish() {
        assert_eq!(reply_number("_INBOX.abc.17"), Some(17));
        assert_eq!(reply_number("_INBOX.abc.x"), None);
        assert_eq!(reply_number("17"), None);
    }
}
