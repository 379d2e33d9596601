//! CreateAcls request, versions 1–3 (flexible from 2).

use bytes::Bytes;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(CreateAclsRequest, ApiKey::CreateAcls, 1..=3);

fn decode(buf: &mut Bytes, version: i16) -> Result<CreateAclsRequest> {
    let flexible = version >= 2;
    let mut request = CreateAclsRequest::default();
    // resource_type, pattern_type, operation, permission (1 byte each) and three strings.
    let creation_bytes_min = 4 + 3 * string_bytes_min(flexible) + tags_bytes_min(flexible);
    request.creations = try_get_array(buf, flexible, creation_bytes_min, "creations", |buf| {
        let mut c = AclCreation::default();
        c.resource_type = try_get_i8(buf, "resource_type")?;
        c.resource_name = try_get_string(buf, flexible, "resource_name")?;
        c.resource_pattern_type = try_get_i8(buf, "resource_pattern_type")?;
        c.principal = try_get_string(buf, flexible, "principal")?;
        c.host = try_get_string(buf, flexible, "host")?;
        c.operation = try_get_i8(buf, "operation")?;
        c.permission_type = try_get_i8(buf, "permission_type")?;
        c.unknown_tagged_fields = try_get_tags_if(buf, flexible, "acl_creation")?;
        Ok(c)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "create_acls")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> CreateAclsRequest {
        let flexible = version >= 2;
        let mut r = CreateAclsRequest::default();
        r.creations = vec(rng, 4, |rng| {
            let mut c = AclCreation::default();
            c.resource_type = rng.gen();
            c.resource_name = string(rng);
            c.resource_pattern_type = rng.gen();
            c.principal = string(rng);
            c.host = string(rng);
            c.operation = rng.gen();
            c.permission_type = rng.gen();
            c.unknown_tagged_fields = tags(rng, flexible);
            c
        });
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
