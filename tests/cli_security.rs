//! The real `sluice` CLI against SASL_PLAINTEXT and SASL_SSL listeners (issue 14): topic
//! create / list, produce and consume with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN, the password
//! from a file, stdin or SLUICE_SASL_PASSWORD, `--command-config` properties files; a wrong
//! password is one clear line and exit 1; `sluice user create` online, then that user signs in;
//! `serve --bootstrap-user` with its password from a file and from stdin, never overwriting.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{sluice_bin, Broker, Ports};

const CLI_TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `sluice ARGS` with `env` set, feeding `stdin`.
fn sluice(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    let mut child = Command::new(sluice_bin())
        .args(args)
        .env_remove("SLUICE_BROKERS")
        .env_remove("SLUICE_SASL_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sluice");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let deadline = Instant::now() + CLI_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sluice {args:?} did not finish within {CLI_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stderr: {}; stdout: {}", r.stderr, r.stdout);
    r
}

/// Exit `code` with exactly one line on stderr, containing `says`.
#[track_caller]
fn fails(r: &Run, code: i32, says: &str) {
    assert_eq!(r.code, code, "stderr: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {:?}", r.stderr);
    assert!(lines[0].starts_with("sluice: "), "{}", lines[0]);
    assert!(
        lines[0].contains(says),
        "{:?} should say {says:?}",
        lines[0]
    );
}

/// A CA and a broker certificate for 127.0.0.1, as PEM files in `dir`: (ca, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cli-security test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("broker.pem"),
        dir.join("broker.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

struct Setup {
    broker: Broker,
    dir: tempfile::TempDir,
    ca: PathBuf,
    /// admin's password file.
    admin_pw: PathBuf,
}

impl Setup {
    fn addr(&self, listener: &str) -> String {
        self.broker.listener(listener).bootstrap_addr().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self.path(name)
    }
}

/// A broker with PLAINTEXT, SASL_PLAINTEXT and SASL_SSL listeners; user admin / admin-secret
/// created by --bootstrap-user from a file.
fn setup(name: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let admin_pw = dir.path().join("admin.pw");
    std::fs::write(&admin_pw, "admin-secret\n").unwrap();
    let broker = Broker::start(
        name,
        &[
            "--cores",
            "2",
            "--listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
            "--ssl-certificate",
            cert.to_str().unwrap(),
            "--ssl-key",
            key.to_str().unwrap(),
            "--bootstrap-user",
            "admin",
            "--bootstrap-password-file",
            admin_pw.to_str().unwrap(),
        ],
    );
    Setup {
        broker,
        dir,
        ca,
        admin_pw,
    }
}

/// Create `topic`, see it listed, produce two lines and consume them back, each command with
/// `security` options (and `env`, `stdin_prefix` before the records for a password on stdin).
fn round_trip(addr: &str, topic: &str, security: &[&str], env: &[(&str, &str)], stdin_pw: &str) {
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(["--brokers", addr].iter())
            .chain(security.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: &[&str], input: &str| -> Run {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sluice(&args, env, format!("{stdin_pw}{input}").as_bytes())
    };
    ok(run(&["topic", "create", topic, "--partitions", "2"], ""));
    let listed = ok(run(&["topic", "list"], ""));
    assert!(listed.stdout.contains(topic), "{}", listed.stdout);
    ok(run(&["produce", topic], "one\ntwo\n"));
    let got = ok(run(&["consume", topic, "--from-beginning", "-n", "2"], ""));
    let mut lines: Vec<&str> = got.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["one", "two"], "stderr: {}", got.stderr);
}

#[test]
fn cli_over_sasl_plaintext_and_sasl_ssl() {
    let s = setup("cli-sasl");
    let pw = s.admin_pw.to_str().unwrap();
    let ca = s.ca.to_str().unwrap();
    let plain = s.addr("SASL_PLAINTEXT");
    let ssl = s.addr("SASL_SSL");
    // SCRAM-SHA-512, password file, protocol implied by the options.
    round_trip(
        &plain,
        "scram512",
        &[
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            "admin",
            "--sasl-password-file",
            pw,
        ],
        &[],
        "",
    );
    // PLAIN, password from SLUICE_SASL_PASSWORD, protocol spelled out.
    round_trip(
        &plain,
        "plain",
        &[
            "--security-protocol",
            "SASL_PLAINTEXT",
            "--sasl-mechanism",
            "PLAIN",
            "--sasl-username",
            "admin",
        ],
        &[("SLUICE_SASL_PASSWORD", "admin-secret")],
        "",
    );
    // SASL_SSL with SCRAM-SHA-512, password on stdin's first line (produce reads the records
    // after it).
    round_trip(
        &ssl,
        "ssl-scram",
        &[
            "--security-protocol",
            "SASL_SSL",
            "--ssl-ca",
            ca,
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            "admin",
            "--sasl-password-file",
            "-",
        ],
        &[],
        "admin-secret\n",
    );
    // SASL_SSL with PLAIN, everything from a Kafka client properties file (PEM truststore,
    // JAAS config over continuation lines).
    let config = s.write(
        "client.properties",
        &format!(
            "# as kafka-topics.sh --command-config reads it\n\
             security.protocol=SASL_SSL\n\
             sasl.mechanism=PLAIN\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca}\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \\\n  \
             required username=\"admin\" \\\n  password=\"admin-secret\";\n"
        ),
    );
    round_trip(&ssl, "ssl-plain", &["--command-config", &config], &[], "");
    // librdkafka's keys, SCRAM-SHA-256 over SASL_PLAINTEXT.
    let config = s.write(
        "rdkafka.properties",
        "security.protocol=sasl_plaintext\nsasl.mechanisms=SCRAM-SHA-256\n\
         sasl.username=admin\nsasl.password=admin-secret\n",
    );
    round_trip(&plain, "rdkafka", &["--command-config", &config], &[], "");
}

#[test]
fn wrong_password_and_inconsistent_options_are_one_clear_line() {
    let s = setup("cli-sasl-wrong");
    let plain = s.addr("SASL_PLAINTEXT");
    let bad = s.write("bad.pw", "not-the-password\n");
    let pw = s.admin_pw.to_str().unwrap().to_string();
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] {
        let r = sluice(
            &[
                "topic",
                "list",
                "--brokers",
                &plain,
                "--sasl-mechanism",
                mechanism,
                "--sasl-username",
                "admin",
                "--sasl-password-file",
                &bad,
            ],
            &[],
            b"",
        );
        fails(&r, 1, "SASL_AUTHENTICATION_FAILED");
        assert!(r.stderr.contains(mechanism), "{}", r.stderr);
        assert!(r.stderr.contains("\"admin\""), "{}", r.stderr);
        assert!(!r.stderr.contains("not-the-password"), "{}", r.stderr);
        let m = s.broker.metric_sum(
            "sluice_sasl_authentication_failures_total",
            &[("mechanism", mechanism)],
        );
        assert_eq!(m, 1.0, "{mechanism} failures counted");
    }
    // An unknown user fails the same way.
    let r = sluice(
        &[
            "topic",
            "list",
            "--brokers",
            &plain,
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            "nobody",
            "--sasl-password-file",
            &pw,
        ],
        &[],
        b"",
    );
    fails(&r, 1, "SASL_AUTHENTICATION_FAILED");
    // A mechanism the broker does not enable, a listener without SASL.
    let plaintext = s.addr("PLAINTEXT");
    let r = sluice(
        &[
            "topic",
            "list",
            "--brokers",
            &plaintext,
            "--sasl-mechanism",
            "PLAIN",
            "--sasl-username",
            "admin",
            "--sasl-password-file",
            &pw,
        ],
        &[],
        b"",
    );
    fails(&r, 1, "ILLEGAL_SASL_STATE");
    // Inconsistent options: usage errors (exit 2) before any connection.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--security-protocol", "SASL_PLAINTEXT"],
            "needs --sasl-mechanism",
        ),
        (
            vec!["--sasl-mechanism", "PLAIN", "--sasl-password-file", &pw],
            "--sasl-username",
        ),
        (
            vec!["--sasl-mechanism", "PLAIN", "--sasl-username", "admin"],
            "SLUICE_SASL_PASSWORD",
        ),
        (
            vec![
                "--security-protocol",
                "PLAINTEXT",
                "--sasl-mechanism",
                "PLAIN",
                "--sasl-username",
                "admin",
                "--sasl-password-file",
                &pw,
            ],
            "SASL options given but the security protocol is PLAINTEXT",
        ),
        (
            vec![
                "--security-protocol",
                "SASL_SSL",
                "--sasl-mechanism",
                "PLAIN",
            ],
            "--ssl-ca",
        ),
        (vec!["--sasl-mechanism", "GSSAPI"], "GSSAPI"),
        (
            vec!["--security-protocol", "SASL"],
            "--security-protocol SASL",
        ),
        (
            vec!["--command-config", "/nonexistent/client.properties"],
            "--command-config",
        ),
    ];
    for (extra, says) in cases {
        let mut args = vec!["topic", "list", "--brokers", &plain];
        args.extend(extra);
        fails(&sluice(&args, &[], b""), 2, says);
    }
    // A JAAS module that doesn't match the mechanism.
    let config = s.write(
        "mismatch.properties",
        "sasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.plain.\
         PlainLoginModule required username=\"admin\" password=\"x\";\n",
    );
    fails(
        &sluice(
            &[
                "topic",
                "list",
                "--brokers",
                &plain,
                "--command-config",
                &config,
            ],
            &[],
            b"",
        ),
        2,
        "PlainLoginModule",
    );
}

