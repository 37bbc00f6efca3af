//! The table of an events list: column widths from the rows loaded (capped), long types and
//! stream ids cut at the front so that the end that tells them apart stays, one time
//! precision for the whole TIME column (in UTC or local time), DATA scrolled sideways.

use chrono::{DateTime, Local, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use serde_json::Value;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{block, cell_style, inner};
use crate::output::clip;
use crate::store::Event;
use crate::tui::theme::Theme;

/// A row of an event list, with its display strings built once when the page arrives.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event: Event,
    pub position: String,
    pub preview: String,
    /// Fraction digits the time needs (0, 3, 6 or 9).
    pub digits: u8,
}

impl EventRow {
    pub fn new(event: Event) -> EventRow {
        let preview = match &event.data {
            Value::String(s) if !event.problems.is_empty() => format!("! {s}"),
            v => v.to_string(),
        };
        EventRow {
            position: event.global_position.map_or("-".into(), |p| p.to_string()),
            preview: clip(&preview, 2000),
            digits: event.recorded_at.as_ref().map_or(0, digits),
            event,
        }
    }
}

/// The fraction digits a time needs to be shown whole.
fn digits(t: &DateTime<Utc>) -> u8 {
    let n = t.timestamp_subsec_nanos();
    if n == 0 {
        0
    } else if n % 1_000_000 == 0 {
        3
    } else if n % 1_000 == 0 {
        6
    } else {
        9
    }
}

/// A time with `digits` fraction digits, in UTC (`Z`) or in the local zone (its offset).
pub fn time(t: &DateTime<Utc>, digits: u8, local: bool) -> String {
    let frac = match digits {
        0 => "",
        3 => "%.3f",
        6 => "%.6f",
        _ => "%.9f",
    };
    if local {
        t.with_timezone(&Local)
            .format(&format!("%Y-%m-%dT%H:%M:%S{frac}%:z"))
            .to_string()
    } else {
        t.format(&format!("%Y-%m-%dT%H:%M:%S{frac}Z")).to_string()
    }
}

/// `s` in at most `width` columns: whole, or its end after `…` (the end of a type or a
/// stream id is what tells it from its neighbours: `…Bank.PaymentCreated`).
pub fn cut_front(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut kept: Vec<char> = Vec::new();
    let mut w = 1; // the ellipsis
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width {
            break;
        }
        w += cw;
        kept.push(c);
    }
    kept.reverse();
    format!("…{}", kept.into_iter().collect::<String>())
}

/// `s` in at most `width` columns: whole, or its start and `…` (a category's start names it).
pub fn cut_back(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 1;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width {
            break;
        }
        w += cw;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `s` without its first `offset` columns (DATA scrolled sideways).
fn skip_columns(s: &str, offset: usize) -> &str {
    let mut w = 0;
    for (i, c) in s.char_indices() {
        if w >= offset {
            return &s[i..];
        }
        w += c.width().unwrap_or(0);
    }
    ""
}

/// The widths the rows loaded ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Widths {
    pub position: usize,
    pub stream: usize,
    pub version: usize,
    pub kind: usize,
    /// Fraction digits of the TIME column (the most any row needs).
    pub digits: u8,
}

/// Caps: wider values are cut at the front.
const MAX_STREAM: usize = 36;
const MAX_TYPE: usize = 40;
/// What DATA keeps at least when the others are squeezed.
const MIN_DATA: usize = 6;

impl Widths {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a EventRow>) -> Widths {
        let mut w = Widths {
            position: 3,
            stream: 6,
            version: 3,
            kind: 4,
            digits: 0,
        };
        for r in rows {
            w.position = w.position.max(r.position.len());
            w.stream = w.stream.max(r.event.stream_id.width());
            w.version = w.version.max(r.event.stream_version.to_string().len());
            w.kind = w.kind.max(r.event.event_type.width());
            w.digits = w.digits.max(r.digits);
        }
        w.stream = w.stream.min(MAX_STREAM);
        w.kind = w.kind.min(MAX_TYPE);
        w
    }

    fn time(&self, local: bool) -> usize {
        let frac = if self.digits == 0 {
            0
        } else {
            self.digits as usize + 1
        };
        19 + frac + if local { 6 } else { 1 }
    }

    /// The widths that fit in `width` columns: the stream and the type give way first, down
    /// to a few columns each, so that DATA keeps some room.
    fn fit(mut self, width: usize, global: bool, local: bool) -> Widths {
        let columns = if global { 6 } else { 4 };
        let fixed = self.time(local)
            + self.version
            + if global { self.position } else { 0 }
            + (columns - 1);
        let room = width.saturating_sub(fixed + MIN_DATA);
        let want = self.kind + if global { self.stream } else { 0 };
        if want > room {
            // The type first (it says what happened), the stream gets the rest; each keeps
            // at least 6 columns.
            let for_stream = if global { 6 } else { 0 };
            self.kind = self.kind.min(room.saturating_sub(for_stream).max(6));
            if global {
                self.stream = self.stream.min(room.saturating_sub(self.kind).max(6));
            }
        }
        self
    }
}

/// What [`draw`] shows.
pub struct EventTable<'a> {
    pub rows: &'a [EventRow],
    /// The index in `rows` of the first row shown and of the selected one.
    pub top: usize,
    pub selected: usize,
    /// The global log (POSITION and STREAM columns) or a stream.
    pub global: bool,
    pub widths: Widths,
    /// DATA's first column shown.
    pub data_offset: usize,
    pub title: String,
    /// Whether an event is a mark (▶), and whether it is between two marks (highlighted).
    pub marked: &'a dyn Fn(&Event) -> (bool, bool),
    /// Some event is marked: the first column makes room for the ▶.
    pub has_marks: bool,
    /// What to say when there is nothing to show (None while loading).
    pub empty: Option<&'a str>,
}

