//! Committed offsets of consumer groups, asked of (and written through) each group's
//! coordinator.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetFetchRequest};
use kafka_protocol::protocol::StrBytes;

use super::{topic_name, Client, ClientError};

/// Newest OffsetFetch version this client fills in (v8+ batches groups).
const OFFSET_FETCH_VERSION_MAX: i16 = 7;
/// Newest OffsetCommit version this client fills in (v9 is for KIP-848 member epochs).
const OFFSET_COMMIT_VERSION_MAX: i16 = 8;
/// Attempts at a coordinator request that keeps answering "not the coordinator / loading".
const COORDINATOR_ATTEMPTS_MAX: usize = 20;

pub fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

/// Committed offsets `(topic, partition) → offset` of `group`, for `topics` (None: all).
/// Partitions without a committed offset are left out.
pub fn committed_offsets(
    client: &mut Client,
    group: &str,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(topics.map(|t| {
            t.iter()
                .map(|(name, partitions)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(name))
                        .with_partition_indexes(partitions.clone())
                })
                .collect()
        }));
    let response = with_coordinator(client, group, |conn| {
        let (version, r) = conn.call(&request, OFFSET_FETCH_VERSION_MAX)?;
        let code = if version >= 2 { r.error_code } else { 0 };
        ClientError::check(code, None, format!("offsets of group {group}"))?;
        Ok(r)
    })?;
    let mut out = BTreeMap::new();
    for t in &response.topics {
        for p in &t.partitions {
            ClientError::check(
                p.error_code,
                None,
                format!(
                    "offset of group {group} on {}-{}",
                    t.name.0, p.partition_index
                ),
            )?;
            if p.committed_offset >= 0 {
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(out)
}

/// Commit `offsets` of `topic` for `group`: as the group member `member` (member id,
/// generation), or with None as a standalone consumer (generation -1, no member id), which a
/// coordinator accepts while the group has no active members.
pub fn commit_offsets(
    client: &mut Client,
    group: &str,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
    member: Option<(&str, i32)>,
) -> Result<(), ClientError> {
    let (member_id, generation) = member.unwrap_or(("", -1));
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_retention_time_ms(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_leader_epoch(-1)
                    })
                    .collect(),
            )]);
    with_coordinator(client, group, |conn| {
        let (_, r) = conn.call(&request, OFFSET_COMMIT_VERSION_MAX)?;
        for t in &r.topics {
            for p in &t.partitions {
                ClientError::check(
                    p.error_code,
                    None,
                    format!(
                        "commit of group {group} on {}-{}",
                        t.name.0, p.partition_index
                    ),
                )?;
            }
        }
        Ok(())
    })
}

/// Run `f` on the coordinator of `group`, finding it again while it answers retriably
/// (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS...).
pub fn with_coordinator<T>(
    client: &mut Client,
    group: &str,
    mut f: impl FnMut(&mut super::Conn) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let mut last = None;
    for attempt in 0..COORDINATOR_ATTEMPTS_MAX {
        let node = client.coordinator(group)?;
        match f(client.node(node)?) {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() => {
                if matches!(e, ClientError::Network(_)) {
                    client.forget(node);
                }
                client.forget_coordinator(group);
                last = Some(e);
                std::thread::sleep(Duration::from_millis(50 * (attempt as u64 + 1)));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ClientError::Protocol("coordinator unavailable".into())))
}
