//! Metadata (key 3): every shard is a broker; each partition's leader is its owner shard.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::metadata::{validate_topic_name, TopicMeta};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::listener::ListenerInfo;
use crate::security::session::Session;
use crate::shard::control::NewTopic;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::Metadata,
    min: 0,
    max: 12,
};

/// Kafka's "authorized operations not requested" sentinel.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = MetadataRequest::try_decode(body, version)?;
    let mut snapshot = shard.snapshot();

    // None: every topic. v0 expresses "all" with an empty list.
    let wanted: Option<Vec<(Option<String>, uuid::Uuid)>> = match request.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect(),
        ),
    };

    if let Some(wanted) = &wanted {
        for name in wanted.iter().filter_map(|(name, _)| name.as_deref()) {
            super::test_panic(name);
        }
        let auto_create =
            shard.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let missing: Vec<NewTopic> = wanted
            .iter()
            .filter_map(|(name, _)| name.as_ref())
            .filter(|name| snapshot.topic(name).is_none() && validate_topic_name(name).is_ok())
            .map(|name| NewTopic {
                name: name.clone(),
                partitions: -1,
                replication_factor: -1,
                configs: Vec::new(),
                internal: false,
            })
            .collect();
        if auto_create && !missing.is_empty() {
            // Races with another creator are harmless: TOPIC_ALREADY_EXISTS just means it's there.
            let _ = shard.create_topics(missing, false).await;
            snapshot = shard.snapshot();
        }
    }

    let topics: Vec<MetadataResponseTopic> = match wanted {
        None => snapshot
            .topics
            .values()
            .map(|t| describe_topic(t, version))
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|(name, id)| {
                let found = match &name {
                    Some(n) => snapshot.topic(n),
                    None => snapshot.topic_by_id(id),
                };
                match (found, name) {
                    (Some(t), _) => describe_topic(t, version),
                    (None, Some(n)) => {
                        let code = if validate_topic_name(&n).is_err() {
                            ResponseError::InvalidTopicException
                        } else {
                            ResponseError::UnknownTopicOrPartition
                        };
                        MetadataResponseTopic::default()
                            .with_error_code(code.code())
                            .with_name(Some(TopicName(str_bytes(&n))))
                            .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
                    }
                    (None, None) => MetadataResponseTopic::default()
                        .with_error_code(ResponseError::UnknownTopicId.code())
                        .with_topic_id(id)
                        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
                }
            })
            .collect(),
    };

    let response = MetadataResponse::default()
        .with_brokers(brokers(&session.listener))
        .with_cluster_id(Some(str_bytes(&snapshot.cluster_id)))
        .with_controller_id(BrokerId(0))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    Ok(encode(&shard.metrics, header, &response))
}

/// The brokers (one per shard) at `listener`'s advertised addresses: a client learns only the
/// addresses of the listener it connected to, as in Kafka.
pub fn brokers(listener: &ListenerInfo) -> Vec<MetadataResponseBroker> {
    listener
        .brokers
        .iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(&b.host))
                .with_port(i32::from(b.port))
        })
        .collect()
}

fn describe_topic(t: &Arc<TopicMeta>, version: i16) -> MetadataResponseTopic {
    let _ = version;
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let node = BrokerId(p.owner as i32);
            MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(node)
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&t.name))))
        .with_topic_id(t.id)
        .with_is_internal(t.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
