//! The export dialog (`e`): every event the view holds under its filter (not only those
//! loaded), as `evscope log --format jsonl` writes them. It opens with a path in the app's
//! export directory, which can be edited, and counts the events and their bytes at once (with
//! progress, stopped by Esc); nothing is written before that count is shown. Enter writes:
//! into a temporary file beside the target, renamed into place once complete, so that a
//! cancelled or failed export leaves nothing behind, and an existing file is replaced only when
//! confirmed (a second Enter) and only by a complete export. The write stops at the last event
//! counted, so the file holds what the dialog said.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph};
use ratatui_textarea::{CursorMove, TextArea};

use super::input;
use crate::scan::Scan;
use crate::store::{Event, LogQuery, Store, StreamRead};
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::views::ExportScope;
use crate::tui::widgets::{centered, label, path_field};

/// Events read per page.
const PAGE: u32 = 1000;

/// How far the count went: the write stops there, so that events appended since are not in
/// the file (for a layout without global positions, the log has no such bound).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Upto {
    pub position: Option<i64>,
    pub version: Option<i64>,
}

/// What the view's scope holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub events: u64,
    /// The bytes of those events as JSON lines: the file's size, if nothing changes meanwhile.
    pub bytes: u64,
    pub upto: Upto,
}

/// How a write ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Wrote {
    Done {
        path: PathBuf,
        events: u64,
        bytes: u64,
        replaced: bool,
    },
    /// Stopped by Esc: the partial file is removed.
    Cancelled,
}

/// What the count and the write report.
#[derive(Debug)]
pub enum Update {
    Counting { events: u64, bytes: u64 },
    Counted(Result<Count, String>),
    Writing { events: u64, bytes: u64 },
    Written(Result<Wrote, String>),
}

/// Bytes a writer was given (the size of the JSON of an event, without keeping it).
struct Tally(u64);

