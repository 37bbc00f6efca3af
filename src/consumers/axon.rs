//! Axon Framework's token store: `token_entry` (JPA, Spring Boot naming) or `TokenEntry` (the
//! JDBC token store's defaults), one row per processor segment, the tracking token serialized
//! by the XML (XStream) or the JSON (Jackson) serializer into a blob.
//!
//! Decoded: `GlobalSequenceTrackingToken` (`globalIndex`), `GapAwareTrackingToken` (`index` and
//! the `gaps` it still waits for) and a `ReplayToken` wrapping either (`currentToken`, and
//! `tokenAtReset`: the consumer is replaying until it gets there). Other tokens (multi-source,
//! merged during a segment merge, Java-serialized) are reported, not guessed.

use super::readers::{Tbl, opt_text, time_of};
use super::{Consumer, ConsumerError, Framework, State};
use crate::store::Store;
use crate::store::db::Raw;
use crate::store::layout::Encoding;
use crate::store::sql::{Dialect, Param, Sql};

/// A decoded token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Token {
    /// The last global index processed (None: a token at the start of the log).
    pub index: Option<i64>,
    /// Gap-aware tokens: indexes below `index` it has not seen yet.
    pub gaps: Vec<i64>,
    /// A replay token: where the reset happened (the replay runs until the consumer is there).
    pub replay_until: Option<i64>,
    /// How the blob was written: "xml" or "json".
    pub format: &'static str,
    /// The token's class (the innermost one for a replay token).
    pub class: String,
}

/// Why a token was not decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

pub const GLOBAL: &str = "org.axonframework.eventhandling.GlobalSequenceTrackingToken";
pub const GAP_AWARE: &str = "org.axonframework.eventhandling.GapAwareTrackingToken";
pub const REPLAY: &str = "org.axonframework.eventhandling.ReplayToken";

fn short(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

/// Decode a token blob, `token_type` naming its class (NULL for a token never stored).
pub fn decode(blob: &[u8], token_type: Option<&str>) -> Result<Token, TokenError> {
    if blob.starts_with(&[0xAC, 0xED]) {
        return Err(TokenError(
            "a Java-serialized token (JavaSerializer): not decoded".into(),
        ));
    }
    let text = std::str::from_utf8(blob)
        .map_err(|_| TokenError("the token is neither XML nor JSON text".into()))?
        .trim();
    let class = token_type.unwrap_or_default();
    if text.starts_with('<') {
        let root = xml_root(text).unwrap_or(class);
        let class = if class.is_empty() { root } else { class };
        decode_xml(text, class)
    } else if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| TokenError(format!("the JSON token does not parse: {e}")))?;
        decode_json(&v, class)
    } else {
        Err(TokenError("the token is neither XML nor JSON".into()))
    }
}

fn unsupported(class: &str) -> TokenError {
    TokenError(format!(
        "{} tokens are not decoded (only global-sequence, gap-aware and replay tokens)",
        if class.is_empty() {
            "untyped"
        } else {
            short(class)
        }
    ))
}

