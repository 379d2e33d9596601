//! TxnOffsetCommit (key 28), versions 0–5: offsets committed inside a transaction, staged on
//! the group's coordinator shard (`groups::txn_offsets`) and visible to the group only when
//! the transaction commits.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::check_group_id;
use crate::groups::coordinator::{self, CommitPartition, PartitionResults};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::TxnOffsetCommit,
    min: 0,
    max: 5,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = TxnOffsetCommitRequest::try_decode(body, version)?;
    let id = request.transactional_id.0.to_string();
    let group_id = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    // Kafka's order: WRITE on the transactional id, READ on the group, READ on each topic.
    let all_code = if !authz.transactional_id(AclOperation::Write, &id) {
        Some(ResponseError::TransactionalIdAuthorizationFailed.code())
    } else if !authz.group(AclOperation::Read, &group_id) {
        Some(ResponseError::GroupAuthorizationFailed.code())
    } else {
        check_group_id(&group_id, false).err().map(|e| e.code())
    };
    let mut codes: Vec<(String, i32, i16)> = Vec::new();
    let mut partitions = Vec::new();
    for t in &request.topics {
        let name = t.name.0.to_string();
        let denied = all_code.or_else(|| {
            (!authz.topic(AclOperation::Read, &name))
                .then(|| ResponseError::TopicAuthorizationFailed.code())
        });
        for p in &t.partitions {
            match denied {
                Some(code) => codes.push((name.clone(), p.partition_index, code)),
                None => partitions.push(CommitPartition {
                    topic: name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                }),
            }
        }
    }
    if !partitions.is_empty() {
        let pid = request.producer_id.0;
        let epoch = request.producer_epoch;
        let g = group_id.clone();
        let member = crate::groups::txn_offsets::TxnMember {
            member_id: request.member_id.to_string(),
            instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
            generation: request.generation_id,
        };
        let asked: Vec<(String, i32)> = partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        let staged: Result<PartitionResults, _> =
            coordinator::route(shard, &group_id, move |s| async move {
                crate::groups::txn_offsets::stage(&s, &g, pid, epoch, member, partitions).await
            })
            .await;
        match staged {
            Ok(results) => codes.extend(
                results
                    .into_iter()
                    .map(|(t, p, r)| (t, p, r.err().map_or(0, |e| e.code()))),
            ),
            Err(e) => codes.extend(asked.into_iter().map(|(t, p)| (t, p, e.code()))),
        }
    }
    // Answer in the request's topic order.
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = codes
                        .iter()
                        .find(|(n, i, _)| *n == name && *i == p.partition_index)
                        .map_or(0, |c| c.2);
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(TopicName(str_bytes(&name)))
                .with_partitions(partitions)
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &TxnOffsetCommitResponse::default().with_topics(topics),
    ))
}
