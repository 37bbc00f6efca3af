//! Pretty, coloured JSON of an event for the detail pane, built once when the pane opens, with
//! the correlation/causation ids in its metadata as links.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use serde_json::Value;

use crate::store::Event;
use crate::store::model::format_time;
use crate::tui::theme::Theme;

/// Metadata keys whose string value names another event.
const LINK_KEYS: &[&str] = &[
    "correlation_id",
    "causation_id",
    "correlationId",
    "causationId",
    "$correlationId",
    "$causationId",
    "CorrelationId",
    "CausationId",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub key: String,
    pub event_id: String,
    /// The line it is shown on.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct JsonLines {
    pub lines: Vec<Line<'static>>,
    pub links: Vec<Link>,
}

/// At most this many lines of one value are built (a huge payload stays responsive).
const MAX_LINES: usize = 20_000;
/// Strings longer than this are cut in the pane (the full value is what `y` copies).
const MAX_STRING: usize = 2_000;

pub fn event_lines(e: &Event, t: &Theme) -> JsonLines {
    let mut out = JsonLines {
        lines: Vec::new(),
        links: Vec::new(),
    };
    let field = |k: &str, v: String, s: Style| {
        Line::from(vec![
            Span::styled(format!("{k:<16}"), t.header),
            Span::styled(v, s),
        ])
    };
    out.lines
        .push(field("event_type", e.event_type.clone(), t.accent));
    out.lines.push(field(
        "stream",
        format!("{} (v{})", e.stream_id, e.stream_version),
        Style::new(),
    ));
    out.lines.push(field(
        "position",
        e.global_position.map_or("none".into(), |p| p.to_string()),
        Style::new(),
    ));
    out.lines
        .push(field("event_id", e.event_id.clone(), Style::new()));
    out.lines.push(field(
        "recorded_at",
        e.recorded_at.as_ref().map_or("?".into(), format_time),
        Style::new(),
    ));
    for p in &e.problems {
        out.lines.push(field("problem", p.text.clone(), t.error));
    }
    out.lines.push(Line::raw(""));
    out.lines.push(Line::styled("data", t.title));
    value_lines(&e.data, t, &mut out, false);
    out.lines.push(Line::raw(""));
    out.lines.push(Line::styled("metadata", t.title));
    value_lines(&e.metadata, t, &mut out, true);
    out
}

fn value_lines(v: &Value, t: &Theme, out: &mut JsonLines, links: bool) {
    let start = out.lines.len();
    let mut cur: Vec<Span<'static>> = Vec::new();
    write(v, 0, t, out, &mut cur, links, None, &mut Hl::none());
    if !cur.is_empty() {
        out.lines.push(Line::from(cur));
    }
    if out.lines.len() - start >= MAX_LINES {
        out.lines.push(Line::styled(
            format!("… cut at {MAX_LINES} lines (y copies the whole event)"),
            t.muted,
        ));
    }
}

/// Mark the lines of a changed path (from `first` on) with the theme's change style.
fn mark(out: &mut JsonLines, first: usize, t: &Theme) {
    for l in &mut out.lines[first..] {
        mark_changed(l, t);
    }
}

/// The theme's change style on a line and on each of its spans.
pub fn mark_changed(l: &mut Line<'static>, t: &Theme) {
    restyle(l, t.changed());
}

/// The selection style on a line and on each of its spans (a span's own colour would
/// otherwise win over the line's, e.g. a cyan key on the cyan selection).
pub fn select(l: &mut Line<'static>, t: &Theme) {
    restyle(l, t.selected);
}

fn restyle(l: &mut Line<'static>, style: Style) {
    l.style = style;
    for s in &mut l.spans {
        s.style = s.style.patch(style);
    }
}

fn push_line(out: &mut JsonLines, cur: &mut Vec<Span<'static>>) {
    out.lines.push(Line::from(std::mem::take(cur)));
}

pub(crate) fn string_span(s: &str, style: Style) -> Span<'static> {
    let shown = if s.len() > MAX_STRING {
        let mut end = MAX_STRING;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}… ({} bytes)",
            serde_json::to_string(&s[..end]).unwrap_or_default(),
            s.len()
        )
    } else {
        serde_json::to_string(s).unwrap_or_default()
    };
    Span::styled(shown, style)
}

/// Paths to highlight while writing, and the path being written.
struct Hl<'a> {
    paths: Option<&'a std::collections::HashSet<String>>,
    at: String,
    /// With `index`: the first line of every member written (for jumping to a path).
    index: bool,
    found: Vec<(String, usize)>,
}