fn decode_json(v: &serde_json::Value, class: &str) -> Result<Token, TokenError> {
    // Without a class (no token_type, no "@class"): the properties tell the kind.
    let guessed = if v.get("globalIndex").is_some() {
        GLOBAL
    } else if v.get("tokenAtReset").is_some() || v.get("currentToken").is_some() {
        REPLAY
    } else if v.get("index").is_some() {
        GAP_AWARE
    } else {
        ""
    };
    let class = v
        .get("@class")
        .and_then(|c| c.as_str())
        .or(Some(class).filter(|c| !c.is_empty()))
        .unwrap_or(guessed)
        .to_string();
    let int = |k: &str| v.get(k).and_then(serde_json::Value::as_i64);
    match short(&class) {
        "GlobalSequenceTrackingToken" => Ok(Token {
            index: int("globalIndex"),
            format: "json",
            class,
            ..Token::default()
        }),
        "GapAwareTrackingToken" => Ok(Token {
            index: int("index"),
            gaps: v
                .get("gaps")
                .and_then(|g| g.as_array())
                .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
                .unwrap_or_default(),
            format: "json",
            class,
            ..Token::default()
        }),
        "ReplayToken" => {
            let inner = |k: &str| -> Result<Option<Token>, TokenError> {
                match v.get(k) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(t) => decode_json(t, "").map(Some),
                }
            };
            let at_reset = inner("tokenAtReset")?;
            let current = inner("currentToken")?;
            let mut t = current.unwrap_or_default();
            t.format = "json";
            t.replay_until = at_reset.and_then(|r| r.index);
            t.class = REPLAY.into();
            Ok(t)
        }
        _ => Err(unsupported(&class)),
    }
}

/// The name of the root element.
fn xml_root(xml: &str) -> Option<&str> {
    let mut s = xml;
    // Skip a prolog or comments.
    while let Some(rest) = s.strip_prefix("<?").or_else(|| s.strip_prefix("<!--")) {
        let end = rest.find('>')?;
        s = rest[end + 1..].trim_start();
    }
    let s = s.strip_prefix('<')?;
    let end = s.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    Some(&s[..end])
}

/// The inner text of the first element `<name ...>...</name>` (None: absent or empty).
fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = xml[from..].find(&format!("<{name}")) {
        let start = from + i + name.len() + 1;
        let rest = &xml[start..];
        let next = rest.chars().next()?;
        if next == '>' || next.is_whitespace() || next == '/' {
            let close = rest.find('>')?;
            if rest[..close].ends_with('/') {
                return None;
            }
            let body = &rest[close + 1..];
            let end = body.find(&format!("</{name}>"))?;
            return Some(&body[..end]);
        }
        from = start;
    }
    None
}

/// The `class="..."` attribute of the first element `name`.
fn xml_class<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let i = xml.find(&format!("<{name}"))?;
    let tag = &xml[i..i + xml[i..].find('>')?];
    let j = tag.find("class=\"")? + 7;
    let k = tag[j..].find('"')?;
    Some(&tag[j..j + k])
}

fn xml_int(xml: &str, name: &str) -> Option<i64> {
    xml_element(xml, name)?.trim().parse().ok()
}

