//! KIP-848 consumer groups over raw TCP: ConsumerGroupHeartbeat's epochs and error paths
//! (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID, GROUP_ID_NOT_FOUND,
//! INVALID_REQUEST, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION), a partition reaching its
//! new owner only after the old one released it, ConsumerGroupDescribe, ListGroups v5 types,
//! DescribeGroups of a consumer group, OffsetCommit/OffsetFetch v9 member-epoch checks, and
//! the classic/consumer type rules of one group id.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use bytes::Bytes;
use harness::kafka::Conn;
use harness::Broker;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const NONE: i16 = 0;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_REQUEST: i16 = 42;
const GROUP_ID_NOT_FOUND: i16 = 69;
const FENCED_MEMBER_EPOCH: i16 = 110;
const UNRELEASED_INSTANCE_ID: i16 = 111;
const UNSUPPORTED_ASSIGNOR: i16 = 112;
const STALE_MEMBER_EPOCH: i16 = 113;
const INVALID_REGULAR_EXPRESSION: i16 = 128;

const TOPIC: &str = "orders";
const FLAGS: &[&str] = &[
    "--cores",
    "2",
    "--group-consumer-heartbeat-interval-ms",
    "200",
    "--group-consumer-session-timeout-ms",
    "3000",
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn coordinator(b: &Broker, group: &str) -> Conn {
    let mut c = Conn::connect(b.bootstrap_addr());
    let r = c.call(&FindCoordinatorRequest::default().with_key(s(group)), 0);
    assert_eq!(r.error_code, NONE, "{r:?}");
    Conn::connect(b.shard_addr(r.node_id.0 as usize))
}

fn topic_id(b: &Broker, topic: &str) -> uuid::Uuid {
    let mut c = Conn::connect(b.shard_addr(0));
    let r: MetadataResponse = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(s(topic).into())),
        ])),
        12,
    );
    r.topics[0].topic_id
}

fn join(member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| s(t).into()).collect()))
        .with_topic_partitions(Some(Vec::new()))
}

fn beat(
    member: &str,
    epoch: i32,
    owned: &[(uuid::Uuid, Vec<i32>)],
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_topic_partitions(Some(
            owned
                .iter()
                .map(|(id, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_partitions(ps.clone())
                })
                .collect(),
        ))
}

fn hb(
    c: &mut Conn,
    group: &str,
    r: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    c.call(&r.with_group_id(GroupId(s(group))), 1)
}

