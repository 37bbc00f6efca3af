//! The replay dialog: choose the sink, read the dry run, confirm by typing the event count;
//! then a progress panel with pause, resume and cancel. Planning and the job run in spawned
//! tasks through the same `replay::plan` and `replay::run` as `evscope replay`.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph};
use ratatui_textarea::TextArea;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::replay::job::{Job, JobStore, Status};
use crate::replay::range::EventRef;
use crate::replay::sink::DEFAULT_SUBJECT;
use crate::replay::{self, BusCheck, Control, Plan, Progress, Range, SinkSpec};
use crate::store::Store;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::views::ReplayScope;

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

/// What the planning task and the running job report.
pub enum Update {
    /// The dry run has counted this many events so far.
    Counted(u64),
    /// The dry run waits for positions held by open transactions.
    Waiting(String),
    Planned(Result<Box<Ready>, String>),
    Progress(Box<Progress>),
    /// The job ended (its final status), or could not start.
    Done(Result<Status, String>),
}

/// Plan: fix the range's end, count it (reporting as it goes), ask the bus.
async fn plan(
    store: Store,
    reply: Replier<Update>,
    what: (Range, SinkSpec, Option<f64>, usize),
) -> Update {
    let (mut range, spec, rate, max_in_flight) = what;
    let result = async {
        range.validate(&store)?;
        let max_wait = replay::range::DEFAULT_MAX_WAIT;
        range
            .freeze(&store, max_wait)
            .await
            .map_err(|e| e.to_string())?;
        let plan = replay::plan(&store, &range, max_wait, move |p| {
            reply.send(match p {
                replay::range::PlanProgress::Counted(n) => Update::Counted(n),
                replay::range::PlanProgress::Waiting(w) => Update::Waiting(w.describe()),
            });
        })
        .await
        .map_err(|e| e.to_string())?;
        let bus = replay::check_bus(&spec, &plan).await;
        Ok::<_, String>(Box::new(Ready {
            range,
            plan,
            bus,
            spec,
            rate,
            max_in_flight,
        }))
    }
    .await;
    Update::Planned(result)
}

/// A job started from the TUI.
pub struct Running {
    pub id: String,
    pub total: u64,
    pub ctl: watch::Sender<Control>,
    pub progress: Option<Progress>,
    /// The final status, or why the job could not start.
    pub done: Option<Result<Status, String>>,
    /// The panel is on screen (Esc hides it; the job goes on).
    pub shown: bool,
    pub sink: String,
    pub range: String,
    pub handle: JoinHandle<()>,
}

impl Running {
    pub fn is_active(&self) -> bool {
        self.done.is_none()
    }

    pub fn paused(&self) -> bool {
        *self.ctl.borrow() == Control::Pause
    }

    /// One line for the status bar.
    pub fn summary(&self) -> String {
        let (done, status) = match &self.progress {
            Some(p) => (p.done, p.status.label()),
            None => (0, "starting"),
        };
        let status = match &self.done {
            Some(Ok(s)) => s.label(),
            Some(Err(_)) => "failed",
            None => status,
        };
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        format!("replay {status} {pct}% (R shows it)")
    }
}

/// Create the job and run it in a task; progress and the end come back as updates.
fn spawn_run(
    store: Store,
    reply: Replier<Update>,
    jobs_dir: std::path::PathBuf,
    ready: Ready,
) -> Running {
    let (ctl, rx) = watch::channel(Control::Run);
    let mut job = Job::new(
        &store,
        ready.range,
        ready.spec,
        ready.rate,
        ready.max_in_flight,
        ready.plan.total,
    );
    let (id, total) = (job.id.clone(), job.total);
    let (sink_text, range_text) = (job.sink.describe(), job.range.describe());
    let handle = tokio::spawn(async move {
        let result = async {
            let jobs = JobStore::open(jobs_dir)?;
            let (mut sink, _lock) = jobs.create(&mut job, Some("from the TUI"))?;
            let progress = reply.clone();
            let mut report = move |p: &Progress| {
                progress.send(Update::Progress(Box::new(p.clone())));
            };
            Ok::<_, String>(
                replay::run(&store, &jobs, &mut job, sink.as_mut(), rx, &mut report).await,
            )
        }
        .await;
        reply.send(Update::Done(result));
    });
    Running {
        id,
        total,
        ctl,
        progress: None,
        done: None,
        shown: true,
        sink: sink_text,
        range: range_text,
        handle,
    }
}

