//! How consumers move between refreshes (`consumers --watch`, the TUI view): lag growing or
//! shrinking, events per second consumed, a short history of the lag for a sparkline, and when
//! each was last seen to move (for tables that record no update time).

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Framework;
use super::lag::Report;

/// Samples kept per consumer.
pub const KEEP: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Growing,
    Shrinking,
    Steady,
}

impl Direction {
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Growing => "↑",
            Direction::Shrinking => "↓",
            Direction::Steady => "→",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    at: DateTime<Utc>,
    checkpoint: Option<i64>,
    lag: u64,
}

/// The movement of one consumer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Movement {
    pub direction: Direction,
    /// Checkpoint positions advanced per second over the history kept.
    pub events_per_sec: f64,
    /// The lag at each refresh, oldest first.
    pub lag_history: Vec<u64>,
}

/// Every consumer's recent samples.
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: BTreeMap<(Framework, String), VecDeque<Sample>>,
    moved: BTreeMap<(Framework, String), DateTime<Utc>>,
}

impl History {
    /// Record a report's consumers.
    pub fn add(&mut self, r: &Report) {
        let at = r.at.unwrap_or_else(Utc::now);
        for l in &r.consumers {
            let key = (l.consumer.framework, l.consumer.id());
            let q = self.samples.entry(key.clone()).or_default();
            let cp = l.consumer.checkpoint;
            match q.back() {
                Some(last) if last.checkpoint != cp => {
                    self.moved.insert(key, at);
                }
                None => {
                    self.moved.entry(key).or_insert(at);
                }
                _ => {}
            }
            q.push_back(Sample {
                at,
                checkpoint: cp,
                lag: l.lag_events.unwrap_or(0),
            });
            while q.len() > KEEP {
                q.pop_front();
            }
        }
    }

    /// When each consumer was last seen to move (first seen counts as a move).
    pub fn last_moved(&self) -> BTreeMap<(Framework, String), DateTime<Utc>> {
        self.moved.clone()
    }

    pub fn movement(&self, framework: Framework, id: &str) -> Option<Movement> {
        let q = self.samples.get(&(framework, id.to_string()))?;
        let (first, last) = (q.front()?, q.back()?);
        let secs = (last.at - first.at).num_milliseconds() as f64 / 1000.0;
        let advanced = match (first.checkpoint, last.checkpoint) {
            (a, Some(b)) => (b - a.unwrap_or(0)).max(0) as f64,
            _ => 0.0,
        };
        let direction = match last.lag.cmp(&first.lag) {
            std::cmp::Ordering::Greater => Direction::Growing,
            std::cmp::Ordering::Less => Direction::Shrinking,
            std::cmp::Ordering::Equal => Direction::Steady,
        };
        Some(Movement {
            direction,
            events_per_sec: if secs > 0.0 { advanced / secs } else { 0.0 },
            lag_history: q.iter().map(|s| s.lag).collect(),
        })
    }
}

/// A sparkline of values as text (▁ to █, scaled to the largest).
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|v| {
            if max == 0 {
                BARS[0]
            } else {
                BARS[((*v as f64 / max as f64) * 7.0).round() as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumers::Consumer;
    use crate::consumers::lag::Lagged;

    fn report(at: i64, cp: i64, lag: u64) -> Report {
        let mut c = Consumer::new(Framework::Native, "p", "t");
        c.checkpoint = Some(cp);
        Report {
            layout: "native".into(),
            head: Some(cp + lag as i64),
            settled_head: None,
            settled_note: None,
            at: DateTime::from_timestamp(at, 0),
            stall_after_secs: 300,
            consumers: vec![Lagged {
                consumer: c,
                lag_events: Some(lag),
                lag_exact: true,
                lag_secs: None,
                oldest_unprocessed: None,
                idle_secs: None,
                flags: vec![],
            }],
        }
    }

    #[test]
    fn movement_over_refreshes() {
        let mut h = History::default();
        h.add(&report(1000, 10, 50));
        h.add(&report(1002, 30, 40));
        h.add(&report(1004, 50, 20));
        let m = h.movement(Framework::Native, "p").unwrap();
        assert_eq!(m.direction, Direction::Shrinking);
        assert_eq!(m.events_per_sec, 10.0);
        assert_eq!(m.lag_history, vec![50, 40, 20]);
        assert_eq!(
            h.last_moved()[&(Framework::Native, "p".to_string())],
            DateTime::from_timestamp(1004, 0).unwrap()
        );
        h.add(&report(1010, 50, 90));
        assert_eq!(
            h.movement(Framework::Native, "p").unwrap().direction,
            Direction::Growing
        );
        assert_eq!(
            h.last_moved()[&(Framework::Native, "p".to_string())],
            DateTime::from_timestamp(1004, 0).unwrap()
        );
    }

    #[test]
    fn sparkline_scales_to_the_largest() {
        assert_eq!(sparkline(&[0, 7, 14]), "▁▅█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
    }
}
