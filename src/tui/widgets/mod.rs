//! What several views draw with: the bordered block, the JSON renderer, the row window over
//! lists too large to load, and the small geometry of selectable lists.

pub mod json;
pub mod window;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme::Theme;

/// A bordered block with a title.
pub fn block(t: &Theme, title: impl Into<String>) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(title.into(), t.title))
}

/// One line inside a block, `dy` lines below its top (for "no events" and the like).
pub fn inner(area: Rect, dy: u16) -> Rect {
    let y = (area.y + dy).min(area.y + area.height.saturating_sub(1));
    Rect::new(area.x + 2, y, area.width.saturating_sub(4), 1)
}

/// Lines under a list for the whole of the selected row's detail (the table cuts it).
pub const FOOTER: u16 = 2;

/// Rows of a list view with a summary line and a footer (borders, summary, header, footer).
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

/// `i` moved by `delta` within `0..n`.
pub fn step(i: usize, delta: isize, n: usize) -> usize {
    (i as isize + delta).clamp(0, n.saturating_sub(1) as isize) as usize
}

/// A summary line above a table, the table's area, and the footer below it.
pub fn split_list(area: Rect) -> (Rect, Rect, Rect) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(FOOTER),
    ])
    .areas(area);
    (head, body, foot)
}

/// The selected row's whole detail, wrapped, under a list.
pub fn draw_footer(f: &mut Frame, area: Rect, text: Line<'static>, t: &Theme) {
    let rule = Span::styled("─".repeat(area.width as usize), t.border);
    let [r, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    f.render_widget(Paragraph::new(Line::from(rule)), r);
    f.render_widget(
        Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: false }),
        body,
    );
}

/// A selectable list of fixed rows (snapshots, findings): the selection and the first row
/// shown, kept in view.
#[derive(Debug, Default, Clone)]
pub struct ListState {
    pub selected: usize,
    pub top: usize,
}

impl ListState {
    pub fn move_by(&mut self, delta: isize, n: usize, height: usize) {
        self.selected = step(self.selected, delta, n);
        self.top = follow(self.selected, self.top, height);
    }

    pub fn home(&mut self) {
        self.selected = 0;
        self.top = 0;
    }

    pub fn end(&mut self, n: usize, height: usize) {
        self.selected = n.saturating_sub(1);
        self.top = follow(self.selected, self.top, height);
    }

    /// A click on line `row` of a list drawn with [`split_list`] in a bordered block: the
    /// border, the summary line and the header come first.
    pub fn click(&mut self, row: usize, n: usize) {
        if let Some(i) = row.checked_sub(3).map(|r| self.top + r) {
            if i < n {
                self.selected = i;
            }
        }
    }
}
