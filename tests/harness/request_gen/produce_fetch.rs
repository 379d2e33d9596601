//! Produce, Fetch, ListOffsets and OffsetForLeaderEpoch requests: the data path.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;

/// The request body of API `key` at version `v` if it is one of this family's (`None`:
/// another family's), as `super::body` builds it.
pub(super) fn body(
    c: &mut Choices,
    ctx: &Context,
    key: ApiKey,
    v: i16,
    stats: &mut Stats,
    _joined: &mut Option<String>,
) -> Option<Option<BytesMut>> {
    // Sets a field only in the versions that carry it (the crate refuses to encode a
    // non-default value elsewhere).
    let within = |lo: i16, hi: i16| (lo..=hi).contains(&v);
    let body = match key {
        ApiKey::Produce => {
            let acks = match c.below(12) {
                0 => 0,
                1 => c.pick(INTERESTING_I16),
                2..=6 => 1,
                _ => -1,
            };
            if acks == 0 {
                stats.acks_zero += 1;
            }
            enc(
                ProduceRequest::default()
                    .with_transactional_id(match c.below(10) {
                        0 => Some(TransactionalId(s("fz-txn"))),
                        _ => None,
                    })
                    .with_acks(acks)
                    .with_timeout_ms(int32(c, 0..=5_000))
                    .with_topic_data(list(c, |c| {
                        let mut t = TopicProduceData::default().with_partition_data(list(c, |c| {
                            PartitionProduceData::default()
                                .with_index(partition(c))
                                .with_records(records(c, ctx))
                        }));
                        if within(13, 13) {
                            t.topic_id = uuid(c, ctx);
                        } else {
                            t.name = topic(c);
                        }
                        t
                    })),
                v,
            )
        }
        ApiKey::Fetch => {
            let mut min_bytes = match c.below(6) {
                0 => c.pick(INTERESTING_I32),
                1 | 2 => 0,
                _ => 1,
            };
            let mut max_wait_ms = wait_ms(c);
            if c.one_in(16) {
                // Extreme waits: only where the broker must not wait on them.
                max_wait_ms = c.pick(&[i32::MAX, 30_001, 60_000]);
                min_bytes = c.pick(&[0, -1, i32::MIN]);
            }
            let mut r = FetchRequest::default()
                .with_max_wait_ms(max_wait_ms)
                .with_min_bytes(min_bytes)
                .with_max_bytes(bytes_limit(c))
                .with_isolation_level(int8(c, 0..=1))
                .with_topics(list(c, |c| {
                    let mut t = FetchTopic::default().with_partitions(list(c, |c| {
                        let mut p = FetchPartition::default()
                            .with_partition(partition(c))
                            .with_fetch_offset(offset(c))
                            .with_partition_max_bytes(bytes_limit(c));
                        if within(9, 18) {
                            p.current_leader_epoch = int32(c, -1..=1);
                        }
                        if within(12, 18) {
                            p.last_fetched_epoch = int32(c, -1..=1);
                        }
                        if within(5, 18) {
                            p.log_start_offset = int64(c, -1..=1);
                        }
                        p
                    }));
                    if within(13, 18) {
                        t.topic_id = uuid(c, ctx);
                    } else {
                        t.topic = topic(c);
                    }
                    t
                }));
            if within(4, 14) {
                r.replica_id = BrokerId(int32(c, -1..=-1));
            }
            if within(7, 18) {
                r.session_id = int32(c, 0..=0);
                r.session_epoch = int32(c, -1..=0);
                if c.one_in(4) {
                    r.forgotten_topics_data = list(c, |c| {
                        let mut f = ForgottenTopic::default().with_partitions(list(c, partition));
                        if within(13, 18) {
                            f.topic_id = uuid(c, ctx);
                        } else {
                            f.topic = topic(c);
                        }
                        f
                    });
                }
            }
            if within(11, 18) && c.one_in(4) {
                r.rack_id = short_text(c);
            }
            if within(12, 18) && c.one_in(4) {
                r.cluster_id = Some(short_text(c));
            }
            enc(r, v)
        }
        ApiKey::ListOffsets => {
            let mut r = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(int32(c, -1..=-1)))
                .with_topics(list(c, |c| {
                    ListOffsetsTopic::default()
                        .with_name(topic(c))
                        .with_partitions(list(c, |c| {
                            let mut p = ListOffsetsPartition::default()
                                .with_partition_index(partition(c))
                                .with_timestamp(int64(c, -7..=2));
                            if within(4, 11) {
                                p.current_leader_epoch = int32(c, -1..=1);
                            }
                            p
                        }))
                }));
            if within(2, 11) {
                r.isolation_level = int8(c, 0..=1);
            }
            if within(10, 11) {
                r.timeout_ms = int32(c, 0..=1000);
            }
            // v11 has v10's layout (the crate encodes up to v10).
            enc(r, v.min(10))
        }
        ApiKey::OffsetForLeaderEpoch => {
            let mut r = OffsetForLeaderEpochRequest::default().with_topics(list(c, |c| {
                OffsetForLeaderTopic::default()
                    .with_topic(topic(c))
                    .with_partitions(list(c, |c| {
                        OffsetForLeaderPartition::default()
                            .with_partition(partition(c))
                            .with_current_leader_epoch(int32(c, -1..=1))
                            .with_leader_epoch(int32(c, -1..=2))
                    }))
            }));
            if within(3, 4) {
                r.replica_id = BrokerId(int32(c, -2..=-1));
            }
            enc(r, v)
        }
        _ => return None,
    };
    Some(body)
}

/// One record batch (or something that is not one) for a Produce partition.
fn records(c: &mut Choices, ctx: &Context) -> Option<Bytes> {
    match c.below(16) {
        0 => return None,
        1 => return Some(Bytes::new()),
        2 => {
            let n = c.below(120);
            return Some((0..n).map(|_| c.byte()).collect::<Vec<u8>>().into());
        }
        _ => {}
    }
    let (producer_id, producer_epoch) = producer(c, ctx);
    let first_sequence = if producer_id >= 0 {
        int32(c, 0..=5)
    } else {
        -1
    };
    let transactional = c.one_in(12);
    let control = c.one_in(16);
    let compression = c.pick(&[
        Compression::None,
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]);
    let timestamp = int64(c, 1_700_000_000_000..=1_700_000_000_100);
    let count = 1 + c.below(4);
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: first_sequence.wrapping_add(i as i32),
            timestamp,
            key: if c.one_in(3) {
                None
            } else {
                Some(Bytes::from(format!("k{i}")))
            },
            value: match c.below(8) {
                0 => None,
                1 if !c.in_huge => Some(Bytes::from(vec![b'v'; c.below(5_000)])),
                _ => Some(Bytes::from_static(b"value")),
            },
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    if RecordBatchEncoder::encode(&mut buf, &records, &options).is_err() {
        return Some(Bytes::from_static(b"not a batch"));
    }
    match c.below(10) {
        // A flipped byte: a wrong CRC, a bad magic or attribute, a length that lies.
        0 if !buf.is_empty() => {
            let at = c.below(buf.len());
            buf[at] ^= c.byte() | 1;
        }
        // Two batches in one partition's records.
        1 => {
            let again = buf.clone();
            buf.extend_from_slice(&again);
        }
        // A batch cut short.
        2 if buf.len() > 1 => buf.truncate(c.below(buf.len())),
        _ => {}
    }
    Some(buf.freeze())
}
