//! The commands no view takes: the app's own (quit, help, the palette, switching roots, the
//! time zone), those that open views (time travel, snapshots, audit), the inputs' results,
//! and the export and replay that start from the view shown.

use chrono::Utc;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{APP, App};
use crate::filter;
use crate::tui::keys::{COMMANDS, Command};
use crate::tui::overlays::input::InputKind;
use crate::tui::overlays::palette::{Action, Palette};
use crate::tui::views::audit::AuditView;
use crate::tui::views::detail::{self, DetailView};
use crate::tui::views::snapshot_list::SnapshotList;
use crate::tui::views::timetravel::TimeTravelView;
use crate::tui::views::{Jump, ViewKind, parse_jump};

/// The jump input's hint in the stream list.
const STREAM_JUMP_HINT: &str =
    "a stream id or its start: the list follows as you type   Enter keep · Esc · ↑ earlier";

impl App {
    /// The commands no view took: those of the app, and those that open views.
    pub(super) fn on_command(&mut self, cmd: Command) {
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
            Command::Jump if self.view() == ViewKind::Streams => {
                self.inputs
                    .open_typed(InputKind::Jump, "", Some(STREAM_JUMP_HINT))
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
                    crate::tui::osc52_copy(&json);
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
            Command::Consumers => {
                self.push(Box::new(crate::tui::views::consumers::ConsumersView::new()))
            }
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
            Command::Seal => match top.and_then(|v| v.replay_scope()) {
                Some(scope) => {
                    let path = self.export_dir.join(format!(
                        "evscope-seal-{}.json",
                        Utc::now().format("%Y%m%dT%H%M%S")
                    ));
                    if let Err(e) = self.seal.open(scope, &path) {
                        self.set_status(e, true);
                    }
                }
                None => self.set_status("Z seals from the global log or a stream", true),
            },
            Command::VerifySeal => {
                let dir = self.export_dir.clone();
                self.verify_seal.open(&dir);
            }
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
            Command::Trace => self.set_status(
                "c on an event of the log or a stream lists the events sharing its correlation id",
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
            c.extend([Command::Replay, Command::Seal]);
        }
        c.extend([Command::Audit, Command::Consumers, Command::VerifySeal]);
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
    pub(super) fn run(&mut self, cmd: Command) {
        self.status = None;
        let mut handled = false;
        self.with_top(|v, ctx| handled = v.on_command(cmd, ctx));
        if !handled {
            self.on_command(cmd);
        }
    }

    /// `S`: the snapshots of the stream in focus.
    pub(super) fn open_snapshots(&mut self, stream: Option<String>) {
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

    pub(super) fn submit(&mut self, kind: InputKind, text: &str) {
        match kind {
            InputKind::Filter => match filter::parse(text, Utc::now()) {
                Ok(q) => {
                    self.inputs.accepted();
                    self.with_top(|v, ctx| v.set_query(q, ctx));
                }
                Err(e) => self.inputs.refused(e.to_string()),
            },
            // In the stream list, what is typed is a stream id (or the start of one), and the
            // list has followed it as it was typed (`jump_as_typed`): Enter keeps it.
            InputKind::Jump if self.view() == ViewKind::Streams && !text.trim().is_empty() => {
                self.inputs.accepted();
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

    /// In the stream list, a key that does nothing there (a letter no command of the view
    /// takes, a digit, `-`, `.`…) starts typing a stream id: the jump input opens with it and
    /// the list follows as the id is typed. The keys the view uses keep their meaning (`g`
    /// types an id that starts with one of them).
    pub(super) fn starts_a_jump(&mut self, k: &KeyEvent, cmd: Option<Command>) -> bool {
        let KeyCode::Char(c) = k.code else {
            return false;
        };
        if self.view() != ViewKind::Streams
            || c.is_whitespace()
            || k.modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
            || cmd.is_some_and(|cmd| self.commands().contains(&cmd))
        {
            return false;
        }
        self.inputs
            .open_typed(InputKind::Jump, &c.to_string(), Some(STREAM_JUMP_HINT));
        self.jump_as_typed();
        true
    }

    /// The stream list follows its jump input as it is typed.
    pub(super) fn jump_as_typed(&mut self) {
        let Some(input) = &self.inputs.open else {
            return;
        };
        let text = input.text().trim().to_string();
        if input.kind == InputKind::Jump && self.view() == ViewKind::Streams && !text.is_empty() {
            self.jump(Jump::Stream(text));
        }
    }

    pub(super) fn jump(&mut self, j: Jump) {
        if let Jump::EventId(id) = &j {
            let store = self.store.clone();
            self.next_id += 1;
            let reply = crate::tui::request::Replier::new(self.tx.clone(), APP, self.next_id);
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
    pub(super) fn export(&mut self) {
        let Some(scope) = self.top().and_then(|v| v.export_scope()) else {
            self.set_status("e exports the events of the log or a stream", false);
            return;
        };
        let path = self.export_dir.join(format!(
            "evscope-export-{}.jsonl",
            Utc::now().format("%Y%m%dT%H%M%S%.3f")
        ));
        self.next_id += 1;
        let reply = crate::tui::request::Replier::new(self.tx.clone(), APP, self.next_id);
        self.export.open(scope, &path, &self.store, reply);
    }
}
