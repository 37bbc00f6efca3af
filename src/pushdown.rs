//! Which parts of a filter's jq program the database can answer first.
//!
//! The program is parsed by jaq's own parser (the same parse that runs it), and only its
//! top-level conjunction is looked at: a program `C` or `select(C)`, where `C` is `A and B and
//! …`. The conjuncts are taken in the order jq evaluates them, from the first, as long as each
//! is a condition: a comparison — a string equality on a column or a path of `data` /
//! `metadata` (`.event_id == "…"`, `"Ana" == .data.owner`), a comparison of such a path with a
//! number (`.data.amount > 9990`, `5 == .data.n`), `FIELD | test("regex")` — or comparisons
//! combined with `and`, `or`, `not` (`C | not`) and `!=` (`X == v | not` in jq). Each
//! comparison becomes a [`store::pushdown::Atom`], and the first conjunct that is anything else
//! ends the list (it could fail on a row, and a failure must reach the user, so nothing after
//! it may drop rows). The store keeps exactly the rows on which the program could be true or
//! fail (see `store::pushdown`). Anything else — a pipe after `select`, a comma, a definition,
//! a string compared by order, an optional path, `test` with flags — is not translated: the
//! program still runs on every row returned, so the results are the same whether or not
//! anything was pushed.
//!
//! [`store::pushdown::Atom`]: crate::store::pushdown::Atom

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::path::{Opt, Part};

use jaq_core::ops::Cmp as JqCmp;

use crate::store::pushdown::{Atom, Cmp, Cond, Field, Lit};

/// The leading conditions of a program's top-level conjunction, in evaluation order (none
/// when it does not parse: the compile reports that).
pub fn atoms(program: &str) -> Vec<Cond> {
    let Ok(tokens) = jaq_core::load::Lexer::new(program).lex() else {
        return Vec::new();
    };
    let Ok(term) = jaq_core::load::Parser::new(&tokens).parse(|p| p.term()) else {
        return Vec::new();
    };
    let body = match &term {
        Term::Call("select", args) if args.len() == 1 => &args[0],
        t => t,
    };
    let mut out = Vec::new();
    conjuncts(body, &mut out);
    out
}

/// Push the conjuncts of `t` in evaluation order; false once one is not a condition (the
/// list ends there).
fn conjuncts(t: &Term<&str>, out: &mut Vec<Cond>) -> bool {
    match t {
        Term::BinOp(l, BinaryOp::And, r) => conjuncts(l, out) && conjuncts(r, out),
        // `(C)`: the same term.
        Term::Path(inner, path) if path.0.is_empty() => conjuncts(inner, out),
        t => match cond(t) {
            Some(c) => {
                out.push(c);
                true
            }
            None => false,
        },
    }
}

/// A condition built of comparisons with `and`, `or`, `not` and `!=` (`None` when any part of
/// it is anything else).
fn cond(t: &Term<&str>) -> Option<Cond> {
    match t {
        Term::Path(inner, path) if path.0.is_empty() => cond(inner),
        Term::BinOp(_, BinaryOp::And, _) => {
            let mut all = Vec::new();
            flat(t, &|op| matches!(op, BinaryOp::And), &mut all)?;
            Some(Cond::All(all))
        }
        Term::BinOp(_, BinaryOp::Or, _) => {
            let mut any = Vec::new();
            flat(t, &|op| matches!(op, BinaryOp::Or), &mut any)?;
            Some(Cond::Any(any))
        }
        // `C | not`; `FIELD | test("re")`; `FIELD | test("re") | not` (a pipe binds to the
        // right: `FIELD | (test | not)`).
        Term::BinOp(l, BinaryOp::Pipe(None), r) => {
            if is_not(r) {
                return Some(Cond::Not(Box::new(cond(l)?)));
            }
            if let Some(a) = test(l, r) {
                return Some(Cond::Atom(a));
            }
            match &**r {
                Term::BinOp(r1, BinaryOp::Pipe(None), r2) if is_not(r2) => {
                    Some(Cond::Not(Box::new(Cond::Atom(test(l, r1)?))))
                }
                _ => None,
            }
        }
        Term::BinOp(l, BinaryOp::Cmp(JqCmp::Ne), r) => {
            let eq = comparison(l, Cmp::Eq, r).or_else(|| comparison(r, Cmp::Eq, l))?;
            Some(Cond::Not(Box::new(Cond::Atom(eq))))
        }
        t => atom(t).map(Cond::Atom),
    }
}

/// The operands of a chain of one operator (`A or B or C`), each a condition.
fn flat(t: &Term<&str>, op: &dyn Fn(&BinaryOp<&str>) -> bool, out: &mut Vec<Cond>) -> Option<()> {
    match t {
        Term::BinOp(l, o, r) if op(o) => {
            flat(l, op, out)?;
            flat(r, op, out)
        }
        Term::Path(inner, path) if path.0.is_empty() => match &**inner {
            Term::BinOp(_, o, _) if op(o) => flat(inner, op, out),
            _ => {
                out.push(cond(t)?);
                Some(())
            }
        },
        t => {
            out.push(cond(t)?);
            Some(())
        }
    }
}