impl Write for Tally {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Read the events of `scope`, through `upto`, a page at a time: `each` takes each page and
/// says whether to go on. Ok(false) when `each` stopped the read.
async fn read_pages(
    store: &Store,
    scope: &ExportScope,
    upto: Upto,
    mut each: impl FnMut(&[Event]) -> Result<bool, String>,
) -> Result<bool, String> {
    let filter = &scope.query.filter;
    let jq = scope.query.jq.clone();
    let mut scan = match &scope.stream {
        Some(stream) => Scan::stream(
            store.clone(),
            stream.clone(),
            StreamRead {
                to_version: upto.version,
                ..StreamRead::of_filter(filter)
            },
        ),
        None => Scan::log(
            store.clone(),
            LogQuery {
                filter: filter.clone(),
                up_to: upto.position,
                ..Default::default()
            },
        ),
    }
    .with_jq(jq);
    loop {
        let batch = scan.next(PAGE as usize).await.map_err(|e| e.to_string())?;
        if !each(&batch.events)? {
            return Ok(false);
        }
        if !batch.more() {
            return Ok(true);
        }
    }
}

/// Count the events of `scope` and their bytes; `progress` after each page.
pub async fn count(
    store: Store,
    scope: ExportScope,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<Count, String> {
    let mut c = Count {
        events: 0,
        bytes: 0,
        upto: Upto::default(),
    };
    read_pages(&store, &scope, Upto::default(), |page| {
        let mut t = Tally(0);
        for e in page {
            serde_json::to_writer(&mut t, e).map_err(|e| e.to_string())?;
            t.0 += 1;
        }
        c.events += page.len() as u64;
        c.bytes += t.0;
        if let Some(e) = page.last() {
            c.upto = Upto {
                position: e.global_position,
                version: Some(e.stream_version),
            };
        }
        progress(c.events, c.bytes);
        Ok(true)
    })
    .await?;
    if scope.stream.is_none() {
        c.upto.version = None;
    } else {
        c.upto.position = None;
    }
    Ok(c)
}

/// The temporary file beside `path` that becomes it once complete.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or("export".into(), |n| n.to_string_lossy().to_string());
    path.with_file_name(format!(".{name}.{:04x}.partial", fastrand::u16(..)))
}

/// Removes the partial file when the write ends, however it ends (a cancel, an error, the
/// task dropped; once complete the file has been renamed, or linked, to its name).
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Write the events of `scope` through `upto` to `path`, by way of a partial file. An
/// existing `path` is replaced only with `overwrite` (otherwise one that appeared since the
/// dialog looked is left alone and the export fails). `cancel` is looked at after every page
/// and before the file is put in place; `progress` after each page.
pub async fn write(
    store: Store,
    scope: ExportScope,
    upto: Upto,
    path: PathBuf,
    overwrite: bool,
    cancel: Arc<AtomicBool>,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<Wrote, String> {
    let shown = path.display().to_string();
    let tmp = partial_path(&path);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| format!("cannot create a file in the directory of {shown}: {e}"))?;
    // Whatever happens, the partial file's name goes: renamed, linked (then removed) or not.
    let _partial = Partial(Some(tmp.clone()));
    let mut out = BufWriter::new(file);
    let (mut events, mut bytes) = (0u64, 0u64);
    let mut line = Vec::new();
    let stopped = |c: &AtomicBool| c.load(Ordering::SeqCst);
    let finished = read_pages(&store, &scope, upto, |page| {
        if stopped(&cancel) {
            return Ok(false);
        }
        for e in page {
            line.clear();
            serde_json::to_writer(&mut line, e).map_err(|e| e.to_string())?;
            line.push(b'\n');
            out.write_all(&line).map_err(|e| format!("{shown}: {e}"))?;
            bytes += line.len() as u64;
        }
        events += page.len() as u64;
        progress(events, bytes);
        Ok(!stopped(&cancel))
    })
    .await?;
    if !finished || stopped(&cancel) {
        return Ok(Wrote::Cancelled);
    }
    let file: File = out
        .into_inner()
        .map_err(|e| format!("{shown}: {}", e.error()))?;
    file.sync_all().map_err(|e| format!("{shown}: {e}"))?;
    if stopped(&cancel) {
        return Ok(Wrote::Cancelled);
    }
    let replaced = path.exists();
    if overwrite {
        std::fs::rename(&tmp, &path).map_err(|e| format!("{shown}: {e}"))?;
    } else {
        // A link fails if the name is taken: a file that appeared meanwhile is not replaced.
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(format!(
                    "{shown} appeared while the export ran: it was not replaced"
                ));
            }
            // A file system without links: the name is checked, then taken.
            Err(_) if path.exists() => {
                return Err(format!(
                    "{shown} appeared while the export ran: it was not replaced"
                ));
            }
            Err(_) => std::fs::rename(&tmp, &path).map_err(|e| format!("{shown}: {e}"))?,
        }
    }
    Ok(Wrote::Done {
        path,
        events,
        bytes,
        replaced: replaced && overwrite,
    })
}

/// "412 B", "45.6 KB", "46.0 MB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if b < 1000 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "event" } else { "events" }
}

/// Where the count is.
#[derive(Debug, Clone, PartialEq)]
pub enum Counting {
    Running { events: u64, bytes: u64 },
    Done(Count),
    Failed(String),
}

pub enum Stage {
    /// The path can be edited; `overwrite` is the existing file a second Enter replaces.
    Edit { overwrite: Option<PathBuf> },
    Writing {
        path: PathBuf,
        events: u64,
        bytes: u64,
        cancel: Arc<AtomicBool>,
        /// Esc was pressed: the write stops at its next page.
        cancelling: bool,
    },
}

pub struct Dialog {
    pub scope: ExportScope,
    pub path: TextArea<'static>,
    pub count: Counting,
    pub stage: Stage,
    /// Why the path cannot be written (or that it exists), shown under it.
    pub error: Option<String>,
    counting: Slot,
    writing: Slot,
}

impl Dialog {
    /// What the dialog exports, for its title.
    pub fn source(&self) -> String {
        let mut s = match &self.scope.stream {
            Some(s) => format!("stream {s}"),
            None => "the global log".into(),
        };
        if !self.scope.query.is_empty() {
            s.push_str(&format!(" · filter {}", self.scope.query.text));
        }
        s
    }

    pub fn path_text(&self) -> String {
        self.path.lines().join("")
    }

