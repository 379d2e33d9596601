//! Integration-test harness: runs the real `sluice serve` binary (the release build, or
//! `SLUICE_BIN`) on a per-test data directory with OS-picked ports.
//!
//! Readiness is the ports file the broker writes once every listener is up — never a sleep.
//! stderr goes to a file; a "panicked" in it fails the test. Dropping a [`Broker`] sends SIGTERM,
//! then SIGKILL after a timeout. The directory of a failed (panicking) test is kept and its path
//! printed. Every wait is bounded.
//!
//! Used by `tests/*.rs` as `mod harness;`; each test crate uses a different subset.
#![allow(
    dead_code,
    reason = "each test crate including the harness uses a different part of it"
)]

pub mod kafka;
pub mod loop_fs;

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the broker may take to write its ports file: start-up checks, one executor per
/// shard, binding listeners. A broker slower than this is broken, not slow.
pub const PORTS_FILE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd broker may take to answer in-flight requests and close its files.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Socket read/write timeout for test clients, so a broker that hangs fails the test.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Polling step while waiting for a file or a process exit (bounded by the timeouts above).
const POLL_STEP: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub enum HarnessError {
    BinaryMissing(PathBuf),
    Spawn(PathBuf, std::io::Error),
    ExitedEarly(ExitStatus, String),
    PortsTimeout(PathBuf, String, String),
    Io(std::io::Error),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::BinaryMissing(p) => write!(
                f,
                "sluice binary not found at {}: build it with `cargo build --release` or point SLUICE_BIN at it",
                p.display()
            ),
            HarnessError::Spawn(p, e) => write!(f, "could not run {}: {e}", p.display()),
            HarnessError::ExitedEarly(status, stderr) => {
                write!(f, "sluice exited ({status}) before writing its ports file; stderr:\n{stderr}")
            }
            HarnessError::PortsTimeout(p, why, stderr) => write!(
                f,
                "sluice did not write {} within {PORTS_FILE_TIMEOUT:?} ({why}); stderr:\n{stderr}",
                p.display()
            ),
            HarnessError::Io(e) => write!(f, "harness I/O: {e}"),
        }
    }
}

impl From<std::io::Error> for HarnessError {
    fn from(e: std::io::Error) -> Self {
        HarnessError::Io(e)
    }
}

/// The bound ports, as the broker wrote them to `--ports-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub host: String,
    pub bootstrap: u16,
    pub shards: Vec<u16>,
    pub admin: u16,
    /// Every listener's ports (the top-level ones are the first listener's); empty from a
    /// broker that predates listeners.
    pub listeners: Vec<ListenerPorts>,
}

/// One listener's entry in the ports file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerPorts {
    pub name: String,
    pub protocol: String,
    pub host: String,
    pub bootstrap: u16,
    pub shards: Vec<u16>,
}

impl ListenerPorts {
    pub fn bootstrap_addr(&self) -> SocketAddr {
        format!("{}:{}", self.host, self.bootstrap)
            .parse()
            .expect("listener bootstrap address")
    }

    pub fn shard_addr(&self, shard: usize) -> SocketAddr {
        format!("{}:{}", self.host, self.shards[shard])
            .parse()
            .expect("listener shard address")
    }
}

