//! Classic and KIP-848 consumer group requests, with committed offsets.

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
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

use super::*;

/// The request body of API `key` at version `v` if it is one of this family's (`None`:
/// another family's), as `super::body` builds it.
pub(super) fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    _stats: &mut Stats,
    joined: &mut Option<String>,
) -> Option<Option<BytesMut>> {
    // Sets a field only in the versions that carry it (the crate refuses to encode a
    // non-default value elsewhere).
    let within = |lo: i16, hi: i16| (lo..=hi).contains(&v);
    let body = match key {
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if within(0, 3) {
                r.key = s(&group_text(c));
            }
            if within(1, 6) {
                r.key_type = int8(c, 0..=1);
            }
            if within(4, 6) {
                r.coordinator_keys = list(c, |c| s(&group_text(c)));
            }
            enc(r, v)
        }
        ApiKey::JoinGroup => {
            let (group_id, member, _) = membership(c, ctx);
            *joined = Some(group_id.0.to_string());
            let mut r = JoinGroupRequest::default()
                .with_group_id(group_id)
                .with_session_timeout_ms(session_timeout(c))
                .with_member_id(member)
                .with_protocol_type(s(c.pick(&["consumer", "consumer", "", "connect"])))
                .with_protocols(list(c, |c| {
                    JoinGroupRequestProtocol::default()
                        .with_name(short_text(c))
                        .with_metadata(subscription(c))
                }));
            if within(1, 9) {
                r.rebalance_timeout_ms = wait_ms(c);
            }
            if within(5, 9) {
                r.group_instance_id = instance_id(c);
            }
            if within(8, 9) && c.one_in(4) {
                r.reason = Some(short_text(c));
            }
            enc(r, v)
        }
        ApiKey::SyncGroup => {
            let (group_id, member, generation) = membership(c, ctx);
            let mut r = SyncGroupRequest::default()
                .with_group_id(group_id)
                .with_generation_id(generation)
                .with_member_id(member)
                .with_assignments(list(c, |c| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(member_id(c, ctx))
                        .with_assignment(assignment(c))
                }));
            if within(3, 5) {
                r.group_instance_id = instance_id(c);
            }
            if within(5, 5) {
                r.protocol_type = if c.one_in(3) {
                    None
                } else {
                    Some(s("consumer"))
                };
                r.protocol_name = if c.one_in(3) {
                    None
                } else {
                    Some(short_text(c))
                };
            }
            enc(r, v)
        }
        ApiKey::Heartbeat => {
            let (group_id, member, generation) = membership(c, ctx);
            let mut r = HeartbeatRequest::default()
                .with_group_id(group_id)
                .with_generation_id(generation)
                .with_member_id(member);
            if within(3, 4) {
                r.group_instance_id = instance_id(c);
            }
            enc(r, v)
        }
        ApiKey::LeaveGroup => {
            let (group_id, member, _) = membership(c, ctx);
            let mut r = LeaveGroupRequest::default().with_group_id(group_id);
            if within(0, 2) {
                r.member_id = member;
            } else {
                r.members = list(c, |c| {
                    let mut m = MemberIdentity::default()
                        .with_member_id(member_id(c, ctx))
                        .with_group_instance_id(instance_id(c));
                    if within(5, 5) && c.one_in(3) {
                        m.reason = Some(short_text(c));
                    }
                    m
                });
            }
            enc(r, v)
        }
        ApiKey::OffsetCommit => {
            let (group_id, member, generation) = membership(c, ctx);
            let mut r = OffsetCommitRequest::default()
                .with_group_id(group_id)
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(member)
                .with_topics(list(c, |c| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            let mut p = OffsetCommitRequestPartition::default()
                                .with_partition_index(partition(c))
                                .with_committed_offset(offset(c))
                                .with_committed_metadata(match c.below(6) {
                                    0 => None,
                                    1 => Some(s(&"d".repeat(4_000 + c.below(200)))),
                                    _ => Some(s("")),
                                });
                            if within(6, 9) {
                                p.committed_leader_epoch = int32(c, -1..=1);
                            }
                            p
                        }))
                }));
            if within(7, 9) {
                r.group_instance_id = instance_id(c);
            }
            if within(2, 4) {
                r.retention_time_ms = int64(c, -1..=-1);
            }
            // --- kip848c: OffsetCommit v10 names topics by id (crate requests stop at v9) ---
            if v >= 10 {
                for t in &mut r.topics {
                    t.topic_id = uuid(c, ctx);
                }
                return Some(Some(topic_ids_v10::offset_commit(&r)));
            }
            // --- end kip848c ---
            enc(r, v)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if within(1, 7) {
                r.group_id = group(c);
                r.topics = nullable_list(c, |c| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic(c))
                        .with_partition_indexes(list(c, partition))
                });
            } else {
                r.groups = list(c, |c| {
                    let mut g = OffsetFetchRequestGroup::default()
                        .with_group_id(group(c))
                        .with_topics(nullable_list(c, |c| {
                            OffsetFetchRequestTopics::default()
                                .with_name(topic(c))
                                .with_partition_indexes(list(c, partition))
                        }));
                    if within(9, 9) {
                        g.member_id = if c.one_in(2) {
                            None
                        } else {
                            Some(member_id(c, ctx))
                        };
                        g.member_epoch = int32(c, -1..=1);
                    }
                    g
                });
            }
            if within(7, 9) {
                r.require_stable = c.one_in(2);
            }
            // --- kip848c: OffsetFetch v10 names topics by id (crate requests stop at v9) ---
            if v >= 10 {
                for t in r
                    .groups
                    .iter_mut()
                    .flat_map(|g| g.topics.iter_mut().flatten())
                {
                    t.topic_id = uuid(c, ctx);
                }
                return Some(Some(topic_ids_v10::offset_fetch(&r)));
            }
            // --- end kip848c ---
            enc(r, v)
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if within(4, 5) {
                r.states_filter = if c.one_in(2) {
                    Vec::new()
                } else {
                    list(c, |c| {
                        s(c.pick(&["Stable", "Empty", "PreparingRebalance", "Dead", "nope", ""]))
                    })
                };
            }
            if within(5, 5) && c.one_in(3) {
                r.types_filter = list(c, |c| s(c.pick(&["classic", "consumer", "share", "?"])));
            }
            enc(r, v)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default().with_groups(list(c, group));
            if within(3, 6) {
                r.include_authorized_operations = c.one_in(2);
            }
            enc(r, v)
        }
        ApiKey::DeleteGroups => enc(
            DeleteGroupsRequest::default().with_groups_names(list(c, group)),
            v,
        ),
        ApiKey::OffsetDelete => enc(
            OffsetDeleteRequest::default()
                .with_group_id(group(c))
                .with_topics(list(c, |c| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            OffsetDeleteRequestPartition::default()
                                .with_partition_index(partition(c))
                        }))
                })),
            v,
        ),
        ApiKey::ConsumerGroupHeartbeat => {
            let (group_id, member, epoch) = membership(c, ctx);
            let mut r = ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group_id)
                .with_member_id(member)
                .with_member_epoch(match c.below(4) {
                    0 => 0,
                    1 => -1,
                    2 => -2,
                    _ => epoch,
                })
                .with_instance_id(instance_id(c))
                .with_rebalance_timeout_ms(int32(c, -1..=WAIT_MS_MAX))
                .with_subscribed_topic_names(nullable_list(c, topic))
                .with_server_assignor(match c.below(4) {
                    0 => Some(s("uniform")),
                    1 => Some(s("range")),
                    2 => Some(short_text(c)),
                    _ => None,
                })
                .with_topic_partitions(nullable_list(c, |c| {
                    consumer_group_heartbeat_request::TopicPartitions::default()
                        .with_topic_id(Uuid::from_u128(u128::from(c.u32())))
                        .with_partitions(list(c, partition))
                }));
            if within(1, 1) && c.one_in(3) {
                r.subscribed_topic_regex = Some(s(c.pick(&["^fuzz-.*", "(", ".*", ""])));
            }
            enc(r, v)
        }
        ApiKey::ConsumerGroupDescribe => enc(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(list(c, group))
                .with_include_authorized_operations(c.one_in(2)),
            v,
        ),
        _ => return None,
    };
    Some(body)
}