/// The replay overlay: the dialog while it is open, and the job started from it while it
/// runs and until its panel is closed. It outlives the views: a job goes on whatever is shown.
pub struct Overlay {
    pub dialog: Option<Dialog>,
    pub job: Option<Running>,
    /// The sink fields last used.
    pub choice: Choice,
    planning: Slot,
    /// Where replay jobs are kept (the data directory's `replay`).
    pub jobs_dir: std::path::PathBuf,
}

/// What the app must do after a key the overlay took.
pub enum Outcome {
    /// The key was the overlay's.
    Taken,
    /// A job started: the view's marks are spent.
    Started,
    /// Not the overlay's key.
    NotMine,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            dialog: None,
            job: None,
            choice: Choice::default(),
            planning: Slot::default(),
            jobs_dir: JobStore::default_dir(),
        }
    }
}

impl Overlay {
    /// Something is on screen that takes the keys.
    pub fn is_open(&self) -> bool {
        self.dialog.is_some() || self.job.as_ref().is_some_and(|j| j.shown)
    }

    /// `R`: the dialog for what the view shows, or the panel of the job already running.
    pub fn open(&mut self, scope: ReplayScope) -> Result<(), String> {
        if let Some(j) = &mut self.job {
            j.shown = true;
            return Ok(());
        }
        let (range, source) = scope?;
        self.dialog = Some(Dialog::new(range, source, self.choice.clone()));
        Ok(())
    }

    /// A key while the overlay is open; `reply` is where planning and the job report.
    pub fn on_key(
        &mut self,
        k: KeyEvent,
        store: &Store,
        reply: impl FnOnce() -> Replier<Update>,
    ) -> Outcome {
        if let Some(d) = &mut self.dialog {
            return match d.on_key(k) {
                Action::None => {
                    if matches!(d.stage, Stage::Form { .. }) {
                        self.planning.cancel();
                    }
                    Outcome::Taken
                }
                Action::Close => {
                    self.dialog = None;
                    self.planning.cancel();
                    Outcome::Taken
                }
                Action::Plan(what) => {
                    self.choice = d.choice.clone();
                    let reply = reply();
                    d.stage = Stage::Planning {
                        id: reply.req(),
                        counted: 0,
                        waiting: None,
                    };
                    self.planning
                        .start(reply.clone(), plan(store.clone(), reply, *what));
                    Outcome::Taken
                }
                Action::Start(ready) => {
                    self.dialog = None;
                    self.job = Some(spawn_run(
                        store.clone(),
                        reply(),
                        self.jobs_dir.clone(),
                        *ready,
                    ));
                    Outcome::Started
                }
            };
        }
        let Some(j) = self.job.as_mut().filter(|j| j.shown) else {
            return Outcome::NotMine;
        };
        // The progress panel: p pause/resume, c cancel, Esc hide (or close once it ended).
        match k.code {
            KeyCode::Char('p') if j.is_active() => {
                let next = if j.paused() {
                    Control::Run
                } else {
                    Control::Pause
                };
                let _ = j.ctl.send(next);
            }
            KeyCode::Char('c') if j.is_active() => {
                let _ = j.ctl.send(Control::Cancel);
            }
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                if j.is_active() {
                    j.shown = false;
                } else {
                    self.job = None;
                }
            }
            _ => {}
        }
        Outcome::Taken
    }

    /// A report from planning or from the job; the status line's text when the job ended
    /// while its panel was hidden (and whether it failed).
    pub fn on_update(&mut self, req: u64, u: Update) -> Option<(String, bool)> {
        match u {
            Update::Counted(n) => {
                if let Some(Stage::Planning { id, counted, .. }) =
                    self.dialog.as_mut().map(|d| &mut d.stage)
                {
                    if *id == req {
                        *counted = n;
                    }
                }
            }
            Update::Waiting(detail) => {
                if let Some(Stage::Planning { id, waiting, .. }) =
                    self.dialog.as_mut().map(|d| &mut d.stage)
                {
                    if *id == req {
                        *waiting = Some(detail);
                    }
                }
            }
            Update::Planned(result) => {
                if !self.planning.accept(req) {
                    return None;
                }
                if let Some(d) = &mut self.dialog {
                    match result {
                        Ok(ready) => {
                            d.stage = Stage::Confirm {
                                ready,
                                typed: TextArea::default(),
                                error: None,
                            }
                        }
                        Err(e) => d.back_to_form(Some(e)),
                    }
                }
            }
            Update::Progress(p) => {
                if let Some(j) = &mut self.job {
                    if p.job == j.id {
                        j.progress = Some(*p);
                    }
                }
            }
            Update::Done(result) => {
                let j = self.job.as_mut()?;
                let said = (!j.shown).then(|| {
                    let text = match &result {
                        Ok(s) => format!("replay {} {}", j.id, s.label()),
                        Err(e) => format!("replay could not start: {e}"),
                    };
                    (text, !matches!(result, Ok(Status::Completed)))
                });
                j.done = Some(result);
                return said;
            }
        }
        None
    }

    /// A job running from here.
    pub fn running(&self) -> Option<&Running> {
        self.job.as_ref().filter(|j| j.is_active())
    }

    /// Stop a running replay at its checkpoint (on quit); the task to wait for.
    pub fn stop(&mut self) -> Option<JoinHandle<()>> {
        let j = self.job.take()?;
        if !j.is_active() {
            return None;
        }
        let _ = j.ctl.send(Control::Stop);
        Some(j.handle)
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if let Some(d) = &self.dialog {
            draw_dialog(f, area, d, theme);
        } else if let Some(j) = self.job.as_ref().filter(|j| j.shown) {
            draw_panel(f, area, j, theme);
        }
    }
}

