//! DescribeTopicPartitions request, version 0 (flexible; Kafka 3.8+, KIP-966).

use bytes::Bytes;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::{ApiKey, DescribeTopicPartitionsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    DescribeTopicPartitionsRequest,
    ApiKey::DescribeTopicPartitions,
    0..=0
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<DescribeTopicPartitionsRequest> {
    let mut request = DescribeTopicPartitionsRequest::default();
    let topic_bytes_min = string_bytes_min(true) + tags_bytes_min(true);
    request.topics = try_get_array(buf, true, topic_bytes_min, "topics", |buf| {
        let mut topic = TopicRequest::default();
        topic.name = try_get_string(buf, true, "name")?.into();
        topic.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "topic")?;
        Ok(topic)
    })?;
    request.response_partition_limit = try_get_i32(buf, "response_partition_limit")?;
    // A nullable struct: a negative flag byte is null, any other is a struct, as Kafka reads it.
    if try_get_i8(buf, "cursor")? >= 0 {
        let mut cursor = Cursor::default();
        cursor.topic_name = try_get_string(buf, true, "cursor.topic_name")?.into();
        cursor.partition_index = try_get_i32(buf, "cursor.partition_index")?;
        cursor.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "cursor")?;
        request.cursor = Some(cursor);
    }
    request.unknown_tagged_fields =
        try_get_unknown_tagged_fields(buf, "describe_topic_partitions")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> DescribeTopicPartitionsRequest {
        let mut r = DescribeTopicPartitionsRequest::default();
        r.topics = vec(rng, 4, |rng| {
            let mut t = TopicRequest::default();
            t.name = string(rng).into();
            t.unknown_tagged_fields = tags(rng, true);
            t
        });
        r.response_partition_limit = rng.gen();
        r.cursor = rng.gen_bool(0.5).then(|| {
            let mut c = Cursor::default();
            c.topic_name = string(rng).into();
            c.partition_index = rng.gen();
            c.unknown_tagged_fields = tags(rng, true);
            c
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
