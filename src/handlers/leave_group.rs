//! LeaveGroup (key 13): members leave at once (no session timeout wait). v3+ batches members and
//! can remove a static member by instance id alone.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse, RequestHeader};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::LeaveGroup,
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
    let request = LeaveGroupRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    if !Authz::new(shard, session).group(AclOperation::Read, &group_id) {
        // Kafka answers with the top-level error alone, no member results.
        let response = LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
        return Ok(encode(&shard.metrics, header, &response));
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let result = match check_group_id(&group_id, false) {
        Err(e) => Err(e),
        Ok(()) => {
            let g = group_id.clone();
            let m = members.clone();
            coordinator::route(shard, &group_id, move |s| async move {
                coordinator::leave(&s, &g, &m)
            })
            .await
            .and_then(|r| r)
        }
    };
    let response = match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(per_member) if version >= 3 => LeaveGroupResponse::default().with_members(
            members
                .iter()
                .zip(per_member)
                .map(|((id, instance), r)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(id))
                        .with_group_instance_id(instance.as_deref().map(str_bytes))
                        .with_error_code(r.err().map_or(0, |e| e.code()))
                })
                .collect(),
        ),
        // v0–2: the one member's result is the response's.
        Ok(per_member) => LeaveGroupResponse::default().with_error_code(
            per_member
                .into_iter()
                .next()
                .and_then(|r| r.err())
                .map_or(0, |e| e.code()),
        ),
    };
    Ok(encode(&shard.metrics, header, &response))
}