fn owned(r: &ConsumerGroupHeartbeatResponse) -> Vec<(uuid::Uuid, Vec<i32>)> {
    r.assignment
        .as_ref()
        .map(|a| {
            a.topic_partitions
                .iter()
                .map(|t| (t.topic_id, t.partitions.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn count(o: &[(uuid::Uuid, Vec<i32>)]) -> usize {
    o.iter().map(|(_, p)| p.len()).sum()
}

#[test]
fn heartbeat_epochs_revocation_and_errors() {
    let b = Broker::start("cg-heartbeat", FLAGS);
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 6);
    let id = topic_id(&b, TOPIC);
    let g = "kip848-a";
    let mut c = coordinator(&b, g);

    // Not a group yet: anything but a join is GROUP_ID_NOT_FOUND.
    assert_eq!(
        hb(&mut c, g, beat("m-a", 3, &[])).error_code,
        GROUP_ID_NOT_FOUND
    );
    // Request checks.
    assert_eq!(
        hb(&mut c, g, join("", &[TOPIC])).error_code,
        INVALID_REQUEST
    );
    assert_eq!(
        hb(
            &mut c,
            g,
            join("m-a", &[TOPIC]).with_rebalance_timeout_ms(-1)
        )
        .error_code,
        INVALID_REQUEST
    );
    assert_eq!(
        hb(
            &mut c,
            g,
            join("m-a", &[TOPIC]).with_server_assignor(Some(s("sticky")))
        )
        .error_code,
        UNSUPPORTED_ASSIGNOR
    );
    assert_eq!(
        hb(
            &mut c,
            g,
            join("m-a", &[])
                .with_subscribed_topic_names(None)
                .with_subscribed_topic_regex(Some(s("(")))
        )
        .error_code,
        INVALID_REGULAR_EXPRESSION
    );

    // a joins: all six, epoch 1.
    let a = hb(&mut c, g, join("m-a", &[TOPIC]));
    assert_eq!(a.error_code, NONE, "{a:?}");
    assert_eq!(a.member_epoch, 1);
    assert_eq!(a.heartbeat_interval_ms, 200);
    let a_owned = owned(&a);
    assert_eq!(count(&a_owned), 6);
    assert!(a_owned.iter().all(|(t, _)| *t == id));

    // b joins (range assignor): its partitions are a's until a releases them.
    let bj = hb(
        &mut c,
        g,
        join("m-b", &[TOPIC]).with_server_assignor(Some(s("range"))),
    );
    assert_eq!(bj.error_code, NONE);
    assert_eq!(bj.member_epoch, 2);
    assert_eq!(count(&owned(&bj)), 0);

    // A wrong epoch is fenced; an unknown member is unknown.
    assert_eq!(
        hb(&mut c, g, beat("m-a", 5, &a_owned)).error_code,
        FENCED_MEMBER_EPOCH
    );
    assert_eq!(
        hb(&mut c, g, beat("m-x", 1, &[])).error_code,
        UNKNOWN_MEMBER_ID
    );

    // a is told to keep three (it still has epoch 1, revoking the rest).
    let a2 = hb(&mut c, g, beat("m-a", 1, &a_owned));
    assert_eq!(a2.error_code, NONE);
    assert_eq!(a2.member_epoch, 1);
    let kept = owned(&a2);
    assert_eq!(count(&kept), 3);
    // Before a confirms, b still gets nothing.
    let b2 = hb(&mut c, g, beat("m-b", 2, &[]));
    assert_eq!(count(&owned(&b2)), 0);
    // OffsetCommit v9: a's epoch is still 1; b's is 2; a stale one is refused.
    assert_eq!(commit(&mut c, g, "m-a", 1), NONE);
    assert_eq!(commit(&mut c, g, "m-b", 1), STALE_MEMBER_EPOCH);
    assert_eq!(commit(&mut c, g, "m-z", 1), UNKNOWN_MEMBER_ID);
    assert_eq!(fetch_error(&mut c, g, "m-b", 1), STALE_MEMBER_EPOCH);
    assert_eq!(fetch_error(&mut c, g, "m-b", 2), NONE);
    // a releases; then b gets its three.
    let a3 = hb(&mut c, g, beat("m-a", 1, &kept));
    assert_eq!(a3.member_epoch, 2);
    let b3 = hb(&mut c, g, beat("m-b", 2, &[]));
    let b_owned = owned(&b3);
    assert_eq!(count(&b_owned), 3);
    let mut all: Vec<i32> = kept
        .iter()
        .chain(&b_owned)
        .flat_map(|(_, p)| p.clone())
        .collect();
    all.sort();
    assert_eq!(all, (0..6).collect::<Vec<_>>());

    // ConsumerGroupDescribe shows both members, their epochs and assignments.
    let d: ConsumerGroupDescribeResponse = c.call(
        &ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(s(g)), GroupId(s("nope"))]),
        1,
    );
    let dg = &d.groups[0];
    assert_eq!(dg.error_code, NONE);
    assert_eq!(dg.group_state.as_str(), "Stable");
    assert_eq!((dg.group_epoch, dg.assignment_epoch), (2, 2));
    assert_eq!(dg.assignor_name.as_str(), "range");
    assert_eq!(dg.members.len(), 2);
    for m in &dg.members {
        assert_eq!(m.member_epoch, 2);
        let n: usize = m
            .assignment
            .topic_partitions
            .iter()
            .map(|t| t.partitions.len())
            .sum();
        assert_eq!(n, 3);
        assert_eq!(
            m.assignment.topic_partitions[0].topic_name.0.as_str(),
            TOPIC
        );
    }
    assert_eq!(d.groups[1].error_code, GROUP_ID_NOT_FOUND);

    // ListGroups v5: type consumer. DescribeGroups v5: Dead, no error, as Kafka 4.
    let l: ListGroupsResponse = c.call(&ListGroupsRequest::default(), 5);
    let listed = l
        .groups
        .iter()
        .find(|x| x.group_id.0.as_str() == g)
        .unwrap();
    assert_eq!(listed.group_type.as_str(), "consumer");
    assert_eq!(listed.protocol_type.as_str(), "consumer");
    assert_eq!(listed.group_state.as_str(), "Stable");
    let dd: DescribeGroupsResponse = c.call(
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(g))]),
        5,
    );
    assert_eq!(dd.groups[0].error_code, NONE);
    assert_eq!(dd.groups[0].group_state.as_str(), "Dead");
    assert!(dd.groups[0].members.is_empty());

    // A classic JoinGroup to the non-empty consumer group.
    let j: JoinGroupResponse = c.call(
        &JoinGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::new())]),
        5,
    );
    assert_eq!(j.error_code, INCONSISTENT_GROUP_PROTOCOL);

    // b leaves (-1); a gets everything back at the next epoch.
    let bl = hb(&mut c, g, beat("m-b", -1, &b_owned));
    assert_eq!((bl.error_code, bl.member_epoch), (NONE, -1));
    let a4 = hb(&mut c, g, beat("m-a", 2, &kept));
    assert_eq!(a4.member_epoch, 3);
    assert_eq!(count(&owned(&a4)), 6);
    assert!(b.panics().is_empty());
}

