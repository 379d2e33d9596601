//! ListOffsets request, versions 1–11 (flexible from 6; `timeout_ms` from 10). v11 (KIP-1023's
//! EARLIEST_PENDING_UPLOAD timestamp) has v10's layout; the crate's type goes to v10, so v11 is
//! tested against the crate's v10 bytes.

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(ListOffsetsRequest, ApiKey::ListOffsets, 1..=11);

fn decode(buf: &mut Bytes, version: i16) -> Result<ListOffsetsRequest> {
    let flexible = version >= 6;
    let mut request = ListOffsetsRequest::default();
    request.replica_id = try_get_i32(buf, "replica_id")?.into();
    if version >= 2 {
        request.isolation_level = try_get_i8(buf, "isolation_level")?;
    }
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        topic(buf, version, flexible)
    })?;
    if version >= 10 {
        request.timeout_ms = try_get_i32(buf, "timeout_ms")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "list_offsets")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<ListOffsetsTopic> {
    let mut topic = ListOffsetsTopic::default();
    topic.name = try_get_string(buf, flexible, "name")?.into();
    let partition_bytes_min = 4 + 8 + tags_bytes_min(flexible);
    topic.partitions = try_get_array(buf, flexible, partition_bytes_min, "partitions", |buf| {
        let mut partition = ListOffsetsPartition::default();
        partition.partition_index = try_get_i32(buf, "partition_index")?;
        if version >= 4 {
            partition.current_leader_epoch = try_get_i32(buf, "current_leader_epoch")?;
        }
        partition.timestamp = try_get_i64(buf, "timestamp")?;
        partition.unknown_tagged_fields = try_get_tags_if(buf, flexible, "list_offsets_partition")?;
        Ok(partition)
    })?;
    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "list_offsets_topic")?;
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;

    fn random(rng: &mut StdRng, version: i16) -> ListOffsetsRequest {
        let flexible = version >= 6;
        let mut r = ListOffsetsRequest::default();
        r.replica_id = rng.gen::<i32>().into();
        if version >= 2 {
            r.isolation_level = rng.gen();
        }
        r.topics = vec(rng, 3, |rng| {
            let mut t = ListOffsetsTopic::default();
            t.name = string(rng).into();
            t.partitions = vec(rng, 3, |rng| {
                let mut p = ListOffsetsPartition::default();
                p.partition_index = rng.gen();
                if version >= 4 {
                    p.current_leader_epoch = rng.gen();
                }
                p.timestamp = rng.gen();
                p.unknown_tagged_fields = tags(rng, flexible);
                p
            });
            t.unknown_tagged_fields = tags(rng, flexible);
            t
        });
        if version >= 10 {
            r.timeout_ms = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        // The crate encodes up to v10; v11 is checked below.
        check_versions_up_to(VERSIONS, 10, 40, random);
    }

    /// v11 has v10's layout: the crate's v10 bytes decode as v11 to the same request.
    #[test]
    fn v11_is_v10s_layout() {
        use kafka_protocol::protocol::Encodable;
        let mut rng = rng(11);
        for _ in 0..20 {
            let request = random(&mut rng, 10);
            let mut buf = bytes::BytesMut::new();
            request.encode(&mut buf, 10).unwrap();
            let decoded = ListOffsetsRequest::try_decode(&mut buf.freeze(), 11).unwrap();
            assert_eq!(decoded, request);
        }
    }
}
