//! ShareAcknowledge (key 79, v1–2): acknowledgements outside a fetch, in the member's share
//! session (the epoch must match; -1 also closes the session and releases what the member
//! holds on the session's partitions, named in the request or not). v2 (KIP-1222) adds
//! `IsRenewAck` to the request and `AcquisitionLockTimeoutMs` to the response, which
//! kafka-protocol 0.18 can't write: the v2 response is the crate's v1 bytes with that int32
//! inserted after the top-level error message ([`v2_from_v1`], tested against the schema's
//! field order).

use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ApiKey, RequestHeader, ShareAcknowledgeResponse};

use super::share_fetch::resolve;
use super::{encode_with_version, str_bytes, Reply, Versions};
use crate::protocol::decode::share_acknowledge::ShareAcknowledge;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::owner::{AckBatch, Op};
use crate::share::sessions::Step;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ShareAcknowledge,
    min: 1,
    max: 2,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let ShareAcknowledge { request, .. } = ShareAcknowledge::try_decode(body, version)?;
    let lock_ms = i32::try_from(shard.share.config.limits.lock_duration_ms).unwrap_or(i32::MAX);
    let group = request
        .group_id
        .as_ref()
        .map(|g| g.0.to_string())
        .unwrap_or_default();
    let member = request
        .member_id
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    let authz = Authz::new(shard, session);
    let refuse = |code: i16| {
        let response = ShareAcknowledgeResponse::default().with_error_code(code);
        answer(shard, header, &response, lock_ms)
    };
    if group.is_empty() || member.is_empty() || member.len() > 36 {
        return Ok(refuse(ResponseError::InvalidRequest.code()));
    }
    if !authz.group(AclOperation::Read, &group) {
        return Ok(refuse(ResponseError::GroupAuthorizationFailed.code()));
    }
    let step =
        shard
            .share
            .sessions
            .borrow_mut()
            .acknowledge(&group, &member, request.share_session_epoch);
    let (closing, mut unnamed) = match step {
        Ok(Step::Fetch(_)) => {
            shard
                .share
                .sessions
                .borrow_mut()
                .bind(&group, &member, session.connection_id);
            (false, Vec::new())
        }
        // The closed session's partitions: those the request does not name are released too.
        Ok(Step::Closed(parts)) => (true, parts),
        Err(e) => return Ok(refuse(e.code())),
    };
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let mut out = ShareAcknowledgeTopicResponse::default().with_topic_id(t.topic_id);
        for p in &t.partitions {
            let target = resolve(shard, &authz, &[(t.topic_id, p.partition_index)]);
            let acks: Vec<AckBatch> = p
                .acknowledgement_batches
                .iter()
                .map(|a| AckBatch {
                    first_offset: a.first_offset,
                    last_offset: a.last_offset,
                    types: a.acknowledge_types.clone(),
                })
                .collect();
            let (error, leader) = match target.first().map(|x| &x.place) {
                Some(Ok((topic, owner))) => {
                    let op = Op {
                        key: (group.clone(), topic.clone(), p.partition_index),
                        member: member.clone(),
                        acks,
                        fetch: None,
                        release_member: closing,
                    };
                    let a = crate::share::owner::run_on(shard, *owner, op).await;
                    (
                        a.ack_error.or(a.error),
                        LeaderIdAndEpoch::default()
                            .with_leader_id(*owner as i32)
                            .with_leader_epoch(a.leader_epoch),
                    )
                }
                Some(Err(e)) => (
                    Some(*e),
                    LeaderIdAndEpoch::default()
                        .with_leader_id(-1)
                        .with_leader_epoch(-1),
                ),
                None => (None, LeaderIdAndEpoch::default()),
            };
            out.partitions.push(
                PartitionData::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error.map_or(0, |e| e.code()))
                    .with_error_message(error.map(|e| str_bytes(&format!("{e:?}"))))
                    .with_current_leader(leader),
            );
        }
        topics.push(out);
    }
    unnamed.retain(|(t, p)| {
        !request
            .topics
            .iter()
            .any(|rt| rt.topic_id == *t && rt.partitions.iter().any(|rp| rp.partition_index == *p))
    });
    for target in resolve(shard, &authz, &unnamed) {
        if let Ok((topic, owner)) = target.place {
            let op = Op {
                key: (group.clone(), topic, target.partition),
                member: member.clone(),
                acks: Vec::new(),
                fetch: None,
                release_member: true,
            };
            crate::share::owner::run_on(shard, owner, op).await;
        }
    }
    let response = ShareAcknowledgeResponse::default().with_responses(topics);
    Ok(answer(shard, header, &response, lock_ms))
}

