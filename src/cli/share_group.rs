//! `sluice group`'s share-group (KIP-932) calls: ShareGroupDescribe for `describe` and for
//! `reset-offsets`' emptiness check, AlterShareGroupOffsets for `reset-offsets --execute`
//! (kafka-share-groups.sh's `--reset-offsets`).

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, ShareGroupDescribeRequest};

use super::group::{describe_new_protocol, Described};
use sluice_client::groups::{group_id, with_coordinator};
use sluice_client::{topic_name, Client, ClientError};

/// ShareGroupDescribe (KIP-932) version asked (v1: Kafka 4.1+ serve no v0).
const SHARE_GROUP_DESCRIBE_VERSION_MAX: i16 = 1;
/// AlterShareGroupOffsets version asked (Kafka 4.2 serves v0).
const ALTER_SHARE_GROUP_OFFSETS_VERSION_MAX: i16 = 0;

/// A share group as ShareGroupDescribe tells it (None: not a share group).
pub(super) fn describe(client: &mut Client, group: &str) -> Result<Option<Described>, ClientError> {
    let request = ShareGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]);
    describe_new_protocol!(
        client,
        group,
        request,
        SHARE_GROUP_DESCRIBE_VERSION_MAX,
        "share",
        |m| None
    )
}

/// Set the share group's start offsets to `plan`'s (topic, partition, offset): every
/// partition's error is reported, not only the first.
pub(super) fn alter_offsets(
    client: &mut Client,
    group: &str,
    plan: &[(String, i32, i64)],
) -> Result<(), ClientError> {
    let mut by_topic: BTreeMap<&str, Vec<AlterShareGroupOffsetsRequestPartition>> = BTreeMap::new();
    for (t, p, o) in plan {
        by_topic.entry(t).or_default().push(
            AlterShareGroupOffsetsRequestPartition::default()
                .with_partition_index(*p)
                .with_start_offset(*o),
        );
    }
    let request = AlterShareGroupOffsetsRequest::default()
        .with_group_id(group_id(group))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let r = with_coordinator(client, group, |conn| {
        let (_, r) = conn.call(&request, ALTER_SHARE_GROUP_OFFSETS_VERSION_MAX)?;
        ClientError::check(
            r.error_code,
            r.error_message.as_deref(),
            format!("share group {group}"),
        )?;
        Ok(r)
    })?;
    let failed: Vec<ClientError> = r
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().filter_map(move |p| {
                ClientError::check(
                    p.error_code,
                    p.error_message.as_deref(),
                    format!(
                        "start offset of group {group} on {}-{}",
                        t.topic_name.0, p.partition_index
                    ),
                )
                .err()
            })
        })
        .collect();
    match failed.len() {
        0 => Ok(()),
        1 => Err(failed
            .into_iter()
            .next()
            .unwrap_or(ClientError::Several(Vec::new()))),
        _ => Err(ClientError::Several(failed)),
    }
}