    /// Enter in the path field: why the file cannot be written yet, or the write to start
    /// (the path, whether it replaces a file, the count).
    fn ready(&mut self) -> Result<(PathBuf, bool, Count), String> {
        let c = match &self.count {
            Counting::Done(c) => *c,
            Counting::Running { .. } => {
                return Err("still counting: the file is written once the count is shown".into());
            }
            Counting::Failed(e) => return Err(format!("the count failed: {e}")),
        };
        if c.events == 0 {
            return Err("nothing to export: the view holds no events".into());
        }
        let text = self.path_text();
        let text = text.trim();
        if text.is_empty() {
            return Err("a file to write to".into());
        }
        let path = PathBuf::from(text);
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!("the directory {} does not exist", dir.display()));
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Err(format!("{text} is a directory: give a file in it")),
            Ok(m) => {
                let Stage::Edit { overwrite } = &mut self.stage else {
                    return Err(String::new());
                };
                if overwrite.as_ref() == Some(&path) {
                    return Ok((path, true, c));
                }
                *overwrite = Some(path);
                Err(format!(
                    "{text} exists ({}): Enter again replaces it once the export is complete; edit the path to keep it",
                    human_bytes(m.len())
                ))
            }
            Err(_) => Ok((path, false, c)),
        }
    }
}

/// The export dialog, over the views.
#[derive(Default)]
pub struct Overlay {
    pub dialog: Option<Dialog>,
}

impl Overlay {
    pub fn is_open(&self) -> bool {
        self.dialog.is_some()
    }

    /// A count or a write runs.
    pub fn is_busy(&self) -> bool {
        self.dialog
            .as_ref()
            .is_some_and(|d| d.counting.is_pending() || d.writing.is_pending())
    }

    /// `e`: the dialog for `scope`, with `path` to edit; its count starts at once.
    pub fn open(&mut self, scope: ExportScope, path: &Path, store: &Store, reply: Replier<Update>) {
        let mut field = TextArea::new(vec![path.display().to_string()]);
        field.move_cursor(CursorMove::End);
        let mut d = Dialog {
            scope: scope.clone(),
            path: field,
            count: Counting::Running {
                events: 0,
                bytes: 0,
            },
            stage: Stage::Edit { overwrite: None },
            error: None,
            counting: Slot::default(),
            writing: Slot::default(),
        };
        let progress = reply.clone();
        let store = store.clone();
        d.counting.start(reply, async move {
            Update::Counted(
                count(store, scope, move |events, bytes| {
                    progress.send(Update::Counting { events, bytes });
                })
                .await,
            )
        });
        self.dialog = Some(d);
    }

    /// A key while the dialog is open; the status line's text when the dialog closes.
    pub fn on_key(
        &mut self,
        k: KeyEvent,
        store: &Store,
        reply: impl FnOnce() -> Replier<Update>,
    ) -> Option<(String, bool)> {
        let d = self.dialog.as_mut()?;
        if let Stage::Writing {
            cancel, cancelling, ..
        } = &mut d.stage
        {
            // The write stops at its next page; its answer closes the dialog.
            if k.code == KeyCode::Esc {
                cancel.store(true, Ordering::SeqCst);
                *cancelling = true;
            }
            return None;
        }
        match k.code {
            KeyCode::Esc => {
                self.dialog = None;
                return Some(("export cancelled: nothing written".into(), false));
            }
            KeyCode::Enter => match d.ready() {
                Err(e) => d.error = Some(e),
                Ok((path, overwrite, c)) => {
                    let reply = reply();
                    let progress = reply.clone();
                    let cancel = Arc::new(AtomicBool::new(false));
                    let (store, scope, stop) = (store.clone(), d.scope.clone(), cancel.clone());
                    let target = path.clone();
                    d.writing.start(reply, async move {
                        Update::Written(
                            write(
                                store,
                                scope,
                                c.upto,
                                target,
                                overwrite,
                                stop,
                                move |e, b| {
                                    progress.send(Update::Writing {
                                        events: e,
                                        bytes: b,
                                    });
                                },
                            )
                            .await,
                        )
                    });
                    d.error = None;
                    d.stage = Stage::Writing {
                        path,
                        events: 0,
                        bytes: 0,
                        cancel,
                        cancelling: false,
                    };
                }
            },
            // One field: nothing to move to (and no tab in a path).
            KeyCode::Tab | KeyCode::BackTab => {}
            _ => {
                input::edit(&mut d.path, k);
                d.error = None;
                d.stage = Stage::Edit { overwrite: None };
            }
        }
        None
    }

