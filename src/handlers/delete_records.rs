//! DeleteRecords (key 21): move each partition's log start offset forward on its owner shard
//! (-1 means the high watermark); whole segments below it are deleted.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader,
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
    key: ApiKey::DeleteRecords,
    min: 0,
    max: 2,
};

/// The offset that means "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DeleteRecordsRequest::try_decode(body, header.request_api_version)?;
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    // Each partition's answer: refused here (authorization), or from its owner shard
    // (`shard::router`).
    let mut denied_topics = Vec::with_capacity(request.topics.len());
    let mut router = Router::new(shard);
    for t in &request.topics {
        let name: Arc<str> = Arc::from(t.name.0.as_str());
        // DELETE on the topic, once per topic, before anything is routed.
        let authorized = authz.topic(AclOperation::Delete, &name);
        denied_topics.push(!authorized);
        if !authorized {
            continue;
        }
        for p in &t.partitions {
            let owner = router::owner(&snapshot, &name, p.partition_index);
            router.route(owner, &name, p.partition_index, p.offset);
        }
    }
    // One at a time on each shard: each may delete segment files.
    let mut answers = router
        .run(shard, Run::InOrder, delete_before)
        .await
        .into_iter();
    let mut topics = Vec::with_capacity(request.topics.len());
    for (t, denied) in request.topics.iter().zip(denied_topics) {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let result =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
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
                Ok(low) => result.with_low_watermark(low),
                Err(code) => result.with_error_code(code).with_low_watermark(-1),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    Ok(encode(
        &shard.metrics,
        header,
        &DeleteRecordsResponse::default().with_topics(topics),
    ))
}

/// On the partition's owner: move its log start to `offset` (or the high watermark), deleting
/// the segments wholly below it; the new low watermark.
async fn delete_before(p: Rc<Partition>, offset: i64) -> Result<i64, PartitionError> {
    let hw = p.high_watermark();
    let target = if offset == HIGH_WATERMARK { hw } else { offset };
    if target < 0 || target > hw {
        return Err(PartitionError::OffsetOutOfRange);
    }
    Ok(p.log().delete_records_before(target).await?)
}
