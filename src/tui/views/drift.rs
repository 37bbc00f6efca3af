//! The store-wide snapshot check as a view: the `verify-snapshots` report, opened from the
//! stream list (`D`). Every snapshot of the store is checked against the state recomputed
//! from its events by the same domain code as `evscope verify-snapshots`
//! ([`crate::snapshots::verify`]), in a task that reports its progress and stops when the
//! view is left. The drifted and failed snapshots are listed as they are found, in stream
//! order; the ok ones are counted in the summary. Enter opens a snapshot's diff, `t` time
//! travel at its version, `r` runs the check again.

use std::any::Any;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::snapshot_diff::{describe, open_snapshot, status_label, status_style};
use super::{Ctx, MOVES, View, ViewKind};
use crate::output::clip;
use crate::rehydrate::diff::Change;
use crate::snapshots::{Check, Scope, Status, Summary, verify};
use crate::tui::keys::Command;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::widgets::{ListState, block, cell_style, draw_footer, list_rows, split_list};

/// At most this many drifted or failed snapshots are kept for the list (the counts go on):
/// a store where everything drifts (a wrong reducer) stays within bounded memory.
/// `evscope verify-snapshots` streams the whole report.
pub const MAX_LISTED: usize = 10_000;

/// How often the check reports its progress at most (the streams between are batched).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What the check found since its last report, and the counts so far.
struct Progress {
    found: Vec<Check>,
    counts: Summary,
    stream: String,
}

/// The check's end: the domain's summary, or why it stopped.
struct Done(Result<Summary, String>);

pub struct DriftView {
    req: Slot,
    /// The counts so far while the check runs; the domain's summary when it is done.
    pub counts: Summary,
    /// The stream checked last, while it runs.
    pub at_stream: String,
    /// Drifted and failed snapshots, in stream order (at most [`MAX_LISTED`]).
    pub found: Vec<Check>,
    /// Drifted or failed snapshots found beyond [`MAX_LISTED`] (counted, not listed).
    pub unlisted: usize,
    /// The check has run to its end.
    pub done: bool,
    pub list: ListState,
    pub error: Option<String>,
}

impl Default for DriftView {
    fn default() -> Self {
        DriftView::new()
    }
}

impl DriftView {
    pub fn new() -> DriftView {
        DriftView {
            req: Slot::default(),
            counts: Summary::default(),
            at_stream: String::new(),
            found: vec![],
            unlisted: 0,
            done: false,
            list: ListState::default(),
            error: None,
        }
    }

    pub fn selected_check(&self) -> Option<&Check> {
        self.found.get(self.list.selected)
    }

    /// Check every snapshot of the store (each time anew: the store may have changed). The
    /// domain's fold keeps jq values across its awaits, which cannot move between threads: it
    /// runs on a blocking thread of its own, and stops when the view drops its slot.
    fn run(&mut self, ctx: &mut Ctx) {
        let (store, source) = (ctx.store.clone(), ctx.reducers.clone());
        let reply: Replier<Done> = ctx.replier();
        let progress: Replier<Progress> = reply.clone_as();
        *self = DriftView::new();
        self.req.start_blocking(reply, move || async move {
            let run = async {
                let reducers = source.load().map_err(|e| e.to_string())?;
                let mut counts = Summary::default();
                let mut last_stream = String::new();
                let mut found = Vec::new();
                let mut sent = Instant::now();
                let summary = verify(&store, &reducers, &Scope::default(), |stream, checks| {
                    if stream != last_stream {
                        counts.streams += 1;
                        last_stream = stream.to_string();
                    }
                    for c in checks {
                        counts.add(c);
                        // Unchecked snapshots are counted (the summary names them), not listed.
                        if !matches!(c.status, Status::Ok | Status::NoReducer) {
                            found.push(c.clone());
                        }
                    }
                    if sent.elapsed() >= PROGRESS_EVERY {
                        sent = Instant::now();
                        progress.send(Progress {
                            found: std::mem::take(&mut found),
                            counts: counts.clone(),
                            stream: stream.to_string(),
                        });
                    }
                })
                .await
                .map_err(|e| e.to_string());
                // What was found since the last report, before the end (one channel: in order).
                progress.send(Progress {
                    found,
                    counts,
                    stream: last_stream,
                });
                summary
            };
            Done(run.await)
        });
    }

    fn take(&mut self, found: Vec<Check>) {
        for c in found {
            if self.found.len() < MAX_LISTED {
                self.found.push(c);
            } else {
                self.unlisted += 1;
            }
        }
    }
}

impl View for DriftView {
    fn kind(&self) -> ViewKind {
        ViewKind::Drift
    }

