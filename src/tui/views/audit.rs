//! The store's integrity audit as a view: version gaps, duplicates, invalid JSON, snapshot
//! drift…, found while reading the whole store; Enter opens the stream at the finding.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::events::{EventsView, RowKey};
use super::timetravel::TimeTravelView;
use super::{Ctx, MOVES, View, ViewKind};
use crate::snapshots::audit::{AuditSummary, Finding, Severity, audit};
use crate::tui::keys::Command;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::widgets::window::Anchor;
use crate::tui::widgets::{ListState, block, cell_style, draw_footer, list_rows, split_list};

struct Answer(Result<(Vec<Finding>, AuditSummary), String>);

/// Events read so far.
struct Read(u64);

pub struct AuditView {
    req: Slot,
    /// Events read so far, while it runs.
    pub read: u64,
    pub findings: Vec<Finding>,
    pub summary: Option<AuditSummary>,
    pub list: ListState,
    pub error: Option<String>,
}

impl Default for AuditView {
    fn default() -> Self {
        AuditView::new()
    }
}

impl AuditView {
    pub fn new() -> AuditView {
        AuditView {
            req: Slot::default(),
            read: 0,
            findings: vec![],
            summary: None,
            list: ListState::default(),
            error: None,
        }
    }

    pub fn selected_finding(&self) -> Option<&Finding> {
        self.findings.get(self.list.selected)
    }

    /// Audit the whole store (each time: the store may have changed).
    fn run(&mut self, ctx: &mut Ctx) {
        let (store, source) = (ctx.store.clone(), ctx.reducers.clone());
        let reply: Replier<Answer> = ctx.replier();
        let progress: Replier<Read> = reply.clone_as();
        *self = AuditView::new();
        self.req.start(reply, async move {
            let run = async {
                let reducers = source.load().map_err(|e| e.to_string())?;
                audit(&store, &reducers, |events| {
                    progress.send(Read(events));
                })
                .await
                .map_err(|e| e.to_string())
            };
            Answer(run.await)
        });
    }
}

impl View for AuditView {
    fn kind(&self) -> ViewKind {
        ViewKind::Audit
    }

    fn name(&self) -> String {
        "Audit".into()
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.run(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = list_rows(ctx.area);
        let n = self.findings.len();
        let at = self
            .selected_finding()
            .map(|f| (f.stream_id.clone(), f.stream_version));
        if self.list.on_move(cmd, n, h) {
            return true;
        }
        match cmd {
            Command::Open | Command::TimeTravel => match at {
                Some((Some(stream), v)) => {
                    if cmd == Command::Open {
                        let mut view = EventsView::stream(stream);
                        view.start_at(v.map_or(Anchor::Start, |v| Anchor::At(RowKey::Version(v))));
                        ctx.push(Box::new(view));
                    } else {
                        ctx.push(Box::new(TimeTravelView::new(stream, v)));
                    }
                }
                Some((None, _)) => ctx.status("this finding names no stream (only an event id)"),
                None => {}
            },
            Command::Refresh => self.run(ctx),
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, _ctx: &mut Ctx) {
        let payload = match payload.downcast::<Read>() {
            Ok(r) => {
                if self.req.is(req) {
                    self.read = r.0;
                }
                return;
            }
            Err(p) => p,
        };
        let Ok(answer) = payload.downcast::<Answer>() else {
            return;
        };
        if !self.req.accept(req) {
            return;
        }
        match answer.0 {
            Ok((findings, summary)) => {
                self.findings = findings;
                self.summary = Some(summary);
                self.list = ListState::default();
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn fit(&mut self, area: Rect) {
        let n = self.findings.len();
        self.list.move_by(0, n, list_rows(area));
    }

    fn on_click(&mut self, row: usize, _ctx: &mut Ctx) {
        let n = self.findings.len();
        self.list.click(row, n);
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        draw_audit(f, area, self, theme)
    }

    fn status(&self) -> String {
        "· audit ".into()
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
        self.selected_finding()?.stream_id.clone()
    }

    fn version(&self) -> Option<i64> {
        self.selected_finding()?.stream_version
    }
}

fn draw_audit(f: &mut Frame, area: Rect, v: &AuditView, t: &Theme) {
    let outer = block(t, " Audit · the whole store ");
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
    let end = (v.list.top + h).min(v.findings.len());
    let rows: Vec<Row> = v.findings[v.list.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, fd)| {
            let on = v.list.top + i == v.list.selected;
            let (sev, style) = match fd.severity {
                Severity::Error => ("error", t.error),
                Severity::Info => ("info", t.muted),
            };
            let kind = fd.kind.name();
            let stream = match (&fd.stream_id, &fd.event_id) {
                (Some(s), _) => s.clone(),
                (None, Some(e)) => format!("event {e}"),
                _ => String::new(),
            };
            let row = Row::new(vec![
                Cell::from(sev).style(cell_style(t, on, style)),
                Cell::from(kind).style(cell_style(t, on, t.accent)),
                Cell::from(stream),
                Cell::from(fd.stream_version.map_or(String::new(), |v| v.to_string())),
                Cell::from(fd.detail.clone()),
            ]);
            if on { row.style(t.selected) } else { row }
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