#[test]
fn users_created_online_authenticate_and_deleted_ones_dont() {
    let s = setup("cli-sasl-users");
    let plain = s.addr("SASL_PLAINTEXT");
    let admin = s.write(
        "admin.properties",
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"admin\" password=\"admin-secret\";\n",
    );
    let as_admin = |args: &[&str], stdin: &[u8]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--brokers", &plain, "--command-config", &admin]);
        sluice(&a, &[], stdin)
    };
    ok(as_admin(
        &["user", "create", "carol", "--iterations", "8192"],
        b"carol-secret\n",
    ));
    let listed = ok(as_admin(&["user", "list", "--format", "json"], b""));
    let carol = listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["user"] == "carol")
        .unwrap_or_else(|| panic!("carol listed: {}", listed.stdout));
    assert_eq!(carol["credentials"].as_array().unwrap().len(), 2);
    assert_eq!(carol["credentials"][0]["iterations"], 8192);
    let carol_pw = s.write("carol.pw", "carol-secret\n");
    let as_carol = |mechanism: &str| {
        sluice(
            &[
                "topic",
                "list",
                "--brokers",
                &plain,
                "--sasl-mechanism",
                mechanism,
                "--sasl-username",
                "carol",
                "--sasl-password-file",
                &carol_pw,
            ],
            &[],
            b"",
        )
    };
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        ok(as_carol(m));
    }
    // Both passwords on stdin can't work: refused before connecting.
    let r = sluice(
        &[
            "user",
            "create",
            "dave",
            "--brokers",
            &plain,
            "--sasl-mechanism",
            "PLAIN",
            "--sasl-username",
            "admin",
            "--sasl-password-file",
            "-",
        ],
        &[],
        b"admin-secret\ndave-secret\n",
    );
    fails(&r, 2, "both come from stdin");
    ok(as_admin(&["user", "delete", "carol"], b""));
    fails(&as_carol("SCRAM-SHA-512"), 1, "SASL_AUTHENTICATION_FAILED");
    fails(
        &as_admin(&["user", "delete", "carol"], b""),
        1,
        "RESOURCE_NOT_FOUND",
    );
    // The offline form keeps working on a stopped broker's data directory.
    let mut b = s.broker;
    b.stop();
    let data_dir = b.data_dir.to_str().unwrap().to_string();
    let r = ok(sluice(&["user", "list", "--data-dir", &data_dir], &[], b""));
    assert!(r.stdout.starts_with("admin\t"), "{}", r.stdout);
    fails(
        &sluice(
            &[
                "user",
                "list",
                "--data-dir",
                &data_dir,
                "--sasl-mechanism",
                "PLAIN",
            ],
            &[],
            b"",
        ),
        2,
        "--data-dir",
    );
}

