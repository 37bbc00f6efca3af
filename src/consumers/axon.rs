//! Axon Framework's token store: `token_entry` (JPA, Spring Boot naming) or `TokenEntry` (the
//! JDBC token store's defaults), one row per processor segment, the tracking token serialized
//! by the XML (XStream) or the JSON (Jackson) serializer into a blob.
//!
//! Decoded: `GlobalSequenceTrackingToken` (`globalIndex`), `GapAwareTrackingToken` (`index` and
//! the `gaps` it still waits for), a `ReplayToken` wrapping either (`currentToken`, and
//! `tokenAtReset`: the consumer is replaying until it gets there) and a `MergedTrackingToken`
//! (two segments being merged: the lower of their positions is where the merged segment
//! stands). Gap-aware tokens as Axon 4.7+ writes them (`GapAwareTrackingTokenConverter`) and as
//! Axon up to 4.6 did (XStream's reflection over a `ConcurrentSkipListSet`). Other tokens
//! (multi-source, Java-serialized) are reported, not guessed.

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
    /// The token's class (the outer one: a replay or merged token's own class).
    pub class: String,
    /// The class of the token that holds the position (the inner one of a replay or merged
    /// token): what a rewind writes, so that the processor reads back the kind it expects.
    pub kind: String,
    /// A merged token: the positions of the two segments being merged (lower, upper).
    pub merging: Option<(Option<i64>, Option<i64>)>,
}

/// Why a token was not decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

pub const GLOBAL: &str = "org.axonframework.eventhandling.GlobalSequenceTrackingToken";
pub const GAP_AWARE: &str = "org.axonframework.eventhandling.GapAwareTrackingToken";
pub const REPLAY: &str = "org.axonframework.eventhandling.ReplayToken";
pub const MERGED: &str = "org.axonframework.eventhandling.MergedTrackingToken";
/// Jackson's `MINIMAL_CLASS` ids (a merged token's segments) are relative to this package.
const TOKEN_PACKAGE: &str = "org.axonframework.eventhandling";

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
        let root = children(text)
            .next()
            .ok_or_else(|| TokenError("the XML token has no element".into()))?;
        let class = if class.is_empty() { root.name } else { class };
        decode_xml(root.body.unwrap_or_default(), class)
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
        "{} tokens are not decoded (only global-sequence, gap-aware, replay and merged tokens)",
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
    } else if v.get("lowerSegmentToken").is_some() || v.get("upperSegmentToken").is_some() {
        MERGED
    } else if v.get("index").is_some() {
        GAP_AWARE
    } else {
        ""
    };
    // "@class": a full class name (JsonTypeInfo.Id.CLASS); "@c": a minimal one, ".Name".
    let minimal = v
        .get("@c")
        .and_then(|c| c.as_str())
        .map(|c| match c.strip_prefix('.') {
            Some(rest) => format!("{TOKEN_PACKAGE}.{rest}"),
            None => c.to_string(),
        });
    let class = v
        .get("@class")
        .and_then(|c| c.as_str())
        .map(str::to_string)
        .or(minimal)
        .or(Some(class.to_string()).filter(|c| !c.is_empty()))
        .unwrap_or_else(|| guessed.to_string());
    let int = |k: &str| v.get(k).and_then(serde_json::Value::as_i64);
    let inner = |k: &str| -> Result<Option<Token>, TokenError> {
        match v.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(t) => decode_json(t, "").map(Some),
        }
    };
    let t = match short(&class) {
        "GlobalSequenceTrackingToken" => Token {
            index: int("globalIndex"),
            ..Token::default()
        },
        "GapAwareTrackingToken" => Token {
            index: int("index"),
            gaps: v
                .get("gaps")
                .and_then(|g| g.as_array())
                .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
                .unwrap_or_default(),
            ..Token::default()
        },
        "ReplayToken" => replay(inner("tokenAtReset")?, inner("currentToken")?),
        "MergedTrackingToken" => merged(inner("lowerSegmentToken")?, inner("upperSegmentToken")?),
        _ => return Err(unsupported(&class)),
    };
    Ok(finish(t, "json", class))
}

/// Fill in what every decoded token carries.
fn finish(mut t: Token, format: &'static str, class: String) -> Token {
    t.format = format;
    if t.kind.is_empty() {
        t.kind = class.clone();
    }
    t.class = class;
    t
}