impl Hl<'_> {
    fn none() -> Hl<'static> {
        Hl {
            paths: None,
            at: String::new(),
            index: false,
            found: Vec::new(),
        }
    }
    fn hit(&self) -> bool {
        self.paths
            .is_some_and(|p| p.contains(if self.at.is_empty() { "." } else { &self.at }))
    }
}

/// The path of member `k` under `base`, written as the diff writes paths.
fn key_path(base: &str, k: &str) -> String {
    let plain = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{base}.{k}")
    } else {
        format!("{base}.{}", serde_json::to_string(k).unwrap_or_default())
    }
}

/// A JSON value as lines, with the lines of `highlight`ed paths (as the diff writes them)
/// in the theme's change style.
pub fn highlighted_lines(
    v: &Value,
    t: &Theme,
    highlight: &std::collections::HashSet<String>,
) -> Vec<Line<'static>> {
    highlighted_lines_indexed(v, t, highlight).0
}

/// [`highlighted_lines`], with the first line of every path the value has (`.` for the root;
/// paths as the diff writes them).
pub fn highlighted_lines_indexed(
    v: &Value,
    t: &Theme,
    highlight: &std::collections::HashSet<String>,
) -> (Vec<Line<'static>>, std::collections::HashMap<String, usize>) {
    let mut out = JsonLines {
        lines: Vec::new(),
        links: Vec::new(),
    };
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut hl = Hl {
        paths: Some(highlight),
        at: String::new(),
        index: true,
        found: vec![(".".to_string(), 0)],
    };
    write(v, 0, t, &mut out, &mut cur, false, None, &mut hl);
    if !cur.is_empty() {
        out.lines.push(Line::from(cur));
    }
    if hl.hit() {
        mark(&mut out, 0, t);
    }
    (out.lines, hl.found.into_iter().collect())
}

