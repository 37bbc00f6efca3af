//! The TUI's state and its two pure-ish functions: `update` (a message in, state changed, work
//! spawned — never awaited) and `draw` (state to frame, no side effects).

use std::time::Instant;

use chrono::Utc;
use ratatui::Frame;
use ratatui::crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table};
use ratatui_textarea::TextArea;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::json::{self, JsonLines};
use super::keys::{COMMANDS, Command, KeyMap};
use super::theme::Theme;
use super::window::{Anchor, Side, Want, Window};
use crate::filter::{self, Query, fetch_filtered, keep_matching};
use crate::output::clip;
use crate::store::head::HighWaterMark;
use crate::store::model::format_time;
use crate::store::{
    Cursor, Direction, Event, LogQuery, Start, Store, StreamInfo, StreamQuery, StreamRead,
};

/// Rows per page fetched.
pub const PAGE: u32 = 200;

/// Everything that reaches `update`.
#[derive(Debug)]
pub enum Msg {
    Term(TermEvent),
    Tick,
    Events {
        id: u64,
        side: Side,
        result: Result<(Vec<Event>, bool), String>,
        hwm: Option<HighWaterMark>,
    },
    Streams {
        id: u64,
        side: Side,
        result: Result<(Vec<StreamInfo>, bool), String>,
    },
    Head {
        id: u64,
        result: Result<Option<i64>, String>,
    },
    Found {
        id: u64,
        wanted: String,
        result: Result<Option<Event>, String>,
    },
    JumpTo {
        id: u64,
        result: Result<Option<Cursor>, String>,
    },
    Exported {
        result: Result<(String, usize), String>,
    },
    /// How far the rehydration worker's fold has got.
    FoldProgress {
        version: i64,
        target: i64,
    },
    /// The replay dry run has counted this many events so far.
    ReplayCounted {
        id: u64,
        n: u64,
    },
    /// The replay dry run waits for positions held by open transactions.
    ReplayWaiting {
        id: u64,
        detail: String,
    },
    ReplayPlanned {
        id: u64,
        result: Result<Box<super::replay::Ready>, String>,
    },
    ReplayProgress(Box<crate::replay::Progress>),
    /// The replay job ended (its final status), or could not start.
    ReplayDone {
        result: Result<crate::replay::job::Status, String>,
    },
    /// A time-travel step from the rehydration worker.
    Step {
        id: u64,
        result: Result<Box<super::rehydrate::Shown>, String>,
    },
    /// A stream's snapshots checked against its events.
    SnapshotChecks {
        id: u64,
        result: Result<super::snapshots::Checked, String>,
    },
    /// One snapshot and the state recomputed at its version.
    SnapshotDiff {
        id: u64,
        result: Result<Box<super::snapshots::Compared>, String>,
    },
    /// How far the audit has read.
    AuditProgress {
        id: u64,
        events: u64,
    },
    Audit {
        id: u64,
        result: Result<
            (
                Vec<crate::snapshots::audit::Finding>,
                crate::snapshots::audit::AuditSummary,
            ),
            String,
        >,
    },
}

/// A row of an event list, with its display strings built once when the page arrives.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event: Event,
    pub position: String,
    pub time: String,
    pub preview: String,
}

impl EventRow {
    pub fn new(event: Event) -> EventRow {
        let preview = match &event.data {
            Value::String(s) if !event.problems.is_empty() => format!("! {s}"),
            v => v.to_string(),
        };
        EventRow {
            position: event.global_position.map_or("-".into(), |p| p.to_string()),
            time: event.recorded_at.as_ref().map_or("?".into(), format_time),
            preview: clip(&preview, 400),
            event,
        }
    }
}

fn cursor_key(r: &EventRow) -> Cursor {
    r.event.cursor()
}
fn version_key(r: &EventRow) -> i64 {
    r.event.stream_version
}
/// The stream list's order key: by id, or by recent activity (newest first).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum StreamKey {
    Id(String),
    /// The negated position of the stream's newest event (ascending = most recent first).
    Recent(i64),
}

fn stream_key(r: &StreamInfo) -> StreamKey {
    StreamKey::Id(r.stream_id.clone())
}

fn recent_key(r: &StreamInfo) -> StreamKey {
    StreamKey::Recent(-r.last_position.unwrap_or(0))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Streams,
    Log,
    Stream,
    Detail,
    Rehydrate,
    /// A stream's snapshots, each checked against the events.
    Snapshots,
    /// One snapshot: stored vs recomputed, side by side.
    SnapshotDiff,
    /// The store's integrity audit.
    Audit,
}

/// The time-travel view: a worker owning the stream's timeline, and what it last showed.
pub struct RehydrateView {
    pub stream: String,
    worker: super::rehydrate::Worker,
    pending: Option<u64>,
    pub shown: Option<super::rehydrate::Shown>,
    /// The state's lines, built when a step arrives.
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
    pub error: Option<String>,
    /// (version reached, target) of a fold in progress.
    pub progress: Option<(i64, i64)>,
}

/// One end of a replay range, marked with `m` in the log (`stream` None) or in a stream.
#[derive(Debug, Clone)]
pub struct Marked {
    pub stream: Option<String>,
    pub event: Event,
}

pub struct DetailView {
    pub event: Event,
    pub lines: JsonLines,
    pub scroll: usize,
    pub link: usize,
}

/// The text inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Jump,
}

pub struct Input {
    pub kind: InputKind,
    pub area: TextArea<'static>,
    pub error: Option<String>,
}

