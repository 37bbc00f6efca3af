//! The replay dialog: the sink form, the dry run while it counts, and the confirmation by the
//! event count.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::{block, centered, event_ref, secs};
use crate::replay::sink::DEFAULT_SUBJECT;
use crate::replay::{self, BusCheck, Plan, Range, SinkSpec};
use crate::tui::theme::Theme;

const LABELS: [&str; 4] = ["sink", "subject (nats)", "rate, events/s", "max in flight"];

/// The sink fields, kept between dialogs (the operator's last choice).
#[derive(Debug, Clone)]
pub struct Choice {
    pub sink: String,
    pub subject: String,
    pub rate: String,
    pub max_in_flight: String,
}

impl Default for Choice {
    fn default() -> Choice {
        Choice {
            sink: "nats://127.0.0.1:4222".into(),
            subject: DEFAULT_SUBJECT.into(),
            rate: String::new(),
            max_in_flight: replay::DEFAULT_MAX_IN_FLIGHT.to_string(),
        }
    }
}

/// A planned replay, ready to confirm.
#[derive(Debug)]
pub struct Ready {
    pub range: Range,
    pub plan: Plan,
    pub bus: Option<BusCheck>,
    pub spec: SinkSpec,
    pub rate: Option<f64>,
    pub max_in_flight: usize,
}

// One dialog at a time: the size of its largest stage does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Stage {
    Form {
        fields: Vec<TextArea<'static>>,
        focus: usize,
        error: Option<String>,
    },
    Planning {
        id: u64,
        counted: u64,
        /// What the count waits for (positions held by open transactions).
        waiting: Option<String>,
    },
    Confirm {
        ready: Box<Ready>,
        typed: TextArea<'static>,
        error: Option<String>,
    },
}

pub struct Dialog {
    /// The range before its upper end is fixed (that happens when it is planned).
    pub range: Range,
    /// Where the range came from, for the title.
    pub source: String,
    pub choice: Choice,
    pub stage: Stage,
}

/// What the app must do after a key in the dialog.
pub enum Action {
    None,
    Close,
    Plan(Box<(Range, SinkSpec, Option<f64>, usize)>),
    Start(Box<Ready>),
}

fn field(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

impl Dialog {
    pub fn new(range: Range, source: String, choice: Choice) -> Dialog {
        let mut d = Dialog {
            range,
            source,
            choice,
            stage: Stage::Planning {
                id: 0,
                counted: 0,
                waiting: None,
            },
        };
        d.back_to_form(None);
        d
    }

    /// The form, filled with the current choice.
    pub fn back_to_form(&mut self, error: Option<String>) {
        let c = &self.choice;
        self.stage = Stage::Form {
            fields: vec![
                field(&c.sink),
                field(&c.subject),
                field(&c.rate),
                field(&c.max_in_flight),
            ],
            focus: 0,
            error,
        };
    }

    pub fn on_key(&mut self, k: KeyEvent) -> Action {
        match &mut self.stage {
            Stage::Form {
                fields,
                focus,
                error,
            } => match k.code {
                KeyCode::Esc => Action::Close,
                KeyCode::Tab | KeyCode::Down => {
                    *focus = (*focus + 1) % fields.len();
                    Action::None
                }
                KeyCode::BackTab | KeyCode::Up => {
                    *focus = (*focus + fields.len() - 1) % fields.len();
                    Action::None
                }
                KeyCode::Enter => {
                    let text = |i: usize| fields[i].lines().join("").trim().to_string();
                    self.choice = Choice {
                        sink: text(0),
                        subject: text(1),
                        rate: text(2),
                        max_in_flight: text(3),
                    };
                    match parse_choice(&self.choice) {
                        Ok((spec, rate, max)) => {
                            Action::Plan(Box::new((self.range.clone(), spec, rate, max)))
                        }
                        Err(e) => {
                            *error = Some(e);
                            Action::None
                        }
                    }
                }
                _ => {
                    fields[*focus].input(k);
                    *error = None;
                    Action::None
                }
            },
            Stage::Planning { .. } => match k.code {
                KeyCode::Esc => {
                    self.back_to_form(None);
                    Action::None
                }
                _ => Action::None,
            },
            Stage::Confirm {
                ready,
                typed,
                error,
            } => match k.code {
                KeyCode::Esc => {
                    self.back_to_form(None);
                    Action::None
                }
                KeyCode::Enter => {
                    let t = typed.lines().join("");
                    if let Some(b) = ready.bus.as_ref().filter(|b| b.fatal) {
                        *error = Some(b.problem.clone().unwrap_or_default());
                        return Action::None;
                    }
                    if ready.plan.total == 0 {
                        *error = Some("the range is empty: nothing to replay".into());
                        return Action::None;
                    }
                    if t.trim() != ready.plan.total.to_string() {
                        *error = Some(format!(
                            "type {} (the number of events) to publish them",
                            ready.plan.total
                        ));
                        return Action::None;
                    }
                    let Stage::Confirm { ready, .. } = std::mem::replace(
                        &mut self.stage,
                        Stage::Planning {
                            id: 0,
                            counted: 0,
                            waiting: None,
                        },
                    ) else {
                        unreachable!()
                    };
                    Action::Start(ready)
                }
                _ if k.modifiers.contains(KeyModifiers::CONTROL) => Action::None,
                _ => {
                    typed.input(k);
                    *error = None;
                    Action::None
                }
            },
        }
    }
}

/// The form's values, checked: the TUI refuses `jsonl:-` (standard output is the terminal).
pub fn parse_choice(c: &Choice) -> Result<(SinkSpec, Option<f64>, usize), String> {
    let subject = (c.sink.starts_with("nats://") || c.sink.starts_with("tls://"))
        .then_some(c.subject.as_str())
        .filter(|s| !s.is_empty());
    let spec = SinkSpec::parse(&c.sink, subject)?;
    if spec == (SinkSpec::Jsonl { path: None }) {
        return Err("jsonl:- is the terminal here: give a file (jsonl:/path/to/file.jsonl)".into());
    }
    let rate = match c.rate.trim() {
        "" | "0" | "unlimited" => None,
        r => match r.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Some(v),
            _ => {
                return Err(format!(
                    "rate {r:?}: a positive number, or empty for unlimited"
                ));
            }
        },
    };
    let max = match c.max_in_flight.trim().parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => n,
        _ => return Err("max in flight: a number from 1 to 100000".into()),
    };
    Ok((spec, rate, max))
}

