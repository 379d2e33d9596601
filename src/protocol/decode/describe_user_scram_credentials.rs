//! DescribeUserScramCredentials request, version 0 (flexible).

use bytes::Bytes;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{ApiKey, DescribeUserScramCredentialsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    DescribeUserScramCredentialsRequest,
    ApiKey::DescribeUserScramCredentials,
    0..=0
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<DescribeUserScramCredentialsRequest> {
    let mut request = DescribeUserScramCredentialsRequest::default();
    let user_bytes_min = string_bytes_min(true) + tags_bytes_min(true);
    request.users = try_get_nullable_array(buf, true, user_bytes_min, "users", |buf| {
        let mut user = UserName::default();
        user.name = try_get_string(buf, true, "name")?;
        user.unknown_tagged_fields = try_get_tags_if(buf, true, "user_name")?;
        Ok(user)
    })?;
    request.unknown_tagged_fields = try_get_tags_if(buf, true, "describe_user_scram_credentials")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> DescribeUserScramCredentialsRequest {
        let mut r = DescribeUserScramCredentialsRequest::default();
        if rng.gen() {
            r.users = Some(vec(rng, 4, |rng| {
                let mut u = UserName::default();
                u.name = string(rng);
                u.unknown_tagged_fields = tags(rng, true);
                u
            }));
        }
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
