//! DeleteAcls request, versions 1–3 (flexible from 2): a list of binding filters.

use bytes::Bytes;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, DeleteAclsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DeleteAclsRequest, ApiKey::DeleteAcls, 1..=3);

fn decode(buf: &mut Bytes, version: i16) -> Result<DeleteAclsRequest> {
    let flexible = version >= 2;
    let mut request = DeleteAclsRequest::default();
    // Four 1-byte codes and three nullable strings.
    let filter_bytes_min = 4 + 3 * string_bytes_min(flexible) + tags_bytes_min(flexible);
    request.filters = try_get_array(buf, flexible, filter_bytes_min, "filters", |buf| {
        let mut f = DeleteAclsFilter::default();
        f.resource_type_filter = try_get_i8(buf, "resource_type_filter")?;
        f.resource_name_filter = try_get_nullable_string(buf, flexible, "resource_name_filter")?;
        f.pattern_type_filter = try_get_i8(buf, "pattern_type_filter")?;
        f.principal_filter = try_get_nullable_string(buf, flexible, "principal_filter")?;
        f.host_filter = try_get_nullable_string(buf, flexible, "host_filter")?;
        f.operation = try_get_i8(buf, "operation")?;
        f.permission_type = try_get_i8(buf, "permission_type")?;
        f.unknown_tagged_fields = try_get_tags_if(buf, flexible, "delete_acls_filter")?;
        Ok(f)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "delete_acls")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DeleteAclsRequest {
        let flexible = version >= 2;
        let mut r = DeleteAclsRequest::default();
        r.filters = vec(rng, 4, |rng| {
            let mut f = DeleteAclsFilter::default();
            f.resource_type_filter = rng.gen();
            f.resource_name_filter = opt_string(rng);
            f.pattern_type_filter = rng.gen();
            f.principal_filter = opt_string(rng);
            f.host_filter = opt_string(rng);
            f.operation = rng.gen();
            f.permission_type = rng.gen();
            f.unknown_tagged_fields = tags(rng, flexible);
            f
        });
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
