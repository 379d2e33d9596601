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
use crate::security::authz::{AclOperation, ResourceType};
use crate::security::authz_helpers::{Authz, AUTHORIZED_OPERATIONS_OMITTED};
use crate::security::listener::ListenerInfo;
use crate::security::session::Session;
use crate::shard::control::NewTopic;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::Metadata,
    min: 0,
    max: 12,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = MetadataRequest::try_decode(body, version)?;
    let mut snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);

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

    // What each named topic gets, decided on this shard before anything is created: Kafka
    // checks DESCRIBE first (a topic the principal may not describe is
    // TOPIC_AUTHORIZATION_FAILED whether or not it exists, so existence is never revealed),
    // then, for a missing topic it would auto-create, CREATE on the cluster or the topic.
    let entries: Option<Vec<Entry>> = wanted.map(|wanted| {
        let auto_create =
            shard.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let mut cluster_create: Option<bool> = None;
        wanted
            .into_iter()
            .map(|(name, id)| {
                if let Some(n) = &name {
                    super::test_panic(n);
                }
                let resolved = name
                    .clone()
                    .or_else(|| snapshot.topic_by_id(id).map(|t| t.name.clone()));
                let Some(topic) = resolved else {
                    return Entry::UnknownId(id);
                };
                if !authz.topic(AclOperation::Describe, &topic) {
                    return Entry::Denied { name, id };
                }
                if auto_create && name.is_some() && snapshot.topic(&topic).is_none() {
                    let cluster =
                        *cluster_create.get_or_insert_with(|| authz.cluster(AclOperation::Create));
                    if !cluster && !authz.topic(AclOperation::Create, &topic) {
                        return Entry::CreateDenied(topic);
                    }
                }
                Entry::Allowed { name, id, topic }
            })
            .collect()
    });

    if let Some(entries) = &entries {
        let auto_create =
            shard.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let missing: Vec<NewTopic> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Allowed {
                    name: Some(name), ..
                } => Some(name),
                _ => None,
            })
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

    // Metadata v8+ carries authorized operations when asked (cluster's only up to v10).
    let topic_operations = version >= 8 && request.include_topic_authorized_operations;
    let operations = |name: &str| {
        if topic_operations {
            authz.operations(ResourceType::Topic, name)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        }
    };
    let topics: Vec<MetadataResponseTopic> = match entries {
        // Every topic the principal may describe; the others are left out silently.
        None => snapshot
            .topics
            .values()
            .filter(|t| authz.topic(AclOperation::Describe, &t.name))
            .map(|t| describe_topic(t).with_topic_authorized_operations(operations(&t.name)))
            .collect(),
        Some(entries) => entries
            .into_iter()
            .map(|entry| match entry {
                Entry::UnknownId(id) => MetadataResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicId.code())
                    .with_topic_id(id)
                    .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
                // Asked by id: ids are not secret, the name is (Kafka answers a null name).
                Entry::Denied { name, id } => MetadataResponseTopic::default()
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_name(name.as_deref().map(|n| TopicName(str_bytes(n))))
                    .with_topic_id(if name.is_some() {
                        uuid::Uuid::nil()
                    } else {
                        id
                    })
                    .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
                Entry::CreateDenied(n) => MetadataResponseTopic::default()
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_name(Some(TopicName(str_bytes(&n))))
                    .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
                Entry::Allowed { name, id, topic } => {
                    let found = match &name {
                        Some(n) => snapshot.topic(n),
                        None => snapshot.topic_by_id(id),
                    };
                    match found {
                        Some(t) => describe_topic(t),
                        None => {
                            let code = if validate_topic_name(&topic).is_err() {
                                ResponseError::InvalidTopicException
                            } else {
                                ResponseError::UnknownTopicOrPartition
                            };
                            MetadataResponseTopic::default()
                                .with_error_code(code.code())
                                .with_name(Some(TopicName(str_bytes(&topic))))
                        }
                    }
                    .with_topic_authorized_operations(operations(&topic))
                }
            })
            .collect(),
    };

    let cluster_operations =
        if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
            authz.cluster_operations_field()
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        };
    let response = MetadataResponse::default()
        .with_brokers(brokers(&session.listener))
        .with_cluster_id(Some(str_bytes(&snapshot.cluster_id)))
        .with_controller_id(BrokerId(0))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations);
    Ok(encode(&shard.metrics, header, &response))
}

/// One named (or id-given) topic of a Metadata request, after authorization.
enum Entry {
    /// Asked by an id this broker does not know.
    UnknownId(uuid::Uuid),
    /// Not allowed DESCRIBE: TOPIC_AUTHORIZATION_FAILED, existing or not.
    Denied {
        name: Option<String>,
        id: uuid::Uuid,
    },
    /// Missing, auto-creation on, and no CREATE on the cluster or the topic.
    CreateDenied(String),
    /// Described as usual; `topic` is the name (resolved from the id when asked by id).
    Allowed {
        name: Option<String>,
        id: uuid::Uuid,
        topic: String,
    },
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

fn describe_topic(t: &Arc<TopicMeta>) -> MetadataResponseTopic {
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
}
