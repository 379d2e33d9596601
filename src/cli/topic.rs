//! `sluice topic create|list|describe|delete|alter-config|add-partitions`.

use std::collections::BTreeMap;

use clap::Subcommand;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest,
    CreatePartitionsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeLogDirsRequest,
    IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Value};

use super::output::{print_json, Deletions, Format, Table};
use super::{parse_key_value, ClientOpts};
use sluice_client::admin::new_topic;
use sluice_client::{topic_name, Client, ClientError, TopicInfo, OFFSET_EARLIEST, OFFSET_LATEST};

/// Kafka's ConfigResource type for topics.
const RESOURCE_TOPIC: i8 = 2;
/// Kafka's ConfigSource for a config set on the topic (DYNAMIC_TOPIC_CONFIG).
const CONFIG_SOURCE_TOPIC: i8 = 1;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

const DELETE_TOPICS_VERSION_MAX: i16 = 6;
const DESCRIBE_CONFIGS_VERSION_MAX: i16 = 4;
const DESCRIBE_LOG_DIRS_VERSION_MAX: i16 = 4;
const INCREMENTAL_ALTER_CONFIGS_VERSION_MAX: i16 = 1;
const ALTER_CONFIGS_VERSION_MAX: i16 = 2;
const CREATE_PARTITIONS_VERSION_MAX: i16 = 3;

