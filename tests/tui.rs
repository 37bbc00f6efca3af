//! The TUI driven through its messages, without a terminal: real store (a small demo SQLite
//! file), real spawned queries, screens rendered on a TestBackend at a fixed size and checked
//! as insta snapshots (the temporary path masked).

mod common;

use std::time::Duration;

use evscope::rehydrate::source::ReducerSource;
use evscope::tui::overlays::export::{Counting, human_bytes};
use evscope::tui::overlays::replay::{SINK, Stage};
use evscope::tui::request::Msg;
use evscope::tui::theme::Theme;
use evscope::tui::views::audit::AuditView;
use evscope::tui::views::detail::DetailView;
use evscope::tui::views::drift::DriftView;
use evscope::tui::views::snapshot_diff::DiffView;
use evscope::tui::views::snapshot_list::SnapshotList;
use evscope::tui::views::timetravel::TimeTravelView;
use evscope::tui::views::{View, ViewKind};
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind,
};

const W: u16 = 120;
const H: u16 = 30;

use common::tui::Harness;

async fn harness() -> Harness {
    common::tui::demo(Theme::default_dark(), (W, H), ReducerSource::None).await
}

/// The app on the store at `url`, started and settled; `path` is masked in screens.
async fn harness_on(url: &str, path: String, dir: tempfile::TempDir) -> Harness {
    common::tui::on(
        url,
        path,
        dir,
        Theme::default_dark(),
        (W, H),
        ReducerSource::None,
    )
    .await
}

#[tokio::test]
async fn log_view_opens_at_the_newest_event_and_home_goes_to_the_first() {
    let mut h = harness().await;
    assert_eq!(h.app.view(), ViewKind::Log);
    let head = h.log().head.expect("head known");
    let sel = h.log().rows.selected_row().unwrap();
    assert_eq!(
        sel.event.global_position,
        Some(head),
        "End = the newest event"
    );
    insta::assert_snapshot!("log_end", h.screen());
    h.key(KeyCode::Home).await;
    assert_eq!(
        h.log().rows.selected_row().unwrap().event.global_position,
        Some(1)
    );
    insta::assert_snapshot!("log_home", h.screen());
}

#[tokio::test]
async fn paging_through_the_whole_log_keeps_memory_bounded_and_order_exact() {
    let mut h = harness().await;
    h.key(KeyCode::Home).await;
    let head = h.log().head.unwrap();
    let mut last = 0;
    let mut max_rows = 0;
    for _ in 0..10_000 {
        let p = h
            .log()
            .rows
            .selected_row()
            .unwrap()
            .event
            .global_position
            .unwrap();
        assert!(p >= last, "positions only grow: {p} after {last}");
        last = p;
        max_rows = max_rows.max(h.log().rows.rows.len());
        if p == head {
            break;
        }
        h.key(KeyCode::PageDown).await;
    }
    assert_eq!(last, head, "PgDn reaches the newest event");
    assert!(
        max_rows <= h.log().rows.capacity + 2 * evscope::tui::app::PAGE as usize,
        "{max_rows}"
    );
    // And back up to the first with PgUp.
    for _ in 0..10_000 {
        if h.log().rows.selected_row().unwrap().event.global_position == Some(1) {
            break;
        }
        h.key(KeyCode::PageUp).await;
    }
    assert_eq!(
        h.log().rows.selected_row().unwrap().event.global_position,
        Some(1)
    );
}

#[tokio::test]
async fn detail_pane_shows_pretty_json_and_follows_a_causation_link() {
    let mut h = harness().await;
    // A transfer leg: its causation id names the TransferRequested event.
    h.key(KeyCode::Char('/')).await;
    h.type_text("type:Deposited | .data.source == \"transfer\"")
        .await;
    h.key(KeyCode::Enter).await;
    let leg = h
        .log()
        .rows
        .selected_row()
        .expect("a transfer leg")
        .event
        .clone();
    assert_eq!(leg.data["source"], "transfer");
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Detail);
    insta::assert_snapshot!("detail", h.screen());
    // Tab to the causation link, Enter follows it.
    let links = h.app.find::<DetailView>().unwrap().lines.links.clone();
    assert_eq!(links.len(), 2, "{links:?}");
    while {
        let d = h.app.find::<DetailView>().unwrap();
        d.lines.links[d.link].key != "causation_id"
    } {
        h.key(KeyCode::Tab).await;
    }
    h.key(KeyCode::Enter).await;
    let target = &h.app.find::<DetailView>().unwrap().event;
    assert_eq!(
        target.event_id,
        leg.metadata["causation_id"].as_str().unwrap()
    );
    assert_eq!(target.event_type, "Withdrawn");
    // Back twice returns to the log.
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Log);
}

#[tokio::test]
async fn streams_view_opens_a_stream_by_version() {
    let mut h = harness().await;
    h.key(KeyCode::Char('1')).await;
    assert_eq!(h.app.view(), ViewKind::Streams);
    insta::assert_snapshot!("streams", h.screen());
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Stream);
    assert_eq!(h.stream().stream_id().unwrap(), "account-0001");
    let versions: Vec<i64> = h
        .stream()
        .rows
        .rows
        .iter()
        .map(|r| r.event.stream_version)
        .collect();
    assert_eq!(versions[..3], [1, 2, 3]);
    insta::assert_snapshot!("stream", h.screen());
    h.key(KeyCode::End).await;
    let last_version = *versions.iter().max().unwrap();
    assert_eq!(
        h.stream().rows.selected_row().unwrap().event.stream_version,
        last_version
    );
    // Jump to a version, then past the end: the end is shown, with a message.
    h.key(KeyCode::Char('g')).await;
    h.type_text("3").await;
    h.key(KeyCode::Enter).await;
    assert_eq!(
        h.stream().rows.selected_row().unwrap().event.stream_version,
        3
    );
    h.key(KeyCode::Char('g')).await;
    h.type_text("999999").await;
    h.key(KeyCode::Enter).await;
    assert!(
        h.app
            .status
            .as_ref()
            .is_some_and(|(s, _)| s.contains("showing the end"))
    );
    assert!(!h.stream().rows.rows.is_empty());
    assert_eq!(
        h.stream().rows.selected_row().unwrap().event.stream_version,
        last_version
    );
    // The streams list pages backward from its end too.
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::End).await;
    let last = h.streams().rows.selected_row().unwrap().stream_id.clone();
    assert!(last.starts_with("transfer-"), "{last}");
}

#[tokio::test]
async fn filter_with_jq_and_a_bad_filter_is_a_message_not_a_crash() {
    let mut h = harness().await;
    h.key(KeyCode::Char('/')).await;
    h.type_text("type:Withdrawn since:2026-06-01 | select(.data.amount > 500)")
        .await;
    h.key(KeyCode::Enter).await;
    assert!(h.app.inputs.open.is_none());
    assert!(!h.log().rows.rows.is_empty());
    for r in &h.log().rows.rows {
        assert_eq!(r.event.event_type, "Withdrawn");
        assert!(r.event.data["amount"].as_i64().unwrap() > 500);
        assert!(
            r.event.recorded_at.unwrap()
                >= "2026-06-01T00:00:00Z"
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .unwrap()
        );
    }
    // A wrong filter keeps the input open with the message.
    h.key(KeyCode::Char('/')).await;
    // The input opens with the current filter: clear it (ctrl-a, ctrl-k) and type a bad one.
    h.key_mod(KeyCode::Char('a'), KeyModifiers::CONTROL).await;
    h.key_mod(KeyCode::Char('k'), KeyModifiers::CONTROL).await;
    h.type_text("since:yesterday").await;
    h.key(KeyCode::Enter).await;
    let err = h
        .app
        .inputs
        .open
        .as_ref()
        .and_then(|i| i.error.clone())
        .expect("an error at the input");
    assert!(
        err.contains("since") && err.contains("yesterday") && !err.contains("jq"),
        "{err}"
    );
    insta::assert_snapshot!("filter_error", h.screen());
    h.key(KeyCode::Esc).await;
    assert!(h.app.inputs.open.is_none());
}

