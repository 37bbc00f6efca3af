//! The seal dialog (`Z`): seal the marked range (or what the view shows under its filter) into
//! a receipt file, as `evscope seal --out FILE` does — the same `seal::seal`, in a spawned
//! task, with its progress. The receipt's path is an editable field (Ctrl-U clears it); a file
//! that exists is refused at the field. Esc while sealing stops it and removes what it wrote.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::{CursorMove, TextArea};

use super::input;
use crate::replay::range::{DEFAULT_MAX_WAIT, Range};
use crate::seal::{self, Options, SealRequest};
use crate::store::Store;
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::views::ReplayScope;
use crate::tui::widgets::{centered, label, path_field};

/// What the sealing task reports.
#[derive(Debug)]
pub enum Update {
    /// Events hashed so far.
    Sealed(u64),
    Done(Result<Sealed, String>),
}

/// A finished seal.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub path: PathBuf,
    pub count: u64,
    pub root: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Edit,
    Sealing(u64),
    Done(Sealed),
}

struct Dialog {
    range: Range,
    source: String,
    path: TextArea<'static>,
    stage: Stage,
    error: Option<String>,
    /// The receipt being written (its digest file is removed when the seal is stopped).
    writing: Option<PathBuf>,
}

#[derive(Default)]
pub struct Overlay {
    dialog: Option<Dialog>,
    task: Slot,
}

impl Overlay {
    pub fn is_open(&self) -> bool {
        self.dialog.is_some()
    }

    pub fn is_busy(&self) -> bool {
        self.task.is_pending()
    }

    /// `Z`: the dialog for the range, with the receipt's path proposed.
    pub fn open(&mut self, scope: ReplayScope, path: &Path) -> Result<(), String> {
        let (range, source) = scope?;
        let mut field = TextArea::new(vec![path.display().to_string()]);
        field.move_cursor(CursorMove::End);
        self.dialog = Some(Dialog {
            range,
            source,
            path: field,
            stage: Stage::Edit,
            error: None,
            writing: None,
        });
        Ok(())
    }

    /// A key while the dialog is open; what the status line should say.
    pub fn on_key(
        &mut self,
        k: KeyEvent,
        store: &Store,
        reply: impl FnOnce() -> Replier<Update>,
    ) -> Option<(String, bool)> {
        let d = self.dialog.as_mut()?;
        match (&d.stage, k.code) {
            (Stage::Sealing(_), KeyCode::Esc) => {
                self.task.cancel();
                if let Some(p) = d.writing.take() {
                    remove_outputs(&p);
                }
                self.dialog = None;
                Some(("seal stopped: nothing was kept".into(), false))
            }
            (Stage::Sealing(_), _) => None,
            (Stage::Done(s), _) => {
                let text = format!(
                    "sealed {} events into {} (root {})",
                    s.count,
                    s.path.display(),
                    s.root
                );
                self.dialog = None;
                Some((text, false))
            }
            (Stage::Edit, KeyCode::Esc) => {
                self.dialog = None;
                None
            }
            (Stage::Edit, KeyCode::Enter) => {
                let path = PathBuf::from(d.path.lines().join("").trim());
                if let Err(e) = check_path(&path) {
                    d.error = Some(e);
                    return None;
                }
                d.error = None;
                d.stage = Stage::Sealing(0);
                d.writing = Some(path.clone());
                let reply = reply();
                let progress = reply.clone();
                let store = store.clone();
                let range = d.range.clone();
                self.task.start(reply, async move {
                    let options = Options {
                        jobs: 1,
                        max_wait: DEFAULT_MAX_WAIT,
                        progress: Some(Arc::new(move |n| {
                            progress.send(Update::Sealed(n));
                        })),
                    };
                    let req = SealRequest {
                        range,
                        out: Some(&path),
                        digests: None,
                        sign: None,
                        after: None,
                        options,
                    };
                    let r = seal::seal(std::slice::from_ref(&store), req).await;
                    Update::Done(r.map_err(|e| e.to_string()).map(|r| Sealed {
                        path: path.clone(),
                        count: r.count,
                        root: r.root,
                    }))
                });
                None
            }
            (Stage::Edit, _) => {
                input::edit(&mut d.path, k);
                d.error = None;
                None
            }
        }
    }

    /// An answer of the sealing task; what the status line should say.
    pub fn on_update(&mut self, req: u64, u: Update) -> Option<(String, bool)> {
        match u {
            Update::Sealed(n) => {
                if self.task.is(req) {
                    if let Some(d) = &mut self.dialog {
                        d.stage = Stage::Sealing(n);
                    }
                }
                None
            }
            Update::Done(r) => {
                if !self.task.accept(req) {
                    return None;
                }
                let d = self.dialog.as_mut()?;
                d.writing = None;
                match r {
                    Ok(s) => {
                        d.stage = Stage::Done(s);
                        None
                    }
                    Err(e) => {
                        d.stage = Stage::Edit;
                        d.error = Some(e.clone());
                        Some((format!("seal failed: {e}"), true))
                    }
                }
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if let Some(d) = &self.dialog {
            draw_dialog(f, area, d, theme);
        }
    }
}

/// Why a receipt cannot be written at `path`.
fn check_path(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("give the receipt's file".into());
    }
    if path.exists() {
        return Err(format!("{} exists: choose another file", path.display()));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!("no directory {}", dir.display()));
    }
    Ok(())
}

/// What a stopped seal leaves: its digest file and its segments.
fn remove_outputs(receipt: &Path) {
    let mut d = receipt.as_os_str().to_owned();
    d.push(".digests");
    let _ = std::fs::remove_file(PathBuf::from(d));
    let mut t = receipt.as_os_str().to_owned();
    t.push(".tmp");
    let _ = std::fs::remove_file(PathBuf::from(t));
}

fn draw_dialog(f: &mut Frame, area: Rect, d: &Dialog, theme: &Theme) {
    let r = centered(area, 84, 10);
    f.render_widget(Clear, r);
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(format!(" Seal · {} ", d.source), theme.title))
        .style(theme.base);
    let inner = outer.inner(r);
    f.render_widget(outer, r);
    let [file, note, range, state, _, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let editing = d.stage == Stage::Edit;
    path_field(
        f,
        (file, note),
        "receipt",
        9,
        &d.path,
        editing,
        d.error.as_deref(),
        theme,
    );
    let v = label(f, range, "range", theme.muted, 9);
    f.render_widget(Paragraph::new(d.range.describe()), v);
    let v = label(f, state, "seal", theme.muted, 9);
    let (text, st) = match &d.stage {
        Stage::Edit => (
            "the receipt and its digest file (FILE.digests) are written here".to_string(),
            theme.muted,
        ),
        Stage::Sealing(n) => (format!("sealing… {n} events hashed"), theme.loading),
        Stage::Done(s) => (
            format!("sealed {} events · root {}", s.count, s.root),
            theme.accent,
        ),
    };
    f.render_widget(Paragraph::new(Span::styled(text, st)), v);
    let k = match &d.stage {
        Stage::Edit => "Enter seal · Esc cancel · Ctrl-U clear",
        Stage::Sealing(_) => "Esc stop (nothing is kept)",
        Stage::Done(_) => "any key: close",
    };
    f.render_widget(Paragraph::new(Span::styled(k, theme.muted)), keys);
}
