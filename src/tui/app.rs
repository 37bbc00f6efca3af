//! The app: the view stack, the routing of keys and replies to the views, the overlays, the
//! status line. `update` takes a message, changes state and may start work (never awaited);
//! `draw` turns state into a frame, with no side effects. Everything a view shows and does is
//! in the view (`views/`); what is drawn over them is in `overlays/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::Frame;
use ratatui::crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use unicode_width::UnicodeWidthStr;

use super::keys::{COMMANDS, Command, KeyMap};
use super::overlays::export;
use super::overlays::help::{Help, HelpFor};
use super::overlays::input::{self, InputKind, Inputs};
use super::overlays::palette::{self, Action, Palette};
use super::overlays::replay;
use super::request::{Msg, Reply, Slot, Target, downcast};
use super::theme::Theme;
use super::views::audit::AuditView;
use super::views::detail::{self, DetailView, Found};
use super::views::events::{EventsView, RowKey};
use super::views::snapshot_list::SnapshotList;
use super::views::streams::StreamsView;
use super::views::timetravel::TimeTravelView;
use super::views::{Ctx, Effect, Jump, View, ViewKind, parse_jump};
use super::widgets::fit_words;
use super::widgets::window::Anchor;
use crate::filter;
use crate::rehydrate::source::ReducerSource;
use crate::store::{Cursor, Store};

pub use super::views::events::PAGE;

/// The app's own requests (the export and replay overlays, an event looked up by id).
const APP: Target = 0;

pub struct App {
    pub store: Store,
    tx: UnboundedSender<Msg>,
    pub keys: KeyMap,
    pub theme: Theme,
    pub size: Size,
    pub quit: bool,
    pub dirty: bool,
    next_id: u64,
    /// The views shown, the last on top; the first is a root (the log or the stream list).
    stack: Vec<(Target, Box<dyn View>)>,
    /// The other root, kept while the first is shown (1, 2 and Tab switch between them).
    parked: Option<(Target, Box<dyn View>)>,
    next_target: Target,
    /// Where the reducers for time travel (and the snapshot checks) come from.
    pub reducers: ReducerSource,
    pub inputs: Inputs,
    pub help: Help,
    /// The command palette (`:`), while open.
    pub palette: Option<Palette>,
    pub replay: replay::Overlay,
    /// `q` was pressed once while a replay runs.
    quit_armed: bool,
    pub status: Option<(String, bool)>,
    pub export: export::Overlay,
    find: Slot,
    /// Where `e` writes its file (the working directory unless set).
    pub export_dir: PathBuf,
    pub started: Instant,
    /// Set when the first page with rows has been drawn (start-up latency figure).
    pub first_data: Option<Duration>,
}

impl App {
    pub fn new(
        store: Store,
        tx: UnboundedSender<Msg>,
        keys: KeyMap,
        theme: Theme,
        size: Size,
    ) -> App {
        App {
            store,
            tx,
            keys,
            theme,
            size,
            quit: false,
            dirty: true,
            next_id: 0,
            stack: Vec::new(),
            parked: None,
            next_target: APP,
            reducers: ReducerSource::None,
            inputs: Inputs::default(),
            help: Help::default(),
            palette: None,
            replay: replay::Overlay::default(),
            quit_armed: false,
            status: None,
            export: export::Overlay::default(),
            find: Slot::default(),
            export_dir: PathBuf::from("."),
            started: Instant::now(),
            first_data: None,
        }
    }

    /// The first view: the newest events of the log.
    pub fn start(&mut self) {
        self.push(Box::new(EventsView::log()));
    }

    // ---- what tests and benches look at --------------------------------------------------

    pub fn view(&self) -> ViewKind {
        self.top().map_or(ViewKind::Log, |v| v.kind())
    }

    /// The kinds on the stack, bottom first.
    pub fn views(&self) -> Vec<ViewKind> {
        self.stack.iter().map(|(_, v)| v.kind()).collect()
    }

    pub fn top(&self) -> Option<&dyn View> {
        self.stack.last().map(|(_, v)| v.as_ref())
    }

    /// The topmost view of type `T` on the stack (or the parked root).
    pub fn find<T: View>(&self) -> Option<&T> {
        self.stack
            .iter()
            .rev()
            .chain(self.parked.iter())
            .find_map(|(_, v)| v.as_ref().as_any().downcast_ref::<T>())
    }

