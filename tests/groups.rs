//! Consumer groups over raw TCP: coordinator placement, the error codes of the classic protocol,
//! the group limits (group.max.size, offset.metadata.max.bytes), committed offsets and group
//! metadata surviving a restart, deletion, and bad input that must not disturb other groups.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use bytes::Bytes;
use harness::kafka::{coordinator, s, Conn};
use harness::Broker;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_MAX_SIZE_REACHED: i16 = 81;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

const TOPIC: &str = "orders";
const FLAGS: &[&str] = &[
    "--cores",
    "2",
    "--group-initial-rebalance-delay-ms",
    "50",
    "--group-min-session-timeout-ms",
    "1000",
];

fn create_topic(b: &Broker, partitions: i32) {
    let mut c = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut c, TOPIC, partitions);
}

/// A consumer-protocol subscription (version 0) to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    Bytes::from(sluice_client::consumer_protocol::encode_subscription(
        topics,
    ))
}

fn join_request(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(5_000)
        .with_rebalance_timeout_ms(5_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(&[TOPIC]))])
}

/// Join (v5, through MEMBER_ID_REQUIRED) and sync as the only member: (member id, generation).
fn join_and_sync(c: &mut Conn, group: &str, assignment: &[u8]) -> (String, i32) {
    let r = c.call(&join_request(group, ""), 5);
    assert_eq!(r.error_code, MEMBER_ID_REQUIRED, "{r:?}");
    let member = r.member_id.to_string();
    let r = c.call(&join_request(group, &member), 5);
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(r.leader.as_str(), member);
    let generation = r.generation_id;
    let r = c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(&member))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::copy_from_slice(assignment))]),
        3,
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(&r.assignment[..], assignment);
    (member, generation)
}

fn heartbeat(c: &mut Conn, group: &str, member: &str, generation: i32) -> i16 {
    c.call(
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(s(member))
            .with_generation_id(generation),
        3,
    )
    .error_code
}

/// Commit `(partition, offset, metadata)` as a member or (generation -1, member "") standalone;
/// the error code of each partition.
fn commit(
    c: &mut Conn,
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    offsets: &[(i32, i64, &str)],
) -> Vec<i16> {
    let r = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(p, o, m)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                                .with_committed_metadata(Some(s(m)))
                        })
                        .collect(),
                )]),
        8,
    );
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// Committed (offset, metadata) of `partitions` with OffsetFetch `version`.
fn fetch(c: &mut Conn, group: &str, partitions: &[i32], version: i16) -> Vec<(i64, String)> {
    if version >= 8 {
        let r = c.call(
            &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partition_indexes(partitions.to_vec())]))]),
            version,
        );
        assert_eq!(r.groups[0].error_code, NONE, "{r:?}");
        return r.groups[0].topics[0]
            .partitions
            .iter()
            .map(|p| {
                assert_eq!(p.error_code, NONE);
                (
                    p.committed_offset,
                    p.metadata.as_deref().unwrap_or("").to_string(),
                )
            })
            .collect();
    }
    let r = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(partitions.to_vec())])),
        version,
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, NONE);
            (
                p.committed_offset,
                p.metadata.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn coordinator_placement_versions_and_internal_topic() {
    let b = Broker::start("groups-placement", FLAGS);
    let mut c = Conn::connect(b.bootstrap_addr());
    let av = c.call(&ApiVersionsRequest::default(), 3);
    for (key, min, max) in [
        (10, 0, 6),
        (11, 0, 9),
        (14, 0, 5),
        (12, 0, 4),
        (13, 0, 5),
        (8, 2, 10),
        (9, 1, 10),
        (16, 0, 5),
        (15, 0, 5),
        (42, 0, 2),
        (47, 0, 0),
        (68, 0, 1),
        (69, 0, 1),
    ] {
        let k = av.api_keys.iter().find(|k| k.api_key == key);
        let k = k.unwrap_or_else(|| panic!("api {key} not advertised"));
        assert_eq!((k.min_version, k.max_version), (min, max), "api {key}");
    }

    // FindCoordinator creates __consumer_offsets; it is internal in Metadata.
    let groups = ["a", "hello", "polygenelubricants", "consumers-1", ""];
    for version in 0..=3 {
        for g in groups {
            let r = c.call(&FindCoordinatorRequest::default().with_key(s(g)), version);
            assert_eq!(r.error_code, NONE, "v{version} {g:?}: {r:?}");
        }
    }
    let md = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s("__consumer_offsets"))))
        ])),
        12,
    );
    let t = &md.topics[0];
    assert_eq!(t.error_code, NONE);
    assert!(t.is_internal);
    assert_eq!(t.partitions.len(), 50);
    let r = c.call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(groups.iter().map(|g| s(g)).collect()),
        4,
    );
    for (g, coord) in groups.iter().zip(&r.coordinators) {
        assert_eq!(coord.error_code, NONE);
        let p = sluice::groups::offsets_partition_for(g);
        let owner = t
            .partitions
            .iter()
            .find(|x| x.partition_index == p)
            .unwrap();
        assert_eq!(
            coord.node_id, owner.leader_id,
            "group {g:?} on partition {p}"
        );
        assert_eq!(
            coord.port,
            i32::from(b.ports().shards[coord.node_id.0 as usize])
        );
    }
    // Kafka compacts it; without compaction here it must at least never expire by time/size.
    let cfg = c.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("__consumer_offsets"))
                .with_configuration_keys(Some(vec![
                    s("cleanup.policy"),
                    s("retention.ms"),
                    s("retention.bytes"),
                ])),
        ]),
        1,
    );
    let values: Vec<(String, String)> = cfg.results[0]
        .configs
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.value.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("cleanup.policy", "compact"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
    ] {
        assert!(
            values.iter().any(|(k, v)| k == want.0 && v == want.1),
            "{want:?} not in {values:?}"
        );
    }
    // Transactional ids have coordinators too (tests/transactions.rs).
    let r = c.call(
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("txn")]),
        4,
    );
    assert_eq!(r.coordinators[0].error_code, NONE);
}

