//! Nothing a client sends takes a core down: regression tests for requests that once ended a
//! shard's thread, per-request panic isolation, exit on a dead shard, and health that tells the
//! truth (`/v1/health`, `/v1/status/ready`, `sluice_shard_up`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::kafka::{create_topic, fetch, produce, Conn};
use harness::Broker;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiVersionsRequest, BrokerId, FetchRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::Value;

const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Every shard port and the bootstrap port answer ApiVersions and Metadata.
fn every_shard_answers(b: &Broker) {
    let mut addrs = vec![b.bootstrap_addr()];
    addrs.extend((0..b.ports().shards.len()).map(|s| b.shard_addr(s)));
    for addr in addrs {
        let mut c = Conn::connect(addr);
        assert_eq!(c.call(&ApiVersionsRequest::default(), 3).error_code, 0);
        let m = c.call(&MetadataRequest::default().with_topics(None), 12);
        assert_eq!(m.brokers.len(), b.ports().shards.len(), "{addr}");
    }
}

fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false)
}

/// Regression: a Fetch with no topics, `min_bytes` ≥ 1 and `max_wait_ms` > 0 reached
/// `select_all` on an empty list, which panicked and ended the shard's thread. Sent to every
/// shard port at every flexible and non-flexible version we serve, then a long poll whose only
/// partition lives on another shard (the same line, reached with no local partition to wait on).
#[test]
fn a_long_poll_with_nothing_local_to_wait_on_is_answered_after_its_wait() {
    let b = Broker::start("empty-fetch", &["--cores", "2"]);
    let empty = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1);
    for shard in 0..2 {
        let mut c = Conn::connect(b.shard_addr(shard));
        for version in [4, 11, 12, 16] {
            let started = Instant::now();
            let r = c.call(&empty, version);
            assert_eq!(r.error_code, 0, "v{version}");
            assert!(r.responses.is_empty(), "v{version}");
            assert!(
                started.elapsed() >= Duration::from_millis(100),
                "v{version}: a long poll waits its max_wait_ms"
            );
        }
    }
    every_shard_answers(&b);

    // Topic with 2 partitions: one per shard. Fetch only the partition that the connected
    // shard does not own, with nothing in it yet.
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic(&mut c, "remote", 2);
    let m = c.call(&metadata_for("remote"), 12);
    for p in &m.topics[0].partitions {
        let owner = p.leader_id.0 as usize;
        let other = 1 - owner;
        let mut c = Conn::connect(b.shard_addr(other));
        let r = c.call(
            &fetch("remote", &[(p.partition_index, 0)], 1 << 20, 200),
            12,
        );
        let got = &r.responses[0].partitions[0];
        assert_eq!(got.error_code, 0, "{got:?}");
        assert_eq!(got.high_watermark, 0);
    }
    // And it still sees data that arrives on the other shard during the poll.
    let owner = m.topics[0].partitions[0].leader_id.0 as usize;
    let mut poller = Conn::connect(b.shard_addr(1 - owner));
    let id = poller.send(&fetch("remote", &[(0, 0)], 1 << 20, 5_000), 12);
    std::thread::sleep(Duration::from_millis(50));
    produce(&mut c, "remote", 0, &[b"late"]);
    let r: kafka_protocol::messages::FetchResponse = poller.recv::<FetchRequest>(id, 12);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 1);
    every_shard_answers(&b);
}

/// Regression: an errored partition's records were null in Fetch responses, which librdkafka
/// treats as a parse failure of the whole response. Kafka sends empty records, in every version.
#[test]
fn an_errored_partition_has_empty_records_in_every_fetch_version() {
    let b = Broker::start("fetch-error-records", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    create_topic(&mut c, "t", 1);
    produce(&mut c, "t", 0, &[b"a", b"b"]);
    for version in 4..=16 {
        if version >= 13 {
            // Topic ids from v13: resolve it first.
            let m = c.call(&metadata_for("t"), 12);
            let mut req = fetch("t", &[(0, 1_000)], 1 << 20, 0);
            req.topics[0].topic_id = m.topics[0].topic_id;
            let r = c.call(&req, version);
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, OFFSET_OUT_OF_RANGE, "v{version}");
            assert_eq!(p.records.as_deref(), Some(&[][..]), "v{version}: not null");
        } else {
            let r = c.call(&fetch("t", &[(0, 1_000)], 1 << 20, 0), version);
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, OFFSET_OUT_OF_RANGE, "v{version}");
            assert_eq!(p.records.as_deref(), Some(&[][..]), "v{version}: not null");
        }
    }
}

