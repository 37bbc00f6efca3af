//! The progress panel of a job started from the TUI: pause, resume, cancel, hide.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Gauge, Paragraph};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Ready, Update, block, secs};
use crate::replay::job::{Job, JobStore, Status};
use crate::replay::{self, Control, Progress};
use crate::store::Store;
use crate::tui::request::Replier;
use crate::tui::theme::Theme;
use crate::tui::widgets::centered;

/// A job started from the TUI.
pub struct Running {
    pub id: String,
    pub total: u64,
    pub ctl: watch::Sender<Control>,
    pub progress: Option<Progress>,
    /// The last rate measured above zero: what a paused job shows (its own rate is gone).
    pub last_rate: Option<f64>,
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

    pub fn on_progress(&mut self, p: Progress) {
        if p.rate > 0.0 {
            self.last_rate = Some(p.rate);
        }
        self.progress = Some(p);
    }

    /// The panel's line of figures: the rate and the ETA, or while paused the rate before
    /// the pause and no ETA ("—, paused"); duplicates and errors.
    pub fn figures(&self, p: &Progress) -> String {
        let mut l = if self.is_active() && p.status == Status::Paused {
            let rate = self.last_rate.map_or("rate —".into(), |r| {
                format!("rate {r:.0}/s before the pause")
            });
            format!("{rate} · ETA —, paused")
        } else {
            let mut l = format!("rate {:.0}/s", p.rate);
            if let Some(eta) = p.eta_secs.filter(|_| self.is_active()) {
                l.push_str(&format!(" · ETA {}", secs(eta)));
            }
            l
        };
        l.push_str(&format!(
            " · duplicates {} · errors {}",
            p.duplicates, p.errors
        ));
        l
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
pub fn spawn_run(
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
            let jobs = JobStore::open(jobs_dir).map_err(|e| e.to_string())?;
            let (mut sink, _lock) = jobs
                .create(&mut job, Some("from the TUI"))
                .map_err(|e| e.to_string())?;
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
        last_rate: None,
        done: None,
        shown: true,
        sink: sink_text,
        range: range_text,
        handle,
    }
}

pub fn draw_panel(f: &mut Frame, area: Rect, j: &Running, theme: &Theme) {
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
        lines.push(Line::raw(j.figures(p)));
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
