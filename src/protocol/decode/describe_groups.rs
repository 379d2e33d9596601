//! DescribeGroups request, versions 0–5 (flexible from 5). The crate's type goes to v6.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DescribeGroupsRequest, ApiKey::DescribeGroups, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<DescribeGroupsRequest> {
    let flexible = version >= 5;
    let mut request = DescribeGroupsRequest::default();
    request.groups = try_get_string_array(buf, flexible, "groups")?
        .into_iter()
        .map(Into::into)
        .collect();
    if version >= 3 {
        request.include_authorized_operations = try_get_bool(buf, "include_authorized_operations")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "describe_groups")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DescribeGroupsRequest {
        let mut r = DescribeGroupsRequest::default();
        r.groups = vec(rng, 4, |rng| string(rng).into());
        if version >= 3 {
            r.include_authorized_operations = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, version >= 5);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
