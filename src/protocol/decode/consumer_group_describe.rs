//! ConsumerGroupDescribe request (KIP-848), versions 0–1 (always flexible; v1 only widens what
//! the response may carry).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ConsumerGroupDescribeRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    ConsumerGroupDescribeRequest,
    ApiKey::ConsumerGroupDescribe,
    0..=1
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<ConsumerGroupDescribeRequest> {
    let mut request = ConsumerGroupDescribeRequest::default();
    request.group_ids = try_get_string_array(buf, true, "group_ids")?
        .into_iter()
        .map(Into::into)
        .collect();
    request.include_authorized_operations = try_get_bool(buf, "include_authorized_operations")?;
    request.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "consumer_group_describe")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> ConsumerGroupDescribeRequest {
        let mut r = ConsumerGroupDescribeRequest::default();
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
