//! The two sides of a snapshot diff as one list of rows, aligned path by path: a path the two
//! states both have is on the same row of both panes, and a side that lacks a path (or whose
//! value there takes fewer lines) gets blank filler rows. Scrolling moves one row index, so
//! the panes stay aligned everywhere, not only at the difference jumped to.
//!
//! Each side's lines, fillers left out, are exactly its pretty JSON (two spaces per level,
//! object keys in sorted order — the order of the diff's changes).

use std::collections::{HashMap, HashSet};

use ratatui::text::{Line, Span};
use serde_json::Value;

use crate::rehydrate::diff::{Segment, render_path};
use crate::tui::theme::Theme;
use crate::tui::widgets::json::{mark_changed, string_span};

/// At most this many rows are built (a huge state stays responsive), as the JSON widget does.
pub const MAX_ROWS: usize = 20_000;

/// A row of both panes: each side's line, or `None` where that side has nothing (a filler).
pub type Row = [Option<Line<'static>>; 2];

#[derive(Debug, Default, Clone)]
pub struct Aligned {
    pub rows: Vec<Row>,
    /// The first row of every path either side has (`.` for the root; paths as the diff
    /// writes them).
    pub index: HashMap<String, usize>,
}

/// Both states (either may be missing: the other side is then alone, with fillers), the
/// lines of the `highlight`ed paths and of their subtrees in the theme's change style.
pub fn align(
    left: Option<&Value>,
    right: Option<&Value>,
    t: &Theme,
    highlight: &HashSet<String>,
) -> Aligned {
    let mut w = Writer {
        t,
        highlight,
        rows: Vec::new(),
        index: HashMap::new(),
        budget: MAX_ROWS,
    };
    if left.is_some() || right.is_some() {
        w.pair([left, right], "", 0, None, [true, true]);
    }
    if w.rows.len() > MAX_ROWS {
        w.rows.truncate(MAX_ROWS);
        let cut = || Some(Line::styled(format!("… cut at {MAX_ROWS} lines"), t.muted));
        w.rows.push([cut(), cut()]);
    }
    Aligned {
        rows: w.rows,
        index: w.index,
    }
}

struct Writer<'a> {
    t: &'a Theme,
    highlight: &'a HashSet<String>,
    rows: Vec<Row>,
    index: HashMap<String, usize>,
    /// Rows this writer may still write (a sub-writer gets what its parent has left).
    budget: usize,
}

/// A container's members, in the order they are shown: object keys sorted, array indexes.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Object,
    Array,
}

fn shape(v: &Value) -> Option<Shape> {
    match v {
        Value::Object(_) => Some(Shape::Object),
        Value::Array(_) => Some(Shape::Array),
        _ => None,
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The member of `v` for key or index `m`.
fn member<'v>(v: Option<&'v Value>, m: &Member) -> Option<&'v Value> {
    match (v?, m) {
        (Value::Object(o), Member::Key(k)) => o.get(k.as_str()),
        (Value::Array(a), Member::Index(i)) => a.get(*i),
        _ => None,
    }
}

enum Member {
    Key(String),
    Index(usize),
}

/// A path as the diff writes it, from the path of the parent written without its root
/// (`""` for the root itself).
fn child(base: &str, m: &Member) -> String {
    match m {
        Member::Key(k) => format!("{base}{}", render_path(&[Segment::Key(k.clone())])),
        Member::Index(i) if base.is_empty() => format!(".[{i}]"),
        Member::Index(i) => format!("{base}[{i}]"),
    }
}

fn shown(base: &str) -> &str {
    if base.is_empty() { "." } else { base }
}

