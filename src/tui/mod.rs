//! The terminal UI. `app` routes keys and replies to the views (`views/`, each owning its
//! state, keys, drawing and requests) and draws the overlays (`overlays/`) and the status
//! line; `request` is how work leaves `update` and comes back; `widgets` what views draw
//! with. This file owns the terminal: one restore routine for Drop, panic and error, a thread
//! that reads terminal events, and the loop that feeds messages to the app and draws when
//! asked.

pub mod app;
pub mod keys;
pub mod overlays;
pub mod request;
pub mod theme;
pub mod views;
pub mod widgets;

use std::collections::BTreeMap;
use std::io::{Write, stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::layout::Size;
use tokio::sync::mpsc;

use crate::store::Store;
use app::App;
use keys::KeyMap;
use request::Msg;
use theme::Theme;

#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// A built-in theme name or a theme file.
    pub theme: Option<String>,
    /// Key overrides from the config file.
    pub keys: BTreeMap<String, Vec<String>>,
    /// The reducers for time travel.
    pub reducers: crate::rehydrate::source::ReducerSource,
    /// The config file's named sinks, for the replay dialog (`profile:NAME`).
    pub sinks: std::collections::BTreeMap<String, crate::config::SinkProfile>,
}

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The first panic anywhere while the TUI runs (a spawned task's included): the loop ends on
/// it the way it ends on a panic of its own, instead of running on behind a restored screen.
static PANICKED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn take_panic() -> Option<String> {
    PANICKED.lock().ok().and_then(|mut p| p.take())
}

/// Put the terminal back as it was: the one routine used on quit, on error and on panic.
/// Safe to call more than once.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            stdout(),
            DisableMouseCapture,
            LeaveAlternateScreen,
            ratatui::crossterm::cursor::Show
        );
    }
}

struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        // Restore before any panic message is printed.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            if let Ok(mut p) = PANICKED.lock() {
                if p.is_none() {
                    let what = info
                        .payload()
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| info.payload().downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into());
                    let at = info
                        .location()
                        .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
                    *p = Some(format!("{what}{at}"));
                }
            }
            previous(info);
        }));
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        Ok(TerminalGuard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard (works over SSH).
pub fn osc52_sequence(text: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{b64}\x07")
}

/// Copy text to the clipboard of the terminal with OSC 52.
pub fn osc52_copy(text: &str) {
    let mut out = stdout();
    let _ = out.write_all(osc52_sequence(text).as_bytes());
    let _ = out.flush();
}

/// Resolve theme and keys, failing before the terminal is touched.
pub fn prepare(opts: &TuiOptions) -> Result<(Theme, KeyMap), String> {
    let theme = Theme::load(opts.theme.as_deref().unwrap_or("dark"))?;
    let theme = if theme::no_color() {
        theme.without_color()
    } else {
        theme
    };
    let keys = KeyMap::new(&opts.keys)?;
    Ok((theme, keys))
}

/// What the TUI opens: a store that is open, or one being connected to (the TUI is on the
/// screen at once, says where it connects and for how long, and quits on `q`/Esc/Ctrl-C).
pub enum Opening {
    Open(Box<Store>),
    Connecting {
        /// Where (its password redacted).
        to: String,
        /// The connect timeout.
        within: Duration,
        open: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Store, String>> + Send>>,
    },
}

/// Run the TUI until the user quits.
pub async fn run(opening: Opening, opts: TuiOptions) -> Result<(), String> {
    use std::io::IsTerminal;
    let (theme, keys) = prepare(&opts)?;
    if !stdout().is_terminal() {
        let url = match &opening {
            Opening::Open(s) => s.url().to_string(),
            Opening::Connecting { to, .. } => to.clone(),
        };
        return Err(format!(
            "the TUI needs a terminal, and standard output is not one (it would open {url}); \
             for scripts use `evscope log`, `evscope streams` or `evscope events`"
        ));
    }
    let guard = TerminalGuard::enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let result = run_loop(opening, theme, keys, opts.reducers, opts.sinks).await;
    drop(guard);
    result
}

/// The connecting screen: redrawn with the time gone by until the store is open (Some), the
/// user quits (None) or the connection fails (Err, said once the terminal is restored).
async fn connecting(
    terminal: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    theme: &Theme,
    to: &str,
    within: Duration,
    open: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Store, String>> + Send>>,
) -> Result<Option<Store>, String> {
    use ratatui::crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
    use ratatui::text::Line;
    use ratatui::widgets::Paragraph;
    let started = std::time::Instant::now();
    let mut task = tokio::spawn(open);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let gone = started.elapsed().as_secs_f64();
        terminal
            .draw(|f| {
                let area = f.area();
                let lines = vec![
                    Line::styled(
                        format!(
                            "connecting to {to} … {gone:.1}s (up to {}s)",
                            within.as_secs_f64()
                        ),
                        theme.loading,
                    ),
                    Line::styled("q quits", theme.muted),
                ];
                let y = area.height / 2;
                let r = ratatui::layout::Rect::new(
                    area.x,
                    area.y + y.saturating_sub(1),
                    area.width,
                    2.min(area.height),
                );
                f.render_widget(
                    Paragraph::new(lines)
                        .alignment(ratatui::layout::Alignment::Center)
                        .style(theme.base),
                    r,
                );
            })
            .map_err(|e| e.to_string())?;
        tokio::select! {
            done = &mut task => {
                return match done {
                    Ok(Ok(store)) => Ok(Some(store)),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(format!("connecting failed: {e}")),
                };
            }
            Some(msg) = rx.recv() => {
                if let Msg::Term(Event::Key(k)) = msg {
                    let quit = k.kind != KeyEventKind::Release
                        && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                            || (k.code == KeyCode::Char('c')
                                && k.modifiers.contains(KeyModifiers::CONTROL)));
                    if quit {
                        task.abort();
                        return Ok(None);
                    }
                }
            }
            _ = tick.tick() => {}
        }
    }
}

