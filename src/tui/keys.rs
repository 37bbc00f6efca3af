//! Key bindings: an embedded default table (`keys.toml`) merged with the config file's
//! `[keys]`; each action has a list of keys.

use std::collections::BTreeMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Command {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Open,
    Back,
    NextPane,
    Streams,
    Log,
    Filter,
    ClearFilter,
    Jump,
    Follow,
    Copy,
    Export,
    Refresh,
    Sort,
    TimeTravel,
    StepBack,
    StepForward,
    Snapshots,
    NextDiff,
    PrevDiff,
    Audit,
    Consumers,
    Drift,
    Mark,
    Trace,
    Replay,
    Seal,
    VerifySeal,
    TimeZone,
    Palette,
}

pub const COMMANDS: &[(&str, Command, &str)] = &[
    ("quit", Command::Quit, "quit (the terminal is restored)"),
    ("help", Command::Help, "show the keys for this view"),
    (
        "palette",
        Command::Palette,
        "the actions of this view, found by typing (fuzzy)",
    ),
    ("up", Command::Up, "previous row / scroll up"),
    ("down", Command::Down, "next row / scroll down"),
    ("page_up", Command::PageUp, "one screen up"),
    ("page_down", Command::PageDown, "one screen down"),
    ("home", Command::Home, "first row (oldest event)"),
    ("end", Command::End, "last row (newest event)"),
    ("open", Command::Open, "open the selection / follow a link"),
    ("back", Command::Back, "back to the previous view"),
    ("next_pane", Command::NextPane, "next pane / next link"),
    ("streams", Command::Streams, "the stream list"),
    ("log", Command::Log, "the global log"),
    (
        "filter",
        Command::Filter,
        "filter: type:, stream:, category:, since:, until:, | jq",
    ),
    ("clear_filter", Command::ClearFilter, "clear the filter"),
    (
        "jump",
        Command::Jump,
        "jump to a position, a version, a time or an event id",
    ),
    (
        "follow",
        Command::Follow,
        "follow new events of the log or this stream (live tail)",
    ),
    (
        "copy",
        Command::Copy,
        "copy the selected event as JSON (OSC 52)",
    ),
    (
        "export",
        Command::Export,
        "export the current view to a JSONL file",
    ),
    ("refresh", Command::Refresh, "reload the view"),
    (
        "sort",
        Command::Sort,
        "stream list order: by id / by recent activity",
    ),
    (
        "time_travel",
        Command::TimeTravel,
        "time travel: rebuild the selected stream's state at this event",
    ),
    (
        "step_back",
        Command::StepBack,
        "time travel: one event back",
    ),
    (
        "step_forward",
        Command::StepForward,
        "time travel: one event forward",
    ),
    (
        "snapshots",
        Command::Snapshots,
        "the stream's snapshots, each checked against its events",
    ),
    (
        "next_difference",
        Command::NextDiff,
        "snapshot diff: next difference",
    ),
    (
        "previous_difference",
        Command::PrevDiff,
        "snapshot diff: previous difference",
    ),
    (
        "audit",
        Command::Audit,
        "audit the whole store (version gaps, duplicates, invalid JSON...)",
    ),
    (
        "consumers",
        Command::Consumers,
        "consumers: checkpoints, lag, stalls (from anywhere)",
    ),
    (
        "drift",
        Command::Drift,
        "snapshot drift: check every snapshot of the store, list the drifted and failed ones",
    ),
    (
        "mark",
        Command::Mark,
        "mark one end of a replay range (m again: the other end)",
    ),
    (
        "trace",
        Command::Trace,
        "the events sharing this event's correlation id, across streams",
    ),
    (
        "replay",
        Command::Replay,
        "replay the marked range, or the events in view, to a bus or a file",
    ),
    (
        "seal",
        Command::Seal,
        "seal the marked range, or the events in view, into a receipt file",
    ),
    (
        "verify_seal",
        Command::VerifySeal,
        "verify a seal receipt against the store (and show the event that differs)",
    ),
    (
        "time_zone",
        Command::TimeZone,
        "times in UTC / in the local time zone",
    ),
];

