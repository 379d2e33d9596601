//! OffsetForLeaderEpoch request, versions 2–4 (flexible from 4).

use bytes::Bytes;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    OffsetForLeaderEpochRequest,
    ApiKey::OffsetForLeaderEpoch,
    2..=4
);

fn decode(buf: &mut Bytes, version: i16) -> Result<OffsetForLeaderEpochRequest> {
    let flexible = version >= 4;
    let mut request = OffsetForLeaderEpochRequest::default();
    if version >= 3 {
        request.replica_id = try_get_i32(buf, "replica_id")?.into();
    }
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        let mut topic = OffsetForLeaderTopic::default();
        topic.topic = try_get_string(buf, flexible, "topic")?.into();
        let partition_bytes_min = 12 + tags_bytes_min(flexible);
        topic.partitions =
            try_get_array(buf, flexible, partition_bytes_min, "partitions", |buf| {
                let mut partition = OffsetForLeaderPartition::default();
                partition.partition = try_get_i32(buf, "partition")?;
                partition.current_leader_epoch = try_get_i32(buf, "current_leader_epoch")?;
                partition.leader_epoch = try_get_i32(buf, "leader_epoch")?;
                partition.unknown_tagged_fields =
                    try_get_tags_if(buf, flexible, "offset_for_leader_partition")?;
                Ok(partition)
            })?;
        topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "offset_for_leader_topic")?;
        Ok(topic)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "offset_for_leader_epoch")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> OffsetForLeaderEpochRequest {
        let flexible = version >= 4;
        let mut r = OffsetForLeaderEpochRequest::default();
        if version >= 3 {
            r.replica_id = rng.gen::<i32>().into();
        }
        r.topics = vec(rng, 3, |rng| {
            let mut t = OffsetForLeaderTopic::default();
            t.topic = string(rng).into();
            t.partitions = vec(rng, 3, |rng| {
                let mut p = OffsetForLeaderPartition::default();
                p.partition = rng.gen();
                p.current_leader_epoch = rng.gen();
                p.leader_epoch = rng.gen();
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
