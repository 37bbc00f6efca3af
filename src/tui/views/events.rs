//! A list of events: the global log, or one stream. Its rows come in pages through a
//! [`Window`]; its filter is its own, and its rows always obey the filter its title shows;
//! `f` follows new events (the log through the safe head, a stream by version); `m` marks
//! the ends of a replay range, and `R` replays exactly what the view shows.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::detail::DetailView;
use super::{Ctx, ExportScope, Jump, MOVES, ReplayScope, View, ViewKind, delta};
use crate::filter::{self, Query};
use crate::store::head::HighWaterMark;
use crate::store::{Cursor, Event, LogQuery};
use crate::tui::keys::Command;
use crate::tui::request::{Replier, Slot, Tasks, downcast};
use crate::tui::theme::Theme;
use crate::tui::widgets::event_table::{self, EventTable, Widths};
use crate::tui::widgets::table_rows;
use crate::tui::widgets::window::{Anchor, Side, Want, Window};

pub use crate::tui::widgets::event_table::EventRow;

mod read;
use read::{Page, read_log, read_stream};

/// Rows per page fetched.
pub const PAGE: u32 = 200;

/// The order of a list's rows: log cursors, or a stream's versions.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum RowKey {
    Log(Cursor),
    Version(i64),
}

fn log_key(r: &EventRow) -> RowKey {
    RowKey::Log(r.event.cursor())
}

fn version_key(r: &EventRow) -> RowKey {
    RowKey::Version(r.event.stream_version)
}

/// Which events the list shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    Log,
    Stream(String),
}

struct Head(Result<Option<i64>, String>);

struct JumpTo(Result<Option<Cursor>, String>);

pub struct EventsView {
    pub scope: Scope,
    pub rows: Window<EventRow, RowKey>,
    /// The filter the rows obey.
    pub query: Query,
    pub following: bool,
    hwm: Option<HighWaterMark>,
    /// The newest global position known (the log's status line).
    pub head: Option<i64>,
    head_req: Slot,
    jump_req: Slot,
    pages: Tasks,
    /// Ends of a replay range marked with `m` here.
    pub marks: Vec<Event>,
    /// Where the first page is read from when the view is shown.
    initial: Option<Anchor<RowKey>>,
    /// Column widths from the rows loaded.
    widths: Widths,
    /// DATA scrolled sideways by this many columns (←/→).
    pub data_offset: usize,
    /// Following the log, the position it waits at (an open transaction holds it).
    pub gap: Option<i64>,
}

/// How soon a log that waits at a gap looks again (the CLI's `log --follow` polls as often).
const GAP_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Columns DATA moves per ←/→.
const DATA_STEP: usize = 16;

impl EventsView {
    pub fn log() -> EventsView {
        EventsView::new(Scope::Log, filter::empty_query())
    }

    pub fn stream(stream: String) -> EventsView {
        EventsView::new(Scope::Stream(stream), filter::empty_query())
    }

    fn new(scope: Scope, query: Query) -> EventsView {
        let key = match scope {
            Scope::Log => log_key,
            Scope::Stream(_) => version_key,
        };
        EventsView {
            scope,
            rows: Window::new(key),
            query,
            following: false,
            hwm: None,
            head: None,
            head_req: Slot::default(),
            jump_req: Slot::default(),
            pages: Tasks::default(),
            marks: Vec::new(),
            initial: None,
            widths: Widths::of([]),
            data_offset: 0,
            gap: None,
        }
    }

    /// `c`: the log of the events sharing the selected event's correlation id.
    fn trace(&mut self, ctx: &mut Ctx) {
        if let Some(e) = self.rows.selected_row().map(|r| &r.event) {
            open_trace(e, ctx);
        }
    }

    /// Show the list from `anchor` when it starts (not from its start or end).
    pub fn start_at(&mut self, anchor: Anchor<RowKey>) {
        self.initial = Some(anchor);
    }

