//! The TUI driven through its messages, without a terminal: a real store, real spawned
//! queries, frames drawn on a TestBackend of a fixed size (the temporary path masked).

use std::time::Duration;

use evscope::rehydrate::source::ReducerSource;
use evscope::store::{OpenOptions, Store};
use evscope::tui::app::App;
use evscope::tui::keys::KeyMap;
use evscope::tui::request::Msg;
use evscope::tui::theme::Theme;
use evscope::tui::views::events::EventsView;
use evscope::tui::views::streams::StreamsView;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Size;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

pub struct Harness {
    pub app: App,
    pub rx: UnboundedReceiver<Msg>,
    /// The temporary directory of the store (kept alive with the harness).
    pub dir: tempfile::TempDir,
    /// The store's file, masked in screens.
    pub path: String,
    pub size: (u16, u16),
}

/// The app on a new demo store (6 accounts), started and settled.
pub async fn demo(theme: Theme, size: (u16, u16), reducers: ReducerSource) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    evscope::demo::ensure(&path, 6, false).await.unwrap();
    let url = evscope::demo::url_for(&path);
    on(&url, path.display().to_string(), dir, theme, size, reducers).await
}

/// The app on the store at `url`, started and settled; `path` is masked in screens.
pub async fn on(
    url: &str,
    path: String,
    dir: tempfile::TempDir,
    theme: Theme,
    size: (u16, u16),
    reducers: ReducerSource,
) -> Harness {
    let store = Store::open(&OpenOptions {
        url: url.to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    on_store(store, path, dir, theme, size, reducers).await
}

/// The app on an open store (with a mapping file, say), started and settled.
pub async fn on_store(
    store: Store,
    path: String,
    dir: tempfile::TempDir,
    theme: Theme,
    size: (u16, u16),
    reducers: ReducerSource,
) -> Harness {
    let (tx, rx) = unbounded_channel();
    let keys = KeyMap::new(&Default::default()).unwrap();
    let mut app = App::new(store, tx, keys, theme, Size::new(size.0, size.1));
    app.reducers = reducers;
    app.start();
    let mut h = Harness {
        app,
        rx,
        dir,
        path,
        size,
    };
    h.settle().await;
    h
}

impl Harness {
    /// The global log view.
    pub fn log(&self) -> &EventsView {
        self.app.log().expect("the log view")
    }

    /// The topmost stream view.
    pub fn stream(&self) -> &EventsView {
        self.app
            .find::<EventsView>()
            .filter(|v| v.stream_id().is_some())
            .expect("a stream view on top")
    }

    pub fn streams(&self) -> &StreamsView {
        self.app.find::<StreamsView>().expect("the stream list")
    }

    /// Feed answers until nothing is loading.
    pub async fn settle(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            while let Ok(m) = self.rx.try_recv() {
                self.app.update(m);
            }
            if !self.app.is_loading() {
                return;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.app.update(m),
                _ => panic!("the app kept loading"),
            }
        }
    }

    /// Feed answers until `done` holds (for work `is_loading` does not cover: replay).
    pub async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done(&self.app) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.app.update(m),
                _ => panic!("never: {what}"),
            }
        }
    }

    /// A key, not waited for (keys queued in one burst).
    pub fn send(&mut self, code: KeyCode) {
        self.app.update(Msg::Term(Event::Key(KeyEvent::new(
            code,
            KeyModifiers::NONE,
        ))));
    }

    pub async fn key(&mut self, code: KeyCode) {
        self.key_mod(code, KeyModifiers::NONE).await;
    }

    pub async fn key_mod(&mut self, code: KeyCode, m: KeyModifiers) {
        self.app
            .update(Msg::Term(Event::Key(KeyEvent::new(code, m))));
        self.settle().await;
    }

    pub async fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            self.send(KeyCode::Char(c));
        }
        self.settle().await;
    }

    pub fn buffer(&self) -> Buffer {
        let (w, h) = self.size;
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| self.app.draw(f)).unwrap();
        t.backend().buffer().clone()
    }

    pub fn screen(&self) -> String {
        let buf = self.buffer();
        let (w, h) = self.size;
        let mut out = String::new();
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.replace(&format!("sqlite://{}", self.path), "sqlite://<DEMO>")
    }
}