pub struct App {
    pub store: Store,
    tx: UnboundedSender<Msg>,
    pub keys: KeyMap,
    pub theme: Theme,
    pub size: Size,
    pub quit: bool,
    pub dirty: bool,
    next_id: u64,
    /// The view stack: the last is shown, Back pops.
    pub views: Vec<ViewKind>,
    pub streams: Window<StreamInfo, StreamKey>,
    /// The stream list by recent activity instead of by id (`o`).
    pub streams_by_recent: bool,
    pub log: Window<EventRow, Cursor>,
    pub stream: Window<EventRow, i64>,
    pub stream_id: String,
    pub details: Vec<DetailView>,
    pub rehydrate: Option<RehydrateView>,
    /// The replay dialog, while open.
    pub replay: Option<super::replay::Dialog>,
    /// The replay job started from here, while it runs and until its panel is closed.
    pub replay_job: Option<super::replay::Running>,
    /// The sink fields last used.
    pub replay_choice: super::replay::Choice,
    /// Ends of a replay range marked with `m`.
    pub marks: Vec<Marked>,
    replay_plan: Option<JoinHandle<()>>,
    /// Where replay jobs are kept (the data directory's `replay`).
    pub replay_dir: std::path::PathBuf,
    /// `q` was pressed once while a replay runs.
    quit_armed: bool,
    pub snapshot_list: Option<super::snapshots::SnapshotList>,
    pub snapshot_diff: Option<super::snapshots::DiffView>,
    pub audit: Option<super::snapshots::AuditView>,
    /// Where the reducers for time travel (and the snapshot checks) come from.
    pub reducers: super::rehydrate::ReducerSource,
    pub query: Query,
    pub input: Option<Input>,
    pub help: bool,
    pub help_scroll: usize,
    pub following: bool,
    hwm: Option<HighWaterMark>,
    pub head: Option<i64>,
    head_req: Option<u64>,
    pub status: Option<(String, bool)>,
    tasks: Vec<(u64, JoinHandle<()>)>,
    link_req: Option<u64>,
    jump_req: Option<u64>,
    pub exporting: bool,
    /// Where `e` writes its file (the working directory unless set).
    pub export_dir: std::path::PathBuf,
    pub started: Instant,
    /// Set when the first page with rows has been drawn (start-up latency figure).
    pub first_data: Option<std::time::Duration>,
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
            views: vec![ViewKind::Log],
            streams: Window::new(stream_key),
            streams_by_recent: false,
            log: Window::new(cursor_key),
            stream: Window::new(version_key),
            stream_id: String::new(),
            details: Vec::new(),
            rehydrate: None,
            snapshot_list: None,
            snapshot_diff: None,
            audit: None,
            replay: None,
            replay_job: None,
            replay_choice: Default::default(),
            marks: Vec::new(),
            replay_plan: None,
            replay_dir: crate::replay::job::JobStore::default_dir(),
            quit_armed: false,
            reducers: super::rehydrate::ReducerSource::None,
            query: empty_query(),
            input: None,
            help: false,
            help_scroll: 0,
            following: false,
            hwm: None,
            head: None,
            head_req: None,
            status: None,
            tasks: Vec::new(),
            link_req: None,
            jump_req: None,
            exporting: false,
            export_dir: std::path::PathBuf::from("."),
            started: Instant::now(),
            first_data: None,
        }
    }

    /// Initial requests: the newest events of the log, the head position.
    pub fn start(&mut self) {
        self.reset_log(Anchor::End);
        self.refresh_head();
    }

    pub fn view(&self) -> ViewKind {
        *self.views.last().unwrap_or(&ViewKind::Log)
    }

    pub fn is_loading(&self) -> bool {
        self.streams.is_loading()
            || self.log.is_loading()
            || self.stream.is_loading()
            || self.link_req.is_some()
            || self.jump_req.is_some()
            || self.head_req.is_some()
            || self.exporting
            || self.rehydrate.as_ref().is_some_and(|r| r.pending.is_some())
            || self
                .snapshot_list
                .as_ref()
                .is_some_and(|l| l.pending.is_some())
            || self
                .snapshot_diff
                .as_ref()
                .is_some_and(|d| d.pending.is_some())
            || self.audit.as_ref().is_some_and(|a| a.pending.is_some())
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Rows available to a list in the current layout.
    pub fn list_height(&self) -> usize {
        let areas = Areas::new(
            Rect::new(0, 0, self.size.width, self.size.height),
            self.input.is_some(),
        );
        areas.main.height.saturating_sub(3) as usize // borders + header
    }

    fn spawn<F>(&mut self, id: u64, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // Forget finished tasks; keep handles of running ones so superseded work can be aborted.
        self.tasks.retain(|(_, h)| !h.is_finished());
        self.tasks.push((id, tokio::spawn(fut)));
    }

    /// Abort the tasks no window waits for any more (a superseded query stops at once).
    fn cancel_stale(&mut self) {
        let mut live: Vec<u64> = self.streams.pending_ids();
        live.extend(self.log.pending_ids());
        live.extend(self.stream.pending_ids());
        live.extend(self.head_req);
        live.extend(self.link_req);
        live.extend(self.jump_req);
        for (id, h) in &self.tasks {
            if !live.contains(id) && !h.is_finished() && *id != u64::MAX {
                h.abort();
            }
        }
        self.tasks
            .retain(|(id, h)| live.contains(id) && !h.is_finished() || *id == u64::MAX);
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some((text.into(), error));
        self.dirty = true;
    }

    // ---- requests ------------------------------------------------------------------------

    fn refresh_head(&mut self) {
        let id = self.id();
        self.head_req = Some(id);
        let (store, tx) = (self.store.clone(), self.tx.clone());
        self.spawn(id, async move {
            let result = store.max_position().await.map_err(|e| e.to_string());
            let _ = tx.send(Msg::Head { id, result });
        });
    }

    fn reset_log(&mut self, anchor: Anchor<Cursor>) {
        let id = self.id();
        let want = self.log.reset(anchor, id);
        self.fetch_log(id, want, None);
        self.cancel_stale();
    }

    fn fetch_log(&mut self, id: u64, want: Want<Cursor>, hwm: Option<HighWaterMark>) {
        let (store, tx) = (self.store.clone(), self.tx.clone());
        let filter = self.query.filter.clone();
        let jq = self.query.jq.clone();
        let (side, start, direction) = match want {
            Want::Reset(Anchor::Start) => (Side::Reset, Start::End, Direction::Forward),
            Want::Reset(Anchor::End) => (Side::Reset, Start::End, Direction::Backward),
            Want::Reset(Anchor::At(c)) => (Side::Reset, Start::At(c), Direction::Forward),
            Want::After(c) => (Side::After, Start::After(c), Direction::Forward),
            Want::Before(c) => (Side::Before, Start::After(c), Direction::Backward),
        };
        self.spawn(id, async move {
            let mut hwm = hwm;
            let up_to = match &mut hwm {
                Some(h) => match h.advance(&store).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        let _ = tx.send(Msg::Events {
                            id,
                            side,
                            result: Err(e.to_string()),
                            hwm,
                        });
                        return;
                    }
                },
                None => None,
            };
            let q = LogQuery {
                filter,
                start,
                direction,
                limit: PAGE,
                up_to,
            };
            let result = fetch_filtered(jq.as_ref(), q, |q| {
                let store = store.clone();
                async move { store.read_log(&q).await }
            })
            .await;
            let _ = tx.send(Msg::Events {
                id,
                side,
                result,
                hwm,
            });
        });
    }

    fn open_stream(&mut self, stream: String) {
        self.open_stream_at(stream, Anchor::Start);
    }

    /// Open a stream at a version (or its start, or its end).
    fn open_stream_at(&mut self, stream: String, anchor: Anchor<i64>) {
        self.stream_id = stream;
        self.stream = Window::new(version_key);
        let id = self.id();
        let want = self.stream.reset(anchor, id);
        self.fetch_stream(id, want);
        self.push_view(ViewKind::Stream);
    }

    fn fetch_stream(&mut self, id: u64, want: Want<i64>) {
        let (store, tx) = (self.store.clone(), self.tx.clone());
        let stream = self.stream_id.clone();
        let f = &self.query.filter;
        let base = StreamRead {
            limit: PAGE,
            types: f.types.clone(),
            since: f.since,
            until: f.until,
            ..Default::default()
        };
        let jq = self.query.jq.clone();
        let (side, read) = match want {
            Want::Reset(Anchor::Start) => (Side::Reset, base),
            Want::Reset(Anchor::End) => (
                Side::Reset,
                StreamRead {
                    direction: Direction::Backward,
                    ..base
                },
            ),
            Want::Reset(Anchor::At(v)) => (
                Side::Reset,
                StreamRead {
                    from_version: Some(v),
                    ..base
                },
            ),
            Want::After(v) => (
                Side::After,
                StreamRead {
                    after_version: Some(v),
                    ..base
                },
            ),
            Want::Before(v) => (
                Side::Before,
                StreamRead {
                    after_version: Some(v),
                    direction: Direction::Backward,
                    ..base
                },
            ),
        };
        self.spawn(id, async move {
            // The stream reader pages by version; a jq filter pages through LogQuery-like
            // continuation on the version.
            let mut out: Vec<Event> = Vec::new();
            let mut read = read;
            let mut scanned = 0usize;
            let result = loop {
                match store.read_stream(&stream, &read).await {
                    Err(e) => break Err(e.to_string()),
                    Ok(page) => {
                        let full = page.len() as u32 == read.limit;
                        scanned += page.len();
                        let last = page.last().map(|e| e.stream_version);
                        match &jq {
                            Some(p) => match keep_matching(p, page).await {
                                Ok(kept) => out.extend(kept),
                                Err(e) => break Err(e.to_string()),
                            },
                            None => out.extend(page),
                        }
                        if !full
                            || out.len() >= PAGE as usize
                            || (scanned >= filter::SCAN_BUDGET && !out.is_empty())
                        {
                            break Ok((out, full));
                        }
                        read.after_version = last;
                        read.from_version = None;
                    }
                }
            };
            let _ = tx.send(Msg::Events {
                id: id | STREAM_BIT,
                side,
                result,
                hwm: None,
            });
        });
    }

    fn reset_streams(&mut self, anchor: Anchor<StreamKey>) {
        let id = self.id();
        let want = self.streams.reset(anchor, id);
        self.fetch_streams(id, want);
        self.cancel_stale();
    }

    fn fetch_streams(&mut self, id: u64, want: Want<StreamKey>) {
        let (store, tx) = (self.store.clone(), self.tx.clone());
        let f = &self.query.filter;
        let category = f.category.clone();
        let prefix = f.stream_prefix.clone().or_else(|| f.stream.clone());
        let side = match &want {
            Want::Reset(_) => Side::Reset,
            Want::After(_) => Side::After,
            Want::Before(_) => Side::Before,
        };
        if self.streams_by_recent {
            // Ascending keys are descending positions: After = older, Before = newer.
            let (direction, from) = match want {
                Want::Reset(Anchor::End) => (Direction::Forward, None),
                Want::After(StreamKey::Recent(k)) => (Direction::Backward, Some(-k)),
                Want::Before(StreamKey::Recent(k)) => (Direction::Forward, Some(-k)),
                _ => (Direction::Backward, None),
            };
            self.spawn(id, async move {
                let result = store
                    .recent_streams(
                        direction,
                        from,
                        PAGE as usize,
                        category.as_deref(),
                        prefix.as_deref(),
                    )
                    .await
                    .map(|rows| {
                        let full = rows.len() >= PAGE as usize;
                        (rows, full)
                    })
                    .map_err(|e| e.to_string());
                let _ = tx.send(Msg::Streams { id, side, result });
            });
            return;
        }
        let id_of = |k: StreamKey| match k {
            StreamKey::Id(s) => s,
            StreamKey::Recent(_) => String::new(),
        };
        let base = StreamQuery {
            category,
            prefix,
            after: None,
            direction: Direction::Forward,
            limit: PAGE,
        };
        let q = match want {
            Want::Reset(Anchor::Start) => base,
            Want::Reset(Anchor::End) => StreamQuery {
                direction: Direction::Backward,
                ..base
            },
            // At a stream: start just before it (keyset pages are strictly after their key).
            Want::Reset(Anchor::At(k)) => StreamQuery {
                after: Some(predecessor(&id_of(k))),
                ..base
            },
            Want::After(k) => StreamQuery {
                after: Some(id_of(k)),
                ..base
            },
            Want::Before(k) => StreamQuery {
                after: Some(id_of(k)),
                direction: Direction::Backward,
                ..base
            },
        };
        self.spawn(id, async move {
            let result = store
                .list_streams(&q)
                .await
                .map(|rows| {
                    let full = rows.len() as u32 >= q.limit;
                    (rows, full)
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(Msg::Streams { id, side, result });
        });
    }

    /// Ask each window for what it needs next (after a move or an answer).
    fn pump(&mut self) {
        let mut id = self.next_id;
        match self.view() {
            ViewKind::Log => {
                if let Some(want) = self.log.wants(&mut id) {
                    self.next_id = id;
                    self.fetch_log(id, want, None);
                }
            }
            ViewKind::Stream => {
                if let Some(want) = self.stream.wants(&mut id) {
                    self.next_id = id;
                    self.fetch_stream(id, want);
                }
            }
            ViewKind::Streams => {
                if let Some(want) = self.streams.wants(&mut id) {
                    self.next_id = id;
                    self.fetch_streams(id, want);
                }
            }
            ViewKind::Detail
            | ViewKind::Rehydrate
            | ViewKind::Snapshots
            | ViewKind::SnapshotDiff
            | ViewKind::Audit => {}
        }
    }

    fn push_view(&mut self, v: ViewKind) {
        if self.view() != v || v == ViewKind::Detail {
            self.views.push(v);
        }
        self.dirty = true;
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
            Msg::Tick => self.on_tick(),
            Msg::Head { id, result } => {
                if self.head_req == Some(id) {
                    self.head_req = None;
                    match result {
                        Ok(h) => self.head = h,
                        Err(e) => self.set_status(format!("error: {e}"), true),
                    }
                    self.dirty = true;
                }
            }
            Msg::Events {
                id,
                side,
                result,
                hwm,
            } => self.on_events(id, side, result, hwm),
            Msg::Streams { id, side, result } => {
                let h = self.list_height();
                match result {
                    Ok((rows, full)) => {
                        if self.streams.answer(id, side, rows, full, h) {
                            self.dirty = true;
                            self.pump();
                        }
                    }
                    Err(e) => {
                        if self.streams.failed(id) {
                            self.set_status(format!("error: {e}"), true);
                        }
                    }
                }
            }
            Msg::Found { id, wanted, result } => {
                if self.link_req == Some(id) {
                    self.link_req = None;
                    match result {
                        Ok(Some(e)) => self.open_detail(e),
                        Ok(None) => self
                            .set_status(format!("no event with id {wanted} in this store"), false),
                        Err(e) => self.set_status(format!("error: {e}"), true),
                    }
                    self.dirty = true;
                }
            }
            Msg::JumpTo { id, result } => {
                if self.jump_req == Some(id) {
                    self.jump_req = None;
                    match result {
                        Ok(Some(c)) => self.reset_log(Anchor::At(c)),
                        Ok(None) => self.set_status("no event at or after that time", false),
                        Err(e) => self.set_status(format!("error: {e}"), true),
                    }
                }
            }
            Msg::FoldProgress { version, target } => {
                if let Some(r) = &mut self.rehydrate {
                    if r.pending.is_some() {
                        r.progress = Some((version, target));
                        self.dirty = true;
                    }
                }
            }
            Msg::ReplayCounted { id, n } => {
                if let Some(d) = &mut self.replay {
                    if let super::replay::Stage::Planning {
                        id: cur, counted, ..
                    } = &mut d.stage
                    {
                        if *cur == id {
                            *counted = n;
                            self.dirty = true;
                        }
                    }
                }
            }
            Msg::ReplayWaiting { id, detail } => {
                if let Some(d) = &mut self.replay {
                    if let super::replay::Stage::Planning {
                        id: cur, waiting, ..
                    } = &mut d.stage
                    {
                        if *cur == id {
                            *waiting = Some(detail);
                            self.dirty = true;
                        }
                    }
                }
            }
            Msg::ReplayPlanned { id, result } => {
                if let Some(d) = &mut self.replay {
                    if matches!(d.stage, super::replay::Stage::Planning { id: cur, .. } if cur == id)
                    {
                        match result {
                            Ok(ready) => {
                                d.stage = super::replay::Stage::Confirm {
                                    ready,
                                    typed: TextArea::default(),
                                    error: None,
                                }
                            }
                            Err(e) => d.back_to_form(Some(e)),
                        }
                        self.dirty = true;
                    }
                }
            }
            Msg::ReplayProgress(p) => {
                if let Some(j) = &mut self.replay_job {
                    if p.job == j.id {
                        j.progress = Some(*p);
                        self.dirty = true;
                    }
                }
            }
            Msg::ReplayDone { result } => {
                if let Some(j) = &mut self.replay_job {
                    if !j.shown {
                        let text = match &result {
                            Ok(s) => format!("replay {} {}", j.id, s.label()),
                            Err(e) => format!("replay could not start: {e}"),
                        };
                        let failed = !matches!(result, Ok(crate::replay::job::Status::Completed));
                        self.status = Some((text, failed));
                    }
                    j.done = Some(result);
                    self.quit_armed = false;
                    self.dirty = true;
                }
            }
            Msg::Step { id, result } => {
                let theme = self.theme.clone();
                let Some(r) = &mut self.rehydrate else { return };
                if r.pending != Some(id) {
                    return; // superseded
                }
                r.pending = None;
                r.progress = None;
                match result {
                    Ok(shown) => {
                        let hl: std::collections::HashSet<String> =
                            shown.changed.iter().cloned().collect();
                        r.lines = json::highlighted_lines(&shown.step.state, &theme, &hl);
                        // Keep the first changed line in view.
                        if let Some(i) = r.lines.iter().position(|l| l.style == theme.selected) {
                            let h = self.size.height.saturating_sub(8) as usize;
                            if i < r.scroll || i >= r.scroll + h {
                                r.scroll = i.saturating_sub(2);
                            }
                        }
                        r.error = None;
                        r.shown = Some(*shown);
                    }
                    Err(e) => r.error = Some(e),
                }
                self.dirty = true;
            }
            Msg::SnapshotChecks { id, result } => {
                let Some(l) = &mut self.snapshot_list else {
                    return;
                };
                if l.pending != Some(id) {
                    return; // superseded
                }
                l.pending = None;
                match result {
                    Ok(c) => {
                        // Start at the first snapshot that is not ok: that is what one looks for.
                        l.selected = c
                            .checks
                            .iter()
                            .position(|c| c.status != crate::snapshots::Status::Ok)
                            .unwrap_or(0);
                        l.checked = Some(c);
                        let h = self.snapshot_rows();
                        if let Some(l) = &mut self.snapshot_list {
                            l.top = super::snapshots::follow(l.selected, 0, h);
                        }
                    }
                    Err(e) => l.error = Some(e),
                }
                self.dirty = true;
            }
            Msg::SnapshotDiff { id, result } => {
                let h = self.diff_height();
                let Some(d) = &mut self.snapshot_diff else {
                    return;
                };
                if d.pending != Some(id) {
                    return; // superseded
                }
                d.pending = None;
                match result {
                    Ok(c) => {
                        d.show(*c, &self.theme);
                        let h = h(d);
                        d.reveal(h);
                    }
                    Err(e) => d.error = Some(e),
                }
                self.dirty = true;
            }
            Msg::AuditProgress { id, events } => {
                if let Some(a) = &mut self.audit {
                    if a.pending == Some(id) {
                        a.read = events;
                        self.dirty = true;
                    }
                }
            }
            Msg::Audit { id, result } => {
                let Some(a) = &mut self.audit else { return };
                if a.pending != Some(id) {
                    return; // superseded
                }
                a.pending = None;
                match result {
                    Ok((findings, summary)) => {
                        a.findings = findings;
                        a.summary = Some(summary);
                        a.selected = 0;
                        a.top = 0;
                    }
                    Err(e) => a.error = Some(e),
                }
                self.dirty = true;
            }
            Msg::Exported { result } => {
                self.exporting = false;
                match result {
                    Ok((path, n)) => {
                        self.set_status(format!("exported {n} events to {path}"), false)
                    }
                    Err(e) => self.set_status(format!("export failed: {e}"), true),
                }
            }
        }
    }

    fn on_events(
        &mut self,
        id: u64,
        side: Side,
        result: Result<(Vec<Event>, bool), String>,
        hwm: Option<HighWaterMark>,
    ) {
        let h = self.list_height();
        if hwm.is_some() {
            self.hwm = hwm;
        }
        let (win_is_stream, id) = if id & STREAM_BIT != 0 {
            (true, id & !STREAM_BIT)
        } else {
            (false, id)
        };
        match result {
            Ok((events, full)) => {
                let rows: Vec<EventRow> = events.into_iter().map(EventRow::new).collect();
                let n = rows.len();
                let accepted = if win_is_stream {
                    let at_last = self.stream.selected + 1 >= self.stream.rows.len();
                    let ok = self.stream.answer(id, side, rows, full, h);
                    if ok && self.following && at_last && side == Side::After && n > 0 {
                        let last = self.stream.rows.len() - 1;
                        self.stream.select(last, h);
                    }
                    ok
                } else {
                    let at_last = self.log.selected + 1 >= self.log.rows.len();
                    let ok = self.log.answer(id, side, rows, full, h);
                    if ok && self.following && at_last && side == Side::After && n > 0 {
                        let last = self.log.rows.len() - 1;
                        self.log.select(last, h);
                    }
                    if ok && self.following {
                        if let Some(p) = self.log.rows.last().and_then(|r| r.event.global_position)
                        {
                            self.head = Some(self.head.map_or(p, |h| h.max(p)));
                        }
                    }
                    ok
                };
                // A jump past the end: say so, and show the end instead of an empty screen.
                let jumped_past = accepted
                    && side == Side::Reset
                    && n == 0
                    && if win_is_stream {
                        matches!(self.stream.anchor(), Anchor::At(_))
                    } else {
                        matches!(self.log.anchor(), Anchor::At(_))
                    };
                if jumped_past {
                    self.set_status("nothing at or after that point: showing the end", false);
                    if win_is_stream {
                        self.reset_stream(Anchor::End);
                    } else {
                        self.reset_log(Anchor::End);
                    }
                    return;
                }
                if accepted {
                    if self.first_data.is_none() && n > 0 {
                        self.first_data = Some(self.started.elapsed());
                    }
                    self.dirty = true;
                    self.pump();
                }
            }
            Err(e) => {
                let accepted = if win_is_stream {
                    self.stream.failed(id)
                } else {
                    self.log.failed(id)
                };
                if accepted {
                    self.set_status(format!("error: {e}"), true);
                }
            }
        }
    }

    fn on_tick(&mut self) {
        if self.following && self.view() == ViewKind::Stream && !self.stream.is_loading() {
            let mut id = self.next_id;
            if let Some(want) = self.stream.want_tail(&mut id) {
                self.next_id = id;
                self.fetch_stream(id, want);
            }
        }
        if self.following && self.view() == ViewKind::Log && !self.log.is_loading() {
            let mut id = self.next_id;
            if let Some(want) = self.log.want_tail(&mut id) {
                self.next_id = id;
                let hwm = self.hwm.take().or_else(|| {
                    let safe = self.log.rows.last().and_then(|r| r.event.global_position)?;
                    Some(HighWaterMark::new(safe))
                });
                self.fetch_log(id, want, hwm);
                self.dirty = true;
            }
        }
        if self.is_loading() {
            self.dirty = true; // the spinner moves
        }
    }

    fn open_detail(&mut self, event: Event) {
        let lines = json::event_lines(&event, &self.theme);
        self.details.push(DetailView {
            event,
            lines,
            scroll: 0,
            link: 0,
        });
        self.push_view(ViewKind::Detail);
    }

    fn selected_event(&self) -> Option<&Event> {
        match self.view() {
            ViewKind::Log => self.log.selected_row().map(|r| &r.event),
            ViewKind::Stream => self.stream.selected_row().map(|r| &r.event),
            ViewKind::Detail => self.details.last().map(|d| &d.event),
            ViewKind::Rehydrate => self
                .rehydrate
                .as_ref()
                .and_then(|r| r.shown.as_ref()?.step.event.as_ref()),
            ViewKind::Streams | ViewKind::Snapshots | ViewKind::SnapshotDiff | ViewKind::Audit => {
                None
            }
        }
    }

    fn on_key(&mut self, k: KeyEvent) {
        self.dirty = true;
        if let Some(input) = &mut self.input {
            use ratatui::crossterm::event::KeyCode;
            match k.code {
                KeyCode::Esc => self.input = None,
                KeyCode::Enter => self.submit_input(),
                _ => {
                    input.area.input(k);
                    input.error = None;
                }
            }
            return;
        }
        if self.replay.is_some() {
            self.on_replay_key(k);
            return;
        }
        if self.replay_job.as_ref().is_some_and(|j| j.shown) {
            self.on_replay_panel_key(k);
            return;
        }
        if self.help {
            // The help scrolls with the movement keys; any other key closes it.
            match self.keys.command(&k) {
                Some(Command::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(Command::Down) => self.help_scroll += 1,
                Some(Command::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
                Some(Command::PageDown) => self.help_scroll += 10,
                _ => {
                    self.help = false;
                    self.help_scroll = 0;
                }
            }
            return;
        }
        let Some(cmd) = self.keys.command(&k) else {
            return;
        };
        self.status = None;
        if self.view() == ViewKind::Rehydrate && self.on_rehydrate_key(cmd) {
            return;
        }
        let own = match self.view() {
            ViewKind::Snapshots => self.on_snapshots_key(cmd),
            ViewKind::SnapshotDiff => self.on_diff_key(cmd),
            ViewKind::Audit => self.on_audit_key(cmd),
            _ => false,
        };
        if own {
            return;
        }
        let h = self.list_height();
        let page = h.max(1) as isize;
        match cmd {
            Command::Quit => {
                let running = self.replay_job.as_ref().filter(|j| j.is_active());
                match running {
                    Some(j) if !self.quit_armed => {
                        let id = j.id.clone();
                        self.quit_armed = true;
                        self.set_status(
                            format!("a replay is running: q again stops it at its checkpoint (evscope replay resume {id} continues it)"),
                            true,
                        );
                    }
                    _ => self.quit = true,
                }
            }
            Command::Help => self.help = true,
            Command::Up => self.move_by(-1),
            Command::Down => self.move_by(1),
            Command::PageUp => self.move_by(-page),
            Command::PageDown => self.move_by(page),
            Command::Home => match self.view() {
                ViewKind::Log => self.reset_log(Anchor::Start),
                ViewKind::Stream => self.reset_stream(Anchor::Start),
                ViewKind::Streams => self.reset_streams(Anchor::Start),
                ViewKind::Rehydrate
                | ViewKind::Snapshots
                | ViewKind::SnapshotDiff
                | ViewKind::Audit => {}
                ViewKind::Detail => {
                    if let Some(d) = self.details.last_mut() {
                        d.scroll = 0;
                    }
                }
            },
            Command::End => match self.view() {
                ViewKind::Log => {
                    self.reset_log(Anchor::End);
                    self.refresh_head();
                }
                ViewKind::Stream => self.reset_stream(Anchor::End),
                ViewKind::Streams => self.reset_streams(Anchor::End),
                ViewKind::Rehydrate
                | ViewKind::Snapshots
                | ViewKind::SnapshotDiff
                | ViewKind::Audit => {}
                ViewKind::Detail => {
                    if let Some(d) = self.details.last_mut() {
                        d.scroll = d.lines.lines.len().saturating_sub(h);
                    }
                }
            },
            Command::Open => self.open(),
            Command::Back => self.back(),
            Command::NextPane => {
                if let Some(d) = self.details.last_mut() {
                    if !d.lines.links.is_empty() && self.views.last() == Some(&ViewKind::Detail) {
                        d.link = (d.link + 1) % d.lines.links.len();
                        d.scroll = d.lines.links[d.link].line.saturating_sub(2);
                        return;
                    }
                }
                let next = match self.view() {
                    ViewKind::Log => ViewKind::Streams,
                    _ => ViewKind::Log,
                };
                self.switch_to(next);
            }
            Command::Streams => self.switch_to(ViewKind::Streams),
            Command::Log => self.switch_to(ViewKind::Log),
            Command::Filter => {
                let mut area = TextArea::new(vec![self.query.text.clone()]);
                area.move_cursor(ratatui_textarea::CursorMove::End);
                self.input = Some(Input {
                    kind: InputKind::Filter,
                    area,
                    error: None,
                });
            }
            Command::ClearFilter => self.apply_query(empty_query()),
            Command::Jump => {
                self.input = Some(Input {
                    kind: InputKind::Jump,
                    area: TextArea::default(),
                    error: None,
                });
            }
            Command::Follow => {
                self.following = !self.following;
                if self.following {
                    if self.view() == ViewKind::Stream {
                        // A stream's versions cannot commit out of order: follow by version.
                        if self.stream.at_end {
                            let last = self.stream.rows.len().saturating_sub(1);
                            self.stream.select(last, h);
                        } else {
                            self.reset_stream(Anchor::End);
                        }
                        self.set_status(format!("following {} (f to stop)", self.stream_id), false);
                        return;
                    }
                    if self.view() != ViewKind::Log {
                        self.switch_to(ViewKind::Log);
                    }
                    if self.log.at_end {
                        let last = self.log.rows.len().saturating_sub(1);
                        self.log.select(last, h);
                    } else {
                        self.reset_log(Anchor::End);
                    }
                    self.set_status("following new events (f to stop)", false);
                } else {
                    self.hwm = None;
                    self.set_status("stopped following", false);
                }
            }
            Command::Copy => match self.selected_event().map(serde_json::to_string) {
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
            Command::TimeTravel => self.time_travel(),
            Command::StepBack | Command::StepForward => {}
            Command::Snapshots => self.open_snapshots(),
            Command::Audit => self.open_audit(),
            Command::Mark => self.mark(),
            Command::Replay => self.open_replay(),
            Command::NextDiff | Command::PrevDiff => self.set_status(
                "n / N move between the differences of a snapshot (S lists a stream's snapshots)",
                false,
            ),
            Command::Sort => {
                if self.view() != ViewKind::Streams {
                    self.set_status(
                        "o sorts the stream list (by id / by recent activity)",
                        false,
                    );
                    return;
                }
                if self.store.layout().position.is_none() {
                    self.set_status(
                        "this layout has no global position to order streams by activity",
                        false,
                    );
                    return;
                }
                self.streams_by_recent = !self.streams_by_recent;
                self.streams = Window::new(if self.streams_by_recent {
                    recent_key
                } else {
                    stream_key
                });
                self.reset_streams(Anchor::Start);
            }
            Command::Refresh => match self.view() {
                ViewKind::Log => {
                    let anchor = self
                        .log
                        .selected_row()
                        .map_or(Anchor::End, |r| Anchor::At(r.event.cursor()));
                    self.reset_log(anchor);
                    self.refresh_head();
                }
                ViewKind::Stream => self.reset_stream(Anchor::Start),
                ViewKind::Streams => self.reset_streams(Anchor::Start),
                ViewKind::Detail
                | ViewKind::Rehydrate
                | ViewKind::Snapshots
                | ViewKind::SnapshotDiff
                | ViewKind::Audit => {}
            },
        }
    }

    /// Open the time-travel view on the selected event's stream, at its version.
    fn time_travel(&mut self) {
        let (stream, at) = match self.view() {
            ViewKind::Streams => match self.streams.selected_row() {
                Some(s) => (s.stream_id.clone(), None),
                None => return,
            },
            _ => match self.selected_event() {
                Some(e) => (e.stream_id.clone(), Some(e.stream_version)),
                None => return,
            },
        };
        self.open_time_travel(stream, at);
    }

    /// The time-travel view on `stream`, at version `at` (its last when None).
    fn open_time_travel(&mut self, stream: String, at: Option<i64>) {
        let id = self.id();
        let worker = super::rehydrate::start(
            self.store.clone(),
            stream.clone(),
            self.reducers.clone(),
            at,
            id,
            self.tx.clone(),
        );
        self.rehydrate = Some(RehydrateView {
            stream,
            worker,
            pending: Some(id),
            shown: None,
            lines: vec![],
            scroll: 0,
            error: None,
            progress: None,
        });
        self.views.retain(|v| *v != ViewKind::Rehydrate);
        self.views.push(ViewKind::Rehydrate);
        self.dirty = true;
    }

    fn send_step(&mut self, cmd: super::rehydrate::Cmd) {
        let id = self.id();
        if let Some(r) = &mut self.rehydrate {
            r.pending = Some(id);
            let _ = r.worker.tx.send((id, cmd));
        }
        self.dirty = true;
    }

    /// Keys of the time-travel view; false when the key is not its own.
    fn on_rehydrate_key(&mut self, cmd: Command) -> bool {
        use super::rehydrate::Cmd;
        let h = self.size.height.saturating_sub(8) as usize;
        match cmd {
            Command::StepBack => self.send_step(Cmd::Back),
            Command::StepForward => self.send_step(Cmd::Forward),
            Command::Home => self.send_step(Cmd::Start),
            Command::End => self.send_step(Cmd::End),
            Command::Refresh => {
                self.send_step(Cmd::Reload);
                self.set_status("reloading the reducers (the version is kept)", false);
            }
            Command::Up | Command::Down | Command::PageUp | Command::PageDown => {
                if let Some(r) = &mut self.rehydrate {
                    let d: isize = match cmd {
                        Command::Up => -1,
                        Command::Down => 1,
                        Command::PageUp => -(h as isize),
                        _ => h as isize,
                    };
                    let max = r.lines.len().saturating_sub(1) as isize;
                    r.scroll = (r.scroll as isize + d).clamp(0, max) as usize;
                }
            }
            Command::Back => {
                self.rehydrate = None;
                self.views.pop();
            }
            _ => return false,
        }
        self.dirty = true;
        true
    }

    // ---- snapshots and audit -------------------------------------------------------------

    /// Rows of the snapshot list and of the audit list.
    fn snapshot_rows(&self) -> usize {
        let areas = Areas::new(
            Rect::new(0, 0, self.size.width, self.size.height),
            self.input.is_some(),
        );
        super::snapshots::list_rows(areas.main)
    }

    /// The height of the diff view's panes, for a given diff (its summary takes some rows).
    fn diff_height(&self) -> impl Fn(&super::snapshots::DiffView) -> usize + use<> {
        let main = Areas::new(
            Rect::new(0, 0, self.size.width, self.size.height),
            self.input.is_some(),
        )
        .main;
        move |d| {
            let n = d.compared.as_ref().map_or(0, |c| c.changes.len());
            super::snapshots::pane_height(&super::snapshots::diff_areas(main, n))
        }
    }

    /// `S`: the snapshots of the stream shown (or rehydrated, or selected in the stream list,
    /// or of the event selected in the log or shown in the detail).
    fn open_snapshots(&mut self) {
        let stream = match self.view() {
            ViewKind::Stream => self.stream_id.clone(),
            ViewKind::Streams => match self.streams.selected_row() {
                Some(s) => s.stream_id.clone(),
                None => return,
            },
            ViewKind::Log | ViewKind::Detail => match self.selected_event() {
                Some(e) => e.stream_id.clone(),
                None => return,
            },
            ViewKind::Rehydrate => match &self.rehydrate {
                Some(r) => r.stream.clone(),
                None => return,
            },
            _ => {
                self.set_status(
                    "S lists the snapshots of a stream: open a stream first (1, then Enter)",
                    false,
                );
                return;
            }
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
        self.check_snapshots(stream);
        self.snapshot_diff = None;
        self.views
            .retain(|v| !matches!(v, ViewKind::Snapshots | ViewKind::SnapshotDiff));
        self.views.push(ViewKind::Snapshots);
    }

    /// (Re)check a stream's snapshots; a check still running for the view it replaces stops.
    fn check_snapshots(&mut self, stream: String) {
        let id = self.id();
        self.snapshot_list = Some(super::snapshots::start_list(
            self.store.clone(),
            self.reducers.clone(),
            stream,
            id,
            self.tx.clone(),
        ));
        self.dirty = true;
    }

    fn open_diff(&mut self, stream: String, version: i64) {
        let id = self.id();
        self.snapshot_diff = Some(super::snapshots::start_diff(
            self.store.clone(),
            self.reducers.clone(),
            stream,
            version,
            id,
            self.tx.clone(),
        ));
        self.views.retain(|v| *v != ViewKind::SnapshotDiff);
        self.views.push(ViewKind::SnapshotDiff);
        self.dirty = true;
    }

    // ---- replay ----------------------------------------------------------------------------

    /// `m`: mark the selected event as one end of a replay range; a third mark starts again,
    /// and marking a marked event removes it.
    fn mark(&mut self) {
        let (stream, event) = match self.view() {
            ViewKind::Log => (None, self.log.selected_row().map(|r| r.event.clone())),
            ViewKind::Stream => (
                Some(self.stream_id.clone()),
                self.stream.selected_row().map(|r| r.event.clone()),
            ),
            _ => {
                self.set_status(
                    "m marks the ends of a replay range in the log or a stream",
                    false,
                );
                return;
            }
        };
        let Some(event) = event else { return };
        if self.marks.len() >= 2 || self.marks.first().is_some_and(|m| m.stream != stream) {
            self.marks.clear();
        }
        let same = |m: &Marked| {
            m.event.stream_id == event.stream_id && m.event.stream_version == event.stream_version
        };
        if let Some(i) = self.marks.iter().position(same) {
            self.marks.remove(i);
            self.set_status("mark removed", false);
            return;
        }
        self.marks.push(Marked { stream, event });
        self.marks
            .sort_by_key(|m| (m.event.global_position, m.event.stream_version));
        let text = match self.marks.as_slice() {
            [a] => format!(
                "replay from {}: m on the last event, or R to replay from here",
                mark_text(a)
            ),
            [a, b] => format!(
                "replay range {} … {} marked: R to replay it",
                mark_text(a),
                mark_text(b)
            ),
            _ => String::new(),
        };
        self.set_status(text, false);
    }

    /// The range `R` offers: the marked events (one mark: from it on), within the filter in
    /// force; without marks, everything the view shows.
    fn replay_range(&self) -> Result<(crate::replay::Range, String), String> {
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
        let here = match self.view() {
            ViewKind::Log => f.stream.clone(),
            ViewKind::Stream => Some(self.stream_id.clone()),
            _ => return Err("R replays from the global log or a stream".into()),
        };
        if let Some(s) = &here {
            range.stream = Some(s.clone());
            range.category = None;
            range.stream_prefix = None;
        }
        let marks: Vec<&Marked> = self
            .marks
            .iter()
            .filter(|m| match self.view() {
                ViewKind::Stream => m.stream.as_deref() == Some(self.stream_id.as_str()),
                _ => m.stream.is_none(),
            })
            .collect();
        let filtered = !self.query.is_empty();
        let mut source = match (&here, filtered) {
            (Some(s), false) => format!("stream {s}"),
            (Some(s), true) => format!("stream {s}, filter in force"),
            (None, false) => "the whole log".to_string(),
            (None, true) => "the filter in force".to_string(),
        };
        if !marks.is_empty() {
            if range.stream.is_some() {
                let v: Vec<i64> = marks.iter().map(|m| m.event.stream_version).collect();
                range.from_version = v.iter().min().copied();
                range.to_version = (v.len() > 1).then(|| v.iter().max().copied()).flatten();
            } else {
                let p: Vec<i64> = marks
                    .iter()
                    .map(|m| m.event.global_position)
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

    /// `R`: the replay dialog, or the panel of the job already started from here.
    fn open_replay(&mut self) {
        if let Some(j) = &mut self.replay_job {
            j.shown = true;
            return;
        }
        match self.replay_range() {
            Ok((range, source)) => {
                self.replay = Some(super::replay::Dialog::new(
                    range,
                    source,
                    self.replay_choice.clone(),
                ));
            }
            Err(e) => self.set_status(e, true),
        }
    }

    fn on_replay_key(&mut self, k: KeyEvent) {
        use super::replay::{Action, Stage};
        let Some(d) = &mut self.replay else { return };
        match d.on_key(k) {
            Action::None => {
                if matches!(d.stage, Stage::Form { .. }) {
                    if let Some(t) = self.replay_plan.take() {
                        t.abort();
                    }
                }
            }
            Action::Close => {
                self.replay = None;
                if let Some(t) = self.replay_plan.take() {
                    t.abort();
                }
            }
            Action::Plan(what) => {
                self.replay_choice = d.choice.clone();
                self.next_id += 1;
                let id = self.next_id;
                if let Some(d) = &mut self.replay {
                    d.stage = Stage::Planning {
                        id,
                        counted: 0,
                        waiting: None,
                    };
                }
                if let Some(t) = self.replay_plan.take() {
                    t.abort();
                }
                self.replay_plan = Some(super::replay::spawn_plan(
                    self.store.clone(),
                    self.tx.clone(),
                    id,
                    *what,
                ));
            }
            Action::Start(ready) => {
                self.replay = None;
                self.marks.clear();
                self.replay_job = Some(super::replay::spawn_run(
                    self.store.clone(),
                    self.tx.clone(),
                    self.replay_dir.clone(),
                    *ready,
                ));
            }
        }
    }

    /// The progress panel: p pause/resume, c cancel, Esc hide (or close once it ended).
    fn on_replay_panel_key(&mut self, k: KeyEvent) {
        use crate::replay::Control;
        use ratatui::crossterm::event::KeyCode;
        let Some(j) = &mut self.replay_job else {
            return;
        };
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
                    self.replay_job = None;
                }
            }
            _ => {}
        }
    }

    /// Stop a running replay at its checkpoint (on quit); the task to wait for.
    pub fn stop_replay(&mut self) -> Option<JoinHandle<()>> {
        let j = self.replay_job.take()?;
        if !j.is_active() {
            return None;
        }
        let _ = j.ctl.send(crate::replay::Control::Stop);
        Some(j.handle)
    }

    /// `A`: audit the whole store (each time: the store may have changed).
    fn open_audit(&mut self) {
        let id = self.id();
        self.audit = Some(super::snapshots::start_audit(
            self.store.clone(),
            self.reducers.clone(),
            id,
            self.tx.clone(),
        ));
        self.views.retain(|v| *v != ViewKind::Audit);
        self.views.push(ViewKind::Audit);
        self.dirty = true;
    }

    /// Keys of the snapshot list; false when the key is not its own.
    fn on_snapshots_key(&mut self, cmd: Command) -> bool {
        let h = self.snapshot_rows();
        let Some(l) = &mut self.snapshot_list else {
            return false;
        };
        let n = l.checked.as_ref().map_or(0, |c| c.checks.len());
        let selected = l
            .selected_check()
            .map(|c| (c.stream_id.clone(), c.stream_version));
        match cmd {
            Command::Home => {
                l.selected = 0;
                l.top = 0;
            }
            Command::End => {
                l.selected = n.saturating_sub(1);
                l.top = super::snapshots::follow(l.selected, l.top, h);
            }
            Command::Open => {
                if let Some((stream, v)) = selected {
                    self.open_diff(stream, v);
                }
            }
            Command::TimeTravel => {
                if let Some((stream, v)) = selected {
                    self.open_time_travel(stream, Some(v));
                }
            }
            Command::Refresh => {
                let stream = l.stream.clone();
                self.check_snapshots(stream);
            }
            Command::Back => {
                self.snapshot_list = None;
                self.views.pop();
            }
            _ => return false,
        }
        self.dirty = true;
        true
    }

    /// Keys of the snapshot diff; false when the key is not its own.
    fn on_diff_key(&mut self, cmd: Command) -> bool {
        let h = self.diff_height();
        let Some(d) = &mut self.snapshot_diff else {
            return false;
        };
        let h = h(d);
        match cmd {
            Command::NextDiff | Command::PrevDiff => {
                let delta = if cmd == Command::NextDiff { 1 } else { -1 };
                if !d.jump(delta, h) {
                    self.set_status("no difference to go to", false);
                }
            }
            Command::Home => d.home(),
            Command::End => d.end(h),
            Command::TimeTravel => {
                let (stream, v) = (d.stream.clone(), d.version);
                self.open_time_travel(stream, Some(v));
            }
            Command::Refresh => {
                let (stream, v) = (d.stream.clone(), d.version);
                self.open_diff(stream, v);
            }
            Command::Back => {
                self.snapshot_diff = None;
                self.views.pop();
            }
            Command::Open => {}
            _ => return false,
        }
        self.dirty = true;
        true
    }

    /// Keys of the audit; false when the key is not its own.
    fn on_audit_key(&mut self, cmd: Command) -> bool {
        let h = self.snapshot_rows();
        let Some(a) = &mut self.audit else {
            return false;
        };
        let at = a
            .selected_finding()
            .map(|f| (f.stream_id.clone(), f.stream_version));
        match cmd {
            Command::Home => {
                a.selected = 0;
                a.top = 0;
            }
            Command::End => {
                a.selected = a.findings.len().saturating_sub(1);
                a.top = super::snapshots::follow(a.selected, a.top, h);
            }
            Command::Open | Command::TimeTravel => match at {
                Some((Some(stream), v)) => {
                    if cmd == Command::Open {
                        self.open_stream_at(stream, v.map_or(Anchor::Start, Anchor::At));
                    } else {
                        self.open_time_travel(stream, v);
                    }
                }
                Some((None, _)) => {
                    self.set_status("this finding names no stream (only an event id)", false)
                }
                None => {}
            },
            Command::Refresh => self.open_audit(),
            Command::Back => {
                self.audit = None;
                self.views.pop();
            }
            _ => return false,
        }
        self.dirty = true;
        true
    }

    fn switch_to(&mut self, v: ViewKind) {
        match v {
            ViewKind::Streams if self.streams.rows.is_empty() && !self.streams.is_loading() => {
                self.reset_streams(Anchor::Start)
            }
            ViewKind::Log if self.log.rows.is_empty() && !self.log.is_loading() => {
                self.reset_log(Anchor::End)
            }
            _ => {}
        }
        self.views.retain(|x| *x != ViewKind::Detail && *x != v);
        self.details.clear();
        self.views.push(v);
        self.dirty = true;
    }

    fn reset_stream(&mut self, anchor: Anchor<i64>) {
        let id = self.id();
        let want = self.stream.reset(anchor, id);
        self.fetch_stream(id, want);
        self.cancel_stale();
    }

    fn move_by(&mut self, delta: isize) {
        let h = self.list_height();
        match self.view() {
            ViewKind::Log => self.log.move_by(delta, h),
            ViewKind::Stream => self.stream.move_by(delta, h),
            ViewKind::Streams => self.streams.move_by(delta, h),
            ViewKind::Rehydrate => {}
            ViewKind::Snapshots => {
                let h = self.snapshot_rows();
                if let Some(l) = &mut self.snapshot_list {
                    let n = l.checked.as_ref().map_or(0, |c| c.checks.len());
                    l.selected = step(l.selected, delta, n);
                    l.top = super::snapshots::follow(l.selected, l.top, h);
                }
            }
            ViewKind::SnapshotDiff => {
                if let Some(d) = &mut self.snapshot_diff {
                    d.scroll_by(delta);
                }
            }
            ViewKind::Audit => {
                let h = self.snapshot_rows();
                if let Some(a) = &mut self.audit {
                    a.selected = step(a.selected, delta, a.findings.len());
                    a.top = super::snapshots::follow(a.selected, a.top, h);
                }
            }
            ViewKind::Detail => {
                if let Some(d) = self.details.last_mut() {
                    let max = d.lines.lines.len().saturating_sub(1) as isize;
                    d.scroll = (d.scroll as isize + delta).clamp(0, max) as usize;
                }
            }
        }
        self.pump();
    }

    fn open(&mut self) {
        match self.view() {
            ViewKind::Streams => {
                if let Some(s) = self.streams.selected_row().map(|s| s.stream_id.clone()) {
                    self.open_stream(s);
                }
            }
            ViewKind::Log | ViewKind::Stream | ViewKind::Rehydrate => {
                if let Some(e) = self.selected_event().cloned() {
                    self.open_detail(e);
                }
            }
            // Their own keys handle Enter.
            ViewKind::Snapshots | ViewKind::SnapshotDiff | ViewKind::Audit => {}
            ViewKind::Detail => {
                let Some(link) = self
                    .details
                    .last()
                    .and_then(|d| d.lines.links.get(d.link))
                    .cloned()
                else {
                    self.set_status(
                        "no link here (Tab moves between correlation/causation ids)",
                        false,
                    );
                    return;
                };
                let id = self.id();
                self.link_req = Some(id);
                let (store, tx) = (self.store.clone(), self.tx.clone());
                let wanted = link.event_id.clone();
                self.spawn(id, async move {
                    let result = store.find_event(&wanted).await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Found { id, wanted, result });
                });
            }
        }
    }

    fn back(&mut self) {
        if self.following && self.view() == ViewKind::Stream {
            self.following = false;
        }
        if self.views.len() > 1 {
            if self.views.pop() == Some(ViewKind::Detail) {
                self.details.pop();
            }
        } else if !self.query.is_empty() {
            self.apply_query(empty_query());
        }
        self.dirty = true;
    }

    fn submit_input(&mut self) {
        let Some(input) = &mut self.input else { return };
        let text = input.area.lines().join(" ");
        match input.kind {
            InputKind::Filter => match filter::parse(&text, Utc::now()) {
                Ok(q) => {
                    self.input = None;
                    self.apply_query(q);
                }
                Err(e) => input.error = Some(e.to_string()),
            },
            InputKind::Jump => match parse_jump(&text) {
                Err(e) => input.error = Some(e),
                Ok(j) => {
                    self.input = None;
                    self.jump(j);
                }
            },
        }
    }

    fn jump(&mut self, j: Jump) {
        match (self.view(), j) {
            (ViewKind::Rehydrate, Jump::Number(v)) => {
                self.send_step(super::rehydrate::Cmd::Goto(v))
            }
            (ViewKind::Rehydrate, Jump::Time(t)) => self.send_step(super::rehydrate::Cmd::AsOf(t)),
            (ViewKind::Stream, Jump::Number(v)) => self.reset_stream(Anchor::At(v)),
            (ViewKind::Stream, Jump::Time(t)) => {
                // Versions rise with time: the first event at or after t.
                let id = self.id();
                let want = self.stream.reset(Anchor::Start, id);
                let since = self.query.filter.since.map_or(t, |s| s.max(t));
                let saved = self.query.filter.since;
                self.query.filter.since = Some(since);
                self.fetch_stream(id, want);
                self.query.filter.since = saved;
                self.cancel_stale();
            }
            (_, Jump::Number(p)) => {
                if self.store.layout().position.is_none() {
                    self.set_status(
                        "this layout has no global position: jump to a time instead",
                        false,
                    );
                    return;
                }
                self.switch_to(ViewKind::Log);
                self.reset_log(Anchor::At(Cursor::Position(p)));
            }
            (_, Jump::Time(t)) => {
                self.switch_to(ViewKind::Log);
                let id = self.id();
                self.jump_req = Some(id);
                let (store, tx) = (self.store.clone(), self.tx.clone());
                let mut filter = self.query.filter.clone();
                filter.since = Some(filter.since.map_or(t, |s| s.max(t)));
                self.spawn(id, async move {
                    let q = LogQuery {
                        filter,
                        limit: 1,
                        ..Default::default()
                    };
                    let result = store
                        .read_log(&q)
                        .await
                        .map(|v| v.first().map(Event::cursor))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::JumpTo { id, result });
                });
            }
        }
    }

    pub fn apply_query(&mut self, q: Query) {
        self.query = q;
        self.following = false;
        self.hwm = None;
        match self.view() {
            ViewKind::Streams => self.reset_streams(Anchor::Start),
            ViewKind::Stream => self.reset_stream(Anchor::Start),
            _ => {
                self.switch_to(ViewKind::Log);
                self.reset_log(Anchor::End);
            }
        }
        // Other lists reload with the new filter when shown next.
        if self.view() != ViewKind::Streams {
            self.streams = Window::new(if self.streams_by_recent {
                recent_key
            } else {
                stream_key
            });
        }
    }

    fn export(&mut self) {
        if self.exporting {
            self.set_status("an export is already running", false);
            return;
        }
        let (store, tx) = (self.store.clone(), self.tx.clone());
        let path = self
            .export_dir
            .join(format!(
                "evscope-export-{}.jsonl",
                Utc::now().format("%Y%m%dT%H%M%S%.3f")
            ))
            .display()
            .to_string();
        let view = self.view();
        let filter = self.query.filter.clone();
        let jq = self.query.jq.clone();
        let stream = self.stream_id.clone();
        self.exporting = true;
        self.set_status(format!("exporting to {path}…"), false);
        self.spawn(u64::MAX, async move {
            let result = super::export::run(store, view, stream, filter, jq, path).await;
            let _ = tx.send(Msg::Exported { result });
        });
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        let areas = Areas::new(
            Rect::new(0, 0, self.size.width, self.size.height),
            self.input.is_some(),
        );
        match m.kind {
            MouseEventKind::ScrollDown => self.move_by(3),
            MouseEventKind::ScrollUp => self.move_by(-3),
            MouseEventKind::Down(_) => {
                // Rows start below the border and the header line.
                let first = areas.main.y + 2;
                if m.row >= first && m.row < areas.main.y + areas.main.height.saturating_sub(1) {
                    let offset = (m.row - first) as usize;
                    let h = self.list_height();
                    match self.view() {
                        ViewKind::Log => {
                            let i = self.log.top + offset;
                            self.log.select(i, h)
                        }
                        ViewKind::Stream => {
                            let i = self.stream.top + offset;
                            self.stream.select(i, h)
                        }
                        ViewKind::Streams => {
                            let i = self.streams.top + offset;
                            self.streams.select(i, h)
                        }
                        // These lists have a summary line above their header.
                        ViewKind::Snapshots => {
                            if let Some(l) = &mut self.snapshot_list {
                                let n = l.checked.as_ref().map_or(0, |c| c.checks.len());
                                let i = (l.top + offset).checked_sub(1);
                                if let Some(i) = i.filter(|i| *i < n) {
                                    l.selected = i;
                                }
                            }
                        }
                        ViewKind::Audit => {
                            if let Some(a) = &mut self.audit {
                                let i = (a.top + offset).checked_sub(1);
                                if let Some(i) = i.filter(|i| *i < a.findings.len()) {
                                    a.selected = i;
                                }
                            }
                        }
                        ViewKind::Detail | ViewKind::Rehydrate | ViewKind::SnapshotDiff => {}
                    }
                    self.pump();
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    // ---- draw ----------------------------------------------------------------------------

    pub fn draw(&self, f: &mut Frame) {
        let areas = Areas::new(f.area(), self.input.is_some());
        f.render_widget(Block::new().style(self.theme.base), f.area());
        match self.view() {
            ViewKind::Log => self.draw_events(
                f,
                areas.main,
                &self.log.rows,
                self.log.top,
                self.log.selected,
                self.log_title(),
                true,
            ),
            ViewKind::Stream => self.draw_events(
                f,
                areas.main,
                &self.stream.rows,
                self.stream.top,
                self.stream.selected,
                self.stream_title(),
                false,
            ),
            ViewKind::Streams => self.draw_streams(f, areas.main),
            ViewKind::Detail => self.draw_detail(f, areas.main),
            ViewKind::Rehydrate => self.draw_rehydrate(f, areas.main),
            ViewKind::Snapshots => {
                if let Some(l) = &self.snapshot_list {
                    super::snapshots::draw_list(f, areas.main, l, &self.theme)
                }
            }
            ViewKind::SnapshotDiff => {
                if let Some(d) = &self.snapshot_diff {
                    super::snapshots::draw_diff(f, areas.main, d, &self.theme)
                }
            }
            ViewKind::Audit => {
                if let Some(a) = &self.audit {
                    super::snapshots::draw_audit(f, areas.main, a, &self.theme)
                }
            }
        }
        if let (Some(input), Some(area)) = (&self.input, areas.input) {
            self.draw_input(f, area, input);
        }
        self.draw_status(f, areas.status);
        if let Some(d) = &self.replay {
            super::replay::draw_dialog(f, f.area(), d, &self.theme);
        } else if let Some(j) = self.replay_job.as_ref().filter(|j| j.shown) {
            super::replay::draw_panel(f, f.area(), j, &self.theme);
        }
        if self.help {
            self.draw_help(f, f.area());
        }
    }

    fn block(&self, title: String) -> Block<'static> {
        Block::new()
            .borders(Borders::ALL)
            .border_style(self.theme.border)
            .title(Span::styled(title, self.theme.title))
    }

    fn log_title(&self) -> String {
        let mut t = " Global log ".to_string();
        if !self.query.is_empty() {
            t.push_str(&format!("· {} ", self.query.text));
        }
        if self.following {
            t.push_str("· following ");
        }
        t
    }

    fn stream_title(&self) -> String {
        let mut t = format!(" Stream {} ", self.stream_id);
        if !self.query.is_empty() {
            t.push_str(&format!("· {} ", self.query.text));
        }
        if self.following {
            t.push_str("· following ");
        }
        t
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_events(
        &self,
        f: &mut Frame,
        area: Rect,
        rows: &[EventRow],
        top: usize,
        selected: usize,
        title: String,
        global: bool,
    ) {
        let h = area.height.saturating_sub(3) as usize;
        let end = (top + h).min(rows.len());
        let visible = &rows[top.min(end)..end];
        let body: Vec<Row> = visible
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut style = Style::new();
                if top + i == selected {
                    style = self.theme.selected;
                }
                let mut cells = vec![];
                let marked = self.marks.iter().any(|m| {
                    m.event.stream_id == r.event.stream_id
                        && m.event.stream_version == r.event.stream_version
                });
                let mark = |s: &str| -> Cell {
                    if marked {
                        Cell::from(format!("▶{s}")).style(self.theme.warning)
                    } else {
                        Cell::from(s.to_string())
                    }
                };
                if global {
                    cells.push(mark(&r.position));
                    cells.push(Cell::from(r.time.as_str()));
                } else {
                    cells.push(mark(&r.time));
                }
                if global {
                    cells.push(Cell::from(r.event.stream_id.as_str()));
                }
                cells.push(Cell::from(r.event.stream_version.to_string()));
                cells.push(Cell::from(r.event.event_type.as_str()).style(self.theme.accent));
                let preview = if r.event.problems.is_empty() {
                    Style::new()
                } else {
                    self.theme.error
                };
                cells.push(Cell::from(r.preview.as_str()).style(preview));
                Row::new(cells).style(style)
            })
            .collect();
        let (header, widths): (Vec<&str>, Vec<Constraint>) = if global {
            (
                vec!["POSITION", "TIME", "STREAM", "VER", "TYPE", "DATA"],
                vec![
                    Constraint::Length(10),
                    Constraint::Length(24),
                    Constraint::Length(22),
                    Constraint::Length(6),
                    Constraint::Length(20),
                    Constraint::Fill(1),
                ],
            )
        } else {
            (
                vec!["TIME", "VER", "TYPE", "DATA"],
                vec![
                    Constraint::Length(24),
                    Constraint::Length(6),
                    Constraint::Length(20),
                    Constraint::Fill(1),
                ],
            )
        };
        let empty = rows.is_empty() && !self.log.is_loading() && !self.stream.is_loading();
        let table = Table::new(body, widths)
            .header(Row::new(header).style(self.theme.header))
            .block(self.block(title));
        f.render_widget(table, area);
        if empty {
            let msg = if self.query.is_empty() {
                "no events"
            } else {
                "no events match the filter (Esc clears it)"
            };
            f.render_widget(Paragraph::new(msg).style(self.theme.muted), inner(area, 2));
        }
    }

    fn draw_streams(&self, f: &mut Frame, area: Rect) {
        let h = area.height.saturating_sub(3) as usize;
        let w = &self.streams;
        let body: Vec<Row> = w
            .visible(h)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let style = if w.top + i == w.selected {
                    self.theme.selected
                } else {
                    Style::new()
                };
                Row::new(vec![
                    Cell::from(s.stream_id.as_str()),
                    Cell::from(s.category.as_str()).style(self.theme.accent),
                    Cell::from(s.event_count.to_string()),
                    Cell::from(s.last_version.to_string()),
                    Cell::from(s.last_recorded_at.as_ref().map_or("?".into(), format_time)),
                ])
                .style(style)
            })
            .collect();
        let mut title = if self.streams_by_recent {
            " Streams · by recent activity ".to_string()
        } else {
            " Streams ".to_string()
        };
        if !self.query.is_empty() {
            title.push_str(&format!("· {} ", self.query.text));
        }
        let table = Table::new(
            body,
            [
                Constraint::Fill(2),
                Constraint::Fill(1),
                Constraint::Length(8),
                Constraint::Length(12),
                Constraint::Length(24),
            ],
        )
        .header(
            Row::new(vec![
                "STREAM",
                "CATEGORY",
                "EVENTS",
                "LAST VERSION",
                "LAST TIME",
            ])
            .style(self.theme.header),
        )
        .block(self.block(title));
        f.render_widget(table, area);
        if w.rows.is_empty() && !w.is_loading() {
            f.render_widget(
                Paragraph::new("no streams").style(self.theme.muted),
                inner(area, 2),
            );
        }
    }

    fn draw_detail(&self, f: &mut Frame, area: Rect) {
        let Some(d) = self.details.last() else { return };
        let e = &d.event;
        let title = format!(" {} · {} v{} ", e.event_type, e.stream_id, e.stream_version);
        let h = area.height.saturating_sub(2) as usize;
        let end = (d.scroll + h).min(d.lines.lines.len());
        let mut lines: Vec<Line> = d.lines.lines[d.scroll.min(end)..end].to_vec();
        if let Some(link) = d.lines.links.get(d.link) {
            if (d.scroll..end).contains(&link.line) {
                let l = &mut lines[link.line - d.scroll];
                *l = l.clone().style(self.theme.selected);
            }
        }
        let p = Paragraph::new(lines).block(self.block(title));
        f.render_widget(p, area);
    }

    fn draw_rehydrate(&self, f: &mut Frame, area: Rect) {
        use crate::rehydrate::diff::Change;
        use crate::rehydrate::timeline::Origin;
        let Some(r) = &self.rehydrate else { return };
        let folding = match r.progress {
            Some((v, target)) => format!("folding… v{v} of v{target}"),
            None => "folding…".into(),
        };
        let Some(sh) = &r.shown else {
            let msg = r.error.clone().unwrap_or(folding);
            let style = if r.error.is_some() {
                self.theme.error
            } else {
                self.theme.loading
            };
            let block = self.block(format!(" Time travel · {} ", r.stream));
            f.render_widget(Paragraph::new(msg).style(style).block(block), area);
            return;
        };
        let step = &sh.step;
        let at = step
            .version
            .map_or("before the first event".to_string(), |v| format!("v{v}"));
        let title = format!(
            " Time travel · {} · {at} of v{}..v{} · {} ",
            r.stream, sh.first_version, sh.last_version, sh.fold_name
        );
        let outer = self.block(title);
        let inner_area = outer.inner(area);
        f.render_widget(outer, area);
        let [bar, body] =
            Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner_area);
        // The timeline: where this version sits in the stream.
        let w = bar.width.saturating_sub(2).max(1) as i64;
        let span = (sh.last_version - sh.first_version).max(1);
        let pos = step.version.map_or(0, |v| {
            ((v - sh.first_version) * (w - 1) / span).clamp(0, w - 1)
        });
        let track: String = (0..w).map(|i| if i == pos { '●' } else { '─' }).collect();
        let origin = match &step.origin {
            Origin::Initial => "from the initial state".to_string(),
            Origin::Checkpoint { version } => format!("from the checkpoint at v{version}"),
            Origin::Current { version } => format!("from v{version}"),
            Origin::Snapshot { version } => format!("from the store's snapshot at v{version}"),
        };
        let info = if r.pending.is_some() && r.progress.is_some() {
            format!(" {folding}")
        } else {
            format!(
                " {origin}, {} event(s) folded · ←/→ step · Home/End · g version/time · r reload reducers",
                step.folded
            )
        };
        f.render_widget(
            Paragraph::new(vec![
                Line::styled(format!(" {track}"), self.theme.accent),
                Line::styled(info, self.theme.muted),
            ]),
            bar,
        );
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        let h = left.height.saturating_sub(2) as usize;
        let end = (r.scroll + h).min(r.lines.len());
        let state_title = if step.error.is_some() {
            " State before the failing event "
        } else {
            " State "
        };
        f.render_widget(
            Paragraph::new(r.lines[r.scroll.min(end)..end].to_vec())
                .block(self.block(state_title.into())),
            left,
        );
        let mut lines: Vec<Line> = Vec::new();
        if let Some(e) = &step.event {
            lines.push(Line::from(vec![
                Span::styled(e.event_type.clone(), self.theme.accent),
                Span::raw(format!("  v{}", e.stream_version)),
            ]));
            lines.push(Line::styled(
                format!(
                    "{} · position {}",
                    e.recorded_at.as_ref().map_or("?".into(), format_time),
                    e.global_position.map_or("-".into(), |p| p.to_string())
                ),
                self.theme.muted,
            ));
            lines.push(Line::raw(clip(&e.data.to_string(), 2000)));
            lines.push(Line::raw(""));
        }
        if let Some(err) = &step.error {
            lines.push(Line::styled(
                "The reducer failed on this event:",
                self.theme.error,
            ));
            lines.push(Line::styled(err.message.clone(), self.theme.error));
            if let Some(src) = &err.filter {
                lines.push(Line::raw(format!("filter: {src}")));
            }
        } else if step.changes.is_empty() {
            let what = if step.event.is_some() {
                "no change"
            } else {
                "the initial state"
            };
            lines.push(Line::styled(what, self.theme.muted));
        } else {
            lines.push(Line::styled("Changes", self.theme.header));
            for c in &step.changes {
                let (sign, text, style) = match c {
                    Change::Added { path, new } => (
                        "+",
                        format!("{path} = {}", clip(&new.to_string(), 200)),
                        self.theme.json_string,
                    ),
                    Change::Removed { path, old } => (
                        "-",
                        format!("{path} (was {})", clip(&old.to_string(), 200)),
                        self.theme.error,
                    ),
                    Change::Changed { path, old, new, .. } => (
                        "~",
                        format!(
                            "{path}: {} → {}",
                            clip(&old.to_string(), 100),
                            clip(&new.to_string(), 100)
                        ),
                        self.theme.warning,
                    ),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{sign} "), style),
                    Span::raw(text),
                ]));
            }
        }
        if let Some(e) = &r.error {
            lines.push(Line::styled(format!("error: {e}"), self.theme.error));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(self.block(" Event and changes ".into())),
            right,
        );
    }

    fn draw_input(&self, f: &mut Frame, area: Rect, input: &Input) {
        let (title, hint) = match input.kind {
            InputKind::Filter => (
                " Filter ",
                "type:T stream:P* category:C since:TIME until:TIME | jq   Enter apply · Esc cancel",
            ),
            InputKind::Jump => (
                " Jump ",
                "a global position, a stream version (in a stream), or a time (2026-06-01, 2h)   Enter · Esc",
            ),
        };
        let mut area_widget = input.area.clone();
        let block = self.block(title.to_string()).title_bottom(Span::styled(
            input.error.clone().unwrap_or_else(|| hint.to_string()),
            if input.error.is_some() {
                self.theme.error
            } else {
                self.theme.muted
            },
        ));
        area_widget.set_block(block);
        area_widget.set_cursor_line_style(Style::new());
        f.render_widget(&area_widget, area);
    }

    fn draw_status(&self, f: &mut Frame, area: Rect) {
        let l = self.store.layout();
        let mut left = format!(" {} · {} ", self.store.url(), l.name);
        match self.view() {
            ViewKind::Log => {
                if let Some(r) = self.log.selected_row() {
                    left.push_str(&format!("· position {}", r.position));
                    if let Some(h) = self.head {
                        left.push_str(&format!(" of {h}"));
                    }
                    left.push(' ');
                }
            }
            ViewKind::Stream => {
                if let Some(r) = self.stream.selected_row() {
                    left.push_str(&format!(
                        "· {} v{} ",
                        self.stream_id, r.event.stream_version
                    ));
                }
            }
            ViewKind::Streams => {
                if let Some(s) = self.streams.selected_row() {
                    left.push_str(&format!("· {} ", s.stream_id));
                }
            }
            ViewKind::Rehydrate => {
                if let Some(r) = &self.rehydrate {
                    let v = r.shown.as_ref().and_then(|s| s.step.version);
                    left.push_str(&format!(
                        "· time travel {} {} ",
                        r.stream,
                        v.map_or("(start)".to_string(), |v| format!("v{v}"))
                    ));
                }
            }
            ViewKind::Snapshots => {
                if let Some(l) = &self.snapshot_list {
                    left.push_str(&format!("· snapshots of {} ", l.stream));
                    if let Some(c) = l.selected_check() {
                        left.push_str(&format!("v{} ", c.stream_version));
                    }
                }
            }
            ViewKind::SnapshotDiff => {
                if let Some(d) = &self.snapshot_diff {
                    left.push_str(&format!("· snapshot {} v{} ", d.stream, d.version));
                }
            }
            ViewKind::Audit => left.push_str("· audit "),
            ViewKind::Detail => {}
        }
        let right = match (&self.status, self.is_loading()) {
            (Some((s, true)), _) => Span::styled(format!(" {s} "), self.theme.error),
            (Some((s, false)), _) => Span::raw(format!(" {s} ")),
            (None, true) => Span::styled(" loading… ", self.theme.loading),
            (None, _) if self.replay_job.as_ref().is_some_and(|j| !j.shown) => Span::styled(
                format!(
                    " {} ",
                    self.replay_job
                        .as_ref()
                        .map(|j| j.summary())
                        .unwrap_or_default()
                ),
                self.theme.accent,
            ),
            (None, false) => Span::styled(" ? help · q quit ", self.theme.muted),
        };
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

    fn draw_help(&self, f: &mut Frame, area: Rect) {
        let w = area.width.saturating_sub(8).min(90);
        let h = area
            .height
            .saturating_sub(4)
            .min(COMMANDS.len() as u16 + 12);
        let r = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        let mut lines: Vec<Line> = COMMANDS
            .iter()
            .filter(|(_, c, _)| relevant(*c, self.view()))
            .map(|(_, c, what)| {
                Line::from(vec![
                    Span::styled(format!("{:<22}", self.keys.keys_for(*c)), self.theme.accent),
                    Span::raw(*what),
                ])
            })
            .collect();
        lines.push(Line::raw(""));
        lines.push(Line::styled("Filter syntax (/):", self.theme.header));
        lines.push(Line::raw(
            "  type:Withdrawn type:Deposited  stream:account-*  category:payment",
        ));
        lines.push(Line::raw(
            "  since:2026-06-01 until:\"2026-07-01 12:00\"  since:7d",
        ));
        lines.push(Line::raw(
            "  ... | select(.data.amount > 1000)      (a jq predicate on the event)",
        ));
        lines.push(Line::raw(
            "Mouse: wheel scrolls, click selects. ↑/↓ scroll this help; any other key closes it.",
        ));
        let inner_h = r.height.saturating_sub(2) as usize;
        let scroll = self.help_scroll.min(lines.len().saturating_sub(inner_h));
        let more = if lines.len() > inner_h + scroll {
            " · ↓ more "
        } else {
            " "
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines[scroll..].to_vec())
                .block(self.block(format!(" Keys · {:?} view{more}", self.view())))
                .style(self.theme.base),
            r,
        );
    }
}

