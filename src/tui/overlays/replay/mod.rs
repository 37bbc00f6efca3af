//! The replay dialog: choose the sink, read the dry run, confirm by typing the event count;
//! then a progress panel with pause, resume and cancel. Planning and the job run in spawned
//! tasks through the same `replay::plan` and `replay::run` as `evscope replay`.

mod dialog;
mod panel;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::TextArea;
use tokio::task::JoinHandle;

pub use dialog::{Action, Choice, Dialog, FormError, Ready, SINK, Sinks, Stage, parse_choice};
pub use panel::Running;

use crate::replay::job::{JobStore, Status};
use crate::replay::range::EventRef;
use crate::replay::{self, Control, Progress, Range, SinkSpec};
use crate::store::Store;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::views::ReplayScope;

/// What the planning task and the running job report.
pub enum Update {
    /// The sink can be used: the dry run starts.
    SinkChecked,
    /// The dry run has counted this many events so far.
    Counted(u64),
    /// The dry run waits for positions held by open transactions.
    Waiting(String),
    Planned(Result<Box<Ready>, FormError>),
    Progress(Box<Progress>),
    /// The job ended (its final status), or could not start.
    Done(Result<Status, String>),
}

/// Plan: ask whether the sink can be used (the sink field's error if not: nothing is counted
/// for a sink that would fail the job), then fix the range's end, count it (reporting as it
/// goes), ask the bus.
async fn plan(
    store: Store,
    reply: Replier<Update>,
    what: (Range, SinkSpec, Option<f64>, usize),
) -> Update {
    let (mut range, spec, rate, max_in_flight) = what;
    if let Err(e) = spec.check().await {
        return Update::Planned(Err(FormError::at(SINK, e.message)));
    }
    reply.send(Update::SinkChecked);
    let result = async {
        range.validate(&store).map_err(|e| e.to_string())?;
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
    Update::Planned(result.map_err(FormError::range))
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
    /// The config file's named sinks (`profile:NAME` in the sink field).
    pub sinks: Sinks,
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
            sinks: Sinks::default(),
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
        self.dialog = Some(Dialog::new(
            range,
            source,
            self.choice.clone(),
            self.sinks.clone(),
        ));
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
                        checked: false,
                        counted: 0,
                        waiting: None,
                    };
                    self.planning
                        .start(reply.clone(), plan(store.clone(), reply, *what));
                    Outcome::Taken
                }
                Action::Start(ready) => {
                    self.dialog = None;
                    self.job = Some(panel::spawn_run(
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
            Update::SinkChecked | Update::Counted(_) => {
                if let Some(Stage::Planning {
                    id,
                    checked,
                    counted,
                    ..
                }) = self.dialog.as_mut().map(|d| &mut d.stage)
                {
                    if *id == req {
                        *checked = true;
                        if let Update::Counted(n) = u {
                            *counted = n;
                        }
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
                        j.on_progress(*p);
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
            dialog::draw_dialog(f, area, d, theme);
        } else if let Some(j) = self.job.as_ref().filter(|j| j.shown) {
            panel::draw_panel(f, area, j, theme);
        }
    }
}

// ---- drawing ----

pub(super) fn block(theme: &Theme, title: String) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title, theme.title))
        .style(theme.base)
}

pub(super) fn event_ref(e: &Option<EventRef>) -> String {
    e.as_ref().map_or("-".into(), EventRef::describe)
}

pub(super) use crate::output::human_secs as secs;
