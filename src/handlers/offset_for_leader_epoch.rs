//! OffsetForLeaderEpoch (key 23): clients validate their position after a leader change.
//!
//! A single node keeps no epoch history: for any epoch up to the current one the answer is the
//! current epoch and the log end offset, which never makes a client see a false truncation.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader, TopicName,
};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::OffsetForLeaderEpoch,
    min: 2,
    max: 4,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = OffsetForLeaderEpochRequest::try_decode(body, header.request_api_version)?;
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    // KIP-320: a replica's CLUSTER_ACTION covers every topic, else a consumer needs DESCRIBE
    // on each (asked once per topic, on this shard).
    let cluster_action = authz.cluster(AclOperation::ClusterAction);
    let mut topics = Vec::new();
    for t in &request.topics {
        let name = t.topic.0.to_string();
        let authorized = cluster_action || authz.topic(AclOperation::Describe, &name);
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let (index, current, wanted) = (p.partition, p.current_leader_epoch, p.leader_epoch);
            if !authorized {
                partitions.push(
                    EpochEndOffset::default()
                        .with_partition(index)
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                        .with_leader_epoch(-1)
                        .with_end_offset(-1),
                );
                continue;
            }
            let r: Result<(i32, i64), PartitionError> =
                match snapshot.partition(&name, index).map(|m| m.owner) {
                    None => Err(PartitionError::UnknownTopicOrPartition),
                    Some(owner) => {
                        if owner != shard.id {
                            shard
                                .metrics
                                .forwarded
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        let name = name.clone();
                        shard
                            .on_shard(owner, move |s| async move {
                                let p = s
                                    .local_partition(&name, index)
                                    .ok_or(PartitionError::NotLeader)?;
                                let epoch = p.leader_epoch();
                                if current >= 0 && current < epoch {
                                    return Err(PartitionError::FencedLeaderEpoch);
                                }
                                if current > epoch {
                                    return Err(PartitionError::UnknownLeaderEpoch);
                                }
                                if wanted > epoch {
                                    return Ok((-1, -1));
                                }
                                Ok((epoch, p.log_end_offset()))
                            })
                            .await
                            .unwrap_or(Err(PartitionError::NotLeader))
                    }
                };
            let e = EpochEndOffset::default().with_partition(index);
            partitions.push(match r {
                Ok((epoch, end)) => e.with_leader_epoch(epoch).with_end_offset(end),
                Err(err) => e
                    .with_error_code(err.code())
                    .with_leader_epoch(-1)
                    .with_end_offset(-1),
            });
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(TopicName(t.topic.0.clone()))
                .with_partitions(partitions),
        );
    }
    Ok(encode(
        &shard.metrics,
        header,
        &OffsetForLeaderEpochResponse::default().with_topics(topics),
    ))
}
