//! The verify dialog (`V`): open a seal receipt and check the store against it, as `evscope
//! verify-seal RECEIPT` does — the same `seal::verify::verify`, in a spawned task, with its
//! progress. Its fields are the CLI's: the receipt's path, the public key the receipt must be
//! signed with (`--key`; empty: the signature, if any, is checked against the key the receipt
//! names), the jobs reading at once (`--jobs`) and whether the store is a copy of the sealed
//! one (`--copy`: a restored backup, a copied SQLite file; Space toggles it); Tab moves
//! between them, Ctrl-U clears one.
//! The result is the CLI's paragraph; when an event differs, Enter opens it in the detail view
//! with what changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui_textarea::{CursorMove, TextArea};

use super::input;
use crate::replay::range::DEFAULT_MAX_WAIT;
use crate::seal::receipt::{Receipt, load_verifying_key};
use crate::seal::verify::{self, FindingKind, Report, Status, VerifyOptions};
use crate::seal::{Options, SealError};
use crate::store::{Event, Store};
use crate::tui::request::{Replier, Slot};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, label, path_field};

/// What the verifying task reports.
#[derive(Debug)]
pub enum Update {
    /// The receipt was read: its range and how many events it sealed.
    Opened { range: String, count: u64 },
    /// Events hashed so far.
    Read(u64),
    /// The verification's end; an error names the field it is about.
    Done(Result<Box<Verified>, (Field, String)>),
}

/// The dialog's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Receipt,
    Key,
    Jobs,
    Copy,
}

impl Field {
    fn next(self) -> Field {
        match self {
            Field::Receipt => Field::Key,
            Field::Key => Field::Jobs,
            Field::Jobs => Field::Copy,
            Field::Copy => Field::Receipt,
        }
    }
    fn prev(self) -> Field {
        self.next().next().next()
    }
}

/// The most jobs the dialog takes (the CLI's limit).
const MAX_JOBS: u32 = 64;

/// A finished verification: the report, and the first differing event as the store holds it
/// now (none when nothing differs, or the event is gone).
#[derive(Debug, Clone)]
pub struct Verified {
    pub report: Report,
    pub event: Option<Event>,
}

impl Verified {
    /// What the detail view says above the event: how it differs from the seal.
    pub fn note(&self) -> Option<String> {
        let f = self.report.first_difference.as_ref()?;
        self.event.as_ref()?;
        let what = match f.kind {
            FindingKind::Changed => format!("changed since it was sealed: {}", f.fields.join(", ")),
            FindingKind::Inserted => "inserted: not in the sealed range".to_string(),
            FindingKind::Moved => format!(
                "moved: sealed at {}, now here ({})",
                f.sealed_at.map_or("?".into(), |k| k.to_string()),
                f.fields.join(", ")
            ),
            FindingKind::Missing => return None,
        };
        Some(format!(
            "{what} · receipt {} · {} more differ after it",
            self.report.receipt, self.report.differing_after_first
        ))
    }
}

#[derive(Debug, Clone)]
enum Stage {
    Edit,
    Verifying {
        range: Option<String>,
        sealed: u64,
        read: u64,
    },
    Done(Box<Verified>),
}

struct Dialog {
    path: TextArea<'static>,
    key: TextArea<'static>,
    jobs: TextArea<'static>,
    /// `--copy`: the store is a copy of the sealed one.
    copy: bool,
    focus: Field,
    stage: Stage,
    /// What is wrong, at the field it is about.
    error: Option<(Field, String)>,
}

impl Dialog {
    /// The text field `f` (None: the copy toggle, which is no text).
    fn field(&mut self, f: Field) -> Option<&mut TextArea<'static>> {
        match f {
            Field::Receipt => Some(&mut self.path),
            Field::Key => Some(&mut self.key),
            Field::Jobs => Some(&mut self.jobs),
            Field::Copy => None,
        }
    }

    fn error_at(&self, f: Field) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(at, _)| *at == f)
            .map(|(_, e)| e.as_str())
    }
}

/// A field holding `text`, the cursor at its end.
fn field_of(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.move_cursor(CursorMove::End);
    t
}

/// What a key in the dialog asks of the app.
pub enum Outcome {
    /// Say this on the status line (an error when true).
    Say(String, bool),
    /// Show this event in the detail view, with this note above it.
    Open(Box<Event>, String),
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

    /// `V`: the dialog, with a receipt's path proposed (the newest in `dir`, else `dir`).
    pub fn open(&mut self, dir: &Path) {
        let proposed = newest_receipt(dir).unwrap_or_else(|| dir.join(""));
        self.dialog = Some(Dialog {
            path: field_of(&proposed.display().to_string()),
            key: field_of(""),
            jobs: field_of("1"),
            copy: false,
            focus: Field::Receipt,
            stage: Stage::Edit,
            error: None,
        });
    }