#[tokio::test]
async fn jump_to_a_position_and_to_a_time() {
    let mut h = harness().await;
    h.key(KeyCode::Char('g')).await;
    h.type_text("100").await;
    h.key(KeyCode::Enter).await;
    assert_eq!(
        h.log().rows.selected_row().unwrap().event.global_position,
        Some(100)
    );
    h.key(KeyCode::Char('g')).await;
    h.type_text("2026-08-01").await;
    h.key(KeyCode::Enter).await;
    let e = &h.log().rows.selected_row().unwrap().event;
    assert!(
        e.recorded_at.unwrap()
            >= "2026-08-01T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
    );
    let before = h.log().rows.rows[h.log().rows.selected - 1]
        .event
        .recorded_at
        .unwrap();
    assert!(
        before
            < "2026-08-01T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap(),
        "rows above are before"
    );
}

#[tokio::test]
async fn help_lists_the_keys_and_any_key_closes_it() {
    let mut h = harness().await;
    h.key(KeyCode::Char('?')).await;
    insta::assert_snapshot!("help", h.screen());
    // It scrolls to the filter syntax at its end.
    for _ in 0..3 {
        h.key(KeyCode::PageDown).await;
    }
    assert!(h.app.help.open);
    assert!(
        h.screen().contains("select(.data.amount > 1000)"),
        "{}",
        h.screen()
    );
    h.key(KeyCode::Char('x')).await;
    assert!(!h.app.help.open);
    h.key(KeyCode::Char('q')).await;
    assert!(h.app.quit);
}

#[tokio::test]
async fn mouse_wheel_scrolls_and_click_selects() {
    let mut h = harness().await;
    h.key(KeyCode::Home).await;
    let m = |kind, row| {
        Msg::Term(Event::Mouse(MouseEvent {
            kind,
            column: 10,
            row,
            modifiers: KeyModifiers::NONE,
        }))
    };
    h.app.update(m(MouseEventKind::ScrollDown, 5));
    assert_eq!(h.log().rows.selected, 3);
    h.app.update(m(
        MouseEventKind::Down(ratatui::crossterm::event::MouseButton::Left),
        2 + 7,
    ));
    assert_eq!(h.log().rows.selected, h.log().rows.top + 7);
}

#[tokio::test]
async fn live_tail_shows_events_appended_by_another_process() {
    let mut h = harness().await;
    h.key(KeyCode::Char('f')).await;
    assert!(h.app.top().unwrap().following());
    let head = h.log().head.unwrap();
    // Another process appends two events.
    let url = format!("sqlite://{}?mode=rw", h.path);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for (i, ty) in ["TailedOne", "TailedTwo"].iter().enumerate() {
        sqlx::query("INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES ('tail-1', ?, ?, ?, '{}')")
            .bind(i as i64 + 1)
            .bind(format!("tail-{i}"))
            .bind(*ty)
            .execute(&mut c)
            .await
            .unwrap();
    }
    for _ in 0..20 {
        h.app.update(Msg::Tick);
        h.settle().await;
        if h.log()
            .rows
            .rows
            .last()
            .is_some_and(|r| r.event.event_type == "TailedTwo")
        {
            break;
        }
    }
    let last = &h.log().rows.selected_row().unwrap().event;
    assert_eq!(
        last.event_type, "TailedTwo",
        "the selection follows the tail"
    );
    assert_eq!(last.global_position, Some(head + 2));
    let n = h
        .log()
        .rows
        .rows
        .iter()
        .filter(|r| r.event.stream_id == "tail-1")
        .count();
    assert_eq!(n, 2, "each tailed event once");
}

#[tokio::test]
async fn follow_a_stream_and_export_the_view() {
    let mut h = harness().await;
    h.app.export_dir = h.dir.path().to_path_buf();
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.stream().stream_id().unwrap(), "account-0001");
    h.key(KeyCode::Char('f')).await;
    assert!(h.app.top().unwrap().following());
    let last = h.stream().rows.rows.last().unwrap().event.stream_version;
    assert_eq!(
        h.stream().rows.selected_row().unwrap().event.stream_version,
        last,
        "follow starts at the end"
    );
    let url = format!("sqlite://{}?mode=rw", h.path);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) VALUES ('account-0001', ?, 'followed-1', 'Deposited', '{\"amount\": 1}')")
        .bind(last + 1)
        .execute(&mut c)
        .await
        .unwrap();
    for _ in 0..20 {
        h.app.update(Msg::Tick);
        h.settle().await;
        if h.stream()
            .rows
            .rows
            .last()
            .is_some_and(|r| r.event.stream_version == last + 1)
        {
            break;
        }
    }
    assert_eq!(
        h.stream().rows.selected_row().unwrap().event.event_id,
        "followed-1"
    );
    h.key(KeyCode::Char('f')).await;
    assert!(!h.app.top().unwrap().following());

    // Export the stream's Deposited events: every one, not just those on screen. `e` counts
    // them and shows the count; nothing is written before Enter.
    h.key(KeyCode::Char('/')).await;
    h.type_text("type:Deposited").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('e')).await;
    let want: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM evscope_events WHERE stream_id = 'account-0001' AND event_type = 'Deposited'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let d = h.app.export.dialog.as_ref().expect("the export dialog");
    let path = std::path::PathBuf::from(d.path_text());
    assert!(
        path.starts_with(h.dir.path()),
        "the default file is in the export directory: {}",
        path.display()
    );
    let Counting::Done(count) = d.count else {
        panic!("counted: {:?}", d.count)
    };
    assert_eq!(count.events as i64, want);
    assert!(
        h.screen().contains(&format!(
            "{want} events, about {}",
            human_bytes(count.bytes)
        )),
        "{}",
        h.screen()
    );
    assert!(!path.exists(), "nothing written before Enter");
    h.key(KeyCode::Enter).await;
    assert!(h.app.export.dialog.is_none());
    let status = h.app.status.clone().unwrap().0;
    assert_eq!(
        status,
        format!(
            "exported {want} events ({}) to {}",
            human_bytes(count.bytes),
            path.display()
        )
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), count.bytes);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, want);
    assert!(
        lines
            .iter()
            .all(|e| e["event_type"] == "Deposited" && e["stream_id"] == "account-0001")
    );
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["stream_version"].as_i64() < w[1]["stream_version"].as_i64())
    );
}

/// What a directory holds, by name (an export directory of its own: the files an export left).
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn ctrl_u() -> KeyModifiers {
    KeyModifiers::CONTROL
}

#[tokio::test]
async fn export_dialog_counts_before_writing_and_esc_writes_nothing() {
    let mut h = harness().await;
    let out = tempfile::tempdir().unwrap();
    h.app.export_dir = out.path().to_path_buf();
    let url = format!("sqlite://{}?mode=ro", h.path);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM evscope_events")
        .fetch_one(&mut c)
        .await
        .unwrap();
    // Esc while it counts: the count stops and nothing is written.
    h.app.update(Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Char('e'),
        KeyModifiers::NONE,
    ))));
    assert!(matches!(
        h.app.export.dialog.as_ref().unwrap().count,
        Counting::Running { .. }
    ));
    h.key(KeyCode::Esc).await;
    assert!(h.app.export.dialog.is_none() && !h.app.is_loading());
    assert_eq!(
        h.app.status.clone().unwrap().0,
        "export cancelled: nothing written"
    );
    assert!(entries(out.path()).is_empty());
    // Opened again, it shows the count of the whole log and its size; nothing is written.
    h.key(KeyCode::Char('e')).await;
    let d = h.app.export.dialog.as_ref().unwrap();
    let Counting::Done(count) = d.count else {
        panic!("counted: {:?}", d.count)
    };
    assert_eq!(count.events as i64, all);
    assert_eq!(
        count.upto.position,
        h.log().head,
        "the write stops at the last counted"
    );
    let default = d.path_text();
    let name = default.rsplit('/').next().unwrap().to_string();
    assert!(
        name.starts_with("evscope-export-") && name.ends_with(".jsonl"),
        "{name}"
    );
    let stamp = &name["evscope-export-".len()..name.len() - ".jsonl".len()];
    insta::assert_snapshot!(
        "export_dialog",
        h.screen()
            .replace(&out.path().display().to_string(), "<DIR>")
            .replace(stamp, "<TIME>")
    );
    assert!(entries(out.path()).is_empty());
    // Enter, then Esc before the write got anywhere: it stops and leaves nothing.
    h.app.update(Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    ))));
    assert!(h.app.export.is_busy());
    h.key(KeyCode::Esc).await;
    assert!(h.app.export.dialog.is_none());
    assert_eq!(
        h.app.status.clone().unwrap().0,
        "export cancelled: nothing written (the partial file was removed)"
    );
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));
    // A file that exists: Enter says so and keeps it; Esc leaves it as it was.
    let taken = out.path().join("taken.jsonl");
    std::fs::write(&taken, "theirs\n").unwrap();
    let choose = async |h: &mut Harness, path: &str| {
        h.key(KeyCode::Char('e')).await;
        h.key_mod(KeyCode::Char('u'), ctrl_u()).await;
        assert_eq!(h.app.export.dialog.as_ref().unwrap().path_text(), "");
        h.type_text(path).await;
        h.key(KeyCode::Enter).await;
    };
    choose(&mut h, &taken.display().to_string()).await;
    let d = h.app.export.dialog.as_ref().expect("still open");
    assert!(
        d.error
            .as_deref()
            .is_some_and(|e| e.contains("exists (7 B): Enter again replaces it")),
        "{:?}",
        d.error
    );
    h.key(KeyCode::Esc).await;
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "theirs\n");
    assert_eq!(entries(out.path()), ["taken.jsonl"]);
    // A second Enter replaces it, with a complete export.
    choose(&mut h, &taken.display().to_string()).await;
    h.key(KeyCode::Enter).await;
    let status = h.app.status.clone().unwrap().0;
    assert!(status.ends_with(" (replaced)"), "{status}");
    assert_eq!(std::fs::metadata(&taken).unwrap().len(), count.bytes);
    assert_eq!(entries(out.path()), ["taken.jsonl"]);
    // A directory that does not exist is refused at the field.
    let nowhere = out.path().join("nope").join("x.jsonl");
    choose(&mut h, &nowhere.display().to_string()).await;
    let e = h.app.export.dialog.as_ref().unwrap().error.clone().unwrap();
    assert!(e.contains("does not exist"), "{e}");
    h.key(KeyCode::Esc).await;
    assert_eq!(entries(out.path()), ["taken.jsonl"]);
}

