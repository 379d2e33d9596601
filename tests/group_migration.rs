//! Online migration between the classic and the consumer protocol (KIP-848, Kafka 4's
//! `group.consumer.migration.policy`) over raw TCP: a classic group upgraded when a
//! consumer-protocol member joins, its classic member reconciled through Heartbeat
//! (REBALANCE_IN_PROGRESS), JoinGroup and SyncGroup, its commits checked by generation, and
//! the group downgraded to classic when the consumer-protocol member leaves; each policy's
//! refusals (GROUP_ID_NOT_FOUND) and a consumer group that stays one under `upgrade`; a
//! classic member that never sends SyncGroup removed after its rebalance timeout, a malformed
//! classic subscription refused as Kafka does (UNKNOWN_SERVER_ERROR), and a static classic
//! member replacing the last consumer-protocol member downgrading the group.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use bytes::Bytes;
use harness::kafka::Conn;
use harness::Broker;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const NONE: i16 = 0;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;

const TOPIC: &str = "orders";

fn flags(policy: &'static str) -> Vec<&'static str> {
    vec![
        "--cores",
        "2",
        "--group-consumer-heartbeat-interval-ms",
        "200",
        "--group-consumer-min-heartbeat-interval-ms",
        "100",
        "--group-initial-rebalance-delay-ms",
        "0",
        "--group-consumer-migration-policy",
        policy,
    ]
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn coordinator(b: &Broker, group: &str) -> Conn {
    let mut c = Conn::connect(b.bootstrap_addr());
    let r = c.call(&FindCoordinatorRequest::default().with_key(s(group)), 0);
    assert_eq!(r.error_code, NONE, "{r:?}");
    Conn::connect(b.shard_addr(r.node_id.0 as usize))
}

/// A ConsumerProtocolSubscription (v1) of `TOPIC`, owning `owned`.
fn subscription(owned: &[i32]) -> Bytes {
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec![s(TOPIC)])
        .with_owned_partitions(if owned.is_empty() {
            vec![]
        } else {
            vec![TopicPartition::default()
                .with_topic(s(TOPIC).into())
                .with_partitions(owned.to_vec())]
        });
    let mut b = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut b, 1);
    sub.encode(&mut b, 1).unwrap();
    b.freeze()
}

/// Partitions of a SyncGroup assignment.
fn partitions(assignment: &Bytes) -> Vec<i32> {
    if assignment.is_empty() {
        return vec![];
    }
    let mut b = assignment.clone();
    let version = bytes::Buf::get_i16(&mut b);
    let a = ConsumerProtocolAssignment::decode(&mut b, version).unwrap();
    let mut out: Vec<i32> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.clone())
        .collect();
    out.sort_unstable();
    out
}

/// A classic JoinGroup (v7) of `member` for `TOPIC` with `metadata`, rebalance timeout
/// `rebalance_ms` and a 10 s session.
fn classic_join_request(
    member: &str,
    g: &str,
    metadata: Bytes,
    rebalance_ms: i32,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(g)))
        .with_member_id(s(member))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(rebalance_ms)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(metadata)])
}

fn join_classic(c: &mut Conn, g: &str, member: &str, owned: &[i32]) -> JoinGroupResponse {
    c.call(
        &classic_join_request(member, g, subscription(owned), 10_000),
        7,
    )
}

/// A ConsumerProtocolAssignment (v0) of every partition of `TOPIC`.
fn all_partitions() -> Bytes {
    let all = kafka_protocol::messages::consumer_protocol_assignment::TopicPartition::default()
        .with_topic(s(TOPIC).into())
        .with_partitions(vec![0, 1, 2, 3]);
    let mut a = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut a, 0);
    ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![all])
        .encode(&mut a, 0)
        .unwrap();
    a.freeze()
}

fn sync(
    c: &mut Conn,
    g: &str,
    member: &str,
    generation: i32,
    assignments: Vec<SyncGroupRequestAssignment>,
) -> SyncGroupResponse {
    c.call(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(member))
            .with_generation_id(generation)
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(assignments),
        5,
    )
}

fn heartbeat(c: &mut Conn, g: &str, member: &str, generation: i32) -> i16 {
    let r: HeartbeatResponse = c.call(
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(member))
            .with_generation_id(generation),
        4,
    );
    r.error_code
}

/// A classic group with one member owning every partition: (member id, generation).
fn classic_group(c: &mut Conn, g: &str) -> (String, i32) {
    let j = join_classic(c, g, "", &[]);
    assert_eq!(j.error_code, MEMBER_ID_REQUIRED);
    let member = j.member_id.to_string();
    let j = join_classic(c, g, &member, &[]);
    assert_eq!(j.error_code, NONE, "{j:?}");
    assert_eq!(j.leader.as_str(), member);
    let r = sync(
        c,
        g,
        &member,
        j.generation_id,
        vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(&member))
            .with_assignment(all_partitions())],
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(partitions(&r.assignment), vec![0, 1, 2, 3]);
    (member, j.generation_id)
}

