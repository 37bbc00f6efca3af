//! Time travel: a stream's state rebuilt one event at a time, with what each event changed.
//! A worker task owns the stream's [`Timeline`] and answers stepping commands in order, so
//! that `update` never awaits; presses queued while a fold runs add up into one fold.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{Ctx, Jump, MOVES, View, ViewKind, delta};
use crate::output::clip;
use crate::rehydrate::diff::Change;
use crate::rehydrate::source::ReducerSource;
use crate::rehydrate::timeline::{Step, Timeline};
use crate::store::model::format_time;
use crate::store::{Event, Store};
use crate::tui::keys::Command;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::widgets::{block, event_table, json};

#[derive(Debug, Clone)]
pub enum Cmd {
    /// Move by this many events (presses queued while a fold runs add up).
    By(i64),
    Start,
    End,
    Goto(i64),
    AsOf(chrono::DateTime<chrono::Utc>),
    /// Reload the reducer file and refold to the current version.
    Reload,
}

/// What the view shows: the step, with the lines of the state built once.
#[derive(Debug, Clone)]
pub struct Shown {
    pub step: Step,
    pub first_version: i64,
    pub last_version: i64,
    pub fold_name: String,
    /// Paths changed by the step (for highlighting in the state).
    pub changed: Vec<String>,
    /// When the first and the last event were recorded.
    pub first_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The versions the store has snapshots at (marked on the timeline).
    pub snapshots: std::sync::Arc<Vec<i64>>,
}

/// Snapshot versions marked on the timeline at most.
const SNAPSHOT_MARKS: u32 = 500;

/// A step, or why there is none.
struct Answer(Result<Box<Shown>, String>);

/// How far a fold in progress has got.
struct Progress {
    version: i64,
    target: i64,
}

/// The task that owns the stream's timeline; it stops when the view is dropped.
struct Worker {
    tx: UnboundedSender<(u64, Cmd)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    store: Store,
    stream: String,
    source: ReducerSource,
    at: Option<i64>,
    first_id: u64,
    mut rx: UnboundedReceiver<(u64, Cmd)>,
    (app, progress): (Replier<Answer>, Replier<Progress>),
) {
    let reply = |id: u64, r: Result<Shown, String>| {
        app.with_req(id).send(Answer(r.map(Box::new)));
    };
    let reducers = match source.load() {
        Ok(r) => r,
        Err(e) => return reply(first_id, Err(e.to_string())),
    };
    let fold = match reducers.fold_in(&store, &stream).await {
        Ok(f) => f,
        Err(e) => return reply(first_id, Err(e.to_string())),
    };
    let mut t = match Timeline::open(store.clone(), &stream, fold).await {
        Ok(t) => t,
        Err(e) => return reply(first_id, Err(e.to_string())),
    };
    t.progress = Some(std::sync::Arc::new(move |version, target| {
        progress.send(Progress { version, target });
    }));
    // The snapshot versions, for the timeline's markers (a store without snapshots has none;
    // failing to read them only loses the markers).
    let snapshots = std::sync::Arc::new(
        store
            .snapshots(&stream, None, false, SNAPSHOT_MARKS)
            .await
            .map(|v| v.iter().map(|s| s.stream_version).collect::<Vec<i64>>())
            .unwrap_or_default(),
    );
    let shown = |t: &Timeline, step: Step| Shown {
        first_at: t.first_at,
        last_at: t.last_at,
        snapshots: snapshots.clone(),
        changed: step
            .changes
            .iter()
            .map(|c: &Change| c.path().to_string())
            .collect(),
        step,
        first_version: t.first_version,
        last_version: t.last_version,
        fold_name: t.fold.name(),
    };
    let first = t
        .goto(at.unwrap_or(t.last_version))
        .await
        .map(|s| shown(&t, s))
        .map_err(|e| e.to_string());
    reply(first_id, first);
    while let Some((id, cmd)) = rx.recv().await {
        // What is queued behind it is taken now: moves add up (every press counts), an
        // absolute command supersedes what came before it; only the newest id is answered.
        let mut id = id;
        let mut queue = vec![cmd];
        while let Ok((i, c)) = rx.try_recv() {
            queue.push(c);
            id = i;
        }
        let (base, delta) = coalesce(queue);
        let absolute = base.is_some();
        let mut result = match base {
            Some(cmd) => apply(&mut t, cmd, &store, &stream, &source).await,
            None => Ok(None),
        };
        // Moves that cancel out still answer, with the step where the view is.
        if result.is_ok() && (delta != 0 || !absolute) {
            result = apply(&mut t, Cmd::By(delta), &store, &stream, &source).await;
        }
        match result {
            Ok(Some(step)) => reply(id, Ok(shown(&t, step))),
            Ok(None) => {}
            Err(e) => reply(id, Err(e)),
        }
    }
}

