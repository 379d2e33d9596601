//! KIP-848 consumer groups over raw TCP: ConsumerGroupHeartbeat's epochs and error paths
//! (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID, GROUP_ID_NOT_FOUND,
//! INVALID_REQUEST, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION), a partition reaching its
//! new owner only after the old one released it, ConsumerGroupDescribe, ListGroups v5 types,
//! DescribeGroups of a consumer group, OffsetCommit/OffsetFetch v9 member-epoch checks, and
//! the classic/consumer type rules of one group id (online migration: tests/group_migration.rs); the group's state across kill -9; per-group
//! `consumer.*` config overrides (GROUP config resources).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use bytes::Bytes;
use harness::kafka::{coordinator, s, topic_id, Conn};
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

const NONE: i16 = 0;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const UNKNOWN_MEMBER_ID: i16 = 25;
const MEMBER_ID_REQUIRED: i16 = 79;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_CONFIG: i16 = 40;
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
    "--group-consumer-min-heartbeat-interval-ms",
    "100",
    "--group-consumer-min-session-timeout-ms",
    "1000",
];

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

    // A classic JoinGroup to the non-empty consumer group (classic members are served:
    // tests/group_migration.rs): another protocol type is refused before MEMBER_ID_REQUIRED,
    // and a subscription that does not parse after it.
    let classic_join = |member: &str, protocol_type: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_member_id(s(member))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s(protocol_type))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::new())])
    };
    let j: JoinGroupResponse = c.call(&classic_join("", "connect"), 5);
    assert_eq!(j.error_code, INCONSISTENT_GROUP_PROTOCOL);
    let j: JoinGroupResponse = c.call(&classic_join("", "consumer"), 5);
    assert_eq!(j.error_code, MEMBER_ID_REQUIRED);
    let j: JoinGroupResponse = c.call(&classic_join(j.member_id.as_str(), "consumer"), 5);
    assert_eq!(
        j.error_code, UNKNOWN_SERVER_ERROR,
        "Kafka's answer to a malformed subscription"
    );

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

    // A classic group in use whose member's subscription does not parse is not upgraded
    // (Kafka: GROUP_ID_NOT_FOUND); an empty classic group converts.
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

fn committed(c: &mut Conn, group: &str, partition: i32) -> i64 {
    let r: OffsetFetchResponse = c.call(
        &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(s(TOPIC).into())
                .with_partition_indexes(vec![partition])]))]),
        9,
    );
    assert_eq!(r.groups[0].error_code, NONE, "{r:?}");
    r.groups[0].topics[0].partitions[0].committed_offset
}

fn describe(c: &mut Conn, group: &str) -> consumer_group_describe_response::DescribedGroup {
    let d: ConsumerGroupDescribeResponse = c.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(group))]),
        1,
    );
    d.groups.into_iter().next().unwrap()
}

