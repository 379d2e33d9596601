//! Fetch request, versions 4–16 (flexible from 12; topic ids from 13; no replica id in the
//! body from 15). The crate's type goes to v18: the partition tags it adds in v17 and v18
//! (replica_directory_id, high_watermark) are refused below that, as the crate refuses them.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::{ApiKey, FetchRequest};

use super::reader::*;
use super::{try_decode_impl, DecodeError};

try_decode_impl!(FetchRequest, ApiKey::Fetch, 4..=16);

fn decode(buf: &mut Bytes, version: i16) -> Result<FetchRequest> {
    let flexible = version >= 12;
    let mut request = FetchRequest::default();
    if version <= 14 {
        request.replica_id = try_get_i32(buf, "replica_id")?.into();
    }
    request.max_wait_ms = try_get_i32(buf, "max_wait_ms")?;
    request.min_bytes = try_get_i32(buf, "min_bytes")?;
    request.max_bytes = try_get_i32(buf, "max_bytes")?;
    request.isolation_level = try_get_i8(buf, "isolation_level")?;
    if version >= 7 {
        request.session_id = try_get_i32(buf, "session_id")?;
        request.session_epoch = try_get_i32(buf, "session_epoch")?;
    }
    let topic_bytes_min = name_or_id_bytes_min(version, flexible)
        + array_bytes_min(flexible)
        + tags_bytes_min(flexible);
    request.topics = try_get_array(buf, flexible, topic_bytes_min, "topics", |buf| {
        topic(buf, version, flexible)
    })?;
    if version >= 7 {
        request.forgotten_topics_data = try_get_array(
            buf,
            flexible,
            topic_bytes_min,
            "forgotten_topics_data",
            |buf| forgotten_topic(buf, version, flexible),
        )?;
    }
    if version >= 11 {
        request.rack_id = try_get_string(buf, flexible, "rack_id")?;
    }
    if flexible {
        let mut cluster_id = None;
        let mut replica_state = None;
        request.unknown_tagged_fields =
            try_get_tagged_fields(buf, "fetch", |tag, field| match tag {
                0 => {
                    cluster_id = try_get_nullable_string(field, true, "cluster_id")?;
                    Ok(true)
                }
                1 if version >= 15 => {
                    replica_state = Some(self::replica_state(field)?);
                    Ok(true)
                }
                1 => Err(DecodeError::InvalidTag { what: "fetch", tag }),
                _ => Ok(false),
            })?;
        request.cluster_id = cluster_id;
        if let Some(state) = replica_state {
            request.replica_state = state;
        }
    }
    Ok(request)
}

/// A topic's name before v13, its 16-byte id from then on.
fn name_or_id_bytes_min(version: i16, flexible: bool) -> usize {
    if version >= 13 {
        16
    } else {
        string_bytes_min(flexible)
    }
}

fn topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<FetchTopic> {
    let mut topic = FetchTopic::default();
    if version <= 12 {
        topic.topic = try_get_string(buf, flexible, "topic")?.into();
    } else {
        topic.topic_id = try_get_uuid(buf, "topic_id")?;
    }
    let partition_bytes_min = 4 + 8 + 4 + tags_bytes_min(flexible);
    topic.partitions = try_get_array(buf, flexible, partition_bytes_min, "partitions", |buf| {
        partition(buf, version, flexible)
    })?;
    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "fetch_topic")?;
    Ok(topic)
}

fn partition(buf: &mut Bytes, version: i16, flexible: bool) -> Result<FetchPartition> {
    let mut partition = FetchPartition::default();
    partition.partition = try_get_i32(buf, "partition")?;
    if version >= 9 {
        partition.current_leader_epoch = try_get_i32(buf, "current_leader_epoch")?;
    }
    partition.fetch_offset = try_get_i64(buf, "fetch_offset")?;
    if version >= 12 {
        partition.last_fetched_epoch = try_get_i32(buf, "last_fetched_epoch")?;
    }
    if version >= 5 {
        partition.log_start_offset = try_get_i64(buf, "log_start_offset")?;
    }
    partition.partition_max_bytes = try_get_i32(buf, "partition_max_bytes")?;
    if flexible {
        // Tags 0 (replica_directory_id, v17+) and 1 (high_watermark, v18+) are past our range.
        partition.unknown_tagged_fields =
            try_get_tagged_fields(buf, "fetch_partition", |tag, _| match tag {
                0 | 1 => Err(DecodeError::InvalidTag {
                    what: "fetch_partition",
                    tag,
                }),
                _ => Ok(false),
            })?;
    }
    Ok(partition)
}

