//! The replay dialog: the sink form, the dry run while it counts, and the confirmation by the
//! event count.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::{block, event_ref, secs};
use crate::replay::sink::{DEFAULT_SUBJECT, Template};
use crate::replay::{self, BusCheck, Plan, Range, SinkSpec};
use crate::tui::overlays::input;
use crate::tui::theme::Theme;
use crate::tui::widgets::centered;

const LABELS: [&str; 4] = ["sink", "subject (nats)", "rate, events/s", "max in flight"];

/// The form's sink field.
pub const SINK: usize = 0;
const SUBJECT: usize = 1;
const RATE: usize = 2;
const MAX_IN_FLIGHT: usize = 3;

/// Rows of each histogram of the confirmation (by type, by category).
const HISTOGRAM_ROWS: usize = 6;

/// Why the form was not accepted: a field's value (shown at that field), or something about
/// the range (shown under the form).
#[derive(Debug, Clone, PartialEq)]
pub struct FormError {
    pub field: Option<usize>,
    pub text: String,
}

impl FormError {
    pub fn at(field: usize, text: impl Into<String>) -> FormError {
        FormError {
            field: Some(field),
            text: text.into(),
        }
    }

    pub fn range(text: impl Into<String>) -> FormError {
        FormError {
            field: None,
            text: text.into(),
        }
    }
}

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
        error: Option<FormError>,
    },
    Planning {
        id: u64,
        /// The sink answered its check (before that, nothing is counted).
        checked: bool,
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
    /// The config file's named sinks (`profile:NAME` in the sink field), with their
    /// credentials and TLS files.
    pub sinks: Sinks,
}

