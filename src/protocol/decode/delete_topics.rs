//! DeleteTopics request, versions 1–6 (flexible from 4; names become topic states in v6).

use bytes::Bytes;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(DeleteTopicsRequest, ApiKey::DeleteTopics, 1..=6);

fn decode(buf: &mut Bytes, version: i16) -> Result<DeleteTopicsRequest> {
    let flexible = version >= 4;
    let mut request = DeleteTopicsRequest::default();
    if version >= 6 {
        let state_bytes_min = string_bytes_min(flexible) + 16 + tags_bytes_min(flexible);
        request.topics = try_get_array(buf, flexible, state_bytes_min, "topics", |buf| {
            let mut state = DeleteTopicState::default();
            state.name = try_get_nullable_string(buf, flexible, "name")?.map(Into::into);
            state.topic_id = try_get_uuid(buf, "topic_id")?;
            state.unknown_tagged_fields = try_get_tags_if(buf, flexible, "delete_topic_state")?;
            Ok(state)
        })?;
    } else {
        request.topic_names = try_get_string_array(buf, flexible, "topic_names")?
            .into_iter()
            .map(Into::into)
            .collect();
    }
    request.timeout_ms = try_get_i32(buf, "timeout_ms")?;
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "delete_topics")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> DeleteTopicsRequest {
        let flexible = version >= 4;
        let mut r = DeleteTopicsRequest::default();
        if version >= 6 {
            r.topics = vec(rng, 3, |rng| {
                let mut s = DeleteTopicState::default();
                s.name = opt_string(rng).map(Into::into);
                s.topic_id = uuid(rng);
                s.unknown_tagged_fields = tags(rng, flexible);
                s
            });
        } else {
            r.topic_names = vec(rng, 4, |rng| string(rng).into());
        }
        r.timeout_ms = rng.gen();
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