#[tokio::test]
async fn an_export_stopped_midway_or_beaten_to_its_file_leaves_nothing_of_its_own() {
    use evscope::tui::overlays::export::{Upto, Wrote, write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let h = harness().await;
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("x.jsonl");
    let scope = || evscope::tui::views::ExportScope {
        stream: None,
        query: evscope::filter::empty_query(),
    };
    // Stopped once a page was written to the partial file.
    let cancel = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let (stop, seen) = (cancel.clone(), written.clone());
    let r = write(
        h.app.store.clone(),
        scope(),
        Upto::default(),
        path.clone(),
        false,
        cancel,
        move |_, bytes| {
            seen.store(bytes, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        },
    )
    .await;
    assert_eq!(r, Ok(Wrote::Cancelled));
    assert!(written.load(Ordering::SeqCst) > 0, "something was written");
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));
    // A file that appeared while it ran (not confirmed for replacing) is left alone.
    std::fs::write(&path, "theirs\n").unwrap();
    let r = write(
        h.app.store.clone(),
        scope(),
        Upto::default(),
        path.clone(),
        false,
        Arc::new(AtomicBool::new(false)),
        |_, _| {},
    )
    .await;
    assert!(r.as_ref().is_err_and(|e| e.contains("appeared")), "{r:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs\n");
    assert_eq!(entries(out.path()), ["x.jsonl"]);
}

#[tokio::test]
async fn the_rows_between_two_marks_are_highlighted() {
    let mut h = harness().await;
    h.key(KeyCode::Char('m')).await;
    for _ in 0..3 {
        h.key(KeyCode::Up).await;
    }
    h.key(KeyCode::Char('m')).await;
    // The selection off the range, so that every row of it shows the range's style.
    for _ in 0..2 {
        h.key(KeyCode::Up).await;
    }
    let buf = h.buffer();
    let theme = Theme::default_dark();
    let rows = &h.log().rows.rows;
    let n = rows.len();
    let line = |y: u16| -> String { (0..W).map(|x| buf[(x, y)].symbol().to_string()).collect() };
    // The row on screen showing position p, and whether it carries the mark sign.
    let find = |p: i64| -> (u16, bool) {
        (0..H)
            .find_map(|y| {
                let l = line(y);
                if l.starts_with(&format!("│▶{p} ")) {
                    Some((y, true))
                } else if l.starts_with(&format!("│{p} ")) {
                    Some((y, false))
                } else {
                    None
                }
            })
            .unwrap_or_else(|| panic!("position {p} is not on screen"))
    };
    let warning = theme.warning.fg.expect("the warning style has a colour");
    // The POSITION, TIME, STREAM and VER columns (the TYPE column has its own colour): up to
    // where the header says TYPE; untouched rows are checked from the TIME column on.
    let chars: Vec<char> = line(1).chars().collect();
    let at = |name: &str| {
        (0..chars.len())
            .find(|&i| chars[i..].iter().take(name.len()).collect::<String>() == name)
            .expect("a header") as u16
    };
    let (time_x, type_x) = (at("TIME"), at("TYPE"));
    let highlighted = |y: u16| (1..type_x - 1).all(|x| buf[(x, y)].fg == warning);
    let untouched = |y: u16| (time_x..type_x - 1).all(|x| buf[(x, y)].fg != warning);
    for (i, r) in rows.iter().enumerate().skip(n - 7) {
        let (y, sign) = find(r.event.global_position.unwrap());
        let from_end = n - 1 - i;
        match from_end {
            0 | 3 => assert!(
                sign && highlighted(y),
                "a mark, row {from_end}: {}",
                line(y)
            ),
            1 | 2 => assert!(
                !sign && highlighted(y),
                "inside, row {from_end}: {}",
                line(y)
            ),
            _ => assert!(
                !sign && untouched(y),
                "outside, row {from_end}: {}",
                line(y)
            ),
        }
    }
    // The selected row (outside the range) keeps the selection's style.
    let (y, _) = find(rows[n - 6].event.global_position.unwrap());
    assert_eq!(buf[(20, y)].bg, theme.selected.bg.unwrap());
}

#[tokio::test]
async fn replay_sink_that_cannot_be_used_is_reported_at_its_field_before_any_count() {
    use evscope::tui::overlays::replay::FormError;
    let mut h = harness().await;
    let jobs = tempfile::tempdir().unwrap();
    h.app.replay.jobs_dir = jobs.path().join("replay");
    let taken = jobs.path().join("taken.jsonl");
    std::fs::write(&taken, "theirs\n").unwrap();
    h.key(KeyCode::Char('R')).await;
    let sink_field = |h: &Harness| match &h.app.replay.dialog.as_ref().unwrap().stage {
        Stage::Form { fields, focus, .. } => {
            assert_eq!(*focus, SINK);
            fields[SINK].lines().join("")
        }
        _ => panic!("the form"),
    };
    assert_eq!(sink_field(&h), "nats://127.0.0.1:4222");
    // One key clears the field.
    h.key_mod(KeyCode::Char('u'), ctrl_u()).await;
    assert_eq!(sink_field(&h), "");
    h.type_text(&format!("jsonl:{}", taken.display())).await;
    h.app.update(Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    ))));
    // The sink is checked first; nothing is counted for a sink that cannot be used.
    let mut checking = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let error = loop {
        match &h.app.replay.dialog.as_ref().unwrap().stage {
            Stage::Form { error: Some(e), .. } => break e.clone(),
            Stage::Planning {
                checked, counted, ..
            } => {
                assert!(!checked && *counted == 0, "counting began");
                checking = true;
            }
            _ => panic!("neither the form nor the check"),
        }
        match tokio::time::timeout_at(deadline, h.rx.recv()).await {
            Ok(Some(m)) => h.app.update(m),
            _ => panic!("the check never answered"),
        }
    };
    assert!(checking, "the dialog said it checks the sink");
    assert_eq!(error.field, Some(SINK));
    assert!(
        error.text.contains("exists and is not empty"),
        "{}",
        error.text
    );
    insta::assert_snapshot!("replay_form_sink_error", masked_replay(&h, jobs.path()));
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "theirs\n");
    assert!(
        !h.app.replay.jobs_dir.exists(),
        "no job was made for a sink refused at the form"
    );
    // A directory that does not exist, and a bus that does not answer: at the field too.
    let nowhere = format!(
        "jsonl:{}",
        jobs.path().join("nope").join("x.jsonl").display()
    );
    for (sink, says) in [
        (nowhere.as_str(), "does not exist"),
        ("nats://127.0.0.1:1", "the bus cannot be reached"),
    ] {
        h.key_mod(KeyCode::Char('u'), ctrl_u()).await;
        h.type_text(sink).await;
        h.key(KeyCode::Enter).await;
        h.until("the sink's error", |a| {
            matches!(
                a.replay.dialog.as_ref().map(|d| &d.stage),
                Some(Stage::Form { error: Some(_), .. })
            )
        })
        .await;
        let Stage::Form {
            error: Some(FormError { field, text }),
            ..
        } = &h.app.replay.dialog.as_ref().unwrap().stage
        else {
            unreachable!()
        };
        assert_eq!(*field, Some(SINK), "{sink}");
        assert!(text.contains(says), "{sink}: {text}");
    }
}

