//! Choosing the layout: detected from the catalog, or named with `--schema` / `--mapping`.

use std::collections::BTreeMap;

use super::db::{Db, Raw};
use super::layout::{self, Column, Encoding, Layout, Side, Special, TableRef};
use super::sql::{Dialect, Param, Sql};
use super::{OpenOptions, StoreError};

mod signatures;
pub use signatures::candidates;
use signatures::has_rows;

/// One table as the catalog shows it: lower-cased column names to lower-cased type names.
#[derive(Debug, Clone)]
pub struct CatTable {
    pub schema: Option<String>,
    pub table: String,
    /// Column name, lowercased, to its type.
    pub columns: BTreeMap<String, String>,
    /// Column name, lowercased, to the name as the database has it (PostgreSQL's quoted names
    /// are case-sensitive: a mapping must name them exactly).
    pub exact: BTreeMap<String, String>,
}

/// A layout found in the database.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub layout: Layout,
    pub schema: Option<String>,
    /// The application, for layouts that keep one table family per application (Python
    /// eventsourcing on PostgreSQL: `{app}_events`).
    pub app: Option<String>,
    /// The signature that matched: `table(columns...)`.
    pub reason: String,
}

impl Candidate {
    pub fn label(&self) -> String {
        let name = match &self.app {
            Some(a) => format!("{}:{a}", self.layout.name),
            None => self.layout.name.clone(),
        };
        match &self.schema {
            Some(s) => format!("{name}@{s}"),
            None => name,
        }
    }
}

/// Read the tables and columns the connected user can see.
pub async fn catalog(db: &Db) -> Result<Vec<CatTable>, StoreError> {
    let d = db.dialect();
    let mut sql = Sql::new(d);
    match d {
        Dialect::Postgres => {
            sql.push(
                "SELECT table_schema, table_name, column_name, \
                 CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END \
                 FROM information_schema.columns \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                 ORDER BY table_schema, table_name, ordinal_position",
            );
        }
        Dialect::MySql => {
            sql.push(
                "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), \
                 CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE() \
                 ORDER BY table_name, ordinal_position",
            );
        }
        Dialect::Sqlite => {
            sql.push(
                "SELECT NULL, m.name, p.name, p.type FROM sqlite_master m \
                 JOIN pragma_table_info(m.name) p WHERE m.type IN ('table', 'view') \
                 ORDER BY m.name, p.cid",
            );
        }
    }
    let t = Some(Encoding::Text);
    let rows = db.fetch_raw(&sql, &[t, t, t, t]).await?;
    let mut out: Vec<CatTable> = Vec::new();
    for r in rows {
        let mut it = r.into_iter();
        let schema = match it.next() {
            Some(Raw::Null) | None => None,
            Some(x) => Some(x.text()),
        };
        // MySQL: the "schema" is the database; layouts never qualify tables there.
        let schema = if d == Dialect::Postgres { schema } else { None };
        let table = it.next().map(Raw::text).unwrap_or_default();
        let name = it.next().map(Raw::text).unwrap_or_default();
        let column = name.to_lowercase();
        let ty = it.next().map(Raw::text).unwrap_or_default().to_lowercase();
        match out.last_mut() {
            Some(last) if last.schema == schema && last.table == table => {
                last.columns.insert(column.clone(), ty);
                last.exact.insert(column, name);
            }
            _ => out.push(CatTable {
                schema,
                table,
                columns: BTreeMap::from([(column.clone(), ty)]),
                exact: BTreeMap::from([(column, name)]),
            }),
        }
    }
    Ok(out)
}

fn find<'a>(cat: &'a [CatTable], schema: Option<&str>, table: &str) -> Option<&'a CatTable> {
    cat.iter()
        .find(|t| t.table.eq_ignore_ascii_case(table) && t.schema.as_deref() == schema)
}

fn has(t: &CatTable, cols: &[&str]) -> bool {
    cols.iter().all(|c| t.columns.contains_key(*c))
}

