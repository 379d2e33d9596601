//! ListGroups request, versions 0–5 (flexible from 3; v0–2 have an empty body; v4 adds
//! states_filter, v5 types_filter).

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ListGroupsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(ListGroupsRequest, ApiKey::ListGroups, 0..=5);

fn decode(buf: &mut Bytes, version: i16) -> Result<ListGroupsRequest> {
    let flexible = version >= 3;
    let mut request = ListGroupsRequest::default();
    if version >= 4 {
        request.states_filter = try_get_string_array(buf, flexible, "states_filter")?;
    }
    if version >= 5 {
        request.types_filter = try_get_string_array(buf, flexible, "types_filter")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "list_groups")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> ListGroupsRequest {
        let mut r = ListGroupsRequest::default();
        if version >= 4 {
            r.states_filter = vec(rng, 4, string);
        }
        if version >= 5 {
            r.types_filter = vec(rng, 4, string);
        }
        r.unknown_tagged_fields = tags(rng, version >= 3);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
