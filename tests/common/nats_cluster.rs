//! NATS servers that a test starts itself: a cluster of `nats-server` processes with
//! JetStream, each on free loopback ports with its own store directory, that can be killed
//! (SIGKILL) and restarted one by one. Every process started is killed, by its pid, when the
//! [`NatsCluster`] goes away, whatever happens to the test.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// Whether the nats-server binary is there; under CI=true a missing one fails the test.
pub fn nats_server_available() -> bool {
    if Path::new(NATS_SERVER).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{NATS_SERVER} is missing, and CI=true requires it");
    }
    eprintln!("\n!!! SKIPPED: {NATS_SERVER} is missing; this test did not run !!!\n");
    false
}

/// `n` distinct free loopback ports (all bound at once, so no two are the same).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// One server of the cluster: how to start it again, and its process while it runs.
pub struct Node {
    pub name: String,
    pub port: u16,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let child = Command::new(NATS_SERVER)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server");
        self.child = Some(child);
    }

    /// The last lines the server logged.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A NATS cluster with JetStream: `nats-server -a 127.0.0.1 -p P -n NAME -js -sd DIR
/// --cluster_name C --cluster nats://127.0.0.1:CP --routes <every node's cluster port>`.
pub struct NatsCluster {
    pub name: String,
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Start `n` nodes (not waiting for them: see [`NatsCluster::wait_ready`]).
    pub fn start(n: usize) -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(2 * n);
        let name = format!("evs{}", std::process::id());
        let routes = ports[n..]
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for i in 0..n {
            let node_name = format!("n{}", i + 1);
            let store = dir.path().join(&node_name);
            let args = vec![
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                ports[i].to_string(),
                "-n".into(),
                node_name.clone(),
                "-js".into(),
                "-sd".into(),
                store.display().to_string(),
                "--cluster_name".into(),
                name.clone(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{}", ports[n + i]),
                "--routes".into(),
                routes.clone(),
            ];
            nodes.push(Node {
                log: dir.path().join(format!("{node_name}.log")),
                name: node_name,
                port: ports[i],
                args,
                child: None,
            });
        }
        let mut cluster = NatsCluster {
            name,
            nodes,
            _dir: dir,
        };
        for node in &mut cluster.nodes {
            node.spawn();
        }
        cluster
    }

    /// A server list of the nodes `which`: `nats://127.0.0.1:P1,nats://127.0.0.1:P2`.
    pub fn urls(&self, which: &[usize]) -> String {
        which
            .iter()
            .map(|&i| self.nodes[i].url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every node's URL, for async-nats (which takes a list of addresses, not a string).
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    pub fn index_of(&self, server_name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == server_name)
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freeze node `i` (SIGSTOP): its sockets stay open but it answers nothing.
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Let a paused node go on (SIGCONT).
    pub fn unpause(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i].child.as_ref().expect("node runs").id();
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    }

    /// Start node `i` again, with the same arguments and store directory.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} still runs");
        self.nodes[i].spawn();
    }

    /// Wait until every running node answers a JetStream account-info request (the cluster
    /// has formed and elected its meta leader).
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let answered = async {
                    let c = async_nats::ConnectOptions::new()
                        .connection_timeout(Duration::from_secs(1))
                        .connect(node.url())
                        .await
                        .ok()?;
                    // Asked raw: async-nats may not parse every server version's answer.
                    let reply = tokio::time::timeout(
                        Duration::from_secs(2),
                        c.request("$JS.API.INFO", "".into()),
                    )
                    .await
                    .ok()?
                    .ok()?;
                    let v: serde_json::Value = serde_json::from_slice(&reply.payload).ok()?;
                    v.get("error").is_none().then_some(())
                }
                .await;
                if answered.is_some() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "JetStream on {} did not answer within {limit:?}:\n{}",
                    node.name,
                    node.log_tail(20)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// The last lines of every node's log, for a failure message.
    pub fn logs(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.name, n.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("nats cluster logs:\n{}", self.logs(15));
        }
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
