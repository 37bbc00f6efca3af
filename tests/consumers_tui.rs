//! The consumers view of the TUI (`C`): an insta snapshot of the demo store's consumers, `R`
//! and Enter on one, and the real binary in tmux.

mod common;

#[tokio::test]
async fn the_tui_view_lists_the_demo_consumers() {
    use evscope::rehydrate::source::ReducerSource;
    use evscope::tui::theme::Theme;
    use evscope::tui::views::ViewKind;
    use evscope::tui::views::consumers::ConsumersView;
    use ratatui::crossterm::event::KeyCode;

    let mut h = common::tui::demo(Theme::default_dark(), (120, 20), ReducerSource::Demo).await;
    // From the log, and from anywhere.
    h.key(KeyCode::Char('C')).await;
    assert_eq!(h.app.view(), ViewKind::Consumers);
    let v = h.app.find::<ConsumersView>().unwrap();
    assert_eq!(v.rows().len(), 6);
    insta::assert_snapshot!("consumers_view_120x20", common::tui::mask(&h.screen(), &[]));
    // Down to payments-read-model (lagging, category payment): R offers its range.
    let at = v
        .rows()
        .iter()
        .position(|l| l.consumer.name == "payments-read-model")
        .unwrap();
    for _ in 0..at {
        h.key(KeyCode::Down).await;
    }
    h.key(KeyCode::Char('R')).await;
    let screen = h.screen();
    assert!(
        screen.contains("Replay · consumer payments-read-model after its checkpoint"),
        "{screen}"
    );
    assert!(screen.contains("· category payment"), "{screen}");
    h.key(KeyCode::Esc).await;
    // Enter opens the log at the checkpoint: the row selected is the first event at or
    // after it.
    let checkpoint = h.app.find::<ConsumersView>().unwrap().rows()[at]
        .consumer
        .checkpoint
        .unwrap();
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Log);
    let log = h.app.log().unwrap();
    let first = log
        .rows
        .rows
        .first()
        .unwrap()
        .event
        .global_position
        .unwrap();
    let selected = log
        .rows
        .selected_row()
        .unwrap()
        .event
        .global_position
        .unwrap();
    assert!(first <= checkpoint.max(1), "{first} {checkpoint}");
    assert_eq!(
        selected,
        checkpoint.max(1),
        "the checkpoint's row is selected"
    );
    let cp = h.app.find::<ConsumersView>().map(|_| ()).is_none();
    assert!(cp, "the log replaced the view");
    // From the stream list too.
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('C')).await;
    assert_eq!(h.app.view(), ViewKind::Consumers);
}

#[test]
fn the_view_in_a_real_terminal() {
    use std::process::Command;
    use std::time::{Duration, Instant};
    if Command::new("tmux").arg("-V").output().is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("tmux is not installed, and CI=true requires the terminal tests");
        }
        eprintln!("\n!!! SKIPPED: tmux is not installed; the terminal test did not run !!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("evscope");
    let name = common::unique_name("tmux_consumers");
    let cmd = format!(
        "env -u DATABASE_URL EVSCOPE_DATA_DIR={} EVSCOPE_CONFIG={}/none.toml {} ; sleep 30",
        dir.path().display(),
        dir.path().display(),
        bin.display()
    );
    let ok = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let screen = || {
        String::from_utf8_lossy(
            &Command::new("tmux")
                .args(["capture-pane", "-p", "-t", &name])
                .output()
                .unwrap()
                .stdout,
        )
        .to_string()
    };
    let wait = |what: &str, pred: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        loop {
            let s = screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = Command::new("tmux")
                    .args(["kill-session", "-t", &name])
                    .status();
                panic!("timed out waiting for {what}:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the log", &|s| {
        s.contains("Global log") && s.contains("position ")
    });
    let key = |k: &str| {
        Command::new("tmux")
            .args(["send-keys", "-t", &name, k])
            .status()
            .unwrap();
    };
    key("C");
    let s = wait("the consumers", &|s| s.contains("ledger-exporter"));
    assert!(s.contains("Consumers · checkpoints and lag"), "{s}");
    assert!(s.contains("beyond-head") && s.contains("stalled"), "{s}");
    // The refresh every 3 s draws a second sample in the history column.
    wait("a second sample", &|s| s.contains("██") && s.contains("▁▁"));
    key("q");
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &name])
        .status();
}

/// The consumers of a mapping file's `[consumers]` section are in the TUI's view too (the view
/// and the CLI read them through the store's own mapping file).
#[tokio::test]
async fn the_tui_view_lists_a_mapping_files_consumers() {
    use common::{Server, TempDb, available, fixture_path};
    use evscope::rehydrate::source::ReducerSource;
    use evscope::store::{OpenOptions, Store};
    use evscope::tui::theme::Theme;
    use evscope::tui::views::ViewKind;
    use evscope::tui::views::consumers::ConsumersView;
    use ratatui::crossterm::event::KeyCode;

    if !available(Server::Postgres) {
        return;
    }
    let db = TempDb::create(Server::Postgres, "consumers_tui_mapped").await;
    db.load("eventuous/postgres.sql").await;
    db.exec(
        "CREATE TABLE eventuous.my_checkpoints (who text PRIMARY KEY, upto bigint, at timestamptz);
         INSERT INTO eventuous.my_checkpoints VALUES ('mine', 6, now() - interval '1 hour');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.toml");
    let base = std::fs::read_to_string(fixture_path("mappings/eventuous.toml")).unwrap();
    std::fs::write(
        &mapping,
        format!(
            "{base}\n[consumers]\ntable = \"my_checkpoints\"\nschema = \"eventuous\"\nname = {{ column = \"who\" }}\nposition = {{ column = \"upto\" }}\nupdated_at = {{ column = \"at\" }}\n"
        ),
    )
    .unwrap();
    let store = Store::open(&OpenOptions {
        url: db.url.clone(),
        mapping: Some(mapping),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut h = common::tui::on_store(
        store,
        db.url.clone(),
        dir,
        Theme::default_dark(),
        (120, 20),
        ReducerSource::None,
    )
    .await;
    h.key(KeyCode::Char('C')).await;
    assert_eq!(h.app.view(), ViewKind::Consumers);
    let v = h.app.find::<ConsumersView>().unwrap();
    let mine = v
        .rows()
        .iter()
        .find(|r| r.consumer.name == "mine")
        .unwrap_or_else(|| panic!("{}", h.screen()));
    assert_eq!(mine.consumer.checkpoint, Some(6));
    assert!(h.screen().contains("mine"), "{}", h.screen());
}
