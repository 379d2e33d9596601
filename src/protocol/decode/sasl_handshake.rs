//! SaslHandshake request, versions 0–1 (never flexible).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslHandshakeRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(SaslHandshakeRequest, ApiKey::SaslHandshake, 0..=1);

fn decode(buf: &mut Bytes, _version: i16) -> Result<SaslHandshakeRequest> {
    let mut request = SaslHandshakeRequest::default();
    request.mechanism = try_get_string(buf, false, "mechanism")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> SaslHandshakeRequest {
        let mut r = SaslHandshakeRequest::default();
        r.mechanism = string(rng);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
