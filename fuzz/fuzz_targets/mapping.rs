//! Mapping files (TOML): identifiers, encodings, joins, snapshots.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(l) = evscope::store::layout::Layout::from_toml(s) {
        // Every accepted layout can be turned into SQL for each database.
        for d in [
            evscope::store::sql::Dialect::Postgres,
            evscope::store::sql::Dialect::MySql,
            evscope::store::sql::Dialect::Sqlite,
        ] {
            let _ = evscope::store::sql::Source::new(&l, d, evscope::store::sql::Scope::Global);
            let _ = evscope::store::sql::Source::new(&l, d, evscope::store::sql::Scope::Stream);
        }
    }
});
