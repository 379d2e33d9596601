//! OffsetFetch request, versions 1–10 (flexible from 6; batched groups from 8; v9 names the
//! KIP-848 member and its epoch per group; v10, Kafka 4.2, names each topic by its id instead
//! of its name — the crate's request type has the field but encodes only to v9).

use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(OffsetFetchRequest, ApiKey::OffsetFetch, 1..=10);

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
        let by_id = version >= 10;
        let group_topic_bytes_min = if by_id {
            16 + array_bytes_min(flexible) + tags_bytes_min(flexible)
        } else {
            topic_bytes_min
        };
        request.groups = try_get_array(buf, flexible, group_bytes_min, "groups", |buf| {
            let mut group = OffsetFetchRequestGroup::default();
            group.group_id = try_get_string(buf, flexible, "group_id")?.into();
            if version >= 9 {
                group.member_id = try_get_nullable_string(buf, flexible, "member_id")?;
                group.member_epoch = try_get_i32(buf, "member_epoch")?;
            }
            group.topics = try_get_nullable_array(
                buf,
                flexible,
                group_topic_bytes_min,
                "group_topics",
                |buf| {
                    let mut topic = OffsetFetchRequestTopics::default();
                    if by_id {
                        topic.topic_id = try_get_uuid(buf, "topic_id")?;
                    } else {
                        topic.name = try_get_string(buf, flexible, "name")?.into();
                    }
                    topic.partition_indexes =
                        try_get_i32_array(buf, flexible, "partition_indexes")?;
                    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "topic")?;
                    Ok(topic)
                },
            )?;
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
    use crate::protocol::decode::TryDecode;

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
                        if version >= 10 {
                            t.topic_id = uuid(rng);
                        } else {
                            t.name = string(rng).into();
                        }
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
        check_versions_up_to(VERSIONS, 9, 40, random);
    }

    /// v10 (past the crate's requests): v9's layout with each topic's name replaced by its id.
    fn encode_v10(r: &OffsetFetchRequest) -> Bytes {
        use bytes::BufMut;
        let mut b = bytes::BytesMut::new();
        put_uvarint(&mut b, r.groups.len() as u64 + 1);
        for g in &r.groups {
            put_compact_string(&mut b, Some(g.group_id.0.as_str()));
            put_compact_string(&mut b, g.member_id.as_ref().map(|s| s.as_str()));
            b.put_i32(g.member_epoch);
            match &g.topics {
                None => put_uvarint(&mut b, 0),
                Some(ts) => {
                    put_uvarint(&mut b, ts.len() as u64 + 1);
                    for t in ts {
                        b.put_slice(t.topic_id.as_bytes());
                        put_uvarint(&mut b, t.partition_indexes.len() as u64 + 1);
                        for p in &t.partition_indexes {
                            b.put_i32(*p);
                        }
                        put_tags(&mut b, &t.unknown_tagged_fields);
                    }
                }
            }
            put_tags(&mut b, &g.unknown_tagged_fields);
        }
        b.put_u8(u8::from(r.require_stable));
        put_tags(&mut b, &r.unknown_tagged_fields);
        b.freeze()
    }

    #[test]
    fn v10_names_topics_by_id() {
        let mut rng = rng(11);
        for round in 0..40 {
            let r = random(&mut rng, 10);
            let encoded = encode_v10(&r);
            let mut buf = encoded.clone();
            let back = OffsetFetchRequest::try_decode(&mut buf, 10).unwrap();
            assert_eq!(back, r);
            if round < 3 {
                truncations::<OffsetFetchRequest>(&encoded, 10);
                hostile::<OffsetFetchRequest>(&encoded, 10);
            }
        }
    }
}