#[tokio::test]
async fn a_database_that_goes_away_is_an_error_in_the_status_bar_and_keys_keep_working() {
    if !common::available(common::Server::Postgres) {
        return;
    }
    let db = common::TempDb::create(common::Server::Postgres, "dies").await;
    db.load("message-db/postgres.sql").await;
    let mut h = harness_on(&db.url, String::new(), tempfile::tempdir().unwrap()).await;
    assert_eq!(h.log().rows.rows.len(), 10);
    // The database goes away under the running app.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(common::PG_ADMIN)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("DROP DATABASE \"{}\" WITH (FORCE)", db.name))
        .execute(&mut admin)
        .await
        .unwrap();
    h.key(KeyCode::Home).await;
    let (msg, is_error) = h.app.status.clone().expect("a status message");
    assert!(is_error && msg.starts_with("error:"), "{msg}");
    assert!(h.screen().contains("error:"));
    assert!(!h.app.is_loading());
    // Keys keep working.
    h.key(KeyCode::Char('?')).await;
    assert!(h.app.help.open);
    h.key(KeyCode::Char('x')).await;
    h.key(KeyCode::Char('q')).await;
    assert!(h.app.quit);
}

#[tokio::test]
async fn the_stream_list_sorts_by_recent_activity() {
    let mut h = harness().await;
    h.key(KeyCode::Char('1')).await;
    let by_id: Vec<String> = h
        .streams()
        .rows
        .rows
        .iter()
        .map(|s| s.stream_id.clone())
        .collect();
    h.key(KeyCode::Char('o')).await;
    assert!(h.streams().by_recent);
    // Walk the whole list: every stream once, newest activity first.
    let mut seen = Vec::new();
    loop {
        let r = h.streams().rows.selected_row().unwrap().clone();
        if seen
            .last()
            .map(|s: &evscope::store::StreamInfo| &s.stream_id)
            != Some(&r.stream_id)
        {
            seen.push(r);
        }
        let before = h.streams().rows.selected;
        h.key(KeyCode::Down).await;
        if h.streams().rows.selected == before {
            break;
        }
    }
    let head = h.log().head.unwrap();
    assert_eq!(
        seen[0].last_position,
        Some(head),
        "the most recent stream first"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0].last_position > w[1].last_position)
    );
    let mut ids: Vec<String> = seen.iter().map(|s| s.stream_id.clone()).collect();
    ids.sort();
    let mut all = by_id.clone();
    all.sort();
    assert_eq!(ids.len(), seen.len(), "no stream twice");
    assert!(
        by_id.iter().all(|id| ids.contains(id)),
        "every stream is listed"
    );
    insta::assert_snapshot!("streams_recent", h.screen());
    // End: the least recently active stream.
    h.key(KeyCode::End).await;
    assert_eq!(
        h.streams().rows.selected_row().unwrap().stream_id,
        seen.last().unwrap().stream_id
    );
    // And back to the order by id.
    h.key(KeyCode::Char('o')).await;
    assert!(!h.streams().by_recent);
    assert_eq!(h.streams().rows.rows[0].stream_id, by_id[0]);
}

#[tokio::test]
async fn time_travel_steps_through_a_stream_with_its_changes() {
    let mut h = harness().await;
    h.app.reducers = ReducerSource::Demo;
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.stream().stream_id().unwrap(), "account-0001");
    // Select version 3 and travel there.
    h.key(KeyCode::Down).await;
    h.key(KeyCode::Down).await;
    h.key(KeyCode::Char('t')).await;
    assert_eq!(h.app.view(), ViewKind::TimeTravel);
    let shown = |h: &Harness| {
        h.app
            .find::<TimeTravelView>()
            .unwrap()
            .shown
            .clone()
            .unwrap()
    };
    let s = shown(&h);
    assert_eq!(s.step.version, Some(3));
    assert_eq!(s.fold_name, "reducer account");
    insta::assert_snapshot!("time_travel", h.screen());
    // Forward, back, start, end, and a jump: each state equals the straight fold.
    let store = h.app.store.clone();
    let all = store
        .read_stream(
            "account-0001",
            &evscope::store::StreamRead {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let fold = evscope::rehydrate::reducer::Reducers::demo().fold_for("account-0001");
    let mut straight = vec![fold.initial()];
    let mut st = fold.start(&fold.initial());
    for e in &all {
        st = fold.apply(st, e).unwrap();
        straight.push(st.to_json());
    }
    h.key(KeyCode::Right).await;
    assert_eq!(shown(&h).step.version, Some(4));
    assert_eq!(shown(&h).step.state, straight[4]);
    assert!(!shown(&h).changed.is_empty(), "the event changed something");
    h.key(KeyCode::Left).await;
    h.key(KeyCode::Left).await;
    assert_eq!(shown(&h).step.state, straight[2]);
    h.key(KeyCode::End).await;
    assert_eq!(shown(&h).step.version, Some(all.len() as i64));
    assert_eq!(&shown(&h).step.state, straight.last().unwrap());
    h.key(KeyCode::Home).await;
    assert_eq!(shown(&h).step.state, straight[1]);
    h.key(KeyCode::Char('g')).await;
    h.type_text("50").await;
    h.key(KeyCode::Enter).await;
    assert_eq!(shown(&h).step.state, straight[50]);
    // Reload the reducers: same version, same state.
    h.key(KeyCode::Char('r')).await;
    assert_eq!(shown(&h).step.version, Some(50));
    // Esc returns to the stream.
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Stream);
}

#[tokio::test]
async fn a_failing_reducer_shows_the_event_the_filter_and_the_state_before() {
    let mut h = harness().await;
    let bad = h.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[reducer]]\nmatch = \"account\"\nunknown = \"skip\"\n[reducer.on]\nAccountOpened = '{owner: $event.data.owner, balance: 0}'\nDeposited = '.balance += $event.data.source'\n",
    )
    .unwrap();
    h.app.reducers = ReducerSource::File(bad);
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Down).await;
    h.key(KeyCode::Char('t')).await;
    let shown = h
        .app
        .find::<TimeTravelView>()
        .unwrap()
        .shown
        .clone()
        .unwrap();
    let err = shown.step.error.clone().expect("the fold stopped");
    assert_eq!(
        (err.stream_version, err.event_type.as_str()),
        (2, "Deposited")
    );
    assert_eq!(
        err.filter.as_deref(),
        Some(".balance += $event.data.source")
    );
    assert_eq!(
        shown.step.state["balance"], 0,
        "the state before the failing event"
    );
    let screen = h.screen();
    assert!(
        screen.contains("The reducer failed on this event")
            && screen.contains("State before the failing event")
    );
    insta::assert_snapshot!("time_travel_error", screen);
}

/// The demo's record of the snapshots it drifted on purpose.
async fn drifted(h: &Harness) -> Vec<evscope::demo::DriftRecord> {
    evscope::demo::ensure(std::path::Path::new(&h.path), 6, false)
        .await
        .unwrap()
        .drifted
}