    /// A key while the dialog is open.
    pub fn on_key(
        &mut self,
        k: KeyEvent,
        store: &Store,
        reply: impl FnOnce() -> Replier<Update>,
    ) -> Option<Outcome> {
        let d = self.dialog.as_mut()?;
        match (&d.stage, k.code) {
            (Stage::Verifying { .. }, KeyCode::Esc) => {
                self.task.cancel();
                self.dialog = None;
                Some(Outcome::Say("verification stopped".into(), false))
            }
            (Stage::Verifying { .. }, _) => None,
            (Stage::Done(v), KeyCode::Enter) => {
                let v = v.clone();
                self.dialog = None;
                match (v.event.clone(), v.note()) {
                    (Some(e), Some(note)) => Some(Outcome::Open(Box::new(e), note)),
                    _ => Some(say(&v.report)),
                }
            }
            (Stage::Done(v), _) => {
                let said = say(&v.report);
                self.dialog = None;
                Some(said)
            }
            (Stage::Edit, KeyCode::Esc) => {
                self.dialog = None;
                None
            }
            (Stage::Edit, KeyCode::Tab | KeyCode::Down) => {
                d.focus = d.focus.next();
                None
            }
            (Stage::Edit, KeyCode::BackTab | KeyCode::Up) => {
                d.focus = d.focus.prev();
                None
            }
            (Stage::Edit, KeyCode::Enter) => {
                let text = |t: &TextArea| t.lines().join("").trim().to_string();
                let path = PathBuf::from(text(&d.path));
                if path.as_os_str().is_empty() || path.is_dir() {
                    d.error = Some((Field::Receipt, "give the receipt's file".into()));
                    d.focus = Field::Receipt;
                    return None;
                }
                // Read by the task, as the receipt is (no file is read here).
                let key_path =
                    Some(PathBuf::from(text(&d.key))).filter(|k| !k.as_os_str().is_empty());
                let jobs = match text(&d.jobs).parse::<u32>() {
                    Ok(n) if (1..=MAX_JOBS).contains(&n) => n as usize,
                    _ => {
                        d.error = Some((Field::Jobs, format!("a number of jobs, 1 to {MAX_JOBS}")));
                        d.focus = Field::Jobs;
                        return None;
                    }
                };
                let copy = d.copy;
                d.error = None;
                d.stage = Stage::Verifying {
                    range: None,
                    sealed: 0,
                    read: 0,
                };
                let reply = reply();
                let progress = reply.clone();
                let opened = reply.clone();
                let store = store.clone();
                self.task.start(reply, async move {
                    let run = async {
                        let key = key_path.as_deref().map(load_verifying_key).transpose()?;
                        let (receipt, raw) = Receipt::load(&path)?;
                        opened.send(Update::Opened {
                            range: receipt.range_text.clone(),
                            count: receipt.count,
                        });
                        let opts = VerifyOptions {
                            pass: Options {
                                jobs,
                                max_wait: DEFAULT_MAX_WAIT,
                                progress: Some(Arc::new(move |n| {
                                    progress.send(Update::Read(n));
                                })),
                            },
                            key,
                            digests: None,
                            copy,
                        };
                        let stores = std::slice::from_ref(&store);
                        let report = verify::verify(stores, &receipt, &raw, &path, &opts).await?;
                        let event = match &report.first_difference {
                            Some(f) if f.kind != FindingKind::Missing => {
                                verify::event_at(&store, &receipt, f.key).await?
                            }
                            _ => None,
                        };
                        Ok::<_, SealError>(Box::new(Verified { report, event }))
                    };
                    Update::Done(run.await.map_err(|e| {
                        let at = match &e {
                            SealError::Signature(_) | SealError::Key(_) => Field::Key,
                            SealError::Usage(_) => Field::Jobs,
                            // Another store: the copy toggle is what can change that.
                            SealError::OtherStore(_) => Field::Copy,
                            _ => Field::Receipt,
                        };
                        (at, e.to_string())
                    }))
                });
                None
            }
            (Stage::Edit, KeyCode::Char(' ')) if d.focus == Field::Copy => {
                d.copy = !d.copy;
                d.error = None;
                None
            }
            (Stage::Edit, _) => {
                let focus = d.focus;
                if let Some(field) = d.field(focus) {
                    input::edit(field, k);
                    d.error = None;
                }
                None
            }
        }
    }