#[allow(clippy::too_many_arguments)]
fn write(
    v: &Value,
    indent: usize,
    t: &Theme,
    out: &mut JsonLines,
    cur: &mut Vec<Span<'static>>,
    links: bool,
    key: Option<&str>,
    hl: &mut Hl,
) {
    if out.lines.len() > MAX_LINES {
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match v {
        Value::Null => cur.push(Span::styled("null", t.json_null)),
        Value::Bool(b) => cur.push(Span::styled(b.to_string(), t.json_bool)),
        Value::Number(n) => cur.push(Span::styled(n.to_string(), t.json_number)),
        Value::String(s) => {
            let is_link = links && key.is_some_and(|k| LINK_KEYS.contains(&k));
            if is_link {
                out.links.push(Link {
                    key: key.unwrap_or_default().to_string(),
                    event_id: s.clone(),
                    line: out.lines.len(),
                });
                cur.push(string_span(s, t.link));
            } else {
                cur.push(string_span(s, t.json_string));
            }
        }
        Value::Array(a) if a.is_empty() => cur.push(Span::styled("[]", t.json_punct)),
        Value::Object(o) if o.is_empty() => cur.push(Span::styled("{}", t.json_punct)),
        Value::Array(a) => {
            cur.push(Span::styled("[", t.json_punct));
            push_line(out, cur);
            for (i, item) in a.iter().enumerate() {
                cur.push(Span::raw(pad.clone()));
                let child = format!("{}[{i}]", hl.at);
                let saved = std::mem::replace(&mut hl.at, child);
                let first = out.lines.len();
                write(item, indent + 1, t, out, cur, links, None, hl);
                if i + 1 < a.len() {
                    cur.push(Span::styled(",", t.json_punct));
                }
                push_line(out, cur);
                if hl.hit() {
                    mark(out, first, t);
                }
                if hl.index {
                    hl.found.push((hl.at.clone(), first));
                }
                hl.at = saved;
                if out.lines.len() > MAX_LINES {
                    return;
                }
            }
            cur.push(Span::raw("  ".repeat(indent)));
            cur.push(Span::styled("]", t.json_punct));
        }
        Value::Object(o) => {
            cur.push(Span::styled("{", t.json_punct));
            push_line(out, cur);
            for (i, (k, item)) in o.iter().enumerate() {
                cur.push(Span::raw(pad.clone()));
                cur.push(Span::styled(
                    serde_json::to_string(k).unwrap_or_default(),
                    t.json_key,
                ));
                cur.push(Span::styled(": ", t.json_punct));
                let child = key_path(&hl.at, k);
                let saved = std::mem::replace(&mut hl.at, child);
                let first = out.lines.len();
                write(item, indent + 1, t, out, cur, links, Some(k), hl);
                if i + 1 < o.len() {
                    cur.push(Span::styled(",", t.json_punct));
                }
                push_line(out, cur);
                if hl.hit() {
                    mark(out, first, t);
                }
                if hl.index {
                    hl.found.push((hl.at.clone(), first));
                }
                hl.at = saved;
                if out.lines.len() > MAX_LINES {
                    return;
                }
            }
            cur.push(Span::raw("  ".repeat(indent)));
            cur.push(Span::styled("}", t.json_punct));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: Value, metadata: Value) -> Event {
        Event {
            global_position: Some(3),
            stream_id: "account-1".into(),
            stream_version: 2,
            event_id: "e-3".into(),
            event_type: "Deposited".into(),
            data,
            metadata,
            recorded_at: None,
            exact: None,
            problems: vec![],
        }
    }

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn pretty_json_with_links_from_metadata() {
        let e = event(
            json!({"amount": 5, "tags": ["a", "b"]}),
            json!({"correlation_id": "c-1", "causation_id": "c-2", "user": "x"}),
        );
        let out = event_lines(&e, &Theme::default_dark());
        let all: Vec<String> = out.lines.iter().map(text).collect();
        let body = all.join("\n");
        assert!(body.contains("  \"amount\": 5,"), "{body}");
        assert!(body.contains("    \"a\","), "{body}");
        assert_eq!(out.links.len(), 2);
        let corr = out
            .links
            .iter()
            .find(|l| l.key == "correlation_id")
            .unwrap();
        assert_eq!(corr.event_id, "c-1");
        assert!(all[corr.line].contains("c-1"));
        assert!(
            out.links
                .iter()
                .any(|l| l.key == "causation_id" && l.event_id == "c-2")
        );
        // Data values are not links even under a link-like key.
        let e = event(json!({"correlation_id": "zzz"}), Value::Null);
        assert!(event_lines(&e, &Theme::default_dark()).links.is_empty());
    }

    #[test]
    fn changed_paths_are_highlighted() {
        let t = Theme::default_dark();
        let v = json!({"balance": 10, "owner": {"name": "x"}, "tags": ["a", "b"], "odd key": 1});
        let hl: std::collections::HashSet<String> = [".balance", ".tags[1]", ".\"odd key\""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let lines = highlighted_lines(&v, &t, &hl);
        let marked: Vec<String> = lines
            .iter()
            .filter(|l| l.style == t.changed())
            .map(text)
            .collect();
        assert_eq!(marked.len(), 3, "{marked:?}");
        assert!(marked[0].contains("\"balance\": 10"));
        assert!(marked[1].contains("\"odd key\": 1"));
        assert!(marked[2].contains("\"b\""));
    }

    #[test]
    fn the_index_gives_the_first_line_of_every_path() {
        let t = Theme::default_dark();
        let v = json!({"a": 1, "b": {"c": [10, {"d": 2}]}, "odd key": null});
        let hl: std::collections::HashSet<String> =
            [".b.c[1].d"].iter().map(|s| s.to_string()).collect();
        let (lines, at) = highlighted_lines_indexed(&v, &t, &hl);
        assert_eq!(lines, highlighted_lines(&v, &t, &hl));
        let line = |p: &str| text(&lines[at[p]]);
        assert_eq!(at["."], 0);
        assert!(line(".a").contains("\"a\": 1"));
        assert!(line(".b").contains("\"b\": {"));
        assert!(line(".b.c[0]").contains("10"));
        assert!(line(".b.c[1].d").contains("\"d\": 2"));
        let changed = t.changed();
        assert_eq!(lines[at[".b.c[1].d"]].style, changed);
        assert_ne!(
            changed, t.selected,
            "a change does not look like the cursor"
        );
        // Every span of a marked line takes the change's colour (one colour, readable).
        assert!(
            lines[at[".b.c[1].d"]]
                .spans
                .iter()
                .all(|s| s.style.fg == changed.fg && s.style.add_modifier == changed.add_modifier)
        );
        assert!(line(".\"odd key\"").contains("null"));
        assert!(!at.contains_key(".missing"));
    }

    #[test]
    fn huge_payloads_are_cut() {
        let big: Vec<Value> = (0..100_000).map(Value::from).collect();
        let long = "x".repeat(1_000_000);
        let e = event(json!({"items": big, "blob": long}), Value::Null);
        let out = event_lines(&e, &Theme::default_dark());
        assert!(out.lines.len() < MAX_LINES + 50);
        assert!(out.lines.iter().all(|l| l.width() < MAX_STRING + 200));
    }
}