fn member_id(c: &mut Choices, ctx: &Context) -> StrBytes {
    membership(c, ctx).1
}

fn instance_id(c: &mut Choices) -> Option<StrBytes> {
    match c.below(4) {
        0 => Some(s(c.pick(&["fz-static-1", "fz-static-2"]))),
        1 => match c.below(4) {
            0 => Some(s("")),
            1 => Some(s(&"i".repeat(long_len(c)))),
            _ => None,
        },
        _ => None,
    }
}

fn session_timeout(c: &mut Choices) -> i32 {
    match c.below(8) {
        0 => c.pick(INTERESTING_I32),
        _ => 1 + c.below(WAIT_MS_MAX as usize) as i32,
    }
}

/// A consumer-protocol subscription (or bytes that aren't one).
fn subscription(c: &mut Choices) -> Bytes {
    let mut b = Vec::new();
    match c.below(4) {
        0 => (0..c.below(40)).for_each(|_| b.push(c.byte())),
        _ => {
            b.extend_from_slice(&int16(c, 0..=3).to_be_bytes());
            let n = int32(c, 0..=2);
            b.extend_from_slice(&n.to_be_bytes());
            for _ in 0..n.clamp(0, 3) {
                let t = topic_text(c);
                b.extend_from_slice(&(t.len() as i16).to_be_bytes());
                b.extend_from_slice(t.as_bytes());
            }
            b.extend_from_slice(&int32(c, -1..=-1).to_be_bytes());
        }
    }
    b.into()
}

