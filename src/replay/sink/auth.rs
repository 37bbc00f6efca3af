//! What names a NATS sink: its servers, where its credentials come from (references only),
//! and what a resumed job is given again.

use super::*;

// ---- NATS JetStream ----

/// The servers of a NATS sink, each a full URL: `nats://a:4222`, a list
/// `nats://a:4222,nats://b:4222`, or `nats://a:4222,b:4222` (a server written without a scheme
/// takes the first one's). Errors name the sink with its passwords hidden.
pub fn nats_servers(list: &str) -> Result<Vec<String>, SinkConfigError> {
    servers_of(list).map_err(SinkConfigError)
}

fn servers_of(list: &str) -> Result<Vec<String>, String> {
    let shown = redact_url(list);
    let scheme = list
        .split_once("://")
        .map(|(s, _)| s)
        .filter(|s| matches!(*s, "nats" | "tls"))
        .ok_or_else(|| format!("sink {shown}: a NATS server URL starts with nats:// or tls://"))?;
    let mut servers = Vec::new();
    for raw in list.split(',').map(str::trim) {
        if raw.is_empty() {
            return Err(format!("sink {shown}: an empty entry in the server list"));
        }
        let full = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("{scheme}://{raw}")
        };
        let bad = |why: String| {
            if servers.is_empty() && !list.contains(',') {
                format!("sink {shown}: {why}")
            } else {
                format!("sink {shown}: server {}: {why}", redact_url(&full))
            }
        };
        let u = url::Url::parse(&full).map_err(|e| bad(e.to_string()))?;
        if !matches!(u.scheme(), "nats" | "tls") {
            return Err(bad("use nats:// or tls://".into()));
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host".into()));
        }
        servers.push(full);
    }
    Ok(servers)
}

// ---- NATS credentials and TLS ----

/// The environment variable a token is read from when nothing else names a credential.
pub const TOKEN_ENV: &str = "EVSCOPE_NATS_TOKEN";
/// The environment variable holding the password of `--nats-user` (or of a resumed job's URL).
pub const PASSWORD_ENV: &str = "EVSCOPE_NATS_PASSWORD";

/// The servers of a NATS sink and where its credentials come from. `servers` may hold a
/// password (`nats://u:p@h`) or a token (`nats://t@h`) in memory; a job file keeps it redacted
/// (`***`), and a resumed job is given it again ([`NatsTarget::recover`]).
#[derive(Clone, PartialEq)]
pub struct NatsTarget {
    /// Full URLs, comma-separated (as [`nats_servers`] made them).
    pub(super) servers: String,
    pub auth: NatsAuth,
}

impl std::fmt::Debug for NatsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsTarget")
            .field("servers", &redact_url(&self.servers))
            .field("auth", &self.auth)
            .finish()
    }
}

/// Where a NATS sink's credentials and TLS files come from — references only (file paths, a
/// context's name, environment variable names), never a secret, so that a job file can keep
/// them and a resumed job finds its credentials the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsAuth {
    /// A `nats` CLI context (`$XDG_CONFIG_HOME/nats/context/NAME.json`), read at every
    /// connection: what the fields below leave unset comes from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The config file's `[sinks.NAME]` this came from (for the record; its settings are
    /// copied into the fields below).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A `.creds` file: a user JWT and its NKey seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds: Option<PathBuf>,
    /// A file holding an NKey seed (`SU…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<PathBuf>,
    /// A file holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The environment variable holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The environment variable holding `user`'s password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// CA certificates (PEM) to trust for the servers' certificates, instead of the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) and its key, for servers that verify clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// TLS before the server's INFO (servers with `handshake_first`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_first: bool,
}

impl NatsAuth {
    pub fn is_empty(&self) -> bool {
        self == &NatsAuth::default()
    }

    /// The credentials it names, by their flags (for messages).
    pub(super) fn credentials(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.creds.is_some() {
            v.push("--nats-creds");
        }
        if self.nkey.is_some() {
            v.push("--nats-nkey");
        }
        if self.token_file.is_some() {
            v.push("--nats-token-file");
        }
        if self.token_env.is_some() {
            v.push("token_env");
        }
        if self.user.is_some() {
            v.push("--nats-user");
        }
        v
    }

