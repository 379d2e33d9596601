//! SaslAuthenticate request, versions 0–2 (flexible from 2).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(SaslAuthenticateRequest, ApiKey::SaslAuthenticate, 0..=2);

fn decode(buf: &mut Bytes, version: i16) -> Result<SaslAuthenticateRequest> {
    let flexible = version >= 2;
    let mut request = SaslAuthenticateRequest::default();
    request.auth_bytes = try_get_bytes(buf, flexible, "auth_bytes")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "sasl_authenticate")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> SaslAuthenticateRequest {
        let mut r = SaslAuthenticateRequest::default();
        r.auth_bytes = bytes(rng);
        r.unknown_tagged_fields = tags(rng, version >= 2);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
