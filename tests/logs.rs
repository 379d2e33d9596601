//! The broker's log lines, from the real binary's stderr at the default level (info): one line
//! per notable event (start-up summary, topic created / deleted), and client errors rate
//! limited per shard (`CLIENT_ERROR_LOG_LINES_MAX` per `CLIENT_ERROR_LOG_INTERVAL_MS`, then one
//! "suppressed" line). Recovery truncations are checked in tests/storage.rs.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::kafka::Conn;
use harness::{sluice_bin, Broker, IO_TIMEOUT};

/// `sluice::limits::CLIENT_ERROR_LOG_LINES_MAX` (the binary's constant; a test crate can't
/// import it from the binary it runs).
const LINES_MAX: usize = 10;
/// Bad requests sent: well past the limit.
const BAD_REQUESTS: usize = 35;
/// The interval (10 s) plus the snapshot tick that writes the summary, on a loaded machine.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(40);

/// A Metadata v1 request that claims 5 topics and carries none: the bounded decoder refuses
/// it and the broker closes the connection.
fn undecodable_request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes()); // api key: Metadata
    body.extend_from_slice(&1i16.to_be_bytes()); // version
    body.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // client id: null
    body.extend_from_slice(&5i32.to_be_bytes()); // topics: 5, then nothing
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

fn lines_with(b: &Broker, needle: &str) -> Vec<String> {
    b.stderr_text()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[test]
fn client_errors_are_rate_limited_per_shard_with_one_summary_line() {
    let mut b = Broker::start("logs-client-errors", &["--cores", "1"]);
    let frame = undecodable_request();
    for _ in 0..BAD_REQUESTS {
        let mut c = Conn::connect(b.bootstrap_addr());
        c.stream.write_all(&frame).expect("send");
        assert!(
            c.is_closed_by_peer(),
            "an undecodable request closes its connection"
        );
    }
    assert!(b.is_running());
    let deadline = Instant::now() + SUMMARY_TIMEOUT;
    let summary = loop {
        let found = lines_with(&b, "suppressed");
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no summary line within {SUMMARY_TIMEOUT:?}:\n{}",
            b.stderr_tail(30)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let logged = lines_with(&b, "client error:");
    assert_eq!(logged.len(), LINES_MAX, "{logged:#?}");
    assert!(logged
        .iter()
        .all(|l| l.contains("INFO") && l.contains("undecodable request")));
    assert_eq!(summary.len(), 1, "{summary:#?}");
    let held_back = BAD_REQUESTS - LINES_MAX;
    assert!(
        summary[0].contains(&format!("suppressed {held_back} similar client errors")),
        "{}",
        summary[0]
    );
    // The count is in /metrics too.
    assert_eq!(
        b.metric_sum("sluice_client_error_logs_suppressed_total", &[]),
        held_back as f64
    );
    assert_eq!(
        b.metric_sum("sluice_requests_refused_total", &[]),
        BAD_REQUESTS as f64
    );
    // A fresh interval logs again.
    let mut c = Conn::connect(b.bootstrap_addr());
    c.stream.write_all(&frame).expect("send");
    assert!(c.is_closed_by_peer());
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines_with(&b, "client error:").len() == LINES_MAX {
        assert!(Instant::now() < deadline, "the next interval logs again");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn start_up_and_topic_changes_are_logged_at_info() {
    let b = Broker::start("logs-events", &["--cores", "2"]);
    let up = lines_with(&b, "sluice is up");
    assert_eq!(up.len(), 1, "{}", b.stderr_tail(20));
    assert!(up[0].contains("INFO"), "{}", up[0]);
    let ports = b.ports();
    assert!(up[0].contains("shards=2"), "{}", up[0]);
    assert!(
        up[0].contains(&format!("admin={}", ports.admin)),
        "the summary names the ports: {}",
        up[0]
    );
    assert!(
        !b.stderr_text().contains('\x1b'),
        "no colour codes in a log file"
    );
    for args in [
        &["topic", "create", "logged", "-p", "3"][..],
        &["topic", "delete", "logged"][..],
    ] {
        let out = Command::new(sluice_bin())
            .args(args)
            .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
            .output()
            .expect("run sluice");
        assert!(out.status.success(), "{out:?}");
    }
    let created = lines_with(&b, "topic created");
    assert!(
        created.len() == 1 && created[0].contains("INFO") && created[0].contains("logged"),
        "{created:?}"
    );
    let deleted = lines_with(&b, "topic deleted");
    assert!(
        deleted.len() == 1 && deleted[0].contains("INFO") && deleted[0].contains("logged"),
        "{deleted:?}"
    );
    // Nothing was logged as a client error by ordinary clients.
    let _ = TcpStream::connect_timeout(&b.bootstrap_addr(), IO_TIMEOUT);
    assert!(lines_with(&b, "client error:").is_empty());
}

/// Logs that can't be written (stderr on a full disk, here /dev/full) are dropped: the broker
/// keeps serving instead of a shard thread panicking on a failed log write.
#[test]
fn a_log_that_cannot_be_written_never_stops_the_broker() {
    use kafka_protocol::messages::MetadataRequest;

    let mut b = Broker::start("logfull", &["--cores", "1"]);
    b.stderr_to = Some("/dev/full".into());
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    // Each of these logs at info: a topic created, then client errors.
    harness::kafka::create_topic(&mut c, "logged", 1);
    for _ in 0..3 {
        let mut s = TcpStream::connect(b.shard_addr(0)).expect("connect");
        s.write_all(&undecodable_request()).expect("send");
    }
    let mut c = Conn::connect(b.shard_addr(0));
    let m = c.call(&MetadataRequest::default().with_topics(None), 1);
    assert!(
        m.topics
            .iter()
            .any(|t| t.name.as_ref().map(|n| n.as_str()) == Some("logged")),
        "the broker still answers after its log writes failed"
    );
    assert!(
        b.is_running(),
        "the broker must not exit on failed log writes"
    );
}
