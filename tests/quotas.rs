//! Client quotas (KIP-13, KIP-124, KIP-219, KIP-546), raw protocol against the real binary:
//! DescribeClientQuotas / AlterClientQuotas (validation, filters, persistence across a
//! restart, the entity limit), and enforcement held node-wide although every shard is its own
//! broker: usage on one shard counts on another, a producer over its byte rate is throttled
//! and muted while a client without a quota is not, a consumer over its byte rate gets an
//! empty, throttled fetch. Real clients are in tests/clients/test_quotas.py.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use harness::kafka::{batch, create_topic, fetch, Conn};
use harness::Broker;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::Compression;

const INVALID_REQUEST: i16 = 42;
const POLICY_VIOLATION: i16 = 44;
const UNSUPPORTED_VERSION: i16 = 35;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An AlterClientQuotas entry: entity parts (type, name or None for `<default>`) and ops
/// (key, Some(value) to set, None to remove).
fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> EntryData {
    EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(s(t))
                        .with_entity_name(n.map(s))
                })
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v)| {
                    OpData::default()
                        .with_key(s(k))
                        .with_value(v.unwrap_or(0.0))
                        .with_remove(v.is_none())
                })
                .collect(),
        )
}

fn alter(c: &mut Conn, entries: Vec<EntryData>, validate_only: bool, v: i16) -> Vec<i16> {
    let r: AlterClientQuotasResponse = c.call(
        &AlterClientQuotasRequest::default()
            .with_entries(entries)
            .with_validate_only(validate_only),
        v,
    );
    r.entries.iter().map(|e| e.error_code).collect()
}

/// A describe's error code and its entities ("type=name" parts, sorted) with their values.
type Described = (i16, Vec<(String, Vec<(String, f64)>)>);

