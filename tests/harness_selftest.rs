//! Tests of the Rust harness itself, against tests/clients/fake_sluice.py (a stand-in that binds
//! the listeners and writes the ports file but speaks no Kafka). They run without the broker.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::net::TcpStream;
use std::path::{Path, PathBuf};

use harness::{Broker, HarnessError, Ports};

fn fake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/fake_sluice.py")
}

#[test]
fn missing_binary_is_a_clear_error() {
    let missing = PathBuf::from("/nonexistent/sluice");
    let err = Broker::try_start("missing-binary", missing, &[])
        .err()
        .expect("must fail");
    assert!(matches!(err, HarnessError::BinaryMissing(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("sluice binary not found at /nonexistent/sluice"),
        "{msg}"
    );
    assert!(
        msg.contains("cargo build --release") && msg.contains("SLUICE_BIN"),
        "{msg}"
    );
}

#[test]
fn ports_file_parsing() {
    let p =
        Ports::parse(r#"{"host":"127.0.0.1","bootstrap":9092,"shards":[9093,9094],"admin":9644}"#);
    assert_eq!(
        p,
        Some(Ports {
            host: "127.0.0.1".into(),
            bootstrap: 9092,
            shards: vec![9093, 9094],
            admin: 9644,
            listeners: Vec::new(),
        })
    );
    for bad in [
        "",
        r#"{"host":"127.0.0.1","bootstrap":9092,"shards":[9093"#,
        r#"{"host":"127.0.0.1","bootstrap":0,"shards":[9093],"admin":1}"#,
        r#"{"host":"127.0.0.1","bootstrap":9092,"shards":[],"admin":1}"#,
        r#"{"host":"127.0.0.1","bootstrap":70000,"shards":[1],"admin":1}"#,
        r#"{"bootstrap":9092,"shards":[1],"admin":1}"#,
    ] {
        assert_eq!(Ports::parse(bad), None, "{bad}");
    }
}

#[test]
fn start_stop_restart_kill_against_fake_broker() {
    let mut b = Broker::try_start("fake-broker", fake(), &["--cores", "3"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.ports().shards.len(), 3);
    for addr in [b.bootstrap_addr(), b.shard_addr(0), b.shard_addr(2)] {
        TcpStream::connect(addr).expect("listener is up once the ports file exists");
    }
    assert_eq!(
        b.metric_sum("sluice_requests_total", &[("api", "Produce")]),
        3.0
    );
    assert_eq!(
        b.metric_sum(
            "sluice_requests_total",
            &[("shard", "0"), ("api", "Produce")]
        ),
        1.0
    );
    assert_eq!(b.metric_sum("sluice_forwarded_requests_total", &[]), 0.0);

    b.restart();
    assert_eq!(
        std::fs::read_to_string(b.data_dir.join("starts")).unwrap(),
        "2"
    );
    // The new process answers: its shard-0 counter is its start count.
    assert_eq!(
        b.metric_sum("sluice_requests_total", &[("shard", "0")]),
        2.0
    );
    b.crash_restart();
    assert_eq!(
        std::fs::read_to_string(b.data_dir.join("starts")).unwrap(),
        "3"
    );
    let status = b.stop().expect("was running");
    assert!(status.success(), "fake exits 0 on SIGTERM: {status}");
    assert!(!b.sigterm_timed_out);
}

#[test]
fn early_exit_reports_stderr() {
    let err = Broker::try_start("fake-exit", fake(), &["--fake-mode", "exit"])
        .err()
        .expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("exited") && msg.contains("something is wrong"),
        "{msg}"
    );
}

#[test]
fn sigterm_ignored_falls_back_to_sigkill() {
    let mut b = Broker::try_start("fake-ignore-term", fake(), &["--fake-mode", "ignore-term"])
        .unwrap_or_else(|e| panic!("{e}"));
    // STOP_TIMEOUT is 15 s: this test pays it once.
    let status = b.stop().expect("was running");
    assert!(!status.success());
    assert!(b.sigterm_timed_out);
}

#[test]
fn panic_in_stderr_fails_the_test_and_keeps_the_data() {
    let b = Broker::try_start("fake-panic", fake(), &["--fake-mode", "panic"])
        .unwrap_or_else(|e| panic!("{e}"));
    let workdir = b.workdir.clone();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(b)));
    let msg = dropped
        .err()
        .and_then(|e| e.downcast::<String>().ok())
        .expect("drop must panic");
    assert!(
        msg.contains("broker panicked") && msg.contains("boom"),
        "{msg}"
    );
    assert!(
        workdir.join("data").is_dir(),
        "data of a failed test is kept"
    );
    std::fs::remove_dir_all(&workdir).unwrap();
}