#[test]
fn membership_error_codes() {
    let b = Broker::start("groups-membership", FLAGS);
    create_topic(&b, 2);
    let g = "members";
    let mut c = coordinator(&b, g);

    // v0–3: a member id at once, no MEMBER_ID_REQUIRED.
    let r = c.call(&join_request("old-client", ""), 3);
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert!(!r.member_id.is_empty());
    assert_eq!(r.generation_id, 1);

    let (member, generation) = join_and_sync(&mut c, g, b"assignment-1");
    assert_eq!(heartbeat(&mut c, g, &member, generation), NONE);
    assert_eq!(
        heartbeat(&mut c, g, "nobody", generation),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut c, g, &member, generation + 7),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        heartbeat(&mut c, "no-such-group", &member, 1),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(heartbeat(&mut c, "", &member, 1), INVALID_GROUP_ID);

    // Session timeout outside the broker's bounds.
    let r = c.call(&join_request(g, "").with_session_timeout_ms(10), 5);
    assert_eq!(r.error_code, INVALID_SESSION_TIMEOUT);
    // Another protocol type can't join a consumer group.
    let r = c.call(&join_request(g, "").with_protocol_type(s("connect")), 3);
    assert_eq!(r.error_code, INCONSISTENT_GROUP_PROTOCOL);
    // Static membership: a second incarnation fences the first.
    let sg = "static";
    let r = c.call(
        &join_request(sg, "").with_group_instance_id(Some(s("i-1"))),
        5,
    );
    assert_eq!(
        r.error_code, NONE,
        "static members need no MEMBER_ID_REQUIRED: {r:?}"
    );
    let first = r.member_id.to_string();
    let r = c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(sg)))
            .with_generation_id(r.generation_id)
            .with_member_id(s(&first))
            .with_group_instance_id(Some(s("i-1"))),
        3,
    );
    assert_eq!(r.error_code, NONE);
    let r = c.call(
        &join_request(sg, "").with_group_instance_id(Some(s("i-1"))),
        5,
    );
    assert_eq!(r.error_code, NONE);
    assert_ne!(r.member_id.to_string(), first);
    let r = c.call(
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s(sg)))
            .with_member_id(s(&first))
            .with_group_instance_id(Some(s("i-1")))
            .with_generation_id(1),
        3,
    );
    assert_eq!(r.error_code, FENCED_INSTANCE_ID);

    // A second member makes the first rejoin.
    let r = c.call(&join_request(g, ""), 5);
    assert_eq!(r.error_code, MEMBER_ID_REQUIRED);
    let second = r.member_id.to_string();
    let mut c2 = coordinator(&b, g);
    let req = join_request(g, &second);
    let id = c2.send(&req, 5);
    // The join of `second` is parked until `member` rejoins.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let code = heartbeat(&mut c, g, &member, generation);
        if code == REBALANCE_IN_PROGRESS {
            break;
        }
        assert_eq!(code, NONE);
        assert!(std::time::Instant::now() < deadline, "no rebalance started");
    }
    let r = c.call(&join_request(g, &member), 5);
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.generation_id, generation + 1);
    let r2 = c2.recv::<JoinGroupRequest>(id, 5);
    assert_eq!(r2.error_code, NONE);
    assert_eq!(r2.generation_id, generation + 1);
    let leader_members = if r.leader.as_str() == member {
        r.members.len()
    } else {
        r2.members.len()
    };
    assert_eq!(leader_members, 2);

    // LeaveGroup: v0 single member, v3 batched with a per-member error.
    let r = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(&member)),
        0,
    );
    assert_eq!(r.error_code, NONE);
    let r = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_members(vec![
                MemberIdentity::default().with_member_id(s(&second)),
                MemberIdentity::default().with_member_id(s("nobody")),
            ]),
        3,
    );
    assert_eq!(r.error_code, NONE);
    assert_eq!(
        r.members.iter().map(|m| m.error_code).collect::<Vec<_>>(),
        vec![NONE, UNKNOWN_MEMBER_ID]
    );

    // DescribeGroups and ListGroups see it empty now.
    let r = c.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(g)), GroupId(s("none"))]),
        5,
    );
    assert_eq!(r.groups[0].group_state.as_str(), "Empty");
    assert_eq!(r.groups[0].protocol_type.as_str(), "consumer");
    assert_eq!(r.groups[1].group_state.as_str(), "Dead");
    assert_eq!(r.groups[1].error_code, NONE);
    let r = c.call(
        &ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
        4,
    );
    assert!(r.groups.iter().any(|x| x.group_id.as_str() == g), "{r:?}");
    assert!(r.groups.iter().all(|x| x.group_state.as_str() == "Empty"));
    assert!(b.panics().is_empty());
}

