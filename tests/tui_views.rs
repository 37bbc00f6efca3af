//! Every view of the TUI at fixed sizes, in every built-in theme and without colour: the
//! screens as insta snapshots (120×40 and 60×15), every cell readable (a cell's colour never
//! equals its background), the selected row always on screen, nothing panics at 20×8. And
//! what a new user tripped over: the filter a view shows is the filter its rows obey and what
//! `R` offers, a burst of `l` in time travel counts every press, following the log never
//! passes an event held by an open transaction.

mod common;

use std::time::Duration;

use evscope::rehydrate::source::ReducerSource;
use evscope::tui::overlays::replay::Stage;
use evscope::tui::request::Msg;
use evscope::tui::theme::Theme;
use evscope::tui::views::ViewKind;
use evscope::tui::views::events::EventsView;
use evscope::tui::views::timetravel::TimeTravelView;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyModifiers};
use ratatui::style::{Color, Modifier};

use common::tui::Harness;

async fn harness(theme: Theme, size: (u16, u16)) -> Harness {
    common::tui::demo(theme, size, ReducerSource::Demo).await
}

/// Cells whose text has the colour of their background.
fn unreadable(buf: &Buffer) -> Vec<String> {
    let mut bad = vec![];
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            if c.symbol().trim().is_empty() {
                continue;
            }
            if c.fg == c.bg && c.fg != Color::Reset {
                bad.push(format!(
                    "({x},{y}) {:?} {:?} on {:?}",
                    c.symbol(),
                    c.fg,
                    c.bg
                ));
            }
        }
    }
    bad
}

/// Whether the selection is drawn somewhere below the top border (its colours, or reverse
/// video without colour).
fn selection_shown(buf: &Buffer, theme: &Theme) -> bool {
    let sel = theme.selected;
    (1..buf.area.height.saturating_sub(1)).any(|y| {
        (1..buf.area.width.saturating_sub(1)).any(|x| {
            let c = &buf[(x, y)];
            match sel.bg {
                Some(bg) => c.bg == bg,
                None => c.modifier.contains(Modifier::REVERSED),
            }
        })
    })
}

fn themes() -> Vec<Theme> {
    let mut t: Vec<Theme> = ["dark", "light", "high-contrast"]
        .iter()
        .map(|n| Theme::load(n).unwrap())
        .collect();
    t.push(Theme::default_dark().without_color());
    t
}

