//! The real binary in a real terminal (tmux): open, scroll to the end, filter, open an event,
//! quit — against the demo store and against PostgreSQL — read back with `capture-pane`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, TempDb, available};

struct Tmux {
    name: String,
}

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("tmux is not installed, and CI=true requires the terminal tests");
        }
        eprintln!("\n!!! SKIPPED: tmux is not installed; the terminal tests did not run !!!\n");
    }
    ok
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        Tmux::start_sized(cmd, 120, 32)
    }

    fn start_sized(cmd: &str, w: u16, h: u16) -> Tmux {
        let name = common::unique_name("tmux");
        let (w, h) = (w.to_string(), h.to_string());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", &w, "-y", &h])
            .arg(format!("{cmd}; echo EXITED=$?; sleep 60"))
            .status()
            .expect("tmux new-session");
        assert!(status.success());
        Tmux { name }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let st = Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .unwrap();
            assert!(st.success());
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Keys sent in one `send-keys`: they reach the program in one burst.
    fn burst(&self, key: &str, n: usize) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(std::iter::repeat_n(key, n))
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn literal(&self, text: &str) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", text])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// The screen with its colours (SGR sequences).
    fn screen_colours(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-e", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// A tmux format variable of the pane (`cursor_flag`, `alternate_on`).
    fn flag(&self, name: &str) -> String {
        let out = Command::new("tmux")
            .args([
                "display-message",
                "-p",
                "-t",
                &self.name,
                &format!("#{{{name}}}"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until the screen satisfies `pred`; the screen is in the panic message otherwise.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// The status line's "position N of M".
fn position(screen: &str) -> Option<(i64, i64)> {
    let i = screen.find("position ")?;
    let rest = &screen[i + 9..];
    let mut it = rest.split_whitespace();
    let p = it.next()?.parse().ok()?;
    (it.next()? == "of").then_some(())?;
    let h = it.next()?.parse().ok()?;
    Some((p, h))
}

fn session(t: &Tmux, expect_type: &str) {
    // Opens at the newest event.
    let s = t.wait("the log with data", |s| {
        s.contains("Global log") && position(s).is_some()
    });
    let (p, head) = position(&s).unwrap();
    assert_eq!(p, head, "opens at the newest event:\n{s}");
    // Home, then End again.
    t.keys(&["Home"]);
    t.wait("position 1", |s| position(s).is_some_and(|(p, _)| p == 1));
    t.keys(&["End"]);
    t.wait("the newest event", |s| {
        position(s).is_some_and(|(p, h)| p == h)
    });
    // Filter by type.
    t.keys(&["/"]);
    t.wait("the filter input", |s| s.contains("Filter"));
    t.literal(&format!("type:{expect_type}"));
    t.keys(&["Enter"]);
    let s = t.wait("filtered rows", |s| {
        s.contains(&format!("type:{expect_type}")) && !s.contains("loading")
    });
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("│") && l.contains("20"))
        .collect();
    assert!(!rows.is_empty(), "{s}");
    for r in &rows {
        assert!(r.contains(expect_type), "a row of another type: {r}\n{s}");
    }
    // Open the selected event.
    t.keys(&["Enter"]);
    let s = t.wait("the detail pane", |s| {
        s.contains("metadata") && s.contains("event_id")
    });
    assert!(s.contains(expect_type), "{s}");
    // Help, then quit: the terminal is given back (the shell's echo shows).
    t.keys(&["Escape", "?"]);
    t.wait("the help", |s| s.contains("Keys ·"));
    t.keys(&["x", "q"]);
    let s = t.wait("exit", |s| s.contains("EXITED="));
    assert!(s.contains("EXITED=0"), "{s}");
    assert!(
        !s.contains("Global log"),
        "the alternate screen is gone:\n{s}"
    );
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_evscope")
}

#[test]
fn demo_store_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let t = Tmux::start(&format!(
        "env -u DATABASE_URL EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} ",
        bin()
    ));
    session(&t, "Withdrawn");
}

/// What a new user tripped over, in a 60×15 terminal: the selection on screen, the status
/// line cut after whole words, a filter set on the stream list staying there (the log shows
/// and replays the whole log), a burst of `l` in time travel counting every press.
#[test]
fn a_new_user_in_a_small_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let t = Tmux::start_sized(
        &format!(
            "env -u DATABASE_URL EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} ",
            bin()
        ),
        60,
        15,
    );
    let s = t.wait("the log with data", |s| {
        s.contains("Global log") && s.lines().any(|l| l.starts_with("│") && l.contains("2026-"))
    });
    let status = s.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    assert!(
        status.contains("? help"),
        "the hint is whole: {status}\n{s}"
    );
    // The newest event is selected, and its row is on screen.
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("│") && l.contains("2026-"))
        .collect();
    assert_eq!(rows.len(), 11, "a full screen of rows:\n{s}");
    // The selected row is on screen: one row has the dark theme's selection background
    // (cyan, colour 6), the newest event's.
    let coloured = t.screen_colours();
    let selected: Vec<&str> = coloured
        .lines()
        .filter(|l| l.contains("48;5;6m") || l.contains("\u{1b}[46m"))
        .collect();
    assert_eq!(selected.len(), 1, "one selected row:\n{coloured}");
    assert!(
        selected[0].contains(
            rows[10]
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .trim_start_matches('│')
        ),
        "{}",
        selected[0]
    );
    // A filter on the stream list is the stream list's.
    t.keys(&["1", "/"]);
    t.wait("the filter input", |s| s.contains("Filter"));
    t.literal("stream:account-0003");
    t.keys(&["Enter"]);
    t.wait("the filtered stream list", |s| {
        s.contains("Streams · stream:account-0003") && s.contains("account-0003")
    });
    t.keys(&["2"]);
    let s = t.wait("the log", |s| s.contains("Global log"));
    assert!(!s.contains("stream:account-0003"), "{s}");
    t.keys(&["R"]);
    t.wait("the replay dialog of the whole log", |s| {
        s.contains("Replay · the whole log")
    });
    t.keys(&["Escape"]);
    // Time travel: a burst of 30 `l` moves 30 versions.
    t.keys(&["1", "Escape", "Enter"]);
    t.wait("a stream", |s| s.contains("Stream account-0001"));
    t.keys(&["t"]);
    t.wait("time travel", |s| s.contains("Time travel"));
    t.keys(&["Home"]);
    t.wait("the first version", |s| s.contains("· v1 of"));
    t.burst("l", 30);
    t.wait("thirty versions on", |s| s.contains("· v31 of"));
    // In the stream list, typing an id jumps to it as it is typed.
    t.keys(&["Escape", "Escape", "1"]);
    t.wait("the stream list", |s| s.contains("Streams"));
    t.literal("pay");
    let s = t.wait("the list at the payments", |s| {
        s.contains("Jump") && s.lines().any(|l| l.starts_with("│payment-"))
    });
    assert!(s.contains("│pay"), "the typed text in the input:\n{s}");
    t.keys(&["Enter"]);
    t.wait("the input closed, the list still there", |s| {
        !s.contains("Jump") && s.lines().any(|l| l.starts_with("│payment-"))
    });
    t.keys(&["q"]);
    let s = t.wait("exit", |s| s.contains("EXITED="));
    assert!(s.contains("EXITED=0"), "{s}");
}

#[tokio::test]
async fn postgres_store_in_a_real_terminal() {
    if !tmux_available() || !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "tmux").await;
    db.load("message-db/postgres.sql").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let t = Tmux::start(&format!(
        "env EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} --db {}",
        bin(),
        db.url
    ));
    let s = t.wait("the status line", |s| s.contains("message-db"));
    assert!(s.contains("postgres://postgres@127.0.0.1"), "{s}");
    tokio::task::spawn_blocking(move || session(&t, "Deposited"))
        .await
        .unwrap();
}

#[test]
fn a_bad_theme_fails_before_the_terminal_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::evscope(dir.path())
        .args(["--theme", "no-such-theme"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dark, light, high-contrast"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("\x1b[?1049h"),
        "no alternate screen"
    );
}

#[test]
fn a_drifted_snapshot_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Create the demo store first, to know which snapshots it drifted on purpose.
    let out = common::evscope(dir.path())
        .args(["demo", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &doc["drifted"][0];
    let stream = d["stream_id"].as_str().unwrap().to_string();
    let version = d["stream_version"].as_i64().unwrap();
    let path = d["path"].as_str().unwrap().to_string();
    let (stored, expected) = (d["stored"].to_string(), d["expected"].to_string());
    let dd = dir.path().display();
    let t = Tmux::start(&format!(
        "env -u DATABASE_URL EVSCOPE_DATA_DIR={dd} EVSCOPE_CONFIG={dd}/none.toml {} ",
        bin()
    ));
    t.wait("the log with data", |s| {
        s.contains("Global log") && position(s).is_some()
    });
    // The stream list, narrowed to the stream, then the stream.
    t.keys(&["1"]);
    t.wait("the stream list", |s| s.contains("LAST TIME"));
    t.keys(&["/"]);
    t.wait("the filter input", |s| s.contains("Filter"));
    t.literal(&format!("stream:{stream}"));
    t.keys(&["Enter"]);
    t.wait("the stream in the list", |s| {
        s.contains(&format!("Streams · stream:{stream}")) && !s.contains("loading")
    });
    t.keys(&["Enter"]);
    t.wait("the stream", |s| s.contains(&format!("Stream {stream}")));
    // S: its snapshots, each checked against the events.
    t.keys(&["S"]);
    let s = t.wait("the snapshot list", |s| {
        s.contains(&format!("Snapshots · {stream}")) && s.contains("snapshot(s):")
    });
    let row = s
        .lines()
        .find(|l| l.starts_with(&format!("│{version} ")))
        .unwrap_or_else(|| panic!("a row for v{version}:\n{s}"));
    assert!(row.contains("drifted") && row.contains(&path), "{row}\n{s}");
    // Enter: the drifted one (selected first) side by side.
    t.keys(&["Enter"]);
    let s = t.wait("the diff", |s| {
        s.contains("Stored snapshot") && s.contains("Recomputed from the events")
    });
    assert!(
        s.contains(&format!("Snapshot · {stream} v{version} · drifted")),
        "{s}"
    );
    assert!(
        s.contains(&format!("{path}: {stored} → {expected}")),
        "the summary, stored → recomputed:\n{s}"
    );
    // The differing line is marked in both panes, on the same row.
    let key = &path[1..];
    let marked = s
        .lines()
        .find(|l| l.matches('▶').count() == 2)
        .unwrap_or_else(|| panic!("a row marked in both panes:\n{s}"));
    assert!(
        marked.contains(&format!("\"{key}\": {stored}"))
            && marked.contains(&format!("\"{key}\": {expected}")),
        "{marked}\n{s}"
    );
    t.keys(&["q"]);
    let s = t.wait("exit", |s| s.contains("EXITED="));
    assert!(s.contains("EXITED=0"), "{s}");
}

#[test]
fn replay_from_the_tui_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let out = dir.path().join("replayed.jsonl");
    let t = Tmux::start(&format!(
        "env -u DATABASE_URL EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} ",
        bin()
    ));
    t.wait("the log with data", |s| {
        s.contains("Global log") && position(s).is_some()
    });
    // Mark the newest event and the one nine above it: ten positions.
    t.keys(&["m"]);
    for _ in 0..9 {
        t.keys(&["Up"]);
    }
    t.keys(&["m"]);
    t.wait("the marks", |s| s.contains("marked: R to replay it"));
    t.keys(&["R"]);
    t.wait("the replay dialog", |s| s.contains("Replay · marked range"));
    for _ in 0..30 {
        t.keys(&["BSpace"]);
    }
    t.literal(&format!("jsonl:{}", out.display()));
    t.keys(&["Enter"]);
    let s = t.wait("the dry run", |s| s.contains("Type 10 to publish them"));
    assert!(s.contains("events   10"), "{s}");
    t.literal("10");
    t.keys(&["Enter"]);
    let s = t.wait("the job to finish", |s| s.contains("· completed"));
    assert!(s.contains("10/10 (100.0%)"), "{s}");
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(lines, 10);
    // The job is listed by the CLI, with its audit trail.
    let listed = common::evscope(dir.path())
        .args(["replay", "jobs", "--format", "json"])
        .output()
        .unwrap();
    let jobs: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"]["state"], "completed");
    t.keys(&["Escape"]);
    t.wait("the panel closed", |s| !s.contains("· completed"));
}

/// A panic in one of the TUI's tasks (not its own loop) ends the TUI at once and cleanly:
/// the process exits 1 with the message, the alternate screen is left and the cursor shown
/// (it used to go on running behind a restored screen, echoing keys, the cursor hidden).
#[test]
fn a_panic_in_a_task_ends_the_tui_cleanly() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let t = Tmux::start(&format!(
        "env -u DATABASE_URL EVSCOPE_TEST_PANIC_IN_TASK=1 EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} 2>{d}/err.txt",
        bin()
    ));
    let screen = t.wait("the exit", |s| s.contains("EXITED="));
    assert!(screen.contains("EXITED=1"), "{screen}");
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    assert!(
        err.contains("internal error, the TUI stopped")
            && err.contains("EVSCOPE_TEST_PANIC_IN_TASK"),
        "{err}"
    );
    assert_eq!(t.flag("alternate_on"), "0", "the alternate screen is left");
    assert_eq!(t.flag("cursor_flag"), "1", "the cursor is shown");
}

/// A database that takes the connection and never answers: the TUI is on the screen at once,
/// says where it connects and for how long, and `q` quits it at once, the terminal restored.
/// Left alone, the connect timeout ends it with the host and the cause.
#[test]
fn connecting_is_shown_at_once_and_q_quits() {
    if !tmux_available() {
        return;
    }
    // Accepts connections, never writes a byte.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            keep.lock().unwrap().push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let url = format!("postgres://u:s3cret@127.0.0.1:{port}/db");
    let cmd = format!(
        "env EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} --db '{url}' --connect-timeout 20s",
        bin()
    );
    let t = Tmux::start(&cmd);
    let s = t.wait("the connecting screen", |s| s.contains("connecting to"));
    assert!(
        s.contains(&format!("postgres://u:***@127.0.0.1:{port}/db")) && s.contains("up to 20s"),
        "{s}"
    );
    assert!(!s.contains("s3cret"), "{s}");
    let asked = Instant::now();
    t.keys(&["q"]);
    let s = t.wait("the TUI to quit", |s| s.contains("EXITED="));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "q took {:?}",
        asked.elapsed()
    );
    assert!(s.contains("EXITED=0"), "{s}");
    assert_eq!(t.flag("alternate_on"), "0", "the terminal is restored");
    assert_eq!(t.flag("cursor_flag"), "1", "the cursor is back");

    // Left alone: the timeout ends it, with the host and the cause.
    let cmd = format!(
        "env EVSCOPE_DATA_DIR={d} EVSCOPE_CONFIG={d}/none.toml {} --db '{url}' --connect-timeout 1s",
        bin()
    );
    let t = Tmux::start(&cmd);
    let s = t.wait("the timeout", |s| s.contains("EXITED="));
    assert!(s.contains("EXITED=1"), "{s}");
    assert!(s.contains(&format!("127.0.0.1:{port}")), "{s}");
    assert!(!s.contains("s3cret"), "{s}");
}

