//! JoinGroup request, versions 0–9 (flexible from 6).

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(JoinGroupRequest, ApiKey::JoinGroup, 0..=9);

fn decode(buf: &mut Bytes, version: i16) -> Result<JoinGroupRequest> {
    let flexible = version >= 6;
    let mut request = JoinGroupRequest::default();
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    request.session_timeout_ms = try_get_i32(buf, "session_timeout_ms")?;
    if version >= 1 {
        request.rebalance_timeout_ms = try_get_i32(buf, "rebalance_timeout_ms")?;
    }
    request.member_id = try_get_string(buf, flexible, "member_id")?;
    if version >= 5 {
        request.group_instance_id = try_get_nullable_string(buf, flexible, "group_instance_id")?;
    }
    request.protocol_type = try_get_string(buf, flexible, "protocol_type")?;
    let protocol_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.protocols = try_get_array(buf, flexible, protocol_bytes_min, "protocols", |buf| {
        let mut protocol = JoinGroupRequestProtocol::default();
        protocol.name = try_get_string(buf, flexible, "protocol_name")?;
        protocol.metadata = try_get_bytes(buf, flexible, "protocol_metadata")?;
        protocol.unknown_tagged_fields = try_get_tags_if(buf, flexible, "protocol")?;
        Ok(protocol)
    })?;
    if version >= 8 {
        request.reason = try_get_nullable_string(buf, flexible, "reason")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "join_group")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> JoinGroupRequest {
        let flexible = version >= 6;
        let mut r = JoinGroupRequest::default();
        r.group_id = string(rng).into();
        r.session_timeout_ms = rng.gen();
        if version >= 1 {
            r.rebalance_timeout_ms = rng.gen();
        }
        r.member_id = string(rng);
        if version >= 5 {
            r.group_instance_id = opt_string(rng);
        }
        r.protocol_type = string(rng);
        r.protocols = vec(rng, 3, |rng| {
            let mut p = JoinGroupRequestProtocol::default();
            p.name = string(rng);
            p.metadata = bytes(rng);
            p.unknown_tagged_fields = tags(rng, flexible);
            p
        });
        if version >= 8 {
            r.reason = opt_string(rng);
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
