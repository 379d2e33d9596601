//! Share groups in `__consumer_offsets` over raw TCP, with kafka-protocol as the oracle: a share
//! group's membership is written as Kafka 4.2's share-group records (types 10–15) before a
//! heartbeat is answered, and after kill -9 ListGroups lists it as a share group,
//! ShareGroupDescribe shows the same epochs, members and assignments, DescribeShareGroupOffsets
//! answers for it, and a returning member continues at its epoch. DeleteGroups removes it
//! durably (tombstones): after another restart it is gone.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::collections::{BTreeMap, BTreeSet};

use harness::kafka::{create_topic, decode_records, fetch, leader, s, Conn};
use harness::Broker;
use kafka_protocol::messages::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::*;

const NONE: i16 = 0;
const GROUP_ID_NOT_FOUND: i16 = 69;
const TOPIC: &str = "persisted";
const GROUP: &str = "share-persisted";

fn broker(name: &str) -> Broker {
    Broker::start(
        name,
        &[
            "--cores",
            "2",
            "--group-share-heartbeat-interval-ms",
            "200",
            // Members must outlive the restarts (their sessions start again at load).
            "--group-share-session-timeout-ms",
            "60000",
        ],
    )
}

fn coordinator(b: &Broker) -> Conn {
    harness::kafka::coordinator(b, GROUP).with_client_id("t")
}

fn heartbeat(
    c: &mut Conn,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let r = c.call(
        &ShareGroupHeartbeatRequest::default()
            .with_group_id(s(GROUP).into())
            .with_member_id(s(member))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(topics.map(|t| t.iter().map(|t| s(t).into()).collect())),
        1,
    );
    assert_eq!(r.error_code, NONE, "{r:?}");
    r
}

fn describe(c: &mut Conn) -> share_group_describe_response::DescribedGroup {
    let r = c.call(
        &ShareGroupDescribeRequest::default().with_group_ids(vec![s(GROUP).into()]),
        1,
    );
    r.groups.into_iter().next().unwrap()
}

/// (member id → (member epoch, assigned partitions)) of a described group.
fn members(g: &share_group_describe_response::DescribedGroup) -> BTreeMap<String, (i32, Vec<i32>)> {
    g.members
        .iter()
        .map(|m| {
            let mut parts: Vec<i32> = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().copied())
                .collect();
            parts.sort_unstable();
            (m.member_id.to_string(), (m.member_epoch, parts))
        })
        .collect()
}

/// (group type, state) of every group the coordinator lists with ListGroups v5.
fn listed(c: &mut Conn) -> BTreeMap<String, (String, String)> {
    let r = c.call(&ListGroupsRequest::default(), 5);
    assert_eq!(r.error_code, NONE, "{r:?}");
    r.groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                (g.group_type.to_string(), g.group_state.to_string()),
            )
        })
        .collect()
}

fn describe_offsets(c: &mut Conn) -> DescribeShareGroupOffsetsResponse {
    c.call(
        &DescribeShareGroupOffsetsRequest::default().with_groups(vec![
            DescribeShareGroupOffsetsRequestGroup::default()
                .with_group_id(s(GROUP).into())
                .with_topics(Some(vec![DescribeShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(s(TOPIC).into())
                    .with_partitions(vec![0, 1])])),
        ]),
        0,
    )
}

/// Every record of `GROUP` in its `__consumer_offsets` partition, in log order: (record
/// type, whether the value is a tombstone), by raw key.
fn group_records(b: &Broker) -> Vec<(i16, Vec<u8>, bool)> {
    let p = sluice::groups::offsets_partition_for(GROUP);
    let mut c = leader(b, "__consumer_offsets", p);
    let mut out = Vec::new();
    let mut next = 0i64;
    for _ in 0..100 {
        let r = c.call(&fetch("__consumer_offsets", &[(p, next)], 1 << 20, 0), 11);
        let part = &r.responses[0].partitions[0];
        assert_eq!(part.error_code, NONE, "{part:?}");
        let records = decode_records(part.records.clone());
        let Some(last) = records.last().map(|(o, _, _)| *o) else {
            return out;
        };
        next = last + 1;
        for (_, key, value) in records {
            let key = key.unwrap();
            let t = i16::from_be_bytes([key[0], key[1]]);
            let len = usize::from(u16::from_be_bytes([key[2], key[3]]));
            if &key[4..4 + len] == GROUP.as_bytes() {
                out.push((t, key.to_vec(), value.is_none()));
            }
        }
    }
    panic!("__consumer_offsets partition {p} did not end");
}

