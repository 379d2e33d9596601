//! OffsetCommit request, versions 2–10 (flexible from 8; v9 carries a KIP-848 member epoch in
//! the generation field, with the same layout; v10, Kafka 4.2, names each topic by its id
//! instead of its name — the crate's request type has the field but encodes only to v9).

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest};

use super::commit_topics::{topic_bytes_min, try_get_commit_topic};
use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(OffsetCommitRequest, ApiKey::OffsetCommit, 2..=10);

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
    let by_id = version >= 10;
    request.topics = try_get_array(
        buf,
        flexible,
        topic_bytes_min(flexible, by_id),
        "topics",
        |buf| topic(buf, version, flexible),
    )?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "offset_commit")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<OffsetCommitRequestTopic> {
    let t = try_get_commit_topic(buf, flexible, version >= 6, version >= 10, |f| {
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
    topic.topic_id = t.id;
    topic.partitions = t.partitions;
    topic.unknown_tagged_fields = t.unknown_tagged_fields;
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;

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
            if version >= 10 {
                t.topic_id = uuid(rng);
            } else {
                t.name = string(rng).into();
            }
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
        check_versions_up_to(VERSIONS, 9, 40, random);
    }

    /// v10 (past the crate's requests): v9's layout with each topic's name replaced by its
    /// id, written here from the crate's pieces (the partitions are v9's, byte for byte).
    fn encode_v10(r: &OffsetCommitRequest) -> Bytes {
        use kafka_protocol::protocol::Encodable;
        let mut b = bytes::BytesMut::new();
        put_compact_string(&mut b, Some(r.group_id.0.as_str()));
        bytes::BufMut::put_i32(&mut b, r.generation_id_or_member_epoch);
        put_compact_string(&mut b, Some(r.member_id.as_str()));
        put_compact_string(&mut b, r.group_instance_id.as_ref().map(|s| s.as_str()));
        put_uvarint(&mut b, r.topics.len() as u64 + 1);
        for t in &r.topics {
            bytes::BufMut::put_slice(&mut b, t.topic_id.as_bytes());
            put_uvarint(&mut b, t.partitions.len() as u64 + 1);
            for p in &t.partitions {
                p.encode(&mut b, 9).unwrap();
            }
            put_tags(&mut b, &t.unknown_tagged_fields);
        }
        put_tags(&mut b, &r.unknown_tagged_fields);
        b.freeze()
    }

    #[test]
    fn v10_names_topics_by_id() {
        let mut rng = rng(10);
        for round in 0..40 {
            let r = random(&mut rng, 10);
            let encoded = encode_v10(&r);
            let mut buf = encoded.clone();
            let back = OffsetCommitRequest::try_decode(&mut buf, 10).unwrap();
            assert_eq!(back, r);
            if round < 3 {
                truncations::<OffsetCommitRequest>(&encoded, 10);
                hostile::<OffsetCommitRequest>(&encoded, 10);
            }
        }
    }
}
