//! The one-line inputs (`/` filter, `g` jump): the text as it was last applied comes back
//! selected, so typing replaces it; Ctrl-U clears the line; ↑/↓ recall earlier entries.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui_textarea::{CursorMove, TextArea};

use crate::tui::theme::Theme;
use crate::tui::widgets::block;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Jump,
}

pub struct Input {
    pub kind: InputKind,
    pub area: TextArea<'static>,
    pub error: Option<String>,
    /// What the input takes, where the view gives it its own meaning (the stream list's jump).
    pub hint: Option<&'static str>,
    /// The history entry shown (↑/↓), counted from the newest.
    recall: Option<usize>,
}

impl Input {
    pub fn text(&self) -> String {
        self.area.lines().join(" ")
    }
}

/// What a key did to the input.
pub enum Outcome {
    Cancelled,
    /// Enter: the text to apply (the input stays open until the app accepts it).
    Submitted(InputKind, String),
    Edited,
}

/// Entries kept per input.
const HISTORY: usize = 50;

/// The key that clears a line: Ctrl-U, here and in the dialogs' fields.
pub fn clears(k: &KeyEvent) -> bool {
    k.code == KeyCode::Char('u') && k.modifiers.contains(KeyModifiers::CONTROL)
}

/// A key typed into a dialog's one-line field: Ctrl-U clears it, anything else edits it.
pub fn edit(field: &mut ratatui_textarea::TextArea<'static>, k: KeyEvent) {
    if clears(&k) {
        *field = ratatui_textarea::TextArea::default();
    } else {
        field.input(k);
    }
}

#[derive(Default)]
pub struct Inputs {
    pub open: Option<Input>,
    filters: Vec<String>,
    jumps: Vec<String>,
}

fn line(text: &str) -> TextArea<'static> {
    let mut area = TextArea::new(vec![text.to_string()]);
    area.move_cursor(CursorMove::End);
    area
}

impl Inputs {
    /// Open an input with `text` selected (typing replaces it; → keeps and edits it).
    pub fn open(&mut self, kind: InputKind, text: &str) {
        let mut area = line(text);
        if !text.is_empty() {
            area.select_all();
        }
        self.open = Some(Input {
            kind,
            area,
            error: None,
            hint: None,
            recall: None,
        });
    }

    /// Open an input already holding what was typed (not selected: the next key goes on
    /// after it), with the view's own hint.
    pub fn open_typed(&mut self, kind: InputKind, text: &str, hint: Option<&'static str>) {
        self.open = Some(Input {
            kind,
            area: line(text),
            error: None,
            hint,
            recall: None,
        });
    }

    fn history(&self, kind: InputKind) -> &[String] {
        match kind {
            InputKind::Filter => &self.filters,
            InputKind::Jump => &self.jumps,
        }
    }

    /// The text was applied: close the input and remember it.
    pub fn accepted(&mut self) {
        let Some(input) = self.open.take() else {
            return;
        };
        let text = input.text().trim().to_string();
        if text.is_empty() {
            return;
        }
        let h = match input.kind {
            InputKind::Filter => &mut self.filters,
            InputKind::Jump => &mut self.jumps,
        };
        h.retain(|t| *t != text);
        h.push(text);
        if h.len() > HISTORY {
            h.remove(0);
        }
    }

    /// The text could not be applied: say why under the input.
    pub fn refused(&mut self, why: String) {
        if let Some(i) = &mut self.open {
            i.error = Some(why);
        }
    }

