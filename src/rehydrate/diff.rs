//! Structural JSON diff and JSON merge-patch.
//!
//! [`diff`] lists what changed between two JSON values (the rehydration view shows it after each
//! event); [`diff_with`] adds ignored paths and a numeric tolerance (the snapshot audit).
//! [`merge_patch`] is RFC 7386, the default fold of an event's data into the state.
//!
//! Paths are jq-like: the root is `.`; object keys are `.balance`, `.owner.name`; keys that are
//! not plain identifiers (`[A-Za-z_][A-Za-z0-9_]*`) are quoted with JSON string escapes
//! (`."first name"`, `."a.b"`); array indexes are `.items[2]`, and `.[0]` at the root. Ignore
//! patterns may also use `[]` (any array index) and `.*` (any object key).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Number, Value};

/// One difference between two JSON values, at a path.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Added {
        path: String,
        new: Value,
    },
    Removed {
        path: String,
        old: Value,
    },
    Changed {
        path: String,
        old: Value,
        new: Value,
        /// new - old when both are numbers (f64)
        #[serde(skip_serializing_if = "Option::is_none")]
        delta: Option<f64>,
        /// true when the JSON types differ (e.g. number -> string, object -> array)
        type_changed: bool,
    },
}

impl Change {
    /// The path of the change, rendered as in [`render_path`] (`.` for the root).
    pub fn path(&self) -> &str {
        match self {
            Change::Added { path, .. }
            | Change::Removed { path, .. }
            | Change::Changed { path, .. } => path,
        }
    }
}

/// Options for [`diff_with`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffOptions {
    /// Paths to ignore, in the same path syntax; a path also ignores everything under it;
    /// `[]` matches any array index (e.g. `.items[].updatedAt`); `.*` matches any object key.
    ///
    /// A pattern that does not parse (see [`parse_path`]) matches nothing: validate patterns
    /// with [`parse_path`] where they are read.
    pub ignore: Vec<String>,
    /// Numbers whose absolute difference is <= tolerance are equal (0.0 = exact; note 1 and 1.0
    /// are equal numbers).
    pub tolerance: f64,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
    /// `[]`: any array index (patterns only).
    AnyIndex,
    /// `.*`: any object key (patterns only).
    AnyKey,
}

/// All differences from `old` to `new`, in a stable order (depth-first, object keys in sorted
/// order, arrays by index).
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    diff_with(old, new, &DiffOptions::default())
}

/// [`diff`] with ignored paths and a numeric tolerance.
pub fn diff_with(old: &Value, new: &Value, opts: &DiffOptions) -> Vec<Change> {
    let ignore: Vec<Vec<Segment>> = opts
        .ignore
        .iter()
        .filter_map(|p| parse_path(p).ok())
        .collect();
    let mut walker = Walker {
        ignore: &ignore,
        tolerance: opts.tolerance,
        path: Vec::new(),
        out: Vec::new(),
    };
    walker.walk(old, new);
    walker.out
}

/// RFC 7386 JSON merge patch, in place: objects merge recursively, `null` in the patch removes
/// the key, any non-object patch replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        unreachable!("target was just made an object");
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.as_str()).or_insert(Value::Null), value);
        }
    }
}

/// A path of [`DiffOptions::ignore`] that cannot be read; the message names the path and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(String);

/// Parse a path as written in [`DiffOptions::ignore`] (validate it).
pub fn parse_path(p: &str) -> Result<Vec<Segment>, PathError> {
    segments(p).map_err(PathError)
}