pub fn draw(f: &mut Frame, area: Rect, t: &EventTable, theme: &Theme) {
    let local = theme.local_time;
    let mut w = t.widths;
    if t.has_marks && t.global {
        w.position += 1;
    }
    let w = w.fit(area.width.saturating_sub(2) as usize, t.global, local);
    let h = super::table_rows(area);
    let end = (t.top + h).min(t.rows.len());
    let body: Vec<Row> = t.rows[t.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let on = t.top + i == t.selected;
            let (is_mark, in_range) = (t.marked)(&r.event);
            let cell =
                |text: String, style: Style| Cell::from(text).style(cell_style(theme, on, style));
            let mark = |s: String| {
                if is_mark {
                    cell(format!("▶{s}"), theme.warning)
                } else {
                    cell(s, Style::new())
                }
            };
            let when = r
                .event
                .recorded_at
                .as_ref()
                .map_or("?".into(), |at| time(at, w.digits, local));
            let mut cells = vec![];
            if t.global {
                cells.push(mark(r.position.clone()));
                cells.push(cell(when, Style::new()));
                cells.push(cell(cut_front(&r.event.stream_id, w.stream), Style::new()));
            } else {
                cells.push(mark(when));
            }
            cells.push(cell(r.event.stream_version.to_string(), Style::new()));
            cells.push(cell(cut_front(&r.event.event_type, w.kind), theme.accent));
            let data = if r.event.problems.is_empty() {
                Style::new()
            } else {
                theme.error
            };
            cells.push(cell(
                skip_columns(&r.preview, t.data_offset).to_string(),
                data,
            ));
            let row = Row::new(cells);
            match (on, in_range) {
                (true, _) => row.style(theme.selected),
                (false, true) => row.style(theme.warning),
                (false, false) => row,
            }
        })
        .collect();
    let time_w = w.time(local) + usize::from(t.has_marks && !t.global);
    let mut header: Vec<(&str, usize)> = vec![];
    if t.global {
        header.push((if w.position < 8 { "POS" } else { "POSITION" }, w.position));
        header.push(("TIME", time_w));
        header.push(("STREAM", w.stream));
    } else {
        header.push(("TIME", time_w));
    }
    header.push(("VER", w.version));
    header.push(("TYPE", w.kind));
    let mut widths: Vec<Constraint> = header
        .iter()
        .map(|(_, n)| Constraint::Length(*n as u16))
        .collect();
    widths.push(Constraint::Fill(1));
    let mut names: Vec<String> = header
        .iter()
        .map(|(name, n)| name.chars().take(*n).collect())
        .collect();
    names.push(if t.data_offset > 0 {
        format!("DATA (from column {})", t.data_offset + 1)
    } else {
        "DATA".into()
    });
    let table = Table::new(body, widths)
        .header(Row::new(names).style(theme.header))
        .block(block(theme, t.title.clone()));
    f.render_widget(table, area);
    if let Some(msg) = t.empty {
        f.render_widget(
            Paragraph::new(Line::styled(msg.to_string(), theme.muted)),
            inner(area, 2),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_keeps_the_distinguishing_end() {
        assert_eq!(
            cut_front("Elixir.Bank.PaymentCreated", 20),
            "…Bank.PaymentCreated"
        );
        assert_ne!(
            cut_front("Elixir.Bank.PaymentCreated", 12),
            cut_front("Elixir.Bank.PaymentConfirmed", 12)
        );
        assert_eq!(cut_front("short", 20), "short");
        assert_eq!(cut_front("order-東京-🚀", 8).width(), 8);
        assert_eq!(cut_front("abc", 0), "");
        assert_eq!(cut_back("account", 4), "acc…");
        assert_eq!(cut_back("account", 7), "account");
    }

    #[test]
    fn one_precision_per_column_and_the_zone_is_said() {
        let t: DateTime<Utc> = "2026-06-01T04:17:44.705912Z".parse().unwrap();
        assert_eq!(digits(&t), 6);
        assert_eq!(time(&t, 6, false), "2026-06-01T04:17:44.705912Z");
        // A whole-second time in a column of microseconds keeps the column's width.
        let whole: DateTime<Utc> = "2026-06-01T04:17:44Z".parse().unwrap();
        assert_eq!(time(&whole, 6, false), "2026-06-01T04:17:44.000000Z");
        assert_eq!(time(&whole, 0, false).len(), 20);
        let local = time(&whole, 0, true);
        assert!(local.len() == 25 && !local.ends_with('Z'), "{local}");
    }

    #[test]
    fn data_scrolls_by_columns() {
        assert_eq!(skip_columns("{\"a\":1}", 2), "a\":1}");
        assert_eq!(skip_columns("東京x", 2), "京x");
        assert_eq!(skip_columns("ab", 5), "");
    }

    #[test]
    fn narrow_terminals_squeeze_stream_and_type_first() {
        let w = Widths {
            position: 7,
            stream: 30,
            version: 3,
            kind: 30,
            digits: 6,
        };
        let fit = w.fit(118, true, false);
        assert_eq!(fit, w, "room for all at 120 columns");
        let fit = w.fit(58, true, false);
        assert!(fit.stream >= 6 && fit.kind >= 6 && fit.stream < 30 && fit.kind < 30);
    }
}
