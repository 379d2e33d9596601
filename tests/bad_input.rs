//! Hostile and malformed input over raw TCP: the broker closes (or answers) the one bad
//! connection, never panics or aborts, keeps serving other connections, and never stores a batch
//! whose CRC is wrong.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::net::Shutdown;

use bytes::{Buf, Bytes, BytesMut};
use harness::kafka::{batch, decode_records, Conn};
use harness::Broker;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, FetchRequest, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::Compression;

const UNSUPPORTED_VERSION: i16 = 35;
const CORRUPT_MESSAGE: i16 = 2;

fn api_versions_ok(b: &Broker) {
    let mut c = Conn::connect(b.bootstrap_addr());
    for version in [0, 3] {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("sluice-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1"));
        let resp = c.call(&req, version);
        assert_eq!(resp.error_code, 0, "ApiVersions v{version}");
        let av = resp
            .api_keys
            .iter()
            .find(|k| k.api_key == 18)
            .expect("ApiVersions listed");
        assert!(av.min_version == 0 && av.max_version >= 3, "{av:?}");
    }
}

/// Sends raw bytes on a fresh connection and requires the broker to close it; then checks the
/// broker still serves a normal ApiVersions, on the other connection and on a new one.
fn closes(b: &mut Broker, bytes: &[u8], what: &str) {
    let mut bystander = Conn::connect(b.bootstrap_addr());
    let mut c = Conn::connect(b.bootstrap_addr());
    c.stream
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("{what}: send: {e}"));
    assert!(
        c.is_closed_by_peer(),
        "{what}: the broker answered instead of closing"
    );
    assert!(
        b.is_running(),
        "{what}: broker died:\n{}",
        b.stderr_tail(20)
    );
    let resp = bystander.call(&ApiVersionsRequest::default(), 0);
    assert_eq!(
        resp.error_code, 0,
        "{what}: another connection was disturbed"
    );
    api_versions_ok(b);
}

#[test]
fn http_bytes_close_the_connection() {
    let mut b = Broker::start("bad-http", &[]);
    closes(&mut b, b"GET / HTTP/1.1\r\n\r\n", "HTTP request");
}

#[test]
fn huge_length_prefix_closes_without_allocating() {
    let mut b = Broker::start("bad-2gib", &[]);
    let mut bytes = 0x7fff_ffffi32.to_be_bytes().to_vec(); // 2 GiB - 1
    bytes.extend_from_slice(&[0, 18, 0, 0, 0, 0, 0, 1]);
    closes(&mut b, &bytes, "2 GiB length prefix");
}

#[test]
fn negative_lengths_close_the_connection() {
    let mut b = Broker::start("bad-negative", &[]);
    closes(&mut b, &(-1i32).to_be_bytes(), "length -1");
    closes(&mut b, &i32::MIN.to_be_bytes(), "length i32::MIN");
}

#[test]
fn frame_over_request_max_bytes_closes() {
    let mut b = Broker::start("bad-request-max", &["--request-max-bytes", "4096"]);
    let mut bytes = 8192i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0, 18, 0, 0, 0, 0, 0, 1]);
    closes(&mut b, &bytes, "frame over --request-max-bytes");
}

#[test]
fn truncated_frame_then_eof_closes() {
    let b = Broker::start("bad-truncated", &[]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let mut bytes = 100i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0, 18, 0, 0, 0, 0, 0, 1, 0, 0]);
    c.stream.write_all(&bytes).unwrap();
    c.stream.shutdown(Shutdown::Write).unwrap();
    assert!(
        c.is_closed_by_peer(),
        "a truncated frame followed by EOF must close, not hang"
    );
    api_versions_ok(&b);
}

