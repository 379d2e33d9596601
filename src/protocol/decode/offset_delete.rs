//! OffsetDelete request, version 0 (never flexible).

use bytes::Bytes;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(OffsetDeleteRequest, ApiKey::OffsetDelete, 0..=0);

fn decode(buf: &mut Bytes, _version: i16) -> Result<OffsetDeleteRequest> {
    let mut request = OffsetDeleteRequest::default();
    request.group_id = try_get_string(buf, false, "group_id")?.into();
    request.topics = try_get_array(buf, false, 2 + 4, "topics", |buf| {
        let mut topic = OffsetDeleteRequestTopic::default();
        topic.name = try_get_string(buf, false, "name")?.into();
        topic.partitions = try_get_array(buf, false, 4, "partitions", |buf| {
            let mut partition = OffsetDeleteRequestPartition::default();
            partition.partition_index = try_get_i32(buf, "partition_index")?;
            Ok(partition)
        })?;
        Ok(topic)
    })?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> OffsetDeleteRequest {
        let mut r = OffsetDeleteRequest::default();
        r.group_id = string(rng).into();
        r.topics = vec(rng, 3, |rng| {
            let mut t = OffsetDeleteRequestTopic::default();
            t.name = string(rng).into();
            t.partitions = vec(rng, 4, |rng| {
                let mut p = OffsetDeleteRequestPartition::default();
                p.partition_index = rng.gen();
                p
            });
            t
        });
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