fn segments(p: &str) -> Result<Vec<Segment>, String> {
    let bytes = p.as_bytes();
    if bytes.first() != Some(&b'.') {
        return Err(if p.is_empty() {
            "empty path (the root is `.`)".to_string()
        } else {
            format!("path `{p}` must start with `.` (e.g. `.{p}`)")
        });
    }
    let mut segs = Vec::new();
    let mut i = 0;
    // `.` alone is the root; `.[0]` starts with an index.
    if bytes.len() == 1 {
        return Ok(segs);
    }
    if bytes[1] == b'[' {
        i = 1;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                i += 1;
                match bytes.get(i) {
                    None => return Err(format!("path `{p}`: expected a key after the final `.`")),
                    Some(b'*') => {
                        segs.push(Segment::AnyKey);
                        i += 1;
                    }
                    Some(b'"') => {
                        let (key, next) = parse_quoted(p, i)?;
                        segs.push(Segment::Key(key));
                        i = next;
                    }
                    Some(&c) if is_ident_start(c) => {
                        let start = i;
                        while i < bytes.len() && is_ident_continue(bytes[i]) {
                            i += 1;
                        }
                        segs.push(Segment::Key(p[start..i].to_string()));
                    }
                    Some(_) => {
                        let rest = &p[i..];
                        return Err(format!(
                            "path `{p}`: invalid key at `{rest}` (keys that are not plain \
                             identifiers must be quoted, e.g. .\"first name\")"
                        ));
                    }
                }
            }
            b'[' => {
                let start = i + 1;
                let Some(len) = p[start..].find(']') else {
                    return Err(format!("path `{p}`: unterminated `[` (missing `]`)"));
                };
                let inner = &p[start..start + len];
                if inner.is_empty() {
                    segs.push(Segment::AnyIndex);
                } else if inner.bytes().all(|b| b.is_ascii_digit()) {
                    let idx = inner
                        .parse::<usize>()
                        .map_err(|_| format!("path `{p}`: array index `{inner}` is too large"))?;
                    segs.push(Segment::Index(idx));
                } else {
                    return Err(format!(
                        "path `{p}`: invalid array index `[{inner}]` (expected a non-negative \
                         integer such as `[0]`, or `[]` for any index)"
                    ));
                }
                i = start + len + 1;
            }
            _ => {
                let rest = &p[i..];
                return Err(format!(
                    "path `{p}`: unexpected `{rest}` (expected `.key` or `[index]`)"
                ));
            }
        }
    }
    Ok(segs)
}

