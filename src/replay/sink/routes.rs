//! Which JetStream stream stores a subject, as far as the NATS sink can tell without asking the
//! server for every message: the subject filters of the streams it lists once per connection,
//! and the stream that an acknowledgement names for a subject no filter matched.
//!
//! The sink needs it to chain its publishes per JetStream stream (each publish expects the
//! previous one of the same stream to be the stream's last message, `Nats-Expected-Last-Msg-Id`):
//! a chain that spanned two streams would be refused at once.

use std::collections::HashMap;

/// A JetStream stream, as an index into [`Routes`]' names.
pub(super) type Route = u32;

/// Known subjects are kept up to this many (a subject template with the stream id in it gives
/// one per stream); past it the table is emptied and filled again as subjects come.
const KNOWN: usize = 1 << 16;

#[derive(Default)]
pub(super) struct Routes {
    names: Vec<String>,
    /// Each listed stream's subject filters: (filter, stream).
    filters: Vec<(String, Route)>,
    known: HashMap<String, Route>,
    /// Streams another publisher also writes to: published to one message at a time, without
    /// an expectation.
    serial: Vec<bool>,
}

impl Routes {
    /// The streams the server listed, with their subject filters: these replace the listing of
    /// an earlier connection (streams may have been changed since).
    pub(super) fn set_listing(&mut self, streams: impl IntoIterator<Item = (String, Vec<String>)>) {
        self.filters.clear();
        self.known.clear();
        for (name, subjects) in streams {
            let r = self.intern(&name);
            for s in subjects {
                self.filters.push((s, r));
            }
        }
    }

    /// The stream that stores `subject`, if known.
    pub(super) fn route(&mut self, subject: &str) -> Option<Route> {
        if let Some(r) = self.known.get(subject) {
            return Some(*r);
        }
        let r = self
            .filters
            .iter()
            .find(|(f, _)| subject_matches(f, subject))
            .map(|(_, r)| *r)?;
        self.remember(subject, r);
        Some(r)
    }

    /// An acknowledgement said that `stream` stored `subject`.
    pub(super) fn learn(&mut self, subject: &str, stream: &str) -> Route {
        let r = self.intern(stream);
        self.remember(subject, r);
        r
    }

    pub(super) fn name(&self, r: Route) -> &str {
        &self.names[r as usize]
    }

    pub(super) fn serial(&self, r: Route) -> bool {
        self.serial[r as usize]
    }

    pub(super) fn set_serial(&mut self, r: Route) {
        self.serial[r as usize] = true;
    }

    fn remember(&mut self, subject: &str, r: Route) {
        if self.known.len() >= KNOWN {
            self.known.clear();
        }
        self.known.insert(subject.to_string(), r);
    }

    fn intern(&mut self, name: &str) -> Route {
        match self.names.iter().position(|n| n == name) {
            Some(i) => i as Route,
            None => {
                self.names.push(name.to_string());
                self.serial.push(false);
                (self.names.len() - 1) as Route
            }
        }
    }
}

/// Whether a NATS subject filter matches a subject: tokens separated by `.`, `*` standing for
/// one token, a final `>` for one or more.
pub(super) fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return f.next().is_none(),
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_filters_match_as_nats_matches_them() {
        for (f, s, m) in [
            ("replay.>", "replay.a.T", true),
            ("replay.>", "replay.a", true),
            ("replay.>", "replay", false),
            ("replay.*", "replay.a", true),
            ("replay.*", "replay.a.T", false),
            ("replay.*.T", "replay.a.T", true),
            ("replay.*.T", "replay.a.U", false),
            ("*.a.>", "x.a.b.c", true),
            ("replay.a", "replay.a", true),
            ("replay.a", "replay.ab", false),
            ("replay.a", "replay", false),
            (">", "anything.at.all", true),
            ("replay.>.x", "replay.a.x", false),
        ] {
            assert_eq!(subject_matches(f, s), m, "{f} ~ {s}");
        }
    }

    #[test]
    fn a_subject_is_routed_by_the_listing_then_by_what_acknowledgements_said() {
        let mut r = Routes::default();
        r.set_listing([
            ("A".to_string(), vec!["a.>".to_string()]),
            ("B".to_string(), vec!["b.*".to_string(), "c.x".to_string()]),
        ]);
        let a = r.route("a.1.T").unwrap();
        let b = r.route("c.x").unwrap();
        assert_eq!((r.name(a), r.name(b)), ("A", "B"));
        assert_eq!(r.route("b.1.T"), None, "no filter matches");
        let d = r.learn("b.1.T", "D");
        assert_eq!(r.route("b.1.T"), Some(d));
        assert_eq!(r.learn("z", "A"), a, "one index per stream");
        assert!(!r.serial(a));
        r.set_serial(a);
        assert!(r.serial(a) && !r.serial(b));
        // A new listing replaces the filters; a stream keeps its index and its serial mark.
        r.set_listing([("A".to_string(), vec!["x.>".to_string()])]);
        assert_eq!(r.route("a.1.T"), None);
        assert_eq!(r.route("x.1"), Some(a));
        assert!(r.serial(a));
    }
}
