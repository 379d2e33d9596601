//! OffsetForLeaderEpoch (key 23): clients validate their position after a leader change.
//!
//! A single node keeps no epoch history: for any epoch up to the current one the answer is the
//! current epoch and the log end offset, which never makes a client see a false truncation.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader, TopicName,
};

use super::{encode, Reply, Versions};
use crate::partition::Partition;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::router::{self, Router, Run};
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
    // Each partition's answer: refused here (authorization), or from its owner shard
    // (`shard::router`).
    let mut denied_topics = Vec::with_capacity(request.topics.len());
    let mut router = Router::new(shard);
    for t in &request.topics {
        let name: Arc<str> = Arc::from(t.topic.0.as_str());
        let authorized = cluster_action || authz.topic(AclOperation::Describe, &name);
        denied_topics.push(!authorized);
        if !authorized {
            continue;
        }
        for p in &t.partitions {
            let asked = (p.current_leader_epoch, p.leader_epoch);
            router.route(
                router::owner(&snapshot, &name, p.partition),
                &name,
                p.partition,
                asked,
            );
        }
    }
    let mut answers = router
        .run(shard, Run::InOrder, end_offset)
        .await
        .into_iter();
    let mut topics = Vec::with_capacity(request.topics.len());
    for (t, denied) in request.topics.iter().zip(denied_topics) {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let e = EpochEndOffset::default().with_partition(p.partition);
            let r = if denied {
                Err(ResponseError::TopicAuthorizationFailed.code())
            } else {
                // One answer per routed partition; a missing one would be a bug.
                match answers.next() {
                    Some(r) => r.map_err(|e| e.code()),
                    None => Err(ResponseError::UnknownServerError.code()),
                }
            };
            partitions.push(match r {
                Ok((epoch, end)) => e.with_leader_epoch(epoch).with_end_offset(end),
                Err(code) => e
                    .with_error_code(code)
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

/// On the partition's owner: the end offset of the epoch asked for (`wanted`), after checking
/// the client's `current` epoch. With no epoch history, any epoch up to the current one ends
/// at the log end.
async fn end_offset(
    p: Rc<Partition>,
    (current, wanted): (i32, i32),
) -> Result<(i32, i64), PartitionError> {
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
}
