//! Consumers as a view (`C`): every consumer's checkpoint, lag and flags, refreshed every few
//! seconds with its trend and a sparkline of its lag (the same domain code as `evscope
//! consumers --watch`). Enter opens the log at the checkpoint; `R` the replay dialog for the
//! range it has not processed.

use std::any::Any;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Ctx, MOVES, ReplayScope, View, ViewKind};
use crate::consumers::lag::{Lagged, Report, ReportOptions};
use crate::consumers::trend::{History, sparkline};
use crate::consumers::{self, Counts};
use crate::output::human_secs;
use crate::store::Cursor;
use crate::tui::keys::Command;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::widgets::{ListState, block, cell_style, draw_footer, list_rows, split_list};

/// Samples shown in the HISTORY column (the newest).
const HISTORY_WIDTH: usize = 20;

/// How often the view reads the consumers again.
pub const REFRESH: Duration = Duration::from_secs(3);

struct Answer(Result<Report, String>);

pub struct ConsumersView {
    req: Slot,
    pub report: Option<Report>,
    pub history: History,
    pub list: ListState,
    pub error: Option<String>,
    last: Option<Instant>,
    /// The id of the selected consumer, kept across refreshes.
    selected_id: Option<String>,
}

impl Default for ConsumersView {
    fn default() -> Self {
        ConsumersView::new()
    }
}

impl ConsumersView {
    pub fn new() -> ConsumersView {
        ConsumersView {
            req: Slot::default(),
            report: None,
            history: History::default(),
            list: ListState::default(),
            error: None,
            last: None,
            selected_id: None,
        }
    }

    pub fn rows(&self) -> &[Lagged] {
        self.report.as_ref().map_or(&[], |r| r.consumers.as_slice())
    }

    pub fn selected(&self) -> Option<&Lagged> {
        self.rows().get(self.list.selected)
    }

    fn run(&mut self, ctx: &mut Ctx) {
        let store = ctx.store.clone();
        let opts = ReportOptions {
            last_moved: self.history.last_moved(),
            // The settled head is waited for too: the table shows it, and R ends there.
            ..ReportOptions::default()
        };
        let reply: Replier<Answer> = ctx.replier();
        self.last = Some(Instant::now());
        self.req.start(reply, async move {
            let run = async {
                let found = consumers::discover(&store).await?;
                consumers::report(&store, found, &opts).await
            };
            Answer(run.await.map_err(|e| e.to_string()))
        });
    }
}

impl View for ConsumersView {
    fn kind(&self) -> ViewKind {
        ViewKind::Consumers
    }