/// A consumer group's state is in `__consumer_offsets` (Kafka 4's record types) and comes back
/// after kill -9: members keep their ids, epochs and assignments (no rebalance), a stale epoch
/// is fenced, committed offsets are intact; a member that left and a deleted group stay gone.
#[test]
fn consumer_group_state_survives_kill_9() {
    let flags = [
        "--cores",
        "2",
        "--group-consumer-heartbeat-interval-ms",
        "200",
        "--group-consumer-session-timeout-ms",
        "30000",
        "--group-consumer-min-heartbeat-interval-ms",
        "100",
        "--group-consumer-min-session-timeout-ms",
        "1000",
    ];
    let mut b = Broker::start("cg-restart", &flags);
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 6);
    let g = "kip848-restart";
    let mut c = coordinator(&b, g);
    let a = hb(&mut c, g, join("r-a", &[TOPIC]));
    assert_eq!(a.member_epoch, 1);
    let bj = hb(
        &mut c,
        g,
        join("r-b", &[TOPIC]).with_server_assignor(Some(s("range"))),
    );
    assert_eq!(bj.member_epoch, 2);
    let kept = owned(&hb(&mut c, g, beat("r-a", 1, &owned(&a))));
    assert_eq!(count(&kept), 3);
    assert_eq!(hb(&mut c, g, beat("r-a", 1, &kept)).member_epoch, 2);
    let b_owned = owned(&hb(&mut c, g, beat("r-b", 2, &[])));
    assert_eq!(count(&b_owned), 3);
    assert_eq!(commit(&mut c, g, "r-a", 2), NONE);
    let before = describe(&mut c, g);
    assert_eq!(before.group_state.as_str(), "Stable");

    b.crash_restart();
    let mut c = coordinator(&b, g);
    let after = describe(&mut c, g);
    assert_eq!(after.error_code, NONE, "{after:?}");
    assert_eq!(after.group_state.as_str(), "Stable");
    assert_eq!((after.group_epoch, after.assignment_epoch), (2, 2));
    assert_eq!(after.assignor_name.as_str(), "range");
    assert_eq!(after.members, before.members);
    // `sluice group describe` shows the consumer group as ConsumerGroupDescribe does.
    let json = sluice_cli(&b, &["group", "describe", g, "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(d["state"], "Stable", "{d}");
    assert_eq!(d["protocol_type"], "consumer");
    assert_eq!(d["protocol"], "range");
    assert_eq!(
        (d["group_epoch"].as_i64(), d["assignment_epoch"].as_i64()),
        (Some(2), Some(2))
    );
    let members = d["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    for m in members {
        assert_eq!(m["member_epoch"], 2);
        let n: usize = m["assignment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["partitions"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, 3, "{m}");
    }
    let rows = d["offsets"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{d}");
    let p0 = rows.iter().find(|r| r["partition"] == 0).unwrap();
    assert_eq!(p0["committed_offset"], 0);
    assert!(p0["member_id"].is_string());
    let table = sluice_cli(&b, &["group", "describe", g]);
    assert!(
        table.contains(&format!("Group {g} is Stable with 2 member(s).")),
        "{table}"
    );
    assert!(
        table.contains("assignor range: group epoch 2, assignment epoch 2."),
        "{table}"
    );
    // The members carry on at their epochs, with what they own: no rebalance.
    let a2 = hb(&mut c, g, beat("r-a", 2, &kept));
    assert_eq!((a2.error_code, a2.member_epoch), (NONE, 2), "{a2:?}");
    // An epoch the member never had is fenced, as before the crash.
    assert_eq!(
        hb(&mut c, g, beat("r-b", 1, &b_owned)).error_code,
        FENCED_MEMBER_EPOCH
    );
    let b2 = hb(&mut c, g, beat("r-b", 2, &b_owned));
    assert_eq!((b2.error_code, b2.member_epoch), (NONE, 2), "{b2:?}");
    assert_eq!(committed(&mut c, g, 0), 0);
    // OffsetCommit: a consumer-protocol member needs v9 (Kafka's rule), at its epoch.
    let v8: OffsetCommitResponse = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(g)))
            .with_generation_id_or_member_epoch(2)
            .with_member_id(s("r-a"))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(s(TOPIC).into())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(7)])]),
        8,
    );
    assert_eq!(v8.topics[0].partitions[0].error_code, UNSUPPORTED_VERSION);
    assert_eq!(commit(&mut c, g, "r-a", 1), STALE_MEMBER_EPOCH);
    // No group: GROUP_ID_NOT_FOUND from v9 (ILLEGAL_GENERATION before).
    assert_eq!(commit(&mut c, "kip848-none", "x", 1), GROUP_ID_NOT_FOUND);

    // b leaves: after another crash it is still gone; a is where it was.
    let bl = hb(&mut c, g, beat("r-b", -1, &b_owned));
    assert_eq!(bl.error_code, NONE);
    b.crash_restart();
    let mut c = coordinator(&b, g);
    let d = describe(&mut c, g);
    assert_eq!(d.group_epoch, 3, "{d:?}");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id.as_str(), "r-a");
    let a3 = hb(&mut c, g, beat("r-a", 2, &kept));
    assert_eq!((a3.error_code, a3.member_epoch), (NONE, 3));
    assert_eq!(count(&owned(&a3)), 6);

    // a leaves, the group is deleted: after a crash it does not come back.
    assert_eq!(hb(&mut c, g, beat("r-a", -1, &[])).error_code, NONE);
    let del: DeleteGroupsResponse = c.call(
        &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(g))]),
        2,
    );
    assert_eq!(del.results[0].error_code, NONE, "{del:?}");
    b.crash_restart();
    let mut c = coordinator(&b, g);
    assert_eq!(describe(&mut c, g).error_code, GROUP_ID_NOT_FOUND);
    assert!(b.panics().is_empty());
}