/// `sluice serve` spawned here (the harness gives brokers no stdin): `args` after the data
/// directory, `stdin` fed; returns the child and its ports once written.
fn serve_with_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> (std::process::Child, Ports) {
    let ports_file = dir.join("ports.json");
    let _ = std::fs::remove_file(&ports_file);
    let mut child = Command::new(sluice_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--cores", "1", "--admin-listen", "127.0.0.1:0"])
        .arg("--ports-file")
        .arg(&ports_file)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(p) = std::fs::read_to_string(&ports_file)
            .ok()
            .and_then(|t| Ports::parse(&t))
        {
            return (child, p);
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "serve exited {status}: {}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "no ports file");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut child: std::process::Child) {
    // SAFETY: signalling a child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

#[test]
fn bootstrap_user_from_stdin_is_created_once_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let listeners = ["--listeners", "SASL_PLAINTEXT://127.0.0.1:0"];
    let args = |file: &str| -> Vec<String> {
        listeners
            .iter()
            .map(|s| s.to_string())
            .chain(
                [
                    "--bootstrap-user",
                    "root",
                    "--bootstrap-password-file",
                    file,
                ]
                .iter()
                .map(|s| s.to_string()),
            )
            .collect()
    };
    let signs_in = |ports: &Ports, password: &str| {
        let addr = format!("{}:{}", ports.host, ports.bootstrap);
        sluice(
            &[
                "topic",
                "list",
                "--brokers",
                &addr,
                "--sasl-mechanism",
                "SCRAM-SHA-256",
                "--sasl-username",
                "root",
            ],
            &[("SLUICE_SASL_PASSWORD", password)],
            b"",
        )
        .code
            == 0
    };
    let a = args("-");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (child, ports) = serve_with_stdin(dir.path(), &a, b"first-secret\n");
    assert!(signs_in(&ports, "first-secret"));
    assert!(!signs_in(&ports, "second-secret"));
    stop(child);
    // Started again with another password: the existing user is left as it is.
    let second = dir.path().join("second.pw");
    std::fs::write(&second, "second-secret\n").unwrap();
    let a = args(second.to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (child, ports) = serve_with_stdin(dir.path(), &a, b"");
    assert!(signs_in(&ports, "first-secret"));
    assert!(!signs_in(&ports, "second-secret"));
    stop(child);
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("exists already"), "{log}");
    assert!(!log.contains("second-secret"), "no password in the log");
    // Without a password file the flag is refused at start (clap: it requires it).
    let out = Command::new(sluice_bin())
        .args(["serve", "--bootstrap-user", "x"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bootstrap-password-file"));
}

#[test]
fn ipv6_hosts_are_bracketed_in_the_ports_file_and_reached_by_the_cli() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "six-secret\n").unwrap();
    let b = Broker::start(
        "cli-ipv6",
        &[
            "--cores",
            "2",
            "--listeners",
            "SASL_PLAINTEXT://[::1]:0",
            "--bootstrap-user",
            "six",
            "--bootstrap-password-file",
            pw.to_str().unwrap(),
        ],
    );
    let l = b.listener("SASL_PLAINTEXT");
    assert_eq!(l.host, "[::1]", "ready to be joined with :port");
    let addr = l.bootstrap_addr().to_string();
    assert!(addr.starts_with("[::1]:"), "{addr}");
    // Metadata names the shards by the bare address (as Kafka does); the client brackets it
    // before the port when it connects to a partition's leader.
    round_trip(
        &addr,
        "six",
        &[
            "--sasl-mechanism",
            "SCRAM-SHA-256",
            "--sasl-username",
            "six",
            "--sasl-password-file",
            pw.to_str().unwrap(),
        ],
        &[],
        "",
    );
}
