//! DeleteRecords request, versions 0–2 (flexible from 2).

use bytes::Bytes;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DeleteRecordsRequest, ApiKey::DeleteRecords, 0..=2);

fn decode(buf: &mut Bytes, version: i16) -> Result<DeleteRecordsRequest> {
    let flexible = version >= 2;
    let mut request = DeleteRecordsRequest::default();
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        let mut topic = DeleteRecordsTopic::default();
        topic.name = try_get_string(buf, flexible, "name")?.into();
        let partition_bytes_min = 4 + 8 + tags_bytes_min(flexible);
        topic.partitions =
            try_get_array(buf, flexible, partition_bytes_min, "partitions", |buf| {
                let mut partition = DeleteRecordsPartition::default();
                partition.partition_index = try_get_i32(buf, "partition_index")?;
                partition.offset = try_get_i64(buf, "offset")?;
                partition.unknown_tagged_fields = try_get_tags_if(buf, flexible, "partition")?;
                Ok(partition)
            })?;
        topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
        Ok(topic)
    })?;
    request.timeout_ms = try_get_i32(buf, "timeout_ms")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "delete_records")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DeleteRecordsRequest {
        let flexible = version >= 2;
        let mut r = DeleteRecordsRequest::default();
        r.topics = vec(rng, 3, |rng| {
            let mut t = DeleteRecordsTopic::default();
            t.name = string(rng).into();
            t.partitions = vec(rng, 3, |rng| {
                let mut p = DeleteRecordsPartition::default();
                p.partition_index = rng.gen();
                p.offset = rng.gen();
                p.unknown_tagged_fields = tags(rng, flexible);
                p
            });
            t.unknown_tagged_fields = tags(rng, flexible);
            t
        });
        r.timeout_ms = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
