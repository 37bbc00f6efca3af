//! A stream's snapshots, each checked against the state recomputed from its events (one
//! shared fold); Enter opens a snapshot's diff.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::snapshot_diff::{describe, open_snapshot, status_label, status_style};
use super::{Ctx, MOVES, View, ViewKind};
use crate::output::clip;
use crate::rehydrate::diff::Change;
use crate::snapshots::{Check, Status, verify_stream};
use crate::tui::keys::Command;
use crate::tui::request::{Slot, downcast};
use crate::tui::theme::Theme;
use crate::tui::widgets::{ListState, block, cell_style, draw_footer, list_rows, split_list};

/// A stream's snapshots, each checked against the events.
#[derive(Debug, Clone)]
pub struct Checked {
    pub checks: Vec<Check>,
    pub fold_name: String,
}

struct Answer(Result<Checked, String>);

pub struct SnapshotList {
    pub stream: String,
    req: Slot,
    pub checked: Option<Checked>,
    pub list: ListState,
    pub error: Option<String>,
}

impl SnapshotList {
    pub fn new(stream: String) -> SnapshotList {
        SnapshotList {
            stream,
            req: Slot::default(),
            checked: None,
            list: ListState::default(),
            error: None,
        }
    }

    pub fn selected_check(&self) -> Option<&Check> {
        self.checked.as_ref()?.checks.get(self.list.selected)
    }

    fn len(&self) -> usize {
        self.checked.as_ref().map_or(0, |c| c.checks.len())
    }

    /// Check every snapshot of the stream ([`verify_stream`]). The domain's fold keeps jq
    /// values across its awaits, which cannot move between threads: it runs on a blocking
    /// thread of its own.
    fn check(&mut self, ctx: &mut Ctx) {
        let (store, source, stream) =
            (ctx.store.clone(), ctx.reducers.clone(), self.stream.clone());
        self.checked = None;
        self.error = None;
        self.req.start_blocking(ctx.replier(), move || async move {
            let run = async {
                let reducers = source.load().map_err(|e| e.to_string())?;
                let checks = verify_stream(&store, &reducers, &stream, None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Checked {
                    checks,
                    fold_name: match reducers
                        .fold_in(&store, &stream)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        crate::rehydrate::reducer::Fold::Merge => "no reducer".to_string(),
                        fold => fold.name(),
                    },
                })
            };
            Answer(run.await)
        });
    }
}

impl View for SnapshotList {
    fn kind(&self) -> ViewKind {
        ViewKind::Snapshots
    }

    fn name(&self) -> String {
        format!("Snapshots of {}", self.stream)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.check(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = list_rows(ctx.area);
        let n = self.len();
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
            Command::Refresh => self.check(ctx),
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx) {
        let Some(Answer(result)) = downcast::<Answer>(payload) else {
            return;
        };
        if !self.req.accept(req) {
            return;
        }
        match result {
            Ok(c) => {
                // Start at the first snapshot that is not ok: that is what one looks for.
                self.list.selected = c
                    .checks
                    .iter()
                    .position(|c| c.status != Status::Ok)
                    .unwrap_or(0);
                self.list.top = 0;
                self.checked = Some(c);
                let (n, h) = (self.len(), list_rows(ctx.area));
                self.list.move_by(0, n, h);
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn fit(&mut self, area: Rect) {
        let n = self.len();
        self.list.move_by(0, n, list_rows(area));
    }

    fn on_click(&mut self, row: usize, _ctx: &mut Ctx) {
        let n = self.len();
        self.list.click(row, n);
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        draw_list(f, area, self, theme)
    }

    fn status(&self) -> String {
        let mut s = format!("· snapshots of {} ", self.stream);
        if let Some(c) = self.selected_check() {
            s.push_str(&format!("v{} ", c.stream_version));
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
        Some(self.stream.clone())
    }

    fn version(&self) -> Option<i64> {
        self.selected_check().map(|c| c.stream_version)
    }
}

fn draw_list(f: &mut Frame, area: Rect, v: &SnapshotList, t: &Theme) {
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
                match count(Status::NoReducer) {
                    0 => String::new(),
                    n => format!(", {n} not checked (no reducer)"),
                },
                t.warning,
            ),
            Span::styled(
                "   Enter diff · t time travel at the version · r re-check",
                t.muted,
            ),
        ])
    };
    f.render_widget(Paragraph::new(summary), head);
    let h = body.height.saturating_sub(1) as usize;
    let end = (v.list.top + h).min(c.checks.len());
    let rows: Vec<Row> = c.checks[v.list.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let on = v.list.top + i == v.list.selected;
            let detail = match ch.status {
                Status::Ok => String::new(),
                Status::Error | Status::NoReducer => ch.error.clone().unwrap_or_default(),
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
                Cell::from(status_label(ch.status)).style(cell_style(
                    t,
                    on,
                    status_style(ch.status, t),
                )),
                Cell::from(detail),
            ]);
            if on { row.style(t.selected) } else { row }
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(26),
            Constraint::Length(9),
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
            Status::NoReducer => Line::styled(
                format!(
                    " v{}: {}: not checked (give a reducer file with --reducers)",
                    ch.stream_version,
                    ch.error.clone().unwrap_or_default()
                ),
                t.warning,
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