/// Without a reducer the list says "not checked", and so does the diff it opens: the merge
/// fold on its right side is shown for orientation, never as "ok" or "drifted" (as
/// `verify-snapshots` reports `no_reducer`).
#[tokio::test]
async fn a_snapshot_without_a_reducer_is_unchecked_in_the_list_and_in_its_diff() {
    let mut h = harness().await;
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    let stream = h.stream().stream_id().unwrap().to_string();
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    let list = h.app.find::<SnapshotList>().unwrap();
    let sel = list
        .selected_check()
        .expect("the demo stream has snapshots");
    assert_eq!(
        sel.status,
        evscope::snapshots::Status::NoReducer,
        "{stream}"
    );
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::SnapshotDiff);
    let c = h
        .app
        .find::<DiffView>()
        .unwrap()
        .compared
        .clone()
        .expect("compared");
    assert_eq!(c.status(), evscope::snapshots::Status::NoReducer);
    assert!(c.fold_name.contains("merge"), "{}", c.fold_name);
    let screen = h.screen();
    assert!(screen.contains("unchecked"), "{screen}");
    assert!(screen.contains("not checked: no reducer for"), "{screen}");
    assert!(
        !screen.contains("drifted") && !screen.contains("no difference"),
        "{screen}"
    );
}

#[tokio::test]
async fn snapshot_list_and_diff_of_a_drifted_snapshot_then_time_travel_there() {
    let mut h = harness().await;
    h.app.reducers = ReducerSource::Demo;
    let d = drifted(&h)
        .await
        .into_iter()
        .find(|d| d.stream_id == "account-0001")
        .expect("the demo drifts a snapshot of account-0001");
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.stream().stream_id().unwrap(), "account-0001");
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    // The same checks as the domain's (and the CLI's) verify_stream.
    let want = evscope::snapshots::verify_stream(
        &h.app.store,
        &evscope::rehydrate::reducer::Reducers::demo(),
        "account-0001",
        None,
    )
    .await
    .unwrap();
    let list = h.app.find::<SnapshotList>().unwrap();
    let checked = list.checked.as_ref().expect("checked");
    assert_eq!(checked.checks, want);
    assert!(checked.checks.len() > 2);
    // The first snapshot that is not ok is selected: the drifted one.
    let sel = list.selected_check().unwrap();
    assert_eq!(sel.stream_version, d.stream_version);
    assert_eq!(sel.status, evscope::snapshots::Status::Drifted);
    insta::assert_snapshot!("snapshot_list", h.screen());

    // Enter: stored and recomputed side by side.
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::SnapshotDiff);
    let diff = h.app.find::<DiffView>().unwrap();
    let c = diff.compared.as_ref().expect("compared");
    assert_eq!(c.status(), evscope::snapshots::Status::Drifted);
    assert_eq!(c.changes, sel_changes(&want, d.stream_version));
    assert_eq!(c.changes.len(), 1);
    assert_eq!(c.changes[0].path(), d.path);
    let key = &d.path[1..];
    assert_eq!(c.stored.as_ref().unwrap().state[key], d.stored);
    assert_eq!(c.recomputed.as_ref().unwrap()[key], d.expected);
    let screen = h.screen();
    assert!(
        screen.contains(&format!("{}: {} → {}", d.path, d.stored, d.expected)),
        "{screen}"
    );
    insta::assert_snapshot!("snapshot_diff", screen);

    // t: the time-travel view at the snapshot's version, with the recomputed state.
    let recomputed = c.recomputed.clone().unwrap();
    h.key(KeyCode::Char('t')).await;
    assert_eq!(h.app.view(), ViewKind::TimeTravel);
    let shown = h
        .app
        .find::<TimeTravelView>()
        .unwrap()
        .shown
        .clone()
        .unwrap();
    assert_eq!(shown.step.version, Some(d.stream_version));
    assert_eq!(shown.step.state, recomputed);
    // Esc goes back down the views: the diff, the list, the stream.
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::SnapshotDiff);
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    // t from the list too.
    h.key(KeyCode::Char('t')).await;
    assert_eq!(
        h.app
            .find::<TimeTravelView>()
            .as_ref()
            .unwrap()
            .shown
            .as_ref()
            .unwrap()
            .step
            .version,
        Some(d.stream_version)
    );
    // S in time travel: the snapshots of the stream travelled, on top of it.
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    assert_eq!(h.app.find::<SnapshotList>().unwrap().stream, d.stream_id);
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::TimeTravel);
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Stream);
    assert!(h.app.find::<SnapshotList>().is_none() && h.app.find::<DiffView>().is_none());
}

fn sel_changes(
    checks: &[evscope::snapshots::Check],
    version: i64,
) -> Vec<evscope::rehydrate::diff::Change> {
    checks
        .iter()
        .find(|c| c.stream_version == version)
        .unwrap()
        .changes
        .clone()
}

#[tokio::test]
async fn a_snapshot_wrong_in_several_ways_steps_through_its_differences() {
    let mut h = harness().await;
    h.app.reducers = ReducerSource::Demo;
    // Rewrite account-0002's first snapshot: a type change, a missing key, an extra key, a
    // changed string.
    let url = format!("sqlite://{}?mode=rw", h.path);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE evscope_snapshots SET state = '{\"balance\": \"lots\", \"extra\": [1, 2], \"owner\": \"Somebody Else\", \"status\": \"open\"}' WHERE stream_id = 'account-0002' AND stream_version = 20")
        .execute(&mut c)
        .await
        .unwrap();
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Down).await;
    assert_eq!(
        h.streams().rows.selected_row().unwrap().stream_id,
        "account-0002"
    );
    // S works from the stream list on the selected stream.
    h.key(KeyCode::Char('S')).await;
    let list = h.app.find::<SnapshotList>().unwrap();
    assert_eq!(list.stream, "account-0002");
    assert_eq!(list.selected_check().unwrap().stream_version, 20);
    h.key(KeyCode::Enter).await;
    let diff = h.app.find::<DiffView>().unwrap();
    let c = diff.compared.as_ref().unwrap();
    let paths: Vec<&str> = c.changes.iter().map(|c| c.path()).collect();
    assert_eq!(paths, [".balance", ".currency", ".extra", ".owner"]);
    assert!(matches!(
        c.changes[0],
        evscope::rehydrate::diff::Change::Changed {
            type_changed: true,
            ..
        }
    ));
    let screen = h.screen();
    assert!(screen.contains("difference 1 of 4"), "{screen}");
    assert!(screen.contains("type string → number"), "{screen}");
    assert!(
        screen.contains("(missing from the stored snapshot)")
            && screen.contains("(only in the stored snapshot)"),
        "{screen}"
    );
    insta::assert_snapshot!("snapshot_diff_kinds", screen);
    // n / N move between the differences, wrapping.
    let current = |h: &Harness| h.app.find::<DiffView>().unwrap().current;
    for want in [1, 2, 3, 0] {
        h.key(KeyCode::Char('n')).await;
        assert_eq!(current(&h), want);
    }
    h.key(KeyCode::Char('N')).await;
    assert_eq!(current(&h), 3);
    assert!(h.screen().contains("difference 4 of 4"));
    // The marker is on the current difference's line on both sides (.owner).
    let screen = h.screen();
    let marked: Vec<&str> = screen.lines().filter(|l| l.contains("▶ ")).collect();
    assert!(
        marked.iter().any(|l| l.contains("~ .owner")),
        "the summary marks .owner: {screen}"
    );
    assert!(
        marked
            .iter()
            .any(|l| l.contains("\"owner\": \"Somebody Else\"") && l.matches("▶").count() == 2),
        "both panes mark .owner: {screen}"
    );
}

/// The two panes of a diff on screen, row by row: (left, right) of each line inside both.
fn pane_rows(screen: &str) -> Vec<(String, String)> {
    screen
        .lines()
        .filter_map(|l| {
            // │ (outer) │ left │ │ right │ │ (outer)
            let parts: Vec<&str> = l.split('│').collect();
            (parts.len() == 7).then(|| (parts[2].to_string(), parts[4].to_string()))
        })
        .collect()
}

/// The key a pane line starts with (`"balance"` of `▶   "balance": 9165,`), if any.
fn line_key(l: &str) -> Option<String> {
    let l = l.trim_start_matches(['▶', ' ']);
    l.starts_with('"')
        .then(|| l.split(": ").next().unwrap_or_default().to_string())
}

/// On every row of the panes both sides show, the same member (key and indentation).
fn assert_aligned(screen: &str) -> usize {
    let rows = pane_rows(screen);
    assert!(!rows.is_empty(), "no panes: {screen}");
    let mut keyed = 0;
    for (l, r) in &rows {
        if let (Some(a), Some(b)) = (line_key(l), line_key(r)) {
            let indent =
                |s: &str| s.trim_start_matches('▶').len() - s.trim_start_matches(['▶', ' ']).len();
            assert_eq!((a, indent(l)), (b, indent(r)), "{screen}");
            keyed += 1;
        }
    }
    keyed
}