/// A consumer-protocol assignment (or bytes that aren't one).
fn assignment(c: &mut Choices) -> Bytes {
    let mut b = Vec::new();
    match c.below(4) {
        0 => (0..c.below(40)).for_each(|_| b.push(c.byte())),
        _ => {
            b.extend_from_slice(&int16(c, 0..=3).to_be_bytes());
            let n = int32(c, 0..=1);
            b.extend_from_slice(&n.to_be_bytes());
            for _ in 0..n.clamp(0, 2) {
                let t = topic_text(c);
                b.extend_from_slice(&(t.len() as i16).to_be_bytes());
                b.extend_from_slice(t.as_bytes());
                let parts = int32(c, 0..=2);
                b.extend_from_slice(&parts.to_be_bytes());
                for _ in 0..parts.clamp(0, 3) {
                    b.extend_from_slice(&partition(c).to_be_bytes());
                }
            }
            b.extend_from_slice(&int32(c, -1..=-1).to_be_bytes());
        }
    }
    b.into()
}

// --- kip848c: OffsetCommit / OffsetFetch v10 requests, which the crate does not encode ---
/// v10 is v9's layout with each topic's name replaced by its 16-byte id; everything else is
/// written with the crate (partitions at v9, byte for byte the same).
mod topic_ids_v10 {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::{OffsetCommitRequest, OffsetFetchRequest};
    use kafka_protocol::protocol::Encodable;
    use std::collections::BTreeMap;

    fn uvarint(b: &mut BytesMut, mut v: u64) {
        while v >= 0x80 {
            b.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        b.put_u8(v as u8);
    }

    fn string(b: &mut BytesMut, s: Option<&str>) {
        match s {
            None => uvarint(b, 0),
            Some(s) => {
                uvarint(b, s.len() as u64 + 1);
                b.put_slice(s.as_bytes());
            }
        }
    }

    fn tags(b: &mut BytesMut, t: &BTreeMap<i32, bytes::Bytes>) {
        uvarint(b, t.len() as u64);
        for (k, v) in t {
            uvarint(b, *k as u64);
            uvarint(b, v.len() as u64);
            b.put_slice(v);
        }
    }

    pub fn offset_commit(r: &OffsetCommitRequest) -> BytesMut {
        let mut b = BytesMut::new();
        string(&mut b, Some(r.group_id.0.as_str()));
        b.put_i32(r.generation_id_or_member_epoch);
        string(&mut b, Some(r.member_id.as_str()));
        string(&mut b, r.group_instance_id.as_ref().map(|s| s.as_str()));
        uvarint(&mut b, r.topics.len() as u64 + 1);
        for t in &r.topics {
            b.put_slice(t.topic_id.as_bytes());
            uvarint(&mut b, t.partitions.len() as u64 + 1);
            for p in &t.partitions {
                let _ = p.encode(&mut b, 9);
            }
            tags(&mut b, &t.unknown_tagged_fields);
        }
        tags(&mut b, &r.unknown_tagged_fields);
        b
    }

    pub fn offset_fetch(r: &OffsetFetchRequest) -> BytesMut {
        let mut b = BytesMut::new();
        uvarint(&mut b, r.groups.len() as u64 + 1);
        for g in &r.groups {
            string(&mut b, Some(g.group_id.0.as_str()));
            string(&mut b, g.member_id.as_ref().map(|s| s.as_str()));
            b.put_i32(g.member_epoch);
            match &g.topics {
                None => uvarint(&mut b, 0),
                Some(ts) => {
                    uvarint(&mut b, ts.len() as u64 + 1);
                    for t in ts {
                        b.put_slice(t.topic_id.as_bytes());
                        uvarint(&mut b, t.partition_indexes.len() as u64 + 1);
                        for p in &t.partition_indexes {
                            b.put_i32(*p);
                        }
                        tags(&mut b, &t.unknown_tagged_fields);
                    }
                }
            }
            tags(&mut b, &g.unknown_tagged_fields);
        }
        b.put_u8(u8::from(r.require_stable));
        tags(&mut b, &r.unknown_tagged_fields);
        b
    }
}
// --- end kip848c ---
