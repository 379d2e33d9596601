//! ShareAcknowledge request, versions 1–2 (flexible; v0 was removed in Kafka 4.1).
//! kafka-protocol 0.18 knows v1 only: v2 adds `IsRenewAck` (bool, KIP-1222) after
//! `ShareSessionEpoch` (Kafka 4.2's ShareAcknowledgeRequest.json), kept in [`ShareAcknowledge`].

use bytes::Bytes;
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch,
};
use kafka_protocol::messages::{ApiKey, ShareAcknowledgeRequest};

use super::reader::*;
use super::share_acks::ack_batches;
use super::try_decode_impl;

/// A ShareAcknowledge request of any served version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareAcknowledge {
    pub request: ShareAcknowledgeRequest,
    /// v2: RENEW is among the acknowledgements.
    pub is_renew_ack: bool,
}

try_decode_impl!(ShareAcknowledge, ApiKey::ShareAcknowledge, 1..=2);

fn decode(buf: &mut Bytes, version: i16) -> Result<ShareAcknowledge> {
    let mut r = ShareAcknowledgeRequest::default();
    r.group_id = try_get_nullable_string(buf, true, "group_id")?.map(Into::into);
    r.member_id = try_get_nullable_string(buf, true, "member_id")?;
    r.share_session_epoch = try_get_i32(buf, "share_session_epoch")?;
    let is_renew_ack = version >= 2 && try_get_bool(buf, "is_renew_ack")?;
    r.topics = try_get_array(buf, true, 16 + 1 + 1, "topics", |b| {
        let mut t = AcknowledgeTopic::default();
        t.topic_id = try_get_uuid(b, "topic_id")?;
        t.partitions = try_get_array(b, true, 4 + 1 + 1, "partitions", |b| {
            let mut p = AcknowledgePartition::default();
            p.partition_index = try_get_i32(b, "partition_index")?;
            p.acknowledgement_batches = ack_batches(b, |a| {
                let mut out = AcknowledgementBatch::default();
                out.first_offset = a.first_offset;
                out.last_offset = a.last_offset;
                out.acknowledge_types = a.acknowledge_types;
                out.unknown_tagged_fields = a.unknown_tagged_fields;
                out
            })?;
            p.unknown_tagged_fields = try_get_unknown_tagged_fields(b, "acknowledge_partition")?;
            Ok(p)
        })?;
        t.unknown_tagged_fields = try_get_unknown_tagged_fields(b, "acknowledge_topic")?;
        Ok(t)
    })?;
    r.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "share_acknowledge")?;
    Ok(ShareAcknowledge {
        request: r,
        is_renew_ack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode::testkit::*;
    use crate::protocol::decode::TryDecode;
    use kafka_protocol::protocol::Decodable;

    fn random(rng: &mut StdRng) -> ShareAcknowledgeRequest {
        let mut r = ShareAcknowledgeRequest::default();
        r.group_id = opt_string(rng).map(Into::into);
        r.member_id = opt_string(rng);
        r.share_session_epoch = rng.gen();
        r.topics = vec(rng, 3, |rng| {
            let mut t = AcknowledgeTopic::default();
            t.topic_id = uuid(rng);
            t.partitions = vec(rng, 3, |rng| {
                let mut p = AcknowledgePartition::default();
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
        r.unknown_tagged_fields = tags(rng, true);
        r
    }

    fn ids_len(r: &ShareAcknowledgeRequest) -> usize {
        let s = |v: Option<&str>| v.map_or(1, |v| 1 + usize::from(v.len() + 1 >= 0x80) + v.len());
        s(r.group_id.as_ref().map(|g| g.0.as_str())) + s(r.member_id.as_deref()) + 4
    }

    #[test]
    fn v1_matches_the_crate_and_v2_adds_the_renew_flag() {
        let mut rng = rng(80);
        for round in 0..40 {
            let request = random(&mut rng);
            let encoded = encode(&request, 1);
            let expected = ShareAcknowledgeRequest::decode(&mut encoded.clone(), 1).unwrap();
            let ours = ShareAcknowledge::try_decode(&mut encoded.clone(), 1).unwrap();
            assert_eq!(ours.request, expected);
            assert!(!ours.is_renew_ack);
            let mut v2 = encoded.to_vec();
            let at = ids_len(&request);
            v2.insert(at, 1);
            let v2 = Bytes::from(v2);
            let ours2 = ShareAcknowledge::try_decode(&mut v2.clone(), 2).unwrap();
            assert_eq!(ours2.request, request);
            assert!(ours2.is_renew_ack);
            if round < 3 {
                for (bytes, v) in [(&encoded, 1), (&v2, 2)] {
                    truncations::<ShareAcknowledge>(bytes, v);
                    hostile::<ShareAcknowledge>(bytes, v);
                }
            }
        }
    }
}