fn decode_xml(xml: &str, class: &str) -> Result<Token, TokenError> {
    match short(class) {
        "GlobalSequenceTrackingToken" => Ok(Token {
            index: xml_int(xml, "globalIndex"),
            format: "xml",
            class: class.to_string(),
            ..Token::default()
        }),
        "GapAwareTrackingToken" => {
            let gaps = xml_element(xml, "gaps")
                .map(|g| {
                    g.split("<long>")
                        .filter_map(|p| p.split("</long>").next()?.trim().parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            Ok(Token {
                index: xml_int(xml, "index"),
                gaps,
                format: "xml",
                class: class.to_string(),
                ..Token::default()
            })
        }
        "ReplayToken" => {
            let inner = |name: &str| -> Result<Option<Token>, TokenError> {
                match xml_element(xml, name) {
                    None => Ok(None),
                    Some(body) => {
                        let c = xml_class(xml, name).unwrap_or(GLOBAL);
                        decode_xml(body, c).map(Some)
                    }
                }
            };
            let at_reset = inner("tokenAtReset")?;
            let current = inner("currentToken")?;
            let mut t = current.unwrap_or_default();
            t.format = "xml";
            t.replay_until = at_reset.and_then(|r| r.index);
            t.class = REPLAY.into();
            Ok(t)
        }
        _ => Err(unsupported(class)),
    }
}

/// The blob that stores `index` as a token of the same kind and format as `like` (for a
/// rewind): a replay token is rewound to its inner kind.
pub fn encode(like: &Token, index: i64) -> (String, &'static str) {
    let gap = short(&like.class) == "GapAwareTrackingToken";
    match (like.format, gap) {
        ("json", true) => (format!("{{\"index\":{index},\"gaps\":[]}}"), GAP_AWARE),
        ("json", false) => (format!("{{\"globalIndex\":{index}}}"), GLOBAL),
        (_, true) => (
            format!("<{GAP_AWARE}><index>{index}</index><gaps/></{GAP_AWARE}>"),
            GAP_AWARE,
        ),
        (_, false) => (
            format!("<{GLOBAL}><globalIndex>{index}</globalIndex></{GLOBAL}>"),
            GLOBAL,
        ),
    }
}

const NAME_COLS: &[&str] = &["processor_name", "processorname"];
const TYPE_COLS: &[&str] = &["token_type", "tokentype"];

pub fn is_token_table(t: &Tbl<'_>) -> bool {
    t.first_of(NAME_COLS).is_some()
        && t.first_of(TYPE_COLS).is_some()
        && t.has(&["segment", "token", "owner", "timestamp"])
}

pub async fn read(store: &Store, tbl: &Tbl<'_>) -> Result<Vec<Consumer>, ConsumerError> {
    let (Some(name_col), Some(type_col)) = (tbl.first_of(NAME_COLS), tbl.first_of(TYPE_COLS))
    else {
        return Ok(vec![]);
    };
    let Some(table) = tbl.sql_name() else {
        return Ok(vec![]);
    };
    // Hibernate maps @Lob to `oid` on PostgreSQL unless told otherwise: read the large object.
    let token = if tbl.d == Dialect::Postgres && tbl.column_type("token") == "oid" {
        format!("lo_get({})", tbl.col("token"))
    } else {
        tbl.col("token")
    };
    let mut sql = Sql::new(tbl.d);
    sql.push(&format!(
        "SELECT {}, {}, {token}, {}, {}, {} FROM {table} ORDER BY 1, 2",
        tbl.sel(name_col, Encoding::Text),
        tbl.sel("segment", Encoding::Integer),
        tbl.sel(type_col, Encoding::Text),
        tbl.sel("owner", Encoding::Text),
        tbl.sel("timestamp", Encoding::Text),
    ));
    let t = Some(Encoding::Text);
    let rows = store
        .db()
        .fetch_raw(
            &sql,
            &[t, Some(Encoding::Integer), Some(Encoding::Bytes), t, t, t],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let mut next = || it.next().unwrap_or(Raw::Null);
        let name = next().text();
        let segment = next().int().unwrap_or(0);
        let blob = match next() {
            Raw::Bytes(b) => Some(b),
            Raw::Text(s) => Some(s.into_bytes()),
            _ => None,
        };
        let token_type = opt_text(next());
        let owner = opt_text(next());
        let updated = time_of(next());
        let mut c = Consumer::new(Framework::Axon, name.clone(), tbl.label());
        c.segment = Some(segment.to_string());
        c.owner = owner;
        c.updated_at = updated;
        match &blob {
            None => {
                c.raw_checkpoint = String::new();
                c.notes
                    .push("no token: the processor starts at the beginning".into());
            }
            Some(b) => {
                c.raw_checkpoint = String::from_utf8_lossy(b).into_owned();
                match decode(b, token_type.as_deref()) {
                    Ok(tok) => {
                        c.checkpoint = tok.index;
                        c.gaps = tok.gaps.clone();
                        if let Some(until) = tok.replay_until {
                            c.state = Some(State::Rebuilding);
                            c.status = Some(format!("replaying until {until}"));
                        }
                    }
                    Err(e) => c.notes.push(e.0),
                }
            }
        }
        c.row = Some(tbl.row_key(vec![
            (name_col, Param::Text(name)),
            ("segment", Param::I64(segment)),
        ]));
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_tokens_as_xstream_writes_them() {
        let g = format!("<{GLOBAL}><globalIndex>42</globalIndex></{GLOBAL}>");
        let t = decode(g.as_bytes(), Some(GLOBAL)).unwrap();
        assert_eq!((t.index, t.format), (Some(42), "xml"));

        let gap = format!(
            "<{GAP_AWARE}><index>9</index><gaps><long>4</long><long>7</long></gaps></{GAP_AWARE}>"
        );
        let t = decode(gap.as_bytes(), Some(GAP_AWARE)).unwrap();
        assert_eq!((t.index, t.gaps.clone()), (Some(9), vec![4, 7]));

        let replay = format!(
            "<{REPLAY}><tokenAtReset class=\"{GLOBAL}\"><globalIndex>10</globalIndex></tokenAtReset><currentToken class=\"{GLOBAL}\"><globalIndex>3</globalIndex></currentToken><context class=\"null\"/></{REPLAY}>"
        );
        let t = decode(replay.as_bytes(), Some(REPLAY)).unwrap();
        assert_eq!((t.index, t.replay_until), (Some(3), Some(10)));
        // A replay token without a current token is at the start.
        let start = format!(
            "<{REPLAY}><tokenAtReset class=\"{GLOBAL}\"><globalIndex>10</globalIndex></tokenAtReset></{REPLAY}>"
        );
        let t = decode(start.as_bytes(), Some(REPLAY)).unwrap();
        assert_eq!((t.index, t.replay_until), (None, Some(10)));
    }

    #[test]
    fn json_tokens_as_jackson_writes_them() {
        let t = decode(br#"{"globalIndex":42}"#, Some(GLOBAL)).unwrap();
        assert_eq!((t.index, t.format), (Some(42), "json"));
        let t = decode(br#"{"index":9,"gaps":[4,7]}"#, Some(GAP_AWARE)).unwrap();
        assert_eq!(t.gaps, vec![4, 7]);
        // Without token_type, the properties tell the kind.
        assert_eq!(
            decode(br#"{"globalIndex":3}"#, None).unwrap().index,
            Some(3)
        );
        assert_eq!(
            decode(br#"{"index":4,"gaps":[]}"#, None).unwrap().class,
            GAP_AWARE
        );
        let r = format!(
            r#"{{"tokenAtReset":{{"@class":"{GLOBAL}","globalIndex":10}},"currentToken":{{"@class":"{GLOBAL}","globalIndex":3}},"context":null}}"#
        );
        let t = decode(r.as_bytes(), Some(REPLAY)).unwrap();
        assert_eq!((t.index, t.replay_until), (Some(3), Some(10)));
    }

    #[test]
    fn what_is_not_decoded_says_why() {
        let e = decode(&[0xAC, 0xED, 0, 5], Some(GLOBAL)).unwrap_err();
        assert!(e.0.contains("Java-serialized"));
        let e = decode(
            b"<x><a>1</a></x>",
            Some("org.axonframework.eventhandling.MultiSourceTrackingToken"),
        )
        .unwrap_err();
        assert!(e.0.contains("MultiSourceTrackingToken"), "{e}");
    }

    #[test]
    fn a_rewound_token_keeps_its_format() {
        let xml = decode(
            format!("<{GLOBAL}><globalIndex>42</globalIndex></{GLOBAL}>").as_bytes(),
            None,
        )
        .unwrap();
        let (blob, class) = encode(&xml, 5);
        assert_eq!(class, GLOBAL);
        assert_eq!(decode(blob.as_bytes(), Some(class)).unwrap().index, Some(5));
        let json = decode(br#"{"index":9,"gaps":[4]}"#, Some(GAP_AWARE)).unwrap();
        let (blob, class) = encode(&json, 2);
        let back = decode(blob.as_bytes(), Some(class)).unwrap();
        assert_eq!((back.index, back.gaps.len()), (Some(2), 0));
    }
}