impl Writer<'_> {
    fn full(&self) -> bool {
        self.rows.len() > self.budget
    }

    /// The start of a member's first line: its indentation and key.
    fn prefix(&self, indent: usize, key: Option<&str>) -> Vec<Span<'static>> {
        let mut spans = vec![Span::raw("  ".repeat(indent))];
        if let Some(k) = key {
            spans.push(Span::styled(
                serde_json::to_string(k).unwrap_or_default(),
                self.t.json_key,
            ));
            spans.push(Span::styled(": ", self.t.json_punct));
        }
        spans
    }

    fn comma(&self, spans: &mut Vec<Span<'static>>, last: bool) {
        if !last {
            spans.push(Span::styled(",", self.t.json_punct));
        }
    }

    /// A value on one line: a scalar, `[]` or `{}`.
    fn leaf(&self, v: &Value, indent: usize, key: Option<&str>, last: bool) -> Line<'static> {
        let t = self.t;
        let mut spans = self.prefix(indent, key);
        spans.push(match v {
            Value::Null => Span::styled("null", t.json_null),
            Value::Bool(b) => Span::styled(b.to_string(), t.json_bool),
            Value::Number(n) => Span::styled(n.to_string(), t.json_number),
            Value::String(s) => string_span(s, t.json_string),
            Value::Array(_) => Span::styled("[]", t.json_punct),
            Value::Object(_) => Span::styled("{}", t.json_punct),
        });
        self.comma(&mut spans, last);
        Line::from(spans)
    }

    /// The member at path `base` on both sides (`None`: the side lacks it), `last` on a side
    /// when it is its parent's last member there (no comma).
    fn pair(
        &mut self,
        v: [Option<&Value>; 2],
        base: &str,
        indent: usize,
        key: Option<&str>,
        last: [bool; 2],
    ) {
        if self.full() {
            return;
        }
        let first = self.rows.len();
        self.index.entry(shown(base).to_string()).or_insert(first);
        let present: Vec<&Value> = v.iter().flatten().copied().collect();
        let shapes: Vec<Option<Shape>> = present.iter().map(|x| shape(x)).collect();
        // Members are aligned one by one when every side that has the path holds a container
        // of the same kind, one of them with members.
        let structural = shapes[0].is_some()
            && shapes.iter().all(|s| *s == shapes[0])
            && present.iter().any(|x| !is_empty_container(x));
        if structural {
            self.members(v, base, indent, key, last);
        } else if present.len() == 2 {
            // Both sides have the path with different kinds of value (or scalars): each is
            // written alone and the shorter one padded.
            let [l, r] = [0, 1].map(|side| {
                let mut alone = [None, None];
                alone[side] = v[side];
                let mut w = Writer {
                    t: self.t,
                    highlight: self.highlight,
                    rows: Vec::new(),
                    index: HashMap::new(),
                    budget: self.budget.saturating_sub(self.rows.len()),
                };
                w.pair(alone, base, indent, key, last);
                let rows: Vec<Option<Line<'static>>> =
                    w.rows.into_iter().map(|mut r| r[side].take()).collect();
                (rows, w.index)
            });
            let (lrows, lindex) = l;
            let (rrows, rindex) = r;
            for (p, row) in lindex.into_iter().chain(rindex) {
                self.index.entry(p).or_insert(first + row);
            }
            let n = lrows.len().max(rrows.len());
            let mut lrows = lrows.into_iter();
            let mut rrows = rrows.into_iter();
            for _ in 0..n {
                self.rows
                    .push([lrows.next().flatten(), rrows.next().flatten()]);
            }
        } else {
            let mut row: Row = [None, None];
            for side in 0..2 {
                if let Some(x) = v[side] {
                    row[side] = Some(self.leaf(x, indent, key, last[side]));
                }
            }
            self.rows.push(row);
        }
        if self.highlight.contains(shown(base)) {
            for row in &mut self.rows[first..] {
                for l in row.iter_mut().flatten() {
                    mark_changed(l, self.t);
                }
            }
        }
    }

    /// A container on each side that has it: the opening line, the members side by side, the
    /// closing line. A side whose container is empty shows `{}` / `[]` on the opening row.
    fn members(
        &mut self,
        v: [Option<&Value>; 2],
        base: &str,
        indent: usize,
        key: Option<&str>,
        last: [bool; 2],
    ) {
        let t = self.t;
        let mut open: Row = [None, None];
        let mut close: Row = [None, None];
        for side in 0..2 {
            let Some(x) = v[side] else { continue };
            if is_empty_container(x) {
                open[side] = Some(self.leaf(x, indent, key, last[side]));
                continue;
            }
            let (o, c) = match x {
                Value::Array(_) => ("[", "]"),
                _ => ("{", "}"),
            };
            let mut spans = self.prefix(indent, key);
            spans.push(Span::styled(o, t.json_punct));
            open[side] = Some(Line::from(spans));
            let mut spans = vec![
                Span::raw("  ".repeat(indent)),
                Span::styled(c, t.json_punct),
            ];
            self.comma(&mut spans, last[side]);
            close[side] = Some(Line::from(spans));
        }
        self.rows.push(open);
        // Each side's members in order, and each side's last member.
        let list = |x: Option<&Value>| -> Vec<Member> {
            match x {
                Some(Value::Object(o)) => {
                    let mut keys: Vec<&String> = o.keys().collect();
                    keys.sort_unstable();
                    keys.into_iter().map(|k| Member::Key(k.clone())).collect()
                }
                Some(Value::Array(a)) => (0..a.len()).map(Member::Index).collect(),
                _ => vec![],
            }
        };
        let sides = [list(v[0]), list(v[1])];
        let all: Vec<Member> = match v.iter().flatten().next().and_then(|x| shape(x)) {
            Some(Shape::Array) => {
                let n = sides[0].len().max(sides[1].len());
                (0..n).map(Member::Index).collect()
            }
            _ => {
                let mut keys: Vec<String> = sides
                    .iter()
                    .flatten()
                    .filter_map(|m| match m {
                        Member::Key(k) => Some(k.clone()),
                        Member::Index(_) => None,
                    })
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                keys.into_iter().map(Member::Key).collect()
            }
        };
        let is_last = |side: usize, m: &Member| match (sides[side].last(), m) {
            (Some(Member::Key(a)), Member::Key(b)) => a == b,
            (Some(Member::Index(a)), Member::Index(b)) => a == b,
            _ => false,
        };
        for m in &all {
            if self.full() {
                return;
            }
            let cv = [member(v[0], m), member(v[1], m)];
            let path = child(base, m);
            let k = match m {
                Member::Key(k) => Some(k.as_str()),
                Member::Index(_) => None,
            };
            self.pair(cv, &path, indent + 1, k, [is_last(0, m), is_last(1, m)]);
        }
        self.rows.push(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    /// One side's column, fillers left out.
    fn column(a: &Aligned, side: usize) -> String {
        let lines: Vec<String> = a
            .rows
            .iter()
            .filter_map(|r| r[side].as_ref().map(text))
            .collect();
        lines.join("\n")
    }

    /// Every path of a value (as the diff writes them).
    fn paths(v: &Value, base: &str, out: &mut Vec<String>) {
        out.push(shown(base).to_string());
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    paths(x, &child(base, &Member::Key(k.clone())), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    paths(x, &child(base, &Member::Index(i)), out);
                }
            }
            _ => {}
        }
    }

    fn fixture() -> (Value, Value) {
        let stored = json!({
            "a_only_stored": (0..5).collect::<Vec<_>>(),
            "balance": 9165,
            "items": [{"sku": "x", "n": 1}, {"sku": "y", "n": 2}, 3],
            "kind_changes": {"was": "an object", "deep": {"er": [1, 2]}},
            "empty_here": {},
            "odd key": "s",
            "owner": {"name": "Ana", "tags": ["a"]},
        });
        let recomputed = json!({
            "balance": 9200,
            "empty_here": {"filled": true, "more": [1]},
            "items": [{"sku": "x", "n": 1, "extra": null}],
            "kind_changes": [1, 2, 3],
            "m_only_recomputed": {"x": {"y": 1}},
            "odd key": "s",
            "owner": {"name": "Ana", "tags": ["a", "b", "c"]},
        });
        (stored, recomputed)
    }

    #[test]
    fn each_side_is_its_pretty_json_and_shared_paths_share_a_row() {
        let t = Theme::default_dark();
        let (stored, recomputed) = fixture();
        let a = align(Some(&stored), Some(&recomputed), &t, &HashSet::new());
        // Fillers aside, each column is exactly the side's pretty JSON.
        assert_eq!(
            column(&a, 0),
            serde_json::to_string_pretty(&stored).unwrap()
        );
        assert_eq!(
            column(&a, 1),
            serde_json::to_string_pretty(&recomputed).unwrap()
        );
        let (mut lp, mut rp) = (vec![], vec![]);
        paths(&stored, "", &mut lp);
        paths(&recomputed, "", &mut rp);
        // Every path either side has has a row; a path both have starts on one row on both
        // sides, with that member's key on it.
        for p in lp.iter().chain(&rp) {
            let row = a.index[p];
            if lp.contains(p) && rp.contains(p) {
                let [l, r] = &a.rows[row];
                let (l, r) = (text(l.as_ref().unwrap()), text(r.as_ref().unwrap()));
                assert_eq!(
                    l.find(|c: char| c != ' '),
                    r.find(|c: char| c != ' '),
                    "{p}: {l:?} | {r:?}"
                );
                if let Some(key) = p
                    .rsplit('.')
                    .next()
                    .filter(|k| !k.is_empty() && !k.contains('['))
                {
                    assert!(l.contains(key) && r.contains(key), "{p}: {l:?} | {r:?}");
                }
            }
        }
        // A path on one side only is beside fillers, for all of its lines.
        let only = |p: &str, side: usize, lines: usize| {
            let row = a.index[p];
            for r in &a.rows[row..row + lines] {
                assert!(r[side].is_some() && r[1 - side].is_none(), "{p}");
            }
        };
        only(".a_only_stored", 0, 7);
        only(".m_only_recomputed", 1, 5);
        only(".items[1]", 0, 4);
        only(".items[0].extra", 1, 1);
        only(".owner.tags[2]", 1, 1);
        only(".empty_here.filled", 1, 1);
        // A value whose kind differs takes its own lines on each side, the shorter padded: the
        // next path is on one row again.
        let k = a.index[".kind_changes"];
        assert!(text(a.rows[k][0].as_ref().unwrap()).contains("\"kind_changes\": {"));
        assert!(text(a.rows[k][1].as_ref().unwrap()).contains("\"kind_changes\": ["));
        let m = a.index[".m_only_recomputed"];
        assert_eq!(m, k + 9, "the object's 9 lines, the array's 5 padded");
        assert!(a.rows[k + 5][1].is_none() && a.rows[k + 5][0].is_some());
        let o = a.index[".\"odd key\""];
        assert!(a.rows[o].iter().all(|l| {
            l.as_ref()
                .is_some_and(|l| text(l).contains("\"odd key\": \"s\""))
        }));
        // No row is blank on both sides.
        assert!(a.rows.iter().all(|r| r.iter().any(Option::is_some)));
    }

    #[test]
    fn highlighted_paths_and_a_missing_side() {
        let t = Theme::default_dark();
        let (stored, recomputed) = fixture();
        let hl: HashSet<String> = [".balance", ".a_only_stored", ".m_only_recomputed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = align(Some(&stored), Some(&recomputed), &t, &hl);
        let marked = |side: usize| -> Vec<String> {
            a.rows
                .iter()
                .filter_map(|r| r[side].as_ref())
                .filter(|l| l.style == t.changed())
                .map(text)
                .collect()
        };
        // The array's 7 lines and .balance on the left; the object's 5 lines and .balance on
        // the right.
        assert_eq!(marked(0).len(), 8, "{:?}", marked(0));
        assert_eq!(marked(1).len(), 6, "{:?}", marked(1));
        assert!(marked(0).iter().any(|l| l.contains("\"balance\": 9165")));
        assert!(marked(1).iter().any(|l| l.contains("\"balance\": 9200")));
        // One side only (no recomputed state): that side whole, fillers beside it.
        let a = align(Some(&stored), None, &t, &HashSet::new());
        assert_eq!(
            column(&a, 0),
            serde_json::to_string_pretty(&stored).unwrap()
        );
        assert!(a.rows.iter().all(|r| r[1].is_none()));
        assert!(align(None, None, &t, &HashSet::new()).rows.is_empty());
        // Scalars at the root, and empty containers on both sides.
        let a = align(Some(&json!(1)), Some(&json!("x")), &t, &HashSet::new());
        assert_eq!(a.rows.len(), 1);
        let a = align(Some(&json!({})), Some(&json!({})), &t, &HashSet::new());
        assert_eq!((column(&a, 0), column(&a, 1)), ("{}".into(), "{}".into()));
    }

    #[test]
    fn huge_states_are_cut() {
        let t = Theme::default_dark();
        let big = json!({"items": (0..50_000).collect::<Vec<_>>()});
        let a = align(
            Some(&big),
            Some(&json!({"items": [1]})),
            &t,
            &HashSet::new(),
        );
        assert_eq!(a.rows.len(), MAX_ROWS + 1);
        assert!(text(a.rows[MAX_ROWS][0].as_ref().unwrap()).contains("cut at"));
    }
}