fn commit(c: &mut Conn, group: &str, member: &str, epoch: i32) -> i16 {
    let r: OffsetCommitResponse = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(s(member))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(s(TOPIC).into())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(0)])]),
        9,
    );
    r.topics[0].partitions[0].error_code
}

fn fetch_error(c: &mut Conn, group: &str, member: &str, epoch: i32) -> i16 {
    let r: OffsetFetchResponse = c.call(
        &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(Some(s(member)))
            .with_member_epoch(epoch)
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(s(TOPIC).into())
                .with_partition_indexes(vec![0])]))]),
        9,
    );
    r.groups[0].error_code
}

#[test]
fn static_members_types_and_session_expiry() {
    let b = Broker::start("cg-static", FLAGS);
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 4);
    let g = "kip848-static";
    let mut c = coordinator(&b, g);
    let a = hb(
        &mut c,
        g,
        join("s-1", &[TOPIC]).with_instance_id(Some(s("inst"))),
    );
    assert_eq!(a.error_code, NONE);
    let a_owned = owned(&a);
    // Another member claiming the instance while it is in use.
    let other = hb(
        &mut c,
        g,
        join("s-2", &[TOPIC]).with_instance_id(Some(s("inst"))),
    );
    assert_eq!(other.error_code, UNRELEASED_INSTANCE_ID);
    // Leave with -2: the assignment is kept; the instance comes back under a new member id.
    let l = hb(
        &mut c,
        g,
        beat("s-1", -2, &a_owned).with_instance_id(Some(s("inst"))),
    );
    assert_eq!((l.error_code, l.member_epoch), (NONE, -2));
    let back = hb(
        &mut c,
        g,
        join("s-2", &[TOPIC]).with_instance_id(Some(s("inst"))),
    );
    assert_eq!(back.error_code, NONE);
    assert_eq!(back.member_epoch, a.member_epoch);
    assert_eq!(owned(&back), a_owned);

    // A classic group in use refuses a consumer member; an empty classic group converts.
    let cg = "kip848-classic";
    let mut cc = coordinator(&b, cg);
    let j: JoinGroupResponse = cc.call(
        &JoinGroupRequest::default()
            .with_group_id(GroupId(s(cg)))
            .with_member_id(s(""))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::new())]),
        3,
    );
    assert_eq!(j.error_code, NONE, "{j:?}");
    assert_eq!(
        hb(&mut cc, cg, join("k-1", &[TOPIC])).error_code,
        GROUP_ID_NOT_FOUND
    );

    // The consumer member goes silent: after the session timeout it is gone, the group Empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let d: ConsumerGroupDescribeResponse = c.call(
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(g))]),
            0,
        );
        if d.groups[0].group_state.as_str() == "Empty" {
            assert!(d.groups[0].members.is_empty());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{d:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The expired member is fenced.
    assert_eq!(
        hb(&mut c, g, beat("s-2", back.member_epoch, &a_owned)).error_code,
        UNKNOWN_MEMBER_ID
    );
    assert!(b.panics().is_empty());
}