    /// An answer of the verifying task; what the status line should say.
    pub fn on_update(&mut self, req: u64, u: Update) -> Option<(String, bool)> {
        let live = self.task.is(req);
        match u {
            Update::Opened { range: r, count } if live => {
                if let Some(Dialog {
                    stage: Stage::Verifying { range, sealed, .. },
                    ..
                }) = &mut self.dialog
                {
                    *range = Some(r);
                    *sealed = count;
                }
                None
            }
            Update::Read(n) if live => {
                if let Some(Dialog {
                    stage: Stage::Verifying { read, .. },
                    ..
                }) = &mut self.dialog
                {
                    *read = n;
                }
                None
            }
            Update::Opened { .. } | Update::Read(_) => None,
            Update::Done(r) => {
                if !self.task.accept(req) {
                    return None;
                }
                let d = self.dialog.as_mut()?;
                match r {
                    Ok(v) => {
                        let changed = v.report.status == Status::Changed;
                        d.stage = Stage::Done(v);
                        changed.then(|| ("the store differs from the seal".into(), true))
                    }
                    Err((at, e)) => {
                        d.stage = Stage::Edit;
                        d.focus = at;
                        d.error = Some((at, e.clone()));
                        Some((format!("verification failed: {e}"), true))
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

fn say(r: &Report) -> Outcome {
    let first = r.summary().lines().next().unwrap_or_default().to_string();
    Outcome::Say(first, r.status == Status::Changed)
}

/// The most recently written `*.json` receipt in `dir` (the seal dialog writes them there).
fn newest_receipt(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("evscope-seal-") && n.ends_with(".json")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
}

fn draw_dialog(f: &mut Frame, area: Rect, d: &Dialog, theme: &Theme) {
    // The result can be longer than the fields' help: the dialog grows to hold it (wrapped at
    // its inner width), as far as the screen allows.
    let body_lines = match &d.stage {
        Stage::Done(v) => v
            .report
            .summary()
            .lines()
            .map(|l| {
                (unicode_width::UnicodeWidthStr::width(l) as u16)
                    .div_ceil(94)
                    .max(1)
            })
            .sum::<u16>(),
        _ => 0,
    };
    let r = centered(area, 96, 18u16.max(body_lines + 11));
    f.render_widget(Clear, r);
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(" Verify a seal ", theme.title))
        .style(theme.base);
    let inner = outer.inner(r);
    f.render_widget(outer, r);
    let [
        file,
        file_note,
        key,
        key_note,
        jobs,
        jobs_note,
        copy,
        copy_note,
        body,
        keys,
    ] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let editing = matches!(d.stage, Stage::Edit);
    for (area, name, field, which) in [
        ((file, file_note), "receipt", &d.path, Field::Receipt),
        ((key, key_note), "key", &d.key, Field::Key),
        ((jobs, jobs_note), "jobs", &d.jobs, Field::Jobs),
    ] {
        path_field(
            f,
            area,
            name,
            9,
            field,
            editing && d.focus == which,
            d.error_at(which),
            theme,
        );
    }
    // The copy toggle: a label like the fields', its state, and its error under it.
    let focused = editing && d.focus == Field::Copy;
    let style = match (d.error_at(Field::Copy), focused) {
        (Some(_), _) => theme.error,
        (None, true) => theme.accent,
        (None, false) => theme.muted,
    };
    let v = label(f, copy, "copy", style, 9);
    let state = if d.copy {
        "[x] a copy of the sealed store (restored backup, copied file)"
    } else {
        "[ ] the sealed store itself (Space: a copy of it)"
    };
    f.render_widget(
        Paragraph::new(Span::styled(
            state,
            if focused { theme.accent } else { theme.base },
        )),
        v,
    );
    if let Some(e) = d.error_at(Field::Copy) {
        let [_, v] =
            Layout::horizontal([Constraint::Length(9), Constraint::Fill(1)]).areas(copy_note);
        f.render_widget(
            Paragraph::new(Span::styled(format!("↳ {e}"), theme.error)).wrap(Wrap { trim: true }),
            v,
        );
    }
    let text: Vec<Line> = match &d.stage {
        Stage::Edit => vec![
            Line::styled(
                "the store is read again over the receipt's range and compared with it",
                theme.muted,
            ),
            Line::styled(
                "key: the signer's public key (empty: the key the receipt names, which proves no signer)",
                theme.muted,
            ),
        ],
        Stage::Verifying {
            range,
            sealed,
            read,
        } => vec![
            Line::raw(match range {
                Some(r) => format!("range {r} · {sealed} events sealed"),
                None => "reading the receipt…".to_string(),
            }),
            Line::styled(format!("verifying… {read} events hashed"), theme.loading),
        ],
        Stage::Done(v) => {
            let st = match v.report.status {
                Status::Unchanged => theme.accent,
                Status::Changed => theme.error,
            };
            v.report
                .summary()
                .lines()
                .map(|l| Line::styled(l.to_string(), st))
                .collect()
        }
    };
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
    let k = match &d.stage {
        Stage::Edit if d.focus == Field::Copy => {
            "Enter verify · Space toggle · Tab next field · Esc cancel"
        }
        Stage::Edit => "Enter verify · Tab next field · Esc cancel · Ctrl-U clear",
        Stage::Verifying { .. } => "Esc stop",
        Stage::Done(v) if v.note().is_some() => "Enter show the differing event · other keys close",
        Stage::Done(_) => "any key: close",
    };
    f.render_widget(Paragraph::new(Span::styled(k, theme.muted)), keys);
}
