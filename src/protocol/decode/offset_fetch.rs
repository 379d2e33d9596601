//! OffsetFetch request, versions 1–9 (flexible from 6; batched groups from 8; v9 names the
//! KIP-848 member and its epoch per group).

use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(OffsetFetchRequest, ApiKey::OffsetFetch, 1..=9);

fn decode(buf: &mut Bytes, version: i16) -> Result<OffsetFetchRequest> {
    let flexible = version >= 6;
    let mut request = OffsetFetchRequest::default();
    let topic_bytes_min =
        string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
    if version <= 7 {
        request.group_id = try_get_string(buf, flexible, "group_id")?.into();
        // Null (all topics) is v2+ on the wire; the crate reads it in v1 too, as do we.
        request.topics = try_get_nullable_array(buf, flexible, topic_bytes_min, "topics", |buf| {
            let mut topic = OffsetFetchRequestTopic::default();
            topic.name = try_get_string(buf, flexible, "name")?.into();
            topic.partition_indexes = try_get_i32_array(buf, flexible, "partition_indexes")?;
            topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
            Ok(topic)
        })?;
    } else {
        let group_bytes_min =
            string_bytes_min(flexible) + array_bytes_min(flexible) + tags_bytes_min(flexible);
        request.groups = try_get_array(buf, flexible, group_bytes_min, "groups", |buf| {
            let mut group = OffsetFetchRequestGroup::default();
            group.group_id = try_get_string(buf, flexible, "group_id")?.into();
            if version >= 9 {
                group.member_id = try_get_nullable_string(buf, flexible, "member_id")?;
                group.member_epoch = try_get_i32(buf, "member_epoch")?;
            }
            group.topics =
                try_get_nullable_array(buf, flexible, topic_bytes_min, "group_topics", |buf| {
                    let mut topic = OffsetFetchRequestTopics::default();
                    topic.name = try_get_string(buf, flexible, "name")?.into();
                    topic.partition_indexes =
                        try_get_i32_array(buf, flexible, "partition_indexes")?;
                    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
                    Ok(topic)
                })?;
            group.unknown_tagged_fields = try_get_tags_if(buf, flexible, "group")?;
            Ok(group)
        })?;
    }
    if version >= 7 {
        request.require_stable = try_get_bool(buf, "require_stable")?;
    }
    request.unknown_tagged_fields = try_get_tags_if(buf, flexible, "offset_fetch")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> OffsetFetchRequest {
        let flexible = version >= 6;
        let mut r = OffsetFetchRequest::default();
        if version <= 7 {
            r.group_id = string(rng).into();
            r.topics = rng.gen_bool(0.8).then(|| {
                vec(rng, 3, |rng| {
                    let mut t = OffsetFetchRequestTopic::default();
                    t.name = string(rng).into();
                    t.partition_indexes = vec(rng, 4, |rng| rng.gen());
                    t.unknown_tagged_fields = tags(rng, flexible);
                    t
                })
            });
        } else {
            r.groups = vec(rng, 3, |rng| {
                let mut g = OffsetFetchRequestGroup::default();
                g.group_id = string(rng).into();
                if version >= 9 {
                    g.member_id = opt_string(rng);
                    g.member_epoch = rng.gen();
                }
                g.topics = rng.gen_bool(0.8).then(|| {
                    vec(rng, 3, |rng| {
                        let mut t = OffsetFetchRequestTopics::default();
                        t.name = string(rng).into();
                        t.partition_indexes = vec(rng, 4, |rng| rng.gen());
                        t.unknown_tagged_fields = tags(rng, flexible);
                        t
                    })
                });
                g.unknown_tagged_fields = tags(rng, flexible);
                g
            });
        }
        if version >= 7 {
            r.require_stable = rng.gen();
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