impl Ports {
    /// Parses `{"host":"127.0.0.1","bootstrap":P,"shards":[P0,...],"admin":P}`; `None` if the file
    /// is incomplete or malformed (it may be caught mid-write).
    pub fn parse(text: &str) -> Option<Ports> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let port = |v: &serde_json::Value| -> Option<u16> {
            let p = u16::try_from(v.as_u64()?).ok()?;
            (p != 0).then_some(p)
        };
        let shard_ports = |v: &serde_json::Value| -> Option<Vec<u16>> {
            let shards = v
                .get("shards")?
                .as_array()?
                .iter()
                .map(port)
                .collect::<Option<Vec<u16>>>()?;
            (!shards.is_empty()).then_some(shards)
        };
        let listeners = match v.get("listeners") {
            None => Vec::new(),
            Some(l) => l
                .as_array()?
                .iter()
                .map(|l| {
                    Some(ListenerPorts {
                        name: l.get("name")?.as_str()?.to_string(),
                        protocol: l.get("protocol")?.as_str()?.to_string(),
                        host: l.get("host")?.as_str()?.to_string(),
                        bootstrap: port(l.get("bootstrap")?)?,
                        shards: shard_ports(l)?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(Ports {
            host: v.get("host")?.as_str()?.to_string(),
            bootstrap: port(v.get("bootstrap")?)?,
            shards: shard_ports(&v)?,
            admin: port(v.get("admin")?)?,
            listeners,
        })
    }
}

/// Where per-test directories go: `SLUICE_TEST_TMPDIR`, else `<workspace>/target/test-data`
/// (not /tmp: the broker refuses tmpfs for durability).
pub fn tmp_root() -> PathBuf {
    let root = std::env::var_os("SLUICE_TEST_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("test-data")
        });
    fs::create_dir_all(&root).expect("create test tmp root");
    root
}

/// `SLUICE_BIN`, else the release binary of this workspace.
pub fn sluice_bin() -> PathBuf {
    std::env::var_os("SLUICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
            target.join("release").join("sluice")
        })
}

/// One `sluice serve` process (and its restarts) over one data directory.
pub struct Broker {
    pub workdir: PathBuf,
    pub data_dir: PathBuf,
    pub ports_file: PathBuf,
    pub binary: PathBuf,
    pub extra_args: Vec<String>,
    child: Option<Child>,
    ports: Option<Ports>,
    starts: u32,
    stderr_files: Vec<PathBuf>,
    /// Set when a stop had to fall back to SIGKILL.
    pub sigterm_timed_out: bool,
    /// Where the broker's stderr goes instead of a log file in the workdir (e.g. /dev/full).
    pub stderr_to: Option<PathBuf>,
    /// The test provokes panics on purpose (and checks them itself): a "panicked" in stderr
    /// does not fail it.
    pub expect_panics: bool,
    /// Environment variables set for the next starts (test-only switches of the binary).
    pub envs: Vec<(String, String)>,
}

impl Broker {
    /// Starts the real binary with `extra_args`; panics with the harness' message on failure.
    #[track_caller]
    pub fn start(name: &str, extra_args: &[&str]) -> Broker {
        Broker::try_start(name, sluice_bin(), extra_args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start(
        name: &str,
        binary: PathBuf,
        extra_args: &[&str],
    ) -> Result<Broker, HarnessError> {
        let workdir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir_in(tmp_root())?
            .keep();
        let mut b = Broker {
            data_dir: workdir.join("data"),
            ports_file: workdir.join("ports.json"),
            workdir,
            binary,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
            ports: None,
            starts: 0,
            stderr_files: Vec::new(),
            sigterm_timed_out: false,
            stderr_to: None,
            expect_panics: false,
            envs: Vec::new(),
        };
        match b.spawn() {
            Ok(()) => Ok(b),
            Err(e) => {
                // Nothing worth keeping from a broker that never came up; the error says why.
                b.kill9();
                let _ = fs::remove_dir_all(&b.workdir);
                b.workdir = PathBuf::new();
                Err(e)
            }
        }
    }

    fn spawn(&mut self) -> Result<(), HarnessError> {
        assert!(self.child.is_none(), "broker already running");
        if !self.binary.is_file() {
            return Err(HarnessError::BinaryMissing(self.binary.clone()));
        }
        // A stale ports file from the previous run would make us talk to a dead process.
        match fs::remove_file(&self.ports_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        self.ports = None;
        self.starts += 1;
        let stderr = match &self.stderr_to {
            Some(path) => fs::OpenOptions::new().write(true).open(path)?,
            None => {
                let stderr_path = self.workdir.join(format!("stderr.{}.log", self.starts));
                let f = fs::File::create(&stderr_path)?;
                self.stderr_files.push(stderr_path);
                f
            }
        };
        let child = Command::new(&self.binary)
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--ports-file",
            ])
            .arg(&self.ports_file)
            .args(&self.extra_args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .stdout(stderr.try_clone()?)
            .stderr(stderr)
            .spawn()
            .map_err(|e| HarnessError::Spawn(self.binary.clone(), e))?;
        self.child = Some(child);
        self.wait_for_ports()
    }

    fn wait_for_ports(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + PORTS_FILE_TIMEOUT;
        let mut why = "ports file not written".to_string();
        while Instant::now() < deadline {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Err(HarnessError::ExitedEarly(status, self.stderr_tail(40)));
            }
            match fs::read_to_string(&self.ports_file) {
                Ok(text) => match Ports::parse(&text) {
                    Some(p) => {
                        self.ports = Some(p);
                        return Ok(());
                    }
                    None => why = format!("unreadable ports file {text:?}"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            std::thread::sleep(POLL_STEP);
        }
        self.kill9();
        Err(HarnessError::PortsTimeout(
            self.ports_file.clone(),
            why,
            self.stderr_tail(40),
        ))
    }

    /// SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL. Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(POLL_STEP);
        }
        self.sigterm_timed_out = true;
        let _ = child.kill();
        child.wait().ok()
    }

    /// The broker's open file descriptors now (from /proc).
    pub fn open_fds(&self) -> usize {
        let pid = self.child.as_ref().expect("broker running").id();
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
            .count()
    }

    /// Crash: SIGKILL, no chance to flush or close anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop cleanly and start again on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|e| panic!("restart: {e}"));
    }

    /// kill -9 and start again on the same data directory.
    pub fn crash_restart(&mut self) {
        self.kill9();
        self.spawn()
            .unwrap_or_else(|e| panic!("restart after kill -9: {e}"));
    }

    /// Waits up to `timeout` for the broker to exit on its own; its exit status, or None if it
    /// is still running (or was not).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.child.as_mut()?.try_wait().ok().flatten();
            if let Some(status) = status {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL_STEP);
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn ports(&self) -> &Ports {
        self.ports.as_ref().expect("broker not started")
    }

    pub fn bootstrap_addr(&self) -> SocketAddr {
        let p = self.ports();
        format!("{}:{}", p.host, p.bootstrap)
            .parse()
            .expect("bootstrap address")
    }

    /// The ports of listener `name` (panics if the broker has no such listener).
    pub fn listener(&self, name: &str) -> &ListenerPorts {
        self.ports()
            .listeners
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no listener {name} in {:?}", self.ports()))
    }

    pub fn shard_addr(&self, shard: usize) -> SocketAddr {
        let p = self.ports();
        format!("{}:{}", p.host, p.shards[shard])
            .parse()
            .expect("shard address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        let p = self.ports();
        format!("{}:{}", p.host, p.admin)
            .parse()
            .expect("admin address")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr_files
            .iter()
            .filter_map(|p| fs::read_to_string(p).ok())
            .collect::<Vec<_>>()
            .join("")
    }

    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = self.stderr_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn panics(&self) -> Vec<String> {
        self.stderr_text()
            .lines()
            .filter(|l| l.contains("panicked"))
            .map(str::to_string)
            .collect()
    }

    /// `GET path` on the admin listener (plain HTTP/1.0, so the body ends at EOF): the status
    /// code, the response head and the body.
    pub fn admin_get(&self, path: &str) -> (u16, String, String) {
        let mut s =
            TcpStream::connect_timeout(&self.admin_addr(), IO_TIMEOUT).expect("connect admin");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send GET");
        let mut resp = String::new();
        s.read_to_string(&mut resp)
            .unwrap_or_else(|e| panic!("read {path}: {e}"));
        let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{path}: bad status line {head:?}"));
        (status, head.to_string(), body.to_string())
    }

    /// `GET /metrics` on the admin listener.
    pub fn metrics_text(&self) -> String {
        let (status, head, body) = self.admin_get("/metrics");
        assert_eq!(status, 200, "/metrics answered {head}");
        body
    }

    /// Sum of every sample of metric `name` whose labels include all of `labels`.
    pub fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_sum(&self.metrics_text(), name, labels)
    }
}

/// Sum of every sample of `name` in Prometheus text whose labels include all of `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, rest) = match line.find('{') {
            Some(i) => {
                let close = line
                    .rfind('}')
                    .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
                (&line[..i], (&line[i + 1..close], line[close + 1..].trim()))
            }
            None => {
                let (n, v) = line
                    .split_once(char::is_whitespace)
                    .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
                (n, ("", v.trim()))
            }
        };
        if series != name {
            continue;
        }
        let (label_text, value_text) = rest;
        let have: Vec<(&str, &str)> = label_text
            .split(',')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label {kv:?}"));
                (k.trim(), v.trim().trim_matches('"'))
            })
            .collect();
        if labels.iter().all(|l| have.contains(l)) {
            let value = value_text.split_whitespace().next().unwrap_or("");
            sum += value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad metric value in {line:?}"));
        }
    }
    sum
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.workdir.as_os_str().is_empty() {
            return;
        }
        self.stop();
        let panics = if self.expect_panics {
            Vec::new()
        } else {
            self.panics()
        };
        let failed = std::thread::panicking() || !panics.is_empty();
        if failed {
            eprintln!("kept data of failed test: {}", self.workdir.display());
        } else {
            let _ = fs::remove_dir_all(&self.workdir);
        }
        if !panics.is_empty() && !std::thread::panicking() {
            panic!("broker panicked:\n{}", self.stderr_tail(40));
        }
    }
}
