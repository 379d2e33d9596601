//! SyncGroup (key 14): the leader sends every member's assignment; everyone gets their own.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestHeader, SyncGroupRequest, SyncGroupResponse};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::state::SyncResult;
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::SyncGroup,
    min: 0,
    max: 5,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = SyncGroupRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    if !Authz::new(shard, session).group(AclOperation::Read, &group_id) {
        let response = SyncGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
        return Ok(encode(&shard.metrics, header, &response));
    }
    let result = match check_group_id(&group_id, false) {
        Err(e) => SyncResult::error(e),
        Ok(()) => {
            let g = group_id.clone();
            let member = request.member_id.to_string();
            let instance = request.group_instance_id.as_ref().map(|s| s.to_string());
            let protocol_type = request.protocol_type.as_ref().map(|s| s.to_string());
            let protocol_name = request.protocol_name.as_ref().map(|s| s.to_string());
            let assignments = request
                .assignments
                .iter()
                .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                .collect();
            let generation = request.generation_id;
            coordinator::route(shard, &group_id, move |s| {
                coordinator::sync(
                    s,
                    g,
                    member,
                    instance,
                    generation,
                    protocol_type,
                    protocol_name,
                    assignments,
                )
            })
            .await
            .unwrap_or_else(SyncResult::error)
        }
    };
    let response = SyncGroupResponse::default()
        .with_error_code(result.error.map_or(0, |e| e.code()))
        .with_protocol_type(result.protocol_type.map(|s| str_bytes(&s)))
        .with_protocol_name(result.protocol_name.map(|s| str_bytes(&s)))
        .with_assignment(result.assignment);
    Ok(encode(&shard.metrics, header, &response))
}
