//! ListTransactions (key 66), versions 0–1: the transactional ids this shard coordinates
//! (clients ask every broker, as for ListGroups), filtered by state name, producer id and (v1)
//! how long an ongoing transaction has run; only ids the principal may DESCRIBE are listed.
//! Unknown state names are echoed in `unknown_state_filters`, as Kafka does.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::txn::records::TxnStatus;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ListTransactions,
    min: 0,
    max: 1,
};

/// Every state a filter may name.
const STATES: [TxnStatus; 8] = [
    TxnStatus::Empty,
    TxnStatus::Ongoing,
    TxnStatus::PrepareCommit,
    TxnStatus::PrepareAbort,
    TxnStatus::CompleteCommit,
    TxnStatus::CompleteAbort,
    TxnStatus::Dead,
    TxnStatus::PrepareEpochFence,
];

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = ListTransactionsRequest::try_decode(body, header.request_api_version)?;
    let authz = Authz::new(shard, session);
    let unknown: Vec<_> = request
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let now = crate::log::now_ms();
    let listed = shard
        .txns
        .list()
        .into_iter()
        .filter(|(_, v)| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == v.status.name())
        })
        .filter(|(_, v)| {
            request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .iter()
                    .any(|p| p.0 == v.producer_id)
        })
        .filter(|(_, v)| {
            request.duration_filter < 0
                || (v.status == TxnStatus::Ongoing
                    && now.saturating_sub(v.start_ms) >= request.duration_filter)
        })
        .filter(|(id, _)| authz.transactional_id(AclOperation::Describe, id))
        .map(|(id, v)| {
            TransactionState::default()
                .with_transactional_id(str_bytes(&id).into())
                .with_producer_id(ProducerId(v.producer_id))
                .with_transaction_state(str_bytes(v.status.name()))
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown)
            .with_transaction_states(listed),
    ))
}
