//! Routing proof, raw-client side: a client that sends everything over one bootstrap connection
//! (so some partitions' requests reach a shard that does not own them) still gets every answer
//! right, and the broker counts the forwarded requests. (The librdkafka side — zero forwards
//! once metadata is known — is tests/clients/test_routing.py.)
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::collections::BTreeMap;

use bytes::Bytes;
use harness::kafka::{batch, decode_records, Conn};
use harness::Broker;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "routed";
const PARTITIONS: i32 = 6;
const FORWARDED: &str = "sluice_forwarded_requests_total";

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

fn value(round: usize, partition: i32, i: usize) -> Vec<u8> {
    format!("round-{round}-partition-{partition}-record-{i}").into_bytes()
}

#[test]
fn one_bootstrap_connection_gets_every_answer_right_and_forwards_are_counted() {
    let b = Broker::start("routing-raw", &["--cores", "2"]);
    assert_eq!(b.ports().shards.len(), 2);

    // Admin requests go to the controller, as real clients send them.
    let mut controller = Conn::connect(b.shard_addr(0));
    let created = controller.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name())
                .with_num_partitions(PARTITIONS)
                .with_replication_factor(1)]),
        5,
    );
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");

    let mut c = Conn::connect(b.bootstrap_addr());
    let md = c.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name()))
            ]))
            .with_allow_auto_topic_creation(false),
        12,
    );
    assert_eq!(md.controller_id, BrokerId(0));
    let mut brokers: Vec<(i32, i32)> = md
        .brokers
        .iter()
        .map(|br| (br.node_id.0, br.port))
        .collect();
    brokers.sort();
    let shard_ports: Vec<(i32, i32)> = b
        .ports()
        .shards
        .iter()
        .enumerate()
        .map(|(s, p)| (s as i32, i32::from(*p)))
        .collect();
    assert_eq!(
        brokers, shard_ports,
        "each shard is a broker on its own port"
    );
    let t = &md.topics[0];
    assert_eq!(t.error_code, 0);
    let leaders: BTreeMap<i32, i32> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0))
        .collect();
    assert_eq!(
        leaders.keys().copied().collect::<Vec<_>>(),
        (0..PARTITIONS).collect::<Vec<_>>()
    );
    assert!(
        leaders.values().any(|&l| l == 0) && leaders.values().any(|&l| l == 1),
        "partitions should be spread over both shards: {leaders:?}"
    );

    let forwarded_before = b.metric_sum(FORWARDED, &[]);
    let mut expected: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    // Several rounds, pipelined: every Produce names all partitions, so whichever shard took the
    // bootstrap connection, part of each request belongs to the other shard.
    let rounds = 4;
    let mut ids = Vec::new();
    for round in 0..rounds {
        let mut data = Vec::new();
        for p in 0..PARTITIONS {
            let values: Vec<Vec<u8>> = (0..5).map(|i| value(round, p, i)).collect();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let compression = if round % 2 == 0 {
                Compression::None
            } else {
                Compression::Lz4
            };
            data.push(
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(batch(&refs, compression))),
            );
            expected.entry(p).or_default().extend(values);
        }
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name())
                .with_partition_data(data)]);
        ids.push(c.send(&req, 9));
    }
    for (round, id) in ids.into_iter().enumerate() {
        let resp = c.recv::<ProduceRequest>(id, 9);
        let mut parts: Vec<(i32, i16, i64)> = resp.responses[0]
            .partition_responses
            .iter()
            .map(|p| (p.index, p.error_code, p.base_offset))
            .collect();
        parts.sort();
        let want: Vec<(i32, i16, i64)> = (0..PARTITIONS)
            .map(|p| (p, 0, (round * 5) as i64))
            .collect();
        assert_eq!(parts, want, "produce round {round}");
    }

    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(16 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name())
            .with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_current_leader_epoch(-1)
                            .with_last_fetched_epoch(-1)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]);
    for version in [4i16, 11, 12] {
        let resp = c.call(&fetch, version);
        let mut seen = Vec::new();
        for part in &resp.responses[0].partitions {
            assert_eq!(
                part.error_code, 0,
                "fetch v{version} partition {}",
                part.partition_index
            );
            let want = &expected[&part.partition_index];
            assert_eq!(part.high_watermark, want.len() as i64);
            let recs = decode_records(part.records.clone());
            let got: Vec<(i64, Bytes)> = recs
                .into_iter()
                .map(|(o, _, v)| (o, v.expect("value")))
                .collect();
            let want: Vec<(i64, Bytes)> = want
                .iter()
                .enumerate()
                .map(|(o, v)| (o as i64, Bytes::from(v.clone())))
                .collect();
            assert_eq!(
                got, want,
                "fetch v{version} partition {}",
                part.partition_index
            );
            seen.push(part.partition_index);
        }
        seen.sort();
        assert_eq!(
            seen,
            (0..PARTITIONS).collect::<Vec<_>>(),
            "fetch v{version} answered every partition"
        );
    }

    let forwarded = b.metric_sum(FORWARDED, &[]) - forwarded_before;
    assert!(
        forwarded > 0.0,
        "requests for the other shard's partitions were forwarded and counted"
    );
    // Per-shard samples exist for both shards.
    let text = b.metrics_text();
    for shard in ["0", "1"] {
        assert!(
            text.contains(&format!("{FORWARDED}{{shard=\"{shard}\"")),
            "no {FORWARDED} for shard {shard}"
        );
    }
}

