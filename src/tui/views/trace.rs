//! `c` on an event: every event sharing its correlation id, across streams, as the causation
//! tree `evscope trace` prints (the same domain code: [`crate::trace::trace_of`]). Enter opens
//! an event, `t` its stream in time travel.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Ctx, MOVES, View, ViewKind};
use crate::store::Event;
use crate::trace::{Trace, trace_of};
use crate::tui::keys::Command;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::widgets::event_table::{cut_front, time};
use crate::tui::widgets::{ListState, block, cell_style, draw_footer, list_rows, split_list};

/// Events a trace lists at most (the CLI's default `--limit`).
const TRACE_LIMIT: usize = crate::trace::DEFAULT_LIMIT as usize;

struct Answer(Result<Trace, String>);

pub struct TraceView {
    /// The event the trace started from.
    pub start: Event,
    req: Slot,
    pub trace: Option<Trace>,
    pub list: ListState,
    pub error: Option<String>,
}

impl TraceView {
    pub fn new(start: Event) -> TraceView {
        TraceView {
            start,
            req: Slot::default(),
            trace: None,
            list: ListState::default(),
            error: None,
        }
    }

    fn run(&mut self, ctx: &mut Ctx) {
        let store = ctx.store.clone();
        let start = self.start.clone();
        let reply: Replier<Answer> = ctx.replier();
        self.error = None;
        self.req.start(reply, async move {
            Answer(
                trace_of(&store, &start, TRACE_LIMIT)
                    .await
                    .map_err(|e| e.to_string()),
            )
        });
    }

    fn len(&self) -> usize {
        self.trace.as_ref().map_or(0, |t| t.events.len())
    }
}

impl View for TraceView {
    fn kind(&self) -> ViewKind {
        ViewKind::Trace
    }

    fn name(&self) -> String {
        "Trace".into()
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.run(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let (n, h) = (self.len(), list_rows(ctx.area));
        if self.list.on_move(cmd, n, h) {
            return true;
        }
        match cmd {
            Command::Refresh => self.run(ctx),
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, _ctx: &mut Ctx) {
        let Ok(answer) = payload.downcast::<Answer>() else {
            return;
        };
        if !self.req.accept(req) {
            return;
        }
        match answer.0 {
            Ok(t) => {
                // The cursor starts on the event the trace was asked from.
                let at = t
                    .events
                    .iter()
                    .position(|e| e.event.event_id == self.start.event_id)
                    .unwrap_or(0);
                self.trace = Some(t);
                self.list = ListState::default();
                self.list.selected = at;
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
        draw_trace(f, area, self, theme)
    }

    fn status(&self) -> String {
        match &self.trace {
            Some(t) => format!("· trace of {} ", t.correlation),
            None => "· trace ".into(),
        }
    }

    fn is_loading(&self) -> bool {
        self.req.is_pending()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.push(Command::Refresh);
        c
    }

    fn selected_event(&self) -> Option<&Event> {
        Some(&self.trace.as_ref()?.events.get(self.list.selected)?.event)
    }

    fn stream(&self) -> Option<String> {
        self.selected_event().map(|e| e.stream_id.clone())
    }

    fn version(&self) -> Option<i64> {
        self.selected_event().map(|e| e.stream_version)
    }
}

fn draw_trace(f: &mut Frame, area: Rect, v: &TraceView, t: &Theme) {
    let outer = block(t, " Trace · events sharing a correlation id ");
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let (head, body, foot) = split_list(inner);
    let Some(tr) = &v.trace else {
        let (msg, style) = match &v.error {
            Some(e) => (format!(" error: {e}"), t.error),
            None => (" reading the events that share it…".to_string(), t.loading),
        };
        f.render_widget(Paragraph::new(msg).style(style), head);
        return;
    };
    let roots = tr.events.iter().filter(|e| e.depth == 0).count();
    let mut said = vec![Span::raw(format!(
        " {} events share {} = {} · {} root{}",
        tr.events.len(),
        tr.key,
        tr.correlation,
        roots,
        if roots == 1 { "" } else { "s" }
    ))];
    if tr.cut {
        said.push(Span::styled(
            format!(" · stopped at {TRACE_LIMIT}: more share it"),
            t.error,
        ));
    }
    said.push(Span::styled("   Enter opens an event", t.muted));
    f.render_widget(Paragraph::new(Line::from(said)), head);
    let h = body.height.saturating_sub(1) as usize;
    let end = (v.list.top + h).min(tr.events.len());
    let stream_w = tr
        .events
        .iter()
        .map(|e| e.event.stream_id.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 32);
    // A narrow terminal keeps the tree (the types under their causes) and drops the time.
    let wide = body.width >= 90;
    let rows: Vec<Row> = tr.events[v.list.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let on = v.list.top + i == v.list.selected;
            let ev = &e.event;
            // The causation tree: each event under the one that caused it.
            let indent = if e.depth == 0 {
                String::new()
            } else {
                format!("{}└ ", "  ".repeat(e.depth - 1))
            };
            let marker = if ev.event_id == v.start.event_id {
                "▶"
            } else {
                " "
            };
            let mut cells = vec![
                Cell::from(marker),
                Cell::from(ev.global_position.map_or("-".into(), |p| p.to_string())),
            ];
            if wide {
                cells.push(Cell::from(
                    ev.recorded_at
                        .map_or("-".into(), |at| time(&at, 3, t.local_time)),
                ));
            }
            cells.extend([
                Cell::from(cut_front(&ev.stream_id, stream_w)),
                Cell::from(ev.stream_version.to_string()),
                Cell::from(format!("{indent}{}", ev.event_type)).style(cell_style(t, on, t.accent)),
            ]);
            let row = Row::new(cells);
            if on { row.style(t.selected) } else { row }
        })
        .collect();
    let mut widths = vec![Constraint::Length(1), Constraint::Length(9)];
    let mut header = vec!["", "POSITION"];
    if wide {
        widths.push(Constraint::Length(24));
        header.push("TIME");
    }
    widths.extend([
        Constraint::Length(stream_w as u16),
        Constraint::Length(5),
        Constraint::Fill(1),
    ]);
    header.extend(["STREAM", "VER", "TYPE"]);
    let table = Table::new(rows, widths).header(Row::new(header).style(t.header));
    f.render_widget(table, body);
    if let Some(e) = tr.events.get(v.list.selected) {
        let cause = match &e.caused_by {
            Some(c) => format!("caused by {c}"),
            None => "its cause is not in the trace".into(),
        };
        draw_footer(
            f,
            foot,
            Line::raw(format!(" {} · {cause}", e.event.describe())),
            t,
        );
    }
    if tr.events.is_empty() {
        let [_, msg] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(body);
        f.render_widget(Paragraph::new(" no event shares it").style(t.muted), msg);
    }
}
