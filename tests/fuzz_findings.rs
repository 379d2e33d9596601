//! Regression tests for what the request fuzzer found (FUZZING.md lists each finding), as
//! raw-protocol requests against the real binary.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use harness::kafka::{create_topic, Conn};
use harness::Broker;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest,
    ApiVersionsRequest, DeleteTopicsRequest, DescribeConfigsRequest, GroupId,
    IncrementalAlterConfigsRequest, JoinGroupRequest, JoinGroupResponse, RequestHeader,
    SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

const INVALID_REQUEST: i16 = 42;
const MEMBER_ID_REQUIRED: i16 = 79;
const RESOURCE_TOPIC: i8 = 2;
/// Copies of one resource in the request: what the fuzzer's huge arrays sent.
const COPIES: usize = 3_000;
/// Well above a normal answer, well below what 3,000 metadata persists took (over 10 s). Only
/// the ignored benchmark-like test asserts it: elsewhere a finding's fix is shown by what the
/// broker answered and did (every copy refused, nothing applied), and the time is printed.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

fn retention_ms(conn: &mut Conn, topic: &str) -> Option<String> {
    let resp = conn.call(
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None)]),
        4,
    );
    resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
}

/// Finding 1: AlterConfigs / IncrementalAlterConfigs naming one existing topic 3,000 times ran
/// 3,000 controller operations (each persisting the metadata) and answered after more than 10 s,
/// holding the controller meanwhile. Kafka answers every copy of a duplicated resource with
/// INVALID_REQUEST and applies none.
#[test]
fn duplicated_config_resources_are_refused_at_once() {
    let b = Broker::start("finding-dup-configs", &["--cores", "2"]);
    let topic = "dup-configs";
    let mut conn = Conn::connect(b.shard_addr(0));
    create_topic(&mut conn, topic, 1);
    let before = retention_ms(&mut conn, topic);

    let name = StrBytes::from_static_str(topic);
    let legacy = alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(name.clone())
        .with_configs(vec![alter_configs_request::AlterableConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("86400000")))]);
    let started = Instant::now();
    let resp = conn.call(
        &AlterConfigsRequest::default().with_resources(vec![legacy.clone(); COPIES]),
        2,
    );
    eprintln!(
        "AlterConfigs of {COPIES} copies answered in {:?}",
        started.elapsed()
    );
    assert_eq!(resp.responses.len(), COPIES);
    assert!(resp
        .responses
        .iter()
        .all(|r| r.error_code == INVALID_REQUEST));

    let incremental = incremental_alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(name)
        .with_configs(vec![
            incremental_alter_configs_request::AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("86400000"))),
        ]);
    let started = Instant::now();
    let resp = conn.call(
        &IncrementalAlterConfigsRequest::default()
            .with_resources(vec![incremental.clone(); COPIES]),
        1,
    );
    eprintln!(
        "IncrementalAlterConfigs of {COPIES} copies answered in {:?}",
        started.elapsed()
    );
    assert_eq!(resp.responses.len(), COPIES);
    assert!(resp
        .responses
        .iter()
        .all(|r| r.error_code == INVALID_REQUEST));
    assert_eq!(
        retention_ms(&mut conn, topic),
        before,
        "a refused duplicate changed the topic"
    );

    // Named once, the same change applies.
    let resp = conn.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![incremental]),
        1,
    );
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    assert_eq!(retention_ms(&mut conn, topic).as_deref(), Some("86400000"));
    let resp = conn.call(
        &AlterConfigsRequest::default().with_resources(vec![legacy]),
        2,
    );
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
}