/// Describe with `(type, match type, match)` components: (error code, entities as
/// "type=name" lists sorted, with the values).
fn describe(
    c: &mut Conn,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
    v: i16,
) -> Described {
    let r: DescribeClientQuotasResponse = c.call(
        &DescribeClientQuotasRequest::default()
            .with_components(
                components
                    .iter()
                    .map(|(t, m, n)| {
                        ComponentData::default()
                            .with_entity_type(s(t))
                            .with_match_type(*m)
                            .with_match(n.map(s))
                    })
                    .collect(),
            )
            .with_strict(strict),
        v,
    );
    let mut out: Vec<(String, Vec<(String, f64)>)> = r
        .entries
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let mut parts: Vec<String> = e
                .entity
                .iter()
                .map(|d| {
                    format!(
                        "{}={}",
                        d.entity_type,
                        d.entity_name.as_deref().unwrap_or("<default>")
                    )
                })
                .collect();
            parts.sort();
            let values = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            (parts.join(","), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (r.error_code, out)
}

fn names(d: &Described) -> Vec<&str> {
    d.1.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn alter_and_describe_follow_kafka_and_persist() {
    let mut b = Broker::start("quotas-admin", &["--cores", "2"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    for v in [0, 1] {
        // Refused as Kafka refuses them, each entry on its own.
        let codes = alter(
            &mut c,
            vec![
                entry(&[("user", Some("x"))], &[("bogus_rate", Some(1.0))]),
                entry(&[("user", Some("x"))], &[("producer_byte_rate", Some(0.0))]),
                entry(&[("user", Some("x"))], &[("producer_byte_rate", Some(1.5))]),
                entry(
                    &[("topic", Some("t"))],
                    &[("producer_byte_rate", Some(1.0))],
                ),
                entry(
                    &[("user", Some("x")), ("user", None)],
                    &[("producer_byte_rate", Some(1.0))],
                ),
                entry(&[], &[("producer_byte_rate", Some(1.0))]),
                entry(&[("ip", None)], &[("connection_creation_rate", Some(1.0))]),
            ],
            false,
            v,
        );
        assert_eq!(codes, vec![INVALID_REQUEST; 7], "v{v}");
        // validate_only: accepted, nothing stored.
        let codes = alter(
            &mut c,
            vec![entry(
                &[("user", Some("x"))],
                &[("producer_byte_rate", Some(1024.0))],
            )],
            true,
            v,
        );
        assert_eq!(codes, vec![0]);
        assert!(describe(&mut c, &[], false, v).1.is_empty(), "v{v}");
    }
    let codes = alter(
        &mut c,
        vec![
            entry(
                &[("user", Some("alice"))],
                &[
                    ("producer_byte_rate", Some(1_048_576.0)),
                    ("consumer_byte_rate", Some(2_097_152.0)),
                ],
            ),
            entry(&[("user", None)], &[("request_percentage", Some(50.0))]),
            entry(
                &[("user", Some("alice")), ("client-id", Some("app"))],
                &[("producer_byte_rate", Some(4096.0))],
            ),
            entry(
                &[("client-id", None)],
                &[("consumer_byte_rate", Some(8192.0))],
            ),
        ],
        false,
        1,
    );
    assert_eq!(codes, vec![0, 0, 0, 0]);

    let all = describe(&mut c, &[], false, 1);
    assert_eq!(all.0, 0);
    assert_eq!(
        names(&all),
        vec![
            "client-id=<default>",
            "client-id=app,user=alice",
            "user=<default>",
            "user=alice"
        ]
    );
    assert_eq!(
        all.1[3].1,
        vec![
            ("consumer_byte_rate".to_string(), 2_097_152.0),
            ("producer_byte_rate".to_string(), 1_048_576.0)
        ]
    );
    // EXACT, DEFAULT, ANY (default names included), strict.
    let d = describe(&mut c, &[("user", 0, Some("alice"))], false, 0);
    assert_eq!(names(&d), vec!["client-id=app,user=alice", "user=alice"]);
    let d = describe(&mut c, &[("user", 0, Some("alice"))], true, 1);
    assert_eq!(names(&d), vec!["user=alice"]);
    let d = describe(&mut c, &[("user", 1, None)], false, 1);
    assert_eq!(names(&d), vec!["user=<default>"]);
    let d = describe(&mut c, &[("user", 2, None)], true, 1);
    assert_eq!(names(&d), vec!["user=<default>", "user=alice"]);
    let d = describe(
        &mut c,
        &[("user", 2, None), ("client-id", 2, None)],
        false,
        1,
    );
    assert_eq!(names(&d), vec!["client-id=app,user=alice"]);
    assert!(describe(&mut c, &[], true, 1).1.is_empty());
    // Filters Kafka refuses.
    assert_eq!(
        describe(&mut c, &[("user", 0, None)], false, 1).0,
        INVALID_REQUEST
    );
    assert_eq!(
        describe(&mut c, &[("user", 1, Some("a"))], false, 1).0,
        INVALID_REQUEST
    );
    assert_eq!(
        describe(&mut c, &[("user", 2, Some("a"))], false, 1).0,
        INVALID_REQUEST
    );
    assert_eq!(
        describe(&mut c, &[("user", 9, None)], false, 1).0,
        INVALID_REQUEST
    );
    assert_eq!(
        describe(&mut c, &[("user", 2, None), ("user", 1, None)], false, 1).0,
        INVALID_REQUEST
    );
    assert_eq!(
        describe(&mut c, &[("topic", 2, None)], false, 1).0,
        UNSUPPORTED_VERSION
    );

    // Removing a value; removing the last one drops the entity.
    let codes = alter(
        &mut c,
        vec![
            entry(&[("user", Some("alice"))], &[("consumer_byte_rate", None)]),
            entry(&[("client-id", None)], &[("consumer_byte_rate", None)]),
        ],
        false,
        0,
    );
    assert_eq!(codes, vec![0, 0]);

    // Every shard answers the same, and it all survives a restart.
    b.restart();
    for shard in 0..2 {
        let mut c = Conn::connect(b.shard_addr(shard));
        let all = describe(&mut c, &[], false, 1);
        assert_eq!(
            names(&all),
            vec!["client-id=app,user=alice", "user=<default>", "user=alice"],
            "shard {shard}"
        );
        assert_eq!(
            all.1[2].1,
            vec![("producer_byte_rate".to_string(), 1_048_576.0)]
        );
    }
    assert!(b.panics().is_empty());
}

#[test]
fn the_number_of_quota_entities_is_limited() {
    let b = Broker::start("quotas-limit", &["--cores", "1"]);
    let mut c = Conn::connect(b.bootstrap_addr());
    let max = sluice::limits::QUOTA_ENTITIES_MAX;
    let names: Vec<String> = (0..=max).map(|i| format!("client-{i}")).collect();
    let entries = names
        .iter()
        .map(|n| {
            entry(
                &[("client-id", Some(n))],
                &[("producer_byte_rate", Some(1e6))],
            )
        })
        .collect();
    let codes = alter(&mut c, entries, false, 1);
    assert_eq!(codes.len(), max + 1);
    assert!(codes[..max].iter().all(|c| *c == 0));
    assert_eq!(codes[max], POLICY_VIOLATION);
    // An existing entity still changes at the limit.
    let codes = alter(
        &mut c,
        vec![entry(
            &[("client-id", Some("client-0"))],
            &[("producer_byte_rate", Some(2e6))],
        )],
        false,
        1,
    );
    assert_eq!(codes, vec![0]);
    let d = describe(&mut c, &[("client-id", 0, Some("client-0"))], true, 1);
    assert_eq!(d.1[0].1, vec![("producer_byte_rate".to_string(), 2e6)]);
}

/// Send `req` with client id `client_id` (the harness's `Conn` always uses its own).
fn call_as<R: Request>(c: &mut Conn, client_id: &str, req: &R, version: i16) -> R::Response {
    let correlation_id = 7_000;
    let frame =
        sluice_client::frame::encode_request(correlation_id, client_id, req, version).unwrap();
    c.stream.write_all(&frame).unwrap();
    c.recv::<R>(correlation_id, version)
}

fn produce_request(topic: &str, partition: i32, value: &[u8]) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(&[value], Compression::None)))])])
}

