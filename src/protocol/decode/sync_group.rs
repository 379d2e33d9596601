//! SyncGroup request, versions 0–5 (flexible from 4).

use bytes::Bytes;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(SyncGroupRequest, ApiKey::SyncGroup, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<SyncGroupRequest> {
    let flexible = version >= 4;
    let mut request = SyncGroupRequest::default();
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    request.generation_id = try_get_i32(buf, "generation_id")?;
    request.member_id = try_get_string(buf, flexible, "member_id")?;
    if version >= 3 {
        request.group_instance_id = try_get_nullable_string(buf, flexible, "group_instance_id")?;
    }
    if version >= 5 {
        request.protocol_type = try_get_nullable_string(buf, flexible, "protocol_type")?;
        request.protocol_name = try_get_nullable_string(buf, flexible, "protocol_name")?;
    }
    let assignment_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.assignments =
        try_get_array(buf, flexible, assignment_bytes_min, "assignments", |buf| {
            let mut assignment = SyncGroupRequestAssignment::default();
            assignment.member_id = try_get_string(buf, flexible, "assignment_member_id")?;
            assignment.assignment = try_get_bytes(buf, flexible, "assignment")?;
            assignment.unknown_tagged_fields = try_get_tags_if(buf, flexible, "assignment")?;
            Ok(assignment)
        })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "sync_group")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> SyncGroupRequest {
        let flexible = version >= 4;
        let mut r = SyncGroupRequest::default();
        r.group_id = string(rng).into();
        r.generation_id = rng.gen();
        r.member_id = string(rng);
        if version >= 3 {
            r.group_instance_id = opt_string(rng);
        }
        if version >= 5 {
            r.protocol_type = opt_string(rng);
            r.protocol_name = opt_string(rng);
        }
        r.assignments = vec(rng, 3, |rng| {
            let mut a = SyncGroupRequestAssignment::default();
            a.member_id = string(rng);
            a.assignment = bytes(rng);
            a.unknown_tagged_fields = tags(rng, flexible);
            a
        });
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
