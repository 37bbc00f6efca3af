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

/// Whether a word of a screen is an age ("3s", "12m05s", "2956h41m", or one cut by its
/// column, "2956h4"): it changes from run to run.
pub fn is_age(w: &str) -> bool {
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let lead = w.chars().take_while(|c| c.is_ascii_digit()).count();
    if lead == 0 {
        return false;
    }
    let rest = &w[lead..];
    let Some(unit) = rest.chars().next() else {
        return false;
    };
    let tail = &rest[unit.len_utf8()..];
    match unit {
        's' => tail.is_empty(),
        'm' => {
            let t = tail.strip_suffix('s').unwrap_or(tail);
            digits(t)
        }
        'h' => {
            let t = tail.strip_suffix('m').unwrap_or(tail);
            digits(t)
        }
        _ => false,
    }
}

/// A screen with what changes from run to run masked: the texts `hide` (a temporary
/// directory, a job id) by their labels, ages as `<age>`, rates ("1234/s") as `<N>/s`, the
/// time stamp in a proposed file name (`evscope-export-20261202T150102.123`) as `#`s. A
/// masked word gives or takes the spaces after it, so what follows stays in its column.
pub fn mask(screen: &str, hide: &[(&str, &str)]) -> String {
    let word = |w: &str| -> String {
        if is_age(w) {
            return "<age>".into();
        }
        if let Some(n) = w.strip_suffix("/s")
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return "<N>/s".into();
        }
        let mut w = w.to_string();
        for marker in ["evscope-export-", "evscope-seal-"] {
            if let Some(i) = w.find(marker) {
                let (head, tail) = w.split_at(i + marker.len());
                let n = tail
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == 'T' || *c == '.')
                    .count();
                let stamp = tail[..n].trim_end_matches('.');
                let masked: String = stamp
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect();
                w = format!("{head}{masked}{}", &tail[stamp.len()..]);
            }
        }
        w
    };
    let width = |s: &str| s.chars().count();
    screen
        .lines()
        .map(|l| {
            let mut out = String::new();
            // Where the last masked word ends (in characters of `out`).
            let mut changed: Option<usize> = None;
            // Spaces owed (+) or to take back (-) from the next run of spaces.
            let mut owed: isize = 0;
            for (i, w) in l.split(' ').enumerate() {
                if i > 0 {
                    // One separator space, unless it is taken back (one is always kept).
                    if owed < 0 && w.is_empty() {
                        owed += 1;
                        continue;
                    }
                    out.push(' ');
                }
                if w.is_empty() {
                    continue;
                }
                if owed > 0 {
                    out.extend(std::iter::repeat_n(' ', owed as usize));
                }
                let mut m = word(w);
                owed = width(w) as isize - width(&m) as isize;
                for (text, label) in hide {
                    if !text.is_empty() {
                        m = m.replace(text, label);
                    }
                }
                out.push_str(&m);
                if m != w {
                    changed = Some(width(&out));
                }
            }
            // What the spaces after a word could not absorb: the next padding after the
            // last masked word (a run of two spaces or more) gives or takes it.
            let (was, now) = (width(l), width(&out));
            if was != now {
                let chars: Vec<char> = out.chars().collect();
                let from = changed.unwrap_or(0).max(1);
                let start = (from..chars.len()).find(|&i| chars[i] == ' ' && chars[i - 1] == ' ');
                if let Some(second) = start {
                    let start = second - 1;
                    let e = start + chars[start..].iter().take_while(|c| **c == ' ').count();
                    let run = e - start;
                    let keep = (run as isize + was as isize - now as isize).max(1) as usize;
                    let mut fixed: String = chars[..start].iter().collect();
                    fixed.extend(std::iter::repeat_n(' ', keep));
                    fixed.extend(&chars[e..]);
                    out = fixed;
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Harness {
    /// The screen with what changes from run to run masked (see `mask`): the harness's
    /// directory as `<DIR>` and a replay job's id as `<JOB>` too.
    pub fn masked_screen(&self) -> String {
        let dir = self.dir.path().display().to_string();
        let job = self.app.replay.job.as_ref().map(|j| j.id.clone());
        let mut hide = vec![(dir.as_str(), "<DIR>")];
        if let Some(j) = &job {
            hide.push((j.as_str(), "<JOB>"));
        }
        mask(&self.screen(), &hide)
    }
}
