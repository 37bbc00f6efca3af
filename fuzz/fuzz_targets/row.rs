//! A row's columns as a store hands them over: JSON as text or bytes, times as text or
//! integers, under every encoding a layout can name.
#![no_main]
use evscope::store::db::{Raw, json_value, time_value};
use evscope::store::layout::Encoding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut problems = Vec::new();
    let _ = json_value(Raw::Bytes(data.to_vec()), "data", &mut problems);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = json_value(Raw::Text(s.to_string()), "data", &mut problems);
        for enc in [Encoding::Iso8601, Encoding::Timestamp, Encoding::EpochMs, Encoding::Text] {
            let _ = time_value(Raw::Text(s.to_string()), enc, &mut problems);
        }
    }
    if data.len() >= 8 {
        let i = i64::from_le_bytes(data[..8].try_into().unwrap());
        for enc in [Encoding::EpochMs, Encoding::Timestamp, Encoding::Iso8601] {
            let _ = time_value(Raw::Int(i), enc, &mut problems);
        }
    }
});