/// A replay token stands where its current token does (the start without one).
fn replay(at_reset: Option<Token>, current: Option<Token>) -> Token {
    let kind = current
        .as_ref()
        .or(at_reset.as_ref())
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let mut t = current.unwrap_or_default();
    t.replay_until = at_reset.and_then(|r| r.index);
    t.kind = kind;
    t
}

/// A merged token stands at the lower of its segments' positions (Axon's `position()`): events
/// after it are still to be processed by one of them. A segment without a position is at the
/// start, so the merged token is too.
fn merged(lower: Option<Token>, upper: Option<Token>) -> Token {
    let at = |t: &Option<Token>| t.as_ref().and_then(|t| t.index);
    let (l, u) = (at(&lower), at(&upper));
    let index = match (l, u) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    };
    let kind = lower
        .as_ref()
        .or(upper.as_ref())
        .map(|t| t.kind.clone())
        .unwrap_or_default();
    let mut gaps: Vec<i64> = lower
        .iter()
        .chain(upper.iter())
        .flat_map(|t| t.gaps.iter().copied())
        .collect();
    gaps.sort_unstable();
    gaps.dedup();
    Token {
        index,
        gaps,
        kind,
        merging: Some((l, u)),
        ..Token::default()
    }
}

/// One XML element as XStream writes them (no CDATA, no `>` inside attribute values): its
/// name, its start tag (`<name attr="…"`) and its content (None: an empty element `<name/>`).
struct Elem<'a> {
    name: &'a str,
    tag: &'a str,
    body: Option<&'a str>,
}

impl<'a> Elem<'a> {
    /// The `class="…"` attribute: XStream's name for the runtime class of a field whose
    /// declared type is an interface.
    fn class(&self) -> Option<&'a str> {
        let j = self.tag.find("class=\"")? + 7;
        let k = self.tag[j..].find('"')?;
        Some(&self.tag[j..j + k])
    }
}

/// Whether `<name` at `at` opens an element of exactly that name (not `<nameLonger`).
fn opens(xml: &str, at: usize, name: &str) -> bool {
    matches!(xml[at + 1 + name.len()..].chars().next(), Some(c) if c == '>' || c == '/' || c.is_whitespace())
}

/// The element whose `<` is at `at`, and the offset just past its end. Nested elements of the
/// same name (a merged token of merged tokens) are matched with their own end tags.
fn element(xml: &str, at: usize) -> Option<(Elem<'_>, usize)> {
    let rest = &xml[at + 1..];
    let name = &rest[..rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?];
    let gt = at + 1 + rest.find('>')?;
    let tag = &xml[at..gt];
    if tag.ends_with('/') {
        return Some((
            Elem {
                name,
                tag,
                body: None,
            },
            gt + 1,
        ));
    }
    let (open, close) = (format!("<{name}"), format!("</{name}>"));
    let (mut depth, mut pos) = (1usize, gt + 1);
    loop {
        let end = pos + xml[pos..].find(&close)?;
        let mut from = pos;
        while let Some(i) = xml[from..end].find(&open) {
            let o = from + i;
            let o_gt = o + xml[o..].find('>')?;
            if opens(xml, o, name) && !xml[o..o_gt].ends_with('/') {
                depth += 1;
            }
            from = o_gt + 1;
        }
        depth -= 1;
        if depth == 0 {
            let body = Some(&xml[gt + 1..end]);
            return Some((Elem { name, tag, body }, end + close.len()));
        }
        pos = end + close.len();
    }
}

/// The elements at the top level of `xml` (a prolog and comments skipped), in order.
fn children(xml: &str) -> impl Iterator<Item = Elem<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        loop {
            let at = pos + xml[pos..].find('<')?;
            match xml[at + 1..].chars().next()? {
                // The end of the enclosing element.
                '/' => return None,
                '?' | '!' => pos = at + xml[at..].find('>')? + 1,
                _ => {
                    let (e, end) = element(xml, at)?;
                    pos = end;
                    return Some(e);
                }
            }
        }
    })
}

fn child<'a>(xml: &'a str, name: &str) -> Option<Elem<'a>> {
    children(xml).find(|e| e.name == name)
}

