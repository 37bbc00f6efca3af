//! The config file (profiles, theme, keys) and theme files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = evscope::tui::theme::Theme::parse(s);
    if let Ok(c) = evscope::config::Config::parse(s) {
        let _ = evscope::tui::keys::KeyMap::new(&c.keys);
    }
    for k in s.split(',') {
        let _ = evscope::tui::keys::parse_key(k);
    }
});