/// The encoding a column's catalog type implies for a field of the given kind.
fn encoding_for(ty: &str, current: Encoding) -> Encoding {
    let ty = ty.trim();
    let is = |names: &[&str]| {
        names
            .iter()
            .any(|n| ty == *n || ty.starts_with(&format!("{n}(")))
    };
    if current.is_json() {
        if is(&["json", "jsonb"]) {
            Encoding::Jsonb
        } else if is(&[
            "bytea",
            "blob",
            "longblob",
            "mediumblob",
            "tinyblob",
            "varbinary",
            "binary",
        ]) {
            Encoding::Bytes
        } else {
            Encoding::Json
        }
    } else if current.is_time() {
        if ty.starts_with("timestamp") || ty.starts_with("datetime") || ty == "date" {
            Encoding::Timestamp
        } else if is(&["bigint", "integer", "int", "int8", "int4"]) {
            Encoding::EpochMs
        } else {
            Encoding::Iso8601
        }
    } else if current == Encoding::Uuid || current == Encoding::Text {
        if ty == "uuid" {
            Encoding::Uuid
        } else {
            Encoding::Text
        }
    } else {
        current
    }
}

/// Fit a built-in layout to the columns the catalog shows (types, optional columns).
fn fit(mut l: Layout, events: &CatTable) -> Layout {
    let refit = |c: &mut Column| {
        if c.side == Side::Events {
            if let Some(ty) = events.columns.get(&c.name.as_str().to_lowercase()) {
                c.encoding = encoding_for(ty, c.encoding);
            }
        }
    };
    if l.special != Special::Commanded {
        refit(&mut l.stream);
        if let Some(i) = &mut l.event_id {
            refit(i);
        }
        refit(&mut l.data);
        if let Some(t) = l.recorded_at.as_mut().filter(|_| l.time_path.is_empty()) {
            refit(t);
        }
        if let Some(m) = &mut l.metadata {
            refit(m);
        }
        // The snapshots' stream column holds the ids as the events' does.
        let stream_enc = l.stream.encoding;
        if let Some(sn) = &mut l.snapshots {
            if sn.stream.encoding != Encoding::Bytes {
                sn.stream.encoding = stream_enc;
            }
        }
    }
    if let Some(m) = &l.metadata {
        if m.side == Side::Events && !events.columns.contains_key(&m.name.as_str().to_lowercase()) {
            l.metadata = None;
        }
    }
    // Marten's correlation and causation columns exist only where its metadata config
    // enables them.
    l.metadata_keys
        .retain(|(_, c)| events.columns.contains_key(&c.name.as_str().to_lowercase()));
    if let Some(t) = &l.transaction_id {
        if !events.columns.contains_key(&t.name.as_str().to_lowercase()) {
            l.transaction_id = None;
        }
    }
    l
}

fn builtin(name: &str) -> Layout {
    layout::builtin(name).expect("built-in layouts are tested to parse")
}