    pub fn find_mut<T: View>(&mut self) -> Option<&mut T> {
        self.stack
            .iter_mut()
            .rev()
            .chain(self.parked.iter_mut())
            .find_map(|(_, v)| v.as_mut().as_any_mut().downcast_mut::<T>())
    }

    /// The global log view (shown or parked).
    pub fn log(&self) -> Option<&EventsView> {
        self.stack
            .iter()
            .chain(self.parked.iter())
            .filter_map(|(_, v)| v.as_ref().as_any().downcast_ref::<EventsView>())
            .find(|v| v.kind() == ViewKind::Log)
    }

    pub fn is_loading(&self) -> bool {
        self.top().is_some_and(|v| v.is_loading())
            || self.export.is_busy()
            || self.find.is_pending()
    }

    /// Rows available to a list in the current layout.
    pub fn list_height(&self) -> usize {
        self.main_area().height.saturating_sub(3) as usize
    }

    fn main_area(&self) -> Rect {
        Areas::new(
            Rect::new(0, 0, self.size.width, self.size.height),
            self.inputs.open.is_some(),
        )
        .main
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some((text.into(), error));
        self.dirty = true;
    }

    // ---- the stack -----------------------------------------------------------------------

    /// Run `f` on the view `target` with its context, then do what it asked.
    fn with_view(&mut self, target: Target, f: impl FnOnce(&mut dyn View, &mut Ctx)) -> bool {
        let area = self.main_area();
        let mut effects = Vec::new();
        let found = {
            let view = self
                .stack
                .iter_mut()
                .chain(self.parked.iter_mut())
                .find(|(t, _)| *t == target)
                .map(|(_, v)| v);
            match view {
                Some(v) => {
                    let mut ctx = Ctx::new(
                        &self.store,
                        &self.theme,
                        &self.reducers,
                        area,
                        &self.tx,
                        target,
                        &mut self.next_id,
                        &mut effects,
                    );
                    f(v.as_mut(), &mut ctx);
                    true
                }
                None => false,
            }
        };
        self.apply(target, effects);
        self.dirty = true;
        found
    }

    /// Run `f` on the view shown.
    fn with_top(&mut self, f: impl FnOnce(&mut dyn View, &mut Ctx)) -> bool {
        match self.stack.last().map(|(t, _)| *t) {
            Some(t) => self.with_view(t, f),
            None => false,
        }
    }