/// Run one command on the timeline (Reload replaces it).
async fn apply(
    t: &mut Timeline,
    cmd: Cmd,
    store: &Store,
    stream: &str,
    source: &ReducerSource,
) -> Result<Option<Step>, String> {
    let step = match cmd {
        Cmd::By(n) => {
            let at = t.current.as_ref().and_then(|s| s.version);
            let target = match at {
                Some(v) => v.saturating_add(n),
                None if n > 0 => t.first_version.saturating_add(n - 1),
                None => t.first_version - 1,
            };
            t.goto(target.max(t.first_version - 1)).await
        }
        Cmd::Start => t.start().await,
        Cmd::End => t.end().await,
        Cmd::Goto(v) => t.goto(v).await,
        Cmd::AsOf(time) => t.as_of(time).await,
        Cmd::Reload => {
            let version = t
                .current
                .as_ref()
                .and_then(|s| s.version)
                .unwrap_or(t.first_version - 1);
            let r = source.load().map_err(|e| e.to_string())?;
            let fold = r.fold_in(store, stream).await.map_err(|e| e.to_string())?;
            let mut nt = Timeline::open(store.clone(), stream, fold)
                .await
                .map_err(|e| e.to_string())?;
            nt.progress = t.progress.take();
            *t = nt;
            t.goto(version).await
        }
    };
    step.map(Some).map_err(|e| e.to_string())
}

/// Commands queued one after the other, as one: the last absolute command, and the sum of
/// the moves after it.
fn coalesce(queue: Vec<Cmd>) -> (Option<Cmd>, i64) {
    let mut base = None;
    let mut delta = 0i64;
    for c in queue {
        match c {
            Cmd::By(n) => delta = delta.saturating_add(n),
            other => {
                base = Some(other);
                delta = 0;
            }
        }
    }
    (base, delta)
}

pub struct TimeTravelView {
    pub stream: String,
    worker: Worker,
    step: Slot,
    pub shown: Option<Shown>,
    /// The state's lines, built when a step arrives.
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
    pub error: Option<String>,
    /// (version reached, target) of a fold in progress.
    pub progress: Option<(i64, i64)>,
    /// Where the view starts (None: the stream's last version); taken by `start`.
    at: Option<Option<i64>>,
}

impl TimeTravelView {
    /// The view on `stream` at version `at` (its last when None); the worker starts when the
    /// view is shown.
    pub fn new(stream: String, at: Option<i64>) -> TimeTravelView {
        let (tx, _) = unbounded_channel();
        TimeTravelView {
            stream,
            worker: Worker {
                tx,
                task: tokio::spawn(async {}),
            },
            step: Slot::default(),
            shown: None,
            lines: vec![],
            scroll: 0,
            error: None,
            progress: None,
            at: Some(at),
        }
    }

    fn send(&mut self, cmd: Cmd, ctx: &mut Ctx) {
        let id = ctx.id();
        self.step.expect(id);
        let _ = self.worker.tx.send((id, cmd));
    }

    fn state_height(area: Rect) -> usize {
        // Borders, the timeline's four lines, the state pane's borders.
        area.height.saturating_sub(8) as usize
    }