/// (throttle_time_ms, error code) of one Produce v9 of `value` as `client_id`.
fn produce_as(
    c: &mut Conn,
    client_id: &str,
    topic: &str,
    partition: i32,
    value: &[u8],
) -> (i32, i16) {
    let r = call_as(c, client_id, &produce_request(topic, partition, value), 9);
    (
        r.throttle_time_ms,
        r.responses[0].partition_responses[0].error_code,
    )
}

/// The shard (= node id) leading each partition of `topic`.
fn leaders(c: &mut Conn, topic: &str) -> Vec<usize> {
    let r = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(s(topic)))),
        ])),
        12,
    );
    let mut p: Vec<(i32, usize)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0 as usize))
        .collect();
    p.sort();
    p.into_iter().map(|(_, l)| l).collect()
}

#[test]
fn byte_rate_quotas_hold_for_the_node_not_per_shard() {
    let b = Broker::start("quotas-enforce", &["--cores", "2"]);
    let mut admin = Conn::connect(b.bootstrap_addr());
    create_topic(&mut admin, "q", 2);
    let owners = leaders(&mut admin, "q");
    assert_eq!(owners.len(), 2);
    assert_ne!(owners[0], owners[1], "one partition per shard");
    let quota = 100_000.0;
    let codes = alter(
        &mut admin,
        vec![
            entry(
                &[("client-id", Some("greedy"))],
                &[("producer_byte_rate", Some(quota))],
            ),
            entry(
                &[("client-id", Some("reader"))],
                &[("consumer_byte_rate", Some(10_000.0))],
            ),
        ],
        false,
        1,
    );
    assert_eq!(codes, vec![0, 0]);
    let mut conns: Vec<Conn> = owners
        .iter()
        .map(|s| Conn::connect(b.shard_addr(*s)))
        .collect();

    // Kafka measures over at least 10 one-second windows: 700 KB on one shard is within a
    // 100 KB/s quota (7 of 10 s), and 700 KB more on the other shard is not — for the node.
    // The shards share their usage every few ms; until the second has the first's, its own
    // 700 KB are within the quota, so it is asked again (one byte each, nothing against the
    // quota) until it throttles, with a generous deadline.
    let value = vec![7u8; 700_000];
    assert_eq!(produce_as(&mut conns[0], "greedy", "q", 0, &value), (0, 0));
    let (mut throttle, code) = produce_as(&mut conns[1], "greedy", "q", 1, &value);
    assert_eq!(code, 0, "the produce itself is accepted");
    let mut probes = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while throttle <= 1_000 {
        assert!(
            Instant::now() < deadline,
            "usage on shard {} never counted on shard {}: throttle {throttle} ms",
            owners[0],
            owners[1]
        );
        std::thread::sleep(Duration::from_millis(20));
        let (t, code) = produce_as(&mut conns[1], "greedy", "q", 1, b"p");
        assert_eq!(code, 0);
        throttle = t;
        probes += 1;
    }

    // A producer that keeps going, honouring its throttle as a KIP-219 client does, and a
    // client without a quota beside it on the same shards.
    let run = Duration::from_secs(4);
    let started = Instant::now();
    let polite = std::thread::spawn({
        let addrs: Vec<_> = owners.iter().map(|s| b.shard_addr(*s)).collect();
        move || {
            let mut conns: Vec<Conn> = addrs.iter().map(|a| Conn::connect(*a)).collect();
            let mut worst = 0;
            let value = vec![1u8; 50_000];
            for i in 0..40 {
                let p = i % 2;
                let (t, code) = produce_as(&mut conns[p], "polite", "q", p as i32, &value);
                assert_eq!(code, 0);
                worst = worst.max(t);
                std::thread::sleep(Duration::from_millis(50));
            }
            worst
        }
    });
    let chunk = vec![3u8; 50_000];
    let mut sent = 2 * value.len() + probes;
    let mut throttled = 0;
    let mut i = 0;
    while started.elapsed() < run {
        let p = i % 2;
        i += 1;
        let (t, code) = produce_as(&mut conns[p], "greedy", "q", p as i32, &chunk);
        assert_eq!(code, 0);
        sent += chunk.len();
        if t > 0 {
            throttled += 1;
            let wait = Duration::from_millis(t as u64);
            if started.elapsed() + wait >= run {
                break;
            }
            std::thread::sleep(wait);
        }
    }
    assert!(throttled > 0);
    // Loose: what Kafka's windows admit over the run is about the quota for the run plus the
    // 11 s measurement span; twice that is far below what an unthrottled producer sends.
    let admitted = quota * (run.as_secs_f64() + 11.0);
    assert!(
        (sent as f64) < 2.0 * admitted,
        "sent {sent} bytes in {run:?} at a {quota} B/s quota"
    );
    assert_eq!(
        polite.join().unwrap(),
        0,
        "a client without a quota is never throttled"
    );

    // A consumer over its byte rate gets an empty response with the throttle, as Kafka answers.
    let mut c = Conn::connect(b.shard_addr(owners[0]));
    let r = call_as(&mut c, "reader", &fetch("q", &[(0, 0)], 4 << 20, 0), 11);
    assert!(r.throttle_time_ms > 0, "{}", r.throttle_time_ms);
    assert!(r.responses.is_empty());
    // (That connection is muted now; another client is served at once.)
    let mut other = Conn::connect(b.shard_addr(owners[0]));
    let r: kafka_protocol::messages::FetchResponse = call_as(
        &mut other,
        "not-reader",
        &fetch("q", &[(0, 0)], 4 << 20, 0),
        11,
    );
    assert_eq!(r.throttle_time_ms, 0);
    assert!(!r.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());

    assert!(b.metric_sum("sluice_quota_throttled_total", &[("kind", "produce")]) > 0.0);
    assert!(b.metric_sum("sluice_quota_throttle_ms_total", &[("kind", "fetch")]) > 0.0);
    assert!(b.panics().is_empty());
}