/// Walk every view and overlay; `visit` gets the name of each, its screen and its buffer.
async fn walk(h: &mut Harness, mut visit: impl FnMut(&str, &Harness)) {
    visit("log", h);
    h.key(KeyCode::Char('1')).await;
    visit("streams", h);
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Stream);
    visit("stream", h);
    h.key(KeyCode::Down).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Detail);
    visit("detail", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('t')).await;
    assert_eq!(h.app.view(), ViewKind::TimeTravel);
    visit("time_travel", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('S')).await;
    assert_eq!(h.app.view(), ViewKind::Snapshots);
    visit("snapshots", h);
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::SnapshotDiff);
    visit("snapshot_diff", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('A')).await;
    assert_eq!(h.app.view(), ViewKind::Audit);
    visit("audit", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('?')).await;
    visit("help_stream", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('/')).await;
    visit("filter_input", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('R')).await;
    visit("replay_form", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('D')).await;
    assert_eq!(h.app.view(), ViewKind::Drift);
    visit("drift", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('C')).await;
    assert_eq!(h.app.view(), ViewKind::Consumers);
    visit("consumers", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('2')).await;
    assert_eq!(h.app.view(), ViewKind::Log);
    h.key(KeyCode::Char(':')).await;
    assert!(h.app.palette.is_some());
    visit("palette", h);
    h.key(KeyCode::Esc).await;
    // Dialogs propose files in the export directory (one that does not exist: nothing is
    // written until Enter).
    h.app.export_dir = std::path::PathBuf::from("walk-out");
    h.key(KeyCode::Char('e')).await;
    assert!(h.app.export.is_open());
    visit("export_dialog", h);
    h.key(KeyCode::Esc).await;
    // The newest four events marked: what Z seals and R replays.
    h.key(KeyCode::Char('m')).await;
    for _ in 0..3 {
        h.key(KeyCode::Up).await;
    }
    h.key(KeyCode::Char('m')).await;
    visit("log_marked", h);
    h.key(KeyCode::Char('Z')).await;
    assert!(h.app.seal.is_open());
    visit("seal_dialog", h);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('V')).await;
    assert!(h.app.verify_seal.is_open());
    visit("verify_seal", h);
    h.key(KeyCode::Esc).await;
    h.app.replay.jobs_dir = h.dir.path().join("replay");
    let sink = format!("jsonl:{}", h.dir.path().join("out.jsonl").display());
    h.key(KeyCode::Char('R')).await;
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
    h.type_text(&sink).await;
    h.key(KeyCode::Enter).await;
    h.until("the plan", |a| {
        matches!(
            a.replay.dialog.as_ref().map(|d| &d.stage),
            Some(Stage::Confirm { .. })
        )
    })
    .await;
    visit("replay_confirm", h);
    h.type_text("4").await;
    h.key(KeyCode::Enter).await;
    h.until("the end of the job", |a| {
        a.replay
            .job
            .as_ref()
            .is_some_and(|j| j.done.is_some() && j.progress.as_ref().is_some_and(|p| p.done == 4))
    })
    .await;
    visit("replay_panel", h);
    h.key(KeyCode::Esc).await;
    // A transfer's trace: the events its correlation id joins, as a causation tree.
    h.key(KeyCode::Char('/')).await;
    h.type_text("type:TransferRequested").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('c')).await;
    assert_eq!(h.app.view(), ViewKind::Trace);
    visit("trace", h);
    h.key(KeyCode::Esc).await;
}

#[tokio::test]
async fn every_view_in_every_theme_is_readable_and_shows_its_selection() {
    for size in [(120, 40), (60, 15)] {
        let mut first: Option<Vec<(String, String)>> = None;
        for theme in themes() {
            let mut h = harness(theme.clone(), size).await;
            let mut screens = vec![];
            walk(&mut h, |name, h| {
                let buf = h.buffer();
                let bad = unreadable(&buf);
                assert!(
                    bad.is_empty(),
                    "{name} at {size:?} in {}: {bad:?}\n{}",
                    theme.name,
                    h.screen()
                );
                // (The demo's audit finds nothing: it has no row to select.)
                if matches!(
                    name,
                    "log"
                        | "streams"
                        | "stream"
                        | "snapshots"
                        | "drift"
                        | "consumers"
                        | "log_marked"
                ) {
                    assert!(
                        selection_shown(&buf, &theme),
                        "{name} at {size:?} in {}: the selection is off screen\n{}",
                        theme.name,
                        h.screen()
                    );
                }
                screens.push((name.to_string(), h.masked_screen()));
            })
            .await;
            // The text is the same in every theme: only colours differ.
            match &first {
                None => first = Some(screens),
                Some(f) => {
                    for ((n, a), (_, b)) in f.iter().zip(&screens) {
                        assert_eq!(a, b, "{n} at {size:?} differs in {}", theme.name);
                    }
                }
            }
        }
        for (name, screen) in first.unwrap() {
            insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), screen);
        }
    }
}

#[tokio::test]
async fn nothing_panics_at_20_by_8() {
    let mut h = harness(Theme::default_dark(), (20, 8)).await;
    walk(&mut h, |_, h| {
        let _ = h.buffer();
    })
    .await;
}

