//! TUI benchmark over the 10M-event PostgreSQL store of the store benchmark:
//!
//!     EVSCOPE_BENCH_DB=evscope_bench_10m cargo bench --bench store   # once, to build the store
//!     cargo bench --bench tui
//!
//! Measures, with the real app (spawned queries, answers through its channel) drawing into a
//! TestBackend of 160x50: the time from start (connect, detect, first page) to the first
//! drawn frame with data; the time from a key press to the frame that shows its result, for
//! PgDn within the fetched rows, PgDn that needs a query, End, a jump to position 5M, and 200
//! `l` presses queued at once in time travel; and the peak RSS after scrolling through 100,000
//! events. Writes bench-results/tui.md.
//! (A real terminal adds the write of the changed cells, not measured here.)

#[path = "support/mod.rs"]
mod support;
use support::peak_rss_mb;

use std::time::{Duration, Instant};

use evscope::store::{OpenOptions, Store};
use evscope::tui::app::App;
use evscope::tui::keys::KeyMap;
use evscope::tui::request::Msg;
use evscope::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Size;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

const W: u16 = 160;
const H: u16 = 50;

struct Bench {
    app: App,
    rx: UnboundedReceiver<Msg>,
    term: Terminal<TestBackend>,
}

impl Bench {
    async fn settle(&mut self) {
        loop {
            while let Ok(m) = self.rx.try_recv() {
                self.app.update(m);
            }
            if !self.app.is_loading() {
                return;
            }
            match tokio::time::timeout(Duration::from_secs(30), self.rx.recv()).await {
                Ok(Some(m)) => self.app.update(m),
                _ => panic!("still loading after 30 s"),
            }
        }
    }

    fn draw(&mut self) {
        let app = &self.app;
        self.term.draw(|f| app.draw(f)).expect("draw");
    }

    fn key(&mut self, code: KeyCode) {
        self.app.update(Msg::Term(Event::Key(KeyEvent::new(
            code,
            KeyModifiers::NONE,
        ))));
    }

    /// Press, wait for the answer if a query was needed, draw: the key-to-frame time.
    async fn press(&mut self, codes: &[KeyCode]) -> (Duration, bool) {
        let t = Instant::now();
        for c in codes {
            self.key(*c);
        }
        let queried = self.app.is_loading();
        self.settle().await;
        self.draw();
        (t.elapsed(), queried)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("EVSCOPE_BENCH_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/evscope_bench_10m".into());
    // Start: connect, detect, first page, first frame — five times, each from nothing (a new
    // pool, the layout detected again); the split says how much of it is the store's opening.
    let mut starts: Vec<(Duration, Duration)> = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t0 = Instant::now();
        let store = Store::open(&OpenOptions { url: url.clone(), ..Default::default() })
            .await
            .unwrap_or_else(|e| panic!("{e} (build the store first: EVSCOPE_BENCH_DB=evscope_bench_10m cargo bench --bench store)"));
        let opened = t0.elapsed();
        let (tx, rx) = unbounded_channel();
        let keys = KeyMap::new(&Default::default()).unwrap();
        let mut app = App::new(store, tx, keys, Theme::default_dark(), Size::new(W, H));
        app.start();
        let mut b = Bench {
            app,
            rx,
            term: Terminal::new(TestBackend::new(W, H)).unwrap(),
        };
        b.settle().await;
        b.draw();
        starts.push((t0.elapsed(), opened));
        last = Some(b);
    }
    let mut b = last.unwrap();
    let first_frame = starts[0].0;
    let mut sorted: Vec<Duration> = starts.iter().map(|s| s.0).collect();
    sorted.sort();
    let (first_median, first_max) = (sorted[sorted.len() / 2], sorted[sorted.len() - 1]);
    let open_median = {
        let mut o: Vec<Duration> = starts.iter().map(|s| s.1).collect();
        o.sort();
        o[o.len() / 2]
    };
    eprintln!(
        "bench: start to the first frame: first {:.1} ms, median {:.1} ms, max {:.1} ms of {} (opening the store: median {:.1} ms)",
        ms(first_frame),
        ms(first_median),
        ms(first_max),
        starts.len(),
        ms(open_median)
    );
    let head = b.app.log().and_then(|l| l.head).unwrap_or(0);
    assert!(
        !b.app.log().unwrap().rows.rows.is_empty(),
        "the first frame has data"
    );