fn is_not(t: &Term<&str>) -> bool {
    matches!(t, Term::Call("not", args) if args.is_empty())
}

/// `FIELD | test("literal regex")`.
fn test(path: &Term<&str>, call: &Term<&str>) -> Option<Atom> {
    let Term::Call("test", args) = call else {
        return None;
    };
    let re = match args.as_slice() {
        [re] => literal(re)?,
        // Flags as the regex's own inline flags, read the same way (`g` and `n` change
        // nothing for `test`; an unknown flag fails in jq: not pushed).
        [re, flags] => {
            let mut inline = String::new();
            for f in literal(flags)?.chars() {
                match f {
                    'g' | 'n' => {}
                    'i' | 'm' | 's' | 'x' => inline.push(f),
                    'l' => inline.push('U'),
                    'p' => inline.push_str("ms"),
                    _ => return None,
                }
            }
            let re = literal(re)?;
            if inline.is_empty() {
                re
            } else {
                format!("(?{inline}){re}")
            }
        }
        _ => return None,
    };
    let field = field(path)?;
    Some(Atom {
        field,
        cmp: Cmp::Matches,
        value: Lit::Str(re),
    })
}

/// A comparison of a field with a literal, either way round.
fn atom(t: &Term<&str>) -> Option<Atom> {
    let Term::BinOp(l, BinaryOp::Cmp(op), r) = t else {
        return None;
    };
    let cmp = cmp_of(*op)?;
    comparison(l, cmp, r).or_else(|| comparison(r, cmp.flipped(), l))
}

fn cmp_of(op: JqCmp) -> Option<Cmp> {
    Some(match op {
        JqCmp::Eq => Cmp::Eq,
        JqCmp::Lt => Cmp::Lt,
        JqCmp::Le => Cmp::Le,
        JqCmp::Gt => Cmp::Gt,
        JqCmp::Ge => Cmp::Ge,
        JqCmp::Ne => return None,
    })
}

/// The field a path names: a column, or a path of keys in data or metadata.
fn field(path: &Term<&str>) -> Option<Field> {
    let keys = keys(path)?;
    let (root, rest) = keys.split_first()?;
    Some(match (root.as_str(), rest) {
        ("event_id", []) => Field::EventId,
        ("stream_id", []) => Field::StreamId,
        ("event_type", []) => Field::EventType,
        ("data", k) if !k.is_empty() => Field::Data(k.to_vec()),
        ("metadata", k) if !k.is_empty() => Field::Metadata(k.to_vec()),
        _ => return None,
    })
}

/// `path OP literal`, a string or a number with any comparison (strings are ordered as jq
/// orders them, by their bytes: the store writes that without the database's collation).
fn comparison(path: &Term<&str>, cmp: Cmp, lit: &Term<&str>) -> Option<Atom> {
    let value = match (literal(lit), number(lit)) {
        (Some(s), _) => Lit::Str(s),
        (None, Some(n)) => n,
        _ => return None,
    };
    let field = field(path)?;
    if matches!(value, Lit::Num { .. }) && !matches!(field, Field::Data(_) | Field::Metadata(_)) {
        return None;
    }
    Some(Atom { field, cmp, value })
}

/// A number literal (`9990`, `-1.5`, `1e3`) that is finite as jq reads it.
fn number(t: &Term<&str>) -> Option<Lit> {
    let (neg, t) = match t {
        Term::Neg(inner) => (true, &**inner),
        t => (false, t),
    };
    let Term::Num(text) = t else {
        return None;
    };
    let v: f64 = text.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some(Lit::Num {
        text: if neg {
            format!("-{text}")
        } else {
            text.to_string()
        },
        value: if neg { -v } else { v },
    })
}

