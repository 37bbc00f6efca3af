//! The config file: named connection profiles, named sinks (`[sinks.NAME]`, for `replay
//! --sink-profile NAME`), the theme and keys.
//!
//! Location: `--config FILE`, else `$EVSCOPE_CONFIG`, else `<config dir>/evscope/config.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the config file (or a name looked up in it) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, a value of the wrong kind (`path` when read from a file).
    #[error("{}{message}", path.as_ref().map_or(String::new(), |p| format!("{}: ", p.display())))]
    Invalid {
        path: Option<PathBuf>,
        message: String,
    },
    #[error("no {what} {name:?} in the config file ({list}: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NotFound {
        what: &'static str,
        name: String,
        list: &'static str,
        known: Vec<String>,
    },
}

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
    /// Named replay sinks: `replay --sink-profile NAME`.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkProfile>,
    /// How long to wait for a database server: "5s", "500ms", "1m" (default 5s).
    pub connect_timeout: Option<String>,
}

impl Config {
    /// The config's connect timeout (checked when the file is loaded).
    pub fn connect_timeout(&self) -> Option<std::time::Duration> {
        self.connect_timeout
            .as_deref()
            .and_then(|t| parse_timeout(t).ok())
    }
}

/// A connect timeout: a duration as [`crate::timeparse::parse_duration`] reads it (5s, 500ms,
/// 1m, a bare number of seconds), above zero and at most an hour.
pub fn parse_timeout(s: &str) -> Result<std::time::Duration, TimeoutError> {
    let d = crate::timeparse::parse_duration(s)?;
    if d.is_zero() || d > std::time::Duration::from_secs(3600) {
        return Err(TimeoutError::OutOfRange(s.to_string()));
    }
    Ok(d)
}

/// Why a connect timeout was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    #[error(transparent)]
    NotADuration(#[from] crate::timeparse::TimeError),
    #[error("invalid timeout {0:?}: it must be above zero and at most an hour")]
    OutOfRange(String),
}

/// A replay sink with its credentials and TLS files. Only references to secrets (files,
/// environment variable names, a `nats` context), never a secret itself: config files get
/// copied, shared and committed. Flags given beside `--sink-profile` win, field by field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkProfile {
    /// nats://HOST:PORT, tls://HOST:PORT, a server list, or jsonl:PATH (optional with
    /// `context`, which names the servers then).
    pub url: Option<String>,
    /// The subject template.
    pub subject: Option<String>,
    /// A `nats` CLI context (`~/.config/nats/context/NAME.json`) for what is not set here.
    pub context: Option<String>,
    /// A `.creds` file (user JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// A file holding an NKey seed.
    pub nkey: Option<PathBuf>,
    /// A file holding a token.
    pub token_file: Option<PathBuf>,
    /// An environment variable holding a token.
    pub token_env: Option<String>,
    pub user: Option<String>,
    /// The environment variable holding `user`'s password (default EVSCOPE_NATS_PASSWORD).
    pub password_env: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub tls_first: bool,
}

impl SinkProfile {
    /// The same profile with its files as absolute paths (a job file keeps them so, and a
    /// resume from another directory finds the same files).
    pub fn with_absolute_paths(mut self) -> SinkProfile {
        for p in [
            &mut self.creds,
            &mut self.nkey,
            &mut self.token_file,
            &mut self.tls_ca,
            &mut self.tls_cert,
            &mut self.tls_key,
        ]
        .into_iter()
        .flatten()
        {
            *p = std::path::absolute(&*p).unwrap_or_else(|_| p.clone());
        }
        self
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub db: String,
    pub schema: Option<String>,
    pub mapping: Option<PathBuf>,
    /// The reducer file for this connection's streams (rehydration, snapshot audit).
    pub reducers: Option<PathBuf>,
    /// How long to wait for this server ("5s"; default: the config's, else 5s).
    pub connect_timeout: Option<String>,
    /// Consumers that follow one stream where the store does not record it (Eventuous stream
    /// subscriptions): consumer id = stream, as `--stream-subscription ID=STREAM` gives them.
    #[serde(default)]
    pub stream_subscriptions: BTreeMap<String, String>,
}

impl Profile {
    pub fn connect_timeout(&self) -> Option<std::time::Duration> {
        self.connect_timeout
            .as_deref()
            .and_then(|t| parse_timeout(t).ok())
    }
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
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text).map_err(|e| match e {
                ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                    path: Some(path.clone()),
                    message,
                },
                e => e,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: None,
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        if let Some(t) = &config.connect_timeout {
            parse_timeout(t).map_err(|e| invalid(format!("connect_timeout: {e}")))?;
        }
        for (name, p) in &config.profiles {
            if let Some(t) = &p.connect_timeout {
                parse_timeout(t)
                    .map_err(|e| invalid(format!("profiles.{name}.connect_timeout: {e}")))?;
            }
        }
        Ok(config)
    }

    pub fn sink(&self, name: &str) -> Result<&SinkProfile, ConfigError> {
        sink_in(&self.sinks, name)
    }

    pub fn profile(&self, name: &str) -> Result<&Profile, ConfigError> {
        named(&self.profiles, name, "profile", "profiles")
    }
}

/// The sink profile `name` of `sinks`, or an error naming the ones there are.
pub fn sink_in<'a>(
    sinks: &'a BTreeMap<String, SinkProfile>,
    name: &str,
) -> Result<&'a SinkProfile, ConfigError> {
    named(sinks, name, "sink profile", "[sinks.NAME]; sinks")
}

/// The entry `name` of a table of the config, or an error naming the entries there are.
fn named<'a, T>(
    table: &'a BTreeMap<String, T>,
    name: &str,
    what: &'static str,
    list: &'static str,
) -> Result<&'a T, ConfigError> {
    table.get(name).ok_or_else(|| ConfigError::NotFound {
        what,
        name: name.to_string(),
        list,
        known: table.keys().cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_timeout_is_a_duration_above_zero_and_at_most_an_hour() {
        assert_eq!(
            parse_timeout("500ms"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            parse_timeout("0"),
            Err(TimeoutError::OutOfRange("0".into()))
        );
        assert_eq!(
            parse_timeout("2h"),
            Err(TimeoutError::OutOfRange("2h".into()))
        );
        assert!(matches!(
            parse_timeout("soon"),
            Err(TimeoutError::NotADuration(_))
        ));
    }

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
        assert!(
            c.profile("nope")
                .unwrap_err()
                .to_string()
                .contains("axon, local")
        );
        assert!(Config::parse("[profiles.x]\nurl = 1").is_err());
    }

    #[test]
    fn sink_profiles_parse_and_take_no_secret() {
        let c = Config::parse(
            r#"
[sinks.prod]
url = "tls://nats.example:4222"
subject = "rebuild.{category}.{type}"
creds = "/etc/evscope/replay.creds"
tls_ca = "/etc/ssl/nats-ca.pem"
[sinks.ctx]
context = "prod"
"#,
        )
        .unwrap();
        let p = c.sink("prod").unwrap();
        assert_eq!(p.url.as_deref(), Some("tls://nats.example:4222"));
        assert_eq!(p.tls_ca.as_deref(), Some(Path::new("/etc/ssl/nats-ca.pem")));
        assert!(
            c.sink("nope")
                .unwrap_err()
                .to_string()
                .contains("ctx, prod")
        );
        // A secret has no field: references only.
        assert!(Config::parse("[sinks.x]\ntoken = \"s3cret\"").is_err());
        assert!(Config::parse("[sinks.x]\npassword = \"s3cret\"").is_err());
    }
}
