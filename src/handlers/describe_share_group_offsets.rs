//! DescribeShareGroupOffsets (key 90, v0–1): each share-partition's start offset (and, v1,
//! Kafka 4.2's KIP-1226 lag), asked of the group's coordinator shard (is it a share group?)
//! and of each partition's owner shard (where its state lives, `share::offsets`). Without a
//! topic list: every share-partition of the group that has state. A partition without state
//! answers start offset -1, as Kafka does.
//!
//! kafka-protocol 0.18 writes v0 only; v1 puts `Lag` (int64) between `LeaderEpoch` and
//! `ErrorCode` of each partition, so v1 is written here ([`V1`]), tested to be the crate's v0
//! bytes plus the lags.

use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, RequestHeader,
};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;

use super::{encode_with_version, str_bytes, Reply, Versions};
use crate::groups::coordinator as groups;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::response_errors::ResponseErrors;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::offsets::{self, Described};
use crate::share::ShareError;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeShareGroupOffsets,
    min: 0,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = DescribeShareGroupOffsetsRequest::try_decode(body, version)?;
    let authz = Authz::new(shard, session);
    let snapshot = shard.snapshot();
    let mut out = Vec::with_capacity(request.groups.len());
    let mut lags = Vec::new();
    for g in &request.groups {
        let group = g.group_id.0.to_string();
        let answer =
            DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id.clone());
        let refuse = |e: ResponseError, message: String| {
            answer
                .clone()
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(&message)))
        };
        if !authz.group(AclOperation::Describe, &group) {
            out.push(refuse(
                ResponseError::GroupAuthorizationFailed,
                format!("Group {group} is not authorized."),
            ));
            continue;
        }
        let id = group.clone();
        let exists = groups::route(shard, &group, move |s| async move {
            offsets::check_exists(&s, &id)
        })
        .await
        .map_err(ShareError::from)
        .and_then(|r| r);
        if let Err(e) = exists {
            out.push(
                answer
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&format!("Group {group} not found.")))),
            );
            continue;
        }
        // (topic, partition, its answer)
        let mut rows: Vec<(String, i32, Result<Described, ShareError>)> = Vec::new();
        match &g.topics {
            Some(topics) => {
                for t in topics {
                    let name = t.topic_name.0.to_string();
                    for p in &t.partitions {
                        let r = if !authz.topic(AclOperation::Describe, &name) {
                            Err(ShareError::UnknownTopicOrPartition)
                        } else {
                            let key = (group.clone(), name.clone(), *p);
                            offsets::on_owner(shard, key, |s, k| async move {
                                offsets::describe(&s, k).await
                            })
                            .await
                        };
                        rows.push((name.clone(), *p, r));
                    }
                }
            }
            None => {
                for target in 0..shard.config.shards {
                    let id = group.clone();
                    let found = shard
                        .on_shard(target, move |s| async move {
                            offsets::describe_all(&s, &id).await
                        })
                        .await
                        .unwrap_or_default();
                    for (topic, p, d) in found {
                        if authz.topic(AclOperation::Describe, &topic) {
                            rows.push((topic, p, Ok(d)));
                        }
                    }
                }
                rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            }
        }
        let mut topics: Vec<DescribeShareGroupOffsetsResponseTopic> = Vec::new();
        for (topic, p, r) in rows {
            let partition =
                DescribeShareGroupOffsetsResponsePartition::default().with_partition_index(p);
            let (partition, lag) = match r {
                Ok(d) => (
                    partition
                        .with_start_offset(d.start_offset)
                        .with_leader_epoch(d.leader_epoch),
                    d.lag,
                ),
                Err(e) => (
                    partition
                        .with_start_offset(offsets::UNINITIALIZED)
                        .with_leader_epoch(-1)
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(&format!("{e:?}")))),
                    offsets::UNINITIALIZED,
                ),
            };
            lags.push(lag);
            match topics.last_mut() {
                Some(last) if last.topic_name.0.as_str() == topic => {
                    last.partitions.push(partition)
                }
                _ => topics.push(
                    DescribeShareGroupOffsetsResponseTopic::default()
                        .with_topic_name(str_bytes(&topic).into())
                        .with_topic_id(snapshot.topic(&topic).map(|m| m.id).unwrap_or_default())
                        .with_partitions(vec![partition]),
                ),
            }
        }
        out.push(answer.with_topics(topics));
    }
    let response = DescribeShareGroupOffsetsResponse::default().with_groups(out);
    Ok(if version >= 1 {
        encode_with_version(&shard.metrics, header, &V1 { response, lags }, 1)
    } else {
        encode_with_version(&shard.metrics, header, &response, 0)
    })
}