pub fn draw_dialog(f: &mut Frame, area: Rect, d: &Dialog, theme: &Theme) {
    let h = match d.stage {
        Stage::Form { .. } => 14,
        Stage::Planning { .. } => 8,
        Stage::Confirm { .. } => 24,
    };
    let r = centered(area, 84, h);
    f.render_widget(Clear, r);
    let title = format!(" Replay · {} ", d.source);
    let outer = block(theme, title);
    let inner = outer.inner(r);
    f.render_widget(outer, r);
    let range = Line::from(vec![
        Span::styled("range    ", theme.muted),
        Span::raw(d.range.describe()),
    ]);
    match &d.stage {
        Stage::Form {
            fields,
            focus,
            error,
        } => {
            let mut rows = vec![Constraint::Length(2)];
            rows.extend([Constraint::Length(1); 4]);
            rows.push(Constraint::Length(1));
            rows.push(Constraint::Fill(1));
            rows.push(Constraint::Length(1));
            let parts = Layout::vertical(rows).split(inner);
            f.render_widget(Paragraph::new(range), parts[0]);
            for (i, (t, label)) in fields.iter().zip(LABELS).enumerate() {
                let [l, v] = Layout::horizontal([Constraint::Length(18), Constraint::Fill(1)])
                    .areas(parts[1 + i]);
                let style = if i == *focus {
                    theme.accent
                } else {
                    theme.muted
                };
                f.render_widget(Paragraph::new(Span::styled(label, style)), l);
                if i == *focus {
                    let mut t = t.clone();
                    t.set_cursor_line_style(Style::new());
                    f.render_widget(&t, v);
                } else {
                    f.render_widget(Paragraph::new(t.lines().join("")), v);
                }
            }
            let help = Paragraph::new(vec![
                Line::raw("sink: nats://HOST:PORT (or a list, nats://A:4222,B:4222) or jsonl:/path/file.jsonl"),
                Line::raw("subject: {category} {type} {stream} {version} {position} {job}"),
                Line::raw("rate: empty for as fast as the sink acknowledges"),
            ])
            .style(theme.muted);
            f.render_widget(help, parts[6]);
            let bottom = match error {
                Some(e) => Span::styled(e.clone(), theme.error),
                None => Span::styled("Tab next field · Enter dry run · Esc cancel", theme.muted),
            };
            f.render_widget(Paragraph::new(bottom), parts[7]);
        }
        Stage::Planning {
            counted, waiting, ..
        } => {
            let mut lines = vec![
                range,
                Line::raw(""),
                Line::styled(
                    format!("dry run: counting the range… {counted} events"),
                    theme.loading,
                ),
            ];
            if let Some(w) = waiting {
                lines.push(Line::styled(format!("waiting: {w}"), theme.warning));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Esc back", theme.muted));
            let p = Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true });
            f.render_widget(p, inner);
        }
        Stage::Confirm {
            ready,
            typed,
            error,
        } => draw_confirm(f, inner, ready, typed, error.as_deref(), theme),
    }
}

