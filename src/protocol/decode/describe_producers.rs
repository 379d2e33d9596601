//! DescribeProducers request, version 0 (flexible).

use bytes::Bytes;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{ApiKey, DescribeProducersRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DescribeProducersRequest, ApiKey::DescribeProducers, 0..=0);

fn decode(buf: &mut Bytes, _version: i16) -> Result<DescribeProducersRequest> {
    let flexible = true;
    let mut request = DescribeProducersRequest::default();
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        let mut topic = TopicRequest::default();
        topic.name = try_get_string(buf, flexible, "name")?.into();
        topic.partition_indexes = try_get_i32_array(buf, flexible, "partition_indexes")?;
        topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
        Ok(topic)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "describe_producers")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> DescribeProducersRequest {
        let mut r = DescribeProducersRequest::default();
        r.topics = vec(rng, 3, |rng| {
            let mut t = TopicRequest::default();
            t.name = string(rng).into();
            t.partition_indexes = vec(rng, 4, |rng| rng.gen());
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
