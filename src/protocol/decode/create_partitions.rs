//! CreatePartitions request, versions 0–3 (flexible from 2).

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(CreatePartitionsRequest, ApiKey::CreatePartitions, 0..=3);

fn decode(buf: &mut Bytes, version: i16) -> Result<CreatePartitionsRequest> {
    let flexible = version >= 2;
    let mut request = CreatePartitionsRequest::default();
    let topic_bytes_min =
        string_bytes_min(flexible) + 4 + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        let mut topic = CreatePartitionsTopic::default();
        topic.name = try_get_string(buf, flexible, "name")?.into();
        topic.count = try_get_i32(buf, "count")?;
        let assignment_bytes_min = array_bytes_min(flexible) + tags_bytes_min(flexible);
        topic.assignments =
            try_get_nullable_array(buf, flexible, assignment_bytes_min, "assignments", |buf| {
                let mut assignment = CreatePartitionsAssignment::default();
                assignment.broker_ids = try_get_i32_array(buf, flexible, "broker_ids")?
                    .into_iter()
                    .map(Into::into)
                    .collect();
                assignment.unknown_tagged_fields = try_get_tags_if(buf, flexible, "assignment")?;
                Ok(assignment)
            })?;
        topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
        Ok(topic)
    })?;
    request.timeout_ms = try_get_i32(buf, "timeout_ms")?;
    request.validate_only = try_get_bool(buf, "validate_only")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "create_partitions")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> CreatePartitionsRequest {
        let flexible = version >= 2;
        let mut r = CreatePartitionsRequest::default();
        r.topics = vec(rng, 3, |rng| {
            let mut t = CreatePartitionsTopic::default();
            t.name = string(rng).into();
            t.count = rng.gen();
            t.assignments = rng.gen_bool(0.7).then(|| {
                vec(rng, 3, |rng| {
                    let mut a = CreatePartitionsAssignment::default();
                    a.broker_ids = vec(rng, 3, |rng| rng.gen::<i32>().into());
                    a.unknown_tagged_fields = tags(rng, flexible);
                    a
                })
            });
            t.unknown_tagged_fields = tags(rng, flexible);
            t
        });
        r.timeout_ms = rng.gen();
        r.validate_only = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
