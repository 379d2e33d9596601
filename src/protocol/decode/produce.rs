//! Produce request, versions 3–11 (flexible from 9). The crate's type goes to v13.
//!
//! Record batches are sliced out of the frame, not copied: `records` shares the frame's buffer.

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(ProduceRequest, ApiKey::Produce, 3..=11);

fn decode(buf: &mut Bytes, version: i16) -> Result<ProduceRequest> {
    let flexible = version >= 9;
    let mut request = ProduceRequest::default();
    request.transactional_id =
        try_get_nullable_string(buf, flexible, "transactional_id")?.map(Into::into);
    request.acks = try_get_i16(buf, "acks")?;
    request.timeout_ms = try_get_i32(buf, "timeout_ms")?;
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topic_data = try_get_array(buf, flexible, topic_bytes_min, "topic_data", |buf| {
        topic(buf, flexible)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "produce")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, flexible: bool) -> Result<TopicProduceData> {
    let mut topic = TopicProduceData::default();
    topic.name = try_get_string(buf, flexible, "name")?.into();
    let partition_bytes_min = 4 + array_bytes_min(flexible) + tags_bytes_min(flexible);
    topic.partition_data = try_get_array(
        buf,
        flexible,
        partition_bytes_min,
        "partition_data",
        |buf| {
            let mut partition = PartitionProduceData::default();
            partition.index = try_get_i32(buf, "index")?;
            partition.records = try_get_nullable_bytes(buf, flexible, "records")?;
            partition.unknown_tagged_fields = try_get_tags_if(buf, flexible, "produce_partition")?;
            Ok(partition)
        },
    )?;
    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "produce_topic")?;
    Ok(topic)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;

    fn random(rng: &mut StdRng, version: i16) -> ProduceRequest {
        let flexible = version >= 9;
        let mut r = ProduceRequest::default();
        r.transactional_id = opt_string(rng).map(Into::into);
        r.acks = rng.gen();
        r.timeout_ms = rng.gen();
        r.topic_data = vec(rng, 3, |rng| {
            let mut t = TopicProduceData::default();
            t.name = string(rng).into();
            t.partition_data = vec(rng, 3, |rng| {
                let mut p = PartitionProduceData::default();
                p.index = rng.gen();
                p.records = rng.gen_bool(0.8).then(|| bytes(rng));
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

    #[test]
    fn records_are_slices_of_the_frame() {
        for version in [3, 9, 11] {
            let mut r = ProduceRequest::default();
            let mut t = TopicProduceData::default();
            let mut p = PartitionProduceData::default();
            p.records = Some(Bytes::from_static(b"a record batch, by any other name"));
            t.partition_data.push(p);
            r.topic_data.push(t);
            let frame = encode(&r, version);
            let decoded = ProduceRequest::try_decode(&mut frame.clone(), version).unwrap();
            let records = decoded.topic_data[0].partition_data[0]
                .records
                .clone()
                .unwrap();
            let start = records.as_ptr() as usize - frame.as_ptr() as usize;
            assert!(
                start + records.len() <= frame.len(),
                "v{version}: not inside the frame"
            );
            assert_eq!(&frame[start..start + records.len()], &records[..]);
        }
    }
}