    pub fn stream_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Stream(s) => Some(s),
            Scope::Log => None,
        }
    }

    /// Start over at a place in the list (Home, End, a jump, a new filter).
    pub fn reset(&mut self, anchor: Anchor<RowKey>, ctx: &mut Ctx) {
        let id = ctx.id();
        let want = self.rows.reset(anchor, id);
        self.fetch(id, want, None, None, None, ctx);
        self.pages.keep_only(&self.rows.pending_ids());
    }

    fn refresh_head(&mut self, ctx: &mut Ctx) {
        if self.scope != Scope::Log {
            return;
        }
        let store = ctx.store.clone();
        self.head_req.start(ctx.replier(), async move {
            Head(store.max_position().await.map_err(|e| e.to_string()))
        });
    }

    /// Ask the window for what it needs next (after a move or an answer).
    fn pump(&mut self, ctx: &mut Ctx) {
        if let Some(want) = self.rows.wants(ctx.ids()) {
            let id = *ctx.ids();
            self.fetch(id, want, None, None, None, ctx);
        }
    }

    fn fetch(
        &mut self,
        id: u64,
        want: Want<RowKey>,
        hwm: Option<HighWaterMark>,
        since: Option<chrono::DateTime<chrono::Utc>>,
        delay: Option<std::time::Duration>,
        ctx: &mut Ctx,
    ) {
        let reply: Replier<Page> = ctx.replier_for(id);
        let store = ctx.store.clone();
        let side = match &want {
            Want::Reset(_) => Side::Reset,
            Want::After(_) => Side::After,
            Want::Before(_) => Side::Before,
        };
        let mut query = self.query.clone();
        if let Some(t) = since {
            query.filter.since = Some(query.filter.since.map_or(t, |s| s.max(t)));
        }
        match &self.scope {
            Scope::Log => self
                .pages
                .start(reply, read_log(store, query, want, hwm, delay)),
            Scope::Stream(s) => {
                let stream = s.clone();
                self.pages.start(reply, async move {
                    Page {
                        side,
                        result: read_stream(store, stream, query, want).await,
                        hwm: None,
                    }
                })
            }
        }
    }

    fn on_page(&mut self, req: u64, page: Page, ctx: &mut Ctx) {
        let h = ctx.list_height();
        if page.hwm.is_some() {
            self.hwm = page.hwm;
        }
        match page.result {
            Ok((events, full)) => {
                let n = events.len();
                let rows: Vec<EventRow> = events.into_iter().map(EventRow::new).collect();
                let at_last = self.rows.selected + 1 >= self.rows.rows.len();
                if !self.rows.answer(req, page.side, rows, full, h) {
                    return; // superseded
                }
                self.widths = Widths::of(&self.rows.rows);
                if self.following && at_last && page.side == Side::After && n > 0 {
                    let last = self.rows.rows.len() - 1;
                    self.rows.select(last, h);
                }
                if self.following && self.scope == Scope::Log {
                    if let Some(p) = self.rows.rows.last().and_then(|r| r.event.global_position) {
                        self.head = Some(self.head.map_or(p, |h| h.max(p)));
                    }
                }
                // A jump past the end: say so, and show the end instead of an empty screen.
                if page.side == Side::Reset && n == 0 && matches!(self.rows.anchor(), Anchor::At(_))
                {
                    ctx.status("nothing at or after that point: showing the end");
                    self.reset(Anchor::End, ctx);
                    return;
                }
                // Waiting at a gap (a position held by an open transaction): look again soon,
                // not at the next tick, so the held event shows as soon as it commits.
                self.gap = self
                    .hwm
                    .as_ref()
                    .and_then(|h| h.waiting_at())
                    .map(|(p, _)| p);
                if self.gap.is_some() {
                    self.tail(Some(GAP_POLL), ctx);
                }
                self.pump(ctx);
            }
            Err(e) => {
                if self.rows.failed(req) {
                    ctx.error(format!("error: {e}"));
                }
            }
        }
    }

    /// Following: ask for what came after the last row (the log through the safe head, after
    /// `delay` when it waits at a gap).
    fn tail(&mut self, delay: Option<std::time::Duration>, ctx: &mut Ctx) {
        if !self.following || self.rows.is_loading() {
            return;
        }
        if let Some(want) = self.rows.want_tail(ctx.ids()) {
            let id = *ctx.ids();
            let hwm = match self.scope {
                Scope::Log => self.hwm.take().or_else(|| {
                    let safe = self
                        .rows
                        .rows
                        .last()
                        .and_then(|r| r.event.global_position)?;
                    Some(HighWaterMark::new(safe))
                }),
                Scope::Stream(_) => None,
            };
            self.fetch(id, want, hwm, None, delay, ctx);
        }
    }

    fn toggle_follow(&mut self, ctx: &mut Ctx) {
        self.following = !self.following;
        if !self.following {
            self.hwm = None;
            self.gap = None;
            ctx.status("stopped following");
            return;
        }
        let h = ctx.list_height();
        if self.rows.at_end {
            let last = self.rows.rows.len().saturating_sub(1);
            self.rows.select(last, h);
        } else {
            self.reset(Anchor::End, ctx);
        }
        match &self.scope {
            // A stream's versions cannot commit out of order: it is followed by version.
            Scope::Stream(s) => ctx.status(format!("following {s} (f to stop)")),
            Scope::Log => ctx.status("following new events (f to stop)"),
        }
    }

    /// `m`: mark the selected event as one end of a replay range; a third mark starts again,
    /// and marking a marked event removes it.
    fn mark(&mut self, ctx: &mut Ctx) {
        let Some(event) = self.rows.selected_row().map(|r| r.event.clone()) else {
            return;
        };
        if self.marks.len() >= 2 {
            self.marks.clear();
        }
        let same =
            |m: &Event| m.stream_id == event.stream_id && m.stream_version == event.stream_version;
        if let Some(i) = self.marks.iter().position(same) {
            self.marks.remove(i);
            ctx.status("mark removed");
            return;
        }
        self.marks.push(event);
        self.marks
            .sort_by_key(|m| (m.global_position, m.stream_version));
        let text = match self.marks.as_slice() {
            [a] => format!(
                "replay from {}: m on the last event, or R to replay from here",
                self.mark_text(a)
            ),
            [a, b] => format!(
                "replay range {} … {} marked: R to replay it",
                self.mark_text(a),
                self.mark_text(b)
            ),
            _ => String::new(),
        };
        ctx.status(text);
    }

    fn mark_text(&self, m: &Event) -> String {
        match (&self.scope, m.global_position) {
            (Scope::Log, Some(p)) => format!("#{p}"),
            _ => format!("{}@{}", m.stream_id, m.stream_version),
        }
    }

    /// Whether `e` is marked, and whether it is in the range two marks make (kept in order).
    fn is_marked(&self, e: &Event) -> (bool, bool) {
        let key = |m: &Event| match self.scope {
            Scope::Log => RowKey::Log(m.cursor()),
            Scope::Stream(_) => RowKey::Version(m.stream_version),
        };
        let same = |m: &Event| m.stream_id == e.stream_id && m.stream_version == e.stream_version;
        let range = matches!(self.marks.as_slice(), [a, b] if (key(a)..=key(b)).contains(&key(e)));
        (self.marks.iter().any(same), range)
    }

    fn title(&self) -> String {
        let mut t = match &self.scope {
            Scope::Log => " Global log ".to_string(),
            Scope::Stream(s) => format!(" Stream {s} "),
        };
        if !self.query.is_empty() {
            t.push_str(&format!("· {} ", self.query.text));
        }
        if self.following {
            t.push_str("· following ");
        }
        t
    }
}

