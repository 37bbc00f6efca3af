//! The views of the TUI. Each view is one value that owns its state, answers its own keys and
//! its own requests' replies, and draws itself; the app keeps them on a stack and routes to
//! them. A view never imports the app: what it may do to the app (push a view, pop itself,
//! say something on the status line) it asks through [`Ctx`].

pub mod audit;
pub mod consumers;
pub mod detail;
pub mod drift;
pub mod events;
pub mod snapshot_diff;
pub mod snapshot_list;
pub mod streams;
pub mod timetravel;
pub mod trace;

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedSender;

use super::keys::Command;
use super::request::{Msg, Replier, Target};
use super::theme::Theme;
use crate::filter::Query;
use crate::rehydrate::source::ReducerSource;
use crate::store::{Cursor, Event, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Streams,
    Log,
    Stream,
    Detail,
    TimeTravel,
    /// A stream's snapshots, each checked against the events.
    Snapshots,
    /// One snapshot: stored vs recomputed, side by side.
    SnapshotDiff,
    /// The store's integrity audit.
    Audit,
    /// Every snapshot of the store checked: the drifted and failed ones.
    Drift,
    /// Every consumer's checkpoint and lag.
    Consumers,
    /// The events sharing an event's correlation id, as a causation tree.
    Trace,
}

impl ViewKind {
    /// Only one view of these kinds is on the stack: opening another replaces it.
    pub fn unique(self) -> bool {
        matches!(
            self,
            ViewKind::TimeTravel
                | ViewKind::Snapshots
                | ViewKind::SnapshotDiff
                | ViewKind::Audit
                | ViewKind::Drift
                | ViewKind::Consumers
                | ViewKind::Trace
        )
    }
}

/// What a view asks of the app.
pub enum Effect {
    Push(Box<dyn View>),
    /// Remove this view (it is dropped with its running requests).
    Pop,
    Status(String, bool),
    /// Show the global log at a place (a jump made where no position can be shown).
    ShowLog(Cursor),
}

/// What a view is given while it handles a key, a reply or a tick.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub theme: &'a Theme,
    pub reducers: &'a ReducerSource,
    /// The main area the view is drawn in.
    pub area: Rect,
    tx: &'a UnboundedSender<Msg>,
    me: Target,
    next_id: &'a mut u64,
    effects: &'a mut Vec<Effect>,
}

impl<'a> Ctx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &'a Store,
        theme: &'a Theme,
        reducers: &'a ReducerSource,
        area: Rect,
        tx: &'a UnboundedSender<Msg>,
        me: Target,
        next_id: &'a mut u64,
        effects: &'a mut Vec<Effect>,
    ) -> Ctx<'a> {
        Ctx {
            store,
            theme,
            reducers,
            area,
            tx,
            me,
            next_id,
            effects,
        }
    }

    /// A new request id.
    pub fn id(&mut self) -> u64 {
        *self.next_id += 1;
        *self.next_id
    }

    /// The id counter, for a [`Window`](crate::tui::widgets::window::Window) that takes the
    /// next id only when it wants something.
    pub fn ids(&mut self) -> &mut u64 {
        self.next_id
    }

    /// Where the answer to a new request goes (this view, a new id).
    pub fn replier<T: Send + 'static>(&mut self) -> Replier<T> {
        let id = self.id();
        self.replier_for(id)
    }

    /// Where the answer to request `req` goes.
    pub fn replier_for<T: Send + 'static>(&self, req: u64) -> Replier<T> {
        Replier::new(self.tx.clone(), self.me, req)
    }

    pub fn push(&mut self, v: Box<dyn View>) {
        self.effects.push(Effect::Push(v));
    }

    pub fn pop(&mut self) {
        self.effects.push(Effect::Pop);
    }

    pub fn status(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Status(text.into(), false));
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Status(text.into(), true));
    }

    pub fn show_log(&mut self, at: Cursor) {
        self.effects.push(Effect::ShowLog(at));
    }

    /// Rows of a table filling the main area (borders and header off).
    pub fn list_height(&self) -> usize {
        crate::tui::widgets::table_rows(self.area)
    }
}

/// What `g` was given.
#[derive(Debug, Clone, PartialEq)]
pub enum Jump {
    Number(i64),
    /// An event id (a uuid or any text that is not a number or a time).
    EventId(String),
    Time(chrono::DateTime<chrono::Utc>),
    /// A stream id, or its start (typed in the stream list).
    Stream(String),
}