    /// Where the credentials come from, for the job's description: "context prod, token from
    /// $EVSCOPE_NATS_TOKEN, TLS CA /etc/ca.pem".
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        let p = |p: &PathBuf| p.display().to_string();
        if let Some(n) = &self.profile {
            v.push(format!("profile {n}"));
        }
        if let Some(n) = &self.context {
            v.push(format!("context {n}"));
        }
        if let Some(f) = &self.creds {
            v.push(format!("creds {}", p(f)));
        }
        if let Some(f) = &self.nkey {
            v.push(format!("nkey {}", p(f)));
        }
        if let Some(f) = &self.token_file {
            v.push(format!("token from {}", p(f)));
        }
        if let Some(e) = &self.token_env {
            v.push(format!("token from ${e}"));
        }
        if let Some(u) = &self.user {
            let env = self.password_env.as_deref().unwrap_or(PASSWORD_ENV);
            v.push(format!("user {u}, password from ${env}"));
        }
        if let Some(f) = &self.tls_ca {
            v.push(format!("TLS CA {}", p(f)));
        }
        if let Some(f) = &self.tls_cert {
            v.push(format!("client certificate {}", p(f)));
        }
        if self.tls_first {
            v.push("TLS first".into());
        }
        v.join(", ")
    }
}

/// What names a NATS sink: the flags (`--sink`, `--subject`, `--sink-context`, `--nats-*`),
/// a config profile (`[sinks.NAME]`), or both (the flags win, field by field; a credential
/// named by a flag replaces the profile's).
#[derive(Debug, Clone, Default)]
pub struct SinkChoice {
    pub sink: Option<String>,
    pub subject: Option<String>,
    pub profile: Option<(String, crate::config::SinkProfile)>,
    /// From the flags; `context` included.
    pub auth: NatsAuth,
}

impl SinkChoice {
    /// The sink these name. With no credential named anywhere (flags, profile, URL, context),
    /// a token in [`TOKEN_ENV`] is used.
    pub fn resolve(self) -> Result<SinkSpec, SinkConfigError> {
        self.resolve_text().map_err(SinkConfigError)
    }

    fn resolve_text(self) -> Result<SinkSpec, String> {
        let flags = self.auth;
        let flag_creds = flags.credentials();
        if flag_creds.len() > 1 {
            return Err(format!(
                "{}: choose one credential for the NATS sink",
                flag_creds.join(" and ")
            ));
        }
        let mut auth = flags.clone();
        let mut sink = self.sink;
        let mut subject = self.subject;
        if let Some((name, p)) = &self.profile {
            let profile_auth = NatsAuth {
                creds: p.creds.clone(),
                nkey: p.nkey.clone(),
                token_file: p.token_file.clone(),
                token_env: p.token_env.clone(),
                user: p.user.clone(),
                password_env: p.password_env.clone(),
                ..NatsAuth::default()
            };
            let theirs = profile_auth.credentials();
            if theirs.len() > 1 {
                return Err(format!(
                    "sink profile {name}: one credential at most (creds, nkey, token_file/token_env or user)"
                ));
            }
            if p.password_env.is_some() && p.user.is_none() {
                return Err(format!(
                    "sink profile {name}: password_env is the password of `user`, which is not set"
                ));
            }
            if flag_creds.is_empty() {
                auth.creds = profile_auth.creds;
                auth.nkey = profile_auth.nkey;
                auth.token_file = profile_auth.token_file;
                auth.token_env = profile_auth.token_env;
                auth.user = profile_auth.user;
                auth.password_env = profile_auth.password_env;
            }
            auth.profile = Some(name.clone());
            auth.context = auth.context.or(p.context.clone());
            auth.tls_ca = auth.tls_ca.or(p.tls_ca.clone());
            auth.tls_cert = auth.tls_cert.or(p.tls_cert.clone());
            auth.tls_key = auth.tls_key.or(p.tls_key.clone());
            auth.tls_first |= p.tls_first;
            sink = sink.or(p.url.clone());
            subject = subject.or(p.subject.clone());
        }
        if auth.user.is_some() && auth.password_env.is_none() {
            auth.password_env = Some(PASSWORD_ENV.into());
        }
        if sink.is_none() {
            if let Some(name) = &auth.context {
                sink = Some(NatsContext::load(name)?.url()?);
            }
        }
        let Some(sink) = sink else {
            return Err(
                "replay needs --sink nats://HOST:PORT, jsonl:PATH or jsonl:- (or --sink-profile NAME, --sink-context NAME; see evscope replay --help)"
                    .into(),
            );
        };
        let mut spec = SinkSpec::parse(&sink, subject.as_deref())?;
        match &mut spec {
            SinkSpec::Jsonl { .. } => {
                let named = NatsAuth {
                    profile: None,
                    ..auth.clone()
                };
                if !named.is_empty() {
                    return Err(format!(
                        "{}: NATS credentials, TLS files and contexts are for a nats:// sink",
                        redact_url(&sink)
                    ));
                }
            }
            SinkSpec::Nats { url, .. } => {
                let in_url = url_credential(&url.servers)?;
                if in_url.is_some() && !auth.credentials().is_empty() {
                    return Err(format!(
                        "the sink {} holds a credential and {} names another: choose one",
                        redact_url(&sink),
                        auth.credentials().join(", ")
                    ));
                }
                if in_url.is_none()
                    && auth.credentials().is_empty()
                    && auth.context.is_none()
                    && std::env::var(TOKEN_ENV).is_ok_and(|t| !t.is_empty())
                {
                    auth.token_env = Some(TOKEN_ENV.into());
                }
                if auth.tls_cert.is_some() != auth.tls_key.is_some() {
                    return Err(
                        "--nats-tls-cert and --nats-tls-key go together (a client certificate and its key)"
                            .into(),
                    );
                }
                url.auth = auth;
            }
        }
        Ok(spec)
    }
}

