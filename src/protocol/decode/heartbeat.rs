//! Heartbeat request, versions 0–4 (flexible from 4).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, HeartbeatRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(HeartbeatRequest, ApiKey::Heartbeat, 0..=4);

fn decode(buf: &mut Bytes, version: i16) -> Result<HeartbeatRequest> {
    let flexible = version >= 4;
    let mut request = HeartbeatRequest::default();
    request.group_id = try_get_string(buf, flexible, "group_id")?.into();
    request.generation_id = try_get_i32(buf, "generation_id")?;
    request.member_id = try_get_string(buf, flexible, "member_id")?;
    if version >= 3 {
        request.group_instance_id = try_get_nullable_string(buf, flexible, "group_instance_id")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "heartbeat")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> HeartbeatRequest {
        let mut r = HeartbeatRequest::default();
        r.group_id = string(rng).into();
        r.generation_id = rng.gen();
        r.member_id = string(rng);
        if version >= 3 {
            r.group_instance_id = opt_string(rng);
        }
        r.unknown_tagged_fields = tags(rng, version >= 4);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
