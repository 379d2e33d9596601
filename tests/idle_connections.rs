//! `--connections-max-idle-ms` against the real binary: idle connections are closed and
//! counted, busy ones never are (a long poll longer than the idle time included), and a client
//! that never reads its Fetch response loses its connection and gives back the shard's fetch
//! buffers. Every wait is bounded.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use harness::kafka::{create_topic, decode_records, fetch, produce, Conn};
use harness::{Broker, HarnessError};
use kafka_protocol::messages::ApiVersionsRequest;

const IDLE_METRIC: &str = "sluice_connections_closed_idle_total";

/// Polls `metric` (summed over samples with `labels`) until `done` holds; panics after 10 s.
fn wait_metric(b: &Broker, metric: &str, labels: &[(&str, &str)], done: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = b.metric_sum(metric, labels);
    while !done(last) {
        assert!(
            Instant::now() < deadline,
            "{metric}{labels:?} stuck at {last}"
        );
        std::thread::sleep(Duration::from_millis(25));
        last = b.metric_sum(metric, labels);
    }
}

fn api_versions_ok(c: &mut Conn) {
    let r = c.call(&ApiVersionsRequest::default(), 0);
    assert_eq!(r.error_code, 0);
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_time_and_counted() {
    let b = Broker::start(
        "idle-close",
        &["--cores", "1", "--connections-max-idle-ms", "300"],
    );
    // One that was used, then went quiet.
    let mut used = Conn::connect(b.shard_addr(0));
    api_versions_ok(&mut used);
    let quiet_since = Instant::now();
    assert!(used.is_closed_by_peer(), "closed (EOF) within 10 s");
    let after = quiet_since.elapsed();
    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}, before the idle time"
    );
    // One that never sent a byte.
    let mut silent = Conn::connect(b.shard_addr(0));
    assert!(silent.is_closed_by_peer());

    wait_metric(&b, IDLE_METRIC, &[("reason", "idle")], |n| n == 2.0);
    assert_eq!(
        b.metric_sum(IDLE_METRIC, &[("reason", "write_stalled")]),
        0.0
    );
    wait_metric(&b, "sluice_connections_open", &[], |n| n == 0.0);
    // The broker still serves new connections.
    api_versions_ok(&mut Conn::connect(b.shard_addr(0)));
    assert!(b.panics().is_empty());
}

#[test]
fn a_connection_that_keeps_sending_stays_open() {
    let b = Broker::start(
        "idle-active",
        &["--cores", "1", "--connections-max-idle-ms", "300"],
    );
    // Fifteen requests 100 ms apart: at least five idle times in all, never one between two
    // requests. Counted, not timed, so a slow machine sends as many (an earlier version asked
    // for ten answers within 1.5 s, which a slow round trip could miss).
    let mut c = Conn::connect(b.shard_addr(0));
    for _ in 0..15 {
        api_versions_ok(&mut c);
        std::thread::sleep(Duration::from_millis(100));
    }
    api_versions_ok(&mut c);
    assert_eq!(b.metric_sum(IDLE_METRIC, &[]), 0.0, "nothing was closed");
    assert!(b.panics().is_empty());
}

#[test]
fn a_long_poll_longer_than_the_idle_time_is_answered_not_cut() {
    let b = Broker::start(
        "idle-longpoll",
        &["--cores", "1", "--connections-max-idle-ms", "300"],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "empty", 1);
    for _ in 0..2 {
        let asked = Instant::now();
        let r = c.call(&fetch("empty", &[(0, 0)], 1 << 20, 1_000), 11);
        let waited = asked.elapsed();
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "{p:?}");
        assert!(decode_records(p.records.clone()).is_empty());
        assert!(
            waited >= Duration::from_millis(900),
            "the fetch waited its max_wait_ms, past the idle time: {waited:?}"
        );
    }
    // Still open after the long polls.
    api_versions_ok(&mut c);
    assert_eq!(b.metric_sum(IDLE_METRIC, &[]), 0.0, "nothing was closed");
    assert!(b.panics().is_empty());
}

#[test]
fn a_client_that_never_reads_its_fetch_is_closed_and_its_fetch_buffer_freed() {
    // A budget of one byte: one partition read at a time may hold the shard's fetch buffers.
    // The idle time is long enough for the once-a-second gauge to show the bytes held.
    let idle = Duration::from_millis(3_000);
    let b = Broker::start(
        "idle-stalled",
        &[
            "--cores",
            "1",
            "--connections-max-idle-ms",
            "3000",
            "--fetch-buffer-bytes",
            "1",
        ],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "big", 1);
    create_topic(&mut c, "small", 1);
    let value = vec![b'x'; 900_000];
    for _ in 0..24 {
        produce(&mut c, "big", 0, &[&value]);
    }
    produce(&mut c, "small", 0, &[b"s0", b"s1", b"s2"]);
    drop(c);

    // A client with a tiny receive buffer asks for ~21 MB and never reads.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect_timeout(&b.shard_addr(0).into(), Duration::from_secs(10))
        .expect("connect");
    let mut stalled = Conn::from_stream(sock.into());
    stalled.send(&fetch("big", &[(0, 0)], 32 << 20, 100), 11);
    let sent = Instant::now();
    wait_metric(&b, "sluice_fetch_buffer_used_bytes", &[], |n| n > 16e6);

    // While it is held, another consumer's fetch finds no budget: offsets only.
    let mut other = Conn::connect(b.shard_addr(0));
    let r = other.call(&fetch("small", &[(0, 0)], 1 << 20, 100), 11);
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 3), "{p:?}");
    assert!(
        decode_records(p.records.clone()).is_empty(),
        "no budget while the stalled reply holds it"
    );

    // The stalled write is cut after the idle time, its bytes are freed...
    wait_metric(&b, IDLE_METRIC, &[("reason", "write_stalled")], |n| {
        n == 1.0
    });
    let after = sent.elapsed();
    assert!(
        after >= idle - Duration::from_millis(100),
        "closed after {after:?}, before the idle time"
    );
    wait_metric(&b, "sluice_fetch_buffer_used_bytes", &[], |n| n == 0.0);
    // ...and the client sees its connection end (reset) after what its buffer holds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        assert!(
            Instant::now() < deadline,
            "the stalled connection stays open"
        );
        match stalled.stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }

    // The other consumer now gets its data.
    let mut other = Conn::connect(b.shard_addr(0));
    let r = other.call(&fetch("small", &[(0, 0)], 1 << 20, 100), 11);
    let got = decode_records(r.responses[0].partitions[0].records.clone());
    assert_eq!(got.len(), 3, "data once the budget is back");
    assert!(b.stderr_text().contains("made no progress"), "logged");
    assert!(b.panics().is_empty());
}

