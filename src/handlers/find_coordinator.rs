//! FindCoordinator (key 10): the coordinator of group g is the owner shard of
//! `__consumer_offsets` partition abs(javaHash(g)) % 50, that of transactional id t the owner
//! of `__transaction_state` partition abs(javaHash(t)) % 50; each topic is created on first use.
//! v4+ batches keys; v6's SHARE key type gets INVALID_REQUEST (no share groups).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::coordinator::coordinator_shard;
use crate::groups::offsets_partition_for;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::GroupError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::FindCoordinator,
    min: 0,
    max: 6,
};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// (node id, host, port) of the coordinator for `key`.
async fn find(
    shard: &Rc<Shard>,
    session: &Session,
    key_type: i8,
    key: &str,
) -> Result<(i32, String, i32), i16> {
    // DESCRIBE on the group / transactional id, asked here before anything else, as Kafka.
    let authz = Authz::new(shard, session);
    match key_type {
        KEY_TYPE_GROUP if !authz.group(AclOperation::Describe, key) => {
            return Err(ResponseError::GroupAuthorizationFailed.code())
        }
        KEY_TYPE_GROUP => {}
        KEY_TYPE_TRANSACTION if !authz.transactional_id(AclOperation::Describe, key) => {
            return Err(ResponseError::TransactionalIdAuthorizationFailed.code())
        }
        KEY_TYPE_TRANSACTION => {}
        _ => return Err(GroupError::InvalidRequest.code()),
    }
    let owner = if key_type == KEY_TYPE_TRANSACTION {
        crate::txn::coordinator::coordinator_shard(shard, crate::txn::txn_partition_for(key))
            .await
            .map_err(|e| e.code())?
    } else {
        coordinator_shard(shard, offsets_partition_for(key))
            .await
            .map_err(|e| e.code())?
    };
    // The coordinator's address on the listener the client connected to, as in Kafka.
    let broker = session
        .listener
        .broker(owner as i32)
        .ok_or(GroupError::CoordinatorNotAvailable.code())?;
    Ok((broker.node_id, broker.host.clone(), i32::from(broker.port)))
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = FindCoordinatorRequest::try_decode(body, version)?;
    let response = if version >= 4 {
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in &request.coordinator_keys {
            let c = Coordinator::default().with_key(key.clone());
            coordinators.push(match find(shard, session, request.key_type, key).await {
                Ok((node, host, port)) => c
                    .with_node_id(BrokerId(node))
                    .with_host(str_bytes(&host))
                    .with_port(port),
                Err(e) => c
                    .with_error_code(e)
                    .with_node_id(BrokerId(-1))
                    .with_host(StrBytes::default())
                    .with_port(-1),
            });
        }
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        match find(shard, session, request.key_type, &request.key).await {
            Ok((node, host, port)) => FindCoordinatorResponse::default()
                .with_node_id(BrokerId(node))
                .with_host(str_bytes(&host))
                .with_port(port),
            Err(e) => FindCoordinatorResponse::default()
                .with_error_code(e)
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::default())
                .with_port(-1),
        }
    };
    Ok(encode(&shard.metrics, header, &response))
}
