//! DeleteRecords (key 21): move each partition's log start offset forward on its owner shard
//! (-1 means the high watermark); whole segments below it are deleted.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader,
};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
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
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let name = t.name.0.to_string();
        // DELETE on the topic, once per topic, before anything is routed.
        let authorized = authz.topic(AclOperation::Delete, &name);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let (index, offset) = (p.partition_index, p.offset);
            if !authorized {
                partitions.push(
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                        .with_low_watermark(-1),
                );
                continue;
            }
            let r = match snapshot.partition(&name, index).map(|m| m.owner) {
                None => Err(PartitionError::UnknownTopicOrPartition),
                Some(owner) => {
                    let name = name.clone();
                    shard
                        .on_shard(owner, move |s| async move {
                            let p = s
                                .local_partition(&name, index)
                                .ok_or(PartitionError::NotLeader)?;
                            let hw = p.high_watermark();
                            let target = if offset == HIGH_WATERMARK { hw } else { offset };
                            if target < 0 || target > hw {
                                return Err(PartitionError::OffsetOutOfRange);
                            }
                            Ok(p.log().delete_records_before(target).await?)
                        })
                        .await
                        .unwrap_or(Err(PartitionError::NotLeader))
                }
            };
            let result = DeleteRecordsPartitionResult::default().with_partition_index(index);
            partitions.push(match r {
                Ok(low) => result.with_low_watermark(low),
                Err(e) => result.with_error_code(e.code()).with_low_watermark(-1),
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