fn mark_text(m: &Marked) -> String {
    match (&m.stream, m.event.global_position) {
        (None, Some(p)) => format!("#{p}"),
        _ => format!("{}@{}", m.event.stream_id, m.event.stream_version),
    }
}

/// No filter.
fn empty_query() -> Query {
    filter::parse("", Utc::now()).expect("the empty filter parses")
}

/// The bit marking a stream-view request id (both windows share one id sequence).
const STREAM_BIT: u64 = 1 << 62;

fn relevant(c: Command, v: ViewKind) -> bool {
    use ViewKind::*;
    match c {
        Command::StepBack | Command::StepForward => v == Rehydrate,
        Command::TimeTravel => v != Rehydrate,
        Command::Follow => matches!(v, Log | Stream),
        Command::Sort => v == Streams,
        Command::Jump => !matches!(v, Detail | Snapshots | SnapshotDiff | Audit),
        Command::Copy => !matches!(v, Streams | Snapshots | SnapshotDiff | Audit),
        Command::Filter | Command::ClearFilter | Command::Export => {
            !matches!(v, Snapshots | SnapshotDiff | Audit)
        }
        Command::Snapshots => matches!(v, Streams | Stream),
        Command::Mark | Command::Replay => matches!(v, Log | Stream),
        Command::NextDiff | Command::PrevDiff => v == SnapshotDiff,
        _ => true,
    }
}

