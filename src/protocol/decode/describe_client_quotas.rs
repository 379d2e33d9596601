//! DescribeClientQuotas request, versions 0-1 (v1 flexible).

use bytes::Bytes;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{ApiKey, DescribeClientQuotasRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    DescribeClientQuotasRequest,
    ApiKey::DescribeClientQuotas,
    0..=1
);

fn decode(buf: &mut Bytes, version: i16) -> Result<DescribeClientQuotasRequest> {
    let flexible = version >= 1;
    let mut request = DescribeClientQuotasRequest::default();
    let component_bytes_min = 2 * string_bytes_min(flexible) + 1 + tags_bytes_min(flexible);
    request.components = try_get_array(buf, flexible, component_bytes_min, "components", |buf| {
        let mut c = ComponentData::default();
        c.entity_type = try_get_string(buf, flexible, "entity_type")?;
        c.match_type = try_get_i8(buf, "match_type")?;
        c._match = try_get_nullable_string(buf, flexible, "match")?;
        c.unknown_tagged_fields = try_get_tags_if(buf, flexible, "component")?;
        Ok(c)
    })?;
    request.strict = try_get_bool(buf, "strict")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "describe_client_quotas")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DescribeClientQuotasRequest {
        let flexible = version >= 1;
        let mut r = DescribeClientQuotasRequest::default();
        r.components = vec(rng, 3, |rng| {
            let mut c = ComponentData::default();
            c.entity_type = string(rng);
            c.match_type = rng.gen();
            c._match = opt_string(rng);
            c.unknown_tagged_fields = tags(rng, flexible);
            c
        });
        r.strict = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
