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

/// Cut `s` to `width` characters, with an ellipsis when cut; control characters shown as spaces.
pub fn clip(s: &str, width: usize) -> String {
    let clean = s.chars().map(|c| if c.is_control() { ' ' } else { c });
    let v: Vec<char> = clean.take(width + 1).collect();
    if v.len() > width {
        let mut t: String = v[..width.saturating_sub(1)].iter().collect();
        t.push('…');
        t
    } else {
        v.into_iter().collect()
    }
}

pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> io::Result<()> {
        let n = cells.len();
        let mut s = String::new();
        for (i, (c, w)) in cells.into_iter().zip(&widths).enumerate() {
            s.push_str(c);
            if i + 1 < n {
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header.to_vec())?;
    for r in rows {
        line(out, r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

pub fn write_events(out: &mut dyn Write, events: &[Event], f: Format) -> io::Result<()> {
    write_events_with(out, events, f, true)
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
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
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
        })
        .collect();
    if header {
        table(
            out,
            &["POSITION", "TIME", "STREAM", "VERSION", "TYPE", "DATA"],
            &rows,
        )?;
    } else {
        // Fixed widths, so that rows printed batch by batch line up.
        for r in &rows {
            writeln!(
                out,
                "{:<10}  {:<24}  {:<30}  {:<7}  {:<24}  {}",
                r[0], r[1], r[2], r[3], r[4], r[5]
            )?;
        }
    }
    for e in events.iter().filter(|e| !e.problems.is_empty()) {
        writeln!(
            out,
            "! {} v{}: {}",
            e.stream_id,
            e.stream_version,
            e.problems.join("; ")
        )?;
    }
    Ok(())
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
    )
}

#[derive(Serialize)]
struct Info<'a> {
    database: &'a str,
    dialect: &'a str,
    layout: &'a str,
    events_table: String,
    has_global_position: bool,
    has_snapshots: bool,
    head_position: Option<i64>,
}

pub fn write_info(
    out: &mut dyn Write,
    store: &Store,
    head: Option<i64>,
    f: Format,
) -> io::Result<()> {
    let l = store.layout();
    let info = Info {
        database: store.url(),
        dialect: store.dialect().name(),
        layout: &l.name,
        events_table: l.events.to_string(),
        has_global_position: l.position.is_some(),
        has_snapshots: l.snapshots.is_some(),
        head_position: head,
    };
    if f != Format::Table {
        serde_json::to_writer_pretty(&mut *out, &info)?;
        return writeln!(out);
    }
    writeln!(out, "database   {}", info.database)?;
    writeln!(out, "dialect    {}", info.dialect)?;
    writeln!(
        out,
        "layout     {} (events in {})",
        info.layout, info.events_table
    )?;
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
        serde_json::to_writer_pretty(&mut *out, s)?;
        return writeln!(out);
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

    #[test]
    fn clip_cuts_with_an_ellipsis() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
        assert_eq!(clip("a\nb", 4), "a b");
        assert_eq!(clip("çãõé", 3), "çã…");
    }
}
