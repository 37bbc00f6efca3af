//! The `[consumers]` section of a mapping file: a checkpoint table of any other shape.
//!
//! ```toml
//! [consumers]
//! table = "projection_checkpoints"
//! schema = "app"                                  # optional (PostgreSQL schema)
//! name = { column = "projection" }
//! position = { column = "last_position" }         # the global position of the last event processed
//! updated_at = { column = "updated", encoding = "timestamp" }   # optional: timestamp, iso8601, epoch_ms
//! segment = { column = "part" }                   # optional
//! category = { column = "category" }              # optional: what it follows
//! status = { column = "state" }                   # optional
//! owner = { column = "locked_by" }                # optional
//! ```

use std::path::Path;

use serde::Deserialize;

use super::readers::{opt_text, time_of};
use super::{Consumer, ConsumerError, Follows, Framework, RowKey};
use crate::store::Store;
use crate::store::db::Raw;
use crate::store::layout::{Encoding, Ident};
use crate::store::sql::{Param, Sql};

#[derive(Deserialize)]
struct File {
    consumers: Option<Section>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    table: String,
    schema: Option<String>,
    name: Col,
    position: Col,
    updated_at: Option<Col>,
    segment: Option<Col>,
    category: Option<Col>,
    status: Option<Col>,
    owner: Option<Col>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Col {
    column: String,
    encoding: Option<Encoding>,
}

/// A validated `[consumers]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub schema: Option<Ident>,
    pub table: Ident,
    pub name: Ident,
    pub position: Ident,
    pub updated_at: Option<(Ident, Encoding)>,
    pub segment: Option<Ident>,
    pub category: Option<Ident>,
    pub status: Option<Ident>,
    pub owner: Option<Ident>,
}

fn ident(field: &str, s: &str) -> Result<Ident, ConsumerError> {
    Ident::new(s).map_err(|e| ConsumerError::Mapping(format!("{field}: {e}")))
}

fn plain(field: &str, c: &Option<Col>) -> Result<Option<Ident>, ConsumerError> {
    c.as_ref()
        .map(|c| {
            if c.encoding.is_some_and(|e| e != Encoding::Text) {
                return Err(ConsumerError::Mapping(format!(
                    "{field}: only the text encoding is read here"
                )));
            }
            ident(field, &c.column)
        })
        .transpose()
}

impl Mapping {
    /// The section of this mapping text, if it has one.
    pub fn from_toml(text: &str) -> Result<Option<Mapping>, ConsumerError> {
        let f: File =
            toml::from_str(text).map_err(|e| ConsumerError::Mapping(e.message().to_string()))?;
        let Some(s) = f.consumers else {
            return Ok(None);
        };
        if s.position.encoding.is_some_and(|e| e != Encoding::Integer) {
            return Err(ConsumerError::Mapping(
                "position: the checkpoint must be an integer global position".into(),
            ));
        }
        let updated_at = s
            .updated_at
            .as_ref()
            .map(|c| {
                let enc = c.encoding.unwrap_or(Encoding::Timestamp);
                if !enc.is_time() {
                    return Err(ConsumerError::Mapping(
                        "updated_at: encoding must be timestamp, iso8601 or epoch_ms".into(),
                    ));
                }
                Ok((ident("updated_at", &c.column)?, enc))
            })
            .transpose()?;
        Ok(Some(Mapping {
            schema: s
                .schema
                .as_deref()
                .map(|x| ident("schema", x))
                .transpose()?,
            table: ident("table", &s.table)?,
            name: ident("name", &s.name.column)?,
            position: ident("position", &s.position.column)?,
            updated_at,
            segment: plain("segment", &s.segment)?,
            category: plain("category", &s.category)?,
            status: plain("status", &s.status)?,
            owner: plain("owner", &s.owner)?,
        }))
    }

    pub fn from_file(path: &Path) -> Result<Option<Mapping>, ConsumerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConsumerError::Mapping(format!("{}: {e}", path.display())))?;
        Mapping::from_toml(&text)
    }

    pub async fn read(&self, store: &Store) -> Result<Vec<Consumer>, ConsumerError> {
        let d = store.dialect();
        let q = |i: &Ident| d.quote(i);
        let table = match &self.schema {
            Some(s) => format!("{}.{}", q(s), q(&self.table)),
            None => q(&self.table),
        };
        let label = match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.to_string(),
        };
        let opt = |c: &Option<Ident>| {
            c.as_ref()
                .map_or("NULL".to_string(), |c| d.select_expr(&q(c), Encoding::Text))
        };
        let (updated, uenc) = match &self.updated_at {
            Some((c, e)) => (d.select_expr(&q(c), *e), *e),
            None => ("NULL".to_string(), Encoding::Text),
        };
        let mut sql = Sql::new(d);
        sql.push(&format!(
            "SELECT {}, {}, {updated}, {}, {}, {}, {} FROM {table}",
            d.select_expr(&q(&self.name), Encoding::Text),
            d.select_expr(&q(&self.position), Encoding::Integer),
            opt(&self.segment),
            opt(&self.category),
            opt(&self.status),
            opt(&self.owner),
        ));
        let t = Some(Encoding::Text);
        let rows = store
            .db()
            .fetch_raw(&sql, &[t, Some(Encoding::Integer), Some(uenc), t, t, t, t])
            .await
            .map_err(|e| ConsumerError::Mapping(format!("table {label}: {e}")))?;
        let mut out = Vec::new();
        for r in rows {
            let mut it = r.into_iter();
            let mut next = || it.next().unwrap_or(Raw::Null);
            let name = next().text();
            let pos = next();
            let mut c = Consumer::new(Framework::Mapped, name.clone(), label.clone());
            c.raw_checkpoint = pos.clone().text();
            c.checkpoint = pos.int();
            c.updated_at = time_of(next());
            c.segment = opt_text(next());
            c.follows = Follows {
                category: opt_text(next()),
                ..Follows::default()
            };
            c = c.with_status(opt_text(next()));
            c.owner = opt_text(next());
            let mut key = vec![(self.name.to_string(), Param::Text(name))];
            if let (Some(col), Some(seg)) = (&self.segment, &c.segment) {
                key.push((col.to_string(), Param::Text(seg.clone())));
            }
            c.row = Some(RowKey {
                schema: self.schema.as_ref().map(|s| s.to_string()),
                table: self.table.to_string(),
                key,
                position_column: Some(self.position.to_string()),
            });
            out.push(c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_validated() {
        let ok = "name = \"x\"\n[events]\ntable = \"e\"\n[consumers]\ntable = \"cp\"\nname = { column = \"n\" }\nposition = { column = \"p\" }\nupdated_at = { column = \"u\", encoding = \"iso8601\" }\n";
        let m = Mapping::from_toml(ok).unwrap().unwrap();
        assert_eq!(m.table.as_str(), "cp");
        assert_eq!(m.updated_at.unwrap().1, Encoding::Iso8601);
        assert!(Mapping::from_toml("name = \"x\"").unwrap().is_none());
        let bad = "[consumers]\ntable = \"cp; drop\"\nname = { column = \"n\" }\nposition = { column = \"p\" }\n";
        assert!(
            Mapping::from_toml(bad)
                .unwrap_err()
                .to_string()
                .contains("invalid identifier")
        );
        let unknown = "[consumers]\ntable = \"cp\"\nname = { column = \"n\" }\nposition = { column = \"p\" }\nlag = 3\n";
        assert!(Mapping::from_toml(unknown).is_err());
    }
}