/// A search that runs longer than a second says how far it got on stderr (a terminal), and
/// clears that line when it ends: only the results and the `--limit` note stay.
#[test]
fn a_long_search_shows_its_progress_and_clears_it() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let mut sql = std::fs::read_to_string(common::fixture_path("native/sqlite.sql")).unwrap();
    sql.push_str(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000) \
         INSERT INTO evscope_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
         SELECT i, 's-' || (i % 100), (i + 99) / 100, printf('00000000-0000-4000-8000-%012d', i), 'Ticked', json_object('n', i), NULL, '2026-01-05T10:00:00Z' FROM n;",
    );
    common::sqlite3(&path, &sql);
    // A program that costs something on every event, and matches one near the end.
    let t = Tmux::start_sized(
        &format!(
            "{} --db sqlite://{} log --limit 1 --format jsonl --where '| ([range(400)] | length) > 0 and .data.n == 59990'",
            bin(),
            path.display()
        ),
        120,
        10,
    );
    let s = t.wait("the progress line", |s| s.contains("searching: "));
    assert!(s.contains("rows read in"), "{s}");
    let s = t.wait("the end", |s| s.contains("EXITED="));
    assert!(s.contains("EXITED=0"), "{s}");
    assert!(s.contains("\"n\":59990"), "the match: {s}");
    assert!(
        !s.contains("searching: "),
        "the progress line is cleared: {s}"
    );
}