/// Named sinks of the config file, by name.
pub type Sinks = std::sync::Arc<std::collections::BTreeMap<String, crate::config::SinkProfile>>;

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
    pub fn new(range: Range, source: String, choice: Choice, sinks: Sinks) -> Dialog {
        let mut d = Dialog {
            range,
            source,
            choice,
            sinks,
            stage: Stage::Planning {
                id: 0,
                checked: false,
                counted: 0,
                waiting: None,
            },
        };
        d.back_to_form(None);
        d
    }

    /// The form, filled with the current choice; focused on the field an error is about.
    pub fn back_to_form(&mut self, error: Option<FormError>) {
        let c = &self.choice;
        self.stage = Stage::Form {
            fields: vec![
                field(&c.sink),
                field(&c.subject),
                field(&c.rate),
                field(&c.max_in_flight),
            ],
            focus: error.as_ref().and_then(|e| e.field).unwrap_or(SINK),
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
                    match parse_choice(&self.choice, &self.sinks) {
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
                    if input::clears(&k) {
                        fields[*focus] = field("");
                    } else {
                        fields[*focus].input(k);
                    }
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
                            checked: true,
                            counted: 0,
                            waiting: None,
                        },
                    ) else {
                        unreachable!()
                    };
                    Action::Start(ready)
                }
                _ if input::clears(&k) => {
                    *typed = TextArea::default();
                    *error = None;
                    Action::None
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

/// The form's values, checked, each error at its field: the TUI refuses `jsonl:-` (standard
/// output is the terminal). Whether the sink can be used is asked next ([`SinkSpec::check`]).
pub fn parse_choice(
    c: &Choice,
    sinks: &Sinks,
) -> Result<(SinkSpec, Option<f64>, usize), FormError> {
    let profile = c.sink.trim().strip_prefix("profile:").map(str::trim);
    let subject =
        (profile.is_some() || c.sink.starts_with("nats://") || c.sink.starts_with("tls://"))
            .then_some(c.subject.as_str())
            .filter(|s| !s.is_empty());
    if let Some(s) = subject {
        Template::parse(s).map_err(|e| FormError::at(SUBJECT, e))?;
    }
    let spec = match profile {
        // A [sinks.NAME] of the config: its servers, credentials and TLS files, as
        // `replay --sink-profile NAME` takes them (the subject field wins over its subject).
        Some(name) => {
            let p = sinks.get(name).cloned().ok_or_else(|| {
                let known: Vec<&str> = sinks.keys().map(String::as_str).collect();
                FormError::at(
                    SINK,
                    format!(
                        "no sink profile {name:?} in the config file ([sinks.NAME]; sinks: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
            crate::replay::sink::SinkChoice {
                sink: None,
                subject: subject.map(str::to_string),
                profile: Some((name.to_string(), p)),
                auth: Default::default(),
            }
            .resolve()
            .map_err(|e| FormError::at(SINK, e))?
        }
        None => SinkSpec::parse(&c.sink, subject).map_err(|e| FormError::at(SINK, e))?,
    };
    if spec == (SinkSpec::Jsonl { path: None }) {
        return Err(FormError::at(
            SINK,
            "jsonl:- is the terminal here: give a file (jsonl:/path/to/file.jsonl)",
        ));
    }
    let rate = match c.rate.trim() {
        "" | "0" | "unlimited" => None,
        r => match r.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Some(v),
            _ => {
                return Err(FormError::at(
                    RATE,
                    format!("rate {r:?}: a positive number, or empty for unlimited"),
                ));
            }
        },
    };
    let max = match c.max_in_flight.trim().parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => n,
        _ => {
            return Err(FormError::at(
                MAX_IN_FLIGHT,
                "max in flight: a number from 1 to 100000",
            ));
        }
    };
    Ok((spec, rate, max))
}

pub fn draw_dialog(f: &mut Frame, area: Rect, d: &Dialog, theme: &Theme) {
    let h = match &d.stage {
        Stage::Form {
            error: Some(FormError { field: Some(_), .. }),
            ..
        } => 16,
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
            // An error about a field is shown under it (two lines); one about the range, at
            // the bottom.
            let at = error.as_ref().and_then(|e| e.field);
            let mut rows = vec![Constraint::Length(2)];
            for i in 0..fields.len() {
                rows.push(Constraint::Length(1));
                if at == Some(i) {
                    rows.push(Constraint::Length(2));
                }
            }
            rows.extend([
                Constraint::Length(1),
                Constraint::Fill(1),
                Constraint::Length(1),
            ]);
            let parts = Layout::vertical(rows).split(inner);
            f.render_widget(Paragraph::new(range), parts[0]);
            let mut row = 1;
            for (i, (t, label)) in fields.iter().zip(LABELS).enumerate() {
                let [l, v] = Layout::horizontal([Constraint::Length(18), Constraint::Fill(1)])
                    .areas(parts[row]);
                let style = match (at == Some(i), i == *focus) {
                    (true, _) => theme.error,
                    (false, true) => theme.accent,
                    (false, false) => theme.muted,
                };
                f.render_widget(Paragraph::new(Span::styled(label, style)), l);
                if i == *focus {
                    let mut t = t.clone();
                    t.set_cursor_line_style(Style::new());
                    f.render_widget(&t, v);
                } else {
                    f.render_widget(Paragraph::new(t.lines().join("")), v);
                }
                row += 1;
                if let Some(e) = error.as_ref().filter(|_| at == Some(i)) {
                    let [_, v] = Layout::horizontal([Constraint::Length(18), Constraint::Fill(1)])
                        .areas(parts[row]);
                    let text = Paragraph::new(Span::styled(format!("↳ {}", e.text), theme.error))
                        .wrap(ratatui::widgets::Wrap { trim: true });
                    f.render_widget(text, v);
                    row += 1;
                }
            }
            let help = Paragraph::new(vec![
                Line::raw("sink: nats://HOST:PORT (or a list, nats://A:4222,B:4222), jsonl:/path/file.jsonl,"),
                Line::raw("      or profile:NAME, a [sinks.NAME] of the config (its credentials, TLS)"),
                Line::raw("subject: {category} {type} {stream} {version} {position} {job}"),
                Line::raw("rate: empty for as fast as the sink acknowledges"),
            ])
            .style(theme.muted);
            f.render_widget(help, parts[row + 1]);
            let bottom = match error.as_ref().filter(|e| e.field.is_none()) {
                Some(e) => Span::styled(e.text.clone(), theme.error),
                None => Span::styled(
                    "Tab next field · Ctrl-U clear · Enter check the sink and dry run · Esc cancel",
                    theme.muted,
                ),
            };
            f.render_widget(Paragraph::new(bottom), parts[row + 2]);
        }
        Stage::Planning {
            checked,
            counted,
            waiting,
            ..
        } => {
            let now = if *checked {
                format!("sink ok · dry run: counting the range… {counted} events")
            } else {
                format!("checking the sink {}…", d.choice.sink)
            };
            let mut lines = vec![range, Line::raw(""), Line::styled(now, theme.loading)];
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
    let (types, cats) = (
        histogram(&r.plan.by_type, HISTOGRAM_ROWS),
        histogram(&r.plan.by_category, HISTOGRAM_ROWS),
    );
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

/// The `rows` largest counts of a histogram, and what was left out: "+3 more (12 events)".
fn histogram(m: &std::collections::BTreeMap<String, u64>, rows: usize) -> Vec<String> {
    let ranked = Plan::ranked(m);
    let mut out: Vec<String> = ranked
        .iter()
        .take(rows)
        .map(|(k, n)| format!("{:<22} {n}", crate::output::clip(k, 22)))
        .collect();
    if let Some(rest) = ranked.get(rows..).filter(|r| !r.is_empty()) {
        let n: u64 = rest.iter().map(|(_, n)| *n).sum();
        let events = if n == 1 { "event" } else { "events" };
        out.push(format!("+{} more ({n} {events})", rest.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_checked() {
        let ok = Choice::default();
        assert!(parse_choice(&ok, &Sinks::default()).is_ok());
        let bad = |f: fn(&mut Choice), field: usize| {
            let mut c = Choice::default();
            f(&mut c);
            let e = parse_choice(&c, &Sinks::default()).unwrap_err();
            assert_eq!(e.field, Some(field), "{e:?}");
            e.text
        };
        assert!(bad(|c| c.sink = "jsonl:-".into(), SINK).contains("terminal"));
        assert!(bad(|c| c.sink = "kafka://x".into(), SINK).contains("unknown sink"));
        assert!(bad(|c| c.rate = "fast".into(), RATE).contains("rate"));
        assert!(bad(|c| c.max_in_flight = "0".into(), MAX_IN_FLIGHT).contains("max in flight"));
        assert!(bad(|c| c.subject = "a.{nope}".into(), SUBJECT).contains("unknown"));
        let c = Choice {
            sink: "jsonl:/tmp/x.jsonl".into(),
            rate: "250".into(),
            ..Default::default()
        };
        let (spec, rate, max) = parse_choice(&c, &Sinks::default()).unwrap();
        assert_eq!(
            spec,
            SinkSpec::Jsonl {
                path: Some("/tmp/x.jsonl".into())
            }
        );
        assert_eq!((rate, max), (Some(250.0), replay::DEFAULT_MAX_IN_FLIGHT));
    }

    #[test]
    fn a_histogram_cut_short_says_how_many_more() {
        let m: std::collections::BTreeMap<String, u64> =
            (1..=9u64).map(|i| (format!("Type{i}"), i * 10)).collect();
        let rows = histogram(&m, 6);
        assert_eq!(rows.len(), 7);
        assert!(
            rows[0].starts_with("Type9 ") && rows[0].ends_with(" 90"),
            "{rows:?}"
        );
        assert!(rows[5].starts_with("Type4 "), "{rows:?}");
        assert_eq!(rows[6], "+3 more (60 events)");
        assert_eq!(histogram(&m, 9).len(), 9, "nothing cut, nothing said");
        let one: std::collections::BTreeMap<String, u64> =
            [("A".to_string(), 5), ("B".to_string(), 1)].into();
        assert_eq!(histogram(&one, 1)[1], "+1 more (1 event)");
    }

    #[test]
    fn ctrl_u_clears_the_focused_field() {
        let mut d = Dialog::new(
            Range::default(),
            "the log".into(),
            Choice::default(),
            Sinks::default(),
        );
        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        d.on_key(key(KeyCode::Tab));
        d.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        let Stage::Form { fields, focus, .. } = &d.stage else {
            panic!("the form")
        };
        assert_eq!(*focus, SUBJECT);
        assert_eq!(fields[SUBJECT].lines().join(""), "");
        assert_eq!(fields[SINK].lines().join(""), Choice::default().sink);
        d.on_key(key(KeyCode::BackTab));
        d.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        d.on_key(key(KeyCode::Char('x')));
        let Stage::Form { fields, .. } = &d.stage else {
            panic!("the form")
        };
        assert_eq!(fields[SINK].lines().join(""), "x");
    }

    #[test]
    fn a_sink_profile_of_the_config_gives_its_servers_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret").unwrap();
        let mut sinks = std::collections::BTreeMap::new();
        sinks.insert(
            "bus".to_string(),
            crate::config::SinkProfile {
                url: Some("nats://127.0.0.1:4222".into()),
                subject: Some("from.profile.{type}".into()),
                token_file: Some(token),
                ..Default::default()
            },
        );
        let sinks = Sinks::new(sinks);
        let c = Choice {
            sink: "profile:bus".into(),
            subject: String::new(),
            rate: String::new(),
            max_in_flight: "256".into(),
        };
        let (spec, _, _) = parse_choice(&c, &sinks).unwrap();
        let text = format!("{spec:?}");
        assert!(
            text.contains("127.0.0.1:4222") && text.contains("from.profile"),
            "{text}"
        );
        assert!(
            !text.contains("s3cret"),
            "the token is read when connecting, never shown"
        );
        let e = parse_choice(
            &Choice {
                sink: "profile:nope".into(),
                ..c
            },
            &sinks,
        )
        .unwrap_err();
        assert!(format!("{e:?}").contains("sinks: bus"), "{e:?}");
    }
}