#[derive(Subcommand, Debug)]
pub enum TopicAction {
    /// Create a topic.
    Create {
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(short = 'p', long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's).
        #[arg(short = 'r', long)]
        replication_factor: Option<i16>,
        /// A topic config, key=value (repeatable).
        #[arg(short = 'c', long = "config", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed without change if the topic exists already.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topics.
    List {
        /// Leave out internal topics (__consumer_offsets).
        #[arg(long)]
        exclude_internal: bool,
    },
    /// Partitions (leader = owner shard on Sluice), log start, high watermark, size, configs.
    Describe { name: String },
    /// Delete topics.
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Set or remove topic configs.
    AlterConfig {
        name: String,
        /// key=value to set (repeatable).
        #[arg(long = "set", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Config to remove, back to its default (repeatable).
        #[arg(long = "delete")]
        delete: Vec<String>,
    },
    /// Grow a topic to a new total number of partitions.
    AddPartitions {
        name: String,
        /// The new total (as kafka-topics.sh --alter --partitions).
        #[arg(short = 'p', long)]
        partitions: i32,
    },
}

pub fn run(opts: &ClientOpts, action: TopicAction) -> Result<(), ClientError> {
    let mut client = opts.client()?;
    let timeout_ms = i32::try_from(opts.request_timeout_ms).unwrap_or(i32::MAX);
    match action {
        TopicAction::Create {
            name,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => create(
            &mut client,
            opts.format,
            timeout_ms,
            &name,
            partitions,
            replication_factor,
            &configs,
            if_not_exists,
        ),
        TopicAction::List { exclude_internal } => list(&mut client, opts.format, exclude_internal),
        TopicAction::Describe { name } => describe(&mut client, opts.format, &name),
        TopicAction::Delete { names } => delete(&mut client, opts.format, timeout_ms, &names),
        TopicAction::AlterConfig { name, set, delete } => {
            alter_config(&mut client, opts.format, &name, &set, &delete)
        }
        TopicAction::AddPartitions { name, partitions } => {
            add_partitions(&mut client, opts.format, timeout_ms, &name, partitions)
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the request it serves; a struct would only rename them"
)]
fn create(
    client: &mut Client,
    format: Format,
    timeout_ms: i32,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: &[(String, String)],
    if_not_exists: bool,
) -> Result<(), ClientError> {
    let topic = new_topic(
        name,
        partitions,
        replication_factor,
        configs.iter().cloned(),
    );
    let (version, results) = client.create_topics(vec![topic], timeout_ms)?;
    let r = results
        .first()
        .ok_or_else(|| ClientError::Protocol("CreateTopics answered no topic".into()))?;
    let exists = r.error_code == kafka_protocol::error::ResponseError::TopicAlreadyExists.code();
    if !(exists && if_not_exists) {
        ClientError::check(
            r.error_code,
            r.error_message.as_deref(),
            format!("topic {name}"),
        )?;
    }
    let partitions = if version >= 5 && r.num_partitions > 0 {
        Some(r.num_partitions)
    } else {
        partitions
    };
    match format {
        Format::Json => print_json(&json!({
            "name": name,
            "created": !exists,
            "topic_id": (version >= 7 && !exists).then(|| r.topic_id.to_string()),
            "partitions": partitions,
            "replication_factor": if version >= 5 && r.replication_factor > 0 { Some(r.replication_factor) } else { replication_factor },
        })),
        Format::Table if exists => println!("Topic {name} already exists."),
        Format::Table => println!("Created topic {name}."),
    }
    Ok(())
}

fn list(client: &mut Client, format: Format, exclude_internal: bool) -> Result<(), ClientError> {
    let mut topics: Vec<TopicInfo> = client
        .metadata(None, false)?
        .into_iter()
        .filter(|t| !(exclude_internal && t.internal))
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    match format {
        Format::Json => print_json(&Value::Array(
            topics
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "topic_id": t.id.to_string(),
                        "partitions": t.partitions.len(),
                        "internal": t.internal,
                    })
                })
                .collect(),
        )),
        Format::Table => {
            let mut table = Table::new(&["NAME", "PARTITIONS", "INTERNAL"]);
            for t in &topics {
                table.row(vec![
                    t.name.clone(),
                    t.partitions.len().to_string(),
                    t.internal.to_string(),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

fn describe(client: &mut Client, format: Format, name: &str) -> Result<(), ClientError> {
    let topic = client.topic(name, false)?;
    let indexes: Vec<i32> = topic.partitions.iter().map(|p| p.index).collect();
    let start = client.list_offsets(&topic, &indexes, OFFSET_EARLIEST)?;
    let end = client.list_offsets(&topic, &indexes, OFFSET_LATEST)?;
    let sizes = partition_sizes(client, &topic)?;
    let configs = topic_overrides(client, name)?;
    let partitions: Vec<Value> = topic
        .partitions
        .iter()
        .map(|p| {
            json!({
                "partition": p.index,
                "leader": p.leader,
                // Sluice advertises each shard as a broker: the node id is the owner shard.
                "owner_shard": p.leader,
                "leader_epoch": p.leader_epoch,
                "log_start_offset": start.get(&p.index),
                "high_watermark": end.get(&p.index),
                "size_bytes": sizes.as_ref().map(|s| s.get(&p.index).copied()),
            })
        })
        .collect();
    let total: Option<i64> = sizes.as_ref().map(|s| s.values().sum());
    match format {
        Format::Json => print_json(&json!({
            "name": topic.name,
            "topic_id": topic.id.to_string(),
            "internal": topic.internal,
            "partitions": partitions,
            "size_bytes": total,
            "configs": configs,
        })),
        Format::Table => {
            let configs_text: Vec<String> =
                configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!(
                "Topic: {}\tTopicId: {}\tPartitionCount: {}\tSize: {}\tConfigs: {}",
                topic.name,
                topic.id,
                topic.partitions.len(),
                total.map_or("-".to_string(), |t| t.to_string()),
                configs_text.join(",")
            );
            let mut table = Table::new(&[
                "PARTITION",
                "LEADER",
                "OWNER-SHARD",
                "EPOCH",
                "LOG-START",
                "HIGH-WATERMARK",
                "SIZE",
            ]);
            let opt = |v: Option<&i64>| v.map_or("-".to_string(), |v| v.to_string());
            for p in &topic.partitions {
                table.row(vec![
                    p.index.to_string(),
                    p.leader.to_string(),
                    p.leader.to_string(),
                    p.leader_epoch.to_string(),
                    opt(start.get(&p.index)),
                    opt(end.get(&p.index)),
                    opt(sizes.as_ref().and_then(|s| s.get(&p.index))),
                ]);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

/// Bytes on disk per partition, from DescribeLogDirs on each leader; None if a leader does not
/// serve DescribeLogDirs.
fn partition_sizes(
    client: &mut Client,
    topic: &TopicInfo,
) -> Result<Option<BTreeMap<i32, i64>>, ClientError> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in &topic.partitions {
        by_leader.entry(p.leader).or_default().push(p.index);
    }
    let mut sizes = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let conn = client.node(leader)?;
        if !conn.serves::<DescribeLogDirsRequest>(DESCRIBE_LOG_DIRS_VERSION_MAX) {
            return Ok(None);
        }
        let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(topic_name(&topic.name))
                .with_partitions(partitions),
        ]));
        let (_, response) = conn.call(&request, DESCRIBE_LOG_DIRS_VERSION_MAX)?;
        ClientError::check(
            response.error_code,
            None,
            format!("log dirs of broker {leader}"),
        )?;
        for dir in &response.results {
            ClientError::check(
                dir.error_code,
                None,
                format!("log dir {} of broker {leader}", dir.log_dir),
            )?;
            for t in dir
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == topic.name)
            {
                for p in &t.partitions {
                    *sizes.entry(p.partition_index).or_insert(0) += p.partition_size;
                }
            }
        }
    }
    Ok(Some(sizes))
}

/// The configs set on the topic (not defaults), as kafka-topics.sh --describe shows them.
fn topic_overrides(
    client: &mut Client,
    name: &str,
) -> Result<BTreeMap<String, String>, ClientError> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configuration_keys(None)]);
    let (_, response) = client
        .controller()?
        .call(&request, DESCRIBE_CONFIGS_VERSION_MAX)?;
    let mut out = BTreeMap::new();
    for r in &response.results {
        ClientError::check(
            r.error_code,
            r.error_message.as_deref(),
            format!("configs of topic {name}"),
        )?;
        for c in r
            .configs
            .iter()
            .filter(|c| c.config_source == CONFIG_SOURCE_TOPIC)
        {
            out.insert(
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            );
        }
    }
    Ok(out)
}

fn delete(
    client: &mut Client,
    format: Format,
    timeout_ms: i32,
    names: &[String],
) -> Result<(), ClientError> {
    let request = DeleteTopicsRequest::default()
        .with_topics(
            names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                .collect(),
        )
        .with_topic_names(names.iter().map(|n| topic_name(n)).collect())
        .with_timeout_ms(timeout_ms);
    let (_, response) = client
        .controller()?
        .call(&request, DELETE_TOPICS_VERSION_MAX)?;
    let mut deletions = Deletions::new(format, "name", "topic");
    for r in &response.responses {
        let name = r
            .name
            .as_ref()
            .map(|n| n.0.to_string())
            .unwrap_or_else(|| r.topic_id.to_string());
        let outcome = ClientError::check(
            r.error_code,
            r.error_message.as_deref(),
            format!("topic {name}"),
        );
        deletions.record(&name, outcome);
    }
    deletions.finish()
}

fn alter_config(
    client: &mut Client,
    format: Format,
    name: &str,
    set: &[(String, String)],
    delete: &[String],
) -> Result<(), ClientError> {
    if set.is_empty() && delete.is_empty() {
        return Err(ClientError::Usage(
            "nothing to change: give --set k=v and/or --delete k".into(),
        ));
    }
    let context = format!("configs of topic {name}");
    let conn = client.controller()?;
    if conn.serves::<IncrementalAlterConfigsRequest>(INCREMENTAL_ALTER_CONFIGS_VERSION_MAX) {
        use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let configs = set
            .iter()
            .map(|(k, v)| (k, OP_SET, Some(v)))
            .chain(delete.iter().map(|k| (k, OP_DELETE, None)))
            .map(|(k, op, v)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_config_operation(op)
                    .with_value(v.map(|v| StrBytes::from_string(v.clone())))
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(configs),
        ]);
        let (_, response) = conn.call(&request, INCREMENTAL_ALTER_CONFIGS_VERSION_MAX)?;
        for r in &response.responses {
            ClientError::check(r.error_code, r.error_message.as_deref(), context.clone())?;
        }
    } else {
        // A broker without IncrementalAlterConfigs: replace the whole set (older kafka-configs.sh).
        use alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let mut configs = topic_overrides(client, name)?;
        for k in delete {
            configs.remove(k);
        }
        configs.extend(set.iter().cloned());
        let request =
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(StrBytes::from_string(k.clone()))
                                .with_value(Some(StrBytes::from_string(v.clone())))
                        })
                        .collect(),
                )]);
        let (_, response) = client
            .controller()?
            .call(&request, ALTER_CONFIGS_VERSION_MAX)?;
        for r in &response.responses {
            ClientError::check(r.error_code, r.error_message.as_deref(), context.clone())?;
        }
    }
    let now = topic_overrides(client, name)?;
    match format {
        Format::Json => print_json(&json!({ "name": name, "configs": now })),
        Format::Table => println!("Altered configs of topic {name}."),
    }
    Ok(())
}

fn add_partitions(
    client: &mut Client,
    format: Format,
    timeout_ms: i32,
    name: &str,
    partitions: i32,
) -> Result<(), ClientError> {
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(partitions)
            .with_assignments(None)])
        .with_timeout_ms(timeout_ms);
    let (_, response) = client
        .controller()?
        .call(&request, CREATE_PARTITIONS_VERSION_MAX)?;
    for r in &response.results {
        ClientError::check(
            r.error_code,
            r.error_message.as_deref(),
            format!("topic {name}"),
        )?;
    }
    match format {
        Format::Json => print_json(&json!({ "name": name, "partitions": partitions })),
        Format::Table => println!("Topic {name} now has {partitions} partitions."),
    }
    Ok(())
}