/// A JoinGroup of `client_id` (and static `instance`), then the leader's SyncGroup with the
/// member id it was given (if it joined); returns (join error, member id length, sync error),
/// or `None` for a connection the broker closed instead of answering.
fn join_and_sync(
    b: &Broker,
    group: &str,
    client_id: &str,
    instance: Option<&str>,
    join_version: i16,
    sync_version: i16,
) -> Option<(i16, usize, Option<i16>)> {
    let mut conn = Conn::connect(b.shard_addr(0));
    let header = RequestHeader::default()
        .with_request_api_key(JoinGroupRequest::KEY)
        .with_request_api_version(join_version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(100)
        .with_group_instance_id(instance.map(|i| StrBytes::from_string(i.to_string())))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))]);
    let mut body = BytesMut::new();
    header
        .encode(
            &mut body,
            kafka_protocol::messages::ApiKey::JoinGroup.request_header_version(join_version),
        )
        .unwrap();
    join.encode(&mut body, join_version).unwrap();
    let mut frame = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    conn.stream.write_all(&frame).unwrap();
    let mut reply = conn.recv_frame()?;
    assert_eq!(reply.get_i32(), 1, "correlation id");
    if join_version >= 6 {
        assert_eq!(reply.get_u8(), 0, "no tagged fields in the response header");
    }
    let joined = JoinGroupResponse::decode(&mut reply, join_version).unwrap();
    if joined.error_code != 0 {
        return Some((joined.error_code, joined.member_id.len(), None));
    }
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_group_instance_id(instance.map(|i| StrBytes::from_string(i.to_string())))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(joined.member_id.clone())
            .with_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]))]);
    let id = conn.send(&sync, sync_version);
    let mut reply = conn.recv_frame()?;
    assert_eq!(reply.get_i32(), id, "correlation id");
    if sync_version >= 4 {
        assert_eq!(reply.get_u8(), 0, "no tagged fields in the response header");
    }
    let synced = SyncGroupResponse::decode(&mut reply, sync_version).unwrap();
    Some((
        joined.error_code,
        joined.member_id.len(),
        Some(synced.error_code),
    ))
}

/// Finding 2: a member id is `<client id or instance id>-<uuid>`. With a client id (or a
/// static instance id) at the 32,767-byte string limit it came out 32,804 bytes long: a
/// JoinGroup v0–5 reply could not be encoded (ERROR "failed to encode a response", connection
/// closed on a well-formed request), and from v6 the member got an id that the broker's own
/// decoders then refused in its SyncGroup, Heartbeat and LeaveGroup (connection closed).
#[test]
fn member_ids_from_longest_client_and_instance_ids_stay_usable() {
    let b = Broker::start(
        "finding-long-member-id",
        &["--cores", "1", "--group-initial-rebalance-delay-ms", "0"],
    );
    let longest = "c".repeat(32_767);
    // (group, static instance id, JoinGroup version, SyncGroup version, expected join error):
    // a dynamic member from v4 on first gets MEMBER_ID_REQUIRED, with its id.
    for (group, instance, join_version, sync_version, join_expected) in [
        ("long-client-v3", None, 3, 3, 0),
        ("long-client-v5", None, 5, 3, MEMBER_ID_REQUIRED),
        ("long-instance-v5", Some("i".repeat(32_767)), 5, 3, 0),
        ("long-instance-v9", Some("i".repeat(32_767)), 9, 5, 0),
    ] {
        let (join_error, member_id_len, sync_error) = join_and_sync(
            &b,
            group,
            &longest,
            instance.as_deref(),
            join_version,
            sync_version,
        )
        .unwrap_or_else(|| {
            panic!("{group}: the broker closed the connection instead of answering")
        });
        assert_eq!(
            join_error, join_expected,
            "{group}: JoinGroup v{join_version}"
        );
        assert!(
            member_id_len <= 32_767,
            "{group}: member id of {member_id_len} bytes"
        );
        if join_expected == 0 {
            assert_eq!(sync_error, Some(0), "{group}: SyncGroup v{sync_version}");
        }
    }
    assert!(
        !b.stderr_text().contains("failed to encode"),
        "{}",
        b.stderr_tail(10)
    );
}

