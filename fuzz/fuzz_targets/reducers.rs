//! Reducer files (TOML with jq programs), parsed and compiled.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = evscope::rehydrate::reducer::Reducers::parse(s, "fuzz");
});
