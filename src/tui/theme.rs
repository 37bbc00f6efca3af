//! Colour themes: TOML files in `themes/`, embedded, chosen by `--theme NAME|FILE` or the
//! config file's `theme`. `NO_COLOR` (any non-empty value) drops every colour and keeps only
//! bold/reverse, so the UI stays readable without colour.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: String,
    fg: String,
    bg: String,
    muted: String,
    accent: String,
    border: String,
    title: String,
    header: String,
    selected_fg: String,
    selected_bg: String,
    status_fg: String,
    status_bg: String,
    error: String,
    warning: String,
    loading: String,
    link: String,
    json_key: String,
    json_string: String,
    json_number: String,
    json_bool: String,
    json_null: String,
    json_punct: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub muted: Style,
    pub accent: Style,
    pub border: Style,
    pub title: Style,
    pub header: Style,
    pub selected: Style,
    pub status: Style,
    pub error: Style,
    pub warning: Style,
    pub loading: Style,
    pub link: Style,
    pub json_key: Style,
    pub json_string: Style,
    pub json_number: Style,
    pub json_bool: Style,
    pub json_null: Style,
    pub json_punct: Style,
    /// Times shown in the local time zone instead of UTC (`z` toggles).
    pub local_time: bool,
}

fn color(field: &str, s: &str) -> Result<Color, String> {
    Color::from_str(s).map_err(|_| format!("theme: {field} = {s:?} is not a colour"))
}

impl Theme {
    pub fn parse(text: &str) -> Result<Theme, String> {
        let r: RawTheme = toml::from_str(text).map_err(|e| format!("theme: {}", e.message()))?;
        let fg = |f: &str, s: &str| -> Result<Style, String> { Ok(Style::new().fg(color(f, s)?)) };
        Ok(Theme {
            name: r.name.clone(),
            base: Style::new().fg(color("fg", &r.fg)?).bg(color("bg", &r.bg)?),
            muted: fg("muted", &r.muted)?,
            accent: fg("accent", &r.accent)?,
            border: fg("border", &r.border)?,
            title: fg("title", &r.title)?.add_modifier(Modifier::BOLD),
            header: fg("header", &r.header)?.add_modifier(Modifier::BOLD),
            selected: Style::new()
                .fg(color("selected_fg", &r.selected_fg)?)
                .bg(color("selected_bg", &r.selected_bg)?),
            status: Style::new()
                .fg(color("status_fg", &r.status_fg)?)
                .bg(color("status_bg", &r.status_bg)?),
            error: fg("error", &r.error)?.add_modifier(Modifier::BOLD),
            warning: fg("warning", &r.warning)?,
            loading: fg("loading", &r.loading)?,
            link: fg("link", &r.link)?.add_modifier(Modifier::UNDERLINED),
            json_key: fg("json_key", &r.json_key)?,
            json_string: fg("json_string", &r.json_string)?,
            json_number: fg("json_number", &r.json_number)?,
            json_bool: fg("json_bool", &r.json_bool)?,
            json_null: fg("json_null", &r.json_null)?,
            json_punct: fg("json_punct", &r.json_punct)?,
            local_time: false,
        })
    }

    /// A cell's style in the selected row: the selection's colours win over the cell's own
    /// (a cyan TYPE on a cyan selection would vanish), its modifiers are kept.
    pub fn on_selected(&self, cell: Style) -> Style {
        cell.patch(self.selected)
    }

    /// A style for text on the status line: its colour, unless that is the status line's
    /// background (high-contrast's muted white on its white status line).
    pub fn on_status(&self, s: Style) -> Style {
        if s.fg.is_some() && s.fg == self.status.bg {
            Style {
                fg: self.status.fg,
                ..s
            }
        } else {
            s
        }
    }

    /// Lines an event changed (time travel, a snapshot's differences): marked apart from the
    /// selection, so that the cursor and a change never look alike.
    pub fn changed(&self) -> Style {
        self.warning
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// A built-in theme by name, or a theme file by path.
    pub fn load(name_or_path: &str) -> Result<Theme, String> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Theme::parse(text);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            format!(
                "theme {name_or_path:?}: not a built-in theme ({}) and not a readable file: {e}",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        Theme::parse(&text)
    }

    pub fn default_dark() -> Theme {
        Theme::parse(BUILTIN[0].1).expect("the embedded dark theme parses (tested)")
    }

    /// The same theme with every colour removed (NO_COLOR): structure by modifiers only.
    pub fn without_color(&self) -> Theme {
        let plain = Style::new();
        Theme {
            name: format!("{} (no colour)", self.name),
            base: plain,
            muted: plain,
            accent: plain.add_modifier(Modifier::BOLD),
            border: plain,
            title: plain.add_modifier(Modifier::BOLD),
            header: plain.add_modifier(Modifier::BOLD),
            selected: plain.add_modifier(Modifier::REVERSED),
            status: plain.add_modifier(Modifier::REVERSED),
            error: plain.add_modifier(Modifier::BOLD),
            warning: plain.add_modifier(Modifier::BOLD),
            loading: plain,
            link: plain.add_modifier(Modifier::UNDERLINED),
            json_key: plain.add_modifier(Modifier::BOLD),
            json_string: plain,
            json_number: plain,
            json_bool: plain,
            json_null: plain,
            json_punct: plain,
            local_time: self.local_time,
        }
    }
}

/// Whether the NO_COLOR convention asks for no colour (https://no-color.org).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_is_named_after_its_file() {
        for (name, text) in BUILTIN {
            let t = Theme::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&t.name, name);
            assert_ne!(t.selected, t.base, "{name}: the selection must stand out");
        }
        assert_eq!(Theme::load("light").unwrap().name, "light");
    }

    #[test]
    fn bad_themes_are_refused_with_the_field_named() {
        let bad = BUILTIN[0]
            .1
            .replace("accent = \"cyan\"", "accent = \"chartreuse-ish\"");
        assert!(Theme::parse(&bad).unwrap_err().contains("accent"));
        assert!(
            Theme::load("no-such-theme")
                .unwrap_err()
                .contains("dark, light, high-contrast")
        );
    }

    #[test]
    fn no_color_keeps_only_modifiers() {
        let t = Theme::default_dark().without_color();
        for s in [t.base, t.selected, t.json_key, t.error, t.status] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(t.selected.add_modifier.contains(Modifier::REVERSED));
    }
}
