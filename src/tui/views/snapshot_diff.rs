//! One snapshot: the stored state (left) beside the state recomputed from the events at its
//! version (right), aligned path by path ([`align`]); n / N move between the differences.

pub mod align;

use std::any::Any;
use std::collections::{HashMap, HashSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use serde_json::Value;

use super::timetravel::TimeTravelView;
use super::{Ctx, MOVES, View, ViewKind, delta};
use crate::output::clip;
use crate::rehydrate::diff::{Change, diff_with, parse_path, render_path};
use crate::rehydrate::source::ReducerSource;
use crate::rehydrate::timeline::Timeline;
use crate::snapshots::Status;
use crate::store::model::format_time;
use crate::store::{Snapshot, Store};
use crate::tui::keys::Command;
use crate::tui::request::{Slot, downcast};
use crate::tui::theme::Theme;
use crate::tui::widgets::block;
use align::Aligned;

/// One snapshot and the state recomputed from the events at its version.
#[derive(Debug, Clone)]
pub struct Compared {
    pub stream: String,
    pub version: i64,
    pub fold_name: String,
    /// What no reducer was found for (`category account`, a stream type), when none was: the
    /// recomputed side is then the default merge fold, shown for orientation, and the snapshot
    /// is not checked (as `verify-snapshots` says `no_reducer`), whatever the two sides show.
    pub unchecked: Option<String>,
    /// None: the store has no snapshot at this version (any more).
    pub stored: Option<Snapshot>,
    /// Why the state could not be recomputed, when it could not.
    pub recomputed: Result<Value, String>,
    /// Recomputed (`old`) vs stored (`new`), with the fold's diff options, as the audit does.
    pub changes: Vec<Change>,
}

impl Compared {
    pub fn status(&self) -> Status {
        match (&self.stored, &self.recomputed) {
            (Some(s), Ok(_)) if s.problems.is_empty() && self.unchecked.is_some() => {
                Status::NoReducer
            }
            (Some(s), Ok(_)) if s.problems.is_empty() => {
                if self.changes.is_empty() {
                    Status::Ok
                } else {
                    Status::Drifted
                }
            }
            _ => Status::Error,
        }
    }

    /// What went wrong, for an error.
    pub fn problem(&self) -> Option<String> {
        match (&self.stored, &self.recomputed) {
            (None, _) => Some(format!(
                "the store has no snapshot at version {}",
                self.version
            )),
            (Some(s), _) if !s.problems.is_empty() => {
                Some(crate::store::problem::joined(&s.problems))
            }
            (_, Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
}

/// Read the snapshot and fold the stream to its version (the time-travel timeline, from the
/// events only: snapshots are not trusted here).
async fn compare(
    store: Store,
    source: ReducerSource,
    stream: String,
    version: i64,
) -> Result<Compared, String> {
    let reducers = source.load().map_err(|e| e.to_string())?;
    let fold = reducers
        .fold_in(&store, &stream)
        .await
        .map_err(|e| e.to_string())?;
    let fold_name = fold.name();
    let unchecked = match fold {
        crate::rehydrate::reducer::Fold::Merge => Some(
            store
                .stream_facts(&stream, true)
                .await
                .ok()
                .and_then(|f| f.stream_type)
                .unwrap_or_else(|| format!("category {}", crate::store::category(&stream))),
        ),
        crate::rehydrate::reducer::Fold::Reducer(_) => None,
    };
    let opts = fold.diff_options();
    let stored = store
        .snapshots(&stream, Some(version), true, 1)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .filter(|s| s.stream_version == version);
    let recomputed = match Timeline::open(store, &stream, fold).await {
        Err(e) => Err(e.to_string()),
        Ok(mut t) => match t.goto(version).await {
            Err(e) => Err(e.to_string()),
            Ok(step) => match step.error {
                Some(err) => Err(format!("cannot recompute: {err}")),
                None if version > t.last_version => {
                    Err(format!("the stream ends before version {version}"))
                }
                None if step.version != Some(version) => {
                    Err(format!("the stream has no event at version {version}"))
                }
                None => Ok(step.state),
            },
        },
    };
    let changes = match (&stored, &recomputed) {
        (Some(s), Ok(r)) if s.problems.is_empty() => diff_with(r, &s.state, &opts),
        _ => vec![],
    };
    Ok(Compared {
        stream,
        version,
        fold_name,
        unchecked,
        stored,
        recomputed,
        changes,
    })
}

pub struct DiffView {
    pub stream: String,
    pub version: i64,
    req: Slot,
    pub compared: Option<Compared>,
    pub error: Option<String>,
    /// The stored state (left) and the recomputed state (right) row by row, aligned path by
    /// path, the differing paths highlighted.
    pub aligned: Aligned,
    /// The first row shown, the same for both panes (so they stay aligned).
    pub scroll: usize,
    /// For each change, the row of its path (of its nearest ancestor when the rows were cut
    /// before it).
    pub at: Vec<usize>,
    /// The difference jumped to (n / N).
    pub current: usize,
}

/// The comparison, or why there is none.
struct Answer(Result<Box<Compared>, String>);

impl DiffView {
    pub fn new(stream: String, version: i64) -> DiffView {
        DiffView {
            stream,
            version,
            req: Slot::default(),
            compared: None,
            error: None,
            aligned: Aligned::default(),
            scroll: 0,
            at: vec![],
            current: 0,
        }
    }

    fn load(&mut self, ctx: &mut Ctx) {
        let work = compare(
            ctx.store.clone(),
            ctx.reducers.clone(),
            self.stream.clone(),
            self.version,
        );
        self.req.start(
            ctx.replier(),
            async move { Answer(work.await.map(Box::new)) },
        );
    }

    /// The height of the panes in `area` for this diff (its summary takes some rows).
    fn height(&self, area: Rect) -> usize {
        let n = self.compared.as_ref().map_or(0, |c| c.changes.len());
        pane_height(&diff_areas(area, n))
    }
}

/// Enter and `t` on a snapshot of a list (a stream's snapshots, the store's drift): its diff,
/// or time travel at its version. False for any other command.
pub fn open_snapshot(cmd: Command, at: Option<(&str, i64)>, ctx: &mut Ctx) -> bool {
    let push: fn(String, i64) -> Box<dyn View> = match cmd {
        Command::Open => |s, v| Box::new(DiffView::new(s, v)),
        Command::TimeTravel => |s, v| Box::new(TimeTravelView::new(s, Some(v))),
        _ => return false,
    };
    if let Some((stream, version)) = at {
        ctx.push(push(stream.to_string(), version));
    }
    true
}

impl View for DiffView {
    fn kind(&self) -> ViewKind {
        ViewKind::SnapshotDiff
    }

    fn name(&self) -> String {
        format!("Snapshot {} v{}", self.stream, self.version)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.load(ctx);
    }

    fn on_command(&mut self, cmd: Command, ctx: &mut Ctx) -> bool {
        let h = self.height(ctx.area);
        if let Some(d) = delta(cmd, h) {
            self.scroll_by(d);
            return true;
        }
        match cmd {
            Command::NextDiff | Command::PrevDiff => {
                let delta = if cmd == Command::NextDiff { 1 } else { -1 };
                if !self.jump(delta, h) {
                    ctx.status("no difference to go to");
                }
            }
            Command::Home => self.home(),
            Command::End => self.end(h),
            Command::TimeTravel => ctx.push(Box::new(TimeTravelView::new(
                self.stream.clone(),
                Some(self.version),
            ))),
            Command::Refresh => self.load(ctx),
            Command::Open => {}
            _ => return false,
        }
        true
    }

    fn on_reply(&mut self, req: u64, payload: Box<dyn Any + Send>, ctx: &mut Ctx) {
        let Some(Answer(result)) = downcast::<Answer>(payload) else {
            return;
        };
        if !self.req.accept(req) {
            return;
        }
        match result {
            Ok(c) => {
                self.show(*c, ctx.theme);
                let h = self.height(ctx.area);
                self.reveal(h);
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        draw_diff(f, area, self, theme)
    }

    fn status(&self) -> String {
        format!("· snapshot {} v{} ", self.stream, self.version)
    }

    fn is_loading(&self) -> bool {
        self.req.is_pending()
    }

    fn commands(&self) -> Vec<Command> {
        let mut c = MOVES.to_vec();
        c.extend([
            Command::NextDiff,
            Command::PrevDiff,
            Command::TimeTravel,
            Command::Refresh,
        ]);
        c
    }

    fn stream(&self) -> Option<String> {
        Some(self.stream.clone())
    }

    fn version(&self) -> Option<i64> {
        Some(self.version)
    }
}

/// The row of `path` in `index`, else of its nearest ancestor there (the root at worst).
fn locate(index: &HashMap<String, usize>, path: &str) -> usize {
    if let Some(&row) = index.get(path) {
        return row;
    }
    let mut segs = parse_path(path).unwrap_or_default();
    while segs.pop().is_some() {
        if let Some(&row) = index.get(&render_path(&segs)) {
            return row;
        }
    }
    0
}

impl DiffView {
    /// Build both sides' rows once, when the comparison arrives.
    pub fn show(&mut self, c: Compared, t: &Theme) {
        let paths: HashSet<String> = c.changes.iter().map(|ch| ch.path().to_string()).collect();
        self.aligned = align::align(
            c.stored.as_ref().map(|s| &s.state),
            c.recomputed.as_ref().ok(),
            t,
            &paths,
        );
        self.at = c
            .changes
            .iter()
            .map(|ch| locate(&self.aligned.index, ch.path()))
            .collect();
        self.scroll = 0;
        self.current = 0;
        self.error = None;
        self.compared = Some(c);
    }

    /// Scroll to the current difference (a third of the way down at most): its row, on both
    /// panes (the side that lacks the path has filler lines there).
    pub fn reveal(&mut self, height: usize) {
        let Some(&row) = self.at.get(self.current) else {
            return;
        };
        self.scroll = row.saturating_sub(height.saturating_sub(1) / 3);
    }

    /// Jump by `delta` differences, wrapping; false when there is none.
    pub fn jump(&mut self, delta: isize, height: usize) -> bool {
        let n = self.at.len() as isize;
        if n == 0 {
            return false;
        }
        self.current = (self.current as isize + delta).rem_euclid(n) as usize;
        self.reveal(height);
        true
    }

    /// Scroll both sides together, row by row (stops at the last row).
    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.aligned.rows.len().saturating_sub(1) as isize;
        self.scroll = (self.scroll as isize + delta).clamp(0, max) as usize;
    }

    pub fn home(&mut self) {
        self.scroll = 0;
    }

    /// The last screenful.
    pub fn end(&mut self, height: usize) {
        self.scroll = self.aligned.rows.len().saturating_sub(height);
    }

    /// The rows of one side (0 stored, 1 recomputed) shown in a pane `height` lines high:
    /// a filler is an empty line.
    pub fn visible(&self, side: usize, height: usize) -> Vec<Line<'static>> {
        let rows = &self.aligned.rows;
        let end = (self.scroll + height).min(rows.len());
        rows[self.scroll.min(end)..end]
            .iter()
            .map(|r| r[side].clone().unwrap_or_default())
            .collect()
    }
}

/// Rows of the change summary above the panes (the rest of the list scrolls with n / N).
const SUMMARY_ROWS: usize = 5;

/// The diff view's parts: the header lines and the two panes.
pub struct DiffAreas {
    pub head: Rect,
    pub left: Rect,
    pub right: Rect,
}

pub fn diff_areas(area: Rect, changes: usize) -> DiffAreas {
    let inner = Block::new().borders(Borders::ALL).inner(area);
    // The hint line, the changes (at least one line for "no difference" or an error).
    let head_h = 1 + changes.clamp(1, SUMMARY_ROWS) as u16;
    let [head, body] =
        Layout::vertical([Constraint::Length(head_h), Constraint::Fill(1)]).areas(inner);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    DiffAreas { head, left, right }
}

/// Lines of JSON inside a pane of this area.
pub fn pane_height(a: &DiffAreas) -> usize {
    a.left.height.saturating_sub(2) as usize
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn number(d: f64) -> String {
    if d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{:+}", d as i64)
    } else {
        format!("{d:+}")
    }
}

/// One change as the summary shows it: a sign, "path: stored → recomputed" and what else is
/// known (numeric delta, type change). The diff's `old` is the recomputed value, `new` the
/// stored one.
pub fn describe(c: &Change) -> (&'static str, String) {
    let v = |v: &Value| clip(&v.to_string(), 60);
    match c {
        Change::Changed {
            path,
            old,
            new,
            delta,
            type_changed,
        } => {
            let mut s = format!("{path}: {} → {}", v(new), v(old));
            if let Some(d) = delta {
                s.push_str(&format!("  Δ {} (stored − recomputed)", number(*d)));
            }
            if *type_changed {
                s.push_str(&format!("  type {} → {}", kind(new), kind(old)));
            }
            ("~", s)
        }
        Change::Added { path, new } => (
            "+",
            format!("{path}: {} → absent (only in the stored snapshot)", v(new)),
        ),
        Change::Removed { path, old } => (
            "-",
            format!(
                "{path}: absent → {} (missing from the stored snapshot)",
                v(old)
            ),
        ),
    }
}

pub fn status_label(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Drifted => "drifted",
        Status::Error => "error",
        Status::NoReducer => "unchecked",
    }
}

pub fn status_style(s: Status, t: &Theme) -> Style {
    match s {
        Status::Ok => t.muted,
        Status::Drifted => t.warning,
        Status::Error => t.error,
        Status::NoReducer => t.warning,
    }
}

/// The visible lines of a pane, with `▶` at the current difference's row (on both panes:
/// the side that lacks the path shows where it would be).
fn pane(v: &DiffView, side: usize, h: usize) -> Vec<Line<'static>> {
    let mark = v.at.get(v.current).copied();
    v.visible(side, h)
        .into_iter()
        .enumerate()
        .map(|(i, mut l)| {
            let gutter = if mark == Some(v.scroll + i) {
                "▶ "
            } else {
                "  "
            };
            l.spans.insert(0, Span::raw(gutter));
            l
        })
        .collect()
}

pub fn draw_diff(f: &mut Frame, area: Rect, v: &DiffView, t: &Theme) {
    let Some(c) = &v.compared else {
        let (msg, style) = match &v.error {
            Some(e) => (format!("error: {e}"), t.error),
            None => (
                format!(
                    "reading the snapshot and folding the events to v{}…",
                    v.version
                ),
                t.loading,
            ),
        };
        let b = block(t, format!(" Snapshot · {} v{} ", v.stream, v.version));
        f.render_widget(Paragraph::new(msg).style(style).block(b), area);
        return;
    };
    let status = c.status();
    let title = Line::from(vec![
        Span::styled(
            format!(" Snapshot · {} v{} · ", c.stream, c.version),
            t.title,
        ),
        Span::styled(status_label(status), status_style(status, t)),
        Span::styled(format!(" · {} ", c.fold_name), t.title),
    ]);
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(title);
    f.render_widget(outer, area);
    let a = diff_areas(area, c.changes.len());
    // The header: a hint line, then the changes around the current one.
    let n = c.changes.len();
    let mut head: Vec<Line> = vec![];
    let what = match (n, c.problem()) {
        (_, Some(_)) => " cannot compare".to_string(),
        (_, None) if status == Status::NoReducer => format!(
            " not checked: {}{} · right: the default merge fold, for orientation only · \
             --reducers FILE, or `evscope reducers init`",
            crate::snapshots::NO_REDUCER,
            c.unchecked.as_deref().unwrap_or_default()
        ),
        (0, None) => " no difference: the snapshot matches the events".to_string(),
        (n, None) => format!(
            " difference {} of {n} · stored (left) → recomputed (right)",
            v.current + 1
        ),
    };
    head.push(Line::from(vec![
        Span::styled(what, t.header),
        Span::styled("   n/N next/previous · ↑/↓ scroll · t time travel", t.muted),
    ]));
    if let Some(p) = c.problem() {
        head.push(Line::styled(format!(" {p}"), t.error));
    }
    let rows = SUMMARY_ROWS.min(n);
    let first = v
        .current
        .saturating_sub(rows / 2)
        .min(n.saturating_sub(rows));
    for (i, ch) in c.changes.iter().enumerate().skip(first).take(rows) {
        let (sign, text) = describe(ch);
        let style = match ch {
            Change::Added { .. } => t.json_string,
            Change::Removed { .. } => t.error,
            Change::Changed { .. } => t.warning,
        };
        let cur = i == v.current;
        let mut spans = vec![
            Span::raw(if cur { "▶ " } else { "  " }),
            Span::styled(format!("{sign} "), style),
            Span::raw(text),
        ];
        if cur {
            spans = spans
                .into_iter()
                .map(|s| s.patch_style(ratatui::style::Modifier::BOLD))
                .collect();
        }
        head.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(head), a.head);
    let h = pane_height(&a);
    let left_title = match &c.stored {
        Some(s) => format!(
            " Stored snapshot · v{}{} ",
            s.stream_version,
            s.taken_at
                .as_ref()
                .map_or(String::new(), |at| format!(" · taken {}", format_time(at)))
        ),
        None => " Stored snapshot ".to_string(),
    };
    let left = match &c.stored {
        Some(_) => Paragraph::new(pane(v, 0, h)),
        None => Paragraph::new(Line::styled("no snapshot at this version", t.error)),
    };
    f.render_widget(left.block(block(t, left_title)), a.left);
    let right_block = block(t, format!(" Recomputed from the events · v{} ", c.version));
    let right = match &c.recomputed {
        Ok(_) => Paragraph::new(pane(v, 1, h)),
        Err(e) => Paragraph::new(Line::styled(e.clone(), t.error))
            .wrap(ratatui::widgets::Wrap { trim: false }),
    };
    f.render_widget(right.block(right_block), a.right);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compared(stored: Value, recomputed: Value) -> Compared {
        Compared {
            stream: "account-1".into(),
            version: 20,
            fold_name: "reducer account".into(),
            unchecked: None,
            changes: crate::rehydrate::diff::diff(&recomputed, &stored),
            stored: Some(Snapshot {
                stream_id: "account-1".into(),
                stream_version: 20,
                state: stored,
                taken_at: None,
                snapshot_type: None,
                schema_version: None,
                problems: vec![],
            }),
            recomputed: Ok(recomputed),
        }
    }

    fn view() -> DiffView {
        DiffView::new("account-1".into(), 20)
    }

    #[test]
    fn changes_read_stored_then_recomputed() {
        let c = compared(
            json!({"balance": 9165, "n": "7", "extra": true}),
            json!({"balance": 9200, "n": 7, "gone": [1]}),
        );
        let lines: Vec<String> = c
            .changes
            .iter()
            .map(|ch| {
                let (sign, text) = describe(ch);
                format!("{sign} {text}")
            })
            .collect();
        assert_eq!(
            lines,
            [
                "~ .balance: 9165 → 9200  Δ -35 (stored − recomputed)",
                "+ .extra: true → absent (only in the stored snapshot)",
                "- .gone: absent → [1] (missing from the stored snapshot)",
                "~ .n: \"7\" → 7  type string → number",
            ]
        );
        assert_eq!(c.status(), Status::Drifted);
        assert_eq!(
            compared(json!({"a": 1}), json!({"a": 1})).status(),
            Status::Ok
        );
        let mut broken = compared(json!({"a": 1}), json!({"a": 1}));
        broken.recomputed = Err("cannot recompute: boom".into());
        assert_eq!(broken.status(), Status::Error);
        assert_eq!(broken.problem().as_deref(), Some("cannot recompute: boom"));
        // Without a reducer the merge fold is no verdict: matching or not, it is unchecked.
        for (stored, merged) in [
            (json!({"a": 1}), json!({"a": 1})),
            (json!({"a": 1}), json!({"a": 2})),
        ] {
            let mut c = compared(stored, merged);
            c.unchecked = Some("category account".into());
            assert_eq!(c.status(), Status::NoReducer);
            assert_eq!(c.problem(), None);
        }
        assert_eq!(number(0.5), "+0.5");
    }

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn differences_are_aligned_across_the_panes_and_wrap() {
        let t = Theme::default_dark();
        let mut v = view();
        // The stored side has an extra array above the rest: without alignment every path
        // below it would be 42 lines lower on the left.
        let filler: Vec<Value> = (0..40).map(Value::from).collect();
        v.show(
            compared(
                json!({"a": filler, "m": {"deep": 1}, "z": 2}),
                json!({"m": {"deep": 2}, "z": 3, "only_recomputed": {"x": 1}}),
            ),
            &t,
        );
        let paths: Vec<&str> = v
            .compared
            .as_ref()
            .unwrap()
            .changes
            .iter()
            .map(Change::path)
            .collect();
        assert_eq!(paths, [".a", ".m.deep", ".only_recomputed", ".z"]);
        // .a is only on the left: fillers on the right for its 42 lines.
        assert_eq!(v.at[0], 1);
        for r in &v.aligned.rows[1..43] {
            assert!(r[0].is_some() && r[1].is_none());
        }
        let h = 20;
        v.reveal(h);
        for want in [1, 2, 3, 0, 1] {
            assert!(v.jump(1, h));
            assert_eq!(v.current, want);
            let row = v.at[v.current];
            // The difference is in view, a third of the way down at most, on both panes.
            assert!(row >= v.scroll && row - v.scroll <= (h - 1) / 3);
        }
        assert_eq!(v.current, 1);
        assert!(v.jump(-2, h));
        assert_eq!(v.current, 3);
        // Wherever it is scrolled, a row both sides have shows the same path on both panes.
        let n = v.aligned.rows.len();
        for top in 0..n {
            v.home();
            v.scroll_by(top as isize);
            let (l, r) = (v.visible(0, h), v.visible(1, h));
            assert_eq!(l.len(), (n - top).min(h));
            assert_eq!(r.len(), l.len());
            for (l, r) in l.iter().zip(&r) {
                let key = |s: &str| s.trim().split(':').next().unwrap_or("").to_string();
                let (l, r) = (text(l), text(r));
                if !l.is_empty() && !r.is_empty() && l.contains(':') {
                    assert_eq!(key(&l), key(&r), "scrolled to {top}");
                }
            }
        }
        // .z is on one row: the stored value beside the recomputed one.
        let z = v.at[3];
        let [l, r] = &v.aligned.rows[z];
        assert_eq!(
            (text(l.as_ref().unwrap()), text(r.as_ref().unwrap())),
            ("  \"z\": 2".to_string(), "  \"z\": 3".to_string())
        );
        // Scrolling stops at the last row; End shows the last screenful.
        v.scroll_by(1000);
        assert_eq!(v.scroll, n - 1);
        v.end(h);
        assert_eq!(v.scroll, n - h);
        let mut none = view();
        none.show(compared(json!({"a": 1}), json!({"a": 1})), &t);
        assert!(!none.jump(1, h));
    }
}
