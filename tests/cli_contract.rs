//! The command line's contract with scripts: every command in every format (`json` one
//! document, `jsonl` one object per line, `table` with a header), the exit codes, the connect
//! timeout, and tables that line up whatever characters the store holds.

mod common;

use common::evscope;
use serde_json::Value;

/// The demo store in `dir` (where `evscope` without `--db` opens it), created small.
fn demo(dir: &std::path::Path) {
    evscope(dir)
        .args(["demo", "--accounts", "8"])
        .assert()
        .success();
}

/// stdout of a run that exits with `code`.
fn run(dir: &std::path::Path, args: &[&str], code: i32) -> String {
    let out = evscope(dir).args(args).output().unwrap();
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn every_command_keeps_the_format_contract() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let jobs = dir.path().join("replay.jsonl");
    let sink = format!("jsonl:{}", jobs.display());
    // One job done, for `replay jobs` to list.
    run(
        dir.path(),
        &[
            "replay",
            "--stream",
            "account-0002",
            "--sink",
            &sink,
            "--yes",
            "--quiet",
        ],
        0,
    );
    // (arguments, exit code): verify-snapshots finds the demo's drifted snapshots (1).
    let commands: Vec<(Vec<&str>, i32)> = vec![
        (vec!["streams", "--limit", "5"], 0),
        (vec!["log", "--limit", "5"], 0),
        (vec!["log", "--limit", "5", "--where", "type:Deposited"], 0),
        (vec!["events", "account-0001", "--limit", "5"], 0),
        (vec!["info"], 0),
        (vec!["demo"], 0),
        (vec!["audit"], 0),
        (vec!["verify-snapshots"], 1),
        (vec!["rehydrate", "account-0001"], 0),
        (vec!["rehydrate", "account-0001", "--at", "3", "--trace"], 0),
        (
            vec![
                "replay",
                "--stream",
                "account-0001",
                "--sink",
                &sink,
                "--dry-run",
            ],
            0,
        ),
        (vec!["replay", "jobs"], 0),
        (vec!["consumers"], 0),
        (
            vec!["seal", "--from-position", "1", "--to-position", "50"],
            0,
        ),
    ];
    for (args, code) in &commands {
        let with = |f: &'static str| {
            let mut a = args.clone();
            a.extend(["--format", f]);
            a
        };
        let json = run(dir.path(), &with("json"), *code);
        let doc: Result<Value, _> = serde_json::from_str(&json);
        assert!(
            doc.is_ok(),
            "{args:?} --format json is one document: {json}"
        );
        let lines = run(dir.path(), &with("jsonl"), *code);
        assert!(
            !lines.trim().is_empty(),
            "{args:?} --format jsonl printed nothing"
        );
        for line in lines.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{args:?} --format jsonl: {e}: {line:?}"));
            assert!(v.is_object(), "{args:?} --format jsonl: {line}");
        }
        let table = run(dir.path(), &with("table"), *code);
        assert!(!table.trim().is_empty(), "{args:?} --format table");
    }
    // The same names in every format: the audit's kinds as JSON writes them.
    let table = run(dir.path(), &["audit", "--format", "table"], 0);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("SEVERITY") && header.contains("KIND"),
        "the audit table has a header: {table}"
    );
    let verify = run(dir.path(), &["verify-snapshots"], 1);
    assert!(verify.starts_with("STATUS"), "{verify}");
    assert!(verify.contains("DRIFTED  account-"), "{verify}");
    let state = run(
        dir.path(),
        &["rehydrate", "account-0001", "--format", "table"],
        0,
    );
    assert!(state.starts_with("PATH"), "{state}");
    assert!(state.contains(".balance"), "{state}");
    let trace = run(
        dir.path(),
        &[
            "rehydrate",
            "account-0001",
            "--at",
            "2",
            "--trace",
            "--format",
            "table",
        ],
        0,
    );
    assert!(trace.starts_with("VERSION"), "{trace}");
    assert_eq!(trace.lines().count(), 3, "{trace}");
    // Without --format, rehydrate keeps what scripts read: the state as JSON, the trace as
    // JSON lines.
    let state: Value =
        serde_json::from_str(&run(dir.path(), &["rehydrate", "account-0001"], 0)).unwrap();
    assert!(state["balance"].is_number(), "{state}");
    let trace = run(
        dir.path(),
        &["rehydrate", "account-0001", "--at", "2", "--trace"],
        0,
    );
    assert_eq!(trace.lines().count(), 2, "{trace}");
    // jsonl of a multi-part document: the parts one per line, the summary last.
    let audit = run(dir.path(), &["verify-snapshots", "--format", "jsonl"], 1);
    let last: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert!(last["summary"]["drifted"].as_u64() > Some(0), "{last}");
    let checks = audit.lines().count() - 1;
    assert_eq!(
        Some(checks as u64),
        last["summary"]["checked"].as_u64(),
        "one line per checked snapshot"
    );
}