fn forgotten_topic(buf: &mut Bytes, version: i16, flexible: bool) -> Result<ForgottenTopic> {
    let mut topic = ForgottenTopic::default();
    if version <= 12 {
        topic.topic = try_get_string(buf, flexible, "forgotten_topic")?.into();
    } else {
        topic.topic_id = try_get_uuid(buf, "forgotten_topic_id")?;
    }
    topic.partitions = try_get_i32_array(buf, flexible, "forgotten_partitions")?;
    topic.unknown_tagged_fields = try_get_tags_if(buf, flexible, "forgotten_topic")?;
    Ok(topic)
}

/// The v15+ `replica_state` tag (always flexible).
fn replica_state(buf: &mut Bytes) -> Result<ReplicaState> {
    let mut state = ReplicaState::default();
    state.replica_id = try_get_i32(buf, "replica_state.replica_id")?.into();
    state.replica_epoch = try_get_i64(buf, "replica_state.replica_epoch")?;
    state.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "replica_state")?;
    Ok(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;

    fn random(rng: &mut StdRng, version: i16) -> FetchRequest {
        let flexible = version >= 12;
        let mut r = FetchRequest::default();
        if version <= 14 {
            r.replica_id = rng.gen::<i32>().into();
        }
        if version >= 15 && rng.gen_bool(0.5) {
            r.replica_state.replica_id = rng.gen::<i32>().into();
            r.replica_state.replica_epoch = rng.gen();
            r.replica_state.unknown_tagged_fields = tags(rng, true);
        }
        if flexible && rng.gen_bool(0.5) {
            r.cluster_id = opt_string(rng);
        }
        r.max_wait_ms = rng.gen();
        r.min_bytes = rng.gen();
        r.max_bytes = rng.gen();
        r.isolation_level = rng.gen();
        if version >= 7 {
            r.session_id = rng.gen();
            r.session_epoch = rng.gen();
        }
        r.topics = vec(rng, 3, |rng| {
            let mut t = FetchTopic::default();
            if version <= 12 {
                t.topic = string(rng).into();
            } else {
                t.topic_id = uuid(rng);
            }
            t.partitions = vec(rng, 3, |rng| {
                let mut p = FetchPartition::default();
                p.partition = rng.gen();
                if version >= 9 {
                    p.current_leader_epoch = rng.gen();
                }
                p.fetch_offset = rng.gen();
                if version >= 12 {
                    p.last_fetched_epoch = rng.gen();
                }
                if version >= 5 {
                    p.log_start_offset = rng.gen();
                }
                p.partition_max_bytes = rng.gen();
                p.unknown_tagged_fields = tags(rng, flexible);
                p
            });
            t.unknown_tagged_fields = tags(rng, flexible);
            t
        });
        if version >= 7 {
            r.forgotten_topics_data = vec(rng, 2, |rng| {
                let mut t = ForgottenTopic::default();
                if version <= 12 {
                    t.topic = string(rng).into();
                } else {
                    t.topic_id = uuid(rng);
                }
                t.partitions = vec(rng, 4, |rng| rng.gen());
                t.unknown_tagged_fields = tags(rng, flexible);
                t
            });
        }
        if version >= 11 {
            r.rack_id = string(rng);
        }
        r.unknown_tagged_fields = tags(rng, flexible);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 30, random);
    }

    #[test]
    fn replica_state_tag_is_refused_before_v15() {
        // v12 body: replica_id, max_wait, min_bytes, max_bytes, isolation, session id/epoch,
        // no topics, no forgotten topics, empty rack, then one tag 1 of 13 bytes.
        let mut body = vec![0u8; 4 * 6 + 1];
        body.extend_from_slice(&[1, 1, 1, 1, 1, 13]);
        body.extend_from_slice(&[0; 12]);
        body.push(0);
        let result = FetchRequest::try_decode(&mut Bytes::from(body), 12);
        assert_eq!(
            result,
            Err(DecodeError::InvalidTag {
                what: "fetch",
                tag: 1
            })
        );
    }
}
