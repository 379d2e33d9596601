//! IncrementalAlterConfigs request, versions 0–1 (flexible from 1).

use bytes::Bytes;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    IncrementalAlterConfigsRequest,
    ApiKey::IncrementalAlterConfigs,
    0..=1
);

fn decode(buf: &mut Bytes, version: i16) -> Result<IncrementalAlterConfigsRequest> {
    let flexible = version >= 1;
    let mut request = IncrementalAlterConfigsRequest::default();
    let resource_bytes_min =
        1 + string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    request.resources = try_get_array(buf, flexible, resource_bytes_min, "resources", |buf| {
        let mut resource = AlterConfigsResource::default();
        resource.resource_type = try_get_i8(buf, "resource_type")?;
        resource.resource_name = try_get_string(buf, flexible, "resource_name")?;
        let config_bytes_min = 2 * string_bytes_min(flexible) + 1 + tags_bytes_min(flexible);
        resource.configs = try_get_array(buf, flexible, config_bytes_min, "configs", |buf| {
            let mut config = AlterableConfig::default();
            config.name = try_get_string(buf, flexible, "config_name")?;
            config.config_operation = try_get_i8(buf, "config_operation")?;
            config.value = try_get_nullable_string(buf, flexible, "config_value")?;
            config.unknown_tagged_fields = try_get_tags_if(buf, flexible, "config")?;
            Ok(config)
        })?;
        resource.unknown_tagged_fields = try_get_tags_if(buf, flexible, "resource")?;
        Ok(resource)
    })?;
    request.validate_only = try_get_bool(buf, "validate_only")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "incremental_alter_configs")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> IncrementalAlterConfigsRequest {
        let flexible = version >= 1;
        let mut r = IncrementalAlterConfigsRequest::default();
        r.resources = vec(rng, 3, |rng| {
            let mut res = AlterConfigsResource::default();
            res.resource_type = rng.gen();
            res.resource_name = string(rng);
            res.configs = vec(rng, 3, |rng| {
                let mut c = AlterableConfig::default();
                c.name = string(rng);
                c.config_operation = rng.gen();
                c.value = opt_string(rng);
                c.unknown_tagged_fields = tags(rng, flexible);
                c
            });
            res.unknown_tagged_fields = tags(rng, flexible);
            res
        });
        r.validate_only = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
