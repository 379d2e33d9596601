//! DescribeConfigs request, versions 1–4 (flexible from 4).

use bytes::Bytes;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DescribeConfigsRequest, ApiKey::DescribeConfigs, 1..=4);

fn decode(buf: &mut Bytes, version: i16) -> Result<DescribeConfigsRequest> {
    let flexible = version >= 4;
    let mut request = DescribeConfigsRequest::default();
    let resource_bytes_min =
        1 + string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.resources = try_get_array(buf, flexible, resource_bytes_min, "resources", |buf| {
        let mut resource = DescribeConfigsResource::default();
        resource.resource_type = try_get_i8(buf, "resource_type")?;
        resource.resource_name = try_get_string(buf, flexible, "resource_name")?;
        resource.configuration_keys = try_get_nullable_array(
            buf,
            flexible,
            string_bytes_min(flexible),
            "configuration_keys",
            |buf| try_get_string(buf, flexible, "configuration_key"),
        )?;
        resource.unknown_tagged_fields = try_get_tags_if(buf, flexible, "resource")?;
        Ok(resource)
    })?;
    request.include_synonyms = try_get_bool(buf, "include_synonyms")?;
    if version >= 3 {
        request.include_documentation = try_get_bool(buf, "include_documentation")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "describe_configs")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DescribeConfigsRequest {
        let flexible = version >= 4;
        let mut r = DescribeConfigsRequest::default();
        r.resources = vec(rng, 3, |rng| {
            let mut c = DescribeConfigsResource::default();
            c.resource_type = rng.gen();
            c.resource_name = string(rng);
            c.configuration_keys = rng.gen_bool(0.7).then(|| vec(rng, 3, string));
            c.unknown_tagged_fields = tags(rng, flexible);
            c
        });
        r.include_synonyms = rng.gen();
        if version >= 3 {
            r.include_documentation = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
