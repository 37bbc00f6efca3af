//! Seals in the TUI: `Z` seals the marked range, `V` opens the receipt and verifies the store
//! against it; when an event was changed since, Enter shows it in the detail view with the
//! fields that changed.

mod common;

use evscope::rehydrate::source::ReducerSource;
use evscope::tui::theme::Theme;
use evscope::tui::views::ViewKind;
use evscope::tui::views::detail::DetailView;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use sqlx::Connection;

#[tokio::test]
async fn v_verifies_a_receipt_and_shows_the_changed_event() {
    let mut h = common::tui::demo(Theme::default_dark(), (110, 30), ReducerSource::None).await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let receipt = format!("{dir}/r.json");
    // Seal the newest six events.
    h.key(KeyCode::Char('m')).await;
    for _ in 0..5 {
        h.key(KeyCode::Char('k')).await;
    }
    h.key(KeyCode::Char('m')).await;
    h.key(KeyCode::Char('Z')).await;
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
    h.type_text(&receipt).await;
    h.key(KeyCode::Enter).await;
    h.until("the seal ends", |a| !a.seal.is_busy()).await;
    assert!(h.screen().contains("sealed 6 events"), "{}", h.screen());
    h.key(KeyCode::Esc).await;

    // Nothing changed: unchanged, and any key closes.
    verify(&mut h, &receipt).await;
    let screen = h.screen();
    assert!(screen.contains("unchanged: 6 events"), "{screen}");
    h.key(KeyCode::Enter).await;
    assert!(!h.app.verify_seal.is_open());
    assert_eq!(h.app.view(), ViewKind::Log);

    // One digit of one event's data changed behind evscope's back.
    let url = format!("sqlite://{}", h.path);
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (pos, id): (i64, String) = sqlx::query_as(
        "SELECT global_position, event_id FROM evscope_events ORDER BY global_position DESC LIMIT 1 OFFSET 2",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    sqlx::query("UPDATE evscope_events SET data = json_set(data, '$.tampered', 1) WHERE global_position = ?")
        .bind(pos)
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    verify(&mut h, &receipt).await;
    let masked = format!("{:<1$}", "<DIR>", dir.chars().count());
    let screen = h.screen().replace(&dir, &masked);
    assert!(screen.contains("CHANGED"), "{screen}");
    assert!(
        screen.contains(&format!("first difference: changed at position {pos}")),
        "{screen}"
    );
    assert!(
        screen.contains("Enter show the differing event"),
        "{screen}"
    );
    insta::assert_snapshot!("verify_seal_changed", screen);
    // Enter: the event as the store holds it now, with what changed above it.
    h.key(KeyCode::Enter).await;
    assert_eq!(h.app.view(), ViewKind::Detail);
    let d = h.app.find::<DetailView>().unwrap();
    assert_eq!(d.event.event_id, id);
    let note = d.note.clone().unwrap();
    assert!(
        note.starts_with("changed since it was sealed: data"),
        "{note}"
    );
    let screen = h.screen();
    assert!(
        screen.contains("changed since it was sealed: data"),
        "{screen}"
    );
    assert!(screen.contains("tampered"), "{screen}");
}

/// `V`, the receipt's path, Enter, and the verification's end.
async fn verify(h: &mut common::tui::Harness, receipt: &str) {
    h.key(KeyCode::Char('V')).await;
    assert!(h.app.verify_seal.is_open());
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
    h.type_text(receipt).await;
    h.key(KeyCode::Enter).await;
    h.until("the verification ends", |a| !a.verify_seal.is_busy())
        .await;
}

/// A file that is not a receipt is said at the field, and the dialog stays open.
#[tokio::test]
async fn v_on_a_file_that_is_not_a_receipt_says_so() {
    let mut h = common::tui::demo(Theme::default_dark(), (110, 30), ReducerSource::None).await;
    let out = tempfile::tempdir().unwrap();
    let bad = out.path().join("bad.json");
    std::fs::write(&bad, "{\"not\": \"a receipt\"}").unwrap();
    h.key(KeyCode::Char('V')).await;
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
    h.type_text(&bad.display().to_string()).await;
    h.key(KeyCode::Enter).await;
    h.until("the verification ends", |a| !a.verify_seal.is_busy())
        .await;
    assert!(h.app.verify_seal.is_open());
    assert!(
        h.screen().contains("not an evscope receipt"),
        "{}",
        h.screen()
    );
    h.key(KeyCode::Esc).await;
    assert!(!h.app.verify_seal.is_open());
}