/// A handler that panics ends its request (the connection is closed), is logged with its API
/// and counted, and the shard goes on serving everyone else — including the same client on a
/// new connection, and other connections that were open all along.
#[test]
fn a_panicking_handler_closes_its_connection_and_the_shard_carries_on() {
    let mut b = Broker::start(
        "handler-panic",
        &["--cores", "1", "--test-panic-topic", "boom"],
    );
    b.expect_panics = true;
    let mut bystander = Conn::connect(b.bootstrap_addr());
    create_topic(&mut bystander, "ok", 1);
    for round in 1..=3 {
        let mut c = Conn::connect(b.bootstrap_addr());
        c.send(&metadata_for("boom"), 12);
        assert!(c.is_closed_by_peer(), "round {round}: closed, not answered");
        produce(&mut bystander, "ok", 0, &[b"still here"]);
        every_shard_answers(&b);
        assert_eq!(
            b.metric_sum("sluice_handler_panics_total", &[]),
            round as f64
        );
    }
    assert!(b.is_running());
    let log = b.stderr_text();
    assert!(
        log.contains("a handler panicked on request api key 3 version 12"),
        "{log}"
    );
    let (status, _, _) = b.admin_get("/v1/health");
    assert_eq!(status, 200);
}

/// A panic outside any request (here a task the test hook spawns) ends the shard's thread:
/// the process then exits at once with status 70 and says why, instead of running on with a
/// dead core that Metadata still advertises.
#[test]
fn a_dead_shard_ends_the_process_with_a_clear_line() {
    let mut b = Broker::start(
        "shard-dies",
        &["--cores", "2", "--test-panic-topic", "boom"],
    );
    b.expect_panics = true;
    let mut c = Conn::connect(b.shard_addr(1));
    c.send(&metadata_for("boom-shard"), 12);
    let status = b
        .wait_exit(Duration::from_secs(10))
        .expect("the broker exits once a shard thread died");
    assert_eq!(status.code(), Some(70), "{}", b.stderr_tail(20));
    let log = b.stderr_text();
    assert!(log.contains("shard 1's thread died"), "{log}");
}

/// Liveness and readiness tell the truth: 200 while every shard beats; when a shard's executor
/// is blocked (the test hook sleeps on its thread until the test releases it) `/v1/health`
/// answers 503 naming it, `sluice_shard_up` drops to 0 for it, and the status document marks
/// it down; once it runs again, all is back to 200 — no restart needed.
#[test]
fn health_reports_a_stalled_shard_and_its_recovery() {
    let b = Broker::start("health", &["--cores", "2", "--test-panic-topic", "boom"]);
    let (status, _, body) = b.admin_get("/v1/health");
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(doc["live"], true);
    assert_eq!(doc["shards"].as_array().map(Vec::len), Some(2));
    let (status, _, body) = b.admin_get("/v1/status/ready");
    assert_eq!(status, 200, "{body}");
    assert_eq!(b.metric_sum("sluice_shard_up", &[]), 2.0);
    assert_eq!(b.metric_sum("sluice_shard_ready", &[]), 2.0);

    // Stall shard 1: its thread sleeps until a request to shard 0 releases it (30 s at most).
    let mut c = Conn::connect(b.shard_addr(1));
    let id = c.send(&metadata_for("boom-stall"), 12);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, _, body) = b.admin_get("/v1/health");
        if status == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "health never went 503: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let doc: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(doc["live"], false);
    assert_eq!(doc["shards"][1]["up"], false);
    assert_eq!(doc["shards"][0]["up"], true);
    assert!(
        doc["reason"].as_str().unwrap_or("").contains("shard 1"),
        "{doc}"
    );
    assert_eq!(b.metric_sum("sluice_shard_up", &[("shard", "1")]), 0.0);
    let (_, _, status_doc) = b.admin_get("/v1/status");
    let status_doc: Value = serde_json::from_str(&status_doc).expect("JSON");
    assert_eq!(status_doc["live"], false);
    assert_eq!(status_doc["shards"][1]["up"], false);
    assert_eq!(status_doc["fenced_partitions"], serde_json::json!([]));
    let (status, _, _) = b.admin_get("/v1/status/ready");
    assert_eq!(status, 503);
    let (status, _, text) = b.admin_get("/healthz");
    assert_eq!(status, 503);
    assert!(text.contains("shard 1"), "{text}");

    // The stalled request completes once the thread runs again, and health recovers.
    let mut other = Conn::connect(b.shard_addr(0));
    let _ = other.call(&metadata_for("boom-release"), 12);
    let _ = c.recv::<MetadataRequest>(id, 12);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = b.admin_get("/v1/health");
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "health never recovered: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.metric_sum("sluice_shard_up", &[]), 2.0);
    every_shard_answers(&b);
}
