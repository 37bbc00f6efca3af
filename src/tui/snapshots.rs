//! The snapshot audit in the TUI: a stream's snapshots checked against its events (the
//! domain's [`verify_stream`]), one snapshot side by side with the state recomputed from the
//! events, and the store's integrity [`audit`]. The work runs in spawned tasks that answer
//! with a request id (stale answers are dropped by the app); each view holds a [`Cancel`]
//! that stops its task when the view goes away. This file also draws the three views.

use std::collections::{HashMap, HashSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::app::Msg;
use super::json;
use super::rehydrate::ReducerSource;
use super::theme::Theme;
use crate::output::clip;
use crate::rehydrate::diff::{Change, diff_with, parse_path, render_path};
use crate::rehydrate::timeline::Timeline;
use crate::snapshots::audit::{AuditSummary, Finding, Severity, audit};
use crate::snapshots::{Check, Status, verify_stream};
use crate::store::model::format_time;
use crate::store::{Snapshot, Store};

/// Dropping it stops the task it was made for (at the task's next await).
pub type Cancel = oneshot::Sender<()>;

/// Run `work` until it finishes or its [`Cancel`] is dropped; `done` gets the result.
async fn cancellable<T>(
    cancelled: oneshot::Receiver<()>,
    work: impl std::future::Future<Output = T>,
    done: impl FnOnce(T),
) {
    tokio::select! {
        r = work => done(r),
        _ = cancelled => {}
    }
}

// ---- the snapshot list ------------------------------------------------------------------

/// A stream's snapshots, each checked against the events.
#[derive(Debug, Clone)]
pub struct Checked {
    pub checks: Vec<Check>,
    pub fold_name: String,
}

pub struct SnapshotList {
    pub stream: String,
    pub pending: Option<u64>,
    _cancel: Cancel,
    pub checked: Option<Checked>,
    pub selected: usize,
    pub top: usize,
    pub error: Option<String>,
}

impl SnapshotList {
    pub fn selected_check(&self) -> Option<&Check> {
        self.checked.as_ref()?.checks.get(self.selected)
    }
}

/// Check every snapshot of `stream` (one shared fold, [`verify_stream`]) in a task.
///
/// The domain's fold keeps jq values across its awaits, which cannot move between threads:
/// the future runs on a blocking thread of its own with the runtime's handle.
pub fn start_list(
    store: Store,
    source: ReducerSource,
    stream: String,
    id: u64,
    tx: UnboundedSender<Msg>,
) -> SnapshotList {
    let (cancel, cancelled) = oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let s = stream.clone();
    tokio::task::spawn_blocking(move || {
        handle.block_on(cancellable(
            cancelled,
            async move {
                let reducers = source.load()?;
                let checks = verify_stream(&store, &reducers, &s, None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Checked {
                    checks,
                    fold_name: reducers.fold_for(&s).name(),
                })
            },
            |result| {
                let _ = tx.send(Msg::SnapshotChecks { id, result });
            },
        ))
    });
    SnapshotList {
        stream,
        pending: Some(id),
        _cancel: cancel,
        checked: None,
        selected: 0,
        top: 0,
        error: None,
    }
}

// ---- the diff of one snapshot -----------------------------------------------------------

/// One snapshot and the state recomputed from the events at its version.
#[derive(Debug, Clone)]
pub struct Compared {
    pub stream: String,
    pub version: i64,
    pub fold_name: String,
    /// None: the store has no snapshot at this version (any more).
    pub stored: Option<Snapshot>,
    /// Why the state could not be recomputed, when it could not.
    pub recomputed: Result<Value, String>,
    /// Recomputed (`old`) vs stored (`new`), with the fold's diff options, as the audit does.
    pub changes: Vec<Change>,
}

impl Compared {
    pub fn status(&self) -> Status {
        match (&self.stored, &self.recomputed) {
            (Some(s), Ok(_)) if s.problems.is_empty() => {
                if self.changes.is_empty() {
                    Status::Ok
                } else {
                    Status::Drifted
                }
            }
            _ => Status::Error,
        }
    }

    /// What went wrong, for an error.
    pub fn problem(&self) -> Option<String> {
        match (&self.stored, &self.recomputed) {
            (None, _) => Some(format!(
                "the store has no snapshot at version {}",
                self.version
            )),
            (Some(s), _) if !s.problems.is_empty() => Some(s.problems.join("; ")),
            (_, Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
}

/// Read the snapshot and fold the stream to its version (the time-travel timeline, from the
/// events only: snapshots are not trusted here).
async fn compare(
    store: Store,
    source: ReducerSource,
    stream: String,
    version: i64,
) -> Result<Compared, String> {
    let reducers = source.load()?;
    let fold = reducers.fold_for(&stream);
    let fold_name = fold.name();
    let opts = fold.diff_options();
    let stored = store
        .snapshots(&stream, Some(version), true, 1)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .filter(|s| s.stream_version == version);
    let recomputed = match Timeline::open(store, &stream, fold).await {
        Err(e) => Err(e.to_string()),
        Ok(mut t) => match t.goto(version).await {
            Err(e) => Err(e.to_string()),
            Ok(step) => match step.error {
                Some(err) => Err(format!("cannot recompute: {err}")),
                None if version > t.last_version => {
                    Err(format!("the stream ends before version {version}"))
                }
                None if step.version != Some(version) => {
                    Err(format!("the stream has no event at version {version}"))
                }
                None => Ok(step.state),
            },
        },
    };
    let changes = match (&stored, &recomputed) {
        (Some(s), Ok(r)) if s.problems.is_empty() => diff_with(r, &s.state, &opts),
        _ => vec![],
    };
    Ok(Compared {
        stream,
        version,
        fold_name,
        stored,
        recomputed,
        changes,
    })
}

/// One side of the diff: the lines of a state, and how far it is scrolled.
#[derive(Debug, Default)]
pub struct Pane {
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
}

/// Where a change is on one side: its line, or (`exact` false) the line of its nearest
/// ancestor the side has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub exact: bool,
}

pub struct DiffView {
    pub stream: String,
    pub version: i64,
    pub pending: Option<u64>,
    _cancel: Cancel,
    pub compared: Option<Compared>,
    pub error: Option<String>,
    /// The stored state (left) and the recomputed state (right), differing paths highlighted.
    pub panes: [Pane; 2],
    /// For each change, where it is on each side.
    pub at: Vec<[Mark; 2]>,
    /// The difference jumped to (n / N).
    pub current: usize,
}

pub fn start_diff(
    store: Store,
    source: ReducerSource,
    stream: String,
    version: i64,
    id: u64,
    tx: UnboundedSender<Msg>,
) -> DiffView {
    let (cancel, cancelled) = oneshot::channel();
    let s = stream.clone();
    tokio::spawn(cancellable(
        cancelled,
        compare(store, source, s, version),
        move |result| {
            let _ = tx.send(Msg::SnapshotDiff {
                id,
                result: result.map(Box::new),
            });
        },
    ));
    DiffView {
        stream,
        version,
        pending: Some(id),
        _cancel: cancel,
        compared: None,
        error: None,
        panes: Default::default(),
        at: vec![],
        current: 0,
    }
}

/// The line of `path` in `index`, else of its nearest ancestor there (the root at worst).
fn locate(index: &HashMap<String, usize>, path: &str) -> Mark {
    if let Some(&line) = index.get(path) {
        return Mark { line, exact: true };
    }
    let mut segs = parse_path(path).unwrap_or_default();
    while segs.pop().is_some() {
        if let Some(&line) = index.get(&render_path(&segs)) {
            return Mark { line, exact: false };
        }
    }
    Mark {
        line: 0,
        exact: false,
    }
}

impl DiffView {
    /// Build both sides' lines once, when the comparison arrives.
    pub fn show(&mut self, c: Compared, t: &Theme) {
        let paths: HashSet<String> = c.changes.iter().map(|ch| ch.path().to_string()).collect();
        let side = |v: Option<&Value>| match v {
            Some(v) => json::highlighted_lines_indexed(v, t, &paths),
            None => (vec![], HashMap::new()),
        };
        let (left, lindex) = side(c.stored.as_ref().map(|s| &s.state));
        let (right, rindex) = side(c.recomputed.as_ref().ok());
        self.at = c
            .changes
            .iter()
            .map(|ch| [locate(&lindex, ch.path()), locate(&rindex, ch.path())])
            .collect();
        self.panes = [
            Pane {
                lines: left,
                scroll: 0,
            },
            Pane {
                lines: right,
                scroll: 0,
            },
        ];
        self.current = 0;
        self.error = None;
        self.compared = Some(c);
    }

    /// Scroll both sides to the current difference, on the same row of each pane (a third of
    /// the way down at most); a side without the path shows the nearest ancestor it has.
    pub fn reveal(&mut self, height: usize) {
        let Some(marks) = self.at.get(self.current) else {
            return;
        };
        let row = marks
            .iter()
            .filter(|m| m.exact)
            .map(|m| m.line)
            .min()
            .unwrap_or(0)
            .min(height.saturating_sub(1) / 3);
        for (pane, m) in self.panes.iter_mut().zip(marks) {
            pane.scroll = m.line.saturating_sub(row);
        }
    }

    /// Jump by `delta` differences, wrapping; false when there is none.
    pub fn jump(&mut self, delta: isize, height: usize) -> bool {
        let n = self.at.len() as isize;
        if n == 0 {
            return false;
        }
        self.current = (self.current as isize + delta).rem_euclid(n) as usize;
        self.reveal(height);
        true
    }

    /// Scroll both sides together (each stops at its last line).
    pub fn scroll_by(&mut self, delta: isize) {
        for p in &mut self.panes {
            let max = p.lines.len().saturating_sub(1) as isize;
            p.scroll = (p.scroll as isize + delta).clamp(0, max) as usize;
        }
    }

    pub fn home(&mut self) {
        for p in &mut self.panes {
            p.scroll = 0;
        }
    }

    /// Each side's last screenful.
    pub fn end(&mut self, height: usize) {
        for p in &mut self.panes {
            p.scroll = p.lines.len().saturating_sub(height);
        }
    }
}

/// Rows of the change summary above the panes (the rest of the list scrolls with n / N).
const SUMMARY_ROWS: usize = 5;

/// The diff view's parts: the header lines and the two panes.
pub struct DiffAreas {
    pub head: Rect,
    pub left: Rect,
    pub right: Rect,
}

pub fn diff_areas(area: Rect, changes: usize) -> DiffAreas {
    let inner = Block::new().borders(Borders::ALL).inner(area);
    // The hint line, the changes (at least one line for "no difference" or an error).
    let head_h = 1 + changes.clamp(1, SUMMARY_ROWS) as u16;
    let [head, body] =
        Layout::vertical([Constraint::Length(head_h), Constraint::Fill(1)]).areas(inner);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    DiffAreas { head, left, right }
}

/// Lines of JSON inside a pane of this area.
pub fn pane_height(a: &DiffAreas) -> usize {
    a.left.height.saturating_sub(2) as usize
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn number(d: f64) -> String {
    if d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{:+}", d as i64)
    } else {
        format!("{d:+}")
    }
}

/// One change as the summary shows it: a sign, "path: stored → recomputed" and what else is
/// known (numeric delta, type change). The diff's `old` is the recomputed value, `new` the
/// stored one.
pub fn describe(c: &Change) -> (&'static str, String) {
    let v = |v: &Value| clip(&v.to_string(), 60);
    match c {
        Change::Changed {
            path,
            old,
            new,
            delta,
            type_changed,
        } => {
            let mut s = format!("{path}: {} → {}", v(new), v(old));
            if let Some(d) = delta {
                s.push_str(&format!("  Δ {} (stored − recomputed)", number(*d)));
            }
            if *type_changed {
                s.push_str(&format!("  type {} → {}", kind(new), kind(old)));
            }
            ("~", s)
        }
        Change::Added { path, new } => (
            "+",
            format!("{path}: {} → absent (only in the stored snapshot)", v(new)),
        ),
        Change::Removed { path, old } => (
            "-",
            format!(
                "{path}: absent → {} (missing from the stored snapshot)",
                v(old)
            ),
        ),
    }
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Drifted => "drifted",
        Status::Error => "error",
    }
}

fn status_style(s: Status, t: &Theme) -> Style {
    match s {
        Status::Ok => t.muted,
        Status::Drifted => t.warning,
        Status::Error => t.error,
    }
}

// ---- the audit --------------------------------------------------------------------------

pub struct AuditView {
    pub pending: Option<u64>,
    _cancel: Cancel,
    /// Events read so far, while it runs.
    pub read: u64,
    pub findings: Vec<Finding>,
    pub summary: Option<AuditSummary>,
    pub selected: usize,
    pub top: usize,
    pub error: Option<String>,
}

impl AuditView {
    pub fn selected_finding(&self) -> Option<&Finding> {
        self.findings.get(self.selected)
    }
}

pub fn start_audit(
    store: Store,
    source: ReducerSource,
    id: u64,
    tx: UnboundedSender<Msg>,
) -> AuditView {
    let (cancel, cancelled) = oneshot::channel();
    let progress = tx.clone();
    tokio::spawn(cancellable(
        cancelled,
        async move {
            let reducers = source.load()?;
            audit(&store, &reducers, |events| {
                let _ = progress.send(Msg::AuditProgress { id, events });
            })
            .await
            .map_err(|e| e.to_string())
        },
        move |result| {
            let _ = tx.send(Msg::Audit { id, result });
        },
    ));
    AuditView {
        pending: Some(id),
        _cancel: cancel,
        read: 0,
        findings: vec![],
        summary: None,
        selected: 0,
        top: 0,
        error: None,
    }
}

// ---- drawing ----------------------------------------------------------------------------

fn block(t: &Theme, title: String) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(title, t.title))
}

