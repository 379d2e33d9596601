//! CreateTopics request, versions 2–7 (flexible from 5).

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(CreateTopicsRequest, ApiKey::CreateTopics, 2..=7);

fn decode(buf: &mut Bytes, version: i16) -> Result<CreateTopicsRequest> {
    let flexible = version >= 5;
    let mut request = CreateTopicsRequest::default();
    let topic_bytes_min = string_bytes_min(flexible)
        + 4
        + 2
        + 2 * array_bytes_min(flexible)
        + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        topic(buf, flexible)
    })?;
    request.timeout_ms = try_get_i32(buf, "timeout_ms")?;
    request.validate_only = try_get_bool(buf, "validate_only")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "create_topics")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, flexible: bool) -> Result<CreatableTopic> {
    let mut topic = CreatableTopic::default();
    topic.name = try_get_string(buf, flexible, "name")?.into();
    topic.num_partitions = try_get_i32(buf, "num_partitions")?;
    topic.replication_factor = try_get_i16(buf, "replication_factor")?;
    let assignment_bytes_min = 4 + array_bytes_min(flexible) + tags_bytes_min(flexible);
    topic.assignments = try_get_array(buf, flexible, assignment_bytes_min, "assignments", |buf| {
        let mut assignment = CreatableReplicaAssignment::default();
        assignment.partition_index = try_get_i32(buf, "partition_index")?;
        assignment.broker_ids = try_get_i32_array(buf, flexible, "broker_ids")?
            .into_iter()
            .map(Into::into)
            .collect();
        assignment.unknown_tagged_fields = try_get_tags_if(buf, flexible, "assignment")?;
        Ok(assignment)
    })?;
    let config_bytes_min = 2 * string_bytes_min(flexible) + tags_bytes_min(flexible);
    topic.configs = try_get_array(buf, flexible, config_bytes_min, "configs", |buf| {
        let mut config = CreatableTopicConfig::default();
        config.name = try_get_string(buf, flexible, "config_name")?;
        config.value = try_get_nullable_string(buf, flexible, "config_value")?;
        config.unknown_tagged_fields = try_get_tags_if(buf, flexible, "config")?;
        Ok(config)
    })?;
    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "creatable_topic")?;
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> CreateTopicsRequest {
        let flexible = version >= 5;
        let mut r = CreateTopicsRequest::default();
        r.topics = vec(rng, 3, |rng| {
            let mut t = CreatableTopic::default();
            t.name = string(rng).into();
            t.num_partitions = rng.gen();
            t.replication_factor = rng.gen();
            t.assignments = vec(rng, 3, |rng| {
                let mut a = CreatableReplicaAssignment::default();
                a.partition_index = rng.gen();
                a.broker_ids = vec(rng, 3, |rng| rng.gen::<i32>().into());
                a.unknown_tagged_fields = tags(rng, flexible);
                a
            });
            t.configs = vec(rng, 3, |rng| {
                let mut c = CreatableTopicConfig::default();
                c.name = string(rng);
                c.value = opt_string(rng);
                c.unknown_tagged_fields = tags(rng, flexible);
                c
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
