//! CreateTopics (key 19): validated and applied by the controller (shard 0).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::metadata::configs::TOPIC_CONFIGS;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::shard::control::NewTopic;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::CreateTopics,
    min: 2,
    max: 7,
};

/// Kafka's ConfigSource values used here.
pub const CONFIG_SOURCE_TOPIC: i8 = 1;
pub const CONFIG_SOURCE_DEFAULT: i8 = 5;

pub async fn handle(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = CreateTopicsRequest::try_decode(body, version)?;
    let topics: Vec<NewTopic> = request
        .topics
        .iter()
        .map(|t| NewTopic {
            name: t.name.0.to_string(),
            partitions: if t.assignments.is_empty() {
                t.num_partitions
            } else {
                t.assignments.len() as i32
            },
            replication_factor: if t.assignments.is_empty() {
                t.replication_factor
            } else {
                t.assignments
                    .first()
                    .map_or(1, |a| a.broker_ids.len() as i16)
            },
            configs: t
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect(),
            internal: false,
        })
        .collect();
    let results = shard.create_topics(topics, request.validate_only).await;
    let topics = request
        .topics
        .iter()
        .zip(results)
        .map(|(t, r)| {
            let result = CreatableTopicResult::default().with_name(TopicName(t.name.0.clone()));
            match r {
                Ok(meta) => {
                    let configs = TOPIC_CONFIGS
                        .iter()
                        .map(|(name, default, _)| {
                            let (value, source) = super::describe_configs::topic_config_entry(
                                &shard.config,
                                &meta,
                                name,
                                default,
                            );
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(name))
                                .with_value(Some(str_bytes(&value)))
                                .with_config_source(source)
                        })
                        .collect();
                    result
                        .with_topic_id(meta.id)
                        .with_num_partitions(meta.partitions.len() as i32)
                        .with_replication_factor(1)
                        .with_configs(if version >= 5 { Some(configs) } else { None })
                }
                Err(e) => result
                    .with_error_code(e.code)
                    .with_error_message(Some(str_bytes(&e.message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &CreateTopicsResponse::default().with_topics(topics),
    ))
}