/// Finding 3: DeleteTopics of a topic with thousands of partitions answered only after every
/// shard had closed and removed each of its partitions, one after another, with the
/// controller's lock held: 5–6 s for 3,000 partitions on 2 shards, over 10 s under the
/// fuzzer. Improved on main by d2fa093 (directories renamed aside, files deleted in the
/// background): 2.5–3.3 s since; then the stale logs closed together instead of one after
/// another (their final syncs share flush cycles). Ignored in the suite: a wall-clock bound
/// on a shared machine is a benchmark, not a test — run it with `--ignored`.
#[test]
#[ignore = "a wall-clock bound: run with --ignored (FUZZING.md finding 3)"]
fn deleting_a_topic_of_many_partitions_keeps_the_shards_serving() {
    let b = Broker::start("finding-delete-many", &["--cores", "2"]);
    let topic = "many-partitions";
    let mut conn = Conn::connect(b.shard_addr(0));
    create_topic(&mut conn, topic, 3_000);
    let deleter = std::thread::spawn({
        let addr = b.shard_addr(0);
        move || {
            let mut conn = Conn::connect(addr);
            let started = Instant::now();
            let r = conn.call(
                &DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topic_names(vec![TopicName(StrBytes::from_static_str(topic))]),
                1,
            );
            (started.elapsed(), r.responses[0].error_code)
        }
    });
    // Meanwhile, other clients of both shards: ApiVersions round trips, the slowest measured.
    let mut bystanders = [
        Conn::connect(b.shard_addr(0)),
        Conn::connect(b.shard_addr(1)),
    ];
    let mut slowest = Duration::ZERO;
    while !deleter.is_finished() {
        for c in &mut bystanders {
            let started = Instant::now();
            c.call(&ApiVersionsRequest::default(), 3);
            slowest = slowest.max(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (took, error) = deleter.join().unwrap();
    eprintln!("DeleteTopics of 3,000 partitions answered in {took:?}; other clients waited up to {slowest:?}");
    assert_eq!(error, 0);
    assert!(
        took < ANSWER_WITHIN,
        "DeleteTopics took {took:?}; other clients waited up to {slowest:?}"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "other clients waited {slowest:?} during the deletion"
    );
}

/// Finding 4: ListOffsets naming one partition thousands of times ran as many timestamp
/// lookups, each an index lookup and an O_DIRECT scan of the segment (and, for a partition of
/// another shard, a cross-shard round trip): no reply within 10 s under the fuzzer. Kafka
/// answers every copy of a duplicated partition with INVALID_REQUEST and looks none up.
#[test]
fn duplicated_list_offsets_partitions_are_refused_at_once() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
    let b = Broker::start("finding-dup-list-offsets", &["--cores", "2"]);
    let topic = "dup-offsets";
    let mut conn = Conn::connect(b.shard_addr(0));
    create_topic(&mut conn, topic, 2);
    for partition in [0, 1] {
        for _ in 0..50 {
            harness::kafka::produce(&mut conn, topic, partition, &[b"one", b"two"]);
        }
    }
    let request = |partitions: Vec<ListOffsetsPartition>| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partitions(partitions)])
    };
    for partition in [0, 1] {
        let by_time = ListOffsetsPartition::default()
            .with_partition_index(partition)
            .with_timestamp(0);
        let started = Instant::now();
        let resp = conn.call(&request(vec![by_time.clone(); COPIES]), 3);
        let took = started.elapsed();
        let parts = &resp.topics[0].partitions;
        assert_eq!(parts.len(), COPIES);
        assert!(
            parts.iter().all(|p| p.error_code == INVALID_REQUEST),
            "partition {partition}: {:?}",
            parts[0]
        );
        eprintln!("ListOffsets of {COPIES} copies of partition {partition} answered in {took:?}");
        // Named once, it is looked up.
        let resp = conn.call(&request(vec![by_time]), 3);
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, 0), "{p:?}");
    }
}

