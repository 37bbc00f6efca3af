//! The stream list: pages by id (an index skip-scan, then counts, last versions and last
//! times for just those streams), by recent activity, and one stream's row.

use super::*;

/// Streams by recent activity, and what finding them cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    pub streams: Vec<StreamInfo>,
    /// Events of the log read to find them (a scan from the log's end: see
    /// [`Store::recent_streams`]).
    pub events_read: u64,
}

impl Store {
    /// One page of the stream list, ordered by stream id: ids by an index skip-scan, then
    /// counts, last versions and last times for just those streams.
    pub async fn list_streams(&self, q: &StreamQuery) -> Result<Vec<StreamInfo>, StoreError> {
        let limit = q.limit.max(1) as usize;
        let mut ids: Vec<String> = Vec::new();
        // A stream named exactly like the category belongs to it, and sorts before "C-...".
        let mut prefix = q.prefix.clone();
        // (Newest-first pages meet it last instead.)
        let mut exact_last = None;
        if let Some(c) = &q.category {
            let fwd = q.direction == Direction::Forward;
            let not_passed = q
                .after
                .as_deref()
                .is_none_or(|a| if fwd { a < c.as_str() } else { a > c.as_str() });
            let in_prefix = prefix.as_deref().is_none_or(|p| c.starts_with(p));
            if not_passed && in_prefix && self.stream_exists(c).await? {
                if fwd {
                    ids.push(c.clone());
                } else {
                    exact_last = Some(c.clone());
                }
            }
            let cat_prefix = format!("{c}-");
            prefix = match prefix {
                Some(p) if p.starts_with(&cat_prefix) => Some(p),
                Some(p) if cat_prefix.starts_with(&p) => Some(cat_prefix),
                Some(_) => return Ok(vec![]),
                None => Some(cat_prefix),
            };
        }
        let more = self
            .stream_ids(
                prefix.as_deref(),
                q.after.as_deref(),
                q.direction,
                limit - ids.len(),
            )
            .await?;
        ids.extend(more);
        if let Some(c) = exact_last {
            ids.push(c);
        }
        ids.truncate(limit);
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.stream_stats(&ids).await
    }