/// A string without interpolation or format, as jq reads it.
fn literal(t: &Term<&str>) -> Option<String> {
    let Term::Str(None, parts) = t else {
        return None;
    };
    let mut s = String::new();
    for p in parts {
        match p {
            StrPart::Str(text) => s.push_str(text),
            StrPart::Char(c) => s.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some(s)
}

/// `.a.b."c"` (keys only, none optional) from the event itself.
fn keys(t: &Term<&str>) -> Option<Vec<String>> {
    let Term::Path(head, path) = t else {
        return None;
    };
    if !matches!(**head, Term::Id) {
        return None;
    }
    let mut out = Vec::new();
    for (part, opt) in &path.0 {
        if !matches!(opt, Opt::Essential) {
            return None;
        }
        let Part::Index(i) = part else {
            return None;
        };
        out.push(literal(i)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(p: &str) -> Vec<String> {
        atoms(p).iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_top_level_conjunction_of_string_equalities_is_pushed() {
        assert_eq!(shown(r#".event_id == "e-1""#), [r#".event_id == "e-1""#]);
        assert_eq!(
            shown(r#"select(.data.owner.name == "Ana" and "T" == .event_type)"#),
            [r#".data.owner.name == "Ana""#, r#".event_type == "T""#]
        );
        assert_eq!(
            shown(r#"select(.metadata."correlation-id" == "c\"1" and .data.amount > 10)"#),
            [
                r#".metadata["correlation-id"] == "c\"1""#,
                ".data.amount > 10"
            ]
        );
        // Numbers: any comparison, the literal on either side (flipped to the path's side).
        assert_eq!(
            shown(r#"select(.data.amount > 9990) "#),
            [".data.amount > 9990"]
        );
        assert_eq!(
            shown(r#"5 <= .data.n and .data.x < -1.5 and 2e3 == .metadata.v and 0 > .data.y"#),
            [
                ".data.n >= 5",
                ".data.x < -1.5",
                ".metadata.v == 2e3",
                ".data.y < 0"
            ]
        );
        assert_eq!(shown(r#".stream_id == "a" and (.x == "b")"#).len(), 1);
        // After a conjunct that is not pushed nothing is taken: it could fail on a row
        // that a later condition would drop, and the failure must be seen.
        assert!(shown(r#".data.amount | tostring == "10" and .event_type == "T""#).is_empty());
        assert_eq!(
            shown(
                r#".event_type == "T" and (.data.amount | tostring) == "1" and .stream_id == "s""#
            ),
            [r#".event_type == "T""#]
        );
        // `!=` and `not` are the negation of what they apply to; `test` with a string.
        assert_eq!(
            shown(r#".data.amount != 10 and .event_type != "T""#),
            [
                "(.data.amount == 10 | not)",
                r#"(.event_type == "T" | not)"#
            ]
        );
        assert_eq!(
            shown(r#"select((.event_id == "a" or .stream_id == "s") | not)"#),
            [r#"((.event_id == "a" or .stream_id == "s") | not)"#]
        );
        assert_eq!(
            shown(r#".data.owner.name | test("^An+a")"#),
            [r#".data.owner.name | test("^An+a")"#]
        );
        assert_eq!(
            shown(r#".event_type == "T" and (.stream_id | test("x") | not)"#),
            [r#".event_type == "T""#, r#"(.stream_id | test("x") | not)"#]
        );
        // An `and` inside an `or`.
        assert_eq!(
            shown(r#".event_id == "a" and .event_type == "b" or .stream_id == "c""#),
            [r#"((.event_id == "a" and .event_type == "b") or .stream_id == "c")"#]
        );
        assert_eq!(
            shown(r#"(.stream_id == "a" and (.event_id == "b"))"#),
            [r#".stream_id == "a""#, r#".event_id == "b""#]
        );
        // A disjunction of comparisons is one condition.
        assert_eq!(
            shown(
                r#"select((.event_type == "A" or .event_type == "B" or (.data.n > 3)) and .stream_id == "s")"#
            ),
            [
                r#"(.event_type == "A" or .event_type == "B" or .data.n > 3)"#,
                r#".stream_id == "s""#
            ]
        );
    }

    #[test]
    fn test_flags_become_the_regex_inline_flags() {
        assert_eq!(
            shown(r#"(.data.x | test("ab"; "ix")) and (.event_type | test("c"; "gn"))"#),
            [r#".data.x | test("(?ix)ab")"#, r#".event_type | test("c")"#]
        );
    }

    #[test]
    fn strings_are_compared_in_either_order() {
        assert_eq!(
            shown(r#".data.owner < "b" and "m" < .event_type and .stream_id >= "s-1""#),
            [
                r#".data.owner < "b""#,
                r#".event_type > "m""#,
                r#".stream_id >= "s-1""#
            ]
        );
    }

    /// Anything that could keep an event where the equality is false is left to jq alone.
    #[test]
    fn what_is_not_implied_is_not_pushed() {
        for p in [
            r#"select(.event_id == "a") | .data"#,
            r#".event_id == "a", true"#,
            r#"def select(f): true; select(.event_id == "a")"#,
            r#".stream_version > 5"#,
            r#".event_type == 5"#,
            r#".data.amount > 1e999"#,
            r#".data.amount > (1 + 1)"#,
            r#".data.owner? == "Ana""#,
            r#".data["own\(1)er"] == "Ana""#,
            r#".data.owner == "A\(.x)""#,
            r#".data == "x""#,
            r#".data.items[0] == "x""#,
            r#".data.items[] == "x""#,
            r#"$x == "a""#,
            r#"if .event_id == "a" then true else true end"#,
            r#".version == "a""#,
            "not valid jq ((",
            r#".event_id == "a" | not | not"#,
            r#".data.x | test("a"; "q")"#,
            r#".data.x | test("a"; .f)"#,
            r#".data.x | test(.y)"#,
            r#".data.x | test("a") | . "#,
            r#"(.event_id == "a" | not) | ."#,
            r#".data.x | not"#,
            r#"not"#,
            r#".data.x != .data.y"#,
        ] {
            assert!(atoms(p).is_empty(), "{p}: {:?}", atoms(p));
        }
    }
}