#[tokio::test]
async fn a_resize_keeps_the_selection_on_screen() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    // The selection at the bottom of a tall window, then the terminal shrinks.
    h.key(KeyCode::End).await;
    h.size = (60, 15);
    h.app.update(Msg::Term(Event::Resize(60, 15)));
    assert!(
        selection_shown(&h.buffer(), &Theme::default_dark()),
        "{}",
        h.screen()
    );
    // An input box takes three lines: the selection stays above it.
    h.key(KeyCode::Char('/')).await;
    assert!(
        selection_shown(&h.buffer(), &Theme::default_dark()),
        "{}",
        h.screen()
    );
    let sel = h
        .app
        .log()
        .unwrap()
        .rows
        .selected_row()
        .unwrap()
        .position
        .clone();
    assert!(
        h.screen().contains(&sel),
        "the selected position {sel} is on screen"
    );
}

#[tokio::test]
async fn the_filter_a_view_shows_is_the_one_its_rows_obey_and_what_r_replays() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    // A filter on the stream list stays the stream list's.
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('/')).await;
    h.type_text("stream:account-0003").await;
    h.key(KeyCode::Enter).await;
    let screen = h.screen();
    assert!(screen.contains("Streams · stream:account-0003"), "{screen}");
    h.key(KeyCode::Char('2')).await;
    let log = h.app.log().unwrap();
    assert!(log.query.is_empty(), "the log has no filter of its own");
    let streams: std::collections::HashSet<&str> = log
        .rows
        .rows
        .iter()
        .map(|r| r.event.stream_id.as_str())
        .collect();
    assert!(streams.len() > 1, "the log's rows are the whole log");
    assert!(
        !h.screen().contains("stream:account-0003"),
        "{}",
        h.screen()
    );
    h.key(KeyCode::Char('R')).await;
    let d = h.app.replay.dialog.as_ref().expect("the replay dialog");
    assert_eq!(d.source, "the whole log");
    assert!(d.range.stream.is_none() && d.range.types.is_empty());
    h.key(KeyCode::Esc).await;
    // A filter on the log: its rows obey it, its title says it, R offers exactly it.
    h.key(KeyCode::Char('/')).await;
    h.type_text("type:Deposited stream:account-0003").await;
    h.key(KeyCode::Enter).await;
    let log = h.app.log().unwrap();
    assert!(!log.rows.rows.is_empty());
    assert!(
        log.rows
            .rows
            .iter()
            .all(|r| r.event.event_type == "Deposited" && r.event.stream_id == "account-0003")
    );
    assert!(
        h.screen()
            .contains("Global log · type:Deposited stream:account-0003")
    );
    h.key(KeyCode::Char('R')).await;
    let d = h.app.replay.dialog.as_ref().expect("the replay dialog");
    assert_eq!(
        d.source,
        "stream account-0003 in the log · filter type:Deposited stream:account-0003"
    );
    assert_eq!(d.range.stream.as_deref(), Some("account-0003"));
    assert_eq!(d.range.types, ["Deposited"]);
    h.key(KeyCode::Esc).await;
    // Back at the stream list, its own filter is still there.
    h.key(KeyCode::Char('1')).await;
    assert!(h.screen().contains("Streams · stream:account-0003"));
}

#[tokio::test]
async fn a_burst_of_steps_in_time_travel_counts_every_press() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('t')).await;
    h.key(KeyCode::Home).await;
    let version = |h: &Harness| {
        h.app
            .find::<TimeTravelView>()
            .and_then(|t| t.shown.as_ref()?.step.version)
    };
    assert_eq!(version(&h), Some(1));
    // Forty presses queued before the worker answers any: all of them count.
    for _ in 0..40 {
        h.send(KeyCode::Char('l'));
    }
    h.settle().await;
    assert_eq!(version(&h), Some(41));
    // Forward and back in one burst cancel out; back past the start stops before it.
    for _ in 0..5 {
        h.send(KeyCode::Char('l'));
        h.send(KeyCode::Char('h'));
    }
    h.settle().await;
    assert_eq!(version(&h), Some(41));
    for _ in 0..200 {
        h.send(KeyCode::Char('h'));
    }
    h.settle().await;
    assert_eq!(version(&h), None, "before the first event");
    // End, then two back, in one burst: the end counts, then the two.
    h.send(KeyCode::End);
    h.send(KeyCode::Char('h'));
    h.send(KeyCode::Char('h'));
    h.settle().await;
    let last = h
        .app
        .find::<TimeTravelView>()
        .unwrap()
        .shown
        .as_ref()
        .unwrap()
        .last_version;
    assert_eq!(version(&h), Some(last - 2));
    // Tab stays in time travel (in the lists it switches to the log), at the same version.
    h.key(KeyCode::Tab).await;
    assert_eq!(h.app.view(), ViewKind::TimeTravel);
    assert_eq!(version(&h), Some(last - 2));
    // The stream view is still below, with its own rows.
    h.key(KeyCode::Esc).await;
    assert!(h.app.find::<EventsView>().is_some());
}