    fn name(&self) -> String {
        "Consumers".into()
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.run(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let n = self.rows().len();
        if self.list.on_move(cmd, n, list_rows(ctx.area)) {
            self.selected_id = self.selected().map(|l| l.consumer.id());
            return true;
        }
        match cmd {
            Command::Open => match self.selected().map(|l| &l.consumer) {
                Some(c) if c.counts == Counts::StreamVersion => {
                    let stream = c.follows.stream.clone().unwrap_or_default();
                    let mut v = super::events::EventsView::stream(stream);
                    v.start_at(crate::tui::widgets::window::Anchor::At(
                        super::events::RowKey::Version(c.checkpoint.unwrap_or(0)),
                    ));
                    ctx.push(Box::new(v));
                }
                Some(c) => ctx.show_log(Cursor::Position(c.checkpoint.unwrap_or(0).max(1))),
                None => {}
            },
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
            Ok(report) => {
                self.history.add(&report);
                self.error = None;
                let at = self
                    .selected_id
                    .as_ref()
                    .and_then(|id| report.consumers.iter().position(|l| &l.consumer.id() == id));
                self.report = Some(report);
                self.list.selected =
                    at.unwrap_or(self.list.selected.min(self.rows().len().saturating_sub(1)));
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx) {
        if !self.req.is_pending() && self.last.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.run(ctx);
        }
    }

    fn fit(&mut self, area: Rect) {
        let n = self.rows().len();
        self.list.move_by(0, n, list_rows(area));
    }

    fn on_click(&mut self, row: usize, _ctx: &mut Ctx) {
        let n = self.rows().len();
        self.list.click(row, n);
        self.selected_id = self.selected().map(|l| l.consumer.id());
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        draw_consumers(f, area, self, theme)
    }

    fn status(&self) -> String {
        "· consumers ".into()
    }

    fn is_loading(&self) -> bool {
        // The first read only: the refreshes run in the background.
        self.req.is_pending() && self.report.is_none()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.extend([Command::Open, Command::Refresh, Command::Replay]);
        c
    }

    fn replay_scope(&self) -> Option<ReplayScope> {
        let l = self.selected()?;
        let c = &l.consumer;
        let cp = c.checkpoint.unwrap_or(0);
        let settled = self.report.as_ref().and_then(|r| r.settled_head);
        if c.counts == Counts::Global && settled.is_some_and(|h| cp >= h) {
            return Some(Err(format!(
                "{} is not behind the settled head: nothing to replay",
                c.id()
            )));
        }
        let range = c.range(cp, settled.filter(|_| c.counts == Counts::Global));
        Some(Ok((
            range,
            format!("consumer {} after its checkpoint {cp}", c.id()),
        )))
    }

    fn describe(&self, cmd: Command) -> Option<&'static str> {
        match cmd {
            Command::Open => Some("open the log at the consumer's checkpoint"),
            Command::Replay => Some("replay what it has not processed, up to the settled head"),
            Command::Refresh => Some("read the consumers again (they refresh every 3 s)"),
            _ => None,
        }
    }
}

fn age(secs: Option<f64>) -> String {
    secs.map_or("-".into(), human_secs)
}

fn draw_consumers(f: &mut Frame, area: Rect, v: &ConsumersView, t: &Theme) {
    let outer = block(t, " Consumers · checkpoints and lag ");
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let (head, body, foot) = split_list(inner);
    let Some(r) = &v.report else {
        let (msg, style) = match &v.error {
            Some(e) => (format!(" error: {e}"), t.error),
            None => (" reading the consumers…".to_string(), t.loading),
        };
        f.render_widget(Paragraph::new(msg).style(style), head);
        return;
    };
    let alarming = r.consumers.iter().filter(|l| l.alarming()).count();
    let summary = Line::from(vec![
        Span::raw(format!(
            " head {} · settled {} · {} consumers: ",
            r.head.map_or("-".into(), |h| h.to_string()),
            r.settled_head.map_or("-".into(), |h| h.to_string()),
            r.consumers.len()
        )),
        Span::styled(
            format!("{alarming} need attention"),
            if alarming > 0 { t.error } else { t.muted },
        ),
        Span::styled("   Enter: the log there · R: replay its lag", t.muted),
    ]);
    f.render_widget(Paragraph::new(summary), head);
    if let Some(e) = &v.error {
        draw_footer(
            f,
            foot,
            Line::styled(format!(" refresh failed: {e}"), t.error),
            t,
        );
    }
    let width = |f: &dyn Fn(&Lagged) -> usize, min: usize, max: usize| {
        r.consumers.iter().map(f).max().unwrap_or(0).clamp(min, max) as u16
    };
    let id_w = width(&|l| l.consumer.id().chars().count(), 8, 26);
    let follows_w = width(&|l| l.consumer.follows.describe().chars().count(), 7, 22);
    let flags_w = width(
        &|l| l.flags.iter().map(|f| f.label().len() + 1).sum::<usize>(),
        5,
        26,
    );
    // On a narrow terminal the least needed columns go first (HISTORY, TREND, FRAMEWORK,
    // FOLLOWS, CHECKPOINT), so that the consumer, its lag and its flags stay readable.
    let widths: [u16; 9] = [id_w, 9, follows_w, 10, 8, 8, flags_w, 7, 8];
    let mut shown = [true; 9];
    let need = |shown: &[bool; 9]| {
        let n = shown.iter().filter(|s| **s).count() as u16;
        (0..9).filter(|i| shown[*i]).map(|i| widths[i]).sum::<u16>() + n.saturating_sub(1)
    };
    for i in [8, 7, 1, 2, 3] {
        if need(&shown) <= body.width {
            break;
        }
        shown[i] = false;
    }
    let keep = |cells: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shown[*i])
            .map(|(_, c)| c)
            .collect()
    };
    let h = body.height.saturating_sub(1) as usize;
    let end = (v.list.top + h).min(r.consumers.len());
    let rows: Vec<Row> = r.consumers[v.list.top.min(end)..end]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let on = v.list.top + i == v.list.selected;
            let c = &l.consumer;
            let m = v.history.movement(c.framework, &c.id());
            let flags = l
                .flags
                .iter()
                .map(|f| f.label())
                .collect::<Vec<_>>()
                .join(",");
            let flag_style = if l.alarming() { t.error } else { t.accent };
            let row = Row::new(keep(vec![
                Cell::from(c.id()),
                Cell::from(c.framework.label()).style(cell_style(t, on, t.muted)),
                Cell::from(c.follows.describe()),
                Cell::from(c.checkpoint_text()),
                Cell::from(l.lag_text()),
                Cell::from(age(l.lag_secs)),
                Cell::from(flags).style(cell_style(t, on, flag_style)),
                Cell::from(m.as_ref().map_or(String::new(), |m| {
                    format!("{} {:.0}/s", m.direction.arrow(), m.events_per_sec)
                })),
                Cell::from(m.map_or(String::new(), |m| {
                    let h = &m.lag_history;
                    sparkline(&h[h.len().saturating_sub(HISTORY_WIDTH)..])
                }))
                .style(cell_style(t, on, t.accent)),
            ]));
            if on { row.style(t.selected) } else { row }
        })
        .collect();
    let constraints: Vec<Constraint> = (0..9)
        .filter(|i| shown[*i])
        .map(|i| {
            if i == 8 {
                Constraint::Fill(1)
            } else {
                Constraint::Length(widths[i])
            }
        })
        .collect();
    let headers = [
        "CONSUMER",
        "FRAMEWORK",
        "FOLLOWS",
        "CHECKPOINT",
        "LAG",
        "LAG TIME",
        "FLAGS",
        "TREND",
        "HISTORY",
    ];
    let table = Table::new(rows, constraints)
        .header(Row::new(keep(headers.iter().map(|h| Cell::from(*h)).collect())).style(t.header));
    f.render_widget(table, body);
    if r.consumers.is_empty() {
        f.render_widget(
            Paragraph::new(" no consumer tables found in this database").style(t.muted),
            crate::tui::widgets::inner(body, 1),
        );
    }
    if v.error.is_none() {
        if let Some(l) = v.selected() {
            let c = &l.consumer;
            let mut parts = vec![format!("{} ({})", c.id(), c.source)];
            if let Some(s) = &c.status {
                parts.push(s.clone());
            }
            if let Some(o) = &c.owner {
                parts.push(format!("held by {o}"));
            }
            parts.push(format!("idle {}", age(l.idle_secs)));
            parts.extend(c.notes.iter().cloned());
            draw_footer(f, foot, Line::raw(format!(" {}", parts.join(" · "))), t);
        }
    }
}