#[test]
fn limits_commits_and_deletion() {
    let b = Broker::start(
        "groups-limits",
        &[
            FLAGS,
            &["--group-max-size", "1", "--offset-metadata-max-bytes", "16"],
        ]
        .concat(),
    );
    create_topic(&b, 2);
    let g = "limited";
    let mut c = coordinator(&b, g);
    let (member, generation) = join_and_sync(&mut c, g, b"a");
    // group.max.size = 1: a second member is refused.
    let r = c.call(&join_request(g, ""), 3);
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED, "{r:?}");

    // offset.metadata.max.bytes = 16; unknown topics and partitions get their own codes.
    let codes = commit(
        &mut c,
        g,
        &member,
        generation,
        TOPIC,
        &[
            (0, 10, "sixteen-bytes-ok"),
            (1, 20, "seventeen-bytes!!"),
            (9, 1, ""),
        ],
    );
    assert_eq!(
        codes,
        vec![NONE, OFFSET_METADATA_TOO_LARGE, UNKNOWN_TOPIC_OR_PARTITION]
    );
    let codes = commit(
        &mut c,
        g,
        &member,
        generation,
        "no-such-topic",
        &[(0, 1, "")],
    );
    assert_eq!(codes, vec![UNKNOWN_TOPIC_OR_PARTITION]);
    // A stale generation or an outsider can't commit; a standalone commit into a live group
    // is refused.
    assert_eq!(
        commit(&mut c, g, &member, generation - 1, TOPIC, &[(0, 99, "")]),
        vec![ILLEGAL_GENERATION]
    );
    assert_eq!(
        commit(&mut c, g, "", -1, TOPIC, &[(0, 99, "")]),
        vec![UNKNOWN_MEMBER_ID]
    );
    for version in [1, 3, 5, 7, 8] {
        assert_eq!(
            fetch(&mut c, g, &[0, 1], version),
            vec![(10, "sixteen-bytes-ok".to_string()), (-1, String::new())],
            "OffsetFetch v{version}"
        );
    }

    // A standalone consumer (generation -1) in another group is unaffected by all of this.
    let other = "standalone";
    let mut o = coordinator(&b, other);
    assert_eq!(
        commit(&mut o, other, "", -1, TOPIC, &[(1, 5, "m")]),
        vec![NONE]
    );
    assert_eq!(fetch(&mut o, other, &[1], 8), vec![(5, "m".to_string())]);

    // OffsetDelete: subscribed topics are protected while the group has members.
    let r = c.call(
        &OffsetDeleteRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0)
                ])]),
        0,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        GROUP_SUBSCRIBED_TO_TOPIC
    );

    // DeleteGroups: refused while non-empty; then deleted; then gone.
    let del = |c: &mut Conn| {
        c.call(
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(g))]),
            2,
        )
        .results[0]
            .error_code
    };
    assert_eq!(del(&mut c), NON_EMPTY_GROUP);
    let r = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(&member)),
        1,
    );
    assert_eq!(r.error_code, NONE);
    assert_eq!(del(&mut c), NONE);
    assert_eq!(del(&mut c), GROUP_ID_NOT_FOUND);
    assert_eq!(fetch(&mut c, g, &[0], 8), vec![(-1, String::new())]);
    assert_eq!(fetch(&mut o, other, &[1], 8), vec![(5, "m".to_string())]);
    assert!(b.panics().is_empty());
}

