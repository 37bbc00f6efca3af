//! jq (jaq) as evscope uses it, in one place: the standard definitions and functions, the
//! program type, and the bridge between serde_json values and jaq values. The filter language
//! (`filter`) and the reducers (`rehydrate::reducer`) both build on it; each formats its own
//! errors.

use jaq_core::data;
use jaq_json::{Num, Rc, Val};
use serde_json::Value;

use crate::exact;
use crate::store::Event;

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

/// An event's `data` as jq sees it: read from the stored text when that holds numbers the
/// `Value` does not hold exactly (see [`exact_to_val`]).
pub fn data_val(e: &Event) -> Val {
    e.data_text()
        .and_then(exact_to_val)
        .unwrap_or_else(|| json_to_val(&e.data))
}

/// An event's `metadata` as jq sees it (see [`data_val`]).
pub fn metadata_val(e: &Event) -> Val {
    e.metadata_text()
        .and_then(exact_to_val)
        .unwrap_or_else(|| json_to_val(&e.metadata))
}

/// The most digits of an integer written in another notation (`1e400`) that jq gets as an
/// integer; a longer one is a decimal.
const MAX_INTEGER_DIGITS: usize = 4096;

/// JSON text as jq sees it, its numbers exact: the same value as [`json_to_val`] of its
/// `Value` (objects in key order), except that a number the `Value` does not hold exactly is
/// an integer when it is one (`12345678901234567890123`, `1e400`: compared exactly), else a
/// decimal kept as its text (`0.1000000000000000000001`: written as it is, but jaq compares
/// and computes with decimals as `f64`s).
/// `None` when the text is not valid JSON.
pub fn exact_to_val(text: &str) -> Option<Val> {
    fn num(n: &str) -> Val {
        if exact::survives(n) {
            if let Ok(Value::Number(v)) = serde_json::from_str::<Value>(n) {
                return json_to_val(&Value::Number(v));
            }
        }
        exact::integer_digits(n, MAX_INTEGER_DIGITS)
            .and_then(|i| Num::from_str_radix(&i, 10))
            .map_or_else(|| Val::Num(Num::Dec(Rc::new(n.to_string()))), Val::Num)
    }
    fn fix(v: &Val) -> Val {
        match v {
            Val::Num(Num::Dec(n)) => num(n),
            Val::Arr(a) => a.iter().map(fix).collect(),
            Val::Obj(o) => {
                let mut kv: Vec<(Val, Val)> = o.iter().map(|(k, v)| (k.clone(), fix(v))).collect();
                kv.sort_by(|a, b| a.0.cmp(&b.0));
                Val::obj(kv.into_iter().collect())
            }
            other => other.clone(),
        }
    }
    jaq_json::read::parse_single(text.as_bytes())
        .ok()
        .map(|v| fix(&v))
}

pub fn val_to_json(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => match n {
            Num::Int(i) => Value::from(*i as i64),
            Num::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            // Beyond an f64 (a big integer, a decimal): as evscope reads such a number.
            other => exact::parse(&other.to_string()).map_or(Value::Null, |(v, _)| v),
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

    #[test]
    fn exact_text_gives_jq_its_numbers() {
        let text = r#"{"n": 12345678901234567890123, "huge": 1e400, "d": 0.1000000000000000000001,
            "f": 0.10, "i": 42, "a": [1E2, -3, "x"]}"#;
        let v = exact_to_val(text).unwrap();
        let (value, _) = crate::exact::parse(text).unwrap();
        let get = |k: &str| v.clone().index(&key(k)).unwrap();
        use jaq_core::ValT;
        let big = |s: &str| Val::Num(Num::from_str_radix(s, 10).unwrap());
        assert_eq!(get("n"), big("12345678901234567890123"));
        assert!(matches!(get("n"), Val::Num(Num::BigInt(_))));
        assert_eq!(get("huge").to_string(), format!("1{}", "0".repeat(400)));
        assert!(matches!(get("d"), Val::Num(Num::Dec(ref d)) if **d == "0.1000000000000000000001"));
        // The numbers a Value holds exactly are as `json_to_val` has them.
        for k in ["f", "i", "a"] {
            assert_eq!(get(k), json_to_val(&value[k]), "{k}");
            assert_eq!(
                get(k).to_string(),
                json_to_val(&value[k]).to_string(),
                "{k}"
            );
        }
        // Keys in the order of the Value's map.
        let keys: Vec<String> = (v.clone().key_values())
            .map(|kv| kv.unwrap().0.to_string())
            .collect();
        assert_eq!(
            keys,
            ["\"a\"", "\"d\"", "\"f\"", "\"huge\"", "\"i\"", "\"n\""]
        );
        assert_eq!(exact_to_val("{oops"), None);
        // Back to a Value: as evscope reads such numbers.
        assert_eq!(val_to_json(&get("huge")), serde_json::json!(1e308));
    }
}
