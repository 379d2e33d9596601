//! AlterShareGroupOffsets request, version 0 (flexible).

use bytes::Bytes;
use kafka_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, ApiKey};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    AlterShareGroupOffsetsRequest,
    ApiKey::AlterShareGroupOffsets,
    0..=0
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<AlterShareGroupOffsetsRequest> {
    let mut request = AlterShareGroupOffsetsRequest::default();
    request.group_id = try_get_string(buf, true, "group_id")?.into();
    // A topic is at least its name (1), its partition list (1) and its tags (1).
    request.topics = try_get_array(buf, true, 3, "topics", |buf| {
        let mut topic = AlterShareGroupOffsetsRequestTopic::default();
        topic.topic_name = try_get_string(buf, true, "topic_name")?.into();
        // A partition: index (4), start offset (8), tags (1).
        topic.partitions = try_get_array(buf, true, 13, "partitions", |buf| {
            let mut p = AlterShareGroupOffsetsRequestPartition::default();
            p.partition_index = try_get_i32(buf, "partition_index")?;
            p.start_offset = try_get_i64(buf, "start_offset")?;
            p.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "partition")?;
            Ok(p)
        })?;
        topic.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "topic")?;
        Ok(topic)
    })?;
    request.unknown_tagged_fields =
        try_get_unknown_tagged_fields(buf, "alter_share_group_offsets")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> AlterShareGroupOffsetsRequest {
        let mut r = AlterShareGroupOffsetsRequest::default();
        r.group_id = string(rng).into();
        r.topics = vec(rng, 3, |rng| {
            let mut t = AlterShareGroupOffsetsRequestTopic::default();
            t.topic_name = string(rng).into();
            t.partitions = vec(rng, 4, |rng| {
                let mut p = AlterShareGroupOffsetsRequestPartition::default();
                p.partition_index = rng.gen();
                p.start_offset = rng.gen();
                p.unknown_tagged_fields = tags(rng, true);
                p
            });
            t.unknown_tagged_fields = tags(rng, true);
            t
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