/// KIP-219 with a client that pipelines: once a request earns a throttle, the connection
/// handles nothing more until the mute ends — not even requests already sent behind it in the
/// same write, which a broker that reads ahead would otherwise admit all at once.
#[test]
fn a_throttled_connection_admits_nothing_it_pipelined_until_the_mute_ends() {
    let b = Broker::start("quotas-pipelined", &["--cores", "1"]);
    let mut admin = Conn::connect(b.bootstrap_addr());
    create_topic(&mut admin, "piped", 1);
    let codes = alter(
        &mut admin,
        vec![entry(
            &[("client-id", Some("piper"))],
            &[("producer_byte_rate", Some(10_000.0))],
        )],
        false,
        1,
    );
    assert_eq!(codes, vec![0]);

    // At 10 kB/s measured over at least 10 s, three 30 kB requests fit the first window's
    // allowance and the fourth earns about two seconds of throttle.
    let value = vec![9u8; 30_000];
    let mut c = Conn::connect(b.bootstrap_addr());
    let mut wire = Vec::new();
    for i in 0..10 {
        let req = produce_request("piped", 0, &value);
        wire.extend(sluice_client::frame::encode_request(100 + i, "piper", &req, 9).unwrap());
    }
    c.stream.write_all(&wire).unwrap();
    let mut first_throttled = None;
    for i in 0..4 {
        let r = c.recv::<ProduceRequest>(100 + i, 9);
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        if r.throttle_time_ms > 0 {
            first_throttled = Some((i, r.throttle_time_ms));
            break;
        }
    }
    let (i, throttle) = first_throttled.expect("the fourth request at the latest is throttled");
    assert!(throttle >= 1_000, "{throttle} ms");
    // The mute runs for a second or more from here: what the partition holds now is exactly
    // what the connection had admitted up to and including the throttled request.
    let mut other = Conn::connect(b.bootstrap_addr());
    let r = other.call(&fetch("piped", &[(0, 0)], 1 << 20, 0), 11);
    let hw = r.responses[0].partitions[0].high_watermark;
    assert_eq!(
        hw,
        i64::from(i) + 1,
        "requests pipelined behind the throttled one were appended during its mute"
    );
    assert!(b.panics().is_empty());
}

