//! FindCoordinator request, versions 0–6 (flexible from 3; batched keys from 4; v5 and v6 have
//! v4's layout, with new error codes and key types).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(FindCoordinatorRequest, ApiKey::FindCoordinator, 0..=6);

fn decode(buf: &mut Bytes, version: i16) -> Result<FindCoordinatorRequest> {
    let flexible = version >= 3;
    let mut request = FindCoordinatorRequest::default();
    if version <= 3 {
        request.key = try_get_string(buf, flexible, "key")?;
    }
    if version >= 1 {
        request.key_type = try_get_i8(buf, "key_type")?;
    }
    if version >= 4 {
        request.coordinator_keys = try_get_string_array(buf, flexible, "coordinator_keys")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "find_coordinator")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> FindCoordinatorRequest {
        let mut r = FindCoordinatorRequest::default();
        if version <= 3 {
            r.key = string(rng);
        }
        if version >= 1 {
            r.key_type = rng.gen();
        }
        if version >= 4 {
            r.coordinator_keys = vec(rng, 4, string);
        }
        r.unknown_tagged_fields = tags(rng, version >= 3);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
