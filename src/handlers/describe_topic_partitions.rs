//! DescribeTopicPartitions (key 75, Kafka 3.8+): the paginated describe newer admin clients
//! use instead of Metadata. Topics are described in name order, at most
//! `min(response_partition_limit, DESCRIBE_TOPIC_PARTITIONS_RESPONSE_PARTITIONS_MAX)` partitions
//! (at least one) per response; when that runs out, `next_cursor` says where the next request
//! starts (a topic and partition), as Kafka's handler does. Each partition's leader, replica
//! and ISR is its owner shard (one copy: see README on the replication factor).

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::limits::DESCRIBE_TOPIC_PARTITIONS_RESPONSE_PARTITIONS_MAX;
use crate::metadata::{validate_topic_name, TopicMeta};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::{AclOperation, ResourceType};
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeTopicPartitions,
    min: 0,
    max: 0,
};

/// Kafka's `Topic.isInternal`: the two internal topics a client can see.
fn is_internal_name(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = DescribeTopicPartitionsRequest::try_decode(body, version)?;
    let response = describe(shard, session, &request);
    Ok(encode(&shard.metrics, header, &response))
}

fn describe(
    shard: &Shard,
    session: &Session,
    request: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    let all_topics = request.topics.is_empty();
    let cursor = request.cursor.as_ref();
    let cursor_topic = cursor.map(|c| c.topic_name.0.as_str()).unwrap_or("");

    // The topics to describe, from the cursor's topic on, in name order, without duplicates.
    let mut names: Vec<&str> = if all_topics {
        snapshot
            .topics
            .keys()
            .map(String::as_str)
            .filter(|n| *n >= cursor_topic)
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.as_str())
            .filter(|n| *n >= cursor_topic)
            .collect()
    };
    names.sort_unstable();
    names.dedup();

    // Kafka refuses the whole request (every named topic gets INVALID_REQUEST) when the
    // cursor's topic is not among the named ones, or its partition is negative.
    let cursor_invalid = cursor.is_some_and(|c| {
        c.partition_index < 0 || (!all_topics && !names.contains(&c.topic_name.0.as_str()))
    });
    if cursor_invalid {
        let topics = request
            .topics
            .iter()
            .map(|t| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_name(Some(t.name.clone()))
            })
            .collect();
        return DescribeTopicPartitionsResponse::default().with_topics(topics);
    }

    // A topic the principal may not describe: left out of "all topics"; named, it is
    // TOPIC_AUTHORIZATION_FAILED with a zero id, after the others, whether it exists or not.
    let mut denied = Vec::new();
    let mut allowed = Vec::with_capacity(names.len());
    for name in names {
        if authz.topic(AclOperation::Describe, name) {
            allowed.push(name);
        } else if !all_topics {
            denied.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_name(Some(TopicName(str_bytes(name))))
                    .with_partitions(Vec::new()),
            );
        }
    }

    let limit = usize::try_from(request.response_partition_limit)
        .unwrap_or(0)
        .clamp(1, DESCRIBE_TOPIC_PARTITIONS_RESPONSE_PARTITIONS_MAX);
    let mut remaining = limit;
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in allowed {
        if remaining == 0 {
            // The previous topic filled the response exactly: continue at this one.
            response.next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partition_index(0),
            );
            break;
        }
        let Some(topic) = snapshot.topic(name) else {
            if !all_topics {
                let code = if validate_topic_name(name).is_err() {
                    ResponseError::InvalidTopicException
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                response.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(code.code())
                        .with_name(Some(TopicName(str_bytes(name))))
                        .with_is_internal(is_internal_name(name)),
                );
            }
            continue;
        };
        let start = match cursor {
            Some(c) if c.topic_name.0.as_str() == name => {
                usize::try_from(c.partition_index).unwrap_or(0)
            }
            _ => 0,
        };
        let (described, next) = partitions(topic, start, remaining);
        remaining -= described.len();
        response.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(str_bytes(name))))
                .with_topic_id(topic.id)
                .with_is_internal(topic.internal)
                .with_partitions(described)
                .with_topic_authorized_operations(authz.operations(ResourceType::Topic, name)),
        );
        if let Some(next) = next {
            response.next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partition_index(next),
            );
            break;
        }
    }
    response.topics.extend(denied);
    response
}

/// Up to `max` partitions of `topic` from `start`, and the index to continue from when some
/// are left.
fn partitions(
    topic: &Arc<TopicMeta>,
    start: usize,
    max: usize,
) -> (Vec<DescribeTopicPartitionsResponsePartition>, Option<i32>) {
    let count = topic.partitions.len();
    let end = count.min(start.saturating_add(max));
    let described = topic
        .partitions
        .iter()
        .enumerate()
        .take(end)
        .skip(start)
        .map(|(i, p)| {
            let node = BrokerId(p.owner as i32);
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(node)
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
        })
        .collect();
    let next = (end < count).then_some(end as i32);
    (described, next)
}
