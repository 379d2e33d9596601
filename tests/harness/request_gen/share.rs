//! KIP-932 share group requests, with the share-group offset admin APIs.

use super::*;

/// The request body of API `key` at version `v` if it is one of this family's (`None`:
/// another family's), as `super::body` builds it.
pub(super) fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    _stats: &mut Stats,
    _joined: &mut Option<String>,
) -> Option<Option<BytesMut>> {
    let body = match key {
        ApiKey::ShareGroupHeartbeat => enc(
            ShareGroupHeartbeatRequest::default()
                .with_group_id(group(c))
                .with_member_id(s(c.pick(&["fz-share-member", "", "fz-share-other"])))
                .with_member_epoch(int32(c, -2..=3))
                .with_rack_id(c.one_in(4).then(|| s("rack")))
                .with_subscribed_topic_names(nullable_list(c, topic)),
            v,
        ),
        ApiKey::ShareGroupDescribe => enc(
            ShareGroupDescribeRequest::default()
                .with_group_ids(list(c, group))
                .with_include_authorized_operations(c.one_in(2)),
            v,
        ),
        ApiKey::ShareFetch => {
            let ack_batches = |c: &mut Choices| {
                few(c, |c| {
                    share_fetch_request::AcknowledgementBatch::default()
                        .with_first_offset(offset(c))
                        .with_last_offset(offset(c))
                        .with_acknowledge_types(few(c, |c| int8(c, -1..=5)))
                })
            };
            let group_id = if c.one_in(8) { None } else { Some(group(c)) };
            let r = ShareFetchRequest::default()
                .with_group_id(group_id)
                .with_member_id(Some(s(c.pick(&["fz-share-member", "", "fz-share-other"]))))
                .with_share_session_epoch(int32(c, -2..=3))
                .with_max_wait_ms(wait_ms(c))
                .with_min_bytes(int32(c, 0..=1))
                .with_max_bytes(bytes_limit(c))
                .with_max_records(int32(c, -1..=50))
                .with_batch_size(int32(c, -1..=50))
                .with_topics(few(c, |c| {
                    share_fetch_request::FetchTopic::default()
                        .with_topic_id(uuid(c, ctx))
                        .with_partitions(few(c, |c| {
                            share_fetch_request::FetchPartition::default()
                                .with_partition_index(partition(c))
                                .with_acknowledgement_batches(ack_batches(c))
                        }))
                }))
                .with_forgotten_topics_data(few(c, |c| {
                    share_fetch_request::ForgottenTopic::default()
                        .with_topic_id(uuid(c, ctx))
                        .with_partitions(few(c, partition))
                }));
            let mut b = enc(r.clone(), 1)?;
            if v >= 2 {
                // v2 adds ShareAcquireMode (int8) and IsRenewAck (bool) after BatchSize.
                let at = compact_len(r.group_id.as_ref().map(|g| g.0.len()))
                    + compact_len(r.member_id.as_ref().map(|m| m.len()))
                    + 4 * 6;
                let mut v2 = b.split_to(at.min(b.len()));
                v2.extend_from_slice(&[int8(c, 0..=1) as u8, u8::from(c.one_in(4))]);
                v2.extend_from_slice(&b);
                b = v2;
            }
            Some(b)
        }
        ApiKey::ShareAcknowledge => {
            let r = ShareAcknowledgeRequest::default()
                .with_group_id(Some(group(c)))
                .with_member_id(Some(s(c.pick(&["fz-share-member", "", "fz-share-other"]))))
                .with_share_session_epoch(int32(c, -2..=3))
                .with_topics(few(c, |c| {
                    share_acknowledge_request::AcknowledgeTopic::default()
                        .with_topic_id(uuid(c, ctx))
                        .with_partitions(few(c, |c| {
                            share_acknowledge_request::AcknowledgePartition::default()
                                .with_partition_index(partition(c))
                                .with_acknowledgement_batches(few(c, |c| {
                                    share_acknowledge_request::AcknowledgementBatch::default()
                                        .with_first_offset(offset(c))
                                        .with_last_offset(offset(c))
                                        .with_acknowledge_types(few(c, |c| int8(c, -1..=5)))
                                }))
                        }))
                }));
            let mut b = enc(r.clone(), 1)?;
            if v >= 2 {
                // v2 adds IsRenewAck (bool) after ShareSessionEpoch.
                let at = compact_len(r.group_id.as_ref().map(|g| g.0.len()))
                    + compact_len(r.member_id.as_ref().map(|m| m.len()))
                    + 4;
                let mut v2 = b.split_to(at.min(b.len()));
                v2.extend_from_slice(&[u8::from(c.one_in(4))]);
                v2.extend_from_slice(&b);
                b = v2;
            }
            Some(b)
        }
        // v1 has v0's request layout (KIP-1226 changed the response only).
        ApiKey::DescribeShareGroupOffsets => enc(
            DescribeShareGroupOffsetsRequest::default().with_groups(few(c, |c| {
                describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                    .with_group_id(group(c))
                    .with_topics((!c.one_in(3)).then(|| {
                        few(c, |c| {
                            describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                                .with_topic_name(topic(c))
                                .with_partitions(few(c, partition))
                        })
                    }))
            })),
            0,
        ),
        ApiKey::AlterShareGroupOffsets => enc(
            AlterShareGroupOffsetsRequest::default()
                .with_group_id(group(c))
                .with_topics(few(c, |c| {
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic(c))
                        .with_partitions(few(c, |c| {
                            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                                .with_partition_index(partition(c))
                                .with_start_offset(int64(c, -2..=20))
                        }))
                })),
            v,
        ),
        ApiKey::DeleteShareGroupOffsets => enc(
            DeleteShareGroupOffsetsRequest::default()
                .with_group_id(group(c))
                .with_topics(few(c, |c| {
                    delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic(c))
                })),
            v,
        ),
        _ => return None,
    };
    Some(body)
}

/// Bytes of a compact nullable string of `len` bytes (None: null).
fn compact_len(len: Option<usize>) -> usize {
    let Some(len) = len else { return 1 };
    let mut n = len + 1;
    let mut varint = 1;
    while n >= 0x80 {
        n >>= 7;
        varint += 1;
    }
    varint + len
}