    fn apply(&mut self, from: Target, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Push(v) => self.push(v),
                Effect::Pop => {
                    if self.stack.len() > 1 {
                        self.stack.retain(|(t, _)| *t != from);
                    }
                }
                Effect::Status(text, error) => self.set_status(text, error),
                Effect::ShowLog(at) => self.show_log(at),
            }
        }
    }

    /// Show a view on top of the stack and start it. A view of a kind that is kept once
    /// replaces the one on the stack (which is dropped with its work).
    pub fn push(&mut self, v: Box<dyn View>) {
        let kind = v.kind();
        if kind.unique() {
            self.stack.retain(|(_, x)| x.kind() != kind);
        }
        self.next_target += 1;
        let target = self.next_target;
        self.stack.push((target, v));
        self.with_view(target, |v, ctx| v.start(ctx));
    }

    /// Back: the view on top is dropped (with its running requests); at the root, a filter
    /// in force is cleared.
    fn back(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        } else if self
            .top()
            .and_then(|v| v.query())
            .is_some_and(|q| !q.is_empty())
        {
            self.with_top(|v, ctx| v.set_query(filter::empty_query(), ctx));
        }
        self.dirty = true;
    }

    /// Show a root: the log or the stream list. The views above the current root go; the
    /// other root is kept as it was.
    fn switch_root(&mut self, kind: ViewKind) {
        if self.stack.first().is_some_and(|(_, v)| v.kind() == kind) {
            self.stack.truncate(1);
            self.dirty = true;
            return;
        }
        self.stack.truncate(1);
        let current = self.stack.pop();
        match self.parked.take() {
            Some(p) if p.1.kind() == kind => {
                self.stack.push(p);
                self.parked = current;
            }
            other => {
                self.parked = current.or(other);
                let v: Box<dyn View> = match kind {
                    ViewKind::Streams => Box::new(StreamsView::new()),
                    _ => Box::new(EventsView::log()),
                };
                self.push(v);
            }
        }
        self.dirty = true;
    }

    fn show_log(&mut self, at: Cursor) {
        self.switch_root(ViewKind::Log);
        self.with_top(|v, ctx| {
            if let Some(log) = v.as_any_mut().downcast_mut::<EventsView>() {
                log.reset(Anchor::At(RowKey::Log(at)), ctx);
            }
        });
    }

    // ---- update --------------------------------------------------------------------------

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Term(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => self.on_key(k),
            Msg::Term(TermEvent::Mouse(m)) => self.on_mouse(m),
            Msg::Term(TermEvent::Resize(w, h)) => {
                self.size = Size::new(w, h);
                self.dirty = true;
            }
            Msg::Term(_) => {}
            Msg::Tick => {
                let was = self.dirty;
                self.with_top(|v, ctx| v.on_tick(ctx));
                // A tick redraws only while something loads (the spinner moves).
                self.dirty = was || self.is_loading();
            }
            Msg::Reply(r) => self.on_reply(r),
        }
        // Whatever changed the main area (a resize, an input opened), the selection stays
        // in view.
        let main = self.main_area();
        if let Some((_, v)) = self.stack.last_mut() {
            v.fit(main);
        }
        if self.first_data.is_none() && self.log().is_some_and(|l| !l.rows.rows.is_empty()) {
            self.first_data = Some(self.started.elapsed());
        }
    }

    fn on_reply(&mut self, r: Reply) {
        let Reply { to, req, payload } = r;
        if to != APP {
            // A view that was dropped no longer waits: its answer goes with it.
            self.with_view(to, |v, ctx| v.on_reply(req, payload, ctx));
            return;
        }
        self.dirty = true;
        let payload = match payload.downcast::<replay::Update>() {
            Ok(u) => {
                if matches!(*u, replay::Update::Done(_)) {
                    self.quit_armed = false;
                }
                if let Some((text, failed)) = self.replay.on_update(req, *u) {
                    self.set_status(text, failed);
                }
                return;
            }
            Err(p) => p,
        };
        let payload = match payload.downcast::<Found>() {
            Ok(found) => {
                if self.find.accept(req) {
                    match found.result {
                        Ok(Some(e)) => self.push(Box::new(DetailView::new(e, &self.theme))),
                        Ok(None) => self.set_status(
                            format!("no event with id {} in this store", found.wanted),
                            false,
                        ),
                        Err(e) => self.set_status(format!("error: {e}"), true),
                    }
                }
                return;
            }
            Err(p) => p,
        };
        if let Some(u) = downcast::<export::Update>(payload) {
            if let Some((text, failed)) = self.export.on_update(req, u) {
                self.set_status(text, failed);
            }
        }
    }

    fn on_key(&mut self, k: KeyEvent) {
        self.dirty = true;
        if self.inputs.open.is_some() {
            match self.inputs.on_key(k) {
                input::Outcome::Submitted(kind, text) => self.submit(kind, &text),
                input::Outcome::Cancelled | input::Outcome::Edited => {}
            }
            return;
        }
        if self.export.is_open() {
            let (tx, id) = (self.tx.clone(), &mut self.next_id);
            let said = self.export.on_key(k, &self.store, || {
                *id += 1;
                super::request::Replier::new(tx, APP, *id)
            });
            if let Some((text, failed)) = said {
                self.set_status(text, failed);
            }
            return;
        }
        if self.replay.is_open() {
            let store = self.store.clone();
            let (tx, id) = (self.tx.clone(), &mut self.next_id);
            let outcome = self.replay.on_key(k, &store, || {
                *id += 1;
                super::request::Replier::new(tx, APP, *id)
            });
            if let replay::Outcome::Started = outcome {
                // The marks are spent: the range they made is being replayed.
                self.with_top(|v, _| {
                    if let Some(e) = v.as_any_mut().downcast_mut::<EventsView>() {
                        e.marks.clear();
                    }
                });
            }
            return;
        }
        if self.help.open {
            self.help.on_command(self.keys.command(&k));
            return;
        }
        if let Some(p) = &mut self.palette {
            match p.on_key(k) {
                palette::Outcome::Closed => self.palette = None,
                palette::Outcome::Run(cmd) => {
                    self.palette = None;
                    self.run(cmd);
                }
                palette::Outcome::Edited => {}
            }
            return;
        }
        if let Some(cmd) = self.keys.command(&k) {
            self.run(cmd);
        }
    }

    /// The commands no view took: those of the app, and those that open views.
    fn on_command(&mut self, cmd: Command) {
        let top = self.top();
        let stream = top.and_then(|v| v.stream());
        let version = top.and_then(|v| v.version());
        match cmd {
            Command::Quit => match self.replay.running() {
                Some(j) if !self.quit_armed => {
                    let id = j.id.clone();
                    self.quit_armed = true;
                    self.set_status(
                        format!("a replay is running: q again stops it at its checkpoint (evscope replay resume {id} continues it)"),
                        true,
                    );
                }
                _ => self.quit = true,
            },
            Command::Help => self.help.open = true,
            Command::Palette => {
                let view = self.top().map_or(String::new(), |v| v.name());
                let mut actions = self.actions();
                actions.retain(|a| a.command != Command::Palette);
                self.palette = Some(Palette::new(view, actions));
            }
            Command::Back => self.back(),
            Command::Streams => self.switch_root(ViewKind::Streams),
            Command::Log => self.switch_root(ViewKind::Log),
            Command::NextPane => {
                let next = match self.stack.first().map(|(_, v)| v.kind()) {
                    Some(ViewKind::Log) => ViewKind::Streams,
                    _ => ViewKind::Log,
                };
                self.switch_root(next);
            }
            Command::Filter => match top.and_then(|v| v.query()) {
                Some(q) => {
                    let text = q.text.clone();
                    self.inputs.open(InputKind::Filter, &text);
                }
                None => self.set_status(
                    "this view takes no filter (1 the stream list, 2 the log)",
                    false,
                ),
            },
            Command::ClearFilter => {
                self.with_top(|v, ctx| {
                    if v.query().is_some() {
                        v.set_query(filter::empty_query(), ctx)
                    }
                });
            }
            Command::Jump => self.inputs.open(InputKind::Jump, ""),
            Command::Open => {
                if let Some(e) = top.and_then(|v| v.selected_event()).cloned() {
                    self.push(Box::new(DetailView::new(e, &self.theme)));
                }
            }
            Command::Copy => match top
                .and_then(|v| v.selected_event())
                .map(serde_json::to_string)
            {
                Some(Ok(json)) => {
                    super::osc52_copy(&json);
                    self.set_status(
                        format!("copied {} bytes as JSON (OSC 52)", json.len()),
                        false,
                    );
                }
                _ => self.set_status("nothing to copy here", false),
            },
            Command::Export => self.export(),
            Command::TimeTravel => match stream {
                Some(s) => self.push(Box::new(TimeTravelView::new(s, version))),
                None => self.set_status("t needs a stream: select an event or a stream", false),
            },
            Command::Snapshots => self.open_snapshots(stream),
            Command::Audit => self.push(Box::new(AuditView::new())),
            // The stream list opens it (views/drift.rs).
            Command::Drift => self.set_status(
                "D checks every snapshot of the store: from the stream list (1, then D)",
                false,
            ),
            Command::Replay => match top.and_then(|v| v.replay_scope()) {
                Some(scope) => {
                    if let Err(e) = self.replay.open(scope) {
                        self.set_status(e, true);
                    }
                }
                None => {
                    if self.replay.job.is_some() {
                        let _ = self.replay.open(Err(String::new()));
                    } else {
                        self.set_status("R replays from the global log or a stream", true)
                    }
                }
            },
            Command::TimeZone => {
                self.theme.local_time = !self.theme.local_time;
                let zone = if self.theme.local_time {
                    "local time"
                } else {
                    "UTC"
                };
                self.set_status(format!("times in {zone} (z switches)"), false);
            }
            Command::Mark => self.set_status(
                "m marks the ends of a replay range in the log or a stream",
                false,
            ),
            Command::Follow => {
                // Follow the log from a view that cannot follow.
                self.switch_root(ViewKind::Log);
                self.with_top(|v, ctx| {
                    v.on_command(Command::Follow, ctx);
                });
            }
            Command::NextDiff | Command::PrevDiff => self.set_status(
                "n / N move between the differences of a snapshot (S lists a stream's snapshots)",
                false,
            ),
            Command::Sort => self.set_status(
                "o sorts the stream list (by id / by recent activity)",
                false,
            ),
            Command::Up
            | Command::Down
            | Command::PageUp
            | Command::PageDown
            | Command::Home
            | Command::End
            | Command::Refresh
            | Command::StepBack
            | Command::StepForward => {}
        }
    }

    /// What works in the view shown: its own commands and the app's that apply to it.
    pub fn commands(&self) -> Vec<Command> {
        let Some(v) = self.top() else { return vec![] };
        let mut c = vec![Command::Quit, Command::Help, Command::Palette];
        c.extend(v.commands());
        c.extend([
            Command::Streams,
            Command::Log,
            Command::NextPane,
            Command::Jump,
            Command::TimeZone,
        ]);
        if self.stack.len() > 1 || v.query().is_some_and(|q| !q.is_empty()) {
            c.push(Command::Back);
        }
        if v.query().is_some() {
            c.extend([Command::Filter, Command::ClearFilter]);
        }
        if v.selected_event().is_some() {
            c.extend([Command::Open, Command::Copy]);
        }
        if v.stream().is_some() {
            c.extend([Command::TimeTravel, Command::Snapshots]);
        }
        if v.export_scope().is_some() {
            c.push(Command::Export);
        }
        if v.replay_scope().is_some() {
            c.push(Command::Replay);
        }
        c.push(Command::Audit);
        c.sort();
        c.dedup();
        c
    }

    /// What works in the view shown, each with its name and what it does there.
    pub fn actions(&self) -> Vec<Action> {
        self.commands()
            .into_iter()
            .filter_map(|c| {
                let (name, _, general) = COMMANDS.iter().find(|(_, x, _)| *x == c)?;
                let here = self.top().and_then(|v| v.describe(c));
                Some(Action {
                    command: c,
                    name,
                    what: here.unwrap_or(general),
                })
            })
            .collect()
    }

    /// A command, as its key would run it (the palette runs them so).
    fn run(&mut self, cmd: Command) {
        self.status = None;
        let mut handled = false;
        self.with_top(|v, ctx| handled = v.on_command(cmd, ctx));
        if !handled {
            self.on_command(cmd);
        }
    }

    /// `S`: the snapshots of the stream in focus.
    fn open_snapshots(&mut self, stream: Option<String>) {
        let Some(stream) = stream else {
            self.set_status(
                "S lists the snapshots of a stream: open a stream first (1, then Enter)",
                false,
            );
            return;
        };
        if self.store.layout().snapshots.is_none() {
            self.set_status(
                format!(
                    "the {} layout keeps no snapshots (describe a snapshot table in a mapping file)",
                    self.store.layout().name
                ),
                false,
            );
            return;
        }
        // A diff of another list would be left behind: both go.
        self.stack
            .retain(|(_, v)| v.kind() != ViewKind::SnapshotDiff);
        self.push(Box::new(SnapshotList::new(stream)));
    }

    fn submit(&mut self, kind: InputKind, text: &str) {
        match kind {
            InputKind::Filter => match filter::parse(text, Utc::now()) {
                Ok(q) => {
                    self.inputs.accepted();
                    self.with_top(|v, ctx| v.set_query(q, ctx));
                }
                Err(e) => self.inputs.refused(e.to_string()),
            },
            // In the stream list, what is typed is a stream id (or the start of one).
            InputKind::Jump if self.view() == ViewKind::Streams && !text.trim().is_empty() => {
                self.inputs.accepted();
                self.jump(Jump::Stream(text.trim().to_string()));
            }
            InputKind::Jump => match parse_jump(text) {
                Err(e) => self.inputs.refused(e),
                Ok(j) => {
                    self.inputs.accepted();
                    self.jump(j);
                }
            },
        }
    }

    fn jump(&mut self, j: Jump) {
        if let Jump::EventId(id) = &j {
            let store = self.store.clone();
            self.next_id += 1;
            let reply = super::request::Replier::new(self.tx.clone(), APP, self.next_id);
            self.find
                .start(reply, detail::find_event(store, id.clone()));
            return;
        }
        let mut done = false;
        self.with_top(|v, ctx| done = v.jump(&j, ctx));
        if !done {
            // Where a position or a time cannot be shown, the log shows it.
            self.switch_root(ViewKind::Log);
            self.with_top(|v, ctx| {
                v.jump(&j, ctx);
            });
        }
    }

    /// `e`: the export dialog for what the view shows (it counts at once, writes on Enter).
    fn export(&mut self) {
        let Some(scope) = self.top().and_then(|v| v.export_scope()) else {
            self.set_status("e exports the events of the log or a stream", false);
            return;
        };
        let path = self.export_dir.join(format!(
            "evscope-export-{}.jsonl",
            Utc::now().format("%Y%m%dT%H%M%S%.3f")
        ));
        self.next_id += 1;
        let reply = super::request::Replier::new(self.tx.clone(), APP, self.next_id);
        self.export.open(scope, &path, &self.store, reply);
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        let main = self.main_area();
        match m.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let cmd = if m.kind == MouseEventKind::ScrollDown {
                    Command::Down
                } else {
                    Command::Up
                };
                self.with_top(|v, ctx| {
                    for _ in 0..3 {
                        v.on_command(cmd, ctx);
                    }
                });
            }
            MouseEventKind::Down(_) if m.row >= main.y && m.row < main.y + main.height => {
                let row = (m.row - main.y) as usize;
                self.with_top(|v, ctx| v.on_click(row, ctx));
            }
            _ => {}
        }
    }

    /// Stop a running replay at its checkpoint (on quit); the task to wait for.
    pub fn stop_replay(&mut self) -> Option<JoinHandle<()>> {
        self.replay.stop()
    }

    // ---- draw ----------------------------------------------------------------------------

    pub fn draw(&self, f: &mut Frame) {
        let areas = Areas::new(f.area(), self.inputs.open.is_some());
        f.render_widget(Block::new().style(self.theme.base), f.area());
        if let Some(v) = self.top() {
            v.draw(f, areas.main, &self.theme);
        }
        if let Some(area) = areas.input {
            self.inputs.draw(f, area, &self.theme);
        }
        self.draw_status(f, areas.status);
        self.replay.draw(f, f.area(), &self.theme);
        if let Some(p) = &self.palette {
            p.draw(f, f.area(), &self.keys, &self.theme);
        }
        self.export.draw(f, f.area(), &self.theme);
        if self.help.open {
            let (view, filters) = self
                .top()
                .map_or((String::new(), false), |v| (v.name(), v.query().is_some()));
            let what = HelpFor {
                view,
                commands: self
                    .actions()
                    .into_iter()
                    .map(|a| (a.command, a.what))
                    .collect(),
                filters,
            };
            self.help.draw(f, f.area(), &what, &self.keys, &self.theme);
        }
    }

    fn draw_status(&self, f: &mut Frame, area: Rect) {
        let l = self.store.layout();
        let mut left = format!(" {} · {} ", self.store.url(), l.name);
        if let Some(v) = self.top() {
            left.push_str(&v.status());
            if v.following() {
                left.push_str("· following ");
            }
        }
        let (right, right_style) = match (&self.status, self.is_loading()) {
            (Some((s, true)), _) => (format!(" {s} "), self.theme.error),
            (Some((s, false)), _) => (format!(" {s} "), Style::new()),
            (None, true) => (" loading… ".to_string(), self.theme.loading),
            (None, _) if self.replay.job.as_ref().is_some_and(|j| !j.shown) => (
                format!(
                    " {} ",
                    self.replay
                        .job
                        .as_ref()
                        .map(|j| j.summary())
                        .unwrap_or_default()
                ),
                self.theme.accent,
            ),
            (None, false) => (" ? help · q quit ".to_string(), self.theme.muted),
        };
        // The message first: what is left of the width goes to the place; both are cut
        // after a whole word, never mid-word.
        let width = area.width as usize;
        let right = fit_words(&right, width.saturating_sub(12.min(width / 3)));
        let left = fit_words(&left, width.saturating_sub(right.width()));
        let right = Span::styled(right, self.theme.on_status(right_style));
        let [l_area, r_area] = Layout::horizontal([
            Constraint::Fill(1),
            Constraint::Length(right.width() as u16),
        ])
        .areas(area);
        f.render_widget(Paragraph::new(left).style(self.theme.status), l_area);
        f.render_widget(
            Paragraph::new(Line::from(right)).style(self.theme.status),
            r_area,
        );
    }
}

/// The screen split: the main pane, an optional input box, the status line.
pub struct Areas {
    pub main: Rect,
    pub input: Option<Rect>,
    pub status: Rect,
}

impl Areas {
    pub fn new(area: Rect, input: bool) -> Areas {
        if input {
            let [main, input, status] = Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(3),
                Constraint::Length(1),
            ])
            .areas(area);
            Areas {
                main,
                input: Some(input),
                status,
            }
        } else {
            let [main, status] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
            Areas {
                main,
                input: None,
                status,
            }
        }
    }
}
