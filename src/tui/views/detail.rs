//! One event, whole: its fields and its data as coloured JSON. Tab moves between the
//! correlation/causation ids it names, Enter opens the event a link names.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, MOVES, View, ViewKind, delta};
use crate::store::Event;
use crate::tui::keys::Command;
use crate::tui::request::{Slot, downcast};
use crate::tui::theme::Theme;
use crate::tui::widgets::block;
use crate::tui::widgets::json::{self, JsonLines};

pub struct DetailView {
    pub event: Event,
    pub lines: JsonLines,
    pub scroll: usize,
    /// The link Tab moved to.
    pub link: usize,
    /// A line above the event, in the error colour: why it is shown (how it differs from a
    /// seal it was checked against).
    pub note: Option<String>,
    find: Slot,
}

/// The event a link names, looked up.
pub struct Found {
    pub wanted: String,
    pub result: Result<Option<Event>, String>,
}

impl DetailView {
    pub fn new(event: Event, theme: &Theme) -> DetailView {
        let lines = json::event_lines(&event, theme);
        DetailView {
            event,
            lines,
            scroll: 0,
            link: 0,
            note: None,
            find: Slot::default(),
        }
    }

    fn scroll_by(&mut self, delta: isize) {
        let max = self.lines.lines.len().saturating_sub(1) as isize;
        self.scroll = (self.scroll as isize + delta).clamp(0, max) as usize;
    }
}

/// Look an event up by id and answer with [`Found`] (the app uses it for `g` with an id).
pub async fn find_event(store: crate::store::Store, wanted: String) -> Found {
    let result = store.find_event(&wanted).await.map_err(|e| e.to_string());
    Found { wanted, result }
}

/// What to do with a [`Found`]: open it, or say why not.
pub fn open_found(found: Found, ctx: &mut Ctx) {
    match found.result {
        Ok(Some(e)) => {
            let v = DetailView::new(e, ctx.theme);
            ctx.push(Box::new(v));
        }
        Ok(None) => ctx.status(format!("no event with id {} in this store", found.wanted)),
        Err(e) => ctx.error(format!("error: {e}")),
    }
}

impl View for DetailView {
    fn kind(&self) -> ViewKind {
        ViewKind::Detail
    }

    fn name(&self) -> String {
        format!(
            "Event {} · {} v{}",
            self.event.event_type, self.event.stream_id, self.event.stream_version
        )
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = ctx.area.height.saturating_sub(2) as usize;
        if let Some(d) = delta(cmd, h) {
            self.scroll_by(d);
            return true;
        }
        match cmd {
            Command::Home => self.scroll = 0,
            Command::End => self.scroll = self.lines.lines.len().saturating_sub(h),
            Command::NextPane => {
                if self.lines.links.is_empty() {
                    return false; // Tab then switches between the log and the streams
                }
                self.link = (self.link + 1) % self.lines.links.len();
                self.scroll = self.lines.links[self.link].line.saturating_sub(2);
            }
            Command::Open => {
                let Some(link) = self.lines.links.get(self.link).cloned() else {
                    ctx.status("no link here (Tab moves between correlation/causation ids)");
                    return true;
                };
                let store = ctx.store.clone();
                self.find
                    .start(ctx.replier(), find_event(store, link.event_id));
            }
            Command::Trace => super::events::open_trace(&self.event, ctx),
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx) {
        if let Some(found) = downcast::<Found>(payload) {
            if self.find.accept(req) {
                open_found(found, ctx);
            }
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let e = &self.event;
        let title = format!(" {} · {} v{} ", e.event_type, e.stream_id, e.stream_version);
        let b = block(theme, title);
        let inner = b.inner(area);
        f.render_widget(b, area);
        let area = match &self.note {
            Some(note) => {
                let [top, rest] =
                    Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
                f.render_widget(
                    Paragraph::new(Line::styled(format!(" {note}"), theme.error))
                        .wrap(Wrap { trim: false }),
                    top,
                );
                rest
            }
            None => inner,
        };
        let h = area.height as usize;
        let end = (self.scroll + h).min(self.lines.lines.len());
        let mut lines: Vec<Line> = self.lines.lines[self.scroll.min(end)..end].to_vec();
        if let Some(link) = self.lines.links.get(self.link) {
            if (self.scroll..end).contains(&link.line) {
                json::select(&mut lines[link.line - self.scroll], theme);
            }
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn status(&self) -> String {
        String::new()
    }

    fn is_loading(&self) -> bool {
        self.find.is_pending()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        if !self.lines.links.is_empty() {
            c.extend([Command::NextPane, Command::Open]);
        }
        c.push(Command::Trace);
        c
    }

    fn selected_event(&self) -> Option<&Event> {
        Some(&self.event)
    }
}
