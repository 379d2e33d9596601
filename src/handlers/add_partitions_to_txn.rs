//! AddPartitionsToTxn (key 24), versions 0–3 (the client versions; v4+ batches transactions
//! broker to broker and is not served): add partitions to the producer's transaction on its
//! coordinator (`txn::coordinator`), which tells each partition's owner that this producer may
//! write there (KIP-890 part 1).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, RequestHeader,
};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::txn::coordinator;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::AddPartitionsToTxn,
    min: 0,
    max: 3,
};

/// The first version that knows PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_SINCE: i16 = 2;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = AddPartitionsToTxnRequest::try_decode(body, version)?;
    let id = request.v3_and_below_transactional_id.0.to_string();
    let authz = Authz::new(shard, session);
    let snapshot = shard.snapshot();
    // Kafka's order: WRITE on the transactional id, then WRITE on each topic, then unknown
    // partitions; any of those fails the named partitions and leaves the rest
    // OPERATION_NOT_ATTEMPTED, with nothing added.
    let id_denied = !authz.transactional_id(AclOperation::Write, &id);
    // More partitions than one transaction may hold (`TXN_PARTITIONS_MAX`): refused whole,
    // before any lookup.
    let named: usize = request
        .v3_and_below_topics
        .iter()
        .map(|t| t.partitions.len())
        .sum();
    let too_many = named > crate::limits::TXN_PARTITIONS_MAX;
    let mut first_pass: Vec<(String, Vec<(i32, i16)>)> = Vec::new();
    let mut any_error = false;
    for t in &request.v3_and_below_topics {
        let name = t.name.0.to_string();
        let code = if id_denied {
            ResponseError::TransactionalIdAuthorizationFailed.code()
        } else if too_many {
            ResponseError::InvalidTxnState.code()
        } else if !authz.topic(AclOperation::Write, &name) {
            ResponseError::TopicAuthorizationFailed.code()
        } else {
            0
        };
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let code = if code == 0 && snapshot.partition(&name, *p).is_none() {
                    ResponseError::UnknownTopicOrPartition.code()
                } else {
                    code
                };
                any_error |= code != 0;
                (*p, code)
            })
            .collect();
        first_pass.push((name, partitions));
    }
    let results: Vec<(String, Vec<(i32, i16)>)> = if any_error {
        let not_attempted = ResponseError::OperationNotAttempted.code();
        first_pass
            .into_iter()
            .map(|(t, ps)| {
                let ps = ps
                    .into_iter()
                    .map(|(p, c)| (p, if c == 0 { not_attempted } else { c }))
                    .collect();
                (t, ps)
            })
            .collect()
    } else {
        let partitions: Vec<(String, i32)> = first_pass
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, _)| (t.clone(), *p)))
            .collect();
        let (pid, epoch) = (
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
        );
        let route_id = id.clone();
        let code = match coordinator::route(shard, &route_id, move |s| {
            coordinator::add_partitions(s, id, pid, epoch, partitions)
        })
        .await
        .and_then(|r| r)
        {
            Ok(()) => 0,
            Err(e) => e.code_for(version, PRODUCER_FENCED_SINCE),
        };
        first_pass
            .into_iter()
            .map(|(t, ps)| (t, ps.into_iter().map(|(p, _)| (p, code)).collect()))
            .collect()
    };
    let topics = results
        .into_iter()
        .map(|(t, ps)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(super::str_bytes(&t).into())
                .with_results_by_partition(
                    ps.into_iter()
                        .map(|(p, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    let response = AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics);
    Ok(encode(&shard.metrics, header, &response))
}
