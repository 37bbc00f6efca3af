//! The credentials and TLS files of one NATS connection, read from where they are kept (flags,
//! a config profile, the `nats` CLI's contexts).

use super::*;

/// Where the `nats` CLI keeps context NAME: `$XDG_CONFIG_HOME/nats/context/NAME.json`, else
/// `~/.config/nats/context/NAME.json`.
pub fn context_path(name: &str) -> Result<PathBuf, SinkConfigError> {
    context_path_text(name).map_err(SinkConfigError)
}

fn context_path_text(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() || name.contains("..") || name.contains('/') || name.contains('\\') {
        return Err(format!("{name:?} is not a nats context name"));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".config"))
            .ok_or("no $HOME to find nats contexts in")?,
    };
    Ok(base
        .join("nats")
        .join("context")
        .join(format!("{name}.json")))
}

/// A context as the `nats` CLI writes it (`nats context save`): the fields evscope uses;
/// others (description, color_scheme, …) are ignored. Values are never Debug-printed.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct NatsContext {
    #[serde(skip)]
    pub(super) name: String,
    pub(super) url: String,
    pub(super) token: String,
    pub(super) user: String,
    pub(super) password: String,
    pub(super) creds: String,
    pub(super) nkey: String,
    pub(super) user_jwt: String,
    pub(super) cert: String,
    pub(super) key: String,
    pub(super) ca: String,
    pub(super) nsc: String,
    pub(super) socks_proxy: String,
    pub(super) inbox_prefix: String,
    pub(super) jetstream_domain: String,
    pub(super) jetstream_api_prefix: String,
    pub(super) tls_first: bool,
}

impl std::fmt::Debug for NatsContext {
    /// Its name only: its fields may hold a password or a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsContext({})", self.name)
    }
}

impl NatsContext {
    pub(super) fn load(name: &str) -> Result<NatsContext, String> {
        let path = context_path(name)?;
        let text = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no nats context {name} ({} does not exist; `nats context ls` lists them)",
                path.display()
            ),
            _ => format!("nats context {name}: {}: {e}", path.display()),
        })?;
        NatsContext::parse(name, &path, &text)
    }

    /// A context file's text. The nsc lookup and SOCKS proxies are refused (evscope does
    /// neither).
    pub(super) fn parse(name: &str, path: &Path, text: &[u8]) -> Result<NatsContext, String> {
        // The parser's message could quote a value: only where it failed is told.
        let mut c: NatsContext = serde_json::from_slice(text).map_err(|e| {
            format!(
                "nats context {name}: {} is not a context file (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        c.name = name.to_string();
        if !c.nsc.is_empty() {
            return Err(format!(
                "nats context {name} takes its credentials from nsc, which evscope does not run: give the user's creds file with --nats-creds (nsc generate creds)"
            ));
        }
        if !c.socks_proxy.is_empty() {
            return Err(format!(
                "nats context {name} connects through a SOCKS proxy, which evscope does not support"
            ));
        }
        Ok(c)
    }

    /// Its servers (the nats CLI's default when it names none), each with a scheme.
    pub(super) fn url(&self) -> Result<String, String> {
        let u = self.url.trim();
        if u.is_empty() {
            return Ok("nats://127.0.0.1:4222".into());
        }
        let full = if u.contains("://") {
            u.to_string()
        } else {
            format!("nats://{u}")
        };
        nats_servers(&full)
            .map(|s| s.join(","))
            .map_err(|e| format!("nats context {}: {e}", self.name))
    }

    /// A file named by the context: `file://` and `~/` as the nats CLI takes them.
    pub(super) fn path(&self, v: &str) -> Option<PathBuf> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        let v = v.strip_prefix("file://").unwrap_or(v);
        Some(match v.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(rest))
                .unwrap_or_else(|| PathBuf::from(v)),
            None => PathBuf::from(v),
        })
    }

    /// A secret field: the value itself, `env://VAR` or `file://PATH`.
    pub(super) fn secret(&self, field: &str, v: &str) -> Result<Option<(String, String)>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        let name = &self.name;
        if let Some(var) = v.strip_prefix("env://") {
            return match std::env::var(var) {
                Ok(s) if !s.is_empty() => {
                    Ok(Some((s, format!("context {name}'s {field} (${var})"))))
                }
                _ => Err(format!(
                    "nats context {name}: its {field} is read from ${var}, which is not set"
                )),
            };
        }
        if let Some(p) = v.strip_prefix("file://") {
            let p = self.path(p).unwrap_or_default();
            let s = std::fs::read_to_string(&p).map_err(|e| {
                format!("nats context {name}: its {field} file {}: {e}", p.display())
            })?;
            return Ok(Some((
                s.trim().to_string(),
                format!("context {name}'s {field} ({})", p.display()),
            )));
        }
        if let Some((scheme, _)) = v.split_once("://") {
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "nats context {name}: its {field} is a {scheme}:// reference, which evscope cannot look up (env:// and file:// it can)"
                ));
            }
        }
        Ok(Some((v.to_string(), format!("context {name}'s {field}"))))
    }
}

