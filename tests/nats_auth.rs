//! The NATS sink against the bus as it is deployed: `nats-server` processes started here on
//! free loopback ports with TLS (a CA, a server and a client certificate made with openssl),
//! a token, NKey users and a user with a password. For each: a replay to an existing
//! JetStream stream delivers every event; a wrong or missing credential fails with a clear
//! message and exit code 1 without printing the secret (also for a `.creds` file against a
//! server in operator mode, its JWTs signed here); no secret is in the data directory
//! (job files, audit log) or the debug log (`EVSCOPE_LOG=debug`); job files are 0600. An
//! interrupted job (SIGINT mid-run) resumes against the token and TLS servers and completes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use async_nats::jetstream::Context;
use common::nats_auth::*;
use common::*;
use serde_json::Value;

/// One test's world: a store, a data directory (job files, audit log, debug log), a home
/// for the `nats` CLI's contexts, and a directory for certificates, keys and token files.
struct Bed {
    db: String,
    expected: Vec<Value>,
    data: tempfile::TempDir,
    home: tempfile::TempDir,
    files: tempfile::TempDir,
    _db: Option<TempDb>,
}

impl Bed {
    /// `big`: the demo store (258 events, enough to interrupt a run at --rate 150); else the
    /// 10-event native dataset.
    async fn new(big: bool) -> Bed {
        let files = tempfile::tempdir().unwrap();
        let (db, keep) = if big {
            let path = files.path().join("store.db");
            evscope::demo::ensure(&path, 2, false).await.unwrap();
            (evscope::demo::url_for(&path), None)
        } else {
            let db = TempDb::create(Server::Sqlite, "nats_auth").await;
            db.load("native/sqlite.sql").await;
            db.load("native/dataset-sqlite.sql").await;
            (db.url.clone(), Some(db))
        };
        let mut bed = Bed {
            db,
            expected: Vec::new(),
            data: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
            files,
            _db: keep,
        };
        let out = bed
            .command(&["log", "--format", "jsonl", "--limit", "100000"], &[])
            .output()
            .unwrap();
        assert!(out.status.success());
        bed.expected = jsonl(&String::from_utf8(out.stdout).unwrap());
        assert!(!bed.expected.is_empty());
        bed
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// evscope on the store, with the debug log on and none of the NATS variables unless
    /// `env` sets them; `~` is the bed's home.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = evscope_process(self.data.path());
        c.env("EVSCOPE_LOG", "debug")
            .env_remove("EVSCOPE_NATS_TOKEN")
            .env_remove("EVSCOPE_NATS_PASSWORD")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", self.home.path())
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Run evscope to the end: its exit code and stderr.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let mut child = self
            .command(args, env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let code = wait(&mut child, Duration::from_secs(60));
        (code, stderr_of(&mut child))
    }

    /// A replay of the whole store to `sink` with subject `prefix.{category}.{type}`.
    fn replay(
        &self,
        sink: &str,
        prefix: &str,
        more: &[&str],
        env: &[(&str, &str)],
    ) -> (i32, String) {
        let subject = format!("{prefix}.{{category}}.{{type}}");
        let mut args = vec![
            "replay",
            "--sink",
            sink,
            "--subject",
            &subject,
            "--yes",
            "--quiet",
        ];
        args.extend(more);
        self.run(&args, env)
    }

    /// The job files, as JSON.
    fn jobs(&self) -> Vec<Value> {
        let dir = self.data.path().join("replay/jobs");
        files_under(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
            .collect()
    }

    /// Start a replay at `--rate 150`, stop it with SIGINT once a checkpoint names events:
    /// the job's id.
    fn interrupted(&self, sink: &str, prefix: &str, more: &[&str], env: &[(&str, &str)]) -> String {
        let subject = format!("{prefix}.{{category}}.{{type}}");
        let before: Vec<String> = self.jobs().iter().map(|j| j["id"].to_string()).collect();
        let mut args = vec![
            "replay",
            "--sink",
            sink,
            "--subject",
            &subject,
            "--rate",
            "150",
            "--yes",
        ];
        args.extend(more);
        let mut child = self
            .command(&args, env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            let started = self.jobs().into_iter().find(|j| {
                !before.contains(&j["id"].to_string())
                    && j["checkpoint"]["done"].as_u64().unwrap_or(0) > 0
            });
            if let Some(j) = started {
                break j["id"].as_str().unwrap().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the replay ended ({status}) before a checkpoint: {}",
                    stderr_of(&mut child)
                );
            }
            assert!(Instant::now() < deadline, "the job never made progress");
            std::thread::sleep(Duration::from_millis(30));
        };
        let ok = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let code = wait(&mut child, Duration::from_secs(20));
        let err = stderr_of(&mut child);
        assert_eq!(code, 130, "{err}");
        let job = self
            .jobs()
            .into_iter()
            .find(|j| j["id"] == id.as_str())
            .unwrap();
        assert_eq!(job["status"]["state"], "interrupted", "{job}");
        let done = job["checkpoint"]["done"].as_u64().unwrap();
        assert!(done < self.expected.len() as u64, "stopped mid-run: {done}");
        id
    }

    /// Nothing under the data directory holds a secret, the debug log was written (with
    /// async-nats's own lines), and the job files are private.
    fn assert_clean(&self, secrets: &[&str]) {
        assert_no_secret(self.data.path(), secrets);
        let log = std::fs::read_to_string(self.data.path().join("evscope.log")).unwrap();
        assert!(
            log.contains("async_nats"),
            "the debug log has async-nats's lines"
        );
        #[cfg(unix)]
        assert_private(self.data.path());
    }
}

fn wait(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("evscope did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A random secret, different in every run.
fn secret(tag: &str) -> String {
    format!("{tag}-{:016x}", fastrand::u64(..))
}

/// Succeeded, and the stream holds every event of the store once, in log order, as `log
/// --format jsonl` prints them.
async fn assert_delivered(bed: &Bed, run: (i32, String), js: &Context, stream: &str) {
    assert_eq!(run.0, 0, "the replay failed: {}", run.1);
    let got = consume_all(js, stream).await;
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    let want: Vec<&str> = bed
        .expected
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want, "every event once, in log order");
    for ((_, payload), e) in got.iter().zip(&bed.expected) {
        assert_eq!(payload, e);
    }
}

/// Failed with exit code 1, saying each of `says`, and printing none of `secrets`.
fn assert_refused(run: (i32, String), says: &[&str], secrets: &[&str]) {
    let (code, err) = run;
    eprintln!("refused as it should be: {}", err.trim_end());
    assert_eq!(code, 1, "{err}");
    for s in says {
        assert!(err.contains(s), "{s:?} not in: {err}");
    }
    for s in secrets {
        assert!(!err.contains(s), "the secret is printed: {err}");
    }
}

/// Resume job `id` and check it completes, the stream then holding every event once.
async fn assert_resumes(
    bed: &Bed,
    id: &str,
    more: &[&str],
    env: &[(&str, &str)],
    js: &Context,
    stream: &str,
) {
    let mut args = vec!["replay", "resume", id, "--quiet", "--rate", "100000"];
    args.extend(more);
    let run = bed.run(&args, env);
    assert_delivered(bed, run, js, stream).await;
    let job = bed.jobs().into_iter().find(|j| j["id"] == id).unwrap();
    assert_eq!(job["status"]["state"], "completed", "{job}");
}

#[tokio::test]
async fn tls_with_a_private_ca_and_client_certificates() {
    if !tools_available() {
        return;
    }
    let bed = Bed::new(true).await;
    let certs = Certs::make(&bed.files.path().join("certs"));
    let tls = AuthServer::start(
        bed.files.path(),
        "tls",
        &[
            "--tls",
            "--tlscert",
            path(&certs.server_cert),
            "--tlskey",
            path(&certs.server_key),
        ],
    );
    let mtls = AuthServer::start(
        bed.files.path(),
        "mtls",
        &[
            "--tlsverify",
            "--tlscert",
            path(&certs.server_cert),
            "--tlskey",
            path(&certs.server_key),
            "--tlscacert",
            path(&certs.ca),
        ],
    );
    let ca = certs.ca.clone();
    let js = connect(
        || {
            ConnectOptions::new()
                .add_root_certificates(ca.clone())
                .require_tls(true)
        },
        &tls.url("tls"),
    )
    .await;
    let (cert, key) = (certs.client_cert.clone(), certs.client_key.clone());
    let mjs = connect(
        || {
            ConnectOptions::new()
                .add_root_certificates(ca.clone())
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true)
        },
        &mtls.url("tls"),
    )
    .await;
    for (js, name) in [
        (&js, "T1"),
        (&js, "T2"),
        (&mjs, "M1"),
        (&mjs, "M2"),
        (&mjs, "M3"),
    ] {
        create_stream(js, name, &name.to_lowercase()).await;
    }
    let key_text = std::fs::read_to_string(&certs.client_key).unwrap();
    let key_line = key_text.lines().nth(1).unwrap();
    let ca_flag = ["--nats-tls-ca", path(&certs.ca)];

    // The server's CA given: every event, over tls:// and over nats:// (the server asks for TLS).
    let run = bed.replay(&tls.url("tls"), "t1", &ca_flag, &[]);
    assert_delivered(&bed, run, &js, "T1").await;
    let run = bed.replay(&tls.url("nats"), "t2", &ca_flag, &[]);
    assert_delivered(&bed, run, &js, "T2").await;
    // Without it, or with another CA: refused, saying what to give.
    let run = bed.replay(&tls.url("tls"), "t1", &[], &[]);
    assert_refused(run, &["TLS", "--nats-tls-ca"], &[]);
    let run = bed.replay(
        &tls.url("tls"),
        "t1",
        &["--nats-tls-ca", path(&certs.other_ca)],
        &[],
    );
    assert_refused(run, &["not signed by a CA evscope trusts"], &[]);
    // A server that verifies clients: with the client certificate, every event; without, refused.
    let client = [
        "--nats-tls-ca",
        path(&certs.ca),
        "--nats-tls-cert",
        path(&certs.client_cert),
        "--nats-tls-key",
        path(&certs.client_key),
    ];
    let run = bed.replay(&mtls.url("tls"), "m1", &client, &[]);
    assert_delivered(&bed, run, &mjs, "M1").await;
    let run = bed.replay(&mtls.url("tls"), "m1", &ca_flag, &[]);
    assert_refused(run, &["TLS"], &[key_line]);

    // The same from a `nats` CLI context (~/.config/nats/context/NAME.json, as it writes them).
    let contexts = bed.home.path().join(".config/nats/context");
    std::fs::create_dir_all(&contexts).unwrap();
    let context = serde_json::json!({
        "description": "test", "url": mtls.url("tls"), "socks_proxy": "", "token": "",
        "user": "", "password": "", "creds": "", "nkey": "",
        "cert": path(&certs.client_cert), "key": path(&certs.client_key), "ca": path(&certs.ca),
        "nsc": "", "jetstream_domain": "", "jetstream_api_prefix": "",
        "jetstream_event_prefix": "", "inbox_prefix": "", "user_jwt": "", "color_scheme": "",
        "tls_first": false
    });
    std::fs::write(contexts.join("prod.json"), context.to_string()).unwrap();
    let subject = "m2.{category}.{type}";
    let run = bed.run(
        &[
            "replay",
            "--sink-context",
            "prod",
            "--subject",
            subject,
            "--yes",
            "--quiet",
        ],
        &[],
    );
    assert_delivered(&bed, run, &mjs, "M2").await;
    let run = bed.run(
        &[
            "replay",
            "--sink-context",
            "nope",
            "--subject",
            subject,
            "--yes",
            "--quiet",
        ],
        &[],
    );
    assert_refused(run, &["no nats context nope"], &[]);

    // An interrupted job finds its certificates again (the job file names them) and completes.
    let id = bed.interrupted(&mtls.url("tls"), "m3", &client, &[]);
    assert_resumes(&bed, &id, &[], &[], &mjs, "M3").await;
    bed.assert_clean(&[key_line]);
}

#[tokio::test]
async fn a_token_from_a_file_the_environment_or_the_url() {
    if !tools_available() {
        return;
    }
    let bed = Bed::new(true).await;
    let token = secret("tok");
    let wrong = secret("wrong");
    let server = AuthServer::start(bed.files.path(), "token", &["--auth", &token]);
    let t = token.clone();
    let js = connect(
        || ConnectOptions::new().token(t.clone()),
        &server.url("nats"),
    )
    .await;
    for name in ["K1", "K2", "K3", "K4", "K5"] {
        create_stream(&js, name, &name.to_lowercase()).await;
    }
    let url = server.url("nats");
    let token_file = bed.file("token", &format!("{token}\n"));
    let wrong_file = bed.file("wrong-token", &wrong);

    let run = bed.replay(&url, "k1", &["--nats-token-file", path(&token_file)], &[]);
    assert_delivered(&bed, run, &js, "K1").await;
    let run = bed.replay(&url, "k2", &[], &[("EVSCOPE_NATS_TOKEN", &token)]);
    assert_delivered(&bed, run, &js, "K2").await;
    // A token in the URL authenticates too (async-nats alone would not use it).
    let in_url = format!("nats://{token}@127.0.0.1:{}", server.port);
    let run = bed.replay(&in_url, "k3", &[], &[]);
    assert_delivered(&bed, run, &js, "K3").await;
    // A sink profile of the config file.
    let config = bed.file(
        "config.toml",
        &format!(
            "[sinks.bus]\nurl = \"{url}\"\nsubject = \"k4.{{category}}.{{type}}\"\ntoken_file = \"{}\"\n",
            path(&token_file)
        ),
    );
    let run = bed.run(
        &[
            "--config",
            path(&config),
            "replay",
            "--sink-profile",
            "bus",
            "--yes",
            "--quiet",
        ],
        &[],
    );
    assert_delivered(&bed, run, &js, "K4").await;

    // A wrong token, or none: refused, naming where the token came from.
    let run = bed.replay(&url, "k1", &["--nats-token-file", path(&wrong_file)], &[]);
    assert_refused(
        run,
        &["refused the token in", "authorization violation"],
        &[&wrong, &token],
    );
    let run = bed.replay(&url, "k1", &[], &[("EVSCOPE_NATS_TOKEN", &wrong)]);
    assert_refused(
        run,
        &["refused the token in $EVSCOPE_NATS_TOKEN"],
        &[&wrong, &token],
    );
    let run = bed.replay(&url, "k1", &[], &[]);
    assert_refused(run, &["wants credentials", "--nats-token-file"], &[]);
    let wrong_url = format!("nats://{wrong}@127.0.0.1:{}", server.port);
    let run = bed.replay(&wrong_url, "k1", &[], &[]);
    assert_refused(run, &["refused the URL's token"], &[&wrong]);

    // An interrupted job reads its token from the same variable again; without it, it says so.
    let env = [("EVSCOPE_NATS_TOKEN", token.as_str())];
    let id = bed.interrupted(&url, "k5", &[], &env);
    let run = bed.run(&["replay", "resume", &id, "--quiet"], &[]);
    assert_refused(run, &["$EVSCOPE_NATS_TOKEN", "not set"], &[]);
    assert_resumes(&bed, &id, &[], &env, &js, "K5").await;
    bed.assert_clean(&[&token, &wrong]);
}

#[tokio::test]
async fn nkey_users() {
    if !tools_available() {
        return;
    }
    let bed = Bed::new(false).await;
    let keys = bed.files.path().join("keys");
    let user = NKey::generate(&keys, "user");
    let stranger = NKey::generate(&keys, "stranger");
    let server = AuthServer::with_config(
        bed.files.path(),
        "nkey",
        &format!(
            "listen: 127.0.0.1:{{port}}\njetstream {{ store_dir: \"{{store}}\" }}\nauthorization {{ users = [ {{ nkey: {} }} ] }}\n",
            user.public
        ),
    );
    let seed = user.seed.clone();
    let js = connect(
        || ConnectOptions::with_nkey(seed.clone()),
        &server.url("nats"),
    )
    .await;
    create_stream(&js, "N1", "n1").await;
    let url = server.url("nats");
    let seed_file = bed.file("user.nk", &format!("{}\n", user.seed));
    let stranger_file = bed.file("stranger.nk", &format!("{}\n", stranger.seed));
    let not_a_seed = bed.file("garbage.nk", "not a seed\n");
    let not_creds = bed.file("bad.creds", &format!("{}\n", stranger.seed));

    let run = bed.replay(&url, "n1", &["--nats-nkey", path(&seed_file)], &[]);
    assert_delivered(&bed, run, &js, "N1").await;
    let secrets = [user.seed.as_str(), stranger.seed.as_str()];
    let run = bed.replay(&url, "n1", &["--nats-nkey", path(&stranger_file)], &[]);
    assert_refused(run, &["refused the NKey seed in", "stranger.nk"], &secrets);
    let run = bed.replay(&url, "n1", &["--nats-nkey", path(&not_a_seed)], &[]);
    assert_refused(run, &["holds no NKey seed"], &secrets);
    let run = bed.replay(&url, "n1", &["--nats-creds", path(&not_creds)], &[]);
    assert_refused(run, &["does not hold a user JWT"], &secrets);
    let missing = bed.files.path().join("missing.nk");
    let run = bed.replay(&url, "n1", &["--nats-nkey", path(&missing)], &[]);
    assert_refused(run, &["cannot read the NKey seed file", "missing.nk"], &[]);
    bed.assert_clean(&secrets);
}

#[tokio::test]
async fn a_user_and_password_in_the_url_or_by_flag() {
    if !tools_available() {
        return;
    }
    let bed = Bed::new(true).await;
    // Characters a URL must escape: the password goes to the server decoded.
    let password = format!("{}@:/x", secret("pw"));
    let escaped = password
        .replace('@', "%40")
        .replace(':', "%3A")
        .replace('/', "%2F");
    let wrong = secret("wrong");
    let server = AuthServer::start(
        bed.files.path(),
        "userpass",
        &["--user", "alice", "--pass", &password],
    );
    let p = password.clone();
    let js = connect(
        || ConnectOptions::new().user_and_password("alice".into(), p.clone()),
        &server.url("nats"),
    )
    .await;
    for name in ["U1", "U2", "U3"] {
        create_stream(&js, name, &name.to_lowercase()).await;
    }
    let url = server.url("nats");
    let in_url = format!("nats://alice:{escaped}@127.0.0.1:{}", server.port);

    // The URL's user and password authenticate (async-nats alone would ignore them).
    let run = bed.replay(&in_url, "u1", &[], &[]);
    assert_delivered(&bed, run, &js, "U1").await;
    let run = bed.replay(
        &url,
        "u2",
        &["--nats-user", "alice"],
        &[("EVSCOPE_NATS_PASSWORD", &password)],
    );
    assert_delivered(&bed, run, &js, "U2").await;

    let secrets = [password.as_str(), escaped.as_str(), wrong.as_str()];
    let wrong_url = format!("nats://alice:{wrong}@127.0.0.1:{}", server.port);
    let run = bed.replay(&wrong_url, "u1", &[], &[]);
    assert_refused(
        run,
        &["refused user alice", "authorization violation"],
        &secrets,
    );
    let run = bed.replay(&url, "u1", &["--nats-user", "alice"], &[]);
    assert_refused(
        run,
        &["password of user alice", "$EVSCOPE_NATS_PASSWORD"],
        &secrets,
    );
    let run = bed.replay(
        &url,
        "u1",
        &["--nats-user", "alice"],
        &[("EVSCOPE_NATS_PASSWORD", &wrong)],
    );
    assert_refused(
        run,
        &["refused user alice (password in $EVSCOPE_NATS_PASSWORD)"],
        &secrets,
    );

    // A job whose URL had a password: the job file keeps it redacted, and a resume asks for
    // it (naming how to give it), then takes it from the variable or the URL given again.
    let id = bed.interrupted(&in_url, "u3", &[], &[]);
    let run = bed.run(&["replay", "resume", &id, "--quiet"], &[]);
    assert_refused(
        run,
        &["password", "--sink", "$EVSCOPE_NATS_PASSWORD"],
        &secrets,
    );
    let other = format!("nats://bob:{escaped}@127.0.0.1:{}", server.port);
    let run = bed.run(&["replay", "resume", &id, "--quiet", "--sink", &other], &[]);
    assert_refused(run, &["is not the job's sink"], &secrets);
    assert_resumes(
        &bed,
        &id,
        &[],
        &[("EVSCOPE_NATS_PASSWORD", &password)],
        &js,
        "U3",
    )
    .await;
    bed.assert_clean(&secrets);
}

#[tokio::test]
async fn a_creds_file_of_an_operator_mode_server() {
    if !tools_available() {
        return;
    }
    let bed = Bed::new(false).await;
    let op = Operator::make(&bed.files.path().join("jwt"));
    let server = AuthServer::with_config(bed.files.path(), "operator", &op.config);
    let creds = op.creds.clone();
    let js = connect(
        || ConnectOptions::with_credentials(&creds).unwrap(),
        &server.url("nats"),
    )
    .await;
    create_stream(&js, "C1", "c1").await;
    let url = server.url("nats");
    let creds_file = bed.file("replayer.creds", &op.creds);
    let run = bed.replay(&url, "c1", &["--nats-creds", path(&creds_file)], &[]);
    assert_delivered(&bed, run, &js, "C1").await;
    // A user of another operator, or none: refused, naming the file or what to give.
    let stranger = Operator::make(&bed.files.path().join("jwt2"));
    let stranger_file = bed.file("stranger.creds", &stranger.creds);
    let secrets = [op.user_seed.as_str(), stranger.user_seed.as_str()];
    let run = bed.replay(&url, "c1", &["--nats-creds", path(&stranger_file)], &[]);
    assert_refused(run, &["refused the creds file", "stranger.creds"], &secrets);
    let run = bed.replay(&url, "c1", &[], &[]);
    assert_refused(run, &["wants credentials", "--nats-creds"], &secrets);
    bed.assert_clean(&secrets);
}