#[tokio::test]
async fn the_drift_view_lists_the_store_s_drifted_snapshots_and_opens_one_aligned() {
    use evscope::snapshots::{Scope, Status};
    let mut h = harness().await;
    h.app.reducers = ReducerSource::Demo;
    // A drift of another shape behind the demo's back: a nested object only in the stored
    // snapshot, above the paths both sides have (unaligned, every row below it would be off).
    let url = format!("sqlite://{}?mode=rw", h.path);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE evscope_snapshots SET state = '{\"audit\": {\"by\": \"ops\", \"notes\": [\"a\", \"b\", \"c\"]}, \"balance\": 1, \"currency\": \"BRL\", \"owner\": \"Wagner Ribeiro\", \"status\": \"open\"}' WHERE stream_id = 'account-0002' AND stream_version = 20")
        .execute(&mut c)
        .await
        .unwrap();
    // D is the stream list's: elsewhere, a hint.
    h.key(KeyCode::Char('D')).await;
    assert_eq!(h.app.view(), ViewKind::Log);
    assert!(
        h.app
            .status
            .as_ref()
            .unwrap()
            .0
            .contains("from the stream list"),
        "{:?}",
        h.app.status
    );
    h.key(KeyCode::Char('1')).await;
    // The stream list's help lists it.
    h.key(KeyCode::Char('?')).await;
    let help = h.screen();
    assert!(
        help.contains("snapshot drift: check every snapshot of the store"),
        "{help}"
    );
    h.key(KeyCode::Char('x')).await;
    h.key(KeyCode::Char('D')).await;
    assert_eq!(h.app.view(), ViewKind::Drift);
    // The same report as the domain's (and `evscope verify-snapshots`'): every snapshot that
    // is not ok, in stream order, and the same counts.
    let mut want = Vec::new();
    let summary = evscope::snapshots::verify(
        &h.app.store,
        &evscope::rehydrate::reducer::Reducers::demo(),
        &Scope::default(),
        |_, checks| {
            want.extend(checks.iter().filter(|c| c.status != Status::Ok).cloned());
        },
    )
    .await
    .unwrap();
    let v = h.app.find::<DriftView>().unwrap();
    assert!(v.done && v.error.is_none(), "{:?}", v.error);
    assert_eq!(v.found, want);
    assert_eq!(v.counts, summary);
    assert_eq!(v.unlisted, 0);
    assert!(summary.ok > 0 && summary.errors == 0, "{summary:?}");
    // Those are the demo's deliberate drifts, and the one written above.
    let mut recorded: Vec<(String, i64)> = drifted(&h)
        .await
        .into_iter()
        .map(|d| (d.stream_id, d.stream_version))
        .chain([("account-0002".to_string(), 20)])
        .collect();
    recorded.sort();
    recorded.dedup();
    let listed: Vec<(String, i64)> = v
        .found
        .iter()
        .map(|c| (c.stream_id.clone(), c.stream_version))
        .collect();
    assert_eq!(listed, recorded);
    assert!(v.found.iter().all(|c| c.status == Status::Drifted));
    let screen = h.screen();
    assert!(
        screen.contains(&format!(
            "{} snapshot(s) in {} stream(s): {} ok, {} drifted, 0 error(s)",
            summary.checked, summary.streams, summary.ok, summary.drifted
        )),
        "{screen}"
    );
    insta::assert_snapshot!("drift", screen);

    // Enter on account-0002 v20: its diff, the panes aligned path by path.
    let i = listed
        .iter()
        .position(|(s, v)| s == "account-0002" && *v == 20)
        .unwrap();
    for _ in 0..i {
        h.key(KeyCode::Down).await;
    }
    assert_eq!(
        h.app
            .find::<DriftView>()
            .unwrap()
            .selected_check()
            .unwrap()
            .stream_id,
        "account-0002"
    );
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::SnapshotDiff);
    let d = h.app.find::<DiffView>().unwrap();
    assert_eq!((d.stream.as_str(), d.version), ("account-0002", 20));
    let paths: Vec<&str> = d
        .compared
        .as_ref()
        .unwrap()
        .changes
        .iter()
        .map(|c| c.path())
        .collect();
    assert_eq!(paths, [".audit", ".balance"]);
    let screen = h.screen();
    assert!(
        screen.contains("difference 1 of 2 · stored (left) → recomputed (right)"),
        "{screen}"
    );
    assert!(
        screen.contains("Stored snapshot · v20")
            && screen.contains("Recomputed from the events · v20")
    );
    // Every member both panes show is on one row: balance, currency, owner, status.
    assert_eq!(assert_aligned(&screen), 4, "{screen}");
    let rows = pane_rows(&screen);
    // The stored-only object: its 8 lines beside blank fillers, the first marked on both
    // sides (the current difference).
    let audit = rows
        .iter()
        .position(|(l, _)| l.contains("\"audit\": {"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        rows[audit].0.starts_with('▶') && rows[audit].1.starts_with('▶'),
        "{screen}"
    );
    for (l, r) in &rows[audit..audit + 8] {
        assert!(
            !l.trim().is_empty() && r.trim_start_matches('▶').trim().is_empty(),
            "{l:?} | {r:?}"
        );
    }
    assert!(
        rows[audit + 8].0.contains("\"balance\": 1,")
            && rows[audit + 8].1.contains("\"balance\": ")
    );
    // n: the next difference, .balance, marked on the same row of both panes.
    h.key(KeyCode::Char('n')).await;
    let screen = h.screen();
    let marked: Vec<(String, String)> = pane_rows(&screen)
        .into_iter()
        .filter(|(l, r)| l.starts_with('▶') && r.starts_with('▶'))
        .collect();
    assert_eq!(marked.len(), 1, "{screen}");
    assert!(
        marked[0].0.contains("\"balance\": 1,") && !marked[0].1.contains("\"balance\": 1,"),
        "{screen}"
    );
    // Scrolled anywhere, the panes stay aligned.
    for _ in 0..6 {
        h.key(KeyCode::Down).await;
        assert_aligned(&h.screen());
    }
    // Back to the list; t: time travel at the snapshot's version.
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Drift);
    h.key(KeyCode::Char('t')).await;
    assert_eq!(h.app.view(), ViewKind::TimeTravel);
    let tt = h.app.find::<TimeTravelView>().unwrap();
    assert_eq!(tt.shown.as_ref().unwrap().step.version, Some(20));
    h.key(KeyCode::Esc).await;
    // S: that stream's own snapshots.
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.find::<SnapshotList>().unwrap().stream, "account-0002");
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Drift);
    // r: checked again, the same report.
    h.key(KeyCode::Char('r')).await;
    let v = h.app.find::<DriftView>().unwrap();
    assert!(v.done);
    assert_eq!(v.found, want);
    // Leaving while it runs stops it: the view goes with its task and nothing waits.
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Streams);
    h.app.update(Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Char('D'),
        KeyModifiers::NONE,
    ))));
    assert!(h.app.is_loading());
    h.app.update(Msg::Term(Event::Key(KeyEvent::new(
        KeyCode::Esc,
        KeyModifiers::NONE,
    ))));
    assert!(!h.app.is_loading());
    h.settle().await;
    assert_eq!(h.app.view(), ViewKind::Streams);
    assert!(h.app.find::<DriftView>().is_none());
}

/// With no reducer file, the drift view checks nothing and says so (never a merge fold
/// compared with real states, counted as drift): every snapshot not checked, why, and how to
/// give a reducer.
#[tokio::test]
async fn without_a_reducer_the_drift_view_says_no_snapshot_was_checked() {
    let mut h = harness().await;
    assert!(matches!(h.app.reducers, ReducerSource::None));
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('D')).await;
    assert_eq!(h.app.view(), ViewKind::Drift);
    let v = h.app.find::<DriftView>().unwrap();
    assert!(v.done && v.error.is_none(), "{:?}", v.error);
    assert!(
        v.found.is_empty(),
        "nothing listed as drifted: {:?}",
        v.found
    );
    let c = &v.counts;
    assert!(c.checked > 0, "{c:?}");
    assert_eq!(
        (c.no_reducer, c.drifted, c.ok, c.errors),
        (c.checked, 0, 0, 0),
        "{c:?}"
    );
    let screen = h.screen();
    assert!(
        screen.contains(&format!(
            "{} snapshot(s) not checked: no reducer applies",
            c.checked
        )),
        "{screen}"
    );
    assert!(
        screen.contains("reducers init` writes one to start from"),
        "the whole hint: {screen}"
    );
    assert!(!screen.contains("no drift"), "{screen}");
}