#[test]
fn a_share_group_survives_kill_9_and_its_deletion_is_durable() {
    let mut b = broker("share_persist");
    let mut admin = Conn::connect(b.shard_addr(0));
    create_topic(&mut admin, TOPIC, 2);
    let (one, two) = (
        "persisted-member-one-00000000000",
        "persisted-member-two-00000000000",
    );
    let mut c = coordinator(&b);
    let first = heartbeat(&mut c, one, 0, Some(&[TOPIC]));
    heartbeat(&mut c, two, 0, Some(&[TOPIC]));
    // The first member catches up with the second's join: one partition each.
    heartbeat(&mut c, one, first.member_epoch, None);
    let before = describe(&mut c);
    assert_eq!(before.error_code, NONE, "{before:?}");
    assert_eq!(before.members.len(), 2, "{before:?}");
    let before_members = members(&before);
    assert!(
        before_members.values().all(|(_, p)| p.len() == 1),
        "{before:?}"
    );

    // Kafka 4.2's share-group records, all written before the heartbeats were answered.
    let types: BTreeSet<i16> = group_records(&b).iter().map(|(t, _, _)| *t).collect();
    assert_eq!(types, (10..=15).collect(), "record types written");

    b.crash_restart();
    let mut c = coordinator(&b);
    let groups = listed(&mut c);
    assert_eq!(
        groups.get(GROUP),
        Some(&("share".to_string(), "Stable".to_string())),
        "{groups:?}"
    );
    let after = describe(&mut c);
    assert_eq!(after.error_code, NONE, "{after:?}");
    assert_eq!(after.group_epoch, before.group_epoch);
    assert_eq!(after.assignment_epoch, before.assignment_epoch);
    assert_eq!(members(&after), before_members);
    // The share-partitions' start offsets are answered for the group.
    let r = describe_offsets(&mut c);
    let g = &r.groups[0];
    assert_eq!(g.error_code, NONE, "{r:?}");
    let starts: Vec<(i32, i64, i16)> = g.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.start_offset, p.error_code))
        .collect();
    assert_eq!(starts, vec![(0, 0, NONE), (1, 0, NONE)], "{r:?}");

    // A returning member continues at its epoch, with nothing new to adopt.
    let (epoch, _) = before_members[one];
    let again = heartbeat(&mut c, one, epoch, None);
    assert_eq!(again.member_epoch, epoch);
    assert!(again.assignment.is_none(), "{again:?}");

    // Both leave; the empty group is deleted, durably.
    heartbeat(&mut c, one, -1, None);
    heartbeat(&mut c, two, -1, None);
    let r = c.call(
        &DeleteGroupsRequest::default().with_groups_names(vec![s(GROUP).into()]),
        2,
    );
    assert_eq!(r.results[0].error_code, NONE, "{r:?}");
    // Every key of the group ends in a tombstone.
    let mut last: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
    for (_, key, tombstone) in group_records(&b) {
        last.insert(key, tombstone);
    }
    assert!(last.values().all(|t| *t), "live keys left: {last:?}");

    b.crash_restart();
    let mut c = coordinator(&b);
    assert!(!listed(&mut c).contains_key(GROUP));
    assert_eq!(describe(&mut c).error_code, GROUP_ID_NOT_FOUND);
    let r = describe_offsets(&mut c);
    assert_eq!(r.groups[0].error_code, GROUP_ID_NOT_FOUND, "{r:?}");
}
