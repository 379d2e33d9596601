//! CreateTopics (key 19): validated and applied by the controller (shard 0).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::metadata::configs::TOPIC_CONFIGS;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
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
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = CreateTopicsRequest::try_decode(body, version)?;
    let authz = Authz::new(shard, session);
    // Kafka's controller: CREATE on the cluster covers every topic, else CREATE on each; a
    // name given twice is the controller's INVALID_REQUEST whoever asks. DESCRIBE_CONFIGS on
    // the topic decides whether its configs come back.
    let cluster_create = authz.cluster(AclOperation::Create);
    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for t in &request.topics {
        *seen.entry(t.name.0.as_str()).or_default() += 1;
    }
    let denied: Vec<bool> = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            seen.get(name) == Some(&1)
                && !cluster_create
                && !authz.topic(AclOperation::Create, name)
        })
        .collect();
    let topics: Vec<NewTopic> = request
        .topics
        .iter()
        .zip(&denied)
        .filter(|(_, denied)| !**denied)
        .map(|(t, _)| NewTopic {
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
    let mut results = shard
        .create_topics(topics, request.validate_only)
        .await
        .into_iter();
    let topics = request
        .topics
        .iter()
        .zip(&denied)
        .map(|(t, denied)| {
            let result = CreatableTopicResult::default().with_name(TopicName(t.name.0.clone()));
            if *denied {
                return result
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(Some(str_bytes("Authorization failed.")))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1);
            }
            match results.next() {
                None => result
                    .with_error_code(ResponseError::UnknownServerError.code())
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
                Some(Ok(meta)) if !authz.topic(AclOperation::DescribeConfigs, &t.name.0) => {
                    // Created, but its configs, partition count and replication factor (v5+)
                    // are not the principal's to see: Kafka says so in topic_config_error_code.
                    result.with_topic_id(meta.id).with_topic_config_error_code(
                        ResponseError::TopicAuthorizationFailed.code(),
                    )
                }
                Some(Ok(meta)) => {
                    let dynamic = shard.snapshot().broker_configs.clone();
                    let configs = TOPIC_CONFIGS
                        .iter()
                        .map(|(name, default, _)| {
                            let (value, source) = super::describe_configs::topic_config_entry(
                                &shard.config,
                                &dynamic,
                                shard.id,
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
                Some(Err(e)) => result
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
