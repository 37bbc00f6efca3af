//! jq (jaq) as evscope uses it, in one place: the standard definitions and functions, the
//! program type, and the bridge between serde_json values and jaq values. The filter language
//! (`filter`) and the reducers (`rehydrate::reducer`) both build on it; each formats its own
//! errors.

use jaq_core::data;
use jaq_json::{Num, Val};
use serde_json::Value;

/// The data kind every evscope jq program runs on.
pub type Data = data::JustLut<Val>;

/// jq's, jaq's standard and jaq-json's definitions (`select`, `map`, `test`, ...).
pub fn defs() -> impl Iterator<Item = jaq_core::load::parse::Def<&'static str>> {
    jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
}

/// The native functions that go with [`defs`].
pub fn funs() -> impl Iterator<Item = jaq_core::native::Fun<Data>> {
    jaq_core::funs::<Data>()
        .chain(jaq_std::funs::<Data>())
        .chain(jaq_json::funs::<Data>())
}

/// Parse and compile `src` with [`defs`] and [`funs`], and `vars` as global variables. The
/// caller words the errors: `load_err` when it does not parse, `compile_err` when it names
/// what is not defined (the errors borrow from the parse, so they are turned into `E` here).
pub fn compile<E>(
    src: &str,
    vars: &[&'static str],
    load_err: impl FnOnce(jaq_core::load::Errors<&str, ()>) -> E,
    compile_err: impl FnOnce(jaq_core::compile::Errors<&str, ()>) -> E,
) -> Result<jaq_core::Filter<Data>, E> {
    use jaq_core::load::{Arena, File, Loader};
    let arena = Arena::default();
    let modules = Loader::new(defs())
        .load(
            &arena,
            File {
                code: src,
                path: (),
            },
        )
        .map_err(load_err)?;
    jaq_core::Compiler::default()
        .with_funs(funs())
        .with_global_vars(vars.iter().copied())
        .compile(modules)
        .map_err(compile_err)
}

pub fn key(k: &str) -> Val {
    Val::from(k.to_string())
}

pub fn int(i: i64) -> Val {
    Val::Num(Num::from_integral(i))
}

pub fn json_to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => int(i),
            (None, Some(u)) => Val::Num(Num::from_integral(u)),
            _ => n.as_f64().map_or(Val::Null, Val::from),
        },
        Value::String(s) => Val::from(s.clone()),
        Value::Array(a) => a.iter().map(json_to_val).collect(),
        Value::Object(o) => Val::obj(o.iter().map(|(k, v)| (key(k), json_to_val(v))).collect()),
    }
}

pub fn val_to_json(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => match n {
            Num::Int(i) => Value::from(*i as i64),
            Num::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            other => serde_json::from_str(&other.to_string()).unwrap_or(Value::Null),
        },
        Val::TStr(s) | Val::BStr(s) => Value::String(String::from_utf8_lossy(s).into_owned()),
        Val::Arr(a) => Value::Array(a.iter().map(val_to_json).collect()),
        Val::Obj(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let k = match k {
                        Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                        other => other.to_string(),
                    };
                    (k, val_to_json(v))
                })
                .collect(),
        ),
    }
}

/// The text of a jq runtime error; `halt` is refused rather than obeyed (jaq's own helper
/// would exit the process).
pub fn exn_text(exn: jaq_core::Exn<Val>, what: &str) -> String {
    match exn.get_err() {
        Ok(e) => match e.into_val() {
            Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(&s).into_owned(),
            v => v.to_string(),
        },
        Err(exn) => match exn.get_halt() {
            Ok(code) => format!("halt({code}) is not supported in a {what}"),
            Err(_) => "internal jq error".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_between_serde_and_jaq() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}, "big": 12345678901234i64});
        assert_eq!(val_to_json(&json_to_val(&v)), v);
    }
}