fn consumer_join(c: &mut Conn, g: &str, member: &str) -> ConsumerGroupHeartbeatResponse {
    c.call(
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(member))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(10_000)
            .with_subscribed_topic_names(Some(vec![s(TOPIC).into()]))
            .with_topic_partitions(Some(Vec::new())),
        1,
    )
}

fn consumer_beat(
    c: &mut Conn,
    g: &str,
    member: &str,
    epoch: i32,
    owned: Vec<TopicPartitions>,
) -> ConsumerGroupHeartbeatResponse {
    c.call(
        &ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(member))
            .with_member_epoch(epoch)
            .with_topic_partitions(Some(owned)),
        1,
    )
}

fn group_type(c: &mut Conn, g: &str) -> (String, String) {
    let l: ListGroupsResponse = c.call(&ListGroupsRequest::default(), 5);
    let x = l
        .groups
        .iter()
        .find(|x| x.group_id.0.as_str() == g)
        .unwrap();
    (x.group_type.to_string(), x.group_state.to_string())
}

fn commit(c: &mut Conn, g: &str, member: &str, generation: i32) -> i16 {
    let r: OffsetCommitResponse = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(member))
            .with_generation_id_or_member_epoch(generation)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(s(TOPIC).into())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(3)])]),
        8,
    );
    r.topics[0].partitions[0].error_code
}

#[test]
fn classic_group_upgrades_serves_its_classic_member_and_downgrades() {
    let b = Broker::start("migration-bidi", &flags("bidirectional"));
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 4);
    let g = "migrating";
    let mut c = coordinator(&b, g);
    let (a, gen) = classic_group(&mut c, g);
    assert_eq!(group_type(&mut c, g).0, "classic");

    // A consumer-protocol member joins: the group is upgraded; a keeps its four partitions
    // for now, so m gets none yet.
    let m = consumer_join(&mut c, g, "m-1");
    assert_eq!(m.error_code, NONE, "{m:?}");
    assert_eq!(m.member_epoch, gen + 1);
    let m_owned = m
        .assignment
        .as_ref()
        .map_or(0, |x| x.topic_partitions.len());
    assert_eq!(m_owned, 0);
    assert_eq!(group_type(&mut c, g).0, "consumer");
    let d: ConsumerGroupDescribeResponse = c.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(g))]),
        1,
    );
    assert_eq!(d.groups[0].members.len(), 2);

    // a learns of the rebalance from its heartbeat, rejoins (still owning all four): one
    // step, revoke two; its generation (member epoch) stays.
    assert_eq!(heartbeat(&mut c, g, &a, gen), REBALANCE_IN_PROGRESS);
    let j = join_classic(&mut c, g, &a, &[0, 1, 2, 3]);
    assert_eq!(j.error_code, NONE, "{j:?}");
    assert_eq!(j.generation_id, gen);
    assert_eq!(j.leader.as_str(), "", "the broker assigns: no leader");
    assert_eq!(j.protocol_name.as_ref().map(|p| p.as_str()), Some("range"));
    let r = sync(&mut c, g, &a, gen, vec![]);
    assert_eq!(r.error_code, NONE, "{r:?}");
    let kept = partitions(&r.assignment);
    assert_eq!(kept.len(), 2);
    // Commits by generation: the current one is accepted, another one is not.
    assert_eq!(commit(&mut c, g, &a, gen), NONE);
    assert_eq!(commit(&mut c, g, &a, gen + 5), ILLEGAL_GENERATION);
    // Rejoining without the two it gave up moves it to the new epoch.
    assert_eq!(heartbeat(&mut c, g, &a, gen), REBALANCE_IN_PROGRESS);
    let j = join_classic(&mut c, g, &a, &kept);
    assert_eq!((j.error_code, j.generation_id), (NONE, gen + 1));
    let r = sync(&mut c, g, &a, gen + 1, vec![]);
    assert_eq!(partitions(&r.assignment), kept);
    assert_eq!(heartbeat(&mut c, g, &a, gen + 1), NONE);
    assert_eq!(heartbeat(&mut c, g, "nobody", gen + 1), UNKNOWN_MEMBER_ID);
    // m now gets the other two.
    let m2 = consumer_beat(&mut c, g, "m-1", gen + 1, vec![]);
    assert_eq!(m2.error_code, NONE);
    let got: Vec<i32> = m2
        .assignment
        .unwrap()
        .topic_partitions
        .iter()
        .flat_map(|t| t.partitions.clone())
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|p| !kept.contains(p)));

    // m leaves: only a classic member is left, the group becomes classic and rebalances.
    let l = consumer_beat(&mut c, g, "m-1", -1, vec![]);
    assert_eq!(l.error_code, NONE);
    assert_eq!(group_type(&mut c, g).0, "classic");
    assert_eq!(heartbeat(&mut c, g, &a, gen + 2), REBALANCE_IN_PROGRESS);
    let j = join_classic(&mut c, g, &a, &kept);
    assert_eq!(j.error_code, NONE, "{j:?}");
    assert_eq!(j.leader.as_str(), a, "a classic group again: a leads");
    assert_eq!(j.generation_id, gen + 3);
    let r = sync(&mut c, g, &a, j.generation_id, vec![]);
    assert_eq!(r.error_code, NONE);
    assert_eq!(group_type(&mut c, g), ("classic".into(), "Stable".into()));
    // The offset committed while it was a consumer group is still there.
    let f: OffsetFetchResponse = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(s(TOPIC).into())
                    .with_partition_indexes(vec![0]),
            ])),
        5,
    );
    assert_eq!(f.topics[0].partitions[0].committed_offset, 3);
    assert!(b.panics().is_empty());
}

