//! Times and durations typed by people: `--since`, `--until`, `--as-of`, `--max-wait`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let _ = evscope::timeparse::parse_time_at(s, now);
    let _ = evscope::timeparse::parse_duration(s);
});
