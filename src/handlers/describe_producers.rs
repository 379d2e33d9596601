//! DescribeProducers (key 61): the idempotent producers with state on each partition, from
//! the partition's owner shard (as `kafka-transactions.sh describe-producers` shows them).

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId, RequestHeader,
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
    // Each partition's answer: refused here (authorization), or from its owner shard
    // (`shard::router`).
    let mut denied_topics = Vec::with_capacity(request.topics.len());
    let mut router = Router::new(shard);
    for t in &request.topics {
        let name: Arc<str> = Arc::from(t.name.0.as_str());
        // READ on the topic, as Kafka asks (once per topic, before anything is routed).
        let authorized = authz.topic(AclOperation::Read, &name);
        denied_topics.push(!authorized);
        if !authorized {
            continue;
        }
        for &index in &t.partition_indexes {
            router.route(router::owner(&snapshot, &name, index), &name, index, ());
        }
    }
    let mut answers = router
        .run(shard, Run::InOrder, |p: Rc<Partition>, ()| async move {
            Ok::<_, PartitionError>(p.producers())
        })
        .await
        .into_iter();
    let mut topics = Vec::with_capacity(request.topics.len());
    for (t, denied) in request.topics.iter().zip(denied_topics) {
        let mut partitions = Vec::with_capacity(t.partition_indexes.len());
        for &index in &t.partition_indexes {
            let resp = PartitionResponse::default().with_partition_index(index);
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
                Err(code) => resp.with_error_code(code),
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