#[tokio::test]
async fn the_audit_lists_the_findings_and_opens_a_finding_stream() {
    let mut h = harness().await;
    h.app.reducers = ReducerSource::Demo;
    // Faults written behind the demo's back: a version gap, a time going backwards with data
    // that is not JSON, and an event type no reducer names.
    let url = format!("sqlite://{}?mode=rw", h.path);
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let last: i64 = sqlx::query_scalar(
        "SELECT MAX(stream_version) FROM evscope_events WHERE stream_id = 'account-0003'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    for (v, id, ty, data, at) in [
        (
            last + 3,
            "audit-1",
            "Deposited",
            "{\"amount\": 5}",
            "2026-11-01T00:00:00.000000Z",
        ),
        (
            last + 4,
            "audit-2",
            "Deposited",
            "not json",
            "2026-10-01T00:00:00.000000Z",
        ),
    ] {
        sqlx::query("INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data, recorded_at) VALUES ('account-0003', ?, ?, ?, ?, ?)")
            .bind(v)
            .bind(id)
            .bind(ty)
            .bind(data)
            .bind(at)
            .execute(&mut c)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data, recorded_at) VALUES ('ledger-1', 1, 'audit-3', 'Mystery', '{}', '2026-11-02T00:00:00.000000Z')")
        .execute(&mut c)
        .await
        .unwrap();
    h.key(KeyCode::Char('A')).await;
    assert_eq!(h.app.view(), ViewKind::Audit);
    let (want, summary) = evscope::snapshots::audit::audit(
        &h.app.store,
        &evscope::rehydrate::reducer::Reducers::demo(),
        |_| {},
    )
    .await
    .unwrap();
    let a = h.app.find::<AuditView>().unwrap();
    assert_eq!(a.findings, want, "the same findings as the domain's audit");
    assert_eq!(a.summary.as_ref(), Some(&summary));
    use evscope::snapshots::audit::Kind;
    let kinds: Vec<Kind> = a.findings.iter().map(|f| f.kind).collect();
    for k in [
        Kind::VersionGap,
        Kind::TimeBackwards,
        Kind::InvalidJson,
        Kind::UnknownType,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    insta::assert_snapshot!("audit", h.screen());
    // Enter on the gap opens account-0003 at the version after it.
    let gap = a
        .findings
        .iter()
        .position(|f| f.kind == Kind::VersionGap)
        .unwrap();
    for _ in 0..gap {
        h.key(KeyCode::Down).await;
    }
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Stream);
    assert_eq!(h.stream().stream_id().unwrap(), "account-0003");
    assert_eq!(
        h.stream().rows.selected_row().unwrap().event.stream_version,
        last + 3
    );
    // Back to the audit, and back to the log.
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Audit);
    h.key(KeyCode::Esc).await;
    assert_eq!(h.app.view(), ViewKind::Log);
    assert!(h.app.find::<AuditView>().is_none());
}

#[tokio::test]
async fn snapshots_that_cannot_be_recomputed_are_errors_with_the_reason() {
    let mut h = harness().await;
    // A reducer that fails on the second event: no snapshot can be recomputed.
    let bad = h.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[reducer]]\nmatch = \"account\"\nunknown = \"skip\"\n[reducer.on]\nAccountOpened = '{owner: $event.data.owner, balance: 0}'\nDeposited = '.balance += $event.data.source'\n",
    )
    .unwrap();
    h.app.reducers = ReducerSource::File(bad);
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('S')).await;
    let list = h.app.find::<SnapshotList>().unwrap();
    let checks = &list.checked.as_ref().unwrap().checks;
    assert!(!checks.is_empty());
    for c in checks {
        assert_eq!(c.status, evscope::snapshots::Status::Error);
        assert!(
            c.error.as_deref().unwrap().starts_with("cannot recompute"),
            "{c:?}"
        );
    }
    let screen = h.screen();
    assert!(screen.contains("0 ok, 0 drifted, 6 error(s)"), "{screen}");
    // The diff says why on the recomputed side, and still shows the stored state.
    h.key(KeyCode::Enter).await;
    let d = h.app.find::<DiffView>().unwrap();
    let c = d.compared.as_ref().unwrap();
    assert_eq!(c.status(), evscope::snapshots::Status::Error);
    let screen = h.screen();
    assert!(screen.contains("cannot recompute"), "{screen}");
    assert!(screen.contains("\"balance\""), "{screen}");
    assert!(
        screen.contains("Snapshot · account-0001 v20 · error"),
        "{screen}"
    );
    // n with no difference: a message, no crash.
    h.key(KeyCode::Char('n')).await;
    assert_eq!(h.app.status.as_ref().unwrap().0, "no difference to go to");
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Esc).await;
    // A reducer file that cannot be read: the list says so.
    h.app.reducers = ReducerSource::File("/nonexistent/r.toml".into());
    h.key(KeyCode::Char('S')).await;
    let list = h.app.find::<SnapshotList>().unwrap();
    assert!(list.checked.is_none());
    let err = list.error.clone().unwrap();
    assert!(err.contains("cannot read reducers"), "{err}");
    assert!(h.screen().contains("error: cannot read reducers"));
    // S in the log: the snapshots of the selected event's stream.
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('2')).await;
    assert_eq!(h.app.view(), ViewKind::Log);
    let selected = h.log().rows.selected_row().unwrap().event.stream_id.clone();
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    assert_eq!(h.app.find::<SnapshotList>().unwrap().stream, selected);
    // S where no stream is in view (the audit's findings) is a hint, not a view.
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('A')).await;
    assert_eq!(h.app.view(), ViewKind::Audit);
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Audit);
    assert!(
        h.app
            .status
            .as_ref()
            .unwrap()
            .0
            .contains("open a stream first")
    );
}

#[tokio::test]
async fn leaving_the_views_before_their_answers_drops_them() {
    let mut h = harness().await;
    h.app.reducers = ReducerSource::Demo;
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    let press = |h: &mut Harness, c: KeyCode| {
        h.app
            .update(Msg::Term(Event::Key(KeyEvent::new(c, KeyModifiers::NONE))))
    };
    // S, then Esc at once: the check stops, its answer (if any) is dropped.
    press(&mut h, KeyCode::Char('S'));
    assert!(h.app.is_loading());
    press(&mut h, KeyCode::Esc);
    h.settle().await;
    assert_eq!(h.app.view(), ViewKind::Stream);
    assert!(h.app.find::<SnapshotList>().is_none());
    // Re-checks in a row: only the newest answer is taken.
    press(&mut h, KeyCode::Char('S'));
    press(&mut h, KeyCode::Char('r'));
    press(&mut h, KeyCode::Char('r'));
    let newest = h.app.find::<SnapshotList>().unwrap().is_loading();
    h.settle().await;
    let l = h.app.find::<SnapshotList>().unwrap();
    assert!(!l.is_loading() && l.checked.is_some(), "{newest:?}");
    // The same for the audit.
    press(&mut h, KeyCode::Char('A'));
    press(&mut h, KeyCode::Esc);
    h.settle().await;
    assert!(h.app.find::<AuditView>().is_none());
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    assert!(h.screen().contains("Snapshots · account-0001"));
}

#[tokio::test]
async fn a_layout_without_snapshots_says_so() {
    if !common::available(common::Server::Postgres) {
        return;
    }
    let db = common::TempDb::create(common::Server::Postgres, "nosnap").await;
    db.load("message-db/postgres.sql").await;
    let mut h = harness_on(&db.url, String::new(), tempfile::tempdir().unwrap()).await;
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Streams);
    let (msg, _) = h.app.status.clone().unwrap();
    assert!(msg.contains("keeps no snapshots"), "{msg}");
    // Nor does the store-wide check open.
    h.key(KeyCode::Char('D')).await;
    assert_eq!(h.app.view(), ViewKind::Streams);
    let (msg, _) = h.app.status.clone().unwrap();
    assert!(msg.contains("keeps no snapshots"), "{msg}");
    // The audit works on any layout.
    h.key(KeyCode::Char('A')).await;
    let a = h.app.find::<AuditView>().unwrap();
    assert!(a.error.is_none(), "{:?}", a.error);
    assert_eq!(a.summary.as_ref().unwrap().events, 10);
}

