//! DeleteGroups request, versions 0–2 (flexible from 2).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DeleteGroupsRequest, ApiKey::DeleteGroups, 0..=2);

fn decode(buf: &mut Bytes, version: i16) -> Result<DeleteGroupsRequest> {
    let flexible = version >= 2;
    let mut request = DeleteGroupsRequest::default();
    request.groups_names = try_get_string_array(buf, flexible, "groups_names")?
        .into_iter()
        .map(Into::into)
        .collect();
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "delete_groups")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DeleteGroupsRequest {
        let mut r = DeleteGroupsRequest::default();
        r.groups_names = vec(rng, 4, |rng| string(rng).into());
        r.unknown_tagged_fields = tags(rng, version >= 2);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
