//! Metadata request, versions 0–12 (flexible from 9). The crate's type goes to v13.

use bytes::Bytes;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(MetadataRequest, ApiKey::Metadata, 0..=12);

fn decode(buf: &mut Bytes, version: i16) -> Result<MetadataRequest> {
    let flexible = version >= 9;
    let mut request = MetadataRequest::default();
    let topic_bytes_min =
        if version >= 10 { 16 } else { 0 } + string_bytes_min(flexible) + tags_bytes_min(flexible);
    // Null (all topics) is v1+ on the wire; v0 sends an empty array for that, but the crate
    // reads a null there too, and so do we.
    request.topics = try_get_nullable_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        topic(buf, version, flexible)
    })?;
    if version >= 4 {
        request.allow_auto_topic_creation = try_get_bool(buf, "allow_auto_topic_creation")?;
    }
    if (8..=10).contains(&version) {
        request.include_cluster_authorized_operations =
            try_get_bool(buf, "include_cluster_authorized_operations")?;
    }
    if version >= 8 {
        request.include_topic_authorized_operations =
            try_get_bool(buf, "include_topic_authorized_operations")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "metadata")?;
    Ok(request)
}

fn topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<MetadataRequestTopic> {
    let mut topic = MetadataRequestTopic::default();
    if version >= 10 {
        topic.topic_id = try_get_uuid(buf, "topic_id")?;
    }
    topic.name = try_get_nullable_string(buf, flexible, "name")?.map(Into::into);
    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "metadata_topic")?;
    Ok(topic)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::{DecodeError, TryDecode};

    fn random(rng: &mut StdRng, version: i16) -> MetadataRequest {
        let flexible = version >= 9;
        let mut r = MetadataRequest::default();
        r.topics = rng.gen_bool(0.8).then(|| {
            vec(rng, 4, |rng| {
                let mut t = MetadataRequestTopic::default();
                if version >= 10 {
                    t.topic_id = uuid(rng);
                }
                // Null names are v10+ (by id); before that a name is always there.
                t.name = if version >= 10 {
                    opt_string(rng)
                } else {
                    Some(string(rng))
                }
                .map(Into::into);
                t.unknown_tagged_fields = tags(rng, flexible);
                t
            })
        });
        if version >= 4 {
            r.allow_auto_topic_creation = rng.gen();
        }
        if (8..=10).contains(&version) {
            r.include_cluster_authorized_operations = rng.gen();
        }
        if version >= 8 {
            r.include_topic_authorized_operations = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }

    #[test]
    fn an_i32_max_topic_count_in_a_four_byte_body_is_refused_without_allocating() {
        // The body that aborts the process under kafka-protocol's own decoder.
        let mut body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]);
        let (result, largest) = largest_allocation(|| MetadataRequest::try_decode(&mut body, 1));
        assert!(matches!(
            result,
            Err(DecodeError::TooLarge { what: "topics", .. })
        ));
        assert!(largest < 1024, "{largest}");
        assert_eq!(body.len(), 4);
    }
}