/// Check that a layout's tables and columns exist; the error names what is missing.
pub fn check(layout: &Layout, cat: &[CatTable], dialect: Dialect) -> Result<(), StoreError> {
    let lookup = |t: &TableRef| {
        let found = match (dialect, &t.schema) {
            (Dialect::Postgres, Some(s)) => find(cat, Some(s.as_str()), t.table.as_str()),
            // Unqualified on PostgreSQL: `public` first, else the one schema that has it (the
            // query itself resolves the name through the search path).
            (Dialect::Postgres, None) => {
                find(cat, Some("public"), t.table.as_str()).or_else(|| {
                    let mut all = cat
                        .iter()
                        .filter(|c| c.table.eq_ignore_ascii_case(t.table.as_str()));
                    match (all.next(), all.next()) {
                        (Some(one), None) => Some(one),
                        _ => None,
                    }
                })
            }
            _ => find(cat, None, t.table.as_str()),
        };
        let found = found
            .ok_or_else(|| StoreError::MissingTable(format!("{t} (layout {})", layout.name)))?;
        if dialect == Dialect::Postgres && found.table != t.table.as_str() {
            return Err(StoreError::MissingTable(format!(
                "{t} (layout {}): the database has {:?} — PostgreSQL names are case-sensitive",
                layout.name, found.table
            )));
        }
        Ok(found)
    };
    let events = lookup(&layout.events)?;
    let streams = layout
        .streams
        .as_ref()
        .map(|j| lookup(&j.table))
        .transpose()?;
    if layout.special == Special::Commanded {
        return Ok(());
    }
    let mut missing = Vec::new();
    // PostgreSQL: evscope quotes every name, and a quoted name is case-sensitive, so a column
    // that differs only in case would pass here and fail at the first query.
    let mut check_col = |t: &CatTable, name: &str, what: String| {
        let lower = name.to_lowercase();
        if dialect == Dialect::Sqlite && lower == "rowid" {
            return; // every table but a WITHOUT ROWID one has it (not in table_info)
        }
        match t.exact.get(&lower) {
            None if !t.columns.contains_key(&lower) => missing.push(what),
            Some(real) if dialect == Dialect::Postgres && real != name => missing.push(format!(
                "{what} (the table has {real:?}: PostgreSQL names are case-sensitive)"
            )),
            _ => {}
        }
    };
    for (field, c) in layout.columns() {
        let table = if c.side == Side::Streams {
            streams.unwrap_or(events)
        } else {
            events
        };
        check_col(
            table,
            c.name.as_str(),
            format!("{field} -> {}.{}", table.table, c.name),
        );
    }
    if !layout.metadata_keys.is_empty() {
        if dialect != Dialect::Postgres {
            return Err(StoreError::Mapping(format!(
                "layout {}: metadata_keys are merged into the metadata on PostgreSQL only",
                layout.name
            )));
        }
        if layout
            .metadata
            .as_ref()
            .is_some_and(|m| m.encoding != Encoding::Jsonb)
        {
            return Err(StoreError::Mapping(format!(
                "layout {}: metadata_keys need a jsonb metadata column (or none)",
                layout.name
            )));
        }
    }
    for (k, c) in &layout.metadata_keys {
        check_col(
            events,
            c.name.as_str(),
            format!("metadata_keys.{k} -> {}.{}", events.table, c.name),
        );
    }
    for (c, _) in &layout.filter {
        check_col(
            events,
            c.as_str(),
            format!("filter -> {}.{c}", events.table),
        );
    }
    if let Some(j) = &layout.streams {
        let st = streams.unwrap_or(events);
        check_col(
            st,
            j.key.as_str(),
            format!("streams.key -> {}.{}", st.table, j.key),
        );
        check_col(
            events,
            j.events_key.as_str(),
            format!("streams.events_key -> {}.{}", events.table, j.events_key),
        );
    }
    if let Some(s) = &layout.snapshots {
        let st = lookup(&s.table)?;
        for c in [
            Some(&s.stream),
            Some(&s.version),
            Some(&s.state),
            s.taken_at.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            check_col(
                st,
                c.name.as_str(),
                format!("snapshots -> {}.{}", st.table, c.name),
            );
        }
    }
    if let Some(layout::StreamType::Table { table, key, column }) = &layout.stream_type {
        let st = lookup(table)?;
        for c in [key, column] {
            check_col(st, c.as_str(), format!("stream_type -> {}.{c}", st.table));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Schema(format!(
            "layout {}: columns not found: {}",
            layout.name,
            missing.join(", ")
        )))
    }
}

