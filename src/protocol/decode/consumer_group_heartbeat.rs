//! ConsumerGroupHeartbeat request (KIP-848), versions 0–1 (always flexible). v1 adds the
//! subscribed-topic regex; librdkafka ≥ 2.12 sends v1 with a member id it generated itself.

use bytes::Bytes;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ConsumerGroupHeartbeatRequest};

use super::reader::*;
use super::try_decode_impl;

try_decode_impl!(
    ConsumerGroupHeartbeatRequest,
    ApiKey::ConsumerGroupHeartbeat,
    0..=1
);

/// A topic's owned partitions: a 16-byte id, an array count, a tag count.
const TOPIC_PARTITIONS_BYTES_MIN: usize = 16 + 1 + 1;

fn decode(buf: &mut Bytes, version: i16) -> Result<ConsumerGroupHeartbeatRequest> {
    let mut request = ConsumerGroupHeartbeatRequest::default();
    request.group_id = try_get_string(buf, true, "group_id")?.into();
    request.member_id = try_get_string(buf, true, "member_id")?;
    request.member_epoch = try_get_i32(buf, "member_epoch")?;
    request.instance_id = try_get_nullable_string(buf, true, "instance_id")?;
    request.rack_id = try_get_nullable_string(buf, true, "rack_id")?;
    request.rebalance_timeout_ms = try_get_i32(buf, "rebalance_timeout_ms")?;
    request.subscribed_topic_names = try_get_nullable_array(
        buf,
        true,
        string_bytes_min(true),
        "subscribed_topic_names",
        |buf| Ok(try_get_string(buf, true, "subscribed_topic_names")?.into()),
    )?;
    if version >= 1 {
        request.subscribed_topic_regex =
            try_get_nullable_string(buf, true, "subscribed_topic_regex")?;
    }
    request.server_assignor = try_get_nullable_string(buf, true, "server_assignor")?;
    request.topic_partitions = try_get_nullable_array(
        buf,
        true,
        TOPIC_PARTITIONS_BYTES_MIN,
        "topic_partitions",
        |buf| {
            let mut t = TopicPartitions::default();
            t.topic_id = try_get_uuid(buf, "topic_id")?;
            t.partitions = try_get_i32_array(buf, true, "partitions")?;
            t.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "topic_partitions")?;
            Ok(t)
        },
    )?;
    request.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "consumer_group_heartbeat")?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;

    fn random(rng: &mut StdRng, version: i16) -> ConsumerGroupHeartbeatRequest {
        let mut r = ConsumerGroupHeartbeatRequest::default();
        r.group_id = string(rng).into();
        r.member_id = string(rng);
        r.member_epoch = rng.gen();
        r.instance_id = opt_string(rng);
        r.rack_id = opt_string(rng);
        r.rebalance_timeout_ms = rng.gen();
        r.subscribed_topic_names = rng
            .gen_bool(0.6)
            .then(|| vec(rng, 4, |rng| string(rng).into()));
        if version >= 1 {
            r.subscribed_topic_regex = opt_string(rng);
        }
        r.server_assignor = opt_string(rng);
        r.topic_partitions = rng.gen_bool(0.6).then(|| {
            vec(rng, 3, |rng| {
                let mut t = TopicPartitions::default();
                t.topic_id = uuid(rng);
                t.partitions = vec(rng, 5, |rng| rng.gen());
                t.unknown_tagged_fields = tags(rng, true);
                t
            })
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn matches_the_crate_and_refuses_bad_input() {
        check_versions(VERSIONS, 40, random);
    }
}