/// A `request_percentage` quota answers the request that goes over it with the throttle in
/// its `throttle_time_ms` (KIP-219: at once, then the mute), as Kafka does; another client
/// on the same broker is not throttled.
#[test]
fn a_request_quota_reports_its_throttle_in_the_response() {
    let b = Broker::start("quotas-request", &["--cores", "1"]);
    let mut admin = Conn::connect(b.bootstrap_addr());
    let codes = alter(
        &mut admin,
        vec![entry(
            &[("client-id", Some("busy"))],
            &[("request_percentage", Some(0.000_01))],
        )],
        false,
        1,
    );
    assert_eq!(codes, vec![0]);
    let metadata = MetadataRequest::default().with_topics(None);
    let mut free = Conn::connect(b.bootstrap_addr());
    for _ in 0..5 {
        assert_eq!(
            call_as(&mut free, "free", &metadata, 12).throttle_time_ms,
            0
        );
    }
    // Each Metadata costs the handler a few microseconds: a few hundred go over 0.00001 % of a
    // core measured over the quota's 11 s (bounded at 5,000 requests, a few seconds).
    let mut c = Conn::connect(b.bootstrap_addr());
    let throttled = (0..5_000)
        .map(|_| call_as(&mut c, "busy", &metadata, 12).throttle_time_ms)
        .find(|t| *t > 0)
        .expect("a request over the quota carries its throttle time");
    assert!(throttled > 0);
    assert!(b.panics().is_empty());
}