/// Finding 5: a stored idempotent batch whose sequences cross i32::MAX (base sequence
/// i32::MAX - 1, three records) panicked its shard with "attempt to add with overflow" when
/// the partition was reopened and its producer state rebuilt from the log's tail (the produce
/// path already wrapped). Release builds wrap silently; the panic needs overflow checks (the
/// fuzz build, or `SLUICE_BIN` pointing at a debug binary), and the harness fails a test whose
/// broker printed "panicked".
#[test]
fn producer_state_rebuilt_from_a_batch_whose_sequence_wraps() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ProduceRequest;
    use sluice_client::records::{encode_batch_as, Compression, NewRecord, ProducerFields};
    let mut b = Broker::start("finding-sequence-wrap", &["--cores", "1"]);
    let topic = "sequence-wrap";
    let mut conn = Conn::connect(b.shard_addr(0));
    create_topic(&mut conn, topic, 1);
    // A producer id the broker never handed out, as the fuzzer's extreme values are.
    let (producer_id, producer_epoch) = (i64::MAX, 0);
    let records: Vec<NewRecord> = (0..3)
        .map(|_| NewRecord {
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000,
        })
        .collect();
    // A base sequence of i32::MAX - 1: the batch's last sequence wraps past i32::MAX.
    let producer = ProducerFields {
        id: producer_id,
        epoch: producer_epoch,
        base_sequence: i32::MAX - 1,
        transactional: false,
    };
    let batch = encode_batch_as(&records, Compression::None, producer).unwrap();
    let resp = conn.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]),
        9,
    );
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    // Reopen: the producer state is rebuilt from the stored batch.
    b.restart();
    let mut conn = Conn::connect(b.shard_addr(0));
    let meta = conn.call(
        &kafka_protocol::messages::MetadataRequest::default().with_topics(None),
        12,
    );
    assert!(meta
        .topics
        .iter()
        .any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)));
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(20));
}

/// Appends `records` to `group`'s `__consumer_offsets` partition as one plain batch, produced
/// with Kafka's admin client id (the one client allowed to write an internal topic, as in
/// Kafka): records from another writer, as a restart replays them.
fn append_as_admin(b: &Broker, group: &str, records: Vec<(Bytes, Option<Bytes>)>) {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ProduceRequest;
    use sluice_client::records::{encode_batch, Compression, NewRecord};
    let records: Vec<NewRecord> = records
        .into_iter()
        .map(|(k, v)| NewRecord {
            key: Some(k),
            value: v,
            headers: Vec::new(),
            timestamp: 1_700_000_000_000,
        })
        .collect();
    let batch = encode_batch(&records, Compression::None).unwrap();
    let mut admin = Conn::connect(b.bootstrap_addr()).with_client_id("__admin_client");
    let resp = admin.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("__consumer_offsets")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(sluice::groups::offsets_partition_for(group))
                    .with_records(Some(batch))])]),
        9,
    );
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{p:?}");
}