/// Run the `sluice` CLI against the broker (bounded), returning its stdout; it must succeed.
fn sluice_cli(b: &Broker, args: &[&str]) -> String {
    let mut child = std::process::Command::new(harness::sluice_bin())
        .args(args)
        .env("SLUICE_BROKERS", b.bootstrap_addr().to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("sluice {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sluice {args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn alter_group_config(c: &mut Conn, group: &str, name: &str, value: Option<&str>) -> i16 {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let op = if value.is_some() { 0 } else { 1 };
    let r: IncrementalAlterConfigsResponse = c.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(32)
                .with_resource_name(s(group))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(name))
                    .with_config_operation(op)
                    .with_value(value.map(s))]),
        ]),
        1,
    );
    r.responses[0].error_code
}

fn group_config(c: &mut Conn, group: &str, name: &str) -> (String, i8) {
    let r: DescribeConfigsResponse = c.call(
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(32)
                .with_resource_name(s(group))
                .with_configuration_keys(Some(vec![s(name)])),
        ]),
        4,
    );
    let e = &r.results[0].configs[0];
    (e.value.as_ref().unwrap().to_string(), e.config_source)
}

/// `consumer.heartbeat.interval.ms` / `consumer.session.timeout.ms` set on one group (GROUP
/// config resource): bounded like Kafka, shown by DescribeConfigs, used by the group's next
/// heartbeat, kept across a restart, and removed again.
#[test]
fn group_config_overrides() {
    let mut b = Broker::start("cg-configs", FLAGS);
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 2);
    let g = "kip848-configs";
    assert_eq!(
        alter_group_config(&mut admin, g, "consumer.heartbeat.interval.ms", Some("400")),
        NONE
    );
    // Kafka's bounds: within the broker's min/max, the heartbeat below the session timeout.
    for (name, value) in [
        ("consumer.heartbeat.interval.ms", "3000"),
        ("consumer.heartbeat.interval.ms", "50"),
        ("consumer.heartbeat.interval.ms", "15001"),
        ("consumer.session.timeout.ms", "999"),
        ("consumer.session.timeout.ms", "60001"),
        ("consumer.session.timeout.ms", "soon"),
        ("consumer.no.such.config", "1"),
    ] {
        assert_eq!(
            alter_group_config(&mut admin, g, name, Some(value)),
            INVALID_CONFIG,
            "{name}={value}"
        );
    }
    assert_eq!(
        group_config(&mut admin, g, "consumer.heartbeat.interval.ms"),
        ("400".to_string(), 8)
    );
    assert_eq!(
        group_config(&mut admin, g, "consumer.session.timeout.ms"),
        ("45000".to_string(), 5)
    );
    let mut c = coordinator(&b, g);
    let a = hb(&mut c, g, join("c-a", &[TOPIC]));
    assert_eq!((a.error_code, a.heartbeat_interval_ms), (NONE, 400));
    // Another group keeps the broker's interval.
    let other = "kip848-configs-other";
    let mut co = coordinator(&b, other);
    assert_eq!(
        hb(&mut co, other, join("o-a", &[TOPIC])).heartbeat_interval_ms,
        200
    );

    b.restart();
    let mut admin = Conn::connect(b.shard_addr(0));
    assert_eq!(
        group_config(&mut admin, g, "consumer.heartbeat.interval.ms"),
        ("400".to_string(), 8)
    );
    assert_eq!(
        alter_group_config(&mut admin, g, "consumer.heartbeat.interval.ms", None),
        NONE
    );
    let mut c = coordinator(&b, g);
    let j = hb(&mut c, g, join("c-b", &[TOPIC]));
    assert_eq!(
        (j.error_code, j.heartbeat_interval_ms),
        (NONE, 200),
        "{j:?}"
    );
    assert!(b.panics().is_empty());
}

/// A 15-byte topic name: as a compact string it takes 16 bytes, a topic id's size, so a v9
/// frame naming it becomes the v10 frame naming `id` by overwriting those bytes.
const PLACEHOLDER: &str = "xxxxxxxxxxxxxxx";

