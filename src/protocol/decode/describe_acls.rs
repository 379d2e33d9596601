//! DescribeAcls request, versions 1–3 (flexible from 2): one binding filter.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, DescribeAclsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DescribeAclsRequest, ApiKey::DescribeAcls, 1..=3);

fn decode(buf: &mut Bytes, version: i16) -> Result<DescribeAclsRequest> {
    let flexible = version >= 2;
    let mut r = DescribeAclsRequest::default();
    r.resource_type_filter = try_get_i8(buf, "resource_type_filter")?;
    r.resource_name_filter = try_get_nullable_string(buf, flexible, "resource_name_filter")?;
    r.pattern_type_filter = try_get_i8(buf, "pattern_type_filter")?;
    r.principal_filter = try_get_nullable_string(buf, flexible, "principal_filter")?;
    r.host_filter = try_get_nullable_string(buf, flexible, "host_filter")?;
    r.operation = try_get_i8(buf, "operation")?;
    r.permission_type = try_get_i8(buf, "permission_type")?;
    r.unknown_tagged_fields = try_get_tags_if(buf, flexible, "describe_acls")?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DescribeAclsRequest {
        let flexible = version >= 2;
        let mut r = DescribeAclsRequest::default();
        r.resource_type_filter = rng.gen();
        r.resource_name_filter = opt_string(rng);
        r.pattern_type_filter = rng.gen();
        r.principal_filter = opt_string(rng);
        r.host_filter = opt_string(rng);
        r.operation = rng.gen();
        r.permission_type = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