/// Push the trace of `e` — the events sharing its correlation id, as `evscope trace` lists
/// them — or say why there is none.
pub fn open_trace(e: &Event, ctx: &mut Ctx) {
    if crate::trace::correlation_of(e).is_none() {
        ctx.error(format!(
            "this event has no correlation id in its metadata (looked for {})",
            crate::trace::CORRELATION_KEYS.join(", ")
        ));
        return;
    }
    ctx.push(Box::new(super::trace::TraceView::new(e.clone())));
}

impl View for EventsView {
    fn kind(&self) -> ViewKind {
        match self.scope {
            Scope::Log => ViewKind::Log,
            Scope::Stream(_) => ViewKind::Stream,
        }
    }

    fn name(&self) -> String {
        match &self.scope {
            Scope::Log => "Global log".into(),
            Scope::Stream(s) => format!("Stream {s}"),
        }
    }

    fn start(&mut self, ctx: &mut Ctx) {
        let anchor = self.initial.take().unwrap_or(match self.scope {
            Scope::Log => Anchor::End,
            Scope::Stream(_) => Anchor::Start,
        });
        self.reset(anchor, ctx);
        self.refresh_head(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = ctx.list_height();
        if let Some(d) = delta(cmd, h) {
            self.rows.move_by(d, h);
            self.pump(ctx);
            return true;
        }
        match cmd {
            Command::Home => self.reset(Anchor::Start, ctx),
            Command::End => {
                self.reset(Anchor::End, ctx);
                self.refresh_head(ctx);
            }
            Command::Open => {
                if let Some(e) = self.rows.selected_row() {
                    ctx.push(Box::new(DetailView::new(e.event.clone(), ctx.theme)));
                }
                return true;
            }
            Command::Refresh => {
                let anchor = match self.scope {
                    Scope::Log => self
                        .rows
                        .selected_row()
                        .map_or(Anchor::End, |r| Anchor::At(log_key(r))),
                    Scope::Stream(_) => Anchor::Start,
                };
                self.reset(anchor, ctx);
                self.refresh_head(ctx);
            }
            Command::Follow => self.toggle_follow(ctx),
            Command::Mark => self.mark(ctx),
            Command::Trace => self.trace(ctx),
            Command::StepBack => self.data_offset = self.data_offset.saturating_sub(DATA_STEP),
            Command::StepForward => self.data_offset += DATA_STEP,
            _ => return false,
        }
        self.pump(ctx);
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx) {
        let payload = match payload.downcast::<Page>() {
            Ok(p) => return self.on_page(req, *p, ctx),
            Err(p) => p,
        };
        let payload = match payload.downcast::<Head>() {
            Ok(h) => {
                if self.head_req.accept(req) {
                    match h.0 {
                        Ok(h) => self.head = h,
                        Err(e) => ctx.error(format!("error: {e}")),
                    }
                }
                return;
            }
            Err(p) => p,
        };
        if let Some(JumpTo(result)) = downcast::<JumpTo>(payload) {
            if self.jump_req.accept(req) {
                match result {
                    Ok(Some(c)) => self.reset(Anchor::At(RowKey::Log(c)), ctx),
                    Ok(None) => ctx.status("no event at or after that time"),
                    Err(e) => ctx.error(format!("error: {e}")),
                }
            }
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx) {
        self.tail(None, ctx);
    }

    fn fit(&mut self, area: Rect) {
        self.rows.scroll_to_selection(table_rows(area));
    }

    fn on_click(&mut self, row: usize, ctx: &mut Ctx) {
        if self.rows.click(row, ctx.list_height()) {
            self.pump(ctx);
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let w = &self.rows;
        let empty = (w.rows.is_empty() && !w.is_loading()).then_some(if self.query.is_empty() {
            "no events"
        } else {
            "no events match the filter (Esc clears it)"
        });
        let marked = |e: &Event| self.is_marked(e);
        let table = EventTable {
            rows: &w.rows,
            top: w.top,
            selected: w.selected,
            global: self.scope == Scope::Log,
            widths: self.widths,
            data_offset: self.data_offset,
            title: self.title(),
            marked: &marked,
            has_marks: !self.marks.is_empty(),
            empty,
        };
        event_table::draw(f, area, &table, theme);
    }

    fn status(&self) -> String {
        let Some(r) = self.rows.selected_row() else {
            return String::new();
        };
        match &self.scope {
            Scope::Log => {
                let mut s = format!("· position {}", r.position);
                if let Some(h) = self.head {
                    s.push_str(&format!(" of {h}"));
                }
                s.push(' ');
                if let Some(p) = self.gap {
                    s.push_str(&format!(
                        "· waiting for position {p} (an open transaction holds it) "
                    ));
                }
                s
            }
            Scope::Stream(id) => format!("· {id} v{} ", r.event.stream_version),
        }
    }

    fn is_loading(&self) -> bool {
        // Waiting at a gap is not loading: the status line says what it waits for.
        (self.rows.is_loading() && self.gap.is_none())
            || self.head_req.is_pending()
            || self.jump_req.is_pending()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.extend([
            Command::Open,
            Command::Refresh,
            Command::Follow,
            Command::Mark,
            Command::Trace,
            Command::StepBack,
            Command::StepForward,
        ]);
        c
    }

    fn selected_event(&self) -> Option<&Event> {
        self.rows.selected_row().map(|r| &r.event)
    }

    fn stream(&self) -> Option<String> {
        match &self.scope {
            Scope::Stream(s) => Some(s.clone()),
            Scope::Log => self.selected_event().map(|e| e.stream_id.clone()),
        }
    }

    fn query(&self) -> Option<&Query> {
        Some(&self.query)
    }

    fn set_query(&mut self, q: Query, ctx: &mut Ctx) {
        self.query = q;
        self.following = false;
        self.hwm = None;
        self.gap = None;
        let anchor = match self.scope {
            Scope::Log => Anchor::End,
            Scope::Stream(_) => Anchor::Start,
        };
        self.reset(anchor, ctx);
    }

    fn jump(&mut self, j: &Jump, ctx: &mut Ctx) -> bool {
        match (&self.scope, j) {
            (_, Jump::EventId(_) | Jump::Stream(_)) => return false,
            (Scope::Stream(_), Jump::Number(v)) => self.reset(Anchor::At(RowKey::Version(*v)), ctx),
            (Scope::Stream(_), Jump::Time(t)) => {
                // Versions rise with time: the first event at or after t.
                let id = ctx.id();
                let want = self.rows.reset(Anchor::Start, id);
                self.fetch(id, want, None, Some(*t), None, ctx);
                self.pages.keep_only(&self.rows.pending_ids());
            }
            (Scope::Log, Jump::Number(p)) => {
                if ctx.store.layout().position.is_none() {
                    ctx.status("this layout has no global position: jump to a time instead");
                } else {
                    self.reset(Anchor::At(RowKey::Log(Cursor::Position(*p))), ctx);
                }
            }
            (Scope::Log, Jump::Time(t)) => {
                let store = ctx.store.clone();
                let mut filter = self.query.filter.clone();
                filter.since = Some(filter.since.map_or(*t, |s| s.max(*t)));
                self.jump_req.start(ctx.replier(), async move {
                    let q = LogQuery {
                        filter,
                        limit: 1,
                        ..Default::default()
                    };
                    JumpTo(
                        store
                            .read_log(&q)
                            .await
                            .map(|v| v.first().map(Event::cursor))
                            .map_err(|e| e.to_string()),
                    )
                });
            }
        }
        true
    }

    fn replay_scope(&self) -> Option<ReplayScope> {
        Some(self.replay_range())
    }

    fn export_scope(&self) -> Option<ExportScope> {
        Some(ExportScope {
            stream: self.stream_id().map(str::to_string),
            query: self.query.clone(),
        })
    }

    fn following(&self) -> bool {
        self.following
    }

    fn describe(&self, cmd: Command) -> Option<&'static str> {
        match cmd {
            Command::StepBack => Some("scroll DATA left"),
            Command::StepForward => Some("scroll DATA right"),
            _ => None,
        }
    }
}

impl EventsView {
    /// The range `R` offers: exactly what the view shows — its scope and its filter — from
    /// the first mark (to the second, when two are marked).
    fn replay_range(&self) -> ReplayScope {
        let f = &self.query.filter;
        let mut range = crate::replay::Range {
            types: f.types.clone(),
            category: f.category.clone(),
            stream_prefix: f.stream_prefix.clone(),
            since: f.since,
            until: f.until,
            jq: self.query.jq.as_ref().map(|j| j.source().to_string()),
            ..Default::default()
        };
        let here = match &self.scope {
            Scope::Log => f.stream.clone(),
            Scope::Stream(s) => Some(s.clone()),
        };
        if let Some(s) = &here {
            range.stream = Some(s.clone());
            range.category = None;
            range.stream_prefix = None;
        }
        let mut source = match (&self.scope, &here) {
            (Scope::Stream(s), _) => format!("stream {s}"),
            (Scope::Log, Some(s)) => format!("stream {s} in the log"),
            (Scope::Log, None) => "the whole log".to_string(),
        };
        if !self.query.is_empty() {
            source.push_str(&format!(" · filter {}", self.query.text));
        }
        if !self.marks.is_empty() {
            if range.stream.is_some() {
                let v: Vec<i64> = self.marks.iter().map(|m| m.stream_version).collect();
                range.from_version = v.iter().min().copied();
                range.to_version = (v.len() > 1).then(|| v.iter().max().copied()).flatten();
            } else {
                let p: Vec<i64> = self
                    .marks
                    .iter()
                    .map(|m| m.global_position)
                    .collect::<Option<_>>()
                    .ok_or(
                        "this layout has no global positions: replay by filter (R without marks)",
                    )?;
                range.from_position = p.iter().min().copied();
                range.to_position = (p.len() > 1).then(|| p.iter().max().copied()).flatten();
            }
            source = format!("marked range of {source}");
        }
        Ok((range, source))
    }
}