/// Lines under a list for the whole of the selected row's detail (the table cuts it).
const FOOTER: u16 = 2;

/// Rows of a list view (the block's borders, a summary line, the table's header, the footer).
pub fn list_rows(area: Rect) -> usize {
    area.height.saturating_sub(4 + FOOTER) as usize
}

/// Keep `selected` in the rows shown from `top`.
pub fn follow(selected: usize, top: usize, height: usize) -> usize {
    if selected < top {
        selected
    } else if height > 0 && selected >= top + height {
        selected + 1 - height
    } else {
        top
    }
}

/// A summary line above a table, the table's area, and the footer below it.
fn split_list(area: Rect) -> (Rect, Rect, Rect) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(FOOTER),
    ])
    .areas(area);
    (head, body, foot)
}

/// The selected row's whole detail, wrapped, under a list.
fn draw_footer(f: &mut Frame, area: Rect, text: Line<'static>, t: &Theme) {
    let rule = Span::styled("─".repeat(area.width as usize), t.border);
    let [r, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    f.render_widget(Paragraph::new(Line::from(rule)), r);
    f.render_widget(
        Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: false }),
        body,
    );
}

pub fn draw_list(f: &mut Frame, area: Rect, v: &SnapshotList, t: &Theme) {
    let mut title = format!(" Snapshots · {} ", v.stream);
    if let Some(c) = &v.checked {
        title.push_str(&format!("· {} ", c.fold_name));
    }
    let outer = block(t, title);
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let (head, body, foot) = split_list(inner);
    let Some(c) = &v.checked else {
        let (msg, style) = match &v.error {
            Some(e) => (format!(" error: {e}"), t.error),
            None => (
                " recomputing the stream from its events and comparing each snapshot…".into(),
                t.loading,
            ),
        };
        f.render_widget(Paragraph::new(msg).style(style), head);
        return;
    };
    let count = |s: Status| c.checks.iter().filter(|x| x.status == s).count();
    let summary = if c.checks.is_empty() {
        Line::styled(" this stream has no snapshots", t.muted)
    } else {
        Line::from(vec![
            Span::raw(format!(
                " {} snapshot(s): {} ok, ",
                c.checks.len(),
                count(Status::Ok)
            )),
            Span::styled(format!("{} drifted", count(Status::Drifted)), t.warning),
            Span::raw(", "),
            Span::styled(format!("{} error(s)", count(Status::Error)), t.error),
            Span::styled(
                "   Enter diff · t time travel at the version · r re-check",
                t.muted,
            ),
        ])
    };
    f.render_widget(Paragraph::new(summary), head);
    let h = body.height.saturating_sub(1) as usize;
    let end = (v.top + h).min(c.checks.len());
    let rows: Vec<Row> = c.checks[v.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let detail = match ch.status {
                Status::Ok => String::new(),
                Status::Error => ch.error.clone().unwrap_or_default(),
                Status::Drifted => {
                    let paths: Vec<&str> = ch.changes.iter().map(Change::path).collect();
                    format!(
                        "{} differing path(s): {}",
                        ch.changes.len(),
                        clip(&paths.join(", "), 200)
                    )
                }
            };
            let row = Row::new(vec![
                Cell::from(ch.stream_version.to_string()),
                Cell::from(ch.taken_at.clone().unwrap_or_else(|| "?".into())),
                Cell::from(status_label(ch.status)).style(status_style(ch.status, t)),
                Cell::from(detail),
            ]);
            if v.top + i == v.selected {
                row.style(t.selected)
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(26),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec!["VERSION", "TAKEN AT", "STATUS", "DETAIL"]).style(t.header));
    f.render_widget(table, body);
    if let Some(ch) = v.selected_check() {
        let text = match ch.status {
            Status::Ok => Line::styled(
                format!(" v{}: the snapshot matches the events", ch.stream_version),
                t.muted,
            ),
            Status::Error => Line::styled(
                format!(
                    " v{}: {}",
                    ch.stream_version,
                    ch.error.clone().unwrap_or_default()
                ),
                t.error,
            ),
            Status::Drifted => {
                let all: Vec<String> = ch.changes.iter().map(|c| describe(c).1).collect();
                Line::raw(format!(
                    " v{} (stored → recomputed): {}",
                    ch.stream_version,
                    all.join("; ")
                ))
            }
        };
        draw_footer(f, foot, text, t);
    }
}