#[test]
fn policies_refuse_what_they_do_not_allow() {
    // disabled and downgrade: a classic group in use is not upgraded.
    for policy in ["disabled", "downgrade"] {
        let b = Broker::start(&format!("migration-{policy}"), &flags(policy));
        let mut admin = Conn::connect(b.shard_addr(0));
        harness::kafka::create_topic(&mut admin, TOPIC, 4);
        let g = "stays-classic";
        let mut c = coordinator(&b, g);
        let (a, gen) = classic_group(&mut c, g);
        assert_eq!(
            consumer_join(&mut c, g, "m-1").error_code,
            GROUP_ID_NOT_FOUND,
            "{policy}"
        );
        assert_eq!(heartbeat(&mut c, g, &a, gen), NONE, "{policy}");
        assert!(b.panics().is_empty());
    }
    // upgrade: upgraded, but not downgraded when the consumer-protocol member leaves.
    let b = Broker::start("migration-upgrade", &flags("upgrade"));
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 4);
    let g = "upgrade-only";
    let mut c = coordinator(&b, g);
    let (a, gen) = classic_group(&mut c, g);
    let m = consumer_join(&mut c, g, "m-1");
    assert_eq!(m.error_code, NONE);
    assert_eq!(
        consumer_beat(&mut c, g, "m-1", m.member_epoch, vec![]).error_code,
        NONE
    );
    assert_eq!(consumer_beat(&mut c, g, "m-1", -1, vec![]).error_code, NONE);
    assert_eq!(group_type(&mut c, g).0, "consumer");
    // a rejoins the consumer group it is still in, and is its only member.
    assert_eq!(heartbeat(&mut c, g, &a, gen), REBALANCE_IN_PROGRESS);
    let j = join_classic(&mut c, g, &a, &[0, 1, 2, 3]);
    assert_eq!(j.error_code, NONE);
    let r = sync(&mut c, g, &a, j.generation_id, vec![]);
    assert_eq!(partitions(&r.assignment), vec![0, 1, 2, 3]);
    assert_eq!(heartbeat(&mut c, g, &a, j.generation_id), NONE);
    // LeaveGroup empties it.
    let l: LeaveGroupResponse = c.call(
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(s(&a))
            ]),
        3,
    );
    assert_eq!(l.error_code, NONE);
    assert_eq!(l.members[0].error_code, NONE);
    assert_eq!(group_type(&mut c, g), ("consumer".into(), "Empty".into()));
    assert!(b.panics().is_empty());
}

/// Members of consumer group `g`, by id, from ConsumerGroupDescribe.
fn consumer_members(c: &mut Conn, g: &str) -> Vec<String> {
    let d: ConsumerGroupDescribeResponse = c.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(g))]),
        1,
    );
    let mut ids: Vec<String> = d.groups[0]
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    ids.sort();
    ids
}

