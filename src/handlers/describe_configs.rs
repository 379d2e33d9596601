//! DescribeConfigs (key 32): topic configs (set ones and Kafka's defaults), broker ones, and
//! group configs (resource type 32, Kafka 4's `GroupConfig`: a group's own values, source
//! GROUP_CONFIG, else the defaults).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader,
};

use super::create_topics::CONFIG_SOURCE_DEFAULT;
use super::{encode, str_bytes, Reply, Versions};
use crate::metadata::broker_configs;
use crate::metadata::config_synonyms::{self, BrokerConfigDef, Synonym};
use crate::metadata::configs::TOPIC_CONFIGS;
use crate::metadata::group_configs::GROUP_CONFIGS;
use crate::metadata::{validate_topic_name, Snapshot};
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
/// Kafka's `ConfigSource.DYNAMIC_GROUP_CONFIG`: a group config set on that group.
const CONFIG_SOURCE_DYNAMIC_GROUP: i8 = 8;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeConfigsRequest::try_decode(body, header.request_api_version)?;
    let include_synonyms = request.include_synonyms;
    // What an entry carries: its synonyms when the client asked for them (v1+), else none.
    let with_synonyms = |e: DescribeConfigsResourceResult, synonyms: Vec<Synonym>| {
        if include_synonyms {
            e.with_synonyms(synonyms.into_iter().map(synonym).collect())
        } else {
            e
        }
    };
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
                // Kafka's `ConfigHelper`: the name validated first (INVALID_TOPIC_EXCEPTION and
                // its message); an unknown topic gets its code and the schema's default
                // message (empty), as does a success.
                RESOURCE_TOPIC => match snapshot.topic(&r.resource_name) {
                    None => match validate_topic_name(&r.resource_name) {
                        Err(message) => result
                            .with_error_code(ResponseError::InvalidTopicException.code())
                            .with_error_message(Some(str_bytes(&message))),
                        Ok(()) => {
                            result.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        }
                    },
                    Some(t) => result.with_configs(
                        TOPIC_CONFIGS
                            .iter()
                            .filter(|(name, _, _)| wanted(name))
                            .map(|(name, default, _)| {
                                let (value, synonyms) = topic_config_synonyms(
                                    &shard.config,
                                    &snapshot.broker_configs,
                                    shard.id,
                                    t,
                                    name,
                                    default,
                                );
                                with_synonyms(
                                    DescribeConfigsResourceResult::default()
                                        .with_name(str_bytes(name))
                                        .with_value(Some(str_bytes(&value)))
                                        .with_config_source(config_synonyms::source_of(&synonyms)),
                                    synonyms,
                                )
                            })
                            .collect(),
                    ),
                },
                RESOURCE_BROKER => match broker_entries(shard, &snapshot, &r.resource_name) {
                    Ok(entries) => result.with_configs(
                        entries
                            .into_iter()
                            .filter(|(e, _)| wanted(e.name.as_str()))
                            .map(|(e, synonyms)| with_synonyms(e, synonyms))
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
                RESOURCE_GROUP => {
                    // The group's overrides (IncrementalAlterConfigs), else the defaults.
                    let overrides = snapshot.group_configs.of(&r.resource_name);
                    result.with_configs(
                        GROUP_CONFIGS
                            .iter()
                            .filter(|(name, _, _)| wanted(name))
                            .map(|(name, default, config_type)| {
                                let (value, source) = match overrides.get(*name) {
                                    Some(v) => (v.as_str(), CONFIG_SOURCE_DYNAMIC_GROUP),
                                    None => (*default, CONFIG_SOURCE_DEFAULT),
                                };
                                DescribeConfigsResourceResult::default()
                                    .with_name(str_bytes(name))
                                    .with_value(Some(str_bytes(value)))
                                    .with_config_source(source)
                                    .with_config_type(*config_type)
                            })
                            .collect(),
                    )
                }
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

/// A DescribeConfigs synonym.
fn synonym((name, value, source): Synonym) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(&name))
        .with_value(Some(str_bytes(&value)))
        .with_source(source)
}

