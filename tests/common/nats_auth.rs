//! NATS servers as they are deployed, started by a test on free loopback ports: TLS with a
//! throwaway CA (and client certificates), a token, NKey users, a user and password. The
//! certificates are made with `openssl`, the NKey pair too (an Ed25519 key, encoded as NKeys
//! are). Every server is killed, by its pid, when its [`AuthServer`] goes away.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use serde_json::Value;

use super::nats_cluster::{NATS_SERVER, free_ports, nats_server_available};

/// Whether nats-server and openssl are there; under CI=true a missing one fails the test.
pub fn tools_available() -> bool {
    if !nats_server_available() {
        return false;
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !openssl {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("openssl is missing, and CI=true requires it");
        }
        eprintln!("\n!!! SKIPPED: openssl is missing; this test did not run !!!\n");
    }
    openssl
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA, a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) and a
/// client certificate it signed, and a second CA that signed nothing of these.
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
}

impl Certs {
    pub fn make(dir: &Path) -> Certs {
        std::fs::create_dir_all(dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, cn) in [("ca", "evscope test CA"), ("other-ca", "another CA")] {
            let (key, pem, subj) = (
                format!("{name}.key"),
                format!("{name}.pem"),
                format!("/CN={cn}"),
            );
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            args.extend([
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "2",
                "-subj",
                &subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(dir, &args);
        }
        for (name, ext) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            (
                "client",
                "subjectAltName=DNS:evscope-client\nextendedKeyUsage=clientAuth\n",
            ),
        ] {
            let (key, csr, pem, cnf, subj) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.cnf"),
                format!("/CN=evscope-{name}"),
            );
            std::fs::write(dir.join(&cnf), ext).unwrap();
            let mut args = vec!["req"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &cnf,
                ],
            );
        }
        Certs {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

/// An NKey pair: the seed (`S…`, the secret) and the public key (`U…` for a user, `A…` an
/// account, `O…` an operator), and the key as openssl keeps it (to sign JWTs with).
pub struct NKey {
    pub seed: String,
    pub public: String,
    der: PathBuf,
}

/// NKey prefix bytes.
pub const USER: u8 = 20 << 3;
pub const ACCOUNT: u8 = 0;
pub const OPERATOR: u8 = 14 << 3;

impl NKey {
    /// A user key.
    pub fn generate(dir: &Path, name: &str) -> NKey {
        NKey::generate_as(dir, name, USER)
    }

    /// An Ed25519 key made by openssl, encoded as NKeys are: base32 (no padding) of prefix
    /// byte(s), the 32 key bytes and a CRC-16 (XMODEM, little-endian).
    pub fn generate_as(dir: &Path, name: &str, kind: u8) -> NKey {
        std::fs::create_dir_all(dir).unwrap();
        let der = format!("{name}.der");
        let pub_der = format!("{name}.pub.der");
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "ed25519",
                "-outform",
                "DER",
                "-out",
                &der,
            ],
        );
        openssl(
            dir,
            &[
                "pkey", "-inform", "DER", "-in", &der, "-pubout", "-outform", "DER", "-out",
                &pub_der,
            ],
        );
        let private = std::fs::read(dir.join(&der)).unwrap();
        let public = std::fs::read(dir.join(&pub_der)).unwrap();
        let last32 = |b: &[u8]| b[b.len() - 32..].to_vec();
        const SEED: u8 = 18 << 3;
        let mut seed = vec![SEED | (kind >> 5), (kind & 31) << 3];
        seed.extend(last32(&private));
        let mut public_raw = vec![kind];
        public_raw.extend(last32(&public));
        NKey {
            seed: encode(&seed),
            public: encode(&public_raw),
            der: dir.join(der),
        }
    }

    /// An Ed25519 signature of `msg`.
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let dir = self.der.parent().unwrap();
        let (m, sig) = (dir.join("msg.bin"), dir.join("msg.sig"));
        std::fs::write(&m, msg).unwrap();
        openssl(
            dir,
            &[
                "pkeyutl",
                "-sign",
                "-rawin",
                "-inkey",
                self.der.to_str().unwrap(),
                "-keyform",
                "DER",
                "-in",
                m.to_str().unwrap(),
                "-out",
                sig.to_str().unwrap(),
            ],
        );
        std::fs::read(sig).unwrap()
    }

    /// A NATS JWT this key issues: `claims` with `iss`, `iat` and `jti` added, signed.
    pub fn issue(&self, mut claims: Value) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        claims["iss"] = self.public.clone().into();
        claims["iat"] = 1_700_000_000u64.into();
        claims["jti"] = format!("EVSCOPETEST{:016X}", fastrand::u64(..)).into();
        let head = b64.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = b64.encode(claims.to_string());
        let signed = format!("{head}.{body}");
        let sig = b64.encode(self.sign(signed.as_bytes()));
        format!("{signed}.{sig}")
    }
}

/// An operator, an account with JetStream, and a user of it, as `nsc` would make them: the
/// server's config (operator mode, the account preloaded) and the user's `.creds` file text.
pub struct Operator {
    pub config: String,
    pub creds: String,
    pub user_seed: String,
}

