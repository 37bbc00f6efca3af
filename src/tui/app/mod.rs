//! The app: the view stack, the routing of keys and replies to the views, the overlays, the
//! status line. `update` takes a message, changes state and may start work (never awaited);
//! `draw` turns state into a frame, with no side effects. Everything a view shows and does is
//! in the view (`views/`); what is drawn over them is in `overlays/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Rect, Size};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::keys::{Command, KeyMap};
use super::overlays::export;
use super::overlays::help::Help;
use super::overlays::input::{self, Inputs};
use super::overlays::palette::{self, Palette};
use super::overlays::replay;
use super::overlays::seal;
use super::overlays::verify_seal;
use super::request::{Msg, Reply, Slot, Target, downcast};
use super::theme::Theme;
use super::views::detail::{DetailView, Found};
use super::views::events::{EventsView, RowKey};
use super::views::streams::StreamsView;
use super::views::{Ctx, Effect, View, ViewKind};
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
    /// The seal dialog (`Z`).
    pub seal: seal::Overlay,
    pub verify_seal: verify_seal::Overlay,
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
            seal: seal::Overlay::default(),
            verify_seal: verify_seal::Overlay::default(),
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
            || self.seal.is_busy()
            || self.verify_seal.is_busy()
            || self.find.is_pending()
    }

    /// Rows available to a list in the current layout.
    pub fn list_height(&self) -> usize {
        super::widgets::table_rows(self.main_area())
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
        let payload = match payload.downcast::<seal::Update>() {
            Ok(u) => {
                if let Some((text, failed)) = self.seal.on_update(req, *u) {
                    self.set_status(text, failed);
                }
                return;
            }
            Err(p) => p,
        };
        let payload = match payload.downcast::<verify_seal::Update>() {
            Ok(u) => {
                if let Some((text, failed)) = self.verify_seal.on_update(req, *u) {
                    self.set_status(text, failed);
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
                input::Outcome::Edited => self.jump_as_typed(),
                input::Outcome::Cancelled => {}
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
        if self.seal.is_open() {
            let (tx, id) = (self.tx.clone(), &mut self.next_id);
            let said = self.seal.on_key(k, &self.store, || {
                *id += 1;
                super::request::Replier::new(tx, APP, *id)
            });
            if let Some((text, failed)) = said {
                self.set_status(text, failed);
            }
            return;
        }
        if self.verify_seal.is_open() {
            let (tx, id) = (self.tx.clone(), &mut self.next_id);
            let outcome = self.verify_seal.on_key(k, &self.store, || {
                *id += 1;
                super::request::Replier::new(tx, APP, *id)
            });
            match outcome {
                Some(verify_seal::Outcome::Say(text, failed)) => self.set_status(text, failed),
                Some(verify_seal::Outcome::Open(e, note)) => {
                    let mut v = DetailView::new(*e, &self.theme);
                    v.note = Some(note);
                    self.push(Box::new(v));
                }
                None => {}
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
        let cmd = self.keys.command(&k);
        if self.starts_a_jump(&k, cmd) {
            return;
        }
        if let Some(cmd) = cmd {
            self.run(cmd);
        }
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
}

mod commands;
mod draw;

pub use draw::Areas;