#[tokio::test]
async fn the_palette_finds_an_action_and_runs_it_and_g_finds_a_stream() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    h.key(KeyCode::Char(':')).await;
    assert!(h.app.palette.is_some());
    insta::assert_snapshot!("palette_log", h.screen());
    h.type_text("live tail").await;
    let first = h.app.palette.as_ref().unwrap().shown()[0].command;
    assert_eq!(first, evscope::tui::keys::Command::Follow);
    h.key(KeyCode::Enter).await;
    assert!(h.app.palette.is_none());
    assert!(h.app.top().unwrap().following(), "Enter ran follow");
    // In the stream list, g takes a stream id, or its start.
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('g')).await;
    h.type_text("transfer").await;
    h.key(KeyCode::Enter).await;
    let s = h
        .app
        .find::<evscope::tui::views::streams::StreamsView>()
        .unwrap();
    let sel = &s.rows.selected_row().unwrap().stream_id;
    assert!(sel.starts_with("transfer-"), "{sel}");
}

#[tokio::test]
async fn typing_a_stream_id_in_the_stream_list_jumps_to_it_as_it_is_typed() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    let selected = |h: &Harness| {
        h.app
            .find::<evscope::tui::views::streams::StreamsView>()
            .unwrap()
            .rows
            .selected_row()
            .unwrap()
            .stream_id
            .clone()
    };
    h.key(KeyCode::Char('1')).await;
    assert!(selected(&h).starts_with("account-"), "{}", selected(&h));
    // `p` does nothing in the stream list: it starts the id, and the list is there already.
    h.key(KeyCode::Char('p')).await;
    assert!(h.app.inputs.open.is_some(), "p opened the jump input");
    assert!(selected(&h).starts_with("payment-"), "{}", selected(&h));
    assert!(
        h.screen().contains("the list follows as you type"),
        "{}",
        h.screen()
    );
    // Keys the view uses for commands are text once the input is open.
    h.type_text("ayment-0001").await;
    assert_eq!(h.app.inputs.open.as_ref().unwrap().text(), "payment-0001");
    let sel = selected(&h);
    assert!(sel.starts_with("payment-0001"), "{sel}");
    h.key(KeyCode::Enter).await;
    assert!(h.app.inputs.open.is_none());
    assert_eq!(selected(&h), sel, "Enter keeps the stream found");
    // Back to the start of the list: `a`, then Esc keeps where the typing led.
    h.key(KeyCode::Char('a')).await;
    h.key(KeyCode::Esc).await;
    assert!(h.app.inputs.open.is_none());
    assert!(selected(&h).starts_with("account-"), "{}", selected(&h));
    // A key the view uses keeps its meaning: `o` sorts, it does not type.
    h.key(KeyCode::Char('o')).await;
    assert!(h.app.inputs.open.is_none(), "o sorted the list");
    // In the log, an unbound letter types nothing.
    h.key(KeyCode::Char('2')).await;
    h.key(KeyCode::Char('p')).await;
    assert!(h.app.inputs.open.is_none());
}

