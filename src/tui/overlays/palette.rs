//! The command palette (`:`, as in k9s): every action of the view shown, found by fuzzy
//! search on what it does and on its name; Enter runs it as its key would.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui_textarea::TextArea;

use crate::tui::keys::{Command, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, cell_style};

/// One action offered: the command, its config name, what it does here.
#[derive(Debug, Clone)]
pub struct Action {
    pub command: Command,
    pub name: &'static str,
    pub what: &'static str,
}

pub struct Palette {
    /// The view the actions are of (the title).
    pub view: String,
    actions: Vec<Action>,
    query: TextArea<'static>,
    /// Indices into `actions`, best match first.
    shown: Vec<usize>,
    pub selected: usize,
}

/// What a key did.
pub enum Outcome {
    Closed,
    Run(Command),
    Edited,
}

impl Palette {
    pub fn new(view: String, actions: Vec<Action>) -> Palette {
        let mut p = Palette {
            view,
            shown: (0..actions.len()).collect(),
            actions,
            query: TextArea::default(),
            selected: 0,
        };
        p.refilter();
        p
    }

    fn text(&self) -> String {
        self.query.lines().join(" ")
    }

    /// The actions matching the query, best first (all of them, in order, for no query).
    fn refilter(&mut self) {
        let q = self.text();
        self.selected = 0;
        if q.trim().is_empty() {
            self.shown = (0..self.actions.len()).collect();
            return;
        }
        let haystacks: Vec<String> = self
            .actions
            .iter()
            .map(|a| format!("{} {}", a.what, a.name.replace('_', " ")))
            .collect();
        let mut matcher = Matcher::new(Config::DEFAULT);
        let pattern = Pattern::parse(&q, CaseMatching::Ignore, Normalization::Smart);
        let matches = pattern.match_list(
            haystacks.iter().enumerate().map(|(i, h)| Hay(i, h)),
            &mut matcher,
        );
        self.shown = matches.into_iter().map(|(h, _)| h.0).collect();
    }

    /// The actions shown, best match first.
    pub fn shown(&self) -> Vec<&Action> {
        self.shown.iter().map(|i| &self.actions[*i]).collect()
    }

    pub fn on_key(&mut self, k: KeyEvent) -> Outcome {
        match k.code {
            KeyCode::Esc => return Outcome::Closed,
            KeyCode::Enter => {
                return match self.shown.get(self.selected) {
                    Some(i) => Outcome::Run(self.actions[*i].command),
                    None => Outcome::Edited,
                };
            }
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => {
                self.selected = (self.selected + 1).min(self.shown.len().saturating_sub(1))
            }
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.query = TextArea::default();
                self.refilter();
            }
            _ => {
                if self.query.input(k) {
                    self.refilter();
                }
            }
        }
        Outcome::Edited
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, keys: &KeyMap, theme: &Theme) {
        let w = area.width.saturating_sub(8).min(80);
        let h = area
            .height
            .saturating_sub(4)
            .min(self.actions.len() as u16 + 5);
        let r = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 3,
            w,
            h,
        );
        f.render_widget(Clear, r);
        let outer = block(theme, format!(" Actions · {} ", self.view)).style(theme.base);
        let inner = outer.inner(r);
        f.render_widget(outer, r);
        let [input, rule, list] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(inner);
        let mut q = self.query.clone();
        q.set_cursor_line_style(Style::new());
        q.set_placeholder_text("type to find an action · ↑/↓ · Enter runs it · Esc");
        q.set_placeholder_style(theme.muted);
        f.render_widget(&q, input);
        f.render_widget(
            Paragraph::new(Span::styled("─".repeat(rule.width as usize), theme.border)),
            rule,
        );
        let rows = list.height as usize;
        let key_w = self
            .actions
            .iter()
            .map(|a| keys.keys_for(a.command).chars().count())
            .max()
            .unwrap_or(0)
            .min(inner.width as usize / 3)
            + 2;
        let top = self.selected.saturating_sub(rows.saturating_sub(1));
        let lines: Vec<Line> = self
            .shown
            .iter()
            .enumerate()
            .skip(top)
            .take(rows)
            .map(|(n, i)| {
                let a = &self.actions[*i];
                let on = n == self.selected;
                let line = Line::from(vec![
                    Span::styled(
                        format!(
                            "{:<key_w$}",
                            keys.keys_for(a.command)
                                .chars()
                                .take(key_w - 2)
                                .collect::<String>()
                        ),
                        cell_style(theme, on, theme.accent),
                    ),
                    Span::styled(a.what, cell_style(theme, on, Style::new())),
                ]);
                if on { line.style(theme.selected) } else { line }
            })
            .collect();
        if lines.is_empty() {
            f.render_widget(
                Paragraph::new(Line::styled(" no action matches", theme.muted)),
                list,
            );
        } else {
            f.render_widget(Paragraph::new(lines), list);
        }
    }
}

/// A haystack that remembers which action it came from.
struct Hay<'a>(usize, &'a String);

impl AsRef<str> for Hay<'_> {
    fn as_ref(&self) -> &str {
        self.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palette() -> Palette {
        Palette::new(
            "Global log".into(),
            vec![
                Action {
                    command: Command::Follow,
                    name: "follow",
                    what: "follow new events of the log or this stream (live tail)",
                },
                Action {
                    command: Command::Export,
                    name: "export",
                    what: "export the current view to a JSONL file",
                },
                Action {
                    command: Command::TimeTravel,
                    name: "time_travel",
                    what: "time travel: rebuild the selected stream's state at this event",
                },
            ],
        )
    }

    fn typed(p: &mut Palette, s: &str) {
        for c in s.chars() {
            p.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn fuzzy_search_finds_an_action_and_enter_runs_it() {
        let mut p = palette();
        assert_eq!(p.shown().len(), 3);
        typed(&mut p, "jsnl");
        assert_eq!(p.shown()[0].command, Command::Export);
        assert!(matches!(
            p.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            Outcome::Run(Command::Export)
        ));
        p.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        typed(&mut p, "tail");
        assert_eq!(p.shown()[0].command, Command::Follow);
        typed(&mut p, "zzzz");
        assert!(p.shown().is_empty());
        assert!(matches!(
            p.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            Outcome::Edited
        ));
        assert!(matches!(
            p.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            Outcome::Closed
        ));
    }
}
