//! Topic, config, cluster and log-dir admin requests (Metadata and ApiVersions too).

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;

use super::*;

/// The request body of API `key` at version `v` if it is one of this family's (`None`:
/// another family's), as `super::body` builds it.
pub(super) fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    _stats: &mut Stats,
    _joined: &mut Option<String>,
) -> Option<Option<BytesMut>> {
    // Sets a field only in the versions that carry it (the crate refuses to encode a
    // non-default value elsewhere).
    let within = |lo: i16, hi: i16| (lo..=hi).contains(&v);
    let body = match key {
        ApiKey::Metadata => {
            let mut r = MetadataRequest::default().with_topics(nullable_list(c, |c| {
                let mut t = MetadataRequestTopic::default();
                if within(10, 13) && c.one_in(3) {
                    t.topic_id = uuid(c, ctx);
                } else {
                    t.name = Some(topic(c));
                }
                t
            }));
            if within(4, 13) {
                r.allow_auto_topic_creation = c.one_in(2);
            }
            if within(8, 10) {
                r.include_cluster_authorized_operations = c.one_in(2);
            }
            if within(8, 13) {
                r.include_topic_authorized_operations = c.one_in(2);
            }
            enc(r, v)
        }
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if within(3, 4) {
                r.client_software_name = short_text(c);
                r.client_software_version = short_text(c);
            }
            enc(r, v)
        }
        ApiKey::CreateTopics => {
            let validate_only = c.one_in(4);
            enc(
                CreateTopicsRequest::default()
                    .with_timeout_ms(int32(c, 0..=1_000))
                    .with_validate_only(validate_only)
                    .with_topics(list(c, |c| {
                        CreatableTopic::default()
                            .with_name(topic(c))
                            .with_num_partitions(match c.below(8) {
                                0 => c.pick(&[0, -1, -2, i32::MIN, i32::MAX, 100_001, 1_000_000]),
                                // Thousands of partitions only where nothing is created (finding 3).
                                1 if validate_only => 5_000,
                                _ => 1 + c.below(4) as i32,
                            })
                            .with_replication_factor(int16(c, 1..=1))
                            // Never a huge list here: each assignment is a partition, and deleting
                            // a topic of thousands of partitions blocks every shard for seconds
                            // (FUZZING.md, finding 3, open): the fuzzer would find only that.
                            .with_assignments(if c.one_in(6) {
                                few(c, |c| {
                                    CreatableReplicaAssignment::default()
                                        .with_partition_index(partition(c))
                                        .with_broker_ids(list(c, |c| BrokerId(int32(c, 0..=2))))
                                })
                            } else {
                                Vec::new()
                            })
                            .with_configs(if c.one_in(4) {
                                list(c, |c| {
                                    CreatableTopicConfig::default()
                                        .with_name(short_text(c))
                                        .with_value(config_value(c))
                                })
                            } else {
                                Vec::new()
                            })
                    })),
                v,
            )
        }
        ApiKey::DeleteTopics => {
            let mut r = DeleteTopicsRequest::default().with_timeout_ms(int32(c, 0..=1_000));
            if within(6, 6) {
                r.topics = list(c, |c| {
                    let mut t = DeleteTopicState::default();
                    if c.one_in(2) {
                        t.topic_id = uuid(c, ctx);
                    } else {
                        t.name = Some(topic(c));
                    }
                    t
                });
            } else {
                r.topic_names = list(c, topic);
            }
            enc(r, v)
        }
        ApiKey::DescribeConfigs => {
            let mut r = DescribeConfigsRequest::default()
                .with_include_synonyms(c.one_in(2))
                .with_resources(list(c, |c| {
                    DescribeConfigsResource::default()
                        .with_resource_type(resource_type(c))
                        .with_resource_name(resource_name(c))
                        .with_configuration_keys(nullable_list(c, short_text))
                }));
            if within(3, 4) {
                r.include_documentation = c.one_in(2);
            }
            enc(r, v)
        }
        ApiKey::DescribeCluster => {
            let mut r = DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(c.one_in(2));
            if within(1, 2) {
                r.endpoint_type = int8(c, 1..=2);
            }
            enc(r, v)
        }
        ApiKey::IncrementalAlterConfigs => enc(
            IncrementalAlterConfigsRequest::default()
                .with_validate_only(c.one_in(3))
                .with_resources(list(c, |c| {
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(resource_type(c))
                        .with_resource_name(resource_name(c))
                        .with_configs(list(c, |c| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(config_name(c))
                                .with_config_operation(int8(c, 0..=3))
                                .with_value(config_value(c))
                        }))
                })),
            v,
        ),
        ApiKey::AlterConfigs => enc(
            AlterConfigsRequest::default()
                .with_validate_only(c.one_in(3))
                .with_resources(list(c, |c| {
                    alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(resource_type(c))
                        .with_resource_name(resource_name(c))
                        .with_configs(list(c, |c| {
                            alter_configs_request::AlterableConfig::default()
                                .with_name(config_name(c))
                                .with_value(config_value(c))
                        }))
                })),
            v,
        ),
        ApiKey::DeleteRecords => enc(
            DeleteRecordsRequest::default()
                .with_timeout_ms(int32(c, 0..=1_000))
                .with_topics(list(c, |c| {
                    DeleteRecordsTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            DeleteRecordsPartition::default()
                                .with_partition_index(partition(c))
                                .with_offset(offset(c))
                        }))
                })),
            v,
        ),
        ApiKey::CreatePartitions => {
            let validate_only = c.one_in(3);
            enc(
                CreatePartitionsRequest::default()
                    .with_timeout_ms(int32(c, 0..=1_000))
                    .with_validate_only(validate_only)
                    .with_topics(list(c, |c| {
                        CreatePartitionsTopic::default()
                            .with_name(topic(c))
                            .with_count(match c.below(6) {
                                0 => c.pick(&[0, -1, i32::MIN, i32::MAX, 100_001]),
                                1 if validate_only => 5_000,
                                _ => 1 + c.below(8) as i32,
                            })
                            .with_assignments(if c.one_in(5) {
                                nullable_list(c, |c| {
                                    CreatePartitionsAssignment::default()
                                        .with_broker_ids(list(c, |c| BrokerId(int32(c, 0..=2))))
                                })
                            } else {
                                None
                            })
                    })),
                v,
            )
        }
        ApiKey::DescribeLogDirs => enc(
            DescribeLogDirsRequest::default().with_topics(nullable_list(c, |c| {
                DescribableLogDirTopic::default()
                    .with_topic(topic(c))
                    .with_partitions(list(c, partition))
            })),
            v,
        ),
        ApiKey::DescribeProducers => enc(
            DescribeProducersRequest::default().with_topics(list(c, |c| {
                describe_producers_request::TopicRequest::default()
                    .with_name(topic(c))
                    .with_partition_indexes(list(c, partition))
            })),
            v,
        ),
        ApiKey::DescribeTopicPartitions => {
            let cursor = c.one_in(3).then(|| {
                describe_topic_partitions_request::Cursor::default()
                    .with_topic_name(topic(c))
                    .with_partition_index(int32(c, -1..=3))
            });
            enc(
                DescribeTopicPartitionsRequest::default()
                    .with_topics(
                        nullable_list(c, |c| {
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(topic(c))
                        })
                        .unwrap_or_default(),
                    )
                    .with_response_partition_limit(int32(c, -1..=4))
                    .with_cursor(cursor),
                v,
            )
        }
        _ => return None,
    };
    Some(body)
}

fn resource_type(c: &mut Choices) -> i8 {
    // 2 topic, 4 broker, 8 broker logger; the rest unknown.
    c.pick(&[2, 2, 2, 4, 8, 0, 1, -1, i8::MAX])
}

fn resource_name(c: &mut Choices) -> StrBytes {
    match c.below(5) {
        0 => s(c.pick(&["0", "1", "2", "-1", "", "999"])),
        _ => s(&topic_text(c)),
    }
}

fn config_name(c: &mut Choices) -> StrBytes {
    s(c.pick(&[
        "retention.ms",
        "retention.bytes",
        "segment.bytes",
        "segment.ms",
        "cleanup.policy",
        "max.message.bytes",
        "flush.messages",
        "flush.ms",
        "unknown.config",
        "",
    ]))
}

fn config_value(c: &mut Choices) -> Option<StrBytes> {
    match c.below(8) {
        0 => None,
        1 => Some(s("")),
        2 => Some(s(c.pick(&[
            "-1",
            "-2",
            "0",
            "9223372036854775807",
            "9223372036854775808",
            "1e3",
            "delete",
            "compact",
            "x",
        ]))),
        _ => Some(s(c.pick(&["1000", "86400000", "1048576", "1"]))),
    }
}