#[test]
fn offsets_and_group_state_survive_restart() {
    let mut b = Broker::start("groups-restart", FLAGS);
    create_topic(&b, 2);
    let g = "durable";
    let mut c = coordinator(&b, g);
    let (member, generation) = join_and_sync(&mut c, g, b"parts-0-1");
    assert_eq!(
        commit(
            &mut c,
            g,
            &member,
            generation,
            TOPIC,
            &[(0, 41, "x"), (1, 42, "")]
        ),
        vec![NONE, NONE]
    );
    // A later commit of the same partition wins on replay.
    assert_eq!(
        commit(&mut c, g, &member, generation, TOPIC, &[(0, 43, "y")]),
        vec![NONE]
    );
    let standalone = "standalone-durable";
    let mut o = coordinator(&b, standalone);
    assert_eq!(
        commit(&mut o, standalone, "", -1, TOPIC, &[(1, 7, "")]),
        vec![NONE]
    );
    drop((c, o));

    b.restart();
    let mut c = coordinator(&b, g);
    assert_eq!(
        fetch(&mut c, g, &[0, 1], 8),
        vec![(43, "y".to_string()), (42, String::new())]
    );
    // The group came back Stable with its member, which carries on with its generation.
    let r = c.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(g))]),
        5,
    );
    assert_eq!(r.groups[0].group_state.as_str(), "Stable", "{r:?}");
    assert_eq!(r.groups[0].members.len(), 1);
    assert_eq!(&r.groups[0].members[0].member_assignment[..], b"parts-0-1");
    assert_eq!(heartbeat(&mut c, g, &member, generation), NONE);
    let mut o = coordinator(&b, standalone);
    assert_eq!(fetch(&mut o, standalone, &[1], 5), vec![(7, String::new())]);

    // Deletion survives a restart too.
    let r = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(&member)),
        0,
    );
    assert_eq!(r.error_code, NONE);
    let r = c.call(
        &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(g))]),
        2,
    );
    assert_eq!(r.results[0].error_code, NONE);
    drop((c, o));
    b.restart();
    let mut c = coordinator(&b, g);
    assert_eq!(
        fetch(&mut c, g, &[0, 1], 8),
        vec![(-1, String::new()), (-1, String::new())]
    );
    assert!(b.panics().is_empty());
}

#[test]
fn bad_input_leaves_other_groups_alone() {
    let b = Broker::start("groups-bad-input", FLAGS);
    create_topic(&b, 1);
    let mut o = coordinator(&b, "bystander");
    assert_eq!(
        commit(&mut o, "bystander", "", -1, TOPIC, &[(0, 3, "")]),
        vec![NONE]
    );

    let g = "garbage";
    let mut c = coordinator(&b, g);
    // Subscription bytes that are not a consumer-protocol subscription; a protocol list of
    // many entries; a JoinGroup for a group id nobody knows with a made-up member id.
    let junk = JoinGroupRequest::default()
        .with_group_id(GroupId(s(g)))
        .with_session_timeout_ms(5_000)
        .with_rebalance_timeout_ms(5_000)
        .with_member_id(s(""))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            (0..200)
                .map(|i| {
                    JoinGroupRequestProtocol::default()
                        .with_name(s(&format!("p{i}")))
                        .with_metadata(Bytes::from(vec![0xff; 64]))
                })
                .collect(),
        );
    let r = c.call(&junk, 3);
    assert_eq!(r.error_code, NONE);
    let r = c.call(&join_request("unknown-group", "made-up-id"), 5);
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
    let r = c.call(&join_request("", ""), 5);
    assert_eq!(r.error_code, INVALID_GROUP_ID);
    let r = c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_generation_id(-5)
            .with_member_id(s("x")),
        3,
    );
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
    // OffsetDelete of a group with garbage subscriptions works (it has no offsets).
    let r = c.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(g))]),
        5,
    );
    assert_eq!(r.groups[0].members.len(), 1);
    assert_eq!(
        fetch(&mut o, "bystander", &[0], 8),
        vec![(3, String::new())]
    );
    assert!(b.panics().is_empty());
}

