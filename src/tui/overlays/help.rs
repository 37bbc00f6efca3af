//! The help: the keys that work in the view shown, under the view's name.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::keys::{COMMANDS, Command, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::block;

/// What the help lists: the view's name, the commands that work there (with what each does
/// there), whether it filters.
pub struct HelpFor {
    pub view: String,
    pub commands: Vec<(Command, &'static str)>,
    pub filters: bool,
}

#[derive(Default)]
pub struct Help {
    pub open: bool,
    pub scroll: usize,
}

impl Help {
    /// A key while the help is open: the movement keys scroll it, any other closes it.
    pub fn on_command(&mut self, cmd: Option<Command>) {
        match cmd {
            Some(Command::Up) => self.scroll = self.scroll.saturating_sub(1),
            Some(Command::Down) => self.scroll += 1,
            Some(Command::PageUp) => self.scroll = self.scroll.saturating_sub(10),
            Some(Command::PageDown) => self.scroll += 10,
            _ => *self = Help::default(),
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, what: &HelpFor, keys: &KeyMap, theme: &Theme) {
        let HelpFor {
            view,
            commands,
            filters,
        } = what;
        // In the order of the key table, which groups them.
        let mut lines: Vec<Line> = COMMANDS
            .iter()
            .filter_map(|(_, c, _)| commands.iter().find(|(x, _)| x == c))
            .map(|(c, what)| {
                Line::from(vec![
                    Span::styled(format!("{:<22}", keys.keys_for(*c)), theme.accent),
                    Span::raw(*what),
                ])
            })
            .collect();
        if *filters {
            lines.push(Line::raw(""));
            lines.push(Line::styled("Filter syntax (/):", theme.header));
            lines.push(Line::raw(
                "  type:Withdrawn type:Deposited  stream:account-*  category:payment",
            ));
            lines.push(Line::raw(
                "  since:2026-06-01 until:\"2026-07-01 12:00\"  since:7d",
            ));
            lines.push(Line::raw(
                "  ... | select(.data.amount > 1000)      (a jq predicate on the event)",
            ));
        }
        lines.push(Line::raw(
            "Mouse: wheel scrolls, click selects. ↑/↓ scroll this help; any other key closes it.",
        ));
        let w = area.width.saturating_sub(8).min(90);
        let h = area.height.saturating_sub(4).min(lines.len() as u16 + 2);
        let r = crate::tui::widgets::centered(area, w, h);
        let inner_h = r.height.saturating_sub(2) as usize;
        let scroll = self.scroll.min(lines.len().saturating_sub(inner_h));
        let more = if lines.len() > inner_h + scroll {
            " · ↓ more "
        } else {
            " "
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines[scroll..].to_vec())
                .block(block(theme, format!(" Keys · {view}{more}")))
                .style(theme.base),
            r,
        );
    }
}
