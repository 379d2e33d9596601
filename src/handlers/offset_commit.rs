//! OffsetCommit (key 8): store committed offsets in `__consumer_offsets`, for group members
//! (current generation) or standalone consumers (generation -1, empty group). v10 (Kafka 4.2)
//! names topics by id: an id the broker does not know is answered UNKNOWN_TOPIC_ID.

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, RequestHeader};

use super::{encode, Reply, Versions};
use crate::groups::check_group_id;
use crate::groups::coordinator::{self, CommitPartition, CommitRequest, PartitionResults};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::OffsetCommit,
    min: 2,
    max: 10,
};

/// The first version that names topics by id (KIP-848, Kafka 4.2).
const TOPIC_IDS_VERSION: i16 = 10;

/// "Use the broker's retention" in OffsetCommit v2–4.
const RETENTION_TIME_DEFAULT: i64 = -1;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = OffsetCommitRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    // READ on the group (else every partition gets GROUP_AUTHORIZATION_FAILED), then READ on
    // each topic (a denied topic's partitions get TOPIC_AUTHORIZATION_FAILED and are not
    // committed), as Kafka asks.
    let group_denied = !authz.group(AclOperation::Read, &group_id);
    // Each topic's name: named (v2–9), or its id resolved (v10; None: unknown id).
    let snapshot = shard.snapshot();
    let names: Vec<Option<String>> = request
        .topics
        .iter()
        .map(|t| {
            if version >= TOPIC_IDS_VERSION {
                snapshot.topic_by_id(t.topic_id).map(|m| m.name.to_string())
            } else {
                Some(t.name.0.to_string())
            }
        })
        .collect();
    let topic_denied: Vec<bool> = names
        .iter()
        .map(|n| match n {
            Some(n) => group_denied || !authz.topic(AclOperation::Read, n),
            None => false,
        })
        .collect();
    let partitions: Vec<CommitPartition> = request
        .topics
        .iter()
        .zip(names.iter().zip(&topic_denied))
        .filter_map(|(t, (name, denied))| name.as_ref().filter(|_| !*denied).map(|n| (t, n)))
        .flat_map(|(t, name)| {
            t.partitions.iter().map(|p| CommitPartition {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let retention = (version <= 4 && request.retention_time_ms != RETENTION_TIME_DEFAULT)
        .then_some(request.retention_time_ms);
    // Nothing left to commit (every topic denied, or none named): Kafka answers at once.
    let results: PartitionResults = match check_group_id(&group_id, true) {
        _ if partitions.is_empty() => PartitionResults::new(),
        Err(e) => partitions
            .into_iter()
            .map(|p| (p.topic, p.partition, Err(e)))
            .collect(),
        Ok(()) => {
            let keys: Vec<(String, i32)> = partitions
                .iter()
                .map(|p| (p.topic.clone(), p.partition))
                .collect();
            let req = CommitRequest {
                group_id: group_id.clone(),
                member_id: request.member_id.to_string(),
                instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
                generation: request.generation_id_or_member_epoch,
                retention_ms: retention,
                version,
            };
            match coordinator::route(shard, &group_id, move |s| {
                coordinator::commit(s, req, partitions)
            })
            .await
            {
                Ok(r) => r,
                Err(e) => keys.into_iter().map(|(t, p)| (t, p, Err(e))).collect(),
            }
        }
    };
    let by_key: HashMap<(String, i32), i16> = results
        .into_iter()
        .map(|(t, p, r)| ((t, p), r.err().map_or(0, |e| e.code())))
        .collect();
    let denied_code = if group_denied {
        ResponseError::GroupAuthorizationFailed.code()
    } else {
        ResponseError::TopicAuthorizationFailed.code()
    };
    let topics = request
        .topics
        .iter()
        .zip(names.iter().zip(&topic_denied))
        .map(|(t, (name, denied))| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = match name {
                        None => ResponseError::UnknownTopicId.code(),
                        Some(_) if *denied => denied_code,
                        Some(n) => by_key
                            .get(&(n.clone(), p.partition_index))
                            .copied()
                            .unwrap_or(0),
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &OffsetCommitResponse::default().with_topics(topics),
    ))
}