async fn run_loop(
    opening: Opening,
    theme: Theme,
    keys: KeyMap,
    reducers: crate::rehydrate::source::ReducerSource,
    sinks: std::collections::BTreeMap<String, crate::config::SinkProfile>,
) -> Result<(), String> {
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout())).map_err(|e| e.to_string())?;
    terminal.clear().map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // Terminal events come from a thread of their own (crossterm's reads block).
    let input_tx = tx.clone();
    std::thread::spawn(move || {
        while !input_tx.is_closed() {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(e) => {
                        if input_tx.send(Msg::Term(e)).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    let store = match opening {
        Opening::Open(s) => *s,
        Opening::Connecting { to, within, open } => {
            match connecting(&mut terminal, &mut rx, &theme, &to, within, open).await? {
                Some(s) => s,
                None => return Ok(()),
            }
        }
    };
    // Keys pressed while connecting were for the connecting screen.
    while rx.try_recv().is_ok() {}
    terminal.clear().map_err(|e| e.to_string())?;
    let size = terminal.size().map_err(|e| e.to_string())?;
    let mut app = App::new(
        store,
        tx.clone(),
        keys,
        theme,
        Size::new(size.width, size.height),
    );
    app.reducers = reducers;
    app.replay.sinks = std::sync::Arc::new(sinks);
    app.start();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let first_frame_log = std::env::var_os("EVSCOPE_TIMING").is_some();
    loop {
        if app.dirty {
            app.dirty = false;
            terminal.draw(|f| app.draw(f)).map_err(|e| e.to_string())?;
            if first_frame_log {
                if let Some(t) = app.first_data.take() {
                    tracing::info!(ms = t.as_secs_f64() * 1000.0, "first frame with data");
                }
            }
        }
        tokio::select! {
            Some(msg) = rx.recv() => app.update(msg),
            _ = tick.tick() => app.update(Msg::Tick),
        }
        // Take everything already queued before drawing again (keys coalesce under load).
        while let Ok(msg) = rx.try_recv() {
            app.update(msg);
        }
        if app.quit {
            break;
        }
        if let Some(p) = take_panic() {
            if let Some(job) = app.stop_replay() {
                let _ = tokio::time::timeout(Duration::from_secs(15), job).await;
            }
            return Err(format!(
                "internal error, the TUI stopped (please report it): {p}"
            ));
        }
    }
    // A replay still running stops at its checkpoint (resumable with `evscope replay resume`).
    if let Some(job) = app.stop_replay() {
        let _ = tokio::time::timeout(Duration::from_secs(15), job).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn osc52_carries_the_text_in_base64() {
        assert_eq!(
            super::osc52_sequence("{\"a\":1}"),
            "\x1b]52;c;eyJhIjoxfQ==\x07"
        );
    }
}
