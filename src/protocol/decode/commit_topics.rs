//! The topic → partitions layout that OffsetCommit and TxnOffsetCommit share: a topic name,
//! then per partition its index, committed offset, committed leader epoch (from a version that
//! differs per API), committed metadata and tagged fields. Each API's decoder maps the
//! decoded fields into its own crate types.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::reader::*;

/// One partition's fields, as both APIs lay them out.
pub(super) struct CommitPartition {
    pub partition_index: i32,
    pub committed_offset: i64,
    /// None below the version that carries it (the crate's default, -1, stays).
    pub committed_leader_epoch: Option<i32>,
    pub committed_metadata: Option<StrBytes>,
    pub unknown_tagged_fields: BTreeMap<i32, Bytes>,
}

/// One topic: its name (or, from OffsetCommit v10, its id), its partitions mapped by the
/// caller, its tagged fields.
pub(super) struct CommitTopic<P> {
    pub name: StrBytes,
    pub id: Uuid,
    pub partitions: Vec<P>,
    pub unknown_tagged_fields: BTreeMap<i32, Bytes>,
}

/// Smallest encoding of a topic: an empty name (or an id), an empty array, no tags.
pub(super) const fn topic_bytes_min(flexible: bool, by_id: bool) -> usize {
    let name = if by_id {
        16
    } else {
        string_bytes_min(flexible)
    };
    name + array_bytes_min(flexible) + tags_bytes_min(flexible)
}

/// Decode one topic; `leader_epoch` says whether this version carries
/// `committed_leader_epoch`, `by_id` whether it names the topic by id instead of name,
/// `partition` builds the caller's partition type.
pub(super) fn try_get_commit_topic<P>(
    buf: &mut Bytes,
    flexible: bool,
    leader_epoch: bool,
    by_id: bool,
    mut partition: impl FnMut(CommitPartition) -> P,
) -> Result<CommitTopic<P>> {
    let (name, id) = if by_id {
        (StrBytes::default(), try_get_uuid(buf, "topic_id")?)
    } else {
        (try_get_string(buf, flexible, "name")?, Uuid::nil())
    };
    let partition_bytes_min = 4 + 8 + string_bytes_min(flexible) + tags_bytes_min(flexible);
    let partitions = try_get_array(buf, flexible, partition_bytes_min, "partitions", |buf| {
        let partition_index = try_get_i32(buf, "partition_index")?;
        let committed_offset = try_get_i64(buf, "committed_offset")?;
        let committed_leader_epoch = if leader_epoch {
            Some(try_get_i32(buf, "committed_leader_epoch")?)
        } else {
            None
        };
        let committed_metadata = try_get_nullable_string(buf, flexible, "committed_metadata")?;
        let unknown_tagged_fields = try_get_tags_if(buf, flexible, "partition")?;
        Ok(partition(CommitPartition {
            partition_index,
            committed_offset,
            committed_leader_epoch,
            committed_metadata,
            unknown_tagged_fields,
        }))
    })?;
    let unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
    Ok(CommitTopic {
        name,
        id,
        partitions,
        unknown_tagged_fields,
    })
}