/// Send `req` (naming `PLACEHOLDER`) at v10 with `id` in its place; the crate writes requests
/// up to v9 only, but reads v10 responses.
fn call_v10<R: kafka_protocol::protocol::Request>(
    c: &mut Conn,
    req: &R,
    id: uuid::Uuid,
) -> R::Response {
    use std::io::Write;
    let (correlation, mut frame) = c.frame(req, 9);
    frame[6..8].copy_from_slice(&10i16.to_be_bytes());
    let mut name = vec![16u8];
    name.extend_from_slice(PLACEHOLDER.as_bytes());
    let at = frame
        .windows(16)
        .position(|w| w == name.as_slice())
        .unwrap();
    frame[at..at + 16].copy_from_slice(id.as_bytes());
    c.stream_mut().write_all(&frame).unwrap();
    let reply = c.recv_frame().unwrap();
    sluice_client::frame::decode_response::<R>(reply, correlation, 10).unwrap()
}

#[test]
fn offset_commit_and_fetch_v10_name_topics_by_id_and_api_versions_advertises_group_version() {
    const UNKNOWN_TOPIC_ID: i16 = 100;
    let b = Broker::start("cg-v10", FLAGS);
    let mut admin = Conn::connect(b.shard_addr(0));
    harness::kafka::create_topic(&mut admin, TOPIC, 2);
    let id = topic_id(&b, TOPIC);
    let g = "kip848-v10";
    let mut c = coordinator(&b, g);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(g)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(s(PLACEHOLDER).into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(42)])]);
    let r = call_v10(&mut c, &commit, id);
    assert_eq!(r.topics[0].topic_id, id);
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
    let unknown = uuid::Uuid::from_u128(0x5eed);
    let r = call_v10(&mut c, &commit, unknown);
    assert_eq!(r.topics[0].topic_id, unknown);
    assert_eq!(r.topics[0].partitions[0].error_code, UNKNOWN_TOPIC_ID);
    // The commit is there by name too (v9), and by id (v10).
    assert_eq!(committed(&mut c, g, 1), 42);
    let fetch = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(s(g)))
        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
            .with_name(s(PLACEHOLDER).into())
            .with_partition_indexes(vec![0, 1])]))]);
    let r = call_v10(&mut c, &fetch, id);
    let t = &r.groups[0].topics[0];
    assert_eq!(t.topic_id, id);
    let offsets: Vec<(i32, i64, i16)> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset, p.error_code))
        .collect();
    assert_eq!(offsets, vec![(0, -1, NONE), (1, 42, NONE)]);
    let r = call_v10(&mut c, &fetch, unknown);
    let t = &r.groups[0].topics[0];
    assert_eq!(t.topic_id, unknown);
    assert!(t
        .partitions
        .iter()
        .all(|p| p.error_code == UNKNOWN_TOPIC_ID));
    // Every topic (null list) at v10: named by id.
    let all: OffsetFetchResponse = {
        let (correlation, mut frame) = c.frame(
            &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(g)))
                .with_topics(None)]),
            9,
        );
        frame[6..8].copy_from_slice(&10i16.to_be_bytes());
        std::io::Write::write_all(c.stream_mut(), &frame).unwrap();
        let reply = c.recv_frame().unwrap();
        sluice_client::frame::decode_response::<OffsetFetchRequest>(reply, correlation, 10).unwrap()
    };
    assert_eq!(all.groups[0].topics.len(), 1);
    assert_eq!(all.groups[0].topics[0].topic_id, id);

    // ApiVersions: v10 of both, and group.version finalized at level 1 (v3 carries features).
    let v: ApiVersionsResponse = c.call(
        &ApiVersionsRequest::default()
            .with_client_software_name(s("t"))
            .with_client_software_version(s("1")),
        3,
    );
    let max = |key: i16| {
        v.api_keys
            .iter()
            .find(|k| k.api_key == key)
            .unwrap()
            .max_version
    };
    assert_eq!((max(8), max(9)), (10, 10));
    let f = v
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "group.version")
        .unwrap();
    assert_eq!((f.min_version_level, f.max_version_level), (1, 1));
    let sf = v
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == "group.version")
        .unwrap();
    assert_eq!((sf.min_version, sf.max_version), (0, 1));
    assert_eq!(v.finalized_features.len(), 1, "no other feature is claimed");
    assert!(v.finalized_features_epoch >= 0);
    assert!(b.panics().is_empty());
}
