//! JoinGroup (key 11): join or rejoin a group; parked until the rebalance completes. v4+ first
//! joins get MEMBER_ID_REQUIRED; v0–3 get a member id at once.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse, RequestHeader};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::state::{JoinParams, JoinResult, Protocol};
use crate::groups::{check_group_id, check_stored_string, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::GroupError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::JoinGroup,
    min: 0,
    max: 9,
};

fn params(
    request: &JoinGroupRequest,
    header: &RequestHeader,
    version: i16,
) -> Result<JoinParams, GroupError> {
    let client_id = header.client_id.as_deref().unwrap_or_default().to_string();
    let instance_id = request.group_instance_id.as_ref().map(|s| s.to_string());
    check_stored_string(&client_id)?;
    check_stored_string(&request.protocol_type)?;
    check_stored_string(&request.member_id)?;
    if let Some(i) = &instance_id {
        check_stored_string(i)?;
    }
    let protocols = request
        .protocols
        .iter()
        .map(|p| Protocol {
            name: p.name.to_string(),
            metadata: p.metadata.clone(),
        })
        .collect();
    Ok(JoinParams {
        member_id: request.member_id.to_string(),
        instance_id: instance_id.clone(),
        fresh_member_id: fresh_member_id(instance_id.as_deref().unwrap_or(&client_id)),
        client_id,
        client_host: String::new(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols,
        require_known_member_id: version >= 4 && instance_id.is_none(),
        supports_skip_assignment: version >= 9,
    })
}

/// `<prefix>-<uuid>`, as Kafka names a member after its client or instance id; the prefix is
/// cut so the id stays a string the protocol can carry. A client id at the 32,767-byte limit
/// made a longer one: v0–5 replies could not encode it (the connection was closed), and from
/// v6 the member got an id that every later request of its was refused for.
fn fresh_member_id(prefix: &str) -> String {
    const UUID_SUFFIX_BYTES: usize = 1 + 36;
    let mut end = prefix
        .len()
        .min(crate::limits::REQUEST_STRING_BYTES_MAX - UUID_SUFFIX_BYTES);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    let id = format!("{}-{}", &prefix[..end], uuid::Uuid::new_v4());
    debug_assert!(id.len() <= crate::limits::REQUEST_STRING_BYTES_MAX);
    id
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = JoinGroupRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    if !Authz::new(shard, session).group(AclOperation::Read, &group_id) {
        // Kafka's JoinGroup error response: no member id, no generation, no protocol.
        let response = JoinGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
            .with_generation_id(-1)
            .with_protocol_name((version < 7).then(|| str_bytes("")))
            .with_leader(str_bytes(""))
            .with_member_id(str_bytes(""));
        return Ok(encode(&shard.metrics, header, &response));
    }
    let result =
        match check_group_id(&group_id, false).and_then(|()| params(&request, header, version)) {
            Err(e) => JoinResult::error(e, &request.member_id),
            Ok(p) => {
                let g = group_id.clone();
                coordinator::route(shard, &group_id, move |s| coordinator::join(s, g, p))
                    .await
                    .unwrap_or_else(|e| JoinResult::error(e, &request.member_id))
            }
        };
    let members = result
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&id))
                .with_group_instance_id(instance.map(|i| str_bytes(&i)))
                .with_metadata(metadata)
        })
        .collect();
    let protocol_name = match (result.protocol_name, version >= 7) {
        (Some(n), _) => Some(str_bytes(&n)),
        (None, true) => None,
        // Not nullable before v7.
        (None, false) => Some(str_bytes("")),
    };
    let response = JoinGroupResponse::default()
        .with_error_code(result.error.map_or(0, |e| e.code()))
        .with_generation_id(result.generation)
        .with_protocol_type(result.protocol_type.map(|t| str_bytes(&t)))
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(&result.leader))
        .with_skip_assignment(result.skip_assignment && version >= 9)
        .with_member_id(str_bytes(&result.member_id))
        .with_members(members);
    Ok(encode(&shard.metrics, header, &response))
}

#[cfg(test)]
mod tests {
    use super::fresh_member_id;
    use crate::limits::REQUEST_STRING_BYTES_MAX;

    #[test]
    fn fresh_member_ids_fit_a_protocol_string() {
        assert!(fresh_member_id("client").starts_with("client-"));
        for prefix in [
            "c".repeat(REQUEST_STRING_BYTES_MAX),
            "日".repeat(REQUEST_STRING_BYTES_MAX / 3),
        ] {
            let id = fresh_member_id(&prefix);
            assert!(id.len() <= REQUEST_STRING_BYTES_MAX, "{} bytes", id.len());
            let kept = &id[..id.len() - 37];
            assert!(!kept.is_empty() && prefix.starts_with(kept));
        }
    }
}
