//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse, RequestHeader};

use super::{encode, Reply, Versions};
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::Heartbeat,
    min: 0,
    max: 4,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = HeartbeatRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    if !Authz::new(shard, session).group(AclOperation::Read, &group_id) {
        let response = HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
        return Ok(encode(&shard.metrics, header, &response));
    }
    let result = match check_group_id(&group_id, false) {
        Err(e) => Err(e),
        Ok(()) => {
            let g = group_id.clone();
            let member = request.member_id.to_string();
            let instance = request.group_instance_id.as_ref().map(|s| s.to_string());
            let generation = request.generation_id;
            coordinator::route(shard, &group_id, move |s| async move {
                coordinator::heartbeat(&s, &g, &member, instance.as_deref(), generation)
            })
            .await
            .and_then(|r| r)
        }
    };
    let response =
        HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()));
    Ok(encode(&shard.metrics, header, &response))
}