/// The visible lines of a pane, with `▶` at the current difference's line.
fn pane(p: &Pane, h: usize, mark: Option<usize>) -> Vec<Line<'static>> {
    let end = (p.scroll + h).min(p.lines.len());
    let start = p.scroll.min(end);
    p.lines[start..end]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let gutter = if mark == Some(start + i) {
                "▶ "
            } else {
                "  "
            };
            let mut l = l.clone();
            l.spans.insert(0, Span::raw(gutter));
            l
        })
        .collect()
}

pub fn draw_diff(f: &mut Frame, area: Rect, v: &DiffView, t: &Theme) {
    let Some(c) = &v.compared else {
        let (msg, style) = match &v.error {
            Some(e) => (format!("error: {e}"), t.error),
            None => (
                format!(
                    "reading the snapshot and folding the events to v{}…",
                    v.version
                ),
                t.loading,
            ),
        };
        let b = block(t, format!(" Snapshot · {} v{} ", v.stream, v.version));
        f.render_widget(Paragraph::new(msg).style(style).block(b), area);
        return;
    };
    let status = c.status();
    let title = Line::from(vec![
        Span::styled(
            format!(" Snapshot · {} v{} · ", c.stream, c.version),
            t.title,
        ),
        Span::styled(status_label(status), status_style(status, t)),
        Span::styled(format!(" · {} ", c.fold_name), t.title),
    ]);
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(title);
    f.render_widget(outer, area);
    let a = diff_areas(area, c.changes.len());
    // The header: a hint line, then the changes around the current one.
    let n = c.changes.len();
    let mut head: Vec<Line> = vec![];
    let what = match (n, c.problem()) {
        (_, Some(_)) => " cannot compare".to_string(),
        (0, None) => " no difference: the snapshot matches the events".to_string(),
        (n, None) => format!(
            " difference {} of {n} · path: stored → recomputed",
            v.current + 1
        ),
    };
    head.push(Line::from(vec![
        Span::styled(what, t.header),
        Span::styled(
            "   n/N next/previous · ↑/↓ scroll · t time travel · Esc back",
            t.muted,
        ),
    ]));
    if let Some(p) = c.problem() {
        head.push(Line::styled(format!(" {p}"), t.error));
    }
    let rows = SUMMARY_ROWS.min(n);
    let first = v
        .current
        .saturating_sub(rows / 2)
        .min(n.saturating_sub(rows));
    for (i, ch) in c.changes.iter().enumerate().skip(first).take(rows) {
        let (sign, text) = describe(ch);
        let style = match ch {
            Change::Added { .. } => t.json_string,
            Change::Removed { .. } => t.error,
            Change::Changed { .. } => t.warning,
        };
        let cur = i == v.current;
        let mut spans = vec![
            Span::raw(if cur { "▶ " } else { "  " }),
            Span::styled(format!("{sign} "), style),
            Span::raw(text),
        ];
        if cur {
            spans = spans
                .into_iter()
                .map(|s| s.patch_style(ratatui::style::Modifier::BOLD))
                .collect();
        }
        head.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(head), a.head);
    let h = pane_height(&a);
    let marks = v.at.get(v.current);
    let mark = |side: usize| marks.map(|m| m[side]).filter(|m| m.exact).map(|m| m.line);
    let left_title = match &c.stored {
        Some(s) => format!(
            " Stored snapshot · v{}{} ",
            s.stream_version,
            s.taken_at
                .as_ref()
                .map_or(String::new(), |at| format!(" · taken {}", format_time(at)))
        ),
        None => " Stored snapshot ".to_string(),
    };
    let left = match &c.stored {
        Some(_) => Paragraph::new(pane(&v.panes[0], h, mark(0))),
        None => Paragraph::new(Line::styled("no snapshot at this version", t.error)),
    };
    f.render_widget(left.block(block(t, left_title)), a.left);
    let right_block = block(t, format!(" Recomputed from the events · v{} ", c.version));
    let right = match &c.recomputed {
        Ok(_) => Paragraph::new(pane(&v.panes[1], h, mark(1))),
        Err(e) => Paragraph::new(Line::styled(e.clone(), t.error))
            .wrap(ratatui::widgets::Wrap { trim: false }),
    };
    f.render_widget(right.block(right_block), a.right);
}

