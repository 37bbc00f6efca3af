//! The filter language: `type:A stream:x-* since:7d | <jq>`, parsed, and its jq part compiled
//! (not run: a jq program may legitimately never end).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    if let Ok(q) = evscope::filter::parse(s, now) {
        let _ = q.is_empty();
    }
    let _ = evscope::filter::JqPredicate::compile(s);
});
