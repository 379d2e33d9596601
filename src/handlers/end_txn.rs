//! EndTxn (key 26), versions 0–5: commit or abort the producer's transaction on its
//! coordinator — PREPARE persisted, markers written to every partition on its owner shard,
//! COMPLETE persisted (`txn::coordinator::end_txn`). v5's KIP-890 part 2 semantics (an epoch
//! bump on every EndTxn) come with `transaction.version` 2, which Sluice does not advertise, so
//! clients don't send it; a v5 request is answered as v4 with the same epoch.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse, ProducerId, RequestHeader};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::txn::coordinator;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::EndTxn,
    min: 0,
    max: 5,
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
    let request = EndTxnRequest::try_decode(body, version)?;
    let id = request.transactional_id.0.to_string();
    let (pid, epoch, commit) = (
        request.producer_id.0,
        request.producer_epoch,
        request.committed,
    );
    let authz = Authz::new(shard, session);
    let code = if !authz.transactional_id(AclOperation::Write, &id) {
        ResponseError::TransactionalIdAuthorizationFailed.code()
    } else {
        let route_id = id.clone();
        match coordinator::route(shard, &route_id, move |s| {
            coordinator::end_txn(s, id, pid, epoch, commit)
        })
        .await
        .and_then(|r| r)
        {
            Ok(()) => 0,
            Err(e) => e.code_for(version, PRODUCER_FENCED_SINCE),
        }
    };
    let response = EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(if version >= 5 { pid } else { -1 }))
        .with_producer_epoch(if version >= 5 { epoch } else { -1 });
    Ok(encode(&shard.metrics, header, &response))
}
