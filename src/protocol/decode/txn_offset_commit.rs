//! TxnOffsetCommit request, versions 0–5 (flexible from 3; leader epoch from 2; generation,
//! member and instance ids from 3).

use bytes::Bytes;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{ApiKey, TxnOffsetCommitRequest};

use super::commit_topics::{topic_bytes_min, try_get_commit_topic};
use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(TxnOffsetCommitRequest, ApiKey::TxnOffsetCommit, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<TxnOffsetCommitRequest> {
    let flexible = version >= 3;
    let mut request = TxnOffsetCommitRequest::default();
    request.transactional_id = try_get_string(buf, flexible, "transactional_id")?.into();
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    request.producer_id = try_get_i64(buf, "producer_id")?.into();
    request.producer_epoch = try_get_i16(buf, "producer_epoch")?;
    if version >= 3 {
        request.generation_id = try_get_i32(buf, "generation_id")?;
        request.member_id = try_get_string(buf, flexible, "member_id")?;
        request.group_instance_id = try_get_nullable_string(buf, flexible, "group_instance_id")?;
    }
    request.topics = try_get_array(
        buf,
        flexible,
        topic_bytes_min(flexible, false),
        "topics",
        |buf| topic(buf, version, flexible),
    )?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "txn_offset_commit")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<TxnOffsetCommitRequestTopic> {
    let t = try_get_commit_topic(buf, flexible, version >= 2, false, |f| {
        let mut partition = TxnOffsetCommitRequestPartition::default();
        partition.partition_index = f.partition_index;
        partition.committed_offset = f.committed_offset;
        if let Some(epoch) = f.committed_leader_epoch {
            partition.committed_leader_epoch = epoch;
        }
        partition.committed_metadata = f.committed_metadata;
        partition.unknown_tagged_fields = f.unknown_tagged_fields;
        partition
    })?;
    let mut topic = TxnOffsetCommitRequestTopic::default();
    topic.name = t.name.into();
    topic.partitions = t.partitions;
    topic.unknown_tagged_fields = t.unknown_tagged_fields;
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> TxnOffsetCommitRequest {
        let flexible = version >= 3;
        let mut r = TxnOffsetCommitRequest::default();
        r.transactional_id = string(rng).into();
        r.group_id = string(rng).into();
        r.producer_id = rng.gen::<i64>().into();
        r.producer_epoch = rng.gen();
        if version >= 3 {
            r.generation_id = rng.gen();
            r.member_id = string(rng);
            r.group_instance_id = opt_string(rng);
        }
        r.topics = vec(rng, 3, |rng| {
            let mut t = TxnOffsetCommitRequestTopic::default();
            t.name = string(rng).into();
            t.partitions = vec(rng, 3, |rng| {
                let mut p = TxnOffsetCommitRequestPartition::default();
                p.partition_index = rng.gen();
                p.committed_offset = rng.gen();
                if version >= 2 {
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