#[test]
fn unknown_api_key_closes_or_errors() {
    let b = Broker::start("bad-api-key", &[]);
    let mut c = Conn::connect(b.bootstrap_addr());
    // Header v1: api key 9999, version 0, correlation id 42, null client id; no body.
    let mut body = BytesMut::new();
    body.extend_from_slice(&9999i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&42i32.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes());
    let mut frame = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    c.stream.write_all(&frame).unwrap();
    // Kafka closes; an error response is acceptable too, as long as it answers this request.
    if let Some(mut resp) = c.recv_frame() {
        assert_eq!(
            resp.get_i32(),
            42,
            "response to the unknown API carries its correlation id"
        );
    }
    api_versions_ok(&b);
}

#[test]
fn api_versions_v999_gets_unsupported_version_in_a_v0_response() {
    let b = Broker::start("bad-apiversions-v999", &[]);
    let mut c = Conn::connect(b.bootstrap_addr());
    // Header v2 (flexible, as a client sends for ApiVersions >= 3): key 18, version 999,
    // correlation id 7, client id "x", no tagged fields; the body is opaque to the broker.
    let mut body = BytesMut::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&999i16.to_be_bytes());
    body.extend_from_slice(&7i32.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(b"x");
    body.extend_from_slice(&[0, 0, 0, 0]);
    let mut frame = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    c.stream.write_all(&frame).unwrap();
    let mut resp: Bytes = c
        .recv_frame()
        .expect("Kafka answers ApiVersions v999, it does not close");
    assert_eq!(resp.get_i32(), 7, "correlation id");
    // Response header v0 (always for ApiVersions), body in v0 form.
    let av = ApiVersionsResponse::decode(&mut resp, 0).expect("an ApiVersions v0 response");
    assert_eq!(av.error_code, UNSUPPORTED_VERSION);
    assert!(
        !resp.has_remaining(),
        "trailing bytes after the v0 response"
    );
    for key in [0i16, 1, 3, 18] {
        let k = av.api_keys.iter().find(|k| k.api_key == key);
        assert!(
            k.is_some_and(|k| k.min_version <= k.max_version),
            "API {key} missing: {:?}",
            av.api_keys
        );
    }
    let api_versions = av.api_keys.iter().find(|k| k.api_key == 18).unwrap();
    assert!(api_versions.min_version == 0 && api_versions.max_version >= 3);
    api_versions_ok(&b);
}

fn produce_req(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

fn fetch_req(topic: &str, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)])])
}

#[test]
fn corrupted_crc_is_refused_and_never_served() {
    let b = Broker::start("bad-crc", &["--cores", "1"]);
    let topic = "crc-topic";
    let mut admin = Conn::connect(b.shard_addr(0));
    let created = admin.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
        5,
    );
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");

    let mut c = Conn::connect(b.shard_addr(0));
    let good = batch(&[b"one", b"two", b"three"], Compression::None);
    let mut bad = BytesMut::from(&good[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // inside the records, covered by the CRC
    for version in [3i16, 9] {
        let resp = c.call(&produce_req(topic, bad.clone().freeze()), version);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, CORRUPT_MESSAGE, "Produce v{version}: {p:?}");
    }
    let fetched = c.call(&fetch_req(topic, 0), 12);
    let part = &fetched.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    assert_eq!(
        part.high_watermark, 0,
        "a corrupt batch must not move the high watermark"
    );
    assert!(
        decode_records(part.records.clone()).is_empty(),
        "corrupt batch was served"
    );

    // A good batch afterwards lands at offset 0: nothing of the bad one was stored.
    let resp = c.call(&produce_req(topic, good), 9);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let fetched = c.call(&fetch_req(topic, 0), 12);
    let recs = decode_records(fetched.responses[0].partitions[0].records.clone());
    let values: Vec<_> = recs
        .iter()
        .map(|(o, _, v)| (*o, v.clone().unwrap()))
        .collect();
    assert_eq!(
        values,
        vec![
            (0, Bytes::from_static(b"one")),
            (1, Bytes::from_static(b"two")),
            (2, Bytes::from_static(b"three"))
        ]
    );
}
