//! The column signatures of the built-in layouts: which tables and columns make each one,
//! fitted to what the catalog shows.

use super::{Candidate, CatTable, builtin, find, fit, has};
use crate::store::StoreError;
use crate::store::db::Db;
use crate::store::layout::{self, Layout, TableRef};
use crate::store::sql::Sql;

/// `table(col, col, ...)`: the signature a detection matched, for `info`.
fn signature(t: &CatTable, cols: &[&str]) -> String {
    let table = match &t.schema {
        Some(s) if s != "public" => format!("{s}.{}", t.table),
        _ => t.table.clone(),
    };
    format!("{table}({})", cols.join(", "))
}

/// Every name of the layout (tables, columns) written as the catalog has it: for Axon's
/// JDBC names, which PostgreSQL folds to lower case and MySQL keeps as created.
fn exact_names(mut l: Layout, cat: &[CatTable], schema: Option<&str>) -> Layout {
    fn fix(id: &mut layout::Ident, t: Option<&CatTable>) {
        if let Some(real) = t.and_then(|t| t.exact.get(&id.as_str().to_lowercase())) {
            if let Ok(x) = layout::Ident::new(real) {
                *id = x;
            }
        }
    }
    let table = |name: &layout::Ident| find(cat, schema, name.as_str()).cloned();
    let events = table(&l.events.table);
    if let Some(t) = &events {
        if let Ok(x) = layout::Ident::new(&t.table) {
            l.events.table = x;
        }
    }
    let ev = events.as_ref();
    for c in [
        l.position.as_mut(),
        Some(&mut l.stream),
        Some(&mut l.version),
        l.event_id.as_mut(),
        Some(&mut l.event_type),
        Some(&mut l.data),
        l.metadata.as_mut(),
        l.recorded_at.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        fix(&mut c.name, ev);
    }
    if let Some(sn) = &mut l.snapshots {
        let st = table(&sn.table.table);
        match &st {
            Some(t) => {
                if let Ok(x) = layout::Ident::new(&t.table) {
                    sn.table.table = x;
                }
            }
            None => {
                l.snapshots = None;
                return l;
            }
        }
        for c in [
            Some(&mut sn.stream),
            Some(&mut sn.version),
            Some(&mut sn.state),
            sn.taken_at.as_mut(),
            sn.snapshot_type.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            fix(&mut c.name, st.as_ref());
        }
    }
    l
}

/// Whether `table` holds at least one row (to choose among applications).
pub(super) async fn has_rows(db: &Db, t: &TableRef) -> Result<bool, StoreError> {
    let mut sql = Sql::new(db.dialect());
    sql.push("SELECT 1 FROM ")
        .push(&db.dialect().table(t))
        .push(" LIMIT 1");
    Ok(!db.fetch_raw(&sql, &[None]).await?.is_empty())
}

