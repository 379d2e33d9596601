//! Request-level fuzzing through the real handlers: each input is read as a sequence of
//! requests (`tests/harness/request_gen/`: valid requests of every served API and version,
//! bent and sometimes byte-mutated), sent over loopback to a broker running in this process,
//! and checked (`tests/harness/request_check.rs`): every request is answered in order or its
//! connection closed, well-formed requests are never closed on, replies decode, and after the
//! sequence every port answers ApiVersions and Metadata. A violation aborts, so libFuzzer keeps
//! the input; so does a panic anywhere in the process, a shard's included (libfuzzer-sys's
//! panic hook aborts).
//!
//! The broker is started once per process, from the library, on a thread: two shards, ports
//! picked by the OS, a fresh data directory under `SLUICE_FUZZ_DIR` (default
//! `fuzz/target/request-data/<pid>`; never tmpfs, which the broker refuses). Its state carries
//! over from input to input, as a real broker's does: a crash found late may need the inputs
//! before it to reproduce (libFuzzer's `-runs` over the corpus, or the CI replay, recreate it).
#![no_main]

#[path = "../../tests/harness/request_check.rs"]
mod request_check;
#[path = "../../tests/harness/request_gen/mod.rs"]
mod request_gen;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use request_check::Target;

/// How long the in-process broker may take to write its ports file.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(start_broker)
}

fn start_broker() -> Target {
    let root = std::env::var_os("SLUICE_FUZZ_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("request-data")
        });
    let dir = root.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the fuzz data dir");
    let data = dir.join("data");
    let ports = dir.join("ports.json");
    let args = [
        "sluice".into(),
        "serve".into(),
        "--data-dir".into(),
        data.into_os_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--admin-listen".into(),
        "127.0.0.1:0".into(),
        "--ports-file".into(),
        ports.clone().into_os_string(),
        "--cores".into(),
        "2".into(),
        "--memory".into(),
        (1u64 << 30).to_string().into(),
        "--default-partitions".into(),
        "2".into(),
        // Group waits the generator can't bound itself: a new group's first rebalance delay,
        // and session timeouts (so generated ones of 1–40 ms are accepted).
        "--group-initial-rebalance-delay-ms".into(),
        "0".into(),
        "--group-min-session-timeout-ms".into(),
        "1".into(),
        "--group-max-session-timeout-ms".into(),
        "1000".into(),
    ];
    let cli = sluice::cli::Cli::try_parse_from::<_, std::ffi::OsString>(args)
        .unwrap_or_else(|e| panic!("serve arguments: {e}"));
    let sluice::cli::Command::Serve(serve) = cli.command else {
        unreachable!("serve arguments parse as serve");
    };
    std::thread::Builder::new()
        .name("sluice-serve".into())
        .spawn(move || {
            if let Err(e) = sluice::server::serve(*serve) {
                eprintln!("in-process broker failed: {e:#}");
                std::process::abort();
            }
        })
        .expect("spawn the broker thread");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(t) = std::fs::read_to_string(&ports)
            .ok()
            .and_then(|text| parse_ports(&text))
        {
            return t;
        }
        assert!(Instant::now() < deadline, "broker did not start in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `{"host":…,"bootstrap":P,"shards":[P,…],"admin":P}` → the bootstrap and shard addresses.
fn parse_ports(text: &str) -> Option<Target> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let host = v.get("host")?.as_str()?;
    let port = |p: &serde_json::Value| Some(format!("{host}:{}", p.as_u64()?).parse().ok()?);
    let mut addrs = vec![port(v.get("bootstrap")?)?];
    for p in v.get("shards")?.as_array()? {
        addrs.push(port(p)?);
    }
    Some(Target { addrs })
}

/// Generator counts over the run, printed every so often (they show what the inputs reach).
static STATS: Mutex<Option<(request_gen::Stats, Instant)>> = Mutex::new(None);
const STATS_INTERVAL: Duration = Duration::from_secs(60);

fuzz_target!(
    // Start the broker before the first input, so its start-up is not timed as one.
    init: {
        target();
    },
    |data: &[u8]| {
    let target = target();
    let mut guard = STATS.lock().unwrap_or_else(|p| p.into_inner());
    let (stats, printed) = guard.get_or_insert_with(|| (Default::default(), Instant::now()));
    if let Err(finding) = request_check::run_sequence(target, data, stats) {
        eprintln!("FINDING: {finding}");
        std::process::abort();
    }
    if let Err(finding) = request_check::health(target) {
        eprintln!("FINDING: {finding}");
        std::process::abort();
    }
    if printed.elapsed() >= STATS_INTERVAL {
        *printed = Instant::now();
        eprintln!(
            "request stats: {} requests, {} (api, version) pairs, {} byte-mutated, {} out-of-range versions, {} encode failures",
            stats.requests,
            stats.served.len(),
            stats.byte_mutated,
            stats.out_of_range_versions,
            stats.encode_failures
        );
    }
    }
);
