//! AlterUserScramCredentials request, version 0 (flexible).

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, ApiKey};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    AlterUserScramCredentialsRequest,
    ApiKey::AlterUserScramCredentials,
    0..=0
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<AlterUserScramCredentialsRequest> {
    let mut request = AlterUserScramCredentialsRequest::default();
    let deletion_bytes_min = string_bytes_min(true) + 1 + tags_bytes_min(true);
    request.deletions = try_get_array(buf, true, deletion_bytes_min, "deletions", |buf| {
        let mut d = ScramCredentialDeletion::default();
        d.name = try_get_string(buf, true, "name")?;
        d.mechanism = try_get_i8(buf, "mechanism")?;
        d.unknown_tagged_fields = try_get_tags_if(buf, true, "deletion")?;
        Ok(d)
    })?;
    let upsertion_bytes_min =
        string_bytes_min(true) + 1 + 4 + 2 * array_bytes_min(true) + tags_bytes_min(true);
    request.upsertions = try_get_array(buf, true, upsertion_bytes_min, "upsertions", |buf| {
        let mut u = ScramCredentialUpsertion::default();
        u.name = try_get_string(buf, true, "name")?;
        u.mechanism = try_get_i8(buf, "mechanism")?;
        u.iterations = try_get_i32(buf, "iterations")?;
        u.salt = try_get_bytes(buf, true, "salt")?;
        u.salted_password = try_get_bytes(buf, true, "salted_password")?;
        u.unknown_tagged_fields = try_get_tags_if(buf, true, "upsertion")?;
        Ok(u)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, true, "alter_user_scram_credentials")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> AlterUserScramCredentialsRequest {
        let mut r = AlterUserScramCredentialsRequest::default();
        r.deletions = vec(rng, 3, |rng| {
            let mut d = ScramCredentialDeletion::default();
            d.name = string(rng);
            d.mechanism = rng.gen();
            d.unknown_tagged_fields = tags(rng, true);
            d
        });
        r.upsertions = vec(rng, 3, |rng| {
            let mut u = ScramCredentialUpsertion::default();
            u.name = string(rng);
            u.mechanism = rng.gen();
            u.iterations = rng.gen();
            u.salt = bytes(rng);
            u.salted_password = bytes(rng);
            u.unknown_tagged_fields = tags(rng, true);
            u
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