/// A listener that takes connections (the kernel completes the handshake) and never says a
/// word: a server that hangs, or a port a proxy holds open.
fn silent_server() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn a_server_that_does_not_answer_fails_within_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_held, port) = silent_server();
    for url in [
        format!("postgres://alice:Sup3rS3cret@127.0.0.1:{port}/app"),
        format!("mysql://alice:Sup3rS3cret@127.0.0.1:{port}/app"),
    ] {
        let out = evscope(dir.path())
            .args(["--connect-timeout", "1s", "--db", &url, "streams"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains("no answer within 1s"), "{err}");
        assert!(
            err.contains(&format!("127.0.0.1:{port}")),
            "names the host: {err}"
        );
        assert!(!err.contains("Sup3rS3cret"), "{err}");
    }
    // From the config file, for a profile and for every connection.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "connect_timeout = \"3s\"\n[profiles.slow]\ndb = \"postgres://x@127.0.0.1:{port}/app\"\nconnect_timeout = \"500ms\"\n"
        ),
    )
    .unwrap();
    let out = evscope(dir.path())
        .env("EVSCOPE_CONFIG", &config)
        .args(["--profile", "slow", "streams"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no answer within 0.5s"), "{err}");
    let out = evscope(dir.path())
        .env("EVSCOPE_CONFIG", &config)
        .args([
            "--db",
            &format!("postgres://x@127.0.0.1:{port}/app"),
            "info",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer within 3s"),
        "{out:?}"
    );
    // A refused connection says so at once, with its cause (not "pool timed out").
    drop(_held);
    let out = evscope(dir.path())
        .args([
            "--db",
            &format!("postgres://x@127.0.0.1:{port}/app"),
            "info",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Connection refused"), "{err}");
    // A timeout that means nothing is a usage error, in the flag and in the file.
    evscope(dir.path())
        .args(["--connect-timeout", "0", "info"])
        .assert()
        .code(2);
    std::fs::write(&config, "connect_timeout = \"soon\"\n").unwrap();
    let out = evscope(dir.path())
        .env("EVSCOPE_CONFIG", &config)
        .args(["info"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("connect_timeout"), "{err}");
}

/// Stream ids with wide characters (CJK, emoji) and combining marks: every column of a table
/// starts at the same terminal column on every line.
#[test]
fn tables_line_up_with_wide_and_combining_characters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.db");
    let mut sql = std::fs::read_to_string(common::fixture_path("native/sqlite.sql")).unwrap();
    for (i, stream) in ["order-東京-🚀", "cafe\u{301}-1", "plain-1"]
        .iter()
        .enumerate()
    {
        sql.push_str(&format!(
            "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES ('{stream}', 1, 'e{i}', '{}', '{{}}');\n",
            if i == 1 { "注文Placed" } else { "Placed" }
        ));
    }
    common::sqlite3(&path, &sql);
    let db = format!("sqlite://{}", path.display());
    for args in [vec!["streams"], vec!["log"]] {
        let mut a = vec!["--db", db.as_str()];
        a.extend(args.iter());
        let text = run(dir.path(), &a, 0);
        // Where each column starts on each line, in terminal columns (columns are apart by
        // two spaces or more; no cell here holds two spaces).
        let starts: Vec<Vec<usize>> = text
            .lines()
            .map(|l| {
                let mut v = Vec::new();
                let mut spaces = 0;
                for (i, c) in l.char_indices() {
                    if c == ' ' {
                        spaces += 1;
                    } else {
                        if spaces >= 2 {
                            v.push(evscope::output::width(&l[..i]));
                        }
                        spaces = 0;
                    }
                }
                v
            })
            .collect();
        let n = starts.iter().map(Vec::len).min().unwrap();
        assert!(n >= 3, "{text}");
        assert!(
            starts.iter().all(|s| s[..n] == starts[0][..n]),
            "{args:?}:\n{text}{starts:?}"
        );
        assert_eq!(starts.len(), 4, "{text}");
    }
    // The replay plan's histograms: a header, and the counts in one column.
    let sink = format!("jsonl:{}", dir.path().join("plan.jsonl").display());
    let text = run(
        dir.path(),
        &["--db", db.as_str(), "replay", "--sink", &sink, "--dry-run"],
        0,
    );
    let lines: Vec<&str> = text.lines().collect();
    for header in ["TYPE", "CATEGORY"] {
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(header))
            .unwrap_or_else(|| panic!("no {header} header:\n{text}"));
        assert!(lines[at].contains("EVENTS"), "{text}");
        let block: Vec<&str> = std::iter::once(lines[at])
            .chain(
                lines[at + 1..]
                    .iter()
                    .take_while(|l| {
                        l.starts_with("  ") && !l.trim().is_empty() && !l.contains("EVENTS")
                    })
                    .copied(),
            )
            .collect();
        assert!(block.len() >= 3, "{header}: {block:?}");
        let count_at = |l: &str| {
            let i = l.trim_end().rfind(' ').unwrap() + 1;
            evscope::output::width(&l[..i])
        };
        let want = count_at(block[0]);
        assert!(
            block.iter().all(|l| count_at(l) == want),
            "{header}:\n{}",
            block.join("\n")
        );
    }
}