    let mut rows: Vec<(String, f64, f64, usize)> = Vec::new();
    let mut record = |name: &str, v: Vec<(Duration, bool)>| {
        let n = v.len();
        let (med, p95) = stats(v.iter().map(|x| x.0).collect());
        eprintln!("bench: {name:<52} median {med:>8.3} ms  p95 {p95:>8.3} ms  ({n} presses)");
        rows.push((name.to_string(), med, p95, n));
    };

    // Jump to the middle, so that both directions have room.
    b.key(KeyCode::Char('g'));
    for c in "5000000".chars() {
        b.key(KeyCode::Char(c));
    }
    b.press(&[KeyCode::Enter]).await;

    // PgDn: separate the presses served from fetched rows from those that needed a query.
    let mut cached = Vec::new();
    let mut queried = Vec::new();
    for _ in 0..400 {
        let r = b.press(&[KeyCode::PageDown]).await;
        if r.1 { queried.push(r) } else { cached.push(r) }
    }
    record("PgDn, rows already fetched", cached);
    record("PgDn that needed a query", queried);

    let mut ends = Vec::new();
    let mut jumps = Vec::new();
    for i in 0..20 {
        b.press(&[KeyCode::Home]).await;
        ends.push(b.press(&[KeyCode::End]).await);
        b.key(KeyCode::Char('g'));
        for c in format!("{}", 5_000_000 + i * 1000).chars() {
            b.key(KeyCode::Char(c));
        }
        jumps.push(b.press(&[KeyCode::Enter]).await);
        let p = b
            .app
            .log()
            .unwrap()
            .rows
            .selected_row()
            .and_then(|r| r.event.global_position);
        assert_eq!(p, Some(5_000_000 + i * 1000));
    }
    record("End (newest event)", ends);
    record("jump to position 5,000,000 (g)", jumps);

    // Time travel: 200 `l` presses queued at once are applied as one fold (every press
    // counts; the stream's last version stops them), and the frame shows the result.
    let mut bursts = Vec::new();
    for i in 0..10i64 {
        b.key(KeyCode::Char('g'));
        for c in format!("{}", 2_000_000 + i * 500_000).chars() {
            b.key(KeyCode::Char(c));
        }
        b.press(&[KeyCode::Enter]).await;
        b.press(&[KeyCode::Char('t')]).await;
        b.press(&[KeyCode::Home]).await;
        let presses = [KeyCode::Char('l'); 200];
        bursts.push(b.press(&presses).await);
        let tt = b
            .app
            .find::<evscope::tui::views::timetravel::TimeTravelView>()
            .and_then(|t| t.shown.as_ref())
            .expect("a time-travel step");
        let want = (tt.first_version + 199).min(tt.last_version);
        assert_eq!(
            tt.step.version,
            Some(want),
            "200 presses from the first version"
        );
        b.press(&[KeyCode::Esc]).await;
    }
    record("time travel: 200 queued l presses", bursts);

    // Scroll through 100,000 events and read the peak RSS.
    b.press(&[KeyCode::Home]).await;
    let start = b
        .app
        .log()
        .unwrap()
        .rows
        .selected_row()
        .and_then(|r| r.event.global_position)
        .unwrap_or(1);
    let t = Instant::now();
    let mut presses = 0;
    loop {
        let p = b
            .app
            .log()
            .unwrap()
            .rows
            .selected_row()
            .and_then(|r| r.event.global_position)
            .unwrap_or(0);
        if p - start >= 100_000 {
            break;
        }
        b.press(&[KeyCode::PageDown]).await;
        presses += 1;
    }
    let scroll = t.elapsed();
    let rss = peak_rss_mb();

    let mut md = format!(
        "# evscope TUI benchmark\n\nStore: {} ({head} events). Frames drawn into a {W}x{H} TestBackend.\n\n\
         | measurement | median ms | p95 ms | n |\n|---|---:|---:|---:|\n| start to the first frame with data (first of 5 starts: {:.1}; max {:.1}; opening the store {:.1} of it) | {:.1} | | 5 |\n",
        evscope::redact::redact_url(&url),
        ms(first_frame),
        ms(first_max),
        ms(open_median),
        ms(first_median)
    );
    for (name, med, p95, n) in &rows {
        md.push_str(&format!(
            "| key to frame: {name} | {med:.3} | {p95:.3} | {n} |\n"
        ));
    }
    md.push_str(&format!(
        "\nScrolled 100,000 events with {presses} PgDn presses in {:.1} s; peak RSS of the process: {rss:.1} MB.\n",
        scroll.as_secs_f64()
    ));
    println!("{md}");
    let _ = std::fs::create_dir_all("bench-results");
    let _ = std::fs::write("bench-results/tui.md", md);
}
