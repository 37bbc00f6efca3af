//! What several views draw with: the bordered block, the JSON renderer, the row window over
//! lists too large to load, and the small geometry of selectable lists.

pub mod event_table;
pub mod json;
pub mod window;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
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

/// A table cell's style: its own, or, in the selected row, on the selection (readable in
/// every theme).
pub fn cell_style(t: &Theme, selected: bool, own: Style) -> Style {
    if selected { t.on_selected(own) } else { own }
}

/// `s` in at most `width` columns, cut after a whole word with `…` (never mid-word, unless
/// its first word alone is too long).
pub fn fit_words(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    for word in s.split_inclusive(' ') {
        if (out.clone() + word).trim_end().width() + 1 > width {
            break;
        }
        out.push_str(word);
    }
    let mut out = out.trim_end().to_string();
    if out.is_empty() {
        // One long word: cut it.
        out = s
            .chars()
            .scan(0, |w, c| {
                *w += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                (*w < width).then_some(c)
            })
            .collect();
    }
    out.push('…');
    out
}

/// Rows of a table filling `area` in a bordered block under a header line.
/// A `w`×`h` rectangle in the middle of `area` (at most `area` less a cell on each side): a
/// dialog's place.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A dialog's field label, `width` columns at the left of `area`; the rest of `area`.
pub fn label(f: &mut Frame, area: Rect, text: &str, style: Style, width: u16) -> Rect {
    let [l, v] = Layout::horizontal([Constraint::Length(width), Constraint::Fill(1)]).areas(area);
    f.render_widget(Paragraph::new(Span::styled(text.to_string(), style)), l);
    v
}

/// A dialog's path field: its label (`width` columns), the path (being edited, or as given
/// while the dialog works), and under it, when there is one, the error in the error colour.
#[allow(clippy::too_many_arguments)]
pub fn path_field(
    f: &mut Frame,
    (field, note): (Rect, Rect),
    name: &str,
    width: u16,
    path: &ratatui_textarea::TextArea<'static>,
    editing: bool,
    error: Option<&str>,
    theme: &Theme,
) {
    let style = match (error, editing) {
        (Some(_), _) => theme.error,
        (None, true) => theme.accent,
        (None, false) => theme.muted,
    };
    let v = label(f, field, name, style, width);
    if editing {
        let mut t = path.clone();
        t.set_cursor_line_style(Style::new());
        f.render_widget(&t, v);
    } else {
        f.render_widget(Paragraph::new(path.lines().join("")), v);
    }
    if let Some(e) = error {
        let [_, v] =
            Layout::horizontal([Constraint::Length(width), Constraint::Fill(1)]).areas(note);
        let p = Paragraph::new(Span::styled(format!("↳ {e}"), theme.error))
            .wrap(ratatui::widgets::Wrap { trim: true });
        f.render_widget(p, v);
    }
}

pub fn table_rows(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_whole() {
        assert_eq!(
            fit_words("following new events (f to stop)", 22),
            "following new events…"
        );
        assert_eq!(fit_words("short", 10), "short");
        assert_eq!(fit_words("averyveryverylongword and more", 8), "averyve…");
        assert_eq!(fit_words("x", 0), "");
    }

    #[test]
    fn the_selection_stays_in_view() {
        assert_eq!(follow(0, 0, 10), 0);
        assert_eq!(follow(12, 0, 10), 3);
        assert_eq!(follow(2, 5, 10), 2);
        assert_eq!(follow(7, 5, 10), 5);
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

    /// The movement keys in a list of `n` rows showing `height`: true when `cmd` was one.
    pub fn on_move(&mut self, cmd: crate::tui::keys::Command, n: usize, height: usize) -> bool {
        use crate::tui::keys::Command;
        match cmd {
            Command::Home => self.home(),
            Command::End => self.end(n, height),
            c => match crate::tui::views::delta(c, height) {
                Some(d) => self.move_by(d, n, height),
                None => return false,
            },
        }
        true
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
