//! Passwords never leave evscope: every URL shown or logged goes through [`redact_url`], and
//! every error message through [`redact_secrets`].

/// The URL with its password (and any `password=` query parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
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
    if let Ok(u) = url::Url::parse(url) {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(p) = u.password() {
            secrets.push(p.to_string());
            if let Ok(d) = urlencoding_decode(p) {
                secrets.push(d);
            }
        }
        for (k, v) in u.query_pairs() {
            if matches!(k.to_ascii_lowercase().as_str(), "password" | "pass" | "pwd") {
                secrets.push(v.into_owned());
            }
        }
        for s in secrets.into_iter().filter(|s| s.len() >= 2) {
            out = out.replace(&s, "***");
        }
    }
    out
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
    fn secrets_are_removed_from_messages() {
        let url = "postgres://alice:p%40ss@db/app";
        let msg = format!("failed to connect to {url}: password p@ss rejected");
        let r = redact_secrets(&msg, url);
        assert!(!r.contains("p@ss") && !r.contains("p%40ss"), "{r}");
        assert!(r.contains("alice:***@db"), "{r}");
    }
}