fn draw_confirm(
    f: &mut Frame,
    area: Rect,
    r: &Ready,
    typed: &TextArea<'static>,
    error: Option<&str>,
    theme: &Theme,
) {
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<9}"), theme.muted),
            Span::raw(v),
        ])
    };
    let mut lines = vec![
        kv("range", r.range.describe()),
        kv("sink", r.spec.describe()),
    ];
    if let Some(b) = &r.bus {
        lines.push(match b.describe() {
            Ok(text) => kv("bus", text),
            Err(p) => Line::from(vec![
                Span::styled(format!("{:<9}", "bus"), theme.muted),
                Span::styled(format!("PROBLEM: {p}"), theme.error),
            ]),
        });
    }
    lines.push(kv("events", r.plan.total.to_string()));
    lines.push(kv("first", event_ref(&r.plan.first)));
    lines.push(kv("last", event_ref(&r.plan.last)));
    lines.push(kv(
        "rate",
        match (r.rate, r.plan.estimate_secs(r.rate)) {
            (Some(rate), Some(s)) => format!(
                "{rate}/s, about {} · at most {} in flight",
                secs(s),
                r.max_in_flight
            ),
            _ => format!(
                "unlimited (as fast as acknowledged) · at most {} in flight",
                r.max_in_flight
            ),
        },
    ));
    let top = |m: &std::collections::BTreeMap<String, u64>| {
        Plan::ranked(m)
            .into_iter()
            .take(6)
            .map(|(k, n)| format!("{:<22} {n}", crate::output::clip(k, 22)))
            .collect::<Vec<_>>()
    };
    let (types, cats) = (top(&r.plan.by_type), top(&r.plan.by_category));
    let n = lines.len() as u16;
    let [head, hist, _, confirm, bottom] = Layout::vertical([
        Constraint::Length(n + 1),
        Constraint::Length(types.len().max(cats.len()) as u16 + 1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(lines), head);
    let [lt, rt] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(hist);
    let col = |title: &str, rows: Vec<String>| {
        let mut l = vec![Line::styled(title.to_string(), theme.header)];
        l.extend(rows.into_iter().map(Line::raw));
        Paragraph::new(l)
    };
    f.render_widget(col("by type", types), lt);
    f.render_widget(col("by category", cats), rt);
    let prompt = format!("Type {} to publish them: ", r.plan.total);
    let [p, t] = Layout::horizontal([
        Constraint::Length(prompt.chars().count() as u16),
        Constraint::Fill(1),
    ])
    .areas(confirm);
    f.render_widget(Paragraph::new(Span::styled(prompt, theme.accent)), p);
    let mut t_w = typed.clone();
    t_w.set_cursor_line_style(Style::new());
    f.render_widget(&t_w, t);
    let b = match error {
        Some(e) => Span::styled(e.to_string(), theme.error),
        None => Span::styled("Enter publish · Esc back", theme.muted),
    };
    f.render_widget(Paragraph::new(b), bottom);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_checked() {
        let ok = Choice::default();
        assert!(parse_choice(&ok).is_ok());
        let bad = |f: fn(&mut Choice)| {
            let mut c = Choice::default();
            f(&mut c);
            parse_choice(&c).unwrap_err()
        };
        assert!(bad(|c| c.sink = "jsonl:-".into()).contains("terminal"));
        assert!(bad(|c| c.sink = "kafka://x".into()).contains("unknown sink"));
        assert!(bad(|c| c.rate = "fast".into()).contains("rate"));
        assert!(bad(|c| c.max_in_flight = "0".into()).contains("max in flight"));
        assert!(bad(|c| c.subject = "a.{nope}".into()).contains("unknown"));
        let c = Choice {
            sink: "jsonl:/tmp/x.jsonl".into(),
            rate: "250".into(),
            ..Default::default()
        };
        let (spec, rate, max) = parse_choice(&c).unwrap();
        assert_eq!(
            spec,
            SinkSpec::Jsonl {
                path: Some("/tmp/x.jsonl".into())
            }
        );
        assert_eq!((rate, max), (Some(250.0), replay::DEFAULT_MAX_IN_FLIGHT));
    }
}
