//! Test support: throwaway databases on the real servers, and the evscope binary.
//!
//! Each test creates its own uniquely named database and drops it. When a server is not
//! reachable the test says so on stderr and skips — except under `CI=true`, where it fails.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection;

pub mod nats_auth;
pub mod nats_cluster;
pub mod seal;
pub mod topology;
pub mod tui;

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MY_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Postgres,
    MariaDb,
    Sqlite,
}

impl Server {
    fn addr(self) -> Option<&'static str> {
        match self {
            Server::Postgres => Some("127.0.0.1:5432"),
            Server::MariaDb => Some("127.0.0.1:3306"),
            Server::Sqlite => None,
        }
    }
}

/// Whether the server is up; under CI=true a server that is down fails the test.
pub fn available(server: Server) -> bool {
    let Some(addr) = server.addr() else {
        return true;
    };
    reachable(&format!("{server:?}"), addr)
}

pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Whether NATS (with JetStream) is up; under CI=true a server that is down fails the test.
pub fn nats_available() -> bool {
    reachable("NATS", "127.0.0.1:4222")
}

fn reachable(server: &str, addr: &str) -> bool {
    let ok = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{server} at {addr} is unreachable, and CI=true requires it");
        }
        eprintln!("\n!!! SKIPPED: {server} at {addr} is unreachable; this test did not run !!!\n");
    }
    ok
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("evs_{tag}_{}_{n}_{nanos:x}", std::process::id())
}

/// A database created for one test and dropped when the value goes away.
pub struct TempDb {
    pub server: Server,
    pub name: String,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TempDb {
    pub async fn create(server: Server, tag: &str) -> TempDb {
        let name = unique_name(tag);
        match server {
            Server::Postgres => {
                let mut c = sqlx::PgConnection::connect(PG_ADMIN)
                    .await
                    .expect("admin connection");
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut c)
                    .await
                    .expect("create database");
                TempDb {
                    server,
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    name,
                    _dir: None,
                }
            }
            Server::MariaDb => {
                let mut c = sqlx::MySqlConnection::connect(MY_ADMIN)
                    .await
                    .expect("admin connection");
                sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
                    .execute(&mut c)
                    .await
                    .expect("create database");
                TempDb {
                    server,
                    url: format!("mysql://root@127.0.0.1:3306/{name}"),
                    name,
                    _dir: None,
                }
            }
            Server::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join(format!("{name}.db"));
                TempDb {
                    server,
                    url: format!("sqlite://{}", path.display()),
                    name,
                    _dir: Some(dir),
                }
            }
        }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// Run SQL as the administrator (fixtures are written by the test, never by evscope).
    pub async fn exec(&self, sql: &str) {
        match self.server {
            Server::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}\n{sql}"));
            }
            Server::MariaDb => {
                let mut c = sqlx::MySqlConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}\n{sql}"));
            }
            Server::Sqlite => {
                let url = format!("{}?mode=rwc", self.url);
                let mut c = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}\n{sql}"));
            }
        }
    }

    pub async fn load(&self, fixture: &str) {
        let text = std::fs::read_to_string(fixture_path(fixture))
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        self.exec(&text).await;
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let (server, name) = (self.server, self.name.clone());
        if server == Server::Sqlite {
            return;
        }
        // Drop from a thread of its own: Drop may run inside (or outside) a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                match server {
                    Server::Postgres => {
                        let mut c = sqlx::PgConnection::connect(PG_ADMIN).await?;
                        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut c)
                            .await?;
                    }
                    Server::MariaDb => {
                        let mut c = sqlx::MySqlConnection::connect(MY_ADMIN).await?;
                        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
                            .execute(&mut c)
                            .await?;
                    }
                    Server::Sqlite => {}
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
            .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .join();
    }
}

/// Run SQL with the sqlite3 shell on the file at `path` (created if missing), the SQL given
/// on stdin (a file may start with `--` comments).
pub fn sqlite3(path: &Path, sql: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sqlite3")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sqlite3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "sqlite3 failed on {}",
        path.display()
    );
}

pub fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// The evscope binary with a clean environment: no DATABASE_URL, no user config, its own
/// data directory.
pub fn evscope(data_dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("evscope").expect("binary built");
    c.env_remove("DATABASE_URL")
        .env("EVSCOPE_CONFIG", data_dir.join("no-config.toml"))
        .env("EVSCOPE_DATA_DIR", data_dir)
        .env_remove("EVSCOPE_LOG")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    c
}

/// The evscope binary as a process of its own (to run beside the test, read as it goes, or
/// kill), with the same clean environment as [`evscope`].
pub fn evscope_process(data_dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("evscope"));
    c.env_remove("DATABASE_URL")
        .env("EVSCOPE_CONFIG", data_dir.join("no-config.toml"))
        .env("EVSCOPE_DATA_DIR", data_dir)
        .env_remove("EVSCOPE_LOG")
        .env("NO_COLOR", "1");
    c
}

/// Parse JSON lines.
/// A trace's events as (event id, depth, caused by), from `trace --format jsonl`.
pub fn trace_shape(events: &[serde_json::Value]) -> Vec<(String, u64, Option<String>)> {
    events
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().unwrap().to_string(),
                e["depth"].as_u64().unwrap(),
                e["caused_by"].as_str().map(String::from),
            )
        })
        .collect()
}

pub fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}