    fn name(&self) -> String {
        "Snapshot drift · the whole store".into()
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.run(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = list_rows(ctx.area);
        let n = self.found.len();
        if self.list.on_move(cmd, n, h) {
            return true;
        }
        let at = self
            .selected_check()
            .map(|c| (c.stream_id.as_str(), c.stream_version));
        if open_snapshot(cmd, at, ctx) {
            return true;
        }
        match cmd {
            Command::Refresh => self.run(ctx),
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, _ctx: &mut Ctx) {
        let payload = match payload.downcast::<Progress>() {
            Ok(p) => {
                if self.req.is(req) {
                    let Progress {
                        found,
                        counts,
                        stream,
                    } = *p;
                    self.take(found);
                    self.counts = counts;
                    self.at_stream = stream;
                }
                return;
            }
            Err(p) => p,
        };
        let Ok(done) = payload.downcast::<Done>() else {
            return;
        };
        if !self.req.accept(req) {
            return;
        }
        match done.0 {
            Ok(summary) => {
                self.counts = summary;
                self.done = true;
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn on_click(&mut self, row: usize, _ctx: &mut Ctx) {
        let n = self.found.len();
        self.list.click(row, n);
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        draw_drift(f, area, self, theme)
    }

    fn status(&self) -> String {
        let mut s = "· snapshot drift ".to_string();
        if let Some(c) = self.selected_check() {
            s.push_str(&format!("· {} v{} ", c.stream_id, c.stream_version));
        }
        s
    }

    fn is_loading(&self) -> bool {
        self.req.is_pending()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.extend([Command::Open, Command::TimeTravel, Command::Refresh]);
        c
    }

    fn stream(&self) -> Option<String> {
        self.selected_check().map(|c| c.stream_id.clone())
    }

    fn version(&self) -> Option<i64> {
        self.selected_check().map(|c| c.stream_version)
    }
}

/// What the list says of a snapshot: why it failed, or the paths that differ.
fn detail(c: &Check) -> String {
    match c.status {
        Status::Ok => String::new(),
        Status::Error | Status::NoReducer => c.error.clone().unwrap_or_default(),
        Status::Drifted => {
            let paths: Vec<&str> = c.changes.iter().map(Change::path).collect();
            format!(
                "{} differing path(s): {}",
                c.changes.len(),
                clip(&paths.join(", "), 200)
            )
        }
    }
}

fn draw_drift(f: &mut Frame, area: Rect, v: &DriftView, t: &Theme) {
    let outer = block(t, " Snapshot drift · every snapshot of the store ");
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let (head, body, foot) = split_list(inner);
    let s = &v.counts;
    let mut summary = vec![Span::raw(format!(
        " {} snapshot(s) in {} stream(s): {} ok, ",
        s.checked, s.streams, s.ok
    ))];
    summary.push(Span::styled(
        format!("{} drifted", s.drifted),
        if s.drifted > 0 { t.warning } else { t.muted },
    ));
    summary.push(Span::raw(", "));
    summary.push(Span::styled(
        format!("{} error(s)", s.errors),
        if s.errors > 0 { t.error } else { t.muted },
    ));
    for line in s.unchecked_lines() {
        summary.push(Span::styled(format!("; {line}"), t.warning));
    }
    if let Some(e) = &v.error {
        summary = vec![Span::styled(format!(" error: {e}"), t.error)];
    } else if !v.done {
        summary.push(Span::styled(
            format!("   checking… {}", clip(&v.at_stream, 40)),
            t.loading,
        ));
    } else if v.unlisted > 0 {
        summary.push(Span::styled(
            format!(
                "   the first {MAX_LISTED} listed, {} more not (verify-snapshots reports all)",
                v.unlisted
            ),
            t.warning,
        ));
    } else {
        summary.push(Span::styled(
            "   Enter diff · t time travel · S its stream · r re-run",
            t.muted,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(summary)), head);
    let h = body.height.saturating_sub(1) as usize;
    let end = (v.list.top + h).min(v.found.len());
    let rows: Vec<Row> = v.found[v.list.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let row = Row::new(vec![
                Cell::from(c.stream_id.clone()),
                Cell::from(c.stream_version.to_string()),
                Cell::from(c.taken_at.clone().unwrap_or_else(|| "?".into())),
                Cell::from(status_label(c.status)).style(cell_style(
                    t,
                    v.list.top + i == v.list.selected,
                    status_style(c.status, t),
                )),
                Cell::from(detail(c)),
            ]);
            if v.list.top + i == v.list.selected {
                row.style(t.selected)
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(24),
            Constraint::Length(8),
            Constraint::Length(26),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec!["STREAM", "VERSION", "TAKEN AT", "STATUS", "DETAIL"]).style(t.header));
    f.render_widget(table, body);
    if v.found.is_empty() && v.done {
        let (text, style) = if s.no_reducer > 0 {
            (
                format!(
                    " {} snapshot(s) not checked: no reducer applies to their streams (give a reducer file: --reducers FILE; `evscope reducers init` writes one to start from)",
                    s.no_reducer
                ),
                t.warning,
            )
        } else {
            (
                format!(
                    " no drift: each of the {} snapshot(s) matches its events",
                    s.checked
                ),
                t.muted,
            )
        };
        // Wrapped: the hint at its end (how to give a reducer) must not be cut off.
        let [_, msg] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        f.render_widget(
            Paragraph::new(text).style(style).wrap(Wrap { trim: false }),
            msg,
        );
    }
    if let Some(c) = v.selected_check() {
        let text = match c.status {
            Status::Drifted => {
                let all: Vec<String> = c.changes.iter().map(|ch| describe(ch).1).collect();
                Line::raw(format!(
                    " {} v{} (stored → recomputed): {}",
                    c.stream_id,
                    c.stream_version,
                    all.join("; ")
                ))
            }
            _ => Line::styled(
                format!(" {} v{}: {}", c.stream_id, c.stream_version, detail(c)),
                t.error,
            ),
        };
        draw_footer(f, foot, text, t);
    }
}
