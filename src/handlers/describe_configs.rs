//! DescribeConfigs (key 32): topic configs (set ones and Kafka's defaults), broker ones, and
//! group configs (resource type 32, Kafka 4's `GroupConfig`: every group at its defaults).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader,
};

use super::create_topics::{CONFIG_SOURCE_DEFAULT, CONFIG_SOURCE_TOPIC};
use super::{encode, str_bytes, Reply, Versions};
use crate::metadata::broker_configs;
use crate::metadata::configs::TOPIC_CONFIGS;
use crate::metadata::group_configs::GROUP_CONFIGS;
use crate::metadata::Snapshot;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeConfigs,
    min: 1,
    max: 4,
};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_GROUP: i8 = 32;
/// Kafka's ConfigSource for a static broker config.
const CONFIG_SOURCE_STATIC_BROKER: i8 = 4;
/// Kafka's ConfigSource for a broker config set dynamically for the cluster default.
const CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
/// Kafka's ConfigSource for a broker config set dynamically for one broker.
const CONFIG_SOURCE_DYNAMIC_BROKER: i8 = 2;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeConfigsRequest::try_decode(body, header.request_api_version)?;
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    let results = request
        .resources
        .iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            // DESCRIBE_CONFIGS on the topic, or on the cluster for broker resources (Kafka's
            // ConfigHelper): denied, the error and its default message, no configs.
            if let Some(Err(error)) = authz.config_resource(
                AclOperation::DescribeConfigs,
                r.resource_type,
                &r.resource_name,
            ) {
                return result
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(error.message())));
            }
            let keys: Option<Vec<String>> = r
                .configuration_keys
                .as_ref()
                .map(|k| k.iter().map(|s| s.to_string()).collect());
            let wanted = |name: &str| keys.as_ref().is_none_or(|k| k.iter().any(|w| w == name));
            match r.resource_type {
                RESOURCE_TOPIC => match snapshot.topic(&r.resource_name) {
                    None => result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str_bytes(
                            "This server does not host this topic.",
                        ))),
                    Some(t) => result.with_configs(
                        TOPIC_CONFIGS
                            .iter()
                            .filter(|(name, _, _)| wanted(name))
                            .map(|(name, default, _)| {
                                let (value, source) = topic_config_entry(
                                    &shard.config,
                                    &snapshot.broker_configs,
                                    shard.id,
                                    t,
                                    name,
                                    default,
                                );
                                DescribeConfigsResourceResult::default()
                                    .with_name(str_bytes(name))
                                    .with_value(Some(str_bytes(&value)))
                                    .with_config_source(source)
                            })
                            .collect(),
                    ),
                },
                RESOURCE_BROKER => match broker_entries(shard, &snapshot, &r.resource_name) {
                    Ok(entries) => result.with_configs(
                        entries
                            .into_iter()
                            .filter(|e| wanted(e.name.as_str()))
                            .collect(),
                    ),
                    Err(message) => result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(&message))),
                },
                // Described whether or not the group exists, as Kafka does.
                RESOURCE_GROUP if r.resource_name.is_empty() => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("Group name must not be empty"))),
                RESOURCE_GROUP => result.with_configs(
                    GROUP_CONFIGS
                        .iter()
                        .filter(|(name, _, _)| wanted(name))
                        .map(|(name, value, config_type)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(name))
                                .with_value(Some(str_bytes(value)))
                                .with_config_source(CONFIG_SOURCE_DEFAULT)
                                .with_config_type(*config_type)
                        })
                        .collect(),
                ),
                _ => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("Unsupported resource type."))),
            }
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &DescribeConfigsResponse::default().with_results(results),
    ))
}

/// A BROKER resource's entries, as Kafka's `ConfigHelper` describes them: the cluster
/// default resource `""` lists only the dynamic configs set for it
/// (DYNAMIC_DEFAULT_BROKER_CONFIG); a broker id (a shard) lists every config with its source:
/// set for that broker (DYNAMIC_BROKER_CONFIG), for the cluster default, or the flag
/// (STATIC_BROKER_CONFIG). Dynamic ones are not read-only.
fn broker_entries(
    shard: &Shard,
    snapshot: &Snapshot,
    name: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, String> {
    let dynamic = &snapshot.broker_configs;
    let entry = |name: &str, value: &str, source: i8, read_only: bool| {
        DescribeConfigsResourceResult::default()
            .with_name(str_bytes(name))
            .with_value(Some(str_bytes(value)))
            .with_read_only(read_only)
            .with_config_source(source)
    };
    let Some(broker) = super::incremental_alter_configs::broker_id(shard, name)? else {
        return Ok(dynamic
            .cluster_default
            .iter()
            .map(|(n, v)| entry(n, v, CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER, false))
            .collect());
    };
    let c = &shard.config;
    let d = &c.log_defaults;
    let configs = [
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
        ),
        ("default.replication.factor", "1".to_string()),
        ("log.flush.interval.messages", d.flush_messages.to_string()),
        ("log.flush.interval.ms", d.flush_ms.to_string()),
        (
            "log.index.interval.bytes",
            crate::limits::INDEX_INTERVAL_BYTES.to_string(),
        ),
        ("log.message.timestamp.type", "CreateTime".to_string()),
        ("log.retention.bytes", d.retention_bytes.to_string()),
        ("log.retention.ms", d.retention_ms.to_string()),
        ("log.roll.ms", d.segment_ms.to_string()),
        ("log.segment.bytes", d.segment_bytes.to_string()),
        ("max.connections", c.max_connections.to_string()),
        ("message.max.bytes", c.message_max_bytes.to_string()),
        ("num.partitions", c.default_partitions.to_string()),
        ("offsets.topic.num.partitions", "50".to_string()),
        ("socket.request.max.bytes", c.request_max_bytes.to_string()),
    ];
    Ok(configs
        .iter()
        .map(|(name, flag)| {
            let is_dynamic = broker_configs::dynamic(name).is_some();
            match dynamic.get(broker, name) {
                Some((v, level)) => entry(name, v, source_of(level), false),
                None => entry(name, flag, CONFIG_SOURCE_STATIC_BROKER, !is_dynamic),
            }
        })
        .collect())
}

/// Kafka's ConfigSource for a dynamic broker config set at `level`.
fn source_of(level: broker_configs::Level) -> i8 {
    match level {
        broker_configs::Level::Broker => CONFIG_SOURCE_DYNAMIC_BROKER,
        broker_configs::Level::ClusterDefault => CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER,
    }
}

/// Topic `t`'s value of config `name` (whose Kafka default is `default`) and its
/// DescribeConfigs / CreateTopics source: set on the topic; else the broker flag behind it,
/// a dynamic broker config when one is set for it (for `shard`, the broker answering, as in
/// Kafka, or for the cluster default), a static broker config when set away from Kafka's
/// default; else Kafka's default.
pub fn topic_config_entry(
    config: &crate::shard::BrokerConfig,
    dynamic: &broker_configs::BrokerConfigs,
    shard: u32,
    t: &crate::metadata::TopicMeta,
    name: &str,
    default: &str,
) -> (String, i8) {
    if let Some(v) = t.configs.get(name) {
        return (v.clone(), CONFIG_SOURCE_TOPIC);
    }
    if let Some((v, level)) = dynamic.topic_default(shard, name) {
        return (v.to_string(), source_of(level));
    }
    let v = config
        .topic_config_default(dynamic, shard, name)
        .unwrap_or_else(|| default.to_string());
    let source = if v == default {
        CONFIG_SOURCE_DEFAULT
    } else {
        CONFIG_SOURCE_STATIC_BROKER
    };
    (v, source)
}