/// A credential written in a server URL.
#[derive(Clone, PartialEq)]
pub(super) enum UrlCredential {
    UserPassword(String, String),
    /// `nats://TOKEN@host`: a lone user name is a token.
    Token(String),
}

/// The credential the servers' URLs hold (the same in each one that has one).
pub(super) fn url_credential(servers: &str) -> Result<Option<UrlCredential>, String> {
    let mut found: Option<UrlCredential> = None;
    for s in servers.split(',') {
        let u = url::Url::parse(s).map_err(|e| format!("sink {}: {e}", redact_url(servers)))?;
        if u.username().is_empty() && u.password().is_none() {
            continue;
        }
        let user = percent_decode(u.username());
        let this = match u.password() {
            Some(p) => UrlCredential::UserPassword(user, percent_decode(p)),
            None => UrlCredential::Token(user),
        };
        match &found {
            Some(f) if f != &this => {
                return Err(format!(
                    "sink {}: its servers hold different credentials, but one connection uses one",
                    redact_url(servers)
                ));
            }
            _ => found = Some(this),
        }
    }
    Ok(found)
}

/// The servers without their credentials: what async-nats is given (it would not use them,
/// and it logs server addresses with their passwords at debug level).
pub(super) fn bare_servers(servers: &str) -> Result<Vec<String>, String> {
    servers
        .split(',')
        .map(|s| {
            let mut u =
                url::Url::parse(s).map_err(|e| format!("sink {}: {e}", redact_url(servers)))?;
            let _ = u.set_password(None);
            let _ = u.set_username("");
            Ok(u.to_string())
        })
        .collect()
}

impl NatsTarget {
    /// The servers, with their passwords hidden.
    pub fn shown(&self) -> String {
        redact_url(&self.servers)
    }