/// Kafka's sync timeout: a classic member of a consumer group whose SyncGroup does not follow
/// its JoinGroup within its rebalance timeout is removed, while one that synced stays; and a
/// classic subscription that does not parse is answered UNKNOWN_SERVER_ERROR, as Kafka's
/// coordinator answers the IllegalStateException it throws.
#[test]
fn a_classic_member_that_never_syncs_is_removed_and_a_bad_subscription_is_refused() {
    const REBALANCE_MS: i32 = 1_500;
    let b = Broker::start("migration-sync-timeout", &flags("bidirectional"));
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 4);
    let g = "sync-timeout";
    let mut c = coordinator(&b, g);
    assert_eq!(consumer_join(&mut c, g, "m-1").error_code, NONE);
    let mut join = |metadata: Bytes| {
        let j: JoinGroupResponse = c.call(
            &classic_join_request("", g, metadata.clone(), REBALANCE_MS),
            7,
        );
        assert_eq!(j.error_code, MEMBER_ID_REQUIRED, "{j:?}");
        let id = j.member_id.to_string();
        let j: JoinGroupResponse = c.call(&classic_join_request(&id, g, metadata, REBALANCE_MS), 7);
        (id, j)
    };
    let (bad, j) = join(Bytes::from_static(&[0, 9, 1]));
    assert_eq!(j.error_code, UNKNOWN_SERVER_ERROR, "{j:?}");
    // Sent before the broker takes the join: its deadline can't come sooner than this plus
    // the rebalance timeout.
    let joining = std::time::Instant::now();
    let (silent, j) = join(subscription(&[]));
    assert_eq!(j.error_code, NONE, "{j:?}");
    let (synced, j) = join(subscription(&[]));
    assert_eq!(j.error_code, NONE, "{j:?}");
    assert_eq!(
        sync(&mut c, g, &synced, j.generation_id, vec![]).error_code,
        NONE
    );
    let mut all = vec!["m-1".to_string(), silent.clone(), synced.clone()];
    all.sort();
    assert_eq!(consumer_members(&mut c, g), all);
    assert!(!consumer_members(&mut c, g).contains(&bad));

    // The silent one goes about its rebalance timeout after its join; the other stays.
    let mut left = vec!["m-1".to_string(), synced.clone()];
    left.sort();
    while consumer_members(&mut c, g) != left {
        assert!(
            joining.elapsed() < std::time::Duration::from_secs(15),
            "the member that never synced is still in the group"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        joining.elapsed() >= std::time::Duration::from_millis(REBALANCE_MS as u64),
        "removed before its rebalance timeout"
    );
    assert_eq!(heartbeat(&mut c, g, &silent, 1), UNKNOWN_MEMBER_ID);
    assert!(b.panics().is_empty());
}

/// Kafka's online downgrade on replacement: when a static member of the group's last
/// consumer-protocol member's instance comes back speaking the classic protocol, the group
/// becomes a classic group (policy `bidirectional`) whose JoinGroup answer makes it the
/// leader; under `upgrade` the group stays a consumer group and serves it as a classic member
/// with the replaced member's partitions.
#[test]
fn a_static_classic_member_replacing_the_last_consumer_member_downgrades_the_group() {
    for (policy, kind) in [("bidirectional", "classic"), ("upgrade", "consumer")] {
        let b = Broker::start(&format!("migration-replace-{policy}"), &flags(policy));
        let mut admin = Conn::connect(b.shard_addr(0));
        harness::kafka::create_topic(&mut admin, TOPIC, 4);
        let g = "replaced";
        let mut c = coordinator(&b, g);
        let m: ConsumerGroupHeartbeatResponse = c.call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(g)))
                .with_member_id(s("m-static"))
                .with_member_epoch(0)
                .with_instance_id(Some(s("instance-1")))
                .with_rebalance_timeout_ms(10_000)
                .with_subscribed_topic_names(Some(vec![s(TOPIC).into()]))
                .with_topic_partitions(Some(Vec::new())),
            1,
        );
        assert_eq!(m.error_code, NONE, "{m:?}");
        let all: usize = m.assignment.as_ref().map_or(0, |a| {
            a.topic_partitions.iter().map(|t| t.partitions.len()).sum()
        });
        assert_eq!(all, 4, "{m:?}");
        assert_eq!(group_type(&mut c, g).0, "consumer");

        // The instance restarts with the classic protocol: a JoinGroup without member id.
        let j: JoinGroupResponse = c.call(
            &classic_join_request("", g, subscription(&[]), 10_000)
                .with_group_instance_id(Some(s("instance-1"))),
            7,
        );
        assert_eq!(j.error_code, NONE, "{policy}: {j:?}");
        let id = j.member_id.to_string();
        assert_ne!(id, "m-static");
        assert_eq!(group_type(&mut c, g).0, kind, "{policy}");
        let r = if kind == "classic" {
            assert_eq!(j.leader.as_str(), id, "a classic group: it leads");
            sync(
                &mut c,
                g,
                &id,
                j.generation_id,
                vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(&id))
                    .with_assignment(all_partitions())],
            )
        } else {
            assert_eq!(j.leader.as_str(), "", "the broker assigns: no leader");
            sync(&mut c, g, &id, j.generation_id, vec![])
        };
        assert_eq!(r.error_code, NONE, "{policy}: {r:?}");
        assert_eq!(partitions(&r.assignment), vec![0, 1, 2, 3], "{policy}");
        assert_eq!(group_type(&mut c, g).1, "Stable", "{policy}");
        assert_eq!(heartbeat(&mut c, g, &id, j.generation_id), NONE, "{policy}");
        assert!(b.panics().is_empty());
    }
}