/// A v1 response: the crate's v0 message plus each partition's lag, in the order of the
/// partitions (group by group, topic by topic).
pub struct V1 {
    pub response: DescribeShareGroupOffsetsResponse,
    pub lags: Vec<i64>,
}

impl ResponseErrors for V1 {
    fn each_error(&self, f: &mut dyn FnMut(i16)) {
        self.response.each_error(f);
    }
}

/// An unsigned varint.
fn put_varint(buf: &mut BytesMut, mut n: u32) {
    while n >= 0x80 {
        buf.put_u8((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

/// A compact array or string length: N + 1.
fn put_len(buf: &mut BytesMut, n: usize) -> anyhow::Result<()> {
    let n = u32::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| anyhow::anyhow!("too long to encode"))?;
    put_varint(buf, n);
    Ok(())
}

/// A compact nullable string.
fn put_string(buf: &mut BytesMut, s: Option<&str>) -> anyhow::Result<()> {
    match s {
        None => put_varint(buf, 0),
        Some(s) => {
            put_len(buf, s.len())?;
            buf.put_slice(s.as_bytes());
        }
    }
    Ok(())
}

impl V1 {
    fn write(&self) -> anyhow::Result<BytesMut> {
        let mut buf = BytesMut::new();
        let mut lags = self.lags.iter();
        let r = &self.response;
        buf.put_i32(r.throttle_time_ms);
        put_len(&mut buf, r.groups.len())?;
        for g in &r.groups {
            put_string(&mut buf, Some(g.group_id.0.as_str()))?;
            put_len(&mut buf, g.topics.len())?;
            for t in &g.topics {
                put_string(&mut buf, Some(t.topic_name.0.as_str()))?;
                buf.put_slice(t.topic_id.as_bytes());
                put_len(&mut buf, t.partitions.len())?;
                for p in &t.partitions {
                    buf.put_i32(p.partition_index);
                    buf.put_i64(p.start_offset);
                    buf.put_i32(p.leader_epoch);
                    buf.put_i64(lags.next().copied().unwrap_or(offsets::UNINITIALIZED));
                    buf.put_i16(p.error_code);
                    put_string(&mut buf, p.error_message.as_deref())?;
                    buf.put_u8(0); // tagged fields: none
                }
                buf.put_u8(0);
            }
            buf.put_i16(g.error_code);
            put_string(&mut buf, g.error_message.as_deref())?;
            buf.put_u8(0);
        }
        buf.put_u8(0);
        Ok(buf)
    }
}

impl Encodable for V1 {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, _version: i16) -> anyhow::Result<()> {
        let bytes = self.write()?;
        buf.put_slice(&bytes);
        Ok(())
    }

    fn compute_size(&self, _version: i16) -> anyhow::Result<usize> {
        Ok(self.write()?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::alter_share_group_offsets_response::{
        AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
    };
    use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
    use kafka_protocol::messages::{
        AlterShareGroupOffsetsResponse, DeleteShareGroupOffsetsResponse,
    };

    /// `reply`'s frame carries its own length (what the response encoder's debug assertion
    /// checks).
    fn assert_framed(reply: Reply, what: &str) {
        let Reply::Send(frame) = reply else {
            panic!("{what}: no frame");
        };
        let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
        assert_eq!(len as usize, frame.len() - 4, "{what}");
    }

    /// Every error shape the three share-group offset handlers answer with (a refused group,
    /// at the top level or per group; a refused partition or topic, each with a message) is
    /// framed with its length, v1 of DescribeShareGroupOffsets included.
    #[test]
    fn every_error_shape_is_framed_with_its_length() {
        let metrics = crate::metrics::ShardMetrics::new(0);
        let header = |key: ApiKey, version: i16| {
            RequestHeader::default()
                .with_request_api_key(key as i16)
                .with_request_api_version(version)
                .with_correlation_id(9)
        };
        let message = || Some(str_bytes("Group g is not authorized."));
        let refused_group = DescribeShareGroupOffsetsResponseGroup::default()
            .with_group_id(str_bytes("g").into())
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
            .with_error_message(message());
        let refused_partition = DescribeShareGroupOffsetsResponseGroup::default()
            .with_group_id(str_bytes("g").into())
            .with_topics(vec![DescribeShareGroupOffsetsResponseTopic::default()
                .with_topic_name(str_bytes("t").into())
                .with_partitions(vec![
                    DescribeShareGroupOffsetsResponsePartition::default()
                        .with_start_offset(offsets::UNINITIALIZED)
                        .with_leader_epoch(-1)
                        .with_error_code(ShareError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str_bytes("UnknownTopicOrPartition"))),
                ])]);
        for groups in [vec![refused_group], vec![refused_partition]] {
            let lags = vec![offsets::UNINITIALIZED; groups.len()];
            let response = DescribeShareGroupOffsetsResponse::default().with_groups(groups);
            let key = ApiKey::DescribeShareGroupOffsets;
            let v0 = encode_with_version(&metrics, &header(key, 0), &response, 0);
            assert_framed(v0, "describe v0");
            let v1 = V1 { response, lags };
            assert_framed(
                encode_with_version(&metrics, &header(key, 1), &v1, 1),
                "describe v1",
            );
        }
        let key = ApiKey::AlterShareGroupOffsets;
        for response in [
            AlterShareGroupOffsetsResponse::default()
                .with_error_code(ResponseError::InvalidGroupId.code())
                .with_error_message(message()),
            AlterShareGroupOffsetsResponse::default().with_responses(vec![
                AlterShareGroupOffsetsResponseTopic::default()
                    .with_topic_name(str_bytes("t").into())
                    .with_partitions(vec![AlterShareGroupOffsetsResponsePartition::default()
                        .with_error_code(ShareError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str_bytes("UnknownTopicOrPartition")))]),
            ]),
        ] {
            assert_framed(
                super::super::encode(&metrics, &header(key, 0), &response),
                "alter",
            );
        }
        let key = ApiKey::DeleteShareGroupOffsets;
        for response in [
            DeleteShareGroupOffsetsResponse::default()
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(message()),
            DeleteShareGroupOffsetsResponse::default().with_responses(vec![
                DeleteShareGroupOffsetsResponseTopic::default()
                    .with_topic_name(str_bytes("t").into())
                    .with_error_code(ShareError::UnknownTopicOrPartition.code())
                    .with_error_message(Some(str_bytes("UnknownTopicOrPartition"))),
            ]),
        ] {
            assert_framed(
                super::super::encode(&metrics, &header(key, 0), &response),
                "delete",
            );
        }
    }

    /// v1 is the crate's v0 with each partition's lag after its leader epoch.
    #[test]
    fn v1_is_v0_plus_the_lags() {
        let partition = |i: i32, error: i16| {
            DescribeShareGroupOffsetsResponsePartition::default()
                .with_partition_index(i)
                .with_start_offset(100 + i64::from(i))
                .with_leader_epoch(3)
                .with_error_code(error)
                .with_error_message((error != 0).then(|| str_bytes("no")))
        };
        let response = DescribeShareGroupOffsetsResponse::default()
            .with_throttle_time_ms(5)
            .with_groups(vec![
                DescribeShareGroupOffsetsResponseGroup::default()
                    .with_group_id(str_bytes("g").into())
                    .with_topics(vec![DescribeShareGroupOffsetsResponseTopic::default()
                        .with_topic_name(str_bytes("t").into())
                        .with_topic_id(uuid::Uuid::from_u128(7))
                        .with_partitions(vec![partition(0, 0), partition(1, 3)])]),
                DescribeShareGroupOffsetsResponseGroup::default()
                    .with_group_id(str_bytes("h").into())
                    .with_error_code(69)
                    .with_error_message(Some(str_bytes("Group h not found."))),
            ]);
        let mut v0 = BytesMut::new();
        response.encode(&mut v0, 0).unwrap();
        let v1 = V1 {
            response,
            lags: vec![0x0101_0101_0101_0101, -1],
        };
        let mut bytes = BytesMut::new();
        v1.encode(&mut bytes, 1).unwrap();
        assert_eq!(v1.compute_size(1).unwrap(), bytes.len());
        // Remove the lags: what is left is v0, byte for byte.
        let first = bytes
            .windows(8)
            .position(|w| w == 0x0101_0101_0101_0101_i64.to_be_bytes())
            .unwrap();
        let mut stripped = bytes.to_vec();
        stripped.drain(first..first + 8);
        let second = first + 2 + 1 + 1 + 4 + 8 + 4; // error, null message, tags; next index, start, epoch
        assert_eq!(&stripped[second..second + 8], &(-1_i64).to_be_bytes());
        stripped.drain(second..second + 8);
        assert_eq!(stripped, v0.to_vec());
    }
}