/// A credential read from where it is kept, for one connection. Never Debug-printed.
pub(super) enum Secret {
    UserPassword(String, String),
    Token(String),
    NKey(String),
    /// A `.creds` file's text (the user JWT and its seed).
    Creds(String),
}

/// Everything one connection needs, read afresh each time (a rotated token or creds file is
/// picked up at the next connection).
pub(super) struct Resolved {
    pub(super) addrs: Vec<async_nats::ServerAddr>,
    /// The servers with their passwords hidden.
    pub(super) shown: String,
    pub(super) secret: Option<Secret>,
    /// Where the credential came from, for messages: "the token in $EVSCOPE_NATS_TOKEN".
    pub(super) from: Option<String>,
    pub(super) ca: Option<PathBuf>,
    pub(super) client_cert: Option<(PathBuf, PathBuf)>,
    pub(super) tls: bool,
    pub(super) tls_first: bool,
    pub(super) inbox_prefix: Option<String>,
    pub(super) js_prefix: Option<String>,
    /// Every secret value, to cut from any message.
    pub(super) secrets: Vec<String>,
}

/// The NKey seed in a seed file (`nk -gen user`, or a decorated one): its first word that
/// looks like one (`S` then base32).
pub(super) fn seed_in(text: &str) -> Option<&str> {
    text.split_whitespace().find(|w| {
        w.len() >= 50
            && w.starts_with('S')
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    })
}