pub fn parse_jump(text: &str) -> Result<Jump, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("a position, a version, a time or an event id".into());
    }
    if let Ok(n) = t.replace('_', "").parse::<i64>() {
        return Ok(Jump::Number(n));
    }
    match crate::timeparse::parse_time(t) {
        Ok(time) => Ok(Jump::Time(time)),
        Err(e) => {
            // Anything else that looks like an id (no spaces) is looked up as an event id.
            if !t.contains(char::is_whitespace) && t.len() >= 8 {
                Ok(Jump::EventId(t.to_string()))
            } else {
                Err(e.to_string())
            }
        }
    }
}

/// What `e` exports: the events a view shows, with its filter.
#[derive(Debug, Clone)]
pub struct ExportScope {
    /// None: the global log.
    pub stream: Option<String>,
    pub query: Query,
}

/// What `R` offers to replay, and how the dialog names it.
pub type ReplayScope = Result<(crate::replay::Range, String), String>;

/// A view as `Any`, to downcast it (tests, and the app reaching the log view); implemented
/// for every view.
pub trait AsAny {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: View> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The movement keys every list and pane takes.
pub const MOVES: [Command; 6] = [
    Command::Up,
    Command::Down,
    Command::PageUp,
    Command::PageDown,
    Command::Home,
    Command::End,
];

/// How far a movement key moves in a list or pane showing `height` rows (Home and End are
/// each view's own).
pub fn delta(cmd: Command, height: usize) -> Option<isize> {
    let page = height.max(1) as isize;
    match cmd {
        Command::Up => Some(-1),
        Command::Down => Some(1),
        Command::PageUp => Some(-page),
        Command::PageDown => Some(page),
        _ => None,
    }
}

pub trait View: Any + AsAny {
    fn kind(&self) -> ViewKind;
    /// The view's name in the help and the palette ("Global log", "Stream account-1").
    fn name(&self) -> String;
    /// Requests to make when the view is shown the first time.
    fn start(&mut self, _ctx: &mut Ctx) {}
    /// A key: true when the view handled it (otherwise the app may).
    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool;
    /// An answer to one of the view's requests.
    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx);
    fn on_tick(&mut self, _ctx: &mut Ctx) {}
    /// The main area changed size (a resize, an input opened): keep the selection in view.
    fn fit(&mut self, _area: Rect) {}
    /// A click on line `row` of the main area (0 is its top border).
    fn on_click(&mut self, _row: usize, _ctx: &mut Ctx) {}
    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme);
    /// The view's part of the status line.
    fn status(&self) -> String;
    fn is_loading(&self) -> bool;
    /// The commands the view answers itself (the help and the palette list them).
    fn commands(&self) -> Vec<Command>;
    /// The event in focus (Enter, `c`, `t`).
    fn selected_event(&self) -> Option<&Event> {
        None
    }
    /// The stream in focus (`S`, `t`): the view's own, or the selected row's.
    fn stream(&self) -> Option<String> {
        self.selected_event().map(|e| e.stream_id.clone())
    }
    /// The version `t` starts time travel at (None: the stream's last).
    fn version(&self) -> Option<i64> {
        self.selected_event().map(|e| e.stream_version)
    }
    /// The filter the view's rows obey, if it takes one.
    fn query(&self) -> Option<&Query> {
        None
    }
    fn set_query(&mut self, _q: Query, _ctx: &mut Ctx) {}
    /// `g`: false when this view cannot go there (the app then shows the log there).
    fn jump(&mut self, _j: &Jump, _ctx: &mut Ctx) -> bool {
        false
    }
    fn replay_scope(&self) -> Option<ReplayScope> {
        None
    }
    fn export_scope(&self) -> Option<ExportScope> {
        None
    }
    /// A short note for the title: "following" while a live tail runs.
    fn following(&self) -> bool {
        false
    }
    /// What a command does here, when it is not what the help says of it in general.
    fn describe(&self, _cmd: Command) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_input_is_a_number_a_time_or_an_event_id() {
        assert_eq!(parse_jump("5000000"), Ok(Jump::Number(5_000_000)));
        assert_eq!(parse_jump(" 5_000_000 "), Ok(Jump::Number(5_000_000)));
        assert!(matches!(parse_jump("2026-06-01"), Ok(Jump::Time(_))));
        assert_eq!(
            parse_jump("7f9c2ba4-e88f-11ea-adc1-0242ac120002"),
            Ok(Jump::EventId("7f9c2ba4-e88f-11ea-adc1-0242ac120002".into()))
        );
        assert!(parse_jump("soon").is_err());
        assert!(parse_jump("").is_err());
    }
}