#[test]
fn expired_offsets_and_their_empty_group_are_removed_durably() {
    let mut b = Broker::start(
        "groups-retention",
        &[FLAGS, &["--offsets-retention-check-interval-ms", "50"]].concat(),
    );
    create_topic(&b, 2);
    let g = "short-lived";
    let mut c = coordinator(&b, g);
    // OffsetCommit v2–4 may carry its own retention (the old per-commit expiry).
    let r = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_generation_id_or_member_epoch(-1)
            .with_retention_time_ms(100)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(12)])]),
        2,
    );
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
    // A commit without retention stays (default retention: 7 days).
    let kept = "long-lived";
    let mut k = coordinator(&b, kept);
    assert_eq!(
        commit(&mut k, kept, "", -1, TOPIC, &[(1, 8, "")]),
        vec![NONE]
    );
    assert_eq!(fetch(&mut c, g, &[0], 8), vec![(12, String::new())]);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fetch(&mut c, g, &[0], 8) != vec![(-1, String::new())] {
        assert!(std::time::Instant::now() < deadline, "offset never expired");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let listed = |c: &mut Conn| {
        c.call(&ListGroupsRequest::default(), 4)
            .groups
            .iter()
            .map(|x| x.group_id.to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        !listed(&mut c).contains(&g.to_string()),
        "the empty group went with its offsets"
    );
    drop((c, k));
    b.restart();
    let mut c = coordinator(&b, g);
    assert_eq!(fetch(&mut c, g, &[0], 8), vec![(-1, String::new())]);
    let mut k = coordinator(&b, kept);
    assert_eq!(fetch(&mut k, kept, &[1], 8), vec![(8, String::new())]);
    assert!(b.panics().is_empty());
}

/// A JoinGroup parked on the coordinator for longer than a cross-shard call's deadline
/// (`SHARD_CALL_TIMEOUT_MS`, 5 s) is answered normally when it was forwarded from another
/// shard: the deadline is on the coordinator shard's liveness, not on how long its answer takes.
#[test]
fn a_forwarded_join_parked_longer_than_the_cross_shard_deadline_is_answered() {
    let b = Broker::start("groups-long-forward", FLAGS);
    create_topic(&b, 2);
    let g = "slow-rebalance";
    let mut at_coordinator = coordinator(&b, g);
    let join = |member: &str| {
        join_request(g, member)
            .with_session_timeout_ms(20_000)
            .with_rebalance_timeout_ms(7_000)
    };
    // The first member joins (v3: a member id at once) and syncs, then goes quiet.
    let r = at_coordinator.call(&join(""), 3);
    assert_eq!(r.error_code, NONE, "{r:?}");
    let first = r.member_id.to_string();
    let r = at_coordinator.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_generation_id(r.generation_id)
            .with_member_id(s(&first)),
        3,
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    // A second member joins through the other shard: its JoinGroup waits on the coordinator
    // until the first member's rebalance timeout (7 s) removes it.
    let coordinator_node = {
        let mut c = Conn::connect(b.bootstrap_addr());
        let fc = c.call(&FindCoordinatorRequest::default().with_key(s(g)), 0);
        fc.node_id.0 as usize
    };
    let mut elsewhere = Conn::connect(b.shard_addr(1 - coordinator_node));
    let forwarded_before = b.metric_sum("sluice_forwarded_requests_total", &[]);
    let asked = std::time::Instant::now();
    let r = elsewhere.call(&join(""), 3);
    let waited = asked.elapsed();
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(r.generation_id, 2, "{r:?}");
    assert!(
        waited >= std::time::Duration::from_secs(6),
        "parked past the cross-shard deadline: {waited:?}"
    );
    assert!(b.metric_sum("sluice_forwarded_requests_total", &[]) > forwarded_before);
    assert!(b.panics().is_empty());
}