    /// What of the URL's credential a job file does not keep: "password" or "token".
    pub fn missing(&self) -> Option<&'static str> {
        self.servers.split(',').find_map(|s| {
            let u = url::Url::parse(s).ok()?;
            match u.password() {
                Some("***") => Some("password"),
                None if u.username() == "***" => Some("token"),
                _ => None,
            }
        })
    }

    /// Give a resumed job's URL its password (or token) again, which the job file does not
    /// keep: from `given` (the URL with it, which must be the job's once redacted), else the
    /// sink profile's URL (`profile_url`) or the context's, when it is the job's, else
    /// [`PASSWORD_ENV`] ([`TOKEN_ENV`] for a token). Err names what is missing and where to
    /// give it.
    pub fn recover(
        &mut self,
        given: Option<&str>,
        profile_url: Option<&str>,
    ) -> Result<(), SinkConfigError> {
        self.recover_text(given, profile_url)
            .map_err(SinkConfigError)
    }

    fn recover_text(
        &mut self,
        given: Option<&str>,
        profile_url: Option<&str>,
    ) -> Result<(), String> {
        let shown = self.shown();
        if let Some(g) = given {
            let full = nats_servers(g)?.join(",");
            if redact_url(&full) != shown {
                return Err(format!(
                    "--sink {} is not the job's sink, {shown}",
                    redact_url(g)
                ));
            }
            self.servers = full;
        }
        let Some(what) = self.missing() else {
            return Ok(());
        };
        let context_url = self
            .auth
            .context
            .as_deref()
            .and_then(|n| NatsContext::load(n).ok())
            .and_then(|c| c.url().ok());
        for candidate in [profile_url.map(str::to_string), context_url]
            .into_iter()
            .flatten()
        {
            if let Ok(list) = nats_servers(&candidate) {
                let full = list.join(",");
                if redact_url(&full) == shown && url_credential(&full).is_ok() {
                    self.servers = full;
                    if self.missing().is_none() {
                        return Ok(());
                    }
                }
            }
        }
        let env = if what == "password" {
            PASSWORD_ENV
        } else {
            TOKEN_ENV
        };
        if let Some(secret) = std::env::var(env).ok().filter(|v| !v.is_empty()) {
            let mut out = Vec::new();
            for s in self.servers.split(',') {
                let mut u = url::Url::parse(s).map_err(|e| e.to_string())?;
                if u.password() == Some("***") {
                    let _ = u.set_password(Some(&secret));
                } else if u.password().is_none() && u.username() == "***" {
                    let _ = u.set_username(&secret);
                }
                out.push(u.to_string());
            }
            self.servers = out.join(",");
            return Ok(());
        }
        let with = shown.replacen(
            "***",
            if what == "password" {
                "PASSWORD"
            } else {
                "TOKEN"
            },
            1,
        );
        Err(format!(
            "its sink is {shown}, whose {what} is not kept in the job file: give it again with --sink '{with}' or in ${env}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_sinks_take_a_server_list() {
        let nats = |s: &str| match SinkSpec::parse(s, None) {
            Ok(SinkSpec::Nats { url, .. }) => Ok(url.servers),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(
            nats("nats://a:4222,nats://b:4222,nats://c:4222").unwrap(),
            "nats://a:4222,nats://b:4222,nats://c:4222"
        );
        // A server without a scheme takes the first one's; spaces around commas are dropped.
        assert_eq!(
            nats("nats://a:4222, b:4222,c").unwrap(),
            "nats://a:4222,nats://b:4222,nats://c"
        );
        assert_eq!(
            nats_servers("tls://a:4222,b:4223").unwrap(),
            ["tls://a:4222", "tls://b:4223"]
        );
        for bad in [
            "nats://a:4222,",
            "nats://a:4222,,b:4222",
            "nats://a:4222,b:99999",
            "nats://a:4222,http://b:80",
            "nats://",
        ] {
            assert!(SinkSpec::parse(bad, None).is_err(), "{bad:?} accepted");
        }
        // Every server of the list becomes an address async-nats connects to.
        for s in nats_servers("nats://a:4222,b:4222").unwrap() {
            s.parse::<async_nats::ServerAddr>().unwrap();
        }
    }

    #[test]
    fn passwords_in_a_server_list_are_hidden() {
        let spec = SinkSpec::parse("nats://u:s3cret@a:4222,v:hunter2@b:4222,c:4222", None).unwrap();
        let shown = spec.describe();
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(
            shown.contains("nats://u:***@a:4222") && shown.contains("v:***@b:4222"),
            "{shown}"
        );
        let err = SinkSpec::parse("nats://u:s3cret@a:4222,v:hunter2@b:x", None)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret") && !err.contains("hunter2"), "{err}");
        assert!(err.contains("b:x") || err.contains("port"), "{err}");
    }

    fn nats(url: &str) -> NatsTarget {
        match SinkSpec::parse(url, None).unwrap() {
            SinkSpec::Nats { url, .. } => url,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_job_file_keeps_the_url_redacted_and_credentials_as_references() {
        let mut spec = SinkSpec::parse("nats://alice:s3cr%40t@a:4222,b:4222", None).unwrap();
        if let SinkSpec::Nats { url, .. } = &mut spec {
            url.auth.tls_ca = Some("/etc/ca.pem".into());
            url.auth.context = Some("prod".into());
        }
        let text = serde_json::to_string(&spec).unwrap();
        assert!(!text.contains("s3cr"), "{text}");
        assert!(text.contains("nats://alice:***@a:4222"), "{text}");
        assert!(
            text.contains(r#""tls_ca":"/etc/ca.pem""#) && text.contains(r#""context":"prod""#),
            "{text}"
        );
        let debug = format!("{spec:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        let back: SinkSpec = serde_json::from_str(&text).unwrap();
        let SinkSpec::Nats { url, .. } = &back else {
            panic!("{back:?}")
        };
        assert_eq!(url.missing(), Some("password"));
        assert_eq!(url.auth.context.as_deref(), Some("prod"));
        // A job file of an earlier version: no auth, the URL as it was given.
        let old: SinkSpec = serde_json::from_str(
            r#"{"kind":"nats","url":"nats://alice:s3cret@a:4222","subject":"replay.{type}"}"#,
        )
        .unwrap();
        let SinkSpec::Nats { url, .. } = &old else {
            panic!("{old:?}")
        };
        assert_eq!(url.missing(), None);
        assert!(url.auth.is_empty());
        // Without credentials, nothing more than before is written.
        let plain =
            serde_json::to_string(&SinkSpec::parse("nats://a:4222", None).unwrap()).unwrap();
        assert!(!plain.contains("auth"), "{plain}");
    }

    #[test]
    fn credentials_in_a_url_are_used_decoded_and_never_given_to_async_nats() {
        let c = url_credential("nats://alice:p%40ss%3Aw@a:4222,nats://b:4222").unwrap();
        assert!(c == Some(UrlCredential::UserPassword("alice".into(), "p@ss:w".into())));
        let c = url_credential("nats://t0k3n@a:4222").unwrap();
        assert!(c == Some(UrlCredential::Token("t0k3n".into())));
        assert!(url_credential("nats://a:4222").unwrap().is_none());
        let e = url_credential("nats://u:one@a:4222,nats://u:two@b:4222")
            .err()
            .unwrap();
        assert!(
            e.contains("different credentials") && !e.contains("one@"),
            "{e}"
        );
        assert_eq!(
            bare_servers("nats://alice:pw@a:4222,nats://tok@b:4222").unwrap(),
            ["nats://a:4222", "nats://b:4222"]
        );
        let r = Resolved::new(&nats("nats://alice:p%40ss%3Aw@127.0.0.1:4222")).unwrap();
        assert!(
            matches!(&r.secret, Some(Secret::UserPassword(u, p)) if u == "alice" && p == "p@ss:w")
        );
        assert!(!format!("{:?}", r.addrs).contains("p%40ss"));
        let cut = r.scrub("refused p@ss:w (p%40ss%3Aw)");
        assert!(!cut.contains("p@ss") && !cut.contains("p%40ss"), "{cut}");
    }

    #[test]
    fn a_resumed_job_is_given_its_password_again() {
        let mut t = nats("nats://alice:***@127.0.0.1:4222");
        assert_eq!(t.missing(), Some("password"));
        assert_eq!(nats("nats://***@127.0.0.1:4222").missing(), Some("token"));
        if std::env::var_os(PASSWORD_ENV).is_none() {
            let e = t.recover(None, None).unwrap_err().to_string();
            assert!(
                e.contains("--sink 'nats://alice:PASSWORD@127.0.0.1:4222'")
                    && e.contains(PASSWORD_ENV),
                "{e}"
            );
            assert!(Resolved::new(&t).is_err());
        }
        let e = t
            .recover(Some("nats://bob:pw@127.0.0.1:4222"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not the job's sink") && !e.contains("pw@"),
            "{e}"
        );
        let mut given = t.clone();
        given
            .recover(Some("nats://alice:pw@127.0.0.1:4222"), None)
            .unwrap();
        assert_eq!(given.missing(), None);
        // The sink profile's URL, when it is the job's.
        let mut from_profile = t.clone();
        from_profile
            .recover(None, Some("nats://alice:pw@127.0.0.1:4222"))
            .unwrap();
        assert!(matches!(
            Resolved::new(&from_profile).unwrap().secret,
            Some(Secret::UserPassword(_, p)) if p == "pw"
        ));
        // Nothing to give: nothing asked.
        nats("nats://127.0.0.1:4222").recover(None, None).unwrap();
    }

    #[test]
    fn a_sink_is_named_by_flags_a_profile_or_both() {
        let choice = |sink: &str, auth: NatsAuth| SinkChoice {
            sink: Some(sink.into()),
            auth,
            ..Default::default()
        };
        let two = NatsAuth {
            creds: Some("/a.creds".into()),
            user: Some("alice".into()),
            ..Default::default()
        };
        assert!(
            choice("nats://h:1", two)
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("choose one")
        );
        let token = NatsAuth {
            token_file: Some("/t".into()),
            ..Default::default()
        };
        let e = choice("nats://u:pw@h:1", token.clone())
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("choose one") && !e.contains("pw@"), "{e}");
        let e = choice("jsonl:/tmp/x", token.clone())
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("for a nats:// sink"), "{e}");
        let half = NatsAuth {
            tls_cert: Some("/c.pem".into()),
            ..Default::default()
        };
        assert!(
            choice("tls://h:1", half)
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("--nats-tls-key")
        );
        let user = NatsAuth {
            user: Some("alice".into()),
            ..Default::default()
        };
        let SinkSpec::Nats { url, .. } = choice("nats://h:1", user).resolve().unwrap() else {
            panic!()
        };
        assert_eq!(url.auth.password_env.as_deref(), Some(PASSWORD_ENV));
        assert!(
            url.auth
                .describe()
                .contains("user alice, password from $EVSCOPE_NATS_PASSWORD")
        );
        // A profile: its settings, unless a flag says otherwise (a flag's credential replaces
        // the profile's whole).
        let profile = crate::config::SinkProfile {
            url: Some("tls://bus:4222".into()),
            subject: Some("x.{type}".into()),
            creds: Some("/p.creds".into()),
            tls_ca: Some("/p-ca.pem".into()),
            ..Default::default()
        };
        let with = |auth: NatsAuth, sink: Option<&str>| SinkChoice {
            sink: sink.map(str::to_string),
            subject: None,
            profile: Some(("bus".into(), profile.clone())),
            auth,
        };
        let SinkSpec::Nats { url, subject } = with(NatsAuth::default(), None).resolve().unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (url.shown().as_str(), subject.as_str()),
            ("tls://bus:4222", "x.{type}")
        );
        assert_eq!(url.auth.creds.as_deref(), Some(Path::new("/p.creds")));
        assert_eq!(url.auth.profile.as_deref(), Some("bus"));
        let SinkSpec::Nats { url, .. } = with(token, Some("nats://other:4222")).resolve().unwrap()
        else {
            panic!()
        };
        assert_eq!(url.shown(), "nats://other:4222");
        assert_eq!(
            (url.auth.creds, url.auth.token_file.as_deref()),
            (None, Some(Path::new("/t")))
        );
        assert_eq!(url.auth.tls_ca.as_deref(), Some(Path::new("/p-ca.pem")));
        let greedy = crate::config::SinkProfile {
            nkey: Some("/n".into()),
            token_env: Some("T".into()),
            ..profile.clone()
        };
        let e = SinkChoice {
            profile: Some(("bus".into(), greedy)),
            ..Default::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(e.contains("one credential at most"), "{e}");
        assert!(
            SinkChoice::default()
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("--sink-context")
        );
    }
}
