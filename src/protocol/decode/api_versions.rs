//! ApiVersions request, versions 0–4 (flexible from 3; v0–2 have an empty body).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(ApiVersionsRequest, ApiKey::ApiVersions, 0..=4);

fn decode(buf: &mut Bytes, version: i16) -> Result<ApiVersionsRequest> {
    let flexible = version >= 3;
    let mut request = ApiVersionsRequest::default();
    if flexible {
        request.client_software_name = try_get_string(buf, flexible, "client_software_name")?;
        request.client_software_version = try_get_string(buf, flexible, "client_software_version")?;
        request.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "api_versions")?;
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> ApiVersionsRequest {
        let mut r = ApiVersionsRequest::default();
        if version >= 3 {
            r.client_software_name = string(rng);
            r.client_software_version = string(rng);
            r.unknown_tagged_fields = tags(rng, true);
        }
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