/// `i` moved by `delta` within `0..n`.
fn step(i: usize, delta: isize, n: usize) -> usize {
    (i as isize + delta).clamp(0, n.saturating_sub(1) as isize) as usize
}

fn inner(area: Rect, dy: u16) -> Rect {
    Rect::new(area.x + 2, area.y + dy, area.width.saturating_sub(4), 1)
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

/// What `g` was given.
#[derive(Debug, Clone, PartialEq)]
pub enum Jump {
    Number(i64),
    Time(chrono::DateTime<Utc>),
}

pub fn parse_jump(text: &str) -> Result<Jump, String> {
    let t = text.trim();
    if let Ok(n) = t.replace('_', "").parse::<i64>() {
        return Ok(Jump::Number(n));
    }
    crate::timeparse::parse_time(t).map(Jump::Time)
}

/// The string just below `s` in byte order that is still >= everything below `s` — used to
/// start a stream list page at `s` (keyset pages are strictly after their key).
fn predecessor(s: &str) -> String {
    let mut v: Vec<char> = s.chars().collect();
    match v.pop() {
        Some(c) if c as u32 > 0 => {
            if let Some(p) = char::from_u32(c as u32 - 1) {
                v.push(p);
                v.push(char::MAX);
            }
            v.into_iter().collect()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_input_is_a_number_or_a_time() {
        assert_eq!(parse_jump("5000000"), Ok(Jump::Number(5_000_000)));
        assert_eq!(parse_jump(" 5_000_000 "), Ok(Jump::Number(5_000_000)));
        assert!(matches!(parse_jump("2026-06-01"), Ok(Jump::Time(_))));
        assert!(parse_jump("soon").is_err());
    }

    #[test]
    fn predecessor_sorts_just_below() {
        let p = predecessor("account-0002");
        assert!(
            p.as_str() < "account-0002" && p.as_str() > "account-0001",
            "{p:?}"
        );
        assert_eq!(predecessor(""), "");
    }
}