fn table_list(cat: &[CatTable]) -> String {
    let mut names: Vec<String> = cat
        .iter()
        .map(|t| match &t.schema {
            Some(s) if s != "public" => format!("{s}.{}", t.table),
            _ => t.table.clone(),
        })
        .collect();
    names.truncate(20);
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Decide the layout for `opts` on `db`, and say why (the signature that matched, the
/// mapping file, the name given).
pub async fn resolve(db: &Db, opts: &OpenOptions) -> Result<(Layout, String), StoreError> {
    let cat = catalog(db).await?;
    let d = db.dialect();
    if let Some(path) = &opts.mapping {
        if let Some(s) = opts.schema.as_deref().filter(|s| *s != "mapped") {
            return Err(StoreError::BadInput(format!(
                "--mapping implies --schema mapped, not {s}"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Mapping(format!("cannot read {}: {e}", path.display())))?;
        let layout = Layout::from_toml(&text)
            .map_err(|e| StoreError::Mapping(format!("{}: {e}", path.display())))?;
        check(&layout, &cat, d)?;
        return Ok((layout, format!("mapping file {}", path.display())));
    }
    let found = candidates(&cat);
    let labels = |found: &[&Candidate]| {
        if found.is_empty() {
            "none".to_string()
        } else {
            found
                .iter()
                .map(|c| c.label())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let all: Vec<&Candidate> = found.iter().collect();
    let matching: Vec<&Candidate> = match opts.schema.as_deref() {
        Some("mapped") => {
            return Err(StoreError::BadInput(
                "--schema mapped needs --mapping FILE".into(),
            ));
        }
        Some(wanted) => {
            let (name, schema) = match wanted.split_once('@') {
                Some((n, s)) => (n, Some(s)),
                None => (wanted, None),
            };
            let (name, app) = match name.split_once(':') {
                Some((n, a)) => (n, Some(a)),
                None => (name, None),
            };
            // A bare application name picks that application.
            let by_app = |c: &&Candidate| c.app.as_deref() == Some(name);
            let (name, app) = if layout::builtin(name).is_none() && all.iter().any(by_app) {
                ("python-eventsourcing", Some(name))
            } else {
                (name, app)
            };
            if layout::builtin(name).is_none() {
                return Err(StoreError::Schema(format!(
                    "unknown schema {name:?}: choose one of {}, or mapped with --mapping FILE",
                    layout::BUILTIN_NAMES.join(", ")
                )));
            }
            let m: Vec<&Candidate> = all
                .iter()
                .copied()
                .filter(|c| {
                    c.layout.name == name
                        && (schema.is_none() || c.schema.as_deref() == schema)
                        && (app.is_none()
                            || c.app
                                .as_deref()
                                .is_some_and(|a| app.is_some_and(|w| a.eq_ignore_ascii_case(w))))
                })
                .collect();
            if m.is_empty() {
                return Err(StoreError::Schema(format!(
                    "schema {wanted}: its tables were not found (detected: {}; tables: {})",
                    labels(&all),
                    table_list(&cat)
                )));
            }
            m
        }
        None => {
            if all.is_empty() {
                return Err(StoreError::Schema(format!(
                    "no known event-store layout found (tables: {}); name one with --schema NAME or describe it with --mapping FILE",
                    table_list(&cat)
                )));
            }
            all.clone()
        }
    };
    let given = opts
        .schema
        .as_deref()
        .map_or(String::new(), |s| format!(" (--schema {s})"));
    if let [one] = matching.as_slice() {
        return Ok((one.layout.clone(), format!("{}{given}", one.reason)));
    }
    // Several applications of one system (Python eventsourcing: a leader and its followers,
    // each with its own tables, most of them empty): the one that holds events, when only
    // one does.
    if matching.iter().all(|c| c.app.is_some()) {
        let mut holding = Vec::new();
        for c in &matching {
            if has_rows(db, &c.layout.events).await? {
                holding.push(*c);
            }
        }
        let apps = labels(&matching);
        if let [one] = holding.as_slice() {
            return Ok((
                one.layout.clone(),
                format!(
                    "{}{given}; the only application with events among {apps}",
                    one.reason
                ),
            ));
        }
        return Err(StoreError::Schema(format!(
            "several applications found: {apps} ({} hold events); choose one with --schema python-eventsourcing:APP (or --schema APP)",
            holding.len()
        )));
    }
    let what = if opts.schema.is_some() {
        format!(
            "schema {} is present several times",
            opts.schema.as_deref().unwrap_or_default()
        )
    } else {
        "ambiguous schema: detected".to_string()
    };
    Err(StoreError::Schema(format!(
        "{what}: {}; choose one with --schema NAME[@SCHEMA]",
        labels(&matching)
    )))
}

/// Whether the PostgreSQL database compares text bytewise (C/POSIX collation).
pub async fn pg_bytewise_collation(db: &Db) -> bool {
    let mut sql = Sql::new(Dialect::Postgres);
    sql.push(
        "SELECT datcollate FROM pg_database WHERE datname = current_database() AND datcollate IN (",
    )
    .bind(Param::Text("C".into()))
    .push(", ")
    .bind(Param::Text("POSIX".into()))
    .push(", ")
    .bind(Param::Text("C.UTF-8".into()))
    .push(", ")
    .bind(Param::Text("C.utf8".into()))
    .push(")");
    matches!(db.fetch_raw(&sql, &[Some(Encoding::Text)]).await, Ok(r) if !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str, cols: &[(&str, &str)]) -> CatTable {
        CatTable {
            schema: schema.map(str::to_string),
            table: name.into(),
            columns: cols
                .iter()
                .map(|(a, b)| (a.to_lowercase(), b.to_string()))
                .collect(),
            exact: cols
                .iter()
                .map(|(a, _)| (a.to_lowercase(), a.to_string()))
                .collect(),
        }
    }

    #[test]
    fn marten_stream_encoding_follows_the_column_type() {
        let cols = |ty: &'static str| {
            vec![
                ("seq_id", "bigint"),
                ("id", "uuid"),
                ("stream_id", ty),
                ("version", "bigint"),
                ("data", "jsonb"),
                ("type", "character varying"),
                ("timestamp", "timestamp with time zone"),
            ]
        };
        let guid = candidates(&[table(Some("public"), "mt_events", &cols("uuid"))]);
        assert_eq!(guid.len(), 1);
        assert_eq!(guid[0].layout.stream.encoding, Encoding::Uuid);
        assert!(
            guid[0].layout.metadata.is_none(),
            "no headers column, no metadata"
        );
        let s = candidates(&[table(
            Some("public"),
            "mt_events",
            &cols("character varying"),
        )]);
        assert_eq!(s[0].layout.stream.encoding, Encoding::Text);
        assert_eq!(s[0].label(), "marten@public");
    }

    #[test]
    fn classic_encodings_follow_the_column_types() {
        let c = candidates(&[table(
            None,
            "events",
            &[
                ("event_id", "varchar"),
                ("aggregate_id", "varchar"),
                ("event_type", "varchar"),
                ("version", "int"),
                ("payload", "longtext"),
                ("timestamp", "datetime"),
            ],
        )]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].layout.data.encoding, Encoding::Json);
        assert_eq!(
            c[0].layout.recorded_at.as_ref().unwrap().encoding,
            Encoding::Timestamp
        );
        assert_eq!(encoding_for("text", Encoding::Timestamp), Encoding::Iso8601);
        assert_eq!(encoding_for("json", Encoding::Json), Encoding::Jsonb);
        assert_eq!(encoding_for("bytea", Encoding::Jsonb), Encoding::Bytes);
    }

    #[test]
    fn a_mapped_name_that_differs_only_in_case_is_refused_on_postgres() {
        let mapping = |data: &str, table: &str| {
            Layout::from_toml(&format!(
                "name = \"m\"\n[events]\ntable = \"{table}\"\n[columns]\n\
                 position = {{ column = \"pos\" }}\nstream = {{ column = \"stream\" }}\n\
                 version = {{ column = \"version\" }}\nevent_id = {{ column = \"id\" }}\n\
                 event_type = {{ column = \"type\" }}\ndata = {{ column = \"{data}\", encoding = \"json\" }}\n\
                 recorded_at = {{ column = \"at\", encoding = \"timestamp\" }}\n"
            ))
            .unwrap()
        };
        let cat = vec![table(
            Some("public"),
            "events",
            &[
                ("pos", "bigint"),
                ("stream", "text"),
                ("version", "bigint"),
                ("id", "text"),
                ("type", "text"),
                ("Data", "text"),
                ("at", "timestamp"),
            ],
        )];
        assert!(check(&mapping("Data", "events"), &cat, Dialect::Postgres).is_ok());
        let err = check(&mapping("data", "events"), &cat, Dialect::Postgres)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data") && err.contains("case-sensitive"),
            "{err}"
        );
        let err = check(&mapping("Data", "Events"), &cat, Dialect::Postgres)
            .unwrap_err()
            .to_string();
        assert!(err.contains("case-sensitive"), "{err}");
        // MySQL and SQLite compare column names without case.
        let mut my = cat.clone();
        my[0].schema = None;
        assert!(check(&mapping("data", "events"), &my, Dialect::MySql).is_ok());
        assert!(check(&mapping("DATA", "events"), &my, Dialect::Sqlite).is_ok());
    }

    #[test]
    fn python_eventsourcing_applications_are_found_by_name() {
        let app = |name: &str| {
            table(
                Some("public"),
                name,
                &[
                    ("originator_id", "uuid"),
                    ("originator_version", "bigint"),
                    ("topic", "text"),
                    ("state", "bytea"),
                    ("notification_id", "bigint"),
                ],
            )
        };
        let snaps = table(
            Some("public"),
            "bank_snapshots",
            &[("originator_id", "uuid"), ("state", "bytea")],
        );
        let c = candidates(&[app("bank_events"), snaps, app("follower_events")]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].label(), "python-eventsourcing:bank@public");
        assert_eq!(c[0].layout.events.table.as_str(), "bank_events");
        assert_eq!(
            c[0].layout.snapshots.as_ref().unwrap().table.table.as_str(),
            "bank_snapshots"
        );
        assert!(c[1].layout.snapshots.is_none(), "no follower_snapshots");
        assert_eq!(c[0].layout.stream.encoding, Encoding::Uuid);
        assert!(
            c[0].reason.starts_with("bank_events(originator_id"),
            "{}",
            c[0].reason
        );
        // SQLite: stored_events, numbered by its rowid, ids as text.
        let c = candidates(&[table(
            None,
            "stored_events",
            &[
                ("originator_id", "TEXT"),
                ("originator_version", "INTEGER"),
                ("topic", "TEXT"),
                ("state", "BLOB"),
            ],
        )]);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].layout.position.as_ref().unwrap().name.as_str(),
            "rowid"
        );
        assert_eq!(c[0].layout.stream.encoding, Encoding::Text);
        assert!(c[0].layout.snapshots.is_none());
    }

    #[test]
    fn axon_jdbc_names_are_taken_as_the_catalog_has_them() {
        let cols = [
            ("globalIndex", "bigint"),
            ("aggregateIdentifier", "varchar"),
            ("sequenceNumber", "bigint"),
            ("eventIdentifier", "varchar"),
            ("payloadType", "varchar"),
            ("payload", "blob"),
            ("metaData", "blob"),
            ("timeStamp", "varchar"),
        ];
        let c = candidates(&[table(None, "DomainEventEntry", &cols)]);
        assert_eq!(c.len(), 1, "{c:?}");
        let l = &c[0].layout;
        assert_eq!(l.name, "axon");
        assert_eq!(l.events.table.as_str(), "DomainEventEntry");
        assert_eq!(l.position.as_ref().unwrap().name.as_str(), "globalIndex");
        assert!(l.snapshots.is_none());
        // PostgreSQL folded the unquoted names.
        let lower: Vec<(String, &str)> = cols.iter().map(|(c, t)| (c.to_lowercase(), *t)).collect();
        let lower: Vec<(&str, &str)> = lower.iter().map(|(c, t)| (c.as_str(), *t)).collect();
        let c = candidates(&[table(Some("public"), "domainevententry", &lower)]);
        assert_eq!(c[0].layout.stream.name.as_str(), "aggregateidentifier");
        assert_eq!(c[0].layout.events.table.as_str(), "domainevententry");
    }
}
