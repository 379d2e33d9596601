//! DescribeProducers (key 61): the idempotent producers with state on each partition, from
//! the partition's owner shard (as `kafka-transactions.sh describe-producers` shows them).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId, RequestHeader,
};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeProducers,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeProducersRequest::try_decode(body, header.request_api_version)?;
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let name = t.name.0.to_string();
        // READ on the topic, as Kafka asks (once per topic, before anything is routed).
        let authorized = authz.topic(AclOperation::Read, &name);
        let mut partitions = Vec::with_capacity(t.partition_indexes.len());
        for &index in &t.partition_indexes {
            if !authorized {
                partitions.push(
                    PartitionResponse::default()
                        .with_partition_index(index)
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
                );
                continue;
            }
            let r = match snapshot.partition(&name, index).map(|m| m.owner) {
                None => Err(PartitionError::UnknownTopicOrPartition),
                Some(owner) => {
                    let name = name.clone();
                    shard
                        .on_shard(owner, move |s| async move {
                            s.local_partition(&name, index)
                                .map(|p| p.producers())
                                .ok_or(PartitionError::NotLeader)
                        })
                        .await
                        .unwrap_or(Err(PartitionError::NotLeader))
                }
            };
            let resp = PartitionResponse::default().with_partition_index(index);
            partitions.push(match r {
                Ok(producers) => resp.with_active_producers(
                    producers
                        .into_iter()
                        .map(|(id, epoch, last_sequence, last_timestamp)| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(id))
                                .with_producer_epoch(i32::from(epoch))
                                .with_last_sequence(last_sequence)
                                .with_last_timestamp(last_timestamp)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(-1)
                        })
                        .collect(),
                ),
                Err(e) => resp.with_error_code(e.code()),
            });
        }
        topics.push(
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions),
        );
    }
    Ok(encode(
        &shard.metrics,
        header,
        &DescribeProducersResponse::default().with_topics(topics),
    ))
}