    pub fn on_key(&mut self, k: KeyEvent) -> Outcome {
        let Some(input) = &self.open else {
            return Outcome::Cancelled;
        };
        let kind = input.kind;
        let n = self.history(kind).len();
        let recall = input.recall;
        let pick = match k.code {
            KeyCode::Up if n > 0 => Some(recall.map_or(0, |r| (r + 1).min(n - 1))),
            KeyCode::Down => match recall {
                Some(0) | None => None,
                Some(r) => Some(r - 1),
            },
            _ => None,
        };
        let recalled = pick.map(|r| self.history(kind)[n - 1 - r].clone());
        let Some(input) = &mut self.open else {
            return Outcome::Cancelled;
        };
        match k.code {
            KeyCode::Esc => {
                self.open = None;
                return Outcome::Cancelled;
            }
            KeyCode::Enter => return Outcome::Submitted(kind, input.text()),
            _ if clears(&k) => {
                input.area = line("");
                input.recall = None;
            }
            KeyCode::Up | KeyCode::Down => {
                if let Some(text) = recalled {
                    input.area = line(&text);
                    input.recall = pick;
                } else if k.code == KeyCode::Down && recall.is_some() {
                    input.area = line("");
                    input.recall = None;
                }
            }
            _ => {
                // A key that moves (→, End…) keeps the old text and leaves the selection.
                let edits = matches!(
                    k.code,
                    KeyCode::Char(_) | KeyCode::Backspace | KeyCode::Delete
                );
                if input.area.is_selecting() && !edits {
                    input.area.cancel_selection();
                }
                input.area.input(k);
            }
        }
        input.error = None;
        Outcome::Edited
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let Some(input) = &self.open else { return };
        let (title, hint) = match input.kind {
            InputKind::Filter => (
                " Filter ",
                "type:T stream:P* category:C since:TIME until:TIME | jq   Enter apply · Esc cancel · ↑ earlier · Ctrl-U clear",
            ),
            InputKind::Jump => (
                " Jump ",
                "a position, a version (in a stream), a time (2026-06-01, 2h) or an event id   Enter · Esc · ↑ earlier",
            ),
        };
        let mut widget = input.area.clone();
        let hint = input.hint.unwrap_or(hint);
        let b = block(theme, title).title_bottom(Span::styled(
            input.error.clone().unwrap_or_else(|| hint.to_string()),
            if input.error.is_some() {
                theme.error
            } else {
                theme.muted
            },
        ));
        widget.set_block(b);
        widget.set_cursor_line_style(Style::new());
        widget.set_selection_style(theme.selected.add_modifier(Modifier::REVERSED));
        f.render_widget(&widget, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn text(i: &Inputs) -> String {
        i.open.as_ref().unwrap().text()
    }

    #[test]
    fn the_old_text_comes_back_selected_and_typing_replaces_it() {
        let mut i = Inputs::default();
        i.open(InputKind::Filter, "type:Deposited");
        i.on_key(key(KeyCode::Char('s')));
        assert_eq!(text(&i), "s");
        // → keeps the text and edits at its end.
        i.open(InputKind::Filter, "type:A");
        i.on_key(key(KeyCode::Right));
        i.on_key(key(KeyCode::Char('B')));
        assert_eq!(text(&i), "type:AB");
        i.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(text(&i), "");
    }

    #[test]
    fn up_and_down_recall_what_was_applied() {
        let mut i = Inputs::default();
        for t in ["type:A", "type:B", "type:A"] {
            i.open(InputKind::Filter, "");
            for c in t.chars() {
                i.on_key(key(KeyCode::Char(c)));
            }
            assert!(
                matches!(i.on_key(key(KeyCode::Enter)), Outcome::Submitted(InputKind::Filter, ref s) if s == t)
            );
            i.accepted();
        }
        i.open(InputKind::Filter, "");
        i.on_key(key(KeyCode::Up));
        assert_eq!(text(&i), "type:A", "the newest first, each once");
        i.on_key(key(KeyCode::Up));
        assert_eq!(text(&i), "type:B");
        i.on_key(key(KeyCode::Up));
        assert_eq!(text(&i), "type:B", "the oldest stays");
        i.on_key(key(KeyCode::Down));
        assert_eq!(text(&i), "type:A");
        i.on_key(key(KeyCode::Down));
        assert_eq!(text(&i), "");
        // Jumps have their own history.
        i.open(InputKind::Jump, "");
        i.on_key(key(KeyCode::Up));
        assert_eq!(text(&i), "");
        assert!(matches!(i.on_key(key(KeyCode::Esc)), Outcome::Cancelled));
        assert!(i.open.is_none());
    }
}
