//! ShareFetch request, versions 1–2 (flexible; v0 was removed in Kafka 4.1). kafka-protocol
//! 0.18 knows v1 only, so the request decodes into [`ShareFetch`]: the crate's v1 struct plus
//! v2's two fields, which follow `BatchSize` (Kafka 4.2's ShareFetchRequest.json):
//! `ShareAcquireMode` int8 (KIP-1206: 0 batch-optimized, 1 record-limit) and `IsRenewAck`
//! bool (KIP-1222: the acknowledgements carry RENEW and nothing is to be fetched).

use bytes::Bytes;
use kafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic, ForgottenTopic,
};
use kafka_protocol::messages::{ApiKey, ShareFetchRequest};

use super::reader::*;
use super::share_acks::ack_batches;
use super::try_decode_impl;

/// A ShareFetch request of any served version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareFetch {
    pub request: ShareFetchRequest,
    /// v2: 0 batch-optimized (the default), 1 record-limit.
    pub share_acquire_mode: i8,
    /// v2: acknowledgements only, with RENEW among them.
    pub is_renew_ack: bool,
}

try_decode_impl!(ShareFetch, ApiKey::ShareFetch, 1..=2);

fn decode(buf: &mut Bytes, version: i16) -> Result<ShareFetch> {
    let mut r = ShareFetchRequest::default();
    r.group_id = try_get_nullable_string(buf, true, "group_id")?.map(Into::into);
    r.member_id = try_get_nullable_string(buf, true, "member_id")?;
    r.share_session_epoch = try_get_i32(buf, "share_session_epoch")?;
    r.max_wait_ms = try_get_i32(buf, "max_wait_ms")?;
    r.min_bytes = try_get_i32(buf, "min_bytes")?;
    r.max_bytes = try_get_i32(buf, "max_bytes")?;
    r.max_records = try_get_i32(buf, "max_records")?;
    r.batch_size = try_get_i32(buf, "batch_size")?;
    let (mut share_acquire_mode, mut is_renew_ack) = (0, false);
    if version >= 2 {
        share_acquire_mode = try_get_i8(buf, "share_acquire_mode")?;
        is_renew_ack = try_get_bool(buf, "is_renew_ack")?;
    }
    r.topics = try_get_array(buf, true, 16 + 1 + 1, "topics", |b| {
        let mut t = FetchTopic::default();
        t.topic_id = try_get_uuid(b, "topic_id")?;
        t.partitions = try_get_array(b, true, 4 + 1 + 1, "partitions", |b| {
            let mut p = FetchPartition::default();
            p.partition_index = try_get_i32(b, "partition_index")?;
            p.acknowledgement_batches = ack_batches(b, |a| {
                let mut out = AcknowledgementBatch::default();
                out.first_offset = a.first_offset;
                out.last_offset = a.last_offset;
                out.acknowledge_types = a.acknowledge_types;
                out.unknown_tagged_fields = a.unknown_tagged_fields;
                out
            })?;
            p.unknown_tagged_fields = try_get_unknown_tagged_fields(b, "fetch_partition")?;
            Ok(p)
        })?;
        t.unknown_tagged_fields = try_get_unknown_tagged_fields(b, "fetch_topic")?;
        Ok(t)
    })?;
    r.forgotten_topics_data = try_get_array(buf, true, 16 + 1 + 1, "forgotten_topics_data", |b| {
        let mut t = ForgottenTopic::default();
        t.topic_id = try_get_uuid(b, "topic_id")?;
        t.partitions = try_get_i32_array(b, true, "partitions")?;
        t.unknown_tagged_fields = try_get_unknown_tagged_fields(b, "forgotten_topic")?;
        Ok(t)
    })?;
    r.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "share_fetch")?;
    Ok(ShareFetch {
        request: r,
        share_acquire_mode,
        is_renew_ack,
    })
}