/// A key as written in the config: modifiers and a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub ctrl: bool,
    pub alt: bool,
    pub code: KeyName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyName {
    Char(char),
    Named(&'static str),
    F(u8),
}

const NAMES: &[&str] = &[
    "up",
    "down",
    "left",
    "right",
    "pageup",
    "pagedown",
    "home",
    "end",
    "enter",
    "esc",
    "backspace",
    "tab",
    "backtab",
    "space",
    "delete",
    "insert",
];

pub fn parse_key(s: &str) -> Result<Key, String> {
    let mut ctrl = false;
    let mut alt = false;
    let mut rest = s;
    loop {
        if let Some(r) = rest.strip_prefix("ctrl-") {
            ctrl = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("alt-") {
            alt = true;
            rest = r;
        } else if rest == "shift-tab" {
            rest = "backtab";
        } else {
            break;
        }
    }
    let code = if rest.chars().count() == 1 {
        KeyName::Char(rest.chars().next().expect("one char"))
    } else if let Some(n) = NAMES.iter().find(|n| **n == rest) {
        if *n == "space" {
            KeyName::Char(' ')
        } else {
            KeyName::Named(n)
        }
    } else if let Some(n) = rest
        .strip_prefix('f')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=12).contains(n))
    {
        KeyName::F(n)
    } else {
        return Err(format!(
            "{s:?} is not a key (a character, or one of {}, f1..f12, with ctrl-/alt-)",
            NAMES.join(", ")
        ));
    };
    Ok(Key { ctrl, alt, code })
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        let alt = e.modifiers.contains(KeyModifiers::ALT);
        let code = match e.code {
            KeyCode::Char(c) => KeyName::Char(c),
            KeyCode::Up => KeyName::Named("up"),
            KeyCode::Down => KeyName::Named("down"),
            KeyCode::Left => KeyName::Named("left"),
            KeyCode::Right => KeyName::Named("right"),
            KeyCode::PageUp => KeyName::Named("pageup"),
            KeyCode::PageDown => KeyName::Named("pagedown"),
            KeyCode::Home => KeyName::Named("home"),
            KeyCode::End => KeyName::Named("end"),
            KeyCode::Enter => KeyName::Named("enter"),
            KeyCode::Esc => KeyName::Named("esc"),
            KeyCode::Backspace => KeyName::Named("backspace"),
            KeyCode::Tab => KeyName::Named("tab"),
            KeyCode::BackTab => KeyName::Named("backtab"),
            KeyCode::Delete => KeyName::Named("delete"),
            KeyCode::Insert => KeyName::Named("insert"),
            KeyCode::F(n) => KeyName::F(n),
            _ => return None,
        };
        Some(Key { ctrl, alt, code })
    }

    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.ctrl {
            s.push_str("ctrl-");
        }
        if self.alt {
            s.push_str("alt-");
        }
        match self.code {
            KeyName::Char(' ') => s.push_str("space"),
            KeyName::Char(c) => s.push(c),
            KeyName::Named(n) => s.push_str(n),
            KeyName::F(n) => s.push_str(&format!("f{n}")),
        }
        s
    }
}

#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: BTreeMap<Key, Command>,
    by_command: BTreeMap<Command, Vec<Key>>,
}

impl KeyMap {
    /// The embedded defaults, with `overrides` (action -> keys) from the config file.
    pub fn new(overrides: &BTreeMap<String, Vec<String>>) -> Result<KeyMap, String> {
        let defaults: BTreeMap<String, Vec<String>> = toml::from_str(include_str!("keys.toml"))
            .map_err(|e| format!("embedded keys: {}", e.message()))?;
        let mut table = defaults;
        for (action, keys) in overrides {
            if !COMMANDS.iter().any(|(n, _, _)| n == action) {
                return Err(format!(
                    "keys: unknown action {action:?} (actions: {})",
                    COMMANDS
                        .iter()
                        .map(|(n, _, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            table.insert(action.clone(), keys.clone());
        }
        let mut bindings = BTreeMap::new();
        let mut by_command: BTreeMap<Command, Vec<Key>> = BTreeMap::new();
        for (name, cmd, _) in COMMANDS {
            for k in table.get(*name).into_iter().flatten() {
                let key = parse_key(k).map_err(|e| format!("keys.{name}: {e}"))?;
                if let Some(other) = bindings.insert(key, *cmd) {
                    if other != *cmd {
                        return Err(format!(
                            "keys: {k:?} is bound to both {other:?} and {cmd:?}"
                        ));
                    }
                }
                by_command.entry(*cmd).or_default().push(key);
            }
        }
        Ok(KeyMap {
            bindings,
            by_command,
        })
    }

    pub fn command(&self, e: &KeyEvent) -> Option<Command> {
        let key = Key::from_event(e)?;
        self.bindings.get(&key).copied().or_else(|| {
            // Shifted letters arrive as uppercase chars, sometimes with SHIFT set: ignore it.
            let k = Key {
                ctrl: key.ctrl,
                alt: key.alt,
                code: key.code,
            };
            self.bindings.get(&k).copied()
        })
    }

    pub fn keys_for(&self, c: Command) -> String {
        self.by_command
            .get(&c)
            .map(|ks| ks.iter().map(Key::label).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventKind;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: m,
            kind: KeyEventKind::Press,
            state: ratatui::crossterm::event::KeyEventState::NONE,
        }
    }

    #[test]
    fn defaults_parse_and_every_action_has_a_key() {
        let k = KeyMap::new(&BTreeMap::new()).unwrap();
        for (name, cmd, _) in COMMANDS {
            assert!(!k.keys_for(*cmd).is_empty(), "{name} has no key");
        }
        assert_eq!(
            k.command(&ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Command::Quit)
        );
        assert_eq!(
            k.command(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(
            k.command(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Command::End)
        );
        assert_eq!(
            k.command(&ev(KeyCode::PageDown, KeyModifiers::NONE)),
            Some(Command::PageDown)
        );
        assert_eq!(k.command(&ev(KeyCode::Char('x'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn overrides_replace_an_action_and_conflicts_are_refused() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), vec!["x".to_string()]);
        let k = KeyMap::new(&o).unwrap();
        assert_eq!(
            k.command(&ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Command::Quit)
        );
        assert_eq!(k.command(&ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        o.insert("help".to_string(), vec!["x".to_string()]);
        assert!(KeyMap::new(&o).unwrap_err().contains("bound to both"));
        let mut bad = BTreeMap::new();
        bad.insert("fly".to_string(), vec!["z".to_string()]);
        assert!(KeyMap::new(&bad).unwrap_err().contains("unknown action"));
        assert!(parse_key("ctrl-pagedown").is_ok());
        assert!(parse_key("hyper-x").is_err());
    }
}
