//! The seal commands as the seal tests run them (in `dir`, against `db`).

use std::path::Path;

use serde_json::Value;

use super::evscope;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(dir: &Path, db: &str, args: &[&str]) -> Run {
    let o = evscope(dir)
        .arg("--db")
        .arg(db)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// Seal into `dir/name` and return the receipt.
pub fn seal(dir: &Path, db: &str, name: &str, extra: &[&str]) -> Value {
    let mut args = vec!["seal", "--out", name, "--format", "json", "--quiet"];
    args.extend_from_slice(extra);
    let r = run(dir, db, &args);
    assert_eq!(r.code, 0, "seal {extra:?}: {}{}", r.stdout, r.stderr);
    let receipt: Value = serde_json::from_str(&r.stdout).expect("receipt JSON");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
    assert_eq!(receipt, file, "the output is the receipt written");
    receipt
}

/// The root of a seal to standard output (no files).
pub fn root(dir: &Path, db: &str, extra: &[&str]) -> String {
    let mut args = vec!["seal", "--format", "json", "--quiet"];
    args.extend_from_slice(extra);
    let r = run(dir, db, &args);
    assert_eq!(r.code, 0, "seal {extra:?}: {}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["root"].as_str().unwrap().to_string()
}

/// `verify-seal RECEIPT --format json`: the exit code, the report, standard error.
pub fn verify(dir: &Path, db: &str, receipt: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["verify-seal", receipt, "--format", "json", "--quiet"];
    args.extend_from_slice(extra);
    let r = run(dir, db, &args);
    let v = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    (r.code, v, r.stderr)
}