/// Where v2's two fields go in a v1 encoding (after the fixed fields that follow the ids):
/// tests build v2 bodies from the crate's v1 bytes with it.
#[cfg(test)]
pub(super) fn v2_insert_at(r: &ShareFetchRequest) -> usize {
    let s = |v: Option<&str>| match v {
        None => 1,
        Some(v) => {
            let mut n = v.len() + 1;
            let mut varint = 1;
            while n >= 0x80 {
                n >>= 7;
                varint += 1;
            }
            varint + v.len()
        }
    };
    s(r.group_id.as_ref().map(|g| g.0.as_str())) + s(r.member_id.as_deref()) + 4 * 6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;
    use kafka_protocol::protocol::Decodable;

    pub(crate) fn random(rng: &mut StdRng) -> ShareFetchRequest {
        let mut r = ShareFetchRequest::default();
        r.group_id = opt_string(rng).map(Into::into);
        r.member_id = opt_string(rng);
        r.share_session_epoch = rng.gen();
        r.max_wait_ms = rng.gen();
        r.min_bytes = rng.gen();
        r.max_bytes = rng.gen();
        r.max_records = rng.gen();
        r.batch_size = rng.gen();
        r.topics = vec(rng, 3, |rng| {
            let mut t = FetchTopic::default();
            t.topic_id = uuid(rng);
            t.partitions = vec(rng, 3, |rng| {
                let mut p = FetchPartition::default();
                p.partition_index = rng.gen();
                p.acknowledgement_batches = vec(rng, 3, |rng| {
                    let mut a = AcknowledgementBatch::default();
                    a.first_offset = rng.gen();
                    a.last_offset = rng.gen();
                    a.acknowledge_types = vec(rng, 4, |rng| rng.gen());
                    a.unknown_tagged_fields = tags(rng, true);
                    a
                });
                p.unknown_tagged_fields = tags(rng, true);
                p
            });
            t.unknown_tagged_fields = tags(rng, true);
            t
        });
        r.forgotten_topics_data = vec(rng, 2, |rng| {
            let mut t = ForgottenTopic::default();
            t.topic_id = uuid(rng);
            t.partitions = vec(rng, 3, |rng| rng.gen());
            t.unknown_tagged_fields = tags(rng, true);
            t
        });
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    #[test]
    fn v1_matches_the_crate_and_refuses_bad_input() {
        let mut rng = rng(78);
        for round in 0..40 {
            let request = random(&mut rng);
            let encoded = encode(&request, 1);
            let expected = ShareFetchRequest::decode(&mut encoded.clone(), 1).unwrap();
            let mut buf = encoded.clone();
            let ours = ShareFetch::try_decode(&mut buf, 1).unwrap();
            assert!(buf.is_empty());
            assert_eq!(ours.request, expected);
            assert_eq!((ours.share_acquire_mode, ours.is_renew_ack), (0, false));
            if round < 3 {
                truncations::<ShareFetch>(&encoded, 1);
                hostile::<ShareFetch>(&encoded, 1);
            }
        }
        for v in [0, 3] {
            assert!(ShareFetch::try_decode(&mut Bytes::new(), v).is_err());
        }
    }

    /// v2 is v1 with the acquire mode and the renew flag after `batch_size`.
    #[test]
    fn v2_carries_the_acquire_mode_and_the_renew_flag() {
        let mut rng = rng(79);
        for round in 0..40 {
            let request = random(&mut rng);
            let mut body = encode(&request, 1).to_vec();
            let at = v2_insert_at(&request);
            body.splice(at..at, [1u8, 1u8]);
            let encoded = Bytes::from(body);
            let mut buf = encoded.clone();
            let ours = ShareFetch::try_decode(&mut buf, 2).unwrap();
            assert!(buf.is_empty());
            assert_eq!(ours.request, request);
            assert_eq!((ours.share_acquire_mode, ours.is_renew_ack), (1, true));
            if round < 3 {
                truncations::<ShareFetch>(&encoded, 2);
                hostile::<ShareFetch>(&encoded, 2);
            }
        }
    }
}