    fn on_answer(&mut self, answer: Answer, ctx: &mut Ctx) {
        self.progress = None;
        match answer.0 {
            Ok(shown) => {
                let hl: std::collections::HashSet<String> = shown.changed.iter().cloned().collect();
                self.lines = json::highlighted_lines(&shown.step.state, ctx.theme, &hl);
                // Keep the first changed line in view.
                let changed = ctx.theme.changed();
                if let Some(i) = self.lines.iter().position(|l| l.style == changed) {
                    let h = Self::state_height(ctx.area);
                    if i < self.scroll || i >= self.scroll + h {
                        self.scroll = i.saturating_sub(2);
                    }
                }
                self.error = None;
                self.shown = Some(*shown);
            }
            Err(e) => self.error = Some(e),
        }
    }
}

impl View for TimeTravelView {
    fn kind(&self) -> ViewKind {
        ViewKind::TimeTravel
    }

    fn name(&self) -> String {
        format!("Time travel · {}", self.stream)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        let Some(at) = self.at.take() else { return };
        let id = ctx.id();
        self.step.expect(id);
        let (tx, rx) = unbounded_channel();
        let task = tokio::spawn(run(
            ctx.store.clone(),
            self.stream.clone(),
            ctx.reducers.clone(),
            at,
            id,
            rx,
            (ctx.replier_for(id), ctx.replier_for(0)),
        ));
        self.worker = Worker { tx, task };
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = Self::state_height(ctx.area);
        if let Some(d) = delta(cmd, h) {
            let max = self.lines.len().saturating_sub(1) as isize;
            self.scroll = (self.scroll as isize + d).clamp(0, max) as usize;
            return true;
        }
        match cmd {
            Command::StepBack => self.send(Cmd::By(-1), ctx),
            Command::StepForward => self.send(Cmd::By(1), ctx),
            Command::Home => self.send(Cmd::Start, ctx),
            Command::End => self.send(Cmd::End, ctx),
            Command::Refresh => {
                self.send(Cmd::Reload, ctx);
                ctx.status("reloading the reducers (the version is kept)");
            }
            // Tab stays in the view (it would switch to the log).
            Command::NextPane => {}
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx) {
        let payload = match payload.downcast::<Progress>() {
            Ok(p) => {
                if self.step.is_pending() {
                    self.progress = Some((p.version, p.target));
                }
                return;
            }
            Err(p) => p,
        };
        if let Ok(a) = payload.downcast::<Answer>() {
            if self.step.accept(req) {
                self.on_answer(*a, ctx);
            }
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        use crate::rehydrate::timeline::Origin;
        let folding = match self.progress {
            Some((v, target)) => format!("folding… v{v} of v{target}"),
            None => "folding…".into(),
        };
        let Some(sh) = &self.shown else {
            let msg = self.error.clone().unwrap_or(folding);
            let style = if self.error.is_some() {
                theme.error
            } else {
                theme.loading
            };
            let b = block(theme, format!(" Time travel · {} ", self.stream));
            f.render_widget(Paragraph::new(msg).style(style).block(b), area);
            return;
        };
        let step = &sh.step;
        let at = step
            .version
            .map_or("before the first event".to_string(), |v| format!("v{v}"));
        let title = format!(
            " Time travel · {} · {at} of v{}..v{} · {} ",
            self.stream, sh.first_version, sh.last_version, sh.fold_name
        );
        let outer = block(theme, title);
        let inner_area = outer.inner(area);
        f.render_widget(outer, area);
        let [bar, body] =
            Layout::vertical([Constraint::Length(4), Constraint::Fill(1)]).areas(inner_area);
        let origin = match &step.origin {
            Origin::Initial => "from the initial state".to_string(),
            Origin::Checkpoint { version } => format!("from the checkpoint at v{version}"),
            Origin::Current { version } => format!("from v{version}"),
            Origin::Snapshot { version } => format!("from the store's snapshot at v{version}"),
            Origin::Kept => "kept from the last fold".to_string(),
        };
        let info = if self.step.is_pending() && self.progress.is_some() {
            format!(" {folding}")
        } else {
            format!(
                " {origin}, {} event(s) folded · ←/→ step · Home/End · g version/time · r reload reducers",
                step.folded
            )
        };
        let mut lines = timeline(sh, bar.width.saturating_sub(2) as usize, theme);
        lines.push(Line::styled(info, theme.muted));
        f.render_widget(Paragraph::new(lines), bar);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        let h = left.height.saturating_sub(2) as usize;
        let end = (self.scroll + h).min(self.lines.len());
        let state_title = if step.error.is_some() {
            " State before the failing event "
        } else {
            " State "
        };
        f.render_widget(
            Paragraph::new(self.lines[self.scroll.min(end)..end].to_vec())
                .block(block(theme, state_title)),
            left,
        );
        f.render_widget(
            Paragraph::new(change_lines(step, self.error.as_deref(), theme))
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(block(theme, " Event and changes ")),
            right,
        );
    }

    fn status(&self) -> String {
        let v = self.shown.as_ref().and_then(|s| s.step.version);
        format!(
            "· time travel {} {} ",
            self.stream,
            v.map_or("(start)".to_string(), |v| format!("v{v}"))
        )
    }

    fn is_loading(&self) -> bool {
        self.step.is_pending()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.extend([Command::StepBack, Command::StepForward, Command::Refresh]);
        c
    }

    fn selected_event(&self) -> Option<&Event> {
        self.shown.as_ref()?.step.event.as_ref()
    }

    fn stream(&self) -> Option<String> {
        Some(self.stream.clone())
    }

    fn jump(&mut self, j: &Jump, ctx: &mut Ctx) -> bool {
        match j {
            Jump::Number(v) => self.send(Cmd::Goto(*v), ctx),
            Jump::Time(t) => self.send(Cmd::AsOf(*t), ctx),
            Jump::EventId(_) | Jump::Stream(_) => return false,
        }
        true
    }
}

/// The timeline, three lines: the track (● where this step is, ◆ the store's snapshots),
/// version ticks under it, and the dates of its ends with the step's own under the ●.
fn timeline(sh: &Shown, w: usize, theme: &Theme) -> Vec<Line<'static>> {
    let w = w.max(1);
    let span = (sh.last_version - sh.first_version).max(1);
    let at = |v: i64| ((v - sh.first_version).clamp(0, span) as usize * (w - 1)) / span as usize;
    let pos = sh.step.version.map(at);
    let mut track = vec!['─'; w];
    for v in sh.snapshots.iter() {
        if (sh.first_version..=sh.last_version).contains(v) {
            track[at(*v)] = '◆';
        }
    }
    // Ticks: the ends, and versions spread between them where there is room for labels.
    let mut labels = vec![' '; w];
    let ticks = (w / 14).clamp(2, 9) as i64;
    for i in 0..ticks {
        let v = sh.first_version + i * span / (ticks - 1).max(1);
        let x = at(v);
        if track[x] == '─' {
            track[x] = '┼';
        }
        let text: Vec<char> = format!("v{v}").chars().collect();
        let start = if i == ticks - 1 {
            w.saturating_sub(text.len())
        } else {
            x.min(w.saturating_sub(text.len()))
        };
        if labels[start..(start + text.len()).min(w)]
            .iter()
            .all(|c| *c == ' ')
            && (start == 0 || labels[start - 1] == ' ')
        {
            for (j, c) in text.iter().enumerate() {
                if start + j < w {
                    labels[start + j] = *c;
                }
            }
        }
    }
    let mut spans: Vec<Span<'static>> = vec![Span::raw(" ")];
    for (i, c) in track.iter().enumerate() {
        let (ch, style) = match (Some(i) == pos, c) {
            (true, _) => (
                '●',
                theme.accent.add_modifier(ratatui::style::Modifier::BOLD),
            ),
            (false, '◆') => ('◆', theme.warning),
            (false, c) => (*c, theme.border),
        };
        spans.push(Span::styled(ch.to_string(), style));
    }
    // The dates: the first at the left, the last at the right, the step's under the ●.
    let date = |t: &Option<chrono::DateTime<chrono::Utc>>| {
        t.as_ref().map_or("?".into(), |t| {
            event_table::time(t, 0, theme.local_time)[..10].to_string()
        })
    };
    let mut dates = vec![' '; w];
    let mut put = |text: &str, start: usize| {
        let text: Vec<char> = text.chars().collect();
        let start = start.min(w.saturating_sub(text.len()));
        let free =
            (start.saturating_sub(1)..(start + text.len() + 1).min(w)).all(|i| dates[i] == ' ');
        if free {
            for (j, c) in text.iter().enumerate() {
                if start + j < w {
                    dates[start + j] = *c;
                }
            }
        }
    };
    if let (Some(p), Some(e)) = (pos, sh.step.event.as_ref()) {
        let d = date(&e.recorded_at);
        put(&d, p.saturating_sub(d.len() / 2));
    }
    put(&date(&sh.first_at), 0);
    let last = date(&sh.last_at);
    put(&last, w.saturating_sub(last.len()));
    vec![
        Line::from(spans),
        Line::styled(
            format!(" {}", labels.iter().collect::<String>()),
            theme.muted,
        ),
        Line::styled(
            format!(" {}", dates.iter().collect::<String>()),
            theme.muted,
        ),
    ]
}

/// The right pane: the event of the step, and what it changed (or why the reducer failed).
fn change_lines(step: &Step, error: Option<&str>, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &step.event {
        lines.push(Line::from(vec![
            Span::styled(e.event_type.clone(), theme.accent),
            Span::raw(format!("  v{}", e.stream_version)),
        ]));
        lines.push(Line::styled(
            format!(
                "{} · position {}",
                e.recorded_at.as_ref().map_or("?".into(), format_time),
                e.global_position.map_or("-".into(), |p| p.to_string())
            ),
            theme.muted,
        ));
        lines.push(Line::raw(clip(&e.data.to_string(), 2000)));
        lines.push(Line::raw(""));
    }
    if let Some(err) = &step.error {
        lines.push(Line::styled(
            "The reducer failed on this event:",
            theme.error,
        ));
        lines.push(Line::styled(err.cause.to_string(), theme.error));
        if let Some(src) = &err.filter {
            lines.push(Line::raw(format!("filter: {src}")));
        }
    } else if step.changes.is_empty() {
        let what = if step.event.is_some() {
            "no change"
        } else {
            "the initial state"
        };
        lines.push(Line::styled(what, theme.muted));
    } else {
        lines.push(Line::styled("Changes", theme.header));
        for c in &step.changes {
            let (sign, text, style) = match c {
                Change::Added { path, new } => (
                    "+",
                    format!("{path} = {}", clip(&new.to_string(), 200)),
                    theme.json_string,
                ),
                Change::Removed { path, old } => (
                    "-",
                    format!("{path} (was {})", clip(&old.to_string(), 200)),
                    theme.error,
                ),
                Change::Changed { path, old, new, .. } => (
                    "~",
                    format!(
                        "{path}: {} → {}",
                        clip(&old.to_string(), 100),
                        clip(&new.to_string(), 100)
                    ),
                    theme.warning,
                ),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{sign} "), style),
                Span::raw(text),
            ]));
        }
    }
    if let Some(e) = error {
        lines.push(Line::styled(format!("error: {e}"), theme.error));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_moves_add_up_and_absolute_commands_supersede() {
        let (base, delta) = coalesce(vec![Cmd::By(1); 200]);
        assert!(base.is_none());
        assert_eq!(delta, 200);
        assert_eq!(coalesce(vec![Cmd::By(5), Cmd::By(-7)]).1, -2);
        let (base, delta) = coalesce(vec![Cmd::By(5), Cmd::End]);
        assert!(matches!(base, Some(Cmd::End)) && delta == 0);
        // End, then one back: both count.
        let (base, delta) = coalesce(vec![Cmd::End, Cmd::By(-1)]);
        assert!(matches!(base, Some(Cmd::End)) && delta == -1);
    }
}
