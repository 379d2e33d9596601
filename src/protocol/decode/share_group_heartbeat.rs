//! ShareGroupHeartbeat request, version 1 (flexible; v0 was removed in Kafka 4.1).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ShareGroupHeartbeatRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    ShareGroupHeartbeatRequest,
    ApiKey::ShareGroupHeartbeat,
    1..=1
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<ShareGroupHeartbeatRequest> {
    let mut request = ShareGroupHeartbeatRequest::default();
    request.group_id = try_get_string(buf, true, "group_id")?.into();
    request.member_id = try_get_string(buf, true, "member_id")?;
    request.member_epoch = try_get_i32(buf, "member_epoch")?;
    request.rack_id = try_get_nullable_string(buf, true, "rack_id")?;
    request.subscribed_topic_names = try_get_nullable_array(
        buf,
        true,
        string_bytes_min(true),
        "subscribed_topic_names",
        |b| Ok(try_get_string(b, true, "subscribed_topic_names")?.into()),
    )?;
    request.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "share_group_heartbeat")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> ShareGroupHeartbeatRequest {
        let mut r = ShareGroupHeartbeatRequest::default();
        r.group_id = string(rng).into();
        r.member_id = string(rng);
        r.member_epoch = rng.gen();
        r.rack_id = opt_string(rng);
        r.subscribed_topic_names = rng
            .gen_bool(0.7)
            .then(|| vec(rng, 4, |rng| string(rng).into()));
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