/// Render a concrete path from segments (used for Change paths). The empty path is `.`.
pub fn render_path(segs: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Segment::Key(k) => push_key(&mut out, k),
            Segment::Index(i) => push_index(&mut out, Some(*i)),
            Segment::AnyIndex => push_index(&mut out, None),
            Segment::AnyKey => out.push_str(".*"),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

// ---------------------------------------------------------------------------------------------

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_continue(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_ident(k: &str) -> bool {
    let mut bytes = k.bytes();
    bytes.next().is_some_and(is_ident_start) && bytes.all(is_ident_continue)
}

/// A quoted key starting at `p[start] == '"'`: the decoded key and the index after the closing
/// quote.
fn parse_quoted(p: &str, start: usize) -> Result<(String, usize), String> {
    let bytes = p.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let lit = &p[start..=i];
                let key: String = serde_json::from_str(lit)
                    .map_err(|e| format!("path `{p}`: invalid quoted key {lit}: {e}"))?;
                return Ok((key, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(format!("path `{p}`: unterminated quote in key"))
}

fn push_key(out: &mut String, k: &str) {
    out.push('.');
    if is_ident(k) {
        out.push_str(k);
    } else {
        // A JSON string literal; serialising a &str cannot fail.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
    }
}

fn push_index(out: &mut String, i: Option<usize>) {
    if out.is_empty() {
        out.push('.');
    }
    match i {
        Some(i) => {
            let _ = write!(out, "[{i}]");
        }
        None => out.push_str("[]"),
    }
}

/// A step of the concrete path being walked (borrowing keys, so that unchanged subtrees cost no
/// allocation).
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct Walker<'a, 'v> {
    ignore: &'a [Vec<Segment>],
    tolerance: f64,
    path: Vec<Step<'v>>,
    out: Vec<Change>,
}

impl<'v> Walker<'_, 'v> {
    fn walk(&mut self, old: &'v Value, new: &'v Value) {
        // Ignored subtrees are pruned as soon as their root is reached, so only patterns as long
        // as the current path need checking here.
        if self.ignored() {
            return;
        }
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => self.walk_objects(a, b),
            (Value::Array(a), Value::Array(b)) => {
                for i in 0..a.len().max(b.len()) {
                    self.path.push(Step::Index(i));
                    match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => self.walk(x, y),
                        (None, Some(y)) => self.added(y),
                        (Some(x), None) => self.removed(x),
                        (None, None) => {}
                    }
                    self.path.pop();
                }
            }
            (Value::Number(a), Value::Number(b)) => {
                if !numbers_equal(a, b, self.tolerance) {
                    let delta = Some(number_delta(a, b));
                    self.changed(old, new, delta, false);
                }
            }
            _ => {
                let type_changed = kind(old) != kind(new);
                if type_changed || old != new {
                    self.changed(old, new, None, type_changed);
                }
            }
        }
    }

    fn walk_objects(&mut self, a: &'v Map<String, Value>, b: &'v Map<String, Value>) {
        // Sorted explicitly: with serde_json's `preserve_order` the maps keep insertion order.
        let mut keys: Vec<&'v str> = a.keys().chain(b.keys()).map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.path.push(Step::Key(key));
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) => self.walk(x, y),
                (None, Some(y)) => self.added(y),
                (Some(x), None) => self.removed(x),
                (None, None) => {}
            }
            self.path.pop();
        }
    }

    fn added(&mut self, new: &Value) {
        if !self.ignored() {
            let path = self.render();
            self.out.push(Change::Added {
                path,
                new: new.clone(),
            });
        }
    }

    fn removed(&mut self, old: &Value) {
        if !self.ignored() {
            let path = self.render();
            self.out.push(Change::Removed {
                path,
                old: old.clone(),
            });
        }
    }

    fn changed(&mut self, old: &Value, new: &Value, delta: Option<f64>, type_changed: bool) {
        let path = self.render();
        self.out.push(Change::Changed {
            path,
            old: old.clone(),
            new: new.clone(),
            delta,
            type_changed,
        });
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                Step::Key(k) => push_key(&mut out, k),
                Step::Index(i) => push_index(&mut out, Some(*i)),
            }
        }
        if out.is_empty() {
            out.push('.');
        }
        out
    }

    /// Whether an ignore pattern matches the current path exactly (its ancestors were checked
    /// on the way down).
    fn ignored(&self) -> bool {
        self.ignore.iter().any(|pat| {
            pat.len() == self.path.len()
                && pat
                    .iter()
                    .zip(&self.path)
                    .all(|(seg, step)| match (seg, step) {
                        (Segment::Key(k), Step::Key(s)) => k == s,
                        (Segment::AnyKey, Step::Key(_)) => true,
                        (Segment::Index(i), Step::Index(j)) => i == j,
                        (Segment::AnyIndex, Step::Index(_)) => true,
                        _ => false,
                    })
        })
    }
}

#[derive(PartialEq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