impl Resolved {
    pub(super) fn new(t: &NatsTarget) -> Result<Resolved, SinkError> {
        let fatal = |m: String| SinkError::new(SinkErrorKind::Fatal, m);
        let shown = t.shown();
        if let Some(what) = t.missing() {
            let env = if what == "password" {
                PASSWORD_ENV
            } else {
                TOKEN_ENV
            };
            return Err(fatal(format!(
                "NATS {shown}: the {what} of the URL is not known (a job file does not keep it): give the URL with it (--sink) or put it in ${env}"
            )));
        }
        let in_url = url_credential(&t.servers).map_err(fatal)?;
        let addrs = bare_servers(&t.servers)
            .map_err(fatal)?
            .iter()
            .map(|s| s.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fatal(format!("NATS {shown}: {e}")))?;
        let a = &t.auth;
        let ctx = match &a.context {
            Some(n) => Some(NatsContext::load(n).map_err(fatal)?),
            None => None,
        };
        let read = |what: &str, p: &Path| {
            std::fs::read_to_string(p).map_err(|e| {
                fatal(format!(
                    "NATS {shown}: cannot read {what} {}: {e}",
                    p.display()
                ))
            })
        };
        let env = |var: &str, what: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    fatal(format!(
                        "NATS {shown}: {what} is read from ${var}, which is not set"
                    ))
                })
        };
        let seed = |text: &str, p: &Path| {
            seed_in(text).map(str::to_string).ok_or_else(|| {
                fatal(format!(
                    "NATS {shown}: {} holds no NKey seed (a line SU…, as `nk -gen user` writes it)",
                    p.display()
                ))
            })
        };
        let (secret, from) = if let Some(p) = &a.creds {
            (
                Some(Secret::Creds(read("the creds file", p)?)),
                Some(format!("the creds file {}", p.display())),
            )
        } else if let Some(p) = &a.nkey {
            let text = read("the NKey seed file", p)?;
            (
                Some(Secret::NKey(seed(&text, p)?)),
                Some(format!("the NKey seed in {}", p.display())),
            )
        } else if let Some(p) = &a.token_file {
            let token = read("the token file", p)?.trim().to_string();
            if token.is_empty() {
                return Err(fatal(format!(
                    "NATS {shown}: the token file {} is empty",
                    p.display()
                )));
            }
            (
                Some(Secret::Token(token)),
                Some(format!("the token in {}", p.display())),
            )
        } else if let Some(var) = &a.token_env {
            (
                Some(Secret::Token(env(var, "the token")?)),
                Some(format!("the token in ${var}")),
            )
        } else if let Some(user) = &a.user {
            let var = a.password_env.as_deref().unwrap_or(PASSWORD_ENV);
            let pass = env(var, &format!("the password of user {user}"))?;
            (
                Some(Secret::UserPassword(user.clone(), pass)),
                Some(format!("user {user} (password in ${var})")),
            )
        } else if let Some(c) = in_url {
            match c {
                UrlCredential::UserPassword(u, p) => (
                    Some(Secret::UserPassword(u.clone(), p)),
                    Some(format!("user {u} of the URL")),
                ),
                UrlCredential::Token(t) => (Some(Secret::Token(t)), Some("the URL's token".into())),
            }
        } else if let Some(c) = &ctx {
            // As the nats CLI takes them: a user, else a creds file, else an NKey; else a token.
            let n = &c.name;
            if !c.user.is_empty() {
                let pass = c.secret("password", &c.password).map_err(fatal)?;
                (
                    Some(Secret::UserPassword(
                        c.user.clone(),
                        pass.map(|p| p.0).unwrap_or_default(),
                    )),
                    Some(format!("context {n}'s user {}", c.user)),
                )
            } else if let Some(p) = c.path(&c.creds) {
                (
                    Some(Secret::Creds(read(
                        &format!("context {n}'s creds file"),
                        &p,
                    )?)),
                    Some(format!("context {n}'s creds file {}", p.display())),
                )
            } else if let Some(p) = c.path(&c.nkey) {
                let text = read(&format!("context {n}'s NKey seed file"), &p)?;
                let s = seed(&text, &p)?;
                if c.user_jwt.trim().is_empty() {
                    (
                        Some(Secret::NKey(s)),
                        Some(format!("context {n}'s NKey seed in {}", p.display())),
                    )
                } else {
                    // A user JWT signed with that seed: the same as a creds file.
                    let creds = format!(
                        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{s}\n------END USER NKEY SEED------\n",
                        c.user_jwt.trim()
                    );
                    (
                        Some(Secret::Creds(creds)),
                        Some(format!("context {n}'s user JWT and seed {}", p.display())),
                    )
                }
            } else if let Some((tok, from)) = c.secret("token", &c.token).map_err(fatal)? {
                (
                    Some(Secret::Token(tok)),
                    Some(format!("the token of {from}")),
                )
            } else {
                (None, None)
            }
        } else {
            (None, None)
        };
        let mut secrets = Vec::new();
        match &secret {
            Some(Secret::UserPassword(_, p)) => secrets.push(p.clone()),
            Some(Secret::Token(t)) => secrets.push(t.clone()),
            Some(Secret::NKey(s)) => secrets.push(s.clone()),
            Some(Secret::Creds(text)) => {
                // Checked now, so that a file that is not one fails before anything starts.
                if let Err(e) = async_nats::ConnectOptions::new().credentials(text) {
                    return Err(fatal(format!(
                        "NATS {shown}: {} does not hold a user JWT and its NKey seed (as `nsc generate creds` writes them): {e}",
                        from.as_deref().unwrap_or("the creds file")
                    )));
                }
                secrets.extend(
                    text.split_whitespace()
                        .filter(|w| w.len() >= 20)
                        .map(str::to_string),
                );
            }
            None => {}
        }
        if let Some(c) = &ctx {
            secrets.extend(
                [c.password.clone(), c.token.clone()]
                    .into_iter()
                    .filter(|s| !s.is_empty()),
            );
        }
        // Any password in the URLs too (raw and percent-encoded).
        for s in t.servers.split(',') {
            if let Ok(u) = url::Url::parse(s) {
                if let Some(p) = u.password() {
                    secrets.push(p.to_string());
                    secrets.push(percent_decode(p));
                } else if !u.username().is_empty() {
                    secrets.push(u.username().to_string());
                    secrets.push(percent_decode(u.username()));
                }
            }
        }
        secrets.retain(|s| s.len() >= 3 && s != "***");
        let file = |flag: &str, p: Option<PathBuf>| -> Result<Option<PathBuf>, SinkError> {
            match p {
                Some(p) => match std::fs::File::open(&p) {
                    Ok(_) => Ok(Some(p)),
                    Err(e) => Err(fatal(format!(
                        "NATS {shown}: cannot read {flag} {}: {e}",
                        p.display()
                    ))),
                },
                None => Ok(None),
            }
        };
        let from_ctx = |f: fn(&NatsContext) -> &String| ctx.as_ref().and_then(|c| c.path(f(c)));
        let ca = file(
            "the TLS CA",
            a.tls_ca.clone().or_else(|| from_ctx(|c| &c.ca)),
        )?;
        let cert = file(
            "the client certificate",
            a.tls_cert.clone().or_else(|| from_ctx(|c| &c.cert)),
        )?;
        let key = file(
            "the client key",
            a.tls_key.clone().or_else(|| from_ctx(|c| &c.key)),
        )?;
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(fatal(format!(
                    "NATS {shown}: a client certificate goes with its key (--nats-tls-cert and --nats-tls-key)"
                )));
            }
        };
        let tls_first = a.tls_first || ctx.as_ref().is_some_and(|c| c.tls_first);
        let nonempty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let (inbox_prefix, js_prefix) = match &ctx {
            Some(c) => (
                nonempty(&c.inbox_prefix),
                nonempty(&c.jetstream_api_prefix)
                    .or_else(|| nonempty(&c.jetstream_domain).map(|d| format!("$JS.{d}.API"))),
            ),
            None => (None, None),
        };
        Ok(Resolved {
            tls: ca.is_some() || client_cert.is_some() || tls_first,
            addrs,
            shown,
            secret,
            from,
            ca,
            client_cert,
            tls_first,
            inbox_prefix,
            js_prefix,
            secrets,
        })
    }

    /// A message with every secret of this connection cut out.
    pub(super) fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        let mut secrets = self.secrets.clone();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in &secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    pub(super) fn options(&self) -> async_nats::ConnectOptions {
        let mut o = async_nats::ConnectOptions::new();
        match &self.secret {
            Some(Secret::UserPassword(u, p)) => o = o.user_and_password(u.clone(), p.clone()),
            Some(Secret::Token(t)) => o = o.token(t.clone()),
            Some(Secret::NKey(s)) => o = o.nkey(s.clone()),
            // Checked in Resolved::new.
            Some(Secret::Creds(text)) => {
                if let Ok(with) = o.clone().credentials(text) {
                    o = with;
                }
            }
            None => {}
        }
        if let Some(ca) = &self.ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls {
            o = o.require_tls(true);
        }
        if self.tls_first {
            o = o.tls_first();
        }
        if let Some(p) = &self.inbox_prefix {
            o = o.custom_inbox_prefix(p);
        }
        o
    }

    /// What a failed connection means: a refused credential or a TLS problem is fatal
    /// (retrying does not help), anything else (refused, timed out) unavailable.
    pub(super) fn connect_error(&self, e: async_nats::ConnectError) -> SinkError {
        use async_nats::ConnectErrorKind as K;
        let shown = &self.shown;
        let fatal = |m: String| SinkError::new(SinkErrorKind::Fatal, m);
        let text = self.scrub(&e.to_string());
        match e.kind() {
            K::AuthorizationViolation => fatal(match &self.from {
                Some(f) => {
                    format!("NATS {shown}: the server refused {f} (authorization violation)")
                }
                None => format!(
                    "NATS {shown}: the server wants credentials (authorization violation): give them in the URL, with --nats-creds, --nats-nkey, --nats-token-file (or ${TOKEN_ENV}), --nats-user (password in ${PASSWORD_ENV}), --sink-profile or --sink-context"
                ),
            }),
            K::Authentication => fatal(format!(
                "NATS {shown}: could not sign the server's challenge with {}: is it a valid NKey seed? ({text})",
                self.from.as_deref().unwrap_or("the credential")
            )),
            K::Tls => fatal(format!("NATS {shown}: TLS: {text}")),
            _ => match tls_problem(&e) {
                Some(hint) => fatal(format!("NATS {shown}: TLS: {text}{hint}")),
                None => SinkError::new(SinkErrorKind::Unavailable, format!("NATS {shown}: {text}")),
            },
        }
    }
}