/// Internal-records finding R1 (FUZZING.md; found by reading the decoders while writing the
/// `offsets_records` fuzz target): a KIP-848 member record in `__consumer_offsets` whose
/// client id is past Kafka's 32,767-byte string limit was replayed as it was. When the other
/// member's session ran out, the group, left with classic members only, was downgraded and its
/// classic group value written, whose i16-length string writer asserts the length: the
/// coordinator's timer task panicked and the shard, and with it the broker, ended (exit 70).
/// Such a record can come from a damaged log, another writer, or any producer using Kafka's
/// admin client id (allowed to write internal topics, as in Kafka). Now the record is refused
/// at replay, counted and skipped, as Kafka's readers refuse it.
#[test]
fn a_replayed_member_with_a_client_id_past_kafkas_limit_does_not_end_the_broker() {
    use sluice::groups::consumer::records::{
        key, value, ClassicMetadata, ConsumerKey, ConsumerValue, MemberMetadata,
    };
    let mut b = Broker::start("finding-long-client-id", &["--cores", "2"]);
    let group = "replayed-long-client-id";
    // FindCoordinator creates `__consumer_offsets`.
    drop(harness::kafka::coordinator(&b, group));
    let member = |client_id: String, session_timeout_ms: i32| {
        Some(value(&ConsumerValue::Member(MemberMetadata {
            client_id,
            client_host: "/127.0.0.1".into(),
            topic_names: vec!["t".into()],
            rebalance_timeout_ms: 1_000,
            classic: Some(ClassicMetadata {
                session_timeout_ms,
                protocols: vec![("range".into(), Bytes::new())],
            }),
            ..MemberMetadata::default()
        })))
    };
    append_as_admin(
        &b,
        group,
        vec![
            (
                key(group, &ConsumerKey::Metadata),
                Some(value(&ConsumerValue::Metadata { epoch: 1 })),
            ),
            // Expires at once after the restart, leaving only the classic member below.
            (
                key(group, &ConsumerKey::Member("a".into())),
                member("c".into(), 1),
            ),
            (
                key(group, &ConsumerKey::Member("b".into())),
                member("x".repeat(32_768), 600_000),
            ),
        ],
    );
    // Replayed at start-up; member a's 1 ms session runs out on the coordinator's first timer.
    b.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b
        .stderr_text()
        .contains("skipped undecodable __consumer_offsets records")
    {
        assert!(b.is_running(), "the broker ended: {}", b.stderr_tail(20));
        assert!(
            Instant::now() < deadline,
            "the record was not refused at replay: {}",
            b.stderr_tail(20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past member a's session: the group's timer has run; every shard still answers.
    std::thread::sleep(Duration::from_millis(500));
    for shard in 0..2 {
        let mut conn = Conn::connect(b.shard_addr(shard));
        let r = conn.call(&ApiVersionsRequest::default(), 3);
        assert_eq!(r.error_code, 0);
    }
    assert!(b.is_running(), "{}", b.stderr_tail(20));
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(20));
}

/// Internal-records finding R3 (FUZZING.md): a classic group record in `__consumer_offsets`
/// with generation i32::MAX was replayed as it was, and the next rebalance's `generation += 1`
/// overflowed: a panic where overflow checks are on (the shard, and with it the broker, ended),
/// generation i32::MIN in a release build. Now every epoch and generation bump saturates
/// (`groups::next_epoch`): the join completes at generation i32::MAX.
#[test]
fn a_replayed_generation_at_i32_max_is_not_bumped_past_it() {
    use sluice::groups::records::{group_key, group_value};
    use sluice::groups::state::GroupSnapshot;
    const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    let mut b = Broker::start(
        "finding-generation-max",
        &["--cores", "2", "--group-initial-rebalance-delay-ms", "0"],
    );
    let group = "replayed-generation-max";
    drop(harness::kafka::coordinator(&b, group));
    // An empty group, as Kafka writes one, at the last generation an i32 holds.
    let snapshot = GroupSnapshot {
        protocol_type: "consumer".into(),
        generation: i32::MAX,
        protocol: None,
        leader: None,
        state_timestamp_ms: 1_700_000_000_000,
        members: Vec::new(),
    };
    append_as_admin(
        &b,
        group,
        vec![(group_key(group), Some(group_value(&snapshot)))],
    );
    b.restart();
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(1_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let r = loop {
        // v3: the member id is assigned at once, so one join completes the rebalance.
        let r: JoinGroupResponse = harness::kafka::coordinator(&b, group).call(&join, 3);
        if r.error_code != COORDINATOR_LOAD_IN_PROGRESS {
            break r;
        }
        assert!(Instant::now() < deadline, "the group never loaded");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.generation_id, i32::MAX, "{r:?}");
    assert!(b.is_running(), "{}", b.stderr_tail(20));
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(20));
}
