//! Seals in the TUI: `Z` seals the marked range, `V` opens the receipt and verifies the store
//! against it (with the CLI's --key and --jobs as fields); when an event was changed since,
//! Enter shows it in the detail view with the fields that changed.

mod common;

use common::seal::{root, run, seal, verify};
use evscope::rehydrate::source::ReducerSource;
use evscope::tui::theme::Theme;
use evscope::tui::views::ViewKind;
use evscope::tui::views::detail::DetailView;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use serde_json::Value;
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
    verify_in_tui(&mut h, &receipt).await;
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
    verify_in_tui(&mut h, &receipt).await;
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
async fn verify_in_tui(h: &mut common::tui::Harness, receipt: &str) {
    h.key(KeyCode::Char('V')).await;
    assert!(h.app.verify_seal.is_open());
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
    h.type_text(receipt).await;
    h.key(KeyCode::Enter).await;
    h.until("the verification ends", |a| !a.verify_seal.is_busy())
        .await;
}

/// The key and jobs fields are `verify-seal`'s `--key` and `--jobs`: a receipt signed with one
/// key is refused at the key field when another is given, and verifies with its own, on two
/// jobs; a number of jobs that is none is refused at its field before anything runs.
#[tokio::test]
async fn v_takes_the_public_key_and_the_jobs_of_the_cli() {
    let mut h = common::tui::demo(Theme::default_dark(), (110, 34), ReducerSource::None).await;
    let out = tempfile::tempdir().unwrap();
    let d = out.path();
    let url = format!("sqlite://{}", h.path);
    for k in ["k1", "k2"] {
        let r = run(d, &url, &["keygen", "--out", k]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    seal(d, &url, "signed.json", &["--sign", "k1"]);
    let field = |p: &str| d.join(p).display().to_string();
    // V, the receipt, Tab to the key, Tab to the jobs.
    let verify_with = async |h: &mut common::tui::Harness, key: &str, jobs: &str| {
        h.key(KeyCode::Char('V')).await;
        h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
        h.type_text(&field("signed.json")).await;
        h.key(KeyCode::Tab).await;
        h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
        h.type_text(key).await;
        h.key(KeyCode::Tab).await;
        h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
        h.type_text(jobs).await;
        h.key(KeyCode::Enter).await;
        h.until("the verification ends", |a| !a.verify_seal.is_busy())
            .await;
    };
    verify_with(&mut h, &field("k2.pub"), "1").await;
    let screen = h.screen();
    assert!(screen.contains("signed by another key"), "{screen}");
    assert!(
        h.app.verify_seal.is_open(),
        "refused at the field: the dialog stays"
    );
    h.key(KeyCode::Esc).await;
    verify_with(&mut h, &field("k1.pub"), "0").await;
    assert!(
        h.screen().contains("a number of jobs, 1 to 64"),
        "{}",
        h.screen()
    );
    h.key(KeyCode::Esc).await;
    verify_with(&mut h, &field("nope.pub"), "2").await;
    assert!(h.screen().contains("nope.pub"), "{}", h.screen());
    h.key(KeyCode::Esc).await;
    verify_with(&mut h, &field("k1.pub"), "2").await;
    let screen = h.screen();
    assert!(screen.contains("unchanged"), "{screen}");
    assert!(screen.contains("signature by"), "{screen}");
    h.key(KeyCode::Esc).await;
    assert!(!h.app.verify_seal.is_open());
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

#[tokio::test]
async fn z_in_the_tui_seals_the_marked_range_into_a_receipt_the_cli_verifies() {
    let mut h = common::tui::demo(Theme::default_dark(), (100, 30), ReducerSource::None).await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    // Two marks: the newest event and the fifth before it.
    h.key(KeyCode::Char('m')).await;
    for _ in 0..5 {
        h.key(KeyCode::Char('k')).await;
    }
    h.key(KeyCode::Char('m')).await;
    h.key(KeyCode::Char('Z')).await;
    assert!(h.app.seal.is_open());
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
    h.type_text(&format!("{dir}/r.json")).await;
    // The temporary directory masked, keeping its width (the borders stay aligned).
    let masked = format!("{:<1$}", "<DIR>", dir.chars().count());
    insta::assert_snapshot!("seal_dialog", h.screen().replace(&dir, &masked));
    // A file that exists is refused at the field.
    std::fs::write(out.path().join("r.json"), "x").unwrap();
    h.key(KeyCode::Enter).await;
    assert!(h.screen().contains("exists"), "{}", h.screen());
    std::fs::remove_file(out.path().join("r.json")).unwrap();
    h.key(KeyCode::Enter).await;
    h.until("the seal ends", |a| !a.seal.is_busy()).await;
    let screen = h.screen();
    assert!(screen.contains("sealed 6 events"), "{screen}");
    h.key(KeyCode::Esc).await;
    assert!(!h.app.seal.is_open());
    // The receipt is the CLI's: verify-seal finds it unchanged, and seal gives its root.
    let url = format!("sqlite://{}", h.path);
    let receipt: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(receipt["count"], 6);
    let (code, v, err) = verify(out.path(), &url, "r.json", &[]);
    assert_eq!(code, 0, "{v} {err}");
    let from = receipt["range"]["from_position"]
        .as_i64()
        .unwrap()
        .to_string();
    let to = receipt["range"]["to_position"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_eq!(
        root(
            out.path(),
            &url,
            &["--from-position", &from, "--to-position", &to]
        ),
        receipt["root"].as_str().unwrap()
    );
}

/// The copy toggle is `verify-seal --copy`: a copied SQLite file is another store (refused at
/// the toggle, the dialog stays), and with the toggle on it is verified as a copy, unchanged.
#[tokio::test]
async fn v_verifies_a_copy_of_the_sealed_store_with_the_copy_toggle() {
    let out = tempfile::tempdir().unwrap();
    let d = out.path();
    let original = d.join("sealed.db");
    evscope::demo::ensure(&original, 6, false).await.unwrap();
    let url = evscope::demo::url_for(&original);
    seal(d, &url, "r.json", &[]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("restored.db");
    std::fs::copy(&original, &copy).unwrap();
    let copy_url = evscope::demo::url_for(&copy);
    let mut h = common::tui::on(
        &copy_url,
        copy.display().to_string(),
        dir,
        Theme::default_dark(),
        (110, 32),
        ReducerSource::None,
    )
    .await;
    let receipt = d.join("r.json").display().to_string();
    let verify_with = async |h: &mut common::tui::Harness, toggle: bool| {
        h.key(KeyCode::Char('V')).await;
        h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL).await;
        h.type_text(&receipt).await;
        for _ in 0..3 {
            h.key(KeyCode::Tab).await;
        }
        assert!(h.screen().contains("Space toggle"), "{}", h.screen());
        if toggle {
            h.key(KeyCode::Char(' ')).await;
            assert!(h.screen().contains("[x] a copy"), "{}", h.screen());
        }
        h.key(KeyCode::Enter).await;
        h.until("the verification ends", |a| !a.verify_seal.is_busy())
            .await;
    };
    verify_with(&mut h, false).await;
    let screen = h.screen();
    assert!(screen.contains("another store"), "{screen}");
    assert!(h.app.verify_seal.is_open(), "refused at the toggle");
    h.key(KeyCode::Esc).await;
    verify_with(&mut h, true).await;
    let screen = h.screen();
    assert!(screen.contains("unchanged"), "{screen}");
    assert!(screen.contains("verified as a copy"), "{screen}");
    h.key(KeyCode::Esc).await;
    assert!(!h.app.verify_seal.is_open());
}
