//! DescribeLogDirs request, versions 1–4 (flexible from 2).

use bytes::Bytes;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DescribeLogDirsRequest, ApiKey::DescribeLogDirs, 1..=4);

fn decode(buf: &mut Bytes, version: i16) -> Result<DescribeLogDirsRequest> {
    let flexible = version >= 2;
    let mut request = DescribeLogDirsRequest::default();
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topics = try_get_nullable_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        let mut topic = DescribableLogDirTopic::default();
        topic.topic = try_get_string(buf, flexible, "topic")?.into();
        topic.partitions = try_get_i32_array(buf, flexible, "partitions")?;
        topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
        Ok(topic)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "describe_log_dirs")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DescribeLogDirsRequest {
        let flexible = version >= 2;
        let mut r = DescribeLogDirsRequest::default();
        r.topics = rng.gen_bool(0.8).then(|| {
            vec(rng, 3, |rng| {
                let mut t = DescribableLogDirTopic::default();
                t.topic = string(rng).into();
                t.partitions = vec(rng, 4, |rng| rng.gen());
                t.unknown_tagged_fields = tags(rng, flexible);
                t
            })
        });
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