// ---- drawing ----

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn block(theme: &Theme, title: String) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title, theme.title))
        .style(theme.base)
}

fn event_ref(e: &Option<EventRef>) -> String {
    e.as_ref().map_or("-".into(), EventRef::describe)
}

use crate::output::human_secs as secs;

fn draw_dialog(f: &mut Frame, area: Rect, d: &Dialog, theme: &Theme) {
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

fn draw_panel(f: &mut Frame, area: Rect, j: &Running, theme: &Theme) {
    let r = centered(area, 76, 10);
    f.render_widget(Clear, r);
    let status = match (&j.done, &j.progress) {
        (Some(Ok(s)), _) => s.label().to_string(),
        (Some(Err(_)), _) => "could not start".into(),
        (None, Some(p)) => p.status.label().to_string(),
        (None, None) => "starting".into(),
    };
    let outer = block(theme, format!(" Replay {} · {status} ", j.id));
    let inner = outer.inner(r);
    f.render_widget(outer, r);
    let [g, info, _, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(6),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let done = j.progress.as_ref().map_or(0, |p| p.done);
    let ratio = if j.total > 0 {
        (done as f64 / j.total as f64).clamp(0.0, 1.0)
    } else {
        1.0
    };
    f.render_widget(
        Gauge::default()
            .gauge_style(theme.accent)
            .ratio(ratio)
            .label(format!("{done}/{} ({:.1}%)", j.total, ratio * 100.0)),
        g,
    );
    let mut lines = Vec::new();
    if let Some(p) = &j.progress {
        let mut l = format!("rate {:.0}/s", p.rate);
        if let Some(eta) = p.eta_secs.filter(|_| j.is_active()) {
            l.push_str(&format!(" · ETA {}", secs(eta)));
        }
        l.push_str(&format!(
            " · duplicates {} · errors {}",
            p.duplicates, p.errors
        ));
        lines.push(Line::raw(l));
        if let Some(last) = &p.last {
            lines.push(Line::raw(format!("last acknowledged: {last}")));
        }
        match &p.status {
            Status::Retrying { attempt, error } => lines.push(Line::styled(
                format!("bus unavailable, retry {attempt}: {error}"),
                theme.warning,
            )),
            Status::Failed { error } => {
                lines.push(Line::styled(format!("failed: {error}"), theme.error))
            }
            Status::Waiting { detail, .. } => {
                lines.push(Line::styled(format!("waiting: {detail}"), theme.warning))
            }
            _ => {}
        }
    }
    if let Some(Err(e)) = &j.done {
        lines.push(Line::styled(e.clone(), theme.error));
    }
    lines.push(Line::styled(format!("sink  {}", j.sink), theme.muted));
    lines.push(Line::styled(format!("range {}", j.range), theme.muted));
    f.render_widget(Paragraph::new(lines), info);
    let k = if j.is_active() {
        if j.paused() {
            "p resume · c cancel · Esc hide (the job goes on)"
        } else {
            "p pause · c cancel · Esc hide (the job goes on)"
        }
    } else {
        match &j.done {
            Some(Ok(s)) if s.resumable() => "Esc close · continue later: evscope replay resume ID",
            _ => "Esc close",
        }
    };
    f.render_widget(Paragraph::new(Span::styled(k, theme.muted)), keys);
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