pub fn draw_audit(f: &mut Frame, area: Rect, v: &AuditView, t: &Theme) {
    let outer = block(t, " Audit · the whole store ".into());
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let (head, body, foot) = split_list(inner);
    let Some(s) = &v.summary else {
        let (msg, style) = match &v.error {
            Some(e) => (format!(" error: {e}"), t.error),
            None => (format!(" auditing… {} events read", v.read), t.loading),
        };
        f.render_widget(Paragraph::new(msg).style(style), head);
        return;
    };
    let summary = Line::from(vec![
        Span::raw(format!(" {} events in {} streams: ", s.events, s.streams)),
        Span::styled(
            format!("{} fault(s)", s.errors),
            if s.errors > 0 { t.error } else { t.muted },
        ),
        Span::raw(format!(", {} note(s)", s.infos)),
        Span::styled("   Enter opens the stream · r re-runs", t.muted),
    ]);
    f.render_widget(Paragraph::new(summary), head);
    let h = body.height.saturating_sub(1) as usize;
    let end = (v.top + h).min(v.findings.len());
    let rows: Vec<Row> = v.findings[v.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, fd)| {
            let (sev, style) = match fd.severity {
                Severity::Error => ("error", t.error),
                Severity::Info => ("info", t.muted),
            };
            let kind = serde_json::to_value(fd.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_default();
            let stream = match (&fd.stream_id, &fd.event_id) {
                (Some(s), _) => s.clone(),
                (None, Some(e)) => format!("event {e}"),
                _ => String::new(),
            };
            let row = Row::new(vec![
                Cell::from(sev).style(style),
                Cell::from(kind).style(t.accent),
                Cell::from(stream),
                Cell::from(fd.stream_version.map_or(String::new(), |v| v.to_string())),
                Cell::from(fd.detail.clone()),
            ]);
            if v.top + i == v.selected {
                row.style(t.selected)
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(18),
            Constraint::Length(24),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec!["SEV", "KIND", "STREAM", "VERSION", "DETAIL"]).style(t.header));
    f.render_widget(table, body);
    if let Some(fd) = v.selected_finding() {
        let mut at = match (&fd.stream_id, fd.stream_version) {
            (Some(s), Some(ver)) => format!("{s} v{ver}"),
            (Some(s), None) => format!("e.g. {s}"),
            _ => String::new(),
        };
        if let Some(p) = fd.global_position {
            at.push_str(&format!(" (position {p})"));
        }
        if let Some(e) = &fd.event_id {
            at.push_str(&format!(" event {e}"));
        }
        draw_footer(
            f,
            foot,
            Line::raw(format!(" {}: {}", at.trim(), fd.detail)),
            t,
        );
    }
    if v.findings.is_empty() {
        let [_, msg] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(body);
        f.render_widget(
            Paragraph::new(" nothing found: versions, ids, times and JSON are consistent")
                .style(t.muted),
            msg,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compared(stored: Value, recomputed: Value) -> Compared {
        Compared {
            stream: "account-1".into(),
            version: 20,
            fold_name: "reducer account".into(),
            changes: crate::rehydrate::diff::diff(&recomputed, &stored),
            stored: Some(Snapshot {
                stream_id: "account-1".into(),
                stream_version: 20,
                state: stored,
                taken_at: None,
                snapshot_type: None,
                schema_version: None,
                problems: vec![],
            }),
            recomputed: Ok(recomputed),
        }
    }

    fn view() -> DiffView {
        let (cancel, _) = oneshot::channel();
        DiffView {
            stream: "account-1".into(),
            version: 20,
            pending: None,
            _cancel: cancel,
            compared: None,
            error: None,
            panes: Default::default(),
            at: vec![],
            current: 0,
        }
    }

    #[test]
    fn changes_read_stored_then_recomputed() {
        let c = compared(
            json!({"balance": 9165, "n": "7", "extra": true}),
            json!({"balance": 9200, "n": 7, "gone": [1]}),
        );
        let lines: Vec<String> = c
            .changes
            .iter()
            .map(|ch| {
                let (sign, text) = describe(ch);
                format!("{sign} {text}")
            })
            .collect();
        assert_eq!(
            lines,
            [
                "~ .balance: 9165 → 9200  Δ -35 (stored − recomputed)",
                "+ .extra: true → absent (only in the stored snapshot)",
                "- .gone: absent → [1] (missing from the stored snapshot)",
                "~ .n: \"7\" → 7  type string → number",
            ]
        );
        assert_eq!(c.status(), Status::Drifted);
        assert_eq!(
            compared(json!({"a": 1}), json!({"a": 1})).status(),
            Status::Ok
        );
        let mut broken = compared(json!({"a": 1}), json!({"a": 1}));
        broken.recomputed = Err("cannot recompute: boom".into());
        assert_eq!(broken.status(), Status::Error);
        assert_eq!(broken.problem().as_deref(), Some("cannot recompute: boom"));
        assert_eq!(number(0.5), "+0.5");
    }

    #[test]
    fn differences_are_aligned_across_the_panes_and_wrap() {
        let t = Theme::default_dark();
        let mut v = view();
        // The stored side has an extra array above .z: the same path is lower on the left.
        let filler: Vec<Value> = (0..40).map(Value::from).collect();
        v.show(
            compared(
                json!({"a": filler, "m": {"deep": 1}, "z": 2}),
                json!({"m": {"deep": 2}, "z": 3, "only_recomputed": {"x": 1}}),
            ),
            &t,
        );
        let paths: Vec<&str> = v
            .compared
            .as_ref()
            .unwrap()
            .changes
            .iter()
            .map(Change::path)
            .collect();
        assert_eq!(paths, [".a", ".m.deep", ".only_recomputed", ".z"]);
        let h = 20;
        v.reveal(h);
        // .a is only on the left: the right side shows its nearest ancestor, the root.
        assert_eq!(
            v.at[0][1],
            Mark {
                line: 0,
                exact: false
            }
        );
        for want in [1, 2, 3, 0, 1] {
            assert!(v.jump(1, h));
            assert_eq!(v.current, want);
            let [l, r] = v.at[v.current];
            if l.exact && r.exact {
                // The difference is on the same row of both panes.
                assert_eq!(l.line - v.panes[0].scroll, r.line - v.panes[1].scroll);
                assert!(l.line - v.panes[0].scroll <= (h - 1) / 3);
            }
        }
        assert_eq!(v.current, 1);
        let [l, r] = v.at[1];
        assert!(l.exact && r.exact && l.line > r.line + 40);
        assert!(v.jump(-2, h));
        assert_eq!(v.current, 3);
        // Scrolling moves both panes together; each stops at its last line.
        v.home();
        v.scroll_by(5);
        assert_eq!([v.panes[0].scroll, v.panes[1].scroll], [5, 5]);
        v.scroll_by(1000);
        assert_eq!(v.panes[0].scroll, v.panes[0].lines.len() - 1);
        assert_eq!(v.panes[1].scroll, v.panes[1].lines.len() - 1);
        let mut none = view();
        none.show(compared(json!({"a": 1}), json!({"a": 1})), &t);
        assert!(!none.jump(1, h));
    }

    #[test]
    fn the_selection_stays_in_view() {
        assert_eq!(follow(0, 0, 10), 0);
        assert_eq!(follow(12, 0, 10), 3);
        assert_eq!(follow(2, 5, 10), 2);
        assert_eq!(follow(7, 5, 10), 5);
    }
}