/// The screen with a replay's volatile parts masked: the job id, the rate, the temp dir.
fn masked_replay(h: &Harness, dir: &std::path::Path) -> String {
    let mut s = h.screen().replace(&dir.display().to_string(), "<DIR>");
    if let Some(j) = &h.app.replay.job {
        s = s.replace(&j.id, "<JOB>");
    }
    // "rate 123/s" → "rate <N>/s" (measured, so it varies)
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("rate ") {
        let (head, tail) = rest.split_at(i + 5);
        out.push_str(head);
        let digits = tail.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && tail[digits..].starts_with("/s ·") {
            out.push_str("<N>");
            rest = &tail[digits..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn replay_dialog_marks_a_range_plans_it_confirms_by_count_and_runs_it() {
    let mut h = harness().await;
    let jobs = tempfile::tempdir().unwrap();
    h.app.replay.jobs_dir = jobs.path().join("replay");
    // Mark the newest event and the fourth newest: a range of four positions.
    h.key(KeyCode::Char('m')).await;
    for _ in 0..3 {
        h.key(KeyCode::Up).await;
    }
    h.key(KeyCode::Char('m')).await;
    assert!(h.screen().contains("marked: R to replay it"));
    h.key(KeyCode::Char('R')).await;
    insta::assert_snapshot!("replay_form", h.screen());
    // A sink the TUI refuses: standard output is the terminal.
    for _ in 0..30 {
        h.key(KeyCode::Backspace).await;
    }
    h.type_text("jsonl:-").await;
    h.key(KeyCode::Enter).await;
    assert!(h.screen().contains("jsonl:- is the terminal here"));
    for _ in 0..7 {
        h.key(KeyCode::Backspace).await;
    }
    let file = jobs.path().join("out.jsonl");
    h.type_text(&format!("jsonl:{}", file.display())).await;
    h.key(KeyCode::Enter).await;
    h.until("the plan", |a| {
        matches!(
            a.replay.dialog.as_ref().map(|d| &d.stage),
            Some(Stage::Confirm { .. })
        )
    })
    .await;
    insta::assert_snapshot!("replay_confirm", masked_replay(&h, jobs.path()));
    // The wrong count does not start it.
    h.type_text("3").await;
    h.key(KeyCode::Enter).await;
    assert!(
        h.screen()
            .contains("type 4 (the number of events) to publish them")
    );
    assert!(h.app.replay.job.is_none() && !file.exists());
    h.key(KeyCode::Backspace).await;
    h.type_text("4").await;
    h.key(KeyCode::Enter).await;
    h.until("the end of the job", |a| {
        a.replay.job.as_ref().is_some_and(|j| j.done.is_some())
            && a.replay
                .job
                .as_ref()
                .and_then(|j| j.progress.as_ref())
                .is_some_and(|p| p.done == 4)
    })
    .await;
    insta::assert_snapshot!("replay_done", masked_replay(&h, jobs.path()));
    // The file holds the four newest events, as `log --format jsonl` writes them.
    let newest = h.log().rows.rows[h.log().rows.rows.len() - 4..].to_vec();
    let mut want = String::new();
    for r in &newest {
        want.push_str(&serde_json::to_string(&r.event).unwrap());
        want.push('\n');
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), want);
    // The job and its audit trail are in the job directory.
    let store = evscope::replay::job::JobStore::open(h.app.replay.jobs_dir.clone()).unwrap();
    let id = h.app.replay.job.as_ref().unwrap().id.clone();
    let job = store.load(&id).unwrap();
    assert_eq!(job.status, evscope::replay::job::Status::Completed);
    let events: Vec<String> = store
        .history(Some(&id))
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["created", "started", "completed"]);
    // Esc closes the finished panel.
    h.key(KeyCode::Esc).await;
    assert!(h.app.replay.job.is_none());
}

/// Once the running replay has published something, `p`, and wait until it is paused.
async fn pause_once_going(h: &mut Harness) {
    h.until("some progress", |a| {
        a.replay
            .job
            .as_ref()
            .and_then(|j| j.progress.as_ref())
            .is_some_and(|p| p.done > 0)
    })
    .await;
    h.key(KeyCode::Char('p')).await;
    h.until("paused", |a| {
        a.replay
            .job
            .as_ref()
            .and_then(|j| j.progress.as_ref())
            .is_some_and(|p| p.status == evscope::replay::job::Status::Paused)
    })
    .await;
}

/// Open the replay dialog on the whole log, to `file` at 50 events/s, and start it; the total.
async fn start_slow_replay(h: &mut Harness, file: &std::path::Path) -> u64 {
    h.key(KeyCode::Char('R')).await;
    for _ in 0..30 {
        h.key(KeyCode::Backspace).await;
    }
    h.type_text(&format!("jsonl:{}", file.display())).await;
    h.key(KeyCode::Tab).await;
    h.key(KeyCode::Tab).await;
    h.type_text("50").await;
    h.key(KeyCode::Enter).await;
    h.until("the plan", |a| {
        matches!(
            a.replay.dialog.as_ref().map(|d| &d.stage),
            Some(Stage::Confirm { .. })
        )
    })
    .await;
    let total = match &h.app.replay.dialog.as_ref().unwrap().stage {
        Stage::Confirm { ready, .. } => ready.plan.total,
        _ => unreachable!(),
    };
    h.type_text(&total.to_string()).await;
    h.key(KeyCode::Enter).await;
    total
}

#[tokio::test]
async fn replay_panel_pauses_resumes_and_cancels() {
    use evscope::replay::job::Status;
    let mut h = harness().await;
    let jobs = tempfile::tempdir().unwrap();
    h.app.replay.jobs_dir = jobs.path().join("replay");
    let file = jobs.path().join("all.jsonl");
    let total = start_slow_replay(&mut h, &file).await;
    pause_once_going(&mut h).await;
    let s = h.screen();
    assert!(s.contains("p resume"), "{s}");
    // The rate it had before the pause, and no ETA while paused.
    assert!(s.contains("/s before the pause · ETA —, paused"), "{s}");
    h.key(KeyCode::Char('p')).await;
    h.until("running again", |a| {
        a.replay
            .job
            .as_ref()
            .and_then(|j| j.progress.as_ref())
            .is_some_and(|p| p.status == Status::Running)
    })
    .await;
    // Hidden, the job goes on and the status bar tells.
    h.key(KeyCode::Esc).await;
    assert!(h.screen().contains("(R shows it)"));
    h.key(KeyCode::Char('R')).await;
    h.key(KeyCode::Char('c')).await;
    h.until("cancelled", |a| {
        a.replay.job.as_ref().is_some_and(|j| j.done.is_some())
    })
    .await;
    let j = h.app.replay.job.as_ref().unwrap();
    assert_eq!(j.done, Some(Ok(Status::Cancelled)));
    let done = j.progress.as_ref().unwrap().done;
    assert!(done > 0 && done < total);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count() as u64,
        done
    );
}

#[tokio::test]
async fn a_paused_replay_is_cancelled_from_another_process() {
    use evscope::replay::job::{JobStore, Status};
    let mut h = harness().await;
    let jobs = tempfile::tempdir().unwrap();
    h.app.replay.jobs_dir = jobs.path().join("replay");
    start_slow_replay(&mut h, &jobs.path().join("p.jsonl")).await;
    pause_once_going(&mut h).await;
    // `evscope replay cancel ID` does this.
    let id = h.app.replay.job.as_ref().unwrap().id.clone();
    JobStore::open(h.app.replay.jobs_dir.clone())
        .unwrap()
        .request_cancel(&id)
        .unwrap();
    h.until("cancelled", |a| {
        a.replay.job.as_ref().is_some_and(|j| j.done.is_some())
    })
    .await;
    assert_eq!(
        h.app.replay.job.as_ref().unwrap().done,
        Some(Ok(Status::Cancelled))
    );
}