    /// Streams by activity, each at the position of its newest event: Backward = most recent
    /// first, below `from`; Forward = least recent first, above `from`. Reads the log in that
    /// direction and keeps a stream where the event read is its newest — stateless, so a page
    /// continues from its last row. No layout keeps an index of streams by last activity, so
    /// this is a scan of the log's position index: [`Recent::events_read`] says how far it went.
    pub async fn recent_streams(
        &self,
        direction: Direction,
        from: Option<i64>,
        limit: usize,
        category: Option<&str>,
        prefix: Option<&str>,
    ) -> Result<Recent, StoreError> {
        if self.layout.position.is_none() {
            return Err(StoreError::BadInput(format!(
                "the {} layout has no global position to order streams by activity",
                self.layout.name
            )));
        }
        let mut out: Vec<StreamInfo> = Vec::new();
        let mut read = 0u64;
        let mut q = LogQuery {
            filter: EventFilter {
                category: category.map(str::to_string),
                stream_prefix: prefix.map(str::to_string),
                ..Default::default()
            },
            start: from.map_or(Start::End, |p| Start::After(Cursor::Position(p))),
            direction,
            limit: 1000,
            up_to: None,
        };
        loop {
            let page = self.read_log(&q).await?;
            read += page.len() as u64;
            let full = page.len() as u32 == q.limit;
            // Each stream's newest event in this page: its first occurrence reading backward,
            // its last reading forward (kept in reading order).
            let mut seen = std::collections::HashSet::new();
            let mut candidates: Vec<&Event> = if direction == Direction::Backward {
                page.iter()
                    .filter(|e| seen.insert(e.stream_id.clone()))
                    .collect()
            } else {
                page.iter()
                    .rev()
                    .filter(|e| seen.insert(e.stream_id.clone()))
                    .collect()
            };
            if direction == Direction::Forward {
                candidates.reverse();
            }
            let ids: Vec<String> = candidates.iter().map(|e| e.stream_id.clone()).collect();
            let stats: std::collections::HashMap<String, StreamInfo> = self
                .stream_stats(&ids)
                .await?
                .into_iter()
                .map(|s| (s.stream_id.clone(), s))
                .collect();
            for e in candidates {
                if let Some(s) = stats.get(&e.stream_id) {
                    if s.last_version == e.stream_version {
                        out.push(StreamInfo {
                            last_position: e.global_position,
                            ..s.clone()
                        });
                    }
                }
            }
            match page.last() {
                Some(e) if full && out.len() < limit => q.start = Start::After(e.cursor()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(Recent {
            streams: out,
            events_read: read,
        })
    }

    /// Whether the store holds an event of `stream`.
    pub async fn stream_exists(&self, stream: &str) -> Result<bool, StoreError> {
        let src = &self.stream;
        let mut sql = src.select_where("1");
        src.push_stream_eq(&mut sql, stream);
        sql.push(" LIMIT 1");
        Ok(!self.db.fetch_raw(&sql, &[None]).await?.is_empty())
    }

    /// Err([`StoreError::NoSuchStream`], naming it) when the store holds no such stream: a
    /// read of one stream that does not exist is an error, never an empty result.
    pub async fn require_stream(&self, stream: &str) -> Result<(), StoreError> {
        if self.stream_exists(stream).await? {
            Ok(())
        } else {
            Err(StoreError::NoSuchStream(crate::output::clip(stream, 200)))
        }
    }

    /// Distinct stream ids after `after`, with `prefix`, in order, at most `limit`.
    pub(super) async fn stream_ids(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        dir: Direction,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let d = self.dialect();
        let mut sql = Sql::new(d);
        let stream_enc = self.layout.stream.encoding;
        // Where the names live: the streams table when the layout has one, else the events.
        let (table, col, fixed_src) = match (&self.layout.streams, self.layout.stream.side) {
            (Some(j), layout::Side::Streams) => (
                d.table(&j.table),
                format!("s.{}", d.quote(&self.layout.stream.name)),
                None,
            ),
            _ => (
                d.table(&self.layout.events),
                format!("e.{}", d.quote(&self.layout.stream.name)),
                Some(&self.global),
            ),
        };
        let alias = if fixed_src.is_some() { "e" } else { "s" };
        // A Source-like view of just that table, for the prefix/fixed helpers.
        let mut view = self.global.clone();
        view.stream_raw = col.clone();
        view.stream.sql = col.clone();
        let after = match after {
            Some(a) => Some(
                self.stream_key(&format!("{table} {alias}"), &col, a)
                    .await?,
            ),
            None => None,
        };
        let after = after.as_ref();
        let conds =
            |sql: &mut Sql, after_expr: Option<&str>, after_val: Option<&sql::StreamKey>| {
                if let Some(f) = fixed_src {
                    f.push_fixed(sql);
                }
                if let Some(p) = prefix {
                    view.push_stream_prefix(sql, p);
                }
                if self.layout.special == layout::Special::Commanded {
                    sql.push(&format!(" AND {col} <> "))
                        .bind(Param::Text("$all".into()));
                }
                let cmp_col = if d == Dialect::Postgres && stream_enc == layout::Encoding::Uuid {
                    format!("CAST({col} AS TEXT)")
                } else {
                    col.clone()
                };
                let gt = dir.after_op();
                if let Some(e) = after_expr {
                    sql.push(&format!(" AND {col} {gt} {e}"));
                } else if let Some(a) = after_val {
                    sql.push(&format!(" AND {cmp_col} {gt} "));
                    a.push(sql);
                }
            };
        // A binary column is read as bytes (a cast to text would give bytea's hex form).
        let id_enc = if view.bytes_col() {
            layout::Encoding::Bytes
        } else {
            layout::Encoding::Text
        };
        let sel = d.select_expr(&col, id_enc);
        let grouped_scan = d == Dialect::MySql || fixed_src.is_none();
        if grouped_scan {
            // MySQL answers GROUP BY on an index prefix with a loose index scan; a streams
            // table has one row per stream anyway.
            sql.push(&format!("SELECT {sel} FROM {table} {alias} WHERE 1=1"));
            conds(&mut sql, None, after);
            sql.push(&format!(
                " GROUP BY {col} ORDER BY {col} {} LIMIT ",
                dir.order()
            ));
            sql.bind(Param::I64(limit as i64));
        } else {
            // PostgreSQL and SQLite: a recursive skip-scan, one index probe per stream.
            // (ORDER BY .. LIMIT 1 rather than MIN: PostgreSQL has no min(uuid).)
            let first = format!("SELECT {col} FROM {table} {alias} WHERE 1=1");
            let order = format!(" ORDER BY {col} {} LIMIT 1", dir.order());
            sql.push("WITH RECURSIVE ids(sid, n) AS (SELECT (");
            sql.push(&first);
            conds(&mut sql, None, after);
            sql.push(&order)
                .push("), 1 UNION ALL SELECT (")
                .push(&first);
            conds(&mut sql, Some("ids.sid"), None);
            sql.push(&order);
            sql.push("), ids.n + 1 FROM ids WHERE ids.sid IS NOT NULL AND ids.n < ");
            sql.bind(Param::I64(limit as i64));
            sql.push(") SELECT ")
                .push(&d.select_expr("sid", id_enc))
                .push(" FROM ids WHERE sid IS NOT NULL ORDER BY n");
        }
        let rows = self.db.fetch_raw(&sql, &[Some(id_enc)]).await?;
        // Bytes that are not valid UTF-8 named as `escape_bytes` writes them (flagged by
        // `stream_stats`).
        Ok(rows.into_iter().map(|mut r| r.remove(0).text()).collect())
    }

    /// Count, last version and last time of each stream: per stream, an index-only count and
    /// two one-row probes at its newest version (correlated subqueries, on every database).
    /// A stream id stored in more than one possible form (one that names bytes, see
    /// [`Source::stream_keys`]) is counted by a query of its own.
    pub(super) async fn stream_stats(&self, ids: &[String]) -> Result<Vec<StreamInfo>, StoreError> {
        let src = &self.stream;
        let (plain, several): (Vec<&String>, Vec<&String>) =
            ids.iter().partition(|id| src.stream_keys(id).len() == 1);
        if several.is_empty() {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(200) {
                out.extend(self.stream_stats_chunk(chunk).await?);
            }
            return Ok(out);
        }
        let mut found = std::collections::HashMap::new();
        let plain: Vec<String> = plain.into_iter().cloned().collect();
        for chunk in plain.chunks(200) {
            for s in self.stream_stats_chunk(chunk).await? {
                found.insert(s.stream_id.clone(), s);
            }
        }
        for id in several {
            if let Some(s) = self.stream_stats_one(id).await? {
                found.insert(id.clone(), s);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// [`Self::stream_stats`] of one stream, compared in each form it may be stored in.
    pub(super) async fn stream_stats_one(
        &self,
        id: &str,
    ) -> Result<Option<StreamInfo>, StoreError> {
        let src = &self.stream;
        let d = self.dialect();
        let mut sql = src.select_where("COUNT(*)");
        src.push_stream_eq(&mut sql, id);
        let int = Some(layout::Encoding::Integer);
        let rows = self.db.fetch_raw(&sql, &[int]).await?;
        let count = rows.first().and_then(|r| r[0].int()).unwrap_or(0);
        if count == 0 {
            return Ok(None);
        }
        let v = &src.version.sql;
        let (time_sql, time_enc) = src.time_select();
        let mut sql = src.select_where(&format!(
            "{}, {time_sql}",
            d.select_expr(v, layout::Encoding::Integer),
        ));
        src.push_stream_eq(&mut sql, id);
        sql.push(&format!(" ORDER BY {v} DESC LIMIT 1"));
        let mut rows = self.db.fetch_raw(&sql, &[int, Some(time_enc)]).await?;
        let mut it = rows.pop().unwrap_or_default().into_iter();
        let last = it.next().and_then(|x| x.int()).unwrap_or(-1);
        Ok(Some(self.stream_info(
            id.to_string(),
            count,
            last,
            it.next(),
        )))
    }

    /// A stream list row; a stream id that names bytes (not valid UTF-8) and a last time that
    /// is no time are flagged in its `problems`.
    pub(super) fn stream_info(
        &self,
        id: String,
        count: i64,
        last: i64,
        time: Option<db::Raw>,
    ) -> StreamInfo {
        let mut problems = Vec::new();
        if let Some(b) = db::unescape_bytes(&id) {
            problems.push(db::not_utf8("stream_id", &b));
        }
        let enc = self.stream.recorded_at.enc;
        let t = time
            .map(|x| db::raw_time(x, &self.stream.time_path))
            .and_then(|x| db::time_field(x, enc, "last_recorded_at", &mut problems));
        StreamInfo {
            category: category(&id).to_string(),
            stream_id: id,
            event_count: count,
            last_version: last,
            last_recorded_at: t,
            last_position: None,
            problems,
        }
    }

    pub(super) async fn stream_stats_chunk(
        &self,
        ids: &[String],
    ) -> Result<Vec<StreamInfo>, StoreError> {
        let src = &self.stream;
        let d = self.dialect();
        let v = &src.version.sql;
        let mut sql = Sql::new(d);
        let sub = |sql: &mut Sql, what: &str, tail: &str| {
            sql.push(&format!("(SELECT {what} FROM {} WHERE 1=1", src.from));
            src.push_fixed(sql);
            sql.push(&format!(" AND {} = v.sid{tail})", src.stream_raw));
        };
        let newest = format!(" ORDER BY {v} DESC LIMIT 1");
        let last_v = d.select_expr(v, layout::Encoding::Integer);
        let (last_t, time_enc) = src.time_select();
        let lateral = d == Dialect::Postgres;
        // A binary column's ids are read as bytes (a cast to text gives bytea's hex form).
        let id_enc = if src.bytes_col() {
            layout::Encoding::Bytes
        } else {
            layout::Encoding::Text
        };
        sql.push(&format!("SELECT {}, ", d.select_expr("v.sid", id_enc)));
        sub(&mut sql, "COUNT(*)", "");
        if lateral {
            // One probe at the newest version for both its version and its time.
            sql.push(", l.v, l.t");
        } else {
            sql.push(", ");
            sub(&mut sql, &last_v, &newest);
            sql.push(", ");
            sub(&mut sql, &last_t, &newest);
        }
        sql.push(" FROM (");
        for (i, id) in ids.iter().enumerate() {
            sql.push(if i == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            src.push_stream_value(&mut sql, id);
            sql.push(" AS sid");
        }
        sql.push(") v");
        if lateral {
            sql.push(&format!(
                " LEFT JOIN LATERAL (SELECT {last_v} AS v, {last_t} AS t FROM {} WHERE 1=1",
                src.from
            ));
            src.push_fixed(&mut sql);
            sql.push(&format!(
                " AND {} = v.sid{newest}) l ON true",
                src.stream_raw
            ));
        }
        let enc = [
            Some(id_enc),
            Some(layout::Encoding::Integer),
            Some(layout::Encoding::Integer),
            Some(time_enc),
        ];
        let rows = self.db.fetch_raw(&sql, &enc).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                let id = it.next()?.text();
                let count = it.next().and_then(|x| x.int()).unwrap_or(0);
                if count == 0 {
                    return None; // a stream row without events (joined layouts)
                }
                let last = it.next().and_then(|x| x.int()).unwrap_or(-1);
                Some(self.stream_info(id, count, last, it.next()))
            })
            .collect())
    }
}
