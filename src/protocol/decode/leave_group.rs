//! LeaveGroup request, versions 0–5 (flexible from 4; batched members from 3).

use bytes::Bytes;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(LeaveGroupRequest, ApiKey::LeaveGroup, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<LeaveGroupRequest> {
    let flexible = version >= 4;
    let mut request = LeaveGroupRequest::default();
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    if version <= 2 {
        request.member_id = try_get_string(buf, flexible, "member_id")?;
    } else {
        let member_bytes_min = 2 * string_bytes_min(flexible)
            + if version >= 5 {
                string_bytes_min(flexible)
            } else {
                0
            }
            + tags_bytes_min(flexible);
        request.members = try_get_array(buf, flexible, member_bytes_min, "members", |buf| {
            let mut member = MemberIdentity::default();
            member.member_id = try_get_string(buf, flexible, "member_id")?;
            member.group_instance_id = try_get_nullable_string(buf, flexible, "group_instance_id")?;
            if version >= 5 {
                member.reason = try_get_nullable_string(buf, flexible, "reason")?;
            }
            member.unknown_tagged_fields = try_get_tags_if(buf, flexible, "member")?;
            Ok(member)
        })?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "leave_group")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> LeaveGroupRequest {
        let flexible = version >= 4;
        let mut r = LeaveGroupRequest::default();
        r.group_id = string(rng).into();
        if version <= 2 {
            r.member_id = string(rng);
        } else {
            r.members = vec(rng, 3, |rng| {
                let mut m = MemberIdentity::default();
                m.member_id = string(rng);
                m.group_instance_id = opt_string(rng);
                if version >= 5 {
                    m.reason = opt_string(rng);
                }
                m.unknown_tagged_fields = tags(rng, flexible);
                m
            });
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
