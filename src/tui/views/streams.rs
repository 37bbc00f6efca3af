//! The stream list, by id or by recent activity (`o`), paged through a [`Window`]; Enter opens
//! a stream's events.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::drift::DriftView;
use unicode_width::UnicodeWidthStr;

use super::events::{EventsView, PAGE};
use super::{Ctx, Jump, MOVES, View, ViewKind, delta};
use crate::filter::{self, Query};
use crate::store::{Direction, Store, StreamInfo, StreamQuery};
use crate::tui::keys::Command;
use crate::tui::request::{Tasks, downcast};
use crate::tui::theme::Theme;
use crate::tui::widgets::window::{Anchor, Side, Want, Window};
use crate::tui::widgets::{block, cell_style, event_table, inner, table_rows};

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

struct Page {
    side: Side,
    result: Result<(Vec<StreamInfo>, bool), String>,
}

pub struct StreamsView {
    pub rows: Window<StreamInfo, StreamKey>,
    /// By recent activity instead of by id (`o`).
    pub by_recent: bool,
    pub query: Query,
    pages: Tasks,
}

impl Default for StreamsView {
    fn default() -> Self {
        StreamsView::new()
    }
}

impl StreamsView {
    pub fn new() -> StreamsView {
        StreamsView {
            rows: Window::new(stream_key),
            by_recent: false,
            query: filter::empty_query(),
            pages: Tasks::default(),
        }
    }

    pub fn reset(&mut self, anchor: Anchor<StreamKey>, ctx: &mut Ctx) {
        let id = ctx.id();
        let want = self.rows.reset(anchor, id);
        self.fetch(id, want, ctx);
        self.pages.keep_only(&self.rows.pending_ids());
    }

    fn pump(&mut self, ctx: &mut Ctx) {
        if let Some(want) = self.rows.wants(ctx.ids()) {
            let id = *ctx.ids();
            self.fetch(id, want, ctx);
        }
    }

    fn fetch(&mut self, id: u64, want: Want<StreamKey>, ctx: &mut Ctx) {
        let store = ctx.store.clone();
        let f = &self.query.filter;
        let category = f.category.clone();
        let prefix = f.stream_prefix.clone().or_else(|| f.stream.clone());
        let side = match &want {
            Want::Reset(_) => Side::Reset,
            Want::After(_) => Side::After,
            Want::Before(_) => Side::Before,
        };
        let by_recent = self.by_recent;
        self.pages.start(ctx.replier_for(id), async move {
            let result = if by_recent {
                read_recent(&store, want, category, prefix).await
            } else {
                read_by_id(&store, want, category, prefix).await
            };
            Page { side, result }
        });
    }

    fn toggle_order(&mut self, ctx: &mut Ctx) {
        if ctx.store.layout().position.is_none() {
            ctx.status("this layout has no global position to order streams by activity");
            return;
        }
        self.by_recent = !self.by_recent;
        self.rows = Window::new(if self.by_recent {
            recent_key
        } else {
            stream_key
        });
        self.reset(Anchor::Start, ctx);
    }
}

async fn read_recent(
    store: &Store,
    want: Want<StreamKey>,
    category: Option<String>,
    prefix: Option<String>,
) -> Result<(Vec<StreamInfo>, bool), String> {
    // Ascending keys are descending positions: After = older, Before = newer.
    let (direction, from) = match want {
        Want::Reset(Anchor::End) => (Direction::Forward, None),
        Want::After(StreamKey::Recent(k)) => (Direction::Backward, Some(-k)),
        Want::Before(StreamKey::Recent(k)) => (Direction::Forward, Some(-k)),
        _ => (Direction::Backward, None),
    };
    store
        .recent_streams(
            direction,
            from,
            PAGE as usize,
            category.as_deref(),
            prefix.as_deref(),
        )
        .await
        .map(|r| {
            let full = r.streams.len() >= PAGE as usize;
            (r.streams, full)
        })
        .map_err(|e| e.to_string())
}

