//! DeleteShareGroupOffsets request, version 0 (flexible).

use bytes::Bytes;
use kafka_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
use kafka_protocol::messages::{ApiKey, DeleteShareGroupOffsetsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    DeleteShareGroupOffsetsRequest,
    ApiKey::DeleteShareGroupOffsets,
    0..=0
);

fn decode(buf: &mut Bytes, _version: i16) -> Result<DeleteShareGroupOffsetsRequest> {
    let mut request = DeleteShareGroupOffsetsRequest::default();
    request.group_id = try_get_string(buf, true, "group_id")?.into();
    // A topic is at least its name (1) and its tags (1).
    request.topics = try_get_array(buf, true, 2, "topics", |buf| {
        let mut topic = DeleteShareGroupOffsetsRequestTopic::default();
        topic.topic_name = try_get_string(buf, true, "topic_name")?.into();
        topic.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "topic")?;
        Ok(topic)
    })?;
    request.unknown_tagged_fields =
        try_get_unknown_tagged_fields(buf, "delete_share_group_offsets")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, _version: i16) -> DeleteShareGroupOffsetsRequest {
        let mut r = DeleteShareGroupOffsetsRequest::default();
        r.group_id = string(rng).into();
        r.topics = vec(rng, 3, |rng| {
            let mut t = DeleteShareGroupOffsetsRequestTopic::default();
            t.topic_name = string(rng).into();
            t.unknown_tagged_fields = tags(rng, true);
            t
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
