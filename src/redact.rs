//! Passwords never leave evscope: every URL shown or logged goes through [`redact_url`], and
//! every error message through [`redact_secrets`].

/// The URL with its password (and any `password=` query parameter) replaced by `***`. A NATS
/// server list (`nats://a:4222,nats://u:p@b:4222,c:4222`) is redacted server by server.
pub fn redact_url(url: &str) -> String {
    if let Some(servers) = server_list(url) {
        return redact_list(url, &servers);
    }
    redact_one(url)
}

/// The schemes whose URLs may be comma-separated server lists (NATS clients take them so).
const LIST_SCHEMES: [&str; 4] = ["nats://", "tls://", "ws://", "wss://"];

/// The servers of a NATS server list, each a full URL (a bare `host:port` after the first
/// takes the first one's scheme); None when `url` is not a list.
fn server_list(url: &str) -> Option<Vec<String>> {
    let scheme = LIST_SCHEMES.iter().find(|s| url.starts_with(*s))?;
    if !url.contains(',') {
        return None;
    }
    Some(
        url.split(',')
            .map(|p| {
                let p = p.trim();
                if p.contains("://") {
                    p.to_string()
                } else {
                    format!("{scheme}{p}")
                }
            })
            .collect(),
    )
}

/// Redact a server list: server by server when every one of them is a URL with a host (the
/// password of each hidden); otherwise (a raw ',' inside a password, say) everything between
/// a "://" and the last '@' that follows it is hidden.
fn redact_list(url: &str, servers: &[String]) -> String {
    let clean = servers
        .iter()
        .all(|s| url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty())));
    if clean {
        return url
            .split(',')
            .zip(servers)
            .map(|(raw, full)| {
                let raw = raw.trim();
                let shown = redact_one(full);
                if raw.contains("://") {
                    shown
                } else {
                    // Shown as written: without the scheme it was given.
                    shown
                        .split_once("://")
                        .map_or(shown.clone(), |(_, rest)| rest.to_string())
                }
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(a), Some(b)) if b > a => format!("{}***{}", &url[..a + 3], &url[b..]),
        _ => url.to_string(),
    }
}

fn redact_one(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            } else if !u.username().is_empty() && LIST_SCHEMES.iter().any(|s| url.starts_with(*s)) {
                // nats://TOKEN@host: a NATS URL's lone user name is a token.
                let _ = u.set_username("***");
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret =
                        matches!(k.to_ascii_lowercase().as_str(), "password" | "pass" | "pwd");
                    (
                        k.into_owned(),
                        if secret {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        // Not parseable as a URL: hide everything between "://" and the last '@'.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(a), Some(b)) if b > a => format!("{}***{}", &url[..a + 3], &url[b..]),
            _ => url.to_string(),
        },
    }
}

/// Remove the password of `url` (raw and percent-decoded) from a message.
pub fn redact_secrets(message: &str, url: &str) -> String {
    let mut out = message.replace(url, &redact_url(url));
    let urls = server_list(url).unwrap_or_else(|| vec![url.to_string()]);
    for u in &urls {
        if u != url {
            out = out.replace(u.as_str(), &redact_one(u));
        }
    }
    let mut secrets: Vec<String> = Vec::new();
    for u in urls.iter().filter_map(|u| url::Url::parse(u).ok()) {
        let token = LIST_SCHEMES
            .iter()
            .any(|s| s.strip_suffix("://") == Some(u.scheme()))
            && !u.username().is_empty();
        if let Some(p) = u.password().or(token.then(|| u.username())) {
            secrets.push(p.to_string());
            secrets.push(percent_decode(p));
            if let Ok(d) = urlencoding_decode(p) {
                secrets.push(d);
            }
        }
        for (k, v) in u.query_pairs() {
            if matches!(k.to_ascii_lowercase().as_str(), "password" | "pass" | "pwd") {
                secrets.push(v.into_owned());
            }
        }
    }
    for s in secrets.into_iter().filter(|s| s.len() >= 2) {
        out = out.replace(&s, "***");
    }
    out
}

/// `%XX` escapes decoded (as a URL's user name and password are written); a malformed escape
/// is kept as it is, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn urlencoding_decode(s: &str) -> Result<String, std::str::Utf8Error> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    std::str::from_utf8(&bytes).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db.example:5432/app"),
            "postgres://alice:***@db.example:5432/app"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("sqlite:///tmp/x.db?mode=ro"),
            "sqlite:///tmp/x.db?mode=ro"
        );
        let r = redact_url("postgres://h/db?user=a&password=hunter2");
        assert!(!r.contains("hunter2") && r.contains("password=***"), "{r}");
        let odd = redact_url("postgres://a:b:c@@host/db");
        assert!(!odd.contains("b:c"), "{odd}");
    }

    #[test]
    fn server_lists_are_redacted_server_by_server() {
        assert_eq!(
            redact_url("nats://a:4222,nats://b:4222"),
            "nats://a:4222,nats://b:4222"
        );
        assert_eq!(
            redact_url("nats://u:s3cret@a:4222,nats://v:hunter2@b:4222,c:4222"),
            "nats://u:***@a:4222,nats://v:***@b:4222,c:4222"
        );
        assert_eq!(
            redact_url("nats://a:4222,u:hunter2@b:4222"),
            "nats://a:4222,u:***@b:4222"
        );
        // A raw ',' in a password: not a clean list, so everything up to the '@' goes.
        let odd = redact_url("nats://u:pa,ss@a:4222");
        assert!(!odd.contains("pa") && !odd.contains("ss@"), "{odd}");
        // A lone user name in a NATS URL is a token.
        assert_eq!(redact_url("nats://t0ken@a:4222"), "nats://***@a:4222");
        assert_eq!(
            redact_url("nats://a:4222,t0ken@b:4222"),
            "nats://a:4222,***@b:4222"
        );
        // Not a NATS URL: a comma is not a list separator.
        assert_eq!(
            redact_url("postgres://alice:a,b@db/app"),
            "postgres://alice:***@db/app"
        );
        let url = "nats://u:s3cret@a:4222,v:hunter2@b:4222";
        let r = redact_secrets("auth failed for v:hunter2@b:4222 (s3cret)", url);
        assert!(!r.contains("hunter2") && !r.contains("s3cret"), "{r}");
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("p%40ss%2Cw+rd%zz%4"), "p@ss,w+rd%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "\u{2713}");
        let r = redact_secrets("refused a+b@c", "nats://u:a+b%40c@h:4222");
        assert!(!r.contains("a+b@c"), "{r}");
    }

    #[test]
    fn secrets_are_removed_from_messages() {
        let url = "postgres://alice:p%40ss@db/app";
        let msg = format!("failed to connect to {url}: password p@ss rejected");
        let r = redact_secrets(&msg, url);
        assert!(!r.contains("p@ss") && !r.contains("p%40ss"), "{r}");
        assert!(r.contains("alice:***@db"), "{r}");
    }
}