/// A TLS failure in an error's sources (a handshake's error comes as an I/O error), with a
/// hint at what to give.
pub(super) fn tls_problem(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use async_nats::rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let mut at = Some(e);
    while let Some(e) = at {
        let tls = e.downcast_ref::<R>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<R>())
        });
        if let Some(t) = tls {
            return Some(match t {
                R::InvalidCertificate(C::UnknownIssuer) => {
                    ": the server's certificate is not signed by a CA evscope trusts (give its CA with --nats-tls-ca FILE)"
                }
                R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                    ": the server's certificate is not for the host name (or IP address) of the URL"
                }
                R::AlertReceived(
                    A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::HandshakeFailure,
                ) => {
                    ": the server wants a client certificate it trusts (--nats-tls-cert FILE --nats-tls-key FILE)"
                }
                R::InvalidMessage(_) => ": does the server speak TLS there?",
                _ => "",
            });
        }
        at = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_read_as_the_nats_cli_writes_them() {
        let parse =
            |json: &str| NatsContext::parse("prod", Path::new("/c/prod.json"), json.as_bytes());
        let c = parse(
            r#"{"description":"","url":"demo.nats.io","socks_proxy":"","token":"","user":"u",
               "password":"env://EVSCOPE_TEST_SURELY_UNSET_4711","creds":"","nkey":"",
               "cert":"","key":"","ca":"file:///etc/ca.pem","nsc":"","jetstream_domain":"hub",
               "jetstream_api_prefix":"","jetstream_event_prefix":"","inbox_prefix":"",
               "user_jwt":"","color_scheme":"","tls_first":false,"windows_cert_store":""}"#,
        )
        .unwrap();
        assert_eq!(c.url().unwrap(), "nats://demo.nats.io");
        assert_eq!(c.path(&c.ca), Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(c.path(""), None);
        let e = c.secret("password", &c.password).unwrap_err().to_string();
        assert!(
            e.contains("$EVSCOPE_TEST_SURELY_UNSET_4711") && e.contains("not set"),
            "{e}"
        );
        assert!(
            c.secret("token", "op://vault/nats/token")
                .unwrap_err()
                .to_string()
                .contains("op://")
        );
        let (v, from) = c.secret("token", "plain-t0k3n").unwrap().unwrap();
        assert_eq!(v, "plain-t0k3n");
        assert!(!from.contains("plain-t0k3n"), "{from}");
        assert_eq!(
            parse(r#"{"url":"a:4222,b:4223"}"#).unwrap().url().unwrap(),
            "nats://a:4222,nats://b:4223"
        );
        assert_eq!(parse("{}").unwrap().url().unwrap(), "nats://127.0.0.1:4222");
        assert!(
            parse(r#"{"nsc":"nsc://op/acc/user"}"#)
                .unwrap_err()
                .to_string()
                .contains("--nats-creds")
        );
        let e = parse(r#"{"password": 12345678}"#).unwrap_err().to_string();
        assert!(e.contains("line 1") && !e.contains("12345678"), "{e}");
        assert!(context_path("../etc").is_err() && context_path("a/b").is_err());
    }

    #[test]
    fn seeds_are_found_in_seed_files() {
        let seed = "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM";
        assert_eq!(seed_in(&format!("{seed}\n")), Some(seed));
        let decorated =
            format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n");
        assert_eq!(seed_in(&decorated), Some(seed));
        assert_eq!(
            seed_in("UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"),
            None
        );
        assert_eq!(seed_in("not a seed"), None);
    }
}