    /// A report of the count or the write; the status line's text when the dialog closes.
    pub fn on_update(&mut self, req: u64, u: Update) -> Option<(String, bool)> {
        let d = self.dialog.as_mut()?;
        match u {
            Update::Counting { events, bytes } if d.counting.is(req) => {
                d.count = Counting::Running { events, bytes };
            }
            Update::Counted(r) if d.counting.accept(req) => {
                d.count = match r {
                    Ok(c) => Counting::Done(c),
                    Err(e) => Counting::Failed(e),
                };
            }
            Update::Writing {
                events: e,
                bytes: b,
            } if d.writing.is(req) => {
                if let Stage::Writing { events, bytes, .. } = &mut d.stage {
                    (*events, *bytes) = (e, b);
                }
            }
            Update::Written(r) if d.writing.accept(req) => {
                self.dialog = None;
                return Some(match r {
                    Ok(Wrote::Done {
                        path,
                        events,
                        bytes,
                        replaced,
                    }) => (
                        format!(
                            "exported {events} {} ({}) to {}{}",
                            plural(events),
                            human_bytes(bytes),
                            path.display(),
                            if replaced { " (replaced)" } else { "" }
                        ),
                        false,
                    ),
                    Ok(Wrote::Cancelled) => (
                        "export cancelled: nothing written (the partial file was removed)".into(),
                        false,
                    ),
                    Err(e) => (
                        format!(
                            "export failed: {e} (nothing written: the partial file was removed)"
                        ),
                        true,
                    ),
                });
            }
            _ => {}
        }
        None
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if let Some(d) = &self.dialog {
            draw_dialog(f, area, d, theme);
        }
    }
}

fn draw_dialog(f: &mut Frame, area: Rect, d: &Dialog, theme: &Theme) {
    let r = centered(area, 84, 10);
    f.render_widget(Clear, r);
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(
            format!(" Export · {} ", d.source()),
            theme.title,
        ))
        .style(theme.base);
    let inner = outer.inner(r);
    f.render_widget(outer, r);
    let [file, note, holds, progress, _, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let writing = matches!(d.stage, Stage::Writing { .. });
    path_field(
        f,
        (file, note),
        "file",
        8,
        &d.path,
        !writing,
        d.error.as_deref(),
        theme,
    );
    let v = label(f, holds, "holds", theme.muted, 8);
    let (text, style) = match &d.count {
        Counting::Running { events, bytes } => (
            format!(
                "counting… {events} {} so far, {}",
                plural(*events),
                human_bytes(*bytes)
            ),
            theme.loading,
        ),
        Counting::Done(c) => (
            format!(
                "{} {}, about {} (as log --format jsonl writes them)",
                c.events,
                plural(c.events),
                human_bytes(c.bytes)
            ),
            Style::new(),
        ),
        Counting::Failed(e) => (format!("the count failed: {e}"), theme.error),
    };
    f.render_widget(Paragraph::new(Span::styled(text, style)), v);
    if let Stage::Writing {
        events,
        bytes,
        cancelling,
        ..
    } = &d.stage
    {
        let total = match &d.count {
            Counting::Done(c) => c.events,
            _ => 0,
        };
        let ratio = if total > 0 {
            (*events as f64 / total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let v = label(f, progress, "written", theme.muted, 8);
        let what = if *cancelling { "stopping… " } else { "" };
        f.render_widget(
            Gauge::default()
                .gauge_style(theme.accent)
                .ratio(ratio)
                .label(format!(
                    "{what}{events}/{total} events, {}",
                    human_bytes(*bytes)
                )),
            v,
        );
    }
    let k = match (&d.stage, &d.count) {
        (Stage::Writing { .. }, _) => "Esc stops (the partial file is removed)",
        (_, Counting::Running { .. }) => "Esc stops the count · Ctrl-U clear",
        (Stage::Edit { overwrite: Some(_) }, _) => "Enter replace the file · Esc cancel",
        _ => "Enter write · Ctrl-U clear · Esc cancel",
    };
    f.render_widget(Paragraph::new(Span::styled(k, theme.muted)), keys);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_decimal_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(45_600), "45.6 KB");
        assert_eq!(human_bytes(46_000_000), "46.0 MB");
        assert_eq!(human_bytes(3_200_000_000_000_000), "3200.0 TB");
    }
}