fn xml_int(xml: &str, name: &str) -> Option<i64> {
    child(xml, name)?.body?.trim().parse().ok()
}

fn decode_xml(xml: &str, class: &str) -> Result<Token, TokenError> {
    let inner = |name: &str| -> Result<Option<Token>, TokenError> {
        match child(xml, name) {
            Some(
                e @ Elem {
                    body: Some(body), ..
                },
            ) => decode_xml(body, e.class().unwrap_or(GLOBAL)).map(Some),
            _ => Ok(None),
        }
    };
    let t = match short(class) {
        "GlobalSequenceTrackingToken" => Token {
            index: xml_int(xml, "globalIndex"),
            ..Token::default()
        },
        // Axon 4.7+: `<gaps><long>3</long>...</gaps>`; up to 4.6 XStream reflected over the
        // ConcurrentSkipListSet: `<gaps class="...ConcurrentSkipListSet"><m ...>...<long>3</long>
        // <boolean>true</boolean>...<null/>...`, the gaps being the map's `long` keys all the same.
        "GapAwareTrackingToken" => Token {
            index: xml_int(xml, "index"),
            gaps: child(xml, "gaps")
                .and_then(|g| g.body)
                .map(|g| {
                    g.split("<long>")
                        .skip(1)
                        .filter_map(|p| p.split("</long>").next()?.trim().parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            ..Token::default()
        },
        "ReplayToken" => replay(inner("tokenAtReset")?, inner("currentToken")?),
        "MergedTrackingToken" => merged(inner("lowerSegmentToken")?, inner("upperSegmentToken")?),
        _ => return Err(unsupported(class)),
    };
    Ok(finish(t, "xml", class.to_string()))
}

/// A consumer's `raw_checkpoint` back as the blob's bytes (a binary blob is shown as `0x` and
/// hex digits; XML and JSON tokens as their text).
pub fn raw_bytes(raw: &str) -> Vec<u8> {
    let hex = raw
        .strip_prefix("0x")
        .filter(|h| h.len() % 2 == 0 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(h) => (0..h.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
            .collect(),
        None => raw.as_bytes().to_vec(),
    }
}

/// The blob that stores `index` as a token of the same kind and format as `like` (for a
/// rewind): a replay or merged token is rewound to its inner kind.
pub fn encode(like: &Token, index: i64) -> (String, &'static str) {
    let gap = short(&like.kind) == "GapAwareTrackingToken";
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
                c.raw_checkpoint = match std::str::from_utf8(b) {
                    Ok(text) => text.to_string(),
                    // A Java-serialized token: its bytes, not a mangled text.
                    Err(_) => {
                        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                        format!("0x{hex}")
                    }
                };
                match decode(b, token_type.as_deref()) {
                    Ok(tok) => {
                        c.checkpoint = tok.index;
                        c.gaps = tok.gaps.clone();
                        if let Some(until) = tok.replay_until {
                            c.state = Some(State::Rebuilding);
                            c.status = Some(format!("replaying until {until}"));
                        }
                        if let Some((lower, upper)) = tok.merging {
                            let at = |p: Option<i64>| {
                                p.map_or_else(|| "the start".to_string(), |p| p.to_string())
                            };
                            let merge = format!(
                                "merging two segments (at {} and {})",
                                at(lower),
                                at(upper)
                            );
                            c.status = Some(match c.status.take() {
                                Some(s) => format!("{s}; {merge}"),
                                None => merge,
                            });
                        }
                    }
                    Err(e) => c.unreadable(e.0),
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

    /// Blobs copied from fixtures/axon/consumers-postgres.sql, which Axon's own serializers wrote.
    #[test]
    fn tokens_axon_wrote() {
        // Axon 4.6's XStream, no GapAwareTrackingTokenConverter yet.
        let legacy = format!(
            "<{GAP_AWARE}><index>9</index><gaps class=\"java.util.concurrent.ConcurrentSkipListSet\"><m class=\"java.util.concurrent.ConcurrentSkipListMap\" serialization=\"custom\"><unserializable-parents/><java.util.concurrent.ConcurrentSkipListMap><default/><long>3</long><boolean>true</boolean><long>5</long><boolean>true</boolean><null/></java.util.concurrent.ConcurrentSkipListMap></m></gaps></{GAP_AWARE}>"
        );
        let t = decode(legacy.as_bytes(), Some(GAP_AWARE)).unwrap();
        assert_eq!((t.index, t.gaps), (Some(9), vec![3, 5]));

        let merged = format!(
            "<{MERGED}><lowerSegmentToken class=\"{GAP_AWARE}\"><index>8</index><gaps/></lowerSegmentToken><upperSegmentToken class=\"{GAP_AWARE}\"><index>5</index><gaps><long>4</long></gaps></upperSegmentToken></{MERGED}>"
        );
        let t = decode(merged.as_bytes(), Some(MERGED)).unwrap();
        assert_eq!(
            (t.index, t.merging, t.gaps.clone(), t.kind.as_str()),
            (Some(5), Some((Some(8), Some(5))), vec![4], GAP_AWARE)
        );
        // A rewind writes the kind the processor reads: gap-aware, not a merged token.
        assert_eq!(encode(&t, 2).1, GAP_AWARE);

        let json = r#"{"lowerSegmentToken":{"@c":".GapAwareTrackingToken","index":8,"gaps":[]},"upperSegmentToken":{"@c":".GapAwareTrackingToken","index":5,"gaps":[]}}"#;
        let t = decode(json.as_bytes(), Some(MERGED)).unwrap();
        assert_eq!(
            (t.index, t.kind.as_str(), t.format),
            (Some(5), GAP_AWARE, "json")
        );
        // Without token_type: the properties say it is merged.
        assert_eq!(decode(json.as_bytes(), None).unwrap().class, MERGED);

        let replay = format!(
            r#"{{"tokenAtReset":{{"@class":"{GAP_AWARE}","index":9,"gaps":[]}},"currentToken":{{"@class":"{GAP_AWARE}","index":2,"gaps":[]}},"context":null}}"#
        );
        let t = decode(replay.as_bytes(), None).unwrap();
        assert_eq!(
            (t.index, t.replay_until, t.class.as_str(), t.kind.as_str()),
            (Some(2), Some(9), REPLAY, GAP_AWARE)
        );
        assert_eq!(encode(&t, 1).1, GAP_AWARE);
        // A binary blob shown as hex reads back as its bytes; a text token as its text.
        assert_eq!(raw_bytes("0xaced0005"), vec![0xac, 0xed, 0, 5]);
        assert_eq!(raw_bytes(json), json.as_bytes());
    }

    /// Merges of merges nest elements of the same name: each closes where its own tag does.
    #[test]
    fn nested_merged_tokens() {
        let g = |i: i64| format!("<index>{i}</index><gaps/>");
        let xml = format!(
            "<{MERGED}><lowerSegmentToken class=\"{MERGED}\"><lowerSegmentToken class=\"{GAP_AWARE}\">{}</lowerSegmentToken><upperSegmentToken class=\"{GAP_AWARE}\">{}</upperSegmentToken></lowerSegmentToken><upperSegmentToken class=\"{GAP_AWARE}\">{}</upperSegmentToken></{MERGED}>",
            g(7),
            g(3),
            g(6)
        );
        let t = decode(xml.as_bytes(), None).unwrap();
        assert_eq!((t.index, t.merging), (Some(3), Some((Some(3), Some(6)))));
        // One segment still at the start: the merged token is too.
        let xml = format!(
            "<{MERGED}><lowerSegmentToken class=\"{GAP_AWARE}\">{}</lowerSegmentToken></{MERGED}>",
            g(7)
        );
        assert_eq!(decode(xml.as_bytes(), None).unwrap().index, None);
    }

    /// Every prefix of a real token (a torn or hand-edited blob) decodes or says why: no panic.
    #[test]
    fn truncated_tokens_do_not_panic() {
        let sql = include_str!("../../fixtures/axon/consumers-postgres.sql");
        let blobs: Vec<&str> = sql
            .split("convert_to('")
            .skip(1)
            .filter_map(|p| p.split("', 'UTF8')").next())
            .collect();
        assert!(blobs.len() >= 9, "{}", blobs.len());
        for b in blobs {
            for cut in 0..=b.len() {
                let _ = decode(&b.as_bytes()[..cut], None);
                let _ = decode(&b.as_bytes()[cut..], Some(MERGED));
            }
        }
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
