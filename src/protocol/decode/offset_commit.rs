//! OffsetCommit request, versions 2–9 (flexible from 8; v9 carries a KIP-848 member epoch in
//! the generation field, with the same layout).

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest};

use super::commit_topics::{topic_bytes_min, try_get_commit_topic};
use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(OffsetCommitRequest, ApiKey::OffsetCommit, 2..=9);

fn decode(buf: &mut Bytes, version: i16) -> Result<OffsetCommitRequest> {
    let flexible = version >= 8;
    let mut request = OffsetCommitRequest::default();
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    request.generation_id_or_member_epoch = try_get_i32(buf, "generation_id_or_member_epoch")?;
    request.member_id = try_get_string(buf, flexible, "member_id")?;
    if version >= 7 {
        request.group_instance_id = try_get_nullable_string(buf, flexible, "group_instance_id")?;
    }
    if version <= 4 {
        request.retention_time_ms = try_get_i64(buf, "retention_time_ms")?;
    }
    request.topics = try_get_array(buf, flexible, topic_bytes_min(flexible), "topics", |buf| {
        topic(buf, version, flexible)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "offset_commit")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<OffsetCommitRequestTopic> {
    let t = try_get_commit_topic(buf, flexible, version >= 6, |f| {
        let mut partition = OffsetCommitRequestPartition::default();
        partition.partition_index = f.partition_index;
        partition.committed_offset = f.committed_offset;
        if let Some(epoch) = f.committed_leader_epoch {
            partition.committed_leader_epoch = epoch;
        }
        partition.committed_metadata = f.committed_metadata;
        partition.unknown_tagged_fields = f.unknown_tagged_fields;
        partition
    })?;
    let mut topic = OffsetCommitRequestTopic::default();
    topic.name = t.name.into();
    topic.partitions = t.partitions;
    topic.unknown_tagged_fields = t.unknown_tagged_fields;
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> OffsetCommitRequest {
        let flexible = version >= 8;
        let mut r = OffsetCommitRequest::default();
        r.group_id = string(rng).into();
        r.generation_id_or_member_epoch = rng.gen();
        r.member_id = string(rng);
        if version >= 7 {
            r.group_instance_id = opt_string(rng);
        }
        if version <= 4 {
            r.retention_time_ms = rng.gen();
        }
        r.topics = vec(rng, 3, |rng| {
            let mut t = OffsetCommitRequestTopic::default();
            t.name = string(rng).into();
            t.partitions = vec(rng, 3, |rng| {
                let mut p = OffsetCommitRequestPartition::default();
                p.partition_index = rng.gen();
                p.committed_offset = rng.gen();
                if version >= 6 {
                    p.committed_leader_epoch = rng.gen();
                }
                p.committed_metadata = opt_string(rng);
                p.unknown_tagged_fields = tags(rng, flexible);
                p
            });
            t.unknown_tagged_fields = tags(rng, flexible);
            t
        });
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