/// The number as an exact integer, when it is one (i64 or u64 range).
fn as_int(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn as_float(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

fn numbers_equal(a: &Number, b: &Number, tolerance: f64) -> bool {
    let exact = match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => as_float(a) == as_float(b),
    };
    exact || number_delta(a, b).abs() <= tolerance
}

/// `b - a` as f64 (computed exactly first when both are integers).
fn number_delta(a: &Number, b: &Number) -> f64 {
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => (y - x) as f64,
        _ => as_float(b) - as_float(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(Change::path).collect()
    }

    fn opts(ignore: &[&str], tolerance: f64) -> DiffOptions {
        DiffOptions {
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            tolerance,
        }
    }

    #[test]
    fn identical_values_have_no_changes() {
        let v = json!({"a": 1, "b": [1, 2, {"c": null}], "d": {"e": "x", "f": true}});
        assert_eq!(diff(&v, &v.clone()), vec![]);
        assert_eq!(diff(&json!(null), &json!(null)), vec![]);
        assert_eq!(diff(&json!([]), &json!([])), vec![]);
    }

    #[test]
    fn added_removed_changed_keys_at_depth_in_sorted_order() {
        let old =
            json!({"z": 1, "owner": {"name": "Ann", "age": 30, "tags": {"x": 1}}, "gone": true});
        let new = json!({"z": 1, "owner": {"name": "Bob", "age": 30, "tags": {"x": 1, "y": 2}}, "new": "n"});
        assert_eq!(
            diff(&old, &new),
            vec![
                Change::Removed {
                    path: ".gone".into(),
                    old: json!(true)
                },
                Change::Added {
                    path: ".new".into(),
                    new: json!("n")
                },
                Change::Changed {
                    path: ".owner.name".into(),
                    old: json!("Ann"),
                    new: json!("Bob"),
                    delta: None,
                    type_changed: false,
                },
                Change::Added {
                    path: ".owner.tags.y".into(),
                    new: json!(2)
                },
            ]
        );
    }

    #[test]
    fn numeric_delta_and_type_changed() {
        let changes = diff(
            &json!({"n": 10, "f": 1.5, "t": 1}),
            &json!({"n": 7, "f": 2.0, "t": "1"}),
        );
        assert_eq!(
            changes,
            vec![
                Change::Changed {
                    path: ".f".into(),
                    old: json!(1.5),
                    new: json!(2.0),
                    delta: Some(0.5),
                    type_changed: false,
                },
                Change::Changed {
                    path: ".n".into(),
                    old: json!(10),
                    new: json!(7),
                    delta: Some(-3.0),
                    type_changed: false,
                },
                Change::Changed {
                    path: ".t".into(),
                    old: json!(1),
                    new: json!("1"),
                    delta: None,
                    type_changed: true,
                },
            ]
        );
    }

    #[test]
    fn object_replaced_by_array_is_one_change() {
        let old = json!({"a": {"x": 1, "y": 2}});
        let new = json!({"a": [1, 2]});
        assert_eq!(
            diff(&old, &new),
            vec![Change::Changed {
                path: ".a".into(),
                old: json!({"x": 1, "y": 2}),
                new: json!([1, 2]),
                delta: None,
                type_changed: true,
            }]
        );
        // null -> value is a type change too
        let c = diff(&json!({"a": null}), &json!({"a": false}));
        assert!(matches!(
            &c[..],
            [Change::Changed {
                type_changed: true,
                ..
            }]
        ));
    }

    #[test]
    fn arrays_grow_and_shrink() {
        let grown = diff(&json!({"items": [1, 2]}), &json!({"items": [1, 3, 4, 5]}));
        assert_eq!(
            grown,
            vec![
                Change::Changed {
                    path: ".items[1]".into(),
                    old: json!(2),
                    new: json!(3),
                    delta: Some(1.0),
                    type_changed: false,
                },
                Change::Added {
                    path: ".items[2]".into(),
                    new: json!(4)
                },
                Change::Added {
                    path: ".items[3]".into(),
                    new: json!(5)
                },
            ]
        );
        let shrunk = diff(&json!([{"a": 1}, {"a": 2}, 3]), &json!([{"a": 1}]));
        assert_eq!(
            shrunk,
            vec![
                Change::Removed {
                    path: ".[1]".into(),
                    old: json!({"a": 2})
                },
                Change::Removed {
                    path: ".[2]".into(),
                    old: json!(3)
                },
            ]
        );
        let nested = diff(&json!([[0, {"k": 1}]]), &json!([[0, {"k": 2}]]));
        assert_eq!(paths(&nested), vec![".[0][1].k"]);
    }

    #[test]
    fn quoted_keys_render_and_round_trip() {
        let c = diff(
            &json!({"first name": 1, "a.b": 1, "x\"y": 1, "1st": 1, "ok_1": 1, "": 1, "é": 1}),
            &json!({"first name": 2, "a.b": 2, "x\"y": 2, "1st": 2, "ok_1": 2, "": 2, "é": 2}),
        );
        assert_eq!(
            paths(&c),
            vec![
                r#"."""#,
                r#"."1st""#,
                r#"."a.b""#,
                r#"."first name""#,
                ".ok_1",
                r#"."x\"y""#,
                r#"."é""#
            ]
        );
        for p in paths(&c) {
            assert_eq!(render_path(&parse_path(p).unwrap()), p);
        }
        let segs = vec![
            Segment::Key("owner".into()),
            Segment::Key("first name".into()),
            Segment::Key("a.b\n\"q\"".into()),
            Segment::Index(3),
            Segment::Key("_x9".into()),
        ];
        let rendered = render_path(&segs);
        assert_eq!(rendered, r#".owner."first name"."a.b\n\"q\""[3]._x9"#);
        assert_eq!(parse_path(&rendered).unwrap(), segs);
        for p in [
            ".",
            ".[0]",
            ".a[1][2].b",
            ".items[].updatedAt",
            ".*.x",
            r#"."a\u0041""#,
        ] {
            let parsed = parse_path(p).unwrap();
            let back = render_path(&parsed);
            assert_eq!(parse_path(&back).unwrap(), parsed, "{p} -> {back}");
        }
        assert_eq!(
            parse_path(r#"."a\u0041""#).unwrap(),
            vec![Segment::Key("aA".into())]
        );
        assert_eq!(parse_path(".").unwrap(), vec![]);
        assert_eq!(parse_path(".[0]").unwrap(), vec![Segment::Index(0)]);
        assert_eq!(
            parse_path(".items[].x.*").unwrap(),
            vec![
                Segment::Key("items".into()),
                Segment::AnyIndex,
                Segment::Key("x".into()),
                Segment::AnyKey
            ]
        );
        assert_eq!(render_path(&[]), ".");
        assert_eq!(render_path(&[Segment::AnyIndex, Segment::AnyKey]), ".[].*");
        assert_eq!(render_path(&[Segment::Key("*".into())]), r#"."*""#);
    }

    #[test]
    fn root_change() {
        assert_eq!(
            diff(&json!(1), &json!("x")),
            vec![Change::Changed {
                path: ".".into(),
                old: json!(1),
                new: json!("x"),
                delta: None,
                type_changed: true,
            }]
        );
        assert_eq!(paths(&diff(&json!({"a": 1}), &json!([1]))), vec!["."]);
        assert_eq!(paths(&diff(&json!(true), &json!(false))), vec!["."]);
    }

    #[test]
    fn ignore_exact_path_and_prefix() {
        let old = json!({"a": 1, "b": {"c": 1, "d": 1}, "bb": 1, "e": 1});
        let new = json!({"a": 2, "b": {"c": 2, "d": 2, "n": 0}, "bb": 2});
        assert_eq!(
            paths(&diff(&old, &new)),
            vec![".a", ".b.c", ".b.d", ".b.n", ".bb", ".e"]
        );
        // exact
        let c = diff_with(&old, &new, &opts(&[".a", ".b.d", ".e"], 0.0));
        assert_eq!(paths(&c), vec![".b.c", ".b.n", ".bb"]);
        // prefix: `.b` ignores everything under it but not the sibling `.bb`
        let c = diff_with(&old, &new, &opts(&[".b"], 0.0));
        assert_eq!(paths(&c), vec![".a", ".bb", ".e"]);
        // root ignores everything
        assert_eq!(diff_with(&old, &new, &opts(&["."], 0.0)), vec![]);
        // an index
        let c = diff_with(
            &json!([1, 2, 3]),
            &json!([0, 0, 0, 0]),
            &opts(&[".[1]", ".[3]"], 0.0),
        );
        assert_eq!(paths(&c), vec![".[0]", ".[2]"]);
        // quoted key
        let c = diff_with(
            &json!({"a b": 1, "c": 1}),
            &json!({"a b": 2, "c": 2}),
            &opts(&[r#"."a b""#], 0.0),
        );
        assert_eq!(paths(&c), vec![".c"]);
    }

    #[test]
    fn ignore_wildcards() {
        let old = json!({
            "items": [{"id": 1, "updatedAt": "t1"}, {"id": 2, "updatedAt": "t1"}],
            "meta": {"x": {"at": 1, "v": 1}, "y": {"at": 1, "v": 1}},
            "updatedAt": "t1"
        });
        let new = json!({
            "items": [{"id": 1, "updatedAt": "t2"}, {"id": 3, "updatedAt": "t2"}, {"id": 4}],
            "meta": {"x": {"at": 2, "v": 1}, "y": {"at": 2, "v": 2}},
            "updatedAt": "t2"
        });
        assert_eq!(
            paths(&diff(&old, &new)),
            vec![
                ".items[0].updatedAt",
                ".items[1].id",
                ".items[1].updatedAt",
                ".items[2]",
                ".meta.x.at",
                ".meta.y.at",
                ".meta.y.v",
                ".updatedAt"
            ]
        );
        let c = diff_with(
            &old,
            &new,
            &opts(&[".items[].updatedAt", ".meta.*.at"], 0.0),
        );
        assert_eq!(
            paths(&c),
            vec![".items[1].id", ".items[2]", ".meta.y.v", ".updatedAt"]
        );
        // `[]` only matches indexes, `.*` only keys
        let c = diff_with(
            &json!({"a": {"k": 1}}),
            &json!({"a": {"k": 2}}),
            &opts(&[".a[]"], 0.0),
        );
        assert_eq!(paths(&c), vec![".a.k"]);
        let c = diff_with(
            &json!({"a": [1]}),
            &json!({"a": [2]}),
            &opts(&[".a.*"], 0.0),
        );
        assert_eq!(paths(&c), vec![".a[0]"]);
        // `.*` at the root ignores every key (but not a root-level change)
        assert_eq!(diff_with(&old, &new, &opts(&[".*"], 0.0)), vec![]);
        // an invalid pattern matches nothing
        let c = diff_with(&json!({"a": 1}), &json!({"a": 2}), &opts(&["a"], 0.0));
        assert_eq!(paths(&c), vec![".a"]);
    }

    #[test]
    fn tolerance_boundary() {
        let old = json!({"x": 1.0});
        let tol = opts(&[], 0.5);
        assert_eq!(diff_with(&old, &json!({"x": 1.5}), &tol), vec![]);
        assert_eq!(diff_with(&old, &json!({"x": 0.5}), &tol), vec![]);
        let above = diff_with(&old, &json!({"x": 1.5000001}), &tol);
        assert_eq!(paths(&above), vec![".x"]);
        // integers too
        let tol = opts(&[], 2.0);
        assert_eq!(diff_with(&json!([10]), &json!([12]), &tol), vec![]);
        assert_eq!(
            paths(&diff_with(&json!([10]), &json!([13]), &tol)),
            vec![".[0]"]
        );
        // exact by default
        assert_eq!(paths(&diff(&json!(0.1), &json!(0.1000000001))), vec!["."]);
        // tolerance does not apply across types
        assert_eq!(
            paths(&diff_with(&json!(1), &json!("1"), &opts(&[], 10.0))),
            vec!["."]
        );
    }

    #[test]
    fn one_and_one_point_zero_are_equal() {
        assert_eq!(diff(&json!(1), &json!(1.0)), vec![]);
        assert_eq!(
            diff(&json!({"a": [0, -3]}), &json!({"a": [0.0, -3.0]})),
            vec![]
        );
        // large integers compare exactly
        let big = json!(u64::MAX);
        let c = diff(&json!(u64::MAX - 1), &big);
        assert_eq!(paths(&c), vec!["."]);
        assert!(matches!(&c[0], Change::Changed { delta: Some(d), .. } if *d == 1.0));
        assert_eq!(diff(&json!(i64::MIN), &json!(i64::MIN)), vec![]);
    }

    fn patched(target: Value, patch: Value) -> Value {
        let mut t = target;
        merge_patch(&mut t, &patch);
        t
    }

    #[test]
    fn merge_patch_rfc7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let desc = format!("{target} + {patch}");
            assert_eq!(patched(target, patch), expected, "{desc}");
        }
    }

    #[test]
    fn merge_patch_rfc7386_section3_example() {
        let target = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        let patch = json!({
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null},
            "tags": ["example"]
        });
        assert_eq!(
            patched(target, patch),
            json!({
                "title": "Hello!",
                "author": {"givenName": "John"},
                "tags": ["example"],
                "content": "This will be unchanged",
                "phoneNumber": "+01-123-456-7890"
            })
        );
        // a scalar target is replaced by an object patch, nulls stripped
        assert_eq!(
            patched(json!(5), json!({"a": null, "b": 1})),
            json!({"b": 1})
        );
    }

    #[test]
    fn change_serialization() {
        let changes = vec![
            Change::Added {
                path: ".a".into(),
                new: json!(1),
            },
            Change::Removed {
                path: ".b".into(),
                old: json!([1]),
            },
            Change::Changed {
                path: ".c".into(),
                old: json!(1),
                new: json!(3),
                delta: Some(2.0),
                type_changed: false,
            },
            Change::Changed {
                path: ".".into(),
                old: json!(1),
                new: json!("x"),
                delta: None,
                type_changed: true,
            },
        ];
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!([
                {"op": "added", "path": ".a", "new": 1},
                {"op": "removed", "path": ".b", "old": [1]},
                {"op": "changed", "path": ".c", "old": 1, "new": 3, "delta": 2.0, "type_changed": false},
                {"op": "changed", "path": ".", "old": 1, "new": "x", "type_changed": true}
            ])
        );
        let text = serde_json::to_string(&changes[3]).unwrap();
        assert!(!text.contains("delta"), "{text}");
    }

    #[test]
    fn parse_path_errors() {
        let cases = [
            ("balance", "must start with `.`"),
            ("", "empty path"),
            (r#"."first name"#, "unterminated quote"),
            (".items[x]", "invalid array index `[x]`"),
            (".items[-1]", "invalid array index"),
            (".items[1", "unterminated `[`"),
            (".a.", "expected a key"),
            (".1abc", "invalid key"),
            (".a b", "unexpected"),
            ("..a", "invalid key"),
            (r#"."\q""#, "invalid quoted key"),
            (".[99999999999999999999999999]", "too large"),
        ];
        for (p, want) in cases {
            let err = parse_path(p).expect_err(p).to_string();
            assert!(err.contains(want), "{p:?}: {err}");
        }
    }

    #[test]
    fn large_objects_diff_to_their_one_change() {
        let mut a = Map::new();
        for i in 0..10_000 {
            a.insert(format!("key{i:05}"), json!({"n": i, "s": "value"}));
        }
        let old = Value::Object(a.clone());
        a.insert("key05000".into(), json!({"n": -1, "s": "value"}));
        let new = Value::Object(a);
        // (Its speed is measured by `cargo bench --bench rehydrate`, not here.)
        let changes = diff(&old, &new);
        assert_eq!(paths(&changes), vec![".key05000.n"]);
    }
}