#[tokio::test]
async fn following_the_log_waits_for_an_event_held_by_an_open_transaction() {
    if !common::available(common::Server::Postgres) {
        return;
    }
    let db = common::TempDb::create(common::Server::Postgres, "tuigap").await;
    db.load("native/postgres.sql").await;
    db.load("native/dataset-postgres.sql").await;
    let mut h = common::tui::on(
        &db.url,
        String::new(),
        tempfile::tempdir().unwrap(),
        Theme::default_dark(),
        (120, 40),
        ReducerSource::Demo,
    )
    .await;
    h.key(KeyCode::Char('f')).await;
    assert!(h.app.top().unwrap().following());
    const INSERT: &str = "INSERT INTO evscope_events (stream_id, stream_version, event_id, event_type, data) \
         VALUES ($1, 1, gen_random_uuid(), $2, '{}') RETURNING global_position";
    use sqlx::Connection;
    let mut held = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut held).await.unwrap();
    let p1: i64 = sqlx::query_scalar(INSERT)
        .bind("gap-held")
        .bind("Held")
        .fetch_one(&mut held)
        .await
        .unwrap();
    let p2: i64 = sqlx::query_scalar(INSERT)
        .bind("gap-after")
        .bind("After")
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(p2, p1 + 1);
    let types = |h: &Harness| -> Vec<String> {
        h.app
            .log()
            .unwrap()
            .rows
            .rows
            .iter()
            .filter(|r| r.event.stream_id.starts_with("gap-"))
            .map(|r| r.event.event_type.clone())
            .collect()
    };
    // While the transaction is open, the event after it is not shown: showing it would pass
    // the held one.
    for _ in 0..8 {
        h.app.update(Msg::Tick);
        h.settle().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(types(&h).is_empty(), "{:?}", types(&h));
    assert_eq!(
        h.app.log().unwrap().gap,
        Some(p1),
        "it says what it waits for"
    );
    assert!(!h.app.is_loading(), "waiting at a gap is not loading");
    sqlx::raw_sql("COMMIT").execute(&mut held).await.unwrap();
    for _ in 0..50 {
        if types(&h).len() == 2 {
            break;
        }
        h.app.update(Msg::Tick);
        h.settle().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        types(&h),
        ["Held", "After"],
        "both, in log order, each once"
    );
}

/// `c` on an event: the log of the events sharing its correlation id, across streams (the
/// filter shown in the title, the same one `evscope trace` runs, pushed down).
#[tokio::test]
async fn c_lists_the_events_sharing_the_correlation_id() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    h.key(KeyCode::Char('/')).await;
    h.type_text("type:TransferRequested").await;
    h.key(KeyCode::Enter).await;
    h.settle().await;
    let first = h
        .log()
        .rows
        .selected_row()
        .expect("a transfer")
        .event
        .clone();
    let corr = first.metadata["correlation_id"].clone();
    assert!(corr.is_string(), "{first:?}");
    h.key(KeyCode::Char('c')).await;
    h.settle().await;
    assert_eq!(h.app.view(), ViewKind::Trace);
    let v = h
        .app
        .find::<evscope::tui::views::trace::TraceView>()
        .expect("the trace");
    let t = v.trace.as_ref().expect("traced");
    assert!(t.events.len() >= 2, "{}", h.screen());
    assert!(
        t.events
            .iter()
            .all(|e| e.event.metadata["correlation_id"] == corr)
    );
    let streams: std::collections::BTreeSet<&str> = t
        .events
        .iter()
        .map(|e| e.event.stream_id.as_str())
        .collect();
    assert!(streams.len() >= 2, "across streams: {streams:?}");
    // The same events `evscope trace` lists, in its tree order (the same domain code).
    let cli = evscope::trace::trace(&h.app.store, &first.event_id, 10_000)
        .await
        .unwrap();
    let ids = |t: &evscope::trace::Trace| -> Vec<(String, usize)> {
        t.events
            .iter()
            .map(|e| (e.event.event_id.clone(), e.depth))
            .collect()
    };
    assert_eq!(ids(t), ids(&cli));
    // The cursor is on the event the trace started from; the tree shows causes.
    assert_eq!(
        h.app.top().unwrap().selected_event().unwrap().event_id,
        first.event_id
    );
    let screen = h.screen();
    assert!(screen.contains("events share correlation_id"), "{screen}");
    if t.events.iter().any(|e| e.depth > 0) {
        assert!(screen.contains("└ "), "{screen}");
    }
    // Enter opens the selected event; Esc twice goes back to the list it came from.
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Detail);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Esc).await;
    let back = h.app.find::<EventsView>().unwrap();
    assert_eq!(back.query.text, "type:TransferRequested");
}