#[test]
fn clients_that_announce_large_frames_and_stall_hold_no_budget_and_are_closed_in_time() {
    // The request budget is one maximum frame, so a single stalled 1 MiB announcement that
    // reserved its length up front would stop every other client on the shard. The frame time
    // is the idle time here (shorter than REQUEST_BODY_READ_TIMEOUT_MS), long enough that the
    // other client's requests below are served before it on a slow machine.
    const MAX: usize = 1 << 20;
    const FRAME_MS: u64 = 5_000;
    /// How long a dribbler keeps going at most: far past the frame time, so a dribbler that
    /// stops before it was cut by the broker.
    const DRIBBLE_S: u64 = 30;
    let b = Broker::start(
        "slow-loris",
        &[
            "--cores",
            "1",
            "--request-max-bytes",
            "1048576",
            "--inflight-request-bytes",
            "1048576",
            "--connections-max-idle-ms",
            &FRAME_MS.to_string(),
        ],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "t", 1);
    let announce = (MAX as i32).to_be_bytes();
    let started = Instant::now();
    // Four announce a maximum frame and send nothing more.
    let mut silent: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(b.shard_addr(0)).expect("connect");
            s.write_all(&announce).expect("announce");
            s
        })
        .collect();
    // Two announce one and dribble its body, a byte every 50 ms, until the broker closes them.
    let dribblers: Vec<_> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(b.shard_addr(0)).expect("connect");
            s.write_all(&announce).expect("announce");
            std::thread::spawn(move || {
                let since = Instant::now();
                while s.write_all(&[0]).is_ok() && since.elapsed() < Duration::from_secs(DRIBBLE_S)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                since.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));

    // Everyone else is served meanwhile: produces and fetches on another connection.
    for i in 0..20u8 {
        produce(&mut c, "t", 0, &[&[i; 10_000]]);
    }
    let r = c.call(&fetch("t", &[(0, 0)], 1 << 20, 0), 11);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    assert_eq!(decode_records(p.records.clone()).len(), 20);
    // (A live counter: none was closed yet when the others had been served.)
    assert_eq!(
        b.metric_sum("sluice_connections_closed_bad_input_total", &[]),
        0.0,
        "the stalled clients were all still connected while the others were served"
    );

    // The stalled ones are closed once the frame time has passed, dribbling or not: each sees
    // its connection end (EOF or reset; a read timeout is not the broker closing it), never
    // before the frame time. No upper bound on the clock: how late the close comes on a
    // loaded machine is not the property, that it comes is.
    for s in &mut silent {
        let mut byte = [0u8; 1];
        s.set_read_timeout(Some(Duration::from_secs(FRAME_MS / 1000 + 30)))
            .unwrap();
        let ended = match s.read(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        assert!(ended, "closed by the broker");
    }
    let closed_after = started.elapsed();
    for d in dribblers {
        let cut_after = d.join().expect("dribbler");
        assert!(
            cut_after < Duration::from_secs(DRIBBLE_S),
            "a dribbling client is cut by the broker: it wrote for {cut_after:?}"
        );
    }
    assert!(
        closed_after >= Duration::from_millis(FRAME_MS - 200),
        "closed {closed_after:?} after the announcements, frame time {FRAME_MS} ms"
    );
    wait_metric(&b, "sluice_connections_closed_bad_input_total", &[], |n| {
        n == 6.0
    });
    assert_eq!(
        b.metric_sum(IDLE_METRIC, &[]),
        0.0,
        "counted as incomplete frames"
    );

    // Their reservations are all back: a frame of nearly the whole budget is read at once.
    let waits = b.metric_sum("sluice_request_budget_waits_total", &[]);
    produce(&mut c, "t", 0, &[&vec![b'x'; MAX - 4096]]);
    assert_eq!(
        b.metric_sum("sluice_request_budget_waits_total", &[]),
        waits,
        "the whole budget was free"
    );
    assert!(b.panics().is_empty());
}

#[test]
fn a_bad_idle_flag_refuses_to_start() {
    for bad in ["0", "-1", "abc", "31536000001"] {
        match Broker::try_start(
            "idle-flag",
            harness::sluice_bin(),
            &["--connections-max-idle-ms", bad],
        ) {
            Err(HarnessError::ExitedEarly(status, stderr)) => {
                assert!(!status.success());
                assert!(
                    stderr.contains("--connections-max-idle-ms")
                        && stderr.contains("between 1 and"),
                    "{bad}: {stderr}"
                );
            }
            Err(e) => panic!("{bad}: {e}"),
            Ok(_) => panic!("--connections-max-idle-ms {bad} was accepted"),
        }
    }
}
