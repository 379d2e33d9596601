//! DescribeShareGroupOffsets request, versions 0–1 (flexible; v1, Kafka 4.2's KIP-1226, only
//! adds the lag to the response, so both versions decode alike).

use bytes::Bytes;
use kafka_protocol::messages::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::{ApiKey, DescribeShareGroupOffsetsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    DescribeShareGroupOffsetsRequest,
    ApiKey::DescribeShareGroupOffsets,
    0..=1
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<DescribeShareGroupOffsetsRequest> {
    let mut request = DescribeShareGroupOffsetsRequest::default();
    // A group is at least its id (1), a null topic list (1) and its tags (1).
    request.groups = try_get_array(buf, true, 3, "groups", |buf| {
        let mut group = DescribeShareGroupOffsetsRequestGroup::default();
        group.group_id = try_get_string(buf, true, "group_id")?.into();
        group.topics = try_get_nullable_array(buf, true, 3, "topics", |buf| {
            let mut topic = DescribeShareGroupOffsetsRequestTopic::default();
            topic.topic_name = try_get_string(buf, true, "topic_name")?.into();
            topic.partitions = try_get_i32_array(buf, true, "partitions")?;
            topic.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "topic")?;
            Ok(topic)
        })?;
        group.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "group")?;
        Ok(group)
    })?;
    request.unknown_tagged_fields =
        try_get_unknown_tagged_fields(buf, "describe_share_group_offsets")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;
    use kafka_protocol::protocol::Encodable;

    fn random(rng: &mut StdRng, _version: i16) -> DescribeShareGroupOffsetsRequest {
        let mut r = DescribeShareGroupOffsetsRequest::default();
        r.groups = vec(rng, 3, |rng| {
            let mut g = DescribeShareGroupOffsetsRequestGroup::default();
            g.group_id = string(rng).into();
            g.topics = rng.gen_bool(0.7).then(|| {
                vec(rng, 3, |rng| {
                    let mut t = DescribeShareGroupOffsetsRequestTopic::default();
                    t.topic_name = string(rng).into();
                    t.partitions = vec(rng, 4, |rng| rng.gen());
                    t.unknown_tagged_fields = tags(rng, true);
                    t
                })
            });
            g.unknown_tagged_fields = tags(rng, true);
            g
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions_up_to(VERSIONS, 0, 40, random);
    }

    /// v1's request is v0's bytes (the crate stops at v0).
    #[test]
    fn v1_decodes_as_v0() {
        let mut rng = rng(91);
        for _ in 0..20 {
            let r = random(&mut rng, 0);
            let mut bytes = bytes::BytesMut::new();
            r.encode(&mut bytes, 0).unwrap();
            let back =
                DescribeShareGroupOffsetsRequest::try_decode(&mut bytes.freeze(), 1).unwrap();
            assert_eq!(back, r);
        }
    }
}
