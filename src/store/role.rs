//! Where a connection is: a primary, a PostgreSQL hot standby or a MySQL/MariaDB replica, and
//! how far behind it is, as far as the connection's own privileges let it see.

use serde::Serialize;
use sqlx::Row;

use super::db::Db;
use super::{Store, StoreError};

/// The server's place in replication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerRole {
    /// primary, standby (PostgreSQL), replica (MySQL/MariaDB), file (SQLite) or unknown.
    pub role: &'static str,
    /// PostgreSQL standby: WAL received and not yet replayed, in bytes (what the standby can
    /// measure without asking the primary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<i64>,
    /// PostgreSQL standby: seconds since the commit time of the last transaction replayed (it
    /// also grows while the primary is idle); MySQL/MariaDB replica: `Seconds_Behind_Master`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_secs: Option<f64>,
    /// What else is known, or why the role or lag is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ServerRole {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mut s = self.role.to_string();
        if let Some(b) = self.lag_bytes {
            s.push_str(&format!(", {b} bytes of WAL received and not yet replayed"));
        }
        if let Some(t) = self.lag_secs {
            s.push_str(&match self.role {
                "standby" => format!(", last replayed commit {t:.1}s ago"),
                _ => format!(", {t:.0}s behind its primary"),
            });
        }
        if let Some(d) = &self.detail {
            s.push_str(&format!(" ({d})"));
        }
        s
    }
}

impl Store {
    /// The server's role in replication and its lag.
    pub async fn server_role(&self) -> Result<ServerRole, StoreError> {
        match self.db() {
            Db::Sqlite(_) => Ok(ServerRole {
                role: "file",
                lag_bytes: None,
                lag_secs: None,
                detail: None,
            }),
            Db::Postgres(pool) => {
                let row = sqlx::query(
                    "SELECT pg_is_in_recovery(), \
                     CAST(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS BIGINT), \
                     CAST(EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) AS FLOAT8)",
                )
                .fetch_one(pool)
                .await
                .map_err(StoreError::query)?;
                let standby: bool = row.try_get(0).map_err(StoreError::query)?;
                if !standby {
                    return Ok(ServerRole {
                        role: "primary",
                        lag_bytes: None,
                        lag_secs: None,
                        detail: None,
                    });
                }
                let lag_bytes: Option<i64> = row.try_get(1).map_err(StoreError::query)?;
                let lag_secs: Option<f64> = row.try_get(2).map_err(StoreError::query)?;
                Ok(ServerRole {
                    role: "standby",
                    lag_bytes,
                    lag_secs: lag_secs.map(|s| s.max(0.0)),
                    detail: Some(
                        "hot standby: reads show what it has replayed; held positions are judged from the primary's transactions it knows of".into(),
                    ),
                })
            }
            Db::MySql(pool) => {
                let read_only: Option<i64> = sqlx::query_scalar("SELECT @@global.read_only")
                    .fetch_one(pool)
                    .await
                    .ok();
                let mut last_err = None;
                for q in ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"] {
                    match sqlx::query(q).fetch_optional(pool).await {
                        Ok(None) => {
                            return Ok(ServerRole {
                                role: "primary",
                                lag_bytes: None,
                                lag_secs: None,
                                detail: (read_only == Some(1)).then(|| {
                                    "read_only is on, but it replicates from no one".into()
                                }),
                            });
                        }
                        Ok(Some(row)) => {
                            let get = |names: &[&str]| -> Option<String> {
                                names.iter().find_map(|n| {
                                    row.try_get::<Option<String>, _>(*n)
                                        .ok()
                                        .flatten()
                                        .or_else(|| {
                                            row.try_get::<Option<u64>, _>(*n)
                                                .ok()
                                                .flatten()
                                                .map(|v| v.to_string())
                                        })
                                        .or_else(|| {
                                            row.try_get::<Option<i64>, _>(*n)
                                                .ok()
                                                .flatten()
                                                .map(|v| v.to_string())
                                        })
                                })
                            };
                            let lag = get(&["Seconds_Behind_Master", "Seconds_Behind_Source"])
                                .and_then(|v| v.parse::<f64>().ok());
                            let io = get(&["Slave_IO_Running", "Replica_IO_Running"]);
                            let sql = get(&["Slave_SQL_Running", "Replica_SQL_Running"]);
                            let source = get(&["Master_Host", "Source_Host"]).unwrap_or_default();
                            let port = get(&["Master_Port", "Source_Port"]).unwrap_or_default();
                            return Ok(ServerRole {
                                role: "replica",
                                lag_bytes: None,
                                lag_secs: lag,
                                detail: Some(format!(
                                    "replicating from {source}:{port}, IO thread {}, SQL thread {}{}",
                                    io.as_deref().unwrap_or("?"),
                                    sql.as_deref().unwrap_or("?"),
                                    if lag.is_none() { "; lag unknown" } else { "" }
                                )),
                            });
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                let why = last_err.map(|e| e.to_string()).unwrap_or_default();
                Ok(ServerRole {
                    role: if read_only == Some(1) {
                        "replica"
                    } else {
                        "unknown"
                    },
                    lag_bytes: None,
                    lag_secs: None,
                    detail: Some(format!(
                        "replication status not readable by this user (it needs REPLICA MONITOR / REPLICATION CLIENT): lag unknown; {}",
                        crate::output::clip(&why, 160)
                    )),
                })
            }
        }
    }
}