/// Every built-in layout whose tables are present, with the signature that matched.
pub fn candidates(cat: &[CatTable]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for t in cat {
        let schema = t.schema.as_deref();
        let name = t.table.to_lowercase();
        let mut push = |l: Layout, app: Option<String>, reason: String| {
            let l = match schema {
                Some(s) => l
                    .in_schema(s)
                    .expect("catalog schema names are identifiers"),
                None => l,
            };
            out.push(Candidate {
                layout: l,
                schema: t.schema.clone(),
                app,
                reason,
            });
        };
        let sig = |cols: &[&str]| has(t, cols).then(|| signature(t, cols));
        let snapshots_present = |table: &str| find(cat, schema, table).is_some();
        const NATIVE: &[&str] = &["global_position", "stream_id", "stream_version"];
        const MESSAGE_DB: &[&str] = &["global_position", "stream_name", "position", "type"];
        const MARTEN: &[&str] = &["seq_id", "stream_id", "version", "data", "type"];
        const COMMANDED: &[&str] = &[
            "event_id",
            "stream_id",
            "stream_version",
            "original_stream_id",
        ];
        const CLASSIC: &[&str] = &[
            "event_id",
            "aggregate_id",
            "event_type",
            "version",
            "payload",
            "timestamp",
        ];
        const EVENTUOUS: &[&str] = &[
            "message_id",
            "message_type",
            "stream_id",
            "stream_position",
            "global_position",
            "json_data",
        ];
        const EMMETT: &[&str] = &[
            "stream_id",
            "stream_position",
            "global_position",
            "message_type",
            "message_data",
            "message_kind",
        ];
        const AXON_JPA: &[&str] = &[
            "global_index",
            "aggregate_identifier",
            "sequence_number",
            "payload_type",
            "payload",
            "time_stamp",
        ];
        const AXON_JDBC: &[&str] = &[
            "globalindex",
            "aggregateidentifier",
            "sequencenumber",
            "payloadtype",
            "payload",
            "timestamp",
        ];
        const PYES: &[&str] = &["originator_id", "originator_version", "topic", "state"];
        match name.as_str() {
            "evscope_events" => {
                if let Some(why) = sig(NATIVE) {
                    let mut l = fit(builtin("native"), t);
                    if !snapshots_present("evscope_snapshots") {
                        l.snapshots = None;
                    }
                    push(l, None, why);
                }
            }
            "messages" => {
                if let Some(why) = sig(MESSAGE_DB) {
                    push(fit(builtin("message-db"), t), None, why);
                } else if let Some(why) = sig(EVENTUOUS) {
                    let streams = find(cat, schema, "streams")
                        .filter(|s| has(s, &["stream_name", "stream_id"]));
                    if let Some(st) = streams {
                        let mut l = builtin("eventuous");
                        l.events.schema = None;
                        if let Some(j) = &mut l.streams {
                            j.table.schema = None;
                        }
                        let why = format!("{why} + {}", signature(st, &["stream_name"]));
                        push(fit(l, t), None, why);
                    }
                }
            }
            "mt_events" => {
                if let Some(why) = sig(MARTEN) {
                    let mut l = builtin("marten");
                    if !find(cat, schema, "mt_streams").is_some_and(|s| has(s, &["id", "type"])) {
                        l.stream_type = None;
                    }
                    push(fit(l, t), None, why);
                }
            }
            "stream_events" => {
                let ok = has(t, COMMANDED)
                    && find(cat, schema, "events")
                        .is_some_and(|e| has(e, &["event_id", "event_type", "data"]))
                    && find(cat, schema, "streams").is_some_and(|s| has(s, &["stream_uuid"]));
                if ok {
                    let mut l = builtin("commanded");
                    if !snapshots_present("snapshots") {
                        l.snapshots = None;
                    }
                    let why = format!(
                        "{} + events(event_id, event_type, data) + streams(stream_uuid)",
                        signature(t, COMMANDED)
                    );
                    push(l, None, why);
                }
            }
            "events" => {
                if let Some(why) = sig(CLASSIC) {
                    push(fit(builtin("classic"), t), None, why);
                }
            }
            "emt_messages" => {
                if let Some(why) = sig(EMMETT) {
                    let mut l = builtin("emmett");
                    // Emmett's fixed conditions, on the columns this version has.
                    l.filter
                        .retain(|(c, _)| t.columns.contains_key(&c.as_str().to_lowercase()));
                    if !find(cat, schema, "emt_streams")
                        .is_some_and(|s| has(s, &["stream_id", "stream_type"]))
                    {
                        l.stream_type = None;
                    }
                    push(fit(l, t), None, why);
                }
            }
            "domain_event_entry" => {
                if let Some(why) = sig(AXON_JPA) {
                    let l = exact_names(builtin("axon"), cat, schema);
                    push(fit(l, t), None, why);
                }
            }
            "domainevententry" => {
                if let Some(why) = sig(AXON_JDBC) {
                    let l = exact_names(builtin("axon-jdbc"), cat, schema);
                    push(fit(l, t), None, why);
                }
            }
            "stored_events" => {
                if let Some(why) = sig(PYES) {
                    let mut l = builtin("python-eventsourcing");
                    if t.columns.contains_key("notification_id") {
                        // (not the SQLite recorder's, which numbers by rowid)
                    } else if let Some(p) = &mut l.position {
                        p.name = layout::Ident::new("rowid").expect("identifier");
                    }
                    if !snapshots_present("stored_snapshots") {
                        l.snapshots = None;
                    }
                    push(fit(l, t), None, format!("{why} (rowid order)"));
                }
            }
            n if n.ends_with("_events") && n.len() > "_events".len() => {
                let app = &t.table[..t.table.len() - "_events".len()];
                let cols: Vec<&str> = PYES.iter().copied().chain(["notification_id"]).collect();
                let (Some(why), Ok(events), Ok(snaps)) = (
                    sig(&cols),
                    layout::Ident::new(&t.table),
                    layout::Ident::new(&format!("{app}_snapshots")),
                ) else {
                    continue;
                };
                let mut l = builtin("python-eventsourcing");
                l.events.table = events;
                match &mut l.snapshots {
                    Some(sn) if snapshots_present(snaps.as_str()) => sn.table.table = snaps,
                    _ => l.snapshots = None,
                }
                push(fit(l, t), Some(app.to_string()), why);
            }
            _ => {}
        }
    }
    out
}