/// Follow is the view's own: `f` on the log follows the log, a stream opened from it does not
/// follow, and the title and the status line say the same thing in each.
#[tokio::test]
async fn follow_is_per_view_and_the_title_and_status_line_agree() {
    use evscope::tui::views::View as _;
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    h.key(KeyCode::Char('2')).await;
    h.key(KeyCode::Char('f')).await;
    let lines: Vec<String> = h.screen().lines().map(str::to_string).collect();
    let title = &lines[0..3].join("\n");
    let status = lines.last().unwrap();
    assert!(h.app.log().unwrap().following(), "the log follows");
    assert!(title.contains("· following"), "{title}");
    assert!(status.contains("· following"), "{status}");
    // Open the selected event's stream (Enter shows the event, s its stream).
    let stream = h
        .app
        .log()
        .unwrap()
        .rows
        .selected_row()
        .unwrap()
        .event
        .stream_id
        .clone();
    h.key(KeyCode::Char('1')).await;
    h.key(KeyCode::Char('/')).await;
    h.type_text(&format!("stream:{stream}")).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    let screen = h.screen();
    assert!(screen.contains(&format!("Stream {stream}")), "{screen}");
    assert!(
        !screen.contains("following"),
        "the stream view does not follow:\n{screen}"
    );
    // Back on the log: still following, and said in both places.
    h.key(KeyCode::Char('2')).await;
    let lines: Vec<String> = h.screen().lines().map(str::to_string).collect();
    assert!(lines[0..3].join("\n").contains("· following"), "{lines:?}");
    assert!(lines.last().unwrap().contains("· following"), "{lines:?}");
    // f again stops it: neither says it any more.
    h.key(KeyCode::Char('f')).await;
    let screen = h.screen();
    assert!(!screen.contains("· following"), "{screen}");
}

/// `g` takes an event id: the event opens in the detail view, whichever page it is on; an id
/// that no event has is said, and nothing opens.
#[tokio::test]
async fn g_opens_an_event_by_its_id() {
    use evscope::tui::views::detail::DetailView;
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    h.key(KeyCode::Char('2')).await;
    // An event far from the first page: the last one of the log.
    h.key(KeyCode::End).await;
    let id = h
        .app
        .log()
        .unwrap()
        .rows
        .selected_row()
        .unwrap()
        .event
        .event_id
        .clone();
    h.key(KeyCode::Home).await;
    h.key(KeyCode::Char('g')).await;
    h.type_text(&id).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Detail, "{}", h.screen());
    assert_eq!(h.app.find::<DetailView>().unwrap().event.event_id, id);
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('g')).await;
    h.type_text("00000000-0000-4000-8000-00000000dead").await;
    h.key(KeyCode::Enter).await;
    assert_ne!(h.app.view(), ViewKind::Detail);
    let screen = h.screen();
    assert!(screen.contains("no event"), "{screen}");
}

/// A jq error at run time is an error on screen, naming the event, not an empty list that
/// looks like "nothing matches".
#[tokio::test]
async fn a_jq_error_at_run_time_is_shown_not_taken_for_no_match() {
    let mut h = harness(Theme::default_dark(), (120, 40)).await;
    h.key(KeyCode::Char('2')).await;
    h.key(KeyCode::Char('/')).await;
    h.type_text("| error(\"boom\")").await;
    h.key(KeyCode::Enter).await;
    let screen = h.screen();
    assert!(screen.contains("boom"), "{screen}");
    assert!(screen.contains("the filter failed on event"), "{screen}");
    assert!(!screen.contains("no events"), "{screen}");
}
