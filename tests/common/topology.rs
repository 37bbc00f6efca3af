//! Replication topologies a test starts for itself: a PostgreSQL primary with a streaming hot
//! standby, a MariaDB primary with an asynchronous replica. Free loopback ports, a temporary
//! directory, and every process stopped when the value is dropped, whatever happens.
//!
//! A binary that is missing makes the test say so loudly and skip — except under `CI=true`,
//! where it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn missing(what: &str) -> Option<()> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing, and CI=true requires it");
    }
    eprintln!("\n!!! SKIPPED: {what} is missing; this test did not run !!!\n");
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_port(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A PostgreSQL primary and a hot standby streaming from it (`pg_basebackup -R -X stream`).
pub struct PgPair {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    pub primary: u16,
    pub standby: u16,
}

impl PgPair {
    /// Start both (about 3 s); None when the PostgreSQL server binaries are not here.
    pub fn start() -> Option<PgPair> {
        let bin = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let Some(bin) =
            bin.filter(|b| b.join("initdb").exists() && b.join("pg_basebackup").exists())
        else {
            missing("PostgreSQL's initdb/pg_ctl/pg_basebackup (pg_config --bindir)")?;
            unreachable!()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let pair = PgPair {
            primary: free_port(),
            standby: free_port(),
            dir,
            bin,
            as_postgres,
        };
        let d = pair.dir.path();
        run(&mut pair.tool(
            "initdb",
            &[
                "-D",
                &d.join("p").to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        ));
        let conf = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n",
            pair.primary,
            d.display()
        );
        append(&d.join("p/postgresql.conf"), &conf);
        append(
            &d.join("p/pg_hba.conf"),
            "host replication all 127.0.0.1/32 trust\n",
        );
        pair.pg_ctl("p", "start");
        run(&mut pair.tool(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pair.primary.to_string(),
                "-U",
                "postgres",
                "-D",
                &d.join("s").to_string_lossy(),
                "-R",
                "-X",
                "stream",
            ],
        ));
        append(
            &d.join("s/postgresql.conf"),
            &format!("port = {}\n", pair.standby),
        );
        pair.pg_ctl("s", "start");
        Some(pair)
    }

    fn tool(&self, name: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(name);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args).stdin(Stdio::null());
        c
    }

    fn pg_ctl(&self, node: &str, action: &str) {
        let d = self.dir.path();
        let data = d.join(node).to_string_lossy().to_string();
        let log = d.join(format!("{node}.log")).to_string_lossy().to_string();
        let mut args = vec!["-D", &data, "-l", &log, "-w"];
        if action == "stop" {
            args.extend(["-m", "immediate"]);
        }
        args.push(action);
        run(&mut self.tool("pg_ctl", &args));
    }

    pub fn url(&self, port: u16, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{db}")
    }

    /// Wait until the standby has replayed everything the primary has written so far.
    pub async fn catch_up(&self, db: &str) {
        let mut p = sqlx::PgConnection::connect(&self.url(self.primary, db))
            .await
            .expect("primary");
        let lsn: String = sqlx::query_scalar("SELECT CAST(pg_current_wal_lsn() AS TEXT)")
            .fetch_one(&mut p)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = sqlx::PgConnection::connect(&self.url(self.standby, db)).await {
                let done: Option<bool> =
                    sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= CAST($1 AS pg_lsn)")
                        .bind(&lsn)
                        .fetch_one(&mut s)
                        .await
                        .unwrap();
                if done == Some(true) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the standby did not catch up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for node in ["s", "p"] {
            let d = self.dir.path();
            let _ = self
                .tool(
                    "pg_ctl",
                    &[
                        "-D",
                        &d.join(node).to_string_lossy(),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).unwrap();
}

/// A MariaDB primary (binary log on) and an asynchronous replica replicating from it.
pub struct MariaPair {
    _dir: tempfile::TempDir,
    children: Vec<Child>,
    pub primary: u16,
    pub replica: u16,
}

impl MariaPair {
    /// Start both and set up replication (about 3 s); None when mariadbd is not here.
    pub async fn start() -> Option<MariaPair> {
        let mariadbd = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let install = Command::new("mariadb-install-db")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        let Some(mariadbd) = mariadbd.filter(|_| install) else {
            missing("mariadbd / mariadb-install-db")?;
            unreachable!()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pair = MariaPair {
            primary: free_port(),
            replica: free_port(),
            children: vec![],
            _dir: dir,
        };
        let d = pair._dir.path().to_path_buf();
        for (node, port, id) in [("p", pair.primary, 1), ("r", pair.replica, 2)] {
            let data = d.join(node);
            run(Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--user=root", "--auth-root-authentication-method=normal"]));
            let mut c = Command::new(&mariadbd);
            c.arg("--no-defaults")
                .arg("--user=root")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--socket={}/{node}.sock", d.display()))
                .arg(format!("--pid-file={}/{node}.pid", d.display()))
                .arg(format!("--server-id={id}"))
                .arg("--skip-name-resolve")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if node == "p" {
                c.arg(format!("--log-bin={}/p-bin", d.display()))
                    .arg("--binlog-format=ROW");
            } else {
                c.arg("--read-only=1");
            }
            pair.children.push(c.spawn().expect("mariadbd"));
        }
        wait_port(pair.primary, Duration::from_secs(30));
        wait_port(pair.replica, Duration::from_secs(30));
        let mut p = connect_retry(&pair.url(pair.primary, "mysql")).await;
        sqlx::raw_sql(
            "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl'; \
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; \
             CREATE USER 'repl'@'localhost' IDENTIFIED BY 'repl'; \
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'localhost';",
        )
        .execute(&mut p)
        .await
        .expect("replication user");
        let mut r = connect_retry(&pair.url(pair.replica, "mysql")).await;
        sqlx::raw_sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', \
             MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos; START SLAVE;",
            pair.primary
        ))
        .execute(&mut r)
        .await
        .expect("start the replica");
        Some(pair)
    }

    pub fn url(&self, port: u16, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{port}/{db}")
    }

    /// Wait until the replica has applied everything the primary has written so far.
    pub async fn catch_up(&self) {
        let mut p = sqlx::MySqlConnection::connect(&self.url(self.primary, "mysql"))
            .await
            .expect("primary");
        let pos: String = sqlx::query_scalar("SELECT CAST(@@global.gtid_binlog_pos AS CHAR)")
            .fetch_one(&mut p)
            .await
            .unwrap();
        let mut r = sqlx::MySqlConnection::connect(&self.url(self.replica, "mysql"))
            .await
            .expect("replica");
        let done: Option<i64> = sqlx::query_scalar("SELECT MASTER_GTID_WAIT(?, 20)")
            .bind(&pos)
            .fetch_one(&mut r)
            .await
            .unwrap();
        assert_eq!(done, Some(0), "the replica did not catch up to {pos}");
    }
}

async fn connect_retry(url: &str) -> sqlx::MySqlConnection {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match sqlx::MySqlConnection::connect(url).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "{url}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

impl Drop for MariaPair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