/// Encode `response` at the request's version (v2 by way of [`v2_from_v1`]).
fn answer(
    shard: &Shard,
    header: &RequestHeader,
    response: &ShareAcknowledgeResponse,
    lock_ms: i32,
) -> Reply {
    // The top-level message stays null, so v2's insertion point is fixed (see v2_from_v1).
    let response = response.clone().with_error_message(None);
    let reply = encode_with_version(&shard.metrics, header, &response, 1);
    match (header.request_api_version, reply) {
        (2, Reply::Send(frame)) => match v2_from_v1(&frame, lock_ms) {
            Some(f) => Reply::Send(f),
            None => Reply::Close,
        },
        (_, reply) => reply,
    }
}

/// Where `AcquisitionLockTimeoutMs` goes in a framed v1 response whose top-level error
/// message is null: length prefix (4), response header v1 (correlation id 4, empty tagged
/// fields 1), throttle_time_ms (4), error_code (2), error_message null (1).
const LOCK_TIMEOUT_AT: usize = 4 + 4 + 1 + 4 + 2 + 1;

/// The v2 frame: v1's with the lock timeout inserted and the length prefix grown by 4.
pub fn v2_from_v1(frame: &[u8], lock_ms: i32) -> Option<Bytes> {
    let len = i32::from_be_bytes(frame.get(..4)?.try_into().ok()?);
    let head = frame.get(4..LOCK_TIMEOUT_AT)?;
    let tail = frame.get(LOCK_TIMEOUT_AT..)?;
    // The null error message is what makes the offset fixed.
    if head.last() != Some(&0) {
        return None;
    }
    let mut out = BytesMut::with_capacity(frame.len() + 4);
    out.put_i32(len.checked_add(4)?);
    out.put_slice(head);
    out.put_i32(lock_ms);
    out.put_slice(tail);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v2 body, field by field as Kafka 4.2's ShareAcknowledgeResponse.json orders them.
    #[test]
    fn v2_inserts_the_lock_timeout_after_the_error_message() {
        use kafka_protocol::protocol::Encodable;
        let response = ShareAcknowledgeResponse::default()
            .with_throttle_time_ms(7)
            .with_error_code(0)
            .with_responses(vec![ShareAcknowledgeTopicResponse::default()
                .with_topic_id(uuid::Uuid::from_u128(9))
                .with_partitions(
                    vec![PartitionData::default().with_partition_index(3)],
                )]);
        let mut body = BytesMut::new();
        response.encode(&mut body, 1).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(5 + body.len() as i32);
        frame.put_i32(0x0102_0304);
        frame.put_u8(0);
        frame.put_slice(&body);
        let v2 = v2_from_v1(&frame, 30_000).unwrap();
        let mut want = BytesMut::new();
        want.put_i32(5 + body.len() as i32 + 4);
        want.put_i32(0x0102_0304);
        want.put_u8(0);
        want.put_i32(7); // throttle_time_ms
        want.put_i16(0); // error_code
        want.put_u8(0); // error_message: null
        want.put_i32(30_000); // acquisition_lock_timeout_ms (v2)
        want.put_slice(&body[7..]); // responses, node_endpoints, tags
        assert_eq!(&v2[..], &want[..]);
        // A message would move the insertion point: refused rather than written wrong.
        assert!(v2_from_v1(&[0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3], 1).is_none());
    }
}
