//! Printing results: `table` for people, `json` (an array) and `jsonl` (one object per line).

use std::io::{self, Write};

use serde::Serialize;

use crate::demo::DemoSummary;
use crate::store::model::format_time;
use crate::store::{Event, Store, StreamInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
}

/// Items as one JSON array (`json`) or one object per line (`jsonl`).
pub fn write_json<T: Serialize>(out: &mut dyn Write, items: &[T], f: Format) -> io::Result<()> {
    match f {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, items)?;
            writeln!(out)
        }
        _ => {
            for i in items {
                serde_json::to_writer(&mut *out, i)?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}

/// A duration for people: 42s, 3m07s, 2h05m.
pub fn human_secs(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How many terminal columns `s` takes: wide characters (CJK, most emoji) take two,
/// combining marks none.
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` as one shell word: as is when it holds only characters no shell treats specially,
/// else in single quotes (a single quote inside written as `'\''`).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=,%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Cut `s` to `max` terminal columns, with an ellipsis when cut; control characters shown as
/// spaces.
pub fn clip(s: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let clean = |c: char| if c.is_control() { ' ' } else { c };
    let w = |c: char| UnicodeWidthChar::width(c).unwrap_or(0);
    // Whether it fits, looking no further than one column past `max`.
    let mut used = 0;
    let mut fits = true;
    for c in s.chars().map(clean) {
        used += w(c);
        if used > max {
            fits = false;
            break;
        }
    }
    if fits {
        return s.chars().map(clean).collect();
    }
    let room = max.saturating_sub(1);
    let mut t = String::new();
    let mut used = 0;
    for c in s.chars().map(clean) {
        if used + w(c) > room {
            break;
        }
        used += w(c);
        t.push(c);
    }
    if max > 0 {
        t.push('…');
    }
    t
}

/// `s` padded with spaces to `cols` terminal columns (never cut).
pub fn pad(s: &str, cols: usize) -> String {
    let mut t = s.to_string();
    t.push_str(&" ".repeat(cols.saturating_sub(width(s))));
    t
}

/// One document: pretty for `json`, one line for `jsonl` (and for `table`, which callers
/// that have a table of their own never pass).
pub fn write_doc<T: Serialize + ?Sized>(out: &mut dyn Write, doc: &T, f: Format) -> io::Result<()> {
    if f == Format::Json {
        serde_json::to_writer_pretty(&mut *out, doc)?;
    } else {
        serde_json::to_writer(&mut *out, doc)?;
    }
    writeln!(out)
}

pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let widths = widths(header, rows);
    table_line(out, header, &widths)?;
    for r in rows {
        table_line(out, r, &widths)?;
    }
    Ok(())
}

/// Column widths: the widest of the header and the rows.
fn widths(header: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(c));
        }
    }
    widths
}

/// One line of a table (a cell wider than its column pushes the rest of its line only).
fn table_line<S: AsRef<str>>(out: &mut dyn Write, cells: &[S], widths: &[usize]) -> io::Result<()> {
    let n = cells.len();
    let mut s = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        let c = c.as_ref();
        s.push_str(c);
        if i + 1 < n {
            s.push_str(&" ".repeat(w.saturating_sub(width(c)) + 2));
        }
    }
    writeln!(out, "{}", s.trim_end())
}

const EVENT_HEADER: [&str; 6] = ["POSITION", "TIME", "STREAM", "VERSION", "TYPE", "DATA"];

/// An event's cells in a table.
fn event_row(e: &Event) -> Vec<String> {
    let data = match &e.data {
        serde_json::Value::String(s) if !e.problems.is_empty() => format!("! {s}"),
        v => v.to_string(),
    };
    vec![
        e.global_position.map_or("-".into(), |p| p.to_string()),
        e.recorded_at.as_ref().map_or("?".into(), format_time),
        clip(&e.stream_id, 40),
        e.stream_version.to_string(),
        clip(&e.event_type, 32),
        clip(&data, 60),
    ]
}

/// The problems of the events that have some, one line each (after a table's rows).
fn write_problems(out: &mut dyn Write, events: &[Event]) -> io::Result<()> {
    for e in events.iter().filter(|e| !e.problems.is_empty()) {
        writeln!(
            out,
            "! {} v{}: {}",
            clip(&e.stream_id, 200),
            e.stream_version,
            clip(&crate::store::problem::joined(&e.problems), 1000)
        )?;
    }
    Ok(())
}

/// Events written page by page as they are read, whatever the format: memory holds a page,
/// not the whole result. The output is the same as [`write_events_with`] of all the pages
/// (with the header), except that a table's columns are as wide as its first page needs (a
/// wider cell later pushes the rest of its own line) and the problems of rows are listed
/// after each page.
pub struct EventWriter<'a> {
    out: &'a mut dyn Write,
    format: Format,
    /// A table's column widths, once its header is written.
    widths: Option<Vec<usize>>,
    /// Events written so far.
    written: usize,
}

impl<'a> EventWriter<'a> {
    pub fn new(out: &'a mut dyn Write, format: Format) -> EventWriter<'a> {
        EventWriter {
            out,
            format,
            widths: None,
            written: 0,
        }
    }

    pub fn page(&mut self, events: &[Event]) -> io::Result<()> {
        match self.format {
            Format::Jsonl => write_json(self.out, events, Format::Jsonl)?,
            Format::Json => {
                // As `to_writer_pretty` writes an array: its items one level in.
                for (i, e) in events.iter().enumerate() {
                    let sep = if self.written + i == 0 {
                        "[\n  "
                    } else {
                        ",\n  "
                    };
                    self.out.write_all(sep.as_bytes())?;
                    let item = serde_json::to_string_pretty(e)?;
                    // JSON text holds no raw newline inside a string: each one starts a line.
                    self.out.write_all(item.replace('\n', "\n  ").as_bytes())?;
                }
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
                let widths = match &self.widths {
                    Some(w) => w,
                    None => {
                        let w = widths(&EVENT_HEADER, &rows);
                        table_line(self.out, &EVENT_HEADER, &w)?;
                        self.widths.insert(w)
                    }
                };
                for r in &rows {
                    table_line(self.out, r, widths)?;
                }
                write_problems(self.out, events)?;
            }
        }
        self.written += events.len();
        Ok(())
    }

    /// Close what the format opened (a JSON array; a table's header when there was no row).
    pub fn finish(mut self) -> io::Result<()> {
        match self.format {
            Format::Json if self.written == 0 => writeln!(self.out, "[]"),
            Format::Json => writeln!(self.out, "\n]"),
            Format::Table if self.widths.is_none() => self.page(&[]),
            _ => Ok(()),
        }
    }
}

/// Events in a format; `header` says whether a table starts with its header line (a follow
/// prints it once). `json` under follow is one array per batch, so use `jsonl` to stream.
pub fn write_events_with(
    out: &mut dyn Write,
    events: &[Event],
    f: Format,
    header: bool,
) -> io::Result<()> {
    if f != Format::Table {
        return write_json(out, events, f);
    }
    let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
    if header {
        table(out, &EVENT_HEADER, &rows)?;
    } else {
        // Fixed widths, so that rows printed batch by batch line up.
        for r in &rows {
            writeln!(
                out,
                "{}  {}  {}  {}  {}  {}",
                pad(&r[0], 10),
                pad(&r[1], 24),
                pad(&r[2], 30),
                pad(&r[3], 7),
                pad(&r[4], 24),
                r[5]
            )?;
        }
    }
    write_problems(out, events)
}

pub fn write_streams(out: &mut dyn Write, streams: &[StreamInfo], f: Format) -> io::Result<()> {
    if f != Format::Table {
        return write_json(out, streams, f);
    }
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            vec![
                clip(&s.stream_id, 60),
                clip(&s.category, 30),
                s.event_count.to_string(),
                s.last_version.to_string(),
                s.last_recorded_at.as_ref().map_or("?".into(), format_time),
            ]
        })
        .collect();
    table(
        out,
        &["STREAM", "CATEGORY", "EVENTS", "LAST VERSION", "LAST TIME"],
        &rows,
    )?;
    for s in streams.iter().filter(|s| !s.problems.is_empty()) {
        let problems = crate::store::problem::joined(&s.problems);
        writeln!(
            out,
            "! {}: {}",
            clip(&s.stream_id, 200),
            clip(&problems, 1000)
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Info<'a> {
    database: &'a str,
    dialect: &'a str,
    layout: &'a str,
    /// Why this layout: the signature detection matched, the mapping file.
    detected: &'a str,
    events_table: String,
    has_global_position: bool,
    /// Whether the store records a time per event (else time filters are refused).
    has_time: bool,
    /// Whether the store keeps event ids (else an event's id is `stream@version`).
    has_event_ids: bool,
    has_snapshots: bool,
    head_position: Option<i64>,
    server: &'a crate::store::role::ServerRole,
}

pub fn write_info(
    out: &mut dyn Write,
    store: &Store,
    head: Option<i64>,
    server: &crate::store::role::ServerRole,
    f: Format,
) -> io::Result<()> {
    let l = store.layout();
    let info = Info {
        database: store.url(),
        dialect: store.dialect().name(),
        layout: &l.name,
        detected: store.reason(),
        events_table: l.events.to_string(),
        has_global_position: l.position.is_some(),
        has_time: store.has_time(),
        has_event_ids: l.event_id.is_some(),
        has_snapshots: l.snapshots.is_some(),
        head_position: head,
        server,
    };
    if f != Format::Table {
        return write_doc(out, &info, f);
    }
    writeln!(out, "database   {}", info.database)?;
    writeln!(out, "dialect    {}", info.dialect)?;
    writeln!(out, "server     {}", server.describe())?;
    writeln!(
        out,
        "layout     {} (events in {})",
        info.layout, info.events_table
    )?;
    writeln!(out, "detected   {}", info.detected)?;
    writeln!(
        out,
        "time       {}",
        match (&l.recorded_at, l.time_path.is_empty()) {
            (None, _) =>
                "none: the store records no time (since/until and --as-of cannot apply)".to_string(),
            (Some(c), true) => format!("column {}", c.name),
            (Some(c), false) => format!(
                "in the data, at .{} (column {})",
                l.time_path
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
                c.name
            ),
        }
    )?;
    if l.event_id.is_none() {
        writeln!(
            out,
            "event ids  none stored: an event's id is stream@version"
        )?;
    }
    writeln!(
        out,
        "position   {}",
        match (info.has_global_position, head) {
            (false, _) => "none (global order: recorded_at, stream, version)".to_string(),
            (true, Some(h)) => format!("head at {h}"),
            (true, None) => "empty log".to_string(),
        }
    )?;
    writeln!(
        out,
        "snapshots  {}",
        if info.has_snapshots { "yes" } else { "no" }
    )
}

pub fn write_demo(out: &mut dyn Write, s: &DemoSummary, f: Format) -> io::Result<()> {
    if f != Format::Table {
        return write_doc(out, s, f);
    }
    writeln!(
        out,
        "{} demo store at {}\n  {} streams, {} events, {} snapshots ({} deliberately drifted)\n  open it: evscope --db {} streams",
        if s.created { "created" } else { "reusing" },
        s.path,
        s.streams,
        s.events,
        s.snapshots,
        s.drifted.len(),
        s.url
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: i64) -> Event {
        Event {
            global_position: Some(i),
            stream_id: format!("s-{}", i % 3),
            stream_version: i,
            event_id: format!("id-{i}"),
            event_type: "T".into(),
            data: serde_json::json!({"n": i, "text": "two\nlines \"quoted\"", "nested": {"a": [1, {"b": null}]}, "ü": "é"}),
            metadata: serde_json::Value::Null,
            recorded_at: None,
            exact: None,
            problems: if i == 4 {
                vec![crate::store::problem::Problem::new(
                    "data",
                    crate::store::problem::ProblemKind::InvalidJson,
                    "data is not valid JSON".into(),
                )]
            } else {
                vec![]
            },
        }
    }

    /// Written page by page, in any cut, the output is what one call writes for all of it.
    #[test]
    fn events_written_by_pages_are_the_same_text() {
        for n in [0, 1, 7] {
            let events: Vec<Event> = (0..n).map(event).collect();
            for f in [Format::Json, Format::Jsonl, Format::Table] {
                let mut whole = Vec::new();
                write_events_with(&mut whole, &events, f, true).unwrap();
                for size in [1, 2, 3, 100] {
                    let mut paged = Vec::new();
                    let mut w = EventWriter::new(&mut paged, f);
                    for page in events.chunks(size) {
                        w.page(page).unwrap();
                    }
                    w.finish().unwrap();
                    if f == Format::Table && size < n as usize {
                        // Problems come after the page of their row, not after the table.
                        let lines = |b: &[u8]| {
                            let mut v: Vec<String> = String::from_utf8_lossy(b)
                                .lines()
                                .map(String::from)
                                .collect();
                            v.sort();
                            v
                        };
                        assert_eq!(lines(&paged), lines(&whole), "{n} by {size}");
                    } else {
                        assert_eq!(
                            String::from_utf8_lossy(&paged),
                            String::from_utf8_lossy(&whole),
                            "{f:?}, {n} events by {size}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn shell_quote_gives_one_word() {
        assert_eq!(shell_quote("account-0009"), "account-0009");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("order-東京"), "'order-東京'");
    }

    #[test]
    fn clip_cuts_with_an_ellipsis() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
        assert_eq!(clip("a\nb", 4), "a b");
        assert_eq!(clip("çãõé", 3), "çã…");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("ab", 0), "");
    }

    /// Wide characters take two columns, combining marks none: a table lines up in a
    /// terminal whatever the stream ids hold.
    #[test]
    fn tables_line_up_by_display_width() {
        assert_eq!(width("order-東京-🚀"), 13);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(clip("東京東京", 5), "東京…");
        assert_eq!(clip("東京東京", 4), "東…");
        assert_eq!(width(&clip("🚀🚀🚀", 4)), 3);
        let rows = vec![
            vec!["order-東京-🚀".to_string(), "1".to_string()],
            vec!["cafe\u{301}".to_string(), "2".to_string()],
            vec!["plain".to_string(), "3".to_string()],
        ];
        let mut out = Vec::new();
        table(&mut out, &["STREAM", "N"], &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        let cols: Vec<usize> = text
            .lines()
            .map(|l| width(&l[..l.rfind(' ').unwrap() + 1]))
            .collect();
        assert!(cols.iter().all(|&c| c == cols[0]), "{text}\n{cols:?}");
        assert_eq!(pad("東", 4), "東  ");
    }
}
