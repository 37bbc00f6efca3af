//! Drawing: the view on top, the overlays over it, the status line under it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::App;
use crate::tui::overlays::help::HelpFor;
use crate::tui::widgets::fit_words;

impl App {
    // ---- draw ----------------------------------------------------------------------------

    pub fn draw(&self, f: &mut Frame) {
        let areas = Areas::new(f.area(), self.inputs.open.is_some());
        f.render_widget(Block::new().style(self.theme.base), f.area());
        if let Some(v) = self.top() {
            v.draw(f, areas.main, &self.theme);
        }
        if let Some(area) = areas.input {
            self.inputs.draw(f, area, &self.theme);
        }
        self.draw_status(f, areas.status);
        // Dialogs sit above the status line, inside the view's frame.
        let over = Rect {
            height: areas.status.y.saturating_sub(f.area().y),
            ..f.area()
        };
        self.replay.draw(f, over, &self.theme);
        if let Some(p) = &self.palette {
            p.draw(f, over, &self.keys, &self.theme);
        }
        self.export.draw(f, over, &self.theme);
        self.seal.draw(f, over, &self.theme);
        self.verify_seal.draw(f, over, &self.theme);
        if self.help.open {
            let (view, filters) = self
                .top()
                .map_or((String::new(), false), |v| (v.name(), v.query().is_some()));
            let what = HelpFor {
                view,
                commands: self
                    .actions()
                    .into_iter()
                    .map(|a| (a.command, a.what))
                    .collect(),
                filters,
            };
            self.help.draw(f, over, &what, &self.keys, &self.theme);
        }
    }

    fn draw_status(&self, f: &mut Frame, area: Rect) {
        let l = self.store.layout();
        let mut left = format!(" {} · {} ", self.store.url(), l.name);
        if let Some(v) = self.top() {
            left.push_str(&v.status());
            if v.following() {
                left.push_str("· following ");
            }
        }
        let (right, right_style) = match (&self.status, self.is_loading()) {
            (Some((s, true)), _) => (format!(" {s} "), self.theme.error),
            (Some((s, false)), _) => (format!(" {s} "), Style::new()),
            (None, true) => (" loading… ".to_string(), self.theme.loading),
            (None, _) if self.replay.job.as_ref().is_some_and(|j| !j.shown) => (
                format!(
                    " {} ",
                    self.replay
                        .job
                        .as_ref()
                        .map(|j| j.summary())
                        .unwrap_or_default()
                ),
                self.theme.accent,
            ),
            (None, false) => (" ? help · q quit ".to_string(), self.theme.muted),
        };
        // The message first: what is left of the width goes to the place; both are cut
        // after a whole word, never mid-word.
        let width = area.width as usize;
        let right = fit_words(&right, width.saturating_sub(12.min(width / 3)));
        let left = fit_words(&left, width.saturating_sub(right.width()));
        let right = Span::styled(right, self.theme.on_status(right_style));
        let [l_area, r_area] = Layout::horizontal([
            Constraint::Fill(1),
            Constraint::Length(right.width() as u16),
        ])
        .areas(area);
        f.render_widget(Paragraph::new(left).style(self.theme.status), l_area);
        f.render_widget(
            Paragraph::new(Line::from(right)).style(self.theme.status),
            r_area,
        );
    }
}

/// The screen split: the main pane, an optional input box, the status line.
pub struct Areas {
    pub main: Rect,
    pub input: Option<Rect>,
    pub status: Rect,
}

impl Areas {
    pub fn new(area: Rect, input: bool) -> Areas {
        if input {
            let [main, input, status] = Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(3),
                Constraint::Length(1),
            ])
            .areas(area);
            Areas {
                main,
                input: Some(input),
                status,
            }
        } else {
            let [main, status] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
            Areas {
                main,
                input: None,
                status,
            }
        }
    }
}
