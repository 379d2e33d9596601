//! DescribeTransactions (key 65), version 0: each transactional id's state from its coordinator
//! (run there through `txn::coordinator::route`, like group requests, rather than answering
//! NOT_COORDINATOR). An id never initialised: TRANSACTIONAL_ID_NOT_FOUND.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, RequestHeader,
    TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::txn::coordinator;
use crate::txn::records::TxnValue;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeTransactions,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeTransactionsRequest::try_decode(body, header.request_api_version)?;
    let authz = Authz::new(shard, session);
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in &request.transactional_ids {
        let id = id.0.to_string();
        let state = TransactionState::default()
            .with_transactional_id(str_bytes(&id).into())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_start_time_ms(-1);
        if !authz.transactional_id(AclOperation::Describe, &id) {
            states.push(
                state.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()),
            );
            continue;
        }
        let lookup = id.clone();
        let found: Result<Option<TxnValue>, _> =
            coordinator::route(shard, &id, move |s| async move { s.txns.describe(&lookup) }).await;
        states.push(match found {
            Ok(Some(v)) => {
                let mut topics: Vec<TopicData> = Vec::new();
                for (t, p) in &v.partitions {
                    match topics.last_mut() {
                        Some(last) if last.topic.0.as_str() == t.as_str() => {
                            last.partitions.push(*p)
                        }
                        _ => topics.push(
                            TopicData::default()
                                .with_topic(TopicName(str_bytes(t)))
                                .with_partitions(vec![*p]),
                        ),
                    }
                }
                state
                    .with_transaction_state(str_bytes(v.status.name()))
                    .with_transaction_timeout_ms(v.timeout_ms)
                    .with_transaction_start_time_ms(v.start_ms)
                    .with_producer_id(ProducerId(v.producer_id))
                    .with_producer_epoch(v.producer_epoch)
                    .with_topics(topics)
            }
            Ok(None) => state.with_error_code(ResponseError::TransactionalIdNotFound.code()),
            Err(e) => state.with_error_code(e.code()),
        });
    }
    Ok(encode(
        &shard.metrics,
        header,
        &DescribeTransactionsResponse::default().with_transaction_states(states),
    ))
}
