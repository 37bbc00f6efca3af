//! The config file: named connection profiles (and, later, themes and keys).
//!
//! Location: `--config FILE`, else `$EVSCOPE_CONFIG`, else `<config dir>/evscope/config.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when neither --db, DATABASE_URL nor --profile is given.
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// The TUI theme: a built-in name (dark, light, high-contrast) or a theme file.
    pub theme: Option<String>,
    /// Key overrides for the TUI: action = ["key", ...] (see src/tui/keys.toml).
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub db: String,
    pub schema: Option<String>,
    pub mapping: Option<PathBuf>,
    /// The reducer file for this connection's streams (rehydration, snapshot audit).
    pub reducers: Option<PathBuf>,
}

pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "evscope")
}

pub fn default_config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EVSCOPE_CONFIG") {
        return Some(PathBuf::from(p));
    }
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// The user's data directory for evscope (demo store, replay jobs).
pub fn data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("EVSCOPE_DATA_DIR") {
        return PathBuf::from(p);
    }
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".evscope"))
}

impl Config {
    /// Load the file; a missing default file is an empty config, a missing named file an error.
    pub fn load(explicit: Option<&Path>) -> Result<Config, String> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(e) => Err(format!("cannot read config {}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    pub fn profile(&self, name: &str) -> Result<&Profile, String> {
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            format!(
                "no profile {name:?} in the config file (profiles: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse() {
        let c = Config::parse(
            r#"
default_profile = "local"
[profiles.local]
db = "postgres://postgres@127.0.0.1/test"
schema = "marten"
[profiles.axon]
db = "mysql://root@127.0.0.1/axon"
mapping = "fixtures/mappings/axon.toml"
"#,
        )
        .unwrap();
        assert_eq!(c.default_profile.as_deref(), Some("local"));
        assert_eq!(
            c.profile("local").unwrap().schema.as_deref(),
            Some("marten")
        );
        assert!(c.profile("nope").unwrap_err().contains("axon, local"));
        assert!(Config::parse("[profiles.x]\nurl = 1").is_err());
    }
}