/// (offset, value) of each record of a partition's answer.
type Records = Vec<(i64, Option<Bytes>)>;

/// A long poll parked on a shard that owns none of the partitions with new data is woken by
/// the owner (`shard::long_poll`): it answers with the records once they are produced, long
/// before its `max_wait_ms`, and without data it still waits out its `max_wait_ms`.
#[test]
fn a_long_poll_on_a_non_owner_shard_wakes_on_produce_and_times_out_without() {
    const TOPIC: &str = "polled";
    let b = Broker::start("routing-long-poll", &["--cores", "2"]);
    let mut controller = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut controller, TOPIC, 4);
    let md = controller.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))]))
            .with_allow_auto_topic_creation(false),
        12,
    );
    let owned_by = |shard: i32| {
        md.topics[0]
            .partitions
            .iter()
            .find(|p| p.leader_id.0 == shard)
            .map(|p| p.partition_index)
            .expect("a partition on each shard")
    };
    let (local, remote) = (owned_by(0), owned_by(1));
    // The waiter is on shard 0; the partition that gets data lives on shard 1.
    let mut waiter = Conn::connect(b.shard_addr(0));
    let mut producer = Conn::connect(b.shard_addr(1));
    let watches_full = "sluice_fetch_remote_watches_full_total";

    // No data: the poll answers empty after its max wait, not before.
    let wait_ms = 700;
    let started = std::time::Instant::now();
    let empty = waiter.call(
        &harness::kafka::fetch(TOPIC, &[(local, 0), (remote, 0)], 1 << 20, wait_ms),
        12,
    );
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(wait_ms as u64 - 50),
        "an empty long poll waits out max_wait_ms: answered after {took:?}"
    );
    for p in &empty.responses[0].partitions {
        assert_eq!(p.error_code, 0, "{p:?}");
        assert_eq!(p.high_watermark, 0);
        assert!(decode_records(p.records.clone()).is_empty());
    }

    // Parked for up to 30 s (FETCH_WAIT_MS_MAX, the broker's ceiling; the waiter's read
    // timeout is raised past it); a produce on the owner answers it, in far less than half of
    // that even on a loaded machine.
    let wait_ms = 30_000;
    waiter
        .stream_mut()
        .set_read_timeout(Some(std::time::Duration::from_millis(
            wait_ms as u64 + 10_000,
        )))
        .expect("read timeout");
    let started = std::time::Instant::now();
    let id = waiter.send(
        &harness::kafka::fetch(TOPIC, &[(local, 0), (remote, 0)], 1 << 20, wait_ms),
        12,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    harness::kafka::produce(&mut producer, TOPIC, remote, &[b"woken"]);
    let woken = waiter.recv::<FetchRequest>(id, 12);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(wait_ms as u64 / 2),
        "the owner's append woke the long poll (answered after {took:?}, max wait {wait_ms} ms)"
    );
    let got: Vec<(i32, Records)> = woken.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "{p:?}");
            let records = decode_records(p.records.clone())
                .into_iter()
                .map(|(o, _, v)| (o, v))
                .collect();
            (p.partition_index, records)
        })
        .collect();
    let want_remote = vec![(0i64, Some(Bytes::from_static(b"woken")))];
    assert!(
        got.contains(&(remote, want_remote)) && got.contains(&(local, Vec::new())),
        "{got:?}"
    );

    // The next poll, from the new end, waits again and is woken again.
    let started = std::time::Instant::now();
    let id = waiter.send(
        &harness::kafka::fetch(TOPIC, &[(local, 0), (remote, 1)], 1 << 20, wait_ms),
        12,
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    harness::kafka::produce(&mut producer, TOPIC, remote, &[b"again"]);
    let again = waiter.recv::<FetchRequest>(id, 12);
    assert!(started.elapsed() < std::time::Duration::from_millis(wait_ms as u64 / 2));
    let p = again.responses[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == remote)
        .expect("the remote partition");
    let values: Vec<Option<Bytes>> = decode_records(p.records.clone())
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(values, vec![Some(Bytes::from_static(b"again"))]);
    assert_eq!(b.metric_sum(watches_full, &[]), 0.0, "no watch was refused");
}
