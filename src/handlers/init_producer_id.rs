//! InitProducerId (key 22): idempotent producers get an id from the shard they asked, without
//! coordination (see shard::producer_ids); transactional producers get theirs from the
//! transaction coordinator of their id (`txn::coordinator`), which bumps the epoch and fences
//! older producers of the id.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};

use super::{encode, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::InitProducerId,
    min: 0,
    max: 5,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = InitProducerIdRequest::try_decode(body, header.request_api_version)?;
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let authz = Authz::new(shard, session);
    let response = if let Some(id) = &request.transactional_id {
        if !authz.transactional_id(AclOperation::Write, id) {
            response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
        } else {
            let version = header.request_api_version;
            let id = id.0.to_string();
            let timeout = request.transaction_timeout_ms;
            let expected =
                (version >= 3).then_some((request.producer_id.0, request.producer_epoch));
            let route_id = id.clone();
            let r = crate::txn::coordinator::route(shard, &route_id, move |s| {
                crate::txn::coordinator::init_producer_id(s, id, timeout, expected)
            })
            .await
            .and_then(|r| r);
            match r {
                Ok((pid, epoch)) => response
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch),
                // PRODUCER_FENCED from v4 (KIP-588), INVALID_PRODUCER_EPOCH before.
                Err(e) => response.with_error_code(e.code_for(version, 4)),
            }
        }
    } else if !authz.cluster(AclOperation::IdempotentWrite) {
        // IDEMPOTENT_WRITE on the cluster, which the authorizer also grants to a principal
        // allowed WRITE on any topic (KIP-679).
        response.with_error_code(ResponseError::ClusterAuthorizationFailed.code())
    } else if request.producer_id.0 >= 0
        && request.producer_epoch >= 0
        && request.producer_epoch < i16::MAX - 1
    {
        // KIP-360: an idempotent producer bumps its epoch after an error, keeping its id.
        response
            .with_producer_id(request.producer_id)
            .with_producer_epoch(request.producer_epoch + 1)
    } else {
        match shard.producer_ids.allocate().await {
            Ok(id) => response
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
            Err(e) => {
                tracing::error!(error = %e, "persisting the producer id high-water mark");
                response.with_error_code(ResponseError::KafkaStorageError.code())
            }
        }
    };
    Ok(encode(&shard.metrics, header, &response))
}