/// A BROKER resource's entries and their synonyms, as Kafka's `ConfigHelper` describes them:
/// the cluster default resource `""` lists only the dynamic configs set for it
/// (DYNAMIC_DEFAULT_BROKER_CONFIG); a broker id (a shard) lists every config with its value
/// and source: set for that broker (DYNAMIC_BROKER_CONFIG), for the cluster default, by a flag
/// (STATIC_BROKER_CONFIG), else Kafka's default (DEFAULT_CONFIG); `config_synonyms` says how.
/// A config Kafka declares without a default (`log.retention.ms`, `log.roll.ms`: their hours
/// spellings hold it) is null until some level sets it, and those spellings are listed with
/// their own defaults, as Kafka lists them. Configs Sluice changes at run time are not
/// read-only.
fn broker_entries(
    shard: &Shard,
    snapshot: &Snapshot,
    name: &str,
) -> Result<Vec<(DescribeConfigsResourceResult, Vec<Synonym>)>, String> {
    let dynamic = &snapshot.broker_configs;
    let entry = |name: &str, value: Option<&str>, source: i8, read_only: bool| {
        DescribeConfigsResourceResult::default()
            .with_name(str_bytes(name))
            .with_value(value.map(str_bytes))
            .with_read_only(read_only)
            .with_config_source(source)
    };
    let Some(broker) = super::incremental_alter_configs::broker_id(shard, name)? else {
        return Ok(dynamic
            .cluster_default
            .iter()
            .map(|(n, v)| {
                let source = config_synonyms::SOURCE_DYNAMIC_DEFAULT_BROKER;
                (
                    entry(n, Some(v.as_str()), source, false),
                    vec![(n.clone(), v.clone(), source)],
                )
            })
            .collect());
    };
    let mut out = Vec::new();
    for (def, flag) in broker_flag_values(&shard.config, broker) {
        let synonyms = config_synonyms::broker_synonyms(dynamic, broker, def, &flag);
        let value = match dynamic.get(broker, def.name) {
            Some((v, _)) => Some(v.to_string()),
            // Not set at any level, and no default of its own: null, as in Kafka.
            None if def.kafka_default.is_none() && flag == def.effective_default => None,
            None => Some(flag),
        };
        let read_only = broker_configs::dynamic(def.name).is_none();
        out.push((
            entry(
                def.name,
                value.as_deref(),
                config_synonyms::source_of(&synonyms),
                read_only,
            ),
            synonyms,
        ));
        // Its spelling with a default (`log.retention.hours`): set nowhere here, so Kafka's
        // default, its one synonym (Kafka drops the other spellings' levels before it).
        if let Some((n, d)) = def.defaulted_synonym {
            let source = config_synonyms::SOURCE_DEFAULT;
            out.push((
                entry(n, Some(d), source, broker_configs::dynamic(n).is_none()),
                vec![(n.to_string(), d.to_string(), source)],
            ));
        }
    }
    out.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name));
    Ok(out)
}

/// Every broker config DescribeConfigs lists for broker `shard`, by name, with the value its
/// serve flag (or Sluice's fixed choice) gives it, dynamic configs aside.
fn broker_flag_values(
    c: &crate::shard::BrokerConfig,
    shard: u32,
) -> Vec<(&'static BrokerConfigDef, String)> {
    let none = broker_configs::BrokerConfigs::default();
    let mut out: Vec<(&'static BrokerConfigDef, String)> = config_synonyms::TOPIC_CONFIG_SYNONYMS
        .iter()
        .map(|(topic_config, def)| {
            let flag = c
                .topic_config_default(&none, shard, topic_config)
                .unwrap_or_else(|| def.effective_default.to_string());
            (def, flag)
        })
        .collect();
    for def in config_synonyms::OTHER_BROKER_CONFIGS {
        let flag = match def.name {
            "auto.create.topics.enable" => c.auto_create_topics.to_string(),
            "log.cleaner.backoff.ms" => c.cleaner.backoff_ms.to_string(),
            "log.cleaner.dedupe.buffer.size" => c.cleaner.limits.dedupe_buffer_bytes.to_string(),
            "log.cleaner.enable" => c.cleaner.enable.to_string(),
            "log.cleaner.io.max.bytes.per.second" => {
                c.cleaner.limits.io_bytes_per_second.to_string()
            }
            "log.retention.check.interval.ms" => c.retention_check_interval_ms.to_string(),
            "max.connections" => c.max_connections.to_string(),
            "num.partitions" => c.default_partitions.to_string(),
            "socket.request.max.bytes" => c.request_max_bytes.to_string(),
            // Fixed here: one replica per partition, 50 offsets partitions as Kafka's default.
            _ => def.effective_default.to_string(),
        };
        out.push((def, flag));
    }
    out.sort_by_key(|(def, _)| def.name);
    out.dedup_by_key(|(def, _)| def.name);
    out
}

/// Topic `t`'s value of config `name` (whose Kafka default is `default`) and its
/// DescribeConfigs / CreateTopics source: set on the topic; else the broker config behind it,
/// set dynamically (for `shard`, the broker answering, as in Kafka, or for the cluster
/// default), or by a flag away from Kafka's default (static); else Kafka's default.
pub fn topic_config_entry(
    config: &crate::shard::BrokerConfig,
    dynamic: &broker_configs::BrokerConfigs,
    shard: u32,
    t: &crate::metadata::TopicMeta,
    name: &str,
    default: &str,
) -> (String, i8) {
    let (value, synonyms) = topic_config_synonyms(config, dynamic, shard, t, name, default);
    (value, config_synonyms::source_of(&synonyms))
}

/// As [`topic_config_entry`], with the synonyms (highest precedence first) its source is the
/// first of.
fn topic_config_synonyms(
    config: &crate::shard::BrokerConfig,
    dynamic: &broker_configs::BrokerConfigs,
    shard: u32,
    t: &crate::metadata::TopicMeta,
    name: &str,
    default: &str,
) -> (String, Vec<Synonym>) {
    let own = t.configs.get(name).map(String::as_str);
    let flag = config
        .topic_config_default(&broker_configs::BrokerConfigs::default(), shard, name)
        .unwrap_or_else(|| default.to_string());
    let synonyms = config_synonyms::topic_synonyms(dynamic, shard, name, own, &flag);
    let value = match own {
        Some(v) => v.to_string(),
        None => config
            .topic_config_default(dynamic, shard, name)
            .unwrap_or_else(|| default.to_string()),
    };
    (value, synonyms)
}