async fn read_by_id(
    store: &Store,
    want: Want<StreamKey>,
    category: Option<String>,
    prefix: Option<String>,
) -> Result<(Vec<StreamInfo>, bool), String> {
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
    store
        .list_streams(&q)
        .await
        .map(|rows| {
            let full = rows.len() as u32 >= q.limit;
            (rows, full)
        })
        .map_err(|e| e.to_string())
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

impl View for StreamsView {
    fn kind(&self) -> ViewKind {
        ViewKind::Streams
    }

    fn name(&self) -> String {
        "Streams".into()
    }

    fn start(&mut self, ctx: &mut Ctx) {
        if self.rows.rows.is_empty() && !self.rows.is_loading() {
            self.reset(Anchor::Start, ctx);
        }
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
            Command::End => self.reset(Anchor::End, ctx),
            Command::Refresh => self.reset(Anchor::Start, ctx),
            Command::Sort => self.toggle_order(ctx),
            Command::Open => {
                if let Some(s) = self.rows.selected_row() {
                    ctx.push(Box::new(EventsView::stream(s.stream_id.clone())));
                }
                return true;
            }
            Command::Drift => {
                match &ctx.store.layout().snapshots {
                    Some(_) => ctx.push(Box::new(DriftView::new())),
                    None => ctx.status(format!(
                        "the {} layout keeps no snapshots (describe a snapshot table in a mapping file)",
                        ctx.store.layout().name
                    )),
                }
                return true;
            }
            _ => return false,
        }
        self.pump(ctx);
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx) {
        let Some(page) = downcast::<Page>(payload) else {
            return;
        };
        let h = ctx.list_height();
        match page.result {
            Ok((rows, full)) => {
                if self.rows.answer(req, page.side, rows, full, h) {
                    self.pump(ctx);
                }
            }
            Err(e) => {
                if self.rows.failed(req) {
                    ctx.error(format!("error: {e}"));
                }
            }
        }
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
        let h = table_rows(area);
        let w = &self.rows;
        // Widths from the rows loaded; in a narrow terminal the category gives way first,
        // then the time, and the stream id (what one reads) keeps what is left.
        let want = |f: &dyn Fn(&StreamInfo) -> usize, min: usize, max: usize| {
            w.rows.iter().map(f).max().unwrap_or(0).clamp(min, max)
        };
        let id_w = want(&|s| s.stream_id.width(), 6, 48);
        let mut cat_w = want(&|s| s.category.width(), 8, 24);
        let n_w = want(&|s| s.event_count.to_string().len(), 6, 12);
        let v_w = want(&|s| s.last_version.to_string().len(), 7, 12);
        let mut time_w = 24;
        let room = area.width.saturating_sub(2 + 4) as usize; // borders, column gaps
        let over = |c: usize, t: usize| (id_w + c + n_w + v_w + t).saturating_sub(room);
        if over(cat_w, time_w) > 0 {
            cat_w = cat_w.saturating_sub(over(cat_w, time_w)).max(3);
        }
        if over(cat_w, time_w) > 0 {
            time_w = time_w.saturating_sub(over(cat_w, time_w)).max(10);
        }
        let id_w = id_w.min(room.saturating_sub(cat_w + n_w + v_w + time_w).max(6));
        let body: Vec<Row> = w
            .visible(h)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let on = w.top + i == w.selected;
                let style = if on { theme.selected } else { Style::new() };
                Row::new(vec![
                    Cell::from(event_table::cut_front(&s.stream_id, id_w)),
                    Cell::from(event_table::cut_back(&s.category, cat_w)).style(cell_style(
                        theme,
                        on,
                        theme.accent,
                    )),
                    Cell::from(s.event_count.to_string()),
                    Cell::from(s.last_version.to_string()),
                    Cell::from(
                        s.last_recorded_at
                            .as_ref()
                            .map_or("?".into(), |t| event_table::time(t, 3, theme.local_time)),
                    ),
                ])
                .style(style)
            })
            .collect();
        let mut title = if self.by_recent {
            " Streams · by recent activity ".to_string()
        } else {
            " Streams ".to_string()
        };
        if !self.query.is_empty() {
            title.push_str(&format!("· {} ", self.query.text));
        }
        let widths = [id_w, cat_w, n_w, v_w, time_w];
        let header: Vec<String> = ["STREAM", "CATEGORY", "EVENTS", "VERSION", "LAST TIME"]
            .iter()
            .zip(widths)
            .map(|(name, n)| name.chars().take(n).collect())
            .collect();
        let mut constraints: Vec<Constraint> = widths[..4]
            .iter()
            .map(|n| Constraint::Length(*n as u16))
            .collect();
        constraints.push(Constraint::Fill(1));
        let table = Table::new(body, constraints)
            .header(Row::new(header).style(theme.header))
            .block(block(theme, title));
        f.render_widget(table, area);
        if w.rows.is_empty() && !w.is_loading() {
            f.render_widget(
                Paragraph::new("no streams").style(theme.muted),
                inner(area, 2),
            );
        }
    }

    fn status(&self) -> String {
        self.rows
            .selected_row()
            .map_or(String::new(), |s| format!("· {} ", s.stream_id))
    }

    fn is_loading(&self) -> bool {
        self.rows.is_loading()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.extend([
            Command::Open,
            Command::Refresh,
            Command::Sort,
            Command::Drift,
        ]);
        c
    }

    fn stream(&self) -> Option<String> {
        self.rows.selected_row().map(|s| s.stream_id.clone())
    }

    fn version(&self) -> Option<i64> {
        None
    }

    fn query(&self) -> Option<&Query> {
        Some(&self.query)
    }

    fn set_query(&mut self, q: Query, ctx: &mut Ctx) {
        self.query = q;
        self.reset(Anchor::Start, ctx);
    }

    fn describe(&self, cmd: Command) -> Option<&'static str> {
        (cmd == Command::Jump).then_some(
            "jump to a stream: type its id or its start (a key the list does not use starts it too)",
        )
    }

    /// `g` with a stream id: the list from that stream (or the next one after it), by id.
    fn jump(&mut self, j: &Jump, ctx: &mut Ctx) -> bool {
        let Jump::Stream(id) = j else { return false };
        if self.by_recent {
            self.by_recent = false;
            self.rows = Window::new(stream_key);
        }
        self.reset(Anchor::At(StreamKey::Id(id.clone())), ctx);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