impl Operator {
    pub fn make(dir: &Path) -> Operator {
        let op = NKey::generate_as(dir, "operator", OPERATOR);
        let account = NKey::generate_as(dir, "account", ACCOUNT);
        let user = NKey::generate_as(dir, "creds-user", USER);
        let system = NKey::generate_as(dir, "system", ACCOUNT);
        let op_jwt = op.issue(serde_json::json!({
            "sub": op.public, "name": "evscope-test",
            "nats": {"type": "operator", "version": 2, "system_account": system.public}
        }));
        let system_jwt = op.issue(serde_json::json!({
            "sub": system.public, "name": "SYS",
            "nats": {"limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                "exports": -1, "wildcards": true, "conn": -1, "leaf": -1},
                "type": "account", "version": 2}
        }));
        let account_jwt = op.issue(serde_json::json!({
            "sub": account.public, "name": "replay",
            "nats": {
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
                },
                "default_permissions": {"pub": {}, "sub": {}},
                "type": "account", "version": 2
            }
        }));
        let user_jwt = account.issue(serde_json::json!({
            "sub": user.public, "name": "replayer",
            "nats": {
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            }
        }));
        let config = format!(
            "listen: 127.0.0.1:{{port}}\njetstream {{ store_dir: \"{{store}}\" }}\noperator: {op_jwt}\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{ {acc}: {account_jwt}, {sys}: {system_jwt} }}\n",
            acc = account.public,
            sys = system.public,
        );
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed
        );
        Operator {
            config,
            creds,
            user_seed: user.seed,
        }
    }
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn encode(raw: &[u8]) -> String {
    let mut data = raw.to_vec();
    data.extend(crc16(raw).to_le_bytes());
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut buf, mut bits) = (String::new(), 0u32, 0u32);
    for b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A nats-server with JetStream on a free loopback port, with its own store directory.
pub struct AuthServer {
    pub port: u16,
    pub log: PathBuf,
    child: Option<Child>,
}

impl AuthServer {
    /// `nats-server -a 127.0.0.1 -p PORT -js -sd DIR ARGS…`, waited for until it listens.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> AuthServer {
        let port = free_ports(1)[0];
        let store = dir.join(format!("{name}-store"));
        let log = dir.join(format!("{name}.log"));
        let mut all: Vec<String> = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-js".into(),
            "-sd".into(),
            store.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        Self::spawn(port, log, &all)
    }

    /// A server from a config file whose text is `body` (it must say `listen: 127.0.0.1:{port}`;
    /// `{port}` and `{store}` are filled in).
    pub fn with_config(dir: &Path, name: &str, body: &str) -> AuthServer {
        let port = free_ports(1)[0];
        let store = dir.join(format!("{name}-store"));
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            body.replace("{port}", &port.to_string())
                .replace("{store}", &store.display().to_string()),
        )
        .unwrap();
        let log = dir.join(format!("{name}.log"));
        Self::spawn(port, log, &["-c".into(), conf.display().to_string()])
    }

    fn spawn(port: u16, log: PathBuf, args: &[String]) -> AuthServer {
        let err = File::create(&log).unwrap();
        let child = Command::new(NATS_SERVER)
            .args(args)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("nats-server");
        let server = AuthServer {
            port,
            log,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        let mut t = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut t);
        }
        t
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if std::thread::panicking() {
                eprintln!("nats-server log:\n{}", self.log_text());
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Connect as the test (not through evscope), retrying while the server starts JetStream.
pub async fn connect(
    options: impl Fn() -> async_nats::ConnectOptions,
    url: &str,
) -> jetstream::Context {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match options().connect(url).await {
            Ok(c) => return jetstream::new(c),
            Err(e) => {
                assert!(Instant::now() < deadline, "connecting to {url}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A file-stored stream `NAME` capturing `prefix.>`, with a 2-minute duplicate window.
pub async fn create_stream(js: &jetstream::Context, name: &str, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = js
            .create_stream(stream::Config {
                name: name.into(),
                subjects: vec![format!("{prefix}.>")],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await;
        match r {
            Ok(_) => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "create stream {name}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Every message of stream `name`, in stream order, through a durable pull consumer: each
/// one's `Nats-Msg-Id` and payload.
pub async fn consume_all(js: &jetstream::Context, name: &str) -> Vec<(String, Value)> {
    let mut s = js.get_stream(name).await.unwrap();
    let expected = s.info().await.unwrap().state.messages as usize;
    let consumer: jetstream::consumer::PullConsumer = s
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("evscope-test".into()),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < expected && Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .unwrap();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            out.push((id, serde_json::from_slice(&m.payload).unwrap()));
        }
    }
    assert_eq!(
        out.len(),
        expected,
        "the consumer read every stored message"
    );
    out
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// No file under `dir` (job files, the audit log, the debug log) holds any of `secrets`.
pub fn assert_no_secret(dir: &Path, secrets: &[&str]) {
    let files = files_under(dir);
    assert!(!files.is_empty(), "nothing under {}", dir.display());
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for s in secrets {
            assert!(
                !text.contains(s),
                "{} holds the secret {s:?}:\n{}",
                f.display(),
                text.lines()
                    .filter(|l| l.contains(s))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// The job files and the audit log are 0600, their directories 0700.
#[cfg(unix)]
pub fn assert_private(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let replay = data.join("replay");
    assert_eq!(mode(&replay), 0o700, "{}", replay.display());
    assert_eq!(mode(&replay.join("jobs")), 0o700);
    assert_eq!(mode(&replay.join("audit.jsonl")), 0o600);
    let mut jobs = 0;
    for f in files_under(&replay.join("jobs")) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        jobs += 1;
    }
    assert!(jobs > 0, "no job file");
}
