//! ShareGroupDescribe request, version 1 (flexible; v0 was removed in Kafka 4.1).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ShareGroupDescribeRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(ShareGroupDescribeRequest, ApiKey::ShareGroupDescribe, 1..=1);

fn decode(buf: &mut Bytes, _version: i16) -> Result<ShareGroupDescribeRequest> {
    let mut request = ShareGroupDescribeRequest::default();
    request.group_ids = try_get_array(buf, true, string_bytes_min(true), "group_ids", |b| {
        Ok(try_get_string(b, true, "group_ids")?.into())
    })?;
    request.include_authorized_operations = try_get_bool(buf, "include_authorized_operations")?;
    request.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "share_group_describe")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> ShareGroupDescribeRequest {
        let mut r = ShareGroupDescribeRequest::default();
        r.group_ids = vec(rng, 4, |rng| string(rng).into());
        r.include_authorized_operations = rng.gen();
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
