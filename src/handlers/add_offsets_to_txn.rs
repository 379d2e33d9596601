//! AddOffsetsToTxn (key 25), versions 0–4: add the group's `__consumer_offsets` partition to
//! the producer's transaction, so the offsets it commits with TxnOffsetCommit become visible
//! when (and only if) the transaction commits.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey, RequestHeader,
};

use super::{encode, Reply, Versions};
use crate::groups::offsets_partition_for;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::offsets_topic::OFFSETS_TOPIC;
use crate::shard::Shard;
use crate::txn::coordinator;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::AddOffsetsToTxn,
    min: 0,
    max: 4,
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
    let request = AddOffsetsToTxnRequest::try_decode(body, version)?;
    let id = request.transactional_id.0.to_string();
    let group = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    let code = if !authz.transactional_id(AclOperation::Write, &id) {
        ResponseError::TransactionalIdAuthorizationFailed.code()
    } else if !authz.group(AclOperation::Read, &group) {
        ResponseError::GroupAuthorizationFailed.code()
    } else if shard.ensure_offsets_topic().await.is_err() {
        ResponseError::CoordinatorNotAvailable.code()
    } else {
        let partition = (OFFSETS_TOPIC.to_string(), offsets_partition_for(&group));
        let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
        let route_id = id.clone();
        match coordinator::route(shard, &route_id, move |s| {
            coordinator::add_partitions(s, id, pid, epoch, vec![partition])
        })
        .await
        .and_then(|r| r)
        {
            Ok(()) => 0,
            Err(e) => e.code_for(version, PRODUCER_FENCED_SINCE),
        }
    };
    let response = AddOffsetsToTxnResponse::default().with_error_code(code);
    Ok(encode(&shard.metrics, header, &response))
}
